/* router.c: parse → owning worker → transaction → call, and the stateless
 * answers (OPTIONS, 400, 481...). RFC 3261 §8.2, §17.1.3, §17.2.3, §18.2. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "call.h"
#include "log.h"
#include "router.h"

#define ALLOW_HDR "INVITE, ACK, BYE, CANCEL, OPTIONS, REFER, NOTIFY, INFO, UPDATE"

static uint32_t txn_hash(struct str branch, bool server, enum sip_method method)
{
	return hmap_hash(branch, HMAP_SEED) ^ ((uint32_t)method << 1 | server);
}

/* §17.2.3: an ACK for a non-2xx belongs to its INVITE's transaction. */
static enum sip_method server_method(enum sip_method m)
{
	return m == SIP_METHOD_ACK ? SIP_METHOD_INVITE : m;
}

static struct rtxn *txn_find(struct worker *w, struct str branch, bool server,
			     enum sip_method method)
{
	uint32_t h = txn_hash(branch, server, method);

	for (struct hmap_node *n = hmap_first(&w->txns, h); n; n = hmap_next(n)) {
		struct rtxn *x = (struct rtxn *)((char *)n - offsetof(struct rtxn, node));

		if (x->server == server && x->method == method &&
		    str_eq(str_make(x->branch, x->branch_n), branch))
			return x;
	}
	return NULL;
}

/* A client transaction with a fresh branch of ours is in the ring; the
 * rest (server side, CANCEL sharing its INVITE's branch, a live entry a
 * lap of the ring later) are in the hash table. */
static struct rtxn *client_find(struct worker *w, struct str branch, enum sip_method method)
{
	struct rtxn *x;
	uint32_t seq;

	if (method != SIP_METHOD_CANCEL && ids_seq_of_branch(branch, &seq) == 0 &&
	    (x = ctab_get(&w->ctab, seq)) && x->method == method &&
	    str_eq(str_make(x->branch, x->branch_n), branch))
		return x;
	return txn_find(w, branch, false, method);
}

static void rtxn_index(struct worker *w, struct rtxn *x)
{
	x->in_ring = !x->server && x->method != SIP_METHOD_CANCEL &&
		     ids_seq_of_branch(str_make(x->branch, x->branch_n), &x->seq) == 0 &&
		     !ctab_get(&w->ctab, x->seq);
	/* The ring hands back an entry still live a lap later (a 32 s Timer
	 * M or F): it moves to the table. */
	if (x->in_ring)
		x = ctab_put(&w->ctab, x->seq, x, w->now_ms);
	if (x) {
		x->in_ring = false;
		hmap_insert(&w->txns, &x->node,
			    txn_hash(str_make(x->branch, x->branch_n), x->server, x->method));
	}
}

static void rtxn_unindex(struct worker *w, struct rtxn *x)
{
	if (x->in_ring)
		ctab_del(&w->ctab, x->seq);
	else
		hmap_remove(&w->txns, &x->node);
}

static void rtxn_free(struct rtxn *x)
{
	if (x->slot1)
		x->w->held[x->slot1 - 1]--;
	txn_destroy(&x->t);
	free(x->req);
	free(x->ack);
	free(x);
}

static struct rtxn *from_txn(struct txn *t)
{
	return (struct rtxn *)((char *)t - offsetof(struct rtxn, t));
}

static void rtxn_send(struct txn *t, const char *buf, size_t len)
{
	struct rtxn *x = from_txn(t);

	worker_send(x->w, &x->peer, buf, len);
}

static void rtxn_on_response(struct txn *t, const struct sip_msg *m, const struct sip_core *c)
{
	struct rtxn *x = from_txn(t);

	/* Alone: an INVITE's retransmitted 2xx gets its ACK again. */
	if (!x->leg) {
		if (x->ack && m->status >= 200 && m->status < 300)
			worker_send(x->w, &x->peer, x->ack, x->ack_len);
		return;
	}
	if (x->on_response)
		x->on_response(x, m, c);
	if (x->leg)
		call_txn_answered(x->leg, x);
}

static void rtxn_on_timeout(struct txn *t, unsigned status)
{
	struct rtxn *x = from_txn(t);

	if (x->on_timeout)
		x->on_timeout(x, status);
}

static void rtxn_on_terminated(struct txn *t)
{
	struct rtxn *x = from_txn(t);
	struct worker *w = x->w;

	rtxn_unindex(w, x);
	stats_dec(&w->st.txns_live);
	stats_add(&w->st.retransmissions_out, x->t.retransmits);
	if (x->relay)
		x->relay->relay = NULL;
	if (x->leg)
		call_txn_released(x->leg, x);
	rtxn_free(x);
}

/* Timer K (§17.1.2.2) only absorbs retransmitted finals: in the ring, the
 * slot keeps a key until then and the transaction goes at once. */
static bool rtxn_on_completed(struct txn *t, uint32_t ms)
{
	struct rtxn *x = from_txn(t);
	struct worker *w = x->w;

	if (!x->in_ring)
		return false;
	ctab_bury(&w->ctab, x->seq, ctab_key(str_make(x->branch, x->branch_n), x->method),
		  w->now_ms + ms);
	x->in_ring = false; /* the slot is the tomb's now */
	x->seq = 0;
	return true;
}

static const struct txn_ops rtxn_ops = {
	.send = rtxn_send,
	.on_response = rtxn_on_response,
	.on_timeout = rtxn_on_timeout,
	.on_terminated = rtxn_on_terminated,
	.on_completed = rtxn_on_completed,
};

static struct rtxn *rtxn_new(struct worker *w, const struct peer *p, struct str branch,
			     bool server, enum sip_method method, enum txn_type type)
{
	struct rtxn *x;

	if (branch.n > RTXN_BRANCH_MAX)
		return NULL;
	x = calloc(1, sizeof(*x) + branch.n);
	if (!x)
		return NULL;
	x->w = w;
	x->peer = *p;
	x->server = server;
	x->method = method;
	x->branch_n = (uint8_t)branch.n;
	memcpy(x->branch, branch.p, branch.n);
	txn_init(&x->t, type, p->reliable, &w->wheel, &w->timers, &rtxn_ops, x);
	rtxn_index(w, x);
	stats_inc(&w->st.txns_live);
	return x;
}

struct rtxn *router_client_start(struct worker *w, struct leg *leg, const struct peer *p,
				 enum sip_method method, struct str branch,
				 const char *msg, size_t len)
{
	enum txn_type type = method == SIP_METHOD_INVITE ? TXN_INVITE_CLIENT : TXN_NONINVITE_CLIENT;
	struct rtxn *x = rtxn_new(w, p, branch, false, method, type);

	if (!x) {
		log_warn("worker %u: cannot start a %.*s transaction: limit or memory", w->id,
			 STR_FMT(sip_method_name(method)));
		return NULL;
	}
	x->leg = leg;
	if (txn_client_start(&x->t, msg, len)) {
		x->leg = NULL;
		rtxn_unindex(w, x);
		stats_dec(&w->st.txns_live);
		rtxn_free(x);
		return NULL;
	}
	return x;
}

int router_respond(struct rtxn *x, const char *msg, size_t len, unsigned status)
{
	return txn_server_respond(&x->t, msg, len, status);
}

void router_txn_detach(struct rtxn *x)
{
	x->on_response = NULL;
	x->on_timeout = NULL;
}

void router_txn_orphan(struct rtxn *x, char *ack, size_t ack_len, const struct peer *p)
{
	router_txn_detach(x);
	x->leg = NULL;
	x->call_prev = x->call_next = NULL;
	/* An INVITE client in Accepted sends nothing else: its peer becomes
	 * the ACK's (the dialog's next hop). */
	if (ack) {
		x->ack = ack;
		x->ack_len = (uint32_t)ack_len;
		x->peer = *p;
	}
}

void router_batch_end(struct worker *w)
{
	call_reap(w);
}

const struct sip_src *router_src(const struct peer *p, struct sip_src *src,
				 char host[INET6_ADDRSTRLEN])
{
	const struct sockaddr_in *in = &p->addr.in;
	const struct sockaddr_in6 *in6 = &p->addr.in6;

	if (p->addr.sa.sa_family == AF_INET) {
		inet_ntop(AF_INET, &in->sin_addr, host, INET6_ADDRSTRLEN);
		src->port = ntohs(in->sin_port);
	} else if (p->addr.sa.sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &in6->sin6_addr, host, INET6_ADDRSTRLEN);
		src->port = ntohs(in6->sin6_port);
	} else {
		return NULL;
	}
	src->host = str_make(host, strlen(host));
	return src;
}

/* Where responses to a request from p go (§18.2.2): over a stream, back on
 * its connection; with rport (RFC 3581), to where it came from; otherwise
 * to its source address and the port of its Via's sent-by. */
static struct peer response_peer(const struct peer *p, const struct sip_via *via)
{
	struct peer r = *p;
	uint16_t port = htons(via->port ? via->port : 5060);

	if (p->reliable || via->rport)
		return r;
	if (r.addr.sa.sa_family == AF_INET)
		r.addr.in.sin_port = port;
	else if (r.addr.sa.sa_family == AF_INET6)
		r.addr.in6.sin6_port = port;
	return r;
}

void router_reply(struct worker *w, struct rtxn *x, const struct peer *p,
		  const struct sip_msg *m, const struct sip_core *c, unsigned status,
		  const char *reason, struct str extra_headers)
{
	char buf[4096], tag[IDS_TAG_LEN], host[INET6_ADDRSTRLEN];
	struct sip_build b;
	struct sip_src src;
	int n;

	sip_build_init(&b, buf, sizeof(buf));
	sip_build_response(&b, m, c, status, str_make(reason, strlen(reason)),
			   status > 100 ? ids_tag(&w->ids, tag) : STR_NULL,
			   router_src(x ? &x->peer : p, &src, host));
	sip_build_raw(&b, extra_headers);
	sip_build_header(&b, STR("Server"), STR("xferd"));
	n = sip_build_finish(&b, STR_NULL, STR_NULL);
	if (n < 0) {
		log_warn("worker %u: response %u does not fit", w->id, status);
		return;
	}
	if (x)
		router_respond(x, buf, (size_t)n, status);
	else
		worker_send(w, p, buf, (size_t)n);
}

/* Requests that fail sip_core_read get the response it names, built from
 * whatever headers they have, if they have a Via to send it by. */
static void reply_malformed(struct worker *w, const struct peer *p, struct sip_msg *m,
			    const struct sip_core *c)
{
	char reason[96];

	if (!m->is_request || !m->err_status || m->method_id == SIP_METHOD_ACK ||
	    !sip_msg_hdr_first(m, SIP_HDR_VIA))
		return;
	snprintf(reason, sizeof(reason), "%s",
		 m->err_status == 416 ? "Unsupported URI Scheme" :
		 m->err_status == 505 ? "Version Not Supported" : "Bad Request");
	router_reply(w, NULL, p, m, c, m->err_status, reason, STR_NULL);
}

/* The worker that owns the call of a request, or of our response to one:
 * the one our To tag names, else the owner of its Call-ID's spread slot. */
static int call_owner(const struct worker *w, const struct sip_core *c)
{
	int s = ids_shard_of_tag(c->to.tag);

	return s >= 0 ? s : (int)spread_owner(&w->eng->spread, spread_slot(c->call_id));
}

/* The worker that owns a message: a response's is named by our branch. */
static int route_shard(struct worker *w, const struct sip_msg *m, const struct sip_core *c)
{
	return m->is_request ? call_owner(w, c) : ids_shard_of_branch(c->via.branch);
}

static void on_response(struct worker *w, const struct sip_msg *m, const struct sip_core *c)
{
	struct rtxn *x = client_find(w, c->via.branch, c->cseq.method_id);
	uint32_t seq;

	if (!x) {
		if (m->status >= 200 && ids_seq_of_branch(c->via.branch, &seq) == 0 &&
		    ctab_buried(&w->ctab, seq, ctab_key(c->via.branch, c->cseq.method_id),
				w->now_ms)) {
			stats_inc(&w->st.retransmissions_in);
			log_debug("worker %u: response %u absorbed: its transaction is in Timer K",
				  w->id, m->status);
			return; /* §17.1.2.2 */
		}
		stats_inc(&w->st.responses_unmatched);
		log_debug("worker %u: response %u matches no transaction", w->id, m->status);
		return;
	}
	if (x->t.state == TXN_COMPLETED)
		stats_inc(&w->st.retransmissions_in);
	log_debug("worker %u: response %u to %.*s, txn %s", w->id, m->status,
		  STR_FMT(sip_method_name(x->method)), txn_state_name(x->t.state));
	txn_client_on_response(&x->t, m, c);
}

/* A final response of ours that could not be delivered (§17.2.4) fails
 * its server transaction: an INVITE's will never be ACKed, and the call
 * hangs up at once rather than at Timer H or L. Its owner is found as for
 * the request: our To tag, or the Call-ID. A provisional's error is left
 * to the final's. */
static void response_send_failed(struct worker *w, const struct peer *to, struct sip_msg *m,
				 const char *buf, size_t len, int err)
{
	struct sip_core c;
	struct sip_src src;
	char host[INET6_ADDRSTRLEN];
	struct rtxn *x;
	int shard;

	if (m->status < 200 || sip_core_read(m, &c))
		return;
	shard = call_owner(w, &c);
	if ((unsigned)shard >= w->eng->nworkers)
		return;
	if ((unsigned)shard != w->id) {
		worker_handoff_send_failed(w, (unsigned)shard, to, buf, len, err);
		return;
	}
	x = txn_find(w, c.via.branch, true, server_method(c.cseq.method_id));
	if (!x)
		return;
	if (!router_src(to, &src, host))
		src = (struct sip_src){ STR("?"), 0 };
	log_info("worker %u: %u to %.*s to %.*s:%u failed: %s", w->id, m->status,
		 STR_FMT(sip_method_name(x->method)), STR_FMT(src.host), src.port, strerror(-err));
	txn_transport_error(&x->t);
}

void router_on_send_failed(struct worker *w, const struct peer *to, const char *buf,
			   size_t len, int err)
{
	static _Thread_local struct sip_msg m;
	const struct sip_hdr *h = NULL;
	struct str cur = STR_NULL, v;
	struct sip_via via;
	struct sip_src src;
	char host[INET6_ADDRSTRLEN];
	struct rtxn *x;
	int shard;

	if (sip_msg_parse_head(&m, buf, len))
		return;
	if (!m.is_request) {
		response_send_failed(w, to, &m, buf, len, err);
		return;
	}
	if (m.method_id == SIP_METHOD_ACK ||
	    sip_msg_list_next(&m, SIP_HDR_VIA, &h, &cur, &v) <= 0 || sip_via_read(v, &via, NULL))
		return;
	/* A request to a caller may leave by the socket its INVITE came in
	 * on, another worker's: its ICMP error comes back there. */
	shard = ids_shard_of_branch(via.branch);
	if (shard < 0 || (unsigned)shard >= w->eng->nworkers)
		return;
	if ((unsigned)shard != w->id) {
		worker_handoff_send_failed(w, (unsigned)shard, to, buf, len, err);
		return;
	}
	x = client_find(w, via.branch, m.method_id);
	if (!x)
		return; /* a retransmission's error, after the first one ended it */
	if (!router_src(to, &src, host))
		src = (struct sip_src){ STR("?"), 0 };
	log_info("worker %u: %.*s to %.*s:%u failed: %s", w->id, STR_FMT(m.method),
		 STR_FMT(src.host), src.port, strerror(-err));
	txn_transport_error(&x->t);
}

static void on_options(struct worker *w, struct rtxn *x, const struct sip_msg *m,
		       const struct sip_core *c)
{
	router_reply(w, x, &x->peer, m, c, 200, "OK",
		     STR("Allow: " ALLOW_HDR "\r\nAccept: application/sdp, message/sipfrag\r\n"
			 "Supported: replaces, norefersub\r\n"));
}

static void on_new_request(struct worker *w, struct rtxn *x, const struct sip_msg *m,
			   const struct sip_core *c)
{
	struct leg *leg;

	if (c->to.tag.n) {
		leg = call_leg_find(w, c);
		if (leg)
			call_on_request(leg, x, m, c);
		else
			router_reply(w, x, &x->peer, m, c, 481, "Call/Transaction Does Not Exist",
				     STR_NULL);
		return;
	}
	switch (m->method_id) {
	case SIP_METHOD_INVITE:
		call_on_invite(w, x, m, c);
		break;
	case SIP_METHOD_OPTIONS:
		on_options(w, x, m, c);
		break;
	case SIP_METHOD_BYE:
	case SIP_METHOD_REFER:
	case SIP_METHOD_NOTIFY:
	case SIP_METHOD_INFO:
	case SIP_METHOD_UPDATE:
	case SIP_METHOD_PRACK:
		router_reply(w, x, &x->peer, m, c, 481, "Call/Transaction Does Not Exist", STR_NULL);
		break;
	default:
		router_reply(w, x, &x->peer, m, c, 405, "Method Not Allowed",
			     STR("Allow: " ALLOW_HDR "\r\n"));
		break;
	}
}

static void on_cancel(struct worker *w, struct rtxn *x, const struct sip_msg *m,
		      const struct sip_core *c)
{
	struct rtxn *inv = txn_find(w, c->via.branch, true, SIP_METHOD_INVITE);

	if (!inv) {
		router_reply(w, x, &x->peer, m, c, 481, "Call/Transaction Does Not Exist", STR_NULL);
		return;
	}
	router_reply(w, x, &x->peer, m, c, 200, "OK", STR_NULL);
	if (inv->t.state == TXN_PROCEEDING && inv->leg)
		call_on_cancel(inv);
}

static void on_ack(struct worker *w, const struct sip_msg *m, const struct sip_core *c)
{
	struct rtxn *inv = txn_find(w, c->via.branch, true, SIP_METHOD_INVITE);
	struct leg *leg;

	if (inv && inv->t.state == TXN_COMPLETED) {
		txn_server_on_ack(&inv->t);
		return;
	}
	leg = call_leg_find(w, c);
	if (leg)
		call_on_request(leg, NULL, m, c);
}

static bool is_known(enum sip_method m)
{
	return m != SIP_METHOD_OTHER;
}

/* max_transactions bounds what strangers can open, over the whole engine:
 * while the load is light one worker opens them all (spread.h). */
static bool txns_full(const struct worker *w)
{
	uint64_t live = 0;

	for (unsigned i = 0; i < w->eng->nworkers; i++)
		live += stats_get(&w->eng->workers[i]->st.txns_live);
	return live > w->cfg->engine.max_transactions;
}

/* A request without a To tag that matched no transaction here opens
 * something new, on the worker its spread slot is wanted on. While the
 * slot moves away, this worker keeps what it holds of it (retransmissions,
 * the CANCEL of an INVITE here) and passes the rest on. */
static bool placed_elsewhere(struct worker *w, const struct peer *from, const struct sip_msg *m,
			     const struct sip_core *c, unsigned slot)
{
	unsigned to = spread_want(&w->eng->spread, slot);

	if (to == w->id || to >= w->eng->nworkers)
		return false;
	if (m->method_id == SIP_METHOD_CANCEL &&
	    txn_find(w, c->via.branch, true, SIP_METHOD_INVITE))
		return false;
	worker_handoff_placed(w, to, from, m->buf, m->len);
	return true;
}

static void on_request(struct worker *w, const struct peer *from, const struct sip_msg *m,
		       const struct sip_core *c, enum router_hop hop)
{
	bool opens = !c->to.tag.n; /* a new call or out-of-dialog request */
	unsigned slot = opens ? spread_slot(c->call_id) : 0;
	enum sip_method method = m->method_id;
	struct peer rp = response_peer(from, &c->via);
	const struct peer *p = &rp;
	struct rtxn *x;

	if (method == SIP_METHOD_ACK) {
		on_ack(w, m, c);
		return;
	}
	x = txn_find(w, c->via.branch, true, server_method(method));
	if (x) {
		stats_inc(&w->st.retransmissions_in);
		txn_server_on_request(&x->t);
		return;
	}
	if (!is_known(method)) {
		router_reply(w, NULL, p, m, c, 501, "Not Implemented",
			     STR("Allow: " ALLOW_HDR "\r\n"));
		return;
	}
	/* Without the RFC 3261 cookie a branch cannot key a transaction. */
	if (c->via.branch.n < 8 || memcmp(c->via.branch.p, "z9hG4bK", 7)) {
		router_reply(w, NULL, p, m, c, 400, "Missing Via Branch", STR_NULL);
		return;
	}
	if (opens && hop != ROUTER_PLACED && placed_elsewhere(w, from, m, c, slot))
		return;
	/* The transactions of calls already admitted (BYE, NOTIFY, CANCEL)
	 * must never be refused. */
	if (opens && txns_full(w))
		x = NULL;
	else
		x = rtxn_new(w, p, c->via.branch, true, method,
			     method == SIP_METHOD_INVITE ? TXN_INVITE_SERVER
							 : TXN_NONINVITE_SERVER);
	if (!x) {
		router_reply(w, NULL, p, m, c, 503, "Service Unavailable",
			     STR("Retry-After: 5\r\n"));
		return;
	}
	if (opens) {
		x->slot1 = (uint16_t)(slot + 1);
		w->held[slot]++;
	}
	if (method == SIP_METHOD_CANCEL)
		on_cancel(w, x, m, c);
	else
		on_new_request(w, x, m, c);
}

static bool is_keepalive(const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (buf[i] != '\r' && buf[i] != '\n')
			return false;
	}
	return true;
}

void router_on_message(struct worker *w, const struct peer *p, const char *buf,
		       size_t len, enum router_hop hop)
{
	static _Thread_local struct sip_msg m;
	struct sip_core c;
	int shard;

	if (is_keepalive(buf, len))
		return;
	if (sip_msg_parse(&m, buf, len) || sip_core_read(&m, &c)) {
		stats_inc(&w->st.msgs[STATS_IN][m.status || m.method.n ? stats_method_of(&m)
									  : STATS_M_OTHER]);
		stats_inc(&w->st.parse_errors);
		log_debug("worker %u: %s at byte %zu", w->id, m.err, m.err_at);
		reply_malformed(w, p, &m, &c);
		return;
	}
	if (hop == ROUTER_WIRE) {
		shard = route_shard(w, &m, &c);
		if (shard < 0 || (unsigned)shard >= w->eng->nworkers) {
			if (!m.is_request)
				stats_inc(&w->st.responses_unmatched);
			log_debug("worker %u: %s for a worker that is not ours", w->id,
				  m.is_request ? "request" : "response");
			return;
		}
		if ((unsigned)shard != w->id) {
			worker_handoff(w, (unsigned)shard, p, buf, len);
			return;
		}
	}
	if (hop != ROUTER_PLACED) /* the slot's old owner counted it */
		stats_inc(&w->st.msgs[STATS_IN][stats_method_of(&m)]);
	if (m.is_request)
		on_request(w, p, &m, &c, hop);
	else
		on_response(w, &m, &c);
}

void router_worker_stop(struct worker *w)
{
	struct rtxn *x;
	size_t i = 0;

	call_worker_stop(w);
	for (i = 0; i <= w->txns.mask; i++) {
		struct hmap_node *n;

		while ((n = w->txns.buckets[i])) {
			hmap_remove(&w->txns, n);
			rtxn_free((struct rtxn *)((char *)n - offsetof(struct rtxn, node)));
		}
	}
	for (i = 0; (x = ctab_next(&w->ctab, &i));) {
		ctab_del(&w->ctab, x->seq);
		rtxn_free(x);
	}
	atomic_store(&w->st.txns_live, 0);
}
