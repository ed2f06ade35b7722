/* ctab.c: a power-of-two ring of slots indexed by sequence number; live
 * entries, tombs that expire by time alone, doubling when a tomb is due. */
#include <errno.h>
#include <stdlib.h>

#include "ctab.h"

int ctab_init(struct ctab *t, uint32_t slots, uint32_t max)
{
	*t = (struct ctab){ .mask = slots - 1, .max = max < slots ? slots : max };
	t->slot = calloc(slots, sizeof(*t->slot));
	return t->slot ? 0 : -ENOMEM;
}

void ctab_free(struct ctab *t)
{
	free(t->slot);
	t->slot = NULL;
}

uint64_t ctab_key(struct str branch, unsigned method)
{
	uint64_t h = 14695981039346656037ull;

	for (size_t i = 0; i < branch.n; i++)
		h = (h ^ (uint8_t)branch.p[i]) * 1099511628211ull;
	h = (h ^ method) * 1099511628211ull;
	return h ? h : 1;
}

/* Times are kept as the low 32 bits of the worker's milliseconds: a tomb
 * lasts seconds, far inside the 24 days a signed difference covers. */
static bool tomb_alive(const struct ctab_slot *s, uint64_t now_ms)
{
	return s->until_ms && (int32_t)(s->until_ms - (uint32_t)now_ms) > 0;
}

/* Double the ring; slots of one lap stay apart in a ring twice as long. */
static int grow(struct ctab *t, uint64_t now_ms)
{
	uint32_t n = (t->mask + 1) * 2;
	struct ctab_slot *s = calloc(n, sizeof(*s));

	if (!s)
		return -ENOMEM;
	for (uint32_t i = 0; i <= t->mask; i++) {
		const struct ctab_slot *o = &t->slot[i];

		if ((!o->until_ms && o->u.p) || tomb_alive(o, now_ms))
			s[o->seq & (n - 1)] = *o;
	}
	free(t->slot);
	t->slot = s;
	t->mask = n - 1;
	return 0;
}

void *ctab_put(struct ctab *t, uint32_t seq, void *p, uint64_t now_ms)
{
	struct ctab_slot *s = &t->slot[seq & t->mask];
	void *old = NULL;

	while (tomb_alive(s, now_ms) && t->mask + 1 < t->max && grow(t, now_ms) == 0)
		s = &t->slot[seq & t->mask];
	if (!s->until_ms && s->u.p)
		old = s->u.p;
	*s = (struct ctab_slot){ .seq = seq, .u.p = p };
	return old;
}

void *ctab_get(const struct ctab *t, uint32_t seq)
{
	const struct ctab_slot *s = &t->slot[seq & t->mask];

	return s->seq == seq && !s->until_ms ? s->u.p : NULL;
}

void ctab_del(struct ctab *t, uint32_t seq)
{
	struct ctab_slot *s = &t->slot[seq & t->mask];

	if (s->seq == seq && !s->until_ms)
		s->u.p = NULL;
}

void ctab_bury(struct ctab *t, uint32_t seq, uint64_t key, uint64_t until_ms)
{
	struct ctab_slot *s = &t->slot[seq & t->mask];

	if (s->seq != seq || s->until_ms || !s->u.p)
		return;
	s->until_ms = (uint32_t)until_ms ? (uint32_t)until_ms : 1;
	s->u.key = key;
}

bool ctab_buried(const struct ctab *t, uint32_t seq, uint64_t key, uint64_t now_ms)
{
	const struct ctab_slot *s = &t->slot[seq & t->mask];

	return s->seq == seq && tomb_alive(s, now_ms) && s->u.key == key;
}

void *ctab_next(const struct ctab *t, size_t *i)
{
	for (; *i <= t->mask; (*i)++) {
		const struct ctab_slot *s = &t->slot[*i];

		if (!s->until_ms && s->u.p) {
			(*i)++;
			return s->u.p;
		}
	}
	return NULL;
}
