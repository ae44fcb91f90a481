/* test_bt_pf.c - the particle filter: its OCV table against the model,
 * its Gaussian draws against the normal distribution, its posterior
 * against the analytic one of a linear cell (with the OCV error
 * integrated out, and through progressive correction), convergence on
 * simulated data, determinism by seed, resampling, option errors.
 *
 * Deterministic; prints "N passed, N failed" and exits 1 on any failure.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_errno.h>

#include "bt_pf.h"
#include "bt_sim.h"
#include "test_util.h"

#define TOL_TABLE_V 2e-5	/* table OCV vs bt_ecm_voltage, V */
#define TOL_CONVERGED 0.01	/* soc error after convergence */
#define KS_PARTICLES 200000	/* draws of the normality tests */
#define KS_CRITICAL 1.95	/* Kolmogorov's 0.1 % point, times sqrt(n) */
#define TOL_POST_MEAN 0.1	/* posterior mean error, in posterior sd */
#define TOL_POST_SD 0.1		/* posterior sd, relative */

/* A 1RC cell with a linear OCV, 3.2113 + 0.9814 soc, and constant
 * parameters: at rest its voltage is the OCV. */
static const char linear_model[] =
	"battools-ecm 1\n"
	"capacity_ah 2.1718\n"
	"rc_pairs 1\n"
	"table\n"
	"temperature_c,soc,ocv_v,r0_ohm,r1_ohm,tau1_s\n"
	"25,0,3.2113,0.0271,0.0153,7.31\n"
	"25,1,4.1927,0.0271,0.0153,7.31\n";
#define LIN_A 3.2113
#define LIN_B (4.1927 - 3.2113)

/* The Kolmogorov-Smirnov statistic of the N values X (sorted in place)
 * against the standard normal distribution, times sqrt(N). */
static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
ks_normal(double *x, size_t n)
{
	double d = 0, f, lo, hi;
	size_t k;

	qsort(x, n, sizeof *x, cmp_double);
	for (k = 0; k < n; k++) {
		f = 0.5 * erfc(-x[k] / sqrt(2));
		lo = f - (double)k / (double)n;
		hi = (double)(k + 1) / (double)n - f;
		d = fmax(d, fmax(lo, hi));
	}
	return d * sqrt((double)n);
}

/* The filter's Gaussian draws: the initial cloud (one draw of 53 bits
 * each) and a random-walk step (two draws from one 64-bit draw) are
 * standard normal by the Kolmogorov-Smirnov test, the tail beyond the
 * ziggurat's base layer included. */
static void
test_gauss(const struct bt_ecm *ecm)
{
	static double x[KS_PARTICLES];
	struct bt_pf_opts o;
	struct bt_pf *pf;
	const double *z;
	size_t j, tail = 0;
	double d, want;

	bt_pf_opts_init(&o);
	o.particles = KS_PARTICLES;
	o.p0_soc = 1;
	o.p0_offset_c = 0;
	CHECK(bt_pf_alloc(ecm, &o, 0.25, &pf, NULL) == BT_OK, "gauss: alloc");
	z = bt_pf_particles(pf);
	for (j = 0; j < KS_PARTICLES; j++)
		x[j] = z[j] - 0.25;
	d = ks_normal(x, KS_PARTICLES);
	CHECK(d < KS_CRITICAL, "initial cloud: KS sqrt(n) D = %.3f", d);
	bt_pf_free(pf);

	o.p0_soc = 1e-12;
	o.q_soc = 0.37;		/* sd of one step of 1 s, no current */
	o.q_i = 0;
	CHECK(bt_pf_alloc(ecm, &o, 0.5, &pf, NULL) == BT_OK, "gauss: alloc");
	CHECK(bt_pf_predict(pf, 0, 1, 25) == BT_OK, "gauss: predict");
	z = bt_pf_particles(pf);
	for (j = 0; j < KS_PARTICLES; j++) {
		x[j] = (z[j] - 0.5) / 0.37;
		tail += fabs(x[j]) > 3.6541528853610088;
	}
	d = ks_normal(x, KS_PARTICLES);
	CHECK(d < KS_CRITICAL, "random-walk step: KS sqrt(n) D = %.3f", d);
	/* Beyond r: 2 (1 - Phi(r)) of the draws, within 5 binomial sd. */
	want = erfc(3.6541528853610088 / sqrt(2)) * KS_PARTICLES;
	CHECK(fabs((double)tail - want) < 5 * sqrt(want), "tail: %zu draws, expected %.1f",
	      tail, want);
	bt_pf_free(pf);
}

/* One voltage V of the linear cell at rest, started at Z0 with sd P0:
 * with the OCV error e (sd E) integrated out, V - a = b z + b e + noise
 * (sd R) is a linear measurement of z with the variance b^2 E^2 + R^2,
 * and the posterior is that of a Kalman update.  Sharp (R small against
 * b P0) it goes through progressive correction, which must keep the
 * particles distinct. */
static void
test_posterior(size_t n, double z0, double p0, double e_sd, double r, double v,
	       const char *name)
{
	struct bt_ecm *lin = NULL;
	struct bt_pf_opts o;
	struct bt_pf *pf;
	struct bt_pf_result res;
	const double *z;
	double s = LIN_B * LIN_B * e_sd * e_sd + r * r, k, mean, sd, *x;
	size_t j, distinct = 1;

	CHECK(bt_ecm_parse(linear_model, sizeof linear_model - 1, "linear", &lin,
			   NULL) == BT_OK, "%s: the linear model parses", name);
	k = p0 * p0 * LIN_B / (LIN_B * LIN_B * p0 * p0 + s);
	mean = z0 + k * (v - LIN_A - LIN_B * z0);
	sd = sqrt((1 - k * LIN_B) * p0 * p0);
	bt_pf_opts_init(&o);
	o.particles = n;
	o.p0_soc = p0;
	o.p0_offset_c = 0;
	o.ocv_sd = e_sd;
	o.r_v = r;
	CHECK(bt_pf_alloc(lin, &o, z0, &pf, NULL) == BT_OK, "%s: alloc", name);
	CHECK(bt_pf_update(pf, 0, v, 25, &res) == BT_OK, "%s: update", name);
	CHECK(fabs(res.soc - mean) < TOL_POST_MEAN * sd,
	      "%s: posterior mean %.6f against %.6f (sd %.3g)", name, res.soc, mean, sd);
	CHECK(fabs(res.soc_sd / sd - 1) < TOL_POST_SD,
	      "%s: posterior sd %.5g against %.5g", name, res.soc_sd, sd);
	x = malloc(n * sizeof *x);
	z = bt_pf_particles(pf);
	memcpy(x, z, n * sizeof *x);
	qsort(x, n, sizeof *x, cmp_double);
	for (j = 1; j < n; j++)
		distinct += x[j] != x[j - 1];
	CHECK(distinct > n / 2, "%s: %zu distinct particles of %zu", name,
	      distinct, n);
	free(x);
	bt_pf_free(pf);
	bt_ecm_free(lin);
}

/* With a cloud a millionth wide the predicted voltage is the model's
 * voltage at that soc: the OCV table and the shared states agree with
 * bt_ecm_voltage() at every soc and temperature tried, outside the
 * table's range too. */
static void
test_table(const struct bt_ecm *ecm)
{
	static const double socs[] = {-0.4127, 0.013, 0.0731, 0.2, 0.4999, 0.8317,
				      0.99, 1.3719};
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

/* A measurement far out in the prior's tail: with the cloud at 0.9 +- 0.1
 * and the rested voltage of soc 0.15, every particle's likelihood lies
 * between 1e-308 and 1e-154, so the squares of the weights underflow while
 * their sum does not.  The update must not read that as a healthy cloud
 * (one particle holding all the weight, sd 0): it takes the progressive
 * path, on log-likelihoods, and keeps a spread. */
static void
test_far_tail(const struct bt_ecm *ecm)
{
	struct bt_pf_opts o;
	struct bt_pf *pf;
	struct bt_pf_result res;
	struct bt_ecm_state st;

	bt_pf_opts_init(&o);
	o.p0_soc = 0.1;
	CHECK(bt_pf_alloc(ecm, &o, 0.9, &pf, NULL) == BT_OK, "far tail: alloc");
	bt_ecm_state_init(ecm, 0.15, 25, &st);
	CHECK(bt_pf_update(pf, 0, bt_ecm_voltage(ecm, &st, 0), 25, &res) == BT_OK,
	      "far tail: update");
	CHECK(res.soc_sd > 1e-3 && res.soc < 0.9,
	      "far tail: soc %.4f sd %.3g (not a single particle)", res.soc, res.soc_sd);
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
	test_gauss(ecm);
	/* A wide likelihood: one plain update.  Sharp ones (effective sd
	 * 0.0045 and 0.001 against the prior's 0.2: one plain update would
	 * leave 30 and 14 of 2000 particles): progressive correction. */
	test_posterior(20000, 0.61, 0.05, 0.01, 0.02, 3.8273, "wide likelihood");
	test_posterior(2000, 0.43, 0.2, 0.004, 0.002, 3.6551, "sharp likelihood");
	test_posterior(2000, 0.43, 0.2, 0, 0.001, 3.6551, "sharp, no OCV error");
	test_converges(ecm);
	test_resampling(ecm);
	test_far_tail(ecm);
	test_errors(ecm);
	bt_ecm_free(ecm);
	return check_report();
}
