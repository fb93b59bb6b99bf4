/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: the BIRD include of --routing bgp, and BIRD's replies read back.
 *
 * bird_render turns the node's facts into the one file a cluster node's
 * bird.conf includes: router id, the device, direct and kernel protocols,
 * a BFD protocol, and one BGP session per --bgp-peer, every protocol and
 * filter named nsagent_* so an operator's own ones sit beside them. The
 * filters are nsagent's advert rules (DESIGN.md "Peer protocol",
 * Validation) said in BIRD's language, so a route the mesh would refuse is
 * refused by BIRD before it reaches a table:
 *   - import: exactly the node-subnet length and inside the cluster range
 *     (one prefix-set pattern, RANGE{LEN,LEN}), never a default route,
 *     never this node's own subnet, never a route into one of this host's
 *     networks (the underlay's included);
 *   - export: only this node's subnets, as the direct protocol sees them
 *     on the bridge, and only while bird_export_next says so.
 * Routes learned over BGP go to the kernel's main table (protocol "bird",
 * 12, metric 32), and nothing is learned from the kernel. BIRD keeps them
 * there across its own restart (persist), the sessions use graceful
 * restart, so a restart of BIRD or of nsagent leaves traffic flowing.
 *
 * A session is single-hop (direct) when the peer is on one of this
 * host's networks, next hops on-link. An IPv6 peer carries the /64s, an
 * IPv4 one the /24s and, single-hop, the /64s too: Linux takes no IPv4
 * next hop for an IPv6 route, so our /64's next hop there is the
 * link-local address of the node IP's link, as in the mesh (README "IPv6
 * routes between nodes"); BIRD sends it alone (RFC 2545), a reflector on
 * the segment passes it on unchanged, and the receiving session (gateway
 * direct) routes the /64 via it on that link.
 *
 * A peer on none of this host's networks is reached through a router
 * (multihop). BIRD resolves a multihop session's next hops recursively,
 * in the table, so the underlay's own networks are put there
 * (nsagent_underlay); the next hops stay the nodes' own addresses on the
 * shared segment, which the reflector passes on unchanged. Such a session
 * carries no /64s over IPv4: BIRD gives a multihop session no link-local
 * next hop (it announces "::"), and a reflector behind a router drops a
 * route with a zero next hop (checked in the lab with BIRD 2.0.12). BFD runs multihop from the node
 * IP (BIRD needs the session's local address for it), or is off for a peer of the other family.
 *
 * The parsers take BIRD's reply text as birdc.c joins it (the text of each
 * line after its reply code) and never trust it: a line that does not
 * read as expected is skipped. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nsagent/bird.h"
#include "nsagent/persist.h"
#include "nsagent/xalloc.h"

#define BIRD_KERNEL_TABLE 254 /* main */
#define BIRD_KERNEL_METRIC 32
/* BFD on the sessions, said explicitly rather than left to BIRD's
 * defaults (the same figures): a peer that stops answering is down after
 * BIRD_BFD_MULTIPLIER intervals of BIRD_BFD_INTERVAL_MS, half a second,
 * and the reflector withdraws its routes then. The lab's deadlines are
 * derived from these (tests/lab/test_bgp_six.sh). */
#define BIRD_BFD_INTERVAL_MS 100u
#define BIRD_BFD_MULTIPLIER 5u

/* ---- rendering ---- */

struct text {
	FILE *out;
	char *buf;
	size_t size;
};

static void text_open(struct text *t)
{
	t->buf = NULL;
	t->size = 0;
	t->out = open_memstream(&t->buf, &t->size);
	if (!t->out)
		fatal("out of memory");
}

static char *text_close(struct text *t)
{
	if (fclose(t->out) != 0)
		fatal("out of memory");
	/* The file's newline is persist_write's. */
	while (t->size && t->buf[t->size - 1] == '\n')
		t->buf[--t->size] = '\0';
	return t->buf;
}

/* The /LEN containing prefix (prefix longer than LEN). */
static struct prefix widen(const struct prefix *p, uint8_t len)
{
	struct prefix w = {p->addr & addr_mask(len), len};

	return w;
}

/* The prefix-set entries of the node-length subnets that overlap a local
 * network: all of them inside it (L+), or the one holding it. */
static void local_set4(FILE *out, const struct bird_config *c)
{
	char p[PREFIX_STRLEN];

	if (!c->n_local)
		return;
	fprintf(out, "\tif net ~ [ ");
	for (unsigned i = 0; i < c->n_local; i++) {
		struct prefix l = c->local[i];
		bool plus = l.len <= c->subnet_len, seen = false;

		if (!plus)
			l = widen(&l, c->subnet_len);
		/* An address and its network are one entry. */
		for (unsigned j = 0; j < i && !seen; j++) {
			struct prefix e = c->local[j];
			bool e_plus = e.len <= c->subnet_len;

			if (!e_plus)
				e = widen(&e, c->subnet_len);
			seen = addr_prefix_equal(&e, &l) && e_plus == plus;
		}
		if (seen)
			continue;
		fprintf(out, "%s%s%s", i ? ", " : "", addr_format_prefix(&l, p), plus ? "+" : "");
	}
	fprintf(out, " ] then reject; # a network of this host\n");
}

static void local_set6(FILE *out, const struct bird_config *c)
{
	char p[PREFIX6_STRLEN];
	unsigned n = 0;

	for (unsigned i = 0; i < c->n_local6; i++) {
		struct prefix6 l = c->local6[i];

		if (n++ == 0)
			fprintf(out, "\tif net ~ [ ");
		else
			fprintf(out, ", ");
		if (l.len <= ADDR6_NODE_SUBNET_LEN) {
			fprintf(out, "%s+", addr6_format_prefix(&l, p));
		} else {
			/* The /64 holding it: its last 64 bits cleared. */
			memset(l.addr.s6_addr + 8, 0, 8);
			l.len = ADDR6_NODE_SUBNET_LEN;
			fprintf(out, "%s", addr6_format_prefix(&l, p));
		}
	}
	if (n)
		fprintf(out, " ] then reject; # a network of this host\n");
}

static void filters4(FILE *out, const struct bird_config *c)
{
	char cl[PREFIX_STRLEN], s[PREFIX_STRLEN];

	addr_format_prefix(&c->cluster, cl);
	addr_format_prefix(&c->subnet, s);
	fprintf(out,
		"# nsagent's advert rules: a node's /%u inside the cluster range, never a\n"
		"# default route, never our own subnet or a network of this host.\n"
		"filter nsagent_import4 {\n"
		"\tif net.len = 0 then reject; # a default route\n"
		"\tif net !~ [ %s{%u,%u} ] then reject; # not a node subnet of the cluster\n"
		"\tif net = %s then reject; # our own subnet\n",
		c->subnet_len, cl, c->subnet_len, c->subnet_len, s);
	local_set4(out, c);
	fprintf(out, "\taccept;\n}\n\n");
	fprintf(out, "# Only this node's subnet, from its bridge.\nfilter nsagent_export4 {\n");
	if (c->export == BIRD_EXPORT_ON)
		fprintf(out, "\tif proto = \"nsagent_direct\" && net = %s then accept;\n", s);
	else
		fprintf(out, "\t# %s is not announced: %s\n", s,
			c->export == BIRD_EXPORT_HELD
			    ? "held until BIRD has shown what the cluster announces"
			    : "another node announces it (see nsagent status)");
	fprintf(out, "\treject;\n}\n\n");
}

static void filters6(FILE *out, const struct bird_config *c)
{
	char cl[PREFIX6_STRLEN], s[PREFIX6_STRLEN];

	addr6_format_prefix(&c->cluster6, cl);
	addr6_format_prefix(&c->subnet6, s);
	fprintf(out,
		"filter nsagent_import6 {\n"
		"\tif net.len = 0 then reject; # a default route\n"
		"\tif net !~ [ %s{%u,%u} ] then reject; # not a node /64 of the cluster\n"
		"\tif net = %s then reject; # our own /64\n",
		cl, (unsigned)ADDR6_NODE_SUBNET_LEN, (unsigned)ADDR6_NODE_SUBNET_LEN, s);
	local_set6(out, c);
	fprintf(out, "\taccept;\n}\n\nfilter nsagent_export6 {\n");
	if (c->export == BIRD_EXPORT_ON)
		fprintf(out, "\tif proto = \"nsagent_direct\" && net = %s then accept;\n", s);
	fprintf(out, "\treject;\n}\n\n");
}

static void kernel(FILE *out, int family)
{
	int v = family == AF_INET6 ? 6 : 4;

	fprintf(out,
		"protocol kernel nsagent_kernel%d {\n"
		"\tkernel table %d; # main\n"
		"\tmetric %d;\n"
		"\tlearn off;\n"
		"\tpersist; # kept in the kernel while BIRD restarts\n"
		"\tmerge paths on;\n"
		"\tipv%d {\n"
		"\t\timport none;\n"
		"\t\texport where source = RTS_BGP;\n"
		"\t};\n"
		"}\n\n",
		v, BIRD_KERNEL_TABLE, BIRD_KERNEL_METRIC, v);
}

/* One channel of a session: the family's filters. next_hop, when given,
 * is the address BIRD announces for our routes on it. */
static void channel(FILE *out, int v, const char *next_hop)
{
	fprintf(out,
		"\tipv%d {\n"
		"\t\timport keep filtered on;\n"
		"\t\timport filter nsagent_import%d;\n"
		"\t\texport filter nsagent_export%d;\n",
		v, v, v);
	if (next_hop)
		fprintf(out, "\t\tnext hop address %s; # our link's: peers route our /64 via it\n",
			next_hop);
	fprintf(out, "\t};\n");
}

/* Whether peer is on one of this host's networks (a single-hop session);
 * else a router is between (multihop). */
static bool peer_on_link(const struct bird_config *c, const struct cfg_bgp_peer *peer)
{
	for (unsigned i = 0; peer->addr.family == AF_INET && i < c->n_local; i++)
		if (addr_prefix_contains_addr(&c->local[i], peer->addr.v4))
			return true;
	for (unsigned i = 0; peer->addr.family == AF_INET6 && i < c->n_local6; i++)
		if (addr6_prefix_contains_addr(&c->local6[i], &peer->addr.v6))
			return true;
	return false;
}

static bool any_multihop(const struct bird_config *c)
{
	for (unsigned i = 0; i < c->n_peers; i++)
		if (!peer_on_link(c, &c->peers[i]))
			return true;
	return false;
}

static void session(FILE *out, const struct bird_config *c, unsigned i, bool ipv6_routes)
{
	const struct cfg_bgp_peer *peer = &c->peers[i];
	char a[NODEADDR_STRLEN], local[NODEADDR_STRLEN], ll[ADDR6_STRLEN];
	bool v6 = peer->addr.family == AF_INET6,
	     with_local = c->node_ip.family == peer->addr.family;
	bool direct = peer_on_link(c, peer);

	nodeaddr_format(&peer->addr, a);
	fprintf(out, "protocol bgp nsagent_peer%u {\n", i + 1);
	if (with_local)
		fprintf(out, "\tlocal %s as %" PRIu32 ";\n", nodeaddr_format(&c->node_ip, local),
			c->local_as);
	else
		fprintf(out, "\tlocal as %" PRIu32 ";\n", c->local_as);
	fprintf(out, "\tneighbor %s as %" PRIu32 ";\n", a, peer->as_set ? peer->as : c->local_as);
	if (direct)
		fprintf(out, "\tdirect;\n");
	else
		fprintf(out, "\tmultihop; # %s is on none of this host's networks\n", a);
	fprintf(out, "\tgraceful restart on;\n");
	/* BIRD's multihop BFD needs the session's local address. */
	if (c->bfd && (direct || with_local))
		fprintf(out, "\tbfd on;\n");
	else if (c->bfd)
		fprintf(out, "\tbfd off; # multihop BFD needs a local address of %s's family\n", a);
	if (!v6)
		channel(out, 4, NULL);
	/* The /64s over an IPv4 session too: BIRD would announce the link's
	 * global IPv6 address, which an IPv4 underlay does not have, so it is
	 * told the link-local one (it then sends that alone, RFC 2545's
	 * link-local next hop, and a reflector on the same segment passes it
	 * on unchanged). Not through a router: BIRD puts no link-local next
	 * hop on a multihop session, and a zero one is dropped (see the DOC). */
	if (v6 && ipv6_routes)
		channel(out, 6, NULL);
	else if (ipv6_routes && direct && c->link_local6_set)
		channel(out, 6, addr6_format(&c->link_local6, ll));
	fprintf(out, "}\n\n");
}

char *bird_render(const struct bird_config *c)
{
	struct text t;
	bool v6 = c->ipv6 && c->subnet6_set, multihop = any_multihop(c);
	char rid[ADDR_STRLEN];
	uint32_t router_id;

	text_open(&t);
	/* A router id is 32 bits: the node's IPv4 address, else (an IPv6
	 * node address) the bridge's, which is as unique in the cluster. */
	if (c->node_ip.family == AF_INET)
		router_id = c->node_ip.v4;
	else if (addr_prefix_host(&c->subnet, 1, &router_id) < 0)
		router_id = c->subnet.addr;
	fprintf(t.out,
		"# Written by nsagent (--routing bgp); every change rewrites it: do not edit.\n"
		"# A cluster node's bird.conf may be this one line:\n"
		"#   include \"<this file>\";\n"
		"router id %s;\n\n",
		addr_format(router_id, rid));
	fprintf(t.out, "protocol device nsagent_device {\n\tscan time 10;\n}\n\n");
	fprintf(t.out, "# This node's subnets, on its bridge.\nprotocol direct nsagent_direct {\n"
		       "\tipv4;\n");
	if (v6)
		fprintf(t.out, "\tipv6;\n");
	fprintf(t.out, "\tinterface \"%s\";\n}\n\n", c->bridge);
	/* A multihop session resolves its next hops (the nodes' addresses on
	 * our segment) through a route of the table (gateway recursive, the
	 * only mode BIRD allows there): the underlay's own networks. They go
	 * nowhere else: the kernel takes only BGP's routes, the sessions only
	 * nsagent_direct's. */
	if (multihop && c->underlay && c->underlay[0]) {
		fprintf(t.out,
			"# The underlay's networks: multihop sessions resolve next hops there.\n"
			"protocol direct nsagent_underlay {\n"
			"\tipv4;\n");
		if (v6)
			fprintf(t.out, "\tipv6;\n");
		fprintf(t.out, "\tinterface \"%s\";\n}\n\n", c->underlay);
	}
	kernel(t.out, AF_INET);
	if (v6)
		kernel(t.out, AF_INET6);
	filters4(t.out, c);
	if (v6)
		filters6(t.out, c);
	if (c->bfd)
		fprintf(t.out,
			"protocol bfd nsagent_bfd {\n"
			"\tinterface \"*\" {\n"
			"\t\tinterval %u ms;\n"
			"\t\tmultiplier %u;\n"
			"\t};\n",
			BIRD_BFD_INTERVAL_MS, BIRD_BFD_MULTIPLIER);
	if (c->bfd && multihop)
		fprintf(t.out,
			"\tmultihop {\n"
			"\t\tinterval %u ms;\n"
			"\t\tmultiplier %u;\n"
			"\t};\n",
			BIRD_BFD_INTERVAL_MS, BIRD_BFD_MULTIPLIER);
	if (c->bfd)
		fprintf(t.out, "}\n\n");
	for (unsigned i = 0; i < c->n_peers; i++)
		session(t.out, c, i, v6);
	return text_close(&t);
}

/* ---- the file ---- */

char *bird_read_include(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t size = 0, n;
	char chunk[4096];

	if (!f)
		return NULL;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		buf = xrealloc(buf, size + n + 1);
		memcpy(buf + size, chunk, n);
		size += n;
	}
	if (ferror(f)) {
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	if (!buf)
		return xstrdup("");
	buf[size] = '\0';
	if (size && buf[size - 1] == '\n')
		buf[size - 1] = '\0';
	return buf;
}

int bird_write_include(const char *path, const char *text, bool *changed, char *msg, size_t size)
{
	char *old = bird_read_include(path), *copy = xstrdup(path), *dir = dirname(copy);
	int ret = 0;

	*changed = false;
	if (old && strcmp(old, text) == 0)
		goto out;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		ret = -errno;
		snprintf(msg, size, "cannot make directory %s for the BIRD include: %s", dir,
			 strerror(-ret));
		goto out;
	}
	ret = persist_write(dir, path, text);
	/* persist's files are 0600; BIRD may run as its own user (Debian's
	 * unit runs it as "bird"), which must read this one. */
	if (ret == 0 && chmod(path, 0644) < 0)
		ret = -errno;
	if (ret < 0) {
		snprintf(msg, size, "cannot write the BIRD include %s: %s", path, strerror(-ret));
		goto out;
	}
	*changed = true;
out:
	free(old);
	free(copy);
	return ret;
}

/* ---- replies ---- */

/* The next line of text into line (truncated to size); NULL at the end. */
static const char *next_line(const char *text, char *line, size_t size)
{
	size_t len;

	if (!text || !*text)
		return NULL;
	len = strcspn(text, "\n");
	snprintf(line, size, "%.*s", (int)(len < size ? len : size - 1), text);
	return text[len] ? text + len + 1 : text + len;
}

/* "nsagent_peerN" -> N - 1; -1 for any other name. */
static int peer_index(const char *name)
{
	const char *p = name + strlen("nsagent_peer");
	char *end;
	unsigned long n;

	if (strncmp(name, "nsagent_peer", strlen("nsagent_peer")) != 0 ||
	    !isdigit((unsigned char)*p))
		return -1;
	n = strtoul(p, &end, 10);
	if (*end || n == 0 || n > CFG_MAX_BGP_PEERS)
		return -1;
	return (int)n - 1;
}

/* `show protocols` rows: name, protocol, table, state, since (one or two
 * words: a time, or a date and a time), info. */
unsigned bird_parse_protocols(const char *text, struct bird_session *out, unsigned max)
{
	char line[512];
	unsigned n = 0;

	while (n < max && (text = next_line(text, line, sizeof(line)))) {
		char name[BIRD_NAME_MAX], proto[16], table[32], state[BIRD_STATE_MAX];
		int used = 0, index;
		const char *rest;

		if (sscanf(line, "%31s %15s %31s %15s %n", name, proto, table, state, &used) < 4 ||
		    !used || strcmp(proto, "BGP") != 0)
			continue;
		index = peer_index(name);
		if (index < 0)
			continue;
		memset(&out[n], 0, sizeof(out[n]));
		snprintf(out[n].name, sizeof(out[n].name), "%s", name);
		out[n].peer = (unsigned)index;
		snprintf(out[n].state, sizeof(out[n].state), "%s", state);
		/* Past "since": one word with a time; "2026-12-05 19:08:06" is two. */
		rest = line + used;
		rest += strcspn(rest, " ");
		rest += strspn(rest, " ");
		if (isdigit((unsigned char)rest[0]) && strchr(rest, ':') &&
		    (size_t)(strchr(rest, ':') - rest) <= 2) {
			rest += strcspn(rest, " ");
			rest += strspn(rest, " ");
		}
		snprintf(out[n].info, sizeof(out[n].info), "%.*s", (int)strcspn(rest, " "), rest);
		out[n].established = strcmp(out[n].info, "Established") == 0;
		n++;
	}
	return n;
}

/* "172.16.1.0/24   unicast [nsagent_peer1 19:08:06.864 from ...] * (100) [i]" */
static bool route_head(const char *line, struct bird_route *r)
{
	char net[PREFIX6_STRLEN + 1], from[BIRD_NAME_MAX];
	const char *bracket;

	memset(r, 0, sizeof(*r));
	if (sscanf(line, "%49s", net) != 1)
		return false;
	if (addr_parse_prefix(net, &r->prefix) == 0)
		r->family = AF_INET;
	else if (addr6_parse_prefix(net, &r->prefix6) == 0)
		r->family = AF_INET6;
	else
		return false;
	bracket = strchr(line, '[');
	if (bracket && sscanf(bracket + 1, "%31[^] ]", from) == 1)
		snprintf(r->from, sizeof(r->from), "%s", from);
	return true;
}

unsigned bird_parse_routes(const char *text, struct bird_route **out)
{
	char line[512];
	unsigned n = 0, cap = 0;
	struct bird_route *routes = NULL, r;
	bool open = false; /* routes[n - 1] waits for its first next hop */

	while ((text = next_line(text, line, sizeof(line)))) {
		const char *p = line + strspn(line, " \t");
		char via[NODEADDR_STRLEN + 1];

		if (strncmp(p, "via ", 4) == 0) {
			if (open && sscanf(p + 4, "%46s", via) == 1 &&
			    nodeaddr_parse(via, &routes[n - 1].via) == 0)
				open = false;
			continue;
		}
		/* A route line begins in the first column; its attributes and
		 * a second path of the same net are indented. */
		if (p != line || !route_head(line, &r))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			routes = xreallocarray(routes, cap, sizeof(*routes));
		}
		routes[n++] = r;
		open = true;
	}
	*out = routes;
	return n;
}

unsigned bird_probe_targets(const struct bird_route *routes, unsigned n, int family,
			    struct probe_target *out)
{
	unsigned kept = 0;

	for (unsigned i = 0; i < n; i++) {
		const struct bird_route *r = &routes[i];
		struct probe_target *t = &out[kept];

		if (r->family != family || nodeaddr_is_zero(&r->via))
			continue;
		memset(t, 0, sizeof(*t));
		if (family == AF_INET6 ? addr6_prefix_host(&r->prefix6, 1, &t->addr6) < 0
				       : addr_prefix_host(&r->prefix, 1, &t->addr) < 0)
			continue;
		t->node_ip = r->via;
		kept++;
	}
	return kept;
}

/* ---- the export decision ---- */

enum bird_export bird_export_next(enum bird_export now, bool established, bool conflict)
{
	switch (now) {
	case BIRD_EXPORT_HELD:
		if (conflict)
			return BIRD_EXPORT_REFUSED;
		return established ? BIRD_EXPORT_ON : BIRD_EXPORT_HELD;
	case BIRD_EXPORT_ON:
		/* We announced first: the other node is the later one. */
		return BIRD_EXPORT_ON;
	case BIRD_EXPORT_REFUSED:
		/* Its owner withdrew it: ours to announce now. */
		return !conflict && established ? BIRD_EXPORT_ON : BIRD_EXPORT_REFUSED;
	}
	return now;
}

const char *bird_export_name(enum bird_export export)
{
	switch (export) {
	case BIRD_EXPORT_HELD:
		return "held";
	case BIRD_EXPORT_ON:
		return "on";
	case BIRD_EXPORT_REFUSED:
		return "refused";
	}
	return "?";
}
