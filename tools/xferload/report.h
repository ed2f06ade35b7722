/* report.h: what xferload prints: the progress line once per second on
 * stderr, the text summary, the JSON summary (jansson). */
#ifndef XFERLOAD_REPORT_H
#define XFERLOAD_REPORT_H

#include <stdio.h>

#include "xl.h"

/* CPU seconds used during the load (its first call started to its last
 * call finished), by xferload and by --pid; and what --pid used and held
 * around it, for the established calls. */
struct xl_cpu {
	double user_s, sys_s;
	bool have_peer;
	double peer_user_s, peer_sys_s; /* clock ticks: coarse */
	double peer_total_s;            /* its CPU clock: exact */
	double peer_establish_s;        /* its CPU clock while the established calls set up */
	long rss_kb_start;              /* --pid's VmRSS at the start; -1 unknown */
	long rss_kb_up;                 /* when the last established call came up (or failed),
					 * before --settle */
	long rss_kb_loaded;             /* just before the load (established up, settled) */
	long rss_kb_end;                /* after the established calls were hung up */
	double load_s;                  /* the load's duration */
	double total_s;                 /* the whole run */
};

/* Rates over the last interval come from the previous call's counts. */
struct xl_progress {
	double last_s;
	uint64_t last_started, last_transfers, last_est_started, last_bye_sent;
	double settle_left_s;           /* set by the caller during --settle */
	bool tty, dirty;
};

void xl_report_progress(struct xl *xl, struct xl_progress *p, double elapsed_s);
/* End the progress line (a newline after \r updates). */
void xl_report_progress_end(struct xl_progress *p);

/* The text summary; elapsed_s: the load's duration (cpu->load_s). */
void xl_report_text(const struct xl *xl, FILE *f, double elapsed_s, const struct xl_cpu *cpu);

/* The failures, one line each, on f (the load's, then the established
 * calls'): printed even with --quiet. */
void xl_report_failures(const struct xl *xl, FILE *f);

/* Write the JSON summary to path ("-": stdout); elapsed_s as for the text.
 * Returns 0 or -errno. */
int xl_report_json(const struct xl *xl, const char *path, double elapsed_s,
		   const struct xl_cpu *cpu);

#endif
