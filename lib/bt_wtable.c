/* bt_wtable.c - whole columns in, coefficient tables out and back in
 * (bt_wtable.h). */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bt_num.h"
#include "bt_wtable.h"

/* First capacity of a growing array. */
#define INITIAL_CAP 1024

/* Make room for one more double in *V (N used, *CAP allocated). */
static int
grow(double **v, size_t n, size_t *cap)
{
	double *p;
	size_t c;

	if (n < *cap)
		return 1;
	c = *cap ? 2 * *cap : INITIAL_CAP;
	if ((p = realloc(*v, c * sizeof *p)) == NULL)
		return 0;
	*v = p;
	*cap = c;
	return 1;
}

enum bt_status
bt_wtable_find_columns(struct bt_reader *r, const char *list, size_t *cols,
		       size_t max, size_t *k)
{
	char name[BT_ERRMSG_SIZE];
	const char *p = list, *end;
	size_t len;
	enum bt_status st;

	for (*k = 0; *p != '\0'; p = *end ? end + 1 : end) {
		end = strchr(p, ',');
		end = end ? end : p + strlen(p);
		len = (size_t)(end - p);
		if (len == 0)
			continue;
		if (*k == max || len >= sizeof name)
			return BT_EINVAL;
		memcpy(name, p, len);
		name[len] = '\0';
		if ((st = bt_reader_require(r, name, &cols[(*k)++])) != BT_OK)
			return st;
	}
	return *k > 0 ? BT_OK : BT_EINVAL;
}

enum bt_status
bt_wtable_read_columns(struct bt_reader *r, const size_t *cols, size_t k,
		       double **out, size_t *n)
{
	size_t cap = 0, i, j, c;
	enum bt_status st;

	for (j = 0; j < k; j++)
		out[j] = NULL;
	*n = 0;
	while ((st = bt_reader_next(r)) == BT_OK) {
		for (j = 0; j < k; j++) {
			c = cap;
			if (!grow(&out[j], *n, &c)) {
				st = BT_ENOMEM;
				goto fail;
			}
		}
		if (*n == cap)
			cap = cap ? 2 * cap : INITIAL_CAP;
		for (j = 0; j < k; j++)
			if ((st = bt_reader_finite(r, cols[j], &out[j][*n])) != BT_OK)
				goto fail;
		(*n)++;
	}
	if (st != BT_EOF)
		goto fail;
	if (*n == 0) {
		st = BT_EEMPTY;
		goto fail;
	}
	return BT_OK;
fail:
	for (i = 0; i < k; i++) {
		free(out[i]);
		out[i] = NULL;
	}
	return st;
}

void
bt_wtable_free(struct bt_wtable *t)
{
	size_t i, j;

	if (t == NULL)
		return;
	for (i = 0; i < t->ncols; i++) {
		for (j = 0; j < t->cols[i].nbands; j++)
			free(t->cols[i].bands[j].v);
		free(t->cols[i].bands);
		free(t->cols[i].name);
	}
	free(t->cols);
	free(t);
}

const struct bt_wtable_band *
bt_wtable_band(const struct bt_wtable_col *c, unsigned level, char band)
{
	size_t i;

	for (i = 0; i < c->nbands; i++)
		if (c->bands[i].level == level && c->bands[i].band == band)
			return &c->bands[i];
	return NULL;
}

/* The column called NAME (LEN bytes) of T, added when new; NULL when out
 * of memory. */
static struct bt_wtable_col *
column(struct bt_wtable *t, const char *name, size_t len)
{
	struct bt_wtable_col *c;
	size_t i;

	for (i = 0; i < t->ncols; i++)
		if (strlen(t->cols[i].name) == len
		    && memcmp(t->cols[i].name, name, len) == 0)
			return &t->cols[i];
	if (t->ncols == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 4;

		if ((c = realloc(t->cols, cap * sizeof *c)) == NULL)
			return NULL;
		t->cols = c;
		t->cap = cap;
	}
	c = &t->cols[t->ncols];
	memset(c, 0, sizeof *c);
	if ((c->name = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(c->name, name, len);
	c->name[len] = '\0';
	t->ncols++;
	return c;
}

/* The band of C at LEVEL called BAND, added when new; NULL when out of
 * memory. */
static struct bt_wtable_band *
band_of(struct bt_wtable_col *c, unsigned level, char band)
{
	struct bt_wtable_band *b = (struct bt_wtable_band *)bt_wtable_band(c, level, band);

	if (b != NULL)
		return b;
	if (c->nbands == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 8;

		if ((b = realloc(c->bands, cap * sizeof *b)) == NULL)
			return NULL;
		c->bands = b;
		c->cap = cap;
	}
	b = &c->bands[c->nbands++];
	memset(b, 0, sizeof *b);
	b->level = level;
	b->band = band;
	return b;
}

/* Parse a non-negative integer field (the whole field, at most LIMIT). */
static int
whole_number(struct bt_reader *r, size_t col, double limit, size_t *out)
{
	size_t len;
	const char *s = bt_reader_text(r, col, &len);
	double x;

	if (bt_num_parse(s, len, '.', &x) != BT_OK || x < 0 || x > limit
	    || x != (double)(size_t)x)
		return 0;
	*out = (size_t)x;
	return 1;
}

enum bt_status
bt_wtable_read(struct bt_reader *r, struct bt_wtable **tp)
{
	static const char *const names[] = {"column", "level", "band", "index", "value"};
	size_t col[5], k, len, level, index, rows = 0;
	struct bt_wtable *t;
	struct bt_wtable_col *c;
	struct bt_wtable_band *b;
	const char *s, *bs;
	enum bt_status st;
	double value;

	*tp = NULL;
	for (k = 0; k < 5; k++)
		if ((st = bt_reader_require(r, names[k], &col[k])) != BT_OK)
			return st;
	if ((t = calloc(1, sizeof *t)) == NULL)
		return BT_ENOMEM;
	while ((st = bt_reader_next(r)) == BT_OK) {
		rows++;
		s = bt_reader_text(r, col[0], &len);
		bs = bt_reader_text(r, col[2], &k);
		if (!whole_number(r, col[1], 1e6, &level)) {
			s = bt_reader_text(r, col[1], &len);
			st = bt_reader_fail(r, BT_EPARSE, "invalid level '%.*s'",
					    (int)len, s);
			goto fail;
		}
		if (k != 1 || (bs[0] != 'a' && bs[0] != 'd' && bs[0] != 'n')
		    || (bs[0] == 'n') != (level == 0)) {
			st = bt_reader_fail(r, BT_EPARSE, "invalid band '%.*s' at level %zu "
					    "(use a or d at levels 1 and up, n at level 0)",
					    (int)k, bs, level);
			goto fail;
		}
		if ((c = column(t, s, len)) == NULL) {
			st = BT_ENOMEM;
			goto fail;
		}
		if (bs[0] == 'n') {
			if (!whole_number(r, col[4], 1e15, &c->length)) {
				s = bt_reader_text(r, col[4], &len);
				st = bt_reader_fail(r, BT_EPARSE, "invalid signal length '%.*s'",
						    (int)len, s);
				goto fail;
			}
			continue;
		}
		if ((b = band_of(c, (unsigned)level, bs[0])) == NULL) {
			st = BT_ENOMEM;
			goto fail;
		}
		if (!whole_number(r, col[3], 1e15, &index) || index != b->n) {
			s = bt_reader_text(r, col[3], &len);
			st = bt_reader_fail(r, BT_EPARSE, "index '%.*s' out of order: "
					    "expected %zu in band %c of level %zu of '%s'",
					    (int)len, s, b->n, bs[0], level, c->name);
			goto fail;
		}
		if ((st = bt_reader_finite(r, col[4], &value)) != BT_OK)
			goto fail;
		if (!grow(&b->v, b->n, &b->cap)) {
			st = BT_ENOMEM;
			goto fail;
		}
		b->v[b->n++] = value;
	}
	if (st != BT_EOF)
		goto fail;
	if (rows == 0) {
		st = BT_EEMPTY;
		goto fail;
	}
	*tp = t;
	return BT_OK;
fail:
	bt_wtable_free(t);
	return st;
}

enum bt_status
bt_wtable_write_header(struct bt_writer *w)
{
	bt_writer_raw(w, "column", 6);
	bt_writer_raw(w, "level", 5);
	bt_writer_raw(w, "band", 4);
	bt_writer_raw(w, "index", 5);
	bt_writer_raw(w, "value", 5);
	return bt_writer_end_row(w);
}

enum bt_status
bt_wtable_write_band(struct bt_writer *w, const char *name, unsigned level,
		     char band, const double *v, size_t n)
{
	size_t i, len = strlen(name);
	enum bt_status st;
	char b[2] = {band, '\0'}, lv[24], ix[24];
	int nl = snprintf(lv, sizeof lv, "%u", level), ni;

	/* Levels and indices are written as integers whatever -p says. */
	for (i = 0; i < n; i++) {
		ni = snprintf(ix, sizeof ix, "%zu", i);
		bt_writer_text(w, name, len);
		bt_writer_raw(w, lv, (size_t)nl);
		bt_writer_raw(w, b, 1);
		bt_writer_raw(w, ix, (size_t)ni);
		bt_writer_number(w, v[i]);
		if ((st = bt_writer_end_row(w)) != BT_OK)
			return st;
	}
	return BT_OK;
}

enum bt_status
bt_wtable_forward(struct bt_writer *w, const char *name,
		  const struct bt_wavelet *wl, enum bt_wavelet_mode mode,
		  enum bt_wtable_kind kind, unsigned level, const double *x, size_t n)
{
	size_t f = bt_wavelet_filter_length(wl), lens[BT_WAVELET_MAX_LEVEL + 1], off;
	double *c, *work, nval = (double)n;
	enum bt_status st;
	unsigned b;

	if (kind == BT_WTABLE_DWT)
		level = 1;
	if ((kind != BT_WTABLE_DWT && kind != BT_WTABLE_WAVEDEC && kind != BT_WTABLE_SWT)
	    || level < 1 || level > BT_WAVELET_MAX_LEVEL)
		return BT_EINVAL;
	c = malloc((level + 2) * (n + f) * sizeof *c);
	work = malloc(bt_wavelet_work_size(n, f) * sizeof *work);
	if (c == NULL || work == NULL) {
		st = BT_ENOMEM;
		goto done;
	}
	if (kind == BT_WTABLE_DWT) {
		lens[0] = lens[1] = bt_wavelet_dwt_length(n, f, mode);
		st = bt_wavelet_dwt(wl, mode, x, n, c, c + lens[0]);
	} else if (kind == BT_WTABLE_WAVEDEC) {
		bt_wavelet_wavedec_lengths(n, f, mode, level, lens);
		st = bt_wavelet_wavedec(wl, mode, x, n, level, c, work);
	} else {
		for (b = 0; b <= level; b++)
			lens[b] = n;
		st = bt_wavelet_swt(wl, x, n, level, c, work);
	}
	if (st != BT_OK)
		goto done;
	if ((st = bt_wtable_write_band(w, name, 0, 'n', &nval, 1)) != BT_OK)
		goto done;
	for (off = 0, b = 0; b <= level && st == BT_OK; off += lens[b], b++)
		st = bt_wtable_write_band(w, name, b ? level + 1 - b : level,
					  b ? 'd' : 'a', c + off, lens[b]);
done:
	free(c);
	free(work);
	return st;
}

enum bt_status
bt_wtable_inverse(const struct bt_wtable_col *col, const struct bt_wavelet *wl,
		  enum bt_wavelet_mode mode, enum bt_wtable_kind kind, double **y,
		  size_t *n, char errmsg[BT_ERRMSG_SIZE])
{
	const struct bt_wtable_band *ba = NULL, *bd;
	size_t lens[BT_WAVELET_MAX_LEVEL + 1], off, nout = 0, i, total = 0, big = 0;
	unsigned level = 0, last, k, b;
	double *c = NULL, *work = NULL;
	enum bt_status st = BT_EFORMAT;

	*y = NULL;
	for (i = 0; i < col->nbands; i++) {
		if (col->bands[i].band == 'a' && col->bands[i].level >= level) {
			level = col->bands[i].level;
			ba = &col->bands[i];
		}
		total += col->bands[i].n;
		big = col->bands[i].n > big ? col->bands[i].n : big;
	}
	if (ba == NULL || level > BT_WAVELET_MAX_LEVEL) {
		snprintf(errmsg, BT_ERRMSG_SIZE, "column '%s': no approximation band",
			 col->name);
		return BT_EFORMAT;
	}
	big += bt_wavelet_filter_length(wl);
	c = malloc(total * sizeof *c);
	work = malloc(4 * big * sizeof *work);
	*y = malloc(2 * big * sizeof **y);
	if (c == NULL || work == NULL || *y == NULL) {
		st = BT_ENOMEM;
		goto fail;
	}
	memcpy(c, ba->v, ba->n * sizeof *c);
	lens[0] = ba->n;
	/* idwt inverts the deepest level only; waverec and iswt all. */
	last = kind == BT_WTABLE_IDWT ? level : 1;
	for (off = ba->n, k = level, b = 1; k >= last; k--, b++) {
		if ((bd = bt_wtable_band(col, k, 'd')) == NULL) {
			snprintf(errmsg, BT_ERRMSG_SIZE, "column '%s': no band d at level %u",
				 col->name, k);
			goto fail;
		}
		memcpy(c + off, bd->v, bd->n * sizeof *c);
		lens[b] = bd->n;
		off += bd->n;
	}
	if (kind == BT_WTABLE_ISWT) {
		for (k = 1; k <= level; k++)
			if (lens[k] != lens[0]) {
				snprintf(errmsg, BT_ERRMSG_SIZE, "column '%s': swt bands "
					 "differ in length", col->name);
				goto fail;
			}
		if (bt_wavelet_iswt(wl, c, lens[0], level, *y, work) != BT_OK) {
			snprintf(errmsg, BT_ERRMSG_SIZE, "column '%s': %zu samples cannot "
				 "take %u levels", col->name, lens[0], level);
			goto fail;
		}
		nout = lens[0];
	} else if (bt_wavelet_waverec(wl, mode, c, lens, level + 1 - last, *y, &nout,
				      work) != BT_OK) {
		snprintf(errmsg, BT_ERRMSG_SIZE, "column '%s': the bands do not fit "
			 "together for %s (%zu taps)", col->name, bt_wavelet_name(wl),
			 bt_wavelet_filter_length(wl));
		goto fail;
	}
	free(c);
	free(work);
	*n = col->length > 0 && col->length <= nout ? col->length : nout;
	return BT_OK;
fail:
	free(c);
	free(work);
	free(*y);
	*y = NULL;
	return st;
}
