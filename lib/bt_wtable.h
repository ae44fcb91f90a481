/* bt_wtable.h - signals and wavelet coefficient tables as CSV streams.
 *
 * The forward transforms of bt-wavelet(1) read whole columns of a stream
 * into memory (bt_wtable_read_columns) and write their coefficients as one
 * long table with the header
 *     column,level,band,index,value
 * one row per coefficient: the input column's name, the level (1 finest),
 * the band ("a" approximation or "d" detail) and the coefficient's index
 * within its band.  Each column's coefficients start with a row of band
 * "n" at level 0, whose value is the length of the signal, so that the
 * inverse transforms give back exactly that many samples.  The inverse
 * transforms read such a table back (bt_wtable_read), in any order of
 * columns, levels and bands, but with each band's indices in order.
 *
 * Memory: everything read is held until bt_wtable_free; the growth is
 * geometric, so reading allocates O(log n) times, not per row.
 */
#ifndef BT_WTABLE_H
#define BT_WTABLE_H

#include <stddef.h>

#include "bt_status.h"
#include "bt_stream.h"
#include "bt_wavelet.h"

/* One band of one column. */
struct bt_wtable_band {
	unsigned level;		/* 1 = finest */
	char band;		/* 'a' or 'd' */
	double *v;		/* the coefficients */
	size_t n, cap;
};

/* One column: its name, the signal length (0 when the table has no "n"
 * row) and its bands in the order met. */
struct bt_wtable_col {
	char *name;
	size_t length;
	struct bt_wtable_band *bands;
	size_t nbands, cap;
};

struct bt_wtable {
	struct bt_wtable_col *cols;
	size_t ncols, cap;
};

/* Find the columns named in LIST, comma-separated ("voltage_v,current_a"),
 * and store their indices in COLS (room for MAX) and their number in *K.
 * Returns BT_OK, BT_ENOCOL with the reader's message naming the missing
 * column, or BT_EINVAL for an empty list or more than MAX names. */
enum bt_status bt_wtable_find_columns(struct bt_reader *r, const char *list,
				      size_t *cols, size_t max, size_t *k);

/* Read the columns at indices COLS[0..K-1] of every remaining row of R as
 * finite numbers into OUT[0..K-1] (each a new array the caller frees) and
 * store the row count in *N.  Returns BT_OK, BT_EEMPTY for no data rows
 * (with the reader's message), BT_ENOMEM, or the reader's error. */
enum bt_status bt_wtable_read_columns(struct bt_reader *r, const size_t *cols,
				      size_t k, double **out, size_t *n);

/* Read a coefficient table from R into a new table stored in *T (freed
 * with bt_wtable_free; on failure *T is NULL and R has the message).
 * Returns BT_OK, BT_ENOCOL (a column of the header is missing), BT_EPARSE
 * (a level, band or index that is not valid: the message names it),
 * BT_EEMPTY, BT_ENOMEM, or the reader's error. */
enum bt_status bt_wtable_read(struct bt_reader *r, struct bt_wtable **t);

/* Free T; bt_wtable_free(NULL) does nothing. */
void bt_wtable_free(struct bt_wtable *t);

/* Returns the band of C at LEVEL called BAND, or NULL. */
const struct bt_wtable_band *bt_wtable_band(const struct bt_wtable_col *c,
					    unsigned level, char band);

/* Write the header row of a coefficient table to W.  Returns the status
 * of ending the row. */
enum bt_status bt_wtable_write_header(struct bt_writer *w);

/* Write the N coefficients V of band BAND at LEVEL of column NAME to W,
 * one row each.  Returns BT_OK or BT_EIO. */
enum bt_status bt_wtable_write_band(struct bt_writer *w, const char *name,
				    unsigned level, char band, const double *v,
				    size_t n);

/* The transforms a table comes from or goes to; the inverse of each is
 * the next. */
enum bt_wtable_kind {
	BT_WTABLE_DWT, BT_WTABLE_IDWT, BT_WTABLE_WAVEDEC, BT_WTABLE_WAVEREC,
	BT_WTABLE_SWT, BT_WTABLE_ISWT
};

/* Transform the N samples X of the column NAME by KIND (BT_WTABLE_DWT:
 * one level; BT_WTABLE_WAVEDEC and BT_WTABLE_SWT: LEVEL levels, which the
 * caller has checked) and write the signal length and the coefficients to
 * W: [a_L, d_L, ..., d_1].  Returns BT_OK, BT_EINVAL for a KIND that is
 * not a forward transform, BT_ENOMEM or BT_EIO. */
enum bt_status bt_wtable_forward(struct bt_writer *w, const char *name,
				 const struct bt_wavelet *wavelet,
				 enum bt_wavelet_mode mode, enum bt_wtable_kind kind,
				 unsigned level, const double *x, size_t n);

/* Invert the bands of column C by KIND: BT_WTABLE_IDWT inverts the
 * deepest level that has an approximation, BT_WTABLE_WAVEREC and
 * BT_WTABLE_ISWT every level from there to 1.  Store a new array (free() it) in
 * *Y and its length in *N: the signal length of the table when it has one
 * (and the reconstruction is at least that long), else the length of the
 * reconstruction.  On failure ERRMSG says why ("column 'v': no band d at
 * level 2").  Returns BT_OK, BT_EFORMAT or BT_ENOMEM. */
enum bt_status bt_wtable_inverse(const struct bt_wtable_col *c,
				 const struct bt_wavelet *wavelet,
				 enum bt_wavelet_mode mode, enum bt_wtable_kind kind,
				 double **y, size_t *n, char errmsg[BT_ERRMSG_SIZE]);

#endif /* BT_WTABLE_H */
