/* bt_ica.c - voltage-binned dQ/dV and dV/dQ with Gaussian smoothing and
 * peak features (see bt_ica.h). */
#include <config.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bt_ica.h"

/* Seconds per hour, for A s -> Ah. */
#define S_PER_H 3600.0

/* One direction's histogram: bins base .. base + n - 1 of width bin_v
 * (bin b covers [b bin_v, (b + 1) bin_v)), inside an array of size cap. */
struct hist {
	double *q;		/* Ah per bin */
	long base;
	size_t n, cap;
	struct bt_ica_point *pts;
	size_t npts, ptcap;
	struct bt_ica_peak *peaks;
	size_t npeaks, peakcap;
	double *smooth;		/* smoothed Ah per bin, npts of them */
};

struct bt_ica {
	struct bt_ica_opts o;
	struct hist h[2];
	double *kernel;
	size_t khalf;
	int have_prev;
	double tp, ip, vp;
};

void
bt_ica_opts_init(struct bt_ica_opts *opts)
{
	opts->bin_v = BT_ICA_DEFAULT_BIN_V;
	opts->smooth_v = BT_ICA_DEFAULT_SMOOTH_V;
	opts->rest_a = BT_ICA_DEFAULT_REST_A;
	opts->prominence = BT_ICA_DEFAULT_PROMINENCE;
}

enum bt_status
bt_ica_alloc(struct bt_ica **icap, const struct bt_ica_opts *opts)
{
	struct bt_ica *ica;
	double sd, sum = 0;
	size_t k;

	*icap = NULL;
	if (!(opts->bin_v > 0 && isfinite(opts->bin_v)) || !(opts->smooth_v >= 0)
	    || !isfinite(opts->smooth_v) || !(opts->rest_a >= 0)
	    || !(opts->prominence >= 0 && opts->prominence <= 1))
		return BT_EINVAL;
	sd = opts->smooth_v / opts->bin_v;
	if (sd * BT_ICA_KERNEL_SDS > BT_ICA_MAX_BINS)
		return BT_EINVAL;
	if ((ica = calloc(1, sizeof *ica)) == NULL)
		return BT_ENOMEM;
	ica->o = *opts;
	ica->khalf = (size_t)ceil(sd * BT_ICA_KERNEL_SDS);
	if ((ica->kernel = malloc((ica->khalf + 1) * sizeof *ica->kernel)) == NULL) {
		free(ica);
		return BT_ENOMEM;
	}
	for (k = 0; k <= ica->khalf; k++) {
		ica->kernel[k] = sd > 0 ? exp(-0.5 * (k / sd) * (k / sd)) : 1;
		sum += (k ? 2 : 1) * ica->kernel[k];
	}
	for (k = 0; k <= ica->khalf; k++)
		ica->kernel[k] /= sum;
	*icap = ica;
	return BT_OK;
}

void
bt_ica_free(struct bt_ica *ica)
{
	int d;

	if (ica == NULL)
		return;
	for (d = 0; d < 2; d++) {
		free(ica->h[d].q);
		free(ica->h[d].pts);
		free(ica->h[d].peaks);
		free(ica->h[d].smooth);
	}
	free(ica->kernel);
	free(ica);
}

void
bt_ica_reset(struct bt_ica *ica)
{
	int d;

	for (d = 0; d < 2; d++)
		ica->h[d].n = 0;
	ica->have_prev = 0;
}

/* Make bins LO..HI part of H, growing its array when needed. */
static enum bt_status
cover(struct hist *h, long lo, long hi)
{
	long nlo, nhi;
	size_t need, cap;
	double *q;

	if (h->n == 0) {
		nlo = lo;
		nhi = hi;
	} else {
		nlo = lo < h->base ? lo : h->base;
		nhi = hi > h->base + (long)h->n - 1 ? hi : h->base + (long)h->n - 1;
	}
	if ((unsigned long)(nhi - nlo) >= BT_ICA_MAX_BINS)
		return BT_ERANGE;
	need = (size_t)(nhi - nlo + 1);
	if (need > h->cap) {
		cap = h->cap ? h->cap : 256;
		while (cap < need)
			cap *= 2;
		if ((q = realloc(h->q, cap * sizeof *q)) == NULL)
			return BT_ENOMEM;
		h->q = q;
		h->cap = cap;
	}
	if (h->n == 0) {
		memset(h->q, 0, need * sizeof *h->q);
	} else {
		if (nlo < h->base) {
			memmove(h->q + (h->base - nlo), h->q, h->n * sizeof *h->q);
			memset(h->q, 0, (size_t)(h->base - nlo) * sizeof *h->q);
		}
		memset(h->q + (h->base - nlo) + h->n, 0,
		       (need - (size_t)(h->base - nlo) - h->n) * sizeof *h->q);
	}
	h->base = nlo;
	h->n = need;
	return BT_OK;
}

/* Spread DQ Ah over the voltages from V0 to V1 in H. */
static enum bt_status
spread(struct hist *h, double bin, double v0, double v1, double dq)
{
	double lo = v0 < v1 ? v0 : v1, hi = v0 < v1 ? v1 : v0, a, b;
	long blo = (long)floor(lo / bin), bhi = (long)floor(hi / bin), k;
	enum bt_status st;

	if ((st = cover(h, blo, bhi)) != BT_OK)
		return st;
	if (blo == bhi) {
		h->q[blo - h->base] += dq;
		return BT_OK;
	}
	for (k = blo; k <= bhi; k++) {
		a = k * bin > lo ? k * bin : lo;
		b = (k + 1) * bin < hi ? (k + 1) * bin : hi;
		if (b > a)
			h->q[k - h->base] += dq * (b - a) / (hi - lo);
	}
	return BT_OK;
}

static int
direction(const struct bt_ica *ica, double i)
{
	if (i > 0 && i >= ica->o.rest_a)
		return 1;
	if (i < 0 && -i >= ica->o.rest_a)
		return -1;
	return 0;
}

enum bt_status
bt_ica_add(struct bt_ica *ica, double time_s, double current_a, double voltage_v)
{
	int d = direction(ica, current_a);
	enum bt_status st;
	double dq;

	if (ica->have_prev) {
		if (time_s < ica->tp)
			return BT_ETIME;
		if (d != 0 && d == direction(ica, ica->ip)) {
			/* trapezoid of |I| dt, as bt_cycle integrates */
			dq = 0.5 * fabs(ica->ip + current_a) * (time_s - ica->tp) / S_PER_H;
			st = spread(&ica->h[d > 0 ? BT_ICA_CHARGE : BT_ICA_DISCHARGE],
				    ica->o.bin_v, ica->vp, voltage_v, dq);
			if (st != BT_OK)
				return st;
		}
	}
	ica->have_prev = 1;
	ica->tp = time_s;
	ica->ip = current_a;
	ica->vp = voltage_v;
	return BT_OK;
}

static enum bt_status
reserve(void **p, size_t *cap, size_t n, size_t size)
{
	void *q;
	size_t c = *cap ? *cap : 256;

	if (n <= *cap)
		return BT_OK;
	while (c < n)
		c *= 2;
	if ((q = realloc(*p, c * size)) == NULL)
		return BT_ENOMEM;
	*p = q;
	*cap = c;
	return BT_OK;
}

enum bt_status
bt_ica_curve(struct bt_ica *ica, enum bt_ica_direction dir,
	     const struct bt_ica_point **points, size_t *n)
{
	struct hist *h = &ica->h[dir];
	double bin = ica->o.bin_v, s, total = 0, before = 0;
	size_t k, cap = h->ptcap, scap = h->ptcap;
	long j, m = (long)h->n, kh = (long)ica->khalf;

	*points = NULL;
	*n = 0;
	h->npts = 0;
	if (h->n == 0)
		return BT_OK;
	if (reserve((void **)&h->pts, &cap, h->n, sizeof *h->pts) != BT_OK
	    || reserve((void **)&h->smooth, &scap, h->n, sizeof *h->smooth) != BT_OK)
		return BT_ENOMEM;
	h->ptcap = cap < scap ? cap : scap;
	for (k = 0; k < h->n; k++)
		total += h->q[k];
	for (k = 0; k < h->n; k++) {
		/* Gaussian smoothing; outside the range seen the counts are 0 */
		for (s = 0, j = -kh; j <= kh; j++)
			if ((long)k + j >= 0 && (long)k + j < m)
				s += ica->kernel[labs(j)] * h->q[(long)k + j];
		h->smooth[k] = s;
		h->pts[k].voltage_v = (h->base + (long)k + 0.5) * bin;
		/* charge flows upwards in voltage on charge, downwards on
		 * discharge: what passed before the bin's centre */
		h->pts[k].capacity_ah = dir == BT_ICA_CHARGE
					? before + 0.5 * h->q[k]
					: total - before - 0.5 * h->q[k];
		before += h->q[k];
		h->pts[k].dqdv_ah_per_v = s / bin;
		h->pts[k].dvdq_v_per_ah = s > 0 ? bin / s : NAN;
	}
	h->npts = h->n;
	*points = h->pts;
	*n = h->npts;
	return BT_OK;
}

/* The index of the lowest value of Y[LO..HI]. */
static size_t
argmin(const double *y, size_t lo, size_t hi)
{
	size_t k, m = lo;

	for (k = lo; k <= hi; k++)
		if (y[k] < y[m])
			m = k;
	return m;
}

enum bt_status
bt_ica_peaks(struct bt_ica *ica, enum bt_ica_direction dir,
	     const struct bt_ica_peak **peaks, size_t *n)
{
	struct hist *h = &ica->h[dir];
	const double *y = h->smooth;
	double bin = ica->o.bin_v, top = 0, lmin, rmin, den, off, half, a, x;
	size_t m = h->npts, k, l, r, lv, rv, j, cap = h->peakcap;
	struct bt_ica_peak *p;

	*peaks = NULL;
	*n = 0;
	h->npeaks = 0;
	for (k = 0; k < m; k++)
		if (y[k] > top)
			top = y[k];
	if (m < 3 || top <= 0)
		return BT_OK;
	for (k = 1; k + 1 < m; k++) {
		if (!(y[k] > y[k - 1] && y[k] >= y[k + 1]))
			continue;
		/* prominence (scipy.signal.peak_prominences): the lowest
		 * point on each side before a higher value or the end */
		for (l = k; l > 0 && y[l - 1] <= y[k]; l--)
			;
		for (r = k; r + 1 < m && y[r + 1] <= y[k]; r++)
			;
		lv = argmin(y, l, k);
		rv = argmin(y, k, r);
		lmin = y[lv];
		rmin = y[rv];
		if (y[k] - (lmin > rmin ? lmin : rmin) < ica->o.prominence * top)
			continue;
		if (reserve((void **)&h->peaks, &cap, h->npeaks + 1, sizeof *h->peaks) != BT_OK)
			return BT_ENOMEM;
		h->peakcap = cap;
		p = &h->peaks[h->npeaks++];
		/* vertex of the parabola through the three top bins */
		den = y[k - 1] - 2 * y[k] + y[k + 1];
		off = den < 0 ? 0.5 * (y[k - 1] - y[k + 1]) / den : 0;
		p->voltage_v = h->pts[k].voltage_v + off * bin;
		p->height_ah_per_v = (y[k] - 0.25 * (y[k - 1] - y[k + 1]) * off) / bin;
		p->prominence_ah_per_v = (y[k] - (lmin > rmin ? lmin : rmin)) / bin;
		/* area: the nearest valleys, the lowest points between this
		 * peak and the next local maximum or the end on each side */
		for (l = k; l > 0 && y[l - 1] <= y[l]; l--)
			;
		for (r = k; r + 1 < m && y[r + 1] <= y[r]; r++)
			;
		for (a = 0, j = l; j <= r; j++)
			a += y[j];
		p->area_ah = a;
		/* width at half the height, interpolated between bins, or
		 * to the valley where the curve stays above half */
		half = 0.5 * y[k];
		for (j = k; j > l && y[j - 1] > half; j--)
			;
		x = j > l ? h->pts[j - 1].voltage_v
			    + bin * (half - y[j - 1]) / (y[j] - y[j - 1])
			  : h->pts[l].voltage_v;
		for (j = k; j < r && y[j + 1] > half; j++)
			;
		p->width_v = (j < r ? h->pts[j].voltage_v
				      + bin * (y[j] - half) / (y[j] - y[j + 1])
				    : h->pts[r].voltage_v) - x;
	}
	*peaks = h->peaks;
	*n = h->npeaks;
	return BT_OK;
}

const char *
bt_ica_direction_name(enum bt_ica_direction dir)
{
	return dir == BT_ICA_CHARGE ? "charge" : "discharge";
}

/* ---- output ------------------------------------------------------------ */

static const char *const curve_columns[] = {
	"cycle", "direction", "voltage_v", "capacity_ah", "dqdv_ah_per_v",
	"dvdq_v_per_ah"
};
static const char *const peak_columns[] = {
	"cycle", "direction", "peak", "voltage_v", "height_ah_per_v", "area_ah",
	"width_v"
};

void
bt_ica_write_names(struct bt_writer *w, const char *group, int peaks)
{
	if (group != NULL)
		bt_writer_text(w, group, strlen(group));
	if (peaks)
		bt_writer_names(w, peak_columns, sizeof peak_columns / sizeof *peak_columns);
	else
		bt_writer_names(w, curve_columns, sizeof curve_columns / sizeof *curve_columns);
}

static void
lead(struct bt_writer *w, const char *group, size_t glen, double cycle,
     enum bt_ica_direction dir)
{
	const char *name = bt_ica_direction_name(dir);

	if (group != NULL)
		bt_writer_text(w, group, glen);
	bt_writer_number(w, cycle);
	bt_writer_raw(w, name, strlen(name));
}

enum bt_status
bt_ica_write_cycle(struct bt_ica *ica, struct bt_writer *w, const char *group,
		   size_t glen, double cycle, int peaks)
{
	static const enum bt_ica_direction order[] = {BT_ICA_DISCHARGE, BT_ICA_CHARGE};
	const struct bt_ica_point *p;
	const struct bt_ica_peak *pk = NULL;
	size_t n, np = 0, k, d;
	enum bt_status st;

	for (d = 0; d < 2; d++) {
		if ((st = bt_ica_curve(ica, order[d], &p, &n)) != BT_OK)
			return st;
		if (peaks && (st = bt_ica_peaks(ica, order[d], &pk, &np)) != BT_OK)
			return st;
		for (k = 0; k < (peaks ? np : n); k++) {
			lead(w, group, glen, cycle, order[d]);
			if (peaks) {
				bt_writer_number(w, (double)(k + 1));
				bt_writer_number(w, pk[k].voltage_v);
				bt_writer_number(w, pk[k].height_ah_per_v);
				bt_writer_number(w, pk[k].area_ah);
				bt_writer_number(w, pk[k].width_v);
			} else {
				bt_writer_number(w, p[k].voltage_v);
				bt_writer_number(w, p[k].capacity_ah);
				bt_writer_number(w, p[k].dqdv_ah_per_v);
				bt_writer_number_or_empty(w, p[k].dvdq_v_per_ah);
			}
			if ((st = bt_writer_end_row(w)) != BT_OK)
				return st;
		}
	}
	bt_ica_reset(ica);
	return BT_OK;
}
