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
 * models.  lib/bt_soh wires these stages into a run; this file reads
 * options, hands the run its input and output, and reports.
 */
#include <config.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bt_cli.h"
#include "bt_soh.h"

static const char *const sub_names[BT_SOH_NTASKS] = {
	"cycles", "history", "ica", "train", "predict"
};

struct soh_args {
	struct bt_cli_common common;
	int sub;			/* an enum bt_soh_task; -1 until given */
	const char *input;
	int delays_given, threads;
	const char *models[BT_SOH_MAX_MODELS];
	size_t nmodels;
	struct bt_soh_opts soh;		/* task, models: set after parsing */
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
	struct bt_soh_opts *o = &a->soh;
	struct bt_cycle_opts *c = &o->cyc;
	struct bt_cycle_health_opts *h = &o->health;
	double x;

	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = &a->common;
		break;
	case 'g': o->group = arg; break;
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
		c->rest_a = o->ica.rest_a = bt_cli_nonnegative(state, arg, "--rest-current");
		break;
	case OPT_BIN: o->ica.bin_v = bt_cli_positive(state, arg, "--bin-v"); break;
	case OPT_SMOOTH: o->ica.smooth_v = bt_cli_nonnegative(state, arg, "--smooth-v"); break;
	case OPT_PEAKS: o->peaks = 1; break;
	case OPT_PROMINENCE:
		o->ica.prominence = bt_cli_range(state, arg, "--prominence", 0, 1);
		break;
	case OPT_START:
		if (strcmp(arg, "discharge") != 0 && strcmp(arg, "charge") != 0)
			argp_error(state, "unknown direction '%s' (use discharge or charge)",
				   arg);
		c->start_on_charge = arg[0] == 'c';
		break;
	case OPT_CAPACITY: o->capacity = arg; break;
	case 'm':
		if (a->nmodels == BT_SOH_MAX_MODELS)
			argp_error(state, "at most %d models", BT_SOH_MAX_MODELS);
		a->models[a->nmodels++] = arg;
		break;
	case OPT_METHOD:
		if (strcmp(arg, "cnn-lstm") != 0)
			argp_error(state, "unknown method '%s' (use cnn-lstm)", arg);
		break;
	case OPT_POINTS:
		o->points = (size_t)bt_cli_count(state, arg, "--points", 8, 65536);
		break;
	case OPT_STEP_S: o->step_s = bt_cli_positive(state, arg, "--curve-step"); break;
	case OPT_EPOCHS:
		o->train.epochs = (unsigned)bt_cli_count(state, arg, "--epochs", 1, 1e6);
		break;
	case OPT_PATIENCE:
		o->train.patience = (unsigned)bt_cli_count(state, arg, "--patience", 0, 1e6);
		break;
	case OPT_SEED:
		o->train.seed = (uint64_t)bt_cli_count(state, arg, "--seed", 0, 1e15);
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
		bt_cli_operand(state, arg, sub_names, BT_SOH_NTASKS, &a->sub, &a->input);
		break;
	case ARGP_KEY_END:
		if (a->sub < 0)
			argp_error(state, "no subcommand (use cycles, history, ica, train "
				   "or predict)");
		if ((a->sub == BT_SOH_TRAIN && a->nmodels != 1)
		    || (a->sub == BT_SOH_PREDICT && a->nmodels == 0))
			argp_error(state, "%s needs -m FILE%s", sub_names[a->sub],
				   a->sub == BT_SOH_TRAIN ? " (one)" : "");
		if (o->ica.smooth_v > 1e3 * o->ica.bin_v)
			argp_error(state, "--smooth-v must be at most 1000 bins wide");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp argp = {options, parse_opt, args_doc, doc,
				 bt_cli_children, NULL, NULL};

/* The run's error, when STATUS is one. */
static void
check(const struct bt_soh *run, enum bt_status status)
{
	if (status != BT_OK)
		bt_cli_die("%s", bt_soh_errmsg(run));
}

static void
free_run(void *run)
{
	bt_soh_free(run);
}

int
main(int argc, char **argv)
{
	struct soh_args args;
	struct bt_reader_opts ropts;
	struct bt_reader *r;
	struct bt_writer *w;
	struct bt_net_report rep;
	struct bt_soh *run;

	bt_cli_init("bt-soh");
	memset(&args, 0, sizeof args);
	args.sub = -1;
	args.threads = 1;
	bt_soh_opts_init(&args.soh);
	argp_parse(&argp, argc, argv, 0, NULL, &args);
	bt_net_set_threads(args.threads);

	args.soh.task = (enum bt_soh_task)args.sub;
	args.soh.models = args.models;
	args.soh.nmodels = args.nmodels;
	if (bt_soh_alloc(&run, &args.soh) != BT_OK)
		bt_cli_die("out of memory");
	bt_cli_hold(run, free_run);
	check(run, bt_soh_load_models(run));
	ropts = bt_cli_reader_opts(&args.common);
	r = bt_cli_open_input(args.input, &ropts);
	check(run, bt_soh_open(run, r));
	if (args.sub == BT_SOH_TRAIN) {
		check(run, bt_soh_train(run, &rep));
		if (!args.common.quiet)
			bt_cli_warn("trained on %zu cycles (%zu held out): %u epochs, "
				    "kept epoch %u, soh rmse %.4g training, %.4g "
				    "validation", rep.train_windows, rep.val_windows,
				    rep.epochs_run, rep.best_epoch, rep.train_rmse,
				    rep.val_rmse);
	} else {
		w = bt_cli_open_output(&args.common);
		check(run, bt_soh_write(run, w));
		bt_cli_close_output(w);
	}
	bt_cli_release(run);
	bt_cli_release(r);
	bt_cli_common_free(&args.common);
	return BT_EXIT_OK;
}
