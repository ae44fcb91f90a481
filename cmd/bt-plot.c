/* bt-plot - pictures of battools streams, rendered by gnuplot.
 *
 * Line plots of any columns (several series, a shaded band, one series per
 * value of a grouping column) and presets for the common pictures: a state
 * of charge with its interval, a fitted voltage and its residual, capacity
 * fade with the RUL forecast, ICA curves per cycle, a denoised signal over
 * the raw one.  The stream is decimated while it is read (lib/bt_plot: at
 * most four points per pixel column, the envelope kept exactly), so that
 * gnuplot gets a few thousand points whatever the length of the input.
 * This file reads options, opens the streams and reports.
 */
#include <config.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bt_cli.h"
#include "bt_plot.h"

struct plot_args {
	struct bt_cli_common common;
	struct bt_plot_opts plot;
	const char *input;
	const char *with;
	const char *gnuplot;
	int format;		/* -1 until --format or -o says */
};

enum {
	OPT_BAND = 0x200, OPT_BY, OPT_PRESET, OPT_REFERENCE, OPT_WITH, OPT_TITLE,
	OPT_XLABEL, OPT_YLABEL, OPT_WIDTH, OPT_HEIGHT, OPT_FORMAT, OPT_GNUPLOT
};

static const struct argp_option options[] = {
	{NULL, 0, NULL, 0, "What to draw:", 1},
	{"x", 'x', "COL", 0, "the column along the x axis", 1},
	{"y", 'y', "COL[,COL...]", 0, "the columns drawn as lines", 1},
	{"band", OPT_BAND, "LO,HI", 0, "shade the band between columns LO and HI", 1},
	{"by", OPT_BY, "COL[,COL]", 0,
	 "one series per value of COL (coloured by value when numeric)", 1},
	{"preset", OPT_PRESET, "NAME", 0,
	 "soc, fit, fade, ica or denoise: a ready-made picture", 1},
	{"reference", OPT_REFERENCE, "COL", 0,
	 "soc: the true state of charge (default soc_true when present)", 1},
	{"with", OPT_WITH, "FILE", 0,
	 "fade: the bt-rul --trajectory stream; denoise: the denoised stream", 1},
	{NULL, 0, NULL, 0, "The picture:", 2},
	{"title", OPT_TITLE, "TEXT", 0, "the title (default none)", 2},
	{"xlabel", OPT_XLABEL, "TEXT", 0,
	 "the x axis label (default: the column name with its unit)", 2},
	{"ylabel", OPT_YLABEL, "TEXT", 0,
	 "the y axis label (default: the first column's name with its unit)", 2},
	{"width", OPT_WIDTH, "PX", 0, "width in pixels (default 1024)", 2},
	{"height", OPT_HEIGHT, "PX", 0, "height in pixels (default 640)", 2},
	{"format", OPT_FORMAT, "FMT", 0,
	 "png, svg, pdf or csv (the decimated points; default: from the -o "
	 "name, svg on standard output)", 2},
	{"gnuplot", OPT_GNUPLOT, "PROG", 0, "the gnuplot to run (default gnuplot)", 2},
	{NULL, 0, NULL, 0, NULL, 0}
};

static const char args_doc[] = "[FILE]";

static const char doc[] =
	"Draw columns of a battools stream with gnuplot: a PNG, SVG or PDF file "
	"(by the -o name's extension), or the decimated points as CSV.\v"
	"FILE (or standard input) is any battools stream; -x and -y name its "
	"columns, or a preset does: soc (time_s, soc, soc_lo, soc_hi, soc_true), "
	"fit (time_s, voltage_v, v_model_v), fade (cycle, capacity_ah or soh; "
	"--with: cycle, forecast, forecast_lo, forecast_hi), ica (voltage_v, "
	"dqdv_ah_per_v, cycle, direction), denoise (time_s, voltage_v; --with: "
	"the same columns denoised).  Without -o, the picture goes to standard "
	"output, which must not be a terminal.\n\n"
	"Examples:\n"
	"  bt-plot -x time_s -y voltage_v drive.csv -o voltage.png\n"
	"  bt-soc -q -m nmc18650.ecm drive.csv | bt-plot --preset soc -o soc.svg\n"
	"  bt-plot --preset ica ica.csv -o ica.pdf";

static unsigned
pixels(struct argp_state *state, const char *arg, const char *opt)
{
	return (unsigned)bt_cli_count(state, arg, opt, 16, 20000);
}

static error_t
parse_opt(int key, char *arg, struct argp_state *state)
{
	struct plot_args *a = state->input;
	struct bt_plot_opts *o = &a->plot;
	int n, f;

	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = &a->common;
		break;
	case 'x':
		o->x = arg;
		break;
	case 'y':
		o->y = arg;
		break;
	case OPT_BAND:
		if (strchr(arg, ',') == NULL || strchr(arg, ',') != strrchr(arg, ','))
			argp_error(state, "--band takes two columns LO,HI, not '%s'", arg);
		o->band = arg;
		break;
	case OPT_BY:
		o->by = arg;
		break;
	case OPT_PRESET:
		if ((n = bt_plot_preset_parse(arg)) < 0)
			argp_error(state, "unknown preset '%s' (use soc, fit, fade, ica or "
				   "denoise)", arg);
		o->preset = (enum bt_plot_preset)n;
		break;
	case OPT_REFERENCE:
		o->reference = arg;
		break;
	case OPT_WITH:
		a->with = arg;
		break;
	case OPT_TITLE:
		o->title = arg;
		break;
	case OPT_XLABEL:
		o->xlabel = arg;
		break;
	case OPT_YLABEL:
		o->ylabel = arg;
		break;
	case OPT_WIDTH:
		o->width = pixels(state, arg, "--width");
		break;
	case OPT_HEIGHT:
		o->height = pixels(state, arg, "--height");
		break;
	case OPT_FORMAT:
		a->format = strcmp(arg, "png") == 0 ? BT_PLOT_PNG
			: strcmp(arg, "svg") == 0 ? BT_PLOT_SVG
			: strcmp(arg, "pdf") == 0 ? BT_PLOT_PDF
			: strcmp(arg, "csv") == 0 ? BT_PLOT_CSV : -1;
		if (a->format < 0)
			argp_error(state, "unknown format '%s' (use png, svg, pdf or csv)", arg);
		break;
	case OPT_GNUPLOT:
		a->gnuplot = arg;
		break;
	case ARGP_KEY_ARG:
		if (a->input != NULL)
			argp_error(state, "extra operand '%s'", arg);
		a->input = arg;
		break;
	case ARGP_KEY_END:
		if (o->preset == BT_PLOT_PRESET_NONE && (o->x == NULL || o->y == NULL))
			argp_error(state, "name the columns with -x and -y, or use --preset");
		if (o->preset == BT_PLOT_PRESET_FIT && o->y != NULL
		    && (strchr(o->y, ',') == NULL || strchr(o->y, ',') != strrchr(o->y, ',')))
			argp_error(state, "--preset fit takes -y MEASURED,MODEL, not '%s'", o->y);
		if (a->with != NULL && bt_plot_preset_with(o->preset) == 0)
			argp_error(state, "--with is for --preset fade and denoise");
		if (a->with == NULL && bt_plot_preset_with(o->preset) == 2)
			argp_error(state, "--preset denoise needs --with FILE (the denoised stream)");
		if (a->with != NULL && strcmp(a->with, "-") == 0
		    && (a->input == NULL || strcmp(a->input, "-") == 0))
			argp_error(state, "FILE and --with cannot both be standard input");
		if (o->reference != NULL && o->preset != BT_PLOT_PRESET_SOC)
			argp_error(state, "--reference is for --preset soc");
		if (a->common.output != NULL) {
			f = bt_plot_format_of(a->common.output);
			if (a->format < 0 && f < 0)
				argp_error(state, "unknown output type '%s' (use .png, .svg, "
					   ".pdf, .csv or .csv.gz, or --format)", a->common.output);
			if (a->format >= 0 && f >= 0 && f != a->format)
				argp_error(state, "--format does not match the output name '%s'",
					   a->common.output);
			if (a->format < 0)
				a->format = f;
		} else if (a->format < 0) {
			if (isatty(STDOUT_FILENO))
				argp_error(state, "standard output is a terminal: name a picture "
					   "with -o FILE.png (or .svg, .pdf), or redirect it");
			a->format = BT_PLOT_SVG;
		}
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp argp = {options, parse_opt, args_doc, doc,
				 bt_cli_children, NULL, NULL};

static void
free_plot(void *plot)
{
	bt_plot_free(plot);
}

/* Read R (source S) into the plot, or die. */
static void
read_stream(struct bt_plot *plot, struct bt_reader *r, int s)
{
	enum bt_status st = bt_plot_read(plot, r, s);

	if (st == BT_EEMPTY)
		bt_cli_die("%s: no data rows after the header", bt_reader_filename(r));
	if (st == BT_ENOMEM)
		bt_cli_die("%s", bt_strerror(st));
	bt_cli_check(r, st);
}

int
main(int argc, char **argv)
{
	struct plot_args args;
	struct bt_reader_opts ropts;
	struct bt_reader *r, *w = NULL, *failed;
	struct bt_writer *out;
	struct bt_plot *plot;
	char errmsg[BT_ERRMSG_SIZE];
	enum bt_status st;

	bt_cli_init("bt-plot");
	memset(&args, 0, sizeof args);
	bt_plot_opts_init(&args.plot);
	args.format = -1;
	args.gnuplot = "gnuplot";
	argp_parse(&argp, argc, argv, 0, NULL, &args);

	if ((st = bt_plot_alloc(&plot, &args.plot)) != BT_OK)
		bt_cli_die("%s", bt_strerror(st));
	bt_cli_hold(plot, free_plot);
	ropts = bt_cli_reader_opts(&args.common);
	r = bt_cli_open_input(args.input, &ropts);
	if (args.with != NULL)
		w = bt_cli_open_input(args.with, &ropts);
	st = bt_plot_columns(plot, r, w, &failed);
	if (st == BT_ENOCOL)
		bt_cli_check(failed, st);
	if (st == BT_EINVAL)
		bt_cli_die("invalid column list in -y, --band or --by (at most %d "
			   "columns, none empty)", BT_PLOT_MAX_LAYERS);
	if (st != BT_OK)
		bt_cli_die("%s", bt_strerror(st));
	read_stream(plot, r, 0);
	if (w != NULL)
		read_stream(plot, w, 1);

	if (args.format == BT_PLOT_CSV) {
		out = bt_cli_open_output(&args.common);
		if (bt_plot_write_csv(plot, out) == BT_ENOMEM)
			bt_cli_die("%s", bt_strerror(BT_ENOMEM));
		bt_cli_close_output(out);
	} else {
		fflush(stdout);
		if (bt_plot_render(plot, (enum bt_plot_format)args.format,
				   args.common.output, STDOUT_FILENO, args.gnuplot,
				   errmsg) != BT_OK)
			bt_cli_die("%s", errmsg);
	}
	bt_cli_release(w);
	bt_cli_release(r);
	bt_cli_release(plot);
	bt_cli_common_free(&args.common);
	return BT_EXIT_OK;
}
