/* ip.h: classification of IP literals found in SIP URIs (Refer-To host, maddr),
 * so that a transfer can never be pointed at a private or internal address. */
#ifndef XFERD_IP_H
#define XFERD_IP_H

#include "str.h"

enum ip_class {
	IP_NOT_LITERAL, /* a clean host name (see ip_classify) */
	IP_PUBLIC,
	IP_PRIVATE,      /* RFC 1918, IPv6 ULA fc00::/7 */
	IP_LOOPBACK,     /* 127/8, ::1 */
	IP_LINK_LOCAL,   /* 169.254/16, fe80::/10 */
	IP_CGNAT,        /* 100.64/10 (RFC 6598) */
	IP_UNSPECIFIED,  /* 0/8, :: */
	IP_MULTICAST,    /* 224/4, 255.255.255.255, ff00::/8 */
	IP_DOCUMENTATION,/* 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32 */
	IP_RESERVED,     /* 240/4, 192.0.0/24, 198.18/15, and other special-purpose blocks;
	                  * also anything that is neither a literal nor a clean name */
};

/* Classify s, an IPv4 dotted quad or an IPv6 address with or without
 * brackets, with an optional zone id ("fe80::1%eth0", or "%25eth0" as in a
 * URI, RFC 6874). IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible, NAT64
 * (64:ff9b::/96) and 6to4 (2002::/16) addresses are classified by the IPv4
 * address they carry; IPv6 outside 2000::/3 and the listed blocks is
 * IP_RESERVED.
 *
 * IPv4 is accepted only as four decimal octets without leading zeros. Only a
 * clean host name (RFC 3261 §25.1 hostname, whose last label starts with a
 * letter) is IP_NOT_LITERAL; anything else that is not a strict literal is
 * IP_RESERVED, never public. This is deliberate: resolvers built on
 * inet_aton() read "127.1", "0x7f.1", "0177.0.0.1", "01.2.3.4" (octal),
 * "2130706433" and even "127.0.0.1 junk" as addresses, so such strings must
 * fail closed rather than pass as names to be looked up later. */
enum ip_class ip_classify(struct str s);

/* True only for IP_PUBLIC. */
bool ip_is_public(enum ip_class c);

/* A short lowercase name for logs and tests ("private", "loopback"...). */
const char *ip_class_name(enum ip_class c);

#endif
