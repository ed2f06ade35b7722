/* router.h: from a received message to its transaction and call: parse,
 * route to the owning worker, match or create transactions, answer alone. */
#ifndef XFERD_ROUTER_H
#define XFERD_ROUTER_H

#include <arpa/inet.h>

#include "build.h"
#include "worker.h"

struct leg;

/* Longer branches get 503: RFC 3261 sets no limit, stacks stay near 40. */
#define RTXN_BRANCH_MAX 128

/* A transaction with what the worker needs to find and drive it. */
struct rtxn {
	struct txn t;
	struct worker *w;
	struct peer peer;
	struct leg *leg;       /* the call leg it belongs to, or NULL */
	/* The transaction on the other leg that this one relays, or NULL. */
	struct rtxn *relay;
	/* Server: a copy of the request when a response must later be built
	 * from it (relayed in-dialog requests). */
	char *req;
	size_t req_len;
	/* Client: what the leg does with responses and timeouts. */
	void (*on_response)(struct rtxn *x, const struct sip_msg *m, const struct sip_core *c);
	void (*on_timeout)(struct rtxn *x, unsigned status);
	/* The call's other transactions (call.c keeps the list). */
	struct rtxn *call_prev, *call_next;
	/* Client INVITE whose call is gone: the ACK it resends for each
	 * retransmitted 2xx (§13.2.2.4), or NULL. */
	char *ack;
	uint32_t ack_len;
	uint32_t cseq;         /* client: the request's CSeq number */
	/* The key, last and together: a lookup reads one or two cache lines. */
	struct hmap_node node; /* in worker->txns, by branch, side and method */
	uint32_t seq;          /* in_ring: its slot in worker->ctab */
	enum sip_method method;
	bool server;
	bool in_ring;          /* in worker->ctab instead of worker->txns */
	uint16_t slot1;        /* server, opened without a To tag: spread slot + 1 */
	uint8_t branch_n;
	char branch[];         /* branch_n bytes, allocated with the struct */
};

/* How a message reached the worker that handles it. */
enum router_hop {
	ROUTER_WIRE,   /* from a socket: routed first */
	ROUTER_ROUTED, /* from the worker that received and routed it */
	ROUTER_PLACED, /* a new call passed on by its spread slot's old owner */
};

/* One datagram or stream frame from p. */
void router_on_message(struct worker *w, const struct peer *p, const char *buf,
		       size_t len, enum router_hop hop);

/* A request sent from w did not get out, or an ICMP error reported it
 * (buf then holds the start the ICMP quoted); to is its destination. Its
 * client transaction fails with 503 at once (§17.1.4, §18.4) instead of
 * at Timer B or F. Responses and ACKs have no transaction to tell. */
void router_on_send_failed(struct worker *w, const struct peer *to, const char *buf,
			   size_t len, int err);

/* Start a client transaction on w: request msg (copied) with branch goes to
 * p. Returns it, or NULL (logged) if out of memory or transactions. */
struct rtxn *router_client_start(struct worker *w, struct leg *leg, const struct peer *p,
				 enum sip_method method, struct str branch,
				 const char *msg, size_t len);

/* Send a response on a server transaction (copied): see txn_server_respond. */
int router_respond(struct rtxn *x, const char *msg, size_t len, unsigned status);

/* Answer a request with a bodiless response built from it, on its server
 * transaction x (or statelessly when x is NULL). */
void router_reply(struct worker *w, struct rtxn *x, const struct peer *p,
		  const struct sip_msg *m, const struct sip_core *c, unsigned status,
		  const char *reason, struct str extra_headers);

/* p's address as the text and port a response's Via names (src is filled
 * and returned; NULL for an address family without text form). */
const struct sip_src *router_src(const struct peer *p, struct sip_src *src,
				 char host[INET6_ADDRSTRLEN]);

/* The leg no longer wants callbacks from x; the transaction lives on to
 * absorb retransmissions. */
void router_txn_detach(struct rtxn *x);

/* x outlives its call: no leg, no callbacks. A client INVITE takes ack
 * (malloc, may be NULL) and resends it to p for each retransmitted 2xx. */
void router_txn_orphan(struct rtxn *x, char *ack, size_t ack_len, const struct peer *p);

/* The end of one loop iteration: nothing is on the stack any more, so
 * what ended during it can be freed. */
void router_batch_end(struct worker *w);

/* Close every call and transaction of a stopping worker. */
void router_worker_stop(struct worker *w);

#endif
