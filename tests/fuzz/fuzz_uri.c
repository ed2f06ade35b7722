/* fuzz_uri.c: libFuzzer target for the URI parser, its parameter and header
 * iterators, unescaping, comparison and IP/E.164 classification. */
#include "e164.h"
#include "ip.h"
#include "param.h"
#include "uri.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct str s = str_make((const char *)data, size), cur, name, val;
	struct sip_uri u, u2;
	char buf[512];

	ip_classify(s);
	e164_valid(s);
	e164_country_code(s);
	cur = s;
	while (sip_param_next(&cur, &name, &val) > 0)
		;
	if (sip_uri_parse(s, &u, NULL))
		return 0;
	sip_uri_param(&u, STR("maddr"), &val);
	ip_classify(u.host);
	sip_unescape(u.user, buf, sizeof(buf));
	cur = u.headers;
	while (sip_uri_header_next(&cur, &name, &val) > 0)
		sip_unescape(val, buf, sizeof(buf));
	/* Equality must be reflexive whatever the input. */
	if (sip_uri_parse(s, &u2, NULL) == 0 && !sip_uri_equal(&u, &u2))
		__builtin_trap();
	return 0;
}
