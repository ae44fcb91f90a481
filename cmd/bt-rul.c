/* bt-rul - remaining useful life from a capacity or SoH history.
 *
 * Reads per-cycle rows (cycle and capacity_ah, discharge_capacity_ah or
 * soh), gathers them per cell (--group), and for each cell writes one row
 * with the forecast end of life and its interval.  A fleet file of other
 * cells' histories gives the particle filter its prior.  Cleaning, fitting,
 * filtering and the forecast live in lib/bt_rul; this file reads options
 * and streams, and reports.  It keeps every cell's history in memory.
 */
#include <config.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bt_cli.h"
#include "bt_num.h"
#include "bt_rul.h"

/* The largest count option bt-rul takes (particles, horizon, window). */
#define COUNT_MAX 1e9

/* The capacity columns bt-rul reads, in order of preference. */
static const char *const capacity_columns[] = {
	"capacity_ah", "discharge_capacity_ah", "soh"
};

static const char *const result_columns[] = {
	"model", "cycles", "flagged", "last_cycle", "reference", "eol_level",
	"rmse", "rul_cycles", "rul_lo", "rul_hi", "eol_cycle"
};

static const char *const trajectory_columns[] = {
	"cycle", "forecast", "forecast_lo", "forecast_hi"
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

struct rul_args {
	struct bt_cli_common common;
	struct bt_rul_opts rul;
	const char *input, *fleet, *group, *trajectory;
	double start_cycle;
};

enum {
	OPT_FLEET = 0x200, OPT_START, OPT_EOL, OPT_EOL_CAPACITY, OPT_PF_MODEL,
	OPT_PARTICLES, OPT_SEED, OPT_INTERVAL, OPT_HORIZON, OPT_HAMPEL_WINDOW,
	OPT_HAMPEL_THRESHOLD, OPT_REF_POINTS, OPT_MIN_POINTS, OPT_TREND_Z,
	OPT_TRAJECTORY, OPT_PF_DRIFT, OPT_PF_KNEE
};

static const struct argp_option options[] = {
	{NULL, 0, NULL, 0, "Cells and end of life:", 1},
	{"group", 'g', "COL", 0, "forecast each value of column COL as its own cell", 1},
	{"fleet", OPT_FLEET, "FILE",
	 0, "other cells' histories (grouped by the same COL): the pf prior", 1},
	{"start-cycle", OPT_START, "K", 0, "use only cycles up to K", 1},
	{"eol", OPT_EOL, "FRACTION", 0,
	 "end of life at FRACTION of the reference capacity (default 0.8)", 1},
	{"eol-capacity", OPT_EOL_CAPACITY, "AH", 0,
	 "end of life at this capacity, in the input's unit", 1},
	{"ref-points", OPT_REF_POINTS, "N", 0,
	 "cleaned points averaged for the reference capacity (default 5)", 1},
	{NULL, 0, NULL, 0, "Models:", 2},
	{"model", 'm', "NAME", 0,
	 "linear, exp, dexp, power, auto or pf (default auto)", 2},
	{"pf-model", OPT_PF_MODEL, "LIST", 0,
	 "pf: the models pooled, and life (default linear,exp,power,life)", 2},
	{"pf-drift", OPT_PF_DRIFT, "D", 0,
	 "pf: parameter drift per observation, share of the ensemble covariance (default 0)", 2},
	{"pf-knee", OPT_PF_KNEE, "K", 0,
	 "pf: rises of the fade's pace expected over the history (default 2)", 2},
	{"particles", OPT_PARTICLES, "N", 0,
	 "particles, or samples of a fit (default 4000)", 2},
	{"seed", OPT_SEED, "N", 0, "seed of the sampler (default 1)", 2},
	{"interval", OPT_INTERVAL, "P", 0,
	 "central probability of rul_lo..rul_hi (default 0.9)", 2},
	{"horizon", OPT_HORIZON, "N", 0,
	 "cycles searched beyond the last one (default 2000)", 2},
	{"min-points", OPT_MIN_POINTS, "N", 0,
	 "cleaned points needed for a forecast (default 10)", 2},
	{"trend-z", OPT_TREND_Z, "Z", 0,
	 "standard errors the fade must lie below zero (default 2)", 2},
	{NULL, 0, NULL, 0, "Cleaning and output:", 3},
	{"hampel-window", OPT_HAMPEL_WINDOW, "N", 0,
	 "points in the Hampel filter's window; 0 cleans nothing (default 11)", 3},
	{"hampel-threshold", OPT_HAMPEL_THRESHOLD, "T", 0,
	 "outlier threshold in robust standard deviations (default 3)", 3},
	{"trajectory", OPT_TRAJECTORY, "FILE", 0,
	 "write the forecast capacity path and its band to FILE", 3},
	{NULL, 0, NULL, 0, NULL, 0}
};

static const char args_doc[] = "[FILE]";

static const char doc[] =
	"Forecast the remaining useful life of cells from their per-cycle "
	"capacity (or SoH) histories, with an interval.\v"
	"FILE (or standard input) has a cycle column and capacity_ah, "
	"discharge_capacity_ah or soh (--map names others); rows with an empty "
	"capacity are skipped.  One output row per cell: model, cycles, flagged, "
	"last_cycle, reference, eol_level, rmse, rul_cycles, rul_lo, rul_hi "
	"(empty when the interval is open) and eol_cycle, after the --group "
	"column.  A fleet cell with the forecast cell's name is left out of the "
	"prior, so FILE may be its own fleet.\n\n"
	"Examples:\n"
	"  bt-rul cell.csv\n"
	"  bt-rul -g battery_id --eol-capacity 0.9 -m pf --fleet fleet.csv cells.csv\n"
	"  bt-rul -g battery_id -m pf --fleet cells.csv --trajectory out.csv cells.csv";

/* A whole-number option of at least MIN. */
static size_t
count(struct argp_state *state, const char *arg, const char *opt, double min)
{
	return (size_t)bt_cli_count(state, arg, opt, min, COUNT_MAX);
}

static enum bt_rul_model
model(struct argp_state *state, const char *arg)
{
	enum bt_rul_model m = BT_RUL_AUTO;

	if (bt_rul_model_parse(arg, &m) != BT_OK || m > BT_RUL_PF)
		argp_error(state, "unknown model '%s' (use linear, exp, dexp, power, "
			   "auto or pf)", arg);
	return m;
}

static error_t
parse_opt(int key, char *arg, struct argp_state *state)
{
	struct rul_args *a = state->input;
	struct bt_rul_opts *o = &a->rul;
	double x;

	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = &a->common;
		break;
	case 'g':
		a->group = arg;
		break;
	case OPT_FLEET:
		a->fleet = arg;
		break;
	case OPT_START:
		a->start_cycle = bt_cli_number(state, arg, "--start-cycle");
		break;
	case OPT_EOL:
		o->eol_fraction = bt_cli_number(state, arg, "--eol");
		if (!(o->eol_fraction > 0 && o->eol_fraction < 1))
			argp_error(state, "--eol must lie in (0, 1), not '%s'", arg);
		break;
	case OPT_EOL_CAPACITY:
		o->eol_capacity = bt_cli_number(state, arg, "--eol-capacity");
		break;
	case OPT_REF_POINTS:
		o->ref_points = count(state, arg, "--ref-points", 1);
		break;
	case 'm':
		o->model = model(state, arg);
		break;
	case OPT_PF_MODEL:
		if (bt_rul_models_parse(arg, &o->pf_models) != BT_OK)
			argp_error(state, "invalid model list '%s' (use one or more of linear, "
				   "exp, dexp and power, and life, each once, with commas)", arg);
		break;
	case OPT_PF_DRIFT:
		o->pf_drift = bt_cli_number(state, arg, "--pf-drift");
		if (o->pf_drift < 0)
			argp_error(state, "--pf-drift must not be negative, not '%s'", arg);
		break;
	case OPT_PF_KNEE:
		o->pf_knee = bt_cli_nonnegative(state, arg, "--pf-knee");
		break;
	case OPT_PARTICLES:
		o->particles = count(state, arg, "--particles", 2);
		break;
	case OPT_SEED:
		x = bt_cli_number(state, arg, "--seed");
		if (x != floor(x) || x < 0 || x > 4294967295.0)
			argp_error(state, "invalid seed '%s'", arg);
		o->seed = (uint64_t)x;
		break;
	case OPT_INTERVAL:
		o->interval = bt_cli_number(state, arg, "--interval");
		if (!(o->interval > 0 && o->interval < 1))
			argp_error(state, "--interval must lie in (0, 1), not '%s'", arg);
		break;
	case OPT_HORIZON:
		o->horizon = (double)count(state, arg, "--horizon", 1);
		break;
	case OPT_MIN_POINTS:
		o->min_points = count(state, arg, "--min-points", 3);
		break;
	case OPT_TREND_Z:
		o->trend_z = bt_cli_number(state, arg, "--trend-z");
		if (o->trend_z < 0)
			argp_error(state, "--trend-z must not be negative, not '%s'", arg);
		break;
	case OPT_HAMPEL_WINDOW:
		o->hampel_window = count(state, arg, "--hampel-window", 0);
		break;
	case OPT_HAMPEL_THRESHOLD:
		o->hampel_threshold = bt_cli_positive(state, arg, "--hampel-threshold");
		break;
	case OPT_TRAJECTORY:
		a->trajectory = arg;
		break;
	case ARGP_KEY_ARG:
		if (a->input != NULL)
			argp_error(state, "extra operand '%s'", arg);
		a->input = arg;
		break;
	case ARGP_KEY_END:
		if (a->fleet != NULL && o->model != BT_RUL_PF)
			argp_error(state, "--fleet needs --model pf");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp argp = {options, parse_opt, args_doc, doc,
				 bt_cli_children, NULL, NULL};

static void
free_fleet(void *f)
{
	bt_rul_fleet_free(f);
}

/* Read the cells of PATH up to cycle LIMIT. */
static struct bt_rul_fleet *
read_cells(const char *path, const struct rul_args *a, double limit)
{
	struct bt_reader_opts ropts = bt_cli_reader_opts(&a->common);
	struct bt_reader *r = bt_cli_open_input(path, &ropts);
	struct bt_rul_fleet *cs = bt_rul_fleet_alloc();
	size_t kcol, ccol, i, len, glen, rows = 0;
	const struct bt_rul_cell *c;
	const char *gtext;
	double k, y;
	enum bt_status st;
	long col = -1, gcol = -1;

	if (cs == NULL)
		bt_cli_die("%s", bt_strerror(BT_ENOMEM));
	bt_cli_hold(cs, free_fleet);
	bt_cli_check(r, bt_reader_require(r, "cycle", &kcol));
	for (i = 0; i < NELEM(capacity_columns) && col < 0; i++)
		col = bt_reader_find(r, capacity_columns[i]);
	if (col < 0)
		bt_cli_die("%s: no capacity column (capacity_ah, discharge_capacity_ah "
			   "or soh; --map names another)", bt_reader_filename(r));
	ccol = (size_t)col;
	/* Without a group column the input is one cell named after its file,
	 * so that a fleet file is never taken for the forecast cell. */
	gtext = bt_reader_filename(r);
	glen = strlen(gtext);
	if (a->group != NULL) {
		bt_cli_check(r, bt_reader_require(r, a->group, &i));
		gcol = (long)i;
	}
	while ((st = bt_reader_next(r)) == BT_OK) {
		rows++;
		bt_cli_check(r, bt_reader_finite(r, kcol, &k));
		bt_cli_check(r, bt_reader_number(r, ccol, &y));
		if (!isfinite(y) || k > limit)
			continue;
		if (gcol >= 0)
			gtext = bt_reader_text(r, (size_t)gcol, &glen);
		st = bt_rul_fleet_point(cs, gtext, glen, k, y, &c);
		if (st == BT_EINVAL) {
			gtext = bt_reader_text(r, kcol, &len);
			bt_cli_check(r, bt_reader_fail(r, st,
				"cycle '%.*s' does not increase%s%s%s", (int)len, gtext,
				gcol >= 0 ? " in cell '" : "",
				gcol >= 0 ? bt_rul_cell_name(c) : "", gcol >= 0 ? "'" : ""));
		}
		if (st != BT_OK)
			bt_cli_die("%s", bt_strerror(st));
	}
	bt_cli_check(r, st == BT_EOF ? BT_OK : st);
	if (rows == 0)
		bt_cli_die("%s: no data rows after the header", bt_reader_filename(r));
	if (bt_rul_fleet_size(cs) == 0)
		bt_cli_die("%s: no rows with a capacity%s", bt_reader_filename(r),
			   isfinite(limit) ? " up to --start-cycle" : "");
	bt_cli_release(r);
	return cs;
}

static void
header(struct bt_writer *w, const char *group, const char *const *cols, size_t n)
{
	if (group != NULL)
		bt_writer_text(w, group, strlen(group));
	bt_writer_names(w, cols, n);
	bt_cli_end_row(w);
}

/* Write one cell's result row; ST is the forecast's status. */
static void
write_result(struct bt_writer *w, const struct rul_args *a,
	     const struct bt_rul_cell *c, const struct bt_rul_result *res,
	     enum bt_status st)
{
	char name[64] = "";

	if (a->group != NULL)
		bt_writer_text(w, bt_rul_cell_name(c), strlen(bt_rul_cell_name(c)));
	if (st == BT_OK)
		bt_rul_result_model(res, name, sizeof name);
	bt_writer_text(w, name, strlen(name));
	bt_writer_number(w, (double)res->points);
	bt_writer_number(w, (double)res->flagged);
	bt_writer_number(w, res->last_cycle);
	bt_writer_number_or_empty(w, st == BT_OK || res->reference > 0 ? res->reference : NAN);
	bt_writer_number_or_empty(w, st == BT_OK || res->reference > 0 ? res->eol_level : NAN);
	bt_writer_number_or_empty(w, res->rmse);
	bt_writer_number_or_empty(w, res->rul);
	bt_writer_number_or_empty(w, res->rul_lo);
	bt_writer_number_or_empty(w, res->rul_hi);
	bt_writer_number_or_empty(w, res->eol_cycle);
	bt_cli_end_row(w);
}

static void
write_trajectory(struct bt_writer *w, const struct rul_args *a,
		 const struct bt_rul_cell *c, const struct bt_rul_trajectory *t)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		if (a->group != NULL)
			bt_writer_text(w, bt_rul_cell_name(c), strlen(bt_rul_cell_name(c)));
		bt_writer_number(w, t->cycle[i]);
		bt_writer_number(w, t->median[i]);
		bt_writer_number(w, t->lo[i]);
		bt_writer_number(w, t->hi[i]);
		bt_cli_end_row(w);
	}
}

/* Forecast every cell; returns the number that could not be forecast. */
static size_t
run_rul(const struct rul_args *a, const struct bt_rul_fleet *cs,
	const struct bt_rul_fleet *fleet, struct bt_writer *w,
	struct bt_writer *tw)
{
	struct bt_rul_trajectory t;
	struct bt_rul_result res;
	enum bt_status st;
	size_t i, failed = 0;
	char who[BT_ERRMSG_SIZE];

	header(w, a->group, result_columns, NELEM(result_columns));
	if (tw != NULL)
		header(tw, a->group, trajectory_columns, NELEM(trajectory_columns));
	for (i = 0; i < bt_rul_fleet_size(cs); i++) {
		const struct bt_rul_cell *c = bt_rul_fleet_cell(cs, i);

		snprintf(who, sizeof who, a->group != NULL ? "cell '%s'" : "%s",
			 a->group != NULL ? bt_rul_cell_name(c)
			 : a->input != NULL ? a->input : "(standard input)");
		st = bt_rul_forecast(c, fleet, &a->rul, &res, tw != NULL ? &t : NULL);
		if (st == BT_ENOMEM)
			bt_cli_die("%s", bt_strerror(st));
		if (st != BT_OK) {
			bt_cli_warn("%s: %s", who, res.message[0] ? res.message : bt_strerror(st));
			failed++;
		} else if (a->common.quiet) {
			/* Say nothing. */
		} else if (res.reached) {
			bt_cli_warn("%s: end of life already reached at cycle %g",
				    who, res.eol_cycle);
		} else if (isnan(res.rul)) {
			bt_cli_warn("%s: the median forecast does not reach end of life "
				    "within %g cycles", who, a->rul.horizon);
		} else if (res.open) {
			bt_cli_warn("%s: the interval has no upper end within %g cycles "
				    "(rul_hi left empty)", who, a->rul.horizon);
		}
		write_result(w, a, c, &res, st);
		if (tw != NULL && st == BT_OK) {
			write_trajectory(tw, a, c, &t);
			bt_rul_trajectory_free(&t);
		}
	}
	return failed;
}

int
main(int argc, char **argv)
{
	struct rul_args args;
	struct bt_rul_fleet *fleet = NULL, *cs;
	struct bt_writer *w, *tw = NULL;
	size_t failed;

	bt_cli_init("bt-rul");
	memset(&args, 0, sizeof args);
	bt_rul_opts_init(&args.rul);
	args.start_cycle = INFINITY;
	argp_parse(&argp, argc, argv, 0, NULL, &args);

	/* The fleet is read in full; the input up to --start-cycle. */
	if (args.fleet != NULL)
		fleet = read_cells(args.fleet, &args, INFINITY);
	cs = read_cells(args.input, &args, args.start_cycle);
	w = bt_cli_open_output(&args.common);
	if (args.trajectory != NULL)
		tw = bt_cli_open_file(args.trajectory, &args.common);
	failed = run_rul(&args, cs, fleet, w, tw);
	if (tw != NULL)
		bt_cli_close_output(tw);
	bt_cli_close_output(w);
	bt_cli_release(cs);
	bt_cli_release(fleet);
	bt_cli_common_free(&args.common);
	return failed ? BT_EXIT_FAILURE : BT_EXIT_OK;
}
