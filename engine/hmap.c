/* hmap.c: power-of-two buckets of singly linked intrusive nodes, doubling
 * when the load passes one; removal walks one short chain. */
#include <errno.h>
#include <stdlib.h>

#include "hmap.h"

int hmap_init(struct hmap *h, size_t initial_buckets)
{
	size_t n = 16;

	while (n < initial_buckets)
		n <<= 1;
	h->buckets = calloc(n, sizeof(*h->buckets));
	h->mask = n - 1;
	h->count = 0;
	return h->buckets ? 0 : -ENOMEM;
}

void hmap_free(struct hmap *h)
{
	free(h->buckets);
	h->buckets = NULL;
}

static void hmap_grow(struct hmap *h)
{
	size_t n = (h->mask + 1) * 2;
	struct hmap_node **b = calloc(n, sizeof(*b));

	if (!b)
		return;
	for (size_t i = 0; i <= h->mask; i++) {
		struct hmap_node *e = h->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(h->buckets);
	h->buckets = b;
	h->mask = n - 1;
}

void hmap_insert(struct hmap *h, struct hmap_node *n, uint32_t hash)
{
	if (h->count > h->mask)
		hmap_grow(h);
	n->hash = hash;
	n->next = h->buckets[hash & h->mask];
	h->buckets[hash & h->mask] = n;
	h->count++;
}

void hmap_remove(struct hmap *h, struct hmap_node *n)
{
	struct hmap_node **pp = &h->buckets[n->hash & h->mask];

	while (*pp && *pp != n)
		pp = &(*pp)->next;
	if (*pp) {
		*pp = n->next;
		h->count--;
	}
	n->next = NULL;
}

struct hmap_node *hmap_first(const struct hmap *h, uint32_t hash)
{
	struct hmap_node *n = h->buckets[hash & h->mask];

	while (n && n->hash != hash)
		n = n->next;
	return n;
}

struct hmap_node *hmap_next(const struct hmap_node *n)
{
	uint32_t hash = n->hash;

	for (n = n->next; n && n->hash != hash; n = n->next)
		;
	return (struct hmap_node *)n;
}

uint32_t hmap_hash(struct str s, uint32_t seed)
{
	for (size_t i = 0; i < s.n; i++)
		seed = (seed ^ (uint8_t)s.p[i]) * 16777619u;
	return seed;
}
