/* fuzz_reader.c - libFuzzer target for the stream reader.
 *
 * The input bytes become a file (through memfd) that the reader opens,
 * maps and reads to the end, asking for every column's text and value, with
 * the fast path or libcsv and the options chosen by the first byte.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bt_stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bt_reader_opts opts;
	struct bt_reader *r;
	char path[64];
	size_t col, len;
	double x;
	int fd, rows = 0;

	if (size < 1)
		return 0;
	memset(&opts, 0, sizeof opts);
	opts.force_libcsv = data[0] & 1;
	opts.check_time = (data[0] >> 1) & 1;
	opts.decimal_comma = (data[0] >> 2) & 1;
	opts.discharge_positive = (data[0] >> 3) & 1;
	opts.delimiter = "\0,;\t"[(data[0] >> 4) & 3];
	fd = memfd_create("fuzz", 0);
	if (fd < 0)
		return 0;
	if (write(fd, data + 1, size - 1) != (ssize_t)(size - 1)) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	if (bt_reader_open(&r, path, &opts) == BT_OK) {
		while (bt_reader_next(r) == BT_OK && rows++ < 10000)
			for (col = 0; col < bt_reader_ncols(r); col++) {
				bt_reader_text(r, col, &len);
				bt_reader_number(r, col, &x);
				bt_reader_verbatim(r, col);
			}
		bt_reader_require(r, "time_s", &col);
	}
	bt_reader_free(r);
	close(fd);
	return 0;
}
