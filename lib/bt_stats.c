/* bt_stats.c - error metrics accumulated in O(1) memory. */
#include <math.h>
#include <stdlib.h>

#include "bt_stats.h"

void
bt_stats_init(struct bt_stats *s)
{
	s->n = 0;
	s->nonfinite = 0;
	s->mean = 0;
	s->mean_abs = 0;
	s->mean_sq = 0;
	s->max_abs = 0;
}

void
bt_stats_add(struct bt_stats *s, double e)
{
	double a = fabs(e), k;

	if (!isfinite(e)) {
		s->nonfinite++;
		return;
	}
	s->n++;
	k = 1.0 / (double)s->n;
	s->mean += (e - s->mean) * k;
	s->mean_abs += (a - s->mean_abs) * k;
	s->mean_sq += (e * e - s->mean_sq) * k;
	if (a > s->max_abs)
		s->max_abs = a;
}

void
bt_stats_merge(struct bt_stats *a, const struct bt_stats *b)
{
	double wa, wb;
	size_t n = a->n + b->n;

	a->nonfinite += b->nonfinite;
	if (n == 0)
		return;
	wa = (double)a->n / (double)n;
	wb = (double)b->n / (double)n;
	a->mean = wa * a->mean + wb * b->mean;
	a->mean_abs = wa * a->mean_abs + wb * b->mean_abs;
	a->mean_sq = wa * a->mean_sq + wb * b->mean_sq;
	if (b->max_abs > a->max_abs)
		a->max_abs = b->max_abs;
	a->n = n;
}

struct bt_stats_summary
bt_stats_summary(const struct bt_stats *s)
{
	struct bt_stats_summary r;

	r.n = s->n;
	if (s->n == 0) {
		r.rmse = r.mae = r.max_abs = r.bias = NAN;
		return r;
	}
	r.rmse = sqrt(s->mean_sq);
	r.mae = s->mean_abs;
	r.max_abs = s->max_abs;
	r.bias = s->mean;
	return r;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double
bt_stats_median(double *x, size_t n)
{
	qsort(x, n, sizeof *x, cmp_double);
	return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}
