/* opts.c: parsing and checking xferload's options (getopt_long), and --help,
 * which documents each one; SPEC.md "The transfer" for what they drive. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "opts.h"

static const char *const scenario_names[XL__SCENARIOS] = {
	[XL_SUCCESS] = "success", [XL_BUSY] = "busy", [XL_NOANSWER] = "noanswer",
	[XL_EARLYBYE] = "earlybye", [XL_BADREFER] = "badrefer",
};

const char *xl_scenario_name(enum xl_scenario s)
{
	return scenario_names[s];
}

void xl_usage(FILE *f)
{
	fputs(
"Usage: xferload [OPTION]...\n"
"Load generator for SIP REFER transfers: plays the caller, the customer's\n"
"endpoint (a trunk's primary URI) and the transfer target (the PSTN gateway)\n"
"against a REFER-capable platform such as xferd, and reports outcomes and\n"
"latency percentiles.\n"
"\n"
"Each call: the caller INVITEs --number at --target; the endpoint answers the\n"
"platform's INVITE, waits --refer-after, and REFERs it to\n"
"<sip:--refer-number@--refer-to-domain>; the gateway receives the target INVITE\n"
"and answers it as the call's scenario says; NOTIFYs are answered and their\n"
"sipfrag statuses recorded. Calls are told apart by the caller's number, so\n"
"the platform must keep it as caller ID on both of its outgoing legs.\n"
"\n"
"Addresses (IP literals: A.B.C.D:PORT or [V6]:PORT):\n"
"  --target ADDR          the platform's SIP address (default 127.0.0.1:5060)\n"
"  --caller ADDR          the caller's local address; port 0 picks one\n"
"                         (default 127.0.0.1:0)\n"
"  --endpoint ADDR        the endpoint's local address: the trunk URI the\n"
"                         platform calls (default 127.0.0.1:5080)\n"
"  --gateway ADDR         the target's local address: where the platform\n"
"                         sends transfers (default 127.0.0.1:5090)\n"
"Numbers:\n"
"  --number NUM           the platform number the caller dials\n"
"                         (default +14155550100)\n"
"  --refer-to-domain DOM  host of the Refer-To URI: the trunk's domain\n"
"                         (default demo.zt.example.net)\n"
"  --refer-number E164    user of the Refer-To URI: the transfer target\n"
"                         (default +14155551234)\n"
"Load:\n"
"  --rate N               calls started per second, decimals allowed\n"
"                         (default 100)\n"
"  --concurrent N         calls in flight at most; a start waits for a free\n"
"                         slot (default 10000)\n"
"  --calls N              stop after N calls (default 1000 without --duration);\n"
"                         0 (with --established only): no load, the\n"
"                         established calls are set up, settle, hung up\n"
"  --duration S           start calls for S seconds (decimals allowed), then\n"
"                         wait for those in flight; excludes --calls\n"
"  --mix SPEC             scenario weights, e.g.\n"
"                         success=90,busy=5,noanswer=3,earlybye=1,badrefer=1\n"
"                         (default success=100). Calls follow the weights\n"
"                         exactly (smooth weighted round robin):\n"
"                           success   target answers 180, 200: NOTIFY 100, 180,\n"
"                                     200; the caller is re-INVITEd, talks\n"
"                                     --hold, hangs up; the target gets BYE\n"
"                           busy      target answers 180, 486: final NOTIFY\n"
"                                     486; the endpoint hangs up after --hold\n"
"                           noanswer  target rings (its --provisionals over\n"
"                                     --ring) until the platform gives up\n"
"                                     (xferd: transfer_timeout): CANCEL, final\n"
"                                     NOTIFY 408; the endpoint hangs up\n"
"                           earlybye  the endpoint sends BYE as soon as the\n"
"                                     target rings: the caller gets BYE, the\n"
"                                     target CANCEL\n"
"                           badrefer  Refer-To user is not E.164: REFER gets a\n"
"                                     4xx; the endpoint hangs up after --hold\n"
"  --provisionals K       the target's provisional responses before its\n"
"                         final one, 1 to 100 (default 1): 180 Ringing, then\n"
"                         183 Session Progress (no SDP); the first at once,\n"
"                         the others spread evenly over --ring (back to back\n"
"                         if --ring is 0), the final after --ring. The\n"
"                         platform NOTIFYs each: success and busy calls must\n"
"                         see NOTIFY 100, K NOTIFYs 18x (the first 180), then\n"
"                         the final, in CSeq order (the count is not checked\n"
"                         with --loss; nor with --no-subscription, which has\n"
"                         no NOTIFYs); earlybye's target sends 180 only\n"
"  --no-subscription      the REFER carries Refer-Sub: false (RFC 4488): the\n"
"                         platform must answer 202 with Refer-Sub: false and\n"
"                         send no NOTIFY (one that comes anyway is answered\n"
"                         200 and fails its call). The scenarios are judged\n"
"                         without NOTIFYs:\n"
"                           success   the caller is re-INVITEd with the\n"
"                                     target's offer, the target's 200 is\n"
"                                     ACKed (counted as a transfer), the\n"
"                                     platform sends BYE to the endpoint\n"
"                           busy      the target's 486 is ACKed; the endpoint,\n"
"                                     still up, hangs up after --hold\n"
"                           noanswer  the target gets CANCEL; the endpoint,\n"
"                                     still up, hangs up after --hold\n"
"                           earlybye, badrefer  as without it\n"
"                         REFER->NOTIFY latencies get no samples (default:\n"
"                         off, the REFER asks for the subscription)\n"
"Established calls (idle calls the platform holds during the load):\n"
"  --established N        before the load, set up N ordinary calls (caller\n"
"                         INVITE, the endpoint answers, ACKs) that are never\n"
"                         REFERred; they stay up, idle, through the load,\n"
"                         and when the load's calls have all finished the\n"
"                         callers hang them up (BYE) and xferload waits up to\n"
"                         64*T1 for the 200s. The load starts once all N are\n"
"                         up or failed. They are reported apart (not in the\n"
"                         scenario counts nor the latencies); --concurrent\n"
"                         does not count them. N + --concurrent <= 1000000\n"
"                         (default 0)\n"
"  --established-rate R   their INVITEs, and their BYEs, per second, decimals\n"
"                         allowed (default 5000)\n"
"  --settle S             once they are up, wait S seconds (decimals\n"
"                         allowed) before the load: long enough (xferd:\n"
"                         64*T1) and the platform's INVITE transactions have\n"
"                         expired, its memory holds the calls only (default 0)\n"
"Timing (milliseconds):\n"
"  --hold MS              talk time after the transfer (caller hangs up), or\n"
"                         after a failed one (endpoint hangs up) (default 500)\n"
"  --refer-after MS       endpoint's delay from its ACK to REFER (default 100)\n"
"  --ring MS              target rings this long before 200 or 486 (default 0)\n"
"  --t1 MS                RFC 3261 T1: retransmissions of INVITE, REFER, BYE\n"
"                         and of our INVITE responses start at T1 and double\n"
"                         (non-INVITE up to 4 s); give up after 64*T1 with\n"
"                         failure \"timeout\" (default 500)\n"
"  --call-timeout S       a call not finished after S seconds fails\n"
"                         (default 60 + refer-after + ring + hold)\n"
"Testing:\n"
"  --loss PCT             drop PCT percent of the datagrams xferload sends\n"
"                         and receives, at random (decimals allowed, up to\n"
"                         50): exercises retransmissions on both sides and\n"
"                         their absorption (default 0)\n"
"Output:\n"
"  --json FILE            write the summary as JSON to FILE (\"-\": stdout)\n"
"  --pid PID              also report the CPU time process PID (the platform)\n"
"                         used during the load (first call started to last\n"
"                         call finished), per call; and apart, while the\n"
"                         established calls were set up. Its resident memory\n"
"                         (VmRSS) at the start, when the last established\n"
"                         call is up (before --settle), when the load starts\n"
"                         (after --settle) and at the end, and the growth per\n"
"                         established call to either of the middle two\n"
"  --quiet                no progress line and no text summary (failures and\n"
"                         errors are still printed)\n"
"  -h, --help             this help\n"
"\n"
"While running, a progress line on stderr once per second: the established\n"
"calls set up (or hung up) so far, then calls started, finished, failed, in\n"
"flight, and the call and transfer rates of the last second. At the end:\n"
"counts per scenario and outcome, failures with their reasons, latency\n"
"percentiles (p50, p90, p99, p99.9, max) of INVITE->200, REFER->202,\n"
"REFER->NOTIFY 100 and REFER->NOTIFY 200, NOTIFYs received (by sipfrag\n"
"status), CPU time per call; the established calls (up, failed, dropped by\n"
"the platform, hung up) and the platform's memory per established call.\n"
"Latencies run from the time read just before the io_uring submit that sends\n"
"the request to the kernel's receive time of the answer (SO_TIMESTAMPNS), so\n"
"that xferload's own wake-up is not in them; an answer without a timestamp\n"
"takes the time xferload read when it woke, and is counted (latency_clock).\n"
"SIGINT stops starting calls (a second one abandons those in flight).\n"
"\n"
"Exit status: 0 if every call went as its scenario expects, 1 if any did not\n"
"(or xferload could not run), 2 for bad options.\n", f);
}

static int bad(const char *opt, const char *val, const char *why)
{
	fprintf(stderr, "xferload: --%s '%s': %s\nTry 'xferload --help'.\n", opt, val, why);
	return 2;
}

void xl_addr_set_port(struct xl_addr *a, uint16_t port)
{
	a->port = port;
	if (a->ipv6)
		a->sa.in6.sin6_port = htons(port);
	else
		a->sa.in.sin_port = htons(port);
	snprintf(a->hostport, sizeof(a->hostport), "%s:%u", a->host, port);
}

int xl_addr_parse(const char *text, struct xl_addr *a)
{
	char host[INET6_ADDRSTRLEN];
	const char *colon, *h = text;
	size_t hn;
	char *end;
	unsigned long port;

	memset(a, 0, sizeof(*a));
	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		h = text + 1;
		hn = (size_t)(close - h);
		colon = close + 1;
		a->ipv6 = true;
	} else {
		colon = strrchr(text, ':');
		if (!colon)
			return -EINVAL;
		hn = (size_t)(colon - text);
	}
	if (hn == 0 || hn >= sizeof(host))
		return -EINVAL;
	memcpy(host, h, hn);
	host[hn] = 0;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (!colon[1] || *end || errno || port > 65535 || !isdigit((unsigned char)colon[1]))
		return -EINVAL;
	if (a->ipv6) {
		if (inet_pton(AF_INET6, host, &a->sa.in6.sin6_addr) != 1)
			return -EINVAL;
		a->sa.in6.sin6_family = AF_INET6;
		a->len = sizeof(a->sa.in6);
		snprintf(a->host, sizeof(a->host), "[%s]", host);
	} else {
		if (inet_pton(AF_INET, host, &a->sa.in.sin_addr) != 1)
			return -EINVAL;
		a->sa.in.sin_family = AF_INET;
		a->len = sizeof(a->sa.in);
		snprintf(a->host, sizeof(a->host), "%s", host);
	}
	snprintf(a->ip, sizeof(a->ip), "%s", host);
	xl_addr_set_port(a, (uint16_t)port);
	return 0;
}

static bool addr_wildcard(const struct xl_addr *a)
{
	static const struct in6_addr any6 = IN6ADDR_ANY_INIT;

	return a->ipv6 ? !memcmp(&a->sa.in6.sin6_addr, &any6, sizeof(any6))
		       : a->sa.in.sin_addr.s_addr == htonl(INADDR_ANY);
}

/* Decimal integer in [lo, hi], nothing else. */
static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end || errno || v < lo || v > hi)
		return -ERANGE;
	*out = v;
	return 0;
}

/* A decimal up to hi: > 0, or >= 0 when zero_ok. */
static int parse_double(const char *s, bool zero_ok, double hi, double *out)
{
	char *end;
	double v;

	if (!isdigit((unsigned char)s[0]) && s[0] != '.')
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (*end || errno || !isfinite(v) || v < 0 || (v == 0 && !zero_ok) || v > hi)
		return -ERANGE;
	*out = v;
	return 0;
}

/* "success=90,busy=5": names from scenario_names, integer weights. */
static int parse_mix(const char *spec, uint32_t mix[XL__SCENARIOS], const char **why)
{
	char buf[256], *save = NULL, *item;
	bool seen[XL__SCENARIOS] = { 0 };
	uint64_t total = 0;

	if (strlen(spec) >= sizeof(buf)) {
		*why = "too long";
		return -EINVAL;
	}
	strcpy(buf, spec);
	memset(mix, 0, sizeof(uint32_t) * XL__SCENARIOS);
	for (item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');
		unsigned s;
		uint64_t w;

		if (!eq) {
			*why = "each item is NAME=WEIGHT";
			return -EINVAL;
		}
		*eq = 0;
		for (s = 0; s < XL__SCENARIOS && strcmp(item, scenario_names[s]); s++)
			;
		if (s == XL__SCENARIOS) {
			*why = "scenarios are success, busy, noanswer, earlybye, badrefer";
			return -EINVAL;
		}
		if (seen[s]) {
			*why = "a scenario is named twice";
			return -EINVAL;
		}
		if (parse_u64(eq + 1, 0, 1000000, &w)) {
			*why = "a weight is an integer from 0 to 1000000";
			return -EINVAL;
		}
		seen[s] = true;
		mix[s] = (uint32_t)w;
		total += w;
	}
	if (!total) {
		*why = "the weights add up to 0";
		return -EINVAL;
	}
	return 0;
}

/* A SIP user part we write verbatim: unreserved characters and '+'. */
static bool user_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (!n || n >= max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("+-_.!~*'()&=$,;?/", s[i]))
			return false;
	return true;
}

static bool e164_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 8 || n > 16 || s[0] != '+' || s[1] == '0')
		return false;
	for (size_t i = 1; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

static bool domain_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (!n || n >= max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '.')
			return false;
	return true;
}

enum {
	O_TARGET = 256, O_CALLER, O_ENDPOINT, O_GATEWAY, O_NUMBER, O_DOMAIN, O_REFER_NUMBER,
	O_RATE, O_CONCURRENT, O_CALLS, O_DURATION, O_HOLD, O_REFER_AFTER, O_RING, O_T1,
	O_CALL_TIMEOUT, O_MIX, O_JSON, O_QUIET, O_PID, O_LOSS, O_ESTABLISHED, O_ESTABLISHED_RATE,
	O_SETTLE, O_PROVISIONALS, O_NO_SUBSCRIPTION,
};

static void defaults(struct xl_opts *o)
{
	memset(o, 0, sizeof(*o));
	xl_addr_parse("127.0.0.1:5060", &o->target);
	xl_addr_parse("127.0.0.1:0", &o->local[XL_CALLER]);
	xl_addr_parse("127.0.0.1:5080", &o->local[XL_ENDPOINT]);
	xl_addr_parse("127.0.0.1:5090", &o->local[XL_TARGET]);
	strcpy(o->number, "+14155550100");
	strcpy(o->refer_domain, "demo.zt.example.net");
	strcpy(o->refer_number, "+14155551234");
	o->rate = 100;
	o->concurrent = 10000;
	o->hold_ms = 500;
	o->refer_after_ms = 100;
	o->t1_ms = 500;
	o->mix[XL_SUCCESS] = 100;
	o->established_rate = 5000;
	o->provisionals = 1;
}

int xl_opts_parse(int argc, char **argv, struct xl_opts *o)
{
	static const struct option longs[] = {
		{ "target", required_argument, NULL, O_TARGET },
		{ "caller", required_argument, NULL, O_CALLER },
		{ "endpoint", required_argument, NULL, O_ENDPOINT },
		{ "gateway", required_argument, NULL, O_GATEWAY },
		{ "number", required_argument, NULL, O_NUMBER },
		{ "refer-to-domain", required_argument, NULL, O_DOMAIN },
		{ "refer-number", required_argument, NULL, O_REFER_NUMBER },
		{ "rate", required_argument, NULL, O_RATE },
		{ "concurrent", required_argument, NULL, O_CONCURRENT },
		{ "calls", required_argument, NULL, O_CALLS },
		{ "duration", required_argument, NULL, O_DURATION },
		{ "hold", required_argument, NULL, O_HOLD },
		{ "refer-after", required_argument, NULL, O_REFER_AFTER },
		{ "ring", required_argument, NULL, O_RING },
		{ "t1", required_argument, NULL, O_T1 },
		{ "call-timeout", required_argument, NULL, O_CALL_TIMEOUT },
		{ "mix", required_argument, NULL, O_MIX },
		{ "json", required_argument, NULL, O_JSON },
		{ "pid", required_argument, NULL, O_PID },
		{ "loss", required_argument, NULL, O_LOSS },
		{ "established", required_argument, NULL, O_ESTABLISHED },
		{ "established-rate", required_argument, NULL, O_ESTABLISHED_RATE },
		{ "settle", required_argument, NULL, O_SETTLE },
		{ "provisionals", required_argument, NULL, O_PROVISIONALS },
		{ "no-subscription", no_argument, NULL, O_NO_SUBSCRIPTION },
		{ "quiet", no_argument, NULL, O_QUIET },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	uint64_t v, timeout_s = 0;
	const char *why, *calls_arg = NULL, *est_arg = NULL;
	int c;

	defaults(o);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longs, NULL)) != -1) {
		const char *name = optind > 1 && argv[optind - 1][0] == '-' ? argv[optind - 1] : "";

		switch (c) {
		case O_TARGET:
		case O_CALLER:
		case O_ENDPOINT:
		case O_GATEWAY: {
			static const char *const n[] = { "target", "caller", "endpoint", "gateway" };
			struct xl_addr *a = c == O_TARGET ? &o->target : &o->local[c - O_CALLER];

			if (xl_addr_parse(optarg, a))
				return bad(n[c - O_TARGET], optarg,
					   "expected A.B.C.D:PORT or [IPV6]:PORT (IP literals only)");
			if (addr_wildcard(a))
				return bad(n[c - O_TARGET], optarg,
					   "a wildcard address cannot be written into Via and Contact; "
					   "give the address the other side reaches");
			if (a->port == 0 && c != O_CALLER)
				return bad(n[c - O_TARGET], optarg,
					   "port 0 is only allowed for --caller");
			break;
		}
		case O_NUMBER:
			if (!user_ok(optarg, sizeof(o->number)))
				return bad("number", optarg, "not a SIP user part (digits, '+', ...)");
			strcpy(o->number, optarg);
			break;
		case O_DOMAIN:
			if (!domain_ok(optarg, sizeof(o->refer_domain)))
				return bad("refer-to-domain", optarg, "not a host name");
			strcpy(o->refer_domain, optarg);
			break;
		case O_REFER_NUMBER:
			if (!e164_ok(optarg))
				return bad("refer-number", optarg,
					   "not E.164 ('+', then 7 to 15 digits, the first not 0)");
			strcpy(o->refer_number, optarg);
			break;
		case O_RATE:
			if (parse_double(optarg, false, 1e6, &o->rate))
				return bad("rate", optarg,
					   "expected a number of calls per second, > 0 and <= 1000000");
			break;
		case O_CONCURRENT:
			if (parse_u64(optarg, 1, 1000000, &v))
				return bad("concurrent", optarg,
					   "expected an integer from 1 to 1000000");
			o->concurrent = (uint32_t)v;
			break;
		case O_CALLS:
			if (parse_u64(optarg, 0, 1000000000000ull, &o->calls))
				return bad("calls", optarg,
					   "expected an integer >= 1 (0 only with --established)");
			calls_arg = optarg;
			break;
		case O_DURATION:
			if (parse_double(optarg, false, 86400 * 365, &o->duration_s))
				return bad("duration", optarg, "expected seconds, > 0");
			break;
		case O_HOLD:
		case O_REFER_AFTER:
		case O_RING: {
			static const char *const n[] = { "hold", "refer-after", "ring" };
			uint32_t *dst = c == O_HOLD ? &o->hold_ms : c == O_RING ? &o->ring_ms
										 : &o->refer_after_ms;

			if (parse_u64(optarg, 0, 3600000, &v))
				return bad(n[c - O_HOLD], optarg,
					   "expected milliseconds from 0 to 3600000");
			*dst = (uint32_t)v;
			break;
		}
		case O_T1:
			if (parse_u64(optarg, 1, 10000, &v))
				return bad("t1", optarg, "expected milliseconds from 1 to 10000");
			o->t1_ms = (uint32_t)v;
			break;
		case O_CALL_TIMEOUT:
			if (parse_u64(optarg, 1, 86400, &timeout_s))
				return bad("call-timeout", optarg, "expected seconds from 1 to 86400");
			break;
		case O_MIX:
			if (parse_mix(optarg, o->mix, &why))
				return bad("mix", optarg, why);
			break;
		case O_JSON:
			if (!optarg[0])
				return bad("json", optarg, "expected a file name, or - for stdout");
			o->json_path = optarg;
			break;
		case O_PID:
			if (parse_u64(optarg, 1, 0x7fffffff, &v))
				return bad("pid", optarg, "expected a process id");
			o->pid = (int)v;
			break;
		case O_LOSS: {
			double pct;

			if (!strcmp(optarg, "0")) {
				o->loss_ppm = 0;
				break;
			}
			if (parse_double(optarg, false, 50, &pct))
				return bad("loss", optarg, "expected a percentage from 0 to 50");
			o->loss_ppm = (uint32_t)(pct * 10000 + 0.5);
			break;
		}
		case O_ESTABLISHED:
			if (parse_u64(optarg, 0, XL_SLOTS_MAX - 1, &v))
				return bad("established", optarg,
					   "expected an integer from 0 to 999999");
			o->established = (uint32_t)v;
			est_arg = optarg;
			break;
		case O_ESTABLISHED_RATE:
			if (parse_double(optarg, false, 1e6, &o->established_rate))
				return bad("established-rate", optarg,
					   "expected a number of calls per second, > 0 and <= 1000000");
			break;
		case O_SETTLE:
			if (parse_double(optarg, true, 86400, &o->settle_s))
				return bad("settle", optarg, "expected seconds from 0 to 86400");
			break;
		case O_PROVISIONALS:
			if (parse_u64(optarg, 1, 100, &v))
				return bad("provisionals", optarg, "expected an integer from 1 to 100");
			o->provisionals = (uint32_t)v;
			break;
		case O_NO_SUBSCRIPTION:
			o->no_subscription = true;
			break;
		case O_QUIET:
			o->quiet = true;
			break;
		case 'h':
			xl_usage(stdout);
			return 1;
		case ':':
			fprintf(stderr, "xferload: %s needs a value\nTry 'xferload --help'.\n", name);
			return 2;
		default: {
			/* "--switch=VALUE": getopt_long returns '?' with optopt set
			 * to the switch (an unknown option leaves it 0). */
			const char *eq = strchr(name, '=');

			for (const struct option *l = longs; eq && name[1] == '-' && l->name; l++)
				if (l->has_arg == no_argument && l->val == optopt)
					return bad(l->name, eq + 1, "expected no value (a switch)");
			fprintf(stderr, "xferload: unknown option '%s'\nTry 'xferload --help'.\n",
				name);
			return 2;
		}
		}
	}
	if (optind < argc) {
		fprintf(stderr, "xferload: unexpected argument '%s'\nTry 'xferload --help'.\n",
			argv[optind]);
		return 2;
	}
	if (calls_arg && o->duration_s) {
		fprintf(stderr, "xferload: --calls and --duration exclude each other\n"
				"Try 'xferload --help'.\n");
		return 2;
	}
	/* --calls 0: only the established calls; without them, nothing to do. */
	if (calls_arg && !o->calls && !o->established)
		return bad("calls", calls_arg,
			   "expected an integer >= 1 (0 only with --established)");
	if ((uint64_t)o->established + o->concurrent > XL_SLOTS_MAX) {
		char why_buf[96];

		snprintf(why_buf, sizeof(why_buf),
			 "expected at most %u with --concurrent %u (%u call slots in all)",
			 XL_SLOTS_MAX - o->concurrent, o->concurrent, XL_SLOTS_MAX);
		return bad("established", est_arg, why_buf);
	}
	if (!calls_arg && !o->duration_s)
		o->calls = 1000;
	o->call_timeout_ms = timeout_s ? (uint32_t)(timeout_s * 1000)
				       : 60000 + o->refer_after_ms + o->ring_ms + o->hold_ms;
	return 0;
}
