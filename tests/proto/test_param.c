/* test_param.c: tests of proto/param.c, every list also walked from memory
 * that ends at a PROT_NONE page. RFC 3261 §25.1 (generic-param, quoted-string). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "guard.h"
#include "param.h"

static struct str S(const char *s)
{
	return str_make(s, strlen(s));
}

static bool eq(struct str a, const char *lit)
{
	return str_eq(a, S(lit));
}

/* Walk list and render it as "name=value|..." (or "ERR" at the failing
 * call), so one string states a whole expected outcome. */
static void walk(struct str list, char *out, size_t cap)
{
	struct str name, value;
	size_t n = 0;
	int r;

	out[0] = '\0';
	while ((r = sip_param_next(&list, &name, &value)) == 1) {
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
} walks[] = {
	{ "", "" },
	{ "   ", "" },
	{ "a=b;lr;c=\"quoted;value\"", "a=b|lr=|c=\"quoted;value\"|" },
	{ ";a=b", "a=b|" },
	{ "a=b", "a=b|" },
	{ " a = b ; lr ;\tc=\r\n d ", "a=b|lr=|c=d|" },
	{ "a\t=\tb", "a=b|" },
	{ "tag=1928301774;branch=z9hG4bK776asdhds", "tag=1928301774|branch=z9hG4bK776asdhds|" },
	{ "maddr=[2001:db8::1];transport=tcp", "maddr=[2001:db8::1]|transport=tcp|" },
	{ "received=192.0.2.1;rport", "received=192.0.2.1|rport=|" },
	{ "+sip.instance=\"<urn:uuid:f81d4fae>\"", "+sip.instance=\"<urn:uuid:f81d4fae>\"|" },
	{ "q=0.7;expires=3600", "q=0.7|expires=3600|" },
	{ "c=\"a,b=c;d\"", "c=\"a,b=c;d\"|" },
	{ "c=\"\"", "c=\"\"|" },
	{ "c=\"\\\"\\\\\"", "c=\"\\\"\\\\\"|" },
	{ "c=\"tab\there\"", "c=\"tab\there\"|" },
	{ "c=\"folded\r\n line\"", "c=\"folded\r\n line\"|" },
	{ "c=\"caf\xc3\xa9\"", "c=\"caf\xc3\xa9\"|" },
	{ "c=\"x\" ; d", "c=\"x\"|d=|" },
	/* malformed */
	{ ";", "ERR" },
	{ "=b", "ERR" },
	{ " = b", "ERR" },
	{ "a;;b", "a=|ERR" },
	{ "a=b;", "a=b|ERR" },
	{ "a=b; ", "a=b|ERR" },
	{ "a=", "ERR" },
	{ "a= ;b", "ERR" },
	{ "a=b c", "ERR" },
	{ "a b", "ERR" },
	{ "a=\"x\"y", "ERR" },
	{ "a=\"unterminated", "ERR" },
	{ "a=\"", "ERR" },
	{ "a=\"ends in backslash\\", "ERR" },
	{ "a=\"bs\\\rx\"", "ERR" },
	{ "a=\"bs\\\nx\"", "ERR" },
	{ "a=\"bs\\\xc3\xa9\"", "ERR" },
	{ "a=\"bare\rcr\"", "ERR" },
	{ "a=\"bare\nlf\"", "ERR" },
	{ "a=\"crlf no fold\r\nx\"", "ERR" },
	{ "a=\"crlf at end\r\n", "ERR" },
	{ "a=\"nul\0\"", "ERR" },
	{ "a=\"del\x7f\"", "ERR" },
	{ "a=b,c=d", "ERR" },
	{ "a=<b>", "ERR" },
	{ "a=b;\"c\"=d", "a=b|ERR" },
	{ "x=1;y=\"2\";z", "x=1|y=\"2\"|z=|" },
};

Test(param, table)
{
	char out[256];

	for (size_t i = 0; i < sizeof(walks) / sizeof(walks[0]); i++) {
		walk(S(walks[i].in), out, sizeof(out));
		cr_expect_str_eq(out, walks[i].out, "input [%s]", walks[i].in);
	}
}

/* The same table from memory that ends at a PROT_NONE page. */
Test(param, table_guard_page)
{
	char out[256];

	for (size_t i = 0; i < sizeof(walks) / sizeof(walks[0]); i++) {
		walk(guard_cstr(walks[i].in), out, sizeof(out));
		cr_expect_str_eq(out, walks[i].out, "input [%s]", walks[i].in);
	}
}

/* The embedded NUL entry above is cut by strlen; check it whole. */
Test(param, nul_in_quotes)
{
	static const char in[] = "a=\"x\0y\"";
	struct str list = guard_str(in, sizeof(in) - 1), name, value;

	cr_expect_eq(sip_param_next(&list, &name, &value), -EINVAL);
}

Test(param, fields_and_cursor)
{
	struct str list = S("a=b;lr;c=\"q;v\""), name, value;

	cr_assert_eq(sip_param_next(&list, &name, &value), 1);
	cr_expect(eq(name, "a") && eq(value, "b"));
	cr_expect(eq(list, ";lr;c=\"q;v\""), "cursor keeps the ';'");
	cr_assert_eq(sip_param_next(&list, &name, &value), 1);
	cr_expect(eq(name, "lr") && value.n == 0);
	cr_assert_eq(sip_param_next(&list, &name, &value), 1);
	cr_expect(eq(name, "c") && eq(value, "\"q;v\""));
	cr_expect_eq(list.n, 0);
	cr_expect_eq(sip_param_next(&list, &name, &value), 0);
	cr_expect_eq(sip_param_next(&list, &name, &value), 0);
}

Test(param, slices_point_into_input)
{
	const char *in = "alpha=beta";
	struct str list = S(in), name, value;

	cr_assert_eq(sip_param_next(&list, &name, &value), 1);
	cr_expect_eq(name.p, in);
	cr_expect_eq(value.p, in + 6);
}

Test(param, cursor_unchanged_on_error)
{
	struct str list = S("a=b;=c"), name, value, before;

	cr_assert_eq(sip_param_next(&list, &name, &value), 1);
	before = list;
	cr_expect_eq(sip_param_next(&list, &name, &value), -EINVAL);
	cr_expect(list.p == before.p && list.n == before.n);
}

Test(param, null_slice)
{
	struct str list = STR_NULL, name, value;

	cr_expect_eq(sip_param_next(&list, &name, &value), 0);
	cr_expect_not(sip_param_get(STR_NULL, STR("a"), &value));
}

Test(param, get)
{
	struct str list = S("Transport=TCP;lr;maddr=[::1];x=\"a;b\";lr=dup");
	struct str v;

	cr_expect(sip_param_get(list, STR("transport"), &v) && eq(v, "TCP"));
	cr_expect(sip_param_get(list, STR("TRANSPORT"), &v) && eq(v, "TCP"));
	cr_expect(sip_param_get(list, STR("lr"), &v) && v.n == 0, "first one wins");
	cr_expect(sip_param_get(list, STR("maddr"), &v) && eq(v, "[::1]"));
	cr_expect(sip_param_get(list, STR("x"), &v) && eq(v, "\"a;b\""));
	cr_expect_not(sip_param_get(list, STR("ttl"), &v));
	cr_expect_not(sip_param_get(list, STR("l"), &v), "no prefix match");
	cr_expect(sip_param_get(list, STR("lr"), NULL));
}

Test(param, get_stops_at_malformed)
{
	struct str v;

	cr_expect(sip_param_get(S("a=1;;b=2"), STR("a"), &v));
	cr_expect_not(sip_param_get(S("a=1;;b=2"), STR("b"), &v));
	cr_expect_not(sip_param_get(S("a=\"1;b=2"), STR("b"), &v));
}

Test(param, get_guard_page)
{
	struct str v;

	cr_expect(sip_param_get(guard_str("a=1;b", 5), STR("b"), &v) && v.n == 0);
	cr_expect_not(sip_param_get(guard_str("a=1;b=", 6), STR("b"), &v));
	cr_expect_not(sip_param_get(guard_str("a=\"1", 4), STR("a"), &v));
}
