/* sipfrag.h: the message/sipfrag bodies of REFER NOTIFYs ("SIP/2.0 180 Ringing").
 * RFC 3420 (message/sipfrag), RFC 3515 §2.4.5 (what a NOTIFY body carries). */
#ifndef XFERD_SIPFRAG_H
#define XFERD_SIPFRAG_H

#include "str.h"

struct sipfrag {
	uint16_t status;    /* of the status line; 0 for a request fragment */
	struct str reason;
	struct str method;  /* of a request line */
	struct str ruri;
	struct str headers; /* what follows the start line, raw; may be "" */
};

/* Read a sipfrag body. Unlike a message it may end right after its start
 * line, with or without CRLF. Returns 0 or -EBADMSG with *err_at set. */
int sipfrag_read(struct str body, struct sipfrag *f, const char **err_at);

/* Write "SIP/2.0 <code> <reason>\r\n" into out. Returns the length or
 * -ENOSPC. The reason is sanitised like any header value. */
int sipfrag_write(char *out, size_t cap, unsigned code, struct str reason);

#endif
