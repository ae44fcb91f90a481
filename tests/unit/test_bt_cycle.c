/* test_bt_cycle.c - the per-cycle accumulator and the state-of-health stage
 * against closed-form integrals, the step response of an RC circuit and
 * hand-counted medians. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bt_cycle.h"
#include "bt_stream.h"
#include "check.h"

/* Linear current and voltage: the trapezoid is exact for the charge; for
 * the energy (a quadratic) it errs by exactly -(T h^2 / 12) (VI)'' (the
 * trapezoid rule's error term, Davis & Rabinowitz 1984 eq. 2.1.11). */
static void
test_integrals(void)
{
	struct bt_cycle_opts o;
	struct bt_cycle *c;
	struct bt_cycle_result r;
	double h = 0.7, T = 700, t, i0 = -1.3, di = -0.0021, v0 = 4.1, dv = -0.0013;
	double q, e, e2;
	size_t k, n = (size_t)(T / h + 0.5);

	bt_cycle_opts_init(&o);
	CHECK(bt_cycle_alloc(&c, &o) == BT_OK, "alloc");
	bt_cycle_begin(c, 7, 0);
	for (k = 0; k <= n; k++) {
		t = 12.5 + k * h;
		CHECK(bt_cycle_add(c, t, i0 + di * (t - 12.5), v0 + dv * (t - 12.5),
				   25 + 0.01 * k) == BT_OK, "add");
	}
	bt_cycle_result(c, &r);
	q = -(i0 * T + di * T * T / 2) / 3600;
	/* integral of (i0 + di s)(v0 + dv s) ds over [0, T], and its
	 * trapezoid error with (VI)'' = 2 di dv. */
	e = i0 * v0 * T + (i0 * dv + di * v0) * T * T / 2 + di * dv * T * T * T / 3;
	e2 = e + T * h * h / 12 * 2 * di * dv;
	CHECK_NEAR(r.cycle, 7, 0, "cycle");
	CHECK_NEAR(r.discharge_ah, q, 1e-12, "discharge_ah");
	CHECK_NEAR(r.capacity_ah, q, 1e-12, "capacity_ah without cutoff");
	CHECK_NEAR(r.discharge_wh, -e2 / 3600, 1e-11, "discharge_wh");
	CHECK(isnan(r.charge_ah) && isnan(r.coulombic_efficiency), "no charge");
	CHECK_NEAR(r.start_time_s, 12.5, 0, "start");
	CHECK_NEAR(r.duration_s, T, 1e-9, "duration");
	CHECK(r.samples == n + 1, "samples %zu", r.samples);
	CHECK_NEAR(r.voltage_mean_v, v0 + dv * T / 2, 1e-12, "mean voltage");
	CHECK_NEAR(r.voltage_min_v, v0 + dv * T, 1e-12, "min voltage");
	CHECK_NEAR(r.voltage_max_v, v0, 0, "max voltage");
	CHECK_NEAR(r.temperature_mean_c, 25 + 0.01 * n / 2.0, 1e-12, "mean temperature");
	CHECK_NEAR(r.temperature_max_c, 25 + 0.01 * n, 1e-12, "max temperature");
	/* time backwards is refused and changes nothing */
	CHECK(bt_cycle_add(c, 0, -1, 3.5, NAN) == BT_ETIME, "time backwards");
	CHECK(bt_cycle_samples(c) == n + 1, "nothing taken");
	bt_cycle_free(c);
}

/* The cutoff: the interval that crosses it counts, nothing after. */
static void
test_cutoff(void)
{
	static const double v[] = {3.0124, 2.8316, 2.6573, 2.6101, 2.9902};
	static const double cur[] = {-1.25, -1.25, -1.25, -1.25, 0};
	struct bt_cycle_opts o;
	struct bt_cycle *c;
	struct bt_cycle_result r;
	size_t k;

	bt_cycle_opts_init(&o);
	o.cutoff_v = 2.7;
	CHECK(bt_cycle_alloc(&c, &o) == BT_OK, "alloc");
	for (k = 0; k < 5; k++)
		bt_cycle_add(c, 10.0 * k, cur[k], v[k], NAN);
	bt_cycle_result(c, &r);
	CHECK_NEAR(r.capacity_ah, 1.25 * 20 / 3600, 1e-15, "capacity to the cutoff");
	CHECK_NEAR(r.discharge_ah, 1.25 * 35 / 3600, 1e-15, "whole discharge");
	CHECK_NEAR(r.energy_wh, 1.25 * 10 * (3.0124 + 2 * 2.8316 + 2.6573) / 2 / 3600,
		   1e-15, "energy to the cutoff");
	CHECK(isnan(r.temperature_mean_c) && isnan(r.temperature_min_c),
	      "no temperature");
	bt_cycle_free(c);
}

/* A step into an RC circuit sampled at an unround period: R at delay d is
 * R0 + R1 (1 - exp(-d / tau)); between samples the voltage is interpolated
 * linearly, which errs by at most h^2 / 8 max|V''|. */
static void
test_resistance(void)
{
	const double r0 = 0.0412, r1 = 0.0187, tau = 7.3, i1 = -2.05, h = 0.37;
	const double vrest = 3.6871;
	struct bt_cycle_opts o;
	struct bt_cycle *c;
	struct bt_cycle_result r;
	double t, i, v, want, tol;
	size_t k, j;

	bt_cycle_opts_init(&o);
	o.ndelays = 3;
	o.delay_s[0] = 0;
	o.delay_s[1] = 1;
	o.delay_s[2] = 10;
	CHECK(bt_cycle_alloc(&c, &o) == BT_OK, "alloc");
	for (k = 0; k < 100; k++) {
		t = k * h;
		i = t < 5 ? 0 : i1;
		v = vrest + (t < 5 ? 0 : i1 * (r0 + r1 * (1 - exp(-(t - 14 * h) / tau))));
		bt_cycle_add(c, t, i, v, NAN);
	}
	bt_cycle_result(c, &r);
	/* the step's first sample is t = 14 h (the first k h >= 5) */
	for (j = 0; j < 3; j++) {
		want = r0 + r1 * (1 - exp(-o.delay_s[j] / tau));
		tol = h * h / 8 * r1 / (tau * tau) + 1e-15;
		CHECK_NEAR(r.r_dc_ohm[j], want, tol, "r_dc");
	}
	CHECK(isnan(r.r_dc_ohm[3]), "no fourth delay");
	bt_cycle_free(c);

	/* a step that is not held long enough gives no resistance */
	CHECK(bt_cycle_alloc(&c, &o) == BT_OK, "alloc");
	for (k = 0; k < 30; k++)
		bt_cycle_add(c, k * h, k >= 3 && k < 20 ? -1.0 : 0, 3.7, NAN);
	bt_cycle_result(c, &r);
	CHECK(!isnan(r.r_dc_ohm[1]) && isnan(r.r_dc_ohm[2]), "10 s not held");
	bt_cycle_free(c);
}

/* Detection: discharge, rest, charge, rest, discharge begins cycle 2. */
static void
test_detection(void)
{
	static const double cur[] = {0, -1.1, -1.1, 0.001, 0.7, 0.7, 0, -1.1, 0.7};
	static const int starts[] = {0, 0, 0, 0, 0, 0, 0, 1, 0};
	struct bt_cycle_opts o;
	struct bt_cycle *c;
	struct bt_cycle_result r;
	size_t k;
	int s;

	bt_cycle_opts_init(&o);
	CHECK(bt_cycle_alloc(&c, &o) == BT_OK, "alloc");
	for (k = 0; k < 9; k++) {
		s = bt_cycle_starts(c, cur[k]);
		CHECK(s == starts[k], "sample %zu: starts %d", k, s);
		if (s) {
			bt_cycle_result(c, &r);
			CHECK_NEAR(r.coulombic_efficiency, 2.2 / 1.401,
				   1e-12, "coulombic efficiency");
			bt_cycle_begin(c, 2, 1);
		}
		bt_cycle_add(c, (double)k, cur[k], 3.7, NAN);
	}
	bt_cycle_free(c);
	o.start_on_charge = 1;
	CHECK(bt_cycle_alloc(&c, &o) == BT_OK, "alloc");
	for (k = 0; k < 9; k++) {
		s = bt_cycle_starts(c, cur[k]);
		CHECK(s == (k == 8), "charge start, sample %zu: starts %d", k, s);
		bt_cycle_add(c, (double)k, cur[k], 3.7, NAN);
	}
	bt_cycle_free(c);
	o.delay_s[0] = -1;
	CHECK(bt_cycle_alloc(&c, &o) == BT_EINVAL && c == NULL, "negative delay");
}

/* The health stage: reference from the median of the first 3, one spike
 * flagged, every cycle out once and in order, and again for a second cell. */
static void
test_health(void)
{
	static const double q[] = {1.0213, 0.9871, 1.0047, 0.9702, 0.5133, 0.9651,
				   0.9603, NAN, 0.9544, 0.9501};
	struct bt_cycle_health_opts o;
	struct bt_cycle_health *h;
	struct bt_cycle_health_row row;
	struct bt_cycle_result r = {0};
	size_t k, out, cell;

	bt_cycle_health_opts_init(&o);
	o.reference_cycles = 3;
	o.hampel_half = 2;
	CHECK(bt_cycle_health_alloc(&h, &o) == BT_OK, "alloc");
	for (cell = 0; cell < 2; cell++) {
		out = 0;
		for (k = 0; k <= 10; k++) {
			if (k < 10) {
				r.cycle = (double)k + 1;
				r.capacity_ah = q[k];
				bt_cycle_health_push(h, &r);
			} else {
				bt_cycle_health_finish(h);
			}
			while (bt_cycle_health_pop(h, &row) == BT_OK) {
				CHECK_NEAR(row.result.cycle, out + 1, 0, "order");
				CHECK_NEAR(row.reference_ah, 1.0047, 0, "reference");
				if (out == 7) {
					CHECK(isnan(row.soh) && row.flag == -1, "missing");
				} else {
					CHECK_NEAR(row.soh, q[out] / 1.0047, 1e-15, "soh");
					CHECK(row.flag == (out == 4), "flag of %zu: %d",
					      out, row.flag);
				}
				out++;
			}
			if (k == 2)
				CHECK(out == 0, "held until the window is full");
		}
		CHECK(out == 10, "cycles out: %zu", out);
	}
	bt_cycle_health_free(h);
	o.reference_ah = 1.1;
	CHECK(bt_cycle_health_alloc(&h, &o) == BT_OK, "alloc");
	r.capacity_ah = 0.99;
	bt_cycle_health_push(h, &r);
	bt_cycle_health_finish(h);
	CHECK(bt_cycle_health_pop(h, &row) == BT_OK, "a lone cycle");
	CHECK_NEAR(row.soh, 0.9, 1e-15, "soh against the given reference");
	CHECK(row.flag == 0, "a lone cycle is no outlier");
	CHECK(bt_cycle_health_pop(h, &row) == BT_EOF, "then none");
	bt_cycle_health_free(h);
	o.reference_ah = -1;
	CHECK(bt_cycle_health_alloc(&h, &o) == BT_EINVAL, "negative reference");
	bt_cycle_health_free(NULL);
	bt_cycle_free(NULL);
}

/* Run the iterator over the text CSV and compare its events, written as
 * letters (S sample, E cycle end with its number and cell, C cell end),
 * with WANT. */
static void
iterate(const char *csv, int history, const char *want)
{
	char path[] = "/tmp/test_bt_cycle.XXXXXX", got[256] = "", *p = got;
	struct bt_reader *r;
	struct bt_cycle_iter *it;
	struct bt_cycle_opts o;
	struct bt_cycle_result res;
	enum bt_cycle_event ev = BT_CYCLE_SAMPLE;
	const char *cell;
	size_t len;
	int fd = mkstemp(path);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;

	if (f == NULL || fputs(csv, f) < 0 || fclose(f) != 0) {
		CHECK(0, "temporary file");
		return;
	}
	bt_cycle_opts_init(&o);
	CHECK(bt_reader_open(&r, path, NULL) == BT_OK, "open");
	CHECK((history ? bt_cycle_iter_alloc_history(&it, r, "cell", NULL)
		       : bt_cycle_iter_alloc(&it, r, "cell", &o)) == BT_OK, "iterator");
	while (bt_cycle_iter_next(it, &ev) == BT_OK && p < got + sizeof got - 16) {
		if (ev == BT_CYCLE_SAMPLE) {
			*p++ = 'S';
		} else if (ev == BT_CYCLE_CELL_END) {
			*p++ = 'C';
		} else {
			bt_cycle_iter_result(it, &res);
			cell = bt_cycle_iter_cell(it, &len);
			p += sprintf(p, "E%g%.*s", res.cycle, (int)len, cell);
			if (history)
				p += sprintf(p, "=%g", res.capacity_ah);
		}
	}
	CHECK_STR(got, want, "events");
	bt_cycle_iter_free(it);
	bt_reader_free(r);
	remove(path);
}

static void
test_iterator(void)
{
	/* a cycle column; cells A and B; B restarts time */
	iterate("time_s,current_a,voltage_v,cycle,cell\n"
		"0,-1,3.7,1,A\n1,-1,3.6,1,A\n2,1,3.7,1,A\n3,-1,3.6,2,A\n4,0,3.7,2,A\n"
		"0,-1,3.9,1,B\n1,-1,3.8,1,B\n", 0, "SSSE1ASSE2ACSSE1BC");
	/* no cycle column: a discharge after a charge begins a cycle */
	iterate("time_s,current_a,voltage_v,cell\n"
		"0,-1,3.7,A\n1,0,3.7,A\n2,1,3.7,A\n3,-1,3.6,A\n4,-1,3.5,A\n", 0,
		"SSSE1ASSE2AC");
	iterate("cycle,capacity_ah,cell\n1,1.1,A\n2,,A\n7,0.9,B\n", 1,
		"E1A=1.1E2A=nanCE7B=0.9C");
	iterate("cycle,capacity_ah,cell\n", 1, "");
}

int
main(void)
{
	test_iterator();
	test_integrals();
	test_cutoff();
	test_resistance();
	test_detection();
	test_health();
	return check_report();
}
