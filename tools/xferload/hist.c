/* hist.c: the log-linear histogram of hist.h (bucket = exponent, then the
 * 7 bits under the leading one). */
#include <math.h>

#include "hist.h"

static unsigned bucket_of(uint64_t v)
{
	unsigned msb, shift;

	if (v >= (1ull << XL_HIST_MAX_BITS))
		v = (1ull << XL_HIST_MAX_BITS) - 1;
	if (v < (2u << XL_HIST_SUB_BITS))
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	shift = msb - XL_HIST_SUB_BITS;
	/* v >> shift is in [128, 255]: the bucket's mantissa. */
	return (shift << XL_HIST_SUB_BITS) + (unsigned)(v >> shift);
}

/* The highest value that lands in bucket i. */
static uint64_t bucket_top(unsigned i)
{
	unsigned shift;
	uint64_t mant;

	if (i < (2u << XL_HIST_SUB_BITS))
		return i;
	shift = (i >> XL_HIST_SUB_BITS) - 1;
	mant = i - ((uint64_t)shift << XL_HIST_SUB_BITS);
	return ((mant + 1) << shift) - 1;
}

void xl_hist_add(struct xl_hist *h, uint64_t us)
{
	if (!h->count || us < h->min)
		h->min = us;
	if (us > h->max)
		h->max = us;
	h->count++;
	h->sum += us;
	h->b[bucket_of(us)]++;
}

uint64_t xl_hist_quantile(const struct xl_hist *h, double q)
{
	uint64_t rank, seen = 0;

	if (!h->count)
		return 0;
	rank = (uint64_t)ceil(q * (double)h->count);
	if (rank < 1)
		rank = 1;
	for (unsigned i = 0; i < XL_HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			uint64_t top = bucket_top(i);

			return top < h->max ? top : h->max;
		}
	}
	return h->max;
}
