/* bt_soc.c - the state-of-charge estimator behind bt-soc (see bt_soc.h).
 *
 * Coulomb counting is the Kalman filter's time update alone: the soc
 * follows eta i dt / (3600 Q) ([Plett04] Part 2, eq. (1)) and its variance
 * grows with the process and current noise, so that its interval widens
 * honestly; its model voltage and innovation are reported but never fed
 * back.
 *
 * The network methods: nn is the network's streaming prediction
 * (bt_net) alone.  nn+ekf is the extended filter on the cell model with
 * the network's soc as a second, direct measurement of the state, applied
 * after the voltage update (bt_kf_update_soc): the physics model carries
 * the fast dynamics and the coulomb count, the network pins the slowly
 * drifting soc that the flat OCV curve leaves poorly observed.  This is
 * the fusion of a data-driven soc observation with a model-based filter
 * of the hybrid-twin literature, in its simplest (loosely coupled) form.
 *
 * Drift detection ([BSLK01] sec. 5.4.2, the chi-square test of the time
 * average of the normalised innovation squared): for a consistent filter
 * the NIS values e^2/S are chi-square with one degree of freedom, so the
 * sum of W of them is chi-square with W degrees of freedom, and the
 * window mean lies in [chi2inv(alpha/2, W), chi2inv(1 - alpha/2, W)] / W
 * with probability 1 - alpha.  A window mean above the upper bound flags
 * drift: the measurements have left the model.
 *
 * [Plett04] G. L. Plett, J. Power Sources 134 (2004) 252-292.
 * [BSLK01] Y. Bar-Shalom, X. R. Li, T. Kirubarajan, Estimation with
 *   Applications to Tracking and Navigation, Wiley 2001.
 */
#include <config.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>

#include "bt_soc.h"
#include "bt_stream.h"

/* Bisection of the OCV curve: iterations halve [0, 1] down to 2^-60. */
#define OCV_BISECTION_STEPS 60

static const char *const method_names[BT_SOC_NMETHODS] = {
	"cc", "ekf", "ukf", "pf", "nn", "nn+ekf"
};

struct bt_soc {
	const struct bt_ecm *ecm;
	struct bt_soc_opts o;
	struct bt_kf *kf;	/* cc, ekf, ukf */
	struct bt_pf *pf;	/* pf */
	struct bt_net_stream *stream;	/* nn, nn+ekf */
	int started;
	double t_prev, i_prev;
	double soc_init;
	int under_load;
	/* drift */
	double *ring;
	size_t ring_n, ring_pos;
	double ring_sum;
	struct bt_soc_drift drift;
	unsigned long rows;
};

const char *
bt_soc_method_name(enum bt_soc_method m)
{
	return (unsigned)m < BT_SOC_NMETHODS ? method_names[m] : "unknown";
}

enum bt_status
bt_soc_method_parse(const char *name, enum bt_soc_method *m)
{
	size_t k;

	for (k = 0; k < BT_SOC_NMETHODS; k++)
		if (strcmp(name, method_names[k]) == 0) {
			*m = (enum bt_soc_method)k;
			return BT_OK;
		}
	return BT_EINVAL;
}

void
bt_soc_opts_init(struct bt_soc_opts *o)
{
	memset(o, 0, sizeof *o);
	o->method = BT_SOC_EKF;
	o->soc0 = NAN;
	o->max_gap_s = BT_SOC_DEFAULT_MAX_GAP_S;
	o->rest_current_a = BT_SOC_DEFAULT_REST_CURRENT_A;
	bt_kf_opts_init(&o->kf);
	/* The random walks' defaults depend on the method (bt_pf.h). */
	o->kf.q_soc = NAN;
	o->kf.q_offset_c = NAN;
	o->particles = BT_PF_DEFAULT_PARTICLES;
	o->seed = BT_PF_DEFAULT_SEED;
	o->drift_window = BT_SOC_DEFAULT_DRIFT_WINDOW;
	o->drift_alpha = BT_SOC_DEFAULT_DRIFT_ALPHA;
	o->net = NULL;
	o->net_mode = BT_NET_INCREMENTAL;
	o->r_nn = BT_SOC_DEFAULT_R_NN;
	o->r_nn_tau_s = BT_SOC_DEFAULT_R_NN_TAU_S;
}

static enum bt_status
invalid(char *errmsg, const char *what)
{
	if (errmsg)
		snprintf(errmsg, BT_ERRMSG_SIZE, "%s", what);
	return BT_EINVAL;
}

void
bt_soc_free(struct bt_soc *s)
{
	if (s == NULL)
		return;
	bt_kf_free(s->kf);
	bt_pf_free(s->pf);
	bt_net_stream_free(s->stream);
	free(s->ring);
	free(s);
}

/* Create the method's filter at SOC0 in S->kf or S->pf (nn has none). */
static enum bt_status
make_filter(struct bt_soc *s, double soc0, char *errmsg)
{
	struct bt_kf_opts ko = s->o.kf;
	struct bt_pf_opts po;

	if (s->o.method == BT_SOC_NN)
		return BT_OK;
	if (s->o.method != BT_SOC_PF) {
		if (isnan(ko.q_soc))
			ko.q_soc = BT_KF_DEFAULT_Q_SOC;
		if (isnan(ko.q_offset_c))
			ko.q_offset_c = BT_KF_DEFAULT_Q_OFFSET_C;
		return bt_kf_alloc(s->ecm, &ko, soc0, &s->kf, errmsg);
	}
	bt_pf_opts_init(&po);
	po.particles = s->o.particles;
	po.seed = s->o.seed;
	if (!isnan(s->o.kf.q_soc))
		po.q_soc = s->o.kf.q_soc;
	po.q_i = s->o.kf.q_i;
	po.r_v = s->o.kf.r_v;
	po.r_tau_s = s->o.kf.r_tau_s;
	po.p0_soc = s->o.kf.p0_soc;
	po.p0_offset_c = s->o.kf.p0_offset_c;
	if (!isnan(s->o.kf.q_offset_c))
		po.q_offset_c = s->o.kf.q_offset_c;
	return bt_pf_alloc(s->ecm, &po, soc0, &s->pf, errmsg);
}

enum bt_status
bt_soc_alloc(const struct bt_ecm *ecm, const struct bt_soc_opts *opts,
	     struct bt_soc **out, char errmsg[BT_ERRMSG_SIZE])
{
	struct bt_soc *s;
	enum bt_status st;
	double w;

	*out = NULL;
	if ((unsigned)opts->method >= BT_SOC_NMETHODS)
		return invalid(errmsg, "unknown method");
	if (!isnan(opts->soc0) && !(opts->soc0 >= 0 && opts->soc0 <= 1))
		return invalid(errmsg, "the initial soc must lie in [0, 1]");
	if (!(opts->max_gap_s > 0))
		return invalid(errmsg, "the longest step must be positive");
	if (!(opts->rest_current_a >= 0) || !isfinite(opts->rest_current_a))
		return invalid(errmsg, "the rest current must not be negative");
	if (opts->kf.adapt && opts->method != BT_SOC_EKF && opts->method != BT_SOC_UKF)
		return invalid(errmsg, "adaptation needs the ekf or the ukf");
	if ((opts->method == BT_SOC_NN || opts->method == BT_SOC_NN_EKF)
	    && opts->net == NULL)
		return invalid(errmsg, "the methods nn and nn+ekf need a network");
	if (opts->method != BT_SOC_NN && ecm == NULL)
		return invalid(errmsg, "the method needs a cell model");
	if (opts->method == BT_SOC_NN_EKF
	    && (!(opts->r_nn > 0) || !isfinite(opts->r_nn)
		|| !(opts->r_nn_tau_s >= 0) || !isfinite(opts->r_nn_tau_s)))
		return invalid(errmsg, "r_nn must be positive and its "
			       "correlation time not negative");
	if (opts->kf.adapt && (opts->drift_window < 1
			       || !(opts->drift_alpha > 0 && opts->drift_alpha < 1)))
		return invalid(errmsg, "the drift window must be at least 1 and "
			       "its significance in (0, 1)");
	s = calloc(1, sizeof *s);
	if (s == NULL)
		return BT_ENOMEM;
	s->ecm = ecm;
	s->o = *opts;
	s->o.kf.method = opts->method == BT_SOC_UKF ? BT_KF_UKF : BT_KF_EKF;
	/* The filter starts at the first sample; its options are checked
	 * now, by making one at mid charge. */
	if ((st = make_filter(s, 0.5, errmsg)) != BT_OK) {
		bt_soc_free(s);
		return st;
	}
	bt_kf_free(s->kf);
	bt_pf_free(s->pf);
	s->kf = NULL;
	s->pf = NULL;
	if (opts->method == BT_SOC_NN || opts->method == BT_SOC_NN_EKF) {
		if ((st = bt_net_stream_alloc(opts->net, opts->net_mode,
					      &s->stream)) != BT_OK) {
			bt_soc_free(s);
			return st == BT_EINVAL ? invalid(errmsg, "unknown streaming "
							 "mode") : st;
		}
	}
	s->soc_init = NAN;
	s->drift.first_time_s = NAN;
	s->drift.peak_nis_mean = NAN;
	s->drift.peak_time_s = NAN;
	s->drift.lower = s->drift.upper = NAN;
	if (opts->kf.adapt) {
		s->ring = calloc(opts->drift_window, sizeof *s->ring);
		if (s->ring == NULL) {
			bt_soc_free(s);
			return BT_ENOMEM;
		}
		w = (double)opts->drift_window;
		s->drift.lower = gsl_cdf_chisq_Pinv(opts->drift_alpha / 2, w) / w;
		s->drift.upper = gsl_cdf_chisq_Pinv(1 - opts->drift_alpha / 2, w) / w;
	}
	*out = s;
	return BT_OK;
}

double
bt_soc_from_ocv(const struct bt_ecm *ecm, double ocv_v, double temp_c)
{
	double lo = 0, hi = 1, mid;
	int k;

	if (!(ocv_v > bt_ecm_ocv(ecm, 0, temp_c, NULL)))
		return 0;
	if (!(ocv_v < bt_ecm_ocv(ecm, 1, temp_c, NULL)))
		return 1;
	for (k = 0; k < OCV_BISECTION_STEPS; k++) {
		mid = 0.5 * (lo + hi);
		if (bt_ecm_ocv(ecm, mid, temp_c, NULL) < ocv_v)
			lo = mid;
		else
			hi = mid;
	}
	return 0.5 * (lo + hi);
}

double
bt_soc_initial(const struct bt_soc *s)
{
	return s->soc_init;
}

int
bt_soc_initial_under_load(const struct bt_soc *s)
{
	return s->under_load;
}

static enum bt_status
start(struct bt_soc *s, double current_a, double voltage_v, double temp_c)
{
	double z0 = s->o.soc0, r0;
	enum bt_status st;

	if (s->o.method == BT_SOC_NN)
		return BT_OK;	/* no filter: the network starts itself */
	if (isnan(z0)) {
		if (!isfinite(voltage_v))
			return BT_ENONFINITE;
		/* The rested voltage is the OCV; under a small load, take R0 i
		 * off it (the RC voltages of a cell that was at rest are 0). */
		r0 = bt_ecm_r0(s->ecm, bt_soc_from_ocv(s->ecm, voltage_v, temp_c),
			       temp_c);
		z0 = bt_soc_from_ocv(s->ecm, voltage_v - r0 * current_a, temp_c);
		s->under_load = fabs(current_a) > s->o.rest_current_a;
	}
	if ((st = make_filter(s, z0, NULL)) != BT_OK)
		return st;
	s->soc_init = z0;
	return BT_OK;
}

/* Feed the row's NIS to the drift window. */
static void
drift_add(struct bt_soc *s, double time_s, struct bt_soc_row *row)
{
	size_t w = s->o.drift_window;

	row->nis_mean = NAN;
	row->drift = 0;
	if (!isfinite(row->nis))
		return;
	if (s->ring_n == w)
		s->ring_sum -= s->ring[s->ring_pos];
	else
		s->ring_n++;
	s->ring[s->ring_pos] = row->nis;
	s->ring_sum += row->nis;
	s->ring_pos = (s->ring_pos + 1) % w;
	if (s->ring_n < w)
		return;
	row->nis_mean = s->ring_sum / (double)w;
	if (!(row->nis_mean <= s->drift.peak_nis_mean)) {
		s->drift.peak_nis_mean = row->nis_mean;
		s->drift.peak_time_s = time_s;
	}
	if (row->nis_mean > s->drift.upper) {
		row->drift = 1;
		if (s->drift.flagged++ == 0) {
			s->drift.first_time_s = time_s;
			s->drift.first_row = s->rows;
		}
	}
}

/* The network's row: its output alone, no interval, no model voltage. */
static void
nn_row(struct bt_soc_row *row, double y)
{
	row->soc = row->soc_nn = y;
	row->soc_sd = row->soc_lo = row->soc_hi = NAN;
	row->v_model_v = row->innovation_v = row->nis = NAN;
	row->r0_ohm = row->capacity_ah = NAN;
	row->nis_mean = NAN;
	row->drift = 0;
}

enum bt_status
bt_soc_update(struct bt_soc *s, double time_s, double current_a,
	      double voltage_v, double temp_c, struct bt_soc_row *row)
{
	return bt_soc_update_net(s, time_s, current_a, voltage_v, temp_c, NULL, row);
}

enum bt_status
bt_soc_update_net(struct bt_soc *s, double time_s, double current_a,
		  double voltage_v, double temp_c, const double *net_x,
		  struct bt_soc_row *row)
{
	struct bt_kf_result kr;
	struct bt_pf_result pr;
	enum bt_status st;
	double dt = NAN, i_hold, y = NAN, var;

	if (!isfinite(time_s) || !isfinite(current_a) || !isfinite(temp_c))
		return BT_ENONFINITE;
	if (s->stream != NULL) {
		if (net_x == NULL)
			return BT_EINVAL;
		if (s->started && time_s < s->t_prev)
			return BT_ETIME;
		if ((st = bt_net_stream_step(s->stream, net_x, &y)) != BT_OK)
			return st;
	}
	if (s->o.method == BT_SOC_NN) {
		s->started = 1;
		s->t_prev = time_s;
		s->rows++;
		nn_row(row, y);
		return BT_OK;
	}
	if (!s->started) {
		if ((st = start(s, current_a, voltage_v, temp_c)) != BT_OK)
			return st;
	} else {
		if (time_s < s->t_prev)
			return BT_ETIME;
		dt = time_s - s->t_prev;
		/* Zero-order hold: the previous sample's current flowed until
		 * now, unless the gap is too long to believe it did. */
		i_hold = dt > s->o.max_gap_s ? 0 : s->i_prev;
		st = s->pf ? bt_pf_predict(s->pf, i_hold, dt, temp_c)
			   : bt_kf_predict(s->kf, i_hold, dt, temp_c);
		if (st != BT_OK)
			return st;
	}
	s->started = 1;
	s->t_prev = time_s;
	s->i_prev = current_a;
	s->rows++;

	if (s->pf) {
		if ((st = bt_pf_update(s->pf, current_a, voltage_v, temp_c, &pr)) != BT_OK)
			return st;
		row->soc = pr.soc;
		row->soc_sd = pr.soc_sd;
		row->v_model_v = pr.v_model_v;
		row->innovation_v = pr.innovation_v;
		row->nis = pr.nis;
		row->r0_ohm = pr.r0_ohm;
		row->capacity_ah = bt_ecm_capacity_ah(s->ecm);
	} else {
		/* Coulomb counting reports the model's voltage but does not
		 * correct the state with it. */
		st = bt_kf_update(s->kf, current_a,
				  s->o.method == BT_SOC_CC ? NAN : voltage_v,
				  temp_c, &kr);
		if (st != BT_OK)
			return st;
		row->soc = kr.soc;
		row->soc_sd = kr.soc_sd;
		row->v_model_v = kr.v_model_v;
		row->innovation_v = voltage_v - kr.v_model_v;
		/* No nis for a sample the filter did not weigh (a repeated
		 * time stamp under a correlated error: infinite variance). */
		row->nis = isfinite(kr.innovation_var)
			   ? row->innovation_v * row->innovation_v / kr.innovation_var
			   : NAN;
		row->r0_ohm = kr.r0_ohm;
		row->capacity_ah = kr.capacity_ah;
		/* nn+ekf: the network's soc once it has a full window, weighed
		 * for its correlated error (none at a repeated time stamp). */
		var = isnan(dt) ? s->o.r_nn * s->o.r_nn
		      : bt_kf_sample_variance(s->o.r_nn, s->o.r_nn_tau_s, dt);
		if (s->stream != NULL && !isnan(y) && isfinite(var)) {
			if ((st = bt_kf_update_soc(s->kf, y, sqrt(var), &kr)) != BT_OK)
				return st;
			row->soc = kr.soc;
			row->soc_sd = kr.soc_sd;
		}
	}
	row->soc_nn = y;
	row->soc_lo = fmax(0, fmin(1, row->soc - BT_SOC_INTERVAL_Z * row->soc_sd));
	row->soc_hi = fmax(0, fmin(1, row->soc + BT_SOC_INTERVAL_Z * row->soc_sd));
	row->nis_mean = NAN;
	row->drift = 0;
	if (s->ring)
		drift_add(s, time_s, row);
	return BT_OK;
}

void
bt_soc_drift_summary(const struct bt_soc *s, struct bt_soc_drift *d)
{
	*d = s->drift;
}

void
bt_soc_drift_message(const struct bt_soc *s, char *buf, size_t size)
{
	const struct bt_soc_drift *d = &s->drift;

	if (d->flagged == 0)
		snprintf(buf, size, "drift: none; the window mean nis stayed below "
			 "%.4g (peak %.4g)", d->upper, d->peak_nis_mean);
	else
		snprintf(buf, size, "drift: the measurements left the model at "
			 "%.10g s (row %lu); the window mean nis peaked at %.4g at "
			 "%.10g s (upper bound %.4g); %zu rows flagged", d->first_time_s,
			 d->first_row, d->peak_nis_mean, d->peak_time_s, d->upper,
			 d->flagged);
}

/* --- Output rows ------------------------------------------------------------- */

/* The columns in order: the base seven, the three of adaptation, and
 * nn+ekf's network output. */
static const char *const column_names[BT_SOC_MAX_COLUMNS] = {
	"soc", "soc_sd", "soc_lo", "soc_hi", "v_model_v", "innovation_v", "nis",
	"r0_ohm", "capacity_ah", "drift", "soc_nn"
};
#define N_BASE_COLUMNS 7
#define N_ADAPT_COLUMNS 3

size_t
bt_soc_columns(enum bt_soc_method method, int adapt,
	       const char *names[BT_SOC_MAX_COLUMNS + 1])
{
	size_t n = 0, k;

	names[n++] = column_names[0];
	for (k = 1; method != BT_SOC_NN && k < N_BASE_COLUMNS; k++)
		names[n++] = column_names[k];
	for (k = 0; adapt && k < N_ADAPT_COLUMNS; k++)
		names[n++] = column_names[N_BASE_COLUMNS + k];
	if (method == BT_SOC_NN_EKF)
		names[n++] = column_names[BT_SOC_MAX_COLUMNS - 1];
	names[n] = NULL;
	return n;
}

void
bt_soc_write_row(struct bt_writer *w, const struct bt_soc_row *e,
		 enum bt_soc_method method, int adapt)
{
	bt_writer_number_or_empty(w, e->soc);
	if (method == BT_SOC_NN)
		return;
	bt_writer_number(w, e->soc_sd);
	bt_writer_number(w, e->soc_lo);
	bt_writer_number(w, e->soc_hi);
	bt_writer_number(w, e->v_model_v);
	if (isnan(e->innovation_v)) {
		bt_writer_empty(w);
		bt_writer_empty(w);
	} else {
		bt_writer_number(w, e->innovation_v);
		bt_writer_number_or_empty(w, e->nis);
	}
	if (adapt) {
		bt_writer_number(w, e->r0_ohm);
		bt_writer_number(w, e->capacity_ah);
		if (isnan(e->nis_mean))
			bt_writer_empty(w);
		else
			bt_writer_raw(w, e->drift ? "1" : "0", 1);
	}
	if (method == BT_SOC_NN_EKF)
		bt_writer_number_or_empty(w, e->soc_nn);
}

/* --- Metrics ------------------------------------------------------------------ */

void
bt_soc_metrics_init(struct bt_soc_metrics *m, double skip_s)
{
	memset(m, 0, sizeof *m);
	m->skip_s = skip_s;
	m->start_s = NAN;
	m->converged_s = NAN;
	m->final_error = NAN;
	bt_stats_init(&m->err);
}

void
bt_soc_metrics_add(struct bt_soc_metrics *m, double time_s,
		   const struct bt_soc_row *row, double reference)
{
	double e = row->soc - reference;

	if (!isfinite(reference))
		return;
	if (isnan(m->start_s))
		m->start_s = time_s;
	if (isnan(row->soc))
		return;	/* nn before its first full window */
	/* Convergence: the first sample after the last one whose error was
	 * too large (any_bad 2: waiting for that sample). */
	if (!(fabs(e) < BT_SOC_CONVERGED_ERROR)) {
		m->any_bad = 2;
	} else if (m->any_bad == 2) {
		m->any_bad = 1;
		m->converged_s = time_s;
	}
	m->final_error = e;
	m->last_s = time_s;
	if (time_s < m->start_s + m->skip_s)
		return;
	bt_stats_add(&m->err, e);
	if (isnan(row->soc_lo))
		return;
	m->intervals++;
	if (reference >= row->soc_lo && reference <= row->soc_hi)
		m->inside++;
}

struct bt_soc_summary
bt_soc_metrics_summary(const struct bt_soc_metrics *m)
{
	struct bt_stats_summary s = bt_stats_summary(&m->err);
	struct bt_soc_summary r;

	r.n = s.n;
	r.rmse = s.rmse;
	r.mae = s.mae;
	r.max_abs = s.max_abs;
	r.bias = s.bias;
	r.coverage = m->intervals ? (double)m->inside / (double)m->intervals : NAN;
	r.final_error = m->final_error;
	if (isnan(m->start_s) || m->any_bad == 2)
		r.convergence_s = NAN;
	else if (m->any_bad == 0)
		r.convergence_s = 0;
	else
		r.convergence_s = m->converged_s - m->start_s;
	return r;
}

enum bt_status
bt_soc_write_summary(struct bt_writer *w, const char *method,
		     const char *reference, const struct bt_soc_summary *s)
{
	static const char *const names[] = {
		"method", "reference", "n", "rmse", "mae", "max_abs", "bias",
		"coverage", "convergence_s", "final_error"
	};
	enum bt_status st;

	bt_writer_names(w, names, sizeof names / sizeof names[0]);
	st = bt_writer_end_row(w);
	bt_writer_raw(w, method, strlen(method));
	bt_writer_text(w, reference, strlen(reference));
	bt_writer_number(w, (double)s->n);
	bt_writer_number(w, s->rmse);
	bt_writer_number(w, s->mae);
	bt_writer_number(w, s->max_abs);
	bt_writer_number(w, s->bias);
	bt_writer_number(w, s->coverage);
	bt_writer_number(w, s->convergence_s);
	bt_writer_number(w, s->final_error);
	return st;
}
