/* call_priv.h: the call object and leg helpers shared by call.c (the A↔B
 * relay) and transfer.c (REFER, NOTIFY, the C leg); not for other modules. */
#ifndef XFERD_CALL_PRIV_H
#define XFERD_CALL_PRIV_H

#include "build.h"
#include "call.h"
#include "refer.h"
#include "xfer.h"

#define CALL_MSG_MAX 65536

/* What one accepted REFER asked for, copied out of the REFER. */
struct xfer_req {
	char *number;        /* E.164 target */
	char *referred_by;   /* Referred-By value, or NULL */
	char *extra;         /* allowed Refer-To embedded headers, as header lines */
	const struct config_uri *next_hop;
	uint32_t refer_cseq; /* for Event: refer;id= on a second REFER */
	bool with_id;
	uint64_t refer_us;   /* when the REFER arrived, for latency */
	uint64_t accept_us;  /* REFER → 202 sent, for the event log */
	uint64_t answer_us;  /* REFER → the target's 2xx; 0: not answered */
	char *offer;         /* the target's SDP offer (its 2xx) */
	size_t offer_len;
	char *offer_type;
	char *answer;        /* the caller's SDP answer to it */
	size_t answer_len;
	char *answer_type;
	uint32_t c_ack_cseq; /* the C INVITE's CSeq, for ACKs of its 2xx */
	bool c_acked;
};

struct call {
	struct call *prev, *next; /* worker->calls */
	struct call *reap_next;   /* worker->reap, while queued */
	bool queued;              /* in worker->reap */
	bool reaped;              /* reaped once: refs counts transactions only */
	struct rtxn *txns;        /* the transactions pointing at a leg */
	struct worker *w;
	enum call_state state;
	unsigned refs;            /* transactions pointing at a leg, +1 until first reaped */
	const struct config_trunk *trunk;
	struct leg a, b, c;
	struct leg *a_peer;       /* who A talks to: &b, then &c after a transfer */
	char *a_invite;           /* the caller's INVITE: responses to A are built from it */
	size_t a_invite_len;
	struct xfer xfer;
	struct wheel_timer xfer_timer;
	struct xfer_req *xr;      /* the running (or last) transfer */
	unsigned refers;          /* REFERs accepted in the B dialog */
	enum stats_call_outcome outcome;
	bool reinvite_pending;    /* the caller's re-INVITE waits for its ACK */
	uint64_t started_us;
};

static inline struct str cstr(const char *s)
{
	return s ? str_make(s, strlen(s)) : STR_NULL;
}

/* Our tag: IDS_TAG_LEN characters once the leg is set up. */
/* Start loading what a request on l reads: the call's first line, the
 * leg's four and its strings. A call last touched milliseconds ago is
 * out of cache, and these misses would otherwise come one at a time, each
 * found only when the one before it returns. */
static inline void leg_prefetch(const struct leg *l)
{
	__builtin_prefetch(l->call);
	for (size_t off = 0; off < sizeof(*l); off += 64)
		__builtin_prefetch((const char *)l + off);
	__builtin_prefetch(l->strs);
}

static inline struct str leg_local_tag(const struct leg *l)
{
	return str_make(l->local_tag, l->local_tag[0] ? IDS_TAG_LEN : 0);
}

char *call_dup(struct str s);
/* Replace *dst, one of l's strings, with a NUL-terminated copy of s (its
 * folded lines unfolded); the others move with it into a new block, so
 * any slice of them taken before is stale. s may be one of them. -ENOMEM
 * leaves *dst STR_NULL and the others as they were. */
int leg_str_set(struct leg *l, struct str *dst, struct str s);
char *call_dup_mem(const char *buf, size_t len);

void leg_link(struct worker *w, struct leg *l);
void leg_unlink(struct worker *w, struct leg *l);
void leg_set_peer(struct worker *w, struct leg *l, const struct peer *fallback);
void leg_free(struct leg *l);
/* l's initial INVITE got its final response: nothing will CANCEL it now. */
void leg_invite_done(struct leg *l);

/* l's route set from m's Record-Route, as a Route value, reversed for a
 * UAC (§12.1.2). Returns 0 or -ENOMEM. */
int leg_routes_set(struct leg *l, const struct sip_msg *m, bool reverse);
struct str call_first_contact(const struct sip_msg *m);

/* A new request on leg l: dialog headers, extra header lines (already
 * sanitised, each ending in CRLF), Contact for target-refresh methods,
 * body. The response goes to on_response. NULL if it cannot be sent. */
struct rtxn *leg_request(struct leg *l, enum sip_method method, struct str extra,
			 struct str ctype, struct str body,
			 void (*on_response)(struct rtxn *, const struct sip_msg *,
					     const struct sip_core *),
			 void (*on_timeout)(struct rtxn *, unsigned));

/* ACK for a 2xx on leg l (§13.2.2.4), with an optional body. */
void leg_ack(struct leg *l, uint32_t cseq, struct str ctype, struct str body);

/* CANCEL l's initial INVITE, now or when its first provisional arrives. */
void leg_cancel(struct leg *l);

/* CANCEL inv, an INVITE that l sent in an earlier dialog (an earlier
 * transfer's target, given up on while silent), now that it has a
 * provisional; of what inv gets after, only a 2xx that crossed the CANCEL
 * matters (leg_end_earlier). */
void leg_cancel_earlier(struct leg *l, struct rtxn *inv);

/* A 2xx reached inv, an INVITE of l's to a target that l no longer
 * stands for (a newer transfer reused it): ACK that dialog (§13.2.2.4)
 * and BYE it (§15) so the target does not stay up alone. inv then
 * lingers alone, resending the ACK for each retransmitted 2xx. */
void leg_end_earlier(struct leg *l, struct rtxn *inv, const struct sip_msg *m,
		     const struct sip_core *c);

/* Hang up leg l (BYE) and take it out of the dialog table. A 2xx of ours
 * not ACKed yet holds the BYE back until the ACK or Timer L (§15). */
void leg_bye(struct leg *l);

/* l has an INVITE server transaction whose 2xx waits for its ACK. */
bool leg_unacked(const struct leg *l);

/* The dialog of a leg xferd called (B, C) is confirmed by 2xx m (§12.1.2). */
int leg_confirm(struct leg *l, const struct sip_msg *m, const struct sip_core *c);

/* Build a response to the request saved in x->req (or the A INVITE). */
void call_reply_saved(struct rtxn *x, const char *req, size_t req_len, unsigned status,
		      struct str reason, struct str to_tag, struct str extra,
		      const struct sip_msg *body_of);

/* Client or server transaction x now points at leg (and holds its call). */
void call_attach(struct leg *leg, struct rtxn *x);

/* The transactions of the call (of leg only, unless NULL) that are past
 * their final response go on alone (router_txn_orphan); an INVITE client
 * takes its leg's ACK if it is the ACK of its 2xx. */
void call_orphan_txns(struct call *call, const struct leg *only);

/* Count the call as finished if no leg is up and nothing is being set up. */
void call_maybe_end(struct call *call, const char *why);

/* transfer.c */
void transfer_init(struct call *call);
void transfer_on_refer(struct leg *leg, struct rtxn *x, const struct sip_msg *m,
		       const struct sip_core *c);
/* A BYE arrived on leg l while a transfer may be running: true if the
 * transfer took care of everything. */
bool transfer_on_bye(struct call *call, struct leg *l);
/* The caller ACKed a 2xx of ours: a re-INVITE held back for it may go. */
void transfer_on_caller_ack(struct call *call);
void transfer_free(struct call *call);

#endif
