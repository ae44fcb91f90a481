/* test_bt_ecm.c - unit tests of the equivalent-circuit model: analytic
 * step responses, coulomb counting, hysteresis and thermal closed forms,
 * Jacobians against central differences, PCHIP and bilinear
 * interpolation, the write/load round trip and every loader error.
 *
 * Deterministic; prints "N passed, N failed" and exits 1 on any failure.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bt_ecm.h"
#include "check.h"

/* Tolerances. */
#define TOL_ANALYTIC 1e-9	/* step response vs the analytic solution, V */
#define TOL_EXACT 1e-12		/* closed forms the update reproduces exactly */
#define TOL_FD 1e-7		/* Jacobians vs central differences */
#define FD_STEP 1e-6		/* central-difference step in the state */
#define FD_STEP_I 1e-4		/* central-difference step in the current, A */
#define TOL_PCHIP 1e-12		/* hand-computed PCHIP values */

#define PI 3.14159265358979323846


static struct bt_ecm *
parse(const char *text)
{
	char msg[BT_ERRMSG_SIZE];
	struct bt_ecm *ecm;
	enum bt_status st = bt_ecm_parse(text, strlen(text), "t.ecm", &ecm, msg);

	CHECK(st == BT_OK, "parse failed: %s", msg);
	if (st != BT_OK) {
		fprintf(stderr, "%s\n", text);
		exit(1);
	}
	return ecm;
}

/* --- Step responses ------------------------------------------------------ */

/* Linear OCV a + b soc; constant R0, R_k, tau_k. */
#define LIN_A 3.2713
#define LIN_B 0.9137
#define STEP_Q 2.3456
#define STEP_R0 0.0213
static const double step_r[3] = { 0.0147, 0.0231, 0.0089 };
static const double step_tau[3] = { 13.7, 187.3, 1123.7 };

static struct bt_ecm *
constant_model(unsigned n, double eta)
{
	char text[4096];
	size_t len = 0;
	unsigned k;
	int j;

	len += (size_t)snprintf(text + len, sizeof text - len,
				"battools-ecm 1\ncapacity_ah %.17g\nrc_pairs %u\n"
				"coulombic_efficiency %.17g\ntable\ntemperature_c,soc,ocv_v,r0_ohm",
				STEP_Q, n, eta);
	for (k = 0; k < n; k++)
		len += (size_t)snprintf(text + len, sizeof text - len,
					",r%u_ohm,tau%u_s", k + 1, k + 1);
	for (j = 0; j <= 4; j++) {
		double soc = j / 4.0;

		len += (size_t)snprintf(text + len, sizeof text - len,
					"\n25,%.17g,%.17g,%.17g", soc,
					LIN_A + LIN_B * soc, STEP_R0);
		for (k = 0; k < n; k++)
			len += (size_t)snprintf(text + len, sizeof text - len,
						",%.17g,%.17g", step_r[k],
						step_tau[k]);
	}
	snprintf(text + len, sizeof text - len, "\n");
	return parse(text);
}

static void
test_step_response(void)
{
	const double dt = 0.7, soc0 = 0.8734, cur = -3.1;
	const int nsteps = 2000;
	unsigned n;

	for (n = 1; n <= 3; n++) {
		struct bt_ecm *ecm = constant_model(n, 1.0);
		struct bt_ecm_state st;
		double worst = 0;
		int j;

		bt_ecm_state_init(ecm, soc0, 25, &st);
		for (j = 0; j <= nsteps; j++) {
			double t = j * dt;
			double soc = soc0 + cur * t / (3600 * STEP_Q);
			double want = LIN_A + LIN_B * soc + STEP_R0 * cur;
			double got = bt_ecm_voltage(ecm, &st, cur);
			unsigned k;

			for (k = 0; k < n; k++)
				want += step_r[k] * cur * -expm1(-t / step_tau[k]);
			if (fabs(got - want) > worst)
				worst = fabs(got - want);
			bt_ecm_step(ecm, &st, cur, dt);
		}
		CHECK(worst <= TOL_ANALYTIC,
		      "%uRC step response: worst error %.3g V", n, worst);

		/* The RC voltages relax back after the step. */
		{
			double v0 = st.v_rc[0];
			bt_ecm_step(ecm, &st, 0, step_tau[0]);
			CHECK_NEAR(st.v_rc[0], v0 * exp(-1), TOL_EXACT,
				   "RC relaxation over one tau");
		}
		bt_ecm_free(ecm);
	}
}

static void
test_coulomb_counting(void)
{
	const double eta = 0.9871, dt = 1.37, soc0 = 0.2468;
	struct bt_ecm *ecm = constant_model(2, eta);
	struct bt_ecm_state st;
	int j;

	bt_ecm_state_init(ecm, soc0, 25, &st);
	for (j = 0; j < 1000; j++)
		bt_ecm_step(ecm, &st, 1.7, dt);
	CHECK_NEAR(st.soc, soc0 + eta * 1.7 * 1000 * dt / (3600 * STEP_Q),
		   TOL_EXACT, "charge: coulomb counting with efficiency");
	bt_ecm_state_init(ecm, soc0 + 0.5, 25, &st);
	for (j = 0; j < 1000; j++)
		bt_ecm_step(ecm, &st, -1.7, dt);
	CHECK_NEAR(st.soc, soc0 + 0.5 - 1.7 * 1000 * dt / (3600 * STEP_Q),
		   TOL_EXACT, "discharge: coulomb counting, efficiency 1");
	CHECK(bt_ecm_step(ecm, &st, -1.7, -1) == BT_EINVAL, "negative dt");
	CHECK(bt_ecm_step(ecm, &st, NAN, 1) == BT_EINVAL, "NaN current");
	CHECK(bt_ecm_step(ecm, &st, 1, INFINITY) == BT_EINVAL, "infinite dt");
	bt_ecm_free(ecm);
}

/* --- Hysteresis and thermal ---------------------------------------------- */

#define HYS_GAMMA 37.3
#define HYS_M 0.0123
#define HYS_M0 0.0041
#define HYS_ETA 0.987
#define TH_C 44.7
#define TH_R 9.31
#define TH_AMB 23.4

static const char full_model[] =
	"battools-ecm 1\n"
	"# a model with everything, values unround\n"
	"capacity_ah 2.3456\n"
	"rc_pairs 2\n"
	"reference_temperature_c 23\n"
	"coulombic_efficiency 0.987\n"
	"hysteresis_gamma 37.3\n"
	"hysteresis_m_v 0.0123\n"
	"hysteresis_m0_v 0.0041\n"
	"thermal_capacity_j_per_k 44.7\n"
	"thermal_resistance_k_per_w 9.31\n"
	"ambient_c 23.4\n"
	"table\n"
	"temperature_c,soc,ocv_v,r0_ohm,r1_ohm,tau1_s,r2_ohm,tau2_s\n"
	"10,0,3.01,0.051,0.031,9.1,0.041,210\n"
	"10,0.2,3.55,0.043,0.024,11.3,0.036,230\n"
	"10,0.6,3.79,0.037,0.019,12.9,0.029,260\n"
	"10,1,4.17,0.039,0.021,10.7,0.031,250\n"
	"30,0,3.02,0.031,0.017,7.3,0.023,170\n"
	"30,0.2,3.56,0.027,0.013,8.9,0.021,190\n"
	"30,0.6,3.80,0.023,0.011,9.7,0.018,220\n"
	"30,1,4.18,0.025,0.012,8.1,0.019,205\n";

static void
test_hysteresis(void)
{
	struct bt_ecm *ecm = parse(full_model);
	const double q = 3600 * 2.3456, dt = 0.9, h0 = 0.3;
	struct bt_ecm_state st;
	struct bt_ecm_params p;
	double v, rest;
	int j;

	CHECK(bt_ecm_has_hysteresis(ecm), "has hysteresis");
	bt_ecm_state_init(ecm, 0.5, 20, &st);
	st.h = h0;
	for (j = 0; j < 300; j++)
		bt_ecm_step(ecm, &st, 2.1, dt);
	CHECK_NEAR(st.h, 1 + (h0 - 1) * exp(-HYS_ETA * 2.1 * HYS_GAMMA * 300 * dt / q),
		   TOL_EXACT, "h while charging tends to +1");
	CHECK(st.s == 1, "s after charge is +1");
	{
		double h1 = st.h;

		for (j = 0; j < 200; j++)
			bt_ecm_step(ecm, &st, -3.3, dt);
		CHECK_NEAR(st.h, -1 + (h1 + 1) * exp(-3.3 * HYS_GAMMA * 200 * dt / q),
			   TOL_EXACT, "h while discharging tends to -1");
	}
	CHECK(st.s == -1, "s after discharge is -1");
	rest = st.h;
	bt_ecm_step(ecm, &st, 0, 100);
	CHECK(st.h == rest && st.s == -1, "h and s hold at rest");

	/* V = OCV + M h + M0 s + R0 i + sum v_k */
	bt_ecm_params_at(ecm, st.soc, st.temp_c, &p);
	v = bt_ecm_ocv(ecm, st.soc, st.temp_c, NULL) + st.v_rc[0] + st.v_rc[1];
	CHECK_NEAR(bt_ecm_voltage(ecm, &st, 0), v + HYS_M * st.h - HYS_M0,
		   TOL_EXACT, "voltage at rest keeps the last sign");
	CHECK_NEAR(bt_ecm_voltage(ecm, &st, 1.5),
		   v + HYS_M * st.h + HYS_M0 + p.r0 * 1.5, TOL_EXACT,
		   "voltage while charging");
	bt_ecm_free(ecm);
}

static void
test_thermal(void)
{
	struct bt_ecm *ecm = parse(full_model);
	struct bt_ecm_params p;
	struct bt_ecm_state st;
	const double i = -4.4, dt = 2.3, t0 = 31.7;
	double power, tinf;
	int j;

	CHECK(bt_ecm_has_thermal(ecm), "has thermal");
	bt_ecm_state_init(ecm, 0.6, t0, &st);
	/* One step holds the parameters and the heat of its start: with
	 * the RC pairs at their steady state the heat is i^2 (R0 + sum R_k)
	 * and the closed form is exact. */
	bt_ecm_params_at(ecm, st.soc, st.temp_c, &p);
	st.v_rc[0] = p.r[0] * i;
	st.v_rc[1] = p.r[1] * i;
	power = i * i * (p.r0 + p.r[0] + p.r[1]);
	tinf = TH_AMB + power * TH_R;
	bt_ecm_step(ecm, &st, i, dt);
	CHECK_NEAR(st.temp_c, tinf + (t0 - tinf) * exp(-dt / (TH_C * TH_R)),
		   TOL_EXACT, "one thermal step against the closed form");

	/* Many steps with the heat held constant: a model whose parameters
	 * do not depend on soc or temperature. */
	{
		static const char flat[] =
			"battools-ecm 1\ncapacity_ah 1000\nrc_pairs 1\n"
			"thermal_capacity_j_per_k 44.7\n"
			"thermal_resistance_k_per_w 9.31\nambient_c 23.4\n"
			"table\ntemperature_c,soc,ocv_v,r0_ohm,r1_ohm,tau1_s\n"
			"25,0,3.5,0.0321,0.0123,17\n25,1,3.9,0.0321,0.0123,17\n";
		struct bt_ecm *f = parse(flat);

		bt_ecm_state_init(f, 0.5, t0, &st);
		st.v_rc[0] = 0.0123 * i;
		power = i * i * (0.0321 + 0.0123);
		tinf = TH_AMB + power * TH_R;
		for (j = 0; j < 500; j++)
			bt_ecm_step(f, &st, i, dt);
		CHECK_NEAR(st.temp_c,
			   tinf + (t0 - tinf) * exp(-500 * dt / (TH_C * TH_R)),
			   TOL_ANALYTIC, "500 thermal steps against the closed form");
		bt_ecm_free(f);
	}

	/* Without a thermal model the temperature stays as set. */
	{
		struct bt_ecm *c = constant_model(1, 1);

		bt_ecm_state_init(c, 0.5, 12.5, &st);
		for (j = 0; j < 10; j++)
			bt_ecm_step(c, &st, -5, 10);
		CHECK(st.temp_c == 12.5, "no thermal model: temperature unchanged");
		CHECK(!bt_ecm_has_thermal(c) && !bt_ecm_has_hysteresis(c),
		      "constant model has neither");
		bt_ecm_free(c);
	}
	bt_ecm_free(ecm);
}

/* --- Jacobians ----------------------------------------------------------- */

static void
fd_jacobian_case(const struct bt_ecm *ecm, const struct bt_ecm_state *st0,
		 double i, double dt, const char *what)
{
	size_t n = bt_ecm_state_dim(ecm), r, c;
	double a[BT_ECM_MAX_STATE * BT_ECM_MAX_STATE], b[BT_ECM_MAX_STATE];
	double cc[BT_ECM_MAX_STATE], d;
	double x[BT_ECM_MAX_STATE], xp[BT_ECM_MAX_STATE], xm[BT_ECM_MAX_STATE];
	double worst_a = 0, worst_b = 0, worst_c = 0;
	struct bt_ecm_state sp, sm;

	CHECK(bt_ecm_jacobian(ecm, st0, i, dt, a, b) == BT_OK, "jacobian ok");
	/* The documented shape: nonzero off the diagonal only in column 0. */
	for (r = 0, d = 0; r < n; r++)
		for (c = 1; c < n; c++)
			if (c != r)
				d += fabs(a[r * n + c]);
	CHECK(d == 0, "%s: A is diagonal plus its first column", what);
	bt_ecm_output_jacobian(ecm, st0, i, cc, &d);
	bt_ecm_state_pack(ecm, st0, x);
	for (c = 0; c < n; c++) {
		double vp, vm;

		sp = *st0;
		sm = *st0;
		x[c] += FD_STEP;
		bt_ecm_state_unpack(ecm, x, &sp);
		x[c] -= 2 * FD_STEP;
		bt_ecm_state_unpack(ecm, x, &sm);
		x[c] += FD_STEP;
		vp = bt_ecm_voltage(ecm, &sp, i);
		vm = bt_ecm_voltage(ecm, &sm, i);
		if (fabs((vp - vm) / (2 * FD_STEP) - cc[c]) > worst_c)
			worst_c = fabs((vp - vm) / (2 * FD_STEP) - cc[c]);
		bt_ecm_step(ecm, &sp, i, dt);
		bt_ecm_step(ecm, &sm, i, dt);
		bt_ecm_state_pack(ecm, &sp, xp);
		bt_ecm_state_pack(ecm, &sm, xm);
		for (r = 0; r < n; r++) {
			double fd = (xp[r] - xm[r]) / (2 * FD_STEP);

			if (fabs(fd - a[r * n + c]) > worst_a)
				worst_a = fabs(fd - a[r * n + c]);
		}
	}
	sp = *st0;
	sm = *st0;
	bt_ecm_step(ecm, &sp, i + FD_STEP_I, dt);
	bt_ecm_step(ecm, &sm, i - FD_STEP_I, dt);
	bt_ecm_state_pack(ecm, &sp, xp);
	bt_ecm_state_pack(ecm, &sm, xm);
	for (r = 0; r < n; r++) {
		double fd = (xp[r] - xm[r]) / (2 * FD_STEP_I);

		if (fabs(fd - b[r]) > worst_b)
			worst_b = fabs(fd - b[r]);
	}
	{
		double fd = (bt_ecm_voltage(ecm, st0, i + FD_STEP_I) -
			     bt_ecm_voltage(ecm, st0, i - FD_STEP_I)) /
			    (2 * FD_STEP_I);
		CHECK_NEAR(d, fd, TOL_FD, "D = dV/di");
	}
	/* The one-call forms give the same numbers, bit for bit. */
	{
		double a2[BT_ECM_MAX_STATE * BT_ECM_MAX_STATE], b2[BT_ECM_MAX_STATE];
		double c2[BT_ECM_MAX_STATE], d2, v2;
		struct bt_ecm_state s1 = *st0, s2 = *st0;
		int same = 1;

		bt_ecm_step(ecm, &s1, i, dt);
		CHECK(bt_ecm_step_jacobian(ecm, &s2, i, dt, a2, b2) == BT_OK,
		      "%s: step_jacobian ok", what);
		CHECK(memcmp(&s1, &s2, sizeof s1) == 0,
		      "%s: step_jacobian steps as bt_ecm_step", what);
		for (r = 0; r < n * n; r++)
			same &= a2[r] == a[r];
		for (r = 0; r < n; r++)
			same &= b2[r] == b[r];
		CHECK(same, "%s: step_jacobian gives bt_ecm_jacobian's A and B", what);
		v2 = bt_ecm_output(ecm, st0, i, c2, &d2);
		same = v2 == bt_ecm_voltage(ecm, st0, i) && d2 == d;
		for (r = 0; r < n; r++)
			same &= c2[r] == cc[r];
		CHECK(same, "%s: bt_ecm_output gives the voltage, C and D", what);
		/* Without the thermal model: the same but for the
		 * temperature, which stays where it was. */
		s2 = *st0;
		CHECK(bt_ecm_step_jacobian_isothermal(ecm, &s2, i, dt, a2, b2)
		      == BT_OK, "%s: isothermal step ok", what);
		same = s2.temp_c == st0->temp_c;
		s2.temp_c = s1.temp_c;
		same &= memcmp(&s1, &s2, sizeof s1) == 0;
		for (r = 0; r < n * n; r++)
			same &= a2[r] == a[r];
		for (r = 0; r < n; r++)
			same &= b2[r] == b[r];
		CHECK(same, "%s: isothermal step is bt_ecm_step's but for the "
		      "temperature", what);
		s2 = *st0;
		CHECK(bt_ecm_step_jacobian_isothermal(ecm, &s2, i, -dt, a2, b2)
		      == BT_EINVAL && memcmp(&s2, st0, sizeof s2) == 0,
		      "%s: isothermal step rejects a negative dt", what);
		s2 = *st0;
		CHECK(bt_ecm_step_jacobian(ecm, &s2, i, -dt, a2, b2) == BT_EINVAL
		      && memcmp(&s2, st0, sizeof s2) == 0,
		      "%s: step_jacobian rejects a negative dt", what);
	}
	CHECK(worst_a <= TOL_FD, "%s: A vs central differences: %.3g", what, worst_a);
	CHECK(worst_b <= TOL_FD, "%s: B vs central differences: %.3g", what, worst_b);
	CHECK(worst_c <= TOL_FD, "%s: C vs central differences: %.3g", what, worst_c);
}

static void
test_jacobians(void)
{
	struct bt_ecm *ecm = parse(full_model);
	struct bt_ecm *one = constant_model(3, 0.97);
	struct bt_ecm_state st;
	double x[BT_ECM_MAX_STATE];

	CHECK(bt_ecm_state_dim(ecm) == 4, "state dim 2RC + h = 4");
	CHECK(bt_ecm_state_dim(one) == 4, "state dim 3RC = 4");
	bt_ecm_state_init(ecm, 0.437, 17.3, &st);
	st.v_rc[0] = 0.0123;
	st.v_rc[1] = -0.0071;
	st.h = 0.31;
	st.s = -1;
	fd_jacobian_case(ecm, &st, -2.7, 1.3, "discharge");
	fd_jacobian_case(ecm, &st, 1.9, 7.1, "charge");
	st.soc = 0.137;
	st.temp_c = 41;	/* clamped in temperature */
	fd_jacobian_case(ecm, &st, -0.4, 0.5, "low soc, hot");
	st.soc = 1.031;	/* extrapolated OCV, clamped parameters */
	fd_jacobian_case(ecm, &st, 3.1, 2.0, "above the table");

	bt_ecm_state_init(one, 0.61, 25, &st);
	st.v_rc[0] = -0.01;
	st.v_rc[1] = 0.02;
	st.v_rc[2] = 0.005;
	fd_jacobian_case(one, &st, 2.2, 3.3, "3RC, no hysteresis");

	/* Pack and unpack are inverse; the layout is [soc, v_1.., h]. */
	bt_ecm_state_init(ecm, 0.25, 20, &st);
	st.v_rc[0] = 0.1;
	st.v_rc[1] = 0.2;
	st.h = -0.5;
	bt_ecm_state_pack(ecm, &st, x);
	CHECK(x[0] == 0.25 && x[1] == 0.1 && x[2] == 0.2 && x[3] == -0.5,
	      "state vector layout");
	CHECK(bt_ecm_jacobian(ecm, &st, 1, -1, x, NULL) == BT_EINVAL,
	      "jacobian rejects negative dt");
	bt_ecm_free(ecm);
	bt_ecm_free(one);
}

/* --- Interpolation ------------------------------------------------------- */

static void
test_pchip(void)
{
	/* x = 0, .5, 1 and y = 3.0, 3.1, 3.3: by the formulas (see
	 * pchip_slopes) d = .1, 4/15, .5 V per unit soc, and the cubic
	 * gives 3 + .1 * 19/48 at .25 and 3 + .1 * 89/48 at .75. */
	static const char three[] =
		"battools-ecm 1\ncapacity_ah 1\nrc_pairs 1\ntable\n"
		"temperature_c,soc,ocv_v,r0_ohm,r1_ohm,tau1_s\n"
		"25,0,3.0,0.01,0.01,1\n25,0.5,3.1,0.01,0.01,1\n25,1,3.3,0.01,0.01,1\n";
	/* Monotone data with a flat stretch and steep ends. */
	static const double xs[] = { 0, 0.1, 0.2, 0.5, 0.8, 0.9, 1 };
	static const double ys[] = { 3.0, 3.5, 3.55, 3.6, 3.6, 4.0, 4.2 };
	char text[2048];
	size_t len, j;
	struct bt_ecm *ecm = parse(three);
	double d, prev = -INFINITY, worst_d = 0;
	int monotone = 1, bounded = 1, flat = 1, k;

	CHECK_NEAR(bt_ecm_ocv(ecm, 0.25, 25, NULL), 3.0 + 0.1 * 19 / 48,
		   TOL_PCHIP, "pchip at .25");
	CHECK_NEAR(bt_ecm_ocv(ecm, 0.75, 25, NULL), 3.0 + 0.1 * 89 / 48,
		   TOL_PCHIP, "pchip at .75");
	bt_ecm_ocv(ecm, 0.5, 25, &d);
	CHECK_NEAR(d, 0.2 * 4 / 3, TOL_PCHIP, "pchip interior slope");
	CHECK_NEAR(bt_ecm_ocv(ecm, -0.1, 25, &d), 3.0 - 0.1 * 0.1, TOL_PCHIP,
		   "linear extrapolation below soc 0");
	CHECK_NEAR(d, 0.1, TOL_PCHIP, "end slope below soc 0");
	CHECK_NEAR(bt_ecm_ocv(ecm, 1.1, 25, &d), 3.3 + 0.1 * 0.5, TOL_PCHIP,
		   "linear extrapolation above soc 1");
	CHECK_NEAR(d, 0.5, TOL_PCHIP, "end slope above soc 1");
	CHECK(bt_ecm_ocv(ecm, 0.5, 99, NULL) == 3.1, "clamped in temperature");
	bt_ecm_free(ecm);

	len = (size_t)snprintf(text, sizeof text,
			       "battools-ecm 1\ncapacity_ah 1\nrc_pairs 1\ntable\n"
			       "temperature_c,soc,ocv_v,r0_ohm,r1_ohm,tau1_s\n");
	for (j = 0; j < sizeof xs / sizeof xs[0]; j++)
		len += (size_t)snprintf(text + len, sizeof text - len,
					"0,%g,%g,0.01,0.01,1\n40,%g,%g,0.01,0.01,1\n",
					xs[j], ys[j], xs[j], ys[j] + 0.02);
	ecm = parse(text);
	for (j = 0; j < sizeof xs / sizeof xs[0]; j++)
		CHECK(bt_ecm_ocv(ecm, xs[j], 0, NULL) == ys[j],
		      "exact at knot %g", xs[j]);
	for (k = 0; k <= 10000; k++) {
		double s = k / 10000.0, y = bt_ecm_ocv(ecm, s, 0, &d), fd;

		for (j = 0; j + 1 < sizeof xs / sizeof xs[0]; j++)
			if (s >= xs[j] && s <= xs[j + 1])
				break;
		if (y < prev)
			monotone = 0;
		if (y < ys[j] - 1e-15 || y > ys[j + 1] + 1e-15)
			bounded = 0;
		if (s > 0.5 && s < 0.8 && (y != 3.6 || d != 0))
			flat = 0;
		prev = y;
		if (s > 1e-6 && s < 1 - 1e-6) {
			fd = (bt_ecm_ocv(ecm, s + 1e-7, 0, NULL) -
			      bt_ecm_ocv(ecm, s - 1e-7, 0, NULL)) / 2e-7;
			if (fabs(fd - d) > worst_d)
				worst_d = fabs(fd - d);
		}
	}
	CHECK(monotone, "pchip is monotone on monotone data");
	CHECK(bounded, "pchip does not overshoot the data");
	CHECK(flat, "pchip is flat on a flat stretch");
	CHECK(worst_d < 1e-5, "pchip derivative vs differences: %.3g", worst_d);
	/* C1: the slope is continuous across interior knots. */
	for (j = 1; j + 1 < sizeof xs / sizeof xs[0]; j++) {
		double dl, dr;

		bt_ecm_ocv(ecm, xs[j] - 1e-12, 0, &dl);
		bt_ecm_ocv(ecm, xs[j] + 1e-12, 0, &dr);
		CHECK(fabs(dl - dr) < 1e-6, "slope continuous at %g", xs[j]);
	}
	/* Linear in temperature. */
	CHECK_NEAR(bt_ecm_ocv(ecm, 0.35, 10, NULL),
		   bt_ecm_ocv(ecm, 0.35, 0, NULL) + 0.25 * 0.02, TOL_PCHIP,
		   "ocv linear in temperature");
	CHECK_NEAR(bt_ecm_ocv(ecm, 0.35, -20, NULL),
		   bt_ecm_ocv(ecm, 0.35, 0, NULL), 0, "ocv clamped below");
	CHECK_NEAR(bt_ecm_ocv(ecm, 0.35, 60, NULL),
		   bt_ecm_ocv(ecm, 0.35, 40, NULL), 0, "ocv clamped above");
	CHECK(isnan(bt_ecm_ocv(ecm, NAN, 0, NULL)), "ocv of NaN soc is NaN");
	bt_ecm_free(ecm);
}

/* --- Table lookups against a plain reference -------------------------- */

/* The lookups use interval widths divided when the model is finished and
 * find the soc interval once for the parameters and the OCV together;
 * here every value is computed again the plain way (a linear search, a
 * division, the OCV by bt_ecm_pchip_eval's bisection) and must agree bit
 * for bit, on an uneven grid where the first guess is often wrong. */
static const double lk_soc[] = {
	0, 0.02, 0.07, 0.1, 0.25, 0.3, 0.55, 0.6, 0.8, 0.97, 1,
};
static const double lk_temp[] = { -10, 5, 25, 45 };
#define LK_NS (sizeof lk_soc / sizeof lk_soc[0])
#define LK_NT (sizeof lk_temp / sizeof lk_temp[0])
#define LK_CASES 20000

struct lk_cell {
	size_t j0, j1;
	double w, dw;
};

static struct lk_cell
lk_locate(const double *x, size_t n, double v)
{
	struct lk_cell c = { 0, 1, 0, 0 };
	size_t lo = 0;

	if (isnan(v)) {
		c.w = c.dw = NAN;
		return c;
	}
	if (v <= x[0])
		return c;
	if (v >= x[n - 1]) {
		c.j0 = n - 2;
		c.j1 = n - 1;
		c.w = 1;
		return c;
	}
	while (!(x[lo] <= v && v < x[lo + 1]))
		lo++;
	c.j0 = lo;
	c.j1 = lo + 1;
	c.dw = 1 / (x[lo + 1] - x[lo]);
	c.w = (v - x[lo]) * c.dw;
	return c;
}

static double
lk_bilinear(const double *a, struct lk_cell ct, struct lk_cell cs, double *d)
{
	double a00 = a[ct.j0 * LK_NS + cs.j0], a01 = a[ct.j0 * LK_NS + cs.j1];
	double a10 = a[ct.j1 * LK_NS + cs.j0], a11 = a[ct.j1 * LK_NS + cs.j1];
	double lo = (1 - cs.w) * a00 + cs.w * a01;
	double hi = (1 - cs.w) * a10 + cs.w * a11;

	*d = cs.dw * ((1 - ct.w) * (a01 - a00) + ct.w * (a11 - a10));
	return (1 - ct.w) * lo + ct.w * hi;
}

/* Equal as stored bits, NaN included. */
static int
same(double a, double b)
{
	return memcmp(&a, &b, sizeof a) == 0 || (isnan(a) && isnan(b));
}

static void
test_lookup_reference(void)
{
	double ocv[LK_NT * LK_NS], docv[LK_NT * LK_NS], r0[LK_NT * LK_NS];
	double r1[LK_NT * LK_NS], tau1[LK_NT * LK_NS], r2[LK_NT * LK_NS];
	double tau2[LK_NT * LK_NS];
	char text[8192];
	size_t len = 0, it, is, bad = 0;
	struct bt_ecm *ecm;
	unsigned long long z = 12345;
	int k;

	len += (size_t)snprintf(text, sizeof text, "battools-ecm 1\ncapacity_ah "
				"2.345\nrc_pairs 2\ntable\ntemperature_c,soc,ocv_v,"
				"r0_ohm,r1_ohm,tau1_s,r2_ohm,tau2_s");
	for (it = 0; it < LK_NT; it++)
		for (is = 0; is < LK_NS; is++) {
			size_t i = it * LK_NS + is;

			ocv[i] = 3.0113 + 1.1731 * lk_soc[is] - 0.2137 *
				 lk_soc[is] * lk_soc[is] + 0.0013 * lk_temp[it];
			r0[i] = 0.0317 + 0.0071 * (double)((is * 7 + it * 3) % 5);
			r1[i] = 0.0213 + 0.0031 * (double)((is * 3 + it) % 7);
			tau1[i] = 11.3 + 1.7 * (double)((is * 5 + it * 2) % 6);
			r2[i] = 0.0411 + 0.0023 * (double)((is + it * 5) % 4);
			tau2[i] = 231.7 + 13.1 * (double)((is * 2 + it) % 9);
			len += (size_t)snprintf(text + len, sizeof text - len,
						"\n%.17g,%.17g,%.17g,%.17g,%.17g,"
						"%.17g,%.17g,%.17g", lk_temp[it],
						lk_soc[is], ocv[i], r0[i], r1[i],
						tau1[i], r2[i], tau2[i]);
		}
	snprintf(text + len, sizeof text - len, "\n");
	ecm = parse(text);
	for (it = 0; it < LK_NT; it++)
		bt_ecm_pchip_slopes(lk_soc, ocv + it * LK_NS, LK_NS,
				    docv + it * LK_NS);

	for (k = 0; k < LK_CASES; k++) {
		double soc, temp, y0, y1, d0, d1, want, dwant, got, dgot, d;
		struct lk_cell ct, cs;
		struct bt_ecm_params p, q;
		struct bt_ecm_state st;
		double c[BT_ECM_MAX_STATE], dc, v, cur;

		z = z * 6364136223846793005ULL + 1442695040888963407ULL;
		/* Grid points, NaN and the ends as often as values between. */
		switch (k % 5) {
		case 0:
			soc = lk_soc[(z >> 33) % LK_NS];
			break;
		case 1:
			soc = k % 50 == 1 ? NAN : (k % 3 ? -0.2 : 1.2);
			break;
		default:
			soc = -0.1 + 1.2 * (double)(z >> 11) * 0x1p-53;
			break;
		}
		temp = k % 4 == 0 ? lk_temp[(z >> 20) % LK_NT]
				  : -20 + 80 * (double)((z >> 7) % 100000) / 1e5;
		cur = -3.1 + 6.2 * (double)((z >> 40) % 1000) / 1e3;
		ct = lk_locate(lk_temp, LK_NT, temp);
		cs = lk_locate(lk_soc, LK_NS, soc);

		y0 = bt_ecm_pchip_eval(lk_soc, ocv + ct.j0 * LK_NS,
				       docv + ct.j0 * LK_NS, LK_NS, soc, &d0);
		y1 = y0;
		d1 = d0;
		if (ct.w != 0)
			y1 = bt_ecm_pchip_eval(lk_soc, ocv + ct.j1 * LK_NS,
					       docv + ct.j1 * LK_NS, LK_NS, soc, &d1);
		want = (1 - ct.w) * y0 + ct.w * y1;
		dwant = (1 - ct.w) * d0 + ct.w * d1;
		got = bt_ecm_ocv(ecm, soc, temp, &dgot);
		bad += !same(got, want) || !same(dgot, dwant);

		bt_ecm_params_at(ecm, soc, temp, &p);
		q.r0 = lk_bilinear(r0, ct, cs, &d);
		q.r[0] = lk_bilinear(r1, ct, cs, &d);
		q.tau[0] = lk_bilinear(tau1, ct, cs, &d);
		q.r[1] = lk_bilinear(r2, ct, cs, &d);
		q.tau[1] = lk_bilinear(tau2, ct, cs, &d);
		bad += !same(p.r0, q.r0) || !same(p.r[0], q.r[0]) ||
		       !same(p.tau[0], q.tau[0]) || !same(p.r[1], q.r[1]) ||
		       !same(p.tau[1], q.tau[1]) ||
		       !same(bt_ecm_r0(ecm, soc, temp), q.r0);

		/* The output and its Jacobian: OCV + R0 i + v1 + v2, and
		 * dV/dsoc = dOCV/dsoc + dR0/dsoc i. */
		bt_ecm_state_init(ecm, soc, temp, &st);
		st.v_rc[0] = 0.0123;
		st.v_rc[1] = -0.0047;
		v = bt_ecm_output(ecm, &st, cur, c, &dc);
		bad += !same(v, want + q.r0 * cur + st.v_rc[0] + st.v_rc[1]);
		lk_bilinear(r0, ct, cs, &d);
		bad += !same(c[0], dwant + d * cur) || !same(dc, q.r0);
		bad += !same(bt_ecm_voltage(ecm, &st, cur), v);
	}
	CHECK(bad == 0, "table lookups: %zu values differ from the reference", bad);
	bt_ecm_free(ecm);
}

static void
test_bilinear(void)
{
	static const char text[] =
		"battools-ecm 1\ncapacity_ah 1\nrc_pairs 1\ntable\n"
		"temperature_c,soc,ocv_v,r0_ohm,r0_ohm_sd,r1_ohm,tau1_s,tau1_s_sd\n"
		"0,0,3,0.05,0.004,0.02,10,1\n"
		"0,0.5,3.5,0.03,0.002,0.01,20,2\n"
		"0,1,4,0.04,0.003,0.03,30,\n"
		"40,0,3,0.02,0.001,0.01,5,1\n"
		"40,0.5,3.5,0.01,0.001,0.005,10,2\n"
		"40,1,4,0.015,0.001,0.02,15,nan\n";
	struct bt_ecm *ecm = parse(text);
	struct bt_ecm_params p;
	double re, im;

	bt_ecm_params_at(ecm, 0.25, 10, &p);
	CHECK_NEAR(p.r0, 0.75 * 0.04 + 0.25 * 0.015, 1e-15, "bilinear r0");
	CHECK_NEAR(p.r[0], 0.75 * 0.015 + 0.25 * 0.0075, 1e-15, "bilinear r1");
	CHECK_NEAR(p.tau[0], 0.75 * 15 + 0.25 * 7.5, 1e-13, "bilinear tau1");
	CHECK(p.r[1] == 0 && p.tau[1] == 0 && p.r[2] == 0, "unused pairs zero");
	bt_ecm_params_at(ecm, -0.3, 60, &p);
	CHECK(p.r0 == 0.02 && p.tau[0] == 5, "clamped at soc 0, 40 C");
	bt_ecm_params_at(ecm, 1.4, -20, &p);
	CHECK(p.r0 == 0.04 && p.r[0] == 0.03, "clamped at soc 1, 0 C");
	bt_ecm_params_at(ecm, 0.5, 0, &p);
	CHECK(p.r0 == 0.03 && p.tau[0] == 20, "exact at a grid point");
	bt_ecm_params_at(ecm, 0.75, 40, &p);
	CHECK_NEAR(p.r0, 0.0125, 1e-15, "linear along soc on the top level");

	bt_ecm_params_sd_at(ecm, 0.25, 20, &p);
	CHECK_NEAR(p.r0, 0.5 * 0.003 + 0.5 * 0.001, 1e-15, "sd interpolated");
	CHECK(isnan(p.r[0]), "unknown sd column is NaN");
	CHECK_NEAR(p.tau[0], 1.5, 1e-15, "tau sd interpolated");
	bt_ecm_params_sd_at(ecm, 0.75, 20, &p);
	CHECK(isnan(p.tau[0]), "unknown sd value is NaN");

	/* Impedance: Z = R0 + R/(1 + j w tau). */
	p.r0 = 0.02;
	p.r[0] = 0.01;
	p.tau[0] = 2;
	p.r[1] = 0.03;
	p.tau[1] = 50;
	p.r[2] = 0;
	p.tau[2] = 0;
	bt_ecm_impedance(&p, 0, &re, &im);
	CHECK(re == 0.06 && im == 0, "impedance at DC");
	bt_ecm_impedance(&p, 1 / (2 * PI * 2), &re, &im);
	{
		double w = 1 / 2.0, wt2 = w * 50;
		CHECK_NEAR(re, 0.02 + 0.005 + 0.03 / (1 + wt2 * wt2), 1e-15,
			   "impedance real part at 1/(2 pi tau1)");
		CHECK_NEAR(im, -0.005 - 0.03 * wt2 / (1 + wt2 * wt2), 1e-15,
			   "impedance imaginary part");
	}
	bt_ecm_impedance(&p, 1e9, &re, &im);
	CHECK_NEAR(re, 0.02, 1e-12, "impedance at high frequency is R0");
	bt_ecm_free(ecm);
}

/* --- Round trip and building --------------------------------------------- */

static char *
write_to_string(const struct bt_ecm *ecm, size_t *len)
{
	FILE *f = tmpfile();
	char *buf;
	long n;

	CHECK(f != NULL, "tmpfile");
	CHECK(bt_ecm_write(ecm, f) == BT_OK, "write ok");
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	*len = fread(buf, 1, (size_t)n, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

static int
same_double(double a, double b)
{
	return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0;
}

static int
same_model(const struct bt_ecm *a, const struct bt_ecm *b)
{
	const struct bt_ecm_info *x = bt_ecm_info(a), *y = bt_ecm_info(b);
	size_t it, is, k;

	if (bt_ecm_n_temps(a) != bt_ecm_n_temps(b) ||
	    bt_ecm_n_soc(a) != bt_ecm_n_soc(b) || x->rc_pairs != y->rc_pairs ||
	    x->has_hysteresis != y->has_hysteresis ||
	    x->has_thermal != y->has_thermal ||
	    !same_double(x->capacity_ah, y->capacity_ah) ||
	    !same_double(x->reference_temperature_c, y->reference_temperature_c) ||
	    !same_double(x->coulombic_efficiency, y->coulombic_efficiency))
		return 0;
	if (x->has_hysteresis &&
	    (!same_double(x->hysteresis_gamma, y->hysteresis_gamma) ||
	     !same_double(x->hysteresis_m_v, y->hysteresis_m_v) ||
	     !same_double(x->hysteresis_m0_v, y->hysteresis_m0_v)))
		return 0;
	if (x->has_thermal &&
	    (!same_double(x->thermal_capacity_j_per_k, y->thermal_capacity_j_per_k) ||
	     !same_double(x->thermal_resistance_k_per_w, y->thermal_resistance_k_per_w) ||
	     !same_double(x->ambient_c, y->ambient_c)))
		return 0;
	for (it = 0; it < bt_ecm_n_temps(a); it++) {
		for (is = 0; is < bt_ecm_n_soc(a); is++) {
			struct bt_ecm_point p, q;

			bt_ecm_get_point(a, it, is, &p);
			bt_ecm_get_point(b, it, is, &q);
			if (!same_double(p.temperature_c, q.temperature_c) ||
			    !same_double(p.soc, q.soc) ||
			    !same_double(p.ocv_v, q.ocv_v) ||
			    !same_double(p.ocv_v_sd, q.ocv_v_sd) ||
			    !same_double(p.r0_ohm, q.r0_ohm) ||
			    !same_double(p.r0_ohm_sd, q.r0_ohm_sd))
				return 0;
			for (k = 0; k < x->rc_pairs; k++)
				if (!same_double(p.r_ohm[k], q.r_ohm[k]) ||
				    !same_double(p.r_ohm_sd[k], q.r_ohm_sd[k]) ||
				    !same_double(p.tau_s[k], q.tau_s[k]) ||
				    !same_double(p.tau_s_sd[k], q.tau_s_sd[k]))
					return 0;
		}
	}
	return 1;
}

/* A model built point by point, as bt-fit does, with awkward numbers. */
static struct bt_ecm *
built_model(void)
{
	struct bt_ecm_info info;
	struct bt_ecm *ecm;
	char msg[BT_ERRMSG_SIZE];
	size_t it, is;

	bt_ecm_info_init(&info);
	info.capacity_ah = 2.0 / 3.0;
	info.rc_pairs = 3;
	info.coulombic_efficiency = 0.1 + 0.2 * 4.5;	/* not 1 exactly */
	info.has_hysteresis = 1;
	info.hysteresis_gamma = PI * 10;
	info.hysteresis_m_v = 1e-2 / 3;
	info.hysteresis_m0_v = 0;
	info.has_thermal = 1;
	info.thermal_capacity_j_per_k = 45.1;
	info.thermal_resistance_k_per_w = 1e-300 * 1e300;
	info.ambient_c = -5.0 / 7.0;
	CHECK(bt_ecm_alloc(&info, 2, 4, &ecm) == BT_OK, "alloc");
	for (it = 0; it < 2; it++) {
		for (is = 0; is < 4; is++) {
			struct bt_ecm_point p;
			size_t k;

			p.temperature_c = it ? 45.0 / 7.0 : -10.0 / 3.0;
			p.soc = is / 3.0;
			p.ocv_v = 3 + sqrt((double)is + it * 0.01);
			p.ocv_v_sd = is == 2 ? 1e-4 / 3 : NAN;
			p.r0_ohm = 0.01 + 0.001 * exp((double)is);
			p.r0_ohm_sd = 1e-5 * (1 + is);
			for (k = 0; k < 3; k++) {
				p.r_ohm[k] = 0.001 * (1 + k) / 7 * (1 + is);
				p.r_ohm_sd[k] = NAN;
				p.tau_s[k] = pow(10, (double)k + 0.1 * is);
				p.tau_s_sd[k] = k == 1 ? 0.1 * is : NAN;
			}
			CHECK(bt_ecm_set_point(ecm, it, is, &p) == BT_OK, "set_point");
		}
	}
	CHECK(bt_ecm_finish(ecm, msg) == BT_OK, "finish: %s", msg);
	return ecm;
}

static void
test_round_trip(void)
{
	struct bt_ecm *a = built_model(), *b = NULL, *c = NULL;
	char msg[BT_ERRMSG_SIZE], *t1, *t2;
	size_t l1, l2;

	t1 = write_to_string(a, &l1);
	CHECK(bt_ecm_parse(t1, l1, "rt.ecm", &b, msg) == BT_OK, "reparse: %s", msg);
	CHECK(b && same_model(a, b), "write then load gives identical values");
	t2 = write_to_string(b, &l2);
	CHECK(l1 == l2 && memcmp(t1, t2, l1) == 0, "second write is identical");
	CHECK(strstr(t1, "tau2_s_sd") && !strstr(t1, "tau1_s_sd") &&
	      strstr(t1, "ocv_v_sd") && !strstr(t1, "r1_ohm_sd"),
	      "sd columns written only when known");
	CHECK(bt_ecm_capacity_ah(b) == 2.0 / 3.0 && bt_ecm_rc_pairs(b) == 3 &&
	      bt_ecm_reference_temperature_c(b) == 25, "accessors");

	/* The same model with its rows shuffled, columns reordered, CRLF,
	 * comments, blank lines and a byte-order mark. */
	{
		static const char x[] =
			"\xef\xbb\xbf" "battools-ecm 1\r\n"
			"# comment\r\n\r\n"
			"rc_pairs 1   # trailing comment\r\n"
			"capacity_ah\t2.5\r\n"
			"table\r\n"
			"tau1_s, soc ,r1_ohm,r0_ohm,ocv_v,temperature_c\r\n"
			"10,1,0.01,0.02,4.2,25\r\n"
			"\r\n"
			"# a comment in the table\r\n"
			"11,0,0.011,0.03,3.0,25\r\n"
			"12,1,0.012,0.04,4.19,0\r\n"
			"13,0,0.013,0.05,3.01,0";
		static const char y[] =
			"battools-ecm 1\ncapacity_ah 2.5\nrc_pairs 1\ntable\n"
			"temperature_c,soc,ocv_v,r0_ohm,r1_ohm,tau1_s\n"
			"0,0,3.01,0.05,0.013,13\n0,1,4.19,0.04,0.012,12\n"
			"25,0,3.0,0.03,0.011,11\n25,1,4.2,0.02,0.01,10\n";
		struct bt_ecm *mx = parse(x), *my = parse(y);

		CHECK(same_model(mx, my), "row order, column order and layout do not matter");
		bt_ecm_free(mx);
		bt_ecm_free(my);
	}

	/* Load from a file, under a locale with a decimal comma if the
	 * system has one: the file must read the same. */
	{
		char path[] = "/tmp/test_bt_ecm_XXXXXX";
		int fd = mkstemp(path);
		FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
		const char *loc;

		CHECK(f != NULL, "temporary file");
		if (f) {
			fwrite(t1, 1, l1, f);
			fclose(f);
			loc = setlocale(LC_NUMERIC, "de_DE.UTF-8");
			if (!loc)
				loc = setlocale(LC_NUMERIC, "fr_FR.UTF-8");
			CHECK(bt_ecm_load(path, &c, msg) == BT_OK, "load: %s", msg);
			CHECK(c && same_model(a, c), "loaded file is identical");
			if (c) {
				char *t3;
				size_t l3;

				t3 = write_to_string(c, &l3);
				CHECK(l3 == l1 && memcmp(t3, t1, l1) == 0,
				      "write ignores the locale (%s)",
				      loc ? loc : "C only");
				free(t3);
			}
			setlocale(LC_NUMERIC, "C");
			unlink(path);
		}
	}
	free(t1);
	free(t2);
	bt_ecm_free(a);
	bt_ecm_free(b);
	bt_ecm_free(c);
	bt_ecm_free(NULL);
}

static void
test_builder_errors(void)
{
	struct bt_ecm_info info;
	struct bt_ecm *ecm;
	struct bt_ecm_point p = { 0 };
	char msg[BT_ERRMSG_SIZE];
	size_t is;

	bt_ecm_info_init(&info);
	CHECK(isnan(info.capacity_ah) && info.reference_temperature_c == 25 &&
	      info.coulombic_efficiency == 1, "info defaults");
	info.capacity_ah = 2.5;
	CHECK(bt_ecm_alloc(&info, 1, 1, &ecm) == BT_EINVAL && !ecm,
	      "alloc rejects one soc point");
	CHECK(bt_ecm_alloc(&info, 0, 2, &ecm) == BT_EINVAL, "alloc rejects no level");
	info.rc_pairs = 4;
	CHECK(bt_ecm_alloc(&info, 1, 2, &ecm) == BT_EINVAL, "alloc rejects 4 RC pairs");
	info.rc_pairs = 1;
	CHECK(bt_ecm_alloc(&info, 1, 3, &ecm) == BT_OK, "alloc");
	CHECK(bt_ecm_set_point(ecm, 1, 0, &p) == BT_EINVAL, "set_point range");
	CHECK(bt_ecm_get_point(ecm, 0, 3, &p) == BT_EINVAL, "get_point range");
	for (is = 0; is < 3; is++) {
		p.temperature_c = 25;
		p.soc = 0.5 * is;
		p.ocv_v = 3.5 + 0.1 * is;
		p.r0_ohm = is == 1 ? 0 : 0.02;
		p.r_ohm[0] = 0.01;
		p.tau_s[0] = 10;
		p.ocv_v_sd = p.r0_ohm_sd = p.r_ohm_sd[0] = p.tau_s_sd[0] = NAN;
		bt_ecm_set_point(ecm, 0, is, &p);
	}
	CHECK(bt_ecm_finish(ecm, msg) == BT_EINVAL &&
	      strcmp(msg, "temperature_c '25', soc '0.5': r0_ohm '0' must be > 0") == 0,
	      "finish: r0: %s", msg);
	p.soc = 0.5;
	p.r0_ohm = 0.02;
	p.tau_s[0] = -1;
	bt_ecm_set_point(ecm, 0, 1, &p);
	CHECK(bt_ecm_finish(ecm, msg) == BT_EINVAL &&
	      strcmp(msg, "temperature_c '25', soc '0.5': tau1_s '-1' must be > 0") == 0,
	      "finish: tau: %s", msg);
	p.tau_s[0] = 10;
	p.soc = 1;
	bt_ecm_set_point(ecm, 0, 1, &p);
	CHECK(bt_ecm_finish(ecm, msg) == BT_EINVAL &&
	      strcmp(msg, "temperature_c '25', soc '1': soc '1' does not increase") == 0,
	      "finish: soc order: %s", msg);
	bt_ecm_free(ecm);

	info.capacity_ah = 2.5;
	CHECK(bt_ecm_alloc(&info, 2, 2, &ecm) == BT_OK, "alloc 2x2");
	{
		size_t it;

		for (it = 0; it < 2; it++)
			for (is = 0; is < 2; is++) {
				p.temperature_c = 10.0 * it;
				p.soc = is ? (it ? 0.9 : 1.0) : 0;
				p.ocv_v = 3.5;
				p.r0_ohm = 0.02;
				bt_ecm_set_point(ecm, it, is, &p);
			}
	}
	CHECK(bt_ecm_finish(ecm, msg) == BT_EINVAL &&
	      strcmp(msg, "temperature_c '10', soc '0.9': soc '0.9' differs from the first level") == 0,
	      "finish: rectangular: %s", msg);
	bt_ecm_free(ecm);

	info.coulombic_efficiency = 1.5;
	CHECK(bt_ecm_alloc(&info, 1, 2, &ecm) == BT_OK, "alloc");
	CHECK(bt_ecm_finish(ecm, msg) == BT_EINVAL &&
	      strcmp(msg, "coulombic_efficiency '1.5' must lie in (0, 1]") == 0,
	      "finish: header: %s", msg);
	bt_ecm_free(ecm);
}

/* --- Loader errors ------------------------------------------------------- */

#define HDR "battools-ecm 1\ncapacity_ah 2.5\nrc_pairs 1\ntable\n"
#define COLS "temperature_c,soc,ocv_v,r0_ohm,r1_ohm,tau1_s\n"
#define ROWS "25,0,3.0,0.03,0.01,10\n25,1,4.2,0.02,0.01,10\n"

static const struct {
	const char *text;
	enum bt_status status;
	const char *msg;
} bad[] = {
	{ "", BT_EFORMAT, "t.ecm:1: empty file, expected 'battools-ecm 1'" },
	{ "hello world\n", BT_EFORMAT,
	  "t.ecm:1: not an ECM file: expected 'battools-ecm 1', found 'hello'" },
	{ "# comment first\nbattools-ecm 1\n", BT_EFORMAT,
	  "t.ecm:1: not an ECM file: expected 'battools-ecm 1', found ''" },
	{ "battools-ecm 2\n", BT_EFORMAT,
	  "t.ecm:1: unsupported format version '2', expected '1'" },
	{ "battools-ecm 1.0\n", BT_EFORMAT,
	  "t.ecm:1: unsupported format version '1.0', expected '1'" },
	{ "battools-ecm 1\ncapacity_ah 2.5\nrc_pairs 1\n", BT_EFORMAT,
	  "t.ecm:3: missing 'table' line" },
	{ "battools-ecm 1\nrc_pairs 1\ntable\n" COLS ROWS, BT_EFORMAT,
	  "t.ecm:3: missing key 'capacity_ah'" },
	{ "battools-ecm 1\ncapacity_ah 2.5\n\ntable\n" COLS ROWS, BT_EFORMAT,
	  "t.ecm:4: missing key 'rc_pairs'" },
	{ "battools-ecm 1\ncapacity_ah 2,5\n", BT_EFORMAT,
	  "t.ecm:2: invalid number '2,5' for 'capacity_ah'" },
	{ "battools-ecm 1\ncapacity_ah 0x1p1\n", BT_EFORMAT,
	  "t.ecm:2: invalid number '0x1p1' for 'capacity_ah'" },
	{ "battools-ecm 1\ncapacity_ah 0\n", BT_EFORMAT,
	  "t.ecm:2: capacity_ah '0' must be > 0" },
	{ "battools-ecm 1\ncapacity_ah nan\n", BT_EFORMAT,
	  "t.ecm:2: capacity_ah 'nan' must be finite" },
	{ "battools-ecm 1\ncapacity_ah 2.5\nrc_pairs 4\n", BT_EFORMAT,
	  "t.ecm:3: rc_pairs '4' must be an integer from 1 to 3" },
	{ "battools-ecm 1\ncapacity_ah 2.5\nrc_pairs 1.5\n", BT_EFORMAT,
	  "t.ecm:3: rc_pairs '1.5' must be an integer from 1 to 3" },
	{ "battools-ecm 1\ncapacity 2.5\n", BT_EFORMAT,
	  "t.ecm:2: unknown key 'capacity'" },
	{ "battools-ecm 1\ncapacity_ah 2.5\ncapacity_ah 2.6\n", BT_EFORMAT,
	  "t.ecm:3: duplicate key 'capacity_ah' (first on line 2)" },
	{ "battools-ecm 1\ncapacity_ah\n", BT_EFORMAT,
	  "t.ecm:2: missing value for 'capacity_ah'" },
	{ "battools-ecm 1\ncapacity_ah 2.5 Ah\n", BT_EFORMAT,
	  "t.ecm:2: trailing text 'Ah' after the value of 'capacity_ah'" },
	{ "battools-ecm 1\ncoulombic_efficiency 1.01\n", BT_EFORMAT,
	  "t.ecm:2: coulombic_efficiency '1.01' must lie in (0, 1]" },
	{ "battools-ecm 1\nhysteresis_gamma -1\n", BT_EFORMAT,
	  "t.ecm:2: hysteresis_gamma '-1' must be >= 0" },
	{ "battools-ecm 1\nthermal_resistance_k_per_w 0\n", BT_EFORMAT,
	  "t.ecm:2: thermal_resistance_k_per_w '0' must be > 0" },
	{ "battools-ecm 1\ncapacity_ah 2.5\nrc_pairs 1\nhysteresis_m_v 0.01\n"
	  "hysteresis_m0_v 0.001\ntable\n" COLS ROWS, BT_EFORMAT,
	  "t.ecm:4: incomplete hysteresis model: missing 'hysteresis_gamma'" },
	{ "battools-ecm 1\ncapacity_ah 2.5\nrc_pairs 1\nhysteresis_gamma 50\n"
	  "table\n" COLS ROWS, BT_EFORMAT,
	  "t.ecm:4: incomplete hysteresis model: missing 'hysteresis_m_v'" },
	{ "battools-ecm 1\ncapacity_ah 2.5\nrc_pairs 1\nambient_c 25\n"
	  "thermal_capacity_j_per_k 45\ntable\n" COLS ROWS, BT_EFORMAT,
	  "t.ecm:4: incomplete thermal model: missing 'thermal_resistance_k_per_w'" },
	{ "battools-ecm 1\ncapacity_ah 2.5\nrc_pairs 1\ntable 2\n", BT_EFORMAT,
	  "t.ecm:4: trailing text '2' after 'table'" },
	{ HDR, BT_EFORMAT, "t.ecm:4: table has no header row" },
	{ HDR "# only a comment\n\n", BT_EFORMAT, "t.ecm:4: table has no header row" },
	{ HDR COLS, BT_EFORMAT, "t.ecm:5: table has no rows" },
	{ HDR "temperature_c,soc,ocv_v,r0_ohm,r1_ohm,tau1_s,r9_ohm\n" ROWS,
	  BT_EFORMAT, "t.ecm:5: unknown column 'r9_ohm'" },
	{ HDR "temperature_c,soc,ocv_v,r0_ohm,r1_ohm,tau1_s,\n" ROWS,
	  BT_EFORMAT, "t.ecm:5: unknown column ''" },
	{ HDR "temperature_c,soc,ocv_v,r0_ohm,r1_ohm,tau1_s,soc\n" ROWS,
	  BT_EFORMAT, "t.ecm:5: duplicate column 'soc'" },
	{ HDR "temperature_c,soc,ocv_v,r0_ohm,r1_ohm\n" ROWS, BT_EFORMAT,
	  "t.ecm:5: missing column 'tau1_s'" },
	{ HDR "soc,ocv_v,r0_ohm,r1_ohm,tau1_s\n" ROWS, BT_EFORMAT,
	  "t.ecm:5: missing column 'temperature_c'" },
	{ HDR "temperature_c,soc,ocv_v,r0_ohm,r1_ohm,tau1_s,r2_ohm\n" ROWS,
	  BT_EFORMAT, "t.ecm:5: column 'r2_ohm' does not fit rc_pairs 1" },
	{ HDR COLS "25,0,3.0,0.03,0.01\n", BT_EFORMAT,
	  "t.ecm:6: 5 fields, expected 6" },
	{ HDR COLS "25,0,3.0,0.03,0.01,10\n25,1,4.2,0.02,0.01,10,7\n", BT_EFORMAT,
	  "t.ecm:7: 7 fields, expected 6" },
	{ HDR COLS "25,0,3.0,0.0x3,0.01,10\n", BT_EFORMAT,
	  "t.ecm:6: invalid number '0.0x3' in column 'r0_ohm'" },
	{ HDR COLS "25,0,3.0,abc,0.01,10\n", BT_EFORMAT,
	  "t.ecm:6: invalid number 'abc' in column 'r0_ohm'" },
	{ HDR COLS "25,0,3.0,0.03,,10\n", BT_EFORMAT,
	  "t.ecm:6: missing value in column 'r1_ohm'" },
	{ HDR COLS "25,0,3.0,0,0.01,10\n", BT_EFORMAT,
	  "t.ecm:6: r0_ohm '0' must be > 0" },
	{ HDR COLS "25,0,3.0,-0.03,0.01,10\n", BT_EFORMAT,
	  "t.ecm:6: r0_ohm '-0.03' must be > 0" },
	{ HDR COLS "25,0,3.0,0.03,0.01,0\n", BT_EFORMAT,
	  "t.ecm:6: tau1_s '0' must be > 0" },
	{ HDR COLS "25,0,3.0,0.03,-0.01,10\n", BT_EFORMAT,
	  "t.ecm:6: r1_ohm '-0.01' must be >= 0" },
	{ HDR COLS "25,1.2,3.0,0.03,0.01,10\n", BT_EFORMAT,
	  "t.ecm:6: soc '1.2' must lie in [0, 1]" },
	{ HDR COLS "25,-0.01,3.0,0.03,0.01,10\n", BT_EFORMAT,
	  "t.ecm:6: soc '-0.01' must lie in [0, 1]" },
	{ HDR COLS "25,0,nan,0.03,0.01,10\n", BT_EFORMAT,
	  "t.ecm:6: ocv_v 'nan' must be finite" },
	{ HDR COLS "inf,0,3.0,0.03,0.01,10\n", BT_EFORMAT,
	  "t.ecm:6: temperature_c 'inf' must be finite" },
	{ HDR "temperature_c,soc,ocv_v,r0_ohm,r0_ohm_sd,r1_ohm,tau1_s\n"
	  "25,0,3.0,0.03,-1,0.01,10\n", BT_EFORMAT,
	  "t.ecm:6: r0_ohm_sd '-1' must be >= 0" },
	{ HDR "temperature_c,soc,ocv_v,r0_ohm,r0_ohm_sd,r1_ohm,tau1_s\n"
	  "25,0,3.0,0.03,x,0.01,10\n", BT_EFORMAT,
	  "t.ecm:6: invalid number 'x' in column 'r0_ohm_sd'" },
	{ HDR COLS "25,0,3.0,0.03,0.01,10\n", BT_EFORMAT,
	  "t.ecm:6: temperature_c '25' has 1 soc point, at least 2 are needed" },
	{ HDR COLS ROWS "0,0,3.0,0.03,0.01,10\n", BT_EFORMAT,
	  "t.ecm:8: temperature_c '0' has 1 soc point, at least 2 are needed" },
	{ HDR COLS ROWS "25,0,3.1,0.03,0.01,10\n", BT_EFORMAT,
	  "t.ecm:8: duplicate row for temperature_c '25', soc '0' (first on line 6)" },
	{ HDR COLS ROWS "0,0,3.0,0.03,0.01,10\n0,0.5,3.5,0.03,0.01,10\n"
	  "0,1,4.2,0.03,0.01,10\n", BT_EFORMAT,
	  "t.ecm:9: grid is not rectangular: soc '0.5' at temperature_c '0' has no row at temperature_c '25'" },
	{ HDR COLS "25,0.5,3.6,0.03,0.01,10\n" ROWS
	  "0,0,3.0,0.03,0.01,10\n0,1,4.2,0.03,0.01,10\n", BT_EFORMAT,
	  "t.ecm:6: grid is not rectangular: soc '0.5' at temperature_c '25' has no row at temperature_c '0'" },
	{ HDR COLS ROWS "0,0,3.0,0.03,0.01,10\n0,0.9,4.2,0.03,0.01,10\n", BT_EFORMAT,
	  "t.ecm:9: grid is not rectangular: soc '0.9' at temperature_c '0' has no row at temperature_c '25'" },
	{ "battools-ecm 1\ncapacity_ah 2.5\0\n", BT_EFORMAT,
	  "t.ecm:2: NUL byte in the file" },
};

/* Length of a test text: the NUL case has its length after the NUL. */
static size_t
text_len(const char *t)
{
	size_t n = strlen(t);

	if (strcmp(t, "battools-ecm 1\ncapacity_ah 2.5") == 0)
		n += 2;
	return n;
}

static void
test_loader_errors(void)
{
	size_t j;
	char msg[BT_ERRMSG_SIZE];
	struct bt_ecm *ecm;

	for (j = 0; j < sizeof bad / sizeof bad[0]; j++) {
		enum bt_status st;

		ecm = (struct bt_ecm *)&ecm;	/* must be reset to NULL */
		st = bt_ecm_parse(bad[j].text, text_len(bad[j].text), "t.ecm",
				  &ecm, msg);
		CHECK(st == bad[j].status && ecm == NULL &&
		      strcmp(msg, bad[j].msg) == 0,
		      "case %zu: got %d '%s', want %d '%s'", j, (int)st, msg,
		      (int)bad[j].status, bad[j].msg);
	}

	/* A NULL errmsg is allowed. */
	CHECK(bt_ecm_parse("x", 1, "t.ecm", &ecm, NULL) == BT_EFORMAT,
	      "NULL errmsg");

	/* Long offending tokens are cut in the message. */
	{
		char text[400];
		memset(text, 'a', sizeof text);
		memcpy(text, "battools-ecm 1\n", 15);
		CHECK(bt_ecm_parse(text, sizeof text, "t.ecm", &ecm, msg) == BT_EFORMAT &&
		      strlen(msg) < 120 && strstr(msg, "...'"),
		      "long token quoted short: %s", msg);
	}

	/* Files that cannot be read. */
	CHECK(bt_ecm_load("/nonexistent/cell.ecm", &ecm, msg) == BT_EIO &&
	      ecm == NULL &&
	      strcmp(msg, "/nonexistent/cell.ecm: No such file or directory") == 0,
	      "missing file: %s", msg);
	CHECK(bt_ecm_load("/", &ecm, msg) == BT_EIO &&
	      strcmp(msg, "/: Is a directory") == 0, "directory: %s", msg);

	/* A file over the size limit. */
	{
		char path[] = "/tmp/test_bt_ecm_big_XXXXXX";
		int fd = mkstemp(path);

		CHECK(fd >= 0 && ftruncate(fd, BT_ECM_MAX_FILE_BYTES + 1) == 0,
		      "big temporary file");
		if (fd >= 0) {
			char want[BT_ERRMSG_SIZE];

			close(fd);
			snprintf(want, sizeof want, "%s: file is larger than %ld bytes",
				 path, BT_ECM_MAX_FILE_BYTES);
			CHECK(bt_ecm_load(path, &ecm, msg) == BT_EFORMAT &&
			      strcmp(msg, want) == 0, "big file: %s", msg);
			unlink(path);
		}
	}
}

int
main(void)
{
	test_step_response();
	test_coulomb_counting();
	test_hysteresis();
	test_thermal();
	test_jacobians();
	test_pchip();
	test_bilinear();
	test_lookup_reference();
	test_round_trip();
	test_builder_errors();
	test_loader_errors();
	return check_report();
}
