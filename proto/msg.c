/* msg.c: one pass over a SIP message that indexes its headers by id and
 * locates the body, copying nothing. RFC 3261 §7, §7.3.1, §7.3.3, §18.3, §25. */
#include <errno.h>

#include "msg.h"

/* Header names by id; the compact form is 0 where there is none. */
static const struct {
	const char *name;
	char compact;
} hdr_names[SIP_HDR__COUNT] = {
	[SIP_HDR_OTHER] = { "", 0 },
	[SIP_HDR_ACCEPT] = { "Accept", 0 },
	[SIP_HDR_ACCEPT_CONTACT] = { "Accept-Contact", 'a' },
	[SIP_HDR_ACCEPT_ENCODING] = { "Accept-Encoding", 0 },
	[SIP_HDR_ACCEPT_LANGUAGE] = { "Accept-Language", 0 },
	[SIP_HDR_ALERT_INFO] = { "Alert-Info", 0 },
	[SIP_HDR_ALLOW] = { "Allow", 0 },
	[SIP_HDR_ALLOW_EVENTS] = { "Allow-Events", 'u' },
	[SIP_HDR_AUTHORIZATION] = { "Authorization", 0 },
	[SIP_HDR_CALL_ID] = { "Call-ID", 'i' },
	[SIP_HDR_CALL_INFO] = { "Call-Info", 0 },
	[SIP_HDR_CONTACT] = { "Contact", 'm' },
	[SIP_HDR_CONTENT_DISPOSITION] = { "Content-Disposition", 0 },
	[SIP_HDR_CONTENT_ENCODING] = { "Content-Encoding", 'e' },
	[SIP_HDR_CONTENT_LENGTH] = { "Content-Length", 'l' },
	[SIP_HDR_CONTENT_TYPE] = { "Content-Type", 'c' },
	[SIP_HDR_CSEQ] = { "CSeq", 0 },
	[SIP_HDR_DATE] = { "Date", 0 },
	[SIP_HDR_EVENT] = { "Event", 'o' },
	[SIP_HDR_EXPIRES] = { "Expires", 0 },
	[SIP_HDR_FROM] = { "From", 'f' },
	[SIP_HDR_IDENTITY] = { "Identity", 'y' },
	[SIP_HDR_MAX_FORWARDS] = { "Max-Forwards", 0 },
	[SIP_HDR_MIN_EXPIRES] = { "Min-Expires", 0 },
	[SIP_HDR_MIN_SE] = { "Min-SE", 0 },
	[SIP_HDR_P_ASSERTED_IDENTITY] = { "P-Asserted-Identity", 0 },
	[SIP_HDR_P_PREFERRED_IDENTITY] = { "P-Preferred-Identity", 0 },
	[SIP_HDR_PRIVACY] = { "Privacy", 0 },
	[SIP_HDR_PROXY_AUTHENTICATE] = { "Proxy-Authenticate", 0 },
	[SIP_HDR_PROXY_AUTHORIZATION] = { "Proxy-Authorization", 0 },
	[SIP_HDR_PROXY_REQUIRE] = { "Proxy-Require", 0 },
	[SIP_HDR_RACK] = { "RAck", 0 },
	[SIP_HDR_REASON] = { "Reason", 0 },
	[SIP_HDR_RECORD_ROUTE] = { "Record-Route", 0 },
	[SIP_HDR_REFER_SUB] = { "Refer-Sub", 0 },
	[SIP_HDR_REFER_TO] = { "Refer-To", 'r' },
	[SIP_HDR_REFERRED_BY] = { "Referred-By", 'b' },
	[SIP_HDR_REJECT_CONTACT] = { "Reject-Contact", 'j' },
	[SIP_HDR_REPLACES] = { "Replaces", 0 },
	[SIP_HDR_REQUEST_DISPOSITION] = { "Request-Disposition", 'd' },
	[SIP_HDR_REQUIRE] = { "Require", 0 },
	[SIP_HDR_RETRY_AFTER] = { "Retry-After", 0 },
	[SIP_HDR_ROUTE] = { "Route", 0 },
	[SIP_HDR_RSEQ] = { "RSeq", 0 },
	[SIP_HDR_SERVER] = { "Server", 0 },
	[SIP_HDR_SESSION_EXPIRES] = { "Session-Expires", 'x' },
	[SIP_HDR_SUBJECT] = { "Subject", 's' },
	[SIP_HDR_SUBSCRIPTION_STATE] = { "Subscription-State", 0 },
	[SIP_HDR_SUPPORTED] = { "Supported", 'k' },
	[SIP_HDR_TIMESTAMP] = { "Timestamp", 0 },
	[SIP_HDR_TO] = { "To", 't' },
	[SIP_HDR_UNSUPPORTED] = { "Unsupported", 0 },
	[SIP_HDR_USER_AGENT] = { "User-Agent", 0 },
	[SIP_HDR_USER_TO_USER] = { "User-to-User", 0 },
	[SIP_HDR_VIA] = { "Via", 'v' },
	[SIP_HDR_WARNING] = { "Warning", 0 },
	[SIP_HDR_WWW_AUTHENTICATE] = { "WWW-Authenticate", 0 },
};

/* Names are hashed while they are scanned (nginx's trick) so the lookup
 * costs one probe and one compare. The table is filled once at load time;
 * it is read-only afterwards, so worker threads share it freely. */
#define HDR_HASH_SIZE 256
#define hdr_hash_step(h, c) ((h) * 31u + (uint8_t)((c) | 0x20))

static uint8_t hdr_hash[HDR_HASH_SIZE]; /* id, 0 = empty slot */
static uint8_t hdr_compact[26];

static unsigned hdr_hash_of(struct str s)
{
	unsigned h = 0;

	for (size_t i = 0; i < s.n; i++)
		h = hdr_hash_step(h, s.p[i]);
	return h;
}

__attribute__((constructor)) static void hdr_table_init(void)
{
	for (unsigned id = 1; id < SIP_HDR__COUNT; id++) {
		unsigned h = hdr_hash_of(sip_hdr_name(id)) % HDR_HASH_SIZE;

		while (hdr_hash[h])
			h = (h + 1) % HDR_HASH_SIZE;
		hdr_hash[h] = (uint8_t)id;
		if (hdr_names[id].compact)
			hdr_compact[hdr_names[id].compact - 'a'] = (uint8_t)id;
	}
}

struct str sip_hdr_name(enum sip_hdr_id id)
{
	const char *s = (unsigned)id < SIP_HDR__COUNT ? hdr_names[id].name : "";

	return str_make(s, strlen(s));
}

static enum sip_hdr_id hdr_lookup_hashed(struct str name, unsigned h)
{
	if (name.n == 1) {
		char c = str_lower(name.p[0]);

		return (c >= 'a' && c <= 'z') ? hdr_compact[c - 'a'] : SIP_HDR_OTHER;
	}
	for (h %= HDR_HASH_SIZE; hdr_hash[h]; h = (h + 1) % HDR_HASH_SIZE) {
		if (str_caseeq(name, sip_hdr_name(hdr_hash[h])))
			return hdr_hash[h];
	}
	return SIP_HDR_OTHER;
}

enum sip_hdr_id sip_hdr_lookup(struct str name)
{
	return hdr_lookup_hashed(name, hdr_hash_of(name));
}

static const struct str method_names[] = {
	[SIP_METHOD_OTHER] = STR(""),	      [SIP_METHOD_INVITE] = STR("INVITE"),
	[SIP_METHOD_ACK] = STR("ACK"),	      [SIP_METHOD_BYE] = STR("BYE"),
	[SIP_METHOD_CANCEL] = STR("CANCEL"),  [SIP_METHOD_OPTIONS] = STR("OPTIONS"),
	[SIP_METHOD_REGISTER] = STR("REGISTER"), [SIP_METHOD_REFER] = STR("REFER"),
	[SIP_METHOD_NOTIFY] = STR("NOTIFY"),  [SIP_METHOD_SUBSCRIBE] = STR("SUBSCRIBE"),
	[SIP_METHOD_INFO] = STR("INFO"),      [SIP_METHOD_UPDATE] = STR("UPDATE"),
	[SIP_METHOD_PRACK] = STR("PRACK"),    [SIP_METHOD_MESSAGE] = STR("MESSAGE"),
	[SIP_METHOD_PUBLISH] = STR("PUBLISH"),
};

enum sip_method sip_method_lookup(struct str name)
{
	for (unsigned i = 1; i < sizeof(method_names) / sizeof(method_names[0]); i++) {
		if (str_eq(name, method_names[i]))
			return (enum sip_method)i;
	}
	return SIP_METHOD_OTHER;
}

struct str sip_method_name(enum sip_method id)
{
	if ((unsigned)id >= sizeof(method_names) / sizeof(method_names[0]))
		return STR("");
	return method_names[id];
}

/* RFC 3261 §25.1 token characters. */
static const uint8_t token_chars[256] = {
	['!'] = 1, ['%'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1, ['-'] = 1,
	['.'] = 1, ['_'] = 1, ['`'] = 1, ['~'] = 1,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
	['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
	['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
	['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
	['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
	['Y'] = 1, ['Z'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
	['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1,
	['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
	['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
	['y'] = 1, ['z'] = 1,
};

static int fail(struct sip_msg *m, const char *p, const char *why, uint16_t status)
{
	m->err = why;
	m->err_at = (size_t)(p - m->buf);
	m->err_status = status;
	return -EBADMSG;
}

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* End of the line starting at p: the LF, or NULL if there is none. Bare
 * LF line ends are accepted, as most deployed stacks do. */
static const char *line_end(const char *p, const char *end)
{
	return memchr(p, '\n', (size_t)(end - p));
}

/* The line's content without its CR. */
static const char *line_stop(const char *p, const char *lf)
{
	return (lf > p && lf[-1] == '\r') ? lf - 1 : lf;
}

static int parse_version(struct sip_msg *m, struct str v)
{
	m->version = v;
	if (!str_casestarts(v, STR("SIP/")))
		return fail(m, v.p, "bad SIP version", 400);
	if (!str_caseeq(v, STR("SIP/2.0")))
		return fail(m, v.p, "unsupported SIP version", 505);
	return 0;
}

static int parse_status_line(struct sip_msg *m, struct str line)
{
	const char *p = line.p + 8; /* "SIP/2.0 " */
	const char *end = str_end(line);
	unsigned code = 0;

	if (end - p < 3)
		return fail(m, p, "bad status code", 0);
	for (int i = 0; i < 3; i++, p++) {
		if (*p < '0' || *p > '9')
			return fail(m, p, "bad status code", 0);
		code = code * 10 + (unsigned)(*p - '0');
	}
	if (code < 100 || code > 699)
		return fail(m, p - 3, "status code out of range", 0);
	if (p < end && *p != ' ')
		return fail(m, p, "bad status code", 0);
	m->status = (uint16_t)code;
	m->reason = p < end ? str_span(p + 1, end) : STR_NULL;
	return 0;
}

/* Request-Line = Method SP Request-URI SP SIP-Version, single spaces
 * (RFC 4475 §3.1.2.7 and .8 are rejected for the white space they add). */
static int parse_request_line(struct sip_msg *m, struct str line)
{
	const char *p = line.p, *end = str_end(line), *sp;

	while (p < end && token_chars[(uint8_t)*p])
		p++;
	if (p == line.p || p == end || *p != ' ')
		return fail(m, p, "bad method", 400);
	m->method = str_span(line.p, p);
	m->method_id = sip_method_lookup(m->method);
	p++;
	sp = memchr(p, ' ', (size_t)(end - p));
	if (!sp || sp == p)
		return fail(m, p, "bad Request-URI", 400);
	m->ruri = str_span(p, sp);
	for (const char *q = p; q < sp; q++) {
		if ((uint8_t)*q <= ' ' || *q == 0x7f)
			return fail(m, q, "bad Request-URI", 400);
	}
	if (memchr(sp + 1, ' ', (size_t)(end - sp - 1)))
		return fail(m, sp + 1, "white space in Request-Line", 400);
	return parse_version(m, str_span(sp + 1, end));
}

static int parse_start_line(struct sip_msg *m, struct str line)
{
	m->is_request = !str_casestarts(line, STR("SIP/"));
	if (m->is_request)
		return parse_request_line(m, line);
	if (line.n < 8 || line.p[7] != ' ')
		return fail(m, line.p, "bad status line", 0);
	if (parse_version(m, str_make(line.p, 7)))
		return -EBADMSG;
	return parse_status_line(m, line);
}

static struct str value_trim(const char *p, const char *end)
{
	while (p < end && is_wsp(*p))
		p++;
	return str_trim(str_span(p, end));
}

static void hdr_link(struct sip_msg *m, uint16_t i)
{
	uint16_t id = m->hdrs[i].id;

	m->hdrs[i].next = SIP_HDR_NONE;
	if (m->first[id] == SIP_HDR_NONE)
		m->first[id] = i;
	else
		m->hdrs[m->last[id]].next = i;
	m->last[id] = i;
}

/* One header, from p to its last continuation line. Returns the start of
 * the next line, or NULL after fail(). */
static const char *parse_header(struct sip_msg *m, const char *p, const char *lf,
				const char *end)
{
	const char *q = p, *colon;
	unsigned h = 0;
	struct sip_hdr *hdr;

	while (q < lf && token_chars[(uint8_t)*q]) {
		h = hdr_hash_step(h, *q);
		q++;
	}
	colon = q;
	while (colon < lf && is_wsp(*colon))
		colon++;
	if (q == p || colon == lf || *colon != ':')
		return fail(m, q, "bad header name", 400), NULL;
	/* Continuation lines (§7.3.1) belong to this header. */
	while (lf + 1 < end && is_wsp(lf[1])) {
		lf = line_end(lf + 1, end);
		if (!lf)
			return fail(m, end, "headers not terminated by an empty line", 400), NULL;
	}
	if (m->nhdrs == SIP_MSG_MAX_HDRS)
		return fail(m, p, "too many headers", 400), NULL;
	hdr = &m->hdrs[m->nhdrs];
	hdr->name = str_span(p, q);
	hdr->value = value_trim(colon + 1, line_stop(colon + 1, lf));
	hdr->id = (uint16_t)hdr_lookup_hashed(hdr->name, h);
	hdr_link(m, m->nhdrs++);
	return lf + 1;
}

/* Content-Length may be repeated only with one value; a conflict makes the
 * framing ambiguous, which is how request smuggling starts. */
static int parse_content_length(struct sip_msg *m)
{
	const struct sip_hdr *h = sip_msg_hdr_first(m, SIP_HDR_CONTENT_LENGTH);
	uint32_t v;

	if (!h)
		return 0;
	for (; h; h = sip_msg_hdr_next(m, h)) {
		if (str_to_u32(h->value, UINT32_MAX, &v))
			return fail(m, h->value.p, "bad Content-Length", 400);
		if (m->has_content_length && v != m->content_length)
			return fail(m, h->value.p, "conflicting Content-Length", 400);
		m->content_length = v;
		m->has_content_length = true;
	}
	return 0;
}

static int parse_headers(struct sip_msg *m, const char *p, const char *end)
{
	const char *lf;

	for (;;) {
		lf = line_end(p, end);
		if (!lf)
			return fail(m, end, "headers not terminated by an empty line", 400);
		if (line_stop(p, lf) == p)
			break;
		if (is_wsp(*p))
			return fail(m, p, "continuation line without a header", 400);
		p = parse_header(m, p, lf, end);
		if (!p)
			return -EBADMSG;
	}
	p = lf + 1;
	if (parse_content_length(m))
		return -EBADMSG;
	if (!m->has_content_length) {
		m->body = str_span(p, end);
	} else if (m->content_length > (size_t)(end - p)) {
		return fail(m, end, "body shorter than Content-Length", 400);
	} else {
		m->body = str_make(p, m->content_length);
	}
	m->len = (size_t)(str_end(m->body) - m->buf);
	return 0;
}

static void msg_reset(struct sip_msg *m, const char *buf)
{
	/* Cheaper than clearing the whole struct: hdrs[] is written as it fills. */
	memset(m, 0, offsetof(struct sip_msg, first));
	memset(m->first, 0xff, sizeof(m->first));
	m->buf = buf;
}

int sip_msg_parse(struct sip_msg *m, const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len, *lf;
	int r;

	msg_reset(m, buf);
	while (p < end && (*p == '\r' || *p == '\n'))
		p++;
	lf = p < end ? line_end(p, end) : NULL;
	if (!lf)
		return fail(m, end, "no start line", 0);
	r = parse_start_line(m, str_span(p, line_stop(p, lf)));
	if (!r)
		r = parse_headers(m, lf + 1, end);
	/* A response is never answered, whatever is wrong with it. */
	if (r && !m->is_request)
		m->err_status = 0;
	return r;
}

const struct sip_hdr *sip_msg_hdr_first(const struct sip_msg *m, enum sip_hdr_id id)
{
	uint16_t i = m->first[id];

	return i == SIP_HDR_NONE ? NULL : &m->hdrs[i];
}

const struct sip_hdr *sip_msg_hdr_next(const struct sip_msg *m,
				       const struct sip_hdr *h)
{
	return h->next == SIP_HDR_NONE ? NULL : &m->hdrs[h->next];
}

const struct sip_hdr *sip_msg_hdr_find(const struct sip_msg *m, struct str name)
{
	for (unsigned i = 0; i < m->nhdrs; i++) {
		if (str_caseeq(m->hdrs[i].name, name))
			return &m->hdrs[i];
	}
	return NULL;
}

unsigned sip_msg_hdr_total(const struct sip_msg *m, enum sip_hdr_id id)
{
	unsigned n = 0;

	for (const struct sip_hdr *h = sip_msg_hdr_first(m, id); h; h = sip_msg_hdr_next(m, h))
		n++;
	return n;
}

/* Where the element starting at p ends: the first comma outside quotes,
 * <...> and (comments), or end. NULL if a quote or bracket is left open. */
static const char *list_elem_end(const char *p, const char *end)
{
	bool quoted = false, angle = false;
	int paren = 0;

	for (; p < end; p++) {
		if (quoted) {
			if (*p == '\\' && p + 1 < end)
				p++;
			else if (*p == '"')
				quoted = false;
		} else if (*p == '"') {
			quoted = true;
		} else if (angle) {
			angle = *p != '>';
		} else if (*p == '<') {
			angle = true;
		} else if (*p == '(') {
			paren++;
		} else if (*p == '\\' && paren > 0 && p + 1 < end) {
			p++; /* a quoted-pair inside a comment */
		} else if (*p == ')' && paren > 0) {
			paren--;
		} else if (*p == ',' && paren == 0) {
			return p;
		}
	}
	return (quoted || angle || paren) ? NULL : end;
}

int sip_list_next(struct str *cursor, struct str *value)
{
	const char *p = cursor->p, *end = str_end(*cursor), *e;

	for (;;) {
		while (p < end && (is_wsp(*p) || *p == '\r' || *p == '\n' || *p == ','))
			p++;
		if (p == end) {
			*cursor = str_span(end, end);
			return 0;
		}
		e = list_elem_end(p, end);
		if (!e)
			return -EBADMSG;
		*value = str_trim(str_span(p, e));
		*cursor = str_span(e, end);
		if (value->n)
			return 1;
	}
}

int sip_msg_list_next(const struct sip_msg *m, enum sip_hdr_id id,
		      const struct sip_hdr **h, struct str *cursor,
		      struct str *value)
{
	int r;

	for (;;) {
		if (*h) {
			r = sip_list_next(cursor, value);
			if (r)
				return r;
			*h = sip_msg_hdr_next(m, *h);
		} else if (!cursor->p) {
			*h = sip_msg_hdr_first(m, id);
		} else {
			return 0;
		}
		if (!*h) {
			*cursor = STR("");
			return 0;
		}
		*cursor = (*h)->value;
	}
}
