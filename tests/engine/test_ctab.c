/* test_ctab.c: the sequence ring: live entries, tombs that expire by time,
 * growth for an unexpired tomb, eviction of a live entry a lap later. */
#include <criterion/criterion.h>

#include "ctab.h"

#define T4 5000

static int obj[1 << 12]; /* distinct non-NULL pointers */

static size_t live_count(const struct ctab *t)
{
	size_t i = 0, n = 0;

	while (ctab_next(t, &i))
		n++;
	return n;
}

/* Transactions from..to-1 started at now and ended over UDP at once: tombs
 * of key until until. */
static void tombs_add(struct ctab *t, uint32_t from, uint32_t to, uint64_t now, uint64_t key,
		      uint64_t until)
{
	for (uint32_t s = from; s < to; s++) {
		cr_assert_null(ctab_put(t, s, &obj[s], now), "seq %u evicted something", s);
		ctab_bury(t, s, key, until);
	}
}

Test(ctab, key_depends_on_branch_and_method_and_is_never_zero)
{
	cr_assert_neq(ctab_key(STR("z9hG4bK-a"), 4), ctab_key(STR("z9hG4bK-b"), 4));
	cr_assert_neq(ctab_key(STR("z9hG4bK-a"), 4), ctab_key(STR("z9hG4bK-a"), 5));
	cr_assert_eq(ctab_key(STR("z9hG4bK-a"), 4), ctab_key(STR("z9hG4bK-a"), 4));
	cr_assert_neq(ctab_key(STR_NULL, 0), 0);
}

Test(ctab, put_get_del)
{
	struct ctab t;

	cr_assert_eq(ctab_init(&t, 16, 16), 0);
	cr_assert_null(ctab_get(&t, 0), "an empty slot holds nothing, whatever its seq");
	for (uint32_t s = 100; s < 110; s++)
		cr_assert_null(ctab_put(&t, s, &obj[s], 0));
	cr_assert_eq(live_count(&t), 10);
	for (uint32_t s = 100; s < 110; s++)
		cr_assert_eq(ctab_get(&t, s), &obj[s]);
	cr_assert_null(ctab_get(&t, 110), "never put");
	cr_assert_null(ctab_get(&t, 100 + 16), "a lap later: another seq in the slot");
	ctab_del(&t, 104);
	cr_assert_null(ctab_get(&t, 104));
	ctab_del(&t, 104 + 16);
	cr_assert_eq(live_count(&t), 9);
	ctab_free(&t);
}

Test(ctab, a_live_entry_a_lap_later_is_handed_back)
{
	struct ctab t;

	cr_assert_eq(ctab_init(&t, 16, 1024), 0);
	cr_assert_null(ctab_put(&t, 3, &obj[3], 0));
	cr_assert_eq(ctab_put(&t, 3 + 16, &obj[19], 0), &obj[3], "evicted, not grown");
	cr_assert_eq(t.mask, 15);
	cr_assert_null(ctab_get(&t, 3));
	cr_assert_eq(ctab_get(&t, 19), &obj[19]);
	cr_assert_eq(live_count(&t), 1);
	ctab_free(&t);
}

Test(ctab, tomb_lasts_until_its_time_and_matches_its_key_only)
{
	struct ctab t;
	uint64_t k = ctab_key(STR("z9hG4bKx"), 4);

	cr_assert_eq(ctab_init(&t, 16, 16), 0);
	ctab_put(&t, 7, &obj[7], 1000);
	ctab_bury(&t, 7, k, 1000 + T4);
	cr_assert_eq(live_count(&t), 0);
	cr_assert_null(ctab_get(&t, 7), "a tomb is not a live entry");
	cr_assert(ctab_buried(&t, 7, k, 1000));
	cr_assert(ctab_buried(&t, 7, k, 1000 + T4 - 1));
	cr_assert_not(ctab_buried(&t, 7, k, 1000 + T4), "expired at its time");
	cr_assert_not(ctab_buried(&t, 7, k + 1, 1001), "another key");
	cr_assert_not(ctab_buried(&t, 7 + 16, k, 1001), "another seq");
	ctab_bury(&t, 8, k, 9999);
	cr_assert_not(ctab_buried(&t, 8, k, 1001), "burying an empty slot does nothing");
	ctab_free(&t);
}

Test(ctab, tomb_times_cross_the_32_bit_wrap)
{
	struct ctab t;
	uint64_t now = (1ull << 32) - 100, k = 42;

	cr_assert_eq(ctab_init(&t, 16, 16), 0);
	ctab_put(&t, 1, &obj[1], now);
	ctab_bury(&t, 1, k, now + T4);
	cr_assert(ctab_buried(&t, 1, k, now + 200));
	cr_assert_not(ctab_buried(&t, 1, k, now + T4));
	ctab_free(&t);
}

Test(ctab, an_unexpired_tomb_makes_the_ring_grow_keeping_everything)
{
	struct ctab t;

	cr_assert_eq(ctab_init(&t, 16, 4096), 0);
	/* 1000 transactions ended within T4: the ring must hold them all. */
	for (uint32_t s = 0; s < 1000; s++) {
		cr_assert_null(ctab_put(&t, s, &obj[s], 10), "seq %u evicted something", s);
		ctab_bury(&t, s, s + 1, 10 + T4);
	}
	cr_assert_eq(t.mask + 1, 1024);
	for (uint32_t s = 0; s < 1000; s++)
		cr_assert(ctab_buried(&t, s, s + 1, 20), "tomb %u lost", s);
	ctab_free(&t);
}

Test(ctab, growth_keeps_live_entries_in_place)
{
	struct ctab t;

	cr_assert_eq(ctab_init(&t, 16, 4096), 0);
	for (uint32_t s = 0; s < 16; s++) {
		ctab_put(&t, s, &obj[s], 10);
		if (s != 5)
			ctab_bury(&t, s, 1, 10 + T4);
	}
	for (uint32_t s = 16; s < 32; s++)
		cr_assert_null(ctab_put(&t, s, &obj[s], 20), "seq %u evicted something", s);
	cr_assert_eq(t.mask + 1, 32);
	cr_assert_eq(ctab_get(&t, 5), &obj[5]);
	cr_assert_eq(live_count(&t), 17);
	ctab_free(&t);
}

Test(ctab, expired_tombs_are_reused_without_growth)
{
	struct ctab t;

	cr_assert_eq(ctab_init(&t, 16, 4096), 0);
	tombs_add(&t, 0, 16, 0, 1, T4);
	for (uint32_t s = 16; s < 32; s++)
		cr_assert_null(ctab_put(&t, s, &obj[s], T4));
	cr_assert_eq(t.mask, 15);
	ctab_free(&t);
}

Test(ctab, at_max_an_unexpired_tomb_is_overwritten)
{
	struct ctab t;

	cr_assert_eq(ctab_init(&t, 16, 32), 0);
	tombs_add(&t, 0, 64, 0, 1, T4);
	cr_assert_eq(t.mask + 1, 32, "stopped at max");
	cr_assert_not(ctab_buried(&t, 0, 1, 1), "overwritten a lap later");
	cr_assert(ctab_buried(&t, 63, 1, 1));
	cr_assert_eq(live_count(&t), 0);
	ctab_free(&t);
}

Test(ctab, next_walks_the_live_entries)
{
	struct ctab t;
	size_t i = 0, n = 0;
	void *p;

	cr_assert_eq(ctab_init(&t, 16, 16), 0);
	for (uint32_t s = 0; s < 10; s++)
		ctab_put(&t, s, &obj[s], 0);
	ctab_bury(&t, 2, 1, T4);
	ctab_del(&t, 5);
	while ((p = ctab_next(&t, &i))) {
		cr_assert(p != &obj[2] && p != &obj[5]);
		n++;
	}
	cr_assert_eq(n, 8);
	ctab_free(&t);
}

/* Random operations against a model of what each sequence number holds,
 * through growth, eviction, tombs expiring and the limit: whatever the ring
 * answers must be what the model says, or a tomb it was allowed to lose. */
#define MODEL_SEQS 20000

enum model_state { M_NONE, M_LIVE, M_TOMB };

static struct {
	enum model_state st;
	uint64_t key, until;
} model[MODEL_SEQS];

static uint64_t rng = 88172645463325252ull;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

Test(ctab, random_operations_match_a_model)
{
	static int live_obj[MODEL_SEQS];
	struct ctab t;
	uint64_t now = 1000;
	uint32_t next = 0;
	size_t lost = 0, handed_back = 0;

	memset(model, 0, sizeof(model));
	cr_assert_eq(ctab_init(&t, 16, 1024), 0);
	for (unsigned op = 0; op < 200000 && next < MODEL_SEQS; op++) {
		uint32_t r = (uint32_t)next_rand(), s;

		now += r % 3; /* 0-2 ms per operation: tombs of T4 expire */
		s = next ? (uint32_t)(next_rand() % next) : 0;
		switch (r % 4) {
		case 0: { /* start a transaction */
			void *old = ctab_put(&t, next, &live_obj[next], now);

			if (old) { /* handed back: it was live, and a lap or more older */
				uint32_t o = (uint32_t)((int *)old - live_obj);

				cr_assert_eq(model[o].st, M_LIVE, "seq %u handed back, not live", o);
				cr_assert_eq(o & t.mask, next & t.mask);
				model[o].st = M_NONE; /* the caller keeps it elsewhere */
				handed_back++;
			}
			model[next++].st = M_LIVE;
			break;
		}
		case 1: /* it ends over UDP */
			if (model[s].st == M_LIVE && ctab_get(&t, s)) {
				ctab_bury(&t, s, s * 7 + 1, now + T4);
				model[s] = (typeof(model[s])){ M_TOMB, s * 7 + 1, now + T4 };
			}
			break;
		case 2: /* it ends over TCP */
			if (model[s].st == M_LIVE && ctab_get(&t, s)) {
				ctab_del(&t, s);
				model[s].st = M_NONE;
			}
			break;
		default: /* a response comes */
			if (model[s].st == M_LIVE) {
				cr_assert_eq(ctab_get(&t, s), &live_obj[s], "live seq %u lost", s);
			} else if (model[s].st == M_TOMB && now < model[s].until) {
				cr_assert_null(ctab_get(&t, s));
				if (!ctab_buried(&t, s, model[s].key, now)) {
					/* only when the ring was at its limit */
					cr_assert_eq(t.mask + 1, 1024, "tomb %u lost below the limit", s);
					lost++;
				}
				cr_assert_not(ctab_buried(&t, s, model[s].key + 1, now));
			} else {
				cr_assert_null(ctab_get(&t, s), "seq %u: nothing should be live", s);
				cr_assert_not(ctab_buried(&t, s, model[s].key, now),
					      "seq %u: no tomb should remain", s);
			}
		}
	}
	size_t live = 0;
	for (uint32_t s = 0; s < next; s++)
		live += model[s].st == M_LIVE;
	cr_assert_eq(live_count(&t), live);
	cr_assert_gt(next, 10000, "the test must run through many laps");
	cr_assert_eq(t.mask + 1, 1024, "the ring never reached its limit");
	cr_assert_gt(handed_back, 0, "no live entry was ever handed back");
	cr_assert_gt(lost, 0, "no tomb was ever lost at the limit");
	ctab_free(&t);
}
