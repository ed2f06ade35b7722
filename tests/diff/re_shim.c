/* re_shim.c: the one translation unit that sees libre's headers; it decodes
 * with sip_msg_decode() and copies fields out. RFC 3261 §7, §18.3 (framing). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* libre's pkg-config Cflags carry none of the feature macros its own build
 * defines; without these re_types.h falls back to typedefs of its own that
 * conflict with <stdint.h>. HAVE_INET6 keeps struct sa as libre was built
 * (Debian enables IPv6). */
#define HAVE_INTTYPES_H 1
#define HAVE_STDBOOL_H 1
#define HAVE_INET6 1
#include <re.h>

#include "re_shim.h"

/* Copy a libre slice into a fixed array; refuse rather than truncate, so a
 * comparison never passes on a prefix. */
static int shim_copy(char *dst, size_t cap, const struct pl *pl)
{
	if (pl->l >= cap)
		return -ENOSPC;
	if (pl->l)
		memcpy(dst, pl->p, pl->l);
	dst[pl->l] = '\0';
	return 0;
}

static int shim_start_line(const struct sip_msg *msg, struct re_fields *out)
{
	int err = 0;

	out->is_request = msg->req;
	if (msg->req) {
		err |= shim_copy(out->method, sizeof(out->method), &msg->met);
		err |= shim_copy(out->ruri, sizeof(out->ruri), &msg->ruri);
	} else {
		out->status = msg->scode;
	}
	return err ? -ENOSPC : 0;
}

static int shim_core(const struct sip_msg *msg, struct re_fields *out)
{
	int err = 0;

	err |= shim_copy(out->call_id, sizeof(out->call_id), &msg->callid);
	out->cseq_num = msg->cseq.num;
	err |= shim_copy(out->cseq_method, sizeof(out->cseq_method), &msg->cseq.met);
	err |= shim_copy(out->from_tag, sizeof(out->from_tag), &msg->from.tag);
	err |= shim_copy(out->to_tag, sizeof(out->to_tag), &msg->to.tag);
	err |= shim_copy(out->via_branch, sizeof(out->via_branch), &msg->via.branch);
	return err ? -ENOSPC : 0;
}

/* sip_msg_decode() leaves mb->pos at the body. libre's UDP transport hands
 * the whole rest up; its TCP transport cuts Content-Length bytes. The
 * latter is what a Content-Length-honouring parser must agree with. */
static void shim_body(const struct sip_msg *msg, const struct mbuf *mb,
		      const char *buf, struct re_fields *out)
{
	out->rest_len = mbuf_get_left(mb);
	out->body = buf + mb->pos; /* mb holds a copy of buf from offset 0 */
	out->body_len = out->rest_len;
	out->has_clen = msg->clen.p != NULL;
	if (!out->has_clen)
		return;
	out->clen = pl_u32(&msg->clen);
	if (out->clen <= out->rest_len)
		out->body_len = out->clen;
	else
		out->body_short = 1;
}

int re_shim_parse(const char *buf, size_t len, struct re_fields *out)
{
	struct sip_msg *msg = NULL;
	struct mbuf *mb;
	int err;

	memset(out, 0, sizeof(*out));
	/* An mbuf from mbuf_alloc(), not one on the stack: sip_msg_decode()
	 * takes a reference to it with mem_ref(). */
	mb = mbuf_alloc(len);
	if (!mb)
		return -ENOMEM;
	err = mbuf_write_mem(mb, (const uint8_t *)buf, len);
	if (err)
		goto out;
	mbuf_set_pos(mb, 0); /* decoding starts at mb->pos */
	err = sip_msg_decode(&msg, mb);
	if (err)
		goto out;
	err = -shim_start_line(msg, out);
	if (!err)
		err = -shim_core(msg, out);
	if (!err)
		shim_body(msg, mb, buf, out);
out:
	mem_deref(msg);
	mem_deref(mb);
	return -err;
}

struct re_shim_buf {
	struct mbuf *mb;
};

int re_shim_buf_new(struct re_shim_buf **bp, const char *buf, size_t len)
{
	struct re_shim_buf *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	b->mb = mbuf_alloc(len);
	if (!b->mb || mbuf_write_mem(b->mb, (const uint8_t *)buf, len)) {
		re_shim_buf_destroy(b);
		return -ENOMEM;
	}
	*bp = b;
	return 0;
}

int re_shim_buf_decode(struct re_shim_buf *b, uint64_t *sum)
{
	struct sip_msg *msg;
	int err;

	mbuf_set_pos(b->mb, 0); /* the previous decode moved it to the body */
	err = sip_msg_decode(&msg, b->mb);
	if (err)
		return -err;
	*sum += msg->cseq.num + msg->callid.l;
	mem_deref(msg);
	return 0;
}

void re_shim_buf_destroy(struct re_shim_buf *b)
{
	if (!b)
		return;
	mem_deref(b->mb);
	free(b);
}
