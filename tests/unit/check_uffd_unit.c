/*
 * Unit tests for a lazy-restore unit's state machine (daemon/uffd/unit.c):
 * each result of placing a unit ends in the one state the table in
 * uffd/unit.h gives it, a corrupt unit never counts as placed, a unit is
 * claimed by one placer at a time, and discards count once.
 *
 * Not for: placing bytes through a real userfaultfd (t-lazy.sh).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gmemfs_ctl.h"
#include "uffd/session.h"
#include "suites.h"

#define NUNITS 4

static struct gm_uffd_sess *sess_new(void)
{
	struct gm_uffd_sess *s = calloc(1, sizeof(*s));

	ck_assert_ptr_nonnull(s);
	s->units = calloc(NUNITS, 1);
	ck_assert_ptr_nonnull(s->units);
	s->nunits = s->units_covered = NUNITS;
	strcpy(s->name, "unit test session");
	atomic_init(&s->state, GMEMFS_SESS_SERVING);
	return s;
}

static void sess_free(struct gm_uffd_sess *s)
{
	free((void *)s->units);
	free(s);
}

struct placing {
	int result;		/* what the placer returns */
	unsigned calls;
	enum gm_uffd_unit seen;	/* the unit's state while being placed */
	bool discard;		/* the VMM discards the unit meanwhile */
};

static int place_stub(struct gm_uffd_sess *s, uint64_t u, void *ctx)
{
	struct placing *p = ctx;

	p->calls++;
	p->seen = gm_uffd_unit_state(s, u);
	if (p->discard)
		gm_uffd_unit_discard(s, u);
	return p->result;
}

/* The table of unit.h: every result a placer returns, and its state. */
static const struct {
	int result;
	enum gm_uffd_unit state;
	bool done;		/* counts towards COMPLETE */
} outcomes[] = {
	{ 0, GM_UNIT_PLACED, true },
	{ -EEXIST, GM_UNIT_PLACED, true },
	{ -EIO, GM_UNIT_CORRUPT, false },
	{ -EAGAIN, GM_UNIT_ABSENT, false },
	{ -ESRCH, GM_UNIT_ABSENT, false },
	{ -ENOMEM, GM_UNIT_ABSENT, false },
	{ -EFAULT, GM_UNIT_ABSENT, false },
};

START_TEST(test_outcome_table)
{
	struct gm_uffd_sess *s = sess_new();
	struct placing p = { .result = outcomes[_i].result };

	ck_assert_int_eq(gm_uffd_unit_place(s, 1, place_stub, &p), outcomes[_i].result);
	ck_assert_uint_eq(p.calls, 1);
	ck_assert_int_eq(p.seen, GM_UNIT_CLAIMED);
	ck_assert_int_eq(gm_uffd_unit_state(s, 1), outcomes[_i].state);
	ck_assert_uint_eq(atomic_load(&s->units_done), outcomes[_i].done);
	ck_assert_int_eq(gm_uffd_unit_state(s, 0), GM_UNIT_ABSENT);
	sess_free(s);
}
END_TEST

/* One placing of a sequence: of unit u, the placer returning result. */
struct step {
	uint64_t u;
	int result;
	int ret;			/* what gm_uffd_unit_place returns */
	enum gm_uffd_unit state;	/* the unit's state after */
};

/* Each step on one session, in order; -EALREADY means the placer was
 * never called. */
static void run_steps(const struct step *st, size_t n)
{
	struct gm_uffd_sess *s = sess_new();

	for (size_t i = 0; i < n; i++) {
		struct placing p = { .result = st[i].result };

		ck_assert_int_eq(gm_uffd_unit_place(s, st[i].u, place_stub, &p), st[i].ret);
		ck_assert_uint_eq(p.calls, st[i].ret != -EALREADY);
		ck_assert_int_eq(gm_uffd_unit_state(s, st[i].u), st[i].state);
	}
	sess_free(s);
}

/* A final state is not placed again: the placer is not even called. */
START_TEST(test_final_states_not_reclaimed)
{
	static const struct step steps[] = {
		{ 0, -EIO, -EIO, GM_UNIT_CORRUPT },
		{ 0, 0, -EALREADY, GM_UNIT_CORRUPT },
		{ 1, 0, 0, GM_UNIT_PLACED },
		{ 1, 0, -EALREADY, GM_UNIT_PLACED },
	};

	run_steps(steps, sizeof(steps) / sizeof(steps[0]));
}
END_TEST

/* A retryable result gives the unit back; the next placing takes it. */
START_TEST(test_retry_then_placed)
{
	static const struct step steps[] = {
		{ 2, -EAGAIN, -EAGAIN, GM_UNIT_ABSENT },
		{ 2, -ENOMEM, -ENOMEM, GM_UNIT_ABSENT },
		{ 2, 0, 0, GM_UNIT_PLACED },
	};

	run_steps(steps, sizeof(steps) / sizeof(steps[0]));
}
END_TEST

/* COMPLETE needs every unit placed or discarded: a corrupt one holds it
 * back until the VMM discards it. */
START_TEST(test_corrupt_keeps_session_serving)
{
	struct gm_uffd_sess *s = sess_new();
	struct placing good = { .result = 0 }, bad = { .result = -EIO };

	for (uint64_t u = 0; u < NUNITS - 1; u++)
		ck_assert_int_eq(gm_uffd_unit_place(s, u, place_stub, &good), 0);
	ck_assert_int_eq(gm_uffd_unit_place(s, NUNITS - 1, place_stub, &bad), -EIO);
	ck_assert_uint_eq(atomic_load(&s->state), GMEMFS_SESS_SERVING);
	gm_uffd_unit_discard(s, 0);		/* PLACED: counted already */
	ck_assert_uint_eq(atomic_load(&s->state), GMEMFS_SESS_SERVING);
	gm_uffd_unit_discard(s, NUNITS - 1);
	ck_assert_int_eq(gm_uffd_unit_state(s, NUNITS - 1), GM_UNIT_REMOVED);
	ck_assert_uint_eq(atomic_load(&s->units_done), NUNITS);
	ck_assert_uint_eq(atomic_load(&s->state), GMEMFS_SESS_COMPLETE);
	sess_free(s);
}
END_TEST

/* The VMM discards a unit while it is being placed: it stays REMOVED
 * (the VMM wants zeros there), counted once. */
START_TEST(test_discard_while_claimed)
{
	struct gm_uffd_sess *s = sess_new();
	struct placing p = { .result = outcomes[_i].result, .discard = true };

	gm_uffd_unit_place(s, 3, place_stub, &p);
	ck_assert_int_eq(gm_uffd_unit_state(s, 3), GM_UNIT_REMOVED);
	ck_assert_uint_eq(atomic_load(&s->units_done), 1);
	sess_free(s);
}
END_TEST

Suite *make_uffd_unit_suite(void)
{
	Suite *s = suite_create("uffd_unit");
	TCase *tc = tcase_create("states");
	int n = sizeof(outcomes) / sizeof(outcomes[0]);

	tcase_add_loop_test(tc, test_outcome_table, 0, n);
	tcase_add_test(tc, test_final_states_not_reclaimed);
	tcase_add_test(tc, test_retry_then_placed);
	tcase_add_test(tc, test_corrupt_keeps_session_serving);
	tcase_add_loop_test(tc, test_discard_while_claimed, 0, n);
	suite_add_tcase(s, tc);
	return s;
}
