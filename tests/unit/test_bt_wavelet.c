/* test_bt_wavelet.c - the transforms against PyWavelets, and their
 * algebra.
 *
 * tests/data/wavelet/pywt_transforms.txt.gz holds what pywt computed
 * (scripts/gen-wavelet-fixtures): the DWT of every wavelet in every mode,
 * inverse DWTs, multilevel decompositions and reconstructions, SWTs and
 * ISWTs.  Each array must agree to 1e-12 relative to its largest value.
 * Beyond the fixtures: perfect reconstruction of the SWT on lengths that
 * are not multiples of 2^level (which pywt refuses), the extension modes
 * on a hand-made signal, the level limits and the errors.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "check.h"
#include "bt_wavelet.h"

/* Agreement asked of every array, relative to its largest magnitude. */
#define PYWT_RTOL 1e-12
/* Longest fixture line, bytes. */
#define LINE_MAX_BYTES (1 << 20)
/* Most values in one fixture array. */
#define MAX_VALUES 4096

/* Largest |a - b| over N values, relative to the largest |b| (or 1). */
static double
rel_err(const double *a, const double *b, size_t n)
{
	double e = 0, m = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (fabs(a[i] - b[i]) > e || isnan(a[i]))
			e = isnan(a[i]) ? INFINITY : fabs(a[i] - b[i]);
		if (fabs(b[i]) > m)
			m = fabs(b[i]);
	}
	return e / (m > 0 ? m : 1);
}

/* One fixture record. */
struct rec {
	char kind[16], wavelet[16], mode[16], tag[16];
	unsigned level;
	size_t n;
	double v[MAX_VALUES];
};

static int
parse(char *line, struct rec *r)
{
	char *p, *end;
	size_t i;
	int used;

	if (sscanf(line, "%15s %15s %15s %u %15s %zu%n", r->kind, r->wavelet,
		   r->mode, &r->level, r->tag, &r->n, &used) != 6 || r->n > MAX_VALUES)
		return 0;
	p = line + used;
	for (i = 0; i < r->n; i++) {
		r->v[i] = strtod(p, &end);
		if (end == p)
			return 0;
		p = end;
	}
	return 1;
}

/* The inputs the fixtures refer to, kept as they are met. */
static struct rec x17, x30, x101, x48, ia, id;
static struct rec band[BT_WAVELET_MAX_LEVEL + 2];

static const struct rec *
signal_for(unsigned n)
{
	switch (n) {
	case 17: return &x17;
	case 30: return &x30;
	case 101: return &x101;
	case 48: return &x48;
	default: return NULL;
	}
}

static void
expect(const char *what, const struct rec *r, const double *got, size_t n)
{
	double e = n == r->n ? rel_err(got, r->v, n) : INFINITY;

	CHECK(e <= PYWT_RTOL, "%s %s %s level %u %s: %zu values (pywt %zu), "
	      "rel. error %.3g", what, r->wavelet, r->mode, r->level, r->tag,
	      n, r->n, e);
}

static size_t counts[8];

static void
fixtures(const char *path)
{
	static char line[LINE_MAX_BYTES];
	static struct rec r;
	static double out[2 * MAX_VALUES], out2[2 * MAX_VALUES], work[4 * MAX_VALUES];
	static double coeffs[8 * MAX_VALUES];
	size_t lens[BT_WAVELET_MAX_LEVEL + 1], nout, total, off;
	const struct bt_wavelet *w = NULL;
	enum bt_wavelet_mode mode = BT_WAVELET_ZERO;
	const struct rec *x;
	gzFile gz = gzopen(path, "rb");
	unsigned k, nbands = 0;

	CHECK(gz != NULL, "open the pywt fixtures");
	if (gz == NULL) {
		printf("(cannot open %s)\n", path);
		return;
	}
	while (gzgets(gz, line, sizeof line) != NULL) {
		if (line[0] == '#')
			continue;
		if (!parse(line, &r)) {
			CHECK(0, "a fixture line parses");
			break;
		}
		if (strcmp(r.kind, "input") == 0) {
			struct rec *dst = strcmp(r.tag, "x17") == 0 ? &x17
				: strcmp(r.tag, "x30") == 0 ? &x30
				: strcmp(r.tag, "x101") == 0 ? &x101
				: strcmp(r.tag, "x48") == 0 ? &x48
				: strcmp(r.tag, "a") == 0 ? &ia : &id;
			memcpy(dst, &r, sizeof r);
			continue;
		}
		w = bt_wavelet_find(r.wavelet);
		if (w == NULL) {
			CHECK(0, "%s", r.wavelet);
			continue;
		}
		if (strcmp(r.mode, "-") != 0
		    && bt_wavelet_mode_parse(r.mode, &mode) != BT_OK) {
			CHECK(0, "%s", r.mode);
			continue;
		}
		if (strcmp(r.kind, "dwt") == 0) {
			x = signal_for(r.level);
			if (x == NULL) {
				CHECK(0, "a dwt fixture names its signal");
				continue;
			}
			bt_wavelet_dwt(w, mode, x->v, x->n, out, out2);
			nout = bt_wavelet_dwt_length(x->n, bt_wavelet_filter_length(w), mode);
			expect("dwt", &r, strcmp(r.tag, "a") == 0 ? out : out2, nout);
			counts[0]++;
		} else if (strcmp(r.kind, "idwt") == 0) {
			CHECK(bt_wavelet_idwt(w, mode, ia.v, id.v, ia.n, out) == BT_OK,
			      "idwt accepts the fixture's coefficients");
			nout = bt_wavelet_idwt_length(ia.n, bt_wavelet_filter_length(w), mode);
			expect("idwt", &r, out, nout);
			counts[1]++;
		} else if (strcmp(r.kind, "wavedec") == 0) {
			/* Bands come in order; decompose once, at band 0. */
			k = (unsigned)atoi(r.tag);
			if (k == 0) {
				total = bt_wavelet_wavedec_lengths(x101.n, bt_wavelet_filter_length(w),
								   mode, r.level, lens);
				CHECK(total <= sizeof coeffs / sizeof coeffs[0], "wavedec size");
				bt_wavelet_wavedec(w, mode, x101.v, x101.n, r.level, coeffs, work);
			}
			for (off = 0, nbands = 0; nbands < k; nbands++)
				off += lens[nbands];
			expect("wavedec", &r, coeffs + off, lens[k]);
			memcpy(&band[k], &r, sizeof r);
			counts[2]++;
		} else if (strcmp(r.kind, "waverec") == 0) {
			/* Reconstruct the bands pywt shrank: soft, 0.004. */
			for (off = lens[0], k = 1; k <= r.level; k++) {
				size_t i;

				for (i = 0; i < lens[k]; i++, off++) {
					double c = coeffs[off], m = fabs(c);

					coeffs[off] = m > 0.004 ? c * (1 - 0.004 / m) : 0;
				}
			}
			CHECK(bt_wavelet_waverec(w, mode, coeffs, lens, r.level, out,
						 &nout, work) == BT_OK, "waverec runs");
			expect("waverec", &r, out, nout);
			counts[3]++;
		} else if (strcmp(r.kind, "swt") == 0) {
			k = (unsigned)atoi(r.tag);
			if (k == 0)
				CHECK(bt_wavelet_swt(w, x48.v, x48.n, r.level, coeffs, work)
				      == BT_OK, "swt runs");
			expect("swt", &r, coeffs + (size_t)k * x48.n, x48.n);
			counts[4]++;
		} else if (strcmp(r.kind, "iswt") == 0) {
			size_t i;

			/* pywt shrank the details: hard, 0.005. */
			for (i = x48.n; i < (r.level + 1) * x48.n; i++)
				if (fabs(coeffs[i]) < 0.005)
					coeffs[i] = 0;
			CHECK(bt_wavelet_iswt(w, coeffs, x48.n, r.level, out, work) == BT_OK,
			      "iswt runs");
			expect("iswt", &r, out, x48.n);
			counts[5]++;
		}
	}
	gzclose(gz);
	printf("pywt fixtures: %zu dwt, %zu idwt, %zu wavedec, %zu waverec, "
	       "%zu swt, %zu iswt arrays\n", counts[0], counts[1], counts[2],
	       counts[3], counts[4], counts[5]);
	CHECK(counts[0] >= 2 * 106 * 9 && counts[1] > 0 && counts[2] > 0
	      && counts[3] > 0 && counts[4] > 0 && counts[5] > 0,
	      "every kind of fixture was compared");
}

/* The SWT reconstructs any length, not only multiples of 2^level. */
static void
swt_any_length(void)
{
	static const char *const names[] = {"haar", "db4", "sym8", "coif3", "bior3.5",
					    "rbio2.8"};
	static const size_t lengths[] = {1, 2, 7, 97, 250, 1001};
	static double x[1001], c[11 * 1001], y[1001], work[1001];
	size_t i, a, b;
	unsigned level;
	char msg[96];

	for (a = 0; a < sizeof names / sizeof names[0]; a++) {
		const struct bt_wavelet *w = bt_wavelet_find(names[a]);

		for (b = 0; b < sizeof lengths / sizeof lengths[0]; b++) {
			size_t n = lengths[b];
			double e = 0;

			for (i = 0; i < n; i++)
				x[i] = 3.7182 + 0.01 * sin(0.37 * (double)i) + (i > n / 3 ? 0.021 : 0);
			level = bt_wavelet_swt_max_level(n);
			if (level == 0) {
				CHECK(bt_wavelet_swt(w, x, n, 1, c, work) == BT_EINVAL,
				      "swt of one sample is refused");
				continue;
			}
			if (level > 5)
				level = 5;
			bt_wavelet_swt(w, x, n, level, c, work);
			bt_wavelet_iswt(w, c, n, level, y, work);
			for (i = 0; i < n; i++)
				if (fabs(y[i] - x[i]) > e)
					e = fabs(y[i] - x[i]);
			snprintf(msg, sizeof msg, "iswt(swt(x)) = x: %s, N %zu, level %u (%.3g)",
				 names[a], n, level, e);
			CHECK(e < 1e-12, "%s", msg);
		}
	}
}

/* wavedec then waverec gives the signal back, its length odd or even. */
static void
wavedec_round_trip(void)
{
	static double x[777], c[4000], y[1600], work[4000];
	size_t lens[BT_WAVELET_MAX_LEVEL + 1], n, i, nout;
	int m;
	char msg[96];

	for (n = 776; n <= 777; n++) {
		for (i = 0; i < n; i++)
			x[i] = 3.1 + 0.5 * cos(0.021 * (double)i * (double)i / 100);
		for (m = 0; m < BT_WAVELET_NMODES; m++) {
			const struct bt_wavelet *w = bt_wavelet_find("sym5");
			unsigned level = bt_wavelet_max_level(n, 10);
			double e = 0;

			bt_wavelet_wavedec_lengths(n, 10, (enum bt_wavelet_mode)m, level, lens);
			bt_wavelet_wavedec(w, (enum bt_wavelet_mode)m, x, n, level, c, work);
			bt_wavelet_waverec(w, (enum bt_wavelet_mode)m, c, lens, level, y,
					   &nout, work);
			for (i = 0; i < n; i++)
				if (fabs(y[i] - x[i]) > e)
					e = fabs(y[i] - x[i]);
			snprintf(msg, sizeof msg, "waverec(wavedec(x)) = x: %s, N %zu (%.3g)",
				 bt_wavelet_mode_name((enum bt_wavelet_mode)m), n, e);
			/* x lies within [2.6, 3.6]: relative 1e-12. */
			CHECK(e < 3.6e-12 && nout >= n && nout <= n + 1, "%s", msg);
		}
	}
}

static void
extension_modes(void)
{
	/* x = 1.5, 2.25, 4.125: the extended values at -4..6 by hand. */
	static const double x[] = {1.5, 2.25, 4.125};
	static const struct {
		enum bt_wavelet_mode mode;
		double v[11];	/* k = -4 .. 6 */
	} cases[] = {
		{BT_WAVELET_ZERO, {0, 0, 0, 0, 1.5, 2.25, 4.125, 0, 0, 0, 0}},
		{BT_WAVELET_CONSTANT, {1.5, 1.5, 1.5, 1.5, 1.5, 2.25, 4.125, 4.125, 4.125, 4.125, 4.125}},
		{BT_WAVELET_SYMMETRIC, {4.125, 4.125, 2.25, 1.5, 1.5, 2.25, 4.125, 4.125, 2.25, 1.5, 1.5}},
		{BT_WAVELET_REFLECT, {1.5, 2.25, 4.125, 2.25, 1.5, 2.25, 4.125, 2.25, 1.5, 2.25, 4.125}},
		{BT_WAVELET_PERIODIC, {4.125, 1.5, 2.25, 4.125, 1.5, 2.25, 4.125, 1.5, 2.25, 4.125, 1.5}},
		{BT_WAVELET_SMOOTH, {-1.5, -0.75, 0, 0.75, 1.5, 2.25, 4.125, 6, 7.875, 9.75, 11.625}},
		{BT_WAVELET_ANTISYMMETRIC, {4.125, -4.125, -2.25, -1.5, 1.5, 2.25, 4.125, -4.125, -2.25, -1.5, 1.5}},
		/* ext[-k] = 2 x1 - ext[k] and ext[n-1+k] = 2 xn - ext[n-1-k]. */
		{BT_WAVELET_ANTIREFLECT, {-3.75, -3, -1.125, 0.75, 1.5, 2.25, 4.125, 6, 6.75, 7.5, 9.375}},
	};
	size_t c, k;
	char msg[80];

	for (c = 0; c < sizeof cases / sizeof cases[0]; c++)
		for (k = 0; k < 11; k++) {
			double v = bt_wavelet_extend(x, 3, (long)k - 4, cases[c].mode);

			snprintf(msg, sizeof msg, "%s extension at %ld: %g, want %g",
				 bt_wavelet_mode_name(cases[c].mode), (long)k - 4, v,
				 cases[c].v[k]);
			CHECK(fabs(v - cases[c].v[k]) < 1e-15, "%s", msg);
		}
}

static void
lookups_and_limits(void)
{
	enum bt_wavelet_mode mode;
	double x[4] = {1, 2, 3, 4}, c[8] = {0}, work[16];
	size_t i, n;

	CHECK(bt_wavelet_find("db4") != NULL && bt_wavelet_filter_length(bt_wavelet_find("db4")) == 8,
	      "db4 has 8 taps");
	CHECK(bt_wavelet_find("sym20") != NULL && bt_wavelet_find("coif17") != NULL
	      && bt_wavelet_find("bior6.8") != NULL && bt_wavelet_find("rbio3.1") != NULL,
	      "every family is there");
	CHECK(bt_wavelet_find("db0") == NULL && bt_wavelet_find("morl") == NULL,
	      "unknown wavelets are not found");
	for (i = 0, n = 0; i < bt_wavelet_count(); i++)
		n += bt_wavelet_find(bt_wavelet_name_at(i)) != NULL;
	CHECK(n == bt_wavelet_count() && bt_wavelet_name_at(n) == NULL, "listing");
	CHECK(bt_wavelet_mode_parse("antireflect", &mode) == BT_OK
	      && mode == BT_WAVELET_ANTIREFLECT, "mode names");
	CHECK(bt_wavelet_mode_parse("sym", &mode) == BT_EINVAL, "unknown mode");
	CHECK(strcmp(bt_wavelet_mode_name(BT_WAVELET_SMOOTH), "smooth") == 0,
	      "mode name");
	/* pywt.dwt_max_level */
	CHECK(bt_wavelet_max_level(1000, 2) == 9 && bt_wavelet_max_level(1000, 16) == 6
	      && bt_wavelet_max_level(14, 16) == 0 && bt_wavelet_max_level(15, 16) == 0
	      && bt_wavelet_max_level(30, 16) == 1 && bt_wavelet_max_level(1024, 2) == 10,
	      "dwt_max_level");
	CHECK(bt_wavelet_swt_max_level(1) == 0 && bt_wavelet_swt_max_level(64) == 6
	      && bt_wavelet_swt_max_level(127) == 6, "swt max level");
	CHECK(bt_wavelet_dwt_length(17, 8, BT_WAVELET_SYMMETRIC) == 12
	      && bt_wavelet_dwt_length(17, 8, BT_WAVELET_PERIODIZATION) == 9,
	      "dwt lengths");
	CHECK(bt_wavelet_dwt(bt_wavelet_find("haar"), BT_WAVELET_ZERO, x, 0, c, c + 4)
	      == BT_EINVAL, "dwt of nothing");
	CHECK(bt_wavelet_idwt(bt_wavelet_find("db4"), BT_WAVELET_ZERO, c, c, 3, work)
	      == BT_EINVAL, "idwt of fewer than F/2 coefficients");
	CHECK(bt_wavelet_wavedec(bt_wavelet_find("haar"), BT_WAVELET_ZERO, x, 4, 0, c, work)
	      == BT_EINVAL, "wavedec to level 0");
	CHECK(bt_wavelet_swt(bt_wavelet_find("haar"), x, 4, 3, c, work) == BT_EINVAL,
	      "swt deeper than log2 N");
}

int
main(void)
{
	const char *src = getenv("BT_SRCDIR");
	char path[4096];

	snprintf(path, sizeof path, "%s/tests/data/wavelet/pywt_transforms.txt.gz",
		 src ? src : ".");
	fixtures(path);
	swt_any_length();
	wavedec_round_trip();
	extension_modes();
	lookups_and_limits();
	return check_report();
}
