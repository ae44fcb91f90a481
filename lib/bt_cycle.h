/* bt_cycle.h - per-cycle health of a cell from its time series: charge and
 * energy, coulombic efficiency, voltage and temperature statistics, DC
 * resistance from current steps, and the state of health of each cycle
 * against a reference capacity, with outlying cycles flagged.
 *
 * Two stages.  A struct bt_cycle accumulates the samples of one cycle in
 * O(1) memory (nothing is allocated per sample) and gives a struct
 * bt_cycle_result when the cycle ends; it also finds cycle boundaries in a
 * stream without a cycle column.  A struct bt_cycle_health takes the
 * results of one cell in order and gives them back with their soh and an
 * outlier flag; it holds at most reference_cycles + 2 * hampel_half + 2
 * results (the first cycles until the reference capacity is known, and the
 * cycles on either side of the one being flagged).
 *
 * Integration is trapezoidal over consecutive samples of the same cycle;
 * the interval between two cycles belongs to neither.  Current sign:
 * positive = charge, negative = discharge; capacities and energies are
 * written positive.
 */
#ifndef BT_CYCLE_H
#define BT_CYCLE_H

#include <stddef.h>

#include "bt_status.h"
#include "bt_stream.h"

/* Most DC-resistance delays a run measures. */
#define BT_CYCLE_MAX_DELAYS 8

/* Defaults of struct bt_cycle_opts (bt_cycle_opts_init). */
#define BT_CYCLE_DEFAULT_REST_A 0.01	/* |I| below this is a rest, A */
#define BT_CYCLE_DEFAULT_STEP_A 0.1	/* smallest current step for r_dc, A */
#define BT_CYCLE_DEFAULT_HOLD 0.05	/* a step is held while I stays within
					   this fraction of the step */
#define BT_CYCLE_DEFAULT_DELAY1_S 1.0
#define BT_CYCLE_DEFAULT_DELAY2_S 10.0

/* Defaults of struct bt_cycle_health_opts. */
#define BT_CYCLE_DEFAULT_REFERENCE_CYCLES 5
#define BT_CYCLE_DEFAULT_HAMPEL_HALF 5	/* window 2 * 5 + 1 cycles */
#define BT_CYCLE_DEFAULT_HAMPEL_THRESHOLD 3.0
/* Scale from the median absolute deviation to the standard deviation of
 * normal data, 1 / Phi^-1(3/4) (Hampel 1974). */
#define BT_CYCLE_MAD_NORMAL 1.482602218505602
/* The robust scale is at least this fraction of the window median, so that
 * a run of equal capacities does not flag the first one that differs in
 * its last digit (bt_rul's Hampel filter keeps the same floor). */
#define BT_CYCLE_HAMPEL_MIN_REL_SCALE 1e-4

struct bt_cycle_opts {
	double cutoff_v;	/* NaN: none; else capacity_ah and energy_wh
				   stop at the first discharge sample below it */
	double rest_a;		/* rest threshold for cycle detection */
	double step_a;		/* smallest |delta I| that starts a step */
	double hold;		/* hold tolerance, a fraction of the step */
	size_t ndelays;		/* resistance delays, 0..BT_CYCLE_MAX_DELAYS */
	double delay_s[BT_CYCLE_MAX_DELAYS];
	int start_on_charge;	/* detection: cycles begin with a charge
				   (default: with a discharge) */
};

/* Set OPTS to the defaults: no cutoff, delays 1 s and 10 s. */
void bt_cycle_opts_init(struct bt_cycle_opts *opts);

/* One cycle.  Quantities that the cycle does not have are NaN: capacity_ah,
 * energy_wh and the discharge columns of a cycle without discharge, the
 * coulombic efficiency without charge, temperatures without a temperature,
 * a resistance without a held step of that length. */
struct bt_cycle_result {
	double cycle;			/* the cycle's number */
	double start_time_s;		/* time of its first sample */
	double duration_s;		/* last sample's time minus the first's */
	size_t samples;
	double capacity_ah;		/* discharge to the cutoff, positive */
	double energy_wh;		/* discharge energy to the cutoff */
	double discharge_ah, charge_ah;	/* the whole cycle's, both positive */
	double discharge_wh, charge_wh;
	double coulombic_efficiency;	/* discharge_ah / charge_ah */
	double voltage_mean_v, voltage_min_v, voltage_max_v;
	double temperature_mean_c, temperature_min_c, temperature_max_c;
	double r_dc_ohm[BT_CYCLE_MAX_DELAYS];	/* per delay, in opts order */
};

struct bt_cycle;

/* Create an accumulator with a copy of OPTS.  Returns BT_OK, BT_EINVAL (a
 * delay that is negative or not finite, too many delays, a negative
 * threshold) or BT_ENOMEM. */
enum bt_status bt_cycle_alloc(struct bt_cycle **c, const struct bt_cycle_opts *opts);

/* Free C; bt_cycle_free(NULL) does nothing. */
void bt_cycle_free(struct bt_cycle *c);

/* Start cycle number CYCLE: forget the samples taken.  LINKED says that
 * the cycle's first sample directly follows the last one taken (a boundary
 * found by bt_cycle_starts), so that a current step across the boundary
 * counts for the new cycle's resistance.  Returns nothing. */
void bt_cycle_begin(struct bt_cycle *c, double cycle, int linked);

/* Whether a sample with current CURRENT_A begins a new cycle, for a stream
 * without a cycle column: when it is the first sample of a segment in the
 * start direction (discharge, or charge with start_on_charge) and the
 * cycle under way already has a segment in that direction.  Rests (|I| <
 * rest_a) belong to the segment before them.  Call it before
 * bt_cycle_add for the sample.  Returns 1 or 0. */
int bt_cycle_starts(const struct bt_cycle *c, double current_a);

/* Take one sample: time, current, voltage (all finite) and temperature
 * (NaN when there is none).  Returns BT_OK, or BT_ETIME when the time is
 * before the previous sample's (nothing is taken). */
enum bt_status bt_cycle_add(struct bt_cycle *c, double time_s, double current_a,
			    double voltage_v, double temperature_c);

/* Returns the number of samples taken since bt_cycle_begin. */
size_t bt_cycle_samples(const struct bt_cycle *c);

/* Store the result of the samples taken so far in *R.  Returns nothing. */
void bt_cycle_result(const struct bt_cycle *c, struct bt_cycle_result *r);

/* ---- state of health --------------------------------------------------- */

struct bt_cycle_health_opts {
	double reference_ah;		/* NaN: the median of the first cycles */
	size_t reference_cycles;	/* cycles the median takes, >= 1 */
	size_t hampel_half;		/* half-width of the window; 0: no flags */
	double hampel_threshold;	/* in robust standard deviations */
};

/* Set OPTS to the defaults (median of the first 5 cycles, window 11,
 * threshold 3). */
void bt_cycle_health_opts_init(struct bt_cycle_health_opts *opts);

struct bt_cycle_health;

/* One cycle on its way out: its result, soh (capacity_ah / reference; NaN
 * when either is missing) and flag (1 for an outlier of capacity_ah by the
 * Hampel identifier, 0 otherwise, -1 when capacity_ah is NaN). */
struct bt_cycle_health_row {
	struct bt_cycle_result result;
	double reference_ah;
	double soh;
	int flag;
};

/* Create the stage with a copy of OPTS.  Returns BT_OK, BT_EINVAL or
 * BT_ENOMEM. */
enum bt_status bt_cycle_health_alloc(struct bt_cycle_health **h,
				     const struct bt_cycle_health_opts *opts);
void bt_cycle_health_free(struct bt_cycle_health *h);

/* Take the next cycle of the cell.  Call bt_cycle_health_pop until it
 * returns BT_EOF before the next push.  Returns BT_OK. */
enum bt_status bt_cycle_health_push(struct bt_cycle_health *h,
				    const struct bt_cycle_result *r);

/* The cell's cycles have all been pushed: let every held cycle out.  After
 * the last pop the stage is empty and ready for the next cell.  Returns
 * nothing. */
void bt_cycle_health_finish(struct bt_cycle_health *h);

/* Store the oldest cycle that can go out in *ROW.  The Hampel identifier
 * (Hampel 1974; Pearson 2002) flags cycle k when |Q_k - m| > THRESHOLD *
 * max(BT_CYCLE_MAD_NORMAL * MAD, BT_CYCLE_HAMPEL_MIN_REL_SCALE * |m|), m and MAD the median and the median absolute
 * deviation of the finite capacities of the 2 * HALF + 1 cycles centred on
 * k (shifted inwards at the cell's ends).  Returns BT_OK, or BT_EOF when no
 * cycle can go out yet. */
enum bt_status bt_cycle_health_pop(struct bt_cycle_health *h,
				   struct bt_cycle_health_row *row);

/* ---- reading a stream cycle by cycle ---------------------------------- */

/* What bt_cycle_iter_next found. */
enum bt_cycle_event {
	BT_CYCLE_SAMPLE,	/* a sample, already taken by the accumulator */
	BT_CYCLE_END,		/* the cycle before the next sample is complete */
	BT_CYCLE_CELL_END	/* and so is its cell (after its BT_CYCLE_END) */
};

/* One sample of the stream in canonical units (temperature NaN when the
 * stream has none). */
struct bt_cycle_sample {
	double time_s, current_a, voltage_v, temperature_c;
};

struct bt_cycle_iter;

/* Read the stream of READER (borrowed) cycle by cycle: time_s, current_a
 * and voltage_v are required, temperature_c and cycle used when present,
 * GROUP (may be NULL) names the column whose runs of equal values are
 * cells.  Cycles come from the cycle column, or else from
 * bt_cycle_starts; the iterator feeds its own accumulator (OPTS).
 * Returns BT_OK, BT_ENOCOL (with the reader's message), BT_EINVAL or
 * BT_ENOMEM. */
enum bt_status bt_cycle_iter_alloc(struct bt_cycle_iter **it, struct bt_reader *r,
				   const char *group, const struct bt_cycle_opts *opts);
void bt_cycle_iter_free(struct bt_cycle_iter *it);

/* Read a table of one row per cycle instead (bt-soh history): a cycle
 * column and the capacity in column CAPACITY, or when CAPACITY is NULL in
 * capacity_ah, else discharge_capacity_ah (an empty capacity is missing).
 * Each row gives one BT_CYCLE_END, whose bt_cycle_iter_result has the cycle
 * and capacity_ah set and every other quantity zero.  Returns BT_OK,
 * BT_ENOCOL (with the reader's message) or BT_ENOMEM. */
enum bt_status bt_cycle_iter_alloc_history(struct bt_cycle_iter **it,
					   struct bt_reader *r, const char *group,
					   const char *capacity);

/* Whether the stream has a temperature_c column.  Returns 1 or 0. */
int bt_cycle_iter_has_temperature(const struct bt_cycle_iter *it);

/* The next event: each cycle's samples, then its BT_CYCLE_END (and
 * BT_CYCLE_CELL_END at the end of a cell), the last ones at the end of the
 * input.  Returns BT_OK, BT_EOF after the last event, or an error with the
 * reader's message set: a reader error, BT_ETIME (time going backwards
 * within a cycle).  A stream with no rows gives BT_EOF at once. */
enum bt_status bt_cycle_iter_next(struct bt_cycle_iter *it,
				  enum bt_cycle_event *ev);

/* At BT_CYCLE_END: the result of the cycle that ended. */
void bt_cycle_iter_result(const struct bt_cycle_iter *it,
			  struct bt_cycle_result *res);

/* The sample of the last BT_CYCLE_SAMPLE. */
const struct bt_cycle_sample *bt_cycle_iter_sample(const struct bt_cycle_iter *it);

/* The number of the cycle of the last event, and the GROUP text of its
 * cell (*LEN bytes, not NUL-terminated; "" without GROUP).  Valid until
 * the next call. */
double bt_cycle_iter_number(const struct bt_cycle_iter *it);
const char *bt_cycle_iter_cell(const struct bt_cycle_iter *it, size_t *len);

/* Returns the number of data rows read. */
unsigned long bt_cycle_iter_rows(const struct bt_cycle_iter *it);

/* ---- output ------------------------------------------------------------ */

/* The columns of a per-cycle row, without and with HISTORY (the short row
 * of bt-soh history: cycle, capacity_ah, soh, flag); the resistances are
 * named r_dc_<delay>s_ohm after OPTS's delays.  GROUP (may be NULL) names
 * a leading column.  Returns nothing; a write error shows at the row's end. */
void bt_cycle_write_names(struct bt_writer *w, const char *group,
			  const struct bt_cycle_opts *opts, int history);

/* Write ROW as bt_cycle_write_names named its columns, after the GLEN bytes
 * of GROUP when GROUP is not NULL, without ending the row.  Missing values
 * are empty fields.  Returns nothing. */
void bt_cycle_write_row(struct bt_writer *w, const char *group, size_t glen,
			const struct bt_cycle_health_row *row,
			const struct bt_cycle_opts *opts, int history);

#endif /* BT_CYCLE_H */
