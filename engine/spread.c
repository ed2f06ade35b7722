/* spread.c: the slot tables that place new calls on workers, the planner
 * that sizes the set of workers taking them, and the hand-over of a slot. */
#include "spread.h"

#include "hmap.h"

void spread_init(struct spread *s, struct spread_plan *p, unsigned n, unsigned above_pct)
{
	*p = (struct spread_plan){ .n = n, .active = n > 1 && above_pct ? 1 : n };
	for (unsigned i = 0; i < SPREAD_SLOTS; i++) {
		atomic_store(&s->owner[i], 0);
		atomic_store(&s->want[i], 0);
	}
	/* Nothing is held yet, so the slots can start where they belong. */
	spread_assign(s, p->active);
	for (unsigned i = 0; i < SPREAD_SLOTS; i++)
		atomic_store(&s->owner[i], atomic_load(&s->want[i]));
}

unsigned spread_slot(struct str call_id)
{
	return hmap_hash(call_id, HMAP_SEED) % SPREAD_SLOTS;
}

unsigned spread_plan_step(struct spread_plan *p, const unsigned *busy_pct,
			  unsigned above_pct, uint64_t now_ms)
{
	unsigned busiest = 0, total = 0;

	if (p->n <= 1 || !above_pct) {
		p->active = p->n;
		p->low_since_ms = 0;
		return p->active;
	}
	for (unsigned i = 0; i < p->n; i++) {
		total += busy_pct[i];
		if (i < p->active && busy_pct[i] > busiest)
			busiest = busy_pct[i];
	}
	if (busiest > above_pct && p->active < p->n) {
		p->active++;
		p->low_since_ms = 0;
	} else if (p->active > 1 && 2 * total < above_pct * (p->active - 1)) {
		if (!p->low_since_ms)
			p->low_since_ms = now_ms ? now_ms : 1;
		else if (now_ms - p->low_since_ms >= SPREAD_PACK_AFTER_MS) {
			p->active--;
			p->low_since_ms = 0;
		}
	} else {
		p->low_since_ms = 0;
	}
	return p->active;
}

/* A well-mixed weight of worker w for slot s (murmur3's finaliser). */
static uint32_t weight(unsigned s, unsigned w)
{
	uint32_t h = (uint32_t)s * 0x9e3779b1u ^ ((uint32_t)w + 1) * 0x85ebca77u;

	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	return h ^ (h >> 16);
}

unsigned spread_assign(struct spread *s, unsigned active)
{
	unsigned moved = 0;

	atomic_store_explicit(&s->active, active, memory_order_relaxed);
	for (unsigned slot = 0; slot < SPREAD_SLOTS; slot++) {
		unsigned best = 0, want = spread_want(s, slot);

		if (spread_owner(s, slot) != want)
			continue; /* still moving: it settles first */
		for (unsigned w = 1; w < active; w++) {
			if (weight(slot, w) > weight(slot, best))
				best = w;
		}
		if (best != want) {
			atomic_store_explicit(&s->want[slot], (uint8_t)best, memory_order_relaxed);
			moved++;
		}
	}
	return moved;
}

unsigned spread_release(struct spread *s, unsigned self, const uint32_t *held)
{
	unsigned given = 0;

	for (unsigned slot = 0; slot < SPREAD_SLOTS; slot++) {
		unsigned want = spread_want(s, slot);

		if (spread_owner(s, slot) == self && want != self && !held[slot]) {
			/* Relaxed: the new owner needs none of self's state for
			 * the slot; a request still on its way to self is passed
			 * on by self (router.c). */
			atomic_store_explicit(&s->owner[slot], (uint8_t)want, memory_order_relaxed);
			given++;
		}
	}
	return given;
}
