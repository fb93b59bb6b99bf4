/* Metrics: one registry of counters and gauges that every module updates,
 * rendered as Prometheus text (exposition format 0.0.4) and served by
 * evhttp at http://ADDR:PORT/metrics when --metrics is given.
 *
 * The registry is process-wide (one agent per process), so a module updates
 * a metric with one call and no plumbing: metrics_inc(METRICS_FRAMES_IN).
 * Every series is declared once in the table in src/metrics.c. */
#ifndef NSAGENT_METRICS_H
#define NSAGENT_METRICS_H

#include <stdint.h>

#include "nsagent/addr.h"

struct event_base;
struct evbuffer;
struct metrics_server;

enum metrics_id {
	/* Peer sessions by FSM state (gauges; the peer module sets them). */
	METRICS_SESSIONS_IDLE,
	METRICS_SESSIONS_CONNECT,
	METRICS_SESSIONS_OPENSENT,
	METRICS_SESSIONS_ESTABLISHED,
	/* Cross-node routes in the kernel (gauges). */
	METRICS_ROUTES_INSTALLED,
	METRICS_ROUTES_STALE,
	/* Advert entries rejected, by reason (counters). */
	METRICS_ADVERTS_REJECTED_OUTSIDE_CLUSTER,
	METRICS_ADVERTS_REJECTED_OVERLAP_NODE,	/* overlaps another node's subnet */
	METRICS_ADVERTS_REJECTED_OVERLAP_LOCAL, /* overlaps a network of this host */
	METRICS_ADVERTS_REJECTED_DEFAULT_ROUTE,
	METRICS_ADVERTS_REJECTED_LIMIT, /* over the per-node subnet bound */
	METRICS_ADVERTS_REJECTED_MALFORMED,
	/* Peer protocol frames (counters). */
	METRICS_FRAMES_IN,
	METRICS_FRAMES_OUT,
	/* Kernel reconcile (counters, copied from kern_get_stats at scrape). */
	METRICS_RECONCILE_CHANGES,
	METRICS_RECONCILE_REPAIRS,
	METRICS_RECONCILE_ERRORS,
	/* Local state and operations. */
	METRICS_NAMESPACES, /* gauge */
	METRICS_HEALTHY,    /* gauge, 1 or 0 */
	METRICS_RELOADS_OK,
	METRICS_RELOADS_FAILED,
	METRICS_CTL_REQUESTS,
	/* Resource limits (counters): accepts paused after an accept error
	 * (out of file descriptors), by listener (src/listen.c), and control
	 * clients dropped for not reading their replies. */
	METRICS_ACCEPTS_PAUSED_PEER,
	METRICS_ACCEPTS_PAUSED_CONTROL,
	METRICS_ACCEPTS_PAUSED_METRICS,
	METRICS_CTL_CLIENTS_DROPPED,
	METRICS_COUNT
};

void metrics_inc(enum metrics_id id);
void metrics_add(enum metrics_id id, uint64_t n);
void metrics_set(enum metrics_id id, uint64_t value);
uint64_t metrics_get(enum metrics_id id);
/* Zeroes every series (tests). */
void metrics_reset(void);

/* Called at every scrape before rendering: refresh values taken from
 * elsewhere (kern_get_stats) and append series the registry cannot hold
 * (one per peer: probe RTT and loss) with metrics_write_family/_sample. */
typedef void (*metrics_collector)(void *arg, struct evbuffer *extra);
void metrics_set_collector(metrics_collector collect, void *arg);

void metrics_write_family(struct evbuffer *out, const char *name, const char *type,
			  const char *help);
/* labels: "" or 'peer="192.168.1.6"' (already escaped). */
void metrics_write_sample(struct evbuffer *out, const char *name, const char *labels, double value);

/* The whole exposition text (collector included). */
void metrics_render(struct evbuffer *out);

/* The endpoint serves at most METRICS_MAX_CONNECTIONS connections at once
 * (more wait in the kernel's queue) and closes one that has not sent a
 * whole request within METRICS_TIMEOUT_S of connecting or of its last
 * reply, however slowly it trickles bytes. */
#define METRICS_MAX_CONNECTIONS 16
#define METRICS_TIMEOUT_S 10

/* Serves GET /metrics on endpoint. err gets the reason on failure. */
int metrics_server_new(struct event_base *base, const struct endpoint *endpoint,
		       struct metrics_server **out, char *err, size_t err_size);
void metrics_server_free(struct metrics_server *server);

#endif
