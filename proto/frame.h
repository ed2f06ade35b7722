/* frame.h: cutting SIP messages out of a TCP byte stream, resumably.
 * RFC 3261 §18.3 (Content-Length mandatory on streams), RFC 5626 §3.5.1 (CRLF keep-alive). */
#ifndef XFERD_FRAME_H
#define XFERD_FRAME_H

#include "str.h"

#define SIP_FRAME_MAX_HEADER (64 * 1024)

enum sip_frame_kind {
	SIP_FRAME_MESSAGE, /* a complete SIP message */
	SIP_FRAME_PING,    /* CRLFCRLF keep-alive: answer with SIP_FRAME_PONG */
	SIP_FRAME_PONG,    /* a lone CRLF: the answer to a ping; ignore */
};

/* State kept between reads so a message arriving in pieces is scanned once. */
struct sip_frame {
	size_t scanned;     /* bytes of the header block already searched */
	size_t header_len;  /* 0 until the empty line is found */
	uint32_t body_len;
	size_t max_body;    /* 0: the default, 1 MiB */
	const char *err;    /* set with -EBADMSG and -EMSGSIZE */
	size_t err_at;
};

/* Look at buf, the unconsumed bytes of a stream (same start as on the last
 * call, possibly longer). Returns 1 when a frame is complete, with its
 * length and kind: the caller consumes that many bytes and calls again
 * (the state is reset for the next frame); 0 if more bytes are needed;
 * -EMSGSIZE if the header block exceeds SIP_FRAME_MAX_HEADER or the body
 * max_body; -EBADMSG if Content-Length is missing, malformed or
 * conflicting. On errors the stream cannot be resynchronised: close it. */
int sip_frame_next(struct sip_frame *f, const char *buf, size_t len,
		   size_t *frame_len, enum sip_frame_kind *kind);

#endif
