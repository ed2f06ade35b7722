/* re_shim.h: libre's SIP decoder (sip_msg_decode) behind names that do not
 * clash with proto/msg.h, for the differential test and the benchmark. RFC 3261 §7. */
#ifndef XFERD_RE_SHIM_H
#define XFERD_RE_SHIM_H

/* Only standard headers here: this file is included next to proto/msg.h,
 * while libre's own headers, which declare struct sip_msg too, stay inside
 * re_shim.c. */
#include <stddef.h>
#include <stdint.h>

/* What libre decoded, copied out as NUL-terminated strings; "" where the
 * message has no such field (no To tag, a response's Request-URI...). */
struct re_fields {
	int is_request;
	char method[32];
	char ruri[512];
	unsigned status;
	char call_id[256];
	uint32_t cseq_num;
	char cseq_method[32];
	char from_tag[128];
	char to_tag[128];
	char via_branch[128]; /* of the top Via */
	int has_clen;
	uint32_t clen;    /* Content-Length (l) as libre reads it: pl_u32() */
	size_t rest_len;  /* bytes after the empty line: libre's UDP body */
	/* Body framed by Content-Length the way libre's TCP transport does it
	 * (the rest when there is no Content-Length). Points into the caller's
	 * buf, not into libre's copy. */
	const char *body;
	size_t body_len;
	int body_short; /* Content-Length larger than rest_len */
};

/* Decode buf with libre and copy the fields out. Returns 0, -ENOSPC if a
 * field does not fit its array (never truncated silently), or libre's
 * error negated: -EBADMSG, -ENODATA (no end of headers), -ENOMEM. */
int re_shim_parse(const char *buf, size_t len, struct re_fields *out);

/* One message held in a libre buffer, decoded again and again by the
 * benchmark: the copy into libre's mbuf is made once, outside the timing,
 * as our parser is given a buffer it does not copy either. */
struct re_shim_buf;

/* Returns 0 or -ENOMEM. */
int re_shim_buf_new(struct re_shim_buf **bp, const char *buf, size_t len);

/* sip_msg_decode() then mem_deref(): the whole cost libre pays per received
 * message. Adds CSeq number and Call-ID length to *sum so the work cannot be
 * optimised away. Returns 0 or libre's error negated. */
int re_shim_buf_decode(struct re_shim_buf *b, uint64_t *sum);

void re_shim_buf_destroy(struct re_shim_buf *b);

#endif
