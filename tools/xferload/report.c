/* report.c: the progress line, the text summary and the JSON summary of a
 * run: counts per scenario and outcome, failures by reason, latency percentiles. */
#include <errno.h>
#include <jansson.h>
#include <string.h>
#include <unistd.h>

#include "opts.h"
#include "report.h"

static const char *const lat_names[XL__LATS] = {
	[XL_LAT_INVITE_200] = "invite_200",
	[XL_LAT_REFER_202] = "refer_202",
	[XL_LAT_NOTIFY_100] = "refer_notify_100",
	[XL_LAT_NOTIFY_200] = "refer_notify_200",
};

static const char *const lat_labels[XL__LATS] = {
	[XL_LAT_INVITE_200] = "INVITE->200",
	[XL_LAT_REFER_202] = "REFER->202",
	[XL_LAT_NOTIFY_100] = "REFER->NOTIFY 100",
	[XL_LAT_NOTIFY_200] = "REFER->NOTIFY 200",
};

static const double quantiles[] = { 0.5, 0.9, 0.99, 0.999 };
static const char *const quantile_names[] = { "p50", "p90", "p99", "p99_9" };

static double per_s(uint64_t now, uint64_t last, double dt)
{
	return dt > 0 ? (double)(now - last) / dt : 0;
}

void xl_report_progress(struct xl *xl, struct xl_progress *p, double elapsed_s)
{
	const struct xl_stats *st = &xl->st;
	const struct xl_est_stats *est = &st->est;
	double dt = elapsed_s - p->last_s;
	const char *pre = p->tty ? "\r\033[K" : "", *post = p->tty ? "" : "\n";

	switch (xl->phase) {
	case XL_PH_ESTABLISH:
		fprintf(stderr, "%s[%5.0fs] established %llu/%u up (failed %llu), setting up %llu | "
				"%.0f calls/s%s",
			pre, elapsed_s, (unsigned long long)est->up, xl->o.established,
			(unsigned long long)est->failed,
			(unsigned long long)(est->started - est->up - est->failed),
			per_s(est->started, p->last_est_started, dt), post);
		break;
	case XL_PH_SETTLE:
		fprintf(stderr, "%s[%5.0fs] established %llu/%u up (failed %llu); settling, load in "
				"%.1f s%s",
			pre, elapsed_s, (unsigned long long)est->up, xl->o.established,
			(unsigned long long)est->failed, p->settle_left_s, post);
		break;
	case XL_PH_LOAD:
	default:
		if (xl->phase != XL_PH_LOAD && xl->o.established) {
			fprintf(stderr, "%s[%5.0fs] established: %llu/%llu hung up (BYEs sent %llu, "
					"teardown failed %llu, dropped %llu) | %.0f BYEs/s%s",
				pre, elapsed_s, (unsigned long long)est->hung_up,
				(unsigned long long)est->up, (unsigned long long)est->bye_sent,
				(unsigned long long)est->teardown_failed,
				(unsigned long long)est->dropped,
				per_s(est->bye_sent, p->last_bye_sent, dt), post);
			break;
		}
		fprintf(stderr,
			"%s[%5.0fs] started %llu, done %llu (ok %llu, failed %llu), in flight %u | "
			"%.0f calls/s, %.0f transfers/s",
			pre, elapsed_s, (unsigned long long)st->started,
			(unsigned long long)st->finished, (unsigned long long)st->ok,
			(unsigned long long)st->failed, (unsigned)(st->started - st->finished),
			per_s(st->started, p->last_started, dt),
			per_s(st->transfers, p->last_transfers, dt));
		if (xl->o.established)
			fprintf(stderr, " | established %llu up, %llu dropped",
				(unsigned long long)(est->up - est->dropped),
				(unsigned long long)est->dropped);
		fputs(post, stderr);
		break;
	}
	fflush(stderr);
	p->dirty = p->tty;
	p->last_s = elapsed_s;
	p->last_started = st->started;
	p->last_transfers = st->transfers;
	p->last_est_started = est->started;
	p->last_bye_sent = est->bye_sent;
}

void xl_report_progress_end(struct xl_progress *p)
{
	if (p->dirty)
		fputc('\n', stderr);
	p->dirty = false;
}

static double ms(uint64_t us)
{
	return (double)us / 1000.0;
}

static void reasons_print(FILE *f, const struct xl_reason *r, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (r[i].count)
			fprintf(f, "  %8llu  %s (first: Call-ID %s)\n", (unsigned long long)r[i].count,
				r[i].text, r[i].call_id);
}

void xl_report_failures(const struct xl *xl, FILE *f)
{
	const struct xl_stats *st = &xl->st;
	const struct xl_est_stats *est = &st->est;
	uint64_t est_bad = est->failed + est->dropped + est->teardown_failed;

	if (st->failed) {
		fprintf(f, "failures (%llu):\n", (unsigned long long)st->failed);
		reasons_print(f, st->reasons, st->nreasons);
	}
	if (est_bad) {
		fprintf(f, "established calls' failures (%llu):\n", (unsigned long long)est_bad);
		reasons_print(f, est->reasons, est->nreasons);
	}
}

/* Calls started per second between the first start and the last: what
 * the run offered, whatever the hold times added at its end. */
static double start_rate(const struct xl_stats *st)
{
	double window = (double)(st->last_start_us - st->first_start_us) / 1e6;

	return st->started > 1 && window > 0 ? (double)(st->started - 1) / window : 0;
}

static double span_s(uint64_t from_us, uint64_t to_us)
{
	return to_us > from_us ? (double)(to_us - from_us) / 1e6 : 0;
}

/* The platform's resident memory per established call: what it grew by
 * from the start to kb (when the calls were up, or just before the load),
 * over the calls that were up. */
static bool rss_per_call(const struct xl *xl, const struct xl_cpu *cpu, long kb, double *bytes)
{
	const struct xl_est_stats *est = &xl->st.est;

	if (!est->up || cpu->rss_kb_start < 0 || kb < 0)
		return false;
	*bytes = (double)(kb - cpu->rss_kb_start) * 1024.0 / (double)est->up;
	return true;
}

static void text_established(const struct xl *xl, FILE *f, const struct xl_cpu *cpu)
{
	const struct xl_est_stats *est = &xl->st.est;
	const struct xl_hist *h = &est->invite_200;
	double per_call, per_call_up;

	if (xl->o.established)
		fprintf(f, "  established: %u asked at %.0f/s: %llu up, %llu failed in %.2f s "
			   "(INVITE->up p50 %.3f, p99 %.3f, max %.3f ms); %llu dropped while idle; "
			   "%llu hung up, %llu teardown failures in %.2f s\n",
			xl->o.established, xl->o.established_rate, (unsigned long long)est->up,
			(unsigned long long)est->failed,
			span_s(est->first_start_us, est->setup_end_us), ms(xl_hist_quantile(h, 0.5)),
			ms(xl_hist_quantile(h, 0.99)), ms(h->max), (unsigned long long)est->dropped,
			(unsigned long long)est->hung_up, (unsigned long long)est->teardown_failed,
			span_s(est->first_bye_us, est->teardown_end_us));
	if (!cpu->have_peer)
		return;
	fprintf(f, "  platform pid %d: VmRSS %ld kB at the start, %ld kB when the established "
		   "calls were up, %ld kB when the load started, %ld kB at the end; CPU %.3f s in "
		   "the load (%.2f s)",
		xl->o.pid, cpu->rss_kb_start, cpu->rss_kb_up, cpu->rss_kb_loaded, cpu->rss_kb_end,
		cpu->peer_total_s, cpu->load_s);
	if (xl->o.established) {
		fprintf(f, ", %.3f s setting up the established calls (%.1f us per call)",
			cpu->peer_establish_s,
			est->up ? cpu->peer_establish_s * 1e6 / (double)est->up : 0);
		if (rss_per_call(xl, cpu, cpu->rss_kb_up, &per_call_up))
			fprintf(f, "; RSS per established call %.0f B when up", per_call_up);
		if (rss_per_call(xl, cpu, cpu->rss_kb_loaded, &per_call))
			fprintf(f, ", %.0f B when the load started", per_call);
	}
	fputc('\n', f);
}
void xl_report_text(const struct xl *xl, FILE *f, double elapsed_s, const struct xl_cpu *cpu)
{
	const struct xl_stats *st = &xl->st;
	double cpu_s = cpu->user_s + cpu->sys_s;

	if (!st->started && !xl->o.calls && !xl->o.duration_s) { /* --calls 0 */
		fprintf(f, "xferload: no load (--calls 0), established calls only\n");
		fprintf(f, "  messages: %llu sent (%llu retransmitted), %llu received\n",
			(unsigned long long)st->msgs_out, (unsigned long long)st->rtx_out,
			(unsigned long long)st->msgs_in);
		text_established(xl, f, cpu);
		xl_report_failures(xl, f);
		return;
	}
	fprintf(f, "xferload: %llu calls started at %.1f/s, %llu finished in %.2f s: %llu ok, %llu "
		   "failed; %llu transfers\n",
		(unsigned long long)st->started, start_rate(st), (unsigned long long)st->finished,
		elapsed_s, (unsigned long long)st->ok, (unsigned long long)st->failed,
		(unsigned long long)st->transfers);
	fprintf(f, "  %-10s %10s %10s %10s\n", "scenario", "started", "ok", "failed");
	for (unsigned s = 0; s < XL__SCENARIOS; s++)
		if (st->scen_started[s])
			fprintf(f, "  %-10s %10llu %10llu %10llu\n", xl_scenario_name(s),
				(unsigned long long)st->scen_started[s],
				(unsigned long long)st->scen_ok[s],
				(unsigned long long)st->scen_failed[s]);
	fprintf(f, "  %-18s %8s %9s %9s %9s %9s %9s\n", "latency (ms)", "count", "p50", "p90", "p99",
		"p99.9", "max");
	for (unsigned i = 0; i < XL__LATS; i++) {
		const struct xl_hist *h = &st->lat[i];

		fprintf(f, "  %-18s %8llu", lat_labels[i], (unsigned long long)h->count);
		for (unsigned q = 0; q < 4; q++)
			fprintf(f, " %9.3f", ms(xl_hist_quantile(h, quantiles[q])));
		fprintf(f, " %9.3f\n", ms(h->max));
	}
	fprintf(f, "  latencies end at the kernel's receive time: %llu samples; at xferload's "
		   "wake-up (no timestamp): %llu\n",
		(unsigned long long)st->lat_kernel_rx, (unsigned long long)st->lat_loop);
	fprintf(f, "  REFER responses:");
	for (unsigned c = 0; c < XL_CODES; c++)
		if (st->refer_codes[c])
			fprintf(f, " %u x%llu", c, (unsigned long long)st->refer_codes[c]);
	fprintf(f, "; final NOTIFYs:");
	for (unsigned c = 0; c < XL_CODES; c++)
		if (st->notify_finals[c])
			fprintf(f, " %u x%llu", c, (unsigned long long)st->notify_finals[c]);
	fprintf(f, "\n  NOTIFYs received: %llu (%.1f/s):", (unsigned long long)st->notifies,
		elapsed_s > 0 ? (double)st->notifies / elapsed_s : 0);
	for (unsigned c = 0; c < XL_CODES; c++)
		if (st->notify_status[c])
			fprintf(f, " %u x%llu", c, (unsigned long long)st->notify_status[c]);
	fprintf(f, "\n  messages: %llu sent (%llu retransmitted), %llu received (%llu retransmissions "
		   "absorbed, %llu stray, %llu unmatched INVITEs, %llu unparsable, %llu truncated)\n",
		(unsigned long long)st->msgs_out, (unsigned long long)st->rtx_out,
		(unsigned long long)st->msgs_in, (unsigned long long)st->rtx_in,
		(unsigned long long)st->stray, (unsigned long long)st->unmatched,
		(unsigned long long)st->parse_errors, (unsigned long long)xl->io.truncated);
	if (st->lost_in || st->lost_out)
		fprintf(f, "  --loss dropped %llu received and %llu outgoing datagrams\n",
			(unsigned long long)st->lost_in, (unsigned long long)st->lost_out);
	if (xl->io.send_errors || st->rate_shortfall)
		fprintf(f, "  %llu send errors, %llu starts dropped (rate held back by --concurrent "
			   "or CPU)\n",
			(unsigned long long)xl->io.send_errors, (unsigned long long)st->rate_shortfall);
	fprintf(f, "  cpu: xferload %.3f s (user %.3f, sys %.3f), %.1f us per call",
		cpu_s, cpu->user_s, cpu->sys_s,
		st->finished ? cpu_s * 1e6 / (double)st->finished : 0);
	if (cpu->have_peer)
		fprintf(f, "; pid %d %.3f s (user %.2f, sys %.2f), %.1f us per call", xl->o.pid,
			cpu->peer_total_s, cpu->peer_user_s, cpu->peer_sys_s,
			st->finished ? cpu->peer_total_s * 1e6 / (double)st->finished : 0);
	fputc('\n', f);
	text_established(xl, f, cpu);
	xl_report_failures(xl, f);
}

static json_t *codes_json(const uint64_t *codes)
{
	json_t *o = json_object();
	char k[8];

	for (unsigned c = 0; c < XL_CODES; c++) {
		if (!codes[c])
			continue;
		snprintf(k, sizeof(k), "%u", c);
		json_object_set_new(o, k, json_integer((json_int_t)codes[c]));
	}
	return o;
}

static json_t *addr_json(const struct xl_addr *a)
{
	return json_string(a->hostport);
}

static json_t *opts_json(const struct xl_opts *o)
{
	json_t *j = json_object(), *mix = json_object();

	for (unsigned s = 0; s < XL__SCENARIOS; s++)
		if (o->mix[s])
			json_object_set_new(mix, xl_scenario_name(s), json_integer(o->mix[s]));
	json_object_set_new(j, "target", addr_json(&o->target));
	json_object_set_new(j, "caller", addr_json(&o->local[XL_CALLER]));
	json_object_set_new(j, "endpoint", addr_json(&o->local[XL_ENDPOINT]));
	json_object_set_new(j, "gateway", addr_json(&o->local[XL_TARGET]));
	json_object_set_new(j, "number", json_string(o->number));
	json_object_set_new(j, "refer_to_domain", json_string(o->refer_domain));
	json_object_set_new(j, "refer_number", json_string(o->refer_number));
	json_object_set_new(j, "rate", json_real(o->rate));
	json_object_set_new(j, "concurrent", json_integer(o->concurrent));
	json_object_set_new(j, "calls",
			    o->duration_s ? json_null() : json_integer((json_int_t)o->calls));
	json_object_set_new(j, "duration_s", o->duration_s ? json_real(o->duration_s) : json_null());
	json_object_set_new(j, "hold_ms", json_integer(o->hold_ms));
	json_object_set_new(j, "refer_after_ms", json_integer(o->refer_after_ms));
	json_object_set_new(j, "ring_ms", json_integer(o->ring_ms));
	json_object_set_new(j, "t1_ms", json_integer(o->t1_ms));
	json_object_set_new(j, "call_timeout_ms", json_integer(o->call_timeout_ms));
	json_object_set_new(j, "mix", mix);
	json_object_set_new(j, "established", json_integer(o->established));
	json_object_set_new(j, "established_rate", json_real(o->established_rate));
	json_object_set_new(j, "settle_s", json_real(o->settle_s));
	json_object_set_new(j, "provisionals", json_integer(o->provisionals));
	json_object_set_new(j, "no_subscription", json_boolean(o->no_subscription));
	return j;
}

/* count, the percentiles, max and mean of h, in µs. */
static json_t *hist_json(const struct xl_hist *h)
{
	json_t *o = json_object();

	json_object_set_new(o, "count", json_integer((json_int_t)h->count));
	for (unsigned q = 0; q < 4; q++) {
		uint64_t v = xl_hist_quantile(h, quantiles[q]);

		json_object_set_new(o, quantile_names[q], json_integer((json_int_t)v));
	}
	json_object_set_new(o, "max", json_integer((json_int_t)h->max));
	json_object_set_new(o, "mean", json_real(h->count ? (double)h->sum / (double)h->count : 0));
	return o;
}

static json_t *reasons_json(const struct xl_reason *r, unsigned n)
{
	json_t *a = json_array();

	for (unsigned i = 0; i < n; i++) {
		if (!r[i].count)
			continue;
		json_array_append_new(a, json_pack("{s:s, s:I, s:s}", "reason", r[i].text, "count",
						   (json_int_t)r[i].count, "first_call_id",
						   r[i].call_id));
	}
	return a;
}

static json_t *established_json(const struct xl *xl)
{
	const struct xl_est_stats *est = &xl->st.est;
	json_t *o = json_object();

	json_object_set_new(o, "asked", json_integer(xl->o.established));
	json_object_set_new(o, "up", json_integer((json_int_t)est->up));
	json_object_set_new(o, "failed", json_integer((json_int_t)est->failed));
	json_object_set_new(o, "dropped", json_integer((json_int_t)est->dropped));
	json_object_set_new(o, "hung_up", json_integer((json_int_t)est->hung_up));
	json_object_set_new(o, "teardown_failed", json_integer((json_int_t)est->teardown_failed));
	json_object_set_new(o, "setup_s", json_real(span_s(est->first_start_us, est->setup_end_us)));
	json_object_set_new(o, "teardown_s",
			    json_real(span_s(est->first_bye_us, est->teardown_end_us)));
	json_object_set_new(o, "invite_up_us", hist_json(&est->invite_200));
	json_object_set_new(o, "reasons", reasons_json(est->reasons, est->nreasons));
	return o;
}

static json_t *kb_json(long kb)
{
	return kb >= 0 ? json_integer(kb) : json_null();
}

static json_t *platform_json(const struct xl *xl, const struct xl_cpu *cpu)
{
	json_t *o = json_object();
	double per_call;

	json_object_set_new(o, "pid", json_integer(xl->o.pid));
	json_object_set_new(o, "rss_kb_start", kb_json(cpu->rss_kb_start));
	json_object_set_new(o, "rss_kb_up", kb_json(cpu->rss_kb_up));
	json_object_set_new(o, "rss_kb_loaded", kb_json(cpu->rss_kb_loaded));
	json_object_set_new(o, "rss_kb_end", kb_json(cpu->rss_kb_end));
	json_object_set_new(o, "rss_bytes_per_established_call",
			    rss_per_call(xl, cpu, cpu->rss_kb_loaded, &per_call) ? json_real(per_call)
										 : json_null());
	json_object_set_new(o, "rss_bytes_per_established_call_up",
			    rss_per_call(xl, cpu, cpu->rss_kb_up, &per_call) ? json_real(per_call)
									     : json_null());
	json_object_set_new(o, "cpu_us_establish",
			    json_integer((json_int_t)(cpu->peer_establish_s * 1e6 + 0.5)));
	json_object_set_new(o, "cpu_us_load",
			    json_integer((json_int_t)(cpu->peer_total_s * 1e6 + 0.5)));
	json_object_set_new(o, "load_s", json_real(cpu->load_s));
	return o;
}

int xl_report_json(const struct xl *xl, const char *path, double elapsed_s,
		   const struct xl_cpu *cpu)
{
	const struct xl_stats *st = &xl->st;
	json_t *root = json_object(), *scen = json_object();
	json_t *fail = reasons_json(st->reasons, st->nreasons);
	json_t *lat = json_object(), *calls = json_object(), *msgs = json_object();
	json_t *cpuj = json_object();
	double cpu_s = cpu->user_s + cpu->sys_s;
	int r;

	json_object_set_new(calls, "started", json_integer((json_int_t)st->started));
	json_object_set_new(calls, "finished", json_integer((json_int_t)st->finished));
	json_object_set_new(calls, "ok", json_integer((json_int_t)st->ok));
	json_object_set_new(calls, "failed", json_integer((json_int_t)st->failed));
	json_object_set_new(calls, "transfers", json_integer((json_int_t)st->transfers));
	for (unsigned s = 0; s < XL__SCENARIOS; s++) {
		json_t *o;

		if (!st->scen_started[s])
			continue;
		o = json_object();
		json_object_set_new(o, "started", json_integer((json_int_t)st->scen_started[s]));
		json_object_set_new(o, "ok", json_integer((json_int_t)st->scen_ok[s]));
		json_object_set_new(o, "failed", json_integer((json_int_t)st->scen_failed[s]));
		json_object_set_new(scen, xl_scenario_name(s), o);
	}
	for (unsigned i = 0; i < XL__LATS; i++)
		json_object_set_new(lat, lat_names[i], hist_json(&st->lat[i]));
	json_object_set_new(msgs, "sent", json_integer((json_int_t)st->msgs_out));
	json_object_set_new(msgs, "received", json_integer((json_int_t)st->msgs_in));
	json_object_set_new(msgs, "retransmitted", json_integer((json_int_t)st->rtx_out));
	json_object_set_new(msgs, "retransmissions_absorbed", json_integer((json_int_t)st->rtx_in));
	json_object_set_new(msgs, "stray", json_integer((json_int_t)st->stray));
	json_object_set_new(msgs, "unmatched_invites", json_integer((json_int_t)st->unmatched));
	json_object_set_new(msgs, "unparsable", json_integer((json_int_t)st->parse_errors));
	json_object_set_new(msgs, "truncated", json_integer((json_int_t)xl->io.truncated));
	json_object_set_new(msgs, "untimed", json_integer((json_int_t)xl->io.rx_untimed));
	json_object_set_new(msgs, "lost_in", json_integer((json_int_t)st->lost_in));
	json_object_set_new(msgs, "lost_out", json_integer((json_int_t)st->lost_out));
	json_object_set_new(msgs, "send_errors", json_integer((json_int_t)xl->io.send_errors));
	json_object_set_new(cpuj, "user_s", json_real(cpu->user_s));
	json_object_set_new(cpuj, "sys_s", json_real(cpu->sys_s));
	json_object_set_new(cpuj, "us_per_call",
			    json_real(st->finished ? cpu_s * 1e6 / (double)st->finished : 0));
	if (cpu->have_peer) {
		double peer = cpu->peer_total_s;

		json_object_set_new(cpuj, "peer_pid", json_integer(xl->o.pid));
		json_object_set_new(cpuj, "peer_user_s", json_real(cpu->peer_user_s));
		json_object_set_new(cpuj, "peer_sys_s", json_real(cpu->peer_sys_s));
		json_object_set_new(cpuj, "peer_cpu_s", json_real(peer));
		json_object_set_new(cpuj, "peer_us_per_call",
				    json_real(st->finished ? peer * 1e6 / (double)st->finished : 0));
	}
	json_object_set_new(root, "options", opts_json(&xl->o));
	json_object_set_new(root, "elapsed_s", json_real(elapsed_s));
	json_object_set_new(root, "start_rate", json_real(start_rate(st)));
	json_object_set_new(root, "start_window_s",
			    json_real((double)(st->last_start_us - st->first_start_us) / 1e6));
	json_object_set_new(root, "calls_per_s",
			    json_real(elapsed_s > 0 ? (double)st->finished / elapsed_s : 0));
	json_object_set_new(root, "transfers_per_s",
			    json_real(elapsed_s > 0 ? (double)st->transfers / elapsed_s : 0));
	json_object_set_new(root, "calls", calls);
	json_object_set_new(root, "scenarios", scen);
	json_object_set_new(root, "failures", fail);
	json_object_set_new(root, "refer_responses", codes_json(st->refer_codes));
	json_object_set_new(root, "notify_final", codes_json(st->notify_finals));
	json_object_set_new(root, "notifies", json_integer((json_int_t)st->notifies));
	json_object_set_new(root, "notify_sipfrags", codes_json(st->notify_status));
	json_object_set_new(root, "notifies_per_s",
			    json_real(elapsed_s > 0 ? (double)st->notifies / elapsed_s : 0));
	json_object_set_new(root, "latency_us", lat);
	json_object_set_new(root, "latency_clock",
			    json_pack("{s:I, s:I}", "kernel_rx", (json_int_t)st->lat_kernel_rx,
				      "loop", (json_int_t)st->lat_loop));
	json_object_set_new(root, "messages", msgs);
	json_object_set_new(root, "loop",
			    json_pack("{s:I, s:I, s:I, s:I}", "iterations", (json_int_t)xl->io.waits,
				      "completions", (json_int_t)xl->io.cqes, "recv_rearms",
				      (json_int_t)xl->io.rearms, "buffers_allocated",
				      (json_int_t)xl->io.out_total));
	json_object_set_new(root, "rate_shortfall", json_integer((json_int_t)st->rate_shortfall));
	json_object_set_new(root, "cpu", cpuj);
	json_object_set_new(root, "total_s", json_real(cpu->total_s));
	json_object_set_new(root, "established", established_json(xl));
	if (cpu->have_peer)
		json_object_set_new(root, "platform", platform_json(xl, cpu));
	if (!strcmp(path, "-")) {
		r = json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) ? -EIO : 0;
		fputc('\n', stdout);
	} else {
		errno = 0;
		if (json_dump_file(root, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER))
			r = errno ? -errno : -EIO;
		else
			r = 0;
	}
	json_decref(root);
	return r;
}
