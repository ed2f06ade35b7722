/* guard.c: test buffers against PROT_NONE pages, in a ring of mappings.
 * No RFC; see guard.h for the layout and the lifetimes. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* MAP_ANONYMOUS */
#endif

#include "guard.h"

#include <criterion/criterion.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct guard_map {
	char *map;   /* the first guard page */
	size_t data; /* data bytes between the guards: whole pages, at least one */
};

static struct guard_map guard_ring[GUARD_SLOTS];
static unsigned guard_next;

static size_t guard_page(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

/* Whole pages for n bytes; one page for n == 0, so that there is always a
 * data area to start at. */
static size_t guard_data_len(size_t n)
{
	size_t page = guard_page();
	size_t data = (n + page - 1) / page * page;

	return data ? data : page;
}

static struct guard_map guard_map_new(size_t data)
{
	size_t page = guard_page();
	struct guard_map g;

	g.map = mmap(NULL, data + 2 * page, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(g.map, MAP_FAILED);
	cr_assert_eq(mprotect(g.map, page, PROT_NONE), 0);
	cr_assert_eq(mprotect(g.map + page + data, page, PROT_NONE), 0);
	g.data = data;
	return g;
}

/* The data area of the next ring slot, zero-filled, for n bytes. A slot
 * whose mapping has the right size is reused: the loops of random inputs
 * in test_ip.c would otherwise spend their time in mmap and munmap. */
static char *guard_slot(size_t n)
{
	struct guard_map *g = &guard_ring[guard_next++ % GUARD_SLOTS];
	size_t data = guard_data_len(n);

	if (g->map && g->data != data) {
		munmap(g->map, g->data + 2 * guard_page());
		g->map = NULL;
	}
	if (g->map)
		memset(g->map + guard_page(), 0, data);
	else
		*g = guard_map_new(data);
	return g->map + guard_page();
}

char *guard_alloc(size_t n)
{
	return guard_slot(n) + guard_data_len(n) - n;
}

const char *guard_put(const char *s, size_t n)
{
	char *p = guard_alloc(n);

	if (n)
		memcpy(p, s, n);
	return p;
}

const char *guard_put_start(const char *s, size_t n)
{
	char *p = guard_slot(n);

	if (n)
		memcpy(p, s, n);
	return p;
}

const char *guard_put_pinned(const char *s, size_t n)
{
	size_t data = guard_data_len(n);
	char *p = guard_map_new(data).map + guard_page() + data - n;

	if (n)
		memcpy(p, s, n);
	return p;
}

struct str guard_str(const char *s, size_t n)
{
	return str_make(guard_put(s, n), n);
}

struct str guard_str_start(const char *s, size_t n)
{
	return str_make(guard_put_start(s, n), n);
}

struct str guard_cstr(const char *s)
{
	return guard_str(s, strlen(s));
}
