/* test_bt_rul.c - the Hampel filter on a series whose outliers are known,
 * the fits on noise-free curves with known parameters, the analytic
 * end-of-life crossing, a pace that rises midway, and every error path of
 * the forecast. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bt_rul.h"
#include "check.h"

static int
close_to(double a, double b, double tol)
{
	return fabs(a - b) <= tol * (1 + fabs(b));
}

/* Uniform in [-1, 1) from a xorshift generator. */
static double
uniform(unsigned long *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return (double)(*x >> 11) / 4503599627370496.0 - 1.0;
}

static void
test_hampel(void)
{
	/* A fading series with bounded noise (|e| <= 0.0017 Ah: its robust
	 * scale is about 1.48 * 0.00085, so 3 robust sd exceed any noise),
	 * small regeneration bumps, and drops of 0.03 to 0.05 Ah at known
	 * points: exactly those are flagged. */
	enum { N = 400 };
	static const size_t drops[] = {17, 63, 64, 151, 238, 301, 377};
	static double y[N];
	static unsigned char flag[N];
	unsigned long x = 88172645463325252UL;
	size_t i, j, n, nd = sizeof drops / sizeof *drops;
	int same = 1, is;

	for (i = 0; i < N; i++) {
		y[i] = 1.1 * exp(-3.1e-4 * (double)i) + 0.0017 * uniform(&x);
		if (i >= 120)
			y[i] += 0.0011 * exp(-(double)(i - 120) / 5.3);
	}
	for (j = 0; j < nd; j++)
		y[drops[j]] -= 0.03 + 0.01 * (double)(j % 3);
	CHECK(bt_rul_hampel(y, N, 31, 3.0, flag, &n) == 0, "hampel status");
	for (i = 0; i < N; i++) {
		is = 0;
		for (j = 0; j < nd; j++)
			is |= drops[j] == i;
		same &= flag[i] == is;
	}
	CHECK(same && n == nd, "hampel flags exactly the injected drops");
	CHECK(bt_rul_hampel(y, N, 1, 3.0, flag, &n) == 0 && n == 0,
	      "a window of one flags nothing");
	CHECK(bt_rul_hampel(y, N, 11, 0.0, flag, &n) == BT_EINVAL,
	      "a threshold of zero is refused");
}

static void
test_fit(enum bt_rul_model m, const double *p, const char *what)
{
	enum { N = 120 };
	double x[N], y[N];
	struct bt_rul_fit fit;
	size_t i, np = bt_rul_model_nparams(m);
	int ok;
	char msg[128];

	for (i = 0; i < N; i++) {
		x[i] = (double)(i + 1) / N;
		y[i] = bt_rul_model_eval(m, p, x[i]);
	}
	ok = bt_rul_fit(m, x, y, N, &fit) == BT_OK;
	snprintf(msg, sizeof msg, "%s: fit converges", what);
	CHECK(ok, "%s", msg);
	if (!ok)
		return;
	for (i = 0; i < np; i++) {
		snprintf(msg, sizeof msg, "%s: p%zu %.10g vs %.10g", what, i,
			 fit.p[i], p[i]);
		CHECK(close_to(fit.p[i], p[i], 1e-6), "%s", msg);
	}
	snprintf(msg, sizeof msg, "%s: rmse %g", what, fit.rmse);
	CHECK(fit.rmse < 1e-9, "%s", msg);
}

static struct bt_rul_cell *
exp_cell(size_t n, double a, double b)
{
	struct bt_rul_cell *c = bt_rul_cell_alloc("E1");
	size_t k;

	for (k = 1; k <= n; k++)
		bt_rul_cell_add(c, (double)k, a * exp(b * (double)k));
	return c;
}

static void
test_models(void)
{
	unsigned set;
	char buf[32];

	CHECK(bt_rul_models_parse("power,linear", &set) == BT_OK
	      && set == (BT_RUL_SET(BT_RUL_POWER) | BT_RUL_SET(BT_RUL_LINEAR)),
	      "parse power,linear");
	bt_rul_models_name(set, buf, sizeof buf);
	CHECK_STR(buf, "linear+power", "name of linear+power");
	bt_rul_models_name(BT_RUL_PF_MODELS, buf, 8);
	CHECK_STR(buf, "linear+", "a name truncated to fit");
	CHECK(bt_rul_models_parse("dexp", &set) == BT_OK
	      && set == BT_RUL_SET(BT_RUL_DEXP), "parse dexp alone");
	CHECK(bt_rul_models_parse("linear,,exp", &set) == BT_EINVAL, "empty item");
	CHECK(bt_rul_models_parse("exp,", &set) == BT_EINVAL, "trailing comma");
	CHECK(bt_rul_models_parse("", &set) == BT_EINVAL, "empty list");
	CHECK(bt_rul_models_parse("exp,exp", &set) == BT_EINVAL, "named twice");
	CHECK(bt_rul_models_parse("linear,pf", &set) == BT_EINVAL, "pf in a list");
	CHECK(bt_rul_models_parse("linear,auto", &set) == BT_EINVAL, "auto in a list");
	CHECK(bt_rul_models_parse("life", &set) == BT_EINVAL, "life without a model");
	CHECK(bt_rul_models_parse("life,exp", &set) == BT_OK
	      && set == (BT_RUL_SET(BT_RUL_LIFE) | BT_RUL_SET(BT_RUL_EXP)), "parse life,exp");
	bt_rul_models_name(BT_RUL_PF_MODELS, buf, sizeof buf);
	CHECK_STR(buf, "linear+exp+power+life", "name of the default pool");
	CHECK(bt_rul_models_parse("exponential", &set) == BT_EINVAL, "long name");
}

static void
test_forecast(void)
{
	struct bt_rul_opts o;
	struct bt_rul_result r;
	struct bt_rul_trajectory t;
	struct bt_rul_cell *c;
	char name[32];
	size_t k;

	/* 1.9 exp(-0.003 k) reaches 1.5 at k = ln(1.9 / 1.5) / 0.003 = 78.80:
	 * the first whole cycle at or below the line is 79. */
	bt_rul_opts_init(&o);
	o.model = BT_RUL_EXP;
	o.hampel_window = 0;
	o.eol_capacity = 1.5;
	c = exp_cell(30, 1.9, -0.003);
	CHECK(bt_rul_forecast(c, NULL, &o, &r, &t) == BT_OK, "exp forecast");
	CHECK(r.eol_cycle == 79 && r.rul == 49 && r.eol_lo == 79 && r.eol_hi == 79,
	      "exp: end of life at cycle 79");
	CHECK(t.n == 49 && t.cycle[0] == 31 && t.cycle[48] == 79
	      && close_to(t.median[0], 1.9 * exp(-0.003 * 31), 1e-9),
	      "exp: the trajectory from cycle 31 to 79");
	bt_rul_trajectory_free(&t);

	/* The same through the particle filter without a fleet. */
	o.model = BT_RUL_PF;
	o.pf_models = BT_RUL_SET(BT_RUL_EXP);
	o.particles = 500;
	CHECK(bt_rul_forecast(c, NULL, &o, &r, NULL) == BT_OK
	      && fabs(r.eol_cycle - 79) <= 1 && r.eol_lo <= 79 && r.eol_hi >= 79,
	      "pf: end of life at cycle 79");

	/* The default pool without a fleet, linear, exp and power: the
	 * line's members cross earlier than the curve's (the line through
	 * a convex decay runs below it beyond the data), so the pooled
	 * interval reaches up to 79 and the result names the three models. */
	o.pf_models = BT_RUL_PF_MODELS;
	CHECK(bt_rul_forecast(c, NULL, &o, &r, &t) == BT_OK
	      && r.pool == (BT_RUL_SET(BT_RUL_LINEAR) | BT_RUL_SET(BT_RUL_EXP)
			    | BT_RUL_SET(BT_RUL_POWER))
	      && r.base == BT_RUL_LINEAR && r.eol_lo <= 79 && r.eol_hi >= 79
	      && r.life_members == 0 && isnan(r.life_weight),
	      "pf pool: the interval holds cycle 79");
	bt_rul_result_model(&r, name, sizeof name);
	CHECK_STR(name, "pf:linear+exp+power", "name of the pool");
	CHECK(t.n > 0 && t.lo[0] <= t.median[0] && t.median[0] <= t.hi[0],
	      "pf pool: an ordered trajectory band");
	bt_rul_trajectory_free(&t);
	/* Fewer particles than models: the first models only. */
	o.particles = 2;
	o.pf_models = BT_RUL_SET(BT_RUL_LINEAR) | BT_RUL_SET(BT_RUL_EXP)
		      | BT_RUL_SET(BT_RUL_POWER);
	CHECK(bt_rul_forecast(c, NULL, &o, &r, NULL) == BT_OK
	      && r.pool == (BT_RUL_SET(BT_RUL_LINEAR) | BT_RUL_SET(BT_RUL_EXP)),
	      "pf pool: two particles, two models");
	o.pf_models = 0;
	CHECK(bt_rul_forecast(c, NULL, &o, &r, NULL) == BT_EINVAL, "pf: empty pool");
	o.pf_models = BT_RUL_SET(BT_RUL_AUTO);
	CHECK(bt_rul_forecast(c, NULL, &o, &r, NULL) == BT_EINVAL, "pf: auto in the pool");
	o.pf_models = BT_RUL_PF_MODELS;
	o.particles = 500;

	/* End of life already in the data. */
	o.model = BT_RUL_AUTO;
	o.eol_capacity = 1.85;
	CHECK(bt_rul_forecast(c, NULL, &o, &r, NULL) == BT_OK && r.reached
	      && r.eol_cycle == 9 && r.rul == 0, "reached at cycle 9");
	r.reached = 0;
	r.model = BT_RUL_EXP;
	r.base = BT_RUL_EXP;
	bt_rul_result_model(&r, name, sizeof name);
	CHECK_STR(name, "exp", "name of a fit");
	bt_rul_cell_free(c);

	/* Too few points, a rise, no fade, bad options. */
	o.eol_capacity = 1.5;
	c = exp_cell(6, 1.9, -0.003);
	CHECK(bt_rul_forecast(c, NULL, &o, &r, NULL) == BT_EEMPTY
	      && strstr(r.message, "too few cycles: 6") != NULL, "too few");
	bt_rul_cell_free(c);
	c = exp_cell(30, 1.6, 0.002);
	CHECK(bt_rul_forecast(c, NULL, &o, &r, NULL) == BT_ERANGE
	      && strstr(r.message, "rises") != NULL, "rising");
	bt_rul_cell_free(c);
	c = bt_rul_cell_alloc(NULL);
	for (k = 1; k <= 30; k++)
		bt_rul_cell_add(c, (double)k, 1.7 + (k % 2 ? 1e-3 : -1e-3));
	CHECK(bt_rul_forecast(c, NULL, &o, &r, NULL) == BT_ERANGE
	      && strstr(r.message, "no fade") != NULL, "no fade");
	o.interval = 1.0;
	CHECK(bt_rul_forecast(c, NULL, &o, &r, NULL) == BT_EINVAL, "bad interval");
	CHECK(bt_rul_cell_add(c, 30, 1.7) == BT_EINVAL, "cycle must increase");
	CHECK(bt_rul_cell_add(c, 31, NAN) == BT_EINVAL, "capacity must be finite");
	bt_rul_cell_free(c);
}

/* A cell called NAME fading as Q = A - B k for k = 1..N, added to F. */
static void
line_cell(struct bt_rul_fleet *f, const char *name, size_t n, double a,
	  double b)
{
	const struct bt_rul_cell *c;
	size_t k;

	for (k = 1; k <= n; k++)
		bt_rul_fleet_point(f, name, strlen(name), (double)k,
				   a - b * (double)k, &c);
}

/* The fleet's lives in the pool: a cell that crosses 1.505 Ah at cycle 50
 * and one that never does, its life counted as its last cycle, 80: the
 * log-normal's median is sqrt(50 * 80). */
static void
test_life(void)
{
	struct bt_rul_fleet *f = bt_rul_fleet_alloc(), *t = bt_rul_fleet_alloc();
	const struct bt_rul_cell *v;
	struct bt_rul_opts o;
	size_t k;
	struct bt_rul_result r;
	char name[48];

	line_cell(f, "A", 100, 2.0, 0.01);
	line_cell(f, "B", 80, 2.0, 0.005);
	line_cell(f, "T", 40, 2.0, 0.008);
	line_cell(t, "T", 40, 2.0, 0.008);
	line_cell(t, "S", 800, 2.0, 0.0004);
	bt_rul_opts_init(&o);
	o.model = BT_RUL_PF;
	o.hampel_window = 0;
	o.eol_capacity = 1.505;
	o.particles = 600;
	CHECK(bt_rul_forecast(bt_rul_fleet_cell(t, 0), f, &o, &r, NULL) == BT_OK
	      && r.life_weight > 0 && r.life_weight < 1
	      && fabs((double)r.life_members - 600 * r.life_weight) < 1
	      && close_to(r.life_median, sqrt(50.0 * 80.0), 1e-12)
	      && r.pool == BT_RUL_PF_MODELS && r.fleet_used == 2,
	      "life: its stacking share of the members, median sqrt(50 * 80), T left out");
	bt_rul_result_model(&r, name, sizeof name);
	CHECK_STR(name, "pf:linear+exp+power+life", "life: the pool's name");
	/* The cell has outlived the fleet by far (cycle 800, the log-normal's
	 * upper tail there below 1e-9): the lives are left out. */
	CHECK(bt_rul_forecast(bt_rul_fleet_cell(t, 1), f, &o, &r, NULL) == BT_OK
	      && r.life_members == 0 && isnan(r.life_median)
	      && r.pool == (BT_RUL_SET(BT_RUL_LINEAR) | BT_RUL_SET(BT_RUL_EXP)
			    | BT_RUL_SET(BT_RUL_POWER)),
	      "life: none for a cell that outlived the fleet");
	/* Stacking.  A history of 12 points is too short to hold out its
	 * last 30 % (8 points left, fewer than the 10 a forecast needs): the
	 * four members take equal shares, 150 particles each. */
	line_cell(t, "U", 12, 2.0, 0.008);
	CHECK(bt_rul_forecast(bt_rul_fleet_cell(t, 2), f, &o, &r, NULL) == BT_OK
	      && r.life_weight == 0.25 && r.life_members == 150,
	      "stacking: equal shares for a history too short to split");
	/* A cell fading five times slower than the fleet's lives allow
	 * (2 - 0.002 k reaches 1.505 at cycle 248, the lives say 63), with
	 * noise of 1 mAh alternating in sign (no autocorrelation: the
	 * held-out points count in full): the lives' lines, drawn from cycle
	 * 28, miss its last 12 points by some 100 noise deviations, the
	 * fitted models do not, and the lives' share falls below half of an
	 * equal one (its posterior mean is about 1 / (12 + 4)). */
	for (k = 1; k <= 40; k++)
		bt_rul_fleet_point(t, "V", 1, (double)k,
				   2.0 - 0.002 * (double)k + (k % 2 ? 1e-3 : -1e-3), &v);
	CHECK(bt_rul_forecast(bt_rul_fleet_cell(t, 3), f, &o, &r, NULL) == BT_OK
	      && r.life_weight < 0.125
	      && fabs((double)r.life_members - 600 * r.life_weight) < 1,
	      "stacking: lives that the held-out points contradict weigh little");
	/* Without a fleet, and with life left out of the pool. */
	CHECK(bt_rul_forecast(bt_rul_fleet_cell(t, 0), NULL, &o, &r, NULL) == BT_OK
	      && r.life_members == 0, "life: none without a fleet");
	o.pf_models = BT_RUL_SET(BT_RUL_LINEAR);
	CHECK(bt_rul_forecast(bt_rul_fleet_cell(t, 0), f, &o, &r, NULL) == BT_OK
	      && r.life_members == 0 && r.pool == BT_RUL_SET(BT_RUL_LINEAR),
	      "life: not in the pool");
	o.pf_models = BT_RUL_SET(BT_RUL_LIFE);
	CHECK(bt_rul_forecast(bt_rul_fleet_cell(t, 0), f, &o, &r, NULL) == BT_EINVAL,
	      "life: a pool of lives alone");
	bt_rul_fleet_free(f);
	bt_rul_fleet_free(t);
}

/* A pace that rises: Q = 2 - 0.002 k to cycle 40, then three times as
 * fast, Q = 1.92 - 0.006 (k - 40), to cycle 70, with 1 mAh of noise
 * alternating in sign.  The second piece reaches 1.6 Ah at k = 93.3: the
 * first cycle at or below the line is 94, 24 cycles after the last.  Any
 * one curve through the whole history averages the two paces and forecasts
 * too late; with the pace's rises the filter follows the second one. */
static void
test_knee(void)
{
	struct bt_rul_cell *c = bt_rul_cell_alloc("K");
	struct bt_rul_opts o;
	struct bt_rul_result r;
	double knee, flat;
	size_t k;

	for (k = 1; k <= 70; k++)
		bt_rul_cell_add(c, (double)k, (k <= 40 ? 2.0 - 0.002 * (double)k
					       : 1.92 - 0.006 * (double)(k - 40))
				+ (k % 2 ? 1e-3 : -1e-3));
	bt_rul_opts_init(&o);
	o.model = BT_RUL_PF;
	o.hampel_window = 0;
	o.eol_capacity = 1.6;
	o.particles = 1000;
	CHECK(bt_rul_forecast(c, NULL, &o, &r, NULL) == BT_OK
	      && fabs(r.rul - 24) <= 0.25 * 24 && r.rul_lo <= 24 && 24 <= r.rul_hi,
	      "knee: the median within 25 %% of the remaining 24 cycles (%g), "
	      "inside the interval", r.rul);
	knee = r.rul;
	o.pf_knee = 0;
	CHECK(bt_rul_forecast(c, NULL, &o, &r, NULL) == BT_OK, "knee: none");
	flat = r.rul;
	CHECK(fabs(flat - 24) > fabs(knee - 24) + 0.1 * 24,
	      "knee: without the rises the forecast is further off (%g, %g)", flat, knee);
	o.pf_knee = -1;
	CHECK(bt_rul_forecast(c, NULL, &o, &r, NULL) == BT_EINVAL, "knee: negative rate");
	o.pf_knee = INFINITY;
	CHECK(bt_rul_forecast(c, NULL, &o, &r, NULL) == BT_EINVAL, "knee: infinite rate");
	bt_rul_cell_free(c);
}

static void
test_fleet(void)
{
	struct bt_rul_fleet *f = bt_rul_fleet_alloc();
	const struct bt_rul_cell *c = NULL;
	static const char *const names[] = {"B7", "A12", "B7", "A12", "B7"};
	size_t i;
	int ok = 1;

	for (i = 0; i < 5; i++)
		ok &= bt_rul_fleet_point(f, names[i], strlen(names[i]),
					 (double)(i + 1), 1.9 - 0.01 * (double)i,
					 &c) == BT_OK;
	CHECK(ok && bt_rul_fleet_size(f) == 2
	      && strcmp(bt_rul_cell_name(bt_rul_fleet_cell(f, 0)), "B7") == 0
	      && bt_rul_cell_size(bt_rul_fleet_cell(f, 0)) == 3
	      && bt_rul_cell_last(bt_rul_fleet_cell(f, 1)) == 4,
	      "fleet: interleaved rows make two cells in order");
	CHECK(bt_rul_fleet_point(f, "A12xyz", 3, 2, 1.8, &c) == BT_EINVAL
	      && c == bt_rul_fleet_cell(f, 1), "fleet: a cycle that does not increase");
	bt_rul_fleet_free(f);
}

int
main(void)
{
	static const double lin[] = {2.0113, -0.4187};
	static const double ex[] = {1.8731, -0.3112};
	static const double dexp[] = {1.1207, -0.0419, -0.0149, 1.137};
	static const double power[] = {1.9137, 0.2281, 1.7312};
	enum bt_rul_model m;

	CHECK(bt_rul_model_parse("dexp", &m) == BT_OK && m == BT_RUL_DEXP,
	      "parse dexp");
	CHECK(bt_rul_model_parse("cubic", &m) == BT_EINVAL, "parse refuses cubic");
	CHECK(strcmp(bt_rul_model_name(BT_RUL_PF), "pf") == 0, "name of pf");
	test_models();
	test_hampel();
	test_fit(BT_RUL_LINEAR, lin, "linear");
	test_fit(BT_RUL_EXP, ex, "exp");
	test_fit(BT_RUL_DEXP, dexp, "dexp");
	test_fit(BT_RUL_POWER, power, "power");
	test_forecast();
	test_fleet();
	test_life();
	test_knee();
	return check_report();
}
