/* test_str.c: the slice helpers every parser stands on: comparisons, trimming
 * and the decimal reader whose overflow checks guard CSeq and Content-Length. */
#include <errno.h>

#include <criterion/criterion.h>

#include "str.h"

Test(str, caseeq)
{
	cr_assert(str_caseeq(STR("Call-ID"), STR("call-id")));
	cr_assert(str_caseeq(STR(""), STR("")));
	cr_assert(!str_caseeq(STR("Call-ID"), STR("Call-I")));
	cr_assert(!str_caseeq(STR("a"), STR("b")));
	/* ASCII folding only: '@' and '`' are not letters. */
	cr_assert(!str_caseeq(STR("@"), STR("`")));
	cr_assert(str_casestarts(STR("SIP/2.0 200 OK"), STR("sip/")));
	cr_assert(!str_casestarts(STR("SI"), STR("SIP/")));
}

Test(str, eq)
{
	cr_assert(str_eq(STR("abc"), STR("abc")));
	cr_assert(!str_eq(STR("abc"), STR("abC")));
	cr_assert(str_eq(STR_NULL, STR("")));
}

Test(str, trim)
{
	struct str t = str_trim(STR(" \t\r\n value \r\n "));

	cr_assert(str_eq(t, STR("value")));
	cr_assert_eq(str_trim(STR("  ")).n, 0);
	cr_assert(str_eq(str_trim(STR("a b")), STR("a b")));
}

Test(str, to_u32)
{
	uint32_t v = 7;

	cr_assert_eq(str_to_u32(STR("0"), 10, &v), 0);
	cr_assert_eq(v, 0);
	cr_assert_eq(str_to_u32(STR("4294967295"), UINT32_MAX, &v), 0);
	cr_assert_eq(v, UINT32_MAX);
	cr_assert_eq(str_to_u32(STR("4294967296"), UINT32_MAX, &v), -ERANGE);
	cr_assert_eq(str_to_u32(STR("99999999999999999999999"), UINT32_MAX, &v), -ERANGE);
	cr_assert_eq(str_to_u32(STR("256"), 255, &v), -ERANGE);
	cr_assert_eq(str_to_u32(STR(""), 10, &v), -EINVAL);
	cr_assert_eq(str_to_u32(STR("-1"), 10, &v), -EINVAL);
	cr_assert_eq(str_to_u32(STR(" 1"), 10, &v), -EINVAL);
	cr_assert_eq(str_to_u32(STR("1a"), 10, &v), -EINVAL);
}

Test(str, chr_span)
{
	struct str s = STR("a;b");
	const char *semi = str_chr(s, ';');

	cr_assert(semi == s.p + 1);
	cr_assert_null(str_chr(STR_NULL, ';'));
	cr_assert(str_eq(str_span(s.p, semi), STR("a")));
	cr_assert(str_end(s) == s.p + 3);
}
