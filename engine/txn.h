/* txn.h: RFC 3261 §17 client and server transactions as I/O-free state
 * machines driven by one worker; RFC 6026 Accepted states; timers A-M. */
#ifndef XFERD_TXN_H
#define XFERD_TXN_H

#include "hdr.h"
#include "wheel.h"

enum txn_type {
	TXN_INVITE_CLIENT,
	TXN_NONINVITE_CLIENT,
	TXN_INVITE_SERVER,
	TXN_NONINVITE_SERVER,
};

/* One enum for all four machines (RFC 3261 figures 5-8, RFC 6026 fig. 3, 5). */
enum txn_state {
	TXN_CALLING,    /* INVITE client, request sent, nothing back */
	TXN_TRYING,     /* non-INVITE client or server, nothing sent back yet */
	TXN_PROCEEDING, /* a provisional response went by */
	TXN_COMPLETED,  /* final response (non-2xx for INVITE) sent or received */
	TXN_CONFIRMED,  /* INVITE server: ACK for the non-2xx arrived */
	TXN_ACCEPTED,   /* INVITE, 2xx sent or received (RFC 6026) */
	TXN_TERMINATED,
	TXN__STATE_COUNT
};

/* RFC 3261 §17.1.1.1 T1, T2, T4, in milliseconds. */
struct txn_timers {
	uint32_t t1, t2, t4;
};

struct txn;

/* What a transaction asks of the worker that owns it. Every callback may
 * be called from txn_* functions and from the wheel's timer callbacks.
 * Only on_terminated may free t: the txn still runs after the others
 * return. None may call back into the same txn, except that on_response
 * and on_timeout may read it. */
struct txn_ops {
	/* Put bytes on the wire to the transaction's peer (first send and
	 * every retransmission). The txn keeps ownership of buf, which lives
	 * until the next txn_* call or timer on t: queue a copy or send now.
	 * A failure is reported later, with txn_transport_error(). */
	void (*send)(struct txn *t, const char *buf, size_t len);
	/* Client: a response the TU must see: each provisional, the first
	 * non-2xx final, and every 2xx (the TU ACKs each 2xx itself, §13.2.2.4).
	 * NULL is allowed for a server transaction. */
	void (*on_response)(struct txn *t, const struct sip_msg *m,
			    const struct sip_core *c);
	/* Client: no final response in time (Timer B or F) or a transport
	 * error before a final response: the TU acts as if a 408 (or 503)
	 * had arrived; it never follows a final response the TU has seen.
	 * Server INVITE: 408 when Timer H fired with no ACK for a non-2xx
	 * (§17.2.1, "transaction failure"), or Timer L with no ACK for a 2xx
	 * (§13.3.1.4: the TU should send BYE). Always followed by
	 * on_terminated. */
	void (*on_timeout)(struct txn *t, unsigned status);
	/* The transaction reached Terminated: the worker unlinks and frees it
	 * (from inside this callback or later; the txn touches nothing after).
	 * Called exactly once, as the last thing the txn does. */
	void (*on_terminated)(struct txn *t);
	/* Optional (NULL): a non-INVITE client over UDP reached Completed,
	 * where for Timer K (ms, T4) it would only absorb retransmitted
	 * finals (§17.1.2.2). Returning true says the worker absorbs them
	 * itself for that long, from a key of a few bytes (ctab.h): the txn
	 * then terminates at once instead of holding its memory, hash entry
	 * and timer. Called after on_response; must not free t. */
	bool (*on_completed)(struct txn *t, uint32_t ms);
	/* Optional (NULL): every state change, t->state already the new one;
	 * the worker counts transitions for its metrics (STYLE rule 13). */
	void (*on_state)(struct txn *t, enum txn_state from);
};

struct txn {
	enum txn_type type;
	enum txn_state state;
	/* TCP: Timers A, E, G off and D, I, J, K zero. The INVITE server's
	 * 2xx is still retransmitted: that is end to end, "independent of
	 * whatever transport protocols are used" (§13.3.1.4). */
	bool reliable;
	bool got_ack;    /* INVITE server in Accepted: the 2xx was ACKed */
	uint16_t last_status;
	uint32_t retx_ms; /* current retransmission interval (A, E, G) */
	uint32_t retransmits; /* sends repeating an earlier one (metric) */
	struct wheel *wheel;
	struct wheel_timer retx;    /* A, E, G, and 2xx retransmission */
	struct wheel_timer timeout; /* B, D, F, H, I, J, K, L, M */
	const struct txn_ops *ops;
	const struct txn_timers *timers;
	/* Client: the request (retransmitted, and the source of the ACK for
	 * a non-2xx); INVITE client in Completed: that ACK, which replaced
	 * it. Server: the last response sent. Owned by the txn (malloc). */
	char *msg;
	size_t msg_len;
	void *owner; /* the TU's object (call leg); the txn never reads it */
};

/* Prepare t in its machine's first state (Calling, Trying, Proceeding
 * for an INVITE server, Trying). No I/O, no timers yet. timers and ops
 * must outlive t.
 *
 * Every txn_* function below may reach Terminated, and so call
 * on_terminated, before it returns (a final response over TCP ends a
 * transaction at once: Timers D, I, J, K are zero there): if that callback
 * frees t, the caller must not touch t after the call. Once t is
 * Terminated (and not freed) every function is a no-op. */
void txn_init(struct txn *t, enum txn_type type, bool reliable, struct wheel *w,
	      const struct txn_timers *timers, const struct txn_ops *ops, void *owner);

/* Client: send the request and arm A/B (INVITE) or E/F. req is copied.
 * Returns 0, -ENOMEM, or -EINVAL for a server or an already started txn. */
int txn_client_start(struct txn *t, const char *req, size_t len);

/* Client: a response matched this transaction (§17.1.3, done by the
 * caller with core). Passes it to ops->on_response or absorbs it
 * (retransmitted finals, anything in Completed, non-2xx in Accepted); for
 * an INVITE non-2xx final it builds and sends the ACK (§17.1.1.3) itself,
 * and resends it for each retransmission of that final. core is not read
 * beyond the caller's matching. */
void txn_client_on_response(struct txn *t, const struct sip_msg *m,
			    const struct sip_core *core);

/* Server: a retransmission of the request arrived: resend the last
 * response, if any (§17.2.1, §17.2.2). */
void txn_server_on_request(struct txn *t);

/* Server INVITE: an ACK matched it. In Completed (non-2xx) it moves to
 * Confirmed; in Accepted (2xx, matched by the dialog) it stops the 2xx
 * retransmissions. */
void txn_server_on_ack(struct txn *t);

/* Server: send a response (copied). Provisional responses keep it in
 * (or move it to) Proceeding; finals move it on per §17.2.1/§17.2.2 and
 * RFC 6026. An INVITE server retransmits its 2xx (T1 doubling to T2, on
 * any transport) until txn_server_on_ack() or Timer L. Returns 0, -ENOMEM,
 * or -EINVAL if a final was already sent, status is not 100-699, or t is
 * a client. */
int txn_server_respond(struct txn *t, const char *resp, size_t len, unsigned status);

/* The transport reported that a send failed (§17.1.4, §17.2.4): the txn
 * terminates; a client that had not yet passed a final response up, or an
 * INVITE server still waiting for the ACK of its final, calls
 * on_timeout(503) first. */
void txn_transport_error(struct txn *t);

/* Stop timers and free the message copy; the worker then frees t.
 * Does not call on_terminated. Idempotent; the txn calls it itself just
 * before on_terminated, so the worker need not (but may) call it there. */
void txn_destroy(struct txn *t);

/* Past its final response (and, for an INVITE server's 2xx, its ACK): t
 * only absorbs retransmissions now, and needs nothing of its TU but an
 * INVITE client's ACK for each 2xx. */
bool txn_settled(const struct txn *t);

/* "Calling", "Proceeding"... for logs and metric labels. */
const char *txn_state_name(enum txn_state s);

/* "invite_client", "noninvite_server"... for logs and metric labels. */
const char *txn_type_name(enum txn_type type);

#endif
