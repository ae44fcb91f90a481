/* bt_ecm.h - the equivalent-circuit model of a cell: file I/O, evaluation,
 * time stepping and the Jacobians the Kalman filters need.
 *
 * The model is Plett's "enhanced self-correcting" cell model restricted to
 * what battools fits: an open-circuit voltage OCV(soc, T), a series
 * resistance R0, one to three RC pairs (R_k, tau_k), an optional one-state
 * hysteresis (Plett 2004, Part 2, sec. 3.5) and an optional lumped thermal
 * model.  Every parameter is tabulated over a rectangular grid of
 * temperature levels and state-of-charge points; bt-ecm(5) describes the
 * file format, the equations and the interpolation rules in full.
 *
 * Current sign: positive = charge, negative = discharge, everywhere.
 *
 * Memory: a struct bt_ecm owns all of its tables and is immutable once
 * loaded or finished, so one model can be shared by any number of readers.
 * Evaluation and stepping allocate nothing.  Evaluating a model that came
 * from bt_ecm_alloc() before bt_ecm_finish() succeeded is not allowed.
 *
 * The filter state vector x used by bt_ecm_jacobian() and friends is
 *
 *     x = [ soc, v_1, ..., v_n, h ]
 *
 * with n = bt_ecm_rc_pairs() and h present only when the model has
 * hysteresis, so its length is bt_ecm_state_dim() = 1 + n (+ 1).  The
 * temperature is not part of x: the filters treat it as a measured input.
 */
#ifndef BT_ECM_H
#define BT_ECM_H

#include <stddef.h>
#include <stdio.h>

#include "bt_status.h"

/* The format version this library reads and writes (first line of a file:
 * "battools-ecm 1"). */
#define BT_ECM_FORMAT_VERSION 1

/* Largest number of RC pairs a model may have. */
#define BT_ECM_MAX_RC 3

/* Largest dimension of the filter state vector. */
#define BT_ECM_MAX_STATE (2 + BT_ECM_MAX_RC)

/* Largest ECM file bt_ecm_load() reads, in bytes. */
#define BT_ECM_MAX_FILE_BYTES (16L * 1024 * 1024)

/* Defaults of the optional header keys. */
#define BT_ECM_DEFAULT_REFERENCE_TEMPERATURE_C 25.0
#define BT_ECM_DEFAULT_COULOMBIC_EFFICIENCY 1.0
#define BT_ECM_DEFAULT_HYSTERESIS_M0_V 0.0

struct bt_ecm;

/* Everything in an ECM file except the table.  Plain data: fill it with
 * bt_ecm_info_init() and then set the fields, or read it back with
 * bt_ecm_info(). */
struct bt_ecm_info {
	double capacity_ah;		/* nominal capacity Q, > 0 */
	unsigned rc_pairs;		/* 1 .. BT_ECM_MAX_RC */
	double reference_temperature_c;	/* the temperature the capacity refers to */
	double coulombic_efficiency;	/* eta in (0, 1], applied to charge current */
	int has_hysteresis;		/* the next three fields are used */
	double hysteresis_gamma;	/* rate gamma, dimensionless, >= 0 */
	double hysteresis_m_v;		/* maximum hysteresis voltage M, >= 0 */
	double hysteresis_m0_v;		/* instantaneous hysteresis M0, >= 0 */
	int has_thermal;		/* the next three fields are used */
	double thermal_capacity_j_per_k;	/* heat capacity C_th, > 0 */
	double thermal_resistance_k_per_w;	/* cell to ambient R_th, > 0 */
	double ambient_c;		/* ambient temperature */
};

/* One grid point of the table.  Standard deviations are NaN when unknown.
 * Entries for RC pairs beyond rc_pairs are ignored on input and zero (sd
 * NaN) on output. */
struct bt_ecm_point {
	double temperature_c, soc;
	double ocv_v, r0_ohm, r_ohm[BT_ECM_MAX_RC], tau_s[BT_ECM_MAX_RC];
	double ocv_v_sd, r0_ohm_sd, r_ohm_sd[BT_ECM_MAX_RC], tau_s_sd[BT_ECM_MAX_RC];
};

/* The circuit parameters at one (soc, temperature).  Pairs beyond the
 * model's rc_pairs hold r = 0 and tau = 0 and contribute nothing. */
struct bt_ecm_params {
	double r0;
	double r[BT_ECM_MAX_RC];
	double tau[BT_ECM_MAX_RC];
};

/* The full state of a simulated cell.  Plain data owned by the caller. */
struct bt_ecm_state {
	double soc;			/* state of charge, fraction of capacity_ah */
	double v_rc[BT_ECM_MAX_RC];	/* voltage across each RC pair, V */
	double h;			/* dynamic hysteresis state, in [-1, 1] */
	double s;			/* sign of the last non-zero current: -1, 0, +1 */
	double temp_c;			/* cell temperature */
};

/* --- Loading and writing ------------------------------------------------ */

/* Read the ECM file at PATH (bt-ecm(5)) into a new model stored in *ECM.
 * On failure *ECM is NULL and, when ERRMSG is not NULL, it receives
 * "PATH:LINE: what is wrong" (or "PATH: what is wrong" for errors that
 * belong to no line).
 *
 * Returns BT_OK, BT_EIO when the file cannot be read, BT_EFORMAT when it
 * does not follow the format, or BT_ENOMEM. */
enum bt_status bt_ecm_load(const char *path, struct bt_ecm **ecm,
			   char errmsg[BT_ERRMSG_SIZE]);

/* Parse the LEN bytes at BUF, an ECM file held in memory, into a new model
 * stored in *ECM.  NAME is the file name used in error messages.  BUF need
 * not be NUL-terminated and may hold any bytes.  Errors are reported as for
 * bt_ecm_load().
 *
 * Returns BT_OK, BT_EFORMAT or BT_ENOMEM. */
enum bt_status bt_ecm_parse(const char *buf, size_t len, const char *name,
			    struct bt_ecm **ecm, char errmsg[BT_ERRMSG_SIZE]);

/* Write ECM to F in the bt-ecm(5) format.  Numbers are written in the C
 * locale as the shortest decimal that reads back to the same double, so
 * write then load gives identical values.  A standard-deviation column is
 * written only when at least one of its values is known.
 *
 * Returns BT_OK, or BT_EIO when writing fails. */
enum bt_status bt_ecm_write(const struct bt_ecm *ecm, FILE *f);

/* Write the tables of ECM to F as a C header that BMS firmware can
 * include: macros for the capacity, the number of RC pairs and the grid
 * sizes, and static const arrays for the temperature levels, the soc
 * points and ocv_v, r0_ohm, r<k>_ohm, tau<k>_s indexed [level][soc]
 * (the RC arrays [k][level][soc]), every number written as the shortest
 * decimal that reads back to the same double.  The element type is the
 * macro PREFIX_REAL, double unless the includer defines it; the arrays are
 * marked unused for GCC and Clang, so that a file may use some of them.  PREFIX, a C
 * identifier, names everything (upper case for the macros).
 *
 * Returns BT_OK, BT_EINVAL when PREFIX is not an identifier of at most 64
 * characters, or BT_EIO when writing fails. */
enum bt_status bt_ecm_write_c(const struct bt_ecm *ecm, FILE *f,
			      const char *prefix);

/* Returns non-zero when PREFIX is a name bt_ecm_write_c() accepts: a C
 * identifier of at most 64 characters. */
int bt_ecm_c_prefix_ok(const char *prefix);

/* --- Building a model (bt-fit) ------------------------------------------ */

/* Fill INFO with the defaults of the format: capacity NaN (must be set),
 * rc_pairs 1, reference temperature 25 C, coulombic efficiency 1, no
 * hysteresis (M0 0), no thermal model.
 *
 * Returns nothing. */
void bt_ecm_info_init(struct bt_ecm_info *info);

/* Allocate a model with the header INFO and an empty grid of N_TEMPS
 * temperature levels by N_SOC soc points.  Fill every point with
 * bt_ecm_set_point(), then call bt_ecm_finish().
 *
 * Returns BT_OK, BT_EINVAL when N_TEMPS < 1, N_SOC < 2 or INFO->rc_pairs
 * is not 1..BT_ECM_MAX_RC, or BT_ENOMEM. */
enum bt_status bt_ecm_alloc(const struct bt_ecm_info *info, size_t n_temps,
			    size_t n_soc, struct bt_ecm **ecm);

/* Store POINT as grid point (IT, IS): temperature level IT < n_temps, soc
 * point IS < n_soc.  Every point of a level must carry the same
 * temperature_c and every level the same soc values; bt_ecm_finish()
 * checks this.
 *
 * Returns BT_OK, or BT_EINVAL when IT or IS is out of range. */
enum bt_status bt_ecm_set_point(struct bt_ecm *ecm, size_t it, size_t is,
				const struct bt_ecm_point *point);

/* Validate a model built with bt_ecm_alloc() and bt_ecm_set_point() (the
 * same rules as the loader) and prepare it for evaluation.  When ERRMSG is
 * not NULL it receives a description of the first problem, naming the grid
 * point ("temperature_c '25', soc '0.5': r0_ohm '0' must be > 0").
 *
 * Returns BT_OK, or BT_EINVAL when the model is not valid. */
enum bt_status bt_ecm_finish(struct bt_ecm *ecm, char errmsg[BT_ERRMSG_SIZE]);

/* Free ECM and everything it owns; bt_ecm_free(NULL) does nothing.
 *
 * Returns nothing. */
void bt_ecm_free(struct bt_ecm *ecm);

/* --- Accessors ----------------------------------------------------------- */

/* Returns the header of ECM, owned by ECM. */
const struct bt_ecm_info *bt_ecm_info(const struct bt_ecm *ecm);

/* Returns the nominal capacity of ECM in ampere-hours. */
double bt_ecm_capacity_ah(const struct bt_ecm *ecm);

/* Returns the number of RC pairs of ECM, 1 .. BT_ECM_MAX_RC. */
unsigned bt_ecm_rc_pairs(const struct bt_ecm *ecm);

/* Returns non-zero when ECM has a hysteresis model. */
int bt_ecm_has_hysteresis(const struct bt_ecm *ecm);

/* Returns non-zero when ECM has a thermal model. */
int bt_ecm_has_thermal(const struct bt_ecm *ecm);

/* Returns the reference temperature of ECM in degrees Celsius. */
double bt_ecm_reference_temperature_c(const struct bt_ecm *ecm);

/* Returns the number of temperature levels of the grid of ECM. */
size_t bt_ecm_n_temps(const struct bt_ecm *ecm);

/* Returns the number of soc points of the grid of ECM. */
size_t bt_ecm_n_soc(const struct bt_ecm *ecm);

/* Copy grid point (IT, IS) of ECM into *POINT; levels and soc points are in
 * increasing order.
 *
 * Returns BT_OK, or BT_EINVAL when IT or IS is out of range. */
enum bt_status bt_ecm_get_point(const struct bt_ecm *ecm, size_t it, size_t is,
				struct bt_ecm_point *point);

/* --- Evaluation ---------------------------------------------------------- */

/* The open-circuit voltage at SOC and TEMP_C: a monotone piecewise cubic
 * (Fritsch-Carlson PCHIP) through the table's points along soc, linear
 * between temperature levels, clamped outside the temperature range, and
 * continued linearly with the end slope of the cubic outside the soc
 * range.  When DOCV_DSOC is not NULL it receives dOCV/dsoc (V per unit
 * soc) at the same point.
 *
 * Returns the open-circuit voltage in volts. */
double bt_ecm_ocv(const struct bt_ecm *ecm, double soc, double temp_c,
		  double *docv_dsoc);

/* The series resistance R0 at SOC and TEMP_C, the r0 of
 * bt_ecm_params_at() without the other parameters. */
double bt_ecm_r0(const struct bt_ecm *ecm, double soc, double temp_c);

/* The PCHIP slopes D (N doubles) of the points (X, Y), X increasing,
 * N >= 2: the interpolant bt_ecm_ocv() uses along soc, for other tables
 * (bt_fit's OCV branches).
 *
 * Returns nothing. */
void bt_ecm_pchip_slopes(const double *x, const double *y, size_t n, double *d);

/* The PCHIP interpolant of (X, Y) with slopes D from bt_ecm_pchip_slopes(),
 * N points, at V, continued linearly with the end slopes outside
 * [X[0], X[N-1]].  When DY is not NULL it receives the derivative.
 *
 * Returns the interpolated value. */
double bt_ecm_pchip_eval(const double *x, const double *y, const double *d,
			 size_t n, double v, double *dy);

/* Fill *PARAMS with R0, R_k and tau_k at SOC and TEMP_C, bilinear in soc
 * and temperature and clamped at the edges of the grid.
 *
 * Returns nothing. */
void bt_ecm_params_at(const struct bt_ecm *ecm, double soc, double temp_c,
		      struct bt_ecm_params *params);

/* The cell of SOC on the soc axis of ECM, as bt_ecm_params_at()
 * interpolates: *J0 is the grid point below and *W the weight of the point
 * above (0 below the grid, 1 above it), so that a parameter at SOC is
 * (1 - W) p[J0] + W p[J0 + 1].
 *
 * Returns nothing. */
void bt_ecm_soc_cell(const struct bt_ecm *ecm, double soc, size_t *j0,
		     double *w);

/* Fill *SD with the standard deviations of R0, R_k and tau_k at SOC and
 * TEMP_C, interpolated like bt_ecm_params_at(); unknown ones are NaN.
 *
 * Returns nothing. */
void bt_ecm_params_sd_at(const struct bt_ecm *ecm, double soc, double temp_c,
			 struct bt_ecm_params *sd);

/* Evaluate the impedance of the circuit PARAMS at FREQ_HZ:
 * Z = R0 + sum_k R_k / (1 + j 2 pi f tau_k).  Store the real and imaginary
 * parts (ohm) in *RE and *IM.
 *
 * Returns nothing. */
void bt_ecm_impedance(const struct bt_ecm_params *params, double freq_hz,
		      double *re, double *im);

/* --- Simulation ---------------------------------------------------------- */

/* Set *STATE to a cell at rest: SOC, every RC voltage 0, hysteresis 0, no
 * previous current, temperature TEMP_C.
 *
 * Returns nothing. */
void bt_ecm_state_init(const struct bt_ecm *ecm, double soc, double temp_c,
		       struct bt_ecm_state *state);

/* Advance *STATE by DT_S seconds with CURRENT_A held constant (zero-order
 * hold), the parameters taken at the state at the start of the step.  The
 * RC voltages, the hysteresis and the temperature use the exact solution of
 * their linear ODEs for a constant input; the soc is coulomb counting.
 * Without a thermal model the temperature is left as it is.  See
 * bt-ecm(5) for the equations.
 *
 * Returns BT_OK, or BT_EINVAL when DT_S is negative or not finite or
 * CURRENT_A is not finite (STATE is then unchanged). */
enum bt_status bt_ecm_step(const struct bt_ecm *ecm, struct bt_ecm_state *state,
			   double current_a, double dt_s);

/* The terminal voltage of a cell in *STATE carrying CURRENT_A:
 * OCV(soc, T) + M h + M0 s + R0 i + sum_k v_k, where s is the sign of
 * CURRENT_A, or STATE->s when CURRENT_A is 0.
 *
 * Returns the terminal voltage in volts. */
double bt_ecm_voltage(const struct bt_ecm *ecm, const struct bt_ecm_state *state,
		      double current_a);

/* --- Filter state vector and Jacobians ----------------------------------- */

/* Returns the length of the filter state vector of ECM:
 * 1 + rc_pairs, plus 1 with hysteresis. */
size_t bt_ecm_state_dim(const struct bt_ecm *ecm);

/* Copy soc, v_1..v_n and (with hysteresis) h of *STATE into X, which has
 * room for bt_ecm_state_dim() doubles.
 *
 * Returns nothing. */
void bt_ecm_state_pack(const struct bt_ecm *ecm, const struct bt_ecm_state *state,
		       double *x);

/* Copy X back into the soc, v_1..v_n and h of *STATE; the temperature and
 * the sign of the last current are left as they are.
 *
 * Returns nothing. */
void bt_ecm_state_unpack(const struct bt_ecm *ecm, const double *x,
			 struct bt_ecm_state *state);

/* The Jacobians of one bt_ecm_step() of DT_S seconds at CURRENT_A from
 * *STATE, the temperature held fixed: A = dx'/dx (N by N, row-major, N =
 * bt_ecm_state_dim()) and, when B is not NULL, B = dx'/di (N).  They
 * include the dependence of R_k and tau_k on soc.  A is zero off the
 * diagonal except in its first column (each state depends on itself and
 * on the soc, nothing else); bt_kf's covariance propagation relies on
 * this shape.  At exactly zero current, where the coulombic efficiency
 * and the hysteresis make x' not differentiable in i, B holds the
 * derivative for discharge.
 *
 * Returns BT_OK, or BT_EINVAL as bt_ecm_step() does. */
enum bt_status bt_ecm_jacobian(const struct bt_ecm *ecm,
			       const struct bt_ecm_state *state,
			       double current_a, double dt_s, double *a, double *b);

/* The derivatives of bt_ecm_voltage() at *STATE and CURRENT_A: C = dV/dx
 * (N doubles, dV/dsoc including dOCV/dsoc and dR0/dsoc * i) and, when D is
 * not NULL, *D = dV/di = R0.
 *
 * Returns nothing. */
void bt_ecm_output_jacobian(const struct bt_ecm *ecm,
			    const struct bt_ecm_state *state, double current_a,
			    double *c, double *d);

/* Advance *STATE exactly as bt_ecm_step() does and store in A (and, when
 * B is not NULL, in B) the Jacobians of that step at the state before it,
 * as bt_ecm_jacobian() gives them, evaluating the parameters once: the
 * prediction of an extended Kalman filter in one call.
 *
 * Returns BT_OK, or BT_EINVAL as bt_ecm_step() does (nothing changes). */
enum bt_status bt_ecm_step_jacobian(const struct bt_ecm *ecm,
				    struct bt_ecm_state *state,
				    double current_a, double dt_s, double *a,
				    double *b);

/* bt_ecm_step_jacobian for a filter that is told the temperature at each
 * sample instead of predicting it: the same state and Jacobians, except
 * that the lumped thermal model is not advanced (STATE's temp_c is left as
 * it is), which spares the heat balance and its exponential.
 *
 * Returns BT_OK, or BT_EINVAL as bt_ecm_step() does (nothing changes). */
enum bt_status bt_ecm_step_jacobian_isothermal(const struct bt_ecm *ecm,
					       struct bt_ecm_state *state,
					       double current_a, double dt_s,
					       double *a, double *b);

/* The terminal voltage of bt_ecm_voltage() and the derivatives of
 * bt_ecm_output_jacobian() (C and, when D is not NULL, *D = R0) at *STATE
 * and CURRENT_A, evaluating the parameters and the OCV once.
 *
 * Returns the terminal voltage in volts. */
double bt_ecm_output(const struct bt_ecm *ecm, const struct bt_ecm_state *state,
		     double current_a, double *c, double *d);

#endif /* BT_ECM_H */
