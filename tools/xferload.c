/* xferload.c: a load generator for SIP REFER transfers: one thread, one
 * io_uring, playing caller, endpoint and target (SPEC.md "The transfer"). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "xferload/calls.h"
#include "xferload/opts.h"
#include "xferload/report.h"

/* Calls may start late by this much and catch up; beyond it the rate is
 * not reachable (--concurrent, or CPU) and the missed starts are dropped
 * rather than sent as one burst. */
#define CATCH_UP_US 100000
/* After the last call: let the final sends leave. */
#define DRAIN_WAIT_MS 500

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted++;
}

uint64_t xl_clock_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void tick(struct xl *xl)
{
	xl->now_us = xl_clock_us();
	xl->now_ms = xl->now_us / 1000u;
}

/* CPU time of pid: the total from its CPU clock (ns), the user/system
 * split from /proc (clock ticks); -1 if unreadable. */
static double proc_cpu(int pid, double *user, double *sys, double *total)
{
	clockid_t clk;
	struct timespec ts;
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	long hz = sysconf(_SC_CLK_TCK);
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')'); /* comm may hold spaces */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	*user = (double)ut / (double)hz;
	*sys = (double)st / (double)hz;
	*total = *user + *sys;
	if (clock_getcpuclockid(pid, &clk) == 0 && clock_gettime(clk, &ts) == 0)
		*total = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	return *total;
}

static void self_cpu(double *user, double *sys)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	*user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
	*sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* VmRSS of pid in kB, from /proc/PID/status; -1 if unreadable. */
static long proc_rss_kb(int pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6)) {
			if (sscanf(line + 6, "%ld", &kb) != 1)
				kb = -1;
			break;
		}
	fclose(f);
	return kb;
}

/* The CPU times of xferload and of --pid at one instant: the phases'
 * figures are differences of two of them. */
struct cpu_sample {
	double user, sys;
	bool peer_ok;
	double peer_user, peer_sys, peer_total;
};

static void cpu_sample(const struct xl *xl, struct cpu_sample *c)
{
	self_cpu(&c->user, &c->sys);
	c->peer_ok = xl->o.pid && proc_cpu(xl->o.pid, &c->peer_user, &c->peer_sys,
					   &c->peer_total) >= 0;
}

/* Starts at a rate: the n-th since the base is due at base_us + n / rate. */
struct pace {
	double rate;
	uint64_t base_n, base_us;
};

static uint64_t pace_due_us(const struct pace *p, uint64_t n)
{
	return p->base_us + (uint64_t)((double)(n - p->base_n) * 1e6 / p->rate);
}

/* Whether the n-th start is due now. More than the catch-up window late,
 * the schedule is re-based on now; the starts skipped are returned in
 * *skipped (the load counts them; the established calls' are all made,
 * only later). */
static bool pace_due(struct pace *p, uint64_t n, uint64_t now_us, uint64_t *skipped)
{
	uint64_t due = pace_due_us(p, n);

	*skipped = 0;
	if (due > now_us)
		return false;
	if (now_us - due > CATCH_UP_US) {
		double late_s = (double)(now_us - due - CATCH_UP_US) / 1e6;

		*skipped = (uint64_t)(late_s * p->rate);
		p->base_n = n;
		p->base_us = now_us - CATCH_UP_US;
	}
	return true;
}

/* The load's starts are over: --calls of them (0: none, --established
 * alone), or --duration decides. */
static bool load_all_started(const struct xl *xl)
{
	return !xl->o.duration_s && xl->st.started >= xl->o.calls;
}

/* Start the calls due by now: rate * elapsed, within --concurrent. */
static void start_due(struct xl *xl, uint64_t t0, struct pace *p)
{
	const struct xl_opts *o = &xl->o;
	uint64_t skipped;

	for (;;) {
		if (load_all_started(xl))
			return;
		if (o->duration_s &&
		    pace_due_us(p, xl->st.started) >= t0 + (uint64_t)(o->duration_s * 1e6))
			return;
		if (!pace_due(p, xl->st.started, xl->now_us, &skipped))
			return;
		/* Behind by more than the catch-up window: the skipped starts
		 * are counted, not sent as one burst. */
		xl->st.rate_shortfall += skipped;
		if (skipped)
			continue;
		if (!xl_calls_start(xl))
			return;
	}
}

/* A wake-up time rounded up to the millisecond the timer wheel wakes on. */
static uint64_t wake_ms_aligned(uint64_t us)
{
	return (us + 999) / 1000 * 1000;
}

/* When to wake for the next call, or UINT64_MAX: on the millisecond the
 * timer wheel also wakes on, so that the calls due in it start together,
 * one wake-up (of xferload and of the platform) rather than one per call. */
static uint64_t next_start_us(const struct xl *xl, const struct pace *p)
{
	if (load_all_started(xl))
		return UINT64_MAX;
	if (xl_calls_active(xl) >= xl->o.concurrent)
		return UINT64_MAX; /* a call's end wakes the loop */
	return wake_ms_aligned(pace_due_us(p, xl->st.started));
}

/* The established calls' INVITEs due by now (--established-rate). */
static void establish_due(struct xl *xl, struct pace *p)
{
	uint64_t skipped;

	while (xl->st.est.started < xl->o.established &&
	       pace_due(p, xl->st.est.started, xl->now_us, &skipped))
		if (!xl_calls_start_established(xl))
			return;
}

/* Their BYEs due by now, at the same rate; *done once none is left. */
static void hangup_due(struct xl *xl, struct pace *p, bool *done)
{
	uint64_t skipped;

	while (!*done && pace_due(p, xl->st.est.bye_sent, xl->now_us, &skipped))
		if (!xl_calls_hangup_next(xl))
			*done = true;
}

static double peer_diff(const struct cpu_sample *a, const struct cpu_sample *b)
{
	return a->peer_ok && b->peer_ok ? b->peer_total - a->peer_total : 0;
}

/* The phases (xl->phase) one after the other in one loop: establish the
 * --established calls, --settle, the load, hang up the established calls.
 * The load's CPU figures run from its first start to its last call's end,
 * so that setting up and tearing down the idle calls is not in them. */
static int run(struct xl *xl)
{
	const struct xl_opts *o = &xl->o;
	struct xl_progress prog = { .tty = isatty(2) };
	struct xl_cpu cpu = { .rss_kb_start = -1, .rss_kb_up = -1, .rss_kb_loaded = -1,
			      .rss_kb_end = -1 };
	struct cpu_sample c_start, c_est, c_load0, c_load1;
	struct pace est_pace = { .rate = o->established_rate }, hang_pace = est_pace;
	struct pace load_pace = { .rate = o->rate };
	uint64_t t_run, t0 = 0, t1 = 0, next_progress, stop_at = UINT64_MAX, settle_until = 0;
	bool starting = false, hang_done = false;
	int rc = 0;

	cpu_sample(xl, &c_start);
	cpu.have_peer = c_start.peer_ok;
	if (o->pid && !cpu.have_peer)
		fprintf(stderr, "xferload: cannot read /proc/%d/stat: CPU of --pid not reported\n",
			o->pid);
	if (o->pid)
		cpu.rss_kb_start = proc_rss_kb(o->pid);
	c_est = c_load0 = c_load1 = c_start;
	tick(xl);
	t_run = est_pace.base_us = xl->now_us;
	next_progress = t_run + 1000000;
	wheel_init(&xl->wheel, xl->now_ms);
	xl->phase = XL_PH_ESTABLISH;
	for (;;) {
		uint64_t wake, deadline_ms, ns;

		if (interrupted > 1) {
			xl_calls_abort(xl);
			break;
		}
		if (xl->phase == XL_PH_ESTABLISH) {
			if (!interrupted)
				establish_due(xl, &est_pace);
			if ((xl->st.est.started >= o->established || interrupted) &&
			    !xl_calls_established_pending(xl)) {
				/* The last one just came up (or failed): what the
				 * platform holds before --settle lets it shed. */
				if (o->pid)
					cpu.rss_kb_up = proc_rss_kb(o->pid);
				cpu_sample(xl, &c_est);
				xl->phase = XL_PH_SETTLE;
				settle_until = xl->now_us + (uint64_t)(o->settle_s * 1e6);
			}
		}
		if (xl->phase == XL_PH_SETTLE && (xl->now_us >= settle_until || interrupted)) {
			if (o->pid)
				cpu.rss_kb_loaded = proc_rss_kb(o->pid);
			cpu_sample(xl, &c_load0);
			tick(xl);
			t0 = load_pace.base_us = xl->now_us;
			if (o->duration_s)
				stop_at = t0 + (uint64_t)(o->duration_s * 1e6);
			starting = !interrupted;
			xl->phase = XL_PH_LOAD;
		}
		if (xl->phase == XL_PH_LOAD) {
			if (starting) {
				start_due(xl, t0, &load_pace);
				if (load_all_started(xl) || xl->now_us >= stop_at || interrupted)
					starting = false;
			}
			if (!starting && !xl_calls_active(xl)) {
				t1 = xl->now_us;
				cpu_sample(xl, &c_load1);
				hang_pace.base_us = xl->now_us;
				xl->phase = XL_PH_TEARDOWN;
			}
		}
		if (xl->phase == XL_PH_TEARDOWN) {
			hangup_due(xl, &hang_pace, &hang_done);
			if (!xl_calls_established_active(xl))
				xl->phase = XL_PH_DONE;
		}
		if (xl->phase == XL_PH_DONE)
			break;
		if (!o->quiet && xl->now_us >= next_progress) {
			prog.settle_left_s = xl->phase == XL_PH_SETTLE
						     ? (double)(settle_until - xl->now_us) / 1e6 : 0;
			xl_report_progress(xl, &prog, (double)(xl->now_us - t_run) / 1e6);
			next_progress += 1000000;
		}
		/* Sleep until the next timer, start, BYE, phase or progress line. */
		wake = o->quiet ? UINT64_MAX : next_progress;
		deadline_ms = wheel_next_deadline(&xl->wheel);
		if (deadline_ms != UINT64_MAX && deadline_ms * 1000 < wake)
			wake = deadline_ms * 1000;
		if (xl->phase == XL_PH_ESTABLISH && !interrupted &&
		    xl->st.est.started < o->established &&
		    (ns = wake_ms_aligned(pace_due_us(&est_pace, xl->st.est.started))) < wake)
			wake = ns;
		if (xl->phase == XL_PH_SETTLE && settle_until < wake)
			wake = settle_until;
		if (xl->phase == XL_PH_LOAD && starting && (ns = next_start_us(xl, &load_pace)) < wake)
			wake = ns;
		if (xl->phase == XL_PH_LOAD && starting && stop_at < wake)
			wake = stop_at;
		if (xl->phase == XL_PH_TEARDOWN && !hang_done &&
		    (ns = wake_ms_aligned(pace_due_us(&hang_pace, xl->st.est.bye_sent))) < wake)
			wake = ns;
		if (wake <= xl->now_us)
			wake = xl->now_us;
		xl_io_wait(&xl->io, wake - xl->now_us < 1000000 ? wake - xl->now_us : 1000000);
		tick(xl);
		/* Timers first: what the completions arm is relative to now. */
		wheel_advance(&xl->wheel, xl->now_ms);
		xl_io_reap(&xl->io);
	}
	if (xl->phase < XL_PH_TEARDOWN) { /* aborted before the load ended */
		if (xl->phase < XL_PH_LOAD) {
			c_load0 = c_est;
			t0 = xl->now_us;
		}
		t1 = xl->now_us;
		cpu_sample(xl, &c_load1);
	}
	/* The last responses and BYEs are queued: let them leave. */
	for (uint64_t until = xl_clock_us() + DRAIN_WAIT_MS * 1000; xl->io.inflight &&
								    xl_clock_us() < until;) {
		xl_io_wait(&xl->io, 10000);
		xl_io_reap(&xl->io);
	}
	tick(xl);
	if (o->pid)
		cpu.rss_kb_end = proc_rss_kb(o->pid);
	cpu.load_s = (double)(t1 - t0) / 1e6;
	cpu.total_s = (double)(xl->now_us - t_run) / 1e6;
	cpu.user_s = c_load1.user - c_load0.user;
	cpu.sys_s = c_load1.sys - c_load0.sys;
	if (cpu.have_peer) {
		cpu.have_peer = c_load0.peer_ok && c_load1.peer_ok;
		cpu.peer_user_s = c_load1.peer_user - c_load0.peer_user;
		cpu.peer_sys_s = c_load1.peer_sys - c_load0.peer_sys;
		cpu.peer_total_s = peer_diff(&c_load0, &c_load1);
		cpu.peer_establish_s = peer_diff(&c_start, &c_est);
	}
	if (!o->quiet) {
		prog.settle_left_s = 0;
		xl_report_progress(xl, &prog, cpu.total_s);
		xl_report_progress_end(&prog);
		xl_report_text(xl, stdout, cpu.load_s, &cpu);
	} else {
		xl_report_failures(xl, stderr);
	}
	if (o->json_path) {
		int r = xl_report_json(xl, o->json_path, cpu.load_s, &cpu);

		if (r) {
			fprintf(stderr, "xferload: cannot write %s: %s\n", o->json_path, strerror(-r));
			rc = 1;
		}
	}
	if (xl->st.failed || xl->st.est.failed || xl->st.est.dropped || xl->st.est.teardown_failed)
		rc = 1;
	return rc;
}

int main(int argc, char **argv)
{
	struct xl *xl = calloc(1, sizeof(*xl));
	union xl_sa local[XL_SOCKS];
	socklen_t len[XL_SOCKS];
	struct sigaction sa = { .sa_handler = on_signal };
	const char *what = "";
	int r;

	if (!xl) {
		fprintf(stderr, "xferload: out of memory\n");
		return 1;
	}
	r = xl_opts_parse(argc, argv, &xl->o);
	if (r) {
		free(xl);
		return r == 1 ? 0 : 2;
	}
	for (unsigned i = 0; i < XL_SOCKS; i++) {
		local[i] = xl->o.local[i].sa;
		len[i] = xl->o.local[i].len;
	}
	r = xl_io_init(&xl->io, local, len, xl_calls_on_datagram, xl, &what);
	if (r) {
		fprintf(stderr, "xferload: cannot %s: %s\n", what, strerror(-r));
		xl_io_free(&xl->io);
		free(xl);
		return 1;
	}
	/* Port 0 for the caller: the kernel chose one; Via and Contact say it. */
	for (unsigned i = 0; i < XL_SOCKS; i++)
		xl_addr_set_port(&xl->o.local[i], ntohs(xl->o.local[i].ipv6 ? local[i].in6.sin6_port
									      : local[i].in.sin_port));
	xl->run_id = xl_clock_us() ^ ((uint64_t)getpid() << 20);
	if (xl_calls_init(xl)) {
		fprintf(stderr, "xferload: out of memory for %u calls\n",
			xl->o.established + xl->o.concurrent);
		xl_io_free(&xl->io);
		free(xl);
		return 1;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	r = run(xl);
	xl_calls_free(xl);
	xl_io_free(&xl->io);
	free(xl);
	return r;
}
