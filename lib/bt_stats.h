/* bt_stats.h - the error metrics every battools tool reports.
 *
 * An accumulator takes errors (estimate minus reference) one at a time in
 * O(1) memory and gives the count, bias (mean error), mean absolute error,
 * root mean square error and the largest absolute error.  Non-finite errors
 * are counted apart and left out of the metrics.  The running mean uses
 * Welford's update, so long streams lose no precision to cancellation
 * (Welford 1962, Technometrics 4(3) 419-420).
 */
#ifndef BT_STATS_H
#define BT_STATS_H

#include <stddef.h>

struct bt_stats {
	size_t n;		/* finite errors taken */
	size_t nonfinite;	/* NaN or infinite errors left out */
	double mean;		/* running mean of the errors */
	double mean_abs;	/* running mean of |error| */
	double mean_sq;		/* running mean of error^2 */
	double max_abs;		/* largest |error| */
};

/* The result of an accumulation: NaN for every metric when n is 0. */
struct bt_stats_summary {
	size_t n;
	double rmse, mae, max_abs, bias;
};

/* Start an empty accumulation. */
void bt_stats_init(struct bt_stats *s);

/* Take one error E (estimate minus reference). */
void bt_stats_add(struct bt_stats *s, double e);

/* Combine the accumulation B into A, as if A had taken B's errors too. */
void bt_stats_merge(struct bt_stats *a, const struct bt_stats *b);

/* Returns the metrics of what S has taken. */
struct bt_stats_summary bt_stats_summary(const struct bt_stats *s);

/* Returns the median of X[0..N-1] (N > 0), which it sorts: the mean of the
 * two middle values for even N, as numpy.median. */
double bt_stats_median(double *x, size_t n);

#endif /* BT_STATS_H */
