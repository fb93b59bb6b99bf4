/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: exponential connect-retry backoff with jitter.
 *
 * Invariants: min_ms <= every returned delay <= max_ms; the un-jittered
 * base doubles per failure and saturates at max_ms; the generator is local
 * (xorshift64*) so tests can seed it and get a reproducible schedule. */
#include "nsagent/backoff.h"

static uint64_t next_random(struct backoff *backoff)
{
	uint64_t x = backoff->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	backoff->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

void backoff_init(struct backoff *backoff, uint32_t min_ms, uint32_t max_ms, uint64_t seed)
{
	if (min_ms == 0)
		min_ms = 1;
	if (max_ms < min_ms)
		max_ms = min_ms;
	backoff->min_ms = min_ms;
	backoff->max_ms = max_ms;
	backoff->base_ms = min_ms;
	backoff->rng = seed ? seed : 0x9E3779B97F4A7C15ULL;
}

uint32_t backoff_next(struct backoff *backoff)
{
	uint32_t base = backoff->base_ms;
	uint32_t low = base / 2 > backoff->min_ms ? base / 2 : backoff->min_ms;
	uint32_t delay = low + (uint32_t)(next_random(backoff) % ((uint64_t)base - low + 1));

	if ((uint64_t)base * 2 >= backoff->max_ms)
		backoff->base_ms = backoff->max_ms;
	else
		backoff->base_ms = base * 2;
	return delay;
}

void backoff_reset(struct backoff *backoff)
{
	backoff->base_ms = backoff->min_ms;
}
