/* xfer.c: what a transfer does on each event, as a table of legal states
 * and one handler per event. RFC 3515 §2.4.4-5, RFC 4488, RFC 3725 §4.1. */
#include <assert.h>

#include "xfer.h"

/* Bit s set: the state may be entered from state s. Read by an assert only,
 * so a -DNDEBUG build would otherwise warn that it is unused. */
#define FROM(s) (1u << (s))
static const unsigned legal_from[XFER__STATE_COUNT] __attribute__((unused)) = {
	[XFER_IDLE] = FROM(XFER_TRYING) | FROM(XFER_RINGING) | FROM(XFER_BRIDGING),
	[XFER_TRYING] = FROM(XFER_IDLE),
	[XFER_RINGING] = FROM(XFER_TRYING),
	[XFER_BRIDGING] = FROM(XFER_TRYING) | FROM(XFER_RINGING),
	[XFER_DONE] = FROM(XFER_BRIDGING),
};

static const char *const state_names[XFER__STATE_COUNT] = {
	"idle", "trying", "ringing", "bridging", "done",
};

static const char *const outcome_names[XFER__OUTCOME_COUNT] = {
	"success", "target_failed", "no_answer", "unreachable", "reconnect_failed",
	"endpoint_hung_up", "caller_hung_up",
};

const char *xfer_state_name(enum xfer_state s)
{
	return (unsigned)s < XFER__STATE_COUNT ? state_names[s] : "?";
}

const char *xfer_outcome_name(enum xfer_outcome o)
{
	return (unsigned)o < XFER__OUTCOME_COUNT ? outcome_names[o] : "?";
}

static void set_state(struct xfer *x, enum xfer_state to)
{
	assert(legal_from[to] & FROM(x->state));
	x->state = to;
	x->transitions[to]++;
}

void xfer_init(struct xfer *x, const struct xfer_ops *ops, void *owner, uint32_t timeout_ms)
{
	*x = (struct xfer){ .state = XFER_IDLE, .ops = ops, .owner = owner,
			    .timeout_ms = timeout_ms };
}

bool xfer_busy(const struct xfer *x)
{
	return x->state != XFER_IDLE;
}

static bool in_progress(const struct xfer *x)
{
	return x->state == XFER_TRYING || x->state == XFER_RINGING || x->state == XFER_BRIDGING;
}

static void notify(struct xfer *x, unsigned status, const char *reason, bool terminated)
{
	if (x->subscribed)
		x->ops->notify(x, status, reason, terminated);
	if (terminated)
		x->subscribed = false;
}

/* The transfer failed: the caller stays with the endpoint, which may REFER
 * again (SPEC "The transfer" 5). */
static void fail(struct xfer *x, unsigned status, const char *reason, enum xfer_outcome o)
{
	x->ops->timer(x, 0);
	notify(x, status, reason, true);
	set_state(x, XFER_IDLE);
	x->ops->on_done(x, o, status);
}

void xfer_on_accepted(struct xfer *x, bool no_subscription)
{
	if (x->state != XFER_IDLE)
		return;
	x->subscribed = !no_subscription;
	x->target_replied = false;
	set_state(x, XFER_TRYING);
	x->ops->timer(x, x->timeout_ms);
	notify(x, 100, "Trying", false);
	if (x->ops->invite_target(x))
		fail(x, 503, "Service Unavailable", XFER_UNREACHABLE);
}

void xfer_on_target_provisional(struct xfer *x, unsigned status, const char *reason)
{
	if (x->state != XFER_TRYING && x->state != XFER_RINGING)
		return;
	x->target_replied = true;
	/* 100 is hop by hop: the NOTIFY 100 went out already. */
	if (status == 100)
		return;
	if (x->state == XFER_TRYING)
		set_state(x, XFER_RINGING);
	notify(x, status, reason, false);
}

void xfer_on_target_answered(struct xfer *x)
{
	if (x->state != XFER_TRYING && x->state != XFER_RINGING)
		return;
	x->target_replied = true;
	x->ops->timer(x, 0);
	set_state(x, XFER_BRIDGING);
	if (x->ops->reinvite_caller(x))
		xfer_on_caller_answered(x, false);
}

void xfer_on_target_failed(struct xfer *x, unsigned status, const char *reason)
{
	if (x->state != XFER_TRYING && x->state != XFER_RINGING)
		return;
	fail(x, status, reason, XFER_TARGET_FAILED);
}

void xfer_on_timeout(struct xfer *x)
{
	if (x->state != XFER_TRYING && x->state != XFER_RINGING)
		return;
	x->ops->drop_target(x);
	if (x->target_replied)
		fail(x, 408, "Request Timeout", XFER_NO_ANSWER);
	else
		fail(x, 503, "Service Unavailable", XFER_UNREACHABLE);
}

void xfer_on_caller_answered(struct xfer *x, bool ok)
{
	if (x->state != XFER_BRIDGING)
		return;
	if (!ok) {
		x->ops->drop_target(x);
		fail(x, 503, "Service Unavailable", XFER_RECONNECT_FAILED);
		return;
	}
	x->ops->ack_target(x);
	notify(x, 200, "OK", true);
	set_state(x, XFER_DONE);
	x->ops->bye_endpoint(x);
	x->ops->on_done(x, XFER_SUCCESS, 200);
}

void xfer_on_endpoint_bye(struct xfer *x)
{
	if (!in_progress(x))
		return;
	/* The endpoint is gone: nobody to NOTIFY. */
	x->subscribed = false;
	x->ops->timer(x, 0);
	x->ops->drop_target(x);
	x->ops->bye_caller(x);
	set_state(x, XFER_IDLE);
	x->ops->on_done(x, XFER_ENDPOINT_HUNG_UP, 0);
}

void xfer_on_caller_bye(struct xfer *x)
{
	if (!in_progress(x))
		return;
	x->ops->timer(x, 0);
	x->ops->drop_target(x);
	notify(x, 487, "Request Terminated", true);
	x->ops->bye_endpoint(x);
	set_state(x, XFER_IDLE);
	x->ops->on_done(x, XFER_CALLER_HUNG_UP, 487);
}

void xfer_on_notify_response(struct xfer *x, unsigned status)
{
	if (status == 481 || status == 408)
		x->subscribed = false;
}
