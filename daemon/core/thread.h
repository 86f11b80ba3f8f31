/*
 * Starting the daemon's own threads (the control socket's, the lazy-restore
 * sessions', the shim provider's event thread): every signal blocked in
 * them, since libfuse's handlers belong to the FUSE loop and a SIGTERM must
 * end the loop, not a helper thread.
 *
 * Not for: the FUSE workers (libfuse starts those).
 */
#ifndef GM_THREAD_H
#define GM_THREAD_H

#include <pthread.h>

/* pthread_create with all signals blocked in the new thread: 0 or -errno. */
int gm_thread_start(pthread_t *t, void *(*fn)(void *), void *arg);

#endif
