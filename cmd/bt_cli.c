/* bt_cli.c - the common options, messages and exit handling of the tools. */
#include <config.h>

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gsl/gsl_errno.h>

#include "bt_cli.h"
#include "bt_ecm.h"
#include "bt_num.h"

static const char *program = "battools";
static char version[128];

/* What a dying tool frees, so that a failure leaks nothing (and
 * LeakSanitizer, in the sanitizer build, has nothing to report). */
#define MAX_HELD 8
static struct {
	void *obj;
	void (*free_fn)(void *);
} held[MAX_HELD];

/* The common options are listed after each tool's own, before --help. */
#define BT_CLI_COMMON_GROUP 50

enum {
	OPT_MAP = 0x100,
	OPT_DISCHARGE_POSITIVE,
	OPT_DECIMAL_COMMA
};

static const struct argp_option options[] = {
	{NULL, 0, NULL, 0, "Common options:", BT_CLI_COMMON_GROUP},
	{"output", 'o', "FILE", 0,
	 "write to FILE (atomically; gzip when it ends in .gz) instead of "
	 "standard output", BT_CLI_COMMON_GROUP},
	{"delimiter", 'd', "CHAR", 0,
	 "field delimiter: ',', ';' or 'tab' (default: detected on input, "
	 "',' on output)", BT_CLI_COMMON_GROUP},
	{"precision", 'p', "N", 0,
	 "write numbers with N significant digits (1-17; default: the "
	 "shortest form that reads back exactly)", BT_CLI_COMMON_GROUP},
	{"map", OPT_MAP, "CANONICAL=SOURCE[*SCALE]", 0,
	 "read column CANONICAL from the input column SOURCE, multiplied by "
	 "SCALE (repeatable)", BT_CLI_COMMON_GROUP},
	{"discharge-positive", OPT_DISCHARGE_POSITIVE, NULL, 0,
	 "the input's current is positive on discharge: flip its sign",
	 BT_CLI_COMMON_GROUP},
	{"decimal-comma", OPT_DECIMAL_COMMA, NULL, 0,
	 "the input writes numbers with a decimal comma (3,6512)",
	 BT_CLI_COMMON_GROUP},
	{"quiet", 'q', NULL, 0, "print no summary or warnings",
	 BT_CLI_COMMON_GROUP},
	{NULL, 0, NULL, 0, NULL, 0}
};

double
bt_cli_number(struct argp_state *state, const char *arg, const char *opt)
{
	double x;

	if (bt_num_parse(arg, strlen(arg), '.', &x) != BT_OK || !isfinite(x))
		argp_error(state, "invalid number '%s' for %s", arg, opt);
	return x;
}

double
bt_cli_positive(struct argp_state *state, const char *arg, const char *opt)
{
	double x = bt_cli_number(state, arg, opt);

	if (!(x > 0))
		argp_error(state, "%s must be positive, not '%s'", opt, arg);
	return x;
}

double
bt_cli_nonnegative(struct argp_state *state, const char *arg, const char *opt)
{
	double x = bt_cli_number(state, arg, opt);

	if (x < 0)
		argp_error(state, "%s must not be negative, not '%s'", opt, arg);
	return x;
}

double
bt_cli_range(struct argp_state *state, const char *arg, const char *opt,
	     double lo, double hi)
{
	double x = bt_cli_number(state, arg, opt);

	if (!(x >= lo && x <= hi))
		argp_error(state, "%s must lie in [%g, %g], not '%s'", opt, lo, hi,
			   arg);
	return x;
}

double
bt_cli_count(struct argp_state *state, const char *arg, const char *opt,
	     double min, double max)
{
	double x = bt_cli_number(state, arg, opt);

	if (x != floor(x) || x < min || x > max)
		argp_error(state, "%s must be a whole number from %.17g to %.17g, "
			   "not '%s'", opt, min, max, arg);
	return x;
}

void
bt_cli_operand(struct argp_state *state, const char *arg,
	       const char *const *names, int n, int *sub, const char **input)
{
	int i;

	if (*sub < 0) {
		for (i = 0; i < n && strcmp(arg, names[i]) != 0; i++)
			;
		if (i == n)
			argp_error(state, "unknown subcommand '%s'", arg);
		*sub = i;
	} else if (*input == NULL) {
		*input = arg;
	} else {
		argp_error(state, "extra operand '%s'", arg);
	}
}

static char
parse_delimiter(const char *arg)
{
	if (strcmp(arg, ",") == 0 || strcmp(arg, "comma") == 0)
		return ',';
	if (strcmp(arg, ";") == 0 || strcmp(arg, "semicolon") == 0)
		return ';';
	if (strcmp(arg, "\t") == 0 || strcmp(arg, "tab") == 0
	    || strcmp(arg, "\\t") == 0)
		return '\t';
	return 0;
}

static error_t
parse_opt(int key, char *arg, struct argp_state *state)
{
	struct bt_cli_common *c = state->input;
	struct bt_schema_map *maps;
	char **storage;
	double p;

	switch (key) {
	case 'o':
		c->output = arg;
		break;
	case 'd':
		c->delimiter = parse_delimiter(arg);
		if (c->delimiter == 0)
			argp_error(state, "invalid delimiter '%s' (use ',', ';' or 'tab')",
				   arg);
		break;
	case 'p':
		p = bt_cli_number(state, arg, "--precision");
		if (p != floor(p) || p < 1 || p > BT_NUM_MAX_PRECISION)
			argp_error(state, "invalid precision '%s' (use 1 to %d)",
				   arg, BT_NUM_MAX_PRECISION);
		c->precision = (int)p;
		break;
	case OPT_MAP:
		maps = realloc(c->maps, (c->nmaps + 1) * sizeof *maps);
		storage = realloc(c->map_storage, (c->nmaps + 1) * sizeof *storage);
		if (maps == NULL || storage == NULL)
			bt_cli_die("out of memory");
		c->maps = maps;
		c->map_storage = storage;
		if (bt_schema_parse_map(arg, &c->maps[c->nmaps],
					&c->map_storage[c->nmaps]) != BT_OK)
			argp_error(state,
				   "invalid --map '%s' (use CANONICAL=SOURCE or "
				   "CANONICAL=SOURCE*SCALE)", arg);
		c->nmaps++;
		break;
	case OPT_DISCHARGE_POSITIVE:
		c->discharge_positive = 1;
		break;
	case OPT_DECIMAL_COMMA:
		c->decimal_comma = 1;
		break;
	case 'q':
		c->quiet = 1;
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

const struct argp bt_cli_common_argp = {options, parse_opt, NULL, NULL,
					NULL, NULL, NULL};

const struct argp_child bt_cli_children[] = {
	{&bt_cli_common_argp, 0, NULL, 0},
	{NULL, 0, NULL, 0}
};

/* Standard output carries --help and --version text through stdio; a
 * failure to write it (a full disk, /dev/full) must not go unnoticed.
 * (The pattern of coreutils' close_stdout.) */
static void
close_stdout(void)
{
	if (fflush(stdout) != 0 || ferror(stdout) || fclose(stdout) != 0) {
		fprintf(stderr, "%s: write error: %s\n", program,
			strerror(errno));
		_exit(BT_EXIT_FAILURE);
	}
}

void
bt_cli_init(const char *name)
{
	program = name;
	snprintf(version, sizeof version, "%s (%s) %s", name, PACKAGE_NAME,
		 PACKAGE_VERSION);
	argp_program_version = version;
	argp_err_exit_status = BT_EXIT_USAGE;
	gsl_set_error_handler_off();
	atexit(close_stdout);
}

static void
vmessage(const char *fmt, va_list ap)
{
	fflush(stdout);
	fprintf(stderr, "%s: ", program);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void
bt_cli_die(const char *fmt, ...)
{
	va_list ap;
	size_t i;

	va_start(ap, fmt);
	vmessage(fmt, ap);
	va_end(ap);
	for (i = MAX_HELD; i-- > 0;)
		if (held[i].obj != NULL)
			held[i].free_fn(held[i].obj);
	exit(BT_EXIT_FAILURE);
}

void
bt_cli_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage(fmt, ap);
	va_end(ap);
}

struct bt_reader_opts
bt_cli_reader_opts(const struct bt_cli_common *c)
{
	struct bt_reader_opts o;

	memset(&o, 0, sizeof o);
	o.delimiter = c->delimiter;
	o.decimal_comma = c->decimal_comma;
	o.discharge_positive = c->discharge_positive;
	o.maps = c->maps;
	o.nmaps = c->nmaps;
	return o;
}

void
bt_cli_hold(void *obj, void (*free_fn)(void *))
{
	size_t i;

	for (i = 0; i < MAX_HELD; i++)
		if (held[i].obj == NULL) {
			held[i].obj = obj;
			held[i].free_fn = free_fn;
			return;
		}
	/* More than MAX_HELD objects is a bug in the tool, not in its data. */
	bt_cli_die("internal error: too many objects held");
}

void
bt_cli_release(void *obj)
{
	size_t i;

	for (i = 0; i < MAX_HELD; i++)
		if (held[i].obj == obj && obj != NULL) {
			held[i].free_fn(obj);
			held[i].obj = NULL;
			return;
		}
}

static void
free_reader(void *r)
{
	bt_reader_free(r);
}

static void
free_model(void *m)
{
	bt_ecm_free(m);
}

struct bt_ecm *
bt_cli_load_model(const char *path)
{
	char errmsg[BT_ERRMSG_SIZE] = "";
	struct bt_ecm *ecm;
	enum bt_status st = bt_ecm_load(path, &ecm, errmsg);

	if (st != BT_OK)
		bt_cli_die("%s", errmsg[0] ? errmsg : bt_strerror(st));
	bt_cli_hold(ecm, free_model);
	return ecm;
}

struct bt_reader *
bt_cli_open_input(const char *path, const struct bt_reader_opts *opts)
{
	struct bt_reader *r;
	enum bt_status st = bt_reader_open(&r, path, opts);
	char msg[BT_ERRMSG_SIZE];

	if (st == BT_OK) {
		bt_cli_hold(r, free_reader);
		return r;
	}
	snprintf(msg, sizeof msg, "%s", r ? bt_reader_errmsg(r) : bt_strerror(st));
	bt_reader_free(r);
	bt_cli_die("%s", msg);
}

void
bt_cli_check(const struct bt_reader *r, enum bt_status st)
{
	if (st != BT_OK)
		bt_cli_die("%s", bt_reader_errmsg(r));
}

static void
free_writer(void *w)
{
	bt_writer_free(w);	/* removes the file of an unfinished run */
}

struct bt_writer *
bt_cli_open_file(const char *path, const struct bt_cli_common *c)
{
	struct bt_writer *w;
	enum bt_status st = bt_writer_open(&w, path, c->delimiter, c->precision);
	char msg[BT_ERRMSG_SIZE];

	if (st != BT_OK) {
		snprintf(msg, sizeof msg, "%s",
			 w != NULL ? bt_writer_errmsg(w) : bt_strerror(st));
		bt_writer_free(w);
		bt_cli_die("%s", msg);
	}
	bt_cli_hold(w, free_writer);
	return w;
}

struct bt_writer *
bt_cli_open_output(const struct bt_cli_common *c)
{
	return bt_cli_open_file(c->output, c);
}

void
bt_cli_end_row(struct bt_writer *w)
{
	if (bt_writer_end_row(w) != BT_OK)
		bt_cli_die("%s", bt_writer_errmsg(w));
}

void
bt_cli_close_output(struct bt_writer *w)
{
	if (bt_writer_close(w) != BT_OK)
		bt_cli_die("%s", bt_writer_errmsg(w));
	bt_cli_release(w);
}

void
bt_cli_common_free(struct bt_cli_common *c)
{
	size_t i;

	for (i = 0; i < c->nmaps; i++)
		free(c->map_storage[i]);
	free(c->map_storage);
	free(c->maps);
}
