/*
 * The benchmarks' way to stop: SIGINT, SIGTERM and SIGHUP only record
 * which signal came, in a flag the run loops poll, so that every exit
 * path goes through the program's own cleanup (mounts, daemons, memory).
 * Not for: anything a handler would have to do itself.
 */
#ifndef GM_BENCH_STOP_SIGNALS_H
#define GM_BENCH_STOP_SIGNALS_H

#include <signal.h>

static inline void bench_catch_stop_signals(void (*on_signal)(int sig))
{
	struct sigaction sa = { .sa_handler = on_signal };
	const int sigs[] = { SIGINT, SIGTERM, SIGHUP };

	sigemptyset(&sa.sa_mask);
	for (unsigned int i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

#endif
