/* tcp.h: SIP over TCP for a worker: accepting, framing several messages per
 * read, reusing connections for responses and requests, idle timeouts. RFC 3261 §18. */
#ifndef XFERD_TCP_H
#define XFERD_TCP_H

#include "worker.h"

/* Open this worker's listening socket (SO_REUSEPORT on the listen address,
 * so the kernel spreads connections over the workers) and arm accept.
 * Returns 0 or -errno. */
int tcp_worker_init(struct worker *w);

/* A completion whose user_data carried TAG_TCP: ptr is what tcp.c put there. */
void tcp_on_cqe(struct worker *w, void *ptr, struct io_uring_cqe *cqe);

/* Send one message over TCP to p: on p->conn if it is still open (handing
 * the bytes to the worker that owns it if that is another one), else on a
 * connection to p->addr, reused or opened now. The bytes are copied. */
void tcp_send(struct worker *w, const struct peer *p, const char *buf, size_t len);

/* The owner's half of a cross-worker tcp_send (called for inbox items). */
void tcp_send_local(struct worker *w, const struct peer *p, const char *buf, size_t len);

/* Close every connection of a stopping worker. */
void tcp_worker_stop(struct worker *w);

/* Live connections of this worker (a metric; the idle timeout bounds it). */
size_t tcp_conn_count(const struct worker *w);

#endif
