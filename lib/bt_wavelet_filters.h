/* bt_wavelet_filters.h - the table of filter banks behind bt_wavelet (private
 * to the library; scripts/gen-wavelet-filters writes bt_wavelet_filters.c).
 */
#ifndef BT_WAVELET_FILTERS_H
#define BT_WAVELET_FILTERS_H

#include <stddef.h>

/* One wavelet's two-channel filter bank, as PyWavelets defines it: the
 * opaque struct of bt_wavelet.h. */
struct bt_wavelet {
	const char *name;	/* "db4", "bior3.5" */
	const char *family;	/* "Daubechies" */
	unsigned len;		/* length of each of the four filters (even) */
	int orthogonal;		/* rec_lo is dec_lo reversed */
	const double *dec_lo, *dec_hi, *rec_lo, *rec_hi;
};

extern const struct bt_wavelet bt_wavelet_banks[];
extern const size_t bt_wavelet_nbanks;

#endif /* BT_WAVELET_FILTERS_H */
