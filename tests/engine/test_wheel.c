/* test_wheel.c: engine/wheel.c — fire order and exact fire times at every level boundary, cancel,
 * re-arm and free from callbacks, idle gaps, next_deadline, and a 100k-timer randomized run. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wheel.h"

#define container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

#define SPAN (1ull << WHEEL_SPAN_BITS) /* 2^24 ms, about 4.66 h */
#define HOUR (3600ull * 1000)

static struct wheel W;

/* Every scenario ends with no timer armed: wheel_count is a live-object
 * metric in production, so a leak here is a leak there. Called at the end
 * of each test rather than from a .fini, whose failures Criterion 2.4
 * prints but does not count. */
static void check_idle(void)
{
	cr_assert_eq(wheel_count(&W), 0, "%zu timers still armed", wheel_count(&W));
	cr_assert_eq(wheel_next_deadline(&W), UINT64_MAX);
}

/* ---- probes: a timer that records how it fired ---- */

struct probe {
	struct wheel_timer t;
	int id;
	int fires;
	uint64_t fired_now;  /* wheel_now() inside on_fire */
	uint64_t fired_call; /* now_ms of the advance that fired it */
	void (*then)(struct probe *p); /* what the callback does next */
	struct probe *other;
	uint64_t arg;
};

static uint64_t cur_call; /* now_ms of the advance under way */
static int fire_log[4096];
static size_t nfired;

static void on_probe(struct wheel_timer *t)
{
	struct probe *p = container_of(t, struct probe, t);

	cr_assert(!wheel_timer_armed(t), "armed inside its own on_fire");
	p->fires++;
	p->fired_now = wheel_now(&W);
	p->fired_call = cur_call;
	if (nfired < sizeof(fire_log) / sizeof(fire_log[0]))
		fire_log[nfired++] = p->id;
	if (p->then)
		p->then(p);
}

static void probe_init(struct probe *p, int id)
{
	memset(p, 0, sizeof(*p));
	p->id = id;
	wheel_timer_init(&p->t, on_probe);
}

static unsigned adv(uint64_t now)
{
	cur_call = now;
	return wheel_advance(&W, now);
}

/* ---- order ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void) /* xorshift64*: deterministic, so failures replay */
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static uint64_t rnd_below(uint64_t n)
{
	return rnd() % n;
}

static void check_log_in_order(const struct probe *p)
{
	for (size_t i = 1; i < nfired; i++)
		cr_assert_leq(p[fire_log[i - 1]].t.deadline, p[fire_log[i]].t.deadline,
			      "fire %zu out of deadline order", i);
}

Test(wheel, fires_in_deadline_order_in_one_advance)
{
	static struct probe p[2000];
	uint64_t base = 1000003;

	wheel_init(&W, base);
	for (int i = 0; i < 2000; i++) {
		probe_init(&p[i], i);
		/* Duplicates on purpose, and every level plus overflow. */
		wheel_timer_start(&W, &p[i].t, base + 1 + rnd_below(i < 1000 ? 300 : 40 * HOUR));
	}
	cr_assert_eq(wheel_count(&W), 2000);
	cr_assert_eq(adv(base + 40 * HOUR), 2000);
	cr_assert_eq(nfired, 2000);
	check_log_in_order(p);
	for (int i = 0; i < 2000; i++) {
		cr_assert_eq(p[i].fires, 1);
		cr_assert_eq(p[i].fired_now, p[i].t.deadline, "the clock reads the deadline");
	}
	check_idle();
}

Test(wheel, fires_in_deadline_order_over_random_steps)
{
	static struct probe p[2000];
	uint64_t now = 0;
	unsigned total = 0;

	wheel_init(&W, 0);
	for (int i = 0; i < 2000; i++) {
		probe_init(&p[i], i);
		wheel_timer_start(&W, &p[i].t, 1 + rnd_below(i % 2 ? 70000 : 12 * HOUR));
	}
	while (wheel_count(&W)) {
		now += rnd_below(4) ? rnd_below(5000) : rnd_below(HOUR);
		total += adv(now);
		for (size_t i = 0; i < nfired; i++)
			cr_assert_leq(p[fire_log[i]].t.deadline, now, "fired early");
	}
	cr_assert_eq(total, 2000);
	check_log_in_order(p);
	for (int i = 0; i < 2000; i++)
		cr_assert_eq(p[i].fired_now, p[i].t.deadline);
	check_idle();
}

/* ---- exact fire times at every level boundary ---- */

static const uint64_t offsets[] = {
	0, 1, 63, 64, 4095, 4096, SPAN - 1, SPAN, 10 * HOUR,
};
/* Clocks that sit on, just before and just after block boundaries, so
 * that the same offset crosses different digits. */
static const uint64_t bases[] = {
	0, 1, 63, 64, 12345, SPAN - 2, SPAN + 1, (1ull << 30) + 777, 5ull << 40,
};
static const uint64_t steps[] = { 1, 7, 1000, 65536, HOUR };

#define NOFF (sizeof(offsets) / sizeof(offsets[0]))
#define NBASE (sizeof(bases) / sizeof(bases[0]))
#define NSTEP (sizeof(steps) / sizeof(steps[0]))

/* The first of the advances base + k * step (k >= 1) at or past base + off. */
static uint64_t first_call_at_or_past(uint64_t base, uint64_t off, uint64_t step)
{
	uint64_t k = (off + step - 1) / step;

	return base + (k ? k : 1) * step;
}

/* Fires once, in the advance to the deadline, not in the one just before. */
static void check_exact(uint64_t base, uint64_t off)
{
	struct probe p;
	uint64_t at = base + off;

	wheel_init(&W, base);
	probe_init(&p, 0);
	wheel_timer_start(&W, &p.t, at);
	cr_assert_eq(wheel_next_deadline(&W), at, "base %llu off %llu", (unsigned long long)base,
		     (unsigned long long)off);
	if (off > 0) {
		cr_assert_eq(adv(at - 1), 0, "early: base %llu off %llu",
			     (unsigned long long)base, (unsigned long long)off);
		cr_assert_eq(wheel_next_deadline(&W), at);
	}
	cr_assert_eq(adv(at), 1, "late: base %llu off %llu", (unsigned long long)base,
		     (unsigned long long)off);
	cr_assert_eq(p.fired_now, at);
	cr_assert_eq(wheel_next_deadline(&W), UINT64_MAX);
}

/* Walking in steps of step ms, it fires in the first advance at or past
 * its deadline, with the clock reading the deadline. */
static void check_walk(uint64_t base, uint64_t off, uint64_t step)
{
	struct probe p;
	uint64_t at = base + off, now = base;

	wheel_init(&W, base);
	probe_init(&p, 0);
	wheel_timer_start(&W, &p.t, at);
	while (!p.fires) {
		now += step;
		adv(now);
		if (!p.fires)
			cr_assert_eq(wheel_next_deadline(&W), at);
	}
	cr_assert_eq(p.fires, 1);
	cr_assert_eq(p.fired_now, at);
	cr_assert(p.fired_call == first_call_at_or_past(base, off, step),
		  "base %llu off %llu step %llu: fired in the advance to %llu",
		  (unsigned long long)base, (unsigned long long)off, (unsigned long long)step,
		  (unsigned long long)p.fired_call);
}

Test(wheel, exact_fire_time_at_level_boundaries)
{
	for (size_t b = 0; b < NBASE; b++)
		for (size_t o = 0; o < NOFF; o++)
			check_exact(bases[b], offsets[o]);
	check_idle();
}

Test(wheel, exact_fire_time_walking, .timeout = 60)
{
	for (size_t b = 0; b < NBASE; b++)
		for (size_t o = 0; o < NOFF; o++)
			for (size_t s = 0; s < NSTEP; s++)
				if (offsets[o] / steps[s] < 300000) /* keep it quick under ASan */
					check_walk(bases[b], offsets[o], steps[s]);
	check_idle();
}

Test(wheel, boundary_timers_together)
{
	static struct probe p[NOFF * 3];
	uint64_t base = SPAN - 5, now = base;

	wheel_init(&W, base);
	for (size_t i = 0; i < NOFF * 3; i++) {
		probe_init(&p[i], (int)i);
		/* Three per deadline: ties at every level boundary. */
		wheel_timer_start(&W, &p[i].t, base + offsets[i % NOFF]);
	}
	while (wheel_count(&W)) {
		now += 997;
		adv(now);
	}
	check_log_in_order(p);
	for (size_t i = 0; i < NOFF * 3; i++) {
		cr_assert_eq(p[i].fires, 1);
		cr_assert_eq(p[i].fired_now, base + offsets[i % NOFF]);
		cr_assert_eq(p[i].fired_call, first_call_at_or_past(base, offsets[i % NOFF], 997));
	}
	check_idle();
}

Test(wheel, ten_hour_timer_idle_then_exact)
{
	struct probe p;

	wheel_init(&W, 42);
	probe_init(&p, 0);
	wheel_timer_start(&W, &p.t, 42 + 10 * HOUR);
	cr_assert_eq(wheel_next_deadline(&W), 42 + 10 * HOUR);
	/* Past two 2^24 ms boundaries, where overflow is sorted again. */
	cr_assert_eq(adv(42 + 10 * HOUR - 1), 0);
	cr_assert_eq(wheel_next_deadline(&W), 42 + 10 * HOUR);
	cr_assert_eq(adv(42 + 10 * HOUR), 1);
	cr_assert_eq(p.fired_now, 42 + 10 * HOUR);
	check_idle();
}

Test(wheel, deadline_at_or_before_now_fires_on_next_advance)
{
	struct probe a, b;

	wheel_init(&W, 5000);
	probe_init(&a, 0);
	probe_init(&b, 1);
	wheel_timer_start(&W, &a.t, 5000);
	wheel_timer_start(&W, &b.t, 10); /* in the past: taken as now */
	cr_assert_eq(b.t.deadline, 5000);
	cr_assert_eq(wheel_next_deadline(&W), 5000);
	cr_assert_eq(adv(5000), 2, "an advance to the same now fires them");
	cr_assert_eq(a.fired_now, 5000);
	cr_assert_eq(b.fired_now, 5000);
	check_idle();
}

/* ---- cancel ---- */

Test(wheel, cancel_before_fire_at_every_level)
{
	struct probe p[NOFF], never;

	wheel_init(&W, 777);
	for (size_t i = 0; i < NOFF; i++) {
		probe_init(&p[i], (int)i);
		wheel_timer_start(&W, &p[i].t, 777 + offsets[i]);
	}
	cr_assert_eq(wheel_count(&W), NOFF);
	for (size_t i = 0; i < NOFF; i++) {
		wheel_timer_cancel(&p[i].t);
		cr_assert(!wheel_timer_armed(&p[i].t));
		wheel_timer_cancel(&p[i].t); /* twice: a no-op */
	}
	probe_init(&never, 99);
	wheel_timer_cancel(&never.t); /* never armed: a no-op */
	cr_assert_eq(wheel_count(&W), 0);
	cr_assert_eq(wheel_next_deadline(&W), UINT64_MAX);
	cr_assert_eq(adv(777 + 11 * HOUR), 0);
	for (size_t i = 0; i < NOFF; i++)
		cr_assert_eq(p[i].fires, 0);
	check_idle();
}

static void cancel_other(struct probe *p)
{
	wheel_timer_cancel(&p->other->t);
}

static void cancel_all_others(struct probe *p)
{
	for (struct probe *o = p->other; o->then == cancel_all_others; o++)
		if (o != p)
			wheel_timer_cancel(&o->t);
}

static void cancel_self(struct probe *p)
{
	wheel_timer_cancel(&p->t); /* not armed any more: a no-op */
}

Test(wheel, cancel_others_due_in_the_same_tick)
{
	static struct probe p[9]; /* p[8] stops cancel_all_others' walk */

	wheel_init(&W, 100);
	for (int i = 0; i < 8; i++) {
		probe_init(&p[i], i);
		p[i].then = cancel_all_others;
		p[i].other = &p[0];
		wheel_timer_start(&W, &p[i].t, 5000);
	}
	probe_init(&p[8], 8);
	cr_assert_eq(adv(6000), 1, "the first to fire cancels the rest");
	cr_assert_eq(wheel_count(&W), 0);
	check_idle();
}

Test(wheel, cancel_self_inside_own_callback)
{
	struct probe p;

	wheel_init(&W, 0);
	probe_init(&p, 0);
	p.then = cancel_self;
	wheel_timer_start(&W, &p.t, 64);
	cr_assert_eq(adv(100), 1);
	cr_assert_eq(p.fires, 1);
	check_idle();
}

/* Each victim still armed at its own level (or overflow) when a callback
 * cancels it. */
Test(wheel, cancel_from_callback_at_every_level)
{
	struct probe victims[NOFF];

	wheel_init(&W, 64 * 64 - 3); /* just before a level-1 and level-2 carry */
	for (size_t i = 0; i < NOFF; i++) {
		probe_init(&victims[i], (int)i + 1);
		wheel_timer_start(&W, &victims[i].t, wheel_now(&W) + 2 + offsets[i]);
	}
	for (size_t i = 0; i < NOFF; i++) {
		struct probe killer;

		probe_init(&killer, 100);
		killer.then = cancel_other;
		killer.other = &victims[i];
		wheel_timer_start(&W, &killer.t, wheel_now(&W) + 1);
		cr_assert_eq(adv(wheel_now(&W) + 1), 1);
		cr_assert(!wheel_timer_armed(&victims[i].t));
	}
	cr_assert_eq(adv(wheel_now(&W) + 11 * HOUR), 0);
	for (size_t i = 0; i < NOFF; i++)
		cr_assert_eq(victims[i].fires, 0);
	check_idle();
}

Test(wheel, cancel_within_the_due_batch)
{
	static struct probe p[5];

	wheel_init(&W, 100);
	for (int i = 0; i < 4; i++) {
		probe_init(&p[i], i);
		p[i].then = cancel_all_others;
		p[i].other = &p[0];
		wheel_timer_start(&W, &p[i].t, 100); /* due: fires on the next advance */
	}
	probe_init(&p[4], 4);
	cr_assert_eq(adv(100), 1);
	check_idle();
}

/* ---- re-arm from callbacks ---- */

static void rearm_after_arg(struct probe *p)
{
	if (p->fires < 10)
		wheel_timer_start(&W, &p->t, wheel_now(&W) + p->arg);
}

Test(wheel, periodic_rearm_fires_within_the_same_advance)
{
	struct probe p;

	wheel_init(&W, 0);
	probe_init(&p, 0);
	p.then = rearm_after_arg;
	p.arg = 100;
	wheel_timer_start(&W, &p.t, 100);
	cr_assert_eq(adv(1000), 10);
	cr_assert_eq(p.fired_now, 1000);
	cr_assert_eq(wheel_count(&W), 0);

	/* Timer E style, every T1 = 500 ms, across level-1 and level-2 slots. */
	p.fires = 0;
	p.arg = 500;
	wheel_timer_start(&W, &p.t, wheel_now(&W) + 500);
	cr_assert_eq(adv(wheel_now(&W) + 5000), 10);
	check_idle();
}

static void rearm_at_now(struct probe *p)
{
	if (p->fires < 5)
		wheel_timer_start(&W, &p->t, wheel_now(&W) - p->arg);
}

Test(wheel, rearm_at_or_before_now_waits_for_the_next_advance)
{
	struct probe p, q;

	wheel_init(&W, 1000);
	probe_init(&p, 0);
	p.then = rearm_at_now;
	probe_init(&q, 1);
	q.then = rearm_at_now;
	q.arg = 300; /* into the past */
	wheel_timer_start(&W, &p.t, 1010);
	wheel_timer_start(&W, &q.t, 1020);
	cr_assert_eq(adv(2000), 2, "one fire each, no loop");
	cr_assert_eq(wheel_next_deadline(&W), 1010, "p waits, due at its re-arm time");
	cr_assert_eq(adv(2000), 2);
	cr_assert_eq(p.fired_now, 2000);
	cr_assert_eq(adv(2001), 2);
	cr_assert_eq(adv(2001), 2);
	cr_assert_eq(adv(2001), 2);
	cr_assert_eq(adv(2001), 0);
	cr_assert_eq(p.fires, 5);
	cr_assert_eq(q.fires, 5);
	check_idle();
}

static void start_other_at_arg(struct probe *p)
{
	wheel_timer_start(&W, &p->other->t, wheel_now(&W) + p->arg);
}

Test(wheel, timers_started_from_callbacks_fire_in_the_same_advance_if_due)
{
	struct probe a, b, c;

	wheel_init(&W, 0);
	probe_init(&a, 0);
	probe_init(&b, 1);
	probe_init(&c, 2);
	a.then = start_other_at_arg;
	a.other = &b;
	a.arg = 4000; /* lands at level 1 from a level-0 tick */
	wheel_timer_start(&W, &a.t, 10);
	wheel_timer_start(&W, &c.t, 3000);
	cr_assert_eq(adv(4010), 3);
	cr_assert_eq(b.fired_now, 4010);
	cr_assert_eq(nfired, 3);
	cr_assert_eq(fire_log[1], 2, "c (3000) before b (4010)");

	a.arg = 1; /* one past the advance's now: not this time */
	wheel_timer_start(&W, &a.t, 5000);
	cr_assert_eq(adv(5000), 1);
	cr_assert(wheel_timer_armed(&b.t));
	cr_assert_eq(adv(5001), 1);
	check_idle();
}

Test(wheel, restart_moves_an_armed_timer)
{
	struct probe p;

	wheel_init(&W, 0);
	probe_init(&p, 0);
	wheel_timer_start(&W, &p.t, 10 * HOUR);
	wheel_timer_start(&W, &p.t, 50); /* earlier */
	cr_assert_eq(wheel_count(&W), 1);
	cr_assert_eq(wheel_next_deadline(&W), 50);
	wheel_timer_start(&W, &p.t, 70000); /* later */
	cr_assert_eq(adv(69999), 0);
	cr_assert_eq(adv(70000), 1);
	wheel_timer_start(&W, &p.t, 0); /* due */
	wheel_timer_start(&W, &p.t, 80000); /* out of due again */
	cr_assert_eq(adv(79999), 0);
	cr_assert_eq(adv(80000), 1);
	cr_assert_eq(p.fires, 2);
	check_idle();
}

Test(wheel, restart_moves_between_wheels)
{
	static struct wheel w2;
	struct probe p;

	wheel_init(&W, 0);
	wheel_init(&w2, 0);
	probe_init(&p, 0);
	wheel_timer_start(&W, &p.t, 100);
	wheel_timer_start(&w2, &p.t, 100);
	cr_assert_eq(wheel_count(&W), 0);
	cr_assert_eq(wheel_count(&w2), 1);
	cr_assert_eq(adv(200), 0);
	cr_assert_eq(wheel_advance(&w2, 200), 1);
	cr_assert_eq(wheel_count(&w2), 0);
	check_idle();
}

/* ---- free from callbacks ---- */

/* Shaped like a client INVITE transaction: Timer A retransmits, Timer B
 * gives up, and whichever ends it frees the whole object. */
struct txn {
	struct wheel_timer timer_a, timer_b;
	struct txn *peer; /* freed too by timer_b, as a forked branch would be */
	int *freed;
};

static void txn_destroy(struct txn *x)
{
	wheel_timer_cancel(&x->timer_a);
	wheel_timer_cancel(&x->timer_b);
	(*x->freed)++;
	free(x);
}

static void on_timer_a(struct wheel_timer *t)
{
	wheel_timer_start(&W, t, wheel_now(&W) + 500);
}

static void on_timer_b(struct wheel_timer *t)
{
	struct txn *x = container_of(t, struct txn, timer_b);

	if (x->peer)
		txn_destroy(x->peer);
	txn_destroy(x);
}

static struct txn *txn_new(uint64_t b_at, int *freed)
{
	struct txn *x = calloc(1, sizeof(*x));

	cr_assert_not_null(x);
	x->freed = freed;
	wheel_timer_init(&x->timer_a, on_timer_a);
	wheel_timer_init(&x->timer_b, on_timer_b);
	wheel_timer_start(&W, &x->timer_a, wheel_now(&W) + 500);
	wheel_timer_start(&W, &x->timer_b, b_at);
	return x;
}

Test(wheel, free_from_callback)
{
	int freed = 0;
	struct txn *x, *y;

	wheel_init(&W, 0);
	/* y is freed by x's Timer B in the tick where y's Timer A is due too
	 * (before or after it, by tie order): the wheel must not touch y
	 * afterwards (ASan would say). */
	x = txn_new(32000, &freed);
	y = txn_new(40000, &freed);
	x->peer = y;
	y->peer = NULL;
	wheel_timer_start(&W, &y->timer_a, 32000);
	(void)txn_new(32000, &freed);
	cr_assert_eq(wheel_count(&W), 6);
	adv(40000);
	cr_assert_eq(freed, 3);
	cr_assert_eq(wheel_count(&W), 0);
	check_idle();
}

/* ---- idle gaps ---- */

Test(wheel, one_hour_gap_in_one_advance)
{
	static struct probe p[4];
	static const uint64_t at[] = { 1, 30 * 60 * 1000, HOUR - 1, HOUR };

	wheel_init(&W, 0);
	for (int i = 0; i < 4; i++) {
		probe_init(&p[i], i);
		wheel_timer_start(&W, &p[i].t, at[i]);
	}
	cr_assert_eq(adv(HOUR), 4);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(p[i].fired_now, at[i]);
	check_log_in_order(p);
	check_idle();
}

/* A per-millisecond walk would take days here: the timeout catches it. */
Test(wheel, century_gap_is_not_walked, .timeout = 5)
{
	static struct probe p[3];
	uint64_t century = 100ull * 365 * 24 * HOUR;

	wheel_init(&W, 123);
	cr_assert_eq(adv(century), 0);
	for (int i = 0; i < 3; i++)
		probe_init(&p[i], i);
	wheel_timer_start(&W, &p[0].t, century + 10 * HOUR);
	wheel_timer_start(&W, &p[1].t, 2 * century);
	wheel_timer_start(&W, &p[2].t, 2 * century + 1);
	cr_assert_eq(adv(3 * century), 3);
	cr_assert_eq(p[0].fired_now, century + 10 * HOUR);
	cr_assert_eq(p[1].fired_now, 2 * century);
	cr_assert_eq(p[2].fired_now, 2 * century + 1);
	check_idle();
}

Test(wheel, clock_going_back_is_ignored)
{
	struct probe p;

	wheel_init(&W, 10000);
	probe_init(&p, 0);
	wheel_timer_start(&W, &p.t, 10500);
	cr_assert_eq(adv(9000), 0);
	cr_assert_eq(wheel_now(&W), 10000);
	cr_assert_eq(adv(10500), 1);
	check_idle();
}

/* ---- next_deadline ---- */

Test(wheel, next_deadline_is_the_earliest)
{
	struct probe a, b, c, d;

	wheel_init(&W, 1000);
	cr_assert_eq(wheel_next_deadline(&W), UINT64_MAX);
	probe_init(&a, 0);
	probe_init(&b, 1);
	probe_init(&c, 2);
	probe_init(&d, 3);
	wheel_timer_start(&W, &a.t, 1000 + 10 * HOUR);
	cr_assert_eq(wheel_next_deadline(&W), 1000 + 10 * HOUR, "overflow is exact");
	wheel_timer_start(&W, &b.t, 1000 + 32000);
	cr_assert_eq(wheel_next_deadline(&W), 1000 + 32000);
	wheel_timer_start(&W, &c.t, 1000 + 500);
	cr_assert_eq(wheel_next_deadline(&W), 1500);
	wheel_timer_start(&W, &d.t, 1000 + 20);
	cr_assert_eq(wheel_next_deadline(&W), 1020);
	wheel_timer_cancel(&d.t); /* a level-0 slot is one deadline: exact */
	cr_assert_eq(wheel_next_deadline(&W), 1500);
	wheel_timer_cancel(&b.t); /* not the earliest: exact */
	cr_assert_eq(wheel_next_deadline(&W), 1500);
	cr_assert_eq(adv(1499), 0);
	cr_assert_eq(wheel_next_deadline(&W), 1500);
	cr_assert_eq(adv(1500), 1);
	cr_assert_eq(wheel_next_deadline(&W), 1000 + 10 * HOUR);
	wheel_timer_start(&W, &d.t, 0);
	cr_assert_eq(wheel_next_deadline(&W), 1500, "due now");
	wheel_timer_cancel(&d.t);
	wheel_timer_cancel(&a.t);
	cr_assert_eq(wheel_next_deadline(&W), UINT64_MAX);
	check_idle();
}

/* The documented inexactness: cancelling the earliest timer of a coarse
 * slot leaves its old minimum; never later than the truth, and one
 * advance to it makes the answer exact again. */
Test(wheel, next_deadline_after_cancelling_a_coarse_minimum)
{
	struct probe a, b;
	uint64_t nd;

	wheel_init(&W, 0);
	probe_init(&a, 0);
	probe_init(&b, 1);
	wheel_timer_start(&W, &a.t, 5000);
	wheel_timer_start(&W, &b.t, 5030); /* same level-1 slot */
	wheel_timer_cancel(&a.t);
	nd = wheel_next_deadline(&W);
	cr_assert(nd >= wheel_now(&W) && nd <= 5030);
	cr_assert_eq(adv(nd), 0);
	cr_assert_eq(wheel_next_deadline(&W), 5030);
	cr_assert_eq(adv(5030), 1);
	check_idle();
}

/* The worker's loop: sleep until next_deadline, advance to it. Every
 * timer fires at its deadline, and a wake that fires nothing moves the
 * next deadline forward, so the loop always progresses. */
Test(wheel, next_deadline_drives_an_event_loop)
{
	static struct probe p[4000];
	unsigned wakes = 0, empty = 0;
	uint64_t nd;

	wheel_init(&W, 99);
	for (int i = 0; i < 4000; i++) {
		probe_init(&p[i], i);
		wheel_timer_start(&W, &p[i].t, 100 + rnd_below(i % 4 ? 64000 : 30 * HOUR));
	}
	for (int i = 0; i < 4000; i += 3)
		wheel_timer_cancel(&p[i].t);
	while ((nd = wheel_next_deadline(&W)) != UINT64_MAX) {
		unsigned n = adv(nd);

		wakes++;
		if (!n) {
			empty++;
			cr_assert_gt(wheel_next_deadline(&W), nd, "no progress");
		}
	}
	for (int i = 0; i < 4000; i++) {
		cr_assert_eq(p[i].fires, i % 3 ? 1 : 0);
		if (p[i].fires)
			cr_assert_eq(p[i].fired_call, p[i].t.deadline, "woken exactly at it");
	}
	cr_assert_leq(empty, wakes / 2, "%u of %u wakes were empty", empty, wakes);
	check_idle();
}

/* ---- randomized, against a reference model ---- */

/*
 * 100k timers started, cancelled and re-armed for 2 simulated hours, from
 * the test and from callbacks, with random advance steps. The model knows
 * each timer's deadline and from which advance on it may fire, so every
 * fire is checked when it happens: armed, not early (deadline <= now_ms),
 * not late (the first advance at or past the deadline), clock reading the
 * deadline, in deadline order within the advance. A timer the wheel lost
 * would fire late or never: the final drain, checked against a sorted
 * array of what the model still holds, catches both.
 */
#define RN 100000

struct rtimer {
	struct wheel_timer t;
	uint32_t id;
};

struct rmodel {
	bool armed;
	bool deferred;       /* armed at or before now: fires first in first_call */
	uint64_t deadline;
	uint64_t first_call; /* index of the first advance allowed to fire it */
};

static struct rtimer *rt;
static struct rmodel *rm;
static uint64_t ncalls;    /* advances started */
static bool in_call;
static uint64_t call_from; /* wheel_now() when the current advance started */
static uint64_t last_fired_deadline;
static bool side_effects;
static uint64_t *drained; /* (deadline << 20 | id) of each fire in the drain */
static size_t ndrained;

static uint64_t sip_delay(void)
{
	switch (rnd_below(10)) {
	case 0:
		return 0; /* a deadline of now, or before it below */
	case 1:
		return rnd_below(64);
	case 2:
		return 500u << rnd_below(7); /* Timer A/E doubling: T1 .. 64*T1 */
	case 3:
		return rnd_below(6) ? rnd_below(70000) : HOUR + rnd_below(9 * HOUR);
	default:
		return 500 + rnd_below(32000 - 500);
	}
}

static void model_start(uint32_t i, uint64_t at)
{
	uint64_t now = wheel_now(&W);

	wheel_timer_start(&W, &rt[i].t, at);
	rm[i].armed = true;
	rm[i].deferred = at <= now;
	rm[i].deadline = at <= now ? now : at;
	/* ncalls counts the running advance too: it may still fire a timer
	 * started from its callbacks, unless that timer is deferred. */
	rm[i].first_call = in_call && !rm[i].deferred ? ncalls : ncalls + 1;
	cr_assert_eq(rt[i].t.deadline, rm[i].deadline);
}

static void model_cancel(uint32_t i)
{
	wheel_timer_cancel(&rt[i].t);
	rm[i].armed = false;
}

/* An armed timer is cancelled or moved, an idle one started: that keeps
 * tens of thousands armed, as a busy worker has. */
static void random_op(void)
{
	uint32_t i = (uint32_t)rnd_below(RN);
	uint64_t now = wheel_now(&W), d = sip_delay();

	if (rm[i].armed && rnd_below(2))
		model_cancel(i);
	else if (d == 0 && rnd_below(2))
		model_start(i, now > 1000 ? now - rnd_below(1000) : 0);
	else
		model_start(i, now + d);
}

static void check_fire(uint32_t i)
{
	const struct rmodel *m = &rm[i];

	cr_assert(m->armed, "timer %u fired but is not armed", i);
	cr_assert_eq(rt[i].t.deadline, m->deadline);
	cr_assert_leq(m->deadline, cur_call, "timer %u early", i);
	cr_assert_geq(ncalls, m->first_call, "timer %u fired before it could", i);
	cr_assert(ncalls == m->first_call || call_from < m->deadline,
		  "timer %u late: deadline %llu, previous advance to %llu", i,
		  (unsigned long long)m->deadline, (unsigned long long)call_from);
	cr_assert_geq(m->deadline, last_fired_deadline, "timer %u out of order", i);
	cr_assert_eq(wheel_now(&W), m->deferred ? call_from : m->deadline);
	cr_assert(!wheel_timer_armed(&rt[i].t));
}

static void on_random(struct wheel_timer *t)
{
	uint32_t i = container_of(t, struct rtimer, t)->id;

	check_fire(i);
	rm[i].armed = false;
	last_fired_deadline = rm[i].deadline;
	if (drained)
		drained[ndrained++] = rm[i].deadline << 20 | i;
	if (!side_effects)
		return;
	switch (rnd_below(16)) {
	case 0:
		break;
	case 1:
		model_cancel((uint32_t)rnd_below(RN)); /* at times one due this tick */
		break;
	case 2:
		random_op();
		break;
	default:
		model_start(i, wheel_now(&W) + sip_delay()); /* retransmit, next timer */
		break;
	}
}

static unsigned model_advance(uint64_t now)
{
	unsigned n;

	ncalls++;
	in_call = true;
	call_from = wheel_now(&W);
	last_fired_deadline = 0;
	n = adv(now);
	in_call = false;
	return n;
}

/* Mostly a busy loop's few ms, at times a quiet second, rarely minutes. */
static uint64_t random_step(void)
{
	if (rnd_below(4096) == 0)
		return 60000 + rnd_below(300000);
	if (rnd_below(16) == 0)
		return rnd_below(2000);
	return rnd_below(64);
}

/* Full agreement of the wheel's timers with the model. */
static size_t min_armed = SIZE_MAX, max_armed;

static void check_all(void)
{
	size_t armed = 0;
	uint64_t min = UINT64_MAX;

	for (uint32_t i = 0; i < RN; i++) {
		cr_assert_eq(wheel_timer_armed(&rt[i].t), rm[i].armed, "timer %u", i);
		if (!rm[i].armed)
			continue;
		armed++;
		cr_assert_eq(rt[i].t.deadline, rm[i].deadline);
		if (rm[i].deadline < min)
			min = rm[i].deadline;
	}
	cr_assert_eq(wheel_count(&W), armed);
	min_armed = armed < min_armed ? armed : min_armed;
	max_armed = armed > max_armed ? armed : max_armed;
	cr_assert_leq(wheel_next_deadline(&W), min, "next_deadline later than the earliest");
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Drain by next_deadline without side effects: the fires, sorted by
 * (deadline, id) to order ties, must equal the sorted model. */
static void drain_against_sorted_model(void)
{
	uint64_t *want = malloc(RN * sizeof(*want)), nd;
	size_t nwant = 0;

	drained = malloc(RN * sizeof(*drained));
	cr_assert(want && drained);
	for (uint32_t i = 0; i < RN; i++)
		if (rm[i].armed)
			want[nwant++] = rm[i].deadline << 20 | i;
	qsort(want, nwant, sizeof(*want), cmp_u64);
	side_effects = false;
	while ((nd = wheel_next_deadline(&W)) != UINT64_MAX)
		model_advance(nd < wheel_now(&W) ? wheel_now(&W) : nd);
	cr_assert_eq(ndrained, nwant);
	for (size_t i = 1; i < ndrained; i++)
		cr_assert_leq(drained[i - 1] >> 20, drained[i] >> 20, "drain out of order");
	qsort(drained, ndrained, sizeof(*drained), cmp_u64);
	cr_assert_arr_eq(drained, want, nwant * sizeof(*want));
	free(want);
	free(drained);
	drained = NULL;
}

Test(wheel, randomized_against_model, .timeout = 120)
{
	uint64_t now = 7 * HOUR + 12345, end = now + 2 * HOUR, fired = 0;

	rt = calloc(RN, sizeof(*rt));
	rm = calloc(RN, sizeof(*rm));
	cr_assert(rt && rm);
	wheel_init(&W, now);
	side_effects = true;
	for (uint32_t i = 0; i < RN; i++) {
		rt[i].id = i;
		wheel_timer_init(&rt[i].t, on_random);
		model_start(i, now + sip_delay());
	}
	while (now < end) {
		for (uint64_t k = rnd_below(128); k > 0; k--)
			random_op();
		now += random_step();
		fired += model_advance(now);
		if (ncalls % 1024 == 0)
			check_all();
	}
	check_all();
	cr_log_info("randomized: %llu advances, %llu fires, %zu..%zu armed, %zu at the end",
		    (unsigned long long)ncalls, (unsigned long long)fired, min_armed, max_armed,
		    wheel_count(&W));
	cr_assert_gt(fired, RN, "too few fires to mean much");
	drain_against_sorted_model();
	check_idle();
	free(rt);
	free(rm);
}
