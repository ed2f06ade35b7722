/* tcp.c: placeholder until the TCP transport lands: UDP only.
 * RFC 3261 §18. */
#include "log.h"
#include "tcp.h"

int tcp_worker_init(struct worker *w)
{
	(void)w;
	return 0;
}

void tcp_on_cqe(struct worker *w, void *ptr, struct io_uring_cqe *cqe)
{
	(void)w, (void)ptr, (void)cqe;
}

void tcp_send(struct worker *w, const struct peer *p, const char *buf, size_t len)
{
	(void)p, (void)buf, (void)len;
	atomic_fetch_add_explicit(&w->st.send_errors, 1, memory_order_relaxed);
}

void tcp_send_local(struct worker *w, const struct peer *p, const char *buf, size_t len)
{
	tcp_send(w, p, buf, len);
}

void tcp_worker_stop(struct worker *w)
{
	(void)w;
}

size_t tcp_conn_count(const struct worker *w)
{
	(void)w;
	return 0;
}
