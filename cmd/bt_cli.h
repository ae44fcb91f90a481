/* bt_cli.h - what every battools command shares: the common options
 * (DESIGN.md §3), start-up, messages and exit statuses.
 *
 * A tool lists bt_cli_common_argp as an argp child and hands it a
 * struct bt_cli_common through child_inputs; bt_cli_init() sets up the
 * process (program name, argp's usage exit status 2, the GSL error handler,
 * a check that standard output was written).  Messages go through
 * bt_cli_die and bt_cli_warn only: "bt-tool: message", exit status 1.
 * An output opened with bt_cli_open_output is removed again when the tool
 * dies before bt_cli_close_output, and what the tool holds (inputs, models,
 * anything given to bt_cli_hold) is freed.
 */
#ifndef BT_CLI_H
#define BT_CLI_H

#include <argp.h>
#include <stddef.h>

#include "bt_ecm.h"
#include "bt_stream.h"

/* Exit statuses (DESIGN.md §3). */
enum { BT_EXIT_OK = 0, BT_EXIT_FAILURE = 1, BT_EXIT_USAGE = 2 };

struct bt_cli_common {
	const char *output;	/* -o FILE; NULL for standard output */
	char delimiter;		/* -d: input and output delimiter; 0 detects */
	int precision;		/* -p N; 0 for shortest round-trip */
	int decimal_comma;	/* --decimal-comma */
	int discharge_positive;	/* --discharge-positive */
	int quiet;		/* -q */
	struct bt_schema_map *maps;	/* --map, in the order given */
	size_t nmaps;
	char **map_storage;
};

extern const struct argp bt_cli_common_argp;

/* The argp children of every tool: the common options alone.  A tool's
 * parser hands them its struct bt_cli_common at ARGP_KEY_INIT. */
extern const struct argp_child bt_cli_children[];

/* Option values: the number ARG of option OPT ("--dt"), finite, and for
 * the variants positive, not negative, within [LO, HI], or a whole number
 * from MIN to MAX.
 * A bad value is a usage error through argp_error (exit 2). */
double bt_cli_number(struct argp_state *state, const char *arg, const char *opt);
double bt_cli_positive(struct argp_state *state, const char *arg,
		       const char *opt);
double bt_cli_nonnegative(struct argp_state *state, const char *arg,
			  const char *opt);
double bt_cli_range(struct argp_state *state, const char *arg, const char *opt,
		    double lo, double hi);
double bt_cli_count(struct argp_state *state, const char *arg, const char *opt,
		    double min, double max);

/* The operands of a tool with subcommands, one ARG at a time
 * (ARGP_KEY_ARG): the first names one of the N subcommands NAMES, whose
 * index goes to *SUB (-1 until then); the second is the input, *INPUT
 * (NULL until then); a third is a usage error, as is an unknown name. */
void bt_cli_operand(struct argp_state *state, const char *arg,
		    const char *const *names, int n, int *sub,
		    const char **input);

/* Set up the process for the tool NAME ("bt-import"). */
void bt_cli_init(const char *name);

/* Print "NAME: message" on standard error; die also exits with status 1,
 * removing an output that was not closed. */
void bt_cli_die(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
void bt_cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The reader options the common options ask for. */
struct bt_reader_opts bt_cli_reader_opts(const struct bt_cli_common *common);

/* Free OBJ with FREE_FN should the tool die; bt_cli_release(OBJ) frees it
 * now and forgets it.  At most eight objects are held at a time. */
void bt_cli_hold(void *obj, void (*free_fn)(void *));
void bt_cli_release(void *obj);

/* Open PATH for reading with OPTS, or die with the reader's message.  The
 * reader is held: release it with bt_cli_release. */
struct bt_reader *bt_cli_open_input(const char *path,
				    const struct bt_reader_opts *opts);

/* Load the cell model at PATH (bt-ecm(5)), or die with the loader's
 * message.  The model is held: release it with bt_cli_release. */
struct bt_ecm *bt_cli_load_model(const char *path);

/* Die with the reader's message when STATUS is an error. */
void bt_cli_check(const struct bt_reader *reader, enum bt_status status);

/* Open the output the common options name (-o, -d, -p), or a further
 * output PATH written with their -d and -p, or die.  Until
 * bt_cli_close_output, a tool that dies removes the file. */
struct bt_writer *bt_cli_open_output(const struct bt_cli_common *common);
struct bt_writer *bt_cli_open_file(const char *path,
				   const struct bt_cli_common *common);

/* Write one output row's end; die on a write error. */
void bt_cli_end_row(struct bt_writer *writer);

/* Close and free the output (renaming a file into place), or die. */
void bt_cli_close_output(struct bt_writer *writer);

/* Release what the common options hold. */
void bt_cli_common_free(struct bt_cli_common *common);

#endif /* BT_CLI_H */
