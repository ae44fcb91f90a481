/* bt_soc_nn.c - the network half of bt-soc: the options of nn, nn+ekf
 * and train, the model's loading, and bt-soc train: read training (and
 * validation) streams into lib/bt_net training sets, train the CNN-LSTM,
 * show its progress and write the model file (bt-net(5)).  The numerics
 * are lib/bt_net's.
 */
#include <config.h>

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bt_soc.h"
#include "bt_soc_nn.h"

/* The progress bar's width in characters. */
#define BAR_WIDTH 30

enum {
	OPT_NET = 0x300, OPT_STREAM, OPT_R_NN, OPT_R_NN_TAU, OPT_THREADS, OPT_TARGET, OPT_INPUTS, OPT_VAL, OPT_WINDOW, OPT_CONV_LAYERS,
	OPT_KERNEL, OPT_FILTERS, OPT_POOL, OPT_LSTM_LAYERS, OPT_HIDDEN,
	OPT_EPOCHS, OPT_BATCH, OPT_LEARNING_RATE, OPT_L2, OPT_PATIENCE,
	OPT_VAL_FRACTION, OPT_STRIDE
};

static const struct argp_option options[] = {
	{NULL, 0, NULL, 0, "Network (nn, nn+ekf, train):", 6},
	{"net", OPT_NET, "FILE", 0, "the trained network, a bt-net(5) file", 6},
	{"stream", OPT_STREAM, "MODE", 0, "incremental (the LSTM state carried "
	 "over the whole history) or window (re-run every window; default "
	 "incremental)", 6},
	{"r-nn", OPT_R_NN, "SD", 0,
	 "nn+ekf: standard deviation of the network's soc error (default 0.01)", 6},
	{"r-nn-tau", OPT_R_NN_TAU, "S", 0,
	 "nn+ekf: that error's correlation time; 0: white (default 0)", 6},
	{"threads", OPT_THREADS, "N", 0,
	 "BLAS threads for training and the network (default 1)", 6},
	{NULL, 0, NULL, 0, "Training (bt-soc train):", 10},
	{"target", OPT_TARGET, "COL", 0,
	 "the column of reference soc to learn (required)", 10},
	{"inputs", OPT_INPUTS, "COLS", 0, "the input columns, comma-separated "
	 "(default voltage_v,current_a and temperature_c when present)", 10},
	{"val", OPT_VAL, "FILE", 0, "validate on FILE for early stopping "
	 "(repeatable; default: blocks held out of the training data)", 10},
	{"window", OPT_WINDOW, "W", 0, "samples per window (default 100)", 10},
	{"conv-layers", OPT_CONV_LAYERS, "N", 0,
	 "convolution layers, 0-4 (default 2)", 10},
	{"kernel", OPT_KERNEL, "K", 0, "kernel of each convolution (default 5)", 10},
	{"filters", OPT_FILTERS, "F", 0, "filters of each convolution (default 32)", 10},
	{"pool", OPT_POOL, "P", 0, "max-pooling width after each convolution "
	 "(default 1: none)", 10},
	{"lstm-layers", OPT_LSTM_LAYERS, "N", 0, "LSTM layers, 1 or 2 (default 1)", 10},
	{"hidden", OPT_HIDDEN, "H", 0, "units of each LSTM layer (default 32)", 10},
	{"epochs", OPT_EPOCHS, "N", 0, "largest number of epochs (default 30)", 10},
	{"batch", OPT_BATCH, "N", 0, "windows per minibatch (default 64)", 10},
	{"learning-rate", OPT_LEARNING_RATE, "X", 0, "Adam's step size (default 1e-3)", 10},
	{"l2", OPT_L2, "X", 0, "L2 penalty on the weights (default 1e-6)", 10},
	{"patience", OPT_PATIENCE, "N", 0, "epochs without a better validation "
	 "RMSE before stopping; 0 never stops early (default 5)", 10},
	{"val-fraction", OPT_VAL_FRACTION, "X", 0, "fraction held out for "
	 "validation without --val (default 0.2)", 10},
	{"stride", OPT_STRIDE, "N", 0,
	 "samples between the ends of training windows (default 1)", 10},
	{NULL, 0, NULL, 0, NULL, 0}
};

void
soc_nn_init(struct soc_nn_args *a, const char **val)
{
	memset(a, 0, sizeof *a);
	a->mode = BT_NET_INCREMENTAL;
	a->r_nn = BT_SOC_DEFAULT_R_NN;
	a->r_nn_tau_s = BT_SOC_DEFAULT_R_NN_TAU_S;
	a->threads = 1;
	a->val = val;
	bt_net_arch_init(&a->arch, 1);
	bt_net_train_opts_init(&a->train);
}

/* Split the comma-separated list ARG (in place) into A->inputs. */
static void
parse_inputs(struct argp_state *state, struct soc_nn_args *a, char *arg)
{
	char *p = arg, *comma;

	a->ninputs = 0;
	for (;;) {
		comma = strchr(p, ',');
		if (comma != NULL)
			*comma = '\0';
		if (*p == '\0')
			argp_error(state, "--inputs: an empty column name");
		if (a->ninputs == BT_NET_MAX_CHANNELS)
			argp_error(state, "--inputs: more than %d columns",
				   BT_NET_MAX_CHANNELS);
		a->inputs[a->ninputs++] = p;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
}

static unsigned
units(struct argp_state *state, const char *arg, const char *opt, double min,
      double max)
{
	return (unsigned)bt_cli_count(state, arg, opt, min, max);
}

static error_t
parse_opt(int key, char *arg, struct argp_state *state)
{
	struct soc_nn_args *a = state->input;
	struct bt_net_arch *n = &a->arch;
	struct bt_net_train_opts *o = &a->train;
	const struct argp_option *opt;
	char errmsg[BT_ERRMSG_SIZE];
	unsigned k;

	/* Remember the first training option's name, for bt-soc's message
	 * when the verb is missing. */
	for (opt = options; key >= OPT_TARGET && key <= OPT_STRIDE
	     && a->given == NULL
	     && (opt->name != NULL || opt->doc != NULL); opt++)
		if (opt->key == key)
			a->given = opt->name;
	switch (key) {
	case OPT_NET: a->net = arg; break;
	case OPT_STREAM:
		if (strcmp(arg, "incremental") == 0)
			a->mode = BT_NET_INCREMENTAL;
		else if (strcmp(arg, "window") == 0)
			a->mode = BT_NET_WINDOW;
		else
			argp_error(state, "unknown streaming mode '%s' (use incremental "
				   "or window)", arg);
		break;
	case OPT_R_NN: a->r_nn = bt_cli_positive(state, arg, "--r-nn"); break;
	case OPT_R_NN_TAU:
		a->r_nn_tau_s = bt_cli_nonnegative(state, arg, "--r-nn-tau");
		break;
	case OPT_THREADS: a->threads = units(state, arg, "--threads", 1, 256); break;
	case OPT_TARGET: a->target = arg; break;
	case OPT_INPUTS: parse_inputs(state, a, arg); break;
	case OPT_VAL: a->val[a->nval++] = arg; break;
	case OPT_WINDOW:
		n->window = units(state, arg, "--window", 1, BT_NET_MAX_WINDOW);
		break;
	case OPT_CONV_LAYERS:
		n->n_conv = units(state, arg, "--conv-layers", 0, BT_NET_MAX_CONV);
		break;
	/* The first layer's sizes; soc_nn_train gives them to every layer. */
	case OPT_KERNEL:
		n->conv[0].kernel = units(state, arg, "--kernel", 1, BT_NET_MAX_WINDOW);
		break;
	case OPT_FILTERS:
		n->conv[0].filters = units(state, arg, "--filters", 1, BT_NET_MAX_UNITS);
		break;
	case OPT_POOL:
		n->conv[0].pool = units(state, arg, "--pool", 1, BT_NET_MAX_WINDOW);
		break;
	case OPT_LSTM_LAYERS:
		n->n_lstm = units(state, arg, "--lstm-layers", 1, BT_NET_MAX_LSTM);
		break;
	case OPT_HIDDEN:
		n->hidden[0] = units(state, arg, "--hidden", 1, BT_NET_MAX_UNITS);
		break;
	case OPT_EPOCHS: o->epochs = units(state, arg, "--epochs", 1, 1e6); break;
	case OPT_BATCH: o->batch = units(state, arg, "--batch", 1, 1e6); break;
	case OPT_LEARNING_RATE:
		o->learning_rate = bt_cli_positive(state, arg, "--learning-rate");
		break;
	case OPT_L2: o->l2 = bt_cli_nonnegative(state, arg, "--l2"); break;
	case OPT_PATIENCE: o->patience = units(state, arg, "--patience", 0, 1e6); break;
	case OPT_VAL_FRACTION:
		o->val_fraction = bt_cli_number(state, arg, "--val-fraction");
		if (!(o->val_fraction >= 0 && o->val_fraction < 1))
			argp_error(state, "--val-fraction must lie in [0, 1), not '%s'", arg);
		break;
	case OPT_STRIDE: o->stride = units(state, arg, "--stride", 1, 1e9); break;
	case ARGP_KEY_END:
		/* Every layer gets the first one's sizes; the shape must hold
		 * whatever the number of input columns. */
		for (k = 1; k < BT_NET_MAX_CONV; k++)
			n->conv[k] = n->conv[0];
		for (k = 1; k < BT_NET_MAX_LSTM; k++)
			n->hidden[k] = n->hidden[0];
		if (bt_net_arch_check(n, errmsg) != BT_OK)
			argp_error(state, "%s", errmsg);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

const struct argp soc_nn_argp = {options, parse_opt, NULL, NULL, NULL,
				    NULL, NULL};

static void
free_data(void *d)
{
	bt_net_data_free(d);
}

static void
free_net(void *n)
{
	bt_net_free(n);
}

struct bt_net *
soc_nn_load(const struct soc_nn_args *a)
{
	struct bt_net *net;
	char errmsg[BT_ERRMSG_SIZE];

	if (bt_net_load(a->net, &net, errmsg) != BT_OK)
		bt_cli_die("%s", errmsg);
	bt_cli_hold(net, free_net);
	return net;
}

/* Read FILES into a new training set of the columns NAMES and TARGET, or
 * die.  With no names yet (N 0), take the default channels of the first
 * file. */
static struct bt_net_data *
read_set(const char *const *files, size_t nfiles, const char **names,
	 unsigned *n, const char *target, const struct bt_cli_common *common)
{
	struct bt_reader_opts ropts = bt_cli_reader_opts(common);
	struct bt_net_data *d = NULL;
	struct bt_reader *r;
	enum bt_status st;
	size_t i;

	for (i = 0; i < nfiles; i++) {
		r = bt_cli_open_input(files[i], &ropts);
		if (*n == 0)
			*n = bt_net_default_channels(r, names);
		if (d == NULL) {
			st = bt_net_data_alloc(&d, names, *n, target);
			if (st != BT_OK)
				bt_cli_die("%s", st == BT_ENOMEM ? "out of memory"
					   : "invalid input or target column name");
			bt_cli_hold(d, free_data);
		}
		st = bt_net_data_read(d, r);
		if (st == BT_EEMPTY)
			bt_cli_die("%s: no data rows after the header", bt_reader_filename(r));
		if (st == BT_ENOMEM)
			bt_cli_die("out of memory");
		bt_cli_check(r, st);
		bt_cli_release(r);
	}
	return d;
}

struct progress {
	int tty;
	int drawn;		/* bar cells drawn in this epoch */
};

/* Called by the trainer after every minibatch: on a terminal a bar that
 * fills as the epoch goes, otherwise one line per epoch. */
static int
show_progress(void *arg, const struct bt_net_progress *p)
{
	struct progress *pr = arg;
	int cells = p->batches ? (int)(BAR_WIDTH * p->batch / p->batches) : 0;

	if (pr->tty && (cells != pr->drawn || p->epoch_done)) {
		pr->drawn = p->epoch_done ? 0 : cells;
		fprintf(stderr, "\rbt-soc: epoch %u/%u [%-*.*s] train rmse %.4g",
			p->epoch, p->epochs, BAR_WIDTH, cells,
			"==============================", p->train_rmse);
		if (p->epoch_done && !isnan(p->val_rmse))
			fprintf(stderr, ", val rmse %.4g", p->val_rmse);
		/* Erase what a longer line left (ECMA-48 EL, erase to the end
		 * of the line). */
		fputs("\033[K", stderr);
		if (p->epoch_done)
			fputc('\n', stderr);
		fflush(stderr);
	} else if (!pr->tty && p->epoch_done && isnan(p->val_rmse)) {
		bt_cli_warn("epoch %u/%u: train rmse %.4g (no validation)",
			    p->epoch, p->epochs, p->train_rmse);
	} else if (!pr->tty && p->epoch_done) {
		bt_cli_warn("epoch %u/%u: train rmse %.4g, val rmse %.4g (best %.4g "
			    "at epoch %u)", p->epoch, p->epochs, p->train_rmse,
			    p->val_rmse, p->best_val_rmse, p->best_epoch);
	}
	return 0;
}

void
soc_nn_train(struct soc_nn_args *a, const struct bt_cli_common *common,
	      const char *const *files, size_t nfiles)
{
	struct bt_net_data *train, *val = NULL;
	struct bt_net_report rep;
	struct progress pr = {isatty(STDERR_FILENO), 0};
	struct bt_net *net;
	char errmsg[BT_ERRMSG_SIZE] = "";
	enum bt_status st;

	train = read_set(files, nfiles, a->inputs, &a->ninputs, a->target, common);
	if (a->nval > 0)
		val = read_set(a->val, a->nval, a->inputs, &a->ninputs, a->target,
			       common);
	if (!common->quiet) {
		a->train.progress = show_progress;
		a->train.progress_arg = &pr;
	}
	st = bt_net_train(&net, &a->arch, train, val, &a->train, &rep, errmsg);
	if (st != BT_OK)
		bt_cli_die("%s", errmsg[0] ? errmsg : bt_strerror(st));
	if (bt_net_save(net, common->output, errmsg) != BT_OK) {
		bt_net_free(net);
		bt_cli_die("%s", errmsg);
	}
	if (!common->quiet && rep.val_windows == 0)
		bt_cli_warn("%u epochs on %zu windows, no validation window; "
			    "wrote %s", rep.epochs_run, rep.train_windows,
			    common->output);
	else if (!common->quiet)
		bt_cli_warn("%u epochs on %zu windows (kept epoch %u: val rmse "
			    "%.4g on %zu windows%s); wrote %s", rep.epochs_run,
			    rep.train_windows, rep.best_epoch, rep.val_rmse,
			    rep.val_windows, rep.stopped_early ? ", stopped early" : "",
			    common->output);
	bt_net_free(net);
	if (val != NULL)
		bt_cli_release(val);
	bt_cli_release(train);
}
