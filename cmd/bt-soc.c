/* bt-soc - estimate the state of charge of a cell from its measured
 * current, voltage and temperature with an equivalent-circuit model or a
 * trained network, and (bt-soc train) train that network.
 *
 * Coulomb counting, the extended and unscented Kalman filters, the
 * particle filter and the network methods live in lib/bt_soc, lib/bt_kf,
 * lib/bt_pf and lib/bt_net; this file reads options, streams rows through
 * the estimator and reports.  The train verb is bt_soc_nn.c.
 */
#include <config.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bt_soc_nn.h"
#include "bt_cli.h"
#include "bt_num.h"
#include "bt_soc.h"

struct soc_args {
	struct bt_cli_common common;
	const char *model;
	const char *input;
	const char *reference;
	const char *metrics;
	double skip_s;
	struct bt_soc_opts soc;
	int train;			/* the verb train was given */
	const char **files;		/* its operands */
	size_t nfiles;
	struct soc_nn_args tr;
};

enum {
	OPT_METHOD = 0x200, OPT_SOC0, OPT_MAX_GAP, OPT_Q_SOC, OPT_Q_V, OPT_Q_I,
	OPT_R_V, OPT_P0, OPT_UKF_ALPHA, OPT_UKF_BETA, OPT_UKF_KAPPA,
	OPT_PARTICLES, OPT_SEED, OPT_ADAPT, OPT_Q_R0, OPT_Q_CAPACITY, OPT_P0_R0,
	OPT_P0_CAPACITY, OPT_DRIFT_WINDOW, OPT_DRIFT_ALPHA, OPT_REFERENCE,
	OPT_METRICS, OPT_SKIP, OPT_P0_OFFSET, OPT_Q_OFFSET, OPT_R_TAU
};

static const struct argp_option options[] = {
	{NULL, 0, NULL, 0, "Model and method:", 1},
	{"model", 'm', "FILE", 0, "the cell model, a bt-ecm(5) file (required)", 1},
	{"method", OPT_METHOD, "NAME", 0,
	 "cc (coulomb counting), ekf, ukf, pf, nn or nn+ekf (default ekf)", 1},
	{"soc0", OPT_SOC0, "X|auto", 0,
	 "initial state of charge, or auto: from the first row's voltage "
	 "through the OCV (default auto)", 1},
	{"max-gap", OPT_MAX_GAP, "S", 0,
	 "a longer time step is a rest, not the last current held (default 60)", 1},
	{NULL, 0, NULL, 0, "Tuning (all methods):", 2},
	{"p0", OPT_P0, "X", 0, "initial soc standard deviation (default 0.2)", 2},
	{"q-soc", OPT_Q_SOC, "X", 0,
	 "soc process noise, per square-root second (default 1e-6)", 2},
	{"q-i", OPT_Q_I, "A", 0, "current sensor noise per sample (default 0.01)", 2},
	{"q-v", OPT_Q_V, "V", 0,
	 "ekf, ukf: RC voltage process noise per square-root second (default 1e-4)", 2},
	{"r-v", OPT_R_V, "V", 0,
	 "voltage noise and model error, standard deviation (default 0.008)", 2},
	{"r-tau", OPT_R_TAU, "S", 0,
	 "correlation time of that error; 0: white (default 200)", 2},
	{"p0-offset", OPT_P0_OFFSET, "C", 0,
	 "initial sd of the current sensor's offset, a C-rate; 0: no offset "
	 "state (default 0.02)", 2},
	{"q-offset", OPT_Q_OFFSET, "C", 0,
	 "current offset process noise, C-rate per square-root second "
	 "(default 1e-6)", 2},
	{NULL, 0, NULL, 0, "Unscented filter (ukf):", 3},
	{"ukf-alpha", OPT_UKF_ALPHA, "X", 0, "sigma-point spread (default 1)", 3},
	{"ukf-beta", OPT_UKF_BETA, "X", 0, "prior knowledge of the distribution (default 2)", 3},
	{"ukf-kappa", OPT_UKF_KAPPA, "X", 0, "secondary scaling (default 0)", 3},
	{NULL, 0, NULL, 0, "Particle filter (pf):", 4},
	{"particles", OPT_PARTICLES, "N", 0, "number of particles (default 500)", 4},
	{"seed", OPT_SEED, "N", 0,
	 "seed of the particle filter and of training (default 1)", 4},
	{NULL, 0, NULL, 0, "Self-updating twin (ekf, ukf):", 5},
	{"adapt", OPT_ADAPT, NULL, 0,
	 "also estimate R0 and the capacity; write r0_ohm, capacity_ah, drift", 5},
	{"q-r0", OPT_Q_R0, "X", 0, "R0 factor process noise per square-root second (default 1e-4)", 5},
	{"q-capacity", OPT_Q_CAPACITY, "X", 0,
	 "capacity process noise, fraction per square-root second (default 0)", 5},
	{"p0-r0", OPT_P0_R0, "X", 0, "initial sd of the R0 factor (default 0.1)", 5},
	{"p0-capacity", OPT_P0_CAPACITY, "X", 0,
	 "initial sd of the capacity, a fraction of the model's (default 0.1)", 5},
	{"drift-window", OPT_DRIFT_WINDOW, "N", 0,
	 "samples in the NIS window of the drift test (default 300)", 5},
	{"drift-alpha", OPT_DRIFT_ALPHA, "P", 0,
	 "significance of the drift test's chi-square bounds (default 0.01)", 5},
	{NULL, 0, NULL, 0, "Evaluation:", 7},
	{"reference", OPT_REFERENCE, "COL", 0,
	 "compare soc with the input column COL; metrics on standard error", 7},
	{"metrics", OPT_METRICS, "FILE", 0, "write the metrics to FILE as CSV instead", 7},
	{"skip", OPT_SKIP, "S", 0,
	 "leave the first S seconds out of the metrics (default 0)", 7},
	{NULL, 0, NULL, 0, NULL, 0}
};

static const char args_doc[] = "[FILE]\ntrain --target COL -o MODEL FILE...";

static const char doc[] =
	"Estimate the state of charge from measured current, voltage and "
	"temperature with an equivalent-circuit model (bt-ecm(5)): coulomb "
	"counting, an extended or unscented Kalman filter, or a particle "
	"filter; or with a CNN-LSTM network (bt-net(5)) that bt-soc train "
	"learns from reference data, alone (nn) or as a second measurement "
	"of the extended filter (nn+ekf).\v"
	"Input: time_s, current_a (positive = charge) and voltage_v, and "
	"temperature_c when there is one (otherwise the model's reference "
	"temperature); nn and train read the network's input columns.  The "
	"input columns are kept and soc, soc_sd, soc_lo, soc_hi (the 95 % "
	"interval), v_model_v, innovation_v and nis are appended (r0_ohm, "
	"capacity_ah and drift with --adapt, soc_nn with nn+ekf; soc alone "
	"with nn).\n\n"
	"Examples:\n"
	"  bt-soc -m nmc18650.ecm drive.csv -o soc.csv\n"
	"  bt-soc -m nmc18650.ecm --method ukf --reference soc_true drive.csv\n"
	"  bt-soc -m nmc18650.ecm --method pf --particles 1000 -p 6 drive.csv\n"
	"  bt-soc train --target soc_true --window 20 --epochs 2 -o soc.net "
	"drive.csv\n"
	"  bt-soc --method nn --net soc.net drive.csv -o nn.csv";

static error_t
parse_opt(int key, char *arg, struct argp_state *state)
{
	struct soc_args *a = state->input;
	struct bt_soc_opts *o = &a->soc;
	int nn;

	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = &a->common;
		state->child_inputs[1] = &a->tr;
		break;
	case 'm': a->model = arg; break;
	case OPT_METHOD:
		if (bt_soc_method_parse(arg, &o->method) != BT_OK)
			argp_error(state, "unknown method '%s' (use cc, ekf, ukf, pf, "
				   "nn or nn+ekf)", arg);
		break;

	case OPT_SOC0:
		if (strcmp(arg, "auto") == 0) {
			o->soc0 = NAN;
			break;
		}
		o->soc0 = bt_cli_number(state, arg, "--soc0");
		if (o->soc0 < 0 || o->soc0 > 1)
			argp_error(state, "--soc0 must lie in [0, 1] or be auto, not '%s'", arg);
		break;
	case OPT_MAX_GAP: o->max_gap_s = bt_cli_positive(state, arg, "--max-gap"); break;
	case OPT_P0: o->kf.p0_soc = bt_cli_positive(state, arg, "--p0"); break;
	case OPT_Q_SOC: o->kf.q_soc = bt_cli_nonnegative(state, arg, "--q-soc"); break;
	case OPT_Q_I: o->kf.q_i = bt_cli_nonnegative(state, arg, "--q-i"); break;
	case OPT_Q_V: o->kf.q_v = bt_cli_nonnegative(state, arg, "--q-v"); break;
	case OPT_R_V: o->kf.r_v = bt_cli_positive(state, arg, "--r-v"); break;
	case OPT_R_TAU: o->kf.r_tau_s = bt_cli_nonnegative(state, arg, "--r-tau"); break;
	case OPT_P0_OFFSET:
		o->kf.p0_offset_c = bt_cli_nonnegative(state, arg, "--p0-offset");
		break;
	case OPT_Q_OFFSET:
		o->kf.q_offset_c = bt_cli_nonnegative(state, arg, "--q-offset");
		break;
	case OPT_UKF_ALPHA: o->kf.ukf_alpha = bt_cli_positive(state, arg, "--ukf-alpha"); break;
	case OPT_UKF_BETA: o->kf.ukf_beta = bt_cli_number(state, arg, "--ukf-beta"); break;
	case OPT_UKF_KAPPA: o->kf.ukf_kappa = bt_cli_number(state, arg, "--ukf-kappa"); break;
	case OPT_PARTICLES:
		o->particles = (size_t)bt_cli_count(state, arg, "--particles", 1, BT_PF_MAX_PARTICLES);
		if (o->particles < 2)
			argp_error(state, "--particles must be at least 2, not '%s'", arg);
		break;
	case OPT_SEED:
		o->seed = (uint64_t)bt_cli_count(state, arg, "--seed", 0, 18446744073709549568.0);
		break;
	case OPT_ADAPT: o->kf.adapt = 1; break;
	case OPT_Q_R0: o->kf.q_r0 = bt_cli_nonnegative(state, arg, "--q-r0"); break;
	case OPT_Q_CAPACITY: o->kf.q_capacity = bt_cli_nonnegative(state, arg, "--q-capacity"); break;
	case OPT_P0_R0: o->kf.p0_r0 = bt_cli_positive(state, arg, "--p0-r0"); break;
	case OPT_P0_CAPACITY: o->kf.p0_capacity = bt_cli_positive(state, arg, "--p0-capacity"); break;
	case OPT_DRIFT_WINDOW:
		o->drift_window = (size_t)bt_cli_count(state, arg, "--drift-window", 1, 1e7);
		if (o->drift_window < 1)
			argp_error(state, "--drift-window must be at least 1, not '%s'", arg);
		break;
	case OPT_DRIFT_ALPHA:
		o->drift_alpha = bt_cli_number(state, arg, "--drift-alpha");
		if (!(o->drift_alpha > 0 && o->drift_alpha < 1))
			argp_error(state, "--drift-alpha must lie in (0, 1), not '%s'", arg);
		break;
	case OPT_REFERENCE: a->reference = arg; break;
	case OPT_METRICS: a->metrics = arg; break;
	case OPT_SKIP: a->skip_s = bt_cli_nonnegative(state, arg, "--skip"); break;
	case ARGP_KEY_ARG:
		if (state->arg_num == 0 && strcmp(arg, "train") == 0)
			a->train = 1;
		else if (a->train)
			a->files[a->nfiles++] = arg;
		else if (a->input != NULL)
			argp_error(state, "extra operand '%s'", arg);
		else
			a->input = arg;
		break;
	case ARGP_KEY_END:
		if (a->train) {
			if (a->tr.target == NULL)
				argp_error(state, "no target column given (use --target COL)");
			if (a->common.output == NULL)
				argp_error(state, "no model file given (use -o MODEL)");
			if (a->nfiles == 0)
				argp_error(state, "no training data given (FILE...)");
			if (a->model != NULL)
				argp_error(state, "bt-soc train takes no cell model (-m)");
			a->tr.train.seed = o->seed;
			break;
		}
		o->net_mode = a->tr.mode;
		o->r_nn = a->tr.r_nn;
		o->r_nn_tau_s = a->tr.r_nn_tau_s;
		if (a->tr.given != NULL)
			argp_error(state, "--%s applies to bt-soc train only", a->tr.given);
		nn = o->method == BT_SOC_NN || o->method == BT_SOC_NN_EKF;
		if (nn && a->tr.net == NULL)
			argp_error(state, "no network given (use --net FILE)");
		if (!nn && a->tr.net != NULL)
			argp_error(state, "--net needs --method nn or nn+ekf");
		if (o->method == BT_SOC_NN && a->model != NULL)
			argp_error(state, "--method nn takes no cell model (-m)");
		if (o->method != BT_SOC_NN && a->model == NULL)
			argp_error(state, "no model given (use -m FILE)");
		if (o->kf.adapt && o->method != BT_SOC_EKF && o->method != BT_SOC_UKF)
			argp_error(state, "--adapt needs --method ekf or ukf");
		if (a->metrics != NULL && a->reference == NULL)
			argp_error(state, "--metrics needs --reference COL");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp_child children[] = {
	{&bt_cli_common_argp, 0, NULL, 0},
	{&soc_nn_argp, 0, NULL, 0},
	{NULL, 0, NULL, 0}
};

static const struct argp argp = {options, parse_opt, args_doc, doc,
				 children, NULL, NULL};

static void
free_soc(void *s)
{
	bt_soc_free(s);
}

/* Die with the message for an estimator error on the current row. */
static void __attribute__((noreturn))
estimator_failed(struct bt_reader *r, enum bt_status st, double t_prev, double t)
{
	char a[BT_NUM_BUFSIZE], b[BT_NUM_BUFSIZE];

	if (st == BT_ETIME) {
		bt_num_format(t_prev, 0, a);
		bt_num_format(t, 0, b);
		bt_reader_fail(r, st, "time goes backwards from %s to %s in "
			       "column 'time_s'", a, b);
	} else if (st == BT_ENONFINITE) {
		bt_reader_fail(r, st, "no voltage in the first row: --soc0 auto "
			       "needs one (or give --soc0 X)");
	} else {
		bt_reader_fail(r, st, "estimation failed: %s", bt_strerror(st));
	}
	bt_cli_die("%s", bt_reader_errmsg(r));
}

/* Print or write the metrics of the run against the reference (after the
 * output is closed: one output is open at a time). */
static void
report_metrics(const struct soc_args *a, const struct bt_soc_metrics *m)
{
	struct bt_soc_summary s = bt_soc_metrics_summary(m);
	const char *method = bt_soc_method_name(a->soc.method);
	struct bt_cli_common c = a->common;
	struct bt_writer *w;

	if (a->metrics == NULL) {
		bt_cli_warn("%s against '%s': n %zu, rmse %.4g, mae %.4g, max_abs %.4g, "
			    "bias %.4g, coverage %.4g, convergence_s %.6g, "
			    "final_error %.4g", method, a->reference, s.n, s.rmse,
			    s.mae, s.max_abs, s.bias, s.coverage, s.convergence_s,
			    s.final_error);
		return;
	}
	c.output = a->metrics;
	c.delimiter = ',';
	w = bt_cli_open_output(&c);
	bt_soc_write_summary(w, method, a->reference, &s);
	bt_cli_end_row(w);
	bt_cli_close_output(w);
}

static void
run_soc(struct bt_reader *r, struct bt_writer *w, const struct bt_ecm *ecm,
	const struct bt_net *net, struct soc_args *a)
{
	size_t tcol, icol = 0, vcol = 0, refcol = 0, ncols;
	size_t ncol[BT_NET_MAX_CHANNELS];
	long tc = ecm ? bt_reader_find(r, "temperature_c") : -1;
	double t, cur = 0, v = NAN, temp, ref = NAN, tprev = NAN;
	double tref = ecm ? bt_ecm_reference_temperature_c(ecm) : 0;
	double x[BT_NET_MAX_CHANNELS];
	struct bt_soc_metrics metrics;
	struct bt_soc_row e;
	struct bt_soc *est;
	unsigned long rows = 0;
	char errmsg[BT_ERRMSG_SIZE] = "";
	enum bt_status st;
	enum bt_soc_method method = a->soc.method;
	int said_temp = 0, adapt = a->soc.kf.adapt;
	const char *cols[BT_SOC_MAX_COLUMNS + 1];

	ncols = bt_soc_columns(method, adapt, cols);
	bt_cli_check(r, bt_reader_require(r, "time_s", &tcol));
	if (ecm != NULL) {
		bt_cli_check(r, bt_reader_require(r, "current_a", &icol));
		bt_cli_check(r, bt_reader_require(r, "voltage_v", &vcol));
	}
	if (net != NULL)
		bt_cli_check(r, bt_net_find_columns(net, r, ncol));
	if (a->reference != NULL)
		bt_cli_check(r, bt_reader_require(r, a->reference, &refcol));
	if ((st = bt_soc_alloc(ecm, &a->soc, &est, errmsg)) != BT_OK)
		bt_cli_die("%s", errmsg[0] ? errmsg : bt_strerror(st));
	bt_cli_hold(est, free_soc);
	bt_soc_metrics_init(&metrics, a->skip_s);
	if (ecm != NULL && tc < 0 && !a->common.quiet)
		bt_cli_warn("%s: no column 'temperature_c': using the model's "
			    "reference temperature %g C", bt_reader_filename(r), tref);

	if (bt_reader_copy_header(r, w, cols, 0) != BT_OK)
		bt_cli_die("out of memory");
	bt_writer_names(w, cols, ncols);
	bt_cli_end_row(w);

	while ((st = bt_reader_next(r)) == BT_OK) {
		bt_cli_check(r, bt_reader_finite(r, tcol, &t));
		if (ecm != NULL) {
			bt_cli_check(r, bt_reader_finite(r, icol, &cur));
			bt_cli_check(r, bt_reader_number(r, vcol, &v));
		}
		if (net != NULL)
			bt_cli_check(r, bt_net_read_inputs(net, r, ncol, x));
		temp = tref;
		if (tc >= 0) {
			bt_cli_check(r, bt_reader_number(r, (size_t)tc, &temp));
			if (!isfinite(temp)) {
				if (!said_temp++ && !a->common.quiet)
					bt_cli_warn("%s:%lu: no temperature: using the "
						    "model's reference temperature %g C "
						    "(said once)", bt_reader_filename(r),
						    bt_reader_line(r), tref);
				temp = tref;
			}
		}
		if (a->reference != NULL)
			bt_cli_check(r, bt_reader_number(r, refcol, &ref));
		if ((st = bt_soc_update_net(est, t, cur, v, temp, x, &e)) != BT_OK)
			estimator_failed(r, st, tprev, t);
		if (rows == 0 && bt_soc_initial_under_load(est) && !a->common.quiet)
			bt_cli_warn("%s:%lu: the first row is not at rest (current %g A): "
				    "--soc0 auto read the OCV under load",
				    bt_reader_filename(r), bt_reader_line(r), cur);
		tprev = t;
		bt_reader_copy_row(r, w);
		bt_soc_write_row(w, &e, method, adapt);
		bt_cli_end_row(w);
		if (a->reference != NULL)
			bt_soc_metrics_add(&metrics, t, &e, ref);
		rows++;
	}
	if (st != BT_EOF)
		bt_cli_check(r, st);
	if (rows == 0)
		bt_cli_die("%s: no data rows after the header", bt_reader_filename(r));
	bt_cli_close_output(w);
	if (adapt && !a->common.quiet) {
		bt_soc_drift_message(est, errmsg, sizeof errmsg);
		bt_cli_warn("%s", errmsg);
	}
	if (a->reference != NULL)
		report_metrics(a, &metrics);
	bt_cli_release(est);
}

int
main(int argc, char **argv)
{
	struct soc_args args;
	struct bt_reader_opts ropts;
	struct bt_reader *r;
	struct bt_writer *w;
	struct bt_ecm *ecm = NULL;
	struct bt_net *net = NULL;
	const char **names;

	bt_cli_init("bt-soc");
	memset(&args, 0, sizeof args);
	bt_soc_opts_init(&args.soc);
	/* Room for every argument as a training or validation file. */
	names = calloc(2 * (size_t)argc, sizeof *names);
	if (names == NULL)
		bt_cli_die("out of memory");
	bt_cli_hold(names, free);
	args.files = names;
	soc_nn_init(&args.tr, names + argc);
	argp_parse(&argp, argc, argv, 0, NULL, &args);
	/* OpenBLAS runs one thread unless told otherwise: results then do
	 * not depend on the machine. */
	bt_net_set_threads(args.tr.threads);

	if (args.train) {
		soc_nn_train(&args.tr, &args.common, args.files, args.nfiles);
	} else {
		if (args.model != NULL)
			ecm = bt_cli_load_model(args.model);
		if (args.tr.net != NULL)
			args.soc.net = net = soc_nn_load(&args.tr);
		ropts = bt_cli_reader_opts(&args.common);
		r = bt_cli_open_input(args.input, &ropts);
		w = bt_cli_open_output(&args.common);
		run_soc(r, w, ecm, net, &args);
		bt_cli_release(r);
		bt_cli_release(net);
		bt_cli_release(ecm);
	}
	bt_cli_release(names);
	bt_cli_common_free(&args.common);
	return BT_EXIT_OK;
}
