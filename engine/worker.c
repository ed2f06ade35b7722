/* worker.c: the per-thread io_uring loop: multishot UDP receive into a
 * provided buffer ring, batched sends, the timer wheel, cross-worker inbox. */
#include <errno.h>
#include <time.h> /* before linux/errqueue.h, which needs struct timespec */
#include <linux/errqueue.h>
#include <linux/filter.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "call.h"
#include "log.h"
#include "metrics.h"
#include "router.h"
#include "tcp.h"
#include "worker.h"

/* user_data = pointer | tag; every pointer here is at least 8-aligned. */
enum {
	TAG_RECV = 1, /* struct udp_sock */
	TAG_SEND = 2, /* struct send_op */
	TAG_WAKE = 3, /* another worker queued something in our inbox */
	TAG_IGNORE = 4,
	TAG_TCP = WORKER_TAG_TCP, /* tcp.c's own structures */
	TAG_MASK = 7,
};

#define RING_ENTRIES 1024
#define BR_GROUP 0
#define BR_ENTRIES 512
#define BR_SIZE 16384
/* ICMP errors read per error signal, and the bytes of each quote kept
 * (ICMPv6 quotes up to 1232; what the router needs is in the first lines). */
#define ERRQUEUE_DRAIN_MAX 64
#define ERRQUEUE_QUOTE_MAX 1280
/* The loop wakes at least this often to notice engine_stop(). */
#define IDLE_WAKE_MS 200
/* Client transactions by sequence number (ctab.h): 16 bytes a slot; the
 * ring doubles while tombs (Timer K) fill it, up to 2M slots, 32 MB:
 * T4 at 400k NOTIFY/s. */
#define CTAB_SLOTS 4096u
#define CTAB_MAX (2u << 20)
/* Send completions a wait counts on at most (the CQ ring holds 2048). */
#define SEND_WAIT_MAX 512
/* Each worker gives up the spread slots it no longer holds anything of
 * every tick; worker 0 plans every SPREAD_PLAN_TICKS ticks (spread.h). */
#define SPREAD_TICK_MS 100
#define SPREAD_PLAN_TICKS 5

struct send_op {
	struct send_op *next_free; /* on w->send_free while unused */
	size_t len;
	int fd;
	bool connected;            /* fd is connected to to: name no address */
	bool retried;              /* sent again after another's error */
	socklen_t to_len;
	union peer_addr to;
	char data[];
};

/* Most messages fit a slot of this size; the slots are recycled through a
 * per-worker free list (no allocator call on the send path), larger ones
 * are allocated for their send. */
#define SEND_SLOT 2048
#define SEND_FREE_MAX 4096

static struct send_op *send_op_get(struct worker *w, size_t len)
{
	struct send_op *op = w->send_free;

	if (len > SEND_SLOT)
		return malloc(sizeof(*op) + len);
	if (op) {
		w->send_free = op->next_free;
		w->send_free_n--;
		return op;
	}
	return malloc(sizeof(*op) + SEND_SLOT);
}

static void send_op_put(struct worker *w, struct send_op *op)
{
	if (op->len > SEND_SLOT || w->send_free_n >= SEND_FREE_MAX) {
		free(op);
		return;
	}
	op->next_free = w->send_free;
	w->send_free = op;
	w->send_free_n++;
}

enum handoff_kind {
	HANDOFF_MESSAGE,     /* a received message this worker owns */
	HANDOFF_PLACED,      /* a new call for a spread slot moving here */
	HANDOFF_TCP_SEND,    /* bytes to write on a connection it owns */
	HANDOFF_SEND_FAILED, /* a request of its own that did not get out */
};

struct handoff {
	struct inbox_node node; /* first: the queue links nodes */
	enum handoff_kind kind;
	bool local;             /* from this worker to itself (not a handoff) */
	int err;                /* HANDOFF_SEND_FAILED: why */
	struct peer peer;
	size_t len;
	char data[];
};

uint64_t worker_clock_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

struct io_uring_sqe *worker_sqe(struct worker *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);

	if (!sqe) {
		io_uring_submit(&w->ring);
		sqe = io_uring_get_sqe(&w->ring);
	}
	return sqe;
}

static void inbox_init(struct inbox *q)
{
	atomic_store(&q->stub.next, NULL);
	atomic_store(&q->head, &q->stub);
	q->tail = &q->stub;
	atomic_store(&q->wake_pending, false);
}

static void inbox_push(struct inbox *q, struct inbox_node *n)
{
	struct inbox_node *prev;

	atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
	prev = atomic_exchange_explicit(&q->head, n, memory_order_acq_rel);
	atomic_store_explicit(&prev->next, n, memory_order_release);
}

/* Vyukov's MPSC pop: NULL when empty or when a producer is between its two
 * steps (it will be seen on the next drain, which its wake-up triggers). */
static struct inbox_node *inbox_pop(struct inbox *q)
{
	struct inbox_node *tail = q->tail, *next, *head;

	next = atomic_load_explicit(&tail->next, memory_order_acquire);
	if (tail == &q->stub) {
		if (!next)
			return NULL;
		q->tail = next;
		tail = next;
		next = atomic_load_explicit(&next->next, memory_order_acquire);
	}
	if (next) {
		q->tail = next;
		return tail;
	}
	head = atomic_load_explicit(&q->head, memory_order_acquire);
	if (tail != head)
		return NULL;
	inbox_push(q, &q->stub);
	next = atomic_load_explicit(&tail->next, memory_order_acquire);
	if (!next)
		return NULL;
	q->tail = next;
	return tail;
}

static void handoff(struct worker *from, unsigned to, const struct peer *p,
		    const char *buf, size_t len, enum handoff_kind kind, int err)
{
	struct worker *dst = from->eng->workers[to];
	struct handoff *h = malloc(sizeof(*h) + len);
	struct io_uring_sqe *sqe;

	if (!h) {
		log_warn("worker %u: no memory to hand a message to worker %u", from->id, to);
		return;
	}
	h->kind = kind;
	h->err = err;
	h->local = dst == from;
	h->peer = *p;
	h->len = len;
	memcpy(h->data, buf, len);
	inbox_push(&dst->inbox, &h->node);
	if (h->local)
		return; /* the loop drains its inbox after every batch */
	stats_inc(&from->st.handoffs_out);
	/* One wake-up per batch: the owner clears the flag before draining. */
	if (atomic_exchange(&dst->inbox.wake_pending, true))
		return;
	sqe = worker_sqe(from);
	io_uring_prep_msg_ring(sqe, dst->ring_fd, 0, TAG_WAKE, 0);
	io_uring_sqe_set_data64(sqe, TAG_IGNORE);
}

void worker_handoff(struct worker *from, unsigned to, const struct peer *p,
		    const char *buf, size_t len)
{
	handoff(from, to, p, buf, len, HANDOFF_MESSAGE, 0);
}

void worker_handoff_placed(struct worker *from, unsigned to, const struct peer *p,
			   const char *buf, size_t len)
{
	handoff(from, to, p, buf, len, HANDOFF_PLACED, 0);
}

void worker_handoff_send(struct worker *from, unsigned to, const struct peer *p,
			 const char *buf, size_t len)
{
	handoff(from, to, p, buf, len, HANDOFF_TCP_SEND, 0);
}

void worker_handoff_send_failed(struct worker *from, unsigned to, const struct peer *p,
				const char *buf, size_t len, int err)
{
	handoff(from, to, p, buf, len, HANDOFF_SEND_FAILED, err);
}

/* After the loop: what is still queued is dropped unread. */
static void inbox_discard(struct worker *w)
{
	struct inbox_node *n;

	while ((n = inbox_pop(&w->inbox)))
		free(n);
}

static void inbox_drain(struct worker *w)
{
	struct inbox_node *n;

	atomic_store(&w->inbox.wake_pending, false);
	while ((n = inbox_pop(&w->inbox))) {
		struct handoff *h = (struct handoff *)n;

		if (!h->local)
			stats_inc(&w->st.handoffs_in);
		switch (h->kind) {
		case HANDOFF_MESSAGE:
			router_on_message(w, &h->peer, h->data, h->len, ROUTER_ROUTED);
			break;
		case HANDOFF_PLACED:
			router_on_message(w, &h->peer, h->data, h->len, ROUTER_PLACED);
			break;
		case HANDOFF_TCP_SEND:
			tcp_send_local(w, &h->peer, h->data, h->len);
			break;
		case HANDOFF_SEND_FAILED:
			router_on_send_failed(w, &h->peer, h->data, h->len, h->err);
			break;
		}
		free(h);
	}
}

/* SEND with a destination (sendto) spares the kernel the msghdr and iovec
 * copies of SENDMSG. (Registered files would spare the fd lookup but keep
 * the port bound until the ring's deferred teardown ends.) */
static void send_submit(struct worker *w, struct send_op *op)
{
	struct io_uring_sqe *sqe = worker_sqe(w);

	io_uring_prep_send(sqe, op->fd, op->data, op->len, 0);
	if (!op->connected)
		io_uring_prep_send_set_addr(sqe, &op->to.sa, (uint16_t)op->to_len);
	io_uring_sqe_set_data64(sqe, (uintptr_t)op | TAG_SEND);
	w->sends_inflight++;
}

void worker_send(struct worker *w, const struct peer *p, const char *buf, size_t len)
{
	struct send_op *op;

	stats_inc(&w->st.msgs[STATS_OUT][stats_method_of_bytes(buf, len)]);
	if (p->reliable) {
		tcp_send(w, p, buf, len);
		stats_inc(&w->st.msgs_out);
		return;
	}
	op = send_op_get(w, len);
	if (!op) {
		stats_inc(&w->st.send_errors);
		return;
	}
	memcpy(op->data, buf, len);
	memcpy(&op->to, &p->addr, p->addr_len);
	op->to_len = p->addr_len;
	op->len = len;
	op->fd = p->fd;
	op->connected = p->connected;
	op->retried = false;
	send_submit(w, op);
	stats_inc(&w->st.msgs_out);
}

/* RFC 3261 §18.4: unreachable host, network, port or protocol and
 * parameter problems fail the request; TTL exceeded, source quench and
 * "fragmentation needed" (the retransmission gets through) do not. */
static bool icmp_fails_request(const struct sock_extended_err *ee)
{
	if (ee->ee_origin == SO_EE_ORIGIN_ICMP)
		return (ee->ee_type == ICMP_DEST_UNREACH && ee->ee_code != ICMP_FRAG_NEEDED) ||
		       ee->ee_type == ICMP_PARAMETERPROB;
	if (ee->ee_origin == SO_EE_ORIGIN_ICMP6)
		return ee->ee_type == ICMP6_DST_UNREACH || ee->ee_type == ICMP6_PARAM_PROB;
	return false;
}

/* The ICMP errors that IP_RECVERR queued on fd, each naming the
 * destination of the datagram it reports and quoting its start, up to
 * ERRQUEUE_DRAIN_MAX of them; the loop reads on after its batch. */
static void udp_errqueue_drain(struct worker *w, int fd)
{
	for (unsigned i = 0; i < ERRQUEUE_DRAIN_MAX; i++) {
		char data[ERRQUEUE_QUOTE_MAX];
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(sizeof(struct sock_extended_err) +
					    sizeof(struct sockaddr_in6))];
		} ctl;
		struct peer to = { .fd = fd };
		struct iovec iov = { data, sizeof(data) };
		struct msghdr mh = { .msg_name = &to.addr, .msg_namelen = sizeof(to.addr),
				     .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
		struct sock_extended_err ee = { 0 };
		ssize_t n = recvmsg(fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT);

		if (n < 0)
			return;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if ((c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
			    (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR))
				memcpy(&ee, CMSG_DATA(c), sizeof(ee));
		}
		to.addr_len = mh.msg_namelen;
		if (!icmp_fails_request(&ee))
			continue;
		stats_inc(&w->st.send_errors);
		router_on_send_failed(w, &to, data, (size_t)n, -(int)ee.ee_errno);
	}
	/* More may wait, and the socket will not signal them again: a queued
	 * error only counts against its receive buffer. */
	w->errqueue_more = true;
}

/* What an ICMP error sets on the socket (sk_err): the next send or
 * receive returns it once, whichever comes first, and a send that does
 * fails without sending. EMSGSIZE and the unreachables can also be a
 * send's own error, which its one retry then meets again. */
static bool err_from_icmp(int err)
{
	return err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH ||
	       err == EHOSTDOWN || err == EPROTO || err == EMSGSIZE;
}

/* No socket buffer for now: the retransmission timer sends it again. */
static bool err_transient(int err)
{
	return err == EAGAIN || err == ENOBUFS || err == ENOMEM || err == EINTR;
}

static void on_send(struct worker *w, struct send_op *op, int res)
{
	w->sends_inflight--;
	if (res >= 0)
		goto out;
	if (err_from_icmp(-res)) {
		udp_errqueue_drain(w, op->fd);
		if (!op->retried) { /* most likely an earlier datagram's error */
			op->retried = true;
			send_submit(w, op);
			return;
		}
	}
	stats_inc(&w->st.send_errors);
	log_debug("worker %u: send failed: %s", w->id, strerror(-res));
	if (!err_transient(-res)) {
		struct peer to = { .fd = op->fd, .addr_len = op->to_len, .addr = op->to };

		router_on_send_failed(w, &to, op->data, op->len, res);
	}
out:
	send_op_put(w, op);
}

/* The provided buffer ring (liburing 2.3 has no io_uring_setup_buf_ring). */
static int br_setup(struct worker *w)
{
	struct io_uring_buf_reg reg = { 0 };
	size_t ring_bytes = BR_ENTRIES * sizeof(struct io_uring_buf);
	int r;

	w->br_entries = BR_ENTRIES;
	w->br_size = BR_SIZE;
	w->br = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (w->br == MAP_FAILED) {
		w->br = NULL;
		return -errno;
	}
	w->br_mem = malloc((size_t)BR_ENTRIES * BR_SIZE);
	if (!w->br_mem)
		return -ENOMEM;
	reg.ring_addr = (uintptr_t)w->br;
	reg.ring_entries = BR_ENTRIES;
	reg.bgid = BR_GROUP;
	r = io_uring_register_buf_ring(&w->ring, &reg, 0);
	if (r)
		return r;
	io_uring_buf_ring_init(w->br);
	for (unsigned i = 0; i < BR_ENTRIES; i++)
		io_uring_buf_ring_add(w->br, w->br_mem + (size_t)i * BR_SIZE, BR_SIZE, (unsigned short)i,
				      io_uring_buf_ring_mask(BR_ENTRIES), (int)i);
	io_uring_buf_ring_advance(w->br, BR_ENTRIES);
	return 0;
}

static void br_recycle(struct worker *w, unsigned bid)
{
	io_uring_buf_ring_add(w->br, w->br_mem + (size_t)bid * BR_SIZE, BR_SIZE, (unsigned short)bid,
			      io_uring_buf_ring_mask(BR_ENTRIES), 0);
	io_uring_buf_ring_advance(w->br, 1);
}

static void recv_arm(struct worker *w, struct udp_sock *s)
{
	struct io_uring_sqe *sqe = worker_sqe(w);

	if (s->multishot) {
		io_uring_prep_recvmsg_multishot(sqe, s->fd, &s->rx_msg, 0);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = BR_GROUP;
	} else {
		s->rx_msg.msg_name = &s->rx_from;
		s->rx_msg.msg_namelen = sizeof(s->rx_from);
		s->rx_iov = (struct iovec){ s->rx_buf, BR_SIZE };
		s->rx_msg.msg_iov = &s->rx_iov;
		s->rx_msg.msg_iovlen = 1;
		io_uring_prep_recvmsg(sqe, s->fd, &s->rx_msg, 0);
	}
	io_uring_sqe_set_data64(sqe, (uintptr_t)s | TAG_RECV);
}

static void deliver(struct worker *w, struct udp_sock *s, const void *name,
		    socklen_t namelen, const char *buf, size_t len)
{
	struct peer p = { .fd = s->fd, .connected = s->connected, .addr_len = namelen };

	if (namelen > sizeof(p.addr))
		return;
	memcpy(&p.addr, name, namelen);
	stats_inc(&w->st.msgs_in);
	router_on_message(w, &p, buf, len, ROUTER_WIRE);
}

static void on_recv_multishot(struct worker *w, struct udp_sock *s, struct io_uring_cqe *cqe)
{
	unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
	char *buf = w->br_mem + (size_t)bid * BR_SIZE;
	struct io_uring_recvmsg_out *o = io_uring_recvmsg_validate(buf, cqe->res, &s->rx_msg);

	if (o && (o->flags & MSG_TRUNC)) {
		stats_inc(&w->st.udp_truncated);
	} else if (o) {
		deliver(w, s, io_uring_recvmsg_name(o), o->namelen,
			io_uring_recvmsg_payload(o, &s->rx_msg),
			io_uring_recvmsg_payload_length(o, cqe->res, &s->rx_msg));
	}
	br_recycle(w, bid);
}

static void on_recv(struct worker *w, struct udp_sock *s, struct io_uring_cqe *cqe)
{
	if (cqe->res < 0) {
		/* ENOBUFS: every buffer was in use; the multishot ended. */
		if (err_from_icmp(-cqe->res))
			udp_errqueue_drain(w, s->fd);
		else if (cqe->res != -ENOBUFS)
			log_warn("worker %u: receive failed: %s", w->id, strerror(-cqe->res));
	} else if (s->multishot && (cqe->flags & IORING_CQE_F_BUFFER)) {
		on_recv_multishot(w, s, cqe);
	} else if (!s->multishot) {
		if (s->rx_msg.msg_flags & MSG_TRUNC)
			stats_inc(&w->st.udp_truncated);
		else
			deliver(w, s, &s->rx_from, s->rx_msg.msg_namelen, s->rx_buf,
				(size_t)cqe->res);
	}
	if (!(cqe->flags & IORING_CQE_F_MORE))
		recv_arm(w, s);
}

static void on_cqe(struct worker *w, struct io_uring_cqe *cqe)
{
	uint64_t ud = io_uring_cqe_get_data64(cqe);
	void *ptr = (void *)(uintptr_t)(ud & ~(uint64_t)TAG_MASK);

	switch (ud & TAG_MASK) {
	case TAG_RECV:
		on_recv(w, ptr, cqe);
		break;
	case TAG_SEND:
		on_send(w, ptr, cqe->res);
		break;
	case TAG_WAKE:
		inbox_drain(w);
		break;
	case TAG_TCP:
		tcp_on_cqe(w, ptr, cqe);
		break;
	case WORKER_TAG_METRICS:
		metrics_on_cqe(w, ptr, cqe);
		break;
	default:
		break;
	}
}

static void worker_tick(struct worker *w)
{
	w->now_us = worker_clock_us();
	w->now_ms = w->now_us / 1000u;
}

/* A reloaded config, taken up between batches (below, after the sockets). */
static void worker_reconfigure(struct worker *w, const struct config *cfg);

static void worker_loop(struct worker *w)
{
	while (!atomic_load_explicit(&w->eng->stop, memory_order_relaxed)) {
		uint64_t deadline = wheel_next_deadline(&w->wheel), wait_ms = IDLE_WAKE_MS, t0;
		struct __kernel_timespec ts;
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;

		if (atomic_load_explicit(&w->next_cfg, memory_order_relaxed))
			worker_reconfigure(w, atomic_exchange(&w->next_cfg, NULL));
		if (deadline <= w->now_ms || w->errqueue_more)
			wait_ms = 0;
		else if (deadline - w->now_ms < wait_ms)
			wait_ms = deadline - w->now_ms;
		ts = (struct __kernel_timespec){ .tv_sec = 0, .tv_nsec = (long long)wait_ms * 1000000 };
		/* UDP sends complete inside the submit: waiting for their
		 * completions plus one more event saves an enter that would
		 * return at once with nothing but them. */
		io_uring_submit_and_wait_timeout(&w->ring, &cqe, 1 + (w->sends_inflight < SEND_WAIT_MAX
								      ? w->sends_inflight
								      : SEND_WAIT_MAX),
						 &ts, NULL);
		worker_tick(w);
		t0 = w->now_us;
		/* Timers first: the wheel's clock must read now before anything
		 * handled below arms a timer relative to it. */
		wheel_advance(&w->wheel, w->now_ms);
		io_uring_for_each_cqe(&w->ring, head, cqe) {
			on_cqe(w, cqe);
			n++;
		}
		io_uring_cq_advance(&w->ring, n);
		if (w->errqueue_more) {
			w->errqueue_more = false;
			udp_errqueue_drain(w, w->shared.fd);
			if (w->own.fd != w->shared.fd)
				udp_errqueue_drain(w, w->own.fd);
			for (unsigned i = 0; i < w->nconn; i++)
				udp_errqueue_drain(w, w->conn[i].fd);
		}
		inbox_drain(w);
		router_batch_end(w);
		/* Mirrors of single-threaded counts, for the scraping thread. */
		atomic_store_explicit(&w->st.timers_live, wheel_count(&w->wheel), memory_order_relaxed);
		atomic_store_explicit(&w->st.dialogs_live, w->dialogs.count, memory_order_relaxed);
		atomic_store_explicit(&w->st.tcp_conns_live, tcp_conn_count(w), memory_order_relaxed);
		stats_add(&w->st.busy_ns, (worker_clock_us() - t0) * 1000u);
	}
}

/* With one worker taking new calls, the kernel is told to deliver the
 * shared port's datagrams to it: worker 0's socket joined the reuseport
 * group first, so it is socket 0. An index beyond the group makes the
 * kernel pick by its hash of the addresses, as without a program. Where
 * the kernel refuses, the calls are handed over instead: slower, not wrong. */
static void spread_steer(struct worker *w, unsigned active)
{
	struct sock_filter code[] = { BPF_STMT(BPF_RET | BPF_K, active == 1 ? 0 : ~0u) };
	struct sock_fprog prog = { .len = 1, .filter = code };

	if (setsockopt(w->shared.fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)) < 0)
		log_warn("cannot steer the listening port's datagrams: %s", strerror(errno));
}

/* A worker thread's CPU time in ns (user and system, its sends included). */
static uint64_t worker_cpu_ns(const struct worker *w)
{
	struct timespec ts;

	if (clock_gettime(w->cpu_clock, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Worker 0: each worker's share of a CPU since the last plan, the active
 * count it leads to, and the slots that follows for. */
static void spread_plan_run(struct worker *w)
{
	struct engine *e = w->eng;
	unsigned busy[IDS_MAX_SHARDS], before = e->plan.active, active;
	uint64_t dt_us = w->now_us - e->plan_at_us;

	for (unsigned i = 0; i < e->nworkers; i++) {
		/* started (acquire) orders the worker's cpu_clock before this read. */
		uint64_t ns = atomic_load(&e->workers[i]->started) ? worker_cpu_ns(e->workers[i]) : 0;

		busy[i] = dt_us && ns >= e->plan_cpu_ns[i]
				  ? (unsigned)((ns - e->plan_cpu_ns[i]) / (dt_us * 10)) : 0;
		e->plan_cpu_ns[i] = ns;
	}
	e->plan_at_us = w->now_us;
	active = spread_plan_step(&e->plan, busy, w->cfg->engine.spread_above, w->now_ms);
	if (active != before) {
		log_info("new calls go to %u of %u workers now", active, e->nworkers);
		spread_steer(w, active);
	}
	spread_assign(&e->spread, active);
}

static void on_spread_tick(struct wheel_timer *t)
{
	struct worker *w = (struct worker *)((char *)t - offsetof(struct worker, spread_timer));

	spread_release(&w->eng->spread, w->id, w->held);
	if (w->id == 0 && ++w->spread_ticks % SPREAD_PLAN_TICKS == 0)
		spread_plan_run(w);
	wheel_timer_start(&w->wheel, t, w->now_ms + SPREAD_TICK_MS);
}

/* SINGLE_ISSUER and DEFER_TASKRUN (kernel 6.1) cut task-work wake-ups; an
 * older kernel gets a plain ring. */
static int ring_setup(struct worker *w)
{
	struct io_uring_params p = { .flags = IORING_SETUP_SINGLE_ISSUER |
					      IORING_SETUP_DEFER_TASKRUN |
					      IORING_SETUP_COOP_TASKRUN };
	int r = io_uring_queue_init_params(RING_ENTRIES, &w->ring, &p);

	if (r == -EINVAL) {
		p = (struct io_uring_params){ 0 };
		r = io_uring_queue_init_params(RING_ENTRIES, &w->ring, &p);
	}
	if (r)
		return r;
	w->ring_fd = w->ring.ring_fd;
	return 0;
}

static void sock_rx_init(struct worker *w, struct udp_sock *s, bool multishot)
{
	s->w = w;
	s->multishot = multishot;
	memset(&s->rx_msg, 0, sizeof(s->rx_msg));
	s->rx_msg.msg_namelen = sizeof(struct sockaddr_storage);
	if (!multishot && !s->rx_buf)
		s->rx_buf = malloc(BR_SIZE);
}

static int worker_io_setup(struct worker *w)
{
	int r = ring_setup(w);
	bool multishot;

	if (r)
		return r;
	multishot = br_setup(w) == 0;
	if (w->id == 0)
		log_info("receive path: %s", multishot ? "multishot recvmsg, provided buffer ring"
						       : "single-shot recvmsg (kernel lacks buffer rings)");
	sock_rx_init(w, &w->shared, multishot);
	recv_arm(w, &w->shared);
	if (w->own.fd != w->shared.fd) {
		sock_rx_init(w, &w->own, multishot);
		recv_arm(w, &w->own);
	}
	for (unsigned i = 0; i < w->nconn; i++) {
		sock_rx_init(w, &w->conn[i], multishot);
		recv_arm(w, &w->conn[i]);
	}
	r = tcp_worker_init(w);
	return r ? r : metrics_worker_init(w);
}

/* Let the sends queued so far (the BYEs of a stop, the last responses)
 * complete, so their memory is freed and they are not lost. Bounded. */
static void worker_reap(struct worker *w, unsigned wait_ms)
{
	uint64_t until = worker_clock_us() + wait_ms * 1000ull;

	while (w->sends_inflight && worker_clock_us() < until) {
		struct __kernel_timespec ts = { .tv_nsec = 10 * 1000 * 1000 };
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;

		io_uring_submit_and_wait_timeout(&w->ring, &cqe, 1, &ts, NULL);
		io_uring_for_each_cqe(&w->ring, head, cqe) {
			if ((io_uring_cqe_get_data64(cqe) & TAG_MASK) == TAG_SEND)
				on_send(w, (void *)(uintptr_t)(io_uring_cqe_get_data64(cqe) & ~(uint64_t)TAG_MASK),
					cqe->res);
			n++;
		}
		io_uring_cq_advance(&w->ring, n);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	w->start_err = worker_io_setup(w);
	worker_tick(w);
	wheel_init(&w->wheel, w->now_ms);
	if (pthread_getcpuclockid(pthread_self(), &w->cpu_clock))
		w->cpu_clock = (clockid_t)-1; /* reads as idle: never asks for more workers */
	if (w->eng->nworkers > 1) {
		wheel_timer_init(&w->spread_timer, on_spread_tick);
		wheel_timer_start(&w->wheel, &w->spread_timer, w->now_ms + SPREAD_TICK_MS);
	}
	atomic_store(&w->started, true);
	if (w->start_err)
		return NULL;
	worker_loop(w);
	router_worker_stop(w);
	metrics_worker_stop(w);
	worker_reap(w, 500);
	tcp_worker_stop(w);
	return NULL;
}

struct str worker_host(const struct worker *w)
{
	const char *h = w->cfg->engine.advertise.host;

	return str_make(h, strlen(h));
}

static int udp_open(const struct config_addr *a, uint16_t port, bool reuseport)
{
	struct sockaddr_storage ss = a->sa;
	int fd, one = 1, zero = 0, bufsz = 4 << 20;

	if (ss.ss_family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	/* ICMP errors for the datagrams we send (RFC 3261 §18.4): without
	 * this an unconnected socket drops them, and an unreachable target
	 * costs a whole Timer B. A dual-stack socket needs both for IPv4. */
	setsockopt(fd, SOL_IP, IP_RECVERR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, SOL_IPV6, IPV6_RECVERR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
	if (bind(fd, (struct sockaddr *)&ss, a->sa_len) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

void worker_peer_connect(const struct worker *w, struct peer *p)
{
	for (unsigned i = 0; i < w->nconn; i++) {
		const struct udp_sock *s = &w->conn[i];

		if (!p->reliable && s->to_len == p->addr_len && !memcmp(&s->to, &p->addr, s->to_len)) {
			p->fd = s->fd;
			p->connected = true;
			return;
		}
	}
}

/* A socket on the own port connected to uri's address: the kernel keeps
 * its route, and delivers that peer's datagrams to it rather than to the
 * own socket (a connected socket scores higher in the lookup). Anything
 * that fails leaves the peer to the own socket, as for any other peer. */
static void conn_open(struct worker *w, const char *uri)
{
	struct peer p;
	int fd;

	/* call_peer_from_uri() finds a socket connected already: two trunks
	 * at one address, or one kept from before a reload. */
	if (!uri || w->nconn == WORKER_CONN_MAX ||
	    call_peer_from_uri(w, str_make(uri, strlen(uri)), &p) || p.reliable || p.connected)
		return;
	fd = udp_open(&w->cfg->engine.listen, w->own_bind_port, true);
	if (fd < 0 || connect(fd, &p.addr.sa, p.addr_len) < 0) {
		log_warn("worker %u: no connected socket to %s: %s", w->id, uri,
			 strerror(fd < 0 ? -fd : errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	w->conn[w->nconn++] = (struct udp_sock){ .fd = fd, .connected = true,
						 .to_len = p.addr_len, .to = p.addr };
}

/* The configured peers' addresses. A reload adds those of new peers; the
 * sockets of peers it drops stay, harmless, until the worker ends. */
static void conns_open(struct worker *w)
{
	const struct config *cfg = w->cfg;

	conn_open(w, cfg->pstn.gateway.text);
	for (size_t i = 0; i < cfg->n_trunks; i++)
		conn_open(w, cfg->trunks[i].uri.text);
}

static void worker_reconfigure(struct worker *w, const struct config *cfg)
{
	unsigned n = w->nconn;

	w->cfg = cfg;
	conns_open(w);
	for (; n < w->nconn; n++) {
		sock_rx_init(w, &w->conn[n], w->shared.multishot);
		recv_arm(w, &w->conn[n]);
	}
}

/* Worker i listens on the shared port and, with several workers, on port
 * + 1 + i, which its Via and Contact advertise so replies come straight to
 * the owner (engine/README.md). */
static int worker_create(struct engine *e, unsigned id, struct worker **out)
{
	struct worker *w = calloc(1, sizeof(*w));
	const struct config_engine *ce = &e->cfg->engine;
	int r;

	if (!w)
		return -ENOMEM;
	w->id = id;
	w->eng = e;
	w->cfg = e->cfg;
	w->timers = (struct txn_timers){ ce->t1_ms, ce->t2_ms, ce->t4_ms };
	inbox_init(&w->inbox);
	*out = w;
	r = ids_init(&w->ids, id);
	if (!r)
		r = hmap_init(&w->txns, 1024);
	if (!r)
		r = ctab_init(&w->ctab, CTAB_SLOTS, CTAB_MAX);
	if (!r)
		r = hmap_init(&w->dialogs, 1024);
	if (r)
		return r;
	w->shared.fd = udp_open(&ce->listen, ce->listen.port, true);
	if (w->shared.fd < 0)
		return w->shared.fd;
	w->own = w->shared;
	w->own_port = ce->advertise.port;
	snprintf(w->via_host, sizeof(w->via_host), "%s:%u", ce->advertise.host, w->own_port);
	w->via = str_make(w->via_host, strlen(w->via_host));
	w->own_bind_port = ce->listen.port;
	if (e->nworkers == 1) {
		conns_open(w);
		return 0;
	}
	w->own_port = (uint16_t)(ce->advertise.port + 1 + id);
	snprintf(w->via_host, sizeof(w->via_host), "%s:%u", ce->advertise.host, w->own_port);
	w->via = str_make(w->via_host, strlen(w->via_host));
	/* Bound alone first, so that a port another socket holds still
	 * fails; then again in a reuseport group, for its connected sockets. */
	r = udp_open(&ce->listen, (uint16_t)(ce->listen.port + 1 + id), false);
	if (r < 0)
		return r;
	close(r);
	w->own_bind_port = (uint16_t)(ce->listen.port + 1 + id);
	w->own.fd = udp_open(&ce->listen, w->own_bind_port, true);
	if (w->own.fd < 0)
		return w->own.fd;
	conns_open(w);
	return 0;
}

static void worker_destroy(struct worker *w)
{
	if (!w)
		return;
	inbox_discard(w);
	for (unsigned i = 0; i < w->nconn; i++) {
		close(w->conn[i].fd);
		free(w->conn[i].rx_buf);
	}
	if (w->own.fd > 0 && w->own.fd != w->shared.fd)
		close(w->own.fd);
	if (w->shared.fd > 0)
		close(w->shared.fd);
	if (atomic_load(&w->started) && !w->start_err)
		io_uring_queue_exit(&w->ring);
	if (w->br)
		munmap(w->br, BR_ENTRIES * sizeof(struct io_uring_buf));
	free(w->br_mem);
	free(w->shared.rx_buf);
	if (w->own.rx_buf != w->shared.rx_buf)
		free(w->own.rx_buf);
	hmap_free(&w->txns);
	ctab_free(&w->ctab);
	hmap_free(&w->dialogs);
	while (w->send_free) {
		struct send_op *op = w->send_free;

		w->send_free = op->next_free;
		free(op);
	}
	free(w);
}

static int engine_spawn(struct engine *e)
{
	for (unsigned i = 0; i < e->nworkers; i++) {
		struct worker *w = e->workers[i];

		if (pthread_create(&w->thread, NULL, worker_main, w))
			return -EAGAIN;
		while (!atomic_load(&w->started))
			usleep(1000);
		if (w->start_err)
			return w->start_err;
	}
	return 0;
}

/* SO_REUSEPORT would let a second xferd on the same port share the
 * traffic silently: a plain bind first proves the port is free. */
static int port_probe(const struct config_addr *a, int type)
{
	int fd = socket(a->sa.ss_family, type | SOCK_CLOEXEC, 0), r = 0;

	if (fd < 0)
		return -errno;
	if (bind(fd, (const struct sockaddr *)&a->sa, a->sa_len) < 0)
		r = -errno;
	close(fd);
	return r;
}

int engine_start(struct engine *e, const struct config *cfg)
{
	int r = port_probe(&cfg->engine.listen, SOCK_DGRAM);

	if (!r)
		r = port_probe(&cfg->engine.listen, SOCK_STREAM);
	if (r) {
		log_error("cannot listen on %s: %s", cfg->engine.listen.text, strerror(-r));
		return r;
	}
	e->cfg = cfg;
	e->nworkers = cfg->engine.workers;
	atomic_store(&e->stop, false);
	atomic_store(&e->draining, false);
	for (unsigned i = 0; i < e->nworkers && !r; i++)
		r = worker_create(e, i, &e->workers[i]);
	if (r) {
		log_error("cannot listen on %s (or a worker port after it): %s",
			  cfg->engine.listen.text, strerror(-r));
		goto out;
	}
	spread_init(&e->spread, &e->plan, e->nworkers, cfg->engine.spread_above);
	if (e->nworkers > 1)
		spread_steer(e->workers[0], e->plan.active);
	r = engine_spawn(e);
	if (r)
		log_error("cannot start workers: %s", strerror(-r));
out:
	if (r)
		engine_stop(e);
	return r;
}

uint64_t engine_calls_active(const struct engine *e)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < e->nworkers; i++)
		n += stats_get(&e->workers[i]->st.calls_active);
	return n;
}

void engine_stop(struct engine *e)
{
	atomic_store(&e->stop, true);
	/* All joined before any is freed: a worker still stopping may hand
	 * something to one that has stopped. */
	for (unsigned i = 0; i < e->nworkers; i++) {
		struct worker *w = e->workers[i];

		if (w && atomic_load(&w->started))
			pthread_join(w->thread, NULL);
	}
	for (unsigned i = 0; i < e->nworkers; i++) {
		worker_destroy(e->workers[i]);
		e->workers[i] = NULL;
	}
}
