/* spread.h: which worker creates the calls that a Call-ID opens, and how
 * that follows the load: as few workers as keep up, all of them when not. */
#ifndef XFERD_SPREAD_H
#define XFERD_SPREAD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "str.h"

/* Call-IDs hash into this many slots; a slot is what moves between workers. */
#define SPREAD_SLOTS 256

/* How long the load must stay low before one worker fewer takes new calls:
 * spreading out is at once, packing in is not, so a burst does not flap. */
#define SPREAD_PACK_AFTER_MS 5000

/* Shared by the workers, read on every request that opens a call.
 *
 * owner[s] is the worker that routes and absorbs the retransmissions of
 * slot s's opening requests (INVITE, CANCEL, out-of-dialog requests: the
 * ones without a To tag). Only the owner writes it, to want[s], once it
 * holds no transaction of that slot any more: until then it keeps the
 * retransmissions of what it holds and passes new calls on to want[s].
 *
 * want[s] is written by the planner (worker 0), only for settled slots
 * (owner == want), so a slot moves between two workers at a time and a
 * message is never passed more than twice. */
struct spread {
	_Atomic uint8_t owner[SPREAD_SLOTS];
	_Atomic uint8_t want[SPREAD_SLOTS];
	_Atomic unsigned active; /* workers that new calls go to: 0..active-1 */
};

/* The planner's state, worker 0's alone. */
struct spread_plan {
	unsigned n;            /* workers */
	unsigned active;
	uint64_t low_since_ms; /* since when one worker fewer would do; 0: it would not */
};

/* Every slot on worker 0, which alone takes new calls (n > 1 and packing
 * on), or spread over all n workers (packing off: above_pct 0). */
void spread_init(struct spread *s, struct spread_plan *p, unsigned n, unsigned above_pct);

/* The slot of a Call-ID. */
unsigned spread_slot(struct str call_id);

static inline unsigned spread_owner(const struct spread *s, unsigned slot)
{
	return atomic_load_explicit(&s->owner[slot], memory_order_relaxed);
}

static inline unsigned spread_want(const struct spread *s, unsigned slot)
{
	return atomic_load_explicit(&s->want[slot], memory_order_relaxed);
}

/* One step of the planner: busy_pct[i] is worker i's CPU time over the
 * last period, in percent of one CPU; above_pct is what an active worker
 * may use before one more takes new calls (0: all of them always).
 * Fewer take them again when the others could carry the whole load at
 * half of above_pct, for SPREAD_PACK_AFTER_MS. Returns the active count. */
unsigned spread_plan_step(struct spread_plan *p, const unsigned *busy_pct,
			  unsigned above_pct, uint64_t now_ms);

/* Point every settled slot at one of workers 0..active-1, by rendezvous
 * hashing: a change of active moves only the slots it must. Returns how
 * many slots were given a new worker. */
unsigned spread_assign(struct spread *s, unsigned active);

/* Called by worker self: give each slot it owns and is asked to give up
 * to the worker that wants it, if it holds none of the slot's transactions
 * (held[slot] == 0). Returns how many slots it gave up. */
unsigned spread_release(struct spread *s, unsigned self, const uint32_t *held);

#endif
