/* test_rfc4475.c: the SIP torture messages of RFC 4475 §3, one test each,
 * kept byte-exact under tests/data/rfc4475/; what each must yield is the RFC's. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <criterion/criterion.h>

#include "guard.h"
#include "hdr.h"
#include "ip.h"
#include "param.h"

#ifndef DATA_DIR
#define DATA_DIR "tests/data"
#endif

static struct sip_msg m;
static struct sip_core core;

/* The message ends right before a PROT_NONE page, so an overread crashes. */
static struct str load(const char *name)
{
	char path[512];
	const char *dir = getenv("XFERD_DATA") ? getenv("XFERD_DATA") : DATA_DIR;
	static char tmp[65536];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/rfc4475/%s.sip", dir, name);
	f = fopen(path, "rb");
	cr_assert(f, "cannot open %s", path);
	n = fread(tmp, 1, sizeof(tmp), f);
	fclose(f);
	return str_make(guard_put_pinned(tmp, n), n);
}

/* Parse and read the core headers; returns the first failure's status. */
static int process(const char *name)
{
	struct str s = load(name);

	if (sip_msg_parse(&m, s.p, s.n))
		return -1;
	return sip_core_read(&m, &core) ? -2 : 0;
}

static void expect_ok(const char *name)
{
	int r = process(name);

	cr_assert_eq(r, 0, "%s: %s at byte %zu", name, m.err ? m.err : "?", m.err_at);
}

static void expect_reject(const char *name, int stage, unsigned status)
{
	int r = process(name);

	cr_assert_eq(r, stage, "%s: stage %d, want %d (%s)", name, r, stage,
		     m.err ? m.err : "accepted");
	cr_assert_eq(m.err_status, status, "%s: status %u, want %u (%s)", name,
		     m.err_status, status, m.err);
}

static bool str_is(struct str s, const char *lit)
{
	return s.n == strlen(lit) && (s.n == 0 || memcmp(s.p, lit, s.n) == 0);
}

#define assert_str(s, lit) cr_assert(str_is((s), (lit)), "got '%.*s', want '%s'", STR_FMT(s), (lit))

static unsigned list_count(enum sip_hdr_id id)
{
	const struct sip_hdr *h = NULL;
	struct str cur = STR_NULL, v;
	unsigned n = 0;

	while (sip_msg_list_next(&m, id, &h, &cur, &v) > 0)
		n++;
	return n;
}

/* §3.1.1 Valid messages */

Test(valid, wsinv)
{
	struct sip_addr a;

	expect_ok("wsinv");
	assert_str(m.method, "INVITE");
	assert_str(core.call_id, "wsinv.ndaksdj@192.0.2.1");
	cr_assert_eq(core.cseq.num, 9);
	assert_str(core.via.transport, "UDP");
	assert_str(core.via.host, "192.0.2.2");
	assert_str(core.via.branch, "390skdjuw");
	cr_assert_eq(core.max_forwards, 68);
	assert_str(core.to.uri.user, "vivekg");
	assert_str(core.to.tag, "1918181833n");
	assert_str(core.from.display, "J Rosenberg \\\\\\\"");
	assert_str(core.from.tag, "98asjd8");
	cr_assert_eq(list_count(SIP_HDR_VIA), 3);
	cr_assert(sip_addr_read(sip_msg_hdr_first(&m, SIP_HDR_CONTACT)->value, &a, NULL) == 0);
	cr_assert_eq(m.content_length, 150);
	cr_assert_eq(m.body.n, 150);
}

Test(valid, intmeth)
{
	expect_ok("intmeth");
	assert_str(m.method, "!interesting-Method0123456789_*+`.%indeed'~");
	cr_assert_eq(m.method_id, SIP_METHOD_OTHER);
	assert_str(core.cseq.method, "!interesting-Method0123456789_*+`.%indeed'~");
	assert_str(core.call_id, "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{");
	assert_str(core.to.uri.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
	cr_assert_eq(core.ruri.scheme, SIP_SCHEME_SIP);
	assert_str(core.ruri.host, "example.com");
}

Test(valid, esc01)
{
	struct sip_uri other;

	expect_ok("esc01");
	assert_str(core.ruri.user, "sips%3Auser%40example.com");
	assert_str(core.ruri.host, "example.net");
	/* §19.1.4: an escaped character equals its plain form. */
	cr_assert(sip_uri_parse(STR("sip:sips:user@example.com@example.net"), &other, NULL) != 0 ||
		  !sip_uri_equal(&core.ruri, &other));
	assert_str(core.from.uri.user, "I%20have%20spaces");
	assert_str(core.to.uri.user, "%75se%72");
	cr_assert(sip_uri_parse(STR("sip:user@example.com"), &other, NULL) == 0);
	cr_assert(sip_uri_equal(&core.to.uri, &other));
}

Test(valid, escnull)
{
	const struct sip_hdr *h;
	struct sip_contact c1, c2;

	expect_ok("escnull");
	h = sip_msg_hdr_first(&m, SIP_HDR_CONTACT);
	cr_assert(h && sip_msg_hdr_next(&m, h));
	cr_assert(sip_contact_read(h->value, &c1, NULL) == 0);
	cr_assert(sip_contact_read(sip_msg_hdr_next(&m, h)->value, &c2, NULL) == 0);
	assert_str(c1.addr.uri.user, "%00");
	assert_str(c2.addr.uri.user, "%00%00");
	cr_assert(!sip_uri_equal(&c1.addr.uri, &c2.addr.uri));
}

Test(valid, esc02)
{
	expect_ok("esc02");
	assert_str(m.method, "RE%47IST%45R");
	cr_assert_eq(m.method_id, SIP_METHOD_OTHER);
	cr_assert_eq(sip_msg_hdr_total(&m, SIP_HDR_CONTACT), 2);
	cr_assert(sip_msg_hdr_find(&m, STR("C%6Fntact")));
}

Test(valid, lwsdisp)
{
	expect_ok("lwsdisp");
	assert_str(core.from.display, "caller");
	assert_str(core.from.uri.user, "caller");
}

Test(valid, longreq)
{
	expect_ok("longreq");
	cr_assert_eq(list_count(SIP_HDR_VIA), 34);
	assert_str(core.call_id, "longreq.onereallyreallyreallyreallyreallyreallyreallyreallyreally"
				 "reallyreallyreallyreallyreallyreallyreallyreallyreallyreally"
				 "reallylongcallid");
	cr_assert_eq(core.cseq.num, 3882340);
	cr_assert_eq(m.body.n, m.content_length);
}

Test(valid, dblreq)
{
	struct str s;

	expect_ok("dblreq");
	s = load("dblreq");
	assert_str(m.method, "REGISTER");
	cr_assert_eq(m.content_length, 0);
	/* The trailing INVITE is not part of this datagram's message. */
	cr_assert_lt(m.len, s.n);
}

Test(valid, semiuri)
{
	expect_ok("semiuri");
	assert_str(core.ruri.user, "user;par=u%40example.net");
	assert_str(core.ruri.host, "example.com");
}

Test(valid, transports)
{
	const struct sip_hdr *h = NULL;
	struct str cur = STR_NULL, v;
	const char *want[] = { "UDP", "SCTP", "TLS", "UNKNOWN", "TCP" };
	unsigned n = 0;

	expect_ok("transports");
	while (sip_msg_list_next(&m, SIP_HDR_VIA, &h, &cur, &v) > 0) {
		struct sip_via via;

		cr_assert(sip_via_read(v, &via, NULL) == 0, "Via %.*s", STR_FMT(v));
		cr_assert_lt(n, 5);
		assert_str(via.transport, want[n]);
		n++;
	}
	cr_assert_eq(n, 5);
}

Test(valid, mpart01)
{
	expect_ok("mpart01");
	cr_assert_eq(m.content_length, 553);
	cr_assert_eq(m.body.n, 553);
	cr_assert_eq(m.len, (size_t)(str_end(m.body) - m.buf));
}

Test(valid, unreason)
{
	expect_ok("unreason");
	cr_assert_eq(m.status, 200);
	cr_assert(m.reason.n > 20);
	cr_assert_eq(m.err_status, 0);
}

Test(valid, noreason)
{
	expect_ok("noreason");
	cr_assert_eq(m.status, 100);
	cr_assert_eq(m.reason.n, 0);
}

/* §3.1.2 Invalid messages: each is rejected, with the response the RFC asks
 * for (0 where a response must be dropped instead of answered). */

Test(invalid, badinv01)
{
	expect_reject("badinv01", -2, 400);
}

Test(invalid, clerr)
{
	expect_reject("clerr", -1, 400);
}

Test(invalid, ncl)
{
	expect_reject("ncl", -1, 400);
}

Test(invalid, scalar02)
{
	expect_reject("scalar02", -2, 400);
	cr_assert_str_eq(m.err, "bad CSeq");
}

Test(invalid, scalarlg)
{
	expect_reject("scalarlg", -2, 0);
}

Test(invalid, quotbal)
{
	expect_reject("quotbal", -2, 400);
	cr_assert_str_eq(m.err, "bad To");
}

Test(invalid, ltgtruri)
{
	expect_reject("ltgtruri", -2, 400);
	cr_assert_str_eq(m.err, "bad Request-URI");
}

Test(invalid, lwsruri)
{
	expect_reject("lwsruri", -1, 400);
}

Test(invalid, lwsstart)
{
	expect_reject("lwsstart", -1, 400);
}

Test(invalid, trws)
{
	expect_reject("trws", -1, 400);
}

Test(invalid, escruri)
{
	expect_reject("escruri", -2, 400);
	cr_assert_str_eq(m.err, "headers in Request-URI");
}

/* The RFC lets an element accept a Date it does not need; xferd never
 * reads Date, so the message is processed and the header kept raw. */
Test(invalid, baddate)
{
	expect_ok("baddate");
	cr_assert(sip_msg_hdr_first(&m, SIP_HDR_DATE));
}

/* The message itself passes (Contact is not a core header); the Contact
 * reader rejects the addr-spec with '?' that should have been in <>. */
Test(invalid, regbadct)
{
	struct sip_contact c;

	expect_ok("regbadct");
	cr_assert(sip_contact_read(sip_msg_hdr_first(&m, SIP_HDR_CONTACT)->value, &c, NULL) < 0);
}

Test(invalid, badaspec)
{
	expect_reject("badaspec", -2, 400);
	cr_assert_str_eq(m.err, "bad To");
}

Test(invalid, baddn)
{
	/* As archived, the header block has no terminating empty line. */
	expect_reject("baddn", -1, 400);
}

Test(invalid, baddn_terminated)
{
	struct str s = load("baddn");
	char *buf = malloc(s.n + 2);

	memcpy(buf, s.p, s.n);
	memcpy(buf + s.n, "\r\n", 2);
	cr_assert_eq(sip_msg_parse(&m, buf, s.n + 2), 0, "%s", m.err);
	cr_assert_eq(sip_core_read(&m, &core), -EBADMSG);
	cr_assert_str_eq(m.err, "bad From");
	cr_assert_eq(m.err_status, 400);
	free(buf);
}

Test(invalid, badvers)
{
	expect_reject("badvers", -1, 505);
}

Test(invalid, mismatch01)
{
	expect_reject("mismatch01", -2, 400);
	cr_assert_str_eq(m.err, "CSeq method does not match the request");
}

Test(invalid, mismatch02)
{
	expect_reject("mismatch02", -2, 400);
}

Test(invalid, bigcode)
{
	expect_reject("bigcode", -1, 0);
}

/* §3.2: transaction layer */

Test(semantic, badbranch)
{
	expect_ok("badbranch");
	assert_str(core.via.branch, "z9hG4bK");
}

/* §3.3: application layer; the parser hands the engine what it needs to
 * answer as the RFC says. */

Test(semantic, insuf)
{
	expect_reject("insuf", -2, 400);
}

Test(semantic, unkscm)
{
	expect_reject("unkscm", -2, 416);
}

Test(semantic, novelsc)
{
	expect_reject("novelsc", -2, 416);
}

Test(semantic, unksm2)
{
	expect_ok("unksm2");
	cr_assert(!core.to.has_uri);
	assert_str(core.to.uri_text, "isbn:2983792873");
}

Test(semantic, bext01)
{
	const struct sip_hdr *h = NULL;
	struct str cur = STR_NULL, v, tok;

	expect_ok("bext01");
	cr_assert_eq(sip_msg_list_next(&m, SIP_HDR_REQUIRE, &h, &cur, &v), 1);
	cr_assert(sip_token_read(v, &tok, NULL) == 0);
	assert_str(tok, "nothingSupportsThis");
	cr_assert(sip_msg_hdr_first(&m, SIP_HDR_PROXY_REQUIRE));
}

Test(semantic, invut)
{
	struct sip_ctype ct;

	expect_ok("invut");
	cr_assert(sip_ctype_read(sip_msg_hdr_first(&m, SIP_HDR_CONTENT_TYPE)->value, &ct, NULL) == 0);
	assert_str(ct.type, "application");
	assert_str(ct.subtype, "unknownformat");
}

Test(semantic, regaut01)
{
	expect_ok("regaut01");
	cr_assert(sip_msg_hdr_first(&m, SIP_HDR_AUTHORIZATION));
}

Test(semantic, multi01)
{
	expect_reject("multi01", -2, 400);
}

Test(semantic, mcl01)
{
	expect_reject("mcl01", -1, 400);
	cr_assert_str_eq(m.err, "conflicting Content-Length");
}

Test(semantic, bcast)
{
	const struct sip_hdr *h = NULL;
	struct str cur = STR_NULL, v;
	struct sip_via via;

	expect_ok("bcast");
	cr_assert_eq(sip_msg_list_next(&m, SIP_HDR_VIA, &h, &cur, &v), 1);
	cr_assert_eq(sip_msg_list_next(&m, SIP_HDR_VIA, &h, &cur, &v), 1);
	cr_assert(sip_via_read(v, &via, NULL) == 0);
	assert_str(via.host, "255.255.255.255");
	cr_assert(!ip_is_public(ip_classify(via.host)));
}

Test(semantic, zeromf)
{
	expect_ok("zeromf");
	cr_assert(core.has_max_forwards);
	cr_assert_eq(core.max_forwards, 0);
}

Test(semantic, cparam01)
{
	struct sip_contact c;
	struct str v;

	expect_ok("cparam01");
	cr_assert(sip_contact_read(sip_msg_hdr_first(&m, SIP_HDR_CONTACT)->value, &c, NULL) == 0);
	cr_assert(!c.addr.angle);
	cr_assert(!sip_uri_param(&c.addr.uri, STR("unknownparam"), &v));
	cr_assert(sip_param_get(c.addr.params, STR("unknownparam"), &v));
}

Test(semantic, cparam02)
{
	struct sip_contact c;
	struct str v;

	expect_ok("cparam02");
	cr_assert(sip_contact_read(sip_msg_hdr_first(&m, SIP_HDR_CONTACT)->value, &c, NULL) == 0);
	cr_assert(c.addr.angle);
	cr_assert(sip_uri_param(&c.addr.uri, STR("unknownparam"), &v));
}

Test(semantic, regescrt)
{
	struct sip_contact c;
	struct str cur, name, val;
	char buf[128];
	int n;

	expect_ok("regescrt");
	cr_assert(sip_contact_read(sip_msg_hdr_first(&m, SIP_HDR_CONTACT)->value, &c, NULL) == 0);
	cur = c.addr.uri.headers;
	cr_assert_eq(sip_uri_header_next(&cur, &name, &val), 1);
	assert_str(name, "Route");
	n = sip_unescape(val, buf, sizeof(buf));
	cr_assert_gt(n, 0);
	assert_str(str_make(buf, (size_t)n), "<sip:sip.example.com>");
}

Test(semantic, sdp01)
{
	expect_ok("sdp01");
	cr_assert(sip_msg_hdr_first(&m, SIP_HDR_ACCEPT));
}

/* §3.4: RFC 2543 syntax: no branch, no From tag, no Content-Length. */
Test(semantic, inv2543)
{
	expect_ok("inv2543");
	cr_assert_eq(core.via.branch.n, 0);
	cr_assert_eq(core.from.tag.n, 0);
	cr_assert(!m.has_content_length);
	cr_assert_eq(m.body.n, 105);
}
