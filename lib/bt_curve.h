/* bt_curve.h - a cycle's discharge curve resampled to a fixed length, the
 * input of the CNN-LSTM state-of-health model (bt-soh train, predict), and
 * the training set built from such curves.
 *
 * A struct bt_curve collects the discharge samples of one cycle (|I| at
 * least rest_a, I < 0), up to and including the first one below cutoff_v
 * when a cutoff is set, as bt_cycle's capacity does.  bt_curve_resample
 * interpolates them linearly in time onto POINTS times STEP_S apart from
 * the first collected sample, giving for each point the channels
 * voltage_v, current_a and, when the input has it, temperature_c; after
 * the last collected sample the cell is taken to rest where it ended (its
 * last voltage and temperature, zero current).  The time axis is absolute,
 * not stretched to each discharge, so that the knee of a cell that holds
 * less charge comes earlier: that is what carries the state of health
 * from one cell to another (stretching every discharge to POINTS samples
 * gave 6 to 30 % RMSE on a held-out NASA cell, this 1 %).
 *
 * Memory: the cycle's discharge samples, in a buffer grown geometrically
 * and reused from cycle to cycle (so bounded by the longest discharge, not
 * by the stream); nothing is allocated per sample once it has grown.
 */
#ifndef BT_CURVE_H
#define BT_CURVE_H

#include <stddef.h>

#include "bt_status.h"
#include "bt_stream.h"

/* Channels of a resampled curve, in order; the last only with temperature. */
#define BT_CURVE_MAX_CHANNELS 3
/* The default resampled length (the bt_net default window) and period:
 * 4000 s, a 1 C discharge (NASA's 2 A on 2 Ah cells lasts up to 3700 s). */
#define BT_CURVE_DEFAULT_POINTS 100
#define BT_CURVE_DEFAULT_STEP_S 40.0
/* Training epochs bt-soh train runs by default: a few hundred curves make
 * few minibatches per epoch, so it takes more epochs than bt_net's default
 * (early stopping on the held-out curves ends it sooner). */
#define BT_CURVE_DEFAULT_EPOCHS 300
/* ... and more patience: with 5 epochs the training stops while the
 * held-out NASA cell's RMSE is still falling (2.1-2.4 % for B0006, 1.95 %
 * with 20). */
#define BT_CURVE_DEFAULT_PATIENCE 20
/* Fewest discharge samples a curve needs. */
#define BT_CURVE_MIN_SAMPLES 2

/* Returns the name of channel I (< BT_CURVE_MAX_CHANNELS). */
const char *bt_curve_channel(unsigned i);

struct bt_curve;

/* Create a collector: REST_A the rest threshold, CUTOFF_V the cutoff (NaN:
 * none), TEMPERATURE whether samples carry a temperature (3 channels) or
 * not (2).  Returns BT_OK, BT_EINVAL or BT_ENOMEM. */
enum bt_status bt_curve_alloc(struct bt_curve **c, double rest_a,
			      double cutoff_v, int temperature);
void bt_curve_free(struct bt_curve *c);

/* Returns the number of channels of C's curves (2 or 3). */
unsigned bt_curve_channels(const struct bt_curve *c);

/* Forget the cycle's samples.  Returns nothing. */
void bt_curve_reset(struct bt_curve *c);

/* Take one sample of the cycle (finite time, current and voltage; the
 * temperature is used only with TEMPERATURE and must then be finite for a
 * discharge sample).  Returns BT_OK, BT_ENONFINITE (a discharge sample
 * without temperature; nothing is taken) or BT_ENOMEM. */
enum bt_status bt_curve_add(struct bt_curve *c, double time_s, double current_a,
			    double voltage_v, double temperature_c);

/* Resample the cycle's discharge onto POINTS (>= 2) times STEP_S (> 0)
 * apart: X receives POINTS rows of bt_curve_channels(C) values, oldest
 * first (the layout of bt_net_batch_forward).  Returns BT_OK, or BT_EEMPTY
 * when fewer than BT_CURVE_MIN_SAMPLES discharge samples, or no time
 * between them, were taken. */
enum bt_status bt_curve_resample(const struct bt_curve *c, size_t points,
				 double step_s, double *x);

/* ---- training sets and ensembles (bt_net) ----------------------------- */

struct bt_net;
struct bt_net_data;

/* The target column name of a state-of-health network. */
#define BT_CURVE_TARGET "soh"
/* The ensemble interval: mean -/+ this many standard deviations of the
 * members' predictions (a 95 % interval for a normal spread). */
#define BT_CURVE_INTERVAL_Z 1.959963984540054

/* A training set: each cycle's curve waits in a queue until its target
 * (soh, from the bt_cycle health stage, which lets cycles out in order
 * and later) arrives, then becomes one series of POINTS samples with that
 * target.  Memory: the bt_net training set (the whole of it, as training
 * needs) and the curves waiting. */
struct bt_curve_set;

/* Returns BT_OK, BT_EINVAL or BT_ENOMEM. */
enum bt_status bt_curve_set_alloc(struct bt_curve_set **set, unsigned channels,
				  size_t points);
void bt_curve_set_free(struct bt_curve_set *set);

/* Queue the next cycle's curve X (POINTS rows of CHANNELS values), or NULL
 * for a cycle that has none.  Returns BT_OK or BT_ENOMEM. */
enum bt_status bt_curve_set_push(struct bt_curve_set *set, const double *x);

/* The target of the oldest queued cycle: its curve joins the training set
 * when both are there and SOH is finite.  Returns BT_OK, BT_EINVAL (no
 * cycle queued) or BT_ENOMEM. */
enum bt_status bt_curve_set_target(struct bt_curve_set *set, double soh);

/* The training set built so far (owned by SET). */
const struct bt_net_data *bt_curve_set_data(const struct bt_curve_set *set);

/* Check that NET reads curves of CHANNELS channels (the channel names of
 * bt_curve_channel) and predicts soh, with a sample period (the curves'
 * step; bt-soh train stores it there).  Returns BT_OK or BT_EINVAL. */
enum bt_status bt_curve_check_net(const struct bt_net *net, unsigned channels);

/* An ensemble of networks (borrowed) evaluated together. */
struct bt_curve_ensemble;

/* Returns BT_OK or BT_ENOMEM. */
enum bt_status bt_curve_ensemble_alloc(struct bt_curve_ensemble **e,
				       struct bt_net *const *nets, size_t n);
void bt_curve_ensemble_free(struct bt_curve_ensemble *e);

/* Evaluate every member on the curve X: *MEAN the mean prediction, *SD the
 * sample standard deviation across members (NaN with one member).
 * Returns BT_OK or BT_EINVAL. */
enum bt_status bt_curve_ensemble_predict(struct bt_curve_ensemble *e,
					 const double *x, double *mean, double *sd);

/* The columns of bt-soh predict (cycle, soh, soh_sd, soh_lo, soh_hi) after
 * a column named GROUP when it is not NULL.  Returns nothing. */
void bt_curve_write_names(struct bt_writer *w, const char *group);

/* One row of them: after the GLEN bytes of GROUP (when not NULL), CYCLE,
 * MEAN, SD and MEAN -/+ BT_CURVE_INTERVAL_Z SD, NaN values as empty
 * fields; the row is not ended.  Returns nothing. */
void bt_curve_write_prediction(struct bt_writer *w, const char *group,
			       size_t glen, double cycle, double mean, double sd);

#endif /* BT_CURVE_H */
