/*
 * Nanosecond clock readings, one name per clock: gm_mono_ns for the
 * daemon's figures and time bounds (snapshot and restore durations, fault
 * service times, drain bounds), gm_wall_ns for inode times; and the
 * conversions of wall-clock times to and from the journal's ns.
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

/* CLOCK_MONOTONIC: for durations and time bounds, never stored. */
static inline uint64_t gm_mono_ns(void)
{
	return gm_clock_ns(CLOCK_MONOTONIC);
}

/* CLOCK_REALTIME: for inode times (atime, mtime, ctime, btime), which the
 * journal stores as gm_ts_to_ns below does. */
static inline uint64_t gm_wall_ns(void)
{
	return gm_clock_ns(CLOCK_REALTIME);
}

/* Wall-clock times as the journal keeps them: signed ns since the epoch,
 * carried in a uint64_t (a time before 1970 is negative). */
static inline uint64_t gm_ts_to_ns(struct timespec ts)
{
	return (uint64_t)((int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec);
}

static inline struct timespec gm_ns_to_ts(uint64_t ns)
{
	int64_t s = (int64_t)ns, sec = s / 1000000000LL, nsec = s % 1000000000LL;

	if (nsec < 0) {		/* floor, so that tv_nsec stays in [0, 1e9) */
		sec--;
		nsec += 1000000000LL;
	}
	return (struct timespec){ .tv_sec = sec, .tv_nsec = nsec };
}

#endif
