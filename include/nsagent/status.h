/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The agent's status, built once as data and printed three ways: for people
 * (an aligned table), as JSON (json-c) and as Prometheus text (the metrics
 * endpoint). The daemon fills it at every request; the control protocol
 * carries it to `nsagent status`, which prints it.
 *
 * Counters of events are one array, counters[], indexed by enum
 * status_counter and described once in status.c's family table, which
 * every printer and the control protocol walk. Adding one: a value in the
 * enum (at its family's place), a row in the table if it starts a new
 * family, and status_count() where the event happens (or, for a count
 * another module keeps, a line in the daemon's fill). */
#ifndef NSAGENT_STATUS_H
#define NSAGENT_STATUS_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "nsagent/addr.h"
#include "nsagent/addr6.h"
#include "nsagent/attach.h"
#include "nsagent/config.h"
#include "nsagent/rib.h"

#define STATUS_TEXT_MAX 128
#define STATUS_MAX_PEERS 1024
#define STATUS_MAX_NAMESPACES CFG_MAX_NAMESPACES
#define STATUS_STATE_MAX 32 /* a session state's name */
#define STATUS_MAX_SESSION_STATES 16
/* ADD, DEL, CHECK, GC, STATUS: the CNI counters' samples. */
#define STATUS_CNI_COMMANDS 5
/* Why an advertised WireGuard key or port was refused (enum
 * rde_wg_verdict, in its order): the samples of adverts_wg_rejected. */
#define STATUS_WG_REJECT_REASONS 3
/* A base64 WireGuard key, plus NUL (WGKEY_B64_LEN). */
#define STATUS_WG_KEY_MAX 45
/* "userspace (" + a program path + ")", cut to fit. */
#define STATUS_WG_IMPL_MAX 128

/* Every counter, one sample each, in the family table's order (status.c):
 * the samples of one family are adjacent. Since the agent started. */
enum status_counter {
	STATUS_STATE_SAVE_ERRORS, /* failed writes of the state dir (persist) */
	/* Accepts paused after an accept error (out of file descriptors), by
	 * listener (src/listen.c). */
	STATUS_ACCEPTS_PAUSED_PEER,
	STATUS_ACCEPTS_PAUSED_CONTROL,
	STATUS_ACCEPTS_PAUSED_METRICS,
	STATUS_CONTROL_CLIENTS_DROPPED, /* for not reading their replies */
	/* Kept by peer_mgr (peer_mgr_security_stats). */
	STATUS_ACCEPTS_REFUSED,
	STATUS_PEERS_REFUSED,
	STATUS_DIALS,
	STATUS_DIALS_DEFERRED,
	STATUS_COLLISIONS,
	STATUS_PEERS_EVICTED,
	STATUS_TLS_FAILURES,
	STATUS_HELLOS_REFUSED,
	STATUS_HANDSHAKE_TIMEOUTS,
	STATUS_FRAMES_OVERSIZE,
	STATUS_FRAMES_MALFORMED,
	/* Advert entries rejected, one per rib verdict after RIB_ACCEPTED
	 * (STATUS_ADVERTS_REJECTED_BY), so a new verdict is a new sample. */
	STATUS_ADVERTS_REJECTED,
	/* The same for IPv6 entries (STATUS_ADVERTS6_REJECTED_BY). */
	STATUS_ADVERTS6_REJECTED = STATUS_ADVERTS_REJECTED + RIB_VERDICT_COUNT - 1,
	/* Kept by the kernel layer (kern_get_stats). */
	STATUS_RECONCILE_CHANGES = STATUS_ADVERTS6_REJECTED + RIB_VERDICT_COUNT - 1,
	STATUS_RECONCILE_REPAIRS,
	STATUS_RECONCILE_ERRORS,
	STATUS_RELOADS_OK,
	STATUS_RELOADS_FAILED,
	STATUS_CONTROL_REQUESTS,
	/* CNI requests (the nsagent-cni plugin), by command, then the ones
	 * that failed, by command (in enum ctl_cni_command's order). */
	STATUS_CNI_REQUESTS,
	STATUS_CNI_ERRORS = STATUS_CNI_REQUESTS + STATUS_CNI_COMMANDS,
	/* WireGuard (issue 19): keys and ports refused, by reason (kept by
	 * the rde), then the device's process starts, repairs and failed
	 * UAPI exchanges (kept by src/wg.c). */
	STATUS_ADVERTS_WG_REJECTED = STATUS_CNI_ERRORS + STATUS_CNI_COMMANDS,
	STATUS_WG_STARTS = STATUS_ADVERTS_WG_REJECTED + STATUS_WG_REJECT_REASONS,
	STATUS_WG_REPAIRS,
	STATUS_WG_ERRORS,
	STATUS_COUNTER_COUNT
};

#define STATUS_ADVERTS_REJECTED_BY(verdict)                                                        \
	((enum status_counter)(STATUS_ADVERTS_REJECTED + (verdict) - (RIB_ACCEPTED + 1)))
#define STATUS_ADVERTS6_REJECTED_BY(verdict)                                                       \
	((enum status_counter)(STATUS_ADVERTS6_REJECTED + (verdict) - (RIB_ACCEPTED + 1)))

enum status_route {
	STATUS_ROUTE_NONE,
	STATUS_ROUTE_INSTALLED,
	STATUS_ROUTE_STALE,
};

enum status_probe {
	STATUS_PROBE_UNKNOWN, /* not probed yet */
	STATUS_PROBE_OK,
	STATUS_PROBE_FAILED,
};

struct status_namespace {
	char name[CFG_NS_NAME_MAX + 1];
	uint32_t addr;
	struct in6_addr addr6; /* all zero: none (IPv4 only) */
	bool runtime;	       /* from `nsagent ns add`, else from the config */
};

/* A CNI attachment: a container's interface on the bridge (origin "cni"). */
struct status_attachment {
	char container_id[ATTACH_ID_MAX + 1];
	char netns[ATTACH_NETNS_MAX + 1];
	char ifname[IFNAMSIZ];
	char host_ifname[IFNAMSIZ];
	uint32_t addr;
	struct in6_addr addr6; /* all zero: none (IPv4 only) */
	bool netns_gone;       /* the runtime's namespace no longer exists */
};

/* The data-path probes of one family to a peer; all 0 until it is probed. */
struct status_probes {
	enum status_probe result;
	uint32_t rtt_us; /* the last answered probe's; 0 = none answered */
	uint64_t sent;
	uint64_t lost;
	double loss_ratio; /* of the last PROBE_WINDOW probes decided */
};

struct status_peer {
	char node_id[STATUS_TEXT_MAX]; /* "" = not known yet */
	struct endpoint endpoint;
	char state[32]; /* the session FSM's state name */
	char mode[16];	/* "direct", "vxlan", "none" = no path over our underlay, "" = none yet */
	struct prefix subnet;
	bool subnet_known;
	uint64_t uptime_ms;    /* 0 unless the session is up */
	int64_t last_heard_ms; /* ago; -1 = never */
	enum status_route route;
	struct status_probes probe;  /* ICMP, bridge to bridge */
	struct status_probes probe6; /* ICMPv6 (dual-stack), bridge to bridge */
	/* Dual-stack: its /64, the route to it and how ("" = no path), and
	 * the link-local next hop it advertised. */
	struct prefix6 subnet6;
	bool subnet6_known;
	enum status_route route6;
	char mode6[16];
	struct in6_addr link_local6;
	struct in6_addr via6; /* the route6's next hop; zero = none */
	bool link_local6_set;
	/* Why its mode is what it is ("auto: behind gateway ...; --encrypt
	 * routed; encrypted"); "" = not chosen yet. */
	char mode_reason[160];
	/* Its traffic goes through WireGuard: the device's latest handshake
	 * with it (ago; -1 = none yet) and the bytes each way. */
	bool wireguard;
	int64_t wg_handshake_ms;
	uint64_t wg_rx_bytes;
	uint64_t wg_tx_bytes;
};

/* --routing bgp: one of the node's BGP sessions, as BIRD shows it. */
#define STATUS_MAX_BGP_SESSIONS 16
struct status_bgp_session {
	char name[32];	      /* BIRD's protocol name, nsagent_peerN */
	struct nodeaddr peer; /* the --bgp-peer it talks to */
	uint32_t as;
	char state[16]; /* BIRD's protocol state (up, start, ...) */
	char info[64];	/* the BGP state (Established, Active, ...) */
	bool established;
};

/* --routing bgp: a cluster route BIRD gives the kernel (source "bgp"). */
struct status_bgp_route {
	char prefix[PREFIX6_STRLEN]; /* IPv4 or IPv6 */
	struct nodeaddr via;	     /* zero: none (a device route) */
	/* The data-path probes (of the route's family) to the node behind it,
	 * at its subnet's bridge address; all 0 while it is not probed. */
	struct status_probes probe;
};

struct status {
	char version[32];
	uint32_t pid;
	uint64_t uptime_ms;
	bool healthy;
	char problem[512];	       /* why not healthy */
	char node_id[STATUS_TEXT_MAX]; /* "" = not known */
	struct nodeaddr node_ip;       /* zero = not known */
	struct prefix subnet;
	bool subnet_known;
	char bridge[IFNAMSIZ];
	uint32_t bridge_addr;
	/* Dual-stack: the node's /64 and the bridge's ::1 (subnet6_known). */
	struct prefix6 subnet6;
	bool subnet6_known;
	struct in6_addr bridge_addr6;
	bool key; /* a cluster key is configured */
	/* The node's WireGuard public key (base64) and port; "" = the node
	 * runs no WireGuard. Never the private key. */
	char wg_public_key[STATUS_WG_KEY_MAX];
	uint16_t wg_port;
	char wg_impl[STATUS_WG_IMPL_MAX]; /* "kernel" or "userspace (PROGRAM)" */
	struct status_namespace *namespaces;
	unsigned n_namespaces;
	struct status_attachment *attachments;
	unsigned n_attachments;
	struct status_peer *peers;
	unsigned n_peers;
	/* Every state a session can be in, in the FSM's order, so that the
	 * printers list the states no peer is in too. */
	char session_states[STATUS_MAX_SESSION_STATES][STATUS_STATE_MAX];
	unsigned n_session_states;
	uint64_t counters[STATUS_COUNTER_COUNT];
	/* Routing (issue 17): "mesh" or "bgp" ("" = mesh, an older agent);
	 * with bgp, BIRD's socket, whether it answers, whether our subnets
	 * are exported ("held", "on", "refused"), the sessions and routes. */
	struct status_bgp_route *bgp_routes;
	unsigned n_bgp_routes;
	unsigned n_bgp_sessions;
	struct status_bgp_session bgp_sessions[STATUS_MAX_BGP_SESSIONS];
	char routing[8];
	char bird_socket[108];
	char bgp_export[16];
	bool bird_up;
};

/* A family of counters: samples first .. first + n - 1, told apart by the
 * label `label` when n > 1. Named once: "nsagent_<name>_total" in
 * Prometheus, <name> in JSON and in the control protocol. */
struct status_family {
	const char *name;
	const char *help;
	enum status_counter first;
	unsigned n;
	const char *label;			/* NULL when n == 1 */
	const char *(*label_value)(unsigned i); /* of sample first + i */
	/* People's table: the row this family's sum joins when it is not 0
	 * ("limits"), and what it counts ("accept pause(s)"); NULL = routine,
	 * not shown there. */
	const char *text_row;
	const char *text_what;
};

unsigned status_family_count(void);
const struct status_family *status_family_get(unsigned i);
/* The family and label value of one counter (the label is "" when the
 * family has one sample). */
const struct status_family *status_counter_family(enum status_counter c, const char **label);
/* The counter named name (and label, "" for none); -ENOENT if none is. */
int status_counter_find(const char *name, const char *label, enum status_counter *c);

/* Process-wide event counts (one agent per process): modules bump them
 * where the event happens and the daemon's fill copies them in with
 * status_take_counts. Counts kept by other modules stay 0 here. */
void status_count(enum status_counter c);
uint64_t status_counted(enum status_counter c);
void status_take_counts(struct status *st);
/* Zeroes every process-wide count (tests). */
void status_count_reset(void);

/* Peers whose session is in state (by name). */
unsigned status_sessions_in(const struct status *st, const char *state);
unsigned status_routes_in(const struct status *st, enum status_route route);
/* The sum of a family's samples. */
uint64_t status_family_sum(const struct status *st, const struct status_family *f);

void status_init(struct status *st);
/* Frees the arrays and re-initialises st. */
void status_clear(struct status *st);
/* Appends a zeroed entry (last_heard_ms -1); NULL past the STATUS_MAX_* bounds. */
struct status_peer *status_add_peer(struct status *st);
struct status_namespace *status_add_namespace(struct status *st);
struct status_attachment *status_add_attachment(struct status *st);
struct status_bgp_route *status_add_bgp_route(struct status *st);
/* The address family of a BGP route, "ipv4" or "ipv6" (its prefix's). */
const char *status_bgp_route_family(const struct status_bgp_route *route);
/* routing is bgp. */
bool status_bgp(const struct status *st);
unsigned status_bgp_established(const struct status *st);

const char *status_route_name(enum status_route route);
const char *status_probe_name(enum status_probe probe);
/* "45s", "3m07s", "2h05m", "4d03h"; for durations in tables. */
void status_format_duration(uint64_t ms, char *buf, size_t size);

/* For people: node block, namespaces table, attachments table (when there
 * are any), peers table. */
void status_print_text(const struct status *st, FILE *out);
/* One JSON object (pretty-printed), built with json-c; ends with a newline. */
void status_print_json(const struct status *st, FILE *out);
/* Prometheus text exposition format 0.0.4 (src/status_prom.c): every
 * family once, HELP and TYPE before its samples. */
void status_print_prom(const struct status *st, FILE *out);

#endif
