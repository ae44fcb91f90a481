/* bt-import - turn a cycler export into the canonical battools stream.
 *
 * The reader recognises the export (bt_schema) and converts every mapped
 * column to canonical units and the canonical current sign; this program
 * only checks that the core columns are there and finite, and writes the
 * stream: mapped columns first, then the others as they were.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bt_cli.h"
#include "bt_num.h"

/* The columns without which an export is no time series. */
static const char *const required[] = {"time_s", "current_a", "voltage_v"};
#define NREQUIRED (sizeof required / sizeof required[0])

struct import_args {
	struct bt_cli_common common;
	const char *input;
	int explain;
};

enum { OPT_EXPLAIN = 0x200 };

static const struct argp_option options[] = {
	{"explain", OPT_EXPLAIN, NULL, 0,
	 "print how the input's columns map to canonical ones, and exit", 0},
	{NULL, 0, NULL, 0, NULL, 0}
};

static const char args_doc[] = "[FILE]";

static const char doc[] =
	"Convert a cycler export (Arbin, Maccor, Bitrode, Neware, BioLogic .mpt "
	"text, NASA PCoE, Battery Archive) to the canonical battools stream.\v"
	"FILE may be gzip-compressed; without FILE, or when FILE is -, read "
	"standard input.  Output columns: time_s, current_a (positive = charge), "
	"voltage_v and whichever of temperature_c, cycle, step, capacity_ah, "
	"energy_wh the export has, in canonical units, then every other input "
	"column unchanged.\n\n"
	"Examples:\n"
	"  bt-import arbin_export.csv > cell01.csv\n"
	"  bt-import --explain maccor_export.txt\n"
	"  bt-import --map time_s=Seconds --map current_a='mA*0.001' log.csv.gz";

static error_t
parse_opt(int key, char *arg, struct argp_state *state)
{
	struct import_args *a = state->input;

	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = &a->common;
		break;
	case OPT_EXPLAIN:
		a->explain = 1;
		break;
	case ARGP_KEY_ARG:
		if (a->input != NULL)
			argp_error(state, "extra operand '%s'", arg);
		a->input = arg;
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp argp = {options, parse_opt, args_doc, doc,
				 bt_cli_children, NULL, NULL};

/* Print the schema as CSV: output column, source column, conversion. */
static void
explain(const struct bt_reader *r, struct bt_writer *w)
{
	static const char *const conv[] = {"text", "number", "duration",
					   "state-signed number"};
	const struct bt_schema *s = bt_reader_schema(r);
	size_t i;

	bt_writer_raw(w, "format", 6);
	bt_writer_raw(w, "column", 6);
	bt_writer_raw(w, "source_index", 12);
	bt_writer_raw(w, "conversion", 10);
	bt_writer_raw(w, "scale", 5);
	bt_cli_end_row(w);
	for (i = 0; i < s->ncols; i++) {
		const struct bt_schema_col *c = &s->cols[i];

		bt_writer_text(w, s->format, strlen(s->format));
		bt_writer_text(w, c->name, strlen(c->name));
		bt_writer_number(w, (double)c->source + 1);
		bt_writer_text(w, conv[c->conv], strlen(conv[c->conv]));
		bt_writer_number(w, c->scale);
		bt_cli_end_row(w);
	}
}

/* Whether the schema maps any column to a canonical one. */
static int
any_mapped(const struct bt_schema *s)
{
	size_t i;

	for (i = 0; i < s->ncols; i++)
		if (s->cols[i].conv != BT_CONV_TEXT)
			return 1;
	return 0;
}

/* Die naming the columns of a header nothing in which was recognised. */
static void
unrecognised(const struct bt_reader *r)
{
	char list[BT_ERRMSG_SIZE] = "";
	size_t i, n = 0, k;

	for (i = 0; i < bt_reader_ncols(r) && n < sizeof list; i++) {
		k = (size_t)snprintf(list + n, sizeof list - n, "%s%s",
				     i ? ", " : "", bt_reader_name(r, i));
		n += k;
	}
	if (n >= sizeof list)
		strcpy(list + sizeof list - 4, "...");
	bt_cli_die("%s: unrecognised header (columns found: %s); name the "
		   "columns with --map CANONICAL=SOURCE",
		   bt_reader_filename(r), list);
}

static void
run_import(struct bt_reader *r, struct bt_writer *w,
	   const struct bt_cli_common *common)
{
	const struct bt_schema *schema = bt_reader_schema(r);
	size_t ncols = bt_reader_ncols(r), i, col;
	unsigned char *finite;
	enum bt_status st;
	unsigned long rows = 0;

	/* Required columns must hold finite numbers, other mapped columns a
	 * number or nothing; text columns pass through unread. */
	finite = calloc(ncols + 1, 1);
	if (finite == NULL)
		bt_cli_die("out of memory");
	bt_cli_hold(finite, free);
	for (i = 0; i < NREQUIRED; i++) {
		bt_cli_check(r, bt_reader_require(r, required[i], &col));
		finite[col] = 1;
	}
	if (bt_reader_copy_header(r, w, NULL, common->precision > 0) != BT_OK)
		bt_cli_die("out of memory");
	bt_cli_end_row(w);

	while ((st = bt_reader_next(r)) == BT_OK) {
		for (i = 0; i < ncols; i++)
			if (schema->cols[i].conv != BT_CONV_TEXT)
				bt_cli_check(r, bt_reader_check(r, i, finite[i]));
		bt_reader_copy_row(r, w);
		bt_cli_end_row(w);
		rows++;
	}
	if (st != BT_EOF)
		bt_cli_check(r, st);
	if (rows == 0)
		bt_cli_die("%s: no data rows after the header", bt_reader_filename(r));
	bt_cli_release(finite);
}

int
main(int argc, char **argv)
{
	struct import_args args;
	struct bt_reader_opts opts;
	struct bt_reader *r;
	struct bt_writer *w;

	bt_cli_init("bt-import");
	memset(&args, 0, sizeof args);
	argp_parse(&argp, argc, argv, 0, NULL, &args);

	opts = bt_cli_reader_opts(&args.common);
	opts.check_time = !args.explain;
	r = bt_cli_open_input(args.input, &opts);
	if (!args.explain && !any_mapped(bt_reader_schema(r)))
		unrecognised(r);
	w = bt_cli_open_output(&args.common);
	if (args.explain)
		explain(r, w);
	else
		run_import(r, w, &args.common);
	bt_cli_close_output(w);
	bt_cli_release(r);
	bt_cli_common_free(&args.common);
	return BT_EXIT_OK;
}
