/* wheel.c: hierarchical timer wheel (after h2o's lib/common/timerwheel.c), intrusive, no allocation.
 * Runs the RFC 3261 §17.1.1.2, §17.1.2.2, §17.2.1, §17.2.2 timers A-K and longer call timers. */
#include <assert.h>

#include "wheel.h"

/*
 * Placement. A timer with deadline d goes to the level of the highest
 * 6-bit digit in which d differs from now, in the slot of d's digit there:
 * level L > 0 holds deadlines in now's 64^(L+1) ms block but not in now's
 * 64^L ms block, level 0 those in now's 64 ms block. So every timer of
 * level L is earlier than every timer of level L+1, and within a level the
 * slots after now's digit run in time order: the earliest timer is in the
 * lowest non-empty level, at its lowest set bit, with no wrap-around to
 * consider. h2o places by distance from now instead and walks slots one by
 * one; the bitmaps make each step one ctz.
 *
 * Advancing keeps that true. The clock only jumps to the start of the
 * earliest non-empty slot: a level-0 slot is one exact deadline and fires;
 * a coarser slot now lies in now's block, so its timers are placed again
 * and land at lower levels ("cascade"). A deadline outside now's 2^24 ms
 * block waits in the overflow list, placed again when the clock reaches
 * the next 2^24 ms boundary. h2o instead clamps such timers into a top
 * slot and must assert that a cascade never puts one back into the slot
 * being emptied; a list of their own cannot have that problem.
 */

#define SLOT_MASK (WHEEL_SLOTS - 1)

/* Values of wheel_timer.where beyond the slots, numbered level * 64 + slot. */
enum {
	WHERE_OVERFLOW = WHEEL_LEVELS * WHEEL_SLOTS,
	WHERE_DUE,
};

#define container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

/* ---- intrusive list ---- */

static void link_init(struct wheel_link *head)
{
	head->next = head->prev = head;
}

static bool link_empty(const struct wheel_link *head)
{
	return head->next == head;
}

static void link_append(struct wheel_link *head, struct wheel_link *l)
{
	l->prev = head->prev;
	l->next = head;
	head->prev->next = l;
	head->prev = l;
}

/* NULL pointers mark the entry as not armed. */
static void link_unlink(struct wheel_link *l)
{
	l->prev->next = l->next;
	l->next->prev = l->prev;
	l->next = l->prev = NULL;
}

/* Move every entry of from to the empty list to, leaving from empty. */
static void link_move_all(struct wheel_link *from, struct wheel_link *to)
{
	if (link_empty(from)) {
		link_init(to);
		return;
	}
	to->next = from->next;
	to->prev = from->prev;
	to->next->prev = to;
	to->prev->next = to;
	link_init(from);
}

static struct wheel_timer *link_timer(struct wheel_link *l)
{
	return container_of(l, struct wheel_timer, link);
}

/* ---- placement ---- */

/* The level for deadline at (>= now): WHEEL_LEVELS means overflow. The
 * | SLOT_MASK makes at == now level 0 without a branch for clzll(0). */
static unsigned level_of(uint64_t now, uint64_t at)
{
	return (63u - (unsigned)__builtin_clzll((at ^ now) | SLOT_MASK)) / WHEEL_LEVEL_BITS;
}

static unsigned slot_of(unsigned level, uint64_t at)
{
	return (unsigned)(at >> (level * WHEEL_LEVEL_BITS)) & SLOT_MASK;
}

/* First ms of slot in now's block of that level. */
static uint64_t slot_start(uint64_t now, unsigned level, unsigned slot)
{
	unsigned shift = level * WHEEL_LEVEL_BITS;
	uint64_t block = now >> shift >> WHEEL_LEVEL_BITS << WHEEL_LEVEL_BITS;

	return (block | slot) << shift;
}

/* Link t (deadline >= now) where it belongs. */
static void wheel_place(struct wheel *w, struct wheel_timer *t)
{
	unsigned level = level_of(w->now, t->deadline), slot;

	if (level >= WHEEL_LEVELS) {
		t->where = WHERE_OVERFLOW;
		link_append(&w->overflow, &t->link);
		if (t->deadline < w->overflow_min)
			w->overflow_min = t->deadline;
		return;
	}
	slot = slot_of(level, t->deadline);
	t->where = (uint16_t)(level * WHEEL_SLOTS + slot);
	link_append(&w->slots[level][slot], &t->link);
	w->occupied[level] |= 1ull << slot;
	if (t->deadline < w->slot_min[level][slot])
		w->slot_min[level][slot] = t->deadline;
}

/* Unlink t, keeping the bitmaps and minimums of its list in step. */
static void wheel_unplace(struct wheel *w, struct wheel_timer *t)
{
	unsigned level = t->where / WHEEL_SLOTS, slot = t->where % WHEEL_SLOTS;

	link_unlink(&t->link);
	if (t->where == WHERE_OVERFLOW) {
		if (link_empty(&w->overflow))
			w->overflow_min = UINT64_MAX;
	} else if (t->where < WHERE_OVERFLOW && link_empty(&w->slots[level][slot])) {
		w->occupied[level] &= ~(1ull << slot);
		w->slot_min[level][slot] = UINT64_MAX;
	}
}

/* ---- public: timers ---- */

void wheel_init(struct wheel *w, uint64_t now_ms)
{
	w->now = now_ms;
	w->count = 0;
	w->advancing = false;
	w->overflow_min = UINT64_MAX;
	link_init(&w->due);
	link_init(&w->overflow);
	for (unsigned l = 0; l < WHEEL_LEVELS; l++) {
		w->occupied[l] = 0;
		for (unsigned s = 0; s < WHEEL_SLOTS; s++) {
			link_init(&w->slots[l][s]);
			w->slot_min[l][s] = UINT64_MAX;
		}
	}
}

void wheel_timer_init(struct wheel_timer *t, void (*on_fire)(struct wheel_timer *t))
{
	t->link.next = t->link.prev = NULL;
	t->deadline = 0;
	t->on_fire = on_fire;
	t->wheel = NULL;
	t->where = 0;
}

bool wheel_timer_armed(const struct wheel_timer *t)
{
	return t->link.next != NULL;
}

void wheel_timer_cancel(struct wheel_timer *t)
{
	if (!wheel_timer_armed(t))
		return;
	wheel_unplace(t->wheel, t);
	t->wheel->count--;
}

/* A deadline at or before now goes to the due list rather than to level 0:
 * inside an advance, now's level-0 slot may be the one being fired, and a
 * timer re-armed into it would fire again in the same call, forever. */
void wheel_timer_start(struct wheel *w, struct wheel_timer *t, uint64_t at_ms)
{
	wheel_timer_cancel(t);
	t->wheel = w;
	w->count++;
	if (at_ms <= w->now) {
		t->deadline = w->now;
		t->where = WHERE_DUE;
		link_append(&w->due, &t->link);
		return;
	}
	t->deadline = at_ms;
	wheel_place(w, t);
}

/* ---- public: the clock ---- */

/* Fire every timer of head until it is empty. The first entry is taken
 * afresh each time because a callback may cancel any other entry. */
static unsigned wheel_fire_list(struct wheel_link *head)
{
	unsigned fired = 0;

	while (!link_empty(head)) {
		struct wheel_timer *t = link_timer(head->next);

		wheel_timer_cancel(t);
		t->on_fire(t); /* may free t: not touched after this */
		fired++;
	}
	return fired;
}

/* Fired from a list of their own: timers the callbacks re-arm at now
 * join w->due for the next advance instead of this one. */
static unsigned wheel_fire_due(struct wheel *w)
{
	struct wheel_link due;

	link_move_all(&w->due, &due);
	return wheel_fire_list(&due);
}

/* Place again every timer of head, a slot whose block now contains w->now
 * (or the overflow list, once now entered a new 2^24 ms block): each lands
 * at a lower level than before, or in overflow again if still beyond. No
 * callback runs here, so the entries need no protection from cancels. */
static void wheel_cascade(struct wheel *w, struct wheel_link *head)
{
	struct wheel_link moving;

	link_move_all(head, &moving);
	while (!link_empty(&moving)) {
		struct wheel_timer *t = link_timer(moving.next);

		link_unlink(&t->link);
		wheel_place(w, t);
	}
}

static void wheel_cascade_slot(struct wheel *w, unsigned level, unsigned slot)
{
	w->occupied[level] &= ~(1ull << slot);
	w->slot_min[level][slot] = UINT64_MAX;
	wheel_cascade(w, &w->slots[level][slot]);
}

static void wheel_cascade_overflow(struct wheel *w)
{
	w->overflow_min = UINT64_MAX;
	wheel_cascade(w, &w->overflow);
}

/* Start of the earliest non-empty list in the wheel, with its level and
 * slot (level WHEEL_LEVELS: overflow, starting at the next 2^24 ms
 * boundary), or UINT64_MAX. Slots before now's digit are always empty (see
 * the top of the file), so the lowest set bit is the next slot. */
static uint64_t wheel_next_event(const struct wheel *w, unsigned *level, unsigned *slot)
{
	for (unsigned l = 0; l < WHEEL_LEVELS; l++) {
		if (w->occupied[l]) {
			*level = l;
			*slot = (unsigned)__builtin_ctzll(w->occupied[l]);
			return slot_start(w->now, l, *slot);
		}
	}
	*level = WHEEL_LEVELS;
	*slot = 0;
	if (link_empty(&w->overflow))
		return UINT64_MAX;
	return (w->now | ((1ull << WHEEL_SPAN_BITS) - 1)) + 1;
}

/* The clock stops at every non-empty slot up to now_ms, so the placement
 * rule holds at each stop; when the next one is past now_ms, now_ms lies
 * before every non-empty slot's block, so jumping there keeps it too. */
unsigned wheel_advance(struct wheel *w, uint64_t now_ms)
{
	unsigned fired, level, slot;
	uint64_t at;

	assert(!w->advancing);
	w->advancing = true;
	if (now_ms < w->now)
		now_ms = w->now;
	fired = wheel_fire_due(w);
	while ((at = wheel_next_event(w, &level, &slot)) <= now_ms) {
		assert(at >= w->now);
		assert(level == WHEEL_LEVELS || !link_empty(&w->slots[level][slot]));
		w->now = at;
		if (level == 0)
			fired += wheel_fire_list(&w->slots[0][slot]);
		else if (level < WHEEL_LEVELS)
			wheel_cascade_slot(w, level, slot);
		else
			wheel_cascade_overflow(w);
	}
	w->now = now_ms;
	w->advancing = false;
	return fired;
}

/* Same order as wheel_next_event, but each list's earliest deadline rather
 * than its start: due timers, then the lowest level, then overflow. */
uint64_t wheel_next_deadline(const struct wheel *w)
{
	if (!link_empty(&w->due))
		return link_timer(w->due.next)->deadline;
	for (unsigned l = 0; l < WHEEL_LEVELS; l++) {
		if (w->occupied[l])
			return w->slot_min[l][__builtin_ctzll(w->occupied[l])];
	}
	return w->overflow_min;
}

size_t wheel_count(const struct wheel *w)
{
	return w->count;
}

uint64_t wheel_now(const struct wheel *w)
{
	return w->now;
}
