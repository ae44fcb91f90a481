/* bt-soh - per-cycle health of cells: capacity, energy, coulombic
 * efficiency, resistance and state of health.
 *
 * Subcommands: cycles streams a time series through the per-cycle
 * accumulator and the state-of-health stage (lib/bt_cycle) and writes one
 * row per cycle; history reads a table that already has one row per cycle
 * and adds soh and the outlier flag.  This file reads options, wires the
 * pieces and reports.
 */
#include <config.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bt_cli.h"
#include "bt_cycle.h"
#include "bt_num.h"

enum sub { CYCLES, HISTORY, NSUB };
static const char *const sub_names[NSUB] = {"cycles", "history"};

/* The columns of cycles before the resistances, and of history. */
static const char *const cycle_columns[] = {
	"cycle", "start_time_s", "duration_s", "samples", "capacity_ah",
	"energy_wh", "soh", "flag", "discharge_ah", "charge_ah", "discharge_wh",
	"charge_wh", "coulombic_efficiency", "voltage_mean_v", "voltage_min_v",
	"voltage_max_v", "temperature_mean_c", "temperature_min_c",
	"temperature_max_c"
};
static const char *const history_columns[] = {"cycle", "capacity_ah", "soh", "flag"};
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* The capacity columns history reads, in order of preference (as bt-rul). */
static const char *const capacity_names[] = {"capacity_ah", "discharge_capacity_ah"};

struct soh_args {
	struct bt_cli_common common;
	int sub;			/* -1 until given */
	const char *input, *group, *capacity;
	int delays_given;
	struct bt_cycle_opts cyc;
	struct bt_cycle_health_opts health;
};

enum {
	OPT_CUTOFF = 0x200, OPT_DELAY, OPT_REST, OPT_STEP, OPT_HOLD, OPT_START,
	OPT_REFERENCE, OPT_REF_CYCLES, OPT_FLAG_WINDOW, OPT_FLAG_THRESHOLD,
	OPT_CAPACITY
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
	{"rest-current", OPT_REST, "A", 0, "cycles: |current| below A is a rest "
	 "(default 0.01)", 1},
	{"cycle-start", OPT_START, "DIR", 0, "cycles, without a cycle column: "
	 "cycles begin with a discharge or a charge (default discharge)", 1},
	{"capacity", OPT_CAPACITY, "COL", 0, "history: the capacity column "
	 "(default capacity_ah, else discharge_capacity_ah)", 1},
	{NULL, 0, NULL, 0, "State of health:", 2},
	{"reference-capacity", OPT_REFERENCE, "AH", 0, "soh = capacity / AH "
	 "(default: the median of the first cycles)", 2},
	{"reference-cycles", OPT_REF_CYCLES, "N", 0, "cycles whose median capacity "
	 "is the reference (default 5)", 2},
	{"flag-window", OPT_FLAG_WINDOW, "N", 0, "cycles in the Hampel window of "
	 "the outlier flag, odd; 0 flags nothing (default 11)", 2},
	{"flag-threshold", OPT_FLAG_THRESHOLD, "K", 0, "flag a capacity more than K "
	 "robust standard deviations from the window median (default 3)", 2},
	{NULL, 0, NULL, 0, NULL, 0}
};

static const char args_doc[] = "SUBCOMMAND [FILE]";

static const char doc[] =
	"Per-cycle health of battery cells: capacity, energy, coulombic "
	"efficiency, DC resistance and state of health.\v"
	"SUBCOMMAND is cycles or history.  cycles reads time_s, current_a "
	"(positive = charge) and voltage_v, with temperature_c and cycle when "
	"present (without cycle, cycles are found from the current's sign), "
	"and writes one row per cycle: cycle, start_time_s, duration_s, samples, "
	"capacity_ah, energy_wh, soh, flag, discharge_ah, charge_ah, "
	"discharge_wh, charge_wh, coulombic_efficiency, voltage_mean_v, "
	"voltage_min_v, voltage_max_v, temperature_mean_c, temperature_min_c, "
	"temperature_max_c and r_dc_<S>s_ohm per delay.  history reads one row "
	"per cycle (cycle and a capacity) and writes cycle, capacity_ah, soh, "
	"flag.\n\n"
	"Examples:\n"
	"  bt-soh cycles --cutoff-v 3.2 cycles.csv.gz > health.csv\n"
	"  bt-soh cycles -p 5 cycles.csv.gz | cut -d, -f1,5,7,20,21\n"
	"  bt-soh history --reference-capacity 1.1 per_cycle.csv";

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
	case OPT_REST: c->rest_a = bt_cli_nonnegative(state, arg, "--rest-current"); break;
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
			argp_error(state, "no subcommand (use cycles or history)");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp argp = {options, parse_opt, args_doc, doc,
				 bt_cli_children, NULL, NULL};

/* The cell a row belongs to: the text of the group column, kept while its
 * rows last (allocated once per cell, not per row). */
struct cell {
	long col;		/* -1 without --group */
	char *name;
	size_t len, size;
	int started;
};

static void
free_cell(void *p)
{
	free(((struct cell *)p)->name);
}

/* Whether the current row starts a new cell. */
static int
new_cell(const struct cell *c, const struct bt_reader *r)
{
	size_t len;
	const char *s;

	if (!c->started)
		return 1;
	if (c->col < 0)
		return 0;
	s = bt_reader_text(r, (size_t)c->col, &len);
	return len != c->len || memcmp(s, c->name, len) != 0;
}

/* Remember the current row's cell, once its predecessor is written. */
static void
set_cell(struct cell *c, const struct bt_reader *r)
{
	size_t len = 0;
	const char *s = c->col < 0 ? "" : bt_reader_text(r, (size_t)c->col, &len);
	char *p;

	if (len + 1 > c->size) {
		if ((p = realloc(c->name, len + 1)) == NULL)
			bt_cli_die("out of memory");
		c->name = p;
		c->size = len + 1;
	}
	memcpy(c->name, s, len);
	c->len = len;
	c->started = 1;
}

static void
free_cycle(void *p)
{
	bt_cycle_free(p);
}

static void
free_health(void *p)
{
	bt_cycle_health_free(p);
}

static void
write_header(struct bt_writer *w, const struct soh_args *a)
{
	char name[BT_NUM_BUFSIZE + 16], num[BT_NUM_BUFSIZE];
	size_t j;

	if (a->group != NULL)
		bt_writer_text(w, a->group, strlen(a->group));
	if (a->sub == HISTORY) {
		bt_writer_names(w, history_columns, NELEM(history_columns));
	} else {
		bt_writer_names(w, cycle_columns, NELEM(cycle_columns));
		for (j = 0; j < a->cyc.ndelays; j++) {
			bt_num_format(a->cyc.delay_s[j], 0, num);
			snprintf(name, sizeof name, "r_dc_%ss_ohm", num);
			bt_writer_text(w, name, strlen(name));
		}
	}
	bt_cli_end_row(w);
}

/* Write every cycle the health stage lets out. */
static void
drain(struct bt_cycle_health *h, struct bt_writer *w, const struct soh_args *a,
      const struct cell *cell)
{
	struct bt_cycle_health_row row;
	const struct bt_cycle_result *c = &row.result;
	size_t j;

	while (bt_cycle_health_pop(h, &row) == BT_OK) {
		if (a->group != NULL)
			bt_writer_text(w, cell->name, cell->len);
		bt_writer_number(w, c->cycle);
		if (a->sub == CYCLES) {
			bt_writer_number_or_empty(w, c->start_time_s);
			bt_writer_number_or_empty(w, c->duration_s);
			bt_writer_number(w, (double)c->samples);
		}
		bt_writer_number_or_empty(w, c->capacity_ah);
		if (a->sub == CYCLES)
			bt_writer_number_or_empty(w, c->energy_wh);
		bt_writer_number_or_empty(w, row.soh);
		if (row.flag < 0)
			bt_writer_empty(w);
		else
			bt_writer_raw(w, row.flag ? "1" : "0", 1);
		if (a->sub == CYCLES) {
			const double v[] = {
				c->discharge_ah, c->charge_ah, c->discharge_wh,
				c->charge_wh, c->coulombic_efficiency,
				c->voltage_mean_v, c->voltage_min_v, c->voltage_max_v,
				c->temperature_mean_c, c->temperature_min_c,
				c->temperature_max_c
			};

			for (j = 0; j < NELEM(v); j++)
				bt_writer_number_or_empty(w, v[j]);
			for (j = 0; j < a->cyc.ndelays; j++)
				bt_writer_number_or_empty(w, c->r_dc_ohm[j]);
		}
		bt_cli_end_row(w);
	}
}

static void
end_cell(struct bt_cycle_health *h, struct bt_cycle *acc, struct bt_writer *w,
	 const struct soh_args *a, const struct cell *cell)
{
	struct bt_cycle_result res;

	if (acc != NULL && bt_cycle_samples(acc) > 0) {
		bt_cycle_result(acc, &res);
		bt_cycle_health_push(h, &res);
		drain(h, w, a, cell);
	}
	bt_cycle_health_finish(h);
	drain(h, w, a, cell);
}

/* cycles: a time series in, one row per cycle out. */
static unsigned long
run_cycles(const struct soh_args *a, struct bt_reader *r, struct bt_writer *w,
	   struct bt_cycle_health *h, struct cell *cell)
{
	size_t tcol, icol, vcol;
	long temp_col = bt_reader_find(r, "temperature_c");
	long cyc_col = bt_reader_find(r, "cycle");
	double t, i, v, temp = NAN, k = 1, kprev = NAN, tprev = 0;
	char x[BT_NUM_BUFSIZE], y[BT_NUM_BUFSIZE];
	struct bt_cycle *acc;
	struct bt_cycle_result res;
	unsigned long rows = 0;
	enum bt_status st;
	int fresh, linked;

	bt_cli_check(r, bt_reader_require(r, "time_s", &tcol));
	bt_cli_check(r, bt_reader_require(r, "current_a", &icol));
	bt_cli_check(r, bt_reader_require(r, "voltage_v", &vcol));
	if (bt_cycle_alloc(&acc, &a->cyc) != BT_OK)
		bt_cli_die("out of memory");
	bt_cli_hold(acc, free_cycle);
	while ((st = bt_reader_next(r)) == BT_OK) {
		bt_cli_check(r, bt_reader_finite(r, tcol, &t));
		bt_cli_check(r, bt_reader_finite(r, icol, &i));
		bt_cli_check(r, bt_reader_finite(r, vcol, &v));
		if (temp_col >= 0)
			bt_cli_check(r, bt_reader_number(r, (size_t)temp_col, &temp));
		if (cyc_col >= 0)
			bt_cli_check(r, bt_reader_finite(r, (size_t)cyc_col, &k));
		fresh = linked = 0;
		if (new_cell(cell, r)) {
			if (rows > 0)
				end_cell(h, acc, w, a, cell);
			set_cell(cell, r);
			fresh = 1;
			if (cyc_col < 0)
				k = 1;
		} else if (cyc_col >= 0 ? k != kprev : bt_cycle_starts(acc, i)) {
			bt_cycle_result(acc, &res);
			bt_cycle_health_push(h, &res);
			drain(h, w, a, cell);
			fresh = 1;
			if (cyc_col < 0) {
				k++;
				linked = 1;
			}
		}
		if (fresh)
			bt_cycle_begin(acc, k, linked);
		if (bt_cycle_add(acc, t, i, v, temp) != BT_OK) {
			bt_num_format(tprev, 0, x);
			bt_num_format(t, 0, y);
			bt_reader_fail(r, BT_ETIME, "time goes backwards from %s to %s "
				       "in column 'time_s' within a cycle", x, y);
			bt_cli_die("%s", bt_reader_errmsg(r));
		}
		kprev = k;
		tprev = t;
		rows++;
	}
	if (st != BT_EOF)
		bt_cli_check(r, st);
	if (rows > 0)
		end_cell(h, acc, w, a, cell);
	bt_cli_release(acc);
	return rows;
}

/* history: one row per cycle in, with soh and the flag out. */
static unsigned long
run_history(const struct soh_args *a, struct bt_reader *r, struct bt_writer *w,
	    struct bt_cycle_health *h, struct cell *cell)
{
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
		if (new_cell(cell, r)) {
			if (rows > 0)
				end_cell(h, NULL, w, a, cell);
			set_cell(cell, r);
		}
		bt_cycle_health_push(h, &res);
		drain(h, w, a, cell);
		rows++;
	}
	if (st != BT_EOF)
		bt_cli_check(r, st);
	if (rows > 0)
		end_cell(h, NULL, w, a, cell);
	return rows;
}

int
main(int argc, char **argv)
{
	struct soh_args args;
	struct bt_reader_opts ropts;
	struct bt_reader *r;
	struct bt_writer *w;
	struct bt_cycle_health *h;
	struct cell cell = {-1, NULL, 0, 0, 0};
	unsigned long rows;

	bt_cli_init("bt-soh");
	memset(&args, 0, sizeof args);
	args.sub = -1;
	bt_cycle_opts_init(&args.cyc);
	bt_cycle_health_opts_init(&args.health);
	argp_parse(&argp, argc, argv, 0, NULL, &args);

	ropts = bt_cli_reader_opts(&args.common);
	r = bt_cli_open_input(args.input, &ropts);
	if (args.group != NULL) {
		size_t g;

		bt_cli_check(r, bt_reader_require(r, args.group, &g));
		cell.col = (long)g;
	}
	if (bt_cycle_health_alloc(&h, &args.health) != BT_OK)
		bt_cli_die("out of memory");
	bt_cli_hold(h, free_health);
	bt_cli_hold(&cell, free_cell);
	w = bt_cli_open_output(&args.common);
	write_header(w, &args);
	if (args.sub == CYCLES)
		rows = run_cycles(&args, r, w, h, &cell);
	else
		rows = run_history(&args, r, w, h, &cell);
	if (rows == 0)
		bt_cli_die("%s: no data rows after the header", bt_reader_filename(r));
	bt_cli_close_output(w);
	bt_cli_release(&cell);
	bt_cli_release(h);
	bt_cli_release(r);
	bt_cli_common_free(&args.common);
	return BT_EXIT_OK;
}
