/* param.c: walking ";name=value" parameter lists in place, without copying.
 * RFC 3261 §25.1 (generic-param, gen-value, quoted-string, quoted-pair, LWS). */
#include <errno.h>

#include "param.h"
#include "scan.h"

static bool is_lws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Names and unquoted values are taken loosely (token, host and URI
 * paramchar all fit) so one walker serves URIs and header values; only
 * the bytes that delimit a list, or start a quote, end them: visible ASCII
 * but ";=\",<>". A table, as values such as branches are long. */
static const bool word_chars[256] = {
	[0x21] = true, [0x23 ... 0x2b] = true, [0x2d ... 0x3a] = true,
	[0x3f ... 0x7e] = true,
};

static bool is_word(char c)
{
	return word_chars[(uint8_t)c];
}

static const char *skip_lws(const char *p, const char *end)
{
	while (p < end && is_lws(*p))
		p++;
	return p;
}

static const char *skip_word(const char *p, const char *end)
{
#ifdef __SSE2__
	for (; end - p >= 16; p += 16) {
		unsigned stop = scan_word_stops16(scan_load(p));

		if (stop)
			return p + __builtin_ctz(stop);
	}
#endif
	while (p < end && is_word(*p))
		p++;
	return p;
}

/* A bare CR or LF inside quotes would let a value end a header line when
 * it is copied out, so only a folded line (CRLF then SP or HT) passes. */
static const char *skip_fold(const char *p, const char *end)
{
	if (*p == '\r' && end - p >= 3 && p[1] == '\n' &&
	    (p[2] == ' ' || p[2] == '\t'))
		return p + 3;
	return NULL;
}

/* p is at the opening quote; returns the byte after the closing quote, or
 * NULL if the string is unterminated or holds a byte qdtext forbids. */
static const char *skip_quoted(const char *p, const char *end)
{
	for (p++; p < end;) {
		unsigned char c = (unsigned char)*p;

		if (c == '"')
			return p + 1;
		if (c == '\\') {
			/* quoted-pair excludes CR, LF and non-ASCII */
			if (end - p < 2 || p[1] == '\r' || p[1] == '\n' ||
			    (unsigned char)p[1] > 0x7f)
				return NULL;
			p += 2;
		} else if (c == '\r' || c == '\n') {
			p = skip_fold(p, end);
			if (p == NULL)
				return NULL;
		} else if ((c < 0x20 && c != '\t') || c == 0x7f) {
			return NULL;
		} else {
			p++;
		}
	}
	return NULL;
}

/* Value after '=' at p: a quoted-string or a word, never empty. */
static const char *skip_value(const char *p, const char *end)
{
	const char *q;

	if (p < end && *p == '"')
		return skip_quoted(p, end);
	q = skip_word(p, end);
	return q == p ? NULL : q;
}

int sip_param_next(struct str *cursor, struct str *name, struct str *value)
{
	const char *p, *end, *n, *v, *q;

	if (cursor->n == 0)
		return 0;
	p = cursor->p;
	end = p + cursor->n;
	p = skip_lws(p, end);
	if (p == end) {
		*cursor = str_make(end, 0);
		return 0;
	}
	if (*p == ';')
		p = skip_lws(p + 1, end);
	n = p;
	p = skip_word(p, end);
	if (p == n)
		return -EINVAL;
	*name = str_span(n, p);
	*value = str_make(p, 0);
	p = skip_lws(p, end);
	if (p < end && *p == '=') {
		v = skip_lws(p + 1, end);
		q = skip_value(v, end);
		if (q == NULL)
			return -EINVAL;
		*value = str_span(v, q);
		p = skip_lws(q, end);
	}
	/* Leave the ';' for the next call so a trailing one is reported. */
	if (p < end && *p != ';')
		return -EINVAL;
	*cursor = str_span(p, end);
	return 1;
}

bool sip_param_get(struct str params, struct str name, struct str *value)
{
	struct str n, v;

	while (sip_param_next(&params, &n, &v) == 1) {
		if (str_caseeq(n, name)) {
			if (value)
				*value = v;
			return true;
		}
	}
	return false;
}
