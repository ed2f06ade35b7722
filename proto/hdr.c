/* hdr.c: typed readers for Via, name-addr headers, CSeq, Event,
 * Subscription-State and friends. RFC 3261 §20, §25.1; RFC 3581; RFC 6665. */
#include <errno.h>

#include "hdr.h"
#include "param.h"
#include "scan.h"

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

/* RFC 3261 §25.1 token: alphanum "-.!%*_+`'~". A table, as tokens are
 * scanned a byte at a time on every message. */
static const bool token_chars[256] = {
	['0' ... '9'] = true, ['A' ... 'Z'] = true, ['a' ... 'z'] = true,
	['-'] = true, ['.'] = true, ['!'] = true, ['%'] = true, ['*'] = true,
	['_'] = true, ['+'] = true, ['`'] = true, ['\''] = true, ['~'] = true,
};

static bool is_token(char c)
{
	return token_chars[(uint8_t)c];
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

	/* The spelling nearly every Via has, read as the general path below
	 * would read it. */
	if (end - p > 8 && memcmp(p, "SIP/2.0/", 8) == 0) {
		via->proto = str_make(p, 7);
		a = skip_lws(p + 8, end);
		p = skip_token(a, end);
		if (a == p)
			return NULL;
		via->transport = str_span(a, p);
		return p;
	}
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

/* alphanum "-.": a table, as for tokens. */
static const bool host_chars[256] = {
	['0' ... '9'] = true, ['A' ... 'Z'] = true, ['a' ... 'z'] = true,
	['-'] = true, ['.'] = true,
};

static bool is_host_char(char c)
{
	return host_chars[(uint8_t)c];
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
		p = scan_host(p, end);
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
		/* 1 to 65535, read as it is scanned; v saturates past that. */
		for (v = 0; p < end && *p >= '0' && *p <= '9'; p++)
			v = v > 65535 ? v : v * 10 + (uint32_t)(*p - '0');
		if (p == a || v == 0 || v > 65535)
			return NULL;
		*port = (uint16_t)v;
	}
	return p;
}

/* ---- header params: the usual case, from bit masks ---- */

/* Most header params are plain: ";branch=z9hG4bK.1;rport", no white space,
 * no quotes. Walking them a token at a time made each step wait for the
 * scan before it; here masks of the whole slice say where every ';' and '='
 * is, and the walk is bit operations. A plain slice splits exactly as
 * sip_param_next() would split it (see param.c): words of visible ASCII
 * but ";=\",<>", each ';' followed by a name, each '=' by a value, and at
 * most one '=' between two ';'. Anything else is left to sip_param_next(),
 * which also reports the faults. */
#define PLAIN_PARAMS_MAX 16

struct plain_param {
	struct str name, value; /* value as sip_param_next() gives it */
};

/* Masks of the n <= 64 bytes at p: word characters, and ';' or '='. Loads
 * stay within [lo, p + n): a chunk that would pass the end is loaded as
 * the 16 bytes ending there, so p + n - lo must be at least 16. */
struct param_bits {
	uint64_t word, sep;
};

#ifdef __SSE2__
static void param_bits_add(struct param_bits *b, const char *chunk, const char *p)
{
	__m128i v = scan_load(chunk);
	__m128i semi = _mm_cmpeq_epi8(v, _mm_set1_epi8(';'));
	__m128i eq = _mm_cmpeq_epi8(v, _mm_set1_epi8('='));
	__m128i other = _mm_or_si128(
		_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8(','))),
		_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('<')), _mm_cmpeq_epi8(v, _mm_set1_epi8('>'))));
	__m128i visible = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8(0x20)),
					_mm_cmplt_epi8(v, _mm_set1_epi8(0x7f)));
	__m128i sep = _mm_or_si128(semi, eq);
	__m128i word = _mm_andnot_si128(_mm_or_si128(sep, other), visible);
	long off = chunk - p; /* negative for a chunk loaded before p */

#define PARAM_BITS(m) (off >= 0 ? (uint64_t)(unsigned)_mm_movemask_epi8(m) << off \
				: (uint64_t)(unsigned)_mm_movemask_epi8(m) >> -off)
	b->word |= PARAM_BITS(word);
	b->sep |= PARAM_BITS(sep);
#undef PARAM_BITS
}
#endif

static bool param_bits_get(struct param_bits *b, const char *p, int n, const char *lo)
{
#ifdef __SSE2__
	const char *end = p + n;

	if (n > 64 || end - lo < 16)
		return false;
	*b = (struct param_bits){ 0 };
	for (int i = 0; i < n; i += 16)
		param_bits_add(b, end - (p + i) >= 16 ? p + i : end - 16, p);
	b->word &= scan_low(n);
	b->sep &= scan_low(n);
	return true;
#else
	(void)b, (void)p, (void)n, (void)lo;
	return false;
#endif
}

/* Split params, read from a header value starting at lo, if they are
 * plain. Returns how many, or -1 to leave them to sip_param_next(). */
static int plain_params(struct str params, const char *lo, struct plain_param *out)
{
	int n = (int)params.n, count = 0, pos = 0;
	struct param_bits b;
	uint64_t t;

	if (n == 0)
		return 0;
	if (!param_bits_get(&b, params.p, n, lo) || (b.word | b.sep) != scan_low(n) ||
	    params.p[0] != ';')
		return -1;
	t = b.sep; /* where each name and value ends */
	while (pos < n) {
		uint64_t after = t & ~scan_low(pos + 1);
		int name_end = after ? __builtin_ctzll(after) : n, next = name_end;

		if (name_end == pos + 1 || count == PLAIN_PARAMS_MAX)
			return -1;
		out[count].name = str_make(params.p + pos + 1, (size_t)(name_end - pos - 1));
		out[count].value = str_make(params.p + name_end, 0);
		if (name_end < n && params.p[name_end] == '=') {
			after = t & ~scan_low(name_end + 1);
			next = after ? __builtin_ctzll(after) : n;
			if (next == name_end + 1 || (next < n && params.p[next] == '='))
				return -1;
			out[count].value = str_make(params.p + name_end + 1, (size_t)(next - name_end - 1));
		}
		count++;
		pos = next;
	}
	return count;
}

/* One Via param; -EBADMSG for a bad rport. */
static int via_param(struct sip_via *via, struct str name, struct str val, const char **err_at)
{
	uint32_t v;

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
	return 0;
}

/* params is via->params, from a value starting at lo. */
static int via_params(struct sip_via *via, struct str params, const char *lo,
		      const char **err_at)
{
	struct plain_param pp[PLAIN_PARAMS_MAX];
	struct str cur = params, name, val;
	int r = plain_params(params, lo, pp);

	for (int i = 0; i < r; i++) {
		if (via_param(via, pp[i].name, pp[i].value, err_at))
			return -EBADMSG;
	}
	if (r >= 0)
		return 0;
	while ((r = sip_param_next(&cur, &name, &val)) > 0) {
		if (via_param(via, name, val, err_at))
			return -EBADMSG;
	}
	return r < 0 ? bad(err_at, cur.p) : 0;
}

int sip_via_read(struct str v, struct sip_via *via, const char **err_at)
{
	const char *end = str_end(v), *p;
	struct str params;

	scan_fill(via, 0, sizeof(*via));
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
	params = p < end ? str_span(p, end) : STR_NULL;
	via->params = params;
	return via_params(via, params, v.p, err_at);
}

/* Closing quote of a quoted-string starting at p ('"'), or NULL. Display
 * names are runs of plain text, so the scan jumps from one '\\' or '"' to
 * the next. */
static const char *quoted_end(const char *p, const char *end)
{
	for (p++; (p = scan_any4(p, end, '\\', '"', '"', '"')) < end; p++) {
		if (*p == '"')
			return p;
		if (p + 1 < end)
			p++;
	}
	return NULL;
}

/* uri_text is a->uri_text, by value as in via_params(). */
static int addr_uri(struct sip_addr *a, struct str uri_text, const char **err_at)
{
	int r = sip_uri_parse(uri_text, &a->uri, err_at);

	a->has_uri = r == 0;
	if (r == -EPROTONOSUPPORT)
		return 0;
	return r ? -EBADMSG : 0;
}

/* display-name? "<" URI ">" starting at p. Returns the byte after '>'. */
static const char *addr_name_addr(const char *p, const char *end, struct sip_addr *a,
				  struct str *uri_text)
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
	*uri_text = str_span(p + 1, gt);
	a->uri_text = *uri_text;
	return gt + 1;
}

/* Check the header params and find the first tag in the same walk: once
 * they all parse, that is the one sip_param_get() would find. The tag is
 * kept only then, as a failed check leaves it unset. params is a->params,
 * from a value starting at lo. */
static int addr_params(struct sip_addr *a, struct str params, const char *lo,
		       const char **err_at)
{
	struct plain_param pp[PLAIN_PARAMS_MAX];
	struct str cur = params, name, val, tag = STR_NULL;
	const char *p = params.p;
	int r;

	/* Mostly just ";tag=" and a word: then one scan settles it. */
	if (params.n > 5 && p[0] == ';' && (p[1] | 0x20) == 't' && (p[2] | 0x20) == 'a' &&
	    (p[3] | 0x20) == 'g' && p[4] == '=' && scan_all_words(p + 5, str_end(params), lo)) {
		a->tag = str_make(p + 5, params.n - 5);
		return 0;
	}
	r = plain_params(params, lo, pp);
	for (int i = 0; i < r && !tag.p; i++) {
		if (str_caseeq(pp[i].name, STR("tag")))
			tag = pp[i].value;
	}
	if (r < 0) {
		while ((r = sip_param_next(&cur, &name, &val)) > 0) {
			if (!tag.p && str_caseeq(name, STR("tag")))
				tag = val;
		}
		if (r < 0)
			return bad(err_at, cur.p);
	}
	a->tag = tag;
	return 0;
}

int sip_addr_read(struct str v, struct sip_addr *a, const char **err_at)
{
	const char *p, *end;
	struct str params, uri_text;

	scan_fill(a, 0, sizeof(*a));
	v = str_trim(v);
	p = v.p;
	end = str_end(v);
	if (!v.n)
		return bad(err_at, p);
	if (*p == '"' || *p == '<' || memchr(p, '<', v.n)) {
		p = addr_name_addr(p, end, a, &uri_text);
		if (!p)
			return bad(err_at, v.p);
	} else {
		/* addr-spec: ';' starts header params, never URI params, and a
		 * URI with ',' or '?' must be in <> (§20, RFC 4475 §3.1.2.13). */
		const char *semi = memchr(p, ';', v.n);

		uri_text = str_trim(str_span(p, semi ? semi : end));
		a->uri_text = uri_text;
		p = semi ? semi : end;
		if (str_chr(uri_text, '?') || str_chr(uri_text, ','))
			return bad(err_at, uri_text.p);
	}
	if (addr_uri(a, uri_text, err_at))
		return -EBADMSG;
	p = skip_lws(p, end);
	if (p < end && *p != ';')
		return bad(err_at, p);
	params = p < end ? str_span(p, end) : STR_NULL;
	a->params = params;
	return addr_params(a, params, v.p, err_at);
}

int sip_contact_read(struct str v, struct sip_contact *c, const char **err_at)
{
	struct str e;

	scan_fill(c, 0, sizeof(*c));
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
	/* §8.1.1.5: the sequence number must be less than 2**31. Read in the
	 * pass that finds its end, saturating so that it cannot wrap. */
	for (uint64_t n = 0;; p++) {
		if (p == end || *p < '0' || *p > '9') {
			if (p == a || n > 0x7fffffff)
				return bad(err_at, a);
			num = (uint32_t)n;
			break;
		}
		n = n * 10 + (uint64_t)(*p - '0');
		if (n > 0x7fffffff)
			n = 0x80000000;
	}
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

/* sip_msg_hdr_first() and sip_msg_hdr_next(), inline: msg.h exposes the
 * index for this, and a call per header read was a visible cost. */
static const struct sip_hdr *hdr_first(const struct sip_msg *m, enum sip_hdr_id id)
{
	return m->first[id] == SIP_HDR_NONE ? NULL : &m->hdrs[m->first[id]];
}

static const struct sip_hdr *hdr_next(const struct sip_msg *m, const struct sip_hdr *h)
{
	return h->next == SIP_HDR_NONE ? NULL : &m->hdrs[h->next];
}

/* The single header of id, which must be there exactly once. */
static const struct sip_hdr *core_one(struct sip_msg *m, enum sip_hdr_id id,
				      const char *missing, const char *repeated)
{
	const struct sip_hdr *h = hdr_first(m, id);

	if (!h) {
		m->err = missing;
		m->err_at = 0;
		return NULL;
	}
	if (hdr_next(m, h)) {
		h = hdr_next(m, h);
		m->err = repeated;
		m->err_at = sip_msg_offset(m, h->name.p);
		return NULL;
	}
	return h;
}

static int core_top_via(struct sip_msg *m, struct sip_core *c)
{
	const struct sip_hdr *h = hdr_first(m, SIP_HDR_VIA);
	struct str cur = STR_NULL, v;
	const char *at = NULL;

	/* Usually the first Via header holds one element: if the whole value
	 * reads as a Via, it has no ',' outside a quoted string, and without
	 * a '(' (a comment, to sip_list_next()) the list would not split it
	 * either. That spares a scan of the value. Anything else takes the
	 * list walk, which reads the Via again from scratch. The value must
	 * be trimmed, as the list's elements are (a parsed one is). */
	if (h && h->value.n && !is_lws(h->value.p[0]) && !is_lws(h->value.p[h->value.n - 1]) &&
	    !str_chr(h->value, '(') && sip_via_read(h->value, &c->via, &at) == 0)
		return 0;
	scan_fill(&c->via, 0, sizeof(c->via)); /* as if never read */
	h = NULL;
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

/* Clear c from member on to its end: the parts a failure left unread (see
 * sip_core_read()). Members are declared in the order they are read. */
#define CORE_CLEAR_FROM(c, member)                                         \
	scan_fill((char *)(c) + offsetof(struct sip_core, member), 0,      \
		  sizeof(struct sip_core) - offsetof(struct sip_core, member))

_Static_assert(offsetof(struct sip_core, ruri) < offsetof(struct sip_core, via) &&
		       offsetof(struct sip_core, via) < offsetof(struct sip_core, from) &&
		       offsetof(struct sip_core, from) < offsetof(struct sip_core, to) &&
		       offsetof(struct sip_core, to) < offsetof(struct sip_core, call_id),
	       "sip_core_read() clears struct sip_core in the order of its members");

static int core_addrs(struct sip_msg *m, struct sip_core *c)
{
	const struct sip_hdr *h;
	const char *at = NULL;

	h = core_one(m, SIP_HDR_FROM, "missing From", "more than one From");
	if (!h) {
		CORE_CLEAR_FROM(c, from);
		return -EBADMSG;
	}
	if (sip_addr_read(h->value, &c->from, &at)) {
		CORE_CLEAR_FROM(c, to);
		m->err = "bad From";
		goto bad;
	}
	h = core_one(m, SIP_HDR_TO, "missing To", "more than one To");
	if (!h) {
		CORE_CLEAR_FROM(c, to);
		return -EBADMSG;
	}
	if (sip_addr_read(h->value, &c->to, &at)) {
		m->err = "bad To";
		goto bad;
	}
	return 0;
bad:
	m->err_at = sip_msg_offset(m, at ? at : h->value.p);
	return -EBADMSG;
}

/* The CSeq method is the request's. A known method has one spelling (the
 * lookup is case-sensitive), so equal ids say so without a memcmp. */
static bool cseq_method_is(const struct sip_cseq *cseq, const struct sip_msg *m)
{
	if (cseq->method_id != SIP_METHOD_OTHER && m->method_id != SIP_METHOD_OTHER)
		return cseq->method_id == m->method_id;
	return str_eq(cseq->method, m->method);
}

static int core_ids(struct sip_msg *m, struct sip_core *c)
{
	const struct sip_hdr *h;
	const char *at = NULL;

	h = core_one(m, SIP_HDR_CALL_ID, "missing Call-ID", "more than one Call-ID");
	if (!h)
		return -EBADMSG;
	c->call_id = h->value;
	at = scan_ctl_or_sp(c->call_id.p, str_end(c->call_id));
	if (at != str_end(c->call_id)) {
		m->err = "bad Call-ID";
		m->err_at = sip_msg_offset(m, at);
		return -EBADMSG;
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
	if (m->is_request && !cseq_method_is(&c->cseq, m)) {
		m->err = "CSeq method does not match the request";
		m->err_at = sip_msg_offset(m, c->cseq.method.p);
		return -EBADMSG;
	}
	return 0;
}

static int core_max_forwards(struct sip_msg *m, struct sip_core *c)
{
	const struct sip_hdr *h = hdr_first(m, SIP_HDR_MAX_FORWARDS);
	const char *at = NULL;

	if (!h)
		return 0;
	if (hdr_next(m, h)) {
		m->err = "more than one Max-Forwards";
		m->err_at = sip_msg_offset(m, hdr_next(m, h)->name.p);
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

/* c ends as if cleared before anything was read, but is not: the readers
 * clear the Request-URI, Via and addresses they fill before reading, so
 * only the rest is cleared here, and a failure clears what it leaves
 * unread: that spares most of the struct's 648 bytes of stores. */
int sip_core_read(struct sip_msg *m, struct sip_core *c)
{
	int r;

	CORE_CLEAR_FROM(c, call_id);
	if (!m->is_request)
		scan_fill(&c->ruri, 0, sizeof(c->ruri));
	r = core_ruri(m, c);
	if (r) {
		CORE_CLEAR_FROM(c, via);
		return r;
	}
	r = core_top_via(m, c);
	if (r)
		CORE_CLEAR_FROM(c, from);
	else
		r = core_addrs(m, c);
	if (!r)
		r = core_ids(m, c);
	if (!r)
		r = core_max_forwards(m, c);
	if (r)
		m->err_status = m->is_request ? 400 : 0;
	return r;
}
