/* ip.c: strict IP literal parsing and special-purpose block lookup.
 * RFC 6890 (+ IANA registries), RFC 1918, 6598, 4291, 6052, 3056, 6874, 3261 §25.1. */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* inet_pton under -std=c11 */
#endif

#include <arpa/inet.h>

#include "ip.h"

/* The longest IPv6 text without zone: 6 groups of "ffff:" and a dotted quad. */
#define V6_TEXT_MAX 45
/* DNS limits (RFC 1035 §2.3.4), without the optional trailing dot. */
#define HOST_MAX 253
#define LABEL_MAX 63

#define V4(a, b, c, d) \
	((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

struct v4_block {
	uint32_t net;
	uint8_t len;
	enum ip_class cls;
};

/* First match wins, so 255.255.255.255 comes before 240/4. Whatever matches
 * nothing is public. */
static const struct v4_block v4_blocks[] = {
	{ V4(0, 0, 0, 0), 8, IP_UNSPECIFIED },
	{ V4(10, 0, 0, 0), 8, IP_PRIVATE },
	{ V4(100, 64, 0, 0), 10, IP_CGNAT },
	{ V4(127, 0, 0, 0), 8, IP_LOOPBACK },
	{ V4(169, 254, 0, 0), 16, IP_LINK_LOCAL },
	{ V4(172, 16, 0, 0), 12, IP_PRIVATE },
	{ V4(192, 0, 0, 0), 24, IP_RESERVED },
	{ V4(192, 0, 2, 0), 24, IP_DOCUMENTATION },
	{ V4(192, 88, 99, 0), 24, IP_RESERVED }, /* 6to4 relay anycast, RFC 7526 */
	{ V4(192, 168, 0, 0), 16, IP_PRIVATE },
	{ V4(198, 18, 0, 0), 15, IP_RESERVED }, /* benchmarking, RFC 2544 */
	{ V4(198, 51, 100, 0), 24, IP_DOCUMENTATION },
	{ V4(203, 0, 113, 0), 24, IP_DOCUMENTATION },
	{ V4(224, 0, 0, 0), 4, IP_MULTICAST },
	{ V4(255, 255, 255, 255), 32, IP_MULTICAST }, /* limited broadcast */
	{ V4(240, 0, 0, 0), 4, IP_RESERVED },
};

/* v4_at: offset of an embedded IPv4 address that decides the class (cls is
 * then unused), or 0 (no embedding sits at offset 0). */
struct v6_block {
	uint8_t prefix[16];
	uint8_t len;
	uint8_t v4_at;
	enum ip_class cls;
};

/* First match wins: :: and ::1 before the IPv4-compatible ::/96 that holds
 * them. Whatever matches nothing is outside 2000::/3 and so reserved. */
static const struct v6_block v6_blocks[] = {
	{ { 0 }, 128, 0, IP_UNSPECIFIED },
	{ { [15] = 1 }, 128, 0, IP_LOOPBACK },
	{ { [10] = 0xff, [11] = 0xff }, 96, 12, 0 }, /* IPv4-mapped */
	{ { 0 }, 96, 12, 0 },                        /* IPv4-compatible */
	{ { 0x00, 0x64, 0xff, 0x9b }, 96, 12, 0 },   /* NAT64, RFC 6052 */
	{ { 0x00, 0x64, 0xff, 0x9b, 0x00, 0x01 }, 48, 0, IP_RESERVED }, /* local NAT64, RFC 8215 */
	{ { 0x01, 0x00 }, 64, 0, IP_RESERVED },      /* discard, RFC 6666 */
	{ { 0x20, 0x01, 0x0d, 0xb8 }, 32, 0, IP_DOCUMENTATION },
	{ { 0x20, 0x01 }, 23, 0, IP_RESERVED },      /* IETF protocol assignments */
	{ { 0x20, 0x02 }, 16, 2, 0 },                /* 6to4, RFC 3056 */
	{ { 0x3f, 0xff }, 20, 0, IP_DOCUMENTATION }, /* RFC 9637 */
	{ { 0xfc }, 7, 0, IP_PRIVATE },
	{ { 0xfe, 0x80 }, 10, 0, IP_LINK_LOCAL },
	{ { 0xfe, 0xc0 }, 10, 0, IP_PRIVATE },       /* deprecated site-local */
	{ { 0xff }, 8, 0, IP_MULTICAST },
	{ { 0x20 }, 3, 0, IP_PUBLIC },               /* global unicast */
};

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
	return str_lower(c) >= 'a' && str_lower(c) <= 'z';
}

static bool is_hex(char c)
{
	return is_digit(c) || (str_lower(c) >= 'a' && str_lower(c) <= 'f');
}

/* RFC 3986 unreserved, the characters of an RFC 6874 zone id. */
static bool is_unreserved(char c)
{
	return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' ||
	       c == '~';
}

/* One decimal octet, 0 to 255, no leading zero (which inet_aton would read
 * as octal). Shifts it into *acc and returns the byte after it, or NULL. */
static const char *v4_octet(const char *p, const char *end, uint32_t *acc)
{
	const char *start = p;
	unsigned v = 0;

	while (p < end && p - start < 3 && is_digit(*p))
		v = v * 10 + (unsigned)(*p++ - '0');
	if (p == start || v > 255 || (p - start > 1 && *start == '0'))
		return NULL;
	*acc = *acc << 8 | v;
	return p;
}

static bool v4_parse(struct str s, uint32_t *out)
{
	const char *p = s.p, *end = str_end(s);
	uint32_t a = 0;

	for (int i = 0; i < 4; i++) {
		if (i > 0) {
			if (p == end || *p != '.')
				return false;
			p++;
		}
		p = v4_octet(p, end, &a);
		if (!p)
			return false;
	}
	*out = a;
	return p == end;
}

static enum ip_class v4_classify(uint32_t a)
{
	for (size_t i = 0; i < ARRAY_LEN(v4_blocks); i++) {
		const struct v4_block *b = &v4_blocks[i];
		uint32_t mask = b->len ? UINT32_MAX << (32 - b->len) : 0;

		if ((a & mask) == b->net)
			return b->cls;
	}
	return IP_PUBLIC;
}

/* Cut a zone id off s. False if the zone is empty or holds a byte an RFC
 * 6874 ZoneID cannot ('%' is let through for the "%25" escape). */
static bool v6_cut_zone(struct str *s)
{
	const char *pct = str_chr(*s, '%');

	if (!pct)
		return true;
	if (pct + 1 == str_end(*s))
		return false;
	for (const char *p = pct + 1; p < str_end(*s); p++) {
		if (!is_unreserved(*p) && *p != '%')
			return false;
	}
	s->n = (size_t)(pct - s->p);
	return true;
}

/* inet_pton needs a C string, so it gets a bounded copy; the byte check
 * first keeps a NUL or other junk in the slice from being cut off silently
 * by the copy and yielding a "valid" prefix. */
static bool v6_parse(struct str s, uint8_t out[16])
{
	char buf[V6_TEXT_MAX + 1];

	if (s.n >= 2 && s.p[0] == '[' && s.p[s.n - 1] == ']')
		s = str_make(s.p + 1, s.n - 2);
	if (!v6_cut_zone(&s) || s.n == 0 || s.n > V6_TEXT_MAX || !str_chr(s, ':'))
		return false;
	for (size_t i = 0; i < s.n; i++) {
		if (!is_hex(s.p[i]) && s.p[i] != ':' && s.p[i] != '.')
			return false;
	}
	memcpy(buf, s.p, s.n);
	buf[s.n] = '\0';
	return inet_pton(AF_INET6, buf, out) == 1;
}

static bool v6_in(const uint8_t a[16], const struct v6_block *b)
{
	size_t whole = b->len / 8;
	unsigned rest = b->len % 8;
	uint8_t mask;

	if (memcmp(a, b->prefix, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	mask = (uint8_t)(0xff << (8 - rest));
	return (a[whole] & mask) == b->prefix[whole];
}

static enum ip_class v6_classify(const uint8_t a[16])
{
	for (size_t i = 0; i < ARRAY_LEN(v6_blocks); i++) {
		const struct v6_block *b = &v6_blocks[i];
		const uint8_t *v4;

		if (!v6_in(a, b))
			continue;
		if (!b->v4_at)
			return b->cls;
		v4 = a + b->v4_at;
		return v4_classify(V4(v4[0], v4[1], v4[2], v4[3]));
	}
	return IP_RESERVED;
}

/* 1 to 63 letters, digits and inner hyphens. */
static bool label_ok(const char *p, const char *end)
{
	size_t n = (size_t)(end - p);

	if (n == 0 || n > LABEL_MAX || p[0] == '-' || end[-1] == '-')
		return false;
	for (; p < end; p++) {
		if (!is_alpha(*p) && !is_digit(*p) && *p != '-')
			return false;
	}
	return true;
}

/* RFC 3261 §25.1 hostname. Its toplabel starts with a letter, which is what
 * keeps every numeric form ("127.1", "0x7f.1", "2130706433") out. */
static bool host_is_name(struct str s)
{
	const char *p, *end;

	if (s.n && s.p[s.n - 1] == '.')
		s.n--;
	if (s.n == 0 || s.n > HOST_MAX)
		return false;
	for (p = s.p, end = str_end(s);;) {
		const char *dot = memchr(p, '.', (size_t)(end - p));

		if (!label_ok(p, dot ? dot : end))
			return false;
		if (!dot)
			return is_alpha(*p);
		p = dot + 1;
	}
}

enum ip_class ip_classify(struct str s)
{
	uint32_t v4;
	uint8_t v6[16];

	/* Empty is neither a literal nor a name; checked first so that no
	 * helper does arithmetic on a NULL p. */
	if (s.n == 0)
		return IP_RESERVED;
	if (host_is_name(s))
		return IP_NOT_LITERAL;
	if (v4_parse(s, &v4))
		return v4_classify(v4);
	if (v6_parse(s, v6))
		return v6_classify(v6);
	return IP_RESERVED;
}

bool ip_is_public(enum ip_class c)
{
	return c == IP_PUBLIC;
}

const char *ip_class_name(enum ip_class c)
{
	switch (c) {
	case IP_NOT_LITERAL:
		return "not-literal";
	case IP_PUBLIC:
		return "public";
	case IP_PRIVATE:
		return "private";
	case IP_LOOPBACK:
		return "loopback";
	case IP_LINK_LOCAL:
		return "link-local";
	case IP_CGNAT:
		return "cgnat";
	case IP_UNSPECIFIED:
		return "unspecified";
	case IP_MULTICAST:
		return "multicast";
	case IP_DOCUMENTATION:
		return "documentation";
	case IP_RESERVED:
		return "reserved";
	}
	return "invalid";
}
