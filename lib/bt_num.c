/* bt_num.c - locale-independent number parsing and formatting.
 *
 * Every field a tool reads and every number it writes passes through here,
 * so both directions have a fast path that handles the common case without
 * calling into the C library, and an exact fallback for the rest.
 *
 * Parsing.  The field is scanned once for strict syntax while its digits
 * accumulate into a 64-bit integer W, so that the value is W * 10^Q.
 *  - Clinger's fast path: when W <= 2^53 and |Q| <= 22 both W and 10^|Q|
 *    are exact doubles and one correctly rounded multiply or divide gives
 *    the answer (W. D. Clinger, "How to read floating point numbers
 *    accurately", PLDI 1990).
 *  - Otherwise, when W has at most 19 significant digits, W is multiplied by
 *    a 128-bit truncation of 5^Q, in the manner of the Eisel-Lemire algorithm
 *    (D. Lemire, "Number parsing at a gigabyte per second", Software:
 *    Practice and Experience 51(8), 2021).  The exact product lies within
 *    2^64 units of the computed 192-bit one, so the rounding decision is
 *    certain unless the discarded bits lie that close to one half; then, if
 *    5^Q is exact (0 <= Q <= 55), the tie is decided exactly, and otherwise
 *    the field goes to the fallback.
 *  - The fallback rewrites the digits as "[-]DDD...e[-]X" in a stack buffer
 *    and calls strtod_l() with a C locale object made once.  Significant
 *    digits past the 800th are replaced by a single nonzero digit: every
 *    halfway point between doubles has at most 768 significant digits, so
 *    this cannot change the result, and fields of any length are read
 *    exactly without allocating.
 *
 * Shortest formatting follows R. Giulietti, "The Schubfach way to render
 * doubles" (2020, revised 2021): scale the rounding interval of X by a
 * 126-bit approximation of a power of ten, rounding to odd, and pick the
 * unique multiple of the next power of ten inside it, else the closer of the
 * two neighbouring digit strings.  Digits are then laid out as Python's
 * repr() lays them out.
 *
 * Fixed-precision formatting (printf "%.Ng") scales X by 10^J so that N
 * digits sit before the point, multiplying the significand by a 128-bit
 * power of five, and rounds half to even on the exact value whenever the
 * error bound (below 2^-126 of the product) allows a sure decision.  An
 * exact tie needs X * 10^J to be a half-integer, possible only for
 * -22 <= J <= 24; there the product is exact (J >= 0) or the value is
 * recomputed as an exact dyadic rational (J < 0).  Anything still undecided
 * goes to snprintf() under the C locale: that needs a product within 2^-126
 * of a rounding boundary without being on it, which the tests never meet,
 * but correctness does not rest on that.
 *
 * All 128-bit powers of five are computed once, on first use, by exact
 * multi-precision arithmetic (pthread_once), together with the C locale
 * object.  The code assumes IEEE binary64 doubles and the default
 * round-to-nearest mode, as strtod and printf do.
 */
#define _GNU_SOURCE 1

#include <float.h>
#include <math.h>
#include <locale.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bt_num.h"

__extension__ typedef unsigned __int128 u128;

/* ---- powers of five -------------------------------------------------- */

/* The table holds, for each Q in [POW5_MIN, POW5_MAX], the 128-bit integer
 * T(Q) = floor(5^Q * 2^(127 - B(Q))) with B(Q) = floor(log2(5^Q)), so that
 * 2^127 <= T(Q) < 2^128 and 5^Q = (T(Q) + delta) * 2^(B(Q) - 127) with
 * 0 <= delta < 1 (delta = 0 exactly when 0 <= Q <= POW5_EXACT_MAX).
 * Parsing needs Q down to -342 (19 digits times 10^-342 is below half the
 * smallest subnormal) and up to 308; formatting needs 10^Q for Q in
 * [-308, 341]. */
#define POW5_MIN (-342)
#define POW5_MAX 341
#define POW5_COUNT (POW5_MAX - POW5_MIN + 1)
#define POW5_EXACT_MAX 55

static uint64_t pow5_hi[POW5_COUNT];
static uint64_t pow5_lo[POW5_COUNT];
static int16_t pow5_log2[POW5_COUNT];	/* B(Q) */

/* Multi-precision scratch: 32-bit limbs, least significant first.  5^342
 * has 795 bits and the reciprocals are computed from 2^1024. */
#define BIG_LIMBS 40
#define RECIP_BITS 1024

static int
big_bitlen(const uint32_t *a, int n)
{
	while (n > 0 && a[n - 1] == 0)
		n--;
	if (n == 0)
		return 0;
	return 32 * (n - 1) + (32 - __builtin_clz(a[n - 1]));
}

/* Return bits [LO, LO + 128) of A as a 128-bit integer (LO may be negative,
 * meaning A is shifted left). */
static u128
big_bits128(const uint32_t *a, int lo)
{
	u128 r = 0;
	int i;

	for (i = 127; i >= 0; i--) {
		int b = lo + i;
		unsigned bit = 0;

		if (b >= 0 && b < 32 * BIG_LIMBS)
			bit = (a[b / 32] >> (b % 32)) & 1;
		r = (r << 1) | bit;
	}
	return r;
}

static void
big_mul_small(uint32_t *a, uint32_t m)
{
	uint64_t carry = 0;
	int i;

	for (i = 0; i < BIG_LIMBS; i++) {
		uint64_t t = (uint64_t)a[i] * m + carry;

		a[i] = (uint32_t)t;
		carry = t >> 32;
	}
}

static void
big_div_small(uint32_t *a, uint32_t d)
{
	uint64_t rem = 0;
	int i;

	for (i = BIG_LIMBS - 1; i >= 0; i--) {
		uint64_t t = (rem << 32) | a[i];

		a[i] = (uint32_t)(t / d);
		rem = t % d;
	}
}

static void
store_pow5(int q, u128 t, int log2)
{
	pow5_hi[q - POW5_MIN] = (uint64_t)(t >> 64);
	pow5_lo[q - POW5_MIN] = (uint64_t)t;
	pow5_log2[q - POW5_MIN] = (int16_t)log2;
}

/* Fill the table exactly.  For Q >= 0, 5^Q is built by repeated
 * multiplication and its top 128 bits kept.  For Q = -M < 0, with
 * L = bitlen(5^M), T(Q) = floor(2^(127 + L) / 5^M), which is
 * floor(floor(2^1024 / 5^M) / 2^(1024 - 127 - L)); the inner quotient is
 * built by M exact divisions by 5 (nested floors compose exactly). */
static void
pow5_init(void)
{
	uint32_t a[BIG_LIMBS];
	int bitlen[-POW5_MIN + 1];
	int q, len;

	memset(a, 0, sizeof a);
	a[0] = 1;
	for (q = 0; q <= -POW5_MIN; q++) {
		len = big_bitlen(a, BIG_LIMBS);
		bitlen[q] = len;
		if (q <= POW5_MAX)
			store_pow5(q, big_bits128(a, len - 128), len - 1);
		big_mul_small(a, 5);
	}
	memset(a, 0, sizeof a);
	a[RECIP_BITS / 32] = 1;
	for (q = 1; q <= -POW5_MIN; q++) {
		big_div_small(a, 5);
		len = bitlen[q];
		store_pow5(-q, big_bits128(a, RECIP_BITS - 127 - len), -len);
	}
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static atomic_int init_done;
static locale_t c_locale;

static void
init(void)
{
	pow5_init();
	/* glibc returns its static C locale object here without allocating;
	 * should another libc fail, the fallbacks below cope with (locale_t)0. */
	c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
	atomic_store_explicit(&init_done, 1, memory_order_release);
}

static inline void
ensure_init(void)
{
	if (!atomic_load_explicit(&init_done, memory_order_acquire))
		pthread_once(&init_once, init);
}

/* floor(E * log10(2)) and floor(log10(3/4 * 2^E)) by fixed-point
 * multiplication, with the constants of Giulietti's paper; both were
 * checked against exact rational arithmetic for every |E| <= 1200, beyond
 * the range used here.  The right shift of a negative value is arithmetic
 * in every compiler battools supports (GCC and Clang document it). */
static inline int
floor_log10_pow2(int e)
{
	return (int)(((int64_t)e * 661971961083LL) >> 41);
}

static inline int
floor_log10_three_quarters_pow2(int e)
{
	return (int)(((int64_t)e * 661971961083LL - 274743187321LL) >> 41);
}

/* ---- parsing ---------------------------------------------------------- */

#define F64_EXP_BIAS 1023
#define F64_MANT_BITS 52
#define F64_HIDDEN ((uint64_t)1 << F64_MANT_BITS)
#define F64_INF_BITS UINT64_C(0x7ff0000000000000)
#define F64_QNAN_BITS UINT64_C(0x7ff8000000000000)
#define F64_SIGN_BIT (UINT64_C(1) << 63)

/* Digits W accumulates exactly: 19 always fit in 64 bits. */
#define FAST_MAX_DIGITS 19
/* bt_num_scan converts a number of at most this many digits: below 2^53
 * (10^15 < 2^53 < 10^16), they take Clinger's fast path whenever the
 * exponent allows. */
#define SCAN_DIGITS 15
/* An exponent saturates here while it is read; anything this large is
 * already far outside the range of doubles whatever the digits. */
#define EXP_SATURATE 100000000
/* The fallback keeps this many significant digits, plus one sticky digit
 * (see the top of the file: halfway points have at most 768). */
#define SLOW_MAX_DIGITS 800
/* Exponents written for strtod are clamped to this; with at most 801 digits
 * the result is then still 0 or infinity exactly when it should be. */
#define SLOW_EXP_CLAMP 99999

static const double exact_pow10[] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

static inline double
from_bits(uint64_t b)
{
	double d;

	memcpy(&d, &b, sizeof d);
	return d;
}

static inline uint64_t
to_bits(double d)
{
	uint64_t b;

	memcpy(&b, &d, sizeof b);
	return b;
}

static inline int
is_digit(unsigned char c)
{
	return (unsigned)(c - '0') < 10;
}

/* Compare the LEN bytes at P with the lowercase word W, ignoring case. */
static int
word_eq(const unsigned char *p, size_t len, const char *w)
{
	size_t i;

	if (strlen(w) != len)
		return 0;
	for (i = 0; i < len; i++)
		if ((p[i] | 0x20) != (unsigned char)w[i])
			return 0;
	return 1;
}

/* Convert W * 10^Q (W nonzero, fewer than 20 digits, Q in the table's range)
 * to the bits of the nearest double.  Return 1 on success, 0 when the
 * rounding cannot be decided from the 192-bit product. */
static int
decimal_to_bits(uint64_t w, int q, uint64_t *bits)
{
	int lz = __builtin_clzll(w);
	uint64_t wn = w << lz;
	int i = q - POW5_MIN;
	u128 lo = (u128)wn * pow5_lo[i];
	u128 hi = (u128)wn * pow5_hi[i] + (uint64_t)(lo >> 64);
	uint64_t p0 = (uint64_t)lo;
	/* The value is P * 2^base with P = hi * 2^64 + p0, 2^190 <= P < 2^192,
	 * up to an error below wn units of P. */
	int base = pow5_log2[i] - 127 + q - lz;
	int top = (hi >> 127) ? 191 : 190;
	int e = top + base;	/* 2^e <= value < 2^(e + 1) */
	int cut, k;
	u128 rem, half;
	uint64_t m, b;
	int up;

	if (e >= DBL_MAX_EXP) {
		*bits = F64_INF_BITS;
		return 1;
	}
	if (e <= -1077) {	/* below half the smallest subnormal, 2^-1075 */
		*bits = 0;
		return 1;
	}
	/* Absolute weight of the last significand bit kept. */
	cut = e - F64_MANT_BITS;
	if (cut < -1074)
		cut = -1074;
	k = cut - base;		/* low bits of P dropped, >= 138 */
	if (k > 191)
		return 0;	/* deep subnormal edge: leave it to strtod */
	m = (uint64_t)(hi >> (k - 64));
	rem = hi & (((u128)1 << (k - 64)) - 1);
	half = (u128)1 << (k - 65);
	up = rem > half || (rem == half && p0 != 0);
	if ((rem == half && p0 == 0) || (rem == half - 1 && p0 > -wn)) {
		/* The exact remainder may lie on either side of one half. */
		if (q < 0 || q > POW5_EXACT_MAX)
			return 0;
		up = rem == half && p0 == 0 ? (int)(m & 1) : 0;
	}
	m += (uint64_t)up;
	/* Subnormals use biased exponent 1 with m < 2^52; a carry out of the
	 * significand moves into the exponent field by itself. */
	b = (uint64_t)(e + F64_EXP_BIAS < 1 ? 1 : e + F64_EXP_BIAS);
	b = (b << F64_MANT_BITS) + m - F64_HIDDEN;
	*bits = b >= F64_INF_BITS ? F64_INF_BITS : b;
	return 1;
}

/* The digits of a number are NINT integer digits at IP followed by NFRAC
 * fraction digits at FP; return the I-th. */
static inline unsigned char
digit_at(const unsigned char *ip, size_t nint, const unsigned char *fp,
	 size_t i)
{
	return i < nint ? ip[i] : fp[i - nint];
}

/* Exact conversion by strtod_l of a canonical rewrite of the digits (first
 * significant digit at index A, last at index B, value D[A..B] * 10^QB). */
static double
slow_parse(const unsigned char *ip, size_t nint, const unsigned char *fp,
	   int neg, size_t a, size_t b, int64_t qb)
{
	char buf[SLOW_MAX_DIGITS + 32];
	size_t n = 0, i, last = b;
	int64_t qe = qb;
	double d;

	if (neg)
		buf[n++] = '-';
	if (b - a + 1 > SLOW_MAX_DIGITS) {
		last = a + SLOW_MAX_DIGITS - 1;
		qe = qb + (int64_t)(b - last) - 1;
	}
	for (i = a; i <= last; i++)
		buf[n++] = (char)digit_at(ip, nint, fp, i);
	if (last != b)
		buf[n++] = '1';	/* D[B] is nonzero: the tail is not zero */
	if (qe > SLOW_EXP_CLAMP)
		qe = SLOW_EXP_CLAMP;
	if (qe < -SLOW_EXP_CLAMP)
		qe = -SLOW_EXP_CLAMP;
	snprintf(buf + n, sizeof buf - n, "e%d", (int)qe);
	ensure_init();
	/* The rewrite has no radix character, so plain strtod would read it
	 * the same in any locale; strtod_l merely makes that explicit. */
	if (c_locale != (locale_t)0)
		d = strtod_l(buf, NULL, c_locale);
	else
		d = strtod(buf, NULL);
	return d;
}

/* Everything Clinger's fast path cannot do: the value of the NINT integer
 * digits at IP and NFRAC fraction digits at FP times 10^Q, negated when
 * NEG; W holds the digits' value when there are at most 19 of them.  Kept
 * out of line so that the fast path stays small. */
static __attribute__((noinline)) double
parse_general(const unsigned char *ip, size_t nint, const unsigned char *fp,
	      size_t nfrac, uint64_t w, int64_t q, int neg)
{
	uint64_t b;

	if (nint + nfrac > FAST_MAX_DIGITS) {
		/* W may have overflowed: find the significant digits. */
		size_t n = nint + nfrac, a = 0, z, i;

		while (a < n && digit_at(ip, nint, fp, a) == '0')
			a++;
		if (a == n) {
			w = 0;
		} else {
			z = n - 1;
			while (digit_at(ip, nint, fp, z) == '0')
				z--;
			q += (int64_t)(n - 1 - z);
			if (z - a + 1 > FAST_MAX_DIGITS)
				return slow_parse(ip, nint, fp, neg, a, z, q);
			w = 0;
			for (i = a; i <= z; i++)
				w = 10 * w + (uint64_t)(digit_at(ip, nint, fp, i) - '0');
		}
	}
	if (w == 0) {
		b = 0;
	} else if (q < POW5_MIN) {
		b = 0;
	} else if (q > DBL_MAX_10_EXP) {
		b = F64_INF_BITS;
	} else {
#if FLT_EVAL_METHOD == 0
		if (w <= ((uint64_t)1 << 53) && q >= -22 && q <= 22) {
			double d = (double)w;

			d = q < 0 ? d / exact_pow10[-q] : d * exact_pow10[q];
			return neg ? -d : d;
		}
#endif
		ensure_init();
		if (!decimal_to_bits(w, (int)q, &b)) {
			/* Rewrite W itself: its digits are the significant ones. */
			char wd[24];
			int n = snprintf(wd, sizeof wd, "%llu", (unsigned long long)w);

			return slow_parse((const unsigned char *)wd, (size_t)n,
					  NULL, neg, 0, (size_t)n - 1, q);
		}
	}
	return from_bits(neg ? b | F64_SIGN_BIT : b);
}

static __attribute__((noinline)) enum bt_status
parse_special(const unsigned char *p, size_t len, int neg, double *out)
{
	uint64_t b;

	if (word_eq(p, len, "nan"))
		b = F64_QNAN_BITS;
	else if (word_eq(p, len, "inf") || word_eq(p, len, "infinity"))
		b = F64_INF_BITS;
	else
		return BT_EPARSE;
	/* Like glibc's strtod, "-nan" has its sign bit set. */
	*out = from_bits(neg ? b | F64_SIGN_BIT : b);
	return BT_OK;
}

/* Clinger's fast path (Clinger 1990, "How to read floating point numbers
 * accurately", sec. 3): the value W * 10^Q of NDIG digits, negated when
 * NEG, is one correctly rounded operation when W and 10^|Q| are exact
 * doubles.  Return 1 with *D set, or 0 when it does not apply.  W = 0
 * gives a zero of the right sign. */
static inline int
fast_value(uint64_t w, size_t ndig, int64_t q, int neg, double *d)
{
#if FLT_EVAL_METHOD == 0
	if (ndig <= FAST_MAX_DIGITS && w <= ((uint64_t)1 << 53) &&
	    q >= -22 && q <= 22) {
		double x = (double)w;

		x = q < 0 ? x / exact_pow10[-q] : x * exact_pow10[q];
		*d = neg ? -x : x;
		return 1;
	}
#else
	(void)w, (void)ndig, (void)q, (void)neg, (void)d;
#endif
	return 0;
}

/* bt_num_parse accepts only '.' and ',' as DECIMAL; any other value makes
 * every field fail with BT_EPARSE, which shows the mistake at once. */
enum bt_status
bt_num_parse(const char *s, size_t len, char decimal, double *out)
{
	const unsigned char *p = (const unsigned char *)s;
	const unsigned char *end = p + len;
	const unsigned char *ip, *fp;
	size_t nint, nfrac = 0;
	uint64_t w = 0;
	int64_t ex = 0, q;
	int neg = 0;
	double d;

	if (p == end || (decimal != '.' && decimal != ','))
		return BT_EPARSE;
	if (*p == '-' || *p == '+') {
		neg = *p == '-';
		p++;
	}
	ip = p;
	while (p < end && is_digit(*p))
		w = 10 * w + (uint64_t)(*p++ - '0');
	nint = (size_t)(p - ip);
	fp = p;
	if (p < end && *p == (unsigned char)decimal) {
		fp = ++p;
		while (p < end && is_digit(*p))
			w = 10 * w + (uint64_t)(*p++ - '0');
		nfrac = (size_t)(p - fp);
	} else if (nint == 0) {
		return parse_special(p, (size_t)(end - p), neg, out);
	}
	if (nint + nfrac == 0)
		return BT_EPARSE;
	if (p < end && (*p | 0x20) == 'e') {
		int eneg = 0;

		if (++p < end && (*p == '-' || *p == '+'))
			eneg = *p++ == '-';
		if (p == end || !is_digit(*p))
			return BT_EPARSE;
		while (p < end && is_digit(*p)) {
			if (ex < EXP_SATURATE)
				ex = 10 * ex + (*p - '0');
			p++;
		}
		if (eneg)
			ex = -ex;
	}
	if (p != end)
		return BT_EPARSE;
	q = ex - (int64_t)nfrac;
	if (fast_value(w, nint + nfrac, q, neg, &d)) {
		*out = d;
		return BT_OK;
	}
	*out = parse_general(ip, nint, fp, nfrac, w, q, neg);
	return BT_OK;
}

size_t
bt_num_scan(const char *s, size_t len, char decimal, enum bt_num_class *cls,
	    double *value)
{
	const unsigned char *p = (const unsigned char *)s;
	const unsigned char *end = p + len, *ip, *fp = NULL, *mant_end;
	size_t nint, ndig, i;
	uint64_t w = 0;
	int64_t ex = 0;
	int neg = 0;
	double x;

	*cls = BT_NUM_INVALID;
	if (p < end && (*p == '-' || *p == '+'))
		neg = *p++ == '-';
	ip = p;
	while (p < end && is_digit(*p))
		p++;
	nint = (size_t)(p - ip);
	ndig = nint;
	if (p < end && *p == (unsigned char)decimal) {
		fp = ++p;
		while (p < end && is_digit(*p))
			p++;
		ndig += (size_t)(p - fp);
	}
	if (ndig == 0 || (decimal != '.' && decimal != ','))
		return 0;
	mant_end = p;
	if (p < end && (*p | 0x20) == 'e') {
		int eneg = 0;

		if (++p < end && (*p == '-' || *p == '+'))
			eneg = *p++ == '-';
		if (p == end || !is_digit(*p)) {
			p = mant_end;	/* "1e" or "1e+": the number is "1" */
		} else {
			while (p < end && is_digit(*p)) {
				if (ex < EXP_SATURATE)
					ex = 10 * ex + (*p - '0');
				p++;
			}
			if (eneg)
				ex = -ex;
		}
	}
	len = (size_t)(p - (const unsigned char *)s);
	/* The value is worth taking now when the digits are few enough for
	 * Clinger's fast path (SCAN_DIGITS).  Otherwise it is left for
	 * bt_num_parse, should anyone ask: the 17 digits of a full-precision
	 * double are most often beyond the fast path, and a field that is
	 * only checked and copied must not pay for them. */
	if (ndig <= SCAN_DIGITS) {
		for (i = 0; i < nint; i++)
			w = 10 * w + (uint64_t)(ip[i] - '0');
		for (i = 0; i < ndig - nint; i++)
			w = 10 * w + (uint64_t)(fp[i] - '0');
		if (fast_value(w, ndig, ex - (int64_t)(ndig - nint), neg, &x)) {
			*cls = BT_NUM_FINITE;
			*value = x;
			return len;
		}
	}
	*value = NAN;
	/* |x| < 10^(nint + ex) <= 10^300 is finite without converting (an
	 * underflow to zero is finite too); beyond, convert and see. */
	if ((int64_t)nint + ex <= 300)
		*cls = BT_NUM_FINITE;
	else if (bt_num_parse(s, len, decimal, &x) == BT_OK)
		*cls = isfinite(x) ? BT_NUM_FINITE : BT_NUM_NONFINITE;
	return len;
}

enum bt_num_class
bt_num_check(const char *s, size_t len, char decimal)
{
	enum bt_num_class cls;
	double x;

	if (bt_num_scan(s, len, decimal, &cls, &x) == len && len > 0)
		return cls;
	/* nan, inf and infinity, or not a number. */
	if (bt_num_parse(s, len, decimal, &x) != BT_OK)
		return BT_NUM_INVALID;
	return isfinite(x) ? BT_NUM_FINITE : BT_NUM_NONFINITE;
}

/* ---- formatting: digits and layout ------------------------------------- */

static const uint64_t pow10_u64[20] = {
	UINT64_C(1), UINT64_C(10), UINT64_C(100), UINT64_C(1000),
	UINT64_C(10000), UINT64_C(100000), UINT64_C(1000000),
	UINT64_C(10000000), UINT64_C(100000000), UINT64_C(1000000000),
	UINT64_C(10000000000), UINT64_C(100000000000),
	UINT64_C(1000000000000), UINT64_C(10000000000000),
	UINT64_C(100000000000000), UINT64_C(1000000000000000),
	UINT64_C(10000000000000000), UINT64_C(100000000000000000),
	UINT64_C(1000000000000000000), UINT64_C(10000000000000000000),
};

static const char digit_pairs[201] =
	"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	"8081828384858687888990919293949596979899";

/* Number of decimal digits of V > 0. */
static inline int
count_digits(uint64_t v)
{
	int t = ((64 - __builtin_clzll(v)) * 1233) >> 12;

	return t + (v >= pow10_u64[t]);
}

/* Digits are handled as a string of DIGITS_LEN characters, leading zeros
 * included, in a buffer of DIGITS_ROOM bytes so that layout() may copy
 * fixed-size blocks past the meaningful ones. */
#define DIGITS_LEN 17
#define DIGITS_ROOM 48

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* The 8 decimal digits of Y < 10^8 as byte values 0..9, the first digit in
 * the lowest byte, computed in lanes of one register: split into two
 * 4-digit halves (32-bit lanes), each into 2-digit quarters (16-bit lanes),
 * each into single digits (bytes).  x / 100 = (x * 5243) >> 19 for
 * x < 10^4 and x / 10 = (x * 103) >> 10 for x < 100, and no lane
 * overflows into the next. */
static inline uint64_t
digits8(uint32_t y)
{
	uint64_t t = (y / 10000) | ((uint64_t)(y % 10000) << 32);
	uint64_t h = ((t * 5243) >> 19) & UINT64_C(0x0000007f0000007f);
	uint64_t v = h | ((t - h * 100) << 16);
	uint64_t tens = ((v * 103) >> 10) & UINT64_C(0x000f000f000f000f);

	return tens | ((v - tens * 10) << 8);
}

/* Write V < 10^17 as 17 digits at DIG and return how many of the trailing
 * ones are zeros (V nonzero).  In the lanes of digits8() trailing zero
 * digits are the most significant zero bytes. */
static inline int
write_digits17(char *dig, uint64_t v)
{
	uint64_t hi = v / 100000000;
	uint64_t w1 = digits8((uint32_t)(hi % 100000000));
	uint64_t w2 = digits8((uint32_t)(v % 100000000));
	uint64_t a1 = w1 + UINT64_C(0x3030303030303030);
	uint64_t a2 = w2 + UINT64_C(0x3030303030303030);

	dig[0] = (char)('0' + hi / 100000000);
	memcpy(dig + 1, &a1, 8);
	memcpy(dig + 9, &a2, 8);
	if (w2 != 0)
		return __builtin_clzll(w2) >> 3;
	if (w1 != 0)
		return 8 + (__builtin_clzll(w1) >> 3);
	return 16;
}
#else
static inline int
write_digits17(char *dig, uint64_t v)
{
	int i, tz;

	for (i = DIGITS_LEN - 1; i >= 0; i--) {
		dig[i] = (char)('0' + v % 10);
		v /= 10;
	}
	for (tz = 0; tz < DIGITS_LEN - 1 && dig[DIGITS_LEN - 1 - tz] == '0'; tz++)
		;
	return tz;
}
#endif

/* Write the exponent X as "e+XX", "e-XX" or with three digits at P, and
 * return the end. */
static inline char *
put_exponent(char *p, int x)
{
	unsigned ax = (unsigned)(x < 0 ? -x : x);

	p[0] = 'e';
	p[1] = x < 0 ? '-' : '+';
	p += 2;
	if (ax >= 100) {
		*p++ = (char)('0' + ax / 100);
		ax %= 100;
	}
	memcpy(p, digit_pairs + 2 * ax, 2);
	return p + 2;
}

/* Lay out the decimal whose N digits (the last N of the 17 at DIG, TZ of
 * them trailing zeros) times 10^E give the value: fixed notation when the
 * exponent X of the leading digit has -4 <= X < FIXED_LIMIT (at most 17),
 * else d.ddde+XX with at least two exponent digits, trailing zeros dropped
 * either way.  This is the layout of both printf's %g (FIXED_LIMIT = the
 * precision) and Python's repr() (FIXED_LIMIT = 16).  Blocks are copied
 * whole, so bytes after the NUL may change; every store stays within the
 * first 34 bytes of BUF.  Return the length written. */
static size_t
layout(char *buf, int neg, const char *dig, int n, int tz, int e,
       int fixed_limit)
{
	const char *src = dig + DIGITS_LEN - n;
	int ns = n - tz;	/* significant digits */
	int x = e + n - 1;
	char *p = buf;

	*p = '-';
	p += neg;
	if (x >= -4 && x < fixed_limit) {
		if (x < 0) {		/* 0.000ddd */
			memcpy(p, "0.000000", 8);
			p += 1 - x;
			memcpy(p, src, DIGITS_LEN);
			p += ns;
		} else if (x + 1 >= ns) {	/* ddd000 */
			memcpy(p, src, DIGITS_LEN);
			memset(p + ns, '0', 16);
			p += x + 1;
		} else {		/* ddd.ddd */
			memcpy(p, src, DIGITS_LEN);
			p[x + 1] = '.';
			memcpy(p + x + 2, src + x + 1, 16);
			p += ns + 1;
		}
	} else {			/* d.ddde+XX */
		p[0] = src[0];
		p[1] = '.';
		memcpy(p + 2, src + 1, 16);
		p += ns > 1 ? ns + 1 : 1;
		p = put_exponent(p, x);
	}
	*p = '\0';
	return (size_t)(p - buf);
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HAVE_LAYOUT8 1
/* layout() for N <= 8 digits D (10^(N-1) <= D < 10^N), without the digit
 * string: the digits stay in one register, as the bytes of digits8(D)
 * shifted so that the first digit is the lowest byte, and are stored whole
 * where they go.  Each case writes the bytes layout() writes, in the same
 * places (N = 8 - (leading zero bytes) and the trailing zero digits are
 * the zero bytes at the top, as in write_digits17()); what it stores past
 * the terminating NUL differs, within the first 26 bytes of BUF.  Storing
 * the digits where they go, rather than copying them out of a buffer just
 * written in other widths, spares the processor a failed forwarding of
 * stores to loads for each number. */
static size_t
layout8(char *buf, int neg, uint64_t d, int n, int e, int fixed_limit)
{
	uint64_t w = digits8((uint32_t)d);
	int tz = __builtin_clzll(w) >> 3;	/* w != 0: d > 0 */
	/* The N digits from the lowest byte up, then '0' bytes. */
	uint64_t a = (w >> (8 * (8 - n))) + UINT64_C(0x3030303030303030);
	int ns = n - tz;
	int x = e + n - 1;
	char *p = buf;

	*p = '-';
	p += neg;
	if (x >= -4 && x < fixed_limit) {
		if (x < 0) {		/* 0.000ddd */
			memcpy(p, "0.000000", 8);
			p += 1 - x;
			memcpy(p, &a, 8);
			p += ns;
		} else if (x + 1 >= ns) {	/* ddd000 */
			memcpy(p, &a, 8);
			memset(p + 8, '0', 16);
			p += x + 1;
		} else {		/* ddd.ddd, 1 <= x + 1 < ns <= 8 */
			uint64_t frac = a >> (8 * (x + 1));

			memcpy(p, &a, 8);
			p[x + 1] = '.';
			memcpy(p + x + 2, &frac, 8);
			p += ns + 1;
		}
	} else {			/* d.ddde+XX */
		uint64_t rest = a >> 8;

		p[0] = (char)a;
		p[1] = '.';
		memcpy(p + 2, &rest, 8);
		p += ns > 1 ? ns + 1 : 1;
		p = put_exponent(p, x);
	}
	*p = '\0';
	return (size_t)(p - buf);
}
#endif

static size_t
put_str(char *buf, const char *s)
{
	size_t n = strlen(s);

	memcpy(buf, s, n + 1);
	return n;
}

/* ---- formatting: shortest (Schubfach) ---------------------------------- */

/* Round to odd: with Q = G * CP (G = G_HI * 2^64 + G_LO, 126 bits), return
 * floor(Q / 2^127), its lowest bit set when bits 64..126 of Q are not all
 * zero.  Bits below 64 are ignored on purpose: they hold only the error of
 * G, which must not make an exact integer look inexact (this is how the
 * paper's proof accounts for the error of G). */
static inline uint64_t
round_to_odd(uint64_t g_hi, uint64_t g_lo, uint64_t cp)
{
	u128 lo = (u128)g_lo * cp;
	u128 hi = (u128)g_hi * cp + (uint64_t)(lo >> 64);

	return (uint64_t)(hi >> 63) |
	       (((uint64_t)hi & ((UINT64_C(1) << 63) - 1)) != 0);
}

/* Shortest decimal D * 10^*E in the rounding interval of C * 2^Q (C > 0),
 * the closest to it when several are shortest, the even one on a tie. */
static uint64_t
shortest(uint64_t c, int q, int *e)
{
	uint64_t cb = c << 2, cbl, cbr = cb + 2;
	uint64_t g_hi, g_lo, vb, vbl, vbr, s, t;
	int k, j, h, out = (int)(c & 1);
	int uin, win;

	/* An integer below 2^53 is its own shortest representation. */
	if (q <= 0 && q >= -F64_MANT_BITS) {
		uint64_t f = c >> -q;

		if (f << -q == c) {
			*e = 0;
			return f;
		}
	}
	/* The rounding interval [cbl, cbr] * 2^(q-2), open when C is odd; it
	 * is narrower below C at the bottom of a binade. */
	if (c != F64_HIDDEN || q == -1074) {
		cbl = cb - 2;
		k = floor_log10_pow2(q);
	} else {
		cbl = cb - 1;
		k = floor_log10_three_quarters_pow2(q);
	}
	/* g ~ 10^-k * 2^(125 - floor(log2(10^-k))), rounded up: 2^125 < g <=
	 * 2^126.  With floor(log2(10^j)) = B(j) + j, h is q +
	 * floor(log2(10^-k)) + 2, in 2..5, so that vb ~ 4 * v * 10^-k. */
	j = -k;
	{
		u128 g = ((((u128)pow5_hi[j - POW5_MIN] << 64) |
			   pow5_lo[j - POW5_MIN]) >> 2) + 1;

		g_hi = (uint64_t)(g >> 64);
		g_lo = (uint64_t)g;
	}
	h = q + pow5_log2[j - POW5_MIN] + j + 2;
	vb = round_to_odd(g_hi, g_lo, cb << h);
	vbl = round_to_odd(g_hi, g_lo, cbl << h);
	vbr = round_to_odd(g_hi, g_lo, cbr << h);

	s = vb >> 2;
	if (s >= 10) {
		/* At most one multiple of 10^(k+1) fits in the interval; if one
		 * does, it is the unique shortest candidate. */
		uint64_t sp10 = s / 10 * 10, tp10 = sp10 + 10;
		int upin = vbl + (uint64_t)out <= sp10 << 2;
		int wpin = (tp10 << 2) + (uint64_t)out <= vbr;

		if (upin != wpin) {
			*e = k;
			return upin ? sp10 : tp10;
		}
	}
	t = s + 1;
	uin = vbl + (uint64_t)out <= s << 2;
	win = (t << 2) + (uint64_t)out <= vbr;
	*e = k;
	if (uin != win)
		return uin ? s : t;
	/* Both fit: the one closer to v, the even one on a tie. */
	if (vb < (s + t) << 1 || (vb == (s + t) << 1 && (s & 1) == 0))
		return s;
	return t;
}

/* ---- formatting: fixed precision ---------------------------------------- */

/* Write X (finite, nonzero) as the C library's "%.*g" at precision PREC
 * does in the C locale, through snprintf: the rare case where rounding is
 * undecided. */
static size_t
format_libc(double x, int prec, char *buf)
{
	int n;

	if (c_locale != (locale_t)0) {
		locale_t old = uselocale(c_locale);

		n = snprintf(buf, BT_NUM_BUFSIZE, "%.*g", prec, x);
		uselocale(old);
	} else {
		const char *dp = localeconv()->decimal_point;
		char *at;

		n = snprintf(buf, BT_NUM_BUFSIZE, "%.*g", prec, x);
		if (n > 0 && strcmp(dp, ".") != 0 && (at = strstr(buf, dp))) {
			size_t dl = strlen(dp);

			*at = '.';
			memmove(at + 1, at + dl, strlen(at + dl) + 1);
			n -= (int)dl - 1;
		}
	}
	return n < 0 ? 0 : (size_t)n;
}

/* Y = C * 2^Q / 10^M, M >= 1.  When 5^M divides C, Y is the dyadic
 * rational (C / 5^M) * 2^(Q - M): set *D to floor(Y) and return 1 if Y
 * rounds up to an integer (half to even), else 0.  Return -1 when 5^M does
 * not divide C (always so for M > 22, as 5^23 > 2^53) or Y is an integer. */
static int
round_dyadic(uint64_t c, int q, int m, uint64_t *d)
{
	uint64_t p5 = 1, c5, r, hf;
	int i, ex;

	if (m > 22)
		return -1;
	for (i = 0; i < m; i++)
		p5 *= 5;
	if (c % p5 != 0)
		return -1;
	c5 = c / p5;
	ex = q - m;
	if (ex >= 0 || ex <= -64)
		return -1;
	*d = c5 >> -ex;
	r = c5 & ((UINT64_C(1) << -ex) - 1);
	hf = UINT64_C(1) << (-ex - 1);
	return r > hf || (r == hf && (*d & 1));
}

/* The PREC-digit (1..17) decimal nearest to C * 2^Q (C > 0), ties to even,
 * as D * 10^*E with 10^(PREC-1) <= D < 10^PREC.  Return 0 when the rounding
 * cannot be decided (the caller then asks snprintf). */
static uint64_t
round_digits(uint64_t c, int q, int prec, int *e)
{
	int sh = __builtin_clzll(c);
	uint64_t cn = c << sh;
	int qn = q - sh;
	/* k10 <= floor(log10(x)) <= k10 + 1 */
	int k10 = floor_log10_pow2(qn + 63);
	int j = prec - 1 - k10;
	uint64_t lim = pow10_u64[prec], d, p0;
	u128 lo, hi, rem, half;
	int i, f, up;

	for (;;) {
		i = j - POW5_MIN;
		lo = (u128)cn * pow5_lo[i];
		hi = (u128)cn * pow5_hi[i] + (uint64_t)(lo >> 64);
		p0 = (uint64_t)lo;
		/* y = x * 10^j = P * 2^-f, P = hi * 2^64 + p0, up to an error
		 * below cn units of P; 1 <= y < 10^18 puts f in [131, 191]. */
		f = 127 - pow5_log2[i] - qn - j;
		d = (uint64_t)(hi >> (f - 64));
		if (d < lim)
			break;
		j--;		/* x >= 10^(k10 + 1): one digit too many */
	}
	rem = hi & (((u128)1 << (f - 64)) - 1);
	half = (u128)1 << (f - 65);
	up = rem > half || (rem == half && p0 != 0);
	if ((rem == half && p0 == 0) || (rem == half - 1 && p0 > -cn)) {
		if (j >= 0 && j <= POW5_EXACT_MAX) {
			up = rem == half && p0 == 0 ? (int)(d & 1) : 0;
		} else if (j < 0 && (up = round_dyadic(c, q, -j, &d)) >= 0) {
			/* decided exactly */
		} else {
			return 0;
		}
	}
	d += (uint64_t)up;
	if (d == lim) {
		d /= 10;
		j--;
	}
	*e = -j;
	return d;
}

/* bt_num_format clamps PRECISION into 0..BT_NUM_MAX_PRECISION: a negative
 * precision means shortest, and anything above 17 means 17, which already
 * identifies every double.  It copies digits in fixed-size blocks, so bytes
 * of BUF after the terminating NUL (within BT_NUM_BUFSIZE) may change. */
static inline __attribute__((always_inline)) size_t
format(double x, int precision, char *buf, int short_layout)
{
	uint64_t bits = to_bits(x);
	int neg = (int)(bits >> 63);
	int bexp = (int)((bits >> F64_MANT_BITS) & 0x7ff);
	uint64_t frac = bits & (F64_HIDDEN - 1);
	uint64_t c, d;
	int q, e, tz;
	char dig[DIGITS_ROOM];

	if (bexp == 0x7ff) {
		if (frac != 0)
			return put_str(buf, "nan");
		return put_str(buf, neg ? "-inf" : "inf");
	}
	if (bexp == 0 && frac == 0)
		return put_str(buf, neg ? "-0" : "0");
	if (bexp != 0) {
		c = frac | F64_HIDDEN;
		q = bexp - F64_EXP_BIAS - F64_MANT_BITS;
	} else {
		c = frac;
		q = -1074;
	}
	ensure_init();
	memset(dig + DIGITS_LEN, 0, DIGITS_ROOM - DIGITS_LEN);
	if (precision <= 0) {
		d = shortest(c, q, &e);
#ifdef HAVE_LAYOUT8
		if (short_layout && d < 100000000)
			return layout8(buf, neg, d, count_digits(d), e, 16);
#endif
		tz = write_digits17(dig, d);
		return layout(buf, neg, dig, count_digits(d), tz, e, 16);
	}
	if (precision > BT_NUM_MAX_PRECISION)
		precision = BT_NUM_MAX_PRECISION;
	d = round_digits(c, q, precision, &e);
	if (d == 0)
		return format_libc(x, precision, buf);
#ifdef HAVE_LAYOUT8
	if (short_layout && precision <= 8)
		return layout8(buf, neg, d, precision, e, precision);
#endif
	tz = write_digits17(dig, d);
	return layout(buf, neg, dig, precision, tz, e, precision);
}

size_t
bt_num_format(double x, int precision, char *buf)
{
	return format(x, precision, buf, 1);
}

size_t
bt_num_format_reference(double x, int precision, char *buf)
{
	return format(x, precision, buf, 0);
}
