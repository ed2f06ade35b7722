/* report.h: what xferload prints: the progress line once per second on
 * stderr, the text summary, the JSON summary (jansson). */
#ifndef XFERLOAD_REPORT_H
#define XFERLOAD_REPORT_H

#include <stdio.h>

#include "xl.h"

/* CPU seconds used during the run, by xferload and by --pid. */
struct xl_cpu {
	double user_s, sys_s;
	bool have_peer;
	double peer_user_s, peer_sys_s; /* clock ticks: coarse */
	double peer_total_s;            /* its CPU clock: exact */
};

/* Rates over the last interval come from the previous call's counts. */
struct xl_progress {
	double last_s;
	uint64_t last_started, last_transfers;
	bool tty, dirty;
};

void xl_report_progress(struct xl *xl, struct xl_progress *p, double elapsed_s);
/* End the progress line (a newline after \r updates). */
void xl_report_progress_end(struct xl_progress *p);

void xl_report_text(const struct xl *xl, FILE *f, double elapsed_s, const struct xl_cpu *cpu);

/* The failures, one line each, on f: printed even with --quiet. */
void xl_report_failures(const struct xl *xl, FILE *f);

/* Write the JSON summary to path ("-": stdout). Returns 0 or -errno. */
int xl_report_json(const struct xl *xl, const char *path, double elapsed_s,
		   const struct xl_cpu *cpu);

#endif
