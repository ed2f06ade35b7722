/* metrics.h: the Prometheus endpoint on worker 0 (GET /metrics in the text
 * exposition format 0.0.4, GET /healthz) over HTTP/1.1 (RFC 9112), on the worker's io_uring. */
#ifndef XFERD_METRICS_H
#define XFERD_METRICS_H

#include <stddef.h>

#include "worker.h"

/* Bounds of the HTTP side: connections at once, request head size, and
 * how long a client may take to send its request and read the answer. */
#define METRICS_MAX_CONNS 16
#define METRICS_REQ_MAX 4096
#define METRICS_IO_TIMEOUT_MS 5000

/* Every object whose pointer goes into user_data with WORKER_TAG_METRICS
 * starts with this, so metrics_on_cqe() knows what completed (metrics.c's
 * listener and connections, evlog.c's writes). Must be 8-aligned. */
enum metrics_op_kind {
	METRICS_OP_ACCEPT,
	METRICS_OP_CONN,
	METRICS_OP_CANCEL, /* a cancel request: nothing to do with its completion */
	METRICS_OP_EVLOG,
};

struct metrics_op {
	_Alignas(8) enum metrics_op_kind kind; /* 8: the tag takes the low 3 bits */
};

/* Worker 0 with [engine] metrics set: open the listening TCP socket
 * (SO_REUSEADDR, non-blocking) and arm a multishot accept. A no-op (0) on
 * other workers or without metrics. Called on the worker's thread after
 * tcp_worker_init(), before its wheel starts. Returns 0 or -errno (logged). */
int metrics_worker_init(struct worker *w);

/* A completion whose user_data carried WORKER_TAG_METRICS; ptr points at a
 * struct metrics_op (the tag already masked off). */
void metrics_on_cqe(struct worker *w, void *ptr, struct io_uring_cqe *cqe);

/* After the worker's loop ended, on every worker: submit what is queued,
 * cancel the endpoint's operations synchronously (io_uring_register_sync_cancel)
 * and free it, close its sockets, and switch the event log to synchronous
 * writes. Reaps nothing, so it may run before or after the other stops;
 * completions of ours that a later reaper hands to metrics_on_cqe() are
 * ignored. Event log writes still in flight keep their memory until exit. */
void metrics_worker_stop(struct worker *w);

/* Before the workers start: have jemalloc purge freed pages from its own
 * background thread. It purges only from inside malloc and free otherwise,
 * and a quiet worker would keep the memory of ended calls and transactions
 * resident. A no-op under other allocators. Returns 0 or -errno (logged). */
int metrics_heap_tune(void);

/* The exposition text of every family, the workers' counters summed (relaxed
 * loads, no lock; a sample may lag its neighbours by a few events, but
 * each histogram's +Inf bucket always equals its _count). Writes at most
 * cap bytes, NUL-terminated when cap > 0, like snprintf, and returns the
 * length the whole text needs: a result >= cap means it was cut short.
 * e->workers[0 .. e->nworkers - 1] must be valid; e->cfg is not read. */
size_t metrics_render(const struct engine *e, char *buf, size_t cap);

#endif
