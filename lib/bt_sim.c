/* bt_sim.c - the cell simulator: protocol state machines (HPPC, constant
 * current, synthetic drive cycle) and a replay of a given current profile,
 * each driving bt_ecm_step() and adding seeded sensor noise.
 *
 * Two MT19937 generators are used, both seeded from opts.seed: one for the
 * measurement noise and one for the drive cycle, so that the current of a
 * drive cycle does not change when the noise levels do.  Each row draws
 * exactly three Gaussian numbers (current, voltage, temperature noise),
 * even when a noise level is 0, for the same reason.
 */
#include "bt_sim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

/* Seconds per hour: C-rates times the capacity in Ah give amperes. */
#define SECONDS_PER_HOUR 3600.0

/* A duration D covers ceil(D/dt - STEP_ROUND_TOL) samples, so that a
 * duration that is a multiple of dt up to rounding gets exactly that many. */
#define STEP_ROUND_TOL 1e-9

/* Tolerance on soc comparisons for the HPPC pulse-set levels. */
#define SOC_LEVEL_TOL 1e-9

/* The soc range outside which a simulation stops (the table's range),
 * widened by a rounding tolerance so that a run that ends exactly at 0 or
 * 1 (1C for one hour) is not stopped by the last bits of the sum. */
#define SOC_LIMIT_MIN 0.0
#define SOC_LIMIT_MAX 1.0
#define SOC_LIMIT_TOL 1e-9

/* Above this soc a drive's regenerative segments carry no current, as a
 * battery management system stops regenerative braking on a nearly full
 * cell; this keeps a drive that starts full inside the table. */
#define DRIVE_REGEN_SOC_MAX 0.95

/* The single program step of the cc, drive and profile simulations. */
#define SINGLE_STEP 1

/* Golden-ratio increment and mixing constants of SplitMix64 (G. L.
 * Steele, D. Lea and C. H. Flood, "Fast splittable pseudorandom number
 * generators", OOPSLA 2014), used to derive the generators' seeds. */
#define SPLITMIX_GAMMA UINT64_C(0x9e3779b97f4a7c15)
#define SPLITMIX_MUL1 UINT64_C(0xbf58476d1ce4e5b9)
#define SPLITMIX_MUL2 UINT64_C(0x94d049bb133111eb)

/* Synthetic drive cycle: segments of four kinds follow a Markov chain.
 * The shapes (durations in seconds, levels as fractions of the peak
 * current) give micro-trips like those of the DST and FUDS schedules:
 * short hard accelerations, longer light cruising, brief regenerative
 * braking and stops.  The mean current is a net discharge of about 0.4C. */
enum seg {
	SEG_REST,
	SEG_ACCEL,
	SEG_CRUISE,
	SEG_REGEN,
	NSEG
};

static const struct {
	double min_s, max_s;	/* segment length, uniform */
	double lo, hi;		/* level, uniform, fraction of the peak */
	double sign;		/* -1 discharge, +1 charge */
} seg_shape[NSEG] = {
	[SEG_REST] = { 5, 40, 0, 0, 0 },
	[SEG_ACCEL] = { 4, 16, 0.5, 1.0, -1 },
	[SEG_CRUISE] = { 10, 60, 0.05, 0.2, -1 },
	[SEG_REGEN] = { 3, 12, 0.2, 1.0, +1 },
};

/* Transition probabilities: row = this segment, column = the next. */
static const double seg_next[NSEG][NSEG] = {
	[SEG_REST] = { 0.0, 1.0, 0.0, 0.0 },
	[SEG_ACCEL] = { 0.0, 0.1, 0.6, 0.3 },
	[SEG_CRUISE] = { 0.3, 0.25, 0.15, 0.3 },
	[SEG_REGEN] = { 0.5, 0.3, 0.2, 0.0 },
};

struct bt_sim {
	const struct bt_ecm *ecm;
	struct bt_sim_opts o;
	gsl_rng *noise;		/* measurement noise */
	gsl_rng *profile;	/* drive-cycle segments */
	struct bt_ecm_state st;
	double q_as;		/* capacity in ampere-seconds */
	double one_c;		/* 1C in amperes */

	/* The sample clock. */
	uint64_t k;		/* index of the next row */
	double i_prev;		/* true current of the last row */
	double t_prev;		/* profile: time of the last row */
	int started;		/* profile: a row has been produced */
	int done;
	enum bt_sim_end end;

	/* The protocol's current step. */
	int step;
	uint64_t step_k0;	/* sample at which the step began */
	uint64_t step_n;	/* its length in samples (timed steps) */
	double step_i;		/* its current */
	uint64_t set;		/* HPPC: index of the pulse set */

	/* Drive cycle. */
	enum seg seg;
	uint64_t seg_end;	/* sample at which the segment ends */
	uint64_t drive_n;	/* length of the run in samples */
};

void
bt_sim_opts_init(struct bt_sim_opts *o)
{
	o->protocol = BT_SIM_PROFILE;
	o->soc0 = BT_SIM_DEFAULT_SOC0;
	o->temp0_c = NAN;
	o->dt_s = BT_SIM_DEFAULT_DT_S;
	o->voltage_noise_sd_v = 0;
	o->current_noise_sd_a = 0;
	o->current_bias_a = 0;
	o->temperature_noise_sd_c = 0;
	o->seed = BT_SIM_DEFAULT_SEED;
	o->v_min_v = NAN;
	o->v_max_v = NAN;

	o->hppc.soc_step = BT_SIM_HPPC_SOC_STEP;
	o->hppc.soc_floor = BT_SIM_HPPC_SOC_FLOOR;
	o->hppc.initial_rest_s = BT_SIM_HPPC_INITIAL_REST_S;
	o->hppc.discharge_pulse_c = BT_SIM_HPPC_DISCHARGE_PULSE_C;
	o->hppc.discharge_pulse_s = BT_SIM_HPPC_DISCHARGE_PULSE_S;
	o->hppc.pulse_rest_s = BT_SIM_HPPC_PULSE_REST_S;
	o->hppc.charge_pulse_c = BT_SIM_HPPC_CHARGE_PULSE_C;
	o->hppc.charge_pulse_s = BT_SIM_HPPC_CHARGE_PULSE_S;
	o->hppc.discharge_c = BT_SIM_HPPC_DISCHARGE_C;
	o->hppc.rest_s = BT_SIM_HPPC_REST_S;

	o->cc.current_a = NAN;
	o->cc.until_v = NAN;
	o->cc.max_s = NAN;

	o->drive.duration_s = BT_SIM_DRIVE_DURATION_S;
	o->drive.soc_floor = BT_SIM_DRIVE_SOC_FLOOR;
	o->drive.peak_discharge_c = BT_SIM_DRIVE_PEAK_DISCHARGE_C;
	o->drive.peak_regen_c = BT_SIM_DRIVE_PEAK_REGEN_C;
}

/* --- Option checks ------------------------------------------------------- */

/* Option-checking helpers: each returns 1 when the value is fine, and
 * otherwise writes the message and returns 0. */
static int
want(int ok, char *errmsg, const char *name, double x, const char *rule)
{
	if (!ok && errmsg)
		snprintf(errmsg, BT_ERRMSG_SIZE, "%s '%g' %s", name, x, rule);
	return ok;
}

static int
want_pos(char *e, const char *name, double x)
{
	return want(isfinite(x) && x > 0, e, name, x, "must be > 0");
}

static int
want_nonneg(char *e, const char *name, double x)
{
	return want(isfinite(x) && x >= 0, e, name, x, "must be >= 0");
}

static int
want_fraction(char *e, const char *name, double x)
{
	return want(isfinite(x) && x >= 0 && x <= 1, e, name, x,
		    "must lie in [0, 1]");
}

static int
want_finite_or_nan(char *e, const char *name, double x)
{
	return want(!isinf(x), e, name, x, "must be finite or nan");
}

static int
check_opts(const struct bt_sim_opts *o, char *e)
{
	int ok = want_pos(e, "dt_s", o->dt_s) &&
		 want_fraction(e, "soc0", o->soc0) &&
		 want_finite_or_nan(e, "temp0_c", o->temp0_c) &&
		 want_nonneg(e, "voltage_noise_sd_v", o->voltage_noise_sd_v) &&
		 want_nonneg(e, "current_noise_sd_a", o->current_noise_sd_a) &&
		 want(isfinite(o->current_bias_a), e, "current_bias_a",
		      o->current_bias_a, "must be finite") &&
		 want_nonneg(e, "temperature_noise_sd_c",
			     o->temperature_noise_sd_c) &&
		 want_finite_or_nan(e, "v_min_v", o->v_min_v) &&
		 want_finite_or_nan(e, "v_max_v", o->v_max_v);

	if (!ok)
		return 0;
	if (!isnan(o->v_min_v) && !isnan(o->v_max_v) && !(o->v_min_v < o->v_max_v))
		return want(0, e, "v_min_v", o->v_min_v, "must be below v_max_v");

	switch (o->protocol) {
	case BT_SIM_PROFILE:
		return 1;
	case BT_SIM_HPPC: {
		const struct bt_sim_hppc_opts *h = &o->hppc;

		return want_pos(e, "hppc.soc_step", h->soc_step) &&
		       want_fraction(e, "hppc.soc_floor", h->soc_floor) &&
		       want(h->soc_floor <= o->soc0 + SOC_LEVEL_TOL, e,
			    "hppc.soc_floor", h->soc_floor, "is above soc0") &&
		       want_nonneg(e, "hppc.initial_rest_s", h->initial_rest_s) &&
		       want_nonneg(e, "hppc.discharge_pulse_c", h->discharge_pulse_c) &&
		       want_nonneg(e, "hppc.discharge_pulse_s", h->discharge_pulse_s) &&
		       want_nonneg(e, "hppc.pulse_rest_s", h->pulse_rest_s) &&
		       want_nonneg(e, "hppc.charge_pulse_c", h->charge_pulse_c) &&
		       want_nonneg(e, "hppc.charge_pulse_s", h->charge_pulse_s) &&
		       want_pos(e, "hppc.discharge_c", h->discharge_c) &&
		       want_nonneg(e, "hppc.rest_s", h->rest_s);
	}
	case BT_SIM_CC:
		return want(isfinite(o->cc.current_a), e, "cc.current_a",
			    o->cc.current_a, "must be finite") &&
		       want_finite_or_nan(e, "cc.until_v", o->cc.until_v) &&
		       want(isnan(o->cc.max_s) || (isfinite(o->cc.max_s) &&
						   o->cc.max_s >= 0),
			    e, "cc.max_s", o->cc.max_s, "must be >= 0 or nan") &&
		       want(o->cc.current_a != 0 || !isnan(o->cc.max_s), e,
			    "cc.max_s", o->cc.max_s,
			    "must be given for a zero current");
	case BT_SIM_DRIVE:
		return want_nonneg(e, "drive.duration_s", o->drive.duration_s) &&
		       want_fraction(e, "drive.soc_floor", o->drive.soc_floor) &&
		       want_nonneg(e, "drive.peak_discharge_c",
				   o->drive.peak_discharge_c) &&
		       want_nonneg(e, "drive.peak_regen_c", o->drive.peak_regen_c);
	}
	if (e)
		snprintf(e, BT_ERRMSG_SIZE, "unknown protocol %d", (int)o->protocol);
	return 0;
}

/* --- Lifecycle ----------------------------------------------------------- */

static uint64_t
splitmix64(uint64_t *x)
{
	uint64_t z = (*x += SPLITMIX_GAMMA);

	z = (z ^ (z >> 30)) * SPLITMIX_MUL1;
	z = (z ^ (z >> 27)) * SPLITMIX_MUL2;
	return z ^ (z >> 31);
}

/* The number of samples a duration of D seconds covers. */
static uint64_t
samples(const struct bt_sim *s, double d)
{
	double n = ceil(d / s->o.dt_s - STEP_ROUND_TOL);

	return n > 0 ? (uint64_t)n : 0;
}

/* Enter program step STEP at the current sample, N samples long, with
 * current I. */
static void
enter(struct bt_sim *s, int step, uint64_t n, double i)
{
	s->step = step;
	s->step_k0 = s->k;
	s->step_n = n;
	s->step_i = i;
}

enum bt_status
bt_sim_alloc(const struct bt_ecm *ecm, const struct bt_sim_opts *opts,
	     struct bt_sim **simp, char errmsg[BT_ERRMSG_SIZE])
{
	struct bt_sim *s;
	uint64_t seed;
	double temp0;

	*simp = NULL;
	if (errmsg)
		errmsg[0] = '\0';
	if (!check_opts(opts, errmsg))
		return BT_EINVAL;
	s = calloc(1, sizeof *s);
	if (!s)
		return BT_ENOMEM;
	s->ecm = ecm;
	s->o = *opts;
	s->noise = gsl_rng_alloc(gsl_rng_mt19937);
	s->profile = gsl_rng_alloc(gsl_rng_mt19937);
	if (!s->noise || !s->profile) {
		bt_sim_free(s);
		return BT_ENOMEM;
	}
	/* MT19937 takes a 32-bit seed: derive two from the 64-bit one. */
	seed = opts->seed;
	gsl_rng_set(s->noise, (unsigned long)(splitmix64(&seed) >> 32));
	gsl_rng_set(s->profile, (unsigned long)(splitmix64(&seed) >> 32));

	temp0 = opts->temp0_c;
	if (isnan(temp0))
		temp0 = bt_ecm_has_thermal(ecm) ? bt_ecm_info(ecm)->ambient_c :
			bt_ecm_reference_temperature_c(ecm);
	bt_ecm_state_init(ecm, opts->soc0, temp0, &s->st);
	s->q_as = SECONDS_PER_HOUR * bt_ecm_capacity_ah(ecm);
	s->one_c = bt_ecm_capacity_ah(ecm);
	s->end = BT_SIM_RUNNING;

	switch (opts->protocol) {
	case BT_SIM_PROFILE:
		break;
	case BT_SIM_HPPC:
		enter(s, BT_SIM_HPPC_STEP_INITIAL_REST,
		      samples(s, opts->hppc.initial_rest_s), 0);
		break;
	case BT_SIM_CC:
		enter(s, SINGLE_STEP,
		      isnan(opts->cc.max_s) ? UINT64_MAX : samples(s, opts->cc.max_s),
		      opts->cc.current_a);
		break;
	case BT_SIM_DRIVE:
		s->drive_n = samples(s, opts->drive.duration_s);
		s->seg = SEG_REST;
		s->seg_end = 0;
		enter(s, SINGLE_STEP, s->drive_n, 0);
		break;
	}
	*simp = s;
	return BT_OK;
}

void
bt_sim_free(struct bt_sim *sim)
{
	if (!sim)
		return;
	if (sim->noise)
		gsl_rng_free(sim->noise);
	if (sim->profile)
		gsl_rng_free(sim->profile);
	free(sim);
}

/* --- Protocols ----------------------------------------------------------- */

static int
step_elapsed(const struct bt_sim *s)
{
	return s->k - s->step_k0 >= s->step_n;
}

/* The soc of HPPC pulse set N. */
static double
hppc_level(const struct bt_sim *s, uint64_t n)
{
	return s->o.soc0 - (double)n * s->o.hppc.soc_step;
}

/* Choose the HPPC step and current for the current sample: each step
 * that has run its course hands over to the next, possibly several at
 * one sample when some last zero samples.  Sets *FINISHED after the last
 * pulse set. */
static double
hppc_current(struct bt_sim *s, int *finished)
{
	const struct bt_sim_hppc_opts *h = &s->o.hppc;

	for (;;) {
		switch (s->step) {
		case BT_SIM_HPPC_STEP_INITIAL_REST:
			if (!step_elapsed(s))
				return s->step_i;
			s->set = 0;
			enter(s, BT_SIM_HPPC_STEP_DISCHARGE_PULSE,
			      samples(s, h->discharge_pulse_s),
			      -h->discharge_pulse_c * s->one_c);
			break;
		case BT_SIM_HPPC_STEP_DISCHARGE_PULSE:
			if (!step_elapsed(s))
				return s->step_i;
			enter(s, BT_SIM_HPPC_STEP_PULSE_REST,
			      samples(s, h->pulse_rest_s), 0);
			break;
		case BT_SIM_HPPC_STEP_PULSE_REST:
			if (!step_elapsed(s))
				return s->step_i;
			enter(s, BT_SIM_HPPC_STEP_CHARGE_PULSE,
			      samples(s, h->charge_pulse_s),
			      h->charge_pulse_c * s->one_c);
			break;
		case BT_SIM_HPPC_STEP_CHARGE_PULSE:
			if (!step_elapsed(s))
				return s->step_i;
			enter(s, BT_SIM_HPPC_STEP_CHARGE_REST,
			      samples(s, h->pulse_rest_s), 0);
			break;
		case BT_SIM_HPPC_STEP_CHARGE_REST:
			if (!step_elapsed(s))
				return s->step_i;
			if (hppc_level(s, s->set + 1) < h->soc_floor - SOC_LEVEL_TOL) {
				*finished = 1;
				return s->step_i;
			}
			enter(s, BT_SIM_HPPC_STEP_DISCHARGE, UINT64_MAX,
			      -h->discharge_c * s->one_c);
			break;
		case BT_SIM_HPPC_STEP_DISCHARGE:
			if (s->st.soc > hppc_level(s, s->set + 1))
				return s->step_i;
			s->set++;
			enter(s, BT_SIM_HPPC_STEP_REST, samples(s, h->rest_s), 0);
			break;
		case BT_SIM_HPPC_STEP_REST:
		default:
			if (!step_elapsed(s))
				return s->step_i;
			enter(s, BT_SIM_HPPC_STEP_DISCHARGE_PULSE,
			      samples(s, h->discharge_pulse_s),
			      -h->discharge_pulse_c * s->one_c);
			break;
		}
	}
}

/* Draw the next drive segment, starting at the current sample. */
static void
drive_segment(struct bt_sim *s)
{
	const struct bt_sim_drive_opts *d = &s->o.drive;
	double u = gsl_rng_uniform(s->profile), acc = 0, len, level, peak;
	enum seg next = SEG_REST;
	int j;

	/* Three draws per segment, whatever its kind. */
	for (j = 0; j < NSEG; j++) {
		acc += seg_next[s->seg][j];
		if (u < acc) {
			next = (enum seg)j;
			break;
		}
	}
	if (s->k == 0)
		next = SEG_REST;	/* every drive starts from a stop */
	len = seg_shape[next].min_s + (seg_shape[next].max_s -
				       seg_shape[next].min_s) *
				      gsl_rng_uniform(s->profile);
	level = seg_shape[next].lo + (seg_shape[next].hi - seg_shape[next].lo) *
				     gsl_rng_uniform(s->profile);
	peak = seg_shape[next].sign > 0 ? d->peak_regen_c : d->peak_discharge_c;
	s->seg = next;
	s->seg_end = s->k + (uint64_t)fmax(1, round(len / s->o.dt_s));
	s->step_i = seg_shape[next].sign * level * peak * s->one_c;
	if (next == SEG_REGEN && s->st.soc > DRIVE_REGEN_SOC_MAX)
		s->step_i = 0;
}

static double
drive_current(struct bt_sim *s, int *finished)
{
	if (s->k >= s->drive_n) {
		*finished = 1;
		return s->step_i;
	}
	if (s->k >= s->seg_end)
		drive_segment(s);
	return s->step_i;
}

static double
cc_current(struct bt_sim *s, int *finished)
{
	if (step_elapsed(s))
		*finished = 1;
	return s->step_i;
}

/* --- Rows ---------------------------------------------------------------- */

/* Fill *ROW with the sample at TIME_S carrying true current I, noise
 * added; returns the limit the true values break, or BT_SIM_RUNNING. */
static enum bt_sim_end
sample(struct bt_sim *s, double time_s, double i, int step, struct bt_sim_row *row)
{
	const struct bt_sim_opts *o = &s->o;
	double v = bt_ecm_voltage(s->ecm, &s->st, i);

	row->time_s = time_s;
	row->current_true_a = i;
	row->voltage_true_v = v;
	row->soc_true = s->st.soc;
	row->step = step;
	row->current_a = i + o->current_bias_a +
			 gsl_ran_gaussian(s->noise, o->current_noise_sd_a);
	row->voltage_v = v + gsl_ran_gaussian(s->noise, o->voltage_noise_sd_v);
	row->temperature_c = s->st.temp_c +
			     gsl_ran_gaussian(s->noise, o->temperature_noise_sd_c);
	if (!isnan(o->v_min_v) && v < o->v_min_v)
		return BT_SIM_END_V_MIN;
	if (!isnan(o->v_max_v) && v > o->v_max_v)
		return BT_SIM_END_V_MAX;
	if (!(s->st.soc >= SOC_LIMIT_MIN - SOC_LIMIT_TOL &&
	      s->st.soc <= SOC_LIMIT_MAX + SOC_LIMIT_TOL))
		return BT_SIM_END_SOC_LIMIT;
	return BT_SIM_RUNNING;
}

enum bt_status
bt_sim_next(struct bt_sim *s, struct bt_sim_row *row)
{
	enum bt_sim_end end;
	enum bt_status st;
	int finished = 0;
	double i;

	if (s->o.protocol == BT_SIM_PROFILE)
		return BT_EINVAL;
	if (s->done)
		return BT_EOF;
	if (s->k > 0) {
		st = bt_ecm_step(s->ecm, &s->st, s->i_prev, s->o.dt_s);
		if (st != BT_OK)
			return st;
	}
	switch (s->o.protocol) {
	case BT_SIM_HPPC:
		i = hppc_current(s, &finished);
		break;
	case BT_SIM_CC:
		i = cc_current(s, &finished);
		break;
	case BT_SIM_DRIVE:
	default:
		i = drive_current(s, &finished);
		break;
	}
	end = sample(s, (double)s->k * s->o.dt_s, i, s->step, row);
	if (end == BT_SIM_RUNNING && s->o.protocol == BT_SIM_CC &&
	    !isnan(s->o.cc.until_v) &&
	    ((i > 0 && row->voltage_true_v >= s->o.cc.until_v) ||
	     (i < 0 && row->voltage_true_v <= s->o.cc.until_v)))
		end = BT_SIM_END_UNTIL_V;
	if (end == BT_SIM_RUNNING && s->o.protocol == BT_SIM_DRIVE &&
	    s->st.soc <= s->o.drive.soc_floor)
		end = BT_SIM_END_SOC_FLOOR;
	if (end == BT_SIM_RUNNING && finished)
		end = BT_SIM_END_DONE;
	if (end != BT_SIM_RUNNING) {
		s->done = 1;
		s->end = end;
	}
	s->i_prev = i;
	s->k++;
	return BT_OK;
}

enum bt_status
bt_sim_step_to(struct bt_sim *s, double time_s, double current_a,
	       struct bt_sim_row *row)
{
	enum bt_status st;

	if (s->o.protocol != BT_SIM_PROFILE)
		return BT_EINVAL;
	if (!isfinite(time_s) || !isfinite(current_a))
		return BT_ENONFINITE;
	if (s->started && time_s < s->t_prev)
		return BT_ETIME;
	if (s->started && time_s > s->t_prev) {
		double span = time_s - s->t_prev;
		uint64_t n = samples(s, span), j;
		double h;

		if (n == 0)
			n = 1;
		h = span / (double)n;
		for (j = 0; j < n; j++) {
			st = bt_ecm_step(s->ecm, &s->st, s->i_prev, h);
			if (st != BT_OK)
				return st;
		}
	}
	s->started = 1;
	s->t_prev = time_s;
	s->i_prev = current_a;
	s->end = sample(s, time_s, current_a, SINGLE_STEP, row);
	s->k++;
	return s->end == BT_SIM_RUNNING ? BT_OK : BT_ERANGE;
}

const struct bt_ecm_state *
bt_sim_state(const struct bt_sim *sim)
{
	return &sim->st;
}

enum bt_sim_end
bt_sim_end_reason(const struct bt_sim *sim)
{
	return sim->end;
}

const char *
bt_sim_end_str(enum bt_sim_end reason)
{
	switch (reason) {
	case BT_SIM_RUNNING:
		return "running";
	case BT_SIM_END_DONE:
		return "protocol complete";
	case BT_SIM_END_UNTIL_V:
		return "end voltage reached";
	case BT_SIM_END_SOC_FLOOR:
		return "soc floor reached";
	case BT_SIM_END_V_MIN:
		return "cut-off voltage v_min reached";
	case BT_SIM_END_V_MAX:
		return "cut-off voltage v_max reached";
	case BT_SIM_END_SOC_LIMIT:
		return "soc left [0, 1]";
	}
	return "unknown end";
}
