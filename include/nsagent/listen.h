/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Listening sockets that survive running out of file descriptors.
 *
 * When accept() fails with EMFILE or ENFILE the pending connection stays in
 * the kernel's queue, so the listening socket stays readable and libevent
 * calls accept() again at once, forever: one core at 100 % and a log line
 * per try. A listen_guard sits beside one evconnlistener (peers, control
 * socket, metrics) and pauses it instead: any accept error disables the
 * listener for a back-off (LISTEN_PAUSE_MIN_MS doubling to
 * LISTEN_PAUSE_MAX_MS, reset by the next accepted connection), counts the
 * pause (status_count) and logs one line per pause.
 *
 * It also owns the listener's enabled state for its owner's connection
 * cap: listen_guard_hold() keeps it disabled while the owner is full, and
 * releasing the hold never re-enables a listener that is backing off. */
#ifndef NSAGENT_LISTEN_H
#define NSAGENT_LISTEN_H

#include <stdbool.h>

#include "nsagent/status.h"

#define LISTEN_PAUSE_MIN_MS 100
#define LISTEN_PAUSE_MAX_MS 1000

struct event_base;
struct evconnlistener;
struct listen_guard;

/* Installs the error callback on listener (not owned: free the guard
 * first). name says which listener in the log ("peer port 7470");
 * paused counts every pause. */
struct listen_guard *listen_guard_new(struct event_base *base, struct evconnlistener *listener,
				      const char *name, enum status_counter paused);
/* A connection was accepted: the next failure backs off from the minimum. */
void listen_guard_accepted(struct listen_guard *guard);
/* hold: keep the listener disabled (the owner is at its connection cap);
 * !hold: enable it again unless a back-off is running. */
void listen_guard_hold(struct listen_guard *guard, bool hold);
/* Whether accepts are paused by an error right now (tests). */
bool listen_guard_backing_off(const struct listen_guard *guard);
void listen_guard_free(struct listen_guard *guard);

#endif
