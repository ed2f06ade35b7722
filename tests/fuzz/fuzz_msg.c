/* fuzz_msg.c: libFuzzer target for the message parser (whole, and the head
 * an ICMP error quotes) and every typed reader it feeds, on untrusted input. */
#include <stdlib.h>

#include "build.h"
#include "sipfrag.h"

static void read_lists(const struct sip_msg *m)
{
	static const enum sip_hdr_id ids[] = { SIP_HDR_VIA, SIP_HDR_CONTACT, SIP_HDR_ROUTE,
					       SIP_HDR_RECORD_ROUTE, SIP_HDR_SUPPORTED };
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		const struct sip_hdr *h = NULL;
		struct str cur = STR_NULL, v, tok;
		struct sip_contact c;
		struct sip_via via;

		while (sip_msg_list_next(m, ids[i], &h, &cur, &v) > 0) {
			sip_via_read(v, &via, NULL);
			sip_contact_read(v, &c, NULL);
			sip_token_read(v, &tok, NULL);
		}
	}
}

static void read_singles(const struct sip_msg *m)
{
	for (unsigned i = 0; i < m->nhdrs; i++) {
		struct str v = m->hdrs[i].value, name, val, cur;
		struct sip_addr a;
		struct sip_event e;
		struct sip_substate s;
		struct sip_ctype ct;
		struct sip_retry_after ra;
		struct sip_cseq cs;
		char buf[256];
		bool b;

		sip_addr_read(v, &a, NULL);
		if (a.has_uri) {
			cur = a.uri.headers;
			while (sip_uri_header_next(&cur, &name, &val) > 0)
				sip_unescape(val, buf, sizeof(buf));
		}
		sip_event_read(v, &e, NULL);
		sip_substate_read(v, &s, NULL);
		sip_ctype_read(v, &ct, NULL);
		sip_retry_after_read(v, &ra, NULL);
		sip_cseq_read(v, &cs, NULL);
		sip_refer_sub_read(v, &b, NULL);
	}
}

/* A response built from whatever parsed must parse again. */
static void rebuild(struct sip_msg *m, const struct sip_core *core)
{
	static char out[70000];
	static struct sip_msg again;
	struct sip_build b;
	int n;

	sip_build_init(&b, out, sizeof(out));
	sip_build_response(&b, m, core, 400, STR("Bad Request"), STR("t1"),
			   &(struct sip_src){ STR("192.0.2.1"), 5060 });
	n = sip_build_finish(&b, STR_NULL, STR_NULL);
	if (n > 0 && m->is_request && sip_msg_parse(&again, out, (size_t)n))
		abort();
}

/* The head of a datagram as an ICMP error quotes it: the whole message
 * cut anywhere. What parses whole has the same headers as a head. */
static void head(const char *data, size_t size, const struct sip_msg *whole)
{
	static struct sip_msg h;

	if (sip_msg_parse_head(&h, data, size)) {
		if (whole)
			abort();
		return;
	}
	if (whole && h.nhdrs != whole->nhdrs)
		abort();
	read_lists(&h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sip_msg m;
	struct sip_core core;
	struct sipfrag f;
	int r = sip_msg_parse(&m, (const char *)data, size);

	head((const char *)data, size, r ? NULL : &m);
	if (r)
		return 0;
	read_lists(&m);
	read_singles(&m);
	sipfrag_read(m.body, &f, NULL);
	if (sip_core_read(&m, &core) == 0)
		rebuild(&m, &core);
	return 0;
}
