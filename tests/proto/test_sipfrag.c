/* test_sipfrag.c: reading and writing message/sipfrag bodies of REFER NOTIFYs.
 * RFC 3420 §2 (sipfrag), RFC 3515 §2.4.5 (NOTIFY bodies), RFC 3261 §7.1-§7.2. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "guard.h"
#include "sipfrag.h"

#define expect_str(s, lit)                                                     \
	cr_expect(str_eq((s), STR(lit)), "%s is \"%.*s\", want \"%s\"", #s,    \
		  (int)(s).n, (s).p ? (s).p : "", (lit))

static void read_ok(const char *in, struct sipfrag *f)
{
	const char *at = NULL;
	int r = sipfrag_read(guard_cstr(in), f, &at);

	cr_assert_eq(r, 0, "sipfrag_read(\"%s\") = %d", in, r);
}

/* ---- reading ---- */

Test(sipfrag, trying_without_crlf)
{
	struct sipfrag f;

	read_ok("SIP/2.0 100 Trying", &f);
	cr_expect_eq(f.status, 100);
	expect_str(f.reason, "Trying");
	cr_expect_eq(f.headers.n, 0);
	cr_expect_eq(f.method.n, 0);
	cr_expect_eq(f.ruri.n, 0);
}

Test(sipfrag, trying_with_crlf)
{
	struct sipfrag f;

	read_ok("SIP/2.0 100 Trying\r\n", &f);
	cr_expect_eq(f.status, 100);
	expect_str(f.reason, "Trying");
	cr_expect_eq(f.headers.n, 0);

	read_ok("SIP/2.0 100 Trying\n", &f);
	cr_expect_eq(f.status, 100);
	expect_str(f.reason, "Trying");
	cr_expect_eq(f.headers.n, 0);
}

Test(sipfrag, headers_after)
{
	struct sipfrag f;

	read_ok("SIP/2.0 180 Ringing\r\nContact: <sip:target@192.0.2.9>\r\n\r\n", &f);
	cr_expect_eq(f.status, 180);
	expect_str(f.reason, "Ringing");
	expect_str(f.headers, "Contact: <sip:target@192.0.2.9>\r\n\r\n");

	/* RFC 3420 §2 example: a status line, headers and a body. */
	read_ok("SIP/2.0 200 OK\r\n"
		"Content-Type: text/plain\r\n"
		"Content-Length: 2\r\n"
		"\r\n"
		"hi",
		&f);
	cr_expect_eq(f.status, 200);
	expect_str(f.reason, "OK");
	expect_str(f.headers, "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi");
}

Test(sipfrag, status_lines)
{
	static const struct {
		const char *in;
		uint16_t status;
		const char *reason;
	} cases[] = {
		{ "SIP/2.0 183 Session Progress", 183, "Session Progress" },
		{ "SIP/2.0 200 OK\r\n", 200, "OK" },
		{ "SIP/2.0 487 Request Terminated\r\n", 487, "Request Terminated" },
		{ "SIP/2.0 503 Service Unavailable", 503, "Service Unavailable" },
		{ "SIP/2.0 603 Decline", 603, "Decline" },
		{ "SIP/2.0 699 x", 699, "x" },
		{ "sip/2.0 404 Not Found", 404, "Not Found" },
		{ "SIP/2.0 408 ", 408, "" },
		{ "SIP/2.0 200", 200, "" },
		{ "SIP/2.0 200\r\n", 200, "" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sipfrag f;

		read_ok(cases[i].in, &f);
		cr_expect_eq(f.status, cases[i].status, "\"%s\": %u", cases[i].in, f.status);
		cr_expect(str_eq(f.reason, str_make(cases[i].reason, strlen(cases[i].reason))),
			  "\"%s\": reason \"%.*s\"", cases[i].in, (int)f.reason.n,
			  f.reason.p ? f.reason.p : "");
	}
}

Test(sipfrag, request_fragments)
{
	struct sipfrag f;

	read_ok("INVITE sip:bob@biloxi.example.com SIP/2.0", &f);
	cr_expect_eq(f.status, 0);
	expect_str(f.method, "INVITE");
	expect_str(f.ruri, "sip:bob@biloxi.example.com");
	cr_expect_eq(f.reason.n, 0);
	cr_expect_eq(f.headers.n, 0);

	read_ok("REFER sip:+14155550100@xferd.example.net;user=phone SIP/2.0\r\n"
		"Refer-To: <sip:+442071234567@acme.example.net>\r\n",
		&f);
	expect_str(f.method, "REFER");
	expect_str(f.ruri, "sip:+14155550100@xferd.example.net;user=phone");
	expect_str(f.headers, "Refer-To: <sip:+442071234567@acme.example.net>\r\n");

	read_ok("BYE sip:a@b sip/2.0\n", &f);
	expect_str(f.method, "BYE");
}

Test(sipfrag, garbage)
{
	static const char *const bad[] = {
		"",
		"\r\n",
		"\r\nSIP/2.0 200 OK",
		"hello",
		"hello world",
		"SIP/2.0",
		"SIP/2.0 ",
		"SIP/2.0 99 Too Low",
		"SIP/2.0 099 Too Low",
		"SIP/2.0 700 Too High",
		"SIP/2.0 abc OK",
		"SIP/2.0 1000 OK",
		"SIP/2.0 20",
		"SIP/2.0  100 Trying",
		"SIP/2.0 100Trying",
		"SIP/2.0 100\tTrying",
		"SIP/3.0 100 Trying",
		"SIP/2.0/100 Trying",
		" SIP/2.0 100 Trying",
		"INVITE sip:a@b",
		"INVITE sip:a@b ",
		"INVITE  sip:a@b SIP/2.0",
		"INVITE sip:a@b  SIP/2.0",
		"INVITE sip:a@b SIP/2.0 ",
		"INVITE sip:a@b SIP/2.0 x",
		"INVITE sip:a@b SIP/3.0",
		" INVITE sip:a@b SIP/2.0",
		"INVITE",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sipfrag f;
		struct str s = guard_cstr(bad[i]);
		const char *at = NULL;

		cr_expect_eq(sipfrag_read(s, &f, &at), -EBADMSG, "\"%s\" accepted", bad[i]);
		cr_expect(at != NULL && at >= s.p && at <= str_end(s), "\"%s\": err_at", bad[i]);
		cr_expect_eq(sipfrag_read(s, &f, NULL), -EBADMSG);
	}
}

/* RFC 3420 §2: the start line is a Request-Line or Status-Line, whose
 * Method is a token (RFC 3261 §25.1) and whose Request-URI holds no
 * control characters. */
Test(sipfrag, request_fragment_syntax)
{
	static const char *const bad[] = {
		"INV@TE sip:a@b SIP/2.0",
		"INVITE: sip:a@b SIP/2.0",
		"\x01\x02 \x03 SIP/2.0",
		"INVITE sip:a\x01@b SIP/2.0",
		"<html> x SIP/2.0",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sipfrag f;

		cr_expect_eq(sipfrag_read(guard_cstr(bad[i]), &f, NULL), -EBADMSG,
			     "case %zu accepted", i);
	}
}

/* ---- writing ---- */

Test(sipfrag, write_exact)
{
	static const char want[] = "SIP/2.0 180 Ringing\r\n";
	char *out = guard_alloc(sizeof(want) - 1);

	cr_assert_eq(sipfrag_write(out, sizeof(want) - 1, 180, STR("Ringing")),
		     (int)sizeof(want) - 1);
	cr_expect_eq(memcmp(out, want, sizeof(want) - 1), 0);
}

Test(sipfrag, write_read_round_trip)
{
	static const struct {
		unsigned code;
		const char *reason;
	} cases[] = {
		{ 100, "Trying" },	  { 180, "Ringing" },
		{ 183, "Session Progress" }, { 200, "OK" },
		{ 202, "Accepted" },	  { 404, "Not Found" },
		{ 408, "Request Timeout" }, { 486, "Busy Here" },
		{ 487, "Request Terminated" }, { 503, "Service Unavailable" },
		{ 603, "Decline" },	  { 699, "" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[128];
		struct sipfrag f;
		const char *at = NULL;
		int n = sipfrag_write(buf, sizeof(buf), cases[i].code,
				      str_make(cases[i].reason, strlen(cases[i].reason)));
		struct str body;

		cr_assert_gt(n, 0);
		cr_expect_eq((size_t)n, 8 + 3 + 1 + strlen(cases[i].reason) + 2);
		body = str_make(guard_alloc((size_t)n), (size_t)n);
		memcpy((char *)body.p, buf, (size_t)n);
		cr_assert_eq(sipfrag_read(body, &f, &at), 0, "%.*s", n, buf);
		cr_expect_eq(f.status, cases[i].code);
		cr_expect(str_eq(f.reason, str_make(cases[i].reason, strlen(cases[i].reason))),
			  "%u: \"%.*s\"", cases[i].code, STR_FMT(f.reason));
		cr_expect_eq(f.headers.n, 0);
	}
}

Test(sipfrag, write_sanitises_reason)
{
	char buf[128];
	struct sipfrag f;
	int n = sipfrag_write(buf, sizeof(buf), 200,
			      STR("OK\r\nContent-Length: 0\r\n\r\nSIP/2.0 603 Decline"));
	struct str body;

	cr_assert_gt(n, 0);
	cr_expect_null(memchr(buf, '\n', (size_t)n - 1));
	body = str_make(guard_alloc((size_t)n), (size_t)n);
	memcpy((char *)body.p, buf, (size_t)n);
	cr_assert_eq(sipfrag_read(body, &f, NULL), 0);
	cr_expect_eq(f.status, 200);
	cr_expect_eq(f.headers.n, 0);

	n = sipfrag_write(buf, sizeof(buf), 487, str_make("Request\0Terminated", 18));
	cr_assert_eq(n, (int)strlen("SIP/2.0 487 Request Terminated\r\n"));
	cr_expect_eq(memcmp(buf, "SIP/2.0 487 Request Terminated\r\n", (size_t)n), 0);
}

Test(sipfrag, write_enospc_at_every_size)
{
	static const char want[] = "SIP/2.0 487 Request Terminated\r\n";
	size_t need = sizeof(want) - 1;

	for (size_t cap = 0; cap < need; cap++) {
		char *out = guard_alloc(cap);

		cr_expect_eq(sipfrag_write(out, cap, 487, STR("Request Terminated")), -ENOSPC,
			     "cap %zu", cap);
	}
	{
		char *out = guard_alloc(need);

		cr_assert_eq(sipfrag_write(out, need, 487, STR("Request Terminated")), (int)need);
		cr_expect_eq(memcmp(out, want, need), 0);
	}
}
