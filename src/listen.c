/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: listeners that pause instead of spinning when accept() fails.
 *
 * Owns nothing but the pause timer and the back-off of one listener. An
 * accept error leaves the connection queued in the kernel and the socket
 * readable, so without this libevent would retry at once, forever (one
 * core at 100 % and a log line per try while real peers go unanswered).
 * Instead every error disables the listener for a back-off from
 * LISTEN_PAUSE_MIN_MS doubling to LISTEN_PAUSE_MAX_MS; an accepted
 * connection resets it. The kernel keeps queuing connections meanwhile
 * (up to the backlog), so nothing is lost that a later accept can take.
 *
 * Invariants: one guard per listener; the listener is enabled exactly when neither the owner's hold
 * (its connection cap) nor a back-off is in force; every pause is counted;
 * at most one log line per LISTEN_PAUSE_MAX_MS per listener, the lines in
 * between counted into the next one. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "nsagent/listen.h"
#include "nsagent/log.h"
#include "nsagent/xalloc.h"

struct listen_guard {
	struct evconnlistener *listener;
	struct event_base *base;
	struct event *resume;
	uint32_t delay_ms; /* of the next pause */
	char name[64];
	enum status_counter paused;
	bool held;
	bool backing_off;
	uint64_t last_log_ms; /* 0 = never */
	unsigned unlogged;    /* pauses since the last line */
	struct listen_guard *next;
};

/* libevent calls a listener's error callback with the listener's own
 * argument (its owner's, evhttp's for the metrics endpoint), so the guard
 * is found by its listener; there are three at most. */
static struct listen_guard *guards;

static struct listen_guard *guard_of(const struct evconnlistener *listener)
{
	for (struct listen_guard *g = guards; g; g = g->next)
		if (g->listener == listener)
			return g;
	return NULL;
}

static void apply(struct listen_guard *g)
{
	if (g->held || g->backing_off)
		evconnlistener_disable(g->listener);
	else
		evconnlistener_enable(g->listener);
}

static uint64_t wall_ms(struct listen_guard *g)
{
	struct timeval tv;

	event_base_gettimeofday_cached(g->base, &tv);
	return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

static void log_pause(struct listen_guard *g, int err, uint32_t delay_ms)
{
	uint64_t now = wall_ms(g);
	bool no_fds = err == EMFILE || err == ENFILE;
	char more[64] = "";

	if (g->last_log_ms && now - g->last_log_ms < LISTEN_PAUSE_MAX_MS) {
		g->unlogged++;
		return;
	}
	if (g->unlogged)
		snprintf(more, sizeof(more), " (%u more pause(s) since the last line)",
			 g->unlogged);
	log_warn("%s: cannot accept a connection: %s; accepts paused for %u ms%s%s", g->name,
		 strerror(err), delay_ms,
		 no_fds ? " (out of file descriptors: raise the open-file limit or lower "
			  "max-connections)"
			: "",
		 more);
	g->last_log_ms = now;
	g->unlogged = 0;
}

/* Disables the listener for the next back-off and says so. */
static void pause_accepts(struct listen_guard *g, int err)
{
	/* Plain doubling, no jitter: a local listener has no herd to spread. */
	uint32_t delay = g->delay_ms;
	struct timeval tv = {.tv_sec = delay / 1000, .tv_usec = (suseconds_t)(delay % 1000) * 1000};

	g->delay_ms = delay * 2 < LISTEN_PAUSE_MAX_MS ? delay * 2 : LISTEN_PAUSE_MAX_MS;
	g->backing_off = true;
	apply(g);
	if (evtimer_add(g->resume, &tv) < 0)
		fatal("cannot arm the accept pause timer of %s", g->name);
	status_count(g->paused);
	log_pause(g, err, delay);
}

static void on_accept_error(struct evconnlistener *listener, void *arg)
{
	int err = EVUTIL_SOCKET_ERROR();
	struct listen_guard *g = guard_of(listener);

	(void)arg;
	if (g)
		pause_accepts(g, err);
	else
		fatal("accept error on a listener without a guard: %s", strerror(err));
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct listen_guard *g = arg;

	(void)fd;
	(void)what;
	g->backing_off = false;
	apply(g);
}

struct listen_guard *listen_guard_new(struct event_base *base, struct evconnlistener *listener,
				      const char *name, enum status_counter paused)
{
	struct listen_guard *g = xcalloc(1, sizeof(*g));

	g->listener = listener;
	g->base = base;
	g->paused = paused;
	snprintf(g->name, sizeof(g->name), "%s", name);
	g->delay_ms = LISTEN_PAUSE_MIN_MS;
	g->resume = evtimer_new(base, on_resume, g);
	if (!g->resume)
		fatal("out of memory creating the accept pause timer of %s", name);
	evconnlistener_set_error_cb(listener, on_accept_error);
	g->next = guards;
	guards = g;
	return g;
}

void listen_guard_accepted(struct listen_guard *guard)
{
	guard->delay_ms = LISTEN_PAUSE_MIN_MS;
}

void listen_guard_hold(struct listen_guard *guard, bool hold)
{
	guard->held = hold;
	apply(guard);
}

bool listen_guard_backing_off(const struct listen_guard *guard)
{
	return guard->backing_off;
}

void listen_guard_free(struct listen_guard *guard)
{
	if (!guard)
		return;
	for (struct listen_guard **pp = &guards; *pp; pp = &(*pp)->next) {
		if (*pp == guard) {
			*pp = guard->next;
			break;
		}
	}
	evconnlistener_set_error_cb(guard->listener, NULL);
	event_free(guard->resume);
	free(guard);
}
