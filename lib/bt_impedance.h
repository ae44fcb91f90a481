/* bt_impedance.h - a cell's impedance from voltage and current under
 * dynamic load, by the continuous Morlet wavelet transform.
 *
 * Both signals are transformed at each analysis frequency f (Torrence and
 * Compo 1998); the impedance is the ratio W_V / W_I averaged, with weights
 * |W_I|^2, over the times where the current excites that frequency, that
 * is where |W_I| is at least EXCITATION times its largest value, outside
 * the cone of influence of the record's ends:
 *     Z(f) = sum W_V(t, f) conj(W_I(t, f)) / sum |W_I(t, f)|^2
 * and the coherence of the same sums is
 *     |sum W_V conj(W_I)|^2 / (sum |W_V|^2 sum |W_I|^2),
 * 1 when V is a linear, time-invariant response to I at f.
 *
 * Current sign: positive = charge, so a resistance is positive.
 *
 * Memory: the whole record (and its FFT, four times the record rounded up
 * to a power of two) is held: the transform needs it all.
 */
#ifndef BT_IMPEDANCE_H
#define BT_IMPEDANCE_H

#include <stddef.h>

#include "bt_status.h"
#include "bt_stream.h"

/* Defaults (bt-wavelet(1)). */
#define BT_IMPEDANCE_DEFAULT_OMEGA0 6.0		/* Morlet centre, rad */
#define BT_IMPEDANCE_DEFAULT_PER_DECADE 8
#define BT_IMPEDANCE_DEFAULT_EXCITATION 0.1
/* The default highest frequency, as a fraction of the sampling rate. */
#define BT_IMPEDANCE_FMAX_FRACTION 0.25
/* Samples closer to a record end than this many e-folding times sqrt(2) s
 * of the wavelet are left out (the cone of influence). */
#define BT_IMPEDANCE_COI_EFOLDINGS 2.0
/* Sampling is uniform when every step is within this fraction of the
 * median step; otherwise the record is resampled. */
#define BT_IMPEDANCE_UNIFORM_TOL 0.01
/* Fewest samples a record must have. */
#define BT_IMPEDANCE_MIN_SAMPLES 16

struct bt_impedance_opts {
	double fmin_hz, fmax_hz;	/* NaN: the defaults */
	unsigned per_decade;		/* frequencies per decade */
	double omega0;			/* Morlet centre frequency, rad */
	double excitation;		/* fraction of the largest |W_I| */
	double dt_s;			/* sample period; NaN: the median step */
};

struct bt_impedance_point {
	double freq_hz;
	double z_re_ohm, z_im_ohm;
	double coherence;
	size_t samples;			/* samples in the average */
};

/* Fill OPTS with the defaults above (fmin, fmax, dt NaN).  Returns
 * nothing. */
void bt_impedance_opts_init(struct bt_impedance_opts *opts);

/* Estimate the impedance from the N samples of time T_S (increasing;
 * rows whose time does not increase are dropped), voltage V and current I.
 * When the sampling is not uniform the record is first interpolated
 * linearly onto a uniform grid of the median step (or OPTS->dt_s).
 * Frequencies run from fmin to fmax, PER_DECADE per decade on a
 * logarithmic scale; the defaults are BT_IMPEDANCE_FMAX_FRACTION of the
 * sampling rate and the lowest frequency whose cone of influence leaves
 * half the record.  Store a new array of points (free() it) in *POINTS
 * and their number in *NPOINTS, and the sample period used in *DT_S.
 * A frequency where no sample is outside the cone of influence, or where
 * the current does not excite it, has NaN values.
 * Returns BT_OK, BT_EINVAL for bad options or fmin >= fmax, BT_EEMPTY
 * for fewer than BT_IMPEDANCE_MIN_SAMPLES usable samples, BT_ERANGE when
 * the current is constant, or BT_ENOMEM. */
enum bt_status bt_impedance_estimate(const double *t_s, const double *v,
				     const double *i, size_t n,
				     const struct bt_impedance_opts *opts,
				     struct bt_impedance_point **points,
				     size_t *npoints, double *dt_s);

/* Write the NPOINTS points P to W as a table with the header
 * frequency_hz, z_re_ohm, z_im_ohm, coherence, z_abs_ohm, z_phase_deg
 * (degrees).  Returns BT_OK or BT_EIO. */
enum bt_status bt_impedance_write(struct bt_writer *w,
				  const struct bt_impedance_point *p, size_t npoints);

#endif /* BT_IMPEDANCE_H */
