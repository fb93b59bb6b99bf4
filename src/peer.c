/* DOC: peer sessions, peer exchange, subnet claim and route decisions.
 *
 * Owns every connection to another node. One struct peer per remote node
 * (known by the endpoint we dial and, after its hello, its node id), with
 * one FSM: peer_fsm(peer, event) is the only code that changes a peer's
 * state, always through change_state(), which runs entry actions and logs
 * the transition. Timers and socket callbacks only post events.
 *
 * Handshake: the dialler sends its hello as soon as TCP connects; the
 * listener reads it, identifies the node, resolves a collision and only
 * then answers with its own hello. Collision (both nodes dialled): the
 * connection initiated by the higher node id survives (RFC 4271 6.8), so
 * both ends keep the same one. A node presenting our node id, or a node IP
 * another live peer already has, is refused.
 *
 * After the handshake each side sends its advert, the peers it has
 * sessions with (peer exchange: addresses only, never routes) and
 * end-of-adverts. Routes are derived from the RIB (src/rib.c), which only
 * this module feeds, and only from a node's own session. Each advert also
 * carries the sender's VTEP (address and MAC) when it runs a VXLAN device;
 * the data-path mode of the peer (direct or vxlan) is chosen through
 * ops.choose_mode when its advert arrives, logged when it changes, and
 * set on its RIB entries.
 *
 * Invariants: at most one established session per node; write events are
 * enabled by the bufferevent only while output is queued; every timer and
 * socket belongs to one peer or one pending connection and is freed with
 * it; peers and connections are freed from a deferred reaper, never inside
 * their own callbacks.
 *
 * Hostile input (see also src/tls.c, src/rib.c): with a cluster key every
 * connection is TLS and nothing is read before the handshake completes;
 * without one a peer's node IP must be the address its session comes from
 * (hello_check); only unicast addresses outside the cluster range are
 * dialled (undialable);
 * frames are bounded before allocation (src/wire.c); an inbound connection
 * must finish TLS and send its hello within the handshake timeout, and so
 * must our own dial; connections are bounded in total, per source address
 * (pending ones) and by accept and dial token buckets; known peers are
 * bounded and learned peers that never answer are forgotten, so a
 * poisoned peer list cannot crowd out real nodes; every advertised entry
 * gets a verdict, a bad one is counted and logged with its reason while
 * the rest of the advert applies and the session stays up. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "nsagent/backend.h"
#include "nsagent/backoff.h"
#include "nsagent/claim.h"
#include "nsagent/listen.h"
#include "nsagent/log.h"
#include "nsagent/peer.h"
#include "nsagent/rib.h"
#include "nsagent/state.h"
#include "nsagent/tls.h"
#include "nsagent/wire.h"
#include "nsagent/xalloc.h"

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

static const char *const event_names[] = {
    [PEER_EV_START] = "start",
    [PEER_EV_STOP] = "stop",
    [PEER_EV_RETRY_TIMER] = "connect retry timer",
    [PEER_EV_TCP_CONNECTED] = "tcp connected",
    [PEER_EV_TCP_FAILED] = "tcp failed",
    [PEER_EV_HELLO_RECEIVED] = "hello received",
    [PEER_EV_INBOUND_HELLO] = "inbound hello",
    [PEER_EV_HANDSHAKE_TIMER] = "handshake timeout",
    [PEER_EV_HOLD_TIMER] = "hold timer expired",
    [PEER_EV_KEEPALIVE_TIMER] = "keepalive timer",
    [PEER_EV_GOODBYE_RESTART] = "goodbye(restart)",
    [PEER_EV_GOODBYE_LEAVE] = "goodbye(leave)",
    [PEER_EV_PROTOCOL_ERROR] = "protocol error",
};

/* What a hello told us; kept on the connection until the FSM uses it. */
struct hello_info {
	uint8_t node_id[NODE_ID_LEN];
	uint32_t node_ip;
	uint16_t listen_port;
	uint32_t keepalive_ms;
	uint32_t hold_ms;
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
	bool tls_done;	 /* handshake completed with the cluster key */
	uint32_t source; /* inbound: the remote address, for the per-source limit */
	bool pending_counted;
	char remote[ENDPOINT_STRLEN];
	TAILQ_ENTRY(conn) entry; /* mgr->pending or mgr->dead_conns */
};

struct peer {
	struct peer_mgr *mgr;
	TAILQ_ENTRY(peer) entry;
	enum peer_state state;
	struct endpoint endpoint;
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
	struct event *keepalive_timer;
	uint32_t hold_ms;
	uint32_t keepalive_ms;
	uint32_t node_ip;
	struct prefix subnet; /* from its own advert */
	bool subnet_known;
	bool subnet_explicit;
	uint32_t vtep; /* from its own advert; 0 = none */
	uint8_t vtep_mac[KERN_MAC_LEN];
	enum kern_mode mode;
	bool mode_known;
	struct prefix hint; /* from a relayed peer list: claim input only */
	bool hint_known;
	bool routes_stale;
	bool refused;		/* the last dial was refused (RST) */
	unsigned refused_tries; /* quick redials since the last session */
	uint64_t established_ms;
	uint64_t last_heard_ms;
	bool learned; /* from a relayed peer list */
	bool ever_established;
	unsigned failures; /* attempts since the last session */
	/* Its last advert as received (bounded), kept so that entries refused
	 * because another node held them can be reconsidered when it leaves. */
	struct prefix advert[RIB_MAX_SUBNETS_PER_NODE];
	unsigned n_advert;
	bool advert_explicit;
	bool advert_deferred;
};

/* Token bucket: rate per second, burst of one second's worth. */
struct bucket {
	double tokens;
	uint64_t last_ms;
};

struct source_slot {
	uint32_t addr;
	bool used;
	unsigned pending;
	struct bucket bucket;
	uint64_t last_log_ms;
};

struct peer_mgr {
	struct event_base *base;
	struct peer_mgr_config config;
	struct endpoint *seeds;
	struct peer_mgr_ops ops;
	void *arg;
	struct evconnlistener *listener;
	struct listen_guard *guard; /* pauses accepts when they fail (EMFILE) */
	uint16_t port;
	TAILQ_HEAD(, peer) peers;
	unsigned n_peers;
	TAILQ_HEAD(, conn) pending;
	unsigned n_pending;
	TAILQ_HEAD(, conn) dead_conns;
	struct event *reaper;
	struct event *expiry_timer;
	struct event *claim_timer;
	struct rib *rib;
	struct prefix subnet;
	bool subnet_set;
	bool claim_pending;
	bool shutting_down;
	struct kern_route *routes;
	unsigned n_routes;
	uint64_t rng_seed;
	unsigned n_dead; /* peers marked dead, not reaped yet */
	unsigned n_conns;
	struct bucket dial_bucket;
	struct source_slot sources[PEER_SOURCE_SLOTS];
	uint64_t last_refuse_log_ms;
	bool warned_foreign_node_ip; /* logged once: dials cannot leave from it */
	struct peer_security_stats stats;
	struct prefix *local; /* host prefixes + our subnet, for the RIB */
};

static void peer_fsm(struct peer *peer, enum peer_event event);
static void conn_close(struct conn *conn);
static void send_advert(struct peer *peer);
static void reconsider_deferred(struct peer_mgr *mgr);
static void peer_delete(struct peer *peer);

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct timeval tv_ms(uint64_t ms)
{
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000),
			     .tv_usec = (suseconds_t)(ms % 1000) * 1000};

	return tv;
}

static void timer_arm(struct event *ev, uint64_t ms)
{
	struct timeval tv = tv_ms(ms);

	evtimer_add(ev, &tv);
}

/* Takes a token when one is there (0), else says how long until one is
 * (ms, at least 1). */
static uint64_t bucket_take(struct bucket *b, uint32_t rate, uint64_t now)
{
	double burst = rate ? rate : 1;

	if (b->last_ms == 0) {
		b->tokens = burst;
	} else if (now > b->last_ms) {
		b->tokens += (double)(now - b->last_ms) * rate / 1000.0;
		if (b->tokens > burst)
			b->tokens = burst;
	}
	b->last_ms = now;
	if (b->tokens >= 1) {
		b->tokens -= 1;
		return 0;
	}
	return (uint64_t)((1 - b->tokens) * 1000.0 / (rate ? rate : 1)) + 1;
}

const char *peer_state_name(enum peer_state state)
{
	switch (state) {
	case PEER_IDLE:
		return "idle";
	case PEER_CONNECT:
		return "connect";
	case PEER_OPENSENT:
		return "opensent";
	case PEER_ESTABLISHED:
		return "established";
	}
	return "?";
}

/* "192.168.1.6:7470 (1a2b3c4d)" for logs. */
static const char *peer_name(const struct peer *peer, char *buf, size_t size)
{
	char ep[ENDPOINT_STRLEN], id[NODE_ID_STRLEN];

	if (peer->id_known)
		snprintf(buf, size, "%s (%.8s)", addr_format_endpoint(&peer->endpoint, ep),
			 node_id_format(peer->node_id, id));
	else
		snprintf(buf, size, "%s", addr_format_endpoint(&peer->endpoint, ep));
	return buf;
}

/* ---- routes ---- */

static void routes_update(struct peer_mgr *mgr)
{
	struct kern_route *routes;
	unsigned n;

	reconsider_deferred(mgr);
	n = rib_routes(mgr->rib, mgr->subnet_set ? &mgr->subnet : NULL, &routes);

	if (n == mgr->n_routes &&
	    (n == 0 || memcmp(routes, mgr->routes, n * sizeof(*routes)) == 0)) {
		free(routes);
		return;
	}
	free(mgr->routes);
	mgr->routes = routes;
	mgr->n_routes = n;
	if (mgr->ops.routes_changed && !mgr->shutting_down)
		mgr->ops.routes_changed(mgr->arg);
}

static void expiry_schedule(struct peer_mgr *mgr)
{
	uint64_t next, now = now_ms();

	rib_expire(mgr->rib, now, mgr->config.restart_time_ms, &next);
	evtimer_del(mgr->expiry_timer);
	if (next)
		timer_arm(mgr->expiry_timer, next > now ? next - now : 0);
}

static void expiry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct peer_mgr *mgr = arg;

	(void)fd;
	(void)what;
	expiry_schedule(mgr);
	routes_update(mgr);
}

/* ---- peers: lookup, creation, reaping ---- */

static struct peer *find_by_id(struct peer_mgr *mgr, const uint8_t *id)
{
	struct peer *peer;

	TAILQ_FOREACH(peer, &mgr->peers, entry)
	if (!peer->dead && peer->id_known && node_id_cmp(peer->node_id, id) == 0)
		return peer;
	return NULL;
}

static struct peer *find_by_endpoint(struct peer_mgr *mgr, uint32_t addr, uint16_t port)
{
	struct peer *peer;

	TAILQ_FOREACH(peer, &mgr->peers, entry)
	if (!peer->dead && peer->endpoint.addr == addr && peer->endpoint.port == port)
		return peer;
	return NULL;
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	peer_fsm(arg, PEER_EV_RETRY_TIMER);
}

static void handshake_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	peer_fsm(arg, PEER_EV_HANDSHAKE_TIMER);
}

static void hold_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	peer_fsm(arg, PEER_EV_HOLD_TIMER);
}

static void keepalive_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	peer_fsm(arg, PEER_EV_KEEPALIVE_TIMER);
}

static bool is_self_endpoint(const struct peer_mgr *mgr, uint32_t addr, uint16_t port)
{
	return addr == mgr->config.node_ip && port == mgr->port;
}

/* A learned peer that has never had a session and is not in one now: the
 * first to go when a node that did connect needs its place. */
static struct peer *eviction_victim(struct peer_mgr *mgr)
{
	struct peer *p, *victim = NULL;

	TAILQ_FOREACH(p, &mgr->peers, entry)
	{
		if (p->dead || !p->learned || p->seed || p->ever_established || p->incoming ||
		    p->state == PEER_ESTABLISHED)
			continue;
		if (!victim || p->failures > victim->failures)
			victim = p;
	}
	return victim;
}

/* may_evict: the peer is a node that has connected to us (not a rumour),
 * worth more than a learned address nobody has reached. */
static struct peer *peer_new(struct peer_mgr *mgr, const struct endpoint *endpoint, bool may_evict)
{
	struct peer *peer;

	if (mgr->n_peers - mgr->n_dead >= mgr->config.max_peers) {
		struct peer *victim = may_evict ? eviction_victim(mgr) : NULL;
		char name[64];

		if (!victim) {
			mgr->stats.peers_refused++;
			return NULL;
		}
		log_info("forgetting learned peer %s (never reached) to make room",
			 peer_name(victim, name, sizeof(name)));
		mgr->stats.peers_evicted++;
		peer_delete(victim);
	}
	peer = xcalloc(1, sizeof(*peer));
	peer->mgr = mgr;
	peer->state = PEER_IDLE;
	peer->endpoint = *endpoint;
	backoff_init(&peer->backoff, mgr->config.connect_retry_min_ms,
		     mgr->config.connect_retry_max_ms,
		     mgr->rng_seed + mgr->n_peers * 7919 + endpoint->addr);
	peer->retry_timer = evtimer_new(mgr->base, retry_cb, peer);
	peer->handshake_timer = evtimer_new(mgr->base, handshake_cb, peer);
	peer->hold_timer = evtimer_new(mgr->base, hold_cb, peer);
	peer->keepalive_timer = event_new(mgr->base, -1, EV_PERSIST, keepalive_cb, peer);
	if (!peer->retry_timer || !peer->handshake_timer || !peer->hold_timer ||
	    !peer->keepalive_timer)
		fatal("out of memory creating peer timers");
	TAILQ_INSERT_TAIL(&mgr->peers, peer, entry);
	mgr->n_peers++;
	return peer;
}

static void peer_free(struct peer *peer)
{
	if (!peer)
		return;
	if (peer->conn)
		conn_close(peer->conn);
	if (peer->incoming)
		conn_close(peer->incoming);
	event_free(peer->retry_timer);
	event_free(peer->handshake_timer);
	event_free(peer->hold_timer);
	event_free(peer->keepalive_timer);
	free(peer);
}

static void reaper_cb(evutil_socket_t fd, short what, void *arg)
{
	struct peer_mgr *mgr = arg;
	struct peer *peer, *next;
	struct conn *conn;

	(void)fd;
	(void)what;
	for (peer = TAILQ_FIRST(&mgr->peers); peer; peer = next) {
		next = TAILQ_NEXT(peer, entry);
		if (!peer->dead)
			continue;
		TAILQ_REMOVE(&mgr->peers, peer, entry);
		mgr->n_peers--;
		mgr->n_dead--;
		peer_free(peer);
	}
	while ((conn = TAILQ_FIRST(&mgr->dead_conns))) {
		TAILQ_REMOVE(&mgr->dead_conns, conn, entry);
		free(conn);
	}
}

static void schedule_reap(struct peer_mgr *mgr)
{
	event_active(mgr->reaper, EV_TIMEOUT, 0);
}

/* The peer goes away for good (left, duplicate, ourselves). */
static void peer_delete(struct peer *peer)
{
	peer_fsm(peer, PEER_EV_STOP);
	if (!peer->dead)
		peer->mgr->n_dead++;
	peer->dead = true;
	evtimer_del(peer->retry_timer);
	schedule_reap(peer->mgr);
}

/* ---- connections ---- */

/* The slot of a source address; with create, a free or idle one is taken
 * over (NULL when every slot has pending connections). */
static struct source_slot *source_slot(struct peer_mgr *mgr, uint32_t addr, bool create)
{
	struct source_slot *free_slot = NULL, *idle = NULL;

	for (unsigned i = 0; i < PEER_SOURCE_SLOTS; i++) {
		struct source_slot *s = &mgr->sources[i];

		if (s->used && s->addr == addr)
			return s;
		if (!s->used && !free_slot)
			free_slot = s;
		if (s->used && s->pending == 0 &&
		    (!idle || s->bucket.last_ms < idle->bucket.last_ms))
			idle = s;
	}
	if (!create)
		return NULL;
	if (!free_slot)
		free_slot = idle;
	if (free_slot) {
		memset(free_slot, 0, sizeof(*free_slot));
		free_slot->used = true;
		free_slot->addr = addr;
	}
	return free_slot;
}

/* The connection is no longer an unidentified one of its source. */
static void source_pending_done(struct conn *conn)
{
	struct source_slot *slot;

	if (!conn->pending_counted)
		return;
	conn->pending_counted = false;
	slot = source_slot(conn->mgr, conn->source, false);
	if (slot && slot->pending)
		slot->pending--;
}

static void conn_close(struct conn *conn)
{
	struct peer_mgr *mgr = conn->mgr;

	if (!conn->bev)
		return;
	bufferevent_free(conn->bev);
	conn->bev = NULL;
	mgr->n_conns--;
	source_pending_done(conn);
	if (conn->handshake_timer) {
		event_free(conn->handshake_timer);
		conn->handshake_timer = NULL;
	}
	if (!conn->peer) {
		TAILQ_REMOVE(&mgr->pending, conn, entry);
		mgr->n_pending--;
	} else {
		if (conn->peer->conn == conn)
			conn->peer->conn = NULL;
		if (conn->peer->incoming == conn)
			conn->peer->incoming = NULL;
		conn->peer = NULL;
	}
	TAILQ_INSERT_TAIL(&mgr->dead_conns, conn, entry);
	schedule_reap(mgr);
}

static int conn_send(struct conn *conn, const NsaPeer__Envelope *env)
{
	struct evbuffer *out;
	int ret;

	if (!conn || !conn->bev)
		return -ENOTCONN;
	out = bufferevent_get_output(conn->bev);
	if (evbuffer_get_length(out) > PEER_MAX_OUTPUT)
		return -ENOBUFS;
	ret = wire_write(out, env);
	if (ret < 0)
		log_warn("cannot send to %s: %s", conn->remote, strerror(-ret));
	return ret;
}

static void send_hello(struct conn *conn)
{
	struct peer_mgr *mgr = conn->mgr;
	NsaPeer__Envelope env = NSA_PEER__ENVELOPE__INIT;
	NsaPeer__Hello hello = NSA_PEER__HELLO__INIT;

	hello.version = PEER_PROTOCOL_VERSION;
	hello.node_id.data = mgr->config.node_id;
	hello.node_id.len = NODE_ID_LEN;
	hello.node_ip = mgr->config.node_ip;
	hello.listen_port = mgr->port;
	hello.keepalive_ms = mgr->config.keepalive_ms;
	hello.hold_ms = mgr->config.hold_time_ms;
	env.msg_case = NSA_PEER__ENVELOPE__MSG_HELLO;
	env.hello = &hello;
	conn_send(conn, &env);
}

static void send_simple(struct conn *conn, NsaPeer__Envelope__MsgCase which)
{
	NsaPeer__Envelope env = NSA_PEER__ENVELOPE__INIT;
	NsaPeer__Keepalive keepalive = NSA_PEER__KEEPALIVE__INIT;
	NsaPeer__EndOfAdverts eoa = NSA_PEER__END_OF_ADVERTS__INIT;

	env.msg_case = which;
	if (which == NSA_PEER__ENVELOPE__MSG_KEEPALIVE)
		env.keepalive = &keepalive;
	else
		env.end_of_adverts = &eoa;
	conn_send(conn, &env);
}

static void send_goodbye(struct conn *conn, enum peer_goodbye reason)
{
	NsaPeer__Envelope env = NSA_PEER__ENVELOPE__INIT;
	NsaPeer__Goodbye bye = NSA_PEER__GOODBYE__INIT;

	bye.reason = reason == PEER_GOODBYE_LEAVE ? NSA_PEER__GOODBYE__REASON__LEAVE
						  : NSA_PEER__GOODBYE__REASON__RESTART;
	env.msg_case = NSA_PEER__ENVELOPE__MSG_GOODBYE;
	env.goodbye = &bye;
	conn_send(conn, &env);
}

static void send_advert(struct peer *peer)
{
	struct peer_mgr *mgr = peer->mgr;
	NsaPeer__Envelope env = NSA_PEER__ENVELOPE__INIT;
	NsaPeer__Advert advert = NSA_PEER__ADVERT__INIT;
	NsaPeer__Prefix prefix = NSA_PEER__PREFIX__INIT;
	NsaPeer__Prefix *prefixes[1] = {&prefix};

	if (mgr->subnet_set) {
		prefix.addr = mgr->subnet.addr;
		prefix.len = mgr->subnet.len;
		advert.subnets = prefixes;
		advert.n_subnets = 1;
		advert.explicit_subnet = mgr->config.subnet_explicit;
	}
	if (mgr->config.vtep) {
		advert.vtep_addr = mgr->config.vtep;
		advert.vtep_mac.data = mgr->config.vtep_mac;
		advert.vtep_mac.len = KERN_MAC_LEN;
	}
	env.msg_case = NSA_PEER__ENVELOPE__MSG_ADVERT;
	env.advert = &advert;
	conn_send(peer->conn, &env);
}

/* Peer exchange: the established peers other than `to` (or only `only`). */
static void send_peer_list(struct peer *to, struct peer *only)
{
	struct peer_mgr *mgr = to->mgr;
	NsaPeer__Envelope env = NSA_PEER__ENVELOPE__INIT;
	NsaPeer__PeerList list = NSA_PEER__PEER_LIST__INIT;
	NsaPeer__PeerInfo *infos = xcalloc(PEER_MAX_PEERS, sizeof(*infos));
	NsaPeer__PeerInfo **ptrs = xcalloc(PEER_MAX_PEERS, sizeof(*ptrs));
	NsaPeer__Prefix *hints = xcalloc(PEER_MAX_PEERS, sizeof(*hints));
	struct peer *p;
	unsigned n = 0;

	TAILQ_FOREACH(p, &mgr->peers, entry)
	{
		if (p == to || p->dead || p->state != PEER_ESTABLISHED || (only && p != only))
			continue;
		if (n == PEER_MAX_PEERS)
			break;
		nsa_peer__peer_info__init(&infos[n]);
		infos[n].node_id.data = p->node_id;
		infos[n].node_id.len = NODE_ID_LEN;
		infos[n].addr = p->endpoint.addr;
		infos[n].port = p->endpoint.port;
		if (p->subnet_known) {
			nsa_peer__prefix__init(&hints[n]);
			hints[n].addr = p->subnet.addr;
			hints[n].len = p->subnet.len;
			infos[n].subnet_hint = &hints[n];
		}
		ptrs[n] = &infos[n];
		n++;
	}
	if (n || !only) {
		list.peers = ptrs;
		list.n_peers = n;
		env.msg_case = NSA_PEER__ENVELOPE__MSG_PEER_LIST;
		env.peer_list = &list;
		conn_send(to->conn, &env);
	}
	free(hints);
	free(ptrs);
	free(infos);
}

/* ---- subnet claim ---- */

static unsigned collect_taken(struct peer_mgr *mgr, struct prefix **out)
{
	unsigned n_entries, n = 0;
	const struct rib_entry *entries = rib_entries(mgr->rib, &n_entries);
	struct prefix *taken = xcalloc(n_entries + 2 * mgr->n_peers + 1, sizeof(*taken));
	struct peer *p;

	for (unsigned i = 0; i < n_entries; i++)
		taken[n++] = entries[i].subnet;
	TAILQ_FOREACH(p, &mgr->peers, entry)
	{
		if (p->subnet_known)
			taken[n++] = p->subnet;
		if (p->hint_known)
			taken[n++] = p->hint;
	}
	*out = taken;
	return n;
}

static void broadcast_advert(struct peer_mgr *mgr)
{
	struct peer *p;

	TAILQ_FOREACH(p, &mgr->peers, entry)
	if (p->state == PEER_ESTABLISHED) {
		send_advert(p);
		send_simple(p->conn, NSA_PEER__ENVELOPE__MSG_END_OF_ADVERTS);
	}
}

/* The RIB refuses adverts over this host's networks and our own subnet. */
static void update_rib_local(struct peer_mgr *mgr)
{
	unsigned n = mgr->config.n_local_prefixes;

	if (mgr->subnet_set)
		mgr->local[n++] = mgr->subnet;
	rib_set_local(mgr->rib, mgr->local, n);
}

/* A state save that failed (persist_write logged the step and counted it)
 * loses only what a restart would have remembered: the session and the
 * routes carry on, and the operator learns what was lost. */
static void log_unsaved(const struct peer_mgr *mgr, int ret, const char *what, const char *object,
			const char *consequence)
{
	if (ret < 0)
		log_error("cannot save %s %s in %s: %s; %s", what, object, mgr->config.state->path,
			  strerror(-ret), consequence);
}

static void set_subnet(struct peer_mgr *mgr, const struct prefix *subnet, const char *why)
{
	char buf[PREFIX_STRLEN];

	mgr->subnet = *subnet;
	mgr->subnet_set = true;
	update_rib_local(mgr);
	mgr->claim_pending = false;
	evtimer_del(mgr->claim_timer);
	log_info("node subnet %s (%s)", addr_format_prefix(subnet, buf), why);
	if (mgr->config.state && !mgr->config.subnet_explicit)
		log_unsaved(mgr, state_set_subnet(mgr->config.state, subnet), "subnet lease", buf,
			    "a restart may claim another subnet");
	if (mgr->ops.subnet_claimed && !mgr->shutting_down)
		mgr->ops.subnet_claimed(mgr->arg, subnet);
	broadcast_advert(mgr);
	routes_update(mgr);
}

/* avoid: a subnet we must not keep (we lost it in a conflict), or NULL. */
static void claim_now(struct peer_mgr *mgr, const struct prefix *avoid, const char *why)
{
	struct prefix *taken, chosen;
	const struct prefix *preferred = NULL;
	unsigned n = collect_taken(mgr, &taken);
	int ret;

	if (avoid)
		taken[n++] = *avoid;
	else if (mgr->config.lease_set)
		preferred = &mgr->config.lease;
	ret = claim_pick(&mgr->config.cluster, mgr->config.subnet_len, mgr->config.node_id,
			 preferred, taken, n, &chosen);
	free(taken);
	if (ret < 0) {
		char buf[PREFIX_STRLEN];

		log_error("cannot claim a /%u in cluster range %s: %s", mgr->config.subnet_len,
			  addr_format_prefix(&mgr->config.cluster, buf),
			  ret == -ENOSPC ? "every subnet is taken" : strerror(-ret));
		return;
	}
	set_subnet(mgr, &chosen, why);
}

static void claim_check_ready(struct peer_mgr *mgr)
{
	struct peer *p;

	if (!mgr->claim_pending)
		return;
	TAILQ_FOREACH(p, &mgr->peers, entry)
	if (p->initial && !p->initial_done && !p->dead)
		return;
	claim_now(mgr, NULL, "claimed from the cluster range");
}

static void claim_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct peer_mgr *mgr = arg;

	(void)fd;
	(void)what;
	if (mgr->claim_pending)
		claim_now(mgr, NULL, "claimed from the cluster range; not every seed answered");
}

/* Another node's own advert overlaps our subnet. */
static void check_conflict(struct peer *peer, const struct prefix *theirs, bool theirs_explicit)
{
	struct peer_mgr *mgr = peer->mgr;
	char ours_buf[PREFIX_STRLEN], theirs_buf[PREFIX_STRLEN], name[64];
	struct prefix lost;

	if (!mgr->subnet_set || !addr_prefix_overlaps(&mgr->subnet, theirs))
		return;
	addr_format_prefix(&mgr->subnet, ours_buf);
	addr_format_prefix(theirs, theirs_buf);
	peer_name(peer, name, sizeof(name));
	switch (claim_resolve(mgr->config.node_id, mgr->config.subnet_explicit, peer->node_id,
			      theirs_explicit)) {
	case CLAIM_BOTH_EXPLICIT:
		log_error(
		    "SUBNET CONFLICT: node %s is configured with subnet %s, which overlaps our "
		    "--subnet %s; no route to it is installed until one of the two "
		    "configurations is fixed",
		    name, theirs_buf, ours_buf);
		if (mgr->ops.subnet_conflict)
			mgr->ops.subnet_conflict(mgr->arg, theirs, peer->node_id, peer->node_ip);
		break;
	case CLAIM_KEEP:
		if (mgr->config.subnet_explicit)
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
		lost = mgr->subnet;
		claim_now(mgr, &lost, "re-claimed after a conflict");
		break;
	}
}

/* ---- inbound and outbound connections ---- */

static void conn_read_cb(struct bufferevent *bev, void *arg);
static void conn_event_cb(struct bufferevent *bev, short what, void *arg);

/* Frames are small and each one is complete: send it now. With Nagle a
 * frame queued behind an unacknowledged one waits for the peer's delayed
 * ACK (up to 40 ms), at every hop of peer exchange. */
static void set_nodelay(struct bufferevent *bev)
{
	evutil_socket_t fd = bufferevent_getfd(bev);
	int one = 1;

	if (fd >= 0 && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		log_debug("TCP_NODELAY: %s", strerror(errno));
}

static struct conn *conn_new(struct peer_mgr *mgr, struct bufferevent *bev, bool outbound,
			     const char *remote)
{
	struct conn *conn = xcalloc(1, sizeof(*conn));

	conn->mgr = mgr;
	conn->bev = bev;
	conn->outbound = outbound;
	conn->tls = mgr->config.tls != NULL;
	mgr->n_conns++;
	snprintf(conn->remote, sizeof(conn->remote), "%s", remote);
	bufferevent_setcb(bev, conn_read_cb, NULL, conn_event_cb, conn);
	bufferevent_enable(bev, EV_READ);
	return conn;
}

/* The one place connections get their bufferevent: TLS with a cluster
 * key, plain TCP without. */
static struct bufferevent *conn_bev_new(struct peer_mgr *mgr, evutil_socket_t fd, bool client)
{
	if (mgr->config.tls)
		return tls_bev_new(mgr->config.tls, mgr->base, fd, client);
	return bufferevent_socket_new(mgr->base, fd, BEV_OPT_CLOSE_ON_FREE);
}

/* A socket for a dial, leaving from our node IP when it is an address of
 * this host: the other end takes a keyless peer's node IP only from the
 * address its session comes from (node_ip_matches_source), and on a host
 * with several addresses the kernel could pick another source. A node IP
 * that is not ours (NAT, allowed with a cluster key) leaves the choice to
 * the kernel. Returns the socket or a negative errno. */
static evutil_socket_t dial_socket(struct peer_mgr *mgr)
{
	struct sockaddr_in src = {.sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(mgr->config.node_ip)};
	evutil_socket_t fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1, err;

	if (fd < 0)
		return -errno;
	if (!mgr->config.node_ip)
		return fd;
	/* The port is picked at connect time, per destination, not by bind. */
	if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one)) < 0)
		log_debug("IP_BIND_ADDRESS_NO_PORT: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&src, sizeof(src)) == 0)
		return fd;
	err = errno;
	if (err == EADDRNOTAVAIL) {
		if (!mgr->warned_foreign_node_ip) {
			char buf[ADDR_STRLEN];

			log_warn("node IP %s is not an address of this host: dials leave from "
				 "another address%s",
				 addr_format(mgr->config.node_ip, buf),
				 mgr->config.tls ? ""
						 : ", and peers without a cluster key refuse them");
			mgr->warned_foreign_node_ip = true;
		}
		return fd;
	}
	close(fd);
	return -err;
}

/* Starts our TCP connect; returns 0 or a negative errno. */
static int peer_dial(struct peer *peer)
{
	struct peer_mgr *mgr = peer->mgr;
	struct sockaddr_in sin = {.sin_family = AF_INET};
	struct bufferevent *bev;
	char remote[ENDPOINT_STRLEN];
	evutil_socket_t fd;

	if (mgr->n_conns >= mgr->config.max_connections)
		return -EMFILE;
	fd = dial_socket(mgr);
	if (fd < 0)
		return (int)fd;
	bev = conn_bev_new(mgr, fd, true);
	if (!bev) {
		close(fd);
		return -ENOMEM;
	}
	addr_format_endpoint(&peer->endpoint, remote);
	peer->conn = conn_new(mgr, bev, true, remote);
	peer->conn->peer = peer;
	sin.sin_addr.s_addr = htonl(peer->endpoint.addr);
	sin.sin_port = htons(peer->endpoint.port);
	if (bufferevent_socket_connect(bev, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		int err = errno ? errno : ECONNREFUSED;

		conn_close(peer->conn);
		peer->refused = err == ECONNREFUSED;
		return -err;
	}
	set_nodelay(bev);
	return 0;
}

static void pending_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *conn = arg;

	(void)fd;
	(void)what;
	log_info("connection from %s: no %shello within %u ms, closing", conn->remote,
		 conn->tls && !conn->tls_done ? "TLS handshake and " : "",
		 conn->mgr->config.handshake_timeout_ms);
	conn->mgr->stats.handshake_timeouts++;
	conn_close(conn);
}

/* Why a new connection from addr is refused, or NULL (then *slot is its
 * source slot). */
static const char *accept_refusal(struct peer_mgr *mgr, uint32_t addr, struct source_slot **slot)
{
	*slot = source_slot(mgr, addr, true);
	if (mgr->n_conns >= mgr->config.max_connections)
		return "too many connections (max-connections)";
	if (mgr->n_pending >= PEER_MAX_PENDING)
		return "too many unidentified connections";
	if (!*slot)
		return "too many sources with unidentified connections";
	if ((*slot)->pending >= PEER_MAX_PENDING_PER_SOURCE)
		return "too many unidentified connections from this address";
	if (bucket_take(&(*slot)->bucket, mgr->config.accept_rate, now_ms()))
		return "over the accept rate for this address (accept-rate)";
	return NULL;
}

static void accept_cb(struct evconnlistener *listener, evutil_socket_t fd, struct sockaddr *sa,
		      int socklen, void *arg)
{
	struct peer_mgr *mgr = arg;
	struct source_slot *slot;
	const char *why;
	struct bufferevent *bev;
	struct conn *conn;
	struct endpoint ep = {0};
	char remote[ENDPOINT_STRLEN];

	(void)listener;
	listen_guard_accepted(mgr->guard);
	if (sa->sa_family == AF_INET && socklen >= (int)sizeof(struct sockaddr_in)) {
		ep.addr = ntohl(((struct sockaddr_in *)sa)->sin_addr.s_addr);
		ep.port = ntohs(((struct sockaddr_in *)sa)->sin_port);
	}
	addr_format_endpoint(&ep, remote);
	if (mgr->shutting_down) {
		close(fd);
		return;
	}
	why = accept_refusal(mgr, ep.addr, &slot);
	if (why) {
		uint64_t now = now_ms();
		uint64_t *last = slot ? &slot->last_log_ms : &mgr->last_refuse_log_ms;

		mgr->stats.accepts_refused++;
		/* One line per source per second: a flood must not flood the log. */
		if (now - *last >= 1000 || *last == 0) {
			log_warn("connection from %s refused: %s", remote, why);
			*last = now;
		}
		close(fd);
		return;
	}
	bev = conn_bev_new(mgr, fd, false);
	if (!bev) {
		close(fd);
		return;
	}
	set_nodelay(bev);
	conn = conn_new(mgr, bev, false, remote);
	conn->source = ep.addr;
	conn->pending_counted = true;
	slot->pending++;
	conn->handshake_timer = evtimer_new(mgr->base, pending_timeout_cb, conn);
	if (!conn->handshake_timer)
		fatal("out of memory creating a handshake timer");
	timer_arm(conn->handshake_timer, mgr->config.handshake_timeout_ms);
	TAILQ_INSERT_TAIL(&mgr->pending, conn, entry);
	mgr->n_pending++;
	log_debug("connection from %s", remote);
}

/* Rule: the agent dials, and takes as a node IP (a next hop), only a
 * unicast address outside the cluster range: never 0.0.0.0/8, loopback
 * (127.0.0.0/8), multicast (224.0.0.0/4), reserved (240.0.0.0/4) or the
 * limited broadcast 255.255.255.255, nor an address inside the cluster
 * range (node IPs never are; cfg_validate refuses that). It holds for
 * every source of addresses: seeds, persisted peers, peer lists and
 * hellos, so a relayed list cannot make the agent connect to a service
 * of its own host or to a namespace. Loopback is let through only by
 * config.allow_loopback, the unit-test harness's switch. Returns why addr
 * is refused, as a phrase after it, or NULL. */
static const char *undialable(const struct peer_mgr *mgr, uint32_t addr)
{
	const char *problem = addr_unicast_problem(addr);

	if (problem && !(mgr->config.allow_loopback && addr >> 24 == 127))
		return problem;
	if (addr_prefix_contains_addr(&mgr->config.cluster, addr))
		return "is inside the cluster range";
	return NULL;
}

/* The address at the other end of conn's TCP connection (getpeername):
 * what the kernel saw, not what a hello claims. */
static int conn_peer_addr(const struct conn *conn, uint32_t *addr)
{
	struct sockaddr_in sin = {0};
	socklen_t len = sizeof(sin);
	evutil_socket_t fd = conn->bev ? bufferevent_getfd(conn->bev) : -1;

	if (fd < 0)
		return -ENOTCONN;
	if (getpeername(fd, (struct sockaddr *)&sin, &len) < 0)
		return -errno;
	if (len < sizeof(sin) || sin.sin_family != AF_INET)
		return -EAFNOSUPPORT;
	*addr = ntohl(sin.sin_addr.s_addr);
	return 0;
}

/* Rule: without a cluster key a peer's node IP (the next hop its routes
 * get, the address we dial it at) must be the address its session comes
 * from, so that nobody can point routes at a host it does not hold. With
 * a key every session is authenticated (TLS 1.3, cluster PSK), and a node
 * IP behind NAT or apart from the dialling address is allowed. Returns
 * false, having logged both addresses, when the hello breaks the rule. */
static bool node_ip_matches_source(struct peer_mgr *mgr, struct conn *conn, const char *id,
				   uint32_t node_ip)
{
	char claimed[ADDR_STRLEN], source[ADDR_STRLEN];
	uint32_t remote = 0; /* set when conn_peer_addr succeeds (GCC -O2 cannot see it) */
	int ret;

	if (mgr->config.tls)
		return true;
	ret = conn_peer_addr(conn, &remote);
	if (ret < 0) {
		log_warn("refusing %s (node %s): cannot read the session's source address: %s",
			 conn->remote, id, strerror(-ret));
		return false;
	}
	if (remote == node_ip)
		return true;
	log_warn(
	    "refusing %s (node %s): node IP %s is not the session's source address %s (without "
	    "a cluster key a peer's node IP must be the address it connects from)",
	    conn->remote, id, addr_format(node_ip, claimed), addr_format(remote, source));
	return false;
}

/* Checks a hello; on refusal logs why and returns false. */
static bool hello_check(struct peer_mgr *mgr, struct conn *conn, const NsaPeer__Hello *hello,
			struct hello_info *info)
{
	char ip[ADDR_STRLEN], id[NODE_ID_STRLEN];
	const char *problem;
	struct peer *p;

	if (hello->version < 1) {
		log_warn("refusing %s: protocol version %u", conn->remote, hello->version);
		return false;
	}
	if (hello->node_id.len != NODE_ID_LEN || node_id_is_zero(hello->node_id.data)) {
		log_warn("refusing %s: invalid node id", conn->remote);
		return false;
	}
	problem = undialable(mgr, hello->node_ip);
	if (problem) {
		log_warn("refusing %s: invalid node IP %s: it %s", conn->remote,
			 addr_format(hello->node_ip, ip), problem);
		return false;
	}
	if (hello->listen_port == 0 || hello->listen_port > 65535) {
		log_warn("refusing %s: invalid listen port %u", conn->remote, hello->listen_port);
		return false;
	}
	memcpy(info->node_id, hello->node_id.data, NODE_ID_LEN);
	info->node_ip = hello->node_ip;
	info->listen_port = (uint16_t)hello->listen_port;
	info->keepalive_ms = hello->keepalive_ms;
	info->hold_ms = hello->hold_ms;
	node_id_format(info->node_id, id);
	addr_format(info->node_ip, ip);
	if (node_id_cmp(info->node_id, mgr->config.node_id) == 0) {
		log_warn("refusing %s: it presents our own node id %s (a connection to ourselves, "
			 "or a copied state dir)",
			 conn->remote, id);
		return false;
	}
	if (info->node_ip == mgr->config.node_ip) {
		log_warn("refusing %s (node %s): it presents our own node IP %s", conn->remote, id,
			 ip);
		return false;
	}
	if (!node_ip_matches_source(mgr, conn, id, info->node_ip))
		return false;
	TAILQ_FOREACH(p, &mgr->peers, entry)
	{
		char other[NODE_ID_STRLEN];

		if (p->dead || p->state != PEER_ESTABLISHED || p->node_ip != info->node_ip ||
		    node_id_cmp(p->node_id, info->node_id) == 0)
			continue;
		log_warn("refusing %s (node %s): node IP %s already belongs to live peer %s",
			 conn->remote, id, ip, node_id_format(p->node_id, other));
		return false;
	}
	return true;
}

static bool hello_valid(struct peer_mgr *mgr, struct conn *conn, const NsaPeer__Hello *hello,
			struct hello_info *info)
{
	if (hello_check(mgr, conn, hello, info))
		return true;
	mgr->stats.hellos_refused++;
	return false;
}

/* An unidentified inbound connection sent its hello: find or create the
 * peer and let its FSM decide. */
static void inbound_hello(struct conn *conn, const NsaPeer__Hello *hello)
{
	struct peer_mgr *mgr = conn->mgr;
	struct hello_info info;
	struct peer *peer;

	if (!hello_valid(mgr, conn, hello, &info)) {
		conn_close(conn);
		return;
	}
	peer = find_by_id(mgr, info.node_id);
	if (!peer) {
		peer = find_by_endpoint(mgr, info.node_ip, info.listen_port);
		if (peer && peer->id_known && peer->state == PEER_ESTABLISHED)
			peer = NULL; /* that address is another live node's */
	}
	if (!peer) {
		struct endpoint ep = {info.node_ip, info.listen_port};

		peer = peer_new(mgr, &ep, true);
		if (!peer) {
			log_warn("refusing %s: already %u peers (max-peers)", conn->remote,
				 mgr->config.max_peers);
			conn_close(conn);
			return;
		}
	}
	TAILQ_REMOVE(&mgr->pending, conn, entry);
	mgr->n_pending--;
	source_pending_done(conn);
	event_free(conn->handshake_timer);
	conn->handshake_timer = NULL;
	conn->hello = info;
	conn->have_hello = true;
	conn->peer = peer;
	if (peer->incoming)
		conn_close(peer->incoming);
	peer->incoming = conn;
	peer_fsm(peer, PEER_EV_INBOUND_HELLO);
	/* not taken by the FSM: refused */
	if (peer->incoming == conn)
		conn_close(conn);
}

/* Our outbound connection got the answer hello. */
static void outbound_hello(struct peer *peer, const NsaPeer__Hello *hello)
{
	struct peer_mgr *mgr = peer->mgr;
	struct conn *conn = peer->conn;
	struct hello_info info;
	struct peer *other;

	if (!hello_valid(mgr, conn, hello, &info)) {
		bool self = hello->node_id.len == NODE_ID_LEN &&
			    node_id_cmp(hello->node_id.data, mgr->config.node_id) == 0;
		/* Without a key the address we dialled must be the node IP it
		 * answers with (node_ip_matches_source); one that is not (a
		 * node's second address, relayed or persisted) never will be. */
		bool elsewhere = !mgr->config.tls && hello->node_ip != peer->endpoint.addr;

		peer_fsm(peer, PEER_EV_PROTOCOL_ERROR);
		/* We dialled ourselves (an address of ours learned or
		 * persisted), or an address that is not its node's node IP:
		 * never again, unless the operator named it. */
		if ((self || elsewhere) && !peer->seed)
			peer_delete(peer);
		return;
	}
	other = find_by_id(mgr, info.node_id);
	if (other && other != peer) {
		char name[64];

		/* The same node under a second address: one peer is enough. */
		if (other->state == PEER_ESTABLISHED) {
			log_info("%s is node %.8s, already connected as %s; dropping the duplicate",
				 conn->remote,
				 node_id_format(info.node_id, (char[NODE_ID_STRLEN]){0}),
				 peer_name(other, name, sizeof(name)));
			peer_delete(peer);
			return;
		}
		peer_delete(other);
	}
	conn->hello = info;
	conn->have_hello = true;
	peer_fsm(peer, PEER_EV_HELLO_RECEIVED);
}

/* ---- messages of an established session ---- */

static void learn_peers(struct peer *from, const NsaPeer__PeerList *list)
{
	struct peer_mgr *mgr = from->mgr;

	char from_name[64];
	unsigned refused = 0, undialable_n = 0;

	peer_name(from, from_name, sizeof(from_name));
	for (size_t i = 0; i < list->n_peers && i < PEER_MAX_PEERS; i++) {
		const NsaPeer__PeerInfo *info = list->peers[i];
		const char *problem;
		struct endpoint ep;
		struct peer *p;

		if (info->node_id.len != NODE_ID_LEN || node_id_is_zero(info->node_id.data) ||
		    node_id_cmp(info->node_id.data, mgr->config.node_id) == 0 || info->port == 0 ||
		    info->port > 65535 || is_self_endpoint(mgr, info->addr, (uint16_t)info->port))
			continue;
		problem = undialable(mgr, info->addr);
		if (problem) {
			char buf[ADDR_STRLEN];

			if (undialable_n++ < PEER_REJECT_LOG_MAX)
				log_warn("peer %s: relayed peer %s ignored: it %s", from_name,
					 addr_format(info->addr, buf), problem);
			continue;
		}
		ep.addr = info->addr;
		ep.port = (uint16_t)info->port;
		p = find_by_id(mgr, info->node_id.data);
		if (!p)
			p = find_by_endpoint(mgr, ep.addr, ep.port);
		if (!p) {
			char buf[ENDPOINT_STRLEN];

			p = peer_new(mgr, &ep, false);
			if (!p) {
				refused++;
				continue;
			}
			memcpy(p->node_id, info->node_id.data, NODE_ID_LEN);
			p->id_known = true;
			p->learned = true;
			log_info("learned peer %s from %s", addr_format_endpoint(&ep, buf),
				 from->conn ? from->conn->remote : "?");
			peer_fsm(p, PEER_EV_START);
		}
		/* A hint only steers our claim, and like an advert (src/rib.c)
		 * it is one node subnet: a shorter one (two /17s cover the
		 * cluster) would make every subnet look taken, a longer one
		 * would block a subnet nobody holds; both are ignored. */
		if (info->subnet_hint && info->subnet_hint->len == mgr->config.subnet_len) {
			struct prefix hint = {info->subnet_hint->addr &
						  addr_mask((uint8_t)info->subnet_hint->len),
					      (uint8_t)info->subnet_hint->len};

			if (addr_prefix_contains(&mgr->config.cluster, &hint)) {
				p->hint = hint;
				p->hint_known = true;
			}
		}
	}
	if (undialable_n > PEER_REJECT_LOG_MAX)
		log_warn("peer %s: %u more relayed peers ignored: not dialable", from_name,
			 undialable_n - PEER_REJECT_LOG_MAX);
	if (refused)
		log_warn("peer %s: %u relayed peer(s) ignored: already %u known peers (max-peers)",
			 from_name, refused, mgr->config.max_peers);
}

/* Feeds the peer's stored advert to the RIB. With report, every rejected
 * entry is counted and logged; a reconsideration only says what it now
 * accepts. Returns how many entries are accepted. */
static unsigned apply_advert(struct peer *peer, bool report)
{
	struct peer_mgr *mgr = peer->mgr;
	enum rib_verdict verdicts[RIB_MAX_SUBNETS_PER_NODE];
	bool was_deferred = peer->advert_deferred;
	unsigned accepted = 0, logged = 0;
	char name[64], buf[PREFIX_STRLEN], length_want[16];

	snprintf(length_want, sizeof(length_want), " (/%u)", mgr->config.subnet_len);

	rib_advert_checked(mgr->rib, peer->node_id, peer->node_ip, peer->advert, peer->n_advert,
			   peer->advert_explicit, verdicts);
	/* Entries new to the RIB (a reconsideration) take the node's data path. */
	if (peer->mode_known)
		rib_set_path(mgr->rib, peer->node_id, peer->mode, peer->vtep, peer->vtep_mac);
	peer_name(peer, name, sizeof(name));
	peer->advert_deferred = false;
	peer->subnet_known = false;
	for (unsigned k = 0; k < peer->n_advert; k++) {
		enum rib_verdict v = verdicts[k];

		if (v == RIB_ACCEPTED) {
			if (!peer->subnet_known) {
				peer->subnet = peer->advert[k];
				peer->subnet_known = true;
				peer->subnet_explicit = peer->advert_explicit;
			}
			if (!report && was_deferred)
				log_info("peer %s: subnet %s accepted now that it is free", name,
					 addr_format_prefix(&peer->advert[k], buf));
			accepted++;
			continue;
		}
		/* Held by another node or by us: may become free later. */
		if (v == RIB_REJECT_OWNED || v == RIB_REJECT_LOCAL)
			peer->advert_deferred = true;
		if (!report)
			continue;
		mgr->stats.rejected[v]++;
		if (logged++ < PEER_REJECT_LOG_MAX)
			log_warn("peer %s: advertised subnet %s rejected: %s%s", name,
				 addr_format_prefix(&peer->advert[k], buf), rib_verdict_name(v),
				 v == RIB_REJECT_LENGTH ? length_want : "");
	}
	if (report && logged > PEER_REJECT_LOG_MAX)
		log_warn("peer %s: %u more advertised subnets rejected", name,
			 logged - PEER_REJECT_LOG_MAX);
	return accepted;
}

/* Entries refused because another node (or we) held them are tried again
 * whenever the RIB may have changed, so that the loser of a claim
 * conflict seen in the wrong order still gets its route once the winner
 * has moved. */
static void reconsider_deferred(struct peer_mgr *mgr)
{
	struct peer *p;

	TAILQ_FOREACH(p, &mgr->peers, entry)
	if (!p->dead && p->advert_deferred && p->state == PEER_ESTABLISHED)
		apply_advert(p, false);
}

/* The VTEP of an advert and the mode it leads to; logged when it changes. */
static void choose_path(struct peer *peer, const NsaPeer__Advert *advert)
{
	struct peer_mgr *mgr = peer->mgr;
	enum kern_mode mode = KERN_MODE_DIRECT;
	char why[160] = "", name[64];
	bool has_vtep = advert->vtep_addr != 0 && advert->vtep_mac.len == KERN_MAC_LEN;

	if (advert->vtep_addr && advert->vtep_mac.len != KERN_MAC_LEN)
		log_warn("peer %s: VTEP MAC of %zu bytes ignored",
			 peer_name(peer, name, sizeof(name)), advert->vtep_mac.len);
	peer->vtep = has_vtep ? advert->vtep_addr : 0;
	memset(peer->vtep_mac, 0, KERN_MAC_LEN);
	if (has_vtep)
		memcpy(peer->vtep_mac, advert->vtep_mac.data, KERN_MAC_LEN);
	if (mgr->ops.choose_mode)
		mode = mgr->ops.choose_mode(mgr->arg, peer->node_ip, has_vtep, why, sizeof(why));
	if (!peer->mode_known || peer->mode != mode)
		log_info("peer %s: mode %s%s%s%s", peer_name(peer, name, sizeof(name)),
			 backend_mode_name(mode), why[0] ? " (" : "", why, why[0] ? ")" : "");
	peer->mode = mode;
	peer->mode_known = true;
	rib_set_path(mgr->rib, peer->node_id, mode, peer->vtep, peer->vtep_mac);
}

static void handle_advert(struct peer *peer, const NsaPeer__Advert *advert)
{
	struct peer_mgr *mgr = peer->mgr;
	unsigned too_many = 0, malformed = 0;
	char name[64];

	peer->n_advert = 0;
	peer->advert_explicit = advert->explicit_subnet;
	for (size_t i = 0; i < advert->n_subnets; i++) {
		const NsaPeer__Prefix *p = advert->subnets[i];

		if (p->len > 32) {
			malformed++;
			continue;
		}
		if (peer->n_advert == RIB_MAX_SUBNETS_PER_NODE) {
			too_many++;
			continue;
		}
		peer->advert[peer->n_advert].addr = p->addr;
		peer->advert[peer->n_advert].len = (uint8_t)p->len;
		peer->n_advert++;
	}
	peer_name(peer, name, sizeof(name));
	if (malformed) {
		mgr->stats.rejected[RIB_REJECT_MALFORMED] += malformed;
		log_warn("peer %s: %u advertised subnet(s) rejected: %s (prefix length over 32)",
			 name, malformed, rib_verdict_name(RIB_REJECT_MALFORMED));
	}
	if (too_many) {
		mgr->stats.rejected[RIB_REJECT_TOO_MANY] += too_many;
		log_warn("peer %s: %u advertised subnet(s) rejected: %s (at most %d per node)",
			 name, too_many, rib_verdict_name(RIB_REJECT_TOO_MANY),
			 RIB_MAX_SUBNETS_PER_NODE);
	}
	apply_advert(peer, true);
	peer->routes_stale = false;
	/* Overlaps with our own subnet are the claim protocol's business,
	 * between node subnets only: a /17 must not make us move. */
	for (unsigned i = 0; i < peer->n_advert; i++) {
		const struct prefix *p = &peer->advert[i];

		if (p->len == mgr->config.subnet_len && (p->addr & ~addr_mask(p->len)) == 0 &&
		    addr_prefix_contains(&mgr->config.cluster, p))
			check_conflict(peer, p, advert->explicit_subnet);
	}
	choose_path(peer, advert);
	routes_update(mgr);
}

static void handle_message(struct peer *peer, const NsaPeer__Envelope *env)
{
	struct peer_mgr *mgr = peer->mgr;
	char name[64];

	switch (env->msg_case) {
	case NSA_PEER__ENVELOPE__MSG_ADVERT:
		handle_advert(peer, env->advert);
		break;
	case NSA_PEER__ENVELOPE__MSG_PEER_LIST:
		learn_peers(peer, env->peer_list);
		break;
	case NSA_PEER__ENVELOPE__MSG_END_OF_ADVERTS:
		rib_end_of_adverts(mgr->rib, peer->node_id);
		expiry_schedule(mgr);
		routes_update(mgr);
		if (peer->initial && !peer->initial_done) {
			peer->initial_done = true;
			claim_check_ready(mgr);
		}
		break;
	case NSA_PEER__ENVELOPE__MSG_KEEPALIVE:
		break;
	case NSA_PEER__ENVELOPE__MSG_GOODBYE:
		peer_fsm(peer, env->goodbye->reason == NSA_PEER__GOODBYE__REASON__LEAVE
				   ? PEER_EV_GOODBYE_LEAVE
				   : PEER_EV_GOODBYE_RESTART);
		break;
	case NSA_PEER__ENVELOPE__MSG_HELLO:
		log_warn("peer %s: hello in an established session",
			 peer_name(peer, name, sizeof(name)));
		peer_fsm(peer, PEER_EV_PROTOCOL_ERROR);
		break;
	default:
		/* A newer peer's message type: tolerated. */
		log_debug("peer %s: ignoring an unknown message",
			  peer_name(peer, name, sizeof(name)));
		break;
	}
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *conn = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	/* No byte of a TLS connection is read before conn_event_cb has
	 * checked its handshake (libevent reports the handshake first; this
	 * holds should that order ever change). */
	if (conn->tls && !conn->tls_done)
		return;
	while (conn->bev) {
		NsaPeer__Envelope *env;
		struct peer *peer = conn->peer;
		int ret = wire_read(in, &env);

		if (ret == 0)
			break;
		if (ret < 0) {
			if (ret == -EMSGSIZE)
				conn->mgr->stats.frames_oversize++;
			else
				conn->mgr->stats.frames_malformed++;
			log_warn("connection %s: %s, closing", conn->remote,
				 ret == -EMSGSIZE ? "frame over the 64 KiB limit"
						  : "malformed frame");
			if (peer && peer->conn == conn)
				peer_fsm(peer, PEER_EV_PROTOCOL_ERROR);
			else
				conn_close(conn);
			break;
		}
		if (!peer) {
			/* unidentified inbound: the first message must be a hello */
			if (env->msg_case == NSA_PEER__ENVELOPE__MSG_HELLO) {
				inbound_hello(conn, env->hello);
			} else {
				log_warn("connection %s: message before hello, closing",
					 conn->remote);
				conn->mgr->stats.frames_malformed++;
				conn_close(conn);
			}
		} else if (peer->conn != conn) {
			conn_close(conn);
		} else {
			peer->last_heard_ms = now_ms();
			if (peer->state == PEER_OPENSENT) {
				if (env->msg_case == NSA_PEER__ENVELOPE__MSG_HELLO) {
					outbound_hello(peer, env->hello);
				} else {
					log_warn("connection %s: message before hello, closing",
						 conn->remote);
					peer_fsm(peer, PEER_EV_PROTOCOL_ERROR);
				}
			} else if (peer->state == PEER_ESTABLISHED) {
				timer_arm(peer->hold_timer, peer->hold_ms);
				handle_message(peer, env);
			}
		}
		wire_free(env);
	}
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *conn = arg;
	struct peer *peer = conn->peer;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		char why[160];

		/* With TLS the handshake is complete; it counts only if it used
		 * the cluster key, whichever side we are. */
		if (conn->tls && tls_bev_authenticated(conn->bev, why, sizeof(why)) < 0) {
			conn->mgr->stats.tls_failures++;
			log_warn("connection %s: TLS handshake refused: %s; closing", conn->remote,
				 why);
			if (peer && peer->conn == conn)
				peer_fsm(peer, PEER_EV_TCP_FAILED);
			else
				conn_close(conn);
			return;
		}
		conn->tls_done = true;
		if (peer && peer->conn == conn)
			peer_fsm(peer, PEER_EV_TCP_CONNECTED);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		int err = EVUTIL_SOCKET_ERROR();
		char tls_err[256];

		if (conn->tls && !conn->tls_done) {
			tls_bev_error(conn->bev, tls_err, sizeof(tls_err));
			conn->mgr->stats.tls_failures++;
			/* A plain-TCP or wrong-key node fails here, before any
			 * of its bytes reach the protocol. */
			log_warn("connection %s: TLS handshake failed (no or another cluster "
				 "key?): %s",
				 conn->remote,
				 tls_err[0]		  ? tls_err
				 : (what & BEV_EVENT_EOF) ? "closed by peer"
							  : evutil_socket_error_to_string(err));
		} else {
			log_debug("connection %s: %s", conn->remote,
				  (what & BEV_EVENT_EOF) ? "closed by peer"
							 : evutil_socket_error_to_string(err));
		}
		if (peer && peer->conn == conn) {
			peer->refused = peer->state == PEER_CONNECT && !(what & BEV_EVENT_EOF) &&
					err == ECONNREFUSED;
			peer_fsm(peer, PEER_EV_TCP_FAILED);
		} else
			conn_close(conn);
	}
}

/* ---- the FSM ---- */

static void session_down(struct peer *peer, bool withdraw)
{
	struct peer_mgr *mgr = peer->mgr;

	if (withdraw) {
		rib_withdraw(mgr->rib, peer->node_id);
		peer->subnet_known = false;
	} else {
		rib_session_down(mgr->rib, peer->node_id, now_ms());
		peer->routes_stale = peer->subnet_known;
		expiry_schedule(mgr);
		if (peer->routes_stale) {
			char name[64], buf[PREFIX_STRLEN];

			log_info("peer %s: session lost, route to %s kept as stale for up to %u ms",
				 peer_name(peer, name, sizeof(name)),
				 addr_format_prefix(&peer->subnet, buf),
				 mgr->config.restart_time_ms);
		}
	}
	routes_update(mgr);
}

/* After a refused dial, the wait before the next one: doubling from
 * PEER_REFUSED_RETRY_MS while that stays below the backoff's minimum;
 * 0 when the backoff applies. A quick redial is not counted as a failure
 * (PEER_LEARNED_MAX_FAILURES): the node is there, starting. */
static uint32_t refused_delay(struct peer *peer)
{
	uint32_t quick;

	if (!peer->refused || peer->refused_tries >= 16)
		return 0;
	quick = PEER_REFUSED_RETRY_MS << peer->refused_tries;
	if (quick >= peer->mgr->config.connect_retry_min_ms)
		return 0;
	peer->refused_tries++;
	return quick;
}

static void change_state(struct peer *peer, enum peer_state next, enum peer_event event)
{
	struct peer_mgr *mgr = peer->mgr;
	enum peer_state prev = peer->state;
	char name[64];
	uint32_t quick;

	peer->state = next;
	if (prev != next)
		log_info("peer %s: %s -> %s (%s)", peer_name(peer, name, sizeof(name)),
			 peer_state_name(prev), peer_state_name(next), event_names[event]);

	if (prev == PEER_ESTABLISHED && next != PEER_ESTABLISHED) {
		evtimer_del(peer->hold_timer);
		evtimer_del(peer->keepalive_timer);
		peer->established_ms = 0;
	}
	if (next != PEER_OPENSENT && next != PEER_CONNECT)
		evtimer_del(peer->handshake_timer);

	switch (next) {
	case PEER_IDLE:
		if (peer->conn)
			conn_close(peer->conn);
		if (peer->initial && !peer->initial_done) {
			peer->initial_done = true;
			claim_check_ready(mgr);
		}
		quick = refused_delay(peer);
		peer->refused = false;
		if (prev != PEER_IDLE && prev != PEER_ESTABLISHED && !quick)
			peer->failures++;
		/* An address someone relayed that never answers is forgotten, so
		 * a poisoned peer list ages out instead of being dialled forever. */
		if (peer->learned && !peer->ever_established && !peer->dead &&
		    peer->failures >= PEER_LEARNED_MAX_FAILURES && event != PEER_EV_STOP) {
			log_info("forgetting learned peer %s: not reached in %u attempts",
				 peer_name(peer, name, sizeof(name)), peer->failures);
			mgr->stats.peers_evicted++;
			peer_delete(peer);
			break;
		}
		if (!mgr->shutting_down && !peer->dead && event != PEER_EV_STOP)
			timer_arm(peer->retry_timer, quick ? quick : backoff_next(&peer->backoff));
		break;
	case PEER_CONNECT:
		/* Bounds a connect (and with TLS its handshake) to a host that
		 * accepts and then says nothing. */
		timer_arm(peer->handshake_timer, mgr->config.handshake_timeout_ms);
		break;
	case PEER_OPENSENT:
		timer_arm(peer->handshake_timer, mgr->config.handshake_timeout_ms);
		break;
	case PEER_ESTABLISHED: {
		struct hello_info *h = &peer->conn->hello;
		struct peer *p;

		evtimer_del(peer->retry_timer);
		backoff_reset(&peer->backoff);
		peer->refused_tries = 0;
		peer->ever_established = true;
		peer->failures = 0;
		memcpy(peer->node_id, h->node_id, NODE_ID_LEN);
		peer->id_known = true;
		peer->node_ip = h->node_ip;
		peer->endpoint.addr = h->node_ip;
		peer->endpoint.port = h->listen_port;
		peer->hold_ms = mgr->config.hold_time_ms;
		if (h->hold_ms && h->hold_ms < peer->hold_ms)
			peer->hold_ms =
			    h->hold_ms < PEER_MIN_HOLD_MS ? PEER_MIN_HOLD_MS : h->hold_ms;
		peer->keepalive_ms = mgr->config.keepalive_ms;
		if (peer->keepalive_ms > peer->hold_ms / 3)
			peer->keepalive_ms = peer->hold_ms / 3 ? peer->hold_ms / 3 : 1;
		peer->established_ms = now_ms();
		peer->last_heard_ms = peer->established_ms;
		timer_arm(peer->hold_timer, peer->hold_ms);
		timer_arm(peer->keepalive_timer, peer->keepalive_ms);
		if (mgr->config.state) {
			char ep[ENDPOINT_STRLEN];

			log_unsaved(mgr, state_add_peer(mgr->config.state, &peer->endpoint),
				    "learned peer", addr_format_endpoint(&peer->endpoint, ep),
				    "a restart will not dial it");
		}
		send_advert(peer);
		send_peer_list(peer, NULL);
		send_simple(peer->conn, NSA_PEER__ENVELOPE__MSG_END_OF_ADVERTS);
		/* Tell everyone else about the newcomer so the mesh closes
		 * even when sessions come up in an unlucky order. */
		TAILQ_FOREACH(p, &mgr->peers, entry)
		if (p != peer && p->state == PEER_ESTABLISHED)
			send_peer_list(p, peer);
		break;
	}
	}
}

/* Take the identified inbound connection as the session. */
static void accept_incoming(struct peer *peer, enum peer_event event)
{
	if (peer->conn)
		conn_close(peer->conn);
	peer->conn = peer->incoming;
	peer->incoming = NULL;
	send_hello(peer->conn);
	change_state(peer, PEER_ESTABLISHED, event);
}

/* RFC 4271 6.8: of two connections between the same nodes, keep the one
 * initiated by the higher node id. */
static bool incoming_wins(const struct peer *peer)
{
	return node_id_cmp(peer->incoming->hello.node_id, peer->mgr->config.node_id) > 0;
}

static void peer_fsm(struct peer *peer, enum peer_event event)
{
	struct peer_mgr *mgr = peer->mgr;
	char name[64];
	uint64_t wait;
	int ret;

	switch (peer->state) {
	case PEER_IDLE:
		switch (event) {
		case PEER_EV_START:
		case PEER_EV_RETRY_TIMER:
			if (mgr->shutting_down || peer->dead)
				break;
			evtimer_del(peer->retry_timer);
			wait = bucket_take(&mgr->dial_bucket, mgr->config.dial_rate, now_ms());
			if (wait) {
				/* Over the dial rate: try again when a token is due,
				 * spread a little so waiting peers do not bunch up. */
				mgr->stats.dials_deferred++;
				timer_arm(peer->retry_timer, wait + (mgr->rng_seed++ % 50));
				break;
			}
			mgr->stats.dials++;
			ret = peer_dial(peer);
			if (ret < 0) {
				log_info("peer %s: cannot connect: %s",
					 peer_name(peer, name, sizeof(name)), strerror(-ret));
				change_state(peer, PEER_IDLE, PEER_EV_TCP_FAILED);
				break;
			}
			change_state(peer, PEER_CONNECT, event);
			break;
		case PEER_EV_INBOUND_HELLO:
			evtimer_del(peer->retry_timer);
			accept_incoming(peer, event);
			break;
		default:
			break;
		}
		break;

	case PEER_CONNECT:
		switch (event) {
		case PEER_EV_TCP_CONNECTED:
			send_hello(peer->conn);
			change_state(peer, PEER_OPENSENT, event);
			break;
		case PEER_EV_TCP_FAILED:
		case PEER_EV_PROTOCOL_ERROR:
		case PEER_EV_HANDSHAKE_TIMER:
			change_state(peer, PEER_IDLE, event);
			break;
		case PEER_EV_INBOUND_HELLO:
			/* Our connect has not even completed: theirs is further. */
			accept_incoming(peer, event);
			break;
		case PEER_EV_STOP:
			change_state(peer, PEER_IDLE, event);
			break;
		default:
			break;
		}
		break;

	case PEER_OPENSENT:
		switch (event) {
		case PEER_EV_HELLO_RECEIVED:
			change_state(peer, PEER_ESTABLISHED, event);
			break;
		case PEER_EV_INBOUND_HELLO:
			if (incoming_wins(peer)) {
				log_info(
				    "peer %s: connection collision, keeping the one it initiated "
				    "(higher node id)",
				    peer_name(peer, name, sizeof(name)));
				accept_incoming(peer, event);
			} else {
				log_info(
				    "peer %s: connection collision, keeping ours (higher node id)",
				    peer_name(peer, name, sizeof(name)));
			}
			break;
		case PEER_EV_TCP_FAILED:
		case PEER_EV_HANDSHAKE_TIMER:
		case PEER_EV_PROTOCOL_ERROR:
		case PEER_EV_STOP:
			change_state(peer, PEER_IDLE, event);
			break;
		default:
			break;
		}
		break;

	case PEER_ESTABLISHED:
		switch (event) {
		case PEER_EV_KEEPALIVE_TIMER:
			send_simple(peer->conn, NSA_PEER__ENVELOPE__MSG_KEEPALIVE);
			if (bufferevent_get_output(peer->conn->bev) &&
			    evbuffer_get_length(bufferevent_get_output(peer->conn->bev)) >
				PEER_MAX_OUTPUT) {
				log_warn("peer %s: not reading, closing",
					 peer_name(peer, name, sizeof(name)));
				session_down(peer, false);
				change_state(peer, PEER_IDLE, PEER_EV_PROTOCOL_ERROR);
			}
			break;
		case PEER_EV_HOLD_TIMER:
		case PEER_EV_TCP_FAILED:
		case PEER_EV_PROTOCOL_ERROR:
		case PEER_EV_GOODBYE_RESTART:
			session_down(peer, false);
			change_state(peer, PEER_IDLE, event);
			break;
		case PEER_EV_GOODBYE_LEAVE:
			session_down(peer, true);
			change_state(peer, PEER_IDLE, event);
			if (mgr->config.state && !peer->seed) {
				char ep[ENDPOINT_STRLEN];

				log_unsaved(
				    mgr, state_remove_peer(mgr->config.state, &peer->endpoint),
				    "departure of peer", addr_format_endpoint(&peer->endpoint, ep),
				    "a restart will dial it again");
			}
			/* A departed node is not redialled unless it is a seed; it
			 * will dial us when it comes back. */
			if (!peer->seed)
				peer_delete(peer);
			break;
		case PEER_EV_INBOUND_HELLO:
			if (peer->conn->outbound == peer->incoming->outbound ||
			    incoming_wins(peer)) {
				/* Same initiator again: it restarted and our session is
				 * dead; or the collision rule prefers the new one. */
				log_info("peer %s: new connection replaces the session",
					 peer_name(peer, name, sizeof(name)));
				session_down(peer, false);
				accept_incoming(peer, event);
			} else {
				log_info("peer %s: already established on the connection we "
					 "initiated (higher node id); refusing the new one",
					 peer_name(peer, name, sizeof(name)));
			}
			break;
		case PEER_EV_STOP:
			if (!mgr->shutting_down)
				session_down(peer, false);
			change_state(peer, PEER_IDLE, event);
			break;
		default:
			break;
		}
		break;
	}
}

/* ---- public API ---- */

int peer_mgr_new(struct event_base *base, const struct peer_mgr_config *config,
		 const struct peer_mgr_ops *ops, void *arg, struct peer_mgr **out)
{
	struct peer_mgr *mgr = xcalloc(1, sizeof(*mgr));
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);
	char name[32];
	int ret = 0;

	*out = NULL;
	mgr->base = base;
	mgr->config = *config;
	if (!mgr->config.claim_wait_ms)
		mgr->config.claim_wait_ms = PEER_DEFAULT_CLAIM_WAIT_MS;
	if (!mgr->config.subnet_len)
		mgr->config.subnet_len = 24;
	if (!mgr->config.max_peers || mgr->config.max_peers > PEER_MAX_PEERS)
		mgr->config.max_peers = PEER_MAX_PEERS;
	if (!mgr->config.max_connections)
		mgr->config.max_connections = PEER_DEFAULT_MAX_CONNECTIONS;
	if (!mgr->config.dial_rate)
		mgr->config.dial_rate = PEER_DEFAULT_DIAL_RATE;
	if (!mgr->config.accept_rate)
		mgr->config.accept_rate = PEER_DEFAULT_ACCEPT_RATE;
	mgr->local = xcalloc(config->n_local_prefixes + 1, sizeof(*mgr->local));
	if (config->n_local_prefixes)
		memcpy(mgr->local, config->local_prefixes,
		       config->n_local_prefixes * sizeof(*mgr->local));
	mgr->config.local_prefixes = mgr->local;
	mgr->seeds = xcalloc(config->n_seeds + 1, sizeof(*mgr->seeds));
	if (config->n_seeds)
		memcpy(mgr->seeds, config->seeds, config->n_seeds * sizeof(*mgr->seeds));
	mgr->config.seeds = mgr->seeds;
	if (ops)
		mgr->ops = *ops;
	mgr->arg = arg;
	TAILQ_INIT(&mgr->peers);
	TAILQ_INIT(&mgr->pending);
	TAILQ_INIT(&mgr->dead_conns);
	mgr->rib = rib_new(&mgr->config.cluster, mgr->config.subnet_len);
	update_rib_local(mgr);
	mgr->reaper = event_new(base, -1, 0, reaper_cb, mgr);
	mgr->expiry_timer = evtimer_new(base, expiry_cb, mgr);
	mgr->claim_timer = evtimer_new(base, claim_timer_cb, mgr);
	if (!mgr->reaper || !mgr->expiry_timer || !mgr->claim_timer)
		fatal("out of memory creating peer manager events");
	if (getrandom(&mgr->rng_seed, sizeof(mgr->rng_seed), 0) != sizeof(mgr->rng_seed))
		mgr->rng_seed = (uint64_t)now_ms() ^ (uint64_t)getpid();

	sin.sin_addr.s_addr = htonl(config->listen_addr);
	sin.sin_port = htons(config->listen_port);
	mgr->listener = evconnlistener_new_bind(
	    base, accept_cb, mgr, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    PEER_LISTEN_BACKLOG, (struct sockaddr *)&sin, sizeof(sin));
	if (!mgr->listener) {
		char buf[ENDPOINT_STRLEN];
		struct endpoint ep = {config->listen_addr, config->listen_port};

		ret = -(errno ? errno : EADDRINUSE);
		log_error("cannot listen on %s: %s", addr_format_endpoint(&ep, buf),
			  strerror(-ret));
		goto fail;
	}
	if (getsockname(evconnlistener_get_fd(mgr->listener), (struct sockaddr *)&sin, &len) < 0) {
		ret = -errno;
		goto fail;
	}
	mgr->port = ntohs(sin.sin_port);
	snprintf(name, sizeof(name), "peer port %u", mgr->port);
	mgr->guard = listen_guard_new(base, mgr->listener, name, STATUS_ACCEPTS_PAUSED_PEER);
	*out = mgr;
	return 0;
fail:
	peer_mgr_free(mgr);
	return ret;
}

void peer_mgr_adopt_stale(struct peer_mgr *mgr, const struct kern_route *routes, unsigned n)
{
	rib_adopt(mgr->rib, routes, n, now_ms());
	expiry_schedule(mgr);
	/* Not routes_update(): the daemon asked, it needs no callback; but
	 * the cache must match so the first real change is noticed. */
	free(mgr->routes);
	mgr->n_routes = rib_routes(mgr->rib, mgr->subnet_set ? &mgr->subnet : NULL, &mgr->routes);
}

static void add_initial(struct peer_mgr *mgr, const struct endpoint *ep, bool seed)
{
	const char *problem = undialable(mgr, ep->addr);
	struct peer *peer;

	if (problem) {
		char buf[ENDPOINT_STRLEN];

		/* cfg_validate refuses such a --peer; a state dir may still hold one */
		log_warn("not dialling %s %s: it %s", seed ? "seed" : "persisted peer",
			 addr_format_endpoint(ep, buf), problem);
		return;
	}
	if (is_self_endpoint(mgr, ep->addr, ep->port))
		return;
	peer = find_by_endpoint(mgr, ep->addr, ep->port);
	if (!peer)
		peer = peer_new(mgr, ep, false);
	if (!peer)
		return;
	peer->seed |= seed;
	peer->initial = true;
}

int peer_mgr_start(struct peer_mgr *mgr)
{
	struct peer *peer;

	for (unsigned i = 0; i < mgr->config.n_seeds; i++)
		add_initial(mgr, &mgr->seeds[i], true);
	if (mgr->config.state)
		for (unsigned i = 0; i < mgr->config.state->n_peers; i++)
			add_initial(mgr, &mgr->config.state->peers[i], false);

	if (mgr->config.subnet_explicit) {
		set_subnet(mgr, &mgr->config.subnet, "--subnet");
	} else if (mgr->config.lease_set && mgr->config.lease.len == mgr->config.subnet_len &&
		   addr_prefix_contains(&mgr->config.cluster, &mgr->config.lease)) {
		set_subnet(mgr, &mgr->config.lease, "lease from the state dir");
	} else {
		mgr->claim_pending = true;
		timer_arm(mgr->claim_timer, mgr->config.claim_wait_ms);
	}
	TAILQ_FOREACH(peer, &mgr->peers, entry)
	peer_fsm(peer, PEER_EV_START);
	/* No one to ask: claim at once (from the event loop, like every other
	 * callback but the explicit/lease one above). */
	if (mgr->claim_pending && TAILQ_EMPTY(&mgr->peers)) {
		evtimer_del(mgr->claim_timer);
		timer_arm(mgr->claim_timer, 0);
	}
	return 0;
}

void peer_mgr_routes(const struct peer_mgr *mgr, struct kern_route **routes, unsigned *n)
{
	*n = mgr->n_routes;
	*routes = NULL;
	if (mgr->n_routes) {
		*routes = xcalloc(mgr->n_routes, sizeof(**routes));
		memcpy(*routes, mgr->routes, mgr->n_routes * sizeof(**routes));
	}
}

bool peer_mgr_subnet(const struct peer_mgr *mgr, struct prefix *subnet)
{
	if (mgr->subnet_set)
		*subnet = mgr->subnet;
	return mgr->subnet_set;
}

uint16_t peer_mgr_listen_port(const struct peer_mgr *mgr)
{
	return mgr->port;
}

bool peer_mgr_authenticated(const struct peer_mgr *mgr)
{
	return mgr->config.tls != NULL;
}

void peer_mgr_security_stats(const struct peer_mgr *mgr, struct peer_security_stats *stats)
{
	*stats = mgr->stats;
	stats->connections = mgr->n_conns;
}

unsigned peer_mgr_peers(const struct peer_mgr *mgr, struct peer_info **out)
{
	struct peer_info *infos = xcalloc(mgr->n_peers + 1, sizeof(*infos));
	uint64_t now = now_ms();
	struct peer *p;
	unsigned n = 0;

	TAILQ_FOREACH(p, &mgr->peers, entry)
	{
		struct peer_info *info = &infos[n];

		if (p->dead)
			continue;
		memcpy(info->node_id, p->node_id, NODE_ID_LEN);
		info->node_id_known = p->id_known;
		info->endpoint = p->endpoint;
		info->state = p->state;
		info->outbound = p->state == PEER_ESTABLISHED && p->conn && p->conn->outbound;
		info->seed = p->seed;
		info->subnet = p->subnet;
		info->subnet_known = p->subnet_known;
		info->stale = p->routes_stale;
		info->mode = p->mode;
		info->uptime_ms = p->state == PEER_ESTABLISHED ? now - p->established_ms : 0;
		info->last_heard_ms = p->last_heard_ms ? now - p->last_heard_ms : UINT64_MAX;
		n++;
	}
	*out = infos;
	return n;
}

/* Blocking flush, bounded: the loop will not run again after shutdown. */
static void flush_conn(struct conn *conn, uint64_t deadline)
{
	struct evbuffer *out = bufferevent_get_output(conn->bev);
	evutil_socket_t fd = bufferevent_getfd(conn->bev);

	bufferevent_disable(conn->bev, EV_WRITE);
	/* The socket bufferevent keeps the front of its output frozen for
	 * its own writes; it is about to be freed, so drain it directly. */
	evbuffer_unfreeze(out, 1);
	while (fd >= 0 && evbuffer_get_length(out) > 0) {
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		uint64_t now = now_ms();

		if (now >= deadline || poll(&pfd, 1, (int)(deadline - now)) <= 0)
			break;
		if (evbuffer_write(out, fd) < 0 && errno != EAGAIN && errno != EINTR)
			break;
	}
	if (fd >= 0)
		shutdown(fd, SHUT_WR);
}

static bool tls_output_pending(struct peer_mgr *mgr)
{
	struct peer *p;

	TAILQ_FOREACH(p, &mgr->peers, entry)
	if (p->state == PEER_ESTABLISHED && p->conn && p->conn->bev &&
	    evbuffer_get_length(bufferevent_get_output(p->conn->bev)) > 0)
		return true;
	return false;
}

/* TLS records are written by the TLS bufferevent itself, so the goodbyes
 * are flushed by running the loop a little longer (bounded). Session
 * timers are stopped first so that nothing changes state meanwhile. */
static void flush_tls(struct peer_mgr *mgr, uint64_t deadline)
{
	struct peer *p;

	TAILQ_FOREACH(p, &mgr->peers, entry)
	{
		evtimer_del(p->hold_timer);
		evtimer_del(p->keepalive_timer);
		evtimer_del(p->retry_timer);
		evtimer_del(p->handshake_timer);
	}
	while (tls_output_pending(mgr) && now_ms() < deadline) {
		struct timeval tick = {0, 10000};

		event_base_loopexit(mgr->base, &tick);
		event_base_dispatch(mgr->base);
	}
}

void peer_mgr_shutdown(struct peer_mgr *mgr, enum peer_goodbye reason)
{
	uint64_t deadline = now_ms() + PEER_SHUTDOWN_FLUSH_MS;
	struct peer *p;
	struct conn *conn;

	mgr->shutting_down = true;
	listen_guard_hold(mgr->guard, true);
	TAILQ_FOREACH(p, &mgr->peers, entry)
	{
		if (p->state == PEER_ESTABLISHED && p->conn && p->conn->bev) {
			send_goodbye(p->conn, reason);
			if (!p->conn->tls)
				flush_conn(p->conn, deadline);
		}
	}
	if (mgr->config.tls)
		flush_tls(mgr, deadline);
	TAILQ_FOREACH(p, &mgr->peers, entry)
	{
		evtimer_del(p->retry_timer);
		peer_fsm(p, PEER_EV_STOP);
	}
	while ((conn = TAILQ_FIRST(&mgr->pending)))
		conn_close(conn);
	evtimer_del(mgr->claim_timer);
	evtimer_del(mgr->expiry_timer);
}

void peer_mgr_free(struct peer_mgr *mgr)
{
	struct peer *peer;
	struct conn *conn;

	if (!mgr)
		return;
	mgr->shutting_down = true;
	while ((conn = TAILQ_FIRST(&mgr->pending)))
		conn_close(conn);
	while ((peer = TAILQ_FIRST(&mgr->peers))) {
		TAILQ_REMOVE(&mgr->peers, peer, entry);
		peer_free(peer);
	}
	while ((conn = TAILQ_FIRST(&mgr->dead_conns))) {
		TAILQ_REMOVE(&mgr->dead_conns, conn, entry);
		free(conn);
	}
	listen_guard_free(mgr->guard);
	if (mgr->listener)
		evconnlistener_free(mgr->listener);
	if (mgr->reaper)
		event_free(mgr->reaper);
	if (mgr->expiry_timer)
		event_free(mgr->expiry_timer);
	if (mgr->claim_timer)
		event_free(mgr->claim_timer);
	rib_free(mgr->rib);
	free(mgr->local);
	free(mgr->routes);
	free(mgr->seeds);
	free(mgr);
}
