/* bt_gather.c - several streams into one (see bt_gather.h). */
#include <config.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bt_gather.h"

struct bt_gather {
	struct bt_writer *writer;
	struct bt_reader_opts opts;
	int precision;
	char *column;
	char *first;		/* the first stream's path */
	char **names;		/* and its column names */
	size_t ncols;
	char errmsg[BT_ERRMSG_SIZE];
};

enum bt_status
bt_gather_alloc(struct bt_gather **gather, struct bt_writer *w,
		     const struct bt_reader_opts *opts, int precision,
		     const char *column)
{
	struct bt_gather *g = calloc(1, sizeof *g);

	*gather = g;
	if (g == NULL)
		return BT_ENOMEM;
	g->writer = w;
	if (opts != NULL)
		g->opts = *opts;
	g->precision = precision;
	g->column = strdup(column);
	return g->column ? BT_OK : BT_ENOMEM;
}

void
bt_gather_free(struct bt_gather *g)
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

/* Check every mapped number of the reader's current row. */
static enum bt_status
check_row(struct bt_reader *r)
{
	const struct bt_schema *schema = bt_reader_schema(r);
	enum bt_status st;
	size_t i;

	for (i = 0; i < schema->ncols; i++)
		if (schema->cols[i].conv != BT_CONV_TEXT
		    && (st = bt_reader_check(r, i, 0)) != BT_OK)
			return st;
	return BT_OK;
}

__attribute__((format(printf, 3, 4))) static enum bt_status
gather_fail(struct bt_gather *g, enum bt_status st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(g->errmsg, sizeof g->errmsg, fmt, ap);
	va_end(ap);
	return st;
}

/* Keep the first stream's header, or check another's against it. */
static enum bt_status
gather_header(struct bt_gather *g, struct bt_reader *r)
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
		if (bt_reader_copy_header(r, g->writer, NULL, g->precision > 0)
		    != BT_OK)
			return BT_ENOMEM;
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
bt_gather_file(struct bt_gather *g, const char *path,
		    const char *name)
{
	struct bt_reader *r;
	unsigned long rows = 0;
	size_t len = strlen(name);
	enum bt_status st;
	int first;

	g->errmsg[0] = '\0';
	first = g->first == NULL;
	st = bt_reader_open(&r, path, &g->opts);
	if (st == BT_OK)
		st = gather_header(g, r);
	/* The first stream planned its copy with its header; the others
	 * plan theirs alike. */
	if (st == BT_OK && !first)
		st = bt_reader_copy_plan(r, g->writer, g->precision > 0);
	while (st == BT_OK && (st = bt_reader_next(r)) == BT_OK) {
		if ((st = check_row(r)) != BT_OK)
			break;
		bt_writer_text(g->writer, name, len);
		bt_reader_copy_row(r, g->writer);
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
	bt_reader_free(r);
	return st;
}

const char *
bt_gather_errmsg(const struct bt_gather *g)
{
	return g->errmsg;
}
