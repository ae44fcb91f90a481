/* bt_gather.h - several streams into one (bt-batch --gather).
 *
 * A gather copies streams into one writer in turn, each row led by a column
 * that names its stream; the streams must share one header.  Rows pass
 * through as bt-import passes them (bt_reader_copy_row): every mapped number
 * is checked, canonical ones are copied as they stand and the others
 * converted.  A gather keeps the first stream's header and one stream open
 * at a time, and allocates nothing per row.
 */
#ifndef BT_GATHER_H
#define BT_GATHER_H

#include <stddef.h>

#include "bt_status.h"
#include "bt_stream.h"

struct bt_gather;

/* Start gathering into WRITER (opened with PRECISION): the streams are
 * read with OPTS (NULL for the defaults), and the leading column is called
 * COLUMN.  Returns BT_OK or BT_ENOMEM. */
enum bt_status bt_gather_alloc(struct bt_gather **gather,
			       struct bt_writer *writer,
			       const struct bt_reader_opts *opts, int precision,
			       const char *column);

/* Release the gather (not its writer).  bt_gather_free(NULL) does
 * nothing. */
void bt_gather_free(struct bt_gather *gather);

/* Copy the stream at PATH, each row led by NAME; the first stream also
 * writes the header.  Returns BT_OK; the reader's errors (BT_EIO, BT_EEMPTY,
 * BT_EPARSE, ...), BT_EEMPTY for a stream with no data rows, BT_EHEADER
 * for a header that differs from the first stream's, BT_EINVAL for a first
 * stream that already has a column COLUMN, each with bt_gather_errmsg;
 * BT_EIO for a write error (the writer's message); or BT_ENOMEM. */
enum bt_status bt_gather_file(struct bt_gather *gather,
				   const char *path, const char *name);

/* Describe the last error of a stream: "FILE:LINE: what is wrong". */
const char *bt_gather_errmsg(const struct bt_gather *gather);

#endif /* BT_GATHER_H */
