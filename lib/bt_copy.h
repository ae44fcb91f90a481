/* bt_copy.h - the checked pass-through of a stream, row by row.
 *
 * A copy plan, made once from a reader's mapped header, writes each row of
 * the reader to a writer in canonical form: a column that the schema maps
 * to a canonical number is checked (a number, or finite where the caller
 * requires it) and written as it stands when its text already is its
 * canonical value, converted otherwise (or always, when a precision is
 * asked for); every other column is copied as text.  When no column needs
 * converting, the columns keep their input order and the delimiter does not
 * change, each row is written as the line it was read from, with one copy.
 * bt-import writes its canonical stream this way.
 *
 * A gather (bt-batch --gather) copies several streams into one writer in
 * turn, each row led by a column that names its stream; the streams must
 * share one header.
 *
 * The plan holds one entry per column and allocates nothing per row.  It
 * borrows nothing from the reader after bt_copy_alloc returns.  A gather
 * keeps the first stream's header and one stream open at a time.
 */
#ifndef BT_COPY_H
#define BT_COPY_H

#include <stddef.h>

#include "bt_status.h"
#include "bt_stream.h"

struct bt_copy;

/* Plan the copy of READER's rows to a writer that uses DELIMITER (0 for
 * ',') and PRECISION (0 for shortest round-trip numbers).  Returns BT_OK
 * and stores the plan in *COPY, or BT_ENOMEM. */
enum bt_status bt_copy_alloc(struct bt_copy **copy,
			     const struct bt_reader *reader, char delimiter,
			     int precision);

/* Release the plan.  bt_copy_free(NULL) does nothing. */
void bt_copy_free(struct bt_copy *copy);

/* Require column COL (a mapped numeric column) to hold a finite number in
 * every row. */
void bt_copy_require(struct bt_copy *copy, size_t col);

/* Append the reader's column names to the writer's current row. */
void bt_copy_header(const struct bt_reader *reader, struct bt_writer *writer);

/* Check the reader's current row and append its fields to the writer's
 * current row (the caller ends the row).  Returns BT_OK, or BT_EPARSE or
 * BT_ENONFINITE with the reader's error message naming the line and the
 * column; nothing is written for a row that fails. */
enum bt_status bt_copy_row(const struct bt_copy *copy,
			   struct bt_reader *reader, struct bt_writer *writer);

struct bt_copy_gather;

/* Start gathering into WRITER (opened with DELIMITER and PRECISION): the
 * streams are read with OPTS (NULL for the defaults), and the leading column
 * is called COLUMN.  Returns BT_OK or BT_ENOMEM. */
enum bt_status bt_copy_gather_alloc(struct bt_copy_gather **gather,
				    struct bt_writer *writer,
				    const struct bt_reader_opts *opts,
				    char delimiter, int precision,
				    const char *column);

/* Release the gather (not its writer).  bt_copy_gather_free(NULL) does
 * nothing. */
void bt_copy_gather_free(struct bt_copy_gather *gather);

/* Copy the stream at PATH, each row led by NAME; the first stream also
 * writes the header.  Returns BT_OK; the reader's errors (BT_EIO, BT_EEMPTY,
 * BT_EPARSE, ...), BT_EEMPTY for a stream with no data rows, BT_EHEADER
 * for a header that differs from the first stream's, BT_EINVAL for a first
 * stream that already has a column COLUMN, each with bt_copy_gather_errmsg;
 * BT_EIO for a write error (the writer's message); or BT_ENOMEM. */
enum bt_status bt_copy_gather_file(struct bt_copy_gather *gather,
				   const char *path, const char *name);

/* Describe the last error of a stream: "FILE:LINE: what is wrong". */
const char *bt_copy_gather_errmsg(const struct bt_copy_gather *gather);

#endif /* BT_COPY_H */
