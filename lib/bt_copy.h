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
 * bt-import writes its canonical stream this way, and bt-batch --gather the
 * per-input outputs it concatenates.
 *
 * The plan holds one entry per column and allocates nothing per row.  It
 * borrows nothing from the reader after bt_copy_alloc returns.
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

#endif /* BT_COPY_H */
