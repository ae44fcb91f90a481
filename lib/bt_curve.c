/* bt_curve.c - discharge curves resampled to a fixed length (see
 * bt_curve.h). */
#include <config.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bt_curve.h"
#include "bt_net.h"

static const char *const channel_names[BT_CURVE_MAX_CHANNELS] = {
	"voltage_v", "current_a", "temperature_c"
};

/* One collected sample: time, current, voltage, temperature. */
struct sample {
	double t, i, v, temp;
};

struct bt_curve {
	double rest_a, cutoff_v;
	unsigned channels;
	struct sample *s;
	size_t n, cap;
	int cut;
};

const char *
bt_curve_channel(unsigned i)
{
	return i < BT_CURVE_MAX_CHANNELS ? channel_names[i] : NULL;
}

enum bt_status
bt_curve_alloc(struct bt_curve **cp, double rest_a, double cutoff_v,
	       int temperature)
{
	struct bt_curve *c;

	*cp = NULL;
	if (!(rest_a >= 0) || isinf(cutoff_v))
		return BT_EINVAL;
	if ((c = calloc(1, sizeof *c)) == NULL)
		return BT_ENOMEM;
	c->rest_a = rest_a;
	c->cutoff_v = cutoff_v;
	c->channels = temperature ? 3 : 2;
	*cp = c;
	return BT_OK;
}

void
bt_curve_free(struct bt_curve *c)
{
	if (c == NULL)
		return;
	free(c->s);
	free(c);
}

unsigned
bt_curve_channels(const struct bt_curve *c)
{
	return c->channels;
}

void
bt_curve_reset(struct bt_curve *c)
{
	c->n = 0;
	c->cut = 0;
}

enum bt_status
bt_curve_add(struct bt_curve *c, double time_s, double current_a,
	     double voltage_v, double temperature_c)
{
	struct sample *s;
	size_t cap;

	if (c->cut || !(current_a < 0 && -current_a >= c->rest_a))
		return BT_OK;
	if (c->channels == 3 && !isfinite(temperature_c))
		return BT_ENONFINITE;
	if (c->n == c->cap) {
		cap = c->cap ? 2 * c->cap : 1024;
		if ((s = realloc(c->s, cap * sizeof *s)) == NULL)
			return BT_ENOMEM;
		c->s = s;
		c->cap = cap;
	}
	c->s[c->n].t = time_s;
	c->s[c->n].i = current_a;
	c->s[c->n].v = voltage_v;
	c->s[c->n].temp = temperature_c;
	c->n++;
	/* the sample below the cutoff is the last, as for capacity_ah */
	if (voltage_v < c->cutoff_v)
		c->cut = 1;
	return BT_OK;
}

enum bt_status
bt_curve_resample(const struct bt_curve *c, size_t points, double step_s,
		  double *x)
{
	double t0, t, f;
	const struct sample *a, *b;
	size_t k, j = 0;
	unsigned ch = c->channels;

	if (c->n < BT_CURVE_MIN_SAMPLES || points < 2 || !(step_s > 0))
		return BT_EEMPTY;
	t0 = c->s[0].t;
	if (!(c->s[c->n - 1].t > t0))
		return BT_EEMPTY;
	for (k = 0; k < points; k++) {
		t = t0 + step_s * (double)k;
		while (j + 2 < c->n && c->s[j + 1].t <= t)
			j++;
		a = &c->s[j];
		b = &c->s[j + 1];
		if (t > b->t) {
			/* after the discharge: the cell at rest where it ended */
			x[k * ch] = b->v;
			x[k * ch + 1] = 0;
			if (ch == 3)
				x[k * ch + 2] = b->temp;
			continue;
		}
		f = b->t > a->t ? (t - a->t) / (b->t - a->t) : 1;
		x[k * ch] = a->v + f * (b->v - a->v);
		x[k * ch + 1] = a->i + f * (b->i - a->i);
		if (ch == 3)
			x[k * ch + 2] = a->temp + f * (b->temp - a->temp);
	}
	return BT_OK;
}

/* ---- training sets and ensembles --------------------------------------- */

struct bt_curve_set {
	unsigned channels;
	size_t points;
	struct bt_net_data *data;
	double *q;		/* a ring of queued curves, POINTS x CHANNELS each */
	unsigned char *has;	/* whether each queued cycle has a curve */
	size_t head, count, cap;
};

enum bt_status
bt_curve_set_alloc(struct bt_curve_set **sp, unsigned channels, size_t points)
{
	struct bt_curve_set *s;
	const char *names[BT_CURVE_MAX_CHANNELS];
	unsigned i;
	enum bt_status st;

	*sp = NULL;
	if (channels < 1 || channels > BT_CURVE_MAX_CHANNELS || points < 2)
		return BT_EINVAL;
	if ((s = calloc(1, sizeof *s)) == NULL)
		return BT_ENOMEM;
	for (i = 0; i < channels; i++)
		names[i] = channel_names[i];
	if ((st = bt_net_data_alloc(&s->data, names, channels, BT_CURVE_TARGET)) != BT_OK) {
		free(s);
		return st;
	}
	s->channels = channels;
	s->points = points;
	*sp = s;
	return BT_OK;
}

void
bt_curve_set_free(struct bt_curve_set *s)
{
	if (s == NULL)
		return;
	bt_net_data_free(s->data);
	free(s->q);
	free(s->has);
	free(s);
}

enum bt_status
bt_curve_set_push(struct bt_curve_set *s, const double *x)
{
	size_t row = s->points * s->channels, cap, k, j;
	double *q;
	unsigned char *has;

	if (s->count == s->cap) {
		cap = s->cap ? 2 * s->cap : 16;
		q = malloc(cap * row * sizeof *q);
		has = malloc(cap);
		if (q == NULL || has == NULL) {
			free(q);
			free(has);
			return BT_ENOMEM;
		}
		for (k = 0; k < s->count; k++) {
			j = (s->head + k) % s->cap;
			memcpy(q + k * row, s->q + j * row, row * sizeof *q);
			has[k] = s->has[j];
		}
		free(s->q);
		free(s->has);
		s->q = q;
		s->has = has;
		s->head = 0;
		s->cap = cap;
	}
	k = (s->head + s->count) % s->cap;
	s->has[k] = x != NULL;
	if (x != NULL)
		memcpy(s->q + k * row, x, row * sizeof *x);
	s->count++;
	return BT_OK;
}

enum bt_status
bt_curve_set_target(struct bt_curve_set *s, double soh)
{
	size_t k, j;
	const double *x;
	enum bt_status st;

	if (s->count == 0)
		return BT_EINVAL;
	k = s->head;
	s->head = (s->head + 1) % s->cap;
	s->count--;
	if (!s->has[k] || !isfinite(soh))
		return BT_OK;
	x = s->q + k * s->points * s->channels;
	for (j = 0; j < s->points; j++)
		if ((st = bt_net_data_add(s->data, x + j * s->channels, soh, NAN)) != BT_OK)
			return st;
	bt_net_data_end_series(s->data);
	return BT_OK;
}

const struct bt_net_data *
bt_curve_set_data(const struct bt_curve_set *s)
{
	return s->data;
}

enum bt_status
bt_curve_check_net(const struct bt_net *net, unsigned channels)
{
	const struct bt_net_arch *a = bt_net_arch(net);
	unsigned i;

	if (a->channels != channels || !(bt_net_sample_period(net) > 0)
	    || strcmp(bt_net_target(net), BT_CURVE_TARGET) != 0)
		return BT_EINVAL;
	for (i = 0; i < channels; i++)
		if (strcmp(bt_net_channel(net, i), channel_names[i]) != 0)
			return BT_EINVAL;
	return BT_OK;
}

struct bt_curve_ensemble {
	size_t n;
	struct bt_net_batch **b;
};

enum bt_status
bt_curve_ensemble_alloc(struct bt_curve_ensemble **ep, struct bt_net *const *nets,
			size_t n)
{
	struct bt_curve_ensemble *e;
	size_t k;

	*ep = NULL;
	if ((e = calloc(1, sizeof *e)) == NULL
	    || (e->b = calloc(n ? n : 1, sizeof *e->b)) == NULL) {
		free(e);
		return BT_ENOMEM;
	}
	e->n = n;
	for (k = 0; k < n; k++)
		if (bt_net_batch_alloc(nets[k], 1, &e->b[k]) != BT_OK) {
			bt_curve_ensemble_free(e);
			return BT_ENOMEM;
		}
	*ep = e;
	return BT_OK;
}

void
bt_curve_ensemble_free(struct bt_curve_ensemble *e)
{
	size_t k;

	if (e == NULL)
		return;
	for (k = 0; k < e->n; k++)
		bt_net_batch_free(e->b[k]);
	free(e->b);
	free(e);
}

enum bt_status
bt_curve_ensemble_predict(struct bt_curve_ensemble *e, const double *x,
			  double *mean, double *sd)
{
	double y, m = 0, m2 = 0, d;
	size_t k;
	enum bt_status st;

	if (e->n == 0)
		return BT_EINVAL;
	/* Welford's running mean and variance (Technometrics 4 (1962) 419) */
	for (k = 0; k < e->n; k++) {
		if ((st = bt_net_batch_forward(e->b[k], x, 1, &y)) != BT_OK)
			return st;
		d = y - m;
		m += d / (double)(k + 1);
		m2 += d * (y - m);
	}
	*mean = m;
	*sd = e->n > 1 ? sqrt(m2 / (double)(e->n - 1)) : NAN;
	return BT_OK;
}

static const char *const predict_columns[] = {
	"cycle", "soh", "soh_sd", "soh_lo", "soh_hi"
};

void
bt_curve_write_names(struct bt_writer *w, const char *group)
{
	if (group != NULL)
		bt_writer_text(w, group, strlen(group));
	bt_writer_names(w, predict_columns, sizeof predict_columns / sizeof *predict_columns);
}

void
bt_curve_write_prediction(struct bt_writer *w, const char *group, size_t glen,
			  double cycle, double mean, double sd)
{
	if (group != NULL)
		bt_writer_text(w, group, glen);
	bt_writer_number(w, cycle);
	bt_writer_number_or_empty(w, mean);
	bt_writer_number_or_empty(w, sd);
	bt_writer_number_or_empty(w, mean - BT_CURVE_INTERVAL_Z * sd);
	bt_writer_number_or_empty(w, mean + BT_CURVE_INTERVAL_Z * sd);
}
