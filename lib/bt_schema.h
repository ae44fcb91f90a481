/* bt_schema.h - cycler export headers and their mapping to canonical columns.
 *
 * Part of the stream layer.  Given the header fields of an input, this module
 * recognises which cycler wrote it (Arbin, Maccor, Bitrode, Neware, BioLogic,
 * NASA PCoE, Battery Archive, or battools' own canonical stream) and decides,
 * for every output column, its name, which input field it comes from and how
 * the field's text becomes a value in canonical units (DESIGN.md §2):
 * time_s, current_a (positive = charge), voltage_v, temperature_c, cycle,
 * step, capacity_ah, energy_wh, soc, soh.
 *
 * The stream reader (bt_stream) applies the mapping to every row; this module
 * only looks at header text and never touches the data.  A bt_schema owns all
 * its strings; bt_schema_free releases them.
 */
#ifndef BT_SCHEMA_H
#define BT_SCHEMA_H

#include <stddef.h>

#include "bt_status.h"

/* How an output column's value is made from its source field. */
enum bt_conv {
	BT_CONV_TEXT,		/* copied verbatim: a column with no known unit */
	BT_CONV_NUMBER,		/* a number, multiplied by scale */
	BT_CONV_DURATION,	/* a number, or "[D-]HH:MM:SS[.f]" / "D.HH:MM:SS", in seconds, times scale */
	BT_CONV_STATE_SIGN	/* an unsigned magnitude times scale, signed by a state field */
};

struct bt_schema_col {
	char *name;		/* output column name (canonical when mapped) */
	size_t source;		/* index of the input field it is read from */
	enum bt_conv conv;
	double scale;		/* unit factor to the canonical unit; 1 when none */
	int is_current;		/* a current: --discharge-positive flips its sign */
	size_t state_source;	/* BT_CONV_STATE_SIGN: index of the state field */
};

struct bt_schema {
	const char *format;	/* "canonical", "arbin", "maccor", "bitrode", "neware",
				   "biologic", "nasa", "batteryarchive" or "generic" */
	size_t nfields;		/* number of input fields in the header */
	size_t ncols;		/* number of output columns */
	struct bt_schema_col *cols;
	int drop_trailing;	/* the header ends with an empty, unnamed field
				   (a trailing delimiter): rows may carry one
				   extra empty field, which is dropped */
};

/* One user mapping from --map CANONICAL=SOURCE[*SCALE]. */
struct bt_schema_map {
	const char *canonical;	/* output name */
	const char *source;	/* input header name, matched exactly */
	double scale;		/* 1 unless *SCALE was given */
};

/* Parse the text of one --map option ("current_a=I/mA*0.001") into *MAP,
 * whose strings point into a copy owned by the caller through *STORAGE
 * (free it with free()).  Returns BT_OK, BT_EINVAL for a malformed option,
 * or BT_ENOMEM. */
enum bt_status bt_schema_parse_map(const char *text, struct bt_schema_map *map,
				   char **storage);

/* Decide the mapping for a header of N fields (FIELDS[i] of LENS[i] bytes,
 * not NUL-terminated, already unquoted).  MAPS (NMAPS entries) override or
 * add mappings; a map naming a source column that does not exist is an
 * error.  Output columns: the mapped canonical columns first, in canonical
 * order, then every other input column in input order under its own name
 * (made unique with a "_2", "_3" suffix when the header repeats a name;
 * an empty name becomes "column_N", N its 1-based position).
 *
 * Returns BT_OK and fills *SCHEMA; BT_EHEADER with a one-line description
 * in ERRMSG (BT_ERRMSG_SIZE bytes, no file name or line: the caller adds
 * them) when a map names a missing source or the header maps one canonical
 * column twice; BT_ENOMEM.  An input in which nothing maps is not an error
 * here: its format is "generic" and the tools decide. */
enum bt_status bt_schema_detect(const char *const *fields, const size_t *lens,
				size_t n, const struct bt_schema_map *maps,
				size_t nmaps, struct bt_schema *schema,
				char *errmsg);

/* Whether the N header fields look like the header of a known cycler export,
 * used to find the header line below a preamble (Maccor, BioLogic).
 * Returns 1 or 0. */
int bt_schema_is_cycler_header(const char *const *fields, const size_t *lens,
			       size_t n);

/* Convert the text of a BT_CONV_DURATION field to seconds (before scale).
 * Returns BT_OK or BT_EPARSE. */
enum bt_status bt_schema_duration(const char *s, size_t len, char decimal,
				  double *seconds);

/* Sign of a current from the text of a state field (Maccor "C", "D", "R",
 * ...; Neware "CC Chg", "CC DChg", "Rest", ...): +1 charge, -1 discharge,
 * 0 rest or other.  Returns BT_OK, or BT_EPARSE for text that names no
 * known state. */
enum bt_status bt_schema_state_sign(const char *s, size_t len, int *sign);

/* Release what *SCHEMA owns; the struct itself is the caller's. */
void bt_schema_free(struct bt_schema *schema);

#endif /* BT_SCHEMA_H */
