/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: peer sessions: connections, limits, frame I/O and TLS.
 *
 * Owns the peer port's listener and every TCP (or, with a cluster key,
 * TLS 1.3) connection to another node: dialling, accepting, reading
 * frames into messages for the FSM (src/session_fsm.c) and writing ours,
 * and the bounded goodbye flush at shutdown. It turns bytes and socket
 * events into FSM events; it decides neither a state nor a route.
 *
 * Hostile input (see also src/tls.c, src/rde.c): with a cluster key every
 * connection is TLS and nothing is read before the handshake completes
 * and was made with the key; frames are bounded before allocation
 * (src/wire.c); an inbound connection must finish TLS and send its hello
 * within the handshake timeout, and so must our own dial; connections are
 * bounded in total, per source address (pending ones) and by accept and
 * dial token buckets; accepts pause when they fail (listen.c).
 *
 * Invariants: write events are enabled by the bufferevent only while
 * output is queued; the frames one message makes us send on its
 * connection are written together (conn_cork), in the order sent; every
 * socket and timer belongs to one peer or one pending connection and is
 * freed with it; connections are freed from a deferred reaper, never
 * inside their own callbacks. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/listener.h>

#include "nsagent/listen.h"
#include "nsagent/log.h"
#include "nsagent/peer.h"
#include "nsagent/rde.h"
#include "nsagent/state.h"
#include "nsagent/tls.h"
#include "nsagent/wire.h"
#include "nsagent/xalloc.h"

#include "session_priv.h"

static void conn_read_cb(struct bufferevent *bev, void *arg);
static void conn_event_cb(struct bufferevent *bev, short what, void *arg);

/* Takes a token when one is there (0), else says how long until one is
 * (ms, at least 1). */
uint64_t bucket_take(struct bucket *b, uint32_t rate, uint64_t now)
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

/* ---- connections ---- */

/* The slot of a source address; with create, a free or idle one is taken
 * over (NULL when every slot has pending connections). */
static struct source_slot *source_slot(struct peer_mgr *mgr, const struct nodeaddr *addr,
				       bool create)
{
	struct source_slot *free_slot = NULL, *idle = NULL;

	for (unsigned i = 0; i < PEER_SOURCE_SLOTS; i++) {
		struct source_slot *s = &mgr->sources[i];

		if (s->used && nodeaddr_equal(&s->addr, addr))
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
		free_slot->addr = *addr;
	}
	return free_slot;
}

/* The connection is no longer an unidentified one of its source. */
void source_pending_done(struct conn *conn)
{
	struct source_slot *slot;

	if (!conn->pending_counted)
		return;
	conn->pending_counted = false;
	slot = source_slot(conn->mgr, &conn->source, false);
	if (slot && slot->pending)
		slot->pending--;
}

void conn_close(struct conn *conn)
{
	struct peer_mgr *mgr = conn->mgr;

	if (!conn->bev)
		return;
	/* Freed with the connection (conn_free): it may be what runs now. */
	if (conn->resolve_ev)
		event_del(conn->resolve_ev);
	/* Its callback still comes, told it was cancelled (resolved_cb). */
	if (conn->dns_req) {
		evdns_getaddrinfo_cancel(conn->dns_req);
		conn->dns_req = NULL;
	}
	bufferevent_free(conn->bev);
	conn->bev = NULL;
	/* Staged frames go with the output a close drops (conn_uncork). */
	if (conn->staged) {
		evbuffer_free(conn->staged);
		conn->staged = NULL;
	}
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

void conn_free(struct conn *conn)
{
	if (conn->resolve_ev)
		event_free(conn->resolve_ev);
	free(conn);
}

/* Writes the frames in `frames` (drained) to the connection. On plain TCP
 * with nothing queued they go straight to the socket; what the socket
 * does not take (full, or an error the bufferevent then reports as the
 * connection's) is queued as before. Queued, every frame made the
 * bufferevent enable its write event and disable it once written: two
 * epoll_ctl calls per frame, the most frequent system call of an idle
 * agent (one keepalive per peer and second; tests/bench/README.md, the
 * fourth step). With TLS they are queued as one chain: the TLS
 * bufferevent makes each chain of its output one SSL_write, so one
 * record and one send (frames appended one by one spilled into a new
 * chain past the first kilobyte or so). */
static int conn_write(struct conn *conn, struct evbuffer *frames)
{
	struct evbuffer *out = bufferevent_get_output(conn->bev);
	evutil_socket_t fd = bufferevent_getfd(conn->bev);
	size_t len = evbuffer_get_length(frames);
	unsigned char *data;
	ssize_t sent;

	if (len == 0)
		return 0;
	data = evbuffer_pullup(frames, -1);
	if (!data)
		return -ENOMEM;
	if (!conn->tls && fd >= 0 && evbuffer_get_length(out) == 0) {
		sent = send(fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (sent > 0)
			evbuffer_drain(frames, (size_t)sent);
		if (sent == (ssize_t)len)
			return 0;
	}
	return evbuffer_add_buffer(out, frames) < 0 ? -ENOMEM : 0;
}

/* Frames sent to a corked connection are staged and written together
 * when the last conn_uncork comes: one send(2), so one TCP segment and
 * one wakeup at the other end, where each frame was its own (with a key,
 * one TLS record, where a burst past a kilobyte was several). A
 * session's opening burst is four frames for the side that accepted
 * (hello, advert, peer list, end-of-adverts) and three for the dialler
 * (advert, peer list, end-of-adverts, after the hello it sent on
 * connect); tests/bench/README.md, the seventh step. Corks nest; frames
 * to other connections are not held. The staging buffer lives only
 * while frames are held: an idle session keeps none. */
void conn_cork(struct conn *conn)
{
	conn->corked++;
}

void conn_uncork(struct conn *conn)
{
	int ret;

	if (!conn->corked || --conn->corked || !conn->staged)
		return;
	/* Closed meanwhile: conn_close dropped them with its queued output. */
	if (!conn->bev)
		return;
	ret = conn_write(conn, conn->staged);
	if (ret < 0)
		log_warn("cannot send to %s: %s", conn->remote, strerror(-ret));
	evbuffer_free(conn->staged);
	conn->staged = NULL;
}

int conn_send(struct conn *conn, const NsaPeer__Envelope *env)
{
	struct evbuffer *out, *frame;
	size_t staged;
	int ret;

	if (!conn || !conn->bev)
		return -ENOTCONN;
	out = bufferevent_get_output(conn->bev);
	staged = conn->staged ? evbuffer_get_length(conn->staged) : 0;
	/* What is staged counts: it is output a moment later. */
	if (evbuffer_get_length(out) + staged > PEER_MAX_OUTPUT)
		return -ENOBUFS;
	if (conn->corked) {
		if (!conn->staged && !(conn->staged = evbuffer_new()))
			fatal("out of memory staging frames for %s", conn->remote);
		ret = wire_write(conn->staged, env);
	} else if (!conn->tls && evbuffer_get_length(out) == 0 &&
		   bufferevent_getfd(conn->bev) >= 0) {
		frame = conn->mgr->scratch;
		evbuffer_drain(frame, evbuffer_get_length(frame));
		ret = wire_write(frame, env);
		if (ret == 0)
			ret = conn_write(conn, frame);
	} else {
		ret = wire_write(out, env);
	}
	if (ret < 0)
		log_warn("cannot send to %s: %s", conn->remote, strerror(-ret));
	return ret;
}

void send_hello(struct conn *conn)
{
	struct peer_mgr *mgr = conn->mgr;
	NsaPeer__Envelope env = NSA_PEER__ENVELOPE__INIT;
	NsaPeer__Hello hello = NSA_PEER__HELLO__INIT;
	uint8_t digest[NODE_ID_LEN];
	uint32_t ids[PEER_MAX_PEERS + 1];

	hello.version = PEER_PROTOCOL_VERSION;
	hello.node_id.data = mgr->config.node_id;
	hello.node_id.len = NODE_ID_LEN;
	wire_put_nodeaddr(&mgr->config.node_ip, &hello.node_ip, &hello.node_ip6);
	hello.listen_port = mgr->port;
	hello.keepalive_ms = mgr->config.keepalive_ms;
	hello.hold_ms = mgr->config.hold_time_ms;
	hello.capabilities = mgr->config.ipv6 ? PEER_CAP_IPV6 : 0;
	hello.known_peers = pex_digest(mgr, digest);
	hello.known_digest.data = digest;
	hello.known_digest.len = NODE_ID_LEN;
	hello.n_known_ids = pex_known_ids(mgr, ids);
	hello.known_ids = ids;
	env.msg_case = NSA_PEER__ENVELOPE__MSG_HELLO;
	env.hello = &hello;
	conn_send(conn, &env);
}

void send_simple(struct conn *conn, NsaPeer__Envelope__MsgCase which)
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

/* A state save that failed (persist_write logged the step and counted it)
 * loses only what a restart would have remembered: the session and the
 * routes carry on, and the operator learns what was lost. */
/* Peers learned or departed are written in one save per
 * PEER_SAVE_DELAY_MS, not one each (a converging node learns dozens a
 * second). A lease is saved at once by the rde (state_set_subnet), and
 * takes the pending peers along. */
void peers_save_soon(struct peer_mgr *mgr)
{
	if (!evtimer_pending(mgr->save_timer, NULL))
		timer_arm(mgr->save_timer, PEER_SAVE_DELAY_MS);
}

/* Writes the peers not saved yet. A failure leaves them unsaved, so the
 * next change or the shutdown tries again. */
static void peers_save_now(struct peer_mgr *mgr)
{
	int ret;

	if (!mgr->config.state)
		return;
	ret = state_save_pending(mgr->config.state);
	if (ret < 0)
		log_error("cannot save the learned peers in %s: %s; a restart now would dial only "
			  "the peers saved before",
			  mgr->config.state->path, strerror(-ret));
}

static void save_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	peers_save_now(arg);
}

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
static evutil_socket_t dial_socket(struct peer_mgr *mgr, int family)
{
	struct sockaddr_storage src;
	socklen_t src_len = nodeaddr_to_sockaddr(&mgr->config.node_ip, 0, &src);
	evutil_socket_t fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1, err;

	if (fd < 0)
		return -errno;
	/* Our node address is of the other family: the kernel picks. */
	if (nodeaddr_is_zero(&mgr->config.node_ip) || mgr->config.node_ip.family != family)
		return fd;
	/* The port is picked at connect time, per destination, not by bind
	 * (IP_BIND_ADDRESS_NO_PORT is honoured for IPv6 sockets as well). */
	if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one)) < 0)
		log_debug("IP_BIND_ADDRESS_NO_PORT: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&src, src_len) == 0)
		return fd;
	err = errno;
	if (err == EADDRNOTAVAIL) {
		if (!mgr->warned_foreign_node_ip) {
			char buf[NODEADDR_STRLEN];

			log_warn("node IP %s is not an address of this host: dials leave from "
				 "another address%s",
				 nodeaddr_format(&mgr->config.node_ip, buf),
				 mgr->config.tls ? ""
						 : ", and peers without a cluster key refuse them");
			mgr->warned_foreign_node_ip = true;
		}
		return fd;
	}
	close(fd);
	return -err;
}

/* The family a dial to peer uses: its address's, else (a name not
 * resolved yet) our node address's, else IPv4. */
static int dial_family(const struct peer *peer)
{
	if (peer->endpoint.addr.family)
		return peer->endpoint.addr.family;
	return peer->mgr->config.node_ip.family ? peer->mgr->config.node_ip.family : AF_INET;
}

/* The TCP connect to the peer's address; returns 0 or a negative errno
 * (the connection is closed then). */
static int conn_connect(struct conn *conn)
{
	struct peer *peer = conn->peer;
	struct sockaddr_storage ss;
	socklen_t len = nodeaddr_to_sockaddr(&peer->endpoint.addr, peer->endpoint.port, &ss);

	addr_format_endpoint(&peer->endpoint, conn->remote);
	conn->source = peer->endpoint.addr;
	if (bufferevent_socket_connect(conn->bev, (struct sockaddr *)&ss, (int)len) < 0) {
		int err = errno ? errno : ECONNREFUSED;

		conn_close(conn);
		peer->refused = err == ECONNREFUSED;
		return -err;
	}
	set_nodelay(conn->bev);
	return 0;
}

/* A named peer's address: the connect goes to what the name resolves to
 * now. A failure is the dial's failure (TCP_FAILED, then the backoff). */
static void resolved_cb(int result, struct evutil_addrinfo *res, void *arg)
{
	struct conn *conn = arg;
	struct peer *peer;
	char name[ADDR_HOST_MAX + 64], was[ENDPOINT_STRLEN];
	const char *problem;
	struct nodeaddr addr;
	int ret;

	/* Cancelled by conn_close: the connection may be gone already. */
	if (result == EVUTIL_EAI_CANCEL) {
		if (res)
			evutil_freeaddrinfo(res);
		return;
	}
	conn->dns_req = NULL;
	peer = conn->peer;
	if (result != 0 || !res) {
		log_info("peer %s: cannot resolve %s: %s", peer_name(peer, name, sizeof(name)),
			 peer->host, evutil_gai_strerror(result));
		peer_fsm(peer, PEER_EV_TCP_FAILED);
		return;
	}
	/* Asked for the socket's family only (resolve_start_cb). */
	ret = nodeaddr_from_sockaddr(res->ai_addr, &addr, NULL);
	evutil_freeaddrinfo(res);
	/* A name is no way around the rules for addresses (peers.c). */
	problem = ret < 0 ? "is not an IP address" : undialable(conn->mgr, &addr);
	if (problem) {
		log_warn("peer %s: not dialling: %s now resolves to %s, which %s", peer->host,
			 peer->host, nodeaddr_format(&addr, (char[NODEADDR_STRLEN]){0}), problem);
		peer_fsm(peer, PEER_EV_TCP_FAILED);
		return;
	}
	if (!nodeaddr_equal(&addr, &peer->endpoint.addr)) {
		addr_format_endpoint(&peer->endpoint, was);
		peer->endpoint.addr = addr;
		log_info("peer %s: %s now resolves to %s (was %s)",
			 peer_name(peer, name, sizeof(name)), peer->host,
			 nodeaddr_format(&addr, (char[NODEADDR_STRLEN]){0}), was);
	}
	ret = conn_connect(conn);
	if (ret < 0) {
		log_info("peer %s: cannot connect: %s", peer_name(peer, name, sizeof(name)),
			 strerror(-ret));
		peer_fsm(peer, PEER_EV_TCP_FAILED);
	}
}

/* Starts the resolution, from the loop rather than from inside the FSM's
 * transition to CONNECT (a name in /etc/hosts answers at once). The hosts
 * file is read again each time, as the C library would. */
static void resolve_start_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *conn = arg;
	struct peer_mgr *mgr = conn->mgr;
	/* The dial's socket is of the family the name resolved to at start
	 * (peer_dial): ask for that one. */
	struct evutil_addrinfo hints = {.ai_family = dial_family(conn->peer),
					.ai_socktype = SOCK_STREAM};
	struct evdns_getaddrinfo_request *req;

	(void)fd;
	(void)what;
	if (!mgr->dns) {
		mgr->dns = evdns_base_new(mgr->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
							 EVDNS_BASE_DISABLE_WHEN_INACTIVE);
		if (!mgr->dns)
			fatal("out of memory creating the DNS resolver");
	}
	evdns_base_clear_host_addresses(mgr->dns);
	if (evdns_base_load_hosts(mgr->dns, "/etc/hosts") < 0)
		log_debug("cannot read /etc/hosts: names are resolved by DNS only");
	/* The callback may run before this returns (and then req is NULL). */
	req = evdns_getaddrinfo(mgr->dns, conn->peer->host, NULL, &hints, resolved_cb, conn);
	if (req)
		conn->dns_req = req;
}

/* Starts our TCP connect (for a named peer: its resolution, then the
 * connect); returns 0 or a negative errno. */
int peer_dial(struct peer *peer)
{
	struct peer_mgr *mgr = peer->mgr;
	struct bufferevent *bev;
	char remote[ENDPOINT_STRLEN];
	evutil_socket_t fd;

	if (mgr->n_conns >= mgr->config.max_connections)
		return -EMFILE;
	fd = dial_socket(mgr, dial_family(peer));
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
	if (!peer->host[0])
		return conn_connect(peer->conn);
	peer->conn->resolve_ev = event_new(mgr->base, -1, 0, resolve_start_cb, peer->conn);
	if (!peer->conn->resolve_ev)
		fatal("out of memory creating a resolve event");
	event_active(peer->conn->resolve_ev, EV_TIMEOUT, 0);
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
static const char *accept_refusal(struct peer_mgr *mgr, const struct nodeaddr *addr,
				  struct source_slot **slot)
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
	/* A dual-stack listener reports an IPv4 client IPv4-mapped: taken as
	 * the IPv4 address, which is what its hello says. */
	if (socklen >= (int)sizeof(struct sockaddr_in))
		nodeaddr_from_sockaddr(sa, &ep.addr, &ep.port);
	addr_format_endpoint(&ep, remote);
	if (mgr->shutting_down) {
		close(fd);
		return;
	}
	why = accept_refusal(mgr, &ep.addr, &slot);
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
		/* What one message makes us say on this connection goes in one
		 * write: a hello's answer is a session's opening burst. Held
		 * no longer than the message, so that ours go out before the
		 * dials a peer list in the same read starts. */
		conn_cork(conn);
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
				/* hold_timer follows last_heard_ms (hold_check) */
				handle_message(peer, env);
			}
		}
		conn_uncork(conn);
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

/* ---- public API ---- */

static struct evconnlistener *listen_on(struct event_base *base, struct peer_mgr *mgr,
					const struct nodeaddr *addr, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t len = nodeaddr_to_sockaddr(addr, port, &ss);

	return evconnlistener_new_bind(
	    base, accept_cb, mgr, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    PEER_LISTEN_BACKLOG, (struct sockaddr *)&ss, (int)len);
}

/* The listener on addr; without one (family 0), on both families: "::"
 * takes IPv4 connections too (IPv4-mapped, net.ipv6.bindv6only 0, Linux's
 * default), and a host with IPv6 disabled gets 0.0.0.0. */
static struct evconnlistener *listen_bind(struct event_base *base, struct peer_mgr *mgr,
					  const struct nodeaddr *addr, uint16_t port)
{
	static const struct nodeaddr any6 = {.family = AF_INET6}, any4 = {.family = AF_INET};
	struct evconnlistener *listener;

	if (addr->family)
		return listen_on(base, mgr, addr, port);
	listener = listen_on(base, mgr, &any6, port);
	if (listener || (errno != EAFNOSUPPORT && errno != EADDRNOTAVAIL))
		return listener;
	log_info("no IPv6 on this host: listening on IPv4 only");
	return listen_on(base, mgr, &any4, port);
}

int peer_mgr_new(struct event_base *base, const struct peer_mgr_config *config,
		 struct peer_mgr **out)
{
	struct peer_mgr *mgr = xcalloc(1, sizeof(*mgr));
	struct sockaddr_storage ss;
	socklen_t len;
	uint16_t port;
	char name[32];
	int ret = 0;

	*out = NULL;
	mgr->base = base;
	mgr->config = *config;
	mgr->rde = config->rde;
	if (!mgr->config.max_peers || mgr->config.max_peers > PEER_MAX_PEERS)
		mgr->config.max_peers = PEER_MAX_PEERS;
	if (!mgr->config.max_connections)
		mgr->config.max_connections = PEER_DEFAULT_MAX_CONNECTIONS;
	if (!mgr->config.dial_rate)
		mgr->config.dial_rate = PEER_DEFAULT_DIAL_RATE;
	if (!mgr->config.accept_rate)
		mgr->config.accept_rate = PEER_DEFAULT_ACCEPT_RATE;
	mgr->seeds = xcalloc(config->n_seeds + 1, sizeof(*mgr->seeds));
	if (config->n_seeds)
		memcpy(mgr->seeds, config->seeds, config->n_seeds * sizeof(*mgr->seeds));
	mgr->config.seeds = mgr->seeds;
	if (config->seed_hosts && config->n_seeds) {
		mgr->seed_hosts = xcalloc(config->n_seeds, sizeof(*mgr->seed_hosts));
		memcpy(mgr->seed_hosts, config->seed_hosts,
		       config->n_seeds * sizeof(*mgr->seed_hosts));
	}
	mgr->config.seed_hosts = (const char(*)[ADDR_HOST_MAX + 1]) mgr->seed_hosts;
	TAILQ_INIT(&mgr->peers);
	TAILQ_INIT(&mgr->pending);
	TAILQ_INIT(&mgr->dead_conns);
	mgr->reaper = event_new(base, -1, 0, reaper_cb, mgr);
	mgr->rde_ev = event_new(base, -1, 0, session_rde_cb, mgr);
	mgr->rde_timer = evtimer_new(base, session_rde_cb, mgr);
	mgr->pex_timer = evtimer_new(base, pex_batch_cb, mgr);
	mgr->save_timer = evtimer_new(base, save_cb, mgr);
	mgr->keepalive_timer = evtimer_new(base, keepalive_tick_cb, mgr);
	mgr->scratch = evbuffer_new();
	if (!mgr->reaper || !mgr->rde_ev || !mgr->rde_timer || !mgr->pex_timer ||
	    !mgr->save_timer || !mgr->keepalive_timer || !mgr->scratch)
		fatal("out of memory creating peer manager events");
	if (getrandom(&mgr->rng_seed, sizeof(mgr->rng_seed), 0) != sizeof(mgr->rng_seed))
		mgr->rng_seed = (uint64_t)now_ms() ^ (uint64_t)getpid();

	mgr->listener = listen_bind(base, mgr, &config->listen_addr, config->listen_port);
	if (!mgr->listener) {
		char buf[ENDPOINT_STRLEN];
		struct endpoint ep = {config->listen_addr, config->listen_port};

		ret = -(errno ? errno : EADDRINUSE);
		log_error("cannot listen on %s: %s", addr_format_endpoint(&ep, buf),
			  strerror(-ret));
		goto fail;
	}
	len = sizeof(ss);
	if (getsockname(evconnlistener_get_fd(mgr->listener), (struct sockaddr *)&ss, &len) < 0) {
		ret = -errno;
		goto fail;
	}
	if (nodeaddr_from_sockaddr((struct sockaddr *)&ss, &(struct nodeaddr){.family = 0}, &port) <
	    0) {
		ret = -EAFNOSUPPORT;
		goto fail;
	}
	mgr->port = port;
	snprintf(name, sizeof(name), "peer port %u", mgr->port);
	mgr->guard = listen_guard_new(base, mgr->listener, name, STATUS_ACCEPTS_PAUSED_PEER);
	*out = mgr;
	return 0;
fail:
	peer_mgr_free(mgr);
	return ret;
}

int peer_mgr_start(struct peer_mgr *mgr)
{
	struct peer *peer;

	for (unsigned i = 0; i < mgr->config.n_seeds; i++)
		add_initial(mgr, &mgr->seeds[i], true, mgr->seed_hosts ? mgr->seed_hosts[i] : NULL);
	if (mgr->config.state)
		for (unsigned i = 0; i < mgr->config.state->n_peers; i++)
			add_initial(mgr, &mgr->config.state->peers[i], false, NULL);

	/* An explicit subnet or a lease is planned before this returns; a
	 * claim only from the loop (the rde's first tick, at the latest when
	 * the claim wait is over). */
	rde_start(mgr->rde, now_ms(), !TAILQ_EMPTY(&mgr->peers));
	session_rde_run(mgr, false);
	TAILQ_FOREACH(peer, &mgr->peers, entry)
	peer_fsm(peer, PEER_EV_START);
	return 0;
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
	struct rde_stats rs;

	*stats = mgr->stats;
	stats->connections = mgr->n_conns;
	rde_get_stats(mgr->rde, &rs);
	memcpy(stats->rejected, rs.rejected, sizeof(stats->rejected));
	memcpy(stats->rejected6, rs.rejected6, sizeof(stats->rejected6));
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
		evtimer_del(p->retry_timer);
		evtimer_del(p->handshake_timer);
	}
	evtimer_del(mgr->keepalive_timer);
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
	evtimer_del(mgr->rde_timer);
	evtimer_del(mgr->pex_timer);
	evtimer_del(mgr->keepalive_timer);
	event_del(mgr->rde_ev);
	/* The goodbyes above may have removed peers; nothing is left unsaved
	 * by a clean exit. */
	evtimer_del(mgr->save_timer);
	peers_save_now(mgr);
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
		conn_free(conn);
	}
	listen_guard_free(mgr->guard);
	if (mgr->listener)
		evconnlistener_free(mgr->listener);
	if (mgr->reaper)
		event_free(mgr->reaper);
	if (mgr->rde_ev)
		event_free(mgr->rde_ev);
	if (mgr->rde_timer)
		event_free(mgr->rde_timer);
	if (mgr->pex_timer)
		event_free(mgr->pex_timer);
	if (mgr->keepalive_timer)
		event_free(mgr->keepalive_timer);
	if (mgr->scratch)
		evbuffer_free(mgr->scratch);
	if (mgr->save_timer) {
		/* Pending peers are written even without peer_mgr_shutdown()
		 * (a start that failed later); the state outlives us. */
		if (evtimer_pending(mgr->save_timer, NULL))
			peers_save_now(mgr);
		event_free(mgr->save_timer);
	}
	free(mgr->seeds);
	free(mgr->seed_hosts);
	/* Every resolution was cancelled with its connection above. */
	if (mgr->dns)
		evdns_base_free(mgr->dns, 0);
	free(mgr);
}
