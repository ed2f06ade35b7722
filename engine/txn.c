/* txn.c: the four SIP transaction state machines, I/O-free: the worker sends, the wheel times.
 * RFC 3261 §17.1.1 (ACK §17.1.1.3), §17.1.2, §17.1.4, §17.2.1, §17.2.2, §17.2.4, §13.3.1.4; RFC 6026 §7-8. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#include "build.h"
#include "txn.h"

#define container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

/* §17.1.1.2 asks for "at least 32 seconds" whatever T1 is: it covers the
 * server's retransmissions of its final response with the default T1. */
#define TXN_TIMER_D_MS 32000u
/* §8.1.1.6: the ACK is a request of its own and starts from 70. */
#define TXN_ACK_MAX_FORWARDS 70

static const char *const txn_state_names[TXN__STATE_COUNT] = {
	[TXN_CALLING] = "Calling",
	[TXN_TRYING] = "Trying",
	[TXN_PROCEEDING] = "Proceeding",
	[TXN_COMPLETED] = "Completed",
	[TXN_CONFIRMED] = "Confirmed",
	[TXN_ACCEPTED] = "Accepted",
	[TXN_TERMINATED] = "Terminated",
};

static const char *const txn_type_names[] = {
	[TXN_INVITE_CLIENT] = "invite_client",
	[TXN_NONINVITE_CLIENT] = "noninvite_client",
	[TXN_INVITE_SERVER] = "invite_server",
	[TXN_NONINVITE_SERVER] = "noninvite_server",
};

/* For each machine and target state, the states it may be entered from:
 * the arrows of RFC 3261 figures 5-8 as amended by RFC 6026 figures 5 and
 * 7. Terminated is reachable from every live state because a transport
 * error (§17.1.4, §17.2.4) can be reported at any time. */
#define FROM(s) (1u << TXN_##s)
static const uint8_t txn_legal_from[][TXN__STATE_COUNT] = {
	[TXN_INVITE_CLIENT] = {
		[TXN_PROCEEDING] = FROM(CALLING),
		[TXN_COMPLETED] = FROM(CALLING) | FROM(PROCEEDING),
		[TXN_ACCEPTED] = FROM(CALLING) | FROM(PROCEEDING),
		[TXN_TERMINATED] = FROM(CALLING) | FROM(PROCEEDING) | FROM(COMPLETED) |
				   FROM(ACCEPTED),
	},
	[TXN_NONINVITE_CLIENT] = {
		[TXN_PROCEEDING] = FROM(TRYING),
		[TXN_COMPLETED] = FROM(TRYING) | FROM(PROCEEDING),
		[TXN_TERMINATED] = FROM(TRYING) | FROM(PROCEEDING) | FROM(COMPLETED),
	},
	[TXN_INVITE_SERVER] = {
		[TXN_COMPLETED] = FROM(PROCEEDING),
		[TXN_CONFIRMED] = FROM(COMPLETED),
		[TXN_ACCEPTED] = FROM(PROCEEDING),
		[TXN_TERMINATED] = FROM(PROCEEDING) | FROM(COMPLETED) | FROM(CONFIRMED) |
				   FROM(ACCEPTED),
	},
	[TXN_NONINVITE_SERVER] = {
		[TXN_PROCEEDING] = FROM(TRYING),
		[TXN_COMPLETED] = FROM(TRYING) | FROM(PROCEEDING),
		[TXN_TERMINATED] = FROM(TRYING) | FROM(PROCEEDING) | FROM(COMPLETED),
	},
};
#undef FROM

bool txn_settled(const struct txn *t)
{
	switch (t->state) {
	case TXN_COMPLETED:
	case TXN_CONFIRMED:
	case TXN_TERMINATED:
		return true;
	case TXN_ACCEPTED:
		return t->type != TXN_INVITE_SERVER || t->got_ack;
	default:
		return false;
	}
}

/* ---- names ---- */

const char *txn_state_name(enum txn_state s)
{
	return (unsigned)s < TXN__STATE_COUNT ? txn_state_names[s] : "?";
}

const char *txn_type_name(enum txn_type type)
{
	return (unsigned)type <= TXN_NONINVITE_SERVER ? txn_type_names[type] : "?";
}

/* ---- state, messages, timers: shared by the four machines ---- */

/* The one place the state changes: an illegal arrow is a bug in this file.
 * (legal is a variable so that NDEBUG builds still read the table.) */
static void txn_set_state(struct txn *t, enum txn_state to)
{
	enum txn_state from = t->state;
	bool legal = txn_legal_from[t->type][to] & (1u << from);

	assert(legal);
	(void)legal;
	t->state = to;
	if (t->ops->on_state)
		t->ops->on_state(t, from);
}

static bool txn_is_client(const struct txn *t)
{
	return t->type == TXN_INVITE_CLIENT || t->type == TXN_NONINVITE_CLIENT;
}

static enum txn_state txn_first_state(enum txn_type type)
{
	switch (type) {
	case TXN_INVITE_CLIENT:
		return TXN_CALLING;
	case TXN_INVITE_SERVER:
		return TXN_PROCEEDING; /* §17.2.1: entered when the INVITE arrives */
	default:
		return TXN_TRYING;
	}
}

/* A copy outlives the caller's buffer: the retransmissions need it. */
static char *txn_copy(const char *buf, size_t len)
{
	char *p = malloc(len ? len : 1);

	if (p && len)
		memcpy(p, buf, len);
	return p;
}

/* Make copy the message that retransmissions resend, dropping the old one. */
static void txn_keep(struct txn *t, char *copy, size_t len)
{
	free(t->msg);
	t->msg = copy;
	t->msg_len = len;
}

static void txn_send(struct txn *t)
{
	t->ops->send(t, t->msg, t->msg_len);
}

/* A retransmission, or an answer to one: counted apart from first sends.
 * msg is NULL only when nothing was sent yet (a server before its first
 * response) or the ACK could not be built for lack of memory. */
static void txn_resend(struct txn *t)
{
	if (!t->msg)
		return;
	t->retransmits++;
	txn_send(t);
}

static uint64_t txn_64t1(const struct txn *t)
{
	return 64ull * t->timers->t1;
}

static void txn_arm(struct txn *t, struct wheel_timer *timer, uint64_t ms)
{
	wheel_timer_start(t->wheel, timer, wheel_now(t->wheel) + ms);
}

/* Arm the retransmission timer retx_ms ahead, unless the timeout timer
 * running beside it (B, F, H or L) fires first or at the same instant: a
 * send then would be wasted, and the wheel does not order equal deadlines. */
static void txn_retx_arm(struct txn *t)
{
	uint64_t at = wheel_now(t->wheel) + t->retx_ms;

	if (wheel_timer_armed(&t->timeout) && at >= t->timeout.deadline)
		return;
	wheel_timer_start(t->wheel, &t->retx, at);
}

/* Start A, E, G or the 2xx retransmissions at T1; arm the timeout first. */
static void txn_retx_start(struct txn *t)
{
	t->retx_ms = t->timers->t1;
	txn_retx_arm(t);
}

static void txn_stop_timers(struct txn *t)
{
	wheel_timer_cancel(&t->retx);
	wheel_timer_cancel(&t->timeout);
}

/* The end: on_terminated is the last thing the txn does, as the worker
 * may free t inside it. */
static void txn_terminate(struct txn *t)
{
	txn_set_state(t, TXN_TERMINATED);
	txn_destroy(t);
	t->ops->on_terminated(t);
}

/* Wait out Timer D, I, J or K, which only absorb retransmissions: over a
 * reliable transport there are none and the wait is zero, so terminate
 * now rather than on the next advance. The caller must not touch t after. */
static void txn_linger(struct txn *t, uint64_t ms)
{
	if (ms == 0)
		txn_terminate(t);
	else
		txn_arm(t, &t->timeout, ms);
}

/* Timer B, F, H or L expired without the awaited message. */
static void txn_fail(struct txn *t, unsigned status)
{
	wheel_timer_cancel(&t->retx);
	t->ops->on_timeout(t, status);
	txn_terminate(t);
}

static uint32_t txn_double(uint32_t ms)
{
	return ms > UINT32_MAX / 2 ? UINT32_MAX : ms * 2;
}

static uint32_t txn_double_to_t2(const struct txn *t)
{
	uint32_t ms = txn_double(t->retx_ms);

	return ms < t->timers->t2 ? ms : t->timers->t2;
}

/* ---- INVITE client (§17.1.1, RFC 6026 §8.4) ---- */

/* Room for the ACK: its lines are a subset of the request's, plus To,
 * Max-Forwards and Content-Length; values are copied without growing
 * (unfolding shrinks), and a header's canonical name ("Call-ID: ") is at
 * most 8 bytes longer than the compact "i:" the request may have used. */
static size_t ict_ack_room(const struct sip_msg *req, struct str to)
{
	return req->len + to.n + 8u * req->nhdrs + 128;
}

/* §17.1.1.3: the ACK for a non-2xx final, from the original request and
 * the response: Request-URI, Call-ID, From, the top Via (same branch), the
 * CSeq number and the Route headers of the request; To of the response,
 * with its tag. No body. Returns the length, -EBADMSG or -ENOMEM. */
static int ict_ack_build(const struct txn *t, const struct sip_msg *resp, char **out)
{
	const struct sip_hdr *to = sip_msg_hdr_first(resp, SIP_HDR_TO), *via = NULL;
	struct str cursor = STR_NULL, top_via;
	struct sip_msg req;
	struct sip_core core;
	struct sip_build b;
	size_t room;
	int n;

	if (!to || sip_msg_parse(&req, t->msg, t->msg_len) || sip_core_read(&req, &core) ||
	    sip_msg_list_next(&req, SIP_HDR_VIA, &via, &cursor, &top_via) != 1)
		return -EBADMSG;
	room = ict_ack_room(&req, to->value);
	*out = malloc(room);
	if (!*out)
		return -ENOMEM;
	sip_build_init(&b, *out, room);
	sip_build_request_line(&b, STR("ACK"), req.ruri);
	sip_build_header(&b, STR("Via"), top_via);
	sip_build_header_copy(&b, &req, SIP_HDR_FROM);
	sip_build_header(&b, STR("To"), to->value);
	sip_build_header(&b, STR("Call-ID"), core.call_id);
	sip_build_header_begin(&b, STR("CSeq"));
	sip_build_uint(&b, core.cseq.num);
	sip_build_raw(&b, STR(" ACK"));
	sip_build_header_end(&b);
	sip_build_header_copy(&b, &req, SIP_HDR_ROUTE);
	sip_build_header_uint(&b, STR("Max-Forwards"), TXN_ACK_MAX_FORWARDS);
	n = sip_build_finish(&b, STR_NULL, STR_NULL);
	assert(n >= 0); /* ict_ack_room is an upper bound */
	return n;
}

/* Replace the request by its ACK: in Completed the request is never sent
 * again, the ACK may be. Without memory the ACK is lost and the server's
 * Timer H ends its side; the TU still gets the response. */
static void ict_ack_send(struct txn *t, const struct sip_msg *resp)
{
	char *ack = NULL;
	int n = ict_ack_build(t, resp, &ack);

	if (n < 0) {
		free(ack);
		txn_keep(t, NULL, 0);
		return;
	}
	txn_keep(t, ack, (size_t)n);
	txn_send(t);
}

/* Calling/Proceeding, 1xx: the far end has it; stop A. Timer B only
 * bounds Calling (§17.1.1.2): from here the TU's own timer (CANCEL after
 * transfer_timeout) decides how long to ring. */
static void ict_provisional(struct txn *t, const struct sip_msg *m,
			const struct sip_core *c)
{
	if (t->state == TXN_CALLING) {
		txn_stop_timers(t);
		txn_set_state(t, TXN_PROCEEDING);
	}
	t->ops->on_response(t, m, c);
}

/* Calling/Proceeding, 2xx: RFC 6026 Accepted, so that retransmitted or
 * forked 2xx still match a transaction until Timer M. */
static void ict_accept(struct txn *t, const struct sip_msg *m,
			const struct sip_core *c)
{
	txn_stop_timers(t);
	txn_set_state(t, TXN_ACCEPTED);
	txn_keep(t, NULL, 0); /* never resent: the TU ACKs each 2xx itself */
	txn_arm(t, &t->timeout, txn_64t1(t)); /* Timer M */
	t->ops->on_response(t, m, c);
}

/* Calling/Proceeding, 300-699: ACK, pass up, then wait out Timer D. */
static void ict_reject(struct txn *t, const struct sip_msg *m,
			const struct sip_core *c)
{
	txn_stop_timers(t);
	txn_set_state(t, TXN_COMPLETED);
	ict_ack_send(t, m);
	t->ops->on_response(t, m, c);
	txn_linger(t, t->reliable ? 0 : TXN_TIMER_D_MS);
}

static void ict_on_response(struct txn *t, const struct sip_msg *m,
			const struct sip_core *c)
{
	unsigned status = m->status;

	switch (t->state) {
	case TXN_CALLING:
	case TXN_PROCEEDING:
		if (status < 200)
			ict_provisional(t, m, c);
		else if (status < 300)
			ict_accept(t, m, c);
		else
			ict_reject(t, m, c);
		return;
	case TXN_COMPLETED:
		/* A retransmitted final: the ACK was lost. Not for the TU. */
		if (status >= 300)
			txn_resend(t);
		return;
	case TXN_ACCEPTED:
		/* Each 2xx (retransmitted or from another fork) needs the TU's ACK. */
		if (status >= 200 && status < 300)
			t->ops->on_response(t, m, c);
		return;
	default:
		return;
	}
}

/* Timer A: no answer yet; back off without a cap (§17.1.1.2). */
static void ict_on_retx(struct txn *t)
{
	txn_resend(t);
	t->retx_ms = txn_double(t->retx_ms);
	txn_retx_arm(t);
}

/* Timer B in Calling, D in Completed, M in Accepted. */
static void ict_on_timeout(struct txn *t)
{
	if (t->state == TXN_CALLING)
		txn_fail(t, 408);
	else
		txn_terminate(t);
}

/* ---- non-INVITE client (§17.1.2) ---- */

static void nict_on_response(struct txn *t, const struct sip_msg *m,
			const struct sip_core *c)
{
	if (t->state != TXN_TRYING && t->state != TXN_PROCEEDING)
		return; /* Completed: retransmitted finals are absorbed */
	if (m->status < 200) {
		/* Timer E keeps running: the request still needs to get
		 * through proxies that may drop it; F still bounds the wait. */
		if (t->state == TXN_TRYING)
			txn_set_state(t, TXN_PROCEEDING);
		t->ops->on_response(t, m, c);
		return;
	}
	txn_stop_timers(t);
	txn_set_state(t, TXN_COMPLETED);
	txn_keep(t, NULL, 0); /* Completed only absorbs responses */
	t->ops->on_response(t, m, c);
	if (!t->reliable && t->ops->on_completed && t->ops->on_completed(t, t->timers->t4))
		txn_terminate(t); /* Timer K is kept by the worker as a tomb (ctab.h) */
	else
		txn_linger(t, t->reliable ? 0 : t->timers->t4); /* Timer K */
}

/* Timer E: doubling to T2 in Trying; T2 flat once a 1xx came. */
static void nict_on_retx(struct txn *t)
{
	txn_resend(t);
	t->retx_ms = t->state == TXN_PROCEEDING ? t->timers->t2 : txn_double_to_t2(t);
	txn_retx_arm(t);
}

/* Timer F in Trying/Proceeding, K in Completed. */
static void nict_on_timeout(struct txn *t)
{
	if (t->state == TXN_COMPLETED)
		txn_terminate(t);
	else
		txn_fail(t, 408);
}

/* ---- INVITE server (§17.2.1, §13.3.1.4, RFC 6026 §7.1) ---- */

static void ist_on_request(struct txn *t)
{
	/* Proceeding: the last provisional, if any; Completed: the final.
	 * Accepted absorbs the INVITE (RFC 6026): the 2xx goes out on its own
	 * schedule. Confirmed absorbs it too. */
	if (t->state == TXN_PROCEEDING || t->state == TXN_COMPLETED)
		txn_resend(t);
}

static void ist_on_ack(struct txn *t)
{
	if (t->state == TXN_COMPLETED) {
		/* G stops, and H with it: the non-2xx got through. */
		txn_stop_timers(t);
		txn_set_state(t, TXN_CONFIRMED);
		txn_linger(t, t->reliable ? 0 : t->timers->t4); /* Timer I */
	} else if (t->state == TXN_ACCEPTED) {
		/* Stay until L to absorb retransmitted INVITEs; the 2xx is
		 * never sent again, so its copy goes. */
		t->got_ack = true;
		wheel_timer_cancel(&t->retx);
		txn_keep(t, NULL, 0);
	}
}

/* A final from the TU; t->msg already holds it. */
static void ist_final(struct txn *t, unsigned status)
{
	txn_arm(t, &t->timeout, txn_64t1(t)); /* Timer H or L */
	if (status < 300) {
		txn_set_state(t, TXN_ACCEPTED);
		txn_send(t);
		txn_retx_start(t); /* §13.3.1.4: on every transport */
		return;
	}
	txn_set_state(t, TXN_COMPLETED);
	txn_send(t);
	if (!t->reliable)
		txn_retx_start(t); /* Timer G */
}

static void ist_on_retx(struct txn *t)
{
	/* Timer G (Completed) and the 2xx (Accepted) back off alike. */
	txn_resend(t);
	t->retx_ms = txn_double_to_t2(t);
	txn_retx_arm(t);
}

static bool ist_awaits_ack(const struct txn *t)
{
	return t->type == TXN_INVITE_SERVER &&
	       (t->state == TXN_COMPLETED || (t->state == TXN_ACCEPTED && !t->got_ack));
}

/* Timer H in Completed, I in Confirmed, L in Accepted. */
static void ist_on_timeout(struct txn *t)
{
	if (ist_awaits_ack(t))
		txn_fail(t, 408);
	else
		txn_terminate(t);
}

/* ---- non-INVITE server (§17.2.2) ---- */

static void nist_on_request(struct txn *t)
{
	/* Trying has nothing to resend yet; the request stays with the TU. */
	if (t->state == TXN_PROCEEDING || t->state == TXN_COMPLETED)
		txn_resend(t);
}

static void nist_provisional(struct txn *t)
{
	if (t->state == TXN_TRYING)
		txn_set_state(t, TXN_PROCEEDING);
	txn_send(t);
}

static void nist_final(struct txn *t)
{
	txn_set_state(t, TXN_COMPLETED);
	txn_send(t);
	txn_linger(t, t->reliable ? 0 : txn_64t1(t)); /* Timer J */
}

/* Timer J. */
static void nist_on_timeout(struct txn *t)
{
	txn_terminate(t);
}

/* ---- timer callbacks ---- */

static void txn_on_retx(struct wheel_timer *w)
{
	struct txn *t = container_of(w, struct txn, retx);

	switch (t->type) {
	case TXN_INVITE_CLIENT:
		ict_on_retx(t);
		break;
	case TXN_NONINVITE_CLIENT:
		nict_on_retx(t);
		break;
	case TXN_INVITE_SERVER:
		ist_on_retx(t);
		break;
	case TXN_NONINVITE_SERVER:
		break; /* never armed: its responses are resent on request */
	}
}

static void txn_on_timeout(struct wheel_timer *w)
{
	struct txn *t = container_of(w, struct txn, timeout);

	switch (t->type) {
	case TXN_INVITE_CLIENT:
		ict_on_timeout(t);
		break;
	case TXN_NONINVITE_CLIENT:
		nict_on_timeout(t);
		break;
	case TXN_INVITE_SERVER:
		ist_on_timeout(t);
		break;
	case TXN_NONINVITE_SERVER:
		nist_on_timeout(t);
		break;
	}
}

/* ---- public ---- */

/* A client is live from txn_client_start() to Terminated. */
static bool txn_client_started(const struct txn *t)
{
	if (t->state == TXN_TERMINATED)
		return false;
	return t->state != txn_first_state(t->type) || t->msg;
}

void txn_init(struct txn *t, enum txn_type type, bool reliable, struct wheel *w,
	      const struct txn_timers *timers, const struct txn_ops *ops, void *owner)
{
	*t = (struct txn){
		.type = type,
		.state = txn_first_state(type),
		.reliable = reliable,
		.wheel = w,
		.ops = ops,
		.timers = timers,
		.owner = owner,
	};
	wheel_timer_init(&t->retx, txn_on_retx);
	wheel_timer_init(&t->timeout, txn_on_timeout);
}

int txn_client_start(struct txn *t, const char *req, size_t len)
{
	char *copy;

	if (!txn_is_client(t) || t->msg || t->state != txn_first_state(t->type))
		return -EINVAL;
	copy = txn_copy(req, len);
	if (!copy)
		return -ENOMEM;
	txn_keep(t, copy, len);
	txn_arm(t, &t->timeout, txn_64t1(t)); /* Timer B or F, any transport */
	if (!t->reliable)
		txn_retx_start(t); /* Timer A or E */
	txn_send(t);
	return 0;
}

void txn_client_on_response(struct txn *t, const struct sip_msg *m,
			    const struct sip_core *c)
{
	if (m->is_request || m->status < 100 || m->status > 699 || !txn_client_started(t))
		return;
	t->last_status = m->status;
	if (t->type == TXN_INVITE_CLIENT)
		ict_on_response(t, m, c);
	else if (t->type == TXN_NONINVITE_CLIENT)
		nict_on_response(t, m, c);
}

void txn_server_on_request(struct txn *t)
{
	if (t->type == TXN_INVITE_SERVER)
		ist_on_request(t);
	else if (t->type == TXN_NONINVITE_SERVER)
		nist_on_request(t);
}

void txn_server_on_ack(struct txn *t)
{
	if (t->type == TXN_INVITE_SERVER)
		ist_on_ack(t);
}

/* Whether the TU may still respond: before any final. */
static bool txn_server_open(const struct txn *t)
{
	if (t->type == TXN_INVITE_SERVER)
		return t->state == TXN_PROCEEDING;
	if (t->type == TXN_NONINVITE_SERVER)
		return t->state == TXN_TRYING || t->state == TXN_PROCEEDING;
	return false;
}

int txn_server_respond(struct txn *t, const char *resp, size_t len, unsigned status)
{
	char *copy;

	if (!txn_server_open(t) || status < 100 || status > 699)
		return -EINVAL;
	copy = txn_copy(resp, len);
	if (!copy)
		return -ENOMEM;
	txn_keep(t, copy, len);
	t->last_status = (uint16_t)status;
	if (t->type == TXN_INVITE_SERVER) {
		if (status < 200)
			txn_send(t); /* Proceeding stays Proceeding */
		else
			ist_final(t, status);
	} else if (status < 200) {
		nist_provisional(t);
	} else {
		nist_final(t); /* may terminate, and free t: not touched after */
	}
	return 0;
}

void txn_transport_error(struct txn *t)
{
	bool final_seen = t->state == TXN_COMPLETED || t->state == TXN_ACCEPTED;

	if (t->state == TXN_TERMINATED)
		return;
	/* A client TU that has not seen a final acts as if 503 came; one
	 * that has must not get a second final outcome. An INVITE server
	 * whose final cannot reach the caller will never see its ACK: its
	 * TU hears it as from Timer H or L, at once (§17.2.4). */
	if (txn_is_client(t) ? !final_seen : ist_awaits_ack(t))
		txn_fail(t, 503);
	else
		txn_terminate(t);
}

void txn_destroy(struct txn *t)
{
	txn_stop_timers(t);
	free(t->msg);
	t->msg = NULL;
	t->msg_len = 0;
}
