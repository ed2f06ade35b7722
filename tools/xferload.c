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

/* Start the calls due by now: rate * elapsed, within --concurrent. */
static void start_due(struct xl *xl, uint64_t t0, uint64_t *base_started, uint64_t *base_us)
{
	const struct xl_opts *o = &xl->o;

	for (;;) {
		uint64_t n = xl->st.started - *base_started;
		uint64_t due_us = *base_us + (uint64_t)((double)n * 1e6 / o->rate);

		if (o->calls && xl->st.started >= o->calls)
			return;
		if (o->duration_s && due_us >= t0 + (uint64_t)(o->duration_s * 1e6))
			return;
		if (due_us > xl->now_us)
			return;
		if (xl->now_us - due_us > CATCH_UP_US) {
			/* Behind by more than the catch-up window: re-base the
			 * schedule on now and count what was skipped. */
			double late_s = (double)(xl->now_us - due_us - CATCH_UP_US) / 1e6;
			uint64_t skip = (uint64_t)(late_s * o->rate);

			xl->st.rate_shortfall += skip;
			*base_started = xl->st.started;
			*base_us = xl->now_us - CATCH_UP_US;
			continue;
		}
		if (!xl_calls_start(xl))
			return;
	}
}

/* When to wake for the next call, or UINT64_MAX: on the millisecond the
 * timer wheel also wakes on, so that the calls due in it start together,
 * one wake-up (of xferload and of the platform) rather than one per call. */
static uint64_t next_start_us(const struct xl *xl, uint64_t base_started, uint64_t base_us)
{
	uint64_t due;

	if (xl->o.calls && xl->st.started >= xl->o.calls)
		return UINT64_MAX;
	if (xl_calls_active(xl) >= xl->o.concurrent)
		return UINT64_MAX; /* a call's end wakes the loop */
	due = base_us + (uint64_t)((double)(xl->st.started - base_started) * 1e6 / xl->o.rate);
	return (due + 999) / 1000 * 1000;
}

static int run(struct xl *xl)
{
	const struct xl_opts *o = &xl->o;
	struct xl_progress prog = { .tty = isatty(2) };
	struct xl_cpu cpu = { 0 };
	double u0, s0, pu0 = 0, ps0 = 0, pt0 = 0, u1, s1, elapsed;
	uint64_t t0, base_started = 0, base_us, next_progress, stop_at = UINT64_MAX;
	bool starting = true;
	int rc = 0;

	self_cpu(&u0, &s0);
	cpu.have_peer = o->pid && proc_cpu(o->pid, &pu0, &ps0, &pt0) >= 0;
	if (o->pid && !cpu.have_peer)
		fprintf(stderr, "xferload: cannot read /proc/%d/stat: CPU of --pid not reported\n",
			o->pid);
	tick(xl);
	t0 = base_us = xl->now_us;
	next_progress = t0 + 1000000;
	if (o->duration_s)
		stop_at = t0 + (uint64_t)(o->duration_s * 1e6);
	wheel_init(&xl->wheel, xl->now_ms);
	for (;;) {
		uint64_t wake, deadline_ms, ns;

		if (starting) {
			start_due(xl, t0, &base_started, &base_us);
			if ((o->calls && xl->st.started >= o->calls) || xl->now_us >= stop_at ||
			    interrupted)
				starting = false;
		}
		if (!starting && !xl_calls_active(xl))
			break;
		if (interrupted > 1) {
			xl_calls_abort(xl);
			break;
		}
		if (!o->quiet && xl->now_us >= next_progress) {
			xl_report_progress(xl, &prog, (double)(xl->now_us - t0) / 1e6);
			next_progress += 1000000;
		}
		/* Sleep until the next timer, call start or progress line. */
		wake = o->quiet ? UINT64_MAX : next_progress;
		deadline_ms = wheel_next_deadline(&xl->wheel);
		if (deadline_ms != UINT64_MAX && deadline_ms * 1000 < wake)
			wake = deadline_ms * 1000;
		if (starting && (ns = next_start_us(xl, base_started, base_us)) < wake)
			wake = ns;
		if (starting && stop_at < wake)
			wake = stop_at;
		if (wake <= xl->now_us)
			wake = xl->now_us;
		xl_io_wait(&xl->io, wake - xl->now_us < 1000000 ? wake - xl->now_us : 1000000);
		tick(xl);
		/* Timers first: what the completions arm is relative to now. */
		wheel_advance(&xl->wheel, xl->now_ms);
		xl_io_reap(&xl->io);
	}
	/* The last responses and BYEs are queued: let them leave. */
	for (uint64_t until = xl_clock_us() + DRAIN_WAIT_MS * 1000; xl->io.inflight &&
								    xl_clock_us() < until;) {
		xl_io_wait(&xl->io, 10000);
		xl_io_reap(&xl->io);
	}
	tick(xl);
	elapsed = (double)(xl->now_us - t0) / 1e6;
	self_cpu(&u1, &s1);
	cpu.user_s = u1 - u0;
	cpu.sys_s = s1 - s0;
	if (cpu.have_peer) {
		double pu1, ps1, pt1;

		cpu.have_peer = proc_cpu(o->pid, &pu1, &ps1, &pt1) >= 0;
		cpu.peer_user_s = pu1 - pu0;
		cpu.peer_sys_s = ps1 - ps0;
		cpu.peer_total_s = pt1 - pt0;
	}
	if (!o->quiet) {
		xl_report_progress(xl, &prog, elapsed);
		xl_report_progress_end(&prog);
		xl_report_text(xl, stdout, elapsed, &cpu);
	} else {
		xl_report_failures(xl, stderr);
	}
	if (o->json_path) {
		int r = xl_report_json(xl, o->json_path, elapsed, &cpu);

		if (r) {
			fprintf(stderr, "xferload: cannot write %s: %s\n", o->json_path, strerror(-r));
			rc = 1;
		}
	}
	if (xl->st.failed)
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
		fprintf(stderr, "xferload: out of memory for %u calls\n", xl->o.concurrent);
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
