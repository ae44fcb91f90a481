/* test_bt_ica.c - voltage-binned dQ/dV against closed forms: a uniform
 * ramp, and a logistic charge curve whose dQ/dV peak has a known position,
 * height, area and width. */
#include <math.h>
#include <stdio.h>

#include "bt_ica.h"
#include "check.h"

/* A constant-current discharge with the voltage falling linearly: every
 * bin holds the same charge, dQ/dV = I / (3600 |dV/dt|). */
static void
test_ramp(void)
{
	const double i = -1.7311, rate = -3.1e-5, v0 = 4.0913, dt = 3.7;
	struct bt_ica_opts o;
	struct bt_ica *ica;
	const struct bt_ica_point *p;
	size_t n, k, checked = 0;
	double t, want = -i / (3600 * -rate), prev = -1;

	bt_ica_opts_init(&o);
	CHECK(bt_ica_alloc(&ica, &o) == BT_OK, "alloc");
	for (k = 0; k <= 8000; k++) {
		t = k * dt;
		CHECK(bt_ica_add(ica, t, i, v0 + rate * t) == BT_OK, "add");
	}
	CHECK(bt_ica_curve(ica, BT_ICA_CHARGE, &p, &n) == BT_OK && n == 0,
	      "no charge curve");
	CHECK(bt_ica_curve(ica, BT_ICA_DISCHARGE, &p, &n) == BT_OK, "curve");
	CHECK(n == (size_t)(floor(v0 / o.bin_v) - floor((v0 + rate * 8000 * dt) / o.bin_v) + 1),
	      "bins %zu", n);
	for (k = 0; k < n; k++) {
		/* away from the ends the kernel sees only full bins */
		if (p[k].voltage_v > v0 + rate * 8000 * dt + 5 * o.smooth_v
		    && p[k].voltage_v < v0 - 5 * o.smooth_v) {
			CHECK_NEAR(p[k].dqdv_ah_per_v, want, 1e-9 * want, "dqdv");
			CHECK_NEAR(p[k].dvdq_v_per_ah, 1 / want, 1e-9 / want, "dvdq");
			checked++;
		}
		/* discharge capacity grows as the voltage falls */
		CHECK(prev < 0 || p[k].capacity_ah < prev, "capacity order at %zu", k);
		prev = p[k].capacity_ah;
	}
	CHECK(checked > 100, "bins checked %zu", checked);
	/* the lowest bin's centre is reached within one bin of the end */
	CHECK(p[0].capacity_ah <= -i * 8000 * dt / 3600 + 1e-12
	      && p[0].capacity_ah >= -i * 8000 * dt / 3600 - want * o.bin_v,
	      "capacity at the end %.10g", p[0].capacity_ah);
	CHECK(p[n - 1].capacity_ah >= 0 && p[n - 1].capacity_ah <= want * o.bin_v,
	      "capacity at the start %.10g", p[n - 1].capacity_ah);
	bt_ica_free(ica);
}

/* A charge at 0.5 A along Q(V) = Qp / (1 + exp(-(V - Vc) / s)): dQ/dV is
 * Qp / (4 s) sech^2((V - Vc) / 2 s), peak at Vc, area Qp, full width at
 * half maximum 4 s acosh(sqrt 2). */
static void
test_logistic(double smooth_v)
{
	const double qp = 1.3179, vc = 3.6427, s = 0.0183, i = 0.5;
	struct bt_ica_opts o;
	struct bt_ica *ica;
	const struct bt_ica_point *p;
	const struct bt_ica_peak *pk;
	size_t n, np;
	double v, q, t;

	bt_ica_opts_init(&o);
	o.smooth_v = smooth_v;
	CHECK(bt_ica_alloc(&ica, &o) == BT_OK, "alloc");
	/* sample the voltage densely: 0.3 mV steps, time from the charge */
	for (v = vc - 0.25; v <= vc + 0.25; v += 0.0003) {
		q = qp / (1 + exp(-(v - vc) / s));
		t = q * 3600 / i;
		CHECK(bt_ica_add(ica, t, i, v) == BT_OK, "add");
	}
	CHECK(bt_ica_curve(ica, BT_ICA_CHARGE, &p, &n) == BT_OK && n > 200, "curve");
	CHECK(bt_ica_peaks(ica, BT_ICA_CHARGE, &pk, &np) == BT_OK, "peaks");
	CHECK(np == 1, "one peak, not %zu", np);
	if (np == 1) {
		CHECK_NEAR(pk[0].voltage_v, vc, 2e-4, "peak voltage");
		CHECK_NEAR(pk[0].area_ah, qp, 2e-3 * qp, "area");
		if (smooth_v == 0) {
			CHECK_NEAR(pk[0].height_ah_per_v, qp / (4 * s), 0.01 * qp / (4 * s),
				   "height");
			CHECK_NEAR(pk[0].width_v, 4 * s * acosh(sqrt(2.0)), 0.002,
				   "width");
		} else {
			/* smoothing lowers and widens the peak */
			CHECK(pk[0].height_ah_per_v < qp / (4 * s), "lower");
			CHECK(pk[0].width_v > 4 * s * acosh(sqrt(2.0)), "wider");
		}
	}
	bt_ica_free(ica);
}

static void
test_errors(void)
{
	struct bt_ica_opts o;
	struct bt_ica *ica;

	bt_ica_opts_init(&o);
	o.bin_v = 0;
	CHECK(bt_ica_alloc(&ica, &o) == BT_EINVAL && ica == NULL, "zero bin");
	bt_ica_opts_init(&o);
	o.prominence = 1.5;
	CHECK(bt_ica_alloc(&ica, &o) == BT_EINVAL, "prominence above 1");
	bt_ica_opts_init(&o);
	CHECK(bt_ica_alloc(&ica, &o) == BT_OK, "alloc");
	CHECK(bt_ica_add(ica, 10, -1, 3.7) == BT_OK, "first");
	CHECK(bt_ica_add(ica, 9, -1, 3.69) == BT_ETIME, "time backwards");
	CHECK(bt_ica_add(ica, 11, -1, 9000) == BT_ERANGE, "voltage range");
	bt_ica_reset(ica);
	CHECK(bt_ica_add(ica, 0, -1, 3.7) == BT_OK, "after reset");
	bt_ica_free(ica);
	bt_ica_free(NULL);
	CHECK(bt_ica_direction_name(BT_ICA_DISCHARGE)[0] == 'd', "name");
}

int
main(void)
{
	test_ramp();
	test_logistic(0);
	test_logistic(BT_ICA_DEFAULT_SMOOTH_V);
	test_errors();
	return check_report();
}
