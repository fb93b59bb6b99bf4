/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: data-path probes. Owns, per established peer, whether the path to
 * its bridge actually forwards: an ICMP echo from our bridge address to the
 * peer's, through the installed route, every probe interval.
 *
 * The bookkeeping (probe_table) is pure and driven by rounds: at each round
 * every probe still unanswered counts as lost and every peer due at the
 * round (below) gets a new one, so a reply has one interval to come back.
 * A peer's result moves unknown -> ok on its first reply, to failed after PROBE_BREAK_AFTER
 * losses in a row, and back to ok after PROBE_HEAL_AFTER replies in a
 * row; only those changes reach the change callback, so a broken path is
 * logged once when it breaks and once when it heals, however long it stays
 * so. Invariants: a peer has at most one outstanding probe, a reply counts
 * only when its source and sequence number match that probe, and
 * window_lost <= window_count <= PROBE_WINDOW.
 *
 * Probes were about 40 % of an idle agent's CPU with 63 peers (an echo to
 * every peer, both families, every round; tests/bench/README.md, the sixth
 * step), and a path that has answered for a while is not likely to stop
 * answering at the next round. So a peer is probed only at the rounds it
 * is due at: its stride doubles (1, 2, 4 = PROBE_STRIDE_MAX) after
 * PROBE_STRIDE_AFTER answers in a row at the current one while its result
 * is ok (an unknown or failed path is probed every round), and falls back
 * to 1 at a loss; a new peer or address starts at 1. Losses are still decided at the next round,
 * whatever the stride, so after a loss the peer is probed every round and
 * the PROBE_BREAK_AFTER losses that report a break come as fast as before;
 * what the stride adds is the wait for the first probe into a break: a
 * break is reported within PROBE_BREAK_ROUNDS_MAX rounds (7) instead of
 * PROBE_BREAK_AFTER + 1 (4). Each peer has a phase (which rounds of its
 * stride it is due at), given when it joins the table as the phase fewest
 * peers have, so a steady round probes about N / PROBE_STRIDE_MAX peers
 * rather than all of them every fourth round. sent, lost and the loss
 * window count the probes actually sent; a round with no probe to a peer
 * decides nothing for it.
 *
 * The I/O layer (struct probe) is one libevent timer and one ICMP socket
 * for all peers, bound to our bridge address. It prefers an ICMP datagram
 * ("ping") socket, which needs no privilege but only works when the
 * agent's group is inside net.ipv4.ping_group_range; that sysctl is per
 * network namespace and defaults to "1 0" (nobody, root included), which
 * is what a fresh lab host or container has. Then it falls back to a raw
 * ICMP socket (CAP_NET_RAW, which the agent has as root and the systemd
 * unit grants), with ICMP_FILTER letting only echo replies through and an
 * ident of its own to pick its replies out of the host's. Either way the
 * peer is identified by the replying address and the echo sequence number.
 *
 * IPv6 is the same with ICMPv6: a datagram socket under the same
 * ping_group_range, else a raw one with ICMP6_FILTER passing echo replies
 * only. Both families share the table logic; a table holds one family, and
 * a peer is matched on both address fields (the other one is zero).
 *
 * The traffic is cluster-internal (bridge address to bridge address), so
 * the agent's own nft table leaves it untracked and accepts it (every
 * chain's policy is accept); the peer's kernel answers from its input path. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
/* After <netinet/in.h>, so that the kernel header defers to libc's types. */
#include <linux/icmp.h>
#include <netinet/icmp6.h>

#include <event2/event.h>

#include "nsagent/addr.h"
#include "nsagent/addr6.h"
#include "nsagent/grid.h"
#include "nsagent/log.h"
#include "nsagent/probe.h"
#include "nsagent/xalloc.h"

/* Replies read per readable event, so a flood cannot hold the loop. */
#define PROBE_READ_BURST 64
/* A round timer that fires this close before its grid point (the wall
 * clock read apart from the loop's) is taken for the point itself. */
#define PROBE_GRID_SLACK_MS 5
#define PROBE_ICMP_HEADER_LEN 8
#define PROBE_MIN_IP_HEADER_LEN 20

/* Marks an echo as ours (and as a data-path probe to whoever captures it). */
static const uint8_t probe_magic[PROBE_ECHO_LEN - PROBE_ICMP_HEADER_LEN] = "nsagent probe v1";

_Static_assert(PROBE_WINDOW <= 32, "the loss window is a 32-bit history");
_Static_assert(PROBE_STRIDE_MAX >= 1 && (PROBE_STRIDE_MAX & (PROBE_STRIDE_MAX - 1)) == 0,
	       "a stride doubles up to PROBE_STRIDE_MAX, so it is a power of two");

/* ---- bookkeeping ---- */

struct probe_table {
	struct probe_peer *peers;
	unsigned n_peers;
	uint16_t next_seq;
	uint64_t round; /* rounds so far: which peers are due */
	probe_change_fn on_change;
	void *arg;
};

struct probe_table *probe_table_new(probe_change_fn on_change, void *arg)
{
	struct probe_table *table = xcalloc(1, sizeof(*table));

	table->on_change = on_change;
	table->arg = arg;
	return table;
}

void probe_table_free(struct probe_table *table)
{
	if (!table)
		return;
	free(table->peers);
	free(table);
}

static struct probe_peer *find_peer(struct probe_peer *peers, unsigned n,
				    const struct nodeaddr *node_ip)
{
	for (unsigned i = 0; i < n; i++) {
		if (nodeaddr_equal(&peers[i].node_ip, node_ip))
			return &peers[i];
	}
	return NULL;
}

/* The phase fewest peers have (the lowest such), taken by the caller: a
 * new peer joins the rounds with the fewest probes once every stride is
 * the largest. */
static unsigned take_least_used_phase(unsigned used[PROBE_STRIDE_MAX])
{
	unsigned best = 0;

	for (unsigned ph = 1; ph < PROBE_STRIDE_MAX; ph++) {
		if (used[ph] < used[best])
			best = ph;
	}
	used[best]++;
	return best;
}

void probe_table_sync(struct probe_table *table, const struct probe_target *targets, unsigned n)
{
	struct probe_peer *peers = xcalloc(n ? n : 1, sizeof(*peers));
	bool *fresh = xcalloc(n ? n : 1, sizeof(*fresh));
	unsigned used[PROBE_STRIDE_MAX] = {0};
	unsigned kept = 0;

	for (unsigned i = 0; i < n; i++) {
		const struct probe_peer *old;
		struct probe_peer *p;

		if (find_peer(peers, kept, &targets[i].node_ip))
			continue;
		p = &peers[kept++];
		old = find_peer(table->peers, table->n_peers, &targets[i].node_ip);
		if (old && old->addr == targets[i].addr &&
		    memcmp(&old->addr6, &targets[i].addr6, sizeof(old->addr6)) == 0) {
			*p = *old;
			used[p->phase]++;
			continue;
		}
		/* New, or its subnet moved: what we knew was about another path. */
		memset(p, 0, sizeof(*p));
		p->node_ip = targets[i].node_ip;
		p->addr = targets[i].addr;
		p->addr6 = targets[i].addr6;
		p->result = PROBE_UNKNOWN;
		p->stride = 1;
		fresh[kept - 1] = true;
	}
	/* The kept peers keep their phases (their due rounds never move); the
	 * fresh ones fill the phases fewest peers have. */
	for (unsigned i = 0; i < kept; i++) {
		if (fresh[i])
			peers[i].phase = take_least_used_phase(used);
	}
	free(fresh);
	free(table->peers);
	table->peers = peers;
	table->n_peers = kept;
}

/* Every round from now on: a loss. A result other than ok keeps it so,
 * since the stride grows only with answers while ok. */
static void stride_reset(struct probe_peer *p)
{
	p->stride = 1;
	p->stride_answered = 0;
}

static void change_result(struct probe_table *table, struct probe_peer *p, enum probe_result to)
{
	enum probe_result from = p->result;

	p->result = to;
	if (table->on_change)
		table->on_change(table->arg, p, from);
}

static void record(struct probe_peer *p, bool lost)
{
	uint32_t mask = PROBE_WINDOW == 32 ? UINT32_MAX : (UINT32_C(1) << PROBE_WINDOW) - 1;

	p->outstanding = false;
	p->history = (p->history << 1) | (lost ? 1 : 0);
	if (p->window_count < PROBE_WINDOW)
		p->window_count++;
	p->window_lost = (unsigned)__builtin_popcount(p->history & mask);
}

static void record_loss(struct probe_table *table, struct probe_peer *p)
{
	record(p, true);
	p->lost++;
	p->answered_in_row = 0;
	p->lost_in_row++;
	stride_reset(p);
	if (p->result != PROBE_FAILED && p->lost_in_row >= PROBE_BREAK_AFTER)
		change_result(table, p, PROBE_FAILED);
}

unsigned probe_table_round(struct probe_table *table, uint64_t now_us, struct probe_send *out,
			   unsigned max)
{
	uint64_t round = table->round++;
	unsigned n = 0;

	for (unsigned i = 0; i < table->n_peers; i++) {
		struct probe_peer *p = &table->peers[i];

		if (p->outstanding)
			record_loss(table, p);
		/* After a loss the stride is 1: due at once. */
		if ((round + p->phase) % p->stride != 0 || n >= max)
			continue;
		p->outstanding = true;
		p->seq = table->next_seq++;
		p->sent_us = now_us;
		p->sent++;
		out[n].addr = p->addr;
		out[n].addr6 = p->addr6;
		out[n].seq = p->seq;
		n++;
	}
	return n;
}

static int reply(struct probe_table *table, uint32_t addr, const struct in6_addr *addr6,
		 uint16_t seq, uint64_t now_us)
{
	for (unsigned i = 0; i < table->n_peers; i++) {
		struct probe_peer *p = &table->peers[i];
		uint64_t rtt;

		if (p->addr != addr || memcmp(&p->addr6, addr6, sizeof(*addr6)) != 0 ||
		    !p->outstanding || p->seq != seq)
			continue;
		rtt = now_us > p->sent_us ? now_us - p->sent_us : 0;
		record(p, false);
		p->has_rtt = true;
		p->rtt_us = rtt > UINT32_MAX ? UINT32_MAX : (uint32_t)rtt;
		p->lost_in_row = 0;
		p->answered_in_row++;
		/* Only answers while ok count towards the stride, and the one
		 * that makes it ok does not: a path that just came up or healed
		 * (its stride 1 since a loss, its count 0) is probed every
		 * round for PROBE_STRIDE_AFTER more answers first. */
		if (p->result == PROBE_UNKNOWN ||
		    (p->result == PROBE_FAILED && p->answered_in_row >= PROBE_HEAL_AFTER))
			change_result(table, p, PROBE_OK);
		else if (p->result == PROBE_OK && p->stride < PROBE_STRIDE_MAX &&
			 ++p->stride_answered >= PROBE_STRIDE_AFTER) {
			p->stride *= 2;
			p->stride_answered = 0;
		}
		return 0;
	}
	return -ENOENT;
}

int probe_table_reply(struct probe_table *table, uint32_t addr, uint16_t seq, uint64_t now_us)
{
	return reply(table, addr, &in6addr_any, seq, now_us);
}

int probe_table_reply6(struct probe_table *table, const struct in6_addr *addr6, uint16_t seq,
		       uint64_t now_us)
{
	return reply(table, 0, addr6, seq, now_us);
}

unsigned probe_table_count(const struct probe_table *table)
{
	return table->n_peers;
}

const struct probe_peer *probe_table_get(const struct probe_table *table, unsigned i)
{
	return i < table->n_peers ? &table->peers[i] : NULL;
}

const struct probe_peer *probe_table_find(const struct probe_table *table,
					  const struct nodeaddr *node_ip)
{
	return find_peer(table->peers, table->n_peers, node_ip);
}

const char *probe_result_name(enum probe_result result)
{
	switch (result) {
	case PROBE_OK:
		return "ok";
	case PROBE_FAILED:
		return "failed";
	case PROBE_UNKNOWN:
		break;
	}
	return "unknown";
}

/* ---- wire format ---- */

/* The Internet checksum (RFC 1071). */
static uint16_t inet_checksum(const uint8_t *buf, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(buf[i] << 8 | buf[i + 1]);
	if (len & 1)
		sum += (uint32_t)(buf[len - 1] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

size_t probe_echo_build(uint8_t *buf, size_t size, uint16_t ident, uint16_t seq)
{
	uint16_t sum;

	if (size < PROBE_ECHO_LEN)
		return 0;
	memset(buf, 0, PROBE_ECHO_LEN);
	buf[0] = ICMP_ECHO;
	buf[4] = (uint8_t)(ident >> 8);
	buf[5] = (uint8_t)ident;
	buf[6] = (uint8_t)(seq >> 8);
	buf[7] = (uint8_t)seq;
	memcpy(buf + PROBE_ICMP_HEADER_LEN, probe_magic, sizeof(probe_magic));
	/* A datagram socket recomputes it; a raw socket sends it as is. */
	sum = inet_checksum(buf, PROBE_ECHO_LEN);
	buf[2] = (uint8_t)(sum >> 8);
	buf[3] = (uint8_t)sum;
	return PROBE_ECHO_LEN;
}

int probe_echo_parse(const uint8_t *buf, size_t len, bool ip_header, uint16_t ident, uint16_t *seq)
{
	const uint8_t *icmp = buf;

	if (ip_header) {
		size_t header_len;

		if (len < PROBE_MIN_IP_HEADER_LEN || (buf[0] >> 4) != 4)
			return -EINVAL;
		header_len = (size_t)(buf[0] & 0x0f) * 4;
		if (header_len < PROBE_MIN_IP_HEADER_LEN || header_len > len)
			return -EINVAL;
		icmp += header_len;
		len -= header_len;
	}
	if (len < PROBE_ECHO_LEN || icmp[0] != ICMP_ECHOREPLY || icmp[1] != 0)
		return -EINVAL;
	if (ip_header && (uint16_t)(icmp[4] << 8 | icmp[5]) != ident)
		return -EINVAL;
	if (memcmp(icmp + PROBE_ICMP_HEADER_LEN, probe_magic, sizeof(probe_magic)) != 0)
		return -EINVAL;
	*seq = (uint16_t)(icmp[6] << 8 | icmp[7]);
	return 0;
}

size_t probe_echo6_build(uint8_t *buf, size_t size, uint16_t ident, uint16_t seq)
{
	if (size < PROBE_ECHO_LEN)
		return 0;
	memset(buf, 0, PROBE_ECHO_LEN);
	buf[0] = ICMP6_ECHO_REQUEST;
	buf[4] = (uint8_t)(ident >> 8);
	buf[5] = (uint8_t)ident;
	buf[6] = (uint8_t)(seq >> 8);
	buf[7] = (uint8_t)seq;
	memcpy(buf + PROBE_ICMP_HEADER_LEN, probe_magic, sizeof(probe_magic));
	return PROBE_ECHO_LEN;
}

int probe_echo6_parse(const uint8_t *buf, size_t len, bool with_ident, uint16_t ident,
		      uint16_t *seq)
{
	if (len < PROBE_ECHO_LEN || buf[0] != ICMP6_ECHO_REPLY || buf[1] != 0)
		return -EINVAL;
	if (with_ident && (uint16_t)(buf[4] << 8 | buf[5]) != ident)
		return -EINVAL;
	if (memcmp(buf + PROBE_ICMP_HEADER_LEN, probe_magic, sizeof(probe_magic)) != 0)
		return -EINVAL;
	*seq = (uint16_t)(buf[6] << 8 | buf[7]);
	return 0;
}

/* ---- I/O ---- */

struct probe {
	struct event_base *base;
	int family; /* AF_INET or AF_INET6 */
	struct probe_table *table;
	struct event *timer;
	uint32_t interval_ms;
	probe_targets_fn targets;
	void *arg;
	/* The socket, open while there is a source address. */
	int fd;
	struct event *readable;
	bool raw;
	uint16_t ident;
	struct probe_source source;
	int open_error; /* the last failure to open it, logged once */
};

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* The probed address of a peer or send, as text: its family's field. */
static const char *format_target(uint32_t addr, const struct in6_addr *addr6, char *buf)
{
	return addr6_is_zero(addr6) ? addr_format(addr, buf) : addr6_format(addr6, buf);
}

static const char *format_source(const struct probe *p, char *buf)
{
	return format_target(p->source.addr, &p->source.addr6, buf);
}

static bool source_set(const struct probe_source *source)
{
	return source->addr != 0 || !addr6_is_zero(&source->addr6);
}

static void on_change(void *arg, const struct probe_peer *peer, enum probe_result from)
{
	const struct probe *p = arg;
	const char *family = p->family == AF_INET6 ? "IPv6 " : "";
	char node[NODEADDR_STRLEN], addr[ADDR6_STRLEN];

	nodeaddr_format(&peer->node_ip, node);
	format_target(peer->addr, &peer->addr6, addr);
	if (peer->result == PROBE_FAILED)
		log_warn("%sdata path to peer %s broken: %u probes to %s lost in a row", family,
			 node, peer->lost_in_row, addr);
	else if (from == PROBE_FAILED)
		log_info("%sdata path to peer %s healed: %s answers again (rtt %.3fms)", family,
			 node, addr, peer->rtt_us / 1000.0);
	else
		log_info("%sdata path to peer %s works: %s answers (rtt %.3fms)", family, node,
			 addr, peer->rtt_us / 1000.0);
}

/* One datagram read from the socket: an echo reply of ours goes to the
 * table. */
static void take_reply(struct probe *p, const uint8_t *buf, size_t len,
		       const struct sockaddr_storage *from, socklen_t from_len)
{
	uint16_t seq;

	if (p->family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)from;

		if (from_len < sizeof(*sin6) || sin6->sin6_family != AF_INET6 ||
		    probe_echo6_parse(buf, len, p->raw, p->ident, &seq) < 0)
			return;
		probe_table_reply6(p->table, &sin6->sin6_addr, seq, now_us());
	} else {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)from;

		if (from_len < sizeof(*sin) || sin->sin_family != AF_INET ||
		    probe_echo_parse(buf, len, p->raw, p->ident, &seq) < 0)
			return;
		probe_table_reply(p->table, ntohl(sin->sin_addr.s_addr), seq, now_us());
	}
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;

	(void)what;
	for (unsigned i = 0; i < PROBE_READ_BURST; i++) {
		/* An echo reply is small; a bigger datagram is truncated and rejected. */
		uint8_t buf[512];
		struct sockaddr_storage from = {0};
		socklen_t from_len = sizeof(from);
		ssize_t len;

		len = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &from_len);
		if (len < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			/* A datagram socket reports an ICMP error (host
			 * unreachable...) once as errno: the probe it
			 * answers counts as lost at the next round. */
			continue;
		}
		take_reply(p, buf, (size_t)len, &from, from_len);
	}
}

static void close_socket(struct probe *p)
{
	if (p->readable)
		event_free(p->readable);
	p->readable = NULL;
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
}

/* The echo ident of a raw socket: random, so that two agents (or an agent
 * and a ping) on one host do not take each other's replies. */
static uint16_t random_ident(void)
{
	uint16_t ident;

	if (getrandom(&ident, sizeof(ident), GRND_NONBLOCK) != sizeof(ident))
		ident = (uint16_t)(getpid() ^ time(NULL));
	return ident;
}

/* The raw socket lets only echo replies through. */
static int filter_replies(struct probe *p)
{
	int ret;

	if (p->family == AF_INET6) {
		struct icmp6_filter filter;

		ICMP6_FILTER_SETBLOCKALL(&filter);
		ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &filter);
		ret = setsockopt(p->fd, IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof(filter));
	} else {
		struct icmp_filter filter = {.data = ~(UINT32_C(1) << ICMP_ECHOREPLY)};

		ret = setsockopt(p->fd, SOL_RAW, ICMP_FILTER, &filter, sizeof(filter));
	}
	return ret < 0 ? -errno : 0;
}

/* The socket address of addr/addr6 with port (ident) 0, by family. */
static socklen_t sockaddr_of(int family, uint32_t addr, const struct in6_addr *addr6,
			     struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = *addr6;
		return sizeof(*sin6);
	}
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(addr);
	return sizeof(*sin);
}

static int open_socket(struct probe *p)
{
	int proto = p->family == AF_INET6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
	const char *kind = p->family == AF_INET6 ? "ICMPv6" : "ICMP";
	struct sockaddr_storage ss;
	socklen_t len = sockaddr_of(p->family, p->source.addr, &p->source.addr6, &ss);
	char a[ADDR6_STRLEN];
	int ret;

	p->raw = false;
	p->fd = socket(p->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
	if (p->fd < 0 && (errno == EACCES || errno == EPERM)) {
		p->raw = true;
		p->fd = socket(p->family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
		if (p->fd >= 0 && (ret = filter_replies(p)) < 0)
			goto out;
		p->ident = random_ident();
	}
	if (p->fd < 0) {
		ret = -errno;
		goto out;
	}
	if (bind(p->fd, (struct sockaddr *)&ss, len) < 0) {
		ret = -errno;
		goto out;
	}
	/* A datagram socket's echo ident is its port, chosen at bind (the
	 * same field in sockaddr_in and sockaddr_in6). */
	if (!p->raw) {
		socklen_t got = sizeof(ss);

		if (getsockname(p->fd, (struct sockaddr *)&ss, &got) < 0) {
			ret = -errno;
			goto out;
		}
		p->ident = p->family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
						 : ntohs(((struct sockaddr_in *)&ss)->sin_port);
	}
	p->readable = event_new(p->base, p->fd, EV_READ | EV_PERSIST, on_readable, p);
	if (!p->readable || event_add(p->readable, NULL) < 0)
		fatal("cannot watch the probe socket");
	ret = 0;
out:
	if (ret < 0) {
		close_socket(p);
		if (ret != p->open_error)
			log_warn("data-path probes from %s stopped: cannot open an %s socket: %s",
				 format_source(p, a), kind, strerror(-ret));
		p->open_error = ret;
		return ret;
	}
	if (p->open_error)
		log_info("data-path probes from %s work again", format_source(p, a));
	p->open_error = 0;
	if (p->raw)
		log_info("data-path probes every %ums from %s (raw %s socket: "
			 "net.ipv4.ping_group_range excludes this agent)",
			 p->interval_ms, format_source(p, a), kind);
	else
		log_info("data-path probes every %ums from %s (%s datagram socket)", p->interval_ms,
			 format_source(p, a), kind);
	return 0;
}

/* A round's echoes go out in one sendmmsg call, not a sendto each: the
 * round is the one moment every peer is probed, and a call per peer was
 * a third of an idle agent's system calls (31 peers, both families,
 * every 2 s; tests/bench/README.md, the fourth step). A datagram the
 * kernel refuses (no route, a firewall) is skipped and the rest sent;
 * it is a loss like any other, counted at the next round. */
static void send_probes(struct probe *p)
{
	unsigned n = probe_table_count(p->table), done = 0;
	struct probe_send *sends = xcalloc(n ? n : 1, sizeof(*sends));
	struct sockaddr_storage *to = xcalloc(n ? n : 1, sizeof(*to));
	uint8_t(*bufs)[PROBE_ECHO_LEN] = xcalloc(n ? n : 1, sizeof(*bufs));
	struct iovec *iov = xcalloc(n ? n : 1, sizeof(*iov));
	struct mmsghdr *msgs = xcalloc(n ? n : 1, sizeof(*msgs));

	n = probe_table_round(p->table, now_us(), sends, n);
	for (unsigned i = 0; i < n; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len =
		    p->family == AF_INET6
			? probe_echo6_build(bufs[i], PROBE_ECHO_LEN, p->ident, sends[i].seq)
			: probe_echo_build(bufs[i], PROBE_ECHO_LEN, p->ident, sends[i].seq);
		msgs[i].msg_hdr.msg_name = &to[i];
		msgs[i].msg_hdr.msg_namelen =
		    sockaddr_of(p->family, sends[i].addr, &sends[i].addr6, &to[i]);
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	while (done < n) {
		int sent = sendmmsg(p->fd, msgs + done, n - done, 0);
		char a[ADDR6_STRLEN];

		if (sent > 0) {
			done += (unsigned)sent;
			continue;
		}
		log_debug("probe to %s not sent: %s",
			  format_target(sends[done].addr, &sends[done].addr6, a), strerror(errno));
		done++;
	}
	free(msgs);
	free(iov);
	free(bufs);
	free(to);
	free(sends);
}

static void arm_timer(struct probe *p);

static void on_round(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;
	struct probe_target *targets = NULL;
	struct probe_source source = {0};
	unsigned n;

	(void)fd;
	(void)what;
	arm_timer(p);
	n = p->targets(p->arg, p->family, &source, &targets);
	if (memcmp(&source, &p->source, sizeof(source)) != 0) {
		close_socket(p);
		p->source = source;
		p->open_error = 0;
	}
	if (p->fd < 0 && source_set(&p->source))
		open_socket(p);
	/* Without a socket nothing is known: every peer goes back to unknown. */
	probe_table_sync(p->table, targets, p->fd >= 0 ? n : 0);
	free(targets);
	if (p->fd >= 0)
		send_probes(p);
}

/* The next round is when the wall clock is next a whole multiple of the
 * interval, the moments the session's keepalives go out at
 * (nsagent/grid.h): a round shares the wakeup of a keepalive tick,
 * both families' rounds share one, and every node probes at the same
 * moments, so the replies arrive together. A round still comes once per
 * interval. */
static void arm_timer(struct probe *p)
{
	/* The timer fired a millisecond before its point: the next one. */
	uint64_t wait = grid_wait_ms(p->interval_ms, PROBE_GRID_SLACK_MS);
	struct timeval tv;

	tv.tv_sec = (time_t)(wait / 1000);
	tv.tv_usec = (suseconds_t)(wait % 1000) * 1000;
	if (event_add(p->timer, &tv) < 0)
		fatal("cannot arm the probe timer");
}

int probe_new(struct event_base *base, int family, uint32_t interval_ms, probe_targets_fn targets,
	      void *arg, struct probe **out)
{
	struct probe *p;

	if (interval_ms == 0 || !targets || (family != AF_INET && family != AF_INET6))
		return -EINVAL;
	p = xcalloc(1, sizeof(*p));
	p->base = base;
	p->family = family;
	p->interval_ms = interval_ms;
	p->targets = targets;
	p->arg = arg;
	p->fd = -1;
	p->table = probe_table_new(on_change, p);
	p->timer = evtimer_new(base, on_round, p);
	if (!p->timer)
		fatal("out of memory");
	arm_timer(p);
	*out = p;
	return 0;
}

void probe_set_interval(struct probe *probe, uint32_t interval_ms)
{
	if (interval_ms == 0 || interval_ms == probe->interval_ms)
		return;
	probe->interval_ms = interval_ms;
	event_del(probe->timer);
	arm_timer(probe);
	log_info("data-path probes every %ums", interval_ms);
}

const struct probe_table *probe_get_table(const struct probe *probe)
{
	return probe->table;
}

void probe_free(struct probe *probe)
{
	if (!probe)
		return;
	close_socket(probe);
	if (probe->timer)
		event_free(probe->timer);
	probe_table_free(probe->table);
	free(probe);
}
