/* net.c - benchmark of the neural engine (bt_net), run by scripts/bench/net
 * beside the same measurements in PyTorch.
 *
 * The network: windows of 100 samples by 3 channels, two
 * convolutions of 32 filters of kernel 5, an LSTM of 32 units, batch 64.
 * On a synthetic, deterministic series it measures
 *   train      bt_net_train, windows per second (Adam, no validation)
 *   infer      bt_net_batch_forward on batches of 64, windows per second
 *   stream     bt_net_stream_step, incremental, samples per second
 *   window     bt_net_stream_step, re-windowed, samples per second
 * each RUNS times in processor time, and prints "NAME median min max"
 * lines and the peak resident set size.  It checks nothing but keeps a checksum so that no
 * work is optimised away.
 *
 * Build (scripts/bench/net does it): OpenBLAS first on the line.
 *   gcc -O2 -Ilib scripts/bench/net.c build/default/lib/.libs/libbtcore.a \
 *       -lopenblas -lgsl -lgslcblas -lz -lcsv -lm -o net
 *   ./net [TRAIN_SAMPLES [EPOCHS [INFER_WINDOWS [STREAM_SAMPLES]]]]
 */
#define _GNU_SOURCE 1

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bt_net.h"

#define RUNS 3
#define BATCH 64
#define DEFAULT_TRAIN_SAMPLES 6499	/* 6400 windows: 100 batches */
#define DEFAULT_EPOCHS 2
#define DEFAULT_INFER_WINDOWS 12800
#define DEFAULT_STREAM_SAMPLES 200000

static double
now(void)
{
	struct timespec ts;

	/* Processor time of the process: both sides run one thread, and a
	 * shared machine then disturbs the ratio less than wall time. */
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A drive-cycle-like sample k: voltage, current, temperature. */
static void
sample(size_t k, double *x)
{
	double t = (double)k;

	x[1] = -0.4 + 1.2 * sin(0.13 * t) + 0.6 * sin(1.7 * t + 0.3);
	x[0] = 3.69 + 0.15 * cos(0.0005 * t) + 0.02 * x[1];
	x[2] = 25.3 + 0.4 * sin(0.001 * t);
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
report(const char *name, double *rate)
{
	qsort(rate, RUNS, sizeof *rate, cmp);
	printf("%s %.6g %.6g %.6g\n", name, rate[RUNS / 2], rate[0], rate[RUNS - 1]);
}

int
main(int argc, char **argv)
{
	static const char *const ch[] = {"voltage_v", "current_a", "temperature_c"};
	size_t ntrain = argc > 1 ? strtoul(argv[1], NULL, 10) : DEFAULT_TRAIN_SAMPLES;
	unsigned epochs = argc > 2 ? (unsigned)atoi(argv[2]) : DEFAULT_EPOCHS;
	size_t ninfer = argc > 3 ? strtoul(argv[3], NULL, 10) : DEFAULT_INFER_WINDOWS;
	size_t nstream = argc > 4 ? strtoul(argv[4], NULL, 10) : DEFAULT_STREAM_SAMPLES;
	struct bt_net_arch a;
	struct bt_net_train_opts o;
	struct bt_net_report rep;
	struct bt_net_data *d;
	struct bt_net *net = NULL;
	struct bt_net_batch *b;
	struct bt_net_stream *s;
	struct rusage ru;
	char msg[BT_ERRMSG_SIZE];
	double rate[RUNS], x[3], y[BATCH], sum = 0, t0, *win;
	size_t i, k, run, w;

	printf("blas %s, threads %d\n", bt_net_blas_name(), bt_net_set_threads(1));
	bt_net_arch_init(&a, 3);
	w = a.window;
	bt_net_data_alloc(&d, ch, 3, "soc");
	for (k = 0; k < ntrain; k++) {
		sample(k, x);
		bt_net_data_add(d, x, 0.9 - 0.8 * (double)k / (double)ntrain, (double)k);
	}
	bt_net_train_opts_init(&o);
	o.epochs = epochs;
	o.batch = BATCH;
	o.val_fraction = 0;
	o.patience = 0;
	for (run = 0; run < RUNS; run++) {
		bt_net_free(net);
		t0 = now();
		if (bt_net_train(&net, &a, d, NULL, &o, &rep, msg) != BT_OK) {
			fprintf(stderr, "net: %s\n", msg);
			return 1;
		}
		rate[run] = (double)rep.train_windows * epochs / (now() - t0);
	}
	report("train", rate);

	win = malloc(BATCH * w * 3 * sizeof *win);
	bt_net_batch_alloc(net, BATCH, &b);
	for (run = 0; run < RUNS; run++) {
		t0 = now();
		for (i = 0; i < ninfer; i += BATCH) {
			for (k = 0; k < BATCH * w; k++)
				sample(i + k, win + 3 * k);
			bt_net_batch_forward(b, win, BATCH, y);
			sum += y[0];
		}
		rate[run] = (double)ninfer / (now() - t0);
	}
	report("infer", rate);
	bt_net_batch_free(b);
	free(win);

	for (run = 0; run < RUNS; run++) {
		bt_net_stream_alloc(net, BT_NET_INCREMENTAL, &s);
		t0 = now();
		for (k = 0; k < nstream; k++) {
			sample(k, x);
			bt_net_stream_step(s, x, y);
			sum += k >= w ? y[0] : 0;
		}
		rate[run] = (double)nstream / (now() - t0);
		bt_net_stream_free(s);
	}
	report("stream", rate);

	for (run = 0; run < RUNS; run++) {
		bt_net_stream_alloc(net, BT_NET_WINDOW, &s);
		t0 = now();
		for (k = 0; k < nstream / 20; k++) {
			sample(k, x);
			bt_net_stream_step(s, x, y);
			sum += k >= w ? y[0] : 0;
		}
		rate[run] = (double)(nstream / 20) / (now() - t0);
		bt_net_stream_free(s);
	}
	report("window", rate);
	getrusage(RUSAGE_SELF, &ru);
	printf("peak_rss_kb %ld\nchecksum %g\n", ru.ru_maxrss, sum);
	bt_net_free(net);
	bt_net_data_free(d);
	return 0;
}
