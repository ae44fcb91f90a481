/* bt_rowq.h - a queue of held rows, for tools that write a row only after
 * reading rows beyond it (the block filter of bt-wavelet denoise).
 *
 * bt_rowq_push copies the current row of a reader: every field's text,
 * or, for a column the reader converts (a cycler export's mA, say), the
 * canonical value written as a number, so that a held row comes out in
 * the canonical stream exactly as bt-import would write it.  Rows leave
 * in the order they came.
 *
 * Memory: the text of the rows held, in one buffer that is compacted as
 * rows leave and grows geometrically; a queue that holds at most R rows
 * stops allocating once it has held R rows.
 */
#ifndef BT_ROWQ_H
#define BT_ROWQ_H

#include <stddef.h>

#include "bt_status.h"
#include "bt_stream.h"

struct bt_rowq;

/* Create an empty queue of rows of NFIELDS fields.  Returns BT_OK or
 * BT_ENOMEM. */
enum bt_status bt_rowq_alloc(struct bt_rowq **q, size_t nfields);

/* Free Q; bt_rowq_free(NULL) does nothing. */
void bt_rowq_free(struct bt_rowq *q);

/* Append a copy of R's current row; numbers that R converts are written
 * with PRECISION significant digits (0: shortest round trip).  Returns
 * BT_OK, BT_EPARSE (with R's message) for a converted field that is not a
 * number, or BT_ENOMEM. */
enum bt_status bt_rowq_push(struct bt_rowq *q, struct bt_reader *r, int precision);

/* Returns the number of rows held. */
size_t bt_rowq_count(const struct bt_rowq *q);

/* Returns the text of field FIELD of the oldest row held, its length in
 * *LEN; valid until the next push or pop. */
const char *bt_rowq_field(const struct bt_rowq *q, size_t field, size_t *len);

/* Drop the oldest row.  Returns nothing. */
void bt_rowq_pop(struct bt_rowq *q);

#endif /* BT_ROWQ_H */
