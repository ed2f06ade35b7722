/* str.h: the string slice every parser and builder of xferd passes around.
 * A slice points into a buffer someone else owns; it is never NUL-terminated. */
#ifndef XFERD_STR_H
#define XFERD_STR_H

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

static inline bool str_eq(struct str a, struct str b)
{
	return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

static inline char str_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c | 0x20) : c;
}

/* ASCII case-insensitive equality: SIP tokens, header names, host names. */
bool str_caseeq(struct str a, struct str b);

/* True if s starts with prefix, compared case-insensitively. */
bool str_casestarts(struct str s, struct str prefix);

/* Drop linear white space (SP, HT, CR, LF: folded lines included) at both
 * ends. */
struct str str_trim(struct str s);

/* Decimal digits only, no sign, no white space; fails with -ERANGE above max
 * and -EINVAL on anything else (empty included). */
int str_to_u32(struct str s, uint32_t max, uint32_t *out);

/* First occurrence of c in s, or NULL. */
static inline const char *str_chr(struct str s, char c)
{
	return s.n ? memchr(s.p, c, s.n) : NULL;
}

#endif
