/* test_bt_net.c - unit tests of the neural engine.
 *
 * - the CBLAS in use is OpenBLAS's, single-threaded;
 * - architectures: defaults, weight counts, every limit;
 * - every layer's gradient (and the input's) against central differences;
 * - batched evaluation against single windows; both streaming predictors
 *   against the windowed evaluation;
 * - the bt-net(5) file: round trip, and every way the loader refuses a
 *   file, with its message;
 * - training sets read from a canonical stream;
 * - the forward pass, windowed and incremental, against PyTorch: fixtures
 *   made by scripts/make-net-fixtures with Debian's python3-torch;
 * - the 4-float element-wise kernels as well as the 8-float ones where
 *   the processor runs those;
 * - the twin: trained on bt-sim drive cycles of three seeds, tested on a
 *   fourth, SoC RMSE at most 1.5 %; training twice gives identical files.
 *
 * Files are found under $BT_SRCDIR (the source tree; "." by default).
 * Deterministic; prints "N passed, N failed" and exits 1 on any failure.
 */
#include <config.h>

#include <dlfcn.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gsl/gsl_cblas.h>
#include <gsl/gsl_errno.h>
#include <zlib.h>

#include "bt_ecm.h"
#include "bt_net.h"
#include "bt_net_impl.h"
#include "bt_sim.h"
#include "bt_stats.h"
#include "bt_stream.h"

/* Tolerances. */
#define FD_EPS 1e-3		/* central-difference step on a weight */
#define FD_REL 2e-2		/* relative agreement of a gradient ... */
#define FD_ABS 2e-4		/* ... or absolute, for small ones */
#define FD_MAX_BAD_FRAC 0.01	/* ReLU kinks and pooling ties crossed by
				   the step may spoil a few differences */
#define BATCH_TOL 1e-5		/* batched vs single-window forward */
#define STREAM_TOL 1e-5		/* streaming vs windowed at the W-th sample */
#define TORCH_TOL 1e-5		/* the bar against PyTorch */
#define TWIN_RMSE_MAX 0.015	/* SoC RMSE on the unseen seed */

static int n_pass, n_fail;
static const char *srcdir = ".";

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void
check(int ok, int line, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		n_pass++;
		return;
	}
	n_fail++;
	fprintf(stderr, "test_bt_net.c:%d: FAIL: ", line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

#define CHECK(cond, ...) check((cond), __LINE__, __VA_ARGS__)

static const char *const chan3[] = {"voltage_v", "current_a", "temperature_c"};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A deterministic unround sequence in (-1, 1). */
static double
pseudo(unsigned long *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return (double)(*x >> 11) / 4503599627370496.0 - 1.0;
}

/* --- BLAS ---------------------------------------------------------------- */

static void
test_blas(void)
{
	Dl_info info;
	int ok = dladdr((void *)cblas_sgemm, &info) != 0 && info.dli_fname;

	CHECK(ok && strstr(info.dli_fname, "openblas") != NULL,
	      "cblas_sgemm comes from %s, not OpenBLAS: link $(BLAS_LIBS) first",
	      ok ? info.dli_fname : "(unknown)");
	CHECK(strstr(bt_net_blas_name(), "openblas") != NULL,
	      "bt_net_blas_name says '%s'", bt_net_blas_name());
	CHECK(bt_net_set_threads(1) == 1, "OpenBLAS runs one thread");
}

/* --- Architecture -------------------------------------------------------- */

static void
test_arch(void)
{
	struct bt_net_arch a;
	char msg[BT_ERRMSG_SIZE];

	bt_net_arch_init(&a, 3);
	CHECK(bt_net_arch_check(&a, msg) == BT_OK, "defaults: %s", msg);
	/* conv1 32*5*3 + 32, conv2 32*5*32 + 32, LSTM 4*32*(32 + 32) + 128,
	 * head 32 + 1. */
	CHECK(bt_net_arch_params(&a) == 512 + 5152 + 8320 + 33,
	      "default weight count %zu", bt_net_arch_params(&a));
	a.conv[1].kernel = 97;
	CHECK(bt_net_arch_check(&a, msg) == BT_EINVAL
	      && strcmp(msg, "conv2: kernel '97' is out of range (1 to its input length 96)") == 0,
	      "kernel too long: %s", msg);
	bt_net_arch_init(&a, 3);
	a.conv[0].pool = 97;
	CHECK(bt_net_arch_check(&a, msg) == BT_EINVAL
	      && strcmp(msg, "conv1: pool '97' is out of range (1 to its output length 96)") == 0,
	      "pool too wide: %s", msg);
	bt_net_arch_init(&a, 3);
	a.n_lstm = 3;
	CHECK(bt_net_arch_check(&a, msg) == BT_EINVAL
	      && strcmp(msg, "LSTM layers '3' is out of range (1 to 2)") == 0, "%s", msg);
	bt_net_arch_init(&a, 0);
	CHECK(bt_net_arch_check(&a, msg) == BT_EINVAL
	      && strcmp(msg, "channels '0' is out of range (1 to 16)") == 0, "%s", msg);
	bt_net_arch_init(&a, 3);
	a.hidden[0] = 1025;
	CHECK(bt_net_arch_check(&a, msg) == BT_EINVAL
	      && strcmp(msg, "lstm1: units '1025' is out of range (1 to 1024)") == 0, "%s", msg);
	bt_net_arch_init(&a, 3);
	a.n_conv = 5;
	CHECK(bt_net_arch_check(&a, msg) == BT_EINVAL, "five convolutions");
	bt_net_arch_init(&a, 3);
	a.window = 0;
	CHECK(bt_net_arch_check(&a, msg) == BT_EINVAL, "window 0");
	bt_net_arch_init(&a, 3);
	a.conv[0].filters = 1024;
	a.conv[1].filters = 1024;
	a.conv[1].kernel = 20;
	CHECK(bt_net_arch_check(&a, msg) == BT_EINVAL
	      && strstr(msg, "weights, more than the") != NULL, "too many weights: %s", msg);
	/* Few weights, a huge work space: 61537 outputs of 4000 x 4 inputs. */
	memset(&a, 0, sizeof a);
	a.window = 65536;
	a.channels = 4;
	a.n_conv = 1;
	a.conv[0] = (struct bt_net_conv){4000, 1, 1};
	a.n_lstm = 1;
	a.hidden[0] = 1;
	CHECK(bt_net_arch_check(&a, msg) == BT_EINVAL
	      && strstr(msg, "floats of work space per window, more than the 16777216 allowed") != NULL,
	      "work space: %s", msg);
	a.conv[0] = (struct bt_net_conv){1, 1, 65536};
	a.hidden[0] = 200;
	CHECK(bt_net_arch_check(&a, msg) == BT_EINVAL
	      && strcmp(msg, "the network's streaming state (26214400 floats for a pooling stride of 65536) is more than the 16777216 allowed") == 0,
	      "streaming state: %s", msg);
}

/* --- Gradients ----------------------------------------------------------- */

struct group {
	const char *name;
	size_t from, to;
};

/* The weight blocks of ARCH, in file order. */
static size_t
groups_of(const struct bt_net_arch *a, struct group *g)
{
	static char names[16][32];
	size_t n = 0, off = 0, feat = a->channels;
	unsigned l;

	for (l = 0; l < a->n_conv; l++) {
		size_t w = (size_t)a->conv[l].filters * a->conv[l].kernel * feat;

		snprintf(names[n], sizeof names[n], "conv%u W", l + 1);
		g[n] = (struct group){names[n], off, off + w};
		n++;
		off += w;
		snprintf(names[n], sizeof names[n], "conv%u b", l + 1);
		g[n] = (struct group){names[n], off, off + a->conv[l].filters};
		n++;
		off += a->conv[l].filters;
		feat = a->conv[l].filters;
	}
	for (l = 0; l < a->n_lstm; l++) {
		size_t h = a->hidden[l];

		snprintf(names[n], sizeof names[n], "lstm%u W_x", l + 1);
		g[n] = (struct group){names[n], off, off + 4 * h * feat};
		n++;
		off += 4 * h * feat;
		snprintf(names[n], sizeof names[n], "lstm%u W_h", l + 1);
		g[n] = (struct group){names[n], off, off + 4 * h * h};
		n++;
		off += 4 * h * h;
		snprintf(names[n], sizeof names[n], "lstm%u b", l + 1);
		g[n] = (struct group){names[n], off, off + 4 * h};
		n++;
		off += 4 * h;
		feat = h;
	}
	g[n++] = (struct group){"dense w", off, off + feat};
	off += feat;
	g[n++] = (struct group){"dense b", off, off + 1};
	return n;
}

static int
grad_close(double fd, double an)
{
	return fabs(fd - an) <= FD_REL * fmax(fabs(fd), fabs(an)) + FD_ABS;
}

/* Check every weight's gradient and every input's of a network of shape A
 * on N windows against central differences. */
static void
gradcheck(const char *label, const struct bt_net_arch *a, size_t n, double l2)
{
	struct bt_net *net;
	struct bt_net_batch *b;
	struct group g[16];
	size_t ng, np, i, k, nx = n * a->window * a->channels;
	double *x = malloc(nx * sizeof *x), y[8], lp, lm, loss;
	float *grad, *dx, *p;
	unsigned long seed = 0x2545f4914f6cdd1dUL;
	char msg[BT_ERRMSG_SIZE];
	const char *const names[] = {"a", "b", "c", "d"};

	if (bt_net_alloc(&net, a, names, "y", 7, msg) != BT_OK) {
		CHECK(0, "%s: %s", label, msg);
		free(x);
		return;
	}
	p = bt_net_params(net, &np);
	/* Spread the weights so that every gate and ReLU works away from its
	 * flat or kinked parts. */
	for (i = 0; i < np; i++)
		p[i] += (float)(0.2 * pseudo(&seed));
	for (i = 0; i < nx; i++)
		x[i] = 1.3 * pseudo(&seed);
	for (i = 0; i < n; i++)
		y[i] = 0.37 + 0.5 * pseudo(&seed);
	grad = calloc(np, sizeof *grad);
	dx = calloc(nx, sizeof *dx);
	if (bt_net_batch_alloc(net, n, &b) != BT_OK || !grad || !dx) {
		CHECK(0, "%s: allocation", label);
		return;
	}
	bt_net_batch_loss(b, x, y, n, l2, &loss, grad, dx);
	ng = groups_of(a, g);
	CHECK(g[ng - 1].to == np, "%s: groups cover %zu of %zu weights", label,
	      g[ng - 1].to, np);
	for (k = 0; k < ng; k++) {
		size_t bad = 0, total = 0, worst = g[k].from;
		double worst_err = -1;

		for (i = g[k].from; i < g[k].to; i++) {
			float keep = p[i];
			double fd, err;

			p[i] = keep + (float)FD_EPS;
			bt_net_batch_loss(b, x, y, n, l2, &lp, NULL, NULL);
			p[i] = keep - (float)FD_EPS;
			bt_net_batch_loss(b, x, y, n, l2, &lm, NULL, NULL);
			p[i] = keep;
			fd = (lp - lm) / (2 * FD_EPS);
			total++;
			if (!grad_close(fd, grad[i]))
				bad++;
			err = fabs(fd - grad[i]);
			if (err > worst_err) {
				worst_err = err;
				worst = i;
			}
		}
		CHECK((double)bad <= FD_MAX_BAD_FRAC * (double)total,
		      "%s: %s: %zu of %zu gradients disagree (worst: weight %zu, error %.3g, analytic %.4g)",
		      label, g[k].name, bad, total, worst, worst_err, grad[worst]);
	}
	{
		size_t bad = 0;

		for (i = 0; i < nx; i++) {
			double keep = x[i], fd;

			x[i] = keep + FD_EPS;
			bt_net_batch_loss(b, x, y, n, l2, &lp, NULL, NULL);
			x[i] = keep - FD_EPS;
			bt_net_batch_loss(b, x, y, n, l2, &lm, NULL, NULL);
			x[i] = keep;
			fd = (lp - lm) / (2 * FD_EPS);
			if (!grad_close(fd, dx[i]))
				bad++;
		}
		CHECK((double)bad <= FD_MAX_BAD_FRAC * (double)nx,
		      "%s: input: %zu of %zu gradients disagree", label, bad, nx);
	}
	bt_net_batch_free(b);
	bt_net_free(net);
	free(grad);
	free(dx);
	free(x);
}

static void
test_gradients(void)
{
	struct bt_net_arch a;

	/* Two convolutions, pooling on the first, two LSTM layers. */
	memset(&a, 0, sizeof a);
	a.window = 17;
	a.channels = 3;
	a.n_conv = 2;
	a.conv[0] = (struct bt_net_conv){3, 4, 2};
	a.conv[1] = (struct bt_net_conv){2, 5, 1};
	a.n_lstm = 2;
	a.hidden[0] = 4;
	a.hidden[1] = 3;
	gradcheck("conv-pool-conv-lstm-lstm", &a, 3, 1e-3);
	/* No convolution: the LSTM reads the input. */
	memset(&a, 0, sizeof a);
	a.window = 9;
	a.channels = 2;
	a.n_lstm = 1;
	a.hidden[0] = 5;
	gradcheck("lstm only", &a, 2, 0);
	/* Pooling of width 3 on the top convolution, 4 channels. */
	memset(&a, 0, sizeof a);
	a.window = 20;
	a.channels = 4;
	a.n_conv = 2;
	a.conv[0] = (struct bt_net_conv){4, 3, 1};
	a.conv[1] = (struct bt_net_conv){3, 4, 3};
	a.n_lstm = 1;
	a.hidden[0] = 3;
	gradcheck("conv-conv-pool-lstm", &a, 2, 5e-4);
}

/* --- Evaluation and streaming -------------------------------------------- */

/* A small network with pooling (stride 2 at the top) and two LSTMs. */
static void
small_arch(struct bt_net_arch *a)
{
	memset(a, 0, sizeof *a);
	a->window = 24;
	a->channels = 3;
	a->n_conv = 2;
	a->conv[0] = (struct bt_net_conv){3, 6, 2};
	a->conv[1] = (struct bt_net_conv){3, 5, 1};
	a->n_lstm = 2;
	a->hidden[0] = 6;
	a->hidden[1] = 4;
}

static void
test_streaming(const struct bt_net_arch *a, const char *label)
{
	enum { N = 90 };
	struct bt_net *net = NULL;
	struct bt_net_batch *b = NULL, *one = NULL;
	struct bt_net_stream *inc = NULL, *win = NULL;
	size_t w = a->window, c = a->channels, t, np, i;
	double *x = malloc(N * c * sizeof *x), *wins = NULL, yb[N];
	double y1 = NAN, yi = NAN, yw = NAN, yi2 = NAN;
	double worst_batch = 0, worst_win = 0, nanbad = 0, first_err;
	unsigned long seed = 0x9e3779b97f4a7c15UL;
	char msg[BT_ERRMSG_SIZE];
	float *p;
	size_t nw = N - w + 1;

	wins = calloc(nw * w * c, sizeof *wins);
	if (bt_net_alloc(&net, a, chan3, "soc", 3, msg) != BT_OK || x == NULL
	    || wins == NULL || bt_net_batch_alloc(net, nw, &b) != BT_OK
	    || bt_net_batch_alloc(net, 1, &one) != BT_OK
	    || bt_net_stream_alloc(net, BT_NET_INCREMENTAL, &inc) != BT_OK
	    || bt_net_stream_alloc(net, BT_NET_WINDOW, &win) != BT_OK) {
		CHECK(0, "%s: allocation: %s", label, msg);
		exit(1);
	}
	p = bt_net_params(net, &np);
	for (i = 0; i < np; i++)
		p[i] += (float)(0.1 * pseudo(&seed));
	bt_net_set_norm(net, 0, 3.7, 0.2);
	bt_net_set_norm(net, 1, -0.5, 1.5);
	bt_net_set_norm(net, 3, 0.5, 0.3);
	for (t = 0; t < N; t++) {
		x[t * c] = 3.7 + 0.2 * sin(0.21 * (double)t) + 0.01 * pseudo(&seed);
		x[t * c + 1] = -0.5 + 1.4 * pseudo(&seed);
		x[t * c + 2] = 25.3 + 0.2 * pseudo(&seed);
	}
	for (i = 0; i < nw; i++)
		memcpy(wins + i * w * c, x + i * c, w * c * sizeof *x);
	CHECK(bt_net_batch_forward(b, wins, nw, yb) == BT_OK, "%s: batch", label);
	CHECK(bt_net_batch_forward(b, wins, nw + 1, yb) == BT_EINVAL,
	      "%s: batch larger than the workspace", label);
	for (i = 0; i < nw; i++) {
		bt_net_batch_forward(one, wins + i * w * c, 1, &y1);
		worst_batch = fmax(worst_batch, fabs(y1 - yb[i]));
	}
	CHECK(worst_batch <= BATCH_TOL, "%s: batched vs one at a time: %.3g",
	      label, worst_batch);
	first_err = NAN;
	for (t = 0; t < N; t++) {
		bt_net_stream_step(inc, x + t * c, &yi);
		bt_net_stream_step(win, x + t * c, &yw);
		if (t + 1 < w) {
			nanbad += !isnan(yi) || !isnan(yw);
			continue;
		}
		worst_win = fmax(worst_win, fabs(yw - yb[t + 1 - w]));
		if (t + 1 == w)
			first_err = fabs(yi - yb[0]);
		CHECK(isfinite(yi), "%s: incremental output at %zu", label, t);
	}
	CHECK(nanbad == 0, "%s: NaN before the first full window", label);
	CHECK(worst_win <= STREAM_TOL, "%s: window mode vs batch: %.3g", label,
	      worst_win);
	CHECK(first_err <= STREAM_TOL,
	      "%s: incremental at the W-th sample vs the first window: %.3g",
	      label, first_err);
	CHECK(bt_net_stream_count(inc) == N, "%s: count", label);
	/* A non-finite sample is refused and changes nothing. */
	{
		double bad[3] = {3.7, NAN, 25};

		CHECK(bt_net_stream_step(inc, bad, &yi) == BT_ENONFINITE && isnan(yi)
		      && bt_net_stream_count(inc) == N, "%s: NaN input refused", label);
	}
	/* After a reset the predictor starts afresh. */
	bt_net_stream_reset(inc);
	for (t = 0; t < w; t++)
		bt_net_stream_step(inc, x + t * c, &yi2);
	CHECK(fabs(yi2 - yb[0]) <= STREAM_TOL, "%s: reset", label);
	bt_net_stream_free(inc);
	bt_net_stream_free(win);
	bt_net_batch_free(b);
	bt_net_batch_free(one);
	bt_net_free(net);
	free(wins);
	free(x);
}

/* --- The model file ------------------------------------------------------ */

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16
	       | (uint32_t)p[3] << 24;
}

/* Rewrite the trailing CRC-32 of BUF so that a deliberate change reaches
 * the field checks behind it. */
static void
fix_crc(unsigned char *buf, size_t len)
{
	uint32_t c = (uint32_t)crc32(0L, buf, (uInt)(len - 4));

	buf[len - 4] = (unsigned char)c;
	buf[len - 3] = (unsigned char)(c >> 8);
	buf[len - 2] = (unsigned char)(c >> 16);
	buf[len - 1] = (unsigned char)(c >> 24);
}

static void
expect_refused(const unsigned char *buf, size_t len, const char *want,
	       int line)
{
	struct bt_net *net;
	char msg[BT_ERRMSG_SIZE];
	enum bt_status st = bt_net_parse(buf, len, "m.btnet", &net, msg);

	check(st == BT_EFORMAT && net == NULL && strcmp(msg, want) == 0, line,
	      "status %d, message '%s', want '%s'", (int)st, msg, want);
}

static void
test_file(void)
{
	struct bt_net_arch a;
	struct bt_net *net, *back;
	unsigned char *buf, *buf2, *m;
	size_t len, len2, cut, np;
	char msg[BT_ERRMSG_SIZE], path[] = "test_bt_net.tmp.btnet";
	int all_truncated = 1;
	size_t off_w, off_names;

	small_arch(&a);
	bt_net_alloc(&net, &a, chan3, "soc_true", 5, msg);
	bt_net_set_norm(net, 0, 3.6871, 0.21317);
	bt_net_set_norm(net, 3, 0.55, 0.25);
	bt_net_set_sample_period(net, 1.0);
	CHECK(bt_net_encode(net, &buf, &len) == BT_OK, "encode");
	np = bt_net_arch_params(&a);
	/* magic, version, 4 sizes, 2 x 3 conv sizes, 2 units, period, 4 names
	 * with their normalisation, count, weights, CRC. */
	off_names = 8 + 4 + 16 + 24 + 8 + 8;
	off_w = off_names + (1 + 9 + 16) + (1 + 9 + 16) + (1 + 13 + 16)
		+ (1 + 8 + 16) + 8;
	CHECK(len == off_w + 4 * np + 4, "file length %zu, want %zu", len,
	      off_w + 4 * np + 4);
	CHECK(memcmp(buf, "\x89" "BTNET\r\n", 8) == 0 && get32(buf + 8) == 1
	      && get32(buf + 12) == 24 && get32(buf + 16) == 3,
	      "magic, version, window, channels");
	CHECK(bt_net_parse(buf, len, "m.btnet", &back, msg) == BT_OK, "parse: %s", msg);
	if (back != NULL) {
		CHECK(bt_net_encode(back, &buf2, &len2) == BT_OK && len2 == len
		      && memcmp(buf, buf2, len) == 0, "round trip is byte-identical");
		CHECK(strcmp(bt_net_channel(back, 2), "temperature_c") == 0
		      && strcmp(bt_net_target(back), "soc_true") == 0
		      && bt_net_sample_period(back) == 1.0, "names and period");
		free(buf2);
		bt_net_free(back);
	}
	CHECK(bt_net_save(net, path, msg) == BT_OK, "save: %s", msg);
	CHECK(bt_net_load(path, &back, msg) == BT_OK, "load: %s", msg);
	if (back != NULL) {
		CHECK(bt_net_encode(back, &buf2, &len2) == BT_OK && len2 == len
		      && memcmp(buf, buf2, len) == 0, "save then load");
		free(buf2);
		bt_net_free(back);
	}
	remove(path);
	CHECK(bt_net_load("no/such/dir/m.btnet", &back, msg) == BT_EIO
	      && strcmp(msg, "no/such/dir/m.btnet: No such file or directory") == 0,
	      "missing file: %s", msg);
	CHECK(bt_net_save(net, "no/such/dir/m.btnet", msg) == BT_EIO
	      && strcmp(msg, "no/such/dir/m.btnet: No such file or directory") == 0,
	      "save into a missing directory: %s", msg);

	/* Every proper prefix is refused. */
	for (cut = 0; cut < len; cut++) {
		if (bt_net_parse(buf, cut, "m.btnet", &back, msg) != BT_EFORMAT
		    || back != NULL)
			all_truncated = 0;
	}
	CHECK(all_truncated, "every truncation is refused");
	expect_refused(buf, 30, "m.btnet: byte 28: truncated: the file ends inside the conv1 kernel", __LINE__);
	{
		char want[BT_ERRMSG_SIZE];

		snprintf(want, sizeof want,
			 "m.btnet: byte %zu: truncated: the file ends inside the CRC-32",
			 len - 4);
		expect_refused(buf, len - 2, want, __LINE__);
	}
	m = malloc(len + 8);
	memcpy(m, buf, len);
	m[0] = 'B';
	expect_refused(m, len, "m.btnet: not a battools network file (bad magic bytes)", __LINE__);
	memcpy(m, buf, len);
	m[8] = 2;
	expect_refused(m, len, "m.btnet: byte 8: unsupported format version '2' (this battools reads 1)", __LINE__);
	memcpy(m, buf, len);
	m[len - 9] ^= 0x40;
	{
		char want[BT_ERRMSG_SIZE];
		uint32_t stored = get32(buf + len - 4);
		uint32_t comp = (uint32_t)crc32(0L, m, (uInt)(len - 4));

		snprintf(want, sizeof want,
			 "m.btnet: byte %zu: CRC-32 mismatch (stored %08lx, computed %08lx): the file is corrupt",
			 len - 4, (unsigned long)stored, (unsigned long)comp);
		expect_refused(m, len, want, __LINE__);
	}
	{
		char want[BT_ERRMSG_SIZE];

		snprintf(want, sizeof want,
			 "m.btnet: byte %zu: 1 unexpected bytes after the CRC-32", len);
		memcpy(m, buf, len);
		m[len] = 7;
		expect_refused(m, len + 1, want, __LINE__);
	}
	/* Field checks behind a valid CRC. */
	memcpy(m, buf, len);
	m[20] = 5;	/* five convolution layers */
	fix_crc(m, len);
	expect_refused(m, len, "m.btnet: byte 20: convolution layers '5' is out of range (0 to 4)", __LINE__);
	memcpy(m, buf, len);
	m[28] = 30;	/* conv1 kernel 30 > window 24 */
	fix_crc(m, len);
	expect_refused(m, len, "m.btnet: byte 60: conv1: kernel '30' is out of range (1 to its input length 24)", __LINE__);
	memcpy(m, buf, len);
	m[off_names + 1] = '\t';
	fix_crc(m, len);
	expect_refused(m, len, "m.btnet: byte 68: channel 1: the name must be 1 to 63 printable characters", __LINE__);
	memcpy(m, buf, len);
	memset(m + off_names + 1 + 9 + 8, 0, 8);	/* scale of voltage_v 0 */
	fix_crc(m, len);
	expect_refused(m, len, "m.btnet: byte 78: normalisation of 'voltage_v' (mean '3.6871', scale '0') must be finite with scale > 0", __LINE__);
	memcpy(m, buf, len);
	m[off_w - 8] ^= 1;	/* the weight count */
	fix_crc(m, len);
	{
		char want[BT_ERRMSG_SIZE];

		snprintf(want, sizeof want,
			 "m.btnet: byte %zu: weight count '%zu' does not match the architecture's %zu",
			 off_w - 8, np ^ 1, np);
		expect_refused(m, len, want, __LINE__);
	}
	memcpy(m, buf, len);
	memcpy(m + off_w + 4 * 5, "\x00\x00\xc0\x7f", 4);	/* weight 5 NaN */
	fix_crc(m, len);
	{
		char want[BT_ERRMSG_SIZE];

		snprintf(want, sizeof want, "m.btnet: byte %zu: weight 5 is not finite",
			 off_w + 20);
		expect_refused(m, len, want, __LINE__);
	}
	memcpy(m, buf, len);
	memcpy(m + 8 + 4 + 16 + 24 + 8, "\x00\x00\x00\x00\x00\x00\xf0\xbf", 8);	/* period -1 */
	fix_crc(m, len);
	expect_refused(m, len, "m.btnet: byte 60: sample period '-1' must be > 0 (or NaN: unknown)", __LINE__);
	free(m);
	free(buf);
	bt_net_free(net);
}

/* --- Training data ------------------------------------------------------- */

static struct bt_reader *
open_data(const char *rel)
{
	char path[1024];
	struct bt_reader *r = NULL;

	snprintf(path, sizeof path, "%s/%s", srcdir, rel);
	if (bt_reader_open(&r, path, NULL) != BT_OK) {
		CHECK(0, "cannot open %s: %s", path, r ? bt_reader_errmsg(r) : "");
		bt_reader_free(r);
		return NULL;
	}
	return r;
}

static void
test_data(void)
{
	static const char *const vi[] = {"voltage_v", "current_a"};
	struct bt_net_data *d;
	struct bt_reader *r;
	struct bt_net *net;
	struct bt_net_arch a;
	struct bt_net_train_opts o;
	struct bt_net_report rep;
	char msg[BT_ERRMSG_SIZE];
	double sum[4] = {0}, sq[4] = {0}, mean = NAN, scale = NAN, v = NAN;
	size_t n = 0, col[4], i;
	enum bt_status st;

	CHECK(bt_net_data_alloc(&d, chan3, 3, "soc_true") == BT_OK, "data alloc");
	/* The example drive cycle, read twice: once by the builder, once
	 * here for the reference statistics. */
	r = open_data("datasets/nmc18650_drive.csv.gz");
	if (r == NULL)
		return;
	CHECK(bt_net_data_read(d, r) == BT_OK, "read: %s", bt_reader_errmsg(r));
	bt_reader_free(r);
	CHECK(bt_net_data_series(d) == 1 && bt_net_data_samples(d) == 7201,
	      "series %zu, samples %zu", bt_net_data_series(d),
	      bt_net_data_samples(d));
	r = open_data("datasets/nmc18650_drive.csv.gz");
	if (r == NULL)
		return;
	bt_reader_require(r, "voltage_v", &col[0]);
	bt_reader_require(r, "current_a", &col[1]);
	bt_reader_require(r, "temperature_c", &col[2]);
	bt_reader_require(r, "soc_true", &col[3]);
	while (bt_reader_next(r) == BT_OK) {
		for (i = 0; i < 4; i++) {
			bt_reader_number(r, col[i], &v);
			sum[i] += v;
		}
		n++;
	}
	bt_reader_free(r);
	r = open_data("datasets/nmc18650_drive.csv.gz");
	while (r != NULL && bt_reader_next(r) == BT_OK)
		for (i = 0; i < 4; i++) {
			bt_reader_number(r, col[i], &v);
			sq[i] += (v - sum[i] / (double)n) * (v - sum[i] / (double)n);
		}
	bt_reader_free(r);
	/* One short epoch: the normalisation and the period are what count. */
	bt_net_arch_init(&a, 3);
	a.window = 8;
	a.n_conv = 0;
	a.hidden[0] = 2;
	bt_net_train_opts_init(&o);
	o.epochs = 1;
	o.stride = 50;
	CHECK(bt_net_train(&net, &a, d, NULL, &o, &rep, msg) == BT_OK, "train: %s", msg);
	if (net != NULL) {
		for (i = 0; i < 4; i++) {
			bt_net_norm(net, (unsigned)i, &mean, &scale);
			CHECK(fabs(mean - sum[i] / (double)n) <= 1e-12 * (1 + fabs(mean))
			      && fabs(scale - sqrt(sq[i] / (double)n)) <= 1e-9 * scale,
			      "normalisation of column %zu: %.17g %.17g", i, mean, scale);
		}
		CHECK(fabs(bt_net_sample_period(net) - 1.0) <= 1e-12, "period %.17g",
		      bt_net_sample_period(net));
		CHECK(rep.epochs_run == 1 && rep.train_windows > 0
		      && rep.val_windows > 0, "report: %u epochs, %zu + %zu windows",
		      rep.epochs_run, rep.train_windows, rep.val_windows);
		bt_net_free(net);
	}
	/* The training set of a window longer than every series. */
	a.window = 7202;
	CHECK(bt_net_train(&net, &a, d, NULL, &o, NULL, msg) == BT_EEMPTY
	      && strcmp(msg, "no training window: every series is shorter than the window of 7202 samples") == 0,
	      "%s", msg);
	a.window = 8;
	o.epochs = 0;
	CHECK(bt_net_train(&net, &a, d, NULL, &o, NULL, msg) == BT_EINVAL
	      && strcmp(msg, "epochs must be >= 1") == 0, "%s", msg);
	o.epochs = 1;
	o.val_fraction = 1;
	CHECK(bt_net_train(&net, &a, d, NULL, &o, NULL, msg) == BT_EINVAL
	      && strcmp(msg, "validation fraction must be in [0, 1)") == 0, "%s", msg);
	bt_net_data_free(d);

	/* Errors while reading: the reader says where. */
	bt_net_data_alloc(&d, vi, 2, "soc_true");
	r = open_data("tests/data/bad/nan_current.csv");
	CHECK(r && bt_net_data_read(d, r) == BT_ENOCOL
	      && strstr(bt_reader_errmsg(r), "soc_true") != NULL,
	      "missing target: %s", r ? bt_reader_errmsg(r) : "");
	bt_reader_free(r);
	bt_net_data_free(d);
	bt_net_data_alloc(&d, vi, 1, "time_s");
	r = open_data("tests/data/bad/nan_current.csv");
	st = r ? bt_net_data_read(d, r) : BT_EIO;
	CHECK(st == BT_OK && bt_net_data_samples(d) == 2, "voltage and time only: %s",
	      r ? bt_reader_errmsg(r) : "");
	bt_reader_free(r);
	bt_net_data_free(d);
	bt_net_data_alloc(&d, vi, 2, "time_s");
	r = open_data("tests/data/bad/nan_current.csv");
	st = r ? bt_net_data_read(d, r) : BT_EIO;
	CHECK(st == BT_ENONFINITE && bt_net_data_samples(d) == 0
	      && strstr(bt_reader_errmsg(r), "nan_current.csv:3:") != NULL,
	      "NaN current: %d %s", (int)st, r ? bt_reader_errmsg(r) : "");
	bt_reader_free(r);
	r = open_data("tests/data/bad/header_only.csv");
	CHECK(r && bt_net_data_read(d, r) == BT_EEMPTY, "header only");
	bt_reader_free(r);
	bt_net_data_free(d);
	CHECK(bt_net_data_alloc(&d, vi, 0, "soc") == BT_EINVAL && d == NULL,
	      "no channel");
	{
		static const char *const bad[] = {"volt\nage"};

		CHECK(bt_net_data_alloc(&d, bad, 1, "soc") == BT_EINVAL,
		      "a name with a line end");
	}
}

/* Training with a validation set: the reported validation RMSE is that of
 * the weights kept, recomputed here window by window. */
static void
test_validation(void)
{
	enum { NT = 400, NV = 230, W = 8 };
	static const char *const vi[] = {"voltage_v", "current_a"};
	static const char *const other[] = {"voltage_v", "temperature_c"};
	struct bt_net_data *tr, *va, *wrong;
	struct bt_net *net = NULL, *copy;
	struct bt_net_batch *b;
	struct bt_net_arch a;
	struct bt_net_train_opts o;
	struct bt_net_report rep;
	char msg[BT_ERRMSG_SIZE];
	static double rows[NV][3];
	double x[2], y, sse = 0, win[W * 2];
	unsigned long seed = 0x7f4a7c159e3779b9UL;
	unsigned char *b1, *b2;
	size_t l1, l2, k, e;

	bt_net_data_alloc(&tr, vi, 2, "soc");
	bt_net_data_alloc(&va, vi, 2, "soc");
	bt_net_data_alloc(&wrong, other, 2, "soc");
	for (k = 0; k < NT + NV; k++) {
		x[1] = -1.1 + 0.9 * pseudo(&seed);
		y = 0.93 - 0.8 * (double)(k % NT) / NT;
		x[0] = 3.4 + 0.7 * y + 0.03 * x[1] + 0.002 * pseudo(&seed);
		if (k < NT) {
			bt_net_data_add(tr, x, y, (double)k);
		} else {
			bt_net_data_add(va, x, y, (double)k);
			rows[k - NT][0] = x[0];
			rows[k - NT][1] = x[1];
			rows[k - NT][2] = y;
		}
		bt_net_data_add(wrong, x, y, NAN);
	}
	bt_net_arch_init(&a, 2);
	a.window = W;
	a.n_conv = 1;
	a.conv[0].kernel = 3;
	a.conv[0].filters = 4;
	a.hidden[0] = 5;
	bt_net_train_opts_init(&o);
	o.epochs = 12;
	o.patience = 2;
	o.batch = 16;
	CHECK(bt_net_train(&net, &a, tr, wrong, &o, NULL, msg) == BT_EINVAL
	      && strcmp(msg, "the validation data's columns differ from the training data's") == 0,
	      "validation columns: %s", msg);
	CHECK(bt_net_train(&net, &a, tr, va, &o, &rep, msg) == BT_OK, "train: %s", msg);
	if (net == NULL)
		return;
	CHECK(rep.train_windows == NT - W + 1 && rep.val_windows == NV - W + 1
	      && rep.best_epoch >= 1 && rep.best_epoch <= rep.epochs_run
	      && (rep.stopped_early ? rep.epochs_run == rep.best_epoch + o.patience
				    : rep.epochs_run == o.epochs),
	      "report: %zu + %zu windows, best %u of %u, stopped %d",
	      rep.train_windows, rep.val_windows, rep.best_epoch,
	      rep.epochs_run, rep.stopped_early);
	bt_net_batch_alloc(net, 1, &b);
	for (e = W - 1; e < NV; e++) {
		for (k = 0; k < W; k++) {
			win[2 * k] = rows[e + 1 - W + k][0];
			win[2 * k + 1] = rows[e + 1 - W + k][1];
		}
		bt_net_batch_forward(b, win, 1, &y);
		sse += (y - rows[e][2]) * (y - rows[e][2]);
	}
	CHECK(fabs(sqrt(sse / (NV - W + 1)) - rep.val_rmse) <= 1e-6 * rep.val_rmse,
	      "validation RMSE %.9g, recomputed %.9g", rep.val_rmse,
	      sqrt(sse / (NV - W + 1)));
	copy = bt_net_dup(net);
	CHECK(copy != NULL && bt_net_encode(net, &b1, &l1) == BT_OK
	      && bt_net_encode(copy, &b2, &l2) == BT_OK && l1 == l2
	      && memcmp(b1, b2, l1) == 0, "a copy encodes alike");
	if (copy != NULL) {
		free(b1);
		free(b2);
	}
	bt_net_free(copy);
	bt_net_batch_free(b);
	bt_net_free(net);
	bt_net_data_free(tr);
	bt_net_data_free(va);
	bt_net_data_free(wrong);
}

/* --- PyTorch ------------------------------------------------------------- */

/* Load tests/data/net/NAME.btnet (written by scripts/make-net-fixtures from
 * the man page, not by battools) and compare both streaming predictors
 * with PyTorch's predictions in NAME.csv. */
static void
test_torch(const char *name)
{
	struct bt_net *net;
	struct bt_net_stream *inc = NULL, *win = NULL;
	struct bt_reader *r;
	char path[1024], msg[BT_ERRMSG_SIZE];
	size_t col[5], i, rows = 0, compared = 0;
	double worst_w = 0, worst_i = 0, v[5], yi, yw;
	static const char *const cols[] = {"voltage_v", "current_a",
		"temperature_c", "y_window", "y_incremental"};

	snprintf(path, sizeof path, "%s/tests/data/net/%s.btnet", srcdir, name);
	if (bt_net_load(path, &net, msg) != BT_OK) {
		CHECK(0, "%s", msg);
		return;
	}
	snprintf(path, sizeof path, "tests/data/net/%s.csv", name);
	r = open_data(path);
	if (r == NULL || bt_net_stream_alloc(net, BT_NET_INCREMENTAL, &inc) != BT_OK
	    || bt_net_stream_alloc(net, BT_NET_WINDOW, &win) != BT_OK) {
		CHECK(0, "%s: set-up", name);
		return;
	}
	for (i = 0; i < 5; i++)
		bt_reader_require(r, cols[i], &col[i]);
	while (bt_reader_next(r) == BT_OK) {
		for (i = 0; i < 5; i++)
			bt_reader_number(r, col[i], &v[i]);
		bt_net_stream_step(inc, v, &yi);
		bt_net_stream_step(win, v, &yw);
		rows++;
		CHECK(isnan(v[3]) == isnan(yw) && isnan(v[4]) == isnan(yi),
		      "%s: row %zu: NaN where PyTorch has none, or back", name, rows);
		if (isnan(v[3]))
			continue;
		worst_w = fmax(worst_w, fabs(yw - v[3]));
		worst_i = fmax(worst_i, fabs(yi - v[4]));
		compared++;
	}
	printf("PyTorch %s: %zu predictions, largest difference %.2g (window), %.2g (incremental)\n",
	       name, compared, worst_w, worst_i);
	CHECK(compared > 0 && compared + bt_net_arch(net)->window - 1 == rows,
	      "%s: %zu of %zu rows compared", name, compared, rows);
	CHECK(worst_w <= TORCH_TOL, "%s: window mode differs from PyTorch by %.3g",
	      name, worst_w);
	CHECK(worst_i <= TORCH_TOL,
	      "%s: incremental mode differs from PyTorch by %.3g", name, worst_i);
	bt_reader_free(r);
	bt_net_stream_free(inc);
	bt_net_stream_free(win);
	bt_net_free(net);
}

/* --- The twin ------------------------------------------------------------ */

/* The twin: a synthetic drive cycle of the example cell from full to the
 * simulator's soc floor, with the sensor noise of datasets/ (2 mV, 10 mA).
 * Rows go to D (as a series) and, when ROWS is not NULL, to a new array of
 * (voltage, current, temperature, soc_true) rows. */
#define TWIN_DURATION_S 9000.0
#define TWIN_VOLTAGE_NOISE_V 0.002
#define TWIN_CURRENT_NOISE_A 0.01
#define TWIN_TEST_SEED 99

static size_t
twin_drive(const struct bt_ecm *ecm, unsigned long seed, struct bt_net_data *d,
	   double **rows)
{
	struct bt_sim_opts o;
	struct bt_sim *sim;
	struct bt_sim_row r;
	char msg[BT_ERRMSG_SIZE];
	size_t n = 0, cap = 0;

	bt_sim_opts_init(&o);
	o.protocol = BT_SIM_DRIVE;
	o.soc0 = 1.0;
	o.seed = seed;
	o.drive.duration_s = TWIN_DURATION_S;
	o.voltage_noise_sd_v = TWIN_VOLTAGE_NOISE_V;
	o.current_noise_sd_a = TWIN_CURRENT_NOISE_A;
	if (rows != NULL)
		*rows = NULL;
	if (bt_sim_alloc(ecm, &o, &sim, msg) != BT_OK) {
		CHECK(0, "bt_sim_alloc: %s", msg);
		return 0;
	}
	while (bt_sim_next(sim, &r) == BT_OK) {
		double x[4] = {r.voltage_v, r.current_a, r.temperature_c, r.soc_true};

		if (d != NULL)
			bt_net_data_add(d, x, r.soc_true, r.time_s);
		if (rows != NULL) {
			if (n == cap) {
				cap = cap ? 2 * cap : 8192;
				*rows = realloc(*rows, cap * 4 * sizeof **rows);
			}
			memcpy(*rows + n * 4, x, sizeof x);
		}
		n++;
	}
	if (d != NULL)
		bt_net_data_end_series(d);
	bt_sim_free(sim);
	return n;
}

/* Train the twin's network on D; the same call twice must give the same
 * bytes. */
static struct bt_net *
twin_train(const struct bt_net_data *d, unsigned epochs, unsigned stride,
	   struct bt_net_report *rep)
{
	struct bt_net_arch a;
	struct bt_net_train_opts o;
	struct bt_net *net = NULL;
	char msg[BT_ERRMSG_SIZE];

	/* Small enough to train in seconds on one core: 32 samples, one
	 * convolution of 16 filters of kernel 5, an LSTM of 16 units. */
	bt_net_arch_init(&a, 3);
	a.window = 32;
	a.n_conv = 1;
	a.conv[0].filters = 16;
	a.hidden[0] = 16;
	bt_net_train_opts_init(&o);
	o.epochs = epochs;
	o.stride = stride;
	o.learning_rate = 2e-3;
	CHECK(bt_net_train(&net, &a, d, NULL, &o, rep, msg) == BT_OK, "twin: %s", msg);
	return net;
}

static void
test_twin(void)
{
	struct bt_ecm *ecm;
	struct bt_net_data *d;
	struct bt_net *net, *again;
	struct bt_net_report rep;
	char msg[BT_ERRMSG_SIZE], path[1024];
	double *rows = NULL, t0, t1;
	unsigned long seed;
	size_t n, i, mode;
	unsigned char *b1, *b2;
	size_t l1, l2;

	snprintf(path, sizeof path, "%s/datasets/nmc18650.ecm", srcdir);
	if (bt_ecm_load(path, &ecm, msg) != BT_OK) {
		CHECK(0, "%s", msg);
		return;
	}
	bt_net_data_alloc(&d, chan3, 3, "soc_true");
	for (seed = 1; seed <= 3; seed++)
		twin_drive(ecm, seed, d, NULL);
	t0 = now();
	net = twin_train(d, 10, 2, &rep);
	t1 = now();
	n = twin_drive(ecm, TWIN_TEST_SEED, NULL, &rows);
	for (mode = 0; net != NULL && mode < 2; mode++) {
		struct bt_net_stream *st;
		struct bt_stats s;
		struct bt_stats_summary r;

		bt_stats_init(&s);
		bt_net_stream_alloc(net, mode ? BT_NET_WINDOW : BT_NET_INCREMENTAL, &st);
		for (i = 0; i < n; i++) {
			double y;

			bt_net_stream_step(st, rows + i * 4, &y);
			if (i + 1 >= bt_net_arch(net)->window)
				bt_stats_add(&s, y - rows[i * 4 + 3]);
		}
		r = bt_stats_summary(&s);
		printf("twin, %s: SoC RMSE %.4f, MAE %.4f, max %.4f on %zu samples "
		       "(trained in %.1f s, %u epochs, best %u, %zu windows)\n",
		       mode ? "window" : "incremental", r.rmse, r.mae, r.max_abs,
		       r.n, t1 - t0, rep.epochs_run, rep.best_epoch,
		       rep.train_windows);
		CHECK(r.n + bt_net_arch(net)->window - 1 == n && r.rmse <= TWIN_RMSE_MAX,
		      "twin, %s: SoC RMSE %.4f > %.3f", mode ? "window" : "incremental",
		      r.rmse, TWIN_RMSE_MAX);
		bt_net_stream_free(st);
	}
	free(rows);

	/* Deterministic: the same training twice gives the same file. */
	again = twin_train(d, 10, 2, NULL);
	if (net != NULL && again != NULL) {
		bt_net_encode(net, &b1, &l1);
		bt_net_encode(again, &b2, &l2);
		CHECK(l1 == l2 && memcmp(b1, b2, l1) == 0,
		      "training twice with the same seed gives identical files");
		free(b1);
		free(b2);
	}
	bt_net_free(again);
	bt_net_free(net);
	bt_net_data_free(d);
	bt_ecm_free(ecm);
}

int
main(void)
{
	struct bt_net_arch a;

	gsl_set_error_handler_off();
	if (getenv("BT_SRCDIR") != NULL)
		srcdir = getenv("BT_SRCDIR");
	bt_net_set_threads(1);
	test_blas();
	test_arch();
	test_gradients();
	/* The 4-float kernels too, wherever the 8-float ones run. */
	bt_net_simd_narrow(1);
	test_gradients();
	test_torch("torch_default");
	test_torch("torch_pool");
	bt_net_simd_narrow(0);
	small_arch(&a);
	test_streaming(&a, "pooled, two LSTMs");
	memset(&a, 0, sizeof a);
	a.window = 15;
	a.channels = 3;
	a.n_conv = 1;
	a.conv[0] = (struct bt_net_conv){4, 5, 1};
	a.n_lstm = 1;
	a.hidden[0] = 7;
	test_streaming(&a, "one conv, no pooling");
	test_file();
	test_data();
	test_validation();
	test_torch("torch_default");
	test_torch("torch_pool");
	test_torch("torch_pool3");
	test_torch("torch_lstm");
	test_twin();
	printf("%d passed, %d failed\n", n_pass, n_fail);
	return n_fail != 0;
}
