/* test_uri.c: tests of proto/uri.c, every table also run from memory that
 * ends at a PROT_NONE page. RFC 3261 §19.1 (§19.1.4 examples), RFC 3966, RFC 5118. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "guard.h"
#include "uri.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static struct str S(const char *s)
{
	return str_make(s, strlen(s));
}

static bool eq(struct str a, const char *lit)
{
	return str_eq(a, S(lit));
}

static bool inside(struct str part, struct str whole)
{
	return part.n == 0 ||
	       (part.p >= whole.p && part.p + part.n <= whole.p + whole.n);
}

/* ---- valid URIs, every field ---- */

#define NO_PORT (-1)

static const struct valid {
	const char *in;
	enum sip_scheme scheme;
	const char *user;     /* "" when absent */
	const char *password; /* NULL when absent */
	const char *host;
	enum sip_host_type type;
	int port;
	const char *params;
	const char *headers;
} valid[] = {
	/* RFC 3261 §19.1.3 examples */
	{ "sip:alice@atlanta.com", SIP_SCHEME_SIP, "alice", NULL, "atlanta.com",
	  SIP_HOST_NAME, NO_PORT, "", "" },
	{ "sip:alice:secretword@atlanta.com;transport=tcp", SIP_SCHEME_SIP, "alice",
	  "secretword", "atlanta.com", SIP_HOST_NAME, NO_PORT, "transport=tcp", "" },
	{ "sips:alice@atlanta.com?subject=project%20x&priority=urgent",
	  SIP_SCHEME_SIPS, "alice", NULL, "atlanta.com", SIP_HOST_NAME, NO_PORT, "",
	  "subject=project%20x&priority=urgent" },
	{ "sip:+1-212-555-1212:1234@gateway.com;user=phone", SIP_SCHEME_SIP,
	  "+1-212-555-1212", "1234", "gateway.com", SIP_HOST_NAME, NO_PORT,
	  "user=phone", "" },
	{ "sips:1212@gateway.com", SIP_SCHEME_SIPS, "1212", NULL, "gateway.com",
	  SIP_HOST_NAME, NO_PORT, "", "" },
	{ "sip:alice@192.0.2.4", SIP_SCHEME_SIP, "alice", NULL, "192.0.2.4",
	  SIP_HOST_IPV4, NO_PORT, "", "" },
	{ "sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com", SIP_SCHEME_SIP,
	  "", NULL, "atlanta.com", SIP_HOST_NAME, NO_PORT, "method=REGISTER",
	  "to=alice%40atlanta.com" },
	{ "sip:alice;day=tuesday@atlanta.com", SIP_SCHEME_SIP, "alice;day=tuesday",
	  NULL, "atlanta.com", SIP_HOST_NAME, NO_PORT, "", "" },
	/* scheme case, ports */
	{ "SIP:Alice@Example.COM", SIP_SCHEME_SIP, "Alice", NULL, "Example.COM",
	  SIP_HOST_NAME, NO_PORT, "", "" },
	{ "sIpS:host", SIP_SCHEME_SIPS, "", NULL, "host", SIP_HOST_NAME, NO_PORT, "", "" },
	{ "sip:host:5060", SIP_SCHEME_SIP, "", NULL, "host", SIP_HOST_NAME, 5060, "", "" },
	{ "sip:host:0", SIP_SCHEME_SIP, "", NULL, "host", SIP_HOST_NAME, 0, "", "" },
	{ "sip:host:65535", SIP_SCHEME_SIP, "", NULL, "host", SIP_HOST_NAME, 65535, "", "" },
	{ "sip:host:05060", SIP_SCHEME_SIP, "", NULL, "host", SIP_HOST_NAME, 5060, "", "" },
	/* IPv6 references, RFC 5118 §4.3/§4.4 */
	{ "sip:[2001:db8::10]", SIP_SCHEME_SIP, "", NULL, "2001:db8::10",
	  SIP_HOST_IPV6, NO_PORT, "", "" },
	{ "sip:[2001:db8::10]:5070", SIP_SCHEME_SIP, "", NULL, "2001:db8::10",
	  SIP_HOST_IPV6, 5070, "", "" },
	{ "sip:[2001:db8::10:5070]", SIP_SCHEME_SIP, "", NULL, "2001:db8::10:5070",
	  SIP_HOST_IPV6, NO_PORT, "", "" },
	{ "sip:user@[::ffff:192.0.2.1]:5060;transport=tcp", SIP_SCHEME_SIP, "user",
	  NULL, "::ffff:192.0.2.1", SIP_HOST_IPV6, 5060, "transport=tcp", "" },
	{ "sip:[::1]", SIP_SCHEME_SIP, "", NULL, "::1", SIP_HOST_IPV6, NO_PORT, "", "" },
	{ "sip:[::]", SIP_SCHEME_SIP, "", NULL, "::", SIP_HOST_IPV6, NO_PORT, "", "" },
	{ "sip:[1:2:3:4:5:6:7:8]", SIP_SCHEME_SIP, "", NULL, "1:2:3:4:5:6:7:8",
	  SIP_HOST_IPV6, NO_PORT, "", "" },
	{ "sip:[FE80::1]", SIP_SCHEME_SIP, "", NULL, "FE80::1", SIP_HOST_IPV6,
	  NO_PORT, "", "" },
	{ "sip:[1::]", SIP_SCHEME_SIP, "", NULL, "1::", SIP_HOST_IPV6, NO_PORT, "", "" },
	{ "sip:[1:2:3:4:5:6:7::]", SIP_SCHEME_SIP, "", NULL, "1:2:3:4:5:6:7::",
	  SIP_HOST_IPV6, NO_PORT, "", "" },
	{ "sip:[::2:3:4:5:6:7:8]", SIP_SCHEME_SIP, "", NULL, "::2:3:4:5:6:7:8",
	  SIP_HOST_IPV6, NO_PORT, "", "" },
	{ "sip:[1:2:3:4:5:6:1.2.3.4]", SIP_SCHEME_SIP, "", NULL,
	  "1:2:3:4:5:6:1.2.3.4", SIP_HOST_IPV6, NO_PORT, "", "" },
	/* userinfo: telephone-subscriber, ';' and '?' before '@', escapes */
	{ "sip:+1-212-555-1212;isub=1234;postd=pp22@gw.example.com;user=phone",
	  SIP_SCHEME_SIP, "+1-212-555-1212;isub=1234;postd=pp22", NULL,
	  "gw.example.com", SIP_HOST_NAME, NO_PORT, "user=phone", "" },
	{ "sip:alice:@host", SIP_SCHEME_SIP, "alice", "", "host", SIP_HOST_NAME,
	  NO_PORT, "", "" },
	{ "sip:%61lice@atlanta.com", SIP_SCHEME_SIP, "%61lice", NULL, "atlanta.com",
	  SIP_HOST_NAME, NO_PORT, "", "" },
	{ "sip:&=+$,;?/-_.!~*'():passwd@some.host.com:5555;transport=tcp",
	  SIP_SCHEME_SIP, "&=+$,;?/-_.!~*'()", "passwd", "some.host.com",
	  SIP_HOST_NAME, 5555, "transport=tcp", "" },
	{ "sip:the_user:-_.!~*'()&=+$,@some.host.com:5555;transport=tcp",
	  SIP_SCHEME_SIP, "the_user", "-_.!~*'()&=+$,", "some.host.com",
	  SIP_HOST_NAME, 5555, "transport=tcp", "" },
	{ "sip:userinfo123-_.!~*'()&=+$,;?/%25%67:pwd123%20&=+$,@some.host.com:5555;resource.cgi?h1=a&h2=",
	  SIP_SCHEME_SIP, "userinfo123-_.!~*'()&=+$,;?/%25%67", "pwd123%20&=+$,",
	  "some.host.com", SIP_HOST_NAME, 5555, "resource.cgi", "h1=a&h2=" },
	{ "sip:host?a=b@c", SIP_SCHEME_SIP, "host?a=b", NULL, "c", SIP_HOST_NAME,
	  NO_PORT, "", "" },
	{ "sip:host;x=y@example.com", SIP_SCHEME_SIP, "host;x=y", NULL,
	  "example.com", SIP_HOST_NAME, NO_PORT, "", "" },
	/* parameters and headers */
	{ "sip:host;lr", SIP_SCHEME_SIP, "", NULL, "host", SIP_HOST_NAME, NO_PORT,
	  "lr", "" },
	{ "sip:host;maddr=239.255.255.1;ttl=15;lr", SIP_SCHEME_SIP, "", NULL, "host",
	  SIP_HOST_NAME, NO_PORT, "maddr=239.255.255.1;ttl=15;lr", "" },
	{ "sip:host;maddr=[::1];ttl=0", SIP_SCHEME_SIP, "", NULL, "host",
	  SIP_HOST_NAME, NO_PORT, "maddr=[::1];ttl=0", "" },
	{ "sip:host;maddr=example.com.", SIP_SCHEME_SIP, "", NULL, "host",
	  SIP_HOST_NAME, NO_PORT, "maddr=example.com.", "" },
	{ "sip:h;m%61ddr=1.2.3.4", SIP_SCHEME_SIP, "", NULL, "h", SIP_HOST_NAME,
	  NO_PORT, "m%61ddr=1.2.3.4", "" },
	{ "sip:host;a=[]/:&+$-_.!~*'()%20", SIP_SCHEME_SIP, "", NULL, "host",
	  SIP_HOST_NAME, NO_PORT, "a=[]/:&+$-_.!~*'()%20", "" },
	{ "sip:host?a=[]/?:+$-_.!~*'()%20", SIP_SCHEME_SIP, "", NULL, "host",
	  SIP_HOST_NAME, NO_PORT, "", "a=[]/?:+$-_.!~*'()%20" },
	{ "sip:host?a=b?c", SIP_SCHEME_SIP, "", NULL, "host", SIP_HOST_NAME,
	  NO_PORT, "", "a=b?c" },
	{ "sip:h;p=a?h=b", SIP_SCHEME_SIP, "", NULL, "h", SIP_HOST_NAME, NO_PORT,
	  "p=a", "h=b" },
	{ "sip:h?h=", SIP_SCHEME_SIP, "", NULL, "h", SIP_HOST_NAME, NO_PORT, "", "h=" },
	{ "sip:alice@atlanta.com;transport=TCP;Method=INVITE;ttl=255;user=ip;lr",
	  SIP_SCHEME_SIP, "alice", NULL, "atlanta.com", SIP_HOST_NAME, NO_PORT,
	  "transport=TCP;Method=INVITE;ttl=255;user=ip;lr", "" },
	{ "sip:h:5060;lr?Route=%3Csip:p1%3E&Route=%3Csip:p2%3E", SIP_SCHEME_SIP, "",
	  NULL, "h", SIP_HOST_NAME, 5060, "lr", "Route=%3Csip:p1%3E&Route=%3Csip:p2%3E" },
	/* host names and IPv4 */
	{ "sip:example.com.", SIP_SCHEME_SIP, "", NULL, "example.com.",
	  SIP_HOST_NAME, NO_PORT, "", "" },
	{ "sip:a-b.c-d.example", SIP_SCHEME_SIP, "", NULL, "a-b.c-d.example",
	  SIP_HOST_NAME, NO_PORT, "", "" },
	{ "sip:123.example.com", SIP_SCHEME_SIP, "", NULL, "123.example.com",
	  SIP_HOST_NAME, NO_PORT, "", "" },
	{ "sip:x", SIP_SCHEME_SIP, "", NULL, "x", SIP_HOST_NAME, NO_PORT, "", "" },
	{ "sip:255.255.255.255", SIP_SCHEME_SIP, "", NULL, "255.255.255.255",
	  SIP_HOST_IPV4, NO_PORT, "", "" },
	{ "sip:0.0.0.0:1", SIP_SCHEME_SIP, "", NULL, "0.0.0.0", SIP_HOST_IPV4, 1,
	  "", "" },
	/* tel: (RFC 3966 §3, §6) */
	{ "tel:+1-201-555-0123", SIP_SCHEME_TEL, "+1-201-555-0123", NULL, "",
	  SIP_HOST_NONE, NO_PORT, "", "" },
	{ "tel:7042;phone-context=example.com", SIP_SCHEME_TEL, "7042", NULL, "",
	  SIP_HOST_NONE, NO_PORT, "phone-context=example.com", "" },
	{ "tel:863-1234;phone-context=+1-914-555", SIP_SCHEME_TEL, "863-1234", NULL,
	  "", SIP_HOST_NONE, NO_PORT, "phone-context=+1-914-555", "" },
	{ "TEL:+1(201)555.0123;ext=1234;isub=1411", SIP_SCHEME_TEL,
	  "+1(201)555.0123", NULL, "", SIP_HOST_NONE, NO_PORT, "ext=1234;isub=1411", "" },
	{ "tel:*67#;phone-context=example.com", SIP_SCHEME_TEL, "*67#", NULL, "",
	  SIP_HOST_NONE, NO_PORT, "phone-context=example.com", "" },
	{ "tel:abcd;phone-context=x", SIP_SCHEME_TEL, "abcd", NULL, "",
	  SIP_HOST_NONE, NO_PORT, "phone-context=x", "" },
	{ "tel:911", SIP_SCHEME_TEL, "911", NULL, "", SIP_HOST_NONE, NO_PORT, "", "" },
	{ "tel:+1;foo-bar=%20x;flag", SIP_SCHEME_TEL, "+1", NULL, "", SIP_HOST_NONE,
	  NO_PORT, "foo-bar=%20x;flag", "" },
};

static void check_valid(const struct valid *w, struct str s)
{
	struct sip_uri u;
	const char *err = NULL;
	int r = sip_uri_parse(s, &u, &err);

	cr_assert_eq(r, 0, "[%s]: %d at offset %td", w->in, r, err ? err - s.p : -1);
	cr_expect_eq(u.scheme, w->scheme, "[%s] scheme", w->in);
	cr_expect(eq(u.user, w->user), "[%s] user [%.*s]", w->in, STR_FMT(u.user));
	if (w->password == NULL)
		cr_expect(u.password.p == NULL, "[%s] password present", w->in);
	else
		cr_expect(u.password.p != NULL && eq(u.password, w->password),
			  "[%s] password [%.*s]", w->in, STR_FMT(u.password));
	cr_expect(eq(u.host, w->host), "[%s] host [%.*s]", w->in, STR_FMT(u.host));
	cr_expect_eq(u.host_type, w->type, "[%s] host type", w->in);
	cr_expect_eq(u.has_port, w->port != NO_PORT, "[%s] has_port", w->in);
	cr_expect_eq(u.port, w->port == NO_PORT ? 0 : w->port, "[%s] port", w->in);
	cr_expect(eq(u.params, w->params), "[%s] params [%.*s]", w->in,
		  STR_FMT(u.params));
	cr_expect(eq(u.headers, w->headers), "[%s] headers [%.*s]", w->in,
		  STR_FMT(u.headers));
	/* nothing copied: every slice points into the input */
	cr_expect(inside(u.user, s) && inside(u.password, s) && inside(u.host, s) &&
			  inside(u.params, s) && inside(u.headers, s),
		  "[%s] slice outside input", w->in);
	cr_expect(sip_uri_equal(&u, &u), "[%s] not equal to itself", w->in);
}

Test(uri_parse, valid_table)
{
	for (size_t i = 0; i < ARRAY_LEN(valid); i++)
		check_valid(&valid[i], S(valid[i].in));
}

Test(uri_parse, valid_table_guard_page)
{
	for (size_t i = 0; i < ARRAY_LEN(valid); i++)
		check_valid(&valid[i], guard_cstr(valid[i].in));
}

/* ---- invalid URIs, every error path, with the offending offset ---- */

static const struct invalid {
	const char *in;
	int err;
	int at;
} invalid[] = {
	/* scheme */
	{ "", EINVAL, 0 },
	{ "alice@atlanta.com", EINVAL, 5 },
	{ "<sip:alice@host>", EINVAL, 0 },
	{ "1sip:a", EINVAL, 0 },
	{ "sip", EINVAL, 3 },
	{ "si p:a", EINVAL, 2 },
	{ "http://example.com", EPROTONOSUPPORT, 0 },
	{ "mailto:a@b", EPROTONOSUPPORT, 0 },
	{ "sipx:a", EPROTONOSUPPORT, 0 },
	{ "im:alice@atlanta.com", EPROTONOSUPPORT, 0 },
	/* empty parts */
	{ "sip:", EINVAL, 4 },
	{ "sip:@host", EINVAL, 4 },
	{ "sip::pw@host", EINVAL, 4 },
	{ "sip:alice@", EINVAL, 10 },
	{ "sip:alice@:5060", EINVAL, 10 },
	{ "sip:;x", EINVAL, 4 },
	{ "sip:?a=b", EINVAL, 4 },
	/* bad characters */
	{ "sip:alice@atlanta .com", EINVAL, 17 },
	{ "sip:al ice@host", EINVAL, 6 },
	{ "sip:alice@host\r\n", EINVAL, 14 },
	{ "sip:a<b@host", EINVAL, 5 },
	{ "sip:a\"b@host", EINVAL, 5 },
	{ "sip:alice@host>", EINVAL, 14 },
	{ "sip:al\x01ice@host", EINVAL, 6 },
	{ "sip:al\x7f@host", EINVAL, 6 },
	{ "sip:al\xc3\xa9@host", EINVAL, 6 },
	{ "sip:host#frag", EINVAL, 8 },
	{ "sip:alice@host@x", EINVAL, 14 },
	{ "sip:alice:p@w@host", EINVAL, 13 },
	{ "sip:user@host;a=b@c", EINVAL, 17 },
	/* escapes in user and password */
	{ "sip:%4@host", EINVAL, 4 },
	{ "sip:%zzalice@host", EINVAL, 4 },
	{ "sip:alice%@host", EINVAL, 9 },
	{ "sip:alice%4@host", EINVAL, 9 },
	{ "sip:alice:pw%2@host", EINVAL, 12 },
	{ "sip:alice:pw%@host", EINVAL, 12 },
	{ "sip:alice:p w@host", EINVAL, 11 },
	{ "sip:alice:p;w@host", EINVAL, 11 },
	{ "sip:alice:p:w@host", EINVAL, 11 },
	/* port */
	{ "sip:host:", EINVAL, 9 },
	{ "sip:host:65536", EINVAL, 13 },
	{ "sip:host:99999999999", EINVAL, 13 },
	{ "sip:host:50a", EINVAL, 11 },
	{ "sip:host:-1", EINVAL, 9 },
	{ "sip:host:5060:5061", EINVAL, 13 },
	/* IPv4 and host names */
	{ "sip:256.1.1.1", EINVAL, 6 },
	{ "sip:1.2.3", EINVAL, 9 },
	{ "sip:1.2.3.4.5", EINVAL, 11 },
	{ "sip:01.2.3.4", EINVAL, 5 },
	{ "sip:1.2.3.04", EINVAL, 11 },
	{ "sip:1..2.3.4", EINVAL, 6 },
	{ "sip:1.2.3.4.", EINVAL, 11 },
	{ "sip:.1.2.3.4", EINVAL, 4 },
	{ "sip:1234", EINVAL, 7 },
	{ "sip:example.123", EINVAL, 12 },
	{ "sip:-example.com", EINVAL, 4 },
	{ "sip:example-.com", EINVAL, 12 },
	{ "sip:exa_mple.com", EINVAL, 7 },
	{ "sip:example..com", EINVAL, 12 },
	{ "sip:.", EINVAL, 4 },
	{ "sip:example.com-", EINVAL, 16 },
	{ "sip:exam%70le.com", EINVAL, 8 },
	/* IPv6 references (RFC 5118 §4.2, §4.4 among them) */
	{ "sip:[::1", EINVAL, 8 },
	{ "sip:[]", EINVAL, 5 },
	{ "sip:[::1]x", EINVAL, 9 },
	{ "sip:[::1]]", EINVAL, 9 },
	{ "sip:[1:2:3:4:5:6:7:8:9]", EINVAL, 21 },
	{ "sip:[2001:db8:::192.0.2.1]", EINVAL, 15 },
	{ "sip:[2001:db8::10]5070", EINVAL, 18 },
	{ "sip:[fe80::1%25eth0]", EINVAL, 12 },
	{ "sip:[::1]:", EINVAL, 10 },
	{ "sip:[12345::]", EINVAL, 9 },
	{ "sip:[1.2.3.4]", EINVAL, 12 },
	{ "sip:[::1.2.3.256]", EINVAL, 15 },
	{ "sip:[1:2:3:4:5:6:7:8::]", EINVAL, 21 },
	{ "sip:[::1::2]", EINVAL, 9 },
	{ "sip:[:1]", EINVAL, 5 },
	{ "sip:[1:]", EINVAL, 7 },
	{ "sip:[::ffff:01.2.3.4]", EINVAL, 13 },
	{ "sip:[g::1]", EINVAL, 5 },
	{ "sip:[1:2:3:4:5:6:7]", EINVAL, 18 },
	{ "sip:[1:2:3:4:5:6:7:1.2.3.4]", EINVAL, 19 },
	{ "sip:[::1:2:3:4:5:6:7:8]", EINVAL, 21 },
	/* parameters */
	{ "sip:host;", EINVAL, 9 },
	{ "sip:host;;a", EINVAL, 9 },
	{ "sip:host;=a", EINVAL, 9 },
	{ "sip:host;a=", EINVAL, 11 },
	{ "sip:host;a=b=c", EINVAL, 12 },
	{ "sip:host;a=\"b\"", EINVAL, 11 },
	{ "sip:host;a=b c", EINVAL, 12 },
	{ "sip:host;a b", EINVAL, 10 },
	{ "sip:host;a=%g1", EINVAL, 11 },
	{ "sip:host;a%=1", EINVAL, 10 },
	{ "sip:host;transport=tcp;transport=udp", EINVAL, 23 },
	{ "sip:host;maddr=1.2.3.4;m%61ddr=10.0.0.1", EINVAL, 23 },
	{ "sip:host;LR;lr", EINVAL, 12 },
	{ "sip:host;maddr=%31.2.3.4", EINVAL, 15 },
	{ "sip:host;maddr", EINVAL, 14 },
	{ "sip:host;maddr=", EINVAL, 15 },
	{ "sip:host;maddr=010.0.0.1", EINVAL, 16 },
	{ "sip:host;maddr=[::1", EINVAL, 19 },
	{ "sip:host;maddr=[::1]x", EINVAL, 20 },
	{ "sip:host;maddr=[::1]:5060", EINVAL, 20 },
	{ "sip:host;maddr=a_b", EINVAL, 16 },
	{ "sip:host;ttl=256", EINVAL, 16 },
	{ "sip:host;ttl=1234", EINVAL, 16 },
	{ "sip:host;ttl=a", EINVAL, 13 },
	{ "sip:host;ttl", EINVAL, 12 },
	/* headers */
	{ "sip:host?", EINVAL, 9 },
	{ "sip:host?a", EINVAL, 10 },
	{ "sip:host?=b", EINVAL, 9 },
	{ "sip:host?a=b&", EINVAL, 13 },
	{ "sip:host?a=b&&c=d", EINVAL, 13 },
	{ "sip:host?a=b=c", EINVAL, 12 },
	{ "sip:host?a=b;c=d", EINVAL, 12 },
	{ "sip:host?a=%2", EINVAL, 11 },
	{ "sip:host;a=1?b=2;c", EINVAL, 16 },
	/* tel: */
	{ "tel:", EINVAL, 4 },
	{ "tel:+", EINVAL, 5 },
	{ "tel:+-", EINVAL, 6 },
	{ "tel:+1a", EINVAL, 6 },
	{ "tel:xyz", EINVAL, 4 },
	{ "tel:;a", EINVAL, 4 },
	{ "tel:+1;", EINVAL, 7 },
	{ "tel:+1;a_b=1", EINVAL, 8 },
	{ "tel:+1?x=y", EINVAL, 6 },
	{ "tel:+1;ext=1;ext=2", EINVAL, 13 },
	{ "tel:+1@host", EINVAL, 6 },
	{ "tel:+1 234", EINVAL, 6 },
	{ "tel:+1;a=", EINVAL, 9 },
	{ "tel:+1;=a", EINVAL, 7 },
	{ "tel:+1;a=b c", EINVAL, 10 },
	{ "tel:1%32", EINVAL, 5 },
};

static void check_invalid(const struct invalid *w, struct str s)
{
	struct sip_uri u;
	const char *err = NULL;
	int r = sip_uri_parse(s, &u, &err);

	cr_expect_eq(r, -w->err, "[%s]: returned %d", w->in, r);
	cr_expect_eq(err, s.p + w->at, "[%s]: err_at %td, want %d", w->in,
		     err ? err - s.p : -1, w->at);
}

Test(uri_parse, invalid_table)
{
	for (size_t i = 0; i < ARRAY_LEN(invalid); i++)
		check_invalid(&invalid[i], S(invalid[i].in));
}

Test(uri_parse, invalid_table_guard_page)
{
	for (size_t i = 0; i < ARRAY_LEN(invalid); i++)
		check_invalid(&invalid[i], guard_cstr(invalid[i].in));
}

Test(uri_parse, nul_bytes)
{
	static const char host[] = "sip:alice@ho\0st";
	static const char user[] = "sip:al\0ice@host";
	struct sip_uri u;
	const char *err;
	struct str s;

	s = guard_str(host, sizeof(host) - 1);
	cr_expect_eq(sip_uri_parse(s, &u, &err), -EINVAL);
	cr_expect_eq(err, s.p + 12);
	s = guard_str(user, sizeof(user) - 1);
	cr_expect_eq(sip_uri_parse(s, &u, &err), -EINVAL);
	cr_expect_eq(err, s.p + 6);
}

Test(uri_parse, err_at_optional)
{
	struct sip_uri u;

	cr_expect_eq(sip_uri_parse(S("sip:"), &u, NULL), -EINVAL);
	cr_expect_eq(sip_uri_parse(S("foo:bar"), &u, NULL), -EPROTONOSUPPORT);
	cr_expect_eq(sip_uri_parse(STR_NULL, &u, NULL), -EINVAL);
}

Test(uri_parse, err_at_untouched_on_success)
{
	struct sip_uri u;
	const char *err = "sentinel";

	cr_assert_eq(sip_uri_parse(S("sip:a@b"), &u, &err), 0);
	cr_expect_str_eq(err, "sentinel");
}

/* Build "sip:h;p0;p1;..." with n parameters, or "?h0=&h1=..." headers. */
static struct str many(char *buf, size_t cap, int n, bool headers)
{
	size_t len = (size_t)snprintf(buf, cap, "sip:h");

	for (int i = 0; i < n; i++) {
		if (headers)
			len += (size_t)snprintf(buf + len, cap - len, "%sh%d=",
						i ? "&" : "?", i);
		else
			len += (size_t)snprintf(buf + len, cap - len, ";p%d", i);
		cr_assert(len < cap);
	}
	return str_make(buf, len);
}

Test(uri_parse, limits)
{
	char buf[1024];
	struct sip_uri u, v;
	const char *err;
	struct str s;

	s = many(buf, sizeof(buf), SIP_URI_MAX_PARAMS, false);
	cr_expect_eq(sip_uri_parse(guard_str(s.p, s.n), &u, &err), 0);
	cr_expect(sip_uri_equal(&u, &u));
	s = many(buf, sizeof(buf), SIP_URI_MAX_PARAMS + 1, false);
	s = guard_str(s.p, s.n);
	cr_expect_eq(sip_uri_parse(s, &u, &err), -EINVAL);
	cr_expect(str_eq(str_span(err, s.p + s.n), STR("p64")));

	s = many(buf, sizeof(buf), SIP_URI_MAX_HEADERS, true);
	cr_expect_eq(sip_uri_parse(guard_str(s.p, s.n), &v, &err), 0);
	cr_expect(sip_uri_equal(&v, &v));
	s = many(buf, sizeof(buf), SIP_URI_MAX_HEADERS + 1, true);
	s = guard_str(s.p, s.n);
	cr_expect_eq(sip_uri_parse(s, &u, &err), -EINVAL);
	cr_expect(str_eq(str_span(err, s.p + s.n), STR("h64=")));
}

/* ---- sip_uri_param ---- */

Test(uri_param, lookup)
{
	struct sip_uri u;
	struct str v;

	cr_assert_eq(sip_uri_parse(S("sip:h;transport=TCP;lr;maddr=[::1];x=%41"), &u, NULL), 0);
	cr_expect(sip_uri_param(&u, STR("TRANSPORT"), &v) && eq(v, "TCP"));
	cr_expect(sip_uri_param(&u, STR("lr"), &v) && v.n == 0);
	cr_expect(sip_uri_param(&u, STR("maddr"), &v) && eq(v, "[::1]"));
	cr_expect(sip_uri_param(&u, STR("x"), &v) && eq(v, "%41"), "still escaped");
	cr_expect_not(sip_uri_param(&u, STR("ttl"), &v));
	cr_expect_not(sip_uri_param(&u, STR("l"), &v));
	cr_expect(sip_uri_param(&u, STR("lr"), NULL));
}

Test(uri_param, escaped_name_is_found)
{
	struct sip_uri u;
	struct str v;

	cr_assert_eq(sip_uri_parse(guard_cstr("sip:h;m%61ddr=192.0.2.1"), &u, NULL), 0);
	cr_expect(sip_uri_param(&u, STR("maddr"), &v) && eq(v, "192.0.2.1"));
}

Test(uri_param, none_and_tel)
{
	struct sip_uri u;
	struct str v;

	cr_assert_eq(sip_uri_parse(guard_cstr("sip:alice@h"), &u, NULL), 0);
	cr_expect_not(sip_uri_param(&u, STR("lr"), &v));
	cr_assert_eq(sip_uri_parse(guard_cstr("tel:7042;phone-context=example.com"), &u, NULL), 0);
	cr_expect(sip_uri_param(&u, STR("Phone-Context"), &v) && eq(v, "example.com"));
}

/* ---- sip_uri_header_next ---- */

/* Render a header walk as "name=value|..." with "ERR" where it fails. */
static void walk_headers(struct str cur, char *out, size_t cap)
{
	struct str name, value;
	size_t n = 0;
	int r;

	out[0] = '\0';
	while ((r = sip_uri_header_next(&cur, &name, &value)) == 1) {
		n += (size_t)snprintf(out + n, cap - n, "%.*s=%.*s|", STR_FMT(name),
				      STR_FMT(value));
		cr_assert(n < cap);
	}
	if (r < 0) {
		cr_assert_eq(r, -EINVAL);
		snprintf(out + n, cap - n, "ERR");
	}
}

static const struct {
	const char *in;
	const char *out;
} header_walks[] = {
	{ "", "" },
	{ "A=b&C=d", "A=b|C=d|" },
	{ "subject=project%20x&priority=urgent", "subject=project%20x|priority=urgent|" },
	{ "A=&B=", "A=|B=|" },
	{ "A=b", "A=b|" },
	{ "A=b&", "A=b|ERR" },
	{ "A=b&&C=d", "A=b|ERR" },
	{ "=b", "ERR" },
	{ "A", "ERR" },
	{ "A=b&C", "A=b|ERR" },
	{ "&A=b", "A=b|" }, /* the separator a previous call leaves */
};

Test(uri_headers, walk)
{
	char out[256];

	for (size_t i = 0; i < ARRAY_LEN(header_walks); i++) {
		walk_headers(S(header_walks[i].in), out, sizeof(out));
		cr_expect_str_eq(out, header_walks[i].out, "[%s]", header_walks[i].in);
		walk_headers(guard_cstr(header_walks[i].in), out, sizeof(out));
		cr_expect_str_eq(out, header_walks[i].out, "[%s] guarded",
				 header_walks[i].in);
	}
}

Test(uri_headers, from_parsed_uri)
{
	struct sip_uri u;
	struct str cur, name, value;

	cr_assert_eq(sip_uri_parse(guard_cstr("sip:h?A=b&C=d"), &u, NULL), 0);
	cur = u.headers;
	cr_assert_eq(sip_uri_header_next(&cur, &name, &value), 1);
	cr_expect(eq(name, "A") && eq(value, "b"));
	cr_assert_eq(sip_uri_header_next(&cur, &name, &value), 1);
	cr_expect(eq(name, "C") && eq(value, "d"));
	cr_expect_eq(sip_uri_header_next(&cur, &name, &value), 0);
	cr_expect_eq(sip_uri_header_next(&cur, &name, &value), 0);
	cur = STR_NULL;
	cr_expect_eq(sip_uri_header_next(&cur, &name, &value), 0);
}

/* ---- sip_unescape ---- */

static const struct {
	const char *in;
	int ret;
	const char *out;
	size_t out_len;
} unescapes[] = {
	{ "", 0, "", 0 },
	{ "abc", 3, "abc", 3 },
	{ "%61%62c", 3, "abc", 3 },
	{ "project%20x", 9, "project x", 9 },
	{ "%4a%4A", 2, "JJ", 2 },
	{ "%00", 1, "\0", 1 },
	{ "a%0d%0Ab", 4, "a\r\nb", 4 },
	{ "%ff", 1, "\xff", 1 },
	{ "%25", 1, "%", 1 },
	{ "%", -EINVAL, NULL, 0 },
	{ "%4", -EINVAL, NULL, 0 },
	{ "abc%", -EINVAL, NULL, 0 },
	{ "%zz", -EINVAL, NULL, 0 },
	{ "%4g", -EINVAL, NULL, 0 },
	{ "ok%20then%2", -EINVAL, NULL, 0 },
};

static void check_unescape(size_t i, struct str in)
{
	char out[64];
	int r;

	memset(out, '#', sizeof(out));
	r = sip_unescape(in, out, sizeof(out));
	cr_expect_eq(r, unescapes[i].ret, "[%s] returned %d", unescapes[i].in, r);
	if (r >= 0)
		cr_expect(memcmp(out, unescapes[i].out, unescapes[i].out_len) == 0,
			  "[%s] output", unescapes[i].in);
}

Test(uri_unescape, table)
{
	for (size_t i = 0; i < ARRAY_LEN(unescapes); i++) {
		check_unescape(i, S(unescapes[i].in));
		check_unescape(i, guard_cstr(unescapes[i].in));
	}
}

Test(uri_unescape, capacity)
{
	char out[4] = "####";

	cr_expect_eq(sip_unescape(S("%61bc"), out, 3), 3);
	cr_expect(memcmp(out, "abc#", 4) == 0, "no byte past the result");
	memcpy(out, "####", 4);
	cr_expect_eq(sip_unescape(S("%61bc"), out, 2), -ENOSPC);
	cr_expect(memcmp(out, "####", 4) == 0, "nothing written on failure");
	cr_expect_eq(sip_unescape(S("%zz"), out, 0), -EINVAL, "a bad escape wins");
	cr_expect_eq(sip_unescape(STR_NULL, NULL, 0), 0);
	cr_expect_eq(sip_unescape(S("a"), NULL, 0), -ENOSPC);
}

/* ---- sip_uri_equal ---- */

static const struct {
	const char *a;
	const char *b;
	bool equal;
} pairs[] = {
	/* RFC 3261 §19.1.4: equivalent sets */
	{ "sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp", true },
	{ "sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5", true },
	{ "sip:carol@chicago.com", "sip:carol@chicago.com;security=on", true },
	{ "sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on", true },
	{ "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
	  "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com", true },
	{ "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
	  "sip:alice@atlanta.com?priority=urgent&subject=project%20x", true },
	/* RFC 3261 §19.1.4: non-equivalent sets */
	{ "SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP", false },
	{ "sip:bob@biloxi.com", "sip:bob@biloxi.com:5060", false },
	{ "sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp", false },
	{ "sip:bob@biloxi.com", "sip:bob@192.0.2.4:5060;transport=tcp", false },
	{ "sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting", false },
	{ "sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4", false },
	/* §19.1.4's note: equality is not transitive */
	{ "sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off", false },
	/* scheme */
	{ "sip:alice@atlanta.com", "sips:alice@atlanta.com", false },
	{ "sips:alice@atlanta.com", "SIPS:alice@ATLANTA.com", true },
	/* userinfo: case-sensitive; unreserved escapes equal, reserved not */
	{ "sip:alice@h", "sip:Alice@h", false },
	{ "sip:%41lice@h", "sip:alice@h", false },
	{ "sip:%41lice@h", "sip:Alice@h", true },
	{ "sip:a%3Bb@h", "sip:a;b@h", false },
	{ "sip:a%3bb@h", "sip:a%3Bb@h", true },
	{ "sip:+1-212-555-1212@h;user=phone", "sip:+12125551212@h;user=phone", false },
	{ "sip:h", "sip:a@h", false },
	{ "sip:a:@h", "sip:a@h", false },
	{ "sip:a:p@h", "sip:a@h", false },
	{ "sip:a:p@h", "sip:a:%70@h", true },
	{ "sip:a:p@h", "sip:a:P@h", false },
	{ "sip:a:@h", "sip:a:@h", true },
	/* host */
	{ "sip:[2001:db8::1]", "sip:[2001:DB8:0:0:0:0:0:1]", true },
	{ "sip:[::ffff:192.0.2.1]", "sip:[::ffff:c000:201]", true },
	{ "sip:[2001:db8::1]", "sip:[2001:db8::2]", false },
	{ "sip:[::ffff:192.0.2.4]", "sip:192.0.2.4", false },
	{ "sip:192.0.2.4", "sip:192.0.2.4", true },
	{ "sip:example.com", "sip:example.com.", false },
	/* port */
	{ "sip:h:5060", "sip:h:05060", true },
	{ "sip:h:5060", "sip:h:5061", false },
	{ "sip:h:0", "sip:h", false },
	/* parameters */
	{ "sip:h;maddr=x.com", "sip:h", false },
	{ "sip:h;ttl=1", "sip:h", false },
	{ "sip:h;user=phone", "sip:h", false },
	{ "sip:h;method=INVITE", "sip:h", false },
	{ "sip:h", "sip:h;transport=udp", false },
	{ "sip:h;maddr=X.com", "sip:h;MADDR=x.COM", true },
	{ "sip:h;lr", "sip:h", true },
	{ "sip:h;lr", "sip:h;lr=on", false },
	{ "sip:h;foo=1", "sip:h;foo=2", false },
	{ "sip:h;foo=ABC", "sip:h;FOO=abc", true },
	{ "sip:h;foo=%41", "sip:h;foo=a", true },
	{ "sip:h;foo=a%2Fb", "sip:h;foo=a/b", false },
	{ "sip:h;m%61ddr=1.2.3.4", "sip:h;maddr=1.2.3.4", true },
	{ "sip:h;transport=tcp", "sip:h;transport=%74cp", true },
	{ "sip:h;a=1;b=2;c=3", "sip:h;c=3;a=1;b=2", true },
	/* headers */
	{ "sip:h?a=1&b=2", "sip:h?B=2&A=1", true },
	{ "sip:h?a=1&a=2", "sip:h?a=2&a=1", false },
	{ "sip:h?a=1&a=2&b=3", "sip:h?b=3&a=1&a=2", true },
	{ "sip:h?a=1", "sip:h?a=1&a=1", false },
	{ "sip:h?a=1&a=1", "sip:h?a=1&b=1", false },
	{ "sip:h?a=x", "sip:h?a=X", false },
	{ "sip:h?to=sip:bob%40biloxi.com", "sip:h?to=sip%3Abob%40biloxi.com", true },
	{ "sip:h?%61=1", "sip:h?A=1", true },
	{ "sip:h?a=", "sip:h?a=", true },
	{ "sip:h?a=", "sip:h", false },
	{ "sip:h?subject=project%20x", "sip:h?subject=project%20X", false },
	/* tel: RFC 3966 §4 */
	{ "tel:+1-201-555-0123", "tel:+12015550123", true },
	{ "tel:+1(201)555.0123", "tel:+12015550123", true },
	{ "tel:+1", "tel:+12", false },
	{ "tel:+1234", "tel:1234;phone-context=x", false },
	{ "tel:7042;phone-context=example.com", "tel:7042;PHONE-CONTEXT=EXAMPLE.COM", true },
	{ "tel:7042;phone-context=example.com", "tel:7042", false },
	{ "tel:7042;phone-context=ex-ample.com", "tel:7042;phone-context=example.com", false },
	{ "tel:863-1234;phone-context=+1-914-555", "tel:8631234;phone-context=+1914555", true },
	{ "tel:+1;ext=1-2", "tel:+1;ext=12", true },
	{ "tel:+1;isub=ab", "tel:+1;isub=AB", true },
	{ "tel:+1;a=1;b=2", "tel:+1;b=2;a=1", true },
	{ "tel:+1;a=1", "tel:+1;a=2", false },
	{ "tel:abc;phone-context=x", "tel:ABC;phone-context=x", true },
	{ "tel:+12015550123", "sip:+12015550123@h;user=phone", false },
};

static void check_pair(size_t i, struct str a, struct str b)
{
	struct sip_uri ua, ub;

	cr_assert_eq(sip_uri_parse(a, &ua, NULL), 0, "[%s]", pairs[i].a);
	cr_assert_eq(sip_uri_parse(b, &ub, NULL), 0, "[%s]", pairs[i].b);
	cr_expect_eq(sip_uri_equal(&ua, &ub), pairs[i].equal, "[%s] vs [%s]",
		     pairs[i].a, pairs[i].b);
	cr_expect_eq(sip_uri_equal(&ub, &ua), pairs[i].equal, "[%s] vs [%s]",
		     pairs[i].b, pairs[i].a);
	cr_expect(sip_uri_equal(&ua, &ua) && sip_uri_equal(&ub, &ub));
}

Test(uri_equal, pairs)
{
	for (size_t i = 0; i < ARRAY_LEN(pairs); i++)
		check_pair(i, S(pairs[i].a), S(pairs[i].b));
}

Test(uri_equal, pairs_guard_page)
{
	for (size_t i = 0; i < ARRAY_LEN(pairs); i++)
		check_pair(i, guard_cstr(pairs[i].a), guard_cstr(pairs[i].b));
}

/* A struct built by hand, not by the parser, must not make comparison
 * read outside its slices either. */
Test(uri_equal, hand_built)
{
	struct sip_uri a = { .scheme = SIP_SCHEME_SIP, .host_type = SIP_HOST_NAME };
	struct sip_uri b = a;

	a.host = STR("h");
	b.host = STR("H");
	a.user = guard_cstr("x%");
	b.user = guard_cstr("x%");
	cr_expect(sip_uri_equal(&a, &b));
	b.user = guard_cstr("x%4");
	cr_expect_not(sip_uri_equal(&a, &b));
	b.user = a.user;
	a.params = guard_cstr("a=1;;");
	cr_expect_not(sip_uri_equal(&a, &b), "a malformed list never matches");
	a.params = STR_NULL;
	a.headers = guard_cstr("x=1&");
	b.headers = guard_cstr("x=1&");
	cr_expect_not(sip_uri_equal(&a, &b), "malformed headers never match");
}

Test(uri_equal, hand_built_ipv6_and_tel)
{
	struct sip_uri a = { .scheme = SIP_SCHEME_SIP, .host_type = SIP_HOST_IPV6 };
	struct sip_uri b = a;

	/* text that is no address falls back to comparing the spelling */
	a.host = guard_cstr("not:an:address");
	b.host = guard_cstr("NOT:AN:ADDRESS");
	cr_expect(sip_uri_equal(&a, &b));
	b.host = guard_cstr("::1");
	cr_expect_not(sip_uri_equal(&a, &b));

	a = (struct sip_uri){ .scheme = SIP_SCHEME_TEL };
	b = a;
	cr_expect(sip_uri_equal(&a, &b));
	b.user = guard_cstr("+1");
	cr_expect_not(sip_uri_equal(&a, &b));
	cr_expect_not(sip_uri_equal(&b, &a));
}
