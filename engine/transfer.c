/* transfer.c: REFER in the endpoint's dialog: 202 or its refusal, NOTIFYs,
 * the target's leg, and the reconnection of caller and target. RFC 3515,
 * RFC 4488, RFC 3892, RFC 3725 §4.1 (flow I), SPEC.md "The transfer". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "call_priv.h"
#include "evlog.h"
#include "log.h"
#include "sipfrag.h"

#define NOTIFY_EXPIRES 60
#define SIPFRAG_TYPE "message/sipfrag;version=2.0"

static struct call *call_of(struct xfer *x)
{
	return x->owner;
}

static void xr_free(struct xfer_req *xr)
{
	if (!xr)
		return;
	free(xr->number);
	free(xr->referred_by);
	free(xr->extra);
	free(xr->offer);
	free(xr->offer_type);
	free(xr->answer);
	free(xr->answer_type);
	free(xr);
}

void transfer_free(struct call *call)
{
	wheel_timer_cancel(&call->xfer_timer);
	xr_free(call->xr);
	call->xr = NULL;
}

static void on_notify_response(struct rtxn *x, const struct sip_msg *m, const struct sip_core *c)
{
	(void)c;
	if (m->status < 200)
		return;
	stats_code(x->w->st.notify_responses, m->status);
	xfer_on_notify_response(&x->leg->call->xfer, m->status);
}

static void on_notify_timeout(struct rtxn *x, unsigned status)
{
	stats_code(x->w->st.notify_responses, status);
	xfer_on_notify_response(&x->leg->call->xfer, status);
}

/* NOTIFY in the endpoint's dialog (RFC 3515 §2.4.4, §2.4.5). */
static void op_notify(struct xfer *x, unsigned status, const char *reason, bool terminated)
{
	struct call *call = call_of(x);
	struct xfer_req *xr = call->xr;
	char extra[256], body[128];
	struct sip_build b;
	int m;

	if (!call->b.up)
		return;
	sip_build_init(&b, extra, sizeof(extra));
	sip_build_header_begin(&b, STR("Event"));
	sip_build_raw(&b, STR("refer"));
	if (xr->with_id) { /* a second REFER in a dialog: its own subscription, id = CSeq */
		sip_build_raw(&b, STR(";id="));
		sip_build_uint(&b, xr->refer_cseq);
	}
	sip_build_header_end(&b);
	sip_build_header(&b, STR("Subscription-State"),
			 terminated ? STR("terminated;reason=noresource") : STR("active;expires=60"));
	m = sipfrag_write(body, sizeof(body), status, cstr(reason));
	if (b.err || m <= 0)
		return;
	if (leg_request(&call->b, SIP_METHOD_NOTIFY, str_make(extra, b.n), STR(SIPFRAG_TYPE),
			str_make(body, (size_t)m), on_notify_response, on_notify_timeout))
		stats_code(call->w->st.notify_sent, status);
}

static void on_c_answered(struct call *call, const struct sip_msg *m, const struct sip_core *c)
{
	struct xfer_req *xr = call->xr;
	const struct sip_hdr *ct = sip_msg_hdr_first(m, SIP_HDR_CONTENT_TYPE);

	leg_invite_done(&call->c);
	if (leg_confirm(&call->c, m, c)) {
		xfer_on_target_failed(&call->xfer, 503, "Service Unavailable");
		return;
	}
	xr->c_ack_cseq = c->cseq.num;
	xr->answer_us = call->w->now_us - xr->refer_us;
	stats_hist_observe(&call->w->st.transfer_answer, stats_transfer_answer_bounds_us,
			   xr->answer_us);
	if (call->xfer.state != XFER_TRYING && call->xfer.state != XFER_RINGING) {
		/* The transfer ended while the target was answering. */
		leg_ack(&call->c, c->cseq.num, STR_NULL, STR_NULL);
		xr->c_acked = true;
		leg_bye(&call->c);
		return;
	}
	/* Flow I: the target's 2xx carries the offer the caller will answer. */
	xr->offer = m->body.n ? call_dup_mem(m->body.p, m->body.n) : NULL;
	xr->offer_len = m->body.n;
	xr->offer_type = call_dup(ct ? ct->value : STR("application/sdp"));
	if (!xr->offer || !xr->offer_type) {
		leg_ack(&call->c, c->cseq.num, STR_NULL, STR_NULL);
		xr->c_acked = true;
		leg_bye(&call->c);
		xfer_on_target_failed(&call->xfer, 503, "Service Unavailable");
		return;
	}
	xfer_on_target_answered(&call->xfer);
}

static void on_c_invite_response(struct rtxn *x, const struct sip_msg *m,
				 const struct sip_core *c)
{
	struct call *call = x->leg->call;
	struct leg *l = &call->c;
	char reason[64];

	/* An earlier transfer's target, given up on while it was silent: its
	 * first provisional gets the CANCEL that §9.1 did not allow before;
	 * a 2xx gets an ACK and a BYE. */
	if (!str_eq(c->call_id, l->call_id)) {
		if (m->status < 200)
			leg_cancel_earlier(l, x);
		else if (m->status < 300)
			leg_end_earlier(l, x, m, c);
		return;
	}
	str_copy_cstr(reason, sizeof(reason), m->reason);
	if (m->status < 200) {
		/* Its NOTIFY reads the B leg and the REFER's state, cold
		 * since the last provisional (~10 ms at 66k NOTIFY/s). */
		__builtin_prefetch(call->xr);
		leg_prefetch(&call->b);
		l->got_provisional = true;
		if (l->cancel_pending) {
			l->cancel_pending = false;
			leg_cancel(l);
		}
		xfer_on_target_provisional(&call->xfer, m->status, reason);
		return;
	}
	if (m->status >= 300) {
		leg_invite_done(l);
		xfer_on_target_failed(&call->xfer, m->status, reason);
		call_maybe_end(call, "target failed");
		return;
	}
	if (l->remote_tag.p) { /* a retransmitted 2xx: the ACK was lost, or is not sent yet */
		if (call->xr->c_acked)
			leg_ack(l, c->cseq.num, cstr(call->xr->answer_type),
				str_make(call->xr->answer, call->xr->answer_len));
		return;
	}
	on_c_answered(call, m, c);
}

static void on_c_invite_timeout(struct rtxn *x, unsigned status)
{
	struct call *call = x->leg->call;

	(void)status;
	/* The INVITE of an earlier transfer's target, given up on already. */
	if (x != call->c.inv) {
		call_maybe_end(call, "an earlier target timed out");
		return;
	}
	leg_invite_done(&call->c);
	/* Nothing at all from the target means it is unreachable (SPEC: 503). */
	if (call->xfer.target_replied)
		xfer_on_target_failed(&call->xfer, 408, "Request Timeout");
	else
		xfer_on_target_failed(&call->xfer, 503, "Service Unavailable");
	call_maybe_end(call, "target timed out");
}

/* The target's leg: the caller's number as From (caller ID preserved), the
 * target number in the Request-URI (PSTN) or the trunk's primary URI. */
static int c_leg_init(struct call *call)
{
	struct xfer_req *xr = call->xr;
	struct leg *l = &call->c;
	struct worker *w = call->w;
	const struct sip_uri *hop = &xr->next_hop->uri;
	char buf[512], id[IDS_CALL_ID_LEN];
	bool trunk = hop->user.n > 0;

	/* The previous target's dialog: what lingers of it must not read
	 * the new one (its ACK, above all). */
	call_orphan_txns(call, l);
	leg_unlink(w, l);
	leg_free(l);
	memset(l, 0, sizeof(*l));
	l->id = LEG_C;
	l->call = call;
	ids_tag(&w->ids, l->local_tag);
	if (leg_str_set(l, &l->call_id, ids_call_id(&w->ids, id)) ||
	    leg_str_set(l, &l->local_uri, call->b.local_uri))
		return -ENOMEM;
	snprintf(buf, sizeof(buf), "<sip:%s@%.*s>", xr->number, STR_FMT(hop->host));
	if (hop->host_type == SIP_HOST_IPV6)
		snprintf(buf, sizeof(buf), "<sip:%s@[%.*s]>", xr->number, STR_FMT(hop->host));
	if (leg_str_set(l, &l->remote_uri, cstr(buf)))
		return -ENOMEM;
	/* A trunk's URI names its endpoint; the gateway wants the number. */
	if (trunk)
		snprintf(buf, sizeof(buf), "%s", xr->next_hop->text);
	else
		snprintf(buf, sizeof(buf), "sip:%s@%s", xr->number, xr->next_hop->text + 4);
	if (leg_str_set(l, &l->target, cstr(buf)))
		return -ENOMEM;
	return call_peer_from_uri(w, l->target, &l->peer);
}

/* INVITE without SDP: the target makes the offer (RFC 3725 §4.1 flow I). */
static int op_invite_target(struct xfer *x)
{
	struct call *call = call_of(x);
	struct xfer_req *xr = call->xr;
	struct rtxn *t;
	char extra[4096];
	struct sip_build b;

	if (c_leg_init(call))
		return -EHOSTUNREACH;
	sip_build_init(&b, extra, sizeof(extra));
	if (xr->referred_by)
		sip_build_header(&b, STR("Referred-By"), cstr(xr->referred_by));
	if (xr->extra)
		sip_build_raw(&b, cstr(xr->extra));
	sip_build_header(&b, STR("Allow"),
			 STR("INVITE, ACK, BYE, CANCEL, OPTIONS, REFER, NOTIFY, INFO, UPDATE"));
	if (b.err)
		return b.err;
	t = leg_request(&call->c, SIP_METHOD_INVITE, str_make(extra, b.n), STR_NULL, STR_NULL,
			on_c_invite_response, on_c_invite_timeout);
	if (!t)
		return -ENOMEM;
	call->c.inv = t;
	return 0;
}

static void op_drop_target(struct xfer *x)
{
	struct call *call = call_of(x);
	struct leg *l = &call->c;

	if (l->up) {
		if (!call->xr->c_acked) {
			leg_ack(l, call->xr->c_ack_cseq, STR_NULL, STR_NULL);
			call->xr->c_acked = true;
		}
		leg_bye(l);
	} else if (l->inv) {
		leg_cancel(l);
	}
}

static void on_a_reinvite_response(struct rtxn *x, const struct sip_msg *m,
				   const struct sip_core *c)
{
	struct call *call = x->leg->call;
	struct xfer_req *xr = call->xr;
	const struct sip_hdr *ct = sip_msg_hdr_first(m, SIP_HDR_CONTENT_TYPE);

	if (m->status < 200)
		return;
	if (m->status >= 300) {
		xfer_on_caller_answered(&call->xfer, false);
		return;
	}
	leg_ack(&call->a, c->cseq.num, STR_NULL, STR_NULL);
	if (xr->answer) /* a retransmitted 2xx */
		return;
	xr->answer = m->body.n ? call_dup_mem(m->body.p, m->body.n) : NULL;
	xr->answer_len = m->body.n;
	xr->answer_type = call_dup(ct ? ct->value : STR("application/sdp"));
	xfer_on_caller_answered(&call->xfer, xr->answer && xr->answer_type);
}

static void on_a_reinvite_timeout(struct rtxn *x, unsigned status)
{
	(void)status;
	xfer_on_caller_answered(&x->leg->call->xfer, false);
}

/* The caller gets the target's offer and answers it (flow I, step 3). */
static int reinvite_caller(struct call *call)
{
	struct xfer_req *xr = call->xr;

	return leg_request(&call->a, SIP_METHOD_INVITE, STR_NULL, cstr(xr->offer_type),
			   str_make(xr->offer, xr->offer_len), on_a_reinvite_response,
			   on_a_reinvite_timeout)
		       ? 0
		       : -ENOMEM;
}

static int op_reinvite_caller(struct xfer *x)
{
	struct call *call = call_of(x);

	if (!call->a.up)
		return -ENOTCONN;
	/* §14.1: no new INVITE in the dialog before the ACK of the last 2xx. */
	if (leg_unacked(&call->a)) {
		call->reinvite_pending = true; /* sent when the ACK comes */
		return 0;
	}
	return reinvite_caller(call);
}

void transfer_on_caller_ack(struct call *call)
{
	if (!call->reinvite_pending || call->xfer.state != XFER_BRIDGING)
		return;
	call->reinvite_pending = false;
	if (reinvite_caller(call))
		xfer_on_caller_answered(&call->xfer, false);
}

/* The target gets the caller's answer in its ACK; from now on A talks to C. */
static void op_ack_target(struct xfer *x)
{
	struct call *call = call_of(x);
	struct xfer_req *xr = call->xr;

	leg_ack(&call->c, xr->c_ack_cseq, cstr(xr->answer_type),
		str_make(xr->answer, xr->answer_len));
	xr->c_acked = true;
	call->a_peer = &call->c;
}

static void op_bye_endpoint(struct xfer *x)
{
	leg_bye(&call_of(x)->b);
}

static void op_bye_caller(struct xfer *x)
{
	leg_bye(&call_of(x)->a);
}

static void op_timer(struct xfer *x, uint32_t ms)
{
	struct call *call = call_of(x);

	if (ms)
		wheel_timer_start(&call->w->wheel, &call->xfer_timer, call->w->now_ms + ms);
	else
		wheel_timer_cancel(&call->xfer_timer);
}

static void on_xfer_timer(struct wheel_timer *t)
{
	struct call *call = (struct call *)((char *)t - offsetof(struct call, xfer_timer));

	xfer_on_timeout(&call->xfer);
	call_maybe_end(call, "transfer timeout");
}

static void op_done(struct xfer *x, enum xfer_outcome o, unsigned status)
{
	struct call *call = call_of(x);
	struct xfer_req *xr = call->xr;

	stats_code(call->w->st.transfers[o], status);
	log_info("transfer: call=%s trunk=%s target=%s outcome=%s status=%u ms=%llu",
		 call->a.call_id.p, call->trunk->name, xr->number, xfer_outcome_name(o), status,
		 (unsigned long long)((call->w->now_us - xr->refer_us) / 1000));
	evlog_transfer(call->w, &(struct evlog_transfer){
		.a_call_id = call->a.call_id.p, .b_call_id = call->b.call_id.p,
		.c_call_id = call->c.call_id.p, .trunk = call->trunk->name,
		.caller_uri = call->b.local_uri.p, .target = xr->number,
		.outcome = xfer_outcome_name(o), .status = status, .accept_us = xr->accept_us,
		.answer_us = xr->answer_us, .duration_us = call->w->now_us - xr->refer_us });
}

static const struct xfer_ops transfer_ops = {
	.notify = op_notify,
	.invite_target = op_invite_target,
	.drop_target = op_drop_target,
	.reinvite_caller = op_reinvite_caller,
	.ack_target = op_ack_target,
	.bye_endpoint = op_bye_endpoint,
	.bye_caller = op_bye_caller,
	.timer = op_timer,
	.on_done = op_done,
};

void transfer_init(struct call *call)
{
	xfer_init(&call->xfer, &transfer_ops, call,
		  call->w->cfg->engine.transfer_timeout * 1000u);
	wheel_timer_init(&call->xfer_timer, on_xfer_timer);
}

/* Allowed Refer-To embedded headers become header lines of the INVITE,
 * unescaped; refer_check() already dropped any with CR, LF or NUL. */
static char *extra_headers(const struct refer_target *t)
{
	char buf[4096], name[160], val[1024];
	struct sip_build b;

	if (!t->nheaders)
		return NULL;
	sip_build_init(&b, buf, sizeof(buf) - 1);
	for (unsigned i = 0; i < t->nheaders; i++) {
		int k = sip_unescape(t->header_names[i], name, sizeof(name));
		int n = sip_unescape(t->header_values[i], val, sizeof(val));

		if (k > 0 && n >= 0)
			sip_build_header(&b, str_make(name, (size_t)k), str_make(val, (size_t)n));
	}
	return b.err ? NULL : call_dup(str_make(buf, b.n));
}

static struct xfer_req *xr_new(struct call *call, const struct refer_target *t,
			       const struct sip_core *c)
{
	struct xfer_req *xr = calloc(1, sizeof(*xr));

	if (!xr)
		return NULL;
	xr->number = call_dup(t->number);
	xr->referred_by = t->referred_by.n ? call_dup(t->referred_by) : NULL;
	xr->extra = extra_headers(t);
	xr->next_hop = t->next_hop;
	xr->refer_cseq = c->cseq.num;
	xr->with_id = call->refers > 0;
	xr->refer_us = call->w->now_us;
	if (!xr->number) {
		xr_free(xr);
		return NULL;
	}
	return xr;
}

static const char *reason_of(unsigned code)
{
	switch (code) {
	case 202: return "Accepted";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 481: return "Call/Transaction Does Not Exist";
	case 491: return "Request Pending";
	default: return "Server Internal Error";
	}
}

/* 202 carries a Contact (REFER refreshes the target, RFC 6665 §4.1) and
 * echoes Refer-Sub: false (RFC 4488 §4). */
static void reply_refer(struct worker *w, struct rtxn *x, const struct sip_msg *m,
			const struct sip_core *c, unsigned code, bool no_sub)
{
	char extra[160];
	int n = 0;

	if (code == 202)
		n = snprintf(extra, sizeof(extra), "Contact: <sip:xferd@%s>\r\n%s", w->via_host,
			     no_sub ? "Refer-Sub: false\r\n" : "");
	router_reply(w, x, &x->peer, m, c, code, reason_of(code),
		     str_make(extra, n > 0 ? (size_t)n : 0));
}

/* SPEC's table, in its order: 481 (no dialog: the router's), 400, 403, 403,
 * 400, 403 (refer_check), 491 (a transfer is running), 202. */
void transfer_on_refer(struct leg *leg, struct rtxn *x, const struct sip_msg *m,
		       const struct sip_core *c)
{
	struct call *call = leg->call;
	struct worker *w = call->w;
	struct refer_target t;
	const char *why = "";
	unsigned code = 481;
	struct xfer_req *xr = NULL;

	if (leg->id == LEG_B && leg->up && call->a.up && call->state == CALL_ANSWERED)
		code = refer_check(w->cfg, call->trunk, m, &t, &why);
	if (code == 202 && xfer_busy(&call->xfer))
		code = xfer_busy(&call->xfer) && call->xfer.state == XFER_DONE ? 481 : 491;
	if (code == 202 && !(xr = xr_new(call, &t, c)))
		code = 500;
	stats_code(w->st.refer_responses, code);
	log_debug("worker %u: REFER in %s: %u (%s)", w->id, leg->call_id.p, code, why);
	reply_refer(w, x, m, c, code, code == 202 && t.no_subscription);
	if (code == 202) {
		xr->accept_us = worker_clock_us() - w->now_us;
		stats_hist_observe(&w->st.refer_accept, stats_refer_accept_bounds_us, xr->accept_us);
	}
	if (code != 202)
		return;
	xr_free(call->xr);
	call->xr = xr;
	call->refers++;
	xfer_on_accepted(&call->xfer, t.no_subscription);
	call_maybe_end(call, "transfer could not start");
}

bool transfer_on_bye(struct call *call, struct leg *l)
{
	struct xfer *x = &call->xfer;

	if (!xfer_busy(x) || x->state == XFER_DONE)
		return false;
	if (l->id == LEG_A)
		xfer_on_caller_bye(x);
	else if (l->id == LEG_B)
		xfer_on_endpoint_bye(x);
	else
		xfer_on_caller_answered(x, false); /* the target left while being bridged */
	return true;
}
