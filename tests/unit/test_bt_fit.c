/* test_bt_fit.c - the estimation layer against known truth: pulse and
 * drive-cycle round trips through the simulator with constant-parameter
 * models (where the fit must find the truth), OCV branches with a known
 * mean and hysteresis, the soc grid parser, the error paths, and the
 * PCHIP and C-table exports of bt_ecm that the fits rely on. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bt_ecm.h"
#include "bt_fit.h"
#include "bt_sim.h"
#include "bt_stream.h"
#include "check.h"

static int
rel_close(double a, double b, double tol)
{
	return fabs(a - b) <= tol * fabs(b);
}

/* An unround OCV curve (V) on an unround soc grid, and the truth. */
static const double ocv_soc[] = { 0, 0.1, 0.25, 0.5, 0.75, 0.9, 1 };
static const double ocv_v[] = { 3.0713, 3.4521, 3.6137, 3.7418, 3.9406, 4.0622, 4.1831 };
#define N_OCV (sizeof ocv_soc / sizeof *ocv_soc)
#define CAPACITY_AH 2.7183
#define R0 0.0231
static const double truth_r[2] = { 0.0137, 0.0191 };
static const double truth_tau[2] = { 9.13, 163.7 };

/* A model with constant R0, R_k, tau_k. */
static struct bt_ecm *
truth_model(unsigned nrc)
{
	struct bt_ecm_info info;
	struct bt_ecm_point pt;
	struct bt_ecm *m;
	size_t j, k;

	bt_ecm_info_init(&info);
	info.capacity_ah = CAPACITY_AH;
	info.rc_pairs = nrc;
	if (bt_ecm_alloc(&info, 1, N_OCV, &m) != BT_OK)
		return NULL;
	memset(&pt, 0, sizeof pt);
	pt.temperature_c = 25;
	pt.ocv_v_sd = pt.r0_ohm_sd = NAN;
	for (k = 0; k < BT_ECM_MAX_RC; k++)
		pt.r_ohm_sd[k] = pt.tau_s_sd[k] = NAN;
	for (j = 0; j < N_OCV; j++) {
		pt.soc = ocv_soc[j];
		pt.ocv_v = ocv_v[j];
		pt.r0_ohm = R0;
		for (k = 0; k < nrc; k++) {
			pt.r_ohm[k] = truth_r[nrc == 1 ? 1 : k];
			pt.tau_s[k] = truth_tau[nrc == 1 ? 1 : k];
		}
		bt_ecm_set_point(m, 0, j, &pt);
	}
	if (bt_ecm_finish(m, NULL) != BT_OK) {
		bt_ecm_free(m);
		return NULL;
	}
	return m;
}

static void
push(struct bt_fit_data *d, const struct bt_sim_row *row)
{
	if (d->n == d->cap) {
		d->cap = d->cap ? 2 * d->cap : 1024;
		d->t = realloc(d->t, d->cap * sizeof *d->t);
		d->i = realloc(d->i, d->cap * sizeof *d->i);
		d->v = realloc(d->v, d->cap * sizeof *d->v);
		d->temp = realloc(d->temp, d->cap * sizeof *d->temp);
		if (!d->t || !d->i || !d->v || !d->temp)
			abort();
	}
	d->t[d->n] = row->time_s;
	d->i[d->n] = row->current_a;
	d->v[d->n] = row->voltage_v;
	d->temp[d->n] = NAN;
	d->n++;
}

/* Simulate PROTOCOL on M into D (noise-free unless NOISE). */
static void
simulate(const struct bt_ecm *m, enum bt_sim_protocol protocol, double noise,
	 struct bt_fit_data *d)
{
	struct bt_sim_opts o;
	struct bt_sim *sim;
	struct bt_sim_row row;

	memset(d, 0, sizeof *d);
	d->temperature_c = NAN;
	d->name = "sim";
	bt_sim_opts_init(&o);
	o.protocol = protocol;
	o.voltage_noise_sd_v = noise;
	o.seed = 5;
	o.hppc.soc_floor = 0;
	o.drive.duration_s = 4000;
	o.drive.soc_floor = 0.2;
	if (bt_sim_alloc(m, &o, &sim, NULL) != BT_OK)
		abort();
	while (bt_sim_next(sim, &row) == BT_OK)
		push(d, &row);
	bt_sim_free(sim);
}

/* The fitted point nearest SOC. */
static struct bt_ecm_point
point_near(const struct bt_ecm *m, double soc)
{
	struct bt_ecm_point pt, best;
	size_t j;

	bt_ecm_get_point(m, 0, 0, &best);
	for (j = 1; j < bt_ecm_n_soc(m); j++) {
		bt_ecm_get_point(m, 0, j, &pt);
		if (fabs(pt.soc - soc) < fabs(best.soc - soc))
			best = pt;
	}
	return best;
}

static void
test_hppc(unsigned nrc)
{
	struct bt_ecm *m = truth_model(nrc);
	struct bt_fit_data d;
	struct bt_fit_opts o;
	struct bt_fit_result res;
	char err[BT_ERRMSG_SIZE] = "", what[128];
	double z, worst_r0 = 0, worst_r = 0, worst_tau = 0, worst_ocv = 0;
	size_t j, k;

	simulate(m, BT_SIM_HPPC, 0, &d);
	bt_fit_opts_init(&o);
	o.rc_pairs = nrc;
	o.soc0 = 1;
	CHECK(bt_fit_hppc(&d, 1, &o, &res, err) == BT_OK, "hppc fit succeeds");
	/* The measured capacity: the test runs until the soc leaves [0, 1]. */
	CHECK(rel_close(res.capacity_ah, CAPACITY_AH, 1e-3) && res.capacity_measured,
	      "hppc: measured capacity within 0.1 %%");
	bt_fit_result_free(&res);
	o.capacity_ah = CAPACITY_AH;
	o.selfcheck = 1;
	CHECK(bt_fit_hppc(&d, 1, &o, &res, err) == BT_OK, "hppc fit succeeds");
	if (!res.ecm) {
		printf("%s\n", err);
		return;
	}
	/* The fits' fast path is bt_ecm_step()'s model, and its analytic
	 * Jacobian matches central differences. */
	snprintf(what, sizeof what, "hppc %uRC: fast residuals equal bt_ecm_step's (%.3g V)",
		 nrc, res.check_residual_v);
	printf("%s\n", what);
	CHECK(res.check_residual_v < 1e-12, "%s", what);
	snprintf(what, sizeof what, "hppc %uRC: analytic Jacobian equals central "
		 "differences (%.3g)", nrc, res.check_jacobian);
	printf("%s\n", what);
	CHECK(res.check_jacobian > 0 && res.check_jacobian < 1e-6, "%s", what);
	CHECK(bt_ecm_n_soc(res.ecm) >= 10, "hppc: ten or more soc points");
	for (z = 0.1; z < 0.95; z += 0.1) {
		struct bt_ecm_point p = point_near(res.ecm, z);

		worst_r0 = fmax(worst_r0, fabs(p.r0_ohm / R0 - 1));
		worst_ocv = fmax(worst_ocv, fabs(p.ocv_v - bt_ecm_ocv(m, p.soc, 25, NULL)));
		for (k = 0; k < nrc; k++) {
			worst_r = fmax(worst_r, fabs(p.r_ohm[k] / truth_r[nrc == 1 ? 1 : k] - 1));
			worst_tau = fmax(worst_tau, fabs(p.tau_s[k] / truth_tau[nrc == 1 ? 1 : k] - 1));
		}
		CHECK(p.r0_ohm_sd >= 0 && p.r_ohm_sd[0] >= 0 && p.tau_s_sd[0] >= 0,
		      "hppc: standard deviations known");
	}
	snprintf(what, sizeof what, "hppc %uRC noise-free: R0 within 0.2 %% (%.3g)",
		 nrc, worst_r0);
	CHECK(worst_r0 < 2e-3, "%s", what);
	/* The segment at 0.1 runs into the steep end of the OCV, which the
	 * local line through its rested point follows less well: 2 %. */
	snprintf(what, sizeof what, "hppc %uRC noise-free: R_k within 2 %% (%.3g)",
		 nrc, worst_r);
	CHECK(worst_r < 2e-2, "%s", what);
	snprintf(what, sizeof what, "hppc %uRC noise-free: tau_k within 2 %% (%.3g)",
		 nrc, worst_tau);
	CHECK(worst_tau < 2e-2, "%s", what);
	/* A 1800 s rest leaves exp(-1800 / 163.7) of the slow RC voltage. */
	snprintf(what, sizeof what, "hppc %uRC: OCV points within 1 uV (%.3g V)",
		 nrc, worst_ocv);
	CHECK(worst_ocv < 1e-6, "%s", what);
	for (j = 0; j < res.nseg; j++)
		if (res.seg[j].dir == BT_FIT_DIR_BOTH && res.seg[j].soc > 0.05)
			CHECK(res.seg[j].converged && res.seg[j].rmse_v < 2e-4,
			      "hppc: each segment converges to below 0.2 mV");
	bt_fit_result_free(&res);

	/* One iteration converges nowhere: an error, not a silent model. */
	o.max_iter = 1;
	o.selfcheck = 0;
	CHECK(bt_fit_hppc(&d, 1, &o, &res, err) == BT_ENOCONV
	      && strstr(err, "no segment fit converged") != NULL,
	      "hppc: no converged fit is an error");
	bt_fit_data_free(&d);
	bt_ecm_free(m);
}

static void
test_hppc_errors(void)
{
	struct bt_ecm *m = truth_model(1);
	struct bt_fit_data d;
	struct bt_fit_opts o;
	struct bt_fit_result res;
	char err[BT_ERRMSG_SIZE] = "";
	size_t k;

	simulate(m, BT_SIM_HPPC, 0, &d);
	bt_fit_opts_init(&o);
	/* No charge precedes the first discharge: no soc reference. */
	CHECK(bt_fit_hppc(&d, 1, &o, &res, err) == BT_EINVAL
	      && strcmp(err, "sim: no charge before the first discharge to take "
			"as full (give --soc0)") == 0, "hppc: no reference");
	/* No discharge at all: no capacity. */
	o.soc0 = 0.5;
	for (k = 0; k < d.n; k++)
		d.i[k] = fabs(d.i[k]);
	CHECK(bt_fit_hppc(&d, 1, &o, &res, err) == BT_EINVAL
	      && strstr(err, "cannot determine the capacity") != NULL,
	      "hppc: capacity undetermined");
	/* All rest: no pulses. */
	o.capacity_ah = CAPACITY_AH;
	for (k = 0; k < d.n; k++)
		d.i[k] = 0;
	CHECK(bt_fit_hppc(&d, 1, &o, &res, err) == BT_EEMPTY
	      && strstr(err, "no pulses found") != NULL, "hppc: no pulses");
	bt_fit_data_free(&d);
	bt_ecm_free(m);
}

/* A chamber campaign's temperature log, one row a minute: 5 h at 25 degC
 * with a one-row spike of 3.7 degC, a ramp to 10 degC in 30 min, 6 h
 * there, a slow ramp to 0 degC in 2 h (6 degC of it within the 3 degC of
 * its mean for 72 min, longer than the hold: rest, so not a level), 5 h at
 * 0 degC; +-1.2 degC of deterministic noise on the levels, a pulse every
 * hour, an empty temperature every 50th row. */
#define SPLIT_ROWS (300 + 30 + 360 + 120 + 300)

static double
split_temp(size_t k)
{
	double noise = 1.2 * sin(1.7 * (double)k);

	if (k < 300)
		return k == 120 ? 28.7 : 25 + noise;
	if (k < 330)
		return 25 - 15 * (double)(k - 300) / 30;
	if (k < 690)
		return 10 + noise;
	if (k < 810)
		return 10 - 10 * (double)(k - 690) / 120;
	return noise;
}

static void
test_split_levels(void)
{
	static double t[SPLIT_ROWS], i[SPLIT_ROWS], v[SPLIT_ROWS], temp[SPLIT_ROWS];
	struct bt_fit_data d;
	struct bt_fit_opts o;
	size_t first[BT_FIT_MAX_LEVELS], n = 0, k;
	enum bt_status st;
	double tc[BT_FIT_MAX_LEVELS];

	for (k = 0; k < SPLIT_ROWS; k++) {
		t[k] = 60.0 * (double)k;
		i[k] = (k < 300 || (k >= 330 && k < 690) || k >= 810) && k % 60 == 30
		       ? -2.1 : 0;
		v[k] = 3.7;
		temp[k] = k % 50 == 49 ? NAN : split_temp(k);
	}
	memset(&d, 0, sizeof d);
	d.n = SPLIT_ROWS;
	d.t = t;
	d.i = i;
	d.v = v;
	d.temp = temp;
	d.temperature_c = NAN;
	d.name = "log";
	bt_fit_opts_init(&o);
	st = bt_fit_split_levels(&d, &o, first, tc, &n);
	CHECK(st == BT_OK && n == 3,
	      "split: three levels (%zu)", n);
	/* Each test ends where the temperature leaves its level: the first
	 * ramp row more than 3 degC below the level's mean. */
	CHECK(n == 3 && first[0] == 0 && temp[first[1]] < tc[0] - 3
	      && temp[first[1] - 1] >= tc[0] - 3 && first[1] > 300 && first[1] < 310,
	      "split: the second test starts on the ramp (row %zu)", n == 3 ? first[1] : 0);
	CHECK(n == 3 && temp[first[2]] < tc[1] - 3 && temp[first[2] - 1] >= tc[1] - 3
	      && first[2] > 690 && first[2] < 730,
	      "split: the third test starts on the slow ramp (row %zu)", n == 3 ? first[2] : 0);
	/* A level's mean takes in the ramp rows within its tolerance: 36
	 * rows of the slow ramp, 0.15 degC lower for the 10 degC level. */
	CHECK(n == 3 && fabs(tc[0] - 25) < 0.1 && fabs(tc[1] - 9.85) < 0.05 && fabs(tc[2]) < 0.1,
	      "split: level means %g, %g, %g", tc[0], tc[1], tc[2]);
	/* The slow ramp carrying current is a level of its own. */
	for (k = 700; k < 810; k += 20)
		i[k] = -2.1;
	st = bt_fit_split_levels(&d, &o, first, tc, &n);
	CHECK(st == BT_OK && n == 4,
	      "split: a slow ramp with current is a level (%zu)", n);
	for (k = 700; k < 810; k += 20)
		i[k] = 0;
	/* A hold longer than every level, or a given temperature: one test. */
	o.level_hold_s = 7 * 3600;
	st = bt_fit_split_levels(&d, &o, first, tc, &n);
	CHECK(st == BT_OK && n == 1
	      && first[0] == 0 && isnan(tc[0]), "split: a long hold, one test");
	o.level_hold_s = BT_FIT_DEFAULT_LEVEL_HOLD_S;
	d.temperature_c = 25;
	st = bt_fit_split_levels(&d, &o, first, tc, &n);
	CHECK(st == BT_OK && n == 1,
	      "split: a given temperature, one test");
	/* Within a wide tolerance the whole log is one level. */
	d.temperature_c = NAN;
	o.temperature_tol_c = 30;
	st = bt_fit_split_levels(&d, &o, first, tc, &n);
	CHECK(st == BT_OK && n == 1,
	      "split: a wide tolerance, one test");
}

static void
test_profile(void)
{
	struct bt_ecm *m = truth_model(2);
	struct bt_fit_data d;
	struct bt_fit_opts o;
	struct bt_fit_result res;
	struct bt_fit_ocv ocv;
	char err[BT_ERRMSG_SIZE] = "";
	double worst_r0 = 0, worst_r = 0, worst_tau = 0;
	size_t j, k;

	simulate(m, BT_SIM_DRIVE, 0, &d);
	memset(&ocv, 0, sizeof ocv);
	ocv.n = N_OCV;
	ocv.soc = (double *)ocv_soc;
	ocv.ocv_v = (double *)ocv_v;
	bt_fit_opts_init(&o);
	o.soc0 = 1;
	o.capacity_ah = CAPACITY_AH;
	o.selfcheck = 1;
	CHECK(bt_fit_profile(&d, &ocv, NULL, &o, &res, err) == BT_OK,
	      "profile fit succeeds");
	if (!res.ecm) {
		printf("%s\n", err);
		return;
	}
	/* With R0 and R_k on the grid: the fast path is still bt_ecm_step's
	 * model, and its Jacobian (smoothness rows included) still matches
	 * central differences. */
	printf("profile: fast residuals differ from bt_ecm_step's by %.3g V, "
	       "Jacobian from central differences by %.3g\n",
	       res.check_residual_v, res.check_jacobian);
	CHECK(res.check_residual_v < 1e-12, "profile: fast residuals equal bt_ecm_step's");
	CHECK(res.check_jacobian > 0 && res.check_jacobian < 1e-6,
	      "profile: analytic Jacobian equals central differences");
	/* The drive runs from soc 1 to 0.2: the points it covers. */
	for (j = 0; j < bt_ecm_n_soc(res.ecm); j++) {
		struct bt_ecm_point p;

		bt_ecm_get_point(res.ecm, 0, j, &p);
		if (p.soc < 0.25)
			continue;
		worst_r0 = fmax(worst_r0, fabs(p.r0_ohm / R0 - 1));
		for (k = 0; k < 2; k++) {
			worst_r = fmax(worst_r, fabs(p.r_ohm[k] / truth_r[k] - 1));
			worst_tau = fmax(worst_tau, fabs(p.tau_s[k] / truth_tau[k] - 1));
		}
	}
	printf("profile 2RC noise-free: worst R0 %.3g, R_k %.3g, tau_k %.3g, rmse %.3g mV\n",
	       worst_r0, worst_r, worst_tau, 1e3 * bt_stats_summary(&res.residuals).rmse);
	CHECK(worst_r0 < 5e-3, "%s", "profile: R0 within 0.5 %");
	CHECK(worst_r < 0.05, "%s", "profile: R_k within 5 %");
	CHECK(worst_tau < 0.05, "%s", "profile: tau_k within 5 %");
	CHECK(bt_stats_summary(&res.residuals).rmse < 1e-4, "profile: rmse below 0.1 mV");
	CHECK(res.nseg == N_OCV && res.seg[0].dir == BT_FIT_DIR_PROFILE,
	      "profile: one report row per grid point");
	bt_fit_result_free(&res);
	bt_fit_data_free(&d);
	bt_ecm_free(m);
}

static struct bt_reader *
reader_on(const char *text, const char *path)
{
	struct bt_reader *r;
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) == EOF || fclose(f) != 0)
		abort();
	if (bt_reader_open(&r, path, NULL) != BT_OK)
		abort();
	return r;
}

static void
test_ocv(void)
{
	struct bt_fit_opts o;
	struct bt_fit_ocv t;
	struct bt_reader *r;
	char err[BT_ERRMSG_SIZE] = "";
	size_t k;
	int ok = 1;

	/* Branches f(z) -/+ h with f linear: the mean is f on the grid and
	 * half the difference is h, exactly (PCHIP of a line is the line). */
	bt_fit_opts_init(&o);
	r = reader_on("soc_discharge,ocv_discharge_v,soc_charge,ocv_charge_v\n"
		      "0.1,3.4927,0.05,3.4656\n0.4,3.7327,0.35,3.7056\n"
		      "0.7,3.9727,0.65,3.9456\n0.95,4.1727,0.9,4.1456\n",
		      "test_bt_fit.ocv.csv");
	CHECK(bt_fit_ocv_from_table(r, &o, &t, err) == BT_OK, "ocv table read");
	bt_reader_free(r);
	for (k = 0; k < t.n; k++) {
		/* Below 0.1 and above 0.9 one branch only, moved by the
		 * hysteresis at the nearest soc where both are. */
		double f = 3.41915 + 0.8 * t.soc[k];
		ok &= fabs(t.ocv_v[k] - f) < 1e-12
		      && fabs(t.hysteresis_v[k] - 0.00645) < 1e-12;
	}
	CHECK(ok && t.n > 10 && t.soc[0] == 0.05 && t.soc[t.n - 1] == 0.95,
	      "ocv: mean and hysteresis of two linear branches");
	CHECK(t.soc[2] == 0.15, "ocv: grid points are round multiples of the step");
	bt_fit_ocv_free(&t);

	/* A dip in a branch is pooled away (pool-adjacent-violators). */
	r = reader_on("soc,ocv_v\n0.1,3.5\n0.3,3.62\n0.5,3.60\n0.7,3.9\n",
		      "test_bt_fit.ocv.csv");
	CHECK(bt_fit_ocv_from_table(r, &o, &t, err) == BT_OK, "ocv one branch");
	bt_reader_free(r);
	for (k = 1, ok = 1; k < t.n; k++)
		ok &= t.ocv_v[k] >= t.ocv_v[k - 1];
	CHECK(ok, "ocv: a non-monotone branch becomes monotone");
	CHECK(fabs(t.ocv_v[4] - 3.61) < 1e-12, "ocv: the violators take their mean");
	bt_fit_ocv_free(&t);

	/* Reading a table back, and its errors. */
	r = reader_on("soc,ocv_v\n0.5,3.7\n0.1,3.4\n0.9,4.1\n", "test_bt_fit.ocv.csv");
	CHECK(bt_fit_ocv_read(r, &t, err) == BT_OK && t.n == 3 && t.soc[0] == 0.1,
	      "ocv read sorts by soc");
	bt_reader_free(r);
	bt_fit_ocv_free(&t);
	r = reader_on("soc,ocv_v\n0.5,3.7\n", "test_bt_fit.ocv.csv");
	CHECK(bt_fit_ocv_read(r, &t, err) == BT_EEMPTY
	      && strcmp(err, "test_bt_fit.ocv.csv: 1 OCV points, need 2 or more") == 0,
	      "ocv read: too few points");
	bt_reader_free(r);
	r = reader_on("soc,ocv_v\n0.5,3.7\n0.5,3.8\n", "test_bt_fit.ocv.csv");
	CHECK(bt_fit_ocv_read(r, &t, err) == BT_EINVAL
	      && strcmp(err, "test_bt_fit.ocv.csv: soc '0.5' appears twice") == 0,
	      "ocv read: repeated soc");
	bt_reader_free(r);
	remove("test_bt_fit.ocv.csv");
}

static void
test_grid(void)
{
	struct bt_fit_opts o;
	double g[BT_FIT_MAX_GRID];

	bt_fit_opts_init(&o);
	CHECK(bt_fit_parse_grid("0.05", g, &o) == BT_OK && o.grid_step == 0.05
	      && o.soc_grid == NULL, "grid: a step");
	CHECK(bt_fit_parse_grid("0.1,0.35,0.9", g, &o) == BT_OK && o.n_grid == 3
	      && o.soc_grid == g && g[1] == 0.35 && o.grid_step == 0, "grid: a list");
	CHECK(bt_fit_parse_grid("0", g, &o) == BT_EINVAL, "grid: step 0");
	CHECK(bt_fit_parse_grid("0.5,0.4", g, &o) == BT_EINVAL, "grid: decreasing");
	CHECK(bt_fit_parse_grid("0.5,1.2", g, &o) == BT_EINVAL, "grid: above 1");
	CHECK(bt_fit_parse_grid("0.5,", g, &o) == BT_EINVAL, "grid: empty point");
	CHECK(bt_fit_parse_grid("0.5", g, &o) == BT_OK, "grid: step 0.5");
}

static void
test_ecm_exports(void)
{
	struct bt_ecm *m = truth_model(2);
	double d[N_OCV], z, worst = 0, dy, dref;
	FILE *f = tmpfile();
	char buf[4096];
	size_t n;

	bt_ecm_pchip_slopes(ocv_soc, ocv_v, N_OCV, d);
	for (z = -0.05; z <= 1.05; z += 0.0137) {
		double a = bt_ecm_pchip_eval(ocv_soc, ocv_v, d, N_OCV, z, &dy);
		worst = fmax(worst, fabs(a - bt_ecm_ocv(m, z, 25, &dref)));
		worst = fmax(worst, fabs(dy - dref));
	}
	CHECK(worst == 0, "pchip export equals the model's OCV");
	{
		size_t j0;
		double w, w2, w3;
		size_t j2, j3;

		bt_ecm_soc_cell(m, 0.3, &j0, &w);
		bt_ecm_soc_cell(m, -0.2, &j2, &w2);
		bt_ecm_soc_cell(m, 1.4, &j3, &w3);
		CHECK(j0 == 2 && fabs(w - 0.2) < 1e-15 && j2 == 0 && w2 == 0
		      && j3 == N_OCV - 2 && w3 == 1, "soc cells, clamped outside the grid");
	}
	CHECK(bt_ecm_write_c(m, f, "cell_a") == BT_OK, "C tables written");
	CHECK(bt_ecm_write_c(m, f, "9bad") == BT_EINVAL, "C prefix checked");
	rewind(f);
	n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = 0;
	CHECK(strstr(buf, "#define CELL_A_RC_PAIRS 2") && strstr(buf, "3.4521")
	      && strstr(buf, "CELL_A_REAL cell_a_tau_s[2][1][7] CELL_A_UNUSED"),
	      "C tables hold the model");
	fclose(f);
	bt_ecm_free(m);
}

int
main(void)
{
	test_grid();
	test_ecm_exports();
	test_ocv();
	test_hppc_errors();
	test_split_levels();
	test_hppc(1);
	test_hppc(2);
	test_profile();
	return check_report();
}
