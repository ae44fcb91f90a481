/* test_bt_denoise.c - shrinkage denoising against the PyWavelets recipe,
 * the block streamer against the whole signal, and the rules by hand.
 *
 * tests/data/wavelet/pywt_denoise.txt (scripts/gen-denoise-fixtures)
 * holds noisy signals and what pywt.wavedec / pywt.swt, pywt.threshold
 * and pywt.waverec / pywt.iswt give with thresholds numpy computed; every
 * recipe must agree to 1e-12 relative.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "bt_denoise.h"

#define PYWT_RTOL 1e-12
#define MAX_N 600
#define LINE_BYTES 65536

static double
max_abs_diff(const double *a, const double *b, size_t n)
{
	double e = 0;
	size_t i;

	for (i = 0; i < n; i++)
		if (!(fabs(a[i] - b[i]) <= e))
			e = fabs(a[i] - b[i]);
	return e;
}

static double sig[2][MAX_N];
static size_t sig_n[2];
static char sig_name[2][16];

static double *
read_values(char *p, size_t n, double *v)
{
	char *end;
	size_t i;

	for (i = 0; i < n; i++) {
		v[i] = strtod(p, &end);
		if (end == p)
			return NULL;
		p = end;
	}
	return v;
}

static void
pywt_recipes(const char *path)
{
	static char line[LINE_BYTES];
	static double ref[MAX_N], y[MAX_N];
	FILE *f = fopen(path, "r");
	char name[16], tr[8], wname[16], mode[16], rule[16], shrink[16], msg[200];
	double sigma, fixed;
	unsigned level;
	int perlevel, used, nsig = 0, ncases = 0;
	size_t n, k;

	CHECK(f != NULL, "open the pywt denoising fixtures");
	if (f == NULL)
		return;
	while (fgets(line, sizeof line, f) != NULL) {
		struct bt_denoise_opts o;

		if (strncmp(line, "signal ", 7) == 0 && nsig < 2) {
			if (sscanf(line, "signal %15s %zu%n", sig_name[nsig], &sig_n[nsig],
				   &used) == 2 && sig_n[nsig] <= MAX_N
			    && read_values(line + used, sig_n[nsig], sig[nsig]))
				nsig++;
			continue;
		}
		if (strncmp(line, "denoise ", 8) != 0)
			continue;
		if (sscanf(line, "denoise %15s %7s %15s %15s %u %15s %15s %lf %d %lf %zu%n",
			   name, tr, wname, mode, &level, rule, shrink, &sigma, &perlevel,
			   &fixed, &n, &used) != 11 || n > MAX_N
		    || !read_values(line + used, n, ref)) {
			CHECK(0, "a denoising fixture parses");
			continue;
		}
		k = strcmp(name, sig_name[0]) == 0 ? 0 : 1;
		bt_denoise_opts_init(&o);
		o.wavelet = bt_wavelet_find(wname);
		o.transform = strcmp(tr, "dwt") == 0 ? BT_DENOISE_DWT : BT_DENOISE_SWT;
		o.level = level;
		o.sigma = sigma;
		o.sigma_per_level = perlevel;
		bt_wavelet_mode_parse(mode, &o.mode);
		bt_denoise_shrink_parse(shrink, &o.shrink);
		if (strcmp(rule, "fixed") == 0) {
			o.rule = BT_DENOISE_FIXED;
			o.threshold = fixed;
		} else {
			bt_denoise_rule_parse(rule, &o.rule);
		}
		CHECK(bt_denoise_signal(&o, sig[k], sig_n[k], y) == BT_OK, "denoise runs");
		snprintf(msg, sizeof msg, "pywt recipe %s %s %s %s level %u %s %s: "
			 "max |diff| %.3g", name, tr, wname, mode, level, rule, shrink,
			 max_abs_diff(y, ref, n));
		/* The signals are about 3.7: 1e-12 relative. */
		CHECK(n == sig_n[k] && max_abs_diff(y, ref, n) <= 3.8 * PYWT_RTOL, "%s", msg);
		ncases++;
	}
	fclose(f);
	CHECK(nsig == 2 && ncases >= 14, "every recipe was compared");
}

/* With the thresholds fixed, a stream denoised in blocks equals the whole
 * signal denoised at once. */
static void
stream_equals_whole(void)
{
	enum { N = 5000 };
	static double x[N], whole[N], out[N];
	static const enum bt_denoise_transform tr[] = {BT_DENOISE_DWT, BT_DENOISE_SWT};
	static const char *const wn[] = {"haar", "sym8"};
	struct bt_denoise_opts o;
	struct bt_denoise *dn;
	size_t i, k, t, wi;
	unsigned long s = 12345;
	char msg[160];

	for (i = 0; i < N; i++) {
		s = s * 6364136223846793005UL + 1442695040888963407UL;
		x[i] = 3.6 + (i % 700 < 90 ? -0.031 : 0) + 0.004 * ((double)(s >> 11) / 9007199254740992.0 - 0.5);
	}
	for (t = 0; t < 2; t++)
		for (wi = 0; wi < 2; wi++) {
			double e = 0;

			bt_denoise_opts_init(&o);
			o.transform = tr[t];
			o.wavelet = bt_wavelet_find(wn[wi]);
			o.level = 4;
			o.rule = BT_DENOISE_FIXED;
			o.threshold = 0.0042;
			o.shrink = BT_DENOISE_SOFT;
			CHECK(bt_denoise_signal(&o, x, N, whole) == BT_OK, "whole signal");
			o.block = 300;
			CHECK(bt_denoise_alloc(&dn, &o, 1) == BT_OK, "alloc");
			for (i = 0, k = 0; i < N; i++) {
				bt_denoise_push(dn, x + i);
				while (bt_denoise_ready(dn) > 0)
					out[k++] = bt_denoise_take(dn)[0];
			}
			CHECK(bt_denoise_finish(dn) == BT_OK, "finish");
			while (bt_denoise_ready(dn) > 0)
				out[k++] = bt_denoise_take(dn)[0];
			for (i = 0; i < N; i++)
				if (fabs(out[i] - whole[i]) > e)
					e = fabs(out[i] - whole[i]);
			snprintf(msg, sizeof msg, "%s %s: blocks of %zu (margin %zu) equal "
				 "the whole signal (%.3g), %zu samples",
				 tr[t] == BT_DENOISE_DWT ? "dwt" : "swt", wn[wi],
				 bt_denoise_block(dn), bt_denoise_margin(dn), e, k);
			CHECK(k == N && e < 1e-9, "%s", msg);
			bt_denoise_free(dn);
		}
}

/* Several columns at once, each with its own noise level. */
static void
columns_apart(void)
{
	enum { N = 800 };
	static double x[N][2], a[N], b[N], ya[N], yb[N];
	struct bt_denoise_opts o;
	struct bt_denoise *dn;
	size_t i, k = 0;
	const double *v;

	for (i = 0; i < N; i++) {
		a[i] = x[i][0] = 3.5 + 0.01 * sin(0.3 * (double)i) * sin(0.0177 * (double)i * (double)i);
		b[i] = x[i][1] = -1.25 + 0.2 * cos(0.71 * (double)i);
	}
	bt_denoise_opts_init(&o);
	bt_denoise_signal(&o, a, N, ya);
	bt_denoise_signal(&o, b, N, yb);
	bt_denoise_alloc(&dn, &o, 2);
	for (i = 0; i < N; i++)
		bt_denoise_push(dn, x[i]);
	CHECK(bt_denoise_finish(dn) == BT_OK && bt_denoise_ready(dn) == N, "two columns");
	CHECK(bt_denoise_level(dn) == 6, "default level 6");
	while (bt_denoise_ready(dn) > 0) {
		v = bt_denoise_take(dn);
		if (v[0] != ya[k] || v[1] != yb[k])
			break;
		k++;
	}
	CHECK(k == N, "each column as if alone");
	CHECK(fabs(bt_denoise_sigma(dn, 0) - bt_denoise_sigma(dn, 1)) > 1e-3,
	      "a noise level per column");
	bt_denoise_free(dn);
}

static void
rules_by_hand(void)
{
	double d[] = {0.3, -1.7, 2.9, -0.05, 0.8, -4.1, 0.12, 1.1};
	double work[8];

	/* median of |d| = (0.8 + 1.1) / 2 */
	CHECK(fabs(bt_denoise_mad_sigma(d, 8, work) - 0.95 / BT_DENOISE_MAD_NORMAL) < 1e-15,
	      "MAD sigma, even count");
	CHECK(fabs(bt_denoise_mad_sigma(d, 7, work) - 0.8 / BT_DENOISE_MAD_NORMAL) < 1e-15,
	      "MAD sigma, odd count");
	CHECK(fabs(bt_denoise_threshold(BT_DENOISE_UNIVERSAL, d, 8, 0.5, 1000, work)
		   - 0.5 * sqrt(2 * log(1000.0))) < 1e-15, "universal");
	CHECK(fabs(bt_denoise_threshold(BT_DENOISE_MINIMAX, d, 8, 0.5, 1024, work)
		   - 0.5 * (0.3936 + 0.1829 * 10)) < 1e-15, "minimax");
	CHECK(bt_denoise_threshold(BT_DENOISE_MINIMAX, d, 8, 0.5, 32, work) == 0,
	      "minimax below 33 samples");
	/* mean square 30.0669 / 8; sigma 1: sigma_X = sqrt(30.0669 / 8 - 1) */
	CHECK(fabs(bt_denoise_threshold(BT_DENOISE_BAYES, d, 8, 1, 0, work)
		   - 1 / sqrt(30.0669 / 8 - 1)) < 1e-14, "bayes");
	CHECK(bt_denoise_threshold(BT_DENOISE_BAYES, d, 8, 10, 0, work) == 4.1,
	      "bayes kills a level of noise only");
	/* Dense level ((30.0669 - 8) / 8 > 3^1.5 / sqrt 8): the SURE
	 * minimiser.  Risks 8 - 2k + cumsum_k + (8 - k) x_k^2 at the sorted
	 * x^2 = 0.0025, 0.0144, 0.09, 0.64, 1.21, ...: 6.02, 4.1033, 2.5569,
	 * 3.3069, 3.5869, ...: the least at k = 3, t = 0.3. */
	CHECK(fabs(bt_denoise_threshold(BT_DENOISE_SURE, d, 8, 1, 0, work) - 0.3) < 1e-15,
	      "SURE minimiser");
	/* Sparse level: the universal threshold of the level. */
	CHECK(fabs(bt_denoise_threshold(BT_DENOISE_SURE, d, 8, 3, 0, work)
		   - 3 * sqrt(2 * log(8.0))) < 1e-14, "SURE falls back to universal");
	CHECK(bt_denoise_shrink(0.5, 0.2, BT_DENOISE_SOFT) == 0.5 * (1 - 0.2 / 0.5)
	      && bt_denoise_shrink(-0.1, 0.2, BT_DENOISE_SOFT) == 0
	      && bt_denoise_shrink(0, 0.2, BT_DENOISE_SOFT) == 0, "soft");
	CHECK(bt_denoise_shrink(-0.2, 0.2, BT_DENOISE_HARD) == -0.2
	      && bt_denoise_shrink(0.19, 0.2, BT_DENOISE_HARD) == 0, "hard keeps |x| = lambda");
	CHECK(bt_denoise_shrink(0.5, 0.2, BT_DENOISE_GARROTE) == 0.5 * (1 - 0.04 / 0.25)
	      && bt_denoise_shrink(0.1, 0.2, BT_DENOISE_GARROTE) == 0, "garrote");
}

static void
errors(void)
{
	struct bt_denoise_opts o;
	struct bt_denoise *dn;
	double x[40], nan = NAN;
	size_t i;
	enum bt_denoise_rule r;
	enum bt_denoise_shrink s;

	for (i = 0; i < 40; i++)
		x[i] = 3.3 + 0.001 * (double)(i % 7);
	bt_denoise_opts_init(&o);
	CHECK(bt_denoise_alloc(&dn, &o, 0) == BT_EINVAL && dn == NULL, "no columns");
	o.level = 6;
	CHECK(bt_denoise_signal(&o, x, 40, x) == BT_ERANGE, "level 6 on 40 samples");
	o.level = 0;
	CHECK(bt_denoise_signal(&o, x, 40, x) == BT_OK, "the default level adapts");
	CHECK(bt_denoise_signal(&o, x, 1, x) == BT_ERANGE, "one sample");
	CHECK(bt_denoise_signal(&o, x, 0, x) == BT_EEMPTY, "no samples");
	bt_denoise_alloc(&dn, &o, 1);
	CHECK(bt_denoise_push(dn, &nan) == BT_ENONFINITE && bt_denoise_length(dn) == 0,
	      "NaN refused");
	CHECK(bt_denoise_finish(dn) == BT_EEMPTY, "finish with nothing");
	bt_denoise_free(dn);
	bt_denoise_free(NULL);
	CHECK(bt_denoise_rule_parse("visu", &r) == BT_EINVAL
	      && bt_denoise_rule_parse("bayes", &r) == BT_OK && r == BT_DENOISE_BAYES,
	      "rule names");
	CHECK(bt_denoise_shrink_parse("firm", &s) == BT_EINVAL
	      && bt_denoise_shrink_parse("garrote", &s) == BT_OK && s == BT_DENOISE_GARROTE,
	      "shrink names");
}

int
main(void)
{
	const char *src = getenv("BT_SRCDIR");
	char path[4096];

	snprintf(path, sizeof path, "%s/tests/data/wavelet/pywt_denoise.txt",
		 src ? src : ".");
	pywt_recipes(path);
	stream_equals_whole();
	columns_apart();
	rules_by_hand();
	errors();
	return check_report();
}
