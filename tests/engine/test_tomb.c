/* test_tomb.c: keys last at least a span and at most two, through growth,
 * generation turns, idle gaps and the size limit. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "tomb.h"

#define SPAN 5000

static uint64_t key(unsigned i)
{
	char b[32];
	int n = snprintf(b, sizeof(b), "z9hG4bK-%u", i);

	return tomb_key(str_make(b, (size_t)n), 4);
}

Test(tomb, key_depends_on_branch_and_method_and_is_never_zero)
{
	cr_assert_neq(tomb_key(STR("z9hG4bK-a"), 4), tomb_key(STR("z9hG4bK-b"), 4));
	cr_assert_neq(tomb_key(STR("z9hG4bK-a"), 4), tomb_key(STR("z9hG4bK-a"), 5));
	cr_assert_eq(tomb_key(STR("z9hG4bK-a"), 4), tomb_key(STR("z9hG4bK-a"), 4));
	cr_assert_neq(tomb_key(STR_NULL, 0), 0);
}

Test(tomb, keeps_every_key_through_growth)
{
	struct tomb t;

	cr_assert_eq(tomb_init(&t, SPAN, 1u << 20, 0), 0);
	for (unsigned i = 0; i < 100000; i++)
		cr_assert(tomb_add(&t, key(i), 10));
	cr_assert_eq(tomb_count(&t), 100000);
	for (unsigned i = 0; i < 100000; i++)
		cr_assert(tomb_has(&t, key(i), 20), "key %u lost", i);
	cr_assert_not(tomb_has(&t, key(100000), 20));
	cr_assert_not(tomb_has(&t, tomb_key(STR("z9hG4bK-1"), 5), 20), "the method is in the key");
	tomb_free(&t);
}

Test(tomb, adding_a_key_twice_counts_it_once)
{
	struct tomb t;

	cr_assert_eq(tomb_init(&t, SPAN, 100, 0), 0);
	cr_assert(tomb_add(&t, key(1), 0));
	cr_assert(tomb_add(&t, key(1), 0));
	cr_assert_eq(tomb_count(&t), 1);
	tomb_free(&t);
}

Test(tomb, a_key_lasts_at_least_one_span_and_at_most_two)
{
	struct tomb t;

	cr_assert_eq(tomb_init(&t, SPAN, 100, 1000), 0);
	/* Added just before the turn at 6000: kept a full span past it. */
	cr_assert(tomb_add(&t, key(1), 5999));
	cr_assert(tomb_add(&t, key(2), 6000)); /* turns: the new generation */
	cr_assert(tomb_has(&t, key(1), 5999 + SPAN - 1));
	cr_assert(tomb_has(&t, key(2), 6000 + SPAN - 1));
	/* The turn at 11000 drops key 1's generation... */
	cr_assert_not(tomb_has(&t, key(1), 11000));
	/* ...while key 2, added at 6000, stays until the next one. */
	cr_assert(tomb_has(&t, key(2), 11000));
	cr_assert(tomb_has(&t, key(2), 15999));
	cr_assert_not(tomb_has(&t, key(2), 16000));
	cr_assert_eq(tomb_count(&t), 0);
	tomb_free(&t);
}

Test(tomb, a_long_idle_gap_drops_both_generations)
{
	struct tomb t;

	cr_assert_eq(tomb_init(&t, SPAN, 100, 0), 0);
	cr_assert(tomb_add(&t, key(1), 4999));
	/* No call for two spans: the turn at 12000 must not keep key 1, which
	 * was added 7 s earlier, in the old generation. */
	cr_assert_not(tomb_has(&t, key(1), 12000));
	cr_assert_eq(tomb_count(&t), 0);
	tomb_free(&t);
}

Test(tomb, the_table_shrinks_back_after_a_burst)
{
	struct tomb t;

	cr_assert_eq(tomb_init(&t, SPAN, 1u << 20, 0), 0);
	for (unsigned i = 0; i < 50000; i++)
		tomb_add(&t, key(i), 1);
	cr_assert_geq(t.mask[t.cur] + 1, 100000);
	tomb_add(&t, key(1), SPAN);     /* turn: sized for the 50000 */
	tomb_add(&t, key(2), 2 * SPAN); /* turn: sized for the one key */
	tomb_add(&t, key(3), 3 * SPAN);
	cr_assert_leq(t.mask[0] + 1, 1024);
	cr_assert_leq(t.mask[1] + 1, 1024);
	tomb_free(&t);
}

Test(tomb, refuses_keys_past_its_limit)
{
	struct tomb t;

	cr_assert_eq(tomb_init(&t, SPAN, 3, 0), 0);
	cr_assert(tomb_add(&t, key(1), 0));
	cr_assert(tomb_add(&t, key(2), 0));
	cr_assert(tomb_add(&t, key(3), 0));
	cr_assert_not(tomb_add(&t, key(4), 0), "the caller keeps the transaction then");
	cr_assert_not(tomb_has(&t, key(4), 0));
	cr_assert(tomb_add(&t, key(4), SPAN), "a turn makes room");
	tomb_free(&t);
}
