/* ids.c: random identifiers with the owning shard in two hex digits after an
 * 'x' marker; RFC 3261 §8.1.1.7 (branch cookie), §19.3 (tags, Call-ID). */
#include <errno.h>
#include <sys/random.h>

#include "ids.h"

static const char hex[] = "0123456789abcdef";

int ids_init(struct ids *g, unsigned shard)
{
	if (shard >= IDS_MAX_SHARDS)
		return -EINVAL;
	g->shard = shard;
	if (getrandom(&g->state, sizeof(g->state), 0) != sizeof(g->state))
		return -errno;
	g->state |= 1;
	return 0;
}

/* xorshift64*: ids must be unguessable enough not to collide, not secret. */
static uint64_t ids_next(struct ids *g)
{
	g->state ^= g->state >> 12;
	g->state ^= g->state << 25;
	g->state ^= g->state >> 27;
	return g->state * 0x2545f4914f6cdd1dull;
}

static char *put_hex(char *p, uint64_t v, unsigned digits)
{
	for (unsigned i = 0; i < digits; i++, v >>= 4)
		*p++ = hex[v & 15];
	return p;
}

/* "x" shard random: the common tail of every id. */
static char *put_id(struct ids *g, char *p, unsigned random_digits)
{
	*p++ = 'x';
	*p++ = hex[g->shard >> 4];
	*p++ = hex[g->shard & 15];
	while (random_digits) {
		unsigned n = random_digits < 16 ? random_digits : 16;

		p = put_hex(p, ids_next(g), n);
		random_digits -= n;
	}
	return p;
}

/* The sequence number goes before the random digits: random alone need
 * not be unique, a worker's sequence within a lap of 2^32 is. */
struct str ids_branch(struct ids *g, char *out)
{
	char *p;

	memcpy(out, "z9hG4bK", 7);
	p = put_hex(put_id(g, out + 7, 0), g->seq++, 8);
	put_hex(p, ids_next(g), 12);
	return str_make(out, IDS_BRANCH_LEN);
}

struct str ids_tag(struct ids *g, char *out)
{
	put_id(g, out, 12);
	return str_make(out, IDS_TAG_LEN);
}

struct str ids_call_id(struct ids *g, char *out)
{
	put_id(g, out, 24);
	return str_make(out, IDS_CALL_ID_LEN);
}

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int shard_of(struct str s, size_t len)
{
	int hi, lo;

	if (s.n != len || s.p[0] != 'x')
		return -1;
	hi = hex_val(s.p[1]);
	lo = hex_val(s.p[2]);
	if (hi < 0 || lo < 0 || (hi << 4 | lo) >= IDS_MAX_SHARDS)
		return -1;
	return hi << 4 | lo;
}

int ids_shard_of_branch(struct str branch)
{
	if (branch.n != IDS_BRANCH_LEN || memcmp(branch.p, "z9hG4bK", 7))
		return -1;
	return shard_of(str_make(branch.p + 7, branch.n - 7), IDS_BRANCH_LEN - 7);
}

int ids_seq_of_branch(struct str branch, uint32_t *seq)
{
	uint32_t v = 0;

	if (ids_shard_of_branch(branch) < 0)
		return -EINVAL;
	for (unsigned i = 8; i--;) {
		int d = hex_val(branch.p[10 + i]);

		if (d < 0)
			return -EINVAL;
		v = v << 4 | (uint32_t)d;
	}
	*seq = v;
	return 0;
}

int ids_shard_of_tag(struct str tag)
{
	return shard_of(tag, IDS_TAG_LEN);
}
