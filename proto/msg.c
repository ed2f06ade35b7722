/* msg.c: one pass over a SIP message that indexes its headers by id and
 * locates the body, copying nothing. RFC 3261 §7, §7.3.1, §7.3.3, §18.3, §25. */
#include <errno.h>

#include "msg.h"
#include "scan.h"

/* Header names by id; the compact form is 0 where there is none. Lengths
 * are kept so that neither the lookup nor sip_hdr_name() calls strlen. */
static const struct {
	struct str name;
	char compact;
} hdr_names[SIP_HDR__COUNT] = {
	[SIP_HDR_OTHER] = { STR(""), 0 },
	[SIP_HDR_ACCEPT] = { STR("Accept"), 0 },
	[SIP_HDR_ACCEPT_CONTACT] = { STR("Accept-Contact"), 'a' },
	[SIP_HDR_ACCEPT_ENCODING] = { STR("Accept-Encoding"), 0 },
	[SIP_HDR_ACCEPT_LANGUAGE] = { STR("Accept-Language"), 0 },
	[SIP_HDR_ALERT_INFO] = { STR("Alert-Info"), 0 },
	[SIP_HDR_ALLOW] = { STR("Allow"), 0 },
	[SIP_HDR_ALLOW_EVENTS] = { STR("Allow-Events"), 'u' },
	[SIP_HDR_AUTHORIZATION] = { STR("Authorization"), 0 },
	[SIP_HDR_CALL_ID] = { STR("Call-ID"), 'i' },
	[SIP_HDR_CALL_INFO] = { STR("Call-Info"), 0 },
	[SIP_HDR_CONTACT] = { STR("Contact"), 'm' },
	[SIP_HDR_CONTENT_DISPOSITION] = { STR("Content-Disposition"), 0 },
	[SIP_HDR_CONTENT_ENCODING] = { STR("Content-Encoding"), 'e' },
	[SIP_HDR_CONTENT_LENGTH] = { STR("Content-Length"), 'l' },
	[SIP_HDR_CONTENT_TYPE] = { STR("Content-Type"), 'c' },
	[SIP_HDR_CSEQ] = { STR("CSeq"), 0 },
	[SIP_HDR_DATE] = { STR("Date"), 0 },
	[SIP_HDR_EVENT] = { STR("Event"), 'o' },
	[SIP_HDR_EXPIRES] = { STR("Expires"), 0 },
	[SIP_HDR_FROM] = { STR("From"), 'f' },
	[SIP_HDR_IDENTITY] = { STR("Identity"), 'y' },
	[SIP_HDR_MAX_FORWARDS] = { STR("Max-Forwards"), 0 },
	[SIP_HDR_MIN_EXPIRES] = { STR("Min-Expires"), 0 },
	[SIP_HDR_MIN_SE] = { STR("Min-SE"), 0 },
	[SIP_HDR_P_ASSERTED_IDENTITY] = { STR("P-Asserted-Identity"), 0 },
	[SIP_HDR_P_PREFERRED_IDENTITY] = { STR("P-Preferred-Identity"), 0 },
	[SIP_HDR_PRIVACY] = { STR("Privacy"), 0 },
	[SIP_HDR_PROXY_AUTHENTICATE] = { STR("Proxy-Authenticate"), 0 },
	[SIP_HDR_PROXY_AUTHORIZATION] = { STR("Proxy-Authorization"), 0 },
	[SIP_HDR_PROXY_REQUIRE] = { STR("Proxy-Require"), 0 },
	[SIP_HDR_RACK] = { STR("RAck"), 0 },
	[SIP_HDR_REASON] = { STR("Reason"), 0 },
	[SIP_HDR_RECORD_ROUTE] = { STR("Record-Route"), 0 },
	[SIP_HDR_REFER_SUB] = { STR("Refer-Sub"), 0 },
	[SIP_HDR_REFER_TO] = { STR("Refer-To"), 'r' },
	[SIP_HDR_REFERRED_BY] = { STR("Referred-By"), 'b' },
	[SIP_HDR_REJECT_CONTACT] = { STR("Reject-Contact"), 'j' },
	[SIP_HDR_REPLACES] = { STR("Replaces"), 0 },
	[SIP_HDR_REQUEST_DISPOSITION] = { STR("Request-Disposition"), 'd' },
	[SIP_HDR_REQUIRE] = { STR("Require"), 0 },
	[SIP_HDR_RETRY_AFTER] = { STR("Retry-After"), 0 },
	[SIP_HDR_ROUTE] = { STR("Route"), 0 },
	[SIP_HDR_RSEQ] = { STR("RSeq"), 0 },
	[SIP_HDR_SERVER] = { STR("Server"), 0 },
	[SIP_HDR_SESSION_EXPIRES] = { STR("Session-Expires"), 'x' },
	[SIP_HDR_SUBJECT] = { STR("Subject"), 's' },
	[SIP_HDR_SUBSCRIPTION_STATE] = { STR("Subscription-State"), 0 },
	[SIP_HDR_SUPPORTED] = { STR("Supported"), 'k' },
	[SIP_HDR_TIMESTAMP] = { STR("Timestamp"), 0 },
	[SIP_HDR_TO] = { STR("To"), 't' },
	[SIP_HDR_UNSUPPORTED] = { STR("Unsupported"), 0 },
	[SIP_HDR_USER_AGENT] = { STR("User-Agent"), 0 },
	[SIP_HDR_USER_TO_USER] = { STR("User-to-User"), 0 },
	[SIP_HDR_VIA] = { STR("Via"), 'v' },
	[SIP_HDR_WARNING] = { STR("Warning"), 0 },
	[SIP_HDR_WWW_AUTHENTICATE] = { STR("WWW-Authenticate"), 0 },
};

/* A name is found by a hash of its length and its first and last letters:
 * known as soon as the name's end is, with no pass over its bytes, and
 * collision-free over hdr_names (one probe, then one compare). The tables
 * are filled once at load time and read-only afterwards, so worker threads
 * share them freely. */
#define HDR_HASH_SIZE 256
#define HDR_NAME_MAX 24 /* no name in hdr_names is longer */

/* A slot holds a name in lower case, compared 16 bytes at a time (SSE2;
 * eight without it): (bytes & the mask of their length) | fold must equal
 * lower. fold sets 0x20 where the name has a letter, so either case
 * matches there and only there. Length and id live in the slot too, so
 * that a probe is a single chain of loads: hash, slot, compare; and each
 * slot fills one cache line rather than straddling two. */
static struct hdr_slot {
	uint8_t lower[HDR_NAME_MAX], fold[HDR_NAME_MAX];
	uint8_t len;
	uint8_t id; /* 0: empty */
} __attribute__((aligned(64))) hdr_slots[HDR_HASH_SIZE];
static uint8_t hdr_len_mask[HDR_NAME_MAX + 1][HDR_NAME_MAX];
static uint8_t hdr_compact[26];

/* n >= 1. Only letters are folded, so "Via" and "VIA" hash alike. */
static unsigned hdr_hash_of(const char *p, size_t n)
{
	return ((unsigned)n * 10 + (uint8_t)(p[0] | 0x20) * 37u +
		(uint8_t)(p[n - 1] | 0x20)) % HDR_HASH_SIZE;
}

static void hdr_slot_init(struct hdr_slot *slot, unsigned id, struct str name)
{
	for (size_t i = 0; i < name.n && i < HDR_NAME_MAX; i++) {
		char l = str_lower(name.p[i]);

		slot->lower[i] = (uint8_t)l;
		slot->fold[i] = (l >= 'a' && l <= 'z') ? 0x20 : 0;
	}
	slot->len = (uint8_t)name.n;
	slot->id = (uint8_t)id;
}

__attribute__((constructor)) static void hdr_table_init(void)
{
	for (unsigned n = 0; n <= HDR_NAME_MAX; n++)
		memset(hdr_len_mask[n], 0xff, n);
	for (unsigned id = 1; id < SIP_HDR__COUNT; id++) {
		struct str name = hdr_names[id].name;
		unsigned h = hdr_hash_of(name.p, name.n);

		while (hdr_slots[h].id)
			h = (h + 1) % HDR_HASH_SIZE;
		hdr_slot_init(&hdr_slots[h], id, name);
		if (hdr_names[id].compact)
			hdr_compact[hdr_names[id].compact - 'a'] = (uint8_t)id;
	}
}

struct str sip_hdr_name(enum sip_hdr_id id)
{
	return (unsigned)id < SIP_HDR__COUNT ? hdr_names[id].name : STR("");
}

/* How many bytes from the start of a name of n bytes hdr_slot_eq() reads. */
static long hdr_read_len(size_t n)
{
#ifdef __SSE2__
	return n <= 16 ? 16 : HDR_NAME_MAX;
#else
	(void)n;
	return HDR_NAME_MAX;
#endif
}

/* The hdr_read_len() bytes at p, masked to a name's length: equal to the
 * slot's name, of that length, in any case? */
static bool hdr_slot_eq(const struct hdr_slot *slot, const char *p, const uint8_t *mask)
{
#ifdef __SSE2__
	__m128i eq0 = _mm_cmpeq_epi8(
		_mm_or_si128(_mm_and_si128(scan_load(p), scan_load((const char *)mask)),
			     scan_load((const char *)slot->fold)),
		scan_load((const char *)slot->lower));
	uint64_t w, m, f, l;

	if (_mm_movemask_epi8(eq0) != 0xffff)
		return false;
	if (slot->len <= 16)
		return true;
	memcpy(&w, p + 16, 8);
	memcpy(&m, mask + 16, 8);
	memcpy(&f, slot->fold + 16, 8);
	memcpy(&l, slot->lower + 16, 8);
	return ((w & m) | f) == l;
#else
	uint64_t diff = 0;

	for (int k = 0; k < HDR_NAME_MAX; k += 8) {
		uint64_t w, m, f, l;

		memcpy(&w, p + k, 8);
		memcpy(&m, mask + k, 8);
		memcpy(&f, slot->fold + k, 8);
		memcpy(&l, slot->lower + k, 8);
		diff |= ((w & m) | f) ^ l;
	}
	return diff == 0;
#endif
}

/* name.p has hdr_read_len() readable bytes; 2 <= name.n <= HDR_NAME_MAX. */
static enum sip_hdr_id hdr_probe(struct str name)
{
	const uint8_t *mask = hdr_len_mask[name.n];
	unsigned h = hdr_hash_of(name.p, name.n);

	for (; hdr_slots[h].id; h = (h + 1) % HDR_HASH_SIZE) {
		if (hdr_slots[h].len == name.n && hdr_slot_eq(&hdr_slots[h], name.p, mask))
			return (enum sip_hdr_id)hdr_slots[h].id;
	}
	return SIP_HDR_OTHER;
}

/* Near the end of the buffer the name is probed from a copy. Out of line
 * so that hdr_probe() stays a leaf. */
static __attribute__((noinline)) enum sip_hdr_id hdr_probe_copy(struct str name)
{
	char copy[HDR_NAME_MAX] = { 0 };

	memcpy(copy, name.p, name.n);
	return hdr_probe(str_make(copy, name.n));
}

/* The id of name, whose bytes may be read up to end. */
static enum sip_hdr_id hdr_lookup_in(struct str name, const char *end)
{
	if (name.n == 1) {
		char c = str_lower(name.p[0]);

		return (c >= 'a' && c <= 'z') ? hdr_compact[c - 'a'] : SIP_HDR_OTHER;
	}
	if (name.n == 0 || name.n > HDR_NAME_MAX)
		return SIP_HDR_OTHER;
	return end - name.p >= hdr_read_len(name.n) ? hdr_probe(name) : hdr_probe_copy(name);
}

enum sip_hdr_id sip_hdr_lookup(struct str name)
{
	return hdr_lookup_in(name, str_end(name));
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
	/* Length and first letter rule out all but one or two candidates
	 * before any memcmp. */
	for (unsigned i = 1; i < sizeof(method_names) / sizeof(method_names[0]); i++) {
		struct str m = method_names[i];

		if (m.n == name.n && m.p[0] == name.p[0] && memcmp(m.p, name.p, m.n) == 0)
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
	return scan_byte(p, end, '\n');
}

/* The line's content without its CR. */
static const char *line_stop(const char *p, const char *lf)
{
	return (lf > p && lf[-1] == '\r') ? lf - 1 : lf;
}

static int parse_version(struct sip_msg *m, struct str v)
{
	m->version = v;
	/* Nearly every message spells it exactly so; the rest take the
	 * case-insensitive path, which gives the same answer. */
	if (v.n == 7 && memcmp(v.p, "SIP/2.0", 7) == 0)
		return 0;
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
	const char *p = line.p, *end = str_end(line), *sp, *q;

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
	q = scan_ctl_or_sp(p, sp);
	if (q != sp)
		return fail(m, q, "bad Request-URI", 400);
	if (memchr(sp + 1, ' ', (size_t)(end - sp - 1)))
		return fail(m, sp + 1, "white space in Request-Line", 400);
	return parse_version(m, str_span(sp + 1, end));
}

/* "SIP/" in any case, without a call per message. */
static bool starts_sip(struct str line)
{
	return line.n >= 4 && (line.p[0] | 0x20) == 's' && (line.p[1] | 0x20) == 'i' &&
	       (line.p[2] | 0x20) == 'p' && line.p[3] == '/';
}

static int parse_start_line(struct sip_msg *m, struct str line)
{
	m->is_request = !starts_sip(line);
	if (m->is_request)
		return parse_request_line(m, line);
	if (line.n < 8 || line.p[7] != ' ')
		return fail(m, line.p, "bad status line", 0);
	if (parse_version(m, str_make(line.p, 7)))
		return -EBADMSG;
	return parse_status_line(m, line);
}

static bool is_lws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* str_trim() after the name's white space, in one place: it runs on every
 * header line, where the value nearly always follows one space. */
static struct str value_trim(const char *p, const char *end)
{
	if (p < end && *p == ' ') /* the usual one after the colon */
		p++;
	while (p < end && is_lws(*p))
		p++;
	while (end > p && is_lws(end[-1]))
		end--;
	return str_span(p, end);
}

/* Append header i to the chain of its id. Without a branch on whether the
 * id was seen before: that is data, and a mispredicted branch here also
 * waited for the whole name lookup. A first header points at itself
 * before its next is cleared. */
static void hdr_link(struct sip_msg *m, uint16_t i, uint16_t id)
{
	uint16_t first = m->first[id];
	bool seen = first != SIP_HDR_NONE;
	uint16_t prev = seen ? m->last[id] : i;

	m->first[id] = seen ? first : i;
	m->hdrs[prev].next = i;
	m->hdrs[i].next = SIP_HDR_NONE;
	m->last[id] = i;
}

/* The end of the header name at p, its first byte that is no token
 * character, and the name's id. The name is taken to run to the first
 * ':', SP, HT or LF, found 16 bytes at a time, and a well-known name is
 * looked up before its bytes are checked: matching one proves them token
 * characters. Only other names are walked a byte at a time. stop is where
 * scan_line() saw the first ':', SP, HT or LF. */
static const char *header_name(const char *p, const char *stop, const char *end,
			       uint16_t *id)
{
	const char *q = stop;

	if (q - p >= 2) {
		*id = (uint16_t)hdr_lookup_in(str_span(p, q), end);
		if (*id != SIP_HDR_OTHER)
			return q;
	}
	/* No bound check: the line ends in '\n', which is no token character. */
	for (q = p; token_chars[(uint8_t)*q]; q++)
		;
	*id = (uint16_t)hdr_lookup_in(str_span(p, q), end);
	return q;
}

/* One header, from p to its last continuation line. Returns the start of
 * the next line, or NULL after fail(). */
static const char *parse_header(struct sip_msg *m, const char *p, const char *stop,
				const char *lf, const char *end)
{
	const char *q, *colon;
	struct sip_hdr *hdr;
	uint16_t id, i;

	q = header_name(p, stop, end, &id);
	colon = q;
	if (q == p || *colon != ':') { /* the usual "Name:" needs none of this */
		while (colon < lf && is_wsp(*colon))
			colon++;
		if (q == p || colon == lf || *colon != ':')
			return fail(m, q, "bad header name", 400), NULL;
	}
	/* Continuation lines (§7.3.1) belong to this header. */
	while (lf + 1 < end && is_wsp(lf[1])) {
		lf = line_end(lf + 1, end);
		if (!lf)
			return fail(m, end, "headers not terminated by an empty line", 400), NULL;
	}
	if (m->nhdrs == SIP_MSG_MAX_HDRS)
		return fail(m, p, "too many headers", 400), NULL;
	i = m->nhdrs++;
	hdr = &m->hdrs[i];
	hdr->name = str_span(p, q);
	hdr->value = value_trim(colon + 1, line_stop(colon + 1, lf));
	hdr->id = id;
	hdr_link(m, i, id);
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

/* head_only: buf ends after its last complete line (sip_msg_parse_head()):
 * running out of lines ends the headers, and no body is read. */
static int parse_headers(struct sip_msg *m, const char *p, const char *end, bool head_only)
{
	const char *lf, *stop;

	for (;;) {
		lf = scan_line(p, end, &stop);
		if (!lf && head_only) {
			m->len = (size_t)(p - m->buf);
			return 0;
		}
		if (!lf)
			return fail(m, end, "headers not terminated by an empty line", 400);
		if (line_stop(p, lf) == p)
			break;
		if (is_wsp(*p))
			return fail(m, p, "continuation line without a header", 400);
		p = parse_header(m, p, stop, lf, end);
		if (!p)
			return -EBADMSG;
	}
	p = lf + 1;
	if (head_only) {
		m->len = (size_t)(p - m->buf);
		return 0;
	}
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
	scan_fill(m, 0, offsetof(struct sip_msg, first));
	scan_fill(m->first, 0xff, sizeof(m->first));
	m->buf = buf;
}

static int msg_parse(struct sip_msg *m, const char *buf, size_t len, bool head_only)
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
		r = parse_headers(m, lf + 1, end, head_only);
	/* A response is never answered, whatever is wrong with it. */
	if (r && !m->is_request)
		m->err_status = 0;
	return r;
}

int sip_msg_parse(struct sip_msg *m, const char *buf, size_t len)
{
	return msg_parse(m, buf, len, false);
}

int sip_msg_parse_head(struct sip_msg *m, const char *buf, size_t len)
{
	/* Only whole lines: the quote may stop anywhere in the last one. */
	while (len && buf[len - 1] != '\n')
		len--;
	return msg_parse(m, buf, len, true);
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

/* Outside quotes, <...> and comments only '"', '<', '(' and ',' change
 * the state of list_elem_end(), so the runs between them are skipped in
 * bulk. */
static const char *list_skip_plain(const char *p, const char *end)
{
	return scan_any4(p, end, '"', '<', '(', ',');
}

/* Where the element starting at p ends: the first comma outside quotes,
 * <...> and (comments), or end. NULL if a quote or bracket is left open. */
static const char *list_elem_end(const char *p, const char *end)
{
	bool quoted = false, angle = false;
	int paren = 0;

	for (; p < end; p++) {
		/* In the plain state ')', '>' and '\\' mean nothing either. */
		if (!quoted && !angle && paren == 0) {
			p = list_skip_plain(p, end);
			if (p == end)
				break;
		}
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
