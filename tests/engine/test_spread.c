/* test_spread.c: the planner's transitions, rendezvous assignment and the
 * hand-over rule of engine/spread.c, without workers or sockets. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "spread.h"

static struct spread s;
static struct spread_plan p;
static uint32_t held[SPREAD_SLOTS];

static unsigned owned_by(unsigned w)
{
	unsigned n = 0;

	for (unsigned i = 0; i < SPREAD_SLOTS; i++)
		n += spread_owner(&s, i) == w;
	return n;
}

static unsigned moving(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < SPREAD_SLOTS; i++)
		n += spread_owner(&s, i) != spread_want(&s, i);
	return n;
}

Test(spread, slot_of_call_id_is_stable_and_spreads)
{
	unsigned count[SPREAD_SLOTS] = { 0 };
	char id[32];

	for (int i = 0; i < 25600; i++) {
		int n = snprintf(id, sizeof(id), "%d-3842@192.0.2.1", i);

		count[spread_slot(str_make(id, (size_t)n))]++;
	}
	for (unsigned i = 0; i < SPREAD_SLOTS; i++)
		cr_assert(count[i] > 40 && count[i] < 180, "slot %u got %u of 25600", i, count[i]);
	cr_assert_eq(spread_slot(STR("abc")), spread_slot(STR("abc")));
}

Test(spread, init_packs_on_worker_0_or_spreads_when_off)
{
	spread_init(&s, &p, 4, 70);
	cr_assert_eq(p.active, 1);
	cr_assert_eq(owned_by(0), SPREAD_SLOTS);
	cr_assert_eq(moving(), 0);

	spread_init(&s, &p, 4, 0);
	cr_assert_eq(p.active, 4);
	cr_assert_eq(moving(), 0);
	for (unsigned w = 0; w < 4; w++)
		cr_assert(owned_by(w) > 40 && owned_by(w) < 90, "worker %u owns %u", w, owned_by(w));

	spread_init(&s, &p, 1, 70);
	cr_assert_eq(p.active, 1);
	cr_assert_eq(owned_by(0), SPREAD_SLOTS);
}

Test(spread, plan_spreads_at_once_above_the_threshold)
{
	unsigned busy[2] = { 71, 0 };

	spread_init(&s, &p, 2, 70);
	cr_assert_eq(spread_plan_step(&p, busy, 70, 1000), 2);
	/* Already all: stays. */
	cr_assert_eq(spread_plan_step(&p, busy, 70, 1500), 2);
}

Test(spread, plan_stays_at_or_below_the_threshold)
{
	unsigned busy[2] = { 70, 0 };

	spread_init(&s, &p, 2, 70);
	cr_assert_eq(spread_plan_step(&p, busy, 70, 1000), 1);
}

Test(spread, plan_ignores_a_busy_inactive_worker)
{
	/* Worker 1 still carries its old calls; new ones are not its to take. */
	unsigned busy[3] = { 50, 95, 0 };

	spread_init(&s, &p, 3, 70);
	cr_assert_eq(spread_plan_step(&p, busy, 70, 1000), 1);
}

Test(spread, plan_packs_only_after_the_load_stayed_low)
{
	unsigned high[2] = { 80, 0 }, low[2] = { 15, 15 };

	spread_init(&s, &p, 2, 70);
	cr_assert_eq(spread_plan_step(&p, high, 70, 1000), 2);
	/* 30 < 70 / 2: one worker would do, once it has for long enough. */
	cr_assert_eq(spread_plan_step(&p, low, 70, 2000), 2);
	cr_assert_eq(spread_plan_step(&p, low, 70, 2000 + SPREAD_PACK_AFTER_MS - 1), 2);
	cr_assert_eq(spread_plan_step(&p, low, 70, 2000 + SPREAD_PACK_AFTER_MS), 1);
}

Test(spread, plan_restarts_the_wait_when_load_returns)
{
	unsigned high[2] = { 80, 0 }, low[2] = { 15, 15 }, mid[2] = { 20, 20 };

	spread_init(&s, &p, 2, 70);
	spread_plan_step(&p, high, 70, 1000);
	spread_plan_step(&p, low, 70, 2000);
	/* 40 is not < 35: the wait starts over. */
	cr_assert_eq(spread_plan_step(&p, mid, 70, 3000), 2);
	cr_assert_eq(spread_plan_step(&p, low, 70, 2000 + SPREAD_PACK_AFTER_MS), 2);
	cr_assert_eq(spread_plan_step(&p, low, 70, 2000 + 2 * SPREAD_PACK_AFTER_MS), 1);
}

Test(spread, plan_off_keeps_every_worker)
{
	unsigned idle[2] = { 0, 0 };

	spread_init(&s, &p, 2, 0);
	cr_assert_eq(spread_plan_step(&p, idle, 0, 1000), 2);
	cr_assert_eq(spread_plan_step(&p, idle, 0, 1000 + 10 * SPREAD_PACK_AFTER_MS), 2);
	/* Turned off by a reload while packed: all at once. */
	spread_init(&s, &p, 2, 70);
	cr_assert_eq(spread_plan_step(&p, idle, 0, 1000), 2);
}

Test(spread, assign_moves_only_what_it_must)
{
	unsigned want2[SPREAD_SLOTS];

	spread_init(&s, &p, 3, 0);
	for (unsigned i = 0; i < SPREAD_SLOTS; i++)
		want2[i] = spread_want(&s, i);
	/* Down to two: only worker 2's slots move, each to one of 0 and 1. */
	cr_assert_eq(spread_assign(&s, 2), owned_by(2));
	for (unsigned i = 0; i < SPREAD_SLOTS; i++) {
		if (want2[i] != 2)
			cr_assert_eq(spread_want(&s, i), want2[i], "slot %u moved", i);
		else
			cr_assert_lt(spread_want(&s, i), 2);
	}
}

Test(spread, assign_leaves_moving_slots_alone)
{
	spread_init(&s, &p, 2, 70);
	spread_assign(&s, 2);
	cr_assert_gt(moving(), 0);
	unsigned m = moving();

	/* Back to one before anything moved: the moving slots finish first. */
	cr_assert_eq(spread_assign(&s, 1), 0);
	cr_assert_eq(spread_release(&s, 0, held), m);
	cr_assert_eq(moving(), 0);
	cr_assert_eq(spread_assign(&s, 1), m);
}

Test(spread, release_waits_for_held_transactions)
{
	unsigned first = SPREAD_SLOTS, given;

	spread_init(&s, &p, 2, 70);
	given = spread_assign(&s, 2);
	cr_assert_gt(given, 60);
	for (unsigned i = 0; i < SPREAD_SLOTS; i++) {
		if (spread_want(&s, i) == 1) {
			first = i;
			break;
		}
	}
	held[first] = 3;
	/* Worker 1 owns nothing, so gives nothing; worker 0 all but one. */
	cr_assert_eq(spread_release(&s, 1, held), 0);
	cr_assert_eq(spread_release(&s, 0, held), given - 1);
	cr_assert_eq(spread_owner(&s, first), 0);
	cr_assert_eq(moving(), 1);
	held[first] = 0;
	cr_assert_eq(spread_release(&s, 0, held), 1);
	cr_assert_eq(spread_owner(&s, first), 1);
	cr_assert_eq(moving(), 0);
	cr_assert_eq(owned_by(1), given);
}
