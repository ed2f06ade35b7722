/* udp_echo.c: the kernel floor under xferd's UDP path: an io_uring echo server
 * (one thread, the I/O pattern of engine/worker.c) timed by its own CPU. RFC 3261 §18.1 (UDP). */
#include <errno.h>
#include <getopt.h>
#include <liburing.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The server does what a worker does per datagram: a multishot recvmsg
 * completion from a provided buffer ring, one sendmsg SQE back to the
 * source, one io_uring_submit_and_wait_timeout per loop iteration. It
 * does not parse, allocate or copy (the reply is sent from the receive
 * buffer, which goes back to the ring when the send completes), so what
 * it costs is io_uring plus the kernel's UDP receive and send: a floor. */

#define RING_ENTRIES 1024
#define BR_GROUP 0
#define BR_ENTRIES 2048 /* power of two; at least twice the window */
#define BR_SIZE 2048    /* larger than any datagram sent here */
#define WINDOW_MAX (BR_ENTRIES / 2)
#define WAIT_MS 100     /* the server looks at the phase at least this often */
#define BATCH 64        /* datagrams per recvmmsg/sendmmsg of the generator */

/* The machine notes' figure for the loopback receive+send of one echo. */
#define REF_US_PER_ECHO 3.2

enum { TAG_RECV = 1, TAG_SEND = 2, TAG_MASK = 7, TAG_SHIFT = 3 };

/* Who is doing what: the generator moves the phase forward, the server
 * samples its CPU time when it sees WARM turn to MEASURE and MEASURE to
 * STOP, and answers STOP with DONE. */
enum phase { PH_WARM, PH_MEASURE, PH_STOP, PH_DONE };

struct opts {
	double seconds;
	double warmup;
	unsigned window;
	unsigned size;
};

/* One per provided buffer: the reply's msghdr, while the reply is in flight. */
struct echo_slot {
	struct msghdr mh;
	struct iovec iov;
	struct sockaddr_storage to;
};

struct echo_server {
	int fd;
	struct io_uring ring;
	struct io_uring_buf_ring *br;
	char *br_mem;
	struct msghdr rx_msg; /* the multishot template: name and no control */
	struct echo_slot *slots;
	int cpu;              /* pinned to, or -1 */
	atomic_bool ready;    /* the ring is set up (or s->err says why not) */

	/* Counted by the server thread, read after it has been joined. */
	uint64_t echoes, send_errors, truncated, rearms, loops;
	uint64_t echoes_at_start, loops_at_start;
	struct rusage ru_start, ru_end;
	int err;
};

struct echo_client {
	int fd;
	int cpu;
	const struct opts *o;
	uint64_t sent, received, refills;
	struct rusage ru_start, ru_end;
	double t_start, t_end; /* of the measured window, CLOCK_MONOTONIC s */
	int err;
};

static _Atomic int phase = PH_WARM;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double ru_cpu_us(const struct rusage *a, const struct rusage *b)
{
	double us = 0;

	us += (double)(b->ru_utime.tv_sec - a->ru_utime.tv_sec) * 1e6 +
	      (double)(b->ru_utime.tv_usec - a->ru_utime.tv_usec);
	us += (double)(b->ru_stime.tv_sec - a->ru_stime.tv_sec) * 1e6 +
	      (double)(b->ru_stime.tv_usec - a->ru_stime.tv_usec);
	return us;
}

static double ru_part_us(const struct timeval *a, const struct timeval *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e6 + (double)(b->tv_usec - a->tv_usec);
}

/* Pin the calling thread; -1 (no pinning) where the CPU does not exist. */
static int cpu_pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0 || cpu >= sysconf(_SC_NPROCESSORS_ONLN))
		return -1;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return pthread_setaffinity_np(pthread_self(), sizeof(set), &set) ? -1 : cpu;
}

static struct io_uring_sqe *echo_sqe(struct echo_server *s)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);

	if (!sqe) {
		io_uring_submit(&s->ring);
		sqe = io_uring_get_sqe(&s->ring);
	}
	return sqe;
}

/* As worker.c's ring_setup(), with a completion queue big enough for a
 * full window of receives and sends. */
static int echo_ring_setup(struct echo_server *s)
{
	struct io_uring_params p = { .flags = IORING_SETUP_SINGLE_ISSUER |
					      IORING_SETUP_DEFER_TASKRUN |
					      IORING_SETUP_COOP_TASKRUN | IORING_SETUP_CQSIZE,
				     .cq_entries = 4 * BR_ENTRIES };
	int r = io_uring_queue_init_params(RING_ENTRIES, &s->ring, &p);

	if (r == -EINVAL) {
		p = (struct io_uring_params){ .flags = IORING_SETUP_CQSIZE,
					      .cq_entries = 4 * BR_ENTRIES };
		r = io_uring_queue_init_params(RING_ENTRIES, &s->ring, &p);
	}
	return r;
}

/* The provided buffer ring, registered by hand (liburing 2.3 has no
 * io_uring_setup_buf_ring), as worker.c's br_setup(). */
static int echo_br_setup(struct echo_server *s)
{
	struct io_uring_buf_reg reg = { 0 };
	size_t ring_bytes = BR_ENTRIES * sizeof(struct io_uring_buf);
	int r;

	s->br = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (s->br == MAP_FAILED) {
		s->br = NULL;
		return -errno;
	}
	s->br_mem = malloc((size_t)BR_ENTRIES * BR_SIZE);
	s->slots = calloc(BR_ENTRIES, sizeof(*s->slots));
	if (!s->br_mem || !s->slots)
		return -ENOMEM;
	reg.ring_addr = (uintptr_t)s->br;
	reg.ring_entries = BR_ENTRIES;
	reg.bgid = BR_GROUP;
	r = io_uring_register_buf_ring(&s->ring, &reg, 0);
	if (r)
		return r;
	io_uring_buf_ring_init(s->br);
	for (unsigned i = 0; i < BR_ENTRIES; i++)
		io_uring_buf_ring_add(s->br, s->br_mem + (size_t)i * BR_SIZE, BR_SIZE,
				      (unsigned short)i, io_uring_buf_ring_mask(BR_ENTRIES), (int)i);
	io_uring_buf_ring_advance(s->br, BR_ENTRIES);
	return 0;
}

static void echo_br_recycle(struct echo_server *s, unsigned bid)
{
	io_uring_buf_ring_add(s->br, s->br_mem + (size_t)bid * BR_SIZE, BR_SIZE,
			      (unsigned short)bid, io_uring_buf_ring_mask(BR_ENTRIES), 0);
	io_uring_buf_ring_advance(s->br, 1);
}

static int echo_recv_arm(struct echo_server *s)
{
	struct io_uring_sqe *sqe = echo_sqe(s);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_recvmsg_multishot(sqe, s->fd, &s->rx_msg, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BR_GROUP;
	io_uring_sqe_set_data64(sqe, TAG_RECV);
	return 0;
}

/* Echo the datagram in buffer bid from where it lies; the buffer stays
 * out of the ring until the send completes. */
static void echo_on_recv(struct echo_server *s, struct io_uring_cqe *cqe)
{
	unsigned bid;
	char *buf;
	struct io_uring_recvmsg_out *o;
	struct echo_slot *sl;
	struct io_uring_sqe *sqe;

	if (cqe->res < 0) {
		/* ENOBUFS: every buffer was out; the multishot ended. */
		if (cqe->res != -ENOBUFS && !s->err)
			s->err = cqe->res;
		goto rearm;
	}
	if (!(cqe->flags & IORING_CQE_F_BUFFER))
		goto rearm;
	bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
	buf = s->br_mem + (size_t)bid * BR_SIZE;
	o = io_uring_recvmsg_validate(buf, cqe->res, &s->rx_msg);
	if (!o || (o->flags & MSG_TRUNC) || o->namelen > sizeof(sl->to)) {
		s->truncated++;
		echo_br_recycle(s, bid);
		goto rearm;
	}
	sl = &s->slots[bid];
	memcpy(&sl->to, io_uring_recvmsg_name(o), o->namelen);
	sl->iov = (struct iovec){ io_uring_recvmsg_payload(o, &s->rx_msg),
				  io_uring_recvmsg_payload_length(o, cqe->res, &s->rx_msg) };
	sl->mh = (struct msghdr){ .msg_name = &sl->to, .msg_namelen = o->namelen,
				  .msg_iov = &sl->iov, .msg_iovlen = 1 };
	sqe = echo_sqe(s);
	if (!sqe) {
		echo_br_recycle(s, bid);
		goto rearm;
	}
	io_uring_prep_sendmsg(sqe, s->fd, &sl->mh, 0);
	io_uring_sqe_set_data64(sqe, ((uint64_t)bid << TAG_SHIFT) | TAG_SEND);
rearm:
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		s->rearms++;
		echo_recv_arm(s);
	}
}

static void echo_on_send(struct echo_server *s, unsigned bid, int res)
{
	if (res > 0)
		s->echoes++;
	else
		s->send_errors++;
	echo_br_recycle(s, bid);
}

/* The loop of worker.c: submit + wait, reap the batch, dispatch, advance;
 * the sends queued while dispatching go out with the next submit. */
static void *echo_server_main(void *arg)
{
	struct echo_server *s = arg;
	bool measuring = false;

	s->cpu = cpu_pin(0);
	/* SINGLE_ISSUER: the ring belongs to the thread that creates it. */
	s->err = echo_ring_setup(s);
	if (!s->err)
		s->err = echo_br_setup(s);
	if (!s->err)
		s->err = echo_recv_arm(s);
	atomic_store_explicit(&s->ready, true, memory_order_release);
	while (!s->err) {
		struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = WAIT_MS * 1000000LL };
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;
		int ph;

		io_uring_submit_and_wait_timeout(&s->ring, &cqe, 1, &ts, NULL);
		s->loops++;
		ph = atomic_load_explicit(&phase, memory_order_acquire);
		if (ph == PH_MEASURE && !measuring) {
			getrusage(RUSAGE_THREAD, &s->ru_start);
			s->echoes_at_start = s->echoes;
			s->loops_at_start = s->loops;
			measuring = true;
		} else if (ph >= PH_STOP) {
			getrusage(RUSAGE_THREAD, &s->ru_end);
			if (!measuring) /* a window too short to be seen */
				s->ru_start = s->ru_end;
			break;
		}
		io_uring_for_each_cqe(&s->ring, head, cqe) {
			uint64_t ud = io_uring_cqe_get_data64(cqe);

			if ((ud & TAG_MASK) == TAG_RECV)
				echo_on_recv(s, cqe);
			else if ((ud & TAG_MASK) == TAG_SEND)
				echo_on_send(s, (unsigned)(ud >> TAG_SHIFT), cqe->res);
			n++;
		}
		io_uring_cq_advance(&s->ring, n);
	}
	atomic_store_explicit(&phase, PH_DONE, memory_order_release);
	return NULL;
}

static int udp_socket(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), bufsz = 4 << 20;

	if (fd < 0)
		return -errno;
	/* As worker.c's udp_open(): a burst of a window never overflows. */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
	return fd;
}

/* 127.0.0.1 on a port the kernel picks; *sin gets the address. */
static int echo_server_open(struct echo_server *s, struct sockaddr_in *sin)
{
	socklen_t len = sizeof(*sin);

	s->fd = udp_socket();
	if (s->fd < 0)
		return s->fd;
	*sin = (struct sockaddr_in){ .sin_family = AF_INET,
				     .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (bind(s->fd, (struct sockaddr *)sin, sizeof(*sin)) < 0 ||
	    getsockname(s->fd, (struct sockaddr *)sin, &len) < 0)
		return -errno;
	s->rx_msg.msg_namelen = sizeof(struct sockaddr_storage);
	return 0;
}

static void echo_server_close(struct echo_server *s)
{
	if (s->ring.ring_fd > 0) /* after the server thread has been joined */
		io_uring_queue_exit(&s->ring);
	if (s->br)
		munmap(s->br, BR_ENTRIES * sizeof(struct io_uring_buf));
	free(s->br_mem);
	free(s->slots);
	if (s->fd > 0)
		close(s->fd);
}

/* Send n datagrams of the window; returns how many went, or -errno. */
static int client_send(struct echo_client *c, struct mmsghdr *mm, unsigned n)
{
	unsigned done = 0;

	while (done < n) {
		int r = sendmmsg(c->fd, mm + done, n - done, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return done ? (int)done : -errno;
		done += (unsigned)r;
	}
	c->sent += done;
	return (int)done;
}

/* Keep window datagrams in flight: send the window, then send one more for
 * every one that comes back. A window stuck for WAIT_MS (datagrams lost) is
 * sent again, and counted. */
static void *echo_client_main(void *arg)
{
	struct echo_client *c = arg;
	const struct opts *o = c->o;
	static char tx[BR_SIZE], rx[BATCH][BR_SIZE];
	struct mmsghdr txm[BATCH], rxm[BATCH];
	struct iovec txv = { tx, 0 }, rxv[BATCH];
	double t_measure, t_stop;
	int r = 0;

	c->cpu = cpu_pin(1);
	txv.iov_len = o->size;
	memset(tx, 'x', o->size);
	for (unsigned i = 0; i < BATCH; i++) {
		txm[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &txv, .msg_iovlen = 1 } };
		rxv[i] = (struct iovec){ rx[i], BR_SIZE };
		rxm[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &rxv[i], .msg_iovlen = 1 } };
	}
	for (unsigned left = o->window; left && r >= 0; left -= (unsigned)r)
		r = client_send(c, txm, left < BATCH ? left : BATCH);
	t_measure = now_s() + o->warmup;
	t_stop = t_measure + o->seconds;
	while (r >= 0 && atomic_load_explicit(&phase, memory_order_acquire) != PH_DONE) {
		int ph = atomic_load_explicit(&phase, memory_order_relaxed);
		double t = now_s();

		if (ph == PH_WARM && t >= t_measure) {
			getrusage(RUSAGE_THREAD, &c->ru_start);
			c->t_start = t;
			atomic_store_explicit(&phase, PH_MEASURE, memory_order_release);
		} else if (ph == PH_MEASURE && t >= t_stop) {
			getrusage(RUSAGE_THREAD, &c->ru_end);
			c->t_end = t;
			/* Keep echoing until the server has taken its sample, so
			 * that it is loaded the same way up to the end. */
			atomic_store_explicit(&phase, PH_STOP, memory_order_release);
		}
		r = recvmmsg(c->fd, rxm, BATCH, MSG_WAITFORONE, NULL);
		if (r > 0) {
			c->received += (unsigned)r;
			r = client_send(c, txm, (unsigned)r);
		} else if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (ph < PH_STOP) /* after STOP the server has gone quiet */
				c->refills++;
			r = client_send(c, txm, o->window < BATCH ? o->window : BATCH);
		}
	}
	if (r < 0)
		c->err = r;
	/* Let the server out of its wait however the loop above ended. */
	if (atomic_load(&phase) < PH_STOP)
		atomic_store(&phase, PH_STOP);
	return NULL;
}

static int echo_client_open(struct echo_client *c, const struct sockaddr_in *to)
{
	struct timeval tv = { 0, WAIT_MS * 1000 };

	c->fd = udp_socket();
	if (c->fd < 0)
		return c->fd;
	if (setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(c->fd, (const struct sockaddr *)to, sizeof(*to)) < 0)
		return -errno;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: udp_echo [--seconds S] [--window W] [--size BYTES]\n"
		   "  --seconds  measured time, after a warm-up of 10%% (at most 1 s) (default 5)\n"
		   "  --window   datagrams kept in flight by the load generator (default 64, max %d)\n"
		   "  --size     bytes per datagram (default 600, max %d)\n",
		WINDOW_MAX, BR_SIZE - 512);
}

/* Returns 0, 1 after --help, -EINVAL on a bad option. */
static int opts_parse(struct opts *o, int argc, char **argv)
{
	static const struct option longs[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "window", required_argument, NULL, 'w' },
		{ "size", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	*o = (struct opts){ .seconds = 5, .window = 64, .size = 600 };
	while ((ch = getopt_long(argc, argv, "s:w:b:h", longs, NULL)) != -1) {
		if (ch == 's')
			o->seconds = atof(optarg);
		else if (ch == 'w')
			o->window = (unsigned)atoi(optarg);
		else if (ch == 'b')
			o->size = (unsigned)atoi(optarg);
		else if (ch == 'h')
			break;
		else
			goto bad;
	}
	if (ch == 'h') {
		usage(stdout);
		return 1;
	}
	if (optind < argc || !(o->seconds > 0) || o->window < 1 || o->window > WINDOW_MAX ||
	    o->size < 1 || o->size > BR_SIZE - 512)
		goto bad;
	o->warmup = o->seconds / 10 < 1 ? o->seconds / 10 : 1;
	return 0;
bad:
	usage(stderr);
	return -EINVAL;
}

static void report(const struct opts *o, const struct sockaddr_in *sin,
		   const struct echo_server *s, const struct echo_client *c)
{
	double wall = c->t_end - c->t_start;
	uint64_t n = s->echoes - s->echoes_at_start, loops = s->loops - s->loops_at_start;
	double cpu = ru_cpu_us(&s->ru_start, &s->ru_end);
	double usr = ru_part_us(&s->ru_start.ru_utime, &s->ru_end.ru_utime);
	double sys = ru_part_us(&s->ru_start.ru_stime, &s->ru_end.ru_stime);
	double ccpu = ru_cpu_us(&c->ru_start, &c->ru_end);
	double per_echo = n ? cpu / (double)n : 0;

	printf("udp_echo: io_uring echo server on 127.0.0.1:%u (multishot recvmsg, provided "
	       "buffer ring, one submit per loop), CPU %d; load generator CPU %d\n",
	       ntohs(sin->sin_port), s->cpu, c->cpu);
	printf("window %u datagrams of %u bytes; %.2f s measured after %.2f s of warm-up\n\n",
	       o->window, o->size, wall, o->warmup);
	printf("%-40s %12llu\n", "datagrams echoed", (unsigned long long)n);
	printf("%-40s %12.0f\n", "echoes/s", wall > 0 ? (double)n / wall : 0);
	printf("%-40s %12.1f\n", "echoes per loop iteration", loops ? (double)n / (double)loops : 0);
	printf("%-40s %12.3f s (user %.3f, sys %.3f; %.0f%% of a CPU)\n", "server CPU",
	       cpu * 1e-6, usr * 1e-6, sys * 1e-6, wall > 0 ? cpu * 1e-4 / wall : 0);
	printf("%-40s %12.2f µs\n", "server CPU per echo (receive+send)", per_echo);
	printf("%-40s %12.2f µs\n", "server CPU per datagram (per echo / 2)", per_echo / 2);
	printf("%-40s %12.2f µs\n", "load generator CPU per echo (not floor)",
	       n ? ccpu / (double)n : 0);
	if (s->send_errors || s->truncated || c->refills)
		printf("%-40s send errors %llu, truncated %llu, window refills %llu\n", "trouble",
		       (unsigned long long)s->send_errors, (unsigned long long)s->truncated,
		       (unsigned long long)c->refills);
	printf("\nreference: kernel loopback receive+send ~%.1f µs per echo, ~%.1f µs per datagram "
	       "(machine notes)\n",
	       REF_US_PER_ECHO, REF_US_PER_ECHO / 2);
	printf("this is the floor for bench/relay.py: xferd's CPU per SIP message over this\n");
	printf("result: echoes=%llu echoes_per_s=%.0f us_per_echo=%.3f us_per_datagram=%.3f\n",
	       (unsigned long long)n, wall > 0 ? (double)n / wall : 0, per_echo, per_echo / 2);
}

int main(int argc, char **argv)
{
	struct echo_server s = { .fd = -1 };
	struct echo_client c = { .fd = -1 };
	struct sockaddr_in sin;
	pthread_t ts, tc;
	struct opts o;
	int r = opts_parse(&o, argc, argv);

	if (r)
		return r > 0 ? 0 : 2;
	c.o = &o;
	r = echo_server_open(&s, &sin);
	if (r) {
		fprintf(stderr, "udp_echo: server set-up: %s\n", strerror(-r));
		goto out;
	}
	r = echo_client_open(&c, &sin);
	if (r) {
		fprintf(stderr, "udp_echo: load generator set-up: %s\n", strerror(-r));
		goto out;
	}
	if (pthread_create(&ts, NULL, echo_server_main, &s)) {
		r = -EAGAIN;
		goto out;
	}
	while (!atomic_load_explicit(&s.ready, memory_order_acquire))
		usleep(1000);
	if (s.err) {
		pthread_join(ts, NULL);
		fprintf(stderr, "udp_echo: server set-up: %s\n", strerror(-s.err));
		r = s.err;
		goto out;
	}
	if (pthread_create(&tc, NULL, echo_client_main, &c)) {
		atomic_store(&phase, PH_STOP);
		pthread_join(ts, NULL);
		r = -EAGAIN;
		goto out;
	}
	pthread_join(tc, NULL);
	pthread_join(ts, NULL);
	if (s.err || c.err) {
		fprintf(stderr, "udp_echo: %s: %s\n", s.err ? "server" : "load generator",
			strerror(-(s.err ? s.err : c.err)));
		r = s.err ? s.err : c.err;
		goto out;
	}
	if (s.echoes == s.echoes_at_start) {
		fprintf(stderr, "udp_echo: nothing was echoed in the measured window\n");
		r = -EIO;
		goto out;
	}
	report(&o, &sin, &s, &c);
out:
	if (c.fd >= 0)
		close(c.fd);
	echo_server_close(&s);
	return r ? 1 : 0;
}
