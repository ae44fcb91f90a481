/* bt_rul.h - remaining useful life from a capacity (or SoH) history.
 *
 * The estimation layer of bt-rul.  A cell is a history of (cycle, capacity)
 * points in increasing cycle order; the library cleans it with a Hampel
 * filter, fits degradation models by nonlinear least squares (GSL), runs a
 * particle filter over model parameters whose prior comes from a fleet of
 * other cells, and turns an ensemble of parameter vectors into the cycle at
 * which the capacity reaches end of life, with an interval and, on request,
 * the forecast capacity path with its band.
 *
 * Memory: a cell keeps its whole history (two doubles a point); a forecast
 * allocates O(particles + points) scratch and frees it before it returns.
 * A fleet (any set of cells: a multi-cell input too) owns its cells.  Nothing is printed; every function
 * returns an enum bt_status, and a forecast that cannot give a number says
 * why in its result's message.
 */
#ifndef BT_RUL_H
#define BT_RUL_H

#include <stddef.h>
#include <stdint.h>

#include "bt_status.h"

/* Degradation models, y the capacity and x the cycle divided by a scale.
 *   BT_RUL_LINEAR  y = p0 + p1 x
 *   BT_RUL_EXP     y = p0 exp(p1 x)
 *   BT_RUL_DEXP    y = p0 exp(p1 x) + p2 exp(p3 x)   (He et al. 2011)
 *   BT_RUL_POWER   y = p0 - p1 x^p2
 * BT_RUL_AUTO picks one of the four; BT_RUL_PF runs the particle filter
 * over the parameters of each model in the set bt_rul_opts.pf_models and
 * pools the ensembles, in shares learnt by stacking their predictions of
 * the history's last 30 %.  BT_RUL_LIFE, a member of that set only, stands for
 * the fleet cells' lives, pooled beside the models when there is a fleet. */
enum bt_rul_model {
	BT_RUL_LINEAR, BT_RUL_EXP, BT_RUL_DEXP, BT_RUL_POWER,
	BT_RUL_AUTO, BT_RUL_PF, BT_RUL_LIFE
};

/* The set holding model M alone; sets of models are unions of these. */
#define BT_RUL_SET(m) (1u << (unsigned)(m))

/* The most parameters a model has. */
#define BT_RUL_MAXP 4

/* Defaults of struct bt_rul_opts (bt_rul_opts_init). */
#define BT_RUL_HAMPEL_WINDOW 11		/* points in the rolling window */
#define BT_RUL_HAMPEL_THRESHOLD 3.0	/* in robust standard deviations */
#define BT_RUL_REF_POINTS 5		/* cleaned points in the reference */
#define BT_RUL_EOL_FRACTION 0.8		/* of the reference capacity */
#define BT_RUL_INTERVAL 0.9		/* central probability of the interval */
#define BT_RUL_PARTICLES 4000		/* particles (or samples of a fit) */
#define BT_RUL_HORIZON 2000.0		/* cycles searched beyond the last */
#define BT_RUL_MIN_POINTS 10		/* cleaned points needed for a forecast */
#define BT_RUL_TREND_Z 2.0		/* standard errors of a real fade */
#define BT_RUL_PF_KNEE 2.0		/* rises of the fade's pace expected
					   over the history */
#define BT_RUL_PF_MODELS (BT_RUL_SET(BT_RUL_LINEAR) | BT_RUL_SET(BT_RUL_EXP) \
			  | BT_RUL_SET(BT_RUL_POWER) \
			  | BT_RUL_SET(BT_RUL_LIFE))

struct bt_rul_opts {
	enum bt_rul_model model;	/* default BT_RUL_AUTO */
	unsigned pf_models;		/* the particle filter's pool, a set of
					   fitted models and BT_RUL_LIFE:
					   default BT_RUL_PF_MODELS */
	double pf_drift;		/* parameter drift per observation, as a share
					   of the ensemble covariance: default 0 */
	double pf_knee;			/* rises of a member's pace expected over
					   the history (a Poisson rate on the
					   scaled axis), 0 for none: default
					   BT_RUL_PF_KNEE */
	size_t hampel_window;		/* 0 turns cleaning off */
	double hampel_threshold;
	size_t ref_points;
	double eol_fraction;		/* used when eol_capacity is NaN */
	double eol_capacity;		/* an absolute end-of-life line, or NaN */
	double interval;		/* in (0, 1) */
	size_t particles;
	uint64_t seed;
	double horizon;
	size_t min_points;
	double trend_z;			/* the line's slope must lie this many
					   tempered standard errors below 0 */
};

/* Fill *OPTS with the defaults above. */
void bt_rul_opts_init(struct bt_rul_opts *opts);

/* The name of MODEL ("linear", "exp", "dexp", "power", "auto", "pf",
 * "life"), and the model a name denotes.  bt_rul_model_parse returns BT_OK
 * or BT_EINVAL. */
const char *bt_rul_model_name(enum bt_rul_model model);
enum bt_status bt_rul_model_parse(const char *name, enum bt_rul_model *model);

/* The pool a comma-separated LIST names, as "linear,exp,life": fitted
 * models (linear, exp, dexp, power) and life, at least one fitted model.
 * Returns BT_OK or BT_EINVAL (an unknown name, auto or pf, an empty item, a
 * name given twice, or no fitted model). */
enum bt_status bt_rul_models_parse(const char *list, unsigned *set);

/* The names of the models in SET joined by '+' ("linear+exp") into BUF of
 * SIZE bytes (truncated to fit, always terminated). */
void bt_rul_models_name(unsigned set, char *buf, size_t size);

/* The number of parameters of a fitted MODEL (not AUTO or PF). */
size_t bt_rul_model_nparams(enum bt_rul_model model);

/* MODEL with parameters P at X (the scaled cycle). */
double bt_rul_model_eval(enum bt_rul_model model, const double *p, double x);

/* ---- cleaning ---------------------------------------------------------- */

/* Hampel filter (Hampel 1974; Pearson 2002): point i is an outlier when
 * |y_i - m_i| > THRESHOLD * 1.4826 * MAD_i, m_i and MAD_i the median and the
 * median absolute deviation of the WINDOW points centred on i (shifted
 * inwards at the ends).  Sets FLAG[i] to 1 for outliers, 0 otherwise.
 * A WINDOW of 0 or 1 flags nothing.
 * Returns BT_OK (and the count in *NFLAGGED), BT_EINVAL or BT_ENOMEM. */
enum bt_status bt_rul_hampel(const double *y, size_t n, size_t window,
			     double threshold, unsigned char *flag,
			     size_t *nflagged);

/* ---- fitting ----------------------------------------------------------- */

struct bt_rul_fit {
	enum bt_rul_model model;
	size_t np;			/* parameters */
	double p[BT_RUL_MAXP];
	double cov[BT_RUL_MAXP * BT_RUL_MAXP];	/* row-major, times s^2 */
	double rmse;			/* root mean square residual */
	double aicc;			/* corrected Akaike information criterion */
};

/* Fit MODEL (linear, exp, dexp or power) to the N points (X[i], Y[i]) by
 * least squares: closed form for the line, GSL's trust-region
 * Levenberg-Marquardt from several starts for the others.  X should be
 * scaled to about [0, 1].
 * Returns BT_OK, BT_EINVAL (too few points for the model), BT_ENOCONV (no
 * start converged to finite parameters) or BT_ENOMEM. */
enum bt_status bt_rul_fit(enum bt_rul_model model, const double *x,
			  const double *y, size_t n, struct bt_rul_fit *fit);

/* ---- cells and fleets --------------------------------------------------- */

struct bt_rul_cell;

/* A new, empty history called NAME (copied; NULL for none).
 * Returns NULL when out of memory. */
struct bt_rul_cell *bt_rul_cell_alloc(const char *name);

/* Release CELL.  bt_rul_cell_free(NULL) does nothing. */
void bt_rul_cell_free(struct bt_rul_cell *cell);

/* Append the point (CYCLE, CAPACITY); both finite, CYCLE greater than the
 * last one.  Returns BT_OK, BT_EINVAL (not finite, or cycle not
 * increasing) or BT_ENOMEM. */
enum bt_status bt_rul_cell_add(struct bt_rul_cell *cell, double cycle,
			       double capacity);

/* The name and the number of points of CELL, and its last cycle (NaN when
 * empty). */
const char *bt_rul_cell_name(const struct bt_rul_cell *cell);
size_t bt_rul_cell_size(const struct bt_rul_cell *cell);
double bt_rul_cell_last(const struct bt_rul_cell *cell);

struct bt_rul_fleet;

/* A new, empty fleet, or NULL when out of memory. */
struct bt_rul_fleet *bt_rul_fleet_alloc(void);

/* Release FLEET and its cells.  bt_rul_fleet_free(NULL) does nothing. */
void bt_rul_fleet_free(struct bt_rul_fleet *fleet);

/* Hand CELL to FLEET, which frees it from then on (on failure too).
 * Returns BT_OK or BT_ENOMEM. */
enum bt_status bt_rul_fleet_add(struct bt_rul_fleet *fleet,
				struct bt_rul_cell *cell);

/* The number of cells in FLEET, and cell I (in the order they were made). */
size_t bt_rul_fleet_size(const struct bt_rul_fleet *fleet);
const struct bt_rul_cell *bt_rul_fleet_cell(const struct bt_rul_fleet *fleet,
					    size_t i);

/* Append (CYCLE, CAPACITY) to the cell of FLEET called NAME (LEN bytes, not
 * NUL-terminated), made at the end when FLEET has none of that name, as a
 * reader of a multi-cell stream does row by row.  *CELL receives the cell.
 * Returns BT_OK, BT_EINVAL (as bt_rul_cell_add) or BT_ENOMEM. */
enum bt_status bt_rul_fleet_point(struct bt_rul_fleet *fleet, const char *name,
				  size_t len, double cycle, double capacity,
				  const struct bt_rul_cell **cell);

/* ---- forecasting -------------------------------------------------------- */

/* The forecast capacity path: for each cycle after the last observed one,
 * the median and the interval of the ensemble. */
struct bt_rul_trajectory {
	size_t n;
	double *cycle, *median, *lo, *hi;
};

/* Release what TRAJ holds (not TRAJ itself); safe on a zeroed struct. */
void bt_rul_trajectory_free(struct bt_rul_trajectory *traj);

/* What a forecast found.  NaN marks what is not known: rul_hi and eol_hi
 * are NaN when the upper end of the interval does not reach end of life
 * within the horizon (open is then 1). */
struct bt_rul_result {
	enum bt_rul_model model;	/* the model used (pf: BT_RUL_PF) */
	enum bt_rul_model base;		/* the parametric model underneath (pf:
					   the first of the pool) */
	unsigned pool;			/* pf: the models whose ensembles were
					   pooled (a model that cannot be
					   fitted is left out) */
	size_t life_members;		/* pf: members drawn from the fleet's
					   lives (0 without a fleet; then life
					   is not in pool) */
	double life_median;		/* pf: the median of the fleet's life
					   distribution (NaN without) */
	double life_weight;		/* pf: the lives' stacking weight, the
					   share of the members drawn from them
					   (NaN without) */
	size_t points;			/* points used, outliers included */
	size_t flagged;			/* points the Hampel filter removed */
	size_t fleet_used;		/* fleet cells in the prior */
	double last_cycle;
	double reference;		/* reference capacity */
	double eol_level;		/* the end-of-life line */
	double rmse;			/* fit residual RMS (pf: the smallest of
					   the pool's fits) */
	double tau;			/* likelihood tempering, n_eff / n (pf:
					   of the best fit in the pool) */
	double rul, rul_lo, rul_hi;	/* cycles beyond last_cycle */
	double eol_cycle, eol_lo, eol_hi;	/* cycle numbers */
	int open;			/* the interval has no upper end */
	int reached;			/* end of life is already in the data */
	char message[BT_ERRMSG_SIZE];	/* why there is no forecast */
};

/* Forecast the end of life of CELL.  FLEET (may be NULL or empty) supplies
 * the particle filter's prior and, with BT_RUL_LIFE in the pool, a share of
 * its members drawn from the fleet cells' lives; a fleet cell with CELL's
 * name is left out.
 * When TRAJ is not NULL it receives the forecast path (free it with
 * bt_rul_trajectory_free).
 *
 * Returns BT_OK with RES filled; BT_EEMPTY (too few points), BT_ERANGE (the
 * capacity does not fade, or rises), BT_ENOCONV (no model could be fitted)
 * with RES->message saying why; BT_EINVAL for bad options; BT_ENOMEM. */
enum bt_status bt_rul_forecast(const struct bt_rul_cell *cell,
			       const struct bt_rul_fleet *fleet,
			       const struct bt_rul_opts *opts,
			       struct bt_rul_result *res,
			       struct bt_rul_trajectory *traj);

/* The model that RES names, as bt-rul writes it into BUF of SIZE bytes:
 * the fitted model's name ("linear"), "pf:" and the pool's names
 * ("pf:linear+exp", "pf:linear+exp+life" with members drawn from the
 * fleet's lives), or "" when end of life is already in the data. */
void bt_rul_result_model(const struct bt_rul_result *res, char *buf,
			 size_t size);

#endif /* BT_RUL_H */
