/* bt_pf.c - a SIR particle filter of state of charge (see bt_pf.h).
 *
 * References:
 * [GSS93] N. J. Gordon, D. J. Salmond, A. F. M. Smith, "Novel approach to
 *   nonlinear/non-Gaussian Bayesian state estimation", IEE Proc. F 140
 *   (1993) 107-113: the bootstrap (SIR) filter, sec. 3.
 * [Kit96] G. Kitagawa, "Monte Carlo filter and smoother for non-Gaussian
 *   nonlinear state space models", J. Comput. Graph. Stat. 5 (1996) 1-25:
 *   systematic (stratified with one draw) resampling; see also R. Douc,
 *   O. Cappé, "Comparison of resampling schemes for particle filtering",
 *   ISPA 2005.
 * [MOL01] C. Musso, N. Oudjane, F. Le Gland, "Improving regularised
 *   particle filters", in A. Doucet, N. de Freitas, N. Gordon (eds.),
 *   Sequential Monte Carlo Methods in Practice, Springer 2001, ch. 12:
 *   the regularised particle filter, a Gaussian kernel scaled by the
 *   empirical covariance with the bandwidth h = (4 / (N (d + 2)))^(1 /
 *   (d + 4)) (eq. 12.8).
 * [OM00] N. Oudjane, C. Musso, "Progressive correction for regularized
 *   particle filters", Proc. 3rd Int. Conf. on Information Fusion
 *   (FUSION 2000): a sharp likelihood applied in stages.
 * [DFMR00] A. Doucet, N. de Freitas, K. Murphy, S. Russell,
 *   "Rao-Blackwellised particle filtering for dynamic Bayesian networks",
 *   Proc. UAI 2000: the conditionally linear-Gaussian part of the state
 *   integrated out by a Kalman filter per particle.
 * [BV21] D. Blackman, S. Vigna, "Scrambled linear pseudorandom number
 *   generators", ACM Trans. Math. Softw. 47 (2021) 36: xoshiro256** and
 *   its seeding by splitmix64.
 * [MT00] G. Marsaglia, W. W. Tsang, "The ziggurat method for generating
 *   random variables", J. Stat. Softw. 5 (2000) 8: 128 layers, r =
 *   3.442619855899, v = 9.91256303526217e-3.
 * [Doo05] J. A. Doornik, "An improved ziggurat method to generate normal
 *   random samples", University of Oxford 2005: the layer and the value
 *   from independent bits of the draw.
 */
#include <config.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bt_kf.h"
#include "bt_pf.h"

#define SECONDS_PER_HOUR 3600.0

/* The ziggurat of [MT00]: layers, the tail's start r and each layer's
 * area v. */
#define ZIG_LAYERS 128
#define ZIG_R 3.442619855899
#define ZIG_V 9.91256303526217e-3

/* Progressive correction: bisection steps for a stage's exponent. */
#define STAGE_BISECTIONS 40

/* The kernel jitters the particles' soc and offset: d = 2 in [MOL01]. */
#define KERNEL_DIM 2

/* Below this exponent an inline exp() returns 0 (2^-1022 would be next). */
#define EXP_MIN (-708.0)

struct bt_pf {
	const struct bt_ecm *ecm;
	struct bt_pf_opts o;
	size_t n;
	/* The particles: soc, current offset (A), and the Kalman filter of
	 * the OCV table's soc shift: its mean and variance. */
	double *z, *u, *e, *p;
	double *z2, *u2, *e2, *p2;	/* resampling buffers */
	double *w;			/* normalised weights */
	double *vh, *sl;		/* predicted voltages, OCV slopes */
	double *a;			/* minus the log-likelihoods, or half
					   the normalised squared residuals */
	double *c;			/* the likelihoods' normalising ratios */
	double *block;			/* the memory of the thirteen arrays */
	struct bt_ecm_state shared;	/* RC voltages, h, sign of the current */
	double mean;			/* posterior mean soc */
	double q_ah, eta;
	uint64_t rng[4];		/* xoshiro256** state */
	double zx[ZIG_LAYERS + 1];	/* ziggurat layer edges, decreasing */
	double zf[ZIG_LAYERS + 1];	/* the density exp(-x^2/2) at them */
	double h_kernel;		/* [MOL01] bandwidth */
	/* The OCV table: nt levels of BT_PF_OCV_TABLE_POINTS values. */
	size_t nt;
	double *temps, *ocv;
	double tab_h;			/* table spacing in soc */
	double r2;			/* the next sample's variance */
};

void
bt_pf_opts_init(struct bt_pf_opts *o)
{
	memset(o, 0, sizeof *o);
	o->particles = BT_PF_DEFAULT_PARTICLES;
	o->seed = BT_PF_DEFAULT_SEED;
	o->q_soc = BT_PF_DEFAULT_Q_SOC;
	o->q_i = BT_KF_DEFAULT_Q_I;
	o->q_offset_c = BT_PF_DEFAULT_Q_OFFSET_C;
	o->p0_offset_c = BT_PF_DEFAULT_P0_OFFSET_C;
	o->r_v = BT_KF_DEFAULT_R_V;
	o->r_tau_s = BT_KF_DEFAULT_R_TAU_S;
	o->p0_soc = BT_KF_DEFAULT_P0_SOC;
	o->ocv_sd = BT_PF_DEFAULT_OCV_SD;
	o->ocv_tau_s = BT_PF_DEFAULT_OCV_TAU_S;
}

/* --- Random numbers ---------------------------------------------------------- */

static inline uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* The next 64 bits of xoshiro256** [BV21]. */
static inline uint64_t
next64(uint64_t *s)
{
	uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return r;
}

/* A uniform draw in (0, 1): 53 bits, never 0 (it goes into logarithms). */
static inline double
uniform(uint64_t *s)
{
	return ((double)(next64(s) >> 11) + 0.5) * 0x1p-53;
}

/* Seed the generator from SEED by splitmix64 [BV21]. */
static void
seed_rng(uint64_t *s, uint64_t seed)
{
	int k;

	for (k = 0; k < 4; k++) {
		uint64_t z = (seed += 0x9e3779b97f4a7c15ULL);

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		s[k] = z ^ (z >> 31);
	}
}

/* The layer edges of [MT00]: x_1 = r, the base layer's width v / f(r)
 * (it holds the tail), and x_{k+1} = f^-1(v / x_k + f(x_k)) up to the
 * top, whose edge is 0. */
static void
zig_tables(double *x, double *f)
{
	size_t k;

	x[1] = ZIG_R;
	f[1] = exp(-0.5 * ZIG_R * ZIG_R);
	x[0] = ZIG_V / f[1];
	f[0] = f[1] - ZIG_V / x[0];	/* 0: the base layer reaches the axis */
	for (k = 1; k < ZIG_LAYERS; k++) {
		double y = ZIG_V / x[k] + f[k];

		x[k + 1] = y < 1 ? sqrt(-2 * log(y)) : 0;
		f[k + 1] = exp(-0.5 * x[k + 1] * x[k + 1]);
	}
	x[ZIG_LAYERS] = 0;
	f[ZIG_LAYERS] = 1;
}

/* The ziggurat's slow path: the tail beyond r (Marsaglia 1964) for the
 * base layer, the wedge test for the others, and a new draw when that
 * fails; B is the draw whose value T fell outside its layer's core. */
static double
gauss_slow(struct bt_pf *pf, uint64_t b, double t)
{
	uint64_t *s = pf->rng;
	const double *x = pf->zx, *f = pf->zf;
	size_t k = (size_t)(b & (ZIG_LAYERS - 1));

	for (;;) {
		if (k == 0) {
			double a, c;

			do {
				a = -log(uniform(s)) / ZIG_R;
				c = -log(uniform(s));
			} while (c + c < a * a);
			return t < 0 ? -(ZIG_R + a) : ZIG_R + a;
		}
		if (f[k] + uniform(s) * (f[k + 1] - f[k]) < exp(-0.5 * t * t))
			return t;
		b = next64(s);
		k = (size_t)(b & (ZIG_LAYERS - 1));
		t = ((double)(b >> 11) * 0x1p-52 - 1) * x[k];
		if (fabs(t) < x[k + 1])
			return t;
	}
}

/* A standard normal draw by the ziggurat [MT00], the layer from the low
 * seven bits and the signed value from the top 53 [Doo05]; the core of a
 * layer (99 % of draws) inline. */
static inline double
gauss(struct bt_pf *pf)
{
	uint64_t b = next64(pf->rng);
	size_t k = (size_t)(b & (ZIG_LAYERS - 1));
	double t = ((double)(b >> 11) * 0x1p-52 - 1) * pf->zx[k];

	if (fabs(t) < pf->zx[k + 1])
		return t;
	return gauss_slow(pf, b, t);
}

/* exp(X) for X <= 0, to a few ulps: X = k ln 2 + r, |r| <= ln 2 / 2, the
 * Taylor series of exp(r) to r^13 (remainder below 2e-17), and 2^k put
 * into the exponent bits; 0 below EXP_MIN.  Inline, without errno, it
 * costs a third of the library's call in the weights' loop. */
static inline double
exp_nonpositive(double x)
{
	const double ln2_hi = 6.93147180369123816490e-01;	/* fdlibm's split */
	const double ln2_lo = 1.90821492927058770002e-10;
	double k, r, y;
	union {
		double d;
		uint64_t u;
	} two_k;

	if (!(x >= EXP_MIN))
		return 0;
	k = nearbyint(x * 1.4426950408889634074);
	r = (x - k * ln2_hi) - k * ln2_lo;
	y = 1 + r * (1 + r * (1.0 / 2 + r * (1.0 / 6 + r * (1.0 / 24 + r * (1.0 / 120
	    + r * (1.0 / 720 + r * (1.0 / 5040 + r * (1.0 / 40320 + r * (1.0 / 362880
	    + r * (1.0 / 3628800 + r * (1.0 / 39916800 + r * (1.0 / 479001600
	    + r * (1.0 / 6227020800.0)))))))))))));
	two_k.u = (uint64_t)((int64_t)k + 1023) << 52;
	return y * two_k.d;
}

/* --- Allocation -------------------------------------------------------------- */

static enum bt_status
invalid(char *errmsg, const char *what)
{
	if (errmsg)
		snprintf(errmsg, BT_ERRMSG_SIZE, "%s", what);
	return BT_EINVAL;
}

void
bt_pf_free(struct bt_pf *pf)
{
	if (pf == NULL)
		return;
	free(pf->block);
	free(pf->temps);
	free(pf->ocv);
	free(pf);
}

enum bt_status
bt_pf_alloc(const struct bt_ecm *ecm, const struct bt_pf_opts *opts,
	    double soc0, struct bt_pf **out, char errmsg[BT_ERRMSG_SIZE])
{
	const struct bt_ecm_info *info = bt_ecm_info(ecm);
	struct bt_ecm_point pt;
	struct bt_pf *pf;
	size_t n = opts->particles, it, j;

	*out = NULL;
	if (n < 2 || n > BT_PF_MAX_PARTICLES)
		return invalid(errmsg, "the number of particles must be 2 to 10000000");
	if (!(opts->q_soc >= 0) || !isfinite(opts->q_soc))
		return invalid(errmsg, "q_soc must not be negative");
	if (!(opts->q_i >= 0) || !isfinite(opts->q_i))
		return invalid(errmsg, "q_i must not be negative");
	if (!(opts->q_offset_c >= 0) || !isfinite(opts->q_offset_c))
		return invalid(errmsg, "q_offset must not be negative");
	if (!(opts->p0_offset_c >= 0) || !isfinite(opts->p0_offset_c))
		return invalid(errmsg, "p0_offset must not be negative");
	if (!(opts->r_v > 0) || !isfinite(opts->r_v))
		return invalid(errmsg, "r_v must be positive");
	if (!(opts->r_tau_s >= 0) || !isfinite(opts->r_tau_s))
		return invalid(errmsg, "r_tau must not be negative");
	if (!(opts->p0_soc > 0) || !isfinite(opts->p0_soc))
		return invalid(errmsg, "p0_soc must be positive");
	if (!(opts->ocv_sd >= 0) || !isfinite(opts->ocv_sd))
		return invalid(errmsg, "ocv_sd must not be negative");
	if (!(opts->ocv_tau_s > 0))
		return invalid(errmsg, "ocv_tau must be positive");
	if (!isfinite(soc0))
		return invalid(errmsg, "the initial soc must be finite");
	pf = calloc(1, sizeof *pf);
	if (pf == NULL)
		return BT_ENOMEM;
	pf->ecm = ecm;
	pf->o = *opts;
	pf->n = n;
	pf->q_ah = info->capacity_ah;
	pf->eta = info->coulombic_efficiency;
	pf->r2 = opts->r_v * opts->r_v;	/* the first sample counts in full */
	pf->nt = bt_ecm_n_temps(ecm);
	/* One block for the thirteen per-particle arrays. */
	pf->block = malloc(13 * n * sizeof *pf->block);
	pf->temps = malloc(pf->nt * sizeof *pf->temps);
	pf->ocv = malloc(pf->nt * BT_PF_OCV_TABLE_POINTS * sizeof *pf->ocv);
	if (!pf->block || !pf->temps || !pf->ocv) {
		bt_pf_free(pf);
		return BT_ENOMEM;
	}
	pf->z = pf->block;
	pf->u = pf->z + n;
	pf->e = pf->u + n;
	pf->p = pf->e + n;
	pf->z2 = pf->p + n;
	pf->u2 = pf->z2 + n;
	pf->e2 = pf->u2 + n;
	pf->p2 = pf->e2 + n;
	pf->w = pf->p2 + n;
	pf->vh = pf->w + n;
	pf->sl = pf->vh + n;
	pf->a = pf->sl + n;
	pf->c = pf->a + n;
	seed_rng(pf->rng, opts->seed);
	zig_tables(pf->zx, pf->zf);
	/* [MOL01] eq. 12.8: the optimal bandwidth of a Gaussian kernel. */
	pf->h_kernel = pow(4 / ((double)n * (KERNEL_DIM + 2)), 1.0 / (KERNEL_DIM + 4));

	/* One OCV curve per temperature level: bt_ecm_ocv() at a level's
	 * own temperature is that level's PCHIP curve. */
	pf->tab_h = (BT_PF_OCV_TABLE_HI - BT_PF_OCV_TABLE_LO) /
		    (BT_PF_OCV_TABLE_POINTS - 1);
	memset(&pt, 0, sizeof pt);
	for (it = 0; it < pf->nt; it++) {
		bt_ecm_get_point(ecm, it, 0, &pt);
		pf->temps[it] = pt.temperature_c;
		for (j = 0; j < BT_PF_OCV_TABLE_POINTS; j++)
			pf->ocv[it * BT_PF_OCV_TABLE_POINTS + j] =
				bt_ecm_ocv(ecm, BT_PF_OCV_TABLE_LO + (double)j * pf->tab_h,
					   pt.temperature_c, NULL);
	}

	for (j = 0; j < n; j++) {
		pf->z[j] = soc0 + opts->p0_soc * gauss(pf);
		pf->u[j] = opts->p0_offset_c * pf->q_ah * gauss(pf);
		pf->e[j] = 0;
		pf->p[j] = opts->ocv_sd * opts->ocv_sd;
		pf->w[j] = 1 / (double)n;
	}
	pf->mean = soc0;
	bt_ecm_state_init(ecm, soc0, bt_ecm_reference_temperature_c(ecm), &pf->shared);
	*out = pf;
	return BT_OK;
}

const double *
bt_pf_particles(const struct bt_pf *pf)
{
	return pf->z;
}

size_t
bt_pf_count(const struct bt_pf *pf)
{
	return pf->n;
}

/* --- Prediction ---------------------------------------------------------------- */

enum bt_status
bt_pf_predict(struct bt_pf *pf, double current_a, double dt_s, double temp_c)
{
	double i = current_a, dz, sd, a, sdu, phi, q;
	size_t j, n = pf->n;
	double *z = pf->z, *u = pf->u, *e = pf->e, *p = pf->p;

	if (!(dt_s >= 0) || !isfinite(dt_s) || !isfinite(i) || !isfinite(temp_c))
		return BT_EINVAL;
	/* The shared RC and hysteresis states, with the parameters at the
	 * posterior mean. */
	pf->shared.soc = pf->mean;
	pf->shared.temp_c = temp_c;
	bt_ecm_step(pf->ecm, &pf->shared, i, dt_s);

	/* The current offsets follow a slow random walk. */
	sdu = pf->o.q_offset_c * pf->q_ah * sqrt(dt_s);

	/* Each particle's soc: the coulomb count of the current less the
	 * particle's offset ([Plett04] Part 2 eq. (1)) and a Gaussian step
	 * holding the process noise over dt and the current noise carried
	 * through the count. */
	a = (i > 0 ? pf->eta : 1) * dt_s / (SECONDS_PER_HOUR * pf->q_ah);
	dz = a * i;
	sd = sqrt(pf->o.q_soc * pf->o.q_soc * dt_s + a * pf->o.q_i * a * pf->o.q_i);
	/* The OCV error, first-order Gauss-Markov: mean phi e, variance
	 * phi^2 p + (1 - phi^2) sd^2. */
	phi = exp(-dt_s / pf->o.ocv_tau_s);
	q = (1 - phi * phi) * pf->o.ocv_sd * pf->o.ocv_sd;
	for (j = 0; j < n; j++) {
		z[j] += dz - a * u[j] + sd * gauss(pf);
		u[j] += sdu * gauss(pf);
		e[j] *= phi;
		p[j] = phi * phi * p[j] + q;
	}
	pf->mean += dz;
	pf->r2 = bt_kf_sample_variance(pf->o.r_v, pf->o.r_tau_s, dt_s);
	return BT_OK;
}

/* --- Update -------------------------------------------------------------------- */

/* Where TEMP_C lies among the model's levels: the lower level *IT0 and the
 * weight *W of the next, clamped as bt_ecm's interpolation is. */
static void
level(const struct bt_pf *pf, double temp_c, size_t *it0, double *w)
{
	size_t k;

	*it0 = 0;
	*w = 0;
	if (pf->nt == 1 || temp_c <= pf->temps[0])
		return;
	if (temp_c >= pf->temps[pf->nt - 1]) {
		*it0 = pf->nt - 2;
		*w = 1;
		return;
	}
	for (k = 0; k + 1 < pf->nt && pf->temps[k + 1] <= temp_c; k++)
		;
	*it0 = k;
	*w = (temp_c - pf->temps[k]) / (pf->temps[k + 1] - pf->temps[k]);
}

/* What every particle's prediction shares at one sample. */
struct sample {
	const double *t0, *t1;	/* the OCV tables of the two levels */
	double w1;		/* weight of the upper level */
	double temp_c;
	double rest;		/* R0 i, the RC voltages and the hysteresis */
	double rdc;		/* R0 + sum R_k: volts per ampere of offset */
	double r2;		/* the sample's variance */
};

/* Each particle's predicted voltage VH, OCV(z + e) linearised in the
 * shift e, and the slope SL of its OCV. */
static void
predict_voltages(struct bt_pf *pf, const struct sample *sm)
{
	const double *t0 = sm->t0, *t1 = sm->t1, *z = pf->z, *u = pf->u, *e = pf->e;
	double inv_h = 1 / pf->tab_h, w1 = sm->w1, w0 = 1 - sm->w1;
	double base = sm->rest, rdc = sm->rdc, *vh = pf->vh, *sl = pf->sl;
	size_t j, n = pf->n;

	for (j = 0; j < n; j++) {
		double f = (z[j] - BT_PF_OCV_TABLE_LO) * inv_h, o, d;
		long q = (long)f;

		if (f >= 0 && q < BT_PF_OCV_TABLE_POINTS - 1) {
			f -= (double)q;
			d = w0 * (t0[q + 1] - t0[q]) + w1 * (t1[q + 1] - t1[q]);
			o = w0 * t0[q] + w1 * t1[q] + f * d;
			d *= inv_h;
		} else {
			o = bt_ecm_ocv(pf->ecm, z[j], sm->temp_c, &d);
		}
		sl[j] = d;
		vh[j] = o + d * e[j] + base - rdc * u[j];
	}
}

/* Minus the log of each particle's marginal likelihood of the voltage V
 * with the OCV shift integrated out, N(V - vh; 0, S), S = s^2 p + r2, up
 * to a constant: half of r^2 / S + log(S / r2), into pf->a.
 *
 * Returns the least of them. */
static double
half_residuals(struct bt_pf *pf, double v, double r2)
{
	const double *vh = pf->vh, *sl = pf->sl, *p = pf->p;
	double *a = pf->a, amin = INFINITY;
	size_t j, n = pf->n;

	for (j = 0; j < n; j++) {
		double r = v - vh[j], s = sl[j] * sl[j] * p[j] + r2;

		a[j] = 0.5 * (r * r / s + log(s / r2));
		if (a[j] < amin)
			amin = a[j];
	}
	return amin;
}

/* The effective sample size of the weights W times exp(-GAMMA (a - AMIN)),
 * as a fraction of the particles. */
static double
tempered_ess(const struct bt_pf *pf, double gamma, double amin)
{
	double s = 0, s2 = 0, x;
	size_t j, n = pf->n;

	for (j = 0; j < n; j++) {
		x = pf->w[j] * exp_nonpositive(-gamma * (pf->a[j] - amin));
		s += x;
		s2 += x * x;
	}
	return s > 0 ? s * s / s2 / (double)n : 0;
}

/* Multiply the weights by exp(-GAMMA (a - AMIN)) and normalise them; with
 * nothing left (the carried weights underflowed where the data now
 * point), start again from the likelihood alone.  Returns the sum of the
 * squared weights. */
static double
reweight(struct bt_pf *pf, double gamma, double amin)
{
	double *w = pf->w, *a = pf->a, s = 0, s2 = 0;
	size_t j, n = pf->n;

	for (j = 0; j < n; j++) {
		w[j] *= exp_nonpositive(-gamma * (a[j] - amin));
		s += w[j];
	}
	if (!(s > 0))
		for (j = 0, s = 0; j < n; j++)
			s += w[j] = exp_nonpositive(-gamma * (a[j] - amin));
	for (j = 0; j < n; j++) {
		w[j] /= s;
		s2 += w[j] * w[j];
	}
	return s2;
}

/* Systematic resampling [Kit96]: N ordered points (U + k)/N from one
 * uniform draw, through the cumulative weights; then the kernel of the
 * regularised particle filter [MOL01]: every particle's soc and offset
 * moved by h L g, L the Cholesky factor of their weighted covariance
 * before resampling and g a standard normal pair, so that the cloud is a
 * draw from a smooth density, not copies of a few survivors. */
static void
resample(struct bt_pf *pf)
{
	double *z = pf->z, *u = pf->u, *e = pf->e, *p = pf->p, *w = pf->w, *t;
	double mz = 0, mu = 0, czz = 0, czu = 0, cuu = 0, l11, l21, l22, pos, c;
	double step = 1 / (double)pf->n;
	size_t j, k, n = pf->n;

	for (j = 0; j < n; j++) {
		mz += w[j] * z[j];
		mu += w[j] * u[j];
	}
	for (j = 0; j < n; j++) {
		double dz = z[j] - mz, du = u[j] - mu;

		czz += w[j] * dz * dz;
		czu += w[j] * dz * du;
		cuu += w[j] * du * du;
	}
	l11 = sqrt(czz);
	l21 = l11 > 0 ? czu / l11 : 0;
	l22 = sqrt(fmax(cuu - l21 * l21, 0));
	l11 *= pf->h_kernel;
	l21 *= pf->h_kernel;
	l22 *= pf->h_kernel;

	pos = uniform(pf->rng) * step;
	c = w[0];
	for (k = 0, j = 0; k < n; k++, pos += step) {
		while (pos > c && j + 1 < n)
			c += w[++j];
		pf->z2[k] = z[j];
		pf->u2[k] = u[j];
		pf->e2[k] = e[j];
		pf->p2[k] = p[j];
	}
	for (k = 0; k < n; k++) {
		double g1 = gauss(pf), g2 = gauss(pf);

		pf->z2[k] += l11 * g1;
		pf->u2[k] += l21 * g1 + l22 * g2;
		w[k] = step;
	}
	t = pf->z; pf->z = pf->z2; pf->z2 = t;
	t = pf->u; pf->u = pf->u2; pf->u2 = t;
	t = pf->e; pf->e = pf->e2; pf->e2 = t;
	t = pf->p; pf->p = pf->p2; pf->p2 = t;
}

/* Progressive correction [OM00]: apply the likelihood of V in stages,
 * each one's exponent found by bisection so that it takes the effective
 * sample size down to BT_PF_RESAMPLE_ESS, then resample (with the kernel)
 * and predict again; the last stage takes what is left.  AMIN is that of
 * pf->a at entry. */
static void
progressive(struct bt_pf *pf, const struct sample *sm, double v, double amin)
{
	double left = 1, lo, hi, mid;
	int stage, b;

	for (stage = 1; stage < BT_PF_MAX_STAGES; stage++) {
		if (tempered_ess(pf, left, amin) >= BT_PF_RESAMPLE_ESS)
			break;
		lo = 0;
		hi = left;
		for (b = 0; b < STAGE_BISECTIONS; b++) {
			mid = 0.5 * (lo + hi);
			if (tempered_ess(pf, mid, amin) >= BT_PF_RESAMPLE_ESS)
				lo = mid;
			else
				hi = mid;
		}
		if (!(lo > 0))
			lo = hi;
		reweight(pf, lo, amin);
		resample(pf);
		left -= lo;
		predict_voltages(pf, sm);
		amin = half_residuals(pf, v, sm->r2);
	}
	reweight(pf, left, amin);
}

enum bt_status
bt_pf_update(struct bt_pf *pf, double current_a, double voltage_v, double temp_c,
	     struct bt_pf_result *res)
{
	struct sample sm;
	struct bt_ecm_params par;
	double prior = 0, c0, sv = 0, sv2 = 0, sp = 0, var = 0, s2, amin, sw, sq;
	double *z, *w = pf->w;
	size_t n = pf->n, j, k, it0;

	if (!isfinite(current_a) || !isfinite(temp_c))
		return BT_EINVAL;
	level(pf, temp_c, &it0, &sm.w1);
	sm.t0 = pf->ocv + it0 * BT_PF_OCV_TABLE_POINTS;
	sm.t1 = pf->nt > 1 ? sm.t0 + BT_PF_OCV_TABLE_POINTS : sm.t0;
	sm.temp_c = temp_c;
	sm.r2 = pf->r2;

	/* W holds the normalised weights the particles carried out of the
	 * last update. */
	z = pf->z;
	for (j = 0; j < n; j++)
		prior += w[j] * z[j];
	/* Everything but the OCV, at the prior mean: R0 i, the RC voltages
	 * and the hysteresis. */
	pf->shared.soc = prior;
	pf->shared.temp_c = temp_c;
	sm.rest = bt_ecm_voltage(pf->ecm, &pf->shared, current_a) -
		  bt_ecm_ocv(pf->ecm, prior, temp_c, NULL);
	/* A particle's current offset b lowers the true current by b: its
	 * voltage by the DC resistance R0 + sum R_k times b. */
	bt_ecm_params_at(pf->ecm, prior, temp_c, &par);
	sm.rdc = par.r0;
	for (k = 0; k < BT_ECM_MAX_RC; k++)
		sm.rdc += par.r[k];
	predict_voltages(pf, &sm);

	/* The predicted voltage: the particles' mean, its variance their
	 * spread plus the OCV error's s^2 p and the sample's r2 (shifted by
	 * the first particle's, so that the sums do not cancel). */
	c0 = pf->vh[0];
	for (j = 0; j < n; j++) {
		double d = pf->vh[j] - c0;

		sv += w[j] * d;
		sv2 += w[j] * d * d;
		sp += w[j] * pf->sl[j] * pf->sl[j] * pf->p[j];
	}
	res->v_model_v = c0 + sv;
	res->innovation_var = fmax(sv2 - sv * sv, 0) + sp + pf->r2;
	res->innovation_v = isfinite(voltage_v) ? voltage_v - res->v_model_v : NAN;
	res->nis = NAN;
	res->r0_ohm = par.r0;

	/* No voltage, or one at the time of the last (infinite r2): no
	 * update. */
	if (!isfinite(voltage_v) || !isfinite(pf->r2)) {
		for (j = 0; j < n; j++)
			var += w[j] * (z[j] - prior) * (z[j] - prior);
		res->soc = pf->mean = prior;
		res->soc_sd = sqrt(var);
		return BT_OK;
	}
	res->nis = res->innovation_v * res->innovation_v / res->innovation_var;

	/* Importance weights times the marginal likelihood ([GSS93] sec. 3,
	 * [DFMR00]) sqrt(r2 / S) exp(-r^2 / 2 S), its exponent shifted by the
	 * best particle's so that it cannot underflow everywhere; the new
	 * weights, not yet normalised, in z2. */
	amin = INFINITY;
	for (j = 0; j < n; j++) {
		double r = voltage_v - pf->vh[j];
		double is = 1 / (pf->sl[j] * pf->sl[j] * pf->p[j] + pf->r2);

		pf->a[j] = 0.5 * r * r * is;
		pf->c[j] = sqrt(pf->r2 * is);
		if (pf->a[j] < amin)
			amin = pf->a[j];
	}
	sw = sq = 0;
	for (j = 0; j < n; j++) {
		double x = w[j] * pf->c[j] * exp_nonpositive(amin - pf->a[j]);

		pf->z2[j] = x;
		sw += x;
		sq += x * x;
	}
	if (!(sw > 0) || sw * sw < BT_PF_COLLAPSE_ESS * (double)n * sq) {
		/* Too few particles left, or none (their carried weights
		 * underflowed where the data now point): in stages, on the
		 * full log-likelihood. */
		for (j = 0, amin = INFINITY; j < n; j++) {
			pf->a[j] -= log(pf->c[j]);
			if (pf->a[j] < amin)
				amin = pf->a[j];
		}
		progressive(pf, &sm, voltage_v, amin);
	} else {
		sw = 1 / sw;
		for (j = 0; j < n; j++)
			w[j] = pf->z2[j] * sw;
	}

	/* Each particle's Kalman update of its OCV shift (gain p s / S), and
	 * the posterior mean and spread (sums shifted by the first
	 * particle's soc). */
	z = pf->z;
	c0 = z[0];
	sv = sv2 = s2 = 0;
	for (j = 0; j < n; j++) {
		double r = voltage_v - pf->vh[j], sl = pf->sl[j], p = pf->p[j];
		double g = p / (sl * sl * p + pf->r2), d = z[j] - c0;

		pf->e[j] += g * sl * r;
		pf->p[j] = g * pf->r2;
		sv += w[j] * d;
		sv2 += w[j] * d * d;
		s2 += w[j] * w[j];
	}
	res->soc = pf->mean = c0 + sv;
	res->soc_sd = sqrt(fmax(sv2 - sv * sv, 0));

	/* Resample when the effective sample size 1 / sum w^2 falls below
	 * BT_PF_RESAMPLE_ESS of the particles (Liu and Chen 1995). */
	if (1 / s2 < BT_PF_RESAMPLE_ESS * (double)n)
		resample(pf);
	return BT_OK;
}
