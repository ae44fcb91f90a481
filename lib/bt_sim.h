/* bt_sim.h - a cell simulator: drives a bt_ecm model with a test protocol
 * or a given current profile and produces what a cycler would log, with
 * seeded measurement noise.  It is the project's digital twin: bt-sim
 * writes its rows, and the round-trip tests fit and filter them.
 *
 * A simulator borrows its model (which must outlive it) and owns two
 * GSL random number generators (MT19937).  It holds O(1) memory whatever
 * the length of the run and allocates nothing per row.
 *
 * Sampling convention (zero-order hold, as in Plett's discrete-time
 * model): row k is the sample at time t_k.  Its current i_k is the current
 * applied over [t_k, t_{k+1}); its voltage is the terminal voltage of the
 * state at t_k carrying i_k.  Row 0 is the initial state at t = 0 (or at
 * the first profile time).  A step of duration D at sample period dt
 * covers ceil(D/dt) samples; the row at which a step ends (its time is
 * up, or its condition is met) is the first row of the next step.
 *
 * Current sign: positive = charge, negative = discharge.
 */
#ifndef BT_SIM_H
#define BT_SIM_H

#include <stdint.h>

#include "bt_ecm.h"
#include "bt_status.h"

/* Defaults of struct bt_sim_opts (bt_sim_opts_init). */
#define BT_SIM_DEFAULT_SOC0 1.0
#define BT_SIM_DEFAULT_DT_S 1.0
#define BT_SIM_DEFAULT_SEED 1

/* HPPC defaults, after the INL Battery Test Manual's hybrid pulse power
 * characterisation (INL/EXT-15-34184, 2015): 10 % soc steps, a 10 s
 * discharge pulse, 40 s rest, a 10 s charge pulse at 0.75 times the
 * discharge pulse, 40 s rest, a C/3 discharge to the next step and a long
 * rest (the manual asks for 1 h; 30 min keeps files small). */
#define BT_SIM_HPPC_SOC_STEP 0.1
#define BT_SIM_HPPC_SOC_FLOOR 0.1
#define BT_SIM_HPPC_INITIAL_REST_S 60.0
#define BT_SIM_HPPC_DISCHARGE_PULSE_C 1.0
#define BT_SIM_HPPC_DISCHARGE_PULSE_S 10.0
#define BT_SIM_HPPC_PULSE_REST_S 40.0
#define BT_SIM_HPPC_CHARGE_PULSE_C 0.75
#define BT_SIM_HPPC_CHARGE_PULSE_S 10.0
#define BT_SIM_HPPC_DISCHARGE_C (1.0 / 3.0)
#define BT_SIM_HPPC_REST_S 1800.0

/* Drive-cycle defaults: one hour, stop at 10 % soc, current peaks of 2C
 * discharge and 1C regenerative charge, as in the DST and FUDS schedules
 * of the USABC Electric Vehicle Battery Test Procedures Manual. */
#define BT_SIM_DRIVE_DURATION_S 3600.0
#define BT_SIM_DRIVE_SOC_FLOOR 0.1
#define BT_SIM_DRIVE_PEAK_DISCHARGE_C 2.0
#define BT_SIM_DRIVE_PEAK_REGEN_C 1.0

/* The program steps of the HPPC protocol, as written in the step column. */
enum bt_sim_hppc_step {
	BT_SIM_HPPC_STEP_INITIAL_REST = 1,
	BT_SIM_HPPC_STEP_DISCHARGE_PULSE,
	BT_SIM_HPPC_STEP_PULSE_REST,
	BT_SIM_HPPC_STEP_CHARGE_PULSE,
	BT_SIM_HPPC_STEP_CHARGE_REST,
	BT_SIM_HPPC_STEP_DISCHARGE,
	BT_SIM_HPPC_STEP_REST
};

enum bt_sim_protocol {
	BT_SIM_PROFILE,	/* the caller gives the current: bt_sim_step_to() */
	BT_SIM_HPPC,	/* hybrid pulse power characterisation */
	BT_SIM_CC,	/* one constant-current step */
	BT_SIM_DRIVE	/* a seeded synthetic drive cycle */
};

/* Why a simulation ended (bt_sim_end_reason). */
enum bt_sim_end {
	BT_SIM_RUNNING,		/* not ended */
	BT_SIM_END_DONE,	/* the protocol ran to its end (or max time) */
	BT_SIM_END_UNTIL_V,	/* cc: the voltage reached until_v */
	BT_SIM_END_SOC_FLOOR,	/* drive: the soc reached its floor */
	BT_SIM_END_V_MIN,	/* the voltage fell below v_min_v */
	BT_SIM_END_V_MAX,	/* the voltage rose above v_max_v */
	BT_SIM_END_SOC_LIMIT	/* the soc left [0, 1] */
};

struct bt_sim_hppc_opts {
	double soc_step;		/* soc between pulse sets */
	double soc_floor;		/* last pulse set at or above this soc */
	double initial_rest_s;		/* rest before the first pulse (step 1) */
	double discharge_pulse_c;	/* discharge pulse, C-rate magnitude */
	double discharge_pulse_s;
	double pulse_rest_s;		/* rest after each pulse */
	double charge_pulse_c;		/* charge pulse, C-rate magnitude */
	double charge_pulse_s;
	double discharge_c;		/* discharge to the next soc step */
	double rest_s;			/* rest after that discharge */
};

struct bt_sim_cc_opts {
	double current_a;	/* required, sign as given */
	double until_v;		/* stop when V >= (charge) or <= (discharge) it; NaN: none */
	double max_s;		/* stop after this time; NaN: none */
};

struct bt_sim_drive_opts {
	double duration_s;
	double soc_floor;
	double peak_discharge_c;	/* largest discharge, C-rate magnitude */
	double peak_regen_c;		/* largest regenerative charge, C-rate */
};

struct bt_sim_opts {
	enum bt_sim_protocol protocol;
	double soc0;			/* initial soc */
	double temp0_c;			/* initial temperature; NaN: the model's
					   ambient_c, or its reference temperature */
	double dt_s;			/* sample period; for a profile, the
					   longest integration step */
	double voltage_noise_sd_v;	/* Gaussian noise on the voltage */
	double current_noise_sd_a;	/* Gaussian noise on the current */
	double current_bias_a;		/* constant offset of the current sensor */
	double temperature_noise_sd_c;	/* Gaussian noise on the temperature */
	uint64_t seed;
	double v_min_v, v_max_v;	/* cut-offs on the true voltage; NaN: none */
	struct bt_sim_hppc_opts hppc;
	struct bt_sim_cc_opts cc;
	struct bt_sim_drive_opts drive;
};

/* One simulated sample, as a cycler logs it. */
struct bt_sim_row {
	double time_s;
	double current_a;	/* measured: true + bias + noise */
	double voltage_v;	/* measured: true + noise */
	double temperature_c;	/* measured: true + noise */
	double soc_true;	/* the model's soc, no noise */
	double current_true_a;	/* the current applied over [t, t + dt) */
	double voltage_true_v;	/* the model's terminal voltage */
	int step;		/* program step: HPPC enum bt_sim_hppc_step;
				   cc, drive and profile 1 */
};

struct bt_sim;

/* Fill OPTS with the defaults: protocol BT_SIM_PROFILE, soc0 1, temp0 NaN,
 * dt 1 s, no noise and no bias, seed 1, no cut-offs, the HPPC and drive
 * defaults above, and cc.current_a, cc.until_v, cc.max_s NaN.
 *
 * Returns nothing. */
void bt_sim_opts_init(struct bt_sim_opts *opts);

/* Create a simulator of ECM (borrowed: it must outlive the simulator)
 * with OPTS (copied) and store it in *SIM.  When an option is invalid and
 * ERRMSG is not NULL, it receives a description naming the option.
 *
 * Returns BT_OK, BT_EINVAL for an invalid option, or BT_ENOMEM. */
enum bt_status bt_sim_alloc(const struct bt_ecm *ecm,
			    const struct bt_sim_opts *opts, struct bt_sim **sim,
			    char errmsg[BT_ERRMSG_SIZE]);

/* Free SIM; bt_sim_free(NULL) does nothing.
 *
 * Returns nothing. */
void bt_sim_free(struct bt_sim *sim);

/* Produce the next row of a protocol simulation (HPPC, cc or drive) in
 * *ROW: the first call gives row 0 at t = 0, each later call advances the
 * model by dt_s.  The row that meets an end condition is produced; the
 * call after it returns BT_EOF.
 *
 * Returns BT_OK, BT_EOF when the protocol has ended, or BT_EINVAL for a
 * simulator of protocol BT_SIM_PROFILE. */
enum bt_status bt_sim_next(struct bt_sim *sim, struct bt_sim_row *row);

/* Profile mode: produce in *ROW the sample at TIME_S with true current
 * CURRENT_A.  The model is first advanced from the previous call's time to
 * TIME_S holding the previous call's current (zero-order hold: the current
 * given with sample k applies over [t_k, t_{k+1})), in steps of at most
 * dt_s so that the parameters follow the soc.  The first call sets the
 * start time and advances nothing.  Equal times are allowed.  When the true
 * voltage is outside [v_min_v, v_max_v] or the soc outside [0, 1], the row
 * is still produced and bt_sim_end_reason() tells which; the simulator may
 * go on.
 *
 * Returns BT_OK; BT_ERANGE when the row is outside the limits; BT_ETIME
 * when TIME_S is before the previous time; BT_ENONFINITE when TIME_S or
 * CURRENT_A is not finite; BT_EINVAL for a protocol simulator.  On
 * BT_ETIME, BT_ENONFINITE and BT_EINVAL nothing changes. */
enum bt_status bt_sim_step_to(struct bt_sim *sim, double time_s,
			      double current_a, struct bt_sim_row *row);

/* Returns the true state of the simulated cell, owned by SIM. */
const struct bt_ecm_state *bt_sim_state(const struct bt_sim *sim);

/* Returns why the simulation ended, or BT_SIM_RUNNING; in profile mode,
 * the limit the last row broke, or BT_SIM_RUNNING. */
enum bt_sim_end bt_sim_end_reason(const struct bt_sim *sim);

/* Returns a static lowercase description of REASON ("cut-off voltage
 * v_min reached"), never NULL. */
const char *bt_sim_end_str(enum bt_sim_end reason);

#endif /* BT_SIM_H */
