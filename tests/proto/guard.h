/* guard.h: test inputs and output buffers placed against PROT_NONE pages, so
 * that a parser or builder touching one byte outside them faults at once.
 * No RFC: the technique of picohttpparser's tests (STYLE.md), for tests/proto/. */
#ifndef XFERD_TESTS_GUARD_H
#define XFERD_TESTS_GUARD_H

#include <stddef.h>

#include "str.h"

/* Every buffer below sits in a mapping of its own: one PROT_NONE page, the
 * data pages, one PROT_NONE page. A buffer placed "at the end" ends with the
 * last readable byte before the second guard (overreads fault); one placed
 * "at the start" begins with the first byte after the first guard
 * (underreads fault). The data is zero-filled when handed out.
 *
 * Buffers come from a ring of GUARD_SLOTS mappings: a test may keep that
 * many alive at once (a parsed message points into its input); the oldest
 * is reused when the ring wraps. Failures to map are Criterion assertions.
 * Criterion runs each test in a process of its own, so nothing is shared
 * between tests. */
#define GUARD_SLOTS 16

/* n writable bytes ending right before a PROT_NONE page (any n, 0 too: then
 * the pointer is the guard page itself). */
char *guard_alloc(size_t n);

/* A copy of s[0..n) ending right before a PROT_NONE page. */
const char *guard_put(const char *s, size_t n);

/* A copy of s[0..n) starting right after a PROT_NONE page. */
const char *guard_put_start(const char *s, size_t n);

/* Like guard_put(), outside the ring and never unmapped: for an input that
 * must outlive more than GUARD_SLOTS later guard calls. */
const char *guard_put_pinned(const char *s, size_t n);

/* guard_put() and guard_put_start() as slices. */
struct str guard_str(const char *s, size_t n);
struct str guard_str_start(const char *s, size_t n);

/* A guarded slice (at the end) of the C string s, without its NUL. */
struct str guard_cstr(const char *s);

#endif
