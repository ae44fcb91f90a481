/* bt-soh - per-cycle health of cells: capacity, energy, coulombic
 * efficiency, resistance and state of health; incremental capacity.
 *
 * Subcommands: cycles streams a time series through the per-cycle
 * accumulator and the state-of-health stage (lib/bt_cycle) and writes one
 * row per cycle; history reads a table that already has one row per cycle
 * and adds soh and the outlier flag; ica writes each cycle's dQ/dV and
 * dV/dQ curves or their peaks (lib/bt_ica).  This file reads options,
 * wires the pieces and reports.
 */
#include <config.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bt_cli.h"
#include "bt_cycle.h"
#include "bt_ica.h"
#include "bt_num.h"

enum sub { CYCLES, HISTORY, ICA, NSUB };
static const char *const sub_names[NSUB] = {"cycles", "history", "ica"};
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* The capacity columns history reads, in order of preference (as bt-rul). */
static const char *const capacity_names[] = {"capacity_ah", "discharge_capacity_ah"};

struct soh_args {
	struct bt_cli_common common;
	int sub;			/* -1 until given */
	const char *input, *group, *capacity;
	int delays_given, peaks;
	struct bt_cycle_opts cyc;
	struct bt_ica_opts ica;
	struct bt_cycle_health_opts health;
};

enum {
	OPT_CUTOFF = 0x200, OPT_DELAY, OPT_REST, OPT_STEP, OPT_HOLD, OPT_START,
	OPT_REFERENCE, OPT_REF_CYCLES, OPT_FLAG_WINDOW, OPT_FLAG_THRESHOLD,
	OPT_CAPACITY, OPT_BIN, OPT_SMOOTH, OPT_PEAKS, OPT_PROMINENCE
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
	{NULL, 0, NULL, 0, "State of health (cycles, history):", 3},
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
	"SUBCOMMAND is cycles, history or ica.  cycles and ica read time_s, current_a "
	"(positive = charge) and voltage_v, with temperature_c and cycle when "
	"present (without cycle, cycles are found from the current's sign), "
	"and writes one row per cycle: cycle, start_time_s, duration_s, samples, "
	"capacity_ah, energy_wh, soh, flag, discharge_ah, charge_ah, "
	"discharge_wh, charge_wh, coulombic_efficiency, voltage_mean_v, "
	"voltage_min_v, voltage_max_v, temperature_mean_c, temperature_min_c, "
	"temperature_max_c and r_dc_<S>s_ohm per delay.  history reads one row "
	"per cycle (cycle and a capacity) and writes cycle, capacity_ah, soh, "
	"flag.  ica writes cycle, direction, voltage_v, capacity_ah, "
	"dqdv_ah_per_v, dvdq_v_per_ah per voltage bin, or with --peaks cycle, "
	"direction, peak, voltage_v, height_ah_per_v, area_ah, width_v.\n\n"
	"Examples:\n"
	"  bt-soh cycles --cutoff-v 3.2 cycles.csv.gz > health.csv\n"
	"  bt-soh cycles -p 5 cycles.csv.gz | cut -d, -f1,5,7,20,21\n"
	"  bt-soh history --reference-capacity 1.1 per_cycle.csv\n"
	"  bt-soh ica --peaks cycles.csv.gz";

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
			argp_error(state, "no subcommand (use cycles, history or ica)");
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

/* One run: the output, the stages, and the cell a row belongs to (the text
 * of the group column, kept while its rows last: allocated once per cell,
 * not per row). */
struct run {
	const struct soh_args *a;
	struct bt_writer *w;
	struct bt_cycle_health *health;
	struct bt_cycle *acc;
	struct bt_ica *ica;
	long group_col;		/* -1 without --group */
	char *name;
	size_t len, size;
	int started;
};

static void
free_run(void *p)
{
	struct run *run = p;

	bt_cycle_health_free(run->health);
	bt_cycle_free(run->acc);
	bt_ica_free(run->ica);
	free(run->name);
}

/* Whether the current row starts a new cell. */
static int
new_cell(const struct run *run, const struct bt_reader *r)
{
	size_t len;
	const char *s;

	if (!run->started)
		return 1;
	if (run->group_col < 0)
		return 0;
	s = bt_reader_text(r, (size_t)run->group_col, &len);
	return len != run->len || memcmp(s, run->name, len) != 0;
}

/* Remember the current row's cell, once its predecessor is written. */
static void
set_cell(struct run *run, const struct bt_reader *r)
{
	size_t len = 0;
	const char *s = run->group_col < 0 ? ""
			: bt_reader_text(r, (size_t)run->group_col, &len);
	char *p;

	if (len + 1 > run->size) {
		if ((p = realloc(run->name, len + 1)) == NULL)
			bt_cli_die("out of memory");
		run->name = p;
		run->size = len + 1;
	}
	memcpy(run->name, s, len);
	run->len = len;
	run->started = 1;
}

/* Write every cycle the health stage lets out. */
static void
drain(struct run *run)
{
	struct bt_cycle_health_row row;

	while (bt_cycle_health_pop(run->health, &row) == BT_OK) {
		bt_cycle_write_row(run->w, run->a->group ? run->name : NULL, run->len,
				   &row, &run->a->cyc, run->a->sub == HISTORY);
		bt_cli_end_row(run->w);
	}
}

/* The cycle under way is complete: write it (ica) or pass it on. */
static void
end_cycle(struct run *run, double cycle)
{
	struct bt_cycle_result res;
	enum bt_status st;

	if (run->ica != NULL) {
		st = bt_ica_write_cycle(run->ica, run->w, run->a->group ? run->name : NULL,
					run->len, cycle, run->a->peaks);
		if (st == BT_ENOMEM)
			bt_cli_die("out of memory");
		if (st != BT_OK)
			bt_cli_die("%s", bt_writer_errmsg(run->w));
		return;
	}
	bt_cycle_result(run->acc, &res);
	bt_cycle_health_push(run->health, &res);
	drain(run);
}

static void
end_cell(struct run *run)
{
	bt_cycle_health_finish(run->health);
	drain(run);
}

/* cycles, ica: a time series in, one row per cycle (or per bin or peak)
 * out. */
static unsigned long
run_series(struct run *run, struct bt_reader *r)
{
	size_t tcol, icol, vcol;
	long temp_col = bt_reader_find(r, "temperature_c");
	long cyc_col = bt_reader_find(r, "cycle");
	double t, i, v, temp = NAN, k = 1, kprev = NAN, tprev = 0;
	char x[BT_NUM_BUFSIZE], y[BT_NUM_BUFSIZE];
	unsigned long rows = 0;
	enum bt_status st;
	int fresh, linked;

	bt_cli_check(r, bt_reader_require(r, "time_s", &tcol));
	bt_cli_check(r, bt_reader_require(r, "current_a", &icol));
	bt_cli_check(r, bt_reader_require(r, "voltage_v", &vcol));
	while ((st = bt_reader_next(r)) == BT_OK) {
		bt_cli_check(r, bt_reader_finite(r, tcol, &t));
		bt_cli_check(r, bt_reader_finite(r, icol, &i));
		bt_cli_check(r, bt_reader_finite(r, vcol, &v));
		if (temp_col >= 0)
			bt_cli_check(r, bt_reader_number(r, (size_t)temp_col, &temp));
		if (cyc_col >= 0)
			bt_cli_check(r, bt_reader_finite(r, (size_t)cyc_col, &k));
		fresh = linked = 0;
		if (new_cell(run, r)) {
			if (rows > 0) {
				end_cycle(run, kprev);
				end_cell(run);
			}
			set_cell(run, r);
			fresh = 1;
			if (cyc_col < 0)
				k = 1;
		} else if (cyc_col >= 0 ? k != kprev : bt_cycle_starts(run->acc, i)) {
			end_cycle(run, kprev);
			fresh = 1;
			if (cyc_col < 0) {
				k++;
				linked = 1;
			}
		}
		if (fresh)
			bt_cycle_begin(run->acc, k, linked);
		st = bt_cycle_add(run->acc, t, i, v, temp);
		if (st == BT_OK && run->ica != NULL)
			st = bt_ica_add(run->ica, t, i, v);
		if (st == BT_ETIME) {
			bt_num_format(tprev, 0, x);
			bt_num_format(t, 0, y);
			bt_reader_fail(r, st, "time goes backwards from %s to %s "
				       "in column 'time_s' within a cycle", x, y);
		} else if (st == BT_ERANGE) {
			bt_reader_fail(r, st, "voltage '%g' spans more than %u bins of "
				       "--bin-v in one cycle", v, BT_ICA_MAX_BINS);
		} else if (st != BT_OK) {
			bt_cli_die("out of memory");
		}
		if (st != BT_OK)
			bt_cli_die("%s", bt_reader_errmsg(r));
		kprev = k;
		tprev = t;
		rows++;
	}
	if (st != BT_EOF)
		bt_cli_check(r, st);
	if (rows > 0) {
		end_cycle(run, kprev);
		end_cell(run);
	}
	return rows;
}

/* history: one row per cycle in, with soh and the flag out. */
static unsigned long
run_history(struct run *run, struct bt_reader *r)
{
	const struct soh_args *a = run->a;
	size_t kcol, qcol, j;
	long found = -1;
	struct bt_cycle_result res;
	unsigned long rows = 0;
	enum bt_status st;

	bt_cli_check(r, bt_reader_require(r, "cycle", &kcol));
	if (a->capacity != NULL)
		bt_cli_check(r, bt_reader_require(r, a->capacity, &qcol));
	for (j = 0; a->capacity == NULL && found < 0 && j < NELEM(capacity_names); j++)
		found = bt_reader_find(r, capacity_names[j]);
	if (a->capacity == NULL) {
		if (found < 0)
			bt_cli_check(r, bt_reader_require(r, capacity_names[0], &qcol));
		qcol = (size_t)found;
	}
	memset(&res, 0, sizeof res);
	while ((st = bt_reader_next(r)) == BT_OK) {
		bt_cli_check(r, bt_reader_finite(r, kcol, &res.cycle));
		bt_cli_check(r, bt_reader_number(r, qcol, &res.capacity_ah));
		if (new_cell(run, r)) {
			if (rows > 0)
				end_cell(run);
			set_cell(run, r);
		}
		bt_cycle_health_push(run->health, &res);
		drain(run);
		rows++;
	}
	if (st != BT_EOF)
		bt_cli_check(r, st);
	if (rows > 0)
		end_cell(run);
	return rows;
}

int
main(int argc, char **argv)
{
	struct soh_args args;
	struct bt_reader_opts ropts;
	struct bt_reader *r;
	struct run run;
	unsigned long rows;
	size_t g;

	bt_cli_init("bt-soh");
	memset(&args, 0, sizeof args);
	args.sub = -1;
	bt_cycle_opts_init(&args.cyc);
	bt_cycle_health_opts_init(&args.health);
	bt_ica_opts_init(&args.ica);
	argp_parse(&argp, argc, argv, 0, NULL, &args);

	ropts = bt_cli_reader_opts(&args.common);
	r = bt_cli_open_input(args.input, &ropts);
	memset(&run, 0, sizeof run);
	run.a = &args;
	run.group_col = -1;
	bt_cli_hold(&run, free_run);
	if (args.group != NULL) {
		bt_cli_check(r, bt_reader_require(r, args.group, &g));
		run.group_col = (long)g;
	}
	if (bt_cycle_health_alloc(&run.health, &args.health) != BT_OK
	    || bt_cycle_alloc(&run.acc, &args.cyc) != BT_OK
	    || (args.sub == ICA && bt_ica_alloc(&run.ica, &args.ica) != BT_OK))
		bt_cli_die("out of memory");
	run.w = bt_cli_open_output(&args.common);
	if (args.sub == ICA)
		bt_ica_write_names(run.w, args.group, args.peaks);
	else
		bt_cycle_write_names(run.w, args.group, &args.cyc, args.sub == HISTORY);
	bt_cli_end_row(run.w);
	rows = args.sub == HISTORY ? run_history(&run, r) : run_series(&run, r);
	if (rows == 0)
		bt_cli_die("%s: no data rows after the header", bt_reader_filename(r));
	bt_cli_close_output(run.w);
	bt_cli_release(&run);
	bt_cli_release(r);
	bt_cli_common_free(&args.common);
	return BT_EXIT_OK;
}
