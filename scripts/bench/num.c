/* num.c - micro benchmark of bt_num against the C library.
 *
 * Times bt_num_parse against strtod(), bt_num_format(x, 0) against
 * snprintf("%.17g") and bt_num_format(x, 6) against snprintf("%.6g"), on
 * ten million numbers shaped like cycler data ("3.7182", "-1.5",
 * "12345.678", "0.0001234", "1e-3"), and prints nanoseconds per number for
 * each and their ratio.  Each measurement is repeated RUNS times and the
 * median, minimum and maximum are shown.  It is not a test: it checks
 * nothing but keeps a checksum so that no call is optimised away.
 *
 * Build and run (from the top of the tree):
 *   gcc -std=c11 -O2 -Ilib lib/bt_num.c lib/bt_status.c scripts/bench/num.c \
 *       -lm -o /tmp/bench_num && /tmp/bench_num [COUNT]
 */
#define _GNU_SOURCE 1

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bt_num.h"

#define DEFAULT_COUNT 10000000L
#define RUNS 5
#define FIELD_MAX 24
#define SEED UINT64_C(0x6e756d62656e6368)	/* "numbench" */

static uint64_t rng = SEED;

static uint64_t
next_u64(void)
{
	/* splitmix64 (Steele, Lea and Flood, OOPSLA 2014). */
	uint64_t z = (rng += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Field K of a row of a cycler export, NUL-terminated at S: time_s,
 * current_a, voltage_v, temperature_c, capacity_ah and an exponent-form
 * column.  ROW advances time.  Return the length. */
static int
typical_field(char *s, unsigned k, long row)
{
	uint64_t r = next_u64();

	switch (k) {
	case 0:			/* time, 3 decimals: 12345.678 */
		return sprintf(s, "%ld.%03u", row / 10, (unsigned)(r % 1000));
	case 1:			/* current, signed: -1.5, 0.987 */
		return sprintf(s, "%s%u.%0*u", r & 1 ? "-" : "",
			       (unsigned)(r >> 4) % 10, 1 + (int)((r >> 12) % 4),
			       (unsigned)(r >> 20) % 10);
	case 2:			/* voltage, 4 decimals: 3.7182 */
		return sprintf(s, "%u.%04u", 2 + (unsigned)(r % 3),
			       (unsigned)(r >> 8) % 10000);
	case 3:			/* temperature: 25.3 */
		return sprintf(s, "%u.%u", 15 + (unsigned)(r % 30),
			       (unsigned)(r >> 16) % 10);
	case 4:			/* capacity: 0.0001234 */
		return sprintf(s, "0.000%u", 1000 + (unsigned)(r % 9000));
	default:		/* exponent form: 1e-3, 2.5E+02 */
		return sprintf(s, "%u.%ue%d", 1 + (unsigned)(r % 9),
			       (unsigned)(r >> 8) % 10,
			       (int)((r >> 16) % 9) - 6);
	}
}

#define COLUMNS 6

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

struct timing {
	double med, min, max;	/* ns per number */
};

static struct timing
summarise(double *t, long n)
{
	struct timing r;

	qsort(t, RUNS, sizeof t[0], cmp_double);
	r.med = t[RUNS / 2] * 1e9 / (double)n;
	r.min = t[0] * 1e9 / (double)n;
	r.max = t[RUNS - 1] * 1e9 / (double)n;
	return r;
}

static void
report(const char *what, struct timing ours, const char *base_name,
       struct timing base)
{
	printf("%-22s %7.2f ns (%.2f-%.2f)   %-16s %7.2f ns (%.2f-%.2f)   "
	       "speed-up %5.2fx\n", what, ours.med, ours.min, ours.max,
	       base_name, base.med, base.min, base.max, base.med / ours.med);
}

/* Time all six operations on the N fields of TEXT (lengths LEN) and
 * print one row each. */
static void
bench(const char *title, const char *text, const unsigned char *len,
      double *val, long n)
{
	static double sum;
	static size_t chars;
	char out[BT_NUM_BUFSIZE];
	double t[RUNS], t0;
	const char *p;
	struct timing a, b;
	long i;
	int run;

	printf("%s\n", title);
	for (run = 0; run < RUNS; run++) {
		t0 = now();
		for (i = 0, p = text; i < n; i++) {
			bt_num_parse(p, len[i], '.', &val[i]);
			p += len[i] + 1;
		}
		t[run] = now() - t0;
	}
	a = summarise(t, n);
	for (run = 0; run < RUNS; run++) {
		t0 = now();
		for (i = 0, p = text; i < n; i++) {
			sum += strtod(p, NULL);
			p += len[i] + 1;
		}
		t[run] = now() - t0;
	}
	b = summarise(t, n);
	report("  bt_num_parse", a, "strtod", b);

	for (run = 0; run < RUNS; run++) {
		t0 = now();
		for (i = 0; i < n; i++)
			chars += bt_num_format(val[i], 0, out);
		t[run] = now() - t0;
	}
	a = summarise(t, n);
	for (run = 0; run < RUNS; run++) {
		t0 = now();
		for (i = 0; i < n; i++)
			chars += (size_t)snprintf(out, sizeof out, "%.17g", val[i]);
		t[run] = now() - t0;
	}
	b = summarise(t, n);
	report("  bt_num_format(x, 0)", a, "snprintf %.17g", b);

	for (run = 0; run < RUNS; run++) {
		t0 = now();
		for (i = 0; i < n; i++)
			chars += bt_num_format(val[i], 6, out);
		t[run] = now() - t0;
	}
	a = summarise(t, n);
	for (run = 0; run < RUNS; run++) {
		t0 = now();
		for (i = 0; i < n; i++)
			chars += (size_t)snprintf(out, sizeof out, "%.6g", val[i]);
		t[run] = now() - t0;
	}
	b = summarise(t, n);
	report("  bt_num_format(x, 6)", a, "snprintf %.6g", b);
	printf("  (checksum %g %zu)\n", sum, chars);
}

int
main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : DEFAULT_COUNT, i;
	char *text, *p;
	unsigned char *len;
	double *val;

	if (n <= 0) {
		fprintf(stderr, "usage: %s [COUNT]\n", argv[0]);
		return 2;
	}
	text = malloc((size_t)n * FIELD_MAX);
	len = malloc((size_t)n);
	val = malloc((size_t)n * sizeof *val);
	if (!text || !len || !val) {
		fprintf(stderr, "num: out of memory\n");
		return 1;
	}
	memset(val, 0, (size_t)n * sizeof *val);	/* fault the pages in now */
	printf("bt_num micro benchmark: %ld fields per run, median of %d runs "
	       "(min-max), ns per number\n", n, RUNS);

	/* Fields in the column order of a CSV stream, as a tool meets them. */
	for (i = 0, p = text; i < n; i++) {
		len[i] = (unsigned char)typical_field(p, (unsigned)(i % COLUMNS),
						      i / COLUMNS);
		p += len[i] + 1;
	}
	printf("%.1f bytes per field on average\n",
	       (double)(p - text) / (double)n - 1);
	bench("rows (fields in column order):", text, len, val, n);

	/* The same kinds of field in random order: no pattern for the branch
	 * predictor to learn, a worst case. */
	for (i = 0, p = text; i < n; i++) {
		len[i] = (unsigned char)typical_field(p,
				(unsigned)(next_u64() % COLUMNS), i / COLUMNS);
		p += len[i] + 1;
	}
	bench("shuffled (column chosen at random per field):", text, len, val, n);

	free(text);
	free(len);
	free(val);
	return 0;
}
