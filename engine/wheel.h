/* wheel.h: hierarchical timer wheel with intrusive entries, one per worker, ms resolution.
 * Holds the RFC 3261 §17 transaction timers A-K (T1 = 500 ms .. 64*T1 = 32 s) and call timers. */
#ifndef XFERD_WHEEL_H
#define XFERD_WHEEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 4 levels of 64 slots: a level-L slot holds the deadlines of one 64^L ms
 * block, so the levels cover the current 2^24 ms block (about 4.66 h);
 * deadlines beyond it (a 10 h call timer) wait in an overflow list that is
 * sorted into the levels again each time the clock enters a new 2^24 ms
 * block. 64 slots so that one uint64_t bitmap per level finds the next
 * non-empty slot with one __builtin_ctzll. */
#define WHEEL_LEVEL_BITS 6
#define WHEEL_SLOTS (1u << WHEEL_LEVEL_BITS)
#define WHEEL_LEVELS 4
#define WHEEL_SPAN_BITS (WHEEL_LEVEL_BITS * WHEEL_LEVELS)

/* Intrusive doubly linked list node; a list head is a node of its own. */
struct wheel_link {
	struct wheel_link *next, *prev;
};

struct wheel;

/* Embedded by the caller in its own object (a transaction, a call) and
 * recovered in on_fire with container_of: the wheel never allocates.
 * Visible rather than opaque because it is embedded (STYLE rule 10). The
 * fields are the wheel's; read them only through the functions below,
 * except deadline, which may be read while the timer is armed or inside
 * its on_fire. */
struct wheel_timer {
	struct wheel_link link;  /* next == NULL: not armed */
	uint64_t deadline;       /* ms; a past deadline is stored as the wheel's now */
	void (*on_fire)(struct wheel_timer *t);
	struct wheel *wheel;     /* set by start: cancel takes no wheel argument */
	uint16_t where;          /* which list holds it: a slot, overflow or due */
};

/* One per worker thread, embedded in the worker's struct (hence visible);
 * never shared, so no locks or atomics. About 6 KiB, touched sparsely. */
struct wheel {
	uint64_t now;                       /* ms the wheel has reached */
	size_t count;                       /* armed timers */
	bool advancing;                     /* inside wheel_advance: it is not re-entrant */
	uint64_t occupied[WHEEL_LEVELS];    /* bit s set: slots[level][s] non-empty */
	uint64_t overflow_min;              /* like slot_min, for overflow */
	struct wheel_link due;              /* armed at or before now: fire on the next advance */
	struct wheel_link overflow;         /* beyond the current 2^24 ms block */
	struct wheel_link slots[WHEEL_LEVELS][WHEEL_SLOTS];
	/* Earliest deadline ever linked into the slot since it was last empty:
	 * exact, or early after the earliest timer of a coarse slot was
	 * cancelled (keeping it exact would make cancel O(slot)). */
	uint64_t slot_min[WHEEL_LEVELS][WHEEL_SLOTS];
};

/* Start an empty wheel whose clock reads now_ms. */
void wheel_init(struct wheel *w, uint64_t now_ms);

/* Prepare t, not armed, to call on_fire when it expires. Call once before
 * the first start; a timer that fired or was cancelled may be restarted
 * without it. */
void wheel_timer_init(struct wheel_timer *t, void (*on_fire)(struct wheel_timer *t));

/* Arm t to fire at at_ms; if t is already armed it is moved (to this wheel,
 * too). O(1). A deadline at or before wheel_now(w) fires on the next
 * wheel_advance, whatever now that advance is given. Started from an
 * on_fire callback, a deadline in (wheel_now(w), now_ms of the running
 * advance] fires in that same advance, in deadline order; one at or before
 * wheel_now(w) waits for the next advance, so a timer that keeps re-arming
 * at "now" cannot hold its advance in a loop. */
void wheel_timer_start(struct wheel *w, struct wheel_timer *t, uint64_t at_ms);

/* Disarm t: it will not fire. No-op if t is not armed. O(1). Safe from any
 * on_fire callback, including t's own and those of timers due in the same
 * tick (a cancelled timer still waiting in that tick does not fire). After
 * cancel returns, or once on_fire has been called, the wheel holds no
 * pointer to t and its memory may be freed. */
void wheel_timer_cancel(struct wheel_timer *t);

/* Whether t is armed. Inside its own on_fire t is no longer armed. */
bool wheel_timer_armed(const struct wheel_timer *t);

/* Move the clock to now_ms and fire every timer due at or before it, in
 * deadline order (equal deadlines: unspecified order), each exactly once;
 * returns how many fired. Timers that were armed with a deadline already
 * past fire first. An empty stretch costs one bitmap scan per level
 * and a timer is moved between levels at most WHEEL_LEVELS - 1 times (plus
 * once per 4.66 h while in overflow), so an hour-long idle gap is O(timers
 * due), never O(ms). A now_ms earlier than wheel_now(w) (the clock went
 * back) is taken as wheel_now(w). Callbacks may start, cancel and free
 * timers, but must not call wheel_advance on the same wheel. */
unsigned wheel_advance(struct wheel *w, uint64_t now_ms);

/* The earliest pending deadline, or UINT64_MAX if no timer is armed; the
 * worker sizes its io_uring timeout with it. O(WHEEL_LEVELS), no list walk.
 * Exact unless the earliest timer of a coarse slot (levels 1-3: deadlines
 * outside the current 64 ms-aligned block) or of the overflow list was
 * cancelled: that list keeps its old minimum, since recomputing it would
 * make cancel O(list). The answer is then earlier, never later, and the
 * advance to it fires nothing but moves that list's timers to finer slots
 * with exact minimums: at most one early wake per such list. A value at or
 * before wheel_now(w) means timers wait for an advance (a timeout of 0). */
uint64_t wheel_next_deadline(const struct wheel *w);

/* Number of armed timers (a live-object metric; zero when all are done). */
size_t wheel_count(const struct wheel *w);

/* The time the wheel has reached: now_ms of the last advance (or init);
 * inside on_fire, the firing timer's deadline (later only for a timer
 * armed with a deadline already past), so a callback re-arms with
 * wheel_now(w) + interval. */
uint64_t wheel_now(const struct wheel *w);

#endif
