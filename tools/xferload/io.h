/* io.h: xferload's one io_uring: three UDP sockets received with multishot
 * recvmsg into one provided buffer ring, sends queued as SQEs and submitted
 * together with the wait; the kernel's receive time of each datagram
 * (SO_TIMESTAMPNS) and the submit time of a send. Nothing here knows SIP. */
#ifndef XFERLOAD_IO_H
#define XFERLOAD_IO_H

#include <liburing.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define XL_SOCKS 3
/* The largest message xferload writes; SIP over UDP stays under the path
 * MTU in practice (RFC 3261 §18.1.1), and ours are under 1 KiB. */
#define XL_MSG_MAX 1920

union xl_sa {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

/* One datagram to send, or kept to be sent again (a retransmission copy):
 * fixed size, from a free list, never freed until exit. */
struct xl_out {
	struct xl_out *next; /* free list */
	/* If set (xl_io_out clears it): *sent_ns is written with the
	 * CLOCK_MONOTONIC time read just before the submit that carries o. */
	uint64_t *sent_ns;
	struct msghdr mh;
	struct iovec iov;
	union xl_sa to;
	socklen_t tolen;
	uint16_t len;
	uint8_t sock;
	char data[XL_MSG_MAX];
};

struct xl_out_chunk;

/* Called for each datagram received; buf lives until it returns. rx_ns:
 * when the kernel received it (its SO_TIMESTAMPNS, CLOCK_REALTIME, turned
 * into CLOCK_MONOTONIC ns); 0 if it came without one. */
typedef void (*xl_on_datagram)(void *ctx, unsigned sock, const union xl_sa *from,
			       socklen_t fromlen, const char *buf, size_t len, uint64_t rx_ns);

struct xl_io {
	struct io_uring ring;
	int fd[XL_SOCKS];
	struct msghdr rx_msg[XL_SOCKS]; /* multishot recvmsg templates */
	struct io_uring_buf_ring *br;
	char *br_mem;
	struct xl_out *free_out;
	struct xl_out_chunk *chunks;    /* every xl_out allocated, freed at the end */
	uint64_t out_total;             /* xl_out objects allocated */
	unsigned inflight;              /* sends submitted, not completed */
	uint64_t **stamps;              /* xl_out.sent_ns of the sends queued, not submitted */
	unsigned nstamps;
	int64_t real_off_ns;            /* CLOCK_REALTIME - CLOCK_MONOTONIC, at the last wake-up */
	uint64_t sends, send_errors, recvs, truncated, rearms;
	uint64_t rx_untimed;            /* datagrams without a kernel timestamp */
	uint64_t waits, cqes; /* loop iterations and completions: the batch size */
	xl_on_datagram on_datagram;
	void *ctx;
};

/* Bind the sockets to local[i] (port 0: any; the bound port is written
 * back) and set up the ring. Returns 0 or -errno; *what names the step. */
int xl_io_init(struct xl_io *io, union xl_sa local[XL_SOCKS], const socklen_t len[XL_SOCKS],
	       xl_on_datagram cb, void *ctx, const char **what);
/* Close everything. Sends still unsubmitted write no sent_ns: what those
 * point into may be freed already. */
void xl_io_free(struct xl_io *io);

/* A free message buffer, or NULL when out of memory. */
struct xl_out *xl_io_out(struct xl_io *io);
void xl_io_out_free(struct xl_io *io, struct xl_out *o);

/* Queue o (o->len, o->sock, o->to, o->tolen set) for sending; it returns to
 * the free list when the send completes. Goes out with the next wait (or
 * earlier if the submission queue fills), which writes *o->sent_ns if set;
 * that must stay writable until then. */
void xl_io_send(struct xl_io *io, struct xl_out *o);

/* Submit what is queued and wait up to timeout_us for a completion; then
 * read the offset between the clocks that on_datagram's rx_ns uses. */
void xl_io_wait(struct xl_io *io, uint64_t timeout_us);

/* Handle every completion ready: datagrams go to on_datagram. */
unsigned xl_io_reap(struct xl_io *io);

#endif
