/* sipfrag.c: reads and writes the start-line fragments that REFER progress
 * reports carry. RFC 3420 §2, RFC 3515 §2.4.5. */
#include <errno.h>

#include "build.h"
#include "sipfrag.h"

static int frag_bad(const char **err_at, const char *p)
{
	if (err_at)
		*err_at = p;
	return -EBADMSG;
}

static int frag_status(struct str line, struct sipfrag *f, const char **err_at)
{
	const char *p = line.p + 8, *end = str_end(line);
	uint32_t code;

	if (end - p < 3 || str_to_u32(str_make(p, 3), 699, &code) || code < 100)
		return frag_bad(err_at, p);
	p += 3;
	if (p < end && *p != ' ')
		return frag_bad(err_at, p);
	f->status = (uint16_t)code;
	f->reason = p < end ? str_span(p + 1, end) : STR_NULL;
	return 0;
}

/* RFC 3261 §25.1 token characters. */
static bool is_token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("-.!%*_+`'~", c));
}

static int frag_request(struct str line, struct sipfrag *f, const char **err_at)
{
	const char *sp1 = str_chr(line, ' '), *sp2;

	if (!sp1 || sp1 == line.p)
		return frag_bad(err_at, line.p);
	sp2 = memchr(sp1 + 1, ' ', (size_t)(str_end(line) - sp1 - 1));
	if (!sp2 || sp2 == sp1 + 1 || !str_caseeq(str_span(sp2 + 1, str_end(line)), STR("SIP/2.0")))
		return frag_bad(err_at, sp2 ? sp2 : sp1);
	f->method = str_span(line.p, sp1);
	f->ruri = str_span(sp1 + 1, sp2);
	for (const char *p = f->method.p; p < sp1; p++) {
		if (!is_token_char(*p))
			return frag_bad(err_at, p);
	}
	for (const char *p = f->ruri.p; p < sp2; p++) {
		if ((uint8_t)*p <= ' ' || *p == 0x7f || *p == '<' || *p == '>' || *p == '"')
			return frag_bad(err_at, p);
	}
	return 0;
}

int sipfrag_read(struct str body, struct sipfrag *f, const char **err_at)
{
	const char *lf = str_chr(body, '\n');
	struct str line = str_span(body.p, lf ? lf : str_end(body));

	memset(f, 0, sizeof(*f));
	if (line.n && line.p[line.n - 1] == '\r')
		line.n--;
	f->headers = lf ? str_span(lf + 1, str_end(body)) : STR_NULL;
	if (str_casestarts(line, STR("SIP/2.0 ")))
		return frag_status(line, f, err_at);
	return frag_request(line, f, err_at);
}

int sipfrag_write(char *out, size_t cap, unsigned code, struct str reason)
{
	struct sip_build b;

	sip_build_init(&b, out, cap);
	sip_build_status_line(&b, code, reason);
	return b.err ? b.err : (int)b.n;
}
