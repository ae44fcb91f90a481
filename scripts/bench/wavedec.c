/* wavedec.c - the wavedec kernel alone, timed on an array of doubles read
 * from a file, for scripts/bench/wavelet to set beside pywt.wavedec on the
 * same array.  Prints the median, minimum and maximum seconds per call
 * over RUNS calls; keeps a checksum so that nothing is optimised away.
 *
 *   wavedec FILE WAVELET MODE LEVEL RUNS     (FILE: raw native doubles)
 */
#define _GNU_SOURCE 1

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bt_wavelet.h"

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
	const struct bt_wavelet *w;
	enum bt_wavelet_mode mode;
	size_t n, cap = 1 << 20, lens[BT_WAVELET_MAX_LEVEL + 1], total, f;
	double *x = malloc(cap * sizeof *x), *c, *work, *t, sum = 0;
	unsigned level;
	int runs, r;
	FILE *in;

	if (argc != 6 || (w = bt_wavelet_find(argv[2])) == NULL
	    || bt_wavelet_mode_parse(argv[3], &mode) != BT_OK
	    || (in = fopen(argv[1], "rb")) == NULL) {
		fprintf(stderr, "usage: wavedec FILE WAVELET MODE LEVEL RUNS\n");
		return 2;
	}
	level = (unsigned)atoi(argv[4]);
	runs = atoi(argv[5]);
	for (n = 0; x != NULL && (n += fread(x + n, sizeof *x, cap - n, in)) == cap;) {
		cap *= 2;
		x = realloc(x, cap * sizeof *x);
	}
	fclose(in);
	f = bt_wavelet_filter_length(w);
	total = bt_wavelet_wavedec_lengths(n, f, mode, level, lens);
	c = malloc(total * sizeof *c);
	work = malloc(bt_wavelet_work_size(n, f) * sizeof *work);
	t = malloc((size_t)runs * sizeof *t);
	if (x == NULL || c == NULL || work == NULL || t == NULL || runs < 1)
		return 1;
	for (r = 0; r < runs; r++) {
		struct timespec a, b;

		clock_gettime(CLOCK_MONOTONIC, &a);
		bt_wavelet_wavedec(w, mode, x, n, level, c, work);
		clock_gettime(CLOCK_MONOTONIC, &b);
		t[r] = (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
		sum += c[r % total];
	}
	qsort(t, (size_t)runs, sizeof *t, cmp);
	printf("%.6f %.6f %.6f %zu %g\n", t[runs / 2], t[0], t[runs - 1], n, sum);
	return 0;
}
