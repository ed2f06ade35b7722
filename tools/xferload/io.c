/* io.c: the io_uring loop's I/O half, as engine/worker.c does it: a provided
 * buffer ring registered by hand (liburing 2.3), multishot recvmsg, sendmsg SQEs;
 * receive times from the kernel (SO_TIMESTAMPNS, in the buffer's cmsg area). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "io.h"

/* user_data: an xl_out pointer | TAG_SEND, or sock << 3 | TAG_RECV. */
enum { TAG_RECV = 1, TAG_SEND = 2, TAG_MASK = 7 };

#define RING_ENTRIES 4096
#define CQ_ENTRIES 32768
#define BR_GROUP 0
#define BR_ENTRIES 2048
#define BR_SIZE 4096
#define OUT_CHUNK 512
#define SOCK_BUF (16 << 20)
/* A provided buffer holds struct io_uring_recvmsg_out, the name, the cmsgs,
 * the payload, each area as long as the msghdr template says. The name's is
 * rounded up so that the cmsghdr after it is aligned. */
#define RX_NAMELEN ((socklen_t)((sizeof(union xl_sa) + sizeof(size_t) - 1) & \
				~(sizeof(size_t) - 1)))
#define RX_CONTROLLEN CMSG_SPACE(sizeof(struct timespec))

struct xl_out_chunk {
	struct xl_out_chunk *next;
	struct xl_out out[OUT_CHUNK];
};

static uint64_t clock_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Just before a submit: the queued sends leave in it (UDP sendmsg SQEs are
 * issued inline, in io_uring_enter), so their send time is now. */
static void stamps_write(struct xl_io *io)
{
	uint64_t now;

	if (!io->nstamps)
		return;
	now = clock_ns(CLOCK_MONOTONIC);
	for (unsigned i = 0; i < io->nstamps; i++)
		*io->stamps[i] = now;
	io->nstamps = 0;
}

static struct io_uring_sqe *sqe_get(struct xl_io *io)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&io->ring);

	if (!sqe) {
		stamps_write(io);
		io_uring_submit(&io->ring);
		sqe = io_uring_get_sqe(&io->ring);
	}
	return sqe;
}

static int udp_open(union xl_sa *sa, socklen_t len)
{
	int fd = socket(sa->sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int bufsz = SOCK_BUF, zero = 0, one = 1;
	socklen_t l = len;

	if (fd < 0)
		return -errno;
	/* FORCE passes rmem_max when we may; otherwise the plain call caps it. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bufsz, sizeof(bufsz)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bufsz, sizeof(bufsz)))
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
	/* The kernel's receive time with each datagram (rx_time_ns); should
	 * this fail, latencies take the loop's time, and the report says so. */
	setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
	if (sa->sa.sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, &sa->sa, len) < 0 || getsockname(fd, &sa->sa, &l) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int br_setup(struct xl_io *io)
{
	struct io_uring_buf_reg reg = { 0 };
	size_t ring_bytes = BR_ENTRIES * sizeof(struct io_uring_buf);
	int r;

	io->br = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (io->br == MAP_FAILED) {
		io->br = NULL;
		return -errno;
	}
	io->br_mem = malloc((size_t)BR_ENTRIES * BR_SIZE);
	if (!io->br_mem)
		return -ENOMEM;
	reg.ring_addr = (uintptr_t)io->br;
	reg.ring_entries = BR_ENTRIES;
	reg.bgid = BR_GROUP;
	r = io_uring_register_buf_ring(&io->ring, &reg, 0);
	if (r)
		return r;
	io_uring_buf_ring_init(io->br);
	for (unsigned i = 0; i < BR_ENTRIES; i++)
		io_uring_buf_ring_add(io->br, io->br_mem + (size_t)i * BR_SIZE, BR_SIZE,
				      (unsigned short)i, io_uring_buf_ring_mask(BR_ENTRIES), (int)i);
	io_uring_buf_ring_advance(io->br, BR_ENTRIES);
	return 0;
}

static void br_recycle(struct xl_io *io, unsigned bid)
{
	io_uring_buf_ring_add(io->br, io->br_mem + (size_t)bid * BR_SIZE, BR_SIZE,
			      (unsigned short)bid, io_uring_buf_ring_mask(BR_ENTRIES), 0);
	io_uring_buf_ring_advance(io->br, 1);
}

static void recv_arm(struct xl_io *io, unsigned s)
{
	struct io_uring_sqe *sqe = sqe_get(io);

	io_uring_prep_recvmsg_multishot(sqe, io->fd[s], &io->rx_msg[s], 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BR_GROUP;
	io_uring_sqe_set_data64(sqe, (uint64_t)s << 3 | TAG_RECV);
}

/* SINGLE_ISSUER and DEFER_TASKRUN (6.1) where the kernel has them. */
static int ring_setup(struct xl_io *io)
{
	struct io_uring_params p = { .flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER |
					      IORING_SETUP_DEFER_TASKRUN |
					      IORING_SETUP_COOP_TASKRUN,
				     .cq_entries = CQ_ENTRIES };
	int r = io_uring_queue_init_params(RING_ENTRIES, &io->ring, &p);

	if (r == -EINVAL) {
		p = (struct io_uring_params){ .flags = IORING_SETUP_CQSIZE, .cq_entries = CQ_ENTRIES };
		r = io_uring_queue_init_params(RING_ENTRIES, &io->ring, &p);
	}
	return r;
}

int xl_io_init(struct xl_io *io, union xl_sa local[XL_SOCKS], const socklen_t len[XL_SOCKS],
	       xl_on_datagram cb, void *ctx, const char **what)
{
	int r;

	memset(io, 0, sizeof(*io));
	io->on_datagram = cb;
	io->ctx = ctx;
	for (unsigned i = 0; i < XL_SOCKS; i++)
		io->fd[i] = -1;
	io->real_off_ns = (int64_t)(clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC));
	/* Sends are stamped at most once per SQE queued and the stamps are
	 * written at every submit: the SQ ring's size bounds them. */
	*what = "allocate";
	io->stamps = calloc(RING_ENTRIES, sizeof(*io->stamps));
	if (!io->stamps)
		return -ENOMEM;
	for (unsigned i = 0; i < XL_SOCKS; i++) {
		io->fd[i] = udp_open(&local[i], len[i]);
		if (io->fd[i] < 0) {
			*what = i == 0 ? "bind the caller's socket"
				: i == 1 ? "bind the endpoint's socket" : "bind the gateway's socket";
			return io->fd[i];
		}
	}
	*what = "set up io_uring";
	r = ring_setup(io);
	if (r)
		return r;
	*what = "register the provided buffer ring (kernel 5.19 or later)";
	r = br_setup(io);
	if (r)
		return r;
	for (unsigned i = 0; i < XL_SOCKS; i++) {
		io->rx_msg[i].msg_namelen = RX_NAMELEN;
		io->rx_msg[i].msg_controllen = RX_CONTROLLEN;
		recv_arm(io, i);
	}
	return 0;
}

/* The ring's teardown after exit is asynchronous: a multishot receive
 * still armed keeps its socket (and port) bound for a while after the
 * process is gone, so the next run could not bind. Cancel and reap them. */
static void recv_cancel_all(struct xl_io *io)
{
	unsigned armed = 0;

	for (unsigned i = 0; i < XL_SOCKS; i++) {
		struct io_uring_sqe *sqe = sqe_get(io);

		io_uring_prep_cancel64(sqe, (uint64_t)i << 3 | TAG_RECV, 0);
		io_uring_sqe_set_data64(sqe, 0);
		armed |= 1u << i;
	}
	for (int tries = 0; armed && tries < 50; tries++) {
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;

		xl_io_wait(io, 2000);
		io_uring_for_each_cqe(&io->ring, head, cqe) {
			uint64_t ud = io_uring_cqe_get_data64(cqe);

			if ((ud & TAG_MASK) == TAG_RECV && !(cqe->flags & IORING_CQE_F_MORE))
				armed &= ~(1u << (ud >> 3));
			else if ((ud & TAG_MASK) == TAG_SEND)
				xl_io_out_free(io, (void *)(uintptr_t)(ud & ~(uint64_t)TAG_MASK));
			n++;
		}
		io_uring_cq_advance(&io->ring, n);
	}
}

void xl_io_free(struct xl_io *io)
{
	io->nstamps = 0;
	if (io->ring.ring_fd > 0) {
		if (io->br)
			recv_cancel_all(io);
		io_uring_queue_exit(&io->ring);
	}
	for (unsigned i = 0; i < XL_SOCKS; i++)
		if (io->fd[i] >= 0)
			close(io->fd[i]);
	if (io->br)
		munmap(io->br, BR_ENTRIES * sizeof(struct io_uring_buf));
	free(io->br_mem);
	free(io->stamps);
	io->stamps = NULL;
	while (io->chunks) {
		struct xl_out_chunk *c = io->chunks;

		io->chunks = c->next;
		free(c);
	}
	io->free_out = NULL;
}

struct xl_out *xl_io_out(struct xl_io *io)
{
	struct xl_out *o = io->free_out;

	if (!o) {
		struct xl_out_chunk *chunk = calloc(1, sizeof(*chunk));

		if (!chunk)
			return NULL;
		chunk->next = io->chunks;
		io->chunks = chunk;
		for (unsigned i = 0; i < OUT_CHUNK; i++) {
			chunk->out[i].next = io->free_out;
			io->free_out = &chunk->out[i];
		}
		io->out_total += OUT_CHUNK;
		o = io->free_out;
	}
	io->free_out = o->next;
	o->sent_ns = NULL;
	return o;
}

void xl_io_out_free(struct xl_io *io, struct xl_out *o)
{
	o->next = io->free_out;
	io->free_out = o;
}

void xl_io_send(struct xl_io *io, struct xl_out *o)
{
	struct io_uring_sqe *sqe = sqe_get(io);

	o->iov = (struct iovec){ o->data, o->len };
	o->mh = (struct msghdr){ .msg_name = &o->to, .msg_namelen = o->tolen,
				 .msg_iov = &o->iov, .msg_iovlen = 1 };
	io_uring_prep_sendmsg(sqe, io->fd[o->sock], &o->mh, 0);
	io_uring_sqe_set_data64(sqe, (uintptr_t)o | TAG_SEND);
	if (o->sent_ns) {
		if (io->nstamps < RING_ENTRIES)
			io->stamps[io->nstamps++] = o->sent_ns;
		else /* cannot happen (see xl_io_init); a stamp now is close */
			*o->sent_ns = clock_ns(CLOCK_MONOTONIC);
	}
	io->inflight++;
	io->sends++;
}

void xl_io_wait(struct xl_io *io, uint64_t timeout_us)
{
	struct __kernel_timespec ts = { .tv_sec = (long long)(timeout_us / 1000000),
					.tv_nsec = (long long)(timeout_us % 1000000) * 1000 };
	struct io_uring_cqe *cqe;

	io->waits++;
	stamps_write(io);
	io_uring_submit_and_wait_timeout(&io->ring, &cqe, 1, &ts, NULL);
	/* The kernel stamps datagrams with CLOCK_REALTIME; the loop, its timers
	 * and the send stamps use CLOCK_MONOTONIC, which no one can set. Rather
	 * than taking latency times in CLOCK_REALTIME (an NTP step between a
	 * send and its answer would spoil that sample, even make it negative),
	 * receive times are converted with the clocks' offset, read again after
	 * every wake-up: a step spoils at most the datagrams of one batch, and
	 * slewing (500 ppm at most) moves the offset by under 0.5 µs in the
	 * millisecond at most between a datagram's arrival and its reaping. */
	io->real_off_ns = (int64_t)(clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC));
}

/* The kernel's receive time of a datagram, in CLOCK_MONOTONIC ns; 0 if
 * its cmsg is missing (SO_TIMESTAMPNS refused, or cut: MSG_CTRUNC). */
static uint64_t rx_time_ns(struct xl_io *io, struct io_uring_recvmsg_out *o, struct msghdr *mh)
{
	struct cmsghdr *first = io_uring_recvmsg_cmsg_firsthdr(o, mh), *c;

	if (o->flags & MSG_CTRUNC)
		return 0;
	for (c = first; c; c = io_uring_recvmsg_cmsg_nexthdr(o, mh, c)) {
		struct timespec ts;
		int64_t mono;

		/* liburing checks the next header's start, not that the
		 * first's length stays within what the kernel wrote. */
		if ((size_t)((char *)c - (char *)first) + c->cmsg_len > o->controllen)
			return 0;
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS ||
		    c->cmsg_len < CMSG_LEN(sizeof(ts)))
			continue;
		memcpy(&ts, CMSG_DATA(c), sizeof(ts));
		mono = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec - io->real_off_ns;
		return mono > 0 ? (uint64_t)mono : 0;
	}
	return 0;
}

static void on_recv(struct xl_io *io, unsigned s, struct io_uring_cqe *cqe)
{
	if (cqe->res >= 0 && (cqe->flags & IORING_CQE_F_BUFFER)) {
		unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		char *buf = io->br_mem + (size_t)bid * BR_SIZE;
		struct io_uring_recvmsg_out *o =
			io_uring_recvmsg_validate(buf, cqe->res, &io->rx_msg[s]);

		if (o && (o->flags & MSG_TRUNC)) {
			io->truncated++;
		} else if (o) {
			uint64_t rx_ns = rx_time_ns(io, o, &io->rx_msg[s]);

			io->recvs++;
			if (!rx_ns)
				io->rx_untimed++;
			io->on_datagram(io->ctx, s, io_uring_recvmsg_name(o), o->namelen,
					io_uring_recvmsg_payload(o, &io->rx_msg[s]),
					io_uring_recvmsg_payload_length(o, cqe->res, &io->rx_msg[s]),
					rx_ns);
		}
		br_recycle(io, bid);
	}
	/* ENOBUFS (every buffer in use) or any other end of the multishot. */
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		io->rearms++;
		recv_arm(io, s);
	}
}

unsigned xl_io_reap(struct xl_io *io)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	io_uring_for_each_cqe(&io->ring, head, cqe) {
		uint64_t ud = io_uring_cqe_get_data64(cqe);

		if ((ud & TAG_MASK) == TAG_RECV) {
			on_recv(io, (unsigned)(ud >> 3), cqe);
		} else if ((ud & TAG_MASK) == TAG_SEND) {
			io->inflight--;
			if (cqe->res < 0)
				io->send_errors++;
			xl_io_out_free(io, (struct xl_out *)(uintptr_t)(ud & ~(uint64_t)TAG_MASK));
		}
		n++;
	}
	io_uring_cq_advance(&io->ring, n);
	io->cqes += n;
	return n;
}
