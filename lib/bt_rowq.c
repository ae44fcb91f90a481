/* bt_rowq.c - a queue of held rows (bt_rowq.h). */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "bt_num.h"
#include "bt_rowq.h"
#include "bt_schema.h"

struct bt_rowq {
	size_t nfields;
	char *text;		/* the fields of rows [head, nrows), back to back */
	size_t tlen, tcap;
	size_t *off;		/* off[row * (nfields + 1) + k]: start of field k */
	size_t nrows, rcap, head;
};

enum bt_status
bt_rowq_alloc(struct bt_rowq **qp, size_t nfields)
{
	struct bt_rowq *q = calloc(1, sizeof *q);

	*qp = q;
	if (q == NULL)
		return BT_ENOMEM;
	q->nfields = nfields;
	return BT_OK;
}

void
bt_rowq_free(struct bt_rowq *q)
{
	if (q == NULL)
		return;
	free(q->text);
	free(q->off);
	free(q);
}

size_t
bt_rowq_count(const struct bt_rowq *q)
{
	return q->nrows - q->head;
}

/* Move the rows still held to the front when the dropped ones are the
 * larger part, so that the buffers do not grow with the stream. */
static void
compact(struct bt_rowq *q)
{
	size_t w = q->nfields + 1, start, i;

	if (q->head == 0 || q->head < q->nrows - q->head)
		return;
	start = q->off[q->head * w];
	memmove(q->text, q->text + start, q->tlen - start);
	q->tlen -= start;
	memmove(q->off, q->off + q->head * w, (q->nrows - q->head) * w * sizeof *q->off);
	q->nrows -= q->head;
	q->head = 0;
	for (i = 0; i < q->nrows * w; i++)
		q->off[i] -= start;
}

static int
append(struct bt_rowq *q, const char *s, size_t len)
{
	if (q->tlen + len > q->tcap) {
		size_t cap = q->tcap ? q->tcap : 4096;
		char *p;

		while (cap < q->tlen + len)
			cap *= 2;
		if ((p = realloc(q->text, cap)) == NULL)
			return 0;
		q->text = p;
		q->tcap = cap;
	}
	memcpy(q->text + q->tlen, s, len);
	q->tlen += len;
	return 1;
}

enum bt_status
bt_rowq_push(struct bt_rowq *q, struct bt_reader *r, int precision)
{
	const struct bt_schema *schema = bt_reader_schema(r);
	size_t w = q->nfields + 1, k, len, *row;
	char num[BT_NUM_BUFSIZE];
	const char *s;
	enum bt_status st;
	double x;

	compact(q);
	if (q->nrows == q->rcap) {
		size_t cap = q->rcap ? 2 * q->rcap : 256;
		size_t *p = realloc(q->off, cap * w * sizeof *p);

		if (p == NULL)
			return BT_ENOMEM;
		q->off = p;
		q->rcap = cap;
	}
	row = q->off + q->nrows * w;
	for (k = 0; k < q->nfields; k++) {
		row[k] = q->tlen;
		s = bt_reader_text(r, k, &len);
		if (len > 0 && schema->cols[k].conv != BT_CONV_TEXT
		    && !bt_reader_verbatim(r, k)) {
			if ((st = bt_reader_number(r, k, &x)) != BT_OK)
				return st;
			len = bt_num_format(x, precision, num);
			s = num;
		}
		if (!append(q, s, len))
			return BT_ENOMEM;
	}
	row[q->nfields] = q->tlen;
	q->nrows++;
	return BT_OK;
}

const char *
bt_rowq_field(const struct bt_rowq *q, size_t field, size_t *len)
{
	const size_t *row = q->off + q->head * (q->nfields + 1);

	*len = row[field + 1] - row[field];
	return q->text + row[field];
}

void
bt_rowq_pop(struct bt_rowq *q)
{
	if (q->head < q->nrows)
		q->head++;
}
