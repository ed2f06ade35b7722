/* test_msg.c: sip_msg_parse start lines, headers, lists, folding, bodies, errors.
 * RFC 3261 §7, §7.3.1, §7.3.3, §7.5, §18.3, §25.1; RFC 4475 §3.1.2. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "guard.h"
#include "hdr.h"
#include "msg.h"

/* ---- helpers ---- */

static int parse(struct sip_msg *m, const char *s, size_t n)
{
	return sip_msg_parse(m, guard_put(s, n), n);
}

#define PARSE(m, lit) parse((m), (lit), sizeof(lit) - 1)

#define expect_str(s, lit)                                                     \
	cr_expect(str_eq((s), STR(lit)), "%s is \"%.*s\", want \"%s\"", #s,    \
		  (int)(s).n, (s).p ? (s).p : "", (lit))

/* Offset of the first occurrence of needle in s (which must contain it). */
static size_t off(const char *s, const char *needle)
{
	const char *p = strstr(s, needle);

	cr_assert_not_null(p, "\"%s\" not in the input", needle);
	return (size_t)(p - s);
}

/* Parse s (a C string) and expect -EBADMSG with these error fields. */
static void expect_fail(const char *s, const char *err, size_t at, uint16_t status)
{
	struct sip_msg m;
	size_t n = strlen(s);
	int r = parse(&m, s, n);

	cr_assert_eq(r, -EBADMSG, "parse of \"%s\" returned %d, want -EBADMSG", s, r);
	cr_expect_not_null(m.err);
	if (m.err)
		cr_expect_str_eq(m.err, err, "\"%s\": err \"%s\", want \"%s\"", s, m.err, err);
	cr_expect_eq(m.err_at, at, "\"%s\": err_at %zu, want %zu", s, m.err_at, at);
	cr_expect_eq(m.err_status, status, "\"%s\": err_status %u, want %u", s,
		     m.err_status, status);
}

static void expect_ok(struct sip_msg *m, const char *s)
{
	int r = parse(m, s, strlen(s));

	cr_assert_eq(r, 0, "parse of \"%s\" failed: %s at %zu", s, m->err ? m->err : "?",
		     m->err_at);
}

#define HDRS "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCall-ID: c\r\n"

/* The lookups, on a guarded copy of the name. */
static enum sip_hdr_id lookup_hdr(struct str name)
{
	return sip_hdr_lookup(str_make(guard_put(name.p, name.n), name.n));
}

static enum sip_method lookup_method(struct str name)
{
	return sip_method_lookup(str_make(guard_put(name.p, name.n), name.n));
}

/* ---- start lines ---- */

Test(msg, request_line)
{
	static const char in[] = "INVITE sip:bob@example.com;transport=udp SIP/2.0\r\n" HDRS "\r\n";
	struct sip_msg m;

	cr_assert_eq(PARSE(&m, in), 0, "%s", m.err);
	cr_expect(m.is_request);
	expect_str(m.method, "INVITE");
	cr_expect_eq(m.method_id, SIP_METHOD_INVITE);
	expect_str(m.ruri, "sip:bob@example.com;transport=udp");
	expect_str(m.version, "SIP/2.0");
	cr_expect_eq(m.status, 0);
	cr_expect_eq(m.nhdrs, 2);
	cr_expect_eq(m.len, sizeof(in) - 1);
	cr_expect_eq(m.body.n, 0);
	cr_expect_not(m.has_content_length);
	cr_expect_eq(m.buf + sizeof(in) - 1, str_end(m.body));
}

Test(msg, request_methods)
{
	static const struct {
		const char *line;
		const char *method;
		enum sip_method id;
	} cases[] = {
		{ "ACK sip:a@b SIP/2.0", "ACK", SIP_METHOD_ACK },
		{ "BYE sip:a@b SIP/2.0", "BYE", SIP_METHOD_BYE },
		{ "CANCEL sip:a@b SIP/2.0", "CANCEL", SIP_METHOD_CANCEL },
		{ "OPTIONS sip:a@b SIP/2.0", "OPTIONS", SIP_METHOD_OPTIONS },
		{ "REGISTER sip:b SIP/2.0", "REGISTER", SIP_METHOD_REGISTER },
		{ "REFER sip:a@b SIP/2.0", "REFER", SIP_METHOD_REFER },
		{ "NOTIFY sip:a@b SIP/2.0", "NOTIFY", SIP_METHOD_NOTIFY },
		{ "SUBSCRIBE sip:a@b SIP/2.0", "SUBSCRIBE", SIP_METHOD_SUBSCRIBE },
		{ "INFO sip:a@b SIP/2.0", "INFO", SIP_METHOD_INFO },
		{ "UPDATE sip:a@b SIP/2.0", "UPDATE", SIP_METHOD_UPDATE },
		{ "PRACK sip:a@b SIP/2.0", "PRACK", SIP_METHOD_PRACK },
		{ "MESSAGE sip:a@b SIP/2.0", "MESSAGE", SIP_METHOD_MESSAGE },
		{ "PUBLISH sip:a@b SIP/2.0", "PUBLISH", SIP_METHOD_PUBLISH },
		/* Methods are case-sensitive (§7.1): an unknown extension. */
		{ "invite sip:a@b SIP/2.0", "invite", SIP_METHOD_OTHER },
		/* Any token is a method. */
		{ "X-FOO.bar!%*_+`'~ sip:a@b SIP/2.0", "X-FOO.bar!%*_+`'~", SIP_METHOD_OTHER },
		/* The version is compared case-insensitively. */
		{ "BYE sip:a@b sip/2.0", "BYE", SIP_METHOD_BYE },
	};
	char buf[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sip_msg m;

		snprintf(buf, sizeof(buf), "%s\r\n" HDRS "\r\n", cases[i].line);
		expect_ok(&m, buf);
		cr_expect(m.is_request);
		cr_expect(str_eq(m.method, str_make(cases[i].method, strlen(cases[i].method))),
			  "%s: method %.*s", cases[i].line, STR_FMT(m.method));
		cr_expect_eq(m.method_id, cases[i].id, "%s: id %d", cases[i].line, m.method_id);
		cr_expect(str_eq(m.ruri, i == 4 ? STR("sip:b") : STR("sip:a@b")), "%s: ruri %.*s",
			  cases[i].line, STR_FMT(m.ruri));
	}
}

Test(msg, method_names)
{
	for (int id = SIP_METHOD_INVITE; id <= SIP_METHOD_PUBLISH; id++) {
		struct str name = sip_method_name((enum sip_method)id);

		cr_expect_gt(name.n, 0);
		cr_expect_eq((int)lookup_method(name), id);
	}
	cr_expect_eq(sip_method_name(SIP_METHOD_OTHER).n, 0);
	cr_expect_eq(lookup_method(STR("Invite")), SIP_METHOD_OTHER);
	cr_expect_eq(lookup_method(STR("INVITEX")), SIP_METHOD_OTHER);
	cr_expect_eq(lookup_method(STR("")), SIP_METHOD_OTHER);
}

Test(msg, status_line)
{
	static const struct {
		const char *line;
		uint16_t status;
		const char *reason;
	} cases[] = {
		{ "SIP/2.0 100 Trying", 100, "Trying" },
		{ "SIP/2.0 180 Ringing", 180, "Ringing" },
		{ "SIP/2.0 200 OK", 200, "OK" },
		{ "SIP/2.0 487 Request Terminated", 487, "Request Terminated" },
		{ "SIP/2.0 699 Whatever  it   says ", 699, "Whatever  it   says " },
		{ "sip/2.0 202 Accepted", 202, "Accepted" },
		/* Reason-Phrase may be empty (§25.1: *(...)). */
		{ "SIP/2.0 200 ", 200, "" },
		/* Without the SP before it: tolerated, the reason is empty. */
		{ "SIP/2.0 200", 200, "" },
	};
	char buf[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sip_msg m;

		snprintf(buf, sizeof(buf), "%s\r\n" HDRS "\r\n", cases[i].line);
		expect_ok(&m, buf);
		cr_expect_not(m.is_request, "%s", cases[i].line);
		cr_expect_eq(m.status, cases[i].status, "%s: status %u", cases[i].line, m.status);
		cr_expect(str_eq(m.reason, str_make(cases[i].reason, strlen(cases[i].reason))),
			  "%s: reason \"%.*s\"", cases[i].line, (int)m.reason.n,
			  m.reason.p ? m.reason.p : "");
		cr_expect_eq(m.method.n, 0);
		cr_expect_eq(m.ruri.n, 0);
		cr_expect_eq(m.version.n, 7);
	}
}

Test(msg, request_line_bad_method)
{
	expect_fail("INV@TE sip:a@b SIP/2.0\r\n" HDRS "\r\n", "bad method", 3, 400);
	expect_fail("INV(TE sip:a@b SIP/2.0\r\n" HDRS "\r\n", "bad method", 3, 400);
	expect_fail("INVITE: sip:a@b SIP/2.0\r\n" HDRS "\r\n", "bad method", 6, 400);
	expect_fail("\"INVITE\" sip:a@b SIP/2.0\r\n" HDRS "\r\n", "bad method", 0, 400);
	expect_fail("INVITE\tsip:a@b SIP/2.0\r\n" HDRS "\r\n", "bad method", 6, 400);
	expect_fail(" INVITE sip:a@b SIP/2.0\r\n" HDRS "\r\n", "bad method", 0, 400);
	expect_fail("INV\xc3\x89TE sip:a@b SIP/2.0\r\n" HDRS "\r\n", "bad method", 3, 400);
	/* A method alone on its line. */
	expect_fail("INVITE\r\n" HDRS "\r\n", "bad method", 6, 400);
}

Test(msg, request_line_double_spaces)
{
	expect_fail("INVITE  sip:a@b SIP/2.0\r\n" HDRS "\r\n", "bad Request-URI", 7, 400);
	expect_fail("INVITE sip:a@b  SIP/2.0\r\n" HDRS "\r\n", "white space in Request-Line",
		    15, 400);
	expect_fail("INVITE sip:a@b SIP/2.0 \r\n" HDRS "\r\n", "white space in Request-Line",
		    15, 400);
	/* RFC 4475 §3.1.2.7: a Request-URI holding white space. */
	expect_fail("INVITE sip:a b@c SIP/2.0\r\n" HDRS "\r\n", "white space in Request-Line",
		    13, 400);
	/* A control byte in the Request-URI. */
	expect_fail("INVITE sip:a\x01@b SIP/2.0\r\n" HDRS "\r\n", "bad Request-URI", 12, 400);
	expect_fail("INVITE sip:a@b\tSIP/2.0\r\n" HDRS "\r\n", "bad Request-URI", 7, 400);
}

Test(msg, request_line_missing_version)
{
	expect_fail("INVITE sip:a@b\r\n" HDRS "\r\n", "bad Request-URI", 7, 400);
	expect_fail("INVITE sip:a@b \r\n" HDRS "\r\n", "bad SIP version", 15, 400);
	expect_fail("INVITE sip:a@b HTTP/1.1\r\n" HDRS "\r\n", "bad SIP version", 15, 400);
	expect_fail("INVITE sip:a@b SIP\r\n" HDRS "\r\n", "bad SIP version", 15, 400);
}

Test(msg, request_line_unsupported_version)
{
	expect_fail("INVITE sip:a@b SIP/3.0\r\n" HDRS "\r\n", "unsupported SIP version", 15, 505);
	expect_fail("INVITE sip:a@b SIP/2.1\r\n" HDRS "\r\n", "unsupported SIP version", 15, 505);
	expect_fail("INVITE sip:a@b SIP/2.00\r\n" HDRS "\r\n", "unsupported SIP version", 15,
		    505);
	/* RFC 4475 §3.1.2.15: the version is checked before any header. */
	expect_fail("OPTIONS sip:t@example.com SIP/7.0\r\nVia junk\r\n\r\n",
		    "unsupported SIP version", 26, 505);
}

Test(msg, status_line_bad_code)
{
	expect_fail("SIP/2.0 99 Too Low\r\n" HDRS "\r\n", "bad status code", 10, 0);
	expect_fail("SIP/2.0 099 Too Low\r\n" HDRS "\r\n", "status code out of range", 8, 0);
	expect_fail("SIP/2.0 700 Too High\r\n" HDRS "\r\n", "status code out of range", 8, 0);
	expect_fail("SIP/2.0 abc OK\r\n" HDRS "\r\n", "bad status code", 8, 0);
	expect_fail("SIP/2.0 2000 OK\r\n" HDRS "\r\n", "bad status code", 11, 0);
	expect_fail("SIP/2.0 20\r\n" HDRS "\r\n", "bad status code", 8, 0);
	expect_fail("SIP/2.0 \r\n" HDRS "\r\n", "bad status code", 8, 0);
	expect_fail("SIP/2.0 200\tOK\r\n" HDRS "\r\n", "bad status code", 11, 0);
	expect_fail("SIP/2.0  200 OK\r\n" HDRS "\r\n", "bad status code", 8, 0);
	expect_fail("SIP/2.0200 OK\r\n" HDRS "\r\n", "bad status line", 0, 0);
	expect_fail("SIP/2.0\r\n" HDRS "\r\n", "bad status line", 0, 0);
	expect_fail("SIP/\r\n" HDRS "\r\n", "bad status line", 0, 0);
}

/* msg.h: err_status is "the response it deserves ... 0 when none can be
 * built". Nothing can be sent back for a response, so every failure of a
 * response must report 0 (sip_core_read() does so, see hdr.h). */
Test(msg, response_bad_version_gets_no_status)
{
	expect_fail("SIP/3.0 200 OK\r\n" HDRS "\r\n", "unsupported SIP version", 0, 0);
}

Test(msg, response_header_errors_get_no_status)
{
	expect_fail("SIP/2.0 200 OK\r\n" HDRS "Content-Length: x\r\n\r\n", "bad Content-Length",
		    off("SIP/2.0 200 OK\r\n" HDRS "Content-Length: x\r\n\r\n", "x\r\n\r\n"), 0);
	expect_fail("SIP/2.0 200 OK\r\nVia x\r\n\r\n", "bad header name", 19, 0);
	expect_fail("SIP/2.0 200 OK\r\n" HDRS, "headers not terminated by an empty line",
		    strlen("SIP/2.0 200 OK\r\n" HDRS), 0);
}

Test(msg, no_start_line)
{
	expect_fail("", "no start line", 0, 0);
	expect_fail("\r\n", "no start line", 2, 0);
	expect_fail("\r\n\r\n\n", "no start line", 5, 0);
	expect_fail("INVITE sip:a@b SIP/2.0", "no start line", 22, 0);
}

/* ---- headers ---- */

Test(msg, header_ids_all_names_any_case)
{
	for (int id = 1; id < SIP_HDR__COUNT; id++) {
		struct str name = sip_hdr_name((enum sip_hdr_id)id);
		char up[64], low[64];

		cr_assert_gt(name.n, 0, "id %d has no name", id);
		cr_assert_lt(name.n, sizeof(up));
		for (size_t i = 0; i < name.n; i++) {
			up[i] = (name.p[i] >= 'a' && name.p[i] <= 'z') ? (char)(name.p[i] - 32)
								       : name.p[i];
			low[i] = str_lower(name.p[i]);
		}
		cr_expect_eq((int)lookup_hdr(name), id, "%.*s", STR_FMT(name));
		cr_expect_eq((int)lookup_hdr(str_make(up, name.n)), id, "%.*s", (int)name.n, up);
		cr_expect_eq((int)lookup_hdr(str_make(low, name.n)), id, "%.*s", (int)name.n, low);
		/* Neither a prefix nor an extension of a name is that header
		 * (a one-letter prefix may be the compact form: "T" of "To"). */
		if (name.n > 2)
			cr_expect_neq((int)lookup_hdr(str_make(name.p, name.n - 1)), id,
				      "%.*s-1", STR_FMT(name));
		up[name.n] = 'x';
		cr_expect_eq(lookup_hdr(str_make(up, name.n + 1)), SIP_HDR_OTHER,
			     "%.*sx", (int)name.n, up);
	}
	cr_expect_eq(sip_hdr_name(SIP_HDR_OTHER).n, 0);
}

Test(msg, header_compact_forms)
{
	/* RFC 3261 §7.3.3 and the IANA registry. */
	static const struct {
		char c;
		enum sip_hdr_id id;
	} compact[] = {
		{ 'a', SIP_HDR_ACCEPT_CONTACT }, { 'b', SIP_HDR_REFERRED_BY },
		{ 'c', SIP_HDR_CONTENT_TYPE },	 { 'd', SIP_HDR_REQUEST_DISPOSITION },
		{ 'e', SIP_HDR_CONTENT_ENCODING }, { 'f', SIP_HDR_FROM },
		{ 'i', SIP_HDR_CALL_ID },	 { 'j', SIP_HDR_REJECT_CONTACT },
		{ 'k', SIP_HDR_SUPPORTED },	 { 'l', SIP_HDR_CONTENT_LENGTH },
		{ 'm', SIP_HDR_CONTACT },	 { 'o', SIP_HDR_EVENT },
		{ 'r', SIP_HDR_REFER_TO },	 { 's', SIP_HDR_SUBJECT },
		{ 't', SIP_HDR_TO },		 { 'u', SIP_HDR_ALLOW_EVENTS },
		{ 'v', SIP_HDR_VIA },		 { 'x', SIP_HDR_SESSION_EXPIRES },
		{ 'y', SIP_HDR_IDENTITY },
	};
	bool seen[26] = { false };

	for (size_t i = 0; i < sizeof(compact) / sizeof(compact[0]); i++) {
		char lo = compact[i].c, up = (char)(lo - 32);

		cr_expect_eq(lookup_hdr(str_make(&lo, 1)), compact[i].id, "%c", lo);
		cr_expect_eq(lookup_hdr(str_make(&up, 1)), compact[i].id, "%c", up);
		seen[lo - 'a'] = true;
	}
	for (char c = 'a'; c <= 'z'; c++) {
		if (!seen[c - 'a'])
			cr_expect_eq(lookup_hdr(str_make(&c, 1)), SIP_HDR_OTHER, "%c", c);
	}
	cr_expect_eq(lookup_hdr(STR("1")), SIP_HDR_OTHER);
	cr_expect_eq(lookup_hdr(STR("-")), SIP_HDR_OTHER);
}

Test(msg, header_index_long_and_compact)
{
	static const char in[] =
		"INVITE sip:a@b SIP/2.0\r\n"
		"v: SIP/2.0/UDP one;branch=z9hG4bK1\r\n"
		"VIA: SIP/2.0/UDP two;branch=z9hG4bK2\r\n"
		"f: <sip:a@b>;tag=1\r\n"
		"T: <sip:c@d>\r\n"
		"i: abc@h\r\n"
		"cseq: 1 INVITE\r\n"
		"max-FORWARDS: 70\r\n"
		"m: <sip:a@h>\r\n"
		"r: <sip:x@y>\r\n"
		"B: <sip:z@y>\r\n"
		"refer-sub: false\r\n"
		"o: refer;id=1\r\n"
		"Subscription-State : active;expires=60\r\n"
		"k: replaces\r\n"
		"c: application/sdp\r\n"
		"l: 4\r\n"
		"\r\n"
		"v=0\n";
	struct sip_msg m;
	const struct sip_hdr *h;

	cr_assert_eq(PARSE(&m, in), 0, "%s", m.err);
	cr_expect_eq(m.nhdrs, 16);
	h = sip_msg_hdr_first(&m, SIP_HDR_VIA);
	cr_assert_not_null(h);
	expect_str(h->name, "v");
	expect_str(h->value, "SIP/2.0/UDP one;branch=z9hG4bK1");
	h = sip_msg_hdr_next(&m, h);
	cr_assert_not_null(h);
	expect_str(h->name, "VIA");
	expect_str(h->value, "SIP/2.0/UDP two;branch=z9hG4bK2");
	cr_expect_null(sip_msg_hdr_next(&m, h));
	expect_str(sip_msg_hdr_first(&m, SIP_HDR_FROM)->value, "<sip:a@b>;tag=1");
	expect_str(sip_msg_hdr_first(&m, SIP_HDR_TO)->value, "<sip:c@d>");
	expect_str(sip_msg_hdr_first(&m, SIP_HDR_CALL_ID)->value, "abc@h");
	expect_str(sip_msg_hdr_first(&m, SIP_HDR_CSEQ)->value, "1 INVITE");
	expect_str(sip_msg_hdr_first(&m, SIP_HDR_MAX_FORWARDS)->value, "70");
	expect_str(sip_msg_hdr_first(&m, SIP_HDR_CONTACT)->value, "<sip:a@h>");
	expect_str(sip_msg_hdr_first(&m, SIP_HDR_REFER_TO)->value, "<sip:x@y>");
	expect_str(sip_msg_hdr_first(&m, SIP_HDR_REFERRED_BY)->value, "<sip:z@y>");
	expect_str(sip_msg_hdr_first(&m, SIP_HDR_REFER_SUB)->value, "false");
	expect_str(sip_msg_hdr_first(&m, SIP_HDR_EVENT)->value, "refer;id=1");
	h = sip_msg_hdr_first(&m, SIP_HDR_SUBSCRIPTION_STATE);
	cr_assert_not_null(h);
	expect_str(h->name, "Subscription-State");
	expect_str(h->value, "active;expires=60");
	expect_str(sip_msg_hdr_first(&m, SIP_HDR_SUPPORTED)->value, "replaces");
	expect_str(sip_msg_hdr_first(&m, SIP_HDR_CONTENT_TYPE)->value, "application/sdp");
	cr_expect(m.has_content_length);
	cr_expect_eq(m.content_length, 4);
	expect_str(m.body, "v=0\n");
	for (unsigned i = 0; i < m.nhdrs; i++)
		cr_expect_neq(m.hdrs[i].id, SIP_HDR_OTHER, "header %u (%.*s)", i,
			      STR_FMT(m.hdrs[i].name));
	cr_expect_null(sip_msg_hdr_first(&m, SIP_HDR_ROUTE));
	cr_expect_eq(sip_msg_hdr_total(&m, SIP_HDR_ROUTE), 0);
}

Test(msg, unknown_headers)
{
	static const char in[] =
		"SIP/2.0 200 OK\r\n"
		"X-Custom: one\r\n"
		"Via: SIP/2.0/UDP h\r\n"
		"P-Charging-Vector: icid-value=1\r\n"
		"x-custom: two\r\n"
		"Content-Lengthx: 9\r\n"
		"q: compact-looking but unassigned\r\n"
		"\r\n";
	struct sip_msg m;
	const struct sip_hdr *h;

	cr_assert_eq(PARSE(&m, in), 0, "%s", m.err);
	cr_expect_eq(m.nhdrs, 6);
	cr_expect_eq(sip_msg_hdr_total(&m, SIP_HDR_OTHER), 5);
	h = sip_msg_hdr_first(&m, SIP_HDR_OTHER);
	cr_assert_not_null(h);
	expect_str(h->name, "X-Custom");
	expect_str(h->value, "one");
	h = sip_msg_hdr_next(&m, h);
	expect_str(h->name, "P-Charging-Vector");
	h = sip_msg_hdr_next(&m, h);
	expect_str(h->name, "x-custom");
	expect_str(h->value, "two");
	h = sip_msg_hdr_next(&m, h);
	expect_str(h->name, "Content-Lengthx");
	h = sip_msg_hdr_next(&m, h);
	expect_str(h->name, "q");
	cr_expect_null(sip_msg_hdr_next(&m, h));
	/* Not a Content-Length, so the body is the (empty) rest. */
	cr_expect_not(m.has_content_length);
}

Test(msg, multiple_headers_order_and_next_chain)
{
	static const char in[] =
		"SIP/2.0 200 OK\r\n"
		"Via: SIP/2.0/UDP a\r\n"
		"Record-Route: <sip:r1;lr>\r\n"
		"v: SIP/2.0/TCP b\r\n"
		"From: <sip:x@y>;tag=1\r\n"
		"Record-Route: <sip:r2;lr>\r\n"
		"via: SIP/2.0/TLS c\r\n"
		"Record-Route: <sip:r3;lr>\r\n"
		"\r\n";
	static const char *const vias[] = { "SIP/2.0/UDP a", "SIP/2.0/TCP b", "SIP/2.0/TLS c" };
	static const char *const rrs[] = { "<sip:r1;lr>", "<sip:r2;lr>", "<sip:r3;lr>" };
	struct sip_msg m;
	const struct sip_hdr *h;
	unsigned i = 0;
	uint16_t prev = 0;

	cr_assert_eq(PARSE(&m, in), 0, "%s", m.err);
	cr_expect_eq(sip_msg_hdr_total(&m, SIP_HDR_VIA), 3);
	cr_expect_eq(sip_msg_hdr_total(&m, SIP_HDR_RECORD_ROUTE), 3);
	cr_expect_eq(sip_msg_hdr_total(&m, SIP_HDR_FROM), 1);
	cr_expect_eq(sip_msg_hdr_total(&m, SIP_HDR_TO), 0);
	for (h = sip_msg_hdr_first(&m, SIP_HDR_VIA); h; h = sip_msg_hdr_next(&m, h), i++) {
		cr_assert_lt(i, 3);
		cr_expect(str_eq(h->value, str_make(vias[i], strlen(vias[i]))), "via %u: %.*s", i,
			  STR_FMT(h->value));
		cr_expect_eq(h->id, SIP_HDR_VIA);
		/* Indexes increase along the chain: message order. */
		if (i)
			cr_expect_gt((uint16_t)(h - m.hdrs), prev);
		prev = (uint16_t)(h - m.hdrs);
	}
	cr_expect_eq(i, 3);
	i = 0;
	for (h = sip_msg_hdr_first(&m, SIP_HDR_RECORD_ROUTE); h; h = sip_msg_hdr_next(&m, h), i++)
		cr_expect(str_eq(h->value, str_make(rrs[i], strlen(rrs[i]))), "rr %u", i);
	cr_expect_eq(i, 3);
	/* The raw links agree with the accessors. */
	cr_expect_eq(m.first[SIP_HDR_VIA], 0);
	cr_expect_eq(m.hdrs[0].next, 2);
	cr_expect_eq(m.hdrs[2].next, 5);
	cr_expect_eq(m.hdrs[5].next, SIP_HDR_NONE);
	cr_expect_eq(m.last[SIP_HDR_VIA], 5);
	cr_expect_eq(m.first[SIP_HDR_TO], SIP_HDR_NONE);
}

Test(msg, hdr_find)
{
	static const char in[] =
		"SIP/2.0 200 OK\r\n"
		"v: SIP/2.0/UDP a\r\n"
		"X-Thing: 1\r\n"
		"X-THING: 2\r\n"
		"Call-ID: abc\r\n"
		"\r\n";
	struct sip_msg m;
	const struct sip_hdr *h;

	cr_assert_eq(PARSE(&m, in), 0, "%s", m.err);
	h = sip_msg_hdr_find(&m, STR("x-thing"));
	cr_assert_not_null(h);
	expect_str(h->value, "1");
	h = sip_msg_hdr_find(&m, STR("CALL-ID"));
	cr_assert_not_null(h);
	expect_str(h->value, "abc");
	/* Compact forms are not expanded by find. */
	cr_expect_null(sip_msg_hdr_find(&m, STR("Via")));
	cr_expect_not_null(sip_msg_hdr_find(&m, STR("V")));
	cr_expect_null(sip_msg_hdr_find(&m, STR("i")));
	cr_expect_null(sip_msg_hdr_find(&m, STR("X-Thin")));
	cr_expect_null(sip_msg_hdr_find(&m, STR("X-Things")));
	cr_expect_null(sip_msg_hdr_find(&m, STR("")));
}

Test(msg, header_name_syntax)
{
	struct sip_msg m;

	/* White space before the colon is allowed (HCOLON), and around the value. */
	expect_ok(&m, "SIP/2.0 200 OK\r\nCall-ID \t:  \t abc \t \r\nSubject:\r\n\r\n");
	expect_str(sip_msg_hdr_first(&m, SIP_HDR_CALL_ID)->value, "abc");
	expect_str(sip_msg_hdr_first(&m, SIP_HDR_CALL_ID)->name, "Call-ID");
	cr_expect_eq(sip_msg_hdr_first(&m, SIP_HDR_SUBJECT)->value.n, 0);

	expect_fail("INVITE sip:a@b SIP/2.0\r\nVia SIP/2.0/UDP h\r\n\r\n", "bad header name", 27,
		    400);
	expect_fail("INVITE sip:a@b SIP/2.0\r\n: x\r\n\r\n", "bad header name", 24, 400);
	expect_fail("INVITE sip:a@b SIP/2.0\r\nVi a: x\r\n\r\n", "bad header name", 26, 400);
	expect_fail("INVITE sip:a@b SIP/2.0\r\nVi@: x\r\n\r\n", "bad header name", 26, 400);
	expect_fail("INVITE sip:a@b SIP/2.0\r\nCall-ID\r\n\r\n", "bad header name", 31, 400);
	expect_fail("INVITE sip:a@b SIP/2.0\r\n folded\r\nVia: x\r\n\r\n",
		    "continuation line without a header", 24, 400);
	expect_fail("INVITE sip:a@b SIP/2.0\r\n\tfolded\r\n\r\n",
		    "continuation line without a header", 24, 400);
}

/* ---- comma lists ---- */

/* Collect every element of id's headers with sip_msg_list_next. */
static int list_all(const struct sip_msg *m, enum sip_hdr_id id, struct str *out, int max)
{
	const struct sip_hdr *h = NULL;
	struct str cur = STR_NULL, v;
	int n = 0, r;

	while ((r = sip_msg_list_next(m, id, &h, &cur, &v)) == 1) {
		cr_assert_lt(n, max);
		out[n++] = v;
	}
	if (r < 0)
		return r;
	/* The end is sticky. */
	cr_expect_eq(sip_msg_list_next(m, id, &h, &cur, &v), 0);
	return n;
}

Test(msg, list_across_header_lines)
{
	static const char in[] =
		"SIP/2.0 200 OK\r\n"
		"Contact: \"Doe, John\" <sip:j@a;x=1,2>;q=0.5 , <sip:k@b>\r\n"
		"Subject: not a contact, really\r\n"
		"m: sip:l@c;expires=60,,  (busy, back soon) <sip:m@d>\r\n"
		"Contact: \"say \\\"hi, there\\\"\" <sip:n@e>\r\n"
		"Contact:\r\n"
		"CONTACT: , ,\r\n"
		"Contact: <sip:o@f>,\r\n"
		" <sip:p@g>\r\n"
		"\r\n";
	static const char *const want[] = {
		"\"Doe, John\" <sip:j@a;x=1,2>;q=0.5",
		"<sip:k@b>",
		"sip:l@c;expires=60",
		"(busy, back soon) <sip:m@d>",
		"\"say \\\"hi, there\\\"\" <sip:n@e>",
		"<sip:o@f>",
		"<sip:p@g>",
	};
	struct sip_msg m;
	struct str got[16];
	int n;

	cr_assert_eq(PARSE(&m, in), 0, "%s", m.err);
	n = list_all(&m, SIP_HDR_CONTACT, got, 16);
	cr_assert_eq(n, 7, "%d elements", n);
	for (int i = 0; i < n; i++)
		cr_expect(str_eq(got[i], str_make(want[i], strlen(want[i]))),
			  "element %d is [%.*s], want [%s]", i, STR_FMT(got[i]), want[i]);
	/* A header that is absent is an empty list. */
	cr_expect_eq(list_all(&m, SIP_HDR_ROUTE, got, 16), 0);
	/* A header with one element. */
	cr_expect_eq(list_all(&m, SIP_HDR_SUBJECT, got, 16), 2);
}

Test(msg, list_unterminated)
{
	struct sip_msg m;
	struct str got[8];

	expect_ok(&m, "SIP/2.0 200 OK\r\nRoute: <sip:a>\r\nRoute: \"open, <sip:b>\r\n\r\n");
	cr_expect_eq(list_all(&m, SIP_HDR_ROUTE, got, 8), -EBADMSG);
	expect_ok(&m, "SIP/2.0 200 OK\r\nRoute: <sip:b>, <sip:a, sip:b\r\n\r\n");
	cr_expect_eq(list_all(&m, SIP_HDR_ROUTE, got, 8), -EBADMSG);
	expect_ok(&m, "SIP/2.0 200 OK\r\nRoute: (open <sip:a>, <sip:b>\r\n\r\n");
	cr_expect_eq(list_all(&m, SIP_HDR_ROUTE, got, 8), -EBADMSG);
	/* An escape at the very end does not close the quote. */
	expect_ok(&m, "SIP/2.0 200 OK\r\nRoute: \"x\\\"\r\n\r\n");
	cr_expect_eq(list_all(&m, SIP_HDR_ROUTE, got, 8), -EBADMSG);
}

/* sip_list_next on slices that end against the guard page. */
static int split(const char *s, struct str *out, int max)
{
	size_t n = strlen(s);
	struct str cur = str_make(guard_put(s, n), n), v;
	int k = 0, r;

	while ((r = sip_list_next(&cur, &v)) == 1) {
		cr_assert_lt(k, max);
		out[k++] = v;
	}
	if (r == 0)
		cr_expect_eq(cur.n, 0);
	return r < 0 ? r : k;
}

Test(msg, list_next_plain)
{
	struct str v[8];

	cr_assert_eq(split("a, b ,c", v, 8), 3);
	expect_str(v[0], "a");
	expect_str(v[1], "b");
	expect_str(v[2], "c");
	cr_expect_eq(split("", v, 8), 0);
	cr_expect_eq(split(" , ,\t", v, 8), 0);
	cr_assert_eq(split("<sip:a,b>;p=\"x,y\", z", v, 8), 2);
	expect_str(v[0], "<sip:a,b>;p=\"x,y\"");
	expect_str(v[1], "z");
	/* Nested comments. */
	cr_assert_eq(split("x (a (b, c) d), y", v, 8), 2);
	expect_str(v[0], "x (a (b, c) d)");
	expect_str(v[1], "y");
	/* A folded list. */
	cr_assert_eq(split("a,\r\n b,\r\n\tc", v, 8), 3);
	expect_str(v[2], "c");
	cr_expect_eq(split("\"a,b", v, 8), -EBADMSG);
	cr_expect_eq(split("<a,b", v, 8), -EBADMSG);
	cr_expect_eq(split("(a,b", v, 8), -EBADMSG);
	cr_expect_eq(split("\\", v, 8), 1);
}

/* RFC 3261 §25.1: comment = LPAREN *(ctext / quoted-pair / comment) RPAREN,
 * so "\)" inside a comment does not close it and the comma after it is
 * still inside the comment. */
Test(msg, list_comment_with_quoted_pair)
{
	struct str v[8];

	cr_assert_eq(split("x (a\\), b), y", v, 8), 2);
	expect_str(v[0], "x (a\\), b)");
	expect_str(v[1], "y");
}

/* ---- folding and line ends ---- */

Test(msg, folded_values)
{
	static const char in[] =
		"INVITE sip:a@b SIP/2.0\r\n"
		"Subject: first\r\n"
		" second\r\n"
		"\tthird  \r\n"
		"Route: <sip:a>,\r\n"
		"  <sip:b>\r\n"
		"Call-ID:\r\n"
		" folded-id\r\n"
		"Content-Length:\r\n"
		" 3\r\n"
		"\r\n"
		"abc";
	struct sip_msg m;
	struct str got[4];
	const struct sip_hdr *h;

	cr_assert_eq(PARSE(&m, in), 0, "%s", m.err);
	cr_expect_eq(m.nhdrs, 4);
	h = sip_msg_hdr_first(&m, SIP_HDR_SUBJECT);
	cr_assert_not_null(h);
	expect_str(h->value, "first\r\n second\r\n\tthird");
	cr_expect_eq(list_all(&m, SIP_HDR_ROUTE, got, 4), 2);
	expect_str(got[0], "<sip:a>");
	expect_str(got[1], "<sip:b>");
	expect_str(sip_msg_hdr_first(&m, SIP_HDR_CALL_ID)->value, "folded-id");
	cr_expect(m.has_content_length);
	cr_expect_eq(m.content_length, 3);
	expect_str(m.body, "abc");
	cr_expect_eq(m.len, sizeof(in) - 1);
}

/* Folded values go to the typed readers as they are (msg.h): LWS. */
Test(msg, folded_values_read_by_typed_readers)
{
	static const char in[] =
		"BYE sip:a@b SIP/2.0\r\n"
		"Via: SIP/2.0/UDP\r\n host.example.com:5060\r\n\t;branch=z9hG4bK1 ,\r\n"
		" SIP/2.0/TCP second\r\n"
		"From: \"A\r\n B\"\r\n <sip:a@b>\r\n ;tag=1\r\n"
		"To:\r\n <sip:c@d>\r\n"
		"Call-ID: x\r\n"
		"CSeq: 7\r\n BYE\r\n"
		"Max-Forwards:\r\n 70\r\n"
		"\r\n";
	struct sip_msg m;
	struct sip_core c;

	cr_assert_eq(PARSE(&m, in), 0, "%s", m.err);
	cr_assert_eq(sip_core_read(&m, &c), 0, "%s at %zu", m.err, m.err_at);
	expect_str(c.via.host, "host.example.com");
	cr_expect_eq(c.via.port, 5060);
	expect_str(c.via.branch, "z9hG4bK1");
	expect_str(c.from.display, "A\r\n B");
	expect_str(c.from.tag, "1");
	expect_str(c.to.uri.user, "c");
	cr_expect_eq(c.cseq.num, 7);
	cr_expect_eq(c.cseq.method_id, SIP_METHOD_BYE);
	cr_expect_eq(c.max_forwards, 70);
}

Test(msg, folded_content_length_with_two_numbers)
{
	expect_fail("MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 1\r\n 2\r\n\r\n12",
		    "bad Content-Length", 41, 400);
}

Test(msg, bare_lf_line_ends)
{
	static const char in[] =
		"\n"
		"NOTIFY sip:a@b SIP/2.0\n"
		"Via: SIP/2.0/UDP h;branch=z9hG4bK1\n"
		"Subject: a\n"
		" b\n"
		"Content-Length: 5\n"
		"\n"
		"hello";
	struct sip_msg m;

	cr_assert_eq(PARSE(&m, in), 0, "%s", m.err);
	expect_str(m.method, "NOTIFY");
	expect_str(m.version, "SIP/2.0");
	cr_expect_eq(m.nhdrs, 3);
	expect_str(sip_msg_hdr_first(&m, SIP_HDR_VIA)->value, "SIP/2.0/UDP h;branch=z9hG4bK1");
	expect_str(sip_msg_hdr_first(&m, SIP_HDR_SUBJECT)->value, "a\n b");
	expect_str(m.body, "hello");
	cr_expect_eq(m.len, sizeof(in) - 1);
}

Test(msg, mixed_line_ends)
{
	struct sip_msg m;

	expect_ok(&m, "SIP/2.0 180 Ringing\nVia: SIP/2.0/UDP h\r\nCall-ID: x\n\r\nbody");
	expect_str(m.reason, "Ringing");
	expect_str(sip_msg_hdr_first(&m, SIP_HDR_VIA)->value, "SIP/2.0/UDP h");
	expect_str(sip_msg_hdr_first(&m, SIP_HDR_CALL_ID)->value, "x");
	expect_str(m.body, "body");
	expect_ok(&m, "SIP/2.0 180 Ringing\r\nCall-ID: x\r\n\nbody");
	expect_str(m.body, "body");
}

/* ---- bodies ---- */

Test(msg, body_content_length_shorter_than_rest)
{
	static const char in[] = "MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 3\r\n\r\nabcdef";
	struct sip_msg m;

	cr_assert_eq(PARSE(&m, in), 0, "%s", m.err);
	cr_expect(m.has_content_length);
	cr_expect_eq(m.content_length, 3);
	expect_str(m.body, "abc");
	cr_expect_eq(m.len, sizeof(in) - 1 - 3);
}

Test(msg, body_content_length_equal)
{
	static const char in[] = "MESSAGE sip:a@b SIP/2.0\r\nl:  6 \r\n\r\nabcdef";
	struct sip_msg m;

	cr_assert_eq(PARSE(&m, in), 0, "%s", m.err);
	expect_str(m.body, "abcdef");
	cr_expect_eq(m.len, sizeof(in) - 1);
	expect_ok(&m, "MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 0\r\n\r\n");
	cr_expect_eq(m.body.n, 0);
	cr_expect(m.has_content_length);
	/* Zero-length body, bytes after it ignored. */
	expect_ok(&m, "MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 0\r\n\r\n\r\n\r\n");
	cr_expect_eq(m.body.n, 0);
	cr_expect_eq(m.len, strlen("MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 0\r\n\r\n"));
}

Test(msg, body_content_length_longer_than_datagram)
{
	static const char in[] = "MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 7\r\n\r\nabcdef";

	expect_fail(in, "body shorter than Content-Length", sizeof(in) - 1, 400);
	expect_fail("MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 4294967295\r\n\r\n",
		    "body shorter than Content-Length",
		    strlen("MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 4294967295\r\n\r\n"), 400);
}

Test(msg, body_without_content_length)
{
	static const char in[] = "MESSAGE sip:a@b SIP/2.0\r\nVia: x\r\n\r\nthe\r\nrest\r\n";
	struct sip_msg m;

	cr_assert_eq(PARSE(&m, in), 0, "%s", m.err);
	cr_expect_not(m.has_content_length);
	expect_str(m.body, "the\r\nrest\r\n");
	cr_expect_eq(m.len, sizeof(in) - 1);
}

Test(msg, content_length_repeated_and_conflicting)
{
	static const char conflict[] =
		"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 3\r\nl: 4\r\n\r\nabcd";
	struct sip_msg m;

	expect_ok(&m, "MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 3\r\nl: 3\r\n\r\nabcd");
	expect_str(m.body, "abc");
	expect_fail(conflict, "conflicting Content-Length", off(conflict, "4\r\n"), 400);
	expect_fail("MESSAGE sip:a@b SIP/2.0\r\nContent-Length: abc\r\n\r\n", "bad Content-Length",
		    41, 400);
	expect_fail("MESSAGE sip:a@b SIP/2.0\r\nContent-Length: -1\r\n\r\n", "bad Content-Length",
		    41, 400);
	expect_fail("MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 4294967296\r\n\r\n",
		    "bad Content-Length", 41, 400);
	expect_fail("MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 1 2\r\n\r\n12",
		    "bad Content-Length", 41, 400);
	expect_fail("MESSAGE sip:a@b SIP/2.0\r\nContent-Length:\r\n\r\n", "bad Content-Length",
		    40, 400);
}

/* ---- limits and structure ---- */

static size_t many_headers(char *buf, size_t cap, unsigned count)
{
	size_t n = (size_t)snprintf(buf, cap, "OPTIONS sip:a@b SIP/2.0\r\n");

	for (unsigned i = 0; i < count; i++)
		n += (size_t)snprintf(buf + n, cap - n, "X-H%u: %u\r\n", i, i);
	n += (size_t)snprintf(buf + n, cap - n, "\r\n");
	cr_assert_lt(n, cap);
	return n;
}

Test(msg, too_many_headers)
{
	static char buf[8192];
	struct sip_msg m;
	size_t n;

	n = many_headers(buf, sizeof(buf), SIP_MSG_MAX_HDRS);
	cr_assert_eq(parse(&m, buf, n), 0, "%s", m.err);
	cr_expect_eq(m.nhdrs, SIP_MSG_MAX_HDRS);
	expect_str(m.hdrs[SIP_MSG_MAX_HDRS - 1].value, "127");
	cr_expect_eq(sip_msg_hdr_total(&m, SIP_HDR_OTHER), SIP_MSG_MAX_HDRS);

	n = many_headers(buf, sizeof(buf), SIP_MSG_MAX_HDRS + 1);
	cr_assert_eq(parse(&m, buf, n), -EBADMSG);
	cr_expect_str_eq(m.err, "too many headers");
	cr_expect_eq(m.err_at, off(buf, "X-H128:"));
	cr_expect_eq(m.err_status, 400);
}

Test(msg, missing_empty_line)
{
	static const char a[] = "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n";
	static const char b[] = "INVITE sip:a@b SIP/2.0\r\n";
	static const char c[] = "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h";
	static const char d[] = "INVITE sip:a@b SIP/2.0\r\nSubject: x\r\n folded";

	expect_fail(a, "headers not terminated by an empty line", sizeof(a) - 1, 400);
	expect_fail(b, "headers not terminated by an empty line", sizeof(b) - 1, 400);
	expect_fail(c, "headers not terminated by an empty line", sizeof(c) - 1, 400);
	expect_fail(d, "headers not terminated by an empty line", sizeof(d) - 1, 400);
}

Test(msg, leading_crlfs)
{
	static const char in[] = "\r\n\r\n\nBYE sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n";
	struct sip_msg m;

	cr_assert_eq(PARSE(&m, in), 0, "%s", m.err);
	expect_str(m.method, "BYE");
	cr_expect_eq(m.method.p, m.buf + 5);
	cr_expect_eq(m.len, sizeof(in) - 1);
	cr_expect_eq(sip_msg_offset(&m, m.ruri.p), 9);
	/* Error offsets count from the start of the buffer, CRLFs included. */
	expect_fail("\r\nBYE sip:a@b SIP/9.0\r\n\r\n", "unsupported SIP version", 14, 505);
}

Test(msg, reparse_resets_state)
{
	struct sip_msg m;

	expect_ok(&m, "MESSAGE sip:a@b SIP/2.0\r\nVia: x\r\nl: 1\r\n\r\nab");
	expect_ok(&m, "SIP/2.0 200 OK\r\nCall-ID: y\r\n\r\n");
	cr_expect_not(m.is_request);
	cr_expect_eq(m.method.n, 0);
	cr_expect_eq(m.nhdrs, 1);
	cr_expect_null(sip_msg_hdr_first(&m, SIP_HDR_VIA));
	cr_expect_not(m.has_content_length);
	cr_expect_eq(m.content_length, 0);
	cr_expect_null(m.err);
}

/* Every prefix of a good message must fail cleanly (never read past it):
 * the body-less prefixes as unterminated, the others as short bodies. */
Test(msg, every_prefix_of_a_message)
{
	static const char in[] =
		"INVITE sip:bob@example.com SIP/2.0\r\n"
		"Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bK776asdhds\r\n"
		"To: Bob <sip:bob@example.com>\r\n"
		"From: \"Alice, A.\" <sip:alice@example.com>;tag=1928301774\r\n"
		"Call-ID: a84b4c76e66710@pc33.example.com\r\n"
		"CSeq: 314159 INVITE\r\n"
		"Subject: folded\r\n"
		" line\r\n"
		"Content-Length: 4\r\n"
		"\r\n"
		"v=0\n";
	size_t n = sizeof(in) - 1;
	struct sip_msg m;

	cr_assert_eq(parse(&m, in, n), 0, "%s", m.err);
	cr_expect_eq(m.nhdrs, 7);
	for (size_t k = 0; k < n; k++) {
		int r = parse(&m, in, k);

		cr_expect_eq(r, -EBADMSG, "prefix %zu parsed", k);
		cr_expect_leq(m.err_at, k, "prefix %zu: err_at %zu", k, m.err_at);
	}
}

/* ---- sip_msg_parse_head: the start of a datagram an ICMP error quotes ---- */

static const char head_req[] =
	"NOTIFY sip:agent@192.0.2.10:5060 SIP/2.0\r\n"
	"Via: SIP/2.0/UDP 192.0.2.1:5062;branch=z9hG4bKxf1a2b3c;rport\r\n"
	"Max-Forwards: 70\r\n"
	"To: <sip:agent@acme.example.net>;tag=ep1\r\n"
	"Content-Type: message/sipfrag\r\n"
	"Content-Length: 22\r\n"
	"\r\n"
	"SIP/2.0 180 Ringing\r\n";

static int parse_head(struct sip_msg *m, size_t n)
{
	return sip_msg_parse_head(m, guard_put(head_req, n), n);
}

Test(msg_head, whole_message_reads_without_its_body)
{
	struct sip_msg m;

	cr_assert_eq(parse_head(&m, sizeof(head_req) - 1), 0);
	cr_expect(m.is_request);
	cr_expect_eq(m.method_id, SIP_METHOD_NOTIFY);
	cr_expect_eq(m.nhdrs, 5);
	cr_expect_eq(m.body.n, 0);
	cr_expect_eq(m.len, off(head_req, "SIP/2.0 180"));
}

Test(msg_head, cut_anywhere_keeps_the_complete_lines)
{
	size_t via_end = off(head_req, "Max-Forwards"), hdrs_end = off(head_req, "SIP/2.0 180");

	/* Every cut from the end of the Via line on: the Via is there, whole,
	 * and nothing past the cut is read (the guard page would fault). */
	for (size_t n = via_end; n < sizeof(head_req) - 1; n++) {
		struct sip_msg m;
		const struct sip_hdr *via;

		cr_assert_eq(parse_head(&m, n), 0, "cut at %zu: %s", n, m.err);
		via = sip_msg_hdr_first(&m, SIP_HDR_VIA);
		cr_assert_not_null(via, "cut at %zu", n);
		expect_str(via->value, "SIP/2.0/UDP 192.0.2.1:5062;branch=z9hG4bKxf1a2b3c;rport");
		cr_expect_leq(m.len, n);
		cr_expect_leq(m.len, hdrs_end);
	}
}

Test(msg_head, cut_inside_the_via_leaves_no_via)
{
	struct sip_msg m;

	cr_assert_eq(parse_head(&m, off(head_req, "branch=")), 0);
	cr_expect_null(sip_msg_hdr_first(&m, SIP_HDR_VIA));
	cr_expect_eq(m.nhdrs, 0);
}

Test(msg_head, cut_inside_the_start_line_fails)
{
	struct sip_msg m;

	cr_expect_eq(parse_head(&m, 20), -EBADMSG);
	cr_expect_eq(parse_head(&m, 0), -EBADMSG);
}

Test(msg_head, bad_header_in_the_quote_fails)
{
	static const char bad[] = "BYE sip:a@192.0.2.1 SIP/2.0\r\n"
				  "Via SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx\r\n";
	struct sip_msg m;

	cr_expect_eq(sip_msg_parse_head(&m, guard_put(bad, sizeof(bad) - 1), sizeof(bad) - 1),
		     -EBADMSG);
}

Test(msg_head, full_parse_still_wants_the_empty_line)
{
	struct sip_msg m;

	cr_expect_eq(parse(&m, head_req, off(head_req, "Content-Type")), -EBADMSG);
}
