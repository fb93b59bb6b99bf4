/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: the session FSM, the hello and collision, and the rde's events.
 *
 * One FSM per peer: peer_fsm(peer, event) is the only code that changes a
 * peer's state, always through change_state(), which runs entry actions
 * and logs the transition. Timers and socket callbacks only post events.
 *
 * Handshake: the dialler sends its hello as soon as TCP connects; the
 * listener reads it, identifies the node, resolves a collision and only
 * then answers with its own hello. Collision (both nodes dialled): the
 * connection initiated by the higher node id survives (RFC 4271 6.8), so
 * both ends keep the same one. A node presenting our node id, or a node
 * IP another live peer already has, is refused; without a cluster key a
 * peer's node IP must be the address its session comes from.
 *
 * After the handshake each side sends its advert, the peers it has
 * sessions with that the other end lacks (src/peers.c) and
 * end-of-adverts. Nothing here decides a route: a
 * node's own advert (subnets, and its VTEP address and MAC when it runs a
 * VXLAN device), its end-of-adverts, its session going up or down are
 * events for the route decision engine (src/rde.c), run from the loop
 * at most once per pass and once per PEER_RDE_BATCH_MS (session_rde_kick)
 * so that a burst of adverts makes one plan. Our own advert carries the subnet the rde holds and
 * goes to every peer again when it moves.
 *
 * Invariant: at most one established session per node. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "nsagent/log.h"
#include "nsagent/rde.h"
#include "nsagent/state.h"
#include "nsagent/wire.h"

#include "session_priv.h"

static void broadcast_advert(struct peer_mgr *mgr);

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

/* ---- driving the rde ---- */

/* Runs the rde: what is due (with tick), then one plan for everything
 * the events since the last run changed; our advert follows our subnet. */
void session_rde_run(struct peer_mgr *mgr, bool tick)
{
	uint64_t next, now = now_ms();
	struct prefix subnet;

	if (mgr->shutting_down)
		return;
	if (tick)
		rde_tick(mgr->rde, now);
	evtimer_del(mgr->rde_ev);
	mgr->rde_flushed_ms = now;
	rde_flush(mgr->rde, now);
	if (rde_subnet(mgr->rde, &subnet, NULL) &&
	    (!mgr->advertised_set || !addr_prefix_equal(&subnet, &mgr->advertised))) {
		mgr->advertised = subnet;
		mgr->advertised_set = true;
		broadcast_advert(mgr);
	}
	evtimer_del(mgr->rde_timer);
	next = rde_next_wake(mgr->rde);
	if (next != UINT64_MAX)
		timer_arm(mgr->rde_timer, next > now ? next - now : 0);
}

void session_rde_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	session_rde_run(arg, true);
}

/* An event went to the rde: run it once this loop pass is done, or, when
 * it ran less than PEER_RDE_BATCH_MS ago, that long after its last run.
 * Each run rebuilds the whole route set (rib_routes compares every entry
 * with every other), and the adverts of a converging mesh come one per
 * loop pass, from N sessions over a second or two: a run per advert was
 * 40 % of a node's instructions in a 32-host chain (tests/bench/README.md).
 * This way a burst of adverts makes a plan per batch, and a lone event
 * (a session lost after a quiet spell) is still planned at once. */
static void session_rde_kick(struct peer_mgr *mgr)
{
	uint64_t now, since;

	if (mgr->shutting_down || event_pending(mgr->rde_ev, EV_TIMEOUT, NULL))
		return;
	now = now_ms();
	since = now - mgr->rde_flushed_ms;
	if (mgr->rde_flushed_ms && since < PEER_RDE_BATCH_MS)
		timer_arm(mgr->rde_ev, PEER_RDE_BATCH_MS - since);
	else
		event_active(mgr->rde_ev, EV_TIMEOUT, 0);
}

/* ---- our advert ---- */

static void send_advert(struct peer *peer)
{
	struct peer_mgr *mgr = peer->mgr;
	NsaPeer__Envelope env = NSA_PEER__ENVELOPE__INIT;
	NsaPeer__Advert advert = NSA_PEER__ADVERT__INIT;
	NsaPeer__Prefix prefix = NSA_PEER__PREFIX__INIT;
	NsaPeer__Prefix *prefixes[1] = {&prefix};
	NsaPeer__Prefix6 prefix6;
	NsaPeer__Prefix6 *prefixes6[1] = {&prefix6};
	struct prefix subnet;
	struct prefix6 subnet6;
	bool explicit_subnet;

	if (rde_subnet(mgr->rde, &subnet, &explicit_subnet)) {
		prefix.addr = subnet.addr;
		prefix.len = subnet.len;
		advert.subnets = prefixes;
		advert.n_subnets = 1;
		advert.explicit_subnet = explicit_subnet;
	}
	/* rde_subnet6 is false with --ipv6 off: the advert is then exactly
	 * what a version 1 agent sends. */
	if (rde_subnet6(mgr->rde, &subnet6)) {
		wire_put_prefix6(&prefix6, &subnet6);
		advert.subnets6 = prefixes6;
		advert.n_subnets6 = 1;
		if (mgr->config.link_local6_set) {
			advert.link_local6.data = mgr->config.link_local6.s6_addr;
			advert.link_local6.len = sizeof(mgr->config.link_local6.s6_addr);
		}
	}
	if (mgr->config.wg_port) {
		advert.wg_pubkey.data = mgr->config.wg_key;
		advert.wg_pubkey.len = KERN_WG_KEY_LEN;
		advert.wg_port = mgr->config.wg_port;
	}
	if (!nodeaddr_is_zero(&mgr->config.vtep)) {
		if (mgr->config.vtep.family == AF_INET6) {
			advert.vtep_addr6.data = mgr->config.vtep.v6.s6_addr;
			advert.vtep_addr6.len = sizeof(mgr->config.vtep.v6);
		} else {
			advert.vtep_addr = mgr->config.vtep.v4;
		}
		advert.vtep_mac.data = mgr->config.vtep_mac;
		advert.vtep_mac.len = KERN_MAC_LEN;
	}
	env.msg_case = NSA_PEER__ENVELOPE__MSG_ADVERT;
	env.advert = &advert;
	conn_send(peer->conn, &env);
}

void peer_mgr_set_wg_key(struct peer_mgr *mgr, const uint8_t key[KERN_WG_KEY_LEN])
{
	memcpy(mgr->config.wg_key, key, KERN_WG_KEY_LEN);
	broadcast_advert(mgr);
}

static void broadcast_advert(struct peer_mgr *mgr)
{
	struct peer *p;

	TAILQ_FOREACH(p, &mgr->peers, entry)
	if (p->state == PEER_ESTABLISHED) {
		struct conn *conn = p->conn;

		/* two frames, one write (conn_cork) */
		conn_cork(conn);
		send_advert(p);
		send_simple(conn, NSA_PEER__ENVELOPE__MSG_END_OF_ADVERTS);
		conn_uncork(conn);
	}
}

/* Every initial peer (seed, persisted) answered or failed: the claim
 * need not wait any longer. */
static void initial_peers_check(struct peer_mgr *mgr)
{
	struct peer *p;

	TAILQ_FOREACH(p, &mgr->peers, entry)
	if (p->initial && !p->initial_done && !p->dead)
		return;
	rde_initial_answered(mgr->rde, now_ms());
	session_rde_kick(mgr);
}

/* Rule: without a cluster key a peer's node IP (the next hop its routes
 * get, the address we dial it at) must be the address its session comes
 * from, so that nobody can point routes at a host it does not hold. With
 * a key every session is authenticated (TLS 1.3, cluster PSK), and a node
 * IP behind NAT or apart from the dialling address is allowed. Returns
 * false, having logged both addresses, when the hello breaks the rule. */
static bool node_ip_matches_source(struct peer_mgr *mgr, struct conn *conn, const char *id,
				   const struct nodeaddr *node_ip)
{
	char claimed[NODEADDR_STRLEN], source[NODEADDR_STRLEN];
	const struct nodeaddr *remote = &conn->source;

	if (mgr->config.tls)
		return true;
	if (nodeaddr_equal(remote, node_ip))
		return true;
	log_warn(
	    "refusing %s (node %s): node IP %s is not the session's source address %s (without "
	    "a cluster key a peer's node IP must be the address it connects from)",
	    conn->remote, id, nodeaddr_format(node_ip, claimed), nodeaddr_format(remote, source));
	return false;
}

/* Checks a hello; on refusal logs why and returns false. */
static bool hello_check(struct peer_mgr *mgr, struct conn *conn, const NsaPeer__Hello *hello,
			struct hello_info *info)
{
	char ip[NODEADDR_STRLEN], id[NODE_ID_STRLEN];
	struct nodeaddr node_ip;
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
	/* Strict: node_ip6 of another length than 16, or beside node_ip,
	 * is malformed (counted), and the hello is refused. */
	if (wire_get_nodeaddr(hello->node_ip, &hello->node_ip6, &node_ip) < 0) {
		mgr->stats.frames_malformed++;
		log_warn("refusing %s: malformed node IP (node_ip6 of %zu bytes%s)", conn->remote,
			 hello->node_ip6.len, hello->node_ip ? ", beside an IPv4 node_ip" : "");
		return false;
	}
	problem = undialable(mgr, &node_ip);
	if (problem) {
		log_warn("refusing %s: invalid node IP %s: it %s", conn->remote,
			 nodeaddr_format(&node_ip, ip), problem);
		return false;
	}
	if (hello->listen_port == 0 || hello->listen_port > 65535) {
		log_warn("refusing %s: invalid listen port %u", conn->remote, hello->listen_port);
		return false;
	}
	memcpy(info->node_id, hello->node_id.data, NODE_ID_LEN);
	info->node_ip = node_ip;
	info->listen_port = (uint16_t)hello->listen_port;
	info->keepalive_ms = hello->keepalive_ms;
	info->hold_ms = hello->hold_ms;
	/* Only a well-formed digest counts; anything else means "send all". */
	info->known_peers = hello->known_digest.len == NODE_ID_LEN ? hello->known_peers : 0;
	if (info->known_peers)
		memcpy(info->known_digest, hello->known_digest.data, NODE_ID_LEN);
	/* More than a table can hold is not a list of what it knows: the
	 * hello stands, and the peer is told as an older agent would be. */
	info->n_known_ids = 0;
	if (hello->n_known_ids > PEER_MAX_PEERS + 1) {
		mgr->stats.frames_malformed++;
		log_warn("%s: hello lists %zu known nodes (at most %u): ignored", conn->remote,
			 hello->n_known_ids, PEER_MAX_PEERS + 1);
	} else if (hello->n_known_ids) {
		info->n_known_ids = (uint32_t)hello->n_known_ids;
		memcpy(info->known_ids, hello->known_ids,
		       hello->n_known_ids * sizeof(*info->known_ids));
		qsort(info->known_ids, info->n_known_ids, sizeof(*info->known_ids), pex_cmp_id);
	}
	node_id_format(info->node_id, id);
	nodeaddr_format(&info->node_ip, ip);
	if (node_id_cmp(info->node_id, mgr->config.node_id) == 0) {
		log_warn("refusing %s: it presents our own node id %s (a connection to ourselves, "
			 "or a copied state dir)",
			 conn->remote, id);
		return false;
	}
	if (nodeaddr_equal(&info->node_ip, &mgr->config.node_ip)) {
		log_warn("refusing %s (node %s): it presents our own node IP %s", conn->remote, id,
			 ip);
		return false;
	}
	if (!node_ip_matches_source(mgr, conn, id, &info->node_ip))
		return false;
	TAILQ_FOREACH(p, &mgr->peers, entry)
	{
		char other[NODE_ID_STRLEN];

		if (p->dead || p->state != PEER_ESTABLISHED ||
		    !nodeaddr_equal(&p->node_ip, &info->node_ip) ||
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
void inbound_hello(struct conn *conn, const NsaPeer__Hello *hello)
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
		peer = find_by_endpoint(mgr, &info.node_ip, info.listen_port);
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
void outbound_hello(struct peer *peer, const NsaPeer__Hello *hello)
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
		struct nodeaddr said;
		bool elsewhere = !mgr->config.tls &&
				 wire_get_nodeaddr(hello->node_ip, &hello->node_ip6, &said) == 0 &&
				 !nodeaddr_equal(&said, &peer->endpoint.addr);

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

/* The advert's IPv6 part, decoded strictly (wire_get_prefix6): a bad
 * entry is counted for the rde and dropped, never the session. */
static void decode_advert6(const NsaPeer__Advert *advert, struct rde_advert *a,
			   struct prefix6 *subnets6, const char *name)
{
	for (size_t i = 0; i < advert->n_subnets6; i++) {
		struct prefix6 p;

		if (wire_get_prefix6(advert->subnets6[i], &p) < 0) {
			a->n_malformed6++;
			continue;
		}
		if (a->n_subnets6 == RIB_MAX_SUBNETS_PER_NODE) {
			a->n_over6++;
			continue;
		}
		subnets6[a->n_subnets6++] = p;
	}
	if (wire_get_addr6(&advert->link_local6, &a->link_local6) == -EBADMSG)
		log_warn("peer %s: link-local next hop of %zu bytes ignored", name,
			 advert->link_local6.len);
	else
		a->link_local6_set = advert->link_local6.len != 0;
}

/* Decodes the peer's own advert for the rde, which decides. */
static void handle_advert(struct peer *peer, const NsaPeer__Advert *advert)
{
	struct peer_mgr *mgr = peer->mgr;
	struct prefix subnets[RIB_MAX_SUBNETS_PER_NODE];
	struct prefix6 subnets6[RIB_MAX_SUBNETS_PER_NODE];
	struct rde_advert a = {.node_ip = peer->node_ip,
			       .subnets = subnets,
			       .subnets6 = subnets6,
			       .explicit_subnet = advert->explicit_subnet};
	char name[64];

	peer_name(peer, name, sizeof(name));
	for (size_t i = 0; i < advert->n_subnets; i++) {
		const NsaPeer__Prefix *p = advert->subnets[i];

		if (p->len > 32) {
			a.n_malformed++;
			continue;
		}
		if (a.n_subnets == RIB_MAX_SUBNETS_PER_NODE) {
			a.n_over++;
			continue;
		}
		subnets[a.n_subnets].addr = p->addr;
		subnets[a.n_subnets].len = (uint8_t)p->len;
		a.n_subnets++;
	}
	decode_advert6(advert, &a, subnets6, name);
	/* Judged by the rde, which knows the other nodes' keys. */
	a.wg_key = advert->wg_pubkey.data;
	a.wg_key_len = advert->wg_pubkey.len;
	a.wg_port = advert->wg_port;
	if (advert->vtep_addr6.len && advert->vtep_addr6.len != sizeof(struct in6_addr))
		log_warn("peer %s: IPv6 VTEP address of %zu bytes ignored", name,
			 advert->vtep_addr6.len);
	else if ((advert->vtep_addr || advert->vtep_addr6.len) &&
		 advert->vtep_mac.len != KERN_MAC_LEN)
		log_warn("peer %s: VTEP MAC of %zu bytes ignored", name, advert->vtep_mac.len);
	else if (advert->vtep_addr || advert->vtep_addr6.len) {
		struct in6_addr v6;

		if (advert->vtep_addr) {
			a.vtep = nodeaddr_v4(advert->vtep_addr);
		} else {
			memcpy(&v6, advert->vtep_addr6.data, sizeof(v6));
			a.vtep = nodeaddr_v6(&v6);
		}
		memcpy(a.vtep_mac, advert->vtep_mac.data, KERN_MAC_LEN);
	}
	rde_advert(mgr->rde, peer->node_id, name, &a, now_ms());
	session_rde_kick(mgr);
}

void handle_message(struct peer *peer, const NsaPeer__Envelope *env)
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
		rde_end_of_adverts(mgr->rde, peer->node_id, now_ms());
		session_rde_kick(mgr);
		if (peer->initial && !peer->initial_done) {
			peer->initial_done = true;
			initial_peers_check(mgr);
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

/* ---- the FSM ---- */

static void session_down(struct peer *peer, bool withdraw)
{
	struct peer_mgr *mgr = peer->mgr;

	rde_session_down(mgr->rde, peer->node_id, withdraw, now_ms());
	session_rde_kick(mgr);
	pex_session_down(peer);
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

/* Entry action of IDLE: the connection goes, the next dial is timed. */
static void enter_idle(struct peer *peer, enum peer_state prev, enum peer_event event)
{
	struct peer_mgr *mgr = peer->mgr;
	char name[64];
	uint32_t quick;

	if (peer->conn)
		conn_close(peer->conn);
	if (peer->initial && !peer->initial_done) {
		peer->initial_done = true;
		initial_peers_check(mgr);
	}
	quick = refused_delay(peer);
	peer->refused = false;
	if (prev != PEER_IDLE && prev != PEER_ESTABLISHED && !quick)
		peer->failures++;
	/* An address someone relayed that never answers is forgotten, so a
	 * poisoned peer list ages out instead of being dialled forever. */
	if (peer->learned && !peer->ever_established && !peer->dead &&
	    peer->failures >= PEER_LEARNED_MAX_FAILURES && event != PEER_EV_STOP) {
		log_info("forgetting learned peer %s: not reached in %u attempts",
			 peer_name(peer, name, sizeof(name)), peer->failures);
		mgr->stats.peers_evicted++;
		peer_delete(peer);
		return;
	}
	if (!mgr->shutting_down && !peer->dead && event != PEER_EV_STOP)
		timer_arm(peer->retry_timer, quick ? quick : backoff_next(&peer->backoff));
}

/* Entry action of ESTABLISHED: the hello's values are taken, the rde
 * told, and our advert, peers and end-of-adverts sent. */
static void enter_established(struct peer *peer)
{
	struct peer_mgr *mgr = peer->mgr;
	struct hello_info *h = &peer->conn->hello;

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
		peer->hold_ms = h->hold_ms < PEER_MIN_HOLD_MS ? PEER_MIN_HOLD_MS : h->hold_ms;
	peer->keepalive_ms = mgr->config.keepalive_ms;
	if (peer->keepalive_ms > peer->hold_ms / 3)
		peer->keepalive_ms = peer->hold_ms / 3 ? peer->hold_ms / 3 : 1;
	peer->established_ms = now_ms();
	peer->last_heard_ms = peer->established_ms;
	peer->hold_armed_ms = peer->last_heard_ms;
	timer_arm(peer->hold_timer, peer->hold_ms);
	keepalive_schedule(peer);
	rde_session_up(mgr->rde, peer->node_id, peer->established_ms);
	if (mgr->config.state) {
		state_add_peer(mgr->config.state, &peer->endpoint);
		peers_save_soon(mgr);
	}
	send_advert(peer);
	/* The newcomer gets every peer; everyone else hears of the newcomer
	 * (batched), so the mesh closes even when sessions come up in an
	 * unlucky order. */
	pex_session_up(peer);
	send_simple(peer->conn, NSA_PEER__ENVELOPE__MSG_END_OF_ADVERTS);
}

static void change_state(struct peer *peer, enum peer_state next, enum peer_event event)
{
	enum peer_state prev = peer->state;
	char name[64];

	peer->state = next;
	if (prev != next)
		log_info("peer %s: %s -> %s (%s)", peer_name(peer, name, sizeof(name)),
			 peer_state_name(prev), peer_state_name(next), event_names[event]);

	if (prev == PEER_ESTABLISHED && next != PEER_ESTABLISHED) {
		evtimer_del(peer->hold_timer);
		peer->established_ms = 0;
	}
	if (next != PEER_OPENSENT && next != PEER_CONNECT)
		evtimer_del(peer->handshake_timer);

	switch (next) {
	case PEER_IDLE:
		enter_idle(peer, prev, event);
		break;
	case PEER_CONNECT:
		/* Bounds a connect (and with TLS its handshake) to a host that
		 * accepts and then says nothing. */
		timer_arm(peer->handshake_timer, peer->mgr->config.handshake_timeout_ms);
		break;
	case PEER_OPENSENT:
		timer_arm(peer->handshake_timer, peer->mgr->config.handshake_timeout_ms);
		break;
	case PEER_ESTABLISHED:
		enter_established(peer);
		break;
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

/* The wait before a dial, 0 to dial now. A peer's first dial since it
 * joined the table is not held to the dial rate: the burst allowance is
 * the peer list, one dial per peer in it. A node joining a cluster of N
 * hears of N peers at once, and at 10 dials a second the last of them
 * waited seconds (a 64-host chain took over 2 s of dial tokens per node,
 * tests/bench/README.md). Redials take tokens, and the table bounds the
 * rest: it holds at most max-peers, and a learned peer gives its place up
 * only after PEER_LEARNED_MAX_FAILURES dials, so a poisoned list buys one
 * burst of max-peers dials, then at most a fifth more than the rate. */
static uint64_t dial_wait(struct peer *peer)
{
	struct peer_mgr *mgr = peer->mgr;

	if (!peer->dialled) {
		peer->dialled = true;
		return 0;
	}
	return bucket_take(&mgr->dial_bucket, mgr->config.dial_rate, now_ms());
}

/* IDLE: dial (within the dial rate) or take an identified inbound one. */
static void fsm_idle(struct peer *peer, enum peer_event event)
{
	struct peer_mgr *mgr = peer->mgr;
	char name[64];
	uint64_t wait;
	int ret;

	switch (event) {
	case PEER_EV_START:
	case PEER_EV_RETRY_TIMER:
		if (mgr->shutting_down || peer->dead)
			break;
		evtimer_del(peer->retry_timer);
		wait = dial_wait(peer);
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
			log_info("peer %s: cannot connect: %s", peer_name(peer, name, sizeof(name)),
				 strerror(-ret));
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
}

static void fsm_connect(struct peer *peer, enum peer_event event)
{
	switch (event) {
	case PEER_EV_TCP_CONNECTED:
		send_hello(peer->conn);
		change_state(peer, PEER_OPENSENT, event);
		break;
	case PEER_EV_TCP_FAILED:
	case PEER_EV_PROTOCOL_ERROR:
	case PEER_EV_HANDSHAKE_TIMER:
	case PEER_EV_STOP:
		change_state(peer, PEER_IDLE, event);
		break;
	case PEER_EV_INBOUND_HELLO:
		/* Our connect has not even completed: theirs is further. */
		peer->mgr->stats.collisions++;
		accept_incoming(peer, event);
		break;
	default:
		break;
	}
}

static void fsm_opensent(struct peer *peer, enum peer_event event)
{
	char name[64];

	switch (event) {
	case PEER_EV_HELLO_RECEIVED:
		change_state(peer, PEER_ESTABLISHED, event);
		break;
	case PEER_EV_INBOUND_HELLO:
		peer->mgr->stats.collisions++;
		if (incoming_wins(peer)) {
			log_info("peer %s: connection collision, keeping the one it initiated "
				 "(higher node id)",
				 peer_name(peer, name, sizeof(name)));
			accept_incoming(peer, event);
		} else {
			log_info("peer %s: connection collision, keeping ours (higher node id)",
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
}

/* goodbye(leave): routes withdrawn, the node forgotten unless a seed. */
static void established_leave(struct peer *peer, enum peer_event event)
{
	struct peer_mgr *mgr = peer->mgr;

	session_down(peer, true);
	change_state(peer, PEER_IDLE, event);
	if (mgr->config.state && !peer->seed) {
		state_remove_peer(mgr->config.state, &peer->endpoint);
		peers_save_soon(mgr);
	}
	/* A departed node is not redialled unless it is a seed; it will dial
	 * us when it comes back. */
	if (!peer->seed)
		peer_delete(peer);
}

/* The keepalive tick's event (peers.c keepalive_tick_cb), which has
 * already set when the next one is due. */
static void send_keepalive(struct peer *peer)
{
	struct evbuffer *out;
	char name[64];

	send_simple(peer->conn, NSA_PEER__ENVELOPE__MSG_KEEPALIVE);
	out = bufferevent_get_output(peer->conn->bev);
	if (out && evbuffer_get_length(out) > PEER_MAX_OUTPUT) {
		log_warn("peer %s: not reading, closing", peer_name(peer, name, sizeof(name)));
		session_down(peer, false);
		change_state(peer, PEER_IDLE, PEER_EV_PROTOCOL_ERROR);
	}
}

static void fsm_established(struct peer *peer, enum peer_event event)
{
	char name[64];

	switch (event) {
	case PEER_EV_KEEPALIVE_TIMER:
		send_keepalive(peer);
		break;
	case PEER_EV_HOLD_TIMER:
	case PEER_EV_TCP_FAILED:
	case PEER_EV_PROTOCOL_ERROR:
	case PEER_EV_GOODBYE_RESTART:
		session_down(peer, false);
		change_state(peer, PEER_IDLE, event);
		break;
	case PEER_EV_GOODBYE_LEAVE:
		established_leave(peer, event);
		break;
	case PEER_EV_INBOUND_HELLO:
		if (peer->conn->outbound != peer->incoming->outbound)
			peer->mgr->stats.collisions++;
		if (peer->conn->outbound == peer->incoming->outbound || incoming_wins(peer)) {
			/* Same initiator again: it restarted and our session is
			 * dead; or the collision rule prefers the new one. */
			log_info("peer %s: new connection replaces the session",
				 peer_name(peer, name, sizeof(name)));
			session_down(peer, false);
			accept_incoming(peer, event);
		} else {
			log_info("peer %s: already established on the connection we initiated "
				 "(higher node id); refusing the new one",
				 peer_name(peer, name, sizeof(name)));
		}
		break;
	case PEER_EV_STOP:
		if (!peer->mgr->shutting_down)
			session_down(peer, false);
		change_state(peer, PEER_IDLE, event);
		break;
	default:
		break;
	}
}

/* The hold timer is armed when the session comes up and not again for
 * every message: a message only sets last_heard_ms (conn_read_cb), and
 * when the timer fires it is put off by the time heard since it was
 * armed. The session still goes down exactly hold_ms after the last
 * message, and an idle session's keepalive costs no timer operation. */
void hold_check(struct peer *peer)
{
	uint64_t now = now_ms();

	if (peer->state == PEER_ESTABLISHED && peer->last_heard_ms > peer->hold_armed_ms &&
	    now < peer->last_heard_ms + peer->hold_ms) {
		peer->hold_armed_ms = peer->last_heard_ms;
		timer_arm(peer->hold_timer, peer->last_heard_ms + peer->hold_ms - now);
		return;
	}
	peer_fsm(peer, PEER_EV_HOLD_TIMER);
}

/* The one function that takes a peer's events (STYLE.md 3). */
void peer_fsm(struct peer *peer, enum peer_event event)
{
	switch (peer->state) {
	case PEER_IDLE:
		fsm_idle(peer, event);
		break;
	case PEER_CONNECT:
		fsm_connect(peer, event);
		break;
	case PEER_OPENSENT:
		fsm_opensent(peer, event);
		break;
	case PEER_ESTABLISHED:
		fsm_established(peer, event);
		break;
	}
}
