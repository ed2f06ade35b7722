/* test_e164.c: E.164 syntax edges and every country code prefix, each input
 * placed against PROT_NONE pages. ITU-T E.164 §6 and its assigned code list. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "e164.h"
#include "guard.h"

#define N_CASES(a) (sizeof(a) / sizeof((a)[0]))

/* Both placements must agree; returns the result of the first. */
static bool valid(const char *s, size_t n)
{
	bool v = e164_valid(guard_str(s, n));

	cr_expect_eq(e164_valid(guard_str_start(s, n)), v, "\"%.*s\"", (int)n, s);
	return v;
}

static unsigned cc(const char *s, size_t n)
{
	unsigned c = e164_country_code(guard_str(s, n));

	cr_expect_eq(e164_country_code(guard_str_start(s, n)), c, "\"%.*s\"", (int)n, s);
	return c;
}

struct e164_case {
	const char *in;
	size_t n; /* explicit, so that inputs may hold a NUL */
	bool valid;
	unsigned cc;
};

#define T(lit, ok, code) { (lit), sizeof(lit) - 1, (ok), (code) }

static const struct e164_case syntax[] = {
	T("+123456", false, 0),           /* 6 digits */
	T("+1234567", true, 1),           /* 7 digits */
	T("+123456789012345", true, 1),   /* 15 digits */
	T("+1234567890123456", false, 0), /* 16 digits */
	T("+2901234", true, 290),         /* Saint Helena, 4-digit national */
	T("+6834123", true, 683),         /* Niue */
	T("+0123456789", false, 0),
	T("+0000000", false, 0),
	T("14155551234", false, 0),
	T("004414155551234", false, 0),
	T("+", false, 0),
	T("", false, 0),
	T("++14155551234", false, 0),
	T("+-14155551234", false, 0),
	T("+1 4155551234", false, 0),
	T("+1 415 555 1234", false, 0),
	T("+1-415-555-1234", false, 0),
	T("+1.415.555.1234", false, 0),
	T("+1(415)5551234", false, 0),
	T("+1415555123a", false, 0),
	T("+1415555123A", false, 0),
	T("+a4155551234", false, 0),
	T(" +14155551234", false, 0),
	T("+14155551234 ", false, 0),
	T("+14155551234\0", false, 0),
	T("+1415555\0" "1234", false, 0),
	T("%2B14155551234", false, 0),
	T("tel:+14155551234", false, 0),
	T("+14155551234;ext=1", false, 0),
	T("+\xd9\xa1\xd9\xa2\xd9\xa3\xd9\xa4\xd9\xa5\xd9\xa6\xd9\xa7", false, 0),
	T("+1415555123/", false, 0), /* '0' - 1 */
	T("+1415555123:", false, 0), /* '9' + 1 */
	T("+44 20 7946 0958", false, 0),
	T("+44", false, 0),
};

Test(e164, syntax_edges)
{
	for (size_t i = 0; i < N_CASES(syntax); i++) {
		const struct e164_case *t = &syntax[i];

		cr_expect_eq(valid(t->in, t->n), t->valid, "e164_valid(\"%.*s\")",
			     (int)t->n, t->in);
		cr_expect_eq(cc(t->in, t->n), t->cc, "e164_country_code(\"%.*s\")",
			     (int)t->n, t->in);
	}
}

Test(e164, every_length)
{
	char buf[32] = "+";

	for (size_t digits = 0; digits <= 20; digits++) {
		memset(buf + 1, '9', digits);
		cr_expect_eq(valid(buf, 1 + digits), digits >= 7 && digits <= 15,
			     "%zu digits", digits);
	}
}

static const struct e164_case codes[] = {
	T("+14155551234", true, 1),
	T("+12125551234", true, 1),
	T("+16135551234", true, 1),  /* Canada */
	T("+18095551234", true, 1),  /* Dominican Republic */
	T("+18765551234", true, 1),  /* Jamaica, not 876 */
	T("+12425551234", true, 1),  /* Bahamas, not 242 */
	T("+19999999", true, 1),
	T("+74951234567", true, 7),
	T("+77011234567", true, 7),  /* Kazakhstan */
	T("+201001234567", true, 20),
	T("+27211234567", true, 27),
	T("+302101234567", true, 30),
	T("+33123456789", true, 33),
	T("+390669812345", true, 39), /* Vatican, via Italy */
	T("+447911123456", true, 44),
	T("+4930123456", true, 49),
	T("+61212345678", true, 61),
	T("+819012345678", true, 81),
	T("+8613912345678", true, 86),
	T("+919812345678", true, 91),
	T("+989121234567", true, 98),
	T("+211912345678", true, 211),
	T("+212612345678", true, 212),
	T("+2101234567", true, 0),
	T("+2141234567", true, 0),
	T("+2591234567", true, 0),
	T("+2801234567", true, 0),
	T("+2961234567", true, 0),
	T("+35012345678", true, 350),
	T("+35312345678", true, 353),
	T("+3591234567", true, 359),
	T("+3781234567", true, 378),
	T("+3791234567", true, 0),   /* reserved for Vatican, unused */
	T("+38312345678", true, 383),
	T("+3841234567", true, 0),
	T("+3881512345", true, 388),
	T("+4201234567", true, 420),
	T("+4221234567", true, 0),
	T("+4231234567", true, 423),
	T("+5001234567", true, 500),
	T("+5991234567", true, 599),
	T("+6701234567", true, 670),
	T("+6711234567", true, 0),
	T("+6841234567", true, 0),
	T("+6921234567", true, 692),
	T("+6931234567", true, 0),
	T("+80012345678", true, 800),
	T("+8011234567", true, 0),
	T("+8081234567", true, 808),
	T("+85212345678", true, 852),
	T("+8511234567", true, 0),
	T("+870773123456", true, 870),
	T("+8751234567", true, 0),
	T("+8781234567", true, 878),
	T("+8791234567", true, 0),
	T("+881612345678", true, 881),
	T("+882161234567", true, 882),
	T("+883510012345", true, 883),
	T("+88612345678", true, 886),
	T("+8871234567", true, 0),
	T("+8881234567", true, 888),
	T("+9601234567", true, 960),
	T("+9691234567", true, 0),
	T("+970591234567", true, 970),
	T("+9781234567", true, 0),
	T("+97912345678", true, 979),
	T("+9901234567", true, 0),
	T("+99112345678", true, 991),
	T("+9971234567", true, 0),
	T("+998901234567", true, 998),
	T("+9991234567", true, 0),
};

Test(e164, country_codes)
{
	for (size_t i = 0; i < N_CASES(codes); i++) {
		const struct e164_case *t = &codes[i];

		cr_expect_eq(valid(t->in, t->n), t->valid, "e164_valid(\"%.*s\")",
			     (int)t->n, t->in);
		cr_expect_eq(cc(t->in, t->n), t->cc, "e164_country_code(\"%.*s\")",
			     (int)t->n, t->in);
	}
}

/* The assigned codes again, written as ranges so that a slip in either
 * list shows: the ITU list with libphonenumber's view of it, plus 388 and
 * 991. */
static const struct {
	unsigned lo, hi;
} assigned[] = {
	{ 1, 1 },     { 7, 7 },     { 20, 20 },   { 27, 27 },   { 30, 34 },
	{ 36, 36 },   { 39, 41 },   { 43, 49 },   { 51, 58 },   { 60, 66 },
	{ 81, 82 },   { 84, 84 },   { 86, 86 },   { 90, 95 },   { 98, 98 },
	{ 211, 213 }, { 216, 216 }, { 218, 218 }, { 220, 258 }, { 260, 269 },
	{ 290, 291 }, { 297, 299 }, { 350, 359 }, { 370, 378 }, { 380, 383 },
	{ 385, 389 }, { 420, 421 }, { 423, 423 }, { 500, 509 }, { 590, 599 },
	{ 670, 670 }, { 672, 683 }, { 685, 692 }, { 800, 800 }, { 808, 808 },
	{ 850, 850 }, { 852, 853 }, { 855, 856 }, { 870, 870 }, { 878, 878 },
	{ 880, 883 }, { 886, 886 }, { 888, 888 }, { 960, 968 }, { 970, 977 },
	{ 979, 979 }, { 991, 996 }, { 998, 998 },
};

static bool is_assigned(unsigned code)
{
	for (size_t i = 0; i < N_CASES(assigned); i++) {
		if (code >= assigned[i].lo && code <= assigned[i].hi)
			return true;
	}
	return false;
}

Test(e164, assigned_list_is_prefix_free)
{
	unsigned count = 0;

	for (unsigned code = 1; code <= 999; code++) {
		if (!is_assigned(code))
			continue;
		count++;
		cr_expect(!(code >= 10 && is_assigned(code / 10)), "%u", code);
		cr_expect(!(code >= 100 && is_assigned(code / 100)), "%u", code);
	}
	cr_expect_eq(count, 217);
}

/* Every 3-digit start of a number, 100 to 999, against the ranges above. */
Test(e164, every_prefix)
{
	char buf[16];

	for (unsigned p = 100; p <= 999; p++) {
		unsigned want = is_assigned(p / 100)  ? p / 100 :
				is_assigned(p / 10) ? p / 10 :
				is_assigned(p)      ? p :
						      0;
		int n = snprintf(buf, sizeof(buf), "+%u5551234", p);

		cr_expect_eq(cc(buf, (size_t)n), want, "%s", buf);
	}
}
