/* sipcheck.c: parses one SIP message (a file or stdin) with proto/ and prints
 * what it found as JSON, or "error: REASON at byte N" with exit status 1. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "frame.h"
#include "hdr.h"
#include "ip.h"
#include "param.h"
#include "sipfrag.h"

#define SIPCHECK_MAX (1024 * 1024)

static const char *src_base;

/* Set by the first reader that fails; reported once at the end. */
static const char *fail_why;
static size_t fail_at;

static void fail_set(const char *why, const char *at)
{
	if (!fail_why) {
		fail_why = why;
		fail_at = (size_t)(at - src_base);
	}
}

/* JSON wants UTF-8: bytes that are not valid UTF-8 are shown as Latin-1. */
static json_t *jstr(struct str s)
{
	json_t *j = s.p ? json_stringn(s.p, s.n) : json_string("");
	char *tmp;
	size_t k = 0;

	if (j)
		return j;
	tmp = malloc(s.n * 2 + 1);
	if (!tmp)
		return json_null();
	for (size_t i = 0; i < s.n; i++) {
		uint8_t c = (uint8_t)s.p[i];

		if (c < 0x80) {
			tmp[k++] = (char)c;
		} else {
			tmp[k++] = (char)(0xc0 | (c >> 6));
			tmp[k++] = (char)(0x80 | (c & 0x3f));
		}
	}
	j = json_stringn(tmp, k);
	free(tmp);
	return j ? j : json_null();
}

static void put(json_t *o, const char *key, json_t *v)
{
	json_object_set_new(o, key, v);
}

static void put_str(json_t *o, const char *key, struct str s)
{
	if (s.p)
		put(o, key, jstr(s));
}

static json_t *params_json(struct str params)
{
	json_t *o = json_object();
	struct str cur = params, name, val;

	while (sip_param_next(&cur, &name, &val) > 0) {
		char key[128];

		snprintf(key, sizeof(key), "%.*s", STR_FMT(name));
		put(o, key, jstr(val));
	}
	return o;
}

static const char *scheme_name(enum sip_scheme s)
{
	return s == SIP_SCHEME_SIPS ? "sips" : s == SIP_SCHEME_TEL ? "tel" : "sip";
}

static json_t *uri_headers_json(struct str headers)
{
	json_t *a = json_array();
	struct str cur = headers, name, val;
	char buf[1024];

	while (sip_uri_header_next(&cur, &name, &val) > 0) {
		json_t *h = json_object();
		int n = sip_unescape(val, buf, sizeof(buf));

		put(h, "name", jstr(name));
		put(h, "value", jstr(val));
		if (n >= 0)
			put(h, "unescaped", jstr(str_make(buf, (size_t)n)));
		json_array_append_new(a, h);
	}
	return a;
}

static json_t *uri_json(struct str text)
{
	struct sip_uri u;
	const char *at = NULL;
	json_t *o = json_object();

	put(o, "raw", jstr(text));
	if (sip_uri_parse(text, &u, &at)) {
		put(o, "valid", json_false());
		return o;
	}
	put(o, "scheme", json_string(scheme_name(u.scheme)));
	put_str(o, "user", u.user);
	put_str(o, "password", u.password);
	put_str(o, "host", u.host);
	if (u.host_type == SIP_HOST_IPV4 || u.host_type == SIP_HOST_IPV6)
		put(o, "host_class", json_string(ip_class_name(ip_classify(u.host))));
	if (u.has_port)
		put(o, "port", json_integer(u.port));
	put(o, "params", params_json(u.params));
	if (u.headers.p)
		put(o, "headers", uri_headers_json(u.headers));
	return o;
}

static json_t *addr_json(const struct sip_addr *a)
{
	json_t *o = json_object();

	if (a->display.p)
		put(o, "display", jstr(a->display));
	put(o, "uri", uri_json(a->uri_text));
	put_str(o, "tag", a->tag);
	put(o, "params", params_json(a->params));
	return o;
}

static json_t *via_json(const struct sip_via *v)
{
	json_t *o = json_object();

	put(o, "protocol", jstr(v->proto));
	put(o, "transport", jstr(v->transport));
	put(o, "host", jstr(v->host));
	if (v->port)
		put(o, "port", json_integer(v->port));
	put_str(o, "branch", v->branch);
	put_str(o, "received", v->received);
	put_str(o, "maddr", v->maddr);
	put_str(o, "ttl", v->ttl);
	if (v->rport)
		put(o, "rport", v->rport_value ? json_integer(v->rport_value) : json_true());
	put(o, "params", params_json(v->params));
	return o;
}

/* One JSON value per element of every header of id, read by a typed reader
 * that returns NULL (after fail_set) when the element is malformed. */
typedef json_t *(*elem_fn)(struct str v, const char *what);

static json_t *list_json(const struct sip_msg *m, enum sip_hdr_id id, elem_fn fn,
			 const char *what)
{
	const struct sip_hdr *h = NULL;
	struct str cur = STR_NULL, v;
	json_t *a = json_array();
	int r;

	while ((r = sip_msg_list_next(m, id, &h, &cur, &v)) > 0) {
		json_t *e = fn(v, what);

		if (e)
			json_array_append_new(a, e);
	}
	if (r < 0)
		fail_set(what, h->value.p);
	return a;
}

static json_t *via_elem(struct str v, const char *what)
{
	struct sip_via via;
	const char *at = v.p;

	if (sip_via_read(v, &via, &at))
		return fail_set(what, at), NULL;
	return via_json(&via);
}

static json_t *addr_elem(struct str v, const char *what)
{
	struct sip_addr a;
	const char *at = v.p;

	if (sip_addr_read(v, &a, &at))
		return fail_set(what, at), NULL;
	return addr_json(&a);
}

static json_t *contact_elem(struct str v, const char *what)
{
	struct sip_contact c;
	const char *at = v.p;
	json_t *o;

	if (sip_contact_read(v, &c, &at))
		return fail_set(what, at), NULL;
	if (c.star)
		return json_string("*");
	o = addr_json(&c.addr);
	if (c.has_expires)
		put(o, "expires", json_integer(c.expires));
	return o;
}

static json_t *token_elem(struct str v, const char *what)
{
	struct str t;
	const char *at = v.p;

	if (sip_token_read(v, &t, &at))
		return fail_set(what, at), NULL;
	return jstr(t);
}

/* The single header of id through fn, or nothing if it is absent. */
static void put_one(json_t *o, const char *key, const struct sip_msg *m,
		    enum sip_hdr_id id, elem_fn fn, const char *what)
{
	const struct sip_hdr *h = sip_msg_hdr_first(m, id);
	json_t *v;

	if (!h)
		return;
	v = fn(h->value, what);
	if (v)
		put(o, key, v);
}

static json_t *cseq_elem(struct str v, const char *what)
{
	struct sip_cseq c;
	const char *at = v.p;
	json_t *o;

	if (sip_cseq_read(v, &c, &at))
		return fail_set(what, at), NULL;
	o = json_object();
	put(o, "number", json_integer(c.num));
	put(o, "method", jstr(c.method));
	return o;
}

static json_t *uint_elem(struct str v, const char *what)
{
	uint32_t n;
	const char *at = v.p;

	if (sip_uint_read(v, UINT32_MAX, &n, &at))
		return fail_set(what, at), NULL;
	return json_integer(n);
}

static json_t *event_elem(struct str v, const char *what)
{
	struct sip_event e;
	const char *at = v.p;
	json_t *o;

	if (sip_event_read(v, &e, &at))
		return fail_set(what, at), NULL;
	o = json_object();
	put(o, "package", jstr(e.package));
	put_str(o, "id", e.id);
	put(o, "params", params_json(e.params));
	return o;
}

static json_t *substate_elem(struct str v, const char *what)
{
	struct sip_substate s;
	const char *at = v.p;
	json_t *o;

	if (sip_substate_read(v, &s, &at))
		return fail_set(what, at), NULL;
	o = json_object();
	put(o, "state", jstr(s.state));
	put_str(o, "reason", s.reason);
	if (s.has_expires)
		put(o, "expires", json_integer(s.expires));
	if (s.has_retry_after)
		put(o, "retry_after", json_integer(s.retry_after));
	return o;
}

static json_t *refer_sub_elem(struct str v, const char *what)
{
	bool b;
	const char *at = v.p;

	if (sip_refer_sub_read(v, &b, &at))
		return fail_set(what, at), NULL;
	return json_boolean(b);
}

static json_t *ctype_elem(struct str v, const char *what)
{
	struct sip_ctype c;
	const char *at = v.p;
	json_t *o;

	if (sip_ctype_read(v, &c, &at))
		return fail_set(what, at), NULL;
	o = json_object();
	put(o, "type", jstr(c.type));
	put(o, "subtype", jstr(c.subtype));
	put(o, "params", params_json(c.params));
	return o;
}

static json_t *retry_after_elem(struct str v, const char *what)
{
	struct sip_retry_after r;
	const char *at = v.p;
	json_t *o;

	if (sip_retry_after_read(v, &r, &at))
		return fail_set(what, at), NULL;
	o = json_object();
	put(o, "seconds", json_integer(r.seconds));
	put_str(o, "comment", r.comment);
	if (r.has_duration)
		put(o, "duration", json_integer(r.duration));
	return o;
}

static void put_typed(json_t *o, const struct sip_msg *m)
{
	put(o, "via", list_json(m, SIP_HDR_VIA, via_elem, "bad Via"));
	put_one(o, "from", m, SIP_HDR_FROM, addr_elem, "bad From");
	put_one(o, "to", m, SIP_HDR_TO, addr_elem, "bad To");
	if (sip_msg_hdr_first(m, SIP_HDR_CALL_ID))
		put(o, "call_id", jstr(sip_msg_hdr_first(m, SIP_HDR_CALL_ID)->value));
	put_one(o, "cseq", m, SIP_HDR_CSEQ, cseq_elem, "bad CSeq");
	put_one(o, "max_forwards", m, SIP_HDR_MAX_FORWARDS, uint_elem, "bad Max-Forwards");
	put(o, "contact", list_json(m, SIP_HDR_CONTACT, contact_elem, "bad Contact"));
	put(o, "route", list_json(m, SIP_HDR_ROUTE, addr_elem, "bad Route"));
	put(o, "record_route", list_json(m, SIP_HDR_RECORD_ROUTE, addr_elem, "bad Record-Route"));
	put_one(o, "refer_to", m, SIP_HDR_REFER_TO, addr_elem, "bad Refer-To");
	put_one(o, "referred_by", m, SIP_HDR_REFERRED_BY, addr_elem, "bad Referred-By");
	put(o, "p_asserted_identity",
	    list_json(m, SIP_HDR_P_ASSERTED_IDENTITY, addr_elem, "bad P-Asserted-Identity"));
	put_one(o, "event", m, SIP_HDR_EVENT, event_elem, "bad Event");
	put_one(o, "subscription_state", m, SIP_HDR_SUBSCRIPTION_STATE, substate_elem,
		"bad Subscription-State");
	put_one(o, "refer_sub", m, SIP_HDR_REFER_SUB, refer_sub_elem, "bad Refer-Sub");
	put(o, "require", list_json(m, SIP_HDR_REQUIRE, token_elem, "bad Require"));
	put(o, "supported", list_json(m, SIP_HDR_SUPPORTED, token_elem, "bad Supported"));
	put(o, "unsupported", list_json(m, SIP_HDR_UNSUPPORTED, token_elem, "bad Unsupported"));
	put(o, "allow", list_json(m, SIP_HDR_ALLOW, token_elem, "bad Allow"));
	put_one(o, "content_type", m, SIP_HDR_CONTENT_TYPE, ctype_elem, "bad Content-Type");
	put_one(o, "retry_after", m, SIP_HDR_RETRY_AFTER, retry_after_elem, "bad Retry-After");
	put_one(o, "expires", m, SIP_HDR_EXPIRES, uint_elem, "bad Expires");
}

static void put_body(json_t *o, const struct sip_msg *m)
{
	const struct sip_hdr *ct = sip_msg_hdr_first(m, SIP_HDR_CONTENT_TYPE);
	struct sipfrag f;
	const char *at = NULL;

	if (m->has_content_length)
		put(o, "content_length", json_integer(m->content_length));
	put(o, "body", jstr(m->body));
	if (!ct || !str_casestarts(str_trim(ct->value), STR("message/sipfrag")))
		return;
	if (sipfrag_read(m->body, &f, &at)) {
		fail_set("bad sipfrag body", at);
		return;
	}
	json_t *s = json_object();

	if (f.status) {
		put(s, "status", json_integer(f.status));
		put(s, "reason", jstr(f.reason));
	} else {
		put(s, "method", jstr(f.method));
		put(s, "request_uri", jstr(f.ruri));
	}
	put(o, "sipfrag", s);
}

static json_t *msg_json(const struct sip_msg *m)
{
	json_t *o = json_object(), *hs = json_array();

	put(o, "type", json_string(m->is_request ? "request" : "response"));
	if (m->is_request) {
		put(o, "method", jstr(m->method));
		put(o, "request_uri", uri_json(m->ruri));
	} else {
		put(o, "status", json_integer(m->status));
		put(o, "reason", jstr(m->reason));
	}
	put(o, "version", jstr(m->version));
	for (unsigned i = 0; i < m->nhdrs; i++) {
		json_t *h = json_object();

		put(h, "name", jstr(m->hdrs[i].name));
		if (m->hdrs[i].id)
			put(h, "canonical", jstr(sip_hdr_name(m->hdrs[i].id)));
		put(h, "value", jstr(m->hdrs[i].value));
		json_array_append_new(hs, h);
	}
	put(o, "headers", hs);
	put_typed(o, m);
	put_body(o, m);
	return o;
}

static char *read_all(FILE *f, size_t *len)
{
	char *buf = malloc(SIPCHECK_MAX);

	if (!buf)
		return NULL;
	*len = fread(buf, 1, SIPCHECK_MAX, f);
	if (ferror(f) || !feof(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: sipcheck FILE|-\n"
		     "Parse one SIP message and print what xferd reads in it as JSON.\n"
		     "Exit status 1 with \"error: REASON at byte N\" if it is malformed.\n");
}

int main(int argc, char **argv)
{
	struct sip_msg *m = NULL;
	struct sip_core core;
	FILE *f;
	char *buf = NULL, *out;
	size_t len = 0;
	int rc = 1;

	if (argc != 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argc == 2 ? stdout : stderr);
		return argc == 2 ? 0 : 2;
	}
	f = strcmp(argv[1], "-") ? fopen(argv[1], "rb") : stdin;
	if (!f) {
		fprintf(stderr, "sipcheck: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	buf = read_all(f, &len);
	if (f != stdin)
		fclose(f);
	m = malloc(sizeof(*m));
	if (!buf || !m) {
		fprintf(stderr, "sipcheck: %s: unreadable or larger than %d bytes\n",
			argv[1], SIPCHECK_MAX);
		rc = 2;
		goto out;
	}
	src_base = buf;
	if (sip_msg_parse(m, buf, len) || sip_core_read(m, &core)) {
		printf("error: %s at byte %zu\n", m->err, m->err_at);
		goto out;
	}
	json_t *j = msg_json(m);

	if (fail_why) {
		printf("error: %s at byte %zu\n", fail_why, fail_at);
		json_decref(j);
		goto out;
	}
	out = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (out)
		puts(out);
	free(out);
	rc = out ? 0 : 2;
out:
	free(m);
	free(buf);
	return rc;
}
