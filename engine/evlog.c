/* evlog.c: the event log: JSON Lines (RFC 8259) built with jansson, one
 * io_uring write per line on the worker that finished the transfer or call. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "evlog.h"
#include "hdr.h"
#include "log.h"
#include "metrics.h"
#include "worker.h"

/* One write in flight: the line stays here until the kernel is done. */
struct evlog_write {
	struct metrics_op op; /* METRICS_OP_EVLOG; first */
	struct evlog_write *prev, *next; /* the worker's writes in flight */
	size_t len, off;
	char data[];
};

/* Per worker, written only by that worker (the counters are read by the
 * scrape on worker 0): a slot each, on its own cache line. */
struct evlog_worker {
	alignas(64) _Atomic uint64_t written;
	_Atomic uint64_t dropped;
	unsigned inflight;
	struct evlog_write *pending; /* in flight; kept until exit once stopped */
	bool stopped;
	bool warned;
};

static int evlog_fd = -1; /* set before the workers start, read-only after */
static struct evlog_worker per_worker[IDS_MAX_SHARDS];

int evlog_open(const struct config *c)
{
	const char *path = c->engine.event_log;
	struct stat st;
	int fd, fl;

	if (!path)
		return -1;
	if (!strcmp(path, "-")) {
		fd = STDOUT_FILENO;
		fl = fcntl(fd, F_GETFL);
		if (fl < 0) {
			log_error("event_log: stdout: %s", strerror(errno));
			return -1;
		}
		/* Writes at "the current position" from several rings would race
		 * on a plain file; appended, each line lands whole at the end. */
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && !(fl & O_APPEND))
			fcntl(fd, F_SETFL, fl | O_APPEND);
	} else {
		fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd < 0) {
			log_error("event_log: cannot open %s: %s", path, strerror(errno));
			return -1;
		}
	}
	/* A pipe whose reader went away must cost lines (EPIPE, counted), not
	 * the process: a write executed on a worker would raise SIGPIPE there. */
	if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode))
		signal(SIGPIPE, SIG_IGN);
	evlog_fd = fd;
	return fd;
}

/* A string cut to EVLOG_FIELD_MAX bytes; bytes that are not valid UTF-8
 * (jansson refuses them) become '?'. NULL is null. */
static json_t *jstr(const char *s)
{
	char buf[EVLOG_FIELD_MAX];
	size_t n;
	json_t *j;

	if (!s)
		return json_null();
	n = strnlen(s, EVLOG_FIELD_MAX);
	j = json_stringn(s, n);
	if (j)
		return j;
	for (size_t i = 0; i < n; i++)
		buf[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
	return json_stringn(buf, n);
}

/* The user part of a name-addr or URI ("<sip:+12125550147@host>;tag=x" →
 * "+12125550147"), or the text itself if it has none. */
static json_t *juser(const char *text)
{
	struct sip_addr a;
	char buf[EVLOG_FIELD_MAX];

	if (!text)
		return json_null();
	if (sip_addr_read(str_make(text, strlen(text)), &a, NULL) == 0 && a.has_uri &&
	    a.uri.user.n) {
		size_t n = a.uri.user.n < sizeof(buf) - 1 ? a.uri.user.n : sizeof(buf) - 1;

		memcpy(buf, a.uri.user.p, n);
		buf[n] = 0;
		return jstr(buf);
	}
	return jstr(text);
}

static json_t *jtime(const struct timespec *now)
{
	char buf[64];
	struct tm tm;

	gmtime_r(&now->tv_sec, &tm);
	snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 now->tv_nsec / 1000000);
	return json_string(buf);
}

static int dump(json_t *o, char *buf, size_t cap)
{
	size_t n;

	if (!o)
		return -1;
	if (cap > EVLOG_LINE_MAX)
		cap = EVLOG_LINE_MAX;
	n = json_dumpb(o, buf, cap, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (n == 0 || n + 1 > cap)
		return -1;
	buf[n++] = '\n';
	return (int)n;
}

/* json_pack's "o" takes the reference, and a NULL one fails the pack. */
int evlog_format_transfer(const struct evlog_transfer *t, const struct timespec *now,
			  char *buf, size_t cap)
{
	json_t *answer = t->answer_us ? json_integer((json_int_t)(t->answer_us / 1000))
				      : json_null();

	return dump(json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:i, s:I, s:o, s:I}",
			      "event", "transfer", "time", jtime(now),
			      "a_call_id", jstr(t->a_call_id), "b_call_id", jstr(t->b_call_id),
			      "c_call_id", jstr(t->c_call_id), "trunk", jstr(t->trunk),
			      "caller", juser(t->caller_uri), "target", jstr(t->target),
			      "outcome", jstr(t->outcome), "status", (int)t->status,
			      "refer_accept_us", (json_int_t)t->accept_us,
			      "refer_answer_ms", answer,
			      "duration_ms", (json_int_t)(t->duration_us / 1000)),
		    buf, cap);
}

int evlog_format_call(const struct evlog_call *c, const struct timespec *now, char *buf,
		      size_t cap)
{
	return dump(json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:i}",
			      "event", "call", "time", jtime(now),
			      "a_call_id", jstr(c->a_call_id), "b_call_id", jstr(c->b_call_id),
			      "c_call_id", jstr(c->c_call_id), "trunk", jstr(c->trunk),
			      "caller", juser(c->caller_uri), "callee", juser(c->callee_uri),
			      "outcome", jstr(c->outcome),
			      "duration_ms", (json_int_t)(c->duration_us / 1000),
			      "transfers", (int)c->transfers),
		    buf, cap);
}

static void dropped(struct evlog_worker *s)
{
	atomic_fetch_add_explicit(&s->dropped, 1, memory_order_relaxed);
}

static void write_done(struct evlog_worker *s, struct evlog_write *op)
{
	if (op->prev)
		op->prev->next = op->next;
	else
		s->pending = op->next;
	if (op->next)
		op->next->prev = op->prev;
	free(op);
}

static void write_arm(struct worker *w, struct evlog_write *op)
{
	struct io_uring_sqe *sqe = worker_sqe(w);

	if (!sqe) {
		dropped(&per_worker[w->id]);
		write_done(&per_worker[w->id], op);
		return;
	}
	/* Offset -1: the file position, which O_APPEND puts at the end. */
	io_uring_prep_write(sqe, evlog_fd, op->data + op->off, (unsigned)(op->len - op->off),
			    (uint64_t)-1);
	io_uring_sqe_set_data64(sqe, (uintptr_t)op | WORKER_TAG_METRICS);
	per_worker[w->id].inflight++;
}

static void line_write(struct worker *w, const char *line, int len)
{
	struct evlog_worker *s = &per_worker[w->id];
	struct evlog_write *op;

	if (len < 0) {
		dropped(s);
		return;
	}
	if (s->stopped) { /* the ring is gone: the loop ended, blocking is harmless now */
		if (write(evlog_fd, line, (size_t)len) == len)
			atomic_fetch_add_explicit(&s->written, 1, memory_order_relaxed);
		else
			dropped(s);
		return;
	}
	op = s->inflight < EVLOG_MAX_INFLIGHT ? malloc(sizeof(*op) + (size_t)len) : NULL;
	if (!op) {
		dropped(s);
		return;
	}
	op->op.kind = METRICS_OP_EVLOG;
	op->len = (size_t)len;
	op->off = 0;
	memcpy(op->data, line, (size_t)len);
	op->prev = NULL;
	op->next = s->pending;
	if (s->pending)
		s->pending->prev = op;
	s->pending = op;
	write_arm(w, op);
}

static void now_real(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

void evlog_transfer(struct worker *w, const struct evlog_transfer *t)
{
	char line[EVLOG_LINE_MAX];
	struct timespec now;

	if (evlog_fd < 0)
		return;
	now_real(&now);
	line_write(w, line, evlog_format_transfer(t, &now, line, sizeof(line)));
}

void evlog_call(struct worker *w, const struct evlog_call *c)
{
	char line[EVLOG_LINE_MAX];
	struct timespec now;

	if (evlog_fd < 0)
		return;
	now_real(&now);
	line_write(w, line, evlog_format_call(c, &now, line, sizeof(line)));
}

void evlog_on_cqe(struct worker *w, void *ptr, struct io_uring_cqe *cqe)
{
	struct evlog_worker *s = &per_worker[w->id];
	struct evlog_write *op = ptr;

	s->inflight--;
	if (cqe->res < 0) {
		if (!s->warned)
			log_warn("worker %u: event log write failed: %s (further failures are "
				 "only counted)", w->id, strerror(-cqe->res));
		s->warned = true;
		dropped(s);
	} else if (cqe->res == 0) {
		dropped(s);
	} else if (op->off + (size_t)cqe->res < op->len) {
		op->off += (size_t)cqe->res; /* short: write the rest (a regular file only) */
		write_arm(w, op);
		return;
	} else {
		atomic_fetch_add_explicit(&s->written, 1, memory_order_relaxed);
	}
	write_done(s, op);
}

void evlog_worker_stop(struct worker *w)
{
	per_worker[w->id].stopped = true;
}

uint64_t evlog_lines_written(void)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < IDS_MAX_SHARDS; i++)
		n += atomic_load_explicit(&per_worker[i].written, memory_order_relaxed);
	return n;
}

uint64_t evlog_lines_dropped(void)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < IDS_MAX_SHARDS; i++)
		n += atomic_load_explicit(&per_worker[i].dropped, memory_order_relaxed);
	return n;
}
