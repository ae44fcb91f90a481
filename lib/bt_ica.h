/* bt_ica.h - incremental capacity (dQ/dV) and differential voltage (dV/dQ)
 * analysis of one cycle by voltage-binned counting, with a Gaussian
 * smoothing filter and peak features.
 *
 * The charge that flows while the voltage crosses a bin of width
 * bin_v is counted into that bin (an interval between two samples of the
 * same direction spreads its charge over the bins between their voltages,
 * in proportion to the overlap), so that dQ/dV = Q_bin / bin_v needs no
 * numerical derivative of noisy data (M. Dubarry and D. Ansean, Best
 * practices for incremental capacity analysis, Front. Energy Res. 10 (2022)
 * 1023555).  The counts are then smoothed by a Gaussian kernel of standard
 * deviation smooth_v; dV/dQ is its reciprocal (I. Bloom et al.,
 * Differential voltage analyses of high-power lithium-ion cells 1, J. Power
 * Sources 139 (2005) 295-303).
 *
 * One struct bt_ica holds a histogram per direction (charge, discharge)
 * for the cycle under way.  Memory: the bins of the voltage range seen,
 * grown geometrically when the range widens (not per sample) and reused
 * from cycle to cycle; nothing else is allocated per sample.
 *
 * Current sign: positive = charge, negative = discharge.  Capacities and
 * dQ/dV are positive in both directions.
 */
#ifndef BT_ICA_H
#define BT_ICA_H

#include <stddef.h>

#include "bt_status.h"
#include "bt_stream.h"

/* Defaults of struct bt_ica_opts (bt_ica_opts_init). */
#define BT_ICA_DEFAULT_BIN_V 0.002	/* bin width, V */
#define BT_ICA_DEFAULT_SMOOTH_V 0.006	/* Gaussian standard deviation, V */
#define BT_ICA_DEFAULT_REST_A 0.01	/* |I| below this counts for neither */
#define BT_ICA_DEFAULT_PROMINENCE 0.05	/* peaks: fraction of the largest value */
/* The Gaussian kernel is cut at this many standard deviations. */
#define BT_ICA_KERNEL_SDS 4.0
/* Most bins one direction's histogram may span (2 mV bins: 2 kV). */
#define BT_ICA_MAX_BINS (1u << 20)

enum bt_ica_direction { BT_ICA_CHARGE = 0, BT_ICA_DISCHARGE = 1 };

struct bt_ica_opts {
	double bin_v;		/* > 0 */
	double smooth_v;	/* 0: no smoothing */
	double rest_a;		/* >= 0 */
	double prominence;	/* in [0, 1] */
};

void bt_ica_opts_init(struct bt_ica_opts *opts);

/* One point of a curve, in increasing voltage. */
struct bt_ica_point {
	double voltage_v;	/* the bin's centre */
	double capacity_ah;	/* charge passed in this direction before the
				   voltage reached the bin's centre */
	double dqdv_ah_per_v;	/* smoothed */
	double dvdq_v_per_ah;	/* 1 / dqdv; NaN where dqdv is 0 */
};

/* One peak of the smoothed dQ/dV. */
struct bt_ica_peak {
	double voltage_v;	/* vertex of the parabola through the top 3 bins */
	double height_ah_per_v;	/* its value there */
	double area_ah;		/* the charge between the valleys either side */
	double width_v;		/* full width at half the height */
	double prominence_ah_per_v;
};

struct bt_ica;

/* Create an analyser with a copy of OPTS.  Returns BT_OK, BT_EINVAL or
 * BT_ENOMEM. */
enum bt_status bt_ica_alloc(struct bt_ica **ica, const struct bt_ica_opts *opts);
void bt_ica_free(struct bt_ica *ica);

/* Forget the cycle's samples (keeping the memory).  Returns nothing. */
void bt_ica_reset(struct bt_ica *ica);

/* Take one sample (finite values).  Returns BT_OK, BT_ETIME when the time
 * is before the previous sample's, BT_ERANGE when the voltage range would
 * exceed BT_ICA_MAX_BINS bins, or BT_ENOMEM. */
enum bt_status bt_ica_add(struct bt_ica *ica, double time_s, double current_a,
			  double voltage_v);

/* Smooth the counts of direction DIR and store the curve in *POINTS (owned
 * by ICA, valid until the next call on it) and its length in *N (0 when
 * the direction saw no charge).  Returns BT_OK or BT_ENOMEM. */
enum bt_status bt_ica_curve(struct bt_ica *ica, enum bt_ica_direction dir,
			    const struct bt_ica_point **points, size_t *n);

/* The peaks of the curve bt_ica_curve last made for DIR whose prominence
 * (height above the higher of the lowest points between it and a higher
 * peak or the end, on either side, as scipy.signal.peak_prominences) is at
 * least PROMINENCE times the curve's largest value, in increasing voltage:
 * store them in *PEAKS (owned by ICA) and their count in *N.  Returns BT_OK
 * or BT_ENOMEM. */
enum bt_status bt_ica_peaks(struct bt_ica *ica, enum bt_ica_direction dir,
			    const struct bt_ica_peak **peaks, size_t *n);

/* The name of DIR: "charge" or "discharge". */
const char *bt_ica_direction_name(enum bt_ica_direction dir);

/* ---- output ------------------------------------------------------------ */

/* The columns of the curve rows (cycle, direction, voltage_v, capacity_ah,
 * dqdv_ah_per_v, dvdq_v_per_ah) or, with PEAKS, of the peak rows (cycle,
 * direction, peak, voltage_v, height_ah_per_v, area_ah, width_v), after a
 * column named GROUP when GROUP is not NULL.  Returns nothing. */
void bt_ica_write_names(struct bt_writer *w, const char *group, int peaks);

/* Write the cycle's rows, discharge first, then charge: each direction's
 * curve, or with PEAKS its peaks (numbered from 1), each row after the GLEN
 * bytes of GROUP when GROUP is not NULL; then forget the cycle
 * (bt_ica_reset).  Returns BT_OK, BT_ENOMEM or BT_EIO (a write error). */
enum bt_status bt_ica_write_cycle(struct bt_ica *ica, struct bt_writer *w,
				  const char *group, size_t glen, double cycle,
				  int peaks);

#endif /* BT_ICA_H */
