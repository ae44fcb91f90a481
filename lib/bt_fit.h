/* bt_fit.h - identification of equivalent-circuit models (bt-ecm(5)) from
 * lab data: pulse (HPPC) tests, open-circuit-voltage tests and whole drive
 * cycles.
 *
 * The estimation layer of battools.  Its fits are output-error fits: the
 * model of bt_ecm is simulated over the measured current with bt_ecm_step()
 * (the exact zero-order-hold update) and the voltage residual is minimised
 * by GSL's trust-region solver for large problems (gsl_multilarge_nlinear),
 * which takes J^T J and J^T f, formed in the pass that simulates the
 * residuals, instead of the tall Jacobian.  Parameters are
 * fitted through their logarithms, so they stay positive, and the time
 * constants through the logarithms of their increments, so that
 * tau_1 < tau_2 < tau_3 always.  The standard deviation of each fitted
 * parameter comes from the Jacobian at the optimum, (J^T J)^-1 scaled by
 * the residual variance, carried to the parameter by the delta method.
 *
 * Memory: a fit keeps the whole test in memory (struct bt_fit_data, four
 * doubles a row); everything else is small.  The functions allocate their
 * results, which the caller frees with the matching _free function.
 *
 * Current sign: positive = charge, negative = discharge, everywhere.
 */
#ifndef BT_FIT_H
#define BT_FIT_H

#include <stddef.h>
#include <stdio.h>

#include "bt_ecm.h"
#include "bt_stats.h"
#include "bt_status.h"
#include "bt_stream.h"

/* Defaults of struct bt_fit_opts (bt_fit_opts_init). */
#define BT_FIT_DEFAULT_RC_PAIRS 2
/* A row is at rest when |current| is at most this fraction of the largest
 * |current| of the input (unless rest_current_a is given). */
#define BT_FIT_DEFAULT_REST_FRACTION 0.01
/* A rest at least this long (s) splits a test into segments. */
#define BT_FIT_DEFAULT_MIN_REST_S 300.0
/* A charge whose last current is at most this fraction of its largest is
 * a constant-voltage charge: its end is the full (soc 1) reference. */
#define BT_FIT_DEFAULT_CV_TAPER 0.5
/* Pulse segments: only rows within this soc distance of an OCV point (a
 * rested point) enter the residual; the rows between are simulated but
 * not fitted, since there the OCV is interpolated. */
#define BT_FIT_DEFAULT_OCV_SPAN 0.01
/* Trust-region iteration limit and tolerances (gsl_multilarge_nlinear_test:
 * step, gradient and residual tests). */
#define BT_FIT_DEFAULT_MAX_ITER 200
#define BT_FIT_DEFAULT_XTOL 1e-8
#define BT_FIT_DEFAULT_GTOL 1e-8
#define BT_FIT_DEFAULT_FTOL 1e-10
/* Profile mode: weight (V) of the smoothness penalty on the second
 * differences of the log-parameters along the soc grid. */
#define BT_FIT_DEFAULT_SMOOTH_V 1e-3
/* Pulse tests: the prior standard deviation of each log-parameter's
 * curvature along soc (per soc^2) that pools the points' fits
 * (bt_fit_opts.pool_curvature): NaN, chosen for each parameter by maximum
 * marginal likelihood. */
#define BT_FIT_DEFAULT_POOL_CURVATURE NAN
/* OCV mode: the slowest current (C-rate) taken as an OCV curve, and the
 * grid step. */
#define BT_FIT_DEFAULT_OCV_MAX_C_RATE 0.1
#define BT_FIT_DEFAULT_OCV_GRID_STEP 0.05
/* Segments whose mean temperatures differ by less than this (degC) share a
 * temperature level. */
#define BT_FIT_DEFAULT_TEMPERATURE_TOL_C 3.0
/* A temperature must hold (within temperature_tol_c of the mean of its
 * rows, with current flowing) at least this long (s) to be a level of one
 * input; shorter runs are transitions (a chamber ramping between levels).
 * A soak is an hour or more and a pulse test at one level several. */
#define BT_FIT_DEFAULT_LEVEL_HOLD_S 3600.0
/* The most temperature levels of one input, and of a whole fit. */
#define BT_FIT_MAX_LEVELS 16
/* Temperature of data that carry none and are given none (degC). */
#define BT_FIT_DEFAULT_TEMPERATURE_C 25.0

/* The largest soc grid a fit accepts. */
#define BT_FIT_MAX_GRID 256

/* One test in memory: time, current, voltage and temperature of each row. */
struct bt_fit_data {
	size_t n, cap;
	double *t, *i, *v, *temp;	/* temp NaN where the input has none */
	double temperature_c;		/* the level of the whole test (the
					   --temperature given with the file),
					   NaN: from the temperature column */
	const char *name;		/* for messages; borrowed */
};

enum bt_fit_mode { BT_FIT_HPPC, BT_FIT_OCV, BT_FIT_PROFILE };

struct bt_fit_opts {
	enum bt_fit_mode mode;
	unsigned rc_pairs;		/* 1 .. BT_ECM_MAX_RC */
	double rest_current_a;		/* NaN: the rest fraction of max |i| */
	double min_rest_s;
	double ocv_span;		/* hppc: soc distance to an OCV point */
	double cv_taper;
	double soc0;			/* soc of the first row; NaN: the end of
					   the last CV charge is full */
	double capacity_ah;		/* NaN: measured */
	double temperature_tol_c;
	double level_hold_s;		/* hppc: shortest level in one input */
	size_t max_iter;
	double xtol, gtol, ftol;
	double smooth_v;		/* profile smoothness weight */
	double pool_curvature;		/* hppc: prior sd of each log-parameter's
					   curvature along soc; NaN: by
					   marginal likelihood; 0: each
					   point keeps its own fit */
	double ocv_max_c_rate;		/* ocv mode: slowest curve current */
	const double *soc_grid;		/* NULL: the mode's default grid */
	size_t n_grid;
	double grid_step;		/* > 0: a grid of this step over the
					   data's range (when soc_grid is NULL) */
	int selfcheck;			/* hppc: check the fast residuals and
					   Jacobian of every segment (below) */
};

/* Direction of a fitted segment. */
enum bt_fit_dir {
	BT_FIT_DIR_BOTH,	/* the whole segment: what the model uses */
	BT_FIT_DIR_DISCHARGE,	/* the discharge pulse and the rest after it */
	BT_FIT_DIR_CHARGE,	/* the charge pulse and the rest after it */
	BT_FIT_DIR_PROFILE	/* a whole drive cycle (profile mode) */
};

/* One fitted segment (hppc) or grid point (profile): a row of the report. */
struct bt_fit_segment {
	double soc, temperature_c;
	enum bt_fit_dir dir;
	size_t first, last;	/* rows of the data, inclusive */
	size_t rows;		/* rows in the residual */
	double rmse_v, max_abs_v;
	size_t iterations;
	int converged;
	struct bt_ecm_point point;	/* values and standard deviations */
	double capacity_ah;	/* the capacity its soc was counted with */
};

/* One test of a fit: an input, or one temperature level of an input (see
 * bt_fit_split_levels), with its own soc reference and capacity. */
struct bt_fit_test {
	const char *name;		/* the input's; borrowed */
	size_t first, last;		/* its rows in the input */
	double temperature_c;		/* the mean of its segments' rows */
	double capacity_ah;		/* given or measured */
	int capacity_measured;
};

struct bt_fit_result {
	struct bt_ecm *ecm;		/* the fitted model */
	struct bt_fit_segment *seg;	/* report rows */
	size_t nseg;
	double capacity_ah;		/* the model's: that of the test
					   nearest 25 degC (the default
					   reference temperature of bt_ecm) */
	int capacity_measured;
	struct bt_fit_test *test;	/* hppc: every test, in input order */
	size_t ntest;
	struct bt_stats residuals;	/* voltage residuals (V) of the fits
					   the model uses */
	size_t n_unconverged;		/* fits flagged not converged */
	size_t n_replaced;		/* grid points that took a neighbour's
					   values (no converged fit of their own) */
	/* With opts->selfcheck: at each segment's starting values, the
	 * largest difference (V) between the residuals of the fast path of
	 * the pulse fits and those of a bt_ecm_step() simulation, and the
	 * largest difference between its analytic Jacobian and central
	 * differences, relative to the largest Jacobian entry, or between
	 * the products J^T J, J^T u and J u it forms row by row and those of
	 * the stored Jacobian, relative to the largest product. */
	double check_residual_v, check_jacobian;
};

/* An open-circuit-voltage table: the OCV mode's result, the profile
 * mode's input. */
struct bt_fit_ocv {
	size_t n;
	double *soc, *ocv_v;
	double *hysteresis_v;		/* half the branch difference; NaN unknown */
	double *ocv_discharge_v, *ocv_charge_v;	/* NaN where absent */
	int branches;			/* bit 1: discharge, bit 2: charge */
	int dropped;			/* branches of a single point, left
					   out (same bits) */
};

/* Fill OPTS with the defaults above: mode hppc, 2 RC pairs, soc0,
 * capacity and rest current NaN, no grid.
 *
 * Returns nothing. */
void bt_fit_opts_init(struct bt_fit_opts *opts);

/* Read every row of R into DATA (initialised to zero by the caller, or
 * reused): time_s, current_a and voltage_v are required and finite;
 * temperature_c is optional (NaN where empty).
 *
 * Returns BT_OK; BT_EEMPTY when there is no data row; a reader status
 * (BT_ENOCOL, BT_EPARSE, BT_ENONFINITE, ...) with bt_reader_errmsg() set;
 * BT_ENOMEM. */
enum bt_status bt_fit_data_read(struct bt_reader *r, struct bt_fit_data *data);

/* Release the rows DATA holds (not DATA itself).  Returns nothing. */
void bt_fit_data_free(struct bt_fit_data *data);

/* Split the input D into tests at changes of its temperature level: a
 * level is a stretch of at least opts->level_hold_s seconds, with current
 * in it (a row above the rest threshold), in which no temperature_c lies
 * more than opts->temperature_tol_c from the mean of the stretch before it
 * (rows without a temperature join the stretch); consecutive levels whose
 * means differ by less than the tolerance are one; shorter stretches and
 * stretches of rest (a soak, a slow ramp) are transitions and open the
 * next test.  Each test ends at the last row of its level (the last test
 * at the end of the input, with whatever follows its level), so that a
 * test holds the rows from the previous level's end (the ramp and soak) to
 * its own level's end.  An input given a temperature (D->temperature_c), or with fewer
 * than two levels, is one test.  Writes the first row of each test to
 * FIRST and its level's mean temperature (NaN for a single test) to
 * TEMP_C, both with room for BT_FIT_MAX_LEVELS, and their number to *N.
 *
 * Returns BT_OK, or BT_EINVAL (more than BT_FIT_MAX_LEVELS levels). */
enum bt_status bt_fit_split_levels(const struct bt_fit_data *d,
				   const struct bt_fit_opts *opts,
				   size_t *first, double *temp_c, size_t *n);

/* Fit a model to the pulse tests DATA[0 .. NDATA-1] (bt-fit --mode hppc).
 * Each input is first split into tests at temperature-level changes
 * (bt_fit_split_levels), one code path for one input or many.  Each test
 * has its own soc reference (opts->soc0 for the first test of an input
 * only; otherwise the end of the last constant-voltage charge before the
 * test's first discharge) and its own capacity (opts->capacity_ah, or
 * measured); the model's capacity is that of the test nearest 25 degC,
 * and its reference_temperature_c that test's temperature when measured.
 * Each test is split at rests of at least opts->min_rest_s; the soc is
 * coulomb counted from the reference; the rested voltage
 * at the end of each long rest is an OCV point; each segment between two
 * long rests is fitted whole (R0 and the RC pairs constant over it, the
 * OCV along the PCHIP of the OCV points), and then its discharge and
 * charge pulses apart with the time constants held.  The model's grid
 * point at a segment's starting soc takes the whole-segment fit.
 *
 * Returns BT_OK with *RESULT filled; BT_EEMPTY (no pulses, too few
 * points), BT_EINVAL (no soc reference, capacity not determined, a bad
 * option), BT_ENOCONV (no fit converged), BT_ENOMEM, with a one-line
 * description in ERRMSG. */
enum bt_status bt_fit_hppc(const struct bt_fit_data *data, size_t ndata,
			   const struct bt_fit_opts *opts,
			   struct bt_fit_result *result,
			   char errmsg[BT_ERRMSG_SIZE]);

/* Fit a model to the drive cycle DATA (bt-fit --mode profile): R0 and R_k
 * at every point of the soc grid (opts->soc_grid, or the points of OCV)
 * and shared time constants, minimising the voltage residual of the model
 * simulated over the whole trace, plus a smoothness penalty.  The OCV is
 * the PCHIP of OCV; rows whose soc lies outside OCV's range are simulated
 * but left out of the residual.  INIT (may be NULL) gives the starting
 * values; otherwise R0 from the voltage steps of the data.
 *
 * Returns as bt_fit_hppc(). */
enum bt_status bt_fit_profile(const struct bt_fit_data *data,
			      const struct bt_fit_ocv *ocv,
			      const struct bt_ecm *init,
			      const struct bt_fit_opts *opts,
			      struct bt_fit_result *result,
			      char errmsg[BT_ERRMSG_SIZE]);

/* Build an OCV table (bt-fit --mode ocv) from a slow (at most
 * opts->ocv_max_c_rate) charge and discharge, or from the rest points of an
 * incremental-OCV test, in DATA: each branch is averaged in bins, made
 * monotone and interpolated (PCHIP) on the grid; ocv_v is the mean of the
 * branches and hysteresis_v half their difference.
 *
 * Returns BT_OK; BT_EEMPTY (no usable points), BT_EINVAL, BT_ENOMEM, with
 * ERRMSG. */
enum bt_status bt_fit_ocv_from_data(const struct bt_fit_data *data,
				    const struct bt_fit_opts *opts,
				    struct bt_fit_ocv *ocv,
				    char errmsg[BT_ERRMSG_SIZE]);

/* Build an OCV table from a table of branch points read from R: columns
 * soc_discharge, ocv_discharge_v, soc_charge, ocv_charge_v (either branch
 * may be absent or have empty fields), or soc and ocv_v (one branch
 * serving as both).  Processed as bt_fit_ocv_from_data() does.
 *
 * Returns BT_OK; a reader status with bt_reader_errmsg() set; BT_EEMPTY,
 * BT_EINVAL or BT_ENOMEM with ERRMSG. */
enum bt_status bt_fit_ocv_from_table(struct bt_reader *r,
				     const struct bt_fit_opts *opts,
				     struct bt_fit_ocv *ocv,
				     char errmsg[BT_ERRMSG_SIZE]);

/* Read an OCV table with columns soc and ocv_v from R into OCV (as
 * written by bt_fit_ocv_write), sorted by soc.
 *
 * Returns BT_OK; a reader status with bt_reader_errmsg() set; BT_EEMPTY
 * (fewer than two points) or BT_EINVAL (soc repeated or outside [0, 1])
 * with ERRMSG; BT_ENOMEM. */
enum bt_status bt_fit_ocv_read(struct bt_reader *r, struct bt_fit_ocv *ocv,
			       char errmsg[BT_ERRMSG_SIZE]);

/* Write OCV as rows of W: soc, ocv_v, hysteresis_v, ocv_discharge_v,
 * ocv_charge_v (header included).  Returns BT_OK or BT_EIO. */
enum bt_status bt_fit_ocv_write(const struct bt_fit_ocv *ocv,
				struct bt_writer *w);

/* Release what OCV holds.  Returns nothing. */
void bt_fit_ocv_free(struct bt_fit_ocv *ocv);

/* Write the report of RESULT to W: a header and one row per segment (see
 * bt-fit(1) for the columns).  Returns BT_OK or BT_EIO. */
enum bt_status bt_fit_report_write(const struct bt_fit_result *result,
				   unsigned rc_pairs, struct bt_writer *w);

/* Write ECM through W, line by line (so that a file is written atomically
 * and gzip-compressed like every other output): the bt-ecm(5) file when
 * C_PREFIX is NULL, else the C lookup tables of bt_ecm_write_c() named
 * C_PREFIX.  Returns BT_OK, BT_EINVAL (a bad prefix), BT_ENOMEM or BT_EIO
 * (the writer's error). */
enum bt_status bt_fit_write_model(const struct bt_ecm *ecm,
				  const char *c_prefix, struct bt_writer *w);

/* Write the capacity part of the summary of RESULT into BUF (SIZE bytes):
 * "capacity Q Ah (given)" or "(measured)", and when the tests measured
 * different capacities "capacity Q Ah at T degC (measured; Q2 Ah at T2
 * degC, ...)".  Returns nothing. */
void bt_fit_capacity_text(const struct bt_fit_result *result, char *buf,
			  size_t size);

/* Returns the name of DIR: "both", "discharge", "charge" or "profile". */
const char *bt_fit_dir_name(enum bt_fit_dir dir);

/* Parse a soc grid, "STEP" (a step, > 0) or "Z1,Z2,..." (at least two
 * increasing points in [0, 1]), into OPTS->grid_step or GRID (room for
 * BT_FIT_MAX_GRID) and OPTS->soc_grid, OPTS->n_grid.
 *
 * Returns BT_OK or BT_EINVAL. */
enum bt_status bt_fit_parse_grid(const char *text, double *grid,
				 struct bt_fit_opts *opts);

/* Release what RESULT holds.  Returns nothing. */
void bt_fit_result_free(struct bt_fit_result *result);

#endif /* BT_FIT_H */
