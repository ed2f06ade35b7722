/* fuzz_frame.c: libFuzzer target for TCP stream framing: the input is fed in
 * pieces whose sizes come from its first byte, and every frame is parsed. */
#include <stdlib.h>

#include "frame.h"
#include "msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sip_msg m;
	struct sip_frame f = { 0 };
	enum sip_frame_kind kind;
	size_t step, avail, off = 0, frame_len;
	int r;

	if (size < 1)
		return 0;
	step = (size_t)data[0] % 64 + 1;
	data++;
	size--;
	for (avail = step < size ? step : size; off < size;) {
		r = sip_frame_next(&f, (const char *)data + off, avail - off, &frame_len, &kind);
		if (r < 0)
			return 0;
		if (r == 1) {
			if (frame_len == 0 || frame_len > avail - off)
				abort();
			if (kind == SIP_FRAME_MESSAGE)
				sip_msg_parse(&m, (const char *)data + off, frame_len);
			off += frame_len;
			continue;
		}
		if (avail == size)
			return 0;
		avail = avail + step < size ? avail + step : size;
	}
	return 0;
}
