/* test_bt_sim.c - unit tests of the cell simulator: the HPPC, cc and drive
 * protocols, the zero-order-hold profile replay, end conditions, seeded
 * noise and option checks.
 *
 * Deterministic; prints "N passed, N failed" and exits 1 on any failure.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_errno.h>

#include "bt_ecm.h"
#include "bt_sim.h"
#include "check.h"

/* Tolerances. */
#define TOL_EXACT 1e-12		/* results the simulator reproduces exactly */
#define TOL_TIME 1e-9		/* sample times, s */
#define NOISE_REL_TOL 0.03	/* sample sd of 20000 draws vs sigma */
#define NOISE_MEAN_TOL 4	/* sample mean vs 0, in standard errors */


/* A 2.5 Ah cell with 2 RC pairs, hysteresis and a thermal model, its OCV
 * shaped like an NMC cell's. */
static const char model_text[] =
	"battools-ecm 1\n"
	"capacity_ah 2.5\n"
	"rc_pairs 2\n"
	"coulombic_efficiency 0.999\n"
	"hysteresis_gamma 50\n"
	"hysteresis_m_v 0.01\n"
	"hysteresis_m0_v 0.002\n"
	"thermal_capacity_j_per_k 45\n"
	"thermal_resistance_k_per_w 10\n"
	"ambient_c 25\n"
	"table\n"
	"temperature_c,soc,ocv_v,r0_ohm,r1_ohm,tau1_s,r2_ohm,tau2_s\n"
	"0,0,2.99,0.060,0.040,12,0.060,300\n"
	"0,0.1,3.47,0.050,0.030,11,0.050,280\n"
	"0,0.3,3.65,0.045,0.025,10,0.045,260\n"
	"0,0.5,3.76,0.044,0.024,10,0.044,250\n"
	"0,0.7,3.94,0.044,0.024,10,0.044,250\n"
	"0,0.9,4.10,0.045,0.025,10,0.045,260\n"
	"0,1,4.19,0.046,0.026,11,0.046,270\n"
	"25,0,3.00,0.035,0.020,9,0.030,220\n"
	"25,0.1,3.48,0.030,0.015,8,0.025,200\n"
	"25,0.3,3.66,0.027,0.013,8,0.022,190\n"
	"25,0.5,3.77,0.026,0.012,8,0.021,180\n"
	"25,0.7,3.95,0.026,0.012,8,0.021,180\n"
	"25,0.9,4.11,0.027,0.013,8,0.022,190\n"
	"25,1,4.20,0.028,0.014,9,0.023,200\n";

static struct bt_ecm *
model(void)
{
	char msg[BT_ERRMSG_SIZE];
	struct bt_ecm *ecm;

	if (bt_ecm_parse(model_text, strlen(model_text), "model", &ecm, msg) != BT_OK) {
		fprintf(stderr, "test model: %s\n", msg);
		exit(1);
	}
	return ecm;
}

static struct bt_sim *
sim_new(const struct bt_ecm *ecm, const struct bt_sim_opts *o)
{
	char msg[BT_ERRMSG_SIZE];
	struct bt_sim *sim;

	if (bt_sim_alloc(ecm, o, &sim, msg) != BT_OK) {
		fprintf(stderr, "bt_sim_alloc: %s\n", msg);
		exit(1);
	}
	return sim;
}

static void
test_hppc(const struct bt_ecm *ecm)
{
	struct bt_sim_opts o;
	struct bt_sim *sim;
	struct bt_sim_row row, prev;
	const double q = 2.5;
	int n = 0, sets = 0, last_step = 0, bad_time = 0, bad_current = 0;
	int run_len = 0, bad_len = 0;
	double set_soc[16];

	bt_sim_opts_init(&o);
	o.protocol = BT_SIM_HPPC;
	sim = sim_new(ecm, &o);
	memset(&prev, 0, sizeof prev);
	while (bt_sim_next(sim, &row) == BT_OK) {
		double want_i;

		if (fabs(row.time_s - n * o.dt_s) > TOL_TIME)
			bad_time++;
		if (n == 0)
			CHECK(row.step == BT_SIM_HPPC_STEP_INITIAL_REST &&
			      row.current_a == 0 && row.soc_true == 1 &&
			      row.temperature_c == 25,
			      "row 0 is the initial rest at t = 0");
		switch (row.step) {
		case BT_SIM_HPPC_STEP_DISCHARGE_PULSE:
			want_i = -1.0 * q;
			break;
		case BT_SIM_HPPC_STEP_CHARGE_PULSE:
			want_i = 0.75 * q;
			break;
		case BT_SIM_HPPC_STEP_DISCHARGE:
			want_i = -BT_SIM_HPPC_DISCHARGE_C * q;
			break;
		default:
			want_i = 0;
		}
		if (row.current_true_a != want_i || row.current_a != want_i)
			bad_current++;
		if (row.step != last_step) {
			/* The run that just ended must have its length. */
			if ((last_step == BT_SIM_HPPC_STEP_DISCHARGE_PULSE ||
			     last_step == BT_SIM_HPPC_STEP_CHARGE_PULSE) && run_len != 10)
				bad_len++;
			if ((last_step == BT_SIM_HPPC_STEP_PULSE_REST ||
			     last_step == BT_SIM_HPPC_STEP_CHARGE_REST) && run_len != 40)
				bad_len++;
			if (last_step == BT_SIM_HPPC_STEP_REST && run_len != 1800)
				bad_len++;
			if (last_step == BT_SIM_HPPC_STEP_INITIAL_REST && run_len != 60)
				bad_len++;
			if (row.step == BT_SIM_HPPC_STEP_DISCHARGE_PULSE && sets < 16)
				set_soc[sets++] = row.soc_true;
			run_len = 0;
		}
		run_len++;
		last_step = row.step;
		prev = row;
		n++;
	}
	CHECK(bad_time == 0, "sample times are k dt (%d bad)", bad_time);
	CHECK(bad_current == 0, "step currents (%d bad)", bad_current);
	CHECK(bad_len == 0, "step lengths (%d bad)", bad_len);
	CHECK(sets == 10, "10 pulse sets from 100 %% to 10 %%, got %d", sets);
	if (sets == 10) {
		int k, ok = 1;

		/* The discharge to each level overshoots by at most one
		 * sample of C/3: (q/3) * 1 s / (3600 q) of soc. */
		for (k = 1; k < 10; k++)
			if (!(set_soc[k] <= 1 - 0.1 * k &&
			      set_soc[k] > 1 - 0.1 * k - 1.0 / 3 / 3600 - 1e-12))
				ok = 0;
		CHECK(ok, "pulse sets start at the soc steps");
	}
	CHECK(bt_sim_end_reason(sim) == BT_SIM_END_DONE, "hppc ends done: %s",
	      bt_sim_end_str(bt_sim_end_reason(sim)));
	CHECK(prev.step == BT_SIM_HPPC_STEP_CHARGE_REST && prev.current_true_a == 0,
	      "hppc ends after the last pulse set's rest");
	CHECK(bt_sim_next(sim, &row) == BT_EOF, "EOF after the end");
	CHECK(bt_sim_next(sim, &row) == BT_EOF, "EOF stays");
	CHECK(bt_sim_step_to(sim, 0, 0, &row) == BT_EINVAL,
	      "step_to on a protocol simulator");
	bt_sim_free(sim);

	/* A cut-off voltage ends the test at the first sample beyond it. */
	bt_sim_opts_init(&o);
	o.protocol = BT_SIM_HPPC;
	o.v_min_v = 3.45;
	sim = sim_new(ecm, &o);
	while (bt_sim_next(sim, &row) == BT_OK)
		prev = row;
	CHECK(bt_sim_end_reason(sim) == BT_SIM_END_V_MIN &&
	      prev.voltage_true_v < 3.45, "hppc stops at v_min: %s at %g s, %g V",
	      bt_sim_end_str(bt_sim_end_reason(sim)), prev.time_s, prev.voltage_true_v);
	bt_sim_free(sim);
}

static void
test_cc(const struct bt_ecm *ecm)
{
	struct bt_sim_opts o;
	struct bt_sim *sim;
	struct bt_sim_row row, prev, before;
	int n = 0;

	bt_sim_opts_init(&o);
	o.protocol = BT_SIM_CC;
	o.cc.current_a = -2.5;
	o.cc.until_v = 3.2;
	o.dt_s = 2;
	sim = sim_new(ecm, &o);
	memset(&prev, 0, sizeof prev);
	before = prev;
	while (bt_sim_next(sim, &row) == BT_OK) {
		before = prev;
		prev = row;
		n++;
	}
	CHECK(bt_sim_end_reason(sim) == BT_SIM_END_UNTIL_V, "cc discharge ends at until_v");
	CHECK(prev.voltage_true_v <= 3.2 && before.voltage_true_v > 3.2,
	      "the crossing is detected on the true voltage at the first sample");
	CHECK(prev.step == 1 && prev.current_true_a == -2.5, "cc step and current");
	CHECK(bt_sim_state(sim)->temp_c > 25, "the cell warms under 1C");
	bt_sim_free(sim);

	/* Charge, with noise that must not end it early: the test is on the
	 * true voltage. */
	o.cc.current_a = 1.25;
	o.cc.until_v = 4.1;
	o.soc0 = 0.2;
	o.voltage_noise_sd_v = 0.05;
	sim = sim_new(ecm, &o);
	while (bt_sim_next(sim, &row) == BT_OK) {
		before = prev;
		prev = row;
	}
	CHECK(bt_sim_end_reason(sim) == BT_SIM_END_UNTIL_V &&
	      prev.voltage_true_v >= 4.1 && before.voltage_true_v < 4.1,
	      "cc charge ends at until_v on the true voltage");
	bt_sim_free(sim);

	/* A time limit: rows at 0, 10, ..., 100 s. */
	bt_sim_opts_init(&o);
	o.protocol = BT_SIM_CC;
	o.cc.current_a = -1;
	o.cc.max_s = 100;
	o.dt_s = 10;
	sim = sim_new(ecm, &o);
	n = 0;
	while (bt_sim_next(sim, &row) == BT_OK) {
		prev = row;
		n++;
	}
	CHECK(n == 11 && prev.time_s == 100, "cc max_s gives 11 rows, got %d", n);
	CHECK(bt_sim_end_reason(sim) == BT_SIM_END_DONE, "cc max_s ends done");
	CHECK_NEAR(prev.soc_true, 1 - 100.0 / (3600 * 2.5), TOL_EXACT,
		   "soc after 100 s at 1 A");
	bt_sim_free(sim);

	/* Charging a full cell leaves [0, 1]. */
	o.cc.current_a = 1;
	o.cc.max_s = NAN;
	o.soc0 = 1;
	sim = sim_new(ecm, &o);
	n = 0;
	while (bt_sim_next(sim, &row) == BT_OK)
		n++;
	CHECK(n == 2 && bt_sim_end_reason(sim) == BT_SIM_END_SOC_LIMIT,
	      "charging a full cell stops at once");
	bt_sim_free(sim);
}

static void
test_drive(const struct bt_ecm *ecm)
{
	struct bt_sim_opts o;
	struct bt_sim *a, *b, *c;
	struct bt_sim_row ra, rb, rc;
	int n = 0, same_current = 1, same_noise = 1, differs = 0;
	int regen = 0, dis_peak = 0;
	double sum_i = 0, max_dis = 0, max_chg = 0;

	bt_sim_opts_init(&o);
	o.protocol = BT_SIM_DRIVE;
	o.seed = 42;
	a = sim_new(ecm, &o);
	o.voltage_noise_sd_v = 0.003;
	o.current_noise_sd_a = 0.01;
	b = sim_new(ecm, &o);
	o.seed = 43;
	c = sim_new(ecm, &o);
	while (bt_sim_next(a, &ra) == BT_OK) {
		int sb = bt_sim_next(b, &rb), sc = bt_sim_next(c, &rc);

		if (sb != BT_OK || ra.current_true_a != rb.current_true_a ||
		    ra.voltage_true_v != rb.voltage_true_v)
			same_current = 0;
		if (sb == BT_OK && rb.voltage_v == rb.voltage_true_v && n > 0)
			same_noise = 0;
		if (sc == BT_OK && rc.current_true_a != ra.current_true_a)
			differs = 1;
		sum_i += ra.current_true_a;
		if (-ra.current_true_a > max_dis)
			max_dis = -ra.current_true_a;
		if (ra.current_true_a > max_chg)
			max_chg = ra.current_true_a;
		if (ra.current_true_a > 0)
			regen++;
		if (ra.current_true_a < -1.5 * 2.5)
			dis_peak++;
		n++;
	}
	CHECK(n == 3601, "a one-hour drive at 1 s has 3601 rows, got %d", n);
	CHECK(bt_sim_end_reason(a) == BT_SIM_END_DONE, "drive ends done");
	CHECK(same_current, "the drive current does not depend on the noise");
	CHECK(same_noise, "noise is added when asked");
	CHECK(differs, "another seed gives another drive");
	CHECK(max_dis <= 2 * 2.5 + 1e-12 && max_chg <= 1 * 2.5 + 1e-12,
	      "peaks within 2C discharge and 1C regen: %g, %g", max_dis, max_chg);
	CHECK(regen > 100 && dis_peak > 50,
	      "regen and hard accelerations occur: %d, %d", regen, dis_peak);
	CHECK(sum_i / n < -0.1 * 2.5 && sum_i / n > -0.6 * 2.5,
	      "net discharge between C/10 and 0.6C: mean %g A", sum_i / n);
	bt_sim_free(a);
	bt_sim_free(b);
	bt_sim_free(c);

	/* A long drive stops at the soc floor. */
	bt_sim_opts_init(&o);
	o.protocol = BT_SIM_DRIVE;
	o.drive.duration_s = 1e6;
	o.soc0 = 0.3;
	o.drive.soc_floor = 0.2;
	a = sim_new(ecm, &o);
	while (bt_sim_next(a, &ra) == BT_OK)
		;
	CHECK(bt_sim_end_reason(a) == BT_SIM_END_SOC_FLOOR &&
	      bt_sim_state(a)->soc <= 0.2 && bt_sim_state(a)->soc > 0.199,
	      "drive stops at the soc floor");
	bt_sim_free(a);
}

static void
test_noise(const struct bt_ecm *ecm)
{
	struct bt_sim_opts o;
	struct bt_sim *a, *b;
	struct bt_sim_row ra, rb;
	const int n = 20000;
	double sv = 0, svv = 0, si = 0, sii = 0, st = 0;
	int k, identical = 1;

	bt_sim_opts_init(&o);
	o.protocol = BT_SIM_CC;
	o.cc.current_a = 0;
	o.cc.max_s = n - 1;
	o.voltage_noise_sd_v = 0.002;
	o.current_noise_sd_a = 0.05;
	o.current_bias_a = 0.013;
	o.temperature_noise_sd_c = 0.3;
	o.seed = UINT64_C(0x123456789abcdef);
	a = sim_new(ecm, &o);
	b = sim_new(ecm, &o);
	for (k = 0; k < n; k++) {
		double dv, di;

		if (bt_sim_next(a, &ra) != BT_OK || bt_sim_next(b, &rb) != BT_OK) {
			identical = 0;
			break;
		}
		if (ra.time_s != rb.time_s || ra.current_a != rb.current_a ||
		    ra.voltage_v != rb.voltage_v ||
		    ra.temperature_c != rb.temperature_c ||
		    ra.soc_true != rb.soc_true || ra.step != rb.step)
			identical = 0;
		dv = ra.voltage_v - ra.voltage_true_v;
		di = ra.current_a - ra.current_true_a - o.current_bias_a;
		sv += dv;
		svv += dv * dv;
		si += di;
		sii += di * di;
		st += ra.temperature_c - 25;
	}
	CHECK(identical, "the same seed gives the same rows");
	CHECK(fabs(sv / n) < NOISE_MEAN_TOL * 0.002 / sqrt(n), "voltage noise mean %g", sv / n);
	CHECK(fabs(sqrt(svv / n) / 0.002 - 1) < NOISE_REL_TOL, "voltage noise sd %g",
	      sqrt(svv / n));
	CHECK(fabs(si / n) < NOISE_MEAN_TOL * 0.05 / sqrt(n), "current noise mean %g", si / n);
	CHECK(fabs(sqrt(sii / n) / 0.05 - 1) < NOISE_REL_TOL, "current noise sd %g",
	      sqrt(sii / n));
	CHECK(fabs(st / n) < NOISE_MEAN_TOL * 0.3 / sqrt(n), "temperature noise mean %g",
	      st / n);
	bt_sim_free(a);
	bt_sim_free(b);
}

static void
test_profile(const struct bt_ecm *ecm)
{
	static const double t[] = { 5, 6, 7.5, 7.5, 20, 20.25 };
	static const double i[] = { -2, 1.5, -3, 0.5, 0, -1 };
	struct bt_sim_opts o;
	struct bt_sim *sim;
	struct bt_sim_row row;
	struct bt_ecm_state ref;
	size_t k;
	int ok = 1;

	bt_sim_opts_init(&o);
	o.soc0 = 0.6;
	o.temp0_c = 20;
	sim = sim_new(ecm, &o);
	CHECK(bt_sim_next(sim, &row) == BT_EINVAL, "next on a profile simulator");
	bt_ecm_state_init(ecm, 0.6, 20, &ref);
	for (k = 0; k < sizeof t / sizeof t[0]; k++) {
		if (k > 0) {
			/* ZOH: i[k-1] over [t[k-1], t[k]), in steps of at most
			 * dt = 1 s of equal length. */
			double span = t[k] - t[k - 1];
			int m = (int)ceil(span - 1e-9), j;

			if (span > 0) {
				if (m < 1)
					m = 1;
				for (j = 0; j < m; j++)
					bt_ecm_step(ecm, &ref, i[k - 1], span / m);
			}
		}
		if (bt_sim_step_to(sim, t[k], i[k], &row) != BT_OK)
			ok = 0;
		if (row.time_s != t[k] || row.current_true_a != i[k] ||
		    row.step != 1 ||
		    fabs(row.voltage_true_v - bt_ecm_voltage(ecm, &ref, i[k])) > TOL_EXACT ||
		    fabs(row.soc_true - ref.soc) > TOL_EXACT ||
		    fabs(row.temperature_c - ref.temp_c) > TOL_EXACT)
			ok = 0;
	}
	CHECK(ok, "profile replay matches bt_ecm_step with the previous current");
	CHECK(bt_sim_step_to(sim, 20, 0, &row) == BT_ETIME, "time going back");
	CHECK(bt_sim_step_to(sim, NAN, 0, &row) == BT_ENONFINITE, "NaN time");
	CHECK(bt_sim_step_to(sim, 30, INFINITY, &row) == BT_ENONFINITE, "infinite current");
	CHECK(bt_sim_state(sim)->soc == ref.soc, "failed calls change nothing");
	bt_sim_free(sim);

	/* Replaying the rows of a cc run gives the same true voltages. */
	{
		struct bt_sim *cc, *pr;
		struct bt_sim_row a, b;
		int same = 1, rows = 0;

		bt_sim_opts_init(&o);
		o.protocol = BT_SIM_CC;
		o.cc.current_a = -1.7;
		o.cc.max_s = 600;
		o.dt_s = 3;
		cc = sim_new(ecm, &o);
		o.protocol = BT_SIM_PROFILE;
		pr = sim_new(ecm, &o);
		while (bt_sim_next(cc, &a) == BT_OK) {
			bt_sim_step_to(pr, a.time_s, a.current_true_a, &b);
			if (b.voltage_true_v != a.voltage_true_v || b.soc_true != a.soc_true)
				same = 0;
			rows++;
		}
		CHECK(same && rows == 201, "profile replay of a cc run");
		bt_sim_free(cc);
		bt_sim_free(pr);
	}

	/* Limits are reported, the row is still produced. */
	bt_sim_opts_init(&o);
	o.v_max_v = 4.0;
	sim = sim_new(ecm, &o);
	CHECK(bt_sim_step_to(sim, 0, 0, &row) == BT_ERANGE &&
	      bt_sim_end_reason(sim) == BT_SIM_END_V_MAX && row.voltage_true_v > 4.0,
	      "v_max in profile mode");
	CHECK(strcmp(bt_sim_end_str(BT_SIM_END_V_MAX), "cut-off voltage v_max reached") == 0,
	      "end description");
	bt_sim_free(sim);
}

static void
test_options(const struct bt_ecm *ecm)
{
	static const struct {
		int what;
		const char *msg;
	} cases[] = {
		{ 0, "dt_s '0' must be > 0" },
		{ 1, "soc0 '1.5' must lie in [0, 1]" },
		{ 2, "voltage_noise_sd_v '-0.001' must be >= 0" },
		{ 3, "v_min_v '4' must be below v_max_v" },
		{ 4, "hppc.soc_floor '0.5' is above soc0" },
		{ 5, "hppc.discharge_c '0' must be > 0" },
		{ 6, "cc.current_a 'nan' must be finite" },
		{ 7, "cc.max_s 'nan' must be given for a zero current" },
		{ 8, "drive.soc_floor '2' must lie in [0, 1]" },
	};
	size_t k;

	for (k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		struct bt_sim_opts o;
		struct bt_sim *sim = (struct bt_sim *)&o;
		char msg[BT_ERRMSG_SIZE];
		enum bt_status st;

		bt_sim_opts_init(&o);
		switch (cases[k].what) {
		case 0: o.dt_s = 0; break;
		case 1: o.soc0 = 1.5; break;
		case 2: o.voltage_noise_sd_v = -0.001; break;
		case 3: o.v_min_v = 4; o.v_max_v = 3; break;
		case 4: o.protocol = BT_SIM_HPPC; o.soc0 = 0.4; o.hppc.soc_floor = 0.5; break;
		case 5: o.protocol = BT_SIM_HPPC; o.hppc.discharge_c = 0; break;
		case 6: o.protocol = BT_SIM_CC; break;
		case 7: o.protocol = BT_SIM_CC; o.cc.current_a = 0; break;
		case 8: o.protocol = BT_SIM_DRIVE; o.drive.soc_floor = 2; break;
		}
		st = bt_sim_alloc(ecm, &o, &sim, msg);
		CHECK(st == BT_EINVAL && sim == NULL && strcmp(msg, cases[k].msg) == 0,
		      "option case %zu: got '%s', want '%s'", k, msg, cases[k].msg);
	}
	bt_sim_free(NULL);
}

int
main(void)
{
	struct bt_ecm *ecm;

	gsl_set_error_handler_off();
	ecm = model();
	test_hppc(ecm);
	test_cc(ecm);
	test_drive(ecm);
	test_noise(ecm);
	test_profile(ecm);
	test_options(ecm);
	bt_ecm_free(ecm);
	return check_report();
}
