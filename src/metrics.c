/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: the metrics endpoint.
 *
 * It holds no numbers of its own: each scrape asks its source (the
 * daemon's status fill) for a fresh status model and serves the model's
 * Prometheus printer (status_print_prom), so a metric is never a second
 * count kept beside the status, and no family can be written twice.
 *
 * The endpoint is an evhttp server on the daemon's loop answering only
 * GET/HEAD /metrics, with small header/body limits: it is read-only and
 * never blocks the loop. It holds at most METRICS_MAX_CONNECTIONS
 * connections (its listener is disabled at the cap, so more wait in the
 * kernel's queue and cost the agent no file descriptor), each closed when
 * it has not sent a whole request within METRICS_TIMEOUT_S. */
#include <errno.h>
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

LIST_HEAD(metrics_conns, metrics_conn);

struct metrics_server {
	struct evhttp *http;
	struct listen_guard *guard;
	struct event *adopt; /* adopts the connections accepted since it last ran */
	struct metrics_conns conns;
	unsigned n_conns;
	bool closing; /* being freed: the listener may be gone */
	metrics_fill fill;
	void *fill_arg;
};

int metrics_render(metrics_fill fill, void *arg, struct evbuffer *out)
{
	struct status st;
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	int ret = 0;

	if (!f)
		return -errno;
	status_init(&st);
	fill(arg, &st);
	status_print_prom(&st, f);
	status_clear(&st);
	if (fclose(f) != 0)
		ret = -errno;
	else if (evbuffer_add(out, text, size) < 0)
		ret = -ENOMEM;
	free(text);
	return ret;
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
	int ret;

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
	ret = metrics_render(s->fill, s->fill_arg, body);
	if (ret < 0) {
		log_warn("metrics: cannot render a scrape: %s", strerror(-ret));
		evhttp_send_error(req, HTTP_INTERNAL, "cannot render the metrics");
		evbuffer_free(body);
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, HTTP_OK, "OK", body);
	evbuffer_free(body);
}

int metrics_server_new(struct event_base *base, const struct endpoint *endpoint, metrics_fill fill,
		       void *fill_arg, struct metrics_server **out, char *err, size_t err_size)
{
	struct metrics_server *server = xcalloc(1, sizeof(*server));
	struct sockaddr_storage ss;
	socklen_t ss_len;
	struct evconnlistener *listener;
	char where[ENDPOINT_STRLEN];

	addr_format_endpoint(endpoint, where);
	server->fill = fill;
	server->fill_arg = fill_arg;
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
	ss_len = nodeaddr_to_sockaddr(&endpoint->addr, endpoint->port, &ss);
	/* Our own listener, so that the cap and the accept pauses can disable it. */
	listener = evconnlistener_new_bind(
	    base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, -1,
	    (struct sockaddr *)&ss, (int)ss_len);
	if (!listener) {
		int e = errno ? errno : EADDRNOTAVAIL;

		snprintf(err, err_size, "cannot serve metrics on %s: %s", where, strerror(e));
		metrics_server_free(server);
		return -e;
	}
	if (!evhttp_bind_listener(server->http, listener))
		fatal("out of memory binding the metrics listener");
	snprintf(where, sizeof(where), "metrics port %u", endpoint->port);
	server->guard = listen_guard_new(base, listener, where, STATUS_ACCEPTS_PAUSED_METRICS);
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
