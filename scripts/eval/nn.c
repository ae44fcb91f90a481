/* nn.c - the CNN-LSTM on real data, through the library (bt_net) until
 * bt-soc's --method nn exists; scripts/eval/nn builds and runs it.
 *
 * CALCE INR18650-20R dynamic tests at 25 C (../shared/datasets/
 * calce_inr18650-20r_dynamic, see its SOURCE.md): trained on the DST, FUDS
 * and BJDST profiles (80 % and 50 % start), tested on US06 (80 % and 50 %),
 * channels voltage_v and current_a (the files have no temperature), the
 * reference soc = 1 - ah_net_from_full / 2.0, the profile steps (7 and 8)
 * only.  The default network (bt_net_arch_init), training windows every
 * TRAIN_STRIDE samples, 20 % of the training samples held out in blocks
 * for early stopping.  For each seed it prints the training time and the
 * RMSE, MAE and largest error after the first SKIP_S seconds of each test
 * profile, in both streaming modes; then the median over the seeds.
 *
 *   nn DATASET_DIR [SEED...]
 */
#define _GNU_SOURCE 1

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gsl/gsl_errno.h>

#include "bt_net.h"
#include "bt_stats.h"
#include "bt_stream.h"

#define CAPACITY_AH 2.0		/* the nominal capacity of the reference */
#define FIRST_PROFILE_STEP 7	/* steps 7 and 8: the dynamic profile */
#define SKIP_S 100.0		/* errors counted after this long */
#define TRAIN_STRIDE 2
#define MAX_SEEDS 9
#define PREFIX "calce_inr18650-20r_25C_"

static const char *const train_files[] = {"DST_80SOC", "DST_50SOC", "FUDS_80SOC",
	"FUDS_50SOC", "BJDST_80SOC", "BJDST_50SOC"};
static const char *const test_files[] = {"US06_80SOC", "US06_50SOC"};
static const char *const channels[] = {"voltage_v", "current_a"};
static const char *dir;

struct series {
	double *x;		/* voltage, current */
	double *soc, *t;
	size_t n;
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void
die(const char *what)
{
	fprintf(stderr, "nn: %s\n", what);
	exit(1);
}

/* Read the profile rows of one file. */
static void
read_series(const char *name, struct series *s)
{
	static const char *const cols[] = {"voltage_v", "current_a",
		"ah_net_from_full", "step_index", "time_s"};
	char path[1024];
	struct bt_reader *r;
	size_t c[5], cap = 0, i;
	double v[5];

	snprintf(path, sizeof path, "%s/%s%s.csv.gz", dir, PREFIX, name);
	if (bt_reader_open(&r, path, NULL) != BT_OK)
		die(r ? bt_reader_errmsg(r) : "out of memory");
	for (i = 0; i < 5; i++)
		if (bt_reader_require(r, cols[i], &c[i]) != BT_OK)
			die(bt_reader_errmsg(r));
	memset(s, 0, sizeof *s);
	while (bt_reader_next(r) == BT_OK) {
		for (i = 0; i < 5; i++)
			if (bt_reader_number(r, c[i], &v[i]) != BT_OK)
				die(bt_reader_errmsg(r));
		if (v[3] < FIRST_PROFILE_STEP)
			continue;
		if (s->n == cap) {
			cap = cap ? 2 * cap : 16384;
			s->x = realloc(s->x, 2 * cap * sizeof *s->x);
			s->soc = realloc(s->soc, cap * sizeof *s->soc);
			s->t = realloc(s->t, cap * sizeof *s->t);
			if (!s->x || !s->soc || !s->t)
				die("out of memory");
		}
		s->x[2 * s->n] = v[0];
		s->x[2 * s->n + 1] = v[1];
		s->soc[s->n] = 1 - v[2] / CAPACITY_AH;
		s->t[s->n] = v[4];
		s->n++;
	}
	bt_reader_free(r);
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, size_t n)
{
	qsort(v, n, sizeof *v, cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int
main(int argc, char **argv)
{
	struct series tr[6], te[2];
	struct bt_net_data *d;
	struct bt_net_arch a;
	struct bt_net_train_opts o;
	struct bt_net_report rep;
	char msg[BT_ERRMSG_SIZE];
	/* [seed][file][mode][rmse, mae, max] and training seconds */
	static double res[MAX_SEEDS][2][2][3], secs[MAX_SEEDS];
	unsigned long seeds[MAX_SEEDS] = {1, 2, 3};
	size_t nseeds = 3, f, k, m, q, i;

	if (argc < 2)
		die("usage: nn DATASET_DIR [SEED...]");
	dir = argv[1];
	if (argc > 2) {
		nseeds = 0;
		for (i = 2; i < (size_t)argc && nseeds < MAX_SEEDS; i++)
			seeds[nseeds++] = strtoul(argv[i], NULL, 10);
	}
	gsl_set_error_handler_off();
	printf("BLAS %s, %d thread\n", bt_net_blas_name(), bt_net_set_threads(1));
	if (bt_net_data_alloc(&d, channels, 2, "soc") != BT_OK)
		die("out of memory");
	for (f = 0; f < 6; f++) {
		read_series(train_files[f], &tr[f]);
		for (k = 0; k < tr[f].n; k++)
			if (bt_net_data_add(d, tr[f].x + 2 * k, tr[f].soc[k], tr[f].t[k]) != BT_OK)
				die("bad training sample");
		bt_net_data_end_series(d);
	}
	for (f = 0; f < 2; f++)
		read_series(test_files[f], &te[f]);
	printf("training: %zu samples in 6 profiles; test: US06 %zu + %zu samples\n",
	       bt_net_data_samples(d), te[0].n, te[1].n);
	bt_net_arch_init(&a, 2);
	printf("network: window %u, %u x conv(%u filters, kernel %u), LSTM %u, stride %d\n\n",
	       a.window, a.n_conv, a.conv[0].filters, a.conv[0].kernel,
	       a.hidden[0], TRAIN_STRIDE);
	printf("%-5s %-11s %-12s %8s %8s %8s %9s\n", "seed", "test", "mode",
	       "RMSE %", "MAE %", "max %", "train s");
	for (i = 0; i < nseeds; i++) {
		struct bt_net *net;
		double t0;

		bt_net_train_opts_init(&o);
		o.stride = TRAIN_STRIDE;
		o.seed = seeds[i];
		t0 = now();
		if (bt_net_train(&net, &a, d, NULL, &o, &rep, msg) != BT_OK)
			die(msg);
		secs[i] = now() - t0;
		for (f = 0; f < 2; f++)
			for (m = 0; m < 2; m++) {
				struct bt_net_stream *s;
				struct bt_stats st;
				struct bt_stats_summary r;
				double y;

				if (bt_net_stream_alloc(net, m ? BT_NET_WINDOW : BT_NET_INCREMENTAL,
							&s) != BT_OK)
					die("out of memory");
				bt_stats_init(&st);
				for (k = 0; k < te[f].n; k++) {
					bt_net_stream_step(s, te[f].x + 2 * k, &y);
					if (!isnan(y) && te[f].t[k] - te[f].t[0] >= SKIP_S)
						bt_stats_add(&st, y - te[f].soc[k]);
				}
				r = bt_stats_summary(&st);
				res[i][f][m][0] = 100 * r.rmse;
				res[i][f][m][1] = 100 * r.mae;
				res[i][f][m][2] = 100 * r.max_abs;
				printf("%-5lu %-11s %-12s %8.2f %8.2f %8.2f %9.1f\n",
				       seeds[i], test_files[f], m ? "window" : "incremental",
				       res[i][f][m][0], res[i][f][m][1], res[i][f][m][2],
				       secs[i]);
				bt_net_stream_free(s);
			}
		printf("      (%u epochs, best %u, %zu training windows, validation RMSE %.2f %%)\n",
		       rep.epochs_run, rep.best_epoch, rep.train_windows,
		       100 * rep.val_rmse);
		bt_net_free(net);
	}
	printf("\nmedian of %zu seeds (issue #5: RMSE <= 1.0 %%, MAE <= 0.7 %%, max <= 2.5 %%, training < 5 min)\n",
	       nseeds);
	for (f = 0; f < 2; f++)
		for (m = 0; m < 2; m++) {
			double v[3][MAX_SEEDS];

			for (q = 0; q < 3; q++)
				for (i = 0; i < nseeds; i++)
					v[q][i] = res[i][f][m][q];
			printf("%-5s %-11s %-12s %8.2f %8.2f %8.2f %9.1f\n", "med",
			       test_files[f], m ? "window" : "incremental",
			       median(v[0], nseeds), median(v[1], nseeds),
			       median(v[2], nseeds), median(secs, nseeds));
		}
	bt_net_data_free(d);
	for (f = 0; f < 6; f++) {
		free(tr[f].x);
		free(tr[f].soc);
		free(tr[f].t);
	}
	for (f = 0; f < 2; f++) {
		free(te[f].x);
		free(te[f].soc);
		free(te[f].t);
	}
	return 0;
}
