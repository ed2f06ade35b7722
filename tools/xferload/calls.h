/* calls.h: xferload's calls: the caller, endpoint and target state machines
 * of each call, keyed by slot and generation. RFC 3261, RFC 3515, SPEC.md. */
#ifndef XFERLOAD_CALLS_H
#define XFERLOAD_CALLS_H

#include "xl.h"

/* Preallocate xl->o.concurrent call slots and the fixed text of every
 * message. Returns 0 or -ENOMEM. */
int xl_calls_init(struct xl *xl);
void xl_calls_free(struct xl *xl);

/* Start one call (the caller's INVITE); false when every slot is in use. */
bool xl_calls_start(struct xl *xl);

/* Calls started and not finished. */
unsigned xl_calls_active(const struct xl *xl);

/* io.h's on_datagram: ctx is the struct xl, sock an enum xl_role. */
void xl_calls_on_datagram(void *ctx, unsigned sock, const union xl_sa *from, socklen_t fromlen,
			  const char *buf, size_t len);

/* Finish every call in flight as failed, reason "aborted". */
void xl_calls_abort(struct xl *xl);

#endif
