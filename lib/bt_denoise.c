/* bt_denoise.c - wavelet shrinkage: thresholds, shrinkage, and the block
 * streamer (bt_denoise.h).
 *
 * References:
 *   D. L. Donoho and I. M. Johnstone, "Ideal spatial adaptation by wavelet
 *     shrinkage", Biometrika 81 (1994) 425-455: the universal threshold
 *     sigma sqrt(2 ln n) (VisuShrink, sec. 1.3), the minimax thresholds
 *     (Table 2) and sigma from the MAD of the finest details (sec. 4.2).
 *   D. L. Donoho and I. M. Johnstone, "Adapting to unknown smoothness via
 *     wavelet shrinkage", J. Amer. Statist. Assoc. 90 (1995) 1200-1224:
 *     SURE (eq. 11) and the hybrid SureShrink rule (sec. 2.3).
 *   S. G. Chang, B. Yu and M. Vetterli, "Adaptive wavelet thresholding for
 *     image denoising and compression", IEEE Trans. Image Process. 9
 *     (2000) 1532-1546: BayesShrink, T = sigma^2 / sigma_X (eq. 12).
 *   H.-Y. Gao, "Wavelet shrinkage denoising using the non-negative
 *     garrote", J. Comput. Graph. Statist. 7 (1998) 469-488.
 *   R. R. Coifman and D. L. Donoho, "Translation-invariant de-noising",
 *     in Wavelets and Statistics, Springer (1995) 125-150.
 *   I. M. Johnstone and B. W. Silverman, "Wavelet threshold estimators for
 *     data with correlated noise", J. R. Statist. Soc. B 59 (1997)
 *     319-351: a noise level per level.
 */
#include <config.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>

#include "bt_denoise.h"
#include "bt_rowq.h"

/* Minimax thresholds for soft shrinkage, sigma (MINIMAX_A + MINIMAX_B
 * log2 n) for n > MINIMAX_MIN_N and 0 below: the fit of Donoho and
 * Johnstone's Table 2 used by MATLAB's thselect('minimaxi'). */
#define MINIMAX_A 0.3936
#define MINIMAX_B 0.1829
#define MINIMAX_MIN_N 32

struct bt_denoise {
	struct bt_denoise_opts o;
	size_t ncols, f, block, margin, cap;
	unsigned level;		/* the nominal level (blocks) */
	unsigned used_level;	/* the level of the last denoising */
	int blocks;		/* at least one block was denoised */
	int sigma_known;
	/* Samples [base, base + count) of every column, column-major. */
	double *buf;
	size_t base, count, next_out;
	/* Ready output, row-major: rows [0, nready), taken from `taken`. */
	double *out;
	size_t nready, taken, total;
	/* sigma[col * (BT_WAVELET_MAX_LEVEL + 1) + j], j = 1 .. level. */
	double *sigma;
	/* Workspace. */
	double *coeffs, *work, *ext, *rec, *scratch, *y;
};

void
bt_denoise_opts_init(struct bt_denoise_opts *o)
{
	memset(o, 0, sizeof *o);
	o->wavelet = bt_wavelet_find(BT_DENOISE_DEFAULT_WAVELET);
	o->mode = BT_WAVELET_SYMMETRIC;
	o->level = 0;
	o->transform = BT_DENOISE_SWT;
	o->rule = BT_DENOISE_UNIVERSAL;
	o->shrink = BT_DENOISE_HARD;
	o->threshold = NAN;
	o->sigma = NAN;
	o->block = BT_DENOISE_DEFAULT_BLOCK;
}

enum bt_status
bt_denoise_rule_parse(const char *name, enum bt_denoise_rule *rule)
{
	static const char *const names[] = {"universal", "sure", "bayes", "minimax"};
	size_t i;

	for (i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(name, names[i]) == 0) {
			*rule = (enum bt_denoise_rule)i;
			return BT_OK;
		}
	return BT_EINVAL;
}

enum bt_status
bt_denoise_shrink_parse(const char *name, enum bt_denoise_shrink *shrink)
{
	static const char *const names[] = {"soft", "hard", "garrote"};
	size_t i;

	for (i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(name, names[i]) == 0) {
			*shrink = (enum bt_denoise_shrink)i;
			return BT_OK;
		}
	return BT_EINVAL;
}

double
bt_denoise_mad_sigma(const double *x, size_t n, double *work)
{
	size_t i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		work[i] = fabs(x[i]);
	/* Quickselect; the mean of the two middle values for even N. */
	return gsl_stats_median(work, 1, n) / BT_DENOISE_MAD_NORMAL;
}

/* SureShrink (Donoho & Johnstone 1995): on the standardised coefficients
 * x = d / sigma, SURE(t) = n - 2 #{|x_i| <= t} + sum min(x_i^2, t^2)
 * (eq. 11), minimised over t in {0, |x_i|} up to the universal threshold;
 * the hybrid rule uses the universal threshold when the level is sparse,
 * s^2 = (sum x_i^2 - n) / n <= (log2 n)^(3/2) / sqrt(n) (sec. 2.3). */
static double
sure_threshold(const double *d, size_t n, double sigma, double *work)
{
	double tu = sqrt(2 * log((double)n)), ss = 0, cum = 0, best, t, risk;
	size_t i;

	if (n == 0 || !(sigma > 0))
		return 0;
	for (i = 0; i < n; i++) {
		double x = d[i] / sigma;

		work[i] = x * x;
		ss += work[i];
	}
	if ((ss - (double)n) / (double)n
	    <= pow(log2((double)n), 1.5) / sqrt((double)n))
		return sigma * tu;
	gsl_sort(work, 1, n);
	best = (double)n;	/* t = 0 */
	t = 0;
	for (i = 0; i < n; i++) {
		cum += work[i];
		risk = (double)n - 2.0 * (double)(i + 1) + cum
		       + (double)(n - i - 1) * work[i];
		if (risk < best) {
			best = risk;
			t = sqrt(work[i]);
		}
	}
	return sigma * (t < tu ? t : tu);
}

double
bt_denoise_threshold(enum bt_denoise_rule rule, const double *d, size_t n,
		     double sigma, size_t nsignal, double *work)
{
	double sy2 = 0, sx, m = 0;
	size_t i;

	switch (rule) {
	case BT_DENOISE_UNIVERSAL:
		return nsignal > 1 ? sigma * sqrt(2 * log((double)nsignal)) : 0;
	case BT_DENOISE_MINIMAX:
		return nsignal > MINIMAX_MIN_N
		       ? sigma * (MINIMAX_A + MINIMAX_B * log2((double)nsignal)) : 0;
	case BT_DENOISE_SURE:
		return sure_threshold(d, n, sigma, work);
	case BT_DENOISE_BAYES:
		/* Chang, Yu & Vetterli (2000): sigma_X^2 = max(sigma_Y^2 -
		 * sigma^2, 0) with sigma_Y^2 the mean square of the level;
		 * sigma_X = 0 removes the whole level. */
		if (n == 0)
			return 0;
		for (i = 0; i < n; i++) {
			sy2 += d[i] * d[i];
			if (fabs(d[i]) > m)
				m = fabs(d[i]);
		}
		sy2 /= (double)n;
		sx = sqrt(sy2 > sigma * sigma ? sy2 - sigma * sigma : 0);
		return sx > 0 ? sigma * sigma / sx : m;
	case BT_DENOISE_FIXED:
		break;
	}
	return NAN;
}

double
bt_denoise_shrink(double x, double lambda, enum bt_denoise_shrink shrink)
{
	double m = fabs(x), k;

	switch (shrink) {
	case BT_DENOISE_SOFT:
		if (m == 0)
			return 0;
		k = 1 - lambda / m;
		return k > 0 ? x * k : 0;
	case BT_DENOISE_HARD:
		return m < lambda ? 0 : x;
	case BT_DENOISE_GARROTE:
		if (m == 0)
			return 0;
		k = 1 - lambda * lambda / (m * m);
		return k > 0 ? x * k : 0;
	}
	return x;
}

/* --- The denoiser ------------------------------------------------------- */

/* How far (samples) a kept sample reaches into the signal through the
 * analysis and the synthesis of LEVEL levels with filters of length F:
 * less than (F - 1) 2^L each, so 2 (F - 1) 2^L, a multiple of 2^L. */
static size_t
reach(size_t f, unsigned level)
{
	size_t p = (size_t)1 << level;

	return 2 * (f - 1) * p;
}

/* Padding of the stationary transform at each end of a signal. */
static size_t
swt_pad(size_t f, unsigned level)
{
	return (f - 1) * ((size_t)1 << level);
}

enum bt_status
bt_denoise_alloc(struct bt_denoise **dnp, const struct bt_denoise_opts *opts,
		 size_t ncols)
{
	struct bt_denoise *dn;
	size_t p, swt_len, n;
	unsigned level = opts->level ? opts->level : BT_DENOISE_DEFAULT_LEVEL;

	*dnp = NULL;
	if (ncols == 0 || opts->block == 0 || level > BT_WAVELET_MAX_LEVEL - 2
	    || opts->wavelet == NULL)
		return BT_EINVAL;
	if ((dn = calloc(1, sizeof *dn)) == NULL)
		return BT_ENOMEM;
	dn->o = *opts;
	dn->ncols = ncols;
	dn->level = level;
	dn->f = bt_wavelet_filter_length(opts->wavelet);
	p = (size_t)1 << level;
	dn->margin = reach(dn->f, level);
	/* A block is at least a margin long, so that sliding the window
	 * forward by a block keeps its left margin. */
	dn->block = (opts->block + p - 1) / p * p;
	if (dn->block < dn->margin)
		dn->block = dn->margin;
	dn->cap = dn->block + 2 * dn->margin;
	/* The padded stationary transform of a full window. */
	swt_len = dn->cap + 2 * swt_pad(dn->f, level) + p;
	n = swt_len > dn->cap + 2 * level * dn->f ? swt_len : dn->cap + 2 * level * dn->f;
	dn->buf = malloc(ncols * dn->cap * sizeof *dn->buf);
	dn->out = malloc(ncols * (dn->block + dn->margin) * sizeof *dn->out);
	dn->sigma = malloc(ncols * (BT_WAVELET_MAX_LEVEL + 1) * sizeof *dn->sigma);
	dn->coeffs = malloc((level + 1) * n * sizeof *dn->coeffs);
	dn->work = malloc(bt_wavelet_work_size(n, dn->f) * sizeof *dn->work);
	dn->ext = malloc(n * sizeof *dn->ext);
	dn->rec = malloc((n + dn->f) * 2 * sizeof *dn->rec);
	dn->scratch = malloc(n * sizeof *dn->scratch);
	dn->y = malloc(dn->cap * sizeof *dn->y);
	if (!dn->buf || !dn->out || !dn->sigma || !dn->coeffs || !dn->work
	    || !dn->ext || !dn->rec || !dn->scratch || !dn->y) {
		bt_denoise_free(dn);
		return BT_ENOMEM;
	}
	dn->used_level = 0;
	*dnp = dn;
	return BT_OK;
}

void
bt_denoise_free(struct bt_denoise *dn)
{
	if (dn == NULL)
		return;
	free(dn->buf);
	free(dn->out);
	free(dn->sigma);
	free(dn->coeffs);
	free(dn->work);
	free(dn->ext);
	free(dn->rec);
	free(dn->scratch);
	free(dn->y);
	free(dn);
}

size_t
bt_denoise_margin(const struct bt_denoise *dn)
{
	return dn->margin;
}

size_t
bt_denoise_block(const struct bt_denoise *dn)
{
	return dn->block;
}

size_t
bt_denoise_length(const struct bt_denoise *dn)
{
	return dn->total;
}

unsigned
bt_denoise_level(const struct bt_denoise *dn)
{
	return dn->used_level;
}

double
bt_denoise_sigma(const struct bt_denoise *dn, size_t col)
{
	return dn->sigma_known ? dn->sigma[col * (BT_WAVELET_MAX_LEVEL + 1) + 1] : NAN;
}

/* The noise levels of column COL for this window: given, kept from the
 * first window, or estimated now from BANDS (band j at BANDS[j], of LEN[j]
 * values, j = 1 finest .. L). */
static void
noise_levels(struct bt_denoise *dn, size_t col, unsigned level,
	     double *const *bands, const size_t *len, int estimate)
{
	double *s = dn->sigma + col * (BT_WAVELET_MAX_LEVEL + 1);
	unsigned j;

	if (isfinite(dn->o.sigma)) {
		for (j = 1; j <= level; j++)
			s[j] = dn->o.sigma;
		return;
	}
	if (!estimate)
		return;
	s[1] = bt_denoise_mad_sigma(bands[1], len[1], dn->scratch);
	for (j = 2; j <= level; j++)
		s[j] = dn->o.sigma_per_level
		       ? bt_denoise_mad_sigma(bands[j], len[j], dn->scratch) : s[1];
}

/* Shrink the detail bands of column COL.  BANDS[j] and LEN[j] are the
 * whole band j (shrunk); STAT[j] and SLEN[j] the part that the threshold
 * statistics read (for the padded SWT, the coefficients of real
 * samples). */
static void
shrink_bands(struct bt_denoise *dn, size_t col, unsigned level,
	     double *const *bands, const size_t *len, double *const *stat,
	     const size_t *slen, size_t nsignal, int estimate)
{
	const double *s = dn->sigma + col * (BT_WAVELET_MAX_LEVEL + 1);
	unsigned j;
	size_t i;

	noise_levels(dn, col, level, stat, slen, estimate);
	for (j = 1; j <= level; j++) {
		double lambda = dn->o.rule == BT_DENOISE_FIXED ? dn->o.threshold
			: bt_denoise_threshold(dn->o.rule, stat[j], slen[j], s[j],
					       nsignal, dn->scratch);

		for (i = 0; i < len[j]; i++)
			bands[j][i] = bt_denoise_shrink(bands[j][i], lambda, dn->o.shrink);
	}
}

/* Denoise the N samples X of column COL into Y at LEVEL levels. */
static enum bt_status
denoise_one(struct bt_denoise *dn, size_t col, const double *x, size_t n,
	    unsigned level, size_t nsignal, int estimate, double *y)
{
	const struct bt_wavelet *w = dn->o.wavelet;
	double *bands[BT_WAVELET_MAX_LEVEL + 1], *stat[BT_WAVELET_MAX_LEVEL + 1];
	size_t lens[BT_WAVELET_MAX_LEVEL + 1], len[BT_WAVELET_MAX_LEVEL + 1];
	size_t slen[BT_WAVELET_MAX_LEVEL + 1], off, nout, i, pl, np, p;
	enum bt_status st;
	unsigned j;

	if (dn->o.transform == BT_DENOISE_DWT) {
		bt_wavelet_wavedec_lengths(n, dn->f, dn->o.mode, level, lens);
		if ((st = bt_wavelet_wavedec(w, dn->o.mode, x, n, level, dn->coeffs,
					     dn->work)) != BT_OK)
			return st;
		/* Band j (1 finest) is entry L + 1 - j of the layout. */
		for (off = lens[0], j = level; j >= 1; j--) {
			bands[j] = stat[j] = dn->coeffs + off;
			len[j] = slen[j] = lens[level + 1 - j];
			off += len[j];
		}
		shrink_bands(dn, col, level, bands, len, stat, slen, nsignal, estimate);
		if ((st = bt_wavelet_waverec(w, dn->o.mode, dn->coeffs, lens, level,
					     dn->rec, &nout, dn->work)) != BT_OK)
			return st;
		memcpy(y, dn->rec, n * sizeof *y);
		return BT_OK;
	}
	/* Translation-invariant: extend by the padding with the mode, up to a
	 * multiple of 2^L, transform circularly, keep the real samples. */
	p = (size_t)1 << level;
	pl = swt_pad(dn->f, level);
	np = (n + 2 * pl + p - 1) / p * p;
	for (i = 0; i < np; i++)
		dn->ext[i] = bt_wavelet_extend(x, n, (long)i - (long)pl, dn->o.mode);
	if ((st = bt_wavelet_swt(w, dn->ext, np, level, dn->coeffs, dn->work)) != BT_OK)
		return st;
	for (j = 1; j <= level; j++) {
		bands[j] = dn->coeffs + (size_t)(level + 1 - j) * np;
		len[j] = np;
		stat[j] = bands[j] + pl;
		slen[j] = n;
	}
	shrink_bands(dn, col, level, bands, len, stat, slen, nsignal, estimate);
	if ((st = bt_wavelet_iswt(w, dn->coeffs, np, level, dn->rec, dn->work)) != BT_OK)
		return st;
	memcpy(y, dn->rec + pl, n * sizeof *y);
	return BT_OK;
}

/* Denoise the window held in the buffer, and make the samples from
 * next_out to next_out + NCORE ready.  WHOLE: the window is the whole
 * signal. */
static enum bt_status
denoise_window(struct bt_denoise *dn, size_t ncore, int whole)
{
	size_t n = dn->count, c, i, lead = dn->next_out - dn->base;
	size_t nsignal = whole ? n : dn->cap;
	unsigned level = dn->level;
	int estimate = !dn->sigma_known || dn->o.sigma_update;
	enum bt_status st;

	if (whole) {
		unsigned max = bt_wavelet_max_level(n, dn->f);

		if (dn->o.level == 0 && max < level)
			level = max;
		if (level == 0 || level > max)
			return BT_ERANGE;
	}
	for (c = 0; c < dn->ncols; c++) {
		double *x = dn->buf + c * dn->cap;

		if ((st = denoise_one(dn, c, x, n, level, nsignal, estimate,
				      dn->y)) != BT_OK)
			return st;
		for (i = 0; i < ncore; i++)
			dn->out[i * dn->ncols + c] = dn->y[lead + i];
	}
	dn->sigma_known = 1;
	dn->used_level = level;
	dn->nready = ncore;
	dn->taken = 0;
	return BT_OK;
}

enum bt_status
bt_denoise_push(struct bt_denoise *dn, const double *values)
{
	size_t c, drop;
	enum bt_status st;

	for (c = 0; c < dn->ncols; c++)
		if (!isfinite(values[c]))
			return BT_ENONFINITE;
	for (c = 0; c < dn->ncols; c++)
		dn->buf[c * dn->cap + dn->count] = values[c];
	dn->count++;
	dn->total++;
	/* A block is complete when the core and its right margin are in. */
	if (dn->base + dn->count == dn->next_out + dn->block + dn->margin) {
		if ((st = denoise_window(dn, dn->block, 0)) != BT_OK)
			return st;
		dn->blocks = 1;
		dn->next_out += dn->block;
		/* The next block's window starts a margin before its core. */
		drop = dn->next_out - dn->margin - dn->base;
		for (c = 0; c < dn->ncols; c++)
			memmove(dn->buf + c * dn->cap, dn->buf + c * dn->cap + drop,
				(dn->count - drop) * sizeof *dn->buf);
		dn->base += drop;
		dn->count -= drop;
	}
	return BT_OK;
}

enum bt_status
bt_denoise_finish(struct bt_denoise *dn)
{
	size_t ncore = dn->base + dn->count - dn->next_out;
	enum bt_status st;

	if (dn->total == 0)
		return BT_EEMPTY;
	if (ncore == 0)
		return BT_OK;
	if ((st = denoise_window(dn, ncore, !dn->blocks)) != BT_OK)
		return st;
	dn->next_out += ncore;
	return BT_OK;
}

size_t
bt_denoise_ready(const struct bt_denoise *dn)
{
	return dn->nready - dn->taken;
}

const double *
bt_denoise_take(struct bt_denoise *dn)
{
	return dn->out + (dn->taken++) * dn->ncols;
}

enum bt_status
bt_denoise_signal(const struct bt_denoise_opts *opts, const double *x, size_t n,
		  double *y)
{
	struct bt_denoise_opts o = *opts;
	struct bt_denoise *dn;
	enum bt_status st;
	size_t i;

	if (n == 0)
		return BT_EEMPTY;
	o.block = n;
	if ((st = bt_denoise_alloc(&dn, &o, 1)) != BT_OK)
		return st;
	for (i = 0; i < n && st == BT_OK; i++)
		st = bt_denoise_push(dn, x + i);
	if (st == BT_OK)
		st = bt_denoise_finish(dn);
	for (i = 0; st == BT_OK && bt_denoise_ready(dn) > 0; i++)
		y[i] = bt_denoise_take(dn)[0];
	bt_denoise_free(dn);
	return st;
}

/* Write the oldest row of Q with the denoised values V in the columns
 * COLS[0..K-1]. */
static enum bt_status
emit(struct bt_writer *w, struct bt_rowq *q, size_t nf, const size_t *cols,
     size_t k, const double *v)
{
	size_t f, j, len;
	const char *s;

	for (f = 0; f < nf; f++) {
		for (j = 0; j < k && cols[j] != f; j++)
			;
		if (j < k) {
			bt_writer_number(w, v[j]);
		} else {
			s = bt_rowq_field(q, f, &len);
			bt_writer_text(w, s, len);
		}
	}
	bt_rowq_pop(q);
	return bt_writer_end_row(w);
}

enum bt_status
bt_denoise_stream(struct bt_denoise *dn, struct bt_reader *r, struct bt_writer *w,
		  const size_t *cols, int precision)
{
	size_t nf = bt_reader_ncols(r), k = dn->ncols, j;
	struct bt_rowq *q;
	double v[64], *vals = k <= 64 ? v : malloc(k * sizeof *vals);
	enum bt_status st = BT_OK;
	const char *name;

	if (vals == NULL || bt_rowq_alloc(&q, nf) != BT_OK) {
		if (vals != v)
			free(vals);
		return BT_ENOMEM;
	}
	for (j = 0; j < nf; j++) {
		name = bt_reader_name(r, j);
		bt_writer_text(w, name, strlen(name));
	}
	if (bt_writer_end_row(w) != BT_OK)
		st = BT_EIO;
	while (st == BT_OK && (st = bt_reader_next(r)) == BT_OK) {
		for (j = 0; j < k && st == BT_OK; j++)
			st = bt_reader_finite(r, cols[j], &vals[j]);
		if (st == BT_OK)
			st = bt_rowq_push(q, r, precision);
		if (st == BT_OK)
			st = bt_denoise_push(dn, vals);
		while (st == BT_OK && bt_denoise_ready(dn) > 0)
			st = emit(w, q, nf, cols, k, bt_denoise_take(dn));
	}
	if (st == BT_EOF)
		st = bt_denoise_finish(dn);
	while (st == BT_OK && bt_denoise_ready(dn) > 0)
		st = emit(w, q, nf, cols, k, bt_denoise_take(dn));
	bt_rowq_free(q);
	if (vals != v)
		free(vals);
	return st;
}
