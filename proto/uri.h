/* uri.h: SIP, SIPS and tel URIs as slices of the text they were parsed from.
 * RFC 3261 §19.1 (syntax, §19.1.4 comparison), RFC 3966 (tel), RFC 5952. */
#ifndef XFERD_URI_H
#define XFERD_URI_H

#include "str.h"

enum sip_scheme {
	SIP_SCHEME_SIP,
	SIP_SCHEME_SIPS,
	SIP_SCHEME_TEL,
};

enum sip_host_type {
	SIP_HOST_NONE, /* tel: URIs */
	SIP_HOST_NAME,
	SIP_HOST_IPV4,
	SIP_HOST_IPV6, /* host holds the address without its brackets */
};

struct sip_uri {
	enum sip_scheme scheme;
	struct str user;     /* still %-escaped; tel: the number */
	struct str password; /* still %-escaped; p is NULL when absent, set
			      * with n 0 when empty ("sip:a:@h") */
	struct str host;
	enum sip_host_type host_type;
	uint16_t port; /* 0 when absent */
	bool has_port;
	struct str params;  /* after the first ';', up to '?': "a=b;lr" */
	struct str headers; /* after '?': "A=b&C=d", still %-escaped */
};

/* Bounds on what one URI may carry, so that parsing and comparison stay
 * cheap on hostile input; real URIs use a handful. */
#define SIP_URI_MAX_PARAMS 64
#define SIP_URI_MAX_HEADERS 64

/* Parse s (no angle brackets, no surrounding white space) into u.
 * Returns 0, or -EINVAL with *err_at (if not NULL) pointing at the first byte
 * that does not fit. An unknown scheme is -EPROTONOSUPPORT.
 * Also rejected, with -EINVAL: a parameter name given twice (compared as
 * sip_uri_equal would, so "m%61ddr" repeats "maddr"), a maddr that is not a
 * host, a ttl above 255, more than SIP_URI_MAX_PARAMS parameters or
 * SIP_URI_MAX_HEADERS headers, and IPv4 octets with leading zeros (resolvers
 * read "010" as octal). *err_at is the '%' of a bad escape, and s + s.n when
 * the input ends too early. On -EPROTONOSUPPORT it is the scheme's start. */
int sip_uri_parse(struct str s, struct sip_uri *u, const char **err_at);

/* The value of URI parameter name (case-insensitive), "" for a flag, still
 * %-escaped. Names match after unescaping. Returns true if present. */
bool sip_uri_param(const struct sip_uri *u, struct str name, struct str *value);

/* Iterate the embedded headers of a URI (?A=b&C=d): each call yields one
 * name and value, still %-escaped, and advances *cursor (start with
 * u->headers). Returns 1 while there is one, 0 at the end, -EINVAL if the
 * next one is malformed (no '=' or empty name). */
int sip_uri_header_next(struct str *cursor, struct str *name, struct str *value);

/* Undo %-escapes of in into out (cap bytes). Returns the length written, or
 * -EINVAL for a bad escape, -ENOSPC if out is too small. Output may hold any
 * byte, CR, LF and NUL included: callers that put it on the wire must check. */
int sip_unescape(struct str in, char *out, size_t cap);

/* RFC 3261 §19.1.4 equality: scheme, user and password after unescaping and
 * case-sensitive, host case-insensitive, port present in both or neither,
 * user/ttl/method/maddr/transport params equal if present in either, other
 * params equal if present in both, headers all equal. As §19.1.4 says, an
 * escaped reserved character ("%3B") stays distinct from the character;
 * IP literals compare by address (RFC 5954 §4); header values compare
 * unescaped and exactly, same-name headers in order. tel: URIs compare by
 * RFC 3966 §4. */
bool sip_uri_equal(const struct sip_uri *a, const struct sip_uri *b);

#endif
