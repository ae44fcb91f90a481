/* test_bt_pf.c - the particle filter: its OCV table against the model,
 * convergence on simulated data, determinism by seed, resampling, option
 * errors.
 *
 * Deterministic; prints "N passed, N failed" and exits 1 on any failure.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <gsl/gsl_errno.h>

#include "bt_pf.h"
#include "bt_sim.h"
#include "test_util.h"

#define TOL_TABLE_V 2e-5	/* table OCV vs bt_ecm_voltage, V */
#define TOL_CONVERGED 0.01	/* soc error after convergence */

/* With a cloud a millionth wide the predicted voltage is the model's
 * voltage at that soc: the OCV table and the shared states agree with
 * bt_ecm_voltage() at every soc and temperature tried. */
static void
test_table(const struct bt_ecm *ecm)
{
	static const double socs[] = {0.013, 0.0731, 0.2, 0.4999, 0.8317, 0.99};
	static const double temps[] = {-3, 0, 12.7, 25, 31.4, 45, 50};
	struct bt_pf_opts o;
	struct bt_pf *pf;
	struct bt_pf_result res;
	struct bt_ecm_state st;
	double worst = 0, v;
	size_t a, b;

	bt_pf_opts_init(&o);
	o.p0_soc = 1e-6;
	o.p0_offset_c = 1e-9;
	for (a = 0; a < sizeof socs / sizeof socs[0]; a++)
		for (b = 0; b < sizeof temps / sizeof temps[0]; b++) {
			CHECK(bt_pf_alloc(ecm, &o, socs[a], &pf, NULL) == BT_OK, "alloc");
			bt_pf_update(pf, -1.3, NAN, temps[b], &res);
			bt_ecm_state_init(ecm, socs[a], temps[b], &st);
			v = bt_ecm_voltage(ecm, &st, -1.3);
			if (fabs(res.v_model_v - v) > worst)
				worst = fabs(res.v_model_v - v);
			bt_pf_free(pf);
		}
	CHECK(worst < TOL_TABLE_V, "predicted voltage vs the model: %.3g V", worst);
}

static double
run_drive(const struct bt_ecm *ecm, uint64_t seed, double *last_soc)
{
	struct bt_sim_opts so;
	struct bt_sim *sim = NULL;
	struct bt_sim_row row;
	struct bt_pf *pf = NULL;
	struct bt_pf_opts o;
	struct bt_pf_result res;
	double prev_i = 0, prev_t = 0, worst = 0;
	int k = 0;

	bt_sim_opts_init(&so);
	so.protocol = BT_SIM_DRIVE;
	so.soc0 = 0.85;
	so.drive.duration_s = 1800;
	so.voltage_noise_sd_v = 0.002;
	so.seed = 3;
	if (bt_sim_alloc(ecm, &so, &sim, NULL) != BT_OK) {
		CHECK(0, "sim");
		return 1;
	}
	bt_pf_opts_init(&o);
	o.seed = seed;
	CHECK(bt_pf_alloc(ecm, &o, 0.6, &pf, NULL) == BT_OK, "alloc");
	while (bt_sim_next(sim, &row) == BT_OK) {
		if (k++ > 0)
			bt_pf_predict(pf, prev_i, row.time_s - prev_t, row.temperature_c);
		bt_pf_update(pf, row.current_a, row.voltage_v, row.temperature_c, &res);
		if (row.time_s >= 300 && fabs(res.soc - row.soc_true) > worst)
			worst = fabs(res.soc - row.soc_true);
		prev_i = row.current_a;
		prev_t = row.time_s;
	}
	*last_soc = res.soc;
	bt_pf_free(pf);
	bt_sim_free(sim);
	return worst;
}

static void
test_converges(const struct bt_ecm *ecm)
{
	double a, b, c, worst;

	worst = run_drive(ecm, 1, &a);
	CHECK(worst < TOL_CONVERGED, "largest soc error after 300 s %.3g", worst);
	run_drive(ecm, 1, &b);
	run_drive(ecm, 2, &c);
	CHECK(a == b, "the same seed gives the same estimate");
	CHECK(a != c, "another seed gives another");
}

/* Systematic resampling keeps the weighted mean: a sharp measurement that
 * selects part of a wide cloud. */
static void
test_resampling(const struct bt_ecm *ecm)
{
	struct bt_pf_opts o;
	struct bt_pf *pf;
	struct bt_pf_result res;
	const double *z;
	double mean = 0;
	size_t j, n;

	bt_pf_opts_init(&o);
	o.particles = 20000;
	o.p0_soc = 0.1;
	o.r_v = 0.003;
	CHECK(bt_pf_alloc(ecm, &o, 0.5, &pf, NULL) == BT_OK, "alloc");
	CHECK(bt_pf_update(pf, 0, 3.79, 25, &res) == BT_OK, "update");
	z = bt_pf_particles(pf);
	n = bt_pf_count(pf);
	for (j = 0; j < n; j++)
		mean += z[j];
	mean /= (double)n;
	CHECK(n == 20000, "count");
	CHECK(fabs(mean - res.soc) < 3 * res.soc_sd / sqrt(1000),
	      "resampled mean %.6f vs weighted mean %.6f", mean, res.soc);
	{
		double lo = 0, hi = 1;
		int k;

		for (k = 0; k < 60; k++)
			if (bt_ecm_ocv(ecm, 0.5 * (lo + hi), 25, NULL) < 3.79)
				lo = 0.5 * (lo + hi);
			else
				hi = 0.5 * (lo + hi);
		CHECK(res.soc_sd < 0.02 && fabs(res.soc - lo) < 0.01,
		      "posterior %.4f +- %.4f near the OCV inverse %.4f", res.soc,
		      res.soc_sd, lo);
	}
	bt_pf_free(pf);
}

static void
test_errors(const struct bt_ecm *ecm)
{
	struct bt_pf_opts o;
	struct bt_pf *pf = NULL;
	char msg[BT_ERRMSG_SIZE] = "";

	bt_pf_opts_init(&o);
	o.particles = 1;
	CHECK(bt_pf_alloc(ecm, &o, 0.5, &pf, msg) == BT_EINVAL && pf == NULL,
	      "one particle: %s", msg);
	bt_pf_opts_init(&o);
	o.r_v = -1;
	CHECK(bt_pf_alloc(ecm, &o, 0.5, &pf, msg) == BT_EINVAL
	      && strcmp(msg, "r_v must be positive") == 0, "r_v < 0: %s", msg);
	bt_pf_opts_init(&o);
	CHECK(bt_pf_alloc(ecm, &o, 0.5, &pf, msg) == BT_OK, "defaults");
	CHECK(bt_pf_predict(pf, 0, -2, 25) == BT_EINVAL, "negative dt");
	CHECK(bt_pf_update(pf, 0, 3.7, NAN, NULL) == BT_EINVAL, "NaN temperature");
	bt_pf_free(pf);
	bt_pf_free(NULL);
}

int
main(void)
{
	struct bt_ecm *ecm = test_model();

	gsl_set_error_handler_off();
	test_table(ecm);
	test_converges(ecm);
	test_resampling(ecm);
	test_errors(ecm);
	bt_ecm_free(ecm);
	return check_report();
}
