/* bt_soh.c - one bt-soh run: the stream read cycle by cycle and handed to
 * the stages of the task (see bt_soh.h).  The per-sample work is the
 * stages'; this file decides which stage takes what, and in which order
 * the rows come out.
 */
#include <config.h>

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bt_curve.h"
#include "bt_soh.h"

/* Room for a message naming two files of PATH_MAX bytes. */
#define MSG_SIZE 8400

struct bt_soh {
	struct bt_soh_opts o;
	struct bt_reader *r;		/* borrowed */
	struct bt_writer *w;		/* borrowed; NULL for train */
	struct bt_cycle_iter *it;
	struct bt_cycle_health *health;
	struct bt_ica *ica;
	struct bt_curve *curve;
	struct bt_curve_set *set;
	struct bt_curve_ensemble *ens;
	struct bt_net *nets[BT_SOH_MAX_MODELS];
	double *x;			/* one resampled curve */
	const char *cell;		/* the group text of the cycle out, or NULL */
	size_t len;
	const char *err;		/* the last error: msg, or the reader's or
					   the writer's message */
	char msg[MSG_SIZE];
};

void
bt_soh_opts_init(struct bt_soh_opts *opts)
{
	memset(opts, 0, sizeof *opts);
	opts->task = BT_SOH_CYCLES;
	opts->points = BT_CURVE_DEFAULT_POINTS;
	opts->step_s = BT_CURVE_DEFAULT_STEP_S;
	bt_cycle_opts_init(&opts->cyc);
	bt_cycle_health_opts_init(&opts->health);
	bt_ica_opts_init(&opts->ica);
	bt_net_train_opts_init(&opts->train);
	opts->train.epochs = BT_CURVE_DEFAULT_EPOCHS;
	opts->train.patience = BT_CURVE_DEFAULT_PATIENCE;
}

enum bt_status
bt_soh_alloc(struct bt_soh **run, const struct bt_soh_opts *opts)
{
	*run = NULL;
	if (opts->nmodels > BT_SOH_MAX_MODELS)
		return BT_EINVAL;
	*run = calloc(1, sizeof **run);
	if (*run == NULL)
		return BT_ENOMEM;
	(*run)->o = *opts;
	(*run)->err = "";
	return BT_OK;
}

void
bt_soh_free(struct bt_soh *run)
{
	size_t k;

	if (run == NULL)
		return;
	bt_cycle_iter_free(run->it);
	bt_cycle_health_free(run->health);
	bt_ica_free(run->ica);
	bt_curve_free(run->curve);
	bt_curve_set_free(run->set);
	bt_curve_ensemble_free(run->ens);
	for (k = 0; k < BT_SOH_MAX_MODELS; k++)
		bt_net_free(run->nets[k]);
	free(run->x);
	free(run);
}

const char *
bt_soh_errmsg(const struct bt_soh *run)
{
	return run->err;
}

/* Keep a message of our own for STATUS.  Returns STATUS. */
static enum bt_status __attribute__((format(printf, 3, 4)))
fail(struct bt_soh *run, enum bt_status status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(run->msg, sizeof run->msg, fmt, ap);
	va_end(ap);
	run->err = run->msg;
	return status;
}

/* STATUS from a stage: "out of memory" for BT_ENOMEM, else the reader's
 * message.  Returns STATUS. */
static enum bt_status
reader_fail(struct bt_soh *run, enum bt_status status)
{
	if (status == BT_ENOMEM)
		return fail(run, status, "%s", bt_strerror(status));
	run->err = bt_reader_errmsg(run->r);
	return status;
}

/* The writer's message for STATUS.  Returns STATUS. */
static enum bt_status
writer_fail(struct bt_soh *run, enum bt_status status)
{
	run->err = bt_writer_errmsg(run->w);
	return status;
}

/* A stage's status that matters only when memory ran out.  Returns
 * BT_ENOMEM with its message, or BT_OK. */
static enum bt_status
alloc_status(struct bt_soh *run, enum bt_status status)
{
	return status == BT_ENOMEM ? fail(run, status, "%s", bt_strerror(status))
				   : BT_OK;
}

/* A stage's allocation: any failure is an error.  Returns STATUS. */
static enum bt_status
made(struct bt_soh *run, enum bt_status status)
{
	return status == BT_OK ? status
			       : fail(run, status, "%s", bt_strerror(status));
}

enum bt_status
bt_soh_load_models(struct bt_soh *run)
{
	const struct bt_soh_opts *o = &run->o;
	enum bt_status st;
	size_t k;

	for (k = 0; o->task == BT_SOH_PREDICT && k < o->nmodels; k++) {
		st = bt_net_load(o->models[k], &run->nets[k], run->msg);
		if (st != BT_OK) {
			run->err = run->msg;
			return st;
		}
		run->o.points = bt_net_arch(run->nets[k])->window;
		run->o.step_s = bt_net_sample_period(run->nets[k]);
		if (k > 0 && (o->points != bt_net_arch(run->nets[0])->window
			      || o->step_s != bt_net_sample_period(run->nets[0])))
			return fail(run, BT_EINVAL, "%s: its curves differ from those "
				    "of %s", o->models[k], o->models[0]);
	}
	return BT_OK;
}

enum bt_status
bt_soh_open(struct bt_soh *run, struct bt_reader *r)
{
	const struct bt_soh_opts *o = &run->o;
	enum bt_status st;
	unsigned ch;
	size_t k;

	run->r = r;
	st = o->task == BT_SOH_HISTORY
	     ? bt_cycle_iter_alloc_history(&run->it, r, o->group, o->capacity)
	     : bt_cycle_iter_alloc(&run->it, r, o->group, &o->cyc);
	if (st != BT_OK)
		return reader_fail(run, st);
	if ((st = made(run, bt_cycle_health_alloc(&run->health, &o->health))) != BT_OK)
		return st;
	if (o->task == BT_SOH_ICA
	    && (st = made(run, bt_ica_alloc(&run->ica, &o->ica))) != BT_OK)
		return st;
	if (o->task != BT_SOH_TRAIN && o->task != BT_SOH_PREDICT)
		return BT_OK;
	st = bt_curve_alloc(&run->curve, o->cyc.rest_a, o->cyc.cutoff_v,
			    bt_cycle_iter_has_temperature(run->it));
	if (made(run, st) != BT_OK)
		return st;
	run->x = malloc(o->points * BT_CURVE_MAX_CHANNELS * sizeof *run->x);
	if (run->x == NULL)
		return made(run, BT_ENOMEM);
	ch = bt_curve_channels(run->curve);
	if (o->task == BT_SOH_TRAIN)
		return made(run, bt_curve_set_alloc(&run->set, ch, o->points));
	for (k = 0; k < o->nmodels; k++)
		if (bt_curve_check_net(run->nets[k], ch) != BT_OK)
			return fail(run, BT_EINVAL, "%s: not a soh model for curves "
				    "of this input's %u channels", o->models[k], ch);
	return made(run, bt_curve_ensemble_alloc(&run->ens, run->nets, o->nmodels));
}

/* Write (or, for train, give their targets to) the cycles the health
 * stage lets out.  Returns BT_OK, BT_EIO or BT_ENOMEM. */
static enum bt_status
drain(struct bt_soh *run)
{
	struct bt_cycle_health_row row;
	enum bt_status st;

	while (bt_cycle_health_pop(run->health, &row) == BT_OK) {
		if (run->set != NULL) {
			st = alloc_status(run, bt_curve_set_target(run->set, row.soh));
			if (st != BT_OK)
				return st;
			continue;
		}
		bt_cycle_write_row(run->w, run->cell, run->len, &row, &run->o.cyc,
				   run->o.task == BT_SOH_HISTORY);
		if (bt_writer_end_row(run->w) != BT_OK)
			return writer_fail(run, BT_EIO);
	}
	return BT_OK;
}

/* The cycle that ended: write it (ica, predict) or pass it on.  Returns
 * BT_OK, BT_EIO or BT_ENOMEM. */
static enum bt_status
end_cycle(struct bt_soh *run, double cycle)
{
	struct bt_cycle_result res;
	double soh, sd;
	enum bt_status st;
	int has;

	if (run->ica != NULL) {
		st = bt_ica_write_cycle(run->ica, run->w, run->cell, run->len, cycle,
					run->o.peaks);
		if (st == BT_ENOMEM)
			return made(run, st);
		return st == BT_OK ? st : writer_fail(run, st);
	}
	if (run->curve != NULL) {
		has = bt_curve_resample(run->curve, run->o.points, run->o.step_s,
					run->x) == BT_OK;
		bt_curve_reset(run->curve);
		if (run->set == NULL) {
			if (!has || bt_curve_ensemble_predict(run->ens, run->x, &soh,
							      &sd) != BT_OK)
				soh = sd = NAN;
			bt_curve_write_prediction(run->w, run->cell, run->len, cycle,
						  soh, sd);
			if (bt_writer_end_row(run->w) != BT_OK)
				return writer_fail(run, BT_EIO);
			return BT_OK;
		}
		st = alloc_status(run, bt_curve_set_push(run->set, has ? run->x : NULL));
		if (st != BT_OK)
			return st;
	}
	bt_cycle_iter_result(run->it, &res);
	bt_cycle_health_push(run->health, &res);
	return drain(run);
}

/* Every task: the input, cycle by cycle.  Returns BT_OK, BT_EEMPTY for no
 * data rows, or the error of a stage or of the reader. */
static enum bt_status
series(struct bt_soh *run)
{
	const struct bt_cycle_sample *s;
	enum bt_cycle_event ev = BT_CYCLE_SAMPLE;
	enum bt_status st;

	while ((st = bt_cycle_iter_next(run->it, &ev)) == BT_OK) {
		run->cell = run->o.group ? bt_cycle_iter_cell(run->it, &run->len) : NULL;
		if (ev == BT_CYCLE_END) {
			st = end_cycle(run, bt_cycle_iter_number(run->it));
			if (st != BT_OK)
				return st;
			continue;
		}
		if (ev == BT_CYCLE_CELL_END) {
			bt_cycle_health_finish(run->health);
			if ((st = drain(run)) != BT_OK)
				return st;
			continue;
		}
		s = bt_cycle_iter_sample(run->it);
		st = BT_OK;
		if (run->ica != NULL)
			st = bt_ica_add(run->ica, s->time_s, s->current_a, s->voltage_v);
		if (run->curve != NULL)
			st = bt_curve_add(run->curve, s->time_s, s->current_a,
					  s->voltage_v, s->temperature_c);
		if (st == BT_ERANGE)
			bt_reader_fail(run->r, st, "voltage '%g' spans more than %u bins "
				       "of --bin-v in one cycle", s->voltage_v,
				       BT_ICA_MAX_BINS);
		if (st == BT_ENONFINITE)
			bt_reader_fail(run->r, st, "no temperature in a discharge "
				       "sample of column 'temperature_c'");
		if (st != BT_OK)
			return reader_fail(run, st);
	}
	if (st != BT_EOF) {
		run->err = bt_reader_errmsg(run->r);
		return st;
	}
	if (bt_cycle_iter_rows(run->it) == 0)
		return fail(run, BT_EEMPTY, "%s: no data rows after the header",
			    bt_reader_filename(run->r));
	return BT_OK;
}

enum bt_status
bt_soh_write(struct bt_soh *run, struct bt_writer *w)
{
	const struct bt_soh_opts *o = &run->o;

	run->w = w;
	if (o->task == BT_SOH_ICA)
		bt_ica_write_names(w, o->group, o->peaks);
	else if (o->task == BT_SOH_PREDICT)
		bt_curve_write_names(w, o->group);
	else
		bt_cycle_write_names(w, o->group, &o->cyc, o->task == BT_SOH_HISTORY);
	if (bt_writer_end_row(w) != BT_OK)
		return writer_fail(run, BT_EIO);
	return series(run);
}

enum bt_status
bt_soh_train(struct bt_soh *run, struct bt_net_report *rep)
{
	const struct bt_soh_opts *o = &run->o;
	struct bt_net_arch arch;
	struct bt_net *net;
	enum bt_status st;

	if (run->set == NULL)
		return fail(run, BT_EINVAL, "%s", bt_strerror(BT_EINVAL));
	if ((st = series(run)) != BT_OK)
		return st;
	bt_net_arch_init(&arch, bt_curve_channels(run->curve));
	arch.window = (unsigned)o->points;
	run->msg[0] = '\0';
	run->err = run->msg;
	st = bt_net_train(&net, &arch, bt_curve_set_data(run->set), NULL, &o->train,
			  rep, run->msg);
	if (st == BT_EEMPTY)
		return fail(run, st, "%s: no cycle with a discharge curve and a soh "
			    "to train on", bt_reader_filename(run->r));
	if (st != BT_OK)
		return run->msg[0] && st != BT_ENOMEM ? st
		       : fail(run, st, "%s", bt_strerror(st));
	run->nets[0] = net;
	if ((st = bt_net_set_sample_period(net, o->step_s)) != BT_OK
	    || (st = bt_net_save(net, o->models[0], run->msg)) != BT_OK)
		return st;
	return BT_OK;
}
