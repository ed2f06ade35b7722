/* test_libre.c: every corpus message parsed by proto/ and by libre, which must
 * agree with each other and with EXPECT.tsv. RFC 3261 §7, §8.1.1, §20. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hdr.h"
#include "msg.h"
#include "re_shim.h"

#ifndef DATA_DIR
#define DATA_DIR "tests/data"
#endif

#define CORPUS_MIN 30

/* XFERD_DATA wins so that one binary can be pointed at another corpus. */
static const char *corpus_dir(void)
{
	static char dir[4096];
	const char *env = getenv("XFERD_DATA");

	snprintf(dir, sizeof(dir), "%s/corpus", env && *env ? env : DATA_DIR);
	return dir;
}

/* name inside the corpus directory; valid until the next call. */
static const char *corpus_path(const char *name)
{
	static char path[8192];
	int n = snprintf(path, sizeof(path), "%s/%s", corpus_dir(), name);

	cr_assert(n > 0 && (size_t)n < sizeof(path), "path too long: %s", name);
	return path;
}

static int is_sip_file(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return n > 4 && strcmp(d->d_name + n - 4, ".sip") == 0;
}

/* Sorted, so that test order and failure reports are stable. Returns the
 * count, or -1 if the directory cannot be read. */
static int corpus_list(struct dirent ***names)
{
	return scandir(corpus_dir(), names, is_sip_file, alphasort);
}

static void corpus_free(struct dirent **names, int n)
{
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static char *file_read(const char *name, size_t *len)
{
	const char *path = corpus_path(name);
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	cr_assert_not_null(f, "%s: cannot open: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n, "%s: short read", path);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* EXPECT.tsv: one row per file, "-" for an absent field. */
enum {
	X_FILE, X_KIND, X_METHOD_OR_STATUS, X_RURI, X_CALL_ID, X_CSEQ_NUM,
	X_CSEQ_METHOD, X_FROM_TAG, X_TO_TAG, X_VIA_BRANCH, X_CLEN, X__COUNT
};

struct expect_row {
	char line[2048];
	const char *col[X__COUNT];
};

/* Split line in place; "-" becomes "" so that absent compares equal to an
 * empty slice. */
static bool expect_split(struct expect_row *row)
{
	char *p = row->line, *tab;
	int i;

	row->line[strcspn(row->line, "\r\n")] = '\0';
	for (i = 0; i < X__COUNT && p; i++) {
		tab = strchr(p, '\t');
		if (tab)
			*tab = '\0';
		row->col[i] = strcmp(p, "-") == 0 ? "" : p;
		p = tab ? tab + 1 : NULL;
	}
	return i == X__COUNT && !p;
}

/* Returns false if name has no row. */
static bool expect_find(const char *name, struct expect_row *row)
{
	const char *path = corpus_path("EXPECT.tsv");
	FILE *f = fopen(path, "r");
	size_t n = strlen(name);
	bool found = false;

	cr_assert_not_null(f, "%s: cannot open: %s", path, strerror(errno));
	while (!found && fgets(row->line, sizeof(row->line), f)) {
		if (row->line[0] == '#')
			continue;
		found = strncmp(row->line, name, n) == 0 && row->line[n] == '\t';
	}
	fclose(f);
	if (found)
		cr_assert(expect_split(row), "EXPECT.tsv: row for %s does not have %d columns",
			  name, X__COUNT);
	return found;
}

static bool slice_is(struct str s, const char *c)
{
	return str_eq(s, str_make(c, strlen(c)));
}

/* One field, three sources: ours, libre's, EXPECT.tsv's. */
static void expect_text(const char *file, const char *field, struct str ours,
			const char *libre, const char *want)
{
	cr_expect(slice_is(ours, libre), "%s: %s: ours \"%.*s\", libre \"%s\"", file,
		  field, STR_FMT(ours), libre);
	cr_expect(slice_is(ours, want), "%s: %s: ours \"%.*s\", EXPECT.tsv \"%s\"", file,
		  field, STR_FMT(ours), want);
	cr_expect(strcmp(libre, want) == 0, "%s: %s: libre \"%s\", EXPECT.tsv \"%s\"",
		  file, field, libre, want);
}

static void expect_number(const char *file, const char *field, unsigned long ours,
			  unsigned long libre, const char *want)
{
	char *end;
	unsigned long w = strtoul(want, &end, 10);

	cr_assert(*want && !*end, "%s: %s: EXPECT.tsv has \"%s\", not a number", file,
		  field, want);
	cr_expect_eq(ours, libre, "%s: %s: ours %lu, libre %lu", file, field, ours, libre);
	cr_expect_eq(ours, w, "%s: %s: ours %lu, EXPECT.tsv %lu", file, field, ours, w);
	cr_expect_eq(libre, w, "%s: %s: libre %lu, EXPECT.tsv %lu", file, field, libre, w);
}

static void check_start_line(const char *file, const struct sip_msg *m,
			     const struct re_fields *re, const struct expect_row *x)
{
	bool want_req = strcmp(x->col[X_KIND], "request") == 0;

	cr_assert(want_req || strcmp(x->col[X_KIND], "response") == 0,
		  "%s: EXPECT.tsv kind \"%s\"", file, x->col[X_KIND]);
	cr_expect_eq(m->is_request, want_req, "%s: ours reads a %s", file,
		     m->is_request ? "request" : "response");
	cr_expect_eq(re->is_request != 0, want_req, "%s: libre reads a %s", file,
		     re->is_request ? "request" : "response");
	if (!want_req || !m->is_request || !re->is_request) {
		if (!want_req && !m->is_request && !re->is_request)
			expect_number(file, "status", m->status, re->status,
				      x->col[X_METHOD_OR_STATUS]);
		return;
	}
	expect_text(file, "method", m->method, re->method, x->col[X_METHOD_OR_STATUS]);
	expect_text(file, "Request-URI", m->ruri, re->ruri, x->col[X_RURI]);
}

static void check_core(const char *file, const struct sip_core *c,
		       const struct re_fields *re, const struct expect_row *x)
{
	expect_text(file, "Call-ID", c->call_id, re->call_id, x->col[X_CALL_ID]);
	expect_number(file, "CSeq number", c->cseq.num, re->cseq_num, x->col[X_CSEQ_NUM]);
	expect_text(file, "CSeq method", c->cseq.method, re->cseq_method,
		    x->col[X_CSEQ_METHOD]);
	expect_text(file, "From tag", c->from.tag, re->from_tag, x->col[X_FROM_TAG]);
	expect_text(file, "To tag", c->to.tag, re->to_tag, x->col[X_TO_TAG]);
	expect_text(file, "top Via branch", c->via.branch, re->via_branch,
		    x->col[X_VIA_BRANCH]);
}

/* The body must be the same bytes at the same place, not merely equal
 * bytes: both parsers must have found the same end of the headers. */
static void check_body(const char *file, const struct sip_msg *m,
		       const struct re_fields *re, const struct expect_row *x)
{
	cr_expect_eq(m->has_content_length, re->has_clen != 0,
		     "%s: Content-Length present: ours %d, libre %d", file,
		     m->has_content_length, re->has_clen);
	expect_number(file, "Content-Length", m->content_length, re->clen, x->col[X_CLEN]);
	cr_expect(!re->body_short, "%s: libre: Content-Length %u beyond the %zu bytes left",
		  file, re->clen, re->rest_len);
	cr_expect_eq(m->body.p, re->body, "%s: body starts at offset %td (ours) vs %td (libre)",
		     file, m->body.p - m->buf, re->body - m->buf);
	expect_number(file, "body length", m->body.n, re->body_len, x->col[X_CLEN]);
	if (m->body.n == re->body_len)
		cr_expect(memcmp(m->body.p, re->body, m->body.n) == 0,
			  "%s: body bytes differ", file);
}

struct corpus_case {
	char name[256];
};

ParameterizedTestParameters(libre, agrees)
{
	struct dirent **names;
	struct corpus_case *cases;
	int n = corpus_list(&names);

	if (n <= 0)
		return cr_make_param_array(struct corpus_case, NULL, 0);
	cases = cr_malloc(sizeof(*cases) * (size_t)n);
	for (int i = 0; i < n; i++)
		snprintf(cases[i].name, sizeof(cases[i].name), "%s", names[i]->d_name);
	corpus_free(names, n);
	return cr_make_param_array(struct corpus_case, cases, (size_t)n);
}

ParameterizedTest(struct corpus_case *tc, libre, agrees)
{
	static struct sip_msg m; /* 6 KB: keep it off the test's stack */
	struct sip_core core;
	struct re_fields re;
	struct expect_row x;
	size_t len;
	char *buf = file_read(tc->name, &len);
	int r;

	cr_assert(expect_find(tc->name, &x), "%s: no row in EXPECT.tsv", tc->name);
	r = sip_msg_parse(&m, buf, len);
	cr_assert_eq(r, 0, "%s: ours: sip_msg_parse: %s at offset %zu", tc->name,
		     m.err, m.err_at);
	r = sip_core_read(&m, &core);
	cr_assert_eq(r, 0, "%s: ours: sip_core_read: %s at offset %zu", tc->name,
		     m.err, m.err_at);
	r = re_shim_parse(buf, len, &re);
	cr_assert_eq(r, 0, "%s: libre: sip_msg_decode: %s", tc->name, strerror(-r));

	check_start_line(tc->name, &m, &re, &x);
	check_core(tc->name, &core, &re, &x);
	check_body(tc->name, &m, &re, &x);
	free(buf);
}

/* Guards against a DATA_DIR pointing at the wrong place, which would make
 * the parameterized test above pass vacuously. */
Test(libre, corpus_is_complete)
{
	struct dirent **names;
	struct expect_row x;
	int n = corpus_list(&names);

	cr_assert_geq(n, CORPUS_MIN, "%s: %d .sip files, want at least %d", corpus_dir(), n,
		      CORPUS_MIN);
	for (int i = 0; i < n; i++)
		cr_expect(expect_find(names[i]->d_name, &x), "%s: no row in EXPECT.tsv",
			  names[i]->d_name);
	corpus_free(names, n);
}

Test(libre, expect_rows_have_files)
{
	const char *path = corpus_path("EXPECT.tsv");
	FILE *f = fopen(path, "r"), *g;
	char line[2048];

	cr_assert_not_null(f, "%s: cannot open: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		line[strcspn(line, "\t\r\n")] = '\0';
		g = fopen(corpus_path(line), "rb");
		cr_expect_not_null(g, "EXPECT.tsv names %s, which is missing", line);
		if (g)
			fclose(g);
	}
	fclose(f);
}
