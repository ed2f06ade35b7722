/* xfer.h: the per-call transfer state machine, I/O-free and driven only by the
 * worker that owns the call. RFC 3515 (REFER), RFC 4488, RFC 3725 §4.1 flow I. */
#ifndef XFERD_XFER_H
#define XFERD_XFER_H

#include <stdbool.h>
#include <stdint.h>

enum xfer_state {
	XFER_IDLE,      /* no transfer running: a REFER may start one */
	XFER_TRYING,    /* 202 sent, NOTIFY 100, target INVITEd, nothing back */
	XFER_RINGING,   /* the target sent a provisional response */
	XFER_BRIDGING,  /* the target answered; the caller is re-INVITEd with its offer */
	XFER_DONE,      /* caller and target talk; the endpoint was hung up */
	XFER__STATE_COUNT
};

enum xfer_outcome {
	XFER_SUCCESS,
	XFER_TARGET_FAILED, /* 4xx-6xx from the target */
	XFER_NO_ANSWER,     /* transfer_timeout with a provisional: 408 */
	XFER_UNREACHABLE,   /* no response at all, or no route: 503 */
	XFER_RECONNECT_FAILED, /* the caller refused the target's offer */
	XFER_ENDPOINT_HUNG_UP, /* BYE from the endpoint before NOTIFY 200 */
	XFER_CALLER_HUNG_UP,   /* BYE or CANCEL from the caller during it */
	XFER__OUTCOME_COUNT
};

struct xfer;

/* What the state machine asks of the call that owns it. */
struct xfer_ops {
	/* NOTIFY on the endpoint's leg with body "SIP/2.0 <status> <reason>",
	 * Subscription-State active, or terminated;reason=noresource. */
	void (*notify)(struct xfer *x, unsigned status, const char *reason, bool terminated);
	/* INVITE the target (no SDP: it makes the offer, RFC 3725 flow I).
	 * Returns 0, or -errno if it cannot even be sent (no route). */
	int (*invite_target)(struct xfer *x);
	/* CANCEL the target's INVITE if it has no final response yet, else BYE. */
	void (*drop_target)(struct xfer *x);
	/* Re-INVITE the caller with the target's SDP offer. */
	int (*reinvite_caller)(struct xfer *x);
	/* ACK the target's 2xx with the caller's SDP answer. */
	void (*ack_target)(struct xfer *x);
	void (*bye_endpoint)(struct xfer *x);
	void (*bye_caller)(struct xfer *x);
	/* Arm (ms > 0) or stop (0) the transfer_timeout timer. */
	void (*timer)(struct xfer *x, uint32_t ms);
	/* The transfer ended: metrics and the event log. */
	void (*on_done)(struct xfer *x, enum xfer_outcome outcome, unsigned status);
};

struct xfer {
	enum xfer_state state;
	bool subscribed;     /* NOTIFYs go out (no Refer-Sub: false, no 481 yet) */
	bool target_replied; /* any response from the target: 408 vs 503 on timeout */
	uint32_t timeout_ms;
	const struct xfer_ops *ops;
	void *owner;
	uint64_t transitions[XFER__STATE_COUNT]; /* entries per state, for metrics */
};

void xfer_init(struct xfer *x, const struct xfer_ops *ops, void *owner, uint32_t timeout_ms);

/* Whether a REFER now gets 491 (SPEC: one transfer of a call at a time). */
bool xfer_busy(const struct xfer *x);

/* Events, one function each; each is legal in the states its comment names
 * and ignored elsewhere (a late response must not restart anything). */

/* IDLE: 202 was sent. NOTIFY 100 unless no_subscription, INVITE the target. */
void xfer_on_accepted(struct xfer *x, bool no_subscription);
/* TRYING, RINGING: 180/183 from the target → NOTIFY it. */
void xfer_on_target_provisional(struct xfer *x, unsigned status, const char *reason);
/* TRYING, RINGING: 2xx from the target → re-INVITE the caller. */
void xfer_on_target_answered(struct xfer *x);
/* TRYING, RINGING: 3xx-6xx from the target (or its transaction failed). */
void xfer_on_target_failed(struct xfer *x, unsigned status, const char *reason);
/* TRYING, RINGING: transfer_timeout → CANCEL, NOTIFY 408 (or 503 if the
 * target never answered anything). */
void xfer_on_timeout(struct xfer *x);
/* BRIDGING: the caller's final response to the re-INVITE. */
void xfer_on_caller_answered(struct xfer *x, bool ok);
/* TRYING, RINGING, BRIDGING: the endpoint hung up before NOTIFY 200. */
void xfer_on_endpoint_bye(struct xfer *x);
/* TRYING, RINGING, BRIDGING: the caller hung up. */
void xfer_on_caller_bye(struct xfer *x);
/* Any state: a NOTIFY got a final response; 481 (or a timeout, 408) ends
 * the subscription (RFC 6665 §4.1.3), the transfer goes on. */
void xfer_on_notify_response(struct xfer *x, unsigned status);

const char *xfer_state_name(enum xfer_state s);
const char *xfer_outcome_name(enum xfer_outcome o);

#endif
