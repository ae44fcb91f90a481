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
 */
#include <config.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "bt_kf.h"
#include "bt_pf.h"

#define SECONDS_PER_HOUR 3600.0

struct bt_pf {
	const struct bt_ecm *ecm;
	struct bt_pf_opts o;
	size_t n;
	double *z, *z2;			/* particles' soc, resampling buffer */
	double *u, *u2;			/* their current offsets (A), buffer */
	double *w, *vhat;		/* weights, predicted voltages */
	struct bt_ecm_state shared;	/* RC voltages, h, sign of the current */
	double mean;			/* posterior mean soc */
	double q_ah, eta;
	gsl_rng *rng;
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
}

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
	free(pf->z);
	free(pf->z2);
	free(pf->u);
	free(pf->u2);
	free(pf->w);
	free(pf->vhat);
	free(pf->temps);
	free(pf->ocv);
	if (pf->rng)
		gsl_rng_free(pf->rng);
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
	pf->z = malloc(n * sizeof *pf->z);
	pf->z2 = malloc(n * sizeof *pf->z2);
	pf->u = malloc(n * sizeof *pf->u);
	pf->u2 = malloc(n * sizeof *pf->u2);
	pf->w = malloc(n * sizeof *pf->w);
	pf->vhat = malloc(n * sizeof *pf->vhat);
	pf->temps = malloc(pf->nt * sizeof *pf->temps);
	pf->ocv = malloc(pf->nt * BT_PF_OCV_TABLE_POINTS * sizeof *pf->ocv);
	pf->rng = gsl_rng_alloc(gsl_rng_taus2);
	if (!pf->z || !pf->z2 || !pf->u || !pf->u2 || !pf->w || !pf->vhat || !pf->temps || !pf->ocv
	    || !pf->rng) {
		bt_pf_free(pf);
		return BT_ENOMEM;
	}
	gsl_rng_set(pf->rng, (unsigned long)opts->seed);

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
		pf->z[j] = soc0 + opts->p0_soc * gsl_ran_gaussian_ziggurat(pf->rng, 1);
		pf->u[j] = opts->p0_offset_c * pf->q_ah *
			   gsl_ran_gaussian_ziggurat(pf->rng, 1);
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

enum bt_status
bt_pf_predict(struct bt_pf *pf, double current_a, double dt_s, double temp_c)
{
	double i = current_a, dz, sd, a, sdu;
	size_t j, n = pf->n;
	double *z = pf->z, *u = pf->u;
	gsl_rng *rng = pf->rng;

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
	for (j = 0; j < n; j++) {
		z[j] += dz - a * u[j] + sd * gsl_ran_gaussian_ziggurat(rng, 1);
		u[j] += sdu * gsl_ran_gaussian_ziggurat(rng, 1);
	}
	pf->mean += dz;
	pf->r2 = bt_kf_sample_variance(pf->o.r_v, pf->o.r_tau_s, dt_s);
	return BT_OK;
}

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

enum bt_status
bt_pf_update(struct bt_pf *pf, double current_a, double voltage_v, double temp_c,
	     struct bt_pf_result *res)
{
	const double *t0, *t1;
	double prior = 0, ocv_mean, rest, vm = 0, vv = 0, emin = INFINITY;
	double sw = 0, m = 0, var = 0, inv_h = 1 / pf->tab_h, half_ir2, pos, c;
	double w1, sw2 = 0, rdc, *z = pf->z, *u = pf->u, *vh = pf->vhat, *w = pf->w;
	size_t n = pf->n, j, k, it0;
	struct bt_ecm_params par;

	if (!isfinite(current_a) || !isfinite(temp_c))
		return BT_EINVAL;
	level(pf, temp_c, &it0, &w1);
	t0 = pf->ocv + it0 * BT_PF_OCV_TABLE_POINTS;
	t1 = pf->nt > 1 ? t0 + BT_PF_OCV_TABLE_POINTS : t0;

	/* W holds the normalised weights the particles carried out of the
	 * last update. */
	for (j = 0; j < n; j++)
		prior += w[j] * z[j];
	/* Everything but the OCV, at the prior mean: R0 i, the RC voltages
	 * and the hysteresis. */
	pf->shared.soc = prior;
	pf->shared.temp_c = temp_c;
	ocv_mean = bt_ecm_ocv(pf->ecm, prior, temp_c, NULL);
	rest = bt_ecm_voltage(pf->ecm, &pf->shared, current_a) - ocv_mean;
	/* A particle's current offset b lowers the true current by b: its
	 * voltage by the DC resistance R0 + sum R_k times b. */
	bt_ecm_params_at(pf->ecm, prior, temp_c, &par);
	rdc = par.r0;
	for (k = 0; k < BT_ECM_MAX_RC; k++)
		rdc += par.r[k];

	for (j = 0; j < n; j++) {
		double f = (z[j] - BT_PF_OCV_TABLE_LO) * inv_h, o;
		long q = (long)f;

		if (f >= 0 && q < BT_PF_OCV_TABLE_POINTS - 1) {
			f -= (double)q;
			o = (1 - w1) * (t0[q] + f * (t0[q + 1] - t0[q])) +
			    w1 * (t1[q] + f * (t1[q + 1] - t1[q]));
		} else {
			o = bt_ecm_ocv(pf->ecm, z[j], temp_c, NULL);
		}
		vh[j] = o + rest - rdc * u[j];
		vm += w[j] * vh[j];
	}
	for (j = 0; j < n; j++)
		vv += w[j] * (vh[j] - vm) * (vh[j] - vm);
	res->v_model_v = vm;
	res->innovation_var = vv + pf->r2;
	res->innovation_v = isfinite(voltage_v) ? voltage_v - vm : NAN;
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

	/* Importance weights times the Gaussian likelihood ([GSS93] sec. 3),
	 * the likelihood scaled by the best particle's so that it is at most
	 * 1 and cannot underflow everywhere. */
	for (j = 0; j < n; j++) {
		double e = voltage_v - vh[j];

		vh[j] = e * e;
		if (vh[j] < emin)
			emin = vh[j];
	}
	half_ir2 = 0.5 / pf->r2;
	for (j = 0; j < n; j++) {
		vh[j] = exp(-(vh[j] - emin) * half_ir2);
		w[j] *= vh[j];
		sw += w[j];
	}
	if (!(sw > 0)) {
		/* The carried weights underflowed where the data now point:
		 * start again from the likelihood alone. */
		for (j = 0, sw = 0; j < n; j++)
			sw += w[j] = vh[j];
	}
	for (j = 0; j < n; j++) {
		w[j] /= sw;
		m += w[j] * z[j];
		sw2 += w[j] * w[j];
	}
	for (j = 0; j < n; j++)
		var += w[j] * (z[j] - m) * (z[j] - m);
	res->soc = pf->mean = m;
	res->soc_sd = sqrt(var);

	/* Resample when the effective sample size 1 / sum w^2 falls below
	 * BT_PF_RESAMPLE_ESS of the particles (Liu and Chen 1995): systematic
	 * resampling [Kit96], N ordered points (U + k)/N from one uniform
	 * draw, through the cumulative weights. */
	if (1 / sw2 >= BT_PF_RESAMPLE_ESS * (double)n)
		return BT_OK;
	pos = gsl_rng_uniform(pf->rng) / (double)n;
	c = w[0];
	for (k = 0, j = 0; k < n; k++, pos += 1 / (double)n) {
		while (pos > c && j + 1 < n)
			c += w[++j];
		pf->z2[k] = z[j];
		pf->u2[k] = u[j];
	}
	for (j = 0; j < n; j++)
		w[j] = 1 / (double)n;
	pf->z = pf->z2;
	pf->z2 = z;
	pf->u = pf->u2;
	pf->u2 = u;
	return BT_OK;
}
