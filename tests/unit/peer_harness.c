/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: the loopback harness of the peer session tests (see peer_harness.h).
 * It owns ph_base, the single event loop; everything else is stateless
 * helpers over a peer_mgr or a socket. Loop helpers never sleep: they run
 * the loop in 5 ms slices until a condition holds or a deadline passes. */
#include "peer_harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "nsagent/log.h"

struct event_base *ph_base;

int ph_init(void)
{
	log_set_level(getenv("NSAGENT_TEST_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR);
	ph_base = event_base_new();
	return ph_base ? 0 : -1;
}

void ph_fini(void)
{
	event_base_free(ph_base);
	ph_base = NULL;
}

uint64_t ph_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

bool ph_run_until(bool (*cond)(void *), void *arg, uint64_t timeout_ms)
{
	uint64_t deadline = ph_now_ms() + timeout_ms;
	struct timeval tick = {0, 5000};

	while (!cond(arg)) {
		if (ph_now_ms() >= deadline)
			return false;
		event_base_loopexit(ph_base, &tick);
		event_base_dispatch(ph_base);
	}
	return true;
}

static bool never(void *arg)
{
	(void)arg;
	return false;
}

void ph_run_for(uint64_t ms)
{
	ph_run_until(never, NULL, ms);
}

void ph_config(struct ph_config *c, const uint8_t *id, unsigned n)
{
	struct peer_mgr_config *p = &c->peer;
	struct rde_config *r = &c->rde;

	memset(c, 0, sizeof(*c));
	memcpy(p->node_id, id, NODE_ID_LEN);
	p->node_ip = p->listen_addr = nodeaddr_v4(LOOP(n));
	/* The whole cluster is on 127.0.0.x, which production never dials. */
	p->allow_loopback = true;
	p->cluster = (struct prefix){0xac100000u, 16};
	p->keepalive_ms = 100;
	p->hold_time_ms = 300;
	p->connect_retry_min_ms = 20;
	p->connect_retry_max_ms = 200;
	p->handshake_timeout_ms = 500;
	memcpy(r->node_id, id, NODE_ID_LEN);
	r->cluster = p->cluster;
	r->subnet_len = 24;
	r->restart_time_ms = 5000;
	r->backend = CFG_BACKEND_DIRECT;
	r->node_ip = p->node_ip;
}

void ph_config_node(struct ph_config *c, const uint8_t *id, unsigned n,
		    const struct endpoint *seeds, unsigned n_seeds)
{
	ph_config(c, id, n);
	c->rde.subnet = NET(n);
	c->rde.subnet_explicit = true;
	c->peer.seeds = seeds;
	c->peer.n_seeds = n_seeds;
	c->rde.claim_wait_ms = 500;
}

/* Which rde each live peer_mgr was given (the daemon keeps both in its
 * struct; tests keep only the peer_mgr). */
static struct {
	const struct peer_mgr *mgr;
	struct rde *rde;
} pairs[64];

void ph_new(struct ph_config *c, const struct rde_ops *ops, void *arg, struct peer_mgr **mgr)
{
	unsigned i = 0;

	while (i < sizeof(pairs) / sizeof(pairs[0]) && pairs[i].mgr)
		i++;
	assert_true(i < sizeof(pairs) / sizeof(pairs[0]));
	c->peer.rde = rde_new(&c->rde, ops, arg);
	assert_int_equal(peer_mgr_new(ph_base, &c->peer, mgr), 0);
	pairs[i].mgr = *mgr;
	pairs[i].rde = c->peer.rde;
}

void ph_start(struct ph_config *c, const struct rde_ops *ops, void *arg, struct peer_mgr **mgr)
{
	ph_new(c, ops, arg, mgr);
	assert_int_equal(peer_mgr_start(*mgr), 0);
}

struct rde *ph_rde(const struct peer_mgr *mgr)
{
	for (unsigned i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
		if (pairs[i].mgr == mgr)
			return pairs[i].rde;
	fail_msg("no rde for peer_mgr %p", (const void *)mgr);
	return NULL;
}

void ph_free(struct peer_mgr *mgr)
{
	if (!mgr)
		return;
	for (unsigned i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
		if (pairs[i].mgr == mgr) {
			peer_mgr_free(mgr);
			rde_free(pairs[i].rde);
			pairs[i].mgr = NULL;
			pairs[i].rde = NULL;
			return;
		}
	fail_msg("no rde for peer_mgr %p", (const void *)mgr);
}

bool ph_subnet(const struct peer_mgr *mgr, struct prefix *subnet)
{
	return rde_subnet(ph_rde(mgr), subnet, NULL);
}

struct endpoint ph_endpoint(const struct peer_mgr *mgr, uint32_t ip)
{
	return (struct endpoint){nodeaddr_v4(ip), peer_mgr_listen_port(mgr)};
}

unsigned ph_established(const struct peer_mgr *mgr, bool *outbound_of_first)
{
	struct peer_info *infos;
	unsigned n = peer_mgr_peers(mgr, &infos), count = 0;

	for (unsigned i = 0; i < n; i++)
		if (infos[i].state == PEER_ESTABLISHED) {
			if (outbound_of_first && count == 0)
				*outbound_of_first = infos[i].outbound;
			count++;
		}
	free(infos);
	return count;
}

const struct peer_info *ph_find_info(const struct peer_info *infos, unsigned n, const uint8_t *id)
{
	for (unsigned i = 0; i < n; i++)
		if (infos[i].node_id_known && memcmp(infos[i].node_id, id, NODE_ID_LEN) == 0)
			return &infos[i];
	return NULL;
}

bool ph_has_route(const struct peer_mgr *mgr, struct prefix dst, uint32_t gw)
{
	struct kern_route *routes;
	unsigned n;
	bool found = false;

	n = rde_routes(ph_rde(mgr), &routes);
	for (unsigned i = 0; i < n; i++)
		found |= addr_prefix_equal(&routes[i].dst, &dst) &&
			 routes[i].gateway.family == AF_INET && routes[i].gateway.v4 == gw;
	free(routes);
	return found;
}

unsigned ph_n_routes(const struct peer_mgr *mgr)
{
	struct kern_route *routes;
	unsigned n;

	n = rde_routes(ph_rde(mgr), &routes);
	free(routes);
	return n;
}

int ph_connect(struct endpoint ep, uint32_t from)
{
	struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(from)};
	struct sockaddr_storage ss;
	socklen_t len = nodeaddr_to_sockaddr(&ep.addr, ep.port, &ss);
	int fd = socket(ss.ss_family, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	if (from)
		assert_int_equal(bind(fd, (struct sockaddr *)&src, sizeof(src)), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&ss, len), 0);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

void ph_send_msg(int fd, const NsaPeer__Envelope *env)
{
	struct evbuffer *b = evbuffer_new();

	assert_int_equal(wire_write(b, env), 0);
	while (evbuffer_get_length(b))
		assert_true(evbuffer_write(b, fd) > 0);
	evbuffer_free(b);
}

void ph_put_hello(struct evbuffer *out, const uint8_t *id, uint32_t ip, uint16_t port,
		  uint32_t hold_ms)
{
	NsaPeer__Envelope env = NSA_PEER__ENVELOPE__INIT;
	NsaPeer__Hello hello = NSA_PEER__HELLO__INIT;

	hello.version = 1;
	hello.node_id.data = (uint8_t *)id;
	hello.node_id.len = NODE_ID_LEN;
	hello.node_ip = ip;
	hello.listen_port = port;
	hello.keepalive_ms = 100;
	hello.hold_ms = hold_ms;
	env.msg_case = NSA_PEER__ENVELOPE__MSG_HELLO;
	env.hello = &hello;
	assert_int_equal(wire_write(out, &env), 0);
}

void ph_send_hello(int fd, const uint8_t *id, uint32_t ip, uint16_t port, uint32_t hold_ms)
{
	struct evbuffer *b = evbuffer_new();

	ph_put_hello(b, id, ip, port, hold_ms);
	while (evbuffer_get_length(b))
		assert_true(evbuffer_write(b, fd) > 0);
	evbuffer_free(b);
}

int ph_listen(uint32_t ip, uint16_t *port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(ip)};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

struct script_io {
	int fd;
	struct evbuffer *in;
	NsaPeer__Envelope *msg;
	bool eof;
	int accepted;
};

static bool accepted_one(void *arg)
{
	struct script_io *io = arg;

	io->accepted = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK);
	return io->accepted >= 0;
}

int ph_accept(int listen_fd)
{
	struct script_io io = {.fd = listen_fd, .accepted = -1};

	assert_true(ph_run_until(accepted_one, &io, DEADLINE_MS));
	return io.accepted;
}

/* One message, or EOF, on a non-blocking socket. */
static bool message_or_eof(void *arg)
{
	struct script_io *io = arg;
	char buf[4096];
	ssize_t n;

	if (wire_read(io->in, &io->msg) == 1)
		return true;
	n = read(io->fd, buf, sizeof(buf));
	if (n == 0) {
		io->eof = true;
		return true;
	}
	if (n > 0)
		evbuffer_add(io->in, buf, (size_t)n);
	return wire_read(io->in, &io->msg) == 1;
}

NsaPeer__Envelope *ph_next_envelope(int fd, struct evbuffer *in)
{
	struct script_io io = {.fd = fd, .in = in};

	assert_true(ph_run_until(message_or_eof, &io, DEADLINE_MS));
	return io.eof ? NULL : io.msg;
}

NsaPeer__Envelope__MsgCase ph_next_msg(int fd, struct evbuffer *in, bool *eof)
{
	NsaPeer__Envelope *env = ph_next_envelope(fd, in);
	NsaPeer__Envelope__MsgCase c;

	*eof = !env;
	if (!env)
		return NSA_PEER__ENVELOPE__MSG__NOT_SET;
	c = env->msg_case;
	wire_free(env);
	return c;
}

static void tls_remote_event(struct bufferevent *bev, short what, void *arg)
{
	struct ph_remote *r = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED)
		r->connected = true;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		r->closed = true;
}

static void tls_remote_read(struct bufferevent *bev, void *arg)
{
	(void)arg;
	evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
}

static bool tls_remote_settled(void *arg)
{
	struct ph_remote *r = arg;

	return r->connected || r->closed;
}

void ph_tls_open(struct ph_remote *r, struct tls_ctx *ctx, struct endpoint ep, uint32_t from)
{
	struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(from)};
	struct sockaddr_in sin = {.sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(ep.addr.v4),
				  .sin_port = htons(ep.port)};

	memset(r, 0, sizeof(*r));
	r->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_true(r->fd >= 0);
	assert_int_equal(bind(r->fd, (struct sockaddr *)&src, sizeof(src)), 0);
	r->bev = tls_bev_new(ctx, ph_base, r->fd, true);
	assert_non_null(r->bev);
	bufferevent_setcb(r->bev, tls_remote_read, NULL, tls_remote_event, r);
	bufferevent_enable(r->bev, EV_READ | EV_WRITE);
	assert_int_equal(bufferevent_socket_connect(r->bev, (struct sockaddr *)&sin, sizeof(sin)),
			 0);
	assert_true(ph_run_until(tls_remote_settled, r, DEADLINE_MS));
	assert_true(r->connected);
}

void ph_remote_close(struct ph_remote *r)
{
	if (r->bev)
		bufferevent_free(r->bev); /* closes fd */
	else
		close(r->fd);
	r->bev = NULL;
	r->fd = -1;
}
