/* test_ids.c: generated ids carry their shard and are told apart from the
 * ids of other stacks; the Call-ID hash spreads and is stable. */
#include <errno.h>
#include <stdio.h>

#include <criterion/criterion.h>

#include "ids.h"

Test(ids, branch_names_its_shard)
{
	for (unsigned shard = 0; shard < IDS_MAX_SHARDS; shard++) {
		struct ids g;
		char buf[IDS_BRANCH_LEN];

		cr_assert_eq(ids_init(&g, shard), 0);
		struct str b = ids_branch(&g, buf);

		cr_assert_eq(b.n, IDS_BRANCH_LEN);
		cr_assert(memcmp(b.p, "z9hG4bK", 7) == 0);
		cr_assert_eq(ids_shard_of_branch(b), (int)shard);
	}
}

Test(ids, branch_carries_the_next_sequence_number)
{
	struct ids g;
	char a[IDS_BRANCH_LEN], b[IDS_BRANCH_LEN];
	uint32_t seq = 0;

	cr_assert_eq(ids_init(&g, 5), 0);
	g.seq = 0xfffffffeu; /* across the wrap */
	for (uint32_t want = 0xfffffffeu, i = 0; i < 4; i++, want++) {
		struct str s = ids_branch(&g, a);

		cr_assert_eq(ids_seq_of_branch(s, &seq), 0);
		cr_assert_eq(seq, want, "branch %u: seq %08x, want %08x", i, seq, want);
	}
	/* The same sequence number in two branches: the random part differs. */
	g.seq = 7;
	ids_branch(&g, a);
	g.seq = 7;
	ids_branch(&g, b);
	cr_assert(memcmp(a, b, IDS_BRANCH_LEN) != 0);
	memcpy(b, a, IDS_BRANCH_LEN);
	b[12] = 'g';
	cr_assert_eq(ids_seq_of_branch(str_make(b, IDS_BRANCH_LEN), &seq), -EINVAL,
		     "a non-hex digit in the sequence");
	cr_assert_eq(ids_seq_of_branch(STR("z9hG4bK776asdhds"), &seq), -EINVAL);
	cr_assert_eq(ids_seq_of_branch(str_make(a, IDS_BRANCH_LEN - 1), &seq), -EINVAL);
}

Test(ids, tag_and_call_id)
{
	struct ids g;
	char t[IDS_TAG_LEN], c[IDS_CALL_ID_LEN], t2[IDS_TAG_LEN];

	cr_assert_eq(ids_init(&g, 37), 0);
	cr_assert_eq(ids_shard_of_tag(ids_tag(&g, t)), 37);
	cr_assert_eq(ids_call_id(&g, c).n, IDS_CALL_ID_LEN);
	ids_tag(&g, t2);
	cr_assert(memcmp(t, t2, IDS_TAG_LEN) != 0, "two tags in a row are equal");
}

Test(ids, foreign_ids_are_not_ours)
{
	cr_assert_eq(ids_shard_of_branch(STR("z9hG4bK776asdhds")), -1);
	cr_assert_eq(ids_shard_of_branch(STR("")), -1);
	cr_assert_eq(ids_shard_of_tag(STR("1928301774")), -1);
	cr_assert_eq(ids_shard_of_tag(STR("xzz0123456789ab")), -1);
	/* The right shape but a shard beyond the limit. */
	cr_assert_eq(ids_shard_of_tag(STR("xff0123456789ab")), -1);
	cr_assert_eq(ids_init(&(struct ids){ 0 }, IDS_MAX_SHARDS), -EINVAL);
}

