/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The wall-clock grid. Work every node of a cluster does once per interval
 * (keepalives, src/peers.c; probe rounds, src/probe.c) runs when the wall
 * clock is a whole multiple of its interval: with clocks kept by NTP (or
 * one clock in the lab) a node's peers' keepalives and echoes arrive
 * together, and one wakeup reads many (tests/bench/README.md, the fourth
 * step). Timers run on the monotonic clock, so a caller asks for the wait
 * and arms its timer with it. */
#ifndef NSAGENT_GRID_H
#define NSAGENT_GRID_H

#include <stdint.h>
#include <time.h>

/* The milliseconds from now to the first moment at least min_ms away at
 * which the wall clock is a whole multiple of interval_ms (not 0). */
static inline uint64_t grid_wait_ms(uint32_t interval_ms, uint32_t min_ms)
{
	struct timespec ts;
	uint64_t at;

	clock_gettime(CLOCK_REALTIME, &ts);
	at = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 + min_ms;
	return min_ms + (interval_ms - at % interval_ms) % interval_ms;
}

#endif
