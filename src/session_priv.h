/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The session code's private parts, shared by its three files:
 * session.c (connections, limits, frame I/O, TLS), session_fsm.c (the
 * FSM, hello and collision, and the events it feeds the rde) and peers.c
 * (the peer table, eviction and peer exchange). Nothing outside them
 * includes it; the public API is include/nsagent/peer.h. */
#ifndef NSAGENT_SESSION_PRIV_H
#define NSAGENT_SESSION_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/event.h>

#include "nsagent/backoff.h"
#include "nsagent/peer.h"
#include "nsagent/wire.h"

struct bufferevent;
struct evbuffer;

#define PEER_MAX_PENDING 64
/* A peer that does not read its socket is dropped rather than buffered for. */
#define PEER_MAX_OUTPUT (1024 * 1024)
#define PEER_SHUTDOWN_FLUSH_MS 1000
/* Room for every peer dialling at once (a cluster started together): a
 * full accept queue drops SYNs, and the dialler's kernel retransmits only
 * after 1 s, then 3 s, 7 s... (tests/bench: convergence of 32 nodes). */
#define PEER_LISTEN_BACKLOG (PEER_MAX_PEERS + PEER_MAX_PENDING)
/* A refused dial means the host is up but its agent does not listen yet
 * (starting, restarting): it will within milliseconds, so the first
 * redials come sooner than connect-retry-min, doubling from this. */
#define PEER_REFUSED_RETRY_MS 25
/* A hold time a peer proposes is never taken below this: a hello asking
 * for 1 ms must not turn our keepalive timer into a busy loop. */
#define PEER_MIN_HOLD_MS 200
/* Source addresses tracked for the per-source accept limits. */
#define PEER_SOURCE_SLOTS 256
/* Peer exchange: sessions that come up within this time of each other
 * are told to the existing sessions in one list (pex_batch_cb). */
#define PEER_PEX_BATCH_MS 20
/* A keepalive due this soon after the timer's moment is sent with the
 * others (the timer may fire a little early or late of a grid point). */
#define PEER_KEEPALIVE_SLACK_MS 5
/* Learned and departed peers are saved at most this long after the
 * change, all together (peers_save_soon); a crash loses at most the peers
 * learned in that time, which peer exchange gives back. Each save is an
 * fsync: at 200 ms a node joining a 64-host mesh made about 20 of them,
 * 2 % of the agents' CPU (perf, tests/bench/README.md, the eighth step). */
#define PEER_SAVE_DELAY_MS 1000

/* Peer exchange: each peer has a slot, and each session a set of slots,
 * the peers its other end is known to know (peer->knows). */
#define PEER_SLOT_WORDS ((PEER_MAX_PEERS + 63) / 64)

/* Per advert, at most this many rejected entries are logged one by one. */
#define PEER_REJECT_LOG_MAX 8

enum peer_event {
	PEER_EV_START,
	PEER_EV_STOP,
	PEER_EV_RETRY_TIMER,
	PEER_EV_TCP_CONNECTED,
	PEER_EV_TCP_FAILED,
	PEER_EV_HELLO_RECEIVED, /* valid hello on our outbound connection */
	PEER_EV_INBOUND_HELLO,	/* an inbound connection identified as this node */
	PEER_EV_HANDSHAKE_TIMER,
	PEER_EV_HOLD_TIMER,
	PEER_EV_KEEPALIVE_TIMER,
	PEER_EV_GOODBYE_RESTART,
	PEER_EV_GOODBYE_LEAVE,
	PEER_EV_PROTOCOL_ERROR,
};

/* What a hello told us; kept on the connection until the FSM uses it. */
struct hello_info {
	uint8_t node_id[NODE_ID_LEN];
	struct nodeaddr node_ip;
	uint16_t listen_port;
	uint32_t keepalive_ms;
	uint32_t hold_ms;
	/* The node ids it knew (pex_digest); known_peers 0: not said. */
	uint32_t known_peers;
	uint8_t known_digest[NODE_ID_LEN];
	/* The short ids it knew (hello known_ids, sorted; pex_short_id);
	 * n_known_ids 0: not said (an older agent). */
	uint32_t n_known_ids;
	uint32_t known_ids[PEER_MAX_PEERS + 1];
};

struct conn {
	struct peer_mgr *mgr;
	struct peer *peer; /* NULL while an inbound connection is unidentified */
	struct bufferevent *bev;
	bool outbound;
	bool have_hello;
	struct hello_info hello;
	struct event *handshake_timer; /* unidentified inbound only */
	bool tls;
	bool tls_done; /* handshake completed with the cluster key */
	/* The address at the other end: what the kernel accepted from, or
	 * what we dialled (per-source limits; a keyless node IP must be it). */
	struct nodeaddr source;
	bool pending_counted;
	/* A named peer's dial: resolving first (resolve_ev starts it from the
	 * loop, dns_req while it runs), then connecting. */
	struct event *resolve_ev;
	struct evdns_getaddrinfo_request *dns_req;
	char remote[ENDPOINT_STRLEN];
	/* conn_cork depth, and the frames held meanwhile (made by the first,
	 * freed when written or by conn_close). */
	unsigned corked;
	struct evbuffer *staged;
	TAILQ_ENTRY(conn) entry; /* mgr->pending or mgr->dead_conns */
};

struct peer {
	struct peer_mgr *mgr;
	TAILQ_ENTRY(peer) entry;
	enum peer_state state;
	struct endpoint endpoint;     /* a named peer's: what its name last resolved to */
	char host[ADDR_HOST_MAX + 1]; /* the name of a seed given by name, else "" */
	uint8_t node_id[NODE_ID_LEN];
	bool id_known;
	bool seed;
	bool initial; /* dialled at start: the claim waits for it */
	bool initial_done;
	bool dead;	       /* to be freed by the reaper */
	struct conn *conn;     /* outbound attempt, or the established session */
	struct conn *incoming; /* handed over with PEER_EV_INBOUND_HELLO */
	struct backoff backoff;
	struct event *retry_timer;
	struct event *handshake_timer;
	struct event *hold_timer;
	uint32_t hold_ms;
	uint32_t keepalive_ms;
	struct nodeaddr node_ip;
	bool refused;		/* the last dial was refused (RST) */
	bool dialled;		/* dialled at least once since it joined the table */
	unsigned refused_tries; /* quick redials since the last session */
	uint64_t established_ms;
	uint64_t last_heard_ms;
	uint64_t keepalive_due_ms; /* its next keepalive (mgr->keepalive_timer) */
	uint64_t hold_armed_ms;	   /* last_heard_ms when hold_timer was armed */
	/* Peer exchange: pex_seq stamps when this session came up (0: never,
	 * it is not news); pex_sent is mgr->pex_seq as of the last list this
	 * session got, so it is sent only what is newer. */
	uint64_t pex_seq;
	uint64_t pex_sent;
	/* Its index in the sets below, unique among live peers. */
	unsigned slot;
	/* The peers this session's other end knows, as far as we can tell:
	 * it listed them to us, or we to it. Emptied when a session comes up
	 * (the other end may have restarted); never sent again on it. */
	uint64_t knows[PEER_SLOT_WORDS];
	bool learned; /* from a relayed peer list */
	/* Peer exchange (pex_session_up): adopted, its first session was
	 * with us and we introduce it to the sessions that come later;
	 * relay_all, its news goes to every session, not only our adoptees. */
	bool adopted;
	bool relay_all;
	/* Its hello listed the nodes it knew (known_ids): it was sent those
	 * it lacked when the session came up, and is sent no news after. */
	bool summary;
	/* The peers it lacked that we left to a delegate to introduce
	 * (pex_delegated), not yet offered since: offered once if a
	 * delegate's session goes down (pex_session_down). */
	uint64_t delegated[PEER_SLOT_WORDS];
	bool ever_established;
	unsigned failures; /* attempts since the last session */
};

/* Token bucket: rate per second, burst of one second's worth. */
struct bucket {
	double tokens;
	uint64_t last_ms;
};

struct source_slot {
	struct nodeaddr addr;
	bool used;
	unsigned pending;
	struct bucket bucket;
	uint64_t last_log_ms;
};

struct peer_mgr {
	struct event_base *base;
	struct peer_mgr_config config;
	struct endpoint *seeds;
	char (*seed_hosts)[ADDR_HOST_MAX + 1]; /* parallel to seeds; NULL = none named */
	struct evdns_base *dns;		       /* made at the first named dial */
	struct evconnlistener *listener;
	struct listen_guard *guard; /* pauses accepts when they fail (EMFILE) */
	uint16_t port;
	TAILQ_HEAD(, peer) peers;
	unsigned n_peers;
	TAILQ_HEAD(, conn) pending;
	unsigned n_pending;
	TAILQ_HEAD(, conn) dead_conns;
	struct event *reaper;
	/* The rde is fed here and run from the loop: rde_ev coalesces the
	 * events of one loop pass, or of PEER_RDE_BATCH_MS, into one
	 * rde_flush(), rde_timer wakes it for stale expiry and the claim
	 * wait. */
	struct rde *rde;
	struct event *rde_ev;
	struct event *rde_timer;
	uint64_t rde_flushed_ms;	      /* the rde's last run (session_rde_run) */
	uint64_t pex_seq;		      /* the last session-up stamp given (peer->pex_seq) */
	struct event *pex_timer;	      /* the batch of news for existing sessions */
	uint64_t slots_used[PEER_SLOT_WORDS]; /* peer->slot of the live peers */
	struct event *save_timer;	      /* unsaved peers (peers_save_soon) */
	struct event *keepalive_timer;	      /* every session's keepalives (keepalive_tick) */
	uint64_t keepalive_next_ms;	      /* when it fires, 0: not armed */
	struct evbuffer *scratch;	      /* a frame written straight (conn_send) */
	struct prefix advertised;	      /* our subnet as last sent to peers */
	bool advertised_set;
	bool shutting_down;
	uint64_t rng_seed;
	unsigned n_dead; /* peers marked dead, not reaped yet */
	unsigned n_conns;
	struct bucket dial_bucket;
	struct source_slot sources[PEER_SOURCE_SLOTS];
	uint64_t last_refuse_log_ms;
	bool warned_foreign_node_ip; /* logged once: dials cannot leave from it */
	struct peer_security_stats stats;
};

static inline uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline void timer_arm(struct event *ev, uint64_t ms)
{
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000),
			     .tv_usec = (suseconds_t)(ms % 1000) * 1000};

	evtimer_add(ev, &tv);
}

/* session.c: connections, limits, frame I/O */
uint64_t bucket_take(struct bucket *b, uint32_t rate, uint64_t now);
void source_pending_done(struct conn *conn);
/* Frees a closed connection (the reaper's job). */
void conn_free(struct conn *conn);
void conn_close(struct conn *conn);
int conn_send(struct conn *conn, const NsaPeer__Envelope *env);
/* Between the two, frames sent to conn are held and then written in one
 * go (a send, a TLS record); they nest. conn_uncork writes nothing to a
 * connection closed meanwhile. */
void conn_cork(struct conn *conn);
void conn_uncork(struct conn *conn);
void send_hello(struct conn *conn);
void send_simple(struct conn *conn, NsaPeer__Envelope__MsgCase which);
/* Saves the state's unsaved peers within PEER_SAVE_DELAY_MS. */
void peers_save_soon(struct peer_mgr *mgr);
int peer_dial(struct peer *peer);

/* session_fsm.c: the FSM, hellos, messages, the rde driver */
void session_rde_run(struct peer_mgr *mgr, bool tick);
void session_rde_cb(evutil_socket_t fd, short what, void *arg);

void inbound_hello(struct conn *conn, const NsaPeer__Hello *hello);
void outbound_hello(struct peer *peer, const NsaPeer__Hello *hello);
void handle_message(struct peer *peer, const NsaPeer__Envelope *env);
void peer_fsm(struct peer *peer, enum peer_event event);
/* Hold expiry: fires the event once nothing was heard for hold_ms. */
void hold_check(struct peer *peer);

/* peers.c: the peer table and peer exchange */
const char *peer_name(const struct peer *peer, char *buf, size_t size);
struct peer *find_by_id(struct peer_mgr *mgr, const uint8_t *id);
struct peer *find_by_endpoint(struct peer_mgr *mgr, const struct nodeaddr *addr, uint16_t port);
struct peer *peer_new(struct peer_mgr *mgr, const struct endpoint *endpoint, bool may_evict);
void peer_free(struct peer *peer);
void reaper_cb(evutil_socket_t fd, short what, void *arg);
void schedule_reap(struct peer_mgr *mgr);
void peer_delete(struct peer *peer);
uint32_t pex_digest(struct peer_mgr *mgr, uint8_t digest[NODE_ID_LEN]);
void pex_session_up(struct peer *peer);
/* An established session goes down (its knows still set): the peers
 * delegated to it are offered to the sessions that relied on it. */
void pex_session_down(struct peer *peer);
/* The short id of a node id (hello known_ids): its first 4 bytes. */
uint32_t pex_short_id(const uint8_t id[NODE_ID_LEN]);
/* qsort/bsearch order of short ids. */
int pex_cmp_id(const void *a, const void *b);
/* Our known_ids, sorted, into ids (room for PEER_MAX_PEERS + 1); the count. */
unsigned pex_known_ids(struct peer_mgr *mgr, uint32_t *ids);
/* The session's keepalives start: on the wall-clock grid of its interval
 * (keepalive_tick_cb). */
void keepalive_schedule(struct peer *peer);
void keepalive_tick_cb(evutil_socket_t fd, short what, void *arg);
void pex_batch_cb(evutil_socket_t fd, short what, void *arg);
const char *undialable(const struct peer_mgr *mgr, const struct nodeaddr *addr);
void learn_peers(struct peer *from, const NsaPeer__PeerList *list);
/* host: the name a seed was given by, or NULL. */
void add_initial(struct peer_mgr *mgr, const struct endpoint *ep, bool seed, const char *host);

#endif
