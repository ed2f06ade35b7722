/* stats.h: per-worker counters and histograms, written only by their worker
 * (relaxed atomics, no sharing on the hot path) and summed at scrape time. */
#ifndef XFERD_STATS_H
#define XFERD_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#include "msg.h"
#include "xfer.h"

#define STATS_CODES 700 /* SIP status codes, indexed directly; 0 = none */

enum stats_dir {
	STATS_IN,
	STATS_OUT,
};

/* Requests by method; responses count under STATS_M_RESPONSE. */
enum stats_method {
	STATS_M_INVITE,
	STATS_M_ACK,
	STATS_M_BYE,
	STATS_M_CANCEL,
	STATS_M_OPTIONS,
	STATS_M_REFER,
	STATS_M_NOTIFY,
	STATS_M_INFO,
	STATS_M_UPDATE,
	STATS_M_PRACK,
	STATS_M_OTHER,
	STATS_M_RESPONSE,
	STATS_M__COUNT
};

/* How a call ended, for xferd_calls_total{outcome}. */
enum stats_call_outcome {
	STATS_CALL_COMPLETED,   /* answered, then hung up */
	STATS_CALL_FAILED,      /* the endpoint refused or never answered */
	STATS_CALL_CANCELLED,   /* the caller cancelled before an answer */
	STATS_CALL_REJECTED,    /* refused by xferd: 403, 404, 420, 483, 503 */
	STATS_CALL__COUNT
};

/* Histogram upper bounds in microseconds; the last bucket is +Inf. */
#define STATS_HIST_BUCKETS 16
extern const uint64_t stats_refer_accept_bounds_us[STATS_HIST_BUCKETS - 1];
extern const uint64_t stats_transfer_answer_bounds_us[STATS_HIST_BUCKETS - 1];

struct stats_hist {
	_Atomic uint64_t buckets[STATS_HIST_BUCKETS]; /* not cumulative */
	_Atomic uint64_t count;
	_Atomic uint64_t sum_us;
};

struct worker_stats {
	_Atomic uint64_t msgs[2][STATS_M__COUNT];
	_Atomic uint64_t msgs_in, msgs_out; /* datagrams and stream frames, any kind */
	_Atomic uint64_t parse_errors, handoffs_out, handoffs_in;
	_Atomic uint64_t retransmissions_in;  /* absorbed by a transaction */
	_Atomic uint64_t responses_unmatched; /* no transaction, not even in Timer K */
	_Atomic uint64_t retransmissions_out; /* sent by a transaction's timer */
	_Atomic uint64_t udp_truncated, send_errors, busy_ns;
	_Atomic uint64_t calls_active, calls_live, txns_live, timers_live, dialogs_live;
	_Atomic uint64_t tcp_conns_live; /* tcp_conn_count(), mirrored by the worker's loop */
	_Atomic uint64_t calls[STATS_CALL__COUNT];
	_Atomic uint64_t calls_total;
	_Atomic uint64_t refer_responses[STATS_CODES];
	_Atomic uint64_t transfers[XFER__OUTCOME_COUNT][STATS_CODES];
	_Atomic uint64_t notify_sent[STATS_CODES];
	_Atomic uint64_t notify_responses[STATS_CODES];
	struct stats_hist refer_accept;    /* REFER received → 202 sent */
	struct stats_hist transfer_answer; /* REFER received → target's 2xx */
};

/* Only the owning worker writes a counter, so a plain load and store do:
 * no locked instruction on the hot path, and the scraper still reads whole
 * values. */
static inline void stats_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static inline void stats_inc(_Atomic uint64_t *c)
{
	stats_add(c, 1);
}

static inline void stats_dec(_Atomic uint64_t *c)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) - 1,
			      memory_order_relaxed);
}

static inline uint64_t stats_get(const _Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

static inline void stats_code(_Atomic uint64_t *table, unsigned code)
{
	stats_inc(&table[code < STATS_CODES ? code : 0]);
}

/* The method slot of a message (requests) or STATS_M_RESPONSE. */
enum stats_method stats_method_of(const struct sip_msg *m);

/* The same for bytes about to be sent, from their start line. */
enum stats_method stats_method_of_bytes(const char *buf, size_t len);
const char *stats_method_name(enum stats_method m);
const char *stats_call_outcome_name(enum stats_call_outcome o);

/* Count one observation of us microseconds into h with bounds. */
void stats_hist_observe(struct stats_hist *h, const uint64_t *bounds, uint64_t us);

#endif
