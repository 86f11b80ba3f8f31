/*
 * Nanosecond clock readings for the daemon's figures and time bounds
 * (snapshot and restore durations, fault service times, drain bounds).
 * Header-only.  Not for: timers or sleeping.
 */
#ifndef GM_CLOCK_H
#define GM_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t gm_clock_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* CLOCK_MONOTONIC: for durations. */
static inline uint64_t gm_now_ns(void)
{
	return gm_clock_ns(CLOCK_MONOTONIC);
}

#endif
