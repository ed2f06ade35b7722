/* test_txn.c: the four transaction machines on a fake clock with fake ops: one test per
 * transition, exact retransmission schedules, the non-2xx ACK, TCP vs UDP, transport errors.
 * RFC 3261 §17.1.1, §17.1.1.3, §17.1.2, §17.2.1, §17.2.2, §17.1.4, §17.2.4, §13.3.1.4; RFC 6026. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "txn.h"

/* RFC 3261 defaults, so the schedules read as in the RFC's examples. */
#define T1 500
#define T2 4000
#define T4 5000
#define T64 (64 * T1)

static const struct txn_timers timers = { T1, T2, T4 };

/* ---- the fake worker: records every send and callback, in order ---- */

#define MAX_SENDS 64

static struct {
	struct {
		uint64_t at;
		char *buf;
		size_t len;
	} sends[MAX_SENDS];
	unsigned nsends;
	unsigned nresponses;
	unsigned timeouts;
	unsigned timeout_status;
	unsigned terminated;
	unsigned nstates;
	size_t armed_at_end;  /* wheel_count() inside on_terminated */
	bool msg_at_end;      /* t->msg still set inside on_terminated */
	bool after_end;       /* a callback came after on_terminated */
	bool checked;         /* the test ran its end checks */
	char log[8192];       /* "send INVITE@0, Calling>Proceeding@200, ..." */
} rec;

static struct wheel wheel;
static struct txn txn;
static int owner; /* t->owner of every txn here: proves which txn calls */

static void note(const char *fmt, ...)
{
	size_t n = strlen(rec.log);
	va_list ap;

	if (n)
		n += (size_t)snprintf(rec.log + n, sizeof(rec.log) - n, ", ");
	va_start(ap, fmt);
	vsnprintf(rec.log + n, sizeof(rec.log) - n, fmt, ap);
	va_end(ap);
}

static void check_caller(struct txn *t)
{
	cr_assert_eq(t->owner, &owner);
	if (rec.terminated)
		rec.after_end = true;
}

/* "INVITE", "ACK", or the status code of a response. */
static void note_send(const char *buf, size_t len)
{
	size_t word = 0;

	if (len >= 11 && memcmp(buf, "SIP/2.0 ", 8) == 0) {
		note("send %.3s@%llu", buf + 8, (unsigned long long)wheel_now(&wheel));
		return;
	}
	while (word < len && buf[word] != ' ')
		word++;
	note("send %.*s@%llu", (int)word, buf, (unsigned long long)wheel_now(&wheel));
}

static void fake_send(struct txn *t, const char *buf, size_t len)
{
	check_caller(t);
	cr_assert_lt(rec.nsends, MAX_SENDS);
	rec.sends[rec.nsends].at = wheel_now(&wheel);
	rec.sends[rec.nsends].buf = malloc(len + 1);
	cr_assert_not_null(rec.sends[rec.nsends].buf);
	memcpy(rec.sends[rec.nsends].buf, buf, len);
	rec.sends[rec.nsends].buf[len] = '\0';
	rec.sends[rec.nsends].len = len;
	rec.nsends++;
	note_send(buf, len);
}

static void fake_on_response(struct txn *t, const struct sip_msg *m, const struct sip_core *c)
{
	/* The core passed up is the one the worker read for matching. */
	cr_assert_eq(c->cseq.num > 0, true);
	check_caller(t);
	rec.nresponses++;
	note("resp %u@%llu", m->status, (unsigned long long)wheel_now(&wheel));
}

static void fake_on_timeout(struct txn *t, unsigned status)
{
	check_caller(t);
	rec.timeouts++;
	rec.timeout_status = status;
	note("timeout %u@%llu", status, (unsigned long long)wheel_now(&wheel));
}

static void fake_on_terminated(struct txn *t)
{
	check_caller(t);
	cr_assert_eq(t->state, TXN_TERMINATED);
	rec.terminated++;
	rec.armed_at_end = wheel_count(&wheel);
	rec.msg_at_end = t->msg != NULL;
	note("terminated@%llu", (unsigned long long)wheel_now(&wheel));
}

static void fake_on_state(struct txn *t, enum txn_state from)
{
	check_caller(t);
	rec.nstates++;
	note("%s>%s@%llu", txn_state_name(from), txn_state_name(t->state),
	     (unsigned long long)wheel_now(&wheel));
}

static const struct txn_ops ops = {
	.send = fake_send,
	.on_response = fake_on_response,
	.on_timeout = fake_on_timeout,
	.on_terminated = fake_on_terminated,
	.on_state = fake_on_state,
};

/* The worker frees t inside on_terminated: AddressSanitizer then catches
 * any touch of t after it. */
static void freeing_on_terminated(struct txn *t)
{
	fake_on_terminated(t);
	free(t);
}

static const struct txn_ops freeing_ops = {
	.send = fake_send,
	.on_response = fake_on_response,
	.on_timeout = fake_on_timeout,
	.on_terminated = freeing_on_terminated,
	.on_state = fake_on_state,
};

/* A worker whose tomb takes Timer K over, or one whose tomb is full. */
static uint32_t tomb_ms; /* what on_completed was given, 0 if not called */

static bool fake_on_completed(struct txn *t, uint32_t ms, bool take)
{
	check_caller(t);
	cr_assert_eq(t->state, TXN_COMPLETED);
	cr_assert_eq(rec.nresponses, 1, "after the final went up");
	tomb_ms = ms;
	note("tomb %u@%llu", ms, (unsigned long long)wheel_now(&wheel));
	return take;
}

static bool tomb_takes(struct txn *t, uint32_t ms)
{
	return fake_on_completed(t, ms, true);
}

static bool tomb_full(struct txn *t, uint32_t ms)
{
	return fake_on_completed(t, ms, false);
}

static const struct txn_ops tomb_ops = {
	.send = fake_send,
	.on_response = fake_on_response,
	.on_timeout = fake_on_timeout,
	.on_terminated = freeing_on_terminated,
	.on_state = fake_on_state,
	.on_completed = tomb_takes,
};

static const struct txn_ops tomb_full_ops = {
	.send = fake_send,
	.on_response = fake_on_response,
	.on_timeout = fake_on_timeout,
	.on_terminated = fake_on_terminated,
	.on_state = fake_on_state,
	.on_completed = tomb_full,
};

/* ---- the fake clock ---- */

/* One ms per advance, so each send and callback is seen at the exact ms
 * it happens and nothing can fire early or late unnoticed. */
static void clock_to(uint64_t ms)
{
	while (wheel_now(&wheel) < ms)
		wheel_advance(&wheel, wheel_now(&wheel) + 1);
}

/* ---- messages ---- */

#define INVITE_RURI "sip:+14155550100@127.0.0.1:5080;transport=udp"
#define INVITE_TOP_VIA "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-top;rport"
#define INVITE_FROM "\"Caller\" <sip:+14155550199@carrier.example.net>;tag=from-1"
#define INVITE_TO "<sip:+14155550100@acme.example.net>"
#define INVITE_CALL_ID "call-1@192.0.2.10"
#define SDP "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\n" \
	    "t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"

/* Two Via headers, the first a list, so that "the top Via only" means
 * one element; Route in two headers, one a list; a body the ACK drops. */
static const char invite[] =
	"INVITE " INVITE_RURI " SIP/2.0\r\n"
	"Via: " INVITE_TOP_VIA ", SIP/2.0/UDP 192.0.2.20;branch=z9hG4bK-second\r\n"
	"Via: SIP/2.0/UDP 192.0.2.30;branch=z9hG4bK-third\r\n"
	"Max-Forwards: 69\r\n"
	"Route: <sip:proxy1.example.net;lr>\r\n"
	"Route: <sip:proxy2.example.net;lr>, <sip:proxy3.example.net;lr>\r\n"
	"From: " INVITE_FROM "\r\n"
	"To: " INVITE_TO "\r\n"
	"Call-ID: " INVITE_CALL_ID "\r\n"
	"CSeq: 4711 INVITE\r\n"
	"Contact: <sip:xferd@192.0.2.10:5060>\r\n"
	"Content-Type: application/sdp\r\n"
	"Content-Length: 89\r\n" /* sizeof(SDP) - 1 */
	"\r\n" SDP;

/* Compact names throughout: the ACK's canonical names are longer. */
static const char invite_compact[] =
	"INVITE sip:b@h SIP/2.0\r\n"
	"v:SIP/2.0/TCP h;branch=z9hG4bK-c\r\n"
	"f:<sip:a@h>;tag=a\r\n"
	"t:<sip:b@h>\r\n"
	"i:c\r\n"
	"CSeq:1 INVITE\r\n"
	"l:0\r\n"
	"\r\n";

static const char notify[] =
	"NOTIFY sip:agent@127.0.0.1:5080 SIP/2.0\r\n"
	"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-notify-1\r\n"
	"Max-Forwards: 70\r\n"
	"From: <sip:+14155550100@acme.example.net>;tag=x1\r\n"
	"To: <sip:agent@127.0.0.1>;tag=e1\r\n"
	"Call-ID: b-leg@192.0.2.10\r\n"
	"CSeq: 3 NOTIFY\r\n"
	"Event: refer\r\n"
	"Subscription-State: active;expires=60\r\n"
	"Content-Type: message/sipfrag;version=2.0\r\n"
	"Content-Length: 20\r\n"
	"\r\n"
	"SIP/2.0 100 Trying\r\n";

/* A response to invite (inv) or notify, with To tag tag. */
static int response_text(char *buf, size_t cap, bool inv, unsigned status, const char *tag)
{
	return snprintf(buf, cap,
			"SIP/2.0 %u Status\r\n"
			"Via: %s;received=192.0.2.10\r\n"
			"From: %s\r\n"
			"To: %s;tag=%s\r\n"
			"Call-ID: %s\r\n"
			"CSeq: %s\r\n"
			"Content-Length: 0\r\n"
			"\r\n",
			status,
			inv ? INVITE_TOP_VIA : "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-notify-1",
			inv ? INVITE_FROM : "<sip:+14155550100@acme.example.net>;tag=x1",
			inv ? INVITE_TO : "<sip:agent@127.0.0.1>", tag,
			inv ? INVITE_CALL_ID : "b-leg@192.0.2.10", inv ? "4711 INVITE" : "3 NOTIFY");
}

/* The worker's part: parse, read the core, hand to the txn. */
static void deliver_to(struct txn *t, unsigned status, const char *tag)
{
	static struct sip_msg m;
	struct sip_core core;
	char buf[1024];
	int n = response_text(buf, sizeof(buf), t->type == TXN_INVITE_CLIENT, status, tag);

	cr_assert(n > 0 && (size_t)n < sizeof(buf));
	cr_assert_eq(sip_msg_parse(&m, buf, (size_t)n), 0);
	cr_assert_eq(sip_core_read(&m, &core), 0);
	txn_client_on_response(t, &m, &core);
}

static void deliver_tagged(unsigned status, const char *tag)
{
	deliver_to(&txn, status, tag);
}

static void deliver(unsigned status)
{
	deliver_tagged(status, "to-1");
}

/* A server's response: the txn only stores and sends it. */
static int respond(unsigned status)
{
	static char bufs[8][256];
	static unsigned next;
	char *buf = bufs[next++ % 8];
	int n = snprintf(buf, sizeof(bufs[0]),
			 "SIP/2.0 %u Status\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-in\r\n"
			 "Content-Length: 0\r\n\r\n", status);

	return txn_server_respond(&txn, buf, (size_t)n, status);
}

/* ---- setup and the checks that end every test ---- */

static void setup(void)
{
	memset(&rec, 0, sizeof(rec));
	tomb_ms = 0;
	wheel_init(&wheel, 0);
}

static void teardown(void)
{
	txn_destroy(&txn);
	for (unsigned i = 0; i < rec.nsends; i++)
		free(rec.sends[i].buf);
	/* A test that skipped its end checks must not pass silently. */
	if (!rec.checked)
		abort();
}

static void new_txn(enum txn_type type, bool reliable)
{
	txn_init(&txn, type, reliable, &wheel, &timers, &ops, &owner);
}

static void start_client(enum txn_type type, bool reliable)
{
	new_txn(type, reliable);
	if (type == TXN_INVITE_CLIENT)
		cr_assert_eq(txn_client_start(&txn, invite, sizeof(invite) - 1), 0);
	else
		cr_assert_eq(txn_client_start(&txn, notify, sizeof(notify) - 1), 0);
}

static void check_log(const char *want)
{
	cr_assert_str_eq(rec.log, want);
}

static void check_log_ends(const char *tail)
{
	size_t n = strlen(rec.log), k = strlen(tail);

	cr_assert(n >= k && strcmp(rec.log + n - k, tail) == 0, "log \"%s\" does not end in \"%s\"",
		  rec.log, tail);
}

/* Sends happened exactly at these ms, all carrying the same bytes as the first. */
static void check_send_times(const uint64_t *at, unsigned n)
{
	cr_assert_eq(rec.nsends, n, "%u sends, want %u: %s", rec.nsends, n, rec.log);
	for (unsigned i = 0; i < n; i++) {
		cr_assert_eq(rec.sends[i].at, at[i], "send %u at %llu, want %llu", i,
			     (unsigned long long)rec.sends[i].at, (unsigned long long)at[i]);
		cr_assert_eq(rec.sends[i].len, rec.sends[0].len);
		cr_assert_eq(memcmp(rec.sends[i].buf, rec.sends[0].buf, rec.sends[0].len), 0);
	}
}

static void check_state(enum txn_state s)
{
	cr_assert_eq(txn.state, s, "state %s, want %s", txn_state_name(txn.state), txn_state_name(s));
}

static void end_common(void)
{
	cr_assert_eq(wheel_count(&wheel), 0, "%zu timers still armed", wheel_count(&wheel));
	cr_assert(!rec.after_end, "a callback came after on_terminated: %s", rec.log);
	rec.checked = true;
}

/* The test drove the txn to Terminated: on_terminated came once, last,
 * with every timer cancelled and the message copy freed. */
static void end_terminated(void)
{
	const char *last;

	cr_assert_eq(rec.terminated, 1, "%u on_terminated: %s", rec.terminated, rec.log);
	cr_assert_eq(rec.armed_at_end, 0);
	cr_assert(!rec.msg_at_end);
	last = strrchr(rec.log, ',');
	last = last ? last + 2 : rec.log;
	cr_assert(strncmp(last, "terminated@", 11) == 0, "not last: %s", rec.log);
	end_common();
}

/* The test stops a live txn: the worker destroys it, without on_terminated. */
static void end_alive(void)
{
	cr_assert_eq(rec.terminated, 0);
	txn_destroy(&txn);
	cr_assert_null(txn.msg);
	end_common();
}

/* ================= INVITE client (§17.1.1, RFC 6026 §8.4) ================= */

TestSuite(invite_client, .init = setup, .fini = teardown);

Test(invite_client, calling_sends_request_and_arms_a_and_b)
{
	start_client(TXN_INVITE_CLIENT, false);
	check_state(TXN_CALLING);
	check_log("send INVITE@0");
	cr_assert_eq(rec.sends[0].len, sizeof(invite) - 1);
	cr_assert_eq(memcmp(rec.sends[0].buf, invite, sizeof(invite) - 1), 0);
	cr_assert_eq(wheel_count(&wheel), 2); /* A and B */
	end_alive();
}

Test(invite_client, calling_retransmits_on_timer_a_doubling_without_cap)
{
	static const uint64_t at[] = { 0, 500, 1500, 3500, 7500, 15500, 31500 };

	start_client(TXN_INVITE_CLIENT, false);
	clock_to(31999);
	check_send_times(at, 7);
	check_state(TXN_CALLING);
	cr_assert_eq(txn.retransmits, 6);
	cr_assert_eq(rec.timeouts, 0);
	clock_to(40000);
	check_send_times(at, 7);
	end_terminated();
}

Test(invite_client, calling_to_terminated_on_timer_b)
{
	start_client(TXN_INVITE_CLIENT, false);
	clock_to(40000);
	cr_assert_eq(rec.timeouts, 1);
	cr_assert_eq(rec.timeout_status, 408);
	cr_assert_eq(rec.nresponses, 0);
	cr_assert_eq(rec.nstates, 1);
	check_log_ends("send INVITE@31500, timeout 408@32000, Calling>Terminated@32000, "
		       "terminated@32000");
	end_terminated();
}

Test(invite_client, timers_run_from_the_start_time)
{
	static const uint64_t at[] = { 1234, 1734, 2734, 4734, 8734, 16734, 32734 };

	clock_to(1234);
	start_client(TXN_INVITE_CLIENT, false);
	clock_to(50000);
	check_send_times(at, 7);
	check_log_ends("timeout 408@33234, Calling>Terminated@33234, terminated@33234");
	end_terminated();
}

Test(invite_client, calling_to_proceeding_on_1xx)
{
	start_client(TXN_INVITE_CLIENT, false);
	clock_to(200);
	deliver(180);
	check_state(TXN_PROCEEDING);
	check_log("send INVITE@0, Calling>Proceeding@200, resp 180@200");
	/* A stops; B only bounds Calling: the TU's own timer rules now. */
	cr_assert_eq(wheel_count(&wheel), 0);
	clock_to(100000);
	cr_assert_eq(rec.nsends, 1);
	cr_assert_eq(rec.timeouts, 0);
	end_alive();
}

Test(invite_client, proceeding_passes_each_1xx_up)
{
	start_client(TXN_INVITE_CLIENT, false);
	deliver(100);
	deliver(180);
	deliver(183);
	deliver(180);
	check_log("send INVITE@0, Calling>Proceeding@0, resp 100@0, resp 180@0, resp 183@0, "
		  "resp 180@0");
	end_alive();
}

Test(invite_client, calling_to_accepted_on_2xx)
{
	start_client(TXN_INVITE_CLIENT, false);
	clock_to(300);
	deliver(200);
	check_state(TXN_ACCEPTED);
	check_log("send INVITE@0, Calling>Accepted@300, resp 200@300");
	cr_assert_eq(wheel_count(&wheel), 1); /* M only: the TU sends the ACK */
	cr_assert_null(txn.msg, "Accepted never resends: the request's copy goes");
	end_alive();
}

Test(invite_client, proceeding_to_accepted_on_2xx)
{
	start_client(TXN_INVITE_CLIENT, false);
	clock_to(100);
	deliver(180);
	clock_to(5000);
	deliver(200);
	check_state(TXN_ACCEPTED);
	check_log("send INVITE@0, Calling>Proceeding@100, resp 180@100, "
		  "Proceeding>Accepted@5000, resp 200@5000");
	cr_assert_eq(wheel_count(&wheel), 1);
	end_alive();
}

Test(invite_client, accepted_passes_every_2xx_and_absorbs_the_rest)
{
	start_client(TXN_INVITE_CLIENT, false);
	deliver_tagged(200, "fork-a");
	deliver_tagged(200, "fork-a"); /* retransmission */
	deliver_tagged(200, "fork-b"); /* another fork */
	deliver(180);
	deliver(486);
	check_log("send INVITE@0, Calling>Accepted@0, resp 200@0, resp 200@0, resp 200@0");
	cr_assert_eq(rec.nsends, 1); /* never an ACK for a 2xx here */
	end_alive();
}

Test(invite_client, accepted_to_terminated_on_timer_m)
{
	start_client(TXN_INVITE_CLIENT, false);
	clock_to(700);
	deliver(200);
	clock_to(700 + T64 - 1);
	check_state(TXN_ACCEPTED);
	clock_to(700 + T64);
	check_log_ends("resp 200@700, Accepted>Terminated@32700, terminated@32700");
	cr_assert_eq(rec.timeouts, 0);
	end_terminated();
}

Test(invite_client, calling_to_completed_on_non2xx)
{
	start_client(TXN_INVITE_CLIENT, false);
	clock_to(700);
	deliver(486);
	check_state(TXN_COMPLETED);
	check_log("send INVITE@0, send INVITE@500, Calling>Completed@700, send ACK@700, "
		  "resp 486@700");
	cr_assert_eq(wheel_count(&wheel), 1); /* D only: A and B stopped */
	end_alive();
}

Test(invite_client, proceeding_to_completed_on_non2xx)
{
	start_client(TXN_INVITE_CLIENT, false);
	deliver(183);
	clock_to(9000);
	deliver(603);
	check_state(TXN_COMPLETED);
	check_log("send INVITE@0, Calling>Proceeding@0, resp 183@0, Proceeding>Completed@9000, "
		  "send ACK@9000, resp 603@9000");
	end_alive();
}

Test(invite_client, completed_resends_ack_for_each_retransmitted_final)
{
	start_client(TXN_INVITE_CLIENT, false);
	deliver(486);
	clock_to(500);
	deliver(486);
	clock_to(1500);
	deliver(486);
	deliver(200); /* neither a retransmission nor for the TU here */
	deliver(180);
	check_log("send INVITE@0, Calling>Completed@0, send ACK@0, resp 486@0, send ACK@500, "
		  "send ACK@1500");
	cr_assert_eq(rec.sends[2].len, rec.sends[1].len);
	cr_assert_eq(memcmp(rec.sends[2].buf, rec.sends[1].buf, rec.sends[1].len), 0);
	cr_assert_eq(txn.retransmits, 2);
	end_alive();
}

Test(invite_client, completed_to_terminated_on_timer_d)
{
	start_client(TXN_INVITE_CLIENT, false);
	clock_to(700);
	deliver(404);
	clock_to(700 + 32000 - 1);
	check_state(TXN_COMPLETED);
	clock_to(700 + 32000);
	check_log_ends("resp 404@700, Completed>Terminated@32700, terminated@32700");
	cr_assert_eq(rec.timeouts, 0);
	cr_assert_eq(rec.nsends, 3); /* INVITE, INVITE at 500, ACK */
	end_terminated();
}

/* §17.1.1.3, field by field. */
Test(invite_client, ack_for_non2xx_is_built_per_17_1_1_3)
{
	static struct sip_msg ack;
	struct sip_core core;
	const struct sip_hdr *h;

	start_client(TXN_INVITE_CLIENT, false);
	deliver_tagged(486, "busy-7");
	cr_assert_eq(rec.nsends, 2);
	cr_assert_eq(sip_msg_parse(&ack, rec.sends[1].buf, rec.sends[1].len), 0);
	cr_assert_eq(sip_core_read(&ack, &core), 0);
	cr_assert(ack.is_request);
	cr_assert_eq(ack.method_id, SIP_METHOD_ACK);
	cr_assert(str_eq(ack.ruri, STR(INVITE_RURI)));
	/* One Via, the request's top one, branch included. */
	cr_assert_eq(sip_msg_hdr_total(&ack, SIP_HDR_VIA), 1);
	cr_assert(str_eq(sip_msg_hdr_first(&ack, SIP_HDR_VIA)->value, STR(INVITE_TOP_VIA)));
	cr_assert(str_eq(core.via.branch, STR("z9hG4bK-top")));
	cr_assert(str_eq(sip_msg_hdr_first(&ack, SIP_HDR_FROM)->value, STR(INVITE_FROM)));
	/* To of the response, with its tag. */
	cr_assert(str_eq(sip_msg_hdr_first(&ack, SIP_HDR_TO)->value, STR(INVITE_TO ";tag=busy-7")));
	cr_assert(str_eq(core.to.tag, STR("busy-7")));
	cr_assert(str_eq(core.call_id, STR(INVITE_CALL_ID)));
	cr_assert_eq(core.cseq.num, 4711);
	cr_assert_eq(core.cseq.method_id, SIP_METHOD_ACK);
	/* The Route set of the request, in order. */
	cr_assert_eq(sip_msg_hdr_total(&ack, SIP_HDR_ROUTE), 2);
	h = sip_msg_hdr_first(&ack, SIP_HDR_ROUTE);
	cr_assert(str_eq(h->value, STR("<sip:proxy1.example.net;lr>")));
	h = sip_msg_hdr_next(&ack, h);
	cr_assert(str_eq(h->value, STR("<sip:proxy2.example.net;lr>, <sip:proxy3.example.net;lr>")));
	cr_assert(core.has_max_forwards);
	cr_assert_eq(core.max_forwards, 70);
	cr_assert(ack.has_content_length);
	cr_assert_eq(ack.content_length, 0);
	cr_assert_eq(ack.body.n, 0);
	cr_assert_null(sip_msg_hdr_first(&ack, SIP_HDR_CONTACT));
	cr_assert_null(sip_msg_hdr_first(&ack, SIP_HDR_CONTENT_TYPE));
	cr_assert_eq(ack.nhdrs, 9); /* Via From To Call-ID CSeq 2 Route Max-Forwards C-Length */
	end_alive();
}

Test(invite_client, ack_from_a_compact_request_fits_and_parses)
{
	static struct sip_msg ack;
	struct sip_core core;

	new_txn(TXN_INVITE_CLIENT, true);
	cr_assert_eq(txn_client_start(&txn, invite_compact, sizeof(invite_compact) - 1), 0);
	deliver_tagged(480, "z");
	cr_assert_eq(rec.nsends, 2);
	cr_assert_eq(sip_msg_parse(&ack, rec.sends[1].buf, rec.sends[1].len), 0);
	cr_assert_eq(sip_core_read(&ack, &core), 0);
	cr_assert_eq(ack.method_id, SIP_METHOD_ACK);
	cr_assert(str_eq(ack.ruri, STR("sip:b@h")));
	cr_assert(str_eq(sip_msg_hdr_first(&ack, SIP_HDR_VIA)->value,
			 STR("SIP/2.0/TCP h;branch=z9hG4bK-c")));
	cr_assert(str_eq(sip_msg_hdr_first(&ack, SIP_HDR_VIA)->name, STR("Via")));
	cr_assert(str_eq(sip_msg_hdr_first(&ack, SIP_HDR_FROM)->value, STR("<sip:a@h>;tag=a")));
	cr_assert(str_eq(core.call_id, STR("c")));
	cr_assert_eq(core.cseq.num, 1);
	cr_assert_eq(sip_msg_hdr_total(&ack, SIP_HDR_ROUTE), 0);
	end_terminated(); /* reliable: Timer D is zero */
}

Test(invite_client, reliable_sends_once_and_still_times_out_on_b)
{
	start_client(TXN_INVITE_CLIENT, true);
	cr_assert_eq(wheel_count(&wheel), 1); /* B only: no Timer A over TCP */
	clock_to(40000);
	check_log("send INVITE@0, timeout 408@32000, Calling>Terminated@32000, terminated@32000");
	end_terminated();
}

Test(invite_client, reliable_completed_terminates_at_once)
{
	start_client(TXN_INVITE_CLIENT, true);
	clock_to(100);
	deliver(486);
	/* Timer D is zero over TCP: no wait for an advance. */
	check_log("send INVITE@0, Calling>Completed@100, send ACK@100, resp 486@100, "
		  "Completed>Terminated@100, terminated@100");
	end_terminated();
}

Test(invite_client, reliable_accepted_still_waits_timer_m)
{
	start_client(TXN_INVITE_CLIENT, true);
	deliver(200);
	clock_to(T64 - 1);
	check_state(TXN_ACCEPTED);
	deliver(200);
	clock_to(T64);
	check_log("send INVITE@0, Calling>Accepted@0, resp 200@0, resp 200@31999, "
		  "Accepted>Terminated@32000, terminated@32000");
	end_terminated();
}

Test(invite_client, calling_to_terminated_on_transport_error)
{
	start_client(TXN_INVITE_CLIENT, false);
	clock_to(10);
	txn_transport_error(&txn);
	check_log("send INVITE@0, timeout 503@10, Calling>Terminated@10, terminated@10");
	end_terminated();
}

Test(invite_client, proceeding_to_terminated_on_transport_error)
{
	start_client(TXN_INVITE_CLIENT, true);
	deliver(180);
	txn_transport_error(&txn);
	check_log("send INVITE@0, Calling>Proceeding@0, resp 180@0, timeout 503@0, "
		  "Proceeding>Terminated@0, terminated@0");
	end_terminated();
}

/* The TU has its final: a 503 on top would be a second outcome. */
Test(invite_client, completed_to_terminated_on_transport_error_without_timeout)
{
	start_client(TXN_INVITE_CLIENT, false);
	deliver(486);
	txn_transport_error(&txn);
	check_log("send INVITE@0, Calling>Completed@0, send ACK@0, resp 486@0, "
		  "Completed>Terminated@0, terminated@0");
	end_terminated();
}

Test(invite_client, accepted_to_terminated_on_transport_error_without_timeout)
{
	start_client(TXN_INVITE_CLIENT, false);
	deliver(200);
	txn_transport_error(&txn);
	check_log("send INVITE@0, Calling>Accepted@0, resp 200@0, Accepted>Terminated@0, "
		  "terminated@0");
	end_terminated();
}

Test(invite_client, terminated_ignores_everything)
{
	start_client(TXN_INVITE_CLIENT, false);
	clock_to(T64);
	cr_assert_eq(rec.terminated, 1);
	deliver(200);
	deliver(486);
	txn_transport_error(&txn);
	clock_to(100000);
	cr_assert_eq(rec.terminated, 1);
	cr_assert_eq(rec.nresponses, 0);
	cr_assert_eq(rec.timeouts, 1);
	end_terminated();
}

Test(invite_client, worker_may_free_txn_in_on_terminated)
{
	struct txn *t = malloc(sizeof(*t));

	cr_assert_not_null(t);
	/* Timer B from the wheel, then D = 0 inside txn_client_on_response:
	 * AddressSanitizer reports any touch of t after on_terminated. */
	txn_init(t, TXN_INVITE_CLIENT, false, &wheel, &timers, &freeing_ops, &owner);
	cr_assert_eq(txn_client_start(t, invite, sizeof(invite) - 1), 0);
	clock_to(40000);
	cr_assert_eq(rec.terminated, 1);

	rec.terminated = 0;
	t = malloc(sizeof(*t));
	cr_assert_not_null(t);
	txn_init(t, TXN_INVITE_CLIENT, true, &wheel, &timers, &freeing_ops, &owner);
	cr_assert_eq(txn_client_start(t, invite, sizeof(invite) - 1), 0);
	deliver_to(t, 486, "x");
	cr_assert_eq(rec.terminated, 1);
	end_common();
}

/* ================= non-INVITE client (§17.1.2) ================= */

TestSuite(noninvite_client, .init = setup, .fini = teardown);

Test(noninvite_client, trying_sends_request_and_arms_e_and_f)
{
	start_client(TXN_NONINVITE_CLIENT, false);
	check_state(TXN_TRYING);
	check_log("send NOTIFY@0");
	cr_assert_eq(memcmp(rec.sends[0].buf, notify, sizeof(notify) - 1), 0);
	cr_assert_eq(wheel_count(&wheel), 2);
	end_alive();
}

Test(noninvite_client, trying_retransmits_on_timer_e_capped_at_t2)
{
	static const uint64_t at[] = { 0, 500, 1500, 3500, 7500, 11500, 15500,
				       19500, 23500, 27500, 31500 };

	start_client(TXN_NONINVITE_CLIENT, false);
	clock_to(31999);
	check_send_times(at, 11);
	check_state(TXN_TRYING);
	clock_to(40000);
	check_send_times(at, 11);
	end_terminated();
}

Test(noninvite_client, trying_to_terminated_on_timer_f)
{
	start_client(TXN_NONINVITE_CLIENT, false);
	clock_to(40000);
	cr_assert_eq(rec.timeouts, 1);
	check_log_ends("send NOTIFY@31500, timeout 408@32000, Trying>Terminated@32000, "
		       "terminated@32000");
	end_terminated();
}

Test(noninvite_client, trying_to_proceeding_on_1xx)
{
	start_client(TXN_NONINVITE_CLIENT, false);
	clock_to(600);
	deliver(100);
	check_state(TXN_PROCEEDING);
	check_log("send NOTIFY@0, send NOTIFY@500, Trying>Proceeding@600, resp 100@600");
	cr_assert_eq(wheel_count(&wheel), 2); /* E and F keep running */
	end_alive();
}

/* §17.1.2.2: in Proceeding, Timer E is reset to T2 each time it fires. */
Test(noninvite_client, proceeding_retransmits_every_t2)
{
	static const uint64_t at[] = { 0, 500, 1500, 5500, 9500, 13500, 17500,
				       21500, 25500, 29500 };

	start_client(TXN_NONINVITE_CLIENT, false);
	clock_to(600);
	deliver(100);
	clock_to(40000);
	check_send_times(at, 10);
	end_terminated();
}

Test(noninvite_client, proceeding_to_terminated_on_timer_f)
{
	start_client(TXN_NONINVITE_CLIENT, false);
	deliver(180);
	clock_to(40000);
	/* E was armed at T1 in Trying, then T2 apart: 500, 4500 ... 28500. */
	check_log_ends("send NOTIFY@28500, timeout 408@32000, Proceeding>Terminated@32000, "
		       "terminated@32000");
	end_terminated();
}

Test(noninvite_client, proceeding_passes_each_1xx_up)
{
	start_client(TXN_NONINVITE_CLIENT, false);
	deliver(100);
	deliver(180);
	check_log("send NOTIFY@0, Trying>Proceeding@0, resp 100@0, resp 180@0");
	end_alive();
}

Test(noninvite_client, trying_to_completed_on_final)
{
	start_client(TXN_NONINVITE_CLIENT, false);
	clock_to(700);
	deliver(200);
	check_state(TXN_COMPLETED);
	check_log("send NOTIFY@0, send NOTIFY@500, Trying>Completed@700, resp 200@700");
	cr_assert_eq(wheel_count(&wheel), 1); /* K only */
	end_alive();
}

Test(noninvite_client, proceeding_to_completed_on_final)
{
	start_client(TXN_NONINVITE_CLIENT, false);
	deliver(100);
	clock_to(2000);
	deliver(481);
	check_state(TXN_COMPLETED);
	check_log("send NOTIFY@0, Trying>Proceeding@0, resp 100@0, send NOTIFY@500, "
		  "Proceeding>Completed@2000, resp 481@2000");
	cr_assert_eq(wheel_count(&wheel), 1);
	end_alive();
}

Test(noninvite_client, completed_absorbs_retransmitted_finals)
{
	start_client(TXN_NONINVITE_CLIENT, false);
	deliver(200);
	deliver(200);
	deliver(500);
	deliver(100);
	check_log("send NOTIFY@0, Trying>Completed@0, resp 200@0");
	cr_assert_null(txn.msg, "Completed never resends: the request's copy goes");
	end_alive();
}

Test(noninvite_client, completed_to_terminated_on_timer_k)
{
	start_client(TXN_NONINVITE_CLIENT, false);
	clock_to(700);
	deliver(200);
	clock_to(700 + T4 - 1);
	check_state(TXN_COMPLETED);
	clock_to(700 + T4);
	check_log_ends("resp 200@700, Completed>Terminated@5700, terminated@5700");
	cr_assert_eq(rec.nsends, 2);
	end_terminated();
}

Test(noninvite_client, completed_hands_timer_k_to_the_tomb_and_terminates)
{
	struct txn *t = malloc(sizeof(*t));

	cr_assert_not_null(t);
	/* freeing_ops' twin: AddressSanitizer reports a touch of t after. */
	txn_init(t, TXN_NONINVITE_CLIENT, false, &wheel, &timers, &tomb_ops, &owner);
	cr_assert_eq(txn_client_start(t, notify, sizeof(notify) - 1), 0);
	clock_to(700);
	deliver_to(t, 200, "e1");
	cr_assert_eq(tomb_ms, T4);
	check_log("send NOTIFY@0, send NOTIFY@500, Trying>Completed@700, resp 200@700, "
		  "tomb 5000@700, Completed>Terminated@700, terminated@700");
	cr_assert_eq(wheel_count(&wheel), 0, "no Timer K left on the wheel");
	cr_assert_eq(rec.terminated, 1);
	end_common();
}

Test(noninvite_client, full_tomb_keeps_the_txn_for_timer_k)
{
	txn_init(&txn, TXN_NONINVITE_CLIENT, false, &wheel, &timers, &tomb_full_ops, &owner);
	cr_assert_eq(txn_client_start(&txn, notify, sizeof(notify) - 1), 0);
	deliver(200);
	cr_assert_eq(tomb_ms, T4);
	check_state(TXN_COMPLETED);
	clock_to(T4);
	check_log("send NOTIFY@0, Trying>Completed@0, resp 200@0, tomb 5000@0, "
		  "Completed>Terminated@5000, terminated@5000");
	end_terminated();
}

Test(noninvite_client, reliable_final_never_asks_the_tomb)
{
	txn_init(&txn, TXN_NONINVITE_CLIENT, true, &wheel, &timers, &tomb_full_ops, &owner);
	cr_assert_eq(txn_client_start(&txn, notify, sizeof(notify) - 1), 0);
	deliver(200);
	cr_assert_eq(tomb_ms, 0, "Timer K is zero over TCP: nothing to keep");
	check_log("send NOTIFY@0, Trying>Completed@0, resp 200@0, Completed>Terminated@0, "
		  "terminated@0");
	end_terminated();
}

Test(noninvite_client, reliable_sends_once_and_still_times_out_on_f)
{
	start_client(TXN_NONINVITE_CLIENT, true);
	cr_assert_eq(wheel_count(&wheel), 1); /* F only: no Timer E over TCP */
	clock_to(40000);
	check_log("send NOTIFY@0, timeout 408@32000, Trying>Terminated@32000, terminated@32000");
	end_terminated();
}

Test(noninvite_client, reliable_final_terminates_at_once)
{
	start_client(TXN_NONINVITE_CLIENT, true);
	clock_to(50);
	deliver(202);
	check_log("send NOTIFY@0, Trying>Completed@50, resp 202@50, Completed>Terminated@50, "
		  "terminated@50");
	end_terminated();
}

Test(noninvite_client, trying_to_terminated_on_transport_error)
{
	start_client(TXN_NONINVITE_CLIENT, false);
	txn_transport_error(&txn);
	check_log("send NOTIFY@0, timeout 503@0, Trying>Terminated@0, terminated@0");
	end_terminated();
}

Test(noninvite_client, proceeding_to_terminated_on_transport_error)
{
	start_client(TXN_NONINVITE_CLIENT, false);
	deliver(100);
	txn_transport_error(&txn);
	check_log("send NOTIFY@0, Trying>Proceeding@0, resp 100@0, timeout 503@0, "
		  "Proceeding>Terminated@0, terminated@0");
	end_terminated();
}

Test(noninvite_client, completed_to_terminated_on_transport_error_without_timeout)
{
	start_client(TXN_NONINVITE_CLIENT, false);
	deliver(200);
	txn_transport_error(&txn);
	txn_transport_error(&txn);
	check_log("send NOTIFY@0, Trying>Completed@0, resp 200@0, Completed>Terminated@0, "
		  "terminated@0");
	end_terminated();
}

/* ================= INVITE server (§17.2.1, §13.3.1.4, RFC 6026 §7.1) ================= */

TestSuite(invite_server, .init = setup, .fini = teardown);

Test(invite_server, starts_in_proceeding_silent)
{
	new_txn(TXN_INVITE_SERVER, false);
	check_state(TXN_PROCEEDING);
	txn_server_on_request(&txn); /* nothing to resend yet */
	txn_server_on_ack(&txn);     /* no ACK belongs here yet */
	cr_assert_eq(rec.nsends, 0);
	cr_assert_eq(wheel_count(&wheel), 0);
	end_alive();
}

Test(invite_server, proceeding_sends_provisionals)
{
	new_txn(TXN_INVITE_SERVER, false);
	cr_assert_eq(respond(100), 0);
	clock_to(300);
	cr_assert_eq(respond(180), 0);
	cr_assert_eq(respond(183), 0);
	check_state(TXN_PROCEEDING);
	check_log("send 100@0, send 180@300, send 183@300");
	cr_assert_eq(wheel_count(&wheel), 0); /* provisionals are not retransmitted */
	end_alive();
}

Test(invite_server, proceeding_resends_last_provisional_on_request)
{
	new_txn(TXN_INVITE_SERVER, false);
	respond(100);
	respond(180);
	clock_to(500);
	txn_server_on_request(&txn);
	check_log("send 100@0, send 180@0, send 180@500");
	cr_assert_eq(memcmp(rec.sends[2].buf, rec.sends[1].buf, rec.sends[1].len), 0);
	cr_assert_eq(txn.retransmits, 1);
	end_alive();
}

Test(invite_server, proceeding_to_completed_on_non2xx)
{
	new_txn(TXN_INVITE_SERVER, false);
	respond(100);
	clock_to(100);
	cr_assert_eq(respond(486), 0);
	check_state(TXN_COMPLETED);
	check_log("send 100@0, Proceeding>Completed@100, send 486@100");
	cr_assert_eq(wheel_count(&wheel), 2); /* G and H */
	end_alive();
}

Test(invite_server, completed_retransmits_on_timer_g_capped_at_t2)
{
	static const uint64_t at[] = { 0, 500, 1500, 3500, 7500, 11500, 15500,
				       19500, 23500, 27500, 31500 };

	new_txn(TXN_INVITE_SERVER, false);
	respond(404);
	clock_to(31999);
	check_send_times(at, 11);
	clock_to(40000);
	check_send_times(at, 11);
	end_terminated();
}

Test(invite_server, completed_to_terminated_on_timer_h)
{
	new_txn(TXN_INVITE_SERVER, false);
	respond(404);
	clock_to(40000);
	cr_assert_eq(rec.timeouts, 1);
	check_log_ends("send 404@31500, timeout 408@32000, Completed>Terminated@32000, "
		       "terminated@32000");
	end_terminated();
}

Test(invite_server, completed_resends_final_on_request)
{
	new_txn(TXN_INVITE_SERVER, false);
	respond(486);
	clock_to(200);
	txn_server_on_request(&txn);
	check_log("Proceeding>Completed@0, send 486@0, send 486@200");
	end_alive();
}

Test(invite_server, completed_to_confirmed_on_ack)
{
	new_txn(TXN_INVITE_SERVER, false);
	respond(486);
	clock_to(600);
	txn_server_on_ack(&txn);
	check_state(TXN_CONFIRMED);
	cr_assert_eq(wheel_count(&wheel), 1); /* I only: G and H stopped */
	clock_to(5000);
	check_log("Proceeding>Completed@0, send 486@0, send 486@500, Completed>Confirmed@600");
	end_alive();
}

/* txn_settled: what may outlive its call (call.c hands those over). */
Test(txn, settled_only_past_the_final_response)
{
	new_txn(TXN_INVITE_SERVER, false);
	cr_assert_not(txn_settled(&txn));
	respond(180);
	cr_assert_not(txn_settled(&txn));
	respond(200);
	cr_assert_not(txn_settled(&txn)); /* Accepted, the 2xx not ACKed */
	txn_server_on_ack(&txn);
	cr_assert(txn_settled(&txn));
	end_alive();
}

Test(txn, settled_client_from_completed_or_accepted)
{
	start_client(TXN_NONINVITE_CLIENT, false);
	cr_assert_not(txn_settled(&txn));
	deliver(200);
	cr_assert(txn_settled(&txn));
	end_alive();
}

Test(txn, settled_invite_client_on_2xx)
{
	start_client(TXN_INVITE_CLIENT, false);
	deliver(180);
	cr_assert_not(txn_settled(&txn));
	deliver(200);
	cr_assert(txn_settled(&txn));
	end_alive();
}

Test(invite_server, confirmed_absorbs_requests_and_acks)
{
	new_txn(TXN_INVITE_SERVER, false);
	respond(486);
	txn_server_on_ack(&txn);
	txn_server_on_ack(&txn);
	txn_server_on_request(&txn);
	check_log("Proceeding>Completed@0, send 486@0, Completed>Confirmed@0");
	end_alive();
}

Test(invite_server, confirmed_to_terminated_on_timer_i)
{
	new_txn(TXN_INVITE_SERVER, false);
	respond(486);
	clock_to(600);
	txn_server_on_ack(&txn);
	clock_to(600 + T4 - 1);
	check_state(TXN_CONFIRMED);
	clock_to(600 + T4);
	check_log_ends("Completed>Confirmed@600, Confirmed>Terminated@5600, terminated@5600");
	cr_assert_eq(rec.timeouts, 0);
	end_terminated();
}

Test(invite_server, proceeding_to_accepted_on_2xx)
{
	new_txn(TXN_INVITE_SERVER, false);
	respond(180);
	clock_to(100);
	cr_assert_eq(respond(200), 0);
	check_state(TXN_ACCEPTED);
	check_log("send 180@0, Proceeding>Accepted@100, send 200@100");
	cr_assert_eq(wheel_count(&wheel), 2); /* 2xx retransmission and L */
	end_alive();
}

Test(invite_server, accepted_retransmits_2xx_until_ack)
{
	new_txn(TXN_INVITE_SERVER, false);
	respond(200);
	clock_to(4000);
	txn_server_on_ack(&txn);
	cr_assert(txn.got_ack);
	check_state(TXN_ACCEPTED);
	cr_assert_eq(wheel_count(&wheel), 1); /* L only */
	clock_to(31999);
	check_log("Proceeding>Accepted@0, send 200@0, send 200@500, send 200@1500, "
		  "send 200@3500");
	end_alive();
}

Test(invite_server, accepted_absorbs_retransmitted_invite)
{
	new_txn(TXN_INVITE_SERVER, false);
	respond(200);
	clock_to(100);
	txn_server_on_request(&txn); /* RFC 6026: no answer from the txn */
	cr_assert_not_null(txn.msg, "the 2xx is resent until the ACK");
	txn_server_on_ack(&txn);
	txn_server_on_request(&txn);
	txn_server_on_ack(&txn);
	check_log("Proceeding>Accepted@0, send 200@0");
	cr_assert_null(txn.msg, "after the ACK the 2xx is never sent again");
	end_alive();
}

Test(invite_server, accepted_to_terminated_on_timer_l_after_ack)
{
	new_txn(TXN_INVITE_SERVER, false);
	respond(200);
	clock_to(700);
	txn_server_on_ack(&txn);
	clock_to(T64 - 1);
	check_state(TXN_ACCEPTED);
	clock_to(T64);
	check_log("Proceeding>Accepted@0, send 200@0, send 200@500, Accepted>Terminated@32000, "
		  "terminated@32000");
	end_terminated();
}

Test(invite_server, accepted_to_terminated_on_timer_l_without_ack)
{
	static const uint64_t at[] = { 0, 500, 1500, 3500, 7500, 11500, 15500,
				       19500, 23500, 27500, 31500 };

	new_txn(TXN_INVITE_SERVER, false);
	respond(200);
	clock_to(40000);
	check_send_times(at, 11);
	cr_assert_eq(rec.timeouts, 1);
	check_log_ends("send 200@31500, timeout 408@32000, Accepted>Terminated@32000, "
		       "terminated@32000");
	end_terminated();
}

Test(invite_server, respond_after_final_is_einval)
{
	new_txn(TXN_INVITE_SERVER, false);
	cr_assert_eq(respond(99), -EINVAL);
	cr_assert_eq(respond(700), -EINVAL);
	cr_assert_eq(respond(200), 0);
	cr_assert_eq(respond(200), -EINVAL);
	cr_assert_eq(respond(180), -EINVAL);
	cr_assert_eq(respond(486), -EINVAL);
	cr_assert_eq(rec.nsends, 1);
	cr_assert_eq(txn.last_status, 200);
	end_alive();
}

Test(invite_server, respond_after_non2xx_is_einval)
{
	new_txn(TXN_INVITE_SERVER, false);
	cr_assert_eq(respond(486), 0);
	cr_assert_eq(respond(200), -EINVAL);
	txn_server_on_ack(&txn);
	cr_assert_eq(respond(200), -EINVAL);
	cr_assert_eq(rec.nsends, 1);
	end_alive();
}

Test(invite_server, reliable_completed_has_no_timer_g_but_h)
{
	new_txn(TXN_INVITE_SERVER, true);
	respond(486);
	cr_assert_eq(wheel_count(&wheel), 1);
	clock_to(40000);
	check_log("Proceeding>Completed@0, send 486@0, timeout 408@32000, "
		  "Completed>Terminated@32000, terminated@32000");
	end_terminated();
}

Test(invite_server, reliable_ack_terminates_at_once)
{
	new_txn(TXN_INVITE_SERVER, true);
	respond(486);
	clock_to(10);
	txn_server_on_ack(&txn);
	check_log("Proceeding>Completed@0, send 486@0, Completed>Confirmed@10, "
		  "Confirmed>Terminated@10, terminated@10");
	end_terminated();
}

/* §13.3.1.4: 2xx retransmission is end to end, "independent of whatever
 * transport protocols are used", since a later hop may be UDP. */
Test(invite_server, reliable_still_retransmits_2xx)
{
	static const uint64_t at[] = { 0, 500, 1500, 3500, 7500, 11500, 15500,
				       19500, 23500, 27500, 31500 };

	new_txn(TXN_INVITE_SERVER, true);
	respond(200);
	clock_to(40000);
	check_send_times(at, 11);
	cr_assert_eq(rec.timeouts, 1);
	end_terminated();
}

Test(invite_server, proceeding_to_terminated_on_transport_error)
{
	new_txn(TXN_INVITE_SERVER, false);
	respond(100);
	txn_transport_error(&txn);
	check_log("send 100@0, Proceeding>Terminated@0, terminated@0");
	end_terminated();
}

/* Its final will never be ACKed: the TU hears it at once, as at Timer H. */
Test(invite_server, completed_to_terminated_on_transport_error)
{
	new_txn(TXN_INVITE_SERVER, false);
	respond(500);
	txn_transport_error(&txn);
	check_log("Proceeding>Completed@0, send 500@0, timeout 503@0, Completed>Terminated@0, "
		  "terminated@0");
	cr_assert_eq(rec.timeouts, 1);
	end_terminated();
}

Test(invite_server, confirmed_to_terminated_on_transport_error)
{
	new_txn(TXN_INVITE_SERVER, false);
	respond(500);
	txn_server_on_ack(&txn);
	txn_transport_error(&txn);
	check_log("Proceeding>Completed@0, send 500@0, Completed>Confirmed@0, "
		  "Confirmed>Terminated@0, terminated@0");
	end_terminated();
}

/* The 2xx cannot reach the caller: no ACK will come, the TU hangs up. */
Test(invite_server, accepted_to_terminated_on_transport_error)
{
	new_txn(TXN_INVITE_SERVER, false);
	respond(200);
	txn_transport_error(&txn);
	check_log("Proceeding>Accepted@0, send 200@0, timeout 503@0, Accepted>Terminated@0, "
		  "terminated@0");
	cr_assert_eq(rec.timeouts, 1);
	cr_assert_eq(respond(200), -EINVAL);
	end_terminated();
}

/* Acknowledged already: the error is a retransmission's; nothing to tell. */
Test(invite_server, accepted_after_ack_to_terminated_on_transport_error)
{
	new_txn(TXN_INVITE_SERVER, false);
	respond(200);
	txn_server_on_ack(&txn);
	txn_transport_error(&txn);
	cr_assert_eq(rec.timeouts, 0);
	check_log_ends("Accepted>Terminated@0, terminated@0");
	end_terminated();
}

Test(invite_server, worker_may_free_txn_in_on_terminated)
{
	struct txn *t = malloc(sizeof(*t));
	static const char resp[] = "SIP/2.0 486 Busy Here\r\nContent-Length: 0\r\n\r\n";

	cr_assert_not_null(t);
	txn_init(t, TXN_INVITE_SERVER, true, &wheel, &timers, &freeing_ops, &owner);
	cr_assert_eq(txn_server_respond(t, resp, sizeof(resp) - 1, 486), 0);
	txn_server_on_ack(t); /* Timer I is zero: frees t inside */
	cr_assert_eq(rec.terminated, 1);

	rec.terminated = 0;
	t = malloc(sizeof(*t));
	cr_assert_not_null(t);
	txn_init(t, TXN_INVITE_SERVER, false, &wheel, &timers, &freeing_ops, &owner);
	cr_assert_eq(txn_server_respond(t, resp, sizeof(resp) - 1, 486), 0);
	clock_to(40000); /* Timer H from the wheel, G due around it */
	cr_assert_eq(rec.terminated, 1);
	end_common();
}

/* ================= non-INVITE server (§17.2.2) ================= */

TestSuite(noninvite_server, .init = setup, .fini = teardown);

Test(noninvite_server, starts_in_trying_silent)
{
	new_txn(TXN_NONINVITE_SERVER, false);
	check_state(TXN_TRYING);
	txn_server_on_request(&txn);
	txn_server_on_ack(&txn);
	cr_assert_eq(rec.nsends, 0);
	cr_assert_eq(wheel_count(&wheel), 0);
	end_alive();
}

Test(noninvite_server, trying_to_proceeding_on_1xx)
{
	new_txn(TXN_NONINVITE_SERVER, false);
	clock_to(20);
	cr_assert_eq(respond(100), 0);
	check_state(TXN_PROCEEDING);
	check_log("Trying>Proceeding@20, send 100@20");
	cr_assert_eq(wheel_count(&wheel), 0);
	end_alive();
}

Test(noninvite_server, proceeding_resends_last_provisional_on_request)
{
	new_txn(TXN_NONINVITE_SERVER, false);
	respond(100);
	respond(180);
	txn_server_on_request(&txn);
	check_log("Trying>Proceeding@0, send 100@0, send 180@0, send 180@0");
	end_alive();
}

Test(noninvite_server, trying_to_completed_on_final)
{
	new_txn(TXN_NONINVITE_SERVER, false);
	clock_to(30);
	cr_assert_eq(respond(202), 0);
	check_state(TXN_COMPLETED);
	check_log("Trying>Completed@30, send 202@30");
	cr_assert_eq(wheel_count(&wheel), 1); /* J only: never retransmits on its own */
	end_alive();
}

Test(noninvite_server, proceeding_to_completed_on_final)
{
	new_txn(TXN_NONINVITE_SERVER, false);
	respond(100);
	clock_to(30);
	respond(200);
	check_log("Trying>Proceeding@0, send 100@0, Proceeding>Completed@30, send 200@30");
	end_alive();
}

Test(noninvite_server, completed_resends_final_on_request)
{
	new_txn(TXN_NONINVITE_SERVER, false);
	respond(100);
	respond(481);
	clock_to(900);
	txn_server_on_request(&txn);
	check_log("Trying>Proceeding@0, send 100@0, Proceeding>Completed@0, send 481@0, "
		  "send 481@900");
	cr_assert_eq(txn.retransmits, 1);
	end_alive();
}

Test(noninvite_server, completed_to_terminated_on_timer_j)
{
	new_txn(TXN_NONINVITE_SERVER, false);
	clock_to(100);
	respond(200);
	clock_to(100 + T64 - 1);
	check_state(TXN_COMPLETED);
	clock_to(100 + T64);
	check_log("Trying>Completed@100, send 200@100, Completed>Terminated@32100, "
		  "terminated@32100");
	end_terminated();
}

Test(noninvite_server, reliable_final_terminates_at_once)
{
	new_txn(TXN_NONINVITE_SERVER, true);
	respond(100);
	respond(200);
	check_log("Trying>Proceeding@0, send 100@0, Proceeding>Completed@0, send 200@0, "
		  "Completed>Terminated@0, terminated@0");
	cr_assert_eq(respond(200), -EINVAL);
	txn_server_on_request(&txn);
	cr_assert_eq(rec.nsends, 2);
	end_terminated();
}

Test(noninvite_server, respond_after_final_is_einval)
{
	new_txn(TXN_NONINVITE_SERVER, false);
	cr_assert_eq(respond(0), -EINVAL);
	cr_assert_eq(respond(200), 0);
	cr_assert_eq(respond(200), -EINVAL);
	cr_assert_eq(respond(100), -EINVAL);
	cr_assert_eq(rec.nsends, 1);
	end_alive();
}

Test(noninvite_server, trying_to_terminated_on_transport_error)
{
	new_txn(TXN_NONINVITE_SERVER, false);
	txn_transport_error(&txn);
	check_log("Trying>Terminated@0, terminated@0");
	end_terminated();
}

Test(noninvite_server, proceeding_to_terminated_on_transport_error)
{
	new_txn(TXN_NONINVITE_SERVER, false);
	respond(100);
	txn_transport_error(&txn);
	check_log("Trying>Proceeding@0, send 100@0, Proceeding>Terminated@0, terminated@0");
	end_terminated();
}

Test(noninvite_server, completed_to_terminated_on_transport_error)
{
	new_txn(TXN_NONINVITE_SERVER, false);
	respond(200);
	txn_transport_error(&txn);
	check_log("Trying>Completed@0, send 200@0, Completed>Terminated@0, terminated@0");
	end_terminated();
}

Test(noninvite_server, worker_may_free_txn_in_on_terminated)
{
	struct txn *t = malloc(sizeof(*t));
	static const char resp[] = "SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n";

	cr_assert_not_null(t);
	txn_init(t, TXN_NONINVITE_SERVER, true, &wheel, &timers, &freeing_ops, &owner);
	/* Timer J is zero: t is freed inside, and respond still returns 0. */
	cr_assert_eq(txn_server_respond(t, resp, sizeof(resp) - 1, 200), 0);
	cr_assert_eq(rec.terminated, 1);
	end_common();
}

/* ================= the shared parts ================= */

TestSuite(txn, .init = setup, .fini = teardown);

/* The fixtures themselves: every test relies on them being valid SIP. */
Test(txn, fixture_messages_parse)
{
	static struct sip_msg m;
	struct sip_core core;

	cr_assert_eq(sizeof(SDP) - 1, 89);
	cr_assert_eq(sip_msg_parse(&m, invite, sizeof(invite) - 1), 0);
	cr_assert_eq(sip_core_read(&m, &core), 0);
	cr_assert_eq(m.body.n, sizeof(SDP) - 1);
	cr_assert_eq(sip_msg_parse(&m, invite_compact, sizeof(invite_compact) - 1), 0);
	cr_assert_eq(sip_core_read(&m, &core), 0);
	cr_assert_eq(sip_msg_parse(&m, notify, sizeof(notify) - 1), 0);
	cr_assert_eq(sip_core_read(&m, &core), 0);
	cr_assert_eq(m.body.n, 20);
	rec.checked = true;
}

Test(txn, names)
{
	cr_assert_str_eq(txn_state_name(TXN_CALLING), "Calling");
	cr_assert_str_eq(txn_state_name(TXN_TRYING), "Trying");
	cr_assert_str_eq(txn_state_name(TXN_PROCEEDING), "Proceeding");
	cr_assert_str_eq(txn_state_name(TXN_COMPLETED), "Completed");
	cr_assert_str_eq(txn_state_name(TXN_CONFIRMED), "Confirmed");
	cr_assert_str_eq(txn_state_name(TXN_ACCEPTED), "Accepted");
	cr_assert_str_eq(txn_state_name(TXN_TERMINATED), "Terminated");
	cr_assert_str_eq(txn_state_name(TXN__STATE_COUNT), "?");
	cr_assert_str_eq(txn_type_name(TXN_INVITE_CLIENT), "invite_client");
	cr_assert_str_eq(txn_type_name(TXN_NONINVITE_CLIENT), "noninvite_client");
	cr_assert_str_eq(txn_type_name(TXN_INVITE_SERVER), "invite_server");
	cr_assert_str_eq(txn_type_name(TXN_NONINVITE_SERVER), "noninvite_server");
	rec.checked = true;
}

Test(txn, init_enters_each_machine_s_first_state)
{
	static const enum txn_state first[] = { TXN_CALLING, TXN_TRYING, TXN_PROCEEDING,
						TXN_TRYING };

	for (unsigned type = 0; type < 4; type++) {
		new_txn((enum txn_type)type, false);
		check_state(first[type]);
		cr_assert_null(txn.msg);
		cr_assert_eq(txn.owner, &owner);
	}
	cr_assert_eq(rec.nstates, 0);
	end_alive();
}

Test(txn, client_start_rejects_servers_and_restarts)
{
	new_txn(TXN_INVITE_SERVER, false);
	cr_assert_eq(txn_client_start(&txn, invite, sizeof(invite) - 1), -EINVAL);
	new_txn(TXN_NONINVITE_SERVER, false);
	cr_assert_eq(txn_client_start(&txn, notify, sizeof(notify) - 1), -EINVAL);
	start_client(TXN_NONINVITE_CLIENT, false);
	cr_assert_eq(txn_client_start(&txn, notify, sizeof(notify) - 1), -EINVAL);
	cr_assert_eq(rec.nsends, 1);
	end_alive();
}

Test(txn, server_calls_do_nothing_on_clients)
{
	start_client(TXN_INVITE_CLIENT, false);
	cr_assert_eq(respond(200), -EINVAL);
	txn_server_on_request(&txn);
	txn_server_on_ack(&txn);
	check_log("send INVITE@0");
	end_alive();
}

Test(txn, responses_before_start_are_ignored)
{
	new_txn(TXN_INVITE_CLIENT, false);
	deliver(200);
	check_state(TXN_CALLING);
	cr_assert_eq(rec.nresponses, 0);
	end_alive();
}

Test(txn, destroy_cancels_timers_and_frees_without_on_terminated)
{
	start_client(TXN_INVITE_CLIENT, false);
	cr_assert_eq(wheel_count(&wheel), 2);
	txn_destroy(&txn);
	txn_destroy(&txn); /* idempotent */
	cr_assert_eq(wheel_count(&wheel), 0);
	clock_to(100000);
	check_log("send INVITE@0");
	end_alive();
}

Test(txn, state_hook_is_optional)
{
	static const struct txn_ops bare = {
		.send = fake_send,
		.on_response = fake_on_response,
		.on_timeout = fake_on_timeout,
		.on_terminated = fake_on_terminated,
	};

	txn_init(&txn, TXN_NONINVITE_CLIENT, true, &wheel, &timers, &bare, &owner);
	cr_assert_eq(txn_client_start(&txn, notify, sizeof(notify) - 1), 0);
	deliver(100);
	deliver(200);
	check_log("send NOTIFY@0, resp 100@0, resp 200@0, terminated@0");
	end_terminated();
}

Test(txn, last_status_follows_the_responses)
{
	start_client(TXN_INVITE_CLIENT, false);
	deliver(180);
	cr_assert_eq(txn.last_status, 180);
	deliver(486);
	cr_assert_eq(txn.last_status, 486);
	end_alive();
}
