/* refer.c: the checks a REFER must pass before xferd accepts a transfer, in
 * SPEC.md's order, and what it carries. RFC 3515 (REFER), 4488, 3892, 3261 §19.1. */
#include <errno.h>

#include "e164.h"
#include "ip.h"
#include "refer.h"

/* Longest embedded header name we unescape to compare with the allowed
 * ones; a longer name is ignored (no real X- header comes near it). */
#define REFER_HNAME_MAX 128

static unsigned verdict(const char **why, unsigned code, const char *reason)
{
	*why = reason;
	return code;
}

/* ---- 400: exactly one Refer-To that parses, and a valid Refer-Sub ---- */

/* One Refer-To header holding one element: "r: <a>, <b>" is two targets
 * as much as two header lines are, and the spec wants exactly one.
 * sip_list_next() keeps commas inside <> and quotes, so a user part like
 * "sip:a,b@host" or a display name "Smith, J" stays one element. */
static unsigned refer_to_one(const struct sip_msg *m, struct str *value, const char **why)
{
	unsigned total = sip_msg_hdr_total(m, SIP_HDR_REFER_TO);
	struct str cursor, extra;
	int r;

	if (total == 0)
		return verdict(why, 400, "no Refer-To");
	if (total > 1)
		return verdict(why, 400, "several Refer-To");
	cursor = sip_msg_hdr_first(m, SIP_HDR_REFER_TO)->value;
	r = sip_list_next(&cursor, value);
	if (r <= 0)
		return verdict(why, 400, "Refer-To does not parse");
	r = sip_list_next(&cursor, &extra);
	if (r > 0)
		return verdict(why, 400, "several Refer-To");
	if (r < 0)
		return verdict(why, 400, "Refer-To does not parse");
	return 0;
}

/* A URI of another scheme (http:, mailto:) parses as an address with
 * has_uri false: that is the 403 of the scheme rule, not a 400, so it is
 * left for refer_scheme_domain() to refuse. */
static unsigned refer_to_read(const struct sip_msg *m, struct sip_addr *a, const char **why)
{
	struct str value;
	unsigned code = refer_to_one(m, &value, why);

	if (code)
		return code;
	if (sip_addr_read(value, a, NULL))
		return verdict(why, 400, "Refer-To does not parse");
	return 0;
}

/* Refer-Sub is not in the table; a malformed or repeated one is a
 * malformed request (RFC 4488 §4 allows one value), so it gets the 400 of
 * the parse step, checked right after Refer-To, before any 403. */
static unsigned refer_sub_read(const struct sip_msg *m, bool *no_sub, const char **why)
{
	const struct sip_hdr *h = sip_msg_hdr_first(m, SIP_HDR_REFER_SUB);
	bool sub = true;

	if (!h)
		return 0;
	if (sip_msg_hdr_next(m, h) || sip_refer_sub_read(h->value, &sub, NULL))
		return verdict(why, 400, "bad Refer-Sub");
	*no_sub = !sub;
	return 0;
}

/* ---- 403: sip/sips on the arrival trunk's domain, no private address ---- */

/* Equality, not a suffix match: "evil.acme..." and "acme....evil.com" are
 * other domains. A call with no trunk matches nothing and fails closed. */
static unsigned refer_scheme_domain(const struct sip_addr *a, const struct config_trunk *arrived,
				    const char **why)
{
	const struct sip_uri *u = &a->uri;

	if (!a->has_uri || (u->scheme != SIP_SCHEME_SIP && u->scheme != SIP_SCHEME_SIPS))
		return verdict(why, 403, "scheme not sip/sips");
	if (!arrived || !str_caseeq(u->host, str_make(arrived->domain, strlen(arrived->domain))))
		return verdict(why, 403, "domain is not the trunk's");
	return 0;
}

/* An IP literal that is not public. ip_classify() also calls anything
 * that is neither a strict literal nor a clean host name non-public, so a
 * resolver-bait spelling ("127.1", "0x7f.1") is refused too. */
static bool host_is_private(struct str host)
{
	enum ip_class c = ip_classify(host);

	return c != IP_NOT_LITERAL && !ip_is_public(c);
}

/* maddr overrides where a request is sent (RFC 3261 §19.1.1), so it is
 * checked like the host. The URI parser refuses a second maddr and finds an
 * escaped name ("m%61ddr"), so the one found here is the only one. */
static unsigned refer_private(const struct sip_uri *u, const char **why)
{
	struct str maddr;

	if (host_is_private(u->host))
		return verdict(why, 403, "private address");
	if (sip_uri_param(u, STR("maddr"), &maddr) && host_is_private(maddr))
		return verdict(why, 403, "maddr is private");
	return 0;
}

/* ---- 400: the user part is E.164 ---- */

/* The user part is validated as written, escapes included, so that
 * t->number can be a slice of the message. An escaped number
 * ("%2B14155551234") is therefore refused with 400 rather than unescaped
 * into a copy: the seed page asks for "sip:+14155551234@...", and a
 * '+' needs no escape in a SIP user part (RFC 3261 §25.1). */
static unsigned refer_number(const struct sip_uri *u, struct refer_target *t, const char **why)
{
	if (!e164_valid(u->user))
		return verdict(why, 400, "not E.164");
	t->number = u->user;
	t->country_code = e164_country_code(u->user);
	return 0;
}

/* ---- 403: geo permissions; where the transfer goes ---- */

/* A platform number goes to its trunk whatever the geo rules say; any
 * other number needs its country code allowed for the arrival trunk (an
 * unassigned code, 0, is never allowed) and goes to the PSTN gateway. */
static unsigned refer_route(const struct config *cfg, const struct config_trunk *arrived,
			    struct refer_target *t, const char **why)
{
	t->trunk = config_trunk_by_number(cfg, t->number);
	if (t->trunk) {
		t->next_hop = &t->trunk->uri;
		return 0;
	}
	if (!config_geo_allowed(cfg, arrived, t->country_code))
		return verdict(why, 403, "country not allowed");
	t->next_hop = &cfg->pstn.gateway;
	return 0;
}

/* ---- what an accepted REFER carries ---- */

/* The first Referred-By, raw: the INVITE builder unfolds it, and the parser
 * has already cut it at its line end, so it cannot inject a header. */
static void refer_referred_by(const struct sip_msg *m, struct refer_target *t)
{
	const struct sip_hdr *h = sip_msg_hdr_first(m, SIP_HDR_REFERRED_BY);

	t->referred_by = h ? str_trim(h->value) : STR("");
}

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = str_lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* True if the value, once unescaped, holds no control character but HT:
 * "%0D%0AVia: ..." would otherwise write a header of the peer's choosing
 * into our INVITE. Decoded in place, so any length is checked without a
 * buffer; a broken escape counts as unsafe. */
static bool hvalue_safe(struct str v)
{
	for (size_t i = 0; i < v.n; i++) {
		int c = (unsigned char)v.p[i], hi, lo;

		if (c == '%') {
			if (v.n - i < 3 || (hi = hex_val(v.p[i + 1])) < 0 ||
			    (lo = hex_val(v.p[i + 2])) < 0)
				return false;
			c = hi << 4 | lo;
			i += 2;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return false;
	}
	return true;
}

/* RFC 3261 §25.1 token characters: what a header name may hold. */
static bool is_token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("-.!%*_+`'~", c));
}

/* Names compare unescaped, so "User%2Dto-User" is User-to-User, and must
 * unescape to a token: an escaped ':' or CRLF in a name is an injection. */
static bool hname_allowed(struct str name)
{
	char buf[REFER_HNAME_MAX];
	int n = sip_unescape(name, buf, sizeof(buf));
	struct str u;

	if (n <= 0)
		return false;
	u = str_make(buf, (size_t)n);
	for (size_t i = 0; i < u.n; i++) {
		if (!is_token_char(u.p[i]))
			return false;
	}
	return str_caseeq(u, STR("User-to-User")) || (u.n > 2 && str_casestarts(u, STR("X-")));
}

/* Only User-to-User and X- headers travel to the INVITE (SPEC: "any other
 * embedded header is ignored"): Via, Route, Call-ID, CSeq, Contact,
 * Max-Forwards, From, To, body... belong to our own C leg. Unsafe ones and
 * those past REFER_MAX_HEADERS are dropped, not refused: the transfer
 * itself is still valid. The URI parser has checked the headers, so a
 * malformed one (r < 0) cannot occur; stopping there is only defensive. */
static void refer_headers(const struct sip_uri *u, struct refer_target *t)
{
	struct str cursor = u->headers, name, value;

	while (t->nheaders < REFER_MAX_HEADERS && sip_uri_header_next(&cursor, &name, &value) > 0) {
		if (!hname_allowed(name) || !hvalue_safe(value))
			continue;
		t->header_names[t->nheaders] = name;
		t->header_values[t->nheaders] = value;
		t->nheaders++;
	}
}

unsigned refer_check(const struct config *cfg, const struct config_trunk *arrived,
		     const struct sip_msg *m, struct refer_target *t, const char **why)
{
	const char *ignored;
	struct sip_addr a;
	unsigned code;

	if (!why)
		why = &ignored;
	memset(t, 0, sizeof(*t));
	code = refer_to_read(m, &a, why);
	if (!code)
		code = refer_sub_read(m, &t->no_subscription, why);
	if (!code)
		code = refer_scheme_domain(&a, arrived, why);
	if (!code)
		code = refer_private(&a.uri, why);
	if (!code)
		code = refer_number(&a.uri, t, why);
	if (!code)
		code = refer_route(cfg, arrived, t, why);
	if (code)
		return code;
	refer_referred_by(m, t);
	refer_headers(&a.uri, t);
	return verdict(why, 202, "accepted");
}
