/*
 * Lazy RCU thread registration (see rcu.h).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "core/rcu.h"

static pthread_key_t gm_rcu_key;
static pthread_once_t gm_rcu_key_once = PTHREAD_ONCE_INIT;
static __thread bool gm_rcu_registered;

static void gm_rcu_offline(void *unused)
{
	(void)unused;
	rcu_unregister_thread();
}

static void gm_rcu_key_init(void)
{
	/* Without the key a thread would stay registered after its exit and
	 * stall every grace period: better to stop at once. */
	if (pthread_key_create(&gm_rcu_key, gm_rcu_offline))
		abort();
}

void gm_rcu_online(void)
{
	if (gm_rcu_registered)
		return;
	pthread_once(&gm_rcu_key_once, gm_rcu_key_init);
	rcu_register_thread();
	pthread_setspecific(gm_rcu_key, &gm_rcu_registered);
	gm_rcu_registered = true;
}
