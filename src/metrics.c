/* DOC: the metrics registry and its HTTP endpoint.
 *
 * Owns one table describing every series (family name, type, help, label
 * set) and the process-wide array of their values. Series of one family
 * are adjacent in the table, so the renderer prints HELP and TYPE once per
 * family, as the exposition format requires. Values that live elsewhere
 * (kernel reconcile stats) are copied in by the collector at scrape time
 * rather than pushed on every change.
 *
 * The endpoint is an evhttp server on the daemon's loop answering only
 * GET/HEAD /metrics, with small header/body limits and a timeout: it is
 * read-only and never blocks the loop. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "nsagent/log.h"
#include "nsagent/metrics.h"
#include "nsagent/xalloc.h"

struct metric_def {
	const char *family;
	const char *type; /* "counter" | "gauge" */
	const char *help;
	const char *labels; /* "" or key="value" */
};

#define SESSIONS "nsagent_sessions", "gauge", "Peer sessions by state."
#define ROUTES "nsagent_routes", "gauge", "Cross-node routes in the kernel, by state."
#define REJECTED                                                                                   \
	"nsagent_adverts_rejected_total", "counter", "Advertised subnets rejected, by reason."
#define FRAMES "nsagent_frames_total", "counter", "Peer protocol frames, by direction."
#define RELOADS "nsagent_reloads_total", "counter", "Config reloads, by result."

#define PAUSED                                                                                     \
	"nsagent_accepts_paused_total", "counter",                                                 \
	    "Accepts paused after an accept error (out of file descriptors), by listener."

static const struct metric_def defs[METRICS_COUNT] = {
    [METRICS_SESSIONS_IDLE] = {SESSIONS, "state=\"idle\""},
    [METRICS_SESSIONS_CONNECT] = {SESSIONS, "state=\"connect\""},
    [METRICS_SESSIONS_OPENSENT] = {SESSIONS, "state=\"opensent\""},
    [METRICS_SESSIONS_ESTABLISHED] = {SESSIONS, "state=\"established\""},
    [METRICS_ROUTES_INSTALLED] = {ROUTES, "state=\"installed\""},
    [METRICS_ROUTES_STALE] = {ROUTES, "state=\"stale\""},
    [METRICS_ADVERTS_REJECTED_OUTSIDE_CLUSTER] = {REJECTED, "reason=\"outside_cluster\""},
    [METRICS_ADVERTS_REJECTED_OVERLAP_NODE] = {REJECTED, "reason=\"overlaps_node\""},
    [METRICS_ADVERTS_REJECTED_OVERLAP_LOCAL] = {REJECTED, "reason=\"overlaps_local\""},
    [METRICS_ADVERTS_REJECTED_DEFAULT_ROUTE] = {REJECTED, "reason=\"default_route\""},
    [METRICS_ADVERTS_REJECTED_LIMIT] = {REJECTED, "reason=\"limit\""},
    [METRICS_ADVERTS_REJECTED_MALFORMED] = {REJECTED, "reason=\"malformed\""},
    [METRICS_FRAMES_IN] = {FRAMES, "direction=\"in\""},
    [METRICS_FRAMES_OUT] = {FRAMES, "direction=\"out\""},
    [METRICS_RECONCILE_CHANGES] = {"nsagent_reconcile_changes_total", "counter",
				   "Kernel changes made by reconcile.", ""},
    [METRICS_RECONCILE_REPAIRS] = {"nsagent_reconcile_repairs_total", "counter",
				   "Kernel changes made to repair drift.", ""},
    [METRICS_RECONCILE_ERRORS] = {"nsagent_reconcile_errors_total", "counter",
				  "Kernel requests that failed.", ""},
    [METRICS_NAMESPACES] = {"nsagent_namespaces", "gauge", "Namespaces on this node.", ""},
    [METRICS_HEALTHY] = {"nsagent_healthy", "gauge",
			 "1 when the last reconcile and reload succeeded.", ""},
    [METRICS_RELOADS_OK] = {RELOADS, "result=\"ok\""},
    [METRICS_RELOADS_FAILED] = {RELOADS, "result=\"failed\""},
    [METRICS_CTL_REQUESTS] = {"nsagent_control_requests_total", "counter",
			      "Requests served on the control socket.", ""},
    [METRICS_ACCEPTS_PAUSED_PEER] = {PAUSED, "listener=\"peer\""},
    [METRICS_ACCEPTS_PAUSED_CONTROL] = {PAUSED, "listener=\"control\""},
    [METRICS_ACCEPTS_PAUSED_METRICS] = {PAUSED, "listener=\"metrics\""},
    [METRICS_CTL_CLIENTS_DROPPED] = {"nsagent_control_clients_dropped_total", "counter",
				     "Control clients dropped for not reading their replies.", ""},
};

static uint64_t values[METRICS_COUNT];
static metrics_collector collector;
static void *collector_arg;

struct metrics_server {
	struct evhttp *http;
};

void metrics_inc(enum metrics_id id)
{
	metrics_add(id, 1);
}

void metrics_add(enum metrics_id id, uint64_t n)
{
	if ((unsigned)id < METRICS_COUNT)
		values[id] += n;
}

void metrics_set(enum metrics_id id, uint64_t value)
{
	if ((unsigned)id < METRICS_COUNT)
		values[id] = value;
}

uint64_t metrics_get(enum metrics_id id)
{
	return (unsigned)id < METRICS_COUNT ? values[id] : 0;
}

void metrics_reset(void)
{
	memset(values, 0, sizeof(values));
}

void metrics_set_collector(metrics_collector collect, void *arg)
{
	collector = collect;
	collector_arg = arg;
}

void metrics_write_family(struct evbuffer *out, const char *name, const char *type,
			  const char *help)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void metrics_write_sample(struct evbuffer *out, const char *name, const char *labels, double value)
{
	if (labels && labels[0])
		evbuffer_add_printf(out, "%s{%s} %.15g\n", name, labels, value);
	else
		evbuffer_add_printf(out, "%s %.15g\n", name, value);
}

void metrics_render(struct evbuffer *out)
{
	struct evbuffer *extra = evbuffer_new();

	if (!extra)
		fatal("out of memory");
	if (collector)
		collector(collector_arg, extra);
	for (unsigned i = 0; i < METRICS_COUNT; i++) {
		const struct metric_def *d = &defs[i];

		if (i == 0 || strcmp(defs[i - 1].family, d->family) != 0)
			metrics_write_family(out, d->family, d->type, d->help);
		if (d->labels[0])
			evbuffer_add_printf(out, "%s{%s} %" PRIu64 "\n", d->family, d->labels,
					    values[i]);
		else
			evbuffer_add_printf(out, "%s %" PRIu64 "\n", d->family, values[i]);
	}
	evbuffer_add_buffer(out, extra);
	evbuffer_free(extra);
}

static void on_request(struct evhttp_request *req, void *arg)
{
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	struct evbuffer *body;

	(void)arg;
	if (!path || strcmp(path, "/metrics") != 0) {
		evhttp_send_error(req, HTTP_NOTFOUND, "only /metrics is served here");
		return;
	}
	body = evbuffer_new();
	if (!body)
		fatal("out of memory");
	metrics_render(body);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, HTTP_OK, "OK", body);
	evbuffer_free(body);
}

int metrics_server_new(struct event_base *base, const struct endpoint *endpoint,
		       struct metrics_server **out, char *err, size_t err_size)
{
	struct metrics_server *server = xcalloc(1, sizeof(*server));
	char a[ADDR_STRLEN];

	server->http = evhttp_new(base);
	if (!server->http)
		fatal("out of memory");
	evhttp_set_allowed_methods(server->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_max_headers_size(server->http, 8192);
	evhttp_set_max_body_size(server->http, 1024);
	evhttp_set_timeout(server->http, 10);
	evhttp_set_gencb(server->http, on_request, server);
	errno = 0;
	if (!evhttp_bind_socket_with_handle(server->http, addr_format(endpoint->addr, a),
					    endpoint->port)) {
		int e = errno ? errno : EADDRNOTAVAIL;

		snprintf(err, err_size, "cannot serve metrics on %s:%u: %s", a, endpoint->port,
			 strerror(e));
		metrics_server_free(server);
		return -e;
	}
	*out = server;
	return 0;
}

void metrics_server_free(struct metrics_server *server)
{
	if (!server)
		return;
	if (server->http)
		evhttp_free(server->http);
	free(server);
}
