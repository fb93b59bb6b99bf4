/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for src/addr.c: strict parsing, formatting and prefix arithmetic. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "nsagent/addr.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static struct prefix P(const char *text) {
	struct prefix p;

	if (addr_parse_prefix(text, &p) < 0)
		fail_msg("bad prefix in test: %s", text);
	return p;
}

static void
test_parse_good(void **state)
{
	static const struct {
		const char *text;
		uint32_t addr;
	} cases[] = {
	    {"0.0.0.0", 0},
	    {"255.255.255.255", 0xffffffffu},
	    {"192.168.1.6", 0xc0a80106u},
	    {"10.0.0.1", 0x0a000001u},
	    {"172.16.100.200", 0xac1064c8u},
	    {"1.2.3.4", 0x01020304u},
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint32_t addr = 0x12345678;

		assert_int_equal(addr_parse(cases[i].text, &addr), 0);
		assert_int_equal(addr, cases[i].addr);
	}
}

static void test_parse_bad(void **state)
{
	static const char *bad[] = {
	    "",		  "1",	       "1.2.3",	     "1.2.3.4.5",  "256.0.0.1", "1.2.3.256",
	    "01.2.3.4",	  "1.2.3.04",  "1.2.3.00",   "1..3.4",	   ".1.2.3",	"1.2.3.",
	    " 1.2.3.4",	  "1.2.3.4 ",  "1.2.3.4x",   "+1.2.3.4",   "-1.2.3.4",	"1.2.3.4/24",
	    "1.2.3.4:80", "0x1.2.3.4", "1000.2.3.4", "1.2.3.1000", "a.b.c.d",	"1.2.3.4\n",
	    "4294967296", "1.2.3.-1",
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		uint32_t addr = 0x12345678;

		if (addr_parse(bad[i], &addr) != -EINVAL)
			fail_msg("accepted '%s'", bad[i]);
		assert_int_equal(addr, 0x12345678);
	}
	assert_int_equal(addr_parse(NULL, &(uint32_t){0}), -EINVAL);
}

static void test_parse_prefix(void **state)
{
	static const struct {
		const char *text;
		uint32_t addr;
		uint8_t len;
	} good[] = {
	    {"0.0.0.0/0", 0, 0},
	    {"172.16.0.0/16", 0xac100000u, 16},
	    {"172.16.1.0/24", 0xac100100u, 24},
	    {"10.0.0.2/31", 0x0a000002u, 31},
	    {"10.0.0.3/32", 0x0a000003u, 32},
	    {"128.0.0.0/1", 0x80000000u, 1},
	};
	static const char *bad[] = {
	    "172.16.1.1/24", /* host bits */
	    "1.0.0.0/0",     /* host bits at /0 */
	    "10.0.0.3/31",   "172.16.0.0",    "172.16.0.0/",	"172.16.0.0/33",  "172.16.0.0/024",
	    "172.16.0.0/00", "172.16.0.0/-1", "172.16.0.0/+8",	"172.16.0.0/24x", "172.16.0.0/24 ",
	    "/24",	     "172.16.0/24",   "172.16.0.0/100", "172.16.0.0//24", "172.016.0.0/16",
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		struct prefix p;

		assert_int_equal(addr_parse_prefix(good[i].text, &p), 0);
		assert_int_equal(p.addr, good[i].addr);
		assert_int_equal(p.len, good[i].len);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct prefix p;

		if (addr_parse_prefix(bad[i], &p) != -EINVAL)
			fail_msg("accepted '%s'", bad[i]);
	}
}

static void test_parse_endpoint(void **state)
{
	struct endpoint e;
	static const char *bad[] = {
	    "1.2.3.4:",	     "1.2.3.4:0",    "1.2.3.4:65536",  "1.2.3.4:080", "1.2.3.4:-1",
	    "1.2.3.4:80x",   "1.2.3.4:80:1", "1.2.3.4 :80",    "1.2.3.4: 80", ":80",
	    "1.2.3.4/24:80", "1.2.3:80",     "1.2.3.4:999999",
	};
	(void)state;
	assert_int_equal(addr_parse_endpoint("192.168.1.6", 7470, &e), 0);
	assert_int_equal(e.addr.family, AF_INET);
	assert_int_equal(e.addr.v4, 0xc0a80106u);
	assert_int_equal(e.port, 7470);
	assert_int_equal(addr_parse_endpoint("192.168.1.6:1", 7470, &e), 0);
	assert_int_equal(e.port, 1);
	assert_int_equal(addr_parse_endpoint("192.168.1.6:65535", 7470, &e), 0);
	assert_int_equal(e.port, 65535);
	/* A zero default stays zero: callers use it for "not given". */
	assert_int_equal(addr_parse_endpoint("10.1.1.1", 0, &e), 0);
	assert_int_equal(e.port, 0);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (addr_parse_endpoint(bad[i], 7470, &e) != -EINVAL)
			fail_msg("accepted '%s'", bad[i]);
	}
}

/* IPv6: "[addr]:port", "[addr]" and a bare "addr" (no port: its colons
 * leave none to tell it by), each reading back from addr_format_endpoint. */
static void test_parse_endpoint6(void **state)
{
	struct endpoint e;
	char buf[ENDPOINT_STRLEN];
	static const char *bad[] = {
	    "[2001:db8::6",	  "2001:db8::6]",	 "[2001:db8::6]:",
	    "[2001:db8::6]:0",	  "[2001:db8::6]:65536", "[2001:db8::6]80",
	    "[2001:db8::6]:80:1", "2001:db8::6:80x",	 "[]:80",
	    "[1.2.3.4]:80",	  "[fe80::1%eth0]:80",	 "2001:db8::6 ",
	    "[2001:db8::6] :80",  "[2001:db8::g]:80",	 "[::ffff:1.2.3.4:80",
	};
	(void)state;
	assert_int_equal(addr_parse_endpoint("[2001:db8::6]:7471", 7470, &e), 0);
	assert_int_equal(e.addr.family, AF_INET6);
	assert_int_equal(e.port, 7471);
	assert_string_equal(addr_format_endpoint(&e, buf), "[2001:db8::6]:7471");
	assert_int_equal(addr_parse_endpoint("[2001:db8::6]", 7470, &e), 0);
	assert_int_equal(e.port, 7470);
	assert_int_equal(addr_parse_endpoint("2001:db8::6", 7470, &e), 0);
	assert_int_equal(e.addr.family, AF_INET6);
	assert_int_equal(e.port, 7470);
	assert_string_equal(addr_format_endpoint(&e, buf), "[2001:db8::6]:7470");
	/* the longest form fits ENDPOINT_STRLEN */
	assert_int_equal(
	    addr_parse_endpoint("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535", 0, &e), 0);
	assert_string_equal(addr_format_endpoint(&e, buf),
			    "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
	assert_int_equal(addr_parse_endpoint("2001:db8::6", 0, &e), 0);
	assert_int_equal(e.port, 0);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (addr_parse_endpoint(bad[i], 7470, &e) != -EINVAL)
			fail_msg("accepted '%s'", bad[i]);
	}
}

static void test_format(void **state)
{
	char a[ADDR_STRLEN], p[PREFIX_STRLEN], e[ENDPOINT_STRLEN];
	struct prefix widest = {.addr = 0xffffffffu, .len = 32};
	struct endpoint ep = {.addr = nodeaddr_v4(0xffffffffu), .port = 65535};

	(void)state;
	assert_string_equal(addr_format(0, a), "0.0.0.0");
	assert_string_equal(addr_format(0xffffffffu, a), "255.255.255.255");
	assert_string_equal(addr_format(0xc0a80106u, a), "192.168.1.6");
	assert_string_equal(addr_format_prefix(&widest, p), "255.255.255.255/32");
	assert_string_equal(addr_format_endpoint(&ep, e), "255.255.255.255:65535");
	struct prefix zero = {0, 0};
	assert_string_equal(addr_format_prefix(&zero, p), "0.0.0.0/0");

	/* Formatting round-trips through the parser. */
	static const char *texts[] = {"0.0.0.0/0", "172.16.0.0/16", "10.0.0.2/31", "8.8.8.8/32"};
	for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
		struct prefix parsed = P(texts[i]);
		assert_string_equal(addr_format_prefix(&parsed, p), texts[i]);
	}
}

static void test_mask(void **state)
{
	(void)state;
	assert_int_equal(addr_mask(0), 0);
	assert_int_equal(addr_mask(1), 0x80000000u);
	assert_int_equal(addr_mask(16), 0xffff0000u);
	assert_int_equal(addr_mask(24), 0xffffff00u);
	assert_int_equal(addr_mask(31), 0xfffffffeu);
	assert_int_equal(addr_mask(32), 0xffffffffu);
}

static void test_contains_overlap(void **state)
{
	struct prefix cluster = P("172.16.0.0/16"), node1 = P("172.16.0.0/24"),
		      node2 = P("172.16.1.0/24"), other = P("10.0.0.0/8"), all = P("0.0.0.0/0"),
		      host = P("172.16.1.7/32"), wide = P("172.0.0.0/8");
	uint32_t a;

	(void)state;
	assert_true(addr_prefix_contains(&cluster, &node1));
	assert_true(addr_prefix_contains(&cluster, &node2));
	assert_true(addr_prefix_contains(&cluster, &cluster));
	assert_false(addr_prefix_contains(&node1, &cluster)); /* larger is not inside */
	assert_false(addr_prefix_contains(&cluster, &other));
	assert_false(addr_prefix_contains(&cluster, &wide));
	assert_true(addr_prefix_contains(&wide, &cluster));
	assert_true(addr_prefix_contains(&all, &other));
	assert_true(addr_prefix_contains(&all, &all));
	assert_false(addr_prefix_contains(&other, &all));
	assert_true(addr_prefix_contains(&node2, &host));
	assert_false(addr_prefix_contains(&node1, &host));

	assert_true(addr_prefix_overlaps(&cluster, &node1));
	assert_true(addr_prefix_overlaps(&node1, &cluster));
	assert_false(addr_prefix_overlaps(&node1, &node2));
	assert_false(addr_prefix_overlaps(&cluster, &other));
	assert_true(addr_prefix_overlaps(&all, &node1));
	assert_true(addr_prefix_overlaps(&node2, &host));
	assert_true(addr_prefix_overlaps(&host, &host));

	assert_true(addr_prefix_equal(&node1, &node1));
	assert_false(addr_prefix_equal(&node1, &node2));
	assert_false(addr_prefix_equal(&cluster, &wide));

	assert_int_equal(addr_parse("172.16.255.255", &a), 0);
	assert_true(addr_prefix_contains_addr(&cluster, a));
	assert_false(addr_prefix_contains_addr(&node1, a));
	assert_int_equal(addr_parse("172.17.0.0", &a), 0);
	assert_false(addr_prefix_contains_addr(&cluster, a));
	assert_true(addr_prefix_contains_addr(&all, a));
	assert_true(addr_prefix_contains_addr(&all, 0xffffffffu));
}

static void test_size(void **state)
{
	struct prefix all = P("0.0.0.0/0"), one = P("1.1.1.1/32"), net = P("172.16.1.0/24"),
		      p2p = P("10.0.0.0/31");

	(void)state;
	assert_true(addr_prefix_size(&all) == (uint64_t)1 << 32);
	assert_true(addr_prefix_size(&one) == 1);
	assert_true(addr_prefix_size(&net) == 256);
	assert_true(addr_prefix_size(&p2p) == 2);
}

static void test_host(void **state)
{
	struct prefix net = P("172.16.1.0/24"), s30 = P("10.0.0.4/30"), s31 = P("10.0.0.2/31"),
		      s32 = P("10.0.0.9/32"), all = P("0.0.0.0/0");
	uint32_t a = 0, before;
	char buf[ADDR_STRLEN];

	(void)state;
	/* The seed recipe: bridge .1, NS1 .2, NS2 .3. */
	assert_int_equal(addr_prefix_host(&net, 1, &a), 0);
	assert_string_equal(addr_format(a, buf), "172.16.1.1");
	assert_int_equal(addr_prefix_host(&net, 3, &a), 0);
	assert_string_equal(addr_format(a, buf), "172.16.1.3");
	assert_int_equal(addr_prefix_host(&net, 254, &a), 0);
	assert_string_equal(addr_format(a, buf), "172.16.1.254");
	before = a;
	assert_int_equal(addr_prefix_host(&net, 255, &a), -ERANGE); /* broadcast */
	assert_int_equal(a, before);
	assert_int_equal(addr_prefix_host(&net, 0, &a), -ERANGE); /* network address */
	assert_int_equal(addr_prefix_host(&net, 0xffffffffu, &a), -ERANGE);

	assert_int_equal(addr_prefix_host(&s30, 1, &a), 0);
	assert_string_equal(addr_format(a, buf), "10.0.0.5");
	assert_int_equal(addr_prefix_host(&s30, 2, &a), 0);
	assert_string_equal(addr_format(a, buf), "10.0.0.6");
	assert_int_equal(addr_prefix_host(&s30, 3, &a), -ERANGE);

	/* RFC 3021: both addresses of a /31 are hosts. */
	assert_int_equal(addr_prefix_host(&s31, 1, &a), 0);
	assert_string_equal(addr_format(a, buf), "10.0.0.2");
	assert_int_equal(addr_prefix_host(&s31, 2, &a), 0);
	assert_string_equal(addr_format(a, buf), "10.0.0.3");
	assert_int_equal(addr_prefix_host(&s31, 3, &a), -ERANGE);

	assert_int_equal(addr_prefix_host(&s32, 1, &a), 0);
	assert_string_equal(addr_format(a, buf), "10.0.0.9");
	assert_int_equal(addr_prefix_host(&s32, 2, &a), -ERANGE);

	assert_int_equal(addr_prefix_host(&all, 1, &a), 0);
	assert_string_equal(addr_format(a, buf), "0.0.0.1");
	assert_int_equal(addr_prefix_host(&all, 0xfffffffeu, &a), 0);
	assert_string_equal(addr_format(a, buf), "255.255.255.254");
	assert_int_equal(addr_prefix_host(&all, 0xffffffffu, &a), -ERANGE);
}

static void test_subnet(void **state)
{
	struct prefix cluster = P("172.16.0.0/16"), all = P("0.0.0.0/0"), s31 = P("10.0.0.2/31"),
		      out = {0, 0};
	char buf[PREFIX_STRLEN];

	(void)state;
	assert_int_equal(addr_prefix_subnet(&cluster, 24, 0, &out), 0);
	assert_string_equal(addr_format_prefix(&out, buf), "172.16.0.0/24");
	assert_int_equal(addr_prefix_subnet(&cluster, 24, 1, &out), 0);
	assert_string_equal(addr_format_prefix(&out, buf), "172.16.1.0/24");
	assert_int_equal(addr_prefix_subnet(&cluster, 24, 255, &out), 0);
	assert_string_equal(addr_format_prefix(&out, buf), "172.16.255.0/24");
	assert_int_equal(addr_prefix_subnet(&cluster, 24, 256, &out), -ERANGE);
	assert_int_equal(addr_prefix_subnet(&cluster, 16, 0, &out), 0);
	assert_true(addr_prefix_equal(&out, &cluster));
	assert_int_equal(addr_prefix_subnet(&cluster, 16, 1, &out), -ERANGE);
	assert_int_equal(addr_prefix_subnet(&cluster, 15, 0, &out), -EINVAL);
	assert_int_equal(addr_prefix_subnet(&cluster, 33, 0, &out), -EINVAL);
	assert_int_equal(addr_prefix_subnet(&cluster, 32, 65535, &out), 0);
	assert_string_equal(addr_format_prefix(&out, buf), "172.16.255.255/32");

	assert_int_equal(addr_prefix_subnet(&all, 0, 0, &out), 0);
	assert_string_equal(addr_format_prefix(&out, buf), "0.0.0.0/0");
	assert_int_equal(addr_prefix_subnet(&all, 0, 1, &out), -ERANGE);
	assert_int_equal(addr_prefix_subnet(&all, 1, 1, &out), 0);
	assert_string_equal(addr_format_prefix(&out, buf), "128.0.0.0/1");
	assert_int_equal(addr_prefix_subnet(&all, 32, 0xffffffffu, &out), 0);
	assert_string_equal(addr_format_prefix(&out, buf), "255.255.255.255/32");

	assert_int_equal(addr_prefix_subnet(&s31, 32, 1, &out), 0);
	assert_string_equal(addr_format_prefix(&out, buf), "10.0.0.3/32");
	assert_int_equal(addr_prefix_subnet(&s31, 32, 2, &out), -ERANGE);
}

/* Addresses no host has: each class named, every unicast edge let through. */
static void test_unicast_problem(void **state)
{
	static const struct {
		const char *addr, *problem;
	} cases[] = {
	    {"0.0.0.0", "this network"},
	    {"0.255.1.2", "this network"},
	    {"127.0.0.1", "loopback"},
	    {"127.255.255.254", "loopback"},
	    {"224.0.0.1", "multicast"},
	    {"239.255.255.255", "multicast"},
	    {"240.0.0.1", "reserved or broadcast"},
	    {"255.255.255.255", "reserved or broadcast"},
	    {"1.0.0.0", NULL},
	    {"126.255.255.255", NULL},
	    {"128.0.0.0", NULL},
	    {"169.254.1.1", NULL},
	    {"192.168.1.5", NULL},
	    {"223.255.255.255", NULL},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint32_t a;
		const char *problem;

		assert_int_equal(addr_parse(cases[i].addr, &a), 0);
		problem = addr_unicast_problem(a);
		if (!cases[i].problem && problem)
			fail_msg("%s refused: %s", cases[i].addr, problem);
		if (cases[i].problem && (!problem || !strstr(problem, cases[i].problem)))
			fail_msg("%s: '%s', want '%s'", cases[i].addr, problem ? problem : "(none)",
				 cases[i].problem);
	}
}

/* A node IP must be reachable by every peer: link-local is refused as
 * well as what no host address can be. */
static void test_node_ip_problem(void **state)
{
	uint32_t a;

	(void)state;
	assert_int_equal(addr_parse("169.254.1.1", &a), 0);
	assert_non_null(strstr(addr_node_ip_problem(a), "link-local"));
	assert_int_equal(addr_parse("127.0.0.1", &a), 0);
	assert_non_null(strstr(addr_node_ip_problem(a), "loopback"));
	assert_int_equal(addr_parse("10.0.2.15", &a), 0);
	assert_null(addr_node_ip_problem(a));
}

static void test_parse_host_endpoint(void **state)
{
	static const struct {
		const char *text;
		const char *host; /* NULL: refused */
		uint16_t port;
	} cases[] = {
	    {"node2", "node2", 7470},
	    {"node2:7471", "node2", 7471},
	    {"node-2.lab.example.", "node-2.lab.example.", 7470},
	    {"N2", "N2", 7470},
	    {"2node", "2node", 7470},
	    {"node2:0", NULL, 0},
	    {"node2:65536", NULL, 0},
	    {"node2:", NULL, 0},
	    {"node2:7x", NULL, 0},
	    {"", NULL, 0},
	    {"-node", NULL, 0},
	    {"node-", NULL, 0},
	    {"a..b", NULL, 0},
	    {".a", NULL, 0},
	    {"no_de", NULL, 0},
	    {"no de", NULL, 0},
	    {"192.168.1", NULL, 0}, /* a malformed address, not a name */
	    {"1.2.3.4.5", NULL, 0},
	};
	char host[ADDR_HOST_MAX + 1], long_name[300];
	uint16_t port;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int ret = addr_parse_host_endpoint(cases[i].text, 7470, host, &port);

		if (!cases[i].host) {
			if (ret == 0)
				fail_msg("'%s' accepted as host '%s'", cases[i].text, host);
			continue;
		}
		if (ret != 0)
			fail_msg("'%s' refused", cases[i].text);
		assert_string_equal(host, cases[i].host);
		assert_int_equal(port, cases[i].port);
	}
	/* A label of 64 characters, and a name of 254, are too long. */
	memset(long_name, 'a', 64);
	long_name[64] = '\0';
	assert_int_equal(addr_parse_host_endpoint(long_name, 1, host, &port), -EINVAL);
	long_name[63] = '\0';
	assert_int_equal(addr_parse_host_endpoint(long_name, 1, host, &port), 0);
	for (size_t i = 0; i < 254; i++)
		long_name[i] = i % 2 ? '.' : 'a';
	long_name[254] = '\0';
	assert_int_equal(addr_parse_host_endpoint(long_name, 1, host, &port), -EINVAL);
	long_name[253] = '\0';
	assert_int_equal(addr_parse_host_endpoint(long_name, 1, host, &port), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_good),
	    cmocka_unit_test(test_parse_bad),
	    cmocka_unit_test(test_parse_prefix),
	    cmocka_unit_test(test_parse_endpoint),
	    cmocka_unit_test(test_parse_endpoint6),
	    cmocka_unit_test(test_format),
	    cmocka_unit_test(test_mask),
	    cmocka_unit_test(test_contains_overlap),
	    cmocka_unit_test(test_size),
	    cmocka_unit_test(test_host),
	    cmocka_unit_test(test_subnet),
	    cmocka_unit_test(test_unicast_problem),
	    cmocka_unit_test(test_node_ip_problem),
	    cmocka_unit_test(test_parse_host_endpoint),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
