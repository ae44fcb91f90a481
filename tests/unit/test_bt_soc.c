/* test_bt_soc.c - the estimator: OCV inversion, coulomb counting against
 * a direct sum, gaps as rest, time errors, method names, the drift bounds
 * against the Wilson-Hilferty approximation, metrics against direct sums.
 *
 * Deterministic; prints "N passed, N failed" and exits 1 on any failure.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <gsl/gsl_errno.h>

#include "bt_soc.h"
#include "test_util.h"

static void
test_ocv_inverse(const struct bt_ecm *ecm)
{
	static const double socs[] = {0.0317, 0.2, 0.4871, 0.77, 0.9713};
	double worst = 0;
	size_t k;

	for (k = 0; k < sizeof socs / sizeof socs[0]; k++) {
		double v = bt_ecm_ocv(ecm, socs[k], 17.3, NULL);

		worst = fmax(worst, fabs(bt_soc_from_ocv(ecm, v, 17.3) - socs[k]));
	}
	CHECK(worst < 1e-12, "OCV inverse: %.3g", worst);
	CHECK(bt_soc_from_ocv(ecm, 2.5, 25) == 0 && bt_soc_from_ocv(ecm, 4.5, 25) == 1,
	      "OCV inverse clamps");
}

/* Coulomb counting from a given soc0: discharge only (efficiency 1). */
static void
test_cc(const struct bt_ecm *ecm)
{
	struct bt_soc_opts o;
	struct bt_soc *s = NULL;
	struct bt_soc_row row;
	double t = 0, i = -1.7, z = 0.8137;
	int k;

	bt_soc_opts_init(&o);
	o.method = BT_SOC_CC;
	o.soc0 = z;
	CHECK(bt_soc_alloc(ecm, &o, &s, NULL) == BT_OK, "alloc cc");
	for (k = 0; k < 100; k++) {
		double dt = k == 50 ? 3600 : 1.3;	/* one gap: rest */

		if (k > 0) {
			t += dt;
			if (dt <= o.max_gap_s)
				z += i * dt / (3600 * 2.5);
		}
		CHECK(bt_soc_update(s, t, i, 3.9, 25, &row) == BT_OK, "cc update");
	}
	CHECK(fabs(row.soc - z) < 1e-12, "cc %.15g vs the sum %.15g", row.soc, z);
	CHECK(row.soc_lo < row.soc && row.soc_hi > row.soc && row.soc_sd > 0,
	      "cc interval around the estimate");
	CHECK(bt_soc_update(s, t - 1, i, 3.9, 25, &row) == BT_ETIME, "time backwards");
	CHECK(bt_soc_update(s, t, NAN, 3.9, 25, &row) == BT_ENONFINITE, "NaN current");
	bt_soc_free(s);

	/* soc0 auto needs a voltage in the first row; finds the soc of a
	 * rested OCV. */
	o.soc0 = NAN;
	CHECK(bt_soc_alloc(ecm, &o, &s, NULL) == BT_OK, "alloc auto");
	CHECK(bt_soc_update(s, 0, 0, NAN, 25, &row) == BT_ENONFINITE, "auto without voltage");
	CHECK(bt_soc_update(s, 0, 0, bt_ecm_ocv(ecm, 0.6421, 25, NULL), 25, &row) == BT_OK
	      && fabs(bt_soc_initial(s) - 0.6421) < 1e-12 && !bt_soc_initial_under_load(s),
	      "auto from the OCV: %.15g", bt_soc_initial(s));
	bt_soc_free(s);
}

static void
test_names_and_options(const struct bt_ecm *ecm)
{
	enum bt_soc_method m;
	struct bt_soc_opts o;
	struct bt_soc *s = NULL;
	char msg[BT_ERRMSG_SIZE] = "";
	size_t k;

	for (k = 0; k < BT_SOC_NMETHODS; k++)
		CHECK(bt_soc_method_parse(bt_soc_method_name(k), &m) == BT_OK && m == k,
		      "method %zu round trip", k);
	CHECK(bt_soc_method_parse("kalman", &m) == BT_EINVAL, "unknown method");
	bt_soc_opts_init(&o);
	o.method = BT_SOC_PF;
	o.kf.adapt = 1;
	CHECK(bt_soc_alloc(ecm, &o, &s, msg) == BT_EINVAL && s == NULL
	      && strcmp(msg, "adaptation needs the ekf or the ukf") == 0, "pf adapt: %s", msg);
	bt_soc_opts_init(&o);
	o.soc0 = 1.2;
	CHECK(bt_soc_alloc(ecm, &o, &s, msg) == BT_EINVAL, "soc0 out of range");
}

/* The chi-square bounds of the drift test against Wilson and Hilferty's
 * cube-root normal approximation (1931), good to 1e-3 at 300 degrees of
 * freedom: chi2_p(k)/k = (1 - 2/(9k) + z_p sqrt(2/(9k)))^3. */
static void
test_drift_bounds(const struct bt_ecm *ecm)
{
	const double k = BT_SOC_DEFAULT_DRIFT_WINDOW, z = 2.5758293035489004;
	const double c = 2 / (9 * k);
	struct bt_soc_opts o;
	struct bt_soc *s = NULL;
	struct bt_soc_drift d;

	bt_soc_opts_init(&o);
	o.kf.adapt = 1;
	CHECK(bt_soc_alloc(ecm, &o, &s, NULL) == BT_OK, "alloc adapt");
	bt_soc_drift_summary(s, &d);
	CHECK(fabs(d.upper - pow(1 - c + z * sqrt(c), 3)) < 1e-3, "upper %.6f", d.upper);
	CHECK(fabs(d.lower - pow(1 - c - z * sqrt(c), 3)) < 1e-3, "lower %.6f", d.lower);
	CHECK(d.flagged == 0 && isnan(d.first_time_s), "nothing flagged yet");
	bt_soc_free(s);
}

static void
test_metrics(void)
{
	struct bt_soc_metrics m;
	struct bt_soc_summary r;
	struct bt_soc_row row;
	double sum2 = 0, sumabs = 0, sum = 0, maxabs = 0, e;
	int k, n = 0, inside = 0;

	bt_soc_metrics_init(&m, 10);
	for (k = 0; k < 100; k++) {
		double t = 3 + k, ref = 0.9 - 0.004 * k;

		/* Error 0.1 decaying to 0.001: below 0.02 from k = 40 on. */
		e = k < 40 ? 0.1 * (1 - k / 50.0) : 0.001 * ((k % 3) - 1);
		row.soc = ref + e;
		row.soc_lo = row.soc - 0.0015;
		row.soc_hi = row.soc + 0.0015;
		bt_soc_metrics_add(&m, t, &row, ref);
		bt_soc_metrics_add(&m, t, &row, NAN);	/* no reference: no sample */
		if (t < 3 + 10)
			continue;
		n++;
		sum += e;
		sumabs += fabs(e);
		sum2 += e * e;
		maxabs = fmax(maxabs, fabs(e));
		inside += fabs(e) <= 0.0015;
	}
	r = bt_soc_metrics_summary(&m);
	CHECK(r.n == (size_t)n, "n %zu", r.n);
	CHECK(fabs(r.rmse - sqrt(sum2 / n)) < 1e-15, "rmse");
	CHECK(fabs(r.mae - sumabs / n) < 1e-15 && fabs(r.bias - sum / n) < 1e-15, "mae, bias");
	CHECK(fabs(r.max_abs - maxabs) < 1e-15, "max_abs");
	CHECK(fabs(r.coverage - (double)inside / n) < 1e-15, "coverage %.4f", r.coverage);
	CHECK(r.convergence_s == 40, "convergence %.6g s (the 41st sample)", r.convergence_s);
	CHECK(fabs(r.final_error - 0.001 * ((99 % 3) - 1)) < 1e-18, "final error");
	bt_soc_metrics_init(&m, 0);
	r = bt_soc_metrics_summary(&m);
	CHECK(r.n == 0 && isnan(r.rmse) && isnan(r.coverage) && isnan(r.convergence_s),
	      "empty metrics are NaN");
}

int
main(void)
{
	struct bt_ecm *ecm = test_model();

	gsl_set_error_handler_off();
	test_ocv_inverse(ecm);
	test_cc(ecm);
	test_names_and_options(ecm);
	test_drift_bounds(ecm);
	test_metrics();
	bt_ecm_free(ecm);
	return check_report();
}
