/* xl.h: xferload's shared state: options, the three peers, scenarios, counters.
 * One thread owns all of it (the DPDK per-core layout): no locks, no atomics. */
#ifndef XFERLOAD_XL_H
#define XFERLOAD_XL_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "hist.h"
#include "io.h"
#include "wheel.h"

/* The three peers xferload plays, one UDP socket each (same index). */
enum xl_role { XL_CALLER, XL_ENDPOINT, XL_TARGET, XL__ROLES };

/* What the target and the endpoint do in one call (--mix); with
 * --no-subscription the same, without the NOTIFYs. */
enum xl_scenario {
	XL_SUCCESS,  /* target answers: NOTIFY 200, caller re-INVITEd, endpoint hung up */
	XL_BUSY,     /* target answers 486: NOTIFY 486, the endpoint hangs up */
	XL_NOANSWER, /* target rings until the platform gives up: CANCEL, NOTIFY 408 */
	XL_EARLYBYE, /* the endpoint hangs up while the target rings: caller dropped, C cancelled */
	XL_BADREFER, /* Refer-To user not E.164: REFER refused with a 4xx */
	XL__SCENARIOS
};

/* The latencies the report gives percentiles of (microseconds). */
enum xl_lat {
	XL_LAT_INVITE_200, /* caller's INVITE sent → its 200 received */
	XL_LAT_REFER_202,  /* endpoint's REFER sent → 202 received */
	XL_LAT_NOTIFY_100, /* REFER sent → NOTIFY "SIP/2.0 100" received */
	XL_LAT_NOTIFY_200, /* REFER sent → NOTIFY "SIP/2.0 200" received */
	XL__LATS
};

/* A local or remote UDP address, and how URIs write it. */
struct xl_addr {
	union xl_sa sa;
	socklen_t len;
	uint16_t port;
	bool ipv6;
	char ip[INET6_ADDRSTRLEN]; /* no brackets: SDP's c= line */
	char host[INET6_ADDRSTRLEN + 4]; /* brackets for IPv6: URIs */
	char hostport[INET6_ADDRSTRLEN + 12];
};

struct xl_opts {
	struct xl_addr target;            /* the platform */
	struct xl_addr local[XL__ROLES];  /* caller, endpoint (trunk URI), gateway */
	char number[64];                  /* the dialled platform number */
	char refer_domain[128];
	char refer_number[32];
	double rate;                      /* calls started per second */
	uint32_t concurrent;              /* calls in flight at most */
	uint64_t calls;                   /* 0: --duration decides */
	double duration_s;                /* 0: --calls decides */
	uint32_t hold_ms, refer_after_ms, ring_ms, t1_ms;
	uint32_t call_timeout_ms;
	uint32_t mix[XL__SCENARIOS];
	const char *json_path;            /* NULL: none; "-": stdout */
	int pid;                          /* another process whose CPU time to report; 0 none */
	uint32_t loss_ppm;                /* --loss: datagrams dropped, per million */
	uint32_t established;             /* idle calls held up during the load */
	double established_rate;          /* their INVITEs, and later BYEs, per second */
	double settle_s;                  /* wait between them being up and the load */
	uint32_t provisionals;            /* 18x the target sends before its final */
	bool no_subscription;             /* REFER with Refer-Sub: false (RFC 4488): no NOTIFYs */
	bool quiet;
};

/* Call slots: established plus concurrent at most, so that the slot fits
 * the 6 digits the caller's number gives it. */
#define XL_SLOTS_MAX 1000000u

#define XL_REASONS_MAX 64
#define XL_CODES 700

struct xl_reason {
	char text[96];     /* "scenario: what went wrong" */
	char call_id[64];  /* the caller's Call-ID of the first call it happened to */
	uint64_t count;
};

/* The run's phases, in order (--established, --settle, the load). */
enum xl_phase { XL_PH_ESTABLISH, XL_PH_SETTLE, XL_PH_LOAD, XL_PH_TEARDOWN, XL_PH_DONE };

/* The established calls (--established): counted apart from the load's
 * calls so that neither the scenario counts nor the latencies see them. */
struct xl_est_stats {
	uint64_t started;                 /* INVITEs sent */
	uint64_t up;                      /* caller's 200 ACKed and the endpoint's 200 ACKed */
	uint64_t failed;                  /* ended before they were up */
	uint64_t dropped;                 /* up, then ended by the platform before our BYE */
	uint64_t hung_up;                 /* our BYE answered, the endpoint's leg ended */
	uint64_t teardown_failed;         /* hung up, but not within 64*T1 */
	uint64_t bye_sent;
	uint64_t first_start_us, setup_end_us;  /* setup_s: first INVITE to last up or failed */
	uint64_t first_bye_us, teardown_end_us;
	struct xl_hist invite_200;        /* caller's INVITE → both legs up */
	unsigned nreasons;
	struct xl_reason reasons[XL_REASONS_MAX];
};

/* Everything the report shows. */
struct xl_stats {
	uint64_t started, finished, ok, failed;
	uint64_t first_start_us, last_start_us; /* the start window: the achieved rate */
	uint64_t scen_started[XL__SCENARIOS], scen_ok[XL__SCENARIOS], scen_failed[XL__SCENARIOS];
	uint64_t transfers;               /* final NOTIFY 200 received; with --no-subscription,
					   * the target's 200 ACKed by the platform */
	uint64_t refer_codes[XL_CODES];   /* final responses to REFER */
	uint64_t notify_finals[XL_CODES]; /* final sipfrag status of each subscription */
	uint64_t notifies;                /* NOTIFYs received by the endpoint (not retransmissions) */
	uint64_t notify_status[XL_CODES]; /* the same, by sipfrag status (0: unreadable) */
	uint64_t msgs_in, msgs_out;
	uint64_t rtx_out;                 /* our retransmissions (timer fired) */
	uint64_t rtx_in;                  /* platform retransmissions absorbed */
	uint64_t stray;                   /* for no live call (late, or not ours) */
	uint64_t unmatched;               /* new INVITEs whose caller ID names no call */
	uint64_t parse_errors, build_errors, unheld;
	uint64_t lost_in, lost_out;       /* dropped by --loss */
	uint64_t rate_shortfall;          /* starts dropped: --concurrent or CPU held the rate back */
	uint64_t transitions[XL__ROLES][8];
	struct xl_hist lat[XL__LATS];
	/* The lat[] samples whose arrival time is the kernel's receive time of
	 * the datagram; and those that fell back on the loop's wake-up time. */
	uint64_t lat_kernel_rx, lat_loop;
	unsigned nreasons;
	struct xl_reason reasons[XL_REASONS_MAX];
	struct xl_est_stats est;
};

struct xl_calls;

struct xl {
	struct xl_opts o;
	struct xl_io io;
	struct wheel wheel;
	uint64_t now_us, now_ms; /* read once per loop iteration */
	uint64_t run_id;
	struct xl_calls *calls;
	enum xl_phase phase;
	struct xl_stats st;
};

uint64_t xl_clock_us(void);

#endif
