/* test_hdr.c: every typed header reader of hdr.h, and sip_core_read.
 * RFC 3261 §8.1.1, §20, §25.1; RFC 3581; RFC 3515, 4488, 6665; RFC 4475. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "guard.h"
#include "hdr.h"

/* A guarded slice of a C string; short, as nearly every check has one. */
static struct str G(const char *s)
{
	return guard_cstr(s);
}

#define expect_str(s, lit)                                                     \
	cr_expect(str_eq((s), STR(lit)), "%s is \"%.*s\", want \"%s\"", #s,    \
		  (int)(s).n, (s).p ? (s).p : "", (lit))

/* ---- Via ---- */

static void via_ok(const char *in, struct sip_via *v)
{
	const char *at = NULL;
	int r = sip_via_read(G(in), v, &at);

	cr_assert_eq(r, 0, "sip_via_read(\"%s\") = %d", in, r);
}

/* Expect a failure, with err_at inside the input at offset at (or any
 * offset when at is SIZE_MAX). */
static void via_bad(const char *in, size_t at)
{
	struct sip_via v;
	struct str s = G(in);
	const char *err_at = NULL;

	cr_expect_eq(sip_via_read(s, &v, &err_at), -EBADMSG, "sip_via_read(\"%s\") accepted", in);
	cr_expect_not_null(err_at, "%s: no err_at", in);
	if (err_at && at != SIZE_MAX)
		cr_expect_eq((size_t)(err_at - s.p), at, "\"%s\": err_at %td, want %zu", in,
			     err_at - s.p, at);
	/* A NULL err_at must be accepted. */
	cr_expect_eq(sip_via_read(s, &v, NULL), -EBADMSG);
}

Test(via, plain)
{
	struct sip_via v;

	via_ok("SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds", &v);
	expect_str(v.proto, "SIP/2.0");
	expect_str(v.transport, "UDP");
	expect_str(v.host, "pc33.atlanta.com");
	cr_expect_not(v.host_ipv6);
	cr_expect_eq(v.port, 0);
	expect_str(v.params, ";branch=z9hG4bK776asdhds");
	expect_str(v.branch, "z9hG4bK776asdhds");
	cr_expect_eq(v.received.n, 0);
	cr_expect_eq(v.maddr.n, 0);
	cr_expect_eq(v.ttl.n, 0);
	cr_expect_not(v.rport);

	via_ok("SIP/2.0/tls 192.0.2.4:5061", &v);
	expect_str(v.transport, "tls");
	expect_str(v.host, "192.0.2.4");
	cr_expect_eq(v.port, 5061);
	cr_expect_eq(v.params.n, 0);
	cr_expect_eq(v.branch.n, 0);

	via_ok("SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK1;rport", &v);
	expect_str(v.transport, "WSS");
	cr_expect(v.rport);
	cr_expect_eq(v.rport_value, 0);
}

Test(via, lws_around_slashes)
{
	struct sip_via v;

	/* RFC 4475 §3.1.1.1 */
	via_ok("SIP  /   2.0  /  UDP   host.example.com:5060   ;   branch = z9hG4bK1 ;received=192.0.2.1",
	       &v);
	cr_expect(str_casestarts(v.proto, STR("SIP")));
	cr_expect_eq(v.proto.p[v.proto.n - 1], '0');
	expect_str(v.transport, "UDP");
	expect_str(v.host, "host.example.com");
	cr_expect_eq(v.port, 5060);
	expect_str(v.branch, "z9hG4bK1");
	expect_str(v.received, "192.0.2.1");

	/* Folded line breaks are LWS too. */
	via_ok("SIP/2.0/UDP\r\n host;branch=z9hG4bK2", &v);
	expect_str(v.host, "host");
	expect_str(v.branch, "z9hG4bK2");
	via_ok("SIP/2.0\r\n\t/ TCP h2", &v);
	expect_str(v.transport, "TCP");
	expect_str(v.host, "h2");
	via_ok("SIP/2.0/UDP h ;\r\n branch=z9hG4bK3", &v);
	expect_str(v.branch, "z9hG4bK3");
	/* Trailing white space. */
	via_ok("SIP/2.0/UDP h:1 ", &v);
	cr_expect_eq(v.port, 1);
}

Test(via, ipv6_hosts)
{
	struct sip_via v;

	via_ok("SIP/2.0/UDP [2001:db8::9:1]:5070;branch=z9hG4bKas3-111", &v);
	expect_str(v.host, "2001:db8::9:1");
	cr_expect(v.host_ipv6);
	cr_expect_eq(v.port, 5070);
	expect_str(v.branch, "z9hG4bKas3-111");

	via_ok("SIP/2.0/TCP [::1]", &v);
	expect_str(v.host, "::1");
	cr_expect(v.host_ipv6);
	cr_expect_eq(v.port, 0);

	via_ok("SIP/2.0/UDP [::ffff:192.0.2.10]:5060;received=[2001:db8::1]", &v);
	expect_str(v.host, "::ffff:192.0.2.10");
	expect_str(v.received, "[2001:db8::1]");

	via_bad("SIP/2.0/UDP [2001:db8::1", SIZE_MAX);
	via_bad("SIP/2.0/UDP []:5060", SIZE_MAX);
	via_bad("SIP/2.0/UDP [2001:db8::1]5060", 25);
	via_bad("SIP/2.0/UDP [fe80::1%eth0]", SIZE_MAX);
}

Test(via, ports)
{
	struct sip_via v;

	via_ok("SIP/2.0/UDP h:65535", &v);
	cr_expect_eq(v.port, 65535);
	via_ok("SIP/2.0/UDP h:1;branch=z9hG4bK1", &v);
	cr_expect_eq(v.port, 1);
}

/* RFC 3261 §25.1: sent-by = host [ COLON port ], COLON = SWS ":" SWS. */
Test(via, lws_around_port_colon)
{
	struct sip_via v;

	via_ok("SIP/2.0/UDP h : 5060;branch=z9hG4bK1", &v);
	expect_str(v.host, "h");
	cr_expect_eq(v.port, 5060);
	expect_str(v.branch, "z9hG4bK1");
}

Test(via, bad_ports)
{
	via_bad("SIP/2.0/UDP h:0", SIZE_MAX);
	via_bad("SIP/2.0/UDP h:65536", SIZE_MAX);
	via_bad("SIP/2.0/UDP h:99999999999", SIZE_MAX);
	via_bad("SIP/2.0/UDP h:", SIZE_MAX);
	via_bad("SIP/2.0/UDP h:abc", SIZE_MAX);
	via_bad("SIP/2.0/UDP h:-1", SIZE_MAX);
}

Test(via, params)
{
	struct sip_via v;

	via_ok("SIP/2.0/UDP h;BRANCH=z9hG4bK9;Received=192.0.2.7;maddr=224.2.0.1;ttl=16;x=y", &v);
	expect_str(v.branch, "z9hG4bK9");
	expect_str(v.received, "192.0.2.7");
	expect_str(v.maddr, "224.2.0.1");
	expect_str(v.ttl, "16");
	expect_str(v.params, ";BRANCH=z9hG4bK9;Received=192.0.2.7;maddr=224.2.0.1;ttl=16;x=y");
	cr_expect_not(v.rport);

	/* rport with and without a value (RFC 3581). */
	via_ok("SIP/2.0/UDP h;rport;branch=z9hG4bK1", &v);
	cr_expect(v.rport);
	cr_expect_eq(v.rport_value, 0);
	via_ok("SIP/2.0/UDP h;branch=z9hG4bK1;rport=5061;received=192.0.2.1", &v);
	cr_expect(v.rport);
	cr_expect_eq(v.rport_value, 5061);
	expect_str(v.received, "192.0.2.1");
	via_ok("SIP/2.0/UDP h;RPORT=65535", &v);
	cr_expect_eq(v.rport_value, 65535);
	/* Flags that take values elsewhere. */
	via_ok("SIP/2.0/UDP h;received;maddr;ttl", &v);
	cr_expect_eq(v.received.n, 0);
	/* A quoted value keeps its quotes. */
	via_ok("SIP/2.0/UDP h;x=\"a;b\";branch=z9hG4bK5", &v);
	expect_str(v.branch, "z9hG4bK5");
}

Test(via, bad)
{
	via_bad("", 0);
	via_bad("SIP/2.0", SIZE_MAX);
	via_bad("SIP/2.0/UDP", SIZE_MAX);
	via_bad("SIP/2.0/UDP ", SIZE_MAX);
	via_bad("SIP/2.0 h", SIZE_MAX);
	via_bad("SIP//UDP h", SIZE_MAX);
	via_bad("/2.0/UDP h", SIZE_MAX);
	via_bad("SIP/2.0/ h", SIZE_MAX);
	via_bad("SIP/2.0/UDPh", SIZE_MAX);
	via_bad("SIP/2.0/UDP h junk", 14);
	via_bad("SIP/2.0/UDP h,SIP/2.0/UDP g", 13);
	via_bad("SIP/2.0/UDP h;branch=", SIZE_MAX);
	via_bad("SIP/2.0/UDP h;=x", SIZE_MAX);
	via_bad("SIP/2.0/UDP h;rport=x", SIZE_MAX);
	via_bad("SIP/2.0/UDP h;rport=65536", SIZE_MAX);
	via_bad("SIP/2.0/UDP h;branch=\"open", SIZE_MAX);
	via_bad("SIP/2.0/UDP h_1", SIZE_MAX);
	via_bad("SIP/2.0/UDP @h", SIZE_MAX);
}

/* ---- name-addr / addr-spec ---- */

static void addr_ok(const char *in, struct sip_addr *a)
{
	const char *at = NULL;
	int r = sip_addr_read(G(in), a, &at);

	cr_assert_eq(r, 0, "sip_addr_read(\"%s\") = %d", in, r);
}

static void addr_bad(const char *in)
{
	struct sip_addr a;
	struct str s = G(in);
	const char *at = NULL;

	cr_expect_eq(sip_addr_read(s, &a, &at), -EBADMSG, "sip_addr_read(\"%s\") accepted", in);
	cr_expect_not_null(at, "%s: no err_at", in);
	if (at)
		cr_expect(at >= s.p && at <= str_end(s), "%s: err_at outside the input", in);
	cr_expect_eq(sip_addr_read(s, &a, NULL), -EBADMSG);
}

Test(addr, quoted_display_name)
{
	struct sip_addr a;

	addr_ok("\"Alice \\\"the boss\\\" Smith\" <sip:alice@atlanta.com>;tag=1928301774", &a);
	expect_str(a.display, "Alice \\\"the boss\\\" Smith");
	expect_str(a.uri_text, "sip:alice@atlanta.com");
	cr_expect(a.has_uri);
	cr_expect_eq(a.uri.scheme, SIP_SCHEME_SIP);
	expect_str(a.uri.user, "alice");
	expect_str(a.uri.host, "atlanta.com");
	cr_expect(a.angle);
	expect_str(a.params, ";tag=1928301774");
	expect_str(a.tag, "1928301774");

	/* An escaped backslash right before the closing quote. */
	addr_ok("\"a\\\\\" <sip:a@b>", &a);
	expect_str(a.display, "a\\\\");
	/* Empty, no space before '<', commas and '<' inside quotes. */
	addr_ok("\"\"<sip:a@b>", &a);
	cr_expect_eq(a.display.n, 0);
	addr_ok("\"Doe, <John>\"\r\n <sips:j@example.com:5061>", &a);
	expect_str(a.display, "Doe, <John>");
	cr_expect_eq(a.uri.scheme, SIP_SCHEME_SIPS);
	cr_expect_eq(a.uri.port, 5061);
	/* UTF-8 in the display name. */
	addr_ok("\"J\xc3\xb6rg\" <sip:j@b>", &a);
	expect_str(a.display, "J\xc3\xb6rg");

	addr_bad("\"unterminated <sip:a@b>");
	addr_bad("\"escaped at end\\\" <sip:a@b>");
	addr_bad("\"x\" sip:a@b");
	addr_bad("\"x\" junk <sip:a@b>");
}

Test(addr, token_display_name)
{
	struct sip_addr a;

	addr_ok("Bob <sips:bob@biloxi.example.com>", &a);
	expect_str(a.display, "Bob");
	cr_expect_eq(a.uri.scheme, SIP_SCHEME_SIPS);
	cr_expect_eq(a.tag.n, 0);
	cr_expect_eq(a.params.n, 0);

	addr_ok("  Bob  Q.\tSmith-Jones  <sip:b@c>  ;  tag = a9 ;x", &a);
	expect_str(a.display, "Bob  Q.\tSmith-Jones");
	expect_str(a.uri_text, "sip:b@c");
	expect_str(a.tag, "a9");

	addr_ok("<sip:carol@chicago.example.com>", &a);
	cr_expect_eq(a.display.n, 0);
	cr_expect(a.angle);

	addr_bad("Bob, Jr <sip:b@c>");
	addr_bad("Bob@home <sip:b@c>");
	addr_bad("Bob \"x\" <sip:b@c>");
}

Test(addr, uri_and_header_params)
{
	struct sip_addr a;

	addr_ok("<sip:a@b;transport=tcp;lr>;tag=x;expires=5", &a);
	expect_str(a.uri.params, "transport=tcp;lr");
	expect_str(a.params, ";tag=x;expires=5");
	expect_str(a.tag, "x");

	/* RFC 3261 §20: in an addr-spec every ';' starts a header param. */
	addr_ok("sip:alice@atlanta.com;tag=88sja8x", &a);
	cr_expect_not(a.angle);
	expect_str(a.uri_text, "sip:alice@atlanta.com");
	cr_expect(a.has_uri);
	cr_expect_eq(a.uri.params.n, 0);
	expect_str(a.params, ";tag=88sja8x");
	expect_str(a.tag, "88sja8x");

	addr_ok("sip:+14155550100@gw.example.com ; tag=7;user=phone", &a);
	expect_str(a.uri_text, "sip:+14155550100@gw.example.com");
	expect_str(a.tag, "7");
	cr_expect_eq(a.uri.params.n, 0);

	addr_ok("sip:a@b", &a);
	expect_str(a.uri_text, "sip:a@b");
	cr_expect_eq(a.params.n, 0);

	/* Embedded headers in a name-addr. */
	addr_ok("<sip:+14155550101@acme.example.net?User-to-User=abc%3Bencoding%3Dhex>", &a);
	expect_str(a.uri.headers, "User-to-User=abc%3Bencoding%3Dhex");

	addr_ok("<tel:+14155550100>;tag=z", &a);
	cr_expect(a.has_uri);
	cr_expect_eq(a.uri.scheme, SIP_SCHEME_TEL);
	expect_str(a.tag, "z");

	addr_bad("<sip:a@b");
	addr_bad("<sip:a@b> junk");
	addr_bad("<sip:a@b>tag=1");
	addr_bad("<>");
	addr_bad("");
	addr_bad("   ");
	addr_bad("<sip:a@b c>");
	addr_bad("sip:a@b c");
	/* An addr-spec may not hold '?' or ',' (§20, RFC 4475 §3.1.2.13). */
	addr_bad("sip:a@b?Subject=x");
	addr_bad("sip:a@b,sip:c@d");
}

Test(addr, other_schemes)
{
	struct sip_addr a;

	addr_ok("<mailto:alice@example.com>;tag=1", &a);
	cr_expect_not(a.has_uri);
	expect_str(a.uri_text, "mailto:alice@example.com");
	expect_str(a.tag, "1");

	addr_ok("\"Web\" <http://example.com/x?y=1>", &a);
	cr_expect_not(a.has_uri);
	expect_str(a.uri_text, "http://example.com/x?y=1");

	addr_ok("urn:service:sos", &a);
	cr_expect_not(a.has_uri);
	expect_str(a.uri_text, "urn:service:sos");

	/* Not a scheme at all. */
	addr_bad("<alice@example.com>");
	addr_bad("<sip:>");
}

/* ---- Contact ---- */

Test(contact, star_and_expires)
{
	struct sip_contact c;

	cr_assert_eq(sip_contact_read(G("*"), &c, NULL), 0);
	cr_expect(c.star);
	cr_assert_eq(sip_contact_read(G(" * "), &c, NULL), 0);
	cr_expect(c.star);

	cr_assert_eq(sip_contact_read(G("<sip:a@192.0.2.4>;expires=3600;q=0.7"), &c, NULL), 0);
	cr_expect_not(c.star);
	cr_expect(c.has_expires);
	cr_expect_eq(c.expires, 3600);
	expect_str(c.addr.uri.host, "192.0.2.4");

	cr_assert_eq(sip_contact_read(G("\"A\" <sip:a@b>;EXPIRES=0"), &c, NULL), 0);
	cr_expect(c.has_expires);
	cr_expect_eq(c.expires, 0);

	/* Inside the brackets it is a URI parameter, not the header's. */
	cr_assert_eq(sip_contact_read(G("<sip:a@b;expires=60>"), &c, NULL), 0);
	cr_expect_not(c.has_expires);

	/* addr-spec: the ';' starts header params. */
	cr_assert_eq(sip_contact_read(G("sip:a@b;expires=60"), &c, NULL), 0);
	cr_expect(c.has_expires);
	cr_expect_eq(c.expires, 60);

	cr_assert_eq(sip_contact_read(G("<sip:a@b>"), &c, NULL), 0);
	cr_expect_not(c.has_expires);

	cr_expect_eq(sip_contact_read(G("<sip:a@b>;expires=abc"), &c, NULL), -EBADMSG);
	cr_expect_eq(sip_contact_read(G("<sip:a@b>;expires=4294967296"), &c, NULL), -EBADMSG);
	cr_expect_eq(sip_contact_read(G("<sip:a@b"), &c, NULL), -EBADMSG);
	cr_expect_eq(sip_contact_read(G("**"), &c, NULL), -EBADMSG);
	cr_expect_eq(sip_contact_read(G(""), &c, NULL), -EBADMSG);
}

/* ---- CSeq ---- */

Test(cseq, good)
{
	struct sip_cseq c;

	cr_assert_eq(sip_cseq_read(G("4711 INVITE"), &c, NULL), 0);
	cr_expect_eq(c.num, 4711);
	expect_str(c.method, "INVITE");
	cr_expect_eq(c.method_id, SIP_METHOD_INVITE);

	cr_assert_eq(sip_cseq_read(G("0 ACK"), &c, NULL), 0);
	cr_expect_eq(c.num, 0);
	cr_expect_eq(c.method_id, SIP_METHOD_ACK);

	cr_assert_eq(sip_cseq_read(G(" 2147483647\t\r\n REFER "), &c, NULL), 0);
	cr_expect_eq(c.num, 2147483647u);
	expect_str(c.method, "REFER");
	cr_expect_eq(c.method_id, SIP_METHOD_REFER);

	cr_assert_eq(sip_cseq_read(G("00012 X-EXT"), &c, NULL), 0);
	cr_expect_eq(c.num, 12);
	cr_expect_eq(c.method_id, SIP_METHOD_OTHER);

	cr_assert_eq(sip_cseq_read(G("1 invite"), &c, NULL), 0);
	cr_expect_eq(c.method_id, SIP_METHOD_OTHER);
}

Test(cseq, bad)
{
	static const char *const bad[] = {
		"2147483648 INVITE", /* §8.1.1.5: less than 2**31 */
		"4294967295 INVITE",
		"4294967296 INVITE",
		"99999999999999999999 INVITE",
		"-1 INVITE",
		"1",
		"1 ",
		"INVITE",
		"1INVITE",
		"1 INVITE x",
		"1 INV@TE",
		"1.5 INVITE",
		"",
		"0x10 INVITE",
	};
	struct sip_cseq c;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct str s = G(bad[i]);
		const char *at = NULL;

		cr_expect_eq(sip_cseq_read(s, &c, &at), -EBADMSG, "\"%s\" accepted", bad[i]);
		cr_expect(at && at >= s.p && at <= str_end(s), "\"%s\": err_at", bad[i]);
	}
	{
		struct str s = G("2147483648 INVITE");
		const char *at = NULL;

		sip_cseq_read(s, &c, &at);
		cr_expect_eq(at, s.p);
	}
}

/* ---- numbers and tokens ---- */

Test(uint, read)
{
	uint32_t v = 7;

	cr_expect_eq(sip_uint_read(G(" 70 "), 255, &v, NULL), 0);
	cr_expect_eq(v, 70);
	cr_expect_eq(sip_uint_read(G("255"), 255, &v, NULL), 0);
	cr_expect_eq(v, 255);
	cr_expect_eq(sip_uint_read(G("0"), 255, &v, NULL), 0);
	cr_expect_eq(v, 0);
	cr_expect_eq(sip_uint_read(G("4294967295"), UINT32_MAX, &v, NULL), 0);
	cr_expect_eq(v, UINT32_MAX);
	cr_expect_eq(sip_uint_read(G("256"), 255, &v, NULL), -EBADMSG);
	cr_expect_eq(sip_uint_read(G("4294967296"), UINT32_MAX, &v, NULL), -EBADMSG);
	cr_expect_eq(sip_uint_read(G(""), 255, &v, NULL), -EBADMSG);
	cr_expect_eq(sip_uint_read(G("7 0"), 255, &v, NULL), -EBADMSG);
	cr_expect_eq(sip_uint_read(G("+7"), 255, &v, NULL), -EBADMSG);
	cr_expect_eq(sip_uint_read(G("7a"), 255, &v, NULL), -EBADMSG);
}

Test(token, read)
{
	struct str t;
	const char *at = NULL;

	cr_expect_eq(sip_token_read(G("100rel"), &t, NULL), 0);
	expect_str(t, "100rel");
	cr_expect_eq(sip_token_read(G(" timer\t"), &t, NULL), 0);
	expect_str(t, "timer");
	cr_expect_eq(sip_token_read(G("x-ext.1!%*_+`'~"), &t, NULL), 0);
	cr_expect_eq(sip_token_read(G("a b"), &t, &at), -EBADMSG);
	cr_expect_eq(sip_token_read(G(""), &t, NULL), -EBADMSG);
	cr_expect_eq(sip_token_read(G("a,b"), &t, NULL), -EBADMSG);
	cr_expect_eq(sip_token_read(G("a;b"), &t, NULL), -EBADMSG);
	cr_expect_eq(sip_token_read(G("\"a\""), &t, NULL), -EBADMSG);
	cr_expect_eq(sip_token_read(G("a:b"), &t, NULL), -EBADMSG);
}

/* ---- Event, Subscription-State, Refer-Sub ---- */

Test(event, read)
{
	struct sip_event e;

	cr_assert_eq(sip_event_read(G("refer"), &e, NULL), 0);
	expect_str(e.package, "refer");
	cr_expect_eq(e.id.n, 0);
	cr_expect_eq(e.params.n, 0);

	cr_assert_eq(sip_event_read(G("refer;id=93809824"), &e, NULL), 0);
	expect_str(e.package, "refer");
	expect_str(e.id, "93809824");
	expect_str(e.params, ";id=93809824");

	cr_assert_eq(sip_event_read(G(" refer ; x=1 ;\r\n ID = 7 ;flag "), &e, NULL), 0);
	expect_str(e.package, "refer");
	expect_str(e.id, "7");

	cr_assert_eq(sip_event_read(G("presence.winfo"), &e, NULL), 0);
	expect_str(e.package, "presence.winfo");

	cr_assert_eq(sip_event_read(G("dialog;id=\"a;b\""), &e, NULL), 0);
	expect_str(e.id, "\"a;b\"");
}

Test(event, bad)
{
	static const char *const bad[] = {
		"", ";id=1", "refer id=1", "refer;id=", "refer;=1", "refer;id=\"open",
		"refer;id=1;", "refer;id=1;;x", "refer/x", "refer,presence",
	};
	struct sip_event e;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *at = NULL;

		cr_expect_eq(sip_event_read(G(bad[i]), &e, &at), -EBADMSG, "\"%s\" accepted",
			     bad[i]);
		cr_expect_not_null(at, "\"%s\": no err_at", bad[i]);
	}
}

Test(substate, read)
{
	struct sip_substate s;

	cr_assert_eq(sip_substate_read(G("active;expires=60"), &s, NULL), 0);
	expect_str(s.state, "active");
	cr_expect(s.has_expires);
	cr_expect_eq(s.expires, 60);
	cr_expect_not(s.has_retry_after);
	cr_expect_eq(s.reason.n, 0);

	cr_assert_eq(sip_substate_read(G("terminated;reason=noresource"), &s, NULL), 0);
	expect_str(s.state, "terminated");
	expect_str(s.reason, "noresource");
	cr_expect_not(s.has_expires);

	cr_assert_eq(sip_substate_read(G("terminated; reason=probation ;retry-after=30"), &s, NULL),
		     0);
	expect_str(s.reason, "probation");
	cr_expect(s.has_retry_after);
	cr_expect_eq(s.retry_after, 30);

	cr_assert_eq(sip_substate_read(G("pending"), &s, NULL), 0);
	expect_str(s.state, "pending");
	cr_expect_eq(s.params.n, 0);

	cr_assert_eq(sip_substate_read(G("Active;EXPIRES=0;Reason=x;ext=\"q\""), &s, NULL), 0);
	expect_str(s.state, "Active");
	cr_expect(s.has_expires);
	cr_expect_eq(s.expires, 0);
	expect_str(s.reason, "x");
}

Test(substate, bad)
{
	static const char *const bad[] = {
		"",
		";expires=1",
		"active expires=1",
		"active;expires=abc",
		"active;expires=-1",
		"active;expires=4294967296",
		"active;expires=",
		"terminated;retry-after=x",
	};
	struct sip_substate s;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *at = NULL;

		cr_expect_eq(sip_substate_read(G(bad[i]), &s, &at), -EBADMSG, "\"%s\" accepted",
			     bad[i]);
		cr_expect_not_null(at, "\"%s\": no err_at", bad[i]);
	}
}

Test(refer_sub, read)
{
	static const struct {
		const char *in;
		bool want;
	} good[] = {
		{ "true", true }, { "false", false }, { "TRUE", true }, { " False ", false },
		{ "true;x=y", true }, { "false ; x", false },
	};
	static const char *const bad[] = {
		"", "yes", "no", "1", "0", "truex", "true false", "\"true\"", ";true", "t",
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		bool v = !good[i].want;

		cr_expect_eq(sip_refer_sub_read(G(good[i].in), &v, NULL), 0, "\"%s\"", good[i].in);
		cr_expect_eq(v, good[i].want, "\"%s\"", good[i].in);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bool v = false;
		const char *at = NULL;

		cr_expect_eq(sip_refer_sub_read(G(bad[i]), &v, &at), -EBADMSG, "\"%s\" accepted",
			     bad[i]);
		cr_expect_not_null(at, "\"%s\": no err_at", bad[i]);
	}
}

/* ---- Content-Type, Retry-After ---- */

Test(ctype, read)
{
	struct sip_ctype c;

	cr_assert_eq(sip_ctype_read(G("application/sdp"), &c, NULL), 0);
	expect_str(c.type, "application");
	expect_str(c.subtype, "sdp");
	cr_expect_eq(c.params.n, 0);

	cr_assert_eq(sip_ctype_read(G("message/sipfrag;version=2.0"), &c, NULL), 0);
	expect_str(c.type, "message");
	expect_str(c.subtype, "sipfrag");
	expect_str(c.params, ";version=2.0");

	cr_assert_eq(sip_ctype_read(G(" text / plain ; charset=\"utf-8\" "), &c, NULL), 0);
	expect_str(c.type, "text");
	expect_str(c.subtype, "plain");
	expect_str(c.params, "; charset=\"utf-8\"");

	cr_assert_eq(sip_ctype_read(G("multipart/mixed;boundary=unique-boundary-1"), &c, NULL), 0);
	expect_str(c.subtype, "mixed");

	static const char *const bad[] = {
		"", "application", "/sdp", "application/", "application/sdp x",
		"application/sdp;=x", "a/b/c", "application sdp",
		"application/sdp;charset=\"open",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *at = NULL;

		cr_expect_eq(sip_ctype_read(G(bad[i]), &c, &at), -EBADMSG, "\"%s\" accepted",
			     bad[i]);
		cr_expect_not_null(at, "\"%s\": no err_at", bad[i]);
	}
}

Test(retry_after, read)
{
	struct sip_retry_after r;

	cr_assert_eq(sip_retry_after_read(G("120"), &r, NULL), 0);
	cr_expect_eq(r.seconds, 120);
	cr_expect_eq(r.comment.n, 0);
	cr_expect_not(r.has_duration);

	cr_assert_eq(sip_retry_after_read(G("18000;duration=3600"), &r, NULL), 0);
	cr_expect_eq(r.seconds, 18000);
	cr_expect(r.has_duration);
	cr_expect_eq(r.duration, 3600);

	cr_assert_eq(sip_retry_after_read(G("120 (I'm in a meeting)"), &r, NULL), 0);
	cr_expect_eq(r.seconds, 120);
	expect_str(r.comment, "I'm in a meeting");
	cr_expect_not(r.has_duration);

	cr_assert_eq(sip_retry_after_read(G(" 0 (x) ; duration = 60 ;foo=bar "), &r, NULL), 0);
	cr_expect_eq(r.seconds, 0);
	expect_str(r.comment, "x");
	cr_expect(r.has_duration);
	cr_expect_eq(r.duration, 60);

	cr_assert_eq(sip_retry_after_read(G("5()"), &r, NULL), 0);
	cr_expect_eq(r.comment.n, 0);

	static const char *const bad[] = {
		"", "abc", "-1", "4294967296", "120 (unclosed", "120;duration=abc",
		"120;duration=", "120 junk", "120 (x) junk", "(x) 120", "120;;",
		"120 ; =1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *at = NULL;

		cr_expect_eq(sip_retry_after_read(G(bad[i]), &r, &at), -EBADMSG,
			     "\"%s\" accepted", bad[i]);
		cr_expect_not_null(at, "\"%s\": no err_at", bad[i]);
	}
}

/* RFC 3261 §25.1: comment = LPAREN *(ctext / quoted-pair / comment) RPAREN,
 * so comments nest and "\)" does not close one. */
Test(retry_after, nested_comment_and_quoted_pair)
{
	struct sip_retry_after r;

	cr_expect_eq(sip_retry_after_read(G("120 (in a meeting (until 5pm));duration=60"), &r, NULL),
		     0);
	expect_str(r.comment, "in a meeting (until 5pm)");
	cr_expect_eq(r.duration, 60);
	cr_expect_eq(sip_retry_after_read(G("120 (a \\) b)"), &r, NULL), 0);
	expect_str(r.comment, "a \\) b");
}

/* ---- sip_core_read ---- */

#define REQ_LINE "REFER sip:b2bua@203.0.113.5:5060 SIP/2.0\r\n"
#define RSP_LINE "SIP/2.0 202 Accepted\r\n"
#define H_VIA "Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-1;rport\r\n"
#define H_FROM "From: \"Agent\" <sip:agent@acme.example.net>;tag=f1\r\n"
#define H_TO "To: <sip:+14155550100@xferd.example.net>;tag=t1\r\n"
#define H_CALLID "Call-ID: 7d41e2b8@198.51.100.7\r\n"
#define H_CSEQ "CSeq: 2 REFER\r\n"
#define H_MF "Max-Forwards: 70\r\n"
#define END "Content-Length: 0\r\n\r\n"

/* A parameter list is ";" param *(";" param): an empty parameter, or a
 * ';' with nothing after it, is malformed wherever it appears. The readers
 * reject "a;b;" and "a;b;;c" but must also reject an empty first one. */
Test(params, empty_first_or_trailing_param)
{
	struct sip_via via;
	struct sip_addr addr;
	struct sip_event ev;
	struct sip_substate ss;
	struct sip_ctype ct;
	struct sip_retry_after ra;

	cr_expect_eq(sip_via_read(G("SIP/2.0/UDP h;"), &via, NULL), -EBADMSG, "Via h;");
	cr_expect_eq(sip_via_read(G("SIP/2.0/UDP h;;branch=z9hG4bK1"), &via, NULL), -EBADMSG,
		     "Via h;;branch");
	cr_expect_eq(sip_addr_read(G("<sip:a@b>;"), &addr, NULL), -EBADMSG, "<sip:a@b>;");
	cr_expect_eq(sip_addr_read(G("<sip:a@b>;;tag=1"), &addr, NULL), -EBADMSG,
		     "<sip:a@b>;;tag=1");
	cr_expect_eq(sip_event_read(G("refer;"), &ev, NULL), -EBADMSG, "refer;");
	cr_expect_eq(sip_event_read(G("refer;;id=1"), &ev, NULL), -EBADMSG, "refer;;id=1");
	cr_expect_eq(sip_substate_read(G("active;"), &ss, NULL), -EBADMSG, "active;");
	cr_expect_eq(sip_substate_read(G("active;;expires=1"), &ss, NULL), -EBADMSG,
		     "active;;expires=1");
	cr_expect_eq(sip_ctype_read(G("application/sdp;"), &ct, NULL), -EBADMSG,
		     "application/sdp;");
	cr_expect_eq(sip_retry_after_read(G("120;"), &ra, NULL), -EBADMSG, "120;");
}

/* Via, Event, Subscription-State, Content-Type and Retry-After reject a
 * malformed parameter list; the name-addr reader and Refer-Sub must too,
 * or a From/To tag is silently lost (or taken from a broken list). */
Test(params, malformed_params_rejected_by_every_reader)
{
	static const char *const addr_bad_params[] = {
		"<sip:a@b>;=x",
		"<sip:a@b>;tag=\"open",
		"<sip:a@b>;tag=1 x",
		"sip:a@b;tag=",
		"\"A\" <sip:a@b>;tag=1;=2",
	};
	struct sip_addr a;
	bool v;

	for (size_t i = 0; i < sizeof(addr_bad_params) / sizeof(addr_bad_params[0]); i++)
		cr_expect_eq(sip_addr_read(G(addr_bad_params[i]), &a, NULL), -EBADMSG,
			     "sip_addr_read(\"%s\") accepted", addr_bad_params[i]);
	cr_expect_eq(sip_refer_sub_read(G("true;=x"), &v, NULL), -EBADMSG, "true;=x accepted");
	cr_expect_eq(sip_refer_sub_read(G("false;x=\"open"), &v, NULL), -EBADMSG,
		     "false;x=\"open accepted");
}

static int core(const char *in, struct sip_msg *m, struct sip_core *c)
{
	size_t n = strlen(in);

	cr_assert_eq(sip_msg_parse(m, guard_put(in, n), n), 0, "parse: %s", m->err);
	return sip_core_read(m, c);
}

/* For core_bad: do not check err_at (malformed_offsets_in_value does). */
static const char ANY_AT[] = "";

static void core_bad(const char *in, const char *err, const char *at_needle, uint16_t status)
{
	struct sip_msg m;
	struct sip_core c;
	int r = core(in, &m, &c);

	cr_assert_eq(r, -EBADMSG, "accepted:\n%s", in);
	cr_expect_not_null(m.err);
	if (m.err)
		cr_expect_str_eq(m.err, err, "err \"%s\", want \"%s\" for\n%s", m.err, err, in);
	if (at_needle == ANY_AT) {
		cr_expect_lt(m.err_at, strlen(in));
	} else if (at_needle) {
		const char *p = strstr(in, at_needle);

		cr_assert_not_null(p);
		cr_expect_eq(m.err_at, (size_t)(p - in), "err_at %zu, want %td for\n%s", m.err_at,
			     p - in, in);
	} else {
		cr_expect_eq(m.err_at, 0, "err_at %zu, want 0", m.err_at);
	}
	cr_expect_eq(m.err_status, status, "err_status %u, want %u", m.err_status, status);
}

Test(core, request)
{
	static const char in[] = REQ_LINE H_VIA
		"Via: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK-0\r\n" H_FROM H_TO H_CALLID H_CSEQ H_MF
		"Refer-To: <sip:+442071234567@acme.example.net>\r\n" END;
	struct sip_msg m;
	struct sip_core c;

	cr_assert_eq(core(in, &m, &c), 0, "%s", m.err);
	expect_str(c.via.transport, "UDP");
	expect_str(c.via.host, "198.51.100.7");
	cr_expect_eq(c.via.port, 5060);
	expect_str(c.via.branch, "z9hG4bK-1");
	cr_expect(c.via.rport);
	expect_str(c.from.display, "Agent");
	expect_str(c.from.uri.user, "agent");
	expect_str(c.from.tag, "f1");
	expect_str(c.to.uri.user, "+14155550100");
	expect_str(c.to.tag, "t1");
	expect_str(c.call_id, "7d41e2b8@198.51.100.7");
	cr_expect_eq(c.cseq.num, 2);
	cr_expect_eq(c.cseq.method_id, SIP_METHOD_REFER);
	cr_expect(c.has_max_forwards);
	cr_expect_eq(c.max_forwards, 70);
}

Test(core, request_uri)
{
	struct sip_msg m;
	struct sip_core c;

	cr_assert_eq(core(REQ_LINE H_VIA H_FROM H_TO H_CALLID H_CSEQ END, &m, &c), 0, "%s", m.err);
	cr_expect_eq(c.ruri.scheme, SIP_SCHEME_SIP);
	expect_str(c.ruri.user, "b2bua");
	expect_str(c.ruri.host, "203.0.113.5");
	cr_expect_eq(c.ruri.port, 5060);

	cr_assert_eq(core("REFER tel:+14155550100 SIP/2.0\r\n" H_VIA H_FROM H_TO H_CALLID H_CSEQ END,
			  &m, &c),
		     0, "%s", m.err);
	cr_expect_eq(c.ruri.scheme, SIP_SCHEME_TEL);
	expect_str(c.ruri.user, "+14155550100");

	core_bad("REFER mailto:a@b.example SIP/2.0\r\n" H_VIA H_FROM H_TO H_CALLID H_CSEQ END,
		 "unsupported Request-URI scheme", "mailto:", 416);
	core_bad("REFER sip:a@b?Route=%3Csip:x%3E SIP/2.0\r\n" H_VIA H_FROM H_TO H_CALLID H_CSEQ END,
		 "headers in Request-URI", "Route=", 400);
	core_bad("REFER sip:a@ SIP/2.0\r\n" H_VIA H_FROM H_TO H_CALLID H_CSEQ END,
		 "bad Request-URI", ANY_AT, 400);

	/* A response has no Request-URI. */
	cr_assert_eq(core(RSP_LINE H_VIA H_FROM H_TO H_CALLID H_CSEQ END, &m, &c), 0, "%s", m.err);
	cr_expect_eq(c.ruri.host.n, 0);
}

Test(core, compact_forms_and_via_list)
{
	static const char in[] =
		"BYE sip:a@b SIP/2.0\r\n"
		"v: SIP/2.0/UDP first.example.com;branch=z9hG4bKa , SIP/2.0/UDP second;branch=z9hG4bKb\r\n"
		"f: sip:a@b;tag=1\r\n"
		"t: sip:c@d\r\n"
		"i: x\r\n"
		"CSeq: 7 BYE\r\n"
		"\r\n";
	struct sip_msg m;
	struct sip_core c;

	cr_assert_eq(core(in, &m, &c), 0, "%s", m.err);
	expect_str(c.via.host, "first.example.com");
	expect_str(c.via.branch, "z9hG4bKa");
	expect_str(c.from.tag, "1");
	cr_expect_eq(c.to.tag.n, 0);
	expect_str(c.call_id, "x");
	cr_expect_not(c.has_max_forwards);
}

Test(core, response)
{
	static const char in[] = RSP_LINE H_VIA H_FROM H_TO H_CALLID H_CSEQ END;
	struct sip_msg m;
	struct sip_core c;

	cr_assert_eq(core(in, &m, &c), 0, "%s", m.err);
	cr_expect_eq(c.cseq.method_id, SIP_METHOD_REFER);
	/* A response's CSeq method is that of its request, not checked here. */
	cr_assert_eq(core(RSP_LINE H_VIA H_FROM H_TO H_CALLID "CSeq: 9 INVITE\r\n" END, &m, &c),
		     0, "%s", m.err);
}

Test(core, missing)
{
	core_bad(REQ_LINE H_FROM H_TO H_CALLID H_CSEQ END, "missing Via", NULL, 400);
	core_bad(REQ_LINE H_VIA H_TO H_CALLID H_CSEQ END, "missing From", NULL, 400);
	core_bad(REQ_LINE H_VIA H_FROM H_CALLID H_CSEQ END, "missing To", NULL, 400);
	core_bad(REQ_LINE H_VIA H_FROM H_TO H_CSEQ END, "missing Call-ID", NULL, 400);
	core_bad(REQ_LINE H_VIA H_FROM H_TO H_CALLID END, "missing CSeq", NULL, 400);
	/* Responses cannot be answered: err_status 0. */
	core_bad(RSP_LINE H_FROM H_TO H_CALLID H_CSEQ END, "missing Via", NULL, 0);
	core_bad(RSP_LINE H_VIA H_TO H_CALLID H_CSEQ END, "missing From", NULL, 0);
	core_bad(RSP_LINE H_VIA H_FROM H_CALLID H_CSEQ END, "missing To", NULL, 0);
	core_bad(RSP_LINE H_VIA H_FROM H_TO H_CSEQ END, "missing Call-ID", NULL, 0);
	core_bad(RSP_LINE H_VIA H_FROM H_TO H_CALLID END, "missing CSeq", NULL, 0);
}

Test(core, duplicates)
{
	core_bad(REQ_LINE H_VIA H_FROM H_TO "f: <sip:x@y>;tag=2\r\n" H_CALLID H_CSEQ END,
		 "more than one From", "f: <sip:x@y>", 400);
	core_bad(REQ_LINE H_VIA H_FROM H_TO H_CALLID H_CSEQ "To: <sip:z@y>\r\n" END,
		 "more than one To", "To: <sip:z@y>", 400);
	core_bad(REQ_LINE H_VIA H_FROM H_TO H_CALLID "i: other\r\n" H_CSEQ END,
		 "more than one Call-ID", "i: other", 400);
	core_bad(REQ_LINE H_VIA H_FROM H_TO H_CALLID H_CSEQ "CSeq: 2 REFER\r\n" END,
		 "more than one CSeq", "CSeq: 2 REFER\r\nContent", 400);
	core_bad(REQ_LINE H_VIA H_FROM H_TO H_CALLID H_CSEQ H_MF "Max-Forwards: 69\r\n" END,
		 "more than one Max-Forwards", "Max-Forwards: 69", 400);
	core_bad(RSP_LINE H_VIA H_FROM H_TO H_CALLID H_CSEQ H_CSEQ END, "more than one CSeq",
		 "CSeq: 2 REFER\r\nContent", 0);
	core_bad(RSP_LINE H_VIA H_FROM H_FROM H_TO H_CALLID H_CSEQ END, "more than one From",
		 "From: \"Agent\" <sip:agent@acme.example.net>;tag=f1\r\nTo", 0);
}

Test(core, cseq_method_mismatch)
{
	core_bad(REQ_LINE H_VIA H_FROM H_TO H_CALLID "CSeq: 2 INVITE\r\n" END,
		 "CSeq method does not match the request", "INVITE\r\n", 400);
	/* Method names are case-sensitive. */
	core_bad(REQ_LINE H_VIA H_FROM H_TO H_CALLID "CSeq: 2 refer\r\n" END,
		 "CSeq method does not match the request", "refer\r\n", 400);
	core_bad(REQ_LINE H_VIA H_FROM H_TO H_CALLID "CSeq: 2147483648 REFER\r\n" END,
		 "bad CSeq", "2147483648", 400);
	core_bad(RSP_LINE H_VIA H_FROM H_TO H_CALLID "CSeq: REFER\r\n" END, "bad CSeq", "REFER\r\n",
		 0);
}

Test(core, max_forwards)
{
	struct sip_msg m;
	struct sip_core c;

	cr_assert_eq(core(REQ_LINE H_VIA H_FROM H_TO H_CALLID H_CSEQ "Max-Forwards: 255\r\n" END,
			  &m, &c),
		     0, "%s", m.err);
	cr_expect_eq(c.max_forwards, 255);
	cr_assert_eq(core(REQ_LINE H_VIA H_FROM H_TO H_CALLID H_CSEQ "Max-Forwards: 0\r\n" END,
			  &m, &c),
		     0, "%s", m.err);
	cr_expect(c.has_max_forwards);
	cr_expect_eq(c.max_forwards, 0);
	/* RFC 4475 §3.1.2.3 */
	core_bad(REQ_LINE H_VIA H_FROM H_TO H_CALLID H_CSEQ "Max-Forwards: 256\r\n" END,
		 "bad Max-Forwards", "256", 400);
	core_bad(REQ_LINE H_VIA H_FROM H_TO H_CALLID H_CSEQ "Max-Forwards: 300000000000\r\n" END,
		 "bad Max-Forwards", "300000000000", 400);
	core_bad(REQ_LINE H_VIA H_FROM H_TO H_CALLID H_CSEQ "Max-Forwards: -1\r\n" END,
		 "bad Max-Forwards", "-1\r\n", 400);
	core_bad(RSP_LINE H_VIA H_FROM H_TO H_CALLID H_CSEQ "Max-Forwards: 256\r\n" END,
		 "bad Max-Forwards", "256", 0);
}

Test(core, malformed_values)
{
	core_bad(REQ_LINE "Via: SIP/2.0/UDP\r\n" H_FROM H_TO H_CALLID H_CSEQ END, "bad Via",
		 ANY_AT, 400);
	core_bad(REQ_LINE "Via: SIP/2.0/UDP h:99999\r\n" H_FROM H_TO H_CALLID H_CSEQ END, "bad Via",
		 ANY_AT, 400);
	core_bad(REQ_LINE "Via: \"SIP/2.0/UDP h\r\n" H_FROM H_TO H_CALLID H_CSEQ END, "bad Via",
		 "\"SIP/2.0/UDP h", 400);
	core_bad(REQ_LINE H_VIA "From: <sip:a@b\r\n" H_TO H_CALLID H_CSEQ END, "bad From", ANY_AT,
		 400);
	core_bad(REQ_LINE H_VIA H_FROM "To: Bob, Jr <sip:b@c>\r\n" H_CALLID H_CSEQ END, "bad To",
		 ANY_AT, 400);
	core_bad(REQ_LINE H_VIA H_FROM H_TO "Call-ID: a b\r\n" H_CSEQ END, "bad Call-ID", " b\r\n",
		 400);
	core_bad(REQ_LINE H_VIA H_FROM H_TO "Call-ID:\r\n" H_CSEQ END, "empty Call-ID",
		 "\r\nCSeq", 400);
	core_bad(RSP_LINE H_VIA H_FROM H_TO "Call-ID: a\x01\r\n" H_CSEQ END, "bad Call-ID",
		 "\x01", 0);
}

/* The offsets of the malformed-value errors above: checked with a looser
 * rule where the reader decides the byte, but always inside the value. */
Test(core, malformed_offsets_in_value)
{
	static const char *const inputs[] = {
		REQ_LINE "Via: SIP/2.0/UDP\r\n" H_FROM H_TO H_CALLID H_CSEQ END,
		REQ_LINE "Via: SIP/2.0/UDP h:99999\r\n" H_FROM H_TO H_CALLID H_CSEQ END,
		REQ_LINE H_VIA "From: <sip:a@b\r\n" H_TO H_CALLID H_CSEQ END,
		REQ_LINE H_VIA H_FROM "To: Bob, Jr <sip:b@c>\r\n" H_CALLID H_CSEQ END,
		REQ_LINE H_VIA H_FROM "To: <sip:b@>\r\n" H_CALLID H_CSEQ END,
	};
	static const char *const value_of[] = {
		"SIP/2.0/UDP\r\n", "SIP/2.0/UDP h:99999", "<sip:a@b\r\n", "Bob, Jr <sip:b@c>",
		"<sip:b@>",
	};

	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		struct sip_msg m;
		struct sip_core c;
		size_t lo = (size_t)(strstr(inputs[i], value_of[i]) - inputs[i]);
		size_t hi = lo + strlen(value_of[i]);

		cr_assert_eq(core(inputs[i], &m, &c), -EBADMSG, "%zu accepted", i);
		cr_expect(m.err_at >= lo && m.err_at <= hi, "%zu (%s): err_at %zu not in [%zu, %zu]",
			  i, m.err, m.err_at, lo, hi);
		cr_expect_eq(m.err_status, 400);
	}
}
