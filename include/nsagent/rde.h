/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The route decision engine (rde): the one module that decides which
 * cross-node routes, per-peer data-path modes, namespace MTU and VXLAN
 * device the kernel should have, and which subnet this node holds.
 *
 * Modelled on OpenBGPD's RDE: the session code turns the wire into events
 * (rde_session_up, rde_session_down, rde_advert, rde_end_of_adverts,
 * rde_hint, rde_initial_answered) and never decides a route; the daemon
 * applies what the rde pushes, one struct rde_plan through ops.plan, and
 * never inspects a route. rib.c, claim.c and backend.c are its pure
 * helpers.
 *
 * The rde has no clock, no event loop and no kernel access: every call is
 * given now_ms by its caller, and the path lookup (which the kernel layer
 * answers) is a function pointer given at construction. Events only change
 * its state; rde_flush() is where a plan is computed and pushed, so that a
 * burst of events (many adverts in one read) costs one plan. The caller
 * runs rde_tick() at rde_next_wake() for stale expiry and the claim wait.
 * That makes every decision a deterministic function of its inputs
 * (tests/unit/test_rde.c runs them with a fake clock and path lookup). */
#ifndef NSAGENT_RDE_H
#define NSAGENT_RDE_H

#include <stdbool.h>
#include <stdint.h>

#include "nsagent/addr.h"
#include "nsagent/addr6.h"
#include "nsagent/config.h"
#include "nsagent/kern.h"
#include "nsagent/nodeid.h"
#include "nsagent/rib.h"

#define RDE_DEFAULT_CLAIM_WAIT_MS 3000

struct rde;
struct state;

/* The kernel's answer for the path to a peer's node IP (kern_route_path):
 * 0 with *path filled, or a negative errno with err saying why. */
typedef int (*rde_path_fn)(void *arg, const struct nodeaddr *node_ip, struct kern_path *path,
			   struct kern_error *err);

/* In which order the daemon applies a plan. The namespaces' MTU and the
 * VXLAN device are lowered and created before the first vxlan route goes
 * in, and raised and removed only after the last one is gone, so that no
 * packet ever meets a path narrower than its namespace's MTU. */
enum rde_order {
	RDE_ORDER_ROUTES_ONLY,	  /* the data path did not change */
	RDE_ORDER_DATAPATH_FIRST, /* data path, then routes */
	RDE_ORDER_ROUTES_FIRST,	  /* routes, then data path */
	RDE_ORDER_TOPOLOGY_FIRST, /* our subnet is new or moved: topology, then routes */
};

/* What the kernel should have; valid only during the ops.plan call. */
struct rde_plan {
	const struct kern_route *routes; /* every cross-node route, each with its mode */
	unsigned n_routes;
	struct prefix subnet; /* ours, when subnet_set (routes may come before it) */
	bool subnet_set;
	/* Our IPv6 /64, when subnet6_set: dual-stack on and a subnet held
	 * (the explicit --subnet6, else claim_subnet6 of subnet). */
	struct prefix6 subnet6;
	bool subnet6_set;
	unsigned mtu;	      /* bridge, veths and namespaces' eth0 */
	struct nodeaddr vtep; /* local address of the VXLAN device; zero = no device */
	uint8_t vtep_mac[KERN_MAC_LEN];
	unsigned vxlan_mtu;
	/* The WireGuard device (the node runs WireGuard): wanted, and its
	 * MTU. Constant for a run; the routes of mode wireguard carry each
	 * peer's key and port, which the daemon gives the device. */
	bool wg;
	unsigned wg_mtu;
	enum rde_order order;
};

struct rde_ops {
	/* The plan changed. Called from rde_flush() only. */
	void (*plan)(void *arg, const struct rde_plan *plan);
};

struct rde_config {
	uint8_t node_id[NODE_ID_LEN];
	struct prefix cluster;
	uint8_t subnet_len;   /* per-node subnet length (0 = 24) */
	struct prefix subnet; /* --subnet, when subnet_explicit */
	bool subnet_explicit;
	/* Dual-stack: an IPv6 /64 beside the subnet (cfg ipv6, cluster_cidr6,
	 * subnet6). */
	bool ipv6;
	struct prefix6 cluster6;
	struct prefix6 subnet6; /* --subnet6, when subnet6_explicit */
	bool subnet6_explicit;
	/* Our previous lease (state.h), reused when still free; ignored when
	 * subnet_explicit. */
	struct prefix lease;
	bool lease_set;
	/* Without subnet or lease: how long to wait for the initial peers'
	 * adverts before claiming (0 = RDE_DEFAULT_CLAIM_WAIT_MS). */
	uint32_t claim_wait_ms;
	uint32_t restart_time_ms; /* how long a lost peer's routes stay, stale */
	/* This host's own networks and addresses: adverts overlapping them
	 * are refused. Copied. */
	const struct prefix *local_prefixes;
	unsigned n_local_prefixes;
	const struct prefix6 *local_prefixes6; /* the same, IPv6 */
	unsigned n_local_prefixes6;
	/* The lease is saved into it when claimed (may be NULL). Not owned. */
	struct state *state;
	/* Data path. node_ip is our node address, and our VTEP address when
	 * the backend runs a VXLAN device and it is IPv4; underlay_mtu is the
	 * node IP's link's. A peer whose node address is of the other family
	 * gets no route (its underlay cannot be reached from ours). */
	enum cfg_backend backend;
	struct nodeaddr node_ip;
	unsigned underlay_mtu;
	/* The node IP's link (the device of direct IPv6 routes) and whether
	 * it has IPv6 (a link-local address): without, a peer's /64 goes over
	 * VXLAN or nowhere. */
	char underlay_ifname[IFNAMSIZ];
	bool underlay_ipv6;
	/* WireGuard (issue 19): this node runs it (cfg_wireguard) and which
	 * peers it encrypts. */
	bool wireguard;
	enum cfg_encrypt encrypt;
	/* Asked for backend auto only (NULL: every peer is taken as on-link). */
	rde_path_fn path;
	void *path_arg;
};

/* A peer's own advert, as decoded by the session. */
struct rde_advert {
	struct nodeaddr node_ip; /* the next hop of its routes */
	const struct prefix *subnets;
	unsigned n_subnets;
	unsigned n_malformed; /* entries the session could not decode (length over 32) */
	unsigned n_over;      /* entries past RIB_MAX_SUBNETS_PER_NODE, dropped */
	bool explicit_subnet;
	struct nodeaddr vtep; /* zero = none; either family (advert fields 2, 7) */
	uint8_t vtep_mac[KERN_MAC_LEN];
	/* Dual-stack (none from an older or --ipv6 off peer). */
	const struct prefix6 *subnets6;
	unsigned n_subnets6;
	unsigned n_malformed6; /* addr not 16 bytes or length over 128 */
	unsigned n_over6;
	struct in6_addr link_local6; /* its next hop on a shared link */
	bool link_local6_set;
	/* WireGuard, as on the wire (the rde judges them): the public key
	 * (wg_key_len bytes; 0 = the peer runs no WireGuard) and UDP port. */
	const uint8_t *wg_key;
	size_t wg_key_len;
	uint32_t wg_port;
};

/* Why a peer's WireGuard key or port was refused (rde_stats.wg_rejected). */
enum rde_wg_verdict {
	RDE_WG_MALFORMED_KEY, /* not 32 bytes */
	RDE_WG_DUPLICATE_KEY, /* another live node advertises the same key */
	RDE_WG_BAD_PORT,      /* 0 or over 65535 */
	RDE_WG_VERDICT_COUNT
};
/* A short stable key ("duplicate_key") for metrics labels, and a phrase
 * for logs. */
const char *rde_wg_verdict_key(enum rde_wg_verdict verdict);
const char *rde_wg_verdict_name(enum rde_wg_verdict verdict);

/* One peer as the rde sees it: what status, metrics and probes read. */
struct rde_peer_view {
	struct prefix subnet; /* accepted from its own advert */
	bool subnet_known;
	bool routed; /* its subnet is in the planned route set */
	bool stale;  /* kept for a lost session, not refreshed yet */
	enum kern_mode mode;
	/* Dual-stack: its IPv6 /64, accepted from its own advert, and how it
	 * is reached (an IPv4-only or older peer has none). */
	struct prefix6 subnet6;
	bool subnet6_known;
	bool routed6;
	enum kern_mode mode6;
	struct in6_addr link_local6; /* as advertised; zero = none */
	/* The planned IPv6 route's next hop (routed6): the link-local address
	 * it advertised (direct), its VTEP's EUI-64 (vxlan), the next hop on
	 * nsa-wg its node address derives (wireguard), its address (IPv6
	 * underlay, direct); zero = none. */
	struct in6_addr via6;
	/* Why mode is what it is ("auto: behind gateway ...", "--backend
	 * wireguard"), as logged when it was chosen. */
	char why[160];
	/* Its WireGuard key and port, when it advertised good ones, and
	 * whether its traffic goes through WireGuard (mode wireguard). */
	uint8_t wg_key[KERN_WG_KEY_LEN];
	uint16_t wg_port;
	bool wg_known;
	bool encrypted;
	/* Why its subnets get no route (an underlay of the other family, or
	 * not on-link over IPv6), a static phrase; NULL when they may. */
	const char *no_path;
};

struct rde_stats {
	uint64_t rejected[RIB_VERDICT_COUNT];  /* advertised entries, per reason */
	uint64_t rejected6[RIB_VERDICT_COUNT]; /* advertised IPv6 entries, per reason */
	uint64_t conflicts;		       /* both --subnet and overlapping: nobody moves */
	uint64_t wg_rejected[RDE_WG_VERDICT_COUNT]; /* WireGuard keys and ports refused */
};

struct rde *rde_new(const struct rde_config *config, const struct rde_ops *ops, void *arg);
void rde_free(struct rde *rde);

/* Routes found in the kernel at start: kept as stale until their owners
 * return or the restart time passes. They are already installed, so no
 * plan is pushed for them. Call before rde_start(). */
void rde_adopt(struct rde *rde, const struct kern_route *routes, unsigned n, uint64_t now_ms);
/* An explicit subnet or a valid lease is taken at once (the next
 * rde_flush() pushes it); otherwise the claim waits for
 * rde_initial_answered() or the claim wait, or happens at the first
 * rde_tick() when there are no initial peers. */
void rde_start(struct rde *rde, uint64_t now_ms, bool initial_peers);
/* Every initial peer (seed, persisted) has answered or failed. */
void rde_initial_answered(struct rde *rde, uint64_t now_ms);

/* Session events, each from a node's own session. */
void rde_session_up(struct rde *rde, const uint8_t node_id[NODE_ID_LEN], uint64_t now_ms);
/* leave: goodbye(leave), its routes go at once; else they stay, stale. */
void rde_session_down(struct rde *rde, const uint8_t node_id[NODE_ID_LEN], bool leave,
		      uint64_t now_ms);
/* name: how logs call the peer. */
void rde_advert(struct rde *rde, const uint8_t node_id[NODE_ID_LEN], const char *name,
		const struct rde_advert *advert, uint64_t now_ms);
void rde_end_of_adverts(struct rde *rde, const uint8_t node_id[NODE_ID_LEN], uint64_t now_ms);
/* A relayed peer list's subnet hint for a node (claim input only); NULL:
 * the session forgot the node, its hint goes. */
void rde_hint(struct rde *rde, const uint8_t node_id[NODE_ID_LEN], const struct prefix *hint,
	      uint64_t now_ms);

/* Runs what is due at now_ms: stale expiry, a claim whose wait is over. */
void rde_tick(struct rde *rde, uint64_t now_ms);
/* When rde_tick() is next due; UINT64_MAX = nothing pending. */
uint64_t rde_next_wake(const struct rde *rde);
/* Pushes a plan through ops.plan when what the kernel should have has
 * changed since the last one. */
void rde_flush(struct rde *rde, uint64_t now_ms);

/* Our subnet, false while not claimed yet. */
bool rde_subnet(const struct rde *rde, struct prefix *subnet, bool *explicit_subnet);
/* Our IPv6 /64 (see struct rde_plan's subnet6): true with *subnet6 set,
 * false when dual-stack is off, no subnet is held yet, or the subnet's
 * index has no /64 in the IPv6 range. */
bool rde_subnet6(const struct rde *rde, struct prefix6 *subnet6);
void rde_peer_view(const struct rde *rde, const uint8_t node_id[NODE_ID_LEN],
		   struct rde_peer_view *view);
/* The planned routes (as of the last flush, or adoption), malloc'd into
 * *out (NULL when 0). */
unsigned rde_routes(const struct rde *rde, struct kern_route **out);
void rde_get_stats(const struct rde *rde, struct rde_stats *stats);

#endif
