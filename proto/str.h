/* str.h: the string slice every parser and builder of xferd passes around.
 * A slice points into a buffer someone else owns; it is never NUL-terminated. */
#ifndef XFERD_STR_H
#define XFERD_STR_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct str {
	const char *p;
	size_t n;
};

/* A slice of a string literal, without its NUL. */
#define STR(lit) ((struct str){ (lit), sizeof(lit) - 1 })
#define STR_NULL ((struct str){ NULL, 0 })
/* For printf: printf("%.*s", STR_FMT(s)). */
#define STR_FMT(s) (int)(s).n, (s).p

static inline struct str str_make(const char *p, size_t n)
{
	return (struct str){ p, n };
}

/* The slice from a to b (b excluded). */
static inline struct str str_span(const char *a, const char *b)
{
	return (struct str){ a, (size_t)(b - a) };
}

static inline bool str_empty(struct str s)
{
	return s.n == 0;
}

static inline const char *str_end(struct str s)
{
	return s.p + s.n;
}

/* s as a C string in out[cap] (cap > 0), cut to fit; returns out. */
static inline char *str_copy_cstr(char *out, size_t cap, struct str s)
{
	size_t n = s.n < cap - 1 ? s.n : cap - 1;

	if (n)
		memcpy(out, s.p, n);
	out[n] = 0;
	return out;
}

static inline bool str_eq(struct str a, struct str b)
{
	return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

static inline char str_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c | 0x20) : c;
}

/* ASCII case-insensitive equality: SIP tokens, header names, host names.
 * An inline definition (C99 semantics: str.c emits the external one) so
 * that comparisons against a literal compile down to a few instructions;
 * the parsers make one per parameter. Two bytes that differ are equal only
 * as the two cases of one letter. It names nothing static, as C99 asks of
 * an inline function with external linkage. */
inline bool str_caseeq(struct str a, struct str b)
{
	if (a.n != b.n)
		return false;
	for (size_t i = 0; i < a.n; i++) {
		unsigned x = (unsigned char)a.p[i], y = (unsigned char)b.p[i];

		if (x != y && ((x | 0x20) != (y | 0x20) || (x | 0x20) - 'a' > 'z' - 'a'))
			return false;
	}
	return true;
}

/* True if s starts with prefix, compared case-insensitively. */
bool str_casestarts(struct str s, struct str prefix);

/* Drop linear white space (SP, HT, CR, LF: folded lines included) at both
 * ends. Inline (str.c emits the external definition): the readers call it
 * on every value, and the call cost more than the usual nothing to trim. */
inline struct str str_trim(struct str s)
{
	while (s.n && (s.p[0] == ' ' || s.p[0] == '\t' || s.p[0] == '\r' || s.p[0] == '\n')) {
		s.p++;
		s.n--;
	}
	while (s.n && (s.p[s.n - 1] == ' ' || s.p[s.n - 1] == '\t' || s.p[s.n - 1] == '\r' ||
		       s.p[s.n - 1] == '\n'))
		s.n--;
	return s;
}

/* Decimal digits only, no sign, no white space; fails with -ERANGE above max
 * and -EINVAL on anything else (empty included). Inline, as str_trim(). */
inline int str_to_u32(struct str s, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;

	if (s.n == 0)
		return -EINVAL;
	for (size_t i = 0; i < s.n; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(s.p[i] - '0');
		if (v > max)
			return -ERANGE;
	}
	*out = (uint32_t)v;
	return 0;
}

/* First occurrence of c in s, or NULL. */
static inline const char *str_chr(struct str s, char c)
{
	return s.n ? memchr(s.p, c, s.n) : NULL;
}

#endif
