/* test_bt_impedance.c - the wavelet impedance of simulated cells against
 * the circuit's analytic impedance (bt_ecm_impedance).
 *
 * tests/data/ecm/flat2rc.ecm has constant R0, R1, tau1, R2, tau2 and an
 * almost flat OCV, so the small-signal impedance of the simulated cell is
 * R0 + sum R_k / (1 + j 2 pi f tau_k).  A seeded bt_sim drive cycle
 * excites it; the estimate must be within 5 % in magnitude and 3 degrees
 * in phase at every frequency of the default band.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "bt_ecm.h"
#include "bt_impedance.h"
#include "bt_sim.h"

#define MAG_TOL 0.05
#define PHASE_TOL_DEG 3.0
#define DRIVE_S 7200.0

/* Simulate the drive cycle into T, V, I; returns the number of rows. */
static size_t
simulate(const struct bt_ecm *ecm, double dt, double noise, double *t, double *v,
	 double *i, size_t max)
{
	struct bt_sim_opts o;
	struct bt_sim *sim;
	struct bt_sim_row row;
	size_t n = 0;

	bt_sim_opts_init(&o);
	o.protocol = BT_SIM_DRIVE;
	o.soc0 = 0.9;
	o.dt_s = dt;
	o.drive.duration_s = DRIVE_S;
	o.voltage_noise_sd_v = noise;
	o.seed = 17;
	if (bt_sim_alloc(ecm, &o, &sim, NULL) != BT_OK)
		return 0;
	while (n < max && bt_sim_next(sim, &row) == BT_OK) {
		t[n] = row.time_s;
		v[n] = row.voltage_v;
		i[n] = row.current_a;
		n++;
	}
	bt_sim_free(sim);
	return n;
}

static void
against_circuit(const struct bt_ecm *ecm, const double *t, const double *v,
		const double *i, size_t n, const char *what)
{
	struct bt_impedance_opts o;
	struct bt_impedance_point *p;
	struct bt_ecm_params prm;
	size_t np, k, bad = 0;
	double dt, worst_mag = 0, worst_ph = 0, re, im;
	char msg[200];

	bt_impedance_opts_init(&o);
	CHECK(bt_impedance_estimate(t, v, i, n, &o, &p, &np, &dt) == BT_OK && np > 10,
	      "impedance runs");
	bt_ecm_params_at(ecm, 0.8, 25, &prm);
	for (k = 0; k < np; k++) {
		double m, ph;

		bt_ecm_impedance(&prm, p[k].freq_hz, &re, &im);
		m = fabs(hypot(p[k].z_re_ohm, p[k].z_im_ohm) / hypot(re, im) - 1);
		ph = fabs(atan2(p[k].z_im_ohm, p[k].z_re_ohm) - atan2(im, re)) * 180 / M_PI;
		if (!(m <= MAG_TOL && ph <= PHASE_TOL_DEG))
			bad++;
		if (!(m <= worst_mag))
			worst_mag = m;
		if (!(ph <= worst_ph))
			worst_ph = ph;
	}
	snprintf(msg, sizeof msg, "%s: %zu frequencies %.4g..%.4g Hz, worst "
		 "magnitude %.2f %%, phase %.2f deg", what, np, np ? p[0].freq_hz : 0,
		 np ? p[np - 1].freq_hz : 0, 100 * worst_mag, worst_ph);
	printf("%s\n", msg);
	CHECK(bad == 0 && np > 10, "%s", msg);
	free(p);
}

int
main(void)
{
	enum { MAX = 16000 };
	static double t[MAX], v[MAX], i[MAX], t2[MAX], v2[MAX], i2[MAX];
	const char *src = getenv("BT_SRCDIR");
	char path[4096], err[BT_ERRMSG_SIZE];
	struct bt_ecm *ecm;
	struct bt_impedance_opts o;
	struct bt_impedance_point *p;
	size_t n, m, k, np;
	double dt;

	snprintf(path, sizeof path, "%s/tests/data/ecm/flat2rc.ecm", src ? src : ".");
	CHECK(bt_ecm_load(path, &ecm, err) == BT_OK, "load flat2rc.ecm");
	if (ecm == NULL) {
		printf("%s\n", err);
		return check_report() | 1;
	}
	n = simulate(ecm, 1.0, 0, t, v, i, MAX);
	against_circuit(ecm, t, v, i, n, "drive cycle, 1 s");
	/* 1 mV of voltage noise. */
	n = simulate(ecm, 1.0, 0.001, t, v, i, MAX);
	against_circuit(ecm, t, v, i, n, "drive cycle, 1 s, 1 mV noise");
	/* Uneven sampling: every seventh row dropped and some repeated
	 * timestamps, as cyclers log them; the record is resampled. */
	for (k = 0, m = 0; k < n; k++) {
		if (k % 7 == 3)
			continue;
		t2[m] = t[k];
		v2[m] = v[k];
		i2[m] = i[k];
		m++;
		if (k % 50 == 0) {
			t2[m] = t[k];
			v2[m] = v[k];
			i2[m] = i[k];
			m++;
		}
	}
	against_circuit(ecm, t2, v2, i2, m, "drive cycle, uneven sampling");

	bt_impedance_opts_init(&o);
	for (k = 0; k < 100; k++)
		i2[k] = -1.25;
	CHECK(bt_impedance_estimate(t, v, i2, 100, &o, &p, &np, &dt) == BT_ERANGE,
	      "a constant current excites nothing");
	CHECK(bt_impedance_estimate(t, v, i, 10, &o, &p, &np, &dt) == BT_EEMPTY,
	      "too few samples");
	o.fmin_hz = 0.3;
	o.fmax_hz = 0.1;
	CHECK(bt_impedance_estimate(t, v, i, n, &o, &p, &np, &dt) == BT_EINVAL,
	      "fmin above fmax");
	bt_ecm_free(ecm);
	return check_report();
}
