/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Peer sessions: the TCP/protobuf sessions with every other node and
 * peer exchange.
 *
 * The session code turns the wire into events for the route decision
 * engine (rde.h) and never decides a route: every advert, end of adverts,
 * session up and down and relayed subnet hint goes to the rde the daemon
 * passes in the config, which pushes its plan to the daemon. peer_mgr
 * runs the rde from the event loop (coalesced once per loop pass, and at
 * its wake time); the only plan pushed from inside a peer_mgr_* call is
 * an explicit or leased subnet's, from peer_mgr_start(). */
#ifndef NSAGENT_PEER_H
#define NSAGENT_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nsagent/addr.h"
#include "nsagent/kern.h"
#include "nsagent/nodeid.h"
#include "nsagent/rde.h"

/* 2: adverts may carry the sender's IPv6 /64 and link-local next hop.
 * Version 1 is still spoken with: such a peer sends no IPv6 and gets no
 * IPv6 routes, which is not an error. */
#define PEER_PROTOCOL_VERSION 2
/* Hello capability bits. */
#define PEER_CAP_IPV6 (UINT64_C(1) << 0) /* adverts carry subnets6 */
#define PEER_MAX_PEERS 256
/* Limits (peer_mgr_config); 0 in the config takes these defaults. */
#define PEER_DEFAULT_MAX_CONNECTIONS 1024
#define PEER_DEFAULT_DIAL_RATE 10     /* new outbound connections per second */
#define PEER_DEFAULT_ACCEPT_RATE 20   /* accepted connections per second per source address */
#define PEER_MAX_PENDING_PER_SOURCE 8 /* unidentified connections per source address */
/* A peer learned from a peer list whose node id is higher than ours is
 * given this long to dial us (its connection is the one a collision
 * keeps) before we dial it: its connect and hello, with a key its TLS
 * handshake, on a loaded host. */
#define PEER_YIELD_DIAL_MS 300
/* Events for the rde that come within this time of its last run wait for
 * the end of it, and make one plan (session_rde_kick). */
#define PEER_RDE_BATCH_MS 20
/* A learned peer never reached after this many attempts is forgotten. */
#define PEER_LEARNED_MAX_FAILURES 5

struct event_base;
struct state;
struct peer_mgr;
struct tls_ctx;

enum peer_state {
	PEER_IDLE,	  /* no connection; the retry timer may be armed */
	PEER_CONNECT,	  /* our TCP connect is in progress */
	PEER_OPENSENT,	  /* connected, our hello sent, waiting for theirs */
	PEER_ESTABLISHED, /* hellos exchanged: adverts, keepalives */
};

enum peer_goodbye {
	PEER_GOODBYE_RESTART, /* peers keep our routes as stale for the restart time */
	PEER_GOODBYE_LEAVE,   /* peers withdraw our routes at once */
};

struct peer_mgr_config {
	uint8_t node_id[NODE_ID_LEN];
	struct nodeaddr node_ip;     /* advertised next hop and the address peers dial */
	struct nodeaddr listen_addr; /* family 0 = all addresses of both families */
	uint16_t listen_port;	     /* 0 = any free port (tests); see peer_mgr_listen_port */
	struct prefix cluster;	     /* never dialled inside it */
	struct prefix6 cluster6;     /* the same for IPv6 (len 0: none) */
	/* Where session events go, and our subnet comes from. Not owned. */
	struct rde *rde;
	const struct endpoint *seeds; /* --peer; copied */
	/* The host name each seed was given by ("" for an address), parallel
	 * to seeds, or NULL for none; copied. A named seed is resolved again
	 * before each dial (asynchronously, evdns: /etc/hosts, then DNS). */
	const char (*seed_hosts)[ADDR_HOST_MAX + 1];
	unsigned n_seeds;
	uint32_t keepalive_ms;
	uint32_t hold_time_ms;
	uint32_t connect_retry_min_ms;
	uint32_t connect_retry_max_ms;
	uint32_t handshake_timeout_ms;
	/* Our VXLAN tunnel endpoint (our node address, either family),
	 * advertised to peers; zero = none (backend direct: peers reach us
	 * only directly). */
	struct nodeaddr vtep;
	uint8_t vtep_mac[KERN_MAC_LEN];
	/* Dual-stack: our /64 (from the rde) goes into every advert, with
	 * link_local6, the fe80:: address of the node IP's link, when
	 * link_local6_set (that link has IPv6). */
	bool ipv6;
	struct in6_addr link_local6;
	bool link_local6_set;
	/* WireGuard: our public key and port go into every advert when
	 * wg_port is set (peer_mgr_set_wg_key changes the key). */
	uint8_t wg_key[KERN_WG_KEY_LEN];
	uint16_t wg_port;
	/* Persisted peers are dialled at start, learned peers and the lease
	 * are saved into it. May be NULL (nothing persisted). Not owned. */
	struct state *state;
	/* Cluster key context: every connection is TLS 1.3 with it. NULL =
	 * plain TCP, unauthenticated (logged loudly). Not owned. */
	struct tls_ctx *tls;
	unsigned max_peers;	  /* known peers (0 = PEER_MAX_PEERS, the most) */
	unsigned max_connections; /* all TCP connections (0 = default) */
	uint32_t dial_rate;	  /* new dials per second (0 = default) */
	uint32_t accept_rate;	  /* accepts per second per source (0 = default) */
	/* Internal, for the unit-test harness only (tests/unit/peer_harness.c
	 * runs whole clusters on 127.0.0.x): loopback addresses may be dialled
	 * and be node IPs. No flag or config key sets it; the daemon leaves it
	 * false, so a loopback address from a seed, the state dir, a peer list
	 * or a hello is never dialled. */
	bool allow_loopback;
};

/* Counters of hostile or broken input, for metrics. */
struct peer_security_stats {
	uint64_t rejected[RIB_VERDICT_COUNT];  /* advert entries, per reason */
	uint64_t rejected6[RIB_VERDICT_COUNT]; /* IPv6 advert entries, per reason */
	uint64_t frames_oversize;	       /* frame over 64 KiB: session closed */
	uint64_t frames_malformed;	       /* zero length, undecodable, out of order */
	uint64_t hellos_refused;
	uint64_t tls_failures;	     /* handshakes that failed (wrong/no key) */
	uint64_t handshake_timeouts; /* no hello within the handshake timeout */
	uint64_t accepts_refused;    /* over a connection or per-source limit */
	uint64_t dials;		     /* outbound connection attempts */
	uint64_t dials_deferred;     /* waited for the dial rate limit */
	uint64_t collisions;	     /* connections dropped: both nodes had dialled */
	uint64_t peers_evicted;	     /* learned peers forgotten (unreachable, table full) */
	uint64_t peers_refused;	     /* learned or inbound peers over max_peers */
	uint64_t pex_entries_sent;   /* peer-list entries: what peer exchange costs */
	uint64_t pex_entries_received;
	unsigned connections; /* open now */
};

/* Read-only view of one peer, for status. */
struct peer_info {
	uint8_t node_id[NODE_ID_LEN];
	bool node_id_known;
	struct endpoint endpoint; /* where we dial it */
	enum peer_state state;
	bool outbound;		    /* established session was dialled by us */
	bool seed;		    /* from --peer */
	struct rde_peer_view route; /* its subnet, routed, stale, mode (the rde's) */
	uint64_t uptime_ms;	    /* in ESTABLISHED, else 0 */
	uint64_t last_heard_ms;	    /* ago; UINT64_MAX = never */
};

/* Binds the listener. Nothing is dialled until peer_mgr_start(). */
int peer_mgr_new(struct event_base *base, const struct peer_mgr_config *config,
		 struct peer_mgr **out);
/* Starts the rde and dials seeds and persisted peers. With an explicit
 * subnet or a lease, the rde's first plan is pushed before this returns;
 * otherwise later, once the seeds have answered or the claim wait has
 * passed. */
int peer_mgr_start(struct peer_mgr *mgr);
uint16_t peer_mgr_listen_port(const struct peer_mgr *mgr);
/* Status: a malloc'd array of every known peer. */
unsigned peer_mgr_peers(const struct peer_mgr *mgr, struct peer_info **out);
const char *peer_state_name(enum peer_state state);
/* false when sessions run without a cluster key (plain TCP): for status. */
bool peer_mgr_authenticated(const struct peer_mgr *mgr);
void peer_mgr_security_stats(const struct peer_mgr *mgr, struct peer_security_stats *stats);
/* A new WireGuard public key (rotate-key): every established session is
 * sent our advert again at once. */
void peer_mgr_set_wg_key(struct peer_mgr *mgr, const uint8_t key[KERN_WG_KEY_LEN]);
/* Sends goodbye on every established session and flushes it (bounded,
 * about a second at most), then closes every connection and stops dialling.
 * Only peer_mgr_free() is valid afterwards. */
void peer_mgr_shutdown(struct peer_mgr *mgr, enum peer_goodbye reason);
void peer_mgr_free(struct peer_mgr *mgr);

#endif
