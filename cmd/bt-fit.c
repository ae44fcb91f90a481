/* bt-fit - identify an equivalent-circuit model from pulse (HPPC) tests,
 * open-circuit-voltage tests or whole drive cycles.
 *
 * Reads the tests (files or standard input), hands them to lib/bt_fit, and
 * writes what it returns: the model (bt-ecm(5)) or, in ocv mode, the OCV
 * table; on request the per-segment report and C lookup tables.  All the
 * numerics are in lib/bt_fit; this file holds options, I/O wiring and
 * messages.
 */
#include <config.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bt_cli.h"
#include "bt_ecm.h"
#include "bt_fit.h"
#include "bt_num.h"

/* The most input files (each with its --temperature). */
#define MAX_FILES 16

/* The default name of the C lookup tables. */
#define DEFAULT_LUT_PREFIX "cell"

struct fit_args {
	struct bt_cli_common common;
	struct bt_fit_opts fit;
	const char *files[MAX_FILES];
	double temps[MAX_FILES];
	size_t nfiles, ntemps;
	const char *ocv, *init, *report, *lut, *lut_prefix;
	double grid[BT_FIT_MAX_GRID];
};

enum {
	OPT_MODE = 0x200, OPT_RC, OPT_SOC0, OPT_CAPACITY, OPT_TEMPERATURE,
	OPT_REST_CURRENT, OPT_MIN_REST, OPT_CV_TAPER, OPT_SOC_GRID, OPT_OCV,
	OPT_INIT, OPT_SMOOTH, OPT_POOL, OPT_MAX_C_RATE, OPT_MAX_ITER, OPT_REPORT,
	OPT_LUT_C, OPT_LUT_PREFIX, OPT_TEMPERATURE_TOL, OPT_OCV_SPAN, OPT_HOLD
};

static const struct argp_option options[] = {
	{NULL, 0, NULL, 0, "Fit:", 1},
	{"mode", OPT_MODE, "MODE", 0, "hppc (default), ocv or profile", 1},
	{"rc", OPT_RC, "N", 0, "RC pairs of the model, 1 to 3 (default 2)", 1},
	{"soc0", OPT_SOC0, "X", 0,
	 "state of charge of the first row, of its first temperature level only "
	 "(default: the end of the last constant-voltage charge before the first "
	 "discharge is full)", 1},
	{"capacity", OPT_CAPACITY, "AH", 0,
	 "capacity in Ah (default: the charge the test removes after the "
	 "reference, the test taken to end empty)", 1},
	{"temperature", OPT_TEMPERATURE, "C", 0,
	 "temperature of the next input file (repeat per file; default: the "
	 "temperature_c column, or 25)", 1},
	{"temperature-tolerance", OPT_TEMPERATURE_TOL, "C", 0,
	 "segments closer than C share a temperature level (default 3)", 1},
	{"level-hold", OPT_HOLD, "S", 0, "a temperature held S seconds is a "
	 "level of one input, split apart (default 3600)", 1},
	{"rest-current", OPT_REST_CURRENT, "A", 0,
	 "largest |current| of a rest (default: 1% of the largest |current|)", 1},
	{"min-rest", OPT_MIN_REST, "S", 0,
	 "a rest this long splits the test (default 300)", 1},
	{"ocv-span", OPT_OCV_SPAN, "X", 0,
	 "hppc: fit only rows within X of a rested soc (default 0.01)", 1},
	{"cv-taper", OPT_CV_TAPER, "F", 0,
	 "a charge ending at most F of its peak current is constant-voltage "
	 "(default 0.5)", 1},
	{"soc-grid", OPT_SOC_GRID, "GRID", 0,
	 "soc points of the table: a step (0.05) or a list (0.1,0.5,0.9)", 1},
	{"max-iter", OPT_MAX_ITER, "N", 0,
	 "trust-region iterations per fit (default 200)", 1},
	{NULL, 0, NULL, 0, "Profile and OCV modes:", 2},
	{"ocv", OPT_OCV, "FILE", 0,
	 "profile: the OCV table (columns soc, ocv_v), required", 2},
	{"init", OPT_INIT, "FILE", 0,
	 "profile: start from this model (bt-ecm(5))", 2},
	{"pool", OPT_POOL, "K", 0,
	 "hppc: prior sd of the parameters' curvature along soc, which pools the "
	 "points (default: by marginal likelihood; 0: off)", 2},
	{"smooth", OPT_SMOOTH, "V", 0,
	 "profile: weight of the smoothness penalty along soc (default 0.001)", 2},
	{"max-c-rate", OPT_MAX_C_RATE, "X", 0,
	 "ocv: the fastest current read as an OCV curve, in C (default 0.1)", 2},
	{NULL, 0, NULL, 0, "Outputs:", 3},
	{"report", OPT_REPORT, "FILE", 0,
	 "write one CSV row per fitted segment to FILE", 3},
	{"lut-c", OPT_LUT_C, "FILE", 0,
	 "write the model's tables as a C header for BMS firmware", 3},
	{"lut-prefix", OPT_LUT_PREFIX, "NAME", 0,
	 "name of the C tables and macros (default cell)", 3},
	{NULL, 0, NULL, 0, NULL, 0}
};

static const char args_doc[] = "[FILE...]";

static const char doc[] =
	"Identify an equivalent-circuit model (bt-ecm(5)) from pulse tests "
	"(hppc), build an OCV table from slow or incremental OCV tests (ocv), "
	"or fit a model to a whole drive cycle (profile).\v"
	"Input: a CSV stream with time_s, current_a (positive = charge) and "
	"voltage_v, and temperature_c if measured; in ocv mode also a table "
	"with soc_discharge, ocv_discharge_v, soc_charge, ocv_charge_v (or "
	"soc, ocv_v).  A file whose temperature_c holds several levels is split "
	"into one test per level.  The whole test is kept in memory.\n\n"
	"Examples:\n"
	"  bt-fit --soc0 1 --capacity 2.5 hppc.csv.gz -o cell.ecm --report fit.csv\n"
	"  bt-fit --mode ocv ocv_points.csv -o ocv.csv\n"
	"  bt-fit --mode profile --ocv ocv.csv --soc0 0.9 --capacity 2.5 drive.csv.gz";

static error_t
parse_opt(int key, char *arg, struct argp_state *state)
{
	struct fit_args *a = state->input;
	struct bt_fit_opts *o = &a->fit;

	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = &a->common;
		break;
	case OPT_MODE:
		if (strcmp(arg, "hppc") == 0)
			o->mode = BT_FIT_HPPC;
		else if (strcmp(arg, "ocv") == 0)
			o->mode = BT_FIT_OCV;
		else if (strcmp(arg, "profile") == 0)
			o->mode = BT_FIT_PROFILE;
		else
			argp_error(state, "unknown mode '%s' (use hppc, ocv or profile)",
				   arg);
		break;
	case OPT_RC:
		o->rc_pairs = (unsigned)bt_cli_range(state, arg, "--rc", 1, BT_ECM_MAX_RC);
		if (o->rc_pairs != atof(arg))
			argp_error(state, "--rc must be 1, 2 or 3, not '%s'", arg);
		break;
	case OPT_SOC0:
		o->soc0 = bt_cli_range(state, arg, "--soc0", 0, 1);
		break;
	case OPT_CAPACITY:
		o->capacity_ah = bt_cli_range(state, arg, "--capacity", 1e-9, 1e9);
		break;
	case OPT_TEMPERATURE:
		if (a->ntemps == MAX_FILES)
			argp_error(state, "more than %d --temperature", MAX_FILES);
		a->temps[a->ntemps++] = bt_cli_range(state, arg, "--temperature", -273.15, 1e3);
		break;
	case OPT_TEMPERATURE_TOL:
		o->temperature_tol_c = bt_cli_range(state, arg, "--temperature-tolerance", 0, 1e3);
		break;
	case OPT_HOLD:
		o->level_hold_s = bt_cli_range(state, arg, "--level-hold", 0, 1e9);
		break;
	case OPT_REST_CURRENT:
		o->rest_current_a = bt_cli_range(state, arg, "--rest-current", 0, 1e9);
		break;
	case OPT_MIN_REST:
		o->min_rest_s = bt_cli_range(state, arg, "--min-rest", 0, 1e9);
		break;
	case OPT_OCV_SPAN:
		o->ocv_span = bt_cli_range(state, arg, "--ocv-span", 0, 1);
		break;
	case OPT_CV_TAPER:
		o->cv_taper = bt_cli_range(state, arg, "--cv-taper", 0, 1);
		break;
	case OPT_SOC_GRID:
		if (bt_fit_parse_grid(arg, a->grid, o) != BT_OK)
			argp_error(state, "invalid --soc-grid '%s' (a step in (0, 1], "
				   "or two or more increasing points in [0, 1])", arg);
		break;
	case OPT_MAX_ITER:
		o->max_iter = (size_t)bt_cli_range(state, arg, "--max-iter", 1, 1e6);
		break;
	case OPT_OCV:
		a->ocv = arg;
		break;
	case OPT_INIT:
		a->init = arg;
		break;
	case OPT_POOL:
		o->pool_curvature = bt_cli_nonnegative(state, arg, "--pool");
		break;
	case OPT_SMOOTH:
		o->smooth_v = bt_cli_range(state, arg, "--smooth", 0, 1e3);
		break;
	case OPT_MAX_C_RATE:
		o->ocv_max_c_rate = bt_cli_range(state, arg, "--max-c-rate", 1e-9, 1e9);
		break;
	case OPT_REPORT:
		a->report = arg;
		break;
	case OPT_LUT_C:
		a->lut = arg;
		break;
	case OPT_LUT_PREFIX:
		if (!bt_ecm_c_prefix_ok(arg))
			argp_error(state, "invalid --lut-prefix '%s' (use a C identifier)",
				   arg);
		a->lut_prefix = arg;
		break;
	case ARGP_KEY_ARG:
		if (a->nfiles == MAX_FILES)
			argp_error(state, "more than %d input files", MAX_FILES);
		a->files[a->nfiles++] = arg;
		break;
	case ARGP_KEY_END:
		if (a->ntemps > (a->nfiles ? a->nfiles : 1))
			argp_error(state, "%zu --temperature for %zu input files",
				   a->ntemps, a->nfiles ? a->nfiles : 1);
		if (o->mode == BT_FIT_PROFILE && a->ocv == NULL)
			argp_error(state, "--mode profile needs --ocv FILE");
		if (o->mode != BT_FIT_PROFILE && (a->ocv || a->init))
			argp_error(state, "--ocv and --init are for --mode profile");
		if (o->mode != BT_FIT_HPPC && a->nfiles > 1)
			argp_error(state, "--mode %s reads one input file",
				   o->mode == BT_FIT_OCV ? "ocv" : "profile");
		if (o->mode == BT_FIT_OCV && (a->report || a->lut))
			argp_error(state, "--mode ocv writes no report and no lookup tables");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp argp = {options, parse_opt, args_doc, doc,
				 bt_cli_children, NULL, NULL};

/* What a dying bt-fit frees: the tests and the results. */
struct held {
	struct bt_fit_data data[MAX_FILES];
	size_t ndata;
	struct bt_fit_result res;
	struct bt_fit_ocv ocv;
};

static void
free_held(void *p)
{
	struct held *h = p;
	size_t k;

	for (k = 0; k < h->ndata; k++)
		bt_fit_data_free(&h->data[k]);
	bt_fit_result_free(&h->res);
	bt_fit_ocv_free(&h->ocv);
	free(h);
}

/* Write ECM (as a C header when AS_C) to PATH, or to the -o output. */
static void
write_model(const struct fit_args *a, const char *path, int main_output,
	    const struct bt_ecm *ecm, int as_c)
{
	struct bt_writer *w = main_output ? bt_cli_open_output(&a->common)
					  : bt_cli_open_file(path, &a->common);
	enum bt_status st = bt_fit_write_model(ecm, as_c ? a->lut_prefix : NULL, w);

	if (st == BT_ENOMEM)
		bt_cli_die("out of memory");
	if (st != BT_OK)
		bt_cli_end_row(w);	/* dies with the write error */
	bt_cli_close_output(w);
}

/* Read every input into H->data. */
static void
read_inputs(struct fit_args *a, struct held *h, struct bt_reader **table)
{
	struct bt_reader_opts ro = bt_cli_reader_opts(&a->common);
	size_t k, n = a->nfiles ? a->nfiles : 1;
	enum bt_status st;

	for (k = 0; k < n; k++) {
		struct bt_reader *r = bt_cli_open_input(a->files[k] ? a->files[k] : NULL, &ro);
		struct bt_fit_data *d = &h->data[k];

		if (a->fit.mode == BT_FIT_OCV && bt_reader_find(r, "time_s") < 0) {
			*table = r;	/* an OCV table, not a test */
			return;
		}
		d->name = bt_reader_filename(r);
		d->temperature_c = k < a->ntemps ? a->temps[k] : NAN;
		h->ndata = k + 1;
		st = bt_fit_data_read(r, d);
		if (st == BT_EEMPTY)
			bt_cli_die("%s: no data rows after the header", d->name);
		bt_cli_check(r, st);
		d->name = a->files[k] ? a->files[k] : "(standard input)";
		bt_cli_release(r);
	}
}

static void
summary(const struct fit_args *a, const struct bt_fit_result *res)
{
	struct bt_stats_summary s = bt_stats_summary(&res->residuals);
	size_t k, nboth = 0;
	char b[BT_NUM_BUFSIZE], cap[BT_ERRMSG_SIZE];

	if (a->common.quiet)
		return;
	for (k = 0; k < res->nseg; k++) {
		const struct bt_fit_segment *g = &res->seg[k];

		nboth += g->dir == BT_FIT_DIR_BOTH;
		if (g->converged || (g->dir == BT_FIT_DIR_PROFILE && k > 0))
			continue;
		if (g->dir == BT_FIT_DIR_PROFILE)
			bt_cli_warn("the profile fit did not converge in %zu "
				    "iterations: its model is not reliable",
				    g->iterations);
		else
			bt_cli_warn("%s fit at soc %s, %g degC did not converge in "
				    "%zu iterations%s", bt_fit_dir_name(g->dir),
				    (bt_num_format(g->soc, 4, b), b), g->temperature_c,
				    g->iterations, g->dir == BT_FIT_DIR_BOTH
				    ? ": not used in the model" : "");
	}
	if (res->n_replaced)
		bt_cli_warn("%zu grid points without a converged fit took their "
			    "nearest neighbour's values", res->n_replaced);
	if (a->fit.mode == BT_FIT_PROFILE)
		fprintf(stderr, "bt-fit: profile fitted on %zu soc points, ",
			res->nseg);
	else
		fprintf(stderr, "bt-fit: %zu segments fitted, ", nboth);
	bt_fit_capacity_text(res, cap, sizeof cap);
	fprintf(stderr, "%s, %zu rows, voltage rmse %.3g mV, max %.3g mV\n",
		cap, s.n, 1e3 * s.rmse, 1e3 * s.max_abs);
}

static void
run_ocv(struct fit_args *a, struct held *h, struct bt_reader *table)
{
	struct bt_writer *w;
	char errmsg[BT_ERRMSG_SIZE] = "";
	enum bt_status st;

	if (table) {
		st = bt_fit_ocv_from_table(table, &a->fit, &h->ocv, errmsg);
		if (st != BT_OK && !errmsg[0])
			bt_cli_check(table, st);
	} else {
		st = bt_fit_ocv_from_data(&h->data[0], &a->fit, &h->ocv, errmsg);
	}
	if (st != BT_OK)
		bt_cli_die("%s", errmsg[0] ? errmsg : bt_strerror(st));
	bt_cli_release(table);
	if (h->ocv.dropped && !a->common.quiet)
		bt_cli_warn("the %s branch has a single point: left out",
			    h->ocv.dropped & 1 ? "discharge" : "charge");
	w = bt_cli_open_output(&a->common);
	if (bt_fit_ocv_write(&h->ocv, w) != BT_OK)
		bt_cli_end_row(w);	/* dies with the write error */
	bt_cli_close_output(w);
	if (!a->common.quiet)
		fprintf(stderr, "bt-fit: OCV table of %zu points (%s)\n", h->ocv.n,
			h->ocv.branches == 3 ? "mean of the charge and discharge "
			"branches" : h->ocv.branches == 1 ? "discharge branch only"
			: "charge branch only");
}

static void
run_model(struct fit_args *a, struct held *h)
{
	struct bt_reader_opts ro = bt_cli_reader_opts(&a->common);
	struct bt_ecm *init = NULL;
	struct bt_writer *w;
	char errmsg[BT_ERRMSG_SIZE] = "";
	enum bt_status st;

	if (a->fit.mode == BT_FIT_PROFILE) {
		struct bt_reader *r;

		/* The table has its own names (soc, ocv_v): --map is for
		 * the test. */
		ro.maps = NULL;
		ro.nmaps = 0;
		r = bt_cli_open_input(a->ocv, &ro);

		if ((st = bt_fit_ocv_read(r, &h->ocv, errmsg)) != BT_OK && !errmsg[0])
			bt_cli_check(r, st);
		if (st != BT_OK)
			bt_cli_die("%s", errmsg);
		bt_cli_release(r);
		if (a->init)
			init = bt_cli_load_model(a->init);
		st = bt_fit_profile(&h->data[0], &h->ocv, init, &a->fit, &h->res,
				    errmsg);
		bt_cli_release(init);
	} else {
		st = bt_fit_hppc(h->data, h->ndata, &a->fit, &h->res, errmsg);
	}
	if (st != BT_OK)
		bt_cli_die("%s", errmsg[0] ? errmsg : bt_strerror(st));
	write_model(a, NULL, 1, h->res.ecm, 0);
	if (a->report) {
		w = bt_cli_open_file(a->report, &a->common);
		if (bt_fit_report_write(&h->res, a->fit.rc_pairs, w) != BT_OK)
			bt_cli_die("%s", bt_writer_errmsg(w));
		bt_cli_close_output(w);
	}
	if (a->lut)
		write_model(a, a->lut, 0, h->res.ecm, 1);
	summary(a, &h->res);
}

int
main(int argc, char **argv)
{
	struct fit_args args;
	struct held *h;
	struct bt_reader *table = NULL;

	bt_cli_init("bt-fit");
	memset(&args, 0, sizeof args);
	bt_fit_opts_init(&args.fit);
	args.lut_prefix = DEFAULT_LUT_PREFIX;
	argp_parse(&argp, argc, argv, 0, NULL, &args);

	h = calloc(1, sizeof *h);
	if (!h)
		bt_cli_die("out of memory");
	bt_cli_hold(h, free_held);
	read_inputs(&args, h, &table);
	if (args.fit.mode == BT_FIT_OCV)
		run_ocv(&args, h, table);
	else
		run_model(&args, h);
	bt_cli_release(h);
	bt_cli_common_free(&args.common);
	return BT_EXIT_OK;
}
