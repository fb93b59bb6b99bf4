/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Data-path probes: every agent checks, per established peer, that the path
 * to it actually forwards, by sending an ICMP echo from its own bridge
 * address to the peer's bridge address (the first host address of the
 * peer's subnet) through the installed route. The peer's kernel answers
 * only if packets reach its bridge and its route back to our subnet works.
 *
 * With dual-stack each family has its own probe (struct probe) and table:
 * an ICMPv6 echo goes from our bridge's ::1 to the peer's, so that a
 * broken IPv6 path shows even while IPv4 works.
 *
 * A path that keeps answering is probed less often: every round at first,
 * every 2nd round after PROBE_STRIDE_AFTER answers in a row, every 4th
 * (PROBE_STRIDE_MAX) after as many more; a loss, a result other than ok,
 * or a new peer or address brings it back to every round at once. A
 * broken path is still reported after PROBE_BREAK_AFTER losses in a row,
 * within PROBE_BREAK_ROUNDS_MAX rounds of the break (a path probed every
 * round: PROBE_BREAK_AFTER + 1).
 *
 * Two layers:
 *   - probe_table: the bookkeeping, pure (no I/O, time passed in): per-peer
 *     result with break/heal hysteresis, last RTT, loss over a window,
 *     the stride between a peer's probes and the rounds it is due at.
 *   - probe: the thin I/O layer on the daemon's event loop: one timer for
 *     all peers, one ICMP socket for all peers (the echo sequence number
 *     and the replying address identify the peer). */
#ifndef NSAGENT_PROBE_H
#define NSAGENT_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <netinet/in.h>

#include "nsagent/nodeaddr.h"

/* A path is broken after this many probes lost in a row... */
#define PROBE_BREAK_AFTER 3
/* ...and healed again after this many answered in a row. */
#define PROBE_HEAL_AFTER 2
/* Loss is reported over the last PROBE_WINDOW probes (at most 32). */
#define PROBE_WINDOW 10
/* A peer whose result is ok has its stride (rounds between two of its
 * probes: 1, 2, 4) doubled after this many answers in a row at it... */
#define PROBE_STRIDE_AFTER 3
/* ...up to this (a power of two). */
#define PROBE_STRIDE_MAX 4
/* The most rounds from a break to its report: the last answered probe was
 * sent just before the break, the next one goes at most PROBE_STRIDE_MAX
 * rounds later, its loss is decided a round after that (the stride falls
 * to 1) and the PROBE_BREAK_AFTER-th loss in a row PROBE_BREAK_AFTER - 1
 * rounds after that. With intervals of I, a break is reported less than
 * PROBE_BREAK_ROUNDS_MAX * I after it happens (7 * 2 s at the default). */
#define PROBE_BREAK_ROUNDS_MAX (PROBE_STRIDE_MAX + PROBE_BREAK_AFTER)

struct event_base;

enum probe_result {
	PROBE_UNKNOWN, /* not decided yet (new peer, fewer than PROBE_BREAK_AFTER losses) */
	PROBE_OK,
	PROBE_FAILED,
};

/* One peer to probe. */
struct probe_target {
	struct nodeaddr node_ip; /* identifies the peer (its node address) */
	uint32_t addr;		 /* its bridge address: what is probed (IPv4) */
	struct in6_addr addr6;	 /* its bridge's IPv6 address (IPv6; zero for IPv4) */
};

/* What the table knows about one peer (read-only for callers). */
struct probe_peer {
	struct nodeaddr node_ip;
	uint32_t addr;
	struct in6_addr addr6;
	enum probe_result result;
	bool has_rtt;
	uint32_t rtt_us;       /* the last answered probe's round trip */
	unsigned window_count; /* probes decided in the window (<= PROBE_WINDOW) */
	unsigned window_lost;  /* of which lost */
	uint64_t sent;	       /* since the peer was first probed */
	uint64_t lost;
	/* Private to probe.c. */
	uint32_t history; /* bit i set = the i-th latest decided probe was lost */
	unsigned lost_in_row, answered_in_row;
	unsigned stride;	  /* rounds between two probes: 1, 2 ... PROBE_STRIDE_MAX */
	unsigned stride_answered; /* answers in a row at this stride while ok */
	unsigned phase;		  /* due at rounds r with (r + phase) % stride == 0 */
	bool outstanding;
	uint16_t seq;
	uint64_t sent_us;
};

/* One echo request to send. */
struct probe_send {
	uint32_t addr;
	struct in6_addr addr6;
	uint16_t seq;
};

/* Called when a peer's result changes (from -> peer->result). */
typedef void (*probe_change_fn)(void *arg, const struct probe_peer *peer, enum probe_result from);

struct probe_table;

struct probe_table *probe_table_new(probe_change_fn on_change, void *arg);
void probe_table_free(struct probe_table *table);
/* The peers to probe from now on: a peer not listed is forgotten, a new
 * one (or one whose bridge address changed) starts unknown, probed every
 * round. Duplicate node_ip entries after the first are ignored. */
void probe_table_sync(struct probe_table *table, const struct probe_target *targets, unsigned n);
/* One probe round at now_us: every probe still unanswered is lost, then
 * each peer due at this round (every peer whose stride is 1) gets a new
 * probe, written to out (room for max entries, at least
 * probe_table_count()). Returns the number written. */
unsigned probe_table_round(struct probe_table *table, uint64_t now_us, struct probe_send *out,
			   unsigned max);
/* An echo reply from addr with seq at now_us. 0 when it answers a peer's
 * outstanding probe, -ENOENT when it answers none (late, duplicate or
 * foreign). */
int probe_table_reply(struct probe_table *table, uint32_t addr, uint16_t seq, uint64_t now_us);
/* The same for an ICMPv6 echo reply from addr6. */
int probe_table_reply6(struct probe_table *table, const struct in6_addr *addr6, uint16_t seq,
		       uint64_t now_us);
unsigned probe_table_count(const struct probe_table *table);
const struct probe_peer *probe_table_get(const struct probe_table *table, unsigned i);
/* NULL when node_ip is not probed. */
const struct probe_peer *probe_table_find(const struct probe_table *table,
					  const struct nodeaddr *node_ip);

const char *probe_result_name(enum probe_result result);

/* ---- ICMP echo wire format (pure) ---- */

/* ICMP header plus the payload that marks an echo as ours. */
#define PROBE_ECHO_LEN 24

/* Writes an echo request with ident and seq, checksummed, into buf (size
 * >= PROBE_ECHO_LEN). Returns its length. */
size_t probe_echo_build(uint8_t *buf, size_t size, uint16_t ident, uint16_t seq);
/* Checks that buf is an echo reply to one of our requests and reads its
 * seq. With ip_header (a raw socket) buf starts with the IPv4 header and
 * the echo ident must be ident; a datagram socket gives the ICMP message
 * alone, its ident already matched by the kernel. 0 or -EINVAL. */
int probe_echo_parse(const uint8_t *buf, size_t len, bool ip_header, uint16_t ident, uint16_t *seq);
/* ICMPv6 echo request / reply: the same payload; the checksum is left 0
 * because the kernel computes it over the IPv6 pseudo-header for both
 * socket kinds, and neither hands the IPv6 header to the reader (with_ident:
 * a raw socket, whose replies must carry our ident). */
size_t probe_echo6_build(uint8_t *buf, size_t size, uint16_t ident, uint16_t seq);
int probe_echo6_parse(const uint8_t *buf, size_t len, bool with_ident, uint16_t ident,
		      uint16_t *seq);

/* ---- I/O layer ---- */

struct probe;

/* The source address to probe from: our bridge address for IPv4, the
 * bridge's IPv6 address for IPv6 (zero = none yet, nothing is probed). */
struct probe_source {
	uint32_t addr;
	struct in6_addr addr6;
};

/* Asked at every round for the probe's family (AF_INET, AF_INET6): the
 * source and the peers, as a malloc'd array the probe frees. Returns the
 * number of targets. */
typedef unsigned (*probe_targets_fn)(void *arg, int family, struct probe_source *source,
				     struct probe_target **targets);

/* Starts probing family (AF_INET or AF_INET6) every interval_ms (> 0).
 * Returns 0 or a negative errno. */
int probe_new(struct event_base *base, int family, uint32_t interval_ms, probe_targets_fn targets,
	      void *arg, struct probe **out);
/* A reload changed the interval (> 0): the next round comes after it. */
void probe_set_interval(struct probe *probe, uint32_t interval_ms);
const struct probe_table *probe_get_table(const struct probe *probe);
void probe_free(struct probe *probe);

#endif
