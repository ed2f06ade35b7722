/* calls.c: one call = three legs (caller, endpoint, target), each an enum
 * state machine; their messages, retransmissions (RFC 3261 §17: T1 doubling,
 * 64*T1), absorption of the platform's, and each call's verdict.
 * RFC 3261 §12-§17, RFC 3515 (REFER, NOTIFY), RFC 3420, RFC 4488 (Refer-Sub),
 * SPEC.md "The transfer". */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "calls.h"
#include "hdr.h"
#include "msg.h"
#include "opts.h"
#include "sipfrag.h"

/* Dialog state copied out of received messages (Call-ID, From, To, Contact,
 * route set) lives in the call, not in the receive buffer (STYLE rule 5). */
#define ARENA 1024
/* Tags and branches name their call: "xl", the role's letter, 6 hex digits
 * of slot and 8 of generation. A message for a call that ended and whose
 * slot was reused has the wrong generation and is not misattributed. */
#define ID_LEN 17
#define T2_MS 4000
#define MAX_ROUTES 16

enum caller_state { CA_IDLE, CA_INVITING, CA_EARLY, CA_UP, CA_BYE_SENT, CA_ENDED };
enum ep_state { EP_IDLE, EP_ANSWERED, EP_UP, EP_BYE_SENT, EP_ENDED };
enum tg_state { TG_IDLE, TG_RINGING, TG_ANSWERED, TG_REFUSED, TG_UP, TG_ENDED };
enum refer_state { RF_NONE, RF_WAIT, RF_SENT, RF_ACCEPTED, RF_REJECTED };

/* What the retransmission timer of a leg resends. */
enum held_kind {
	HELD_NONE,
	HELD_INVITE,   /* our INVITE: until any response (Timer A, B) */
	HELD_REQUEST,  /* our REFER or BYE: until a final response (Timer E, F) */
	HELD_RESPONSE, /* our final response to an INVITE: until its ACK (Timer G, H) */
};

/* What a leg's action timer does when it fires. */
enum act { ACT_NONE, ACT_REFER, ACT_BYE, ACT_ANSWER, ACT_PROVISIONAL };

/* An established call (--established) is one without a transfer: set up,
 * left idle through the load, hung up by its caller at the end. */
enum est_state {
	EST_NONE,   /* a call of the load */
	EST_SETUP,  /* INVITE sent; up when both the caller and the endpoint ACKed */
	EST_UP,     /* idle: no timer armed, nothing held */
	EST_HANGUP, /* our BYE sent; 64*T1 for the 200s */
};

/* The platform's CSeqs seen on a leg, for the retransmission check: 128
 * covers the INVITE, the NOTIFYs of 100 provisionals, a BYE and re-INVITEs. */
#define RSEEN_BITS 128

static const uint8_t ended_state[XL__ROLES] = { CA_ENDED, EP_ENDED, TG_ENDED };

#define B(s) (1u << (s))
/* legal[role][to]: the states a leg may enter `to` from (STYLE rule 13).
 * Read by an assert only, hence unused in a -DNDEBUG build. */
static const uint8_t legal[XL__ROLES][8] __attribute__((unused)) = {
	[XL_CALLER] = {
		[CA_INVITING] = B(CA_IDLE),
		[CA_EARLY] = B(CA_INVITING),
		[CA_UP] = B(CA_INVITING) | B(CA_EARLY),
		[CA_BYE_SENT] = B(CA_UP),
		[CA_ENDED] = B(CA_INVITING) | B(CA_EARLY) | B(CA_UP) | B(CA_BYE_SENT),
	},
	[XL_ENDPOINT] = {
		[EP_ANSWERED] = B(EP_IDLE),
		[EP_UP] = B(EP_ANSWERED),
		[EP_BYE_SENT] = B(EP_ANSWERED) | B(EP_UP),
		[EP_ENDED] = B(EP_ANSWERED) | B(EP_UP) | B(EP_BYE_SENT),
	},
	[XL_TARGET] = {
		[TG_RINGING] = B(TG_IDLE),
		[TG_ANSWERED] = B(TG_RINGING),
		[TG_REFUSED] = B(TG_IDLE) | B(TG_RINGING),
		[TG_UP] = B(TG_ANSWERED),
		[TG_ENDED] = B(TG_ANSWERED) | B(TG_REFUSED) | B(TG_UP),
	},
};
#undef B

struct xl_call;

struct xl_leg {
	struct xl_call *call;
	uint8_t role, state;
	uint8_t act;               /* enum act */
	uint8_t held_kind;         /* enum held_kind */
	char held_letter;          /* the held request's method: 'I', 'R', 'B' */
	char tag[ID_LEN];          /* our tag, and the prefix of our branches */
	uint32_t cseq;             /* of our last request */
	uint32_t held_cseq;        /* of the held request, or of the INVITE answered */
	uint32_t rbase;            /* first CSeq the platform used on this leg */
	uint64_t rseen[RSEEN_BITS / 64]; /* bit i: CSeq rbase + i seen (retransmission check) */
	bool rbase_set;
	struct str call_id, from, to, ruri, routes; /* dialog, as our requests write it */
	union xl_sa dest;          /* where our requests go */
	socklen_t dest_len;
	struct xl_out *held;       /* the copy the rtx timer resends */
	uint32_t rtx_ms;
	uint64_t rtx_end_ms;
	struct xl_out *saved;      /* target: its INVITE, to answer it later */
	struct wheel_timer rtx, act_timer;
};

struct xl_call {
	struct xl_calls *cs;
	struct xl_call *next_free;
	uint32_t slot, gen;
	bool live, deadline_hit;
	uint8_t scen;              /* enum xl_scenario */
	uint8_t refer_state;       /* enum refer_state */
	uint8_t reason;            /* 1 + index into st.reasons; 0: none yet */
	bool n100, reinvited, target_invited, target_acked, target_cancelled;
	bool caller_got_bye, wrong_number, early_bye_pending;
	/* For --no-subscription, where no NOTIFY tells how the transfer went. */
	bool ep_got_bye;           /* the platform sent BYE to the endpoint */
	bool reinvite_offer;       /* the caller's re-INVITE carried the target's SDP */
	bool target_refusal_acked; /* the target's 486 or 487 was ACKed */
	uint16_t refer_code, final_status, notifies;
	uint8_t est;               /* enum est_state */
	bool est_dropped;          /* the platform hung up the idle call */
	uint8_t prov_sent;         /* target: distinct provisional responses sent */
	uint16_t prov_repeats;     /* target: a provisional sent again (INVITE retransmitted) */
	/* NOTIFYs 18x received, and the CSeqs that order the subscription: the
	 * platform numbers its NOTIFYs as it sends them, whatever the network's
	 * order of arrival. */
	uint16_t n18x, first18x;   /* first18x: the status of the lowest CSeq's 18x */
	uint32_t cseq_100, cseq_18x_min, cseq_18x_max, cseq_final;
	uint32_t refer_cseq;
	/* CLOCK_MONOTONIC ns: the submit that carried the INVITE, the REFER
	 * (the loop's time until then). A stamp still pending when the call
	 * ends and its slot is reused lands in the new call's: harmless, its
	 * INVITE leaves in that same submit and its REFER sets refer_ns anew. */
	uint64_t t0_ns, refer_ns;
	uint64_t ring_ms0;         /* target: when it sent 180 */
	struct xl_leg leg[XL__ROLES];
	struct wheel_timer deadline;
	uint16_t arena_n;
	char arena[ARENA];
};

/* A request or response being handled, and where its responses go. */
struct rx {
	unsigned sock;
	const struct sip_msg *m;
	const struct sip_core *c;
	union xl_sa dest;
	socklen_t dest_len;
};

struct xl_calls {
	struct xl *xl;
	struct xl_call *calls;
	struct xl_call *free;
	uint32_t nslots;                /* --established + --concurrent */
	unsigned active;                /* the load's calls live */
	unsigned est_active, est_pending; /* established calls live; of them not up yet */
	uint32_t hang_cursor;           /* teardown: the next slot to look at */
	int64_t wrr[XL__SCENARIOS];
	uint64_t rng;
	/* Fixed text, written once. */
	char via[XL__ROLES][96];        /* "SIP/2.0/UDP host:port;branch=z9hG4bK" */
	char contact[XL__ROLES][96];    /* "<sip:caller@host:port>" */
	char sdp[XL__ROLES][320];
	char a_ruri[160], a_to[160];    /* the dialled number at the platform */
	char refer_to[200], bad_refer_to[200], referred_by[128];
	char target_mline[32];          /* "m=audio PORT ": the target's SDP, not another's */
	char run_id[9];
	struct str s_via[XL__ROLES], s_contact[XL__ROLES], s_sdp[XL__ROLES];
	/* Parse space: the datagram being handled, and a saved INVITE. */
	struct sip_msg rx_msg, saved_msg;
	uint64_t rx_ns;                 /* its kernel receive time; 0: none, or no datagram */
};

#define container_of(p, type, member) ((type *)(void *)((char *)(p) - offsetof(type, member)))

static uint64_t now_ms(const struct xl_calls *cs)
{
	return cs->xl->now_ms;
}

static struct str cs_str(const char *s)
{
	return str_make(s, strlen(s));
}

/* ---- latencies ---- */

/* When what is being handled arrived (CLOCK_MONOTONIC ns): the kernel's
 * receive time of the datagram, which leaves xferload's own wake-up (an
 * idle CPU's: tens of µs, more on some VMs) out of the latencies; else the
 * loop's time, read after it woke. *kernel says which. */
static uint64_t arrival_ns(const struct xl_calls *cs, uint64_t sent_ns, bool *kernel)
{
	*kernel = cs->rx_ns && cs->rx_ns >= sent_ns;
	return *kernel ? cs->rx_ns : cs->xl->now_us * 1000u;
}

static uint64_t ns_to_us(uint64_t sent_ns, uint64_t at_ns)
{
	return at_ns > sent_ns ? (at_ns - sent_ns + 500) / 1000 : 0;
}

/* A sample of the load's latency i: from sent_ns to now's arrival. */
static void lat_add(struct xl_calls *cs, enum xl_lat i, uint64_t sent_ns)
{
	struct xl_stats *st = &cs->xl->st;
	bool kernel;
	uint64_t at = arrival_ns(cs, sent_ns, &kernel);

	if (kernel)
		st->lat_kernel_rx++;
	else
		st->lat_loop++;
	xl_hist_add(&st->lat[i], ns_to_us(sent_ns, at));
}

/* ---- identities ---- */

static const char hexdig[] = "0123456789abcdef";

static void id_write(char out[ID_LEN], unsigned role, uint32_t slot, uint32_t gen)
{
	out[0] = 'x';
	out[1] = 'l';
	out[2] = (char)('a' + role);
	for (unsigned i = 0; i < 6; i++)
		out[3 + i] = hexdig[(slot >> (20 - 4 * i)) & 15];
	for (unsigned i = 0; i < 8; i++)
		out[9 + i] = hexdig[(gen >> (28 - 4 * i)) & 15];
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The live call an id (a tag, or a branch without its magic cookie) names,
 * if it is of role. */
static struct xl_call *call_by_id(struct xl_calls *cs, struct str s, unsigned role)
{
	uint32_t slot = 0, gen = 0;
	struct xl_call *call;

	if (s.n < ID_LEN || s.p[0] != 'x' || s.p[1] != 'l' || s.p[2] != (char)('a' + role))
		return NULL;
	for (unsigned i = 3; i < ID_LEN; i++) {
		int v = hexval(s.p[i]);

		if (v < 0)
			return NULL;
		if (i < 9)
			slot = slot << 4 | (uint32_t)v;
		else
			gen = gen << 4 | (uint32_t)v;
	}
	if (slot >= cs->nslots)
		return NULL;
	call = &cs->calls[slot];
	return call->live && call->gen == gen ? call : NULL;
}

/* The caller's number, "+19" + 6 digits of slot + 3 of generation, is the
 * only thing the platform carries from the caller to the endpoint and the
 * target (caller ID preserved, SPEC.md): its last 9 digits find the call. */
static int caller_number(char *out, size_t cap, const struct xl_call *call)
{
	return snprintf(out, cap, "+19%06u%03u", call->slot, call->gen % 1000);
}

static struct xl_call *call_by_user(struct xl_calls *cs, struct str user)
{
	uint32_t slot = 0, g = 0;
	struct xl_call *call;

	if (user.n < 9)
		return NULL;
	user.p += user.n - 9;
	for (unsigned i = 0; i < 9; i++) {
		if (user.p[i] < '0' || user.p[i] > '9')
			return NULL;
		if (i < 6)
			slot = slot * 10 + (uint32_t)(user.p[i] - '0');
		else
			g = g * 10 + (uint32_t)(user.p[i] - '0');
	}
	if (slot >= cs->nslots)
		return NULL;
	call = &cs->calls[slot];
	return call->live && call->gen % 1000 == g ? call : NULL;
}

/* From's user, else P-Asserted-Identity's. */
static struct xl_call *call_by_caller_id(struct xl_calls *cs, const struct rx *rx)
{
	const struct sip_hdr *pai;
	struct xl_call *call = NULL;
	struct sip_addr a;

	if (rx->c->from.has_uri)
		call = call_by_user(cs, rx->c->from.uri.user);
	if (!call && (pai = sip_msg_hdr_first(rx->m, SIP_HDR_P_ASSERTED_IDENTITY)) &&
	    sip_addr_read(pai->value, &a, NULL) == 0 && a.has_uri)
		call = call_by_user(cs, a.uri.user);
	return call;
}

/* ---- bookkeeping ---- */

static void leg_set_state(struct xl_calls *cs, struct xl_leg *l, unsigned to)
{
	assert(legal[l->role][to] & (1u << l->state));
	l->state = (uint8_t)to;
	cs->xl->st.transitions[l->role][to]++;
}

/* tab: the load's reasons or the established calls'; *n of them in use. */
static uint8_t reason_intern(struct xl_reason *tab, unsigned *n, const char *text,
			     struct str call_id)
{
	for (unsigned i = 0; i < *n; i++)
		if (!strcmp(tab[i].text, text))
			return (uint8_t)(i + 1);
	if (*n == XL_REASONS_MAX - 1) { /* the last slot gathers the rest */
		snprintf(tab[*n].text, sizeof(tab[0].text), "other reasons");
		(*n)++;
	}
	if (*n == XL_REASONS_MAX)
		return XL_REASONS_MAX;
	snprintf(tab[*n].text, sizeof(tab[0].text), "%s", text);
	snprintf(tab[*n].call_id, sizeof(tab[0].call_id), "%.*s", STR_FMT(call_id));
	return (uint8_t)++(*n);
}

/* The first failure of a call is its reason; later ones follow from it. */
__attribute__((format(printf, 2, 3))) static void call_fail(struct xl_call *call, const char *fmt, ...)
{
	char text[96];
	struct xl_stats *st = &call->cs->xl->st;
	va_list ap;
	int n;

	if (call->reason)
		return;
	n = snprintf(text, sizeof(text), "%s: ",
		     call->est ? "established" : xl_scenario_name(call->scen));
	va_start(ap, fmt);
	vsnprintf(text + n, sizeof(text) - (size_t)n, fmt, ap);
	va_end(ap);
	if (call->est)
		call->reason = reason_intern(st->est.reasons, &st->est.nreasons, text,
					     call->leg[XL_CALLER].call_id);
	else
		call->reason = reason_intern(st->reasons, &st->nreasons, text,
					     call->leg[XL_CALLER].call_id);
}

/* Copy the concatenation of parts into the call's arena. Folding and any
 * CR, LF or NUL become spaces here, once, so that requests can write the
 * dialog's values raw (they come from the network: From, To, Contact...). */
static struct str arena_cat(struct xl_call *call, const struct str *parts, unsigned n)
{
	size_t len = 0;
	char *p;

	for (unsigned i = 0; i < n; i++)
		len += parts[i].n;
	if (len > (size_t)(ARENA - call->arena_n)) {
		call_fail(call, "dialog state over %u bytes", ARENA);
		return STR_NULL;
	}
	p = call->arena + call->arena_n;
	for (unsigned i = 0; i < n; i++) {
		for (size_t k = 0; k < parts[i].n; k++) {
			char ch = parts[i].p[k];

			*p++ = ch == '\r' || ch == '\n' || ch == 0 ? ' ' : ch;
		}
	}
	p = call->arena + call->arena_n;
	call->arena_n = (uint16_t)(call->arena_n + len);
	return str_make(p, len);
}

static struct str arena_copy(struct xl_call *call, struct str s)
{
	return arena_cat(call, &s, 1);
}

/* An IP literal URI's address; false for a host name (xferload has no DNS). */
static bool sa_from_uri(const struct sip_uri *u, union xl_sa *sa, socklen_t *len)
{
	char ip[INET6_ADDRSTRLEN];
	uint16_t port = htons(u->has_port ? u->port : 5060);

	if ((u->host_type != SIP_HOST_IPV4 && u->host_type != SIP_HOST_IPV6) || u->host.n >= sizeof(ip))
		return false;
	memcpy(ip, u->host.p, u->host.n);
	ip[u->host.n] = 0;
	memset(sa, 0, sizeof(*sa));
	if (u->host_type == SIP_HOST_IPV4) {
		sa->in.sin_family = AF_INET;
		sa->in.sin_port = port;
		*len = sizeof(sa->in);
		return inet_pton(AF_INET, ip, &sa->in.sin_addr) == 1;
	}
	sa->in6.sin6_family = AF_INET6;
	sa->in6.sin6_port = port;
	*len = sizeof(sa->in6);
	return inet_pton(AF_INET6, ip, &sa->in6.sin6_addr) == 1;
}

/* §18.2.2: responses go where the request came from when its Via asks for
 * rport (RFC 3581) or has no IP literal, else to the Via's sent-by. */
static void rx_set_dest(struct rx *rx, const union xl_sa *from, socklen_t fromlen)
{
	const struct sip_via *v = &rx->c->via;
	struct sip_uri u = { .host = v->host, .port = v->port, .has_port = v->port != 0,
			     .host_type = v->host_ipv6 ? SIP_HOST_IPV6 : SIP_HOST_IPV4 };

	memcpy(&rx->dest, from, fromlen < sizeof(rx->dest) ? fromlen : sizeof(rx->dest));
	rx->dest_len = fromlen;
	if (v->rport || !sa_from_uri(&u, &rx->dest, &rx->dest_len)) {
		memcpy(&rx->dest, from, fromlen < sizeof(rx->dest) ? fromlen : sizeof(rx->dest));
		rx->dest_len = fromlen;
	}
}

/* The remote target (first Contact) and, when the dialog starts (routes),
 * its route set: our requests go to the first route if there is one, else
 * to the Contact. uac: the route set is the Record-Route reversed (§12.1.2);
 * a target refresh changes the Contact only (§12.2). */
static void leg_set_target(struct xl_leg *l, const struct sip_msg *m, bool uac, bool routes)
{
	struct xl_call *call = l->call;
	const struct sip_hdr *ch = sip_msg_hdr_first(m, SIP_HDR_CONTACT), *h = NULL;
	struct str cur = STR_NULL, v, vals[MAX_ROUTES], parts[2 * MAX_ROUTES], list;
	struct sip_contact ct;
	struct sip_addr first;
	unsigned n = 0, k = 0;

	if (ch) {
		cur = ch->value;
		if (sip_list_next(&cur, &v) > 0 && sip_contact_read(v, &ct, NULL) == 0 && !ct.star &&
		    ct.addr.has_uri) {
			l->ruri = arena_copy(call, ct.addr.uri_text);
			if (!l->routes.n && !sa_from_uri(&ct.addr.uri, &l->dest, &l->dest_len))
				call_fail(call, "Contact is not an IP literal");
		}
		cur = STR_NULL;
	}
	if (!routes)
		return;
	while (n < MAX_ROUTES && sip_msg_list_next(m, SIP_HDR_RECORD_ROUTE, &h, &cur, &v) > 0)
		vals[n++] = v;
	if (!n)
		return;
	for (unsigned i = 0; i < n; i++) {
		if (i)
			parts[k++] = STR(", ");
		parts[k++] = vals[uac ? n - 1 - i : i];
	}
	list = arena_cat(call, parts, k);
	l->routes = list;
	if (sip_addr_read(vals[uac ? n - 1 : 0], &first, NULL) == 0 && first.has_uri &&
	    !sa_from_uri(&first.uri, &l->dest, &l->dest_len))
		call_fail(call, "Record-Route is not an IP literal");
}

/* ---- sending ---- */

static struct xl_out *out_new(struct xl_calls *cs, struct sip_build *b)
{
	struct xl_out *o = xl_io_out(&cs->xl->io);

	if (o)
		sip_build_init(b, o->data, sizeof(o->data));
	return o;
}

/* --loss: xorshift64*, one draw per datagram. */
static bool lost(struct xl_calls *cs)
{
	uint64_t x = cs->rng;

	if (!cs->xl->o.loss_ppm)
		return false;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	cs->rng = x;
	return (x * 0x2545f4914f6cdd1dull) % 1000000u < cs->xl->o.loss_ppm;
}

/* Queue o for sending (or drop it, with --loss). */
static void out_queue(struct xl_calls *cs, struct xl_out *o)
{
	cs->xl->st.msgs_out++;
	if (lost(cs)) {
		cs->xl->st.lost_out++;
		xl_io_out_free(&cs->xl->io, o);
		return;
	}
	xl_io_send(&cs->xl->io, o);
}

static void leg_release(struct xl_calls *cs, struct xl_leg *l)
{
	if (!l->held)
		return;
	wheel_timer_cancel(&l->rtx);
	xl_io_out_free(&cs->xl->io, l->held);
	l->held = NULL;
	l->held_kind = HELD_NONE;
}

/* Keep a copy of o for the retransmission timer: T1, then doubling. */
static void leg_hold(struct xl_calls *cs, struct xl_leg *l, const struct xl_out *o,
		     enum held_kind kind, char letter, uint32_t cseq)
{
	struct xl_out *h;

	leg_release(cs, l);
	h = xl_io_out(&cs->xl->io);
	if (!h) {
		cs->xl->st.unheld++;
		return;
	}
	h->len = o->len;
	h->sock = o->sock;
	h->to = o->to;
	h->tolen = o->tolen;
	memcpy(h->data, o->data, o->len);
	l->held = h;
	l->held_kind = (uint8_t)kind;
	l->held_letter = letter;
	l->held_cseq = cseq;
	l->rtx_ms = cs->xl->o.t1_ms;
	l->rtx_end_ms = now_ms(cs) + 64ull * cs->xl->o.t1_ms;
	wheel_timer_start(&cs->xl->wheel, &l->rtx, now_ms(cs) + l->rtx_ms);
}

/* Finish o and queue it; with hold, the leg keeps a copy to retransmit. */
static bool msg_send(struct xl_calls *cs, struct xl_out *o, struct sip_build *b,
		     struct str ctype, struct str body, struct xl_leg *hold,
		     enum held_kind kind, char letter, uint32_t cseq)
{
	int n = sip_build_finish(b, ctype, body);

	if (n < 0) {
		cs->xl->st.build_errors++;
		xl_io_out_free(&cs->xl->io, o);
		return false;
	}
	o->len = (uint16_t)n;
	if (hold)
		leg_hold(cs, hold, o, kind, letter, cseq);
	out_queue(cs, o);
	return true;
}

/* Start line, Via (branch = our tag + method letter + CSeq) and the dialog
 * headers of a request on a leg (§8.1.1, §12.2.1.1). to: To to write instead
 * of the dialog's (the ACK of a non-2xx carries the response's To). */
static struct xl_out *req_begin(struct xl_calls *cs, struct xl_leg *l, struct sip_build *b,
				struct str method, char letter, uint32_t cseq, struct str to)
{
	struct xl_out *o = out_new(cs, b);
	char tail[24];
	int n;

	if (!o)
		return NULL;
	sip_build_request_line(b, method, l->ruri);
	sip_build_header_begin(b, STR("Via"));
	sip_build_raw(b, cs->s_via[l->role]);
	sip_build_raw(b, str_make(l->tag, ID_LEN));
	n = snprintf(tail, sizeof(tail), ".%c%x;rport", letter, cseq);
	sip_build_raw(b, str_make(tail, (size_t)n));
	sip_build_header_end(b);
	/* The leg's values were sanitised when stored (arena_cat): raw. */
	sip_build_raw(b, STR("Max-Forwards: 70\r\nFrom: "));
	sip_build_raw(b, l->from);
	if (to.n) {
		sip_build_raw(b, STR("\r\n"));
		sip_build_header(b, STR("To"), to);
		sip_build_raw(b, STR("Call-ID: "));
	} else {
		sip_build_raw(b, STR("\r\nTo: "));
		sip_build_raw(b, l->to);
		sip_build_raw(b, STR("\r\nCall-ID: "));
	}
	sip_build_raw(b, l->call_id);
	sip_build_raw(b, STR("\r\nCSeq: "));
	sip_build_uint(b, cseq);
	sip_build_raw(b, STR(" "));
	sip_build_raw(b, method);
	sip_build_raw(b, STR("\r\n"));
	if (l->routes.n) {
		sip_build_raw(b, STR("Route: "));
		sip_build_raw(b, l->routes);
		sip_build_raw(b, STR("\r\n"));
	}
	o->sock = l->role;
	o->to = l->dest;
	o->tolen = l->dest_len;
	return o;
}

static struct str reason_of(unsigned code)
{
	switch (code) {
	case 180: return STR("Ringing");
	case 183: return STR("Session Progress");
	case 200: return STR("OK");
	case 404: return STR("Not Found");
	case 405: return STR("Method Not Allowed");
	case 481: return STR("Call/Transaction Does Not Exist");
	case 486: return STR("Busy Here");
	case 487: return STR("Request Terminated");
	default: return STR("Unknown");
	}
}

/* A response to rx. l: the leg answering (its tag goes into To, a Contact
 * into 1xx/2xx of an INVITE, and with hold it keeps the copy until the ACK);
 * NULL for a stateless answer. */
static bool reply(struct xl_calls *cs, const struct rx *rx, unsigned code, struct xl_leg *l,
		  bool sdp, bool hold)
{
	struct sip_build b;
	struct xl_out *o = out_new(cs, &b);

	if (!o)
		return false;
	sip_build_response(&b, rx->m, rx->c, code, reason_of(code),
			   l ? str_make(l->tag, ID_LEN) : STR("xl-stateless"), NULL);
	if (l && code < 300 && rx->m->method_id == SIP_METHOD_INVITE)
		sip_build_header(&b, STR("Contact"), cs->s_contact[rx->sock]);
	o->sock = (uint8_t)rx->sock;
	o->to = rx->dest;
	o->tolen = rx->dest_len;
	return msg_send(cs, o, &b, sdp ? STR("application/sdp") : STR_NULL,
			sdp ? cs->s_sdp[rx->sock] : STR_NULL, hold ? l : NULL, HELD_RESPONSE, 'I',
			rx->c->cseq.num);
}

static void leg_send_bye(struct xl_calls *cs, struct xl_leg *l)
{
	struct sip_build b;
	struct xl_out *o;

	l->cseq++;
	o = req_begin(cs, l, &b, STR("BYE"), 'B', l->cseq, STR_NULL);
	if (!o || !msg_send(cs, o, &b, STR_NULL, STR_NULL, l, HELD_REQUEST, 'B', l->cseq)) {
		leg_set_state(cs, l, ended_state[l->role]);
		return;
	}
	leg_set_state(cs, l, l->role == XL_CALLER ? CA_BYE_SENT : EP_BYE_SENT);
}

static void leg_act_at(struct xl_calls *cs, struct xl_leg *l, enum act a, uint64_t at_ms)
{
	l->act = (uint8_t)a;
	wheel_timer_start(&cs->xl->wheel, &l->act_timer, at_ms);
}

static void leg_act(struct xl_calls *cs, struct xl_leg *l, enum act a, uint32_t after_ms)
{
	leg_act_at(cs, l, a, now_ms(cs) + after_ms);
}

static void leg_act_cancel(struct xl_leg *l)
{
	wheel_timer_cancel(&l->act_timer);
	l->act = ACT_NONE;
}

/* ---- the verdict ---- */

/* Scenarios whose subscription runs to its end: the endpoint's dialog
 * stays up until the final NOTIFY. */
static bool notifies_expected(const struct xl_call *call)
{
	return call->refer_state == RF_ACCEPTED && !call->reason &&
	       !call->cs->xl->o.no_subscription &&
	       (call->scen == XL_SUCCESS || call->scen == XL_BUSY || call->scen == XL_NOANSWER);
}

static const char *waiting_for(const struct xl_call *call)
{
	const struct xl_leg *a = &call->leg[XL_CALLER], *e = &call->leg[XL_ENDPOINT],
			    *t = &call->leg[XL_TARGET];

	if (a->state == CA_INVITING || a->state == CA_EARLY)
		return "the INVITE's final response";
	if (e->state == EP_IDLE)
		return "the INVITE at the endpoint";
	if (e->state == EP_ANSWERED)
		return "the endpoint's ACK";
	if (call->refer_state == RF_SENT)
		return "the REFER's response";
	if (call->refer_state == RF_ACCEPTED && !call->final_status) {
		if (t->state == TG_IDLE)
			return "the target's INVITE";
		if (t->state == TG_RINGING &&
		    (call->scen == XL_NOANSWER || call->scen == XL_EARLYBYE))
			return "CANCEL at the target";
		if (call->scen != XL_EARLYBYE && !call->cs->xl->o.no_subscription)
			return "the final NOTIFY";
	}
	if (t->state == TG_ANSWERED || t->state == TG_REFUSED)
		return "the target's ACK";
	if (notifies_expected(call) && !call->n100)
		return "NOTIFY 100";
	if (notifies_expected(call) && !call->final_status)
		return "the final NOTIFY";
	if (call->scen == XL_SUCCESS && a->state == CA_UP && !call->reinvited)
		return "the caller's re-INVITE";
	if (e->state == EP_UP)
		return "BYE at the endpoint";
	if (t->state == TG_UP || t->state == TG_RINGING)
		return "BYE or CANCEL at the target";
	if (a->state == CA_UP)
		return "BYE at the caller";
	if (a->held || e->held)
		return "a BYE's response";
	return "the end of the call";
}

static bool final_failed(unsigned s)
{
	return s >= 300 && s < 700;
}

/* The subscription's NOTIFYs: 100, the 18x (the first 180), the final, in
 * the order of their CSeqs. Success and busy targets sent --provisionals
 * distinct 18x, plus repeats for retransmitted INVITEs the platform may
 * NOTIFY again; --loss may drop an 18x for good (they are not retransmitted). */
static void call_judge_notifies(struct xl_call *call)
{
	const struct xl_opts *o = &call->cs->xl->o;
	bool answered = call->scen == XL_SUCCESS || call->scen == XL_BUSY;

	if (call->reason)
		return;
	if (call->n18x && call->n100 && call->cseq_18x_min < call->cseq_100)
		call_fail(call, "NOTIFY %u before NOTIFY 100 (by CSeq)", call->first18x);
	else if (call->n18x && call->final_status && call->cseq_18x_max > call->cseq_final)
		call_fail(call, "NOTIFY 18x after the final NOTIFY (by CSeq)");
	else if (call->n18x && call->first18x != 180 && !o->loss_ppm)
		call_fail(call, "first provisional NOTIFY %u, expected 180", call->first18x);
	else if (answered && !o->loss_ppm &&
		 (call->n18x < o->provisionals || call->n18x > o->provisionals + call->prov_repeats))
		call_fail(call, "%u NOTIFYs 18x, expected %u (--provisionals)", call->n18x,
			  o->provisionals);
}

/* --no-subscription: no NOTIFY says how the transfer went; the legs do.
 * earlybye and badrefer are judged as with NOTIFYs (call_judge). */
static void call_judge_unsubscribed(struct xl_call *call)
{
	if (call->notifies) {
		call_fail(call, "NOTIFY despite Refer-Sub: false");
		return;
	}
	switch (call->scen) {
	case XL_SUCCESS:
		if (!call->reinvited)
			call_fail(call, "caller not re-INVITEd");
		else if (!call->reinvite_offer)
			call_fail(call, "caller's re-INVITE without the target's offer");
		else if (!call->target_acked)
			call_fail(call, "target's 200 not ACKed");
		else if (!call->ep_got_bye)
			call_fail(call, "endpoint not hung up by the platform after the transfer");
		break;
	case XL_BUSY:
	case XL_NOANSWER:
		if (call->scen == XL_NOANSWER && !call->target_cancelled)
			call_fail(call, "target not cancelled");
		else if (!call->target_refusal_acked)
			call_fail(call, "target's %u not ACKed", call->scen == XL_BUSY ? 486 : 487);
		else if (call->ep_got_bye)
			call_fail(call, "BYE to the endpoint after the failed transfer");
		else if (!call->caller_got_bye)
			call_fail(call, "caller not hung up after the failed transfer");
		break;
	default:
		break;
	}
}

/* Did the call go as its scenario says? Sets the reason if not. */
static void call_judge(struct xl_call *call)
{
	unsigned fin = call->final_status;
	bool unsubscribed = call->cs->xl->o.no_subscription;

	if (call->reason)
		return;
	if (call->scen != XL_BADREFER && call->refer_code != 202) {
		call_fail(call, call->refer_code ? "REFER %u" : "no REFER response", call->refer_code);
		return;
	}
	if (unsubscribed && call->scen != XL_EARLYBYE && call->scen != XL_BADREFER) {
		call_judge_unsubscribed(call);
		if (!call->reason && call->wrong_number)
			call_fail(call, "target INVITE not for --refer-number");
		return;
	}
	switch (call->scen) {
	case XL_SUCCESS:
		if (fin != 200)
			call_fail(call, fin ? "final NOTIFY %u, expected 200" : "no final NOTIFY", fin);
		else if (!call->n100)
			call_fail(call, "no NOTIFY 100");
		else if (!call->reinvited)
			call_fail(call, "caller not re-INVITEd");
		else if (!call->target_acked)
			call_fail(call, "target's 200 not ACKed");
		break;
	case XL_BUSY:
		if (fin != 486)
			call_fail(call, fin ? "final NOTIFY %u, expected 486" : "no final NOTIFY", fin);
		else if (!call->caller_got_bye)
			call_fail(call, "caller not hung up after the failed transfer");
		break;
	case XL_NOANSWER:
		if (!final_failed(fin) || fin == 486)
			call_fail(call, fin ? "final NOTIFY %u, expected 408" : "no final NOTIFY", fin);
		else if (!call->target_cancelled)
			call_fail(call, "target not cancelled");
		else if (!call->caller_got_bye)
			call_fail(call, "caller not hung up after the failed transfer");
		break;
	case XL_EARLYBYE:
		if (fin == 200)
			call_fail(call, "NOTIFY 200 after the endpoint's BYE");
		else if (!call->caller_got_bye)
			call_fail(call, "caller not hung up after the endpoint's BYE");
		else if (!call->target_cancelled)
			call_fail(call, "target not cancelled after the endpoint's BYE");
		break;
	case XL_BADREFER:
		if (call->refer_code < 400 || call->refer_code > 499)
			call_fail(call, call->refer_code ? "REFER %u, expected 4xx"
							 : "no REFER response", call->refer_code);
		else if (call->target_invited)
			call_fail(call, "target INVITEd after a refused REFER");
		else if (call->notifies)
			call_fail(call, "NOTIFY after a refused REFER");
		else if (!call->caller_got_bye)
			call_fail(call, "caller not hung up");
		break;
	}
	if (!call->reason && call->wrong_number)
		call_fail(call, "target INVITE not for --refer-number");
	if (!unsubscribed &&
	    (call->scen == XL_SUCCESS || call->scen == XL_BUSY || call->scen == XL_NOANSWER))
		call_judge_notifies(call);
}

/* An established call is done when it ends: how it ended is its verdict. */
static void est_finish(struct xl_calls *cs, struct xl_call *call)
{
	struct xl_est_stats *est = &cs->xl->st.est;

	switch (call->est) {
	case EST_SETUP:
		if (!call->reason)
			call_fail(call, "ended before it was up");
		est->failed++;
		cs->est_pending--;
		est->setup_end_us = cs->xl->now_us;
		break;
	case EST_UP: /* the platform hung up both legs, or xferload was interrupted */
		if (!call->reason)
			call_fail(call, "ended while idle");
		if (call->est_dropped)
			est->dropped++;
		else
			est->teardown_failed++;
		break;
	default:
		if (call->est_dropped)
			est->dropped++;
		else if (call->reason)
			est->teardown_failed++;
		else
			est->hung_up++;
		est->teardown_end_us = cs->xl->now_us;
		break;
	}
	if (call->reason)
		est->reasons[call->reason - 1].count++;
	cs->est_active--;
}

/* Up: the caller has ACKed its 200 and the endpoint has the ACK of its own.
 * From here the call holds no timer: 100000 idle calls cost the wheel nothing. */
static void est_check_up(struct xl_calls *cs, struct xl_call *call)
{
	struct xl_est_stats *est = &cs->xl->st.est;
	bool kernel;

	if (call->est != EST_SETUP || call->reason || call->leg[XL_CALLER].state != CA_UP ||
	    call->leg[XL_ENDPOINT].state != EP_UP || call->leg[XL_ENDPOINT].held)
		return;
	call->est = EST_UP;
	est->up++;
	est->setup_end_us = cs->xl->now_us;
	/* Not in latency_clock's counts: those are the load's samples. */
	xl_hist_add(&est->invite_200, ns_to_us(call->t0_ns, arrival_ns(cs, call->t0_ns, &kernel)));
	cs->est_pending--;
	wheel_timer_cancel(&call->deadline);
}

static void call_finish(struct xl_calls *cs, struct xl_call *call)
{
	struct xl_stats *st = &cs->xl->st;

	if (call->est) {
		est_finish(cs, call);
	} else {
		call_judge(call);
		st->finished++;
		if (call->reason) {
			st->failed++;
			st->scen_failed[call->scen]++;
			st->reasons[call->reason - 1].count++;
		} else {
			st->ok++;
			st->scen_ok[call->scen]++;
		}
		cs->active--;
	}
	wheel_timer_cancel(&call->deadline);
	for (unsigned r = 0; r < XL__ROLES; r++) {
		struct xl_leg *l = &call->leg[r];

		leg_release(cs, l);
		leg_act_cancel(l);
		if (l->saved)
			xl_io_out_free(&cs->xl->io, l->saved);
		l->saved = NULL;
	}
	call->live = false;
	call->next_free = cs->free;
	cs->free = call;
}

/* A call is over when every leg is idle or ended, nothing waits for an
 * ACK, a response or an answer, and the NOTIFYs it expects came: a lost
 * one is retransmitted by the platform, maybe after the legs ended. */
static void call_check_done(struct xl_calls *cs, struct xl_call *call)
{
	if (!call->live)
		return;
	est_check_up(cs, call);
	if (notifies_expected(call) && (!call->n100 || !call->final_status))
		return;
	for (unsigned r = 0; r < XL__ROLES; r++) {
		const struct xl_leg *l = &call->leg[r];

		if (l->held || l->saved || (l->state != 0 && l->state != ended_state[r]))
			return;
	}
	call_finish(cs, call);
}

static void tg_reply_saved(struct xl_calls *cs, struct xl_call *call, unsigned code);

/* After a failure: hang up whatever we hold up, so the platform's call ends. */
static void call_teardown(struct xl_calls *cs, struct xl_call *call)
{
	struct xl_leg *a = &call->leg[XL_CALLER], *e = &call->leg[XL_ENDPOINT],
		      *t = &call->leg[XL_TARGET];

	for (unsigned r = 0; r < XL__ROLES; r++)
		leg_act_cancel(&call->leg[r]);
	if (a->state == CA_UP) {
		leg_release(cs, a);
		leg_send_bye(cs, a);
	}
	if (e->state == EP_UP || e->state == EP_ANSWERED) {
		leg_release(cs, e);
		leg_send_bye(cs, e);
	}
	if (t->state == TG_RINGING && t->saved)
		tg_reply_saved(cs, call, 486);
}

/* ---- timers ---- */

static void on_rtx(struct wheel_timer *tm)
{
	struct xl_leg *l = container_of(tm, struct xl_leg, rtx);
	struct xl_call *call = l->call;
	struct xl_calls *cs = call->cs;
	struct xl *xl = cs->xl;
	uint64_t now = wheel_now(&xl->wheel), next;
	struct xl_out *o;

	if (!l->held)
		return;
	if (now >= l->rtx_end_ms) { /* Timer B, F or H */
		enum held_kind kind = l->held_kind;
		char letter = l->held_letter;

		leg_release(cs, l);
		if (kind == HELD_INVITE) {
			call_fail(call, "timeout: INVITE");
			leg_set_state(cs, l, CA_ENDED);
		} else if (kind == HELD_REQUEST && letter == 'R') {
			call_fail(call, "timeout: REFER");
			call->refer_state = RF_REJECTED;
			call_teardown(cs, call);
		} else if (kind == HELD_REQUEST) {
			call_fail(call, "timeout: BYE from the %s",
				  l->role == XL_CALLER ? "caller" : "endpoint");
			if (l->state != ended_state[l->role])
				leg_set_state(cs, l, ended_state[l->role]);
		} else {
			call_fail(call, "timeout: no ACK at the %s",
				  l->role == XL_CALLER ? "caller" : l->role == XL_ENDPOINT ? "endpoint"
											 : "target");
			if (l->role == XL_TARGET && l->state != TG_ENDED)
				leg_set_state(cs, l, TG_ENDED);
			call_teardown(cs, call);
		}
		call_check_done(cs, call);
		return;
	}
	o = xl_io_out(&xl->io);
	if (o) {
		o->len = l->held->len;
		o->sock = l->held->sock;
		o->to = l->held->to;
		o->tolen = l->held->tolen;
		memcpy(o->data, l->held->data, o->len);
		out_queue(cs, o);
		xl->st.rtx_out++;
	}
	/* INVITE: doubling without a cap (Timer A); the rest stop at T2 (E, G). */
	l->rtx_ms = l->held_kind == HELD_INVITE || l->rtx_ms * 2 < T2_MS ? l->rtx_ms * 2 : T2_MS;
	next = now + l->rtx_ms;
	wheel_timer_start(&xl->wheel, &l->rtx, next < l->rtx_end_ms ? next : l->rtx_end_ms);
}

static void ep_send_refer(struct xl_calls *cs, struct xl_call *call);
static void tg_ring_next(struct xl_calls *cs, struct xl_call *call);

static void on_act(struct wheel_timer *tm)
{
	struct xl_leg *l = container_of(tm, struct xl_leg, act_timer);
	struct xl_call *call = l->call;
	struct xl_calls *cs = call->cs;
	enum act a = l->act;

	l->act = ACT_NONE;
	if (a == ACT_REFER && l->state == EP_UP)
		ep_send_refer(cs, call);
	else if (a == ACT_BYE && l->held_kind == HELD_REQUEST && l->held_letter == 'R')
		leg_act(cs, l, ACT_BYE, cs->xl->o.t1_ms); /* the REFER is still retransmitted */
	else if (a == ACT_BYE && l->state == (l->role == XL_CALLER ? CA_UP : EP_UP))
		leg_send_bye(cs, l);
	else if (a == ACT_ANSWER && l->state == TG_RINGING)
		tg_reply_saved(cs, call, call->scen == XL_SUCCESS ? 200 : 486);
	else if (a == ACT_PROVISIONAL && l->state == TG_RINGING) {
		tg_reply_saved(cs, call, 183);
		call->prov_sent++;
		tg_ring_next(cs, call);
	}
	call_check_done(cs, call);
}

static void on_deadline(struct wheel_timer *tm)
{
	struct xl_call *call = container_of(tm, struct xl_call, deadline);
	struct xl_calls *cs = call->cs;

	if (call->est == EST_HANGUP) { /* 64*T1 after our BYE: give up on it */
		call_fail(call, "teardown: timeout waiting for %s", waiting_for(call));
		call_finish(cs, call);
		return;
	}
	if (call->deadline_hit) { /* teardown got no answers either: let it go */
		call_finish(cs, call);
		return;
	}
	call->deadline_hit = true;
	call_fail(call, "timeout: waiting for %s", waiting_for(call));
	call_teardown(cs, call);
	wheel_timer_start(&cs->xl->wheel, &call->deadline,
			  now_ms(cs) + 64ull * cs->xl->o.t1_ms + 1000);
	call_check_done(cs, call);
}

/* ---- the caller ---- */

/* A line of body starts with prefix. */
static bool sdp_has_line(struct str body, struct str prefix)
{
	const char *p = body.p, *end;

	if (!body.n)
		return false;
	end = str_end(body);
	while (p && (size_t)(end - p) >= prefix.n) {
		const char *nl;

		if (!memcmp(p, prefix.p, prefix.n))
			return true;
		nl = memchr(p, '\n', (size_t)(end - p));
		p = nl ? nl + 1 : NULL;
	}
	return false;
}

static void caller_send_ack(struct xl_calls *cs, struct xl_leg *l, const struct rx *rx, bool ok)
{
	struct sip_build b;
	const struct sip_hdr *to = sip_msg_hdr_first(rx->m, SIP_HDR_TO);
	/* A 2xx's ACK is a request of the dialog; a non-2xx's reuses the INVITE's
	 * branch and carries the response's To (§17.1.1.3). */
	struct xl_out *o = req_begin(cs, l, &b, STR("ACK"), ok ? 'K' : 'I', 1,
				     ok ? STR_NULL : to->value);

	if (o)
		msg_send(cs, o, &b, STR_NULL, STR_NULL, NULL, HELD_NONE, 0, 0);
}

static void caller_on_response(struct xl_calls *cs, struct xl_call *call, const struct rx *rx)
{
	struct xl_leg *l = &call->leg[XL_CALLER];
	const struct sip_msg *m = rx->m;
	unsigned st = m->status;

	if (rx->c->cseq.method_id == SIP_METHOD_BYE) {
		if (st < 200)
			return;
		if (l->held_kind == HELD_REQUEST && rx->c->cseq.num == l->held_cseq)
			leg_release(cs, l);
		if (l->state == CA_BYE_SENT)
			leg_set_state(cs, l, CA_ENDED);
		return;
	}
	if (rx->c->cseq.method_id != SIP_METHOD_INVITE || rx->c->cseq.num != 1)
		return;
	if (l->state != CA_INVITING && l->state != CA_EARLY) {
		/* A retransmitted final response: it gets the same ACK again. */
		if (st >= 200) {
			cs->xl->st.rtx_in++;
			caller_send_ack(cs, l, rx, st < 300);
		}
		return;
	}
	if (l->held_kind == HELD_INVITE)
		leg_release(cs, l); /* any response stops Timer A */
	if (st < 200) {
		if (l->state == CA_INVITING)
			leg_set_state(cs, l, CA_EARLY);
		return;
	}
	if (st >= 300) {
		caller_send_ack(cs, l, rx, false);
		leg_set_state(cs, l, CA_ENDED);
		call_fail(call, "INVITE %u", st);
		return;
	}
	if (!call->est)
		lat_add(cs, XL_LAT_INVITE_200, call->t0_ns);
	l->to = arena_copy(call, sip_msg_hdr_first(m, SIP_HDR_TO)->value);
	leg_set_target(l, m, true, true);
	caller_send_ack(cs, l, rx, true);
	leg_set_state(cs, l, CA_UP);
	if (call->reason) /* it already failed (a BYE or re-INVITE came first): hang up */
		call_teardown(cs, call);
}

static void caller_on_request(struct xl_calls *cs, struct xl_call *call, const struct rx *rx)
{
	struct xl_leg *l = &call->leg[XL_CALLER];

	switch (rx->m->method_id) {
	case SIP_METHOD_INVITE: /* the platform reconnects us to the target */
		if (l->state == CA_INVITING || l->state == CA_EARLY) {
			/* Our INVITE's 2xx was lost and is being retransmitted: we
			 * have no dialog (§12.2.2), and the platform may not start
			 * an INVITE while its own is not ACKed (§14.1). */
			call_fail(call, "re-INVITE of the caller before its INVITE was ACKed "
					"(RFC 3261 14.1)");
			reply(cs, rx, 481, l, false, false);
			return;
		}
		if (l->state != CA_UP) {
			reply(cs, rx, 481, l, false, false);
			return;
		}
		if (sip_msg_hdr_first(rx->m, SIP_HDR_CONTACT))
			leg_set_target(l, rx->m, true, false);
		call->reinvited = true;
		/* RFC 3725 flow I: the offer is the target's, whose m= line
		 * alone has its port (each role's SDP has its own). */
		if (sdp_has_line(rx->m->body, cs_str(cs->target_mline)))
			call->reinvite_offer = true;
		leg_act_cancel(l);
		reply(cs, rx, 200, l, true, true);
		break;
	case SIP_METHOD_ACK:
		if (l->held_kind != HELD_RESPONSE || rx->c->cseq.num != l->held_cseq)
			return;
		leg_release(cs, l);
		/* Talking to the target now: hang up after --hold. An established
		 * call re-INVITEd (a refresh) stays up until the teardown. */
		if (l->state == CA_UP && call->reinvited && !call->reason && !call->est)
			leg_act(cs, l, ACT_BYE, cs->xl->o.hold_ms);
		break;
	case SIP_METHOD_BYE:
		if (l->state == CA_INVITING || l->state == CA_EARLY) {
			/* No dialog before the 2xx (§12.2.2); and a UAS may not BYE
			 * before its 2xx is ACKed (§15). */
			call_fail(call, "BYE to the caller before its INVITE was ACKed (RFC 3261 15)");
			reply(cs, rx, 481, l, false, false);
			return;
		}
		reply(cs, rx, 200, l, false, false);
		if (l->held_kind == HELD_RESPONSE)
			leg_release(cs, l);
		leg_act_cancel(l);
		call->caller_got_bye = true;
		if (call->est == EST_UP) {
			call->est_dropped = true;
			call_fail(call, "BYE from the platform to the idle caller");
		}
		if (l->state == CA_UP || l->state == CA_BYE_SENT)
			leg_set_state(cs, l, CA_ENDED);
		break;
	default:
		reply(cs, rx, rx->m->method_id == SIP_METHOD_OPTIONS ||
				      rx->m->method_id == SIP_METHOD_INFO ||
				      rx->m->method_id == SIP_METHOD_UPDATE ? 200 : 405,
		      l, false, false);
		break;
	}
}

/* ---- the endpoint ---- */

static void ep_send_refer(struct xl_calls *cs, struct xl_call *call)
{
	struct xl_leg *l = &call->leg[XL_ENDPOINT];
	struct sip_build b;
	struct xl_out *o;

	if (call->reason)
		return;
	l->cseq++;
	o = req_begin(cs, l, &b, STR("REFER"), 'R', l->cseq, STR_NULL);
	if (!o)
		return;
	sip_build_header(&b, STR("Contact"), cs->s_contact[XL_ENDPOINT]);
	sip_build_header(&b, STR("Refer-To"),
			 cs_str(call->scen == XL_BADREFER ? cs->bad_refer_to : cs->refer_to));
	sip_build_header(&b, STR("Referred-By"), cs_str(cs->referred_by));
	if (cs->xl->o.no_subscription)
		sip_build_header(&b, STR("Refer-Sub"), STR("false"));
	call->refer_ns = cs->xl->now_us * 1000u;
	o->sent_ns = &call->refer_ns;
	if (!msg_send(cs, o, &b, STR_NULL, STR_NULL, l, HELD_REQUEST, 'R', l->cseq))
		return;
	call->refer_state = RF_SENT;
	call->refer_cseq = l->cseq;
}

/* The endpoint hangs up after --hold: the caller is still its (failed
 * transfer, refused REFER). */
static void ep_hangup_later(struct xl_calls *cs, struct xl_call *call)
{
	struct xl_leg *l = &call->leg[XL_ENDPOINT];

	if (l->state == EP_UP && !wheel_timer_armed(&l->act_timer))
		leg_act(cs, l, ACT_BYE, cs->xl->o.hold_ms);
}

/* earlybye: BYE as soon as the target rings and the REFER is answered. */
static void ep_maybe_early_bye(struct xl_calls *cs, struct xl_call *call)
{
	struct xl_leg *l = &call->leg[XL_ENDPOINT];

	if (!call->early_bye_pending || l->state != EP_UP ||
	    (call->refer_state != RF_ACCEPTED && call->refer_state != RF_REJECTED))
		return;
	call->early_bye_pending = false;
	leg_act_cancel(l);
	leg_send_bye(cs, l);
}

/* The response carries exactly one Refer-Sub, and it says false. */
static bool refer_sub_false(const struct sip_msg *m)
{
	const struct sip_hdr *h = sip_msg_hdr_first(m, SIP_HDR_REFER_SUB);
	bool v = true;

	return h && !sip_msg_hdr_next(m, h) && sip_refer_sub_read(h->value, &v, NULL) == 0 && !v;
}

static void ep_on_response(struct xl_calls *cs, struct xl_call *call, const struct rx *rx)
{
	struct xl_leg *l = &call->leg[XL_ENDPOINT];
	unsigned st = rx->m->status;

	if (st < 200)
		return;
	if (rx->c->cseq.method_id == SIP_METHOD_BYE) {
		if (l->held_kind == HELD_REQUEST && rx->c->cseq.num == l->held_cseq)
			leg_release(cs, l);
		if (l->state == EP_BYE_SENT)
			leg_set_state(cs, l, EP_ENDED);
		return;
	}
	if (rx->c->cseq.method_id != SIP_METHOD_REFER || rx->c->cseq.num != call->refer_cseq ||
	    call->refer_state != RF_SENT) {
		cs->xl->st.rtx_in++;
		return;
	}
	if (l->held_kind == HELD_REQUEST && l->held_letter == 'R')
		leg_release(cs, l);
	call->refer_code = (uint16_t)st;
	if (st < XL_CODES)
		cs->xl->st.refer_codes[st]++;
	if (st < 300) {
		call->refer_state = RF_ACCEPTED;
		lat_add(cs, XL_LAT_REFER_202, call->refer_ns);
		if (cs->xl->o.no_subscription && !refer_sub_false(rx->m)) {
			/* RFC 4488 §4: a 2xx without it promises NOTIFYs. */
			call_fail(call, "%u without Refer-Sub: false", st);
			call_teardown(cs, call);
			return;
		}
		ep_maybe_early_bye(cs, call);
		return;
	}
	call->refer_state = RF_REJECTED;
	if (call->scen == XL_BADREFER && st < 500) {
		ep_hangup_later(cs, call);
		return;
	}
	call_fail(call, "REFER %u", st);
	call_teardown(cs, call);
}

static void ep_on_notify(struct xl_calls *cs, struct xl_call *call, const struct rx *rx)
{
	const struct sip_hdr *ss = sip_msg_hdr_first(rx->m, SIP_HDR_SUBSCRIPTION_STATE);
	struct xl *xl = cs->xl;
	struct sip_substate sub;
	struct sipfrag f;
	bool terminated = false;
	uint32_t cseq = rx->c->cseq.num;

	reply(cs, rx, 200, &call->leg[XL_ENDPOINT], false, false);
	call->notifies++;
	if (sipfrag_read(rx->m->body, &f, NULL))
		f.status = 0;
	if (ss && sip_substate_read(ss->value, &sub, NULL) == 0)
		terminated = str_caseeq(sub.state, STR("terminated"));
	xl->st.notifies++;
	xl->st.notify_status[f.status < XL_CODES ? f.status : 0]++;
	if (xl->o.no_subscription) {
		/* Counted, answered, and the call failed and hung up: its
		 * legs would otherwise wait for --call-timeout (a failed
		 * call arms no hang-up). */
		call_fail(call, "NOTIFY despite Refer-Sub: false");
		call_teardown(cs, call);
		return;
	}
	if (f.status == 100 && !call->n100) {
		call->n100 = true;
		call->cseq_100 = cseq;
		lat_add(cs, XL_LAT_NOTIFY_100, call->refer_ns);
	}
	if (f.status > 100 && f.status < 200 && !terminated) {
		if (!call->n18x++ || cseq < call->cseq_18x_min) {
			call->cseq_18x_min = cseq;
			call->first18x = f.status;
		}
		if (cseq > call->cseq_18x_max)
			call->cseq_18x_max = cseq;
	}
	if ((f.status < 200 && !terminated) || call->final_status)
		return;
	call->final_status = f.status ? f.status : 1;
	call->cseq_final = cseq;
	if (f.status < XL_CODES)
		xl->st.notify_finals[f.status]++;
	if (f.status == 200) {
		xl->st.transfers++;
		lat_add(cs, XL_LAT_NOTIFY_200, call->refer_ns);
		if (call->scen != XL_SUCCESS)
			call_fail(call, "final NOTIFY 200, expected a failure");
		return;
	}
	/* The transfer failed and the caller is still ours: hang up later. */
	ep_hangup_later(cs, call);
}

static void ep_on_request(struct xl_calls *cs, struct xl_call *call, const struct rx *rx)
{
	struct xl_leg *l = &call->leg[XL_ENDPOINT];
	const struct sip_msg *m = rx->m;

	switch (m->method_id) {
	case SIP_METHOD_INVITE:
		if (rx->c->to.tag.n) { /* a re-INVITE in our dialog */
			reply(cs, rx, 200, l, true, true);
			return;
		}
		if (l->state != EP_IDLE) { /* a second call for one caller: not ours */
			cs->xl->st.stray++;
			reply(cs, rx, 486, NULL, false, false);
			return;
		}
		/* UAS dialog (§12.1.1): our From is their To plus our tag. */
		l->call_id = arena_copy(call, rx->c->call_id);
		l->from = arena_cat(call, (struct str[]){ sip_msg_hdr_first(m, SIP_HDR_TO)->value,
							  STR(";tag="), str_make(l->tag, ID_LEN) }, 3);
		l->to = arena_copy(call, sip_msg_hdr_first(m, SIP_HDR_FROM)->value);
		l->dest = rx->dest;
		l->dest_len = rx->dest_len;
		leg_set_target(l, m, false, true);
		if (!l->ruri.n)
			call_fail(call, "INVITE to the endpoint without Contact");
		leg_set_state(cs, l, EP_ANSWERED);
		reply(cs, rx, 200, l, true, true);
		break;
	case SIP_METHOD_ACK:
		if (l->held_kind != HELD_RESPONSE || rx->c->cseq.num != l->held_cseq)
			return;
		leg_release(cs, l);
		if (l->state != EP_ANSWERED)
			return;
		leg_set_state(cs, l, EP_UP);
		if (call->refer_state == RF_NONE && !call->reason && !call->est) {
			call->refer_state = RF_WAIT;
			leg_act(cs, l, ACT_REFER, cs->xl->o.refer_after_ms);
		}
		break;
	case SIP_METHOD_NOTIFY:
		ep_on_notify(cs, call, rx);
		break;
	case SIP_METHOD_BYE:
		reply(cs, rx, 200, l, false, false);
		if (l->held_kind == HELD_RESPONSE)
			leg_release(cs, l);
		leg_act_cancel(l);
		call->ep_got_bye = true;
		if (call->est == EST_UP) {
			call->est_dropped = true;
			call_fail(call, "BYE from the platform to the idle endpoint");
		}
		if (l->state != EP_IDLE && l->state != EP_ENDED)
			leg_set_state(cs, l, EP_ENDED);
		break;
	case SIP_METHOD_CANCEL:
		reply(cs, rx, 200, l, false, false);
		break;
	default:
		reply(cs, rx, m->method_id == SIP_METHOD_OPTIONS || m->method_id == SIP_METHOD_INFO ||
				      m->method_id == SIP_METHOD_UPDATE ? 200 : 405,
		      l, false, false);
		break;
	}
}

/* ---- the target ---- */

/* A final response to the target's INVITE, held until its ACK. */
static void tg_answer(struct xl_calls *cs, struct xl_call *call, const struct rx *rx, unsigned code)
{
	struct xl_leg *l = &call->leg[XL_TARGET];

	reply(cs, rx, code, l, code == 200, true);
	leg_set_state(cs, l, code == 200 ? TG_ANSWERED : TG_REFUSED);
}

/* Respond to the INVITE kept in l->saved: a provisional (it stays kept),
 * or the final one after --ring, or 487 after CANCEL. */
static void tg_reply_saved(struct xl_calls *cs, struct xl_call *call, unsigned code)
{
	struct xl_leg *l = &call->leg[XL_TARGET];
	struct xl_out *s = l->saved;
	struct sip_core c;
	struct rx rx = { .sock = XL_TARGET, .m = &cs->saved_msg, .c = &c };
	bool ok;

	if (!s)
		return;
	ok = sip_msg_parse(&cs->saved_msg, s->data, s->len) == 0 &&
	     sip_core_read(&cs->saved_msg, &c) == 0;
	rx.dest = s->to;
	rx.dest_len = s->tolen;
	if (code < 200) {
		if (ok)
			reply(cs, &rx, code, l, false, false);
		return;
	}
	l->saved = NULL;
	leg_act_cancel(l);
	if (ok)
		tg_answer(cs, call, &rx, code);
	xl_io_out_free(&cs->xl->io, s);
}

/* --provisionals: the i-th (from 0) at ring_ms0 + ring * i / K, the final
 * at ring_ms0 + ring: evenly spread, the last gap before the final too. */
static void tg_ring_next(struct xl_calls *cs, struct xl_call *call)
{
	const struct xl_opts *o = &cs->xl->o;
	struct xl_leg *l = &call->leg[XL_TARGET];

	if (call->prov_sent < o->provisionals)
		leg_act_at(cs, l, ACT_PROVISIONAL,
			   call->ring_ms0 + (uint64_t)o->ring_ms * call->prov_sent / o->provisionals);
	else if (call->scen == XL_SUCCESS || call->scen == XL_BUSY)
		leg_act_at(cs, l, ACT_ANSWER, call->ring_ms0 + o->ring_ms);
}

static void tg_save(struct xl_calls *cs, struct xl_leg *l, const struct rx *rx)
{
	struct xl_out *s = xl_io_out(&cs->xl->io);

	if (!s || rx->m->len > sizeof(s->data)) {
		if (s)
			xl_io_out_free(&cs->xl->io, s);
		call_fail(l->call, "target INVITE over %u bytes", (unsigned)sizeof(s->data));
		return;
	}
	memcpy(s->data, rx->m->buf, rx->m->len);
	s->len = (uint16_t)rx->m->len;
	s->to = rx->dest;
	s->tolen = rx->dest_len;
	l->saved = s;
}

static void tg_on_invite(struct xl_calls *cs, struct xl_call *call, const struct rx *rx)
{
	struct xl_leg *l = &call->leg[XL_TARGET];
	struct str want = cs_str(cs->xl->o.refer_number);
	const struct sip_core *c = rx->c;

	if (c->to.tag.n) { /* a re-INVITE of the reconnected call */
		reply(cs, rx, l->state == TG_UP ? 200 : 481, l, l->state == TG_UP, l->state == TG_UP);
		return;
	}
	if (l->state != TG_IDLE) { /* an INVITE for a second transfer: not in our scenarios */
		cs->xl->st.stray++;
		reply(cs, rx, 486, NULL, false, false);
		return;
	}
	call->target_invited = true;
	if (!str_eq(c->ruri.user, want) && !(c->to.has_uri && str_eq(c->to.uri.user, want)))
		call->wrong_number = true;
	if (call->scen == XL_BADREFER || call->reason) {
		tg_answer(cs, call, rx, 486);
		return;
	}
	reply(cs, rx, 180, l, false, false);
	call->prov_sent = 1;
	call->ring_ms0 = now_ms(cs);
	leg_set_state(cs, l, TG_RINGING);
	if (call->scen == XL_EARLYBYE) {
		call->early_bye_pending = true;
		tg_save(cs, l, rx);
		ep_maybe_early_bye(cs, call);
		return;
	}
	if (!cs->xl->o.ring_ms) { /* back to back, in this loop iteration's one submit */
		for (; call->prov_sent < cs->xl->o.provisionals; call->prov_sent++)
			reply(cs, rx, 183, l, false, false);
		if (call->scen != XL_NOANSWER) {
			tg_answer(cs, call, rx, call->scen == XL_SUCCESS ? 200 : 486);
			return;
		}
	}
	/* success and busy answer after --ring; noanswer rings until CANCEL. */
	tg_save(cs, l, rx);
	tg_ring_next(cs, call);
}

static void tg_on_request(struct xl_calls *cs, struct xl_call *call, const struct rx *rx)
{
	struct xl_leg *l = &call->leg[XL_TARGET];

	switch (rx->m->method_id) {
	case SIP_METHOD_INVITE:
		tg_on_invite(cs, call, rx);
		break;
	case SIP_METHOD_ACK:
		if (l->held_kind != HELD_RESPONSE || rx->c->cseq.num != l->held_cseq)
			return;
		leg_release(cs, l);
		if (l->state == TG_ANSWERED) {
			call->target_acked = true;
			leg_set_state(cs, l, TG_UP);
			/* No NOTIFY 200 will say so: the platform took the answer. */
			if (cs->xl->o.no_subscription && !call->reason)
				cs->xl->st.transfers++;
		} else if (l->state == TG_REFUSED) {
			leg_set_state(cs, l, TG_ENDED);
			/* No final NOTIFY will say the transfer failed: this ACK does. */
			if (cs->xl->o.no_subscription &&
			    (call->scen == XL_BUSY || call->scen == XL_NOANSWER)) {
				call->target_refusal_acked = true;
				if (!call->reason)
					ep_hangup_later(cs, call);
			}
		}
		break;
	case SIP_METHOD_CANCEL:
		/* §9.2: 200 to the CANCEL, then 487 to the INVITE if still ringing. */
		reply(cs, rx, 200, l, false, false);
		call->target_cancelled = true;
		if (l->state == TG_RINGING)
			tg_reply_saved(cs, call, 487);
		/* Without NOTIFYs this CANCEL is all that says the platform gave
		 * the transfer up (transfer_timeout): fail now, not at
		 * --call-timeout waiting for a re-INVITE that will not come. */
		if (cs->xl->o.no_subscription && call->scen == XL_SUCCESS && !call->reason) {
			call_fail(call, "target cancelled: the platform gave the transfer up");
			call_teardown(cs, call);
		}
		break;
	case SIP_METHOD_BYE:
		reply(cs, rx, 200, l, false, false);
		if (l->held_kind == HELD_RESPONSE)
			leg_release(cs, l);
		/* A BYE in the dialog: the platform took our 200, its ACK was lost. */
		if (l->state == TG_ANSWERED)
			call->target_acked = true;
		if (l->state == TG_UP || l->state == TG_ANSWERED)
			leg_set_state(cs, l, TG_ENDED);
		break;
	default:
		reply(cs, rx, rx->m->method_id == SIP_METHOD_OPTIONS ? 200 : 405, l, false, false);
		break;
	}
}

/* ---- dispatch ---- */

/* A request seen before on this leg (same CSeq; ACK and CANCEL share their
 * INVITE's and are idempotent here): answer it again, change nothing. */
static bool absorbed(struct xl_calls *cs, struct xl_call *call, const struct rx *rx)
{
	struct xl_leg *l = &call->leg[rx->sock];
	uint32_t n = rx->c->cseq.num, d;
	enum sip_method meth = rx->m->method_id;

	if (meth == SIP_METHOD_ACK || meth == SIP_METHOD_CANCEL)
		return false;
	if (!l->rbase_set) {
		l->rbase_set = true;
		l->rbase = n;
	}
	d = n - l->rbase;
	if (n < l->rbase || d >= RSEEN_BITS)
		return false;
	if (!(l->rseen[d / 64] & (1ull << (d % 64)))) {
		l->rseen[d / 64] |= 1ull << (d % 64);
		return false;
	}
	cs->xl->st.rtx_in++;
	if (meth == SIP_METHOD_INVITE) {
		if (l->held_kind == HELD_RESPONSE && l->held_cseq == n) {
			struct xl_out *o = xl_io_out(&cs->xl->io);

			if (o) {
				memcpy(o, l->held, offsetof(struct xl_out, data) + l->held->len);
				out_queue(cs, o);
			}
		} else if (l->role == XL_TARGET && l->state == TG_RINGING) {
			/* §13.3.1.1: the latest provisional again. */
			reply(cs, rx, call->prov_sent > 1 ? 183 : 180, l, false, false);
			call->prov_repeats++;
		}
		return true;
	}
	reply(cs, rx, meth == SIP_METHOD_BYE || meth == SIP_METHOD_NOTIFY ||
			      meth == SIP_METHOD_OPTIONS || meth == SIP_METHOD_INFO ||
			      meth == SIP_METHOD_UPDATE ? 200 : 405,
	      l, false, false);
	return true;
}

/* A request for no live call: a late retransmission after the call ended,
 * or not ours. BYE gets 200 so that a lost 200 does not keep the platform
 * retransmitting; the rest 481 (ACK nothing). */
static void stray_request(struct xl_calls *cs, const struct rx *rx)
{
	enum sip_method meth = rx->m->method_id;

	cs->xl->st.stray++;
	if (meth == SIP_METHOD_ACK)
		return;
	if (meth == SIP_METHOD_INVITE && !rx->c->to.tag.n) {
		cs->xl->st.unmatched++;
		reply(cs, rx, 404, NULL, false, false);
		return;
	}
	reply(cs, rx, meth == SIP_METHOD_BYE || meth == SIP_METHOD_OPTIONS ? 200 : 481, NULL, false,
	      false);
}

/* A 2xx to an INVITE of a call that ended (our ACKs were lost): every 2xx
 * gets an ACK (§13.2.2.4), or the platform retransmits it for 64*T1 and
 * then hangs up. Built from the response alone: the call is gone. */
static void stray_ack(struct xl_calls *cs, unsigned sock, const union xl_sa *from,
		      socklen_t fromlen, const struct sip_msg *m, const struct sip_core *c)
{
	const struct sip_hdr *ch = sip_msg_hdr_first(m, SIP_HDR_CONTACT);
	struct str ruri = c->to.uri_text, cur, v;
	struct sip_contact ct;
	struct sip_build b;
	struct xl_out *o;
	char tail[24];
	int n;

	if (ch) {
		cur = ch->value;
		if (sip_list_next(&cur, &v) > 0 && sip_contact_read(v, &ct, NULL) == 0 && !ct.star)
			ruri = ct.addr.uri_text;
	}
	o = out_new(cs, &b);
	if (!o)
		return;
	sip_build_request_line(&b, STR("ACK"), ruri);
	sip_build_header_begin(&b, STR("Via"));
	sip_build_raw(&b, cs->s_via[sock]);
	n = snprintf(tail, sizeof(tail), "xlstray.K%x;rport", c->cseq.num);
	sip_build_raw(&b, str_make(tail, (size_t)n));
	sip_build_header_end(&b);
	sip_build_header(&b, STR("Max-Forwards"), STR("70"));
	sip_build_header_copy(&b, m, SIP_HDR_FROM);
	sip_build_header_copy(&b, m, SIP_HDR_TO);
	sip_build_header_copy(&b, m, SIP_HDR_CALL_ID);
	sip_build_header_begin(&b, STR("CSeq"));
	sip_build_uint(&b, c->cseq.num);
	sip_build_raw(&b, STR(" ACK"));
	sip_build_header_end(&b);
	o->sock = (uint8_t)sock;
	memcpy(&o->to, from, fromlen < sizeof(o->to) ? fromlen : sizeof(o->to));
	o->tolen = fromlen;
	if (ch && sip_contact_read(v, &ct, NULL) == 0 && ct.addr.has_uri)
		sa_from_uri(&ct.addr.uri, &o->to, &o->tolen);
	msg_send(cs, o, &b, STR_NULL, STR_NULL, NULL, HELD_NONE, 0, 0);
}

static void on_datagram(struct xl *xl, unsigned sock, const union xl_sa *from,
			socklen_t fromlen, const char *buf, size_t len);

void xl_calls_on_datagram(void *ctx, unsigned sock, const union xl_sa *from, socklen_t fromlen,
			  const char *buf, size_t len, uint64_t rx_ns)
{
	struct xl *xl = ctx;

	/* Seen by the latency samples taken while it is handled; a timer's
	 * handler, outside, finds 0 and takes the loop's time. */
	xl->calls->rx_ns = rx_ns;
	on_datagram(xl, sock, from, fromlen, buf, len);
	xl->calls->rx_ns = 0;
}

static void on_datagram(struct xl *xl, unsigned sock, const union xl_sa *from,
			socklen_t fromlen, const char *buf, size_t len)
{
	struct xl_calls *cs = xl->calls;
	struct sip_core c;
	struct rx rx = { .sock = sock, .m = &cs->rx_msg, .c = &c };
	struct xl_call *call = NULL;

	if (lost(cs)) {
		xl->st.lost_in++;
		return;
	}
	xl->st.msgs_in++;
	if (sip_msg_parse(&cs->rx_msg, buf, len) || sip_core_read(&cs->rx_msg, &c)) {
		xl->st.parse_errors++;
		return;
	}
	if (!cs->rx_msg.is_request) {
		struct str br = c.via.branch;

		if (br.n > 7 && str_casestarts(br, STR("z9hG4bK")))
			call = call_by_id(cs, str_make(br.p + 7, br.n - 7), sock);
		if (!call) {
			xl->st.stray++;
			if (c.cseq.method_id == SIP_METHOD_INVITE && cs->rx_msg.status >= 200 &&
			    cs->rx_msg.status < 300)
				stray_ack(cs, sock, from, fromlen, &cs->rx_msg, &c);
			return;
		}
		if (sock == XL_CALLER)
			caller_on_response(cs, call, &rx);
		else if (sock == XL_ENDPOINT)
			ep_on_response(cs, call, &rx);
		call_check_done(cs, call);
		return;
	}
	rx_set_dest(&rx, from, fromlen);
	if (c.to.tag.n)
		call = call_by_id(cs, c.to.tag, sock);
	else if (sock != XL_CALLER && (cs->rx_msg.method_id == SIP_METHOD_INVITE ||
				       cs->rx_msg.method_id == SIP_METHOD_CANCEL))
		call = call_by_caller_id(cs, &rx);
	if (!call) {
		stray_request(cs, &rx);
		return;
	}
	if (absorbed(cs, call, &rx))
		return;
	if (sock == XL_CALLER)
		caller_on_request(cs, call, &rx);
	else if (sock == XL_ENDPOINT)
		ep_on_request(cs, call, &rx);
	else
		tg_on_request(cs, call, &rx);
	call_check_done(cs, call);
}

/* ---- starting calls ---- */

/* Smooth weighted round robin (nginx's): the mix is followed exactly. */
static enum xl_scenario pick_scenario(struct xl_calls *cs)
{
	const uint32_t *w = cs->xl->o.mix;
	int64_t total = 0;
	int best = -1;

	for (int s = 0; s < XL__SCENARIOS; s++) {
		if (!w[s])
			continue;
		cs->wrr[s] += w[s];
		total += w[s];
		if (best < 0 || cs->wrr[s] > cs->wrr[best])
			best = s;
	}
	cs->wrr[best] -= total;
	return (enum xl_scenario)best;
}

/* Take a free slot for a call of the load (est EST_NONE) or an established
 * one, and send its caller's INVITE. NULL when no slot is free. */
static struct xl_call *call_start(struct xl_calls *cs, enum est_state est)
{
	struct xl *xl = cs->xl;
	struct xl_call *call = cs->free;
	struct xl_leg *a;
	char num[32];
	struct sip_build b;
	struct xl_out *o;
	int n;

	if (!call)
		return NULL;
	cs->free = call->next_free;
	call->gen++;
	call->live = true;
	call->deadline_hit = false;
	call->est = (uint8_t)est;
	call->est_dropped = false;
	/* An established call never REFERs: no scenario, so the mix's round
	 * robin is the load's alone. */
	call->scen = est ? XL_SUCCESS : (uint8_t)pick_scenario(cs);
	call->refer_state = RF_NONE;
	call->reason = 0;
	call->n100 = call->reinvited = call->target_invited = call->target_acked = false;
	call->target_cancelled = call->caller_got_bye = call->wrong_number = false;
	call->early_bye_pending = false;
	call->ep_got_bye = call->reinvite_offer = call->target_refusal_acked = false;
	call->refer_code = call->final_status = call->notifies = 0;
	call->prov_sent = 0;
	call->prov_repeats = call->n18x = call->first18x = 0;
	call->cseq_100 = call->cseq_18x_min = call->cseq_18x_max = call->cseq_final = 0;
	call->refer_cseq = 0;
	call->t0_ns = xl->now_us * 1000u;
	call->refer_ns = 0;
	call->arena_n = 0;
	for (unsigned r = 0; r < XL__ROLES; r++) {
		struct xl_leg *l = &call->leg[r];

		l->state = 0;
		l->act = ACT_NONE;
		l->held_kind = HELD_NONE;
		l->cseq = 0;
		l->rbase_set = false;
		memset(l->rseen, 0, sizeof(l->rseen));
		l->call_id = l->from = l->to = l->ruri = l->routes = STR_NULL;
		id_write(l->tag, r, call->slot, call->gen);
	}
	if (est) {
		cs->est_active++;
		cs->est_pending++;
		if (!xl->st.est.started++)
			xl->st.est.first_start_us = xl->now_us;
	} else {
		cs->active++;
		if (!xl->st.started++)
			xl->st.first_start_us = xl->now_us;
		xl->st.last_start_us = xl->now_us;
		xl->st.scen_started[call->scen]++;
	}
	/* For an established call, until it is up. */
	wheel_timer_start(&xl->wheel, &call->deadline, xl->now_ms + xl->o.call_timeout_ms);

	a = &call->leg[XL_CALLER];
	n = caller_number(num, sizeof(num), call);
	a->call_id = arena_cat(call, (struct str[]){ str_make(a->tag, ID_LEN), STR("."),
						     cs_str(cs->run_id), STR("@xferload") }, 4);
	a->from = arena_cat(call, (struct str[]){ STR("<sip:"), str_make(num, (size_t)n), STR("@"),
						  cs_str(xl->o.local[XL_CALLER].host), STR(">;tag="),
						  str_make(a->tag, ID_LEN) }, 6);
	a->to = cs_str(cs->a_to);
	a->ruri = cs_str(cs->a_ruri);
	a->dest = xl->o.target.sa;
	a->dest_len = xl->o.target.len;
	a->cseq = 1;
	o = req_begin(cs, a, &b, STR("INVITE"), 'I', 1, STR_NULL);
	if (o) {
		sip_build_header(&b, STR("Contact"), cs->s_contact[XL_CALLER]);
		sip_build_header(&b, STR("Allow"), STR("INVITE, ACK, BYE, CANCEL, OPTIONS"));
		o->sent_ns = &call->t0_ns;
	}
	if (!o || !msg_send(cs, o, &b, STR("application/sdp"), cs->s_sdp[XL_CALLER], a,
			    HELD_INVITE, 'I', 1)) {
		call_fail(call, "cannot build the INVITE");
		call_finish(cs, call);
		return call;
	}
	leg_set_state(cs, a, CA_INVITING);
	return call;
}

bool xl_calls_start(struct xl *xl)
{
	struct xl_calls *cs = xl->calls;

	/* The slots are --established + --concurrent: the established calls
	 * that failed leave free slots --concurrent must not use. */
	if (cs->active >= xl->o.concurrent)
		return false;
	return call_start(cs, EST_NONE) != NULL;
}

bool xl_calls_start_established(struct xl *xl)
{
	return call_start(xl->calls, EST_SETUP) != NULL;
}

bool xl_calls_hangup_next(struct xl *xl)
{
	struct xl_calls *cs = xl->calls;

	while (cs->hang_cursor < cs->nslots) {
		struct xl_call *call = &cs->calls[cs->hang_cursor++];
		struct xl_leg *a = &call->leg[XL_CALLER], *e = &call->leg[XL_ENDPOINT];

		if (!call->live || call->est != EST_UP)
			continue;
		call->est = EST_HANGUP;
		if (!xl->st.est.bye_sent++)
			xl->st.est.first_bye_us = xl->now_us;
		/* Timer F gives up on the BYE at 64*T1; this catches an endpoint
		 * the platform never sent its BYE to. */
		wheel_timer_start(&xl->wheel, &call->deadline, xl->now_ms + 64ull * xl->o.t1_ms + 500);
		/* The caller hangs up; half a call the platform dropped, the endpoint. */
		if (a->state == CA_UP)
			leg_send_bye(cs, a);
		else if (e->state == EP_UP)
			leg_send_bye(cs, e);
		call_check_done(cs, call);
		return true;
	}
	return false;
}

unsigned xl_calls_active(const struct xl *xl)
{
	return xl->calls->active;
}

unsigned xl_calls_established_active(const struct xl *xl)
{
	return xl->calls->est_active;
}

unsigned xl_calls_established_pending(const struct xl *xl)
{
	return xl->calls->est_pending;
}

void xl_calls_abort(struct xl *xl)
{
	struct xl_calls *cs = xl->calls;

	for (uint32_t i = 0; i < cs->nslots; i++) {
		struct xl_call *call = &cs->calls[i];

		if (call->live) {
			call_fail(call, "aborted");
			call_finish(cs, call);
		}
	}
}

/* Each role's SDP has its own media port: a re-INVITE's offer shows whose it is. */
#define SDP_PORT(role) (40000u + 2u * (role))

static void sdp_write(char *out, size_t cap, const struct xl_addr *a, unsigned port)
{
	const char *fam = a->ipv6 ? "IP6" : "IP4";

	snprintf(out, cap,
		 "v=0\r\no=xferload 1 1 IN %s %s\r\ns=xferload\r\nc=IN %s %s\r\nt=0 0\r\n"
		 "m=audio %u RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
		 "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n",
		 fam, a->ip, fam, a->ip, port);
}

int xl_calls_init(struct xl *xl)
{
	static const char *const users[XL__ROLES] = { "caller", "agent", "gw" };
	const struct xl_opts *o = &xl->o;
	struct xl_calls *cs = calloc(1, sizeof(*cs));
	const char *plus;

	if (!cs)
		return -ENOMEM;
	/* One slot per call that can be live at once: --established of them
	 * idle through the load, --concurrent for the load's calls. */
	cs->nslots = o->established + o->concurrent;
	cs->calls = calloc(cs->nslots, sizeof(*cs->calls));
	if (!cs->calls) {
		free(cs);
		return -ENOMEM;
	}
	cs->xl = xl;
	xl->calls = cs;
	for (uint32_t i = cs->nslots; i-- > 0;) {
		struct xl_call *call = &cs->calls[i];

		call->cs = cs;
		call->slot = i;
		call->gen = (uint32_t)(xl->run_id >> 8);
		for (unsigned r = 0; r < XL__ROLES; r++) {
			call->leg[r].call = call;
			call->leg[r].role = (uint8_t)r;
			wheel_timer_init(&call->leg[r].rtx, on_rtx);
			wheel_timer_init(&call->leg[r].act_timer, on_act);
		}
		wheel_timer_init(&call->deadline, on_deadline);
		call->next_free = cs->free;
		cs->free = call;
	}
	snprintf(cs->run_id, sizeof(cs->run_id), "%08x", (unsigned)xl->run_id);
	cs->rng = xl->run_id | 1;
	for (unsigned r = 0; r < XL__ROLES; r++) {
		const struct xl_addr *a = &o->local[r];

		snprintf(cs->via[r], sizeof(cs->via[r]), "SIP/2.0/UDP %s;branch=z9hG4bK", a->hostport);
		snprintf(cs->contact[r], sizeof(cs->contact[r]), "<sip:%s@%s>", users[r], a->hostport);
		sdp_write(cs->sdp[r], sizeof(cs->sdp[r]), a, SDP_PORT(r));
		cs->s_via[r] = cs_str(cs->via[r]);
		cs->s_contact[r] = cs_str(cs->contact[r]);
		cs->s_sdp[r] = cs_str(cs->sdp[r]);
	}
	snprintf(cs->target_mline, sizeof(cs->target_mline), "m=audio %u ", SDP_PORT(XL_TARGET));
	snprintf(cs->a_ruri, sizeof(cs->a_ruri), "sip:%s@%s", o->number, o->target.hostport);
	snprintf(cs->a_to, sizeof(cs->a_to), "<sip:%s@%s>", o->number, o->target.host);
	snprintf(cs->refer_to, sizeof(cs->refer_to), "<sip:%s@%s>", o->refer_number, o->refer_domain);
	/* The same number without its '+': not E.164, so a 400 (SPEC.md). */
	plus = o->refer_number[0] == '+' ? o->refer_number + 1 : o->refer_number;
	snprintf(cs->bad_refer_to, sizeof(cs->bad_refer_to), "<sip:%s@%s>", plus, o->refer_domain);
	snprintf(cs->referred_by, sizeof(cs->referred_by), "<sip:agent@%s>",
		 o->local[XL_ENDPOINT].hostport);
	return 0;
}

void xl_calls_free(struct xl *xl)
{
	if (!xl->calls)
		return;
	free(xl->calls->calls);
	free(xl->calls);
	xl->calls = NULL;
}
