/* router.h: from a received message to its transaction and call: parse,
 * route to the owning worker, match or create transactions, answer alone. */
#ifndef XFERD_ROUTER_H
#define XFERD_ROUTER_H

#include <arpa/inet.h>

#include "build.h"
#include "worker.h"

struct leg;

/* A transaction with what the worker needs to find and drive it. */
struct rtxn {
	struct txn t;
	struct hmap_node node; /* in worker->txns, by branch, side and method */
	struct worker *w;
	struct peer peer;
	struct leg *leg;       /* the call leg it belongs to, or NULL */
	enum sip_method method;
	bool server;
	uint8_t branch_n;
	char branch[128]; /* longer branches get 503: RFC 3261 sets no limit, stacks stay near 40 */
	/* The transaction on the other leg that this one relays, or NULL. */
	struct rtxn *relay;
	/* Server: a copy of the request when a response must later be built
	 * from it (relayed in-dialog requests). */
	char *req;
	size_t req_len;
	/* Client: what the leg does with responses and timeouts. */
	void (*on_response)(struct rtxn *x, const struct sip_msg *m, const struct sip_core *c);
	void (*on_timeout)(struct rtxn *x, unsigned status);
};

/* One datagram or stream frame from p. handed_off: it already went through
 * routing on another worker. */
void router_on_message(struct worker *w, const struct peer *p, const char *buf,
		       size_t len, bool handed_off);

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

/* Close every call and transaction of a stopping worker. */
void router_worker_stop(struct worker *w);

#endif
