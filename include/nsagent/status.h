/* The agent's status, built once as data and printed either for people (an
 * aligned table) or as JSON (json-c). The daemon fills it; the control
 * protocol carries it to `nsagent status`, which prints it. */
#ifndef NSAGENT_STATUS_H
#define NSAGENT_STATUS_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "nsagent/addr.h"
#include "nsagent/config.h"

#define STATUS_TEXT_MAX 128
#define STATUS_MAX_PEERS 1024
#define STATUS_MAX_NAMESPACES CFG_MAX_NAMESPACES

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
	bool runtime; /* from `nsagent ns add`, else from the config */
};

struct status_peer {
	char node_id[STATUS_TEXT_MAX]; /* "" = not known yet */
	struct endpoint endpoint;
	char state[32]; /* the session FSM's state name */
	char mode[16];	/* "direct", "vxlan", "" = no path */
	struct prefix subnet;
	bool subnet_known;
	uint64_t uptime_ms;    /* 0 unless the session is up */
	int64_t last_heard_ms; /* ago; -1 = never */
	enum status_route route;
	enum status_probe probe;
	uint32_t probe_rtt_us; /* with STATUS_PROBE_OK */
};

struct status {
	char version[32];
	uint32_t pid;
	uint64_t uptime_ms;
	bool healthy;
	char problem[512];	       /* why not healthy */
	char node_id[STATUS_TEXT_MAX]; /* "" = not known */
	uint32_t node_ip;	       /* 0 = not known */
	struct prefix subnet;
	bool subnet_known;
	char bridge[IFNAMSIZ];
	uint32_t bridge_addr;
	bool key; /* a cluster key is configured */
	/* Failed writes of the state dir's files since the agent started
	 * (persist_save_errors): a full or failing disk. */
	uint64_t state_save_errors;
	struct status_namespace *namespaces;
	unsigned n_namespaces;
	struct status_peer *peers;
	unsigned n_peers;
	/* Resource limits, since start (see the nsagent_accepts_paused_total
	 * and nsagent_control_clients_dropped_total metrics). */
	uint64_t accepts_paused;
	uint64_t control_clients_dropped;
};

void status_init(struct status *st);
/* Frees the arrays and re-initialises st. */
void status_clear(struct status *st);
/* Appends a zeroed entry (last_heard_ms -1); NULL past the STATUS_MAX_* bounds. */
struct status_peer *status_add_peer(struct status *st);
struct status_namespace *status_add_namespace(struct status *st);

const char *status_route_name(enum status_route route);
const char *status_probe_name(enum status_probe probe);
/* "45s", "3m07s", "2h05m", "4d03h"; for durations in tables. */
void status_format_duration(uint64_t ms, char *buf, size_t size);

/* For people: node block, namespaces table, peers table. */
void status_print_text(const struct status *st, FILE *out);
/* One JSON object (pretty-printed), built with json-c; ends with a newline. */
void status_print_json(const struct status *st, FILE *out);

#endif
