/* bt_net_impl.h - what the three files of the bt_net module share: the
 * model's layout and the batched passes.  Not installed.
 *
 * Sequence buffers.  Every sequence a layer reads or writes holds a batch
 * of n windows one after another, each a block of P = T + 1 rows of F
 * floats: row 0 of a block is a pad row and rows 1 .. T are the T elements
 * of the sequence, oldest first.  The pad row lets one sgemm cover the
 * whole batch: for an LSTM it holds the zero initial state, so that the
 * row before element t is always the state before step t; elsewhere it
 * holds finite values nobody uses, and its gradient is always zero.
 */
#ifndef BT_NET_IMPL_H
#define BT_NET_IMPL_H

#include <stddef.h>

#include "bt_net.h"

/* Where each weight block lies in the parameter vector, and the length,
 * width and stride of every sequence the layers make. */
struct bt_net_layout {
	size_t conv_w[BT_NET_MAX_CONV], conv_b[BT_NET_MAX_CONV];
	size_t lstm_wx[BT_NET_MAX_LSTM], lstm_wh[BT_NET_MAX_LSTM];
	size_t lstm_b[BT_NET_MAX_LSTM];
	size_t dense_w, dense_b;
	size_t nparams;
	unsigned len[BT_NET_MAX_CONV + 1];	/* sequence length T of level l */
	unsigned conv_len[BT_NET_MAX_CONV];	/* conv l's length before pooling */
	unsigned feat[BT_NET_MAX_CONV + 1];	/* features of level l */
	unsigned stride[BT_NET_MAX_CONV + 1];	/* samples between elements */
	unsigned lstm_in[BT_NET_MAX_LSTM];	/* input width of each LSTM */
};

struct bt_net {
	struct bt_net_arch arch;
	struct bt_net_layout lay;
	/* Channel names, then the target's at index arch.channels. */
	char names[BT_NET_MAX_CHANNELS + 1][BT_NET_MAX_NAME + 1];
	double mean[BT_NET_MAX_CHANNELS + 1];
	double scale[BT_NET_MAX_CHANNELS + 1];
	double period_s;
	float *params;
};

/* Compute LAY from ARCH, checking it; ERRMSG may be NULL.
 * Returns BT_OK or BT_EINVAL. */
enum bt_status bt_net_layout_make(const struct bt_net_arch *arch,
				  struct bt_net_layout *lay, char *errmsg);

/* Format a description into ERRMSG (BT_ERRMSG_SIZE bytes) unless it is
 * NULL. */
void bt_net_setmsg(char *errmsg, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Check a channel or target name: 1 .. BT_NET_MAX_NAME printable ASCII
 * bytes.  Returns 1 when it is valid. */
int bt_net_name_ok(const char *s, size_t len);

/* Allocate a model of shape ARCH with zero weights, identity
 * normalisation, no names.  Returns NULL when memory runs out; ARCH must
 * be valid. */
struct bt_net *bt_net_new(const struct bt_net_arch *arch);

/* The normalised input window buffer of a batch: row 1 + t of block b
 * holds sample t of window b (C floats). */
float *bt_net_batch_input(struct bt_net_batch *batch);

/* Run the forward pass on the N windows in the input buffer and return
 * the N normalised predictions (owned by BATCH). */
const float *bt_net_batch_run(struct bt_net_batch *batch, size_t n);

/* After bt_net_batch_run: back-propagate DOUT (N derivatives of the loss
 * with respect to the normalised predictions) and add the gradient with
 * respect to every weight to GRAD; when DX is not NULL, also store the
 * gradient with respect to the input windows (N W C floats). */
void bt_net_batch_back(struct bt_net_batch *batch, size_t n, const float *dout,
		       float *grad, float *dx);

/* For the tests: with NARROW set, batches and predictors created from now
 * on use the 4-float kernels even where the 8-float ones would run, so
 * that both are tested on one machine. */
void bt_net_simd_narrow(int narrow);

/* Add L2 * sum of squared weights to *LOSS and its gradient to GRAD (may
 * be NULL); biases are not penalised. */
void bt_net_l2(const struct bt_net *net, double l2, double *loss, float *grad);

#endif /* BT_NET_IMPL_H */
