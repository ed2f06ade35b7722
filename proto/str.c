/* str.c: the slice helpers that are not inline, and the external copies of
 * those that are. Case folding is ASCII only, as SIP tokens are (RFC 3261
 * §7.3.1). */
#include "str.h"

/* str.h defines these inline (C99 semantics) for the parsers' hot paths;
 * these declarations make this file emit the one external definition each,
 * for callers that take an address or are built without optimisation. */
extern inline bool str_caseeq(struct str a, struct str b);
extern inline struct str str_trim(struct str s);
extern inline int str_to_u32(struct str s, uint32_t max, uint32_t *out);

bool str_casestarts(struct str s, struct str prefix)
{
	return s.n >= prefix.n && str_caseeq(str_make(s.p, prefix.n), prefix);
}
