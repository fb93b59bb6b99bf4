/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fakepeer: a hostile or broken peer for the lab security tests. It links
 * the agent's own wire codec and TLS module, so what it sends is exactly
 * what a real (or a malicious) node could send.
 *
 *   fakepeer session --connect ADDR:PORT --node-ip ADDR [--from ADDR]
 *            [--key-file PATH]
 *            [--advert PREFIX]... [--advert-many N [--many-base ADDR]]
 *            [--explicit]
 *            [--advert6 ADDR6/LEN]... [--advert6-short N] [--link-local6 ADDR6]
 *            [--wg-key HEX] [--wg-port N]
 *            [--peers N] [--hold SECONDS]
 *        connect (from --from, an address of the host it runs on: without
 *        a cluster key an agent takes a node IP only from the address the
 *        session comes from; default the kernel's choice), hello, wait
 *        for the answer hello (prints "established"),
 *        send the adverts (IPv6 ones in the same advert, any length
 *        (a length over 128 too); --advert6-short: N entries whose
 *        address is 15 bytes; --advert-many: N consecutive /32s from
 *        --many-base, default 172.16.100.0) and peer lists (N made-up
 *        addresses 198.18.x.y in lists of
 *        250; --wg-key: a WireGuard public key of any length, in hex,
 *        and --wg-port any number: both as given, in the advert), keep the
 *        session alive with keepalives for --hold seconds.
 *        Exit 0 when the session was still up at the end, 3 when the agent
 *        closed it, 4 when it never got established (prints how long the
 *        agent took to close it: "closed after N ms").
 *   fakepeer raw --connect ADDR:PORT --kind K [--count N]
 *        N plain connections (default 1), each sending one kind of junk and
 *        waiting (up to 10 s) for the agent to close it; kinds: oversize,
 *        zero, truncated (half a frame, then silence), random, absurd (a
 *        valid hello with absurd values, then an advert with absurd
 *        lengths), mixed (cycles through all but truncated, without waiting).
 *   fakepeer idle --connect ADDR:PORT --count N --hold SECONDS
 *        N connections that send nothing, held open (a half-open flood). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "nsagent/addr.h"
#include "nsagent/addr6.h"
#include "nsagent/log.h"
#include "nsagent/nodeid.h"
#include "nsagent/tls.h"
#include "nsagent/wire.h"

#define MAX_ADVERT 2000

static struct endpoint target;
static uint32_t node_ip, from_addr;
static char *key_file;
static struct prefix adverts[MAX_ADVERT];
static unsigned n_adverts;
static bool explicit_subnet;
/* IPv6 entries, sent as they are (any length), and the link-local next hop. */
#define MAX_ADVERT6 64
static struct in6_addr adverts6[MAX_ADVERT6];
static uint32_t adverts6_len[MAX_ADVERT6];
static unsigned n_adverts6, n_adverts6_short;
static struct in6_addr link_local6;
static bool link_local6_set;
/* --wg-key, --wg-port: put in the advert as given (any length, any port). */
static uint8_t wg_key[64];
static size_t wg_key_len;
static uint32_t wg_port;
static unsigned n_fake_peers, count = 1;
static unsigned hold_s = 3;
static const char *kind = "random";
static uint32_t many_base = 0xac106400u; /* 172.16.100.0 */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void die(const char *what)
{
	fprintf(stderr, "fakepeer: %s\n", what);
	exit(2);
}

static int tcp_connect(bool block)
{
	struct sockaddr_storage sin;
	socklen_t sin_len = nodeaddr_to_sockaddr(&target.addr, target.port, &sin);
	int fd = socket(sin.ss_family, SOCK_STREAM | (block ? 0 : SOCK_NONBLOCK), 0);

	if (fd < 0)
		die("socket");
	if (connect(fd, (struct sockaddr *)&sin, sin_len) < 0 && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

static void put_frame(struct evbuffer *b, const NsaPeer__Envelope *env)
{
	if (wire_write(b, env) < 0)
		die("cannot encode a frame");
}

static void hello_frame(struct evbuffer *b, bool absurd)
{
	NsaPeer__Envelope env = NSA_PEER__ENVELOPE__INIT;
	NsaPeer__Hello hello = NSA_PEER__HELLO__INIT;
	uint8_t id[NODE_ID_LEN];

	if (getrandom(id, sizeof(id), 0) != sizeof(id))
		die("getrandom");
	id[0] |= 0x80; /* high ids: the victim keeps its subnet in a claim dispute */
	hello.version = absurd ? UINT32_MAX : 1;
	hello.node_id.data = id;
	hello.node_id.len = NODE_ID_LEN;
	hello.node_ip = absurd ? 0xffffffffu : node_ip;
	hello.listen_port = absurd ? 70000 : 7470;
	hello.keepalive_ms = absurd ? UINT32_MAX : 1000;
	hello.hold_ms = absurd ? 1 : 3000;
	hello.capabilities = absurd ? UINT64_MAX : 0;
	env.msg_case = NSA_PEER__ENVELOPE__MSG_HELLO;
	env.hello = &hello;
	put_frame(b, &env);
}

/* The --advert6 entries (then the --advert6-short ones) and the next hop. */
static void add_ipv6(NsaPeer__Advert *advert)
{
	static NsaPeer__Prefix6 p6[MAX_ADVERT6 * 2];
	unsigned n = 0;

	advert->subnets6 = calloc(n_adverts6 + n_adverts6_short + 1, sizeof(*advert->subnets6));
	for (unsigned i = 0; i < n_adverts6 + n_adverts6_short; i++, n++) {
		nsa_peer__prefix6__init(&p6[n]);
		p6[n].addr.data = adverts6[i < n_adverts6 ? i : 0].s6_addr;
		p6[n].addr.len = i < n_adverts6 ? 16 : 15;
		p6[n].len = i < n_adverts6 ? adverts6_len[i] : 64;
		advert->subnets6[n] = &p6[n];
	}
	advert->n_subnets6 = n;
	if (link_local6_set) {
		advert->link_local6.data = link_local6.s6_addr;
		advert->link_local6.len = 16;
	}
	advert->wg_pubkey.data = wg_key;
	advert->wg_pubkey.len = wg_key_len;
	advert->wg_port = wg_port;
}

static void advert_frame(struct evbuffer *b, const struct prefix *subnets, unsigned n, bool absurd)
{
	NsaPeer__Envelope env = NSA_PEER__ENVELOPE__INIT;
	NsaPeer__Advert advert = NSA_PEER__ADVERT__INIT;
	NsaPeer__Prefix *p = calloc(n + 1, sizeof(*p)), **ptrs = calloc(n + 1, sizeof(*ptrs));

	for (unsigned i = 0; i < n; i++) {
		nsa_peer__prefix__init(&p[i]);
		p[i].addr = subnets[i].addr;
		p[i].len = absurd ? UINT32_MAX - i : subnets[i].len;
		ptrs[i] = &p[i];
	}
	advert.subnets = ptrs;
	advert.n_subnets = n;
	advert.explicit_subnet = explicit_subnet;
	add_ipv6(&advert);
	env.msg_case = NSA_PEER__ENVELOPE__MSG_ADVERT;
	env.advert = &advert;
	put_frame(b, &env);
	free(advert.subnets6);
	free(ptrs);
	free(p);
}

static void keepalive_frame(struct evbuffer *b)
{
	NsaPeer__Envelope env = NSA_PEER__ENVELOPE__INIT;
	NsaPeer__Keepalive ka = NSA_PEER__KEEPALIVE__INIT;

	env.msg_case = NSA_PEER__ENVELOPE__MSG_KEEPALIVE;
	env.keepalive = &ka;
	put_frame(b, &env);
}

/* n made-up peers from first on, in lists of at most 250 per frame. */
static void peer_list_frames(struct evbuffer *b, unsigned n)
{
	for (unsigned first = 0; first < n; first += 250) {
		unsigned m = n - first < 250 ? n - first : 250;
		NsaPeer__Envelope env = NSA_PEER__ENVELOPE__INIT;
		NsaPeer__PeerList list = NSA_PEER__PEER_LIST__INIT;
		NsaPeer__PeerInfo infos[250], *ptrs[250];
		uint8_t ids[250][NODE_ID_LEN];

		for (unsigned i = 0; i < m; i++) {
			unsigned k = first + i;

			nsa_peer__peer_info__init(&infos[i]);
			memset(ids[i], 0, NODE_ID_LEN);
			ids[i][0] = 0x66;
			ids[i][1] = (uint8_t)(k >> 16);
			ids[i][2] = (uint8_t)(k >> 8);
			ids[i][3] = (uint8_t)k;
			infos[i].node_id.data = ids[i];
			infos[i].node_id.len = NODE_ID_LEN;
			/* 198.18.0.0/15 (RFC 2544 benchmarking): nothing answers */
			infos[i].addr = 0xc6120000u | (k & 0x1ffff);
			infos[i].port = 7470;
			ptrs[i] = &infos[i];
		}
		list.peers = ptrs;
		list.n_peers = m;
		env.msg_case = NSA_PEER__ENVELOPE__MSG_PEER_LIST;
		env.peer_list = &list;
		put_frame(b, &env);
	}
}

/* ---- session mode ---- */

struct session {
	struct event_base *base;
	struct bufferevent *bev;
	struct event *tick;
	bool connected, established, closed;
	uint64_t start_ms, end_ms, closed_ms;
};

static void session_read(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;
	NsaPeer__Envelope *env;
	int ret;

	while ((ret = wire_read(bufferevent_get_input(bev), &env)) == 1) {
		if (!s->established && env->msg_case == NSA_PEER__ENVELOPE__MSG_HELLO) {
			struct evbuffer *out = bufferevent_get_output(bev);

			s->established = true;
			printf("established\n");
			fflush(stdout);
			if (n_adverts > 0 || n_adverts6 > 0 || n_adverts6_short > 0)
				advert_frame(out, adverts, n_adverts, false);
			if (n_fake_peers)
				peer_list_frames(out, n_fake_peers);
		}
		wire_free(env);
	}
	if (ret < 0)
		die("the agent sent a malformed frame");
}

static void session_event(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;

	if (what & BEV_EVENT_CONNECTED) {
		s->connected = true;
		hello_frame(bufferevent_get_output(bev), false);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		s->closed = true;
		s->closed_ms = now_ms();
		event_base_loopexit(s->base, NULL);
	}
}

static void session_tick(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	(void)fd;
	(void)what;
	if (now_ms() >= s->end_ms) {
		event_base_loopexit(s->base, NULL);
		return;
	}
	if (s->established)
		keepalive_frame(bufferevent_get_output(s->bev));
}

static int run_session(void)
{
	struct session s = {0};
	struct tls_ctx *tls = NULL;
	struct sockaddr_storage sin;
	socklen_t sin_len = nodeaddr_to_sockaddr(&target.addr, target.port, &sin);
	struct timeval half = {0, 500000};
	evutil_socket_t fd = socket(sin.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket");
	if (from_addr) {
		struct sockaddr_in src = {.sin_family = AF_INET,
					  .sin_addr.s_addr = htonl(from_addr)};

		if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0)
			die("cannot bind --from (is it an address of this host?)");
	}
	s.base = event_base_new();
	if (key_file) {
		uint8_t key[TLS_KEY_LEN];
		char msg[512];

		if (tls_key_load(key_file, key, msg, sizeof(msg)) < 0)
			die(msg);
		if (tls_ctx_new(key, &tls) < 0)
			die("tls");
		tls_wipe(key, sizeof(key));
		s.bev = tls_bev_new(tls, s.base, fd, true);
	} else {
		s.bev = bufferevent_socket_new(s.base, fd, BEV_OPT_CLOSE_ON_FREE);
	}
	bufferevent_setcb(s.bev, session_read, NULL, session_event, &s);
	bufferevent_enable(s.bev, EV_READ | EV_WRITE);
	s.start_ms = now_ms();
	s.end_ms = s.start_ms + hold_s * 1000ull;
	if (bufferevent_socket_connect(s.bev, (struct sockaddr *)&sin, (int)sin_len) < 0)
		die("connect");
	s.tick = event_new(s.base, -1, EV_PERSIST, session_tick, &s);
	event_add(s.tick, &half);
	event_base_dispatch(s.base);
	event_free(s.tick);
	bufferevent_free(s.bev);
	event_base_free(s.base);
	tls_ctx_free(tls);
	if (s.closed)
		printf("closed after %llu ms\n", (unsigned long long)(s.closed_ms - s.start_ms));
	if (!s.established)
		return 4;
	return s.closed ? 3 : 0;
}

/* ---- raw and idle modes ---- */

/* Waits up to ms for the agent to close fd; true when it did. */
static bool wait_closed(int fd, int ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;
	char buf[4096];

	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		uint64_t now = now_ms();
		ssize_t n;

		if (now >= end || poll(&pfd, 1, (int)(end - now)) <= 0)
			return false;
		n = read(fd, buf, sizeof(buf));
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return true;
	}
}

static void junk(struct evbuffer *b, const char *k)
{
	if (strcmp(k, "oversize") == 0) {
		static const uint8_t h[] = {0x7f, 0xff, 0xff, 0xff, 1, 2, 3};

		evbuffer_add(b, h, sizeof(h));
	} else if (strcmp(k, "zero") == 0) {
		static const uint8_t h[] = {0, 0, 0, 0};

		evbuffer_add(b, h, sizeof(h));
	} else if (strcmp(k, "truncated") == 0) {
		static const uint8_t h[] = {0, 0, 0x10, 0, 0x0a, 0x10, 0x08};

		evbuffer_add(b, h, sizeof(h));
	} else if (strcmp(k, "random") == 0) {
		uint8_t r[1024];

		if (getrandom(r, sizeof(r), 0) != sizeof(r))
			die("getrandom");
		evbuffer_add(b, r, sizeof(r));
	} else if (strcmp(k, "absurd") == 0) {
		struct prefix p[64];

		for (unsigned i = 0; i < 64; i++)
			p[i] = (struct prefix){0xffffffffu - i, 32};
		hello_frame(b, true);
		advert_frame(b, p, 64, true);
	} else {
		die("unknown --kind");
	}
}

static int run_raw(void)
{
	static const char *const mixed[] = {"oversize", "zero", "random", "absurd"};
	unsigned not_closed = 0;
	uint64_t worst = 0;

	for (unsigned i = 0; i < count; i++) {
		bool is_mixed = strcmp(kind, "mixed") == 0;
		const char *k = is_mixed ? mixed[i % 4] : kind;
		struct evbuffer *b = evbuffer_new();
		uint64_t start = now_ms();
		int fd = tcp_connect(true);

		if (fd < 0) {
			/* refused by a limit: that is fine, try again a bit later */
			evbuffer_free(b);
			usleep(1000);
			continue;
		}
		junk(b, k);
		while (evbuffer_get_length(b) && evbuffer_write(b, fd) > 0)
			;
		evbuffer_free(b);
		if (!is_mixed) {
			if (!wait_closed(fd, 10000))
				not_closed++;
			else if (now_ms() - start > worst)
				worst = now_ms() - start;
		} else {
			shutdown(fd, SHUT_WR);
			wait_closed(fd, 100);
		}
		close(fd);
	}
	printf("connections %u, not closed by the agent %u, slowest close %llu ms\n", count,
	       not_closed, (unsigned long long)worst);
	return not_closed ? 3 : 0;
}

static int run_idle(void)
{
	struct rlimit rl = {count + 64, count + 64};
	unsigned open_now = 0;
	int *fds = calloc(count, sizeof(*fds));

	setrlimit(RLIMIT_NOFILE, &rl);
	for (unsigned i = 0; i < count; i++) {
		fds[i] = tcp_connect(false);
		open_now += fds[i] >= 0;
	}
	printf("opened %u idle connections\n", open_now);
	fflush(stdout);
	sleep(hold_s);
	for (unsigned i = 0; i < count; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"connect", required_argument, NULL, 'c'},
	    {"node-ip", required_argument, NULL, 'n'},
	    {"from", required_argument, NULL, 'f'},
	    {"key-file", required_argument, NULL, 'k'},
	    {"advert", required_argument, NULL, 'a'},
	    {"advert-many", required_argument, NULL, 'm'},
	    {"explicit", no_argument, NULL, 'e'},
	    {"peers", required_argument, NULL, 'p'},
	    {"hold", required_argument, NULL, 'h'},
	    {"kind", required_argument, NULL, 'K'},
	    {"count", required_argument, NULL, 'N'},
	    {"many-base", required_argument, NULL, 'B'},
	    {"advert6", required_argument, NULL, '6'},
	    {"advert6-short", required_argument, NULL, 'S'},
	    {"link-local6", required_argument, NULL, 'L'},
	    {"wg-key", required_argument, NULL, 'W'},
	    {"wg-port", required_argument, NULL, 'P'},
	    {NULL, 0, NULL, 0},
	};
	const char *mode;
	int c;

	if (argc < 2)
		die("usage: fakepeer session|raw|idle OPTIONS (see the source)");
	mode = argv[1];
	log_set_level(LOG_LEVEL_ERROR);
	optind = 2;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (addr_parse_endpoint(optarg, 7470, &target) < 0)
				die("bad --connect");
			break;
		case 'n':
			if (addr_parse(optarg, &node_ip) < 0)
				die("bad --node-ip");
			break;
		case 'f':
			if (addr_parse(optarg, &from_addr) < 0)
				die("bad --from");
			break;
		case 'k':
			key_file = optarg;
			break;
		case 'a':
			if (n_adverts == MAX_ADVERT)
				die("too many --advert");
			/* host bits allowed on purpose: they are a test case */
			{
				char copy[64], *slash;
				uint32_t a;

				snprintf(copy, sizeof(copy), "%s", optarg);
				slash = strchr(copy, '/');
				if (!slash)
					die("bad --advert");
				*slash = '\0';
				if (addr_parse(copy, &a) < 0)
					die("bad --advert");
				adverts[n_adverts++] = (struct prefix){a, (uint8_t)atoi(slash + 1)};
			}
			break;
		case 'm':
			for (unsigned i = 0, n = (unsigned)atoi(optarg); i < n; i++) {
				if (n_adverts == MAX_ADVERT)
					die("too many adverts");
				adverts[n_adverts++] = (struct prefix){many_base + i, 32};
			}
			break;
		case 'B':
			if (addr_parse(optarg, &many_base) < 0)
				die("bad --many-base");
			break;
		case 'e':
			explicit_subnet = true;
			break;
		case '6': {
			char copy[80], *slash;

			snprintf(copy, sizeof(copy), "%s", optarg);
			slash = strchr(copy, '/');
			if (!slash || n_adverts6 == MAX_ADVERT6)
				die("bad --advert6");
			*slash = '\0';
			/* any length and host bits on purpose: they are test cases */
			if (addr6_parse(copy, &adverts6[n_adverts6]) < 0)
				die("bad --advert6");
			adverts6_len[n_adverts6++] = (uint32_t)strtoul(slash + 1, NULL, 10);
			break;
		}
		case 'S':
			n_adverts6_short = (unsigned)atoi(optarg);
			if (n_adverts6_short > MAX_ADVERT6)
				die("bad --advert6-short");
			break;
		case 'L':
			if (addr6_parse(optarg, &link_local6) < 0)
				die("bad --link-local6");
			link_local6_set = true;
			break;
		case 'W':
			wg_key_len = strlen(optarg) / 2;
			if (strlen(optarg) % 2 || wg_key_len > sizeof(wg_key))
				die("bad --wg-key");
			for (size_t i = 0; i < wg_key_len; i++) {
				unsigned byte;

				if (sscanf(optarg + 2 * i, "%2x", &byte) != 1)
					die("bad --wg-key");
				wg_key[i] = (uint8_t)byte;
			}
			break;
		case 'P':
			wg_port = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'p':
			n_fake_peers = (unsigned)atoi(optarg);
			break;
		case 'h':
			hold_s = (unsigned)atoi(optarg);
			break;
		case 'K':
			kind = optarg;
			break;
		case 'N':
			count = (unsigned)atoi(optarg);
			break;
		default:
			die("unknown option");
		}
	}
	if (nodeaddr_is_zero(&target.addr))
		die("--connect is required");
	if (strcmp(mode, "session") == 0)
		return run_session();
	if (strcmp(mode, "raw") == 0)
		return run_raw();
	if (strcmp(mode, "idle") == 0)
		return run_idle();
	die("unknown mode");
}
