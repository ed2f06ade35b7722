/* test_metrics.c: metrics_render() on a fake engine with known counters (exact
 * samples, HELP/TYPE, cumulative histograms) and the event log's JSON lines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "evlog.h"
#include "metrics.h"
#include "worker.h"

static struct engine eng;
static char text[1 << 20];

static void setup(void)
{
	memset(&eng, 0, sizeof(eng));
	eng.nworkers = 2;
	for (unsigned i = 0; i < eng.nworkers; i++) {
		eng.workers[i] = calloc(1, sizeof(struct worker));
		cr_assert(eng.workers[i]);
		eng.workers[i]->id = i;
		eng.workers[i]->eng = &eng;
	}
}

static void teardown(void)
{
	for (unsigned i = 0; i < eng.nworkers; i++)
		free(eng.workers[i]);
}

static struct worker_stats *st(unsigned i)
{
	return &eng.workers[i]->st;
}

static void render(void)
{
	size_t n = metrics_render(&eng, text, sizeof(text));

	cr_assert_lt(n, sizeof(text));
	cr_assert_eq(strlen(text), n);
}

/* The sample line "name{labels} value" is in the text, whole. */
static void has_line(const char *line)
{
	size_t n = strlen(line);
	const char *p = text;

	while ((p = strstr(p, line))) {
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return;
		p += n;
	}
	cr_assert_fail("missing line: %s\n--- text ---\n%s", line, text);
}

static void lacks(const char *s)
{
	cr_assert_null(strstr(text, s), "unexpected: %s", s);
}

TestSuite(metrics, .init = setup, .fini = teardown);

Test(metrics, counters_summed_over_workers)
{
	stats_add(&st(0)->calls[STATS_CALL_COMPLETED], 3);
	stats_add(&st(1)->calls[STATS_CALL_COMPLETED], 2);
	stats_add(&st(1)->calls[STATS_CALL_REJECTED], 7);
	stats_add(&st(0)->calls_active, 1);
	stats_add(&st(1)->calls_active, 4);
	stats_add(&st(0)->refer_responses[202], 4);
	stats_add(&st(1)->refer_responses[202], 1);
	stats_add(&st(1)->refer_responses[403], 2);
	stats_add(&st(0)->transfers[XFER_SUCCESS][200], 3);
	stats_add(&st(1)->transfers[XFER_TARGET_FAILED][486], 1);
	stats_add(&st(0)->transfers[XFER_ENDPOINT_HUNG_UP][0], 1);
	stats_add(&st(0)->notify_sent[100], 5);
	stats_add(&st(1)->notify_sent[200], 3);
	stats_add(&st(0)->notify_responses[200], 8);
	stats_add(&st(0)->msgs[STATS_IN][STATS_M_REFER], 5);
	stats_add(&st(1)->msgs[STATS_OUT][STATS_M_RESPONSE], 9);
	stats_add(&st(0)->retransmissions_in, 2);
	stats_add(&st(1)->retransmissions_out, 6);
	stats_add(&st(0)->responses_unmatched, 1);
	stats_add(&st(1)->responses_unmatched, 3);
	stats_add(&st(0)->parse_errors, 1);
	stats_add(&st(1)->parse_errors, 1);
	stats_add(&st(0)->tcp_conns_live, 2);
	stats_add(&st(1)->timers_live, 11);
	stats_add(&st(0)->busy_ns, 1500000000);
	stats_add(&st(1)->busy_ns, 250);
	stats_add(&st(1)->handoffs_out, 12);
	atomic_store(&eng.spread.active, 1);
	render();
	has_line("xferd_calls_total{outcome=\"completed\"} 5");
	has_line("xferd_calls_total{outcome=\"rejected\"} 7");
	has_line("xferd_calls_total{outcome=\"cancelled\"} 0");
	has_line("xferd_calls_active 5");
	has_line("xferd_refer_responses_total{code=\"202\"} 5");
	has_line("xferd_refer_responses_total{code=\"403\"} 2");
	has_line("xferd_transfers_total{outcome=\"success\",status=\"200\"} 3");
	has_line("xferd_transfers_total{outcome=\"target_failed\",status=\"486\"} 1");
	has_line("xferd_transfers_total{outcome=\"endpoint_hung_up\",status=\"none\"} 1");
	has_line("xferd_notify_sent_total{status=\"100\"} 5");
	has_line("xferd_notify_sent_total{status=\"200\"} 3");
	has_line("xferd_notify_responses_total{code=\"200\"} 8");
	has_line("xferd_sip_messages_total{direction=\"in\",method=\"REFER\"} 5");
	has_line("xferd_sip_messages_total{direction=\"out\",method=\"response\"} 9");
	has_line("xferd_sip_messages_total{direction=\"in\",method=\"INVITE\"} 0");
	has_line("xferd_retransmissions_total{direction=\"in\"} 2");
	has_line("xferd_retransmissions_total{direction=\"out\"} 6");
	has_line("xferd_parse_errors_total 2");
	has_line("xferd_responses_unmatched_total 4");
	has_line("xferd_live_objects{kind=\"tcp_connections\"} 2");
	has_line("xferd_live_objects{kind=\"timers\"} 11");
	has_line("xferd_worker_busy_seconds_total{worker=\"0\"} 1.5");
	has_line("xferd_worker_busy_seconds_total{worker=\"1\"} 0.00000025");
	has_line("xferd_worker_handoffs_total{worker=\"1\"} 12");
	has_line("xferd_worker_handoffs_total{worker=\"0\"} 0");
	has_line("xferd_workers_taking_calls 1");
	has_line("xferd_worker_call_slots{worker=\"0\"} 256");
	has_line("xferd_worker_call_slots{worker=\"1\"} 0");
	has_line("xferd_draining 0");
}

Test(metrics, only_nonzero_codes)
{
	stats_add(&st(0)->refer_responses[202], 1);
	render();
	lacks("code=\"0\"");
	lacks("code=\"200\"");
	lacks("status=\"");
	has_line("# TYPE xferd_transfers_total counter");
	has_line("# TYPE xferd_notify_responses_total counter");
}

Test(metrics, histogram_cumulative_in_seconds)
{
	struct stats_hist *h0 = &st(0)->refer_accept, *h1 = &st(1)->refer_accept;

	stats_hist_observe(h0, stats_refer_accept_bounds_us, 30);       /* le 0.00005 */
	stats_hist_observe(h1, stats_refer_accept_bounds_us, 120);      /* le 0.00025 */
	stats_hist_observe(h0, stats_refer_accept_bounds_us, 2000000);  /* le 5 */
	stats_hist_observe(h1, stats_refer_accept_bounds_us, 10000000); /* +Inf */
	render();
	has_line("# HELP xferd_refer_accept_seconds REFER received to 202 Accepted sent.");
	has_line("# TYPE xferd_refer_accept_seconds histogram");
	has_line("xferd_refer_accept_seconds_bucket{le=\"0.00005\"} 1");
	has_line("xferd_refer_accept_seconds_bucket{le=\"0.0001\"} 1");
	has_line("xferd_refer_accept_seconds_bucket{le=\"0.00025\"} 2");
	has_line("xferd_refer_accept_seconds_bucket{le=\"1\"} 2");
	has_line("xferd_refer_accept_seconds_bucket{le=\"5\"} 3");
	has_line("xferd_refer_accept_seconds_bucket{le=\"+Inf\"} 4");
	has_line("xferd_refer_accept_seconds_count 4");
	has_line("xferd_refer_accept_seconds_sum 12.00015");
	has_line("xferd_transfer_answer_seconds_bucket{le=\"+Inf\"} 0");
	has_line("xferd_transfer_answer_seconds_bucket{le=\"0.05\"} 0");
	has_line("xferd_transfer_answer_seconds_bucket{le=\"120\"} 0");
	has_line("xferd_transfer_answer_seconds_sum 0");
	has_line("xferd_transfer_answer_seconds_count 0");
}

/* Every sample belongs to a family announced by # HELP then # TYPE, the
 * buckets of a histogram are cumulative and end in le="+Inf". */
Test(metrics, every_family_has_help_and_type)
{
	char fam[128] = "", *save = NULL, *copy;
	bool typed = false, hist = false;
	unsigned long long last = 0;
	unsigned families = 0;

	stats_hist_observe(&st(0)->transfer_answer, stats_transfer_answer_bounds_us, 700000);
	stats_add(&st(0)->notify_sent[180], 1);
	render();
	copy = strdup(text);
	for (char *ln = strtok_r(copy, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save)) {
		char name[128], type[32];
		size_t n;

		if (sscanf(ln, "# HELP %127s", name) == 1) {
			cr_assert_str_neq(name, fam, "HELP twice for %s", name);
			snprintf(fam, sizeof(fam), "%s", name);
			typed = false;
			families++;
			continue;
		}
		if (sscanf(ln, "# TYPE %127s %31s", name, type) == 2) {
			cr_assert_str_eq(name, fam, "TYPE %s without its HELP", name);
			typed = true;
			hist = !strcmp(type, "histogram");
			last = 0;
			continue;
		}
		cr_assert_neq(ln[0], '#', "stray comment: %s", ln);
		cr_assert(typed, "sample before its TYPE: %s", ln);
		n = strlen(fam);
		cr_assert(!strncmp(ln, fam, n), "sample %s outside its family %s", ln, fam);
		if (hist && !strncmp(ln + n, "_bucket", 7)) {
			unsigned long long v = strtoull(strrchr(ln, ' ') + 1, NULL, 10);

			cr_assert_geq(v, last, "not cumulative: %s", ln);
			last = v;
		} else if (hist && !strncmp(ln + n, "_count", 6)) {
			cr_assert_eq(strtoull(strrchr(ln, ' ') + 1, NULL, 10), last);
		} else if (!hist) {
			cr_assert(ln[n] == ' ' || ln[n] == '{', "sample %s outside %s", ln, fam);
		}
	}
	free(copy);
	cr_assert_geq(families, 20);
	has_line("xferd_transfer_answer_seconds_bucket{le=\"1\"} 1");
	has_line("# TYPE xferd_memory_bytes gauge");
	has_line("# TYPE xferd_worker_busy_seconds_total counter");
}

/* snprintf semantics: the same length whatever the room, cut text NUL-terminated. */
Test(metrics, short_buffer)
{
	char small[100];
	size_t full, n;

	render();
	full = strlen(text);
	n = metrics_render(&eng, small, sizeof(small));
	cr_assert_geq(n, full - 64); /* the memory figures may have moved */
	cr_assert_eq(strlen(small), sizeof(small) - 1);
	cr_assert(!strncmp(small, text, sizeof(small) - 1));
	cr_assert_eq(metrics_render(&eng, NULL, 0), n);
}

Test(metrics, draining)
{
	atomic_store(&eng.draining, true);
	render();
	has_line("xferd_draining 1");
}

/* ---- the event log lines ---- */

static const struct timespec when = { 1700000000, 123456789 }; /* 2023-11-14T22:13:20.123Z */

static json_t *parse_line(const char *buf, int n)
{
	json_error_t err;
	json_t *j;

	cr_assert_gt(n, 0);
	cr_assert_eq(buf[n - 1], '\n');
	cr_assert_null(memchr(buf, '\n', (size_t)n - 1), "one line only");
	j = json_loadb(buf, (size_t)n, 0, &err);
	cr_assert_not_null(j, "%s: %.*s", err.text, n, buf);
	return j;
}

Test(evlog, transfer_line)
{
	struct evlog_transfer t = {
		.a_call_id = "a1@host", .b_call_id = "b1", .c_call_id = NULL, .trunk = "acme",
		.caller_uri = "<sip:+12125550147@127.0.0.1>", .target = "+14155551234",
		.outcome = "success", .status = 200, .accept_us = 87, .answer_us = 1234567,
		.duration_us = 2500000,
	};
	char buf[EVLOG_LINE_MAX];
	int n = evlog_format_transfer(&t, &when, buf, sizeof(buf));
	json_t *j = parse_line(buf, n);

	cr_assert_str_eq(json_string_value(json_object_get(j, "event")), "transfer");
	cr_assert_str_eq(json_string_value(json_object_get(j, "time")), "2023-11-14T22:13:20.123Z");
	cr_assert_str_eq(json_string_value(json_object_get(j, "a_call_id")), "a1@host");
	cr_assert(json_is_null(json_object_get(j, "c_call_id")));
	cr_assert_str_eq(json_string_value(json_object_get(j, "caller")), "+12125550147");
	cr_assert_str_eq(json_string_value(json_object_get(j, "target")), "+14155551234");
	cr_assert_str_eq(json_string_value(json_object_get(j, "outcome")), "success");
	cr_assert_eq(json_integer_value(json_object_get(j, "status")), 200);
	cr_assert_eq(json_integer_value(json_object_get(j, "refer_accept_us")), 87);
	cr_assert_eq(json_integer_value(json_object_get(j, "refer_answer_ms")), 1234);
	cr_assert_eq(json_integer_value(json_object_get(j, "duration_ms")), 2500);
	json_decref(j);
	t.answer_us = 0;
	n = evlog_format_transfer(&t, &when, buf, sizeof(buf));
	j = parse_line(buf, n);
	cr_assert(json_is_null(json_object_get(j, "refer_answer_ms")));
	json_decref(j);
}

Test(evlog, call_line_and_hostile_fields)
{
	char big[4000], bad[] = "caller\xff\xfe\"x\n";
	struct evlog_call c = {
		.a_call_id = big, .b_call_id = bad, .trunk = "acme", .caller_uri = "not a uri",
		.callee_uri = "<sip:+14155550100@127.0.0.1>", .outcome = "completed",
		.duration_us = 61000, .transfers = 1,
	};
	char buf[EVLOG_LINE_MAX];
	json_t *j;
	int n;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	n = evlog_format_call(&c, &when, buf, sizeof(buf));
	cr_assert_lt(n, 4096);
	j = parse_line(buf, n);
	cr_assert_str_eq(json_string_value(json_object_get(j, "event")), "call");
	cr_assert_eq(strlen(json_string_value(json_object_get(j, "a_call_id"))), EVLOG_FIELD_MAX);
	cr_assert_str_eq(json_string_value(json_object_get(j, "b_call_id")), "caller??\"x\n");
	cr_assert_str_eq(json_string_value(json_object_get(j, "caller")), "not a uri");
	cr_assert_str_eq(json_string_value(json_object_get(j, "callee")), "+14155550100");
	cr_assert_eq(json_integer_value(json_object_get(j, "duration_ms")), 61);
	cr_assert_eq(json_integer_value(json_object_get(j, "transfers")), 1);
	json_decref(j);
	cr_assert_eq(evlog_format_call(&c, &when, buf, 64), -1, "too small a buffer fails");
}
