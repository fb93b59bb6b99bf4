/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Connect-retry backoff: exponential from min to max with jitter, so that
 * nodes restarted together do not redial in lock step. */
#ifndef NSAGENT_BACKOFF_H
#define NSAGENT_BACKOFF_H

#include <stdint.h>

struct backoff {
	uint32_t min_ms;
	uint32_t max_ms;
	uint32_t base_ms; /* un-jittered delay of the next attempt */
	uint64_t rng;	  /* xorshift64* state, never 0 */
};

/* seed 0 is replaced by a fixed non-zero constant; pass a random seed in
 * production and a fixed one in tests. min_ms 0 counts as 1. */
void backoff_init(struct backoff *backoff, uint32_t min_ms, uint32_t max_ms, uint64_t seed);
/* Delay before the next attempt: uniform in [max(min, base/2), base], where
 * base doubles from min per call and is capped at max. Always within
 * [min_ms, max_ms]. */
uint32_t backoff_next(struct backoff *backoff);
/* After a success: the next failure starts again from min. */
void backoff_reset(struct backoff *backoff);

#endif
