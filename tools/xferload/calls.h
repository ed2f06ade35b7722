/* calls.h: xferload's calls: the caller, endpoint and target state machines
 * of each call, keyed by slot and generation. RFC 3261, RFC 3515, SPEC.md. */
#ifndef XFERLOAD_CALLS_H
#define XFERLOAD_CALLS_H

#include "xl.h"

/* Preallocate --established + --concurrent call slots and the fixed text
 * of every message. Returns 0 or -ENOMEM. */
int xl_calls_init(struct xl *xl);
void xl_calls_free(struct xl *xl);

/* Start one call of the load (the caller's INVITE); false when
 * --concurrent of them are in flight. */
bool xl_calls_start(struct xl *xl);

/* Start one established call: INVITE, answered, ACKed, then idle with no
 * REFER and no timer until xl_calls_hangup_next. False when no slot is free. */
bool xl_calls_start_established(struct xl *xl);

/* Hang up the next established call that is up (its caller's BYE; the
 * endpoint's if the platform hung up the caller alone); it ends when the
 * BYEs are answered, or fails 64*T1 later. False when none is left. */
bool xl_calls_hangup_next(struct xl *xl);

/* The load's calls started and not finished. */
unsigned xl_calls_active(const struct xl *xl);

/* Established calls started and not finished; of them, not up yet. */
unsigned xl_calls_established_active(const struct xl *xl);
unsigned xl_calls_established_pending(const struct xl *xl);

/* io.h's on_datagram: ctx is the struct xl, sock an enum xl_role. The
 * latencies end at rx_ns, or at the loop's time (now_us) if it is 0. */
void xl_calls_on_datagram(void *ctx, unsigned sock, const union xl_sa *from, socklen_t fromlen,
			  const char *buf, size_t len, uint64_t rx_ns);

/* Finish every call in flight as failed, reason "aborted". */
void xl_calls_abort(struct xl *xl);

#endif
