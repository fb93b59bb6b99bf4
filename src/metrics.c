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
 * GET/HEAD /metrics, with small header/body limits: it is read-only and
 * never blocks the loop. It holds at most METRICS_MAX_CONNECTIONS
 * connections (its listener is disabled at the cap, so more wait in the
 * kernel's queue and cost the agent no file descriptor), each closed when
 * it has not sent a whole request within METRICS_TIMEOUT_S. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "nsagent/listen.h"
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

LIST_HEAD(metrics_conns, metrics_conn);

struct metrics_server {
	struct evhttp *http;
	struct listen_guard *guard;
	struct event *adopt; /* adopts the connections accepted since it last ran */
	struct metrics_conns conns;
	unsigned n_conns;
	bool closing; /* being freed: the listener may be gone */
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

/* Connection tracking for the cap and the deadline. libevent 2.1's evhttp
 * has neither a connection cap nor a callback for a new connection: it
 * only asks us for each new connection's bufferevent (evhttp_set_bevcb),
 * before it wraps it in its evhttp_connection. So the connection is
 * counted there, and adopted once that accept is over (the adopt event
 * runs before any I/O on it): by then the bufferevent's callback argument
 * is its evhttp_connection, which gets our close callback. A reference
 * keeps the bufferevent readable until then; one evhttp freed already has
 * no callbacks left. */
struct metrics_conn {
	struct metrics_server *server;
	struct bufferevent *bev;	 /* referenced until adopted */
	struct evhttp_connection *evcon; /* NULL until adopted */
	struct event *deadline;
	LIST_ENTRY(metrics_conn) entry;
};

static void conn_arm(struct metrics_conn *c)
{
	struct timeval tv = {.tv_sec = METRICS_TIMEOUT_S};

	if (evtimer_add(c->deadline, &tv) < 0)
		fatal("cannot arm a metrics connection deadline");
}

static void conn_gone(struct metrics_conn *c)
{
	struct metrics_server *s = c->server;

	LIST_REMOVE(c, entry);
	s->n_conns--;
	event_free(c->deadline);
	free(c);
	if (!s->closing)
		listen_guard_hold(s->guard, s->n_conns >= METRICS_MAX_CONNECTIONS);
}

static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	conn_gone(arg);
}

/* A client that has not sent a whole request within the timeout (idle,
 * or trickling bytes, which evhttp's own inactivity timeout never ends). */
static void on_conn_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct metrics_conn *c = arg;

	(void)fd;
	(void)what;
	log_debug("metrics: closing a connection without a request for %d s", METRICS_TIMEOUT_S);
	evhttp_connection_free(c->evcon); /* calls on_conn_close */
}

static void on_adopt(evutil_socket_t fd, short what, void *arg)
{
	struct metrics_server *s = arg;
	struct metrics_conn *c, *next;

	(void)fd;
	(void)what;
	for (c = LIST_FIRST(&s->conns); c; c = next) {
		bufferevent_data_cb read_cb = NULL;
		void *cb_arg = NULL;
		struct bufferevent *bev = c->bev;

		next = LIST_NEXT(c, entry);
		if (!bev)
			continue;
		c->bev = NULL;
		bufferevent_getcb(bev, &read_cb, NULL, NULL, &cb_arg);
		if (read_cb && cb_arg && evhttp_connection_get_bufferevent(cb_arg) == bev) {
			c->evcon = cb_arg;
			evhttp_connection_set_closecb(c->evcon, on_conn_close, c);
			conn_arm(c);
			bufferevent_decref(bev);
		} else {
			/* evhttp gave up on it during the accept. */
			bufferevent_decref(bev);
			conn_gone(c);
		}
	}
}

static struct bufferevent *on_new_conn(struct event_base *base, void *arg)
{
	struct metrics_server *s = arg;
	struct metrics_conn *c = xcalloc(1, sizeof(*c));

	c->server = s;
	c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	c->deadline = evtimer_new(base, on_conn_deadline, c);
	if (!c->bev || !c->deadline)
		fatal("out of memory accepting a metrics connection");
	bufferevent_incref(c->bev);
	LIST_INSERT_HEAD(&s->conns, c, entry);
	s->n_conns++;
	listen_guard_accepted(s->guard);
	listen_guard_hold(s->guard, s->n_conns >= METRICS_MAX_CONNECTIONS);
	event_active(s->adopt, 0, 0);
	return c->bev;
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct metrics_server *s = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct metrics_conn *c;
	struct evbuffer *body;

	/* The next request on this connection gets a whole timeout again. */
	for (c = LIST_FIRST(&s->conns); c; c = LIST_NEXT(c, entry)) {
		if (c->evcon == evcon)
			conn_arm(c);
	}
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
	struct sockaddr_in sin = {.sin_family = AF_INET};
	struct evconnlistener *listener;
	char where[ENDPOINT_STRLEN];

	addr_format_endpoint(endpoint, where);
	server->http = evhttp_new(base);
	server->adopt = event_new(base, -1, 0, on_adopt, server);
	if (!server->http || !server->adopt)
		fatal("out of memory");
	evhttp_set_allowed_methods(server->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_max_headers_size(server->http, 8192);
	evhttp_set_max_body_size(server->http, 1024);
	evhttp_set_timeout(server->http, METRICS_TIMEOUT_S);
	evhttp_set_gencb(server->http, on_request, server);
	evhttp_set_bevcb(server->http, on_new_conn, server);
	sin.sin_addr.s_addr = htonl(endpoint->addr);
	sin.sin_port = htons(endpoint->port);
	/* Our own listener, so that the cap and the accept pauses can disable it. */
	listener = evconnlistener_new_bind(
	    base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, -1,
	    (struct sockaddr *)&sin, sizeof(sin));
	if (!listener) {
		int e = errno ? errno : EADDRNOTAVAIL;

		snprintf(err, err_size, "cannot serve metrics on %s: %s", where, strerror(e));
		metrics_server_free(server);
		return -e;
	}
	if (!evhttp_bind_listener(server->http, listener))
		fatal("out of memory binding the metrics listener");
	snprintf(where, sizeof(where), "metrics port %u", endpoint->port);
	server->guard = listen_guard_new(base, listener, where, METRICS_ACCEPTS_PAUSED_METRICS);
	*out = server;
	return 0;
}

void metrics_server_free(struct metrics_server *server)
{
	struct metrics_conn *c, *next;

	if (!server)
		return;
	server->closing = true;
	/* Before evhttp_free, which frees the listener with the bound socket. */
	listen_guard_free(server->guard);
	for (c = LIST_FIRST(&server->conns); c; c = next) {
		next = LIST_NEXT(c, entry);
		if (c->bev) { /* not adopted: evhttp frees it with its connection */
			bufferevent_decref(c->bev);
			conn_gone(c);
		}
	}
	/* Frees every connection; on_conn_close frees ours. */
	if (server->http)
		evhttp_free(server->http);
	if (server->adopt)
		event_free(server->adopt);
	free(server);
}
