/* msg.h: the zero-copy SIP message parser: start line, indexed headers, body.
 * RFC 3261 §7 (messages), §7.3.1 (folding), §7.3.3 (compact forms), §18.3. */
#ifndef XFERD_MSG_H
#define XFERD_MSG_H

#include "str.h"

/* Well-known headers get an id during the one scan (long and compact names);
 * everything else is SIP_HDR_OTHER and stays a raw name/value pair. */
enum sip_hdr_id {
	SIP_HDR_OTHER = 0,
	SIP_HDR_ACCEPT,
	SIP_HDR_ACCEPT_CONTACT,
	SIP_HDR_ACCEPT_ENCODING,
	SIP_HDR_ACCEPT_LANGUAGE,
	SIP_HDR_ALERT_INFO,
	SIP_HDR_ALLOW,
	SIP_HDR_ALLOW_EVENTS,
	SIP_HDR_AUTHORIZATION,
	SIP_HDR_CALL_ID,
	SIP_HDR_CALL_INFO,
	SIP_HDR_CONTACT,
	SIP_HDR_CONTENT_DISPOSITION,
	SIP_HDR_CONTENT_ENCODING,
	SIP_HDR_CONTENT_LENGTH,
	SIP_HDR_CONTENT_TYPE,
	SIP_HDR_CSEQ,
	SIP_HDR_DATE,
	SIP_HDR_EVENT,
	SIP_HDR_EXPIRES,
	SIP_HDR_FROM,
	SIP_HDR_IDENTITY,
	SIP_HDR_MAX_FORWARDS,
	SIP_HDR_MIN_EXPIRES,
	SIP_HDR_MIN_SE,
	SIP_HDR_P_ASSERTED_IDENTITY,
	SIP_HDR_P_PREFERRED_IDENTITY,
	SIP_HDR_PRIVACY,
	SIP_HDR_PROXY_AUTHENTICATE,
	SIP_HDR_PROXY_AUTHORIZATION,
	SIP_HDR_PROXY_REQUIRE,
	SIP_HDR_RACK,
	SIP_HDR_REASON,
	SIP_HDR_RECORD_ROUTE,
	SIP_HDR_REFER_SUB,
	SIP_HDR_REFER_TO,
	SIP_HDR_REFERRED_BY,
	SIP_HDR_REJECT_CONTACT,
	SIP_HDR_REPLACES,
	SIP_HDR_REQUEST_DISPOSITION,
	SIP_HDR_REQUIRE,
	SIP_HDR_RETRY_AFTER,
	SIP_HDR_ROUTE,
	SIP_HDR_RSEQ,
	SIP_HDR_SERVER,
	SIP_HDR_SESSION_EXPIRES,
	SIP_HDR_SUBJECT,
	SIP_HDR_SUBSCRIPTION_STATE,
	SIP_HDR_SUPPORTED,
	SIP_HDR_TIMESTAMP,
	SIP_HDR_TO,
	SIP_HDR_UNSUPPORTED,
	SIP_HDR_USER_AGENT,
	SIP_HDR_USER_TO_USER,
	SIP_HDR_VIA,
	SIP_HDR_WARNING,
	SIP_HDR_WWW_AUTHENTICATE,
	SIP_HDR__COUNT
};

enum sip_method {
	SIP_METHOD_OTHER = 0,
	SIP_METHOD_INVITE,
	SIP_METHOD_ACK,
	SIP_METHOD_BYE,
	SIP_METHOD_CANCEL,
	SIP_METHOD_OPTIONS,
	SIP_METHOD_REGISTER,
	SIP_METHOD_REFER,
	SIP_METHOD_NOTIFY,
	SIP_METHOD_SUBSCRIBE,
	SIP_METHOD_INFO,
	SIP_METHOD_UPDATE,
	SIP_METHOD_PRACK,
	SIP_METHOD_MESSAGE,
	SIP_METHOD_PUBLISH,
};

#ifndef SIP_MSG_MAX_HDRS
#define SIP_MSG_MAX_HDRS 128
#endif
#define SIP_HDR_NONE UINT16_MAX

/* One header line (folded continuation lines included). value has its outer
 * white space trimmed and may still contain folding (CRLF + SP/HT): readers
 * treat that as white space, and the builder unfolds it. */
struct sip_hdr {
	struct str name;
	struct str value;
	uint16_t id;   /* enum sip_hdr_id */
	uint16_t next; /* index of the next header with this id, or SIP_HDR_NONE */
};

/* A parsed message. It points into the buffer it was parsed from and lives
 * no longer than that buffer. Caller-owned: the parser allocates nothing. */
struct sip_msg {
	const char *buf;
	size_t len; /* bytes of the message: start line, headers, body */

	bool is_request;
	enum sip_method method_id; /* requests */
	struct str method;
	struct str ruri;
	uint16_t status; /* responses */
	struct str reason;

	struct str body;
	uint32_t content_length;
	bool has_content_length;

	/* Why and where the parse failed, and the response it deserves (400,
	 * 505...; 0 when none can be built): set on every negative return. */
	const char *err;
	size_t err_at;
	uint16_t err_status;
	struct str version; /* "SIP/2.0" */

	uint16_t nhdrs;
	uint16_t first[SIP_HDR__COUNT]; /* index of the first header of each id */
	uint16_t last[SIP_HDR__COUNT];
	struct sip_hdr hdrs[SIP_MSG_MAX_HDRS];
};

/* Parse the one message that buf holds: a datagram, or a frame that
 * sip_frame_next() cut from a stream (RFC 3261 §18.3). The body is
 * Content-Length bytes, or the rest of buf when that header is absent;
 * bytes after the body are ignored. Leading CRLFs are skipped (§7.5).
 * Returns 0, or -EBADMSG with m->err, m->err_at and m->err_status set.
 * Checks the start line, the header syntax and Content-Length only;
 * sip_core_read() (hdr.h) checks the headers every message needs. */
int sip_msg_parse(struct sip_msg *m, const char *buf, size_t len);

/* The head of a message of which buf may hold only the start, as an ICMP
 * error quotes the datagram it reports (about 500 bytes for IPv4): the
 * start line and the complete header lines, no body (m->body stays empty,
 * Content-Length unread). Returns 0, or -EBADMSG as sip_msg_parse(). */
int sip_msg_parse_head(struct sip_msg *m, const char *buf, size_t len);

/* First header of id, or NULL. O(1). */
const struct sip_hdr *sip_msg_hdr_first(const struct sip_msg *m, enum sip_hdr_id id);

/* Next header of the same id after h, or NULL. */
const struct sip_hdr *sip_msg_hdr_next(const struct sip_msg *m,
				       const struct sip_hdr *h);

/* First header called name (case-insensitive, any header, unknown ones
 * included; compact forms are not expanded here). O(number of headers). */
const struct sip_hdr *sip_msg_hdr_find(const struct sip_msg *m, struct str name);

/* Number of headers of id. */
unsigned sip_msg_hdr_total(const struct sip_msg *m, enum sip_hdr_id id);

/* Iterate the comma-separated values of all headers of id, in order, as if
 * they had been one list (RFC 3261 §7.3.1): commas inside quoted strings,
 * <...> and comments do not split. Start with *h = NULL and *cursor =
 * STR_NULL (a NULL pointer: "" would read as already finished).
 * Returns 1 with *value set, 0 at the end, -EBADMSG on an unterminated
 * quote or bracket. */
int sip_msg_list_next(const struct sip_msg *m, enum sip_hdr_id id,
		      const struct sip_hdr **h, struct str *cursor,
		      struct str *value);

/* Split the next element off a comma-separated header value: *cursor
 * advances past it. Returns 1, 0 at the end, -EBADMSG as above. */
int sip_list_next(struct str *cursor, struct str *value);

/* The id of a header name, long or compact form, any case. */
enum sip_hdr_id sip_hdr_lookup(struct str name);

/* Canonical long name of id ("Call-ID"); "" for SIP_HDR_OTHER. */
struct str sip_hdr_name(enum sip_hdr_id id);

/* The id of a method name (case-sensitive, RFC 3261 §7.1). */
enum sip_method sip_method_lookup(struct str name);

/* Canonical name of a method; "" for SIP_METHOD_OTHER. */
struct str sip_method_name(enum sip_method id);

/* Byte offset of a slice within the message, for error reports. */
static inline size_t sip_msg_offset(const struct sip_msg *m, const char *p)
{
	return (size_t)(p - m->buf);
}

#endif
