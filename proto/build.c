/* build.c: appends start lines, headers and bodies to a fixed buffer.
 * RFC 3261 §7 (syntax), §8.2.6.2 (headers a response copies), §20.14. */
#include <errno.h>

#include "build.h"
#include "param.h"

void sip_build_init(struct sip_build *b, char *buf, size_t cap)
{
	*b = (struct sip_build){ .buf = buf, .cap = cap };
}

void sip_build_overflow(struct sip_build *b)
{
	if (!b->err)
		b->err = -ENOSPC;
}

/* One compare for the printable bytes that make up nearly every value. */
static bool is_line_break(char c)
{
	return (unsigned char)c <= '\r' && (c == '\r' || c == '\n' || c == '\0');
}

/* The first CR, LF or NUL in [p, end), or end. Eight bytes per step: a
 * word with no byte below 14 has none of them (values are mostly clean). */
static const char *line_break_find(const char *p, const char *end)
{
	for (; end - p >= 8; p += 8) {
		uint64_t x;

		memcpy(&x, p, sizeof(x));
		if (!((x - 0x0e0e0e0e0e0e0e0eull) & ~x & 0x8080808080808080ull))
			continue;
		for (unsigned i = 0; i < 8; i++)
			if (is_line_break(p[i]))
				return p + i;
	}
	for (; p < end; p++)
		if (is_line_break(*p))
			return p;
	return end;
}

void sip_build_value(struct sip_build *b, struct str v)
{
	const char *p = v.p, *end = str_end(v), *q;

	while (p < end) {
		q = line_break_find(p, end);
		sip_build_raw(b, str_span(p, q));
		if (q == end)
			break;
		/* A break and the white space around it read as one space. */
		while (q < end && (is_line_break(*q) || *q == ' ' || *q == '\t'))
			q++;
		sip_build_raw(b, STR(" "));
		p = q;
	}
}

void sip_build_uint(struct sip_build *b, uint64_t v)
{
	char tmp[20];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	sip_build_raw(b, str_make(tmp + i, sizeof(tmp) - i));
}

void sip_build_request_line(struct sip_build *b, struct str method, struct str uri)
{
	sip_build_value(b, method);
	sip_build_raw(b, STR(" "));
	sip_build_value(b, uri);
	sip_build_raw(b, STR(" SIP/2.0\r\n"));
}

void sip_build_status_line(struct sip_build *b, unsigned code, struct str reason)
{
	sip_build_raw(b, STR("SIP/2.0 "));
	sip_build_uint(b, code);
	sip_build_raw(b, STR(" "));
	sip_build_value(b, reason);
	sip_build_raw(b, STR("\r\n"));
}

void sip_build_header_begin(struct sip_build *b, struct str name)
{
	sip_build_value(b, name);
	sip_build_raw(b, STR(": "));
}

void sip_build_header_end(struct sip_build *b)
{
	sip_build_raw(b, STR("\r\n"));
}

void sip_build_header(struct sip_build *b, struct str name, struct str value)
{
	sip_build_header_begin(b, name);
	sip_build_value(b, value);
	sip_build_header_end(b);
}

void sip_build_header_uint(struct sip_build *b, struct str name, uint64_t v)
{
	sip_build_header_begin(b, name);
	sip_build_uint(b, v);
	sip_build_header_end(b);
}

void sip_build_header_copy(struct sip_build *b, const struct sip_msg *m,
			   enum sip_hdr_id id)
{
	for (const struct sip_hdr *h = sip_msg_hdr_first(m, id); h; h = sip_msg_hdr_next(m, h))
		sip_build_header(b, id ? sip_hdr_name(id) : h->name, h->value);
}

/* The top Via's parameters with rport filled in and received set. */
static void build_via_params(struct sip_build *b, const struct sip_via *via,
			     const struct sip_src *src)
{
	struct str cur = via->params, name, val;

	while (sip_param_next(&cur, &name, &val) > 0) {
		if (str_caseeq(name, STR("received")))
			continue;
		sip_build_raw(b, STR(";"));
		sip_build_value(b, name);
		if (str_caseeq(name, STR("rport")) && !val.n) {
			sip_build_raw(b, STR("="));
			sip_build_uint(b, src->port);
		} else if (val.n) {
			sip_build_raw(b, STR("="));
			sip_build_value(b, val);
		}
	}
	if (via->rport || !str_caseeq(via->host, src->host)) {
		sip_build_raw(b, STR(";received="));
		sip_build_value(b, src->host);
	}
}

/* The first Via header, its first element rewritten for src (§18.2.1). */
static void build_top_via(struct sip_build *b, const struct sip_msg *req,
			  const struct sip_core *core, const struct sip_src *src)
{
	const struct sip_hdr *h = sip_msg_hdr_first(req, SIP_HDR_VIA);
	struct str cur = h->value, first;
	const char *params;

	if (sip_list_next(&cur, &first) <= 0) {
		sip_build_header(b, STR("Via"), h->value);
		return;
	}
	params = core->via.params.p ? core->via.params.p : str_end(first);
	sip_build_header_begin(b, STR("Via"));
	sip_build_value(b, str_trim(str_span(first.p, params)));
	build_via_params(b, &core->via, src);
	cur = str_trim(cur);
	if (cur.n && cur.p[0] == ',') {
		sip_build_raw(b, STR(", "));
		sip_build_value(b, str_trim(str_make(cur.p + 1, cur.n - 1)));
	}
	sip_build_header_end(b);
	for (h = sip_msg_hdr_next(req, h); h; h = sip_msg_hdr_next(req, h))
		sip_build_header(b, STR("Via"), h->value);
}

void sip_build_response(struct sip_build *b, const struct sip_msg *req,
			const struct sip_core *core, unsigned code,
			struct str reason, struct str to_tag, const struct sip_src *src)
{
	const struct sip_hdr *to = sip_msg_hdr_first(req, SIP_HDR_TO);

	sip_build_status_line(b, code, reason);
	if (src && sip_msg_hdr_first(req, SIP_HDR_VIA))
		build_top_via(b, req, core, src);
	else
		sip_build_header_copy(b, req, SIP_HDR_VIA);
	sip_build_header_copy(b, req, SIP_HDR_FROM);
	sip_build_header_begin(b, STR("To"));
	sip_build_value(b, to ? to->value : STR_NULL);
	if (!core->to.tag.n && to_tag.n) {
		sip_build_raw(b, STR(";tag="));
		sip_build_value(b, to_tag);
	}
	sip_build_header_end(b);
	sip_build_header_copy(b, req, SIP_HDR_CALL_ID);
	sip_build_header_copy(b, req, SIP_HDR_CSEQ);
}

int sip_build_finish(struct sip_build *b, struct str content_type, struct str body)
{
	if (body.n)
		sip_build_header(b, STR("Content-Type"), content_type);
	sip_build_header_uint(b, STR("Content-Length"), body.n);
	sip_build_raw(b, STR("\r\n"));
	sip_build_raw(b, body);
	return b->err ? b->err : (int)b->n;
}
