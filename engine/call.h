/* call.h: a call as the B2BUA sees it: the caller's leg (A), the endpoint's
 * (B) and the transfer target's (C), each its own dialog (RFC 3261 §12). */
#ifndef XFERD_CALL_H
#define XFERD_CALL_H

#include "router.h"

enum leg_id {
	LEG_A, /* caller ↔ xferd: xferd is the UAS */
	LEG_B, /* xferd ↔ endpoint (the trunk's primary URI): xferd is the UAC */
	LEG_C, /* xferd ↔ transfer target: xferd is the UAC */
};

enum call_state {
	CALL_INVITING, /* B-leg INVITE sent, no final response yet */
	CALL_ANSWERED, /* the caller is connected (to B, or to C after a transfer) */
	CALL_ENDING,   /* cancelled or hung up, waiting for the other side */
	CALL_DONE,     /* counted as finished; memory waits for its last transaction */
};

struct call;

/* One dialog. Strings are copies (a leg outlives every receive buffer),
 * NUL-terminated for logs, their lengths kept for the requests built from
 * them; a missing one is STR_NULL. */
struct leg {
	struct hmap_node node; /* in worker->dialogs by Call-ID and local tag */
	bool linked;           /* in the table: in-dialog requests reach it */
	bool up;               /* confirmed and not hung up */
	bool got_provisional;  /* a CANCEL may be sent (§9.1) */
	bool cancel_pending;   /* send the CANCEL when a provisional comes */
	bool bye_pending;      /* send the BYE when our 2xx is ACKed */
	enum leg_id id;
	struct call *call;
	/* call_id, remote_tag, local_uri, remote_uri, target and routes all
	 * point into strs, one block (leg_str_set): building a request reads
	 * them from one or two cache lines, where six allocations cost six
	 * misses on a call last touched milliseconds ago. */
	char *strs;
	struct str call_id;
	char local_tag[IDS_TAG_LEN + 1];
	struct str remote_tag;
	struct str local_uri;  /* our name-addr, without tag */
	struct str remote_uri; /* theirs, with their tag once known */
	struct str target;     /* remote target URI (their Contact) */
	struct str routes;     /* route set as a Route header value */
	uint32_t local_cseq;
	uint32_t remote_cseq;
	struct peer peer; /* where requests on this leg go */
	struct rtxn *inv; /* the INVITE transaction in progress, if any */
	char *ack;        /* the last ACK for a 2xx, resent as it is for its retransmissions */
	size_t ack_len;
	uint32_t ack_cseq;
};

/* Where requests for uri go: the host must be an IP literal (no DNS); a
 * configured peer's go through the worker's socket connected to it. */
int call_peer_from_uri(struct worker *w, struct str uri, struct peer *p);

/* A new INVITE outside any dialog arrived on its server transaction x (100
 * Trying not sent yet): admit it (403, 404, 420, 483, 503) or start a call. */
void call_on_invite(struct worker *w, struct rtxn *x, const struct sip_msg *m,
		    const struct sip_core *c);

/* The leg a request belongs to: Call-ID and To tag (ours), or NULL. */
struct leg *call_leg_find(struct worker *w, const struct sip_core *c);

/* A request inside leg's dialog, on its new server transaction x (NULL for
 * ACK, which has none). */
void call_on_request(struct leg *leg, struct rtxn *x, const struct sip_msg *m,
		     const struct sip_core *c);

/* CANCEL matched the INVITE server transaction inv (§9.2); the CANCEL itself
 * was answered 200 already. */
void call_on_cancel(struct rtxn *inv);

/* Transaction x, which pointed at leg, ended: drop the call's reference. */
void call_txn_released(struct leg *leg, struct rtxn *x);

/* Free the calls that ended since the last call: their transactions that
 * only absorb retransmissions now do so alone; any still waiting for a
 * final response keeps its call until it ends. */
void call_reap(struct worker *w);

/* A response reached x, a transaction of leg's: x lingers alone from now
 * if it is an answered non-INVITE client, or if its call has ended. */
void call_txn_answered(struct leg *leg, struct rtxn *x);

/* End every call of a stopping worker without signalling. */
void call_worker_stop(struct worker *w);

#endif
