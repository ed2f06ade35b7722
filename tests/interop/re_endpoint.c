/* re_endpoint.c: the trunk's endpoint for the interop test, a client built
 * on libre (sipsess + sipevent_drefer), not on xferd's own code.
 *
 *   re_endpoint --listen ADDR:PORT --refer-to URI [--expect 100,180,200]
 *               [--timeout S] [--trace]
 *
 * It answers the first INVITE 200 with an SDP answer, waits for the ACK,
 * sends REFER (Refer-To: <URI>) in the session's dialog with
 * sipevent_drefer(), answers every NOTIFY 200 and records its sipfrag status
 * line and Subscription-State, then waits for xferd's BYE. Exit status 0 if
 *
 *   - the REFER was answered 202,
 *   - the NOTIFYs' sipfrag statuses are exactly --expect, in order, each with
 *     Event: refer and Content-Type: message/sipfrag,
 *   - every NOTIFY but the last is Subscription-State active, the last is
 *     terminated (reason=noresource when it reports a 2xx, RFC 3515 / SPEC),
 *   - a BYE arrived after the last NOTIFY, and no NOTIFY after the BYE;
 *
 * 1 otherwise, with one line per problem on stderr; 2 on bad usage. Every
 * wait (INVITE, ACK, the NOTIFYs, the BYE) is bounded by --timeout seconds
 * (default 10) with a libre timer. --trace writes every SIP message libre
 * sends or receives to stderr (sip_set_trace_handler). RFC 3515, RFC 3261. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* libre's pkg-config Cflags carry none of the feature macros its own build
 * defines; without these re_types.h falls back to typedefs of its own that
 * conflict with <stdint.h>. HAVE_INET6 keeps struct sa as libre was built
 * (Debian enables IPv6). Same as tests/diff/re_shim.c. */
#define HAVE_INTTYPES_H 1
#define HAVE_STDBOOL_H 1
#define HAVE_INET6 1
#include <re.h>

enum { MAX_EXPECT = 16, MAX_NOTIFY = 32, MAX_PROBLEMS = 16, LINGER_MS = 300 };

enum phase {
	PH_INVITE,  /* waiting for the INVITE */
	PH_ACK,     /* answered 200, waiting for the ACK */
	PH_NOTIFY,  /* REFER sent, waiting for the terminating NOTIFY */
	PH_BYE,     /* subscription terminated, waiting for the BYE */
	PH_LINGER,  /* BYE seen: absorb late messages, then judge */
	PH_DONE,
};

static const char *const phase_wait[] = {
	[PH_INVITE] = "no INVITE",
	[PH_ACK] = "no ACK for the 200 to the INVITE",
	[PH_NOTIFY] = "no NOTIFY with Subscription-State terminated",
	[PH_BYE] = "no BYE after the final NOTIFY",
	[PH_LINGER] = "",
	[PH_DONE] = "",
};

struct notify_rec {
	uint16_t status;        /* sipfrag status code, 0 if none parsed */
	char frag[96];          /* the sipfrag status line */
	char substate[128];     /* the Subscription-State header value */
	enum sipevent_subst state;
	enum sipevent_reason reason;
	bool has_reason;
	bool after_bye;
};

struct app {
	struct sa laddr;
	const char *refer_to;
	uint32_t timeout_ms;
	bool trace;

	uint16_t expect[MAX_EXPECT];
	size_t n_expect;

	struct sip *sip;
	struct sipsess_sock *sess_sock;
	struct sipevent_sock *evt_sock;
	struct sipsess *sess;
	struct sipsub *sub;
	struct tmr tmr;
	enum phase phase;
	uint32_t sdp_version;

	uint16_t refer_scode;   /* final response to the REFER, 0 if none */
	struct notify_rec notify[MAX_NOTIFY];
	size_t n_notify;
	bool sub_terminated;    /* a NOTIFY said terminated */
	bool bye;
	size_t notifies_before_bye;

	char problems[MAX_PROBLEMS][256];
	size_t n_problems;
	bool aborted;           /* a fatal problem ended the run early */
};

static struct app app;

static void stamp(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	snprintf(buf, len, "%02d:%02d:%02d.%03ld", tm.tm_hour, tm.tm_min,
		 tm.tm_sec, ts.tv_nsec / 1000000);
}

static void note(const char *fmt, ...)
{
	char ts[32], line[512];
	va_list ap;

	stamp(ts, sizeof(ts));
	va_start(ap, fmt);
	(void)re_vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "re_endpoint %s: %s\n", ts, line);
}

static void problem(const char *fmt, ...)
{
	va_list ap;

	if (app.n_problems == MAX_PROBLEMS)
		return;
	va_start(ap, fmt);
	re_vsnprintf(app.problems[app.n_problems], sizeof(app.problems[0]), fmt, ap);
	va_end(ap);
	note("problem: %s", app.problems[app.n_problems]);
	app.n_problems++;
}

/* A problem that leaves nothing to wait for: stop the loop now. */
static void abort_run(const char *fmt, ...)
{
	va_list ap;

	if (app.n_problems < MAX_PROBLEMS) {
		va_start(ap, fmt);
		re_vsnprintf(app.problems[app.n_problems], sizeof(app.problems[0]),
			  fmt, ap);
		va_end(ap);
		note("fatal: %s", app.problems[app.n_problems]);
		app.n_problems++;
	}
	app.aborted = true;
	app.phase = PH_DONE;
	tmr_cancel(&app.tmr);
	re_cancel();
}

static void phase_timeout(void *arg)
{
	(void)arg;
	if (app.phase == PH_LINGER) {
		app.phase = PH_DONE;
		re_cancel();
		return;
	}
	abort_run("timeout: %s within %u.%03u s", phase_wait[app.phase],
		  app.timeout_ms / 1000, app.timeout_ms % 1000);
}

static void enter(enum phase ph)
{
	app.phase = ph;
	tmr_start(&app.tmr, ph == PH_LINGER ? LINGER_MS : app.timeout_ms,
		  phase_timeout, NULL);
}

/* ------------------------------------------------------------- trace */

/* Every SIP message libre sends or receives; received responses to the
 * REFER are also how the 202 is checked (sipevent reports only failures). */
static void trace_handler(bool tx, enum sip_transp tp, const struct sa *src,
			  const struct sa *dst, const uint8_t *pkt, size_t len,
			  void *arg)
{
	struct sip_msg *msg = NULL;
	struct mbuf *mb;
	char ts[32];
	(void)arg;

	if (app.trace) {
		stamp(ts, sizeof(ts));
		re_fprintf(stderr, "----- %s %s %s %J -> %J (%zu bytes)\n%b\n",
			   ts, tx ? "sent" : "received", sip_transp_name(tp),
			   src, dst, len, pkt, len);
	}
	if (tx || len < 8 || memcmp(pkt, "SIP/2.0 ", 8))
		return;
	mb = mbuf_alloc(len);
	if (!mb)
		return;
	if (!mbuf_write_mem(mb, pkt, len)) {
		mbuf_set_pos(mb, 0);
		if (!sip_msg_decode(&msg, mb) && msg->scode >= 200 &&
		    !pl_strcasecmp(&msg->cseq.met, "REFER") && !app.refer_scode) {
			app.refer_scode = msg->scode;
			note("REFER answered %u %r", msg->scode, &msg->reason);
		}
	}
	mem_deref(msg);
	mem_deref(mb);
}

/* --------------------------------------------------------------- SDP */

/* An SDP answer to the offer in body (or an offer, body NULL): the first
 * audio stream is accepted with the offer's first payload type (and its
 * rtpmap line, if the offer has one), every other m= line is refused with
 * port 0 (RFC 3264 §6). Media goes nowhere: no RTP is sent. */
static int build_sdp(struct mbuf **mbp, const char *body, size_t blen)
{
	const char *ip_ver = sa_af(&app.laddr) == AF_INET6 ? "IP6" : "IP4";
	bool audio_done = false;
	struct mbuf *mb;
	const char *p, *end;
	int err;

	mb = mbuf_alloc(512);
	if (!mb)
		return ENOMEM;
	++app.sdp_version;
	err = mbuf_printf(mb,
			  "v=0\r\n"
			  "o=re_endpoint 4711 %u IN %s %j\r\n"
			  "s=re_endpoint\r\n"
			  "c=IN %s %j\r\n"
			  "t=0 0\r\n",
			  app.sdp_version, ip_ver, &app.laddr, ip_ver, &app.laddr);

	for (p = body, end = body ? body + blen : NULL; !err && p && p < end;) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t n = eol ? (size_t)(eol - p) : (size_t)(end - p);
		struct pl media, proto, fmt;
		char rtpmap[64] = "";

		if (n && p[n - 1] == '\r')
			--n;
		if (n > 2 && !memcmp(p, "m=", 2) &&
		    !re_regex(p, n, "m=[^ ]+ [0-9]+ [^ ]+ [^ \r\n]+",
			      &media, NULL, &proto, &fmt)) {
			if (!audio_done && !pl_strcmp(&media, "audio")) {
				/* the rtpmap of fmt anywhere in the offer */
				const char *q = body;
				size_t fl = fmt.l;

				while (q && q < end) {
					const char *e2 = memchr(q, '\n', (size_t)(end - q));
					size_t m = e2 ? (size_t)(e2 - q) : (size_t)(end - q);

					if (m && q[m - 1] == '\r')
						--m;
					if (m > 9 + fl && !memcmp(q, "a=rtpmap:", 9) &&
					    !memcmp(q + 9, fmt.p, fl) && q[9 + fl] == ' ' &&
					    m < sizeof(rtpmap)) {
						memcpy(rtpmap, q, m);
						rtpmap[m] = '\0';
						break;
					}
					q = e2 ? e2 + 1 : NULL;
				}
				err = mbuf_printf(mb, "m=audio 40000 %r %r\r\n", &proto, &fmt);
				if (!err && rtpmap[0])
					err = mbuf_printf(mb, "%s\r\n", rtpmap);
				if (!err)
					err = mbuf_write_str(mb, "a=sendrecv\r\n");
				audio_done = true;
			}
			else {
				err = mbuf_printf(mb, "m=%r 0 %r %r\r\n", &media, &proto, &fmt);
			}
		}
		p = eol ? eol + 1 : NULL;
	}
	if (!err && !audio_done && !body)
		err = mbuf_write_str(mb, "m=audio 40000 RTP/AVP 0\r\n"
					 "a=rtpmap:0 PCMU/8000\r\n"
					 "a=sendrecv\r\n");
	if (!err && !audio_done && body)
		err = EPROTO; /* an offer with no audio stream: refuse it */
	if (err) {
		mem_deref(mb);
		return err;
	}
	mb->pos = 0;
	*mbp = mb;
	return 0;
}

static bool has_sdp(const struct sip_msg *msg)
{
	return mbuf_get_left(msg->mb) > 0 &&
	       msg_ctype_cmp(&msg->ctyp, "application", "sdp");
}

/* ----------------------------------------------------------- session */

/* A re-INVITE or UPDATE in the session: answer it (or offer, if empty). */
static int offer_handler(struct mbuf **descp, const struct sip_msg *msg, void *arg)
{
	(void)arg;
	note("re-INVITE in the session (%s)", has_sdp(msg) ? "offer" : "no offer");
	if (has_sdp(msg))
		return build_sdp(descp, (const char *)mbuf_buf(msg->mb),
				 mbuf_get_left(msg->mb));
	return build_sdp(descp, NULL, 0);
}

/* The answer in an ACK, when this side made the offer in the 200. */
static int answer_handler(const struct sip_msg *msg, void *arg)
{
	(void)arg;
	if (!has_sdp(msg))
		problem("the ACK carries no SDP answer to the offer of the 200");
	return 0;
}

static void notify_handler(struct sip *sip, const struct sip_msg *msg, void *arg);
static void sub_close_handler(int err, const struct sip_msg *msg,
			      const struct sipevent_substate *substate, void *arg);

static void estab_handler(const struct sip_msg *msg, void *arg)
{
	const bool bracket = !strchr(app.refer_to, '<');
	int err;
	(void)msg;
	(void)arg;

	note("session established (ACK); sending REFER to %s", app.refer_to);
	enter(PH_NOTIFY);
	err = sipevent_drefer(&app.sub, app.evt_sock, sipsess_dialog(app.sess),
			      "ep", NULL, NULL, false,
			      notify_handler, sub_close_handler, NULL,
			      "Refer-To: %s%s%s\r\n"
			      "Referred-By: <sip:ep@%J>\r\n",
			      bracket ? "<" : "", app.refer_to, bracket ? ">" : "",
			      &app.laddr);
	if (err)
		abort_run("sipevent_drefer: %m", err);
}

static void sess_close_handler(int err, const struct sip_msg *msg, void *arg)
{
	(void)arg;
	if (err == ECONNRESET && !msg) { /* libre: the peer sent BYE */
		app.bye = true;
		app.notifies_before_bye = app.n_notify;
		note("BYE received (after %zu NOTIFYs)", app.n_notify);
		if (app.phase == PH_BYE)
			enter(PH_LINGER);
		/* before the final NOTIFY: keep waiting for it, judge at the end */
		return;
	}
	if (msg && !msg->req)
		abort_run("session closed: %u %r", msg->scode, &msg->reason);
	else
		abort_run("session closed: %m", err);
}

static void conn_handler(const struct sip_msg *msg, void *arg)
{
	struct mbuf *desc = NULL;
	int err;
	(void)arg;

	if (app.sess) {
		note("second INVITE (Call-ID %r): 486", &msg->callid);
		(void)sip_treply(NULL, app.sip, msg, 486, "Busy Here");
		return;
	}
	note("INVITE %r from %J (Call-ID %r, %s)", &msg->ruri, &msg->src,
	     &msg->callid, has_sdp(msg) ? "with offer" : "no offer");
	if (has_sdp(msg))
		err = build_sdp(&desc, (const char *)mbuf_buf(msg->mb),
				mbuf_get_left(msg->mb));
	else
		err = build_sdp(&desc, NULL, 0);
	if (err) {
		(void)sip_treply(NULL, app.sip, msg, 488, "Not Acceptable Here");
		abort_run("cannot answer the INVITE's offer: %m", err);
		return;
	}
	err = sipsess_accept(&app.sess, app.sess_sock, msg, 200, "OK", "ep",
			     "application/sdp", desc, NULL, NULL, false,
			     offer_handler, answer_handler, estab_handler,
			     NULL, NULL, sess_close_handler, NULL,
			     "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, REFER, NOTIFY\r\n");
	mem_deref(desc);
	if (err) {
		(void)sip_treply(NULL, app.sip, msg, 500, "Server Internal Error");
		abort_run("sipsess_accept: %m", err);
		return;
	}
	enter(PH_ACK);
}

/* ------------------------------------------------------ subscription */

static void notify_handler(struct sip *sip, const struct sip_msg *msg, void *arg)
{
	const struct sip_hdr *ev = sip_msg_hdr(msg, SIP_HDR_EVENT);
	const struct sip_hdr *ss = sip_msg_hdr(msg, SIP_HDR_SUBSCRIPTION_STATE);
	struct sipevent_substate st;
	struct sipevent_event event;
	struct notify_rec *r;
	struct pl code, reason;
	const char *body = (const char *)mbuf_buf(msg->mb);
	size_t blen = mbuf_get_left(msg->mb);
	size_t n = app.n_notify + 1;
	(void)arg;

	/* libre hands UDP bodies up whole; honour Content-Length */
	if (pl_isset(&msg->clen) && pl_u32(&msg->clen) < blen)
		blen = pl_u32(&msg->clen);

	if (app.n_notify == MAX_NOTIFY) {
		(void)sip_treply(NULL, sip, msg, 200, "OK");
		abort_run("more than %d NOTIFYs", MAX_NOTIFY);
		return;
	}
	r = &app.notify[app.n_notify++];
	r->after_bye = app.bye;

	if (!ev || sipevent_event_decode(&event, &ev->val) ||
	    pl_strcasecmp(&event.event, "refer"))
		problem("NOTIFY #%zu: Event is %r, not refer", n,
			ev ? &ev->val : &(struct pl)PL("(none)"));
	if (!msg_ctype_cmp(&msg->ctyp, "message", "sipfrag"))
		problem("NOTIFY #%zu: Content-Type is %r/%r, not message/sipfrag",
			n, &msg->ctyp.type, &msg->ctyp.subtype);
	if (ss) {
		pl_strcpy(&ss->val, r->substate, sizeof(r->substate));
		if (sipevent_substate_decode(&st, &ss->val)) {
			problem("NOTIFY #%zu: Subscription-State '%r' does not parse",
				n, &ss->val);
		}
		else {
			r->state = st.state;
			r->reason = st.reason;
			r->has_reason = st.state == SIPEVENT_TERMINATED &&
					re_regex(ss->val.p, ss->val.l, "reason=") == 0;
		}
	}
	else {
		problem("NOTIFY #%zu: no Subscription-State", n);
	}

	/* re_regex() has no anchor: the status line must open the body */
	if (re_regex(body, blen, "SIP/2.0 [0-9]+ [^\r\n]*", &code, &reason) ||
	    code.p != body + 8 || code.l != 3) {
		problem("NOTIFY #%zu: body is not a sipfrag status line: '%b'",
			n, body, blen > 60 ? (size_t)60 : blen);
		(void)sip_treply(NULL, sip, msg, 400, "Bad sipfrag");
	}
	else {
		r->status = (uint16_t)pl_u32(&code);
		re_snprintf(r->frag, sizeof(r->frag), "SIP/2.0 %r %r", &code, &reason);
		(void)sip_treply(NULL, sip, msg, 200, "OK");
	}
	note("NOTIFY #%zu: '%s', Subscription-State: %s%s", n, r->frag,
	     r->substate, r->after_bye ? " (after the BYE)" : "");

	if (ss && r->state == SIPEVENT_TERMINATED && !app.sub_terminated) {
		app.sub_terminated = true;
		if (app.bye)
			enter(PH_LINGER);
		else if (app.phase == PH_NOTIFY)
			enter(PH_BYE);
	}
}

/* libre: after a terminating NOTIFY (substate set), or when the REFER
 * failed (msg: its response) or the subscription timed out (err). */
static void sub_close_handler(int err, const struct sip_msg *msg,
			      const struct sipevent_substate *substate, void *arg)
{
	(void)arg;
	if (substate)
		return; /* the terminating NOTIFY: notify_handler saw it */
	if (msg && !msg->req) {
		if (!app.refer_scode)
			app.refer_scode = msg->scode;
		abort_run("REFER rejected: %u %r", msg->scode, &msg->reason);
	}
	else {
		abort_run("REFER subscription closed: %m", err);
	}
}

/* -------------------------------------------------------------- main */

static void signal_handler(int sig)
{
	abort_run("signal %d", sig);
}

static void exit_handler(void *arg)
{
	(void)arg;
}

static int parse_expect(const char *s)
{
	app.n_expect = 0;
	while (*s) {
		char *end;
		unsigned long v = strtoul(s, &end, 10);

		if (end == s || v < 100 || v > 699 || app.n_expect == MAX_EXPECT ||
		    (*end && *end != ','))
			return -1;
		app.expect[app.n_expect++] = (uint16_t)v;
		s = *end ? end + 1 : end;
	}
	return app.n_expect ? 0 : -1;
}

static void usage(void)
{
	fprintf(stderr, "usage: re_endpoint --listen ADDR:PORT --refer-to URI "
			"[--expect 100,180,200] [--timeout S] [--trace]\n");
}

static void judge(void)
{
	char got[256] = "", want[256] = "";
	size_t i, off;
	bool same;

	for (i = 0, off = 0; i < app.n_notify && off < sizeof(got); i++)
		off += (size_t)snprintf(got + off, sizeof(got) - off, "%s%u",
					i ? "," : "", app.notify[i].status);
	for (i = 0, off = 0; i < app.n_expect && off < sizeof(want); i++)
		off += (size_t)snprintf(want + off, sizeof(want) - off, "%s%u",
					i ? "," : "", app.expect[i]);
	if (app.aborted)
		return; /* the fatal problem says it; no derived noise */

	if (app.refer_scode != 202)
		problem("REFER answered %u, expected 202", app.refer_scode);
	same = app.n_notify == app.n_expect;
	for (i = 0; same && i < app.n_notify; i++)
		same = app.notify[i].status == app.expect[i];
	if (!same)
		problem("NOTIFY sipfrag statuses %s, expected %s",
			app.n_notify ? got : "(none)", want);
	for (i = 0; i + 1 < app.n_notify; i++) {
		if (app.notify[i].state != SIPEVENT_ACTIVE)
			problem("NOTIFY #%zu ('%s') is not the last but has "
				"Subscription-State: %s", i + 1, app.notify[i].frag,
				app.notify[i].substate);
	}
	if (app.n_notify) {
		const struct notify_rec *last = &app.notify[app.n_notify - 1];

		if (last->state != SIPEVENT_TERMINATED)
			problem("last NOTIFY ('%s') has Subscription-State: %s, "
				"expected terminated", last->frag, last->substate);
		else if (last->status >= 200 && last->status < 300 &&
			 (!last->has_reason || last->reason != SIPEVENT_NORESOURCE))
			problem("last NOTIFY ('%s') has Subscription-State: %s, "
				"expected terminated;reason=noresource",
				last->frag, last->substate);
	}
	if (!app.bye)
		problem("no BYE from xferd");
	else if (app.notifies_before_bye != app.n_notify)
		problem("BYE arrived after %zu of %zu NOTIFYs: it must follow "
			"the final NOTIFY", app.notifies_before_bye, app.n_notify);
}

int main(int argc, char **argv)
{
	const char *listen = NULL;
	struct sa laddr;
	double timeout_s = 10;
	int err, i, rc;

	if (parse_expect("100,180,200"))
		return 2;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--trace")) {
			app.trace = true;
			continue;
		}
		if (!v) {
			usage();
			return 2;
		}
		if (!strcmp(a, "--listen"))
			listen = v;
		else if (!strcmp(a, "--refer-to"))
			app.refer_to = v;
		else if (!strcmp(a, "--expect")) {
			if (parse_expect(v)) {
				fprintf(stderr, "re_endpoint: bad --expect '%s'\n", v);
				return 2;
			}
		}
		else if (!strcmp(a, "--timeout")) {
			timeout_s = strtod(v, NULL);
			if (!(timeout_s > 0 && timeout_s <= 3600)) {
				fprintf(stderr, "re_endpoint: bad --timeout '%s'\n", v);
				return 2;
			}
		}
		else {
			usage();
			return 2;
		}
		i++;
	}
	if (!listen || !app.refer_to) {
		usage();
		return 2;
	}
	if (sa_decode(&laddr, listen, strlen(listen)) || !sa_port(&laddr)) {
		fprintf(stderr, "re_endpoint: bad --listen '%s' (ADDR:PORT)\n", listen);
		return 2;
	}
	app.laddr = laddr;
	app.timeout_ms = (uint32_t)(timeout_s * 1000);
	tmr_init(&app.tmr);

	err = libre_init();
	if (err) {
		fprintf(stderr, "re_endpoint: libre_init: %s\n", strerror(err));
		return 1;
	}
	err = sip_alloc(&app.sip, NULL, 32, 32, 32, "re_endpoint (libre)",
			exit_handler, NULL);
	if (!err) {
		sip_set_trace_handler(app.sip, trace_handler);
		err = sip_transp_add(app.sip, SIP_TRANSP_UDP, &laddr);
	}
	/* sipevent first: its listener must see NOTIFYs before sipsess's */
	if (!err)
		err = sipevent_listen(&app.evt_sock, app.sip, 32, 32, NULL, NULL);
	if (!err)
		err = sipsess_listen(&app.sess_sock, app.sip, 32, conn_handler, NULL);
	if (err) {
		re_fprintf(stderr, "re_endpoint: SIP stack on %J: %m\n", &laddr, err);
		rc = 1;
		goto out;
	}
	note("listening on udp %s; will REFER to %s", listen, app.refer_to);
	enter(PH_INVITE);

	err = re_main(signal_handler);
	if (err)
		abort_run("re_main: %m", err);
	judge();
	if (app.n_problems) {
		fprintf(stderr, "re_endpoint: FAIL (%zu problem%s)\n", app.n_problems,
			app.n_problems == 1 ? "" : "s");
		for (size_t k = 0; k < app.n_problems; k++)
			fprintf(stderr, "re_endpoint: FAIL: %s\n", app.problems[k]);
		rc = 1;
	}
	else {
		fprintf(stderr, "re_endpoint: PASS: REFER 202, NOTIFYs");
		for (size_t k = 0; k < app.n_notify; k++)
			fprintf(stderr, "%s%u", k ? "," : " ", app.notify[k].status);
		fprintf(stderr, ", last '%s', then BYE\n",
			app.notify[app.n_notify - 1].substate);
		rc = 0;
	}
out:
	tmr_cancel(&app.tmr);
	app.sub = mem_deref(app.sub);
	app.sess = mem_deref(app.sess);
	app.sess_sock = mem_deref(app.sess_sock);
	app.evt_sock = mem_deref(app.evt_sock);
	if (app.sip)
		sip_close(app.sip, true);
	app.sip = mem_deref(app.sip);
	libre_close();
	return rc;
}
