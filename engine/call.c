/* call.c: the call of a B2BUA: admission, the B-leg INVITE, relaying
 * responses and in-dialog requests, CANCEL and BYE. RFC 3261 §9, §12-§15. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "call_priv.h"
#include "e164.h"
#include "evlog.h"
#include "log.h"

#define CONTACT_USER "xferd"
#define ALLOW_VALUE "INVITE, ACK, BYE, CANCEL, OPTIONS, REFER, NOTIFY, INFO, UPDATE"

char *call_dup(struct str s)
{
	char *p = malloc(s.n + 1);

	if (p) {
		if (s.n)
			memcpy(p, s.p, s.n);
		p[s.n] = 0;
	}
	return p;
}

#define LEG_NSTR 6

static void leg_strs(struct leg *l, struct str *f[LEG_NSTR])
{
	f[0] = &l->call_id;
	f[1] = &l->remote_tag;
	f[2] = &l->local_uri;
	f[3] = &l->remote_uri;
	f[4] = &l->target;
	f[5] = &l->routes;
}

int leg_str_set(struct leg *l, struct str *dst, struct str s)
{
	struct str *f[LEG_NSTR];
	size_t len = s.n + 1;
	struct sip_build b;
	char *blk, *p;

	leg_strs(l, f);
	for (unsigned i = 0; i < LEG_NSTR; i++)
		if (f[i] != dst && f[i]->p)
			len += f[i]->n + 1;
	if (!(p = blk = malloc(len))) {
		*dst = STR_NULL;
		return -ENOMEM;
	}
	for (unsigned i = 0; i < LEG_NSTR; i++) {
		if (f[i] == dst || !f[i]->p)
			continue;
		memcpy(p, f[i]->p, f[i]->n);
		p[f[i]->n] = 0;
		*f[i] = str_make(p, f[i]->n);
		p += f[i]->n + 1;
	}
	/* Folded lines become spaces once here (never longer), so every
	 * request of the dialog copies the value as it is. s is read before
	 * the old block goes: it may lie in it. */
	sip_build_init(&b, p, s.n + 1);
	sip_build_value(&b, s);
	p[b.n] = 0;
	*dst = str_make(p, b.n);
	free(l->strs);
	l->strs = blk;
	return 0;
}

char *call_dup_mem(const char *buf, size_t len)
{
	char *p = malloc(len ? len : 1);

	if (p && len)
		memcpy(p, buf, len);
	return p;
}

static int peer_ipv4(struct peer *p, const char *host, uint16_t port)
{
	struct sockaddr_in *in = &p->addr.in;

	in->sin_family = AF_INET;
	in->sin_port = htons(port);
	p->addr_len = sizeof(*in);
	return inet_pton(AF_INET, host, &in->sin_addr) == 1 ? 0 : -EINVAL;
}

static int peer_ipv6(struct peer *p, const char *host, uint16_t port)
{
	struct sockaddr_in6 *in6 = &p->addr.in6;

	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons(port);
	p->addr_len = sizeof(*in6);
	return inet_pton(AF_INET6, host, &in6->sin6_addr) == 1 ? 0 : -EINVAL;
}

/* xferd does no DNS, so the host must be an IP literal; 5060 when no port
 * is given; ;transport=tcp selects TCP. */
int call_peer_from_uri(struct worker *w, struct str text, struct peer *p)
{
	struct sip_uri u;
	struct str transport;
	char host[64];
	uint16_t port;
	int r;

	if (sip_uri_parse(text, &u, NULL) || u.host.n >= sizeof(host))
		return -EINVAL;
	memcpy(host, u.host.p, u.host.n);
	host[u.host.n] = 0;
	port = u.has_port ? u.port : 5060;
	memset(p, 0, sizeof(*p));
	p->fd = w->own.fd;
	p->reliable = sip_uri_param(&u, STR("transport"), &transport) &&
		      str_caseeq(transport, STR("tcp"));
	if (u.host_type == SIP_HOST_IPV4)
		r = peer_ipv4(p, host, port);
	else if (u.host_type == SIP_HOST_IPV6)
		r = peer_ipv6(p, host, port);
	else
		return -EHOSTUNREACH;
	if (r)
		return r;
	/* The worker's socket must be of the peer's family. */
	if (p->addr.sa.sa_family != w->cfg->engine.listen.sa.ss_family)
		return -EAFNOSUPPORT;
	worker_peer_connect(w, p);
	return 0;
}

/* A leg's next hop: its first route, or its remote target (§12.2.1.1);
 * if neither is an IP literal, the address its requests came from. */
void leg_set_peer(struct worker *w, struct leg *l, const struct peer *fallback)
{
	struct str hop = l->target;
	struct sip_addr first;
	struct peer p;

	if (l->routes.n && sip_addr_read(l->routes, &first, NULL) == 0)
		hop = first.uri_text;
	if (call_peer_from_uri(w, hop, &p) == 0)
		l->peer = p;
	else if (fallback)
		l->peer = *fallback;
}

void leg_link(struct worker *w, struct leg *l)
{
	uint32_t h = hmap_hash(l->call_id, HMAP_SEED);

	if (l->linked)
		return;
	hmap_insert(&w->dialogs, &l->node, hmap_hash(leg_local_tag(l), h));
	l->linked = true;
}

void leg_unlink(struct worker *w, struct leg *l)
{
	if (l->linked)
		hmap_remove(&w->dialogs, &l->node);
	l->linked = false;
}

struct leg *call_leg_find(struct worker *w, const struct sip_core *c)
{
	uint32_t h = hmap_hash(c->to.tag, hmap_hash(c->call_id, HMAP_SEED));

	for (struct hmap_node *n = hmap_first(&w->dialogs, h); n; n = hmap_next(n)) {
		struct leg *l = (struct leg *)((char *)n - offsetof(struct leg, node));

		if (str_eq(leg_local_tag(l), c->to.tag) && str_eq(l->call_id, c->call_id))
			return l;
	}
	return NULL;
}

void leg_invite_done(struct leg *l)
{
	l->inv = NULL;
}

void leg_free(struct leg *l)
{
	struct str *f[LEG_NSTR];

	leg_strs(l, f);
	for (unsigned i = 0; i < LEG_NSTR; i++)
		*f[i] = STR_NULL;
	free(l->strs);
	l->strs = NULL;
	free(l->ack);
	l->ack = NULL;
}

static void call_free(struct call *call)
{
	struct worker *w = call->w;

	if (call->prev)
		call->prev->next = call->next;
	else
		w->calls = call->next;
	if (call->next)
		call->next->prev = call->prev;
	transfer_free(call);
	leg_free(&call->a);
	leg_free(&call->b);
	leg_free(&call->c);
	free(call->a_invite);
	stats_dec(&w->st.calls_live);
	free(call);
}

/* A call waiting in worker->reap is freed there, not under the stack. */
static void call_unref(struct call *call)
{
	if (--call->refs == 0 && !call->queued)
		call_free(call);
}

static void call_reap_later(struct call *call)
{
	if (call->queued)
		return;
	call->queued = true;
	call->reap_next = call->w->reap;
	call->w->reap = call;
}

static void leg_bye_send(struct leg *l);

static void call_txn_unlink(struct call *call, struct rtxn *x)
{
	if (x->call_prev)
		x->call_prev->call_next = x->call_next;
	else
		call->txns = x->call_next;
	if (x->call_next)
		x->call_next->call_prev = x->call_prev;
	x->call_prev = x->call_next = NULL;
}

void call_txn_released(struct leg *leg, struct rtxn *x)
{
	call_txn_unlink(leg->call, x);
	if (leg->inv == x) {
		leg_invite_done(leg);
		if (leg->bye_pending) /* Timer L: no ACK is coming */
			leg_bye_send(leg);
	}
	call_unref(leg->call);
}

void call_attach(struct leg *leg, struct rtxn *x)
{
	struct call *call = leg->call;

	x->leg = leg;
	x->cseq = leg->local_cseq;
	x->call_prev = NULL;
	x->call_next = call->txns;
	if (call->txns)
		call->txns->call_prev = x;
	call->txns = x;
	call->refs++;
}

/* x, settled, lingers on without its call. */
/* x leaves its call to linger alone, with ack (taken) to resend for each
 * retransmitted 2xx, sent to p. */
static void call_txn_leave(struct call *call, struct rtxn *x, char *ack, size_t ack_len,
			   const struct peer *p)
{
	call_txn_unlink(call, x);
	if (x->leg->inv == x)
		leg_invite_done(x->leg);
	router_txn_orphan(x, ack, ack_len, p);
	call->refs--;
}

static void call_txn_orphan(struct call *call, struct rtxn *x)
{
	struct leg *l = x->leg;
	bool acked = !x->server && x->method == SIP_METHOD_INVITE && l->ack &&
		     l->ack_cseq == x->cseq;

	call_txn_leave(call, x, acked ? l->ack : NULL, l->ack_len, &l->peer);
	if (acked)
		l->ack = NULL;
}

void call_orphan_txns(struct call *call, const struct leg *only)
{
	struct rtxn *x = call->txns, *next;

	for (; x; x = next) {
		next = x->call_next;
		if (txn_settled(&x->t) && (!only || x->leg == only))
			call_txn_orphan(call, x);
	}
}

void call_reap(struct worker *w)
{
	while (w->reap) {
		struct call *call = w->reap;

		w->reap = call->reap_next;
		call->queued = false;
		call_orphan_txns(call, NULL);
		if (!call->reaped) { /* the reference held until it ended */
			call->reaped = true;
			call->refs--;
		}
		if (call->refs == 0)
			call_free(call);
	}
}

void call_txn_answered(struct leg *leg, struct rtxn *x)
{
	/* A non-INVITE request we sent needs nothing of its call once
	 * answered: it leaves now, not in the walk at the call's end. */
	if (!x->server && x->method != SIP_METHOD_INVITE && txn_settled(&x->t))
		call_txn_orphan(leg->call, x);
	if (leg->call->state == CALL_DONE)
		call_reap_later(leg->call);
}

/* The call stops counting as active; call_reap() frees it once the stack
 * has unwound, leaving its quiet transactions to linger alone. */
static void call_end(struct call *call, const char *why)
{
	struct worker *w = call->w;

	if (call->state == CALL_DONE)
		return;
	log_debug("worker %u: call %s ended: %s", w->id, call->a.call_id.p, why);
	call->state = CALL_DONE;
	stats_inc(&w->st.calls[call->outcome]);
	evlog_call(w, &(struct evlog_call){
		.a_call_id = call->a.call_id.p, .b_call_id = call->b.call_id.p,
		.c_call_id = call->refers ? call->c.call_id.p : NULL, .trunk = call->trunk->name,
		.caller_uri = call->b.local_uri.p, .callee_uri = call->a.local_uri.p,
		.outcome = stats_call_outcome_name(call->outcome),
		.duration_us = w->now_us - call->started_us, .transfers = call->refers });
	leg_unlink(w, &call->a);
	leg_unlink(w, &call->b);
	leg_unlink(w, &call->c);
	stats_dec(&w->st.calls_active);
	call_reap_later(call);
}

/* Up, or hung up with its BYE still held for an ACK: the dialog must
 * stay in the table for that ACK to find it. */
static bool leg_live(const struct leg *l)
{
	return l->up || l->bye_pending;
}

void call_maybe_end(struct call *call, const char *why)
{
	if (call->state == CALL_INVITING)
		return;
	if (!leg_live(&call->a) && !leg_live(&call->b) && !leg_live(&call->c) && !call->b.inv &&
	    !call->c.inv)
		call_end(call, why);
}

static struct leg *other_leg(struct leg *l)
{
	return l->id == LEG_A ? l->call->a_peer : &l->call->a;
}

static void build_via(struct sip_build *b, struct worker *w, struct str branch, bool tcp)
{
	sip_build_header_begin(b, STR("Via"));
	sip_build_raw(b, tcp ? STR("SIP/2.0/TCP ") : STR("SIP/2.0/UDP "));
	sip_build_raw(b, w->via);
	sip_build_raw(b, STR(";branch="));
	sip_build_raw(b, branch);
	sip_build_raw(b, STR(";rport"));
	sip_build_header_end(b);
}

static void build_contact(struct sip_build *b, struct worker *w)
{
	sip_build_header_begin(b, STR("Contact"));
	sip_build_raw(b, STR("<sip:" CONTACT_USER "@"));
	sip_build_raw(b, w->via);
	sip_build_raw(b, STR(">"));
	sip_build_header_end(b);
}

/* A header whose value needs no cleaning: a leg's string (leg_str_set). */
static void build_header_clean(struct sip_build *b, struct str name, struct str value)
{
	sip_build_header_begin(b, name);
	sip_build_raw(b, value);
	sip_build_header_end(b);
}

/* Start line and dialog headers of a request on leg l (§12.2.1.1). */
static void leg_build_request(struct sip_build *b, struct leg *l, struct str method,
			      uint32_t cseq, struct str branch, uint32_t max_forwards)
{
	struct worker *w = l->call->w;

	sip_build_request_line(b, method, l->target);
	build_via(b, w, branch, l->peer.reliable);
	sip_build_header_uint(b, STR("Max-Forwards"), max_forwards);
	sip_build_header_begin(b, STR("From"));
	sip_build_raw(b, l->local_uri);
	sip_build_raw(b, STR(";tag="));
	sip_build_raw(b, leg_local_tag(l));
	sip_build_header_end(b);
	build_header_clean(b, STR("To"), l->remote_uri);
	build_header_clean(b, STR("Call-ID"), l->call_id);
	sip_build_header_begin(b, STR("CSeq"));
	sip_build_uint(b, cseq);
	sip_build_raw(b, STR(" "));
	sip_build_raw(b, method);
	sip_build_header_end(b);
	if (l->routes.n)
		build_header_clean(b, STR("Route"), l->routes);
}

static bool refreshes_target(enum sip_method m)
{
	return m == SIP_METHOD_INVITE || m == SIP_METHOD_UPDATE || m == SIP_METHOD_REFER ||
	       m == SIP_METHOD_NOTIFY || m == SIP_METHOD_SUBSCRIBE;
}

struct rtxn *leg_request(struct leg *l, enum sip_method method, struct str extra,
			 struct str ctype, struct str body,
			 void (*on_response)(struct rtxn *, const struct sip_msg *,
					     const struct sip_core *),
			 void (*on_timeout)(struct rtxn *, unsigned))
{
	static _Thread_local char buf[CALL_MSG_MAX];
	struct worker *w = l->call->w;
	char branch[IDS_BRANCH_LEN];
	struct str br = ids_branch(&w->ids, branch);
	struct sip_build b;
	struct rtxn *x;
	int n;

	sip_build_init(&b, buf, sizeof(buf));
	leg_build_request(&b, l, sip_method_name(method), ++l->local_cseq, br, 70);
	if (refreshes_target(method))
		build_contact(&b, w);
	sip_build_raw(&b, extra);
	n = sip_build_finish(&b, body.n ? ctype : STR_NULL, body);
	if (n < 0)
		return NULL;
	x = router_client_start(w, l, &l->peer, method, br, buf, (size_t)n);
	if (!x)
		return NULL;
	call_attach(l, x);
	x->on_response = on_response;
	x->on_timeout = on_timeout;
	return x;
}

/* ACK for a 2xx is a new, transaction-less request (§13.2.2.4). */
void leg_ack(struct leg *l, uint32_t cseq, struct str ctype, struct str body)
{
	static _Thread_local char buf[CALL_MSG_MAX];
	struct worker *w = l->call->w;
	char branch[IDS_BRANCH_LEN];
	struct sip_build b;
	int n;

	/* §13.2.2.4: a retransmitted 2xx gets the same ACK again. */
	if (l->ack && l->ack_cseq == cseq) {
		worker_send(w, &l->peer, l->ack, l->ack_len);
		return;
	}
	sip_build_init(&b, buf, sizeof(buf));
	leg_build_request(&b, l, STR("ACK"), cseq, ids_branch(&w->ids, branch), 70);
	n = sip_build_finish(&b, body.n ? ctype : STR_NULL, body);
	if (n <= 0)
		return;
	worker_send(w, &l->peer, buf, (size_t)n);
	free(l->ack);
	l->ack = call_dup_mem(buf, (size_t)n);
	l->ack_len = l->ack ? (size_t)n : 0;
	l->ack_cseq = cseq;
}

int leg_routes_set(struct leg *l, const struct sip_msg *m, bool reverse)
{
	const struct sip_hdr *h = NULL;
	struct str cur = STR_NULL, v, vals[32];
	unsigned n = 0;
	size_t len = 0;
	char *out, *p;
	int r;

	l->routes = STR_NULL;
	while (n < 32 && sip_msg_list_next(m, SIP_HDR_RECORD_ROUTE, &h, &cur, &v) > 0) {
		vals[n++] = v;
		len += v.n + 2;
	}
	if (!n)
		return 0;
	if (!(out = malloc(len + 1)))
		return -ENOMEM;
	p = out;
	for (unsigned i = 0; i < n; i++) {
		struct str s = vals[reverse ? n - 1 - i : i];

		if (i) {
			memcpy(p, ", ", 2);
			p += 2;
		}
		memcpy(p, s.p, s.n);
		p += s.n;
	}
	r = leg_str_set(l, &l->routes, str_make(out, (size_t)(p - out)));
	free(out);
	return r;
}

struct str call_first_contact(const struct sip_msg *m)
{
	const struct sip_hdr *h = NULL;
	struct str cur = STR_NULL, v;
	struct sip_contact c;

	if (sip_msg_list_next(m, SIP_HDR_CONTACT, &h, &cur, &v) <= 0 ||
	    sip_contact_read(v, &c, NULL) || c.star)
		return STR_NULL;
	return c.addr.uri_text;
}

void call_reply_saved(struct rtxn *x, const char *req, size_t req_len, unsigned status,
		      struct str reason, struct str to_tag, struct str extra,
		      const struct sip_msg *body_of)
{
	static _Thread_local struct sip_msg m;
	static _Thread_local char buf[CALL_MSG_MAX];
	struct str body = STR_NULL, ctype = STR_NULL;
	char host[INET6_ADDRSTRLEN];
	struct sip_src src;
	struct sip_core c;
	struct sip_build b;
	int n;

	if (!x || !req || sip_msg_parse(&m, req, req_len) || sip_core_read(&m, &c))
		return;
	if (body_of && body_of->body.n) {
		const struct sip_hdr *ct = sip_msg_hdr_first(body_of, SIP_HDR_CONTENT_TYPE);

		body = body_of->body;
		ctype = ct ? ct->value : STR("application/sdp");
	}
	sip_build_init(&b, buf, sizeof(buf));
	sip_build_response(&b, &m, &c, status, reason, status > 100 ? to_tag : STR_NULL,
			   router_src(&x->peer, &src, host));
	if (status > 100 && status < 300 && refreshes_target(m.method_id))
		build_contact(&b, x->w);
	sip_build_raw(&b, extra);
	n = sip_build_finish(&b, ctype, body);
	if (n > 0)
		router_respond(x, buf, (size_t)n, status);
}

/* A response to the caller's INVITE (§8.2.6). */
static void reply_a(struct call *call, unsigned status, struct str reason,
		    const struct sip_msg *body_of)
{
	if (!call->a_invite)
		return;
	call_reply_saved(call->a.inv, call->a_invite, call->a_invite_len, status, reason,
			 leg_local_tag(&call->a), STR_NULL, body_of);
	/* The transaction retransmits the final response itself; an
	 * established call should not carry the caller's INVITE around. */
	if (status >= 200) {
		free(call->a_invite);
		call->a_invite = NULL;
		call->a_invite_len = 0;
	}
}

/* The status for a request whose next hop never answered (Timer B or F:
 * 408) or could not be reached (a transport error, which §8.1.3.1 reads
 * as a 503). That 503 is not passed on: upstream it would say xferd itself
 * is unavailable (§16.7 step 6); 502 is "destination out of order" (RFC
 * 3398, cause 27). */
static unsigned unreached_status(unsigned status, struct str *reason)
{
	if (status == 408) {
		*reason = STR("Request Timeout");
		return 408;
	}
	*reason = STR("Bad Gateway");
	return 502;
}

/* The CANCEL of client INVITE inv, on leg l (§9.1): a copy of the
 * Request-URI, Call-ID, From, To, CSeq number, top Via and Route of the
 * INVITE, which the transaction holds until its final response. */
static void invite_cancel(struct leg *l, struct rtxn *inv)
{
	static _Thread_local struct sip_msg m;
	char buf[4096];
	struct sip_core c;
	struct sip_build b;
	struct rtxn *x;
	int n;

	if (!inv->t.msg || sip_msg_parse(&m, inv->t.msg, inv->t.msg_len) || sip_core_read(&m, &c))
		return;
	sip_build_init(&b, buf, sizeof(buf));
	sip_build_request_line(&b, STR("CANCEL"), m.ruri);
	sip_build_header_copy(&b, &m, SIP_HDR_VIA);
	sip_build_header(&b, STR("Max-Forwards"), STR("70"));
	sip_build_header_copy(&b, &m, SIP_HDR_FROM);
	sip_build_header_copy(&b, &m, SIP_HDR_TO);
	sip_build_header_copy(&b, &m, SIP_HDR_CALL_ID);
	sip_build_header_begin(&b, STR("CSeq"));
	sip_build_uint(&b, c.cseq.num);
	sip_build_raw(&b, STR(" CANCEL"));
	sip_build_header_end(&b);
	sip_build_header_copy(&b, &m, SIP_HDR_ROUTE);
	n = sip_build_finish(&b, STR_NULL, STR_NULL);
	if (n < 0)
		return;
	x = router_client_start(l->call->w, l, &inv->peer, SIP_METHOD_CANCEL, c.via.branch, buf,
				(size_t)n);
	if (x)
		call_attach(l, x);
}

void leg_cancel(struct leg *l)
{
	if (!l->inv || l->up || l->inv->t.state >= TXN_COMPLETED)
		return;
	if (!l->got_provisional) { /* §9.1: not before a provisional */
		l->cancel_pending = true;
		return;
	}
	invite_cancel(l, l->inv);
}

/* The 2xx's dialog, on a leg of the moment that is never linked: From
 * (ours), To, Call-ID, CSeq, Contact and Record-Route say all of it. */
static int leg_from_2xx(struct leg *g, const struct rtxn *inv, const struct sip_msg *m,
			const struct sip_core *c)
{
	const struct sip_hdr *to = sip_msg_hdr_first(m, SIP_HDR_TO);
	struct str target = call_first_contact(m);
	char from[1024];
	int n;

	if (c->from.tag.n != IDS_TAG_LEN || !c->to.tag.n || !target.n || !to)
		return -EINVAL;
	n = snprintf(from, sizeof(from), "<%.*s>", STR_FMT(c->from.uri_text));
	if (n < 0 || (size_t)n >= sizeof(from))
		return -EINVAL;
	memcpy(g->local_tag, c->from.tag.p, IDS_TAG_LEN);
	g->local_cseq = inv->cseq;
	g->peer = inv->peer;
	if (leg_str_set(g, &g->call_id, c->call_id) ||
	    leg_str_set(g, &g->local_uri, str_make(from, (size_t)n)) ||
	    leg_str_set(g, &g->remote_uri, to->value) || leg_str_set(g, &g->remote_tag, c->to.tag) ||
	    leg_str_set(g, &g->target, target) || leg_routes_set(g, m, true))
		return -ENOMEM;
	leg_set_peer(g->call->w, g, &inv->peer);
	return 0;
}

void leg_end_earlier(struct leg *l, struct rtxn *inv, const struct sip_msg *m,
		     const struct sip_core *c)
{
	static _Thread_local char buf[CALL_MSG_MAX];
	struct call *call = l->call;
	struct worker *w = call->w;
	struct leg g = { .id = l->id, .call = call };
	char branch[IDS_BRANCH_LEN];
	struct str br;
	struct sip_build b;
	char *ack = NULL;
	int n;

	if (leg_from_2xx(&g, inv, m, c)) {
		log_warn("worker %u: a 2xx from an earlier target (Call-ID %.*s) cannot be "
			 "ACKed: its dialog will time out on its side", w->id, STR_FMT(c->call_id));
		goto out;
	}
	sip_build_init(&b, buf, sizeof(buf));
	leg_build_request(&b, &g, STR("ACK"), inv->cseq, ids_branch(&w->ids, branch), 70);
	n = sip_build_finish(&b, STR_NULL, STR_NULL);
	if (n < 0 || !(ack = call_dup_mem(buf, (size_t)n)))
		goto out;
	worker_send(w, &g.peer, ack, (size_t)n);
	call_txn_leave(call, inv, ack, (size_t)n, &g.peer);
	if (call->state == CALL_DONE)
		call_reap_later(call);
	sip_build_init(&b, buf, sizeof(buf));
	br = ids_branch(&w->ids, branch);
	leg_build_request(&b, &g, STR("BYE"), inv->cseq + 1, br, 70);
	n = sip_build_finish(&b, STR_NULL, STR_NULL);
	if (n < 0 || !router_client_start(w, NULL, &g.peer, SIP_METHOD_BYE, br, buf, (size_t)n))
		log_warn("worker %u: no BYE for an earlier target's dialog (Call-ID %.*s)", w->id,
			 STR_FMT(c->call_id));
	log_info("worker %u: an earlier target answered late: ACK and BYE (Call-ID %.*s)", w->id,
		 STR_FMT(c->call_id));
out:
	leg_free(&g);
}

/* The INVITE we CANCELled: its 487 concerns nobody now, but a 2xx that
 * crossed the CANCEL made a dialog that must end. */
static void on_cancelled_invite_response(struct rtxn *x, const struct sip_msg *m,
					 const struct sip_core *c)
{
	if (m->status >= 200 && m->status < 300)
		leg_end_earlier(x->leg, x, m, c);
}

void leg_cancel_earlier(struct leg *l, struct rtxn *inv)
{
	if (inv->t.state != TXN_PROCEEDING)
		return;
	invite_cancel(l, inv);
	inv->on_response = on_cancelled_invite_response;
}

/* The dialog ends when our BYE is answered (§15.1.1); until then a BYE
 * crossing ours still finds it. */
static void on_bye_response(struct rtxn *x, const struct sip_msg *m, const struct sip_core *c)
{
	(void)c;
	if (m->status < 200)
		return;
	/* up again: the C leg was reused by a newer transfer meanwhile. */
	if (!x->leg->up)
		leg_unlink(x->w, x->leg);
	call_maybe_end(x->leg->call, "BYE answered");
}

static void on_bye_timeout(struct rtxn *x, unsigned status)
{
	(void)status;
	if (!x->leg->up)
		leg_unlink(x->w, x->leg);
	call_maybe_end(x->leg->call, "BYE timed out");
}

bool leg_unacked(const struct leg *l)
{
	const struct rtxn *inv = l->inv;

	return inv && inv->server && inv->t.state == TXN_ACCEPTED && !inv->t.got_ack;
}

static void leg_bye_send(struct leg *l)
{
	struct call *call = l->call;

	l->bye_pending = false;
	if (!leg_request(l, SIP_METHOD_BYE, STR_NULL, STR_NULL, STR_NULL, on_bye_response,
			 on_bye_timeout)) {
		leg_unlink(call->w, l);
		call_maybe_end(call, "cannot send BYE");
	}
}

void leg_bye(struct leg *l)
{
	struct call *call = l->call;

	if (!l->up)
		return;
	l->up = false;
	if (call->state == CALL_ANSWERED && !call->a.up)
		call->state = CALL_ENDING;
	/* §15: not before the ACK of our 2xx, or the end of its transaction. */
	if (leg_unacked(l))
		l->bye_pending = true;
	else
		leg_bye_send(l);
}

int leg_confirm(struct leg *l, const struct sip_msg *m, const struct sip_core *c)
{
	struct str target = call_first_contact(m);
	const struct sip_hdr *to = sip_msg_hdr_first(m, SIP_HDR_TO);

	if (leg_str_set(l, &l->remote_uri, to->value) || leg_str_set(l, &l->remote_tag, c->to.tag) ||
	    (target.n && leg_str_set(l, &l->target, target)) || leg_routes_set(l, m, true))
		return -ENOMEM;
	leg_set_peer(l->call->w, l, &l->peer);
	leg_link(l->call->w, l);
	l->up = true;
	return 0;
}

static void on_b_invite_response(struct rtxn *x, const struct sip_msg *m,
				 const struct sip_core *c)
{
	struct call *call = x->leg->call;
	struct leg *b = &call->b;

	if (m->status < 200) {
		b->got_provisional = true;
		if (b->cancel_pending) {
			b->cancel_pending = false;
			leg_cancel(b);
		} else if (m->status > 100 && call->state == CALL_INVITING) {
			reply_a(call, m->status, m->reason, m);
		}
		return;
	}
	if (m->status >= 300) {
		if (call->state == CALL_INVITING)
			reply_a(call, m->status, m->reason, NULL);
		leg_invite_done(b);
		call_end(call, "B leg failed");
		return;
	}
	if (b->remote_tag.p) { /* a retransmitted 2xx: ACK it again */
		leg_ack(b, c->cseq.num, STR_NULL, STR_NULL);
		return;
	}
	leg_invite_done(b);
	if (leg_confirm(b, m, c)) {
		call_end(call, "out of memory");
		return;
	}
	leg_ack(b, c->cseq.num, STR_NULL, STR_NULL);
	if (call->state != CALL_INVITING) { /* cancelled meanwhile: hang up B */
		leg_bye(b);
		return;
	}
	call->state = CALL_ANSWERED;
	call->outcome = STATS_CALL_COMPLETED;
	call->a.up = true;
	reply_a(call, m->status, m->reason, m);
}

static void on_b_invite_timeout(struct rtxn *x, unsigned status)
{
	struct call *call = x->leg->call;
	struct str reason;

	leg_invite_done(&call->b);
	status = unreached_status(status, &reason);
	if (call->state == CALL_INVITING)
		reply_a(call, status, reason, NULL);
	call_end(call, status == 408 ? "B leg timed out" : "B leg unreachable");
}

void call_on_cancel(struct rtxn *inv)
{
	struct call *call = inv->leg->call;

	if (call->state != CALL_INVITING)
		return;
	reply_a(call, 487, STR("Request Terminated"), NULL);
	call->state = CALL_ENDING;
	call->outcome = STATS_CALL_CANCELLED;
	leg_cancel(&call->b);
}

/* The caller's number: P-Asserted-Identity's user if present, else From's. */
static struct str caller_number(const struct sip_msg *m, const struct sip_core *c)
{
	const struct sip_hdr *pai = sip_msg_hdr_first(m, SIP_HDR_P_ASSERTED_IDENTITY);
	struct str cur, v;
	struct sip_addr a;

	if (pai) {
		cur = pai->value;
		while (sip_list_next(&cur, &v) > 0) {
			if (sip_addr_read(v, &a, NULL) == 0 && a.has_uri && a.uri.user.n)
				return a.uri.user;
		}
	}
	return c->from.has_uri ? c->from.uri.user : STR_NULL;
}

/* Timer H or L (408), or a final that could not reach the caller (503):
 * the caller never ACKed our final response. After a 2xx the dialog
 * exists and must be ended with BYE (RFC 3261 §13.3.1.4), on both legs. */
static void on_a_no_ack(struct rtxn *x, unsigned status)
{
	struct call *call = x->leg->call;
	const char *why = status == 408 ? "no ACK" : "caller unreachable";

	if (!call->a.up)
		return;
	log_info("worker %u: call %s: %s, hanging up", call->w->id, call->a.call_id.p, why);
	leg_bye(&call->a);
	if (!transfer_on_bye(call, &call->a))
		leg_bye(call->a_peer);
	call_maybe_end(call, why);
}

static int a_leg_init(struct call *call, struct rtxn *x, const struct sip_msg *m,
		      const struct sip_core *c)
{
	struct leg *a = &call->a;
	struct str target = call_first_contact(m);

	a->id = LEG_A;
	a->call = call;
	ids_tag(&call->w->ids, a->local_tag);
	a->remote_cseq = c->cseq.num;
	a->local_cseq = 0;
	call->a_invite = call_dup_mem(m->buf, m->len);
	call->a_invite_len = m->len;
	if (leg_str_set(a, &a->call_id, c->call_id) || leg_str_set(a, &a->remote_tag, c->from.tag) ||
	    leg_str_set(a, &a->local_uri, sip_msg_hdr_first(m, SIP_HDR_TO)->value) ||
	    leg_str_set(a, &a->remote_uri, sip_msg_hdr_first(m, SIP_HDR_FROM)->value) ||
	    leg_str_set(a, &a->target, target.n ? target : c->from.uri_text) ||
	    leg_routes_set(a, m, false) || !call->a_invite)
		return -ENOMEM;
	leg_set_peer(call->w, a, &x->peer);
	a->inv = x;
	call_attach(a, x);
	x->on_timeout = on_a_no_ack;
	leg_link(call->w, a);
	return 0;
}

/* The legs xferd calls (B, and C for a transfer) present the caller's number
 * as From (caller ID preserved) and start with a fresh Call-ID. */
static int b_leg_init(struct call *call, const struct sip_msg *m, const struct sip_core *c)
{
	struct leg *b = &call->b;
	struct worker *w = call->w;
	struct str caller = caller_number(m, c);
	char uri[256], id[IDS_CALL_ID_LEN];

	b->id = LEG_B;
	b->call = call;
	ids_tag(&w->ids, b->local_tag);
	if (leg_str_set(b, &b->call_id, ids_call_id(&w->ids, id)))
		return -ENOMEM;
	snprintf(uri, sizeof(uri), "<sip:%.*s@%s>", (int)(caller.n < 64 ? caller.n : 64),
		 caller.p ? caller.p : "", w->cfg->engine.advertise.host);
	if (leg_str_set(b, &b->local_uri, cstr(uri)))
		return -ENOMEM;
	snprintf(uri, sizeof(uri), "<%s>", call->trunk->uri.text);
	if (leg_str_set(b, &b->remote_uri, cstr(uri)) ||
	    leg_str_set(b, &b->target, cstr(call->trunk->uri.text)))
		return -ENOMEM;
	return call_peer_from_uri(w, b->target, &b->peer);
}

/* The INVITE to the endpoint: the caller's SDP offer unchanged (SPEC). */
static int b_send_invite(struct call *call, const struct sip_msg *m, const struct sip_core *c)
{
	static _Thread_local char buf[CALL_MSG_MAX];
	struct leg *b = &call->b;
	const struct sip_hdr *ct = sip_msg_hdr_first(m, SIP_HDR_CONTENT_TYPE);
	char branch[IDS_BRANCH_LEN];
	struct str br = ids_branch(&call->w->ids, branch);
	struct sip_build sb;
	struct rtxn *x;
	int n;

	sip_build_init(&sb, buf, sizeof(buf));
	leg_build_request(&sb, b, STR("INVITE"), ++b->local_cseq, br,
			  c->has_max_forwards ? c->max_forwards - 1 : 70);
	build_contact(&sb, call->w);
	sip_build_header_copy(&sb, m, SIP_HDR_P_ASSERTED_IDENTITY);
	sip_build_header(&sb, STR("Allow"), STR(ALLOW_VALUE));
	n = sip_build_finish(&sb, ct ? ct->value : STR("application/sdp"), m->body);
	if (n < 0)
		return n;
	x = router_client_start(call->w, b, &b->peer, SIP_METHOD_INVITE, br, buf, (size_t)n);
	if (!x)
		return -ENOMEM;
	call_attach(b, x);
	x->on_response = on_b_invite_response;
	x->on_timeout = on_b_invite_timeout;
	b->inv = x;
	return 0;
}

/* §8.2.2.3: xferd supports no extension a caller could require. */
static bool reject_require(struct worker *w, struct rtxn *x, const struct sip_msg *m,
			   const struct sip_core *c)
{
	const struct sip_hdr *h = sip_msg_hdr_first(m, SIP_HDR_REQUIRE);
	char extra[512];
	struct sip_build b;

	if (!h)
		return false;
	sip_build_init(&b, extra, sizeof(extra));
	sip_build_header(&b, STR("Unsupported"), str_make(h->value.p, h->value.n < 400 ? h->value.n : 400));
	router_reply(w, x, &x->peer, m, c, 420, "Bad Extension", str_make(extra, b.n));
	return true;
}

/* SPEC "The inbound call" 1: 403, 483, 420, 503 (draining), 404, 503 (full). */
static const struct config_trunk *admit(struct worker *w, struct rtxn *x, const struct sip_msg *m,
					const struct sip_core *c)
{
	const struct config_trunk *t;

	if (!config_trusted(w->cfg, (const struct sockaddr *)&x->peer.addr)) {
		router_reply(w, x, &x->peer, m, c, 403, "Forbidden", STR_NULL);
		return NULL;
	}
	if (c->has_max_forwards && c->max_forwards == 0) {
		router_reply(w, x, &x->peer, m, c, 483, "Too Many Hops", STR_NULL);
		return NULL;
	}
	if (reject_require(w, x, m, c))
		return NULL;
	if (atomic_load(&w->eng->draining) ||
	    engine_calls_active(w->eng) >= w->cfg->engine.max_calls) {
		router_reply(w, x, &x->peer, m, c, 503, "Service Unavailable",
			     STR("Retry-After: 5\r\n"));
		return NULL;
	}
	t = e164_valid(c->ruri.user) ? config_trunk_by_number(w->cfg, c->ruri.user) : NULL;
	if (!t)
		router_reply(w, x, &x->peer, m, c, 404, "Not Found", STR_NULL);
	return t;
}

static struct call *call_new(struct worker *w, const struct config_trunk *t)
{
	struct call *call = calloc(1, sizeof(*call));

	if (!call)
		return NULL;
	call->w = w;
	call->trunk = t;
	call->refs = 1;
	call->a_peer = &call->b;
	call->outcome = STATS_CALL_FAILED;
	call->started_us = w->now_us;
	call->next = w->calls;
	if (w->calls)
		w->calls->prev = call;
	w->calls = call;
	transfer_init(call);
	stats_inc(&w->st.calls_active);
	stats_inc(&w->st.calls_live);
	stats_inc(&w->st.calls_total);
	return call;
}

void call_on_invite(struct worker *w, struct rtxn *x, const struct sip_msg *m,
		    const struct sip_core *c)
{
	const struct config_trunk *t = admit(w, x, m, c);
	struct call *call;

	if (!t) {
		stats_inc(&w->st.calls[STATS_CALL_REJECTED]);
		return;
	}
	call = call_new(w, t);
	if (!call) {
		router_reply(w, x, &x->peer, m, c, 503, "Service Unavailable", STR_NULL);
		return;
	}
	router_reply(w, x, &x->peer, m, c, 100, "Trying", STR_NULL);
	if (a_leg_init(call, x, m, c) || b_leg_init(call, m, c) || b_send_invite(call, m, c)) {
		reply_a(call, 503, STR("Service Unavailable"), NULL);
		call_end(call, "cannot reach the trunk");
	}
}

/* An in-dialog request relayed from one leg to the other: its final
 * response goes back on the original server transaction. */
static void on_relay_response(struct rtxn *x, const struct sip_msg *m, const struct sip_core *c)
{
	struct rtxn *s = x->relay;

	if (x->method == SIP_METHOD_INVITE && m->status >= 200 && m->status < 300) {
		struct str target = call_first_contact(m);

		leg_ack(x->leg, c->cseq.num, STR_NULL, STR_NULL);
		/* A target refresh (§12.2.1.2); out of memory keeps the old one. */
		if (target.n && leg_str_set(x->leg, &x->leg->target, target) == 0)
			leg_set_peer(x->w, x->leg, &x->leg->peer);
	}
	if (s && m->status > 100)
		call_reply_saved(s, s->req, s->req_len, m->status, m->reason, STR_NULL, STR_NULL, m);
}

static void on_relay_timeout(struct rtxn *x, unsigned status)
{
	struct rtxn *s = x->relay;
	struct str reason;

	status = unreached_status(status, &reason);
	if (s)
		call_reply_saved(s, s->req, s->req_len, status, reason, STR_NULL, STR_NULL, NULL);
}

static void relay_request(struct leg *from, struct rtxn *x, const struct sip_msg *m,
			  const struct sip_core *c)
{
	struct leg *to = other_leg(from);
	const struct sip_hdr *ct = sip_msg_hdr_first(m, SIP_HDR_CONTENT_TYPE);
	struct rtxn *out;

	if (!to->up || from->call->state != CALL_ANSWERED) {
		router_reply(from->call->w, x, &x->peer, m, c, 481, "Call/Transaction Does Not Exist",
			     STR_NULL);
		return;
	}
	x->req = call_dup_mem(m->buf, m->len);
	x->req_len = m->len;
	out = x->req ? leg_request(to, m->method_id, STR_NULL,
				   ct ? ct->value : STR("application/sdp"), m->body,
				   on_relay_response, on_relay_timeout)
		     : NULL;
	if (!out) {
		router_reply(from->call->w, x, &x->peer, m, c, 503, "Service Unavailable", STR_NULL);
		return;
	}
	out->relay = x;
	x->relay = out;
	if (m->method_id == SIP_METHOD_INVITE) {
		from->inv = x; /* its 2xx waits for the ACK that call_on_request passes on */
		if (from->id == LEG_A)
			x->on_timeout = on_a_no_ack;
	}
}

static void on_bye(struct leg *l, struct rtxn *x, const struct sip_msg *m,
		   const struct sip_core *c)
{
	struct call *call = l->call;

	router_reply(call->w, x, &x->peer, m, c, 200, "OK", STR_NULL);
	l->up = false;
	leg_unlink(call->w, l);
	if (!transfer_on_bye(call, l))
		leg_bye(other_leg(l));
	if (call->state != CALL_DONE)
		call->state = CALL_ENDING;
	call_maybe_end(call, "BYE");
}

void call_on_request(struct leg *leg, struct rtxn *x, const struct sip_msg *m,
		     const struct sip_core *c)
{
	struct worker *w = leg->call->w;

	if (!x) { /* ACK for a 2xx: it ends the INVITE server transaction's retransmissions */
		if (leg->inv && leg->inv->server)
			txn_server_on_ack(&leg->inv->t);
		if (leg->bye_pending)
			leg_bye_send(leg);
		else if (leg->id == LEG_A)
			transfer_on_caller_ack(leg->call);
		return;
	}
	call_attach(leg, x);
	if (!leg->up) { /* we hung up; only a BYE crossing ours is welcome */
		router_reply(w, x, &x->peer, m, c, m->method_id == SIP_METHOD_BYE ? 200 : 481,
			     m->method_id == SIP_METHOD_BYE ? "OK" : "Call/Transaction Does Not Exist",
			     STR_NULL);
		return;
	}
	/* §12.2.2: a CSeq not above the last one is out of order. */
	if (c->cseq.num <= leg->remote_cseq && leg->remote_tag.p) {
		router_reply(w, x, &x->peer, m, c, 500, "Server Internal Error",
			     STR("Retry-After: 1\r\n"));
		return;
	}
	leg->remote_cseq = c->cseq.num;
	switch (m->method_id) {
	case SIP_METHOD_BYE:
		on_bye(leg, x, m, c);
		break;
	case SIP_METHOD_REFER:
		transfer_on_refer(leg, x, m, c);
		break;
	case SIP_METHOD_INVITE:
	case SIP_METHOD_UPDATE:
	case SIP_METHOD_INFO:
	case SIP_METHOD_OPTIONS:
		relay_request(leg, x, m, c);
		break;
	default:
		router_reply(w, x, &x->peer, m, c, 501, "Not Implemented", STR_NULL);
		break;
	}
}

void call_worker_stop(struct worker *w)
{
	w->reap = NULL; /* every call goes below */
	while (w->calls) {
		struct call *call = w->calls;

		leg_unlink(w, &call->a);
		leg_unlink(w, &call->b);
		leg_unlink(w, &call->c);
		call_free(call);
	}
}
