/* test_bt_kf.c - the Kalman filters against a textbook linear Kalman
 * filter on a linear model (where EKF and UKF are exact; with direct soc
 * measurements too), positive
 * definiteness under stress, convergence on simulated data, option errors.
 *
 * Deterministic; prints "N passed, N failed" and exits 1 on any failure.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>

#include "bt_kf.h"
#include "bt_sim.h"
#include "test_util.h"

/* Tolerances. */
#define TOL_LINEAR 1e-10	/* EKF and UKF vs the textbook filter */
#define TOL_CONVERGED 0.01	/* soc error after convergence */
#define TOL_PROPAGATION 1e-13	/* predicted covariance vs dense products,
				   on the scale of the standard deviations */

/* A 2RC cell with a linear OCV and constant parameters: a linear system. */
static const char linear_model[] =
	"battools-ecm 1\n"
	"capacity_ah 2.1718\n"
	"rc_pairs 2\n"
	"table\n"
	"temperature_c,soc,ocv_v,r0_ohm,r1_ohm,tau1_s,r2_ohm,tau2_s\n"
	"25,0,3.2113,0.0271,0.0153,7.31,0.0219,183.7\n"
	"25,1,4.1927,0.0271,0.0153,7.31,0.0219,183.7\n";

/* The textbook linear Kalman filter (Kalman 1960; P <- (I - K H) P) of
 * the model above, written out from its equations, not from bt_ecm. */
struct ref_kf {
	double x[3], p[9];
};

/* P <- A P A' + B B' q_i^2 + diag(q) dt. */
static void
ref_cov(struct ref_kf *f, const struct bt_kf_opts *o, double dt)
{
	const double q = 3600 * 2.1718, e1 = exp(-dt / 7.31), e2 = exp(-dt / 183.7);
	const double a[9] = {1, 0, 0, 0, e1, 0, 0, 0, e2};
	const double b[3] = {dt / q, 0.0153 * (1 - e1), 0.0219 * (1 - e2)};
	double ap[9], pn[9];
	int r, c, m;

	for (r = 0; r < 3; r++)
		for (c = 0; c < 3; c++) {
			ap[r * 3 + c] = 0;
			for (m = 0; m < 3; m++)
				ap[r * 3 + c] += a[r * 3 + m] * f->p[m * 3 + c];
		}
	for (r = 0; r < 3; r++)
		for (c = 0; c < 3; c++) {
			pn[r * 3 + c] = b[r] * b[c] * o->q_i * o->q_i;
			for (m = 0; m < 3; m++)
				pn[r * 3 + c] += ap[r * 3 + m] * a[c * 3 + m];
		}
	pn[0] += o->q_soc * o->q_soc * dt;
	pn[4] += o->q_v * o->q_v * dt;
	pn[8] += o->q_v * o->q_v * dt;
	memcpy(f->p, pn, sizeof pn);
}

static void
ref_predict(struct ref_kf *f, const struct bt_kf_opts *o, double i, double dt)
{
	const double q = 3600 * 2.1718, e1 = exp(-dt / 7.31), e2 = exp(-dt / 183.7);

	ref_cov(f, o, dt);
	f->x[0] += i * dt / q;
	f->x[1] = e1 * f->x[1] + 0.0153 * (1 - e1) * i;
	f->x[2] = e2 * f->x[2] + 0.0219 * (1 - e2) * i;
}

static void
ref_update(struct ref_kf *f, const struct bt_kf_opts *o, double i, double v)
{
	const double h[3] = {4.1927 - 3.2113, 1, 1};
	double ph[3], s = o->r_v * o->r_v, k[3], z, pn[9];
	int r, c;

	for (r = 0; r < 3; r++) {
		ph[r] = 0;
		for (c = 0; c < 3; c++)
			ph[r] += f->p[r * 3 + c] * h[c];
		s += h[r] * ph[r];
	}
	z = 3.2113 + h[0] * f->x[0] + f->x[1] + f->x[2] + 0.0271 * i;
	for (r = 0; r < 3; r++) {
		k[r] = ph[r] / s;
		f->x[r] += k[r] * (v - z);
	}
	for (r = 0; r < 3; r++)
		for (c = 0; c < 3; c++)
			pn[r * 3 + c] = f->p[r * 3 + c] - k[r] * ph[c];
	memcpy(f->p, pn, sizeof pn);
}

/* A direct measurement Z of the soc with standard deviation SD: H = [1 0 0]. */
static void
ref_update_soc(struct ref_kf *f, double z, double sd)
{
	double s = f->p[0] + sd * sd, k[3], pn[9], x0 = f->x[0];
	int r, c;

	for (r = 0; r < 3; r++)
		k[r] = f->p[r * 3] / s;
	for (r = 0; r < 3; r++)
		for (c = 0; c < 3; c++)
			pn[r * 3 + c] = f->p[r * 3 + c] - k[r] * f->p[c];
	for (r = 0; r < 3; r++)
		f->x[r] += k[r] * (z - x0);
	memcpy(f->p, pn, sizeof pn);
}

static void
test_linear(enum bt_kf_method method, const char *name)
{
	struct bt_ecm *ecm = NULL;
	struct bt_kf *kf = NULL;
	struct bt_kf_opts o;
	struct bt_kf_result res;
	struct ref_kf ref;
	double x[BT_KF_MAX_STATE], p[BT_KF_MAX_STATE * BT_KF_MAX_STATE];
	double worst_x = 0, worst_p = 0, i = 0, t;
	unsigned long seed = 12345;
	int k, r;

	CHECK(bt_ecm_parse(linear_model, sizeof linear_model - 1, "linear", &ecm,
			   NULL) == BT_OK, "linear model parses");
	bt_kf_opts_init(&o);
	o.method = method;
	o.p0_soc = 0.13;
	o.p0_offset_c = 0;	/* the textbook filter has no offset state */
	o.r_tau_s = 0;		/* and white measurement noise */
	CHECK(bt_kf_alloc(ecm, &o, 0.6137, &kf, NULL) == BT_OK, "%s: alloc", name);
	memset(&ref, 0, sizeof ref);
	ref.x[0] = 0.6137;
	ref.p[0] = o.p0_soc * o.p0_soc;
	ref.p[4] = ref.p[8] = o.p0_v * o.p0_v;
	for (k = 0; k < 2000; k++) {
		double dt = 0.5 + (k % 7) * 0.31, v;

		if (k > 0) {
			CHECK(bt_kf_predict(kf, i, dt, 25) == BT_OK, "%s: predict", name);
			ref_predict(&ref, &o, i, dt);
		}
		i = 3 * (test_uniform(&seed) - 0.6);
		v = 3.2113 + 0.98 * 0.55 + 0.0271 * i + 0.004 * (test_uniform(&seed) - 0.5);
		CHECK(bt_kf_update(kf, i, v, 25, &res) == BT_OK, "%s: update", name);
		ref_update(&ref, &o, i, v);
		/* Every third sample, a direct soc measurement too (nn+ekf). */
		if (k % 3 == 1) {
			double z = 0.55 + 0.03 * (test_uniform(&seed) - 0.5);

			CHECK(bt_kf_update_soc(kf, z, 0.021, &res) == BT_OK,
			      "%s: soc update", name);
			ref_update_soc(&ref, z, 0.021);
		}
		bt_kf_state(kf, x, p);
		for (r = 0; r < 3; r++)
			if ((t = fabs(x[r] - ref.x[r])) > worst_x)
				worst_x = t;
		for (r = 0; r < 9; r++)
			if ((t = fabs(p[r] - ref.p[r])) > worst_p)
				worst_p = t;
	}
	CHECK(worst_x <= TOL_LINEAR, "%s: state vs textbook filter: %.3g", name, worst_x);
	CHECK(worst_p <= TOL_LINEAR, "%s: covariance vs textbook filter: %.3g", name,
	      worst_p);
	CHECK(fabs(res.soc - x[0]) == 0 && fabs(res.soc_sd - sqrt(p[0])) == 0,
	      "%s: result reports the state", name);
	/* No soc (NaN) changes nothing; a bad deviation is refused. */
	CHECK(bt_kf_update_soc(kf, NAN, 0.021, &res) == BT_OK && res.soc == x[0],
	      "%s: a NaN soc makes no update", name);
	CHECK(bt_kf_update_soc(kf, 0.5, 0, &res) == BT_EINVAL
	      && bt_kf_update_soc(kf, 0.5, NAN, &res) == BT_EINVAL
	      && bt_kf_update_soc(kf, INFINITY, 0.02, &res) == BT_EINVAL,
	      "%s: soc update with sd 0, NaN or an infinite soc", name);
	bt_kf_free(kf);
	bt_ecm_free(ecm);
}

/* Near-singular conditions: a voltage noise of 0.1 uV against a prior of
 * 3 in soc and 1 V in the RC voltages, long and zero steps, adaptation:
 * the covariance must stay symmetric positive definite at every step. */
static void
test_stress(const struct bt_ecm *ecm, enum bt_kf_method method, int adapt,
	    const char *name)
{
	struct bt_kf *kf = NULL;
	struct bt_kf_opts o;
	struct bt_kf_result res;
	double x[BT_KF_MAX_STATE], p[BT_KF_MAX_STATE * BT_KF_MAX_STATE];
	unsigned long seed = 777;
	size_t n, r, c;
	int k, bad = 0;

	bt_kf_opts_init(&o);
	o.method = method;
	o.adapt = adapt;
	o.r_v = 1e-7;
	o.p0_soc = 3;
	o.p0_v = 1;
	CHECK(bt_kf_alloc(ecm, &o, 0.5, &kf, NULL) == BT_OK, "%s: alloc", name);
	n = bt_kf_dim(kf);
	for (k = 0; k < 3000; k++) {
		double i = 5 * (test_uniform(&seed) - 0.5);
		double dt = k % 50 == 0 ? 0 : k % 97 == 0 ? 3000 : 1;

		if (bt_kf_predict(kf, i, dt, 25) != BT_OK
		    || bt_kf_update(kf, i, 3.7 + 0.1 * (test_uniform(&seed) - 0.5),
				    25, &res) != BT_OK) {
			bad++;
			break;
		}
		bt_kf_state(kf, x, p);
		for (r = 0; r < n; r++)
			for (c = 0; c < n; c++)
				if (p[r * n + c] != p[c * n + r])
					bad++;
		{
			gsl_matrix_view m = gsl_matrix_view_array(p, n, n);

			if (gsl_linalg_cholesky_decomp1(&m.matrix) != GSL_SUCCESS)
				bad++;
		}
	}
	CHECK(bad == 0, "%s: covariance symmetric positive definite throughout (%d bad)",
	      name, bad);
	bt_kf_free(kf);
}

/* The EKF's prediction of the covariance against A P A' + Q written out
 * densely from its parts: bt_ecm's Jacobians, then the columns the filter
 * adds for the current offset (dx'/db = -dx'/di) or for the adapted R0
 * factor and capacity (d soc'/dQ), and the process noise.  This checks
 * the sparse propagation for each layout of the state. */
static void
test_propagation(const struct bt_ecm *ecm, int adapt, double p0_offset,
		 const char *name)
{
	struct bt_kf *kf = NULL;
	struct bt_kf_opts o;
	struct bt_kf_result res;
	struct bt_ecm_state st;
	double x[BT_KF_MAX_STATE], p[BT_KF_MAX_STATE * BT_KF_MAX_STATE];
	double a[BT_KF_MAX_STATE * BT_KF_MAX_STATE], b[BT_KF_MAX_STATE];
	double am[BT_ECM_MAX_STATE * BT_ECM_MAX_STATE], bm[BT_ECM_MAX_STATE];
	double ap[BT_KF_MAX_STATE * BT_KF_MAX_STATE], qd, worst = 0;
	double want[BT_KF_MAX_STATE * BT_KF_MAX_STATE];
	double pn[BT_KF_MAX_STATE * BT_KF_MAX_STATE];
	const double temp = 26.3, eta = bt_ecm_info(ecm)->coulombic_efficiency;
	unsigned long seed = 4242;
	size_t n, nm = bt_ecm_state_dim(ecm), last, r, c, m;
	int k;

	bt_kf_opts_init(&o);
	o.adapt = adapt;
	o.p0_offset_c = p0_offset;
	CHECK(bt_kf_alloc(ecm, &o, 0.63, &kf, NULL) == BT_OK, "%s: alloc", name);
	n = bt_kf_dim(kf);
	last = n - 1;
	CHECK(n == nm + (adapt ? 2 : p0_offset > 0), "%s: dimension", name);
	for (k = 0; k < 200; k++) {
		double i = 6 * (test_uniform(&seed) - 0.55), dt = 1 + k % 3;
		double ic, q = 3600 * bt_ecm_capacity_ah(ecm);

		if (k > 0) {
			/* Take the reference from the state before the step. */
			bt_kf_state(kf, x, p);
			ic = !adapt && p0_offset > 0 ? i - x[last] : i;
			bt_ecm_state_init(ecm, x[0], temp, &st);
			bt_ecm_state_unpack(ecm, x, &st);
			bt_ecm_jacobian(ecm, &st, ic, dt, am, bm);
			memset(a, 0, sizeof a);
			memset(b, 0, sizeof b);
			for (r = 0; r < nm; r++) {
				b[r] = bm[r];
				for (c = 0; c < nm; c++)
					a[r * n + c] = am[r * nm + c];
			}
			if (adapt) {
				double qh = x[last], e = ic > 0 ? eta : 1;

				q = 3600 * qh;
				a[0 * n + last] = -e * ic * dt / (q * qh);
				b[0] = e * dt / q;
				a[(last - 1) * n + last - 1] = 1;
				a[last * n + last] = 1;
			} else if (p0_offset > 0) {
				for (r = 0; r < n; r++)
					a[r * n + last] = -b[r];
				a[last * n + last] = 1;
			}
			for (r = 0; r < n; r++)
				for (c = 0; c < n; c++) {
					ap[r * n + c] = 0;
					for (m = 0; m < n; m++)
						ap[r * n + c] += a[r * n + m] * p[m * n + c];
				}
			CHECK(bt_kf_predict(kf, i, dt, temp) == BT_OK, "%s: predict", name);
			bt_kf_state(kf, x, pn);
			for (r = 0; r < n; r++)
				for (c = 0; c < n; c++) {
					/* The process noise: read off the diagonal
					 * options as bt_kf_alloc sets them. */
					qd = r != c ? 0
					     : r == 0 ? o.q_soc * o.q_soc
					     : r < 1 + bt_ecm_rc_pairs(ecm) ? o.q_v * o.q_v
					     : r < nm ? o.q_h * o.q_h
					     : adapt && r == last
					     ? o.q_capacity * o.q_capacity *
					       bt_ecm_capacity_ah(ecm) * bt_ecm_capacity_ah(ecm)
					     : adapt ? o.q_r0 * o.q_r0
					     : o.q_offset_c * o.q_offset_c *
					       bt_ecm_capacity_ah(ecm) * bt_ecm_capacity_ah(ecm);
					want[r * n + c] = qd * dt + b[r] * b[c] * o.q_i * o.q_i;
					for (m = 0; m < n; m++)
						want[r * n + c] += ap[r * n + m] * a[c * n + m];
				}
			/* Errors on the scale of the standard deviations. */
			for (r = 0; r < n; r++)
				for (c = 0; c < n; c++)
					worst = fmax(worst, fabs(pn[r * n + c] - want[r * n + c]) /
						     sqrt(want[r * n + r] * want[c * n + c]));
		}
		CHECK(bt_kf_update(kf, i, 3.6 + 0.3 * test_uniform(&seed), temp,
				   &res) == BT_OK, "%s: update", name);
	}
	CHECK(worst <= TOL_PROPAGATION, "%s: A P A' + Q against dense products: "
	      "relative error %.3g", name, worst);
	bt_kf_free(kf);
}

/* Noise-free simulated drive cycle, the filter started 25 points off. */
static void
test_converges(const struct bt_ecm *ecm, enum bt_kf_method method, const char *name)
{
	struct bt_sim_opts so;
	struct bt_sim *sim = NULL;
	struct bt_sim_row row;
	struct bt_kf *kf = NULL;
	struct bt_kf_opts o;
	struct bt_kf_result res;
	double prev_i = 0, prev_t = 0, worst = 0;
	int k = 0;

	bt_sim_opts_init(&so);
	so.protocol = BT_SIM_DRIVE;
	so.soc0 = 0.85;
	so.drive.duration_s = 1800;
	if (bt_sim_alloc(ecm, &so, &sim, NULL) != BT_OK) {
		CHECK(0, "sim");
		return;
	}
	bt_kf_opts_init(&o);
	o.method = method;
	CHECK(bt_kf_alloc(ecm, &o, 0.6, &kf, NULL) == BT_OK, "%s: alloc", name);
	while (bt_sim_next(sim, &row) == BT_OK) {
		if (k++ > 0)
			bt_kf_predict(kf, prev_i, row.time_s - prev_t, row.temperature_c);
		bt_kf_update(kf, row.current_a, row.voltage_v, row.temperature_c, &res);
		if (row.time_s >= 300 && fabs(res.soc - row.soc_true) > worst)
			worst = fabs(res.soc - row.soc_true);
		prev_i = row.current_a;
		prev_t = row.time_s;
	}
	CHECK(worst < TOL_CONVERGED, "%s: largest soc error after 300 s %.3g", name, worst);
	bt_kf_free(kf);
	bt_sim_free(sim);
}

/* The unscented filter's sigma points keep their soc within
 * [BT_KF_SOC_MIN, BT_KF_SOC_MAX] (Kandepu et al. 2008).  On the linear
 * model at rest (4 states: soc, two RC voltages, the current offset; alpha
 * 1, kappa 0: lambda 0, centre weight 0, the 8 others 1/8, gamma 2)
 * started at 0.97 with sd 0.2, the soc pair lies at 0.97 +- 0.4: 1.37
 * projected onto 1.05, and 0.57.  The RC and offset pairs cancel at zero
 * current, and the OCV continues the table's end slope past 1, so that the
 * predicted voltage is (6 OCV(0.97) + OCV(1.05) + OCV(0.57)) / 8, not
 * OCV(0.97) or (6 OCV(0.97) + OCV(1.37) + OCV(0.57)) / 8. */
static void
test_projected_sigma(void)
{
	const double a = 3.2113, b = 4.1927 - 3.2113;
	struct bt_ecm *lin = NULL;
	struct bt_kf *kf = NULL;
	struct bt_kf_opts o;
	struct bt_kf_result res;
	double want = (6 * (a + b * 0.97) + (a + b * BT_KF_SOC_MAX) + (a + b * 0.57)) / 8;

	CHECK(bt_ecm_parse(linear_model, sizeof linear_model - 1, "linear", &lin,
			   NULL) == BT_OK, "projected: the linear model parses");
	bt_kf_opts_init(&o);
	o.method = BT_KF_UKF;
	o.p0_soc = 0.2;
	CHECK(bt_kf_alloc(lin, &o, 0.97, &kf, NULL) == BT_OK, "projected: alloc");
	CHECK(bt_kf_dim(kf) == 4, "projected: 4 states");
	CHECK(bt_kf_update(kf, 0, NAN, 25, &res) == BT_OK, "projected: update");
	CHECK(fabs(res.v_model_v - want) < TOL_LINEAR,
	      "projected sigma points: predicted voltage %.12g against %.12g",
	      res.v_model_v, want);
	bt_kf_free(kf);
	bt_ecm_free(lin);
}

/* The sample variance of a correlated error against its definition
 * r^2 (1 + phi) / (1 - phi), phi = exp(-dt / tau), and its limits. */
static void
test_sample_variance(void)
{
	const double r = 0.0073, tau = 187, dt[] = {0.01, 1, 7.5, 187, 5000};
	double phi, want;
	size_t k;

	for (k = 0; k < sizeof dt / sizeof dt[0]; k++) {
		phi = exp(-dt[k] / tau);
		want = r * r * (1 + phi) / (1 - phi);
		CHECK(fabs(bt_kf_sample_variance(r, tau, dt[k]) - want) <= 1e-9 * want,
		      "sample variance at dt %g: %.12g against %.12g", dt[k],
		      bt_kf_sample_variance(r, tau, dt[k]), want);
	}
	/* dt << tau: 2 tau / dt samples' worth; tau 0: white; dt 0: nothing new. */
	CHECK(fabs(bt_kf_sample_variance(r, tau, 1e-6) / (r * r * 2 * tau / 1e-6) - 1) < 1e-6,
	      "small steps weigh 2 tau / dt");
	CHECK(bt_kf_sample_variance(r, 0, 1) == r * r, "white noise: r^2");
	CHECK(isinf(bt_kf_sample_variance(r, tau, 0)), "a repeated time: infinite");
}

static void
test_errors(const struct bt_ecm *ecm)
{
	struct bt_kf *kf = (struct bt_kf *)1;
	struct bt_kf_opts o;
	char msg[BT_ERRMSG_SIZE] = "";

	bt_kf_opts_init(&o);
	o.r_v = 0;
	CHECK(bt_kf_alloc(ecm, &o, 0.5, &kf, msg) == BT_EINVAL && kf == NULL
	      && strcmp(msg, "r_v must be positive") == 0, "r_v 0: %s", msg);
	bt_kf_opts_init(&o);
	o.q_soc = -1;
	CHECK(bt_kf_alloc(ecm, &o, 0.5, &kf, msg) == BT_EINVAL
	      && strcmp(msg, "q_soc must not be negative") == 0, "q_soc < 0: %s", msg);
	bt_kf_opts_init(&o);
	o.method = BT_KF_UKF;
	o.ukf_alpha = 1e-3;	/* the centre covariance weight goes negative */
	CHECK(bt_kf_alloc(ecm, &o, 0.5, &kf, msg) == BT_EINVAL
	      && strstr(msg, "centre covariance weight") != NULL, "small alpha: %s", msg);
	bt_kf_opts_init(&o);
	CHECK(bt_kf_alloc(ecm, &o, NAN, &kf, msg) == BT_EINVAL, "NaN soc0");
	CHECK(bt_kf_alloc(ecm, &o, 0.5, &kf, msg) == BT_OK, "defaults");
	CHECK(bt_kf_predict(kf, 1, -1, 25) == BT_EINVAL, "negative dt");
	CHECK(bt_kf_predict(kf, NAN, 1, 25) == BT_EINVAL, "NaN current");
	CHECK(bt_kf_dim(kf) == 5, "2RC + h + current offset: 5 states");
	bt_kf_free(kf);
	bt_kf_free(NULL);
}

int
main(void)
{
	struct bt_ecm *ecm = test_model();

	gsl_set_error_handler_off();
	test_linear(BT_KF_EKF, "ekf");
	test_linear(BT_KF_UKF, "ukf");
	test_stress(ecm, BT_KF_EKF, 0, "ekf");
	test_stress(ecm, BT_KF_UKF, 0, "ukf");
	test_stress(ecm, BT_KF_EKF, 1, "ekf adapt");
	test_stress(ecm, BT_KF_UKF, 1, "ukf adapt");
	test_propagation(ecm, 0, 0.05, "propagation, current offset");
	test_propagation(ecm, 0, 0, "propagation, model states only");
	test_propagation(ecm, 1, 0.05, "propagation, adapted R0 and capacity");
	test_converges(ecm, BT_KF_EKF, "ekf");
	test_converges(ecm, BT_KF_UKF, "ukf");
	test_projected_sigma();
	test_sample_variance();
	test_errors(ecm);
	bt_ecm_free(ecm);
	return check_report();
}
