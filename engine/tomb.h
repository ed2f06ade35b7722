/* tomb.h: the keys of non-INVITE client transactions that ended over UDP,
 * kept for Timer K (RFC 3261 §17.1.2.2) so that their late finals are absorbed. */
#ifndef XFERD_TOMB_H
#define XFERD_TOMB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "str.h"

/* In Completed a non-INVITE client transaction only absorbs retransmitted
 * finals for T4. Keeping the whole transaction (and its hash entry and
 * timer) for those 5 s made the worker's table hold every NOTIFY of the
 * last 5 s: 345k at 69k NOTIFY/s, each a cache miss to insert, find and
 * reap. A tomb keeps 8 bytes per transaction instead, in two generations
 * of span_ms each: a key lives between span_ms and twice that, and a whole
 * generation is dropped at once, so nothing is reaped one by one. */
struct tomb {
	uint64_t *slot[2]; /* open addressing, linear probing; 0 is empty */
	size_t mask[2];
	size_t count[2];
	unsigned cur;      /* the generation that takes new keys */
	uint64_t turn_ms;  /* when cur turns old and the old one is dropped */
	uint32_t span_ms;
	size_t max;        /* keys per generation; beyond, tomb_add() refuses */
};

/* An empty tomb whose keys last at least span_ms from now_ms on. Returns
 * 0 or -ENOMEM. */
int tomb_init(struct tomb *t, uint32_t span_ms, size_t max, uint64_t now_ms);
void tomb_free(struct tomb *t);

/* The key of a transaction: a 64-bit hash of its branch and method, never
 * 0. Two transactions sharing a key only means that a stray response to
 * one of them counts as absorbed rather than unmatched: both are dropped. */
uint64_t tomb_key(struct str branch, unsigned method);

/* Keep key until at least now_ms + span_ms. Returns false (keeps nothing)
 * when the generation is full or cannot grow: the caller then keeps the
 * transaction itself. */
bool tomb_add(struct tomb *t, uint64_t key, uint64_t now_ms);

/* Whether key was added no longer than span_ms before now_ms (or up to
 * twice that). */
bool tomb_has(struct tomb *t, uint64_t key, uint64_t now_ms);

/* Keys held now, both generations (for tests and the live gauge). */
size_t tomb_count(const struct tomb *t);

#endif
