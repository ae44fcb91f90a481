/* bt_wavelet.h - discrete wavelet transforms with PyWavelets' conventions.
 *
 * Filter banks: every discrete wavelet of PyWavelets (haar, db1-db38,
 * sym2-sym20, coif1-coif17, bior*.*, rbio*.*, dmey), its coefficients
 * generated from pywt into bt_wavelet_filters.c.  Transforms: the one-level
 * DWT and its inverse, the multilevel decomposition and reconstruction
 * (pywt.wavedec, pywt.waverec), and the stationary (undecimated, "a trous")
 * transform and its inverse (pywt.swt, pywt.iswt).  Every signal extension
 * mode of pywt is supported; the coefficients equal pywt's to rounding
 * (tests/unit/test_bt_wavelet.c checks 1e-12 relative against fixtures
 * that scripts/gen-wavelet-fixtures made with pywt).
 *
 * Conventions (as pywt): with filters of length F and a signal of length
 * N, the DWT of every mode but periodization has floor((N + F - 1) / 2)
 * coefficients per band, periodization ceil(N / 2).  The DWT is
 *     a[o] = sum_j dec_lo[j] x~[2 o + 1 - j]
 * (x~ the extended signal; periodization uses x~[(F/2 + 2 o - j) mod N'],
 * N' = N rounded up to even by repeating the last sample), and the inverse
 * is the "valid" part of the upsampled convolution with rec_lo and rec_hi.
 *
 * The SWT works on any length N, not only multiples of 2^level: level j
 * filters the previous approximation circularly, with period N, by the
 * filters upsampled by 2^(j-1):
 *     a_j[n] = sum_k dec_lo[k] a_{j-1}[(n + 2^(j-1) (F/2 - k)) mod N]
 * and the inverse averages the two polyphase reconstructions:
 *     a_{j-1}[n] = 1/2 sum_m (rec_lo[m] a_j + rec_hi[m] d_j)[(n + 2^(j-1) (F/2 - 1 - m)) mod N].
 * This is exactly pywt.swt and pywt.iswt when N is a multiple of 2^level,
 * and a perfect-reconstruction transform for every N.
 *
 * Memory: nothing here allocates; callers pass the output arrays and the
 * scratch space, whose sizes the _size functions give.  Filter banks are
 * static and shared.
 */
#ifndef BT_WAVELET_H
#define BT_WAVELET_H

#include <stddef.h>

#include "bt_status.h"

/* Deepest decomposition level any function accepts. */
#define BT_WAVELET_MAX_LEVEL 30

/* Signal extension modes, named and defined as in PyWavelets. */
enum bt_wavelet_mode {
	BT_WAVELET_ZERO,		/* ... 0 0 | x1 ... xn | 0 0 ... */
	BT_WAVELET_CONSTANT,		/* ... x1 x1 | x1 ... xn | xn xn ... */
	BT_WAVELET_SYMMETRIC,		/* ... x2 x1 | x1 ... xn | xn xn-1 ... */
	BT_WAVELET_REFLECT,		/* ... x3 x2 | x1 ... xn | xn-1 xn-2 ... */
	BT_WAVELET_PERIODIC,		/* ... xn-1 xn | x1 ... xn | x1 x2 ... */
	BT_WAVELET_SMOOTH,		/* linear continuation of the end slopes */
	BT_WAVELET_PERIODIZATION,	/* periodic, ceil(N/2) coefficients */
	BT_WAVELET_ANTISYMMETRIC,	/* ... -x2 -x1 | x1 ... xn | -xn -xn-1 ... */
	BT_WAVELET_ANTIREFLECT,		/* point reflection about the end samples */
	BT_WAVELET_NMODES
};

/* A filter bank (opaque; static, never freed). */
struct bt_wavelet;

/* Returns the filter bank called NAME ("haar", "db4", "sym8", "coif3",
 * "bior3.5", "rbio2.2", "dmey"), or NULL when there is none. */
const struct bt_wavelet *bt_wavelet_find(const char *name);

/* Returns the number of wavelets known, and the name of the I-th (for
 * listing them), or NULL when I is out of range. */
size_t bt_wavelet_count(void);
const char *bt_wavelet_name_at(size_t i);

/* Returns the name of W. */
const char *bt_wavelet_name(const struct bt_wavelet *w);

/* Returns the length F of W's filters (even). */
size_t bt_wavelet_filter_length(const struct bt_wavelet *w);

/* The four filters of W, each of bt_wavelet_filter_length(W) taps, as
 * pywt.Wavelet(name).dec_lo, dec_hi, rec_lo, rec_hi. */
const double *bt_wavelet_dec_lo(const struct bt_wavelet *w);
const double *bt_wavelet_dec_hi(const struct bt_wavelet *w);
const double *bt_wavelet_rec_lo(const struct bt_wavelet *w);
const double *bt_wavelet_rec_hi(const struct bt_wavelet *w);

/* Look up the mode called NAME (pywt's names: "zero", "constant",
 * "symmetric", "reflect", "periodic", "smooth", "periodization",
 * "antisymmetric", "antireflect").  Returns BT_OK and stores it in *MODE,
 * or BT_EINVAL. */
enum bt_status bt_wavelet_mode_parse(const char *name, enum bt_wavelet_mode *mode);

/* Returns the pywt name of MODE, or "unknown". */
const char *bt_wavelet_mode_name(enum bt_wavelet_mode mode);

/* Returns the value at index K (any integer) of the N samples X extended
 * by MODE.  N >= 1.  For N = 1, reflect and antireflect give X[0]
 * (pywt 1.1 does not return for them); smooth needs N >= 2 and is
 * constant otherwise, as in pywt.  Periodization extends like periodic
 * after N is made even by repeating the last sample. */
double bt_wavelet_extend(const double *x, size_t n, long k,
			 enum bt_wavelet_mode mode);

/* Returns the number of coefficients per band of a one-level DWT of N
 * samples with filters of length F in MODE (pywt.dwt_coeff_len). */
size_t bt_wavelet_dwt_length(size_t n, size_t f, enum bt_wavelet_mode mode);

/* Returns the length of the inverse DWT of NC coefficients per band:
 * 2 NC - F + 2, or 2 NC for periodization. */
size_t bt_wavelet_idwt_length(size_t nc, size_t f, enum bt_wavelet_mode mode);

/* Returns the deepest useful decomposition level of N samples with filters
 * of length F: floor(log2(N / (F - 1))), 0 when N < F - 1
 * (pywt.dwt_max_level). */
unsigned bt_wavelet_max_level(size_t n, size_t f);

/* Returns the deepest SWT level of N samples: floor(log2 N), at most
 * BT_WAVELET_MAX_LEVEL. */
unsigned bt_wavelet_swt_max_level(size_t n);

/* One-level DWT of the N samples X (N >= 1): store the approximation in CA
 * and the detail in CD, bt_wavelet_dwt_length() values each.
 * Returns BT_OK, or BT_EINVAL when N is 0. */
enum bt_status bt_wavelet_dwt(const struct bt_wavelet *w,
			      enum bt_wavelet_mode mode, const double *x,
			      size_t n, double *ca, double *cd);

/* One-level inverse DWT of NC approximation and NC detail coefficients
 * (either CA or CD may be NULL, for zeros): store
 * bt_wavelet_idwt_length() samples in X.
 * Returns BT_OK, or BT_EINVAL when NC < F/2 (and NC < 1 for periodization),
 * as pywt refuses them. */
enum bt_status bt_wavelet_idwt(const struct bt_wavelet *w,
			       enum bt_wavelet_mode mode, const double *ca,
			       const double *cd, size_t nc, double *x);

/* The layout of a LEVEL-deep decomposition of N samples, in pywt's order
 * [a_L, d_L, d_L-1, ..., d_1]: LENS[0] is the length of a_L, LENS[k] that
 * of d_(L+1-k), k = 1..LEVEL (LENS has LEVEL + 1 entries).
 * Returns the total number of coefficients. */
size_t bt_wavelet_wavedec_lengths(size_t n, size_t f, enum bt_wavelet_mode mode,
				  unsigned level, size_t *lens);

/* Scratch space (doubles) that bt_wavelet_wavedec needs for N samples with
 * filters of length F, and that bt_wavelet_waverec needs for the
 * decomposition of N samples: 2 N + 6 F + 4. */
size_t bt_wavelet_work_size(size_t n, size_t f);

/* Multilevel DWT of the N samples X to LEVEL levels (1 ..
 * BT_WAVELET_MAX_LEVEL; pywt.wavedec): store the coefficients,
 * concatenated in the order of bt_wavelet_wavedec_lengths(), in COEFFS.
 * WORK has bt_wavelet_work_size() doubles.
 * Returns BT_OK, or BT_EINVAL for N = 0 or a level out of range (levels
 * deeper than bt_wavelet_max_level() are allowed, as in pywt; callers
 * that want them refused check that first). */
enum bt_status bt_wavelet_wavedec(const struct bt_wavelet *w,
				  enum bt_wavelet_mode mode, const double *x,
				  size_t n, unsigned level, double *coeffs,
				  double *work);

/* Multilevel reconstruction (pywt.waverec) of the LEVEL + 1 bands in
 * COEFFS, laid out as LENS says (bt_wavelet_wavedec_lengths).  As in pywt,
 * an approximation one longer than the next detail band is cut to its
 * length.  Stores the reconstruction, *NOUT samples
 * (bt_wavelet_idwt_length of the last band), in X, which has room for
 * 2 LENS[LEVEL] samples; WORK has 4 M doubles, M the largest of LENS
 * (bt_wavelet_work_size covers it).
 * Returns BT_OK, or BT_EINVAL when the bands do not fit together. */
enum bt_status bt_wavelet_waverec(const struct bt_wavelet *w,
				  enum bt_wavelet_mode mode, const double *coeffs,
				  const size_t *lens, unsigned level, double *x,
				  size_t *nout, double *work);

/* Stationary wavelet transform of the N samples X to LEVEL levels (1 ..
 * bt_wavelet_swt_max_level(N)): store LEVEL + 1 bands of N coefficients
 * each in COEFFS, in the order [a_L, d_L, ..., d_1] (pywt.swt with
 * trim_approx=True).  WORK has N doubles.
 * Returns BT_OK, or BT_EINVAL for N = 0 or a level out of range. */
enum bt_status bt_wavelet_swt(const struct bt_wavelet *w, const double *x,
			      size_t n, unsigned level, double *coeffs,
			      double *work);

/* Inverse of bt_wavelet_swt (pywt.iswt): from the LEVEL + 1 bands of N
 * coefficients in COEFFS, store N samples in X.  WORK has N doubles.
 * Returns BT_OK, or BT_EINVAL for N = 0 or a level out of range. */
enum bt_status bt_wavelet_iswt(const struct bt_wavelet *w, const double *coeffs,
			       size_t n, unsigned level, double *x, double *work);

#endif /* BT_WAVELET_H */
