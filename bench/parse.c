/* parse.c: times proto/'s parser against libre's sip_msg_decode() and a
 * memchr line-split floor over the corpus. RFC 3261 §7, §8.1.1 (work done). */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "hdr.h"
#include "msg.h"
#include "re_shim.h"

#ifndef DATA_DIR
#define DATA_DIR "tests/data"
#endif

#define REPS_MAX 101

/* The targets. */
#define TARGET_VS_LIBRE 20.0  /* at least this many times faster than libre */
#define TARGET_NS 300.0       /* below this many ns per message */
#define TARGET_VS_FLOOR 5.0   /* at most this many times the floor */

struct corpus {
	size_t n;
	size_t bytes;
	char **buf;
	size_t *len;
	struct re_shim_buf **re;
};

struct opts {
	int reps;
	double seconds;
	const char *dir;
};

/* One pass over every message; returns a checksum so that no work is dead. */
typedef uint64_t (*pass_fn)(const struct corpus *c);

enum { B_OURS, B_OURS_MSG, B_LIBRE, B_FLOOR, B__COUNT };

struct bench {
	const char *name;
	pass_fn pass;
	unsigned long passes; /* per measurement, from calibrate() */
	double ns[REPS_MAX];  /* ns per message, one per repetition */
	double med;
};

static volatile uint64_t sink; /* where checksums go, so they are kept */

/* The engine parses then reads the core of every message it receives; that
 * pair is the fair counterpart of sip_msg_decode(), which also decodes the
 * Request-URI, top Via, From, To and CSeq. One struct reused, as a worker
 * reuses its own. */
static uint64_t pass_ours(const struct corpus *c)
{
	static struct sip_msg m;
	struct sip_core core;
	uint64_t sum = 0;

	for (size_t i = 0; i < c->n; i++) {
		if (sip_msg_parse(&m, c->buf[i], c->len[i]) || sip_core_read(&m, &core)) {
			sum += 1u << 20; /* verify() made sure this does not happen */
			continue;
		}
		sum += core.cseq.num + core.call_id.n;
	}
	return sum;
}

/* Not a target, but it tells which half to look at first. */
static uint64_t pass_ours_msg_only(const struct corpus *c)
{
	static struct sip_msg m;
	uint64_t sum = 0;

	for (size_t i = 0; i < c->n; i++)
		sum += sip_msg_parse(&m, c->buf[i], c->len[i]) ? 1u << 20 : m.nhdrs;
	return sum;
}

static uint64_t pass_libre(const struct corpus *c)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < c->n; i++) {
		if (re_shim_buf_decode(c->re[i], &sum))
			sum += 1u << 20;
	}
	return sum;
}

/* No parser can do less than find every line end once. */
static uint64_t pass_floor(const struct corpus *c)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < c->n; i++) {
		const char *p = c->buf[i], *end = p + c->len[i], *lf;

		while ((lf = memchr(p, '\n', (size_t)(end - p)))) {
			sum += (size_t)(lf - p);
			p = lf + 1;
		}
	}
	return sum;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Seconds taken by passes passes. */
static double run(const struct bench *b, const struct corpus *c, unsigned long passes)
{
	uint64_t sum = 0;
	double t0 = now();

	for (unsigned long i = 0; i < passes; i++)
		sum += b->pass(c);
	sink += sum;
	return now() - t0;
}

/* Passes that take at least seconds: double until a run is long enough to
 * time reliably (also warming caches and the branch predictor), then scale. */
static unsigned long calibrate(const struct bench *b, const struct corpus *c,
			       double seconds)
{
	unsigned long passes = 1;
	double t;

	while ((t = run(b, c, passes)) < seconds / 10)
		passes *= 2;
	return (unsigned long)(passes * seconds / t * 1.1) + 1;
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

/* Median over repetitions of a ratio taken within each repetition, so that
 * a slow moment of the machine hits both sides of it. */
static double median_ratio(const struct bench *num, const struct bench *den, int reps)
{
	double r[REPS_MAX];

	for (int i = 0; i < reps; i++)
		r[i] = num->ns[i] / den->ns[i];
	return median(r, reps);
}

static int is_sip_file(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return n > 4 && strcmp(d->d_name + n - 4, ".sip") == 0;
}

static char *file_read(const char *dir, const char *name, size_t *len)
{
	char path[8192];
	struct stat st;
	char *buf = NULL;
	FILE *f;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return NULL;
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	if (fstat(fileno(f), &st) == 0 && (buf = malloc((size_t)st.st_size + 1)))
		*len = fread(buf, 1, (size_t)st.st_size, f);
	fclose(f);
	return buf;
}

/* dir may be the data directory (holding corpus/) or the corpus itself. */
static const char *corpus_dir(const char *dir)
{
	static char sub[8192];
	struct stat st;

	snprintf(sub, sizeof(sub), "%s/corpus", dir);
	return stat(sub, &st) == 0 && S_ISDIR(st.st_mode) ? sub : dir;
}

static int corpus_add(struct corpus *c, const char *dir, const char *name)
{
	size_t i = c->n;

	c->buf[i] = file_read(dir, name, &c->len[i]);
	if (!c->buf[i]) {
		fprintf(stderr, "parse: %s/%s: cannot read\n", dir, name);
		return -EIO;
	}
	c->n++;
	c->bytes += c->len[i];
	return re_shim_buf_new(&c->re[i], c->buf[i], c->len[i]);
}

/* Returns 0, or -errno with a message printed. */
static int corpus_load(struct corpus *c, const char *dir)
{
	struct dirent **names;
	int n = scandir(dir, &names, is_sip_file, alphasort), r = 0;

	if (n <= 0) {
		fprintf(stderr, "parse: %s: no .sip files\n", dir);
		return -ENOENT;
	}
	c->buf = calloc((size_t)n, sizeof(*c->buf));
	c->len = calloc((size_t)n, sizeof(*c->len));
	c->re = calloc((size_t)n, sizeof(*c->re));
	if (!c->buf || !c->len || !c->re)
		r = -ENOMEM;
	for (int i = 0; i < n; i++) {
		if (!r)
			r = corpus_add(c, dir, names[i]->d_name);
		free(names[i]);
	}
	free(names);
	return r;
}

static void corpus_free(struct corpus *c)
{
	for (size_t i = 0; i < c->n; i++) {
		re_shim_buf_destroy(c->re[i]);
		free(c->buf[i]);
	}
	free(c->buf);
	free(c->len);
	free(c->re);
}

/* A parser that rejected some message would be timed on less work. */
static int verify(const struct corpus *c)
{
	static struct sip_msg m;
	struct sip_core core;
	struct re_fields re;
	int bad = 0;

	for (size_t i = 0; i < c->n; i++) {
		if (sip_msg_parse(&m, c->buf[i], c->len[i]) || sip_core_read(&m, &core)) {
			fprintf(stderr, "parse: message %zu: ours: %s\n", i, m.err);
			bad++;
		}
		if (re_shim_parse(c->buf[i], c->len[i], &re)) {
			fprintf(stderr, "parse: message %zu: libre rejects it\n", i);
			bad++;
		}
	}
	return bad ? -EBADMSG : 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: parse [--reps N] [--seconds S] [DATA_DIR]\n"
		   "  DATA_DIR   directory of *.sip, or one holding corpus/ (default %s)\n"
		   "  --reps     repetitions, the median is reported (default 7, max %d)\n"
		   "  --seconds  minimum time of one measurement (default 0.3)\n",
		DATA_DIR, REPS_MAX);
}

/* Returns 0, 1 after --help, -EINVAL on a bad option. */
static int opts_parse(struct opts *o, int argc, char **argv)
{
	static const struct option longs[] = {
		{ "reps", required_argument, NULL, 'r' },
		{ "seconds", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	*o = (struct opts){ .reps = 7, .seconds = 0.3, .dir = DATA_DIR };
	while ((ch = getopt_long(argc, argv, "r:s:h", longs, NULL)) != -1) {
		if (ch == 'r')
			o->reps = atoi(optarg);
		else if (ch == 's')
			o->seconds = atof(optarg);
		else if (ch == 'h')
			break;
		else
			goto bad;
	}
	if (ch == 'h') {
		usage(stdout);
		return 1;
	}
	if (optind < argc)
		o->dir = argv[optind++];
	if (optind < argc || o->reps < 1 || o->reps > REPS_MAX || !(o->seconds > 0))
		goto bad;
	return 0;
bad:
	usage(stderr);
	return -EINVAL;
}

static void measure(struct bench *b, int nb, const struct corpus *c,
		    const struct opts *o)
{
	for (int i = 0; i < nb; i++)
		b[i].passes = calibrate(&b[i], c, o->seconds);
	/* Repetitions interleave the parsers so drift of the machine (turbo,
	 * a noisy neighbour) is spread over all of them. */
	for (int r = 0; r < o->reps; r++) {
		for (int i = 0; i < nb; i++)
			b[i].ns[r] = run(&b[i], c, b[i].passes) * 1e9 /
				     ((double)b[i].passes * (double)c->n);
	}
	for (int i = 0; i < nb; i++)
		b[i].med = median(b[i].ns, o->reps);
}

static const char *verdict(int ok)
{
	return ok ? "met" : "MISSED";
}

static void report(const struct bench *b, int nb, const struct corpus *c,
		   const struct opts *o)
{
	const struct bench *ours = &b[B_OURS], *libre = &b[B_LIBRE], *floor = &b[B_FLOOR];
	double vs_libre = median_ratio(libre, ours, o->reps);
	double vs_floor = median_ratio(ours, floor, o->reps);
	double avg = (double)c->bytes / (double)c->n;

	printf("corpus: %zu messages, %zu bytes (%.0f B/message) in %s\n", c->n, c->bytes,
	       avg, corpus_dir(o->dir));
	printf("median of %d repetitions, each >= %.2f s\n\n", o->reps, o->seconds);
	printf("%-38s %10s %10s\n", "", "ns/message", "MB/s");
	for (int i = 0; i < nb; i++)
		printf("%-38s %10.1f %10.1f\n", b[i].name, b[i].med, avg / b[i].med * 1e3);
	printf("\n");
	printf("libre/ours  %7.1fx      target: >= %.0fx libre          %s\n", vs_libre,
	       TARGET_VS_LIBRE, verdict(vs_libre >= TARGET_VS_LIBRE));
	printf("ours        %7.1f ns    target: < %.0f ns/message       %s\n", ours->med,
	       TARGET_NS, verdict(ours->med < TARGET_NS));
	printf("ours/floor  %7.1fx      target: within %.0fx of the floor %s\n", vs_floor,
	       TARGET_VS_FLOOR, verdict(vs_floor <= TARGET_VS_FLOOR));
	printf("(checksum %llu)\n", (unsigned long long)sink);
}

int main(int argc, char **argv)
{
	struct bench b[B__COUNT] = {
		[B_OURS] = { .name = "xferd sip_msg_parse + sip_core_read", .pass = pass_ours },
		[B_OURS_MSG] = { .name = "  of which sip_msg_parse alone", .pass = pass_ours_msg_only },
		[B_LIBRE] = { .name = "libre sip_msg_decode + mem_deref", .pass = pass_libre },
		[B_FLOOR] = { .name = "floor: memchr('\\n') line split", .pass = pass_floor },
	};
	struct corpus c = { 0 };
	struct opts o;
	int r = opts_parse(&o, argc, argv);

	if (r)
		return r > 0 ? 0 : 2;
	r = corpus_load(&c, corpus_dir(o.dir));
	if (!r)
		r = verify(&c);
	if (!r) {
		measure(b, B__COUNT, &c, &o);
		report(b, B__COUNT, &c, &o);
	}
	corpus_free(&c);
	return r ? 1 : 0;
}
