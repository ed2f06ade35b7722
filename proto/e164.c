/* e164.c: E.164 number syntax and the table of assigned country calling codes.
 * ITU-T E.164 §6 (number structure, 15-digit maximum) and its list of assigned
 * country codes; RFC 3966 §5.1.4 (global numbers in tel URIs). */
#include <stdlib.h>

#include "e164.h"

/* E.164 allows 15 digits with the country code. It sets no floor; 7 is the
 * shortest real number (+290, +683, +690 with 4-digit national numbers). */
#define E164_DIGITS_MIN 7
#define E164_DIGITS_MAX 15
#define CC_DIGITS_MAX 3

/* Assigned country codes, ascending for bsearch(): the ITU-T list of E.164
 * assigned country codes, as libphonenumber carries it, plus the ITU shared
 * codes 388 (groups of countries) and 991 (trials) that it leaves out.
 * Codes listed only as reserved (379 Vatican, 875-877 maritime, 879, 969,
 * 999) or spare are not assigned. 1 covers all of NANP. The set is prefix
 * free, which is what lets the leading digits alone pick the code. */
static const uint16_t cc_assigned[] = {
	1, 7,
	20, 27, 30, 31, 32, 33, 34, 36, 39,
	40, 41, 43, 44, 45, 46, 47, 48, 49,
	51, 52, 53, 54, 55, 56, 57, 58,
	60, 61, 62, 63, 64, 65, 66,
	81, 82, 84, 86,
	90, 91, 92, 93, 94, 95, 98,
	211, 212, 213, 216, 218,
	220, 221, 222, 223, 224, 225, 226, 227, 228, 229,
	230, 231, 232, 233, 234, 235, 236, 237, 238, 239,
	240, 241, 242, 243, 244, 245, 246, 247, 248, 249,
	250, 251, 252, 253, 254, 255, 256, 257, 258,
	260, 261, 262, 263, 264, 265, 266, 267, 268, 269,
	290, 291, 297, 298, 299,
	350, 351, 352, 353, 354, 355, 356, 357, 358, 359,
	370, 371, 372, 373, 374, 375, 376, 377, 378,
	380, 381, 382, 383, 385, 386, 387, 388, 389,
	420, 421, 423,
	500, 501, 502, 503, 504, 505, 506, 507, 508, 509,
	590, 591, 592, 593, 594, 595, 596, 597, 598, 599,
	670, 672, 673, 674, 675, 676, 677, 678, 679,
	680, 681, 682, 683, 685, 686, 687, 688, 689,
	690, 691, 692,
	800, 808,
	850, 852, 853, 855, 856,
	870, 878, 880, 881, 882, 883, 886, 888,
	960, 961, 962, 963, 964, 965, 966, 967, 968,
	970, 971, 972, 973, 974, 975, 976, 977, 979,
	991, 992, 993, 994, 995, 996, 998,
};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

bool e164_valid(struct str s)
{
	if (s.n < 1 + E164_DIGITS_MIN || s.n > 1 + E164_DIGITS_MAX)
		return false;
	if (s.p[0] != '+' || s.p[1] == '0')
		return false;
	for (size_t i = 1; i < s.n; i++) {
		if (!is_digit(s.p[i]))
			return false;
	}
	return true;
}

static int cc_cmp(const void *key, const void *elem)
{
	unsigned a = *(const unsigned *)key;
	unsigned b = *(const uint16_t *)elem;

	return (a > b) - (a < b);
}

static bool cc_is_assigned(unsigned cc)
{
	return bsearch(&cc, cc_assigned, sizeof(cc_assigned) / sizeof(cc_assigned[0]),
		       sizeof(cc_assigned[0]), cc_cmp) != NULL;
}

unsigned e164_country_code(struct str s)
{
	unsigned cc = 0;

	if (!e164_valid(s))
		return 0;
	/* A valid number has at least 7 digits, so the first 3 are there. */
	for (size_t i = 1; i <= CC_DIGITS_MAX; i++) {
		cc = cc * 10 + (unsigned)(s.p[i] - '0');
		if (cc_is_assigned(cc))
			return cc;
	}
	return 0;
}
