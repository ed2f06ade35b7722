/* worker.h: one thread, one io_uring, one timer wheel, and every call whose
 * shard it is; the engine that starts the workers and hands messages across. */
#ifndef XFERD_WORKER_H
#define XFERD_WORKER_H

#include <liburing.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>

#include "config.h"
#include "hmap.h"
#include "ids.h"
#include "stats.h"
#include "ctab.h"
#include "spread.h"
#include "txn.h"
#include "wheel.h"
#include "xfer.h"

struct worker;
struct engine;

struct tcp_conn;
struct send_op;

/* Where a message came from or goes to: the socket and the peer. */
/* An IPv4 or IPv6 address: a peer is kept per transaction, leg and send,
 * where sockaddr_storage (128 bytes) would be mostly padding. */
union peer_addr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

struct peer {
	int fd;
	bool reliable;          /* TCP */
	struct tcp_conn *conn;  /* TCP: the connection, owned by worker conn_owner */
	uint32_t conn_gen;      /* the connection is still this one if gens match */
	uint8_t conn_owner;
	bool connected;         /* UDP: fd is connected to addr; sends name no address */
	socklen_t addr_len;
	union peer_addr addr;
};

/* A UDP socket of a worker: the shared listening port (SO_REUSEPORT, one per
 * worker), the worker's own port, which its Via and Contact name, or the
 * own port connected to a configured peer (worker_peer_connect()). */
struct udp_sock {
	int fd;
	struct worker *w;
	struct msghdr rx_msg; /* the multishot recvmsg template */
	bool multishot;
	bool connected;       /* to: the kernel delivers that peer's datagrams here */
	char *rx_buf;         /* single-shot fallback buffer */
	struct iovec rx_iov;
	struct sockaddr_storage rx_from;
	socklen_t to_len;
	union peer_addr to;
};

/* Configured peers (trunk URIs, the gateway) a worker keeps a connected
 * socket for: the kernel then skips a route lookup per datagram sent. */
#define WORKER_CONN_MAX 16

/* A queued cross-worker message (Vyukov's intrusive MPSC queue). */
struct inbox_node {
	_Atomic(struct inbox_node *) next;
};

struct inbox {
	_Atomic(struct inbox_node *) head; /* producers push here */
	struct inbox_node *tail;           /* the owner pops here */
	struct inbox_node stub;
	atomic_bool wake_pending;          /* a wake-up is already on its way */
};

struct worker {
	unsigned id;
	struct engine *eng;
	pthread_t thread;
	clockid_t cpu_clock;     /* the thread's CPU time, read by the spread planner */
	int ring_fd;             /* for IORING_OP_MSG_RING from other workers */
	struct io_uring ring;
	struct wheel wheel;
	struct ids ids;
	uint64_t now_ms;         /* read once per loop iteration */
	uint64_t now_us;
	const struct config *cfg;
	_Atomic(const struct config *) next_cfg; /* set by SIGHUP, taken by the loop */
	struct txn_timers timers;

	struct udp_sock shared, own;
	struct udp_sock conn[WORKER_CONN_MAX];
	unsigned nconn;
	uint16_t own_bind_port;  /* what own (and conn) are bound to */
	uint16_t own_port;
	unsigned sends_inflight;  /* UDP sends submitted, not completed */
	bool errqueue_more;       /* a socket's ICMP errors were not all read */
	struct send_op *send_free; /* recycled send buffers (worker.c) */
	unsigned send_free_n;
	struct io_uring_buf_ring *br;
	char *br_mem;
	unsigned br_entries, br_size;

	struct inbox inbox;
	struct hmap txns;        /* struct rtxn by branch, side and method */
	struct ctab ctab;        /* client struct rtxn by the seq in our branch */
	struct hmap dialogs;     /* struct leg by Call-ID and local tag */
	void *tcp;               /* tcp.c's per-worker state */
	struct call *calls;      /* every call of this worker, for shutdown */
	struct call *reap;       /* calls ended in this loop iteration */
	char via_host[64];       /* "host:port" of this worker, for Via and Contact */
	struct str via;          /* via_host as a slice */
	/* Per spread slot, the transactions opened here by requests without
	 * a To tag: while any is left, the slot cannot move (spread.h). */
	uint32_t held[SPREAD_SLOTS];
	struct wheel_timer spread_timer;
	unsigned spread_ticks;
	struct worker_stats st;
	atomic_bool started;
	int start_err;
};

struct engine {
	const struct config *cfg;
	unsigned nworkers;
	struct worker *workers[IDS_MAX_SHARDS];
	struct spread spread;
	/* Worker 0's, for planning: what it last read of each worker. */
	struct spread_plan plan;
	uint64_t plan_cpu_ns[IDS_MAX_SHARDS];
	uint64_t plan_at_us;
	atomic_bool stop;
	atomic_bool draining;
};

/* Create the sockets of every worker and start their threads. Returns 0
 * or -errno (logged). */
int engine_start(struct engine *e, const struct config *cfg);

/* Calls admitted and not finished, summed over the workers. */
uint64_t engine_calls_active(const struct engine *e);

/* Ask every worker to stop, join them, close everything. */
void engine_stop(struct engine *e);

/* If w keeps a socket connected to p's address (a configured UDP peer),
 * make p send through it. */
void worker_peer_connect(const struct worker *w, struct peer *p);

/* Queue a datagram for sending from w to p; the bytes are copied. */
void worker_send(struct worker *w, const struct peer *p, const char *buf, size_t len);

/* Hand a received message to the worker that owns it (copied). */
void worker_handoff(struct worker *from, unsigned to, const struct peer *p,
		    const char *buf, size_t len);

/* Pass a request that opens a call on to the worker its spread slot is
 * moving to, which takes it whatever it reads in the slot by then. */
void worker_handoff_placed(struct worker *from, unsigned to, const struct peer *p,
			   const char *buf, size_t len);

/* user_data tag of completions that tcp.c handles: tcp.c ORs it into an
 * 8-aligned pointer of its own and gets the pointer back in tcp_on_cqe(). */
#define WORKER_TAG_TCP 5
/* The same for metrics.c (the /metrics HTTP endpoint, on worker 0). */
#define WORKER_TAG_METRICS 6

/* An SQE on w's ring, flushing the queue to the kernel if it is full. */
struct io_uring_sqe *worker_sqe(struct worker *w);

/* Hand bytes to write on a TCP connection to the worker that owns it. */
void worker_handoff_send(struct worker *from, unsigned to, const struct peer *p,
			 const char *buf, size_t len);

/* Hand a request that failed in transport to the worker that sent it
 * (router_on_send_failed() there). */
void worker_handoff_send_failed(struct worker *from, unsigned to, const struct peer *p,
				const char *buf, size_t len, int err);

/* The monotonic clock now, in µs (the loop's now_us is read once per batch). */
uint64_t worker_clock_us(void);

/* The advertised host and the worker's own port, for Via and Contact. */
struct str worker_host(const struct worker *w);

#endif
