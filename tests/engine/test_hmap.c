/* test_hmap.c: the intrusive hash table keeps every entry findable through
 * growth, collisions and removal. */
#include <criterion/criterion.h>

#include "hmap.h"

struct item {
	struct hmap_node node;
	int key;
};

static uint32_t key_hash(int k)
{
	/* Few distinct hashes: chains and hmap_next() get exercised. */
	return (uint32_t)(k % 97);
}

static struct item *find(struct hmap *h, int k)
{
	for (struct hmap_node *n = hmap_first(h, key_hash(k)); n; n = hmap_next(n)) {
		struct item *it = (struct item *)n;

		if (it->key == k)
			return it;
	}
	return NULL;
}

Test(hmap, insert_find_remove_through_growth)
{
	static struct item items[5000];
	struct hmap h;

	cr_assert_eq(hmap_init(&h, 4), 0);
	for (int i = 0; i < 5000; i++) {
		items[i].key = i;
		hmap_insert(&h, &items[i].node, key_hash(i));
	}
	cr_assert_eq(h.count, 5000);
	cr_assert_gt(h.mask, 1000, "the table did not grow");
	for (int i = 0; i < 5000; i++)
		cr_assert_eq(find(&h, i), &items[i]);
	for (int i = 0; i < 5000; i += 2)
		hmap_remove(&h, &items[i].node);
	cr_assert_eq(h.count, 2500);
	for (int i = 0; i < 5000; i++)
		cr_assert_eq(find(&h, i), i % 2 ? &items[i] : NULL);
	hmap_free(&h);
}

Test(hmap, hash_is_fnv1a)
{
	cr_assert_eq(hmap_hash(STR(""), HMAP_SEED), 2166136261u);
	cr_assert_eq(hmap_hash(STR("a"), HMAP_SEED), 0xe40c292cu);
	cr_assert_eq(hmap_hash(STR("ab"), hmap_hash(STR(""), HMAP_SEED)), hmap_hash(STR("ab"), HMAP_SEED));
}
