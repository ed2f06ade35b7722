/* main.c: the xferd command line: options, configuration, workers, and the
 * signals that drain (SIGTERM, SIGINT) and reload trunks (SIGHUP). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "evlog.h"
#include "log.h"
#include "metrics.h"
#include "worker.h"

#ifndef XFERD_VERSION
#define XFERD_VERSION "unknown"
#endif

static void usage(FILE *out)
{
	fprintf(out,
		"usage: xferd [-c FILE] [--check]\n"
		"       xferd --version | --help\n"
		"\n"
		"SIP call-transfer engine: relays inbound calls to the endpoints of\n"
		"configured trunks and carries out the transfers they ask for with REFER.\n"
		"\n"
		"  -c, --config FILE  read the INI configuration FILE (default: the embedded\n"
		"                     demo configuration on loopback addresses)\n"
		"      --check        check the configuration, print FILE:LINE: reason for\n"
		"                     each problem, exit 0 if it is valid, 1 if not\n"
		"  -V, --version      print the version\n"
		"  -h, --help         print this help\n"
		"\n"
		"Signals: SIGTERM/SIGINT drain (new calls get 503) and exit, SIGHUP reloads\n"
		"the trunks from FILE.\n");
}

struct opts {
	const char *config;
	bool check;
};

/* Returns -1 to go on, or the exit status. */
static int opts_parse(int argc, char **argv, struct opts *o)
{
	static const struct option longs[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'k' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:Vh", longs, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config = optarg;
			break;
		case 'k':
			o->check = true;
			break;
		case 'V':
			printf("xferd %s\n", XFERD_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "xferd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	return -1;
}

static const char *const level_names[] = { "error", "warn", "info", "debug" };

static int config_read(const struct opts *o, struct config **out)
{
	if (o->config)
		return config_load_file(o->config, out, stderr);
	return config_load_string(config_default_text, "(embedded default)", out, stderr);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Running calls finish, bounded by drain_timeout; new INVITEs get 503. */
static void drain(struct engine *e)
{
	uint64_t until = mono_ms() + (uint64_t)e->cfg->engine.drain_timeout * 1000;

	atomic_store(&e->draining, true);
	log_info("draining: %llu calls active", (unsigned long long)engine_calls_active(e));
	while (engine_calls_active(e) && mono_ms() < until) {
		struct timespec ts = { 0, 50 * 1000 * 1000 };

		nanosleep(&ts, NULL);
	}
	if (engine_calls_active(e))
		log_warn("drain timeout: %llu calls still active", (unsigned long long)engine_calls_active(e));
}

/* Every config loaded: calls keep pointing into the one they started
 * with, so all of them stay allocated until exit. */
struct config_list {
	struct config **v;
	size_t n;
};

static int config_keep(struct config_list *l, struct config *c)
{
	struct config **v = realloc(l->v, (l->n + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	v[l->n++] = c;
	l->v = v;
	return 0;
}

static void config_list_free(struct config_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		config_free(l->v[i]);
	free(l->v);
}

/* SIGHUP: a new config for the trunks; the listening side stays as it is. */
static void reload(struct engine *e, const struct opts *o, struct config_list *old)
{
	struct config *c = NULL;

	if (!o->config) {
		log_warn("SIGHUP: no configuration file to reload");
		return;
	}
	if (config_read(o, &c)) {
		log_error("SIGHUP: %s has errors; keeping the running configuration", o->config);
		return;
	}
	if (config_keep(old, c)) {
		config_free(c);
		log_error("SIGHUP: out of memory; keeping the running configuration");
		return;
	}
	for (unsigned i = 0; i < e->nworkers; i++)
		atomic_store(&e->workers[i]->next_cfg, c);
	log_info("SIGHUP: %zu trunks loaded from %s", c->n_trunks, o->config);
}

/* One line with the totals, for operators and the relay benchmark. */
static void log_totals(const struct engine *e)
{
	uint64_t in = 0, out = 0, handoffs = 0, calls = 0, perr = 0, retx = 0;

	for (unsigned i = 0; i < e->nworkers; i++) {
		const struct worker_stats *s = &e->workers[i]->st;

		in += atomic_load(&s->msgs_in);
		out += atomic_load(&s->msgs_out);
		handoffs += atomic_load(&s->handoffs_out);
		calls += atomic_load(&s->calls_total);
		perr += atomic_load(&s->parse_errors);
		retx += atomic_load(&s->retransmissions_in);
	}
	log_info("totals: calls=%llu msgs_in=%llu msgs_out=%llu handoffs=%llu parse_errors=%llu "
		 "retransmissions_in=%llu",
		 (unsigned long long)calls, (unsigned long long)in, (unsigned long long)out,
		 (unsigned long long)handoffs, (unsigned long long)perr, (unsigned long long)retx);
}

static int serve(struct engine *e, const struct opts *o, struct config_list *old)
{
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	/* Workers inherit the mask: only this thread takes the signals. */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (engine_start(e, e->cfg))
		return 1;
	log_info("xferd %s listening on %s (UDP and TCP), %u workers", XFERD_VERSION,
		 e->cfg->engine.listen.text, e->nworkers);
	for (;;) {
		sig = sigwaitinfo(&set, NULL);
		if (sig == SIGHUP)
			reload(e, o, old);
		else if (sig == SIGTERM || sig == SIGINT)
			break;
	}
	drain(e);
	log_totals(e);
	engine_stop(e);
	log_info("stopped");
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct engine e = { 0 };
	struct config *cfg = NULL;
	struct config_list configs = { 0 };
	int r = opts_parse(argc, argv, &o);

	if (r >= 0)
		return r;
	if (o.check) {
		r = config_read(&o, NULL);
		if (!r)
			printf("%s: OK\n", o.config ? o.config : "(embedded default)");
		return r ? 1 : 0;
	}
	if (config_read(&o, &cfg))
		return 1;
	log_level_set(level_names[cfg->engine.log_level]);
	if (evlog_open(cfg) < 0 && cfg->engine.event_log) {
		config_free(cfg);
		return 1;
	}
	if (!o.config)
		fprintf(stderr, "xferd: no -c FILE: running the embedded demo configuration "
				"(SIP on %s, trunk numbers +14155550100 +14155550101)\n",
			cfg->engine.listen.text);
	metrics_heap_tune();
	e.cfg = cfg;
	r = serve(&e, &o, &configs);
	config_list_free(&configs);
	config_free(cfg);
	return r;
}
