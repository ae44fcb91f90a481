/* battools.h - the whole libbattools interface in one include.
 *
 * libbattools holds every numeric and I/O routine of the battools tools
 * (DESIGN.md §4).  It never prints, exits or aborts: functions return an
 * enum bt_status, and objects that read data keep a description of their
 * last error.  Link with `pkg-config --libs battools`.
 */
#ifndef BATTOOLS_H
#define BATTOOLS_H

#include "bt_status.h"
#include "bt_num.h"
#include "bt_stats.h"
#include "bt_schema.h"
#include "bt_stream.h"
#include "bt_rowq.h"
#include "bt_ecm.h"
#include "bt_sim.h"
#include "bt_kf.h"
#include "bt_pf.h"
#include "bt_soc.h"
#include "bt_rul.h"
#include "bt_cycle.h"
#include "bt_ica.h"
#include "bt_curve.h"
#include "bt_soh.h"
#include "bt_wavelet.h"
#include "bt_denoise.h"
#include "bt_wtable.h"
#include "bt_impedance.h"
#include "bt_net.h"
#include "bt_gather.h"
#include "bt_batch.h"
#include "bt_fit.h"
#include "bt_plot.h"

#endif /* BATTOOLS_H */
