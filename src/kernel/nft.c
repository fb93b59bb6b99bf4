/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: the agent's nftables table (family inet, name KERN_NFT_TABLE).
 *
 * The table is the only nftables object the agent owns, and it owns all of
 * it: nothing outside the table is ever read for changing or written.
 *
 *   chain postrouting    nat    hook postrouting  priority srcnat (100)
 *       ip saddr SUBNET ip daddr EXCEPT counter accept   (per --masquerade-except)
 *       ip saddr SUBNET ip daddr != CLUSTER counter masquerade fully-random
 *   chain forward        filter hook forward      priority filter (0), policy accept
 *       iifname BRIDGE ip daddr CLUSTER counter accept
 *       oifname BRIDGE ip saddr CLUSTER counter accept
 *   chain raw_prerouting filter hook prerouting   priority raw (-300)
 *       ip saddr CLUSTER ip daddr CLUSTER counter notrack
 *       ip daddr VTEP udp dport VXLAN_PORT counter notrack     (with a VTEP)
 *   chain raw_output     filter hook output       priority raw (-300)
 *       ip saddr CLUSTER ip daddr CLUSTER counter notrack
 *       ip saddr VTEP udp dport VXLAN_PORT counter notrack     (with a VTEP)
 *       ip saddr NODE udp sport WG_PORT counter notrack        (with WireGuard)
 * (and in raw_prerouting: ip daddr NODE udp dport WG_PORT counter notrack)
 *
 * A dual-stack node (an IPv6 subnet in the spec) has the same rules for
 * IPv6 after the IPv4 ones of each chain: "ip6 saddr SUBNET6 ip6 daddr !=
 * CLUSTER6 counter masquerade fully-random" (NAT66; none with
 * --masquerade6 off, for routed global prefixes), the two forward accepts
 * and the notrack of CLUSTER6 to CLUSTER6 in both raw chains. Without an
 * IPv6 subnet the table has no IPv6 rule at all (--ipv6 off).
 *
 * Cluster-internal flows are never tracked (about 10% of single-stream
 * throughput), and an untracked packet never reaches the nat hooks, so
 * namespace-to-namespace traffic between nodes keeps its source address by
 * construction. Flows that leave the cluster are tracked and masqueraded,
 * with fully random source ports: with the default (the original port
 * when free, else the next one) many parallel connections from different
 * namespaces race for the same port, and all but one lose their first
 * packet at conntrack insertion (flannel #1004; Kubernetes' kube-proxy
 * masquerades fully-random for the same reason).
 * Over VXLAN a cluster flow is carried between the nodes' addresses, so
 * its outer packets (to and from this node's VTEP on the VXLAN port) are
 * left untracked too: tracked, they cost 6% of single-stream throughput
 * (bench_datapath.sh, --no-nft). A host firewall has to accept them by
 * port, as it must anyway for their first packet, not by "ct state".
 *
 * Invariants:
 *   - The table is only ever written as a whole, in one nfnetlink batch
 *     (add table; delete table; add table, chains, rules). The kernel
 *     applies a batch all or nothing, so no packet sees a half-built table
 *     and a failed apply leaves the previous table in place.
 *   - nft_apply is idempotent: it reads the table back (table, chains,
 *     rules, expression by expression) and sends nothing when it already is
 *     what the spec asks for. Anything else in the table (a flushed chain, a
 *     rule added by hand, a set, a dormant flag) counts as drift.
 *   - Two sockets: one for requests and dumps (blocking, strictly
 *     request/answer) and one subscribed to NFNLGRP_NFTABLES for events.
 *     Events caused by our own request socket carry its port id and are
 *     ignored, so a repair does not trigger another repair. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netlink.h>

#include <event2/event.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "nsagent/log.h"
#include "nsagent/xalloc.h"
#include "nft.h"

#define NFT_FAMILY NFPROTO_INET
#define NFT_BUF_SIZE (64 * 1024)
#define NFT_TABLE_COMMENT "owned by nsagent; changes are reverted"
/* Upper bound on what a dump of our table may hold before we stop reading
 * it in detail: anything this large is drift anyway. */
#define NFT_MAX_OBJECTS 256
#define NFT_DUMP_RETRIES 5
/* Events read per wakeup before yielding to the rest of the loop. */
#define NFT_EVENT_BURST 64
#define NFT_RECV_TIMEOUT_SEC 5

struct kern_nft {
	struct mnl_socket *cmd;
	uint32_t cmd_portid;
	uint32_t seq;
	struct mnl_socket *mon; /* NULL for the one-shot handle of nft_remove */
	struct event *mon_event;
	void (*on_change)(void *arg);
	void *arg;
	char buf[NFT_BUF_SIZE];	  /* answers and events */
	char batch[NFT_BUF_SIZE]; /* outgoing batch */
};

struct nft_chain_def {
	const char *name;
	const char *type;
	uint32_t hook;
	int32_t prio;
};

enum nft_chain_id {
	NFT_CHAIN_POSTROUTING,
	NFT_CHAIN_FORWARD,
	NFT_CHAIN_RAW_PREROUTING,
	NFT_CHAIN_RAW_OUTPUT,
	NFT_CHAIN_COUNT,
};

static const struct nft_chain_def nft_chains[NFT_CHAIN_COUNT] = {
    [NFT_CHAIN_POSTROUTING] = {"postrouting", "nat", NF_INET_POST_ROUTING, NF_IP_PRI_NAT_SRC},
    [NFT_CHAIN_FORWARD] = {"forward", "filter", NF_INET_FORWARD, NF_IP_PRI_FILTER},
    [NFT_CHAIN_RAW_PREROUTING] = {"raw_prerouting", "filter", NF_INET_PRE_ROUTING, NF_IP_PRI_RAW},
    [NFT_CHAIN_RAW_OUTPUT] = {"raw_output", "filter", NF_INET_LOCAL_OUT, NF_IP_PRI_RAW},
};

/* Both families' rules, VXLAN's and WireGuard's, and the exemptions. */
#define NFT_MAX_RULES (16 + KERN_MAX_MASQUERADE_EXCEPT)

/* The whole desired table as libnftnl objects; built once per apply and
 * used both to compare with the kernel and to send. */
struct nft_desired {
	struct nftnl_table *table;
	struct nftnl_chain *chains[NFT_CHAIN_COUNT];
	struct nftnl_rule *rules[NFT_MAX_RULES];
	const char *rule_what[NFT_MAX_RULES];
	unsigned n_rules;
};

/* What a dump of the kernel's table returned. */
struct nft_actual {
	struct nftnl_table *table; /* NULL: no such table */
	struct nftnl_chain **chains;
	unsigned n_chains;
	struct nftnl_rule **rules;
	unsigned n_rules;
	bool overflow;
};

static void nft_set_error(struct kern_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void nft_set_error(struct kern_error *err, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

static void *nft_check_alloc(void *p)
{
	if (p == NULL)
		fatal("out of memory (libnftnl)");
	return p;
}

/* libnftnl's destructors dereference their argument (1.2.4): not NULL-safe. */
static void nft_table_free(struct nftnl_table *t)
{
	if (t != NULL)
		nftnl_table_free(t);
}

static void nft_chain_free(struct nftnl_chain *c)
{
	if (c != NULL)
		nftnl_chain_free(c);
}

static void nft_rule_free(struct nftnl_rule *r)
{
	if (r != NULL)
		nftnl_rule_free(r);
}

/* ---- building the desired table ---------------------------------------- */

static void nft_add_expr(struct nftnl_rule *rule, struct nftnl_expr *expr)
{
	nftnl_rule_add_expr(rule, expr);
}

static struct nftnl_expr *nft_expr(const char *name)
{
	return nft_check_alloc(nftnl_expr_alloc(name));
}

static void nft_meta_load(struct nftnl_rule *rule, uint32_t key)
{
	struct nftnl_expr *e = nft_expr("meta");

	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
	nft_add_expr(rule, e);
}

static void nft_cmp(struct nftnl_rule *rule, uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *e = nft_expr("cmp");

	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
	nft_add_expr(rule, e);
}

/* How one address family is matched: "meta nfproto ipv4" (or ipv6)
 * first, since in an inet table "ip saddr" is only meaningful once the
 * packet is known to be of that family (nft adds the same dependency),
 * then addresses at these offsets of the network header. */
struct nft_family {
	uint8_t nfproto;
	uint32_t saddr_offset, daddr_offset;
	uint32_t addr_size; /* 4 or 16 */
};

static const struct nft_family nft_ipv4 = {NFPROTO_IPV4, 12, 16, 4};
static const struct nft_family nft_ipv6 = {NFPROTO_IPV6, 8, 24, 16};

/* A prefix as nft compares it: network-order bytes (addr_size of them). */
struct nft_net {
	uint8_t bytes[16];
	uint8_t len;
};

static struct nft_net nft_net4(const struct prefix *prefix)
{
	struct nft_net net = {.len = prefix->len};
	uint32_t be = htonl(prefix->addr);

	memcpy(net.bytes, &be, sizeof(be));
	return net;
}

static struct nft_net nft_net6(const struct prefix6 *prefix)
{
	struct nft_net net = {.len = prefix->len};

	memcpy(net.bytes, &prefix->addr, sizeof(prefix->addr));
	return net;
}

static void nft_match_family(struct nftnl_rule *rule, const struct nft_family *family)
{
	nft_meta_load(rule, NFT_META_NFPROTO);
	nft_cmp(rule, NFT_CMP_EQ, &family->nfproto, sizeof(family->nfproto));
}

static void nft_match_ifname(struct nftnl_rule *rule, uint32_t key, const char *name)
{
	char padded[IFNAMSIZ] = {0};

	/* Zero-padded to IFNAMSIZ as the kernel compares it; snprintf rather
	 * than strncpy, which -O3 (Release) flags as stringop-truncation. */
	snprintf(padded, sizeof(padded), "%s", name);
	nft_meta_load(rule, key);
	nft_cmp(rule, NFT_CMP_EQ, padded, sizeof(padded));
}

/* ip/ip6 saddr/daddr [!=] prefix, encoded as nft itself encodes it so
 * that `nft list` prints "ip saddr 172.16.0.0/24": a byte-aligned prefix
 * loads only its bytes; any other length loads the address and masks it. */
static void nft_match_prefix(struct nftnl_rule *rule, const struct nft_family *family,
			     uint32_t offset, const struct nft_net *net, uint32_t op)
{
	uint32_t len = net->len % 8 == 0 ? net->len / 8u : family->addr_size;
	struct nftnl_expr *e = nft_expr("payload");

	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_NETWORK_HEADER);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	nft_add_expr(rule, e);

	if (net->len % 8 != 0) {
		uint8_t mask[16] = {0}, zero[16] = {0};

		for (unsigned bit = 0; bit < net->len; bit++)
			mask[bit / 8] |= (uint8_t)(0x80u >> (bit % 8));
		e = nft_expr("bitwise");
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, family->addr_size);
		nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, family->addr_size);
		nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, zero, family->addr_size);
		nft_add_expr(rule, e);
	}
	nft_cmp(rule, op, net->bytes, len);
}

/* meta l4proto udp udp dport PORT, as nft encodes it. */
/* udp dport PORT (offset 2 of the UDP header), or sport (offset 0). */
static void nft_match_udp_port(struct nftnl_rule *rule, uint32_t offset, uint16_t port)
{
	uint8_t proto = IPPROTO_UDP;
	uint16_t be = htons(port);
	struct nftnl_expr *e;

	nft_meta_load(rule, NFT_META_L4PROTO);
	nft_cmp(rule, NFT_CMP_EQ, &proto, sizeof(proto));
	e = nft_expr("payload");
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_TRANSPORT_HEADER);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, sizeof(be));
	nft_add_expr(rule, e);
	nft_cmp(rule, NFT_CMP_EQ, &be, sizeof(be));
}

static void nft_tail(struct nftnl_rule *rule, const char *verdict_expr)
{
	nft_add_expr(rule, nft_expr("counter"));
	nft_add_expr(rule, nft_expr(verdict_expr));
}

static void nft_accept(struct nftnl_rule *rule)
{
	struct nftnl_expr *e;

	nft_add_expr(rule, nft_expr("counter"));
	e = nft_expr("immediate");
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, NF_ACCEPT);
	nft_add_expr(rule, e);
}

static struct nftnl_rule *nft_new_rule(struct nft_desired *d, enum nft_chain_id chain,
				       const char *what)
{
	struct nftnl_rule *rule = nft_check_alloc(nftnl_rule_alloc());
	struct nftnl_udata_buf *udata =
	    nft_check_alloc(nftnl_udata_buf_alloc(NFTNL_UDATA_COMMENT_MAXLEN + 8));

	if (d->n_rules >= NFT_MAX_RULES)
		fatal("nft: too many rules in the desired table");
	nftnl_rule_set_u32(rule, NFTNL_RULE_FAMILY, NFT_FAMILY);
	nftnl_rule_set_str(rule, NFTNL_RULE_TABLE, KERN_NFT_TABLE);
	nftnl_rule_set_str(rule, NFTNL_RULE_CHAIN, nft_chains[chain].name);
	/* A comment an operator sees in `nft list`; userdata is opaque to the
	 * kernel and is not part of the comparison. */
	nftnl_udata_put_strz(udata, NFTNL_UDATA_RULE_COMMENT, what);
	nftnl_rule_set_data(rule, NFTNL_RULE_USERDATA, nftnl_udata_buf_data(udata),
			    nftnl_udata_buf_len(udata));
	nftnl_udata_buf_free(udata);
	d->rules[d->n_rules] = rule;
	d->rule_what[d->n_rules] = what;
	d->n_rules++;
	return rule;
}

static void nft_desired_free(struct nft_desired *d)
{
	nft_table_free(d->table);
	for (unsigned i = 0; i < NFT_CHAIN_COUNT; i++)
		nft_chain_free(d->chains[i]);
	for (unsigned i = 0; i < d->n_rules; i++)
		nft_rule_free(d->rules[i]);
	memset(d, 0, sizeof(*d));
}

/* One family's rules, each with its comment (what[], kept by pointer for
 * messages, so static strings). */
struct nft_family_rules {
	const struct nft_family *family;
	struct nft_net subnet, cluster;
	bool masquerade;     /* the postrouting rule, else none */
	const char *what[4]; /* masquerade, bridge to cluster, cluster to bridge, notrack */
	/* Destinations exempt from the masquerade, accepted before it. */
	const struct nft_net *except;
	unsigned n_except;
};

static void nft_family_build(struct nft_desired *d, const char *bridge,
			     const struct nft_family_rules *f)
{
	const struct nft_family *fam = f->family;
	struct nftnl_expr *masq;
	struct nftnl_rule *r;

	/* An accept in a NAT chain ends that hook's NAT for the flow: these
	 * keep their source address. */
	for (unsigned i = 0; f->masquerade && i < f->n_except; i++) {
		r = nft_new_rule(d, NFT_CHAIN_POSTROUTING,
				 "nsagent: not masqueraded (--masquerade-except)");
		nft_match_family(r, fam);
		nft_match_prefix(r, fam, fam->saddr_offset, &f->subnet, NFT_CMP_EQ);
		nft_match_prefix(r, fam, fam->daddr_offset, &f->except[i], NFT_CMP_EQ);
		nft_accept(r);
	}
	if (f->masquerade) {
		r = nft_new_rule(d, NFT_CHAIN_POSTROUTING, f->what[0]);
		nft_match_family(r, fam);
		nft_match_prefix(r, fam, fam->saddr_offset, &f->subnet, NFT_CMP_EQ);
		nft_match_prefix(r, fam, fam->daddr_offset, &f->cluster, NFT_CMP_NEQ);
		nft_add_expr(r, nft_expr("counter"));
		masq = nft_expr("masq");
		nftnl_expr_set_u32(masq, NFTNL_EXPR_MASQ_FLAGS, NF_NAT_RANGE_PROTO_RANDOM_FULLY);
		nft_add_expr(r, masq);
	}

	r = nft_new_rule(d, NFT_CHAIN_FORWARD, f->what[1]);
	nft_match_ifname(r, NFT_META_IIFNAME, bridge);
	nft_match_family(r, fam);
	nft_match_prefix(r, fam, fam->daddr_offset, &f->cluster, NFT_CMP_EQ);
	nft_accept(r);

	r = nft_new_rule(d, NFT_CHAIN_FORWARD, f->what[2]);
	nft_match_ifname(r, NFT_META_OIFNAME, bridge);
	nft_match_family(r, fam);
	nft_match_prefix(r, fam, fam->saddr_offset, &f->cluster, NFT_CMP_EQ);
	nft_accept(r);

	/* The same in both raw chains. */
	static const enum nft_chain_id raw[] = {NFT_CHAIN_RAW_PREROUTING, NFT_CHAIN_RAW_OUTPUT};

	for (size_t i = 0; i < sizeof(raw) / sizeof(raw[0]); i++) {
		r = nft_new_rule(d, raw[i], f->what[3]);
		nft_match_family(r, fam);
		nft_match_prefix(r, fam, fam->saddr_offset, &f->cluster, NFT_CMP_EQ);
		nft_match_prefix(r, fam, fam->daddr_offset, &f->cluster, NFT_CMP_EQ);
		nft_tail(r, "notrack");
	}
}

/* UDP of this node's address (v4, else v6; neither: no rule) to port,
 * not tracked: to it in raw prerouting (daddr, dport), from it in raw
 * output (saddr; sport when out_sport, else dport: a VXLAN sender's source
 * port is a flow hash, a WireGuard device sends from its own port). */
static void notrack_node_udp(struct nft_desired *d, uint32_t v4, const struct in6_addr *v6,
			     uint16_t port, bool out_sport, const char *const what[2])
{
	static const enum nft_chain_id chains[2] = {NFT_CHAIN_RAW_PREROUTING, NFT_CHAIN_RAW_OUTPUT};
	const bool ipv6 = !v4 && !addr6_is_zero(v6);
	const struct nft_family *fam = ipv6 ? &nft_ipv6 : &nft_ipv4;
	const struct nft_net addr = ipv6 ? nft_net6(&(struct prefix6){.addr = *v6, .len = 128})
					 : nft_net4(&(struct prefix){.addr = v4, .len = 32});

	for (unsigned i = 0; (v4 || ipv6) && i < 2; i++) {
		struct nftnl_rule *r = nft_new_rule(d, chains[i], what[i]);

		nft_match_family(r, fam);
		nft_match_prefix(r, fam, i == 0 ? fam->daddr_offset : fam->saddr_offset, &addr,
				 NFT_CMP_EQ);
		nft_match_udp_port(r, i == 1 && out_sport ? 0 : 2, port);
		nft_tail(r, "notrack");
	}
}

static void nft_desired_build(const struct nft_table_spec *spec, struct nft_desired *d)
{
	struct nftnl_udata_buf *udata;

	memset(d, 0, sizeof(*d));
	d->table = nft_check_alloc(nftnl_table_alloc());
	nftnl_table_set_u32(d->table, NFTNL_TABLE_FAMILY, NFT_FAMILY);
	nftnl_table_set_str(d->table, NFTNL_TABLE_NAME, KERN_NFT_TABLE);
	nftnl_table_set_u32(d->table, NFTNL_TABLE_FLAGS, 0);
	udata = nft_check_alloc(nftnl_udata_buf_alloc(NFTNL_UDATA_COMMENT_MAXLEN + 8));
	nftnl_udata_put_strz(udata, NFTNL_UDATA_TABLE_COMMENT, NFT_TABLE_COMMENT);
	nftnl_table_set_data(d->table, NFTNL_TABLE_USERDATA, nftnl_udata_buf_data(udata),
			     nftnl_udata_buf_len(udata));
	nftnl_udata_buf_free(udata);

	for (unsigned i = 0; i < NFT_CHAIN_COUNT; i++) {
		struct nftnl_chain *c = nft_check_alloc(nftnl_chain_alloc());

		nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFT_FAMILY);
		nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, KERN_NFT_TABLE);
		nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, nft_chains[i].name);
		nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, nft_chains[i].type);
		nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, nft_chains[i].hook);
		nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, nft_chains[i].prio);
		nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
		d->chains[i] = c;
	}

	struct nft_net except[KERN_MAX_MASQUERADE_EXCEPT];

	for (unsigned i = 0; i < spec->n_masquerade_except; i++)
		except[i] = nft_net4(&spec->masquerade_except[i]);
	struct nft_family_rules v4 = {
	    .family = &nft_ipv4,
	    .subnet = nft_net4(&spec->subnet),
	    .cluster = nft_net4(&spec->cluster),
	    .masquerade = true,
	    .what = {"nsagent: masquerade namespaces leaving the cluster",
		     "nsagent: bridge to cluster", "nsagent: cluster to bridge",
		     "nsagent: cluster-internal, not tracked"},
	    .except = except,
	    .n_except = spec->n_masquerade_except,
	};
	nft_family_build(d, spec->bridge, &v4);

	/* VXLAN goes to this node's VTEP in prerouting (daddr) and from it
	 * in output (saddr); after each raw chain's IPv4 rule, as ever. The
	 * VTEP is of the underlay's family. */
	notrack_node_udp(d, spec->vtep, &spec->vtep6, spec->vxlan_port, false,
			 (const char *[]){"nsagent: VXLAN to this node, not tracked",
					  "nsagent: VXLAN from this node, not tracked"});
	/* WireGuard's UDP, like VXLAN's: to this node's port in prerouting,
	 * from it in output (peers may listen on other ports). The address
	 * keeps a namespace's own WireGuard to the outside tracked, and so
	 * masqueraded. */
	notrack_node_udp(d, spec->wg_addr, &spec->wg_addr6, spec->wg_port, true,
			 (const char *[]){"nsagent: WireGuard to this node, not tracked",
					  "nsagent: WireGuard from this node, not tracked"});
	if (!spec->subnet6_set)
		return;
	struct nft_family_rules v6 = {
	    .family = &nft_ipv6,
	    .subnet = nft_net6(&spec->subnet6),
	    .cluster = nft_net6(&spec->cluster6),
	    .masquerade = spec->masquerade6,
	    .what = {"nsagent: masquerade namespaces leaving the cluster (IPv6)",
		     "nsagent: bridge to cluster (IPv6)", "nsagent: cluster to bridge (IPv6)",
		     "nsagent: cluster-internal, not tracked (IPv6)"},
	};
	nft_family_build(d, spec->bridge, &v6);
}

/* ---- netlink plumbing --------------------------------------------------- */

static int nft_cmd_open(struct kern_nft *nft, struct kern_error *err)
{
	struct timeval timeout = {.tv_sec = NFT_RECV_TIMEOUT_SEC};
	int one = 1;

	nft->cmd = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (nft->cmd == NULL) {
		nft_set_error(err, "cannot open nfnetlink socket: %s", strerror(errno));
		return -errno;
	}
	if (mnl_socket_bind(nft->cmd, 0, MNL_SOCKET_AUTOPID) < 0) {
		nft_set_error(err, "cannot bind nfnetlink socket: %s", strerror(errno));
		return -errno;
	}
	nft->cmd_portid = mnl_socket_get_portid(nft->cmd);
	/* Best effort: the kernel's extended ack text, when it has one. */
	mnl_socket_setsockopt(nft->cmd, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nft->cmd, NETLINK_CAP_ACK, &one, sizeof(one));
	/* The kernel always answers; the timeout only keeps a bug from
	 * freezing the daemon's loop forever. */
	setsockopt(mnl_socket_get_fd(nft->cmd), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
	nft->seq = (uint32_t)time(NULL);
	return 0;
}

/* Drops anything left from an earlier request that ended early (an
 * interrupted dump), so that answers are never mismatched. */
static void nft_drain(struct kern_nft *nft)
{
	while (recv(mnl_socket_get_fd(nft->cmd), nft->buf, sizeof(nft->buf), MSG_DONTWAIT) > 0)
		;
}

/* One request, answered by a dump or an ack. Returns 0 or -errno; -EINTR
 * when the dump was interrupted by a concurrent change (retry). */
static int nft_request(struct kern_nft *nft, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	uint32_t seq = nlh->nlmsg_seq;
	int ret;

	nft_drain(nft);
	if (mnl_socket_sendto(nft->cmd, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nft->cmd, nft->buf, sizeof(nft->buf));

		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		ret = mnl_cb_run(nft->buf, n, seq, nft->cmd_portid, cb, data);
		if (ret < 0)
			return -errno;
		if (ret == MNL_CB_STOP)
			return 0;
	}
}

/* ---- reading the kernel's table ----------------------------------------- */

static int nft_table_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nft_actual *a = data;
	struct nftnl_table *t = nft_check_alloc(nftnl_table_alloc());

	if (nftnl_table_nlmsg_parse(nlh, t) < 0) {
		nft_table_free(t);
		return MNL_CB_ERROR;
	}
	nft_table_free(a->table);
	a->table = t;
	return MNL_CB_OK;
}

static bool nft_in_our_table(const char *table)
{
	return table != NULL && strcmp(table, KERN_NFT_TABLE) == 0;
}

static int nft_chain_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nft_actual *a = data;
	struct nftnl_chain *c = nft_check_alloc(nftnl_chain_alloc());

	if (nftnl_chain_nlmsg_parse(nlh, c) < 0) {
		nft_chain_free(c);
		return MNL_CB_ERROR;
	}
	if (!nft_in_our_table(nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE)) ||
	    a->n_chains >= NFT_MAX_OBJECTS) {
		if (nft_in_our_table(nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE)))
			a->overflow = true;
		nft_chain_free(c);
		return MNL_CB_OK;
	}
	a->chains = xreallocarray(a->chains, a->n_chains + 1, sizeof(*a->chains));
	a->chains[a->n_chains++] = c;
	return MNL_CB_OK;
}

static int nft_rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nft_actual *a = data;
	struct nftnl_rule *r = nft_check_alloc(nftnl_rule_alloc());

	if (nftnl_rule_nlmsg_parse(nlh, r) < 0) {
		nft_rule_free(r);
		return MNL_CB_ERROR;
	}
	if (!nft_in_our_table(nftnl_rule_get_str(r, NFTNL_RULE_TABLE)) ||
	    a->n_rules >= NFT_MAX_OBJECTS) {
		if (nft_in_our_table(nftnl_rule_get_str(r, NFTNL_RULE_TABLE)))
			a->overflow = true;
		nft_rule_free(r);
		return MNL_CB_OK;
	}
	a->rules = xreallocarray(a->rules, a->n_rules + 1, sizeof(*a->rules));
	a->rules[a->n_rules++] = r;
	return MNL_CB_OK;
}

static void nft_actual_free(struct nft_actual *a)
{
	nft_table_free(a->table);
	for (unsigned i = 0; i < a->n_chains; i++)
		nft_chain_free(a->chains[i]);
	free(a->chains);
	for (unsigned i = 0; i < a->n_rules; i++)
		nft_rule_free(a->rules[i]);
	free(a->rules);
	memset(a, 0, sizeof(*a));
}

static int nft_read_once(struct kern_nft *nft, struct nft_actual *a)
{
	struct nftnl_table *t = nft_check_alloc(nftnl_table_alloc());
	struct nftnl_rule *r = nft_check_alloc(nftnl_rule_alloc());
	struct nlmsghdr *nlh;
	int ret;

	nftnl_table_set_str(t, NFTNL_TABLE_NAME, KERN_NFT_TABLE);
	nlh = nftnl_nlmsg_build_hdr(nft->buf, NFT_MSG_GETTABLE, NFT_FAMILY, NLM_F_ACK, ++nft->seq);
	nftnl_table_nlmsg_build_payload(nlh, t);
	ret = nft_request(nft, nlh, nft_table_cb, a);
	if (ret == -ENOENT) {
		ret = 0; /* no table: nothing more to read */
		goto out;
	}
	if (ret < 0)
		goto out;

	/* The kernel does not filter chain dumps by table; nft_chain_cb does. */
	nlh = nftnl_nlmsg_build_hdr(nft->buf, NFT_MSG_GETCHAIN, NFT_FAMILY, NLM_F_DUMP, ++nft->seq);
	ret = nft_request(nft, nlh, nft_chain_cb, a);
	if (ret < 0)
		goto out;

	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, KERN_NFT_TABLE);
	nlh = nftnl_nlmsg_build_hdr(nft->buf, NFT_MSG_GETRULE, NFT_FAMILY, NLM_F_DUMP, ++nft->seq);
	nftnl_rule_nlmsg_build_payload(nlh, r);
	ret = nft_request(nft, nlh, nft_rule_cb, a);
out:
	nft_table_free(t);
	nft_rule_free(r);
	return ret;
}

/* Reads table, chains and rules. Three separate requests can straddle a
 * concurrent change; any such change also produces an event, after which
 * the owner applies again, so a torn read is corrected by the next one. */
static int nft_read(struct kern_nft *nft, struct nft_actual *a)
{
	int ret = -EINTR;

	for (int i = 0; i < NFT_DUMP_RETRIES && ret == -EINTR; i++) {
		nft_actual_free(a);
		ret = nft_read_once(nft, a);
	}
	return ret;
}

/* ---- comparing ---------------------------------------------------------- */

static bool nft_data_equal(const void *a, uint32_t alen, const void *b, uint32_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static bool nft_table_matches(const struct nftnl_table *want, const struct nftnl_table *have)
{
	const void *wu, *hu;
	uint32_t wlen = 0, hlen = 0;

	/* A dormant (or otherwise flagged) table is not ours as built. */
	if (nftnl_table_get_u32(have, NFTNL_TABLE_FLAGS) != 0)
		return false;
	/* use counts chains, sets, objects and flowtables: catches a set or
	 * counter object added by hand, which no chain dump would show. */
	if (nftnl_table_is_set(have, NFTNL_TABLE_USE) &&
	    nftnl_table_get_u32(have, NFTNL_TABLE_USE) != NFT_CHAIN_COUNT)
		return false;
	wu = nftnl_table_get_data(want, NFTNL_TABLE_USERDATA, &wlen);
	hu = nftnl_table_get_data(have, NFTNL_TABLE_USERDATA, &hlen);
	if (hu == NULL)
		hlen = 0;
	return nft_data_equal(wu, wlen, hu, hlen);
}

static bool nft_chain_matches(const struct nftnl_chain *want, const struct nftnl_chain *have)
{
	const char *type = nftnl_chain_get_str(have, NFTNL_CHAIN_TYPE);

	return nftnl_chain_is_set(have, NFTNL_CHAIN_HOOKNUM) && type != NULL &&
	       strcmp(type, nftnl_chain_get_str(want, NFTNL_CHAIN_TYPE)) == 0 &&
	       nftnl_chain_get_u32(have, NFTNL_CHAIN_HOOKNUM) ==
		   nftnl_chain_get_u32(want, NFTNL_CHAIN_HOOKNUM) &&
	       nftnl_chain_get_s32(have, NFTNL_CHAIN_PRIO) ==
		   nftnl_chain_get_s32(want, NFTNL_CHAIN_PRIO) &&
	       nftnl_chain_get_u32(have, NFTNL_CHAIN_POLICY) ==
		   nftnl_chain_get_u32(want, NFTNL_CHAIN_POLICY) &&
	       !nftnl_chain_is_set(have, NFTNL_CHAIN_DEV) &&
	       (nftnl_chain_get_u32(have, NFTNL_CHAIN_FLAGS) & ~NFT_CHAIN_BASE) == 0;
}

/* Expression by expression, in order, by libnftnl's own rendering of each
 * (the text `nft --debug=netlink` shows). Counter values naturally differ
 * and are not compared; that a counter is there is. */
static bool nft_rule_matches(const struct nftnl_rule *want, const struct nftnl_rule *have)
{
	struct nftnl_expr_iter *wi = nft_check_alloc(nftnl_expr_iter_create(want));
	struct nftnl_expr_iter *hi = nft_check_alloc(nftnl_expr_iter_create(have));
	char wtext[256], htext[256];
	bool equal = true;

	for (;;) {
		struct nftnl_expr *we = nftnl_expr_iter_next(wi);
		struct nftnl_expr *he = nftnl_expr_iter_next(hi);
		const char *name;

		if (we == NULL || he == NULL) {
			equal = we == he;
			break;
		}
		name = nftnl_expr_get_str(we, NFTNL_EXPR_NAME);
		if (strcmp(name, nftnl_expr_get_str(he, NFTNL_EXPR_NAME)) != 0) {
			equal = false;
			break;
		}
		if (strcmp(name, "counter") == 0)
			continue;
		nftnl_expr_snprintf(wtext, sizeof(wtext), we, NFTNL_OUTPUT_DEFAULT, 0);
		nftnl_expr_snprintf(htext, sizeof(htext), he, NFTNL_OUTPUT_DEFAULT, 0);
		if (strcmp(wtext, htext) != 0) {
			equal = false;
			break;
		}
	}
	nftnl_expr_iter_destroy(wi);
	nftnl_expr_iter_destroy(hi);
	return equal;
}

/* Returns NULL when the kernel holds exactly the desired table, otherwise a
 * short reason for the log. */
static const char *nft_diff(const struct nft_desired *d, const struct nft_actual *a)
{
	if (a->table == NULL)
		return "table missing";
	if (!nft_table_matches(d->table, a->table))
		return "table flags, comment or contents differ";
	if (a->overflow || a->n_chains != NFT_CHAIN_COUNT)
		return "chain count differs";
	if (a->n_rules != d->n_rules)
		return "rule count differs";
	for (unsigned i = 0; i < NFT_CHAIN_COUNT; i++) {
		const struct nftnl_chain *have = NULL;

		for (unsigned j = 0; j < a->n_chains && have == NULL; j++)
			if (strcmp(nftnl_chain_get_str(a->chains[j], NFTNL_CHAIN_NAME),
				   nft_chains[i].name) == 0)
				have = a->chains[j];
		if (have == NULL)
			return "a chain is missing";
		if (!nft_chain_matches(d->chains[i], have))
			return "a chain's type, hook, priority or policy differs";
	}
	/* The dump lists a chain's rules in order; compare the i-th wanted rule
	 * of each chain with the i-th dumped rule of that chain. */
	for (unsigned i = 0; i < d->n_rules; i++) {
		const char *chain = nftnl_rule_get_str(d->rules[i], NFTNL_RULE_CHAIN);
		unsigned want_pos = 0, have_pos = 0;
		const struct nftnl_rule *have = NULL;

		for (unsigned j = 0; j < i; j++)
			if (strcmp(nftnl_rule_get_str(d->rules[j], NFTNL_RULE_CHAIN), chain) == 0)
				want_pos++;
		for (unsigned j = 0; j < a->n_rules && have == NULL; j++) {
			if (strcmp(nftnl_rule_get_str(a->rules[j], NFTNL_RULE_CHAIN), chain) != 0)
				continue;
			if (have_pos++ == want_pos)
				have = a->rules[j];
		}
		if (have == NULL)
			return "a rule is missing";
		if (!nft_rule_matches(d->rules[i], have))
			return "a rule differs";
	}
	return NULL;
}

/* ---- writing ------------------------------------------------------------ */

#define NFT_BATCH_MAX 32

struct nft_batch {
	struct mnl_nlmsg_batch *mnl;
	uint32_t first_seq;
	unsigned n;			 /* messages that expect an ack */
	const char *what[NFT_BATCH_MAX]; /* by seq - first_seq */
	char whatbuf[NFT_BATCH_MAX][96];
};

static struct nlmsghdr *nft_batch_msg(struct kern_nft *nft, struct nft_batch *b, uint16_t type,
				      uint16_t flags, const char *what)
{
	struct nlmsghdr *nlh;

	if (b->n >= NFT_BATCH_MAX)
		fatal("nft: batch too long");
	nlh = nftnl_nlmsg_build_hdr(mnl_nlmsg_batch_current(b->mnl), type, NFT_FAMILY,
				    flags | NLM_F_ACK, ++nft->seq);
	if (b->n == 0)
		b->first_seq = nft->seq;
	b->what[b->n++] = what;
	return nlh;
}

/* Sends the batch and collects one ack per message. The kernel reports
 * every message's outcome only after processing the whole batch, so once
 * the first answer is here, the rest is already queued. */
static int nft_batch_send(struct kern_nft *nft, struct nft_batch *b, const char **failed,
			  char *detail, size_t detail_size)
{
	unsigned acked = 0;
	int first_error = 0;

	*failed = NULL;
	detail[0] = '\0';
	nft_drain(nft);
	if (mnl_socket_sendto(nft->cmd, mnl_nlmsg_batch_head(b->mnl),
			      mnl_nlmsg_batch_size(b->mnl)) < 0)
		return -errno;
	while (acked < b->n) {
		ssize_t n = recv(mnl_socket_get_fd(nft->cmd), nft->buf, sizeof(nft->buf),
				 first_error != 0 ? MSG_DONTWAIT : 0);
		const struct nlmsghdr *nlh;
		int len;

		if (n < 0) {
			if (first_error != 0)
				break;
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		}
		len = (int)n;
		for (nlh = (const struct nlmsghdr *)nft->buf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			const struct nlmsgerr *e;

			if (nlh->nlmsg_type != NLMSG_ERROR)
				continue;
			e = mnl_nlmsg_get_payload(nlh);
			acked++;
			if (e->error == 0 || first_error != 0)
				continue;
			first_error = e->error;
			if (nlh->nlmsg_seq >= b->first_seq && nlh->nlmsg_seq - b->first_seq < b->n)
				*failed = b->what[nlh->nlmsg_seq - b->first_seq];
			if (nlh->nlmsg_flags & NLM_F_ACK_TLVS) {
				size_t off = sizeof(*e);
				const struct nlattr *attr;

				if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
					off += e->msg.nlmsg_len - sizeof(e->msg);
				mnl_attr_for_each(attr, nlh, off)
				{
					if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
					    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
						snprintf(detail, detail_size, " (%s)",
							 mnl_attr_get_str(attr));
				}
			}
		}
	}
	return first_error;
}

static int nft_replace(struct kern_nft *nft, const struct nft_desired *d, struct kern_error *err)
{
	struct nft_batch b = {0};
	struct nftnl_table *bare = nft_check_alloc(nftnl_table_alloc());
	struct nlmsghdr *nlh;
	const char *failed;
	char detail[200];
	int ret;

	b.mnl = mnl_nlmsg_batch_start(nft->batch, sizeof(nft->batch));
	nftnl_batch_begin(mnl_nlmsg_batch_current(b.mnl), ++nft->seq);
	mnl_nlmsg_batch_next(b.mnl);

	/* Add-then-delete makes the delete valid whether or not the table
	 * exists; the bare table carries no flags so that adding it never
	 * modifies an existing table. */
	nftnl_table_set_u32(bare, NFTNL_TABLE_FAMILY, NFT_FAMILY);
	nftnl_table_set_str(bare, NFTNL_TABLE_NAME, KERN_NFT_TABLE);
	nlh = nft_batch_msg(nft, &b, NFT_MSG_NEWTABLE, NLM_F_CREATE, "add table");
	nftnl_table_nlmsg_build_payload(nlh, bare);
	mnl_nlmsg_batch_next(b.mnl);
	nlh = nft_batch_msg(nft, &b, NFT_MSG_DELTABLE, 0, "delete table");
	nftnl_table_nlmsg_build_payload(nlh, bare);
	mnl_nlmsg_batch_next(b.mnl);

	nlh = nft_batch_msg(nft, &b, NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_EXCL, "add table");
	nftnl_table_nlmsg_build_payload(nlh, d->table);
	mnl_nlmsg_batch_next(b.mnl);
	for (unsigned i = 0; i < NFT_CHAIN_COUNT; i++) {
		snprintf(b.whatbuf[b.n], sizeof(b.whatbuf[0]), "add chain %s", nft_chains[i].name);
		nlh = nft_batch_msg(nft, &b, NFT_MSG_NEWCHAIN, NLM_F_CREATE | NLM_F_EXCL,
				    b.whatbuf[b.n]);
		nftnl_chain_nlmsg_build_payload(nlh, d->chains[i]);
		mnl_nlmsg_batch_next(b.mnl);
	}
	for (unsigned i = 0; i < d->n_rules; i++) {
		snprintf(b.whatbuf[b.n], sizeof(b.whatbuf[0]), "add rule \"%s\" to chain %s",
			 d->rule_what[i], nftnl_rule_get_str(d->rules[i], NFTNL_RULE_CHAIN));
		nlh = nft_batch_msg(nft, &b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND,
				    b.whatbuf[b.n]);
		nftnl_rule_nlmsg_build_payload(nlh, d->rules[i]);
		if (!mnl_nlmsg_batch_next(b.mnl))
			fatal("nft: batch buffer too small");
	}
	nftnl_batch_end(mnl_nlmsg_batch_current(b.mnl), ++nft->seq);
	mnl_nlmsg_batch_next(b.mnl);

	ret = nft_batch_send(nft, &b, &failed, detail, sizeof(detail));
	if (ret < 0)
		nft_set_error(err, "cannot replace nftables table inet %s%s%s: %s%s",
			      KERN_NFT_TABLE, failed ? ": " : "", failed ? failed : "",
			      strerror(-ret), detail);
	mnl_nlmsg_batch_stop(b.mnl);
	nft_table_free(bare);
	return ret;
}

/* ---- events ------------------------------------------------------------- */

static int nft_attr_table_cb(const struct nlattr *attr, void *data)
{
	const char **table = data;

	/* Attribute 1 names the table in every nf_tables object message
	 * (NFTA_TABLE_NAME, NFTA_CHAIN_TABLE, NFTA_RULE_TABLE, NFTA_SET_TABLE,
	 * NFTA_SET_ELEM_LIST_TABLE, NFTA_OBJ_TABLE, NFTA_FLOWTABLE_TABLE). */
	if (mnl_attr_get_type(attr) == 1 && mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
		*table = mnl_attr_get_str(attr);
	return MNL_CB_OK;
}

static bool nft_event_is_ours(const struct kern_nft *nft, const struct nlmsghdr *nlh)
{
	const struct nfgenmsg *gen;
	const char *table = NULL;

	if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_NFTABLES)
		return false;
	if (NFNL_MSG_TYPE(nlh->nlmsg_type) == NFT_MSG_NEWGEN)
		return false;
	/* Our own writes: the notification carries the requester's port. */
	if (nlh->nlmsg_pid == nft->cmd_portid)
		return false;
	if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*gen)))
		return false;
	gen = mnl_nlmsg_get_payload(nlh);
	if (gen->nfgen_family != NFT_FAMILY)
		return false;
	if (mnl_attr_parse(nlh, sizeof(*gen), nft_attr_table_cb, &table) < 0)
		return false;
	return nft_in_our_table(table);
}

static void nft_on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct kern_nft *nft = arg;
	bool touched = false;

	(void)fd;
	(void)what;
	for (int i = 0; i < NFT_EVENT_BURST; i++) {
		ssize_t n = mnl_socket_recvfrom(nft->mon, nft->buf, sizeof(nft->buf));
		const struct nlmsghdr *nlh;
		int len;

		if (n < 0) {
			if (errno == ENOBUFS) {
				/* Events were lost: assume the worst. */
				log_warn("nft: event queue overflowed; re-checking table");
				touched = true;
				continue;
			}
			if (errno != EAGAIN && errno != EINTR)
				log_warn("nft: reading events: %s", strerror(errno));
			break;
		}
		len = (int)n;
		for (nlh = (const struct nlmsghdr *)nft->buf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len))
			if (nft_event_is_ours(nft, nlh))
				touched = true;
	}
	if (touched && nft->on_change != NULL)
		nft->on_change(nft->arg);
}

/* ---- public ------------------------------------------------------------- */

static void nft_free_handle(struct kern_nft *nft)
{
	if (nft == NULL)
		return;
	if (nft->mon_event != NULL)
		event_free(nft->mon_event);
	if (nft->mon != NULL)
		mnl_socket_close(nft->mon);
	if (nft->cmd != NULL)
		mnl_socket_close(nft->cmd);
	free(nft);
}

int nft_open(struct event_base *base, void (*on_change)(void *arg), void *arg,
	     struct kern_nft **out, struct kern_error *err)
{
	struct kern_nft *nft = xcalloc(1, sizeof(*nft));
	int group = NFNLGRP_NFTABLES;
	int rcvbuf = 1 << 20;
	int ret;

	*out = NULL;
	nft->on_change = on_change;
	nft->arg = arg;
	ret = nft_cmd_open(nft, err);
	if (ret < 0)
		goto out;

	nft->mon = mnl_socket_open2(NETLINK_NETFILTER, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (nft->mon == NULL || mnl_socket_bind(nft->mon, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    mnl_socket_setsockopt(nft->mon, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) < 0) {
		ret = -errno;
		nft_set_error(err, "cannot subscribe to nftables events: %s", strerror(errno));
		goto out;
	}
	/* Room for the burst of a big foreign transaction (flush ruleset). */
	setsockopt(mnl_socket_get_fd(nft->mon), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	nft->mon_event = event_new(base, mnl_socket_get_fd(nft->mon), EV_READ | EV_PERSIST,
				   nft_on_readable, nft);
	if (nft->mon_event == NULL || event_add(nft->mon_event, NULL) < 0) {
		ret = -ENOMEM;
		nft_set_error(err, "cannot watch nftables events");
		goto out;
	}
	*out = nft;
	nft = NULL;
	ret = 0;
out:
	nft_free_handle(nft);
	return ret;
}

void nft_close(struct kern_nft *nft)
{
	nft_free_handle(nft);
}

static int nft_spec_check(const struct nft_table_spec *spec, struct kern_error *err)
{
	if (spec->subnet.len == 0 || spec->subnet.len > 32 || spec->cluster.len == 0 ||
	    spec->cluster.len > 32 || spec->bridge[0] == '\0' ||
	    memchr(spec->bridge, '\0', sizeof(spec->bridge)) == NULL) {
		nft_set_error(err, "invalid nftables table spec (subnet, cluster or bridge)");
		return -EINVAL;
	}
	if (spec->subnet6_set &&
	    (spec->subnet6.len == 0 || !addr6_prefix_valid(&spec->subnet6) ||
	     spec->cluster6.len == 0 || !addr6_prefix_valid(&spec->cluster6))) {
		nft_set_error(err, "invalid nftables table spec (IPv6 subnet or cluster)");
		return -EINVAL;
	}
	if (spec->n_masquerade_except > KERN_MAX_MASQUERADE_EXCEPT) {
		nft_set_error(err,
			      "invalid nftables table spec (%u ranges exempt from masquerade, "
			      "at most %d)",
			      spec->n_masquerade_except, KERN_MAX_MASQUERADE_EXCEPT);
		return -EINVAL;
	}
	return 0;
}

int nft_apply(struct kern_nft *nft, const struct nft_table_spec *spec, bool *changed,
	      struct kern_error *err)
{
	struct nft_desired desired;
	struct nft_actual actual = {0};
	const char *reason;
	int ret;

	*changed = false;
	ret = nft_spec_check(spec, err);
	if (ret < 0)
		return ret;
	nft_desired_build(spec, &desired);

	ret = nft_read(nft, &actual);
	if (ret < 0) {
		nft_set_error(err, "cannot read nftables table inet %s: %s", KERN_NFT_TABLE,
			      strerror(-ret));
		goto out;
	}
	reason = nft_diff(&desired, &actual);
	if (reason == NULL)
		goto out;

	ret = nft_replace(nft, &desired, err);
	if (ret < 0)
		goto out;
	log_info("nft: table inet %s replaced (%s)", KERN_NFT_TABLE, reason);
	*changed = true;
out:
	nft_actual_free(&actual);
	nft_desired_free(&desired);
	return ret;
}

int nft_remove(struct kern_nft **held, struct kern_error *err)
{
	struct kern_nft *nft = xcalloc(1, sizeof(*nft));
	struct nftnl_table *t = nft_check_alloc(nftnl_table_alloc());
	struct nft_batch b = {0};
	struct nlmsghdr *nlh;
	const char *failed;
	char detail[200];
	int ret;

	ret = nft_cmd_open(nft, err);
	if (ret < 0)
		goto out;
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFT_FAMILY);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, KERN_NFT_TABLE);
	b.mnl = mnl_nlmsg_batch_start(nft->batch, sizeof(nft->batch));
	nftnl_batch_begin(mnl_nlmsg_batch_current(b.mnl), ++nft->seq);
	mnl_nlmsg_batch_next(b.mnl);
	nlh = nft_batch_msg(nft, &b, NFT_MSG_DELTABLE, 0, "delete table");
	nftnl_table_nlmsg_build_payload(nlh, t);
	mnl_nlmsg_batch_next(b.mnl);
	nftnl_batch_end(mnl_nlmsg_batch_current(b.mnl), ++nft->seq);
	mnl_nlmsg_batch_next(b.mnl);

	ret = nft_batch_send(nft, &b, &failed, detail, sizeof(detail));
	mnl_nlmsg_batch_stop(b.mnl);
	if (ret == -ENOENT)
		ret = 0;
	if (ret < 0)
		nft_set_error(err, "cannot delete nftables table inet %s: %s%s", KERN_NFT_TABLE,
			      strerror(-ret), detail);
out:
	nft_table_free(t);
	if (held && ret == 0) {
		*held = nft;
		return 0;
	}
	nft_free_handle(nft);
	return ret;
}
