/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The BIRD include (src/bird.c): rendered text against golden files, the
 * same text parsed by the real BIRD (`bird -p`, when installed: Debian's
 * bird2 is in deploy/deps.sh), the atomic write, the reply parsers against
 * BIRD 2.0's own output, and the export decision. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "nsagent/bird.h"
#include "tmpdir.h"

static char dir[] = "/tmp/nsagent-test-bird.XXXXXX";

static int setup(void **state)
{
	(void)state;
	return tmpdir_make(dir);
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return buf;
}

static struct prefix p4(const char *text)
{
	struct prefix p;

	assert_int_equal(addr_parse_prefix(text, &p), 0);
	return p;
}

static struct prefix6 p6(const char *text)
{
	struct prefix6 p;

	assert_int_equal(addr6_parse_prefix(text, &p), 0);
	return p;
}

static struct cfg_bgp_peer peer(const char *addr, uint32_t as)
{
	struct cfg_bgp_peer p = {.as = as, .as_set = as != 0};

	assert_int_equal(nodeaddr_parse(addr, &p.addr), 0);
	return p;
}

/* A node's config, with the arrays it points into. */
struct node {
	struct cfg_bgp_peer peers[4];
	struct prefix local[2];
	struct prefix6 local6[2];
	struct bird_config c;
};

/* A dual-stack node with two reflectors, an eBGP site router and an
 * IPv6 reflector; local networks shorter and longer than a /24. */
static void node_config(struct node *n)
{
	struct bird_config *c = &n->c;
	struct cfg_bgp_peer *peers = n->peers;
	struct prefix *local = n->local;
	struct prefix6 *local6 = n->local6;

	memset(c, 0, sizeof(*c));
	assert_int_equal(nodeaddr_parse("192.168.1.5", &c->node_ip), 0);
	c->local_as = 64512;
	peers[0] = peer("192.168.1.2", 0);
	peers[1] = peer("192.168.1.3", 0);
	peers[2] = peer("192.168.1.1", 65000);
	peers[3] = peer("2001:db8:1::2", 0);
	c->peers = peers;
	c->n_peers = 4;
	c->bridge = "br0";
	c->underlay = "eth0";
	c->cluster = p4("172.16.0.0/16");
	c->subnet_len = 24;
	c->subnet = p4("172.16.4.0/24");
	c->ipv6 = true;
	c->cluster6 = p6("fd6e:7361:6765::/48");
	c->subnet6 = p6("fd6e:7361:6765:4::/64");
	c->subnet6_set = true;
	assert_int_equal(inet_pton(AF_INET6, "fe80::b0ce:aff:fe01:5", &c->link_local6), 1);
	c->link_local6_set = true;
	local[0] = p4("192.168.1.0/24");
	local[1] = p4("172.16.200.128/25");
	c->local = local;
	c->n_local = 2;
	local6[0] = p6("2001:db8:1::/64");
	local6[1] = p6("fd6e:7361:6765:99::/80");
	c->local6 = local6;
	c->n_local6 = 2;
	c->export = BIRD_EXPORT_ON;
	c->bfd = true;
}

static void check_golden(const char *name, const char *text)
{
	const char *src = getenv("NSAGENT_SOURCE_DIR");
	char path[1024];
	char *expected;

	assert_non_null(src);
	snprintf(path, sizeof(path), "%s/tests/unit/golden/bird/%s", src, name);
	if (getenv("NSAGENT_UPDATE_GOLDEN")) {
		FILE *f = fopen(path, "w");

		assert_non_null(f);
		fprintf(f, "%s\n", text);
		fclose(f);
	}
	expected = read_all(path);
	if (!expected)
		fail_msg("missing %s", path);
	if (strncmp(expected, text, strlen(text)) != 0 || strlen(expected) != strlen(text) + 1)
		fail_msg("rendered include differs from %s:\n--- got\n%s\n--- expected\n%s", path,
			 text, expected);
	free(expected);
}

/* The real BIRD parses text as an include of a bird.conf (bird -p: parse
 * only, no socket, no kernel); skipped when BIRD is not installed. */
static void bird_parses(const char *text)
{
	char inc[256], conf[256], cmd[700];
	FILE *f;
	int rc;

	if (access("/usr/sbin/bird", X_OK) != 0) {
		print_message("bird not installed: rendered text not parsed by BIRD\n");
		return;
	}
	snprintf(inc, sizeof(inc), "%s/nsagent.conf", dir);
	snprintf(conf, sizeof(conf), "%s/bird.conf", dir);
	write_file(inc, text, 0644);
	f = fopen(conf, "w");
	assert_non_null(f);
	fprintf(f, "include \"%s\";\n", inc);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "/usr/sbin/bird -p -c '%s' 2>&1", conf);
	rc = system(cmd);
	if (rc != 0)
		fail_msg("bird -p refuses the rendered include (exit %d):\n%s", rc, text);
}

static void test_render_dual_stack(void **state)
{
	struct node n;
	char *text;

	(void)state;
	node_config(&n);
	text = bird_render(&n.c);
	check_golden("dual-stack.conf", text);
	bird_parses(text);
	free(text);
}

static void test_render_ipv4_held(void **state)
{
	struct node n;
	char *text;

	(void)state;
	node_config(&n);
	n.c.ipv6 = false;
	n.c.n_peers = 1;
	n.c.n_local = 1;
	n.c.bfd = false;
	n.c.export = BIRD_EXPORT_HELD;
	text = bird_render(&n.c);
	check_golden("ipv4-held.conf", text);
	/* Held: nothing of ours is exported, and nothing IPv6 rendered. */
	assert_null(strstr(text, "then accept;\n\treject;\n}\n\nprotocol"));
	assert_null(strstr(text, "ipv6"));
	assert_null(strstr(text, "bfd"));
	bird_parses(text);
	free(text);
	n.c.export = BIRD_EXPORT_REFUSED;
	text = bird_render(&n.c);
	assert_non_null(strstr(text, "another node announces it"));
	assert_null(strstr(text, "net = 172.16.4.0/24 then accept"));
	bird_parses(text);
	free(text);
}

/* The /64s ride on the IPv4 sessions with our link-local address as next
 * hop; a link without IPv6 has none to give, and no IPv6 channel there. */
static void test_render_ipv6_over_ipv4(void **state)
{
	struct node n;
	char *text;

	(void)state;
	node_config(&n);
	n.c.n_peers = 1;
	text = bird_render(&n.c);
	assert_non_null(strstr(text, "\t\texport filter nsagent_export4;\n\t};\n\tipv6 {\n"
				     "\t\timport keep filtered on;\n"
				     "\t\timport filter nsagent_import6;\n"
				     "\t\texport filter nsagent_export6;\n"));
	assert_non_null(strstr(text, "\t\tnext hop address fe80::b0ce:aff:fe01:5; #"));
	bird_parses(text);
	free(text);
	n.c.link_local6_set = false;
	text = bird_render(&n.c);
	assert_null(strstr(text, "next hop address"));
	assert_null(strstr(text, "nsagent_import6;\n\t\texport filter nsagent_export6;\n\t};\n}"));
	bird_parses(text);
	free(text);
}

/* A peer on none of this host's networks: multihop, BFD multihop (from
 * our node IP) or off without a local address of its family, the
 * underlay's networks to resolve next hops, and no /64s on an IPv4
 * session (no link-local next hop through a router). */
static void test_render_multihop(void **state)
{
	struct node n;
	char *text;

	(void)state;
	node_config(&n);
	n.peers[0] = peer("192.168.2.6", 0);
	n.peers[1] = peer("2001:db8:2::6", 0);
	n.c.n_peers = 2;
	text = bird_render(&n.c);
	check_golden("multihop.conf", text);
	assert_null(strstr(text, "direct;"));
	assert_null(strstr(text, "next hop address"));
	bird_parses(text);
	free(text);
	/* All on-link: nothing multihop is rendered. */
	n.c.n_peers = 1;
	n.peers[0] = peer("192.168.1.6", 0);
	text = bird_render(&n.c);
	assert_null(strstr(text, "multihop"));
	assert_null(strstr(text, "nsagent_underlay"));
	free(text);
}

/* An IPv6 node address: the router id is the bridge's IPv4 address. */
static void test_render_ipv6_underlay(void **state)
{
	struct node n;
	char *text;

	(void)state;
	node_config(&n);
	assert_int_equal(nodeaddr_parse("2001:db8:1::5", &n.c.node_ip), 0);
	text = bird_render(&n.c);
	assert_non_null(strstr(text, "router id 172.16.4.1;"));
	assert_non_null(strstr(text, "local 2001:db8:1::5 as 64512;"));
	assert_non_null(strstr(text, "\tlocal as 64512;\n\tneighbor 192.168.1.2 as 64512;"));
	bird_parses(text);
	free(text);
}

static void test_write_include(void **state)
{
	char path[256], msg[256], tmp[300];
	struct stat st;
	bool changed;
	char *back;

	(void)state;
	snprintf(path, sizeof(path), "%s/etc/bird/nsagent.conf", dir);
	/* Parent made once: etc/ must exist. */
	snprintf(msg, sizeof(msg), "%s/etc", dir);
	assert_int_equal(mkdir(msg, 0755), 0);
	assert_int_equal(bird_write_include(path, "router id 1.2.3.4;", &changed, msg, sizeof(msg)),
			 0);
	assert_true(changed);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	back = bird_read_include(path);
	assert_string_equal(back, "router id 1.2.3.4;");
	free(back);
	assert_int_equal(bird_write_include(path, "router id 1.2.3.4;", &changed, msg, sizeof(msg)),
			 0);
	assert_false(changed);
	assert_int_equal(bird_write_include(path, "router id 1.2.3.5;", &changed, msg, sizeof(msg)),
			 0);
	assert_true(changed);
	/* No temp file left. */
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_int_equal(access(tmp, F_OK), -1);
	snprintf(path, sizeof(path), "%s/no/such/dir/nsagent.conf", dir);
	assert_int_equal(bird_write_include(path, "x", &changed, msg, sizeof(msg)), -ENOENT);
	assert_non_null(strstr(msg, "no/such/dir"));
}

/* BIRD 2.0.12's `show protocols`, as birdc.c joins it. */
static const char protocols[] =
    "Name       Proto      Table      State  Since         Info\n"
    "nsagent_device Device     ---        up     19:08:06.843  \n"
    "nsagent_kernel4 Kernel     master4    up     19:08:06.843  \n"
    "nsagent_bfd BFD        ---        up     19:08:06.843  \n"
    "nsagent_peer1 BGP        ---        up     19:08:07.120  Established   \n"
    "nsagent_peer2 BGP        ---        start  2026-12-05 19:08:06  Active        Socket: "
    "Connection refused\n"
    "site       BGP        ---        up     19:08:07.120  Established   \n"
    "nsagent_peer99 BGP        ---        up     19:08:07.120  Established   \n"
    "nsagent_peer3 BGP        ---        start  19:08:06.843  Idle          \n";

static void test_parse_protocols(void **state)
{
	struct bird_session s[8];
	unsigned n;

	(void)state;
	n = bird_parse_protocols(protocols, s, 8);
	assert_int_equal(n, 3);
	assert_string_equal(s[0].name, "nsagent_peer1");
	assert_int_equal(s[0].peer, 0);
	assert_string_equal(s[0].state, "up");
	assert_string_equal(s[0].info, "Established");
	assert_true(s[0].established);
	assert_int_equal(s[1].peer, 1);
	assert_string_equal(s[1].state, "start");
	assert_string_equal(s[1].info, "Active");
	assert_false(s[1].established);
	assert_int_equal(s[2].peer, 2);
	assert_string_equal(s[2].info, "Idle");
	assert_int_equal(bird_parse_protocols(protocols, s, 1), 1);
	assert_int_equal(bird_parse_protocols("", s, 8), 0);
	assert_int_equal(bird_parse_protocols("garbage\n\n nsagent_peer1\n", s, 8), 0);
}

static const char routes[] =
    "Table master4:\n"
    "172.16.1.0/24        unicast [nsagent_peer1 19:10:10.123 from 192.168.1.2] * (100/?) [i]\n"
    "\tvia 192.168.1.6 on eth0\n"
    "                     unicast [nsagent_peer2 19:10:11.456 from 192.168.1.3] (100/?) [i]\n"
    "\tvia 192.168.1.6 on eth0\n"
    "172.16.2.0/24        unicast [nsagent_peer1 19:10:10.123 from 192.168.1.2] * (100/?) [i]\n"
    "\tvia 192.168.1.7 on eth0\n"
    "\tvia 192.168.1.9 on eth0\n"
    "not/a route\n"
    "\n"
    "Table master6:\n"
    "fd6e:7361:6765:1::/64 unicast [nsagent_peer4 19:10:10.123 from 2001:db8:1::2] * (100/?) "
    "[i]\n"
    "\tvia 2001:db8:1::6 on eth0\n"
    "172.16.3.0/24        unreachable [nsagent_peer1 19:10:10.123] * (100)\n";

static void test_parse_routes(void **state)
{
	struct bird_route *r = NULL;
	char a[NODEADDR_STRLEN], p[PREFIX6_STRLEN];
	unsigned n;

	(void)state;
	n = bird_parse_routes(routes, &r);
	assert_int_equal(n, 4);
	assert_int_equal(r[0].family, AF_INET);
	assert_string_equal(addr_format_prefix(&r[0].prefix, p), "172.16.1.0/24");
	assert_string_equal(nodeaddr_format(&r[0].via, a), "192.168.1.6");
	assert_string_equal(r[0].from, "nsagent_peer1");
	assert_string_equal(addr_format_prefix(&r[1].prefix, p), "172.16.2.0/24");
	assert_string_equal(nodeaddr_format(&r[1].via, a), "192.168.1.7");
	assert_int_equal(r[2].family, AF_INET6);
	assert_string_equal(addr6_format_prefix(&r[2].prefix6, p), "fd6e:7361:6765:1::/64");
	assert_string_equal(nodeaddr_format(&r[2].via, a), "2001:db8:1::6");
	assert_true(nodeaddr_is_zero(&r[3].via));
	free(r);
	assert_int_equal(bird_parse_routes("", &r), 0);
	free(r);
}

/* The probes follow the routes: the node behind each route of the family
 * that has a next hop, at its subnet's bridge address. */
static void test_probe_targets(void **state)
{
	struct bird_route *r = NULL;
	struct probe_target t[4];
	char a[NODEADDR_STRLEN], b[ADDR6_STRLEN];
	unsigned n = bird_parse_routes(routes, &r);

	(void)state;
	assert_int_equal(n, 4);
	/* IPv4: the two with a next hop; the unreachable one reaches no node. */
	assert_int_equal(bird_probe_targets(r, n, AF_INET, t), 2);
	assert_string_equal(nodeaddr_format(&t[0].node_ip, a), "192.168.1.6");
	assert_string_equal(addr_format(t[0].addr, a), "172.16.1.1");
	assert_true(addr6_is_zero(&t[0].addr6));
	assert_string_equal(nodeaddr_format(&t[1].node_ip, a), "192.168.1.7");
	assert_string_equal(addr_format(t[1].addr, a), "172.16.2.1");
	/* IPv6: the /64's ::1, keyed by its IPv6 next hop. */
	assert_int_equal(bird_probe_targets(r, n, AF_INET6, t), 1);
	assert_string_equal(nodeaddr_format(&t[0].node_ip, a), "2001:db8:1::6");
	assert_string_equal(addr6_format(&t[0].addr6, b), "fd6e:7361:6765:1::1");
	assert_int_equal(t[0].addr, 0);
	assert_int_equal(bird_probe_targets(r, 0, AF_INET, t), 0);
	free(r);
}

static void test_export_next(void **state)
{
	(void)state;
	/* Held until a session has been up; refused when another announces it. */
	assert_int_equal(bird_export_next(BIRD_EXPORT_HELD, false, false), BIRD_EXPORT_HELD);
	assert_int_equal(bird_export_next(BIRD_EXPORT_HELD, true, false), BIRD_EXPORT_ON);
	assert_int_equal(bird_export_next(BIRD_EXPORT_HELD, true, true), BIRD_EXPORT_REFUSED);
	assert_int_equal(bird_export_next(BIRD_EXPORT_HELD, false, true), BIRD_EXPORT_REFUSED);
	/* The first announcer keeps it; the later one waits for it to go. */
	assert_int_equal(bird_export_next(BIRD_EXPORT_ON, true, true), BIRD_EXPORT_ON);
	assert_int_equal(bird_export_next(BIRD_EXPORT_ON, false, false), BIRD_EXPORT_ON);
	assert_int_equal(bird_export_next(BIRD_EXPORT_REFUSED, true, true), BIRD_EXPORT_REFUSED);
	assert_int_equal(bird_export_next(BIRD_EXPORT_REFUSED, false, false), BIRD_EXPORT_REFUSED);
	assert_int_equal(bird_export_next(BIRD_EXPORT_REFUSED, true, false), BIRD_EXPORT_ON);
	assert_string_equal(bird_export_name(BIRD_EXPORT_REFUSED), "refused");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_render_dual_stack),
	    cmocka_unit_test(test_render_ipv4_held),
	    cmocka_unit_test(test_render_ipv6_underlay),
	    cmocka_unit_test(test_render_ipv6_over_ipv4),
	    cmocka_unit_test(test_render_multihop),
	    cmocka_unit_test(test_write_include),
	    cmocka_unit_test(test_parse_protocols),
	    cmocka_unit_test(test_parse_routes),
	    cmocka_unit_test(test_probe_targets),
	    cmocka_unit_test(test_export_next),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
