/* hdr.c: typed readers for Via, name-addr headers, CSeq, Event,
 * Subscription-State and friends. RFC 3261 §20, §25.1; RFC 3581; RFC 6665. */
#include <errno.h>

#include "hdr.h"
#include "param.h"

static int bad(const char **err_at, const char *p)
{
	if (err_at)
		*err_at = p;
	return -EBADMSG;
}

static bool is_lws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static const char *skip_lws(const char *p, const char *end)
{
	while (p < end && is_lws(*p))
		p++;
	return p;
}

static bool is_token(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c && strchr("-.!%*_+`'~", c));
}

static const char *skip_token(const char *p, const char *end)
{
	while (p < end && is_token(*p))
		p++;
	return p;
}

int sip_token_read(struct str v, struct str *token, const char **err_at)
{
	v = str_trim(v);
	if (!v.n || skip_token(v.p, str_end(v)) != str_end(v))
		return bad(err_at, v.p);
	*token = v;
	return 0;
}

int sip_uint_read(struct str v, uint32_t max, uint32_t *out, const char **err_at)
{
	v = str_trim(v);
	if (str_to_u32(v, max, out))
		return bad(err_at, v.p);
	return 0;
}

/* "SIP / 2.0 / UDP": LWS is allowed around the slashes (RFC 4475 §3.1.1.1). */
static const char *via_protocol(struct str v, struct sip_via *via)
{
	const char *p = skip_lws(v.p, str_end(v)), *end = str_end(v), *a, *b;

	a = p;
	p = skip_token(p, end);
	b = p;
	p = skip_lws(p, end);
	if (a == b || p == end || *p != '/')
		return NULL;
	p = skip_lws(p + 1, end);
	if (skip_token(p, end) == p)
		return NULL;
	p = skip_token(p, end);
	via->proto = str_span(a, p); /* "SIP/2.0" when written without LWS */
	p = skip_lws(p, end);
	if (p == end || *p != '/')
		return NULL;
	p = skip_lws(p + 1, end);
	a = p;
	p = skip_token(p, end);
	if (a == p)
		return NULL;
	via->transport = str_span(a, p);
	return p;
}

static bool is_host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.';
}

/* host [":" port], host being a name, IPv4 or [IPv6]. */
static const char *read_hostport(const char *p, const char *end, struct str *host,
				 bool *ipv6, uint16_t *port)
{
	const char *a;
	uint32_t v;

	*ipv6 = p < end && *p == '[';
	if (*ipv6) {
		a = ++p;
		while (p < end && *p != ']' && (is_host_char(*p) || *p == ':'))
			p++;
		if (p == end || *p != ']' || p == a)
			return NULL;
		*host = str_span(a, p++);
	} else {
		a = p;
		while (p < end && is_host_char(*p))
			p++;
		if (p == a)
			return NULL;
		*host = str_span(a, p);
	}
	*port = 0;
	/* §25.1 allows LWS around the colon (HCOLON-like in sent-by). */
	a = skip_lws(p, end);
	if (a < end && *a == ':') {
		p = skip_lws(a + 1, end);
		a = p;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
		if (str_to_u32(str_span(a, p), 65535, &v) || v == 0)
			return NULL;
		*port = (uint16_t)v;
	}
	return p;
}

static int via_params(struct sip_via *via, const char **err_at)
{
	struct str cur = via->params, name, val;
	uint32_t v;
	int r;

	while ((r = sip_param_next(&cur, &name, &val)) > 0) {
		if (str_caseeq(name, STR("branch")))
			via->branch = val;
		else if (str_caseeq(name, STR("received")))
			via->received = val;
		else if (str_caseeq(name, STR("maddr")))
			via->maddr = val;
		else if (str_caseeq(name, STR("ttl")))
			via->ttl = val;
		else if (str_caseeq(name, STR("rport"))) {
			via->rport = true;
			if (val.n && str_to_u32(val, 65535, &v))
				return bad(err_at, val.p);
			via->rport_value = val.n ? (uint16_t)v : 0;
		}
	}
	return r < 0 ? bad(err_at, cur.p) : 0;
}

int sip_via_read(struct str v, struct sip_via *via, const char **err_at)
{
	const char *end = str_end(v), *p;

	memset(via, 0, sizeof(*via));
	p = via_protocol(v, via);
	if (!p || p == end || !is_lws(*p))
		return bad(err_at, p ? p : v.p);
	p = skip_lws(p, end);
	p = read_hostport(p, end, &via->host, &via->host_ipv6, &via->port);
	if (!p)
		return bad(err_at, via->host.p ? via->host.p : v.p);
	p = skip_lws(p, end);
	if (p < end && *p != ';')
		return bad(err_at, p);
	via->params = p < end ? str_span(p, end) : STR_NULL;
	return via_params(via, err_at);
}

static int params_check(struct str params, const char **err_at);

/* Closing quote of a quoted-string starting at p ('"'), or NULL. */
static const char *quoted_end(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		if (*p == '\\' && p + 1 < end)
			p++;
		else if (*p == '"')
			return p;
	}
	return NULL;
}

static int addr_uri(struct sip_addr *a, const char **err_at)
{
	int r = sip_uri_parse(a->uri_text, &a->uri, err_at);

	a->has_uri = r == 0;
	if (r == -EPROTONOSUPPORT)
		return 0;
	return r ? -EBADMSG : 0;
}

/* display-name? "<" URI ">" starting at p. Returns the byte after '>'. */
static const char *addr_name_addr(const char *p, const char *end, struct sip_addr *a)
{
	const char *lt, *gt;

	if (*p == '"') {
		const char *q = quoted_end(p, end);

		if (!q)
			return NULL;
		a->display = str_span(p + 1, q);
		p = skip_lws(q + 1, end);
		if (p == end || *p != '<')
			return NULL;
	} else if (*p != '<') {
		lt = memchr(p, '<', (size_t)(end - p));
		if (!lt)
			return NULL;
		a->display = str_trim(str_span(p, lt));
		for (const char *q = a->display.p; q < str_end(a->display); q++) {
			if (!is_token(*q) && !is_lws(*q))
				return NULL;
		}
		p = lt;
	}
	gt = memchr(p, '>', (size_t)(end - p));
	if (!gt)
		return NULL;
	a->angle = true;
	a->uri_text = str_span(p + 1, gt);
	return gt + 1;
}

int sip_addr_read(struct str v, struct sip_addr *a, const char **err_at)
{
	const char *p, *end;
	struct str tag;

	memset(a, 0, sizeof(*a));
	v = str_trim(v);
	p = v.p;
	end = str_end(v);
	if (!v.n)
		return bad(err_at, p);
	if (*p == '"' || *p == '<' || memchr(p, '<', v.n)) {
		p = addr_name_addr(p, end, a);
		if (!p)
			return bad(err_at, v.p);
	} else {
		/* addr-spec: ';' starts header params, never URI params, and a
		 * URI with ',' or '?' must be in <> (§20, RFC 4475 §3.1.2.13). */
		const char *semi = memchr(p, ';', v.n);

		a->uri_text = str_trim(str_span(p, semi ? semi : end));
		p = semi ? semi : end;
		if (str_chr(a->uri_text, '?') || str_chr(a->uri_text, ','))
			return bad(err_at, a->uri_text.p);
	}
	if (addr_uri(a, err_at))
		return -EBADMSG;
	p = skip_lws(p, end);
	if (p < end && *p != ';')
		return bad(err_at, p);
	a->params = p < end ? str_span(p, end) : STR_NULL;
	if (params_check(a->params, err_at))
		return -EBADMSG;
	if (sip_param_get(a->params, STR("tag"), &tag))
		a->tag = tag;
	return 0;
}

int sip_contact_read(struct str v, struct sip_contact *c, const char **err_at)
{
	struct str e;

	memset(c, 0, sizeof(*c));
	if (str_eq(str_trim(v), STR("*"))) {
		c->star = true;
		return 0;
	}
	if (sip_addr_read(v, &c->addr, err_at))
		return -EBADMSG;
	if (sip_param_get(c->addr.params, STR("expires"), &e)) {
		if (sip_uint_read(e, UINT32_MAX, &c->expires, err_at))
			return -EBADMSG;
		c->has_expires = true;
	}
	return 0;
}

int sip_cseq_read(struct str v, struct sip_cseq *c, const char **err_at)
{
	const char *p, *end, *a;
	uint32_t num;

	v = str_trim(v);
	p = v.p;
	end = str_end(v);
	a = p;
	while (p < end && *p >= '0' && *p <= '9')
		p++;
	/* §8.1.1.5: the sequence number must be less than 2**31. */
	if (str_to_u32(str_span(a, p), 0x7fffffff, &num))
		return bad(err_at, a);
	if (p == end || !is_lws(*p))
		return bad(err_at, p);
	p = skip_lws(p, end);
	a = p;
	p = skip_token(p, end);
	if (p == a || p != end)
		return bad(err_at, p);
	c->num = num;
	c->method = str_span(a, p);
	c->method_id = sip_method_lookup(c->method);
	return 0;
}

/* The token before the first ';', and the params after it. */
static int token_and_params(struct str v, struct str *token, struct str *params,
			    const char **err_at)
{
	const char *p, *end, *a;

	v = str_trim(v);
	p = v.p;
	end = str_end(v);
	a = p;
	p = skip_token(p, end);
	if (p == a)
		return bad(err_at, a);
	*token = str_span(a, p);
	p = skip_lws(p, end);
	if (p < end && *p != ';')
		return bad(err_at, p);
	*params = p < end ? str_span(p, end) : STR_NULL;
	return 0;
}

static int params_check(struct str params, const char **err_at)
{
	struct str name, val;
	int r;

	while ((r = sip_param_next(&params, &name, &val)) > 0)
		;
	return r < 0 ? bad(err_at, params.p) : 0;
}

int sip_event_read(struct str v, struct sip_event *e, const char **err_at)
{
	memset(e, 0, sizeof(*e));
	if (token_and_params(v, &e->package, &e->params, err_at) ||
	    params_check(e->params, err_at))
		return -EBADMSG;
	sip_param_get(e->params, STR("id"), &e->id);
	return 0;
}

int sip_substate_read(struct str v, struct sip_substate *s, const char **err_at)
{
	struct str val;

	memset(s, 0, sizeof(*s));
	if (token_and_params(v, &s->state, &s->params, err_at) ||
	    params_check(s->params, err_at))
		return -EBADMSG;
	sip_param_get(s->params, STR("reason"), &s->reason);
	if (sip_param_get(s->params, STR("expires"), &val)) {
		if (sip_uint_read(val, UINT32_MAX, &s->expires, err_at))
			return -EBADMSG;
		s->has_expires = true;
	}
	if (sip_param_get(s->params, STR("retry-after"), &val)) {
		if (sip_uint_read(val, UINT32_MAX, &s->retry_after, err_at))
			return -EBADMSG;
		s->has_retry_after = true;
	}
	return 0;
}

int sip_refer_sub_read(struct str v, bool *value, const char **err_at)
{
	struct str token, params;

	if (token_and_params(v, &token, &params, err_at) || params_check(params, err_at))
		return -EBADMSG;
	if (str_caseeq(token, STR("true")))
		*value = true;
	else if (str_caseeq(token, STR("false")))
		*value = false;
	else
		return bad(err_at, token.p);
	return 0;
}

int sip_ctype_read(struct str v, struct sip_ctype *c, const char **err_at)
{
	const char *p, *end, *a;

	memset(c, 0, sizeof(*c));
	v = str_trim(v);
	p = v.p;
	end = str_end(v);
	a = p;
	p = skip_token(p, end);
	if (p == a)
		return bad(err_at, a);
	c->type = str_span(a, p);
	p = skip_lws(p, end);
	if (p == end || *p != '/')
		return bad(err_at, p);
	if (token_and_params(str_span(p + 1, end), &c->subtype, &c->params, err_at))
		return -EBADMSG;
	return params_check(c->params, err_at);
}

/* The ')' closing the comment that starts at p: comments nest and may hold
 * quoted-pairs (§25.1). NULL if it is not closed. */
static const char *comment_end(const char *p, const char *end)
{
	int depth = 0;

	for (; p < end; p++) {
		if (*p == '\\' && p + 1 < end)
			p++;
		else if (*p == '(')
			depth++;
		else if (*p == ')' && --depth == 0)
			return p;
	}
	return NULL;
}

int sip_retry_after_read(struct str v, struct sip_retry_after *r, const char **err_at)
{
	const char *p, *end, *a;
	struct str val;

	memset(r, 0, sizeof(*r));
	v = str_trim(v);
	p = v.p;
	end = str_end(v);
	a = p;
	while (p < end && *p >= '0' && *p <= '9')
		p++;
	if (str_to_u32(str_span(a, p), UINT32_MAX, &r->seconds))
		return bad(err_at, a);
	p = skip_lws(p, end);
	if (p < end && *p == '(') {
		a = comment_end(p, end);
		if (!a)
			return bad(err_at, p);
		r->comment = str_span(p + 1, a);
		p = skip_lws(a + 1, end);
	}
	if (p < end && *p != ';')
		return bad(err_at, p);
	r->params = p < end ? str_span(p, end) : STR_NULL;
	if (params_check(r->params, err_at))
		return -EBADMSG;
	if (sip_param_get(r->params, STR("duration"), &val)) {
		if (sip_uint_read(val, UINT32_MAX, &r->duration, err_at))
			return -EBADMSG;
		r->has_duration = true;
	}
	return 0;
}

/* The single header of id, which must be there exactly once. */
static const struct sip_hdr *core_one(struct sip_msg *m, enum sip_hdr_id id,
				      const char *missing, const char *repeated)
{
	const struct sip_hdr *h = sip_msg_hdr_first(m, id);

	if (!h) {
		m->err = missing;
		m->err_at = 0;
		return NULL;
	}
	if (sip_msg_hdr_next(m, h)) {
		h = sip_msg_hdr_next(m, h);
		m->err = repeated;
		m->err_at = sip_msg_offset(m, h->name.p);
		return NULL;
	}
	return h;
}

static int core_top_via(struct sip_msg *m, struct sip_core *c)
{
	const struct sip_hdr *h = NULL;
	struct str cur = STR_NULL, v;
	const char *at = NULL;

	if (sip_msg_list_next(m, SIP_HDR_VIA, &h, &cur, &v) <= 0) {
		m->err = h ? "bad Via" : "missing Via";
		m->err_at = h ? sip_msg_offset(m, h->value.p) : 0;
		return -EBADMSG;
	}
	if (sip_via_read(v, &c->via, &at)) {
		m->err = "bad Via";
		m->err_at = sip_msg_offset(m, at);
		return -EBADMSG;
	}
	return 0;
}

static int core_addrs(struct sip_msg *m, struct sip_core *c)
{
	const struct sip_hdr *h;
	const char *at = NULL;

	h = core_one(m, SIP_HDR_FROM, "missing From", "more than one From");
	if (!h)
		return -EBADMSG;
	if (sip_addr_read(h->value, &c->from, &at)) {
		m->err = "bad From";
		goto bad;
	}
	h = core_one(m, SIP_HDR_TO, "missing To", "more than one To");
	if (!h)
		return -EBADMSG;
	if (sip_addr_read(h->value, &c->to, &at)) {
		m->err = "bad To";
		goto bad;
	}
	return 0;
bad:
	m->err_at = sip_msg_offset(m, at ? at : h->value.p);
	return -EBADMSG;
}

static int core_ids(struct sip_msg *m, struct sip_core *c)
{
	const struct sip_hdr *h;
	const char *at = NULL;

	h = core_one(m, SIP_HDR_CALL_ID, "missing Call-ID", "more than one Call-ID");
	if (!h)
		return -EBADMSG;
	c->call_id = h->value;
	for (size_t i = 0; i < c->call_id.n; i++) {
		if ((uint8_t)c->call_id.p[i] <= ' ' || c->call_id.p[i] == 0x7f) {
			m->err = "bad Call-ID";
			m->err_at = sip_msg_offset(m, c->call_id.p + i);
			return -EBADMSG;
		}
	}
	if (!c->call_id.n) {
		m->err = "empty Call-ID";
		m->err_at = sip_msg_offset(m, h->value.p);
		return -EBADMSG;
	}
	h = core_one(m, SIP_HDR_CSEQ, "missing CSeq", "more than one CSeq");
	if (!h)
		return -EBADMSG;
	if (sip_cseq_read(h->value, &c->cseq, &at)) {
		m->err = "bad CSeq";
		m->err_at = sip_msg_offset(m, at);
		return -EBADMSG;
	}
	if (m->is_request && !str_eq(c->cseq.method, m->method)) {
		m->err = "CSeq method does not match the request";
		m->err_at = sip_msg_offset(m, c->cseq.method.p);
		return -EBADMSG;
	}
	return 0;
}

static int core_max_forwards(struct sip_msg *m, struct sip_core *c)
{
	const struct sip_hdr *h = sip_msg_hdr_first(m, SIP_HDR_MAX_FORWARDS);
	const char *at = NULL;

	if (!h)
		return 0;
	if (sip_msg_hdr_next(m, h)) {
		m->err = "more than one Max-Forwards";
		m->err_at = sip_msg_offset(m, sip_msg_hdr_next(m, h)->name.p);
		return -EBADMSG;
	}
	/* 255 is the largest value RFC 3261 §8.1.1.6 expects; larger ones
	 * are malformed (RFC 4475 §3.1.2.3). */
	if (sip_uint_read(h->value, 255, &c->max_forwards, &at)) {
		m->err = "bad Max-Forwards";
		m->err_at = sip_msg_offset(m, at);
		return -EBADMSG;
	}
	c->has_max_forwards = true;
	return 0;
}

static int core_ruri(struct sip_msg *m, struct sip_core *c)
{
	const char *at = m->ruri.p;
	int r;

	if (!m->is_request)
		return 0;
	r = sip_uri_parse(m->ruri, &c->ruri, &at);
	if (r == -EPROTONOSUPPORT) {
		m->err = "unsupported Request-URI scheme";
		m->err_at = sip_msg_offset(m, m->ruri.p);
		m->err_status = 416;
		return -EBADMSG;
	}
	if (r || c->ruri.headers.p) {
		m->err = r ? "bad Request-URI" : "headers in Request-URI";
		m->err_at = sip_msg_offset(m, r ? at : c->ruri.headers.p);
		m->err_status = 400;
		return -EBADMSG;
	}
	return 0;
}

int sip_core_read(struct sip_msg *m, struct sip_core *c)
{
	int r;

	memset(c, 0, sizeof(*c));
	r = core_ruri(m, c);
	if (r)
		return r;
	r = core_top_via(m, c);
	if (!r)
		r = core_addrs(m, c);
	if (!r)
		r = core_ids(m, c);
	if (!r)
		r = core_max_forwards(m, c);
	if (r)
		m->err_status = m->is_request ? 400 : 0;
	return r;
}
