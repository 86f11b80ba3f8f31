/*
 * RCU for gmemfsd: liburcu's membarrier flavour, with each thread
 * registered on its first read-side section and unregistered at its exit
 * by our own thread-specific-data destructor.  libfuse creates and cancels
 * worker threads on its own, so registration cannot be done at thread
 * start.  (Not the "bulletproof" flavour, which registers by itself: its
 * exit hook runs uninstrumented code on stack that libfuse's cancelled
 * workers leave poisoned, and AddressSanitizer aborts the daemon there.)
 */
#ifndef GM_RCU_H
#define GM_RCU_H

#define URCU_API_MAP		/* rcu_read_lock() etc. name the memb flavour */
#include <urcu/urcu-memb.h>
#include <urcu/rculfhash.h>

/* Register the calling thread if it is not yet. */
void gm_rcu_online(void);

static inline void gm_rcu_read_lock(void)
{
	gm_rcu_online();
	rcu_read_lock();
}

static inline void gm_rcu_read_unlock(void)
{
	rcu_read_unlock();
}

#endif
