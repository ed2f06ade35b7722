/* str.c: the few slice helpers that are too long to inline.
 * Case folding is ASCII only, as SIP tokens are (RFC 3261 §7.3.1). */
#include <errno.h>

#include "str.h"

bool str_caseeq(struct str a, struct str b)
{
	if (a.n != b.n)
		return false;
	for (size_t i = 0; i < a.n; i++) {
		if (str_lower(a.p[i]) != str_lower(b.p[i]))
			return false;
	}
	return true;
}

bool str_casestarts(struct str s, struct str prefix)
{
	return s.n >= prefix.n && str_caseeq(str_make(s.p, prefix.n), prefix);
}

static bool is_lws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

struct str str_trim(struct str s)
{
	while (s.n && is_lws(s.p[0])) {
		s.p++;
		s.n--;
	}
	while (s.n && is_lws(s.p[s.n - 1]))
		s.n--;
	return s;
}

int str_to_u32(struct str s, uint32_t max, uint32_t *out)
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
