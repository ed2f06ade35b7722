/* evlog.h: the event log: one JSON object per line (RFC 8259, JSON Lines) for
 * every finished transfer and call, written by each worker through its io_uring. */
#ifndef XFERD_EVLOG_H
#define XFERD_EVLOG_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "config.h"

struct worker;
struct io_uring_cqe;

/* Lines never exceed this, so a write to a pipe is atomic (PIPE_BUF is 4096
 * on Linux): string fields are cut to EVLOG_FIELD_MAX bytes. */
#define EVLOG_LINE_MAX 4096
#define EVLOG_FIELD_MAX 256
/* Writes in flight per worker; beyond it lines are dropped and counted
 * (a stalled stdout pipe must not eat the memory). */
#define EVLOG_MAX_INFLIGHT 1024

/* A finished transfer. Strings may be NULL (written as null). caller_uri
 * is a name-addr or URI; the line carries its user part (the number). */
struct evlog_transfer {
	const char *a_call_id, *b_call_id, *c_call_id;
	const char *trunk, *caller_uri, *target;
	const char *outcome; /* xfer_outcome_name() */
	unsigned status;     /* the final status NOTIFYed */
	uint64_t accept_us;  /* REFER received → 202 sent */
	uint64_t answer_us;  /* REFER received → target's 2xx; 0: never answered */
	uint64_t duration_us; /* REFER received → the transfer ended */
};

/* A finished call (one xferd admitted; rejected INVITEs are only counted). */
struct evlog_call {
	const char *a_call_id, *b_call_id, *c_call_id;
	const char *trunk, *caller_uri, *callee_uri;
	const char *outcome; /* stats_call_outcome_name() */
	uint64_t duration_us; /* INVITE received → the call ended */
	unsigned transfers;   /* REFERs accepted */
};

/* Open config c's event_log for appending (created 0644), or take stdout for
 * "-" (set to O_APPEND if it is a regular file, so the workers' lines never
 * overwrite each other). If it is not a regular file (a pipe), SIGPIPE is
 * ignored process-wide: a reader that exits costs lines, not xferd. Called
 * by main before the workers start; the descriptor stays open until exit.
 * Returns it, or -1 if c names no event log or it cannot be opened (logged
 * as an error). */
int evlog_open(const struct config *c);

/* Queue the line of a finished transfer or call on w's ring: one write per
 * line, never blocking the worker. Dropped (and counted) when there is no
 * memory or EVLOG_MAX_INFLIGHT writes are pending; a no-op without a log. */
void evlog_transfer(struct worker *w, const struct evlog_transfer *t);
void evlog_call(struct worker *w, const struct evlog_call *c);

/* The lines, newline included, as evlog_transfer()/evlog_call() write them
 * at wall-clock time now: the length, or -1 if jansson failed or the line
 * would not fit in cap (at most EVLOG_LINE_MAX). No I/O; for tests. */
int evlog_format_transfer(const struct evlog_transfer *t, const struct timespec *now,
			  char *buf, size_t cap);
int evlog_format_call(const struct evlog_call *c, const struct timespec *now, char *buf,
		      size_t cap);

/* A write of ours completed (dispatched by metrics_on_cqe()). */
void evlog_on_cqe(struct worker *w, void *op, struct io_uring_cqe *cqe);

/* The worker's loop has ended (called by metrics_worker_stop()): lines
 * logged from now on are written synchronously, and writes still in flight
 * keep their memory (reachable) until exit, as nobody reaps them any more. */
void evlog_worker_stop(struct worker *w);

/* Lines written, and lines lost (no memory, too many pending, write
 * errors), summed over the workers; relaxed loads, for the metrics. */
uint64_t evlog_lines_written(void);
uint64_t evlog_lines_dropped(void);

#endif
