/* bt_pf.h - a particle filter of state of charge on the equivalent-circuit
 * model: sequential importance resampling (SIR, the bootstrap filter of
 * Gordon, Salmond and Smith 1993) with systematic resampling whenever the
 * effective sample size falls below BT_PF_RESAMPLE_ESS of the particles,
 * regularised (Musso, Oudjane and Le Gland 2001) and with progressive
 * correction of updates that would leave too few particles (Oudjane and
 * Musso 2000).
 *
 * The particles carry the state of charge, the state the measurement
 * depends on nonlinearly (through the open-circuit voltage), and an offset
 * of the current sensor, which a coulomb count cannot see and a voltage
 * filter must: a constant offset b makes the count drift by b dt / 3600 Q
 * and shifts the voltage by the DC resistance (R0 + sum R_k) times b.
 * The RC voltages and the hysteresis state, which move linearly with the
 * current and hardly with the soc, are propagated once per sample with
 * the parameters at the posterior mean, as a shared part of every
 * particle's state.  Each particle's soc follows the coulomb count of the
 * current less its offset, plus a Gaussian random walk that holds the
 * current sensor noise and the process noise; its offset follows a slow
 * random walk.
 *
 * The OCV table is not the cell's: measured on a sister cell, its curve
 * lies up to a few points of soc off along the soc axis (cells of one
 * type differ in capacity and electrode balance, which moves the curve
 * along that axis).  Each particle carries that error as a soc shift e
 * of the table, OCV(z + e), a first-order Gauss-Markov process (sd
 * ocv_sd, correlation time ocv_tau_s), linearised and integrated out
 * analytically (Rao-Blackwellised: a scalar Kalman filter per particle,
 * Doucet, de Freitas, Murphy and Russell 2000), so that the weight of a
 * particle is the marginal likelihood of the voltage given its soc.
 * Before it the filter took the table for the truth and its interval held
 * the reference 72-91 % of the time on the CALCE 80SOC drive cycles
 * (93-95 % with it: scripts/eval/soc).
 *
 * The open-circuit voltage of each particle comes from a uniform table per
 * temperature level of the model (BT_PF_OCV_TABLE_POINTS points, linear
 * between them, blended linearly in temperature as bt_ecm_ocv() does), so
 * that a particle-step costs a few arithmetic operations, two Gaussian
 * draws (from one 64-bit draw), a square root and one exponential
 * (inline, table-driven: Tang 1989); outside the table its end
 * intervals continue it, as bt_ecm_ocv() continues the curve.
 *
 * Randomness comes from xoshiro256** (Blackman and Vigna 2021) seeded by
 * splitmix64 from the options, with Gaussian draws by the ziggurat method
 * (Marsaglia and Tsang 2000, 256 layers) on independent bits for the
 * layer and the value (Doornik 2005), both inline: the same seed and data
 * give the same estimates, bit for bit.
 *
 * Memory: O(particles), allocated once; predict and update allocate
 * nothing.  The filter borrows its model.  Current sign: positive = charge.
 */
#ifndef BT_PF_H
#define BT_PF_H

#include <stddef.h>
#include <stdint.h>

#include "bt_ecm.h"
#include "bt_kf.h"
#include "bt_status.h"

#define BT_PF_DEFAULT_PARTICLES 500
#define BT_PF_DEFAULT_SEED 1
#define BT_PF_MAX_PARTICLES 10000000

/* The random walks of the soc and of the current offset are the Kalman
 * filters' (bt_kf.h): the regularisation kernel, not a wider walk (the
 * roughening of Gordon, Salmond and Smith 1993, sec. 4, which this
 * filter used before), keeps resampled particles from collapsing onto a
 * few values, so that the model's process noise is the same for every
 * method. */
#define BT_PF_DEFAULT_Q_SOC BT_KF_DEFAULT_Q_SOC
#define BT_PF_DEFAULT_P0_OFFSET_C BT_KF_DEFAULT_P0_OFFSET_C
#define BT_PF_DEFAULT_Q_OFFSET_C BT_KF_DEFAULT_Q_OFFSET_C

/* The OCV table's error as a shift along the soc axis: its standard
 * deviation and correlation time.  One point of soc is what OCV curves
 * of sister cells differ by (the CALCE INR18650-20R table is off by up to
 * 19 mV at rest, 1-2 points where the curve is steep); 600 s is within
 * the 230-820 s integral time scale of the fitted model's error along
 * the CALCE drive cycles (bt-soc(1), Tuning). */
#define BT_PF_DEFAULT_OCV_SD 0.01	/* soc */
#define BT_PF_DEFAULT_OCV_TAU_S 600.0	/* s */

/* Resample when the effective sample size 1 / sum(w^2) falls below this
 * fraction of the particles. */
#define BT_PF_RESAMPLE_ESS 0.5

/* Progressive correction (Oudjane and Musso 2000): an update that would
 * leave an effective sample size below BT_PF_COLLAPSE_ESS of the
 * particles (the first sample against a wide --p0, or after a long gap)
 * is applied in stages, the likelihood raised to powers that sum to 1,
 * each taking the effective sample size down to BT_PF_RESAMPLE_ESS,
 * followed by resampling and the regularisation kernel; at most
 * BT_PF_MAX_STAGES stages, the last taking what is left. */
#define BT_PF_COLLAPSE_ESS 0.1
#define BT_PF_MAX_STAGES 30

/* The OCV lookup table: points per temperature level and its soc range.
 * With 4096 points over [-0.25, 1.25] linear interpolation departs from
 * the PCHIP curve by microvolts (h^2 max|OCV''| / 8); the range holds the
 * model's [0, 1] with a margin, beyond which bt_ecm_ocv() is a straight
 * line that the table's end intervals continue exactly. */
#define BT_PF_OCV_TABLE_POINTS 4096
#define BT_PF_OCV_TABLE_LO (-0.25)
#define BT_PF_OCV_TABLE_HI 1.25

struct bt_pf_opts {
	size_t particles;	/* number of particles, >= 2 */
	uint64_t seed;		/* seed of the generator */
	double q_soc;		/* soc random walk, per sqrt(s) */
	double q_i;		/* current sensor noise, A per sample */
	double p0_offset_c;	/* sd of the initial current offsets, C-rate */
	double q_offset_c;	/* their random walk, C-rate per sqrt(s) */
	double r_v;		/* voltage noise and model error sd, V */
	double r_tau_s;		/* its correlation time, s (bt_kf_sample_variance) */
	double p0_soc;		/* sd of the initial particle cloud */
	double ocv_sd;		/* the OCV table's soc-axis error, sd; 0: none */
	double ocv_tau_s;	/* its correlation time, s (> 0) */
};

/* What one measurement update found, for the output of a row. */
struct bt_pf_result {
	double soc, soc_sd;	/* weighted mean and sd after the update */
	double v_model_v;	/* mean predicted voltage before the update */
	double innovation_v;	/* measured minus predicted; NaN without a voltage */
	double innovation_var;	/* spread of the predictions plus the OCV
				   error's and the sample's variance of
				   bt_kf_sample_variance(), V^2 */
	double nis;		/* innovation^2 / innovation_var, or NaN */
	double r0_ohm;		/* the model's R0 at the mean */
};

struct bt_pf;

/* Fill OPTS with the BT_PF_DEFAULT values and, for the rest, the noise
 * defaults of bt_kf.h (BT_KF_DEFAULT_R_V and the others).
 *
 * Returns nothing. */
void bt_pf_opts_init(struct bt_pf_opts *opts);

/* Create a particle filter of ECM (borrowed) with OPTS, its particles
 * drawn around SOC0 with sd p0_soc, the cell at rest, and store it in
 * *PF.  When an option is invalid and ERRMSG is not NULL, it receives a
 * description naming it.
 *
 * Returns BT_OK, BT_EINVAL or BT_ENOMEM. */
enum bt_status bt_pf_alloc(const struct bt_ecm *ecm, const struct bt_pf_opts *opts,
			   double soc0, struct bt_pf **pf,
			   char errmsg[BT_ERRMSG_SIZE]);

/* Free PF; bt_pf_free(NULL) does nothing.
 *
 * Returns nothing. */
void bt_pf_free(struct bt_pf *pf);

/* Move every particle DT_S seconds on with CURRENT_A held, at TEMP_C.
 *
 * Returns BT_OK, or BT_EINVAL for a negative DT_S or a non-finite value. */
enum bt_status bt_pf_predict(struct bt_pf *pf, double current_a, double dt_s,
			     double temp_c);

/* Weight the particles by the likelihood of VOLTAGE_V measured while
 * CURRENT_A flows at TEMP_C, fill *RES, and resample (systematic) when
 * the weights have degenerated.  A NaN
 * voltage reports the prediction and changes nothing.
 *
 * Returns BT_OK, or BT_EINVAL for a non-finite current or temperature. */
enum bt_status bt_pf_update(struct bt_pf *pf, double current_a, double voltage_v,
			    double temp_c, struct bt_pf_result *res);

/* Returns the particles' soc values (bt_pf_count() of them), owned by PF
 * and valid until its next call. */
const double *bt_pf_particles(const struct bt_pf *pf);

/* Returns the number of particles. */
size_t bt_pf_count(const struct bt_pf *pf);

#endif /* BT_PF_H */
