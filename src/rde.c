/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: the route decision engine: the one home of every route decision.
 *
 * Before it, these decisions were spread over the session code, the daemon
 * and the kernel layer, and a reader could not tell where one lived (issue
 * 13). Here, and only here: which advertised subnets are accepted (rib.c
 * says why one is not), which of them become kernel routes, how long a
 * lost peer's routes stay stale, which data path reaches each peer
 * (backend.c, with the kernel's path to its node IP asked through the
 * lookup the daemon passes in), what MTU the namespaces get and whether a
 * VXLAN device is wanted, in which order all that is applied, and which
 * subnet this node holds (claim.c: the claim at start and after a lost
 * conflict).
 *
 * Input: session events (up, down, advert, end of adverts, hint, initial
 * peers answered), each with now_ms from the caller. Output: one plan,
 * pushed through ops.plan from rde_flush() when it differs from the last
 * one; and per peer one view {subnet, routed, stale, mode} that status,
 * metrics and probes all read. No clock, no event loop, no kernel: the
 * module is deterministic in its inputs.
 *
 * Invariants: a node's routes come only from its own session's advert
 * (or from the kernel at start, until their owner returns); the plan's
 * MTU and device always match its routes; a plan turning VXLAN on puts
 * the data path before the routes, one turning it off after them; the
 * node table holds only nodes the session knows (up, with a subnet, or
 * with a hint), so a poisoned peer list cannot grow it past max-peers.
 *
 * Dual-stack: a peer's IPv6 /64 is judged like its subnet (rib.c) and
 * reached by a path derived from its IPv4 one (choose_path6): on the
 * same link, via its advertised link-local address on our underlay link
 * (Linux takes no IPv4 next hop for an IPv6 route; BGP unnumbered does
 * the same); else, or when either end's link has no IPv6, inside the
 * VXLAN tunnel when the backend has one; else not at all. A peer without
 * IPv6 (older, or --ipv6 off) simply has no /64: nothing to count.
 *
 * WireGuard (issue 19): a peer's traffic is encrypted when the backend
 * or --encrypt says so for it (backend_encrypts: every peer, or only
 * those behind a gateway) and it advertised a good key and port (judged
 * here, store_wg: a key that is not 32 bytes, one another live node
 * already has, a port of 0 or over 65535 are each refused and counted).
 * A peer that should be encrypted but advertises no key is reached the
 * unencrypted way, with a warning: the cluster key already authenticates
 * it, and the alternative, no route, would cut the cluster in two during
 * a rolling upgrade. Its routes are mode wireguard, both families, and
 * carry its key and port: the route set is the device's peer set. A node
 * of either family can be: an IPv6 node's routes go via the next hop its
 * address derives (nodeaddr_wg_next_hop), and a node whose next hop a
 * live WireGuard peer already has gets no route (wg_next_hop_taken):
 * the one next hop would name two peers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nsagent/backend.h"
#include "nsagent/claim.h"
#include "nsagent/log.h"
#include "nsagent/rde.h"
#include "nsagent/rib.h"
#include "nsagent/state.h"
#include "nsagent/xalloc.h"

/* Per advert, at most this many rejected entries are logged one by one. */
#define RDE_REJECT_LOG_MAX 8

/* How a node's /64 is reached (choose_path6). */
enum rde_path6 {
	RDE_PATH6_UNKNOWN, /* no IPv6 advert (yet) */
	RDE_PATH6_DIRECT,  /* via its link-local address on our underlay link */
	RDE_PATH6_VXLAN,   /* via the EUI-64 of its VTEP MAC, in the tunnel */
	RDE_PATH6_WG,	   /* through WireGuard, as its IPv4 */
	RDE_PATH6_NONE,	   /* no usable path: no IPv6 route */
};

/* What the rde knows of one remote node. */
struct rde_node {
	uint8_t node_id[NODE_ID_LEN];
	bool up;
	struct nodeaddr node_ip;
	/* Why its subnets get no route although accepted (choose_path: our
	 * underlays cannot reach each other), NULL when they do. */
	const char *no_path;
	/* Its last advert as received (bounded), kept so that entries refused
	 * because another node held them can be reconsidered when it leaves. */
	struct prefix advert[RIB_MAX_SUBNETS_PER_NODE];
	unsigned n_advert;
	bool advert_explicit;
	bool deferred;
	struct prefix subnet; /* the first accepted entry of its advert */
	bool subnet_known;
	struct nodeaddr vtep; /* zero: it advertised none */
	uint8_t vtep_mac[KERN_MAC_LEN];
	enum kern_mode mode;
	bool mode_known;
	/* Dual-stack: its last IPv6 advert (bounded), the /64 accepted from
	 * it, its link-local next hop and the IPv6 path as last logged. */
	struct prefix6 advert6[RIB_MAX_SUBNETS_PER_NODE];
	unsigned n_advert6;
	struct prefix6 subnet6;
	bool subnet6_known;
	struct in6_addr link_local6;
	bool link_local6_set;
	enum rde_path6 path6;
	struct in6_addr gateway6; /* of that path */
	struct prefix hint;	  /* from a relayed peer list: claim input only */
	bool hint_known;
	bool stale;
	char name[64]; /* for logs, as the session names it */
	char why[160]; /* why mode is what it is */
	uint8_t wg_key[KERN_WG_KEY_LEN];
	uint16_t wg_port;
	bool wg_known; /* it advertised a key and port we took */
};

/* The data-path part of a plan. */
struct rde_datapath {
	bool vxlan; /* some route crosses VXLAN */
	bool wg;    /* some route crosses WireGuard */
	unsigned mtu;
	struct nodeaddr vtep;
};

struct rde {
	struct rde_config config;
	struct rde_ops ops;
	void *arg;
	struct rib *rib;
	struct prefix *local;	/* host prefixes + our subnet, for the RIB */
	struct prefix6 *local6; /* host IPv6 prefixes + our /64 */
	struct rde_node *nodes;
	unsigned n_nodes;
	unsigned cap_nodes;
	struct prefix subnet;
	bool subnet_set;
	bool subnet_changed; /* since the last plan */
	bool claim_pending;
	uint64_t claim_deadline;
	uint64_t next_expiry;	   /* 0 = nothing stale */
	struct kern_route *routes; /* as last planned */
	unsigned n_routes;
	struct rde_datapath datapath; /* as last planned */
	struct rde_stats stats;
};

/* ---- nodes ---- */

static struct rde_node *node_find(const struct rde *rde, const uint8_t *id)
{
	for (unsigned i = 0; i < rde->n_nodes; i++)
		if (node_id_cmp(rde->nodes[i].node_id, id) == 0)
			return &rde->nodes[i];
	return NULL;
}

static struct rde_node *node_get(struct rde *rde, const uint8_t *id)
{
	struct rde_node *node = node_find(rde, id);
	char buf[NODE_ID_STRLEN];

	if (node)
		return node;
	if (rde->n_nodes == rde->cap_nodes) {
		rde->cap_nodes = rde->cap_nodes ? 2 * rde->cap_nodes : 16;
		rde->nodes = xrealloc(rde->nodes, rde->cap_nodes * sizeof(*rde->nodes));
	}
	node = &rde->nodes[rde->n_nodes++];
	memset(node, 0, sizeof(*node));
	memcpy(node->node_id, id, NODE_ID_LEN);
	snprintf(node->name, sizeof(node->name), "%.8s", node_id_format(id, buf));
	return node;
}

/* A node nobody speaks for any more (no session, no subnet, no hint). */
static void node_release(struct rde *rde, struct rde_node *node)
{
	if (node->up || node->subnet_known || node->hint_known)
		return;
	*node = rde->nodes[--rde->n_nodes];
}

/* ---- routes and the data path ---- */

static struct rde_datapath datapath_for(const struct rde *rde, const struct kern_route *routes,
					unsigned n)
{
	enum cfg_backend backend = rde->config.backend;
	struct rde_datapath dp = {0};

	for (unsigned i = 0; i < n; i++) {
		dp.vxlan = dp.vxlan || routes[i].mode == KERN_MODE_VXLAN;
		dp.wg = dp.wg || routes[i].mode == KERN_MODE_WIREGUARD;
	}
	dp.mtu = backend_namespace_mtu(rde->config.underlay_mtu, backend, dp.vxlan,
				       rde->config.node_ip.family);
	/* Where every peer is encrypted the namespaces have WireGuard's MTU
	 * from the start, not from the first peer on. */
	if (dp.wg || backend == CFG_BACKEND_WIREGUARD ||
	    (rde->config.wireguard && rde->config.encrypt == CFG_ENCRYPT_ALL)) {
		unsigned wg_mtu = backend_wg_mtu(rde->config.underlay_mtu,
						 rde->config.node_ip.family == AF_INET6);

		if (wg_mtu < dp.mtu)
			dp.mtu = wg_mtu;
	}
	/* With --backend auto the device exists only while some peer is
	 * reached over it, so an all-on-link cluster carries no idle tunnel. */
	if (backend == CFG_BACKEND_VXLAN || (backend == CFG_BACKEND_AUTO && dp.vxlan))
		dp.vtep = rde->config.node_ip;
	return dp;
}

static bool node_in_rib(const struct rde *rde, const uint8_t *id)
{
	unsigned n;
	const struct rib_entry *entries = rib_entries(rde->rib, &n);

	for (unsigned i = 0; i < n; i++)
		if (node_id_cmp(entries[i].node_id, id) == 0)
			return true;
	return false;
}

/* Stale entries past the restart time go; so does what the rde knew of a
 * node whose session is down and whose last route went with them, so
 * that nodes which never return do not pile up. */
static void expiry_update(struct rde *rde, uint64_t now_ms)
{
	rib_expire(rde->rib, now_ms, rde->config.restart_time_ms, &rde->next_expiry);
	for (unsigned i = rde->n_nodes; i-- > 0;) {
		struct rde_node *node = &rde->nodes[i];

		if (node->up || !node->stale || node_in_rib(rde, node->node_id))
			continue;
		node->subnet_known = false;
		node->subnet6_known = false;
		node->stale = false;
		node_release(rde, node);
	}
}

/* The RIB refuses adverts over this host's networks and our own subnet. */
static void update_rib_local(struct rde *rde)
{
	unsigned n = rde->config.n_local_prefixes;

	if (rde->subnet_set)
		rde->local[n++] = rde->subnet;
	rib_set_local(rde->rib, rde->local, n);
	n = rde->config.n_local_prefixes6;
	if (rde_subnet6(rde, &rde->local6[n]))
		n++;
	rib_set_local6(rde->rib, rde->local6, n);
}

/* The node's data path (choose_path) onto its IPv4 entries. */
static void set_path(struct rde *rde, const struct rde_node *node)
{
	rib_set_path(rde->rib, node->node_id, node->mode, &node->vtep, node->vtep_mac);
	rib_set_routed(rde->rib, node->node_id, !node->no_path);
}

static enum kern_mode path6_mode(enum rde_path6 path)
{
	return path == RDE_PATH6_DIRECT ? KERN_MODE_DIRECT
	       : path == RDE_PATH6_WG	? KERN_MODE_WIREGUARD
					: KERN_MODE_VXLAN;
}

/* The node's IPv6 path (choose_path6) onto its IPv6 entries. */
static void set_path6(struct rde *rde, const struct rde_node *node)
{
	if (node->path6 == RDE_PATH6_UNKNOWN)
		return;
	rib_set_path6(rde->rib, node->node_id, node->path6 != RDE_PATH6_NONE,
		      path6_mode(node->path6), &node->gateway6,
		      node->path6 == RDE_PATH6_WG ? KERN_WG_IFNAME : rde->config.underlay_ifname,
		      &node->vtep, node->vtep_mac);
}

/* Entry k of the node's stored advert as text, for a log line: formatted
 * only when a line is written (an ordinary advert's accepted entries log
 * nothing). */
static const char *entry_text(const struct rde_node *node, bool ipv6, unsigned k, char *buf)
{
	return ipv6 ? addr6_format_prefix(&node->advert6[k], buf)
		    : addr_format_prefix(&node->advert[k], buf);
}

/* Counts and logs the rejected entries of an advert (report), or says
 * which deferred ones are accepted now; returns the index of the first
 * accepted entry, or -1. */
static int judge_advert(struct rde *rde, struct rde_node *node, bool ipv6,
			const enum rib_verdict *verdicts, unsigned n, bool report,
			bool was_deferred)
{
	uint64_t *rejected = ipv6 ? rde->stats.rejected6 : rde->stats.rejected;
	unsigned logged = 0;
	int first = -1;
	char buf[PREFIX6_STRLEN], length_want[16] = "";

	for (unsigned k = 0; k < n; k++) {
		enum rib_verdict v = verdicts[k];

		if (v == RIB_ACCEPTED) {
			if (first < 0)
				first = (int)k;
			if (!report && was_deferred)
				log_info("peer %s: subnet %s accepted now that it is free",
					 node->name, entry_text(node, ipv6, k, buf));
			continue;
		}
		/* Held by another node or by us: may become free later. */
		if (v == RIB_REJECT_OWNED || v == RIB_REJECT_LOCAL)
			node->deferred = true;
		if (!report)
			continue;
		rejected[v]++;
		if (v == RIB_REJECT_LENGTH)
			snprintf(length_want, sizeof(length_want), " (/%u)",
				 ipv6 ? (unsigned)ADDR6_NODE_SUBNET_LEN : rde->config.subnet_len);
		if (logged++ < RDE_REJECT_LOG_MAX)
			log_warn("peer %s: advertised %s %s rejected: %s%s", node->name,
				 ipv6 ? "IPv6 subnet" : "subnet", entry_text(node, ipv6, k, buf),
				 rib_verdict_name(v), v == RIB_REJECT_LENGTH ? length_want : "");
	}
	if (report && logged > RDE_REJECT_LOG_MAX)
		log_warn("peer %s: %u more advertised %s rejected", node->name,
			 logged - RDE_REJECT_LOG_MAX, ipv6 ? "IPv6 subnets" : "subnets");
	return first;
}

/* Feeds the node's stored advert to the RIB. With report, every rejected
 * entry is counted and logged; a reconsideration only says what it now
 * accepts. */
static void apply_advert(struct rde *rde, struct rde_node *node, bool report)
{
	enum rib_verdict verdicts[RIB_MAX_SUBNETS_PER_NODE];
	bool was_deferred = node->deferred;
	int first;

	rib_advert_checked(rde->rib, node->node_id, node->node_ip, node->advert, node->n_advert,
			   node->advert_explicit, verdicts);
	/* Entries new to the RIB (a reconsideration) take the node's data path. */
	if (node->mode_known)
		set_path(rde, node);
	node->deferred = false;
	first = judge_advert(rde, node, false, verdicts, node->n_advert, report, was_deferred);
	node->subnet_known = first >= 0;
	if (first >= 0)
		node->subnet = node->advert[first];
	if (!rde->config.ipv6)
		return;
	rib_advert6_checked(rde->rib, node->node_id, node->node_ip,
			    node->link_local6_set ? &node->link_local6 : NULL, node->advert6,
			    node->n_advert6, verdicts);
	first = judge_advert(rde, node, true, verdicts, node->n_advert6, report, was_deferred);
	node->subnet6_known = first >= 0;
	if (first >= 0)
		node->subnet6 = node->advert6[first];
	/* Entries new to the RIB (a reconsideration) take the node's path. */
	set_path6(rde, node);
}

/* Entries refused because another node (or we) held them are tried again
 * whenever the RIB may have changed, so that the loser of a claim
 * conflict seen in the wrong order still gets its route once the winner
 * has moved. */
static void reconsider_deferred(struct rde *rde)
{
	for (unsigned i = 0; i < rde->n_nodes; i++)
		if (rde->nodes[i].deferred && rde->nodes[i].up)
			apply_advert(rde, &rde->nodes[i], false);
}

/* ---- the subnet claim ---- */

static unsigned collect_taken(const struct rde *rde, struct prefix **out)
{
	unsigned n_entries, n = 0;
	const struct rib_entry *entries = rib_entries(rde->rib, &n_entries);
	struct prefix *taken = xcalloc(n_entries + 2 * rde->n_nodes + 1, sizeof(*taken));

	/* IPv4 subnets only: an IPv6 entry's subnet field is empty (0/0),
	 * which would make every subnet look taken. */
	for (unsigned i = 0; i < n_entries; i++)
		if (!entries[i].ipv6)
			taken[n++] = entries[i].subnet;
	for (unsigned i = 0; i < rde->n_nodes; i++) {
		if (rde->nodes[i].subnet_known)
			taken[n++] = rde->nodes[i].subnet;
		if (rde->nodes[i].hint_known)
			taken[n++] = rde->nodes[i].hint;
	}
	*out = taken;
	return n;
}

static void set_subnet(struct rde *rde, const struct prefix *subnet, const char *why)
{
	char buf[PREFIX_STRLEN];

	rde->subnet = *subnet;
	rde->subnet_set = true;
	rde->subnet_changed = true;
	rde->claim_pending = false;
	update_rib_local(rde);
	log_info("node subnet %s (%s)", addr_format_prefix(subnet, buf), why);
	if (rde->config.state && !rde->config.subnet_explicit) {
		int ret = state_set_subnet(rde->config.state, subnet);

		/* persist_write logged the step; only a restart loses it. */
		if (ret < 0)
			log_error("cannot save subnet lease %s in %s: %s; a restart may claim "
				  "another subnet",
				  buf, rde->config.state->path, strerror(-ret));
	}
}

/* avoid: a subnet we must not keep (we lost it in a conflict), or NULL. */
static void claim_now(struct rde *rde, const struct prefix *avoid, const char *why)
{
	struct prefix *taken, chosen;
	const struct prefix *preferred = NULL;
	unsigned n = collect_taken(rde, &taken);
	int ret;

	if (avoid)
		taken[n++] = *avoid;
	else if (rde->config.lease_set)
		preferred = &rde->config.lease;
	ret = claim_pick(&rde->config.cluster, rde->config.subnet_len, rde->config.node_id,
			 preferred, taken, n, &chosen);
	free(taken);
	if (ret < 0) {
		char buf[PREFIX_STRLEN];

		log_error("cannot claim a /%u in cluster range %s: %s", rde->config.subnet_len,
			  addr_format_prefix(&rde->config.cluster, buf),
			  ret == -ENOSPC ? "every subnet is taken" : strerror(-ret));
		return;
	}
	set_subnet(rde, &chosen, why);
}

/* Another node's own advert overlaps our subnet. */
static void check_conflict(struct rde *rde, const struct rde_node *node,
			   const struct prefix *theirs, bool theirs_explicit)
{
	char ours_buf[PREFIX_STRLEN], theirs_buf[PREFIX_STRLEN];
	const char *name = node->name;
	struct prefix lost;

	if (!rde->subnet_set || !addr_prefix_overlaps(&rde->subnet, theirs))
		return;
	addr_format_prefix(&rde->subnet, ours_buf);
	addr_format_prefix(theirs, theirs_buf);
	switch (claim_resolve(rde->config.node_id, rde->config.subnet_explicit, node->node_id,
			      theirs_explicit)) {
	case CLAIM_BOTH_EXPLICIT:
		rde->stats.conflicts++;
		log_error(
		    "SUBNET CONFLICT: node %s is configured with subnet %s, which overlaps our "
		    "--subnet %s; no route to it is installed until one of the two "
		    "configurations is fixed",
		    name, theirs_buf, ours_buf);
		break;
	case CLAIM_KEEP:
		if (rde->config.subnet_explicit)
			log_error(
			    "SUBNET CONFLICT: node %s claims %s, which overlaps our --subnet %s; "
			    "it must claim another one",
			    name, theirs_buf, ours_buf);
		else
			log_warn("node %s claims %s, which overlaps our %s; we keep it (lower node "
				 "id), it will claim another one",
				 name, theirs_buf, ours_buf);
		break;
	case CLAIM_YIELD:
		log_warn("node %s holds %s%s, which overlaps our claimed %s; claiming another "
			 "subnet",
			 name, theirs_buf, theirs_explicit ? " (configured with --subnet)" : "",
			 ours_buf);
		lost = rde->subnet;
		claim_now(rde, &lost, "re-claimed after a conflict");
		break;
	}
}

/* ---- the data path of one peer ---- */

/* The mode for a peer whose advert just arrived; why gets the reason,
 * *onlink whether the peer's node address is on our link (as far as
 * --backend auto asked). peer_wg: it advertised a good WireGuard key. */
static enum kern_mode choose_mode(const struct rde *rde, const struct nodeaddr *node_ip,
				  bool peer_vtep, bool peer_wg, bool *onlink, char *why,
				  size_t why_size)
{
	enum cfg_backend backend = rde->config.backend;
	struct kern_error kerr = {{0}};
	struct kern_path path;
	char gw[NODEADDR_STRLEN];
	bool fallback = false;
	enum kern_mode mode;
	int len;

	memset(&path, 0, sizeof(path));
	*onlink = true;
	/* --encrypt routed needs the lookup too; it implies backend auto. */
	if (backend == CFG_BACKEND_AUTO && rde->config.path) {
		if (rde->config.path(rde->config.path_arg, node_ip, &path, &kerr) < 0) {
			*onlink = false;
			len = snprintf(why, why_size, "%s", kerr.message);
		} else if (!nodeaddr_is_zero(&path.gateway)) {
			*onlink = false;
			len = snprintf(why, why_size, "auto: behind gateway %s on %s",
				       nodeaddr_format(&path.gateway, gw), path.ifname);
		} else {
			len = snprintf(why, why_size, "auto: on-link on %s", path.ifname);
		}
	} else {
		len = snprintf(why, why_size, "--backend %s", backend_name(backend));
	}
	if (rde->config.wireguard && backend_encrypts(backend, rde->config.encrypt, *onlink)) {
		if (len >= 0 && (size_t)len < why_size)
			snprintf(why + len, why_size - (size_t)len, "%s%s",
				 rde->config.encrypt == CFG_ENCRYPT_ROUTED ? "; --encrypt routed"
									   : "",
				 peer_wg ? "; encrypted"
					 : "; it advertises no WireGuard key, so UNENCRYPTED");
		if (peer_wg)
			return KERN_MODE_WIREGUARD;
		len = (int)strlen(why);
	}
	mode = backend_choose(backend, *onlink, peer_vtep, &fallback);
	if (fallback && len >= 0 && (size_t)len < why_size)
		snprintf(why + len, why_size - (size_t)len, "; it advertises no VTEP, so direct");
	return mode;
}

/* Why a node gets no route at all, or NULL: an underlay of the other
 * family cannot be reached from ours (and nothing translates between
 * them; a VTEP, always of the node address's family, neither). */
static const char *underlay_problem(const struct rde *rde, const struct rde_node *node)
{
	sa_family_t ours = rde->config.node_ip.family, theirs = node->node_ip.family;

	if (ours && theirs && ours != theirs)
		return theirs == AF_INET6 ? "its node address is IPv6 and ours IPv4: the two "
					    "underlays cannot reach each other"
					  : "its node address is IPv4 and ours IPv6: the two "
					    "underlays cannot reach each other";
	return NULL;
}

/* Another WireGuard peer whose next hop over the device is node's, or
 * NULL. Both would be one next hop on nsa-wg (nodeaddr_wg_next_hop: two
 * IPv6 node addresses of different prefixes can fold to one), and a
 * route read back would name either: the peer that came first keeps it. */
static const struct rde_node *wg_next_hop_taken(const struct rde *rde, const struct rde_node *node)
{
	struct in6_addr next_hop;

	nodeaddr_wg_next_hop(&node->node_ip, &next_hop);
	for (unsigned i = 0; i < rde->n_nodes; i++) {
		const struct rde_node *other = &rde->nodes[i];

		if (other == node || !other->mode_known || other->mode != KERN_MODE_WIREGUARD ||
		    other->no_path || !(other->up || other->stale) ||
		    nodeaddr_equal(&other->node_ip, &node->node_ip))
			continue;
		if (nodeaddr_wg_next_hop_of(&other->node_ip, &next_hop))
			return other;
	}
	return NULL;
}

static const char wg_next_hop_collision[] =
    "its WireGuard next hop (derived from its node address) is another peer's: refused "
    "rather than misrouted";

/* The VTEP of an advert and the mode it leads to; logged when it changes. */
static void choose_path(struct rde *rde, struct rde_node *node, const struct rde_advert *advert)
{
	const char *no_path;
	enum kern_mode mode;
	char why[160] = "", a[NODEADDR_STRLEN];
	bool onlink;

	node->vtep = advert->vtep;
	memset(node->vtep_mac, 0, KERN_MAC_LEN);
	if (!nodeaddr_is_zero(&advert->vtep))
		memcpy(node->vtep_mac, advert->vtep_mac, KERN_MAC_LEN);
	mode = choose_mode(rde, &node->node_ip, !nodeaddr_is_zero(&advert->vtep), node->wg_known,
			   &onlink, why, sizeof(why));
	no_path = underlay_problem(rde, node);
	if (!no_path && mode == KERN_MODE_WIREGUARD) {
		const struct rde_node *holder = wg_next_hop_taken(rde, node);

		if (holder) {
			char b[NODEADDR_STRLEN], n6[ADDR6_STRLEN];
			struct in6_addr next_hop;

			nodeaddr_wg_next_hop(&node->node_ip, &next_hop);
			no_path = wg_next_hop_collision;
			if (no_path != node->no_path)
				log_error("peer %s: node address %s gives the WireGuard next hop "
					  "%s, which peer %s (node address %s) already has; no "
					  "route to it",
					  node->name, nodeaddr_format(&node->node_ip, a),
					  addr6_format(&next_hop, n6), holder->name,
					  nodeaddr_format(&holder->node_ip, b));
		}
	}
	if (no_path && no_path != node->no_path)
		log_warn("peer %s: no route to it: node address %s: %s%s%s%s", node->name,
			 nodeaddr_format(&node->node_ip, a), no_path, why[0] ? " (" : "", why,
			 why[0] ? ")" : "");
	else if (!no_path && (!node->mode_known || node->mode != mode || node->no_path ||
			      strcmp(node->why, why) != 0)) {
		if (strstr(why, "UNENCRYPTED"))
			log_warn("peer %s: mode %s (%s)", node->name, backend_mode_name(mode), why);
		else
			log_info("peer %s: mode %s%s%s%s", node->name, backend_mode_name(mode),
				 why[0] ? " (" : "", why, why[0] ? ")" : "");
	}
	snprintf(node->why, sizeof(node->why), "%s", why);
	node->no_path = no_path;
	node->mode = mode;
	node->mode_known = true;
	set_path(rde, node);
}

/* The IPv6 path to a node, from its IPv4 one: direct needs the node on
 * our link (IPv4 mode direct), its link-local address and IPv6 on our
 * underlay link; else the tunnel, when our backend has one and the node
 * a VTEP; else none. Logged once per change, per peer. */
static void choose_path6(struct rde *rde, struct rde_node *node)
{
	enum rde_path6 path = RDE_PATH6_VXLAN;
	struct in6_addr gateway = {0};
	char why[128] = "", a[ADDR6_STRLEN];

	if (!rde->config.ipv6 || !node->subnet6_known) {
		node->path6 = RDE_PATH6_UNKNOWN;
		return;
	}
	if (node->no_path) {
		/* choose_path said why, once for both families. */
		node->path6 = RDE_PATH6_NONE;
		set_path6(rde, node);
		return;
	}
	/* The tunnel carries both families: its /64 goes the way its subnet
	 * does, via the next hop that names the node on the device. */
	if (node->mode == KERN_MODE_WIREGUARD) {
		nodeaddr_wg_next_hop(&node->node_ip, &gateway);
		if (node->path6 != RDE_PATH6_WG)
			log_info("peer %s: IPv6 mode wireguard", node->name);
		node->path6 = RDE_PATH6_WG;
		node->gateway6 = gateway;
		set_path6(rde, node);
		return;
	}
	if (node->mode == KERN_MODE_DIRECT && node->node_ip.family == AF_INET6) {
		/* An IPv6 underlay: the /64 goes via the node address itself. */
		path = RDE_PATH6_DIRECT;
		gateway = node->node_ip.v6;
	} else if (node->mode == KERN_MODE_DIRECT) {
		if (node->link_local6_set && rde->config.underlay_ipv6) {
			path = RDE_PATH6_DIRECT;
			gateway = node->link_local6;
		} else if (!node->link_local6_set) {
			snprintf(why, sizeof(why), "it advertises no link-local address");
		} else {
			snprintf(why, sizeof(why), "our underlay link %s has no IPv6",
				 rde->config.underlay_ifname[0] ? rde->config.underlay_ifname
								: "?");
		}
	}
	if (path == RDE_PATH6_VXLAN) {
		if (!nodeaddr_is_zero(&node->vtep) && backend_has_vtep(rde->config.backend))
			addr6_link_local_from_mac(node->vtep_mac, &gateway);
		else
			path = RDE_PATH6_NONE;
	}
	if (path != node->path6) {
		if (path == RDE_PATH6_DIRECT)
			log_info("peer %s: IPv6 mode direct (via %s dev %s)", node->name,
				 addr6_format(&gateway, a), rde->config.underlay_ifname);
		else if (path == RDE_PATH6_VXLAN && why[0])
			log_info("peer %s: IPv6 mode vxlan, not direct as IPv4: %s", node->name,
				 why);
		else if (path == RDE_PATH6_VXLAN)
			log_info("peer %s: IPv6 mode vxlan", node->name);
		else
			log_warn("peer %s: no IPv6 route to its /64: %s, and %s", node->name,
				 why[0] ? why : "it is not on-link",
				 backend_has_vtep(rde->config.backend)
				     ? "it advertises no VTEP"
				     : "--backend direct has no VXLAN fallback");
	}
	node->path6 = path;
	node->gateway6 = gateway;
	set_path6(rde, node);
}

/* Peers refused for a WireGuard next hop another had: chosen again once
 * that other is gone (left, or its stale routes expired). */
static void reconsider_next_hops(struct rde *rde)
{
	for (unsigned i = 0; i < rde->n_nodes; i++) {
		struct rde_node *node = &rde->nodes[i];
		struct rde_advert a;

		if (node->no_path != wg_next_hop_collision || !node->up ||
		    wg_next_hop_taken(rde, node))
			continue;
		memset(&a, 0, sizeof(a));
		a.vtep = node->vtep;
		memcpy(a.vtep_mac, node->vtep_mac, KERN_MAC_LEN);
		choose_path(rde, node, &a);
		choose_path6(rde, node);
	}
}

/* ---- events ---- */

struct rde *rde_new(const struct rde_config *config, const struct rde_ops *ops, void *arg)
{
	struct rde *rde = xcalloc(1, sizeof(*rde));

	rde->config = *config;
	if (!rde->config.subnet_len)
		rde->config.subnet_len = 24;
	if (!rde->config.claim_wait_ms)
		rde->config.claim_wait_ms = RDE_DEFAULT_CLAIM_WAIT_MS;
	if (!rde->config.underlay_mtu)
		rde->config.underlay_mtu = BACKEND_DEFAULT_MTU;
	rde->local = xcalloc(config->n_local_prefixes + 1, sizeof(*rde->local));
	if (config->n_local_prefixes)
		memcpy(rde->local, config->local_prefixes,
		       config->n_local_prefixes * sizeof(*rde->local));
	rde->config.local_prefixes = rde->local;
	rde->local6 = xcalloc(config->n_local_prefixes6 + 1, sizeof(*rde->local6));
	if (config->n_local_prefixes6)
		memcpy(rde->local6, config->local_prefixes6,
		       config->n_local_prefixes6 * sizeof(*rde->local6));
	rde->config.local_prefixes6 = rde->local6;
	if (ops)
		rde->ops = *ops;
	rde->arg = arg;
	rde->rib = rib_new(&rde->config.cluster, rde->config.subnet_len);
	if (rde->config.ipv6)
		rib_set_cluster6(rde->rib, &rde->config.cluster6);
	update_rib_local(rde);
	rde->datapath = datapath_for(rde, NULL, 0);
	return rde;
}

void rde_free(struct rde *rde)
{
	if (!rde)
		return;
	rib_free(rde->rib);
	free(rde->local);
	free(rde->local6);
	free(rde->nodes);
	free(rde->routes);
	free(rde);
}

/* The node a route goes to, by its node IP (the route's gateway). */
static const struct rde_node *node_by_ip(const struct rde *rde, const struct nodeaddr *node_ip)
{
	for (unsigned i = 0; i < rde->n_nodes; i++)
		if (nodeaddr_equal(&rde->nodes[i].node_ip, node_ip) && rde->nodes[i].subnet_known)
			return &rde->nodes[i];
	return NULL;
}

/* The RIB's routes, less those over our own subnet and /64; wireguard
 * routes carry their peer's key and port (none when adopted and not
 * re-advertised yet: the device keeps that peer as it is). */
static unsigned own_routes(const struct rde *rde, struct kern_route **out)
{
	struct prefix6 subnet6;
	bool have6 = rde_subnet6(rde, &subnet6);
	unsigned n = rib_routes(rde->rib, rde->subnet_set ? &rde->subnet : NULL,
				have6 ? &subnet6 : NULL, out);

	for (unsigned i = 0; i < n; i++) {
		struct kern_route *r = &(*out)[i];
		const struct rde_node *node;

		if (r->mode != KERN_MODE_WIREGUARD)
			continue;
		node = node_by_ip(rde, &r->gateway);
		if (node && node->wg_known && node->mode == KERN_MODE_WIREGUARD) {
			memcpy(r->wg_key, node->wg_key, KERN_WG_KEY_LEN);
			r->wg_port = node->wg_port;
		}
	}
	return n;
}

void rde_adopt(struct rde *rde, const struct kern_route *routes, unsigned n, uint64_t now_ms)
{
	struct kern_route *wanted;
	unsigned planned;

	rib_adopt(rde->rib, routes, n, now_ms);
	expiry_update(rde, now_ms);
	/* Already in the kernel: the plan starts from them, so that the first
	 * real change is noticed and none is pushed for them alone. */
	planned = own_routes(rde, &wanted);
	free(rde->routes);
	rde->routes = wanted;
	rde->n_routes = planned;
	rde->datapath = datapath_for(rde, wanted, planned);
}

void rde_start(struct rde *rde, uint64_t now_ms, bool initial_peers)
{
	const struct rde_config *c = &rde->config;

	if (c->subnet_explicit) {
		set_subnet(rde, &c->subnet, "--subnet");
	} else if (c->lease_set && c->lease.len == c->subnet_len &&
		   addr_prefix_contains(&c->cluster, &c->lease)) {
		set_subnet(rde, &c->lease, "lease from the state dir");
	} else {
		rde->claim_pending = true;
		/* No one to ask: claim at the first tick. */
		rde->claim_deadline = now_ms + (initial_peers ? c->claim_wait_ms : 0);
	}
}

void rde_initial_answered(struct rde *rde, uint64_t now_ms)
{
	(void)now_ms;
	if (rde->claim_pending)
		claim_now(rde, NULL, "claimed from the cluster range");
}

void rde_session_up(struct rde *rde, const uint8_t node_id[NODE_ID_LEN], uint64_t now_ms)
{
	(void)now_ms;
	node_get(rde, node_id)->up = true;
}

void rde_session_down(struct rde *rde, const uint8_t node_id[NODE_ID_LEN], bool leave,
		      uint64_t now_ms)
{
	struct rde_node *node = node_find(rde, node_id);

	if (node)
		node->up = false;
	if (leave) {
		rib_withdraw(rde->rib, node_id);
		if (node) {
			node->subnet_known = false;
			node->subnet6_known = false;
			node->stale = false;
			node_release(rde, node);
		}
		reconsider_next_hops(rde);
		return;
	}
	rib_session_down(rde->rib, node_id, now_ms);
	if (node && node->subnet_known) {
		char buf[PREFIX_STRLEN];

		node->stale = true;
		log_info("peer %s: session lost, route to %s kept as stale for up to %u ms",
			 node->name, addr_format_prefix(&node->subnet, buf),
			 rde->config.restart_time_ms);
	}
	/* Last: it may release nodes, which moves them in the table. */
	expiry_update(rde, now_ms);
	reconsider_next_hops(rde);
}

/* Entries of one family the session dropped: counted under verdict v in
 * counts, and logged with why. */
static void count_dropped(const struct rde_node *node, uint64_t *counts, enum rib_verdict v,
			  unsigned n, const char *what, const char *why)
{
	if (!n)
		return;
	counts[v] += n;
	log_warn("peer %s: %u advertised %s rejected: %s (%s)", node->name, n, what,
		 rib_verdict_name(v), why);
}

/* An advert's entries the session could not even decode are counted and
 * logged here, with the others' verdicts (IPv6 ones only when dual-stack
 * is on: otherwise they mean nothing here). */
static void count_undecoded(struct rde *rde, const struct rde_node *node,
			    const struct rde_advert *advert)
{
	char over[32];

	snprintf(over, sizeof(over), "at most %d per node", RIB_MAX_SUBNETS_PER_NODE);
	count_dropped(node, rde->stats.rejected, RIB_REJECT_MALFORMED, advert->n_malformed,
		      "subnet(s)", "prefix length over 32");
	count_dropped(node, rde->stats.rejected, RIB_REJECT_TOO_MANY, advert->n_over, "subnet(s)",
		      over);
	if (!rde->config.ipv6)
		return;
	count_dropped(node, rde->stats.rejected6, RIB_REJECT_MALFORMED, advert->n_malformed6,
		      "IPv6 subnet(s)", "address not 16 bytes or prefix length over 128");
	count_dropped(node, rde->stats.rejected6, RIB_REJECT_TOO_MANY, advert->n_over6,
		      "IPv6 subnet(s)", over);
}

/* The advert's IPv6 part, stored for apply_advert (nothing with --ipv6
 * off: such a node takes no IPv6 routes). A next hop that is not
 * link-local cannot be one on a shared link: ignored, said once. */
static void store_advert6(struct rde *rde, struct rde_node *node, const struct rde_advert *advert)
{
	unsigned n = advert->n_subnets6;
	char a[ADDR6_STRLEN];
	bool ll = advert->link_local6_set;

	if (!rde->config.ipv6)
		return;
	if (n > RIB_MAX_SUBNETS_PER_NODE)
		n = RIB_MAX_SUBNETS_PER_NODE;
	node->n_advert6 = n;
	if (n)
		memcpy(node->advert6, advert->subnets6, n * sizeof(*node->advert6));
	if (ll && !addr6_is_link_local(&advert->link_local6)) {
		if (!node->link_local6_set || memcmp(&node->link_local6, &advert->link_local6,
						     sizeof(node->link_local6)) != 0)
			log_warn("peer %s: IPv6 next hop %s ignored: not a link-local address",
				 node->name, addr6_format(&advert->link_local6, a));
		ll = false;
	}
	node->link_local6_set = ll;
	memset(&node->link_local6, 0, sizeof(node->link_local6));
	if (ll)
		node->link_local6 = advert->link_local6;
}

const char *rde_wg_verdict_key(enum rde_wg_verdict verdict)
{
	static const char *const keys[RDE_WG_VERDICT_COUNT] = {
	    [RDE_WG_MALFORMED_KEY] = "malformed_key",
	    [RDE_WG_DUPLICATE_KEY] = "duplicate_key",
	    [RDE_WG_BAD_PORT] = "bad_port",
	};

	return (unsigned)verdict < RDE_WG_VERDICT_COUNT ? keys[verdict] : "?";
}

const char *rde_wg_verdict_name(enum rde_wg_verdict verdict)
{
	static const char *const names[RDE_WG_VERDICT_COUNT] = {
	    [RDE_WG_MALFORMED_KEY] = "a public key is 32 bytes",
	    [RDE_WG_DUPLICATE_KEY] = "another node already advertises that key",
	    [RDE_WG_BAD_PORT] = "the port must be from 1 to 65535",
	};

	return (unsigned)verdict < RDE_WG_VERDICT_COUNT ? names[verdict] : "?";
}

/* The advert's WireGuard key and port, judged: taken, or refused with a
 * count and a log line (the rest of the advert stands; the peer is then
 * reached as if it ran no WireGuard). */
static void store_wg(struct rde *rde, struct rde_node *node, const struct rde_advert *advert)
{
	enum rde_wg_verdict v = RDE_WG_VERDICT_COUNT;

	node->wg_known = false;
	if (!advert->wg_key_len && !advert->wg_port)
		return;
	if (advert->wg_key_len != KERN_WG_KEY_LEN)
		v = RDE_WG_MALFORMED_KEY;
	else if (advert->wg_port == 0 || advert->wg_port > 65535)
		v = RDE_WG_BAD_PORT;
	for (unsigned i = 0; v == RDE_WG_VERDICT_COUNT && i < rde->n_nodes; i++) {
		const struct rde_node *other = &rde->nodes[i];

		if (other != node && other->wg_known && (other->up || other->stale) &&
		    memcmp(other->wg_key, advert->wg_key, KERN_WG_KEY_LEN) == 0)
			v = RDE_WG_DUPLICATE_KEY;
	}
	if (v != RDE_WG_VERDICT_COUNT) {
		rde->stats.wg_rejected[v]++;
		log_warn("peer %s: advertised WireGuard key (%zu bytes) and port %u rejected: %s",
			 node->name, advert->wg_key_len, advert->wg_port, rde_wg_verdict_name(v));
		return;
	}
	memcpy(node->wg_key, advert->wg_key, KERN_WG_KEY_LEN);
	node->wg_port = (uint16_t)advert->wg_port;
	node->wg_known = true;
}

void rde_advert(struct rde *rde, const uint8_t node_id[NODE_ID_LEN], const char *name,
		const struct rde_advert *advert, uint64_t now_ms)
{
	struct rde_node *node = node_get(rde, node_id);
	unsigned n = advert->n_subnets;

	(void)now_ms;
	if (n > RIB_MAX_SUBNETS_PER_NODE)
		n = RIB_MAX_SUBNETS_PER_NODE;
	snprintf(node->name, sizeof(node->name), "%s", name);
	node->node_ip = advert->node_ip;
	node->n_advert = n;
	if (n)
		memcpy(node->advert, advert->subnets, n * sizeof(*node->advert));
	node->advert_explicit = advert->explicit_subnet;
	store_advert6(rde, node, advert);
	if (rde->config.wireguard)
		store_wg(rde, node, advert);
	count_undecoded(rde, node, advert);
	apply_advert(rde, node, true);
	node->stale = false;
	/* Overlaps with our own subnet are the claim protocol's business,
	 * between node subnets only: a /17 must not make us move. */
	for (unsigned i = 0; i < node->n_advert; i++) {
		const struct prefix *p = &node->advert[i];

		if (rib_check_shape(rde->rib, p) == RIB_ACCEPTED)
			check_conflict(rde, node, p, advert->explicit_subnet);
	}
	choose_path(rde, node, advert);
	choose_path6(rde, node);
}

void rde_end_of_adverts(struct rde *rde, const uint8_t node_id[NODE_ID_LEN], uint64_t now_ms)
{
	rib_end_of_adverts(rde->rib, node_id);
	expiry_update(rde, now_ms);
}

void rde_hint(struct rde *rde, const uint8_t node_id[NODE_ID_LEN], const struct prefix *hint,
	      uint64_t now_ms)
{
	struct rde_node *node;

	(void)now_ms;

	if (!hint) {
		node = node_find(rde, node_id);
		if (node) {
			node->hint_known = false;
			node_release(rde, node);
		}
		return;
	}
	/* A hint only steers our claim, and like an advert (src/rib.c) it is
	 * one node subnet: a shorter one (two /17s cover the cluster) would
	 * make every subnet look taken, a longer one would block a subnet
	 * nobody holds; both are ignored. */
	if (hint->len != rde->config.subnet_len)
		return;
	struct prefix masked = {hint->addr & addr_mask(hint->len), hint->len};

	if (!addr_prefix_contains(&rde->config.cluster, &masked))
		return;
	node = node_get(rde, node_id);
	node->hint = masked;
	node->hint_known = true;
}

void rde_tick(struct rde *rde, uint64_t now_ms)
{
	if (rde->next_expiry && now_ms >= rde->next_expiry) {
		expiry_update(rde, now_ms);
		reconsider_next_hops(rde);
	}
	if (rde->claim_pending && now_ms >= rde->claim_deadline)
		claim_now(rde, NULL, "claimed from the cluster range; not every seed answered");
}

uint64_t rde_next_wake(const struct rde *rde)
{
	uint64_t next = rde->next_expiry ? rde->next_expiry : UINT64_MAX;

	if (rde->claim_pending && rde->claim_deadline < next)
		next = rde->claim_deadline;
	return next;
}

static enum rde_order plan_order(const struct rde_datapath *before,
				 const struct rde_datapath *after)
{
	if (before->mtu == after->mtu && nodeaddr_equal(&before->vtep, &after->vtep))
		return RDE_ORDER_ROUTES_ONLY;
	/* A narrower path first, a wider one last. */
	if (after->mtu < before->mtu ||
	    (!nodeaddr_is_zero(&after->vtep) && nodeaddr_is_zero(&before->vtep)))
		return RDE_ORDER_DATAPATH_FIRST;
	return RDE_ORDER_ROUTES_FIRST;
}

void rde_flush(struct rde *rde, uint64_t now_ms)
{
	struct kern_route *routes;
	struct rde_datapath dp;
	struct rde_plan plan = {0};
	unsigned n;
	bool same_routes;

	(void)now_ms;
	reconsider_deferred(rde);
	n = own_routes(rde, &routes);
	dp = datapath_for(rde, routes, n);
	same_routes =
	    n == rde->n_routes && (n == 0 || memcmp(routes, rde->routes, n * sizeof(*routes)) == 0);
	plan.order =
	    rde->subnet_changed ? RDE_ORDER_TOPOLOGY_FIRST : plan_order(&rde->datapath, &dp);
	if (same_routes && plan.order == RDE_ORDER_ROUTES_ONLY) {
		free(routes);
		return;
	}
	free(rde->routes);
	rde->routes = routes;
	rde->n_routes = n;
	rde->datapath = dp;
	rde->subnet_changed = false;
	plan.routes = routes;
	plan.n_routes = n;
	plan.subnet = rde->subnet;
	plan.subnet_set = rde->subnet_set;
	plan.subnet6_set = rde_subnet6(rde, &plan.subnet6);
	plan.mtu = dp.mtu;
	plan.vtep = dp.vtep;
	backend_vtep_mac(&rde->config.node_ip, plan.vtep_mac);
	plan.vxlan_mtu = backend_vxlan_mtu(rde->config.underlay_mtu, rde->config.node_ip.family);
	plan.wg = rde->config.wireguard;
	plan.wg_mtu = plan.wg ? backend_wg_mtu(rde->config.underlay_mtu,
					       rde->config.node_ip.family == AF_INET6)
			      : 0;
	if (rde->ops.plan)
		rde->ops.plan(rde->arg, &plan);
}

/* ---- views ---- */

bool rde_subnet(const struct rde *rde, struct prefix *subnet, bool *explicit_subnet)
{
	if (rde->subnet_set)
		*subnet = rde->subnet;
	if (explicit_subnet)
		*explicit_subnet = rde->config.subnet_explicit;
	return rde->subnet_set;
}

bool rde_subnet6(const struct rde *rde, struct prefix6 *subnet6)
{
	if (!rde->config.ipv6 || !rde->subnet_set)
		return false;
	if (rde->config.subnet6_explicit) {
		*subnet6 = rde->config.subnet6;
		return true;
	}
	return claim_subnet6(&rde->config.cluster, &rde->subnet, &rde->config.cluster6, subnet6) ==
	       0;
}

void rde_peer_view(const struct rde *rde, const uint8_t node_id[NODE_ID_LEN],
		   struct rde_peer_view *view)
{
	const struct rde_node *node = node_find(rde, node_id);

	memset(view, 0, sizeof(*view));
	if (!node)
		return;
	view->subnet = node->subnet;
	view->subnet_known = node->subnet_known;
	view->stale = node->stale;
	view->mode = node->mode;
	view->no_path = node->no_path;
	for (unsigned r = 0; r < rde->n_routes && node->subnet_known; r++)
		view->routed =
		    view->routed ||
		    (!rde->routes[r].ipv6 && addr_prefix_equal(&rde->routes[r].dst, &node->subnet));
	view->subnet6 = node->subnet6;
	view->subnet6_known = node->subnet6_known;
	view->mode6 = path6_mode(node->path6);
	snprintf(view->why, sizeof(view->why), "%s", node->why);
	view->wg_known = node->wg_known;
	view->encrypted = node->wg_known && node->mode == KERN_MODE_WIREGUARD;
	view->wg_port = node->wg_port;
	memcpy(view->wg_key, node->wg_key, KERN_WG_KEY_LEN);
	if (node->link_local6_set)
		view->link_local6 = node->link_local6;
	for (unsigned r = 0; r < rde->n_routes && node->subnet6_known && !view->routed6; r++) {
		const struct kern_route *route = &rde->routes[r];

		if (route->ipv6 && addr6_prefix_equal(&route->dst6, &node->subnet6)) {
			view->routed6 = true;
			view->via6 = route->gateway6;
		}
	}
}

unsigned rde_routes(const struct rde *rde, struct kern_route **out)
{
	*out = NULL;
	if (rde->n_routes) {
		*out = xcalloc(rde->n_routes, sizeof(**out));
		memcpy(*out, rde->routes, rde->n_routes * sizeof(**out));
	}
	return rde->n_routes;
}

void rde_get_stats(const struct rde *rde, struct rde_stats *stats)
{
	*stats = rde->stats;
}
