/* bt_stream.h - the CSV stream reader and writer every battools tool uses.
 *
 * The reader takes a file or standard input, plain or gzip (recognised by
 * its magic bytes), with comma, tab or semicolon delimiters (detected from
 * the header line unless given), CRLF or LF line ends, a UTF-8 byte order
 * mark, leading '#' comment lines, and the preambles of cycler exports
 * (BioLogic, Maccor).  The header is mapped to canonical columns by
 * bt_schema; every row is then a borrowed view into the reader's buffer,
 * valid until the next call to bt_reader_next.  Quote-free lines are split
 * by a fast path; lines with quotes go through libcsv, and both give the
 * same fields.  Memory is bounded by the longest line (BT_STREAM_MAX_LINE);
 * nothing is allocated per row.
 *
 * On failure the reader keeps a one-line description of the problem in the
 * form "FILE:LINE: what is wrong" (bt_reader_errmsg), for cmd/ to print.
 *
 * The writer produces the stream: comma-separated unless told otherwise,
 * numbers in the C locale (shortest round-trip, or N significant digits),
 * to standard output or to a file written atomically (a temporary file in
 * the same directory, renamed by bt_writer_close), gzip-compressed when the
 * name ends in ".gz".  A writer freed without a successful close removes
 * its temporary file, so a failed run leaves no output behind.
 */
#ifndef BT_STREAM_H
#define BT_STREAM_H

#include <stddef.h>

#include "bt_schema.h"
#include "bt_status.h"

/* The longest line (or quoted record) the reader accepts, in bytes. */
#define BT_STREAM_MAX_LINE (1024 * 1024)

struct bt_reader_opts {
	char delimiter;		/* ',', '\t' or ';'; 0 detects it from the header */
	int decimal_comma;	/* numbers use ',' as the decimal separator */
	int discharge_positive;	/* input current is positive on discharge: flip it */
	int check_time;		/* reject time_s going backwards within a cycle */
	int force_libcsv;	/* tokenise every line with libcsv (for tests) */
	const struct bt_schema_map *maps;	/* --map options */
	size_t nmaps;
};

struct bt_reader;
struct bt_writer;

/* Open PATH ("-" or NULL for standard input) and read up to and including
 * its header line.  OPTS may be NULL for the defaults (all zero).
 *
 * Returns BT_OK and stores a new reader in *READER.  On failure it still
 * stores a reader (unless the status is BT_ENOMEM and nothing could be
 * allocated, when *READER is NULL) so that the caller can read
 * bt_reader_errmsg before freeing it.  Failures: BT_EIO (cannot open or
 * read), BT_EGZIP, BT_EEMPTY (no header), BT_ELINE, BT_ENUL, BT_EHEADER
 * (a --map names a missing column), BT_ENOMEM. */
enum bt_status bt_reader_open(struct bt_reader **reader, const char *path,
			      const struct bt_reader_opts *opts);

/* Release everything the reader owns.  bt_reader_free(NULL) does nothing. */
void bt_reader_free(struct bt_reader *reader);

/* The schema the header was mapped with (its format and columns). */
const struct bt_schema *bt_reader_schema(const struct bt_reader *reader);

/* Number of output columns, and the name of column COL. */
size_t bt_reader_ncols(const struct bt_reader *reader);
const char *bt_reader_name(const struct bt_reader *reader, size_t col);

/* Index of the column called NAME, or -1 when there is none. */
long bt_reader_find(const struct bt_reader *reader, const char *name);

/* Like bt_reader_find, for a column the caller cannot do without.  Returns
 * BT_OK and stores the index in *COL, or BT_ENOCOL with an error message
 * that lists the columns found. */
enum bt_status bt_reader_require(struct bt_reader *reader, const char *name,
				 size_t *col);

/* The delimiter in use (detected or given). */
char bt_reader_delimiter(const struct bt_reader *reader);

/* Advance to the next data row.  Returns BT_OK, BT_EOF at the end of the
 * input, or an error (BT_ERAGGED, BT_EIO, BT_EGZIP, BT_ELINE, BT_ENUL,
 * BT_ETIME, BT_EPARSE or BT_ENONFINITE from the time check, BT_ENOMEM);
 * after an error the reader cannot go on.  A header with no data row gives
 * BT_EOF at the first call: the caller decides whether that is an error. */
enum bt_status bt_reader_next(struct bt_reader *reader);

/* The text of column COL in the current row, as read (unquoted), and its
 * length in *LEN.  Not NUL-terminated. */
const char *bt_reader_text(const struct bt_reader *reader, size_t col,
			   size_t *len);

/* The value of column COL in the current row in canonical units (scaled,
 * durations converted, current signed and flipped as the schema and the
 * options say).  An empty field gives NaN.  Returns BT_OK, or BT_EPARSE with
 * an error message naming the line, the column and the text. */
enum bt_status bt_reader_number(struct bt_reader *reader, size_t col,
				double *value);

/* Like bt_reader_number for a value that must be present and finite.
 * Returns BT_OK, BT_EPARSE, or BT_ENONFINITE for an empty field, NaN or an
 * infinity. */
enum bt_status bt_reader_finite(struct bt_reader *reader, size_t col,
				double *value);

/* Check that column COL of the current row holds a number (a finite one
 * when FINITE is set; an empty field is a missing value, accepted only when
 * FINITE is not set), without converting it when its text is already its
 * canonical value.  Returns BT_OK, BT_EPARSE or BT_ENONFINITE, with the
 * messages of bt_reader_number and bt_reader_finite. */
enum bt_status bt_reader_check(struct bt_reader *reader, size_t col,
			       int finite);

/* The text of the current row's line (line end excluded) when the row was
 * split directly, with no quotes to remove, or NULL when it went through
 * libcsv.  Valid until the next call to bt_reader_next. */
const char *bt_reader_row_text(const struct bt_reader *reader, size_t *len);

/* Whether column COL's text can be written out unchanged as its canonical
 * value (a number already in canonical units, with a '.' decimal point).
 * Returns 1 or 0. */
int bt_reader_verbatim(const struct bt_reader *reader, size_t col);

/* Passing the input on.  A tool that keeps the input columns and appends
 * its own writes the header with bt_reader_copy_header, then each row's
 * input fields with bt_reader_copy_row before its own.  Input columns named
 * like one of RESERVED (a NULL-terminated list of the columns the tool
 * writes; may be NULL) are renamed input_NAME.  Numbers that the reader
 * converts (units, sign, decimal comma) are written in canonical form; with
 * REFORMAT every numeric column is parsed and written again (the writer's
 * precision applies), otherwise canonical numbers and text are copied as
 * read.  A row whose every field is copied unchanged is written as one
 * copy of its line.  Returns BT_OK or BT_ENOMEM. */
enum bt_status bt_reader_copy_header(struct bt_reader *reader,
				     struct bt_writer *writer,
				     const char *const *reserved, int reformat);

/* Plan the copy as bt_reader_copy_header does, writing no names: for a
 * stream whose header another stream already wrote.  Returns BT_OK or
 * BT_ENOMEM. */
enum bt_status bt_reader_copy_plan(struct bt_reader *reader,
				   const struct bt_writer *writer, int reformat);
void bt_reader_copy_row(struct bt_reader *reader, struct bt_writer *writer);

/* The 1-based line number of the current row (or of the error). */
unsigned long bt_reader_line(const struct bt_reader *reader);

/* The name the reader reports for its input: the path, or "(standard input)". */
const char *bt_reader_filename(const struct bt_reader *reader);

/* Describe the last error as "FILE:LINE: what is wrong" (or "FILE: ..." when
 * no line applies).  Valid until the next call on the reader. */
const char *bt_reader_errmsg(const struct bt_reader *reader);

/* Set the reader's error message for a problem the caller found in the
 * current row (a value out of range, say): "FILE:LINE: " followed by the
 * formatted text.  Returns STATUS, for use in a return statement. */
enum bt_status bt_reader_fail(struct bt_reader *reader, enum bt_status status,
			      const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

struct bt_writer;

/* Open PATH for writing ("-" or NULL for standard output).  A file is written
 * to a temporary name beside it and appears under PATH only when
 * bt_writer_close succeeds; a name ending in ".gz" is gzip-compressed.
 * DELIMITER separates fields (0 means ','); PRECISION is 0 for shortest
 * round-trip numbers or 1..BT_NUM_MAX_PRECISION significant digits.
 * Returns BT_OK, BT_EIO (with bt_writer_errmsg), BT_EINVAL or BT_ENOMEM; on
 * failure *WRITER is NULL unless an error message is kept there. */
enum bt_status bt_writer_open(struct bt_writer **writer, const char *path,
			      char delimiter, int precision);

/* Append one field to the current row: text (quoted when it holds the
 * delimiter, a quote or a line end), text known to need no quoting, a
 * number, or an empty (missing) value. */
void bt_writer_text(struct bt_writer *writer, const char *s, size_t len);
void bt_writer_raw(struct bt_writer *writer, const char *s, size_t len);
void bt_writer_number(struct bt_writer *writer, double x);
void bt_writer_empty(struct bt_writer *writer);

/* Append the N names in NAMES (column names: no quoting needed), and a
 * number that is NaN or infinite as an empty field (a value the tool does
 * not have) rather than as nan or inf. */
void bt_writer_names(struct bt_writer *writer, const char *const *names,
		     size_t n);
void bt_writer_number_or_empty(struct bt_writer *writer, double x);

/* End the current row.  Returns BT_OK, or BT_EIO once a write has failed
 * (the error is sticky: every later call returns it too). */
enum bt_status bt_writer_end_row(struct bt_writer *writer);

/* Flush, close, and for a file rename it into place.  Returns BT_OK or
 * BT_EIO (with bt_writer_errmsg); the writer must still be freed. */
enum bt_status bt_writer_close(struct bt_writer *writer);

/* Release the writer; when it was not closed successfully, remove its
 * temporary file.  bt_writer_free(NULL) does nothing. */
void bt_writer_free(struct bt_writer *writer);

/* The delimiter the writer separates fields with. */
char bt_writer_delimiter(const struct bt_writer *writer);

/* Describe the last writer error ("FILE: No space left on device"). */
const char *bt_writer_errmsg(const struct bt_writer *writer);

/* Create a new file beside PATH under a unique name (".NAME.<random>.tmp"),
 * opened for writing with the permissions a plain open would give it, for
 * a writer that renames it onto PATH once complete (bt_stream_commit();
 * the bt_writer and the bt_net model files do).  Store the name in
 * *TMPPATH (free it with free(); it may be set even on failure).
 *
 * When PATH exists and is not a regular file (/dev/null, /dev/stdout, a
 * named pipe), it is opened for writing in place and *TMPPATH is NULL:
 * renaming a file onto it would replace the device with a plain file.
 *
 * Returns the file descriptor, or -1 with errno set. */
int bt_stream_temporary(const char *path, char **tmppath);

/* Finish a write begun with bt_stream_temporary(): rename TMPPATH onto
 * PATH, or do nothing when TMPPATH is NULL (written in place).
 *
 * Returns 0, or -1 with errno set. */
int bt_stream_commit(const char *tmppath, const char *path);

#endif /* BT_STREAM_H */
