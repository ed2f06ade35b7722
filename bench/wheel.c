/* wheel.c (bench): engine/wheel.c timing 10 M starts+cancels and 10 M starts+fires with
 * RFC 3261 §17 deadlines (T1 = 500 ms .. 64*T1 = 32 s), next to a binary min-heap doing the same. */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wheel.h"

#define REPS_MAX 31
#define OPS (10 * 1000 * 1000)
#define NTIMERS_DEFAULT (100 * 1000) /* concurrent timers: tens of thousands of transactions */
#define TARGET_STARTS_PER_S 300e3 /* the issue: hundreds of thousands per second */

#define container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

/* ---- workload ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t ntimers = NTIMERS_DEFAULT; /* -n: timers in play */

static uint64_t rnd(void) /* xorshift64*: a few ns, counted in both columns */
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dull;
}

/* A random timer's index: multiply-shift, as a division would cost more
 * than some of what is measured. */
static uint32_t pick(void)
{
	return (uint32_t)(((rnd() >> 32) * ntimers) >> 32);
}

/* What a worker arms: A/E retransmits from T1 doubling to T2 = 4 s, K/I
 * T4 = 5 s, B/F/H/J/D 64*T1 = 32 s, the odd other timeout in between. */
static uint64_t sip_delay(void)
{
	uint64_t r = rnd();

	switch (r % 8) {
	case 0: case 1: case 2: case 3:
		return 500u << (r >> 8) % 4;
	case 4: case 5:
		return 32000;
	case 6:
		return 5000;
	default:
		return 500 + (r >> 8) % 31500;
	}
}

/* ---- the wheel ---- */

struct wtimer {
	struct wheel_timer t;
	uint64_t fires;
};

static struct wheel wh;
static uint64_t wfires_left;

static void on_wfire(struct wheel_timer *t)
{
	struct wtimer *x = container_of(t, struct wtimer, t);

	x->fires++;
	if (wfires_left && --wfires_left)
		wheel_timer_start(&wh, t, wheel_now(&wh) + sip_delay());
}

/* OPS pairs: start a random timer (moving it if armed) and cancel another,
 * the clock moving 1 ms every 1000 operations, as a busy worker's would. */
static void wheel_start_cancel(struct wtimer *x)
{
	uint64_t now = 0;

	wheel_init(&wh, now);
	wfires_left = 0;
	for (uint32_t i = 0; i < OPS; i++) {
		wheel_timer_start(&wh, &x[pick()].t, now + sip_delay());
		wheel_timer_cancel(&x[pick()].t);
		if (i % 1000 == 0)
			wheel_advance(&wh, ++now);
	}
	for (uint32_t i = 0; i < ntimers; i++)
		wheel_timer_cancel(&x[i].t);
}

/* All ntimers armed; each one that fires is re-armed with a new deadline,
 * and the clock ticks 1 ms at a time until OPS have fired. */
static void wheel_start_fire(struct wtimer *x)
{
	uint64_t now = 0;

	wheel_init(&wh, now);
	wfires_left = OPS;
	for (uint32_t i = 0; i < ntimers; i++)
		wheel_timer_start(&wh, &x[i].t, now + sip_delay());
	while (wfires_left)
		wheel_advance(&wh, ++now);
	for (uint32_t i = 0; i < ntimers; i++)
		wheel_timer_cancel(&x[i].t);
}

/* ---- the reference: a binary min-heap with a back index ---- */

/* What a timer usually is elsewhere (libuv, libevent, nginx's rbtree is
 * alike in cost): O(log n) start and cancel. */
struct htimer {
	uint64_t at;
	uint32_t idx; /* position in the heap, UINT32_MAX: not armed */
	uint64_t fires;
};

static struct htimer **heap;
static uint32_t heap_n;

static void heap_set(uint32_t i, struct htimer *t)
{
	heap[i] = t;
	t->idx = i;
}

static void heap_up(uint32_t i, struct htimer *t)
{
	while (i && heap[(i - 1) / 2]->at > t->at) {
		heap_set(i, heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(i, t);
}

static void heap_down(uint32_t i, struct htimer *t)
{
	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= heap_n)
			break;
		if (c + 1 < heap_n && heap[c + 1]->at < heap[c]->at)
			c++;
		if (heap[c]->at >= t->at)
			break;
		heap_set(i, heap[c]);
		i = c;
	}
	heap_set(i, t);
}

static void heap_cancel(struct htimer *t)
{
	uint32_t i = t->idx;
	struct htimer *last;

	if (i == UINT32_MAX)
		return;
	t->idx = UINT32_MAX;
	last = heap[--heap_n];
	if (last == t)
		return;
	if (i && heap[(i - 1) / 2]->at > last->at)
		heap_up(i, last);
	else
		heap_down(i, last);
}

static void heap_start(struct htimer *t, uint64_t at)
{
	heap_cancel(t);
	t->at = at;
	heap_up(heap_n++, t);
}

/* Pop what is due without re-arming, as wheel_advance does in
 * wheel_start_cancel (wfires_left is 0 there). */
static void heap_expire(uint64_t now)
{
	while (heap_n && heap[0]->at <= now) {
		heap[0]->fires++;
		heap_cancel(heap[0]);
	}
}

/* Same loop as wheel_start_cancel. */
static void heap_start_cancel(struct htimer *x)
{
	uint64_t now = 0;

	heap_n = 0;
	for (uint32_t i = 0; i < OPS; i++) {
		heap_start(&x[pick()], now + sip_delay());
		heap_cancel(&x[pick()]);
		if (i % 1000 == 0)
			heap_expire(++now);
	}
	for (uint32_t i = 0; i < ntimers; i++)
		heap_cancel(&x[i]);
}

/* Same loop as wheel_start_fire. */
static void heap_start_fire(struct htimer *x)
{
	uint64_t now = 0, left = OPS;

	heap_n = 0;
	for (uint32_t i = 0; i < ntimers; i++)
		heap_start(&x[i], now + sip_delay());
	while (left) {
		now++;
		while (left && heap_n && heap[0]->at <= now) {
			struct htimer *t = heap[0];

			heap_cancel(t);
			t->fires++;
			if (--left)
				heap_start(t, now + sip_delay());
		}
	}
	for (uint32_t i = 0; i < ntimers; i++)
		heap_cancel(&x[i]);
}

/* ---- measurement ---- */

enum { B_WHEEL_SC, B_HEAP_SC, B_WHEEL_SF, B_HEAP_SF, B__COUNT };

struct bench {
	const char *name;
	void (*wheel)(struct wtimer *x);
	void (*heap)(struct htimer *x);
	double ns[REPS_MAX]; /* ns per pair, one per repetition */
	double med;
	long heap_delta; /* bytes malloc'd and not freed across a run: 0 */
};

/* CPU time of this thread, not wall time: on a shared machine a wall clock
 * counts the moments another process held the core. */
static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return (long)(mi.uordblks + mi.hblkhd);
}

static void run(struct bench *b, struct wtimer *wx, struct htimer *hx, int rep)
{
	long before = heap_in_use();
	double t0 = now_s();

	if (b->wheel)
		b->wheel(wx);
	else
		b->heap(hx);
	b->ns[rep] = (now_s() - t0) * 1e9 / OPS;
	b->heap_delta = heap_in_use() - before;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(const double *v, int n)
{
	double s[REPS_MAX];

	memcpy(s, v, sizeof(*v) * (size_t)n);
	qsort(s, (size_t)n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static void report(const struct bench *b, int reps)
{
	double sc = b[B_WHEEL_SC].med, sf = b[B_WHEEL_SF].med;
	/* A start is at most a whole start+cancel pair: a lower bound on rate. */
	double starts = 1e9 / sc;

	printf("%d M pairs each, %u timers in play, median of %d repetitions\n",
	       OPS / 1000000, ntimers, reps);
	printf("sizeof(struct wheel) %zu B, sizeof(struct wheel_timer) %zu B\n\n",
	       sizeof(struct wheel), sizeof(struct wheel_timer));
	printf("%-34s %10s %12s\n", "", "ns/pair", "malloc'd B");
	for (int i = 0; i < B__COUNT; i++)
		printf("%-34s %10.1f %12ld\n", b[i].name, b[i].med, b[i].heap_delta);
	printf("\n");
	printf("wheel start+cancel   %6.1f ns  heap/wheel %.1fx\n", sc,
	       b[B_HEAP_SC].med / sc);
	printf("wheel start+fire     %6.1f ns  heap/wheel %.1fx\n", sf,
	       b[B_HEAP_SF].med / sf);
	printf("starts/s (>= pairs/s) %.1f M   target: >= %.0fk/s, no allocation  %s\n",
	       starts / 1e6, TARGET_STARTS_PER_S / 1e3,
	       starts >= TARGET_STARTS_PER_S && b[B_WHEEL_SC].heap_delta == 0 &&
	       b[B_WHEEL_SF].heap_delta == 0 ? "met" : "MISSED");
}

static int opts_parse(int *reps, int argc, char **argv)
{
	int ch;
	long n = NTIMERS_DEFAULT;

	*reps = 3;
	while ((ch = getopt(argc, argv, "r:n:h")) != -1) {
		if (ch == 'r')
			*reps = atoi(optarg);
		else if (ch == 'n')
			n = atol(optarg);
		else
			goto usage;
	}
	if (optind == argc && *reps >= 1 && *reps <= REPS_MAX && n >= 1000 && n <= 10000000) {
		ntimers = (uint32_t)n;
		return 0;
	}
usage:
	fprintf(ch == 'h' ? stdout : stderr,
		"usage: wheel [-r REPS] [-n TIMERS]\n"
		"  -r  repetitions, the median is reported (default 3, max %d)\n"
		"  -n  timers armed at once (default %d)\n",
		REPS_MAX, NTIMERS_DEFAULT);
	return ch == 'h' ? 1 : -EINVAL;
}

int main(int argc, char **argv)
{
	struct bench b[B__COUNT] = {
		[B_WHEEL_SC] = { .name = "wheel: start + cancel", .wheel = wheel_start_cancel },
		[B_HEAP_SC] = { .name = "binary heap: start + cancel", .heap = heap_start_cancel },
		[B_WHEEL_SF] = { .name = "wheel: start + fire (advance)", .wheel = wheel_start_fire },
		[B_HEAP_SF] = { .name = "binary heap: start + pop", .heap = heap_start_fire },
	};
	int reps, r = opts_parse(&reps, argc, argv);
	struct wtimer *wx;
	struct htimer *hx;

	if (r)
		return r > 0 ? 0 : 2;
	wx = calloc(ntimers, sizeof(*wx));
	hx = calloc(ntimers, sizeof(*hx));
	heap = calloc(ntimers, sizeof(*heap));
	if (!wx || !hx || !heap)
		return 1;
	for (uint32_t i = 0; i < ntimers; i++) {
		wheel_timer_init(&wx[i].t, on_wfire);
		hx[i].idx = UINT32_MAX;
	}
	/* Repetitions interleave the four so drift of the machine hits all. */
	for (int rep = 0; rep < reps; rep++)
		for (int i = 0; i < B__COUNT; i++)
			run(&b[i], wx, hx, rep);
	for (int i = 0; i < B__COUNT; i++)
		b[i].med = median(b[i].ns, reps);
	report(b, reps);
	free(wx);
	free(hx);
	free(heap);
	return 0;
}
