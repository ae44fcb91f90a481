/* bt_copy.c - the checked pass-through of a stream (see bt_copy.h). */
#include <config.h>

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
