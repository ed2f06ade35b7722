/* test_ip.c: ip_classify over every special-purpose block edge, IPv6 spellings
 * and garbage, each input placed against PROT_NONE pages. RFC 6890, 4291, 3261 §25.1. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* inet_aton */
#endif

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>

#include "guard.h"
#include "ip.h"

struct ip_case {
	const char *in;
	size_t n; /* explicit, so that inputs may hold a NUL */
	enum ip_class want;
};

#define T(lit, cls) { (lit), sizeof(lit) - 1, (cls) }
#define N_CASES(a) (sizeof(a) / sizeof((a)[0]))

/* Printable form of an input for failure messages. */
static const char *show(const char *s, size_t n, char *buf, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 5 < cap; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f)
			buf[o++] = (char)c;
		else
			o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
	}
	buf[o] = '\0';
	return buf;
}

static void check(const struct ip_case *t, size_t count)
{
	char buf[128];

	for (size_t i = 0; i < count; i++) {
		enum ip_class e = ip_classify(guard_str(t[i].in, t[i].n));
		enum ip_class s = ip_classify(guard_str_start(t[i].in, t[i].n));

		cr_expect_eq(e, t[i].want, "ip_classify(\"%s\") = %s, want %s",
			     show(t[i].in, t[i].n, buf, sizeof(buf)),
			     ip_class_name(e), ip_class_name(t[i].want));
		cr_expect_eq(s, e, "\"%s\": placement changed the result",
			     show(t[i].in, t[i].n, buf, sizeof(buf)));
	}
}

/* Both sides of every IPv4 block edge. */
static const struct ip_case v4_edges[] = {
	T("0.0.0.0", IP_UNSPECIFIED),
	T("0.255.255.255", IP_UNSPECIFIED),
	T("1.0.0.0", IP_PUBLIC),
	T("9.255.255.255", IP_PUBLIC),
	T("10.0.0.0", IP_PRIVATE),
	T("10.255.255.255", IP_PRIVATE),
	T("11.0.0.0", IP_PUBLIC),
	T("100.63.255.255", IP_PUBLIC),
	T("100.64.0.0", IP_CGNAT),
	T("100.127.255.255", IP_CGNAT),
	T("100.128.0.0", IP_PUBLIC),
	T("126.255.255.255", IP_PUBLIC),
	T("127.0.0.0", IP_LOOPBACK),
	T("127.0.0.1", IP_LOOPBACK),
	T("127.255.255.255", IP_LOOPBACK),
	T("128.0.0.0", IP_PUBLIC),
	T("169.253.255.255", IP_PUBLIC),
	T("169.254.0.0", IP_LINK_LOCAL),
	T("169.254.169.254", IP_LINK_LOCAL),
	T("169.254.255.255", IP_LINK_LOCAL),
	T("169.255.0.0", IP_PUBLIC),
	T("172.15.255.255", IP_PUBLIC),
	T("172.16.0.0", IP_PRIVATE),
	T("172.31.255.255", IP_PRIVATE),
	T("172.32.0.0", IP_PUBLIC),
	T("191.255.255.255", IP_PUBLIC),
	T("192.0.0.0", IP_RESERVED),
	T("192.0.0.255", IP_RESERVED),
	T("192.0.1.0", IP_PUBLIC),
	T("192.0.1.255", IP_PUBLIC),
	T("192.0.2.0", IP_DOCUMENTATION),
	T("192.0.2.255", IP_DOCUMENTATION),
	T("192.0.3.0", IP_PUBLIC),
	T("192.88.98.255", IP_PUBLIC),
	T("192.88.99.0", IP_RESERVED),
	T("192.88.99.255", IP_RESERVED),
	T("192.88.100.0", IP_PUBLIC),
	T("192.167.255.255", IP_PUBLIC),
	T("192.168.0.0", IP_PRIVATE),
	T("192.168.255.255", IP_PRIVATE),
	T("192.169.0.0", IP_PUBLIC),
	T("198.17.255.255", IP_PUBLIC),
	T("198.18.0.0", IP_RESERVED),
	T("198.19.255.255", IP_RESERVED),
	T("198.20.0.0", IP_PUBLIC),
	T("198.51.99.255", IP_PUBLIC),
	T("198.51.100.0", IP_DOCUMENTATION),
	T("198.51.100.255", IP_DOCUMENTATION),
	T("198.51.101.0", IP_PUBLIC),
	T("203.0.112.255", IP_PUBLIC),
	T("203.0.113.0", IP_DOCUMENTATION),
	T("203.0.113.255", IP_DOCUMENTATION),
	T("203.0.114.0", IP_PUBLIC),
	T("223.255.255.255", IP_PUBLIC),
	T("224.0.0.0", IP_MULTICAST),
	T("239.255.255.255", IP_MULTICAST),
	T("240.0.0.0", IP_RESERVED),
	T("255.255.255.254", IP_RESERVED),
	T("255.255.255.255", IP_MULTICAST),
	T("8.8.8.8", IP_PUBLIC),
	T("1.1.1.1", IP_PUBLIC),
};

Test(ip, v4_block_edges)
{
	check(v4_edges, N_CASES(v4_edges));
}

/* Both sides of every IPv6 block edge that lies inside 2000::/3 or next to
 * it; outside 2000::/3 everything unlisted is reserved. */
static const struct ip_case v6_edges[] = {
	T("::", IP_UNSPECIFIED),
	T("::1", IP_LOOPBACK),
	T("::2", IP_UNSPECIFIED), /* IPv4-compatible 0.0.0.2, in 0/8 */
	T("::1:0:0", IP_RESERVED),
	T("::fffe:ffff:ffff", IP_RESERVED),
	T("::1:0:0:0", IP_RESERVED),
	T("64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff", IP_RESERVED),
	T("64:ff9b::1:0:0", IP_RESERVED), /* outside the /96 */
	T("64:ff9b:1::", IP_RESERVED),
	T("64:ff9b:1:ffff:ffff:ffff:ffff:ffff", IP_RESERVED),
	T("ff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", IP_RESERVED),
	T("100::", IP_RESERVED),
	T("100::ffff:ffff:ffff:ffff", IP_RESERVED),
	T("100:0:0:1::", IP_RESERVED),
	T("1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", IP_RESERVED),
	T("2000::", IP_PUBLIC),
	T("2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff", IP_PUBLIC),
	T("2001::", IP_RESERVED),
	T("2001::1", IP_RESERVED), /* Teredo lives here too */
	T("2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", IP_RESERVED),
	T("2001:200::", IP_PUBLIC),
	T("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", IP_PUBLIC),
	T("2001:db8::", IP_DOCUMENTATION),
	T("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", IP_DOCUMENTATION),
	T("2001:db9::", IP_PUBLIC),
	T("2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff", IP_PUBLIC),
	T("2002::", IP_UNSPECIFIED), /* 6to4 of 0.0.0.0 */
	T("2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff", IP_MULTICAST),
	T("2003::", IP_PUBLIC),
	T("3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", IP_PUBLIC),
	T("3fff::", IP_DOCUMENTATION),
	T("3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", IP_DOCUMENTATION),
	T("3fff:1000::", IP_PUBLIC),
	T("3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", IP_PUBLIC),
	T("4000::", IP_RESERVED),
	T("5f00::1", IP_RESERVED),
	T("fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", IP_RESERVED),
	T("fc00::", IP_PRIVATE),
	T("fd12:3456:789a::1", IP_PRIVATE),
	T("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", IP_PRIVATE),
	T("fe00::", IP_RESERVED),
	T("fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", IP_RESERVED),
	T("fe80::", IP_LINK_LOCAL),
	T("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", IP_LINK_LOCAL),
	T("fec0::", IP_PRIVATE),
	T("feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", IP_PRIVATE),
	T("ff00::", IP_MULTICAST),
	T("ff02::1", IP_MULTICAST),
	T("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", IP_MULTICAST),
	T("2606:4700:4700::1111", IP_PUBLIC),
	T("2001:4860:4860::8888", IP_PUBLIC),
};

Test(ip, v6_block_edges)
{
	check(v6_edges, N_CASES(v6_edges));
}

/* Addresses carrying an IPv4 address are judged by it, edges included. */
static const struct ip_case v6_embedded[] = {
	T("::ffff:0.0.0.0", IP_UNSPECIFIED),
	T("::ffff:8.8.8.8", IP_PUBLIC),
	T("::ffff:10.0.0.1", IP_PRIVATE),
	T("::ffff:127.0.0.1", IP_LOOPBACK),
	T("::ffff:7f00:1", IP_LOOPBACK),
	T("::FFFF:7F00:0001", IP_LOOPBACK),
	T("0:0:0:0:0:ffff:169.254.169.254", IP_LINK_LOCAL),
	T("::ffff:172.15.255.255", IP_PUBLIC),
	T("::ffff:172.16.0.0", IP_PRIVATE),
	T("::ffff:172.31.255.255", IP_PRIVATE),
	T("::ffff:172.32.0.0", IP_PUBLIC),
	T("::ffff:100.64.0.1", IP_CGNAT),
	T("::ffff:255.255.255.255", IP_MULTICAST),
	T("::ffff:0:8.8.8.8", IP_RESERVED), /* SIIT translated, not mapped */
	T("::8.8.8.8", IP_PUBLIC),          /* IPv4-compatible */
	T("::127.0.0.1", IP_LOOPBACK),
	T("::192.168.1.1", IP_PRIVATE),
	T("64:ff9b::8.8.8.8", IP_PUBLIC),
	T("64:ff9b::10.0.0.1", IP_PRIVATE),
	T("64:ff9b::7f00:1", IP_LOOPBACK),
	T("64:ff9b::c000:201", IP_DOCUMENTATION),
	T("2002:808:808::1", IP_PUBLIC),
	T("2002:c0a8:101::1", IP_PRIVATE),
	T("2002:7f00:1::", IP_LOOPBACK),
	T("2002:a9fe:a9fe::", IP_LINK_LOCAL),
	T("2002:e000::", IP_MULTICAST),
	T("2002:c058:6301::", IP_RESERVED),
	T("2002:ac0f:ffff::", IP_PUBLIC),
	T("2002:ac10::", IP_PRIVATE),
};

Test(ip, v6_embedded_v4)
{
	check(v6_embedded, N_CASES(v6_embedded));
}

/* The same addresses spelled every legal way. */
static const struct ip_case v6_forms[] = {
	T("2001:db8::1", IP_DOCUMENTATION),
	T("2001:DB8::1", IP_DOCUMENTATION),
	T("2001:0db8:0000:0000:0000:0000:0000:0001", IP_DOCUMENTATION),
	T("2001:db8:0:0:0:0:0:1", IP_DOCUMENTATION),
	T("2001:db8::0.0.0.1", IP_DOCUMENTATION),
	T("[2001:db8::1]", IP_DOCUMENTATION),
	T("0:0:0:0:0:0:0:1", IP_LOOPBACK),
	T("0000:0000:0000:0000:0000:0000:0000:0001", IP_LOOPBACK),
	T("::0:1", IP_LOOPBACK),
	T("[::1]", IP_LOOPBACK),
	T("0:0:0:0:0:0:0:0", IP_UNSPECIFIED),
	T("[::]", IP_UNSPECIFIED),
	T("[::ffff:192.168.1.1]", IP_PRIVATE),
	T("0000:0000:0000:0000:0000:ffff:255.255.255.255", IP_MULTICAST),
	T("FE80::1", IP_LINK_LOCAL),
	T("Fe80::a:B:c:D", IP_LINK_LOCAL),
	T("FF02::1", IP_MULTICAST),
	T("1::", IP_RESERVED),
	T("2a00:1450:4001:82b::200e", IP_PUBLIC),
	T("[2A00:1450:4001:82B::200E]", IP_PUBLIC),
	/* Zone ids, raw and as RFC 6874 puts them in a URI. */
	T("fe80::1%eth0", IP_LINK_LOCAL),
	T("fe80::1%25eth0", IP_LINK_LOCAL),
	T("[fe80::1%25eth0]", IP_LINK_LOCAL),
	T("[fe80::1%eth0]", IP_LINK_LOCAL),
	T("fe80::1%1", IP_LINK_LOCAL),
	T("::1%lo", IP_LOOPBACK),
	T("2001:db8::1%en0", IP_DOCUMENTATION),
};

Test(ip, v6_spellings)
{
	check(v6_forms, N_CASES(v6_forms));
}

/* Numeric forms a resolver built on inet_aton() reads as an address, and
 * broken literals: never a name, never public. */
static const struct ip_case garbage[] = {
	T("", IP_RESERVED),
	T("[", IP_RESERVED),
	T("]", IP_RESERVED),
	T("[]", IP_RESERVED),
	T("[::1", IP_RESERVED),
	T("::1]", IP_RESERVED),
	T("[[::1]]", IP_RESERVED),
	T("[1.2.3.4]", IP_RESERVED),
	T("[8.8.8.8]", IP_RESERVED),
	T("[example.com]", IP_RESERVED),
	T("1.2.3", IP_RESERVED),
	T("1.2.3.4.5", IP_RESERVED),
	T("256.1.1.1", IP_RESERVED),
	T("1.2.3.256", IP_RESERVED),
	T("1.2.3.1000", IP_RESERVED),
	T("1234.1.1.1", IP_RESERVED),
	T("1.2.3.4 ", IP_RESERVED),
	T(" 1.2.3.4", IP_RESERVED),
	T("8.8.8.8 127.0.0.1", IP_RESERVED),
	T("1.2.3.4.", IP_RESERVED),
	T(".1.2.3.4", IP_RESERVED),
	T("1..2.3", IP_RESERVED),
	T("1.2.3.", IP_RESERVED),
	T("1.2.3.-4", IP_RESERVED),
	T("+1.2.3.4", IP_RESERVED),
	T("01.2.3.4", IP_RESERVED),
	T("1.02.3.4", IP_RESERVED),
	T("1.2.3.00", IP_RESERVED),
	T("0177.0.0.1", IP_RESERVED),
	T("010.8.8.8", IP_RESERVED),
	T("0x7f.1", IP_RESERVED),
	T("0x7f.0.0.1", IP_RESERVED),
	T("0x7f000001", IP_RESERVED),
	T("127.1", IP_RESERVED),
	T("127.0.1", IP_RESERVED),
	T("2130706433", IP_RESERVED),
	T("0", IP_RESERVED),
	T("8.8.8.8\0", IP_RESERVED),
	T("8.8.8.8\0" "127.0.0.1", IP_RESERVED),
	T("2001:4860::8888\0", IP_RESERVED),
	T("1.2.3.4%eth0", IP_RESERVED),
	T("1.2.3.4:5060", IP_RESERVED),
	T("[2001:4860::8888]:5060", IP_RESERVED),
	T(":", IP_RESERVED),
	T(":::", IP_RESERVED),
	T("1:2:3:4:5:6:7:8:9", IP_RESERVED),
	T("1::2::3", IP_RESERVED),
	T("12345::", IP_RESERVED),
	T("g::1", IP_RESERVED),
	T("::ffff:1.2.3.256", IP_RESERVED),
	T("::ffff:01.2.3.4", IP_RESERVED),
	T("::ffff:1.2.3", IP_RESERVED),
	T("2001:4860::8888 ", IP_RESERVED),
	T(" 2001:4860::8888", IP_RESERVED),
	T("fe80::1%", IP_RESERVED),
	T("[fe80::1%]", IP_RESERVED),
	T("fe80::1%eth 0", IP_RESERVED),
	T("fe80::1%eth0]", IP_RESERVED),
	T("0000:0000:0000:0000:0000:0000:0000:0000:0000:0", IP_RESERVED),
	T("0000:0000:0000:0000:0000:ffff:255.255.255.2555", IP_RESERVED),
	T("a.1com", IP_RESERVED),
	T("example.123", IP_RESERVED),
	T("example.com:5060", IP_RESERVED),
	T("-a.com", IP_RESERVED),
	T("a-.com", IP_RESERVED),
	T("a..com", IP_RESERVED),
	T(".com", IP_RESERVED),
	T(".", IP_RESERVED),
	T("..", IP_RESERVED),
	T("a.com..", IP_RESERVED),
	T("a_b.com", IP_RESERVED),
	T("a b.com", IP_RESERVED),
	T("caf\xc3\xa9.fr", IP_RESERVED),
	T("user@example.com", IP_RESERVED),
};

Test(ip, garbage_is_never_public)
{
	check(garbage, N_CASES(garbage));
}

static const struct ip_case names[] = {
	T("a", IP_NOT_LITERAL),
	T("localhost", IP_NOT_LITERAL),
	T("example.com", IP_NOT_LITERAL),
	T("EXAMPLE.COM", IP_NOT_LITERAL),
	T("sip.example.com.", IP_NOT_LITERAL),
	T("1.example.com", IP_NOT_LITERAL),
	T("0x7f.example", IP_NOT_LITERAL),
	T("127.0.0.1.nip.io", IP_NOT_LITERAL),
	T("a-b.c", IP_NOT_LITERAL),
	T("a.b1", IP_NOT_LITERAL),
	T("a.b-1", IP_NOT_LITERAL),
	T("xn--bcher-kva.example", IP_NOT_LITERAL),
	T("fade", IP_NOT_LITERAL),
	T("cafe.babe", IP_NOT_LITERAL),
};

Test(ip, clean_names_are_not_literals)
{
	check(names, N_CASES(names));
}

/* Fill buf with n labels of len 'a's joined by dots; returns the length. */
static size_t make_name(char *buf, size_t labels, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < labels; i++) {
		if (i)
			buf[o++] = '.';
		memset(buf + o, 'a', len);
		o += len;
	}
	return o;
}

Test(ip, name_length_limits)
{
	char buf[512];
	size_t n;

	n = make_name(buf, 1, 63);
	cr_expect_eq(ip_classify(guard_str(buf, n)), IP_NOT_LITERAL);
	n = make_name(buf, 1, 64);
	cr_expect_eq(ip_classify(guard_str(buf, n)), IP_RESERVED);
	/* 4 labels of 62 and one of 1: 62 * 4 + 3 + 2 = 253. */
	n = make_name(buf, 4, 62);
	memcpy(buf + n, ".a", 2);
	cr_expect_eq(ip_classify(guard_str(buf, n + 2)), IP_NOT_LITERAL);
	buf[n + 2] = '.';
	cr_expect_eq(ip_classify(guard_str(buf, n + 3)), IP_NOT_LITERAL);
	memcpy(buf + n, ".ab", 3);
	cr_expect_eq(ip_classify(guard_str(buf, n + 3)), IP_RESERVED);
}

/* Whatever inet_aton() or inet_pton() accepts is an address to a resolver,
 * so it must never come back as a name, and a public verdict must be backed
 * by a strict parse of the same bytes. Random strings over the characters
 * that matter, with a fixed seed so that a failure reproduces. */
Test(ip, libc_numeric_forms_never_pass_as_names)
{
	static const char alpha[] = "0123456789abcdefx.:[]% ";
	uint32_t seed = 12345;
	char buf[24], z[25], shown[128];
	struct in_addr a4;
	uint8_t a6[16];

	for (int iter = 0; iter < 200000; iter++) {
		size_t n;
		enum ip_class c;
		bool libc_numeric;

		seed = seed * 1103515245u + 12345u;
		n = 1 + (seed >> 16) % sizeof(buf);
		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			buf[i] = alpha[(seed >> 16) % (sizeof(alpha) - 1)];
		}
		memcpy(z, buf, n);
		z[n] = '\0';
		c = ip_classify(guard_str(buf, n));
		libc_numeric = inet_aton(z, &a4) || inet_pton(AF_INET6, z, a6) == 1;
		cr_assert(!(libc_numeric && c == IP_NOT_LITERAL),
			  "\"%s\" is numeric to libc but a name here",
			  show(buf, n, shown, sizeof(shown)));
		if (c == IP_PUBLIC && !str_chr(str_make(buf, n), ':'))
			cr_assert_eq(inet_pton(AF_INET, z, &a4), 1, "\"%s\"",
				     show(buf, n, shown, sizeof(shown)));
	}
}

Test(ip, is_public_only_for_public)
{
	for (int c = IP_NOT_LITERAL; c <= IP_RESERVED; c++)
		cr_expect_eq(ip_is_public((enum ip_class)c), c == IP_PUBLIC,
			     "%s", ip_class_name((enum ip_class)c));
}

Test(ip, class_names)
{
	static const char *const want[] = {
		"not-literal", "public",      "private",   "loopback",
		"link-local",  "cgnat",       "unspecified", "multicast",
		"documentation", "reserved",
	};

	for (int c = IP_NOT_LITERAL; c <= IP_RESERVED; c++)
		cr_expect_str_eq(ip_class_name((enum ip_class)c), want[c]);
	cr_expect_str_eq(ip_class_name((enum ip_class)(IP_RESERVED + 1)), "invalid");
}
