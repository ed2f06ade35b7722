/* test_config.c: the INI configuration: the embedded default, every key, every error
 * message with its FILE:LINE, libinih's quirks, trunk lookups, CIDR edges and geo rules. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"

/* Valid sections, to complete a text whose error is elsewhere; the line
 * counts in their comments are what the expected line numbers rely on. */
#define ENGINE_OK "[engine]\nlisten = 127.0.0.1:5060\ntrusted = 127.0.0.0/8\n" /* 3 lines */
#define PSTN_OK "[pstn]\ngateway = sip:127.0.0.1:5090\n"                      /* 2 lines */
#define TRUNK_OK "[trunk t]\ndomain = t.example.net\nuri = sip:t@127.0.0.1\n"  /* 3 lines */

struct load {
	int rc;
	struct config *c;
	char *err; /* everything written to the error stream */
};

static struct load load(const char *text)
{
	struct load l = { 0 };
	size_t n = 0;
	FILE *f = open_memstream(&l.err, &n);

	cr_assert_not_null(f);
	l.rc = config_load_string(text, "x.ini", &l.c, f);
	fclose(f);
	return l;
}

static void load_done(struct load *l)
{
	config_free(l->c);
	free(l->err);
}

/* Loads text, which must fail, and compares the whole error output. */
static void expect_errors(const char *text, const char *want)
{
	struct load l = load(text);

	cr_expect_eq(l.rc, -EINVAL, "rc %d for:\n%s", l.rc, text);
	cr_expect_null(l.c);
	cr_expect_str_eq(l.err, want, "got:\n%s\nwant:\n%s\nfor:\n%s", l.err, want, text);
	load_done(&l);
}

/* Loads text, which must succeed with no output. */
static struct config *expect_ok(const char *text)
{
	struct load l = load(text);

	cr_assert_eq(l.rc, 0, "rc %d, errors:\n%s\nfor:\n%s", l.rc, l.err, text);
	cr_assert_str_empty(l.err);
	free(l.err);
	return l.c;
}

static char *concat(const char *a, const char *b)
{
	char *s = NULL;

	cr_assert_neq(asprintf(&s, "%s%s", a, b), -1);
	return s;
}

static struct str S(const char *s)
{
	return str_make(s, strlen(s));
}

static uint32_t cpus(void)
{
	cpu_set_t set;
	long n;

	cr_assert_eq(sched_getaffinity(0, sizeof(set), &set), 0);
	n = CPU_COUNT(&set);
	return n > 64 ? 64 : (uint32_t)n;
}

/* ---- the embedded default ---- */

Test(config_default, loads)
{
	struct config *c = expect_ok(config_default_text);
	const struct config_engine *e = &c->engine;

	cr_expect_str_eq(e->listen.text, "127.0.0.1:5060");
	cr_expect_str_eq(e->listen.host, "127.0.0.1");
	cr_expect_eq(e->listen.port, 5060);
	cr_expect_eq(e->listen.sa.ss_family, AF_INET);
	cr_expect_eq(e->listen.sa_len, sizeof(struct sockaddr_in));
	cr_expect_str_eq(e->advertise.text, "127.0.0.1:5060");
	cr_expect_str_eq(e->advertise.host, "127.0.0.1");
	cr_expect(e->has_metrics);
	cr_expect_str_eq(e->metrics.text, "127.0.0.1:9090");
	cr_expect_eq(e->trusted.n, 2);
	cr_expect_str_eq(c->pstn.gateway.text, "sip:127.0.0.1:5090");
	cr_expect_eq(c->pstn.gateway.uri.port, 5090);
	cr_expect(config_geo_allowed(c, NULL, 1));
	cr_expect(config_geo_allowed(c, NULL, 44));
	cr_expect_not(config_geo_allowed(c, NULL, 33));
	cr_assert_eq(c->n_trunks, 1);
	cr_expect_str_eq(c->trunks[0].name, "demo");
	cr_expect_str_eq(c->trunks[0].domain, "demo.zt.example.net");
	cr_expect_str_eq(c->trunks[0].uri.text, "sip:agent@127.0.0.1:5080");
	cr_expect(str_eq(c->trunks[0].uri.uri.user, STR("agent")));
	cr_expect_eq(c->trunks[0].numbers.n, 2);
	cr_expect_str_eq(c->trunks[0].numbers.v[1].text, "+14155550101");
	cr_expect_eq(config_trunk_by_number(c, STR("+14155550100")), &c->trunks[0]);
	cr_expect_eq(config_trunk_by_domain(c, STR("demo.zt.example.net")), &c->trunks[0]);
	config_free(c);
}

Test(config_default, defaults)
{
	struct config *c = expect_ok(config_default_text);
	const struct config_engine *e = &c->engine;

	cr_expect_eq(e->workers, cpus());
	cr_expect_eq(e->max_calls, 200000);
	cr_expect_eq(e->transfer_timeout, 30);
	cr_expect_eq(e->drain_timeout, 30);
	cr_expect_eq(e->t1_ms, 500);
	cr_expect_eq(e->t2_ms, 4000);
	cr_expect_eq(e->t4_ms, 5000);
	cr_expect_eq(e->max_transactions, 800000);
	cr_expect_eq(e->max_tcp_connections, 10000);
	cr_expect_eq(e->max_message_size, 65535);
	cr_expect_eq(e->tcp_idle_timeout, 300);
	cr_expect_eq(e->spread_above, 70);
	cr_expect_eq(e->log_level, CONFIG_LOG_WARN);
	cr_expect_null(e->event_log);
	cr_expect_not(c->trunks[0].has_geo_allow);
	config_free(c);
}

Test(config_default, minimal_file_defaults)
{
	struct config *c = expect_ok(ENGINE_OK PSTN_OK TRUNK_OK);

	cr_expect_not(c->engine.has_metrics);
	cr_expect_str_eq(c->engine.advertise.text, "127.0.0.1:5060");
	cr_expect_not(config_geo_allowed(c, NULL, 1), "no geo_allow: no country");
	cr_expect_eq(c->trunks[0].numbers.n, 0);
	config_free(c);
}

/* ---- every key ---- */

static const char every_key[] =
	"[engine]\n"
	"listen = [::1]:5070\n"
	"advertise = [2001:db8::5]:5071\n"
	"workers = 3\n"
	"metrics = 127.0.0.1:9191\n"
	"max_calls = 1000\n"
	"transfer_timeout = 45\n"
	"trusted = 10.0.0.0/8 2001:db8::/32 192.0.2.7\n"
	"drain_timeout = 0\n"
	"t1_ms = 250\n"
	"t2_ms = 2000\n"
	"t4_ms = 2500\n"
	"max_transactions = 5000\n"
	"max_tcp_connections = 77\n"
	"max_message_size = 8192\n"
	"tcp_idle_timeout = 60\n"
	"log_level = debug\n"
	"event_log = /var/log/xferd/events.jsonl\n"
	"spread_above = 0\n"
	"\n"
	"[pstn]\n"
	"gateway = sips:gw.example.net:5061;transport=tcp\n"
	"geo_allow = 1 44 353\n"
	"\n"
	"[trunk acme]\n"
	"domain = acme.zt.example.net\n"
	"uri = sip:agent@198.51.100.10:5080;transport=tcp\n"
	"numbers = +14155550100 +442071838750\n"
	"geo_allow = 33\n";

Test(config_keys, engine)
{
	struct config *c = expect_ok(every_key);
	const struct config_engine *e = &c->engine;
	struct sockaddr_in6 s6;

	cr_expect_str_eq(e->listen.text, "[::1]:5070");
	cr_expect_str_eq(e->listen.host, "[::1]");
	cr_expect_eq(e->listen.port, 5070);
	cr_expect_eq(e->listen.sa.ss_family, AF_INET6);
	cr_expect_eq(e->listen.sa_len, sizeof(struct sockaddr_in6));
	memcpy(&s6, &e->listen.sa, sizeof(s6));
	cr_expect(IN6_IS_ADDR_LOOPBACK(&s6.sin6_addr));
	cr_expect_eq(ntohs(s6.sin6_port), 5070);
	cr_expect_str_eq(e->advertise.host, "[2001:db8::5]");
	cr_expect_eq(e->advertise.port, 5071);
	cr_expect_eq(e->workers, 3);
	cr_expect(e->has_metrics);
	cr_expect_eq(e->metrics.port, 9191);
	cr_expect_eq(e->max_calls, 1000);
	cr_expect_eq(e->transfer_timeout, 45);
	cr_expect_eq(e->trusted.n, 3);
	cr_expect_eq(e->trusted.v[0].prefix, 96 + 8);
	cr_expect_eq(e->trusted.v[1].prefix, 32);
	cr_expect_eq(e->trusted.v[2].prefix, 128, "a bare address is one host");
	cr_expect_eq(e->drain_timeout, 0);
	cr_expect_eq(e->t1_ms, 250);
	cr_expect_eq(e->t2_ms, 2000);
	cr_expect_eq(e->t4_ms, 2500);
	cr_expect_eq(e->max_transactions, 5000);
	cr_expect_eq(e->max_tcp_connections, 77);
	cr_expect_eq(e->max_message_size, 8192);
	cr_expect_eq(e->tcp_idle_timeout, 60);
	cr_expect_eq(e->log_level, CONFIG_LOG_DEBUG);
	cr_expect_str_eq(e->event_log, "/var/log/xferd/events.jsonl");
	cr_expect_eq(e->spread_above, 0);
	config_free(c);
}

Test(config_keys, pstn_and_trunk)
{
	struct config *c = expect_ok(every_key);
	const struct config_trunk *t = &c->trunks[0];

	cr_expect_eq(c->pstn.gateway.uri.scheme, SIP_SCHEME_SIPS);
	cr_expect(str_eq(c->pstn.gateway.uri.host, STR("gw.example.net")));
	cr_expect(str_eq(c->pstn.gateway.uri.params, STR("transport=tcp")));
	cr_expect(config_geo_allowed(c, NULL, 353));
	cr_expect_str_eq(t->name, "acme");
	cr_expect_eq(t->line, 25);
	cr_expect_str_eq(t->domain, "acme.zt.example.net");
	cr_expect(str_eq(t->uri.uri.host, STR("198.51.100.10")));
	cr_expect_eq(t->numbers.n, 2);
	cr_expect_str_eq(t->numbers.v[0].text, "+14155550100");
	cr_expect_str_eq(t->numbers.v[1].text, "+442071838750");
	cr_expect(t->has_geo_allow);
	cr_expect(config_geo_allowed(c, t, 33));
	cr_expect_not(config_geo_allowed(c, t, 1));
	config_free(c);
}

Test(config_keys, log_levels)
{
	static const char *names[] = { "error", "warn", "info", "debug" };

	for (int i = 0; i < 4; i++) {
		char *text = NULL;
		struct config *c;

		cr_assert_neq(asprintf(&text, ENGINE_OK "log_level = %s\n" PSTN_OK TRUNK_OK,
				       names[i]), -1);
		c = expect_ok(text);
		cr_expect_eq(c->engine.log_level, (enum config_log_level)i);
		config_free(c);
		free(text);
	}
	expect_errors(ENGINE_OK "log_level = Debug\n" PSTN_OK TRUNK_OK,
		      "x.ini:4: log_level: 'Debug' must be error, warn, info or debug\n");
}

Test(config_keys, event_log_stdout)
{
	struct config *c = expect_ok(ENGINE_OK "event_log = -\n" PSTN_OK TRUNK_OK);

	cr_expect_str_eq(c->engine.event_log, "-");
	config_free(c);
}

Test(config_keys, max_transactions_follows_max_calls)
{
	struct config *c = expect_ok(ENGINE_OK "max_calls = 7000\n" PSTN_OK TRUNK_OK);

	cr_expect_eq(c->engine.max_transactions, 28000);
	config_free(c);
	/* Small instances keep room for lingering transactions. */
	c = expect_ok(ENGINE_OK "max_calls = 7\n" PSTN_OK TRUNK_OK);
	cr_expect_eq(c->engine.max_transactions, 4096);
	config_free(c);
}

Test(config_keys, long_trunk_name)
{
	/* 54 characters: inih itself would cut the section name to 49 */
	struct config *c = expect_ok(ENGINE_OK PSTN_OK
		"[trunk abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefghij]\n"
		"domain = t.example.net\nuri = sip:t@127.0.0.1\n");

	cr_expect_str_eq(c->trunks[0].name,
			 "abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefghij");
	config_free(c);
}

/* ---- files ---- */

static char *temp_file(const void *data, size_t n)
{
	char *path = strdup("/tmp/test_config_XXXXXX");
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, data, n), (ssize_t)n);
	close(fd);
	return path;
}

static char *load_file_err(const char *path, int *rc, struct config **c)
{
	char *err = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&err, &n);

	*rc = config_load_file(path, c, f);
	fclose(f);
	return err;
}

Test(config_file, loads)
{
	char *path = temp_file(every_key, strlen(every_key));
	struct config *c;
	int rc;
	char *err = load_file_err(path, &rc, &c);

	cr_expect_eq(rc, 0);
	cr_expect_str_empty(err);
	cr_expect_eq(c->engine.workers, 3);
	config_free(c);
	free(err);
	unlink(path);
	free(path);
}

Test(config_file, errors_name_the_file)
{
	static const char text[] = ENGINE_OK "listn = 1\n" PSTN_OK TRUNK_OK;
	char *path = temp_file(text, strlen(text));
	char *want = NULL;
	struct config *c;
	int rc;
	char *err = load_file_err(path, &rc, &c);

	cr_assert_neq(asprintf(&want, "%s:4: unknown key 'listn' in [engine]\n", path), -1);
	cr_expect_eq(rc, -EINVAL);
	cr_expect_null(c);
	cr_expect_str_eq(err, want);
	free(want);
	free(err);
	unlink(path);
	free(path);
}

Test(config_file, missing)
{
	struct config *c = (struct config *)1;
	int rc;
	char *err = load_file_err("/nonexistent/xferd.ini", &rc, &c);

	cr_expect_eq(rc, -ENOENT);
	cr_expect_null(c);
	cr_expect_str_eq(err, "/nonexistent/xferd.ini: No such file or directory\n");
	free(err);
}

Test(config_file, directory)
{
	struct config *c;
	int rc;
	char *err = load_file_err("/tmp", &rc, &c);

	cr_expect_eq(rc, -EISDIR);
	cr_expect_str_eq(err, "/tmp: Is a directory\n");
	free(err);
}

Test(config_file, nul_byte)
{
	static const char text[] = ENGINE_OK "workers = 2\0junk\n" PSTN_OK TRUNK_OK;
	char *path = temp_file(text, sizeof(text) - 1);
	char *want = NULL;
	struct config *c;
	int rc;
	char *err = load_file_err(path, &rc, &c);

	cr_assert_neq(asprintf(&want, "%s:4: NUL byte in line\n", path), -1);
	cr_expect_eq(rc, -EINVAL);
	cr_expect_str_eq(err, want);
	free(want);
	free(err);
	unlink(path);
	free(path);
}

Test(config_file, check_only_and_free_null)
{
	cr_expect_eq(config_load_string(config_default_text, "d", NULL, NULL), 0);
	cr_expect_eq(config_load_string("[x]\n", "d", NULL, NULL), -EINVAL);
	config_free(NULL);
}

/* ---- syntax, and libinih's quirks ---- */

Test(config_syntax, crlf_comments_bom)
{
	struct config *c = expect_ok(
		"\xEF\xBB\xBF; a comment\r\n"
		"# another comment\r\n"
		"[engine] ; the engine\r\n"
		"listen = 127.0.0.1:5060   ; inline, after spaces\r\n"
		"workers = 2 ; comment as in SPEC.md\r\n"
		"max_calls = 9\t# hash comment after a tab\r\n"
		"trusted = 127.0.0.0/8 ::1/128 ; two blocks\r\n"
		"   ; an indented comment\r\n"
		"\r\n"
		"[pstn]\r\n"
		"gateway = sip:127.0.0.1:5090\r\n"
		"geo_allow = 1 44 # comment\r\n"
		"[trunk t]\r\n"
		"domain = t.example.net\r\n"
		"uri = sip:t@127.0.0.1\r\n"
		"numbers = +14155550100 ; the only one\r\n");

	cr_expect_eq(c->engine.workers, 2);
	cr_expect_eq(c->engine.max_calls, 9);
	cr_expect_eq(c->engine.trusted.n, 2);
	cr_expect(config_geo_allowed(c, NULL, 44));
	cr_expect_eq(c->trunks[0].numbers.n, 1);
	config_free(c);
}

Test(config_syntax, crlf_error_lines)
{
	expect_errors("[engine]\r\nlisten = 127.0.0.1:5060\r\ntrusted = 127.0.0.0/8\r\n"
		      "workers = 0\r\n" PSTN_OK TRUNK_OK,
		      "x.ini:4: workers: must be 1 to 64\n");
}

Test(config_syntax, comment_chars_need_white_space_before)
{
	struct config *c = expect_ok(ENGINE_OK "event_log = /tmp/a;b#c\n" PSTN_OK TRUNK_OK);

	cr_expect_str_eq(c->engine.event_log, "/tmp/a;b#c");
	config_free(c);
}

Test(config_syntax, colon_separator)
{
	struct config *c = expect_ok(ENGINE_OK "workers: 5\n" PSTN_OK TRUNK_OK);

	cr_expect_eq(c->engine.workers, 5);
	config_free(c);
}

Test(config_syntax, indented_keys_and_headers)
{
	/* inih alone reads both indented lines as a continuation of listen */
	struct config *c = expect_ok("[engine]\n"
				     "  listen = 127.0.0.1:5060\n"
				     "  workers = 4\n"
				     "\ttrusted = 127.0.0.0/8\n"
				     "  [pstn]\n"
				     "  gateway = sip:127.0.0.1:5090\n" TRUNK_OK);

	cr_expect_eq(c->engine.workers, 4);
	cr_expect_str_eq(c->pstn.gateway.text, "sip:127.0.0.1:5090");
	config_free(c);
}

Test(config_syntax, list_continuation)
{
	struct config *c = expect_ok("[engine]\n"
				     "listen = 127.0.0.1:5060\n"
				     "trusted =\n"
				     "    10.0.0.0/8   ; carrier A\n"
				     "    ; carrier B\n"
				     "    192.168.0.0/16 ::1\n"
				     "[pstn]\n"
				     "gateway = sip:127.0.0.1:5090\n"
				     "geo_allow = 1\n"
				     "\t44\n"
				     "[trunk t]\n"
				     "domain = t.example.net\n"
				     "uri = sip:t@127.0.0.1\n"
				     "numbers = +14155550100\n"
				     "          +14155550101 +14155550102\n"
				     "\n"
				     "          +14155550103\n");

	cr_expect_eq(c->engine.trusted.n, 3);
	cr_expect(config_geo_allowed(c, NULL, 44));
	cr_expect_eq(c->trunks[0].numbers.n, 4);
	cr_expect_not_null(config_trunk_by_number(c, STR("+14155550103")));
	config_free(c);
}

Test(config_syntax, continuation_errors)
{
	expect_errors("  +1\n"
		      "[engine]\n"
		      "listen = 127.0.0.1:5060\n"
		      "  127.0.0.2:5060\n"
		      "  127.0.0.3:5060\n"
		      "trusted = 127.0.0.0/8\n"
		      "  10.0.0.1/8\n" PSTN_OK TRUNK_OK,
		      "x.ini:1: indented line continues no key\n"
		      "x.ini:4: listen: takes one value; only lists continue on indented lines\n"
		      "x.ini:7: trusted: '10.0.0.1/8' has host bits set (the block is 10.0.0.0/8)\n");
}

Test(config_syntax, continuation_of_ignored_key_is_ignored)
{
	expect_errors(ENGINE_OK "numbers = +1\n  +2\n" PSTN_OK TRUNK_OK,
		      "x.ini:4: unknown key 'numbers' in [engine]\n");
}

Test(config_syntax, long_line)
{
	char line[400] = "numbers =";
	char *text, *want = NULL;

	for (int i = 0; i < 20; i++)
		strcat(line, " +14155550100");
	strcat(line, "\nnumbers = +1\n");
	text = concat(ENGINE_OK PSTN_OK TRUNK_OK, line);
	cr_assert_neq(asprintf(&want,
		"x.ini:9: line too long: 269 characters, 198 at most (a list may continue on "
		"indented lines)\n"
		"x.ini:10: numbers: '+1' is not an E.164 number\n"), -1);
	/* the line after the long one keeps its number: inih would call it 11 */
	expect_errors(text, want);
	free(want);
	free(text);
}

Test(config_syntax, line_of_198_fits)
{
	char line[300] = "event_log = ";
	char *text = NULL;
	struct config *c;

	while (strlen(line) < 198)
		strcat(line, "x");
	strcat(line, "\n");
	cr_assert_neq(asprintf(&text, "%s%s%s", ENGINE_OK, line, PSTN_OK TRUNK_OK), -1);
	c = expect_ok(text);
	cr_expect_eq(strlen(c->engine.event_log), 198 - strlen("event_log = "));
	config_free(c);
	free(text);
}

Test(config_syntax, malformed_lines)
{
	expect_errors("[engine\n"
		      "workers = 0\n"
		      "[engine] x\n"
		      "listen 127.0.0.1\n"
		      "= 5\n"
		      "listen = 127.0.0.1:5060\n"
		      "trusted = 127.0.0.0/8\n"
		      "max_calls =\n"
		      "workers = 2 ; = 3\n" PSTN_OK TRUNK_OK,
		      "x.ini:1: section header without ']'\n"
		      "x.ini:3: unexpected 'x' after ']'\n"
		      "x.ini:4: expected 'key = value'\n"
		      "x.ini:5: no key name before '=' in [engine]\n"
		      "x.ini:8: max_calls: no value\n");
}

Test(config_syntax, key_outside_section)
{
	expect_errors("workers = 2\n" ENGINE_OK PSTN_OK TRUNK_OK,
		      "x.ini:1: key 'workers' is outside any section\n");
}

Test(config_syntax, unknown_section_and_key)
{
	expect_errors("[engine]\n"
		      "listen = 127.0.0.1:5060\n"
		      "trusted = 127.0.0.0/8\n"
		      "[Engine]\n"
		      "workers = 0\n"
		      "[pstn]\n"
		      "gateway = sip:127.0.0.1:5090\n"
		      "listn = 1\n"
		      "Gateway = sip:x\n" TRUNK_OK
		      "[trunks x]\n",
		      "x.ini:4: unknown section [Engine]\n"
		      "x.ini:8: unknown key 'listn' in [pstn]\n"
		      "x.ini:9: unknown key 'Gateway' in [pstn]\n"
		      "x.ini:13: unknown section [trunks x]\n");
}

Test(config_syntax, unknown_key_example)
{
	expect_errors("[engine]\n"
		      "listen = 127.0.0.1:5060\n"
		      "trusted = 127.0.0.0/8\n"
		      "workers = 2\n"
		      "\n"
		      "\n"
		      "listn = 127.0.0.1:5060\n" PSTN_OK TRUNK_OK,
		      "x.ini:7: unknown key 'listn' in [engine]\n");
}

Test(config_syntax, duplicate_key)
{
	expect_errors(ENGINE_OK "workers = 2\nworkers = 3\nlisten = 127.0.0.1:1\n" PSTN_OK
		      TRUNK_OK "uri = sip:u@127.0.0.1\n",
		      "x.ini:5: duplicate key 'workers' in [engine] (first at line 4)\n"
		      "x.ini:6: duplicate key 'listen' in [engine] (first at line 2)\n"
		      "x.ini:12: duplicate key 'uri' in [trunk t] (first at line 11)\n");
}

Test(config_syntax, duplicate_sections)
{
	expect_errors(ENGINE_OK PSTN_OK TRUNK_OK
		      "[engine]\nworkers = 0\n"
		      "[pstn]\nbogus = 1\n"
		      "[trunk T]\ndomain = -\n",
		      "x.ini:9: duplicate section [engine] (first at line 1)\n"
		      "x.ini:11: duplicate section [pstn] (first at line 4)\n"
		      "x.ini:13: duplicate section [trunk T] (first at line 6)\n");
}

Test(config_syntax, trunk_names)
{
	expect_errors(ENGINE_OK PSTN_OK TRUNK_OK
		      "[trunk]\ndomain = x\n"
		      "[trunk   ]\n"
		      "[trunk a b]\n"
		      "[trunk a/b]\n"
		      "[trunk abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij-abc]\n",
		      "x.ini:9: [trunk] needs a name: [trunk NAME]\n"
		      "x.ini:11: [trunk] needs a name: [trunk NAME]\n"
		      "x.ini:12: [trunk a b]: a trunk name has letters, digits, '.', '_' and '-', "
		      "63 at most\n"
		      "x.ini:13: [trunk a/b]: a trunk name has letters, digits, '.', '_' and '-', "
		      "63 at most\n"
		      "x.ini:14: [trunk abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij-abc]: "
		      "a trunk name has letters, digits, '.', '_' and '-', 63 at most\n");
}

Test(config_syntax, missing_keys_at_header_line)
{
	expect_errors("; nothing but headers\n"
		      "[engine]\n"
		      "workers = 2\n"
		      "[pstn]\n"
		      "\n"
		      "[trunk a]\n"
		      "numbers = +14155550100\n"
		      "[trunk b]\n"
		      "domain = b.example.net\n",
		      "x.ini:2: missing key 'listen' in [engine]\n"
		      "x.ini:2: missing key 'trusted' in [engine]\n"
		      "x.ini:4: missing key 'gateway' in [pstn]\n"
		      "x.ini:6: missing key 'domain' in [trunk a]\n"
		      "x.ini:6: missing key 'uri' in [trunk a]\n"
		      "x.ini:8: missing key 'uri' in [trunk b]\n");
}

Test(config_syntax, missing_sections)
{
	expect_errors("", "x.ini:1: missing section [engine]\n"
			  "x.ini:1: missing section [pstn]\n"
			  "x.ini:1: missing section [trunk NAME]: at least one trunk is needed\n");
	expect_errors(ENGINE_OK "[trunk]\n", "x.ini:4: [trunk] needs a name: [trunk NAME]\n"
					     "x.ini:1: missing section [pstn]\n");
}

Test(config_syntax, several_errors_at_once)
{
	expect_errors("[engine]\n"
		      "listen = 127.0.0.1\n"
		      "workers = 65\n"
		      "trusted = 127.0.0.0/8 10.1.2.3/33\n"
		      "[pstn]\n"
		      "gateway = tel:+14155550100\n"
		      "geo_allow = 1 4 44\n"
		      "[trunk a]\n"
		      "domain = a.example.net\n"
		      "uri = sip:a@127.0.0.1\n"
		      "numbers = +14155550100 +0123 +14155550101\n"
		      "[trunk b]\n"
		      "domain = A.Example.NET\n"
		      "uri = sip:b@127.0.0.1\n"
		      "numbers = +14155550101\n",
		      "x.ini:2: listen: '127.0.0.1' has no port (ADDRESS:PORT, or [IPv6]:PORT)\n"
		      "x.ini:3: workers: must be 1 to 64\n"
		      "x.ini:4: trusted: '10.1.2.3/33': the prefix length must be 0 to 32\n"
		      "x.ini:6: gateway: 'tel:+14155550100' is not a sip: or sips: URI\n"
		      "x.ini:7: geo_allow: '4' is not an assigned country calling code\n"
		      "x.ini:11: numbers: '+0123' is not an E.164 number\n"
		      "x.ini:15: numbers: '+14155550101' already belongs to [trunk a] (line 11)\n"
		      "x.ini:13: domain: 'A.Example.NET' is already the domain of [trunk a] (line 8)\n");
}

/* ---- [engine] values ---- */

Test(config_engine, numbers_in_range)
{
	expect_errors(ENGINE_OK "workers = 0\n" PSTN_OK TRUNK_OK, "x.ini:4: workers: must be 1 to 64\n");
	expect_errors(ENGINE_OK "workers = 65\n" PSTN_OK TRUNK_OK, "x.ini:4: workers: must be 1 to 64\n");
	expect_errors(ENGINE_OK "workers = 99999999999999999999\n" PSTN_OK TRUNK_OK,
		      "x.ini:4: workers: must be 1 to 64\n");
	expect_errors(ENGINE_OK "workers = two\n" PSTN_OK TRUNK_OK,
		      "x.ini:4: workers: 'two' is not a number\n");
	expect_errors(ENGINE_OK "workers = -1\n" PSTN_OK TRUNK_OK,
		      "x.ini:4: workers: '-1' is not a number\n");
	expect_errors(ENGINE_OK "workers = 2 3\n" PSTN_OK TRUNK_OK,
		      "x.ini:4: workers: '2 3' is not a number\n");
	expect_errors(ENGINE_OK
		      "max_calls = 0\n"
		      "transfer_timeout = 0\n"
		      "drain_timeout = 86401\n"
		      "t1_ms = 0\n"
		      "t4_ms = 60001\n"
		      "max_transactions = 0\n"
		      "max_tcp_connections = 0\n"
		      "max_message_size = 1023\n"
		      "tcp_idle_timeout = 0\n"
		      "spread_above = 101\n" PSTN_OK TRUNK_OK,
		      "x.ini:4: max_calls: must be 1 to 100000000\n"
		      "x.ini:5: transfer_timeout: must be 1 to 3600\n"
		      "x.ini:6: drain_timeout: must be 0 to 86400\n"
		      "x.ini:7: t1_ms: must be 1 to 60000\n"
		      "x.ini:8: t4_ms: must be 1 to 60000\n"
		      "x.ini:9: max_transactions: must be 1 to 400000000\n"
		      "x.ini:10: max_tcp_connections: must be 1 to 1000000\n"
		      "x.ini:11: max_message_size: must be 1024 to 1048576\n"
		      "x.ini:12: tcp_idle_timeout: must be 1 to 86400\n"
		      "x.ini:13: spread_above: must be 0 to 100\n");
}

Test(config_engine, timer_order)
{
	expect_errors(ENGINE_OK "t1_ms = 300\nt2_ms = 200\n" PSTN_OK TRUNK_OK,
		      "x.ini:5: t2_ms: must be at least t1_ms (300)\n");
	expect_errors(ENGINE_OK "t1_ms = 5000\n" PSTN_OK TRUNK_OK,
		      "x.ini:4: t1_ms: must be at most t2_ms (4000)\n");
	config_free(expect_ok(ENGINE_OK "t1_ms = 4000\n" PSTN_OK TRUNK_OK));
}

Test(config_engine, listen_errors)
{
	expect_errors("[engine]\n"
		      "listen = ::1:5060\n"
		      "advertise = [::1\n"
		      "metrics = [::1]9090\n"
		      "trusted = 127.0.0.0/8\n" PSTN_OK TRUNK_OK,
		      "x.ini:2: listen: '::1:5060' needs brackets around its IPv6 address "
		      "([ADDRESS]:PORT)\n"
		      "x.ini:3: advertise: '[::1' lacks the ']' of [IPv6]:PORT\n"
		      "x.ini:4: metrics: '[::1]9090' is not [IPv6]:PORT\n");
	expect_errors("[engine]\n"
		      "listen = 127.0.0.1:0\n"
		      "advertise = 127.0.0.1:65536\n"
		      "metrics = 127.0.0.1:\n"
		      "trusted = 127.0.0.0/8\n" PSTN_OK TRUNK_OK,
		      "x.ini:2: listen: '127.0.0.1:0' has a bad port (1 to 65535)\n"
		      "x.ini:3: advertise: '127.0.0.1:65536' has a bad port (1 to 65535)\n"
		      "x.ini:4: metrics: '127.0.0.1:' has a bad port (1 to 65535)\n");
	expect_errors("[engine]\n"
		      "listen = 127.1:5060\n"
		      "advertise = 010.0.0.1:5060\n"
		      "metrics = localhost:9090\n"
		      "trusted = 127.0.0.0/8\n"
		      "[engine]\n" PSTN_OK TRUNK_OK,
		      "x.ini:2: listen: '127.1:5060' is not an IPv4 address and port\n"
		      "x.ini:3: advertise: '010.0.0.1:5060' is not an IPv4 address and port\n"
		      "x.ini:4: metrics: 'localhost:9090' is not an IPv4 address and port\n"
		      "x.ini:6: duplicate section [engine] (first at line 1)\n");
	expect_errors("[engine]\n"
		      "listen = [127.0.0.1]:5060\n"
		      "advertise = [fe80::1%eth0]:5060\n"
		      "trusted = 127.0.0.0/8\n" PSTN_OK TRUNK_OK,
		      "x.ini:2: listen: '[127.0.0.1]:5060' is not an IPv6 address and port\n"
		      "x.ini:3: advertise: '[fe80::1%eth0]:5060' is not an IPv6 address and port\n");
}

Test(config_engine, ipv6_listen)
{
	struct config *c = expect_ok("[engine]\nlisten = [2001:db8::1]:5062\n"
				     "trusted = ::/0\n" PSTN_OK TRUNK_OK);

	cr_expect_str_eq(c->engine.listen.host, "[2001:db8::1]");
	cr_expect_str_eq(c->engine.advertise.text, "[2001:db8::1]:5062", "advertise = listen");
	cr_expect_eq(c->engine.advertise.port, 5062);
	cr_expect_eq(c->engine.advertise.sa.ss_family, AF_INET6);
	config_free(c);
}

Test(config_engine, wildcard_listen_needs_advertise)
{
	struct config *c;

	expect_errors("[engine]\nlisten = 0.0.0.0:5060\ntrusted = 127.0.0.0/8\n" PSTN_OK TRUNK_OK,
		      "x.ini:1: missing key 'advertise' in [engine]: listen 0.0.0.0:5060 cannot "
		      "be written in Via or Contact\n");
	expect_errors("[engine]\nlisten = [::]:5060\nadvertise = 0.0.0.0:5060\n"
		      "trusted = 127.0.0.0/8\n" PSTN_OK TRUNK_OK,
		      "x.ini:3: advertise: '0.0.0.0:5060' cannot be written in Via or Contact\n");
	expect_errors("[engine]\nlisten = [::]:5060\nadvertise = [::]:5060\n"
		      "trusted = 127.0.0.0/8\n" PSTN_OK TRUNK_OK,
		      "x.ini:3: advertise: '[::]:5060' cannot be written in Via or Contact\n");
	c = expect_ok("[engine]\nlisten = [::]:5060\nadvertise = 203.0.113.5:5060\n"
		      "trusted = 127.0.0.0/8\n" PSTN_OK TRUNK_OK);
	cr_expect_str_eq(c->engine.listen.host, "[::]");
	cr_expect_str_eq(c->engine.advertise.host, "203.0.113.5");
	config_free(c);
}

Test(config_engine, metrics_port_clash)
{
	expect_errors(ENGINE_OK "metrics = 127.0.0.1:5060\n" PSTN_OK TRUNK_OK,
		      "x.ini:4: metrics: '127.0.0.1:5060' takes the port of listen "
		      "'127.0.0.1:5060'\n");
	expect_errors(ENGINE_OK "metrics = 0.0.0.0:5060\n" PSTN_OK TRUNK_OK,
		      "x.ini:4: metrics: '0.0.0.0:5060' takes the port of listen "
		      "'127.0.0.1:5060'\n");
	config_free(expect_ok(ENGINE_OK "metrics = 127.0.0.2:5060\n" PSTN_OK TRUNK_OK));
	config_free(expect_ok(ENGINE_OK "metrics = 127.0.0.1:5061\n" PSTN_OK TRUNK_OK));
}

Test(config_engine, trusted_errors)
{
	expect_errors("[engine]\nlisten = 127.0.0.1:5060\n"
		      "trusted = 127.0.0.0/8 10.0.0.0/ ::1/129 10.0.0.1/8 2001:db8::1/32 "
		      "example.net 1.2.3.4/-1 [::1]\n" PSTN_OK TRUNK_OK,
		      "x.ini:3: trusted: '10.0.0.0/': the prefix length must be 0 to 32\n"
		      "x.ini:3: trusted: '::1/129': the prefix length must be 0 to 128\n"
		      "x.ini:3: trusted: '10.0.0.1/8' has host bits set (the block is 10.0.0.0/8)\n"
		      "x.ini:3: trusted: '2001:db8::1/32' has host bits set (the block is "
		      "2001:db8::/32)\n"
		      "x.ini:3: trusted: 'example.net' is not an IPv4 or IPv6 address\n"
		      "x.ini:3: trusted: '1.2.3.4/-1': the prefix length must be 0 to 32\n"
		      "x.ini:3: trusted: '[::1]' is not an IPv4 or IPv6 address\n");
	expect_errors("[engine]\nlisten = 127.0.0.1:5060\ntrusted =\n" PSTN_OK TRUNK_OK,
		      "x.ini:3: trusted: no address block given\n");
}

/* ---- [pstn] and trunk values ---- */

Test(config_pstn, gateway_errors)
{
	expect_errors(ENGINE_OK "[pstn]\ngateway = http://example.net/\n" TRUNK_OK,
		      "x.ini:5: gateway: 'http://example.net/' is not a sip: or sips: URI\n");
	expect_errors(ENGINE_OK "[pstn]\ngateway = sip:gw@\n" TRUNK_OK,
		      "x.ini:5: gateway: 'sip:gw@' is not a valid SIP URI (error at character 8)\n");
	expect_errors(ENGINE_OK "[pstn]\ngateway = sip:gw.example.net?Route=x\n" TRUNK_OK,
		      "x.ini:5: gateway: 'sip:gw.example.net?Route=x' has headers ('?...'), "
		      "which a request target cannot carry\n");
}

Test(config_pstn, geo_allow_codes)
{
	struct config *c;

	expect_errors(ENGINE_OK "[pstn]\ngateway = sip:127.0.0.1\n"
		      "geo_allow = 1 4 01 99 999 1000 x 44 44 +44 353\n" TRUNK_OK,
		      "x.ini:6: geo_allow: '4' is not an assigned country calling code\n"
		      "x.ini:6: geo_allow: '01' is not an assigned country calling code\n"
		      "x.ini:6: geo_allow: '99' is not an assigned country calling code\n"
		      "x.ini:6: geo_allow: '999' is not an assigned country calling code\n"
		      "x.ini:6: geo_allow: '1000' is not an assigned country calling code\n"
		      "x.ini:6: geo_allow: 'x' is not an assigned country calling code\n"
		      "x.ini:6: geo_allow: '44' is listed twice\n"
		      "x.ini:6: geo_allow: '+44' is not an assigned country calling code\n");
	c = expect_ok(ENGINE_OK "[pstn]\ngateway = sip:127.0.0.1\n"
		      "geo_allow = 1 7 20 211 998 991 388\n" TRUNK_OK);
	cr_expect(config_geo_allowed(c, NULL, 7));
	cr_expect(config_geo_allowed(c, NULL, 211));
	cr_expect(config_geo_allowed(c, NULL, 998));
	cr_expect_not(config_geo_allowed(c, NULL, 44));
	config_free(c);
}

Test(config_trunk, domain_errors)
{
	expect_errors(ENGINE_OK PSTN_OK
		      "[trunk a]\nuri = sip:a@127.0.0.1\ndomain = -a.example.net\n"
		      "[trunk b]\nuri = sip:b@127.0.0.1\ndomain = 192.0.2.1\n"
		      "[trunk c]\nuri = sip:c@127.0.0.1\ndomain = a..example.net\n"
		      "[trunk d]\nuri = sip:d@127.0.0.1\ndomain = example.net.\n"
		      "[trunk e]\nuri = sip:e@127.0.0.1\ndomain = a_b.example.net\n"
		      "[trunk f]\nuri = sip:f@127.0.0.1\n"
		      "domain = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.net\n",
		      "x.ini:8: domain: '-a.example.net' is not a host name\n"
		      "x.ini:11: domain: '192.0.2.1' is not a host name\n"
		      "x.ini:14: domain: 'a..example.net' is not a host name\n"
		      "x.ini:17: domain: 'example.net.' is not a host name\n"
		      "x.ini:20: domain: 'a_b.example.net' is not a host name\n"
		      "x.ini:23: domain: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.net' "
		      "is not a host name\n");
	config_free(expect_ok(ENGINE_OK PSTN_OK "[trunk a]\nuri = sip:a@127.0.0.1\n"
			      "domain = localhost\n"));
}

Test(config_trunk, uri_errors)
{
	expect_errors(ENGINE_OK PSTN_OK
		      "[trunk a]\ndomain = a.example.net\nuri = a@127.0.0.1\n"
		      "[trunk b]\ndomain = b.example.net\nuri = tel:+14155550100\n"
		      "[trunk c]\ndomain = c.example.net\nuri = sip:c@127.0.0.1:99999\n"
		      "[trunk d]\ndomain = d.example.net\nuri = sip:d@127.0.0.1?X-A=1\n",
		      "x.ini:8: uri: 'a@127.0.0.1' is not a valid SIP URI (error at character 2)\n"
		      "x.ini:11: uri: 'tel:+14155550100' is not a sip: or sips: URI\n"
		      "x.ini:14: uri: 'sip:c@127.0.0.1:99999' is not a valid SIP URI (error at "
		      "character 21)\n"
		      "x.ini:17: uri: 'sip:d@127.0.0.1?X-A=1' has headers ('?...'), which a "
		      "request target cannot carry\n");
}

Test(config_trunk, number_errors)
{
	expect_errors(ENGINE_OK PSTN_OK
		      "[trunk a]\ndomain = a.example.net\nuri = sip:a@127.0.0.1\n"
		      "numbers = +0123 14155550100 +123456 +1234567890123456 +1415555010x\n"
		      "numbers = +14155550100\n",
		      "x.ini:9: numbers: '+0123' is not an E.164 number\n"
		      "x.ini:9: numbers: '14155550100' is not an E.164 number\n"
		      "x.ini:9: numbers: '+123456' is not an E.164 number\n"
		      "x.ini:9: numbers: '+1234567890123456' is not an E.164 number\n"
		      "x.ini:9: numbers: '+1415555010x' is not an E.164 number\n"
		      "x.ini:10: duplicate key 'numbers' in [trunk a] (first at line 9)\n");
	expect_errors(ENGINE_OK PSTN_OK
		      "[trunk a]\ndomain = a.example.net\nuri = sip:a@127.0.0.1\n"
		      "numbers = +14155550100 +1234567\n"
		      "  +14155550100\n",
		      "x.ini:10: numbers: '+14155550100' is listed twice (first at line 9)\n");
}

Test(config_trunk, domains_are_unique)
{
	expect_errors(ENGINE_OK PSTN_OK
		      "[trunk a]\ndomain = a.example.net\nuri = sip:a@127.0.0.1\n"
		      "[trunk b]\nuri = sip:b@127.0.0.1\ndomain = A.EXAMPLE.net\n",
		      "x.ini:11: domain: 'A.EXAMPLE.net' is already the domain of [trunk a] "
		      "(line 6)\n");
}

Test(config_trunk, names_are_unique_case_insensitively)
{
	expect_errors(ENGINE_OK PSTN_OK TRUNK_OK "[trunk T]\n",
		      "x.ini:9: duplicate section [trunk T] (first at line 6)\n");
}

Test(config_trunk, skipped_section_keys_are_quiet)
{
	expect_errors(ENGINE_OK PSTN_OK TRUNK_OK
		      "[nonsense]\nworkers = 0\nbogus = 1\n  +1\n",
		      "x.ini:9: unknown section [nonsense]\n");
}

/* ---- lookups ---- */

static const char two_trunks[] = ENGINE_OK PSTN_OK
	"[trunk a]\ndomain = a.Example.net\nuri = sip:a@127.0.0.1\n"
	"numbers = +14155550100 +14155550101\n"
	"[trunk b]\ndomain = b.example.net\nuri = sip:b@127.0.0.1\n"
	"numbers = +442071838750\n"
	"geo_allow =\n";

Test(config_lookup, by_number)
{
	struct config *c = expect_ok(two_trunks);

	cr_expect_eq(config_trunk_by_number(c, STR("+14155550100")), &c->trunks[0]);
	cr_expect_eq(config_trunk_by_number(c, STR("+14155550101")), &c->trunks[0]);
	cr_expect_eq(config_trunk_by_number(c, STR("+442071838750")), &c->trunks[1]);
	cr_expect_null(config_trunk_by_number(c, STR("+14155550102")));
	cr_expect_null(config_trunk_by_number(c, STR("14155550100")));
	cr_expect_null(config_trunk_by_number(c, STR("+1415555010")));
	cr_expect_null(config_trunk_by_number(c, STR("+141555501000")));
	cr_expect_null(config_trunk_by_number(c, STR("")));
	cr_expect_null(config_trunk_by_number(c, STR("+0")));
	config_free(c);
}

Test(config_lookup, by_domain)
{
	struct config *c = expect_ok(two_trunks);

	cr_expect_eq(config_trunk_by_domain(c, STR("a.example.net")), &c->trunks[0]);
	cr_expect_eq(config_trunk_by_domain(c, STR("A.EXAMPLE.NET")), &c->trunks[0]);
	cr_expect_eq(config_trunk_by_domain(c, STR("b.example.NET")), &c->trunks[1]);
	cr_expect_null(config_trunk_by_domain(c, STR("a.example.ne")));
	cr_expect_null(config_trunk_by_domain(c, STR("a.example.net.")));
	cr_expect_null(config_trunk_by_domain(c, STR("")));
	cr_expect_null(config_trunk_by_domain(c, str_make("a.example.net", 12)));
	config_free(c);
}

/* Enough trunks and numbers to make every table grow several times; the
 * numbers come on continuation lines, as a big trunk's would. */
Test(config_lookup, many_trunks_and_numbers)
{
	size_t cap = 1 << 20, n = 0;
	char *text = malloc(cap);
	struct config *c;

	cr_assert_not_null(text);
	n += (size_t)snprintf(text + n, cap - n, "%s", ENGINE_OK PSTN_OK);
	for (int t = 0; t < 200; t++) {
		n += (size_t)snprintf(text + n, cap - n,
				      "[trunk t%d]\ndomain = T%d.example.net\nuri = sip:t@127.0.0.1\n"
				      "numbers =\n", t, t);
		for (int k = 0; k < 50; k++)
			n += (size_t)snprintf(text + n, cap - n, "  +1415%03d%04d\n", t, k);
	}
	c = expect_ok(text);
	cr_assert_eq(c->n_trunks, 200);
	for (int t = 0; t < 200; t++) {
		char num[20], dom[40];

		snprintf(dom, sizeof(dom), "t%d.EXAMPLE.net", t);
		cr_expect_eq(config_trunk_by_domain(c, S(dom)), &c->trunks[t]);
		cr_expect_eq(c->trunks[t].numbers.n, 50);
		for (int k = 0; k < 50; k++) {
			snprintf(num, sizeof(num), "+1415%03d%04d", t, k);
			cr_expect_eq(config_trunk_by_number(c, S(num)), &c->trunks[t], "%s", num);
		}
	}
	cr_expect_null(config_trunk_by_number(c, STR("+14152000000")));
	config_free(c);
	free(text);
}

/* ---- trusted: CIDR matching ---- */

static struct config *with_trusted(const char *blocks)
{
	char *text = NULL;
	struct config *c;

	cr_assert_neq(asprintf(&text, "[engine]\nlisten = 127.0.0.1:5060\ntrusted = %s\n%s",
			       blocks, PSTN_OK TRUNK_OK), -1);
	c = expect_ok(text);
	free(text);
	return c;
}

static bool trusted4(const struct config *c, const char *ip)
{
	struct sockaddr_in s = { .sin_family = AF_INET, .sin_port = htons(5060) };

	cr_assert_eq(inet_pton(AF_INET, ip, &s.sin_addr), 1, "%s", ip);
	return config_trusted(c, (const struct sockaddr *)&s);
}

static bool trusted6(const struct config *c, const char *ip)
{
	struct sockaddr_in6 s = { .sin6_family = AF_INET6, .sin6_port = htons(5060) };

	cr_assert_eq(inet_pton(AF_INET6, ip, &s.sin6_addr), 1, "%s", ip);
	return config_trusted(c, (const struct sockaddr *)&s);
}

Test(config_cidr, v4_all)
{
	struct config *c = with_trusted("0.0.0.0/0");

	cr_expect(trusted4(c, "0.0.0.0"));
	cr_expect(trusted4(c, "255.255.255.255"));
	cr_expect(trusted6(c, "::ffff:8.8.8.8"), "mapped IPv4 is IPv4");
	cr_expect_not(trusted6(c, "::1"), "IPv4 /0 is not all of IPv6");
	cr_expect_not(trusted6(c, "2001:db8::1"));
	cr_expect_not(trusted6(c, "::8.8.8.8"), "IPv4-compatible is not mapped");
	config_free(c);
}

Test(config_cidr, v6_all)
{
	struct config *c = with_trusted("::/0");

	cr_expect(trusted6(c, "::"));
	cr_expect(trusted6(c, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
	cr_expect(trusted4(c, "192.0.2.1"), "::/0 holds the mapped IPv4 space");
	config_free(c);
}

Test(config_cidr, host_v4)
{
	struct config *c = with_trusted("192.0.2.10/32");

	cr_expect(trusted4(c, "192.0.2.10"));
	cr_expect_not(trusted4(c, "192.0.2.11"));
	cr_expect_not(trusted4(c, "192.0.2.9"));
	cr_expect_not(trusted4(c, "64.0.2.10"), "first bit");
	cr_expect(trusted6(c, "::ffff:192.0.2.10"));
	cr_expect_not(trusted6(c, "::ffff:192.0.2.11"));
	cr_expect_not(trusted6(c, "::192.0.2.10"));
	cr_expect_not(trusted6(c, "64:ff9b::192.0.2.10"));
	config_free(c);
}

Test(config_cidr, host_v6)
{
	struct config *c = with_trusted("2001:db8::1/128 ::1");

	cr_expect(trusted6(c, "2001:db8::1"));
	cr_expect(trusted6(c, "2001:DB8:0:0:0:0:0:1"));
	cr_expect_not(trusted6(c, "2001:db8::"));
	cr_expect_not(trusted6(c, "2001:db8::3"));
	cr_expect_not(trusted6(c, "a001:db8::1"), "first bit");
	cr_expect(trusted6(c, "::1"));
	cr_expect_not(trusted4(c, "127.0.0.1"), "::1 is not 127.0.0.1");
	config_free(c);
}

Test(config_cidr, partial_bytes)
{
	struct config *c = with_trusted("10.0.0.128/25 2001:db8:0:0:8000::/65 203.0.113.6/31");

	cr_expect(trusted4(c, "10.0.0.128"));
	cr_expect(trusted4(c, "10.0.0.255"));
	cr_expect_not(trusted4(c, "10.0.0.127"));
	cr_expect_not(trusted4(c, "10.0.1.128"));
	cr_expect(trusted4(c, "203.0.113.6"));
	cr_expect(trusted4(c, "203.0.113.7"));
	cr_expect_not(trusted4(c, "203.0.113.5"));
	cr_expect_not(trusted4(c, "203.0.113.8"));
	cr_expect(trusted6(c, "2001:db8::8000:0:0:1"));
	cr_expect(trusted6(c, "2001:db8::ffff:ffff:ffff:ffff"));
	cr_expect_not(trusted6(c, "2001:db8::7fff:ffff:ffff:ffff"));
	config_free(c);
}

Test(config_cidr, mapped_blocks)
{
	/* a block written in mapped form is the same IPv4 block */
	struct config *c = with_trusted("::ffff:10.0.0.0/104 127.0.0.0/8");

	cr_expect(trusted4(c, "10.1.2.3"));
	cr_expect(trusted6(c, "::ffff:10.255.0.1"));
	cr_expect_not(trusted4(c, "11.0.0.0"));
	cr_expect(trusted6(c, "::ffff:127.0.0.1"), "dual-stack socket, IPv4 loopback peer");
	cr_expect(trusted4(c, "127.255.255.255"));
	cr_expect_not(trusted4(c, "128.0.0.0"));
	config_free(c);
}

Test(config_cidr, other_families)
{
	struct config *c = with_trusted("::/0 0.0.0.0/0");
	struct sockaddr_un un = { .sun_family = AF_UNIX };

	cr_expect_not(config_trusted(c, (const struct sockaddr *)&un));
	cr_expect_not(config_trusted(c, NULL));
	config_free(c);
}

/* ---- geo ---- */

Test(config_geo, trunk_override_and_pstn)
{
	struct config *c = expect_ok(ENGINE_OK "[pstn]\ngateway = sip:127.0.0.1\ngeo_allow = 1 44\n"
				     "[trunk a]\ndomain = a.example.net\nuri = sip:a@127.0.0.1\n"
				     "geo_allow = 33 49\n"
				     "[trunk b]\ndomain = b.example.net\nuri = sip:b@127.0.0.1\n"
				     "[trunk c]\ndomain = c.example.net\nuri = sip:c@127.0.0.1\n"
				     "geo_allow =\n");
	const struct config_trunk *a = &c->trunks[0], *b = &c->trunks[1], *t = &c->trunks[2];

	cr_expect(config_geo_allowed(c, a, 33));
	cr_expect(config_geo_allowed(c, a, 49));
	cr_expect_not(config_geo_allowed(c, a, 1), "the override replaces [pstn]");
	cr_expect(config_geo_allowed(c, b, 1), "no override: [pstn]");
	cr_expect(config_geo_allowed(c, b, 44));
	cr_expect_not(config_geo_allowed(c, b, 33));
	cr_expect(t->has_geo_allow);
	cr_expect_not(config_geo_allowed(c, t, 1), "an empty override allows nothing");
	cr_expect(config_geo_allowed(c, NULL, 44));
	cr_expect_not(config_geo_allowed(c, NULL, 0));
	cr_expect_not(config_geo_allowed(c, NULL, 1000));
	cr_expect_not(config_geo_allowed(c, NULL, 1u << 31));
	config_free(c);
}
