/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The metrics endpoint: evhttp at http://ADDR:PORT/metrics when --metrics
 * is given, serving the status model's Prometheus printer
 * (status_print_prom) over a model filled afresh for every scrape. The
 * numbers live in the model and where they are counted (status.h), not
 * here. */
#ifndef NSAGENT_METRICS_H
#define NSAGENT_METRICS_H

#include <stddef.h>

#include "nsagent/addr.h"
#include "nsagent/status.h"

struct event_base;
struct evbuffer;
struct metrics_server;

/* Fills st (status_init'ed) with the agent's status: the daemon's fill,
 * the one the control socket's status request uses too. */
typedef void (*metrics_fill)(void *arg, struct status *st);

/* Appends the exposition text of a freshly filled model to out. */
int metrics_render(metrics_fill fill, void *arg, struct evbuffer *out);

/* The endpoint serves at most METRICS_MAX_CONNECTIONS connections at once
 * (more wait in the kernel's queue) and closes one that has not sent a
 * whole request within METRICS_TIMEOUT_S of connecting or of its last
 * reply, however slowly it trickles bytes. */
#define METRICS_MAX_CONNECTIONS 16
#define METRICS_TIMEOUT_S 10

/* Serves GET /metrics on endpoint, from the model fill fills. err gets the
 * reason on failure. */
int metrics_server_new(struct event_base *base, const struct endpoint *endpoint, metrics_fill fill,
		       void *fill_arg, struct metrics_server **out, char *err, size_t err_size);
void metrics_server_free(struct metrics_server *server);

#endif
