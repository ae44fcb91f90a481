/* bt_plot.h - pictures of battools streams: decimation and gnuplot scripts.
 *
 * Two parts.  The decimator (bt_plot_decim) reduces a stream of (x, y)
 * points of unknown length and unknown x range to at most four points per
 * bucket, the bucket being at most one pixel column wide in the final
 * picture, keeping in each bucket its first and last point and the points
 * of its minimum and maximum (the M4 aggregation of Jugel et al., "M4: a
 * visualization-oriented time series data aggregation", Proc. VLDB
 * Endowment 7(10), 2014, Sect. 4): a line drawn through them covers the same
 * pixels as one drawn through every point, and the minimum and maximum of
 * every bucket are kept exactly.  A series that never has more points than
 * buckets is kept whole, in its order.  Because the x range is known only at
 * the end, the buckets start on the range of the first points and double in
 * width (merging neighbours) whenever a point falls outside them, so the
 * memory is fixed by the number of buckets, not by the number of rows.
 *
 * The plot (bt_plot) reads one or two streams (the main input, and for the
 * presets that need it a second stream given with --with), resolves the
 * columns a preset or the options name, feeds one decimator per series
 * (per layer and per value of the grouping column), and finally either
 * writes the decimated points as a CSV stream or runs gnuplot as a child
 * process (posix_spawn, the script and the data through a pipe, no shell)
 * to render a PNG, SVG or PDF file, renamed into place only on success.
 * Memory: O(buckets) per series, whatever the number of rows; a series
 * allocates a few times while its first points arrive (its points double
 * up to the number of buckets, then the buckets), and never after.
 */
#ifndef BT_PLOT_H
#define BT_PLOT_H

#include <stddef.h>
#include <stdio.h>

#include "bt_status.h"
#include "bt_stream.h"

/* Buckets per pixel column of the picture's width: with twice as many
 * buckets as pixels, a bucket stays narrower than a pixel column whatever
 * the doublings (the data span at least half of the buckets). */
#define BT_PLOT_BUCKETS_PER_PIXEL 2

/* Default picture size in pixels, and the resolution at which a PDF's
 * size in inches is worked out from it. */
#define BT_PLOT_DEFAULT_WIDTH 1024
#define BT_PLOT_DEFAULT_HEIGHT 640
#define BT_PLOT_DPI 96.0

/* Most series in one plot (a --by column with more values is an error),
 * and most series named in the key (more are told apart by colour). */
#define BT_PLOT_MAX_SERIES 4096
#define BT_PLOT_MAX_KEY 12

/* Most columns in -y (and layers in one plot). */
#define BT_PLOT_MAX_LAYERS 16

/* ---- the decimator --------------------------------------------------- */

struct bt_plot_decim;

/* A new decimator with NBUCKETS buckets (even, at least 2) for points of
 * NVALUES values: 1 for a line (y), 2 for a band (lower, upper), where the
 * envelope kept is the minimum of the lower and the maximum of the upper
 * value.  Returns BT_OK, BT_EINVAL or BT_ENOMEM. */
enum bt_status bt_plot_decim_alloc(struct bt_plot_decim **decim,
				   size_t nbuckets, size_t nvalues);
void bt_plot_decim_free(struct bt_plot_decim *decim);

/* Add the point (X, Y[0..NVALUES-1]); points with a non-finite value are
 * gaps and are skipped.  Returns BT_OK, BT_ENOMEM, or BT_ERANGE when the x
 * range overflows a double. */
enum bt_status bt_plot_decim_add(struct bt_plot_decim *decim, double x,
				 const double *y);

/* Prepare the points to draw.  Returns BT_OK or BT_ENOMEM. */
enum bt_status bt_plot_decim_finish(struct bt_plot_decim *decim);

/* After bt_plot_decim_finish: the number of points to draw, point I
 * (X, and NVALUES values in Y), and whether they are the input itself (1)
 * or its decimation (0).  Decimated points come in order of x. */
size_t bt_plot_decim_npoints(const struct bt_plot_decim *decim);
void bt_plot_decim_point(const struct bt_plot_decim *decim, size_t i,
			 double *x, double *y);
int bt_plot_decim_whole(const struct bt_plot_decim *decim);

/* Points added (finite ones) since the start. */
unsigned long long bt_plot_decim_count(const struct bt_plot_decim *decim);

/* ---- labels ----------------------------------------------------------- */

/* The axis label of column NAME with its unit spelled out ("voltage_v" ->
 * "voltage (V)", "soc" -> "SoC (%)"), in BUF of SIZE bytes, and in *SCALE
 * (may be NULL) the factor that turns the column's values into the
 * label's unit (100 for a fraction shown in percent, else 1). */
void bt_plot_label(const char *name, char *buf, size_t size, double *scale);

/* ---- the plot --------------------------------------------------------- */

enum bt_plot_preset {
	BT_PLOT_PRESET_NONE, BT_PLOT_PRESET_SOC, BT_PLOT_PRESET_FIT,
	BT_PLOT_PRESET_FADE, BT_PLOT_PRESET_ICA, BT_PLOT_PRESET_DENOISE
};

enum bt_plot_format {
	BT_PLOT_SVG, BT_PLOT_PNG, BT_PLOT_PDF, BT_PLOT_CSV
};

struct bt_plot_opts {
	enum bt_plot_preset preset;
	const char *x;		/* -x COL (NULL: the preset's) */
	const char *y;		/* -y COL[,COL...] */
	const char *band;	/* --band LO,HI */
	const char *by;		/* --by COL[,COL] */
	const char *reference;	/* --reference COL (soc) */
	const char *title, *xlabel, *ylabel;
	unsigned width, height;	/* pixels */
};

/* Set OPTS to the defaults (no preset, the default size). */
void bt_plot_opts_init(struct bt_plot_opts *opts);

/* Preset by name ("soc", "fit", "fade", "ica", "denoise"), or -1. */
int bt_plot_preset_parse(const char *name);

/* Whether preset PRESET reads a second stream: 0 no, 1 optionally, 2 it
 * must. */
int bt_plot_preset_with(enum bt_plot_preset preset);

/* Output format from a file name's extension (.svg, .png, .pdf, .csv,
 * .csv.gz), or -1. */
int bt_plot_format_of(const char *path);

struct bt_plot;

/* A new plot.  OPTS is copied (its strings are borrowed: they must live as
 * long as the plot).  Returns BT_OK, BT_EINVAL or BT_ENOMEM. */
enum bt_status bt_plot_alloc(struct bt_plot **plot,
			     const struct bt_plot_opts *opts);
void bt_plot_free(struct bt_plot *plot);

/* Resolve the columns the plot draws in MAIN and, when not NULL, in WITH
 * (the second stream).  Returns BT_OK, or BT_ENOCOL (the message, listing
 * the columns found, is on the reader in *FAILED), BT_EINVAL (a preset
 * needs WITH) or BT_ENOMEM. */
enum bt_status bt_plot_columns(struct bt_plot *plot, struct bt_reader *main,
			       struct bt_reader *with,
			       struct bt_reader **failed);

/* Read every row of READER (MAIN when SOURCE is 0, WITH when it is 1) into
 * the decimators.  Returns BT_OK, BT_EEMPTY when there was no data row, a
 * reader error (its message on the reader), BT_ENOMEM, or BT_ERANGE (with a
 * message on the reader) for more series than BT_PLOT_MAX_SERIES or an x
 * range beyond a double's. */
enum bt_status bt_plot_read(struct bt_plot *plot, struct bt_reader *reader,
			    int source);

/* Write the decimated points as a CSV stream: series, x, y, y_hi (empty for
 * a line), the values as read (no display scaling).  Returns BT_OK,
 * BT_ENOMEM or the writer's BT_EIO. */
enum bt_status bt_plot_write_csv(struct bt_plot *plot,
				 struct bt_writer *writer);

/* Render the plot with GNUPLOT (a program name looked up in PATH, or a
 * path) in FORMAT (not BT_PLOT_CSV).  With PATH, the picture is written to
 * a temporary file beside it and renamed onto it when gnuplot succeeded;
 * without (NULL), it is copied to the file descriptor OUT_FD.  Returns
 * BT_OK, or BT_EIO / BT_ENOMEM with a one-line message in ERRMSG (at least
 * BT_ERRMSG_SIZE bytes): gnuplot missing, gnuplot failing (its exit status
 * and first line of error), or the output not written. */
enum bt_status bt_plot_render(struct bt_plot *plot, enum bt_plot_format format,
			      const char *path, int out_fd,
			      const char *gnuplot, char *errmsg);

/* Write the gnuplot script that renders the plot in FORMAT into OUTPUT
 * (a path gnuplot writes) to the stream F.  Returns BT_OK or BT_EIO. */
enum bt_status bt_plot_script(struct bt_plot *plot, enum bt_plot_format format,
			      const char *output, FILE *f);

#endif /* BT_PLOT_H */
