/* bt_kf.h - Kalman filters on the equivalent-circuit model: the extended
 * (EKF) and the unscented, sigma-point (UKF) filter of state of charge.
 *
 * The filter state is the model's state vector of bt_ecm.h,
 *
 *     x = [ soc, v_1, ..., v_n, h ]
 *
 * (h only when the model has hysteresis), and with adaptation (joint
 * estimation, Plett 2004 Part 3 sec. 4) two parameters more:
 *
 *     x = [ soc, v_1, ..., v_n, h, k_r0, capacity_ah ]
 *
 * where k_r0 scales the model's R0 table (the cell's R0 is k_r0 times the
 * table's value at the present soc and temperature) and capacity_ah
 * replaces the model's capacity in the coulomb count.  Both follow random
 * walks.  The temperature is a measured input, never a state.
 *
 * Unless p0_offset is 0 or the filter adapts (bt_kf.c says why), the
 * state ends with the offset b of the current sensor (A), as in the particle filter of bt_pf.h: the cell carries the
 * measured current less b, so that a constant offset, which makes a
 * coulomb count drift by b dt / 3600 Q, is estimated from the voltage
 * instead of being absorbed by the soc's process noise.  It follows a slow
 * random walk.
 *
 * The process model is one bt_ecm_step() per sample (zero-order hold, the
 * current of a sample held until the next); the measurement is the
 * terminal voltage bt_ecm_voltage().  The covariance stays symmetric and
 * positive definite by construction: the EKF's measurement update is the
 * Joseph form, and the UKF's covariance weights are all non-negative (the
 * options are checked) so that its prediction is a sum of positive
 * semidefinite terms, and its update is written in the same Joseph form
 * with the statistically linearised measurement (see bt_kf.c).
 *
 * Current sign: positive = charge.
 *
 * Memory: a filter borrows its model (which must outlive it) and holds a
 * few hundred bytes; predict and update allocate nothing.
 */
#ifndef BT_KF_H
#define BT_KF_H

#include <stddef.h>

#include "bt_ecm.h"
#include "bt_status.h"

/* Largest filter state: the model's state plus k_r0, the capacity and
 * the current offset. */
#define BT_KF_MAX_STATE (BT_ECM_MAX_STATE + 3)

/* Defaults of struct bt_kf_opts (bt_kf_opts_init).  Process noises are
 * standard deviations of random walks over one second: over a step of dt
 * seconds the state's variance grows by q^2 dt. */
#define BT_KF_DEFAULT_Q_SOC 1e-6	/* soc per sqrt(s) */
#define BT_KF_DEFAULT_Q_V 1e-4		/* each RC voltage, V per sqrt(s) */
#define BT_KF_DEFAULT_Q_H 1e-3		/* hysteresis state per sqrt(s) */
#define BT_KF_DEFAULT_Q_I 0.01		/* current sensor noise, A per sample */
#define BT_KF_DEFAULT_R_V 0.008		/* voltage noise and model error, V */
#define BT_KF_DEFAULT_R_TAU_S 200	/* that error's correlation time, s */
#define BT_KF_DEFAULT_P0_SOC 0.2	/* initial soc standard deviation */
#define BT_KF_DEFAULT_P0_V 0.01		/* initial RC voltage sd, V */
#define BT_KF_DEFAULT_P0_H 0.5		/* initial hysteresis sd */
#define BT_KF_DEFAULT_Q_R0 1e-4		/* k_r0 per sqrt(s) */
#define BT_KF_DEFAULT_Q_CAPACITY 0	/* capacity fraction per sqrt(s) */
#define BT_KF_DEFAULT_P0_R0 0.1		/* initial sd of k_r0 */
#define BT_KF_DEFAULT_P0_CAPACITY 0.1	/* initial sd of the capacity, fraction */
/* The current sensor offset: initial sd 0.02 C (50 mA on a 2.5 Ah cell,
 * a plain Hall-effect sensor's order of offset) and a slow walk. */
#define BT_KF_DEFAULT_P0_OFFSET_C 0.02	/* C-rate */
#define BT_KF_DEFAULT_Q_OFFSET_C 1e-6	/* C-rate per sqrt(s) */

/* The unscented transform's scaling (Wan and van der Merwe 2000): alpha
 * 1, beta 2, kappa 0 gives every covariance weight a non-negative value
 * (the centre point's is 2), which is what keeps the covariance positive
 * definite; the small alpha often quoted makes the centre weight large and
 * negative. */
#define BT_KF_DEFAULT_UKF_ALPHA 1.0
#define BT_KF_DEFAULT_UKF_BETA 2.0
#define BT_KF_DEFAULT_UKF_KAPPA 0.0

/* The range of the soc onto which the unscented filter projects its sigma
 * points before it takes their mean and covariance again (Kandepu, Foss
 * and Imsland 2008): far beyond [0, 1] the OCV is an extrapolation no cell
 * shows.  The range is [0, 1] widened by 5 %, because a real cell reads a
 * few per cent outside it when its capacity differs from the model's (the
 * CALCE references reach -3.6 %), and because a bound at exactly 1 would
 * cut the spread of a cell resting full and pull its mean inwards at every
 * step (0.7 % low after an hour at rest, 2.2 sd).  The mean itself is not
 * clamped. */
#define BT_KF_SOC_MIN (-0.05)
#define BT_KF_SOC_MAX 1.05

/* Bounds the adapted parameters are kept within after each update, as
 * fractions of the model's values. */
#define BT_KF_MIN_PARAM_FRACTION 0.05
#define BT_KF_MAX_PARAM_FRACTION 20.0

enum bt_kf_method {
	BT_KF_EKF,	/* extended Kalman filter */
	BT_KF_UKF	/* unscented (sigma-point) Kalman filter */
};

struct bt_kf_opts {
	enum bt_kf_method method;
	double q_soc, q_v, q_h;	/* process noise, per sqrt(s) */
	double q_i;		/* current noise, A per sample, through dx/di */
	double r_v;		/* measurement noise sd, V */
	double r_tau_s;		/* its correlation time, s; 0: white */
	double p0_soc, p0_v, p0_h;	/* initial standard deviations */
	int adapt;		/* also estimate k_r0 and the capacity */
	double q_r0, q_capacity;	/* their random walks, per sqrt(s);
					   q_capacity as a fraction of the
					   model's capacity */
	double p0_r0, p0_capacity;	/* their initial sd (capacity: fraction) */
	double p0_offset_c;	/* initial sd of the current offset, C-rate;
				   0: no offset state */
	double q_offset_c;	/* its random walk, C-rate per sqrt(s) */
	double ukf_alpha, ukf_beta, ukf_kappa;
};

/* What one measurement update found, for the output of a row. */
struct bt_kf_result {
	double soc, soc_sd;	/* after the update */
	double v_model_v;	/* the predicted voltage before the update */
	double innovation_v;	/* measured minus predicted; NaN without a voltage */
	double innovation_var;	/* its predicted variance S, V^2 */
	double nis;		/* innovation^2 / S; NaN without a voltage */
	double r0_ohm;		/* the cell's R0 at the state (k_r0 applied) */
	double capacity_ah;	/* the capacity in use */
	double offset_a;	/* the current offset estimate (0 without it) */
};

struct bt_kf;

/* The variance with which a filter that takes its samples as independent
 * must weigh one sample of a voltage error of sd R_V and correlation time
 * TAU_S taken DT_S after the previous one, so that the information it
 * draws from a run equals what the run holds.  For a first-order
 * Gauss-Markov error, phi = exp(-DT_S / TAU_S), N samples hold as much
 * as N (1 - phi) / (1 + phi) independent ones (the effective sample size
 * of an AR(1) series: C. S. Bretherton et al., "The effective number of
 * spatial degrees of freedom of a time-varying field", J. Climate 12
 * (1999) 1990-2009, eq. (31)), so each weighs
 *
 *     R_V^2 (1 + phi) / (1 - phi).
 *
 * A model fitted on a sister cell is off by tens of millivolts for tens of
 * seconds at a time; without this the filters grow as confident from ten
 * samples a second as if each told something new.
 *
 * Returns R_V^2 when TAU_S is 0, infinity when DT_S is 0 and TAU_S is not
 * (a second sample at the same time tells nothing new). */
double bt_kf_sample_variance(double r_v, double tau_s, double dt_s);

/* Fill OPTS with the defaults above, method EKF, no adaptation.
 *
 * Returns nothing. */
void bt_kf_opts_init(struct bt_kf_opts *opts);

/* Create a filter of ECM (borrowed) with OPTS (copied), its state at rest
 * at SOC0 (RC voltages 0, hysteresis 0, k_r0 1, the model's capacity) and
 * the covariance diagonal from the p0 values, and store it in *KF.  When
 * an option is invalid and ERRMSG is not NULL, it receives a description
 * naming the option ("r_v must be positive").
 *
 * Returns BT_OK, BT_EINVAL for an invalid option or SOC0, or BT_ENOMEM. */
enum bt_status bt_kf_alloc(const struct bt_ecm *ecm, const struct bt_kf_opts *opts,
			   double soc0, struct bt_kf **kf,
			   char errmsg[BT_ERRMSG_SIZE]);

/* Free KF; bt_kf_free(NULL) does nothing.
 *
 * Returns nothing. */
void bt_kf_free(struct bt_kf *kf);

/* Time update: advance the state DT_S seconds with CURRENT_A held and the
 * cell at TEMP_C, and the covariance with it plus the process noise.
 *
 * Returns BT_OK, BT_EINVAL when DT_S is negative or a value not finite,
 * or BT_ERANGE when the covariance stopped being positive definite (which
 * the construction excludes in exact arithmetic; the filter is then
 * unchanged). */
enum bt_status bt_kf_predict(struct bt_kf *kf, double current_a, double dt_s,
			     double temp_c);

/* Measurement update with the terminal voltage VOLTAGE_V measured while
 * CURRENT_A flows at TEMP_C; fill *RES.  A NaN voltage makes no update
 * (the prediction is reported, innovation and nis NaN).
 *
 * Returns BT_OK, BT_EINVAL for a non-finite current or temperature, or
 * BT_ERANGE as bt_kf_predict() does. */
enum bt_status bt_kf_update(struct bt_kf *kf, double current_a, double voltage_v,
			    double temp_c, struct bt_kf_result *res);

/* Measurement update with a direct, noisy measurement SOC of the state of
 * charge with standard deviation SD (> 0), such as a data-driven
 * estimator's output: the linear measurement z = soc + noise, H = [1 0
 * ... 0], in the Joseph form ([BSLK01] eq. 5.2.3-18) as the voltage
 * update.  Independent measurements of one sample may be applied one
 * after the other, the voltage first: the result is that of the joint
 * update.  RES->soc and RES->soc_sd are refreshed; the other fields
 * are left as they are.  A NaN SOC makes no update.
 *
 * Returns BT_OK, or BT_EINVAL when SD is not positive and finite or SOC is
 * infinite. */
enum bt_status bt_kf_update_soc(struct bt_kf *kf, double soc, double sd,
				struct bt_kf_result *res);

/* Returns the length of the filter state (bt_ecm_state_dim(), plus 2
 * with adaptation or else 1 with the current offset). */
size_t bt_kf_dim(const struct bt_kf *kf);

/* Copy the state estimate into X (bt_kf_dim() doubles) and, when P is not
 * NULL, the covariance into P (row-major, dim by dim).
 *
 * Returns nothing. */
void bt_kf_state(const struct bt_kf *kf, double *x, double *p);

#endif /* BT_KF_H */
