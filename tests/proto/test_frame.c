/* test_frame.c: sip_frame_next on whole, concatenated, trickled, split streams.
 * RFC 3261 §7.3.1, §7.5, §18.3 (stream framing); RFC 5626 §3.5.1 (keep-alive). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard.h"
#include "frame.h"
#include "msg.h"

/* ---- helpers ---- */

/* Offer the first len bytes of s, as a fresh guarded copy. The frame state
 * keeps offsets only, so the same bytes at another address are the same
 * stream (as after a receive buffer is compacted). */
static int feed(struct sip_frame *f, const char *s, size_t len, size_t *flen,
		enum sip_frame_kind *kind)
{
	return sip_frame_next(f, guard_put(s, len), len, flen, kind);
}

static const char msg1[] =
	"INVITE sip:+14155550100@203.0.113.5 SIP/2.0\r\n"
	"Via: SIP/2.0/TCP 198.51.100.33:5060;branch=z9hG4bK74bf9\r\n"
	"From: <sip:+12125550147@198.51.100.33>;tag=9fxced76sl\r\n"
	"To: <sip:+14155550100@203.0.113.5>\r\n"
	"Call-ID: 3848276298220188511@198.51.100.33\r\n"
	"CSeq: 1 INVITE\r\n"
	"Subject: a folded\r\n"
	" subject line\r\n"
	"Content-Type: application/sdp\r\n"
	"Content-Length: 14\r\n"
	"\r\n"
	"v=0\r\no=- 1 1\r\n";

static const char msg2[] =
	"SIP/2.0 100 Trying\r\n"
	"v: SIP/2.0/TCP 198.51.100.33:5060;branch=z9hG4bK74bf9\r\n"
	"l: 0\r\n"
	"\r\n";

static const char msg3[] =
	"BYE sip:a@b SIP/2.0\n"
	"Call-ID: x\n"
	"content-length : 5\n"
	"\n"
	"hello";

/* flen and kind by address: the call that sets them is an argument too, and
 * arguments are evaluated in no fixed order. */
static void expect_frame(int r, const size_t *flen, const enum sip_frame_kind *kind,
			 size_t want_len, enum sip_frame_kind want_kind)
{
	cr_expect_eq(r, 1, "sip_frame_next = %d, want 1", r);
	if (r != 1)
		return;
	cr_expect_eq(*flen, want_len, "frame_len %zu, want %zu", *flen, want_len);
	cr_expect_eq(*kind, want_kind, "kind %d, want %d", *kind, want_kind);
}

/* The state after a complete frame is all zero but max_body. */
static void expect_reset(const struct sip_frame *f, size_t max_body)
{
	cr_expect_eq(f->scanned, 0);
	cr_expect_eq(f->header_len, 0);
	cr_expect_eq(f->body_len, 0);
	cr_expect_eq(f->max_body, max_body);
	cr_expect_null(f->err);
}

/* ---- whole messages ---- */

Test(frame, one_message)
{
	struct sip_frame f = { 0 };
	enum sip_frame_kind kind = SIP_FRAME_PING;
	size_t flen = 0;

	expect_frame(feed(&f, msg1, sizeof(msg1) - 1, &flen, &kind), &flen, &kind, sizeof(msg1) - 1,
		     SIP_FRAME_MESSAGE);
	expect_reset(&f, 0);
	expect_frame(feed(&f, msg2, sizeof(msg2) - 1, &flen, &kind), &flen, &kind, sizeof(msg2) - 1,
		     SIP_FRAME_MESSAGE);
	expect_frame(feed(&f, msg3, sizeof(msg3) - 1, &flen, &kind), &flen, &kind, sizeof(msg3) - 1,
		     SIP_FRAME_MESSAGE);
}

Test(frame, framed_message_parses_to_the_same_length)
{
	static const char *const msgs[] = { msg1, msg2, msg3 };

	for (size_t i = 0; i < 3; i++) {
		struct sip_frame f = { 0 };
		struct sip_msg m;
		enum sip_frame_kind kind = SIP_FRAME_MESSAGE;
		size_t flen = 0, n = strlen(msgs[i]);
		const char *buf = guard_put(msgs[i], n);

		cr_assert_eq(sip_frame_next(&f, buf, n, &flen, &kind), 1);
		cr_assert_eq(sip_msg_parse(&m, buf, flen), 0, "%zu: %s", i, m.err);
		cr_expect_eq(m.len, flen);
		cr_expect(m.has_content_length);
	}
}

Test(frame, several_in_one_buffer)
{
	char buf[2048];
	size_t lens[6], n = 0;
	enum sip_frame_kind kinds[6] = { SIP_FRAME_MESSAGE, SIP_FRAME_PING, SIP_FRAME_MESSAGE,
					 SIP_FRAME_PONG,    SIP_FRAME_MESSAGE, SIP_FRAME_MESSAGE };
	const char *parts[6] = { msg1, "\r\n\r\n", msg2, "\r\n", msg3, msg2 };
	struct sip_frame f = { .max_body = 4096 };
	const char *p;
	size_t left;

	for (int i = 0; i < 6; i++) {
		lens[i] = strlen(parts[i]);
		memcpy(buf + n, parts[i], lens[i]);
		n += lens[i];
	}
	/* A partial seventh message at the end. */
	memcpy(buf + n, msg1, 40);
	n += 40;
	p = guard_put(buf, n);
	left = n;
	for (int i = 0; i < 6; i++) {
		size_t flen = 0;
		enum sip_frame_kind kind = SIP_FRAME_MESSAGE;
		int r = sip_frame_next(&f, p, left, &flen, &kind);

		cr_assert_eq(r, 1, "frame %d: %d (%s)", i, r, f.err ? f.err : "");
		cr_expect_eq(flen, lens[i], "frame %d: len %zu, want %zu", i, flen, lens[i]);
		cr_expect_eq(kind, kinds[i], "frame %d: kind %d", i, kind);
		expect_reset(&f, 4096);
		p += flen;
		left -= flen;
	}
	cr_expect_eq(left, 40);
	{
		size_t flen = 0;
		enum sip_frame_kind kind = SIP_FRAME_MESSAGE;

		cr_expect_eq(sip_frame_next(&f, p, left, &flen, &kind), 0);
		cr_expect_eq(flen, 0);
	}
}

/* ---- trickled and split ---- */

/* Feed s growing by one byte per call; the frame must complete exactly once,
 * when the last byte arrives. */
static void trickle(const char *s, size_t n, enum sip_frame_kind want_kind)
{
	struct sip_frame f = { 0 };
	int done = 0;

	for (size_t len = 0; len <= n; len++) {
		size_t flen = 0;
		enum sip_frame_kind kind = SIP_FRAME_MESSAGE;
		int r = feed(&f, s, len, &flen, &kind);

		cr_assert_geq(r, 0, "len %zu: %d (%s)", len, r, f.err ? f.err : "");
		if (r == 1) {
			done++;
			cr_expect_eq(len, n, "completed early at %zu of %zu", len, n);
			cr_expect_eq(flen, n);
			cr_expect_eq(kind, want_kind);
			break;
		}
	}
	cr_expect_eq(done, 1, "completed %d times", done);
}

Test(frame, byte_by_byte)
{
	trickle(msg1, sizeof(msg1) - 1, SIP_FRAME_MESSAGE);
	trickle(msg2, sizeof(msg2) - 1, SIP_FRAME_MESSAGE);
	trickle(msg3, sizeof(msg3) - 1, SIP_FRAME_MESSAGE);
	trickle("\r\n\r\n", 4, SIP_FRAME_PING);
}

Test(frame, byte_by_byte_stream)
{
	/* Several frames trickling in one stream: each completes once, at its end. */
	char buf[1024];
	size_t ends[4], n = 0, start = 0, k = 0;
	const char *parts[4] = { msg2, "\r\n\r\n", msg3, msg1 };
	struct sip_frame f = { 0 };

	for (int i = 0; i < 4; i++) {
		size_t l = strlen(parts[i]);

		memcpy(buf + n, parts[i], l);
		n += l;
		ends[i] = n;
	}
	for (size_t len = 0; len <= n; len++) {
		size_t flen = 0;
		enum sip_frame_kind kind = SIP_FRAME_MESSAGE;
		int r = sip_frame_next(&f, guard_put(buf + start, len - start), len - start, &flen,
				       &kind);

		cr_assert_geq(r, 0, "at %zu: %d", len, r);
		if (r == 1) {
			cr_assert_lt(k, 4);
			cr_expect_eq(len, ends[k], "frame %zu completed at %zu, want %zu", k, len,
				     ends[k]);
			cr_expect_eq(start + flen, ends[k]);
			start += flen;
			k++;
		}
	}
	cr_expect_eq(k, 4);
}

/* Two reads: the first k bytes, then everything. */
Test(frame, split_at_every_offset)
{
	static const char *const msgs[] = { msg1, msg2, msg3 };

	for (size_t i = 0; i < 3; i++) {
		size_t n = strlen(msgs[i]);

		for (size_t k = 0; k < n; k++) {
			struct sip_frame f = { 0 };
			size_t flen = 0;
			enum sip_frame_kind kind = SIP_FRAME_MESSAGE;

			cr_assert_eq(feed(&f, msgs[i], k, &flen, &kind), 0, "msg %zu, split %zu", i,
				     k);
			expect_frame(feed(&f, msgs[i], n, &flen, &kind), &flen, &kind, n,
				     SIP_FRAME_MESSAGE);
		}
	}
}

/* Three reads through the header block: k1, k2, then everything. */
Test(frame, split_header_block_twice)
{
	size_t n = sizeof(msg2) - 1;

	for (size_t k1 = 1; k1 < n; k1++) {
		for (size_t k2 = k1; k2 < n; k2++) {
			struct sip_frame f = { 0 };
			size_t flen = 0;
			enum sip_frame_kind kind = SIP_FRAME_MESSAGE;

			cr_assert_eq(feed(&f, msg2, k1, &flen, &kind), 0, "%zu", k1);
			cr_assert_eq(feed(&f, msg2, k2, &flen, &kind), 0, "%zu,%zu", k1, k2);
			cr_assert_eq(feed(&f, msg2, n, &flen, &kind), 1, "%zu,%zu", k1, k2);
			cr_assert_eq(flen, n);
		}
	}
}

/* ---- keep-alives ---- */

Test(frame, ping)
{
	struct sip_frame f = { 0 };
	size_t flen = 0;
	enum sip_frame_kind kind = SIP_FRAME_MESSAGE;
	char buf[512];

	expect_frame(feed(&f, "\r\n\r\n", 4, &flen, &kind), &flen, &kind, 4, SIP_FRAME_PING);
	expect_reset(&f, 0);
	/* A ping followed by a message: the ping first. */
	snprintf(buf, sizeof(buf), "\r\n\r\n%s", msg2);
	expect_frame(feed(&f, buf, strlen(buf), &flen, &kind), &flen, &kind, 4, SIP_FRAME_PING);
	expect_frame(feed(&f, buf + 4, strlen(buf) - 4, &flen, &kind), &flen, &kind,
		     sizeof(msg2) - 1, SIP_FRAME_MESSAGE);
	/* Two pings. */
	expect_frame(feed(&f, "\r\n\r\n\r\n\r\n", 8, &flen, &kind), &flen, &kind, 4, SIP_FRAME_PING);
}

Test(frame, pong)
{
	struct sip_frame f = { 0 };
	size_t flen = 0;
	enum sip_frame_kind kind = SIP_FRAME_MESSAGE;
	char buf[512];

	/* A lone CRLF might still become a ping: wait. */
	cr_expect_eq(feed(&f, "\r\n", 2, &flen, &kind), 0);
	cr_expect_eq(feed(&f, "\r", 1, &flen, &kind), 0);
	cr_expect_eq(feed(&f, "\r\n\r", 3, &flen, &kind), 0);
	/* CRLF then the start of a message: a pong. */
	snprintf(buf, sizeof(buf), "\r\n%s", msg2);
	for (size_t len = 3; len <= strlen(buf); len++) {
		struct sip_frame g = { 0 };

		expect_frame(feed(&g, buf, len, &flen, &kind), &flen, &kind, 2, SIP_FRAME_PONG);
	}
	expect_frame(feed(&f, buf, strlen(buf), &flen, &kind), &flen, &kind, 2, SIP_FRAME_PONG);
	expect_frame(feed(&f, buf + 2, strlen(buf) - 2, &flen, &kind), &flen, &kind,
		     sizeof(msg2) - 1, SIP_FRAME_MESSAGE);
	/* CRLF CR then something else: a pong too. */
	expect_frame(feed(&f, "\r\n\rX", 4, &flen, &kind), &flen, &kind, 2, SIP_FRAME_PONG);
}

/* ---- errors ---- */

static void expect_error(const char *s, size_t n, int want, const char *err, size_t max_body)
{
	struct sip_frame f = { .max_body = max_body };
	size_t flen = 0;
	enum sip_frame_kind kind = SIP_FRAME_MESSAGE;
	int r = feed(&f, s, n, &flen, &kind);

	cr_expect_eq(r, want, "sip_frame_next = %d, want %d", r, want);
	cr_expect_not_null(f.err);
	if (f.err && err)
		cr_expect_str_eq(f.err, err);
}

Test(frame, missing_content_length)
{
	static const char in[] = "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP h\r\n\r\nbody";
	static const char lookalike[] =
		"SIP/2.0 200 OK\r\nContent-Lengthy: 4\r\nlx: 4\r\nX-Content-Length: 4\r\n"
		"Subject: x\r\n Content-Length: 4\r\n\r\nbody";

	expect_error(in, sizeof(in) - 1, -EBADMSG, "missing Content-Length on a stream", 0);
	expect_error(lookalike, sizeof(lookalike) - 1, -EBADMSG,
		     "missing Content-Length on a stream", 0);
	/* Already at the empty line, before any body byte. */
	expect_error(in, sizeof(in) - 1 - 4, -EBADMSG, "missing Content-Length on a stream", 0);
}

Test(frame, conflicting_content_length)
{
	static const char in[] = "SIP/2.0 200 OK\r\nContent-Length: 4\r\nl: 5\r\n\r\nbodyx";
	static const char same[] = "SIP/2.0 200 OK\r\nContent-Length: 4\r\nL:4\r\n\r\nbody";
	struct sip_frame f = { 0 };
	size_t flen = 0;
	enum sip_frame_kind kind = SIP_FRAME_MESSAGE;

	cr_expect_eq(feed(&f, in, sizeof(in) - 1, &flen, &kind), -EBADMSG);
	cr_assert_not_null(f.err);
	cr_expect_str_eq(f.err, "conflicting Content-Length");
	cr_expect_eq(f.err_at, (size_t)(strstr(in, "5\r\n") - in));

	f = (struct sip_frame){ 0 };
	expect_frame(feed(&f, same, sizeof(same) - 1, &flen, &kind), &flen, &kind, sizeof(same) - 1,
		     SIP_FRAME_MESSAGE);
}

Test(frame, bad_content_length)
{
	static const char *const bad[] = {
		"SIP/2.0 200 OK\r\nContent-Length: abc\r\n\r\n",
		"SIP/2.0 200 OK\r\nContent-Length: -1\r\n\r\n",
		"SIP/2.0 200 OK\r\nContent-Length: 1 2\r\n\r\n12",
		"SIP/2.0 200 OK\r\nContent-Length:\r\n\r\n",
		"SIP/2.0 200 OK\r\nContent-Length: 4294967296\r\n\r\n",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_error(bad[i], strlen(bad[i]), -EBADMSG, "bad Content-Length", 0);
}

/* A header block of n bytes (start line and headers through the empty
 * line), with Content-Length: 0. */
static char *big_header(size_t n)
{
	static const char head[] = "OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 0\r\nX-Pad: ";
	char *s = malloc(n);
	size_t pad;

	cr_assert_not_null(s);
	cr_assert_gt(n, sizeof(head) + 4);
	pad = n - (sizeof(head) - 1) - 4;
	memcpy(s, head, sizeof(head) - 1);
	memset(s + sizeof(head) - 1, 'a', pad);
	memcpy(s + n - 4, "\r\n\r\n", 4);
	return s;
}

Test(frame, header_block_limit)
{
	size_t max = SIP_FRAME_MAX_HEADER;
	char *exact = big_header(max), *over = big_header(max + 1);
	struct sip_frame f = { 0 };
	size_t flen = 0;
	enum sip_frame_kind kind = SIP_FRAME_MESSAGE;

	/* Exactly the limit: fine, also when it arrives in two pieces. */
	expect_frame(feed(&f, exact, max, &flen, &kind), &flen, &kind, max, SIP_FRAME_MESSAGE);
	cr_expect_eq(feed(&f, exact, max - 1, &flen, &kind), 0);
	expect_frame(feed(&f, exact, max, &flen, &kind), &flen, &kind, max, SIP_FRAME_MESSAGE);

	/* One byte over, found at once. */
	f = (struct sip_frame){ 0 };
	cr_expect_eq(feed(&f, over, max + 1, &flen, &kind), -EMSGSIZE);
	cr_expect_not_null(f.err);

	/* One byte over, still unterminated when the limit is passed. */
	f = (struct sip_frame){ 0 };
	cr_expect_eq(feed(&f, over, max, &flen, &kind), 0);
	cr_expect_eq(feed(&f, over, max + 1, &flen, &kind), -EMSGSIZE);

	/* No empty line in sight and more than the limit buffered. */
	f = (struct sip_frame){ 0 };
	cr_expect_eq(feed(&f, over, max - 10, &flen, &kind), 0);
	memset(over + max - 4, 'a', 4);
	cr_expect_eq(feed(&f, over, max + 1, &flen, &kind), -EMSGSIZE);
	cr_expect_not_null(f.err);
	free(exact);
	free(over);
}

Test(frame, body_over_max_body)
{
	static const char at_max[] = "MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 100\r\n\r\n";
	static const char over[] = "MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 101\r\n\r\n";
	static const char huge[] = "MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 1048577\r\n\r\n";
	static const char mib[] = "MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 1048576\r\n\r\n";
	struct sip_frame f = { .max_body = 100 };
	size_t flen = 0;
	enum sip_frame_kind kind = SIP_FRAME_MESSAGE;

	cr_expect_eq(feed(&f, at_max, sizeof(at_max) - 1, &flen, &kind), 0);
	cr_expect_eq(f.body_len, 100);
	expect_error(over, sizeof(over) - 1, -EMSGSIZE, "body too large", 100);
	/* The default limit is 1 MiB. */
	expect_error(huge, sizeof(huge) - 1, -EMSGSIZE, "body too large", 0);
	f = (struct sip_frame){ 0 };
	cr_expect_eq(feed(&f, mib, sizeof(mib) - 1, &flen, &kind), 0);
	cr_expect_null(f.err);
}

Test(frame, compact_content_length)
{
	static const char *const ok[] = {
		"SIP/2.0 200 OK\r\nl: 3\r\n\r\nabc",
		"SIP/2.0 200 OK\r\nL:3\r\n\r\nabc",
		"SIP/2.0 200 OK\r\nl \t: 3 \r\n\r\nabc",
		"SIP/2.0 200 OK\r\nCONTENT-LENGTH: 3\r\n\r\nabc",
		"SIP/2.0 200 OK\r\ncontent-length\t:3\r\n\r\nabc",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct sip_frame f = { 0 };
		size_t flen = 0, n = strlen(ok[i]);
		enum sip_frame_kind kind = SIP_FRAME_MESSAGE;

		expect_frame(feed(&f, ok[i], n, &flen, &kind), &flen, &kind, n, SIP_FRAME_MESSAGE);
		/* And with one more byte: still the same frame. */
		f = (struct sip_frame){ 0 };
		cr_expect_eq(feed(&f, ok[i], n - 1, &flen, &kind), 0, "%zu", i);
	}
}

Test(frame, folded_content_length)
{
	static const char in[] = "SIP/2.0 200 OK\r\nContent-Length:\r\n 3\r\nCall-ID: x\r\n\r\nabc";
	static const char in2[] = "SIP/2.0 200 OK\r\nContent-Length:\r\n\t\r\n 3\r\n\r\nabc";
	struct sip_frame f = { 0 };
	size_t flen = 0;
	enum sip_frame_kind kind = SIP_FRAME_MESSAGE;

	expect_frame(feed(&f, in, sizeof(in) - 1, &flen, &kind), &flen, &kind, sizeof(in) - 1,
		     SIP_FRAME_MESSAGE);
	expect_frame(feed(&f, in2, sizeof(in2) - 1, &flen, &kind), &flen, &kind, sizeof(in2) - 1,
		     SIP_FRAME_MESSAGE);
	/* Folded at the end of the header block, split across reads. */
	for (size_t k = 0; k < sizeof(in) - 1; k++) {
		f = (struct sip_frame){ 0 };
		cr_assert_eq(feed(&f, in, k, &flen, &kind), 0, "%zu", k);
		expect_frame(feed(&f, in, sizeof(in) - 1, &flen, &kind), &flen, &kind,
			     sizeof(in) - 1, SIP_FRAME_MESSAGE);
	}
}

Test(frame, bare_lf_header_end)
{
	static const char in[] = "SIP/2.0 200 OK\nl: 2\n\nok";
	static const char mixed[] = "SIP/2.0 200 OK\r\nl: 2\n\r\nok";
	struct sip_frame f = { 0 };
	size_t flen = 0;
	enum sip_frame_kind kind = SIP_FRAME_MESSAGE;

	expect_frame(feed(&f, in, sizeof(in) - 1, &flen, &kind), &flen, &kind, sizeof(in) - 1,
		     SIP_FRAME_MESSAGE);
	expect_frame(feed(&f, mixed, sizeof(mixed) - 1, &flen, &kind), &flen, &kind,
		     sizeof(mixed) - 1, SIP_FRAME_MESSAGE);
}

Test(frame, empty_input)
{
	struct sip_frame f = { 0 };
	size_t flen = 7;
	enum sip_frame_kind kind = SIP_FRAME_MESSAGE;

	cr_expect_eq(feed(&f, "", 0, &flen, &kind), 0);
	cr_expect_eq(flen, 7);
	cr_expect_eq(f.scanned, 0);
}
