/* SPDX-License-Identifier: GPL-2.0-or-later */
/* BIRD as the route exchange of --routing bgp (issue 17): the include
 * nsagent renders for the host's BIRD, and the reading of BIRD's answers.
 *
 * Everything here is pure: a config in, text out (bird_render), and
 * BIRD's reply text in, records out (bird_parse_*), so that both are
 * unit-tested against fixed text and the rendered include is checked by
 * the real BIRD (`bird -p`). Talking to BIRD is src/birdc.c's job; the
 * daemon decides nothing about BGP routes: BIRD's filters, rendered
 * here, are the advert rules. */
#ifndef NSAGENT_BIRD_H
#define NSAGENT_BIRD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nsagent/addr.h"
#include "nsagent/addr6.h"
#include "nsagent/config.h"
#include "nsagent/probe.h"

/* A protocol's name in BIRD (BIRD allows 64; ours are short). */
#define BIRD_NAME_MAX 32
#define BIRD_STATE_MAX 16
#define BIRD_INFO_MAX 64

/* Whether the include exports this node's subnets. A node holds its
 * export until BIRD has shown it what the cluster already announces, so
 * that a node whose subnet another node announces is the later one and
 * refuses it (DESIGN.md "Routing modes"). */
enum bird_export {
	BIRD_EXPORT_HELD,    /* not yet: no session has been up long enough */
	BIRD_EXPORT_ON,	     /* announced */
	BIRD_EXPORT_REFUSED, /* another next hop announces our subnet */
};

struct bird_config {
	struct nodeaddr node_ip; /* router id (IPv4) and the sessions' local address */
	uint32_t local_as;
	const struct cfg_bgp_peer *peers; /* peer i is protocol nsagent_peer<i+1> */
	unsigned n_peers;
	const char *bridge; /* the direct protocol's interface */
	/* The node IP's link: with a multihop session, its networks resolve
	 * the next hops the sessions bring (nsagent_underlay). */
	const char *underlay;
	struct prefix cluster;
	uint8_t subnet_len;
	struct prefix subnet;
	/* Dual-stack: IPv6 channels and the /64's filters (subnet6_set). */
	bool ipv6;
	struct prefix6 cluster6;
	struct prefix6 subnet6;
	bool subnet6_set;
	/* The fe80:: address of the node IP's link (link_local6_set: that
	 * link has IPv6): the next hop our /64 takes over an IPv4 session. */
	struct in6_addr link_local6;
	bool link_local6_set;
	/* This host's own networks: a route into one of them is refused, and
	 * a --bgp-peer on none of them is reached through a router
	 * (multihop). */
	const struct prefix *local;
	unsigned n_local;
	const struct prefix6 *local6;
	unsigned n_local6;
	enum bird_export export;
	bool bfd; /* BFD on the sessions (and protocol nsagent_bfd) */
};

/* The include's whole text (malloc'd, no trailing newline). */
char *bird_render(const struct bird_config *config);

/* Writes text to path (temp file and rename, mode 0644) unless path holds
 * it already; *changed says which. A missing parent directory is made
 * (mode 0755). Returns 0 or a negative errno with msg naming the file. */
int bird_write_include(const char *path, const char *text, bool *changed, char *msg, size_t size);
/* path's text (malloc'd, without the newline bird_write_include adds), or
 * NULL when it cannot be read. */
char *bird_read_include(const char *path);

/* One of our BGP sessions, from `show protocols`. */
struct bird_session {
	char name[BIRD_NAME_MAX];   /* nsagent_peerN */
	unsigned peer;		    /* N - 1: the index of its --bgp-peer */
	char state[BIRD_STATE_MAX]; /* BIRD's protocol state: up, start, ... */
	char info[BIRD_INFO_MAX];   /* the BGP state: Established, Active, ... */
	bool established;
};

/* A route, from `show route` (first next hop of each). */
struct bird_route {
	int family; /* AF_INET or AF_INET6 */
	struct prefix prefix;
	struct prefix6 prefix6;
	struct nodeaddr via;	  /* zero: no gateway (a device route) */
	char from[BIRD_NAME_MAX]; /* the protocol it came from */
};

/* The nsagent_peerN sessions of a `show protocols` reply (lines as
 * birdc.c joins them: the text after each reply code, one per line).
 * Returns how many (at most max); other protocols are skipped. */
unsigned bird_parse_protocols(const char *text, struct bird_session *out, unsigned max);
/* The routes of a `show route` reply, malloc'd into *out. Returns how many. */
unsigned bird_parse_routes(const char *text, struct bird_route **out);

/* The data-path probes of family (AF_INET, AF_INET6) to the nodes behind
 * routes: one target per route of that family with a next hop, keyed by
 * the next hop (the node), probing the bridge address of the route's
 * subnet (its first host), as the mesh probes a peer's. A route without
 * a next hop (unreachable, blackhole, a device route) reaches no node and
 * is not probed. out has room for n entries. Returns how many. */
unsigned bird_probe_targets(const struct bird_route *routes, unsigned n, int family,
			    struct probe_target *out);

/* The export after a poll of BIRD: established, some session is up (at
 * the poll before this one too: BIRD has had time to learn the table);
 * conflict, a route for our subnet from another next hop is there. */
enum bird_export bird_export_next(enum bird_export now, bool established, bool conflict);
const char *bird_export_name(enum bird_export export);

#endif
