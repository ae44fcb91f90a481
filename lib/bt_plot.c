/* bt_plot.c - the decimator, the plot's columns and series, and the gnuplot
 * script and child process behind bt-plot.  See bt_plot.h. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bt_num.h"
#include "bt_plot.h"

extern char **environ;

/* ---- the decimator --------------------------------------------------- */

/* Doublings of the bucket width allowed for one point: 2^2100 covers any
 * ratio of finite doubles (and the smallest width, DBL_MIN). */
#define MAX_DOUBLINGS 2100

struct pt {
	double x, y[2];
};

struct end {			/* the first or last point of a bucket */
	unsigned long long seq;
	struct pt p;
};

struct ext {			/* the lowest or highest value of a bucket */
	unsigned long long seq;
	double x, v;
};

struct bucket {
	unsigned long long n;
	struct end first, last;
	struct ext lo, hi;	/* min of y[0], max of y[nv - 1] */
};

struct bt_plot_decim {
	size_t nb, nv;
	struct pt *raw;		/* the points themselves, while they fit */
	size_t nraw, rawcap;
	struct bucket *b;	/* the buckets, once they did not */
	double lo, h;		/* bucket k covers [lo + k h, lo + (k + 1) h) */
	unsigned long long seq;
	struct pt *out;
	size_t nout;
};

enum bt_status
bt_plot_decim_alloc(struct bt_plot_decim **decim, size_t nbuckets,
		    size_t nvalues)
{
	struct bt_plot_decim *d;

	*decim = NULL;
	if (nbuckets < 2 || nbuckets % 2 != 0 || nvalues < 1 || nvalues > 2)
		return BT_EINVAL;
	if ((d = calloc(1, sizeof *d)) == NULL)
		return BT_ENOMEM;
	d->nb = nbuckets;
	d->nv = nvalues;
	*decim = d;
	return BT_OK;
}

void
bt_plot_decim_free(struct bt_plot_decim *d)
{
	if (d == NULL)
		return;
	free(d->raw);
	free(d->b);
	if (d->out != d->raw)
		free(d->out);
	free(d);
}

static void
bucket_put(const struct bt_plot_decim *d, struct bucket *b,
	   unsigned long long seq, const struct pt *p)
{
	double vlo = p->y[0], vhi = p->y[d->nv - 1];

	if (b->n == 0) {
		b->first.seq = seq;
		b->first.p = *p;
		b->lo = (struct ext){seq, p->x, vlo};
		b->hi = (struct ext){seq, p->x, vhi};
	} else {
		if (vlo < b->lo.v)
			b->lo = (struct ext){seq, p->x, vlo};
		if (vhi > b->hi.v)
			b->hi = (struct ext){seq, p->x, vhi};
	}
	b->last.seq = seq;
	b->last.p = *p;
	b->n++;
}

/* Merge bucket B into A (both hold points; A may be empty). */
static void
bucket_merge(struct bucket *a, const struct bucket *b)
{
	if (b->n == 0)
		return;
	if (a->n == 0) {
		*a = *b;
		return;
	}
	if (b->first.seq < a->first.seq)
		a->first = b->first;
	if (b->last.seq > a->last.seq)
		a->last = b->last;
	if (b->lo.v < a->lo.v || (b->lo.v == a->lo.v && b->lo.seq < a->lo.seq))
		a->lo = b->lo;
	if (b->hi.v > a->hi.v || (b->hi.v == a->hi.v && b->hi.seq < a->hi.seq))
		a->hi = b->hi;
	a->n += b->n;
}

/* Double the bucket width: keep LO and merge pairs when the new point lies
 * to the right, or move LO one whole span to the left when it lies there,
 * so that the old buckets become the upper half. */
static void
double_width(struct bt_plot_decim *d, int left)
{
	size_t nb = d->nb, half = nb / 2, j;
	struct bucket m;

	if (!left) {
		for (j = 0; j < half; j++) {
			m = d->b[2 * j];
			bucket_merge(&m, &d->b[2 * j + 1]);
			d->b[j] = m;
		}
		memset(d->b + half, 0, half * sizeof *d->b);
	} else {
		/* New bucket j holds old ones 2j - nb and 2j - nb + 1; going
		 * down, every old bucket is read before it is written. */
		for (j = nb - 1; j >= half; j--) {
			m = d->b[2 * j - nb];
			bucket_merge(&m, &d->b[2 * j - nb + 1]);
			d->b[j] = m;
		}
		memset(d->b, 0, half * sizeof *d->b);
		d->lo -= (double)nb * d->h;
	}
	d->h *= 2;
}

static enum bt_status
bucket_add(struct bt_plot_decim *d, unsigned long long seq, const struct pt *p)
{
	size_t half = d->nb / 2, k;
	double u;
	int n;

	if (d->h == 0) {
		/* Every point so far had the same x: they are all in bucket 0.
		 * The first other x sets the width. */
		if (p->x == d->lo) {
			bucket_put(d, &d->b[0], seq, p);
			return BT_OK;
		}
		d->h = fmax(fabs(p->x - d->lo) / (double)half, DBL_MIN);
		if (p->x < d->lo) {
			d->b[half] = d->b[0];
			memset(&d->b[0], 0, sizeof d->b[0]);
			d->lo -= (double)half * d->h;
		}
	}
	for (n = 0;; n++) {
		u = (p->x - d->lo) / d->h;
		if (u >= 0 && u < (double)d->nb)
			break;
		if (n == MAX_DOUBLINGS || !isfinite(2 * d->h)
		    || (u < 0 && !isfinite(d->lo - (double)d->nb * d->h)))
			return BT_ERANGE;
		double_width(d, u < 0);
	}
	k = (size_t)u;
	if (k >= d->nb)
		k = d->nb - 1;
	bucket_put(d, &d->b[k], seq, p);
	return BT_OK;
}

/* The raw points no longer fit: spread them over buckets that the range
 * seen so far fills half of. */
static enum bt_status
to_buckets(struct bt_plot_decim *d)
{
	double xmin = INFINITY, xmax = -INFINITY;
	enum bt_status st;
	size_t i;

	if ((d->b = calloc(d->nb, sizeof *d->b)) == NULL)
		return BT_ENOMEM;
	for (i = 0; i < d->nraw; i++) {
		xmin = fmin(xmin, d->raw[i].x);
		xmax = fmax(xmax, d->raw[i].x);
	}
	d->lo = xmin;
	d->h = (xmax - xmin) / (double)(d->nb / 2);
	if (!isfinite(d->h))
		return BT_ERANGE;
	for (i = 0; i < d->nraw; i++)
		if ((st = bucket_add(d, i, &d->raw[i])) != BT_OK)
			return st;
	free(d->raw);
	d->raw = NULL;
	d->nraw = d->rawcap = 0;
	return BT_OK;
}

enum bt_status
bt_plot_decim_add(struct bt_plot_decim *d, double x, const double *y)
{
	struct pt p;
	struct pt *grown;
	size_t cap, k;
	enum bt_status st;

	if (!isfinite(x))
		return BT_OK;
	p.x = x;
	p.y[1] = 0;
	for (k = 0; k < d->nv; k++) {
		if (!isfinite(y[k]))
			return BT_OK;
		p.y[k] = y[k];
	}
	if (d->b == NULL && d->nraw == d->nb && (st = to_buckets(d)) != BT_OK)
		return st;
	if (d->b != NULL)
		return bucket_add(d, d->seq++, &p);
	if (d->nraw == d->rawcap) {
		cap = d->rawcap ? 2 * d->rawcap : 64;
		if (cap > d->nb)
			cap = d->nb;
		if ((grown = realloc(d->raw, cap * sizeof *grown)) == NULL)
			return BT_ENOMEM;
		d->raw = grown;
		d->rawcap = cap;
	}
	d->raw[d->nraw++] = p;
	d->seq++;
	return BT_OK;
}

static int
row_before(const struct pt *a, unsigned long long sa, const struct pt *b,
	   unsigned long long sb)
{
	return a->x < b->x || (a->x == b->x && sa < sb);
}

static int
same(const struct bt_plot_decim *d, const struct pt *a, const struct pt *b)
{
	return a->x == b->x && a->y[0] == b->y[0]
		&& (d->nv == 1 || a->y[1] == b->y[1]);
}

enum bt_status
bt_plot_decim_finish(struct bt_plot_decim *d)
{
	struct pt row[4];
	unsigned long long seq[4], ts;
	struct pt tp;
	const struct bucket *b;
	size_t i, j, n, k;

	if (d->out != NULL && d->out != d->raw)
		free(d->out);
	d->out = NULL;
	d->nout = 0;
	if (d->b == NULL) {
		d->out = d->raw;
		d->nout = d->nraw;
		return BT_OK;
	}
	if ((d->out = malloc(4 * d->nb * sizeof *d->out)) == NULL)
		return BT_ENOMEM;
	for (i = 0; i < d->nb; i++) {
		b = &d->b[i];
		if (b->n == 0)
			continue;
		n = 0;
		row[n] = b->first.p;
		seq[n++] = b->first.seq;
		row[n].x = b->lo.x;
		row[n].y[0] = b->lo.v;
		row[n].y[1] = b->hi.v;
		seq[n++] = b->lo.seq;
		row[n].x = b->hi.x;
		row[n].y[0] = d->nv == 1 ? b->hi.v : b->lo.v;
		row[n].y[1] = b->hi.v;
		seq[n++] = b->hi.seq;
		row[n] = b->last.p;
		seq[n++] = b->last.seq;
		for (j = 1; j < n; j++)	/* insertion sort by x, then order */
			for (k = j; k > 0 && row_before(&row[k], seq[k],
							&row[k - 1], seq[k - 1]); k--) {
				tp = row[k], row[k] = row[k - 1], row[k - 1] = tp;
				ts = seq[k], seq[k] = seq[k - 1], seq[k - 1] = ts;
			}
		for (j = 0; j < n; j++) {
			if (j > 0 && same(d, &row[j], &d->out[d->nout - 1]))
				continue;
			d->out[d->nout++] = row[j];
		}
	}
	return BT_OK;
}

size_t
bt_plot_decim_npoints(const struct bt_plot_decim *d)
{
	return d->nout;
}

void
bt_plot_decim_point(const struct bt_plot_decim *d, size_t i, double *x,
		    double *y)
{
	size_t k;

	*x = d->out[i].x;
	for (k = 0; k < d->nv; k++)
		y[k] = d->out[i].y[k];
}

int
bt_plot_decim_whole(const struct bt_plot_decim *d)
{
	return d->b == NULL;
}

unsigned long long
bt_plot_decim_count(const struct bt_plot_decim *d)
{
	return d->seq;
}

/* ---- labels ----------------------------------------------------------- */

/* Unit suffixes of canonical column names, longest first. */
static const struct {
	const char *suffix, *unit;
} units[] = {
	{"_ah_per_v", "Ah/V"}, {"_v_per_ah", "V/Ah"}, {"_mohm", "mOhm"},
	{"_ohm", "Ohm"}, {"_mah", "mAh"}, {"_ah", "Ah"}, {"_wh", "Wh"},
	{"_mv", "mV"}, {"_ma", "mA"}, {"_hz", "Hz"}, {"_pct", "%"},
	{"_v", "V"}, {"_a", "A"}, {"_c", "\xc2\xb0" "C"}, {"_k", "K"},
	{"_s", "s"}, {"_h", "h"}, {"_w", "W"}
};

/* Quantities spelled differently from their column name. */
static const struct {
	const char *name, *text;
} words[] = {
	{"dqdv", "dQ/dV"}, {"dvdq", "dV/dQ"}, {"soc", "SoC"}, {"soh", "SoH"},
	{"ocv", "OCV"}, {"r0", "R0"}
};

void
bt_plot_label(const char *name, char *buf, size_t size, double *scale)
{
	size_t n = strlen(name), i, ls, base = n, o = 0, w;
	const char *unit = NULL, *word;
	int percent = 0;

	if (size == 0)
		return;
	for (i = 0; i < sizeof units / sizeof units[0]; i++) {
		ls = strlen(units[i].suffix);
		if (n > ls && strcmp(name + n - ls, units[i].suffix) == 0) {
			unit = units[i].unit;
			base = n - ls;
			break;
		}
	}
	/* soc and soh are fractions (battools(7)): drawn in percent. */
	if (unit == NULL && (strncmp(name, "soc", 3) == 0 || strncmp(name, "soh", 3) == 0)
	    && (name[3] == '\0' || name[3] == '_')) {
		unit = "%";
		percent = 1;
	}
	if (scale != NULL)
		*scale = percent ? 100 : 1;
	for (i = 0; i < base && o + 1 < size;) {
		w = strcspn(name + i, "_");
		if (w > base - i)
			w = base - i;
		word = NULL;
		for (ls = 0; ls < sizeof words / sizeof words[0]; ls++)
			if (strlen(words[ls].name) == w
			    && strncmp(name + i, words[ls].name, w) == 0)
				word = words[ls].text;
		if (o > 0 && o + 1 < size)
			buf[o++] = ' ';
		if (word != NULL)
			o += (size_t)snprintf(buf + o, size - o, "%s", word);
		else
			o += (size_t)snprintf(buf + o, size - o, "%.*s", (int)w, name + i);
		if (o >= size)
			o = size - 1;
		i += w + 1;
	}
	buf[o] = '\0';
	if (unit != NULL && o + 1 < size)
		snprintf(buf + o, size - o, " (%s)", unit);
}

/* ---- the plot --------------------------------------------------------- */

enum style { STYLE_LINE, STYLE_BAND, STYLE_RAW };

struct layer {
	int source;		/* 0 the main input, 1 the second stream */
	enum style style;
	int panel;		/* 0 the (upper) plot, 1 the residual below */
	int residual;		/* y = col[1] - col[0] */
	size_t col[2];
	double scale;		/* display factor (percent, millivolts) */
	char title[160];
};

struct group {
	char *key;		/* the --by values, space-separated */
	double value;		/* the first --by value as a number, or NaN */
	struct bt_plot_decim *dec[BT_PLOT_MAX_LAYERS];
};

struct source {
	int used;
	size_t xcol;
	size_t by[2], nby;
	struct group *groups;
	size_t ngroups, cap, last;
	const char *byname;
};

struct bt_plot {
	struct bt_plot_opts o;
	struct layer layers[BT_PLOT_MAX_LAYERS];
	size_t nlayers, nseries;
	struct source src[2];
	char xlabel[160], ylabel[2][160];
	char byname[160];
};

void
bt_plot_opts_init(struct bt_plot_opts *o)
{
	memset(o, 0, sizeof *o);
	o->width = BT_PLOT_DEFAULT_WIDTH;
	o->height = BT_PLOT_DEFAULT_HEIGHT;
}

static const char *const preset_names[] = {
	"none", "soc", "fit", "fade", "ica", "denoise"
};

int
bt_plot_preset_parse(const char *name)
{
	int i;

	for (i = 1; i < (int)(sizeof preset_names / sizeof preset_names[0]); i++)
		if (strcmp(name, preset_names[i]) == 0)
			return i;
	return -1;
}

int
bt_plot_preset_with(enum bt_plot_preset preset)
{
	return preset == BT_PLOT_PRESET_DENOISE ? 2
		: preset == BT_PLOT_PRESET_FADE ? 1 : 0;
}

static int
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

int
bt_plot_format_of(const char *path)
{
	if (ends_with(path, ".svg"))
		return BT_PLOT_SVG;
	if (ends_with(path, ".png"))
		return BT_PLOT_PNG;
	if (ends_with(path, ".pdf"))
		return BT_PLOT_PDF;
	if (ends_with(path, ".csv") || ends_with(path, ".csv.gz"))
		return BT_PLOT_CSV;
	return -1;
}

enum bt_status
bt_plot_alloc(struct bt_plot **plot, const struct bt_plot_opts *opts)
{
	struct bt_plot *p;

	*plot = NULL;
	if (opts->width < 16 || opts->height < 16)
		return BT_EINVAL;
	if ((p = calloc(1, sizeof *p)) == NULL)
		return BT_ENOMEM;
	p->o = *opts;
	*plot = p;
	return BT_OK;
}

void
bt_plot_free(struct bt_plot *p)
{
	size_t s, g, l;

	if (p == NULL)
		return;
	for (s = 0; s < 2; s++) {
		for (g = 0; g < p->src[s].ngroups; g++) {
			for (l = 0; l < p->nlayers; l++)
				bt_plot_decim_free(p->src[s].groups[g].dec[l]);
			free(p->src[s].groups[g].key);
		}
		free(p->src[s].groups);
	}
	free(p);
}

/* Split the comma-separated LIST into at most MAX names in BUF (SIZE
 * bytes); returns the count, or 0 when LIST does not fit or has an empty
 * name. */
static size_t
split(const char *list, char *buf, size_t size, const char **names, size_t max)
{
	size_t n = 0;
	char *s, *comma;

	if (snprintf(buf, size, "%s", list) >= (int)size)
		return 0;
	for (s = buf;; s = comma + 1) {
		comma = strchr(s, ',');
		if (comma != NULL)
			*comma = '\0';
		if (*s == '\0' || n == max)
			return 0;
		names[n++] = s;
		if (comma == NULL)
			return n;
	}
}

struct setup {
	struct bt_plot *p;
	struct bt_reader *r[2];
	struct bt_reader **failed;
};

static enum bt_status
require(struct setup *su, int source, const char *name, size_t *col)
{
	enum bt_status st = bt_reader_require(su->r[source], name, col);

	if (st != BT_OK)
		*su->failed = su->r[source];
	return st;
}

/* Add a layer drawing NAME0 (and NAME1: the upper edge of a band, the model
 * of a residual) from SOURCE. */
static enum bt_status
add_layer(struct setup *su, int source, enum style style, int panel,
	  const char *name0, const char *name1, const char *title)
{
	struct bt_plot *p = su->p;
	struct layer *l;
	enum bt_status st;
	char unused[8];

	if (p->nlayers == BT_PLOT_MAX_LAYERS)
		return BT_EINVAL;
	l = &p->layers[p->nlayers];
	memset(l, 0, sizeof *l);
	l->source = source;
	l->style = style;
	l->panel = panel;
	if ((st = require(su, source, name0, &l->col[0])) != BT_OK)
		return st;
	if (name1 != NULL && (st = require(su, source, name1, &l->col[1])) != BT_OK)
		return st;
	bt_plot_label(name0, unused, sizeof unused, &l->scale);
	snprintf(l->title, sizeof l->title, "%s", title != NULL ? title : name0);
	p->src[source].used = 1;
	p->nlayers++;
	return BT_OK;
}

static enum bt_status
add_band(struct setup *su, int source, const char *band)
{
	const char *names[2];
	char buf[512], title[160];

	if (split(band, buf, sizeof buf, names, 2) != 2)
		return BT_EINVAL;
	snprintf(title, sizeof title, "%s..%s", names[0], names[1]);
	return add_layer(su, source, STYLE_BAND, 0, names[0], names[1], title);
}

/* One line layer per column of the list Y (a title prefix PREFIX). */
static enum bt_status
add_lines(struct setup *su, int source, enum style style, const char *y,
	  const char *prefix)
{
	const char *names[BT_PLOT_MAX_LAYERS];
	char buf[1024], title[160];
	size_t n, i;
	enum bt_status st;

	if ((n = split(y, buf, sizeof buf, names, BT_PLOT_MAX_LAYERS)) == 0)
		return BT_EINVAL;
	for (i = 0; i < n; i++) {
		snprintf(title, sizeof title, "%s%s", prefix, names[i]);
		if ((st = add_layer(su, source, style, 0, names[i], NULL, title)) != BT_OK)
			return st;
	}
	return BT_OK;
}

static int
has(const struct setup *su, int source, const char *name)
{
	return su->r[source] != NULL && bt_reader_find(su->r[source], name) >= 0;
}

static enum bt_status
preset_layers(struct setup *su, const char **x, const char **by)
{
	const struct bt_plot_opts *o = &su->p->o;
	enum bt_status st = BT_OK;
	const char *y, *names[2], *ref;
	char buf[512];
	size_t n;

	switch (o->preset) {
	case BT_PLOT_PRESET_NONE:
		if (o->x == NULL || o->y == NULL)
			return BT_EINVAL;
		if (o->band != NULL && (st = add_band(su, 0, o->band)) != BT_OK)
			return st;
		return add_lines(su, 0, STYLE_LINE, o->y, "");
	case BT_PLOT_PRESET_SOC:
		*x = "time_s";
		if ((st = add_band(su, 0, o->band ? o->band : "soc_lo,soc_hi")) != BT_OK
		    || (st = add_lines(su, 0, STYLE_LINE, o->y ? o->y : "soc", "")) != BT_OK)
			return st;
		ref = o->reference ? o->reference : has(su, 0, "soc_true") ? "soc_true" : NULL;
		return ref ? add_layer(su, 0, STYLE_LINE, 0, ref, NULL, NULL) : BT_OK;
	case BT_PLOT_PRESET_FIT:
		*x = "time_s";
		if (o->y != NULL) {
			n = split(o->y, buf, sizeof buf, names, 2);
			if (n != 2)
				return BT_EINVAL;
		} else if (has(su, 0, "input_voltage_v") && !has(su, 0, "v_model_v")) {
			names[0] = "input_voltage_v";	/* bt-sim on a measured profile */
			names[1] = "voltage_v";
		} else {
			names[0] = "voltage_v";
			names[1] = "v_model_v";
		}
		if ((st = add_layer(su, 0, STYLE_LINE, 0, names[0], NULL, NULL)) != BT_OK
		    || (st = add_layer(su, 0, STYLE_LINE, 0, names[1], NULL, NULL)) != BT_OK
		    || (st = add_layer(su, 0, STYLE_LINE, 1, names[0], names[1],
				       "residual (model - measured)")) != BT_OK)
			return st;
		su->p->layers[su->p->nlayers - 1].residual = 1;
		su->p->layers[su->p->nlayers - 1].scale = 1000;	/* mV */
		snprintf(su->p->ylabel[0], sizeof su->p->ylabel[0], "voltage (V)");
		snprintf(su->p->ylabel[1], sizeof su->p->ylabel[1], "residual (mV)");
		return BT_OK;
	case BT_PLOT_PRESET_FADE:
		*x = "cycle";
		y = o->y ? o->y : has(su, 0, "capacity_ah") || !has(su, 0, "soh")
			? "capacity_ah" : "soh";
		if ((st = add_lines(su, 0, STYLE_LINE, y, "")) != BT_OK)
			return st;
		if (su->r[1] == NULL)
			return BT_OK;
		if ((st = add_band(su, 1, "forecast_lo,forecast_hi")) != BT_OK
		    || (st = add_layer(su, 1, STYLE_LINE, 0, "forecast", NULL, NULL)) != BT_OK)
			return st;
		/* The forecast is in the history's unit. */
		su->p->layers[su->p->nlayers - 2].scale = su->p->layers[0].scale;
		su->p->layers[su->p->nlayers - 1].scale = su->p->layers[0].scale;
		return BT_OK;
	case BT_PLOT_PRESET_ICA:
		*x = "voltage_v";
		*by = has(su, 0, "direction") ? "cycle,direction" : "cycle";
		return add_lines(su, 0, STYLE_LINE, o->y ? o->y : "dqdv_ah_per_v", "");
	case BT_PLOT_PRESET_DENOISE:
		*x = "time_s";
		if (su->r[1] == NULL)
			return BT_EINVAL;
		y = o->y ? o->y : "voltage_v";
		if ((st = add_lines(su, 0, STYLE_RAW, y, "raw ")) != BT_OK)
			return st;
		return add_lines(su, 1, STYLE_LINE, y, "denoised ");
	}
	return BT_EINVAL;
}

enum bt_status
bt_plot_columns(struct bt_plot *p, struct bt_reader *main,
		struct bt_reader *with, struct bt_reader **failed)
{
	struct setup su = {p, {main, with}, failed};
	const char *x = NULL, *by = NULL, *names[2];
	char buf[512];
	enum bt_status st;
	size_t s, i;

	*failed = NULL;
	if ((st = preset_layers(&su, &x, &by)) != BT_OK)
		return st;
	if (p->o.x != NULL)
		x = p->o.x;
	if (p->o.by != NULL)
		by = p->o.by;
	for (s = 0; s < 2; s++)
		if (p->src[s].used && (st = require(&su, (int)s, x, &p->src[s].xcol)) != BT_OK)
			return st;
	if (by != NULL) {
		p->src[0].nby = split(by, buf, sizeof buf, names, 2);
		if (p->src[0].nby == 0)
			return BT_EINVAL;
		for (i = 0; i < p->src[0].nby; i++)
			if ((st = require(&su, 0, names[i], &p->src[0].by[i])) != BT_OK)
				return st;
		snprintf(p->byname, sizeof p->byname, "%s", names[0]);
	}
	if (p->o.xlabel != NULL)
		snprintf(p->xlabel, sizeof p->xlabel, "%s", p->o.xlabel);
	else
		bt_plot_label(x, p->xlabel, sizeof p->xlabel, NULL);
	if (p->o.ylabel != NULL)
		snprintf(p->ylabel[0], sizeof p->ylabel[0], "%s", p->o.ylabel);
	else if (p->ylabel[0][0] == '\0')
		for (i = 0; i < p->nlayers; i++)
			if (p->layers[i].style != STYLE_BAND) {
				bt_plot_label(bt_reader_name(p->layers[i].source ? with : main,
							     p->layers[i].col[0]),
					      p->ylabel[0], sizeof p->ylabel[0], NULL);
				break;
			}
	return BT_OK;
}

/* The group of the current row of source S, created when new. */
static enum bt_status
group_of(struct bt_plot *p, int s, struct bt_reader *r, struct group **out)
{
	struct source *src = &p->src[s];
	struct group *g, *grown;
	char key[256];
	size_t i, len, o = 0, l, nlayers = 0;
	const char *t;
	enum bt_status st;

	for (i = 0; i < src->nby; i++) {
		t = bt_reader_text(r, src->by[i], &len);
		o += (size_t)snprintf(key + o, sizeof key - o, "%s%.*s", i ? " " : "",
				      (int)len, t);
		if (o >= sizeof key)
			o = sizeof key - 1;
	}
	key[o] = '\0';
	if (src->ngroups > 0 && strcmp(src->groups[src->last].key, key) == 0) {
		*out = &src->groups[src->last];
		return BT_OK;
	}
	for (i = 0; i < src->ngroups; i++)
		if (strcmp(src->groups[i].key, key) == 0) {
			src->last = i;
			*out = &src->groups[i];
			return BT_OK;
		}
	for (l = 0; l < p->nlayers; l++)
		nlayers += p->layers[l].source == s;
	if (p->nseries + nlayers > BT_PLOT_MAX_SERIES)
		return bt_reader_fail(r, BT_ERANGE, "more than %d series: too many "
				      "values of '%s'", BT_PLOT_MAX_SERIES, p->byname);
	if (src->ngroups == src->cap) {
		src->cap = src->cap ? 2 * src->cap : 8;
		if ((grown = realloc(src->groups, src->cap * sizeof *grown)) == NULL)
			return BT_ENOMEM;
		src->groups = grown;
	}
	g = &src->groups[src->ngroups];
	memset(g, 0, sizeof *g);
	if ((g->key = strdup(key)) == NULL)
		return BT_ENOMEM;
	src->ngroups++;
	if (src->nby == 0 || bt_num_parse(g->key, strcspn(g->key, " "), '.', &g->value) != BT_OK)
		g->value = NAN;
	for (l = 0; l < p->nlayers; l++) {
		if (p->layers[l].source != s)
			continue;
		st = bt_plot_decim_alloc(&g->dec[l], (size_t)p->o.width
					 * BT_PLOT_BUCKETS_PER_PIXEL,
					 p->layers[l].style == STYLE_BAND ? 2 : 1);
		if (st != BT_OK)
			return st;
		p->nseries++;
	}
	src->last = src->ngroups - 1;
	*out = g;
	return BT_OK;
}

enum bt_status
bt_plot_read(struct bt_plot *p, struct bt_reader *r, int s)
{
	struct source *src = &p->src[s];
	const struct layer *l;
	struct group *g = NULL;
	enum bt_status st;
	unsigned long rows = 0;
	double x, y[2];
	size_t i;

	while ((st = bt_reader_next(r)) == BT_OK) {
		rows++;
		if ((st = bt_reader_number(r, src->xcol, &x)) != BT_OK)
			return st;
		if ((st = group_of(p, s, r, &g)) != BT_OK)
			return st;
		for (i = 0; i < p->nlayers; i++) {
			l = &p->layers[i];
			if (l->source != s)
				continue;
			if ((st = bt_reader_number(r, l->col[0], &y[0])) != BT_OK)
				return st;
			if ((l->style == STYLE_BAND || l->residual)
			    && (st = bt_reader_number(r, l->col[1], &y[1])) != BT_OK)
				return st;
			if (l->residual)
				y[0] = y[1] - y[0];
			if ((st = bt_plot_decim_add(g->dec[i], x, y)) == BT_ERANGE)
				return bt_reader_fail(r, st, "x range too wide to plot");
			if (st != BT_OK)
				return st;
		}
	}
	if (st != BT_EOF)
		return st;
	if (rows == 0)
		return BT_EEMPTY;
	for (i = 0; i < src->ngroups; i++)
		for (size_t k = 0; k < p->nlayers; k++)
			if (src->groups[i].dec[k] != NULL
			    && (st = bt_plot_decim_finish(src->groups[i].dec[k])) != BT_OK)
				return st;
	return BT_OK;
}

/* The title of series (L, G), in BUF. */
static void
series_title(const struct bt_plot *p, size_t l, const struct group *g,
	     char *buf, size_t size)
{
	const struct layer *ly = &p->layers[l];
	size_t n = 0, i;

	for (i = 0; i < p->nlayers; i++)
		n += p->layers[i].source == ly->source;
	if (p->src[ly->source].nby == 0)
		snprintf(buf, size, "%s", ly->title);
	else if (n == 1)
		snprintf(buf, size, "%s %s", p->byname, g->key);
	else
		snprintf(buf, size, "%s %s %s", p->byname, g->key, ly->title);
}

enum bt_status
bt_plot_write_csv(struct bt_plot *p, struct bt_writer *w)
{
	static const char *const names[] = {"series", "x", "y", "y_hi"};
	const struct group *g;
	const struct layer *ly;
	char title[512];
	double x, y[2];
	size_t l, s, gi, i, n;
	enum bt_status st;

	bt_writer_names(w, names, 4);
	if ((st = bt_writer_end_row(w)) != BT_OK)
		return st;
	for (l = 0; l < p->nlayers; l++) {
		ly = &p->layers[l];
		s = (size_t)ly->source;
		for (gi = 0; gi < p->src[s].ngroups; gi++) {
			g = &p->src[s].groups[gi];
			series_title(p, l, g, title, sizeof title);
			n = bt_plot_decim_npoints(g->dec[l]);
			for (i = 0; i < n; i++) {
				bt_plot_decim_point(g->dec[l], i, &x, y);
				bt_writer_text(w, title, strlen(title));
				bt_writer_number(w, x);
				bt_writer_number(w, y[0]);
				if (ly->style == STYLE_BAND)
					bt_writer_number(w, y[1]);
				else
					bt_writer_empty(w);
				if ((st = bt_writer_end_row(w)) != BT_OK)
					return st;
			}
		}
	}
	return BT_OK;
}

/* ---- the gnuplot script ------------------------------------------------ */

/* S as a gnuplot single-quoted string: a quote is doubled, and control
 * characters (which would end the command) become spaces. */
static void
quoted(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s != '\0'; s++) {
		if (*s == '\'')
			fputs("''", f);
		else if ((unsigned char)*s < 0x20 || *s == 0x7f)
			fputc(' ', f);
		else
			fputc(*s, f);
	}
	fputc('\'', f);
}

static void
number(FILE *f, double x)
{
	char buf[BT_NUM_BUFSIZE];

	bt_num_format(x, 0, buf);
	fputs(buf, f);
}

/* Colours of the line series, after the palette of matplotlib's "tab10"
 * (a widely read default), and of the raw signal under a denoised one. */
static const char *const colours[] = {
	"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
	"#e377c2", "#7f7f7f", "#bcbd22", "#17becf"
};
#define RAW_COLOUR "#b0b0b0"
#define BAND_OPACITY 0.3

static void
terminal(FILE *f, const struct bt_plot *p, enum bt_plot_format format)
{
	switch (format) {
	case BT_PLOT_PNG:
		fprintf(f, "set terminal pngcairo size %u,%u noenhanced font 'sans,10' "
			"background rgb 'white'\n", p->o.width, p->o.height);
		break;
	case BT_PLOT_PDF:
		fprintf(f, "set terminal pdfcairo size %.4gin,%.4gin noenhanced "
			"font 'sans,9'\n", p->o.width / BT_PLOT_DPI,
			p->o.height / BT_PLOT_DPI);
		break;
	default:
		fprintf(f, "set terminal svg size %u,%u noenhanced font 'sans,12' "
			"background rgb 'white'\n", p->o.width, p->o.height);
		break;
	}
}

/* Dash types told apart (gnuplot's dt 1..5), for the values of a second
 * --by column (an ICA's charge and discharge). */
#define N_DASHES 5

/* The dash type of group GI of SRC: 1 unless a second --by column splits
 * the groups, then one per distinct value of it, in order of appearance. */
static int
dash_of(const struct source *src, size_t gi)
{
	const char *seen[N_DASHES], *v;
	size_t n = 0, j, k;

	if (src->nby < 2)
		return 1;
	for (j = 0; j <= gi; j++) {
		v = strchr(src->groups[j].key, ' ');
		v = v != NULL ? v : "";
		for (k = 0; k < n; k++)
			if (strcmp(seen[k], v) == 0)
				break;
		if (k == n && n < N_DASHES)
			seen[n++] = v;
		if (j == gi)
			return k < n ? (int)k + 1 : 1;	/* past the last: solid */
	}
	return 1;
}

/* The plot command of panel PANEL; returns the number of series drawn. */
static size_t
plot_panel(FILE *f, const struct bt_plot *p, int panel, int palette)
{
	const struct layer *ly;
	const struct group *g;
	char title[512];
	size_t l, gi, drawn = 0, id = 0, colour = 0;

	for (l = 0; l < p->nlayers; l++) {
		ly = &p->layers[l];
		for (gi = 0; gi < p->src[ly->source].ngroups; gi++, id++) {
			g = &p->src[ly->source].groups[gi];
			if (ly->panel != panel || bt_plot_decim_npoints(g->dec[l]) == 0) {
				if (ly->panel == panel && ly->style != STYLE_BAND)
					colour++;
				continue;
			}
			fputs(drawn++ ? ", \\\n     " : "plot ", f);
			fprintf(f, "$d%zu using 1:2%s with ", id,
				ly->style == STYLE_BAND ? ":3" : "");
			if (ly->style == STYLE_BAND)
				fprintf(f, "filledcurves lc rgb '%s' fs transparent solid %g "
					"noborder", colours[0], BAND_OPACITY);
			else if (ly->style == STYLE_RAW)
				fprintf(f, "lines lc rgb '%s' lw 1", RAW_COLOUR);
			else if (palette && p->src[ly->source].nby > 0)
				fprintf(f, "lines lc palette cb %.17g lw 1.5 dt %d", g->value,
					dash_of(&p->src[ly->source], gi));
			else
				fprintf(f, "lines lc rgb '%s' lw 1.5",
					colours[colour++ % (sizeof colours / sizeof colours[0])]);
			if (p->src[ly->source].ngroups > BT_PLOT_MAX_KEY) {
				fputs(" notitle", f);
			} else {
				series_title(p, l, g, title, sizeof title);
				fputs(" title ", f);
				quoted(f, title);
			}
		}
	}
	fputc('\n', f);
	return drawn;
}

/* Ticks wanted on the y axis of the small lower panel: gnuplot chooses
 * them for a full-height plot and crowds them there. */
#define LOWER_PANEL_TICS 4

/* A tick step of 1, 2 or 5 times a power of ten that gives at most
 * LOWER_PANEL_TICS intervals over the displayed range of panel PANEL, or 0
 * when the range is empty. */
static double
tic_step(const struct bt_plot *p, int panel)
{
	const struct layer *ly;
	const struct group *g;
	double lo = INFINITY, hi = -INFINITY, x, y[2], raw, mag;
	size_t l, gi, i;

	for (l = 0; l < p->nlayers; l++) {
		ly = &p->layers[l];
		if (ly->panel != panel)
			continue;
		for (gi = 0; gi < p->src[ly->source].ngroups; gi++) {
			g = &p->src[ly->source].groups[gi];
			for (i = 0; i < bt_plot_decim_npoints(g->dec[l]); i++) {
				bt_plot_decim_point(g->dec[l], i, &x, y);
				lo = fmin(lo, y[0] * ly->scale);
				hi = fmax(hi, y[ly->style == STYLE_BAND] * ly->scale);
			}
		}
	}
	if (!(hi > lo) || !isfinite(hi - lo))
		return 0;
	raw = (hi - lo) / LOWER_PANEL_TICS;
	mag = pow(10, floor(log10(raw)));
	return raw <= mag ? mag : raw <= 2 * mag ? 2 * mag : raw <= 5 * mag ? 5 * mag
		: 10 * mag;
}

enum bt_status
bt_plot_script(struct bt_plot *p, enum bt_plot_format format,
	       const char *output, FILE *f)
{
	const struct layer *ly;
	const struct group *g;
	double x, y[2], cbmin = INFINITY, cbmax = -INFINITY, step;
	size_t l, gi, i, n, id = 0;
	int palette = p->src[0].nby > 0, panels = 1;

	fputs("# bt-plot: the decimated data, then the picture\n"
	      "set encoding utf8\n", f);
	for (l = 0; l < p->nlayers; l++) {
		ly = &p->layers[l];
		if (ly->panel == 1)
			panels = 2;
		for (gi = 0; gi < p->src[ly->source].ngroups; gi++, id++) {
			g = &p->src[ly->source].groups[gi];
			if (ly->source == 0 && p->src[0].nby > 0) {
				if (isnan(g->value))
					palette = 0;
				cbmin = fmin(cbmin, g->value);
				cbmax = fmax(cbmax, g->value);
			}
			fprintf(f, "$d%zu << EOD\n", id);
			n = bt_plot_decim_npoints(g->dec[l]);
			for (i = 0; i < n; i++) {
				bt_plot_decim_point(g->dec[l], i, &x, y);
				number(f, x);
				fputc(' ', f);
				number(f, y[0] * ly->scale);
				if (ly->style == STYLE_BAND) {
					fputc(' ', f);
					number(f, y[1] * ly->scale);
				}
				fputc('\n', f);
			}
			fputs("EOD\n", f);
		}
	}
	terminal(f, p, format);
	fputs("set output ", f);
	quoted(f, output);
	fputs("\nset grid\nset key opaque box\nset autoscale xfix\n", f);
	if (palette) {
		if (cbmin == cbmax)
			cbmin -= 0.5, cbmax += 0.5;
		/* viridis (van der Walt and Smith, matplotlib 2.0), three stops */
		fputs("set palette defined (0 '#440154', 1 '#21908d', 2 '#fde725')\n"
		      "set cbrange [", f);
		number(f, cbmin);
		fputc(':', f);
		number(f, cbmax);
		fputs("]\nset cblabel ", f);
		quoted(f, p->byname);
		fputc('\n', f);
	}
	if (p->o.title != NULL) {
		fputs("set title ", f);
		quoted(f, p->o.title);
		fputc('\n', f);
	}
	fputs("set ylabel ", f);
	quoted(f, p->ylabel[0]);
	fputc('\n', f);
	if (panels == 1) {
		fputs("set xlabel ", f);
		quoted(f, p->xlabel);
		fputc('\n', f);
		if (plot_panel(f, p, 0, palette) == 0)
			return BT_EEMPTY;
	} else {
		fputs("set multiplot\nset lmargin 12\nset rmargin 4\n"
		      "set origin 0,0.32\nset size 1,0.68\nset format x ''\n", f);
		if (plot_panel(f, p, 0, palette) == 0)
			return BT_EEMPTY;
		if ((step = tic_step(p, 1)) > 0) {
			fputs("set ytics ", f);
			number(f, step);
			fputc('\n', f);
		}
		fputs("unset title\nset format x '% h'\nset origin 0,0\n"
		      "set size 1,0.32\nset key off\nset xlabel ", f);
		quoted(f, p->xlabel);
		fputs("\nset ylabel ", f);
		quoted(f, p->ylabel[1]);
		fputc('\n', f);
		if (plot_panel(f, p, 1, palette) == 0)
			return BT_EEMPTY;
		fputs("unset multiplot\n", f);
	}
	fputs("unset output\n", f);
	return ferror(f) ? BT_EIO : BT_OK;
}

/* ---- running gnuplot ---------------------------------------------------- */

/* Copy the file at PATH to the descriptor FD. */
static enum bt_status
copy_out(const char *path, int fd, char *errmsg)
{
	char buf[65536];
	ssize_t n, w, o;
	int in = open(path, O_RDONLY | O_CLOEXEC);

	if (in < 0) {
		snprintf(errmsg, BT_ERRMSG_SIZE, "%s: %s", path, strerror(errno));
		return BT_EIO;
	}
	while ((n = read(in, buf, sizeof buf)) > 0)
		for (o = 0; o < n; o += w)
			if ((w = write(fd, buf + o, (size_t)(n - o))) < 0) {
				if (errno == EINTR) {
					w = 0;
					continue;
				}
				snprintf(errmsg, BT_ERRMSG_SIZE, "write error: %s",
					 strerror(errno));
				close(in);
				return BT_EIO;
			}
	close(in);
	if (n < 0) {
		snprintf(errmsg, BT_ERRMSG_SIZE, "%s: %s", path, strerror(errno));
		return BT_EIO;
	}
	return BT_OK;
}

/* The first line of what gnuplot wrote on its standard error (FD), without
 * gnuplot's echo of the offending line. */
static void
first_error(int fd, char *line, size_t size)
{
	char buf[2048], *s, *nl;
	ssize_t n;

	line[0] = '\0';
	if (lseek(fd, 0, SEEK_SET) < 0 || (n = read(fd, buf, sizeof buf - 1)) <= 0)
		return;
	buf[n] = '\0';
	/* gnuplot prints the script line and a caret before its message. */
	for (s = buf; *s != '\0'; s = nl + 1) {
		nl = strchr(s, '\n');
		if (nl != NULL)
			*nl = '\0';
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s != '\0' && *s != '^' && strstr(s, "line ") != NULL) {
			snprintf(line, size, "%s", s);
			return;
		}
		if (nl == NULL)
			break;
	}
	snprintf(line, size, "%.*s", (int)strcspn(buf, "\n"), buf);
}

enum bt_status
bt_plot_render(struct bt_plot *p, enum bt_plot_format format,
	       const char *path, int out_fd, const char *gnuplot, char *errmsg)
{
	char *tmp = NULL, base[4096], msg[256];
	const char *dir, *dev = NULL;
	char *argv[2];
	int fd, pfd[2] = {-1, -1}, errfd = -1, wst = 0, spawned, dev_fd = -1;
	posix_spawn_file_actions_t fa;
	struct sigaction ign, old;
	struct stat sb;
	enum bt_status st = BT_EIO;
	FILE *f = NULL, *ef = NULL;
	pid_t pid;

	errmsg[0] = '\0';
	/* A device or a pipe (/dev/null, a FIFO) is not renamed onto: the
	 * picture is made in a temporary file and copied to it. */
	if (path != NULL && stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
		if ((dev_fd = open(path, O_WRONLY | O_CLOEXEC)) < 0) {
			snprintf(errmsg, BT_ERRMSG_SIZE, "%s: %s", path, strerror(errno));
			return BT_EIO;
		}
		dev = path;
		path = NULL;
		out_fd = dev_fd;
	}
	if (path != NULL) {
		snprintf(base, sizeof base, "%s", path);
	} else {
		dir = getenv("TMPDIR");
		snprintf(base, sizeof base, "%s/bt-plot", dir && *dir ? dir : "/tmp");
	}
	if ((fd = bt_stream_temporary(base, &tmp)) < 0) {
		snprintf(errmsg, BT_ERRMSG_SIZE, "%s: %s", path ? path : base,
			 strerror(errno));
		free(tmp);
		return BT_EIO;
	}
	close(fd);
	if ((ef = tmpfile()) != NULL)
		errfd = fileno(ef);
	if (errfd < 0 || pipe2(pfd, O_CLOEXEC) != 0) {
		snprintf(errmsg, BT_ERRMSG_SIZE, "cannot run gnuplot: %s", strerror(errno));
		goto out;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[0], 0);
	posix_spawn_file_actions_adddup2(&fa, errfd, 1);
	posix_spawn_file_actions_adddup2(&fa, errfd, 2);
	argv[0] = (char *)gnuplot;
	argv[1] = NULL;
	spawned = posix_spawnp(&pid, gnuplot, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[0]);
	pfd[0] = -1;
	if (spawned != 0) {
		if (spawned == ENOENT)
			snprintf(errmsg, BT_ERRMSG_SIZE, "%s not found: install gnuplot "
				 "(apt-get install gnuplot-nox) or name it with --gnuplot",
				 gnuplot);
		else
			snprintf(errmsg, BT_ERRMSG_SIZE, "cannot run %s: %s", gnuplot,
				 strerror(spawned));
		goto out;
	}
	/* gnuplot may stop reading at an error: its exit status says so, not
	 * a SIGPIPE here. */
	memset(&ign, 0, sizeof ign);
	ign.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &ign, &old);
	if ((f = fdopen(pfd[1], "w")) != NULL) {
		pfd[1] = -1;
		st = bt_plot_script(p, format, tmp, f);
		if (fclose(f) != 0 && st == BT_OK)
			st = BT_EIO;
	} else {
		st = BT_ENOMEM;
	}
	if (pfd[1] >= 0)
		close(pfd[1]);
	pfd[1] = -1;
	while (waitpid(pid, &wst, 0) < 0 && errno == EINTR)
		;
	sigaction(SIGPIPE, &old, NULL);
	if (st == BT_EEMPTY) {
		snprintf(errmsg, BT_ERRMSG_SIZE, "nothing to plot: no finite values "
			 "in the columns drawn");
		st = BT_EIO;
		goto out;
	}
	if (!WIFEXITED(wst) || WEXITSTATUS(wst) != 0) {
		first_error(errfd, msg, sizeof msg);
		if (WIFEXITED(wst))
			snprintf(errmsg, BT_ERRMSG_SIZE, "%s failed (exit status %d)%s%s",
				 gnuplot, WEXITSTATUS(wst), msg[0] ? ": " : "", msg);
		else
			snprintf(errmsg, BT_ERRMSG_SIZE, "%s killed by signal %d", gnuplot,
				 WTERMSIG(wst));
		st = BT_EIO;
		goto out;
	}
	if (st != BT_OK) {
		snprintf(errmsg, BT_ERRMSG_SIZE, "cannot write to %s: %s", gnuplot,
			 strerror(errno));
		goto out;
	}
	if (stat(tmp, &sb) != 0 || sb.st_size == 0) {
		snprintf(errmsg, BT_ERRMSG_SIZE, "%s wrote no picture", gnuplot);
		st = BT_EIO;
		goto out;
	}
	if (path != NULL) {
		if (bt_stream_commit(tmp, path) != 0) {
			snprintf(errmsg, BT_ERRMSG_SIZE, "%s: %s", path, strerror(errno));
			st = BT_EIO;
		}
	} else {
		st = copy_out(tmp, out_fd, errmsg);
	}
out:
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	if (ef != NULL)
		fclose(ef);
	if (st != BT_OK || path == NULL)
		unlink(tmp);
	free(tmp);
	if (dev_fd >= 0 && close(dev_fd) != 0 && st == BT_OK) {
		snprintf(errmsg, BT_ERRMSG_SIZE, "%s: %s", dev, strerror(errno));
		st = BT_EIO;
	}
	return st;
}
