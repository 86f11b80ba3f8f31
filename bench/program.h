/*
 * What every benchmark program does the same way: stop on SIGINT,
 * SIGTERM and SIGHUP by recording which signal came, in a flag the run
 * loops poll, so that every exit path goes through the program's own
 * cleanup (mounts, daemons, memory); and print its command line so that
 * a reader can paste it back (the "reproduce:" lines).
 * Not for: measuring or reporting.
 */
#ifndef GM_BENCH_PROGRAM_H
#define GM_BENCH_PROGRAM_H

#include <signal.h>
#include <stdio.h>
#include <string.h>

static inline void bench_catch_stop_signals(void (*on_signal)(int sig))
{
	struct sigaction sa = { .sa_handler = on_signal };
	const int sigs[] = { SIGINT, SIGTERM, SIGHUP };

	sigemptyset(&sa.sa_mask);
	for (unsigned int i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

/* argv, shell-quoted where a word needs it (no ' occurs in our args). */
static inline void bench_print_argv(int argc, char *const *argv, FILE *f)
{
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (a[strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			       "0123456789-_./=:,+")] == '\0' && a[0])
			fprintf(f, "%s%s", i ? " " : "", a);
		else
			fprintf(f, "%s'%s'", i ? " " : "", a);
	}
}

#endif
