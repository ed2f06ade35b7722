/* tcp.h: SIP over TCP for a worker: accepting, framing several messages per
 * read, reusing connections for responses and requests, idle timeouts. RFC 3261 §18. */
#ifndef XFERD_TCP_H
#define XFERD_TCP_H

#include "worker.h"

/* Open this worker's listening socket (SO_REUSEPORT on the listen address,
 * so the kernel spreads connections over the workers; IPV6_V6ONLY off) and
 * arm a multishot accept. The accepting worker owns the connection. Called
 * on the worker's thread before its wheel starts. Returns 0 or -errno. */
int tcp_worker_init(struct worker *w);

/* A completion whose user_data carried WORKER_TAG_TCP: ptr is what tcp.c put there. */
void tcp_on_cqe(struct worker *w, void *ptr, struct io_uring_cqe *cqe);

/* Send one message over TCP to p: on p->conn if it is still open (handing
 * the bytes to the worker that owns it if that is another one), else on a
 * connection to p->addr, reused or opened now (§18.1.1, §18.2.2). The bytes
 * are copied. Writes on a connection keep their order. A message that
 * cannot be sent (connect failed, the connection closed before it was
 * written, max_tcp_connections reached) is dropped, logged at info and
 * counted in w->st.send_errors: the transaction's timers see to the rest.
 * p->conn is never dereferenced unless it is a slot of this worker whose
 * generation is p->conn_gen, so a peer outliving its connection is safe. */
void tcp_send(struct worker *w, const struct peer *p, const char *buf, size_t len);

/* The owner's half of a cross-worker tcp_send (called for inbox items). */
void tcp_send_local(struct worker *w, const struct peer *p, const char *buf, size_t len);

/* Close every connection of a stopping worker and wait (bounded) for the
 * kernel to finish with their buffers; called on the worker's thread after
 * its loop ended. Completions of other kinds seen meanwhile are consumed
 * unhandled. */
void tcp_worker_stop(struct worker *w);

/* Live connections of this worker (a metric; the idle timeout bounds it).
 * max_tcp_connections bounds the sum over all workers. Valid from any
 * thread while the worker runs (not concurrently with tcp_worker_stop). */
size_t tcp_conn_count(const struct worker *w);

#endif
