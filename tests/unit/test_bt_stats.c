/* test_bt_stats.c - the error metrics against direct two-pass sums. */
#include <math.h>
#include <stdio.h>

#include "bt_stats.h"
#include "check.h"


static int
close_to(double a, double b, double tol)
{
	return fabs(a - b) <= tol * (1 + fabs(b));
}

int
main(void)
{
	/* A deterministic, unround error sequence with a large offset, where a
	 * naive sum of squares would lose digits. */
	enum { N = 10007 };
	static double e[N];
	double sum = 0, sumabs = 0, sumsq = 0, maxabs = 0, mean;
	struct bt_stats s, a, b;
	struct bt_stats_summary r;
	unsigned long x = 88172645463325252UL;
	size_t i;

	for (i = 0; i < N; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		e[i] = 1e3 + ((double)(x >> 11) / 9007199254740992.0 - 0.5) * 0.0372;
	}
	for (i = 0; i < N; i++) {
		sum += e[i];
		sumabs += fabs(e[i]);
		if (fabs(e[i]) > maxabs)
			maxabs = fabs(e[i]);
	}
	mean = sum / N;
	for (i = 0; i < N; i++)
		sumsq += e[i] * e[i];

	bt_stats_init(&s);
	for (i = 0; i < N; i++)
		bt_stats_add(&s, e[i]);
	bt_stats_add(&s, NAN);
	bt_stats_add(&s, INFINITY);
	r = bt_stats_summary(&s);
	CHECK(r.n == N, "count");
	CHECK(s.nonfinite == 2, "non-finite errors counted apart");
	CHECK(close_to(r.bias, mean, 1e-13), "bias");
	CHECK(close_to(r.mae, sumabs / N, 1e-13), "mae");
	CHECK(close_to(r.rmse, sqrt(sumsq / N), 1e-13), "rmse");
	CHECK(r.max_abs == maxabs, "max_abs");

	/* Merging two halves gives the whole. */
	bt_stats_init(&a);
	bt_stats_init(&b);
	for (i = 0; i < N; i++)
		bt_stats_add(i < 3001 ? &a : &b, e[i]);
	bt_stats_merge(&a, &b);
	r = bt_stats_summary(&a);
	CHECK(r.n == N && close_to(r.rmse, sqrt(sumsq / N), 1e-13)
	      && close_to(r.bias, mean, 1e-13) && r.max_abs == maxabs, "merge");

	/* Known small case: errors -0.3, 0.1, 0.5. */
	bt_stats_init(&s);
	bt_stats_add(&s, -0.3);
	bt_stats_add(&s, 0.1);
	bt_stats_add(&s, 0.5);
	r = bt_stats_summary(&s);
	CHECK(close_to(r.bias, 0.1, 1e-15), "small bias");
	CHECK(close_to(r.mae, 0.3, 1e-15), "small mae");
	CHECK(close_to(r.rmse, sqrt(0.35 / 3), 1e-15), "small rmse");
	CHECK(r.max_abs == 0.5, "small max");

	bt_stats_init(&s);
	r = bt_stats_summary(&s);
	CHECK(r.n == 0 && isnan(r.rmse) && isnan(r.mae) && isnan(r.bias)
	      && isnan(r.max_abs), "empty gives NaN");

	{
		/* medians, as numpy.median: the middle value, or the mean of
		 * the two middle values */
		double odd[5] = {3.7182, -1.25, 9.9, 0.5, 2.0001};
		double even[4] = {4.25, -0.125, 1.5, 1.0};

		CHECK_NEAR(bt_stats_median(odd, 5), 2.0001, 0, "odd median");
		CHECK_NEAR(bt_stats_median(even, 4), 1.25, 0, "even median");
		CHECK_NEAR(bt_stats_median(even, 1), -0.125, 0, "one value (sorted)");
	}
	return check_report();
}
