/* ctab.h: a worker's client transactions that carry a branch of its own, in
 * a ring indexed by the sequence number in that branch (ids_branch()). */
#ifndef XFERD_CTAB_H
#define XFERD_CTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "str.h"

/* Most transactions xferd starts are its own NOTIFYs, BYEs and INVITEs,
 * and most of them end within milliseconds. A hash table gave each a
 * random bucket to write on start, read on its response and unlink at
 * the end, and Timer K (§17.1.2.2) a random slot of its own: four cache
 * misses. The branch carries a per-worker sequence number, so its slot is
 * seq & mask: consecutive transactions share cache lines, and a response
 * is found by one read. When a transaction ends over UDP its slot stays
 * as a tomb, an 8-byte key, until Timer K would have fired.
 *
 * A slot still held when the sequence comes round again: a live entry is
 * handed back to the caller (it moves to the hash table), an unexpired
 * tomb makes the ring double, up to max slots; at max the tomb is lost,
 * which only means a late retransmitted final counts as unmatched. */
struct ctab_slot {
	uint32_t seq;
	uint32_t until_ms; /* a tomb until then; 0: live (p) or empty (p NULL) */
	union {
		void *p;
		uint64_t key;
	} u;
};

struct ctab {
	struct ctab_slot *slot;
	uint32_t mask;
	uint32_t max;  /* slots, a power of two */
};

/* An empty ring of slots slots (a power of two), growing up to max.
 * Returns 0 or -ENOMEM. */
int ctab_init(struct ctab *t, uint32_t slots, uint32_t max);
void ctab_free(struct ctab *t);

/* The tomb key of a transaction: its branch and method hashed, never 0. */
uint64_t ctab_key(struct str branch, unsigned method);

/* Put p (not NULL) under seq. Returns the live entry that held the slot,
 * which the caller must keep elsewhere, or NULL. */
void *ctab_put(struct ctab *t, uint32_t seq, void *p, uint64_t now_ms);

/* The live entry under seq, or NULL. */
void *ctab_get(const struct ctab *t, uint32_t seq);

/* Empty the live entry under seq. */
void ctab_del(struct ctab *t, uint32_t seq);

/* Turn the live entry under seq into a tomb of key until until_ms. */
void ctab_bury(struct ctab *t, uint32_t seq, uint64_t key, uint64_t until_ms);

/* Whether seq holds a tomb of key that has not expired at now_ms. */
bool ctab_buried(const struct ctab *t, uint32_t seq, uint64_t key, uint64_t now_ms);

/* The live entries one by one, from *i on (start at 0); NULL at the end. */
void *ctab_next(const struct ctab *t, size_t *i);

#endif
