/* bt_net.h - the neural engine: a 1-D CNN-LSTM regressor over windows of
 * measured signals, trained and run in float32 on CBLAS.
 *
 * A network maps a window of W samples by C channels (voltage_v,
 * current_a, temperature_c, ...) to one number (soc, soh).  It is a stack
 * of 1-D convolution layers (valid, stride 1, ReLU, optional max pooling),
 * one or two LSTM layers whose last step feeds a dense head with one
 * output.  Inputs are normalised per channel, and the target too, with
 * statistics stored in the model; bt-net(5) describes the file format,
 * the equations and the order of the weights.
 *
 * Layers and their time alignment.  Convolution layer l has kernel k_l,
 * f_l filters and pooling p_l (1: none).  Its output at a sequence index
 * covers the k_l newest inputs; pooling takes the maximum over p_l
 * consecutive outputs, aligned on the newest end of the window, so that the
 * newest sample always reaches the output (elements left over at the oldest
 * end are dropped).  The LSTM runs over the top sequence from a zero state,
 * oldest first; the dense head reads its last hidden state.
 *
 * Modules used: bt_stream (training data), zlib (CRC-32 of the file), GSL
 * (the random number generator), CBLAS (sgemm, sgemv).  Programs that use
 * this module should link OpenBLAS ahead of libbattools so that CBLAS
 * resolves to it (the library itself names only the CBLAS interface), and
 * set its thread count with bt_net_set_threads().
 *
 * Memory: a struct bt_net owns its architecture, names, normalisation and
 * weights; it is immutable once trained or loaded and may be shared by any
 * number of predictors.  Training keeps the whole training set in memory
 * (C + 1 floats per sample).  A streaming predictor holds O(W) memory
 * whatever the length of the stream and allocates nothing per sample.
 *
 * Determinism: training is a function of the data, the options and the
 * seed, for a given BLAS and thread count: the same call twice gives
 * byte-identical model files.
 */
#ifndef BT_NET_H
#define BT_NET_H

#include <stddef.h>
#include <stdint.h>

#include "bt_status.h"

struct bt_reader;

/* The format version this library reads and writes (bt-net(5)). */
#define BT_NET_FORMAT_VERSION 1

/* Limits of an architecture: every model file and option must hold within
 * them. */
#define BT_NET_MAX_CONV 4		/* convolution layers */
#define BT_NET_MAX_LSTM 2		/* LSTM layers */
#define BT_NET_MAX_CHANNELS 16		/* input channels */
#define BT_NET_MAX_WINDOW 65536		/* samples per window */
#define BT_NET_MAX_UNITS 1024		/* filters of a layer, LSTM units */
#define BT_NET_MAX_PARAMS (16L * 1024 * 1024)	/* weights in all */
#define BT_NET_MAX_NAME 63		/* bytes of a channel or target name */
/* Floats of work space per window (the activations a training or window
 * evaluation keeps) and of streaming state (the incremental predictor's
 * LSTM states, one set per phase of the pooling stride). */
#define BT_NET_MAX_WORK (16L * 1024 * 1024)

/* Largest model file bt_net_load() reads, in bytes: the weights at their
 * limit plus room for the header. */
#define BT_NET_MAX_FILE_BYTES (4 * BT_NET_MAX_PARAMS + 65536)

/* Default architecture (bt_net_arch_init): the CNN-LSTM of the battools
 * prototype, 100 samples, two convolutions of 32 filters of kernel 5, no
 * pooling, one LSTM of 32 units. */
#define BT_NET_DEFAULT_WINDOW 100
#define BT_NET_DEFAULT_CONV_LAYERS 2
#define BT_NET_DEFAULT_KERNEL 5
#define BT_NET_DEFAULT_FILTERS 32
#define BT_NET_DEFAULT_POOL 1
#define BT_NET_DEFAULT_LSTM_LAYERS 1
#define BT_NET_DEFAULT_HIDDEN 32

/* Default training options (bt_net_train_opts_init).  Adam's step size and
 * moment decay rates are those Kingma and Ba (2015) recommend. */
#define BT_NET_DEFAULT_EPOCHS 30
#define BT_NET_DEFAULT_BATCH 64
#define BT_NET_DEFAULT_LEARNING_RATE 1e-3
#define BT_NET_DEFAULT_ADAM_BETA1 0.9
#define BT_NET_DEFAULT_ADAM_BETA2 0.999
#define BT_NET_DEFAULT_ADAM_EPS 1e-8
#define BT_NET_DEFAULT_L2 1e-6
#define BT_NET_DEFAULT_CLIP 1.0
#define BT_NET_DEFAULT_VAL_FRACTION 0.2
#define BT_NET_DEFAULT_PATIENCE 5
#define BT_NET_DEFAULT_STRIDE 1
#define BT_NET_DEFAULT_SEED 1

/* The validation split without a validation set: the samples of each
 * series are cut into blocks of this many windows' length, and every
 * (1 / val_fraction)-th block, counted over all series, is held out. */
#define BT_NET_VAL_BLOCK_WINDOWS 10

/* One convolution layer. */
struct bt_net_conv {
	unsigned kernel;	/* samples per filter, >= 1 */
	unsigned filters;	/* output channels, 1 .. BT_NET_MAX_UNITS */
	unsigned pool;		/* max-pooling width and stride; 1 for none */
};

/* The shape of a network.  Plain data. */
struct bt_net_arch {
	unsigned window;	/* W, samples per window, >= 1 */
	unsigned channels;	/* C, input channels */
	unsigned n_conv;	/* 0 .. BT_NET_MAX_CONV */
	struct bt_net_conv conv[BT_NET_MAX_CONV];
	unsigned n_lstm;	/* 1 .. BT_NET_MAX_LSTM */
	unsigned hidden[BT_NET_MAX_LSTM];	/* units of each LSTM layer */
};

/* What the progress callback is told. */
struct bt_net_progress {
	unsigned epoch;		/* 1-based */
	unsigned epochs;	/* the largest number */
	size_t batch, batches;	/* minibatches done and in the epoch */
	int epoch_done;		/* the epoch has ended: val_rmse is set */
	double train_rmse;	/* running RMSE of this epoch, target units */
	double val_rmse;	/* RMSE on the validation windows; NaN when
				   there are none or the epoch is not done */
	double best_val_rmse;	/* the best so far, NaN when none */
	unsigned best_epoch;	/* its epoch, 0 when none */
};

/* Options of bt_net_train.  Plain data: fill with bt_net_train_opts_init
 * and change what differs. */
struct bt_net_train_opts {
	unsigned epochs;	/* largest number of passes over the data */
	unsigned batch;		/* windows per minibatch */
	double learning_rate;	/* Adam step size alpha */
	double beta1, beta2;	/* Adam moment decay rates */
	double adam_eps;	/* Adam's epsilon */
	double l2;		/* L2 penalty on the weights (not biases) */
	double clip;		/* largest gradient norm; 0 for no clipping */
	double val_fraction;	/* held out when no validation set is given */
	unsigned patience;	/* epochs without a better validation RMSE
				   before training stops; 0 never stops early */
	unsigned stride;	/* samples between the ends of training windows */
	uint64_t seed;		/* initial weights and the order of windows */
	/* Called after every minibatch and at the end of every epoch, when
	 * not NULL; a non-zero return stops training (the best weights so
	 * far are kept). */
	int (*progress)(void *arg, const struct bt_net_progress *p);
	void *progress_arg;
};

/* The outcome of training. */
struct bt_net_report {
	unsigned epochs_run;
	unsigned best_epoch;	/* the epoch whose weights were kept; the last
				   one when there is no validation */
	double train_rmse;	/* the last epoch's running RMSE, target units */
	double val_rmse;	/* validation RMSE of the kept weights, or NaN */
	size_t train_windows, val_windows;
	int stopped_early;	/* patience ran out */
};

struct bt_net;
struct bt_net_data;
struct bt_net_batch;
struct bt_net_stream;

/* --- Architecture -------------------------------------------------------- */

/* Fill ARCH with the default architecture for CHANNELS inputs.
 *
 * Returns nothing. */
void bt_net_arch_init(struct bt_net_arch *arch, unsigned channels);

/* Check ARCH against the limits above and that every layer has an input
 * (each convolution's kernel fits the sequence it reads, each pooling
 * leaves at least one element).  When ERRMSG is not NULL it receives a
 * description of the first problem ("conv2: kernel '9' is longer than its
 * input '7'").
 *
 * Returns BT_OK or BT_EINVAL. */
enum bt_status bt_net_arch_check(const struct bt_net_arch *arch,
				 char errmsg[BT_ERRMSG_SIZE]);

/* Returns the number of weights (biases included) of ARCH, which must have
 * passed bt_net_arch_check. */
size_t bt_net_arch_params(const struct bt_net_arch *arch);

/* --- Models -------------------------------------------------------------- */

/* Create a network of shape ARCH reading the columns CHANNELS[0 ..
 * arch->channels - 1] and predicting the column TARGET, with the identity
 * normalisation, an unknown sample period, and weights drawn from SEED:
 * Glorot uniform for convolutions and the head, uniform in
 * (-1/sqrt(H), 1/sqrt(H)) for the LSTM (as PyTorch does), LSTM forget-gate
 * biases 1 (Jozefowicz et al. 2015) and the other biases 0.  When ERRMSG
 * is not NULL it receives a description of a bad argument.
 *
 * Returns BT_OK, BT_EINVAL (a bad ARCH or name) or BT_ENOMEM. */
enum bt_status bt_net_alloc(struct bt_net **net, const struct bt_net_arch *arch,
			    const char *const *channels, const char *target,
			    uint64_t seed, char errmsg[BT_ERRMSG_SIZE]);

/* Free NET; bt_net_free(NULL) does nothing.
 *
 * Returns nothing. */
void bt_net_free(struct bt_net *net);

/* Returns a new copy of NET, or NULL when memory runs out. */
struct bt_net *bt_net_dup(const struct bt_net *net);

/* Returns the architecture of NET, owned by NET. */
const struct bt_net_arch *bt_net_arch(const struct bt_net *net);

/* Returns the name of input channel I (< channels) or of the target, owned
 * by NET. */
const char *bt_net_channel(const struct bt_net *net, unsigned i);
const char *bt_net_target(const struct bt_net *net);

/* Store the normalisation of input channel I (I == channels: the target)
 * in *MEAN and *SCALE: the network sees (x - mean) / scale and predicts
 * (y - mean) / scale.
 *
 * Returns BT_OK, or BT_EINVAL when I is out of range. */
enum bt_status bt_net_norm(const struct bt_net *net, unsigned i, double *mean,
			   double *scale);

/* Set that normalisation; SCALE must be finite and > 0, MEAN finite.
 *
 * Returns BT_OK, or BT_EINVAL. */
enum bt_status bt_net_set_norm(struct bt_net *net, unsigned i, double mean,
			       double scale);

/* Returns the mean time between the training samples in seconds (from
 * their time_s column), or NaN when it is unknown. */
double bt_net_sample_period(const struct bt_net *net);

/* Set the sample period (NaN: unknown; otherwise finite and > 0).
 *
 * Returns BT_OK, or BT_EINVAL. */
enum bt_status bt_net_set_sample_period(struct bt_net *net, double period_s);

/* The weights of NET, *N of them, in the order of bt-net(5).  Writing them
 * changes the model (the tests and the PyTorch comparison do).
 *
 * Returns a pointer owned by NET. */
float *bt_net_params(struct bt_net *net, size_t *n);

/* --- Model files (bt-net(5)) --------------------------------------------- */

/* Encode NET in the bt-net(5) format into a new buffer stored in *BUF
 * (free it with free()) of *LEN bytes.
 *
 * Returns BT_OK or BT_ENOMEM. */
enum bt_status bt_net_encode(const struct bt_net *net, unsigned char **buf,
			     size_t *len);

/* Write NET to PATH atomically: a temporary file in the same directory,
 * renamed onto PATH once complete.  On failure nothing is left behind and
 * ERRMSG (when not NULL) receives "PATH: what is wrong".
 *
 * Returns BT_OK, BT_EIO or BT_ENOMEM. */
enum bt_status bt_net_save(const struct bt_net *net, const char *path,
			   char errmsg[BT_ERRMSG_SIZE]);

/* Decode the LEN bytes at BUF, a bt-net(5) file held in memory, into a new
 * model stored in *NET.  NAME is the file name used in error messages.
 * Anything that does not follow the format exactly is refused: on failure
 * *NET is NULL and ERRMSG (when not NULL) receives "NAME: what is wrong",
 * naming the byte offset of the field where it helps.
 *
 * Returns BT_OK, BT_EFORMAT or BT_ENOMEM. */
enum bt_status bt_net_parse(const void *buf, size_t len, const char *name,
			    struct bt_net **net, char errmsg[BT_ERRMSG_SIZE]);

/* Read the model file at PATH as bt_net_parse() does.
 *
 * Returns BT_OK, BT_EIO, BT_EFORMAT or BT_ENOMEM. */
enum bt_status bt_net_load(const char *path, struct bt_net **net,
			   char errmsg[BT_ERRMSG_SIZE]);

/* --- Training data ------------------------------------------------------- */

/* Create an empty training set of NCHANNELS input columns CHANNELS and the
 * target column TARGET (names copied).
 *
 * Returns BT_OK, BT_EINVAL (no channel, too many, a bad name) or
 * BT_ENOMEM. */
enum bt_status bt_net_data_alloc(struct bt_net_data **data,
				 const char *const *channels,
				 unsigned nchannels, const char *target);

/* Free DATA; bt_net_data_free(NULL) does nothing.
 *
 * Returns nothing. */
void bt_net_data_free(struct bt_net_data *data);

/* Read every remaining row of READER (a canonical stream) as one new
 * series: the channel and target columns must be present and every value
 * finite.  When the stream has a time_s column its steps feed the sample
 * period.  On an error the reader's message (bt_reader_errmsg) says what
 * and where, and the rows read so far are dropped.
 *
 * Returns BT_OK, BT_ENOCOL, a reader error (BT_EPARSE, BT_ENONFINITE, ...)
 * or BT_ENOMEM. */
enum bt_status bt_net_data_read(struct bt_net_data *data,
				struct bt_reader *reader);

/* Append one sample to the current series (starting one when there is
 * none): X holds the channel values, Y the target, TIME_S the time (NaN
 * when unknown).  bt_net_data_end_series() ends the series.
 *
 * Returns BT_OK, BT_ENONFINITE (nothing appended) or BT_ENOMEM. */
enum bt_status bt_net_data_add(struct bt_net_data *data, const double *x,
			       double y, double time_s);
void bt_net_data_end_series(struct bt_net_data *data);

/* The default input channels of a model trained on the stream READER:
 * voltage_v and current_a, and temperature_c when READER has that column.
 * NAMES receives the names (static strings).
 *
 * Returns their number. */
unsigned bt_net_default_channels(const struct bt_reader *reader,
				 const char *names[BT_NET_MAX_CHANNELS]);

/* Find the input channels of NET among the columns of READER: COLS[i]
 * receives the column of channel i (NET's channels in order).
 *
 * Returns BT_OK, or BT_ENOCOL with the reader's message naming the first
 * missing column. */
enum bt_status bt_net_find_columns(const struct bt_net *net,
				   struct bt_reader *reader, size_t *cols);

/* Read the input channels of NET in READER's current row, from the
 * columns COLS that bt_net_find_columns found, into X.
 *
 * Returns BT_OK, or a reader error (an empty or non-finite value is
 * BT_ENONFINITE) with the reader's message. */
enum bt_status bt_net_read_inputs(const struct bt_net *net,
				  struct bt_reader *reader, const size_t *cols,
				  double *x);

/* Returns the number of series, or of samples in all series, of DATA. */
size_t bt_net_data_series(const struct bt_net_data *data);
size_t bt_net_data_samples(const struct bt_net_data *data);

/* --- Training ------------------------------------------------------------ */

/* Fill OPTS with the defaults above.
 *
 * Returns nothing. */
void bt_net_train_opts_init(struct bt_net_train_opts *opts);

/* Train a new network of shape ARCH (its channels field is taken from
 * TRAIN) on every window of TRAIN, the target being the target at the
 * window's newest sample, and store it in *NET.  The normalisation is the
 * mean and standard deviation of each channel and of the target over
 * TRAIN (a constant column gets scale 1).  Minibatch Adam on the mean
 * squared error of the normalised target plus OPTS->l2 times the sum of
 * the squared weights; gradients clipped to norm OPTS->clip.  Validation
 * on VAL when it is not NULL, otherwise on blocks held out of TRAIN
 * (BT_NET_VAL_BLOCK_WINDOWS); with validation, training stops after
 * OPTS->patience epochs without a lower validation RMSE and the model
 * keeps the weights of the best epoch.  VAL must have the same columns as
 * TRAIN.  REPORT (when not NULL) receives the outcome; ERRMSG (when not
 * NULL) a description of a problem.
 *
 * Returns BT_OK, BT_EINVAL (a bad architecture or option, VAL's columns
 * differ), BT_EEMPTY (no series is as long as a window) or BT_ENOMEM. */
enum bt_status bt_net_train(struct bt_net **net, const struct bt_net_arch *arch,
			    const struct bt_net_data *train,
			    const struct bt_net_data *val,
			    const struct bt_net_train_opts *opts,
			    struct bt_net_report *report,
			    char errmsg[BT_ERRMSG_SIZE]);

/* --- Batched evaluation -------------------------------------------------- */

/* Create a workspace for evaluating NET (borrowed: it must outlive the
 * workspace) on up to MAX_BATCH windows at a time.
 *
 * Returns BT_OK, BT_EINVAL (MAX_BATCH 0) or BT_ENOMEM. */
enum bt_status bt_net_batch_alloc(const struct bt_net *net, size_t max_batch,
				  struct bt_net_batch **batch);

/* Free BATCH; bt_net_batch_free(NULL) does nothing.
 *
 * Returns nothing. */
void bt_net_batch_free(struct bt_net_batch *batch);

/* Evaluate N (<= max_batch) windows: X holds N windows of W samples by C
 * channels in physical units, oldest sample first (X[(b W + t) C + c]);
 * Y receives the N predictions in target units.
 *
 * Returns BT_OK, or BT_EINVAL when N is 0 or too large. */
enum bt_status bt_net_batch_forward(struct bt_net_batch *batch,
				    const double *x, size_t n, double *y);

/* The training loss of N windows X (as above) with targets Y (target
 * units): the mean squared error of the normalised prediction plus L2
 * times the sum of the squared weights, in *LOSS.  When GRAD is not NULL
 * it receives the gradient with respect to every weight (bt_net_params
 * order); when DX is not NULL, the gradient with respect to the
 * normalised inputs (N W C floats, the layout of X).
 *
 * Returns BT_OK, or BT_EINVAL when N is 0 or too large. */
enum bt_status bt_net_batch_loss(struct bt_net_batch *batch, const double *x,
				 const double *y, size_t n, double l2,
				 double *loss, float *grad, float *dx);

/* --- Streaming prediction ------------------------------------------------ */

enum bt_net_stream_mode {
	/* Each layer computes only its newest output from the newest
	 * samples, and the LSTM carries its state across the whole stream
	 * (with pooling of total stride S, S interleaved LSTM states, one for
	 * each phase of the stride, each stepped every S samples).  The cost
	 * of a sample is that of one column of each layer. */
	BT_NET_INCREMENTAL,
	/* The exact evaluation of the window of the W newest samples at
	 * every sample, as in training: W times the work. */
	BT_NET_WINDOW
};

/* Create a streaming predictor of NET (borrowed: it must outlive the
 * predictor) in MODE.
 *
 * Returns BT_OK, BT_EINVAL (an unknown mode) or BT_ENOMEM. */
enum bt_status bt_net_stream_alloc(const struct bt_net *net,
				   enum bt_net_stream_mode mode,
				   struct bt_net_stream **stream);

/* Free STREAM; bt_net_stream_free(NULL) does nothing.
 *
 * Returns nothing. */
void bt_net_stream_free(struct bt_net_stream *stream);

/* Forget every sample: the next step starts a new stream.
 *
 * Returns nothing. */
void bt_net_stream_reset(struct bt_net_stream *stream);

/* Take the next sample X (C channel values in physical units) and store
 * the prediction in *Y: NaN until W samples have been taken (the first
 * full window; the prediction at the W-th sample is that of the first
 * window in both modes), a number after.
 *
 * Returns BT_OK, or BT_ENONFINITE when a value of X is not finite (the
 * sample is not taken, *Y is NaN). */
enum bt_status bt_net_stream_step(struct bt_net_stream *stream, const double *x,
				  double *y);

/* Returns the number of samples taken since the start or the last reset. */
size_t bt_net_stream_count(const struct bt_net_stream *stream);

/* --- BLAS ---------------------------------------------------------------- */

/* Ask the BLAS the process is linked with to use THREADS threads (>= 1).
 * OpenBLAS is told through openblas_set_num_threads when it is present;
 * another BLAS is left as it is.  With one thread, OpenBLAS's idle
 * workers are also stopped: call it once, before any BLAS work.
 *
 * Returns the number of threads the BLAS uses: THREADS under OpenBLAS, 1
 * for GSL's reference CBLAS. */
int bt_net_set_threads(int threads);

/* Returns the name of the library that provides cblas_sgemm in this
 * process (its file name, "libopenblas.so.0" say), or "unknown". */
const char *bt_net_blas_name(void);

#endif /* BT_NET_H */
