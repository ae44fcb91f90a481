/* fuzz_net.c - libFuzzer target for the bt-net(5) model loader.
 *
 * The first byte is an option byte: when its low bit is set the input's
 * last four bytes are replaced by the CRC-32 of the rest, so that the
 * fuzzer gets past the checksum to the field checks behind it.  A model
 * that loads runs a few samples through both streaming predictors and is
 * encoded again: the bytes must be the input's.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "bt_net.h"

/* Samples fed to a model that loads: enough to pass a small window. */
#define FUZZ_STEPS 40

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char errmsg[BT_ERRMSG_SIZE];
	struct bt_net *net;
	unsigned char *buf, *again;
	size_t len, n, i;
	unsigned mode;

	if (size < 1)
		return 0;
	len = size - 1;
	buf = malloc(len ? len : 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data + 1, len);
	if ((data[0] & 1) && len >= 4) {
		uint32_t c = (uint32_t)crc32(0L, buf, (uInt)(len - 4));

		buf[len - 4] = (unsigned char)c;
		buf[len - 3] = (unsigned char)(c >> 8);
		buf[len - 2] = (unsigned char)(c >> 16);
		buf[len - 1] = (unsigned char)(c >> 24);
	}
	if (bt_net_parse(buf, len, "fuzz.btnet", &net, errmsg) != BT_OK) {
		free(buf);
		return 0;
	}
	for (mode = 0; mode < 2; mode++) {
		struct bt_net_stream *s;
		double x[BT_NET_MAX_CHANNELS], y;

		if (bt_net_stream_alloc(net, mode ? BT_NET_WINDOW : BT_NET_INCREMENTAL,
					&s) != BT_OK)
			continue;
		for (i = 0; i < FUZZ_STEPS; i++) {
			size_t c;

			for (c = 0; c < BT_NET_MAX_CHANNELS; c++)
				x[c] = 0.37 * (double)((i * 7 + c * 3) % 11) - 1.3;
			bt_net_stream_step(s, x, &y);
		}
		bt_net_stream_free(s);
	}
	if (bt_net_encode(net, &again, &n) == BT_OK) {
		if (n != len || memcmp(again, buf, len) != 0)
			abort();	/* what loads must encode to the same bytes */
		free(again);
	}
	bt_net_free(net);
	free(buf);
	return 0;
}
