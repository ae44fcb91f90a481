/* bt_stream.c - the CSV stream reader and writer (see bt_stream.h).
 *
 * This is the one module that touches zlib and libcsv.  Input goes through
 * zlib's gzread, which reads gzip members and, transparently, plain files;
 * lines are cut from a reused buffer with memchr.  A line without a quote
 * character is split at its delimiters directly (the fast path); a line with
 * one is handed to libcsv, which also joins the physical lines of a quoted
 * field that spans them.  Both paths produce the same fields for the same
 * text, which tests/unit/test_bt_stream.c checks by forcing libcsv.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <csv.h>
#include <zlib.h>

#include "bt_num.h"
#include "bt_stream.h"

/* Bytes asked of zlib at a time, and the buffer that holds them: room for
 * the longest line plus one read. */
#define READ_CHUNK (64 * 1024)
#define BUF_SIZE (BT_STREAM_MAX_LINE + 2 * READ_CHUNK)

/* How far below the first line the reader looks for a cycler header under a
 * preamble (Maccor writes a few lines of test information first). */
#define PREAMBLE_MAX_LINES 64

/* fclass of a field that was not checked while splitting. */
#define UNCHECKED 255

/* Longest field parsed with a shifted exponent (see shift below). */
#define SHIFT_MAX 64

/* Room in an error message for a quoted field. */
#define QUOTE_MAX 40

/* The most columns a header may have. */
#define MAX_FIELDS 4096

#define STDIN_NAME "(standard input)"

struct bt_reader {
	gzFile gz;
	char *name;
	struct bt_reader_opts opts;
	char decimal;

	char *buf;		/* [pos, end) is read but not yet consumed */
	size_t pos, end;
	int eof;		/* zlib has nothing more */
	int nul_seen;		/* a NUL byte has been read */
	int quote_seen;		/* a quote character has been read */
	unsigned long next_line;	/* number of the next physical line */
	unsigned long line;	/* number of the current row's first line */

	char delim;
	struct bt_schema schema;
	int have_schema;
	size_t nfields;		/* fields a row must have */
	const char **fptr;	/* the current row's fields */
	size_t *flen;
	/* Input fields that verbatim numeric columns come from are checked
	 * while the line is split (bt_num_scan); fclass holds the result, or
	 * UNCHECKED. */
	unsigned char *scan;	/* per input field: scan it as a number */
	unsigned char *fclass;	/* per input field: enum bt_num_class */
	double *fval;		/* per checked field: its value, or NaN when
				   bt_num_scan left the conversion */

	/* libcsv's state and the fields of a record it produced */
	struct csv_parser csv;
	int csv_ready;
	char *cbuf;
	size_t ccap, clen;
	size_t *coff, *cflen;
	size_t cmax, cn;	/* capacity and count of fields */
	int crecord_done;
	int coverflow;		/* a record with more fields than room */

	/* For a scale of 10^-k (mA to A: 0.001), k; zero otherwise.  Such a
	 * column is parsed with its decimal exponent shifted, which is exact:
	 * "-1250.7" mA reads as -1.2507 A, where multiplying by 0.001 gives
	 * -1.2507000000000001. */
	int *shift;
	unsigned char *verbatim;	/* bt_reader_verbatim, per column */

	const char *row;	/* the current row's line, when split directly */
	size_t row_len;

	unsigned char *copy_convert;	/* bt_reader_copy_row: parse and format */
	int copy_whole;			/* rows may be copied as whole lines */

	long time_col, cycle_col;
	double prev_time, prev_cycle;
	double row_time;	/* time_s of the current row, once checked */
	int time_checked;
	int have_prev;

	int failed;
	char errmsg[BT_ERRMSG_SIZE];
};

/* ------------------------------------------------------------------ */
/* Error messages */

static void
set_error(struct bt_reader *r, int with_line, const char *fmt, va_list ap)
{
	int n;

	if (with_line)
		n = snprintf(r->errmsg, sizeof r->errmsg, "%s:%lu: ", r->name,
			     r->line);
	else
		n = snprintf(r->errmsg, sizeof r->errmsg, "%s: ", r->name);
	if (n < 0 || (size_t)n >= sizeof r->errmsg)
		n = 0;
	vsnprintf(r->errmsg + n, sizeof r->errmsg - (size_t)n, fmt, ap);
}

__attribute__((format(printf, 3, 4))) static enum bt_status
fail_at(struct bt_reader *r, enum bt_status status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_error(r, 1, fmt, ap);
	va_end(ap);
	r->failed = 1;
	return status;
}

__attribute__((format(printf, 3, 4))) static enum bt_status
fail_file(struct bt_reader *r, enum bt_status status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_error(r, 0, fmt, ap);
	va_end(ap);
	r->failed = 1;
	return status;
}

enum bt_status
bt_reader_fail(struct bt_reader *r, enum bt_status status, const char *fmt,
	       ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_error(r, 1, fmt, ap);
	va_end(ap);
	return status;
}

/* Copy at most QUOTE_MAX bytes of S into OUT for a message, replacing
 * control bytes, and mark a cut with "...". */
static const char *
quote_text(const char *s, size_t len, char out[QUOTE_MAX + 4])
{
	size_t i, n = len < QUOTE_MAX ? len : QUOTE_MAX;

	for (i = 0; i < n; i++)
		out[i] = (unsigned char)s[i] < 0x20 ? '?' : s[i];
	if (len > n) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
	return out;
}

/* ------------------------------------------------------------------ */
/* Reading lines */

static enum bt_status
gz_failure(struct bt_reader *r)
{
	int err;
	const char *msg = gzerror(r->gz, &err), *colon;

	/* zlib puts the name it knows ("<fd:3>") before its message. */
	if (msg[0] == '<' && (colon = strstr(msg, ": ")) != NULL)
		msg = colon + 2;

	if (err == Z_ERRNO)
		return fail_file(r, BT_EIO, "%s", strerror(errno));
	if (err == Z_BUF_ERROR)
		return fail_file(r, BT_EGZIP, "truncated gzip data");
	if (err == Z_MEM_ERROR)
		return fail_file(r, BT_ENOMEM, "out of memory");
	return fail_file(r, BT_EGZIP, "corrupt gzip data (%s)", msg);
}

/* Read more input behind what is buffered, moving the unconsumed part to the
 * front first.  Returns BT_OK (r->eof set at the end) or an error. */
static enum bt_status
refill(struct bt_reader *r)
{
	int n, err;
	size_t room;

	if (r->pos > 0) {
		memmove(r->buf, r->buf + r->pos, r->end - r->pos);
		r->end -= r->pos;
		r->pos = 0;
	}
	room = BUF_SIZE - r->end;
	if (room > READ_CHUNK)
		room = READ_CHUNK;
	n = gzread(r->gz, r->buf + r->end, (unsigned)room);
	if (n < 0)
		return gz_failure(r);
	/* Text has no NUL bytes: look once per chunk, and line by line only
	 * once one has been seen, to name its line. */
	if (!r->nul_seen && memchr(r->buf + r->end, '\0', (size_t)n) != NULL)
		r->nul_seen = 1;
	/* Likewise quotes: until one is read, every line takes the fast path
	 * without looking for them. */
	if (!r->quote_seen && memchr(r->buf + r->end, '"', (size_t)n) != NULL)
		r->quote_seen = 1;
	r->end += (size_t)n;
	if ((size_t)n < room) {
		gzerror(r->gz, &err);
		if (err != Z_OK)
			return gz_failure(r);
		if (n == 0 || gzeof(r->gz))
			r->eof = 1;
	}
	return BT_OK;
}

/* The next physical line, without its line end; *LINE points into the
 * buffer and stays valid until the next call.  Returns BT_OK, BT_EOF or an
 * error. */
static enum bt_status
get_line(struct bt_reader *r, const char **line, size_t *len)
{
	enum bt_status st;
	size_t scanned = 0;
	char *nl;

	for (;;) {
		nl = memchr(r->buf + r->pos + scanned, '\n',
			    r->end - r->pos - scanned);
		if (nl != NULL)
			break;
		scanned = r->end - r->pos;
		if (scanned > BT_STREAM_MAX_LINE) {
			r->line = r->next_line;
			return fail_at(r, BT_ELINE,
				       "line longer than %d bytes",
				       BT_STREAM_MAX_LINE);
		}
		if (r->eof) {
			if (scanned == 0)
				return BT_EOF;
			nl = r->buf + r->end;	/* a last line with no end */
			break;
		}
		if ((st = refill(r)) != BT_OK)
			return st;
	}
	*line = r->buf + r->pos;
	*len = (size_t)(nl - *line);
	if (*len > BT_STREAM_MAX_LINE) {
		r->line = r->next_line;
		return fail_at(r, BT_ELINE, "line longer than %d bytes",
			       BT_STREAM_MAX_LINE);
	}
	r->pos += *len + (nl < r->buf + r->end);
	if (*len > 0 && (*line)[*len - 1] == '\r')
		(*len)--;
	if (r->nul_seen && memchr(*line, '\0', *len) != NULL) {
		r->line = r->next_line;
		return fail_at(r, BT_ENUL, "NUL byte in the input");
	}
	r->next_line++;
	return BT_OK;
}

/* ------------------------------------------------------------------ */
/* Splitting lines into fields */

static int
no_space(unsigned char c)
{
	(void)c;
	return 0;
}

static void
csv_field(void *s, size_t len, void *data)
{
	struct bt_reader *r = data;

	if (r->cn == r->cmax) {
		r->coverflow = 1;
		return;
	}
	if (r->clen + len > r->ccap) {
		size_t cap = r->ccap * 2 > r->clen + len ? r->ccap * 2
							 : r->clen + len;
		char *p = realloc(r->cbuf, cap);

		if (p == NULL) {
			r->coverflow = 2;
			return;
		}
		r->cbuf = p;
		r->ccap = cap;
	}
	if (len > 0)
		memcpy(r->cbuf + r->clen, s, len);
	r->coff[r->cn] = r->clen;
	r->cflen[r->cn] = len;
	r->clen += len;
	r->cn++;
}

static void
csv_record(int c, void *data)
{
	struct bt_reader *r = data;

	(void)c;
	r->crecord_done = 1;
}

/* Split one record with libcsv, starting with LINE and reading further lines
 * while a quoted field is open.  Returns the number of fields in *N. */
static enum bt_status
split_libcsv(struct bt_reader *r, const char *line, size_t len, size_t *n)
{
	static const char newline = '\n';
	size_t total = len;
	enum bt_status st;
	size_t i;

	if (!r->csv_ready) {
		/* Not CSV_STRICT: a quote inside an unquoted field (an inch
		 * mark in a comment) is taken literally, as spreadsheets do.
		 * An unterminated quoted field is caught at the end of input. */
		if (csv_init(&r->csv, 0) != 0)
			return fail_file(r, BT_ENOMEM, "out of memory");
		csv_set_space_func(&r->csv, no_space);
		r->csv_ready = 1;
	}
	if (r->cbuf == NULL) {
		/* Fields point into cbuf even when they are all empty. */
		r->ccap = 256;
		r->cbuf = malloc(r->ccap);
		if (r->cbuf == NULL)
			return fail_file(r, BT_ENOMEM, "out of memory");
	}
	csv_set_delim(&r->csv, (unsigned char)r->delim);
	r->clen = 0;
	r->cn = 0;
	r->crecord_done = 0;
	r->coverflow = 0;
	if (len == 0) {		/* libcsv skips empty lines; here one is a row */
		r->fptr[0] = line;
		r->flen[0] = 0;
		*n = 1;
		return BT_OK;
	}
	for (;;) {
		if (csv_parse(&r->csv, line, len, csv_field, csv_record, r) != len
		    || csv_parse(&r->csv, &newline, 1, csv_field, csv_record, r) != 1)
			goto bad;
		if (r->crecord_done)
			break;
		st = get_line(r, &line, &len);
		if (st == BT_EOF) {
			/* The input ended inside a quoted field. */
			csv_free(&r->csv);
			r->csv_ready = 0;
			return fail_at(r, BT_EPARSE, "unterminated quoted field");
		}
		if (st != BT_OK)
			return st;
		total += len + 1;
		if (total > BT_STREAM_MAX_LINE)
			return fail_at(r, BT_ELINE,
				       "quoted record longer than %d bytes",
				       BT_STREAM_MAX_LINE);
	}
	if (r->coverflow == 2)
		return fail_file(r, BT_ENOMEM, "out of memory");
	if (r->coverflow) {
		*n = r->cmax + 1;	/* as split() says "more than fit" */
		return BT_OK;
	}
	for (i = 0; i < r->cn; i++) {
		r->fptr[i] = r->cbuf + r->coff[i];
		r->flen[i] = r->cflen[i];
		if (r->fclass != NULL)
			r->fclass[i] = UNCHECKED;
	}
	*n = r->cn;
	return BT_OK;
bad:
	/* Start afresh for whatever comes next. */
	csv_free(&r->csv);
	r->csv_ready = 0;
	return fail_at(r, BT_EPARSE, "malformed quoted field");
}

/* Split LINE into at most r->cmax fields into r->fptr/r->flen and store
 * their count in *N (r->cmax + 1 means "more than fit"). */
static enum bt_status
split(struct bt_reader *r, const char *line, size_t len, size_t *n)
{
	const char *p = line, *end = line + len, *q;
	size_t i = 0;

	if (r->opts.force_libcsv
	    || (r->quote_seen && memchr(line, '"', len) != NULL)) {
		r->row = NULL;
		return split_libcsv(r, line, len, n);
	}
	r->row = line;
	r->row_len = len;
	for (;;) {
		if (i == r->cmax) {
			*n = i + 1;
			return BT_OK;
		}
		r->fptr[i] = p;
		q = NULL;
		if (r->scan != NULL && i < r->nfields && r->scan[i]) {
			enum bt_num_class cls;
			size_t k = bt_num_scan(p, (size_t)(end - p), r->decimal,
					       &cls, &r->fval[i]);

			if (k > 0 && (p + k == end || p[k] == r->delim)) {
				r->fclass[i] = (unsigned char)cls;
				q = p + k < end ? p + k : NULL;
				goto found;
			}
			r->fclass[i] = UNCHECKED;
		}
		q = memchr(p, r->delim, (size_t)(end - p));
found:
		if (q == NULL) {
			r->flen[i++] = (size_t)(end - p);
			break;
		}
		r->flen[i++] = (size_t)(q - p);
		p = q + 1;
	}
	*n = i;
	return BT_OK;
}

/* Make room for N fields in the per-row arrays. */
static enum bt_status
size_fields(struct bt_reader *r, size_t n)
{
	const char **fp;
	size_t *fl, *co, *cl;

	fp = realloc(r->fptr, n * sizeof *fp);
	if (fp != NULL)
		r->fptr = fp;
	fl = realloc(r->flen, n * sizeof *fl);
	if (fl != NULL)
		r->flen = fl;
	co = realloc(r->coff, n * sizeof *co);
	if (co != NULL)
		r->coff = co;
	cl = realloc(r->cflen, n * sizeof *cl);
	if (cl != NULL)
		r->cflen = cl;
	if (fp == NULL || fl == NULL || co == NULL || cl == NULL)
		return fail_file(r, BT_ENOMEM, "out of memory");
	r->cmax = n;
	return BT_OK;
}

/* ------------------------------------------------------------------ */
/* The header */

/* The delimiter of a header line: the most frequent of comma, tab and
 * semicolon outside quotes; a comma when there is none. */
static char
detect_delimiter(const char *line, size_t len)
{
	size_t counts[3] = {0, 0, 0}, i;
	static const char cand[3] = {',', '\t', ';'};
	int quoted = 0, best = 0, k;

	for (i = 0; i < len; i++) {
		if (line[i] == '"')
			quoted = !quoted;
		else if (!quoted)
			for (k = 0; k < 3; k++)
				counts[k] += line[i] == cand[k];
	}
	for (k = 1; k < 3; k++)
		if (counts[k] > counts[best])
			best = k;
	return cand[best];
}

static int
starts_with(const char *s, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);

	return len >= n && memcmp(s, prefix, n) == 0;
}

/* Whether LINE, split at its own delimiter, is the header of a known
 * cycler export.  Uses the field arrays as scratch. */
static int
is_cycler_header(struct bt_reader *r, const char *line, size_t len)
{
	const char *p = line, *end = line + len, *q;
	char delim = r->opts.delimiter ? r->opts.delimiter
				       : detect_delimiter(line, len);
	size_t n = 0;

	if (memchr(line, '"', len) != NULL)
		return 0;
	while (n < r->cmax) {
		q = memchr(p, delim, (size_t)(end - p));
		r->fptr[n] = p;
		r->flen[n++] = (size_t)((q ? q : end) - p);
		if (q == NULL)
			break;
		p = q + 1;
	}
	return n >= 2 && bt_schema_is_cycler_header(r->fptr, r->flen, n);
}

/* Look through the buffered lines after the current one for a cycler header
 * and return how many lines precede it, or 0 when there is none. */
static size_t
preamble_lines(struct bt_reader *r)
{
	size_t pos = r->pos, k;
	const char *nl;
	size_t len;

	for (k = 1; k <= PREAMBLE_MAX_LINES && pos < r->end; k++) {
		nl = memchr(r->buf + pos, '\n', r->end - pos);
		len = (size_t)((nl ? nl : r->buf + r->end) - (r->buf + pos));
		if (len > 0 && r->buf[pos + len - 1] == '\r')
			len--;
		if (is_cycler_header(r, r->buf + pos, len))
			return k;
		if (nl == NULL)
			break;
		pos = (size_t)(nl - r->buf) + 1;
	}
	return 0;
}

/* Skip a BioLogic EC-Lab preamble whose first line has been read: the second
 * line gives the number of header lines, the last of which holds the column
 * names. */
static enum bt_status
skip_biologic(struct bt_reader *r)
{
	static const char key[] = "Nb header lines";
	const char *line, *colon;
	size_t len;
	unsigned long count = 0;
	enum bt_status st;
	size_t i;

	if ((st = get_line(r, &line, &len)) != BT_OK)
		goto bad;
	colon = memchr(line, ':', len);
	if (!starts_with(line, len, key) || colon == NULL)
		goto bad;
	for (i = (size_t)(colon + 1 - line); i < len && line[i] == ' '; i++)
		;
	for (; i < len && line[i] >= '0' && line[i] <= '9' && count < 1000000; i++)
		count = count * 10 + (unsigned long)(line[i] - '0');
	while (i < len && line[i] == ' ')
		i++;
	if (i != len || count < 3)
		goto bad;
	/* Lines 1 and 2 are read; the header is line COUNT. */
	for (i = 3; i < count; i++)
		if ((st = get_line(r, &line, &len)) != BT_OK)
			goto bad;
	return BT_OK;
bad:
	if (r->failed)
		return st;
	r->line = r->next_line - 1;
	return fail_at(r, BT_EHEADER,
		       "EC-Lab file without a valid 'Nb header lines' line");
}

static enum bt_status
read_header(struct bt_reader *r)
{
	const char *line;
	size_t len, n, skip, i;
	enum bt_status st;
	char errmsg[BT_ERRMSG_SIZE];

	if ((st = refill(r)) != BT_OK)
		return st;
	if (r->end - r->pos >= 3 && memcmp(r->buf, "\xEF\xBB\xBF", 3) == 0)
		r->pos += 3;
	for (;;) {
		st = get_line(r, &line, &len);
		if (st == BT_EOF)
			return fail_file(r, BT_EEMPTY, "empty input (no header line)");
		if (st != BT_OK)
			return st;
		if (len > 0 && line[0] != '#')
			break;
	}
	if (starts_with(line, len, "EC-Lab ASCII FILE")) {
		if ((st = skip_biologic(r)) != BT_OK)
			return st;
		st = get_line(r, &line, &len);
		if (st == BT_EOF)
			return fail_file(r, BT_EEMPTY, "empty input (no header line)");
		if (st != BT_OK)
			return st;
	} else if (!is_cycler_header(r, line, len)
		   && (skip = preamble_lines(r)) > 0) {
		for (i = 0; i < skip; i++)
			if ((st = get_line(r, &line, &len)) != BT_OK)
				return st;
	}
	r->line = r->next_line - 1;
	r->delim = r->opts.delimiter ? r->opts.delimiter
				     : detect_delimiter(line, len);
	if ((st = split(r, line, len, &n)) != BT_OK)
		return st;
	if (n > MAX_FIELDS)
		return fail_at(r, BT_EHEADER, "more than %d columns",
			       MAX_FIELDS);
	st = bt_schema_detect(r->fptr, r->flen, n, r->opts.maps, r->opts.nmaps,
			      &r->schema, errmsg);
	if (st != BT_OK) {
		if (st == BT_ENOMEM)
			return fail_file(r, st, "out of memory");
		return fail_at(r, st, "%s", errmsg);
	}
	r->have_schema = 1;
	r->nfields = r->schema.nfields;
	/* One spare slot lets split() tell "one too many" from "fits". */
	if ((st = size_fields(r, r->nfields + 1 + (size_t)r->schema.drop_trailing))
	    != BT_OK)
		return st;
	r->shift = calloc(r->schema.ncols + 1, sizeof *r->shift);
	r->verbatim = calloc(r->schema.ncols + 1, 1);
	if (r->shift == NULL || r->verbatim == NULL)
		return fail_file(r, BT_ENOMEM, "out of memory");
	for (i = 0; i < r->schema.ncols; i++) {
		double scale = r->schema.cols[i].scale, p = 1;
		int k;

		for (k = 1; k <= 9; k++) {
			p *= 10;
			if (scale * p == 1 && nearbyint(1 / scale) == p)
				r->shift[i] = k;
		}
	}
	r->scan = calloc(r->cmax, 1);
	r->fclass = malloc(r->cmax);
	r->fval = malloc(r->cmax * sizeof *r->fval);
	if (r->scan == NULL || r->fclass == NULL || r->fval == NULL)
		return fail_file(r, BT_ENOMEM, "out of memory");
	memset(r->fclass, UNCHECKED, r->cmax);
	for (i = 0; i < r->schema.ncols; i++) {
		const struct bt_schema_col *c = &r->schema.cols[i];

		r->verbatim[i] = c->conv == BT_CONV_NUMBER && c->scale == 1.0
				 && r->decimal == '.'
				 && !(c->is_current && r->opts.discharge_positive);
		if (r->verbatim[i])
			r->scan[c->source] = 1;
	}
	r->time_col = bt_reader_find(r, "time_s");
	r->cycle_col = bt_reader_find(r, "cycle");
	return BT_OK;
}

/* ------------------------------------------------------------------ */
/* The reader's public side */

enum bt_status
bt_reader_open(struct bt_reader **reader, const char *path,
	       const struct bt_reader_opts *opts)
{
	struct bt_reader *r;
	int fd;

	*reader = NULL;
	r = calloc(1, sizeof *r);
	if (r == NULL)
		return BT_ENOMEM;
	if (opts != NULL)
		r->opts = *opts;
	r->decimal = r->opts.decimal_comma ? ',' : '.';
	r->next_line = 1;
	r->time_col = r->cycle_col = -1;
	*reader = r;
	r->name = strdup(path == NULL || strcmp(path, "-") == 0 ? STDIN_NAME : path);
	r->buf = malloc(BUF_SIZE);
	if (r->name == NULL || r->buf == NULL
	    || size_fields(r, MAX_FIELDS + 1) != BT_OK) {
		snprintf(r->errmsg, sizeof r->errmsg, "out of memory");
		return BT_ENOMEM;
	}
	if (path == NULL || strcmp(path, "-") == 0)
		fd = dup(STDIN_FILENO);
	else
		fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail_file(r, BT_EIO, "%s", strerror(errno));
	r->gz = gzdopen(fd, "rb");
	if (r->gz == NULL) {
		close(fd);
		return fail_file(r, BT_ENOMEM, "out of memory");
	}
	gzbuffer(r->gz, READ_CHUNK);
	return read_header(r);
}

void
bt_reader_free(struct bt_reader *r)
{
	if (r == NULL)
		return;
	if (r->gz != NULL)
		gzclose_r(r->gz);
	if (r->csv_ready)
		csv_free(&r->csv);
	if (r->have_schema)
		bt_schema_free(&r->schema);
	free(r->name);
	free(r->buf);
	free(r->fptr);
	free(r->flen);
	free(r->coff);
	free(r->cflen);
	free(r->cbuf);
	free(r->shift);
	free(r->verbatim);
	free(r->scan);
	free(r->fclass);
	free(r->fval);
	free(r->copy_convert);
	free(r);
}

const struct bt_schema *
bt_reader_schema(const struct bt_reader *r)
{
	return &r->schema;
}

size_t
bt_reader_ncols(const struct bt_reader *r)
{
	return r->schema.ncols;
}

const char *
bt_reader_name(const struct bt_reader *r, size_t col)
{
	return r->schema.cols[col].name;
}

long
bt_reader_find(const struct bt_reader *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->schema.ncols; i++)
		if (strcmp(r->schema.cols[i].name, name) == 0)
			return (long)i;
	return -1;
}

enum bt_status
bt_reader_require(struct bt_reader *r, const char *name, size_t *col)
{
	long i = bt_reader_find(r, name);
	size_t k, n;
	int len;

	if (i >= 0) {
		*col = (size_t)i;
		return BT_OK;
	}
	r->line = r->next_line > 1 ? r->line : 1;
	len = snprintf(r->errmsg, sizeof r->errmsg,
		       "%s: missing column '%s' (columns found:", r->name, name);
	for (k = 0; k < r->schema.ncols && len > 0
	     && (size_t)len < sizeof r->errmsg; k++) {
		n = sizeof r->errmsg - (size_t)len;
		len += snprintf(r->errmsg + len, n, "%s%s", k ? ", " : " ",
				r->schema.cols[k].name);
	}
	if (len > 0 && (size_t)len < sizeof r->errmsg - 1)
		snprintf(r->errmsg + len, sizeof r->errmsg - (size_t)len, ")");
	else
		memcpy(r->errmsg + sizeof r->errmsg - 5, "...)", 5);
	return BT_ENOCOL;
}

char
bt_reader_delimiter(const struct bt_reader *r)
{
	return r->delim;
}

static enum bt_status
check_time(struct bt_reader *r)
{
	double t, cycle = 0;
	char a[BT_NUM_BUFSIZE], b[BT_NUM_BUFSIZE];
	enum bt_status st;

	/* bt_reader_number takes the value converted while splitting. */
	if ((st = bt_reader_finite(r, (size_t)r->time_col, &t)) != BT_OK)
		return st;
	if (r->cycle_col >= 0
	    && (st = bt_reader_number(r, (size_t)r->cycle_col, &cycle)) != BT_OK)
		return st;
	if (r->have_prev && t < r->prev_time
	    && (r->cycle_col < 0 || cycle == r->prev_cycle)) {
		bt_num_format(r->prev_time, 0, a);
		bt_num_format(t, 0, b);
		return fail_at(r, BT_ETIME,
			       "time goes backwards from %s to %s in column 'time_s'%s",
			       a, b, r->cycle_col >= 0 ? " within a cycle" : "");
	}
	r->prev_time = t;
	r->prev_cycle = cycle;
	r->have_prev = 1;
	r->row_time = t;
	r->time_checked = 1;
	return BT_OK;
}

enum bt_status
bt_reader_next(struct bt_reader *r)
{
	const char *line;
	size_t len, n;
	enum bt_status st;

	if (r->failed)
		return BT_EIO;
	r->time_checked = 0;
	st = get_line(r, &line, &len);
	if (st != BT_OK)
		return st;
	r->line = r->next_line - 1;
	if ((st = split(r, line, len, &n)) != BT_OK)
		return st;
	if (n != r->nfields
	    && !(r->schema.drop_trailing && n == r->nfields + 1
		 && r->flen[r->nfields] == 0)) {
		if (n > r->cmax)
			return fail_at(r, BT_ERAGGED,
				       "expected %zu fields, found more",
				       r->nfields);
		return fail_at(r, BT_ERAGGED, "expected %zu fields, found %zu",
			       r->nfields, n);
	}
	if (r->opts.check_time && r->time_col >= 0)
		return check_time(r);
	return BT_OK;
}

const char *
bt_reader_text(const struct bt_reader *r, size_t col, size_t *len)
{
	size_t src = r->schema.cols[col].source;

	*len = r->flen[src];
	return r->fptr[src];
}

/* Whether TEXT looks like a number written with a decimal comma. */
static int
looks_decimal_comma(const char *s, size_t len)
{
	size_t i;
	int comma = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == ',')
			comma++;
		else if (!(s[i] >= '0' && s[i] <= '9') && s[i] != '-'
			 && s[i] != '+' && s[i] != 'e' && s[i] != 'E')
			return 0;
	}
	return comma == 1;
}

static enum bt_status
bad_number(struct bt_reader *r, size_t col, const char *s, size_t len)
{
	char q[QUOTE_MAX + 4];
	int hint = r->decimal == '.' && looks_decimal_comma(s, len);

	return bt_reader_fail(r, BT_EPARSE,
			      "invalid number '%s' in column '%s'%s",
			      quote_text(s, len, q), r->schema.cols[col].name,
			      hint ? " (use --decimal-comma?)" : "");
}

/* X, the value of the LEN bytes at S in column COL, times the column's
 * scale: exactly, by shifting the decimal exponent, for a scale of 10^-k
 * ("-1250.7" or "-1.2507E+003" mA give -1.2507 A); by multiplying
 * otherwise. */
static double
scale_value(const struct bt_reader *r, size_t col, const char *s, size_t len,
	    double x)
{
	char shifted[SHIFT_MAX + 16];
	const char *e;
	long exp10 = 0;
	size_t mant, i;
	int neg = 0, n;
	double y;

	if (r->shift[col] == 0 || !isfinite(x) || len >= SHIFT_MAX)
		return x * r->schema.cols[col].scale;
	e = memchr(s, 'e', len);
	if (e == NULL)
		e = memchr(s, 'E', len);
	mant = e ? (size_t)(e - s) : len;
	if (e != NULL) {
		/* The field parsed, so the exponent is well formed. */
		i = mant + 1;
		if (s[i] == '+' || s[i] == '-')
			neg = s[i++] == '-';
		for (; i < len && exp10 < 100000; i++)
			exp10 = exp10 * 10 + (s[i] - '0');
		if (neg)
			exp10 = -exp10;
	}
	memcpy(shifted, s, mant);
	n = snprintf(shifted + mant, 16, "e%ld", exp10 - r->shift[col]);
	if (bt_num_parse(shifted, mant + (size_t)n, r->decimal, &y) != BT_OK)
		return x * r->schema.cols[col].scale;
	return y;
}

enum bt_status
bt_reader_number(struct bt_reader *r, size_t col, double *value)
{
	const struct bt_schema_col *c = &r->schema.cols[col];
	const char *s = r->fptr[c->source];
	size_t len = r->flen[c->source];
	double x;
	int sign;

	if ((long)col == r->time_col && r->time_checked) {
		*value = r->row_time;
		return BT_OK;
	}
	if (len == 0) {
		*value = NAN;
		return BT_OK;
	}
	/* A verbatim column is a plain number, most often converted while
	 * splitting (bt_num_scan). */
	if (r->verbatim[col] && r->fclass[c->source] == BT_NUM_FINITE
	    && !isnan(r->fval[c->source])) {
		*value = r->fval[c->source];
		return BT_OK;
	}
	if (c->conv == BT_CONV_DURATION) {
		if (bt_schema_duration(s, len, r->decimal, &x) != BT_OK)
			return bad_number(r, col, s, len);
		x *= c->scale;
	} else if (bt_num_parse(s, len, r->decimal, &x) != BT_OK) {
		return bad_number(r, col, s, len);
	} else if (c->conv != BT_CONV_TEXT && c->scale != 1) {
		x = scale_value(r, col, s, len, x);
	}
	if (c->conv == BT_CONV_STATE_SIGN) {
		const char *st = r->fptr[c->state_source];
		size_t stlen = r->flen[c->state_source];
		char q[QUOTE_MAX + 4];

		if (bt_schema_state_sign(st, stlen, &sign) != BT_OK)
			return bt_reader_fail(r, BT_EPARSE,
					      "unknown state '%s' for column '%s'",
					      quote_text(st, stlen, q), c->name);
		if (sign != 0)
			x = sign * fabs(x);
	}
	if (c->is_current && r->opts.discharge_positive)
		x = -x;
	*value = x;
	return BT_OK;
}

/* The error for column COL, whose text S of LEN bytes is empty or not a
 * finite number. */
static enum bt_status
not_finite(struct bt_reader *r, size_t col, const char *s, size_t len)
{
	char q[QUOTE_MAX + 4];

	if (len == 0)
		return bt_reader_fail(r, BT_ENONFINITE,
				      "missing value in column '%s'",
				      r->schema.cols[col].name);
	return bt_reader_fail(r, BT_ENONFINITE,
			      "non-finite value '%s' in column '%s'",
			      quote_text(s, len, q), r->schema.cols[col].name);
}

enum bt_status
bt_reader_finite(struct bt_reader *r, size_t col, double *value)
{
	enum bt_status st = bt_reader_number(r, col, value);
	const char *s;
	size_t len;

	if (st != BT_OK || isfinite(*value))
		return st;
	s = bt_reader_text(r, col, &len);
	return not_finite(r, col, s, len);
}

enum bt_status
bt_reader_check(struct bt_reader *r, size_t col, int finite)
{
	size_t src = r->schema.cols[col].source, len = r->flen[src];
	const char *s = r->fptr[src];
	double x;

	if ((long)col == r->time_col && r->time_checked)
		return BT_OK;	/* checked finite by check_time */
	if (!r->verbatim[col])
		return finite ? bt_reader_finite(r, col, &x)
			      : bt_reader_number(r, col, &x);
	switch (len == 0 ? BT_NUM_NONFINITE
		: r->fclass[src] != UNCHECKED ? (enum bt_num_class)r->fclass[src]
		: bt_num_check(s, len, r->decimal)) {
	case BT_NUM_FINITE:
		return BT_OK;
	case BT_NUM_NONFINITE:
		return finite ? not_finite(r, col, s, len) : BT_OK;
	default:
		return bad_number(r, col, s, len);
	}
}

const char *
bt_reader_row_text(const struct bt_reader *r, size_t *len)
{
	*len = r->row_len;
	return r->row;
}

int
bt_reader_verbatim(const struct bt_reader *r, size_t col)
{
	return r->verbatim[col];
}

static int
is_reserved(const char *name, const char *const *reserved)
{
	for (; reserved != NULL && *reserved != NULL; reserved++)
		if (strcmp(name, *reserved) == 0)
			return 1;
	return 0;
}

enum bt_status
bt_reader_copy_plan(struct bt_reader *r, const struct bt_writer *w,
		    int reformat)
{
	const struct bt_schema *schema = &r->schema;
	size_t i;

	free(r->copy_convert);
	r->copy_convert = calloc(schema->ncols + 1, 1);
	if (r->copy_convert == NULL)
		return BT_ENOMEM;
	r->copy_whole = schema->ncols == schema->nfields && !schema->drop_trailing
			&& bt_writer_delimiter(w) == r->delim;
	for (i = 0; i < schema->ncols; i++) {
		r->copy_convert[i] = schema->cols[i].conv != BT_CONV_TEXT
				     && (reformat || !r->verbatim[i]);
		if (r->copy_convert[i] || schema->cols[i].source != i)
			r->copy_whole = 0;
	}
	return BT_OK;
}

enum bt_status
bt_reader_copy_header(struct bt_reader *r, struct bt_writer *w,
		      const char *const *reserved, int reformat)
{
	const char *name;
	char renamed[BT_ERRMSG_SIZE];
	size_t i;

	if (bt_reader_copy_plan(r, w, reformat) != BT_OK)
		return BT_ENOMEM;
	for (i = 0; i < r->schema.ncols; i++) {
		name = r->schema.cols[i].name;
		if (is_reserved(name, reserved)) {
			snprintf(renamed, sizeof renamed, "input_%s", name);
			name = renamed;
		}
		bt_writer_text(w, name, strlen(name));
	}
	return BT_OK;
}

void
bt_reader_copy_row(struct bt_reader *r, struct bt_writer *w)
{
	const char *s;
	size_t i, len;
	double x;

	if (r->copy_whole && r->row != NULL) {
		bt_writer_raw(w, r->row, r->row_len);
		return;
	}
	for (i = 0; i < r->schema.ncols; i++) {
		s = bt_reader_text(r, i, &len);
		if (!r->copy_convert[i] || len == 0)
			bt_writer_text(w, s, len);
		else if (bt_reader_number(r, i, &x) == BT_OK)
			bt_writer_number(w, x);
		else
			bt_writer_text(w, s, len);	/* the caller did not need it */
	}
}

unsigned long
bt_reader_line(const struct bt_reader *r)
{
	return r->line;
}

const char *
bt_reader_filename(const struct bt_reader *r)
{
	return r->name;
}

const char *
bt_reader_errmsg(const struct bt_reader *r)
{
	return r->errmsg;
}

/* ------------------------------------------------------------------ */
/* The writer */

#define WBUF_SIZE (64 * 1024)

struct bt_writer {
	int fd;			/* -1 once handed to zlib or closed */
	gzFile gz;
	char *path;		/* NULL for standard output */
	char *tmppath;
	char delim;
	int precision;
	int at_row_start;
	int failed;
	int closed;
	char *buf;
	size_t len;
	char errmsg[BT_ERRMSG_SIZE];
};

static void
writer_error(struct bt_writer *w, int errnum)
{
	if (w->failed)
		return;
	w->failed = 1;
	if (w->path == NULL)
		snprintf(w->errmsg, sizeof w->errmsg, "write error: %s",
			 strerror(errnum));
	else
		snprintf(w->errmsg, sizeof w->errmsg, "%s: %s", w->path,
			 strerror(errnum));
}

static void
flush(struct bt_writer *w)
{
	size_t done = 0;
	ssize_t n;
	int err;

	if (w->failed) {
		w->len = 0;
		return;
	}
	if (w->gz != NULL && w->len > 0) {
		if (gzwrite(w->gz, w->buf, (unsigned)w->len) != (int)w->len) {
			gzerror(w->gz, &err);
			writer_error(w, err == Z_ERRNO ? errno : EIO);
		}
		w->len = 0;
		return;
	}
	while (done < w->len) {
		n = write(w->fd, w->buf + done, w->len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			writer_error(w, errno);
			break;
		}
		done += (size_t)n;
	}
	w->len = 0;
}

static int
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

int
bt_stream_temporary(const char *path, char **tmppath)
{
	const char *slash = strrchr(path, '/');
	size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
	size_t size = strlen(path) + 32;
	unsigned long seed = (unsigned long)getpid() ^ (unsigned long)time(NULL);
	struct stat sb;
	int fd, attempt;

	*tmppath = NULL;
	if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
		return open(path, O_WRONLY | O_CLOEXEC);
	*tmppath = malloc(size);
	if (*tmppath == NULL) {
		errno = ENOMEM;
		return -1;
	}
	for (attempt = 0; attempt < 100; attempt++) {
		seed = seed * 6364136223846793005UL + 1442695040888963407UL;
		snprintf(*tmppath, size, "%.*s.%s.%06lx.tmp", (int)dirlen,
			 path, path + dirlen, (seed >> 40) & 0xffffff);
		fd = open(*tmppath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			  0666);
		if (fd >= 0 || errno != EEXIST)
			return fd;
	}
	return -1;
}

int
bt_stream_commit(const char *tmppath, const char *path)
{
	return tmppath != NULL ? rename(tmppath, path) : 0;
}

enum bt_status
bt_writer_open(struct bt_writer **writer, const char *path, char delimiter,
	       int precision)
{
	struct bt_writer *w;

	*writer = NULL;
	if (precision < 0 || precision > BT_NUM_MAX_PRECISION)
		return BT_EINVAL;
	w = calloc(1, sizeof *w);
	if (w == NULL)
		return BT_ENOMEM;
	*writer = w;
	w->fd = -1;
	w->delim = delimiter ? delimiter : ',';
	w->precision = precision;
	w->at_row_start = 1;
	w->buf = malloc(WBUF_SIZE);
	if (w->buf == NULL) {
		snprintf(w->errmsg, sizeof w->errmsg, "out of memory");
		return BT_ENOMEM;
	}
	if (path == NULL || strcmp(path, "-") == 0) {
		w->fd = STDOUT_FILENO;
		return BT_OK;
	}
	w->path = strdup(path);
	if (w->path == NULL) {
		snprintf(w->errmsg, sizeof w->errmsg, "out of memory");
		return BT_ENOMEM;
	}
	w->fd = bt_stream_temporary(path, &w->tmppath);
	if (w->fd < 0) {
		writer_error(w, errno);
		return BT_EIO;
	}
	if (ends_with(path, ".gz")) {
		w->gz = gzdopen(w->fd, "wb6");
		if (w->gz == NULL) {
			writer_error(w, ENOMEM);
			return BT_ENOMEM;
		}
		w->fd = -1;
	}
	return BT_OK;
}

static inline void
reserve(struct bt_writer *w, size_t n)
{
	if (w->len + n > WBUF_SIZE)
		flush(w);
}

static inline void
separate(struct bt_writer *w)
{
	if (!w->at_row_start)
		w->buf[w->len++] = w->delim;
	w->at_row_start = 0;
}

void
bt_writer_raw(struct bt_writer *w, const char *s, size_t len)
{
	reserve(w, 1);
	separate(w);
	while (len > 0) {
		size_t room = WBUF_SIZE - w->len, n = len < room ? len : room;

		memcpy(w->buf + w->len, s, n);
		w->len += n;
		s += n;
		len -= n;
		if (len > 0)
			flush(w);
	}
}

void
bt_writer_text(struct bt_writer *w, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] == w->delim || s[i] == '"' || s[i] == '\n'
		    || s[i] == '\r')
			break;
	if (i == len) {
		bt_writer_raw(w, s, len);
		return;
	}
	/* Quote the field and double its quotes (RFC 4180, 2.7). */
	reserve(w, 2);
	separate(w);
	w->buf[w->len++] = '"';
	for (i = 0; i < len; i++) {
		reserve(w, 2);
		if (s[i] == '"')
			w->buf[w->len++] = '"';
		w->buf[w->len++] = s[i];
	}
	reserve(w, 1);
	w->buf[w->len++] = '"';
}

void
bt_writer_number(struct bt_writer *w, double x)
{
	reserve(w, BT_NUM_BUFSIZE + 1);
	separate(w);
	w->len += bt_num_format(x, w->precision, w->buf + w->len);
}

void
bt_writer_empty(struct bt_writer *w)
{
	reserve(w, 1);
	separate(w);
}

void
bt_writer_names(struct bt_writer *w, const char *const *names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		bt_writer_raw(w, names[i], strlen(names[i]));
}

void
bt_writer_number_or_empty(struct bt_writer *w, double x)
{
	if (isfinite(x))
		bt_writer_number(w, x);
	else
		bt_writer_empty(w);
}

enum bt_status
bt_writer_end_row(struct bt_writer *w)
{
	reserve(w, 1);
	w->buf[w->len++] = '\n';
	w->at_row_start = 1;
	return w->failed ? BT_EIO : BT_OK;
}

enum bt_status
bt_writer_close(struct bt_writer *w)
{
	int err;

	flush(w);
	if (w->gz != NULL) {
		err = gzclose_w(w->gz);
		w->gz = NULL;
		if (err != Z_OK)
			writer_error(w, err == Z_ERRNO ? errno : EIO);
	} else if (w->path != NULL && w->fd >= 0) {
		if (close(w->fd) != 0)
			writer_error(w, errno);
		w->fd = -1;
	}
	if (w->failed)
		return BT_EIO;
	if (w->path != NULL && bt_stream_commit(w->tmppath, w->path) != 0) {
		writer_error(w, errno);
		return BT_EIO;
	}
	w->closed = 1;
	return BT_OK;
}

void
bt_writer_free(struct bt_writer *w)
{
	if (w == NULL)
		return;
	if (w->gz != NULL)
		gzclose_w(w->gz);
	else if (w->path != NULL && w->fd >= 0)
		close(w->fd);
	if (!w->closed && w->tmppath != NULL)
		unlink(w->tmppath);
	free(w->path);
	free(w->tmppath);
	free(w->buf);
	free(w);
}

char
bt_writer_delimiter(const struct bt_writer *w)
{
	return w->delim;
}

const char *
bt_writer_errmsg(const struct bt_writer *w)
{
	return w->errmsg;
}
