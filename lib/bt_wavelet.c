/* bt_wavelet.c - DWT, IDWT, wavedec, waverec, SWT and ISWT as PyWavelets
 * computes them (bt_wavelet.h states the conventions).
 *
 * Each transform has a branch-free interior loop, where the filter lies
 * inside the signal, and edge loops that read the extended signal through
 * bt_wavelet_extend(); the extension is evaluated index by index, so
 * filters longer than the signal (which wrap several times around it)
 * need no special case.  Sums run over the filter taps in increasing
 * order, as pywt's do, so results agree to the last bits or nearly.
 */
#include <config.h>

#include <string.h>

#include "bt_wavelet.h"
#include "bt_wavelet_filters.h"

static const char *const mode_names[BT_WAVELET_NMODES] = {
	"zero", "constant", "symmetric", "reflect", "periodic", "smooth",
	"periodization", "antisymmetric", "antireflect"
};

const struct bt_wavelet *
bt_wavelet_find(const char *name)
{
	size_t i;

	for (i = 0; i < bt_wavelet_nbanks; i++)
		if (strcmp(bt_wavelet_banks[i].name, name) == 0)
			return &bt_wavelet_banks[i];
	return NULL;
}

size_t
bt_wavelet_count(void)
{
	return bt_wavelet_nbanks;
}

const char *
bt_wavelet_name_at(size_t i)
{
	return i < bt_wavelet_nbanks ? bt_wavelet_banks[i].name : NULL;
}

const char *
bt_wavelet_name(const struct bt_wavelet *w)
{
	return w->name;
}

size_t
bt_wavelet_filter_length(const struct bt_wavelet *w)
{
	return w->len;
}

const double *
bt_wavelet_dec_lo(const struct bt_wavelet *w)
{
	return w->dec_lo;
}

const double *
bt_wavelet_dec_hi(const struct bt_wavelet *w)
{
	return w->dec_hi;
}

const double *
bt_wavelet_rec_lo(const struct bt_wavelet *w)
{
	return w->rec_lo;
}

const double *
bt_wavelet_rec_hi(const struct bt_wavelet *w)
{
	return w->rec_hi;
}

enum bt_status
bt_wavelet_mode_parse(const char *name, enum bt_wavelet_mode *mode)
{
	int i;

	for (i = 0; i < BT_WAVELET_NMODES; i++)
		if (strcmp(mode_names[i], name) == 0) {
			*mode = (enum bt_wavelet_mode)i;
			return BT_OK;
		}
	return BT_EINVAL;
}

const char *
bt_wavelet_mode_name(enum bt_wavelet_mode mode)
{
	return (unsigned)mode < BT_WAVELET_NMODES ? mode_names[mode] : "unknown";
}

/* K modulo M, in [0, M), for any sign of K. */
static size_t
wrap(long k, size_t m)
{
	long r = k % (long)m;

	return (size_t)(r < 0 ? r + (long)m : r);
}

/* Floor division of K by M > 0. */
static long
floor_div(long k, long m)
{
	long q = k / m;

	return (k % m != 0 && k < 0) ? q - 1 : q;
}

double
bt_wavelet_extend(const double *x, size_t n, long k, enum bt_wavelet_mode mode)
{
	long q, p, r, nn = (long)n;

	if (k >= 0 && k < nn)
		return x[k];
	switch (mode) {
	case BT_WAVELET_ZERO:
		return 0.0;
	case BT_WAVELET_CONSTANT:
		return k < 0 ? x[0] : x[n - 1];
	case BT_WAVELET_SYMMETRIC:
		/* Half-sample symmetric: period 2N. */
		r = (long)wrap(k, 2 * n);
		return r < nn ? x[r] : x[2 * nn - 1 - r];
	case BT_WAVELET_REFLECT:
		/* Whole-sample symmetric: period 2N - 2. */
		if (n == 1)
			return x[0];
		r = (long)wrap(k, 2 * n - 2);
		return r < nn ? x[r] : x[2 * nn - 2 - r];
	case BT_WAVELET_PERIODIC:
		return x[wrap(k, n)];
	case BT_WAVELET_PERIODIZATION:
		/* Periodic over N rounded up to even, the last sample repeated. */
		r = (long)wrap(k, n + n % 2);
		return x[r < nn ? r : nn - 1];
	case BT_WAVELET_SMOOTH:
		if (n < 2)
			return x[0];
		if (k < 0)
			return x[0] + (double)(-k) * (x[0] - x[1]);
		return x[n - 1] + (double)(k - nn + 1) * (x[n - 1] - x[n - 2]);
	case BT_WAVELET_ANTISYMMETRIC:
		/* Half-sample antisymmetric: each reflection flips the sign. */
		q = floor_div(k, nn);
		r = k - q * nn;
		return (q % 2 == 0) ? x[r] : -x[nn - 1 - r];
	case BT_WAVELET_ANTIREFLECT:
		/* Point reflections about (0, x1) and (N-1, xn); two of them
		 * shift the index by 2 (N - 1) and the value by 2 (xn - x1). */
		if (n == 1)
			return x[0];
		p = 2 * (nn - 1);
		q = floor_div(k + nn - 1, p);
		r = k + nn - 1 - q * p - (nn - 1);
		return (r >= 0 ? x[r] : 2 * x[0] - x[-r])
		       + (double)q * 2 * (x[n - 1] - x[0]);
	case BT_WAVELET_NMODES:
		break;
	}
	return 0.0;
}

size_t
bt_wavelet_dwt_length(size_t n, size_t f, enum bt_wavelet_mode mode)
{
	if (mode == BT_WAVELET_PERIODIZATION)
		return (n + 1) / 2;
	return (n + f - 1) / 2;
}

size_t
bt_wavelet_idwt_length(size_t nc, size_t f, enum bt_wavelet_mode mode)
{
	if (mode == BT_WAVELET_PERIODIZATION)
		return 2 * nc;
	return 2 * nc + 2 >= f ? 2 * nc + 2 - f : 0;
}

unsigned
bt_wavelet_max_level(size_t n, size_t f)
{
	unsigned level = 0;
	size_t m;

	if (f < 2 || n < f - 1)
		return 0;
	/* floor(log2(n / (f - 1))) in integers: the largest L with
	 * (f - 1) 2^L <= n. */
	for (m = f - 1; m <= n / 2 && level < BT_WAVELET_MAX_LEVEL; m *= 2)
		level++;
	return level;
}

unsigned
bt_wavelet_swt_max_level(size_t n)
{
	unsigned level = 0;

	while (n >= 2 && level < BT_WAVELET_MAX_LEVEL) {
		n /= 2;
		level++;
	}
	return level;
}

enum bt_status
bt_wavelet_dwt(const struct bt_wavelet *w, enum bt_wavelet_mode mode,
	       const double *x, size_t n, double *ca, double *cd)
{
	const double *h = w->dec_lo, *g = w->dec_hi;
	size_t f = w->len, nc = bt_wavelet_dwt_length(n, f, mode), o, j;
	/* Output o reads x~[c - j], j = 0..F-1: c = 2o + 1, or F/2 + 2o for
	 * periodization. */
	long base = mode == BT_WAVELET_PERIODIZATION ? (long)(f / 2) : 1;

	if (n == 0)
		return BT_EINVAL;
	for (o = 0; o < nc; o++) {
		long c = base + 2 * (long)o;
		double sa = 0, sd = 0;

		if (c - (long)f + 1 >= 0 && c < (long)n) {
			const double *xc = x + c;

			for (j = 0; j < f; j++) {
				sa += h[j] * xc[-(long)j];
				sd += g[j] * xc[-(long)j];
			}
		} else {
			for (j = 0; j < f; j++) {
				double v = bt_wavelet_extend(x, n, c - (long)j, mode);

				sa += h[j] * v;
				sd += g[j] * v;
			}
		}
		ca[o] = sa;
		cd[o] = sd;
	}
	return BT_OK;
}

/* Add to OUT (NOUT samples) the upsampled convolution of the NC
 * coefficients C with the filter R (F taps): out[m] += sum_k r[k]
 * u[m + shift - k], u the coefficients with zeros between them, read
 * periodically (period 2 NC) when PERIODIC is set. */
static void
upsample_add(const double *c, size_t nc, const double *r, size_t f,
	     long shift, int periodic, double *out, size_t nout)
{
	size_t m, k;

	for (m = 0; m < nout; m++) {
		long top = (long)m + shift;	/* u index for tap 0 */
		double s = 0;

		/* Only taps with top - k even meet a coefficient. */
		k = (size_t)(top & 1);
		if (!periodic || (top - (long)f + 1 >= 0 && top < 2 * (long)nc)) {
			for (; k < f; k += 2)
				s += r[k] * c[(top - (long)k) / 2];
		} else {
			for (; k < f; k += 2)
				s += r[k] * c[wrap(top - (long)k, 2 * nc) / 2];
		}
		out[m] += s;
	}
}

enum bt_status
bt_wavelet_idwt(const struct bt_wavelet *w, enum bt_wavelet_mode mode,
		const double *ca, const double *cd, size_t nc, double *x)
{
	size_t f = w->len, nout = bt_wavelet_idwt_length(nc, f, mode);
	int periodic = mode == BT_WAVELET_PERIODIZATION;
	/* pywt's upsampling_convolution_valid_sf: sample m is
	 * sum_k r[k] u[m + F - 2 - k]; for periodization the reconstruction is
	 * circular, sum_k r[k] u[(m + F/2 - 1 - k) mod 2 NC]. */
	long shift = periodic ? (long)(f / 2) - 1 : (long)f - 2;

	if (periodic ? nc < 1 : nc < f / 2)
		return BT_EINVAL;
	memset(x, 0, nout * sizeof *x);
	if (ca != NULL)
		upsample_add(ca, nc, w->rec_lo, f, shift, periodic, x, nout);
	if (cd != NULL)
		upsample_add(cd, nc, w->rec_hi, f, shift, periodic, x, nout);
	return BT_OK;
}

size_t
bt_wavelet_wavedec_lengths(size_t n, size_t f, enum bt_wavelet_mode mode,
			   unsigned level, size_t *lens)
{
	size_t total = 0, m = n;
	unsigned j;

	for (j = 1; j <= level; j++) {
		m = bt_wavelet_dwt_length(m, f, mode);
		lens[level + 1 - j] = m;
		total += m;
	}
	lens[0] = m;
	return total + m;
}

size_t
bt_wavelet_work_size(size_t n, size_t f)
{
	return 2 * n + 6 * f + 4;
}

enum bt_status
bt_wavelet_wavedec(const struct bt_wavelet *w, enum bt_wavelet_mode mode,
		   const double *x, size_t n, unsigned level, double *coeffs,
		   double *work)
{
	size_t f = w->len, half = n + 3 * f + 2, m = n, nc, end;
	const double *cur = x;
	double *a;
	unsigned j;

	if (n == 0 || level < 1 || level > BT_WAVELET_MAX_LEVEL)
		return BT_EINVAL;
	/* d_1 goes last, d_2 before it, ...; the approximations alternate
	 * between the two halves of WORK. */
	end = 0;
	for (j = 1; j <= level; j++) {
		m = bt_wavelet_dwt_length(m, f, mode);
		end += m;
	}
	end += m;	/* the total */
	m = n;
	for (j = 1; j <= level; j++) {
		nc = bt_wavelet_dwt_length(m, f, mode);
		a = work + (j % 2) * half;
		end -= nc;
		bt_wavelet_dwt(w, mode, cur, m, a, coeffs + end);
		cur = a;
		m = nc;
	}
	memcpy(coeffs, cur, m * sizeof *coeffs);
	return BT_OK;
}

enum bt_status
bt_wavelet_waverec(const struct bt_wavelet *w, enum bt_wavelet_mode mode,
		   const double *coeffs, const size_t *lens, unsigned level,
		   double *x, size_t *nout, double *work)
{
	size_t f = w->len, alen = lens[0], off = lens[0], half = 0, k;
	const double *a = coeffs;
	double *out;
	enum bt_status st;

	if (level < 1 || level > BT_WAVELET_MAX_LEVEL)
		return BT_EINVAL;
	for (k = 0; k <= level; k++)
		if (2 * lens[k] > half)
			half = 2 * lens[k];
	for (k = 1; k <= level; k++) {
		size_t dlen = lens[k];

		/* pywt.waverec: an approximation one longer than the detail
		 * (from an odd length at the level below) loses its last
		 * coefficient. */
		if (alen == dlen + 1)
			alen = dlen;
		else if (alen != dlen)
			return BT_EINVAL;
		out = k == level ? x : work + (k % 2) * half;
		if ((st = bt_wavelet_idwt(w, mode, a, coeffs + off, dlen, out)) != BT_OK)
			return st;
		alen = bt_wavelet_idwt_length(dlen, f, mode);
		a = out;
		off += dlen;
	}
	*nout = alen;
	return BT_OK;
}

/* One SWT level: OUT[n] = sum_k r[k] IN[(n + s (F/2 - k)) mod N]. */
static void
swt_filter(const double *in, size_t n, const double *r, size_t f, size_t s,
	   double *out)
{
	long reach_hi = (long)(s * (f / 2)), reach_lo = (long)(s * (f / 2 - 1));
	size_t o, k;

	for (o = 0; o < n; o++) {
		long c = (long)o + reach_hi;
		double sum = 0;

		if ((long)o - reach_lo >= 0 && c < (long)n) {
			for (k = 0; k < f; k++)
				sum += r[k] * in[c - (long)(k * s)];
		} else {
			for (k = 0; k < f; k++)
				sum += r[k] * in[wrap(c - (long)(k * s), n)];
		}
		out[o] = sum;
	}
}

enum bt_status
bt_wavelet_swt(const struct bt_wavelet *w, const double *x, size_t n,
	       unsigned level, double *coeffs, double *work)
{
	const double *cur = x;
	unsigned j;

	if (n == 0 || level < 1 || level > bt_wavelet_swt_max_level(n))
		return BT_EINVAL;
	/* Band k of COEFFS is d_(L+1-k); a_L is band 0.  Approximations of
	 * the levels in between alternate between band 0 and WORK. */
	for (j = 1; j <= level; j++) {
		size_t s = (size_t)1 << (j - 1);
		double *a = ((level - j) % 2 == 0) ? coeffs : work;

		swt_filter(cur, n, w->dec_hi, w->len, s,
			   coeffs + (size_t)(level + 1 - j) * n);
		swt_filter(cur, n, w->dec_lo, w->len, s, a);
		cur = a;
	}
	return BT_OK;
}

/* One ISWT level: OUT[n] = 1/2 sum_m (lo[m] A + hi[m] D)[(n + s (F/2 - 1 - m)) mod N]. */
static void
iswt_level(const double *a, const double *d, size_t n, const double *lo,
	   const double *hi, size_t f, size_t s, double *out)
{
	long reach_hi = (long)(s * (f / 2 - 1)), reach_lo = (long)(s * (f / 2));
	size_t o, m;

	for (o = 0; o < n; o++) {
		long c = (long)o + reach_hi;
		double sum = 0;

		if ((long)o - reach_lo >= 0 && c < (long)n) {
			for (m = 0; m < f; m++) {
				long i = c - (long)(m * s);

				sum += lo[m] * a[i] + hi[m] * d[i];
			}
		} else {
			for (m = 0; m < f; m++) {
				size_t i = wrap(c - (long)(m * s), n);

				sum += lo[m] * a[i] + hi[m] * d[i];
			}
		}
		out[o] = sum / 2;
	}
}

enum bt_status
bt_wavelet_iswt(const struct bt_wavelet *w, const double *coeffs, size_t n,
		unsigned level, double *x, double *work)
{
	const double *a = coeffs;
	unsigned k;

	if (n == 0 || level < 1 || level > bt_wavelet_swt_max_level(n))
		return BT_EINVAL;
	for (k = 1; k <= level; k++) {
		size_t s = (size_t)1 << (level - k);
		double *out = ((level - k) % 2 == 0) ? x : work;

		iswt_level(a, coeffs + (size_t)k * n, n, w->rec_lo, w->rec_hi,
			   w->len, s, out);
		a = out;
	}
	return BT_OK;
}
