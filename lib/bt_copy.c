/* bt_copy.c - the checked pass-through of a stream (see bt_copy.h). */
#include <config.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bt_copy.h"

/* What the copy does with each column of a row. */
enum col_kind {
	COPY_TEXT,	/* text: copied (quoted when the output needs it) */
	CHECK_COPY,	/* a number already canonical: checked, then copied */
	CONVERT		/* a number to convert: parsed and formatted */
};

struct col_plan {
	enum col_kind kind;
	int finite;	/* must hold a finite number */
};

struct bt_copy {
	size_t ncols;
	int whole_line;	/* every row is written as its input line */
	struct col_plan col[];
};

enum bt_status
bt_copy_alloc(struct bt_copy **copy, const struct bt_reader *r,
	      char delimiter, int precision)
{
	const struct bt_schema *schema = bt_reader_schema(r);
	size_t ncols = bt_reader_ncols(r), i;
	struct bt_copy *c;

	*copy = NULL;
	c = calloc(1, sizeof *c + (ncols + 1) * sizeof c->col[0]);
	if (c == NULL)
		return BT_ENOMEM;
	c->ncols = ncols;
	/* A row whose every field is copied as it stands, in input order and
	 * with the same delimiter, is its own output line. */
	c->whole_line = ncols == schema->nfields && !schema->drop_trailing
			&& (delimiter ? delimiter : ',') == bt_reader_delimiter(r);
	for (i = 0; i < ncols; i++) {
		if (schema->cols[i].conv == BT_CONV_TEXT)
			c->col[i].kind = COPY_TEXT;
		else if (precision == 0 && bt_reader_verbatim(r, i))
			c->col[i].kind = CHECK_COPY;
		else
			c->col[i].kind = CONVERT;
		if (c->col[i].kind == CONVERT || schema->cols[i].source != i)
			c->whole_line = 0;
	}
	*copy = c;
	return BT_OK;
}

void
bt_copy_free(struct bt_copy *copy)
{
	free(copy);
}

void
bt_copy_require(struct bt_copy *copy, size_t col)
{
	if (col < copy->ncols)
		copy->col[col].finite = 1;
}

void
bt_copy_header(const struct bt_reader *r, struct bt_writer *w)
{
	size_t i;
	const char *s;

	for (i = 0; i < bt_reader_ncols(r); i++) {
		s = bt_reader_name(r, i);
		bt_writer_text(w, s, strlen(s));
	}
}

enum bt_status
bt_copy_row(const struct bt_copy *c, struct bt_reader *r, struct bt_writer *w)
{
	enum bt_status st;
	const char *s;
	size_t i, len;
	double x;

	for (i = 0; i < c->ncols; i++)
		if (c->col[i].kind != COPY_TEXT
		    && (st = bt_reader_check(r, i, c->col[i].finite)) != BT_OK)
			return st;
	s = c->whole_line ? bt_reader_row_text(r, &len) : NULL;
	if (s != NULL) {
		bt_writer_raw(w, s, len);
		return BT_OK;
	}
	for (i = 0; i < c->ncols; i++) {
		s = bt_reader_text(r, i, &len);
		if (c->col[i].kind == COPY_TEXT)
			bt_writer_text(w, s, len);
		else if (len == 0)
			bt_writer_empty(w);
		else if (c->col[i].kind == CHECK_COPY)
			bt_writer_raw(w, s, len);
		else if ((st = bt_reader_number(r, i, &x)) != BT_OK)
			return st;
		else
			bt_writer_number(w, x);
	}
	return BT_OK;
}

struct bt_copy_gather {
	struct bt_writer *writer;
	struct bt_reader_opts opts;
	char delimiter;
	int precision;
	char *column;
	char *first;		/* the first stream's path */
	char **names;		/* and its column names */
	size_t ncols;
	char errmsg[BT_ERRMSG_SIZE];
};

enum bt_status
bt_copy_gather_alloc(struct bt_copy_gather **gather, struct bt_writer *w,
		     const struct bt_reader_opts *opts, char delimiter,
		     int precision, const char *column)
{
	struct bt_copy_gather *g = calloc(1, sizeof *g);

	*gather = g;
	if (g == NULL)
		return BT_ENOMEM;
	g->writer = w;
	if (opts != NULL)
		g->opts = *opts;
	g->delimiter = delimiter;
	g->precision = precision;
	g->column = strdup(column);
	return g->column ? BT_OK : BT_ENOMEM;
}

void
bt_copy_gather_free(struct bt_copy_gather *g)
{
	size_t i;

	if (g == NULL)
		return;
	for (i = 0; i < g->ncols; i++)
		free(g->names[i]);
	free(g->names);
	free(g->first);
	free(g->column);
	free(g);
}

__attribute__((format(printf, 3, 4))) static enum bt_status
gather_fail(struct bt_copy_gather *g, enum bt_status st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(g->errmsg, sizeof g->errmsg, fmt, ap);
	va_end(ap);
	return st;
}

/* Keep the first stream's header, or check another's against it. */
static enum bt_status
gather_header(struct bt_copy_gather *g, const struct bt_reader *r)
{
	const char *path = bt_reader_filename(r);
	size_t i, n = bt_reader_ncols(r);

	if (g->first == NULL) {
		for (i = 0; i < n; i++)
			if (strcmp(bt_reader_name(r, i), g->column) == 0)
				return gather_fail(g, BT_EINVAL, "%s: already has a "
						   "column '%s'", path, g->column);
		g->names = calloc(n + 1, sizeof *g->names);
		if (g->names == NULL || (g->first = strdup(path)) == NULL)
			return BT_ENOMEM;
		for (; g->ncols < n; g->ncols++)
			if ((g->names[g->ncols] = strdup(bt_reader_name(r, g->ncols)))
			    == NULL)
				return BT_ENOMEM;
		bt_writer_text(g->writer, g->column, strlen(g->column));
		bt_copy_header(r, g->writer);
		if (bt_writer_end_row(g->writer) != BT_OK)
			return gather_fail(g, BT_EIO, "%s",
					   bt_writer_errmsg(g->writer));
		return BT_OK;
	}
	if (n != g->ncols)
		return gather_fail(g, BT_EHEADER, "%s: its header has %zu columns, "
				   "%s's has %zu", path, n, g->first, g->ncols);
	for (i = 0; i < n; i++)
		if (strcmp(bt_reader_name(r, i), g->names[i]) != 0)
			return gather_fail(g, BT_EHEADER, "%s: its header differs "
					   "from %s's: column %zu is '%s', not '%s'",
					   path, g->first, i + 1,
					   bt_reader_name(r, i), g->names[i]);
	return BT_OK;
}

enum bt_status
bt_copy_gather_file(struct bt_copy_gather *g, const char *path,
		    const char *name)
{
	struct bt_reader *r;
	struct bt_copy *c = NULL;
	unsigned long rows = 0;
	size_t len = strlen(name);
	enum bt_status st;

	g->errmsg[0] = '\0';
	st = bt_reader_open(&r, path, &g->opts);
	if (st == BT_OK)
		st = gather_header(g, r);
	if (st == BT_OK)
		st = bt_copy_alloc(&c, r, g->delimiter, g->precision);
	while (st == BT_OK && (st = bt_reader_next(r)) == BT_OK) {
		bt_writer_text(g->writer, name, len);
		if ((st = bt_copy_row(c, r, g->writer)) != BT_OK)
			break;
		if ((st = bt_writer_end_row(g->writer)) != BT_OK) {
			gather_fail(g, st, "%s", bt_writer_errmsg(g->writer));
			break;
		}
		rows++;
	}
	if (st == BT_EOF)
		st = rows ? BT_OK : gather_fail(g, BT_EEMPTY, "%s: no data rows "
						"after the header", path);
	if (st != BT_OK && g->errmsg[0] == '\0')
		snprintf(g->errmsg, sizeof g->errmsg, "%s",
			 r != NULL && st != BT_ENOMEM ? bt_reader_errmsg(r)
						      : bt_strerror(st));
	bt_copy_free(c);
	bt_reader_free(r);
	return st;
}

const char *
bt_copy_gather_errmsg(const struct bt_copy_gather *g)
{
	return g->errmsg;
}
