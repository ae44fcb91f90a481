/* bt-sim - simulate a cell from an equivalent-circuit model.
 *
 * The digital twin of battools: it drives a bt-ecm(5) model with a built-in
 * test protocol (HPPC, constant current, a synthetic drive cycle) or with a
 * measured current profile, and writes what a cycler would log, with seeded
 * sensor noise and the true state of charge beside it.  The model and the
 * protocols live in lib/bt_ecm and lib/bt_sim; this file reads options,
 * streams rows and reports.
 */
#include <config.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bt_cli.h"
#include "bt_ecm.h"
#include "bt_num.h"
#include "bt_sim.h"

/* The columns bt-sim writes, in order; "step" only for protocols. */
static const char *const sim_columns[] = {
	"time_s", "current_a", "voltage_v", "temperature_c", "soc_true", "step"
};
#define N_SIM_COLUMNS 5

struct sim_args {
	struct bt_cli_common common;
	const char *model;
	const char *profile;
	int truth;
	struct bt_sim_opts sim;
};

enum {
	OPT_PROTOCOL = 0x200, OPT_SOC0, OPT_TEMPERATURE, OPT_DT, OPT_CURRENT,
	OPT_UNTIL_V, OPT_DURATION, OPT_V_MIN, OPT_V_MAX, OPT_VOLTAGE_NOISE,
	OPT_CURRENT_NOISE, OPT_CURRENT_BIAS, OPT_TEMPERATURE_NOISE, OPT_SEED,
	OPT_SOC_STEP, OPT_SOC_FLOOR, OPT_REST, OPT_TRUTH
};

static const struct argp_option options[] = {
	{NULL, 0, NULL, 0, "Model and protocol:", 1},
	{"model", 'm', "FILE", 0, "the cell model, a bt-ecm(5) file (required)", 1},
	{"protocol", OPT_PROTOCOL, "NAME", 0,
	 "hppc, cc or drive; without it, FILE is a current profile", 1},
	{"soc0", OPT_SOC0, "X", 0, "initial state of charge (default 1)", 1},
	{"temperature", OPT_TEMPERATURE, "C", 0,
	 "initial cell temperature (default: the model's ambient or reference)", 1},
	{"dt", OPT_DT, "S", 0, "sample period in seconds (default 1)", 1},
	{"current", OPT_CURRENT, "A", 0,
	 "cc: the current, positive to charge (required with cc)", 1},
	{"until-v", OPT_UNTIL_V, "V", 0,
	 "cc: stop when the voltage reaches V", 1},
	{"duration", OPT_DURATION, "S", 0,
	 "cc: the longest run; drive: the length (default 3600)", 1},
	{"soc-step", OPT_SOC_STEP, "X", 0,
	 "hppc: state of charge between pulse sets (default 0.1)", 1},
	{"soc-floor", OPT_SOC_FLOOR, "X", 0,
	 "hppc, drive: stop at this state of charge (default 0.1)", 1},
	{"rest", OPT_REST, "S", 0,
	 "hppc: rest after each discharge to the next step (default 1800)", 1},
	{"v-min", OPT_V_MIN, "V", 0, "stop when the voltage falls below V", 1},
	{"v-max", OPT_V_MAX, "V", 0, "stop when the voltage rises above V", 1},
	{NULL, 0, NULL, 0, "Sensors:", 2},
	{"voltage-noise", OPT_VOLTAGE_NOISE, "V", 0,
	 "standard deviation of Gaussian voltage noise (default 0)", 2},
	{"current-noise", OPT_CURRENT_NOISE, "A", 0,
	 "standard deviation of Gaussian current noise (default 0)", 2},
	{"current-bias", OPT_CURRENT_BIAS, "A", 0,
	 "constant offset of the current sensor (default 0)", 2},
	{"temperature-noise", OPT_TEMPERATURE_NOISE, "C", 0,
	 "standard deviation of Gaussian temperature noise (default 0)", 2},
	{"seed", OPT_SEED, "N", 0, "seed of the noise and the drive cycle (default 1)", 2},
	{"truth", OPT_TRUTH, NULL, 0,
	 "also write current_true_a and voltage_true_v", 2},
	{NULL, 0, NULL, 0, NULL, 0}
};

static const char args_doc[] = "[PROFILE]";

static const char doc[] =
	"Simulate a cell from an equivalent-circuit model (bt-ecm(5)) under a "
	"built-in protocol or a current profile, and write time_s, current_a, "
	"voltage_v, temperature_c and soc_true (and step for a protocol).\v"
	"Without --protocol, PROFILE (or standard input) is a CSV stream with "
	"time_s and current_a (positive = charge); the current of each row is "
	"held until the next row's time.  Other profile columns follow the "
	"simulated ones; a profile column with a simulated column's name is "
	"kept as input_NAME.\n\n"
	"Examples:\n"
	"  bt-sim -m nmc18650.ecm --protocol hppc -o hppc.csv\n"
	"  bt-sim -m nmc18650.ecm --protocol cc --current -2.5 --until-v 3.0 --dt 10\n"
	"  bt-sim -m nmc18650.ecm --protocol drive --voltage-noise 0.002 -p 6";



static error_t
parse_opt(int key, char *arg, struct argp_state *state)
{
	struct sim_args *a = state->input;
	struct bt_sim_opts *o = &a->sim;
	double x;

	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = &a->common;
		break;
	case 'm':
		a->model = arg;
		break;
	case OPT_PROTOCOL:
		if (strcmp(arg, "hppc") == 0)
			o->protocol = BT_SIM_HPPC;
		else if (strcmp(arg, "cc") == 0)
			o->protocol = BT_SIM_CC;
		else if (strcmp(arg, "drive") == 0)
			o->protocol = BT_SIM_DRIVE;
		else
			argp_error(state, "unknown protocol '%s' (use hppc, cc or drive)",
				   arg);
		break;
	case OPT_SOC0:
		o->soc0 = bt_cli_range(state, arg, "--soc0", 0, 1);
		break;
	case OPT_TEMPERATURE:
		o->temp0_c = bt_cli_number(state, arg, "--temperature");
		break;
	case OPT_DT:
		o->dt_s = bt_cli_number(state, arg, "--dt");
		if (o->dt_s <= 0)
			argp_error(state, "--dt must be positive, not '%s'", arg);
		break;
	case OPT_CURRENT:
		o->cc.current_a = bt_cli_number(state, arg, "--current");
		break;
	case OPT_UNTIL_V:
		o->cc.until_v = bt_cli_number(state, arg, "--until-v");
		break;
	case OPT_DURATION:
		x = bt_cli_number(state, arg, "--duration");
		if (x <= 0)
			argp_error(state, "--duration must be positive, not '%s'", arg);
		o->cc.max_s = o->drive.duration_s = x;
		break;
	case OPT_SOC_STEP:
		o->hppc.soc_step = bt_cli_number(state, arg, "--soc-step");
		break;
	case OPT_SOC_FLOOR:
		o->hppc.soc_floor = o->drive.soc_floor = bt_cli_number(state, arg, "--soc-floor");
		break;
	case OPT_REST:
		o->hppc.rest_s = bt_cli_nonnegative(state, arg, "--rest");
		break;
	case OPT_V_MIN:
		o->v_min_v = bt_cli_number(state, arg, "--v-min");
		break;
	case OPT_V_MAX:
		o->v_max_v = bt_cli_number(state, arg, "--v-max");
		break;
	case OPT_VOLTAGE_NOISE:
		o->voltage_noise_sd_v = bt_cli_nonnegative(state, arg, "--voltage-noise");
		break;
	case OPT_CURRENT_NOISE:
		o->current_noise_sd_a = bt_cli_nonnegative(state, arg, "--current-noise");
		break;
	case OPT_CURRENT_BIAS:
		o->current_bias_a = bt_cli_number(state, arg, "--current-bias");
		break;
	case OPT_TEMPERATURE_NOISE:
		o->temperature_noise_sd_c = bt_cli_nonnegative(state, arg, "--temperature-noise");
		break;
	case OPT_SEED:
		x = bt_cli_nonnegative(state, arg, "--seed");
		if (x != floor(x) || x > 18446744073709549568.0)
			argp_error(state, "invalid seed '%s'", arg);
		o->seed = (uint64_t)x;
		break;
	case OPT_TRUTH:
		a->truth = 1;
		break;
	case ARGP_KEY_ARG:
		if (a->profile != NULL)
			argp_error(state, "extra operand '%s'", arg);
		a->profile = arg;
		break;
	case ARGP_KEY_END:
		if (a->model == NULL)
			argp_error(state, "no model given (use -m FILE)");
		if (o->protocol != BT_SIM_PROFILE && a->profile != NULL)
			argp_error(state, "a profile and --protocol exclude each other");
		if (o->protocol == BT_SIM_CC && isnan(o->cc.current_a))
			argp_error(state, "--protocol cc needs --current");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp argp = {options, parse_opt, args_doc, doc,
				 bt_cli_children, NULL, NULL};

static void
free_sim(void *sim)
{
	bt_sim_free(sim);
}

static void
header(struct bt_writer *w, int with_step, int truth)
{
	bt_writer_names(w, sim_columns, N_SIM_COLUMNS + (size_t)with_step);
	if (truth) {
		bt_writer_raw(w, "current_true_a", 14);
		bt_writer_raw(w, "voltage_true_v", 14);
	}
}

static void
write_row(struct bt_writer *w, const struct bt_sim_row *row, int with_step,
	  int truth)
{
	bt_writer_number(w, row->time_s);
	bt_writer_number(w, row->current_a);
	bt_writer_number(w, row->voltage_v);
	bt_writer_number(w, row->temperature_c);
	bt_writer_number(w, row->soc_true);
	if (with_step)
		bt_writer_number(w, row->step);
	if (truth) {
		bt_writer_number(w, row->current_true_a);
		bt_writer_number(w, row->voltage_true_v);
	}
}

/* Whether NAME is one of the columns bt-sim writes for a profile. */
static int
is_sim_column(const char *name)
{
	size_t i;

	for (i = 0; i < N_SIM_COLUMNS; i++)
		if (strcmp(name, sim_columns[i]) == 0)
			return 1;
	return 0;
}

static void
run_protocol(struct bt_sim *sim, struct bt_writer *w, const struct sim_args *a)
{
	struct bt_sim_row row;
	enum bt_sim_end reason;
	enum bt_status st;

	header(w, 1, a->truth);
	bt_cli_end_row(w);
	while ((st = bt_sim_next(sim, &row)) == BT_OK) {
		write_row(w, &row, 1, a->truth);
		bt_cli_end_row(w);
	}
	if (st != BT_EOF)
		bt_cli_die("simulation failed: %s", bt_strerror(st));
	/* Reaching --until-v or --soc-floor is how those runs end; a cut-off
	 * or an empty or full cell is worth a word. */
	reason = bt_sim_end_reason(sim);
	if (!a->common.quiet && reason != BT_SIM_END_DONE
	    && reason != BT_SIM_END_UNTIL_V && reason != BT_SIM_END_SOC_FLOOR)
		bt_cli_warn("stopped at %g s: %s", row.time_s,
			    bt_sim_end_str(reason));
}

static void
run_profile(struct bt_sim *sim, struct bt_reader *r, struct bt_writer *w,
	    const struct sim_args *a)
{
	size_t tcol, icol, ncols = bt_reader_ncols(r), i, len;
	struct bt_sim_row row;
	enum bt_status st;
	unsigned long rows = 0;
	const char *s;
	double t, current;
	char name[256];

	bt_cli_check(r, bt_reader_require(r, "time_s", &tcol));
	bt_cli_check(r, bt_reader_require(r, "current_a", &icol));
	header(w, 0, a->truth);
	for (i = 0; i < ncols; i++) {
		s = bt_reader_name(r, i);
		if (i == tcol || i == icol)
			continue;
		if (is_sim_column(s)) {
			snprintf(name, sizeof name, "input_%s", s);
			s = name;
		}
		bt_writer_text(w, s, strlen(s));
	}
	bt_cli_end_row(w);

	while ((st = bt_reader_next(r)) == BT_OK) {
		bt_cli_check(r, bt_reader_finite(r, tcol, &t));
		bt_cli_check(r, bt_reader_finite(r, icol, &current));
		st = bt_sim_step_to(sim, t, current, &row);
		if (st == BT_ERANGE) {
			/* The cell left its limits on the way to this row: a
			 * cycler would have stopped, and so does the twin. */
			if (!a->common.quiet)
				bt_cli_warn("%s:%lu: stopped before this row: %s",
					    bt_reader_filename(r), bt_reader_line(r),
					    bt_sim_end_str(bt_sim_end_reason(sim)));
			break;
		}
		if (st != BT_OK)
			bt_cli_check(r, bt_reader_fail(r, st, "cannot simulate: %s",
						       bt_strerror(st)));
		write_row(w, &row, 0, a->truth);
		for (i = 0; i < ncols; i++) {
			if (i == tcol || i == icol)
				continue;
			s = bt_reader_text(r, i, &len);
			bt_writer_text(w, s, len);
		}
		bt_cli_end_row(w);
		rows++;
	}
	if (st == BT_ERANGE)
		return;
	if (st != BT_EOF)
		bt_cli_check(r, st);
	if (rows == 0)
		bt_cli_die("%s: no data rows after the header", bt_reader_filename(r));
}

int
main(int argc, char **argv)
{
	struct sim_args args;
	struct bt_reader_opts ropts;
	struct bt_reader *r = NULL;
	struct bt_writer *w;
	struct bt_ecm *ecm;
	struct bt_sim *sim;
	char errmsg[BT_ERRMSG_SIZE] = "";
	enum bt_status st;

	bt_cli_init("bt-sim");
	memset(&args, 0, sizeof args);
	bt_sim_opts_init(&args.sim);
	argp_parse(&argp, argc, argv, 0, NULL, &args);

	ecm = bt_cli_load_model(args.model);
	if ((st = bt_sim_alloc(ecm, &args.sim, &sim, errmsg)) != BT_OK)
		bt_cli_die("%s", errmsg[0] ? errmsg : bt_strerror(st));
	bt_cli_hold(sim, free_sim);
	if (args.sim.protocol == BT_SIM_PROFILE) {
		ropts = bt_cli_reader_opts(&args.common);
		ropts.check_time = 1;
		r = bt_cli_open_input(args.profile, &ropts);
	}
	w = bt_cli_open_output(&args.common);
	if (r != NULL)
		run_profile(sim, r, w, &args);
	else
		run_protocol(sim, w, &args);
	bt_cli_close_output(w);
	bt_cli_release(r);
	bt_cli_release(sim);
	bt_cli_release(ecm);
	bt_cli_common_free(&args.common);
	return BT_EXIT_OK;
}
