/* bt_soc.h - state-of-charge estimation over a stream of samples: the
 * engine behind bt-soc(1).
 *
 * An estimator takes one sample at a time (time, current, voltage,
 * temperature) and gives the row's estimate: coulomb counting, an extended
 * or unscented Kalman filter (bt_kf) or a particle filter (bt_pf) on the
 * equivalent-circuit model, a trained CNN-LSTM (bt_net), or the extended
 * filter with the network's soc as a second measurement, with the initial state of charge given or
 * found from the open-circuit voltage, long gaps in the time stamps taken
 * as rest, and (with adaptation) a drift detector on the normalised
 * innovation squared.  A metrics accumulator compares estimates with a
 * reference state of charge.
 *
 * Sampling convention (zero-order hold, as bt-sim writes it): the current
 * of a sample flows until the next sample's time; a sample's voltage is
 * measured while its own current flows.
 *
 * Memory: O(1) in the number of samples (the drift window, the particles
 * and the network's O(W) streaming state are allocated once);
 * bt_soc_update allocates nothing.  The estimator borrows its model and
 * its network.  Current sign: positive = charge.
 */
#ifndef BT_SOC_H
#define BT_SOC_H

#include <stddef.h>
#include <stdint.h>

#include "bt_ecm.h"
#include "bt_kf.h"
#include "bt_net.h"
#include "bt_pf.h"
#include "bt_stats.h"
#include "bt_status.h"

/* A step longer than this is a gap in the log: the cell is taken to have
 * rested through it (no current), not to have carried the last current. */
#define BT_SOC_DEFAULT_MAX_GAP_S 60.0

/* --soc0 auto: a current at or below this magnitude counts as rest. */
#define BT_SOC_DEFAULT_REST_CURRENT_A 0.05

/* Drift detection: the window of normalised innovations squared and the
 * two-sided significance of its chi-square bounds. */
#define BT_SOC_DEFAULT_DRIFT_WINDOW 300
#define BT_SOC_DEFAULT_DRIFT_ALPHA 0.01

/* The interval written as soc_lo and soc_hi: estimate +- this many
 * standard deviations, the two-sided 95 % point of a normal distribution. */
#define BT_SOC_INTERVAL_Z 1.959963984540054

/* nn+ekf: the network's soc as a measurement, its error's standard
 * deviation and correlation time.  With a correlation time each sample is
 * weighed as bt_kf_sample_variance() says, so that a run of correlated
 * outputs is not taken as that many independent ones.  The defaults are
 * the values that did best on real data (the CALCE drive cycles of
 * scripts/eval/nn): white, about the network's own RMSE; bt-soc(1) gives
 * the trade-off measured on the twin. */
#define BT_SOC_DEFAULT_R_NN 0.01
#define BT_SOC_DEFAULT_R_NN_TAU_S 0

/* The error below which an estimate counts as converged (metrics). */
#define BT_SOC_CONVERGED_ERROR 0.02

/* The methods.  Names for the command line: bt_soc_method_name(). */
enum bt_soc_method {
	BT_SOC_CC,	/* coulomb counting */
	BT_SOC_EKF,	/* extended Kalman filter */
	BT_SOC_UKF,	/* unscented Kalman filter */
	BT_SOC_PF,	/* particle filter */
	BT_SOC_NN,	/* the network alone (no cell model) */
	BT_SOC_NN_EKF,	/* ekf with the network's soc as a measurement */
	BT_SOC_NMETHODS
};

struct bt_soc_opts {
	enum bt_soc_method method;
	double soc0;		/* initial soc; NaN: from the OCV (auto) */
	double max_gap_s;	/* longer steps are rest */
	double rest_current_a;	/* rest threshold for soc0 auto */
	struct bt_kf_opts kf;	/* tuning of the filters (method ignored);
				   cc uses p0_soc, q_soc, q_i and the offset's,
				   pf also r_v; q_soc and q_offset_c NaN: the
				   method's default (bt_kf.h, bt_pf.h) */
	size_t particles;	/* pf */
	uint64_t seed;		/* pf */
	size_t drift_window;	/* adaptation: NIS window, samples */
	double drift_alpha;	/* adaptation: significance of the bounds */
	const struct bt_net *net;	/* nn, nn+ekf: the network (borrowed) */
	enum bt_net_stream_mode net_mode;	/* nn, nn+ekf: how it streams */
	double r_nn;		/* nn+ekf: sd of the network's soc error */
	double r_nn_tau_s;	/* nn+ekf: its correlation time, s; 0: white */
};

/* One row's estimate. */
struct bt_soc_row {
	double soc, soc_sd, soc_lo, soc_hi;	/* soc_lo/hi clamped to [0, 1] */
	double v_model_v;	/* the model's voltage before the update */
	double innovation_v;	/* measured minus model voltage (NaN: none) */
	double nis;		/* innovation^2 / its predicted variance */
	double r0_ohm;		/* R0 at the estimate (adapted with adapt) */
	double capacity_ah;	/* capacity in use (adapted with adapt) */
	double nis_mean;	/* mean NIS over the drift window (NaN until full) */
	int drift;		/* adapt: the window mean is above the bound */
	double soc_nn;		/* nn, nn+ekf: the network's output; NaN
				   before its first full window */
};

/* When and how far the measurements left the model (adaptation). */
struct bt_soc_drift {
	double lower, upper;	/* chi-square bounds of the window mean NIS */
	size_t flagged;		/* samples flagged */
	double first_time_s;	/* time of the first flagged sample, or NaN */
	unsigned long first_row;	/* its sample number, 1-based, or 0 */
	double peak_nis_mean;	/* largest window mean NIS, or NaN */
	double peak_time_s;	/* its time */
};

struct bt_soc;
struct bt_writer;

/* Most columns an estimator's row has (bt_soc_columns). */
#define BT_SOC_MAX_COLUMNS 11

/* Returns the command-line name of METHOD ("cc", "ekf", "ukf", "pf", "nn",
 * "nn+ekf"). */
const char *bt_soc_method_name(enum bt_soc_method method);

/* Find the method called NAME and store it in *METHOD.
 * Returns BT_OK, or BT_EINVAL for an unknown name. */
enum bt_status bt_soc_method_parse(const char *name, enum bt_soc_method *method);

/* Fill OPTS with the defaults: method ekf, soc0 auto, the defaults above,
 * bt_kf_opts_init(), BT_PF_DEFAULT_PARTICLES and BT_PF_DEFAULT_SEED, no
 * network, incremental streaming, BT_SOC_DEFAULT_R_NN and
 * BT_SOC_DEFAULT_R_NN_TAU_S.
 *
 * Returns nothing. */
void bt_soc_opts_init(struct bt_soc_opts *opts);

/* Create an estimator of ECM (borrowed) with OPTS (copied).  The filter
 * itself starts at the first sample.  The methods nn and nn+ekf need
 * OPTS->net; nn needs no ECM (it may be NULL).  When an option is invalid
 * and ERRMSG is not NULL, it receives a description.
 *
 * Returns BT_OK, BT_EINVAL or BT_ENOMEM. */
enum bt_status bt_soc_alloc(const struct bt_ecm *ecm, const struct bt_soc_opts *opts,
			    struct bt_soc **soc, char errmsg[BT_ERRMSG_SIZE]);

/* Free SOC; bt_soc_free(NULL) does nothing.
 *
 * Returns nothing. */
void bt_soc_free(struct bt_soc *soc);

/* Take the sample at TIME_S (current CURRENT_A, voltage VOLTAGE_V or NaN
 * when missing, temperature TEMP_C) and fill *ROW.  The first sample sets
 * the initial state (soc0, or with soc0 auto the soc whose OCV at TEMP_C
 * is VOLTAGE_V less R0 times the current).
 *
 * Returns BT_OK; BT_ETIME when TIME_S is before the previous sample's;
 * BT_ENONFINITE when TIME_S, CURRENT_A or TEMP_C is not finite, or when
 * the first sample has no voltage and soc0 is auto; BT_ERANGE when a
 * filter's covariance failed (see bt_kf); BT_EINVAL for the methods nn and
 * nn+ekf, which need bt_soc_update_net; BT_ENOMEM.  After an error the
 * estimator cannot go on. */
enum bt_status bt_soc_update(struct bt_soc *soc, double time_s, double current_a,
			     double voltage_v, double temp_c, struct bt_soc_row *row);

/* bt_soc_update with the network's input channels of the sample in
 * NET_X (the channels of opts->net in its order, physical units; ignored
 * by the other methods, which accept NULL).
 *
 * The network gives no soc before its first full window of W samples:
 * nn writes NaN in row->soc for the first W - 1 samples, and nn+ekf runs
 * as ekf on the voltage alone until then.  nn has no interval (soc_sd,
 * soc_lo, soc_hi NaN) and no model voltage (v_model_v, innovation_v, nis
 * NaN).
 *
 * Returns what bt_soc_update returns, and BT_ENONFINITE when a value of
 * NET_X is not finite, or BT_EINVAL when NET_X is NULL for nn or
 * nn+ekf. */
enum bt_status bt_soc_update_net(struct bt_soc *soc, double time_s,
				 double current_a, double voltage_v,
				 double temp_c, const double *net_x,
				 struct bt_soc_row *row);

/* Returns the initial soc the estimator started from (NaN before the
 * first sample). */
double bt_soc_initial(const struct bt_soc *soc);

/* Returns non-zero when the first sample's current was above the rest
 * threshold, so that soc0 auto read the OCV off a cell under load. */
int bt_soc_initial_under_load(const struct bt_soc *soc);

/* Fill *DRIFT with what the drift detector saw so far.
 *
 * Returns nothing. */
void bt_soc_drift_summary(const struct bt_soc *soc, struct bt_soc_drift *drift);

/* The drift summary as one line for a person ("drift: none; ..." or
 * "drift: the measurements left the model at ..."), in BUF of SIZE bytes.
 *
 * Returns nothing. */
void bt_soc_drift_message(const struct bt_soc *soc, char *buf, size_t size);

/* The soc at which ECM's open-circuit voltage at TEMP_C equals OCV_V, by
 * bisection on the monotone curve, clamped to [0, 1].
 *
 * Returns the state of charge. */
double bt_soc_from_ocv(const struct bt_ecm *ecm, double ocv_v, double temp_c);

/* --- Output rows ----------------------------------------------------------- */

/* The names of the columns bt_soc_write_row writes for METHOD (with
 * --adapt when ADAPT): soc alone for nn; soc, soc_sd, soc_lo, soc_hi,
 * v_model_v, innovation_v and nis for the others, then r0_ohm,
 * capacity_ah and drift with ADAPT, or soc_nn for nn+ekf.  NAMES receives
 * them (static strings) and a NULL after the last.
 *
 * Returns their number. */
size_t bt_soc_columns(enum bt_soc_method method, int adapt,
		      const char *names[BT_SOC_MAX_COLUMNS + 1]);

/* Write ROW's values of those columns to W: a NaN soc, soc_nn,
 * innovation or nis (none) and a drift flag before the window is full as
 * empty fields.
 *
 * Returns nothing (the writer keeps its errors). */
void bt_soc_write_row(struct bt_writer *w, const struct bt_soc_row *row,
		      enum bt_soc_method method, int adapt);

/* --- Metrics against a reference ------------------------------------------ */

struct bt_soc_metrics {
	double skip_s;		/* samples before start + skip_s are left out */
	double start_s;		/* time of the first sample; NaN before it */
	struct bt_stats err;	/* estimate minus reference */
	size_t intervals;	/* samples with an interval */
	size_t inside;		/* references within [soc_lo, soc_hi] */
	double converged_s;	/* time of the first sample after the last
				   one with |error| >= BT_SOC_CONVERGED_ERROR */
	double last_s;		/* time of the last sample taken */
	int any_bad;		/* 0 none yet, 1 seen, 2 the last one was */
	double final_error;	/* the last sample's error */
};

struct bt_soc_summary {
	size_t n;			/* samples compared */
	double rmse, mae, max_abs, bias;
	double coverage;		/* fraction inside the 95 % interval; NaN
					   without intervals */
	double convergence_s;		/* from the start until |error| stays
					   below BT_SOC_CONVERGED_ERROR; NaN
					   when it never does */
	double final_error;		/* the last sample's error */
};

/* Start an accumulation that leaves out the first SKIP_S seconds.
 *
 * Returns nothing. */
void bt_soc_metrics_init(struct bt_soc_metrics *m, double skip_s);

/* Take the sample at TIME_S with estimate ROW and reference REFERENCE (a
 * NaN reference or estimate is no sample: it is left out).
 *
 * Returns nothing. */
void bt_soc_metrics_add(struct bt_soc_metrics *m, double time_s,
			const struct bt_soc_row *row, double reference);

/* Returns the summary of what M has taken (NaN metrics when nothing). */
struct bt_soc_summary bt_soc_metrics_summary(const struct bt_soc_metrics *m);

/* Write the names of the metrics (method, reference, n, rmse, mae,
 * max_abs, bias, coverage, convergence_s, final_error), end that row, and
 * write the values of S for METHOD against the column REFERENCE, leaving
 * the row for the caller to end.
 *
 * Returns the status of ending the names' row (bt_writer_end_row). */
enum bt_status bt_soc_write_summary(struct bt_writer *w, const char *method,
				    const char *reference,
				    const struct bt_soc_summary *s);

#endif /* BT_SOC_H */
