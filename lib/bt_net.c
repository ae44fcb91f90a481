/* bt_net.c - the CNN-LSTM: architecture, weights, the batched forward and
 * backward passes on sgemm, and the streaming predictors.
 *
 * The equations (bt-net(5) has them in full):
 *
 *   convolution   y_t = relu(b + sum_m W_m x_{t+m}), m = 0 .. k-1, valid;
 *   pooling       z_i = max_q y_{r + i p + q}, q < p, r = T mod p;
 *   LSTM          the cell of Hochreiter and Schmidhuber (1997) with a
 *                 forget gate (Gers et al. 2000), gates in PyTorch's order:
 *                 i = sig(a_i), f = sig(a_f), g = tanh(a_g), o = sig(a_o),
 *                 a = W_x x_t + W_h h_{t-1} + b,
 *                 c_t = f c_{t-1} + i g,  h_t = o tanh(c_t);
 *   head          y = w . h_T + b.
 *
 * The backward pass is back-propagation through time of the same
 * equations; every gradient is checked against central differences in
 * tests/unit/test_bt_net.c.
 */
/* dladdr and RTLD_DEFAULT name the BLAS in use. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <dlfcn.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cblas.h>
#include <gsl/gsl_rng.h>

#include "bt_net.h"
#include "bt_net_impl.h"

void
bt_net_setmsg(char *errmsg, const char *fmt, ...)
{
	va_list ap;

	if (errmsg == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(errmsg, BT_ERRMSG_SIZE, fmt, ap);
	va_end(ap);
}

/* --- Architecture -------------------------------------------------------- */

void
bt_net_arch_init(struct bt_net_arch *arch, unsigned channels)
{
	unsigned l;

	memset(arch, 0, sizeof *arch);
	arch->window = BT_NET_DEFAULT_WINDOW;
	arch->channels = channels;
	arch->n_conv = BT_NET_DEFAULT_CONV_LAYERS;
	for (l = 0; l < BT_NET_MAX_CONV; l++) {
		arch->conv[l].kernel = BT_NET_DEFAULT_KERNEL;
		arch->conv[l].filters = BT_NET_DEFAULT_FILTERS;
		arch->conv[l].pool = BT_NET_DEFAULT_POOL;
	}
	arch->n_lstm = BT_NET_DEFAULT_LSTM_LAYERS;
	for (l = 0; l < BT_NET_MAX_LSTM; l++)
		arch->hidden[l] = BT_NET_DEFAULT_HIDDEN;
}

static int
units_ok(unsigned u)
{
	return u >= 1 && u <= BT_NET_MAX_UNITS;
}

enum bt_status
bt_net_layout_make(const struct bt_net_arch *a, struct bt_net_layout *lay,
		   char *errmsg)
{
	unsigned l, len, feat, stride;
	size_t n = 0, work, state = 0;

	memset(lay, 0, sizeof *lay);
	if (a->window < 1 || a->window > BT_NET_MAX_WINDOW) {
		bt_net_setmsg(errmsg, "window '%u' is out of range (1 to %u)", a->window,
		       BT_NET_MAX_WINDOW);
		return BT_EINVAL;
	}
	if (a->channels < 1 || a->channels > BT_NET_MAX_CHANNELS) {
		bt_net_setmsg(errmsg, "channels '%u' is out of range (1 to %u)",
		       a->channels, BT_NET_MAX_CHANNELS);
		return BT_EINVAL;
	}
	if (a->n_conv > BT_NET_MAX_CONV) {
		bt_net_setmsg(errmsg, "convolution layers '%u' is out of range (0 to %u)",
		       a->n_conv, BT_NET_MAX_CONV);
		return BT_EINVAL;
	}
	if (a->n_lstm < 1 || a->n_lstm > BT_NET_MAX_LSTM) {
		bt_net_setmsg(errmsg, "LSTM layers '%u' is out of range (1 to %u)",
		       a->n_lstm, BT_NET_MAX_LSTM);
		return BT_EINVAL;
	}
	len = a->window;
	feat = a->channels;
	stride = 1;
	work = (size_t)(len + 1) * feat;
	lay->len[0] = len;
	lay->feat[0] = feat;
	lay->stride[0] = stride;
	for (l = 0; l < a->n_conv; l++) {
		const struct bt_net_conv *c = &a->conv[l];

		if (!units_ok(c->filters)) {
			bt_net_setmsg(errmsg, "conv%u: filters '%u' is out of range (1 to %u)",
			       l + 1, c->filters, BT_NET_MAX_UNITS);
			return BT_EINVAL;
		}
		if (c->kernel < 1 || c->kernel > len) {
			bt_net_setmsg(errmsg, "conv%u: kernel '%u' is out of range (1 to its input length %u)",
			       l + 1, c->kernel, len);
			return BT_EINVAL;
		}
		len = len - c->kernel + 1;
		lay->conv_len[l] = len;
		if (c->pool < 1 || c->pool > len) {
			bt_net_setmsg(errmsg, "conv%u: pool '%u' is out of range (1 to its output length %u)",
			       l + 1, c->pool, len);
			return BT_EINVAL;
		}
		lay->conv_w[l] = n;
		n += (size_t)c->filters * c->kernel * feat;
		lay->conv_b[l] = n;
		n += c->filters;
		/* The gathered inputs, the outputs and their gradients. */
		work += 2 * (size_t)(lay->conv_len[l] + 1)
			* ((size_t)c->kernel * feat + c->filters);
		len /= c->pool;
		stride *= c->pool;
		feat = c->filters;
		lay->len[l + 1] = len;
		lay->feat[l + 1] = feat;
		lay->stride[l + 1] = stride;
	}
	for (l = 0; l < a->n_lstm; l++) {
		unsigned h = a->hidden[l];

		if (!units_ok(h)) {
			bt_net_setmsg(errmsg, "lstm%u: units '%u' is out of range (1 to %u)",
			       l + 1, h, BT_NET_MAX_UNITS);
			return BT_EINVAL;
		}
		lay->lstm_in[l] = feat;
		/* Gates, states, tanh of the cell state and the gradients. */
		work += (size_t)(len + 1) * 10 * h;
		state += 2 * (size_t)h;
		lay->lstm_wx[l] = n;
		n += (size_t)4 * h * feat;
		lay->lstm_wh[l] = n;
		n += (size_t)4 * h * h;
		lay->lstm_b[l] = n;
		n += (size_t)4 * h;
		feat = h;
	}
	lay->dense_w = n;
	n += feat;
	lay->dense_b = n;
	n += 1;
	if (n > (size_t)BT_NET_MAX_PARAMS) {
		bt_net_setmsg(errmsg, "the network has %zu weights, more than the %ld allowed",
		       n, (long)BT_NET_MAX_PARAMS);
		return BT_EINVAL;
	}
	if (work > (size_t)BT_NET_MAX_WORK) {
		bt_net_setmsg(errmsg, "the network needs %zu floats of work space per window, more than the %ld allowed",
		       work, (long)BT_NET_MAX_WORK);
		return BT_EINVAL;
	}
	if (state * stride > (size_t)BT_NET_MAX_WORK) {
		bt_net_setmsg(errmsg, "the network's streaming state (%zu floats for a pooling stride of %u) is more than the %ld allowed",
		       state * stride, stride, (long)BT_NET_MAX_WORK);
		return BT_EINVAL;
	}
	lay->nparams = n;
	return BT_OK;
}

enum bt_status
bt_net_arch_check(const struct bt_net_arch *arch, char errmsg[BT_ERRMSG_SIZE])
{
	struct bt_net_layout lay;

	return bt_net_layout_make(arch, &lay, errmsg);
}

size_t
bt_net_arch_params(const struct bt_net_arch *arch)
{
	struct bt_net_layout lay;

	if (bt_net_layout_make(arch, &lay, NULL) != BT_OK)
		return 0;
	return lay.nparams;
}

int
bt_net_name_ok(const char *s, size_t len)
{
	size_t i;

	if (len < 1 || len > BT_NET_MAX_NAME)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

/* --- Models -------------------------------------------------------------- */

struct bt_net *
bt_net_new(const struct bt_net_arch *arch)
{
	struct bt_net *net = calloc(1, sizeof *net);
	unsigned i;

	if (net == NULL)
		return NULL;
	net->arch = *arch;
	if (bt_net_layout_make(arch, &net->lay, NULL) != BT_OK) {
		free(net);
		return NULL;
	}
	net->params = calloc(net->lay.nparams, sizeof *net->params);
	if (net->params == NULL) {
		free(net);
		return NULL;
	}
	for (i = 0; i <= BT_NET_MAX_CHANNELS; i++) {
		net->mean[i] = 0;
		net->scale[i] = 1;
	}
	net->period_s = NAN;
	return net;
}

static void
fill_uniform(float *w, size_t n, double limit, gsl_rng *rng)
{
	size_t i;

	for (i = 0; i < n; i++)
		w[i] = (float)((2 * gsl_rng_uniform(rng) - 1) * limit);
}

/* Glorot and Bengio (2010), eq. 16: uniform in +-sqrt(6 / (fan_in +
 * fan_out)). */
static double
glorot(double fan_in, double fan_out)
{
	return sqrt(6.0 / (fan_in + fan_out));
}

static enum bt_status
init_weights(struct bt_net *net, uint64_t seed)
{
	const struct bt_net_arch *a = &net->arch;
	const struct bt_net_layout *lay = &net->lay;
	gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
	float *p = net->params;
	unsigned l, j;

	if (rng == NULL)
		return BT_ENOMEM;
	gsl_rng_set(rng, (unsigned long)seed);
	memset(p, 0, lay->nparams * sizeof *p);
	for (l = 0; l < a->n_conv; l++) {
		unsigned k = a->conv[l].kernel, fin = lay->feat[l];
		unsigned fout = a->conv[l].filters;

		fill_uniform(p + lay->conv_w[l], (size_t)fout * k * fin,
			     glorot((double)k * fin, (double)k * fout), rng);
	}
	for (l = 0; l < a->n_lstm; l++) {
		unsigned h = a->hidden[l];
		double lim = 1 / sqrt((double)h);

		fill_uniform(p + lay->lstm_wx[l], (size_t)4 * h * lay->lstm_in[l],
			     lim, rng);
		fill_uniform(p + lay->lstm_wh[l], (size_t)4 * h * h, lim, rng);
		/* Forget-gate bias 1: Jozefowicz, Zaremba and Sutskever
		 * (2015), sec. 2.2. */
		for (j = 0; j < h; j++)
			p[lay->lstm_b[l] + h + j] = 1;
	}
	fill_uniform(p + lay->dense_w, a->hidden[a->n_lstm - 1],
		     glorot(a->hidden[a->n_lstm - 1], 1), rng);
	gsl_rng_free(rng);
	return BT_OK;
}

enum bt_status
bt_net_alloc(struct bt_net **netp, const struct bt_net_arch *arch,
	     const char *const *channels, const char *target, uint64_t seed,
	     char errmsg[BT_ERRMSG_SIZE])
{
	struct bt_net *net;
	enum bt_status st;
	unsigned i;

	*netp = NULL;
	st = bt_net_arch_check(arch, errmsg);
	if (st != BT_OK)
		return st;
	for (i = 0; i <= arch->channels; i++) {
		const char *s = i < arch->channels ? channels[i] : target;

		if (s == NULL || !bt_net_name_ok(s, strlen(s))) {
			bt_net_setmsg(errmsg, "invalid column name '%s' (1 to %d printable characters)",
			       s ? s : "", BT_NET_MAX_NAME);
			return BT_EINVAL;
		}
	}
	net = bt_net_new(arch);
	if (net == NULL) {
		bt_net_setmsg(errmsg, "out of memory");
		return BT_ENOMEM;
	}
	for (i = 0; i <= arch->channels; i++)
		strcpy(net->names[i], i < arch->channels ? channels[i] : target);
	if (init_weights(net, seed) != BT_OK) {
		bt_net_free(net);
		bt_net_setmsg(errmsg, "out of memory");
		return BT_ENOMEM;
	}
	*netp = net;
	return BT_OK;
}

void
bt_net_free(struct bt_net *net)
{
	if (net == NULL)
		return;
	free(net->params);
	free(net);
}

struct bt_net *
bt_net_dup(const struct bt_net *net)
{
	struct bt_net *d = malloc(sizeof *d);

	if (d == NULL)
		return NULL;
	*d = *net;
	d->params = malloc(net->lay.nparams * sizeof *d->params);
	if (d->params == NULL) {
		free(d);
		return NULL;
	}
	memcpy(d->params, net->params, net->lay.nparams * sizeof *d->params);
	return d;
}

const struct bt_net_arch *
bt_net_arch(const struct bt_net *net)
{
	return &net->arch;
}

const char *
bt_net_channel(const struct bt_net *net, unsigned i)
{
	return i < net->arch.channels ? net->names[i] : NULL;
}

const char *
bt_net_target(const struct bt_net *net)
{
	return net->names[net->arch.channels];
}

enum bt_status
bt_net_norm(const struct bt_net *net, unsigned i, double *mean, double *scale)
{
	if (i > net->arch.channels)
		return BT_EINVAL;
	*mean = net->mean[i];
	*scale = net->scale[i];
	return BT_OK;
}

enum bt_status
bt_net_set_norm(struct bt_net *net, unsigned i, double mean, double scale)
{
	if (i > net->arch.channels || !isfinite(mean) || !isfinite(scale)
	    || !(scale > 0))
		return BT_EINVAL;
	net->mean[i] = mean;
	net->scale[i] = scale;
	return BT_OK;
}

double
bt_net_sample_period(const struct bt_net *net)
{
	return net->period_s;
}

enum bt_status
bt_net_set_sample_period(struct bt_net *net, double period_s)
{
	if (!isnan(period_s) && !(isfinite(period_s) && period_s > 0))
		return BT_EINVAL;
	net->period_s = period_s;
	return BT_OK;
}

float *
bt_net_params(struct bt_net *net, size_t *n)
{
	*n = net->lay.nparams;
	return net->params;
}

void
bt_net_l2(const struct bt_net *net, double l2, double *loss, float *grad)
{
	const struct bt_net_arch *a = &net->arch;
	const struct bt_net_layout *lay = &net->lay;
	size_t from[BT_NET_MAX_CONV + BT_NET_MAX_LSTM + 1];
	size_t to[BT_NET_MAX_CONV + BT_NET_MAX_LSTM + 1];
	unsigned nb = 0, l;
	double sum = 0;
	size_t i;

	if (l2 == 0)
		return;
	/* The weight blocks: each conv's W, each LSTM's W_x and W_h (they
	 * lie together), the head's w. */
	for (l = 0; l < a->n_conv; l++) {
		from[nb] = lay->conv_w[l];
		to[nb++] = lay->conv_b[l];
	}
	for (l = 0; l < a->n_lstm; l++) {
		from[nb] = lay->lstm_wx[l];
		to[nb++] = lay->lstm_b[l];
	}
	from[nb] = lay->dense_w;
	to[nb++] = lay->dense_b;
	for (l = 0; l < nb; l++)
		for (i = from[l]; i < to[l]; i++) {
			double w = net->params[i];

			sum += w * w;
			if (grad != NULL)
				grad[i] += (float)(2 * l2 * w);
		}
	*loss += l2 * sum;
}

/* --- Element-wise kernels ------------------------------------------------
 *
 * bt_net_simd.h holds them, written once for a vector width: here it is
 * built for 4 floats (SSE2 on any x86-64, NEON on arm64) and, on x86-64,
 * again for 8 floats with AVX2 and FMA, which the batches and predictors
 * use when the processor has them (bt-net(5) says so: results then differ
 * from a processor without them in the last bits, as OpenBLAS's kernels
 * already do). */

#define EXP_HI 88.3762626647949f	/* e^x overflows a float beyond */
#define EXP_LO (-88.3762626647949f)
#define LOG2E 1.44269504088896341f
#define LN2_HI 0.693359375f		/* ln 2 = LN2_HI - LN2_LO */
#define LN2_LO (-2.12194440e-4f)

typedef float v4sf __attribute__((vector_size(16)));
typedef int v4si __attribute__((vector_size(16)));
#define VF v4sf
#define VI v4si
#define VW 4
#define SIMD(name) name##_v4
#include "bt_net_simd.h"
#undef VF
#undef VI
#undef VW
#undef SIMD

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_WIDE 1
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
typedef float v8sf __attribute__((vector_size(32)));
typedef int v8si __attribute__((vector_size(32)));
#define VF v8sf
#define VI v8si
#define VW 8
#define SIMD(name) name##_v8
#include "bt_net_simd.h"
#undef VF
#undef VI
#undef VW
#undef SIMD
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif

static int simd_narrow_only;	/* bt_net_simd_narrow() */

void
bt_net_simd_narrow(int narrow)
{
	simd_narrow_only = narrow;
}

/* Whether this processor runs the 8-float kernels.  Returns 1 or 0. */
static int
simd_wide(void)
{
#ifdef HAVE_WIDE
	return !simd_narrow_only && __builtin_cpu_supports("avx2")
	       && __builtin_cpu_supports("fma");
#else
	return 0;
#endif
}

/* Call kernel NAME in the width WIDE asks for. */
#ifdef HAVE_WIDE
#define KERNEL(wide, name, ...) \
	((wide) ? name##_v8(__VA_ARGS__) : name##_v4(__VA_ARGS__))
#else
#define KERNEL(wide, name, ...) ((void)(wide), name##_v4(__VA_ARGS__))
#endif

/* --- Batched passes ------------------------------------------------------ */

struct bt_net_batch {
	const struct bt_net *net;
	size_t max;
	/* Level sequences: x[0] the input, x[l + 1] the output of conv l. */
	float *x[BT_NET_MAX_CONV + 1], *dx[BT_NET_MAX_CONV + 1];
	int own_x[BT_NET_MAX_CONV + 1];	/* x[l] is not an alias of y[l - 1] */
	float *col[BT_NET_MAX_CONV], *dcol[BT_NET_MAX_CONV];
	float *y[BT_NET_MAX_CONV], *dy[BT_NET_MAX_CONV];
	unsigned *arg[BT_NET_MAX_CONV];
	/* LSTM layer j: gates (activated), states, tanh of the cell state,
	 * and their gradients. */
	float *g[BT_NET_MAX_LSTM], *h[BT_NET_MAX_LSTM], *c[BT_NET_MAX_LSTM];
	float *tc[BT_NET_MAX_LSTM], *dg[BT_NET_MAX_LSTM], *dh[BT_NET_MAX_LSTM];
	float *dc;		/* the cell-state gradient carried back, n H */
	float *out;		/* n normalised predictions */
	float *dout;
	double *xin;		/* one window, physical units (stream) */
	int wide;		/* use the 8-float kernels */
	float *wht;		/* W_h transposed, 4 H_max by H_max */
};

static float *
fzalloc(size_t n)
{
	return calloc(n ? n : 1, sizeof(float));
}

void
bt_net_batch_free(struct bt_net_batch *b)
{
	unsigned l;

	if (b == NULL)
		return;
	for (l = 0; l <= BT_NET_MAX_CONV; l++) {
		free(b->dx[l]);
		if (b->own_x[l])
			free(b->x[l]);
	}
	for (l = 0; l < BT_NET_MAX_CONV; l++) {
		free(b->col[l]);
		free(b->dcol[l]);
		free(b->y[l]);
		free(b->dy[l]);
		free(b->arg[l]);
	}
	for (l = 0; l < BT_NET_MAX_LSTM; l++) {
		free(b->g[l]);
		free(b->h[l]);
		free(b->c[l]);
		free(b->tc[l]);
		free(b->dg[l]);
		free(b->dh[l]);
	}
	free(b->dc);
	free(b->wht);
	free(b->out);
	free(b->dout);
	free(b->xin);
	free(b);
}

enum bt_status
bt_net_batch_alloc(const struct bt_net *net, size_t max, struct bt_net_batch **bp)
{
	const struct bt_net_arch *a = &net->arch;
	const struct bt_net_layout *lay = &net->lay;
	struct bt_net_batch *b;
	unsigned l, hmax = 0;
	size_t p;
	int ok = 1;

	*bp = NULL;
	if (max == 0)
		return BT_EINVAL;
	b = calloc(1, sizeof *b);
	if (b == NULL)
		return BT_ENOMEM;
	b->net = net;
	b->max = max;
	b->wide = simd_wide();
	p = lay->len[0] + 1;
	b->x[0] = fzalloc(max * p * lay->feat[0]);
	b->own_x[0] = 1;
	b->dx[0] = fzalloc(max * p * lay->feat[0]);
	ok &= b->x[0] && b->dx[0];
	for (l = 0; ok && l < a->n_conv; l++) {
		size_t pc = lay->conv_len[l] + 1;
		size_t k = (size_t)a->conv[l].kernel * lay->feat[l];
		size_t f = a->conv[l].filters;

		b->col[l] = fzalloc(max * pc * k);
		b->dcol[l] = fzalloc(max * pc * k);
		b->y[l] = fzalloc(max * pc * f);
		b->dy[l] = fzalloc(max * pc * f);
		ok &= b->col[l] && b->dcol[l] && b->y[l] && b->dy[l];
		if (a->conv[l].pool > 1) {
			size_t po = lay->len[l + 1] + 1;

			b->x[l + 1] = fzalloc(max * po * f);
			b->own_x[l + 1] = 1;
			b->dx[l + 1] = fzalloc(max * po * f);
			b->arg[l] = calloc(max * po * f, sizeof *b->arg[l]);
			ok &= b->x[l + 1] && b->dx[l + 1] && b->arg[l];
		} else {
			/* Without pooling the level is the convolution's
			 * output, and its gradient dy. */
			b->x[l + 1] = b->y[l];
		}
	}
	p = lay->len[a->n_conv] + 1;
	for (l = 0; ok && l < a->n_lstm; l++) {
		size_t h = a->hidden[l];

		b->g[l] = fzalloc(max * p * 4 * h);
		b->dg[l] = fzalloc(max * p * 4 * h);
		b->h[l] = fzalloc(max * p * h);
		b->c[l] = fzalloc(max * p * h);
		b->tc[l] = fzalloc(max * p * h);
		b->dh[l] = fzalloc(max * p * h);
		ok &= b->g[l] && b->dg[l] && b->h[l] && b->c[l] && b->tc[l]
		      && b->dh[l];
		if (h > hmax)
			hmax = (unsigned)h;
	}
	if (ok) {
		b->dc = fzalloc(max * hmax);
		b->wht = fzalloc((size_t)4 * hmax * hmax);
		b->out = fzalloc(max);
		b->dout = fzalloc(max);
		b->xin = calloc((size_t)a->window * a->channels, sizeof *b->xin);
		ok = b->dc && b->wht && b->out && b->dout && b->xin;
	}
	if (!ok) {
		bt_net_batch_free(b);
		return BT_ENOMEM;
	}
	*bp = b;
	return BT_OK;
}

float *
bt_net_batch_input(struct bt_net_batch *b)
{
	return b->x[0];
}

static void
conv_forward(struct bt_net_batch *b, unsigned l, size_t n)
{
	const struct bt_net *net = b->net;
	const struct bt_net_layout *lay = &net->lay;
	const struct bt_net_conv *cv = &net->arch.conv[l];
	size_t fin = lay->feat[l], fout = cv->filters;
	size_t k = cv->kernel * fin;
	size_t pin = lay->len[l] + 1, tc = lay->conv_len[l], pc = tc + 1;
	const float *w = net->params + lay->conv_w[l];
	const float *bias = net->params + lay->conv_b[l];
	float *col = b->col[l], *y = b->y[l];
	size_t i, j, f;

	/* The k newest inputs of output t lie together in memory: row t + 1
	 * of the input block onward (an overlapping view that BLAS cannot
	 * take, hence the copy). */
	for (i = 0; i < n; i++)
		for (j = 0; j < tc; j++)
			memcpy(col + (i * pc + 1 + j) * k,
			       b->x[l] + (i * pin + 1 + j) * fin, k * sizeof *col);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(n * pc),
		    (int)fout, (int)k, 1, col, (int)k, w, (int)k, 0, y, (int)fout);
	KERNEL(b->wide, bias_relu, y, bias, n * pc, fout);
	if (cv->pool > 1) {
		size_t p = cv->pool, to = lay->len[l + 1], po = to + 1;
		size_t r = tc - to * p;
		float *z = b->x[l + 1];
		unsigned *arg = b->arg[l];

		for (i = 0; i < n; i++)
			for (j = 0; j < to; j++)
				for (f = 0; f < fout; f++) {
					size_t row = i * pc + 1 + r + j * p, q;
					size_t best = row;

					for (q = 1; q < p; q++)
						if (y[(row + q) * fout + f] > y[best * fout + f])
							best = row + q;
					z[(i * po + 1 + j) * fout + f] = y[best * fout + f];
					arg[(i * po + 1 + j) * fout + f] = (unsigned)best;
				}
	}
}

static void
lstm_forward(struct bt_net_batch *b, unsigned l, size_t n)
{
	const struct bt_net *net = b->net;
	const struct bt_net_layout *lay = &net->lay;
	size_t hn = net->arch.hidden[l], in = lay->lstm_in[l];
	size_t t, T = lay->len[net->arch.n_conv], p = T + 1, i, j;
	const float *x = l == 0 ? b->x[net->arch.n_conv] : b->h[l - 1];
	const float *wx = net->params + lay->lstm_wx[l];
	const float *wh = net->params + lay->lstm_wh[l];
	const float *bias = net->params + lay->lstm_b[l];
	float *g = b->g[l], *h = b->h[l], *c = b->c[l], *tc = b->tc[l];

	/* The input projection of every step of every window at once. */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(n * p),
		    (int)(4 * hn), (int)in, 1, x, (int)in, wx, (int)in, 0, g,
		    (int)(4 * hn));
	/* W_h^T, so that the small products of the recurrence are plain
	 * (no transpose): OpenBLAS then takes its small-matrix kernels
	 * instead of packing W_h again at every step. */
	for (i = 0; i < 4 * hn; i++)
		for (j = 0; j < hn; j++)
			b->wht[j * 4 * hn + i] = wh[i * hn + j];
	for (t = 0; t < T; t++) {
		/* a_t += W_h h_{t-1}: row t of each block holds h_{t-1}. */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n,
			    (int)(4 * hn), (int)hn, 1, h + t * hn, (int)(p * hn),
			    b->wht, (int)(4 * hn), 1, g + (t + 1) * 4 * hn,
			    (int)(p * 4 * hn));
		for (i = 0; i < n; i++) {
			size_t row = i * p + 1 + t;
			float *ga = g + row * 4 * hn;
			float *hr = h + row * hn, *cr = c + row * hn;
			const float *cp = c + (row - 1) * hn;

			KERNEL(b->wide, cell_forward, ga, bias, cp, cr, tc + row * hn,
			       hr, hn);
		}
	}
}

const float *
bt_net_batch_run(struct bt_net_batch *b, size_t n)
{
	const struct bt_net *net = b->net;
	const struct bt_net_arch *a = &net->arch;
	const struct bt_net_layout *lay = &net->lay;
	unsigned l, top = a->n_lstm - 1;
	size_t hn = a->hidden[top], T = lay->len[a->n_conv], p = T + 1, i;
	const float *w = net->params + lay->dense_w;

	for (l = 0; l < a->n_conv; l++)
		conv_forward(b, l, n);
	for (l = 0; l < a->n_lstm; l++)
		lstm_forward(b, l, n);
	for (i = 0; i < n; i++) {
		const float *hl = b->h[top] + (i * p + T) * hn;
		float s = net->params[lay->dense_b];
		size_t j;

		for (j = 0; j < hn; j++)
			s += w[j] * hl[j];
		b->out[i] = s;
	}
	return b->out;
}

static void
colsum_add(const float *m, size_t rows, size_t cols, float *sum)
{
	size_t i, j;

	for (i = 0; i < rows; i++)
		for (j = 0; j < cols; j++)
			sum[j] += m[i * cols + j];
}

/* Back-propagation through time of LSTM layer L, given dh (the loss's
 * gradient with respect to every h_t of the layer) in b->dh[l]; adds the
 * weight gradients to GRAD and, when DXIN is not NULL, stores the gradient
 * with respect to the layer's input there. */
static void
lstm_backward(struct bt_net_batch *b, unsigned l, size_t n, float *grad,
	      float *dxin)
{
	const struct bt_net *net = b->net;
	const struct bt_net_layout *lay = &net->lay;
	size_t hn = net->arch.hidden[l], in = lay->lstm_in[l];
	size_t T = lay->len[net->arch.n_conv], p = T + 1, i, t;
	const float *x = l == 0 ? b->x[net->arch.n_conv] : b->h[l - 1];
	const float *wx = net->params + lay->lstm_wx[l];
	const float *wh = net->params + lay->lstm_wh[l];
	const float *g = b->g[l], *c = b->c[l], *tc = b->tc[l];
	float *dg = b->dg[l], *dh = b->dh[l], *dc = b->dc;

	memset(dg, 0, n * p * 4 * hn * sizeof *dg);
	memset(dc, 0, n * hn * sizeof *dc);
	for (t = T; t-- > 0;) {
		for (i = 0; i < n; i++) {
			size_t row = i * p + 1 + t;
			const float *ga = g + row * 4 * hn;
			const float *cp = c + (row - 1) * hn;
			const float *th = tc + row * hn;
			const float *dhr = dh + row * hn;

			KERNEL(b->wide, cell_backward, ga, cp, th, dhr, dc + i * hn,
			       dg + row * 4 * hn, hn);
		}
		/* dh_{t-1} += W_h^T da_t; for t = 0 this lands in the pad
		 * rows, which nobody reads. */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n,
			    (int)hn, (int)(4 * hn), 1, dg + (t + 1) * 4 * hn,
			    (int)(p * 4 * hn), wh, (int)hn, 1, dh + t * hn,
			    (int)(p * hn));
	}
	/* dW_h = sum over rows r of da_r h_{r-1}^T: row r - 1 of the state
	 * buffer is h_{t-1} for every step row r, and the pad rows' da is 0. */
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)(4 * hn),
		    (int)hn, (int)(n * p - 1), 1, dg + 4 * hn, (int)(4 * hn),
		    b->h[l], (int)hn, 1, grad + lay->lstm_wh[l], (int)hn);
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)(4 * hn),
		    (int)in, (int)(n * p), 1, dg, (int)(4 * hn), x, (int)in, 1,
		    grad + lay->lstm_wx[l], (int)in);
	colsum_add(dg, n * p, 4 * hn, grad + lay->lstm_b[l]);
	if (dxin != NULL)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
			    (int)(n * p), (int)in, (int)(4 * hn), 1, dg,
			    (int)(4 * hn), wx, (int)in, 0, dxin, (int)in);
}

/* Back-propagate through conv layer L: the gradient with respect to its
 * output sequence is in b->dx[l + 1] (b->dy[l] without pooling). */
static void
conv_backward(struct bt_net_batch *b, unsigned l, size_t n, float *grad,
	      float *dxin)
{
	const struct bt_net *net = b->net;
	const struct bt_net_layout *lay = &net->lay;
	const struct bt_net_conv *cv = &net->arch.conv[l];
	size_t fin = lay->feat[l], fout = cv->filters;
	size_t k = cv->kernel * fin;
	size_t pin = lay->len[l] + 1, tc = lay->conv_len[l], pc = tc + 1;
	const float *w = net->params + lay->conv_w[l];
	const float *y = b->y[l];
	float *dy = b->dy[l];
	size_t i, j, f;

	if (cv->pool > 1) {
		size_t to = lay->len[l + 1], po = to + 1;
		const float *dz = b->dx[l + 1];
		const unsigned *arg = b->arg[l];

		memset(dy, 0, n * pc * fout * sizeof *dy);
		for (i = 0; i < n; i++)
			for (j = 0; j < to; j++)
				for (f = 0; f < fout; f++) {
					size_t e = (i * po + 1 + j) * fout + f;

					dy[(size_t)arg[e] * fout + f] += dz[e];
				}
	}
	for (i = 0; i < n * pc * fout; i++)
		if (!(y[i] > 0))
			dy[i] = 0;
	for (i = 0; i < n; i++)		/* pad rows carry no gradient */
		memset(dy + i * pc * fout, 0, fout * sizeof *dy);
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)fout, (int)k,
		    (int)(n * pc), 1, dy, (int)fout, b->col[l], (int)k, 1,
		    grad + lay->conv_w[l], (int)k);
	colsum_add(dy, n * pc, fout, grad + lay->conv_b[l]);
	if (dxin == NULL)
		return;
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(n * pc),
		    (int)k, (int)fout, 1, dy, (int)fout, w, (int)k, 0, b->dcol[l],
		    (int)k);
	memset(dxin, 0, n * pin * fin * sizeof *dxin);
	for (i = 0; i < n; i++)
		for (j = 0; j < tc; j++) {
			const float *s = b->dcol[l] + (i * pc + 1 + j) * k;
			float *d = dxin + (i * pin + 1 + j) * fin;
			size_t m;

			for (m = 0; m < k; m++)
				d[m] += s[m];
		}
}

/* The gradient buffer of level L's sequence. */
static float *
level_grad(struct bt_net_batch *b, unsigned l)
{
	if (l > 0 && b->net->arch.conv[l - 1].pool == 1)
		return b->dy[l - 1];
	return b->dx[l];
}

void
bt_net_batch_back(struct bt_net_batch *b, size_t n, const float *dout,
		  float *grad, float *dx)
{
	const struct bt_net *net = b->net;
	const struct bt_net_arch *a = &net->arch;
	const struct bt_net_layout *lay = &net->lay;
	unsigned top = a->n_lstm - 1, l;
	size_t hn = a->hidden[top], T = lay->len[a->n_conv], p = T + 1, i, j;
	const float *w = net->params + lay->dense_w;
	float *dh = b->dh[top];

	memset(dh, 0, n * p * hn * sizeof *dh);
	for (i = 0; i < n; i++) {
		const float *hl = b->h[top] + (i * p + T) * hn;
		float *dl = dh + (i * p + T) * hn;

		for (j = 0; j < hn; j++) {
			grad[lay->dense_w + j] += dout[i] * hl[j];
			dl[j] = dout[i] * w[j];
		}
		grad[lay->dense_b] += dout[i];
	}
	for (l = a->n_lstm; l-- > 0;) {
		float *dxin;

		if (l > 0)
			dxin = b->dh[l - 1];
		else if (a->n_conv > 0 || dx != NULL)
			dxin = level_grad(b, a->n_conv);
		else
			dxin = NULL;
		lstm_backward(b, l, n, grad, dxin);
	}
	for (l = a->n_conv; l-- > 0;)
		conv_backward(b, l, n, grad,
			      l > 0 || dx != NULL ? level_grad(b, l) : NULL);
	if (dx != NULL) {
		size_t pin = lay->len[0] + 1, row = (size_t)a->window * a->channels;

		for (i = 0; i < n; i++)
			memcpy(dx + i * row, b->dx[0] + (i * pin + 1) * a->channels,
			       row * sizeof *dx);
	}
}

/* Copy N windows in physical units into the input buffer, normalised. */
static void
load_windows(struct bt_net_batch *b, const double *x, size_t n)
{
	const struct bt_net *net = b->net;
	size_t w = net->arch.window, c = net->arch.channels, i, t, ch;

	for (i = 0; i < n; i++)
		for (t = 0; t < w; t++)
			for (ch = 0; ch < c; ch++)
				b->x[0][(i * (w + 1) + 1 + t) * c + ch] =
					(float)((x[(i * w + t) * c + ch] - net->mean[ch])
						/ net->scale[ch]);
}

enum bt_status
bt_net_batch_forward(struct bt_net_batch *b, const double *x, size_t n,
		     double *y)
{
	const struct bt_net *net = b->net;
	unsigned tgt = net->arch.channels;
	const float *out;
	size_t i;

	if (n == 0 || n > b->max)
		return BT_EINVAL;
	load_windows(b, x, n);
	out = bt_net_batch_run(b, n);
	for (i = 0; i < n; i++)
		y[i] = out[i] * net->scale[tgt] + net->mean[tgt];
	return BT_OK;
}

enum bt_status
bt_net_batch_loss(struct bt_net_batch *b, const double *x, const double *y,
		  size_t n, double l2, double *loss, float *grad, float *dx)
{
	const struct bt_net *net = b->net;
	unsigned tgt = net->arch.channels;
	const float *out;
	double sum = 0;
	size_t i;

	if (n == 0 || n > b->max)
		return BT_EINVAL;
	load_windows(b, x, n);
	out = bt_net_batch_run(b, n);
	for (i = 0; i < n; i++) {
		double e = out[i] - (y[i] - net->mean[tgt]) / net->scale[tgt];

		sum += e * e;
		b->dout[i] = (float)(2 * e / (double)n);
	}
	*loss = sum / (double)n;
	if (grad != NULL || dx != NULL) {
		float *gr = grad;

		if (gr == NULL) {
			/* The weights' gradient is computed anyway. */
			gr = calloc(net->lay.nparams, sizeof *gr);
			if (gr == NULL)
				return BT_ENOMEM;
		} else {
			memset(gr, 0, net->lay.nparams * sizeof *gr);
		}
		bt_net_batch_back(b, n, b->dout, gr, dx);
		if (gr != grad)
			free(gr);
	}
	bt_net_l2(net, l2, loss, grad);
	return BT_OK;
}

/* --- Streaming ----------------------------------------------------------- */

/* One convolution layer of the incremental predictor: the history of its
 * input at its input's stride, and of its output for the pooling. */
struct slevel {
	unsigned k, fin, fout, pool, s;	/* s: stride of the input */
	unsigned in_cap, in_pos;	/* ring of (k - 1) s + 1 inputs */
	size_t in_n;
	float *in;
	float *col;			/* k fin gathered inputs */
	unsigned y_cap, y_pos;		/* ring of (pool - 1) s + 1 outputs */
	size_t y_n;
	float *y;
	float *z;			/* the level's newest output */
};

struct bt_net_stream {
	const struct bt_net *net;
	enum bt_net_stream_mode mode;
	size_t count;
	float *xn;			/* the newest sample, normalised */
	/* Incremental. */
	struct slevel lev[BT_NET_MAX_CONV];
	unsigned phases;		/* the total stride S */
	size_t top_n;			/* top-level outputs so far */
	float *h, *c;			/* S phases of every LSTM's h and c */
	size_t state_len;		/* floats of h (and of c) per phase */
	float *gates;			/* 4 H */
	/* Window. */
	struct bt_net_batch *batch;
	float *ring;			/* W samples, normalised */
	unsigned ring_pos;
	int wide;			/* use the 8-float kernels */
};

void
bt_net_stream_free(struct bt_net_stream *s)
{
	unsigned l;

	if (s == NULL)
		return;
	for (l = 0; l < BT_NET_MAX_CONV; l++) {
		free(s->lev[l].in);
		free(s->lev[l].col);
		free(s->lev[l].y);
		free(s->lev[l].z);
	}
	free(s->xn);
	free(s->h);
	free(s->c);
	free(s->gates);
	bt_net_batch_free(s->batch);
	free(s->ring);
	free(s);
}

void
bt_net_stream_reset(struct bt_net_stream *s)
{
	unsigned l;

	s->count = 0;
	s->top_n = 0;
	s->ring_pos = 0;
	for (l = 0; l < s->net->arch.n_conv; l++) {
		s->lev[l].in_n = 0;
		s->lev[l].in_pos = 0;
		s->lev[l].y_n = 0;
		s->lev[l].y_pos = 0;
	}
	if (s->h != NULL) {
		memset(s->h, 0, (size_t)s->phases * s->state_len * sizeof *s->h);
		memset(s->c, 0, (size_t)s->phases * s->state_len * sizeof *s->c);
	}
}

enum bt_status
bt_net_stream_alloc(const struct bt_net *net, enum bt_net_stream_mode mode,
		    struct bt_net_stream **sp)
{
	const struct bt_net_arch *a = &net->arch;
	const struct bt_net_layout *lay = &net->lay;
	struct bt_net_stream *s;
	unsigned l, hmax = 0;
	int ok = 1;

	*sp = NULL;
	if (mode != BT_NET_INCREMENTAL && mode != BT_NET_WINDOW)
		return BT_EINVAL;
	s = calloc(1, sizeof *s);
	if (s == NULL)
		return BT_ENOMEM;
	s->net = net;
	s->mode = mode;
	s->wide = simd_wide();
	s->xn = fzalloc(a->channels);
	ok &= s->xn != NULL;
	if (mode == BT_NET_WINDOW) {
		ok &= bt_net_batch_alloc(net, 1, &s->batch) == BT_OK;
		s->ring = fzalloc((size_t)a->window * a->channels);
		ok &= s->ring != NULL;
	} else {
		for (l = 0; ok && l < a->n_conv; l++) {
			struct slevel *v = &s->lev[l];

			v->k = a->conv[l].kernel;
			v->fin = lay->feat[l];
			v->fout = a->conv[l].filters;
			v->pool = a->conv[l].pool;
			v->s = lay->stride[l];
			v->in_cap = (v->k - 1) * v->s + 1;
			v->y_cap = (v->pool - 1) * v->s + 1;
			v->in = fzalloc((size_t)v->in_cap * v->fin);
			v->col = fzalloc((size_t)v->k * v->fin);
			v->y = fzalloc((size_t)v->y_cap * v->fout);
			v->z = fzalloc(v->fout);
			ok &= v->in && v->col && v->y && v->z;
		}
		s->phases = lay->stride[a->n_conv];
		for (l = 0; l < a->n_lstm; l++) {
			s->state_len += a->hidden[l];
			if (a->hidden[l] > hmax)
				hmax = a->hidden[l];
		}
		if (ok) {
			s->h = fzalloc((size_t)s->phases * s->state_len);
			s->c = fzalloc((size_t)s->phases * s->state_len);
			s->gates = fzalloc((size_t)4 * hmax);
			ok = s->h && s->c && s->gates;
		}
	}
	if (!ok) {
		bt_net_stream_free(s);
		return BT_ENOMEM;
	}
	*sp = s;
	return BT_OK;
}

size_t
bt_net_stream_count(const struct bt_net_stream *s)
{
	return s->count;
}

/* Feed the newest value X of level L's input; return the level's newest
 * output, or NULL while it has none yet. */
static const float *
level_step(const struct bt_net *net, int wide, struct slevel *v, unsigned l,
	   const float *x)
{
	const float *w = net->params + net->lay.conv_w[l];
	const float *bias = net->params + net->lay.conv_b[l];
	unsigned m, f, q, idx;
	float *yr;

	v->in_pos = (v->in_pos + 1) % v->in_cap;
	memcpy(v->in + (size_t)v->in_pos * v->fin, x, v->fin * sizeof *x);
	if (++v->in_n < v->in_cap)
		return NULL;
	/* Gather the k inputs s apart, oldest first. */
	for (m = 0; m < v->k; m++) {
		idx = (v->in_pos + v->in_cap - (v->k - 1 - m) * v->s) % v->in_cap;
		memcpy(v->col + (size_t)m * v->fin, v->in + (size_t)idx * v->fin,
		       v->fin * sizeof *v->col);
	}
	v->y_pos = (v->y_pos + 1) % v->y_cap;
	yr = v->y + (size_t)v->y_pos * v->fout;
	cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)v->fout,
		    (int)(v->k * v->fin), 1, w, (int)(v->k * v->fin), v->col, 1,
		    0, yr, 1);
	KERNEL(wide, bias_relu, yr, bias, 1, v->fout);
	if (++v->y_n < v->y_cap)
		return NULL;
	if (v->pool == 1)
		return yr;
	memcpy(v->z, yr, v->fout * sizeof *v->z);
	for (q = 1; q < v->pool; q++) {
		const float *o;

		idx = (v->y_pos + v->y_cap - q * v->s) % v->y_cap;
		o = v->y + (size_t)idx * v->fout;
		for (f = 0; f < v->fout; f++)
			if (o[f] > v->z[f])
				v->z[f] = o[f];
	}
	return v->z;
}

/* One LSTM step of layer L from state (H, C) with input X. */
static void
lstm_step(const struct bt_net *net, int wide, unsigned l, const float *x,
	  float *h, float *c, float *ga)
{
	const struct bt_net_layout *lay = &net->lay;
	unsigned hn = net->arch.hidden[l], in = lay->lstm_in[l];
	const float *bias = net->params + lay->lstm_b[l];

	memcpy(ga, bias, (size_t)4 * hn * sizeof *ga);
	cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)(4 * hn), (int)in, 1,
		    net->params + lay->lstm_wx[l], (int)in, x, 1, 1, ga, 1);
	cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)(4 * hn), (int)hn, 1,
		    net->params + lay->lstm_wh[l], (int)hn, h, 1, 1, ga, 1);
	KERNEL(wide, cell_forward, ga, NULL, c, c, NULL, h, hn);
}

static double
incremental_step(struct bt_net_stream *s)
{
	const struct bt_net *net = s->net;
	const struct bt_net_arch *a = &net->arch;
	const struct bt_net_layout *lay = &net->lay;
	const float *x = s->xn, *hl;
	float *h, *c;
	unsigned l, tgt = a->channels;
	size_t off = 0;
	float out;

	for (l = 0; l < a->n_conv; l++) {
		x = level_step(net, s->wide, &s->lev[l], l, x);
		if (x == NULL)
			return NAN;
	}
	h = s->h + (s->top_n % s->phases) * s->state_len;
	c = s->c + (s->top_n % s->phases) * s->state_len;
	s->top_n++;
	for (l = 0; l < a->n_lstm; l++) {
		lstm_step(net, s->wide, l, x, h + off, c + off, s->gates);
		x = h + off;
		off += a->hidden[l];
	}
	if (s->count < a->window)
		return NAN;
	hl = x;
	out = net->params[lay->dense_b];
	for (l = 0; l < a->hidden[a->n_lstm - 1]; l++)
		out += net->params[lay->dense_w + l] * hl[l];
	return out * net->scale[tgt] + net->mean[tgt];
}

static double
window_step(struct bt_net_stream *s)
{
	const struct bt_net *net = s->net;
	size_t w = net->arch.window, c = net->arch.channels;
	unsigned tgt = net->arch.channels;
	float *in = bt_net_batch_input(s->batch);
	size_t old;

	memcpy(s->ring + (size_t)s->ring_pos * c, s->xn, c * sizeof *s->xn);
	s->ring_pos = (unsigned)((s->ring_pos + 1) % w);
	if (s->count < w)
		return NAN;
	/* The oldest sample is at ring_pos now. */
	old = w - s->ring_pos;
	memcpy(in + c, s->ring + s->ring_pos * c, old * c * sizeof *in);
	memcpy(in + c + old * c, s->ring, s->ring_pos * c * sizeof *in);
	return bt_net_batch_run(s->batch, 1)[0] * net->scale[tgt]
	       + net->mean[tgt];
}

enum bt_status
bt_net_stream_step(struct bt_net_stream *s, const double *x, double *y)
{
	const struct bt_net *net = s->net;
	unsigned ch;

	*y = NAN;
	for (ch = 0; ch < net->arch.channels; ch++)
		if (!isfinite(x[ch]))
			return BT_ENONFINITE;
	for (ch = 0; ch < net->arch.channels; ch++)
		s->xn[ch] = (float)((x[ch] - net->mean[ch]) / net->scale[ch]);
	s->count++;
	*y = s->mode == BT_NET_WINDOW ? window_step(s) : incremental_step(s);
	return BT_OK;
}

/* --- BLAS ---------------------------------------------------------------- */

int
bt_net_set_threads(int threads)
{
	void (*set)(int);
	int (*get)(void);
	int (*shutdown)(void);

	/* Looked up rather than linked: libbattools names only the CBLAS
	 * interface, and the program decides which BLAS provides it. */
	*(void **)&set = dlsym(RTLD_DEFAULT, "openblas_set_num_threads");
	*(void **)&get = dlsym(RTLD_DEFAULT, "openblas_get_num_threads");
	if (set == NULL || get == NULL)
		return 1;
	set(threads < 1 ? 1 : threads);
	/* OpenBLAS starts its worker threads when it is loaded, and each
	 * spins on sched_yield() for some 2^28 processor cycles before it
	 * sleeps: a tenth of a second of processor time taken from a stream
	 * that may never call the BLAS.  One thread needs no workers, so stop
	 * them through OpenBLAS's internal blas_thread_shutdown_ (what its own
	 * fork handler calls; not public API, so looked up and skipped when
	 * absent).  The tools call this once, before any BLAS work; whether a
	 * later call for more threads starts the workers again depends on the
	 * OpenBLAS version. */
	if (threads <= 1) {
		*(void **)&shutdown = dlsym(RTLD_DEFAULT, "blas_thread_shutdown_");
		if (shutdown != NULL)
			shutdown();
	}
	return get();
}

const char *
bt_net_blas_name(void)
{
	Dl_info info;
	const char *slash;

	if (dladdr((void *)cblas_sgemm, &info) == 0 || info.dli_fname == NULL)
		return "unknown";
	slash = strrchr(info.dli_fname, '/');
	return slash ? slash + 1 : info.dli_fname;
}
