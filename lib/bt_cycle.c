/* bt_cycle.c - per-cycle accumulation and the state-of-health stage (see
 * bt_cycle.h).  Charge and energy are trapezoid integrals of I dt and V I dt
 * over consecutive samples; the DC resistance of a step from current I0
 * (voltage V0, the last sample before it) to I1 held d seconds is
 * R_d = (V(t1 + d) - V0) / (I(t1 + d) - I0), t1 the first sample carrying
 * I1 and V(t1 + d) interpolated linearly between the samples around it.
 * For an equivalent circuit with R0 and RC pairs (R_k, tau_k) and a flat
 * OCV this is R0 + sum_k R_k (1 - exp(-d / tau_k)) (Plett 2015, Battery
 * Management Systems vol. 1, eq. 2.11 for a step input), which the tests
 * check.
 */
#include <config.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bt_cycle.h"
#include "bt_num.h"
#include "bt_stats.h"

/* Seconds per hour, for A s -> Ah and W s -> Wh. */
#define S_PER_H 3600.0

/* A time-weighted mean with extremes over the samples where it is finite. */
struct wmean {
	double integral, span, sum, min, max;
	size_t n;
};

struct bt_cycle {
	struct bt_cycle_opts o;
	double cycle;
	size_t n;
	double t0, tp, ip, vp, tempp;	/* first and previous samples */
	double qd, qc, ed, ec;		/* A s and W s, signs as measured */
	double qcap, ecap;		/* discharge to the cutoff */
	int cut, had_discharge, had_charge;
	struct wmean v, temp;
	int seg;			/* direction of the last non-rest sample */
	int seen_start;			/* a start-direction segment this cycle */
	int linked;			/* the previous sample precedes this cycle */
	int step;			/* a step is being held */
	double st_t1, st_i0, st_v0, st_i1;
	double r[BT_CYCLE_MAX_DELAYS];
};

void
bt_cycle_opts_init(struct bt_cycle_opts *opts)
{
	memset(opts, 0, sizeof *opts);
	opts->cutoff_v = NAN;
	opts->rest_a = BT_CYCLE_DEFAULT_REST_A;
	opts->step_a = BT_CYCLE_DEFAULT_STEP_A;
	opts->hold = BT_CYCLE_DEFAULT_HOLD;
	opts->ndelays = 2;
	opts->delay_s[0] = BT_CYCLE_DEFAULT_DELAY1_S;
	opts->delay_s[1] = BT_CYCLE_DEFAULT_DELAY2_S;
}

enum bt_status
bt_cycle_alloc(struct bt_cycle **c, const struct bt_cycle_opts *opts)
{
	size_t j;

	*c = NULL;
	if (opts->ndelays > BT_CYCLE_MAX_DELAYS || !(opts->rest_a >= 0)
	    || !(opts->step_a > 0) || !(opts->hold >= 0) || isinf(opts->cutoff_v))
		return BT_EINVAL;
	for (j = 0; j < opts->ndelays; j++)
		if (!isfinite(opts->delay_s[j]) || opts->delay_s[j] < 0)
			return BT_EINVAL;
	if ((*c = calloc(1, sizeof **c)) == NULL)
		return BT_ENOMEM;
	(*c)->o = *opts;
	bt_cycle_begin(*c, 1, 0);
	return BT_OK;
}

void
bt_cycle_free(struct bt_cycle *c)
{
	free(c);
}

static void
wmean_reset(struct wmean *m)
{
	memset(m, 0, sizeof *m);
	m->min = INFINITY;
	m->max = -INFINITY;
}

void
bt_cycle_begin(struct bt_cycle *c, double cycle, int linked)
{
	size_t j;

	c->linked = linked && c->n > 0;
	c->cycle = cycle;
	c->n = 0;
	c->qd = c->qc = c->ed = c->ec = c->qcap = c->ecap = 0;
	c->cut = c->had_discharge = c->had_charge = 0;
	wmean_reset(&c->v);
	wmean_reset(&c->temp);
	c->seen_start = 0;
	c->step = 0;
	for (j = 0; j < BT_CYCLE_MAX_DELAYS; j++)
		c->r[j] = NAN;
}

static int
direction(const struct bt_cycle *c, double current_a)
{
	if (current_a <= -c->o.rest_a && current_a < 0)
		return -1;
	if (current_a >= c->o.rest_a && current_a > 0)
		return 1;
	return 0;
}

int
bt_cycle_starts(const struct bt_cycle *c, double current_a)
{
	int d = c->o.start_on_charge ? 1 : -1;

	return c->n > 0 && c->seen_start && c->seg != d
	       && direction(c, current_a) == d;
}

/* Take value X over the interval from the previous sample's XP, DT long. */
static void
wmean_add(struct wmean *m, double xp, double x, double dt, int first)
{
	if (!isfinite(x))
		return;
	m->sum += x;
	m->n++;
	if (x < m->min)
		m->min = x;
	if (x > m->max)
		m->max = x;
	if (!first && isfinite(xp)) {
		m->integral += 0.5 * (xp + x) * dt;
		m->span += dt;
	}
}

static double
wmean_mean(const struct wmean *m)
{
	if (m->n == 0)
		return NAN;
	return m->span > 0 ? m->integral / m->span : m->sum / (double)m->n;
}

static double
neg(double x)
{
	return x < 0 ? x : 0;
}

static double
pos(double x)
{
	return x > 0 ? x : 0;
}

/* Follow the current step under way, measuring the resistances whose delay
 * has passed at the sample (T, I, V); start a new step at this sample when
 * the current jumps. */
static void
track_step(struct bt_cycle *c, double t, double i, double v)
{
	size_t j, open = 0;
	double td, f, vd, id;

	if (c->step && fabs(i - c->st_i1) > c->o.hold * fabs(c->st_i1 - c->st_i0))
		c->step = 0;
	for (j = 0; j < c->o.ndelays; j++)
		open += isnan(c->r[j]);
	if (!c->step && open > 0 && fabs(i - c->ip) >= c->o.step_a) {
		c->step = 1;
		c->st_t1 = t;
		c->st_i0 = c->ip;
		c->st_v0 = c->vp;
		c->st_i1 = i;
	}
	if (!c->step)
		return;
	for (j = 0; j < c->o.ndelays; j++) {
		td = c->st_t1 + c->o.delay_s[j];
		if (!isnan(c->r[j]) || t < td)
			continue;
		f = t > c->tp && td > c->tp ? (td - c->tp) / (t - c->tp) : 1;
		vd = c->vp + f * (v - c->vp);
		id = c->ip + f * (i - c->ip);
		if (t == c->st_t1) {
			vd = v;
			id = i;
		}
		c->r[j] = (vd - c->st_v0) / (id - c->st_i0);
		open--;
	}
	if (open == 0)
		c->step = 0;
}

enum bt_status
bt_cycle_add(struct bt_cycle *c, double time_s, double current_a,
	     double voltage_v, double temperature_c)
{
	int first = c->n == 0, d = direction(c, current_a);
	int start = c->o.start_on_charge ? 1 : -1;
	double dt = 0;

	if (!first) {
		if (time_s < c->tp)
			return BT_ETIME;
		dt = time_s - c->tp;
		c->qd += 0.5 * (neg(c->ip) + neg(current_a)) * dt;
		c->qc += 0.5 * (pos(c->ip) + pos(current_a)) * dt;
		c->ed += 0.5 * (neg(c->ip * c->vp) + neg(current_a * voltage_v)) * dt;
		c->ec += 0.5 * (pos(c->ip * c->vp) + pos(current_a * voltage_v)) * dt;
		if (!c->cut) {
			c->qcap += 0.5 * (neg(c->ip) + neg(current_a)) * dt;
			c->ecap += 0.5 * (neg(c->ip * c->vp)
					  + neg(current_a * voltage_v)) * dt;
		}
		track_step(c, time_s, current_a, voltage_v);
	} else {
		if (c->linked && time_s >= c->tp)
			track_step(c, time_s, current_a, voltage_v);
		c->t0 = time_s;
	}
	/* NASA's capacity stops at the first sample below the cutoff, the
	 * interval that crosses it included (see the dataset's SOURCE.md). */
	if (current_a < 0 && voltage_v < c->o.cutoff_v)
		c->cut = 1;
	wmean_add(&c->v, c->vp, voltage_v, dt, first);
	wmean_add(&c->temp, c->tempp, temperature_c, dt, first);
	if (d < 0)
		c->had_discharge = 1;
	if (d > 0)
		c->had_charge = 1;
	if (d != 0) {
		if (d == start)
			c->seen_start = 1;
		c->seg = d;
	}
	c->tp = time_s;
	c->ip = current_a;
	c->vp = voltage_v;
	c->tempp = temperature_c;
	c->n++;
	return BT_OK;
}

size_t
bt_cycle_samples(const struct bt_cycle *c)
{
	return c->n;
}

void
bt_cycle_result(const struct bt_cycle *c, struct bt_cycle_result *r)
{
	size_t j;

	memset(r, 0, sizeof *r);
	r->cycle = c->cycle;
	r->samples = c->n;
	r->start_time_s = c->n ? c->t0 : NAN;
	r->duration_s = c->n ? c->tp - c->t0 : NAN;
	r->discharge_ah = c->had_discharge ? -c->qd / S_PER_H : NAN;
	r->discharge_wh = c->had_discharge ? -c->ed / S_PER_H : NAN;
	r->capacity_ah = c->had_discharge ? -c->qcap / S_PER_H : NAN;
	r->energy_wh = c->had_discharge ? -c->ecap / S_PER_H : NAN;
	r->charge_ah = c->had_charge ? c->qc / S_PER_H : NAN;
	r->charge_wh = c->had_charge ? c->ec / S_PER_H : NAN;
	r->coulombic_efficiency = c->had_charge && c->had_discharge && c->qc > 0
				  ? -c->qd / c->qc : NAN;
	r->voltage_mean_v = wmean_mean(&c->v);
	r->voltage_min_v = c->v.n ? c->v.min : NAN;
	r->voltage_max_v = c->v.n ? c->v.max : NAN;
	r->temperature_mean_c = wmean_mean(&c->temp);
	r->temperature_min_c = c->temp.n ? c->temp.min : NAN;
	r->temperature_max_c = c->temp.n ? c->temp.max : NAN;
	for (j = 0; j < BT_CYCLE_MAX_DELAYS; j++)
		r->r_dc_ohm[j] = j < c->o.ndelays ? c->r[j] : NAN;
}

/* ---- state of health --------------------------------------------------- */

struct bt_cycle_health {
	struct bt_cycle_health_opts o;
	struct bt_cycle_result *ring;
	size_t cap;
	size_t n_in, n_out;	/* cycles pushed and popped for this cell */
	int finished;
	double ref;		/* NaN until known */
	int ref_known;
	double *work, *dev;	/* max(reference_cycles, window) each */
};

void
bt_cycle_health_opts_init(struct bt_cycle_health_opts *opts)
{
	opts->reference_ah = NAN;
	opts->reference_cycles = BT_CYCLE_DEFAULT_REFERENCE_CYCLES;
	opts->hampel_half = BT_CYCLE_DEFAULT_HAMPEL_HALF;
	opts->hampel_threshold = BT_CYCLE_DEFAULT_HAMPEL_THRESHOLD;
}

static void
health_reset(struct bt_cycle_health *h)
{
	h->n_in = h->n_out = 0;
	h->finished = 0;
	h->ref = h->o.reference_ah;
	h->ref_known = isfinite(h->o.reference_ah);
}

enum bt_status
bt_cycle_health_alloc(struct bt_cycle_health **hp,
		      const struct bt_cycle_health_opts *opts)
{
	struct bt_cycle_health *h;
	size_t window, nwork;

	*hp = NULL;
	if (opts->reference_cycles < 1 || opts->hampel_half > 100000
	    || opts->reference_cycles > 1000000 || !(opts->hampel_threshold >= 0)
	    || (!isnan(opts->reference_ah) && !(opts->reference_ah > 0
						&& isfinite(opts->reference_ah))))
		return BT_EINVAL;
	window = 2 * opts->hampel_half + 1;
	nwork = window > opts->reference_cycles ? window : opts->reference_cycles;
	if ((h = calloc(1, sizeof *h)) == NULL)
		return BT_ENOMEM;
	h->o = *opts;
	/* Held at a push: up to max(N, window) cycles not yet out, and the
	 * 2 * half before the oldest of them that its window looks back on. */
	h->cap = nwork + 2 * window + 2;
	h->ring = malloc(h->cap * sizeof *h->ring);
	h->work = malloc(nwork * sizeof *h->work);
	h->dev = malloc(nwork * sizeof *h->dev);
	if (h->ring == NULL || h->work == NULL || h->dev == NULL) {
		bt_cycle_health_free(h);
		return BT_ENOMEM;
	}
	health_reset(h);
	*hp = h;
	return BT_OK;
}

void
bt_cycle_health_free(struct bt_cycle_health *h)
{
	if (h == NULL)
		return;
	free(h->ring);
	free(h->work);
	free(h->dev);
	free(h);
}

enum bt_status
bt_cycle_health_push(struct bt_cycle_health *h, const struct bt_cycle_result *r)
{
	h->ring[h->n_in % h->cap] = *r;
	h->n_in++;
	return BT_OK;
}

void
bt_cycle_health_finish(struct bt_cycle_health *h)
{
	h->finished = 1;
}

/* Gather the finite capacities of cycles LO..HI into WORK; returns how many. */
static size_t
gather(const struct bt_cycle_health *h, size_t lo, size_t hi, double *work)
{
	size_t k, m = 0;
	double q;

	for (k = lo; k <= hi; k++) {
		q = h->ring[k % h->cap].capacity_ah;
		if (isfinite(q))
			work[m++] = q;
	}
	return m;
}

static int
hampel_flag(struct bt_cycle_health *h, size_t k)
{
	size_t half = h->o.hampel_half, w = 2 * half, lo, hi, m, j;
	double q = h->ring[k % h->cap].capacity_ah, med, mad;

	if (!isfinite(q))
		return -1;
	if (half == 0)
		return 0;
	lo = k > half ? k - half : 0;
	if (h->n_in - 1 < lo + w)
		lo = h->n_in - 1 > w ? h->n_in - 1 - w : 0;
	hi = lo + w < h->n_in - 1 ? lo + w : h->n_in - 1;
	m = gather(h, lo, hi, h->work);
	med = bt_stats_median(h->work, m);
	for (j = 0; j < m; j++)
		h->dev[j] = fabs(h->work[j] - med);
	mad = BT_CYCLE_MAD_NORMAL * bt_stats_median(h->dev, m);
	if (mad < BT_CYCLE_HAMPEL_MIN_REL_SCALE * fabs(med))
		mad = BT_CYCLE_HAMPEL_MIN_REL_SCALE * fabs(med);
	return fabs(q - med) > h->o.hampel_threshold * mad;
}

enum bt_status
bt_cycle_health_pop(struct bt_cycle_health *h, struct bt_cycle_health_row *row)
{
	size_t k = h->n_out, need, n;
	double q;

	if (k == h->n_in) {
		if (h->finished)
			health_reset(h);
		return BT_EOF;
	}
	if (!h->ref_known) {
		if (h->n_in < h->o.reference_cycles && !h->finished)
			return BT_EOF;
		n = h->n_in < h->o.reference_cycles ? h->n_in : h->o.reference_cycles;
		n = gather(h, 0, n - 1, h->work);
		h->ref = n > 0 ? bt_stats_median(h->work, n) : NAN;
		h->ref_known = 1;
	}
	need = k + h->o.hampel_half > 2 * h->o.hampel_half
	       ? k + h->o.hampel_half : 2 * h->o.hampel_half;
	if (!h->finished && h->n_in <= need)
		return BT_EOF;
	row->result = h->ring[k % h->cap];
	q = row->result.capacity_ah;
	row->reference_ah = h->ref;
	row->soh = q / h->ref;
	row->flag = hampel_flag(h, k);
	h->n_out++;
	return BT_OK;
}

/* ---- reading a stream cycle by cycle ---------------------------------- */

struct bt_cycle_iter {
	struct bt_reader *r;
	struct bt_cycle *acc;
	size_t tcol, icol, vcol;
	long temp_col, cyc_col, group_col;
	struct bt_cycle_sample s;
	double k, kprev;	/* the pending row's cycle, the current one's */
	char *name;		/* the current cell */
	size_t len, size;
	unsigned long rows;
	int pend_row, pend_cycle, pend_cell, fresh, linked, done;
	int history;		/* a per-cycle table: capacity in qcol */
	size_t qcol;
	double q;
};

enum bt_status
bt_cycle_iter_alloc(struct bt_cycle_iter **itp, struct bt_reader *r,
		    const char *group, const struct bt_cycle_opts *opts)
{
	struct bt_cycle_iter *it;
	size_t g;
	enum bt_status st;

	*itp = NULL;
	if ((it = calloc(1, sizeof *it)) == NULL)
		return BT_ENOMEM;
	it->r = r;
	it->group_col = -1;
	if ((st = bt_reader_require(r, "time_s", &it->tcol)) != BT_OK
	    || (st = bt_reader_require(r, "current_a", &it->icol)) != BT_OK
	    || (st = bt_reader_require(r, "voltage_v", &it->vcol)) != BT_OK
	    || (group != NULL && (st = bt_reader_require(r, group, &g)) != BT_OK)
	    || (st = bt_cycle_alloc(&it->acc, opts)) != BT_OK) {
		free(it);
		return st;
	}
	if (group != NULL)
		it->group_col = (long)g;
	it->temp_col = bt_reader_find(r, "temperature_c");
	it->cyc_col = bt_reader_find(r, "cycle");
	it->kprev = NAN;
	*itp = it;
	return BT_OK;
}

enum bt_status
bt_cycle_iter_alloc_history(struct bt_cycle_iter **itp, struct bt_reader *r,
			    const char *group, const char *capacity)
{
	static const char *const names[] = {"capacity_ah", "discharge_capacity_ah"};
	struct bt_cycle_iter *it;
	struct bt_cycle_opts o;
	size_t g, k;
	long found = -1;
	enum bt_status st;

	*itp = NULL;
	for (k = 0; capacity == NULL && found < 0 && k < 2; k++)
		found = bt_reader_find(r, names[k]);
	bt_cycle_opts_init(&o);
	if ((it = calloc(1, sizeof *it)) == NULL)
		return BT_ENOMEM;
	it->r = r;
	it->history = 1;
	it->qcol = (size_t)found;
	it->group_col = -1;
	it->cyc_col = -1;
	if ((st = bt_reader_require(r, "cycle", &it->tcol)) != BT_OK
	    || (found < 0 && (st = bt_reader_require(r, capacity ? capacity : names[0],
						       &it->qcol)) != BT_OK)
	    || (group != NULL && (st = bt_reader_require(r, group, &g)) != BT_OK)
	    || (st = bt_cycle_alloc(&it->acc, &o)) != BT_OK) {
		free(it);
		return st;
	}
	if (group != NULL)
		it->group_col = (long)g;
	it->temp_col = -1;
	it->kprev = NAN;
	*itp = it;
	return BT_OK;
}

static int other_cell(const struct bt_cycle_iter *it);
static enum bt_status take_cell(struct bt_cycle_iter *it);

/* bt_cycle_iter_next for a per-cycle table: each row one cycle. */
static enum bt_status
next_history(struct bt_cycle_iter *it, enum bt_cycle_event *ev)
{
	enum bt_status st;

	if (it->pend_cell) {
		it->pend_cell = 0;
		*ev = BT_CYCLE_CELL_END;
		return BT_OK;
	}
	if (!it->pend_row) {
		if (it->done)
			return BT_EOF;
		if ((st = bt_reader_next(it->r)) == BT_EOF) {
			it->done = 1;
			if (it->rows == 0)
				return BT_EOF;
			*ev = BT_CYCLE_CELL_END;
			return BT_OK;
		}
		if (st != BT_OK
		    || (st = bt_reader_finite(it->r, it->tcol, &it->k)) != BT_OK
		    || (st = bt_reader_number(it->r, it->qcol, &it->q)) != BT_OK)
			return st;
		it->fresh = other_cell(it);
		it->pend_cell = it->fresh && it->rows > 0;
		it->pend_row = 1;
		if (it->pend_cell)
			return next_history(it, ev);
	}
	if (it->fresh && (st = take_cell(it)) != BT_OK)
		return st;
	it->kprev = it->k;
	it->rows++;
	it->pend_row = 0;
	*ev = BT_CYCLE_END;
	return BT_OK;
}

void
bt_cycle_iter_free(struct bt_cycle_iter *it)
{
	if (it == NULL)
		return;
	bt_cycle_free(it->acc);
	free(it->name);
	free(it);
}

int
bt_cycle_iter_has_temperature(const struct bt_cycle_iter *it)
{
	return it->temp_col >= 0;
}

/* Whether the current row belongs to another cell than the current one. */
static int
other_cell(const struct bt_cycle_iter *it)
{
	size_t len;
	const char *s;

	if (it->rows == 0)
		return 1;
	if (it->group_col < 0)
		return 0;
	s = bt_reader_text(it->r, (size_t)it->group_col, &len);
	return len != it->len || memcmp(s, it->name, len) != 0;
}

static enum bt_status
take_cell(struct bt_cycle_iter *it)
{
	size_t len = 0;
	const char *s = it->group_col < 0 ? ""
			: bt_reader_text(it->r, (size_t)it->group_col, &len);
	char *p;

	if (len + 1 > it->size) {
		if ((p = realloc(it->name, len + 1)) == NULL)
			return BT_ENOMEM;
		it->name = p;
		it->size = len + 1;
	}
	memcpy(it->name, s, len);
	it->len = len;
	return BT_OK;
}

/* Read the next row and decide what it ends. */
static enum bt_status
read_row(struct bt_cycle_iter *it)
{
	struct bt_reader *r = it->r;
	enum bt_status st;

	if ((st = bt_reader_next(r)) != BT_OK)
		return st;
	if ((st = bt_reader_finite(r, it->tcol, &it->s.time_s)) != BT_OK
	    || (st = bt_reader_finite(r, it->icol, &it->s.current_a)) != BT_OK
	    || (st = bt_reader_finite(r, it->vcol, &it->s.voltage_v)) != BT_OK)
		return st;
	it->s.temperature_c = NAN;
	if (it->temp_col >= 0
	    && (st = bt_reader_number(r, (size_t)it->temp_col, &it->s.temperature_c)) != BT_OK)
		return st;
	if (it->cyc_col >= 0
	    && (st = bt_reader_finite(r, (size_t)it->cyc_col, &it->k)) != BT_OK)
		return st;
	it->fresh = it->linked = 0;
	if (other_cell(it)) {
		it->pend_cycle = it->pend_cell = it->rows > 0;
		it->fresh = 2;
		if (it->cyc_col < 0)
			it->k = 1;
	} else if (it->cyc_col >= 0 ? it->k != it->kprev
		   : bt_cycle_starts(it->acc, it->s.current_a)) {
		it->pend_cycle = 1;
		it->fresh = 1;
		if (it->cyc_col < 0) {
			it->k = it->kprev + 1;
			it->linked = 1;
		}
	}
	it->pend_row = 1;
	return BT_OK;
}

enum bt_status
bt_cycle_iter_next(struct bt_cycle_iter *it, enum bt_cycle_event *ev)
{
	char a[BT_NUM_BUFSIZE], b[BT_NUM_BUFSIZE];
	enum bt_status st;

	if (it->history)
		return next_history(it, ev);
	if (!it->pend_row && !it->pend_cycle && !it->pend_cell) {
		if (it->done)
			return BT_EOF;
		st = read_row(it);
		if (st == BT_EOF) {
			it->done = 1;
			if (it->rows == 0)
				return BT_EOF;
			it->pend_cycle = it->pend_cell = 1;
		} else if (st != BT_OK) {
			return st;
		}
	}
	if (it->pend_cycle) {
		it->pend_cycle = 0;
		*ev = BT_CYCLE_END;
		return BT_OK;
	}
	if (it->pend_cell) {
		it->pend_cell = 0;
		*ev = BT_CYCLE_CELL_END;
		return BT_OK;
	}
	/* the pending row: its cycle begins (the reader still holds it) */
	if (it->fresh == 2 && (st = take_cell(it)) != BT_OK)
		return st;
	if (it->fresh)
		bt_cycle_begin(it->acc, it->k, it->linked);
	if (bt_cycle_add(it->acc, it->s.time_s, it->s.current_a, it->s.voltage_v,
			 it->s.temperature_c) != BT_OK) {
		bt_num_format(it->acc->tp, 0, a);
		bt_num_format(it->s.time_s, 0, b);
		return bt_reader_fail(it->r, BT_ETIME, "time goes backwards from %s "
				      "to %s in column 'time_s' within a cycle", a, b);
	}
	it->kprev = it->k;
	it->rows++;
	it->pend_row = 0;
	*ev = BT_CYCLE_SAMPLE;
	return BT_OK;
}

void
bt_cycle_iter_result(const struct bt_cycle_iter *it, struct bt_cycle_result *res)
{
	if (!it->history) {
		bt_cycle_result(it->acc, res);
		return;
	}
	memset(res, 0, sizeof *res);
	res->cycle = it->kprev;
	res->capacity_ah = it->q;
}

const struct bt_cycle_sample *
bt_cycle_iter_sample(const struct bt_cycle_iter *it)
{
	return &it->s;
}

double
bt_cycle_iter_number(const struct bt_cycle_iter *it)
{
	return it->kprev;
}

const char *
bt_cycle_iter_cell(const struct bt_cycle_iter *it, size_t *len)
{
	*len = it->len;
	return it->name != NULL ? it->name : "";
}

unsigned long
bt_cycle_iter_rows(const struct bt_cycle_iter *it)
{
	return it->rows;
}

/* ---- output ------------------------------------------------------------ */

static const char *const cycle_columns[] = {
	"cycle", "start_time_s", "duration_s", "samples", "capacity_ah",
	"energy_wh", "soh", "flag", "discharge_ah", "charge_ah", "discharge_wh",
	"charge_wh", "coulombic_efficiency", "voltage_mean_v", "voltage_min_v",
	"voltage_max_v", "temperature_mean_c", "temperature_min_c",
	"temperature_max_c"
};
static const char *const history_columns[] = {"cycle", "capacity_ah", "soh", "flag"};
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

void
bt_cycle_write_names(struct bt_writer *w, const char *group,
		     const struct bt_cycle_opts *opts, int history)
{
	char name[BT_NUM_BUFSIZE + 16], num[BT_NUM_BUFSIZE];
	size_t j;

	if (group != NULL)
		bt_writer_text(w, group, strlen(group));
	if (history) {
		bt_writer_names(w, history_columns, NELEM(history_columns));
		return;
	}
	bt_writer_names(w, cycle_columns, NELEM(cycle_columns));
	for (j = 0; j < opts->ndelays; j++) {
		bt_num_format(opts->delay_s[j], 0, num);
		snprintf(name, sizeof name, "r_dc_%ss_ohm", num);
		bt_writer_text(w, name, strlen(name));
	}
}

void
bt_cycle_write_row(struct bt_writer *w, const char *group, size_t glen,
		   const struct bt_cycle_health_row *row,
		   const struct bt_cycle_opts *opts, int history)
{
	const struct bt_cycle_result *c = &row->result;
	const double rest[] = {
		c->discharge_ah, c->charge_ah, c->discharge_wh, c->charge_wh,
		c->coulombic_efficiency, c->voltage_mean_v, c->voltage_min_v,
		c->voltage_max_v, c->temperature_mean_c, c->temperature_min_c,
		c->temperature_max_c
	};
	size_t j;

	if (group != NULL)
		bt_writer_text(w, group, glen);
	bt_writer_number(w, c->cycle);
	if (!history) {
		bt_writer_number_or_empty(w, c->start_time_s);
		bt_writer_number_or_empty(w, c->duration_s);
		bt_writer_number(w, (double)c->samples);
	}
	bt_writer_number_or_empty(w, c->capacity_ah);
	if (!history)
		bt_writer_number_or_empty(w, c->energy_wh);
	bt_writer_number_or_empty(w, row->soh);
	if (row->flag < 0)
		bt_writer_empty(w);
	else
		bt_writer_raw(w, row->flag ? "1" : "0", 1);
	if (history)
		return;
	for (j = 0; j < NELEM(rest); j++)
		bt_writer_number_or_empty(w, rest[j]);
	for (j = 0; j < opts->ndelays; j++)
		bt_writer_number_or_empty(w, c->r_dc_ohm[j]);
}
