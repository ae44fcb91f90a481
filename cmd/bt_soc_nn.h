/* bt_soc_nn.h - the network half of bt-soc: the options of the methods
 * nn and nn+ekf and of the train verb (an argp child of bt-soc's parser,
 * so that one --help and one man page list them), and the train verb.
 */
#ifndef BT_SOC_NN_H
#define BT_SOC_NN_H

#include <stddef.h>
#include <stdint.h>

#include "bt_cli.h"
#include "bt_net.h"

struct soc_nn_args {
	const char *net;		/* --net FILE */
	enum bt_net_stream_mode mode;	/* --stream */
	double r_nn;			/* --r-nn */
	double r_nn_tau_s;		/* --r-nn-tau */
	int threads;			/* --threads */
	const char *target;		/* --target COL */
	const char *inputs[BT_NET_MAX_CHANNELS];	/* --inputs COLS */
	unsigned ninputs;		/* 0: the default channels */
	const char **val;		/* --val FILE, repeatable */
	size_t nval;
	struct bt_net_arch arch;	/* channels set when the data are read */
	struct bt_net_train_opts train;	/* seed set by bt-soc's --seed */
	const char *given;		/* the first training option given, for
					   the message when there is no verb */
};

/* The argp child with the network and training options; its input is a struct
 * soc_nn_args whose val array has room for every argument. */
extern const struct argp soc_nn_argp;

/* Fill A with the defaults (one thread, incremental streaming,
 * BT_SOC_DEFAULT_R_NN, the default architecture and training options of
 * bt_net.h); VAL must have room for every argument. */
void soc_nn_init(struct soc_nn_args *a, const char **val);

/* Load the network A->net and hold it (bt_cli_hold), or die.
 * Returns the network. */
struct bt_net *soc_nn_load(const struct soc_nn_args *a);

/* Train on the canonical CSV files FILES[0 .. NFILES - 1] and write the
 * model to COMMON->output, with progress on standard error unless
 * COMMON->quiet; die on any failure. */
void soc_nn_train(struct soc_nn_args *a, const struct bt_cli_common *common,
		   const char *const *files, size_t nfiles);

#endif /* BT_SOC_NN_H */
