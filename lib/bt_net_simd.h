/* bt_net_simd.h - the element-wise kernels of bt_net: the LSTM cell's
 * forward and backward steps and the convolutions' bias and ReLU.  Not
 * installed.
 *
 * Written once for vectors of VW floats (GCC vector extensions) and
 * included by bt_net.c once for each instruction set it builds: before
 * each inclusion VF and VI name the float and int vector types of VW
 * lanes, and SIMD(name) gives each function of that copy its name.
 *
 * The LSTM's sigmoids and tanhs dominate a pass when libm computes them
 * one at a time, hence vectors.  exp is Cephes' expf (S. L. Moshier,
 * Cephes Math Library 2.2, expf.c): x = n ln 2 + r with ln 2 split in two
 * for exactness, a degree-5 minimax polynomial for e^r on |r| <= ln(2)/2,
 * and 2^n put into the exponent bits; relative error about 1e-7 over the
 * clamped range.  Then sigmoid(a) = 1 / (1 + e^-a) and tanh(a) = 1 - 2 /
 * (e^(2a) + 1), whose absolute error near 0 is of the same size.
 */

static inline VF
SIMD(vsplat)(float x)
{
	return (VF){0} + x;
}

/* Element-wise A < B ? A : B and A > B ? A : B through bit masks (C has no
 * vector ?:). */
static inline VF
SIMD(vmin)(VF a, VF b)
{
	VI m = a < b;

	return (VF)(((VI)a & m) | ((VI)b & ~m));
}

static inline VF
SIMD(vmax)(VF a, VF b)
{
	VI m = a > b;

	return (VF)(((VI)a & m) | ((VI)b & ~m));
}

static inline VF
SIMD(vexp)(VF x)
{
	VF fx, t, z, y;
	VI n;

	x = SIMD(vmax)(SIMD(vmin)(x, SIMD(vsplat)(EXP_HI)), SIMD(vsplat)(EXP_LO));
	/* n = floor(x log2 e + 1/2): truncate, then step down where that
	 * rounded up (negative arguments). */
	t = x * LOG2E + 0.5f;
	n = __builtin_convertvector(t, VI);
	fx = __builtin_convertvector(n, VF);
	n += (VI)(fx > t);		/* the mask is -1 where fx > t */
	fx = __builtin_convertvector(n, VF);
	x = x - fx * LN2_HI - fx * LN2_LO;
	z = x * x;
	y = SIMD(vsplat)(1.9875691500e-4f);
	y = y * x + 1.3981999507e-3f;
	y = y * x + 8.3334519073e-3f;
	y = y * x + 4.1665795894e-2f;
	y = y * x + 1.6666665459e-1f;
	y = y * x + 5.0000001201e-1f;
	y = y * z + x + 1.0f;
	/* Scale by 2^n, building the float 2^n from its exponent bits; the
	 * clamp keeps n + 127 in 1 .. 254 but at the very ends. */
	n = (n + 127) << 23;
	return y * SIMD(vmax)((VF)n, (VF)((VI){0}));
}

static inline VF
SIMD(vsigm)(VF a)
{
	return 1.0f / (1.0f + SIMD(vexp)(-a));
}

static inline VF
SIMD(vtanh)(VF a)
{
	return 1.0f - 2.0f / (SIMD(vexp)(a + a) + 1.0f);
}

/* Load or store the M (1 .. VW) floats at P; missing lanes read as 0. */
static inline VF
SIMD(load)(const float *p, size_t m)
{
	VF v = SIMD(vsplat)(0);

	/* A constant size becomes one unaligned vector move. */
	if (m == VW)
		memcpy(&v, p, sizeof v);
	else
		memcpy(&v, p, m * sizeof *p);
	return v;
}

static inline void
SIMD(store)(float *p, VF v, size_t m)
{
	if (m == VW)
		memcpy(p, &v, sizeof v);
	else
		memcpy(p, &v, m * sizeof *p);
}

/* The LSTM cell update of HN units: A holds the 4 HN pre-activations in
 * gate order i, f, g, o (plus BIAS when it is not NULL), CP the previous
 * cell state.  A receives the gate values, C the new cell state (C may be
 * CP), TH its tanh (when not NULL) and H the new hidden state. */
static void
SIMD(cell_forward)(float *a, const float *bias, const float *cp, float *c,
		   float *th, float *h, size_t hn)
{
	size_t j, m;

	for (j = 0; j < hn; j += m) {
		VF i, f, g, o, cv, t;

		m = hn - j < VW ? hn - j : VW;
		i = SIMD(load)(a + j, m);
		f = SIMD(load)(a + hn + j, m);
		g = SIMD(load)(a + 2 * hn + j, m);
		o = SIMD(load)(a + 3 * hn + j, m);
		if (bias != NULL) {
			i += SIMD(load)(bias + j, m);
			f += SIMD(load)(bias + hn + j, m);
			g += SIMD(load)(bias + 2 * hn + j, m);
			o += SIMD(load)(bias + 3 * hn + j, m);
		}
		i = SIMD(vsigm)(i);
		f = SIMD(vsigm)(f);
		g = SIMD(vtanh)(g);
		o = SIMD(vsigm)(o);
		cv = f * SIMD(load)(cp + j, m) + i * g;
		t = SIMD(vtanh)(cv);
		SIMD(store)(a + j, i, m);
		SIMD(store)(a + hn + j, f, m);
		SIMD(store)(a + 2 * hn + j, g, m);
		SIMD(store)(a + 3 * hn + j, o, m);
		SIMD(store)(c + j, cv, m);
		if (th != NULL)
			SIMD(store)(th + j, t, m);
		SIMD(store)(h + j, o * t, m);
	}
}

/* The cell's backward step for HN units: from the gate values GA, the
 * previous cell state CP, tanh of the cell state TH, the gradient DH with
 * respect to h_t and DC with respect to c_t from the step after (updated
 * in place to the gradient with respect to c_(t-1)), store the gradient
 * with respect to the pre-activations in DA. */
static void
SIMD(cell_backward)(const float *ga, const float *cp, const float *th,
		    const float *dh, float *dc, float *da, size_t hn)
{
	size_t j, m;

	for (j = 0; j < hn; j += m) {
		VF i, f, g, o, t, d, dct;

		m = hn - j < VW ? hn - j : VW;
		i = SIMD(load)(ga + j, m);
		f = SIMD(load)(ga + hn + j, m);
		g = SIMD(load)(ga + 2 * hn + j, m);
		o = SIMD(load)(ga + 3 * hn + j, m);
		t = SIMD(load)(th + j, m);
		d = SIMD(load)(dh + j, m);
		dct = SIMD(load)(dc + j, m) + d * o * (1.0f - t * t);
		SIMD(store)(da + j, dct * g * i * (1.0f - i), m);
		SIMD(store)(da + hn + j, dct * SIMD(load)(cp + j, m) * f * (1.0f - f), m);
		SIMD(store)(da + 2 * hn + j, dct * i * (1.0f - g * g), m);
		SIMD(store)(da + 3 * hn + j, d * t * o * (1.0f - o), m);
		SIMD(store)(dc + j, dct * f, m);
	}
}

/* Y (ROWS by F) = max(0, Y + B) row by row. */
static void
SIMD(bias_relu)(float *y, const float *b, size_t rows, size_t f)
{
	size_t r, j, m;

	for (r = 0; r < rows; r++, y += f)
		for (j = 0; j < f; j += m) {
			m = f - j < VW ? f - j : VW;
			SIMD(store)(y + j, SIMD(vmax)(SIMD(load)(y + j, m)
						      + SIMD(load)(b + j, m),
						      SIMD(vsplat)(0)), m);
		}
}
