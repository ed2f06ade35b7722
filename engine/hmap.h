/* hmap.h: an intrusive chained hash table for one worker's transactions and
 * dialogs: the caller embeds the node, computes the hash and compares keys. */
#ifndef XFERD_HMAP_H
#define XFERD_HMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "str.h"

struct hmap_node {
	struct hmap_node *next;
	uint32_t hash;
};

struct hmap {
	struct hmap_node **buckets;
	size_t mask;  /* buckets - 1, a power of two minus one */
	size_t count;
};

/* Returns 0 or -ENOMEM. */
int hmap_init(struct hmap *h, size_t initial_buckets);
void hmap_free(struct hmap *h);

/* Insert n (not already in a table) with hash. Grows the table when it is
 * fuller than one entry per bucket; growth failing only costs speed. */
void hmap_insert(struct hmap *h, struct hmap_node *n, uint32_t hash);

/* Unlink n, which must be in h. */
void hmap_remove(struct hmap *h, struct hmap_node *n);

/* The first node with hash, then hmap_next() for the following ones with
 * the same hash; the caller compares the keys. */
struct hmap_node *hmap_first(const struct hmap *h, uint32_t hash);
struct hmap_node *hmap_next(const struct hmap_node *n);

/* FNV-1a over a slice, chainable through seed (start with HMAP_SEED). */
#define HMAP_SEED 2166136261u
uint32_t hmap_hash(struct str s, uint32_t seed);

#endif
