/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The RIB: remote subnets learned from peers, keyed by the node that
 * announced them in its own session, with graceful-restart stale marks.
 * Both families live in it side by side: an entry is a node's IPv4 subnet
 * or (ipv6) its IPv6 /64; an advert of one family never touches the
 * other's entries, and only entries of one family overlap.
 * It decides which kernel routes the agent wants; it never touches the
 * kernel itself. */
#ifndef NSAGENT_RIB_H
#define NSAGENT_RIB_H

#include <stdbool.h>
#include <stdint.h>

#include "nsagent/addr.h"
#include "nsagent/kern.h"
#include "nsagent/nodeid.h"

#define RIB_MAX_SUBNETS_PER_NODE 16
#define RIB_MAX_ENTRIES 4096

struct rib_entry {
	uint8_t node_id[NODE_ID_LEN]; /* all zero: adopted from the kernel, owner not back yet */
	bool ipv6;		      /* subnet6, else subnet */
	struct prefix subnet;
	struct prefix6 subnet6;
	struct nodeaddr nexthop; /* the node's IP (zero: an adopted direct IPv6 route) */
	/* IPv6 (rib_set_path6): the next hop (link-local, or the node
	 * address on an IPv6 underlay), the device of a direct route, and
	 * unrouted when the node has no usable path (rib_set_routed for
	 * IPv4; the entry still holds its subnet against others). */
	struct in6_addr gateway6;
	char ifname[IFNAMSIZ];
	bool unrouted;
	/* How the subnet is reached (rib_set_path); direct until set. */
	enum kern_mode mode;
	struct nodeaddr vtep;
	uint8_t vtep_mac[KERN_MAC_LEN];
	bool explicit_subnet;
	bool stale;
	uint64_t stale_since_ms;
};

struct rib;

/* Why an advertised entry was not accepted (counted per reason). */
enum rib_verdict {
	RIB_ACCEPTED,
	RIB_REJECT_MALFORMED,	    /* length over 32 or host bits set */
	RIB_REJECT_DEFAULT,	    /* 0.0.0.0/0 */
	RIB_REJECT_OUTSIDE_CLUSTER, /* not inside the cluster range */
	RIB_REJECT_LENGTH,	    /* not exactly the cluster's node-subnet length */
	RIB_REJECT_LOCAL,	    /* overlaps this host's own networks or subnet */
	RIB_REJECT_OWNED,	    /* overlaps a subnet another live node owns */
	RIB_REJECT_TOO_MANY,	    /* over RIB_MAX_SUBNETS_PER_NODE, or the RIB is full */
	RIB_REJECT_SPECIAL,	    /* IPv6: in a special range (link-local, multicast, ...) */
	RIB_VERDICT_COUNT
};

const char *rib_verdict_name(enum rib_verdict verdict);
/* A short stable key ("owned", "too_many") for metrics labels. */
const char *rib_verdict_key(enum rib_verdict verdict);

/* Adverts are accepted only inside cluster and only with exactly
 * subnet_len, the cluster's node-subnet length (24 by default). */
struct rib *rib_new(const struct prefix *cluster, uint8_t subnet_len);
/* The verdict on a subnet's shape alone: aligned, not the default route,
 * inside the cluster, exactly the node-subnet length. RIB_ACCEPTED when it
 * is a node subnet, whoever holds it. */
enum rib_verdict rib_check_shape(const struct rib *rib, const struct prefix *p);
void rib_free(struct rib *rib);
/* Dual-stack: IPv6 adverts are accepted only inside cluster6, as /64s.
 * Until it is set, every IPv6 entry is outside the cluster. */
void rib_set_cluster6(struct rib *rib, const struct prefix6 *cluster6);
/* rib_check_shape for an IPv6 entry: aligned, not ::/0, in no special
 * range (addr6_range_problem), inside cluster6, exactly /64. */
enum rib_verdict rib_check_shape6(const struct rib *rib, const struct prefix6 *p);

/* The complete subnet set a node announces in its own session. Entries of
 * the node in the set become fresh; its fresh entries not in the set are
 * removed; its stale entries not in the set wait for end-of-adverts.
 * Adopted entries whose gateway is nexthop become this node's. Invalid
 * subnets (outside the cluster, default route, host bits set, another
 * length than the node-subnet length, over RIB_MAX_SUBNETS_PER_NODE) are
 * skipped; returns how many were. */
unsigned rib_advert(struct rib *rib, const uint8_t node_id[NODE_ID_LEN], struct nodeaddr nexthop,
		    const struct prefix *subnets, unsigned n, bool explicit_subnet);
/* Like rib_advert, and also refuses entries that overlap the local
 * prefixes (rib_set_local) or a fresh entry of another node; verdicts (n
 * entries, may be NULL) says what became of each. Returns the number
 * rejected. */
unsigned rib_advert_checked(struct rib *rib, const uint8_t node_id[NODE_ID_LEN],
			    struct nodeaddr nexthop, const struct prefix *subnets, unsigned n,
			    bool explicit_subnet, enum rib_verdict *verdicts);
/* This host's own networks and addresses (copied), refused by
 * rib_advert_checked. */
void rib_set_local(struct rib *rib, const struct prefix *prefixes, unsigned n);
/* The node's complete IPv6 set, checked as rib_advert_checked does (shape
 * by rib_check_shape6, this host's IPv6 networks, another live node's
 * /64). Adopted IPv6 entries whose gateway is link_local6 (may be NULL)
 * or whose node IP is nexthop become this node's. */
unsigned rib_advert6_checked(struct rib *rib, const uint8_t node_id[NODE_ID_LEN],
			     struct nodeaddr nexthop, const struct in6_addr *link_local6,
			     const struct prefix6 *subnets6, unsigned n,
			     enum rib_verdict *verdicts);
void rib_set_local6(struct rib *rib, const struct prefix6 *prefixes, unsigned n);

/* The data path to every entry of the node: mode, and for vxlan its VTEP
 * address and MAC (ignored for direct). */
void rib_set_path(struct rib *rib, const uint8_t node_id[NODE_ID_LEN], enum kern_mode mode,
		  const struct nodeaddr *vtep, const uint8_t vtep_mac[KERN_MAC_LEN]);
/* routed false leaves every IPv4 entry of the node out of the route set
 * (it still holds its subnet against others): the node cannot be reached
 * over our underlay. */
void rib_set_routed(struct rib *rib, const uint8_t node_id[NODE_ID_LEN], bool routed);
/* The IPv6 path to every IPv6 entry of the node: routed false leaves
 * them out of the route set; else mode, the link-local gateway6, for
 * direct the device ifname, for vxlan the VTEP address and MAC. */
void rib_set_path6(struct rib *rib, const uint8_t node_id[NODE_ID_LEN], bool routed,
		   enum kern_mode mode, const struct in6_addr *gateway6, const char *ifname,
		   const struct nodeaddr *vtep, const uint8_t vtep_mac[KERN_MAC_LEN]);
/* The node finished its initial adverts: sweep its remaining stale entries. */
void rib_end_of_adverts(struct rib *rib, const uint8_t node_id[NODE_ID_LEN]);
/* The node's session dropped without goodbye(leave): keep, mark stale. */
void rib_session_down(struct rib *rib, const uint8_t node_id[NODE_ID_LEN], uint64_t now_ms);
/* goodbye(leave): remove the node's entries at once. */
void rib_withdraw(struct rib *rib, const uint8_t node_id[NODE_ID_LEN]);
/* Remove entries stale for restart_ms or longer. *next_ms (may be NULL) is
 * set to the time of the next expiry, or 0 when nothing is stale. */
void rib_expire(struct rib *rib, uint64_t now_ms, uint32_t restart_ms, uint64_t *next_ms);
/* Routes found in the kernel at startup, kept as stale until their owners
 * return (matched by gateway) or the restart time passes. */
void rib_adopt(struct rib *rib, const struct kern_route *routes, unsigned n, uint64_t now_ms);

/* The kernel routes wanted now, both families, malloc'd into *out (caller
 * frees; NULL when n is 0). Entries overlapping local or local6 (the
 * node's own subnet and /64, each may be NULL) are left out, so are
 * unrouted IPv6 entries, and of overlapping entries only one is kept:
 * fresh over stale, explicit over claimed, then the lower node id. */
unsigned rib_routes(const struct rib *rib, const struct prefix *local, const struct prefix6 *local6,
		    struct kern_route **out);

/* How many index places the "owned by another node" check has looked at
 * so far (binary-search probes and records read): O(log n) per advertised
 * entry, which test_rib counts. */
unsigned long rib_check_steps(const struct rib *rib);

/* Read-only view for status and conflict checks. */
const struct rib_entry *rib_entries(const struct rib *rib, unsigned *n);

#endif
