/* uri.c: parsing and comparing sip:, sips: and tel: URIs in place.
 * RFC 3261 §19.1.1-§19.1.4 and §25.1, RFC 3966 §3-§5, RFC 5954 §3-§4. */
#include <errno.h>
#include <limits.h>

#include "param.h"
#include "scan.h"
#include "uri.h"

/* Read position of a parse; on failure p is left on the offending byte. */
struct cur {
	const char *p;
	const char *end;
};

/* ---- character classes (RFC 3261 §25.1) ---- */

/* One table of class bits, filled at load time from the grammar's sets
 * below: a class test is one load and one AND, where a strchr() per byte
 * was the parser's main cost. Read-only afterwards, so shared by workers. */
enum {
	C_DIGIT = 1 << 0,
	C_ALPHA = 1 << 1,
	C_HEX = 1 << 2,
	C_UNRESERVED = 1 << 3, /* alphanum "-_.!~*'()" */
	C_USER = 1 << 4,       /* unreserved "&=+$,;?/" */
	C_PASSWORD = 1 << 5,   /* unreserved "&=+$," */
	C_PARAM = 1 << 6,      /* unreserved "[]/:&+$" */
	C_HEADER = 1 << 7,     /* unreserved "[]/?:+$" */
	C_HOST = 1 << 8,       /* alphanum "-." */
	C_IPV6 = 1 << 9,       /* HEXDIG ":." */
	C_TEL_PNAME = 1 << 10, /* alphanum "-" */
	C_RESERVED = 1 << 11,  /* ";/?:@&=+$," (RFC 2396) */
	C_VISUAL = 1 << 12,    /* "-.()" (RFC 3966 visual-separator) */
	C_SCHEME = 1 << 13,    /* alphanum "+-." */
	C_V4 = 1 << 14,        /* DIGIT "." */
};

static uint16_t char_class[256];

static void class_add(unsigned cls, const char *set)
{
	for (; *set; set++)
		char_class[(uint8_t)*set] |= (uint16_t)cls;
}

__attribute__((constructor)) static void char_class_init(void)
{
	for (unsigned c = 0; c < 256; c++) {
		bool digit = c >= '0' && c <= '9';
		bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
		bool hex = digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');

		if (digit)
			char_class[c] |= C_DIGIT | C_V4;
		if (alpha)
			char_class[c] |= C_ALPHA;
		if (hex)
			char_class[c] |= C_HEX | C_IPV6;
		if (digit || alpha)
			char_class[c] |= C_UNRESERVED | C_USER | C_PASSWORD | C_PARAM |
					 C_HEADER | C_HOST | C_TEL_PNAME | C_SCHEME;
	}
	class_add(C_UNRESERVED | C_USER | C_PASSWORD | C_PARAM | C_HEADER, "-_.!~*'()");
	class_add(C_USER, "&=+$,;?/");
	class_add(C_PASSWORD, "&=+$,");
	class_add(C_PARAM, "[]/:&+$");
	class_add(C_HEADER, "[]/?:+$");
	class_add(C_HOST, "-.");
	class_add(C_IPV6, ":.");
	class_add(C_TEL_PNAME, "-");
	class_add(C_RESERVED, ";/?:@&=+$,");
	class_add(C_VISUAL, "-.()");
	class_add(C_SCHEME, "+-.");
	class_add(C_V4, ".");
}

static bool is_class(char c, unsigned cls)
{
	return char_class[(uint8_t)c] & cls;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
	return is_class(c, C_ALPHA);
}

static bool is_hex(char c)
{
	return is_class(c, C_HEX);
}

static unsigned hex_val(char c)
{
	if (is_digit(c))
		return (unsigned)(c - '0');
	return (unsigned)(str_lower(c) - 'a' + 10);
}

/* RFC 2396 "reserved": §19.1.4 keeps these distinct from their escapes. */
static bool is_reserved(unsigned c)
{
	return c < 0x80 && is_class((char)c, C_RESERVED);
}

static bool is_visual_sep(char c)
{
	return is_class(c, C_VISUAL);
}

/* First byte of [p,end) not in class cls. */
static const char *scan_plain(const char *p, const char *end, unsigned cls)
{
	while (p < end && is_class(*p, cls))
		p++;
	return p;
}

/* Like scan_plain, but %HH escapes pass too; a malformed escape stops the
 * scan on its '%', which no caller accepts as a delimiter. */
static const char *scan_escaped(const char *p, const char *end, unsigned cls)
{
	while (p < end) {
		if (is_class(*p, cls)) {
			p++;
		} else if (*p == '%') {
			if (end - p < 3 || !is_hex(p[1]) || !is_hex(p[2]))
				return p;
			p += 3;
		} else {
			break;
		}
	}
	return p;
}

/* ---- hosts (RFC 3261 §25.1 hostname, RFC 5954 §3 IPv6) ---- */

/* The checks below return NULL for a valid input, else the first byte
 * that does not fit (end when the input stops too early). */

/* Leading zeros are refused although RFC 3261 allows 1*3DIGIT: inet_aton
 * and so getaddrinfo read "010" as octal 8, and a check made on one
 * reading must hold for the resolver's (RFC 3986 dec-octet agrees). */
static const char *ipv4_check(const char *p, const char *end, uint8_t out[4])
{
	const char *start = p;
	unsigned v = 0;
	int n = 0;

	for (; p < end; p++) {
		if (*p == '.') {
			if (p == start || n == 3)
				return p;
			out[n++] = (uint8_t)v;
			v = 0;
			start = p + 1;
		} else if (!is_digit(*p) || (p > start && *start == '0')) {
			return p;
		} else {
			v = v * 10 + (unsigned)(*p - '0');
			if (v > 255)
				return p;
		}
	}
	if (p == start || n != 3)
		return p;
	out[3] = (uint8_t)v;
	return NULL;
}

/* One hex4 at p (1 to 4 digits). Returns the byte after it. */
static const char *ipv6_hex4(const char *p, const char *end, unsigned *v)
{
	const char *start = p;

	*v = 0;
	while (p < end && p - start < 4 && is_hex(*p))
		*v = *v << 4 | hex_val(*p++);
	return p;
}

/* Widen the n groups read, "::" at gap, to all 16 bytes. Going through w
 * keeps every write to out at a fixed index: written straight into out,
 * gcc -O3 cannot see the bound and warns (stringop-overflow). */
static void ipv6_expand(const unsigned *g, int n, int gap, uint8_t out[16])
{
	unsigned w[8] = { 0 };
	int tail = gap < 0 ? 0 : n - gap; /* groups after the "::" */

	for (int i = 0; i < n - tail; i++)
		w[i] = g[i];
	for (int i = 0; i < tail; i++)
		w[8 - tail + i] = g[gap + i];
	for (int i = 0; i < 8; i++) {
		out[2 * i] = (uint8_t)(w[i] >> 8);
		out[2 * i + 1] = (uint8_t)w[i];
	}
}

/* A trailing dotted quad fills the last two groups (RFC 4291 §2.2). */
static const char *ipv6_tail_v4(const char *p, const char *end, unsigned *g)
{
	uint8_t v4[4];
	const char *bad = ipv4_check(p, end, v4);

	if (bad)
		return bad;
	g[0] = (unsigned)v4[0] << 8 | v4[1];
	g[1] = (unsigned)v4[2] << 8 | v4[3];
	return NULL;
}

/* RFC 4291 §2.2 text forms, as RFC 5954 restores them for SIP. */
static const char *ipv6_check(const char *p, const char *end, uint8_t out[16])
{
	unsigned g[8];
	int n = 0, gap = -1;

	if (end - p >= 2 && p[0] == ':' && p[1] == ':') {
		gap = 0;
		p += 2;
	}
	while (p < end) {
		const char *h = p, *bad;
		int room = (gap >= 0 ? 7 : 8) - n; /* "::" stands for >= 1 group */
		unsigned v;

		p = ipv6_hex4(p, end, &v);
		if (p < end && *p == '.') {
			if (room < 2)
				return h;
			bad = ipv6_tail_v4(h, end, &g[n]);
			if (bad)
				return bad;
			n += 2;
			break;
		}
		if (p == h)
			return p;
		if (room < 1)
			return h;
		g[n++] = v;
		if (p == end)
			break;
		if (*p != ':' || ++p == end)
			return p;
		if (*p == ':') {
			if (gap >= 0 || n == 8)
				return p;
			gap = n;
			p++;
		}
	}
	if (gap < 0 && n != 8)
		return end;
	ipv6_expand(g, n, gap, out);
	return NULL;
}

/* The run of host characters at p, and whether it holds only digits and
 * dots: one pass serves both. */
static const char *host_run(const char *p, const char *end, bool *numeric)
{
	unsigned all = C_V4;

	for (; p < end && is_class(*p, C_HOST); p++)
		all &= char_class[(uint8_t)*p];
	*numeric = all & C_V4;
	return p;
}

/* hostname = *( domainlabel "." ) toplabel [ "." ]; a label is alphanum
 * with inner '-', and the top label starts with a letter. */
static const char *hostname_check(const char *p, const char *end)
{
	const char *label = p, *top = p;

	for (const char *q = p; q < end; q++) {
		if (*q == '.') {
			if (q == label || q[-1] == '-')
				return q;
			top = label;
			label = q + 1;
		} else if (*q == '-' && q == label) {
			return q;
		}
	}
	if (label < end) {
		if (end[-1] == '-')
			return end;
		top = label;
	} else if (end == p) {
		return end;
	}
	return is_alpha(*top) ? NULL : top;
}

/* The bracketed IPv6 reference at p ('['), up to and including ']'. */
static const char *ipv6_ref_check(const char *p, const char *end, uint8_t out[16])
{
	const char *close = scan_plain(p + 1, end, C_IPV6);

	if (close == end || *close != ']')
		return close;
	if (close + 1 != end)
		return close + 1;
	return ipv6_check(p + 1, close, out);
}

/* [p,end) is a run of host characters; numeric as host_run() says.
 * Digits-and-dots never make a hostname (the top label needs a letter),
 * so they are judged as a dotted quad, which reports the better offset. */
static const char *host_plain_check(const char *p, const char *end, bool numeric,
				    enum sip_host_type *type)
{
	uint8_t bin[4];

	if (p < end && numeric) {
		*type = SIP_HOST_IPV4;
		return ipv4_check(p, end, bin);
	}
	*type = SIP_HOST_NAME;
	return hostname_check(p, end);
}

/* A whole host: hostname, dotted quad, or bracketed IPv6 reference. */
static const char *host_check(const char *p, const char *end,
			      enum sip_host_type *type)
{
	uint8_t bin[16];
	const char *q;
	bool numeric;

	if (p < end && *p == '[') {
		*type = SIP_HOST_IPV6;
		return ipv6_ref_check(p, end, bin);
	}
	q = host_run(p, end, &numeric);
	if (q != end)
		return q;
	return host_plain_check(p, end, numeric, type);
}

/* ---- comparison units (RFC 3261 §19.1.4) ---- */

/* One character for comparison. An escaped reserved character keeps a
 * mark, since §19.1.4 makes only unreserved ones equal to their escapes. */
struct unit {
	unsigned c;
	bool escaped;
};

enum {
	CMP_FOLD = 1,       /* ASCII case-insensitive */
	CMP_DECODE_ALL = 2, /* reserved escapes decode too (header values) */
};

/* Malformed escapes cannot come from sip_uri_parse; should a caller build
 * a struct by hand, a stray '%' is simply compared as itself. */
static const char *unit_next(const char *p, const char *end, unsigned how,
			     struct unit *u)
{
	if (*p == '%' && end - p >= 3 && is_hex(p[1]) && is_hex(p[2])) {
		u->c = hex_val(p[1]) << 4 | hex_val(p[2]);
		u->escaped = !(how & CMP_DECODE_ALL) && is_reserved(u->c);
		return p + 3;
	}
	u->c = (unsigned char)*p;
	u->escaped = false;
	return p + 1;
}

static unsigned fold(unsigned c)
{
	return (c >= 'A' && c <= 'Z') ? c | 0x20 : c;
}

static bool comp_eq(struct str a, struct str b, unsigned how)
{
	const char *p, *pe, *q, *qe;

	if (a.n == 0 || b.n == 0)
		return a.n == b.n;
	p = a.p;
	pe = p + a.n;
	q = b.p;
	qe = q + b.n;
	while (p < pe && q < qe) {
		struct unit x, y;

		p = unit_next(p, pe, how, &x);
		q = unit_next(q, qe, how, &y);
		if (how & CMP_FOLD) {
			x.c = fold(x.c);
			y.c = fold(y.c);
		}
		if (x.c != y.c || x.escaped != y.escaped)
			return false;
	}
	return p == pe && q == qe;
}

/* Names match as §19.1.4 says, so "m%61ddr" is found as maddr too and an
 * escape cannot hide a parameter from a check. */
static bool param_find(struct str params, struct str name, struct str *value)
{
	struct str n, v;

	while (sip_param_next(&params, &n, &v) == 1) {
		if (comp_eq(n, name, CMP_FOLD)) {
			if (value)
				*value = v;
			return true;
		}
	}
	return false;
}

/* lit holds no '%'. An escape makes a name longer than the name it
 * spells, so a shorter one cannot match and one of the same length can
 * only match byte for byte: the full comparison is for escaped names. */
static bool name_is(struct str name, struct str lit)
{
	if (name.n <= lit.n)
		return str_caseeq(name, lit);
	return comp_eq(name, lit, CMP_FOLD);
}

/* ---- parsing ---- */

static int fail(struct cur *c, const char *at)
{
	c->p = at;
	return -EINVAL;
}

static int parse_scheme(struct cur *c, struct sip_uri *u)
{
	const char *p = c->p;
	struct str name;

	/* "sip:" in any case, as the loop below would read it. */
	if (c->end - p > 4 && (p[0] | 0x20) == 's' && (p[1] | 0x20) == 'i' &&
	    (p[2] | 0x20) == 'p' && p[3] == ':') {
		u->scheme = SIP_SCHEME_SIP;
		c->p = p + 4;
		return 0;
	}
	if (!is_alpha(*p))
		return fail(c, p);
	while (p < c->end && is_class(*p, C_SCHEME))
		p++;
	if (p == c->end || *p != ':')
		return fail(c, p);
	name = str_span(c->p, p);
	if (str_caseeq(name, STR("sip")))
		u->scheme = SIP_SCHEME_SIP;
	else if (str_caseeq(name, STR("sips")))
		u->scheme = SIP_SCHEME_SIPS;
	else if (str_caseeq(name, STR("tel")))
		u->scheme = SIP_SCHEME_TEL;
	else
		return -EPROTONOSUPPORT; /* c->p stays on the scheme */
	c->p = p + 1;
	return 0;
}

/* No '@' may appear unescaped after userinfo, so the first one ends it;
 * a ';' or '?' before it belongs to the user (RFC 3261 §19.1.1). */
static int parse_userinfo(struct cur *c, struct sip_uri *u)
{
	const char *at = memchr(c->p, '@', (size_t)(c->end - c->p));
	const char *q;

	if (at == NULL)
		return 0;
	q = scan_escaped(c->p, at, C_USER);
	if (q == c->p)
		return fail(c, q);
	u->user = str_span(c->p, q);
	if (q < at && *q == ':') {
		/* p stays set for an empty password: present, unlike absent */
		const char *pw = q + 1;

		q = scan_escaped(pw, at, C_PASSWORD);
		u->password = str_span(pw, q);
	}
	if (q != at)
		return fail(c, q);
	c->p = at + 1;
	return 0;
}

/* A bracketed reference runs to its ']' and is checked by host_check();
 * any other host is the run of host characters at c->p, checked in place
 * without scanning it again. */
static int parse_host(struct cur *c, struct sip_uri *u)
{
	const char *q, *bad;
	bool numeric;

	if (c->p < c->end && *c->p == '[') {
		q = scan_plain(c->p + 1, c->end, C_IPV6);
		q = (q < c->end && *q == ']') ? q + 1 : q;
		bad = host_check(c->p, q, &u->host_type);
	} else {
		q = host_run(c->p, c->end, &numeric);
		bad = host_plain_check(c->p, q, numeric, &u->host_type);
	}
	if (bad)
		return fail(c, bad);
	if (u->host_type == SIP_HOST_IPV6)
		u->host = str_span(c->p + 1, q - 1);
	else
		u->host = str_span(c->p, q);
	c->p = q;
	return 0;
}

static int parse_port(struct cur *c, struct sip_uri *u)
{
	const char *p = c->p;
	unsigned v = 0;

	if (p == c->end || *p != ':')
		return 0;
	if (++p == c->end || !is_digit(*p))
		return fail(c, p);
	for (; p < c->end && is_digit(*p); p++) {
		v = v * 10 + (unsigned)(*p - '0');
		if (v > 65535)
			return fail(c, p);
	}
	u->port = (uint16_t)v;
	u->has_port = true;
	c->p = p;
	return 0;
}

static const char *ttl_check(struct str v)
{
	const char *end = v.p + v.n;
	unsigned ttl = 0;

	for (const char *p = v.p; p < end; p++) {
		if (!is_digit(*p) || p - v.p == 3)
			return p;
		ttl = ttl * 10 + (unsigned)(*p - '0');
	}
	if (v.n == 0 || ttl > 255)
		return end;
	return NULL;
}

/* maddr and ttl have their own grammar (RFC 3261 §25.1); maddr in
 * particular must be a plain host, as it overrides where requests go. */
static const char *param_value_check(struct str name, struct str value)
{
	enum sip_host_type type;

	if (name_is(name, STR("maddr")))
		return host_check(value.p, value.p + value.n, &type);
	if (name_is(name, STR("ttl")))
		return ttl_check(value);
	return NULL;
}

/* One pname ["=" pvalue] at c->p; prev holds the parameters before it.
 * A repeated name is refused (RFC 3261 §19.1.1, RFC 3966 §3): two maddr
 * values would let us check one while a peer routes on the other. */
static int parse_param(struct cur *c, struct str prev, bool tel)
{
	const char *n = c->p, *q, *bad;
	struct str name, value;

	q = tel ? scan_plain(n, c->end, C_TEL_PNAME)
		: scan_escaped(n, c->end, C_PARAM);
	if (q == n)
		return fail(c, q);
	name = str_span(n, q);
	value = str_make(q, 0);
	if (q < c->end && *q == '=') {
		const char *v = q + 1;

		q = scan_escaped(v, c->end, C_PARAM);
		if (q == v)
			return fail(c, q);
		value = str_span(v, q);
	}
	if (param_find(prev, name, NULL))
		return fail(c, n);
	bad = tel ? NULL : param_value_check(name, value);
	if (bad)
		return fail(c, bad);
	c->p = q;
	return 0;
}

static int parse_params(struct cur *c, struct sip_uri *u, bool tel)
{
	const char *start;
	int count = 0, err;

	if (c->p == c->end || *c->p != ';')
		return 0;
	start = c->p + 1;
	do {
		struct str prev = str_span(start, c->p < start ? start : c->p);

		c->p++;
		if (++count > SIP_URI_MAX_PARAMS)
			return fail(c, c->p);
		err = parse_param(c, prev, tel);
		if (err)
			return err;
	} while (c->p < c->end && *c->p == ';');
	u->params = str_span(start, c->p);
	return 0;
}

/* headers = "?" header *( "&" header ); header = hname "=" hvalue */
static int parse_headers(struct cur *c, struct sip_uri *u)
{
	const char *start, *q;
	int count = 0;

	if (c->p == c->end || *c->p != '?')
		return 0;
	start = c->p + 1;
	do {
		c->p++;
		if (++count > SIP_URI_MAX_HEADERS)
			return fail(c, c->p);
		q = scan_escaped(c->p, c->end, C_HEADER);
		if (q == c->p || q == c->end || *q != '=')
			return fail(c, q);
		c->p = scan_escaped(q + 1, c->end, C_HEADER);
	} while (c->p < c->end && *c->p == '&');
	u->headers = str_span(start, c->p);
	return 0;
}

/* ---- the usual shape, read from bit masks ---- */

/* Most URIs are sip:user@host[:port];params, with a plain user and host.
 * The byte loops below read such a URI in several passes (a search for
 * '@', the user, the host's extent, then its labels or digits) with a
 * branch per byte. Here one pass, 16 bytes at a time, makes masks where
 * bit i says what byte i of the URI's rest (at most 64 bytes, after the
 * scheme) is, and user, host, port and plain params come out of bit
 * operations. Anything less usual is left to the byte loops, which also
 * report every fault. */
struct uri_bits {
	uint64_t letter, digit, dot, dash;
	uint64_t plus; /* '+' and '_': with the hostname characters, a subset
			* of both the user and the parameter characters */
	uint64_t at, sep; /* '@'; ';' and '=' */
	int n;
};

#ifdef __SSE2__
/* Classify v; drop leading bytes that belong to an earlier chunk, and
 * place the rest at bit i. */
static void uri_bits_add(struct uri_bits *b, __m128i v, int i, int drop)
{
#define URI_BITS(m) ((uint64_t)((unsigned)_mm_movemask_epi8(m) >> drop) << i)
	b->letter |= URI_BITS(scan_in_range(_mm_or_si128(v, _mm_set1_epi8(0x20)), 'a', 'z'));
	b->digit |= URI_BITS(scan_in_range(v, '0', '9'));
	b->dot |= URI_BITS(_mm_cmpeq_epi8(v, _mm_set1_epi8('.')));
	b->dash |= URI_BITS(_mm_cmpeq_epi8(v, _mm_set1_epi8('-')));
	b->plus |= URI_BITS(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('+')),
					 _mm_cmpeq_epi8(v, _mm_set1_epi8('_'))));
	b->at |= URI_BITS(_mm_cmpeq_epi8(v, _mm_set1_epi8('@')));
	b->sep |= URI_BITS(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(';')),
					_mm_cmpeq_epi8(v, _mm_set1_epi8('='))));
#undef URI_BITS
}
#endif

/* The masks of [p,end); false if that is over 64 bytes, or if a last
 * partial chunk cannot be loaded as the 16 bytes ending at end, which
 * must not reach before lo, the URI's start (nothing outside the URI is
 * read: it may end at an unmapped page). */
static bool uri_bits_get(struct uri_bits *b, const char *p, const char *end,
			 const char *lo)
{
#ifdef __SSE2__
	int n = (int)(end - p);

	if (n > 64 || end - lo < 16)
		return false;
	*b = (struct uri_bits){ .n = n };
	for (int i = 0; i < n; i += 16) {
		int drop = end - (p + i) < 16 ? 16 - (int)(end - (p + i)) : 0;

		uri_bits_add(b, scan_load(p + i - drop), i, drop);
	}
	return true;
#else
	(void)b, (void)p, (void)end, (void)lo;
	return false;
#endif
}

/* Bits h to e - 1. */
static uint64_t bit_range(int h, int e)
{
	return scan_low(e) & ~scan_low(h);
}

/* hostname_check() on [h,e), a run of hostname characters, from masks. A
 * fault is a '-' starting a label, a '.' starting one (an empty label) or
 * a '.' after a '-'; the top label must start with a letter. */
static bool host_name_ok(const struct uri_bits *b, int h, int e)
{
	uint64_t range = bit_range(h, e);
	uint64_t dot = b->dot & range, dash = b->dash & range;
	uint64_t starts = ((dot << 1) | 1ull << h) & range;
	uint64_t inner = dot & scan_low(e - 1); /* a trailing dot ends no label */
	int top = inner ? 64 - __builtin_clzll(inner) : h;

	if ((dash & starts) | (dot & starts) | ((dash << 1) & dot) | (dash >> (e - 1) & 1))
		return false;
	return b->letter >> top & 1;
}

/* ipv4_check() on [h,e), a run of digits and dots, from the dot mask:
 * four parts of one to three digits, none with a leading zero, none
 * above 255. */
static bool ipv4_ok(const char *p, const struct uri_bits *b, int h, int e)
{
	uint64_t dots = b->dot & bit_range(h, e);
	int start = h;

	for (int k = 0; k < 4; k++) {
		int stop = k < 3 ? (dots ? __builtin_ctzll(dots) : h) : e;
		int len = stop - start;
		unsigned v;

		if (len < 1 || len > 3 || (len > 1 && p[start] == '0'))
			return false;
		v = (unsigned)(p[start] - '0');
		if (len > 1)
			v = v * 10 + (unsigned)(p[start + 1] - '0');
		if (len > 2)
			v = v * 10 + (unsigned)(p[start + 2] - '0');
		if (v > 255)
			return false;
		if (k < 3)
			dots &= dots - 1;
		start = stop + 1;
	}
	return dots == 0; /* no fourth dot, in the last part or after it */
}

/* The params from s (a ';') to the end, as parse_params() reads them,
 * when they are plain: names and values of alphanum "+-._", none empty,
 * one '=' at most each, no name twice, no maddr or ttl (whose values
 * have their own checks). */
static bool plain_uri_params(const char *p, const struct uri_bits *b, int s,
			     struct sip_uri *u)
{
	uint64_t all = bit_range(s, b->n);
	uint64_t plain = b->letter | b->digit | b->dot | b->dash | b->plus;
	uint64_t t = b->sep & all;
	struct str names[32]; /* 64 bytes hold at most 32 params (";x") */
	int count = 0;

	if (((plain | t) & all) != all)
		return false;
	for (int pos = s; pos < b->n; count++) {
		uint64_t after = t & ~scan_low(pos + 1);
		int name_end = after ? __builtin_ctzll(after) : b->n, next = name_end;
		struct str name = str_make(p + pos + 1, (size_t)(name_end - pos - 1));

		if (!name.n || str_caseeq(name, STR("maddr")) || str_caseeq(name, STR("ttl")))
			return false;
		for (int k = 0; k < count; k++) {
			if (str_caseeq(names[k], name))
				return false;
		}
		names[count] = name;
		if (name_end < b->n && p[name_end] == '=') {
			after = t & ~scan_low(name_end + 1);
			next = after ? __builtin_ctzll(after) : b->n;
			if (next == name_end + 1 || (next < b->n && p[next] == '='))
				return false;
		}
		pos = next;
	}
	u->params = str_make(p + s + 1, (size_t)(b->n - s - 1));
	return true;
}

/* user@host:port;params from c->p, as parse_userinfo(), parse_host(),
 * parse_port() and parse_params() would read them; false, with nothing
 * written, when the URI is not of that usual shape or has a fault. Plain
 * params are read here too; others are left at c->p for parse_params(). */
static bool parse_usual(struct cur *c, struct sip_uri *u, const char *lo)
{
	const char *p = c->p;
	struct uri_bits b;
	uint64_t stop, host;
	int h = 0, e, end;
	unsigned port = 0;
	enum sip_host_type type = SIP_HOST_NAME;

	if (!uri_bits_get(&b, p, c->end, lo))
		return false;
	host = b.letter | b.digit | b.dot | b.dash;
	if (b.at) {
		uint64_t user = host | b.plus;

		h = __builtin_ctzll(b.at) + 1; /* the first '@' ends the user */
		if (h == 1 || (user & scan_low(h - 1)) != scan_low(h - 1))
			return false;
	}
	stop = ~host & ~scan_low(h) & scan_low(b.n);
	e = stop ? __builtin_ctzll(stop) : b.n;
	if (e == h)
		return false;
	if (((b.digit | b.dot) & bit_range(h, e)) == bit_range(h, e)) {
		if (!ipv4_ok(p, &b, h, e))
			return false;
		type = SIP_HOST_IPV4;
	} else if (!host_name_ok(&b, h, e)) {
		return false;
	}
	end = e;
	if (e < b.n && p[e] == ':') {
		stop = ~b.digit & ~scan_low(e + 1) & scan_low(b.n);
		end = stop ? __builtin_ctzll(stop) : b.n;
		if (end == e + 1 || end - e > 6)
			return false; /* no digits, or more than 65535 may need */
		for (const char *d = p + e + 1; d < p + end; d++)
			port = port * 10 + (unsigned)(*d - '0');
		if (port > 65535)
			return false;
	}
	if (end < b.n && p[end] == ';' && plain_uri_params(p, &b, end, u))
		c->p = p + b.n;
	else
		c->p = p + end;
	if (end > e) {
		u->port = (uint16_t)port;
		u->has_port = true;
	}
	if (h)
		u->user = str_make(p, (size_t)(h - 1));
	u->host = str_make(p + h, (size_t)(e - h));
	u->host_type = type;
	return true;
}

static int parse_sip(struct cur *c, struct sip_uri *u, const char *lo)
{
	int err = 0;

	if (!parse_usual(c, u, lo)) {
		err = parse_userinfo(c, u);
		if (err == 0)
			err = parse_host(c, u);
		if (err == 0)
			err = parse_port(c, u);
	}
	if (err == 0)
		err = parse_params(c, u, false);
	if (err == 0)
		err = parse_headers(c, u);
	if (err == 0 && c->p != c->end)
		err = fail(c, c->p);
	return err;
}

/* global-number-digits ("+" then digits) or local-number-digits (hex
 * digits, '*', '#'), with visual separators, RFC 3966 §3. */
static const char *tel_number_check(const char *p, const char *end)
{
	bool global = p < end && *p == '+';
	bool digit = false;

	for (const char *q = global ? p + 1 : p; q < end; q++) {
		if (is_visual_sep(*q))
			continue;
		if (global ? !is_digit(*q) : !(is_hex(*q) || *q == '*' || *q == '#'))
			return q;
		digit = true;
	}
	return digit ? NULL : end;
}

/* The phone-context a local number needs (RFC 3966 §5.1.5) is not
 * enforced: "tel:911" is common and harmless to accept. */
static int parse_tel(struct cur *c, struct sip_uri *u)
{
	const char *semi = memchr(c->p, ';', (size_t)(c->end - c->p));
	const char *q = semi ? semi : c->end;
	const char *bad = tel_number_check(c->p, q);
	int err;

	if (bad)
		return fail(c, bad);
	u->user = str_span(c->p, q);
	c->p = q;
	err = parse_params(c, u, true);
	if (err == 0 && c->p != c->end)
		err = fail(c, c->p);
	return err;
}

int sip_uri_parse(struct str s, struct sip_uri *u, const char **err_at)
{
	struct cur c = { s.p, s.p };
	int err;

	scan_fill(u, 0, sizeof(*u));
	if (s.n == 0) {
		err = -EINVAL;
		goto out;
	}
	c.end = s.p + s.n;
	err = parse_scheme(&c, u);
	if (err)
		goto out;
	if (u->scheme == SIP_SCHEME_TEL)
		err = parse_tel(&c, u);
	else
		err = parse_sip(&c, u, s.p);
out:
	if (err && err_at)
		*err_at = c.p;
	return err;
}

bool sip_uri_param(const struct sip_uri *u, struct str name, struct str *value)
{
	return param_find(u->params, name, value);
}

/* ---- embedded headers and escapes ---- */

int sip_uri_header_next(struct str *cursor, struct str *name, struct str *value)
{
	const char *p, *end, *amp, *eq;

	if (cursor->n == 0)
		return 0;
	p = cursor->p;
	end = p + cursor->n;
	/* the '&' left by the previous call, so a trailing one is reported */
	if (*p == '&')
		p++;
	amp = memchr(p, '&', (size_t)(end - p));
	if (amp == NULL)
		amp = end;
	eq = memchr(p, '=', (size_t)(amp - p));
	if (eq == NULL || eq == p)
		return -EINVAL;
	*name = str_span(p, eq);
	*value = str_span(eq + 1, amp);
	*cursor = str_span(amp, end);
	return 1;
}

/* Validate and measure first, so a failure writes nothing. The length
 * must also fit the int we return. */
int sip_unescape(struct str in, char *out, size_t cap)
{
	size_t n = 0, i;

	for (i = 0; i < in.n; i++, n++) {
		if (in.p[i] != '%')
			continue;
		if (in.n - i < 3 || !is_hex(in.p[i + 1]) || !is_hex(in.p[i + 2]))
			return -EINVAL;
		i += 2;
	}
	if (n > cap || n > INT_MAX)
		return -ENOSPC;
	for (i = 0, n = 0; i < in.n; i++) {
		if (in.p[i] == '%') {
			out[n++] = (char)(hex_val(in.p[i + 1]) << 4 | hex_val(in.p[i + 2]));
			i += 2;
		} else {
			out[n++] = in.p[i];
		}
	}
	return (int)n;
}

/* ---- equality ---- */

/* RFC 5954 §4: IP literals match by address, not by spelling. */
static bool host_equal(const struct sip_uri *a, const struct sip_uri *b)
{
	uint8_t x[16], y[16];

	if (a->host_type != b->host_type)
		return false;
	if (a->host_type == SIP_HOST_IPV6 && a->host.n && b->host.n &&
	    !ipv6_check(a->host.p, a->host.p + a->host.n, x) &&
	    !ipv6_check(b->host.p, b->host.p + b->host.n, y))
		return memcmp(x, y, sizeof(x)) == 0;
	return str_caseeq(a->host, b->host);
}

static bool userinfo_equal(const struct sip_uri *a, const struct sip_uri *b)
{
	if ((a->password.p == NULL) != (b->password.p == NULL))
		return false;
	return comp_eq(a->user, b->user, 0) &&
	       comp_eq(a->password, b->password, 0);
}

/* A default value does not stand in for an absent one, so these must be in
 * both URIs or in neither (§19.1.4). */
static bool param_must_match(struct str name)
{
	return name_is(name, STR("user")) || name_is(name, STR("ttl")) ||
	       name_is(name, STR("method")) || name_is(name, STR("maddr")) ||
	       name_is(name, STR("transport"));
}

/* Every parameter of a that b has too carries the same value there, and
 * none that must match is missing from b. */
static bool params_cover(struct str a, struct str b)
{
	struct str name, value, other;
	int r;

	while ((r = sip_param_next(&a, &name, &value)) == 1) {
		if (!param_find(b, name, &other)) {
			if (param_must_match(name))
				return false;
		} else if (!comp_eq(value, other, CMP_FOLD)) {
			return false;
		}
	}
	return r == 0;
}

/* How many headers h holds (all, or only those called *name), or -1 if
 * it is malformed. */
static int header_count(struct str h, const struct str *name)
{
	struct str n, v;
	int count = 0, r;

	while ((r = sip_uri_header_next(&h, &n, &v)) == 1) {
		if (name == NULL || comp_eq(n, *name, CMP_FOLD | CMP_DECODE_ALL))
			count++;
	}
	return r == 0 ? count : -1;
}

/* The value of the rank-th header called name in h, if any. */
static bool header_nth(struct str h, struct str name, int rank, struct str *value)
{
	struct str n, v;

	while (sip_uri_header_next(&h, &n, &v) == 1) {
		if (comp_eq(n, name, CMP_FOLD | CMP_DECODE_ALL) && rank-- == 0) {
			*value = v;
			return true;
		}
	}
	return false;
}

/* Headers are matched by name in any order, but values of one name stay in
 * order, since that order carries meaning (a Route set, RFC 3261 §7.3.1).
 * Values compare exactly once unescaped: a per-header rule of §20 would
 * know better, but a strict match never calls two different URIs equal.
 * With equal counts, finding each header of a at its rank in b is a
 * one-to-one match. */
static bool headers_equal(struct str a, struct str b)
{
	struct str cur = a, name, value, other;
	int count = header_count(a, NULL);

	if (count < 0 || count != header_count(b, NULL))
		return false;
	while (sip_uri_header_next(&cur, &name, &value) == 1) {
		/* the headers before this one, without the '&' that ends them */
		struct str before = str_span(a.p, name.p == a.p ? a.p : name.p - 1);
		int rank = header_count(before, &name);

		if (rank < 0 || !header_nth(b, name, rank, &other) ||
		    !comp_eq(value, other, CMP_DECODE_ALL))
			return false;
	}
	return true;
}

/* RFC 3966 §4: digits compare without visual separators. */
static bool tel_digits_equal(struct str a, struct str b)
{
	const char *p, *pe, *q, *qe;

	if (a.n == 0 || b.n == 0)
		return a.n == b.n;
	p = a.p;
	pe = p + a.n;
	q = b.p;
	qe = q + b.n;
	for (;;) {
		while (p < pe && is_visual_sep(*p))
			p++;
		while (q < qe && is_visual_sep(*q))
			q++;
		if (p == pe || q == qe)
			return p == pe && q == qe;
		if (str_lower(*p++) != str_lower(*q++))
			return false;
	}
}

/* RFC 3966 §4: every parameter must be in both; ext and a numeric
 * phone-context compare as digits, the rest case-insensitively. */
static bool tel_params_cover(struct str a, struct str b)
{
	struct str name, value, other;
	int r;

	while ((r = sip_param_next(&a, &name, &value)) == 1) {
		bool digits = name_is(name, STR("ext")) ||
			      (name_is(name, STR("phone-context")) &&
			       value.n > 0 && value.p[0] == '+');

		if (!param_find(b, name, &other))
			return false;
		if (digits ? !tel_digits_equal(value, other)
			   : !comp_eq(value, other, CMP_FOLD))
			return false;
	}
	return r == 0;
}

bool sip_uri_equal(const struct sip_uri *a, const struct sip_uri *b)
{
	if (a->scheme != b->scheme)
		return false;
	if (a->scheme == SIP_SCHEME_TEL)
		return tel_digits_equal(a->user, b->user) &&
		       tel_params_cover(a->params, b->params) &&
		       tel_params_cover(b->params, a->params);
	return userinfo_equal(a, b) && host_equal(a, b) &&
	       a->has_port == b->has_port && a->port == b->port &&
	       params_cover(a->params, b->params) &&
	       params_cover(b->params, a->params) &&
	       headers_equal(a->headers, b->headers);
}
