/* bt_fit.c - equivalent-circuit model identification: segmentation of pulse
 * tests, the soc reference and coulomb counting, output-error fits with
 * GSL's trust-region solver, OCV tables from charge and discharge branches.
 *
 * References cited below:
 *   [Plett15]  G. L. Plett, Battery Management Systems, Vol. I: Battery
 *              Modeling, Artech House, 2015: ch. 2 (the model, coulomb
 *              counting, OCV as the mean of the charge and discharge
 *              branches, sec. 2.10) and sec. 2.11 (output-error fitting of
 *              the dynamic parameters).
 *   [INL15]    Battery Test Manual for Electric Vehicles, INL/EXT-15-34184,
 *              2015 (HPPC: R0 from the instantaneous voltage step).
 *   [GSL]      M. Galassi et al., GNU Scientific Library Reference Manual,
 *              sec. "Nonlinear Least-Squares Fitting": the trust-region
 *              method and gsl_multilarge_nlinear_covar, whose covariance
 *              (J^T J)^-1 is scaled by the residual variance
 *              chi^2 / (n - p).
 *   [BBBB72]   R. E. Barlow, D. J. Bartholomew, J. M. Bremner and H. D.
 *              Brunk, Statistical Inference under Order Restrictions, Wiley,
 *              1972 (pool-adjacent-violators for a monotone fit).
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L	/* open_memstream */
#endif

#include "bt_fit.h"
#include "bt_num.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_blas.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_multilarge_nlinear.h>
#include <gsl/gsl_vector.h>

#define SECONDS_PER_HOUR 3600.0

/* First allocation of a test's rows. */
#define DATA_INITIAL_ROWS 4096

/* The log-parameters are clamped to [-LOGP_MAX, LOGP_MAX] when evaluated,
 * so that a wild trial step gives a poor fit rather than an overflow. */
#define LOGP_MAX 30.0

/* Starting time constants (s), tried in turn for a pulse segment; the fit
 * with the smallest residual wins.  Spread over the decades a pulse test
 * can resolve. */
#define N_STARTS 3
static const double tau_starts[BT_ECM_MAX_RC][N_STARTS][BT_ECM_MAX_RC] = {
	{ { 10 }, { 60 }, { 300 } },
	{ { 5, 60 }, { 10, 300 }, { 30, 1000 } },
	{ { 2, 20, 200 }, { 5, 60, 600 }, { 10, 200, 2000 } },
};

/* Starting R_k as a fraction of the starting R0. */
#define INIT_RC_FRACTION 0.5

/* Steps whose current change is at least this fraction of the largest
 * change give the R0 estimate of [INL15]. */
#define R0_STEP_FRACTION 0.5

/* A fallback R0 (ohm) when the data hold no usable current step. */
#define R0_FALLBACK 0.01

/* The rested voltage of an OCV point is averaged over the last this many
 * seconds of its rest. */
#define REST_AVERAGE_S 60.0

/* OCV points closer than this in soc are merged. */
#define SOC_MERGE_TOL 1e-6

/* After a "no progress" stop, the fit counts as converged when the GSL
 * tests pass at this looser tolerance. */
#define LOOSE_TOL 1e-6

/* OCV mode: width (soc) of the bins in which branch samples are averaged. */
#define OCV_BIN_WIDTH 0.005

/* A grid point closer than this fraction of the step to an end of the
 * range is left out of a stepped grid. */
#define GRID_END_FRACTION 0.5

/* Stepped grid points are rounded to multiples of 1 / GRID_ROUND. */
#define GRID_ROUND 1e12

/* The rows a fit needs beyond its number of parameters. */
#define MIN_EXTRA_ROWS 2

static void
setmsg(char *errmsg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
setmsg(char *errmsg, const char *fmt, ...)
{
	va_list ap;

	if (!errmsg)
		return;
	va_start(ap, fmt);
	vsnprintf(errmsg, BT_ERRMSG_SIZE, fmt, ap);
	va_end(ap);
}

static const char *
fmtn(double x, char buf[BT_NUM_BUFSIZE])
{
	bt_num_format(x, 6, buf);
	return buf;
}

/* --- Options --------------------------------------------------------------- */

void
bt_fit_opts_init(struct bt_fit_opts *o)
{
	memset(o, 0, sizeof *o);
	o->mode = BT_FIT_HPPC;
	o->rc_pairs = BT_FIT_DEFAULT_RC_PAIRS;
	o->rest_current_a = NAN;
	o->min_rest_s = BT_FIT_DEFAULT_MIN_REST_S;
	o->ocv_span = BT_FIT_DEFAULT_OCV_SPAN;
	o->cv_taper = BT_FIT_DEFAULT_CV_TAPER;
	o->soc0 = NAN;
	o->capacity_ah = NAN;
	o->temperature_tol_c = BT_FIT_DEFAULT_TEMPERATURE_TOL_C;
	o->level_hold_s = BT_FIT_DEFAULT_LEVEL_HOLD_S;
	o->max_iter = BT_FIT_DEFAULT_MAX_ITER;
	o->xtol = BT_FIT_DEFAULT_XTOL;
	o->gtol = BT_FIT_DEFAULT_GTOL;
	o->ftol = BT_FIT_DEFAULT_FTOL;
	o->smooth_v = BT_FIT_DEFAULT_SMOOTH_V;
	o->pool_curvature = BT_FIT_DEFAULT_POOL_CURVATURE;
	o->ocv_max_c_rate = BT_FIT_DEFAULT_OCV_MAX_C_RATE;
}

enum bt_status
bt_fit_parse_grid(const char *text, double *grid, struct bt_fit_opts *o)
{
	const char *s = text;
	size_t n = 0;
	double x;

	if (!strchr(text, ',')) {
		if (bt_num_parse(text, strlen(text), '.', &x) != BT_OK
		    || !(x > 0 && x <= 1))
			return BT_EINVAL;
		o->grid_step = x;
		o->soc_grid = NULL;
		o->n_grid = 0;
		return BT_OK;
	}
	for (;;) {
		const char *e = strchr(s, ',');
		size_t len = e ? (size_t)(e - s) : strlen(s);

		if (n == BT_FIT_MAX_GRID
		    || bt_num_parse(s, len, '.', &x) != BT_OK
		    || !(x >= 0 && x <= 1) || (n > 0 && !(x > grid[n - 1])))
			return BT_EINVAL;
		grid[n++] = x;
		if (!e)
			break;
		s = e + 1;
	}
	if (n < 2)
		return BT_EINVAL;
	o->soc_grid = grid;
	o->n_grid = n;
	o->grid_step = 0;
	return BT_OK;
}

/* --- Data ------------------------------------------------------------------ */

static enum bt_status
data_push(struct bt_fit_data *d, double t, double i, double v, double temp)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? 2 * d->cap : DATA_INITIAL_ROWS;
		double *a[4] = { d->t, d->i, d->v, d->temp };
		size_t k;

		for (k = 0; k < 4; k++) {
			double *p = realloc(a[k], cap * sizeof *p);

			if (!p)
				return BT_ENOMEM;
			a[k] = p;
			switch (k) {
			case 0: d->t = p; break;
			case 1: d->i = p; break;
			case 2: d->v = p; break;
			default: d->temp = p; break;
			}
		}
		d->cap = cap;
	}
	d->t[d->n] = t;
	d->i[d->n] = i;
	d->v[d->n] = v;
	d->temp[d->n] = temp;
	d->n++;
	return BT_OK;
}

enum bt_status
bt_fit_data_read(struct bt_reader *r, struct bt_fit_data *d)
{
	size_t ct, ci, cv;
	long cT = bt_reader_find(r, "temperature_c");
	enum bt_status st;
	double t, i, v, T;

	if ((st = bt_reader_require(r, "time_s", &ct)) != BT_OK
	    || (st = bt_reader_require(r, "current_a", &ci)) != BT_OK
	    || (st = bt_reader_require(r, "voltage_v", &cv)) != BT_OK)
		return st;
	while ((st = bt_reader_next(r)) == BT_OK) {
		T = NAN;
		if ((st = bt_reader_finite(r, ct, &t)) != BT_OK
		    || (st = bt_reader_finite(r, ci, &i)) != BT_OK
		    || (st = bt_reader_finite(r, cv, &v)) != BT_OK
		    || (cT >= 0 && (st = bt_reader_number(r, (size_t)cT, &T)) != BT_OK))
			return st;
		if (d->n > 0 && t < d->t[d->n - 1])
			return bt_reader_fail(r, BT_ETIME,
					      "time_s goes backwards");
		if ((st = data_push(d, t, i, v, T)) != BT_OK)
			return st;
	}
	if (st != BT_EOF)
		return st;
	return d->n == 0 ? BT_EEMPTY : BT_OK;
}

void
bt_fit_data_free(struct bt_fit_data *d)
{
	free(d->t);
	free(d->i);
	free(d->v);
	free(d->temp);
	d->t = d->i = d->v = d->temp = NULL;
	d->n = d->cap = 0;
}

/* --- The test: rests, reference, soc --------------------------------------- */

/* What the fits need to know of one test. */
struct test {
	const struct bt_fit_data *d;
	int later;		/* a later level of its input: no --soc0 */
	double thr;		/* rest threshold, A */
	size_t ref;		/* the soc reference row */
	double soc_ref;
	double q_ah;		/* capacity used */
	int q_measured;
	double *soc;		/* coulomb-counted soc of every row (from ref) */
};

static double
rest_threshold(const struct bt_fit_data *d, const struct bt_fit_opts *o)
{
	double m = 0;
	size_t k;

	if (!isnan(o->rest_current_a))
		return o->rest_current_a;
	for (k = 0; k < d->n; k++)
		if (fabs(d->i[k]) > m)
			m = fabs(d->i[k]);
	return BT_FIT_DEFAULT_REST_FRACTION * m;
}

/* Find the soc reference: row 0 at opts->soc0 (the first test of an
 * input only), or the end of the last constant-voltage charge before the
 * first discharge. */
static enum bt_status
find_reference(struct test *ts, const struct bt_fit_opts *o, char *errmsg)
{
	const struct bt_fit_data *d = ts->d;
	size_t k, first_dis = d->n, end, start;
	double peak = 0;
	const char *hint = ts->later ? "--soc0 sets the first level's soc only"
				     : "give --soc0";

	if (!isnan(o->soc0) && !ts->later) {
		ts->ref = 0;
		ts->soc_ref = o->soc0;
		return BT_OK;
	}
	for (k = 0; k < d->n; k++)
		if (d->i[k] < -ts->thr) {
			first_dis = k;
			break;
		}
	/* The last run of charge rows before the first discharge. */
	end = first_dis;
	while (end > 0 && !(d->i[end - 1] > ts->thr))
		end--;
	if (end == 0) {
		setmsg(errmsg, "%s: no charge before the first discharge to "
		       "take as full (%s)", d->name, hint);
		return BT_EINVAL;
	}
	start = end - 1;
	while (start > 0 && d->i[start - 1] > ts->thr)
		start--;
	for (k = start; k < end; k++)
		if (d->i[k] > peak)
			peak = d->i[k];
	if (!(d->i[end - 1] <= o->cv_taper * peak)) {
		char b[BT_NUM_BUFSIZE];
		setmsg(errmsg, "%s: the last charge before the first discharge "
		       "ends at %s A without a constant-voltage taper "
		       "(%s)", d->name, fmtn(d->i[end - 1], b), hint);
		return BT_EINVAL;
	}
	/* The charge's last current flows until the next row's time. */
	ts->ref = end < d->n ? end : d->n - 1;
	ts->soc_ref = 1;
	return BT_OK;
}

/* Coulomb counting from the reference ([Plett15] eq. 2.4, efficiency 1),
 * zero-order hold, rests counted as zero current; and the capacity, given or measured as the net charge
 * removed from the reference to the last row (the test is taken to end
 * empty). */
static enum bt_status
count_soc(struct test *ts, const struct bt_fit_opts *o, char *errmsg)
{
	const struct bt_fit_data *d = ts->d;
	size_t k;
	double q = 0;

	ts->soc = malloc(d->n * sizeof *ts->soc);
	if (!ts->soc)
		return BT_ENOMEM;
	/* A current within the rest threshold is a sensor offset at rest,
	 * not charge: it counts as zero. */
	ts->soc[ts->ref] = 0;
	for (k = ts->ref + 1; k < d->n; k++) {
		if (fabs(d->i[k - 1]) > ts->thr)
			q += d->i[k - 1] * (d->t[k] - d->t[k - 1]) / SECONDS_PER_HOUR;
		ts->soc[k] = q;
	}
	ts->q_measured = isnan(o->capacity_ah);
	if (ts->q_measured) {
		ts->q_ah = -q / ts->soc_ref;
		if (!(ts->q_ah > 0) || !isfinite(ts->q_ah)) {
			setmsg(errmsg, "%s: cannot determine the capacity: the "
			       "test removes no charge after the soc reference "
			       "(give --capacity)", d->name);
			return BT_EINVAL;
		}
	} else {
		ts->q_ah = o->capacity_ah;
	}
	for (k = 0; k < d->n; k++)
		ts->soc[k] = k < ts->ref ? NAN
			   : ts->soc_ref + ts->soc[k] / ts->q_ah;
	return BT_OK;
}

static enum bt_status
test_init(struct test *ts, const struct bt_fit_data *d, int later,
	  const struct bt_fit_opts *o, char *errmsg)
{
	enum bt_status st;

	memset(ts, 0, sizeof *ts);
	ts->d = d;
	ts->later = later;
	ts->thr = rest_threshold(d, o);
	if ((st = find_reference(ts, o, errmsg)) != BT_OK)
		return st;
	return count_soc(ts, o, errmsg);
}

/* The ends (last rows) of the long rests after the reference, in *ENDS
 * (allocated), their number in *N.  A rest is long when it lasts at least
 * min_rest_s, or when it begins at the reference. */
static enum bt_status
long_rests(const struct test *ts, const struct bt_fit_opts *o, size_t **ends,
	   size_t *n)
{
	const struct bt_fit_data *d = ts->d;
	size_t k = ts->ref, a, m = 0, *e;

	e = malloc((d->n + 1) * sizeof *e);
	if (!e)
		return BT_ENOMEM;
	while (k < d->n) {
		if (!(fabs(d->i[k]) <= ts->thr)) {
			k++;
			continue;
		}
		a = k;
		while (k + 1 < d->n && fabs(d->i[k + 1]) <= ts->thr)
			k++;
		if (d->t[k] - d->t[a] >= o->min_rest_s || a == ts->ref)
			e[m++] = k;
		k++;
	}
	*ends = e;
	*n = m;
	return BT_OK;
}

/* The rested voltage at the end of the rest ending at row B: the mean over
 * its last REST_AVERAGE_S seconds, which takes the sensor noise out of
 * an OCV point. */
static double
rested_voltage(const struct test *ts, size_t b)
{
	const struct bt_fit_data *d = ts->d;
	double s = 0;
	size_t k = b, n = 0;

	for (;;) {
		s += d->v[k];
		n++;
		if (k == ts->ref || k == 0 || !(fabs(d->i[k - 1]) <= ts->thr)
		    || d->t[b] - d->t[k - 1] > REST_AVERAGE_S)
			break;
		k--;
	}
	return s / (double)n;
}

/* --- The output-error fit -------------------------------------------------- */

/* One fit problem: a stretch of a test simulated with a model whose OCV is
 * fixed and whose R0, R_k (constant, or one per grid point) and time
 * constants are the unknowns. */
struct problem {
	const struct test *ts;
	size_t first, last;		/* rows simulated */
	const unsigned char *mask;	/* rows (from first) in the residual:
					   ROW_FIT, or ROW_LOCAL where the OCV
					   is the local line below */
	size_t nres;
	double temp_c;
	struct bt_ecm *ecm;		/* working model on the OCV grid */
	size_t ng;
	const double *gsoc, *gocv;
	unsigned nrc;
	size_t gp;			/* 1: constant parameters; ng: per point */
	int tau_free;
	double tau_fixed[BT_ECM_MAX_RC];
	int slope_free;			/* the local OCV slope is a parameter */
	double slope_fixed;		/* the local OCV slope when it is not */
	int offset_free;		/* the relaxation's OCV offset is a
					   parameter (after the slope) */
	double offset_fixed;		/* the offset when it is not */
	double z0, v0;			/* the local line's rested point */
	double smooth;			/* penalty weight on each second
					   difference; 0 for none */
	size_t npen;
	size_t stop;			/* the last row (from first) in the
					   residual: problem_stop() */
	const size_t *skip;		/* NULL, or for each row (from first)
					   out of the residual, the first row
					   after its run of rows out of the
					   residual at one current */
	/* run_fit's cache of the last residual evaluation: its point, f,
	 * J^T f and J^T J (p by p). */
	double *cache_x, *cache_f, *cache_g, *cache_jtj;
	int cache_valid;
	/* The fast path: the state's soc and the model's OCV at every row
	 * (from first), and with gp > 1 the grid cell of each row (the
	 * point below, and the weight of the point above). */
	const double *zstate, *ocvrow;
	const size_t *cell;
	const double *cellw;
};

/* Values of a residual mask. */
enum { ROW_SKIP, ROW_FIT, ROW_LOCAL };

static size_t
problem_p(const struct problem *pb)
{
	return pb->gp * (1 + pb->nrc) + (pb->tau_free ? pb->nrc : 0)
	       + (pb->slope_free ? 1 : 0) + (pb->offset_free ? 1 : 0);
}

/* The index of the local OCV slope, the first parameter after the
 * resistances and time constants; the relaxation's offset follows it. */
static size_t
slope_index(const struct problem *pb)
{
	return pb->gp * (1 + pb->nrc) + (pb->tau_free ? pb->nrc : 0);
}

/* The slope of the local OCV line. */
static double
slope_of(const struct problem *pb, const double *th)
{
	return pb->slope_free ? th[slope_index(pb)] : pb->slope_fixed;
}

/* The offset of the OCV in the rest that ends a segment from the rested
 * voltage there: that voltage is a mean over REST_AVERAGE_S seconds whose
 * noise, taken as exact, would bend the slow time constants fitted to the
 * relaxation towards it (0.13 mV moves a 300 s tau by 7 %). */
static double
offset_of(const struct problem *pb, const double *th)
{
	return pb->offset_free ? th[slope_index(pb) + (pb->slope_free ? 1 : 0)]
			       : pb->offset_fixed;
}

static double
clamped_exp(double x)
{
	return exp(fmin(fmax(x, -LOGP_MAX), LOGP_MAX));
}

/* The time constants of THETA: tau_1 = e^t1, tau_k = tau_{k-1} + e^tk. */
static void
taus_of(const struct problem *pb, const double *th, double *tau)
{
	size_t k, base = pb->gp * (1 + pb->nrc);

	for (k = 0; k < pb->nrc; k++) {
		if (!pb->tau_free)
			tau[k] = pb->tau_fixed[k];
		else
			tau[k] = (k ? tau[k - 1] : 0) + clamped_exp(th[base + k]);
	}
}

/* Load the parameters THETA into the working model. */
static enum bt_status
load_theta(const struct problem *pb, const double *th)
{
	struct bt_ecm_point pt;
	double tau[BT_ECM_MAX_RC];
	size_t j, k, jp;

	taus_of(pb, th, tau);
	memset(&pt, 0, sizeof pt);
	pt.temperature_c = pb->temp_c;
	pt.ocv_v_sd = pt.r0_ohm_sd = NAN;
	for (k = 0; k < BT_ECM_MAX_RC; k++)
		pt.r_ohm_sd[k] = pt.tau_s_sd[k] = NAN;
	for (j = 0; j < pb->ng; j++) {
		jp = pb->gp == 1 ? 0 : j;
		pt.soc = pb->gsoc[j];
		pt.ocv_v = pb->gocv[j];
		pt.r0_ohm = clamped_exp(th[jp]);
		for (k = 0; k < pb->nrc; k++) {
			pt.r_ohm[k] = clamped_exp(th[(k + 1) * pb->gp + jp]);
			pt.tau_s[k] = tau[k];
		}
		bt_ecm_set_point(pb->ecm, 0, j, &pt);
	}
	return bt_ecm_finish(pb->ecm, NULL);
}

/* The reference simulation of the problem with THETA, through the model
 * itself (bt_ecm_step and bt_ecm_voltage): the residuals (model minus
 * measured) of the masked rows go to F, the penalty rows after them.  The
 * fits use fast_eval(), which check_fast() holds against this. */
static enum bt_status
simulate(const struct problem *pb, const double *th, double *f)
{
	const struct bt_fit_data *d = pb->ts->d;
	struct bt_ecm_state st;
	size_t k, m = 0, c, j;
	enum bt_status s;
	double slope = slope_of(pb, th), offset = offset_of(pb, th);

	if ((s = load_theta(pb, th)) != BT_OK)
		return s;
	bt_ecm_state_init(pb->ecm, pb->ts->soc[pb->first], pb->temp_c, &st);
	for (k = pb->first; k <= pb->last; k++) {
		unsigned char use = pb->mask[k - pb->first];

		if (use) {
			double r = bt_ecm_voltage(pb->ecm, &st, d->i[k]) - d->v[k];

			/* Near a rested point the OCV is the line through it
			 * with a fitted slope, not the interpolated curve. */
			if (use == ROW_LOCAL)
				r += pb->v0 + slope * (st.soc - pb->z0)
				     - bt_ecm_ocv(pb->ecm, st.soc, pb->temp_c, NULL);
			else
				r += offset;
			f[m++] = r;
		}
		if (k < pb->last)
			bt_ecm_step(pb->ecm, &st, d->i[k], d->t[k + 1] - d->t[k]);
	}
	/* Smoothness: the second differences of each log-parameter along the
	 * grid, weighted by smooth * sqrt(rows) so that the penalty keeps its
	 * weight against a residual sum that grows with the rows. */
	if (pb->npen) {
		double w = pb->smooth * sqrt((double)pb->nres);

		for (c = 0; c <= pb->nrc; c++)
			for (j = 1; j + 1 < pb->gp; j++) {
				const double *t = th + c * pb->gp;
				f[m++] = w * (t[j - 1] - 2 * t[j] + t[j + 1]);
			}
	}
	return BT_OK;
}


/* The coefficients of the zero-order-hold update over DT of the NRC pairs
 * with time constants TAU: A = exp(-dt/tau), OM = 1 - A and DA = dA/dtau =
 * A dt / tau^2 ([Plett15] eq. 2.13). */
static inline void
zoh_coefficients(double dt, const double *tau, size_t nrc, double *a,
		 double *om, double *da)
{
	size_t q;

	for (q = 0; q < nrc; q++) {
		om[q] = -expm1(-dt / tau[q]);
		a[q] = 1 - om[q];
		da[q] = a[q] * dt / (tau[q] * tau[q]);
	}
}

/* Products of the Jacobian that fast_eval() forms row by row, without
 * storing J: what GSL's large-problem trust region (gsl_multilarge_nlinear)
 * asks of a Jacobian.  Each pointer may be NULL. */
struct jprod {
	const double *u;	/* with V: v = J^T u (trans) or v = J u */
	double *v;
	int trans;
	double *jtj;		/* J^T J, p by p, row stride tdj */
	size_t tdj;
};

/* The largest number of parameters of a problem. */
#define MAX_PARAMS (BT_FIT_MAX_GRID * (1 + BT_ECM_MAX_RC) + BT_ECM_MAX_RC + 2)

/* Add the Jacobian row JR (P entries, residual M) to the products of JP. */
static void
jprod_row(const struct jprod *jp, const double *jr, size_t p, size_t m)
{
	size_t a, b;

	if (jp->v && jp->trans) {
		double um = jp->u[m];

		for (a = 0; a < p; a++)
			jp->v[a] += jr[a] * um;
	} else if (jp->v) {
		double s = 0;

		for (a = 0; a < p; a++)
			s += jr[a] * jp->u[a];
		jp->v[m] = s;
	}
	if (jp->jtj)
		for (a = 0; a < p; a++) {
			double *row = jp->jtj + a * jp->tdj, x = jr[a];

			if (x != 0)
				for (b = 0; b <= a; b++)
					row[b] += x * jr[b];
		}
}

/* The last row offset (from first) that a residual of PB needs simulated:
 * the last row of its mask.  With SKIP (room for the rows of PB), fill it
 * as pb->skip describes and point pb->skip to it. */
static size_t
problem_stop(struct problem *pb, size_t *skip)
{
	size_t k = pb->last - pb->first, n;
	const double *i = pb->ts->d->i + pb->first;

	while (k > 0 && !pb->mask[k])
		k--;
	n = k;
	pb->skip = skip;
	if (skip)
		for (k = n + 1; k-- > 0;)
			skip[k] = pb->mask[k] || k == n ? k + 1
				  : pb->mask[k + 1] || i[k + 1] != i[k] ? k + 1
				  : skip[k + 1];
	return n;
}

/* fast_eval() of a problem with constant parameters (gp 1) and either
 * every parameter free (a whole pulse segment, with the relaxation's
 * offset when OFF) or only R0 and R_k free (its discharge and charge
 * fits), NRC, FREE and OFF constants of each call:
 * with them the compiler keeps the RC states in registers and unrolls the
 * accumulation of J^T J (lower triangle) and J^T u.  The same equations as
 * fast_eval(); check_fast() holds the two against each other. */
static inline __attribute__((always_inline)) void
const_kernel(const struct problem *pb, const double *th, double *f,
	     const struct jprod *jp, const size_t nrc, const int free, const int off)
{
	enum { MAXP = 3 + 2 * BT_ECM_MAX_RC };
	const size_t S = 1 + 2 * nrc, P = free ? S + 1 + (off ? 1 : 0) : 1 + nrc;
	const size_t n = pb->stop;
	const double *t = pb->ts->d->t + pb->first, *cur = pb->ts->d->i + pb->first;
	const double *vm = pb->ts->d->v + pb->first;
	const unsigned char *mask = pb->mask;
	double tau[BT_ECM_MAX_RC], r[BT_ECM_MAX_RC], e[BT_ECM_MAX_RC];
	double v[BT_ECM_MAX_RC] = { 0 }, w[BT_ECM_MAX_RC] = { 0 };
	double a[BT_ECM_MAX_RC] = { 0 }, om[BT_ECM_MAX_RC] = { 0 };
	double da[BT_ECM_MAX_RC] = { 0 };
	double g[MAXP * MAXP] = { 0 }, gv[MAXP] = { 0 }, jr[MAXP];
	double r0 = clamped_exp(th[0]), slope = slope_of(pb, th);
	double offset = offset_of(pb, th), dt_cached = -1;
	const int want_j = jp != NULL, want_v = jp && jp->v;
	size_t k, q, c, b, lo, hi, m = 0;

	taus_of(pb, th, tau);
	for (q = 0; q < nrc; q++) {
		r[q] = clamped_exp(th[1 + q]);
		e[q] = free ? clamped_exp(th[1 + nrc + q]) : 0;
	}
	for (k = 0; k <= n; k++) {
		double i = cur[k];
		unsigned char use = mask[k];

		/* Rows out of the residual at one current: the exact ZOH
		 * update over their whole span is one step of its length. */
		if (!use && pb->skip && pb->skip[k] > k + 1) {
			size_t to = pb->skip[k];
			double sa[BT_ECM_MAX_RC], so[BT_ECM_MAX_RC], sd[BT_ECM_MAX_RC];

			zoh_coefficients(t[to] - t[k], tau, nrc, sa, so, sd);
			for (q = 0; q < nrc; q++) {
				if (want_j && free)
					w[q] = sa[q] * w[q] + sd[q] * (v[q] - r[q] * i);
				v[q] = sa[q] * v[q] + r[q] * so[q] * i;
			}
			k = to - 1;
			continue;
		}
		if (use) {
			double vs = 0, fm, acc = 0, u;

			for (q = 0; q < nrc; q++)
				vs += v[q];
			fm = (use == ROW_LOCAL ? pb->v0 + slope * (pb->zstate[k] - pb->z0)
			      : pb->ocvrow[k] + offset) + r0 * i + vs - vm[k];
			if (f)
				f[m] = fm;
			if (want_j) {
				jr[0] = r0 * i;
				for (q = 0; q < nrc; q++)
					jr[1 + q] = v[q];
				if (free) {
					for (q = nrc; q-- > 0;) {
						acc += w[q];
						jr[1 + nrc + q] = acc * e[q];
					}
					jr[S] = use == ROW_LOCAL ? pb->zstate[k] - pb->z0 : 0;
					if (off)
						jr[S + 1] = use == ROW_LOCAL ? 0 : 1;
				}
				u = want_v ? jp->u[m] : 0;
				/* Only the non-zero part of the row: R0's entry
				 * is zero at rest, the slope's off the local line
				 * and the offset's on it. */
				lo = i == 0 ? 1 : 0;
				hi = !free ? P : use == ROW_LOCAL ? (off ? P - 1 : P)
					   : (off ? P : P - 1);
				for (c = lo; c < hi; c++) {
					gv[c] += jr[c] * u;
					for (b = lo; b <= c; b++)
						g[c * MAXP + b] += jr[c] * jr[b];
				}
			}
			m++;
		}
		if (k == n)
			break;
		{
			double dt = t[k + 1] - t[k];

			if (dt != dt_cached) {
				zoh_coefficients(dt, tau, nrc, a, om, da);
				dt_cached = dt;
			}
			for (q = 0; q < nrc; q++) {
				if (want_j && free)
					w[q] = a[q] * w[q] + da[q] * (v[q] - r[q] * i);
				v[q] = a[q] * v[q] + r[q] * om[q] * i;
			}
		}
	}
	if (!jp)
		return;
	for (c = 0; c < P; c++) {
		if (want_v)
			jp->v[c] = gv[c];
		if (jp->jtj)
			for (b = 0; b <= c; b++)
				jp->jtj[c * jp->tdj + b] = jp->jtj[b * jp->tdj + c]
					= g[c * MAXP + b];
	}
}

/* const_kernel() for the problem's NRC and FREE.  Returns 0 when the
 * problem is of another kind (fast_eval() then does it). */
static int
const_eval(const struct problem *pb, const double *th, double *f,
	   const struct jprod *jp)
{
	if (pb->gp != 1 || pb->npen || (jp && jp->v && !jp->trans)
	    || pb->tau_free != pb->slope_free || (pb->offset_free && !pb->tau_free))
		return 0;
	switch (pb->nrc * 4 + (pb->tau_free ? 2u : 0u) + (pb->offset_free ? 1u : 0u)) {
	case 4: const_kernel(pb, th, f, jp, 1, 0, 0); return 1;
	case 6: const_kernel(pb, th, f, jp, 1, 1, 0); return 1;
	case 7: const_kernel(pb, th, f, jp, 1, 1, 1); return 1;
	case 8: const_kernel(pb, th, f, jp, 2, 0, 0); return 1;
	case 10: const_kernel(pb, th, f, jp, 2, 1, 0); return 1;
	case 11: const_kernel(pb, th, f, jp, 2, 1, 1); return 1;
	case 12: const_kernel(pb, th, f, jp, 3, 0, 0); return 1;
	case 14: const_kernel(pb, th, f, jp, 3, 1, 0); return 1;
	case 15: const_kernel(pb, th, f, jp, 3, 1, 1); return 1;
	default: return 0;
	}
}

/* The residuals F (when not NULL), their Jacobian J (row-major, row stride
 * TDA, when not NULL) and the products of JP (when not NULL) of a problem
 * with a fast path, in one pass.
 * The model is bt_ecm's, evaluated directly: the state's soc is fixed by
 * the data, so each row's grid cell (J0, W) and OCV are known beforehand;
 * R0 and R_k are linear in soc between grid points (constant when gp is
 * 1), R_k(z) = (1 - W) R_k,J0 + W R_k,J0+1, and the ZOH update is
 * v_k <- a v_k + R_k(z) (1 - a) i, a = exp(-dt/tau_k).  Its sensitivities,
 *     s_k,j = dv_k/dR_k,j:  s_k,j <- a s_k,j + (1 - a) i W_j(z)
 *     w_k = dv_k/dtau_k:    w_k <- a w_k + (a dt / tau_k^2) (v_k - R_k(z) i)
 * ([Plett15] eq. 2.13 differentiated), give dV/dlog R_k,j = R_k,j s_k,j,
 * dV/dlog R0_j = R0_j W_j(z) i, dV/dtheta_m = sum_{k>=m} w_k e^theta_m for
 * tau_k = sum_{m<=k} e^theta_m, dV/dslope = z - z0 on the rows of the
 * local OCV line and dV/doffset = 1 on the others.  The smoothness rows follow the residuals.  The
 * simulation stops at the last row in the residual (pb->stop).  The unit
 * tests hold this against bt_ecm_step() and against central differences,
 * and the products against the stored Jacobian. */
static void
fast_eval(const struct problem *pb, const double *th, double *f, double *J,
	  size_t tda, const struct jprod *jp)
{
	const struct bt_fit_data *d = pb->ts->d;
	size_t nrc = pb->nrc, gp = pb->gp, p = problem_p(pb), base = gp * (1 + nrc);
	size_t k, q, j, m = 0, n = pb->stop;
	double r0[BT_FIT_MAX_GRID], r[BT_ECM_MAX_RC][BT_FIT_MAX_GRID];
	double sens[BT_ECM_MAX_RC][BT_FIT_MAX_GRID], rowbuf[MAX_PARAMS];
	double tau[BT_ECM_MAX_RC], v[BT_ECM_MAX_RC] = { 0 }, w[BT_ECM_MAX_RC] = { 0 };
	double a[BT_ECM_MAX_RC], om[BT_ECM_MAX_RC], da[BT_ECM_MAX_RC];
	double e[BT_ECM_MAX_RC];
	double slope = slope_of(pb, th), offset = offset_of(pb, th), dt_cached = -1;
	size_t si = slope_index(pb);
	int want_j = J || jp;

	if (!J && const_eval(pb, th, f, jp))
		return;
	taus_of(pb, th, tau);
	for (j = 0; j < gp; j++) {
		r0[j] = clamped_exp(th[j]);
		for (q = 0; q < nrc; q++) {
			r[q][j] = clamped_exp(th[(q + 1) * gp + j]);
			sens[q][j] = 0;
		}
	}
	for (q = 0; q < nrc; q++)
		e[q] = pb->tau_free ? clamped_exp(th[base + q]) : 0;
	if (jp && jp->v && jp->trans)
		memset(jp->v, 0, p * sizeof *jp->v);
	if (jp && jp->jtj)
		for (q = 0; q < p; q++)
			memset(jp->jtj + q * jp->tdj, 0, p * sizeof *jp->jtj);
	for (k = 0; k <= n; k++) {
		size_t row = pb->first + k, j0 = gp > 1 ? pb->cell[k] : 0;
		double i = d->i[row], cw = gp > 1 ? pb->cellw[k] : 0;
		double rz[BT_ECM_MAX_RC];
		unsigned char use = pb->mask[k];

		for (q = 0; q < nrc; q++)
			rz[q] = gp > 1 ? (1 - cw) * r[q][j0] + cw * r[q][j0 + 1] : r[q][0];
		if (use) {
			double vs = 0, ocv = use == ROW_LOCAL
				? pb->v0 + slope * (pb->zstate[k] - pb->z0)
				: pb->ocvrow[k] + offset;
			double r0z = gp > 1 ? (1 - cw) * r0[j0] + cw * r0[j0 + 1] : r0[0];

			for (q = 0; q < nrc; q++)
				vs += v[q];
			if (f)
				f[m] = ocv + r0z * i + vs - d->v[row];
			if (want_j) {
				double *jr = J ? J + m * tda : rowbuf, acc = 0;

				/* With constant parameters v_k is linear in R_k:
				 * dV/dlog R_k = v_k, no sensitivity states. */
				if (gp > 1) {
					memset(jr, 0, p * sizeof *jr);
					jr[j0] = r0[j0] * (1 - cw) * i;
					jr[j0 + 1] = r0[j0 + 1] * cw * i;
					for (q = 0; q < nrc; q++)
						for (j = 0; j < gp; j++)
							jr[(q + 1) * gp + j] = r[q][j] * sens[q][j];
				} else {
					jr[0] = r0[0] * i;
					for (q = 0; q < nrc; q++)
						jr[1 + q] = v[q];
				}
				if (pb->tau_free)
					for (q = nrc; q-- > 0;) {
						acc += w[q];
						jr[base + q] = acc * e[q];
					}
				if (pb->slope_free)
					jr[si] = use == ROW_LOCAL ? pb->zstate[k] - pb->z0 : 0;
				if (pb->offset_free)
					jr[si + (pb->slope_free ? 1 : 0)] = use == ROW_LOCAL ? 0 : 1;
				if (jp)
					jprod_row(jp, jr, p, m);
			}
			m++;
		}
		if (k == n)
			break;
		{
			double dt = d->t[row + 1] - d->t[row];

			if (dt != dt_cached) {
				zoh_coefficients(dt, tau, nrc, a, om, da);
				dt_cached = dt;
			}
			for (q = 0; q < nrc; q++) {
				if (want_j)
					w[q] = a[q] * w[q] + da[q] * (v[q] - rz[q] * i);
				v[q] = a[q] * v[q] + rz[q] * om[q] * i;
				if (!want_j || gp == 1)
					continue;
				for (j = 0; j < gp; j++)
					sens[q][j] *= a[q];
				sens[q][j0] += om[q] * i * (1 - cw);
				sens[q][j0 + 1] += om[q] * i * cw;
			}
		}
	}
	/* Smoothness rows: weight times the second differences. */
	if (pb->npen) {
		double wt = pb->smooth * sqrt((double)pb->nres);
		size_t c;

		for (c = 0; c <= nrc; c++)
			for (j = 1; j + 1 < gp; j++, m++) {
				const double *t = th + c * gp;

				if (f)
					f[m] = wt * (t[j - 1] - 2 * t[j] + t[j + 1]);
				if (want_j) {
					double *jr = J ? J + m * tda : rowbuf;

					memset(jr, 0, p * sizeof *jr);
					jr[c * gp + j - 1] = wt;
					jr[c * gp + j] = -2 * wt;
					jr[c * gp + j + 1] = wt;
					if (jp)
						jprod_row(jp, jr, p, m);
				}
			}
	}
	/* J^T J was accumulated below its diagonal: mirror it. */
	if (jp && jp->jtj)
		for (q = 0; q < p; q++)
			for (j = 0; j < q; j++)
				jp->jtj[j * jp->tdj + q] = jp->jtj[q * jp->tdj + j];
}

/* GSL's large-problem interface (gsl_multilarge_nlinear), which takes J^T J
 * and J^T u from the caller instead of J.  A residual evaluation forms, in
 * the same pass, J^T f and J^T J at its point and keeps them with the point
 * and f (the cache of the problem): the trust region asks for exactly these
 * at every point it accepts, so an iteration costs one pass over the rows,
 * not two, and no tall Jacobian is stored or multiplied. */
static int
gsl_fast_f(const gsl_vector *x, void *params, gsl_vector *f)
{
	struct problem *pb = params;
	size_t p = problem_p(pb), n = pb->nres + pb->npen;
	struct jprod jp = { NULL, pb->cache_g, 1, pb->cache_jtj, p };

	if (f->stride != 1 || x->stride != 1)
		return GSL_EBADLEN;
	jp.u = f->data;
	fast_eval(pb, x->data, f->data, NULL, 0, &jp);
	memcpy(pb->cache_x, x->data, p * sizeof *pb->cache_x);
	memcpy(pb->cache_f, f->data, n * sizeof *pb->cache_f);
	pb->cache_valid = 1;
	return GSL_SUCCESS;
}

static int
gsl_fast_df(CBLAS_TRANSPOSE_t trans, const gsl_vector *x, const gsl_vector *u,
	    void *params, gsl_vector *v, gsl_matrix *jtj)
{
	struct problem *pb = params;
	size_t p = problem_p(pb), n = pb->nres + pb->npen, a;
	struct jprod jp = { NULL, NULL, trans == CblasTrans, NULL, 0 };

	if (x->stride != 1 || (u && u->stride != 1) || (v && v->stride != 1))
		return GSL_EBADLEN;
	if (pb->cache_valid
	    && memcmp(pb->cache_x, x->data, p * sizeof *pb->cache_x) == 0
	    && (!v || (trans == CblasTrans && u
		       && memcmp(pb->cache_f, u->data, n * sizeof *pb->cache_f) == 0))) {
		if (v)
			memcpy(v->data, pb->cache_g, p * sizeof *pb->cache_g);
		if (jtj)
			for (a = 0; a < p; a++)
				memcpy(jtj->data + a * jtj->tda, pb->cache_jtj + a * p,
				       p * sizeof *pb->cache_jtj);
		return GSL_SUCCESS;
	}
	if (v) {
		jp.u = u->data;
		jp.v = v->data;
	}
	if (jtj) {
		jp.jtj = jtj->data;
		jp.tdj = jtj->tda;
	}
	fast_eval(pb, x->data, NULL, NULL, 0, &jp);
	return GSL_SUCCESS;
}

/* The step of the central differences of check_fast(). */
#define CHECK_FD_STEP 1e-6

/* The largest difference between the products of the row-by-row pass
 * (J^T u, J u, J^T J) and those of the stored Jacobian J (N by P) at TH,
 * relative to the largest of the latter. */
static double
check_products(const struct problem *pb, const double *th, const double *J,
	       size_t n, size_t p, const double *u)
{
	double *v = malloc((n + p) * sizeof *v), *jtj = malloc(p * p * sizeof *jtj);
	double err = 0, big = 0, x;
	struct jprod jp = { NULL, NULL, 1, NULL, p };
	size_t a, b, k;

	if (!v || !jtj) {
		free(v);
		free(jtj);
		return INFINITY;
	}
	/* J^T u (u: the residuals) and J^T J. */
	jp.u = u;
	jp.v = v;
	jp.jtj = jtj;
	fast_eval(pb, th, NULL, NULL, 0, &jp);
	for (a = 0; a < p; a++) {
		for (x = 0, k = 0; k < n; k++)
			x += J[k * p + a] * u[k];
		err = fmax(err, fabs(x - v[a]));
		big = fmax(big, fabs(x));
		for (b = 0; b < p; b++) {
			for (x = 0, k = 0; k < n; k++)
				x += J[k * p + a] * J[k * p + b];
			err = fmax(err, fabs(x - jtj[a * p + b]));
			big = fmax(big, fabs(x));
		}
	}
	/* J u with u = (1, 2, ..., p). */
	for (a = 0; a < p; a++)
		v[n + a] = (double)(a + 1);
	jp.u = v + n;
	jp.trans = 0;
	jp.jtj = NULL;
	fast_eval(pb, th, NULL, NULL, 0, &jp);
	for (k = 0; k < n; k++) {
		for (x = 0, a = 0; a < p; a++)
			x += J[k * p + a] * (double)(a + 1);
		err = fmax(err, fabs(x - v[k]));
		big = fmax(big, fabs(x));
	}
	free(v);
	free(jtj);
	return big > 0 ? err / big : err;
}

/* Compare fast_eval() at TH with simulate() and with central differences
 * of itself, and its products with those of its Jacobian; raise
 * RES->check_residual_v and RES->check_jacobian. */
static enum bt_status
check_fast(struct problem *pb, const double *th, struct bt_fit_result *res)
{
	size_t n = pb->nres + pb->npen, p = problem_p(pb), k, j;
	double *f1 = malloc(n * sizeof *f1), *f2 = malloc(n * sizeof *f2);
	double *J = malloc(n * p * sizeof *J), *t = malloc(p * sizeof *t);
	size_t *skip = malloc((pb->last - pb->first + 1) * sizeof *skip);
	double jmax = 0, jerr = 0;
	enum bt_status st = BT_ENOMEM;

	if (!f1 || !f2 || !J || !t || !skip)
		goto done;
	pb->stop = problem_stop(pb, skip);
	fast_eval(pb, th, f1, J, p, NULL);
	if ((st = simulate(pb, th, f2)) != BT_OK)
		goto done;
	for (k = 0; k < n; k++)
		res->check_residual_v = fmax(res->check_residual_v, fabs(f1[k] - f2[k]));
	/* The residuals alone take const_kernel() where it applies. */
	fast_eval(pb, th, f1, NULL, 0, NULL);
	for (k = 0; k < n; k++)
		res->check_residual_v = fmax(res->check_residual_v, fabs(f1[k] - f2[k]));
	res->check_jacobian = fmax(res->check_jacobian,
				   check_products(pb, th, J, n, p, f1));
	for (j = 0; j < p; j++) {
		memcpy(t, th, p * sizeof *t);
		t[j] = th[j] + CHECK_FD_STEP;
		fast_eval(pb, t, f1, NULL, 0, NULL);
		t[j] = th[j] - CHECK_FD_STEP;
		fast_eval(pb, t, f2, NULL, 0, NULL);
		for (k = 0; k < n; k++) {
			double fd = (f1[k] - f2[k]) / (2 * CHECK_FD_STEP);
			jerr = fmax(jerr, fabs(fd - J[k * p + j]));
			jmax = fmax(jmax, fabs(J[k * p + j]));
		}
	}
	if (jmax > 0)
		res->check_jacobian = fmax(res->check_jacobian, jerr / jmax);
done:
	free(f1);
	free(f2);
	free(J);
	free(t);
	free(skip);
	pb->skip = NULL;
	return st;
}

/* The outcome of one fit. */
struct fit_out {
	double *theta;		/* p values (caller's) */
	double ssr;
	size_t iterations;
	int converged;
	double sd_r0[BT_FIT_MAX_GRID], sd_r[BT_ECM_MAX_RC][BT_FIT_MAX_GRID];
	double sd_tau[BT_ECM_MAX_RC];
};

/* Carry the covariance C (of theta) to the standard deviations of the
 * parameters by the delta method: R = e^theta gives sd(R) = R sd(theta);
 * tau_k = sum_{m<=k} e^theta_m gives var = g^T C g with g_m = e^theta_m. */
static void
sd_from_covar(const struct problem *pb, const gsl_matrix *c, double scale,
	      struct fit_out *out)
{
	size_t j, k, m, m2, base = pb->gp * (1 + pb->nrc);
	const double *th = out->theta;

	for (j = 0; j < pb->gp; j++) {
		out->sd_r0[j] = clamped_exp(th[j])
			* sqrt(scale * gsl_matrix_get(c, j, j));
		for (k = 0; k < pb->nrc; k++) {
			size_t q = (k + 1) * pb->gp + j;
			out->sd_r[k][j] = clamped_exp(th[q])
				* sqrt(scale * gsl_matrix_get(c, q, q));
		}
	}
	for (k = 0; k < pb->nrc; k++) {
		double var = 0;

		if (!pb->tau_free) {
			out->sd_tau[k] = NAN;
			continue;
		}
		for (m = 0; m <= k; m++)
			for (m2 = 0; m2 <= k; m2++)
				var += clamped_exp(th[base + m])
				     * clamped_exp(th[base + m2])
				     * gsl_matrix_get(c, base + m, base + m2);
		out->sd_tau[k] = sqrt(scale * var);
	}
}

/* Minimise the problem from OUT->theta with GSL's trust region; store the
 * optimum in OUT->theta with its residual sum, iterations, convergence
 * and standard deviations. */
static enum bt_status
run_fit(struct problem *pb, const struct bt_fit_opts *o, struct fit_out *out)
{
	size_t p = problem_p(pb), n = pb->nres + pb->npen, j, k;
	gsl_multilarge_nlinear_fdf fdf;
	gsl_multilarge_nlinear_parameters par = gsl_multilarge_nlinear_default_parameters();
	gsl_multilarge_nlinear_workspace *w;
	gsl_vector_view x0 = gsl_vector_view_array(out->theta, p);
	gsl_matrix *covar;
	double chi2, *cache;
	size_t *skip;
	int info, status;

	/* Levenberg-Marquardt on the normal equations, by a modified
	 * Cholesky factorisation: p is at most a few dozen and n thousands,
	 * and the modified factorisation stays usable when J^T J is nearly
	 * singular ([GSL], "Solving the Trust Region Subproblem"). */
	par.trs = gsl_multilarge_nlinear_trs_lm;
	par.solver = gsl_multilarge_nlinear_solver_mcholesky;
	/* The parameters are logarithms (and one OCV slope), all of order
	 * one: Levenberg's identity scaling serves. */
	par.scale = gsl_multilarge_nlinear_scale_levenberg;
	if (n < p + MIN_EXTRA_ROWS)
		return BT_EEMPTY;
	fdf.f = gsl_fast_f;
	fdf.df = gsl_fast_df;
	fdf.fvv = NULL;
	fdf.n = n;
	fdf.p = p;
	fdf.params = pb;
	w = gsl_multilarge_nlinear_alloc(gsl_multilarge_nlinear_trust, &par, n, p);
	covar = gsl_matrix_alloc(p, p);
	cache = malloc((n + p * (p + 2)) * sizeof *cache);
	skip = malloc((pb->last - pb->first + 1) * sizeof *skip);
	if (!w || !covar || !cache || !skip) {
		if (w)
			gsl_multilarge_nlinear_free(w);
		if (covar)
			gsl_matrix_free(covar);
		free(cache);
		free(skip);
		return BT_ENOMEM;
	}
	pb->stop = problem_stop(pb, skip);
	pb->cache_f = cache;
	pb->cache_x = cache + n;
	pb->cache_g = pb->cache_x + p;
	pb->cache_jtj = pb->cache_g + p;
	pb->cache_valid = 0;
	status = gsl_multilarge_nlinear_init(&x0.vector, &fdf, w);
	if (status == GSL_SUCCESS)
		status = gsl_multilarge_nlinear_driver(o->max_iter, o->xtol, o->gtol,
						       o->ftol, NULL, NULL, &info, w);
	out->iterations = gsl_multilarge_nlinear_niter(w);
	if (status == GSL_ENOPROG)
		status = gsl_multilarge_nlinear_test(LOOSE_TOL, LOOSE_TOL, LOOSE_TOL,
						     &info, w);
	out->converged = status == GSL_SUCCESS;
	memcpy(out->theta, gsl_multilarge_nlinear_position(w)->data,
	       p * sizeof(double));
	gsl_blas_ddot(gsl_multilarge_nlinear_residual(w),
		      gsl_multilarge_nlinear_residual(w), &chi2);
	out->ssr = chi2;
	for (j = 0; j < BT_FIT_MAX_GRID; j++) {
		out->sd_r0[j] = NAN;
		for (k = 0; k < BT_ECM_MAX_RC; k++)
			out->sd_r[k][j] = NAN;
	}
	for (k = 0; k < BT_ECM_MAX_RC; k++)
		out->sd_tau[k] = NAN;
	/* The covariance (J^T J)^-1 at the optimum: the workspace's J^T J is
	 * that of its last accepted point. */
	if (n > p && gsl_multilarge_nlinear_covar(covar, w) == GSL_SUCCESS)
		sd_from_covar(pb, covar, chi2 / (double)(n - p), out);
	gsl_matrix_free(covar);
	gsl_multilarge_nlinear_free(w);
	free(cache);
	free(skip);
	pb->skip = NULL;
	pb->cache_f = pb->cache_x = pb->cache_g = pb->cache_jtj = NULL;
	return BT_OK;
}

/* A standard deviation as the model file takes it: finite, or unknown. */
static double
sd_clean(double x)
{
	return isfinite(x) ? x : NAN;
}

/* --- Initial values -------------------------------------------------------- */

/* R0 from the instantaneous voltage steps [INL15]: the median of dV/dI
 * over the rows FIRST+1..LAST whose current change is at least
 * R0_STEP_FRACTION of the largest. */
static double
r0_estimate(const struct bt_fit_data *d, size_t first, size_t last)
{
	double big = 0, *r, med;
	size_t k, n = 0, a, b;

	for (k = first + 1; k <= last; k++)
		if (fabs(d->i[k] - d->i[k - 1]) > big)
			big = fabs(d->i[k] - d->i[k - 1]);
	if (!(big > 0))
		return R0_FALLBACK;
	r = malloc((last - first) * sizeof *r);
	if (!r)
		return R0_FALLBACK;
	for (k = first + 1; k <= last; k++) {
		double di = d->i[k] - d->i[k - 1];
		if (fabs(di) >= R0_STEP_FRACTION * big) {
			double x = (d->v[k] - d->v[k - 1]) / di;
			if (x > 0)
				r[n++] = x;
		}
	}
	/* Insertion sort: a test has few steps of the largest size. */
	for (a = 1; a < n; a++)
		for (b = a; b > 0 && r[b - 1] > r[b]; b--) {
			double t = r[b];
			r[b] = r[b - 1];
			r[b - 1] = t;
		}
	med = n ? (n % 2 ? r[n / 2] : 0.5 * (r[n / 2 - 1] + r[n / 2]))
		: R0_FALLBACK;
	free(r);
	return med;
}

/* Starting values: log R0 = log R0_INIT, log R_k = log(fraction R0), the
 * time constants of start S, and SLOPE for the local OCV slope. */
static void
theta_start(const struct problem *pb, double r0, size_t s, double slope,
	    double *th)
{
	size_t j, k, base = pb->gp * (1 + pb->nrc);
	const double *tau = tau_starts[pb->nrc - 1][s];

	for (j = 0; j < pb->gp; j++) {
		th[j] = log(r0);
		for (k = 0; k < pb->nrc; k++)
			th[(k + 1) * pb->gp + j] = log(INIT_RC_FRACTION * r0);
	}
	if (pb->tau_free)
		for (k = 0; k < pb->nrc; k++)
			th[base + k] = log(k ? tau[k] - tau[k - 1] : tau[0]);
	if (pb->slope_free)
		th[slope_index(pb)] = slope;
	if (pb->offset_free)
		th[slope_index(pb) + (pb->slope_free ? 1 : 0)] = 0;
}

/* --- Grids and OCV points --------------------------------------------------- */

/* A grid of step STEP over [LO, HI]: the ends and the multiples of STEP
 * strictly inside, those closer than GRID_END_FRACTION * STEP to an end
 * left out.  Returns the number of points written to G (at most
 * BT_FIT_MAX_GRID). */
static size_t
stepped_grid(double lo, double hi, double step, double *g)
{
	size_t n = 0;
	double x;
	long m;

	g[n++] = round(lo * GRID_ROUND) / GRID_ROUND;
	for (m = (long)floor(lo / step) + 1; n + 1 < BT_FIT_MAX_GRID; m++) {
		/* Rounded to 12 digits, so that 3 * 0.05 is 0.15. */
		x = round(m * step * GRID_ROUND) / GRID_ROUND;
		if (x > hi - GRID_END_FRACTION * step)
			break;
		if (x - lo >= GRID_END_FRACTION * step)
			g[n++] = x;
	}
	if (hi > lo)
		g[n++] = round(hi * GRID_ROUND) / GRID_ROUND;
	return n;
}

/* Sort the N points (X, Y) by X and merge those within SOC_MERGE_TOL
 * (averaging them); returns the new count. */
static size_t
sort_merge(double *x, double *y, size_t n)
{
	size_t a, b, m = 0, cnt;

	for (a = 1; a < n; a++)
		for (b = a; b > 0 && x[b - 1] > x[b]; b--) {
			double t = x[b];
			x[b] = x[b - 1];
			x[b - 1] = t;
			t = y[b];
			y[b] = y[b - 1];
			y[b - 1] = t;
		}
	for (a = 0; a < n; a = b) {
		double sx = 0, sy = 0;
		for (b = a, cnt = 0; b < n && x[b] - x[a] <= SOC_MERGE_TOL; b++, cnt++) {
			sx += x[b];
			sy += y[b];
		}
		x[m] = sx / (double)cnt;
		y[m] = sy / (double)cnt;
		m++;
	}
	return m;
}

/* --- Results ---------------------------------------------------------------- */

static enum bt_status
add_segment(struct bt_fit_result *res, const struct bt_fit_segment *s)
{
	struct bt_fit_segment *p = realloc(res->seg, (res->nseg + 1) * sizeof *p);

	if (!p)
		return BT_ENOMEM;
	res->seg = p;
	res->seg[res->nseg++] = *s;
	return BT_OK;
}

void
bt_fit_result_free(struct bt_fit_result *res)
{
	bt_ecm_free(res->ecm);
	free(res->seg);
	free(res->test);
	memset(res, 0, sizeof *res);
}

void
bt_fit_capacity_text(const struct bt_fit_result *res, char *buf, size_t size)
{
	const char *how = res->capacity_measured ? "measured" : "given";
	const char *sep = ";";
	size_t k, n, differ = 0;

	for (k = 0; k < res->ntest; k++)
		differ += res->test[k].capacity_ah != res->capacity_ah;
	if (!differ || !res->ecm) {
		snprintf(buf, size, "capacity %.4g Ah (%s)", res->capacity_ah, how);
		return;
	}
	/* Temperatures to 0.1 degC; -0 is written 0. */
	n = (size_t)snprintf(buf, size, "capacity %.4g Ah at %g degC (%s",
			     res->capacity_ah, round(10 * bt_ecm_reference_temperature_c(
			     res->ecm)) / 10 + 0.0, how);
	for (k = 0; k < res->ntest && n < size; k++) {
		const struct bt_fit_test *t = &res->test[k];

		if (t->capacity_ah == res->capacity_ah)
			continue;
		n += (size_t)snprintf(buf + n, size - n, "%s %.4g Ah at %g degC",
				      sep, t->capacity_ah,
				      round(10 * t->temperature_c) / 10 + 0.0);
		sep = ",";
	}
	if (n < size)
		snprintf(buf + n, size - n, ")");
}

const char *
bt_fit_dir_name(enum bt_fit_dir dir)
{
	switch (dir) {
	case BT_FIT_DIR_DISCHARGE: return "discharge";
	case BT_FIT_DIR_CHARGE: return "charge";
	case BT_FIT_DIR_PROFILE: return "profile";
	default: return "both";
	}
}

/* Fill the point values of S from the fit OUT of problem PB at grid
 * point J (0 for a constant fit). */
static void
segment_values(const struct problem *pb, const struct fit_out *out, size_t j,
	       struct bt_fit_segment *s)
{
	double tau[BT_ECM_MAX_RC];
	size_t k;

	taus_of(pb, out->theta, tau);
	s->point.r0_ohm = clamped_exp(out->theta[j]);
	s->point.r0_ohm_sd = sd_clean(out->sd_r0[j]);
	for (k = 0; k < BT_ECM_MAX_RC; k++) {
		int used = k < pb->nrc;
		s->point.r_ohm[k] = used ? clamped_exp(out->theta[(k + 1) * pb->gp + j]) : 0;
		s->point.r_ohm_sd[k] = used ? sd_clean(out->sd_r[k][j]) : NAN;
		s->point.tau_s[k] = used ? tau[k] : 0;
		s->point.tau_s_sd[k] = used ? sd_clean(out->sd_tau[k]) : NAN;
	}
	s->iterations = out->iterations;
	s->converged = out->converged;
}

/* The residual statistics of S's fit: simulate once more at the optimum. */
static enum bt_status
segment_stats(struct problem *pb, const double *th,
	      struct bt_fit_segment *s, struct bt_stats *acc)
{
	struct bt_stats st;
	struct bt_stats_summary sum;
	double *f;
	size_t k;

	bt_stats_init(&st);
	f = malloc((pb->nres + pb->npen) * sizeof *f);
	if (!f)
		return BT_ENOMEM;
	pb->stop = problem_stop(pb, NULL);
	fast_eval(pb, th, f, NULL, 0, NULL);
	for (k = 0; k < pb->nres; k++)
		bt_stats_add(&st, f[k]);
	free(f);
	sum = bt_stats_summary(&st);
	s->rows = sum.n;
	s->rmse_v = sum.rmse;
	s->max_abs_v = sum.max_abs;
	if (acc)
		bt_stats_merge(acc, &st);
	return BT_OK;
}

/* --- Pulse tests (hppc) ----------------------------------------------------- */

#define MAX_LEVELS BT_FIT_MAX_LEVELS
/* Room for the words and numbers a level's name adds to its input's. */
#define LEVEL_NAME_EXTRA (64 + 2 * BT_NUM_BUFSIZE)

/* One temperature level of a pulse fit: its OCV points and the values
 * fitted at each. */
struct level {
	double temp_c;			/* the mean of its segments' rows */
	size_t n;
	double soc[BT_FIT_MAX_GRID], ocv[BT_FIT_MAX_GRID];
	int have[BT_FIT_MAX_GRID];
	struct bt_ecm_point pt[BT_FIT_MAX_GRID];
};

/* One segment between two long rests. */
struct seg {
	size_t test, first, last;
	int rested_end;			/* LAST ends a long rest */
	double temp_c;
	size_t level;
};

static double
segment_temperature(const struct bt_fit_data *d, size_t first, size_t last)
{
	double s = 0;
	size_t k, n = 0;

	if (!isnan(d->temperature_c))
		return d->temperature_c;
	for (k = first; k <= last; k++)
		if (isfinite(d->temp[k])) {
			s += d->temp[k];
			n++;
		}
	return n ? s / (double)n : BT_FIT_DEFAULT_TEMPERATURE_C;
}

/* The rows of the direction window of DIR in [FIRST, LAST]: from the first
 * row carrying current of that direction up to the row before the first
 * row carrying the other direction's current.  Returns 0 when there is no
 * such row. */
static int
direction_window(const struct test *ts, size_t first, size_t last,
		 enum bt_fit_dir dir, size_t *w0, size_t *w1)
{
	const double *i = ts->d->i;
	double sg = dir == BT_FIT_DIR_CHARGE ? 1 : -1;
	size_t k;

	for (k = first; k <= last && !(sg * i[k] > ts->thr); k++)
		;
	if (k > last)
		return 0;
	*w0 = k;
	while (k < last && !(-sg * i[k + 1] > ts->thr))
		k++;
	*w1 = k;
	return 1;
}

/* How row K of segment SG enters the residual: ROW_LOCAL within SPAN of
 * the segment's starting soc (before the rest that ends it), where the OCV
 * is a line through the rested point with a fitted slope; ROW_FIT in the
 * rest that ends the segment (from row REST_FROM), where the soc is that of
 * the next OCV point; ROW_SKIP elsewhere: there the OCV is only
 * interpolated between points a soc step apart, and the rows are simulated
 * but not fitted. */
static unsigned char
fitted_row(const struct test *ts, const struct seg *sg, size_t rest_from,
	   size_t k, double span)
{
	if (sg->rested_end && k >= rest_from)
		return ROW_FIT;
	return fabs(ts->soc[k] - ts->soc[sg->first]) <= span ? ROW_LOCAL
							      : ROW_SKIP;
}

/* Fit one segment of level LV whole and by direction; append its report
 * rows to RES and store the whole fit's values at its grid point. */
static enum bt_status
fit_segment(const struct test *ts, const struct seg *sg, struct level *lv,
	    struct bt_ecm *work, const struct bt_fit_opts *o,
	    struct bt_fit_result *res)
{
	struct problem pb;
	struct fit_out best, out;
	struct bt_fit_segment row;
	double th[3 + 2 * BT_ECM_MAX_RC], bth[3 + 2 * BT_ECM_MAX_RC];
	double dpts[BT_FIT_MAX_GRID], slope0;
	unsigned char *mask;
	size_t k, s, j, w0, w1, n = sg->last - sg->first + 1, p, rest_from;
	double *zst;
	enum bt_status st = BT_OK;
	enum bt_fit_dir dir;
	int have = 0;
	double r0;

	mask = malloc(n);
	zst = malloc(2 * n * sizeof *zst);
	if (!mask || !zst) {
		free(mask);
		free(zst);
		return BT_ENOMEM;
	}
	memset(&pb, 0, sizeof pb);
	pb.ts = ts;
	pb.first = sg->first;
	pb.last = sg->last;
	pb.mask = mask;
	pb.temp_c = lv->temp_c;
	pb.ecm = work;
	pb.ng = lv->n;
	pb.gsoc = lv->soc;
	pb.gocv = lv->ocv;
	pb.nrc = o->rc_pairs;
	pb.gp = 1;
	pb.tau_free = 1;
	rest_from = sg->last;
	while (rest_from > sg->first && fabs(ts->d->i[rest_from - 1]) <= ts->thr)
		rest_from--;
	pb.z0 = ts->soc[sg->first];
	pb.v0 = rested_voltage(ts, sg->first);
	pb.slope_free = 1;
	for (k = 0; k < n; k++) {
		mask[k] = fitted_row(ts, sg, rest_from, sg->first + k, o->ocv_span);
		pb.nres += mask[k] != ROW_SKIP;
		pb.offset_free |= mask[k] == ROW_FIT;
	}
	r0 = r0_estimate(ts->d, sg->first, sg->last);
	/* The fast path: the state's soc (coulomb counting of every current,
	 * as bt_ecm_step does) and the model's OCV there, for every row. */
	theta_start(&pb, r0, 0, 0, th);
	if ((st = load_theta(&pb, th)) != BT_OK)
		goto done;
	zst[0] = ts->soc[sg->first];
	for (k = 1; k < n; k++)
		zst[k] = zst[k - 1] + ts->d->i[sg->first + k - 1]
			 * (ts->d->t[sg->first + k] - ts->d->t[sg->first + k - 1])
			 / (SECONDS_PER_HOUR * ts->q_ah);
	for (k = 0; k < n; k++)
		zst[n + k] = bt_ecm_ocv(work, zst[k], lv->temp_c, NULL);
	pb.zstate = zst;
	pb.ocvrow = zst + n;
	bt_ecm_pchip_slopes(lv->soc, lv->ocv, lv->n, dpts);
	bt_ecm_pchip_eval(lv->soc, lv->ocv, dpts, lv->n, pb.z0, &slope0);
	memset(&row, 0, sizeof row);
	row.soc = ts->soc[sg->first];
	row.capacity_ah = ts->q_ah;
	row.temperature_c = sg->temp_c;
	row.first = sg->first;
	row.last = sg->last;
	row.point.temperature_c = lv->temp_c;
	row.point.soc = row.soc;
	row.point.ocv_v = rested_voltage(ts, sg->first);
	row.point.ocv_v_sd = NAN;

	if (o->selfcheck && pb.nres > 0) {
		theta_start(&pb, r0, 1, slope0, th);
		if ((st = check_fast(&pb, th, res)) != BT_OK)
			goto done;
	}

	/* The whole segment, from each start in turn: keep the converged
	 * fit with the smallest residual (or the smallest of all). */
	best.theta = bth;
	for (s = 0; s < N_STARTS; s++) {
		out.theta = th;
		theta_start(&pb, r0, s, slope0, th);
		st = run_fit(&pb, o, &out);
		if (st == BT_EEMPTY)
			goto done;
		if (st != BT_OK)
			goto done;
		if (!have || (out.converged && !best.converged)
		    || (out.converged == best.converged && out.ssr < best.ssr)) {
			memcpy(bth, th, sizeof th);
			out.theta = bth;
			best = out;
			have = 1;
		}
	}
	row.dir = BT_FIT_DIR_BOTH;
	segment_values(&pb, &best, 0, &row);
	if ((st = segment_stats(&pb, bth, &row, best.converged ? &res->residuals : NULL)) != BT_OK)
		goto done;
	if (!best.converged)
		res->n_unconverged++;
	if ((st = add_segment(res, &row)) != BT_OK)
		goto done;
	if (best.converged) {
		for (j = 0; j + 1 < lv->n && fabs(lv->soc[j] - row.soc) > SOC_MERGE_TOL; j++)
			;
		if (fabs(lv->soc[j] - row.soc) <= SOC_MERGE_TOL) {
			lv->pt[j] = row.point;
			lv->pt[j].soc = lv->soc[j];
			lv->pt[j].ocv_v = lv->ocv[j];
			lv->have[j] = 1;
		}
	}

	/* Each direction apart: R0 and R_k free, the time constants held at
	 * the whole segment's. */
	taus_of(&pb, bth, pb.tau_fixed);
	pb.slope_fixed = slope_of(&pb, bth);
	pb.offset_fixed = offset_of(&pb, bth);
	pb.tau_free = 0;
	pb.slope_free = 0;
	pb.offset_free = 0;
	p = problem_p(&pb);
	for (dir = BT_FIT_DIR_DISCHARGE; dir <= BT_FIT_DIR_CHARGE; dir++) {
		if (!direction_window(ts, sg->first, sg->last, dir, &w0, &w1))
			continue;
		pb.nres = 0;
		for (k = 0; k < n; k++) {
			size_t r = sg->first + k;
			mask[k] = r >= w0 && r <= w1
				  ? fitted_row(ts, sg, rest_from, r, o->ocv_span)
				  : ROW_SKIP;
			pb.nres += mask[k] != ROW_SKIP;
		}
		if (pb.nres < p + MIN_EXTRA_ROWS)
			continue;
		memcpy(th, bth, p * sizeof *th);
		if (o->selfcheck && (st = check_fast(&pb, th, res)) != BT_OK)
			goto done;
		out.theta = th;
		if ((st = run_fit(&pb, o, &out)) != BT_OK)
			goto done;
		row.dir = dir;
		segment_values(&pb, &out, 0, &row);
		if ((st = segment_stats(&pb, th, &row, NULL)) != BT_OK)
			goto done;
		if (!out.converged)
			res->n_unconverged++;
		if ((st = add_segment(res, &row)) != BT_OK)
			goto done;
	}
	st = BT_OK;
done:
	free(mask);
	free(zst);
	return st == BT_EEMPTY ? BT_OK : st;
}

/* The prior of pool_points(): curvature standard deviations tried by the
 * marginal-likelihood search, log-spaced from POOL_KAPPA_MIN to
 * POOL_KAPPA_MAX (per soc^2) in POOL_KAPPA_STEPS steps. */
#define POOL_KAPPA_MIN 1e-2
#define POOL_KAPPA_MAX 1e3
#define POOL_KAPPA_STEPS 50

/* Factor A = W + D^T D / kappa^2 (Cholesky, in place) for N points at
 * SOC with precisions W, and solve A x = W y.  Returns the log marginal
 * likelihood of Y up to a constant (pool_points()), or -HUGE_VAL when A
 * is not positive definite. */
static double
pool_solve(const double *soc, size_t n, const double *w, const double *y,
	   double kappa, gsl_matrix *a, double *x)
{
	gsl_vector_view xv = gsl_vector_view_array(x, n);
	double quad = 0, logdet = 0;
	size_t i, r, q;

	gsl_matrix_set_zero(a);
	for (i = 0; i < n; i++)
		gsl_matrix_set(a, i, i, w[i]);
	/* D's row for each inner point: its second divided difference. */
	for (i = 1; i + 1 < n; i++) {
		double h1 = soc[i] - soc[i - 1], h2 = soc[i + 1] - soc[i];
		double d[3], f = 2 / ((h1 + h2) * kappa);

		d[0] = f / h1;
		d[1] = -f / h1 - f / h2;
		d[2] = f / h2;
		for (r = 0; r < 3; r++)
			for (q = 0; q < 3; q++)
				*gsl_matrix_ptr(a, i - 1 + r, i - 1 + q) += d[r] * d[q];
	}
	if (gsl_linalg_cholesky_decomp1(a) != GSL_SUCCESS)
		return -HUGE_VAL;
	for (i = 0; i < n; i++)
		x[i] = w[i] * y[i];
	gsl_linalg_cholesky_svx(a, &xv.vector);
	for (i = 0; i < n; i++) {
		quad += w[i] * y[i] * (y[i] - x[i]);
		logdet += 2 * log(gsl_matrix_get(a, i, i));
	}
	return -0.5 * quad - 0.5 * logdet - (double)(n - 2) * log(kappa);
}

/* Parameter C of point PT, the value and (into *SD) its standard
 * deviation: R0, then R_k and tau_k of each pair in turn. */
static double *
point_param(struct bt_ecm_point *pt, size_t c, double **sd)
{
	size_t k = c > 0 ? (c - 1) / 2 : 0;

	if (c == 0) {
		*sd = &pt->r0_ohm_sd;
		return &pt->r0_ohm;
	}
	if (c % 2) {
		*sd = &pt->r_ohm_sd[k];
		return &pt->r_ohm[k];
	}
	*sd = &pt->tau_s_sd[k];
	return &pt->tau_s[k];
}

/* Pool the converged points of LV along soc.  Each log-parameter y_j (R0,
 * R_k, tau_k), with the variance 1 / w_j of its own fit, is replaced by
 * its posterior mean under a smoothness prior: the minimiser x of
 *     sum_j w_j (y_j - x_j)^2 + sum_j (x''_j / kappa)^2,
 * x''_j the second divided difference at point j, so that the curvature
 * of the log-parameter along soc has prior standard deviation kappa (per
 * soc^2): a weighted Whittaker smoother (Whittaker 1923; Eilers 2003), the
 * Gaussian approximation of one joint fit of all the segments under that
 * prior.  KAPPA > 0 fixes kappa; NaN chooses it for each parameter by
 * maximum marginal likelihood (empirical Bayes; Wahba 1985), over a
 * log-spaced grid: with A = W + D^T D / kappa^2 and x = A^-1 W y,
 *     log p(y | kappa) = -1/2 y^T W (y - x) - 1/2 log|A| - (n - 2) log kappa
 * up to a constant (the prior is flat along the straight lines, the null
 * space of D).  Data that bend beyond their noise choose a large kappa and
 * keep their own values; poorly resolved ones (the time constants of a
 * third pair) borrow from their neighbours.  The variances of the fits'
 * own are each one parameter's (the covariances between parameters are
 * not kept); the pooled standard deviation is the posterior's,
 * sqrt(diag(A^-1)).  Points without a converged fit are left out
 * (fill_gaps() sees to them); a converged point whose own value of a
 * parameter cannot be weighed (a standard deviation not finite or zero, a
 * value not positive) stays in with weight zero and takes the smoother's
 * value there; a parameter with fewer than three weighed points is left as
 * it is.  Fails only for
 * want of memory. */
static enum bt_status
pool_points(struct level *lv, double kappa, unsigned nrc)
{
	size_t idx[BT_FIT_MAX_GRID], n = 0, j, i, c, g;
	gsl_matrix *a = NULL;
	double w[BT_FIT_MAX_GRID], y[BT_FIT_MAX_GRID], x[BT_FIT_MAX_GRID];
	double soc[BT_FIT_MAX_GRID];

	if (kappa == 0 || isinf(kappa))
		return BT_OK;
	for (j = 0; j < lv->n; j++)
		if (lv->have[j]) {
			soc[n] = lv->soc[j];
			idx[n++] = j;
		}
	if (n < 3)
		return BT_OK;
	if (!(a = gsl_matrix_alloc(n, n)))
		return BT_ENOMEM;
	for (c = 0; c < 1 + 2 * (size_t)nrc; c++) {
		size_t m = 0;
		double best = -HUGE_VAL, kbest = kappa, ll, *sd;

		for (i = 0; i < n; i++) {
			double v = *point_param(&lv->pt[idx[i]], c, &sd), rel = *sd / v;

			y[i] = v > 0 ? log(v) : 0;
			w[i] = v > 0 && isfinite(rel) && rel > 0 ? 1 / (rel * rel) : 0;
			m += w[i] > 0;
		}
		if (m < 3)
			continue;
		if (isnan(kappa))
			for (g = 0; g <= POOL_KAPPA_STEPS; g++) {
				double kg = POOL_KAPPA_MIN * pow(POOL_KAPPA_MAX / POOL_KAPPA_MIN,
								 (double)g / POOL_KAPPA_STEPS);

				ll = pool_solve(soc, n, w, y, kg, a, x);
				if (ll > best) {
					best = ll;
					kbest = kg;
				}
			}
		/* A system too ill-conditioned to factor (points a hair
		 * apart in soc) leaves the parameter's own values. */
		if (isnan(kbest) || pool_solve(soc, n, w, y, kbest, a, x) == -HUGE_VAL)
			continue;
		gsl_linalg_cholesky_invert(a);
		for (i = 0; i < n; i++) {
			double *v = point_param(&lv->pt[idx[i]], c, &sd);

			*v = exp(x[i]);
			*sd = *v * sqrt(gsl_matrix_get(a, i, i));
		}
	}
	gsl_matrix_free(a);
	return BT_OK;
}

/* Give every point of LV without a converged fit the values of the nearest
 * point that has one.  Returns the number of points filled so, or
 * (size_t)-1 when no point has a fit. */
static size_t
fill_gaps(struct level *lv)
{
	size_t j, m, best, filled = 0;

	for (j = 0; j < lv->n && !lv->have[j]; j++)
		;
	if (j == lv->n)
		return (size_t)-1;
	for (j = 0; j < lv->n; j++) {
		if (lv->have[j])
			continue;
		best = lv->n;
		for (m = 0; m < lv->n; m++)
			if (lv->have[m] && (best == lv->n
			    || fabs(lv->soc[m] - lv->soc[j]) < fabs(lv->soc[best] - lv->soc[j])))
				best = m;
		lv->pt[j] = lv->pt[best];
		lv->pt[j].soc = lv->soc[j];
		lv->pt[j].ocv_v = lv->ocv[j];
		lv->pt[j].r0_ohm_sd = NAN;
		for (m = 0; m < BT_ECM_MAX_RC; m++)
			lv->pt[j].r_ohm_sd[m] = lv->pt[j].tau_s_sd[m] = NAN;
		filled++;
	}
	return filled;
}

/* Build the result's model from the levels: their own points when there is
 * one level and no grid was asked for, otherwise every level resampled on
 * the grid (given, stepped over the first level's range, or the first
 * level's points) through bt_ecm's interpolation. */
static enum bt_status
build_model(struct level *lv, size_t nlv, const struct bt_ecm_info *info,
	    const struct bt_fit_opts *o, struct bt_fit_result *res, char *errmsg)
{
	double grid[BT_FIT_MAX_GRID];
	const double *g;
	size_t ng, il, j;
	enum bt_status st;
	struct bt_ecm *tmp = NULL;
	char msg[BT_ERRMSG_SIZE];

	if (o->soc_grid) {
		g = o->soc_grid;
		ng = o->n_grid;
	} else if (o->grid_step > 0) {
		ng = stepped_grid(lv[0].soc[0], lv[0].soc[lv[0].n - 1], o->grid_step, grid);
		g = grid;
	} else {
		g = lv[0].soc;
		ng = lv[0].n;
	}
	if ((st = bt_ecm_alloc(info, nlv, ng, &res->ecm)) != BT_OK)
		return st;
	for (il = 0; il < nlv; il++) {
		int direct = g == lv[il].soc;

		if (!direct) {
			if ((st = bt_ecm_alloc(info, 1, lv[il].n, &tmp)) != BT_OK)
				return st;
			for (j = 0; j < lv[il].n; j++)
				bt_ecm_set_point(tmp, 0, j, &lv[il].pt[j]);
			if ((st = bt_ecm_finish(tmp, msg)) != BT_OK) {
				setmsg(errmsg, "fitted model: %s", msg);
				bt_ecm_free(tmp);
				return st;
			}
		}
		for (j = 0; j < ng; j++) {
			struct bt_ecm_point pt;
			struct bt_ecm_params pa, sd;
			size_t k;

			if (direct) {
				pt = lv[il].pt[j];
			} else {
				memset(&pt, 0, sizeof pt);
				pt.soc = g[j];
				pt.ocv_v = bt_ecm_ocv(tmp, g[j], lv[il].temp_c, NULL);
				pt.ocv_v_sd = NAN;
				bt_ecm_params_at(tmp, g[j], lv[il].temp_c, &pa);
				bt_ecm_params_sd_at(tmp, g[j], lv[il].temp_c, &sd);
				pt.r0_ohm = pa.r0;
				pt.r0_ohm_sd = sd.r0;
				for (k = 0; k < BT_ECM_MAX_RC; k++) {
					pt.r_ohm[k] = pa.r[k];
					pt.r_ohm_sd[k] = sd.r[k];
					pt.tau_s[k] = pa.tau[k];
					pt.tau_s_sd[k] = sd.tau[k];
				}
			}
			pt.temperature_c = lv[il].temp_c;
			bt_ecm_set_point(res->ecm, il, j, &pt);
		}
		bt_ecm_free(tmp);
		tmp = NULL;
	}
	if ((st = bt_ecm_finish(res->ecm, msg)) != BT_OK)
		setmsg(errmsg, "fitted model: %s", msg);
	return st;
}

/* A stretch of rows of one input (bt_fit_split_levels): its rows, the
 * sum and count of its finite temperatures, and whether any row carries
 * current. */
struct stretch {
	size_t first, last;
	double sum;
	size_t n;
	int active;
};

enum bt_status
bt_fit_split_levels(const struct bt_fit_data *d, const struct bt_fit_opts *o,
		    size_t *first, double *temp_c, size_t *n)
{
	struct stretch run = { 0, 0, 0, 0, 0 }, lv[BT_FIT_MAX_LEVELS];
	size_t k, nl = 0;
	double thr;

	*n = 1;
	first[0] = 0;
	temp_c[0] = NAN;
	if (!isnan(d->temperature_c) || !d->temp || d->n == 0)
		return BT_OK;
	thr = rest_threshold(d, o);
	for (k = 0; k <= d->n; k++) {
		double T = k < d->n ? d->temp[k] : NAN;

		if (k < d->n && (!isfinite(T) || run.n == 0
				 || !(fabs(T - run.sum / (double)run.n) > o->temperature_tol_c))) {
			run.sum += isfinite(T) ? T : 0;
			run.n += isfinite(T) != 0;
			run.active |= fabs(d->i[k]) > thr;
			continue;
		}
		/* Row K leaves the stretch (or the input ends): a stretch
		 * held long enough, with current in it, is a level or
		 * extends the last one; a stretch of rest is a soak or a
		 * ramp, however long (a slow ramp holds the tolerance for a
		 * while). */
		run.last = k - 1;
		if (run.n > 0 && run.active
		    && d->t[run.last] - d->t[run.first] >= o->level_hold_s) {
			if (nl > 0 && fabs(run.sum / (double)run.n - lv[nl - 1].sum
					   / (double)lv[nl - 1].n) < o->temperature_tol_c) {
				lv[nl - 1].sum += run.sum;
				lv[nl - 1].n += run.n;
				lv[nl - 1].last = run.last;
			} else if (nl == BT_FIT_MAX_LEVELS) {
				return BT_EINVAL;
			} else {
				lv[nl++] = run;
			}
		}
		run.first = k;
		run.sum = isfinite(T) ? T : 0;
		run.n = isfinite(T) != 0;
		run.active = k < d->n && fabs(d->i[k]) > thr;
	}
	if (nl < 2)
		return BT_OK;
	for (k = 0; k < nl; k++) {
		first[k] = k == 0 ? 0 : lv[k - 1].last + 1;
		temp_c[k] = lv[k].sum / (double)lv[k].n;
	}
	*n = nl;
	return BT_OK;
}

/* The tests of the inputs DATA: each input split at its temperature
 * levels into views of its rows (VIEW, room for NDATA * MAX_LEVELS), a
 * later level named for messages (a string in NAMES to free), and the
 * struct test of each initialised (soc reference, coulomb count,
 * capacity).  Their number in *NT. */
static enum bt_status
make_tests(const struct bt_fit_data *data, size_t ndata,
	   const struct bt_fit_opts *o, struct bt_fit_data *view, char **names,
	   struct test *ts, struct bt_fit_result *res, size_t *nt, char *errmsg)
{
	size_t f, j, first[BT_FIT_MAX_LEVELS], m, nv = 0;
	double temp[BT_FIT_MAX_LEVELS];
	enum bt_status st;

	res->test = calloc(ndata * MAX_LEVELS, sizeof *res->test);
	if (!res->test)
		return BT_ENOMEM;
	for (f = 0; f < ndata; f++) {
		if (bt_fit_split_levels(&data[f], o, first, temp, &m) != BT_OK) {
			setmsg(errmsg, "%s: more than %d temperature levels (raise "
			       "--temperature-tolerance or --level-hold)",
			       data[f].name, MAX_LEVELS);
			return BT_EINVAL;
		}
		for (j = 0; j < m; j++, nv++) {
			struct bt_fit_data *v = &view[nv];
			size_t last = j + 1 < m ? first[j + 1] - 1 : data[f].n - 1;
			char b[BT_NUM_BUFSIZE];

			*v = data[f];
			v->t += first[j];
			v->i += first[j];
			v->v += first[j];
			if (v->temp)
				v->temp += first[j];
			v->n = v->cap = last - first[j] + 1;
			if (m > 1) {
				size_t len = strlen(data[f].name) + LEVEL_NAME_EXTRA;

				if (!(names[nv] = malloc(len)))
					return BT_ENOMEM;
				/* Whole degrees; -0 is written 0. */
				snprintf(names[nv], len, "%s: the %g degC level from "
					 "time_s %s", data[f].name, round(temp[j]) + 0.0,
					 fmtn(v->t[0], b));
				v->name = names[nv];
			}
			res->test[nv].name = data[f].name;
			res->test[nv].first = first[j];
			res->test[nv].last = last;
			*nt = nv + 1;
			if ((st = test_init(&ts[nv], v, j > 0, o, errmsg)) != BT_OK)
				return st;
			res->test[nv].capacity_ah = ts[nv].q_ah;
			res->test[nv].capacity_measured = ts[nv].q_measured;
		}
	}
	res->ntest = nv;
	return BT_OK;
}

static int
level_cmp(const void *a, const void *b)
{
	const struct level *x = a, *y = b;

	return (x->temp_c > y->temp_c) - (x->temp_c < y->temp_c);
}

enum bt_status
bt_fit_hppc(const struct bt_fit_data *data, size_t ndata,
	    const struct bt_fit_opts *o, struct bt_fit_result *res,
	    char errmsg[BT_ERRMSG_SIZE])
{
	struct test *ts = NULL;
	struct bt_fit_data *view = NULL;
	char **names = NULL;
	struct seg *sg = NULL;
	struct level *lv = NULL;
	size_t nsg = 0, nlv = 0, nt = 0, f, j, k, m, *ends = NULL, nends;
	struct bt_ecm_info info;
	struct bt_ecm *work = NULL;
	enum bt_status st = BT_OK;

	memset(res, 0, sizeof *res);
	bt_stats_init(&res->residuals);
	ts = calloc(ndata * MAX_LEVELS, sizeof *ts);
	view = calloc(ndata * MAX_LEVELS, sizeof *view);
	names = calloc(ndata * MAX_LEVELS, sizeof *names);
	lv = calloc(MAX_LEVELS, sizeof *lv);
	if (!ts || !view || !names || !lv) {
		st = BT_ENOMEM;
		goto done;
	}
	if ((st = make_tests(data, ndata, o, view, names, ts, res, &nt,
			     errmsg)) != BT_OK)
		goto done;
	for (f = 0; f < nt; f++) {
		const struct bt_fit_data *d = ts[f].d;
		size_t before = nsg;
		double sum = 0, rows = 0;

		if ((st = long_rests(&ts[f], o, &ends, &nends)) != BT_OK)
			goto done;
		for (j = 0; j < nends; j++) {
			size_t last = j + 1 < nends ? ends[j + 1] : d->n - 1;
			struct seg *p;

			if (last <= ends[j] + 1)
				continue;
			p = realloc(sg, (nsg + 1) * sizeof *p);
			if (!p) {
				st = BT_ENOMEM;
				goto done;
			}
			sg = p;
			sg[nsg].test = f;
			sg[nsg].first = ends[j];
			sg[nsg].last = last;
			sg[nsg].rested_end = j + 1 < nends;
			sg[nsg].temp_c = segment_temperature(d, ends[j], last);
			sum += sg[nsg].temp_c * (double)(last - ends[j] + 1);
			rows += (double)(last - ends[j] + 1);
			nsg++;
		}
		free(ends);
		ends = NULL;
		if (nsg == before) {
			setmsg(errmsg, "%s: no pulses found: no current after a "
			       "rest of at least %g s following the soc reference",
			       d->name, o->min_rest_s);
			st = BT_EEMPTY;
			goto done;
		}
		res->test[f].temperature_c = sum / rows;
	}

	/* Temperature levels, and the OCV points of each. */
	for (j = 0; j < nsg; j++) {
		for (k = 0; k < nlv && !(fabs(sg[j].temp_c - lv[k].temp_c) < o->temperature_tol_c); k++)
			;
		if (k == nlv) {
			if (nlv == MAX_LEVELS) {
				setmsg(errmsg, "more than %d temperature levels",
				       MAX_LEVELS);
				st = BT_EINVAL;
				goto done;
			}
			lv[nlv++].temp_c = sg[j].temp_c;
		}
		sg[j].level = k;
	}
	/* A level's temperature: the mean of its segments', weighted by
	 * their rows. */
	for (k = 0; k < nlv; k++) {
		double sum = 0, rows = 0;

		for (j = 0; j < nsg; j++)
			if (sg[j].level == k) {
				sum += sg[j].temp_c * (double)(sg[j].last - sg[j].first + 1);
				rows += (double)(sg[j].last - sg[j].first + 1);
			}
		lv[k].temp_c = sum / rows;
	}
	for (j = 0; j < nsg; j++) {
		struct level *L = &lv[sg[j].level];
		const struct test *t = &ts[sg[j].test];
		size_t rows[2] = { sg[j].first, sg[j].last };

		for (m = 0; m < 1 + (size_t)sg[j].rested_end; m++) {
			double z = t->soc[rows[m]];

			/* Rounding in the coulomb count may put an end point
			 * a hair outside [0, 1]. */
			if (z < 0 && z >= -SOC_MERGE_TOL)
				z = 0;
			if (z > 1 && z <= 1 + SOC_MERGE_TOL)
				z = 1;
			if (!(z >= 0 && z <= 1) || L->n == BT_FIT_MAX_GRID)
				continue;
			L->soc[L->n] = z;
			L->ocv[L->n++] = rested_voltage(t, rows[m]);
		}
	}
	for (k = 0; k < nlv; k++) {
		lv[k].n = sort_merge(lv[k].soc, lv[k].ocv, lv[k].n);
		if (lv[k].n < 2) {
			setmsg(errmsg, "too few rested points for an OCV curve at "
			       "%g degC: %zu, need 2", lv[k].temp_c, lv[k].n);
			st = BT_EEMPTY;
			goto done;
		}
	}

	/* The model's capacity: that of the test nearest the reference
	 * temperature of bt-ecm(5), which then refers to that test's
	 * temperature when the capacity was measured. */
	bt_ecm_info_init(&info);
	for (f = m = 0; f < nt; f++)
		if (fabs(res->test[f].temperature_c - info.reference_temperature_c)
		    < fabs(res->test[m].temperature_c - info.reference_temperature_c))
			m = f;
	info.capacity_ah = res->capacity_ah = ts[m].q_ah;
	res->capacity_measured = ts[m].q_measured;
	if (ts[m].q_measured)
		info.reference_temperature_c = res->test[m].temperature_c;
	info.rc_pairs = o->rc_pairs;
	for (k = 0; k < nlv; k++) {
		if ((st = bt_ecm_alloc(&info, 1, lv[k].n, &work)) != BT_OK)
			goto done;
		for (j = 0; j < nsg; j++) {
			if (sg[j].level != k)
				continue;
			if ((st = fit_segment(&ts[sg[j].test], &sg[j], &lv[k], work, o,
					      res)) != BT_OK)
				goto done;
		}
		bt_ecm_free(work);
		work = NULL;
		if ((st = pool_points(&lv[k], o->pool_curvature, o->rc_pairs)) != BT_OK)
			goto done;
		m = fill_gaps(&lv[k]);
		if (m == (size_t)-1) {
			setmsg(errmsg, "no segment fit converged at %g degC "
			       "(too few points, or raise --max-iter)", lv[k].temp_c);
			st = BT_ENOCONV;
			goto done;
		}
		res->n_replaced += m;
	}
	qsort(lv, nlv, sizeof *lv, level_cmp);
	st = build_model(lv, nlv, &info, o, res, errmsg);
done:
	for (f = 0; f < nt; f++) {
		free(ts[f].soc);
		free(names[f]);
	}
	free(ts);
	free(view);
	free(names);
	free(sg);
	free(lv);
	free(ends);
	bt_ecm_free(work);
	if (st != BT_OK)
		bt_fit_result_free(res);
	return st;
}

/* --- Drive cycles (profile) -------------------------------------------------- */

enum bt_status
bt_fit_profile(const struct bt_fit_data *data, const struct bt_fit_ocv *ocv,
	       const struct bt_ecm *init, const struct bt_fit_opts *o,
	       struct bt_fit_result *res, char errmsg[BT_ERRMSG_SIZE])
{
	struct test ts;
	struct problem pb;
	struct fit_out out, best;
	struct bt_fit_segment row;
	struct bt_ecm_info info;
	struct bt_ecm_params pa;
	double grid[BT_FIT_MAX_GRID], gocv[BT_FIT_MAX_GRID], *dslope = NULL;
	double *th = NULL, *bth = NULL, lo, hi, temp, r0, *zst = NULL, *cellw;
	size_t *cell = NULL;
	const double *g;
	unsigned char *mask = NULL;
	size_t ng, k, j, s, n, p1, nrc = o->rc_pairs, lo_i, hi_i;
	enum bt_status st;
	int have = 0;

	memset(res, 0, sizeof *res);
	memset(&ts, 0, sizeof ts);
	bt_stats_init(&res->residuals);
	if ((st = test_init(&ts, data, 0, o, errmsg)) != BT_OK)
		goto done;

	/* The grid, within the OCV table's range and [0, 1]. */
	for (lo_i = 0; lo_i < ocv->n && ocv->soc[lo_i] < 0; lo_i++)
		;
	for (hi_i = ocv->n; hi_i > lo_i && ocv->soc[hi_i - 1] > 1; hi_i--)
		;
	if (hi_i - lo_i < 2) {
		setmsg(errmsg, "the OCV table has fewer than two points in "
		       "soc [0, 1]");
		st = BT_EEMPTY;
		goto done;
	}
	lo = ocv->soc[0];
	hi = ocv->soc[ocv->n - 1];
	if (o->soc_grid) {
		memcpy(grid, o->soc_grid, o->n_grid * sizeof *grid);
		ng = o->n_grid;
	} else if (o->grid_step > 0) {
		ng = stepped_grid(ocv->soc[lo_i], ocv->soc[hi_i - 1], o->grid_step, grid);
	} else {
		ng = hi_i - lo_i;
		memcpy(grid, ocv->soc + lo_i, ng * sizeof *grid);
	}
	g = grid;
	dslope = malloc(ocv->n * sizeof *dslope);
	if (!dslope) {
		st = BT_ENOMEM;
		goto done;
	}
	bt_ecm_pchip_slopes(ocv->soc, ocv->ocv_v, ocv->n, dslope);
	for (j = 0; j < ng; j++)
		gocv[j] = bt_ecm_pchip_eval(ocv->soc, ocv->ocv_v, dslope, ocv->n,
					    g[j], NULL);

	n = data->n - ts.ref;
	mask = malloc(n);
	th = malloc((ng * (1 + nrc) + nrc) * sizeof *th);
	bth = malloc((ng * (1 + nrc) + nrc) * sizeof *bth);
	if (!mask || !th || !bth) {
		st = BT_ENOMEM;
		goto done;
	}
	temp = segment_temperature(data, ts.ref, data->n - 1);
	bt_ecm_info_init(&info);
	info.capacity_ah = ts.q_ah;
	info.rc_pairs = nrc;
	res->capacity_ah = ts.q_ah;
	res->capacity_measured = ts.q_measured;
	if ((st = bt_ecm_alloc(&info, 1, ng, &res->ecm)) != BT_OK)
		goto done;

	memset(&pb, 0, sizeof pb);
	pb.ts = &ts;
	pb.first = ts.ref;
	pb.last = data->n - 1;
	pb.mask = mask;
	pb.temp_c = temp;
	pb.ecm = res->ecm;
	pb.ng = ng;
	pb.gsoc = g;
	pb.gocv = gocv;
	pb.nrc = nrc;
	pb.gp = 1;
	pb.tau_free = 1;
	for (k = 0; k < n; k++) {
		double z = ts.soc[ts.ref + k];
		mask[k] = z >= lo && z <= hi;
		pb.nres += mask[k];
	}
	/* The fast path: the state's soc (coulomb counting of every current,
	 * as bt_ecm_step does), the model's OCV there, and its grid cell. */
	theta_start(&pb, 0.01, 0, 0, th);
	if ((st = load_theta(&pb, th)) != BT_OK)
		goto done;
	zst = malloc(3 * n * sizeof *zst);
	cell = malloc(n * sizeof *cell);
	cellw = zst ? zst + 2 * n : NULL;
	if (!zst || !cell) {
		st = BT_ENOMEM;
		goto done;
	}
	zst[0] = ts.soc[ts.ref];
	for (k = 1; k < n; k++)
		zst[k] = zst[k - 1] + data->i[ts.ref + k - 1]
			 * (data->t[ts.ref + k] - data->t[ts.ref + k - 1])
			 / (SECONDS_PER_HOUR * ts.q_ah);
	for (k = 0; k < n; k++) {
		zst[n + k] = bt_ecm_ocv(res->ecm, zst[k], temp, NULL);
		bt_ecm_soc_cell(res->ecm, zst[k], &cell[k], &cellw[k]);
	}
	pb.zstate = zst;
	pb.ocvrow = zst + n;
	pb.cell = cell;
	pb.cellw = cellw;

	/* Stage 1: constant parameters, from each start (or from INIT at the
	 * middle of the grid). */
	best.theta = bth;
	r0 = r0_estimate(data, ts.ref, data->n - 1);
	for (s = 0; s < (init ? 1 : N_STARTS); s++) {
		out.theta = th;
		theta_start(&pb, r0, s, 0, th);
		if (init) {
			bt_ecm_params_at(init, 0.5 * (g[0] + g[ng - 1]), temp, &pa);
			th[0] = log(pa.r0);
			for (k = 0; k < nrc; k++) {
				th[1 + k] = log(pa.r[k] > 0 ? pa.r[k] : INIT_RC_FRACTION * pa.r0);
				th[1 + nrc + k] = log(k ? pa.tau[k] - pa.tau[k - 1] : pa.tau[0]);
				if (!isfinite(th[1 + nrc + k]))
					th[1 + nrc + k] = log(tau_starts[nrc - 1][0][k]);
			}
		}
		if ((st = run_fit(&pb, o, &out)) != BT_OK) {
			if (st == BT_EEMPTY)
				setmsg(errmsg, "%s: too few rows with a soc inside "
				       "the OCV table (%zu)", data->name, pb.nres);
			goto done;
		}
		if (!have || (out.converged && !best.converged)
		    || (out.converged == best.converged && out.ssr < best.ssr)) {
			memcpy(bth, th, (1 + 2 * nrc) * sizeof *th);
			best = out;
			best.theta = bth;
			have = 1;
		}
	}

	/* Stage 2: R0 and R_k at every grid point, smooth along soc. */
	p1 = 1 + nrc;
	for (k = 0; k < p1; k++)
		for (j = 0; j < ng; j++) {
			th[k * ng + j] = bth[k];
			if (init) {
				bt_ecm_params_at(init, g[j], temp, &pa);
				th[k * ng + j] = log(k == 0 ? pa.r0
						     : pa.r[k - 1] > 0 ? pa.r[k - 1]
						     : exp(bth[k]));
			}
		}
	for (k = 0; k < nrc; k++)
		th[ng * p1 + k] = bth[p1 + k];
	pb.gp = ng;
	pb.smooth = o->smooth_v;
	pb.npen = ng >= 3 && o->smooth_v > 0 ? (ng - 2) * p1 : 0;
	if (o->selfcheck && (st = check_fast(&pb, th, res)) != BT_OK)
		goto done;
	out.theta = th;
	if ((st = run_fit(&pb, o, &out)) != BT_OK) {
		if (st == BT_EEMPTY)
			setmsg(errmsg, "%s: too few rows for %zu parameters",
			       data->name, ng * p1 + nrc);
		goto done;
	}
	memset(&row, 0, sizeof row);
	row.dir = BT_FIT_DIR_PROFILE;
	row.first = ts.ref;
	row.last = data->n - 1;
	row.temperature_c = temp;
	row.capacity_ah = ts.q_ah;
	if ((st = segment_stats(&pb, th, &row, &res->residuals)) != BT_OK)
		goto done;
	if (!out.converged)
		res->n_unconverged++;
	for (j = 0; j < ng; j++) {
		row.soc = g[j];
		row.point.temperature_c = temp;
		row.point.soc = g[j];
		row.point.ocv_v = gocv[j];
		row.point.ocv_v_sd = NAN;
		segment_values(&pb, &out, j, &row);
		if ((st = add_segment(res, &row)) != BT_OK)
			goto done;
		bt_ecm_set_point(res->ecm, 0, j, &row.point);
	}
	{
		char msg[BT_ERRMSG_SIZE];
		if ((st = bt_ecm_finish(res->ecm, msg)) != BT_OK)
			setmsg(errmsg, "fitted model: %s", msg);
	}
done:
	free(ts.soc);
	free(dslope);
	free(mask);
	free(th);
	free(bth);
	free(zst);
	free(cell);
	if (st != BT_OK)
		bt_fit_result_free(res);
	return st;
}

/* --- OCV tables ------------------------------------------------------------- */

/* The points of one branch (discharge or charge). */
struct branch {
	size_t n, cap;
	double *x, *y, *w;
};

static enum bt_status
branch_push(struct branch *b, double x, double y)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : DATA_INITIAL_ROWS;
		double *nx = realloc(b->x, cap * sizeof *nx);
		double *ny, *nw;

		if (!nx)
			return BT_ENOMEM;
		b->x = nx;
		if (!(ny = realloc(b->y, cap * sizeof *ny)))
			return BT_ENOMEM;
		b->y = ny;
		if (!(nw = realloc(b->w, cap * sizeof *nw)))
			return BT_ENOMEM;
		b->w = nw;
		b->cap = cap;
	}
	b->x[b->n] = x;
	b->y[b->n] = y;
	b->w[b->n] = 1;
	b->n++;
	return BT_OK;
}

static void
branch_free(struct branch *b)
{
	free(b->x);
	free(b->y);
	free(b->w);
}

static int
cmp_pair(const void *a, const void *b)
{
	const double *x = a, *y = b;

	return (x[0] > y[0]) - (x[0] < y[0]);
}

/* Sort the branch by soc, average it in bins of OCV_BIN_WIDTH, and make it
 * non-decreasing by pool-adjacent-violators with the bin counts as weights
 * [BBBB72]. */
static enum bt_status
branch_prepare(struct branch *b)
{
	double *pairs;
	size_t k, a, m = 0, *start;

	if (b->n == 0)
		return BT_OK;
	pairs = malloc(2 * b->n * sizeof *pairs);
	start = malloc(b->n * sizeof *start);
	if (!pairs || !start) {
		free(pairs);
		free(start);
		return BT_ENOMEM;
	}
	for (k = 0; k < b->n; k++) {
		pairs[2 * k] = b->x[k];
		pairs[2 * k + 1] = b->y[k];
	}
	qsort(pairs, b->n, 2 * sizeof *pairs, cmp_pair);
	for (k = 0; k < b->n; k = a) {
		double sx = 0, sy = 0;
		for (a = k; a < b->n && pairs[2 * a] - pairs[2 * k] < OCV_BIN_WIDTH; a++) {
			sx += pairs[2 * a];
			sy += pairs[2 * a + 1];
		}
		b->x[m] = sx / (double)(a - k);
		b->y[m] = sy / (double)(a - k);
		b->w[m] = (double)(a - k);
		m++;
	}
	b->n = m;
	/* Pool adjacent violators: blocks [start[j], start[j+1]) hold one
	 * weighted mean; merge a block into the one before while it is
	 * lower. */
	{
		size_t nb = 0;
		double *val = pairs, *wt = pairs + b->n;

		for (k = 0; k < b->n; k++) {
			start[nb] = k;
			val[nb] = b->y[k];
			wt[nb] = b->w[k];
			nb++;
			while (nb > 1 && val[nb - 2] > val[nb - 1]) {
				double w = wt[nb - 2] + wt[nb - 1];
				val[nb - 2] = (wt[nb - 2] * val[nb - 2]
					       + wt[nb - 1] * val[nb - 1]) / w;
				wt[nb - 2] = w;
				nb--;
			}
		}
		for (a = 0; a < nb; a++)
			for (k = start[a]; k < (a + 1 < nb ? start[a + 1] : b->n); k++)
				b->y[k] = val[a];
	}
	free(pairs);
	free(start);
	return BT_OK;
}

static enum bt_status
ocv_alloc(struct bt_fit_ocv *t, size_t n)
{
	memset(t, 0, sizeof *t);
	t->soc = malloc(n * sizeof(double));
	t->ocv_v = malloc(n * sizeof(double));
	t->hysteresis_v = malloc(n * sizeof(double));
	t->ocv_discharge_v = malloc(n * sizeof(double));
	t->ocv_charge_v = malloc(n * sizeof(double));
	t->n = n;
	if (!t->soc || !t->ocv_v || !t->hysteresis_v || !t->ocv_discharge_v
	    || !t->ocv_charge_v) {
		bt_fit_ocv_free(t);
		return BT_ENOMEM;
	}
	return BT_OK;
}

void
bt_fit_ocv_free(struct bt_fit_ocv *t)
{
	free(t->soc);
	free(t->ocv_v);
	free(t->hysteresis_v);
	free(t->ocv_discharge_v);
	free(t->ocv_charge_v);
	memset(t, 0, sizeof *t);
}

/* Combine the discharge branch B[0] and the charge branch B[1] on the grid
 * ([Plett15] sec. 2.10): ocv_v is their mean and hysteresis_v half their
 * difference where both have points; where only one has, that branch is
 * moved by the hysteresis at the nearest soc where both have. */
static enum bt_status
ocv_combine(struct branch *b, const struct bt_fit_opts *o,
	    struct bt_fit_ocv *t, char *errmsg)
{
	double grid[BT_FIT_MAX_GRID], *d[2] = { NULL, NULL }, lo, hi;
	double olo, ohi, hlo = NAN, hhi = NAN;
	const double *g;
	size_t ng, k, j, nb = 0;
	enum bt_status st = BT_OK;

	for (k = 0; k < 2; k++) {
		if ((st = branch_prepare(&b[k])) != BT_OK)
			return st;
		/* A single point makes no curve: it is left out, and said. */
		if (b[k].n == 1) {
			t->dropped |= 1 << k;
			b[k].n = 0;
		}
		nb += b[k].n >= 2;
	}
	if (nb == 0) {
		setmsg(errmsg, "no OCV branch of two or more points (rest "
		       "points, or rows of at most C/%g)", 1 / o->ocv_max_c_rate);
		return BT_EEMPTY;
	}
	lo = INFINITY;
	hi = -INFINITY;
	for (k = 0; k < 2; k++)
		if (b[k].n >= 2) {
			lo = fmin(lo, b[k].x[0]);
			hi = fmax(hi, b[k].x[b[k].n - 1]);
		}
	lo = fmax(lo, 0);
	hi = fmin(hi, 1);
	if (!(hi > lo)) {
		setmsg(errmsg, "the OCV points span no soc range inside [0, 1]");
		return BT_EEMPTY;
	}
	if (o->soc_grid) {
		g = o->soc_grid;
		ng = o->n_grid;
	} else {
		ng = stepped_grid(lo, hi, o->grid_step > 0 ? o->grid_step
				  : BT_FIT_DEFAULT_OCV_GRID_STEP, grid);
		g = grid;
	}
	olo = nb == 2 ? fmax(b[0].x[0], b[1].x[0]) : NAN;
	ohi = nb == 2 ? fmin(b[0].x[b[0].n - 1], b[1].x[b[1].n - 1]) : NAN;
	if (nb == 2 && !(ohi >= olo)) {
		setmsg(errmsg, "the charge and discharge branches do not overlap "
		       "in soc");
		return BT_EINVAL;
	}
	for (k = 0; k < 2; k++)
		if (b[k].n >= 2) {
			if (!(d[k] = malloc(b[k].n * sizeof *d[k]))) {
				st = BT_ENOMEM;
				goto done;
			}
			bt_ecm_pchip_slopes(b[k].x, b[k].y, b[k].n, d[k]);
		}
	k = (size_t)t->dropped;
	if ((st = ocv_alloc(t, ng)) != BT_OK)
		goto done;
	t->dropped = (int)k;
	t->branches = (b[0].n >= 2) | (b[1].n >= 2) << 1;
	if (nb == 2) {
		hlo = 0.5 * (bt_ecm_pchip_eval(b[1].x, b[1].y, d[1], b[1].n, olo, NULL)
			     - bt_ecm_pchip_eval(b[0].x, b[0].y, d[0], b[0].n, olo, NULL));
		hhi = 0.5 * (bt_ecm_pchip_eval(b[1].x, b[1].y, d[1], b[1].n, ohi, NULL)
			     - bt_ecm_pchip_eval(b[0].x, b[0].y, d[0], b[0].n, ohi, NULL));
	}
	for (j = 0; j < ng; j++) {
		double z = g[j], v[2] = { NAN, NAN }, ve[2] = { NAN, NAN };
		int in[2];

		for (k = 0; k < 2; k++) {
			in[k] = b[k].n >= 2 && z >= b[k].x[0] && z <= b[k].x[b[k].n - 1];
			if (b[k].n >= 2)
				ve[k] = bt_ecm_pchip_eval(b[k].x, b[k].y, d[k], b[k].n, z, NULL);
			if (in[k])
				v[k] = ve[k];
		}
		t->soc[j] = z;
		t->ocv_discharge_v[j] = v[0];
		t->ocv_charge_v[j] = v[1];
		if (nb == 1) {
			t->ocv_v[j] = b[0].n >= 2 ? ve[0] : ve[1];
			t->hysteresis_v[j] = NAN;
		} else if ((in[0] && in[1]) || (!in[0] && !in[1])) {
			t->ocv_v[j] = 0.5 * (ve[0] + ve[1]);
			t->hysteresis_v[j] = 0.5 * (ve[1] - ve[0]);
		} else {
			double h = z < olo ? hlo : hhi;
			t->ocv_v[j] = in[0] ? v[0] + h : v[1] - h;
			t->hysteresis_v[j] = h;
		}
	}
done:
	free(d[0]);
	free(d[1]);
	return st;
}

enum bt_status
bt_fit_ocv_from_data(const struct bt_fit_data *data,
		     const struct bt_fit_opts *o, struct bt_fit_ocv *t,
		     char errmsg[BT_ERRMSG_SIZE])
{
	struct test ts;
	struct branch b[2];
	size_t *ends = NULL, nends = 0, j, k;
	enum bt_status st;
	double slow;

	memset(b, 0, sizeof b);
	memset(t, 0, sizeof *t);
	if ((st = test_init(&ts, data, 0, o, errmsg)) != BT_OK)
		goto done;
	if ((st = long_rests(&ts, o, &ends, &nends)) != BT_OK)
		goto done;
	/* Rest points: the branch of the current that led into the rest. */
	for (j = 0; j < nends; j++) {
		k = ends[j];
		while (k > ts.ref && fabs(data->i[k]) <= ts.thr)
			k--;
		if (fabs(data->i[k]) <= ts.thr)
			continue;
		if ((st = branch_push(&b[data->i[k] > 0], ts.soc[ends[j]],
				      data->v[ends[j]])) != BT_OK)
			goto done;
	}
	/* Slow curves: rows whose current is at most the slow C-rate. */
	slow = o->ocv_max_c_rate * ts.q_ah;
	for (k = ts.ref; k < data->n; k++) {
		double a = fabs(data->i[k]);
		if (a > ts.thr && a <= slow
		    && (st = branch_push(&b[data->i[k] > 0], ts.soc[k],
					 data->v[k])) != BT_OK)
			goto done;
	}
	st = ocv_combine(b, o, t, errmsg);
done:
	free(ts.soc);
	free(ends);
	branch_free(&b[0]);
	branch_free(&b[1]);
	return st;
}

enum bt_status
bt_fit_ocv_from_table(struct bt_reader *r, const struct bt_fit_opts *o,
		      struct bt_fit_ocv *t, char errmsg[BT_ERRMSG_SIZE])
{
	static const char *const names[2][2] = {
		{ "soc_discharge", "ocv_discharge_v" },
		{ "soc_charge", "ocv_charge_v" },
	};
	long col[2][2];
	struct branch b[2];
	size_t k;
	enum bt_status st;
	int nbr = 0, one = 0;

	memset(b, 0, sizeof b);
	memset(t, 0, sizeof *t);
	for (k = 0; k < 2; k++) {
		col[k][0] = bt_reader_find(r, names[k][0]);
		col[k][1] = bt_reader_find(r, names[k][1]);
		nbr += col[k][0] >= 0 && col[k][1] >= 0;
	}
	if (nbr == 0) {
		size_t cs, cv;
		/* One branch that serves as both. */
		if ((st = bt_reader_require(r, "soc", &cs)) != BT_OK
		    || (st = bt_reader_require(r, "ocv_v", &cv)) != BT_OK)
			return st;
		col[0][0] = (long)cs;
		col[0][1] = (long)cv;
		col[1][0] = col[1][1] = -1;
		one = 1;
	}
	while ((st = bt_reader_next(r)) == BT_OK) {
		for (k = 0; k < 2; k++) {
			double x, y;

			if (col[k][0] < 0 || col[k][1] < 0)
				continue;
			if ((st = bt_reader_number(r, (size_t)col[k][0], &x)) != BT_OK
			    || (st = bt_reader_number(r, (size_t)col[k][1], &y)) != BT_OK)
				goto done;
			if (isnan(x) && isnan(y))
				continue;
			if (!isfinite(x) || !isfinite(y)) {
				st = bt_reader_fail(r, BT_ENONFINITE,
						    "%s and %s must both be given",
						    names[one ? 0 : k][0], names[k][1]);
				goto done;
			}
			if ((st = branch_push(&b[k], x, y)) != BT_OK)
				goto done;
		}
	}
	if (st != BT_EOF)
		goto done;
	if (one && b[0].n > 0) {
		/* A single table is its own mean: no hysteresis. */
		st = ocv_combine(b, o, t, errmsg);
		if (st == BT_OK)
			for (k = 0; k < t->n; k++)
				t->hysteresis_v[k] = NAN;
		goto done;
	}
	st = ocv_combine(b, o, t, errmsg);
done:
	branch_free(&b[0]);
	branch_free(&b[1]);
	return st;
}

enum bt_status
bt_fit_ocv_read(struct bt_reader *r, struct bt_fit_ocv *t,
		char errmsg[BT_ERRMSG_SIZE])
{
	size_t cs, cv, k, cap = 0;
	enum bt_status st;
	double x, y, *pairs = NULL, *np;
	char b[BT_NUM_BUFSIZE];

	memset(t, 0, sizeof *t);
	if ((st = bt_reader_require(r, "soc", &cs)) != BT_OK
	    || (st = bt_reader_require(r, "ocv_v", &cv)) != BT_OK)
		return st;
	while ((st = bt_reader_next(r)) == BT_OK) {
		if ((st = bt_reader_finite(r, cs, &x)) != BT_OK
		    || (st = bt_reader_finite(r, cv, &y)) != BT_OK)
			goto done;
		if (x < 0 || x > 1) {
			st = bt_reader_fail(r, BT_ERANGE, "soc '%s' outside [0, 1]",
					    fmtn(x, b));
			goto done;
		}
		if (t->n == cap) {
			cap = cap ? 2 * cap : 64;
			if (!(np = realloc(pairs, 2 * cap * sizeof *np))) {
				st = BT_ENOMEM;
				goto done;
			}
			pairs = np;
		}
		pairs[2 * t->n] = x;
		pairs[2 * t->n + 1] = y;
		t->n++;
	}
	if (st != BT_EOF)
		goto done;
	if (t->n < 2) {
		setmsg(errmsg, "%s: %zu OCV points, need 2 or more",
		       bt_reader_filename(r), t->n);
		st = BT_EEMPTY;
		goto done;
	}
	qsort(pairs, t->n, 2 * sizeof *pairs, cmp_pair);
	k = t->n;
	if ((st = ocv_alloc(t, k)) != BT_OK)
		goto done;
	for (k = 0; k < t->n; k++) {
		t->soc[k] = pairs[2 * k];
		t->ocv_v[k] = pairs[2 * k + 1];
		t->hysteresis_v[k] = t->ocv_discharge_v[k] = t->ocv_charge_v[k] = NAN;
		if (k > 0 && !(t->soc[k] > t->soc[k - 1])) {
			setmsg(errmsg, "%s: soc '%s' appears twice",
			       bt_reader_filename(r), fmtn(t->soc[k], b));
			st = BT_EINVAL;
			goto done;
		}
	}
	st = BT_OK;
done:
	free(pairs);
	if (st != BT_OK)
		bt_fit_ocv_free(t);
	return st;
}

static void
number_or_empty(struct bt_writer *w, double x)
{
	if (isnan(x))
		bt_writer_empty(w);
	else
		bt_writer_number(w, x);
}

static void
raw(struct bt_writer *w, const char *s)
{
	bt_writer_raw(w, s, strlen(s));
}

enum bt_status
bt_fit_ocv_write(const struct bt_fit_ocv *t, struct bt_writer *w)
{
	static const char *const cols[] = {
		"soc", "ocv_v", "hysteresis_v", "ocv_discharge_v", "ocv_charge_v"
	};
	size_t k;
	enum bt_status st;

	for (k = 0; k < 5; k++)
		raw(w, cols[k]);
	if ((st = bt_writer_end_row(w)) != BT_OK)
		return st;
	for (k = 0; k < t->n; k++) {
		bt_writer_number(w, t->soc[k]);
		bt_writer_number(w, t->ocv_v[k]);
		number_or_empty(w, t->hysteresis_v[k]);
		number_or_empty(w, t->ocv_discharge_v[k]);
		number_or_empty(w, t->ocv_charge_v[k]);
		if ((st = bt_writer_end_row(w)) != BT_OK)
			return st;
	}
	return BT_OK;
}

enum bt_status
bt_fit_write_model(const struct bt_ecm *ecm, const char *c_prefix,
		   struct bt_writer *w)
{
	char *buf = NULL, *s, *e;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	enum bt_status st;

	if (!f)
		return BT_ENOMEM;
	st = c_prefix ? bt_ecm_write_c(ecm, f, c_prefix) : bt_ecm_write(ecm, f);
	if (fclose(f) != 0 && st == BT_OK)
		st = BT_ENOMEM;
	for (s = buf; st == BT_OK && *s; s = e + 1) {
		e = strchr(s, '\n');
		if (!e)
			e = s + strlen(s);
		bt_writer_raw(w, s, (size_t)(e - s));
		st = bt_writer_end_row(w);
		if (!*e)
			break;
	}
	free(buf);
	return st;
}

/* --- The report --------------------------------------------------------------- */

enum bt_status
bt_fit_report_write(const struct bt_fit_result *res, unsigned nrc,
		    struct bt_writer *w)
{
	static const char *const head[] = {
		"soc", "temperature_c", "direction", "rows", "rmse_mv",
		"max_abs_mv", "iterations", "converged", "ocv_v", "r0_ohm",
		"r0_ohm_sd"
	};
	static const char *const tail = "capacity_ah";
	char name[32];
	size_t k, j;
	enum bt_status st;

	for (k = 0; k < sizeof head / sizeof *head; k++)
		raw(w, head[k]);
	for (k = 1; k <= nrc; k++) {
		snprintf(name, sizeof name, "r%zu_ohm", k);
		raw(w, name);
		snprintf(name, sizeof name, "r%zu_ohm_sd", k);
		raw(w, name);
		snprintf(name, sizeof name, "tau%zu_s", k);
		raw(w, name);
		snprintf(name, sizeof name, "tau%zu_s_sd", k);
		raw(w, name);
	}
	raw(w, tail);
	if ((st = bt_writer_end_row(w)) != BT_OK)
		return st;
	for (j = 0; j < res->nseg; j++) {
		const struct bt_fit_segment *s = &res->seg[j];

		bt_writer_number(w, s->soc);
		bt_writer_number(w, s->temperature_c);
		raw(w, bt_fit_dir_name(s->dir));
		bt_writer_number(w, (double)s->rows);
		bt_writer_number(w, 1e3 * s->rmse_v);
		bt_writer_number(w, 1e3 * s->max_abs_v);
		bt_writer_number(w, (double)s->iterations);
		bt_writer_number(w, s->converged);
		bt_writer_number(w, s->point.ocv_v);
		bt_writer_number(w, s->point.r0_ohm);
		number_or_empty(w, s->point.r0_ohm_sd);
		for (k = 0; k < nrc; k++) {
			bt_writer_number(w, s->point.r_ohm[k]);
			number_or_empty(w, s->point.r_ohm_sd[k]);
			bt_writer_number(w, s->point.tau_s[k]);
			number_or_empty(w, s->point.tau_s_sd[k]);
		}
		bt_writer_number(w, s->capacity_ah);
		if ((st = bt_writer_end_row(w)) != BT_OK)
			return st;
	}
	return BT_OK;
}
