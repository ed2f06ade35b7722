/* param.h: ";name=value" parameter lists of URIs and header values.
 * RFC 3261 §25.1 (generic-param, quoted-string); tolerant of LWS around '='. */
#ifndef XFERD_PARAM_H
#define XFERD_PARAM_H

#include "str.h"

/* Yield the next parameter of a list such as "a=b;lr;c=\"x;y\"" (a leading
 * ';' is skipped) and advance *cursor. value is "" for a flag and keeps the
 * quotes of a quoted-string. Returns 1 for a parameter, 0 at the end,
 * -EINVAL on an empty name or an unterminated quote. */
int sip_param_next(struct str *cursor, struct str *name, struct str *value);

/* Find name (case-insensitive) in a parameter list. Returns true if found. */
bool sip_param_get(struct str params, struct str name, struct str *value);

#endif
