/* tomb.c: two generations of 64-bit keys in open-addressed tables; a turn
 * drops the older generation whole, so keys expire without a timer each. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tomb.h"

#define TOMB_MIN_SLOTS 1024

static size_t slot_of(uint64_t key, size_t mask)
{
	/* Fibonacci hashing: FNV's low bits alone cluster under linear probing. */
	return (size_t)((key * 0x9e3779b97f4a7c15ull) >> 32) & mask;
}

static int gen_alloc(struct tomb *t, unsigned g, size_t slots)
{
	uint64_t *s = calloc(slots, sizeof(*s));

	if (!s)
		return -ENOMEM;
	free(t->slot[g]);
	t->slot[g] = s;
	t->mask[g] = slots - 1;
	t->count[g] = 0;
	return 0;
}

int tomb_init(struct tomb *t, uint32_t span_ms, size_t max, uint64_t now_ms)
{
	*t = (struct tomb){ .span_ms = span_ms, .max = max, .turn_ms = now_ms + span_ms };
	if (gen_alloc(t, 0, TOMB_MIN_SLOTS) || gen_alloc(t, 1, TOMB_MIN_SLOTS)) {
		tomb_free(t);
		return -ENOMEM;
	}
	return 0;
}

void tomb_free(struct tomb *t)
{
	free(t->slot[0]);
	free(t->slot[1]);
	t->slot[0] = t->slot[1] = NULL;
}

uint64_t tomb_key(struct str branch, unsigned method)
{
	uint64_t h = 14695981039346656037ull;

	for (size_t i = 0; i < branch.n; i++)
		h = (h ^ (uint8_t)branch.p[i]) * 1099511628211ull;
	h = (h ^ method) * 1099511628211ull;
	return h ? h : 1;
}

/* Returns whether key is new to the table. */
static bool put(uint64_t *slot, size_t mask, uint64_t key)
{
	size_t i = slot_of(key, mask);

	while (slot[i] && slot[i] != key)
		i = (i + 1) & mask;
	if (slot[i])
		return false;
	slot[i] = key;
	return true;
}

static void gen_clear(struct tomb *t, unsigned g)
{
	memset(t->slot[g], 0, (t->mask[g] + 1) * sizeof(uint64_t));
	t->count[g] = 0;
}

/* The generation that takes keys starts empty, sized for what the last
 * one held: the table follows the load down as well as up. */
static void turn(struct tomb *t, uint64_t now_ms)
{
	unsigned old = t->cur ^ 1;
	size_t want = TOMB_MIN_SLOTS;

	if (now_ms >= t->turn_ms + t->span_ms) {
		/* Idle for a whole span: the current keys are stale too. */
		gen_clear(t, t->cur);
	}
	while (want < t->count[t->cur] * 2)
		want <<= 1;
	if (want == t->mask[old] + 1 || gen_alloc(t, old, want))
		gen_clear(t, old);
	t->cur = old;
	t->turn_ms = now_ms + t->span_ms;
}

/* Double the current generation; false if memory runs out. */
static bool grow(struct tomb *t)
{
	unsigned g = t->cur;
	size_t n = (t->mask[g] + 1) * 2;
	uint64_t *s = calloc(n, sizeof(*s));

	if (!s)
		return false;
	for (size_t i = 0; i <= t->mask[g]; i++)
		if (t->slot[g][i])
			put(s, n - 1, t->slot[g][i]);
	free(t->slot[g]);
	t->slot[g] = s;
	t->mask[g] = n - 1;
	return true;
}

bool tomb_add(struct tomb *t, uint64_t key, uint64_t now_ms)
{
	unsigned g;

	if (now_ms >= t->turn_ms)
		turn(t, now_ms);
	g = t->cur;
	if (t->count[g] >= t->max)
		return false;
	/* At most half full: linear probing stays at a probe or two. */
	if (t->count[g] * 2 >= t->mask[g] && !grow(t))
		return false;
	if (put(t->slot[g], t->mask[g], key))
		t->count[g]++;
	return true;
}

static bool gen_has(const struct tomb *t, unsigned g, uint64_t key)
{
	size_t i = slot_of(key, t->mask[g]);

	for (; t->slot[g][i]; i = (i + 1) & t->mask[g])
		if (t->slot[g][i] == key)
			return true;
	return false;
}

bool tomb_has(struct tomb *t, uint64_t key, uint64_t now_ms)
{
	if (now_ms >= t->turn_ms)
		turn(t, now_ms);
	return gen_has(t, t->cur, key) || gen_has(t, t->cur ^ 1, key);
}

size_t tomb_count(const struct tomb *t)
{
	return t->count[0] + t->count[1];
}
