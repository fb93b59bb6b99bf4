/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A client of BIRD's control socket (the protocol birdc speaks) on the
 * agent's event loop: it writes nsagent's include, has BIRD check and
 * load it, and reads back the BGP sessions and the routes BIRD gives the
 * kernel. It never blocks and never gives up: a BIRD that is absent, not
 * running or silent is a problem in its view, retried with backoff. */
#ifndef NSAGENT_BIRDC_H
#define NSAGENT_BIRDC_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "nsagent/addr.h"
#include "nsagent/bird.h"

#define BIRDC_PROBLEM_MAX 384

struct birdc;

struct birdc_config {
	const char *socket_path;
	const char *include_path;
	struct prefix subnet; /* ours: a route for it from elsewhere is a conflict */
	struct nodeaddr node_ip;
	uint32_t poll_ms;      /* read-back interval (0: 1 s) */
	uint32_t retry_min_ms; /* reconnect backoff (0: 250 ms .. 0: 5 s) */
	uint32_t retry_max_ms;
	uint32_t timeout_ms; /* a command unanswered this long drops the connection (0: 10 s) */
};

struct birdc_ops {
	/* A read-back finished: the view has fresh sessions and routes. */
	void (*polled)(void *arg);
};

/* What the agent knows of BIRD, for status and the export decision. */
struct birdc_view {
	bool up; /* BIRD answers on its socket */
	/* Why BIRD is not usable ("" = it is): not answering, or the include
	 * rejected. */
	char problem[BIRDC_PROBLEM_MAX];
	struct bird_session sessions[CFG_MAX_BGP_PEERS];
	unsigned n_sessions;
	struct bird_route *routes; /* exported to the kernel, both families */
	unsigned n_routes;
	bool conflict; /* our subnet, from another next hop (conflict_via) */
	struct nodeaddr conflict_via;
};

int birdc_new(struct event_base *base, const struct birdc_config *config,
	      const struct birdc_ops *ops, void *arg, struct birdc **out);
void birdc_free(struct birdc *birdc);

/* text is the include wanted now: written at once when the file differs
 * (BIRD running or not), then checked and loaded by BIRD as soon as it
 * answers. A text BIRD rejects is replaced by the last one it accepted. */
void birdc_set_include(struct birdc *birdc, const char *text);

const struct birdc_view *birdc_view(const struct birdc *birdc);

#endif
