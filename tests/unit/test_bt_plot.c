/* test_bt_plot.c - unit tests of lib/bt_plot: the min/max decimator on
 * signals with known spikes (the envelope is kept exactly, whichever way x
 * runs), short series kept whole, bands, gaps, and the axis labels. */
#include <config.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bt_plot.h"
#include "check.h"

#define NB 256			/* buckets in the tests */
#define N_LONG 200000		/* points of the long signals */

/* A slow sine with fast noise-like ripple, in volts. */
static double
signal_at(size_t i)
{
	return 3.7182 + 0.1 * sin(2 * M_PI * (double)i / 50000.0)
		+ 0.003 * sin(1.7 * (double)i);
}

/* Known spikes: index and value. */
static const struct {
	size_t i;
	double y;
} spikes[] = {
	{0, 3.1416}, {12345, 4.2718}, {12346, 3.0123}, {150001, 2.7183},
	{199998, 4.4142}, {N_LONG - 1, 3.9999}
};
#define N_SPIKES (sizeof spikes / sizeof spikes[0])

static void
make(double *x, double *y, size_t n, double x0, double dx)
{
	size_t i, k;

	for (i = 0; i < n; i++) {
		x[i] = x0 + dx * (double)i;
		y[i] = signal_at(i);
	}
	for (k = 0; k < N_SPIKES; k++)
		if (spikes[k].i < n)
			y[spikes[k].i] = spikes[k].y;
}

/* Decimate (X, Y) and check: few points, all of them input points, in
 * order of x; the global extremes and every spike kept exactly; and every
 * input point inside the envelope of the output points within one bucket
 * width (RANGE / (NB / 2)) of it. */
static void
check_envelope(const double *x, const double *y, size_t n, const char *what)
{
	struct bt_plot_decim *d;
	double *out, px, py, lo, hi, range, h, ymin = INFINITY, ymax = -INFINITY;
	double omin = INFINITY, omax = -INFINITY, xmin = INFINITY, xmax = -INFINITY;
	size_t m, i, j, k, bad_in = 0, bad_env = 0, a;
	int sorted = 1, found;

	CHECK(bt_plot_decim_alloc(&d, NB, 1) == BT_OK, "%s: alloc", what);
	for (i = 0, a = 0; i < n; i++)
		a += bt_plot_decim_add(d, x[i], &y[i]) != BT_OK;
	CHECK(a == 0, "%s: %zu points refused", what, a);
	CHECK(bt_plot_decim_finish(d) == BT_OK, "%s: finish", what);
	m = bt_plot_decim_npoints(d);
	CHECK(!bt_plot_decim_whole(d), "%s: decimated", what);
	CHECK(bt_plot_decim_count(d) == n, "%s: count", what);
	CHECK(m <= 4 * NB && m >= NB / 2, "%s: %zu points from %zu", what, m, n);
	out = malloc(2 * m * sizeof *out);
	for (j = 0; j < m; j++) {
		bt_plot_decim_point(d, j, &px, &py);
		out[2 * j] = px;
		out[2 * j + 1] = py;
		if (j > 0 && px <= out[2 * j - 2])	/* distinct x: each once */
			sorted = 0;
		omin = fmin(omin, py);
		omax = fmax(omax, py);
	}
	CHECK(sorted, "%s: output in order of x, no point twice", what);
	for (i = 0; i < n; i++) {
		ymin = fmin(ymin, y[i]);
		ymax = fmax(ymax, y[i]);
		xmin = fmin(xmin, x[i]);
		xmax = fmax(xmax, x[i]);
	}
	CHECK(omin == ymin && omax == ymax, "%s: extremes %.17g %.17g, want %.17g %.17g",
	      what, omin, omax, ymin, ymax);
	for (k = 0; k < N_SPIKES; k++) {
		if (spikes[k].i >= n)
			continue;
		found = 0;
		for (j = 0; j < m; j++)
			found |= out[2 * j] == x[spikes[k].i] && out[2 * j + 1] == spikes[k].y;
		CHECK(found, "%s: spike %zu (%.17g at x %.17g) kept", what,
		      spikes[k].i, spikes[k].y, x[spikes[k].i]);
	}
	/* Every output point is an input point: x determines the index. */
	for (j = 0; j < m; j++) {
		double t = (out[2 * j] - x[0]) / (x[1] - x[0]);

		a = (size_t)llround(t);
		if (a >= n || x[a] != out[2 * j] || y[a] != out[2 * j + 1])
			bad_in++;
	}
	CHECK(bad_in == 0, "%s: %zu output points not in the input", what, bad_in);
	range = xmax - xmin;
	h = range / (NB / 2);
	for (i = 0; i < n; i++) {
		lo = INFINITY;
		hi = -INFINITY;
		/* out is sorted by x: find the window by bisection. */
		size_t l = 0, r = m;
		while (l < r) {
			size_t mid = (l + r) / 2;
			if (out[2 * mid] < x[i] - h)
				l = mid + 1;
			else
				r = mid;
		}
		for (j = l; j < m && out[2 * j] <= x[i] + h; j++) {
			lo = fmin(lo, out[2 * j + 1]);
			hi = fmax(hi, out[2 * j + 1]);
		}
		if (!(lo <= y[i] && y[i] <= hi))
			bad_env++;
	}
	CHECK(bad_env == 0, "%s: %zu input points outside the envelope", what, bad_env);
	free(out);
	bt_plot_decim_free(d);
}

static void
test_long_signals(void)
{
	double *x = malloc(N_LONG * sizeof *x), *y = malloc(N_LONG * sizeof *y);

	make(x, y, N_LONG, 0.5, 0.25);
	check_envelope(x, y, N_LONG, "rising x");
	make(x, y, N_LONG, 1000.125, -0.375);
	check_envelope(x, y, N_LONG, "falling x");
	/* Far from the origin, with a spacing that is not a power of two. */
	make(x, y, N_LONG, 1.6e9, 0.1);
	check_envelope(x, y, N_LONG, "epoch seconds");
	free(x);
	free(y);
}

/* A series no longer than the buckets is drawn whole, in its order. */
static void
test_short_whole(void)
{
	static const double xs[] = {3.7, 3.9, 4.1, 4.0, 3.8, 3.6};
	struct bt_plot_decim *d;
	double x, y, v;
	size_t i;

	CHECK(bt_plot_decim_alloc(&d, 8, 1) == BT_OK, "alloc");
	for (i = 0; i < 6; i++) {
		v = 0.25 * (double)i + 0.0625;
		bt_plot_decim_add(d, xs[i], &v);
	}
	v = NAN;
	bt_plot_decim_add(d, 4.2, &v);	/* a gap: skipped */
	bt_plot_decim_add(d, INFINITY, &v);
	CHECK(bt_plot_decim_finish(d) == BT_OK, "finish");
	CHECK(bt_plot_decim_whole(d), "kept whole");
	CHECK(bt_plot_decim_npoints(d) == 6, "6 points, got %zu", bt_plot_decim_npoints(d));
	for (i = 0; i < 6 && i < bt_plot_decim_npoints(d); i++) {
		bt_plot_decim_point(d, i, &x, &y);
		CHECK(x == xs[i] && y == 0.25 * (double)i + 0.0625, "point %zu", i);
	}
	bt_plot_decim_free(d);
}

/* Many points on one x, then others on either side: the zero-width start. */
static void
test_constant_x_start(void)
{
	struct bt_plot_decim *d;
	double x, y, v, omin = INFINITY, omax = -INFINITY;
	size_t i, m;
	int side;

	for (side = -1; side <= 1; side += 2) {
		CHECK(bt_plot_decim_alloc(&d, 16, 1) == BT_OK, "alloc");
		for (i = 0; i < 100; i++) {
			v = i == 37 ? -2.5 : 0.001 * (double)i;
			bt_plot_decim_add(d, 5.0, &v);
		}
		for (i = 1; i <= 1000; i++) {
			v = i == 501 ? 7.25 : 0.5;
			CHECK(bt_plot_decim_add(d, 5.0 + side * 0.01 * (double)i, &v) == BT_OK,
			      "add");
		}
		CHECK(bt_plot_decim_finish(d) == BT_OK, "finish");
		m = bt_plot_decim_npoints(d);
		omin = INFINITY, omax = -INFINITY;
		for (i = 0; i < m; i++) {
			bt_plot_decim_point(d, i, &x, &y);
			omin = fmin(omin, y);
			omax = fmax(omax, y);
			if (y == -2.5)
				CHECK(x == 5.0, "the dip at x 5, not %g", x);
			if (y == 7.25)
				CHECK(x == 5.0 + side * 5.01, "the peak at x %g", x);
		}
		CHECK(omin == -2.5 && omax == 7.25, "side %d: extremes %g %g", side, omin, omax);
		bt_plot_decim_free(d);
	}
}

/* A band keeps the lowest lower and the highest upper edge. */
static void
test_band(void)
{
	struct bt_plot_decim *d;
	double x, yy[2], lo = INFINITY, hi = -INFINITY;
	size_t i;

	CHECK(bt_plot_decim_alloc(&d, 32, 2) == BT_OK, "alloc");
	for (i = 0; i < 50000; i++) {
		yy[0] = 0.5 - 0.01 * sin((double)i) - (i == 31337 ? 0.25 : 0);
		yy[1] = 0.6 + 0.01 * sin((double)i) + (i == 4242 ? 0.125 : 0);
		bt_plot_decim_add(d, (double)i, yy);
	}
	CHECK(bt_plot_decim_finish(d) == BT_OK, "finish");
	CHECK(bt_plot_decim_npoints(d) <= 4 * 32, "few points");
	for (i = 0; i < bt_plot_decim_npoints(d); i++) {
		bt_plot_decim_point(d, i, &x, yy);
		lo = fmin(lo, yy[0]);
		hi = fmax(hi, yy[1]);
		CHECK(yy[0] <= yy[1], "lower below upper");
	}
	CHECK(lo == 0.5 - 0.01 * sin(31337.0) - 0.25, "lowest lower edge %.17g", lo);
	CHECK(hi == 0.6 + 0.01 * sin(4242.0) + 0.125, "highest upper edge %.17g", hi);
	bt_plot_decim_free(d);
}

static void
test_errors(void)
{
	struct bt_plot_decim *d;
	double v = 1;
	size_t i;

	CHECK(bt_plot_decim_alloc(&d, 7, 1) == BT_EINVAL && d == NULL, "odd buckets");
	CHECK(bt_plot_decim_alloc(&d, 8, 3) == BT_EINVAL, "three values");
	CHECK(bt_plot_decim_alloc(&d, 8, 1) == BT_OK, "alloc");
	for (i = 0; i < 9; i++)
		bt_plot_decim_add(d, (double)i, &v);
	CHECK(bt_plot_decim_add(d, 1.7e308, &v) == BT_OK, "far right");
	CHECK(bt_plot_decim_add(d, -1.7e308, &v) == BT_ERANGE, "a range past a double");
	bt_plot_decim_free(d);
	bt_plot_decim_free(NULL);
}

static void
test_labels(void)
{
	static const struct {
		const char *name, *label;
		double scale;
	} cases[] = {
		{"voltage_v", "voltage (V)", 1}, {"current_a", "current (A)", 1},
		{"temperature_c", "temperature (\xc2\xb0" "C)", 1},
		{"time_s", "time (s)", 1}, {"capacity_ah", "capacity (Ah)", 1},
		{"soc", "SoC (%)", 100}, {"soc_true", "SoC true (%)", 100},
		{"soh", "SoH (%)", 100}, {"cycle", "cycle", 1},
		{"dqdv_ah_per_v", "dQ/dV (Ah/V)", 1}, {"dvdq_v_per_ah", "dV/dQ (V/Ah)", 1},
		{"v_model_v", "v model (V)", 1}, {"energy_wh", "energy (Wh)", 1},
		{"r0_ohm", "R0 (Ohm)", 1}, {"social", "social", 1}
	};
	char buf[64];
	double scale;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		bt_plot_label(cases[i].name, buf, sizeof buf, &scale);
		CHECK_STR(buf, cases[i].label, cases[i].name);
		CHECK(scale == cases[i].scale, "scale of %s", cases[i].name);
	}
	bt_plot_label("temperature_c", buf, 8, NULL);
	CHECK(strlen(buf) < 8, "truncated label fits");
}

static void
test_names(void)
{
	CHECK(bt_plot_format_of("a.png") == BT_PLOT_PNG, "png");
	CHECK(bt_plot_format_of("a.svg") == BT_PLOT_SVG, "svg");
	CHECK(bt_plot_format_of("a.pdf") == BT_PLOT_PDF, "pdf");
	CHECK(bt_plot_format_of("a.csv.gz") == BT_PLOT_CSV, "csv.gz");
	CHECK(bt_plot_format_of("a.jpg") == -1, "jpg");
	CHECK(bt_plot_preset_parse("ica") == BT_PLOT_PRESET_ICA, "ica");
	CHECK(bt_plot_preset_parse("none") == -1, "none is no preset name");
	CHECK(bt_plot_preset_with(BT_PLOT_PRESET_DENOISE) == 2, "denoise needs --with");
}

int
main(void)
{
	test_long_signals();
	test_short_whole();
	test_constant_x_start();
	test_band();
	test_errors();
	test_labels();
	test_names();
	return check_report();
}
