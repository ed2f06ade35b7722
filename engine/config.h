/* config.h: xferd's configuration, from an INI file or the embedded default:
 * checked in full at load, immutable afterwards, with trunk lookups and trust/geo rules. */
#ifndef XFERD_CONFIG_H
#define XFERD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "str.h"
#include "uri.h"

enum config_log_level {
	CONFIG_LOG_ERROR,
	CONFIG_LOG_WARN,
	CONFIG_LOG_INFO,
	CONFIG_LOG_DEBUG,
};

/* An IP literal and port ("127.0.0.1:5060", "[::1]:5060"): the socket form
 * for bind() and sendto(), and the text as written, host included, for
 * messages: host keeps the brackets of IPv6, which is how Via and Contact
 * want it. Host names are not accepted: nothing here resolves. */
struct config_addr {
	struct sockaddr_storage sa;
	socklen_t sa_len;
	uint16_t port;
	char host[48]; /* "[" + 45 (longest IPv6 text) + "]" + NUL */
	char text[56]; /* host + ":65535" + NUL */
};

/* A CIDR block, always in IPv6 form: an IPv4 block is kept as its
 * IPv4-mapped block (::ffff:a.b.c.d, prefix + 96), so one comparison serves
 * both families and the mapped peers of a dual-stack socket. */
struct config_cidr {
	uint8_t addr[16];
	uint8_t prefix; /* 0..128 */
};

struct config_cidr_list {
	struct config_cidr *v;
	size_t n;
};

/* A set of country calling codes (1..999), one bit each. */
struct config_geo {
	uint64_t bits[16];
};

/* A SIP or SIPS URI without embedded headers; uri's slices point into text. */
struct config_uri {
	char *text;
	struct sip_uri uri;
};

struct config_number {
	char text[17]; /* '+' and up to 15 digits, NUL-terminated */
};

struct config_number_list {
	struct config_number *v;
	size_t n;
};

/* [engine]: how this process listens, sizes itself and times out. */
struct config_engine {
	struct config_addr listen;    /* UDP and TCP */
	struct config_addr advertise; /* written into Via and Contact; default: listen */
	bool has_metrics;
	struct config_addr metrics;   /* Prometheus /metrics, when has_metrics */
	uint32_t workers;             /* 1..64, default: CPUs this process may run on */
	uint32_t max_calls;
	uint32_t transfer_timeout;    /* s, for the transfer target to answer */
	struct config_cidr_list trusted; /* who may open calls */
	uint32_t drain_timeout;       /* s, after SIGTERM */
	uint32_t t1_ms, t2_ms, t4_ms; /* RFC 3261 §17 timer values; t2_ms >= t1_ms */
	uint32_t max_transactions;    /* default: 4 * max_calls, at least 4096 */
	uint32_t max_tcp_connections;
	uint32_t max_message_size;    /* bytes */
	uint32_t tcp_idle_timeout;    /* s */
	enum config_log_level log_level;
	char *event_log;              /* NULL: none; "-": stdout; else a path */
	/* % of a CPU a worker taking new calls may use before they go to one
	 * worker more (spread.h); 0: always to all of them. */
	uint32_t spread_above;
};

/* [pstn]: where targets that are not platform numbers go. */
struct config_pstn {
	struct config_uri gateway;
	struct config_geo geo_allow; /* empty when absent: no country allowed */
};

/* [trunk NAME]: one customer endpoint and the numbers that reach it. */
struct config_trunk {
	char *name;
	unsigned line; /* of its [trunk NAME] header */
	char *domain;  /* Refer-To hosts must equal it (case-insensitive) */
	struct config_uri uri; /* primary URI: where its calls and transfers go */
	struct config_number_list numbers;
	bool has_geo_allow;    /* geo_allow overrides [pstn]'s */
	struct config_geo geo_allow;
};

struct config_index;

/* Visible rather than opaque (STYLE rule 10): workers read these fields on
 * every call, and nothing writes them after load. A reload builds a new
 * config; the engine swaps a pointer and frees the old one when no call
 * refers to it any more. */
struct config {
	struct config_engine engine;
	struct config_pstn pstn;
	struct config_trunk *trunks; /* in file order */
	size_t n_trunks;
	struct config_index *index;  /* private: lookup tables of config.c */
};

/* The embedded default: loopback addresses, one demo trunk. */
extern const char config_default_text[];

/* Load and check the INI file at path. Every problem found is written to
 * err (if not NULL) as "FILE:LINE: reason", one per line, all of them, not
 * only the first. Returns 0 and sets *out (if out is not NULL; otherwise the
 * file is only checked), -EINVAL if the file has errors, -ENOMEM, or the
 * -errno of opening or reading it. *out is NULL on failure.
 *
 * Syntax: [section] headers, "key = value" lines, comments from ';' or '#'
 * at the start of a line or after white space (so "a;b" is a value), CRLF
 * or LF line ends, an optional UTF-8 BOM. Lines are at most 198 characters;
 * a list (trusted, geo_allow, numbers) continues on indented lines. Unknown
 * sections and keys, keys given twice and missing required keys are errors
 * (the latter at the line of the section header; a missing section at line 1). */
int config_load_file(const char *path, struct config **out, FILE *err);

/* The same for text in memory (NUL-terminated), called name in messages. */
int config_load_string(const char *text, const char *name, struct config **out,
		       FILE *err);

/* Free c and all it holds. NULL is allowed. */
void config_free(struct config *c);

/* The trunk that owns E.164 number e164 ("+14155550100"), or NULL. A hash
 * lookup, O(1) on average. */
const struct config_trunk *config_trunk_by_number(const struct config *c, struct str e164);

/* The trunk whose domain is host, compared case-insensitively, or NULL. */
const struct config_trunk *config_trunk_by_domain(const struct config *c, struct str host);

/* True if the source address sa (AF_INET or AF_INET6; an IPv4-mapped IPv6
 * address counts as its IPv4 address) is in a trusted block. */
bool config_trusted(const struct config *c, const struct sockaddr *sa);

/* True if a transfer of trunk t (NULL: no trunk) may go to country code
 * country_code: t's geo_allow if it has one, [pstn]'s otherwise. Numbers of
 * the platform's own trunks are always allowed; that is the caller's check,
 * made before this one. */
bool config_geo_allowed(const struct config *c, const struct config_trunk *t,
			unsigned country_code);

#endif
