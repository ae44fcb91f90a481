/* bt_kf.c - extended and unscented Kalman filters of state of charge on
 * the equivalent-circuit model of bt_ecm.
 *
 * References:
 * [Plett04] G. L. Plett, "Extended Kalman filtering for battery management
 *   systems of LiPB-based HEV battery packs", Parts 1-3, J. Power Sources
 *   134 (2004) 252-292 (Part 3, sec. 4: joint estimation of state and
 *   parameters).
 * [Plett06] G. L. Plett, "Sigma-point Kalman filtering for battery
 *   management systems of LiPB-based HEV battery packs", Part 1, J. Power
 *   Sources 161 (2006) 1356-1368.
 * [WvdM00] E. A. Wan and R. van der Merwe, "The unscented Kalman filter for
 *   nonlinear estimation", Proc. IEEE AS-SPCC (2000) 153-158: the scaled
 *   unscented transform, eqs. (15)-(17).
 * [BSLK01] Y. Bar-Shalom, X. R. Li, T. Kirubarajan, "Estimation with
 *   Applications to Tracking and Navigation", Wiley 2001, eq. 5.2.3-18
 *   (Joseph form of the covariance update).
 * [LBS02] T. Lefebvre, H. Bruyninckx, J. De Schutter, "Comment on 'A new
 *   method for the nonlinear transformation of means and covariances'",
 *   IEEE Trans. Autom. Control 47 (2002) 1406-1409: the unscented update
 *   as a statistical linear regression H = Pxz' P^-1.
 * [KFI08] R. Kandepu, B. Foss, L. Imsland, "Applying the unscented Kalman
 *   filter for nonlinear state estimation", J. Process Control 18 (2008)
 *   753-768, sec. 4.2: sigma points outside the state's bounds projected
 *   onto them.
 */
#include <config.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>

#include "bt_kf.h"

#define SECONDS_PER_HOUR 3600.0
#define N_MAX BT_KF_MAX_STATE
#define N_SIGMA (2 * N_MAX + 1)

/* The sigma points' Cholesky factorisation: jitter and retries. */
#define CHOLESKY_JITTER 1e-14
#define CHOLESKY_TRIES 6

struct bt_kf {
	const struct bt_ecm *ecm;
	struct bt_kf_opts o;
	size_t nm;		/* the model's state dimension */
	size_t n;		/* the filter's: nm, + 2 with adaptation, + 1
				   with the current offset */
	size_t ir0, icap;	/* indices of k_r0 and the capacity */
	size_t ioff;		/* index of the current offset, or 0 */
	size_t ih;		/* index of h, or 0 without hysteresis */
	double q_model_ah;	/* the model's capacity */
	double eta;		/* coulombic efficiency on charge */
	double r2;		/* the next sample's variance (predict sets it) */
	double r2_dt, r2_of_dt;	/* the last step predict saw and its r2: a
				   log sampled at a fixed rate needs one
				   bt_kf_sample_variance() per run */
	struct bt_ecm_state st;	/* the mean, as a model state */
	double x[N_MAX];	/* the mean */
	double p[N_MAX * N_MAX];	/* its covariance, row-major */
	double qdiag[N_MAX];	/* process noise per second, variances */
	double wm0, wc0, wi, gamma;	/* unscented weights and spread */
};

void
bt_kf_opts_init(struct bt_kf_opts *o)
{
	memset(o, 0, sizeof *o);
	o->method = BT_KF_EKF;
	o->q_soc = BT_KF_DEFAULT_Q_SOC;
	o->q_v = BT_KF_DEFAULT_Q_V;
	o->q_h = BT_KF_DEFAULT_Q_H;
	o->q_i = BT_KF_DEFAULT_Q_I;
	o->r_v = BT_KF_DEFAULT_R_V;
	o->r_tau_s = BT_KF_DEFAULT_R_TAU_S;
	o->p0_soc = BT_KF_DEFAULT_P0_SOC;
	o->p0_v = BT_KF_DEFAULT_P0_V;
	o->p0_h = BT_KF_DEFAULT_P0_H;
	o->adapt = 0;
	o->q_r0 = BT_KF_DEFAULT_Q_R0;
	o->q_capacity = BT_KF_DEFAULT_Q_CAPACITY;
	o->p0_r0 = BT_KF_DEFAULT_P0_R0;
	o->p0_capacity = BT_KF_DEFAULT_P0_CAPACITY;
	o->p0_offset_c = BT_KF_DEFAULT_P0_OFFSET_C;
	o->q_offset_c = BT_KF_DEFAULT_Q_OFFSET_C;
	o->ukf_alpha = BT_KF_DEFAULT_UKF_ALPHA;
	o->ukf_beta = BT_KF_DEFAULT_UKF_BETA;
	o->ukf_kappa = BT_KF_DEFAULT_UKF_KAPPA;
}

double
bt_kf_sample_variance(double r_v, double tau_s, double dt_s)
{
	double d;

	if (tau_s == 0)
		return r_v * r_v;
	if (dt_s == 0)
		return INFINITY;
	/* (1 + phi) / (1 - phi) with d = 1 - phi = -expm1(-dt / tau), exact
	 * for dt much below tau too. */
	d = -expm1(-dt_s / tau_s);
	return r_v * r_v * (2 - d) / d;
}

static enum bt_status
invalid(char *errmsg, const char *what)
{
	if (errmsg)
		snprintf(errmsg, BT_ERRMSG_SIZE, "%s", what);
	return BT_EINVAL;
}

static enum bt_status
check_opts(const struct bt_kf_opts *o, size_t n, char *errmsg)
{
	const struct {
		double v;
		const char *name;
	} nonneg[] = {
		{o->q_soc, "q_soc"}, {o->q_v, "q_v"}, {o->q_h, "q_h"},
		{o->q_i, "q_i"}, {o->q_r0, "q_r0"}, {o->q_capacity, "q_capacity"},
		{o->p0_offset_c, "p0_offset"}, {o->q_offset_c, "q_offset"},
		{o->r_tau_s, "r_tau"},
	}, pos[] = {
		{o->r_v, "r_v"}, {o->p0_soc, "p0_soc"}, {o->p0_v, "p0_v"},
		{o->p0_h, "p0_h"}, {o->p0_r0, "p0_r0"},
		{o->p0_capacity, "p0_capacity"},
	};
	char buf[BT_ERRMSG_SIZE];
	double lambda;
	size_t k;

	for (k = 0; k < sizeof nonneg / sizeof nonneg[0]; k++)
		if (!(nonneg[k].v >= 0) || !isfinite(nonneg[k].v)) {
			snprintf(buf, sizeof buf, "%s must not be negative", nonneg[k].name);
			return invalid(errmsg, buf);
		}
	for (k = 0; k < sizeof pos / sizeof pos[0]; k++)
		if (!(pos[k].v > 0) || !isfinite(pos[k].v)) {
			snprintf(buf, sizeof buf, "%s must be positive", pos[k].name);
			return invalid(errmsg, buf);
		}
	if (o->method != BT_KF_EKF && o->method != BT_KF_UKF)
		return invalid(errmsg, "unknown filter method");
	if (o->method == BT_KF_UKF) {
		if (!(o->ukf_alpha > 0) || !isfinite(o->ukf_alpha)
		    || !isfinite(o->ukf_beta) || !isfinite(o->ukf_kappa))
			return invalid(errmsg, "ukf_alpha must be positive");
		/* [WvdM00] eq. (15): lambda = alpha^2 (n + kappa) - n. */
		lambda = o->ukf_alpha * o->ukf_alpha * ((double)n + o->ukf_kappa) - (double)n;
		if (!((double)n + lambda > 0))
			return invalid(errmsg, "the unscented spread n + lambda must be positive");
		if (lambda / ((double)n + lambda) + 1 - o->ukf_alpha * o->ukf_alpha
		    + o->ukf_beta < 0)
			return invalid(errmsg, "the unscented centre covariance weight "
				       "must not be negative (raise alpha, beta or kappa)");
	}
	return BT_OK;
}

enum bt_status
bt_kf_alloc(const struct bt_ecm *ecm, const struct bt_kf_opts *opts,
	    double soc0, struct bt_kf **out, char errmsg[BT_ERRMSG_SIZE])
{
	const struct bt_ecm_info *info = bt_ecm_info(ecm);
	struct bt_kf *kf;
	size_t nm = bt_ecm_state_dim(ecm), n, k;
	unsigned rc = bt_ecm_rc_pairs(ecm);
	enum bt_status st;
	double lambda;

	*out = NULL;
	/* With adaptation there is no offset state: over a drive cycle, whose
	 * current is mostly of one sign, the soc drift of a current offset
	 * and that of a capacity error are nearly the same function of time,
	 * and the capacity is the one to track. */
	n = nm + (opts->adapt ? 2 : opts->p0_offset_c > 0 ? 1 : 0);
	if ((st = check_opts(opts, n, errmsg)) != BT_OK)
		return st;
	if (!isfinite(soc0))
		return invalid(errmsg, "the initial soc must be finite");
	kf = calloc(1, sizeof *kf);
	if (kf == NULL)
		return BT_ENOMEM;
	kf->ecm = ecm;
	kf->o = *opts;
	kf->nm = nm;
	kf->n = n;
	kf->ih = info->has_hysteresis ? 1 + rc : 0;
	kf->ir0 = nm;
	kf->icap = nm + 1;
	kf->ioff = !opts->adapt && opts->p0_offset_c > 0 ? n - 1 : 0;
	kf->q_model_ah = info->capacity_ah;
	kf->eta = info->coulombic_efficiency;
	kf->r2 = opts->r_v * opts->r_v;	/* the first sample counts in full */
	kf->r2_dt = NAN;
	bt_ecm_state_init(ecm, soc0, bt_ecm_reference_temperature_c(ecm), &kf->st);
	bt_ecm_state_pack(ecm, &kf->st, kf->x);

	kf->p[0] = opts->p0_soc * opts->p0_soc;
	kf->qdiag[0] = opts->q_soc * opts->q_soc;
	for (k = 0; k < rc; k++) {
		kf->p[(1 + k) * n + 1 + k] = opts->p0_v * opts->p0_v;
		kf->qdiag[1 + k] = opts->q_v * opts->q_v;
	}
	if (kf->ih) {
		kf->p[kf->ih * n + kf->ih] = opts->p0_h * opts->p0_h;
		kf->qdiag[kf->ih] = opts->q_h * opts->q_h;
	}
	if (opts->adapt) {
		double qa = kf->q_model_ah;

		kf->x[kf->ir0] = 1;
		kf->x[kf->icap] = qa;
		kf->p[kf->ir0 * n + kf->ir0] = opts->p0_r0 * opts->p0_r0;
		kf->p[kf->icap * n + kf->icap] =
			opts->p0_capacity * qa * opts->p0_capacity * qa;
		kf->qdiag[kf->ir0] = opts->q_r0 * opts->q_r0;
		kf->qdiag[kf->icap] = opts->q_capacity * qa * opts->q_capacity * qa;
	}
	if (kf->ioff) {
		double sd0 = opts->p0_offset_c * kf->q_model_ah;
		double sdq = opts->q_offset_c * kf->q_model_ah;

		kf->p[kf->ioff * n + kf->ioff] = sd0 * sd0;
		kf->qdiag[kf->ioff] = sdq * sdq;
	}

	/* [WvdM00] eqs. (15)-(16): the weights of the scaled unscented
	 * transform and the spread sqrt(n + lambda). */
	lambda = opts->ukf_alpha * opts->ukf_alpha * ((double)n + opts->ukf_kappa)
		 - (double)n;
	kf->wm0 = lambda / ((double)n + lambda);
	kf->wc0 = kf->wm0 + 1 - opts->ukf_alpha * opts->ukf_alpha + opts->ukf_beta;
	kf->wi = 1 / (2 * ((double)n + lambda));
	kf->gamma = sqrt((double)n + lambda);
	*out = kf;
	return BT_OK;
}

void
bt_kf_free(struct bt_kf *kf)
{
	free(kf);
}

size_t
bt_kf_dim(const struct bt_kf *kf)
{
	return kf->n;
}

void
bt_kf_state(const struct bt_kf *kf, double *x, double *p)
{
	memcpy(x, kf->x, kf->n * sizeof *x);
	if (p)
		memcpy(p, kf->p, kf->n * kf->n * sizeof *p);
}

/* --- Small dense algebra (n <= N_MAX) ------------------------------------ */

/* The kernels below take the dimension N as an argument and are expanded
 * inline by SPECIALISE for each N from 2 to N_MAX, so that the compiler
 * sees a constant bound, unrolls the loops (UNROLL) and keeps the small
 * matrices in registers.  Every expansion performs the same floating-point operations
 * in the same order as the generic loop (the C source is one), so the
 * results are the same bit for bit whatever N takes the fast way.
 *
 * Every kernel that writes a covariance writes its two triangles from one
 * computed value, so P is exactly symmetric by construction and is never
 * symmetrised afterwards. */
#define KERNEL static inline __attribute__((always_inline)) void
/* GCC needs telling; clang unrolls these by itself, and warns when asked
 * where its own pass declines (at -O1, say). */
#if defined(__clang__)
#define UNROLL
#else
#define UNROLL _Pragma("GCC unroll 8")
#endif

/* Call KERNEL_n(ARGS..., N) with N a constant when 2 <= N <= N_MAX. */
#define SPECIALISE(kernel, n, ...)					\
	do {								\
		switch (n) {						\
		case 2: kernel(__VA_ARGS__, 2); break;			\
		case 3: kernel(__VA_ARGS__, 3); break;			\
		case 4: kernel(__VA_ARGS__, 4); break;			\
		case 5: kernel(__VA_ARGS__, 5); break;			\
		case 6: kernel(__VA_ARGS__, 6); break;			\
		case 7: kernel(__VA_ARGS__, 7); break;			\
		case 8: kernel(__VA_ARGS__, 8); break;			\
		default: kernel(__VA_ARGS__, n); break;			\
		}							\
	} while (0)

_Static_assert(N_MAX <= 8, "SPECIALISE covers dimensions up to 8");

/* Two doubles, added and multiplied lane by lane (SSE2 on x86-64): C = A B
 * below computes two columns of a row at once, each lane doing exactly the
 * operations of the scalar loop. */
typedef double v2d __attribute__((vector_size(2 * sizeof(double))));

/* C = A B for N by N matrices, row-major, each element summed from zero
 * over the inner index in increasing order (as a plain triple loop does). */
KERNEL
matmul_n(double *c, const double *a, const double *b, size_t n)
{
	size_t i, j, k;
	v2d s, bk;
	double t;

	UNROLL
	for (i = 0; i < n; i++) {
		UNROLL
		for (j = 0; j + 1 < n; j += 2) {
			s = (v2d){ 0, 0 };
			UNROLL
			for (k = 0; k < n; k++) {
				memcpy(&bk, b + k * n + j, sizeof bk);
				s += a[i * n + k] * bk;
			}
			memcpy(c + i * n + j, &s, sizeof s);
		}
		if (n % 2) {
			t = 0;
			UNROLL
			for (k = 0; k < n; k++)
				t += a[i * n + k] * b[k * n + n - 1];
			c[i * n + n - 1] = t;
		}
	}
}

/* B = A' for an N by N matrix. */
KERNEL
transpose_n(double *b, const double *a, size_t n)
{
	size_t i, j;

	UNROLL
	for (i = 0; i < n; i++)
		UNROLL
		for (j = 0; j < n; j++)
			b[j * n + i] = a[i * n + j];
}

/* Row R of A (N by N, row-major) times the column X[k LD], k = 0..N-1,
 * for an A whose only nonzeros off the diagonal are in its first and last
 * columns: the terms of the full sum that are not exact zeros, in order. */
#define ROW_TIMES_COL(a, x, r, n, ld)				\
	((r) == 0 ? (a)[0] * (x)[0] +					\
		    (a)[(n) - 1] * (x)[((n) - 1) * (ld)]		\
	 : (r) == (n) - 1 ? (a)[(r) * (n)] * (x)[0] +			\
		    (a)[(r) * (n) + (r)] * (x)[(r) * (ld)]		\
	 : (a)[(r) * (n)] * (x)[0] +					\
	   (a)[(r) * (n) + (r)] * (x)[(r) * (ld)] +			\
	   (a)[(r) * (n) + (n) - 1] * (x)[((n) - 1) * (ld)])

/* P <- A P A' + Q with Q = diag(QD) DT + B B' QI^2, for an A (N >= 2)
 * whose only nonzeros off the diagonal are in its first and last columns.
 * The filter's transition always has that shape: bt_ecm's A is diagonal
 * plus its first column (test_bt_ecm checks it), and the one extra state
 * with a column of its own, the current offset or the capacity, comes
 * last (bt_kf_alloc never makes both; test_bt_kf checks the whole
 * propagation against dense products).  Each element of M = A P and of
 * M A' then has at most three terms, O(n^2) in all.  They are the terms
 * the dense products sum, in the same order, the others being exact
 * zeros: unless the compiler contracts multiply-adds (-ffp-contract), the
 * result is the dense one bit for bit. */
KERNEL
propagate_cov_n(double *p, const double *a, const double *b, const double *qd,
		double dt, double qi, size_t n)
{
	double m[N_MAX * N_MAX], s;
	size_t r, c;

	/* M[r][c] = sum_k A[r][k] P[k][c]. */
	UNROLL
	for (r = 0; r < n; r++)
		UNROLL
		for (c = 0; c < n; c++)
			m[r * n + c] = ROW_TIMES_COL(a, p + c, r, n, n);
	/* (M A')[r][c] = sum_k A[c][k] M[r][k]: row C of A against row R
	 * of M. */
	UNROLL
	for (r = 0; r < n; r++)
		UNROLL
		for (c = 0; c <= r; c++) {
			s = ROW_TIMES_COL(a, m + r * n, c, n, 1);
			s += b[r] * b[c] * qi * qi;
			if (r == c)
				s += qd[r] * dt;
			p[r * n + c] = p[c * n + r] = s;
		}
}

static void
propagate_cov(double *p, const double *a, const double *b, const double *qd,
	      double dt, double qi, size_t n)
{
	SPECIALISE(propagate_cov_n, n, p, a, b, qd, dt, qi);
}

/* The Joseph-form update ([BSLK01] eq. 5.2.3-18) for a scalar measurement
 * with gain K, linearised measurement row H and noise variance R:
 *     P <- (I - K H) P (I - K H)' + K R K',
 * a sum of positive semidefinite terms whatever the rounding of K. */
KERNEL
joseph_n(double *p, const double *k, const double *h, double r, size_t n)
{
	double ikh[N_MAX * N_MAX], ikht[N_MAX * N_MAX], t[N_MAX * N_MAX];
	double tt[N_MAX * N_MAX], s;
	size_t i, j;

	UNROLL
	for (i = 0; i < n; i++)
		UNROLL
		for (j = 0; j < n; j++)
			ikh[i * n + j] = (i == j) - k[i] * h[j];
	matmul_n(t, ikh, p, n);
	transpose_n(ikht, ikh, n);
	matmul_n(tt, t, ikht, n);
	UNROLL
	for (i = 0; i < n; i++)
		UNROLL
		for (j = 0; j <= i; j++) {
			s = tt[i * n + j];
			s += k[i] * r * k[j];
			p[i * n + j] = p[j * n + i] = s;
		}
}

static void
joseph(double *p, const double *k, const double *h, double r, size_t n)
{
	SPECIALISE(joseph_n, n, p, k, h, r);
}

/* S = H P H' (returned) and PXZ = P H'. */
KERNEL
innovation_n(const double *p, const double *h, double *pxz, double *s,
	     size_t n)
{
	size_t r, c;

	*s = 0;
	UNROLL
	for (r = 0; r < n; r++) {
		pxz[r] = 0;
		UNROLL
		for (c = 0; c < n; c++)
			pxz[r] += p[r * n + c] * h[c];
		*s += h[r] * pxz[r];
	}
}

static double
innovation(const double *p, const double *h, double *pxz, size_t n)
{
	double s;

	SPECIALISE(innovation_n, n, p, h, pxz, &s);
	return s;
}

/* The lower Cholesky factor L of P (n by n) in L, row-major, and in
 * *JITTER (when not NULL) what had to be added to the diagonal of P for
 * it.  Returns BT_OK or BT_ERANGE when P is not positive definite. */
static enum bt_status
cholesky(const double *p, double *l, size_t n, double *used)
{
	gsl_matrix_view m;
	size_t r, c;

	size_t tries;
	double jitter = 0, scale = 0;

	for (r = 0; r < n; r++)
		scale = fmax(scale, p[r * n + r]);
	/* A covariance that lost definiteness to rounding (a state known to
	 * the last bit) gets a jitter on its diagonal, growing tenfold from
	 * CHOLESKY_JITTER of its largest variance. */
	for (tries = 0;; tries++) {
		memcpy(l, p, n * n * sizeof *l);
		for (r = 0; r < n; r++)
			l[r * n + r] += jitter;
		m = gsl_matrix_view_array(l, n, n);
		if (gsl_linalg_cholesky_decomp1(&m.matrix) == GSL_SUCCESS)
			break;
		if (tries == CHOLESKY_TRIES)
			return BT_ERANGE;
		jitter = jitter == 0 ? CHOLESKY_JITTER * scale : 10 * jitter;
	}
	for (r = 0; r < n; r++)
		for (c = r + 1; c < n; c++)
			l[r * n + c] = 0;
	if (used)
		*used = jitter;
	return BT_OK;
}

/* Give P back the positive definiteness rounding took from it: after an
 * update with a measurement noise far below the prior's spread, the
 * direction the measurement pinned down can end a few ulps below zero.
 * The unscented filter factorises P at every step anyway; this adds the
 * same diagonal jitter its sigma points would need, so that the reported
 * covariance is the one they use. */
static enum bt_status
keep_definite(double *p, size_t n)
{
	double l[N_MAX * N_MAX], jitter = 0;
	enum bt_status s;
	size_t r;

	if ((s = cholesky(p, l, n, &jitter)) != BT_OK)
		return s;
	for (r = 0; r < n; r++)
		p[r * n + r] += jitter;
	return BT_OK;
}

/* --- The model with the adapted parameters --------------------------------- */

/* The coulombic efficiency that applies to CURRENT_A (bt-ecm(5)). */
static double
efficiency(const struct bt_kf *kf, double current_a)
{
	return current_a > 0 ? kf->eta : 1;
}

/* The current the cell carries when the sensor reads I: I less the
 * offset in state X. */
static double
cell_current(const struct bt_kf *kf, const double *x, double i)
{
	return kf->ioff ? i - x[kf->ioff] : i;
}

/* Keep the states that have bounds within them: h in [-1, 1] (it is a
 * fraction of the maximum hysteresis), the adapted parameters within
 * [BT_KF_MIN_PARAM_FRACTION, BT_KF_MAX_PARAM_FRACTION] of the model's. */
static void
clamp_state(const struct bt_kf *kf, double *x)
{
	if (kf->ih)
		x[kf->ih] = fmax(-1, fmin(1, x[kf->ih]));
	if (kf->o.adapt) {
		x[kf->ir0] = fmax(BT_KF_MIN_PARAM_FRACTION,
				  fmin(BT_KF_MAX_PARAM_FRACTION, x[kf->ir0]));
		x[kf->icap] = fmax(BT_KF_MIN_PARAM_FRACTION * kf->q_model_ah,
				   fmin(BT_KF_MAX_PARAM_FRACTION * kf->q_model_ah,
					x[kf->icap]));
	}
}

/* The soc change of a step with the estimated capacity instead of the
 * model's, added after bt_ecm_step() counted with the model's:
 * eta i dt / 3600 (1/Q - 1/Q_model) ([Plett04] Part 3, eq. (4)). */
static double
capacity_correction(const struct bt_kf *kf, double q_ah, double i, double dt)
{
	return efficiency(kf, i) * i * dt / SECONDS_PER_HOUR *
	       (1 / q_ah - 1 / kf->q_model_ah);
}

/* Propagate the filter state X through one step (the unscented filter's
 * sigma points).  ST carries the temperature and the sign of the last
 * current. */
static enum bt_status
transition(const struct bt_kf *kf, double *x, struct bt_ecm_state *st,
	   double i, double dt)
{
	enum bt_status s;

	i = cell_current(kf, x, i);
	bt_ecm_state_unpack(kf->ecm, x, st);
	if ((s = bt_ecm_step(kf->ecm, st, i, dt)) != BT_OK)
		return s;
	bt_ecm_state_pack(kf->ecm, st, x);
	if (kf->o.adapt)
		x[0] += capacity_correction(kf, x[kf->icap], i, dt);
	return BT_OK;
}

/* The terminal voltage of the filter state X carrying I. */
static double
measure(const struct bt_kf *kf, const double *x, struct bt_ecm_state *st,
	double i)
{
	double v;

	i = cell_current(kf, x, i);
	bt_ecm_state_unpack(kf->ecm, x, st);
	v = bt_ecm_voltage(kf->ecm, st, i);
	if (kf->o.adapt)
		v += (x[kf->ir0] - 1) * bt_ecm_r0(kf->ecm, st->soc, st->temp_c) * i;
	return v;
}

/* --- Extended Kalman filter ---------------------------------------------------- */

static enum bt_status
ekf_predict(struct bt_kf *kf, double i, double dt)
{
	double a[N_MAX * N_MAX] = {0}, am[BT_ECM_MAX_STATE * BT_ECM_MAX_STATE];
	double b[N_MAX] = {0};
	size_t n = kf->n, nm = kf->nm, r, c;
	enum bt_status s;

	i = cell_current(kf, kf->x, i);
	bt_ecm_state_unpack(kf->ecm, kf->x, &kf->st);
	/* The temperature is the sample's (bt_kf_predict sets it after the
	 * step), so the model's thermal prediction would be thrown away. */
	if ((s = bt_ecm_step_jacobian_isothermal(kf->ecm, &kf->st, i, dt, am,
						 b)) != BT_OK)
		return s;
	for (r = 0; r < nm; r++)
		for (c = 0; c < nm; c++)
			a[r * n + c] = am[r * nm + c];
	bt_ecm_state_pack(kf->ecm, &kf->st, kf->x);
	if (kf->o.adapt) {
		double q = kf->x[kf->icap], eta = efficiency(kf, i);

		kf->x[0] += capacity_correction(kf, q, i, dt);
		/* soc' = soc + eta i dt / (3600 Q): d/dQ and d/di with Q. */
		a[0 * n + kf->icap] = -eta * i * dt / (SECONDS_PER_HOUR * q * q);
		b[0] = eta * dt / (SECONDS_PER_HOUR * q);
		a[kf->ir0 * n + kf->ir0] = 1;
		a[kf->icap * n + kf->icap] = 1;
	}
	if (kf->ioff) {
		/* The cell carries i - b: dx'/db = -dx'/di. */
		for (r = 0; r < n; r++)
			a[r * n + kf->ioff] = -b[r];
		a[kf->ioff * n + kf->ioff] = 1;
	}
	propagate_cov(kf->p, a, b, kf->qdiag, dt, kf->o.q_i, n);
	return BT_OK;
}

/* The predicted voltage and its Jacobian row H at the mean. */
static double
ekf_output(struct bt_kf *kf, double i, double *h)
{
	double v, r0, docv, k = 1;
	size_t n = kf->n;

	i = cell_current(kf, kf->x, i);
	memset(h, 0, n * sizeof *h);
	bt_ecm_state_unpack(kf->ecm, kf->x, &kf->st);
	v = bt_ecm_output(kf->ecm, &kf->st, i, h, &r0);
	if (kf->o.adapt) {
		k = kf->x[kf->ir0];
		/* V = ... + k R0(soc) i: dV/dk = R0 i, and dV/dsoc gains
		 * (k - 1) dR0/dsoc i, dR0/dsoc i being h[0] - dOCV/dsoc. */
		bt_ecm_ocv(kf->ecm, kf->st.soc, kf->st.temp_c, &docv);
		v += (k - 1) * r0 * i;
		h[0] += (k - 1) * (h[0] - docv);
		h[kf->ir0] = r0 * i;
	}
	/* dV/db = -dV/di = -k R0. */
	if (kf->ioff)
		h[kf->ioff] = -k * r0;
	return v;
}

/* --- Unscented Kalman filter -------------------------------------------------- */

/* The 2n + 1 sigma points of mean X and covariance P ([WvdM00] eq. (15)):
 * X_0 = x, X_j = x + gamma L_j, X_{n+j} = x - gamma L_j, L_j the columns
 * of the Cholesky factor, their soc projected onto its physical range
 * [BT_KF_SOC_MIN, BT_KF_SOC_MAX] ([KFI08] sec. 4.2).  The default initial
 * spread puts the soc's pair gamma p0 = 0.45 either side of the start:
 * from 80 % one point lies at 125 %, where the OCV is the table's end
 * slope continued, 0.3 V above anything the cell can show, and the
 * predicted voltage of the first update came out 38 mV high. */
static enum bt_status
sigma_points(const struct bt_kf *kf, const double *x, const double *p,
	     double sig[N_SIGMA][N_MAX], double *l)
{
	size_t n = kf->n, j, r;
	enum bt_status s;

	if ((s = cholesky(p, l, n, NULL)) != BT_OK)
		return s;
	for (r = 0; r < n; r++)
		sig[0][r] = x[r];
	for (j = 0; j < n; j++)
		for (r = 0; r < n; r++) {
			sig[1 + j][r] = x[r] + kf->gamma * l[r * n + j];
			sig[1 + n + j][r] = x[r] - kf->gamma * l[r * n + j];
		}
	for (j = 1; j < 2 * n + 1; j++)
		sig[j][0] = fmax(BT_KF_SOC_MIN, fmin(BT_KF_SOC_MAX, sig[j][0]));
	return BT_OK;
}

static double
weight_m(const struct bt_kf *kf, size_t j)
{
	return j == 0 ? kf->wm0 : kf->wi;
}

static double
weight_c(const struct bt_kf *kf, size_t j)
{
	return j == 0 ? kf->wc0 : kf->wi;
}

static enum bt_status
ukf_predict(struct bt_kf *kf, double i, double dt)
{
	double sig[N_SIGMA][N_MAX], l[N_MAX * N_MAX], xm[N_MAX] = {0};
	double b[N_MAX] = {0}, d;
	size_t n = kf->n, m = 2 * n + 1, j, r, c;
	struct bt_ecm_state st = kf->st;
	enum bt_status s;

	if ((s = sigma_points(kf, kf->x, kf->p, sig, l)) != BT_OK)
		return s;
	for (j = 0; j < m; j++) {
		st = kf->st;
		if ((s = transition(kf, sig[j], &st, i, dt)) != BT_OK)
			return s;
		for (r = 0; r < n; r++)
			xm[r] += weight_m(kf, j) * sig[j][r];
	}
	/* The covariance of the propagated points (non-negative weights),
	 * plus the process noise; the current noise enters through the
	 * mean's dx/di, which the model gives in closed form. */
	for (r = 0; r < n; r++)
		for (c = 0; c <= r; c++) {
			double acc = 0;

			for (j = 0; j < m; j++)
				acc += weight_c(kf, j) * (sig[j][r] - xm[r]) *
				       (sig[j][c] - xm[c]);
			kf->p[r * n + c] = kf->p[c * n + r] = acc;
		}
	{
		double am[BT_ECM_MAX_STATE * BT_ECM_MAX_STATE];

		bt_ecm_state_unpack(kf->ecm, kf->x, &st);
		bt_ecm_jacobian(kf->ecm, &st, cell_current(kf, kf->x, i), dt, am, b);
		if (kf->o.adapt)
			b[0] = efficiency(kf, i) * dt /
			       (SECONDS_PER_HOUR * kf->x[kf->icap]);
	}
	for (r = 0; r < n; r++)
		for (c = 0; c < n; c++) {
			d = b[r] * b[c] * kf->o.q_i * kf->o.q_i;
			if (r == c)
				d += kf->qdiag[r] * dt;
			kf->p[r * n + c] += d;
		}
	/* The sign of the last current and the temperature follow the mean. */
	bt_ecm_state_unpack(kf->ecm, kf->x, &kf->st);
	bt_ecm_step(kf->ecm, &kf->st, cell_current(kf, kf->x, i), dt);
	memcpy(kf->x, xm, n * sizeof *xm);
	return BT_OK;
}

/* The unscented measurement: predicted voltage *V, its variance without
 * noise *PZZ, the cross covariance PXZ and the statistically linearised
 * row H = PXZ' P^-1 ([LBS02]). */
static enum bt_status
ukf_output(struct bt_kf *kf, double i, double *v, double *pzz, double *pxz,
	   double *h)
{
	double sig[N_SIGMA][N_MAX], l[N_MAX * N_MAX], z[N_SIGMA], zm = 0;
	size_t n = kf->n, m = 2 * n + 1, j, r;
	struct bt_ecm_state st = kf->st;
	gsl_matrix_view lv;
	gsl_vector_view hv;
	enum bt_status s;

	if ((s = sigma_points(kf, kf->x, kf->p, sig, l)) != BT_OK)
		return s;
	for (j = 0; j < m; j++) {
		z[j] = measure(kf, sig[j], &st, i);
		zm += weight_m(kf, j) * z[j];
	}
	*pzz = 0;
	memset(pxz, 0, n * sizeof *pxz);
	for (j = 0; j < m; j++) {
		*pzz += weight_c(kf, j) * (z[j] - zm) * (z[j] - zm);
		for (r = 0; r < n; r++)
			pxz[r] += weight_c(kf, j) * (sig[j][r] - kf->x[r]) * (z[j] - zm);
	}
	/* H' = P^-1 Pxz with P = L L' (L lower, zeros above). */
	memcpy(h, pxz, n * sizeof *h);
	for (r = 0; r < n; r++) {
		size_t c;

		for (c = r + 1; c < n; c++)
			l[r * n + c] = l[c * n + r];
	}
	lv = gsl_matrix_view_array(l, n, n);
	hv = gsl_vector_view_array(h, n);
	if (gsl_linalg_cholesky_svx(&lv.matrix, &hv.vector) != GSL_SUCCESS)
		return BT_ERANGE;
	*v = zm;
	return BT_OK;
}

/* --- The interface ----------------------------------------------------------- */

enum bt_status
bt_kf_predict(struct bt_kf *kf, double current_a, double dt_s, double temp_c)
{
	double x[N_MAX], p[N_MAX * N_MAX];
	struct bt_ecm_state st = kf->st;
	enum bt_status s;

	if (!(dt_s >= 0) || !isfinite(dt_s) || !isfinite(current_a)
	    || !isfinite(temp_c))
		return BT_EINVAL;
	memcpy(x, kf->x, kf->n * sizeof *x);
	memcpy(p, kf->p, kf->n * kf->n * sizeof *p);
	kf->st.temp_c = temp_c;
	s = kf->o.method == BT_KF_EKF ? ekf_predict(kf, current_a, dt_s)
				      : ukf_predict(kf, current_a, dt_s);
	if (s != BT_OK) {
		memcpy(kf->x, x, kf->n * sizeof *x);
		memcpy(kf->p, p, kf->n * kf->n * sizeof *p);
		kf->st = st;
		return s;
	}
	clamp_state(kf, kf->x);
	kf->st.temp_c = temp_c;
	if (!(dt_s == kf->r2_dt)) {
		kf->r2_of_dt = bt_kf_sample_variance(kf->o.r_v, kf->o.r_tau_s, dt_s);
		kf->r2_dt = dt_s;
	}
	kf->r2 = kf->r2_of_dt;
	return BT_OK;
}

enum bt_status
bt_kf_update(struct bt_kf *kf, double current_a, double voltage_v,
	     double temp_c, struct bt_kf_result *res)
{
	double h[N_MAX], k[N_MAX], pxz[N_MAX], v, s, e, reff, r2;
	size_t n = kf->n, r;
	enum bt_status st;

	if (!isfinite(current_a) || !isfinite(temp_c))
		return BT_EINVAL;
	kf->st.temp_c = temp_c;
	r2 = kf->r2;
	if (kf->o.method == BT_KF_EKF) {
		v = ekf_output(kf, current_a, h);
		/* S = H P H' + R, Pxz = P H'. */
		s = innovation(kf->p, h, pxz, n);
		reff = r2;
	} else {
		double pzz;

		if ((st = ukf_output(kf, current_a, &v, &pzz, pxz, h)) != BT_OK)
			return st;
		s = pzz;
		/* The part of Pzz the linear regression does not explain is
		 * measurement noise to the Joseph form: with it the update
		 * equals P - K S K' exactly, yet is a sum of positive
		 * semidefinite terms.  It is at least the part H Pxz would
		 * leave in exact arithmetic; rounding cannot make it less
		 * than zero. */
		reff = pzz;
		for (r = 0; r < n; r++)
			reff -= h[r] * pxz[r];
		reff = fmax(reff, 0) + r2;
	}
	s += r2;
	res->v_model_v = v;
	res->innovation_var = s;
	res->innovation_v = isfinite(voltage_v) ? voltage_v - v : NAN;
	res->nis = NAN;
	/* A sample at the time of the last (infinite r2) tells nothing new. */
	if (isfinite(voltage_v) && isfinite(r2)) {
		e = voltage_v - v;
		for (r = 0; r < n; r++) {
			k[r] = pxz[r] / s;
			kf->x[r] += k[r] * e;
		}
		joseph(kf->p, k, h, reff, n);
		if (kf->o.method == BT_KF_UKF
		    && (st = keep_definite(kf->p, n)) != BT_OK)
			return st;
		clamp_state(kf, kf->x);
		res->nis = e * e / s;
	}
	bt_ecm_state_unpack(kf->ecm, kf->x, &kf->st);
	res->soc = kf->x[0];
	res->soc_sd = sqrt(kf->p[0]);
	res->r0_ohm = bt_ecm_r0(kf->ecm, kf->st.soc, temp_c) *
		      (kf->o.adapt ? kf->x[kf->ir0] : 1);
	res->capacity_ah = kf->o.adapt ? kf->x[kf->icap] : kf->q_model_ah;
	res->offset_a = kf->ioff ? kf->x[kf->ioff] : 0;
	return BT_OK;
}

enum bt_status
bt_kf_update_soc(struct bt_kf *kf, double soc, double sd,
		 struct bt_kf_result *res)
{
	double h[N_MAX] = {0}, k[N_MAX], s, e;
	size_t n = kf->n, r;

	if (!(sd > 0) || !isfinite(sd) || isinf(soc))
		return BT_EINVAL;
	if (!isnan(soc)) {
		/* H = e_0: S = P_00 + R, K = P e_0 / S. */
		h[0] = 1;
		s = kf->p[0] + sd * sd;
		e = soc - kf->x[0];
		for (r = 0; r < n; r++) {
			k[r] = kf->p[r * n] / s;
			kf->x[r] += k[r] * e;
		}
		joseph(kf->p, k, h, sd * sd, n);
		clamp_state(kf, kf->x);
		bt_ecm_state_unpack(kf->ecm, kf->x, &kf->st);
	}
	res->soc = kf->x[0];
	res->soc_sd = sqrt(kf->p[0]);
	return BT_OK;
}
