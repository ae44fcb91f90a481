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
 *   random variables", J. Stat. Softw. 5 (2000) 8: the layers of equal
 *   area v, the base one holding the tail beyond r (for 256 layers r =
 *   3.6541528853610088, v = 4.92867323399e-3).
 * [Doo05] J. A. Doornik, "An improved ziggurat method to generate normal
 *   random samples", University of Oxford 2005: the layer and the value
 *   from independent bits of the draw.
 * [Tan89] P. T. P. Tang, "Table-driven implementation of the exponential
 *   function in IEEE floating-point arithmetic", ACM Trans. Math. Softw.
 *   15 (1989) 144-157.
 */
#include <config.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bt_kf.h"
#include "bt_pf.h"

#define SECONDS_PER_HOUR 3600.0

/* The ziggurat of [MT00]: layers, the tail's start r and each layer's
 * area v. */
#define ZIG_LAYERS 256
#define ZIG_LAYER_BITS 8
#define ZIG_R 3.6541528853610088
#define ZIG_V 4.92867323399e-3

/* The per-particle arrays of struct bt_pf, in one block. */
#define N_ARRAYS 12

/* Progressive correction: bisection steps for a stage's exponent. */
#define STAGE_BISECTIONS 40

/* The kernel jitters the particles' soc and offset: d = 2 in [MOL01]. */
#define KERNEL_DIM 2

/* Below this exponent an inline exp() returns 0 (2^-1022 would be next);
 * its table of 2^(j/256). */
#define EXP_MIN (-708.0)
#define EXP_TABLE_BITS 8
#define EXP_TABLE (1 << EXP_TABLE_BITS)

struct bt_pf {
	const struct bt_ecm *ecm;
	struct bt_pf_opts o;
	size_t n;
	/* The particles: soc, current offset (A), and the Kalman filter of
	 * the OCV table's soc shift: its mean and variance. */
	double *z, *u, *e, *p;
	double *z2, *u2, *e2, *p2;	/* resampling buffers */
	double *w;			/* weights, their sum wsum */
	double wsum;
	double *vh, *sl;		/* predicted voltages, OCV slopes */
	double *a;			/* minus the log-likelihoods */
	double *block;			/* the memory of the arrays above */
	struct bt_ecm_state shared;	/* RC voltages, h, sign of the current */
	double mean;			/* posterior mean soc */
	double prior;			/* prior mean soc, after bt_pf_predict */
	int have_prior;
	double q_ah, eta;
	uint64_t rng[4];		/* xoshiro256** state */
	double zx[ZIG_LAYERS + 1];	/* ziggurat layer edges, decreasing */
	double zf[ZIG_LAYERS + 1];	/* the density exp(-x^2/2) at them */
	double h_kernel;		/* [MOL01] bandwidth */
	double exp2_tab[EXP_TABLE];	/* 2^(j/256) */
	/* The OCV table: nt levels of BT_PF_OCV_TABLE_POINTS values, and
	 * the differences of successive values. */
	size_t nt;
	double *temps, *ocv, *docv;
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
	return ((double)(int64_t)(next64(s) >> 11) + 0.5) * 0x1p-53;
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

/* exp(X) for X <= 0, table-driven [Tan89]: X = (256 k + j) ln 2 / 256 +
 * r, |r| <= ln 2 / 512, exp(X) = 2^k 2^(j/256) exp(r), exp(r) by its
 * Taylor series to r^4 (remainder below 4e-17), 2^(j/256) from a table
 * made with exp2() and 2^k put into the exponent bits; 0 below EXP_MIN.
 * Within 2 ulp of exp() (checked on [-708, 0]); inline and without errno
 * it costs a fraction of the library's call in the weights' loop. */
static inline double
exp_nonpositive(const double *tab, double x)
{
	const double shift = 0x1.8p52;	/* rounds to an integer in the low bits */
	const double inv = EXP_TABLE / 0.693147180559945309417;
	/* ln 2 / 256 in two parts, fdlibm's split of ln 2 (the high part's
	 * low 21 bits zero: kd ln2_hi is exact for |kd| < 2^21). */
	const double ln2_hi = 6.93147180369123816490e-01 / EXP_TABLE;
	const double ln2_lo = 1.90821492927058770002e-10 / EXP_TABLE;
	union {
		double d;
		uint64_t u;
	} kd, two_k;
	double r, p;
	int64_t ki;

	if (!(x >= EXP_MIN))
		return 0;
	kd.d = x * inv + shift;
	ki = (int64_t)(kd.u - 0x4338000000000000ULL);	/* the rounded 256 x / ln 2 */
	kd.d -= shift;
	r = (x - kd.d * ln2_hi) - kd.d * ln2_lo;
	p = 1 + r * (1 + r * (1.0 / 2 + r * (1.0 / 6 + r * (1.0 / 24))));
	two_k.u = (uint64_t)((ki >> EXP_TABLE_BITS) + 1023) << 52;
	return tab[ki & (EXP_TABLE - 1)] * p * two_k.d;
}

/* The ziggurat's slow path: the tail beyond r (Marsaglia 1964) for the
 * base layer K = 0, the wedge test for the others, and a new draw when
 * that fails; T is the value that fell outside layer K's core. */
static double
gauss_slow(struct bt_pf *pf, size_t k, double t)
{
	uint64_t *s = pf->rng, b;
	const double *x = pf->zx, *f = pf->zf;

	for (;;) {
		if (k == 0) {
			double a, c;

			do {
				a = -log(uniform(s)) / ZIG_R;
				c = -log(uniform(s));
			} while (c + c < a * a);
			return t < 0 ? -(ZIG_R + a) : ZIG_R + a;
		}
		if (f[k] + uniform(s) * (f[k + 1] - f[k]) <
		    exp_nonpositive(pf->exp2_tab, -0.5 * t * t))
			return t;
		b = next64(s);
		k = (size_t)(b & (ZIG_LAYERS - 1));
		t = ((double)(int64_t)(b >> 11) * 0x1p-52 - 1) * x[k];
		if (fabs(t) < x[k + 1])
			return t;
	}
}

/* Two standard normal draws by the ziggurat [MT00] from one 64-bit draw,
 * one from each half: the layer from a half's low eight bits and the
 * signed value from its top 24 [Doo05] (steps of 2^-23 of the layer's
 * width, below 5e-7, far below any noise it scales); the core of a
 * layer (99 % of draws) inline. */
static inline void
gauss2(struct bt_pf *pf, double *g1, double *g2)
{
	uint64_t b = next64(pf->rng);
	uint32_t h1 = (uint32_t)b, h2 = (uint32_t)(b >> 32);
	size_t k1 = h1 & (ZIG_LAYERS - 1), k2 = h2 & (ZIG_LAYERS - 1);
	double t1 = ((double)(int32_t)(h1 >> ZIG_LAYER_BITS) * 0x1p-23 - 1) * pf->zx[k1];
	double t2 = ((double)(int32_t)(h2 >> ZIG_LAYER_BITS) * 0x1p-23 - 1) * pf->zx[k2];

	*g1 = fabs(t1) < pf->zx[k1 + 1] ? t1 : gauss_slow(pf, k1, t1);
	*g2 = fabs(t2) < pf->zx[k2 + 1] ? t2 : gauss_slow(pf, k2, t2);
}

/* One standard normal draw as above, from all 64 bits: the layer from
 * the low eight, the value from the top 53. */
static inline double
gauss(struct bt_pf *pf)
{
	uint64_t b = next64(pf->rng);
	size_t k = (size_t)(b & (ZIG_LAYERS - 1));
	double t = ((double)(int64_t)(b >> 11) * 0x1p-52 - 1) * pf->zx[k];

	return fabs(t) < pf->zx[k + 1] ? t : gauss_slow(pf, k, t);
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
	free(pf->docv);
	free(pf);
}

/* Point the per-particle arrays into pf->block, N_ARRAYS of pf->n. */
static void
carve(struct bt_pf *pf)
{
	double **arrays[N_ARRAYS] = {
		&pf->z, &pf->u, &pf->e, &pf->p, &pf->z2, &pf->u2, &pf->e2, &pf->p2,
		&pf->w, &pf->vh, &pf->sl, &pf->a
	};
	size_t k;

	for (k = 0; k < N_ARRAYS; k++)
		*arrays[k] = pf->block + k * pf->n;
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
	/* One block for the per-particle arrays. */
	pf->block = malloc(N_ARRAYS * n * sizeof *pf->block);
	pf->temps = malloc(pf->nt * sizeof *pf->temps);
	pf->ocv = malloc(pf->nt * BT_PF_OCV_TABLE_POINTS * sizeof *pf->ocv);
	pf->docv = malloc(pf->nt * BT_PF_OCV_TABLE_POINTS * sizeof *pf->docv);
	if (!pf->block || !pf->temps || !pf->ocv || !pf->docv) {
		bt_pf_free(pf);
		return BT_ENOMEM;
	}
	carve(pf);
	seed_rng(pf->rng, opts->seed);
	zig_tables(pf->zx, pf->zf);
	for (j = 0; j < EXP_TABLE; j++)
		pf->exp2_tab[j] = exp2((double)j / EXP_TABLE);
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
		for (j = 0; j + 1 < BT_PF_OCV_TABLE_POINTS; j++)
			pf->docv[it * BT_PF_OCV_TABLE_POINTS + j] =
				pf->ocv[it * BT_PF_OCV_TABLE_POINTS + j + 1] -
				pf->ocv[it * BT_PF_OCV_TABLE_POINTS + j];
		pf->docv[(it + 1) * BT_PF_OCV_TABLE_POINTS - 1] = 0;
	}

	for (j = 0; j < n; j++) {
		pf->z[j] = soc0 + opts->p0_soc * gauss(pf);
		pf->u[j] = opts->p0_offset_c * pf->q_ah * gauss(pf);
		pf->e[j] = 0;
		pf->p[j] = opts->ocv_sd * opts->ocv_sd;
		pf->w[j] = 1 / (double)n;
	}
	pf->wsum = 1;
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
	double i = current_a, dz, sd, a, sdu, phi, q, prior = 0;
	size_t j, n = pf->n;
	double *restrict z = pf->z, *restrict u = pf->u, *restrict e = pf->e;
	double *restrict p = pf->p, *restrict w = pf->w, iw = 1 / pf->wsum;

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
		double g1, g2;

		gauss2(pf, &g1, &g2);
		z[j] += dz - a * u[j] + sd * g1;
		u[j] += sdu * g2;
		e[j] *= phi;
		p[j] = phi * phi * p[j] + q;
		w[j] *= iw;	/* normalised here, where it costs nothing */
		prior += w[j] * z[j];
	}
	pf->wsum = 1;
	pf->mean += dz;
	pf->prior = prior;
	pf->have_prior = 1;
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
	const double *d0, *d1;	/* their differences */
	double w1;		/* weight of the upper level */
	double rest;		/* R0 i, the RC voltages and the hysteresis */
	double c0;		/* the voltage at the prior mean */
	double rdc;		/* R0 + sum R_k: volts per ampere of offset */
	double r2;		/* the sample's variance */
};

/* Each particle's predicted voltage VH, OCV(z + e) linearised in the
 * shift e, and the slope SL of its OCV; in *VM and *VV the predicted
 * voltage's weighted mean and variance, the particles' spread plus the
 * OCV error's s^2 p (sums shifted by the voltage at the prior mean, so
 * that they do not cancel). */
static void
predict_voltages(struct bt_pf *pf, const struct sample *sm, double *vm, double *vv)
{
	const double *restrict t0 = sm->t0, *restrict t1 = sm->t1;
	const double *restrict d0 = sm->d0, *restrict d1 = sm->d1;
	const double *restrict z = pf->z, *restrict u = pf->u;
	const double *restrict e = pf->e, *restrict p = pf->p, *restrict w = pf->w;
	double inv_h = 1 / pf->tab_h, w1 = sm->w1, w0 = 1 - sm->w1, c0 = sm->c0;
	double base = sm->rest, rdc = sm->rdc, *restrict vh = pf->vh;
	double *restrict sl = pf->sl, sv = 0, sv2 = 0, sp = 0;
	size_t j, n = pf->n;

	for (j = 0; j < n; j++) {
		double f = (z[j] - BT_PF_OCV_TABLE_LO) * inv_h, o, d;
		long q;

		/* Outside the table the end intervals continue it: the table
		 * reaches beyond the model's soc range, where bt_ecm_ocv() is
		 * the straight line of the curve's end slope. */
		if (!(f > 0))
			q = 0;
		else if (f >= BT_PF_OCV_TABLE_POINTS - 1)
			q = BT_PF_OCV_TABLE_POINTS - 2;
		else
			q = (long)f;
		f -= (double)q;
		if (w1 == 0) {
			d = d0[q];
			o = t0[q] + f * d;
		} else {
			d = w0 * d0[q] + w1 * d1[q];
			o = w0 * t0[q] + w1 * t1[q] + f * d;
		}
		d *= inv_h;
		sl[j] = d;
		vh[j] = o + d * e[j] + base - rdc * u[j];
		o = vh[j] - c0;
		sv += w[j] * o;
		sv2 += w[j] * o * o;
		sp += w[j] * d * d * p[j];
	}
	sv /= pf->wsum;
	*vm = c0 + sv;
	*vv = fmax(sv2 / pf->wsum - sv * sv, 0) + sp / pf->wsum;
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
		x = pf->w[j] * exp_nonpositive(pf->exp2_tab, -gamma * (pf->a[j] - amin));
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
		w[j] *= exp_nonpositive(pf->exp2_tab, -gamma * (a[j] - amin));
		s += w[j];
	}
	if (!(s > 0))
		for (j = 0, s = 0; j < n; j++)
			s += w[j] = exp_nonpositive(pf->exp2_tab, -gamma * (a[j] - amin));
	for (j = 0; j < n; j++) {
		w[j] /= s;
		s2 += w[j] * w[j];
	}
	pf->wsum = 1;
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
	double step = 1 / (double)pf->n, iw = 1 / pf->wsum;
	size_t j, k, n = pf->n;

	for (j = 0; j < n; j++) {
		w[j] *= iw;
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
	pf->wsum = 1;
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
		predict_voltages(pf, sm, &mid, &hi);
		amin = half_residuals(pf, v, sm->r2);
	}
	reweight(pf, left, amin);
}

/* After progressive correction (normalised weights): each particle's
 * Kalman update of its OCV shift with the voltage V, and the posterior
 * mean and spread into RES (sums shifted by the first particle's soc).
 * Returns the sum of the squared weights. */
static double
rb_update(struct bt_pf *pf, double v, struct bt_pf_result *res)
{
	double c0 = pf->z[0], sv = 0, sv2 = 0, s2 = 0, r2 = pf->r2;
	size_t j, n = pf->n;

	for (j = 0; j < n; j++) {
		double r = v - pf->vh[j], sl = pf->sl[j], p = pf->p[j];
		double g = p / (sl * sl * p + r2), d = pf->z[j] - c0;

		pf->e[j] += g * sl * r;
		pf->p[j] = g * r2;
		sv += pf->w[j] * d;
		sv2 += pf->w[j] * d * d;
		s2 += pf->w[j] * pf->w[j];
	}
	res->soc = pf->mean = c0 + sv;
	res->soc_sd = sqrt(fmax(sv2 - sv * sv, 0));
	return s2;
}

enum bt_status
bt_pf_update(struct bt_pf *pf, double current_a, double voltage_v, double temp_c,
	     struct bt_pf_result *res)
{
	struct sample sm;
	struct bt_ecm_params par;
	double prior = 0, sv, sv2, var = 0, s2, sw, sq;
	double *z, *w = pf->w;
	size_t n = pf->n, j, k, it0;

	if (!isfinite(current_a) || !isfinite(temp_c))
		return BT_EINVAL;
	level(pf, temp_c, &it0, &sm.w1);
	sm.t0 = pf->ocv + it0 * BT_PF_OCV_TABLE_POINTS;
	sm.t1 = pf->nt > 1 ? sm.t0 + BT_PF_OCV_TABLE_POINTS : sm.t0;
	sm.d0 = pf->docv + it0 * BT_PF_OCV_TABLE_POINTS;
	sm.d1 = pf->nt > 1 ? sm.d0 + BT_PF_OCV_TABLE_POINTS : sm.d0;
	sm.r2 = pf->r2;

	/* W holds the normalised weights the particles carried out of the
	 * last update. */
	z = pf->z;
	if (pf->have_prior) {
		prior = pf->prior;
	} else {
		for (j = 0; j < n; j++)
			prior += w[j] * z[j];
		prior /= pf->wsum;
	}
	pf->have_prior = 0;
	/* Everything but the OCV, at the prior mean: R0 i, the RC voltages
	 * and the hysteresis. */
	pf->shared.soc = prior;
	pf->shared.temp_c = temp_c;
	sm.c0 = bt_ecm_voltage(pf->ecm, &pf->shared, current_a);
	sm.rest = sm.c0 - bt_ecm_ocv(pf->ecm, prior, temp_c, NULL);
	/* A particle's current offset b lowers the true current by b: its
	 * voltage by the DC resistance R0 + sum R_k times b. */
	bt_ecm_params_at(pf->ecm, prior, temp_c, &par);
	sm.rdc = par.r0;
	for (k = 0; k < BT_ECM_MAX_RC; k++)
		sm.rdc += par.r[k];
	predict_voltages(pf, &sm, &res->v_model_v, &res->innovation_var);
	res->innovation_var += pf->r2;
	res->innovation_v = isfinite(voltage_v) ? voltage_v - res->v_model_v : NAN;
	res->nis = NAN;
	res->r0_ohm = par.r0;

	/* No voltage, or one at the time of the last (infinite r2): no
	 * update. */
	if (!isfinite(voltage_v) || !isfinite(pf->r2)) {
		for (j = 0; j < n; j++)
			var += w[j] * (z[j] - prior) * (z[j] - prior);
		res->soc = pf->mean = prior;
		res->soc_sd = sqrt(var / pf->wsum);
		return BT_OK;
	}
	res->nis = res->innovation_v * res->innovation_v / res->innovation_var;

	/* In one pass: the importance weights times the marginal likelihood
	 * ([GSS93] sec. 3, [DFMR00]) sqrt(r2 / S) exp(-r^2 / 2 S) (at most 1),
	 * into z2; each particle's Kalman update of its OCV shift (gain p s /
	 * S), into e2 and p2; and the sums of the new weights, of their
	 * squares and of the posterior's first two moments (shifted by the
	 * prior mean). */
	sw = sq = sv = sv2 = 0;
	{
		const double *restrict vh = pf->vh, *restrict sl = pf->sl;
		const double *restrict p = pf->p, *restrict e = pf->e;
		const double *restrict zz = pf->z;
		double *restrict x = pf->z2, *restrict e2 = pf->e2, *restrict p2 = pf->p2;
		double r2 = pf->r2;

		for (j = 0; j < n; j++) {
			double r = voltage_v - vh[j], d = zz[j] - prior;
			double is = 1 / (sl[j] * sl[j] * p[j] + r2), g = p[j] * is;

			x[j] = w[j] * sqrt(r2 * is) *
			       exp_nonpositive(pf->exp2_tab, -0.5 * r * r * is);
			e2[j] = e[j] + g * sl[j] * r;
			p2[j] = g * r2;
			sw += x[j];
			sq += x[j] * x[j];
			sv += x[j] * d;
			sv2 += x[j] * d * d;
		}
	}
	/* The sums must be normal numbers: weights near 1e-154 and below
	 * square to nothing, which would read as an infinite effective
	 * sample size. */
	if (sq >= DBL_MIN && sw * sw >= BT_PF_COLLAPSE_ESS * (double)n * sq) {
		double *t;

		t = pf->w; pf->w = pf->z2; pf->z2 = t;
		t = pf->e; pf->e = pf->e2; pf->e2 = t;
		t = pf->p; pf->p = pf->p2; pf->p2 = t;
		pf->wsum = sw;
		sv /= sw;
		res->soc = pf->mean = prior + sv;
		res->soc_sd = sqrt(fmax(sv2 / sw - sv * sv, 0));
		s2 = sq / (sw * sw);
	} else {
		/* Too few particles left, or none (the likelihood or the
		 * carried weights underflowed where the data now point): in
		 * stages, on the log-likelihood relative to the best
		 * particle's; then as above, on the particles that come out. */
		progressive(pf, &sm, voltage_v, half_residuals(pf, voltage_v, pf->r2));
		s2 = rb_update(pf, voltage_v, res);
	}

	/* Resample when the effective sample size 1 / sum w^2 falls below
	 * BT_PF_RESAMPLE_ESS of the particles (Liu and Chen 1995). */
	if (1 / s2 < BT_PF_RESAMPLE_ESS * (double)n)
		resample(pf);
	return BT_OK;
}
