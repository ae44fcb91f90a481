/* bt_rul.c - remaining useful life: cleaning, degradation fits, a particle
 * filter over model parameters with a fleet prior, and the forecast.
 *
 * Every forecast ends the same way: an ensemble of parameter vectors with
 * equal weights (samples of a least-squares fit's sampling distribution, or
 * the particles of the filter) is run forward from the last observed cycle,
 * each member's end of life is the first cycle at or below the line, and
 * the median and the central interval of those cycles are the answer.  The
 * filter pools several such ensembles, one per model and one drawn from the
 * fleet cells' lives: a linear opinion pool whose shares are learnt by
 * Bayesian stacking of each member's predictive density of the last cycles
 * of the history when run on the ones before (stack_weights).
 *
 * Calibration.  Capacity histories are not independent noise around a
 * smooth curve: regeneration after rests and test artefacts make residuals
 * strongly autocorrelated, and a likelihood that counts n points as n
 * independent pieces of evidence gives intervals that are far too narrow.
 * Both the fits' sampling distributions and the particle filter's
 * likelihood are therefore tempered by tau = n_eff / n, with the effective
 * sample size of an AR(1) process, n_eff = n (1 - rho) / (1 + rho), rho the
 * lag-1 autocorrelation of the fit's residuals (Bartlett 1946; Bayesian
 * "power likelihood" tempering, Bissiri, Holmes & Walker 2016, eq. 3).
 */
#include <config.h>

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <stdio.h>

#include <gsl/gsl_blas.h>
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_multifit_nlinear.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "bt_rul.h"
#include "bt_stats.h"

/* Robust standard deviation from the median absolute deviation of Gaussian
 * data: 1 / Phi^-1(3/4). */
#define MAD_TO_SD 1.482602218505602
/* A window with a zero MAD (flat data) still has this scale, relative to its
 * median, so that rounding of the last digit is not called an outlier. */
#define HAMPEL_MIN_REL_SCALE 1e-4

/* Nonlinear least squares: iteration limit and tolerances
 * (gsl_multifit_nlinear_driver). */
#define FIT_MAX_ITER 200
#define FIT_XTOL 1e-10
#define FIT_GTOL 1e-10
#define FIT_FTOL 0.0
/* Exponential rates (per scaled cycle) beyond this are refused as fits:
 * they are overflow, not degradation. */
#define FIT_MAX_RATE 60.0

/* Largest lag-1 autocorrelation used for tempering (tau >= 0.026). */
#define RHO_MAX 0.95

/* auto: the share of the history a model is fitted to before it predicts
 * the rest (the extrapolation-risk penalty). */
#define AUTO_TRAIN_FRAC 0.7

/* Particle filter.  The fleet prior is a kernel mixture on the fleet cells'
 * fitted parameters: a member takes one fleet cell's parameters and adds
 * Gaussian jitter of this share of each parameter's size (the kernel's
 * bandwidth; the spread across the fleet comes from the mixture itself).
 * Without a fleet the prior is the cell's own fit with its covariance
 * inflated by the factor below (in standard deviations) and a relative
 * floor. */
#define PF_FLEET_REL_SPREAD 0.04
#define PF_OWN_INFLATE 3.0
/* A fleet cell is fitted down to this share of the end-of-life line. */
#define FLEET_FIT_END 0.95
#define PF_OWN_REL_SPREAD 0.25
/* The filter's members carry one more parameter than the model: the log
 * of a time scale r, the model being evaluated at r x.  Cells of a fleet
 * age at different paces (Saxena et al. 2008; a fleet-level digital twin's
 * "rate factor"), and a fleet cell's curve stretched in time is the prior's
 * guess at this cell's.  Prior standard deviation of log r: */
#define PF_LOG_RATE_SD 0.3
/* A cell's pace is not constant either: a fade trajectory speeds up on its
 * way to a knee, at the knee's onset and again at the knee point (the two
 * changes of slope of Fermín-Cueto et al. 2020, Energy and AI 1, 100006;
 * Attia et al. 2022, J. Electrochem. Soc. 169, 060517), as lithium plating
 * or the loss of active material sets in, and slows down for good only by
 * exception (rests regenerate capacity for a few cycles).  So the filter
 * lets log r rise along the history as a compound Poisson process, the
 * monotone "shock" wear process of Esary, Marshall & Proschan (1973, Ann.
 * Probab. 1, 627): at rate bt_rul_opts.pf_knee per history (on the scaled
 * axis; by default the two changes of a knee) it jumps by an exponential
 * amount whose mean is PF_LOG_RATE_SD, the spread of paces across a fleet:
 * within a cell the pace changes by about as much as it differs between
 * cells.  A jump keeps the member's age r x + b where it was, so that its
 * capacity path stays continuous: b, the age offset, is the member's last
 * coordinate.  The data decide whether a jump took place (the filter
 * weighs the members that jumped against those that did not); the
 * forecast holds each member's last pace and predicts no new jump. */
#define PF_KNEE_RISE PF_LOG_RATE_SD
/* Members of an ensemble: the model's parameters, log r and b. */
#define ENS_MAXD (BT_RUL_MAXP + 2)
/* Resample when the effective sample size falls below this share of N;
 * at most this many fractional steps per observation, each found by this
 * many bisections. */
#define PF_ESS_FRAC 0.5
#define PF_MAX_SPLITS 100
#define PF_BISECT_ITER 16
/* The smallest power of one observation's likelihood a step takes. */
#define PF_MIN_POWER 1e-12
/* Liu & West (2001) kernel shrinkage a = (3 delta - 1) / (2 delta) for the
 * discount factor delta = 0.98 (their section 10.3.3). */
#define PF_LW_DELTA 0.98

/* The fleet's lives.  Cells of one fleet cycled alike differ in life by
 * about a tenth: Frenander & Thiringer (J. Energy Storage 102 (2024)
 * 114014) found a spread of about 10 % of the capacity lost at any point
 * across replicates of a commercial cell.  The log-normal of the lives has
 * at least this standard deviation (of the log), whatever the fleet's own
 * spread, which two or three cells estimate poorly. */
#define LIFE_MIN_SD 0.1
/* Below this probability of outliving the current cycle, the fleet's lives
 * say nothing about the cell, and no member is drawn from them. */
#define LIFE_MIN_TAIL 1e-9

/* Stacking of the pool (see stack_weights): the members are run on the
 * first AUTO_TRAIN_FRAC of the history with this many particles (or
 * samples) at most, and the weights' posterior mean is estimated with
 * this many draws from their prior. */
#define STACK_PARTICLES 500
#define STACK_DRAWS 4096

/* End-of-life search: coarse steps of this many cycles, then cycle by
 * cycle within the step that crossed. */
#define EOL_STRIDE 16

/* Smallest likelihood noise, relative to the reference capacity. */
#define SIGMA_MIN_REL 1e-4

/* The set of the fitted models. */
#define FITTED (BT_RUL_SET(BT_RUL_POWER + 1) - 1)

static const char *const model_names[] = {
	"linear", "exp", "dexp", "power", "auto", "pf", "life"
};

void
bt_rul_opts_init(struct bt_rul_opts *o)
{
	o->model = BT_RUL_AUTO;
	o->pf_models = BT_RUL_PF_MODELS;
	o->pf_drift = 0;
	o->pf_knee = BT_RUL_PF_KNEE;
	o->hampel_window = BT_RUL_HAMPEL_WINDOW;
	o->hampel_threshold = BT_RUL_HAMPEL_THRESHOLD;
	o->ref_points = BT_RUL_REF_POINTS;
	o->eol_fraction = BT_RUL_EOL_FRACTION;
	o->eol_capacity = NAN;
	o->interval = BT_RUL_INTERVAL;
	o->particles = BT_RUL_PARTICLES;
	o->seed = 1;
	o->horizon = BT_RUL_HORIZON;
	o->min_points = BT_RUL_MIN_POINTS;
	o->trend_z = BT_RUL_TREND_Z;
}

const char *
bt_rul_model_name(enum bt_rul_model m)
{
	return (unsigned)m <= BT_RUL_LIFE ? model_names[m] : "unknown";
}

enum bt_status
bt_rul_model_parse(const char *name, enum bt_rul_model *m)
{
	size_t i;

	for (i = 0; i <= BT_RUL_LIFE; i++)
		if (strcmp(name, model_names[i]) == 0) {
			*m = (enum bt_rul_model)i;
			return BT_OK;
		}
	return BT_EINVAL;
}

enum bt_status
bt_rul_models_parse(const char *list, unsigned *set)
{
	enum bt_rul_model m;
	const char *p = list, *e;
	char name[16];
	size_t len;

	*set = 0;
	for (;;) {
		e = strchr(p, ',');
		len = e != NULL ? (size_t)(e - p) : strlen(p);
		if (len == 0 || len >= sizeof name)
			return BT_EINVAL;
		memcpy(name, p, len);
		name[len] = '\0';
		if (bt_rul_model_parse(name, &m) != BT_OK
		    || (m > BT_RUL_POWER && m != BT_RUL_LIFE) || (*set & BT_RUL_SET(m)))
			return BT_EINVAL;
		*set |= BT_RUL_SET(m);
		if (e == NULL)
			return *set & FITTED ? BT_OK : BT_EINVAL;
		p = e + 1;
	}
}

void
bt_rul_models_name(unsigned set, char *buf, size_t size)
{
	size_t i, len = 0;
	int n;

	if (size == 0)
		return;
	buf[0] = '\0';
	for (i = BT_RUL_LINEAR; i <= BT_RUL_LIFE && len < size; i++)
		if (set & BT_RUL_SET(i)) {
			n = snprintf(buf + len, size - len, "%s%s", len ? "+" : "",
				     model_names[i]);
			if (n < 0)
				return;
			len += (size_t)n;
		}
}

void
bt_rul_result_model(const struct bt_rul_result *res, char *buf, size_t size)
{
	if (size == 0)
		return;
	if (res->reached)
		buf[0] = '\0';
	else if (res->model == BT_RUL_PF && size > 3) {
		memcpy(buf, "pf:", 3);
		bt_rul_models_name(res->pool, buf + 3, size - 3);
	} else
		snprintf(buf, size, "%s", res->model == BT_RUL_PF ? ""
			 : bt_rul_model_name(res->base));
}

size_t
bt_rul_model_nparams(enum bt_rul_model m)
{
	switch (m) {
	case BT_RUL_LINEAR:
	case BT_RUL_EXP:
		return 2;
	case BT_RUL_POWER:
		return 3;
	case BT_RUL_DEXP:
		return 4;
	default:
		return 0;
	}
}

double
bt_rul_model_eval(enum bt_rul_model m, const double *p, double x)
{
	switch (m) {
	case BT_RUL_LINEAR:
		return p[0] + p[1] * x;
	case BT_RUL_EXP:
		return p[0] * exp(p[1] * x);
	case BT_RUL_DEXP:
		/* He, Williard, Osterman & Pecht 2011, J. Power Sources 196,
		 * 10314, eq. 1: Q = a exp(b k) + c exp(d k). */
		return p[0] * exp(p[1] * x) + p[2] * exp(p[3] * x);
	case BT_RUL_POWER:
		return p[0] - p[1] * (x > 0 ? pow(x, p[2]) : 0.0);
	default:
		return NAN;
	}
}

/* d model / d p at X into G. */
static void
model_grad(enum bt_rul_model m, const double *p, double x, double *g)
{
	double e1, e2, xp;

	switch (m) {
	case BT_RUL_LINEAR:
		g[0] = 1;
		g[1] = x;
		break;
	case BT_RUL_EXP:
		e1 = exp(p[1] * x);
		g[0] = e1;
		g[1] = p[0] * x * e1;
		break;
	case BT_RUL_DEXP:
		e1 = exp(p[1] * x);
		e2 = exp(p[3] * x);
		g[0] = e1;
		g[1] = p[0] * x * e1;
		g[2] = e2;
		g[3] = p[2] * x * e2;
		break;
	case BT_RUL_POWER:
		xp = x > 0 ? pow(x, p[2]) : 0.0;
		g[0] = 1;
		g[1] = -xp;
		g[2] = x > 0 ? -p[1] * xp * log(x) : 0.0;
		break;
	default:
		break;
	}
}

/* ---- cleaning ---------------------------------------------------------- */

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

enum bt_status
bt_rul_hampel(const double *y, size_t n, size_t window, double threshold,
	      unsigned char *flag, size_t *nflagged)
{
	size_t i, j, lo, w, count = 0;
	double *buf, m, mad, scale;

	if (!(threshold > 0))
		return BT_EINVAL;
	memset(flag, 0, n);
	*nflagged = 0;
	if (window < 2 || n < 3)
		return BT_OK;
	w = window < n ? window : n;
	if ((buf = malloc(w * sizeof *buf)) == NULL)
		return BT_ENOMEM;
	for (i = 0; i < n; i++) {
		/* The window centred on i, shifted inwards at the ends so that
		 * every point is judged against W neighbours. */
		lo = i >= w / 2 ? i - w / 2 : 0;
		if (lo + w > n)
			lo = n - w;
		memcpy(buf, y + lo, w * sizeof *buf);
		m = bt_stats_median(buf, w);
		for (j = 0; j < w; j++)
			buf[j] = fabs(y[lo + j] - m);
		mad = bt_stats_median(buf, w);
		scale = MAD_TO_SD * mad;
		if (scale < HAMPEL_MIN_REL_SCALE * fabs(m))
			scale = HAMPEL_MIN_REL_SCALE * fabs(m);
		if (fabs(y[i] - m) > threshold * scale) {
			flag[i] = 1;
			count++;
		}
	}
	free(buf);
	*nflagged = count;
	return BT_OK;
}

/* ---- fitting ----------------------------------------------------------- */

struct fit_data {
	enum bt_rul_model model;
	const double *x, *y;
	size_t n;
};

static int
fit_f(const gsl_vector *pv, void *data, gsl_vector *f)
{
	const struct fit_data *d = data;
	size_t i;

	for (i = 0; i < d->n; i++)
		gsl_vector_set(f, i, bt_rul_model_eval(d->model, pv->data, d->x[i]) - d->y[i]);
	return GSL_SUCCESS;
}

static int
fit_df(const gsl_vector *pv, void *data, gsl_matrix *jac)
{
	const struct fit_data *d = data;
	double g[BT_RUL_MAXP];
	size_t i, j, np = bt_rul_model_nparams(d->model);

	for (i = 0; i < d->n; i++) {
		model_grad(d->model, pv->data, d->x[i], g);
		for (j = 0; j < np; j++)
			gsl_matrix_set(jac, i, j, g[j]);
	}
	return GSL_SUCCESS;
}

static double
aicc(double rss, size_t n, size_t np)
{
	/* Hurvich & Tsai 1989, Biometrika 76, 297, eq. 3, with the noise
	 * variance counted as a parameter. */
	double k = (double)np + 1;

	if (rss <= 0)
		rss = DBL_MIN;
	return (double)n * log(rss / (double)n) + 2 * k
	       + (n > k + 1 ? 2 * k * (k + 1) / ((double)n - k - 1) : INFINITY);
}

static enum bt_status
fit_linear(const double *x, const double *y, size_t n, struct bt_rul_fit *fit)
{
	double mx = 0, my = 0, sxx = 0, sxy = 0, rss = 0, s2, r;
	size_t i;

	for (i = 0; i < n; i++) {
		mx += x[i];
		my += y[i];
	}
	mx /= (double)n;
	my /= (double)n;
	for (i = 0; i < n; i++) {
		sxx += (x[i] - mx) * (x[i] - mx);
		sxy += (x[i] - mx) * (y[i] - my);
	}
	if (!(sxx > 0))
		return BT_ENOCONV;
	fit->p[1] = sxy / sxx;
	fit->p[0] = my - fit->p[1] * mx;
	for (i = 0; i < n; i++) {
		r = y[i] - fit->p[0] - fit->p[1] * x[i];
		rss += r * r;
	}
	s2 = n > 2 ? rss / (double)(n - 2) : 0;
	/* Ordinary least squares covariance: s^2 (X'X)^-1. */
	fit->cov[0] = s2 * (1.0 / (double)n + mx * mx / sxx);
	fit->cov[1] = fit->cov[2] = -s2 * mx / sxx;
	fit->cov[3] = s2 / sxx;
	fit->rmse = sqrt(rss / (double)n);
	fit->aicc = aicc(rss, n, 2);
	return BT_OK;
}

/* One Levenberg-Marquardt run from P0; stores the parameters, the residual
 * sum of squares and the covariance on success. */
static int
nls_run(struct fit_data *d, const double *p0, double *p, double *rss,
	double *cov)
{
	size_t np = bt_rul_model_nparams(d->model), i;
	gsl_multifit_nlinear_parameters params =
		gsl_multifit_nlinear_default_parameters();
	gsl_multifit_nlinear_fdf fdf;
	gsl_multifit_nlinear_workspace *w;
	gsl_vector_view pv = gsl_vector_view_array((double *)(uintptr_t)p0, np);
	gsl_matrix *jac, *c;
	double chisq;
	int info, st, ok = 0;

	params.trs = gsl_multifit_nlinear_trs_lm;
	fdf.f = fit_f;
	fdf.df = fit_df;
	fdf.fvv = NULL;
	fdf.n = d->n;
	fdf.p = np;
	fdf.params = d;
	w = gsl_multifit_nlinear_alloc(gsl_multifit_nlinear_trust, &params, d->n, np);
	c = gsl_matrix_alloc(np, np);
	if (w == NULL || c == NULL)
		goto out;
	if (gsl_multifit_nlinear_init(&pv.vector, &fdf, w) != GSL_SUCCESS)
		goto out;
	st = gsl_multifit_nlinear_driver(FIT_MAX_ITER, FIT_XTOL, FIT_GTOL,
					 FIT_FTOL, NULL, NULL, &info, w);
	if (st != GSL_SUCCESS && st != GSL_EMAXITER)
		goto out;
	gsl_blas_ddot(w->f, w->f, &chisq);
	jac = gsl_multifit_nlinear_jac(w);
	if (!isfinite(chisq) || gsl_multifit_nlinear_covar(jac, 0.0, c) != GSL_SUCCESS)
		goto out;
	for (i = 0; i < np; i++)
		p[i] = gsl_vector_get(w->x, i);
	for (i = 0; i < np * np; i++)
		cov[i] = c->data[(i / np) * c->tda + i % np];
	*rss = chisq;
	ok = 1;
	for (i = 0; i < np; i++)
		if (!isfinite(p[i]))
			ok = 0;
	if (d->model == BT_RUL_EXP && fabs(p[1]) > FIT_MAX_RATE)
		ok = 0;
	if (d->model == BT_RUL_DEXP && (fabs(p[1]) > FIT_MAX_RATE || fabs(p[3]) > FIT_MAX_RATE))
		ok = 0;
	if (d->model == BT_RUL_POWER && !(p[2] > 0))
		ok = 0;
out:
	gsl_matrix_free(c);
	if (w != NULL)
		gsl_multifit_nlinear_free(w);
	return ok;
}

/* Starting points for the nonlinear models, from a line and a log-line. */
static size_t
starts(enum bt_rul_model m, const double *x, const double *y, size_t n,
       double s[][BT_RUL_MAXP])
{
	/* Curvatures (per scaled cycle) tried for the second exponential and
	 * exponents for the power law. */
	static const double dexp_rates[] = {-3.0, 1.0, 3.0, 6.0};
	static const double dexp_shares[] = {-0.01, 0.01};
	static const double power_exps[] = {0.5, 1.0, 2.0, 4.0};
	struct bt_rul_fit lin;
	double a, b, mx = 0, my = 0, sxx = 0, sxy = 0;
	size_t k = 0, i, j, npos = 0;

	for (i = 0; i < n; i++)
		if (y[i] > 0) {
			mx += x[i];
			my += log(y[i]);
			npos++;
		}
	if (npos >= 2) {
		mx /= (double)npos;
		my /= (double)npos;
		for (i = 0; i < n; i++)
			if (y[i] > 0) {
				sxx += (x[i] - mx) * (x[i] - mx);
				sxy += (x[i] - mx) * (log(y[i]) - my);
			}
	}
	b = sxx > 0 ? sxy / sxx : 0;
	a = exp(my - b * mx);
	switch (m) {
	case BT_RUL_EXP:
		s[k][0] = a;
		s[k++][1] = b;
		break;
	case BT_RUL_DEXP:
		for (i = 0; i < sizeof dexp_rates / sizeof *dexp_rates; i++)
			for (j = 0; j < sizeof dexp_shares / sizeof *dexp_shares; j++) {
				s[k][0] = a;
				s[k][1] = b;
				s[k][2] = dexp_shares[j] * a;
				s[k++][3] = dexp_rates[i];
			}
		break;
	case BT_RUL_POWER:
		if (fit_linear(x, y, n, &lin) != BT_OK)
			break;
		for (i = 0; i < sizeof power_exps / sizeof *power_exps; i++) {
			s[k][0] = lin.p[0];
			s[k][1] = -lin.p[1];
			s[k++][2] = power_exps[i];
		}
		break;
	default:
		break;
	}
	return k;
}

enum bt_status
bt_rul_fit(enum bt_rul_model m, const double *x, const double *y, size_t n,
	   struct bt_rul_fit *fit)
{
	double s[8][BT_RUL_MAXP], p[BT_RUL_MAXP], cov[BT_RUL_MAXP * BT_RUL_MAXP];
	double rss, best = INFINITY, s2;
	size_t np = bt_rul_model_nparams(m), ns, i;
	struct fit_data d = {m, x, y, n};

	if (np == 0 || n < np + 1)
		return BT_EINVAL;
	memset(fit, 0, sizeof *fit);
	fit->model = m;
	fit->np = np;
	if (m == BT_RUL_LINEAR)
		return fit_linear(x, y, n, fit);
	ns = starts(m, x, y, n, s);
	for (i = 0; i < ns; i++) {
		if (!nls_run(&d, s[i], p, &rss, cov) || !(rss < best))
			continue;
		best = rss;
		memcpy(fit->p, p, sizeof p);
		memcpy(fit->cov, cov, sizeof cov);
	}
	if (!isfinite(best))
		return BT_ENOCONV;
	/* gsl_multifit_nlinear_covar gives (J'J)^-1: scale by s^2. */
	s2 = n > np ? best / (double)(n - np) : 0;
	for (i = 0; i < np * np; i++)
		fit->cov[i] *= s2;
	fit->rmse = sqrt(best / (double)n);
	fit->aicc = aicc(best, n, np);
	return BT_OK;
}

/* ---- cells and fleets --------------------------------------------------- */

struct bt_rul_cell {
	char *name;
	double *cycle, *cap;
	size_t n, alloc;
};

struct bt_rul_fleet {
	struct bt_rul_cell **cells;
	size_t n, alloc;
	size_t last;		/* the cell bt_rul_fleet_point found last */
};

struct bt_rul_cell *
bt_rul_cell_alloc(const char *name)
{
	struct bt_rul_cell *c = calloc(1, sizeof *c);

	if (c == NULL)
		return NULL;
	if ((c->name = strdup(name != NULL ? name : "")) == NULL) {
		free(c);
		return NULL;
	}
	return c;
}

void
bt_rul_cell_free(struct bt_rul_cell *c)
{
	if (c == NULL)
		return;
	free(c->name);
	free(c->cycle);
	free(c->cap);
	free(c);
}

enum bt_status
bt_rul_cell_add(struct bt_rul_cell *c, double cycle, double capacity)
{
	size_t na;
	double *a, *b;

	if (!isfinite(cycle) || !isfinite(capacity))
		return BT_EINVAL;
	if (c->n > 0 && !(cycle > c->cycle[c->n - 1]))
		return BT_EINVAL;
	if (c->n == c->alloc) {
		na = c->alloc ? 2 * c->alloc : 64;
		if ((a = realloc(c->cycle, na * sizeof *a)) == NULL)
			return BT_ENOMEM;
		c->cycle = a;
		if ((b = realloc(c->cap, na * sizeof *b)) == NULL)
			return BT_ENOMEM;
		c->cap = b;
		c->alloc = na;
	}
	c->cycle[c->n] = cycle;
	c->cap[c->n++] = capacity;
	return BT_OK;
}

const char *
bt_rul_cell_name(const struct bt_rul_cell *c)
{
	return c->name;
}

size_t
bt_rul_cell_size(const struct bt_rul_cell *c)
{
	return c->n;
}

double
bt_rul_cell_last(const struct bt_rul_cell *c)
{
	return c->n ? c->cycle[c->n - 1] : NAN;
}

struct bt_rul_fleet *
bt_rul_fleet_alloc(void)
{
	return calloc(1, sizeof(struct bt_rul_fleet));
}

void
bt_rul_fleet_free(struct bt_rul_fleet *f)
{
	size_t i;

	if (f == NULL)
		return;
	for (i = 0; i < f->n; i++)
		bt_rul_cell_free(f->cells[i]);
	free(f->cells);
	free(f);
}

enum bt_status
bt_rul_fleet_add(struct bt_rul_fleet *f, struct bt_rul_cell *c)
{
	struct bt_rul_cell **a;
	size_t na;

	if (f->n == f->alloc) {
		na = f->alloc ? 2 * f->alloc : 8;
		if ((a = realloc(f->cells, na * sizeof *a)) == NULL) {
			bt_rul_cell_free(c);
			return BT_ENOMEM;
		}
		f->cells = a;
		f->alloc = na;
	}
	f->cells[f->n++] = c;
	return BT_OK;
}

size_t
bt_rul_fleet_size(const struct bt_rul_fleet *f)
{
	return f != NULL ? f->n : 0;
}

const struct bt_rul_cell *
bt_rul_fleet_cell(const struct bt_rul_fleet *f, size_t i)
{
	return f->cells[i];
}

enum bt_status
bt_rul_fleet_point(struct bt_rul_fleet *f, const char *name, size_t len,
		   double cycle, double capacity, const struct bt_rul_cell **cell)
{
	struct bt_rul_cell *c = NULL;
	enum bt_status st;
	size_t i, j;
	char *copy;

	/* Rows of one cell usually come together: start where the last
	 * search ended. */
	for (i = 0; i < f->n && c == NULL; i++) {
		j = (f->last + i) % f->n;
		if (strlen(f->cells[j]->name) == len
		    && memcmp(f->cells[j]->name, name, len) == 0) {
			c = f->cells[j];
			f->last = j;
		}
	}
	if (c == NULL) {
		if ((copy = strndup(name, len)) == NULL)
			return BT_ENOMEM;
		c = bt_rul_cell_alloc(copy);
		free(copy);
		if (c == NULL || (st = bt_rul_fleet_add(f, c)) != BT_OK)
			return BT_ENOMEM;
		f->last = f->n - 1;
	}
	*cell = c;
	return bt_rul_cell_add(c, cycle, capacity);
}

void
bt_rul_trajectory_free(struct bt_rul_trajectory *t)
{
	free(t->cycle);
	free(t->median);
	free(t->lo);
	free(t->hi);
	memset(t, 0, sizeof *t);
}

/* ---- forecasting -------------------------------------------------------- */

/* A history after cleaning, on the scaled cycle axis x = cycle / scale. */
struct clean {
	double *x, *y;
	double *k;		/* the cycles themselves */
	size_t n;		/* points kept */
	size_t flagged;		/* points removed */
	double ref;		/* mean of the first reference points */
};

static void
clean_free(struct clean *c)
{
	free(c->x);
	free(c->y);
	free(c->k);
	memset(c, 0, sizeof *c);
}

static enum bt_status
clean_cell(const struct bt_rul_cell *cell, const struct bt_rul_opts *o,
	   double scale, struct clean *c)
{
	unsigned char *flag;
	enum bt_status st;
	size_t i, m;

	memset(c, 0, sizeof *c);
	flag = malloc(cell->n ? cell->n : 1);
	c->x = malloc((cell->n ? cell->n : 1) * sizeof *c->x);
	c->y = malloc((cell->n ? cell->n : 1) * sizeof *c->y);
	c->k = malloc((cell->n ? cell->n : 1) * sizeof *c->k);
	if (flag == NULL || c->x == NULL || c->y == NULL || c->k == NULL) {
		free(flag);
		clean_free(c);
		return BT_ENOMEM;
	}
	st = bt_rul_hampel(cell->cap, cell->n, o->hampel_window,
			   o->hampel_threshold, flag, &c->flagged);
	if (st != BT_OK) {
		free(flag);
		clean_free(c);
		return st;
	}
	for (i = 0; i < cell->n; i++)
		if (!flag[i]) {
			c->k[c->n] = cell->cycle[i];
			c->x[c->n] = cell->cycle[i] / scale;
			c->y[c->n++] = cell->cap[i];
		}
	free(flag);
	m = o->ref_points < c->n ? o->ref_points : c->n;
	c->ref = 0;
	for (i = 0; i < m; i++)
		c->ref += c->y[i] / (double)m;
	return BT_OK;
}

/* Lag-1 autocorrelation of the residuals of P on (X, Y), turned into the
 * tempering exponent tau = (1 - rho) / (1 + rho) (see the top of the file). */
static double
temper(enum bt_rul_model m, const double *p, const double *x, const double *y,
       size_t n)
{
	double mean = 0, s0 = 0, s1 = 0, r, rp = 0, rho;
	size_t i;

	for (i = 0; i < n; i++)
		mean += (y[i] - bt_rul_model_eval(m, p, x[i])) / (double)n;
	for (i = 0; i < n; i++) {
		r = y[i] - bt_rul_model_eval(m, p, x[i]) - mean;
		s0 += r * r;
		if (i > 0)
			s1 += r * rp;
		rp = r;
	}
	rho = s0 > 0 ? s1 / s0 : 0;
	if (rho < 0)
		rho = 0;
	if (rho > RHO_MAX)
		rho = RHO_MAX;
	return (1 - rho) / (1 + rho);
}

/* Lower Cholesky factor L of the D x D matrix A (row-major), A = L L'.
 * A matrix that is not positive definite gets a growing diagonal jitter. */
static void
cholesky(size_t d, const double *a, double *l)
{
	double jitter = 0, s, tr = 0;
	size_t i, j, k;
	int ok;

	for (i = 0; i < d; i++)
		tr += fabs(a[i * d + i]);
	for (;;) {
		ok = 1;
		memset(l, 0, d * d * sizeof *l);
		for (j = 0; j < d && ok; j++) {
			s = a[j * d + j] + jitter;
			for (k = 0; k < j; k++)
				s -= l[j * d + k] * l[j * d + k];
			if (!(s > 0)) {
				ok = 0;
				break;
			}
			l[j * d + j] = sqrt(s);
			for (i = j + 1; i < d; i++) {
				s = a[i * d + j];
				for (k = 0; k < j; k++)
					s -= l[i * d + k] * l[j * d + k];
				l[i * d + j] = s / l[j * d + j];
			}
		}
		if (ok)
			return;
		jitter = jitter > 0 ? 10 * jitter : 1e-12 * (tr > 0 ? tr : 1);
		if (jitter > 1e6 * (tr > 0 ? tr : 1)) {
			/* Give up on correlations: the diagonal alone. */
			memset(l, 0, d * d * sizeof *l);
			for (i = 0; i < d; i++)
				l[i * d + i] = sqrt(fabs(a[i * d + i]));
			return;
		}
	}
}

/* THETA[i] = MEAN + L z for N draws z ~ N(0, I). */
static void
draw_gaussian(gsl_rng *rng, size_t d, size_t stride, const double *mean,
	      const double *l, size_t n, double *theta)
{
	double z[ENS_MAXD];
	size_t i, j, k;

	for (i = 0; i < n; i++) {
		for (j = 0; j < d; j++)
			z[j] = gsl_ran_gaussian_ziggurat(rng, 1.0);
		for (j = 0; j < d; j++) {
			theta[i * stride + j] = mean[j];
			for (k = 0; k <= j; k++)
				theta[i * stride + j] += l[j * d + k] * z[k];
		}
	}
}

/* Which parameters of a model scale with the capacity: a fleet cell's fit
 * is rescaled to this cell's reference by multiplying them. */
static int
is_amplitude(enum bt_rul_model m, size_t j)
{
	switch (m) {
	case BT_RUL_LINEAR:
	case BT_RUL_POWER:
		return j <= 1;
	case BT_RUL_EXP:
		return j == 0;
	case BT_RUL_DEXP:
		return j == 0 || j == 2;
	default:
		return 0;
	}
}

/* Fit the base model to every fleet cell but the one called NAME, rescaled
 * to REF, down to FLEET_FIT_END of the end-of-life line LINE (rescaled to
 * the fleet cell): a cell's collapse far below the line says little about
 * how it gets there and would bend the fit.  Store the fits' parameters in
 * *CENTRES (count in *NC). */
static enum bt_status
fleet_fits(const struct bt_rul_fleet *fleet, const char *name,
	   const struct bt_rul_opts *o, enum bt_rul_model m, double scale,
	   double ref, double line, double **centres, size_t *nc)
{
	size_t i, j, k, np = bt_rul_model_nparams(m);
	struct bt_rul_fit fit;
	struct clean c;
	enum bt_status st;

	*nc = 0;
	*centres = NULL;
	if (bt_rul_fleet_size(fleet) == 0)
		return BT_OK;
	if ((*centres = malloc(fleet->n * np * sizeof **centres)) == NULL)
		return BT_ENOMEM;
	for (i = 0; i < fleet->n; i++) {
		if (strcmp(fleet->cells[i]->name, name) == 0)
			continue;
		if ((st = clean_cell(fleet->cells[i], o, scale, &c)) != BT_OK)
			return st;
		for (k = 0; k < c.n; k++)
			if (c.y[k] <= FLEET_FIT_END * line * c.ref / ref) {
				c.n = k + 1;
				break;
			}
		if (c.n >= o->min_points && c.ref > 0
		    && bt_rul_fit(m, c.x, c.y, c.n, &fit) == BT_OK) {
			for (j = 0; j < np; j++)
				(*centres)[*nc * np + j] =
					fit.p[j] * (is_amplitude(m, j) ? ref / c.ref : 1.0);
			(*nc)++;
		}
		clean_free(&c);
	}
	return BT_OK;
}

/* The log-normal of the lives of the fleet cells but the one called NAME:
 * each cell's life is the first cleaned cycle at or below its end-of-life
 * line (OPTS' capacity, or its fraction of the fleet cell's own reference);
 * a cell that never reaches it counts with its last cycle, the least it
 * lives.  *MU and *SD are the mean and the standard deviation of the log
 * lives, the latter times sqrt(1 + 1/n) for the spread of a new cell's
 * life about an estimated mean (the normal predictive, Geisser 1993,
 * Predictive Inference, ch. 2) and at least LIFE_MIN_SD.  *N receives the
 * number of lives (0: no distribution). */
static enum bt_status
fleet_life(const struct bt_rul_fleet *fleet, const char *name,
	   const struct bt_rul_opts *o, double *mu, double *sd, size_t *n)
{
	double s = 0, s2 = 0, life, line, v;
	struct clean c;
	enum bt_status st;
	size_t i, k;

	*n = 0;
	for (i = 0; i < bt_rul_fleet_size(fleet); i++) {
		if (strcmp(fleet->cells[i]->name, name) == 0)
			continue;
		if ((st = clean_cell(fleet->cells[i], o, 1.0, &c)) != BT_OK)
			return st;
		line = isnan(o->eol_capacity) ? o->eol_fraction * c.ref : o->eol_capacity;
		life = c.n > 0 ? c.k[c.n - 1] : NAN;
		for (k = 0; k < c.n; k++)
			if (c.y[k] <= line) {
				life = c.k[k];
				break;
			}
		clean_free(&c);
		if (!(life > 0))
			continue;
		s += log(life);
		s2 += log(life) * log(life);
		(*n)++;
	}
	if (*n == 0)
		return BT_OK;
	*mu = s / (double)*n;
	v = *n > 1 ? (s2 - (double)*n * *mu * *mu) / (double)(*n - 1) : 0;
	*sd = sqrt((v > 0 ? v : 0) * (1 + 1.0 / (double)*n));
	if (!(*sd >= LIFE_MIN_SD))
		*sd = LIFE_MIN_SD;
	return BT_OK;
}

/* N members drawn from the log-normal life distribution (MU, SD) given that
 * the cell outlives LAST, whose probability is QA: each a line in THETA
 * (stride 4, log r = b = 0) from the last cleaned point (X1, Y1) on the scaled
 * axis to the end-of-life LINE at the drawn life, so that the members have
 * capacity paths like the models' and cross the line where drawn. */
static void
life_members(gsl_rng *rng, double mu, double sd, double qa, double last,
	     double scale, double x1, double y1, double line, size_t n,
	     double *theta)
{
	double life, u;
	size_t i;

	for (i = 0; i < n; i++) {
		/* The upper tail by its own inverse, which stays accurate where
		 * 1 - u would round to 0. */
		u = 1.0 - gsl_rng_uniform(rng);
		life = exp(mu + sd * gsl_cdf_ugaussian_Qinv(qa * u));
		if (!(life > last))
			life = last + 1;
		theta[i * 4 + 1] = (line - y1) / (life / scale - x1);
		theta[i * 4] = y1 - theta[i * 4 + 1] * x1;
		theta[i * 4 + 2] = 0;
		theta[i * 4 + 3] = 0;
	}
}

/* The prior ensemble of the particle filter: a kernel mixture on the fleet
 * centres when there are any, else the cell's own fit widened. */
static void
pf_prior(gsl_rng *rng, enum bt_rul_model m, const double *centres, size_t nc,
	 const struct bt_rul_fit *own, double tau, size_t n, double *theta)
{
	size_t np = bt_rul_model_nparams(m), d = np + 2, i, j, k;
	double bw, cov[BT_RUL_MAXP * BT_RUL_MAXP], l[BT_RUL_MAXP * BT_RUL_MAXP];

	for (i = 0; i < n; i++) {
		theta[i * d + np] = PF_LOG_RATE_SD * gsl_ran_gaussian_ziggurat(rng, 1.0);
		theta[i * d + np + 1] = 0;
	}
	if (nc == 0) {
		for (j = 0; j < np * np; j++)
			cov[j] = own->cov[j] / tau * PF_OWN_INFLATE * PF_OWN_INFLATE;
		for (j = 0; j < np; j++) {
			bw = PF_OWN_REL_SPREAD * fabs(own->p[j]);
			cov[j * np + j] += bw * bw;
		}
		cholesky(np, cov, l);
		draw_gaussian(rng, np, d, own->p, l, n, theta);
		return;
	}
	for (i = 0; i < n; i++) {
		k = gsl_rng_uniform_int(rng, nc);
		for (j = 0; j < np; j++) {
			bw = PF_FLEET_REL_SPREAD * fabs(centres[k * np + j]);
			theta[i * d + j] = centres[k * np + j]
					   + bw * gsl_ran_gaussian_ziggurat(rng, 1.0);
		}
	}
}

/* Systematic resampling (Kitagawa 1996) of the N members of THETA with
 * normalised weights W into OUT. */
static void
resample(gsl_rng *rng, size_t np, size_t n, const double *w,
	 const double *theta, double *out)
{
	double u = gsl_rng_uniform(rng) / (double)n, c = w[0];
	size_t i, j = 0;

	for (i = 0; i < n; i++) {
		while (u > c && j + 1 < n)
			c += w[++j];
		memcpy(out + i * np, theta + j * np, np * sizeof *out);
		u += 1.0 / (double)n;
	}
}

/* Weighted mean and covariance of the ensemble (equal weights when
 * UNIFORM). */
static void
ens_moments(size_t np, size_t n, const double *w, int uniform,
	    const double *theta, double *mean, double *cov)
{
	size_t p, j, k;
	double wp;

	memset(mean, 0, np * sizeof *mean);
	memset(cov, 0, np * np * sizeof *cov);
	for (p = 0; p < n; p++) {
		wp = uniform ? 1.0 / (double)n : w[p];
		for (j = 0; j < np; j++)
			mean[j] += wp * theta[p * np + j];
	}
	for (p = 0; p < n; p++) {
		wp = uniform ? 1.0 / (double)n : w[p];
		for (j = 0; j < np; j++)
			for (k = 0; k <= j; k++)
				cov[j * np + k] += wp * (theta[p * np + j] - mean[j])
						   * (theta[p * np + k] - mean[k]);
	}
	for (j = 0; j < np; j++)
		for (k = 0; k < j; k++)
			cov[k * np + j] = cov[j * np + k];
}

/* Normalised weights W from log weights LOGW + PHI INC; returns the
 * effective sample size 1 / sum w^2, 0 when every weight is zero. */
static double
weights(size_t n, const double *logw, const double *inc, double phi, double *w)
{
	double mx = -INFINITY, sum = 0, sum2 = 0;
	size_t p;

	for (p = 0; p < n; p++) {
		w[p] = logw[p] + phi * inc[p];
		if (!(w[p] > -INFINITY))
			w[p] = -INFINITY;
		if (w[p] > mx)
			mx = w[p];
	}
	if (!isfinite(mx))
		return 0;
	for (p = 0; p < n; p++) {
		w[p] = exp(w[p] - mx);
		sum += w[p];
	}
	for (p = 0; p < n; p++) {
		w[p] /= sum;
		sum2 += w[p] * w[p];
	}
	return 1.0 / sum2;
}

/* Resample the ensemble by the weights W and move it with Liu & West's
 * (2001, eq. 10.3) kernel: shrink towards the weighted mean by A and
 * jitter with the weighted covariance times 1 - A^2. */
static void
lw_move(gsl_rng *rng, size_t np, size_t n, const double *w, double a,
	double *theta, double *tmp)
{
	double mean[ENS_MAXD], cov[ENS_MAXD * ENS_MAXD], l[ENS_MAXD * ENS_MAXD];
	double z[ENS_MAXD];
	size_t p, j, k;

	ens_moments(np, n, w, 0, theta, mean, cov);
	for (j = 0; j < np * np; j++)
		cov[j] *= 1 - a * a;
	cholesky(np, cov, l);
	resample(rng, np, n, w, theta, tmp);
	for (p = 0; p < n; p++) {
		for (j = 0; j < np; j++)
			z[j] = gsl_ran_gaussian_ziggurat(rng, 1.0);
		for (j = 0; j < np; j++) {
			theta[p * np + j] = a * tmp[p * np + j] + (1 - a) * mean[j];
			for (k = 0; k <= j; k++)
				theta[p * np + j] += l[j * np + k] * z[k];
		}
	}
}

/* The scaled cycle of a member's next rise of pace after X, at the rate
 * KNEE per history (PF_KNEE_RISE; exponential waiting times, memoryless,
 * so that a member moved or copied draws its next one afresh), or
 * INFINITY when KNEE is 0. */
static double
next_rise(gsl_rng *rng, double x, double knee)
{
	return knee > 0 ? x + gsl_ran_exponential(rng, 1 / knee) : INFINITY;
}

/* The particle filter over the parameters of model M (Saha & Goebel 2009,
 * with the parameters as a static state): the prior ensemble in THETA is
 * weighted observation by observation with the tempered Gaussian
 * likelihood L(y | theta)^tau.  Whenever the effective sample size would
 * fall below PF_ESS_FRAC N the observation is taken in fractional powers
 * (adaptive tempering, Jasra et al. 2011, Scand. J. Stat. 38, 1, §3.2),
 * the largest that keep it there, and the ensemble is resampled and moved
 * with the Liu-West kernel between them, so that a sharp likelihood never
 * collapses it onto a few particles.  A DRIFT above 0 lets the parameters
 * wander between observations, by DRIFT times the ensemble's covariance
 * (a discount, West & Harrison 1997, §6.3), so that old cycles count less
 * than recent ones.  KNEE above 0 lets each member's pace rise between
 * observations (PF_KNEE_RISE).  On return THETA holds an equally weighted
 * posterior ensemble. */
static enum bt_status
pf_run(gsl_rng *rng, enum bt_rul_model m, const struct clean *c, double sigma,
       double tau, double drift, double knee, size_t n, double *theta)
{
	size_t mp = bt_rul_model_nparams(m), np = mp + 2, i, p, j, k, it, splits;
	double *logw, *inc, *w, *tmp, *rate, *next, *th, r, a, phi, lo, hi, mid;
	double ess, r0, age;
	double thr = PF_ESS_FRAC * (double)n;
	double mean[ENS_MAXD], cov[ENS_MAXD * ENS_MAXD];
	double l[ENS_MAXD * ENS_MAXD], z[ENS_MAXD];
	enum bt_status st = BT_OK;

	logw = calloc(n, sizeof *logw);
	inc = malloc(n * sizeof *inc);
	w = malloc(n * sizeof *w);
	tmp = malloc(n * np * sizeof *tmp);
	rate = malloc(n * sizeof *rate);
	next = malloc(n * sizeof *next);
	if (logw == NULL || inc == NULL || w == NULL || tmp == NULL || rate == NULL
	    || next == NULL) {
		st = BT_ENOMEM;
		goto out;
	}
	/* The time scales exp(log r), kept beside the particles: they change
	 * only when the particles move. */
	for (p = 0; p < n; p++) {
		rate[p] = exp(theta[p * np + mp]);
		next[p] = next_rise(rng, c->x[0], knee);
	}
	a = (3 * PF_LW_DELTA - 1) / (2 * PF_LW_DELTA);
	for (i = 0; i < c->n; i++) {
		/* The pace's rises up to this observation, each keeping the
		 * member's age r x + b where it was. */
		for (p = 0; knee > 0 && p < n; p++)
			while (next[p] <= c->x[i]) {
				r0 = rate[p];
				theta[p * np + mp] += gsl_ran_exponential(rng, PF_KNEE_RISE);
				rate[p] = exp(theta[p * np + mp]);
				theta[p * np + mp + 1] += (r0 - rate[p]) * next[p];
				next[p] = next_rise(rng, next[p], knee);
			}
		if (i > 0 && drift > 0) {
			weights(n, logw, inc, 0, w);
			ens_moments(np, n, w, 0, theta, mean, cov);
			for (j = 0; j < np * np; j++)
				cov[j] *= drift;
			cholesky(np, cov, l);
			for (p = 0; p < n; p++) {
				for (j = 0; j < np; j++)
					z[j] = gsl_ran_gaussian_ziggurat(rng, 1.0);
				for (j = 0; j < np; j++)
					for (k = 0; k <= j; k++)
						theta[p * np + j] += l[j * np + k] * z[k];
				rate[p] = exp(theta[p * np + mp]);
			}
		}
		phi = 1;
		for (splits = 0;; splits++) {
			for (p = 0; p < n; p++) {
				th = theta + p * np;
				age = rate[p] * c->x[i] + th[mp + 1];
				r = (c->y[i] - bt_rul_model_eval(m, th, age)) / sigma;
				inc[p] = -0.5 * tau * r * r;
			}
			ess = weights(n, logw, inc, phi, w);
			if (ess >= thr || splits >= PF_MAX_SPLITS)
				break;
			/* The largest power that keeps the sample size at thr,
			 * bisected on a log scale: a sharp likelihood may need
			 * a power of 1e-8 at first. */
			lo = log(PF_MIN_POWER * phi);
			hi = log(phi);
			for (it = 0; it < PF_BISECT_ITER; it++) {
				mid = 0.5 * (lo + hi);
				if (weights(n, logw, inc, exp(mid), w) >= thr)
					lo = mid;
				else
					hi = mid;
			}
			lo = exp(lo);
			if (weights(n, logw, inc, lo, w) == 0) {
				st = BT_ENOCONV;
				goto out;
			}
			lw_move(rng, np, n, w, a, theta, tmp);
			for (p = 0; p < n; p++) {
				rate[p] = exp(theta[p * np + mp]);
				next[p] = next_rise(rng, c->x[i], knee);
			}
			memset(logw, 0, n * sizeof *logw);
			phi -= lo;
		}
		if (ess == 0) {
			st = BT_ENOCONV;
			goto out;
		}
		for (p = 0; p < n; p++)
			logw[p] += phi * inc[p];
		if (ess < thr) {
			lw_move(rng, np, n, w, a, theta, tmp);
			for (p = 0; p < n; p++) {
				rate[p] = exp(theta[p * np + mp]);
				next[p] = next_rise(rng, c->x[i], knee);
			}
			memset(logw, 0, n * sizeof *logw);
		}
	}
	weights(n, logw, inc, 0, w);
	resample(rng, np, n, w, theta, tmp);
	memcpy(theta, tmp, n * np * sizeof *tmp);
out:
	free(logw);
	free(inc);
	free(w);
	free(tmp);
	free(rate);
	free(next);
	return st;
}

/* The likelihood's noise of FIT to N points: its residual standard
 * deviation with the degrees of freedom corrected, at least SIGMA_MIN_REL
 * of the reference capacity REF. */
static double
fit_sigma(const struct bt_rul_fit *fit, size_t n, double ref)
{
	double sigma = fit->rmse * sqrt((double)n / (double)(n > fit->np ? n - fit->np : 1));

	return sigma < SIGMA_MIN_REL * ref ? SIGMA_MIN_REL * ref : sigma;
}

/* The fleet's lives as a log-normal (fleet_life). */
struct life {
	double mu, sd;
};

/* LP[h] = log of the predictive density of the N members THETA (stride
 * NP + 2, the last two log r and b) of model M for the points
 * (X[h], Y[h]), h < NH: the members' mean of a Gaussian of standard
 * deviation SIGMA about each member's path (a Monte Carlo predictive
 * density, Gelfand & Dey 1994).  SCRATCH holds 2 N doubles. */
static void
pred_logdens(enum bt_rul_model m, size_t np, size_t n, const double *theta,
	     double sigma, const double *x, const double *y, size_t nh,
	     double *lp, double *scratch)
{
	double mx, sum, r, age, *rate = scratch, *ll = scratch + n;
	const double *th;
	size_t h, p;

	for (p = 0; p < n; p++)
		rate[p] = exp(theta[p * (np + 2) + np]);
	for (h = 0; h < nh; h++) {
		mx = -INFINITY;
		for (p = 0; p < n; p++) {
			th = theta + p * (np + 2);
			age = rate[p] * x[h] + th[np + 1];
			r = (y[h] - bt_rul_model_eval(m, th, age)) / sigma;
			ll[p] = -0.5 * r * r;
			if (ll[p] > mx)
				mx = ll[p];
		}
		sum = 0;
		for (p = 0; p < n; p++)
			sum += exp(ll[p] - mx);
		lp[h] = mx + log(sum / (double)n) - log(sigma) - 0.5 * log(2 * M_PI);
	}
}

/* The stacking weights W[0..NM-1] of the NM members with log predictive
 * densities LP[j * NH + h] of the NH held-out points.  Stacking (Yao,
 * Vehtari, Simpson & Gelman 2018, Bayesian Analysis 13, 917, eq. 4) takes
 * the weights on the simplex that maximise the log score of the mixture,
 * S(w) = sum_h log sum_j w_j exp(LP[j * NH + h]).  A few held-out points,
 * strongly autocorrelated as capacity histories are, decide little, and
 * the maximum is then a noisy all-or-nothing choice.  So S is read as a
 * log likelihood of the weights, tempered by TAU = n_eff / n like every
 * likelihood here, under a uniform Dirichlet prior, and W is its posterior
 * mean (Bayesian stacking, Yao, Pirš, Vehtari & Gelman 2022, Bayesian
 * Analysis 17, 1043, §2): equal shares when the held-out points say
 * nothing, the stacking optimum when they say much.  The mean is
 * estimated by self-normalised importance sampling with STACK_DRAWS draws
 * from the prior.  LP is overwritten.  Returns BT_OK or BT_ENOMEM. */
static enum bt_status
stack_posterior(gsl_rng *rng, size_t nm, size_t nh, double *lp, double tau,
		double *w)
{
	double mx, den, *v, *ll, alpha[BT_RUL_POWER + 2], sum;
	size_t j, h, d;

	v = malloc(STACK_DRAWS * nm * sizeof *v);
	ll = malloc(STACK_DRAWS * sizeof *ll);
	if (v == NULL || ll == NULL) {
		free(v);
		free(ll);
		return BT_ENOMEM;
	}
	/* Densities relative to each point's best: S only shifts. */
	for (h = 0; h < nh; h++) {
		mx = -INFINITY;
		for (j = 0; j < nm; j++)
			if (lp[j * nh + h] > mx)
				mx = lp[j * nh + h];
		for (j = 0; j < nm; j++)
			lp[j * nh + h] = exp(lp[j * nh + h] - mx);
	}
	for (j = 0; j < nm; j++)
		alpha[j] = 1;
	mx = -INFINITY;
	for (d = 0; d < STACK_DRAWS; d++) {
		gsl_ran_dirichlet(rng, nm, alpha, v + d * nm);
		ll[d] = 0;
		for (h = 0; h < nh; h++) {
			den = 0;
			for (j = 0; j < nm; j++)
				den += v[d * nm + j] * lp[j * nh + h];
			ll[d] += tau * log(den);
		}
		if (ll[d] > mx)
			mx = ll[d];
	}
	memset(w, 0, nm * sizeof *w);
	sum = 0;
	for (d = 0; d < STACK_DRAWS; d++) {
		ll[d] = exp(ll[d] - mx);
		sum += ll[d];
		for (j = 0; j < nm; j++)
			w[j] += ll[d] * v[d * nm + j];
	}
	for (j = 0; j < nm; j++)
		w[j] /= sum;
	free(v);
	free(ll);
	return BT_OK;
}

/* The shares W[0..NE] of the pool's members: the NE fitted models FIT
 * (particle filters with the fleet prior CEN[j], NCEN[j]) and, when LIFE is
 * not NULL, the fleet's lives last.  Each member is run on the first
 * AUTO_TRAIN_FRAC of the history C (the split auto validates with) and
 * scored by its predictive density of the rest, the leave-future-out
 * scheme of time series (Bürkner, Gabry & Vehtari 2020, J. Stat. Comput.
 * Simul. 90, 2499); the shares are the Bayesian stacking weights of those
 * scores (stack_posterior), the held-out points tempered by the tau of a
 * line through the whole history.  Stacking, unlike Bayesian model
 * averaging, weighs members by how well their mixture predicts, not by
 * which one is true.  A history too short to split, or a member that
 * cannot be run on its first part, leaves equal shares (the linear opinion
 * pool of Stone 1961).  Returns BT_OK or BT_ENOMEM. */
static enum bt_status
stack_weights(gsl_rng *rng, const struct clean *c, const struct bt_rul_fit *fit,
	      size_t ne, double *const *cen, const size_t *ncen,
	      const struct life *life, const struct bt_rul_opts *o, double scale,
	      double line, double *w)
{
	size_t nm = ne + (life != NULL), ntrain, nh, ns, j, np;
	struct clean t = *c;
	struct bt_rul_fit tf;
	double *lp = NULL, *theta = NULL, *scratch = NULL, tau, qa;
	enum bt_status st = BT_OK;

	for (j = 0; j < nm; j++)
		w[j] = 1.0 / (double)nm;
	ntrain = (size_t)((double)c->n * AUTO_TRAIN_FRAC);
	nh = c->n - ntrain;
	if (nm < 2 || ntrain < o->min_points || nh == 0)
		return BT_OK;
	t.n = ntrain;
	ns = o->particles < STACK_PARTICLES ? o->particles : STACK_PARTICLES;
	lp = malloc(nm * nh * sizeof *lp);
	theta = malloc(ns * ENS_MAXD * sizeof *theta);
	scratch = malloc(2 * ns * sizeof *scratch);
	if (lp == NULL || theta == NULL || scratch == NULL) {
		st = BT_ENOMEM;
		goto out;
	}
	for (j = 0; j < ne; j++) {
		np = fit[j].np;
		if (bt_rul_fit(fit[j].model, t.x, t.y, t.n, &tf) != BT_OK)
			goto out;
		tau = temper(tf.model, tf.p, t.x, t.y, t.n);
		pf_prior(rng, tf.model, cen[j], ncen[j], &tf, tau, ns, theta);
		st = pf_run(rng, tf.model, &t, fit_sigma(&tf, t.n, t.ref), tau,
			    o->pf_drift, o->pf_knee, ns, theta);
		if (st != BT_OK) {
			st = st == BT_ENOMEM ? st : BT_OK;
			goto out;
		}
		pred_logdens(tf.model, np, ns, theta, fit_sigma(&tf, t.n, t.ref),
			     c->x + ntrain, c->y + ntrain, nh, lp + j * nh, scratch);
	}
	if (life != NULL) {
		/* The lives' members are lines: their noise is the line's. */
		if (fit_linear(t.x, t.y, t.n, &tf) != BT_OK)
			goto out;
		/* The cell outlives the end of its first part at least as
		 * likely as its last cycle, where the lives' tail is at
		 * least LIFE_MIN_TAIL (the caller's test). */
		qa = gsl_cdf_ugaussian_Q((log(t.k[t.n - 1]) - life->mu) / life->sd);
		life_members(rng, life->mu, life->sd, qa, t.k[t.n - 1], scale,
			     t.x[t.n - 1], t.y[t.n - 1], line, ns, theta);
		pred_logdens(BT_RUL_LINEAR, 2, ns, theta, fit_sigma(&tf, t.n, t.ref),
			     c->x + ntrain, c->y + ntrain, nh, lp + ne * nh, scratch);
	}
	/* The held-out points count as n_eff / n of themselves, by the
	 * autocorrelation about a line through the whole history. */
	if (fit_linear(c->x, c->y, c->n, &tf) != BT_OK)
		goto out;
	st = stack_posterior(rng, nm, nh, lp, temper(BT_RUL_LINEAR, tf.p, c->x, c->y, c->n),
			     w);
	/* A score that overflowed (every member infinitely far from a held-out
	 * point) leaves no usable shares: equal ones, as for too short a
	 * history. */
	for (j = 0; j < nm; j++)
		if (!isfinite(w[j]) || w[j] < 0)
			break;
	if (j < nm)
		for (j = 0; j < nm; j++)
			w[j] = 1.0 / (double)nm;
out:
	free(lp);
	free(theta);
	free(scratch);
	return st;
}

/* The first whole cycle after LAST (up to LAST + HORIZON) at which model M
 * with parameters P (then log r and b, the member evaluated at r x + b) is
 * at or below LINE, or INFINITY. */
static double
member_eol(enum bt_rul_model m, size_t np, const double *p, double scale,
	   double last, double horizon, double line)
{
	double k0 = floor(last) + 1, kend = floor(last + horizon), k, j, prev, c;
	double b = p[np + 1];

	/* The member's time scale folds into the axis once. */
	scale /= exp(p[np]);

	/* A falling line or a decaying exponential crosses once, where its
	 * inverse says; the neighbours of the rounded crossing are checked
	 * against the model itself, so that rounding never moves the answer
	 * by a cycle. */
	c = NAN;
	if (m == BT_RUL_LINEAR && p[1] < 0)
		c = ((line - p[0]) / p[1] - b) * scale;
	else if (m == BT_RUL_EXP && p[1] < 0 && p[0] > 0 && line > 0)
		c = (log(line / p[0]) / p[1] - b) * scale;
	if (!isnan(c)) {
		if (!(c <= kend))
			return INFINITY;
		c = c < k0 ? k0 : ceil(c);
		if (c > k0 && bt_rul_model_eval(m, p, (c - 1) / scale + b) <= line)
			c--;
		else if (bt_rul_model_eval(m, p, c / scale + b) > line)
			c++;
		return c <= kend ? c : INFINITY;
	}

	prev = k0 - 1;
	for (k = k0;; k += EOL_STRIDE) {
		if (k > kend)
			k = kend;
		if (bt_rul_model_eval(m, p, k / scale + b) <= line) {
			for (j = prev + 1; j < k; j++)
				if (bt_rul_model_eval(m, p, j / scale + b) <= line)
					return j;
			return k;
		}
		if (k >= kend)
			return INFINITY;
		prev = k;
	}
}

/* The Q-quantile (linear interpolation between order statistics, Hyndman
 * & Fan 1996 definition 7) of the N sorted values V; infinities allowed. */
static double
quantile_sorted(const double *v, size_t n, double q)
{
	double h = (double)(n - 1) * q, f = floor(h);
	size_t i = (size_t)f;

	if (i + 1 >= n || h == f)
		return v[i < n ? i : n - 1];
	if (isinf(v[i + 1]))
		return v[i + 1];
	return v[i] + (h - f) * (v[i + 1] - v[i]);
}

/* Hoare's selection within V[LO..HI]: reorder it so that V[K] is what it
 * would be were V[LO..HI] sorted (LO <= K <= HI). */
static void
select_k(double *v, size_t lo, size_t hi, size_t k)
{
	size_t i, j;
	double pivot, t;

	while (lo < hi) {
		pivot = v[lo + (hi - lo) / 2];
		i = lo;
		j = hi;
		while (i <= j) {
			while (v[i] < pivot)
				i++;
			while (v[j] > pivot)
				j--;
			if (i <= j) {
				t = v[i];
				v[i] = v[j];
				v[j] = t;
				i++;
				if (j == 0)
					break;
				j--;
			}
		}
		if (k <= j)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			return;
	}
}

/* The smallest of V[LO..HI]. */
static double
min_of(const double *v, size_t lo, size_t hi)
{
	double m = v[lo];

	while (++lo <= hi)
		if (v[lo] < m)
			m = v[lo];
	return m;
}

/* The quantiles QLO < 0.5 < QHI and the median of the N values V
 * (reordered), as quantile_sorted would give them: the median is selected
 * first, and each tail quantile within its half. */
static void
quantiles3(double *v, size_t n, double qlo, double qhi, double *lo,
	   double *med, double *hi)
{
	double h[3], f;
	size_t idx[3], k;

	h[0] = (double)(n - 1) * qlo;
	h[1] = (double)(n - 1) * 0.5;
	h[2] = (double)(n - 1) * qhi;
	for (k = 0; k < 3; k++)
		idx[k] = (size_t)floor(h[k]);
	select_k(v, 0, n - 1, idx[1]);
	if (idx[0] < idx[1])
		select_k(v, 0, idx[1] - 1, idx[0]);
	if (idx[2] > idx[1] && idx[2] < n)
		select_k(v, idx[1] + 1, n - 1, idx[2]);
	for (k = 0; k < 3; k++) {
		f = h[k] - (double)idx[k];
		h[k] = v[idx[k]];
		if (f > 0 && idx[k] + 1 < n)
			h[k] += f * (min_of(v, idx[k] + 1, k == 0 && idx[1] > idx[0] + 1
					    ? idx[1] : n - 1) - h[k]);
	}
	*lo = h[0];
	*med = h[1];
	*hi = h[2];
}

/* An ensemble of one model: N members of NP + 2 values each (the model's
 * parameters, the log time scale log r and the age offset b: the model is
 * evaluated at r x + b), equally weighted. */
struct ens {
	enum bt_rul_model m;
	size_t np, n;
	double *theta;
};

/* The forecast path of the pooled ensembles E[0..NE-1] (NTOT members in
 * all) from the cycle after LAST to END. */
static enum bt_status
trajectory(const struct ens *e, size_t ne, size_t ntot, double scale,
	   double last, double end, double q_lo, double q_hi,
	   struct bt_rul_trajectory *t)
{
	size_t steps, i, j, p, q;
	double k0 = floor(last) + 1, *v, *rate, age;
	const double *th;

	memset(t, 0, sizeof *t);
	steps = end >= k0 ? (size_t)(end - k0) + 1 : 0;
	if (steps == 0)
		return BT_OK;
	v = malloc(ntot * sizeof *v);
	rate = malloc(ntot * sizeof *rate);
	t->cycle = malloc(steps * sizeof *t->cycle);
	t->median = malloc(steps * sizeof *t->median);
	t->lo = malloc(steps * sizeof *t->lo);
	t->hi = malloc(steps * sizeof *t->hi);
	if (v == NULL || rate == NULL || t->cycle == NULL || t->median == NULL
	    || t->lo == NULL || t->hi == NULL) {
		free(v);
		free(rate);
		bt_rul_trajectory_free(t);
		return BT_ENOMEM;
	}
	for (j = 0, q = 0; j < ne; j++)
		for (p = 0; p < e[j].n; p++)
			rate[q++] = exp(e[j].theta[p * (e[j].np + 2) + e[j].np]) / scale;
	for (i = 0; i < steps; i++) {
		t->cycle[i] = k0 + (double)i;
		for (j = 0, q = 0; j < ne; j++)
			for (p = 0; p < e[j].n; p++, q++) {
				th = e[j].theta + p * (e[j].np + 2);
				age = rate[q] * t->cycle[i] + th[e[j].np + 1];
				v[q] = bt_rul_model_eval(e[j].m, th, age);
			}
		quantiles3(v, ntot, q_lo, q_hi, &t->lo[i], &t->median[i], &t->hi[i]);
	}
	t->n = steps;
	free(v);
	free(rate);
	return BT_OK;
}

/* Choose a model by AICc plus a penalty for extrapolation risk: each
 * candidate is also fitted to the first AUTO_TRAIN_FRAC of the history,
 * and the log ratio of its mean squared error on the rest to its in-sample
 * error on the whole, times the number of held-out points, is added (a
 * forward-validation term in the units of the AICc's log likelihood). */
static enum bt_status
choose_model(const struct clean *c, struct bt_rul_fit *best)
{
	static const enum bt_rul_model cand[] = {
		BT_RUL_LINEAR, BT_RUL_EXP, BT_RUL_DEXP, BT_RUL_POWER
	};
	struct bt_rul_fit full, part;
	size_t i, j, ntrain = (size_t)((double)c->n * AUTO_TRAIN_FRAC), nhold;
	double score, bestscore = INFINITY, mse, mse_full, r;

	nhold = c->n - ntrain;
	for (i = 0; i < sizeof cand / sizeof *cand; i++) {
		if (bt_rul_fit(cand[i], c->x, c->y, c->n, &full) != BT_OK)
			continue;
		score = full.aicc;
		mse_full = full.rmse * full.rmse;
		if (nhold > 0 && bt_rul_fit(cand[i], c->x, c->y, ntrain, &part) == BT_OK) {
			mse = 0;
			for (j = ntrain; j < c->n; j++) {
				r = c->y[j] - bt_rul_model_eval(cand[i], part.p, c->x[j]);
				mse += r * r / (double)nhold;
			}
			if (!isfinite(mse))
				continue;
			if (mse > mse_full && mse_full > 0)
				score += (double)nhold * log(mse / mse_full);
		}
		if (score < bestscore) {
			bestscore = score;
			*best = full;
		}
	}
	return isfinite(bestscore) ? BT_OK : BT_ENOCONV;
}

/* COUNT[0..NM-1], adding up to N, in proportion to the shares W (adding up
 * to 1): the whole parts first, then one more to each of the largest
 * remainders (Hamilton's largest-remainder method; ties to the first). */
static void
apportion(const double *w, size_t nm, size_t n, size_t *count)
{
	double rem[BT_RUL_POWER + 2], best;
	size_t j, left = n, k;

	for (j = 0; j < nm; j++) {
		count[j] = (size_t)floor(w[j] * (double)n);
		if (count[j] > left)
			count[j] = left;
		left -= count[j];
		rem[j] = w[j] * (double)n - (double)count[j];
	}
	while (left > 0) {
		best = -INFINITY;
		k = 0;
		for (j = 0; j < nm; j++)
			if (rem[j] > best) {
				best = rem[j];
				k = j;
			}
		count[k]++;
		rem[k] = -INFINITY;
		left--;
	}
}

static enum bt_status fail(struct bt_rul_result *res, enum bt_status st,
			   const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Say in RES->message why there is no forecast; returns ST. */
static enum bt_status
fail(struct bt_rul_result *res, enum bt_status st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(res->message, sizeof res->message, fmt, ap);
	va_end(ap);
	return st;
}

/* Check that the history fades: the slope of a line through it must lie
 * Z tempered standard errors below zero; as far above is a rise. */
static enum bt_status
check_trend(const struct clean *c, double scale, double z,
	    struct bt_rul_result *res)
{
	struct bt_rul_fit lin;
	double tau, se, slope;

	if (fit_linear(c->x, c->y, c->n, &lin) != BT_OK)
		return fail(res, BT_ERANGE, "no fade: all cycles are the same");
	tau = temper(BT_RUL_LINEAR, lin.p, c->x, c->y, c->n);
	se = sqrt(lin.cov[3] / tau);
	slope = lin.p[1] / scale;
	if (lin.p[1] - z * se > 0)
		return fail(res, BT_ERANGE,
			    "capacity rises (slope %.3g per cycle): no end of life to forecast",
			    slope);
	if (lin.p[1] + z * se >= 0)
		return fail(res, BT_ERANGE,
			    "no fade: the slope %.3g per cycle is within %g standard errors of zero",
			    slope, z);
	return BT_OK;
}

static enum bt_status
check_opts(const struct bt_rul_opts *o)
{
	if (o->model > BT_RUL_PF || !(o->pf_models & FITTED)
	    || (o->pf_models & ~(FITTED | BT_RUL_SET(BT_RUL_LIFE))))
		return BT_EINVAL;
	if (!(o->hampel_threshold > 0) || o->ref_points == 0 || o->particles < 2
	    || !(o->interval > 0 && o->interval < 1) || !(o->horizon >= 1)
	    || o->min_points < 3 || !(o->trend_z >= 0)
	    || !(o->pf_drift >= 0) || !(o->pf_knee >= 0 && isfinite(o->pf_knee)))
		return BT_EINVAL;
	if (isnan(o->eol_capacity) && !(o->eol_fraction > 0 && o->eol_fraction < 1))
		return BT_EINVAL;
	return BT_OK;
}

enum bt_status
bt_rul_forecast(const struct bt_rul_cell *cell, const struct bt_rul_fleet *fleet,
		const struct bt_rul_opts *o, struct bt_rul_result *res,
		struct bt_rul_trajectory *traj)
{
	enum bt_rul_model m;
	struct clean c = {0};
	struct bt_rul_fit fit[BT_RUL_POWER + 1];
	/* One ensemble per model, and one of the fleet's lives. */
	struct ens e[BT_RUL_POWER + 2] = {{0}};
	double scale, sigma, tau, *eol = NULL, *cen[BT_RUL_POWER + 1] = {NULL};
	double share[BT_RUL_POWER + 2], qa = 0;
	struct life life = {0, 0};
	size_t ncen[BT_RUL_POWER + 1] = {0}, count[BT_RUL_POWER + 2];
	int has_life = 0;
	double l[BT_RUL_MAXP * BT_RUL_MAXP], cov[BT_RUL_MAXP * BT_RUL_MAXP];
	double q_lo, q_hi, end;
	size_t i, j, k, np, n = o->particles, ne = 0, ntot = 0;
	size_t nlives = 0, nlife = 0;
	gsl_rng *rng = NULL;
	enum bt_status st;

	memset(res, 0, sizeof *res);
	if (traj != NULL)
		memset(traj, 0, sizeof *traj);
	res->rul = res->rul_lo = res->rul_hi = NAN;
	res->eol_cycle = res->eol_lo = res->eol_hi = NAN;
	res->rmse = res->tau = res->life_median = res->life_weight = NAN;
	res->model = o->model;
	res->base = o->model;
	if ((st = check_opts(o)) != BT_OK)
		return st;
	res->points = cell->n;
	res->last_cycle = bt_rul_cell_last(cell);
	if (cell->n < o->min_points)
		return fail(res, BT_EEMPTY, "too few cycles: %zu, at least %zu needed",
			    cell->n, o->min_points);
	scale = res->last_cycle;
	if (!(scale > 0))
		return fail(res, BT_ERANGE, "the last cycle number %g is not positive",
			    scale);
	if ((st = clean_cell(cell, o, scale, &c)) != BT_OK)
		return st;
	res->flagged = c.flagged;
	res->reference = c.ref;
	res->eol_level = isnan(o->eol_capacity) ? o->eol_fraction * c.ref : o->eol_capacity;
	if (c.n < o->min_points) {
		st = fail(res, BT_EEMPTY,
			  "too few cycles: %zu after cleaning, at least %zu needed",
			  c.n, o->min_points);
		goto out;
	}
	for (i = 0; i < c.n; i++)
		if (c.y[i] <= res->eol_level) {
			/* End of life is in the data already. */
			res->reached = 1;
			res->eol_cycle = res->eol_lo = res->eol_hi = c.k[i];
			res->rul = res->rul_lo = res->rul_hi = 0;
			st = BT_OK;
			goto out;
		}
	if ((st = check_trend(&c, scale, o->trend_z, res)) != BT_OK)
		goto out;

	/* The parametric models: one chosen or named, or the filter's pool. */
	rng = gsl_rng_alloc(gsl_rng_mt19937);
	if (rng == NULL) {
		st = BT_ENOMEM;
		goto out;
	}
	gsl_rng_set(rng, (unsigned long)o->seed);
	if (o->model == BT_RUL_AUTO) {
		if ((st = choose_model(&c, &fit[0])) == BT_OK)
			ne = 1;
		m = fit[0].model;
	} else {
		for (k = BT_RUL_LINEAR; k <= BT_RUL_POWER && ne < n; k++) {
			m = (enum bt_rul_model)k;
			if (o->model == BT_RUL_PF ? !(o->pf_models & BT_RUL_SET(m))
			    : m != o->model)
				continue;
			if (res->base == BT_RUL_PF)
				res->base = m;
			if (bt_rul_fit(m, c.x, c.y, c.n, &fit[ne]) == BT_OK)
				ne++;
		}
		m = res->base;
		st = ne > 0 ? BT_OK : BT_ENOCONV;
	}
	if (st != BT_OK) {
		if (st == BT_ENOCONV)
			snprintf(res->message, sizeof res->message,
				 "the %s model cannot be fitted to this history",
				 bt_rul_model_name(m));
		goto out;
	}
	res->base = fit[0].model;
	eol = malloc(n * sizeof *eol);
	if (eol == NULL) {
		st = BT_ENOMEM;
		goto out;
	}
	/* The fleet's lives are one more member of the pool when there are
	 * any and the cell may still outlive the current cycle by their
	 * distribution. */
	if (o->model == BT_RUL_PF && (o->pf_models & BT_RUL_SET(BT_RUL_LIFE))) {
		if ((st = fleet_life(fleet, cell->name, o, &life.mu, &life.sd, &nlives)) != BT_OK)
			goto out;
		qa = nlives > 0 ? gsl_cdf_ugaussian_Q((log(res->last_cycle) - life.mu)
						      / life.sd) : 0;
		if (qa >= LIFE_MIN_TAIL)
			has_life = 1;
	}
	share[0] = 1;
	if (o->model == BT_RUL_PF) {
		for (j = 0; j < ne; j++) {
			st = fleet_fits(fleet, cell->name, o, fit[j].model, scale, c.ref,
					res->eol_level, &cen[j], &ncen[j]);
			if (st != BT_OK)
				goto out;
			res->fleet_used = ncen[j];
		}
		st = stack_weights(rng, &c, fit, ne, cen, ncen, has_life ? &life : NULL,
				   o, scale, res->eol_level, share);
		if (st != BT_OK)
			goto out;
	}
	/* The members in proportion to the shares, the remainders to the
	 * largest fractions (Hamilton's method), so that they add up to n. */
	apportion(share, ne + has_life, n, count);
	if (has_life) {
		nlife = count[ne];
		res->life_weight = share[ne];
		res->life_median = exp(life.mu);
	}
	for (j = 0; j < ne; j++) {
		np = fit[j].np;
		m = fit[j].model;
		e[j].m = m;
		e[j].np = np;
		e[j].n = count[j];
		tau = temper(m, fit[j].p, c.x, c.y, c.n);
		if (j == 0 || fit[j].rmse < res->rmse) {
			res->rmse = fit[j].rmse;
			res->tau = tau;
		}
		if (e[j].n == 0)
			continue;
		res->pool |= BT_RUL_SET(m);
		sigma = fit_sigma(&fit[j], c.n, c.ref);
		if ((e[j].theta = malloc(e[j].n * (np + 2) * sizeof *e[j].theta)) == NULL) {
			st = BT_ENOMEM;
			goto out;
		}
		if (o->model == BT_RUL_PF) {
			pf_prior(rng, m, cen[j], ncen[j], &fit[j], tau, e[j].n, e[j].theta);
			st = pf_run(rng, m, &c, sigma, tau, o->pf_drift, o->pf_knee, e[j].n,
				    e[j].theta);
			if (st != BT_OK) {
				snprintf(res->message, sizeof res->message,
					 "the particle filter lost every particle");
				goto out;
			}
		} else {
			/* The fit's sampling distribution, widened by 1 / tau
			 * for the residuals' autocorrelation. */
			for (i = 0; i < np * np; i++)
				cov[i] = fit[j].cov[i] / tau;
			cholesky(np, cov, l);
			draw_gaussian(rng, np, np + 2, fit[j].p, l, e[j].n, e[j].theta);
			for (i = 0; i < e[j].n; i++) {
				e[j].theta[i * (np + 2) + np] = 0;
				e[j].theta[i * (np + 2) + np + 1] = 0;
			}
		}
		for (i = 0; i < e[j].n; i++)
			eol[ntot + i] = member_eol(m, np, e[j].theta + i * (np + 2), scale,
						   res->last_cycle, o->horizon, res->eol_level);
		ntot += e[j].n;
	}
	if (nlife > 0) {
		e[ne].m = BT_RUL_LINEAR;
		e[ne].np = 2;
		e[ne].n = nlife;
		if ((e[ne].theta = malloc(nlife * 4 * sizeof *e[ne].theta)) == NULL) {
			st = BT_ENOMEM;
			goto out;
		}
		life_members(rng, life.mu, life.sd, qa, res->last_cycle, scale, c.x[c.n - 1],
			     c.y[c.n - 1], res->eol_level, nlife, e[ne].theta);
		for (i = 0; i < nlife; i++)
			eol[ntot + i] = member_eol(BT_RUL_LINEAR, 2, e[ne].theta + i * 4, scale,
						   res->last_cycle, o->horizon, res->eol_level);
		ntot += nlife;
		res->life_members = nlife;
		res->pool |= BT_RUL_SET(BT_RUL_LIFE);
		ne++;
	}

	qsort(eol, n, sizeof *eol, cmp_double);
	q_lo = 0.5 * (1 - o->interval);
	q_hi = 1 - q_lo;
	res->eol_cycle = quantile_sorted(eol, n, 0.5);
	res->eol_lo = quantile_sorted(eol, n, q_lo);
	res->eol_hi = quantile_sorted(eol, n, q_hi);
	if (isinf(res->eol_hi)) {
		res->open = 1;
		res->eol_hi = NAN;
	}
	if (isinf(res->eol_cycle))
		res->eol_cycle = NAN;
	if (isinf(res->eol_lo))
		res->eol_lo = NAN;
	res->rul = res->eol_cycle - res->last_cycle;
	res->rul_lo = res->eol_lo - res->last_cycle;
	res->rul_hi = res->eol_hi - res->last_cycle;
	if (traj != NULL) {
		end = res->open ? floor(res->last_cycle + o->horizon) : ceil(res->eol_hi);
		st = trajectory(e, ne, n, scale, res->last_cycle, end, q_lo, q_hi, traj);
	}
out:
	gsl_rng_free(rng);
	for (j = 0; j < BT_RUL_POWER + 2; j++)
		free(e[j].theta);
	free(eol);
	for (j = 0; j < BT_RUL_POWER + 1; j++)
		free(cen[j]);
	clean_free(&c);
	return st;
}
