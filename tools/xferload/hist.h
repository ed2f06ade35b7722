/* hist.h: a log-linear latency histogram (HdrHistogram's layout): exact below
 * 256 µs, then 128 buckets per power of two, so any value is within 0.8 %. */
#ifndef XFERLOAD_HIST_H
#define XFERLOAD_HIST_H

#include <stdint.h>

#define XL_HIST_SUB_BITS 7
#define XL_HIST_MAX_BITS 40 /* 2^40 µs: 12 days; larger values are clamped */
#define XL_HIST_BUCKETS ((XL_HIST_MAX_BITS - XL_HIST_SUB_BITS + 1) << XL_HIST_SUB_BITS)

/* Fixed size, no allocation: recording is an increment. */
struct xl_hist {
	uint64_t count, sum, min, max;
	uint64_t b[XL_HIST_BUCKETS];
};

/* Record one sample, in µs. */
void xl_hist_add(struct xl_hist *h, uint64_t us);

/* The value at quantile q (0 < q <= 1): the highest value of the bucket
 * holding the ceil(q * count)-th sample, never above max; 0 if empty. */
uint64_t xl_hist_quantile(const struct xl_hist *h, double q);

#endif
