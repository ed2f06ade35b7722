/* config.c: loads and checks the INI configuration: libinih splits key lines into
 * names and values; this file counts lines, tracks sections, checks values, builds lookups. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "config.h"
#include "e164.h"

/* How libinih is used, and why through ini_parse_stream() with our reader
 * rather than ini_parse_file()/ini_parse_string(). Found on Debian 12's
 * libinih 55-1, by probing it and reading its disassembly:
 * - Its library passes a line number to the handler (built with
 *   INI_HANDLER_LINENO=1) while its ini.h says 0, so a handler cannot know
 *   whether it gets one; another build passes none. Our reader hands inih
 *   one line per call and counts them, so p->line is right on any build.
 * - A line longer than its 200-byte buffer reaches the handler cut short
 *   (a cut list of numbers may still look valid) and its tail counts as one
 *   more line, so every later line number is off. The reader refuses such
 *   lines; lists continue on indented lines instead.
 * - It cuts section names to 49 bytes and calls no handler for a header, so
 *   an empty section would go unseen: the reader tracks sections itself.
 * - An indented line after a key continues that key's value, even
 *   "  workers = 2" or "  [pstn]". The reader strips indentation from what
 *   inih sees and handles real continuations itself, for lists only.
 * - Lines without '=' or ']' never reach the handler, and only the first
 *   one's number is returned: the reader reports each of them.
 * - Inline comments start at ';' after white space only (Debian's prefix
 *   set is ";"). '#' after white space is stripped here as well, so both
 *   comment characters work at the start of a line and after a value. */

#define FILE_MAX (16u << 20) /* far above any real config; stops a wrong path early */
#define KEYS_MAX 24
#define TRUNK_NAME_MAX 63
#define CC_MAX 999
#define MAX_CALLS_MAX 100000000u /* so that 4 * max_calls fits max_transactions */

const char config_default_text[] =
	"; The embedded default, used when xferd runs without -c: it listens on\n"
	"; loopback only and serves one demo trunk.\n"
	"[engine]\n"
	"listen = 127.0.0.1:5060\n"
	"metrics = 127.0.0.1:9090\n"
	"trusted = 127.0.0.0/8 ::1/128\n"
	"\n"
	"[pstn]\n"
	"gateway = sip:127.0.0.1:5090\n"
	"geo_allow = 1 44\n"
	"\n"
	"[trunk demo]\n"
	"domain = demo.zt.example.net\n"
	"uri = sip:agent@127.0.0.1:5080\n"
	"numbers = +14155550100 +14155550101\n";

/* ---- lookup tables: open addressing, linear probing, at most half full ---- */

/* A number as the integer of its digits: without a leading 0 (E.164 has
 * none) the digits alone tell numbers apart. 0 marks an empty slot. */
struct num_slot {
	uint64_t key;
	uint32_t trunk;
	uint32_t line; /* where it was listed, for the duplicate message */
};

struct num_tab {
	struct num_slot *v;
	size_t mask;
	size_t n;
};

/* Trunks by a string field (name or domain), case-insensitive. */
struct name_slot {
	uint32_t hash;
	uint32_t idx1; /* trunk index + 1; 0 marks an empty slot */
};

struct name_tab {
	struct name_slot *v;
	size_t mask;
	size_t n;
	size_t field; /* offsetof the char * in struct config_trunk */
};

struct config_index {
	struct num_tab numbers;
	struct name_tab domains;
};

static uint64_t number_key(struct str e164)
{
	uint64_t k = 0;

	for (size_t i = 1; i < e164.n; i++)
		k = k * 10 + (uint64_t)(e164.p[i] - '0');
	return k;
}

static size_t num_hash(uint64_t key, size_t mask)
{
	return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & mask;
}

static const struct num_slot *num_tab_find(const struct num_tab *t, uint64_t key)
{
	if (!t->v)
		return NULL;
	for (size_t i = num_hash(key, t->mask);; i = (i + 1) & t->mask) {
		if (t->v[i].key == key)
			return &t->v[i];
		if (t->v[i].key == 0)
			return NULL;
	}
}

static void num_slot_put(struct num_slot *v, size_t mask, struct num_slot s)
{
	size_t i = num_hash(s.key, mask);

	while (v[i].key)
		i = (i + 1) & mask;
	v[i] = s;
}

static int num_tab_add(struct num_tab *t, struct num_slot s)
{
	size_t cap = t->v ? t->mask + 1 : 0;
	struct num_slot *v;

	if (2 * (t->n + 1) > cap) {
		cap = cap ? 2 * cap : 64;
		v = calloc(cap, sizeof(*v));
		if (!v)
			return -ENOMEM;
		for (size_t i = 0; t->v && i <= t->mask; i++) {
			if (t->v[i].key)
				num_slot_put(v, cap - 1, t->v[i]);
		}
		free(t->v);
		t->v = v;
		t->mask = cap - 1;
	}
	num_slot_put(t->v, t->mask, s);
	t->n++;
	return 0;
}

/* FNV-1a of the lower-cased bytes. */
static uint32_t name_hash(struct str s)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < s.n; i++)
		h = (h ^ (uint8_t)str_lower(s.p[i])) * 16777619u;
	return h;
}

static struct str trunk_field(const struct config_trunk *t, size_t field)
{
	const char *s = *(char *const *)((const char *)t + field);

	return str_make(s, strlen(s));
}

/* The index of the trunk whose field equals key, or SIZE_MAX. */
static size_t name_tab_find(const struct name_tab *t, const struct config_trunk *trunks,
			    struct str key)
{
	uint32_t h = name_hash(key);

	if (!t->v)
		return SIZE_MAX;
	for (size_t i = h & t->mask; t->v[i].idx1; i = (i + 1) & t->mask) {
		size_t idx = t->v[i].idx1 - 1;

		if (t->v[i].hash == h && str_caseeq(trunk_field(&trunks[idx], t->field), key))
			return idx;
	}
	return SIZE_MAX;
}

static void name_slot_put(struct name_slot *v, size_t mask, struct name_slot s)
{
	size_t i = s.hash & mask;

	while (v[i].idx1)
		i = (i + 1) & mask;
	v[i] = s;
}

static int name_tab_add(struct name_tab *t, const struct config_trunk *trunks, size_t idx)
{
	size_t cap = t->v ? t->mask + 1 : 0;
	struct name_slot *v;

	if (2 * (t->n + 1) > cap) {
		cap = cap ? 2 * cap : 16;
		v = calloc(cap, sizeof(*v));
		if (!v)
			return -ENOMEM;
		for (size_t i = 0; t->v && i <= t->mask; i++) {
			if (t->v[i].idx1)
				name_slot_put(v, cap - 1, t->v[i]);
		}
		free(t->v);
		t->v = v;
		t->mask = cap - 1;
	}
	name_slot_put(t->v, t->mask,
		      (struct name_slot){ name_hash(trunk_field(&trunks[idx], t->field)),
					  (uint32_t)idx + 1 });
	t->n++;
	return 0;
}

/* ---- the parse: where we are in the text, what has been seen ---- */

enum sect_kind {
	SECT_NONE, /* before the first header */
	SECT_ENGINE,
	SECT_PSTN,
	SECT_TRUNK,
	SECT_SKIP, /* a header in error: its keys are ignored, not reported again */
};

struct parse;
struct key;

typedef void key_set_fn(struct parse *p, const struct key *k, void *field, struct str v);

enum key_flag {
	KEY_REQUIRED = 1,
	KEY_LIST = 2,        /* white-space separated items; continues on indented lines */
	KEY_ADVERTISED = 4,  /* an address others must reach: not 0.0.0.0 or :: */
};

struct key {
	const char *name;
	key_set_fn *set;
	size_t off;        /* of the field in the section's struct */
	uint32_t min, max; /* for set_u32 */
	unsigned flags;
};

struct sect {
	enum sect_kind kind;
	unsigned line;   /* of the header */
	char label[80];  /* "engine", "trunk acme": what messages call it */
	size_t trunk;    /* SECT_TRUNK: index in c->trunks */
	const struct key *keys;
	size_t n_keys;
	unsigned set_at[KEYS_MAX]; /* line of each key, 0 if absent */
	bool ok[KEYS_MAX];         /* every value given for it was accepted */
	const struct key *prev;    /* the last key line: indented lines continue it */
	bool prev_ignored;         /* that line was in error: so are its continuations */
};

struct parse {
	const char *name; /* of the file, for messages */
	FILE *err;
	struct str text;
	size_t pos;
	unsigned line; /* of the line last read */
	struct config *c;
	unsigned n_err;
	bool oom;
	struct sect cur;
	unsigned engine_line, pstn_line;
	bool trunk_seen;       /* a [trunk ...] header, even one in error */
	struct name_tab names; /* trunks by name, for duplicate sections */
};

__attribute__((format(printf, 3, 4)))
static void p_err(struct parse *p, unsigned line, const char *fmt, ...)
{
	va_list ap;

	p->n_err++;
	if (!p->err)
		return;
	fprintf(p->err, "%s:%u: ", p->name, line);
	va_start(ap, fmt);
	vfprintf(p->err, fmt, ap);
	va_end(ap);
	fputc('\n', p->err);
}

static void p_nomem(struct parse *p)
{
	p->oom = true;
}

/* ---- small text helpers ---- */

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_comment_at(struct str s, size_t i)
{
	return (s.p[i] == ';' || s.p[i] == '#') && (i == 0 || is_blank(s.p[i - 1]));
}

/* The value without its comment (';' or '#' at its start or after white
 * space) and without surrounding white space. */
static struct str value_clean(struct str v)
{
	for (size_t i = 0; i < v.n; i++) {
		if (is_comment_at(v, i)) {
			v.n = i;
			break;
		}
	}
	return str_trim(v);
}

/* Whether line t has one of seps before any comment, as inih looks for '='. */
static bool has_sep(struct str t, const char *seps)
{
	for (size_t i = 0; i < t.n; i++) {
		if (memchr(seps, t.p[i], strlen(seps)))
			return true;
		if (is_comment_at(t, i))
			return false;
	}
	return false;
}

/* The next white-space separated item of *rest; empty at the end. */
static struct str list_next(struct str *rest)
{
	const char *p = rest->p, *end = str_end(*rest), *q;

	while (p < end && is_blank(*p))
		p++;
	for (q = p; q < end && !is_blank(*q); q++)
		;
	*rest = str_span(q, end);
	return str_span(p, q);
}

/* v with room for element n: capacity doubles and is implied by n (4, 8,
 * 16...), so lists need no capacity field. NULL if out of memory (v stays). */
static void *array_room(void *v, size_t n, size_t size)
{
	size_t cap;

	if (n == 0)
		cap = 4;
	else if (n >= 4 && (n & (n - 1)) == 0)
		cap = 2 * n;
	else
		return v;
	return realloc(v, cap * size);
}

/* ---- addresses and blocks ---- */

/* inet_pton on a slice: strict dotted quads (no "127.1", no octal), RFC 4291 text. */
static bool ip_parse(int family, struct str s, void *out)
{
	char buf[INET6_ADDRSTRLEN];

	if (s.n == 0 || s.n >= sizeof(buf))
		return false;
	memcpy(buf, s.p, s.n);
	buf[s.n] = '\0';
	return inet_pton(family, buf, out) == 1;
}

/* Socket addresses go through memcpy: no type punning of the storage. */
static void addr_fill(struct config_addr *a, int family, const void *ip, uint16_t port)
{
	struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };

	memset(&a->sa, 0, sizeof(a->sa));
	if (family == AF_INET) {
		memcpy(&s4.sin_addr, ip, 4);
		memcpy(&a->sa, &s4, sizeof(s4));
		a->sa_len = sizeof(s4);
	} else {
		memcpy(&s6.sin6_addr, ip, 16);
		memcpy(&a->sa, &s6, sizeof(s6));
		a->sa_len = sizeof(s6);
	}
	a->port = port;
}

/* Splits "a.b.c.d:port" or "[v6]:port" into host (as written, brackets
 * kept), the bare address and the port text. NULL, or why v is refused. */
static const char *addr_split(struct str v, struct str *host, struct str *ip, struct str *port)
{
	const char *end = str_end(v), *sep;

	if (v.n && v.p[0] == '[') {
		sep = memchr(v.p, ']', v.n);
		if (!sep)
			return "lacks the ']' of [IPv6]:PORT";
		*ip = str_span(v.p + 1, sep);
		sep++;
	} else {
		sep = memchr(v.p, ':', v.n);
		if (sep && memchr(sep + 1, ':', (size_t)(end - sep - 1)))
			return "needs brackets around its IPv6 address ([ADDRESS]:PORT)";
		sep = sep ? sep : end;
		*ip = str_span(v.p, sep);
	}
	*host = str_span(v.p, sep);
	if (sep == end)
		return "has no port (ADDRESS:PORT, or [IPv6]:PORT)";
	if (*sep != ':')
		return "is not [IPv6]:PORT";
	*port = str_span(sep + 1, end);
	return NULL;
}

/* Fills a from v. NULL, or why v is refused. */
static const char *addr_parse(struct str v, struct config_addr *a)
{
	struct str host, ip, port;
	const char *why = addr_split(v, &host, &ip, &port);
	bool v6 = v.n && v.p[0] == '[';
	uint8_t bytes[16];
	uint32_t pn;

	if (why)
		return why;
	if (str_to_u32(port, 65535, &pn) || pn == 0)
		return "has a bad port (1 to 65535)";
	if (!ip_parse(v6 ? AF_INET6 : AF_INET, ip, bytes))
		return v6 ? "is not an IPv6 address and port" : "is not an IPv4 address and port";
	if (v.n >= sizeof(a->text))
		return "is too long";
	addr_fill(a, v6 ? AF_INET6 : AF_INET, bytes, (uint16_t)pn);
	memcpy(a->host, host.p, host.n);
	a->host[host.n] = '\0';
	memcpy(a->text, v.p, v.n);
	a->text[v.n] = '\0';
	return NULL;
}

static bool addr_is_unspec(const struct config_addr *a)
{
	static const uint8_t zero[16];
	struct sockaddr_in s4;
	struct sockaddr_in6 s6;

	if (a->sa.ss_family == AF_INET) {
		memcpy(&s4, &a->sa, sizeof(s4));
		return s4.sin_addr.s_addr == htonl(INADDR_ANY);
	}
	memcpy(&s6, &a->sa, sizeof(s6));
	return memcmp(&s6.sin6_addr, zero, 16) == 0;
}

/* Whether binding both would collide: same port, and the same address or a
 * wildcard on either side. */
static bool addr_clash(const struct config_addr *a, const struct config_addr *b)
{
	if (a->port != b->port)
		return false;
	if (addr_is_unspec(a) || addr_is_unspec(b))
		return true;
	return a->sa_len == b->sa_len && a->sa.ss_family == b->sa.ss_family &&
	       memcmp(&a->sa, &b->sa, a->sa_len) == 0;
}

/* An IPv4 address as its IPv4-mapped IPv6 address, ::ffff:a.b.c.d. */
static void v4_mapped(const uint8_t v4[4], uint8_t out[16])
{
	memset(out, 0, 10);
	out[10] = 0xff;
	out[11] = 0xff;
	memcpy(out + 12, v4, 4);
}

static bool prefix_eq(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
	unsigned full = prefix / 8, rest = prefix % 8;
	uint8_t mask;

	if (memcmp(a, b, full))
		return false;
	if (!rest)
		return true;
	mask = (uint8_t)(0xff << (8 - rest));
	return ((a[full] ^ b[full]) & mask) == 0;
}

/* The block c with its host bits cleared. */
static void cidr_net(const struct config_cidr *c, uint8_t net[16])
{
	unsigned full = c->prefix / 8, rest = c->prefix % 8;

	memset(net, 0, 16);
	memcpy(net, c->addr, full);
	if (rest)
		net[full] = c->addr[full] & (uint8_t)(0xff << (8 - rest));
}

enum cidr_err {
	CIDR_OK,
	CIDR_BAD_ADDR,
	CIDR_BAD_PREFIX,
	CIDR_HOST_BITS,
};

/* "a.b.c.d[/len]" or "v6[/len]"; no length means a single address. */
static enum cidr_err cidr_parse(struct str s, struct config_cidr *c, bool *v4)
{
	const char *slash = str_chr(s, '/');
	struct str ip = str_span(s.p, slash ? slash : str_end(s));
	uint8_t b4[4], net[16];
	uint32_t len, max;

	*v4 = ip_parse(AF_INET, ip, b4);
	if (*v4)
		v4_mapped(b4, c->addr);
	else if (!ip_parse(AF_INET6, ip, c->addr))
		return CIDR_BAD_ADDR;
	max = *v4 ? 32 : 128;
	len = max;
	if (slash && str_to_u32(str_span(slash + 1, str_end(s)), max, &len))
		return CIDR_BAD_PREFIX;
	c->prefix = (uint8_t)(len + 128 - max);
	cidr_net(c, net);
	return memcmp(net, c->addr, 16) ? CIDR_HOST_BITS : CIDR_OK;
}

/* ---- names ---- */

static bool label_valid(struct str l)
{
	if (l.n == 0 || l.n > 63 || l.p[0] == '-' || l.p[l.n - 1] == '-')
		return false;
	for (size_t i = 0; i < l.n; i++) {
		if (!is_alpha(l.p[i]) && !is_digit(l.p[i]) && l.p[i] != '-')
			return false;
	}
	return true;
}

/* RFC 1123 host name, without a trailing dot; its last label must start
 * with a letter, so that an IPv4 literal is not taken for a name. */
static bool hostname_valid(struct str s)
{
	size_t start = 0, dot;

	if (s.n == 0 || s.n > 253)
		return false;
	for (;;) {
		const char *d = memchr(s.p + start, '.', s.n - start);

		dot = d ? (size_t)(d - s.p) : s.n;
		if (!label_valid(str_make(s.p + start, dot - start)))
			return false;
		if (dot == s.n)
			return is_alpha(s.p[start]);
		start = dot + 1;
	}
}

static bool trunk_name_valid(struct str s)
{
	if (s.n == 0 || s.n > TRUNK_NAME_MAX)
		return false;
	for (size_t i = 0; i < s.n; i++) {
		char c = s.p[i];

		if (!is_alpha(c) && !is_digit(c) && c != '.' && c != '_' && c != '-')
			return false;
	}
	return true;
}

/* The country code written as s ("44") if it is assigned, else 0. Codes are
 * prefix free, so "+<code>0000000" yields code only when code itself is
 * assigned: "4" yields 40, "99" nothing. */
static unsigned geo_code_parse(struct str s)
{
	char num[24];
	uint32_t cc;

	if (s.n < 1 || s.n > 3 || s.p[0] == '0' || str_to_u32(s, CC_MAX, &cc))
		return 0;
	snprintf(num, sizeof(num), "+%u0000000", cc);
	return e164_country_code(str_make(num, strlen(num))) == cc ? cc : 0;
}

static bool geo_has(const struct config_geo *g, unsigned cc)
{
	return cc >= 1 && cc <= CC_MAX && (g->bits[cc / 64] >> (cc % 64) & 1);
}

/* ---- setters: one per kind of value; each reports its own errors ---- */

static void set_u32(struct parse *p, const struct key *k, void *field, struct str v)
{
	uint32_t x;
	int rc = str_to_u32(v, k->max, &x);

	if (rc == -EINVAL)
		p_err(p, p->line, "%s: '%.*s' is not a number", k->name, STR_FMT(v));
	else if (rc || x < k->min)
		p_err(p, p->line, "%s: must be %u to %u", k->name, k->min, k->max);
	else
		*(uint32_t *)field = x;
}

static void set_addr(struct parse *p, const struct key *k, void *field, struct str v)
{
	struct config_addr a;
	const char *why = addr_parse(v, &a);

	if (why)
		p_err(p, p->line, "%s: '%.*s' %s", k->name, STR_FMT(v), why);
	else if ((k->flags & KEY_ADVERTISED) && addr_is_unspec(&a))
		p_err(p, p->line, "%s: '%.*s' cannot be written in Via or Contact", k->name,
		      STR_FMT(v));
	else
		*(struct config_addr *)field = a;
}

static void cidr_host_bits(struct parse *p, const struct key *k, struct str s,
			   const struct config_cidr *c, bool v4)
{
	uint8_t net[16];
	char text[INET6_ADDRSTRLEN];

	cidr_net(c, net);
	inet_ntop(v4 ? AF_INET : AF_INET6, v4 ? net + 12 : net, text, sizeof(text));
	p_err(p, p->line, "%s: '%.*s' has host bits set (the block is %s/%u)", k->name,
	      STR_FMT(s), text, c->prefix - (v4 ? 96u : 0u));
}

static void cidr_add(struct parse *p, const struct key *k, struct config_cidr_list *l,
		     struct str s)
{
	struct config_cidr c;
	struct config_cidr *v;
	bool v4;

	switch (cidr_parse(s, &c, &v4)) {
	case CIDR_BAD_ADDR:
		p_err(p, p->line, "%s: '%.*s' is not an IPv4 or IPv6 address", k->name, STR_FMT(s));
		return;
	case CIDR_BAD_PREFIX:
		p_err(p, p->line, "%s: '%.*s': the prefix length must be 0 to %u", k->name,
		      STR_FMT(s), v4 ? 32u : 128u);
		return;
	case CIDR_HOST_BITS:
		cidr_host_bits(p, k, s, &c, v4);
		return;
	case CIDR_OK:
		break;
	}
	v = array_room(l->v, l->n, sizeof(*l->v));
	if (!v) {
		p_nomem(p);
		return;
	}
	l->v = v;
	l->v[l->n++] = c;
}

static void set_cidrs(struct parse *p, const struct key *k, void *field, struct str v)
{
	for (struct str rest = v, s = list_next(&rest); s.n; s = list_next(&rest))
		cidr_add(p, k, field, s);
}

static void set_geo(struct parse *p, const struct key *k, void *field, struct str v)
{
	struct config_geo *g = field;

	for (struct str rest = v, s = list_next(&rest); s.n; s = list_next(&rest)) {
		unsigned cc = geo_code_parse(s);

		if (!cc)
			p_err(p, p->line, "%s: '%.*s' is not an assigned country calling code",
			      k->name, STR_FMT(s));
		else if (geo_has(g, cc))
			p_err(p, p->line, "%s: '%.*s' is listed twice", k->name, STR_FMT(s));
		else
			g->bits[cc / 64] |= 1ull << (cc % 64);
	}
}

static void number_dup(struct parse *p, const struct key *k, struct str n,
		       const struct num_slot *dup)
{
	if (dup->trunk == p->cur.trunk)
		p_err(p, p->line, "%s: '%.*s' is listed twice (first at line %u)", k->name,
		      STR_FMT(n), dup->line);
	else
		p_err(p, p->line, "%s: '%.*s' already belongs to [trunk %s] (line %u)", k->name,
		      STR_FMT(n), p->c->trunks[dup->trunk].name, dup->line);
}

static void number_add(struct parse *p, const struct key *k, struct config_number_list *l,
		       struct str n)
{
	struct num_tab *tab = &p->c->index->numbers;
	const struct num_slot *dup;
	struct config_number *v;

	if (!e164_valid(n)) {
		p_err(p, p->line, "%s: '%.*s' is not an E.164 number", k->name, STR_FMT(n));
		return;
	}
	dup = num_tab_find(tab, number_key(n));
	if (dup) {
		number_dup(p, k, n, dup);
		return;
	}
	v = array_room(l->v, l->n, sizeof(*l->v));
	if (v)
		l->v = v;
	if (!v || num_tab_add(tab, (struct num_slot){ number_key(n), (uint32_t)p->cur.trunk,
						      p->line })) {
		p_nomem(p);
		return;
	}
	memcpy(l->v[l->n].text, n.p, n.n);
	l->v[l->n++].text[n.n] = '\0';
}

static void set_numbers(struct parse *p, const struct key *k, void *field, struct str v)
{
	for (struct str rest = v, s = list_next(&rest); s.n; s = list_next(&rest))
		number_add(p, k, field, s);
}

static const char *const log_level_names[] = {
	[CONFIG_LOG_ERROR] = "error",
	[CONFIG_LOG_WARN] = "warn",
	[CONFIG_LOG_INFO] = "info",
	[CONFIG_LOG_DEBUG] = "debug",
};

static void set_log_level(struct parse *p, const struct key *k, void *field, struct str v)
{
	for (size_t i = 0; i < sizeof(log_level_names) / sizeof(log_level_names[0]); i++) {
		if (str_eq(v, str_make(log_level_names[i], strlen(log_level_names[i])))) {
			*(enum config_log_level *)field = (enum config_log_level)i;
			return;
		}
	}
	p_err(p, p->line, "%s: '%.*s' must be error, warn, info or debug", k->name, STR_FMT(v));
}

static void set_string(struct parse *p, const struct key *k, void *field, struct str v)
{
	char *s = strndup(v.p, v.n);

	(void)k;
	if (!s)
		p_nomem(p);
	*(char **)field = s;
}

static void set_domain(struct parse *p, const struct key *k, void *field, struct str v)
{
	if (!hostname_valid(v))
		p_err(p, p->line, "%s: '%.*s' is not a host name", k->name, STR_FMT(v));
	else
		set_string(p, k, field, v);
}

/* A request target: sip: or sips:, parsed, without embedded headers (they
 * only describe a request to build, RFC 3261 §19.1.5). */
static void set_uri(struct parse *p, const struct key *k, void *field, struct str v)
{
	struct config_uri *u = field;
	struct sip_uri uri;
	const char *at = NULL;
	char *text = strndup(v.p, v.n);
	int rc;

	if (!text) {
		p_nomem(p);
		return;
	}
	rc = sip_uri_parse(str_make(text, v.n), &uri, &at);
	if (rc == -EPROTONOSUPPORT || (rc == 0 && uri.scheme == SIP_SCHEME_TEL))
		p_err(p, p->line, "%s: '%.*s' is not a sip: or sips: URI", k->name, STR_FMT(v));
	else if (rc)
		p_err(p, p->line, "%s: '%.*s' is not a valid SIP URI (error at character %zu)",
		      k->name, STR_FMT(v), at ? (size_t)(at - text) + 1 : 1);
	else if (uri.headers.p)
		p_err(p, p->line, "%s: '%.*s' has headers ('?...'), which a request target cannot carry",
		      k->name, STR_FMT(v));
	else {
		u->text = text;
		u->uri = uri;
		return;
	}
	free(text);
}

/* ---- the keys of each section ---- */

enum {
	EK_LISTEN, EK_ADVERTISE, EK_WORKERS, EK_METRICS, EK_MAX_CALLS,
	EK_TRANSFER_TIMEOUT, EK_TRUSTED, EK_DRAIN_TIMEOUT, EK_T1, EK_T2, EK_T4,
	EK_MAX_TRANSACTIONS, EK_MAX_TCP, EK_MAX_MESSAGE, EK_TCP_IDLE, EK_LOG_LEVEL,
	EK_EVENT_LOG, EK_SPREAD_ABOVE, EK_N
};

#define EOFF(f) offsetof(struct config_engine, f)
static const struct key engine_keys[EK_N] = {
	[EK_LISTEN] = { "listen", set_addr, EOFF(listen), 0, 0, KEY_REQUIRED },
	[EK_ADVERTISE] = { "advertise", set_addr, EOFF(advertise), 0, 0, KEY_ADVERTISED },
	[EK_WORKERS] = { "workers", set_u32, EOFF(workers), 1, 64, 0 },
	[EK_METRICS] = { "metrics", set_addr, EOFF(metrics), 0, 0, 0 },
	[EK_MAX_CALLS] = { "max_calls", set_u32, EOFF(max_calls), 1, MAX_CALLS_MAX, 0 },
	[EK_TRANSFER_TIMEOUT] = { "transfer_timeout", set_u32, EOFF(transfer_timeout), 1, 3600, 0 },
	[EK_TRUSTED] = { "trusted", set_cidrs, EOFF(trusted), 0, 0, KEY_REQUIRED | KEY_LIST },
	[EK_DRAIN_TIMEOUT] = { "drain_timeout", set_u32, EOFF(drain_timeout), 0, 86400, 0 },
	[EK_T1] = { "t1_ms", set_u32, EOFF(t1_ms), 1, 60000, 0 },
	[EK_T2] = { "t2_ms", set_u32, EOFF(t2_ms), 1, 60000, 0 },
	[EK_T4] = { "t4_ms", set_u32, EOFF(t4_ms), 1, 60000, 0 },
	[EK_MAX_TRANSACTIONS] = { "max_transactions", set_u32, EOFF(max_transactions), 1,
				  4 * MAX_CALLS_MAX, 0 },
	[EK_MAX_TCP] = { "max_tcp_connections", set_u32, EOFF(max_tcp_connections), 1, 1000000, 0 },
	[EK_MAX_MESSAGE] = { "max_message_size", set_u32, EOFF(max_message_size), 1024, 1048576, 0 },
	[EK_TCP_IDLE] = { "tcp_idle_timeout", set_u32, EOFF(tcp_idle_timeout), 1, 86400, 0 },
	[EK_LOG_LEVEL] = { "log_level", set_log_level, EOFF(log_level), 0, 0, 0 },
	[EK_EVENT_LOG] = { "event_log", set_string, EOFF(event_log), 0, 0, 0 },
	[EK_SPREAD_ABOVE] = { "spread_above", set_u32, EOFF(spread_above), 0, 100, 0 },
};

enum { PK_GATEWAY, PK_GEO_ALLOW, PK_N };

static const struct key pstn_keys[PK_N] = {
	[PK_GATEWAY] = { "gateway", set_uri, offsetof(struct config_pstn, gateway), 0, 0,
			 KEY_REQUIRED },
	[PK_GEO_ALLOW] = { "geo_allow", set_geo, offsetof(struct config_pstn, geo_allow), 0, 0,
			   KEY_LIST },
};

enum { TK_DOMAIN, TK_URI, TK_NUMBERS, TK_GEO_ALLOW, TK_N };

#define TOFF(f) offsetof(struct config_trunk, f)
static const struct key trunk_keys[TK_N] = {
	[TK_DOMAIN] = { "domain", set_domain, TOFF(domain), 0, 0, KEY_REQUIRED },
	[TK_URI] = { "uri", set_uri, TOFF(uri), 0, 0, KEY_REQUIRED },
	[TK_NUMBERS] = { "numbers", set_numbers, TOFF(numbers), 0, 0, KEY_LIST },
	[TK_GEO_ALLOW] = { "geo_allow", set_geo, TOFF(geo_allow), 0, 0, KEY_LIST },
};

/* ---- sections ---- */

static void sect_init(struct parse *p, enum sect_kind kind, const struct key *keys,
		      size_t n_keys)
{
	p->cur.kind = kind;
	p->cur.keys = keys;
	p->cur.n_keys = n_keys;
}

static void sect_skip(struct parse *p)
{
	p->cur.kind = SECT_SKIP;
}

static char *sect_obj(struct parse *p)
{
	switch (p->cur.kind) {
	case SECT_ENGINE:
		return (char *)&p->c->engine;
	case SECT_PSTN:
		return (char *)&p->c->pstn;
	default:
		return (char *)&p->c->trunks[p->cur.trunk];
	}
}

static void sect_require(struct parse *p)
{
	const struct sect *s = &p->cur;

	for (size_t i = 0; i < s->n_keys; i++) {
		if ((s->keys[i].flags & KEY_REQUIRED) && !s->set_at[i])
			p_err(p, s->line, "missing key '%s' in [%s]", s->keys[i].name, s->label);
	}
}

/* A key that was absent or accepted: derived checks may read its value. */
static bool sect_valid(const struct sect *s, size_t i)
{
	return !s->set_at[i] || s->ok[i];
}

static void engine_timers_check(struct parse *p)
{
	const struct config_engine *e = &p->c->engine;
	const struct sect *s = &p->cur;

	if (!sect_valid(s, EK_T1) || !sect_valid(s, EK_T2) || e->t2_ms >= e->t1_ms)
		return;
	if (s->set_at[EK_T2])
		p_err(p, s->set_at[EK_T2], "t2_ms: must be at least t1_ms (%u)", e->t1_ms);
	else
		p_err(p, s->set_at[EK_T1], "t1_ms: must be at most t2_ms (%u)", e->t2_ms);
}

static void engine_close(struct parse *p)
{
	struct config_engine *e = &p->c->engine;
	const struct sect *s = &p->cur;

	sect_require(p);
	if (!s->set_at[EK_ADVERTISE] && s->ok[EK_LISTEN]) {
		if (addr_is_unspec(&e->listen))
			p_err(p, s->line, "missing key 'advertise' in [engine]: listen %s cannot be "
			      "written in Via or Contact", e->listen.text);
		e->advertise = e->listen;
	}
	/* A call holds a few transactions at once, and finished ones linger
	 * up to 64*T1 to absorb retransmissions: 4 per call, at least 4096. */
	if (!s->set_at[EK_MAX_TRANSACTIONS] && sect_valid(s, EK_MAX_CALLS))
		e->max_transactions = e->max_calls < 1024 ? 4096 : 4 * e->max_calls;
	if (s->ok[EK_TRUSTED] && e->trusted.n == 0)
		p_err(p, s->set_at[EK_TRUSTED], "trusted: no address block given");
	engine_timers_check(p);
	e->has_metrics = s->set_at[EK_METRICS] != 0;
	if (s->ok[EK_METRICS] && s->ok[EK_LISTEN] && addr_clash(&e->metrics, &e->listen))
		p_err(p, s->set_at[EK_METRICS], "metrics: '%s' takes the port of listen '%s'",
		      e->metrics.text, e->listen.text);
}

static void trunk_close(struct parse *p)
{
	struct config_trunk *trunks = p->c->trunks, *t = &trunks[p->cur.trunk];
	struct name_tab *domains = &p->c->index->domains;
	size_t other;

	sect_require(p);
	t->has_geo_allow = p->cur.set_at[TK_GEO_ALLOW] != 0;
	if (!p->cur.ok[TK_DOMAIN])
		return;
	other = name_tab_find(domains, trunks, str_make(t->domain, strlen(t->domain)));
	if (other != SIZE_MAX)
		p_err(p, p->cur.set_at[TK_DOMAIN], "domain: '%s' is already the domain of "
		      "[trunk %s] (line %u)", t->domain, trunks[other].name, trunks[other].line);
	else if (name_tab_add(domains, trunks, p->cur.trunk))
		p_nomem(p);
}

/* Ends the current section: checks what needs all of its keys. */
static void sect_close(struct parse *p)
{
	switch (p->cur.kind) {
	case SECT_ENGINE:
		engine_close(p);
		break;
	case SECT_PSTN:
		sect_require(p);
		break;
	case SECT_TRUNK:
		trunk_close(p);
		break;
	default:
		break;
	}
	p->cur.kind = SECT_NONE;
}

/* [engine] and [pstn]: at most once each. */
static void single_open(struct parse *p, enum sect_kind kind, unsigned *first,
			const struct key *keys, size_t n_keys)
{
	if (*first) {
		p_err(p, p->line, "duplicate section [%s] (first at line %u)", p->cur.label, *first);
		sect_skip(p);
		return;
	}
	*first = p->line;
	sect_init(p, kind, keys, n_keys);
}

static int trunk_add(struct parse *p, struct str name)
{
	struct config *c = p->c;
	struct config_trunk *v = array_room(c->trunks, c->n_trunks, sizeof(*v));

	if (!v)
		return -ENOMEM;
	c->trunks = v;
	memset(&v[c->n_trunks], 0, sizeof(*v));
	v[c->n_trunks].line = p->line;
	v[c->n_trunks].name = strndup(name.p, name.n);
	if (!v[c->n_trunks].name)
		return -ENOMEM;
	c->n_trunks++;
	return name_tab_add(&p->names, c->trunks, c->n_trunks - 1);
}

static void trunk_open(struct parse *p, struct str name)
{
	size_t other;

	p->trunk_seen = true;
	if (name.n == 0)
		p_err(p, p->line, "[trunk] needs a name: [trunk NAME]");
	else if (!trunk_name_valid(name))
		p_err(p, p->line, "[%s]: a trunk name has letters, digits, '.', '_' and '-', "
		      "63 at most", p->cur.label);
	if (!trunk_name_valid(name)) {
		sect_skip(p);
		return;
	}
	snprintf(p->cur.label, sizeof(p->cur.label), "trunk %.*s", STR_FMT(name));
	other = name_tab_find(&p->names, p->c->trunks, name);
	if (other != SIZE_MAX) {
		p_err(p, p->line, "duplicate section [%s] (first at line %u)", p->cur.label,
		      p->c->trunks[other].line);
		sect_skip(p);
		return;
	}
	if (trunk_add(p, name)) {
		p_nomem(p);
		sect_skip(p);
		return;
	}
	p->cur.trunk = p->c->n_trunks - 1;
	sect_init(p, SECT_TRUNK, trunk_keys, TK_N);
}

static void sect_begin(struct parse *p, struct str inner)
{
	struct sect *s = &p->cur;
	bool trunk = inner.n >= 5 && !memcmp(inner.p, "trunk", 5) &&
		     (inner.n == 5 || is_blank(inner.p[5]));

	memset(s, 0, sizeof(*s));
	s->line = p->line;
	snprintf(s->label, sizeof(s->label), "%.*s", STR_FMT(inner));
	if (str_eq(inner, STR("engine")))
		single_open(p, SECT_ENGINE, &p->engine_line, engine_keys, EK_N);
	else if (str_eq(inner, STR("pstn")))
		single_open(p, SECT_PSTN, &p->pstn_line, pstn_keys, PK_N);
	else if (trunk)
		trunk_open(p, str_trim(str_make(inner.p + 5, inner.n - 5)));
	else {
		p_err(p, p->line, "unknown section [%.*s]", STR_FMT(inner));
		sect_skip(p);
	}
}

/* t: a trimmed line starting with '['. */
static void sect_open(struct parse *p, struct str t)
{
	const char *rb = memchr(t.p, ']', t.n);
	struct str rest;

	sect_close(p);
	if (!rb) {
		memset(&p->cur, 0, sizeof(p->cur));
		p_err(p, p->line, "section header without ']'");
		sect_skip(p);
		return;
	}
	rest = str_trim(str_span(rb + 1, str_end(t)));
	if (rest.n && !is_comment_at(rest, 0))
		p_err(p, p->line, "unexpected '%.*s' after ']'", STR_FMT(rest));
	sect_begin(p, str_trim(str_span(t.p + 1, rb)));
}

/* ---- keys and values ---- */

static void key_apply(struct parse *p, const struct key *k, struct str v)
{
	struct sect *s = &p->cur;
	unsigned before = p->n_err;

	k->set(p, k, sect_obj(p) + k->off, v);
	if (p->n_err != before)
		s->ok[k - s->keys] = false;
}

static const struct key *key_find(const struct sect *s, struct str name)
{
	for (size_t i = 0; i < s->n_keys; i++) {
		if (str_eq(name, str_make(s->keys[i].name, strlen(s->keys[i].name))))
			return &s->keys[i];
	}
	return NULL;
}

/* A "name = value" line, as inih split it. */
static void key_line(struct parse *p, struct str name, struct str value)
{
	struct sect *s = &p->cur;
	const struct key *k;
	size_t i;

	s->prev = NULL;
	s->prev_ignored = true;
	if (s->kind == SECT_SKIP)
		return;
	if (s->kind == SECT_NONE) {
		p_err(p, p->line, "key '%.*s' is outside any section", STR_FMT(name));
		return;
	}
	k = key_find(s, name);
	if (!k && name.n == 0)
		p_err(p, p->line, "no key name before '=' in [%s]", s->label);
	else if (!k)
		p_err(p, p->line, "unknown key '%.*s' in [%s]", STR_FMT(name), s->label);
	if (!k)
		return;
	i = (size_t)(k - s->keys);
	if (s->set_at[i]) {
		p_err(p, p->line, "duplicate key '%s' in [%s] (first at line %u)", k->name,
		      s->label, s->set_at[i]);
		return;
	}
	s->set_at[i] = p->line;
	s->ok[i] = true;
	s->prev = k;
	s->prev_ignored = false;
	value = value_clean(value);
	if (value.n == 0 && !(k->flags & KEY_LIST)) {
		p_err(p, p->line, "%s: no value", k->name);
		s->ok[i] = false;
		return;
	}
	key_apply(p, k, value);
}

/* An indented line that is not "key = ...": more items of the last key. */
static void line_continue(struct parse *p, struct str t)
{
	struct sect *s = &p->cur;

	if (s->kind == SECT_SKIP || s->prev_ignored)
		return;
	if (!s->prev)
		p_err(p, p->line, "indented line continues no key");
	else if (!(s->prev->flags & KEY_LIST))
		p_err(p, p->line, "%s: takes one value; only lists continue on indented lines",
		      s->prev->name);
	else {
		key_apply(p, s->prev, value_clean(t));
		return;
	}
	s->prev = NULL;
	s->prev_ignored = true;
}

static void line_ignore(struct parse *p)
{
	p->cur.prev = NULL;
	p->cur.prev_ignored = true;
}

/* A key line for inih, without its indentation, into buf. */
static void line_feed(struct parse *p, struct str t, char *buf, size_t cap)
{
	if (!has_sep(t, "=:")) {
		p_err(p, p->line, "expected 'key = value'");
		line_ignore(p);
	} else if (t.n + 2 > cap) {
		p_err(p, p->line, "line too long: %zu characters, %zu at most (a list may "
		      "continue on indented lines)", t.n, cap - 2);
		line_ignore(p);
	} else {
		memcpy(buf, t.p, t.n);
		buf[t.n] = '\n';
		buf[t.n + 1] = '\0';
	}
}

/* Sorts one line: comment, header, continuation, or a key line for inih.
 * buf holds an empty line unless line_feed fills it. */
static void line_take(struct parse *p, struct str raw, char *buf, size_t cap)
{
	struct str t;

	if (p->line == 1 && raw.n >= 3 && !memcmp(raw.p, "\xEF\xBB\xBF", 3))
		raw = str_make(raw.p + 3, raw.n - 3);
	if (memchr(raw.p, '\0', raw.n)) {
		p_err(p, p->line, "NUL byte in line");
		line_ignore(p);
		return;
	}
	t = str_trim(raw);
	if (t.n == 0 || t.p[0] == ';' || t.p[0] == '#')
		return;
	if (t.p[0] == '[')
		sect_open(p, t);
	else if (t.p != raw.p && !has_sep(t, "="))
		line_continue(p, t);
	else
		line_feed(p, t, buf, cap);
}

static struct str text_next_line(struct parse *p)
{
	const char *s = p->text.p + p->pos, *end = str_end(p->text);
	const char *nl = memchr(s, '\n', (size_t)(end - s));

	p->pos = (size_t)((nl ? nl + 1 : end) - p->text.p);
	p->line++;
	return str_span(s, nl ? nl : end);
}

/* inih's reader, an fgets look-alike: exactly one line of the text per
 * call, so that p->line is the line of the key the handler then gets.
 * Lines inih must not see are handed over empty, so its count stays ours. */
static char *on_ini_read(char *buf, int cap, void *stream)
{
	struct parse *p = stream;

	if (p->oom || p->pos >= p->text.n)
		return NULL;
	if (cap < 2) {
		p_err(p, p->line + 1, "libinih's line buffer is unusable");
		return NULL;
	}
	buf[0] = '\n';
	buf[1] = '\0';
	line_take(p, text_next_line(p), buf, (size_t)cap);
	return buf;
}

/* inih's handler. section is ignored: the reader tracks sections, and inih
 * cuts their names. Always 1: errors are reported here, so that what inih
 * returns is only its own syntax errors. A NULL name or value comes only
 * from a build with INI_ALLOW_NO_VALUE or INI_CALL_HANDLER_ON_NEW_SECTION,
 * and only for lines the reader never hands over; checked all the same. */
static int on_ini_pair(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;

	(void)section;
	if (!name || !value) {
		p_err(p, p->line, "expected 'key = value'");
		return 1;
	}
	key_line(p, str_make(name, strlen(name)), str_make(value, strlen(value)));
	return 1;
}

#if INI_HANDLER_LINENO
static int on_ini_pair_lineno(void *user, const char *section, const char *name,
			      const char *value, int lineno)
{
	(void)lineno; /* ours counts lines inih never sees whole */
	return on_ini_pair(user, section, name, value);
}
#define ON_INI_PAIR on_ini_pair_lineno
#else
#define ON_INI_PAIR on_ini_pair
#endif

/* ---- loading ---- */

/* CPUs this process may run on (its affinity mask, as a container or
 * taskset sets it), within 1..64. */
static uint32_t cpu_count(void)
{
	cpu_set_t set;
	long n = 0;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		n = CPU_COUNT(&set);
	if (n < 1)
		n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 64 ? 64 : (uint32_t)n;
}

static void engine_defaults(struct config_engine *e)
{
	e->workers = cpu_count();
	e->max_calls = 200000;
	e->transfer_timeout = 30;
	e->drain_timeout = 30;
	e->t1_ms = 500;
	e->t2_ms = 4000;
	e->t4_ms = 5000;
	e->max_tcp_connections = 10000;
	e->max_message_size = 65535;
	e->tcp_idle_timeout = 300;
	e->spread_above = 70;
	e->log_level = CONFIG_LOG_WARN;
}

static struct config *config_new(void)
{
	struct config *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->index = calloc(1, sizeof(*c->index));
	if (!c->index) {
		free(c);
		return NULL;
	}
	c->index->domains.field = offsetof(struct config_trunk, domain);
	engine_defaults(&c->engine);
	return c;
}

static void parse_finish(struct parse *p)
{
	sect_close(p);
	if (!p->engine_line)
		p_err(p, 1, "missing section [engine]");
	if (!p->pstn_line)
		p_err(p, 1, "missing section [pstn]");
	if (!p->trunk_seen)
		p_err(p, 1, "missing section [trunk NAME]: at least one trunk is needed");
}

static int config_load_text(struct str text, const char *name, struct config **out, FILE *err)
{
	struct parse p = { .name = name, .err = err, .text = text };
	int rc = -ENOMEM;

	p.names.field = offsetof(struct config_trunk, name);
	p.c = config_new();
	if (!p.c)
		goto out;
	rc = ini_parse_stream(on_ini_read, &p, ON_INI_PAIR, &p);
	if (rc == -2)
		p_nomem(&p);
	else if (rc > 0 && !p.oom)
		p_err(&p, (unsigned)rc, "syntax error");
	if (!p.oom)
		parse_finish(&p);
	rc = p.oom ? -ENOMEM : p.n_err ? -EINVAL : 0;
	if (rc == 0 && out) {
		*out = p.c;
		p.c = NULL;
	}
out:
	if (rc == -ENOMEM && err)
		fprintf(err, "%s: out of memory\n", name);
	free(p.names.v);
	config_free(p.c);
	return rc;
}

/* The whole file, so that its length (NUL bytes included) is known. */
static int file_read(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL, *nb;
	size_t cap = 0, n = 0, got;
	int rc = 0;

	if (!f)
		return -errno;
	do {
		if (n == cap) {
			if (cap >= FILE_MAX) {
				rc = -EFBIG;
				goto out;
			}
			cap = cap ? 2 * cap : 4096;
			nb = realloc(buf, cap);
			if (!nb) {
				rc = -ENOMEM;
				goto out;
			}
			buf = nb;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (got > 0);
	if (ferror(f))
		rc = errno ? -errno : -EIO;
out:
	fclose(f);
	if (rc)
		free(buf);
	*out = rc ? NULL : buf;
	*len = n;
	return rc;
}

int config_load_file(const char *path, struct config **out, FILE *err)
{
	char *text = NULL;
	size_t n = 0;
	int rc;

	if (out)
		*out = NULL;
	rc = file_read(path, &text, &n);
	if (rc) {
		if (err)
			fprintf(err, "%s: %s\n", path, rc == -EFBIG ? "too large for a configuration"
							      : strerror(-rc));
		return rc;
	}
	rc = config_load_text(str_make(text, n), path, out, err);
	free(text);
	return rc;
}

int config_load_string(const char *text, const char *name, struct config **out, FILE *err)
{
	if (out)
		*out = NULL;
	return config_load_text(str_make(text, strlen(text)), name, out, err);
}

static void trunk_free(struct config_trunk *t)
{
	free(t->name);
	free(t->domain);
	free(t->uri.text);
	free(t->numbers.v);
}

void config_free(struct config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_trunks; i++)
		trunk_free(&c->trunks[i]);
	free(c->trunks);
	free(c->engine.trusted.v);
	free(c->engine.event_log);
	free(c->pstn.gateway.text);
	if (c->index) {
		free(c->index->numbers.v);
		free(c->index->domains.v);
		free(c->index);
	}
	free(c);
}

/* ---- lookups ---- */

const struct config_trunk *config_trunk_by_number(const struct config *c, struct str e164)
{
	const struct num_slot *s;

	if (!e164_valid(e164))
		return NULL;
	s = num_tab_find(&c->index->numbers, number_key(e164));
	return s ? &c->trunks[s->trunk] : NULL;
}

const struct config_trunk *config_trunk_by_domain(const struct config *c, struct str host)
{
	size_t i = name_tab_find(&c->index->domains, c->trunks, host);

	return i == SIZE_MAX ? NULL : &c->trunks[i];
}

/* sa as 16 bytes of IPv6, IPv4 as IPv4-mapped. */
static bool sa_to_v6(const struct sockaddr *sa, uint8_t out[16])
{
	struct sockaddr_in s4;
	struct sockaddr_in6 s6;

	if (!sa)
		return false;
	if (sa->sa_family == AF_INET) {
		memcpy(&s4, sa, sizeof(s4));
		v4_mapped((const uint8_t *)&s4.sin_addr, out);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(&s6, sa, sizeof(s6));
		memcpy(out, &s6.sin6_addr, 16);
		return true;
	}
	return false;
}

bool config_trusted(const struct config *c, const struct sockaddr *sa)
{
	const struct config_cidr_list *l = &c->engine.trusted;
	uint8_t a[16];

	if (!sa_to_v6(sa, a))
		return false;
	for (size_t i = 0; i < l->n; i++) {
		if (prefix_eq(a, l->v[i].addr, l->v[i].prefix))
			return true;
	}
	return false;
}

bool config_geo_allowed(const struct config *c, const struct config_trunk *t,
			unsigned country_code)
{
	const struct config_geo *g = t && t->has_geo_allow ? &t->geo_allow : &c->pstn.geo_allow;

	return geo_has(g, country_code);
}
