/* tcp.c: SIP over TCP for one worker: multishot accept, framed receive,
 * ordered writes, connection reuse and idle timeouts. RFC 3261 §18, RFC 5626 §3.5.1. */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "log.h"
#include "router.h"
#include "tcp.h"

#define container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

/* worker.c keeps its tag in the low bits of user_data (worker.h). */
#define TCP_TAG_MASK 7u
#define TCP_RX_INITIAL 4096
/* Bytes queued on one connection before further messages are dropped: a
 * peer that reads nothing must not make the worker buffer without end. */
#define TCP_WQ_MAX (4u << 20)
/* After a failed accept (EMFILE...), wait before trying again rather than
 * spin on the same error. */
#define TCP_ACCEPT_RETRY_MS 100
/* How long a stopping worker waits for its cancelled operations. */
#define TCP_STOP_WAIT_MS 2000

enum tcp_op_kind {
	TCP_OP_ACCEPT,
	TCP_OP_RECV,
	TCP_OP_SEND,
	TCP_OP_CONNECT,
	TCP_OP_CANCEL, /* a connection's cancel: its completion may release the slot */
	TCP_OP_IGNORE, /* the listener's cancel: nothing to do */
};

/* What a user_data points at: one per operation that can be in flight, so a
 * completion names both its object and its operation. 8-aligned because
 * worker.c keeps its tag in the low 3 bits. */
struct tcp_op {
	_Alignas(8) uint8_t kind;
};

enum conn_state {
	CONN_FREE,       /* in the free list, or never used */
	CONN_CONNECTING, /* ours, connect in flight; messages wait in the queue */
	CONN_OPEN,
	CONN_CLOSING,    /* closed for everyone; waits for its operations to end */
};

/* A remote address as one comparable key: IPv4 as IPv4-mapped IPv6, so an
 * IPv4 peer of a dual-stack listener matches a URI's IPv4 address. */
struct tcp_key {
	uint8_t ip[16];
	uint16_t port; /* network order */
};

struct tcp_wbuf {
	struct tcp_wbuf *next;
	size_t len, off; /* off: bytes already written */
	char data[];
};

/* A connection slot. Slots live in one array per worker and are never
 * freed while the worker runs, so a peer's conn pointer can be range-checked
 * against the array and its gen compared without touching freed memory.
 * gen increments at each close: every peer naming an older gen is stale. */
struct tcp_conn {
	struct tcp_op rx_op, tx_op, cx_op, cancel_op;
	struct tcp_worker *tw;
	enum conn_state state;
	uint32_t gen;
	int fd;
	bool outbound;
	bool rx_busy, tx_busy, cx_busy, cancel_busy; /* operations in flight */
	bool in_rx;     /* delivering frames: the receive buffer is in use */
	bool rx_eof;    /* the peer half-closed: close once the queue is written */
	bool in_table;  /* in tw->by_addr */
	int err;        /* why it failed (connect or send), for the requests queued */
	struct hmap_node node;
	struct tcp_conn *next_free;
	struct wheel_timer idle; /* idle timeout; connect timeout while connecting */
	char *rx;
	size_t rx_len, rx_cap;
	struct sip_frame frame;
	struct tcp_wbuf *wq, **wq_tail;
	size_t wq_bytes;
	unsigned wq_msgs;
	struct tcp_key key;
	socklen_t addr_len;
	union peer_addr addr;
};

/* One worker's TCP state: its listener and its connection slots. Touched
 * only by the worker's thread, except live (read by metrics). */
struct tcp_worker {
	struct tcp_op accept_op, ignore_op;
	struct worker *w;
	int lfd;
	bool accept_busy, accept_multishot, stopping;
	struct wheel_timer accept_retry;
	struct tcp_conn *slots; /* nslots, mmap'd: slots never used cost no memory */
	size_t slots_bytes;
	uint32_t nslots, used;  /* used: slots handed out at least once */
	struct tcp_conn *free;  /* released slots, most recent first */
	struct hmap by_addr;    /* open and connecting slots by struct tcp_key */
	_Atomic size_t live;
};

/* max_tcp_connections bounds the process, not each worker: the kernel
 * spreads accepted connections over the workers unevenly. One atomic per
 * connection opened or closed, never per message. Two workers accepting at
 * the same instant may overshoot the limit by at most workers - 1. */
static _Atomic size_t tcp_open_total;

static void conn_close(struct tcp_conn *c, const char *why);
static void conn_send_arm(struct tcp_conn *c);

static void op_set(struct io_uring_sqe *sqe, struct tcp_op *op)
{
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)op | WORKER_TAG_TCP);
}

/* The only legal moves: FREE → CONNECTING | OPEN, CONNECTING → OPEN,
 * CONNECTING | OPEN → CLOSING, CLOSING → FREE. */
static void conn_set_state(struct tcp_conn *c, enum conn_state to)
{
	switch (to) {
	case CONN_CONNECTING:
		assert(c->state == CONN_FREE);
		break;
	case CONN_OPEN:
		assert(c->state == CONN_FREE || c->state == CONN_CONNECTING);
		break;
	case CONN_CLOSING:
		assert(c->state == CONN_CONNECTING || c->state == CONN_OPEN);
		break;
	case CONN_FREE:
		assert(c->state == CONN_CLOSING);
		break;
	}
	c->state = to;
}

static const char *addr_text(const union peer_addr *ss, char *buf, size_t n)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (ss->sa.sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		snprintf(buf, n, "%s:%u", ip, ntohs(in->sin_port));
	} else if (ss->sa.sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, n, "[%s]:%u", ip, ntohs(in6->sin6_port));
	} else {
		snprintf(buf, n, "?");
	}
	return buf;
}

static int addr_key(const union peer_addr *ss, socklen_t len, struct tcp_key *k)
{
	memset(k, 0, sizeof(*k));
	if (ss->sa.sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		k->ip[10] = k->ip[11] = 0xff;
		memcpy(&k->ip[12], &in->sin_addr, 4);
		k->port = in->sin_port;
		return 0;
	}
	if (ss->sa.sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		memcpy(k->ip, &in6->sin6_addr, 16);
		k->port = in6->sin6_port;
		return 0;
	}
	return -EAFNOSUPPORT;
}

static uint32_t key_hash(const struct tcp_key *k)
{
	return hmap_hash(str_make((const char *)k, sizeof(*k)), HMAP_SEED);
}

static bool key_eq(const struct tcp_key *a, const struct tcp_key *b)
{
	return a->port == b->port && !memcmp(a->ip, b->ip, sizeof(a->ip));
}

static uint64_t idle_ms(const struct worker *w)
{
	return (uint64_t)w->cfg->engine.tcp_idle_timeout * 1000u;
}

/* A connect gets as long as a non-INVITE transaction (64*T1, Timer F) and
 * no longer than the idle timeout: the kernel's own SYN retries last minutes. */
static uint64_t connect_ms(const struct worker *w)
{
	uint64_t f = (uint64_t)w->cfg->engine.t1_ms * 64u;

	return f < idle_ms(w) ? f : idle_ms(w);
}

/* The receive buffer's bound: a full header block and the largest body. */
static size_t rx_max(const struct worker *w)
{
	return (size_t)SIP_FRAME_MAX_HEADER + w->cfg->engine.max_message_size;
}

static void conn_timer_arm(struct tcp_conn *c, uint64_t ms)
{
	struct worker *w = c->tw->w;

	wheel_timer_start(&w->wheel, &c->idle, w->now_ms + ms);
}

static void conn_on_timer(struct wheel_timer *t)
{
	struct tcp_conn *c = container_of(t, struct tcp_conn, idle);

	conn_close(c, c->state == CONN_CONNECTING ? "connect timed out" : "idle timeout");
}

/* ---- slots ---- */

static struct tcp_conn *slot_get(struct tcp_worker *tw)
{
	struct tcp_conn *c = tw->free;

	if (c) {
		tw->free = c->next_free;
		return c;
	}
	if (tw->used == tw->nslots)
		return NULL;
	c = &tw->slots[tw->used++];
	c->rx_op.kind = TCP_OP_RECV;
	c->tx_op.kind = TCP_OP_SEND;
	c->cx_op.kind = TCP_OP_CONNECT;
	c->cancel_op.kind = TCP_OP_CANCEL;
	c->tw = tw;
	c->fd = -1;
	wheel_timer_init(&c->idle, conn_on_timer);
	return c;
}

/* The slot p->conn names, if it is one of ours, of p's generation and
 * usable. The pointer is only compared until it is known to be a slot of
 * this worker: a stale or foreign one is never dereferenced. */
static struct tcp_conn *conn_of_peer(struct tcp_worker *tw, const struct peer *p)
{
	uintptr_t base = (uintptr_t)tw->slots, at = (uintptr_t)p->conn;
	struct tcp_conn *c;

	if (!p->conn || at < base || at >= base + (uintptr_t)tw->used * sizeof(*c) ||
	    (at - base) % sizeof(*c))
		return NULL;
	c = &tw->slots[(at - base) / sizeof(*c)];
	if (c->gen != p->conn_gen || (c->state != CONN_OPEN && c->state != CONN_CONNECTING))
		return NULL;
	return c;
}

/* An open (or opening) connection to addr, for reuse (§18.1.1, §18.2.2). */
static struct tcp_conn *conn_lookup(struct tcp_worker *tw, const struct tcp_key *k)
{
	for (struct hmap_node *n = hmap_first(&tw->by_addr, key_hash(k)); n; n = hmap_next(n)) {
		struct tcp_conn *c = container_of(n, struct tcp_conn, node);

		if (key_eq(&c->key, k) && !c->rx_eof)
			return c;
	}
	return NULL;
}

static void wq_free(struct tcp_conn *c)
{
	while (c->wq) {
		struct tcp_wbuf *b = c->wq;

		c->wq = b->next;
		free(b);
	}
	c->wq_tail = &c->wq;
	c->wq_bytes = 0;
	c->wq_msgs = 0;
}

/* The peer that messages on c come from and go to. */
static struct peer conn_peer(const struct tcp_conn *c)
{
	struct peer p = {
		.fd = c->fd,
		.reliable = true,
		.conn = (struct tcp_conn *)c,
		.conn_gen = c->gen,
		.conn_owner = (uint8_t)c->tw->w->id,
		.addr_len = c->addr_len,
	};

	memcpy(&p.addr, &c->addr, c->addr_len);
	return p;
}

/* A message that will never be written: its request's transaction learns
 * it (router_on_send_failed()) when the worker drains its inbox, not here,
 * inside a send that the transaction's own user may have started. */
static void send_failed(struct worker *w, const struct peer *p, const char *buf, size_t len,
			int err)
{
	stats_inc(&w->st.send_errors);
	worker_handoff_send_failed(w, w->id, p, buf, len, err);
}

static struct tcp_conn *conn_new(struct tcp_worker *tw, int fd, const union peer_addr *ss,
				 socklen_t len, bool outbound)
{
	struct tcp_conn *c;
	struct tcp_key k;
	int one = 1;

	if (len > sizeof(union peer_addr) || addr_key(ss, len, &k) || !(c = slot_get(tw)))
		return NULL;
	conn_set_state(c, outbound ? CONN_CONNECTING : CONN_OPEN);
	c->fd = fd;
	c->outbound = outbound;
	c->rx_busy = c->tx_busy = c->cx_busy = c->cancel_busy = false;
	c->in_rx = c->rx_eof = false;
	c->err = 0;
	c->rx = NULL;
	c->rx_len = c->rx_cap = 0;
	c->frame = (struct sip_frame){ .max_body = tw->w->cfg->engine.max_message_size };
	c->wq = NULL;
	c->wq_tail = &c->wq;
	c->wq_bytes = 0;
	c->wq_msgs = 0;
	c->key = k;
	c->addr_len = len;
	memcpy(&c->addr, ss, len);
	hmap_insert(&tw->by_addr, &c->node, key_hash(&k));
	c->in_table = true;
	/* Each write is a whole message: Nagle would only delay the next one. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	atomic_fetch_add_explicit(&tw->live, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&tcp_open_total, 1, memory_order_relaxed);
	return c;
}

/* The last step of a close, once nothing the kernel holds points into c. */
static void conn_release_if_done(struct tcp_conn *c)
{
	struct tcp_worker *tw = c->tw;

	if (c->state != CONN_CLOSING || c->rx_busy || c->tx_busy || c->cx_busy ||
	    c->cancel_busy || c->in_rx)
		return;
	close(c->fd);
	c->fd = -1;
	free(c->rx);
	c->rx = NULL;
	c->rx_len = c->rx_cap = 0;
	wq_free(c);
	conn_set_state(c, CONN_FREE);
	c->next_free = tw->free;
	tw->free = c;
}

/* Close c for everyone at once (a new gen, out of the table), then wait for
 * its operations: the fd stays open until they end, so that its number
 * cannot be reused under an operation or a cancel still naming it. */
static void conn_close(struct tcp_conn *c, const char *why)
{
	struct tcp_worker *tw = c->tw;
	struct worker *w = tw->w;
	char a[64];

	if (c->state == CONN_FREE || c->state == CONN_CLOSING)
		return;
	if (c->wq_msgs) {
		struct peer p = conn_peer(c);

		log_info("worker %u: tcp %s: %s, %u queued message(s) dropped", w->id,
			 addr_text(&c->addr, a, sizeof(a)), why, c->wq_msgs);
		for (struct tcp_wbuf *b = c->wq; b; b = b->next)
			send_failed(w, &p, b->data, b->len, c->err ? c->err : -ECONNRESET);
	} else {
		log_debug("worker %u: tcp %s: closed (%s)", w->id, addr_text(&c->addr, a, sizeof(a)),
			  why);
	}
	conn_set_state(c, CONN_CLOSING);
	c->gen++;
	if (c->in_table)
		hmap_remove(&tw->by_addr, &c->node);
	c->in_table = false;
	wheel_timer_cancel(&c->idle);
	atomic_fetch_sub_explicit(&tw->live, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&tcp_open_total, 1, memory_order_relaxed);
	if (c->rx_busy || c->tx_busy || c->cx_busy) {
		struct io_uring_sqe *sqe = worker_sqe(w);

		/* shutdown wakes a pending recv or send; the cancel also
		 * stops a connect, which shutdown may restart instead. */
		shutdown(c->fd, SHUT_RDWR);
		if (sqe) {
			io_uring_prep_cancel_fd(sqe, c->fd, IORING_ASYNC_CANCEL_ALL);
			op_set(sqe, &c->cancel_op);
			c->cancel_busy = true;
		}
	}
	conn_release_if_done(c);
}

/* ---- receive ---- */

static int conn_recv_arm(struct tcp_conn *c)
{
	struct worker *w = c->tw->w;
	struct io_uring_sqe *sqe;

	if (c->rx_len == c->rx_cap) {
		size_t max = rx_max(w), cap = c->rx_cap ? c->rx_cap * 2 : TCP_RX_INITIAL;
		char *p;

		if (c->rx_cap >= max)
			return -EMSGSIZE;
		if (cap > max)
			cap = max;
		p = realloc(c->rx, cap);
		if (!p)
			return -ENOMEM;
		c->rx = p;
		c->rx_cap = cap;
	}
	sqe = worker_sqe(w);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_recv(sqe, c->fd, c->rx + c->rx_len, c->rx_cap - c->rx_len, 0);
	op_set(sqe, &c->rx_op);
	c->rx_busy = true;
	return 0;
}

static int conn_queue(struct tcp_conn *c, const char *buf, size_t len)
{
	struct worker *w = c->tw->w;
	struct tcp_wbuf *b;
	char a[64];

	if (c->wq_bytes + len > TCP_WQ_MAX || !(b = malloc(sizeof(*b) + len))) {
		struct peer p = conn_peer(c);

		log_info("worker %u: tcp %s: %s, message dropped", w->id,
			 addr_text(&c->addr, a, sizeof(a)),
			 c->wq_bytes + len > TCP_WQ_MAX ? "peer not reading" : "out of memory");
		send_failed(w, &p, buf, len, -ENOBUFS);
		return -ENOBUFS;
	}
	b->next = NULL;
	b->len = len;
	b->off = 0;
	memcpy(b->data, buf, len);
	*c->wq_tail = b;
	c->wq_tail = &b->next;
	c->wq_bytes += len;
	c->wq_msgs++;
	if (c->state == CONN_OPEN && !c->tx_busy)
		conn_send_arm(c);
	return 0;
}

static void conn_deliver(struct tcp_conn *c, const char *buf, size_t len)
{
	struct worker *w = c->tw->w;
	struct peer p = conn_peer(c);

	stats_inc(&w->st.msgs_in);
	router_on_message(w, &p, buf, len, ROUTER_WIRE);
}

/* Cut every complete frame out of the buffer and hand it on; keep the
 * partial one, moved to the front. Returns 0, or -1 if c was closed. */
static int conn_frames(struct tcp_conn *c)
{
	struct worker *w = c->tw->w;
	size_t off = 0, flen;
	enum sip_frame_kind kind;
	char a[64];
	int r;

	/* Delivering may send on c, and a send may (some day) close it: in_rx
	 * keeps the buffer alive until the loop is done with it. */
	c->in_rx = true;
	while (c->state == CONN_OPEN && off < c->rx_len) {
		r = sip_frame_next(&c->frame, c->rx + off, c->rx_len - off, &flen, &kind);
		if (r == 0)
			break;
		if (r < 0) {
			stats_inc(&w->st.parse_errors);
			log_info("worker %u: tcp %s: %s at byte %zu, closing", w->id,
				 addr_text(&c->addr, a, sizeof(a)), c->frame.err,
				 c->frame.err_at);
			conn_close(c, "framing error");
			break;
		}
		if (kind == SIP_FRAME_MESSAGE)
			conn_deliver(c, c->rx + off, flen);
		else if (kind == SIP_FRAME_PING) /* RFC 5626 §3.5.1: answer with a pong */
			conn_queue(c, "\r\n", 2);
		off += flen;
	}
	c->in_rx = false;
	if (c->state != CONN_OPEN) {
		conn_release_if_done(c);
		return -1;
	}
	if (off) {
		memmove(c->rx, c->rx + off, c->rx_len - off);
		c->rx_len -= off;
	}
	/* One large message must not pin a large buffer on an idle connection. */
	if (c->rx_cap > TCP_RX_INITIAL && c->rx_len <= TCP_RX_INITIAL / 2) {
		char *p = realloc(c->rx, TCP_RX_INITIAL);

		if (p) {
			c->rx = p;
			c->rx_cap = TCP_RX_INITIAL;
		}
	}
	return 0;
}

static void conn_on_recv(struct tcp_conn *c, int res)
{
	struct worker *w = c->tw->w;
	char why[64];
	int r;

	c->rx_busy = false;
	if (c->state != CONN_OPEN) {
		conn_release_if_done(c);
		return;
	}
	if (res < 0) {
		snprintf(why, sizeof(why), "receive failed: %s", strerror(-res));
		conn_close(c, why);
		return;
	}
	if (res == 0) {
		/* A half-close: the peer may still read what we owe it. */
		c->rx_eof = true;
		if (!c->wq)
			conn_close(c, "closed by the peer");
		return;
	}
	c->rx_len += (size_t)res;
	conn_timer_arm(c, idle_ms(w));
	if (conn_frames(c))
		return;
	r = conn_recv_arm(c);
	if (r) {
		snprintf(why, sizeof(why), "cannot receive: %s", strerror(-r));
		conn_close(c, why);
	}
}

/* ---- send ---- */

/* One write in flight per connection keeps messages in order; a short
 * write continues from where it stopped. */
static void conn_send_arm(struct tcp_conn *c)
{
	struct tcp_wbuf *b = c->wq;
	struct io_uring_sqe *sqe = worker_sqe(c->tw->w);

	if (!sqe) {
		conn_close(c, "no submission entry for a send");
		return;
	}
	io_uring_prep_send(sqe, c->fd, b->data + b->off, b->len - b->off, MSG_NOSIGNAL);
	op_set(sqe, &c->tx_op);
	c->tx_busy = true;
}

static void conn_on_send(struct tcp_conn *c, int res)
{
	struct worker *w = c->tw->w;
	struct tcp_wbuf *b = c->wq;
	char why[64];

	c->tx_busy = false;
	if (c->state != CONN_OPEN) {
		conn_release_if_done(c);
		return;
	}
	if (res <= 0) {
		c->err = res ? res : -EPIPE;
		snprintf(why, sizeof(why), "send failed: %s", res ? strerror(-res) : "nothing written");
		conn_close(c, why);
		return;
	}
	conn_timer_arm(c, idle_ms(w));
	b->off += (size_t)res;
	if (b->off == b->len) {
		c->wq = b->next;
		if (!c->wq)
			c->wq_tail = &c->wq;
		c->wq_bytes -= b->len;
		c->wq_msgs--;
		free(b);
	}
	if (c->wq)
		conn_send_arm(c);
	else if (c->rx_eof)
		conn_close(c, "closed by the peer");
}

/* ---- connect ---- */

/* Connections xferd opens leave from the listen address when it is not a
 * wildcard, so the peer sees the address that Via and Contact name. */
static void conn_bind_source(int fd, const struct config_addr *listen, int family)
{
	struct sockaddr_storage ss = listen->sa;
	int one = 1;

	if (ss.ss_family != family)
		return;
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		if (in->sin_addr.s_addr == htonl(INADDR_ANY))
			return;
		in->sin_port = 0;
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr))
			return;
		in6->sin6_port = 0;
	}
	/* The port is chosen at connect, per destination: no ephemeral
	 * port is spent on bind alone. */
	setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	bind(fd, (struct sockaddr *)&ss, listen->sa_len);
}

static struct tcp_conn *conn_connect(struct tcp_worker *tw, const struct peer *p)
{
	struct worker *w = tw->w;
	const struct config_engine *ce = &w->cfg->engine;
	struct io_uring_sqe *sqe;
	struct tcp_conn *c;
	char a[64];
	int fd;

	if (atomic_load_explicit(&tcp_open_total, memory_order_relaxed) >= ce->max_tcp_connections) {
		log_info("worker %u: tcp %s: max_tcp_connections (%u) reached, message dropped",
			 w->id, addr_text(&p->addr, a, sizeof(a)), ce->max_tcp_connections);
		return NULL;
	}
	fd = socket(p->addr.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_info("worker %u: tcp %s: socket: %s, message dropped", w->id,
			 addr_text(&p->addr, a, sizeof(a)), strerror(errno));
		return NULL;
	}
	conn_bind_source(fd, &ce->listen, p->addr.sa.sa_family);
	c = conn_new(tw, fd, &p->addr, p->addr_len, true);
	if (!c) {
		log_info("worker %u: tcp %s: no connection slot, message dropped", w->id,
			 addr_text(&p->addr, a, sizeof(a)));
		close(fd);
		return NULL;
	}
	sqe = worker_sqe(w);
	if (!sqe) {
		conn_close(c, "no submission entry for a connect");
		return NULL;
	}
	io_uring_prep_connect(sqe, fd, (struct sockaddr *)&c->addr, c->addr_len);
	op_set(sqe, &c->cx_op);
	c->cx_busy = true;
	conn_timer_arm(c, connect_ms(w));
	log_debug("worker %u: tcp %s: connecting", w->id, addr_text(&c->addr, a, sizeof(a)));
	return c;
}

static void conn_on_connect(struct tcp_conn *c, int res)
{
	struct worker *w = c->tw->w;
	char why[64];
	int r;

	c->cx_busy = false;
	if (c->state != CONN_CONNECTING) {
		conn_release_if_done(c);
		return;
	}
	if (res < 0) {
		c->err = res;
		snprintf(why, sizeof(why), "connect failed: %s", strerror(-res));
		conn_close(c, why);
		return;
	}
	conn_set_state(c, CONN_OPEN);
	conn_timer_arm(c, idle_ms(w));
	r = conn_recv_arm(c);
	if (r) {
		snprintf(why, sizeof(why), "cannot receive: %s", strerror(-r));
		conn_close(c, why);
		return;
	}
	if (c->wq && !c->tx_busy)
		conn_send_arm(c);
}

/* ---- accept ---- */

static void accept_arm(struct tcp_worker *tw)
{
	struct io_uring_sqe *sqe = worker_sqe(tw->w);

	if (!sqe) {
		wheel_timer_start(&tw->w->wheel, &tw->accept_retry,
				  tw->w->now_ms + TCP_ACCEPT_RETRY_MS);
		return;
	}
	/* No address buffer: a multishot accept would share one between
	 * completions; getpeername() on the new socket is exact. */
	if (tw->accept_multishot)
		io_uring_prep_multishot_accept(sqe, tw->lfd, NULL, NULL,
					       SOCK_NONBLOCK | SOCK_CLOEXEC);
	else
		io_uring_prep_accept(sqe, tw->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	op_set(sqe, &tw->accept_op);
	tw->accept_busy = true;
}

static void on_accept_retry(struct wheel_timer *t)
{
	struct tcp_worker *tw = container_of(t, struct tcp_worker, accept_retry);

	if (!tw->stopping && !tw->accept_busy)
		accept_arm(tw);
}

static void conn_accept(struct tcp_worker *tw, int fd)
{
	struct worker *w = tw->w;
	uint32_t max = w->cfg->engine.max_tcp_connections;
	union peer_addr ss;
	socklen_t len = sizeof(ss);
	struct tcp_conn *c;
	char a[64];
	int r;

	if (tw->stopping || getpeername(fd, (struct sockaddr *)&ss, &len) < 0) {
		close(fd);
		return;
	}
	if (atomic_load_explicit(&tcp_open_total, memory_order_relaxed) >= max ||
	    !(c = conn_new(tw, fd, &ss, len, false))) {
		log_info("worker %u: tcp %s: max_tcp_connections (%u) reached, closed", w->id,
			 addr_text(&ss, a, sizeof(a)), max);
		close(fd);
		return;
	}
	conn_timer_arm(c, idle_ms(w));
	r = conn_recv_arm(c);
	if (r) {
		snprintf(a, sizeof(a), "cannot receive: %s", strerror(-r));
		conn_close(c, a);
		return;
	}
	log_debug("worker %u: tcp %s: accepted", w->id, addr_text(&c->addr, a, sizeof(a)));
}

static void on_accept(struct tcp_worker *tw, struct io_uring_cqe *cqe)
{
	struct worker *w = tw->w;
	bool more = cqe->flags & IORING_CQE_F_MORE, now = true;

	if (!more)
		tw->accept_busy = false;
	if (cqe->res >= 0) {
		conn_accept(tw, cqe->res);
	} else if (cqe->res == -EINVAL && tw->accept_multishot && !tw->stopping) {
		log_info("worker %u: multishot accept unsupported, accepting one at a time", w->id);
		tw->accept_multishot = false;
	} else if (cqe->res != -ECANCELED && !tw->stopping) {
		log_warn("worker %u: tcp accept failed: %s", w->id, strerror(-cqe->res));
		now = false;
	}
	if (more || tw->stopping)
		return;
	if (now)
		accept_arm(tw);
	else
		wheel_timer_start(&w->wheel, &tw->accept_retry, w->now_ms + TCP_ACCEPT_RETRY_MS);
}

/* ---- the API ---- */

static int listen_open(const struct config_addr *a)
{
	struct sockaddr_storage ss = a->sa;
	int fd, one = 1, zero = 0, err;

	if (ss.ss_family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_port = htons(a->port);
	else
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(a->port);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, (struct sockaddr *)&ss, a->sa_len) < 0 || listen(fd, SOMAXCONN) < 0)
		goto fail;
	return fd;
fail:
	err = -errno;
	close(fd);
	return err;
}

int tcp_worker_init(struct worker *w)
{
	const struct config_engine *ce = &w->cfg->engine;
	struct tcp_worker *tw = calloc(1, sizeof(*tw));
	int r = -ENOMEM;

	if (!tw)
		return -ENOMEM;
	tw->w = w;
	tw->lfd = -1;
	tw->accept_op.kind = TCP_OP_ACCEPT;
	tw->ignore_op.kind = TCP_OP_IGNORE;
	tw->accept_multishot = true;
	wheel_timer_init(&tw->accept_retry, on_accept_retry);
	/* Any worker may hold every connection of the process. Reserved, not
	 * committed: a page is only touched when a slot on it is first used. */
	tw->nslots = ce->max_tcp_connections;
	tw->slots_bytes = (size_t)tw->nslots * sizeof(struct tcp_conn);
	tw->slots = mmap(NULL, tw->slots_bytes, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (tw->slots == MAP_FAILED) {
		tw->slots = NULL;
		r = -errno;
		goto out;
	}
	r = hmap_init(&tw->by_addr, 64);
	if (r)
		goto out;
	tw->lfd = listen_open(&ce->listen);
	if (tw->lfd < 0) {
		r = tw->lfd;
		log_error("worker %u: cannot listen on TCP %s: %s", w->id, ce->listen.text,
			  strerror(-r));
		goto out;
	}
	w->tcp = tw;
	/* The wheel is not initialised yet (worker_main starts it after the
	 * I/O setup): arming accept touches only the ring. */
	accept_arm(tw);
	return 0;
out:
	if (tw->by_addr.buckets)
		hmap_free(&tw->by_addr);
	if (tw->slots)
		munmap(tw->slots, tw->slots_bytes);
	free(tw);
	return r;
}

void tcp_on_cqe(struct worker *w, void *ptr, struct io_uring_cqe *cqe)
{
	struct tcp_op *op = ptr;
	struct tcp_conn *c;

	(void)w;
	switch (op->kind) {
	case TCP_OP_ACCEPT:
		on_accept(container_of(op, struct tcp_worker, accept_op), cqe);
		break;
	case TCP_OP_RECV:
		conn_on_recv(container_of(op, struct tcp_conn, rx_op), cqe->res);
		break;
	case TCP_OP_SEND:
		conn_on_send(container_of(op, struct tcp_conn, tx_op), cqe->res);
		break;
	case TCP_OP_CONNECT:
		conn_on_connect(container_of(op, struct tcp_conn, cx_op), cqe->res);
		break;
	case TCP_OP_CANCEL:
		c = container_of(op, struct tcp_conn, cancel_op);
		c->cancel_busy = false;
		conn_release_if_done(c);
		break;
	default:
		break;
	}
}

void tcp_send_local(struct worker *w, const struct peer *p, const char *buf, size_t len)
{
	struct tcp_worker *tw = w->tcp;
	struct tcp_conn *c;
	struct tcp_key k;

	if (!tw || tw->stopping) {
		stats_inc(&w->st.send_errors);
		return;
	}
	c = conn_of_peer(tw, p);
	if (!c && addr_key(&p->addr, p->addr_len, &k) == 0) {
		c = conn_lookup(tw, &k);
		if (!c)
			c = conn_connect(tw, p);
	}
	if (!c) {
		send_failed(w, p, buf, len, -ENOTCONN);
		return;
	}
	conn_queue(c, buf, len);
}

void tcp_send(struct worker *w, const struct peer *p, const char *buf, size_t len)
{
	if (p->conn && p->conn_owner != w->id && p->conn_owner < w->eng->nworkers) {
		worker_handoff_send(w, p->conn_owner, p, buf, len);
		return;
	}
	tcp_send_local(w, p, buf, len);
}

static bool tw_busy(const struct tcp_worker *tw)
{
	if (tw->accept_busy)
		return true;
	for (uint32_t i = 0; i < tw->used; i++) {
		if (tw->slots[i].state != CONN_FREE)
			return true;
	}
	return false;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The worker's loop has ended, so reap here until every operation of ours
 * has completed: only then may the buffers they name be freed. Other
 * completions are consumed unhandled, as nothing else reaps them now. */
static void tw_reap(struct tcp_worker *tw)
{
	struct io_uring *ring = &tw->w->ring;
	uint64_t until = mono_ms() + TCP_STOP_WAIT_MS;

	while (tw_busy(tw) && mono_ms() < until) {
		struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = 50 * 1000 * 1000 };
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;

		io_uring_submit_and_wait_timeout(ring, &cqe, 1, &ts, NULL);
		io_uring_for_each_cqe(ring, head, cqe) {
			uint64_t ud = io_uring_cqe_get_data64(cqe);

			if ((ud & TCP_TAG_MASK) == WORKER_TAG_TCP)
				tcp_on_cqe(tw->w, (void *)(uintptr_t)(ud & ~(uint64_t)TCP_TAG_MASK),
					   cqe);
			n++;
		}
		io_uring_cq_advance(ring, n);
	}
}

void tcp_worker_stop(struct worker *w)
{
	struct tcp_worker *tw = w->tcp;
	struct io_uring_sqe *sqe;

	if (!tw)
		return;
	tw->stopping = true;
	wheel_timer_cancel(&tw->accept_retry);
	/* What the routers queued while stopping (BYEs...) goes out first. */
	io_uring_submit(&w->ring);
	for (uint32_t i = 0; i < tw->used; i++)
		conn_close(&tw->slots[i], "worker stopping");
	if (tw->accept_busy && (sqe = worker_sqe(w))) {
		io_uring_prep_cancel_fd(sqe, tw->lfd, IORING_ASYNC_CANCEL_ALL);
		op_set(sqe, &tw->ignore_op);
	}
	tw_reap(tw);
	w->tcp = NULL;
	if (tw_busy(tw)) {
		/* The kernel may still write into them: leak rather than free. */
		log_warn("worker %u: tcp operations still running at exit; their memory is kept",
			 w->id);
		return;
	}
	close(tw->lfd);
	hmap_free(&tw->by_addr);
	munmap(tw->slots, tw->slots_bytes);
	free(tw);
}

size_t tcp_conn_count(const struct worker *w)
{
	const struct tcp_worker *tw = w->tcp;

	return tw ? atomic_load_explicit(&tw->live, memory_order_relaxed) : 0;
}
