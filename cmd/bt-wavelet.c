/* bt-wavelet - wavelet transforms, denoising and wavelet impedance.
 *
 * Subcommands: dwt, wavedec and swt write a column's coefficients as a
 * long table (lib/bt_wtable); idwt, waverec and iswt read one back;
 * denoise streams the input through the block denoiser (lib/bt_denoise),
 * holding the rows of the current block (lib/bt_rowq); impedance
 * estimates Z(f) from voltage and current (lib/bt_impedance).  This file
 * reads options, wires the pieces and reports.
 */
#include <config.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bt_cli.h"
#include "bt_denoise.h"
#include "bt_impedance.h"
#include "bt_num.h"
#include "bt_wavelet.h"
#include "bt_wtable.h"

enum sub { DWT, IDWT, WAVEDEC, WAVEREC, SWT, ISWT, DENOISE, IMPEDANCE, NSUB };
static const char *const sub_names[NSUB] = {
	"dwt", "idwt", "wavedec", "waverec", "swt", "iswt", "denoise", "impedance"
};

/* Most columns -c may name. */
#define MAX_COLUMNS 64

struct wavelet_args {
	struct bt_cli_common common;
	int sub;			/* -1 until given */
	const char *input;
	char *columns;
	const char *voltage, *current;
	struct bt_denoise_opts dn;	/* wavelet, mode, level, denoising */
	struct bt_impedance_opts imp;
};

enum {
	OPT_TRANSFORM = 0x200, OPT_THRESHOLD, OPT_SHRINK, OPT_SIGMA,
	OPT_SIGMA_PER_LEVEL, OPT_SIGMA_UPDATE, OPT_BLOCK, OPT_VOLTAGE, OPT_CURRENT,
	OPT_FMIN, OPT_FMAX, OPT_PER_DECADE, OPT_OMEGA0, OPT_EXCITATION, OPT_DT
};

static const struct argp_option options[] = {
	{NULL, 0, NULL, 0, "Transforms (all subcommands but impedance):", 1},
	{"columns", 'c', "COLS", 0,
	 "the columns to transform or denoise, comma-separated (required)", 1},
	{"wavelet", 'w', "NAME", 0,
	 "haar, db1-db38, sym2-sym20, coif1-coif17, biorN.M, rbioN.M, dmey "
	 "(default haar)", 1},
	{"mode", 'm', "MODE", 0, "signal extension: zero, constant, symmetric, "
	 "reflect, periodic, smooth, periodization, antisymmetric, antireflect "
	 "(default symmetric)", 1},
	{"level", 'l', "N", 0, "decomposition levels (default: wavedec, swt the "
	 "deepest useful; denoise 6, fewer for short signals)", 1},
	{NULL, 0, NULL, 0, "Denoising:", 2},
	{"transform", OPT_TRANSFORM, "NAME", 0,
	 "swt (translation-invariant) or dwt (decimated) (default swt)", 2},
	{"threshold", OPT_THRESHOLD, "RULE", 0,
	 "universal, sure, bayes, minimax, or a number (default universal)", 2},
	{"shrink", OPT_SHRINK, "NAME", 0, "soft, hard or garrote (default hard)", 2},
	{"sigma", OPT_SIGMA, "S", 0,
	 "the noise level (default: estimated from the first block)", 2},
	{"sigma-per-level", OPT_SIGMA_PER_LEVEL, NULL, 0,
	 "estimate the noise level at every level (correlated noise)", 2},
	{"sigma-update", OPT_SIGMA_UPDATE, NULL, 0,
	 "re-estimate the noise level in every block (drifting noise)", 2},
	{"block", OPT_BLOCK, "N", 0, "samples per block (default 65536)", 2},
	{NULL, 0, NULL, 0, "Impedance:", 3},
	{"voltage", OPT_VOLTAGE, "COL", 0, "the voltage column (default voltage_v)", 3},
	{"current", OPT_CURRENT, "COL", 0, "the current column (default current_a)", 3},
	{"fmin", OPT_FMIN, "HZ", 0, "lowest frequency (default: the record's)", 3},
	{"fmax", OPT_FMAX, "HZ", 0, "highest frequency (default: rate / 4)", 3},
	{"per-decade", OPT_PER_DECADE, "N", 0, "frequencies per decade (default 8)", 3},
	{"omega0", OPT_OMEGA0, "W", 0, "Morlet centre frequency (default 6)", 3},
	{"excitation", OPT_EXCITATION, "FRAC", 0,
	 "average where |W_I| >= FRAC of its largest value (default 0.1)", 3},
	{"dt", OPT_DT, "S", 0, "sample period (default: the median step)", 3},
	{NULL, 0, NULL, 0, NULL, 0}
};

static const char args_doc[] = "SUBCOMMAND [FILE]";

static const char doc[] =
	"Wavelet transforms, denoising and wavelet impedance of battery data.\v"
	"SUBCOMMAND is dwt, idwt, wavedec, waverec, swt, iswt, denoise or "
	"impedance.  dwt, wavedec and swt write the table column, level, band, "
	"index, value; idwt, waverec and iswt read it back.  denoise replaces "
	"the -c columns of the stream by their denoised values, streaming.  "
	"impedance reads time_s, voltage_v and current_a (positive = charge) and "
	"writes frequency_hz, z_re_ohm, z_im_ohm, coherence, z_abs_ohm, "
	"z_phase_deg.\n\n"
	"Examples:\n"
	"  bt-wavelet denoise -c voltage_v noisy_hppc.csv.gz > smooth.csv\n"
	"  bt-wavelet wavedec -c voltage_v -w db4 -l 5 noisy_hppc.csv.gz > coeffs.csv\n"
	"  bt-wavelet waverec -w db4 coeffs.csv | head -n 3\n"
	"  bt-wavelet impedance noisy_drive.csv.gz";

static error_t
parse_opt(int key, char *arg, struct argp_state *state)
{
	struct wavelet_args *a = state->input;
	struct bt_denoise_opts *d = &a->dn;

	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = &a->common;
		break;
	case 'c':
		a->columns = arg;
		break;
	case 'w':
		if ((d->wavelet = bt_wavelet_find(arg)) == NULL)
			argp_error(state, "unknown wavelet '%s' (use haar, dbN, symN, "
				   "coifN, biorN.M, rbioN.M or dmey)", arg);
		break;
	case 'm':
		if (bt_wavelet_mode_parse(arg, &d->mode) != BT_OK)
			argp_error(state, "unknown mode '%s' (use zero, constant, symmetric, "
				   "reflect, periodic, smooth, periodization, antisymmetric "
				   "or antireflect)", arg);
		break;
	case 'l':
		d->level = (unsigned)bt_cli_count(state, arg, "--level", 1,
						  BT_WAVELET_MAX_LEVEL - 2);
		break;
	case OPT_TRANSFORM:
		if (strcmp(arg, "swt") != 0 && strcmp(arg, "dwt") != 0)
			argp_error(state, "unknown transform '%s' (use swt or dwt)", arg);
		d->transform = arg[0] == 's' ? BT_DENOISE_SWT : BT_DENOISE_DWT;
		break;
	case OPT_THRESHOLD:
		if (bt_denoise_rule_parse(arg, &d->rule) != BT_OK) {
			d->rule = BT_DENOISE_FIXED;
			if (bt_num_parse(arg, strlen(arg), '.', &d->threshold) != BT_OK
			    || !isfinite(d->threshold) || d->threshold < 0)
				argp_error(state, "unknown threshold '%s' (use universal, "
					   "sure, bayes, minimax or a number >= 0)", arg);
		}
		break;
	case OPT_SHRINK:
		if (bt_denoise_shrink_parse(arg, &d->shrink) != BT_OK)
			argp_error(state, "unknown shrinkage '%s' (use soft, hard or "
				   "garrote)", arg);
		break;
	case OPT_SIGMA:
		d->sigma = bt_cli_positive(state, arg, "--sigma");
		break;
	case OPT_SIGMA_PER_LEVEL:
		d->sigma_per_level = 1;
		break;
	case OPT_SIGMA_UPDATE:
		d->sigma_update = 1;
		break;
	case OPT_BLOCK:
		d->block = (size_t)bt_cli_count(state, arg, "--block", 1, 1e8);
		break;
	case OPT_VOLTAGE:
		a->voltage = arg;
		break;
	case OPT_CURRENT:
		a->current = arg;
		break;
	case OPT_FMIN:
		a->imp.fmin_hz = bt_cli_positive(state, arg, "--fmin");
		break;
	case OPT_FMAX:
		a->imp.fmax_hz = bt_cli_positive(state, arg, "--fmax");
		break;
	case OPT_PER_DECADE:
		a->imp.per_decade = (unsigned)bt_cli_count(state, arg,
							   "--per-decade", 1, 1000);
		break;
	case OPT_OMEGA0:
		a->imp.omega0 = bt_cli_positive(state, arg, "--omega0");
		break;
	case OPT_EXCITATION:
		a->imp.excitation = bt_cli_number(state, arg, "--excitation");
		if (a->imp.excitation < 0 || a->imp.excitation >= 1)
			argp_error(state, "--excitation must lie in [0, 1), not '%s'", arg);
		break;
	case OPT_DT:
		a->imp.dt_s = bt_cli_positive(state, arg, "--dt");
		break;
	case ARGP_KEY_ARG:
		bt_cli_operand(state, arg, sub_names, NSUB, &a->sub, &a->input);
		break;
	case ARGP_KEY_END:
		if (a->sub < 0)
			argp_error(state, "no subcommand (use dwt, idwt, wavedec, waverec, "
				   "swt, iswt, denoise or impedance)");
		if ((a->sub == DWT || a->sub == WAVEDEC || a->sub == SWT
		     || a->sub == DENOISE) && a->columns == NULL)
			argp_error(state, "%s needs -c COLS", sub_names[a->sub]);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp argp = {options, parse_opt, args_doc, doc,
				 bt_cli_children, NULL, NULL};

/* Resolve the comma-separated names of -c to column indices. */
static size_t
resolve(struct bt_reader *r, const char *list, size_t *cols)
{
	size_t k;
	enum bt_status st = bt_wtable_find_columns(r, list, cols, MAX_COLUMNS, &k);

	if (st == BT_EINVAL)
		bt_cli_die("-c names no column, or more than %d", MAX_COLUMNS);
	bt_cli_check(r, st);
	return k;
}

static void
no_rows(const struct bt_reader *r, enum bt_status st)
{
	if (st == BT_EEMPTY)
		bt_cli_die("%s: no data rows after the header", bt_reader_filename(r));
	if (st == BT_ENOMEM)
		bt_cli_die("out of memory");
	bt_cli_check(r, st);
}

/* Arrays freed together, also when the tool dies. */
struct arrays {
	double *p[MAX_COLUMNS + 2];
	size_t n;
};

static void
free_arrays(void *v)
{
	struct arrays *a = v;
	size_t i;

	for (i = 0; i < a->n; i++)
		free(a->p[i]);
}

static void
free_wtable(void *t)
{
	bt_wtable_free(t);
}

static void
out_of_memory_if(int failed)
{
	if (failed)
		bt_cli_die("out of memory");
}

/* dwt, wavedec, swt: columns in, a coefficient table out. */
static void
run_forward(const struct wavelet_args *a, struct bt_reader *r, struct bt_writer *w)
{
	const struct bt_wavelet *wl = a->dn.wavelet;
	size_t cols[MAX_COLUMNS], k, n, j, f = bt_wavelet_filter_length(wl);
	struct arrays x = {{NULL}, 0};
	unsigned max;
	enum bt_status st;

	k = resolve(r, a->columns, cols);
	no_rows(r, bt_wtable_read_columns(r, cols, k, x.p, &n));
	x.n = k;
	bt_cli_hold(&x, free_arrays);
	max = bt_wavelet_max_level(n, f);
	if (max == 0)
		bt_cli_die("%zu samples are too short for %s (%zu taps)", n,
			   bt_wavelet_name(wl), f);
	if (a->dn.level > max)
		bt_cli_die("level %u is too deep for %zu samples with %s (at most %u)",
			   a->dn.level, n, bt_wavelet_name(wl), max);
	if (bt_wtable_write_header(w) != BT_OK)
		bt_cli_die("%s", bt_writer_errmsg(w));
	for (j = 0; j < k; j++) {
		st = bt_wtable_forward(w, bt_reader_name(r, cols[j]), wl, a->dn.mode,
				       (enum bt_wtable_kind)a->sub,
				       a->dn.level ? a->dn.level : max, x.p[j], n);
		out_of_memory_if(st == BT_ENOMEM);
		if (st != BT_OK)
			bt_cli_die("%s", bt_writer_errmsg(w));
	}
	bt_cli_release(&x);
}

static void
run_inverse(const struct wavelet_args *a, struct bt_reader *r, struct bt_writer *w)
{
	struct bt_wtable *t;
	struct arrays y = {{NULL}, 0};
	size_t n = 0, m, i, j;
	char msg[BT_ERRMSG_SIZE];
	enum bt_status st = bt_wtable_read(r, &t);

	if (st != BT_OK || t == NULL) {
		no_rows(r, st);
		bt_cli_die("%s", bt_strerror(st));
	}
	bt_cli_hold(t, free_wtable);
	if (t->ncols > MAX_COLUMNS)
		bt_cli_die("more than %d columns in the table", MAX_COLUMNS);
	bt_cli_hold(&y, free_arrays);
	for (j = 0; j < t->ncols; j++) {
		st = bt_wtable_inverse(&t->cols[j], a->dn.wavelet, a->dn.mode,
				       (enum bt_wtable_kind)a->sub, &y.p[j], &m, msg);
		out_of_memory_if(st == BT_ENOMEM);
		if (st != BT_OK)
			bt_cli_die("%s", msg);
		y.n++;
		if (j > 0 && m != n)
			bt_cli_die("column '%s' has %zu samples, '%s' %zu", t->cols[j].name,
				   m, t->cols[0].name, n);
		n = m;
		bt_writer_text(w, t->cols[j].name, strlen(t->cols[j].name));
	}
	bt_cli_end_row(w);
	for (i = 0; i < n; i++) {
		for (j = 0; j < t->ncols; j++)
			bt_writer_number(w, y.p[j][i]);
		bt_cli_end_row(w);
	}
	bt_cli_release(&y);
	bt_cli_release(t);
}

static void
free_denoise(void *p)
{
	bt_denoise_free(p);
}

static void
run_denoise(const struct wavelet_args *a, struct bt_reader *r, struct bt_writer *w)
{
	size_t cols[MAX_COLUMNS], k;
	struct bt_denoise *dn;
	enum bt_status st;

	k = resolve(r, a->columns, cols);
	out_of_memory_if(bt_denoise_alloc(&dn, &a->dn, k) != BT_OK);
	bt_cli_hold(dn, free_denoise);
	st = bt_denoise_stream(dn, r, w, cols, a->common.precision);
	if (st == BT_EEMPTY)
		no_rows(r, st);
	if (st == BT_ERANGE)
		bt_cli_die("%s: %zu samples are too short for level %u with %s",
			   bt_reader_filename(r), bt_denoise_length(dn),
			   a->dn.level ? a->dn.level : 1, bt_wavelet_name(a->dn.wavelet));
	if (st == BT_EIO && bt_writer_errmsg(w)[0] != '\0')
		bt_cli_die("%s", bt_writer_errmsg(w));
	out_of_memory_if(st == BT_ENOMEM);
	bt_cli_check(r, st);
	bt_cli_release(dn);
}

static void
run_impedance(const struct wavelet_args *a, struct bt_reader *r, struct bt_writer *w)
{
	size_t cols[3], n, np, j;
	double *x[3], dt;
	struct bt_impedance_point *p;
	enum bt_status st;

	bt_cli_check(r, bt_reader_require(r, "time_s", &cols[0]));
	bt_cli_check(r, bt_reader_require(r, a->voltage, &cols[1]));
	bt_cli_check(r, bt_reader_require(r, a->current, &cols[2]));
	no_rows(r, bt_wtable_read_columns(r, cols, 3, x, &n));
	st = bt_impedance_estimate(x[0], x[1], x[2], n, &a->imp, &p, &np, &dt);
	for (j = 0; j < 3; j++)
		free(x[j]);
	if (st == BT_EEMPTY)
		bt_cli_die("%s: fewer than %d samples with increasing time",
			   bt_reader_filename(r), BT_IMPEDANCE_MIN_SAMPLES);
	if (st == BT_ERANGE)
		bt_cli_die("%s: the current '%s' is constant: nothing excites the cell",
			   bt_reader_filename(r), a->current);
	if (st == BT_EINVAL)
		bt_cli_die("no frequencies between --fmin and --fmax");
	out_of_memory_if(st != BT_OK);
	st = bt_impedance_write(w, p, np);
	free(p);
	if (st != BT_OK)
		bt_cli_die("%s", bt_writer_errmsg(w));
}

int
main(int argc, char **argv)
{
	struct wavelet_args args;
	struct bt_reader_opts ropts;
	struct bt_reader *r;
	struct bt_writer *w;

	bt_cli_init("bt-wavelet");
	memset(&args, 0, sizeof args);
	args.sub = -1;
	args.voltage = "voltage_v";
	args.current = "current_a";
	bt_denoise_opts_init(&args.dn);
	bt_impedance_opts_init(&args.imp);
	argp_parse(&argp, argc, argv, 0, NULL, &args);

	ropts = bt_cli_reader_opts(&args.common);
	r = bt_cli_open_input(args.input, &ropts);
	w = bt_cli_open_output(&args.common);
	if (args.sub == DENOISE)
		run_denoise(&args, r, w);
	else if (args.sub == IMPEDANCE)
		run_impedance(&args, r, w);
	else if (args.sub == IDWT || args.sub == WAVEREC || args.sub == ISWT)
		run_inverse(&args, r, w);
	else
		run_forward(&args, r, w);
	bt_cli_close_output(w);
	bt_cli_release(r);
	bt_cli_common_free(&args.common);
	return BT_EXIT_OK;
}
