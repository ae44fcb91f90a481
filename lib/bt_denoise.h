/* bt_denoise.h - wavelet shrinkage denoising, whole signals and streams.
 *
 * The recipe (Donoho & Johnstone 1994): decompose the signal, estimate the
 * noise level sigma from the median absolute deviation of the finest
 * details, shrink every detail coefficient towards zero by a threshold,
 * reconstruct.  Thresholds: universal (VisuShrink), SURE (SureShrink),
 * BayesShrink, minimax, or a fixed value; shrinkage soft, hard or
 * garrote; the transform decimated (pywt.wavedec / waverec) or
 * translation-invariant (the stationary transform, pywt.swt / iswt, on
 * the signal extended by PAD samples at each end).  The formulas and their
 * sources are in bt_denoise.c and bt-wavelet(1).
 *
 * Streams are denoised in blocks: the core of BLOCK samples is
 * transformed together with MARGIN samples on each side, which the
 * filters reach, and only the core is kept, so an unbounded stream runs in
 * O(BLOCK + 2 MARGIN) memory per column and, with the thresholds fixed,
 * gives the whole-signal result (block starts are multiples of 2^level, so
 * the decimated transform meets the same samples).  A stream that ends
 * before its first block is complete is denoised as one whole signal.
 *
 * Memory: a struct bt_denoise owns its buffers, allocated once by
 * bt_denoise_alloc; pushing samples and denoising allocate nothing.
 */
#ifndef BT_DENOISE_H
#define BT_DENOISE_H

#include <stddef.h>

#include "bt_status.h"
#include "bt_stream.h"
#include "bt_wavelet.h"

/* Defaults, chosen on bt-sim HPPC voltages with 5 mV noise (bt-wavelet(1)
 * gives the comparison): Haar, translation-invariant, six levels,
 * universal threshold, hard shrinkage. */
#define BT_DENOISE_DEFAULT_WAVELET "haar"
#define BT_DENOISE_DEFAULT_LEVEL 6
#define BT_DENOISE_DEFAULT_BLOCK 65536

/* sigma = MAD / Phi^-1(3/4), Phi the standard normal distribution
 * function: the MAD of Gaussian noise of unit deviation is 0.6745. */
#define BT_DENOISE_MAD_NORMAL 0.6744897501960817

enum bt_denoise_rule {
	BT_DENOISE_UNIVERSAL,	/* sigma sqrt(2 ln n) */
	BT_DENOISE_SURE,	/* SureShrink, per level */
	BT_DENOISE_BAYES,	/* BayesShrink, per level */
	BT_DENOISE_MINIMAX,	/* sigma (0.3936 + 0.1829 log2 n) */
	BT_DENOISE_FIXED	/* the value given */
};

enum bt_denoise_shrink {
	BT_DENOISE_SOFT,
	BT_DENOISE_HARD,
	BT_DENOISE_GARROTE
};

enum bt_denoise_transform {
	BT_DENOISE_SWT,		/* translation-invariant */
	BT_DENOISE_DWT		/* decimated */
};

struct bt_denoise_opts {
	const struct bt_wavelet *wavelet;	/* default haar */
	enum bt_wavelet_mode mode;	/* signal extension, default symmetric */
	unsigned level;			/* 0: the default, lowered for short signals */
	enum bt_denoise_transform transform;	/* default SWT */
	enum bt_denoise_rule rule;	/* default universal */
	enum bt_denoise_shrink shrink;	/* default hard */
	double threshold;		/* BT_DENOISE_FIXED: the threshold */
	double sigma;			/* the noise level; NaN estimates it */
	int sigma_per_level;		/* estimate sigma at every level */
	int sigma_update;		/* re-estimate sigma in every block */
	size_t block;			/* core block length, samples */
};

/* Fill OPTS with the defaults above (sigma NaN, threshold NaN).
 * Returns nothing. */
void bt_denoise_opts_init(struct bt_denoise_opts *opts);

/* Look up a threshold rule ("universal", "sure", "bayes", "minimax") or a
 * shrinkage ("soft", "hard", "garrote") by name.  Returns BT_OK or
 * BT_EINVAL. */
enum bt_status bt_denoise_rule_parse(const char *name, enum bt_denoise_rule *rule);
enum bt_status bt_denoise_shrink_parse(const char *name,
				       enum bt_denoise_shrink *shrink);

/* Returns the median of |X[0..N-1]| divided by BT_DENOISE_MAD_NORMAL (the
 * mean of the two middle values for even N, as numpy.median), using WORK
 * (N doubles); 0 for N = 0. */
double bt_denoise_mad_sigma(const double *x, size_t n, double *work);

/* Returns the threshold of RULE for the N detail coefficients D of one
 * level, noise level SIGMA, and a signal of NSIGNAL samples (universal,
 * minimax).  SURE sorts a copy of the standardised coefficients in WORK
 * (N doubles).  FIXED is not a rule of this function (it returns NaN). */
double bt_denoise_threshold(enum bt_denoise_rule rule, const double *d, size_t n,
			    double sigma, size_t nsignal, double *work);

/* Returns X shrunk by the threshold LAMBDA (as pywt.threshold):
 * soft x (1 - lambda/|x|)+, hard x when |x| >= lambda else 0, garrote
 * x (1 - lambda^2/x^2)+. */
double bt_denoise_shrink(double x, double lambda, enum bt_denoise_shrink shrink);

struct bt_denoise;

/* Create a denoiser of NCOLS columns with OPTS (copied).  Returns BT_OK,
 * BT_EINVAL for a bad option (level beyond BT_WAVELET_MAX_LEVEL, block 0,
 * no columns) or BT_ENOMEM. */
enum bt_status bt_denoise_alloc(struct bt_denoise **dn,
				const struct bt_denoise_opts *opts, size_t ncols);

/* Free DN; bt_denoise_free(NULL) does nothing. */
void bt_denoise_free(struct bt_denoise *dn);

/* The margin, in samples, transformed on each side of a block, and the
 * block length in use (the option rounded up to a multiple of 2^level,
 * and at least a margin). */
size_t bt_denoise_margin(const struct bt_denoise *dn);
size_t bt_denoise_block(const struct bt_denoise *dn);

/* Append one sample of every column (NCOLS values).  When a block is
 * complete it is denoised and its samples become ready; take them all
 * before the next push.
 * Returns BT_OK, BT_ENONFINITE for a value that is not finite (nothing is
 * appended), or an error of the denoising. */
enum bt_status bt_denoise_push(struct bt_denoise *dn, const double *values);

/* Denoise what remains after the last push: every sample becomes ready.
 * Returns BT_OK, BT_EEMPTY when nothing was pushed, BT_ERANGE when the
 * level asked for is too deep for a stream shorter than one block (or a
 * signal is too short to decompose at all). */
enum bt_status bt_denoise_finish(struct bt_denoise *dn);

/* Returns the number of denoised samples ready to be taken. */
size_t bt_denoise_ready(const struct bt_denoise *dn);

/* Returns the NCOLS denoised values of the oldest ready sample and
 * consumes it; valid until the next call on DN.  Call only when
 * bt_denoise_ready() > 0. */
const double *bt_denoise_take(struct bt_denoise *dn);

/* Returns the number of samples pushed so far. */
size_t bt_denoise_length(const struct bt_denoise *dn);

/* The level used, and the noise level of column COL (the first level's
 * sigma), once a block or the whole signal has been denoised; NaN before. */
unsigned bt_denoise_level(const struct bt_denoise *dn);
double bt_denoise_sigma(const struct bt_denoise *dn, size_t col);

/* Stream every remaining row of R to W with the columns COLS[0..NCOLS-1]
 * (NCOLS as DN was made for) replaced by their denoised values, the other
 * columns as bt_rowq keeps them (numbers R converts written with
 * PRECISION digits); W gets the header first.  Rows are held until their
 * block is denoised.  Returns BT_OK; BT_EEMPTY for no data rows; BT_ERANGE
 * as bt_denoise_finish; BT_EIO for a write error (bt_writer_errmsg);
 * BT_ENOMEM; or the reader's error (bt_reader_errmsg). */
enum bt_status bt_denoise_stream(struct bt_denoise *dn, struct bt_reader *r,
				 struct bt_writer *w, const size_t *cols,
				 int precision);

/* Denoise the N samples X of one signal into Y (which may be X) with
 * OPTS, as one block: the convenience of alloc, push, finish and take.
 * Returns the status of those. */
enum bt_status bt_denoise_signal(const struct bt_denoise_opts *opts,
				 const double *x, size_t n, double *y);

#endif /* BT_DENOISE_H */
