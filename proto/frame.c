/* frame.c: finds where each SIP message of a stream ends without parsing it:
 * the empty line, then Content-Length bytes. RFC 3261 §7.5, §18.3; RFC 5626 §3.5.1. */
#include <errno.h>

#include "frame.h"

#define FRAME_DEFAULT_MAX_BODY (1024 * 1024)

static int frame_fail(struct sip_frame *f, int err, const char *why, size_t at)
{
	f->err = why;
	f->err_at = at;
	return err;
}

/* Offset just past the empty line ending the header block, or 0. Resumes
 * from f->scanned so that a header block arriving in pieces is read once. */
static size_t header_end(struct sip_frame *f, const char *buf, size_t len)
{
	size_t i = f->scanned > 3 ? f->scanned - 3 : 0;
	const char *lf;

	while (i < len && (lf = memchr(buf + i, '\n', len - i))) {
		size_t j = (size_t)(lf - buf) + 1;

		if (j < len && buf[j] == '\n')
			return j + 1;
		if (j + 1 < len && buf[j] == '\r' && buf[j + 1] == '\n')
			return j + 2;
		i = j;
	}
	f->scanned = len;
	return 0;
}

/* The value of a "Content-Length:" or "l:" line starting at p, or an empty
 * slice if the line is another header. */
static struct str clen_value(const char *p, const char *end)
{
	static const char name[] = "content-length";
	const char *q = p, *lf;
	size_t n = 0;

	while (q < end && n < sizeof(name) - 1 && str_lower(*q) == name[n])
		q++, n++;
	if (n != sizeof(name) - 1 && !(n == 0 && q < end && str_lower(*q) == 'l'))
		return STR_NULL;
	if (n == 0)
		q++;
	while (q < end && (*q == ' ' || *q == '\t'))
		q++;
	if (q == end || *q != ':')
		return STR_NULL;
	/* The value runs to the end of the logical line (§7.3.1 folding). */
	lf = memchr(q, '\n', (size_t)(end - q));
	while (lf && lf + 1 < end && (lf[1] == ' ' || lf[1] == '\t'))
		lf = memchr(lf + 1, '\n', (size_t)(end - lf - 1));
	return str_trim(str_span(q + 1, lf ? lf : end));
}

static int body_length(struct sip_frame *f, const char *buf)
{
	const char *p = buf, *end = buf + f->header_len, *lf;
	bool found = false;
	uint32_t v;

	for (; p < end; p = lf + 1) {
		struct str val = clen_value(p, end);

		lf = memchr(p, '\n', (size_t)(end - p));
		if (!lf)
			break;
		if (!val.p)
			continue;
		if (str_to_u32(val, UINT32_MAX, &v))
			return frame_fail(f, -EBADMSG, "bad Content-Length", (size_t)(val.p - buf));
		if (found && v != f->body_len)
			return frame_fail(f, -EBADMSG, "conflicting Content-Length",
					  (size_t)(val.p - buf));
		f->body_len = v;
		found = true;
	}
	if (!found)
		return frame_fail(f, -EBADMSG, "missing Content-Length on a stream", 0);
	if (f->body_len > (f->max_body ? f->max_body : FRAME_DEFAULT_MAX_BODY))
		return frame_fail(f, -EMSGSIZE, "body too large", f->header_len);
	return 0;
}

/* CRLFCRLF is a ping, a lone CRLF a pong; anything else starts a message. */
static int keepalive(const char *buf, size_t len, size_t *frame_len,
		     enum sip_frame_kind *kind)
{
	if (len < 2 || buf[0] != '\r' || buf[1] != '\n')
		return len == 1 && buf[0] == '\r' ? 0 : -1;
	if (len < 4) /* a ping still arriving, or a pong */
		return (len == 2 || buf[2] == '\r') ? 0 : (*frame_len = 2, *kind = SIP_FRAME_PONG, 1);
	if (buf[2] == '\r' && buf[3] == '\n') {
		*frame_len = 4;
		*kind = SIP_FRAME_PING;
	} else {
		*frame_len = 2;
		*kind = SIP_FRAME_PONG;
	}
	return 1;
}

int sip_frame_next(struct sip_frame *f, const char *buf, size_t len,
		   size_t *frame_len, enum sip_frame_kind *kind)
{
	size_t max_body = f->max_body;
	size_t total;
	int r;

	if (!f->header_len && !f->scanned) {
		r = keepalive(buf, len, frame_len, kind);
		if (r >= 0)
			return r;
	}
	if (!f->header_len) {
		f->header_len = header_end(f, buf, len);
		if (!f->header_len)
			return len > SIP_FRAME_MAX_HEADER
				       ? frame_fail(f, -EMSGSIZE, "header block too large", len)
				       : 0;
		if (f->header_len > SIP_FRAME_MAX_HEADER)
			return frame_fail(f, -EMSGSIZE, "header block too large", f->header_len);
		r = body_length(f, buf);
		if (r)
			return r;
	}
	total = f->header_len + f->body_len;
	if (len < total)
		return 0;
	*frame_len = total;
	*kind = SIP_FRAME_MESSAGE;
	*f = (struct sip_frame){ .max_body = max_body };
	return 1;
}
