/* ids.h: the Call-IDs, tags and Via branches xferd generates; each names the
 * worker (shard) that owns its call, so any worker can route a message. */
#ifndef XFERD_IDS_H
#define XFERD_IDS_H

#include "str.h"

#define IDS_MAX_SHARDS 64
#define IDS_BRANCH_LEN 30  /* "z9hG4bK" "x" shard(2) seq(8) random(12) */
#define IDS_TAG_LEN 15     /* "x" shard(2) random(12) */
#define IDS_CALL_ID_LEN 27 /* "x" shard(2) random(24) */

/* A per-worker random source: no shared state, no locks. */
struct ids {
	uint64_t state;
	unsigned shard;
	uint32_t seq;  /* of the next branch */
};

/* Seed from the kernel's random pool. Returns 0 or -errno. */
int ids_init(struct ids *g, unsigned shard);

/* Write a fresh id into out (which holds at least the _LEN bytes) and
 * return it as a slice of out. */
struct str ids_branch(struct ids *g, char *out);
struct str ids_tag(struct ids *g, char *out);
struct str ids_call_id(struct ids *g, char *out);

/* The shard encoded in a branch, tag or Call-ID xferd generated, or -1 if
 * the id is not one of ours (then the caller routes by Call-ID hash). */
int ids_shard_of_branch(struct str branch);

/* The sequence number in a branch of ours (each branch of a worker has the
 * next one, ctab.h), or -EINVAL if branch is not in our format. */
int ids_seq_of_branch(struct str branch, uint32_t *seq);
int ids_shard_of_tag(struct str tag);

#endif
