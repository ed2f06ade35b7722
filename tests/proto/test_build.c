/* test_build.c: builder output, round trips, responses, injection, -ENOSPC.
 * RFC 3261 §7, §7.3.1, §8.1.1, §8.2.6.2, §20. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "build.h"
#include "guard.h"

/* ---- helpers ---- */

#define expect_str(s, lit)                                                     \
	cr_expect(str_eq((s), STR(lit)), "%s is \"%.*s\", want \"%s\"", #s,    \
		  (int)(s).n, (s).p ? (s).p : "", (lit))

static void parse_ok(struct sip_msg *m, const char *s, size_t n)
{
	const char *p = guard_put(s, n);

	cr_assert_eq(sip_msg_parse(m, p, n), 0, "parse failed: %s at %zu in\n%.*s", m->err,
		     m->err_at, (int)n, s);
}

static void core_ok(struct sip_msg *m, struct sip_core *c)
{
	cr_assert_eq(sip_core_read(m, c), 0, "sip_core_read: %s at %zu", m->err, m->err_at);
}

/* ---- requests and responses, byte for byte ---- */

Test(build, request)
{
	static const char want[] =
		"NOTIFY sip:agent@192.0.2.10:5080 SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKxf1\r\n"
		"Max-Forwards: 70\r\n"
		"CSeq: 3 NOTIFY\r\n"
		"Event: refer;id=2\r\n"
		"Content-Type: message/sipfrag;version=2.0\r\n"
		"Content-Length: 20\r\n"
		"\r\n"
		"SIP/2.0 100 Trying\r\n";
	char buf[512];
	struct sip_build b;
	int n;

	sip_build_init(&b, buf, sizeof(buf));
	sip_build_request_line(&b, STR("NOTIFY"), STR("sip:agent@192.0.2.10:5080"));
	sip_build_header(&b, STR("Via"), STR("SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKxf1"));
	sip_build_header_uint(&b, STR("Max-Forwards"), 70);
	sip_build_header_begin(&b, STR("CSeq"));
	sip_build_uint(&b, 3);
	sip_build_raw(&b, STR(" NOTIFY"));
	sip_build_header_end(&b);
	sip_build_header_begin(&b, STR("Event"));
	sip_build_raw(&b, STR("refer;id="));
	sip_build_uint(&b, 2);
	sip_build_header_end(&b);
	n = sip_build_finish(&b, STR("message/sipfrag;version=2.0"), STR("SIP/2.0 100 Trying\r\n"));
	cr_assert_eq(n, (int)sizeof(want) - 1, "length %d", n);
	cr_expect_eq(memcmp(buf, want, sizeof(want) - 1), 0, "got\n%.*s", n, buf);
	cr_expect_eq(b.err, 0);
}

Test(build, response_without_body)
{
	static const char want[] = "SIP/2.0 202 Accepted\r\nRefer-Sub: false\r\nContent-Length: 0\r\n\r\n";
	char buf[256];
	struct sip_build b;
	int n;

	sip_build_init(&b, buf, sizeof(buf));
	sip_build_status_line(&b, 202, STR("Accepted"));
	sip_build_header(&b, STR("Refer-Sub"), STR("false"));
	/* No body: no Content-Type even if one is given. */
	n = sip_build_finish(&b, STR("application/sdp"), STR_NULL);
	cr_assert_eq(n, (int)sizeof(want) - 1, "length %d", n);
	cr_expect_eq(memcmp(buf, want, sizeof(want) - 1), 0, "got\n%.*s", n, buf);
}

Test(build, uint)
{
	static const struct {
		uint64_t v;
		const char *s;
	} cases[] = {
		{ 0, "0" },
		{ 9, "9" },
		{ 10, "10" },
		{ 4294967295u, "4294967295" },
		{ UINT64_MAX, "18446744073709551615" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = strlen(cases[i].s);
		char *out = guard_alloc(n);
		struct sip_build b;

		sip_build_init(&b, out, n);
		sip_build_uint(&b, cases[i].v);
		cr_expect_eq(b.err, 0);
		cr_expect_eq(b.n, n);
		cr_expect_eq(memcmp(out, cases[i].s, n), 0, "%s", cases[i].s);
		/* One byte short. */
		out = guard_alloc(n - 1);
		sip_build_init(&b, out, n - 1);
		sip_build_uint(&b, cases[i].v);
		cr_expect_eq(b.err, -ENOSPC);
	}
}

Test(build, value_sanitising)
{
	static const struct {
		const char *in;
		size_t n;
		const char *out;
	} cases[] = {
		{ "plain", sizeof("plain") - 1, "plain" },
		{ "a\r\n b", sizeof("a\r\n b") - 1, "a b" },
		{ "a\r\n\tb", sizeof("a\r\n\tb") - 1, "a b" },
		{ "x\r\nVia: evil", sizeof("x\r\nVia: evil") - 1, "x Via: evil" },
		{ "x\nVia: evil", sizeof("x\nVia: evil") - 1, "x Via: evil" },
		{ "x\rVia: evil", sizeof("x\rVia: evil") - 1, "x Via: evil" },
		{ "x\0Via: evil", sizeof("x\0Via: evil") - 1, "x Via: evil" },
		{ "x\r\n\r\nVia: evil", sizeof("x\r\n\r\nVia: evil") - 1, "x Via: evil" },
		{ "x\r\n\r\n\r\n", sizeof("x\r\n\r\n\r\n") - 1, "x " },
		{ "\r\nx", sizeof("\r\nx") - 1, " x" },
		{ "\0", sizeof("\0") - 1, " " },
		{ "", sizeof("") - 1, "" },
	};
	char buf[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sip_build b;

		sip_build_init(&b, buf, sizeof(buf));
		sip_build_value(&b, str_make(guard_put(cases[i].in, cases[i].n), cases[i].n));
		cr_expect_eq(b.err, 0);
		cr_expect(b.n == strlen(cases[i].out) && memcmp(buf, cases[i].out, b.n) == 0,
			  "case %zu: \"%.*s\", want \"%s\"", i, (int)b.n, buf, cases[i].out);
		for (size_t k = 0; k < b.n; k++)
			cr_expect(buf[k] != '\r' && buf[k] != '\n' && buf[k] != '\0', "case %zu", i);
	}
}

/* Values longer than a word are scanned eight bytes at a time: every byte
 * value at every offset of a 40-byte value, against a bytewise model. */
Test(build, value_sanitising_every_byte_at_every_offset)
{
	char in[40], want[40], buf[64];

	for (unsigned c = 0; c < 256; c++) {
		for (size_t at = 0; at < sizeof(in); at++) {
			bool breaks = c == '\r' || c == '\n' || c == '\0';
			struct sip_build b;
			size_t n = 0;

			memset(in, 'a', sizeof(in));
			in[at] = (char)c;
			for (size_t k = 0; k < sizeof(in); k++)
				want[n++] = k == at && breaks ? ' ' : in[k];
			sip_build_init(&b, buf, sizeof(buf));
			sip_build_value(&b, str_make(guard_put(in, sizeof(in)), sizeof(in)));
			cr_assert_eq(b.err, 0);
			cr_assert(b.n == n && memcmp(buf, want, n) == 0, "byte %u at %zu: \"%.*s\"", c,
				  at, (int)b.n, buf);
		}
	}
}

/* ---- round trip ---- */

Test(build, request_round_trip)
{
	static const char sdp[] = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n";
	char buf[1024];
	struct sip_build b;
	struct sip_msg m;
	struct sip_core c;
	const struct sip_hdr *h;
	int n;

	sip_build_init(&b, buf, sizeof(buf));
	sip_build_request_line(&b, STR("INVITE"), STR("sip:+442071234567@pstn.example.net;user=phone"));
	sip_build_header(&b, STR("Via"), STR("SIP/2.0/TCP [2001:db8::5]:5061;branch=z9hG4bKxf.7;rport"));
	sip_build_header_uint(&b, STR("Max-Forwards"), 69);
	sip_build_header(&b, STR("From"),
			 STR("\"Caller \\\"One\\\"\" <sip:+12125550147@xferd.example.net>;tag=xf-a1"));
	sip_build_header(&b, STR("To"), STR("<sip:+442071234567@pstn.example.net>"));
	sip_build_header(&b, STR("Call-ID"), STR("xf-c0ffee@xferd"));
	sip_build_header(&b, STR("CSeq"), STR("1 INVITE"));
	sip_build_header(&b, STR("Contact"), STR("<sip:xferd@[2001:db8::5]:5061;transport=tcp>"));
	sip_build_header(&b, STR("Referred-By"), STR("<sip:agent@acme.example.net>"));
	n = sip_build_finish(&b, STR("application/sdp"), STR(sdp));
	cr_assert_gt(n, 0);

	parse_ok(&m, buf, (size_t)n);
	core_ok(&m, &c);
	cr_expect(m.is_request);
	cr_expect_eq(m.method_id, SIP_METHOD_INVITE);
	expect_str(m.ruri, "sip:+442071234567@pstn.example.net;user=phone");
	cr_expect_eq(m.nhdrs, 10);
	cr_expect_eq(m.len, (size_t)n);
	expect_str(m.body, sdp);
	cr_expect_eq(m.content_length, sizeof(sdp) - 1);
	h = sip_msg_hdr_first(&m, SIP_HDR_CONTENT_TYPE);
	cr_assert_not_null(h);
	expect_str(h->value, "application/sdp");

	expect_str(c.via.transport, "TCP");
	expect_str(c.via.host, "2001:db8::5");
	cr_expect(c.via.host_ipv6);
	cr_expect_eq(c.via.port, 5061);
	expect_str(c.via.branch, "z9hG4bKxf.7");
	cr_expect(c.via.rport);
	expect_str(c.from.display, "Caller \\\"One\\\"");
	expect_str(c.from.uri.user, "+12125550147");
	expect_str(c.from.uri.host, "xferd.example.net");
	expect_str(c.from.tag, "xf-a1");
	expect_str(c.to.uri.user, "+442071234567");
	cr_expect_eq(c.to.tag.n, 0);
	expect_str(c.call_id, "xf-c0ffee@xferd");
	cr_expect_eq(c.cseq.num, 1);
	cr_expect_eq(c.cseq.method_id, SIP_METHOD_INVITE);
	cr_expect(c.has_max_forwards);
	cr_expect_eq(c.max_forwards, 69);
	h = sip_msg_hdr_first(&m, SIP_HDR_REFERRED_BY);
	cr_assert_not_null(h);
	expect_str(h->value, "<sip:agent@acme.example.net>");
}

/* ---- responses built from requests ---- */

static const char req_text[] =
	"REFER sip:b2bua-91c4@203.0.113.5:5061;transport=tls SIP/2.0\r\n"
	"Via: SIP/2.0/TLS 198.51.100.20:5061;branch=z9hG4bK-top\r\n"
	"Record-Route: <sip:proxy.example.com;lr>\r\n"
	"v: SIP/2.0/UDP 192.0.2.30;branch=z9hG4bK-mid1 , SIP/2.0/UDP 192.0.2.31;branch=z9hG4bK-mid2\r\n"
	"f: \"Agent\r\n Smith\" <sip:agent@acme.example.net>;tag=vA-3f81\r\n"
	"VIA: SIP/2.0/TCP 192.0.2.40;branch=z9hG4bK-bottom;received=192.0.2.41\r\n"
	"To: <sip:+14155550100@xferd.example.net>\r\n"
	"i: xf-7d41e2b8@198.51.100.20\r\n"
	"CSeq: 2 REFER\r\n"
	"Max-Forwards: 70\r\n"
	"Refer-To: <sip:+442071234567@acme.example.net>\r\n"
	"X-Secret: do-not-copy\r\n"
	"Content-Length: 0\r\n"
	"\r\n";

static size_t build_202_written;

static int build_202(char *out, size_t cap, const struct sip_msg *req, const struct sip_core *c,
		     struct str to_tag)
{
	struct sip_build b;
	int r;

	sip_build_init(&b, out, cap);
	sip_build_response(&b, req, c, 202, STR("Accepted"), to_tag, NULL);
	sip_build_header(&b, STR("Contact"), STR("<sip:xferd@203.0.113.5:5061;transport=tls>"));
	r = sip_build_finish(&b, STR_NULL, STR_NULL);
	build_202_written = b.n;
	return r;
}

/* All elements of all Via headers, in order. */
static int via_list(const struct sip_msg *m, struct str *out, int max)
{
	const struct sip_hdr *h = NULL;
	struct str cur = STR_NULL, v;
	int n = 0;

	while (sip_msg_list_next(m, SIP_HDR_VIA, &h, &cur, &v) == 1) {
		cr_assert_lt(n, max);
		out[n++] = v;
	}
	return n;
}

Test(build, response_copies_request_headers)
{
	struct sip_msg req, rsp;
	struct sip_core rc, sc;
	struct str rv[8], sv[8];
	char out[2048];
	const struct sip_hdr *h;
	int n, nv;

	parse_ok(&req, req_text, sizeof(req_text) - 1);
	core_ok(&req, &rc);
	n = build_202(out, sizeof(out), &req, &rc, STR("xf-91c4ab70"));
	cr_assert_gt(n, 0);
	parse_ok(&rsp, out, (size_t)n);
	core_ok(&rsp, &sc);

	cr_expect_not(rsp.is_request);
	cr_expect_eq(rsp.status, 202);
	expect_str(rsp.reason, "Accepted");
	/* Status line, 3 Via lines, From, To, Call-ID, CSeq, Contact, Content-Length. */
	cr_expect_eq(rsp.nhdrs, 9, "%u headers in\n%.*s", rsp.nhdrs, n, out);
	cr_expect_eq(sip_msg_hdr_total(&rsp, SIP_HDR_VIA), 3);

	/* Every Via, in order, values unchanged. */
	nv = via_list(&req, rv, 8);
	cr_assert_eq(nv, 4);
	cr_assert_eq(via_list(&rsp, sv, 8), 4);
	for (int i = 0; i < nv; i++)
		cr_expect(str_eq(rv[i], sv[i]), "via %d: \"%.*s\" vs \"%.*s\"", i, STR_FMT(rv[i]),
			  STR_FMT(sv[i]));
	for (h = sip_msg_hdr_first(&rsp, SIP_HDR_VIA); h; h = sip_msg_hdr_next(&rsp, h))
		expect_str(h->name, "Via");
	expect_str(sc.via.branch, "z9hG4bK-top");

	/* From with its folding undone, To with the new tag, Call-ID, CSeq. */
	h = sip_msg_hdr_first(&rsp, SIP_HDR_FROM);
	cr_assert_not_null(h);
	expect_str(h->name, "From");
	expect_str(h->value, "\"Agent Smith\" <sip:agent@acme.example.net>;tag=vA-3f81");
	expect_str(sc.from.tag, "vA-3f81");
	h = sip_msg_hdr_first(&rsp, SIP_HDR_TO);
	cr_assert_not_null(h);
	expect_str(h->value, "<sip:+14155550100@xferd.example.net>;tag=xf-91c4ab70");
	expect_str(sc.to.tag, "xf-91c4ab70");
	h = sip_msg_hdr_first(&rsp, SIP_HDR_CALL_ID);
	cr_assert_not_null(h);
	expect_str(h->name, "Call-ID");
	expect_str(sc.call_id, "xf-7d41e2b8@198.51.100.20");
	cr_expect_eq(sc.cseq.num, 2);
	cr_expect_eq(sc.cseq.method_id, SIP_METHOD_REFER);

	/* Nothing else of the request. */
	cr_expect_null(sip_msg_hdr_first(&rsp, SIP_HDR_RECORD_ROUTE));
	cr_expect_null(sip_msg_hdr_first(&rsp, SIP_HDR_REFER_TO));
	cr_expect_null(sip_msg_hdr_first(&rsp, SIP_HDR_MAX_FORWARDS));
	cr_expect_null(sip_msg_hdr_find(&rsp, STR("X-Secret")));
}

Test(build, response_to_tag_only_when_absent)
{
	static const char tagged[] =
		"BYE sip:a@b SIP/2.0\r\n"
		"Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
		"From: <sip:a@b>;tag=1\r\n"
		"t: \"Bob\" <sip:c@d>;tag=existing;x=y\r\n"
		"Call-ID: x\r\n"
		"CSeq: 5 BYE\r\n"
		"\r\n";
	static const char addr_spec[] =
		"OPTIONS sip:a@b SIP/2.0\r\n"
		"Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
		"From: sip:a@b;tag=1\r\n"
		"To: sip:c@d\r\n"
		"Call-ID: x\r\n"
		"CSeq: 5 OPTIONS\r\n"
		"\r\n";
	struct sip_msg req, rsp;
	struct sip_core rc, sc;
	char out[1024];
	int n;

	parse_ok(&req, tagged, sizeof(tagged) - 1);
	core_ok(&req, &rc);
	n = build_202(out, sizeof(out), &req, &rc, STR("new"));
	cr_assert_gt(n, 0);
	parse_ok(&rsp, out, (size_t)n);
	core_ok(&rsp, &sc);
	expect_str(sip_msg_hdr_first(&rsp, SIP_HDR_TO)->value, "\"Bob\" <sip:c@d>;tag=existing;x=y");
	expect_str(sc.to.tag, "existing");

	/* An addr-spec To gets the tag as a header parameter. */
	parse_ok(&req, addr_spec, sizeof(addr_spec) - 1);
	core_ok(&req, &rc);
	n = build_202(out, sizeof(out), &req, &rc, STR("new"));
	cr_assert_gt(n, 0);
	parse_ok(&rsp, out, (size_t)n);
	core_ok(&rsp, &sc);
	expect_str(sip_msg_hdr_first(&rsp, SIP_HDR_TO)->value, "sip:c@d;tag=new");
	expect_str(sc.to.tag, "new");
	expect_str(sc.to.uri_text, "sip:c@d");

	/* No tag asked for, none added (100 Trying). */
	n = build_202(out, sizeof(out), &req, &rc, STR_NULL);
	cr_assert_gt(n, 0);
	parse_ok(&rsp, out, (size_t)n);
	core_ok(&rsp, &sc);
	expect_str(sip_msg_hdr_first(&rsp, SIP_HDR_TO)->value, "sip:c@d");
	cr_expect_eq(sc.to.tag.n, 0);
}

/* ---- header injection ---- */

#define E(lit) { (lit), sizeof(lit) - 1 }

static const struct {
	const char *v;
	size_t n;
} evil[] = {
	E("x\r\nVia: SIP/2.0/UDP evil;branch=z9hG4bKevil"),
	E("x\nVia: SIP/2.0/UDP evil;branch=z9hG4bKevil"),
	E("x\rVia: SIP/2.0/UDP evil;branch=z9hG4bKevil"),
	E("x\0Via: SIP/2.0/UDP evil;branch=z9hG4bKevil"),
	E("x\r\n Via: SIP/2.0/UDP evil;branch=z9hG4bKevil"),
	E("x\r\n\r\nVia: SIP/2.0/UDP evil;branch=z9hG4bKevil"),
	E("x\n\nContent-Length: 0\n\nINVITE sip:evil SIP/2.0"),
	E("\r\n"),
	E("x\r\n"),
};

Test(build, header_injection_in_values)
{
	for (size_t i = 0; i < sizeof(evil) / sizeof(evil[0]); i++) {
		struct str v = str_make(guard_put(evil[i].v, evil[i].n), evil[i].n);
		struct sip_build b;
		struct sip_msg m;
		char out[1024];
		int n;

		sip_build_init(&b, out, sizeof(out));
		sip_build_request_line(&b, STR("MESSAGE"), STR("sip:a@b"));
		sip_build_header(&b, STR("Via"), STR("SIP/2.0/UDP good;branch=z9hG4bKgood"));
		sip_build_header(&b, STR("Subject"), v);
		sip_build_header_begin(&b, STR("X-Piece"));
		sip_build_raw(&b, STR("a="));
		sip_build_value(&b, v);
		sip_build_header_end(&b);
		n = sip_build_finish(&b, v, STR("body"));
		cr_assert_gt(n, 0, "case %zu", i);

		parse_ok(&m, out, (size_t)n);
		/* Via, Subject, X-Piece, Content-Type, Content-Length. */
		cr_expect_eq(m.nhdrs, 5, "case %zu: %u headers in\n%.*s", i, m.nhdrs, n, out);
		cr_expect_eq(sip_msg_hdr_total(&m, SIP_HDR_VIA), 1, "case %zu", i);
		expect_str(m.body, "body");
		cr_expect_eq(m.len, (size_t)n);
		for (unsigned k = 0; k < m.nhdrs; k++) {
			struct str val = m.hdrs[k].value;

			cr_expect_null(memchr(val.p, '\n', val.n), "case %zu: LF in %.*s", i,
				       STR_FMT(m.hdrs[k].name));
			cr_expect_null(memchr(val.p, '\r', val.n), "case %zu: CR in %.*s", i,
				       STR_FMT(m.hdrs[k].name));
		}
	}
}

Test(build, header_injection_elsewhere)
{
	struct sip_build b;
	struct sip_msg m;
	char out[1024];
	int n;

	/* In the reason phrase. */
	sip_build_init(&b, out, sizeof(out));
	sip_build_status_line(&b, 200, STR("OK\r\nVia: SIP/2.0/UDP evil"));
	sip_build_header(&b, STR("Via"), STR("SIP/2.0/UDP good"));
	n = sip_build_finish(&b, STR_NULL, STR_NULL);
	cr_assert_gt(n, 0);
	parse_ok(&m, out, (size_t)n);
	cr_expect_eq(m.nhdrs, 2);
	expect_str(m.reason, "OK Via: SIP/2.0/UDP evil");

	/* In the Request-URI: the request line may break, but no header appears. */
	sip_build_init(&b, out, sizeof(out));
	sip_build_request_line(&b, STR("BYE"), STR("sip:a@b\r\nVia: SIP/2.0/UDP evil"));
	sip_build_header(&b, STR("Via"), STR("SIP/2.0/UDP good"));
	n = sip_build_finish(&b, STR_NULL, STR_NULL);
	cr_assert_gt(n, 0);
	if (sip_msg_parse(&m, guard_put(out, (size_t)n), (size_t)n) == 0) {
		cr_expect_eq(m.nhdrs, 2);
		cr_expect_eq(sip_msg_hdr_total(&m, SIP_HDR_VIA), 1);
	}
	cr_expect_null(memmem(out, (size_t)n, "\r\nVia: SIP/2.0/UDP evil", 22));

	/* In the To tag of a response. */
	{
		static const char req[] = "BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n"
					  "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\n"
					  "Call-ID: x\r\nCSeq: 1 BYE\r\n\r\n";
		struct sip_msg q;
		struct sip_core c;

		parse_ok(&q, req, sizeof(req) - 1);
		core_ok(&q, &c);
		n = build_202(out, sizeof(out), &q, &c, STR("t\r\nVia: SIP/2.0/UDP evil"));
		cr_assert_gt(n, 0);
		parse_ok(&m, out, (size_t)n);
		cr_expect_eq(sip_msg_hdr_total(&m, SIP_HDR_VIA), 1);
		cr_expect_eq(m.nhdrs, 7);
	}
}

/* ---- -ENOSPC at every size ---- */

static const char enospc_body[] = "SIP/2.0 180 Ringing\r\n";

/* *written: the bytes the builder wrote, whether or not the whole fit. */
static int build_notify(char *out, size_t cap, size_t *written)
{
	struct sip_build b;
	int r;

	sip_build_init(&b, out, cap);
	sip_build_request_line(&b, STR("NOTIFY"), STR("sip:agent@192.0.2.10:5080;transport=tcp"));
	sip_build_header(&b, STR("Via"), STR("SIP/2.0/TCP 203.0.113.5:5060;branch=z9hG4bKxf9"));
	sip_build_header_uint(&b, STR("Max-Forwards"), 70);
	sip_build_header(&b, STR("From"), STR("<sip:+14155550100@xferd.example.net>;tag=xf-1"));
	sip_build_header(&b, STR("To"), STR("<sip:agent@acme.example.net>;tag=vA-2"));
	sip_build_header(&b, STR("Call-ID"), STR("xf-abc@xferd"));
	sip_build_header_begin(&b, STR("CSeq"));
	sip_build_uint(&b, 12345678901234ull);
	sip_build_raw(&b, STR(" NOTIFY"));
	sip_build_header_end(&b);
	sip_build_header(&b, STR("Subject"), STR("folded\r\n value\0with nul"));
	sip_build_header(&b, STR("Subscription-State"), STR("active;expires=60"));
	r = sip_build_finish(&b, STR("message/sipfrag;version=2.0"), STR(enospc_body));
	*written = b.n;
	return r;
}

Test(build, enospc_at_every_size)
{
	char ref[2048];
	size_t written;
	int needed = build_notify(ref, sizeof(ref), &written);

	cr_assert_gt(needed, 0);
	cr_assert_eq(written, (size_t)needed);
	for (size_t cap = 0; cap < (size_t)needed; cap++) {
		char *out = guard_alloc(cap);
		int r = build_notify(out, cap, &written);

		cr_assert_eq(r, -ENOSPC, "cap %zu: %d", cap, r);
		/* What was written fits and is a prefix of the real message. */
		cr_assert_leq(written, cap);
		cr_expect_eq(memcmp(out, ref, written), 0, "cap %zu", cap);
	}
	{
		char *out = guard_alloc((size_t)needed);

		cr_assert_eq(build_notify(out, (size_t)needed, &written), needed);
		cr_expect_eq(memcmp(out, ref, (size_t)needed), 0);
	}
}

Test(build, enospc_is_sticky)
{
	char buf[8];
	struct sip_build b;

	sip_build_init(&b, buf, sizeof(buf));
	sip_build_raw(&b, STR("12345"));
	sip_build_raw(&b, STR("6789")); /* does not fit: nothing of it written */
	cr_expect_eq(b.err, -ENOSPC);
	cr_expect_eq(b.n, 5);
	sip_build_raw(&b, STR("a")); /* would fit, but the error is sticky */
	cr_expect_eq(b.n, 5);
	cr_expect_eq(sip_build_finish(&b, STR_NULL, STR_NULL), -ENOSPC);
	cr_expect_eq(b.n, 5);
}

Test(build, response_enospc_at_every_size)
{
	struct sip_msg req;
	struct sip_core rc;
	char ref[2048];
	int needed;

	/* req points into its buffer, which must survive the loop's allocations. */
	cr_assert_eq(sip_msg_parse(&req, guard_put_pinned(req_text, sizeof(req_text) - 1),
				   sizeof(req_text) - 1),
		     0);
	core_ok(&req, &rc);
	needed = build_202(ref, sizeof(ref), &req, &rc, STR("xf-91c4ab70"));
	cr_assert_gt(needed, 0);
	for (size_t cap = 0; cap < (size_t)needed; cap++) {
		char *out = guard_alloc(cap);
		int r = build_202(out, cap, &req, &rc, STR("xf-91c4ab70"));

		cr_assert_eq(r, -ENOSPC, "cap %zu: %d", cap, r);
		cr_assert_leq(build_202_written, cap);
		cr_expect_eq(memcmp(out, ref, build_202_written), 0, "cap %zu", cap);
	}
	cr_expect_eq(build_202(guard_alloc((size_t)needed), (size_t)needed, &req, &rc,
			       STR("xf-91c4ab70")),
		     needed);
}

/* ---- copying headers ---- */

Test(build, header_copy)
{
	static const char in[] =
		"SIP/2.0 200 OK\r\n"
		"Record-Route: <sip:p1;lr>\r\n"
		"X-A: 1\r\n"
		"record-route: <sip:p2;lr>,\r\n <sip:p3;lr>\r\n"
		"x-b: 2\r\n"
		"\r\n";
	static const char want[] =
		"Record-Route: <sip:p1;lr>\r\n"
		"Record-Route: <sip:p2;lr>, <sip:p3;lr>\r\n"
		"X-A: 1\r\n"
		"x-b: 2\r\n";
	struct sip_msg m;
	struct sip_build b;
	char out[256];

	parse_ok(&m, in, sizeof(in) - 1);
	sip_build_init(&b, out, sizeof(out));
	sip_build_header_copy(&b, &m, SIP_HDR_RECORD_ROUTE);
	sip_build_header_copy(&b, &m, SIP_HDR_OTHER);
	sip_build_header_copy(&b, &m, SIP_HDR_ROUTE); /* none: nothing */
	cr_expect_eq(b.err, 0);
	cr_expect(b.n == sizeof(want) - 1 && memcmp(out, want, b.n) == 0, "got\n%.*s", (int)b.n,
		  out);
}

/* RFC 3261 §18.2.1 and RFC 3581 §4: the top Via of a response names where
 * the request really came from. */
static void build_with_src(const char *via, struct sip_src src, char *out, size_t cap)
{
	static char req[1024];
	struct sip_msg *m = malloc(sizeof(*m));
	struct sip_core c;
	struct sip_build b;
	int n = snprintf(req, sizeof(req),
			 "OPTIONS sip:x@192.0.2.9 SIP/2.0\r\nVia: %s\r\n"
			 "Via: SIP/2.0/UDP 198.51.100.1;branch=z9hG4bKlower\r\n"
			 "From: <sip:a@example.net>;tag=1\r\nTo: <sip:x@example.net>\r\n"
			 "Call-ID: v1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", via);

	cr_assert_eq(sip_msg_parse(m, req, (size_t)n), 0);
	cr_assert_eq(sip_core_read(m, &c), 0, "%s", m->err);
	sip_build_init(&b, out, cap);
	sip_build_response(&b, m, &c, 200, STR("OK"), STR("t"), &src);
	n = sip_build_finish(&b, STR_NULL, STR_NULL);
	cr_assert_gt(n, 0);
	out[n] = 0;
	free(m);
}

Test(build, response_via_rport_and_received)
{
	char out[2048];

	build_with_src("SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bKa;rport",
		       (struct sip_src){ STR("203.0.113.7"), 40123 }, out, sizeof(out));
	cr_assert(strstr(out, "Via: SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bKa;rport=40123;"
			      "received=203.0.113.7\r\n"), "%s", out);
	cr_assert(strstr(out, "Via: SIP/2.0/UDP 198.51.100.1;branch=z9hG4bKlower\r\n"), "%s", out);
}

Test(build, response_via_received_only_when_host_differs)
{
	char out[2048];

	build_with_src("SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bKb",
		       (struct sip_src){ STR("192.0.2.4"), 5060 }, out, sizeof(out));
	cr_assert(strstr(out, "Via: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bKb\r\n"), "%s", out);
	build_with_src("SIP/2.0/UDP pbx.example.net;branch=z9hG4bKc;received=1.1.1.1",
		       (struct sip_src){ STR("192.0.2.4"), 5060 }, out, sizeof(out));
	/* A received the sender wrote itself is replaced, never repeated. */
	cr_assert(strstr(out, "Via: SIP/2.0/UDP pbx.example.net;branch=z9hG4bKc;"
			      "received=192.0.2.4\r\n"), "%s", out);
}

Test(build, response_via_list_on_one_line)
{
	char out[2048];

	build_with_src("SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKd;rport, SIP/2.0/TCP 10.0.0.6;branch=z9hG4bKe",
		       (struct sip_src){ STR("203.0.113.7"), 5062 }, out, sizeof(out));
	cr_assert(strstr(out, "Via: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKd;rport=5062;"
			      "received=203.0.113.7, SIP/2.0/TCP 10.0.0.6;branch=z9hG4bKe\r\n"),
		  "%s", out);
}
