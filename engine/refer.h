/* refer.h: the checks a REFER must pass before xferd accepts a transfer, in
 * the order SPEC.md's table gives them, and what the accepted REFER asks for. */
#ifndef XFERD_REFER_H
#define XFERD_REFER_H

#include "config.h"
#include "hdr.h"

#define REFER_MAX_HEADERS 8

/* Where an accepted transfer goes, and what travels with it. Slices point
 * into the REFER message; copy before it goes away. */
struct refer_target {
	struct str number;                  /* E.164, "+14155551234" */
	unsigned country_code;
	const struct config_trunk *trunk;   /* the platform trunk that owns number, or NULL */
	const struct config_uri *next_hop;  /* trunk->uri, or [pstn] gateway */
	struct str referred_by;             /* the Referred-By value (RFC 3892), or "" */
	bool no_subscription;               /* Refer-Sub: false (RFC 4488) */
	/* Refer-To embedded headers allowed onto the INVITE (User-to-User,
	 * X-...), in URI order, at most REFER_MAX_HEADERS (later ones are
	 * dropped). Name and value as written, still %-escaped: the name
	 * unescapes to a token, the value to bytes without CR, LF, NUL or any
	 * other control character but HT; a header failing that is dropped. */
	unsigned nheaders;
	struct str header_names[REFER_MAX_HEADERS];
	struct str header_values[REFER_MAX_HEADERS];
};

/* Check REFER m (its core headers already read by sip_core_read) of a call
 * that arrived on trunk `arrived`, against cfg. Returns the response code:
 * 202, or 400 / 403 per the table (481 and 491 depend on dialog and call
 * state and are the caller's to decide: 481 before, 491 after this check).
 * A malformed or repeated Refer-Sub is a 400 of the Refer-To step. A
 * Refer-To URI of a scheme other than sip/sips (tel:, http:) is the 403 of
 * the scheme rule; an escaped user part ("%2B1...") is not E.164 (400).
 * *why (may be NULL) gets a static string naming the rule that decided,
 * for logs and tests: "no Refer-To", "several Refer-To", "Refer-To does
 * not parse", "bad Refer-Sub", "scheme not sip/sips", "domain is not the
 * trunk's", "private address", "maddr is private", "not E.164", "country
 * not allowed", "accepted". *t is cleared, and filled on 202. */
unsigned refer_check(const struct config *cfg, const struct config_trunk *arrived,
		     const struct sip_msg *m, struct refer_target *t, const char **why);

#endif
