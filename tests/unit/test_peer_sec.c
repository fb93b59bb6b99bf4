/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Hostile input against peer sessions, over loopback (127.0.0.x, no
 * namespace or route changes): cluster key (same key, wrong key, no key),
 * hijacking adverts (wrong lengths among them), subnet hints, node IPs
 * that are not the session's source, malformed frames, half-open floods
 * and peer-list poisoning (undialable addresses among them). Each case checks the session FSM's
 * outcome and the security counters, and that the agent keeps working afterwards. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "addr6_lit.h"
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "nsagent/peer.h"
#include "nsagent/tls.h"
#include "nsagent/wire.h"
#include "peer_harness.h"
#include "tls_harness.h"

struct node {
	struct peer_mgr *mgr;
	uint8_t id[NODE_ID_LEN];
	uint32_t ip;
};

struct node_opts {
	struct tls_ctx *tls;
	const struct prefix *local;
	unsigned n_local;
	unsigned max_peers;
	uint32_t dial_rate;
	uint32_t accept_rate;
	bool no_loopback; /* clear the harness's allow_loopback: production rules */
	bool claim;	  /* no --subnet: the node claims one */
};

static void node_start(struct node *node, unsigned n, const struct endpoint *seeds,
		       unsigned n_seeds, const struct node_opts *o)
{
	struct ph_config c;

	memset(node, 0, sizeof(*node));
	assert_int_equal(getrandom(node->id, NODE_ID_LEN, 0), NODE_ID_LEN);
	node->id[0] = (uint8_t)(0x10 * n);
	node->ip = LOOP(n);
	ph_config_node(&c, node->id, n, seeds, n_seeds);
	c.peer.hold_time_ms = 400;
	if (o) {
		c.peer.tls = o->tls;
		c.rde.local_prefixes = o->local;
		c.rde.n_local_prefixes = o->n_local;
		c.peer.max_peers = o->max_peers;
		c.peer.dial_rate = o->dial_rate;
		c.peer.accept_rate = o->accept_rate;
		c.peer.allow_loopback = !o->no_loopback;
		c.rde.subnet_explicit = !o->claim;
	}
	ph_start(&c, NULL, node, &node->mgr);
}

static unsigned known_peers(const struct node *node)
{
	struct peer_info *infos;
	unsigned n = peer_mgr_peers(node->mgr, &infos);

	free(infos);
	return n;
}

static uint64_t uptime_of(const struct node *node, const uint8_t *id)
{
	struct peer_info *infos;
	unsigned n = peer_mgr_peers(node->mgr, &infos);
	const struct peer_info *info = ph_find_info(infos, n, id);
	uint64_t up = info ? info->uptime_ms : 0;

	free(infos);
	return up;
}

struct pair {
	struct node *a, *b;
	unsigned want;
};

static bool pair_meshed(void *arg)
{
	struct pair *p = arg;

	return ph_established(p->a->mgr, NULL) == 1 && ph_established(p->b->mgr, NULL) == 1 &&
	       ph_n_routes(p->a->mgr) == 1 && ph_n_routes(p->b->mgr) == 1;
}

static void free_node(struct node *node)
{
	ph_free(node->mgr);
	node->mgr = NULL;
	ph_run_for(20);
}

/* ---- a scripted remote speaking the wire protocol (plain TCP) ---- */

/* Non-blocking connect: the loop must keep running while a flood is made. */
static int connect_nb(struct endpoint ep, uint32_t from)
{
	struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(from)};
	struct sockaddr_in sin = {.sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(ep.addr.v4),
				  .sin_port = htons(ep.port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&src, sizeof(src)), 0);
	assert_true(connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 || errno == EINPROGRESS);
	return fd;
}

static void send_bytes(int fd, const void *data, size_t len)
{
	assert_int_equal(write(fd, data, len), (ssize_t)len);
}

static void remote_send(struct ph_remote *r, const NsaPeer__Envelope *env)
{
	if (r->bev)
		assert_int_equal(wire_write(bufferevent_get_output(r->bev), env), 0);
	else
		ph_send_msg(r->fd, env);
}

static void send_keepalive(struct ph_remote *r)
{
	NsaPeer__Envelope env = NSA_PEER__ENVELOPE__INIT;
	NsaPeer__Keepalive ka = NSA_PEER__KEEPALIVE__INIT;

	env.msg_case = NSA_PEER__ENVELOPE__MSG_KEEPALIVE;
	env.keepalive = &ka;
	remote_send(r, &env);
}

static void send_advert(struct ph_remote *r, const struct prefix *subnets, unsigned n,
			bool explicit_subnet)
{
	NsaPeer__Envelope env = NSA_PEER__ENVELOPE__INIT;
	NsaPeer__Advert advert = NSA_PEER__ADVERT__INIT;
	NsaPeer__Prefix *prefixes = calloc(n + 1, sizeof(*prefixes));
	NsaPeer__Prefix **ptrs = calloc(n + 1, sizeof(*ptrs));

	for (unsigned i = 0; i < n; i++) {
		nsa_peer__prefix__init(&prefixes[i]);
		prefixes[i].addr = subnets[i].addr;
		prefixes[i].len = subnets[i].len;
		ptrs[i] = &prefixes[i];
	}
	advert.subnets = ptrs;
	advert.n_subnets = n;
	advert.explicit_subnet = explicit_subnet;
	env.msg_case = NSA_PEER__ENVELOPE__MSG_ADVERT;
	env.advert = &advert;
	remote_send(r, &env);
	free(ptrs);
	free(prefixes);
}

/* A peer list of n entries: node ids[i] at addrs[i]:ports[i], each with
 * hints[i] when hints is not NULL. */
static void send_peer_list(struct ph_remote *r, const uint8_t (*ids)[NODE_ID_LEN],
			   const uint32_t *addrs, const uint16_t *ports, const struct prefix *hints,
			   unsigned n)
{
	NsaPeer__Envelope env = NSA_PEER__ENVELOPE__INIT;
	NsaPeer__PeerList list = NSA_PEER__PEER_LIST__INIT;
	NsaPeer__PeerInfo infos[16], *ptrs[16];
	NsaPeer__Prefix hint[16];

	assert_true(n <= 16);
	for (unsigned i = 0; i < n; i++) {
		nsa_peer__peer_info__init(&infos[i]);
		infos[i].node_id.data = (uint8_t *)ids[i];
		infos[i].node_id.len = NODE_ID_LEN;
		infos[i].addr = addrs[i];
		infos[i].port = ports[i];
		if (hints) {
			nsa_peer__prefix__init(&hint[i]);
			hint[i].addr = hints[i].addr;
			hint[i].len = hints[i].len;
			infos[i].subnet_hint = &hint[i];
		}
		ptrs[i] = &infos[i];
	}
	list.peers = ptrs;
	list.n_peers = n;
	env.msg_case = NSA_PEER__ENVELOPE__MSG_PEER_LIST;
	env.peer_list = &list;
	remote_send(r, &env);
}

struct io {
	int fd;
	bool eof;
	uint64_t bytes;
};

/* Drains the socket; true at EOF or reset. */
static bool io_eof(void *arg)
{
	struct io *io = arg;
	char buf[4096];
	ssize_t n;

	while ((n = read(io->fd, buf, sizeof(buf))) > 0)
		io->bytes += (uint64_t)n;
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
		io->eof = true;
	return io->eof;
}

static bool remote_ended(struct ph_remote *r)
{
	struct io io = {.fd = r->fd};

	return r->bev ? r->closed : io_eof(&io);
}

/* Keeps a scripted session alive (keepalives) until cond(arg) holds or,
 * with cond NULL, for ms; false if the session ended or cond never held. */
static bool keep_alive_until(struct ph_remote *r, bool (*cond)(void *), void *arg, uint64_t ms)
{
	uint64_t end = ph_now_ms() + ms;

	while (!(cond && cond(arg))) {
		if (ph_now_ms() >= end)
			return !cond;
		send_keepalive(r);
		ph_run_for(cond ? 20 : 50);
		if (remote_ended(r))
			return false;
	}
	return true;
}

static bool keep_alive_for(struct ph_remote *r, uint64_t ms)
{
	return keep_alive_until(r, NULL, NULL, ms);
}

/* ---- tests ---- */

static void test_tls_same_key(void **st)
{
	(void)st;
	struct tls_ctx *ka = th_ctx_with_key(0x11), *kb = th_ctx_with_key(0x11);
	struct node_opts oa = {.tls = ka}, ob = {.tls = kb};
	struct node a, b;
	struct endpoint seed;
	struct pair p = {&a, &b, 1};
	struct peer_security_stats s;

	node_start(&a, 1, NULL, 0, &oa);
	seed = ph_endpoint(a.mgr, a.ip);
	node_start(&b, 2, &seed, 1, &ob);
	assert_true(ph_run_until(pair_meshed, &p, DEADLINE_MS));
	assert_true(ph_has_route(a.mgr, NET(2), LOOP(2)));
	assert_true(peer_mgr_authenticated(a.mgr));
	/* keepalives flow over TLS: the session outlives several hold times */
	ph_run_for(1500);
	assert_true(pair_meshed(&p));
	peer_mgr_security_stats(a.mgr, &s);
	assert_int_equal(s.tls_failures, 0);
	/* goodbye(leave) is flushed through TLS at shutdown */
	peer_mgr_shutdown(b.mgr, PEER_GOODBYE_LEAVE);
	free_node(&b);
	ph_run_for(200);
	assert_int_equal(ph_n_routes(a.mgr), 0);
	free_node(&a);
	tls_ctx_free(ka);
	tls_ctx_free(kb);
}

static bool some_tls_failure(void *arg)
{
	struct peer_security_stats s;

	peer_mgr_security_stats(((struct node *)arg)->mgr, &s);
	return s.tls_failures > 0;
}

/* keyed: b's key (NULL = plain TCP). Nothing may come up. */
static void mismatch(struct tls_ctx *kb)
{
	struct tls_ctx *ka = th_ctx_with_key(0x22);
	struct node_opts oa = {.tls = ka}, ob = {.tls = kb};
	struct node a, b;
	struct endpoint seed;

	node_start(&a, 1, NULL, 0, &oa);
	seed = ph_endpoint(a.mgr, a.ip);
	node_start(&b, 2, &seed, 1, &ob);
	assert_true(ph_run_until(some_tls_failure, &a, DEADLINE_MS));
	ph_run_for(1000);
	assert_int_equal(ph_established(a.mgr, NULL), 0);
	assert_int_equal(ph_established(b.mgr, NULL), 0);
	assert_int_equal(ph_n_routes(a.mgr), 0);
	assert_int_equal(ph_n_routes(b.mgr), 0);
	assert_false(peer_mgr_authenticated(b.mgr) && kb == NULL);
	free_node(&b);
	free_node(&a);
	tls_ctx_free(ka);
}

static void test_tls_wrong_key(void **st)
{
	(void)st;
	struct tls_ctx *kb = th_ctx_with_key(0x23);

	mismatch(kb);
	tls_ctx_free(kb);
}

static void test_tls_no_key(void **st)
{
	(void)st;
	mismatch(NULL);
}

/* A plain-TCP hello to a keyed node is closed within a second, unread. */
static void test_tls_plain_hello_closed_fast(void **st)
{
	(void)st;
	struct tls_ctx *ka = th_ctx_with_key(0x24);
	struct node_opts oa = {.tls = ka};
	struct node a;
	uint8_t id[NODE_ID_LEN] = {0x77, 1};
	uint64_t start;
	int fd;
	struct io io;

	node_start(&a, 1, NULL, 0, &oa);
	fd = ph_connect(ph_endpoint(a.mgr, a.ip), LOOP(9));
	io = (struct io){.fd = fd};
	start = ph_now_ms();
	ph_send_hello(fd, id, LOOP(9), 7470, 3000);
	assert_true(ph_run_until(io_eof, &io, 1000));
	assert_true(ph_now_ms() - start < 1000);
	assert_int_equal(known_peers(&a), 0);
	close(fd);
	free_node(&a);
	tls_ctx_free(ka);
}

/* A fake peer announces hijacking entries next to one valid one: each bad
 * entry is refused and counted by reason, the valid one is routed, and the
 * session stays up. */
static void test_hijack_adverts(void **st)
{
	(void)st;
	struct prefix host_net = {0xac10c800u, 22}; /* 172.16.200.0/22: "the host's" */
	struct node_opts oa = {.local = &host_net, .n_local = 1};
	struct node a, b;
	struct endpoint seed;
	struct pair p = {&a, &b, 1};
	uint8_t id[NODE_ID_LEN] = {0xee, 2};
	struct prefix bad[] = {
	    {0, 0},	       /* default route */
	    {0x0a000000u, 8},  /* outside the cluster */
	    NET(2),	       /* b's subnet, b is live */
	    {0xac100200u, 23}, /* overlaps b's subnet, and is no node subnet */
	    NET(1),	       /* the victim's own subnet */
	    {0xac10c900u, 24}, /* inside the host network */
	    {0xac104d01u, 24}, /* host bits set */
	    {0xac108000u, 17}, /* 172.16.128.0/17: every node subnet it covers */
	    {0xac104d00u, 24}, /* valid: 172.16.77.0/24 */
	};
	struct prefix many[1000];
	struct peer_security_stats s;
	struct ph_remote r = {.fd = -1};

	node_start(&a, 1, NULL, 0, &oa);
	seed = ph_endpoint(a.mgr, a.ip);
	node_start(&b, 2, &seed, 1, NULL);
	assert_true(ph_run_until(pair_meshed, &p, DEADLINE_MS));

	r.fd = ph_connect(ph_endpoint(a.mgr, a.ip), LOOP(9));
	ph_send_hello(r.fd, id, LOOP(9), 7470, 3000);
	ph_run_for(100);
	assert_int_equal(ph_established(a.mgr, NULL), 2);
	send_advert(&r, bad, sizeof(bad) / sizeof(bad[0]), true);
	assert_true(keep_alive_for(&r, 300));
	assert_true(ph_has_route(a.mgr, (struct prefix){0xac104d00u, 24}, LOOP(9)));
	assert_true(ph_has_route(a.mgr, NET(2), LOOP(2)));
	assert_int_equal(ph_n_routes(a.mgr), 2);
	peer_mgr_security_stats(a.mgr, &s);
	assert_int_equal(s.rejected[RIB_REJECT_DEFAULT], 1);
	assert_int_equal(s.rejected[RIB_REJECT_OUTSIDE_CLUSTER], 1);
	assert_int_equal(s.rejected[RIB_REJECT_OWNED], 1);
	assert_int_equal(s.rejected[RIB_REJECT_LOCAL], 2);
	assert_int_equal(s.rejected[RIB_REJECT_MALFORMED], 1);
	assert_int_equal(s.rejected[RIB_REJECT_LENGTH], 2);

	/* 1,000 subnets: 16 considered, the rest refused; still up */
	for (unsigned i = 0; i < 1000; i++)
		many[i] = (struct prefix){0xac100000u | ((100 + i % 150) << 8), 24};
	send_advert(&r, many, 1000, false);
	assert_true(keep_alive_for(&r, 300));
	peer_mgr_security_stats(a.mgr, &s);
	assert_int_equal(s.rejected[RIB_REJECT_TOO_MANY], 984);
	assert_int_equal(ph_n_routes(a.mgr), 1 + 16);
	assert_int_equal(ph_established(a.mgr, NULL), 2);
	assert_int_equal(ph_established(b.mgr, NULL), 1);
	ph_remote_close(&r);
	free_node(&b);
	free_node(&a);
}

/* Broken framing closes the connection; the agent and its session with a
 * real peer carry on. */
static void test_malformed_frames(void **st)
{
	(void)st;
	struct node a, b;
	struct endpoint seed;
	struct pair p = {&a, &b, 1};
	static const uint8_t oversize[] = {0x00, 0x01, 0x00, 0x01, 0xaa};
	static const uint8_t zero[] = {0, 0, 0, 0};
	static const uint8_t junk_env[] = {0, 0, 0, 3, 0xff, 0xff, 0xff};
	static const uint8_t truncated[] = {0, 0, 0, 100, 0x0a, 0x02};
	const struct {
		const uint8_t *data;
		size_t len;
		bool stalls; /* closed by the handshake timer rather than at once */
	} cases[] = {
	    {oversize, sizeof(oversize), false},
	    {zero, sizeof(zero), false},
	    {junk_env, sizeof(junk_env), false},
	    {truncated, sizeof(truncated), true},
	};
	uint8_t random_bytes[512];
	struct peer_security_stats s;
	uint64_t up;

	node_start(&a, 1, NULL, 0, &(struct node_opts){.accept_rate = 1000});
	seed = ph_endpoint(a.mgr, a.ip);
	node_start(&b, 2, &seed, 1, NULL);
	assert_true(ph_run_until(pair_meshed, &p, DEADLINE_MS));
	up = uptime_of(&a, b.id);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int fd = ph_connect(ph_endpoint(a.mgr, a.ip), LOOP(9));
		struct io io = {.fd = fd};
		uint64_t start = ph_now_ms();

		send_bytes(fd, cases[i].data, cases[i].len);
		assert_true(ph_run_until(io_eof, &io, 2000));
		/* the handshake timeout is 500 ms here */
		assert_true(ph_now_ms() - start < (cases[i].stalls ? 1500u : 300u));
		assert_true(cases[i].stalls == (ph_now_ms() - start >= 400));
		close(fd);
	}
	for (int round = 0; round < 20; round++) {
		int fd = ph_connect(ph_endpoint(a.mgr, a.ip), LOOP(9));
		struct io io = {.fd = fd};

		assert_int_equal(getrandom(random_bytes, sizeof(random_bytes), 0),
				 sizeof(random_bytes));
		send_bytes(fd, random_bytes, sizeof(random_bytes));
		assert_true(ph_run_until(io_eof, &io, 2000));
		close(fd);
	}
	peer_mgr_security_stats(a.mgr, &s);
	assert_true(s.frames_oversize >= 1);
	assert_true(s.frames_malformed >= 2);
	assert_int_equal(s.handshake_timeouts, 1);
	/* the real session never dropped */
	assert_true(pair_meshed(&p));
	assert_true(uptime_of(&a, b.id) > up);
	free_node(&b);
	free_node(&a);
}

/* 200 idle connections from one address: only a few are kept pending,
 * the rest refused, and the real session misses no keepalive. */
static void test_half_open_flood(void **st)
{
	(void)st;
	struct node a, b;
	struct endpoint seed;
	struct pair p = {&a, &b, 1};
	struct peer_security_stats s;
	int fds[200];
	uint64_t up;

	node_start(&a, 1, NULL, 0, NULL);
	seed = ph_endpoint(a.mgr, a.ip);
	node_start(&b, 2, &seed, 1, NULL);
	assert_true(ph_run_until(pair_meshed, &p, DEADLINE_MS));
	up = uptime_of(&a, b.id);
	for (int i = 0; i < 200; i++) {
		fds[i] = connect_nb(ph_endpoint(a.mgr, a.ip), LOOP(9));
		if (i % 8 == 0)
			ph_run_for(5);
	}
	ph_run_for(1200);
	peer_mgr_security_stats(a.mgr, &s);
	assert_true(s.accepts_refused >= 200 - PEER_MAX_PENDING_PER_SOURCE);
	assert_true(pair_meshed(&p));
	assert_true(uptime_of(&a, b.id) >= up + 1200);
	/* another node can still join */
	{
		struct node c;
		struct endpoint seed2 = ph_endpoint(a.mgr, a.ip);

		node_start(&c, 3, &seed2, 1, NULL);
		for (uint64_t end = ph_now_ms() + DEADLINE_MS;
		     ph_established(c.mgr, NULL) < 2 && ph_now_ms() < end;)
			ph_run_for(20);
		assert_int_equal(ph_established(c.mgr, NULL), 2);
		free_node(&c);
	}
	for (int i = 0; i < 200; i++)
		close(fds[i]);
	free_node(&b);
	free_node(&a);
}

/* Peer exchange with 10,000 made-up addresses: the table stays within
 * max-peers, dials within the dial rate, unreachable learned peers age
 * out, and a real node still gets in. */
static void test_peer_list_poisoning(void **st)
{
	(void)st;
	struct node a;
	struct node_opts oa = {.max_peers = 32, .dial_rate = 20};
	uint8_t id[NODE_ID_LEN] = {0xdd, 3};
	struct peer_security_stats s;
	uint64_t start;
	struct ph_remote r = {.fd = -1};

	node_start(&a, 1, NULL, 0, &oa);
	r.fd = ph_connect(ph_endpoint(a.mgr, a.ip), LOOP(9));
	ph_send_hello(r.fd, id, LOOP(9), 7470, 3000);
	ph_run_for(100);
	start = ph_now_ms();
	for (unsigned chunk = 0; chunk < 40; chunk++) {
		NsaPeer__Envelope env = NSA_PEER__ENVELOPE__INIT;
		NsaPeer__PeerList list = NSA_PEER__PEER_LIST__INIT;
		NsaPeer__PeerInfo infos[250], *ptrs[250];
		uint8_t ids[250][NODE_ID_LEN];

		for (unsigned i = 0; i < 250; i++) {
			unsigned k = chunk * 250 + i;

			nsa_peer__peer_info__init(&infos[i]);
			memset(ids[i], 0, NODE_ID_LEN);
			ids[i][0] = 0x55;
			ids[i][1] = (uint8_t)(k >> 8);
			ids[i][2] = (uint8_t)k;
			infos[i].node_id.data = ids[i];
			infos[i].node_id.len = NODE_ID_LEN;
			/* 127.1.x.y:1 refuses at once: nothing leaves the host */
			infos[i].addr = 0x7f010000u | k;
			infos[i].port = 1;
			ptrs[i] = &infos[i];
		}
		list.peers = ptrs;
		list.n_peers = 250;
		env.msg_case = NSA_PEER__ENVELOPE__MSG_PEER_LIST;
		env.peer_list = &list;
		remote_send(&r, &env);
		assert_true(keep_alive_for(&r, 20));
		assert_true(known_peers(&a) <= 32);
	}
	assert_true(keep_alive_for(&r, 2000));
	peer_mgr_security_stats(a.mgr, &s);
	assert_true(known_peers(&a) <= 32);
	assert_true(s.peers_refused > 9000);
	/* dial rate 20/s, burst 20, and one dial without a token for each
	 * peer that got a place in the table: the 32 it holds, and one per
	 * learned peer forgotten to make room */
	assert_true(s.dials <= 20 + 20 * (ph_now_ms() - start + 999) / 1000 + 32 + s.peers_evicted);
	assert_true(s.dials_deferred > 0);
	/* a real node still gets a place */
	{
		struct node b;
		struct endpoint seed = ph_endpoint(a.mgr, a.ip);

		node_start(&b, 2, &seed, 1, NULL);
		for (uint64_t end = ph_now_ms() + DEADLINE_MS;
		     ph_established(b.mgr, NULL) < 1 && ph_now_ms() < end;) {
			send_keepalive(&r);
			ph_run_for(20);
		}
		assert_int_equal(ph_established(b.mgr, NULL), 1);
		assert_true(ph_has_route(a.mgr, NET(2), LOOP(2)));
		free_node(&b);
	}
	ph_remote_close(&r);
	free_node(&a);
}

static bool has_route_200(void *arg)
{
	return ph_has_route(((struct node *)arg)->mgr, NET(200), LOOP(200));
}

/* The wide-prefix hijack: a peer announcing 172.16.128.0/17 beside its
 * own /24 gets only the /24; the /17 is refused for its length and
 * counted, the session stays up, and the real owner of 172.16.200.0/24,
 * joining afterwards, gets its route (a stored /17 would have made it
 * "overlap a subnet another live node owns"). */
static void test_wide_prefix_hijack(void **st)
{
	(void)st;
	struct node a, real;
	struct endpoint seed;
	uint8_t id[NODE_ID_LEN] = {0xee, 7};
	struct prefix wide = {0xac108000u, 17}, own = {0xac104d00u, 24};
	struct prefix adverts[] = {wide, own};
	struct peer_security_stats s;
	struct ph_remote r = {.fd = -1};

	node_start(&a, 1, NULL, 0, NULL);
	r.fd = ph_connect(ph_endpoint(a.mgr, a.ip), LOOP(9));
	ph_send_hello(r.fd, id, LOOP(9), 7470, 3000);
	ph_run_for(100);
	assert_int_equal(ph_established(a.mgr, NULL), 1);
	send_advert(&r, adverts, 2, true);
	assert_true(keep_alive_for(&r, 300));
	peer_mgr_security_stats(a.mgr, &s);
	assert_int_equal(s.rejected[RIB_REJECT_LENGTH], 1);
	assert_true(ph_has_route(a.mgr, own, LOOP(9)));
	assert_false(ph_has_route(a.mgr, wide, LOOP(9)));
	assert_int_equal(ph_n_routes(a.mgr), 1);

	seed = ph_endpoint(a.mgr, a.ip);
	node_start(&real, 200, &seed, 1, NULL);
	assert_true(keep_alive_until(&r, has_route_200, &a, DEADLINE_MS));
	assert_int_equal(ph_established(a.mgr, NULL), 2);
	assert_int_equal(ph_n_routes(a.mgr), 2);
	peer_mgr_security_stats(a.mgr, &s);
	assert_int_equal(s.rejected[RIB_REJECT_OWNED], 0);
	assert_int_equal(s.rejected[RIB_REJECT_LENGTH], 1);
	ph_remote_close(&r);
	free_node(&real);
	free_node(&a);
}

static bool claimed(void *arg)
{
	struct prefix subnet;

	return ph_subnet(((struct node *)arg)->mgr, &subnet);
}

/* Peer-list hints steer the claim only as node subnets: two /17 hints
 * cover the whole cluster and would make every /24 look taken; they are
 * ignored and the node claims a /24 (not the one node b holds). The hints
 * ride on the two live sessions (the script's own entry and b's), so they
 * stay until the claim is made, when the claim wait (500 ms) ends: the
 * script sends no end-of-adverts. */
static void test_wide_hints_do_not_block_claim(void **st)
{
	(void)st;
	uint16_t port;
	int listen_fd = ph_listen(LOOP(9), &port);
	struct node a, b;
	struct endpoint seeds[2];
	uint8_t ids[2][NODE_ID_LEN] = {{0xee, 8}};
	const uint32_t addrs[] = {LOOP(9), LOOP(2)};
	uint16_t ports[2];
	const struct prefix hints[] = {{0xac100000u, 17}, {0xac108000u, 17}};
	const struct prefix cluster = {0xac100000u, 16}, b_subnet = NET(2);
	struct evbuffer *in = evbuffer_new();
	struct ph_remote r = {.fd = -1};
	struct prefix subnet;
	bool eof;

	node_start(&b, 2, NULL, 0, NULL);
	memcpy(ids[1], b.id, NODE_ID_LEN);
	ports[0] = port;
	ports[1] = peer_mgr_listen_port(b.mgr);
	seeds[0] = (struct endpoint){NA4(LOOP(9)), port};
	seeds[1] = ph_endpoint(b.mgr, b.ip);
	node_start(&a, 1, seeds, 2, &(struct node_opts){.claim = true});
	r.fd = ph_accept(listen_fd);
	assert_int_equal(ph_next_msg(r.fd, in, &eof), NSA_PEER__ENVELOPE__MSG_HELLO);
	ph_send_hello(r.fd, ids[0], LOOP(9), port, 3000);
	send_peer_list(&r, ids, addrs, ports, hints, 2);
	assert_true(keep_alive_until(&r, claimed, &a, DEADLINE_MS));
	assert_true(ph_subnet(a.mgr, &subnet));
	assert_int_equal(subnet.len, 24);
	assert_true(addr_prefix_contains(&cluster, &subnet));
	assert_false(addr_prefix_equal(&subnet, &b_subnet));
	ph_remote_close(&r);
	close(listen_fd);
	evbuffer_free(in);
	free_node(&a);
	free_node(&b);
}

static bool refused_hello(void *arg)
{
	struct peer_security_stats s;

	peer_mgr_security_stats(((struct node *)arg)->mgr, &s);
	return s.hellos_refused > 0;
}

/* Without a cluster key a node IP must be the address the session comes
 * from: a hello from 127.0.0.9 naming 127.0.0.8 (routes would go to a
 * host the sender does not hold) is refused and counted, while the same
 * hello naming 127.0.0.9 is taken. With a key the session is
 * authenticated and a node IP apart from the source (NAT) is taken. */
static void test_node_ip_must_be_source(void **st)
{
	(void)st;
	struct tls_ctx *ka = th_ctx_with_key(0x31), *kr = th_ctx_with_key(0x31);
	struct node a;
	uint8_t id[NODE_ID_LEN] = {0xee, 9};
	struct prefix own = {0xac104e00u, 24};
	struct peer_security_stats s;
	struct ph_remote r = {.fd = -1};
	struct io io;

	node_start(&a, 1, NULL, 0, NULL);
	r.fd = ph_connect(ph_endpoint(a.mgr, a.ip), LOOP(9));
	io = (struct io){.fd = r.fd};
	ph_send_hello(r.fd, id, LOOP(8), 7470, 3000);
	assert_true(ph_run_until(io_eof, &io, DEADLINE_MS));
	assert_true(refused_hello(&a));
	assert_int_equal(ph_established(a.mgr, NULL), 0);
	assert_int_equal(known_peers(&a), 0);
	ph_remote_close(&r);
	/* the same node with its real address */
	r.fd = ph_connect(ph_endpoint(a.mgr, a.ip), LOOP(9));
	ph_send_hello(r.fd, id, LOOP(9), 7470, 3000);
	assert_true(keep_alive_for(&r, 200));
	assert_int_equal(ph_established(a.mgr, NULL), 1);
	peer_mgr_security_stats(a.mgr, &s);
	assert_int_equal(s.hellos_refused, 1);
	ph_remote_close(&r);
	free_node(&a);

	/* keyed: from 127.0.0.9, node IP 127.0.0.8, taken; routes go to it */
	node_start(&a, 1, NULL, 0, &(struct node_opts){.tls = ka});
	ph_tls_open(&r, kr, ph_endpoint(a.mgr, a.ip), LOOP(9));
	ph_put_hello(bufferevent_get_output(r.bev), id, LOOP(8), 7470, 3000);
	ph_run_for(100);
	assert_int_equal(ph_established(a.mgr, NULL), 1);
	send_advert(&r, &own, 1, false);
	assert_true(keep_alive_for(&r, 200));
	assert_true(ph_has_route(a.mgr, own, LOOP(8)));
	peer_mgr_security_stats(a.mgr, &s);
	assert_int_equal(s.hellos_refused, 0);
	free_node(&a); /* first: a lost session would be redialled */
	ph_remote_close(&r);
	tls_ctx_free(ka);
	tls_ctx_free(kr);
}

static bool one_peer_known(void *arg)
{
	return known_peers(arg) == 1;
}

/* A relayed address that answers with another node IP (a node's second
 * address, say) is refused, and then forgotten rather than redialled:
 * without a key it can never become a session. */
static void test_relayed_address_not_node_ip(void **st)
{
	(void)st;
	uint16_t port;
	int listen_fd = ph_listen(LOOP(10), &port);
	struct node a;
	const uint8_t ids[1][NODE_ID_LEN] = {{0xee, 12}};
	uint8_t id[NODE_ID_LEN] = {0xee, 13};
	const uint32_t addrs[] = {LOOP(10)};
	const uint16_t ports[] = {port};
	struct evbuffer *in = evbuffer_new();
	struct peer_security_stats s;
	struct ph_remote r = {.fd = -1};
	bool eof;
	int fd, again;

	node_start(&a, 1, NULL, 0, NULL);
	r.fd = ph_connect(ph_endpoint(a.mgr, a.ip), LOOP(9));
	ph_send_hello(r.fd, id, LOOP(9), 7470, 3000);
	send_peer_list(&r, ids, addrs, ports, NULL, 1);
	fd = ph_accept(listen_fd);
	assert_int_equal(ph_next_msg(fd, in, &eof), NSA_PEER__ENVELOPE__MSG_HELLO);
	ph_send_hello(fd, ids[0], LOOP(11), port, 3000);
	assert_true(keep_alive_until(&r, one_peer_known, &a, DEADLINE_MS));
	peer_mgr_security_stats(a.mgr, &s);
	assert_int_equal(s.hellos_refused, 1);
	/* not redialled (connect-retry-max is 200 ms here) */
	assert_true(keep_alive_for(&r, 600));
	again = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK);
	assert_int_equal(again, -1);
	assert_int_equal(known_peers(&a), 1);
	close(fd);
	ph_remote_close(&r);
	close(listen_fd);
	evbuffer_free(in);
	free_node(&a);
}

/* Production rules (the harness's loopback switch off): a peer list
 * naming loopback, multicast, broadcast, 0.0.0.0/8 or cluster addresses
 * makes the node dial none of them. The relaying peer needs a node IP the
 * node accepts, so it is an authenticated one behind "NAT": TEST-NET-2
 * 198.51.100.9, never dialled while its session is up. */
static void test_undialable_peer_list(void **st)
{
	(void)st;
	struct tls_ctx *ka = th_ctx_with_key(0x32), *kr = th_ctx_with_key(0x32);
	struct node a;
	uint8_t id[NODE_ID_LEN] = {0xee, 10};
	const uint32_t addrs[] = {
	    0x7f000001u, /* 127.0.0.1: the node itself, other port */
	    0x7f000005u, /* 127.0.0.5 */
	    0xe0000005u, /* 224.0.0.5 multicast */
	    0xffffffffu, /* limited broadcast */
	    0xf0000001u, /* 240.0.0.1 reserved */
	    0x00010203u, /* 0.1.2.3 */
	    0xac100901u, /* 172.16.9.1: inside the cluster range */
	};
	const uint16_t ports[] = {7470, 7470, 7470, 7470, 7470, 7470, 7470};
	const uint8_t ids[7][NODE_ID_LEN] = {{0x44, 1}, {0x44, 2}, {0x44, 3}, {0x44, 4},
					     {0x44, 5}, {0x44, 6}, {0x44, 7}};
	unsigned n = sizeof(addrs) / sizeof(addrs[0]);
	struct peer_security_stats s;
	struct ph_remote r;

	node_start(&a, 1, NULL, 0, &(struct node_opts){.tls = ka, .no_loopback = true});
	ph_tls_open(&r, kr, ph_endpoint(a.mgr, a.ip), LOOP(9));
	ph_put_hello(bufferevent_get_output(r.bev), id, 0xc6336409u, 7470, 3000);
	ph_run_for(100);
	assert_int_equal(ph_established(a.mgr, NULL), 1);
	send_peer_list(&r, ids, addrs, ports, NULL, n);
	assert_true(keep_alive_for(&r, 500));
	peer_mgr_security_stats(a.mgr, &s);
	assert_int_equal(s.dials, 0);
	assert_int_equal(known_peers(&a), 1);
	free_node(&a);
	ph_remote_close(&r);
	tls_ctx_free(ka);
	tls_ctx_free(kr);
}

/* The same switch off: a hello naming a loopback node IP is refused even
 * from that address, and a loopback seed is never dialled. */
static void test_no_loopback_in_production(void **st)
{
	(void)st;
	struct node a;
	struct endpoint seed = {NA4(LOOP(9)), 7470};
	uint8_t id[NODE_ID_LEN] = {0xee, 11};
	struct peer_security_stats s;
	struct io io;
	int fd;

	node_start(&a, 1, &seed, 1, &(struct node_opts){.no_loopback = true});
	fd = ph_connect(ph_endpoint(a.mgr, a.ip), LOOP(9));
	io = (struct io){.fd = fd};
	ph_send_hello(fd, id, LOOP(9), 7470, 3000);
	assert_true(ph_run_until(io_eof, &io, DEADLINE_MS));
	peer_mgr_security_stats(a.mgr, &s);
	assert_int_equal(s.hellos_refused, 1);
	assert_int_equal(s.dials, 0);
	assert_int_equal(known_peers(&a), 0);
	close(fd);
	free_node(&a);
}

static int setup(void **st)
{
	(void)st;
	return ph_init();
}

static int teardown(void **st)
{
	(void)st;
	ph_fini();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tls_same_key),
	    cmocka_unit_test(test_tls_wrong_key),
	    cmocka_unit_test(test_tls_no_key),
	    cmocka_unit_test(test_tls_plain_hello_closed_fast),
	    cmocka_unit_test(test_hijack_adverts),
	    cmocka_unit_test(test_malformed_frames),
	    cmocka_unit_test(test_half_open_flood),
	    cmocka_unit_test(test_peer_list_poisoning),
	    cmocka_unit_test(test_wide_prefix_hijack),
	    cmocka_unit_test(test_wide_hints_do_not_block_claim),
	    cmocka_unit_test(test_node_ip_must_be_source),
	    cmocka_unit_test(test_relayed_address_not_node_ip),
	    cmocka_unit_test(test_undialable_peer_list),
	    cmocka_unit_test(test_no_loopback_in_production),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
