/* build.h: writing SIP requests and responses into a caller-supplied buffer,
 * without malloc, with no way for a network value to inject a line. RFC 3261 §7, §8.2.6. */
#ifndef XFERD_BUILD_H
#define XFERD_BUILD_H

#include "hdr.h"

/* The first error is sticky, so a builder sequence is checked once, at
 * sip_build_finish(). */
struct sip_build {
	char *buf;
	size_t n;
	size_t cap;
	int err; /* 0 or -ENOSPC */
};

void sip_build_init(struct sip_build *b, char *buf, size_t cap);

/* "METHOD uri SIP/2.0" */
void sip_build_request_line(struct sip_build *b, struct str method, struct str uri);

/* "SIP/2.0 code reason" */
void sip_build_status_line(struct sip_build *b, unsigned code, struct str reason);

/* "Name: value". The value is sanitised as by sip_build_value(). */
void sip_build_header(struct sip_build *b, struct str name, struct str value);

/* "Name: 123" */
void sip_build_header_uint(struct sip_build *b, struct str name, uint64_t v);

/* Every header of id in m, in order, under its canonical name. */
void sip_build_header_copy(struct sip_build *b, const struct sip_msg *m,
			   enum sip_hdr_id id);

/* A header written in pieces: begin, any mix of value/raw/uint, end. */
void sip_build_header_begin(struct sip_build *b, struct str name);
void sip_build_header_end(struct sip_build *b);

/* Append a value that may come from the network: folding and any CR, LF or
 * NUL become a single space, so it can never end the line it is in. */
void sip_build_value(struct sip_build *b, struct str v);

/* Marks b as out of space (the out-of-line half of sip_build_raw). */
void sip_build_overflow(struct sip_build *b);

/* Append bytes the engine wrote itself (literals, its own tags). Inline:
 * most are literals of a few bytes, whose copy then compiles to a move. */
static inline void sip_build_raw(struct sip_build *b, struct str v)
{
	if (b->err || v.n > b->cap - b->n) {
		sip_build_overflow(b);
		return;
	}
	if (v.n)
		memcpy(b->buf + b->n, v.p, v.n);
	b->n += v.n;
}

void sip_build_uint(struct sip_build *b, uint64_t v);

/* Where a request came from, as text: its source IP (no brackets) and port. */
struct sip_src {
	struct str host;
	uint16_t port;
};

/* Status line, every Via, From, To (with ;tag=to_tag added when the request
 * had none and to_tag is not empty), Call-ID and CSeq of req: the headers
 * RFC 3261 §8.2.6.2 copies into a response. With src, the top Via gets
 * received=<source IP> when its sent-by host differs (§18.2.1) or it asks
 * for rport, and a valueless rport gets the source port (RFC 3581 §4). */
void sip_build_response(struct sip_build *b, const struct sip_msg *req,
			const struct sip_core *core, unsigned code,
			struct str reason, struct str to_tag, const struct sip_src *src);

/* Content-Type (when body is not empty), Content-Length, the empty line and
 * the body. Returns the message length, or -ENOSPC if it did not fit. */
int sip_build_finish(struct sip_build *b, struct str content_type, struct str body);

#endif
