/* test_bt_curve.c - discharge curves resampled onto a fixed time grid, the
 * training set that pairs them with late targets, and the ensemble's
 * mean and spread against direct evaluations. */
#include <math.h>
#include <stdio.h>

#include "bt_curve.h"
#include "bt_net.h"
#include "check.h"

/* A linear discharge: V = 4.0137 - 0.0113 t, T = 24.71 + 0.0219 t, every
 * 10 s to t = 100, with rests before and after that count for nothing. */
static void
test_resample(void)
{
	struct bt_curve *c;
	double x[6 * 3], t;
	size_t k;

	if (bt_curve_alloc(&c, 0.01, NAN, 1) != BT_OK) {
		CHECK(0, "alloc");
		return;
	}
	CHECK(bt_curve_channels(c) == 3, "channels");
	bt_curve_add(c, -20, 0, 4.1, 24.5);
	bt_curve_add(c, -10, -0.005, 4.1, 24.5);
	for (k = 0; k <= 10; k++) {
		t = 10.0 * k;
		CHECK(bt_curve_add(c, 1000 + t, -2.0417, 4.0137 - 0.0113 * t,
				   24.71 + 0.0219 * t) == BT_OK, "add");
	}
	bt_curve_add(c, 1110, 0, 3.5, 27);
	CHECK(bt_curve_resample(c, 6, 23, x) == BT_OK, "resample");
	for (k = 0; k < 6; k++) {
		t = 23.0 * k;
		if (t <= 100) {
			CHECK_NEAR(x[3 * k], 4.0137 - 0.0113 * t, 1e-12, "voltage");
			CHECK_NEAR(x[3 * k + 1], -2.0417, 1e-12, "current");
			CHECK_NEAR(x[3 * k + 2], 24.71 + 0.0219 * t, 1e-12, "temperature");
		} else {
			/* after the discharge: at rest where it ended */
			CHECK_NEAR(x[3 * k], 4.0137 - 0.0113 * 100, 1e-12, "rest voltage");
			CHECK_NEAR(x[3 * k + 1], 0, 0, "rest current");
			CHECK_NEAR(x[3 * k + 2], 24.71 + 0.0219 * 100, 1e-12, "rest temperature");
		}
	}
	CHECK(bt_curve_add(c, 1200, -1, 3.4, NAN) == BT_ENONFINITE, "no temperature");
	bt_curve_reset(c);
	CHECK(bt_curve_resample(c, 6, 23, x) == BT_EEMPTY, "empty after reset");
	bt_curve_free(c);

	/* the cutoff: the first sample below it is the last */
	if (bt_curve_alloc(&c, 0.01, 3.0, 0) != BT_OK) {
		CHECK(0, "alloc");
		return;
	}
	bt_curve_add(c, 0, -1, 3.2, NAN);
	bt_curve_add(c, 10, -1, 2.9, NAN);
	bt_curve_add(c, 20, -1, 2.5, NAN);
	CHECK(bt_curve_resample(c, 3, 10, x) == BT_OK, "resample");
	CHECK_NEAR(x[4], 2.9, 0, "the crossing sample");
	CHECK_NEAR(x[5], 0, 0, "then rest");
	bt_curve_free(c);
	CHECK(bt_curve_alloc(&c, -1, NAN, 0) == BT_EINVAL, "negative rest");

	CHECK(bt_curve_channel(2)[0] == 't' && bt_curve_channel(3) == NULL, "names");
}

static void
test_set(void)
{
	struct bt_curve_set *s;
	double a[4 * 2] = {3.9, -1, 3.8, -1, 3.7, -1, 3.6, -1}, b[4 * 2] = {0};

	if (bt_curve_set_alloc(&s, 2, 4) != BT_OK) {
		CHECK(0, "alloc");
		return;
	}
	CHECK(bt_curve_set_push(s, a) == BT_OK, "push a");
	CHECK(bt_curve_set_push(s, NULL) == BT_OK, "push none");
	CHECK(bt_curve_set_push(s, b) == BT_OK, "push b");
	CHECK(bt_curve_set_target(s, 0.9137) == BT_OK, "a's target");
	CHECK(bt_curve_set_target(s, 0.9) == BT_OK, "no curve");
	CHECK(bt_curve_set_target(s, NAN) == BT_OK, "no target");
	CHECK(bt_curve_set_target(s, 0.8) == BT_EINVAL, "nothing queued");
	CHECK(bt_net_data_series(bt_curve_set_data(s)) == 1, "one series");
	CHECK(bt_net_data_samples(bt_curve_set_data(s)) == 4, "of 4 samples");
	bt_curve_set_free(s);
	CHECK(bt_curve_set_alloc(&s, 4, 4) == BT_EINVAL, "too many channels");
}

static void
test_ensemble(void)
{
	const char *names[3] = {"voltage_v", "current_a", "temperature_c"};
	struct bt_net_arch arch;
	struct bt_net *net[2];
	struct bt_net_batch *b;
	struct bt_curve_ensemble *e;
	double x[10 * 3], y[2], mean, sd;
	size_t k;

	bt_net_arch_init(&arch, 3);
	arch.window = 10;
	arch.conv[0].filters = arch.conv[1].filters = 4;
	arch.conv[0].kernel = arch.conv[1].kernel = 3;
	arch.hidden[0] = 5;
	for (k = 0; k < 2; k++)
		CHECK(bt_net_alloc(&net[k], &arch, names, "soh", 7 + k, NULL) == BT_OK,
		      "net");
	for (k = 0; k < 30; k++)
		x[k] = 0.37 * sin(0.7 * (double)k);
	for (k = 0; k < 2; k++) {
		CHECK(bt_net_batch_alloc(net[k], 1, &b) == BT_OK, "batch");
		CHECK(bt_net_batch_forward(b, x, 1, &y[k]) == BT_OK, "forward");
		bt_net_batch_free(b);
	}
	CHECK(bt_curve_ensemble_alloc(&e, net, 2) == BT_OK, "ensemble");
	CHECK(bt_curve_ensemble_predict(e, x, &mean, &sd) == BT_OK, "predict");
	CHECK_NEAR(mean, (y[0] + y[1]) / 2, 1e-12, "mean");
	CHECK_NEAR(sd, fabs(y[0] - y[1]) / sqrt(2.0), 1e-12, "sd");
	bt_curve_ensemble_free(e);
	CHECK(bt_curve_ensemble_alloc(&e, net, 1) == BT_OK, "one member");
	CHECK(bt_curve_ensemble_predict(e, x, &mean, &sd) == BT_OK && isnan(sd),
	      "no spread");
	CHECK_NEAR(mean, y[0], 1e-12, "its prediction");
	bt_curve_ensemble_free(e);
	/* a soh model needs the curve channels, the target and a period */
	CHECK(bt_curve_check_net(net[0], 3) == BT_EINVAL, "no period");
	CHECK(bt_net_set_sample_period(net[0], 40) == BT_OK, "period");
	CHECK(bt_curve_check_net(net[0], 3) == BT_OK, "a soh model");
	CHECK(bt_curve_check_net(net[0], 2) == BT_EINVAL, "other channels");
	for (k = 0; k < 2; k++)
		bt_net_free(net[k]);
}

int
main(void)
{
	bt_net_set_threads(1);
	test_resample();
	test_set();
	test_ensemble();
	return check_report();
}
