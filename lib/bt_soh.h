/* bt_soh.h - one bt-soh run: a time series (or a per-cycle table) read
 * cycle by cycle and turned into per-cycle health rows, incremental
 * capacity curves or peaks, state-of-health predictions, or a trained
 * CNN-LSTM model.
 *
 * A run wires the stages of the lower modules: bt_cycle's iterator and
 * health stage (cycles, history), bt_ica (ica), and bt_curve with bt_net
 * (train, predict).  The caller creates it from struct bt_soh_opts, loads
 * the models (predict), gives it the reader (bt_soh_open), and then either
 * hands it a writer (bt_soh_write) or has it train (bt_soh_train).
 *
 * Memory: a run streams; it holds one cycle (the ica bins, the discharge
 * curve) and the few cycles the health stage waits on, except for train,
 * which keeps the whole training set as training needs.  The run owns its
 * stages and the models it loads or trains; the reader, the writer and the
 * strings in the options are borrowed and must outlive it.
 *
 * Errors: every function that fails leaves a one-line description for
 * bt_soh_errmsg ("FILE:LINE: what is wrong", "out of memory", ...),
 * without the program's name.
 */
#ifndef BT_SOH_H
#define BT_SOH_H

#include <stddef.h>

#include "bt_cycle.h"
#include "bt_ica.h"
#include "bt_net.h"
#include "bt_status.h"
#include "bt_stream.h"

/* Most models a prediction averages. */
#define BT_SOH_MAX_MODELS 16

/* What a run does, in the order of bt-soh's subcommands. */
enum bt_soh_task {
	BT_SOH_CYCLES,		/* per-cycle health rows from a time series */
	BT_SOH_HISTORY,		/* soh and flag for a per-cycle table */
	BT_SOH_ICA,		/* dQ/dV and dV/dQ, or their peaks */
	BT_SOH_TRAIN,		/* a CNN-LSTM model from the discharge curves */
	BT_SOH_PREDICT,		/* an ensemble's soh per cycle */
	BT_SOH_NTASKS
};

/* Options of a run.  Plain data: fill with bt_soh_opts_init, then change. */
struct bt_soh_opts {
	enum bt_soh_task task;
	const char *group;		/* cell column, or NULL for one cell */
	const char *capacity;		/* history: capacity column, or NULL */
	int peaks;			/* ica: write peaks, not curves */
	const char *const *models;	/* train: the one to write; predict: */
	size_t nmodels;			/* those to apply (<= BT_SOH_MAX_MODELS) */
	size_t points;			/* train: samples of a resampled curve */
	double step_s;			/* train: seconds between them */
	struct bt_cycle_opts cyc;
	struct bt_cycle_health_opts health;
	struct bt_ica_opts ica;
	struct bt_net_train_opts train;
};

/* Fill OPTS with the defaults: cycles, no group, the defaults of the
 * lower modules, and BT_CURVE_DEFAULT_POINTS, _STEP_S, _EPOCHS and
 * _PATIENCE for the curves and the training.  Returns nothing. */
void bt_soh_opts_init(struct bt_soh_opts *opts);

struct bt_soh;

/* Create a run with a copy of OPTS (its strings are borrowed).  Returns
 * BT_OK, BT_EINVAL (more than BT_SOH_MAX_MODELS models) or BT_ENOMEM; on
 * failure *RUN is NULL. */
enum bt_status bt_soh_alloc(struct bt_soh **run, const struct bt_soh_opts *opts);
void bt_soh_free(struct bt_soh *run);

/* predict: load the models, whose curves (points and step) then replace
 * those of the options; other tasks: nothing.  Returns BT_OK, the loader's
 * status, or BT_EINVAL when two models read different curves. */
enum bt_status bt_soh_load_models(struct bt_soh *run);

/* Set up the stages of the task on the input R (its columns, the cell
 * column, a model fitting the input's channels).  Returns BT_OK, the
 * reader's status (with its message), BT_EINVAL (a model that does not
 * fit) or BT_ENOMEM. */
enum bt_status bt_soh_open(struct bt_soh *run, struct bt_reader *r);

/* cycles, history, ica, predict: write the header and every row of the
 * task to W, reading the input to its end.  Returns BT_OK; BT_EEMPTY when
 * the input has no data rows; BT_EIO for a write error; a reader status
 * (a bad row, a voltage spanning more than BT_ICA_MAX_BINS bins, a
 * discharge sample without temperature); or BT_ENOMEM. */
enum bt_status bt_soh_write(struct bt_soh *run, struct bt_writer *w);

/* train: read the input to its end, train the network on each cycle's
 * discharge curve against its soh, and save it as the options' model;
 * *REP receives the training's report.  Returns BT_OK; BT_EEMPTY (no data
 * rows, or no cycle to train on); a reader status; the status of bt_net's
 * training or saving; or BT_ENOMEM. */
enum bt_status bt_soh_train(struct bt_soh *run, struct bt_net_report *rep);

/* The description of the last error, valid until the next call on RUN or
 * on its reader or writer. */
const char *bt_soh_errmsg(const struct bt_soh *run);

#endif /* BT_SOH_H */
