/* scan.h: private to proto/: what the parsers share to stay fast: byte
 * scans, 16 bytes at a time with SSE2 (part of every x86-64) and a plain
 * loop elsewhere, and clearing of the structs they fill. */
#ifndef XFERD_SCAN_H
#define XFERD_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Every vector load stays inside the slice it scans (or [lo,end) where a
 * function takes lo): a buffer may end just before an unmapped page (the
 * tests put one there), so bytes past its end are never read, even where
 * an aligned over-read would be harmless. */

#ifdef __SSE2__
static inline __m128i scan_load(const char *p)
{
	return _mm_loadu_si128((const __m128i *)(const void *)p);
}

/* 0xff in the bytes of v within [lo, hi], unsigned: v - lo <= hi - lo. */
static inline __m128i scan_in_range(__m128i v, char lo, char hi)
{
	__m128i t = _mm_sub_epi8(v, _mm_set1_epi8(lo));

	return _mm_cmpeq_epi8(_mm_min_epu8(t, _mm_set1_epi8((char)(hi - lo))), t);
}
#endif

/* The n lowest bits set, for masks of up to 64 bytes. */
static inline uint64_t scan_low(int n)
{
	return n >= 64 ? ~0ull : (1ull << n) - 1;
}

/* The first byte of [p,end) equal to a, b, c or d, or end. */
static inline const char *scan_any4(const char *p, const char *end, char a, char b,
				    char c, char d)
{
#ifdef __SSE2__
	const __m128i va = _mm_set1_epi8(a), vb = _mm_set1_epi8(b);
	const __m128i vc = _mm_set1_epi8(c), vd = _mm_set1_epi8(d);

	for (; end - p >= 16; p += 16) {
		__m128i v = scan_load(p);
		__m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, va), _mm_cmpeq_epi8(v, vb)),
					   _mm_or_si128(_mm_cmpeq_epi8(v, vc), _mm_cmpeq_epi8(v, vd)));
		unsigned bits = (unsigned)_mm_movemask_epi8(hit);

		if (bits)
			return p + __builtin_ctz(bits);
	}
#endif
	for (; p < end; p++) {
		if (*p == a || *p == b || *p == c || *p == d)
			return p;
	}
	return end;
}

/* The first c in [p,end), or NULL: memchr() without the call, for the
 * short runs (header lines) where the call costs as much as the scan. */
static inline const char *scan_byte(const char *p, const char *end, char c)
{
#ifdef __SSE2__
	const __m128i vc = _mm_set1_epi8(c);

	for (; end - p >= 16; p += 16) {
		unsigned bits = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(scan_load(p), vc));

		if (bits)
			return p + __builtin_ctz(bits);
	}
#endif
	for (; p < end; p++) {
		if (*p == c)
			return p;
	}
	return NULL;
}

/* A header line at p: returns its '\n' (or NULL) and sets *stop to the
 * first ':', SP, HT or '\n' (or end), where a plain name ends. One look at
 * the first 16 bytes answers both for most lines. */
static inline const char *scan_line(const char *p, const char *end, const char **stop)
{
#ifdef __SSE2__
	if (end - p >= 16) {
		__m128i v = scan_load(p);
		unsigned lf = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('\n')));
		__m128i sep = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(':')),
					   _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(' ')),
							_mm_cmpeq_epi8(v, _mm_set1_epi8('\t'))));
		unsigned st = lf | (unsigned)_mm_movemask_epi8(sep);

		*stop = st ? p + __builtin_ctz(st) : scan_any4(p + 16, end, ':', ' ', '\t', '\n');
		return lf ? p + __builtin_ctz(lf) : scan_byte(p + 16, end, '\n');
	}
#endif
	*stop = scan_any4(p, end, ':', ' ', '\t', '\n');
	return scan_byte(p, end, '\n');
}

/* The first byte of [p,end) that is no hostname character (alphanum
 * "-."), or end. Hosts are short: one 16-byte step, then bytes. */
static inline const char *scan_host(const char *p, const char *end)
{
#ifdef __SSE2__
	for (; end - p >= 16; p += 16) {
		__m128i v = scan_load(p);
		__m128i letter = scan_in_range(_mm_or_si128(v, _mm_set1_epi8(0x20)), 'a', 'z');
		__m128i host = _mm_or_si128(_mm_or_si128(letter, scan_in_range(v, '0', '9')),
					    _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('-')),
							 _mm_cmpeq_epi8(v, _mm_set1_epi8('.'))));
		unsigned stop = ~(unsigned)_mm_movemask_epi8(host) & 0xffff;

		if (stop)
			return p + __builtin_ctz(stop);
	}
#endif
	for (; p < end; p++) {
		char l = (char)(*p | 0x20);

		if (!((l >= 'a' && l <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
			break;
	}
	return p;
}

/* Parameter words (param.c): visible ASCII but ";=\",<>". */
static inline bool scan_is_word(char c)
{
	return c > 0x20 && c < 0x7f && c != ';' && c != '=' && c != '"' && c != ',' &&
	       c != '<' && c != '>';
}

#ifdef __SSE2__
/* Bit i set where byte i of v is no word character: outside 0x21-0x7e
 * (as signed bytes, so 0x80-0xff too) or a delimiter. */
static inline unsigned scan_word_stops16(__m128i v)
{
	__m128i in = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8(0x20)),
				   _mm_cmplt_epi8(v, _mm_set1_epi8(0x7f)));
	__m128i delim = _mm_or_si128(
		_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(';')), _mm_cmpeq_epi8(v, _mm_set1_epi8('='))),
		_mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
					  _mm_cmpeq_epi8(v, _mm_set1_epi8(','))),
			     _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('<')),
					  _mm_cmpeq_epi8(v, _mm_set1_epi8('>')))));

	return 0xffffu & ~(unsigned)_mm_movemask_epi8(_mm_andnot_si128(delim, in));
}
#endif

/* Whether [p,end) holds word characters only. Loads stay within [lo,end):
 * the last step loads the 16 bytes that end at end, so a short run needs
 * no byte loop when 16 bytes before end are readable. */
static inline bool scan_all_words(const char *p, const char *end, const char *lo)
{
#ifdef __SSE2__
	if (end - lo >= 16) {
		for (; end - p > 16; p += 16) {
			if (scan_word_stops16(scan_load(p)))
				return false;
		}
		return !(scan_word_stops16(scan_load(end - 16)) >> (16 - (end - p)));
	}
#else
	(void)lo;
#endif
	for (; p < end; p++) {
		if (!scan_is_word(*p))
			return false;
	}
	return true;
}

/* True for the bytes no Call-ID or Request-URI may hold: controls, SP
 * and DEL. Bytes above 0x7f pass (UTF-8 is not ours to judge here). */
static inline bool scan_is_ctl_or_sp(char c)
{
	return (uint8_t)c <= ' ' || c == 0x7f;
}

/* The first byte of [p,end) for which scan_is_ctl_or_sp() holds, or end. */
static inline const char *scan_ctl_or_sp(const char *p, const char *end)
{
#ifdef __SSE2__
	/* As signed bytes, 0x00-0x20 are those in [0, 0x21). */
	const __m128i zero = _mm_setzero_si128(), sp1 = _mm_set1_epi8(0x21);
	const __m128i del = _mm_set1_epi8(0x7f);

	/* A last partial step loads the 16 bytes that end at end: they
	 * overlap bytes already found clean, and spare the tail a byte loop
	 * (a Call-ID is rarely a multiple of 16). */
	if (end - p >= 16) {
		for (const char *q;; p = q + 16) {
			__m128i v = scan_load(q = end - p >= 16 ? p : end - 16);
			__m128i ctl = _mm_andnot_si128(_mm_cmplt_epi8(v, zero), _mm_cmplt_epi8(v, sp1));
			unsigned bits = (unsigned)_mm_movemask_epi8(
				_mm_or_si128(ctl, _mm_cmpeq_epi8(v, del)));

			if (bits)
				return q + __builtin_ctz(bits);
			if (q + 16 == end)
				return end;
		}
	}
#endif
	while (p < end && !scan_is_ctl_or_sp(*p))
		p++;
	return p;
}

/* memset(p, c, n) for the structs the parsers fill (100 to 650 bytes).
 * gcc expands a constant memset above 80 bytes into rep stos, whose
 * start-up costs more than the whole store on the CPUs we run on (it was
 * about 10% of parsing a message); in 64-byte pieces it stays a few
 * vector stores, and clang calls memset for the largest. */
static inline void scan_fill(void *p, int c, size_t n)
{
	char *b = p;

	for (; n > 64; b += 64, n -= 64)
		memset(b, c, 64);
	memset(b, c, n);
}

#endif
