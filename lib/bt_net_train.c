/* bt_net_train.c - training sets read from canonical streams, and the
 * trainer: normalisation, windows, the validation split, minibatch Adam
 * with L2 and gradient clipping, early stopping.
 *
 * Everything random (initial weights, the order of windows in each epoch)
 * comes from one MT19937 generator seeded with the options' seed, and the
 * passes run in a fixed order, so training is deterministic for a given
 * BLAS and thread count.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "bt_net.h"
#include "bt_net_impl.h"
#include "bt_stream.h"

/* --- Training data ------------------------------------------------------- */

struct bt_net_data {
	unsigned c;				/* channels */
	char names[BT_NET_MAX_CHANNELS + 1][BT_NET_MAX_NAME + 1];
	double *v;				/* n rows of c + 1 values */
	size_t n, cap;
	size_t *start;				/* first row of each series */
	size_t nseries, series_cap;
	int open;				/* the last series takes rows */
	double last_time;			/* of the open series, or NaN */
	double sum_dt;				/* time steps between samples */
	size_t n_dt;
};

enum bt_status
bt_net_data_alloc(struct bt_net_data **dp, const char *const *channels,
		  unsigned nchannels, const char *target)
{
	struct bt_net_data *d;
	unsigned i;

	*dp = NULL;
	if (nchannels < 1 || nchannels > BT_NET_MAX_CHANNELS || target == NULL)
		return BT_EINVAL;
	for (i = 0; i <= nchannels; i++) {
		const char *s = i < nchannels ? channels[i] : target;

		if (s == NULL || !bt_net_name_ok(s, strlen(s)))
			return BT_EINVAL;
	}
	d = calloc(1, sizeof *d);
	if (d == NULL)
		return BT_ENOMEM;
	d->c = nchannels;
	for (i = 0; i <= nchannels; i++)
		strcpy(d->names[i], i < nchannels ? channels[i] : target);
	d->last_time = NAN;
	*dp = d;
	return BT_OK;
}

void
bt_net_data_free(struct bt_net_data *d)
{
	if (d == NULL)
		return;
	free(d->v);
	free(d->start);
	free(d);
}

size_t
bt_net_data_series(const struct bt_net_data *d)
{
	return d->nseries;
}

size_t
bt_net_data_samples(const struct bt_net_data *d)
{
	return d->n;
}

void
bt_net_data_end_series(struct bt_net_data *d)
{
	d->open = 0;
	d->last_time = NAN;
}

static enum bt_status
begin_series(struct bt_net_data *d)
{
	if (d->nseries == d->series_cap) {
		size_t cap = d->series_cap ? 2 * d->series_cap : 16;
		size_t *s = realloc(d->start, cap * sizeof *s);

		if (s == NULL)
			return BT_ENOMEM;
		d->start = s;
		d->series_cap = cap;
	}
	d->start[d->nseries++] = d->n;
	d->open = 1;
	d->last_time = NAN;
	return BT_OK;
}

enum bt_status
bt_net_data_add(struct bt_net_data *d, const double *x, double y, double time_s)
{
	size_t w = d->c + 1;
	unsigned i;

	for (i = 0; i < d->c; i++)
		if (!isfinite(x[i]))
			return BT_ENONFINITE;
	if (!isfinite(y))
		return BT_ENONFINITE;
	if (!d->open && begin_series(d) != BT_OK)
		return BT_ENOMEM;
	if (d->n == d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 4096;
		double *v = realloc(d->v, cap * w * sizeof *v);

		if (v == NULL)
			return BT_ENOMEM;
		d->v = v;
		d->cap = cap;
	}
	memcpy(d->v + d->n * w, x, d->c * sizeof *x);
	d->v[d->n * w + d->c] = y;
	d->n++;
	if (isfinite(time_s)) {
		if (isfinite(d->last_time) && time_s > d->last_time) {
			d->sum_dt += time_s - d->last_time;
			d->n_dt++;
		}
		d->last_time = time_s;
	}
	return BT_OK;
}

enum bt_status
bt_net_data_read(struct bt_net_data *d, struct bt_reader *reader)
{
	size_t col[BT_NET_MAX_CHANNELS + 1], first, rows0 = d->n;
	size_t nseries0 = d->nseries, ndt0 = d->n_dt;
	double sumdt0 = d->sum_dt, x[BT_NET_MAX_CHANNELS + 1], t;
	long tcol = bt_reader_find(reader, "time_s");
	enum bt_status st;
	unsigned i;

	for (i = 0; i <= d->c; i++) {
		st = bt_reader_require(reader, d->names[i], &col[i]);
		if (st != BT_OK)
			return st;
	}
	bt_net_data_end_series(d);
	first = d->n;
	while ((st = bt_reader_next(reader)) == BT_OK) {
		for (i = 0; i <= d->c; i++) {
			st = bt_reader_finite(reader, col[i], &x[i]);
			if (st != BT_OK)
				goto undo;
		}
		t = NAN;
		if (tcol >= 0) {
			st = bt_reader_number(reader, (size_t)tcol, &t);
			if (st != BT_OK)
				goto undo;
		}
		st = bt_net_data_add(d, x, x[d->c], t);
		if (st != BT_OK)
			goto undo;
	}
	if (st != BT_EOF)
		goto undo;
	bt_net_data_end_series(d);
	return d->n > first ? BT_OK : BT_EEMPTY;
undo:
	d->n = rows0;
	d->nseries = nseries0;
	d->n_dt = ndt0;
	d->sum_dt = sumdt0;
	bt_net_data_end_series(d);
	return st;
}

unsigned
bt_net_default_channels(const struct bt_reader *reader,
			const char *names[BT_NET_MAX_CHANNELS])
{
	unsigned n = 0;

	names[n++] = "voltage_v";
	names[n++] = "current_a";
	if (bt_reader_find(reader, "temperature_c") >= 0)
		names[n++] = "temperature_c";
	return n;
}

enum bt_status
bt_net_find_columns(const struct bt_net *net, struct bt_reader *reader,
		    size_t *cols)
{
	unsigned i, c = bt_net_arch(net)->channels;
	enum bt_status st;

	for (i = 0; i < c; i++)
		if ((st = bt_reader_require(reader, bt_net_channel(net, i),
					    &cols[i])) != BT_OK)
			return st;
	return BT_OK;
}

enum bt_status
bt_net_read_inputs(const struct bt_net *net, struct bt_reader *reader,
		   const size_t *cols, double *x)
{
	unsigned i, c = bt_net_arch(net)->channels;
	enum bt_status st;

	for (i = 0; i < c; i++)
		if ((st = bt_reader_finite(reader, cols[i], &x[i])) != BT_OK)
			return st;
	return BT_OK;
}

/* Length of series S. */
static size_t
series_len(const struct bt_net_data *d, size_t s)
{
	return (s + 1 < d->nseries ? d->start[s + 1] : d->n) - d->start[s];
}

/* --- Training ------------------------------------------------------------ */

void
bt_net_train_opts_init(struct bt_net_train_opts *o)
{
	memset(o, 0, sizeof *o);
	o->epochs = BT_NET_DEFAULT_EPOCHS;
	o->batch = BT_NET_DEFAULT_BATCH;
	o->learning_rate = BT_NET_DEFAULT_LEARNING_RATE;
	o->beta1 = BT_NET_DEFAULT_ADAM_BETA1;
	o->beta2 = BT_NET_DEFAULT_ADAM_BETA2;
	o->adam_eps = BT_NET_DEFAULT_ADAM_EPS;
	o->l2 = BT_NET_DEFAULT_L2;
	o->clip = BT_NET_DEFAULT_CLIP;
	o->val_fraction = BT_NET_DEFAULT_VAL_FRACTION;
	o->patience = BT_NET_DEFAULT_PATIENCE;
	o->stride = BT_NET_DEFAULT_STRIDE;
	o->seed = BT_NET_DEFAULT_SEED;
}

static enum bt_status
check_opts(const struct bt_net_train_opts *o, char *errmsg)
{
	const char *bad = NULL;

	if (o->epochs < 1)
		bad = "epochs must be >= 1";
	else if (o->batch < 1)
		bad = "batch must be >= 1";
	else if (!(o->learning_rate > 0) || !isfinite(o->learning_rate))
		bad = "learning rate must be > 0";
	else if (!(o->beta1 >= 0 && o->beta1 < 1) || !(o->beta2 >= 0 && o->beta2 < 1))
		bad = "Adam's beta1 and beta2 must be in [0, 1)";
	else if (!(o->adam_eps > 0) || !isfinite(o->adam_eps))
		bad = "Adam's epsilon must be > 0";
	else if (!(o->l2 >= 0) || !isfinite(o->l2))
		bad = "l2 must be >= 0";
	else if (!(o->clip >= 0) || !isfinite(o->clip))
		bad = "clip must be >= 0";
	else if (!(o->val_fraction >= 0 && o->val_fraction < 1))
		bad = "validation fraction must be in [0, 1)";
	else if (o->stride < 1)
		bad = "stride must be >= 1";
	if (bad == NULL)
		return BT_OK;
	bt_net_setmsg(errmsg, "%s", bad);
	return BT_EINVAL;
}

/* A window: the series' first row and the row of its newest sample. */
struct win {
	size_t end;		/* row of the newest sample in the data */
};

struct trainer {
	struct bt_net *net;
	const struct bt_net_train_opts *o;
	float *tx, *vx;		/* normalised rows (c + 1 floats) */
	struct win *tw, *vw;
	size_t ntw, nvw;
	struct bt_net_batch *batch;
	float *grad, *m, *v, *best;
	float *target;		/* minibatch targets, normalised */
	size_t *order;
	gsl_rng *rng;
	unsigned long step;
};

/* Normalise every row of D with NET's statistics into a new float array. */
static float *
normalise(const struct bt_net *net, const struct bt_net_data *d)
{
	size_t w = d->c + 1, i;
	float *f = malloc((d->n ? d->n : 1) * w * sizeof *f);
	unsigned c;

	if (f == NULL)
		return NULL;
	for (i = 0; i < d->n; i++)
		for (c = 0; c < w; c++)
			f[i * w + c] = (float)((d->v[i * w + c] - net->mean[c])
					       / net->scale[c]);
	return f;
}

/* The per-column mean and standard deviation of D (Welford 1962). */
static void
fit_norm(struct bt_net *net, const struct bt_net_data *d)
{
	size_t w = d->c + 1, i;
	unsigned c;

	for (c = 0; c < w; c++) {
		double mean = 0, m2 = 0, sd;

		for (i = 0; i < d->n; i++) {
			double x = d->v[i * w + c], delta = x - mean;

			mean += delta / (double)(i + 1);
			m2 += delta * (x - mean);
		}
		sd = sqrt(m2 / (double)d->n);
		net->mean[c] = mean;
		net->scale[c] = sd > 0 && isfinite(sd) ? sd : 1;
	}
	net->period_s = d->n_dt > 0 ? d->sum_dt / (double)d->n_dt : NAN;
}

/* List the windows of D (every STRIDE-th end in each series long enough);
 * with HOLD, split them: a window whose newest sample lies in a held-out
 * block goes to *VAL, one that lies wholly outside held-out blocks to
 * *TRAIN, the rest (straddling) nowhere. */
static enum bt_status
list_windows(const struct bt_net_data *d, unsigned window, unsigned stride,
	     double hold, struct win **train, size_t *ntrain, struct win **val,
	     size_t *nval)
{
	size_t s, e, total = 0, block = (size_t)window * BT_NET_VAL_BLOCK_WINDOWS;
	size_t blocks = 0;

	for (s = 0; s < d->nseries; s++)
		if (series_len(d, s) >= window)
			total += (series_len(d, s) - window) / stride + 1;
	*train = malloc((total ? total : 1) * sizeof **train);
	*val = malloc((total ? total : 1) * sizeof **val);
	*ntrain = *nval = 0;
	if (*train == NULL || *val == NULL)
		return BT_ENOMEM;
	for (s = 0; s < d->nseries; s++) {
		size_t n = series_len(d, s), first = d->start[s];
		size_t nb = (n + block - 1) / block, b0 = blocks;

		if (n < window)
			continue;
		for (e = window - 1; e < n; e += stride) {
			/* Block j (counted over every series) is held out
			 * when floor((j + 1) f) > floor(j f): every 1/f-th. */
			size_t jb = b0 + e / block, js = b0 + (e + 1 - window) / block;
			int held_e = hold > 0 && floor((double)(jb + 1) * hold) > floor((double)jb * hold);
			int held_s = hold > 0 && floor((double)(js + 1) * hold) > floor((double)js * hold);
			size_t k;
			int straddles = 0;

			for (k = js; k < jb && !straddles; k++)
				straddles = hold > 0 && floor((double)(k + 1) * hold) > floor((double)k * hold);
			if (held_e)
				(*val)[(*nval)++].end = first + e;
			else if (!held_s && !straddles)
				(*train)[(*ntrain)++].end = first + e;
		}
		blocks += nb;
	}
	return BT_OK;
}

/* Copy the windows W[0 .. n-1] of the normalised rows X into the batch's
 * input and their targets into T. */
static void
gather(struct trainer *tr, const float *x, const struct win *w,
       const size_t *idx, size_t n, float *t)
{
	const struct bt_net_arch *a = &tr->net->arch;
	size_t c = a->channels, cw = c + 1, i, s;
	float *in = bt_net_batch_input(tr->batch);

	for (i = 0; i < n; i++) {
		const struct win *wi = &w[idx ? idx[i] : i];
		size_t row0 = wi->end + 1 - a->window;
		float *dst = in + (i * (a->window + 1) + 1) * c;

		for (s = 0; s < a->window; s++)
			memcpy(dst + s * c, x + (row0 + s) * cw, c * sizeof *dst);
		t[i] = x[wi->end * cw + c];
	}
}

/* RMSE in target units of the network on the windows W of X. */
static double
evaluate(struct trainer *tr, const float *x, const struct win *w, size_t nw)
{
	size_t b = tr->o->batch, i, j, n;
	double sse = 0;

	if (nw == 0)
		return NAN;
	for (i = 0; i < nw; i += n) {
		const float *out;

		n = nw - i < b ? nw - i : b;
		gather(tr, x, w + i, NULL, n, tr->target);
		out = bt_net_batch_run(tr->batch, n);
		for (j = 0; j < n; j++) {
			double e = (double)out[j] - tr->target[j];

			sse += e * e;
		}
	}
	return sqrt(sse / (double)nw) * tr->net->scale[tr->net->arch.channels];
}

/* One Adam step (Kingma and Ba 2015, Algorithm 1) on the gradient in
 * tr->grad, clipped first to norm clip (Pascanu, Mikolov and Bengio 2013,
 * Algorithm 1). */
static void
adam(struct trainer *tr)
{
	const struct bt_net_train_opts *o = tr->o;
	size_t n = tr->net->lay.nparams, i;
	float *p = tr->net->params, *g = tr->grad;
	double norm = 0, scale = 1, c1, c2, lr;
	float b1 = (float)o->beta1, b2 = (float)o->beta2;

	if (o->clip > 0) {
		for (i = 0; i < n; i++)
			norm += (double)g[i] * g[i];
		norm = sqrt(norm);
		if (norm > o->clip)
			scale = o->clip / norm;
	}
	tr->step++;
	c1 = 1 - pow(o->beta1, (double)tr->step);
	c2 = 1 - pow(o->beta2, (double)tr->step);
	/* alpha_t = alpha sqrt(1 - beta2^t) / (1 - beta1^t), the efficient
	 * form of the algorithm's bias corrections (sec. 2). */
	lr = o->learning_rate * sqrt(c2) / c1;
	for (i = 0; i < n; i++) {
		float gi = (float)(g[i] * scale);

		tr->m[i] = b1 * tr->m[i] + (1 - b1) * gi;
		tr->v[i] = b2 * tr->v[i] + (1 - b2) * gi * gi;
		p[i] -= (float)(lr * tr->m[i]
				/ (sqrt((double)tr->v[i]) + o->adam_eps * sqrt(c2)));
	}
}

static void
trainer_free(struct trainer *tr)
{
	free(tr->tx);
	free(tr->vx);
	free(tr->tw);
	free(tr->vw);
	bt_net_batch_free(tr->batch);
	free(tr->grad);
	free(tr->m);
	free(tr->v);
	free(tr->best);
	free(tr->target);
	free(tr->order);
	if (tr->rng != NULL)
		gsl_rng_free(tr->rng);
}

static int
same_columns(const struct bt_net_data *a, const struct bt_net_data *b)
{
	unsigned i;

	if (a->c != b->c)
		return 0;
	for (i = 0; i <= a->c; i++)
		if (strcmp(a->names[i], b->names[i]) != 0)
			return 0;
	return 1;
}

static enum bt_status
prepare(struct trainer *tr, const struct bt_net_data *train,
	const struct bt_net_data *val, char *errmsg)
{
	const struct bt_net_train_opts *o = tr->o;
	const struct bt_net_arch *a = &tr->net->arch;
	size_t np = tr->net->lay.nparams, i;
	struct win *unused = NULL;
	size_t nunused;
	enum bt_status st;

	fit_norm(tr->net, train);
	tr->tx = normalise(tr->net, train);
	if (tr->tx == NULL)
		goto nomem;
	if (val != NULL) {
		tr->vx = normalise(tr->net, val);
		if (tr->vx == NULL)
			goto nomem;
		st = list_windows(train, a->window, o->stride, 0, &tr->tw,
				  &tr->ntw, &unused, &nunused);
		free(unused);
		if (st == BT_OK)
			st = list_windows(val, a->window, o->stride, 0, &tr->vw,
					  &tr->nvw, &unused, &nunused);
		free(unused);
	} else {
		st = list_windows(train, a->window, o->stride, o->val_fraction,
				  &tr->tw, &tr->ntw, &tr->vw, &tr->nvw);
	}
	if (st != BT_OK)
		goto nomem;
	if (tr->ntw == 0) {
		bt_net_setmsg(errmsg, "no training window: every series is shorter than the window of %u samples",
		       a->window);
		return BT_EEMPTY;
	}
	tr->rng = gsl_rng_alloc(gsl_rng_mt19937);
	tr->grad = malloc(np * sizeof *tr->grad);
	tr->m = calloc(np, sizeof *tr->m);
	tr->v = calloc(np, sizeof *tr->v);
	tr->best = malloc(np * sizeof *tr->best);
	tr->target = malloc(o->batch * sizeof *tr->target);
	tr->order = malloc(tr->ntw * sizeof *tr->order);
	if (tr->rng == NULL || tr->grad == NULL || tr->m == NULL || tr->v == NULL
	    || tr->best == NULL || tr->target == NULL || tr->order == NULL
	    || bt_net_batch_alloc(tr->net, o->batch, &tr->batch) != BT_OK)
		goto nomem;
	/* A second stream from the seed orders the windows, so that the
	 * initial weights do not depend on the data. */
	gsl_rng_set(tr->rng, (unsigned long)(o->seed ^ 0x9e3779b97f4a7c15ULL));
	for (i = 0; i < tr->ntw; i++)
		tr->order[i] = i;
	return BT_OK;
nomem:
	bt_net_setmsg(errmsg, "out of memory");
	return BT_ENOMEM;
}

enum bt_status
bt_net_train(struct bt_net **netp, const struct bt_net_arch *arch,
	     const struct bt_net_data *train, const struct bt_net_data *val,
	     const struct bt_net_train_opts *o, struct bt_net_report *report,
	     char errmsg[BT_ERRMSG_SIZE])
{
	struct trainer tr;
	struct bt_net_arch a = *arch;
	struct bt_net_progress pr;
	const char *names[BT_NET_MAX_CHANNELS];
	enum bt_status st;
	unsigned epoch, since_best = 0, i, tgt;
	size_t np, b, nb, j;
	int stop = 0;

	*netp = NULL;
	memset(&tr, 0, sizeof tr);
	tr.o = o;
	if (report != NULL)
		memset(report, 0, sizeof *report);
	st = check_opts(o, errmsg);
	if (st != BT_OK)
		return st;
	if (val != NULL && !same_columns(train, val)) {
		bt_net_setmsg(errmsg, "the validation data's columns differ from the training data's");
		return BT_EINVAL;
	}
	a.channels = train->c;
	for (i = 0; i < train->c; i++)
		names[i] = train->names[i];
	st = bt_net_alloc(&tr.net, &a, names, train->names[train->c], o->seed,
			  errmsg);
	if (st != BT_OK)
		return st;
	st = prepare(&tr, train, val, errmsg);
	if (st != BT_OK)
		goto out;
	np = tr.net->lay.nparams;
	tgt = a.channels;
	memcpy(tr.best, tr.net->params, np * sizeof *tr.best);
	memset(&pr, 0, sizeof pr);
	pr.epochs = o->epochs;
	pr.best_val_rmse = NAN;
	nb = (tr.ntw + o->batch - 1) / o->batch;
	pr.batches = nb;
	for (epoch = 1; epoch <= o->epochs && !stop; epoch++) {
		double sse = 0;
		size_t seen = 0;

		gsl_ran_shuffle(tr.rng, tr.order, tr.ntw, sizeof *tr.order);
		pr.epoch = epoch;
		pr.epoch_done = 0;
		pr.val_rmse = NAN;
		for (b = 0; b < nb && !stop; b++) {
			size_t n = tr.ntw - b * o->batch < o->batch
					   ? tr.ntw - b * o->batch : o->batch;
			const float *out;
			float *dout = tr.target;
			double loss_unused = 0;

			gather(&tr, tr.tx, tr.tw, tr.order + b * o->batch, n,
			       tr.target);
			out = bt_net_batch_run(tr.batch, n);
			for (j = 0; j < n; j++) {
				double e = (double)out[j] - tr.target[j];

				sse += e * e;
				/* d/d out of mean((out - y)^2). */
				dout[j] = (float)(2 * e / (double)n);
			}
			seen += n;
			memset(tr.grad, 0, np * sizeof *tr.grad);
			bt_net_batch_back(tr.batch, n, dout, tr.grad, NULL);
			bt_net_l2(tr.net, o->l2, &loss_unused, tr.grad);
			adam(&tr);
			pr.batch = b + 1;
			pr.train_rmse = sqrt(sse / (double)seen) * tr.net->scale[tgt];
			if (o->progress != NULL && o->progress(o->progress_arg, &pr))
				stop = 1;
		}
		if (report != NULL) {
			report->epochs_run = epoch;
			report->train_rmse = pr.train_rmse;
		}
		pr.val_rmse = evaluate(&tr, val ? tr.vx : tr.tx, tr.vw, tr.nvw);
		if (tr.nvw == 0 || pr.val_rmse < pr.best_val_rmse
		    || isnan(pr.best_val_rmse)) {
			pr.best_val_rmse = pr.val_rmse;
			pr.best_epoch = epoch;
			memcpy(tr.best, tr.net->params, np * sizeof *tr.best);
			since_best = 0;
		} else if (o->patience > 0 && ++since_best >= o->patience) {
			stop = 1;
			if (report != NULL)
				report->stopped_early = 1;
		}
		pr.epoch_done = 1;
		if (o->progress != NULL && o->progress(o->progress_arg, &pr))
			stop = 1;
	}
	memcpy(tr.net->params, tr.best, np * sizeof *tr.best);
	if (report != NULL) {
		report->best_epoch = pr.best_epoch;
		report->val_rmse = tr.nvw ? pr.best_val_rmse : NAN;
		report->train_windows = tr.ntw;
		report->val_windows = tr.nvw;
	}
	*netp = tr.net;
	tr.net = NULL;
out:
	bt_net_free(tr.net);
	trainer_free(&tr);
	return st;
}
