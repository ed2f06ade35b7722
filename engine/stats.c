/* stats.c: names and bucket bounds of the per-worker statistics that
 * metrics.c exposes, and the histogram update. */
#include "stats.h"

/* REFER → 202 is local work: 50 µs to 1 s. */
const uint64_t stats_refer_accept_bounds_us[STATS_HIST_BUCKETS - 1] = {
	50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
	500000, 1000000, 5000000,
};

/* REFER → target answer includes ringing: 50 ms to 2 min. */
const uint64_t stats_transfer_answer_bounds_us[STATS_HIST_BUCKETS - 1] = {
	50000, 100000, 250000, 500000, 1000000, 2000000, 3000000, 5000000, 7500000,
	10000000, 15000000, 20000000, 30000000, 60000000, 120000000,
};

static const char *const method_names[STATS_M__COUNT] = {
	"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REFER", "NOTIFY", "INFO",
	"UPDATE", "PRACK", "other", "response",
};

static const char *const call_outcome_names[STATS_CALL__COUNT] = {
	"completed", "failed", "cancelled", "rejected",
};

static enum stats_method method_slot(enum sip_method id)
{
	switch (id) {
	case SIP_METHOD_INVITE: return STATS_M_INVITE;
	case SIP_METHOD_ACK: return STATS_M_ACK;
	case SIP_METHOD_BYE: return STATS_M_BYE;
	case SIP_METHOD_CANCEL: return STATS_M_CANCEL;
	case SIP_METHOD_OPTIONS: return STATS_M_OPTIONS;
	case SIP_METHOD_REFER: return STATS_M_REFER;
	case SIP_METHOD_NOTIFY: return STATS_M_NOTIFY;
	case SIP_METHOD_INFO: return STATS_M_INFO;
	case SIP_METHOD_UPDATE: return STATS_M_UPDATE;
	case SIP_METHOD_PRACK: return STATS_M_PRACK;
	default: return STATS_M_OTHER;
	}
}

enum stats_method stats_method_of(const struct sip_msg *m)
{
	return m->is_request ? method_slot(m->method_id) : STATS_M_RESPONSE;
}

enum stats_method stats_method_of_bytes(const char *buf, size_t len)
{
	const char *sp = len > 12 ? memchr(buf, ' ', 12) : NULL;

	if (!sp || (len > 8 && !memcmp(buf, "SIP/2.0 ", 8)))
		return STATS_M_RESPONSE;
	return method_slot(sip_method_lookup(str_span(buf, sp)));
}

const char *stats_method_name(enum stats_method m)
{
	return (unsigned)m < STATS_M__COUNT ? method_names[m] : "other";
}

const char *stats_call_outcome_name(enum stats_call_outcome o)
{
	return (unsigned)o < STATS_CALL__COUNT ? call_outcome_names[o] : "?";
}

void stats_hist_observe(struct stats_hist *h, const uint64_t *bounds, uint64_t us)
{
	unsigned i = 0;

	while (i < STATS_HIST_BUCKETS - 1 && us > bounds[i])
		i++;
	stats_inc(&h->buckets[i]);
	stats_inc(&h->count);
	stats_add(&h->sum_us, us);
}
