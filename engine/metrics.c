/* metrics.c: /metrics (Prometheus text exposition format 0.0.4) and /healthz
 * over HTTP/1.1 (RFC 9112) on worker 0's io_uring: accept, recv, send, close. */
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "evlog.h"
#include "log.h"
#include "metrics.h"

/* Where the heap figures come from: jemalloc when engine/meson.build links
 * it (never under sanitizers) and its header is there; AddressSanitizer's
 * allocator, which replaces malloc in a sanitized build; else glibc's
 * mallinfo2(). */
#if defined(XFERD_JEMALLOC) && defined(__has_include)
#if __has_include(<jemalloc/jemalloc.h>)
#include <jemalloc/jemalloc.h>
#define METRICS_JEMALLOC 1
#define METRICS_ALLOCATOR "jemalloc"
#endif
#endif
#if !defined(METRICS_JEMALLOC) && defined(__has_include)
#if defined(__SANITIZE_ADDRESS__)
#define METRICS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define METRICS_ASAN 1
#endif
#endif
#if defined(METRICS_ASAN) && __has_include(<sanitizer/allocator_interface.h>)
#include <sanitizer/allocator_interface.h>
#define METRICS_ALLOCATOR "asan"
#else
#undef METRICS_ASAN
#endif
#endif
#ifndef METRICS_ALLOCATOR
#define METRICS_ALLOCATOR "libc"
#endif

#ifndef XFERD_VERSION
#define XFERD_VERSION "unknown"
#endif

#define TAG_MASK 7u /* worker.c packs user_data as pointer | tag */
#define ACCEPT_RETRY_MS 100
#define RENDER_FIRST_CAP 65536

/* ---- rendering ---- */

/* Every field of struct worker_stats is an _Atomic uint64_t (stats.h), so the
 * workers' blocks are summed word by word into one plain copy. */
_Static_assert(sizeof(struct worker_stats) % sizeof(_Atomic uint64_t) == 0,
	       "struct worker_stats must hold only _Atomic uint64_t");

struct out {
	char *p;
	size_t cap, n; /* n counts what was wanted, even past cap */
};

__attribute__((format(printf, 2, 3))) static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(o->n < o->cap ? o->p + o->n : NULL, o->n < o->cap ? o->cap - o->n : 0, fmt,
		      ap);
	va_end(ap);
	if (k > 0)
		o->n += (size_t)k;
}

static void family(struct out *o, const char *name, const char *type, const char *help)
{
	put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* v / 10^dec as a decimal without trailing zeros: 50 µs → "0.00005". */
static const char *fixed(char buf[32], uint64_t v, unsigned dec)
{
	uint64_t scale = 1;
	int n;

	for (unsigned i = 0; i < dec; i++)
		scale *= 10;
	n = snprintf(buf, 32, "%llu.%0*llu", (unsigned long long)(v / scale), (int)dec,
		     (unsigned long long)(v % scale));
	while (n > 0 && buf[n - 1] == '0')
		buf[--n] = 0;
	if (n > 0 && buf[n - 1] == '.')
		buf[--n] = 0;
	return buf;
}

static void stats_sum(struct worker_stats *t, const struct engine *e)
{
	const size_t words = sizeof(*t) / sizeof(_Atomic uint64_t);
	_Atomic uint64_t *dst = (_Atomic uint64_t *)t;

	memset(t, 0, sizeof(*t));
	for (unsigned i = 0; i < e->nworkers; i++) {
		const _Atomic uint64_t *src = (const _Atomic uint64_t *)&e->workers[i]->st;

		for (size_t k = 0; k < words; k++)
			atomic_store_explicit(&dst[k],
					      atomic_load_explicit(&dst[k], memory_order_relaxed) +
						      stats_get(&src[k]),
					      memory_order_relaxed);
	}
}

static void counter1(struct out *o, const char *name, const char *help, uint64_t v)
{
	family(o, name, "counter", help);
	put(o, "%s %llu\n", name, (unsigned long long)v);
}

/* A table indexed by SIP status code: samples only where nonzero; slot 0
 * holds codes out of range, or "none" where 0 means no status. */
static void codes(struct out *o, const char *name, const char *label, const _Atomic uint64_t *t,
		  const char *prefix, const char *slot0)
{
	for (unsigned c = 0; c < STATS_CODES; c++) {
		uint64_t v = stats_get(&t[c]);

		if (!v)
			continue;
		if (c)
			put(o, "%s{%s%s=\"%u\"} %llu\n", name, prefix, label, c, (unsigned long long)v);
		else
			put(o, "%s{%s%s=\"%s\"} %llu\n", name, prefix, label, slot0,
			    (unsigned long long)v);
	}
}

/* Cumulative buckets in seconds; _count is the +Inf bucket as read, so the
 * two agree even while a worker is observing. */
static void histogram(struct out *o, const char *name, const char *help,
		      const struct stats_hist *h, const uint64_t *bounds_us)
{
	uint64_t cum = 0;
	char b[32];

	family(o, name, "histogram", help);
	for (unsigned i = 0; i < STATS_HIST_BUCKETS; i++) {
		cum += stats_get(&h->buckets[i]);
		if (i < STATS_HIST_BUCKETS - 1)
			put(o, "%s_bucket{le=\"%s\"} %llu\n", name, fixed(b, bounds_us[i], 6),
			    (unsigned long long)cum);
		else
			put(o, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
	}
	put(o, "%s_sum %s\n", name, fixed(b, stats_get(&h->sum_us), 6));
	put(o, "%s_count %llu\n", name, (unsigned long long)cum);
}

static void render_memory(struct out *o)
{
	family(o, "xferd_memory_bytes", "gauge",
	       "Heap memory by kind: allocated by the program, resident in physical pages "
	       "(jemalloc stats.allocated/stats.resident; see xferd_build_info's allocator).");
#ifdef METRICS_JEMALLOC
	{
		uint64_t epoch = 1;
		size_t allocated = 0, resident = 0, sz = sizeof(epoch);

		/* Writing "epoch" refreshes jemalloc's cached statistics. */
		if (mallctl("epoch", &epoch, &sz, &epoch, sz) == 0) {
			sz = sizeof(size_t);
			if (mallctl("stats.allocated", &allocated, &sz, NULL, 0) == 0)
				put(o, "xferd_memory_bytes{kind=\"allocated\"} %zu\n", allocated);
			sz = sizeof(size_t);
			if (mallctl("stats.resident", &resident, &sz, NULL, 0) == 0)
				put(o, "xferd_memory_bytes{kind=\"resident\"} %zu\n", resident);
		}
	}
#elif defined(METRICS_ASAN)
	put(o, "xferd_memory_bytes{kind=\"allocated\"} %zu\n",
	    __sanitizer_get_current_allocated_bytes());
	put(o, "xferd_memory_bytes{kind=\"resident\"} %zu\n", __sanitizer_get_heap_size());
#elif defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
	{
		struct mallinfo2 mi = mallinfo2();

		put(o, "xferd_memory_bytes{kind=\"allocated\"} %zu\n", mi.uordblks + mi.hblkhd);
		put(o, "xferd_memory_bytes{kind=\"resident\"} %zu\n", mi.arena + mi.hblkhd);
	}
#endif
}

int metrics_heap_tune(void)
{
#ifdef METRICS_JEMALLOC
	bool on = true;
	int r = mallctl("background_thread", NULL, NULL, &on, sizeof(on));

	if (r)
		log_warn("jemalloc background_thread: %s: freed memory is purged only "
			 "when workers allocate", strerror(r));
	return -r;
#else
	return 0;
#endif
}

static const char *const live_kinds[] = { "calls", "transactions", "timers", "dialogs",
					  "tcp_connections" };

size_t metrics_render(const struct engine *e, char *buf, size_t cap)
{
	struct out o = { buf, cap, 0 };
	struct worker_stats t;
	char b[32];
	uint64_t live[5];

	stats_sum(&t, e);
	family(&o, "xferd_build_info", "gauge",
	       "Always 1: the version of xferd and the allocator it runs on.");
	put(&o, "xferd_build_info{version=\"%s\",allocator=\"%s\"} 1\n", XFERD_VERSION,
	    METRICS_ALLOCATOR);
	family(&o, "xferd_draining", "gauge",
	       "1 after SIGTERM/SIGINT while running calls finish (new calls get 503), else 0.");
	put(&o, "xferd_draining %d\n", atomic_load_explicit(&e->draining, memory_order_relaxed));

	family(&o, "xferd_calls_active", "gauge", "Calls admitted and not finished yet.");
	put(&o, "xferd_calls_active %llu\n", (unsigned long long)stats_get(&t.calls_active));
	family(&o, "xferd_calls_total", "counter",
	       "Calls finished, by outcome (rejected: refused by xferd at admission).");
	for (unsigned i = 0; i < STATS_CALL__COUNT; i++)
		put(&o, "xferd_calls_total{outcome=\"%s\"} %llu\n", stats_call_outcome_name(i),
		    (unsigned long long)stats_get(&t.calls[i]));
	counter1(&o, "xferd_calls_admitted_total", "Calls admitted (INVITEs that started a call).",
		 stats_get(&t.calls_total));

	family(&o, "xferd_refer_responses_total", "counter", "Final responses sent to REFER, by code.");
	codes(&o, "xferd_refer_responses_total", "code", t.refer_responses, "", "other");
	family(&o, "xferd_transfers_total", "counter",
	       "Transfers finished, by outcome and the final status NOTIFYed (none: no NOTIFY).");
	for (unsigned i = 0; i < XFER__OUTCOME_COUNT; i++) {
		char prefix[64];

		snprintf(prefix, sizeof(prefix), "outcome=\"%s\",", xfer_outcome_name(i));
		codes(&o, "xferd_transfers_total", "status", t.transfers[i], prefix, "none");
	}
	family(&o, "xferd_notify_sent_total", "counter",
	       "NOTIFYs sent to the transferor, by the status in their sipfrag body.");
	codes(&o, "xferd_notify_sent_total", "status", t.notify_sent, "", "other");
	family(&o, "xferd_notify_responses_total", "counter",
	       "Final responses to those NOTIFYs, by code (408: no response).");
	codes(&o, "xferd_notify_responses_total", "code", t.notify_responses, "", "other");
	histogram(&o, "xferd_refer_accept_seconds", "REFER received to 202 Accepted sent.",
		  &t.refer_accept, stats_refer_accept_bounds_us);
	histogram(&o, "xferd_transfer_answer_seconds",
		  "REFER received to the transfer target's 2xx.", &t.transfer_answer,
		  stats_transfer_answer_bounds_us);

	family(&o, "xferd_sip_messages_total", "counter",
	       "SIP messages received (in) and sent (out), by method (response: any response).");
	for (unsigned d = 0; d < 2; d++)
		for (unsigned m = 0; m < STATS_M__COUNT; m++)
			put(&o, "xferd_sip_messages_total{direction=\"%s\",method=\"%s\"} %llu\n",
			    d == STATS_IN ? "in" : "out", stats_method_name(m),
			    (unsigned long long)stats_get(&t.msgs[d][m]));
	counter1(&o, "xferd_parse_errors_total", "Received messages that did not parse as SIP.",
		 stats_get(&t.parse_errors));
	family(&o, "xferd_retransmissions_total", "counter",
	       "Retransmissions: in, absorbed by a transaction (a repeated request, or a "
	       "final after the first); out, sent by a transaction's timer.");
	put(&o, "xferd_retransmissions_total{direction=\"in\"} %llu\n",
	    (unsigned long long)stats_get(&t.retransmissions_in));
	put(&o, "xferd_retransmissions_total{direction=\"out\"} %llu\n",
	    (unsigned long long)stats_get(&t.retransmissions_out));
	counter1(&o, "xferd_responses_unmatched_total",
		 "Responses dropped for matching no transaction, not even one waiting out "
		 "Timer K (§17.1.3): later than 5 s, or never ours.",
		 stats_get(&t.responses_unmatched));
	counter1(&o, "xferd_udp_truncated_total",
		 "UDP datagrams dropped for being larger than a receive buffer.",
		 stats_get(&t.udp_truncated));
	counter1(&o, "xferd_send_errors_total",
		 "Messages that could not be sent, or that an ICMP error reported undelivered.",
		 stats_get(&t.send_errors));

	family(&o, "xferd_live_objects", "gauge",
	       "Objects in memory now: calls (until their last transaction), transactions, "
	       "timers, dialogs, TCP connections.");
	live[0] = stats_get(&t.calls_live);
	live[1] = stats_get(&t.txns_live);
	live[2] = stats_get(&t.timers_live);
	live[3] = stats_get(&t.dialogs_live);
	live[4] = stats_get(&t.tcp_conns_live);
	for (unsigned i = 0; i < 5; i++)
		put(&o, "xferd_live_objects{kind=\"%s\"} %llu\n", live_kinds[i],
		    (unsigned long long)live[i]);

	family(&o, "xferd_worker_busy_seconds_total", "counter",
	       "Time each worker spent handling completions, inbox and timers (not waiting).");
	for (unsigned i = 0; i < e->nworkers; i++)
		put(&o, "xferd_worker_busy_seconds_total{worker=\"%u\"} %s\n", i,
		    fixed(b, stats_get(&e->workers[i]->st.busy_ns), 9));
	family(&o, "xferd_workers_taking_calls", "gauge",
	       "Workers that new calls go to; fewer than all while they keep up (spread_above).");
	put(&o, "xferd_workers_taking_calls %u\n", atomic_load(&e->spread.active));
	family(&o, "xferd_worker_call_slots", "gauge",
	       "Slots of the Call-ID hash (of 256) whose new calls each worker takes.");
	for (unsigned i = 0; i < e->nworkers; i++) {
		unsigned n = 0;

		for (unsigned k = 0; k < SPREAD_SLOTS; k++)
			n += spread_owner(&e->spread, k) == i;
		put(&o, "xferd_worker_call_slots{worker=\"%u\"} %u\n", i, n);
	}
	family(&o, "xferd_worker_handoffs_total", "counter",
	       "Messages each worker handed to the worker that owns them.");
	for (unsigned i = 0; i < e->nworkers; i++)
		put(&o, "xferd_worker_handoffs_total{worker=\"%u\"} %llu\n", i,
		    (unsigned long long)stats_get(&e->workers[i]->st.handoffs_out));
	family(&o, "xferd_worker_handoffs_received_total", "counter",
	       "Messages each worker received from other workers.");
	for (unsigned i = 0; i < e->nworkers; i++)
		put(&o, "xferd_worker_handoffs_received_total{worker=\"%u\"} %llu\n", i,
		    (unsigned long long)stats_get(&e->workers[i]->st.handoffs_in));

	family(&o, "xferd_event_log_lines_total", "counter",
	       "Event log lines written, and dropped (no memory, too many pending, write errors).");
	put(&o, "xferd_event_log_lines_total{result=\"written\"} %llu\n",
	    (unsigned long long)evlog_lines_written());
	put(&o, "xferd_event_log_lines_total{result=\"dropped\"} %llu\n",
	    (unsigned long long)evlog_lines_dropped());
	render_memory(&o);
	if (cap)
		buf[o.n < cap ? o.n : cap - 1] = 0;
	return o.n;
}

/* ---- HTTP ---- */

enum conn_state {
	CONN_FREE,
	CONN_RECV, /* a recv in flight: reading the request head */
	CONN_SEND, /* a send in flight: writing the response */
};

struct mconn {
	struct metrics_op op; /* METRICS_OP_CONN; first */
	struct metrics_server *srv;
	enum conn_state state;
	int fd;
	bool timed_out;
	struct wheel_timer timer; /* METRICS_IO_TIMEOUT_MS for the whole exchange */
	size_t rlen;
	char *out;
	size_t out_len, out_off;
	char req[METRICS_REQ_MAX];
};

struct metrics_server {
	struct metrics_op accept_op; /* METRICS_OP_ACCEPT; first */
	struct metrics_op cancel_op; /* METRICS_OP_CANCEL */
	struct worker *w;
	int lfd;
	bool accept_busy, multishot, stopping;
	struct wheel_timer accept_retry;
	unsigned nconns;
	struct mconn conns[METRICS_MAX_CONNS];
	char *scratch; /* the rendered text, grown as needed */
	size_t scratch_cap;
};

/* Only worker 0 serves, and only its thread touches this. */
static struct metrics_server *server;
/* Set by metrics_worker_stop(): completions seen afterwards name memory
 * that may be gone, so they are not looked at. Each worker its own. */
static bool stopped[IDS_MAX_SHARDS];

static void set_data(struct io_uring_sqe *sqe, struct metrics_op *op)
{
	io_uring_sqe_set_data64(sqe, (uintptr_t)op | WORKER_TAG_METRICS);
}

static void accept_arm(struct metrics_server *s)
{
	struct io_uring_sqe *sqe = worker_sqe(s->w);

	if (!sqe) {
		wheel_timer_start(&s->w->wheel, &s->accept_retry, s->w->now_ms + ACCEPT_RETRY_MS);
		return;
	}
	if (s->multishot)
		io_uring_prep_multishot_accept(sqe, s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	else
		io_uring_prep_accept(sqe, s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	set_data(sqe, &s->accept_op);
	s->accept_busy = true;
}

static void on_accept_retry(struct wheel_timer *t)
{
	struct metrics_server *s =
		(struct metrics_server *)((char *)t - offsetof(struct metrics_server, accept_retry));

	if (!s->stopping && !s->accept_busy)
		accept_arm(s);
}

static void conn_close(struct mconn *c)
{
	wheel_timer_cancel(&c->timer);
	close(c->fd);
	free(c->out);
	c->out = NULL;
	c->state = CONN_FREE;
	c->srv->nconns--;
}

/* The client took too long: shutdown() makes the pending recv or send
 * complete, and its completion closes the connection. */
static void on_conn_timeout(struct wheel_timer *t)
{
	struct mconn *c = (struct mconn *)((char *)t - offsetof(struct mconn, timer));

	c->timed_out = true;
	shutdown(c->fd, SHUT_RDWR);
}

static void conn_recv(struct mconn *c)
{
	struct io_uring_sqe *sqe = worker_sqe(c->srv->w);

	if (!sqe) {
		conn_close(c);
		return;
	}
	io_uring_prep_recv(sqe, c->fd, c->req + c->rlen, sizeof(c->req) - 1 - c->rlen, 0);
	set_data(sqe, &c->op);
	c->state = CONN_RECV;
}

static void conn_send(struct mconn *c)
{
	struct io_uring_sqe *sqe = worker_sqe(c->srv->w);

	if (!sqe) {
		conn_close(c);
		return;
	}
	io_uring_prep_send(sqe, c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
	set_data(sqe, &c->op);
	c->state = CONN_SEND;
}

static void conn_respond(struct mconn *c, unsigned code, const char *reason, const char *ctype,
			 const char *body, size_t len)
{
	char head[256];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %u %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
			 code, reason, ctype, len);

	c->out = n > 0 ? malloc((size_t)n + len) : NULL;
	if (!c->out) {
		conn_close(c);
		return;
	}
	memcpy(c->out, head, (size_t)n);
	memcpy(c->out + n, body, len);
	c->out_len = (size_t)n + len;
	c->out_off = 0;
	conn_send(c);
}

static void conn_error(struct mconn *c, unsigned code, const char *reason)
{
	char body[64];
	int n = snprintf(body, sizeof(body), "%s\n", reason);

	conn_respond(c, code, reason, "text/plain; charset=utf-8", body, (size_t)n);
}

/* The text, rendered into the server's scratch buffer, grown until it fits
 * (counters may grow between two attempts, hence the slack). */
static void serve_metrics(struct mconn *c)
{
	struct metrics_server *s = c->srv;

	for (int i = 0; i < 4; i++) {
		size_t n = metrics_render(s->w->eng, s->scratch, s->scratch_cap);
		char *p;

		if (n < s->scratch_cap) {
			conn_respond(c, 200, "OK", "text/plain; version=0.0.4; charset=utf-8",
				     s->scratch, n);
			return;
		}
		p = realloc(s->scratch, n + n / 2 + 4096);
		if (!p)
			break;
		s->scratch = p;
		s->scratch_cap = n + n / 2 + 4096;
	}
	conn_error(c, 500, "Internal Server Error");
}

/* The request line of a complete head: "GET /metrics HTTP/1.1". */
static void conn_request(struct mconn *c)
{
	char *line = c->req, *eol = strpbrk(line, "\r\n"), *sp1, *sp2, *q;
	size_t plen;

	*eol = 0;
	sp1 = strchr(line, ' ');
	sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2 || sp1 == line || sp2 == sp1 + 1 || sp1[1] != '/' ||
	    strchr(sp2 + 1, ' ') || strncmp(sp2 + 1, "HTTP/1.", 7) || sp2[8] < '0' || sp2[8] > '9' || sp2[9]) {
		conn_error(c, 400, "Bad Request");
		return;
	}
	q = memchr(sp1 + 1, '?', (size_t)(sp2 - sp1 - 1)); /* a query is ignored */
	plen = (size_t)((q ? q : sp2) - (sp1 + 1));
	if ((size_t)(sp1 - line) != 3 || memcmp(line, "GET", 3)) {
		conn_error(c, 404, "Not Found");
	} else if (plen == 8 && !memcmp(sp1 + 1, "/metrics", 8)) {
		serve_metrics(c);
	} else if (plen == 8 && !memcmp(sp1 + 1, "/healthz", 8)) {
		if (atomic_load_explicit(&c->srv->w->eng->draining, memory_order_relaxed))
			conn_error(c, 503, "draining");
		else
			conn_respond(c, 200, "OK", "text/plain; charset=utf-8", "ok\n", 3);
	} else {
		conn_error(c, 404, "Not Found");
	}
}

static void on_conn_cqe(struct mconn *c, struct io_uring_cqe *cqe)
{
	if (cqe->res <= 0 || c->timed_out || c->srv->stopping) {
		conn_close(c);
		return;
	}
	if (c->state == CONN_SEND) {
		c->out_off += (size_t)cqe->res;
		if (c->out_off < c->out_len)
			conn_send(c); /* a partial send: the rest */
		else
			conn_close(c);
		return;
	}
	c->rlen += (size_t)cqe->res;
	c->req[c->rlen] = 0;
	if (memchr(c->req, 0, c->rlen))
		conn_error(c, 400, "Bad Request");
	else if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n"))
		conn_request(c);
	else if (c->rlen >= sizeof(c->req) - 1)
		conn_error(c, 400, "Bad Request"); /* the head does not fit */
	else
		conn_recv(c);
}

static void conn_open(struct metrics_server *s, int fd)
{
	struct mconn *c = NULL;

	for (unsigned i = 0; i < METRICS_MAX_CONNS && !c; i++)
		if (s->conns[i].state == CONN_FREE)
			c = &s->conns[i];
	if (!c || s->stopping) { /* full: the client sees the connection closed */
		close(fd);
		return;
	}
	c->fd = fd;
	c->rlen = 0;
	c->timed_out = false;
	s->nconns++;
	wheel_timer_start(&s->w->wheel, &c->timer, s->w->now_ms + METRICS_IO_TIMEOUT_MS);
	conn_recv(c);
}

static void on_accept(struct metrics_server *s, struct io_uring_cqe *cqe)
{
	bool more = cqe->flags & IORING_CQE_F_MORE;

	if (cqe->res >= 0)
		conn_open(s, cqe->res);
	if (more)
		return;
	s->accept_busy = false;
	if (s->stopping)
		return;
	if (cqe->res == -EINVAL && s->multishot) {
		log_info("metrics: multishot accept unsupported, accepting one at a time");
		s->multishot = false;
		accept_arm(s);
	} else if (cqe->res < 0) {
		log_warn("metrics: accept failed: %s", strerror(-cqe->res));
		wheel_timer_start(&s->w->wheel, &s->accept_retry, s->w->now_ms + ACCEPT_RETRY_MS);
	} else {
		accept_arm(s);
	}
}

void metrics_on_cqe(struct worker *w, void *ptr, struct io_uring_cqe *cqe)
{
	struct metrics_op *op = ptr;

	if (stopped[w->id])
		return;
	switch (op->kind) {
	case METRICS_OP_ACCEPT:
		on_accept((struct metrics_server *)op, cqe);
		break;
	case METRICS_OP_CONN:
		on_conn_cqe((struct mconn *)op, cqe);
		break;
	case METRICS_OP_EVLOG:
		evlog_on_cqe(w, op, cqe);
		break;
	case METRICS_OP_CANCEL:
		break;
	}
}

static int listen_open(const struct config_addr *a)
{
	int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&a->sa, a->sa_len) < 0 || listen(fd, 64) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

int metrics_worker_init(struct worker *w)
{
	const struct config_engine *ce = &w->cfg->engine;
	struct metrics_server *s;
	int fd;

	if (w->id != 0 || !ce->has_metrics)
		return 0;
	fd = listen_open(&ce->metrics);
	if (fd < 0) {
		log_error("metrics: cannot listen on %s: %s", ce->metrics.text, strerror(-fd));
		return fd;
	}
	s = calloc(1, sizeof(*s));
	if (s)
		s->scratch = malloc(RENDER_FIRST_CAP);
	if (!s || !s->scratch) {
		if (s)
			free(s);
		close(fd);
		return -ENOMEM;
	}
	s->scratch_cap = RENDER_FIRST_CAP;
	s->accept_op.kind = METRICS_OP_ACCEPT;
	s->cancel_op.kind = METRICS_OP_CANCEL;
	s->w = w;
	s->lfd = fd;
	s->multishot = true;
	wheel_timer_init(&s->accept_retry, on_accept_retry);
	for (unsigned i = 0; i < METRICS_MAX_CONNS; i++) {
		s->conns[i].op.kind = METRICS_OP_CONN;
		s->conns[i].srv = s;
		wheel_timer_init(&s->conns[i].timer, on_conn_timeout);
	}
	server = s;
	accept_arm(s);
	log_info("metrics: http://%s/metrics", ce->metrics.text);
	return 0;
}

/* Cancel every operation of ours on fd and wait until the kernel is done
 * with it: socket operations wait on poll, so once cancelled they never
 * touch their buffers again. The completions stay in the ring for whoever
 * reaps it; metrics_on_cqe() ignores them (see stopped). */
static int cancel_fd_sync(struct worker *w, int fd)
{
	struct io_uring_sync_cancel_reg reg = {
		.fd = fd,
		.flags = IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_ALL,
		.timeout = { .tv_sec = -1, .tv_nsec = -1 },
	};
	int r = io_uring_register_sync_cancel(&w->ring, &reg);

	return r >= 0 || r == -ENOENT ? 0 : r;
}

void metrics_worker_stop(struct worker *w)
{
	struct metrics_server *s = w->id == 0 ? server : NULL;
	int r;

	stopped[w->id] = true;
	/* SQEs queued in the last iteration (event log writes) must reach the
	 * kernel now: a cancel finds only what was submitted. */
	io_uring_submit(&w->ring);
	evlog_worker_stop(w);
	if (!s)
		return;
	s->stopping = true;
	wheel_timer_cancel(&s->accept_retry);
	r = cancel_fd_sync(w, s->lfd);
	for (unsigned i = 0; i < METRICS_MAX_CONNS; i++) {
		struct mconn *c = &s->conns[i];

		if (c->state == CONN_FREE)
			continue;
		if (!r)
			r = cancel_fd_sync(w, c->fd);
		wheel_timer_cancel(&c->timer);
		shutdown(c->fd, SHUT_RDWR);
	}
	if (r) {
		/* Kernel without synchronous cancel (< 6.0): the kernel may still
		 * write into the buffers, so they stay (reachable from server). */
		log_info("metrics: cannot cancel the endpoint's operations (%s); its memory is kept",
			 strerror(-r));
		return;
	}
	for (unsigned i = 0; i < METRICS_MAX_CONNS; i++)
		if (s->conns[i].state != CONN_FREE)
			conn_close(&s->conns[i]);
	close(s->lfd);
	server = NULL;
	free(s->scratch);
	free(s);
}
