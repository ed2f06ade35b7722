/* hdr.h: typed readers for the header values a B2BUA acts on; each reads one
 * slice, copies nothing. RFC 3261 §20, RFC 3515/4488/3892 (REFER), RFC 6665. */
#ifndef XFERD_HDR_H
#define XFERD_HDR_H

#include "msg.h"
#include "uri.h"

/* Every reader returns 0, or -EBADMSG with *err_at (if not NULL) pointing at
 * the offending byte. A "params" slice starts at its first ';' (or is
 * empty) and goes to sip_param_next()/sip_param_get() as it is. */

/* Via: SIP/2.0/UDP host:port;params (one element of a Via list). */
struct sip_via {
	struct str proto;     /* "SIP/2.0" */
	struct str transport; /* "UDP", "TCP", "TLS", "WS"... as written */
	struct str host;      /* IPv6 without brackets */
	uint16_t port;        /* 0 when absent */
	bool host_ipv6;
	struct str params;    /* all of them, raw: ";branch=z9hG4bK1;rport" */
	struct str branch, received, maddr, ttl;
	bool rport;           /* rport present (RFC 3581) */
	uint16_t rport_value; /* 0 when present without a value */
};
int sip_via_read(struct str v, struct sip_via *via, const char **err_at);

/* name-addr or addr-spec with params: From, To, Contact, Route, Record-Route,
 * Refer-To, Referred-By, P-Asserted-Identity. */
struct sip_addr {
	struct str display;   /* unquoted slice, still with \-escapes; may be "" */
	struct str uri_text;  /* between < and >, or the addr-spec */
	struct sip_uri uri;   /* valid when has_uri: sip, sips or tel */
	bool has_uri;         /* false for other schemes, which are legal here */
	struct str params;    /* header params after the URI: ";tag=1;expires=60" */
	struct str tag;
	bool angle;           /* written as <uri> */
};
int sip_addr_read(struct str v, struct sip_addr *a, const char **err_at);

/* Contact value: "*" or an address with q/expires. */
struct sip_contact {
	bool star;
	struct sip_addr addr;
	bool has_expires;
	uint32_t expires;
};
int sip_contact_read(struct str v, struct sip_contact *c, const char **err_at);

struct sip_cseq {
	uint32_t num; /* RFC 3261 §8.1.1.5: less than 2**31 */
	struct str method;
	enum sip_method method_id;
};
int sip_cseq_read(struct str v, struct sip_cseq *c, const char **err_at);

/* Max-Forwards, Content-Length, Expires, RSeq, Min-Expires: 1*DIGIT. */
int sip_uint_read(struct str v, uint32_t max, uint32_t *out, const char **err_at);

/* Event: package[.template];id=..;params (RFC 6665 §8.2.1). */
struct sip_event {
	struct str package; /* "refer" */
	struct str id;      /* "" when absent */
	struct str params;
};
int sip_event_read(struct str v, struct sip_event *e, const char **err_at);

/* Subscription-State: state;expires=..;reason=..;retry-after=.. */
struct sip_substate {
	struct str state; /* "active", "pending", "terminated" */
	struct str reason;
	bool has_expires, has_retry_after;
	uint32_t expires, retry_after;
	struct str params;
};
int sip_substate_read(struct str v, struct sip_substate *s, const char **err_at);

/* Refer-Sub: true|false (RFC 4488), case-insensitive. */
int sip_refer_sub_read(struct str v, bool *value, const char **err_at);

/* Content-Type: type/subtype;params. */
struct sip_ctype {
	struct str type, subtype, params;
};
int sip_ctype_read(struct str v, struct sip_ctype *c, const char **err_at);

/* Retry-After: delta-seconds [comment] *(;params), duration param read. */
struct sip_retry_after {
	uint32_t seconds;
	struct str comment; /* without parentheses; "" when absent */
	bool has_duration;
	uint32_t duration;
	struct str params;
};
int sip_retry_after_read(struct str v, struct sip_retry_after *r, const char **err_at);

/* Require, Supported, Unsupported, Allow, Proxy-Require, Allow-Events: an
 * element of the list is one token; sip_token_read() checks it. */
int sip_token_read(struct str v, struct str *token, const char **err_at);

/* What every SIP message must carry (RFC 3261 §8.1.1), read once. */
struct sip_core {
	struct sip_uri ruri; /* requests */
	struct sip_via via; /* the top one */
	struct sip_addr from, to;
	struct str call_id;
	struct sip_cseq cseq;
	bool has_max_forwards;
	uint32_t max_forwards;
};

/* Read the Request-URI and the headers of struct sip_core from a parsed
 * message. Fails with -EBADMSG and m->err, m->err_at, m->err_status (400;
 * 416 for a Request-URI scheme other than sip, sips or tel; 0 for a
 * response, which must be dropped rather than answered) when one is
 * missing, repeated where it may not be, or malformed. A request's CSeq
 * method must match its method, and its Request-URI may not carry headers
 * (RFC 3261 §19.1.5 forbids them there). */
int sip_core_read(struct sip_msg *m, struct sip_core *c);

#endif
