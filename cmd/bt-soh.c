/* bt-soh - per-cycle health of cells: capacity, energy, coulombic
 * efficiency, resistance and state of health; incremental capacity; a
 * CNN-LSTM state-of-health model.
 *
 * Subcommands: cycles streams a time series cycle by cycle (lib/bt_cycle's
 * iterator) through the per-cycle accumulator and the state-of-health
 * stage and writes one row per cycle; history reads a table that already
 * has one row per cycle and adds soh and the outlier flag; ica writes each
 * cycle's dQ/dV and dV/dQ curves or their peaks (lib/bt_ica); train fits
 * the CNN-LSTM (lib/bt_net) on each cycle's resampled discharge curve
 * (lib/bt_curve) against its soh, and predict applies an ensemble of such
 * models.  This file reads options, wires the pieces and reports.
 */
#include <config.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bt_cli.h"
#include "bt_cycle.h"
#include "bt_ica.h"
#include "bt_curve.h"
#include "bt_net.h"
#include "bt_num.h"

enum sub { CYCLES, HISTORY, ICA, TRAIN, PREDICT, NSUB };
static const char *const sub_names[NSUB] = {
	"cycles", "history", "ica", "train", "predict"
};

/* Most models predict averages. */
#define MAX_MEMBERS 16


struct soh_args {
	struct bt_cli_common common;
	int sub;			/* -1 until given */
	const char *input, *group, *capacity;
	int delays_given, peaks, threads;
	const char *models[MAX_MEMBERS];
	size_t nmodels, points;
	double step_s;
	struct bt_net_train_opts train;
	struct bt_cycle_opts cyc;
	struct bt_ica_opts ica;
	struct bt_cycle_health_opts health;
};

enum {
	OPT_CUTOFF = 0x200, OPT_DELAY, OPT_REST, OPT_STEP, OPT_HOLD, OPT_START,
	OPT_REFERENCE, OPT_REF_CYCLES, OPT_FLAG_WINDOW, OPT_FLAG_THRESHOLD,
	OPT_CAPACITY, OPT_BIN, OPT_SMOOTH, OPT_PEAKS, OPT_PROMINENCE, OPT_METHOD,
	OPT_POINTS, OPT_STEP_S, OPT_EPOCHS, OPT_PATIENCE, OPT_SEED, OPT_THREADS
};

static const struct argp_option options[] = {
	{NULL, 0, NULL, 0, "Cycles:", 1},
	{"group", 'g', "COL", 0, "treat each run of equal values of column COL "
	 "as its own cell", 1},
	{"cutoff-v", OPT_CUTOFF, "V", 0, "cycles: end capacity_ah and energy_wh at "
	 "the first discharge sample below V, that interval included "
	 "(default: no cutoff)", 1},
	{"delay", OPT_DELAY, "S", 0, "cycles: measure the DC resistance S seconds "
	 "into a current step (repeatable; default 1 and 10)", 1},
	{"step-current", OPT_STEP, "A", 0, "cycles: smallest current change that "
	 "starts a step (default 0.1)", 1},
	{"hold", OPT_HOLD, "FRAC", 0, "cycles: a step lasts while the current stays "
	 "within FRAC of the step (default 0.05)", 1},
	{"rest-current", OPT_REST, "A", 0, "cycles, ica: |current| below A is a "
	 "rest (default 0.01)", 1},
	{"cycle-start", OPT_START, "DIR", 0, "cycles, ica without a cycle column: "
	 "cycles begin with a discharge or a charge (default discharge)", 1},
	{"capacity", OPT_CAPACITY, "COL", 0, "history: the capacity column "
	 "(default capacity_ah, else discharge_capacity_ah)", 1},
	{NULL, 0, NULL, 0, "Incremental capacity (ica):", 2},
	{"bin-v", OPT_BIN, "V", 0, "voltage bin width (default 0.002)", 2},
	{"smooth-v", OPT_SMOOTH, "V", 0, "standard deviation of the Gaussian "
	 "smoothing, 0 for none (default 0.006)", 2},
	{"peaks", OPT_PEAKS, NULL, 0, "write the peaks of dQ/dV instead of the "
	 "curves", 2},
	{"prominence", OPT_PROMINENCE, "FRAC", 0, "smallest peak prominence, a "
	 "fraction of the largest dQ/dV (default 0.05)", 2},
	{NULL, 0, NULL, 0, "CNN-LSTM state of health (train, predict):", 4},
	{"model", 'm', "FILE", 0, "train: the model to write; predict: a model "
	 "to apply (repeat it for an ensemble)", 4},
	{"method", OPT_METHOD, "NAME", 0, "cnn-lstm (the default and only one)", 4},
	{"points", OPT_POINTS, "N", 0, "train: samples of each resampled "
	 "discharge curve (default 100)", 4},
	{"curve-step", OPT_STEP_S, "S", 0, "train: seconds between them "
	 "(default 40)", 4},
	{"epochs", OPT_EPOCHS, "N", 0, "train: most passes over the curves "
	 "(default 300)", 4},
	{"patience", OPT_PATIENCE, "N", 0, "train: epochs without a better "
	 "validation rmse before stopping, 0 never (default 20)", 4},
	{"seed", OPT_SEED, "N", 0, "train: seed of the weights and the order "
	 "(default 1)", 4},
	{"threads", OPT_THREADS, "N", 0, "OpenBLAS threads (default 1)", 4},
	{NULL, 0, NULL, 0, "State of health (cycles, history, train):", 3},
	{"reference-capacity", OPT_REFERENCE, "AH", 0, "soh = capacity / AH "
	 "(default: the median of the first cycles)", 3},
	{"reference-cycles", OPT_REF_CYCLES, "N", 0, "cycles whose median capacity "
	 "is the reference (default 5)", 3},
	{"flag-window", OPT_FLAG_WINDOW, "N", 0, "cycles in the Hampel window of "
	 "the outlier flag, odd; 0 flags nothing (default 11)", 3},
	{"flag-threshold", OPT_FLAG_THRESHOLD, "K", 0, "flag a capacity more than K "
	 "robust standard deviations from the window median (default 3)", 3},
	{NULL, 0, NULL, 0, NULL, 0}
};

static const char args_doc[] = "SUBCOMMAND [FILE]";

static const char doc[] =
	"Per-cycle health of battery cells: capacity, energy, coulombic "
	"efficiency, DC resistance and state of health.\v"
	"SUBCOMMAND is cycles, history, ica, train or predict.  cycles, ica, "
	"train and predict read time_s, current_a "
	"(positive = charge) and voltage_v, with temperature_c and cycle when "
	"present (without cycle, cycles are found from the current's sign), "
	"and cycles writes one row per cycle: cycle, start_time_s, "
	"duration_s, samples, capacity_ah, energy_wh, soh, flag, discharge_ah, "
	"charge_ah, "
	"discharge_wh, charge_wh, coulombic_efficiency, voltage_mean_v, "
	"voltage_min_v, voltage_max_v, temperature_mean_c, temperature_min_c, "
	"temperature_max_c and r_dc_<S>s_ohm per delay.  history reads one row "
	"per cycle (cycle and a capacity) and writes cycle, capacity_ah, soh, "
	"flag.  ica writes cycle, direction, voltage_v, capacity_ah, "
	"dqdv_ah_per_v, dvdq_v_per_ah per voltage bin, or with --peaks cycle, "
	"direction, peak, voltage_v, height_ah_per_v, area_ah, width_v.  train "
	"writes a bt-net(5) model; predict writes cycle, soh, soh_sd, soh_lo, "
	"soh_hi.\n\n"
	"Examples:\n"
	"  bt-soh cycles --cutoff-v 3.2 cycles.csv.gz > health.csv\n"
	"  bt-soh cycles -p 5 cycles.csv.gz | cut -d, -f1,5,7,20,21\n"
	"  bt-soh history --reference-capacity 1.1 per_cycle.csv\n"
	"  bt-soh ica --peaks cycles.csv.gz\n"
	"  bt-soh train --epochs 20 -m soh.btnet cycles.csv.gz\n"
	"  bt-soh predict -m soh.btnet cycles.csv.gz";

static error_t
parse_opt(int key, char *arg, struct argp_state *state)
{
	struct soh_args *a = state->input;
	struct bt_cycle_opts *c = &a->cyc;
	struct bt_cycle_health_opts *h = &a->health;
	double x;
	int i;

	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = &a->common;
		break;
	case 'g': a->group = arg; break;
	case OPT_CUTOFF: c->cutoff_v = bt_cli_number(state, arg, "--cutoff-v"); break;
	case OPT_DELAY:
		if (!a->delays_given++)
			c->ndelays = 0;
		if (c->ndelays == BT_CYCLE_MAX_DELAYS)
			argp_error(state, "at most %d --delay options", BT_CYCLE_MAX_DELAYS);
		c->delay_s[c->ndelays++] = bt_cli_nonnegative(state, arg, "--delay");
		break;
	case OPT_STEP: c->step_a = bt_cli_positive(state, arg, "--step-current"); break;
	case OPT_HOLD: c->hold = bt_cli_nonnegative(state, arg, "--hold"); break;
	case OPT_REST:
		c->rest_a = a->ica.rest_a = bt_cli_nonnegative(state, arg, "--rest-current");
		break;
	case OPT_BIN: a->ica.bin_v = bt_cli_positive(state, arg, "--bin-v"); break;
	case OPT_SMOOTH: a->ica.smooth_v = bt_cli_nonnegative(state, arg, "--smooth-v"); break;
	case OPT_PEAKS: a->peaks = 1; break;
	case OPT_PROMINENCE:
		a->ica.prominence = bt_cli_range(state, arg, "--prominence", 0, 1);
		break;
	case OPT_START:
		if (strcmp(arg, "discharge") != 0 && strcmp(arg, "charge") != 0)
			argp_error(state, "unknown direction '%s' (use discharge or charge)",
				   arg);
		c->start_on_charge = arg[0] == 'c';
		break;
	case OPT_CAPACITY: a->capacity = arg; break;
	case 'm':
		if (a->nmodels == MAX_MEMBERS)
			argp_error(state, "at most %d models", MAX_MEMBERS);
		a->models[a->nmodels++] = arg;
		break;
	case OPT_METHOD:
		if (strcmp(arg, "cnn-lstm") != 0)
			argp_error(state, "unknown method '%s' (use cnn-lstm)", arg);
		break;
	case OPT_POINTS:
		a->points = (size_t)bt_cli_count(state, arg, "--points", 8, 65536);
		break;
	case OPT_STEP_S: a->step_s = bt_cli_positive(state, arg, "--curve-step"); break;
	case OPT_EPOCHS:
		a->train.epochs = (unsigned)bt_cli_count(state, arg, "--epochs", 1, 1e6);
		break;
	case OPT_PATIENCE:
		a->train.patience = (unsigned)bt_cli_count(state, arg, "--patience", 0, 1e6);
		break;
	case OPT_SEED:
		a->train.seed = (uint64_t)bt_cli_count(state, arg, "--seed", 0, 1e15);
		break;
	case OPT_THREADS:
		a->threads = (int)bt_cli_count(state, arg, "--threads", 1, 1024);
		break;
	case OPT_REFERENCE:
		h->reference_ah = bt_cli_positive(state, arg, "--reference-capacity");
		break;
	case OPT_REF_CYCLES:
		h->reference_cycles = (size_t)bt_cli_count(state, arg,
							   "--reference-cycles", 1, 1e6);
		break;
	case OPT_FLAG_WINDOW:
		x = bt_cli_count(state, arg, "--flag-window", 0, 2e5 + 1);
		if (x != 0 && (fmod(x, 2) != 1 || x < 3))
			argp_error(state, "--flag-window must be 0 or an odd number of "
				   "at least 3, not '%s'", arg);
		h->hampel_half = (size_t)(x / 2);
		break;
	case OPT_FLAG_THRESHOLD:
		h->hampel_threshold = bt_cli_positive(state, arg, "--flag-threshold");
		break;
	case ARGP_KEY_ARG:
		if (a->sub < 0) {
			for (i = 0; i < NSUB && strcmp(arg, sub_names[i]) != 0; i++)
				;
			if (i == NSUB)
				argp_error(state, "unknown subcommand '%s'", arg);
			a->sub = i;
		} else if (a->input == NULL) {
			a->input = arg;
		} else {
			argp_error(state, "extra operand '%s'", arg);
		}
		break;
	case ARGP_KEY_END:
		if (a->sub < 0)
			argp_error(state, "no subcommand (use cycles, history, ica, train "
				   "or predict)");
		if ((a->sub == TRAIN && a->nmodels != 1)
		    || (a->sub == PREDICT && a->nmodels == 0))
			argp_error(state, "%s needs -m FILE%s", sub_names[a->sub],
				   a->sub == TRAIN ? " (one)" : "");
		if (a->ica.smooth_v > 1e3 * a->ica.bin_v)
			argp_error(state, "--smooth-v must be at most 1000 bins wide");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp argp = {options, parse_opt, args_doc, doc,
				 bt_cli_children, NULL, NULL};

/* One run: the output and the stages of the subcommand. */
struct run {
	const struct soh_args *a;
	struct bt_writer *w;
	struct bt_cycle_iter *it;
	struct bt_cycle_health *health;
	struct bt_ica *ica;
	struct bt_curve *curve;
	struct bt_curve_set *set;
	struct bt_curve_ensemble *ens;
	struct bt_net *nets[MAX_MEMBERS];
	double *x;		/* one resampled curve */
	const char *cell;	/* the group text of the cycle out, or NULL */
	size_t len;
};

static void
free_run(void *p)
{
	struct run *run = p;
	size_t k;

	bt_cycle_iter_free(run->it);
	bt_cycle_health_free(run->health);
	bt_ica_free(run->ica);
	bt_curve_free(run->curve);
	bt_curve_set_free(run->set);
	bt_curve_ensemble_free(run->ens);
	for (k = 0; k < MAX_MEMBERS; k++)
		bt_net_free(run->nets[k]);
	free(run->x);
}

static void
check_alloc(enum bt_status st)
{
	if (st == BT_ENOMEM)
		bt_cli_die("out of memory");
}

/* Write (or, for train, give their targets to) the cycles the health
 * stage lets out. */
static void
drain(struct run *run)
{
	struct bt_cycle_health_row row;

	while (bt_cycle_health_pop(run->health, &row) == BT_OK) {
		if (run->set != NULL) {
			check_alloc(bt_curve_set_target(run->set, row.soh));
			continue;
		}
		bt_cycle_write_row(run->w, run->cell, run->len, &row, &run->a->cyc,
				   run->a->sub == HISTORY);
		bt_cli_end_row(run->w);
	}
}

/* The cycle that ended: write it (ica, predict) or pass it on. */
static void
end_cycle(struct run *run, double cycle)
{
	struct bt_cycle_result res;
	double soh, sd;
	enum bt_status st;
	int has;

	if (run->ica != NULL) {
		st = bt_ica_write_cycle(run->ica, run->w, run->cell, run->len, cycle,
					run->a->peaks);
		check_alloc(st);
		if (st != BT_OK)
			bt_cli_die("%s", bt_writer_errmsg(run->w));
		return;
	}
	if (run->curve != NULL) {
		has = bt_curve_resample(run->curve, run->a->points, run->a->step_s,
					run->x) == BT_OK;
		bt_curve_reset(run->curve);
		if (run->set != NULL) {
			check_alloc(bt_curve_set_push(run->set, has ? run->x : NULL));
		} else {
			if (!has || bt_curve_ensemble_predict(run->ens, run->x, &soh,
							      &sd) != BT_OK)
				soh = sd = NAN;
			bt_curve_write_prediction(run->w, run->cell, run->len, cycle,
						  soh, sd);
			bt_cli_end_row(run->w);
			return;
		}
	}
	bt_cycle_iter_result(run->it, &res);
	bt_cycle_health_push(run->health, &res);
	drain(run);
}

/* Every subcommand: the input, cycle by cycle. */
static unsigned long
run_series(struct run *run, struct bt_reader *r)
{
	const struct bt_cycle_sample *s;
	enum bt_cycle_event ev = BT_CYCLE_SAMPLE;
	enum bt_status st;

	while ((st = bt_cycle_iter_next(run->it, &ev)) == BT_OK) {
		run->cell = run->a->group ? bt_cycle_iter_cell(run->it, &run->len) : NULL;
		if (ev == BT_CYCLE_END) {
			end_cycle(run, bt_cycle_iter_number(run->it));
			continue;
		}
		if (ev == BT_CYCLE_CELL_END) {
			bt_cycle_health_finish(run->health);
			drain(run);
			continue;
		}
		s = bt_cycle_iter_sample(run->it);
		st = BT_OK;
		if (run->ica != NULL)
			st = bt_ica_add(run->ica, s->time_s, s->current_a, s->voltage_v);
		if (run->curve != NULL)
			st = bt_curve_add(run->curve, s->time_s, s->current_a,
					  s->voltage_v, s->temperature_c);
		check_alloc(st);
		if (st == BT_ERANGE)
			bt_reader_fail(r, st, "voltage '%g' spans more than %u bins of "
				       "--bin-v in one cycle", s->voltage_v, BT_ICA_MAX_BINS);
		if (st == BT_ENONFINITE)
			bt_reader_fail(r, st, "no temperature in a discharge sample "
				       "of column 'temperature_c'");
		if (st != BT_OK)
			bt_cli_die("%s", bt_reader_errmsg(r));
	}
	if (st != BT_EOF)
		bt_cli_check(r, st);
	return bt_cycle_iter_rows(run->it);
}

/* train: the training set from the stream, then the model. */
static void
train(struct run *run, struct bt_reader *r)
{
	const struct soh_args *a = run->a;
	struct bt_net_arch arch;
	struct bt_net_report rep;
	struct bt_net *net;
	char msg[BT_ERRMSG_SIZE] = "";
	enum bt_status st;

	check_alloc(bt_curve_set_alloc(&run->set, bt_curve_channels(run->curve),
				       a->points));
	if (run_series(run, r) == 0)
		bt_cli_die("%s: no data rows after the header", bt_reader_filename(r));
	bt_net_arch_init(&arch, bt_curve_channels(run->curve));
	arch.window = (unsigned)a->points;
	st = bt_net_train(&net, &arch, bt_curve_set_data(run->set), NULL, &a->train,
			  &rep, msg);
	if (st == BT_EEMPTY)
		bt_cli_die("%s: no cycle with a discharge curve and a soh to train on",
			   bt_reader_filename(r));
	check_alloc(st);
	if (st != BT_OK)
		bt_cli_die("%s", msg[0] ? msg : bt_strerror(st));
	run->nets[0] = net;
	if (bt_net_set_sample_period(net, a->step_s) != BT_OK
	    || bt_net_save(net, a->models[0], msg) != BT_OK)
		bt_cli_die("%s", msg);
	if (!a->common.quiet)
		bt_cli_warn("trained on %zu cycles (%zu held out): %u epochs, kept "
			    "epoch %u, soh rmse %.4g training, %.4g validation",
			    rep.train_windows, rep.val_windows, rep.epochs_run,
			    rep.best_epoch, rep.train_rmse, rep.val_rmse);
}

int
main(int argc, char **argv)
{
	struct soh_args args;
	struct bt_reader_opts ropts;
	struct bt_reader *r;
	struct run run;
	char msg[BT_ERRMSG_SIZE];
	enum bt_status st;
	size_t k;

	bt_cli_init("bt-soh");
	memset(&args, 0, sizeof args);
	args.sub = -1;
	args.points = BT_CURVE_DEFAULT_POINTS;
	args.step_s = BT_CURVE_DEFAULT_STEP_S;
	args.threads = 1;
	bt_cycle_opts_init(&args.cyc);
	bt_cycle_health_opts_init(&args.health);
	bt_ica_opts_init(&args.ica);
	bt_net_train_opts_init(&args.train);
	args.train.epochs = BT_CURVE_DEFAULT_EPOCHS;
	args.train.patience = BT_CURVE_DEFAULT_PATIENCE;
	argp_parse(&argp, argc, argv, 0, NULL, &args);
	bt_net_set_threads(args.threads);

	memset(&run, 0, sizeof run);
	run.a = &args;
	bt_cli_hold(&run, free_run);
	for (k = 0; args.sub == PREDICT && k < args.nmodels; k++) {
		if (bt_net_load(args.models[k], &run.nets[k], msg) != BT_OK)
			bt_cli_die("%s", msg);
		args.points = bt_net_arch(run.nets[k])->window;
		args.step_s = bt_net_sample_period(run.nets[k]);
		if (k > 0 && (args.points != bt_net_arch(run.nets[0])->window
			      || args.step_s != bt_net_sample_period(run.nets[0])))
			bt_cli_die("%s: its curves differ from those of %s", args.models[k],
				   args.models[0]);
	}
	ropts = bt_cli_reader_opts(&args.common);
	r = bt_cli_open_input(args.input, &ropts);
	st = args.sub == HISTORY
	     ? bt_cycle_iter_alloc_history(&run.it, r, args.group, args.capacity)
	     : bt_cycle_iter_alloc(&run.it, r, args.group, &args.cyc);
	check_alloc(st);
	bt_cli_check(r, st);
	check_alloc(bt_cycle_health_alloc(&run.health, &args.health));
	if (args.sub == ICA)
		check_alloc(bt_ica_alloc(&run.ica, &args.ica));
	if (args.sub == TRAIN || args.sub == PREDICT) {
		check_alloc(bt_curve_alloc(&run.curve, args.cyc.rest_a, args.cyc.cutoff_v,
					   bt_cycle_iter_has_temperature(run.it)));
		run.x = malloc(args.points * BT_CURVE_MAX_CHANNELS * sizeof *run.x);
		check_alloc(run.x == NULL ? BT_ENOMEM : BT_OK);
	}
	for (k = 0; args.sub == PREDICT && k < args.nmodels; k++)
		if (bt_curve_check_net(run.nets[k], bt_curve_channels(run.curve)) != BT_OK)
			bt_cli_die("%s: not a soh model for curves of this input's %u "
				   "channels", args.models[k], bt_curve_channels(run.curve));
	if (args.sub == PREDICT)
		check_alloc(bt_curve_ensemble_alloc(&run.ens, run.nets, args.nmodels));
	if (args.sub == TRAIN) {
		train(&run, r);
	} else {
		run.w = bt_cli_open_output(&args.common);
		if (args.sub == ICA)
			bt_ica_write_names(run.w, args.group, args.peaks);
		else if (args.sub == PREDICT)
			bt_curve_write_names(run.w, args.group);
		else
			bt_cycle_write_names(run.w, args.group, &args.cyc,
					     args.sub == HISTORY);
		bt_cli_end_row(run.w);
		if (run_series(&run, r) == 0)
			bt_cli_die("%s: no data rows after the header",
				   bt_reader_filename(r));
		bt_cli_close_output(run.w);
	}
	bt_cli_release(&run);
	bt_cli_release(r);
	bt_cli_common_free(&args.common);
	return BT_EXIT_OK;
}
