/* test_bt_num.c - unit tests for lib/bt_num.c.
 *
 * The references are glibc's own strtod() and snprintf() in the C locale:
 * bt_num_parse must agree with strtod bit for bit, bt_num_format with a
 * precision must agree with "%.*g" byte for byte, and the shortest format
 * must read back exactly with no more digits than the shortest "%.*g" that
 * does.  Random cases come from a seeded splitmix64 generator, so every run
 * checks the same values.  Prints one "N passed, N failed" line; exits 1 on
 * any failure.
 */
#define _GNU_SOURCE 1

#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bt_num.h"
#include "check.h"

/* Random case counts: the issue asks for a million of each kind.  SCALE
 * (-DSCALE=100) divides them all, for slow runs under valgrind. */
#ifndef SCALE
#define SCALE 1
#endif
#define N_ROUNDTRIP (1000000 / SCALE)
#define N_MINIMAL (100000 / SCALE)
#define N_PARSE (1000000 / SCALE)
#define N_PRECISION (1000000 / SCALE)
#define N_MIDPOINT (20000 / SCALE)
#define N_FAST (200000 / SCALE)
#define SEED UINT64_C(0x6261747465727921)	/* "battery!" */
#define MAX_REPORTED 20

static uint64_t rng;

static uint64_t
next_u64(void)
{
	/* splitmix64 (Steele, Lea and Flood, OOPSLA 2014). */
	uint64_t z = (rng += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Uniform in [0, n). */
static unsigned
below(unsigned n)
{
	return (unsigned)(next_u64() % n);
}

static uint64_t
to_bits(double d)
{
	uint64_t b;

	memcpy(&b, &d, sizeof b);
	return b;
}

static double
from_bits(uint64_t b)
{
	double d;

	memcpy(&d, &b, sizeof d);
	return d;
}


/* A random finite double over all bit patterns. */
static double
random_finite(void)
{
	uint64_t b;

	do
		b = next_u64();
	while (((b >> 52) & 0x7ff) == 0x7ff);
	return from_bits(b);
}

/* A random value of the kind cycler exports hold: a few significant digits
 * at a modest scale, an integer, or a uniform draw. */
static double
random_ordinary(void)
{
	static const double scale[] = {
		1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 1e1, 1e2, 1e3, 1e4,
		1e5, 1e6,
	};
	double x;
	char s[64];

	switch (below(4)) {
	case 0:
		snprintf(s, sizeof s, "%llue%d",
			 (unsigned long long)(next_u64() % 100000000),
			 (int)below(17) - 12);
		x = strtod(s, NULL);
		break;
	case 1:
		x = (double)(next_u64() % 1000000000);
		break;
	case 2:
		x = (double)(next_u64() >> 11) * 0x1p-53 *
		    scale[below(sizeof scale / sizeof scale[0])];
		break;
	default:
		x = 2.5 + (double)below(17001) * 1e-4;	/* volts */
		break;
	}
	return below(2) ? -x : x;
}

/* ---- exact expectations -------------------------------------------------- */

static void
test_layout(void)
{
	static const struct {
		double x;
		const char *s;
	} cases[] = {
		{3.0, "3"}, {0.1, "0.1"}, {1e-05, "1e-05"}, {0.0001, "0.0001"},
		{1e16, "1e+16"}, {1234567890123456.0, "1234567890123456"},
		{123456789012345680.0, "1.2345678901234568e+17"},
		{-0.0, "-0"}, {0.0, "0"}, {5e-324, "5e-324"}, {1e-323, "1e-323"},
		{1.7976931348623157e308, "1.7976931348623157e+308"},
		{2.2250738585072014e-308, "2.2250738585072014e-308"},
		{3.7182, "3.7182"}, {-1.5, "-1.5"}, {12345.678, "12345.678"},
		{0.0001234, "0.0001234"}, {1e-3, "0.001"}, {100.0, "100"},
		{1e15, "1000000000000000"}, {9007199254740992.0, "9007199254740992"},
		{9007199254740994.0, "9007199254740994"},
		{1e22, "1e+22"}, {1e23, "1e+23"}, {1.5e300, "1.5e+300"},
		{-2.5e-7, "-2.5e-07"}, {0.3, "0.3"}, {2.0 / 3.0, "0.6666666666666666"},
		{123.456e-10, "1.23456e-08"}, {1e100, "1e+100"},
		{4.35, "4.35"}, {5e-5, "5e-05"}, {0.00012, "0.00012"},
		{1125899906842624.25, "1125899906842624.2"},
		{1125899906842624.75, "1125899906842624.8"},
		{NAN, "nan"}, {-NAN, "nan"}, {INFINITY, "inf"}, {-INFINITY, "-inf"},
	};
	char buf[BT_NUM_BUFSIZE];
	size_t i, n;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		n = bt_num_format(cases[i].x, 0, buf);
		CHECK(strcmp(buf, cases[i].s) == 0 && n == strlen(buf),
		      "shortest %.17g: got '%s', want '%s'", cases[i].x, buf,
		      cases[i].s);
	}
	/* Precision outside 0..17 is clamped: negative is shortest. */
	bt_num_format(0.1, -1, buf);
	CHECK(strcmp(buf, "0.1") == 0, "precision -1: got '%s'", buf);
	bt_num_format(0.1, 18, buf);
	CHECK(strcmp(buf, "0.10000000000000001") == 0, "precision 18: '%s'", buf);
	bt_num_format(0.1, 1000, buf);
	CHECK(strcmp(buf, "0.10000000000000001") == 0, "precision 1000: '%s'",
	      buf);
	bt_num_format(NAN, 6, buf);
	CHECK(strcmp(buf, "nan") == 0, "nan at precision 6: '%s'", buf);
	bt_num_format(-NAN, 6, buf);
	CHECK(strcmp(buf, "nan") == 0, "-nan at precision 6: '%s'", buf);
	bt_num_format(-INFINITY, 3, buf);
	CHECK(strcmp(buf, "-inf") == 0, "-inf at precision 3: '%s'", buf);
	bt_num_format(-0.0, 5, buf);
	CHECK(strcmp(buf, "-0") == 0, "-0 at precision 5: '%s'", buf);
}

static void
test_reject(void)
{
	static const struct {
		const char *s;
		char decimal;
	} bad[] = {
		{"", '.'}, {"+", '.'}, {"-", '.'}, {".", '.'}, {"e5", '.'},
		{"1e", '.'}, {"1e+", '.'}, {"1e-", '.'}, {"1.2.3", '.'},
		{" 1", '.'}, {"1 ", '.'}, {"0x10", '.'}, {"1,5", '.'},
		{"1.5", ','}, {"--1", '.'}, {"+-1", '.'}, {"nanx", '.'},
		{"1e5x", '.'}, {"-.", '.'}, {".e1", '.'}, {",", ','},
		{"1,000.5", '.'}, {"in", '.'}, {"infin", '.'}, {"infinityy", '.'},
		{"nan(1)", '.'}, {"n", '.'}, {"-", ','}, {"1e5.", '.'},
		{"1.5e5e5", '.'}, {"1\t", '.'}, {"\n", '.'}, {"1_0", '.'},
		{"1.5", 'x'}, {"15", 0}, {"1d5", '.'}, {"1e 5", '.'},
		{"e", '.'}, {"E1", '.'}, {"+e1", '.'}, {"0.e", '.'},
	};
	size_t i;
	double d = 42.0;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		enum bt_status st = bt_num_parse(bad[i].s, strlen(bad[i].s),
						 bad[i].decimal, &d);

		CHECK(st == BT_EPARSE && d == 42.0,
		      "'%s' with decimal '%c' accepted or *out changed",
		      bad[i].s, bad[i].decimal ? bad[i].decimal : '0');
	}
	/* The length bounds the field: no NUL terminator is needed. */
	CHECK(bt_num_parse("1.5xyz", 3, '.', &d) == BT_OK && d == 1.5,
	      "prefix of '1.5xyz' not read as 1.5");
	CHECK(bt_num_parse("12", 0, '.', &d) == BT_EPARSE,
	      "zero-length field accepted");
}

/* Parse S with decimal DECIMAL and compare with strtod on the same string
 * written with '.', bit for bit. */
static void
parse_vs_strtod(const char *s, char decimal)
{
	static char ref[8192];
	size_t i, n = strlen(s);
	double got = 0, want;
	enum bt_status st;

	if (n >= sizeof ref) {
		CHECK(0, "test string too long");
		return;
	}
	for (i = 0; i <= n; i++)
		ref[i] = s[i] == decimal ? '.' : s[i];
	want = strtod(ref, NULL);
	st = bt_num_parse(s, n, decimal, &got);
	CHECK(st == BT_OK && to_bits(got) == to_bits(want),
	      "parse '%s' (decimal '%c'): status %d, got %a, strtod %a", s,
	      decimal, (int)st, got, want);
}

static void
test_parse_hard(void)
{
	static const char *const cases[] = {
		"0", "-0", "+0", "0.0", "-0.0", "000", "0e999999999", "-0e-5",
		"1", "-1", "+1", "1.", ".5", "-.5", "1.e5", "00012.50",
		"9007199254740993", "9007199254740992", "9007199254740994",
		"9007199254740995", "9007199254740993.0", "9007199254740993.00001",
		"90071992547409930e-1", "18014398509481987",
		"2.2250738585072011e-308", "2.2250738585072012e-308",
		"2.2250738585072014e-308", "2.225073858507201136057409796709131975934819546351645648e-308",
		"4.9406564584124654e-324", "2.4703282292062327e-324",
		"2.4703282292062328e-324", "2.47032822920623272e-324",
		"2.4703282292062327208828439643411068618252990130716238221279284125033775363510437593264991818081799618989828234772285886546332835517796989819938739800539093906315035659515570226392290858392449105184435931802849936536152500319370457678249219365623669863658480757001585769269903706311928279558551332927834338409351978015531246597263579574622766465272827220056374006485499977096599470454020828166226237857393450736339007967761930577506740176324673600968951340535537458516661134223766678604162159680461914467291840300530057530849048765391711386591646239524912623653881879636239373280423891018672348497668235089863388587925628302755995657524455507255189313690836254779186948667994968324049705821028513185451396213837722826145437693412532098591327667236328125e-324",
		"4.94065645841246544e-324", "5e-324", "1e-323", "3e-324",
		"1.7976931348623157e308", "1.7976931348623158e308",
		"1.7976931348623159e308", "1.797693134862315807e308",
		"1.7976931348623157081452742373170435679807056752584499659891747680315726078002853876058955863276687817154045895351438246423432132688946418276846754670353751698604991057655128207624549009038932894407586850845513394230458323690322294816580855933212334827479782620414472316873817718091929988125040402618412485836e308",
		"179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792",
		"179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497791",
		"1e308", "1e309", "1e400", "-1e400", "1e-400", "-1e-400",
		"1e-324", "1e-325", "1e999999999999999999999", "1e-99999999999999999",
		"0.000000000000000000000000000000000000000000001e45",
		"100000000000000000000000000000000000000000000e-45",
		"123456789012345678901234567890", "1.23456789012345678901234567890",
		"0.1", "0.2", "0.3", "1e23", "8.589973e9", "3.7182", "-1.5",
		"12345.678", "0.0001234", "1e-3", "1E-3", "1e+3", "1e0003",
		"7.0e-10", "4.35", "2.2e-308", "1.0000000000000002",
		"1.00000000000000011102230246251565404236316680908203125",
		"1.00000000000000011102230246251565404236316680908203124",
		"1.00000000000000011102230246251565404236316680908203126",
		"9214843084008499", "0.500000000000000166533453693773481063544750213623046875",
		"30078505129381147446200", "1777820000000000000001",
		"0.500000000000000166547006220929549868969843373633921146392822265625",
		"0.50000000000000016656055874808561867439493653364479541778564453125",
		"3.518437208883201171875e13", "62.5364939768271845828",
		"8.10109172351e-10", "1.50000000000000011102230246251565404236316680908203125",
		"9007199254740991.4999999999999999999999999999999995",
		"6929495644600919.5", "3.5e-323", "8.48e-323",
		"7.2057594037927933e16", "4.4501477170144023e-308",
		"0.000000000000000000000000", "-000000000000000000000000e5",
		"1234567890123456789012345e999999", "-1234567890123456789012345e-999999",
		"1234567890123456789012345e-330", "1234567890123456789012345e284",
		"nan", "NaN", "-nan", "+NAN", "inf", "INF", "-Inf", "infinity",
		"-Infinity", "+INFINITY", "iNfInItY",
	};
	size_t i;
	double d;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char comma[2048];
		size_t j, n = strlen(cases[i]);

		parse_vs_strtod(cases[i], '.');
		if (n < sizeof comma) {
			for (j = 0; j <= n; j++)
				comma[j] = cases[i][j] == '.' ? ',' : cases[i][j];
			parse_vs_strtod(comma, ',');
		}
	}
	/* What the issue spells out, independently of strtod. */
	bt_num_parse("1e400", 5, '.', &d);
	CHECK(isinf(d) && d > 0, "1e400 is not +inf");
	bt_num_parse("1e-400", 6, '.', &d);
	CHECK(d == 0 && !signbit(d), "1e-400 is not +0");
	bt_num_parse("-0", 2, '.', &d);
	CHECK(d == 0 && signbit(d), "-0 is not -0.0");
	bt_num_parse("9007199254740993", 16, '.', &d);
	CHECK(d == 9007199254740992.0, "9007199254740993 not rounded to even");
	bt_num_parse("2.4703282292062327e-324", 23, '.', &d);
	CHECK(d == 0, "2.4703282292062327e-324 is not 0");
	bt_num_parse("2.4703282292062328e-324", 23, '.', &d);
	CHECK(d == 0x1p-1074, "2.4703282292062328e-324 is not 2^-1074");
	bt_num_parse("3,7182", 6, ',', &d);
	CHECK(d == 3.7182, "decimal comma 3,7182");
}

/* Append a random decimal numeral to S (room for at least 128 bytes). */
static void
random_numeral(char *s, char decimal)
{
	char *p = s;
	unsigned nd = 1 + below(25), nint, i, z;

	switch (below(4)) {
	case 0:
		*p++ = '-';
		break;
	case 1:
		if (below(4) == 0)
			*p++ = '+';
		break;
	default:
		break;
	}
	z = below(4) == 0 ? below(4) : 0;	/* leading zeros */
	for (i = 0; i < z; i++)
		*p++ = '0';
	nint = below(nd + 1);
	for (i = 0; i < nd; i++) {
		if (i == nint)
			*p++ = decimal;
		/* Runs of zeros and nines make carries and ties likelier. */
		switch (below(8)) {
		case 0:
			*p++ = '0';
			break;
		case 1:
			*p++ = '9';
			break;
		default:
			*p++ = (char)('0' + below(10));
			break;
		}
	}
	if (nint == nd && below(8) == 0)
		*p++ = decimal;	/* "12." */
	if (below(3) != 0) {
		int e;

		switch (below(4)) {
		case 0:
			e = (int)below(61) - 30;
			break;
		case 1:
			e = (int)below(701) - 360;
			break;
		case 2:
			e = (int)below(61) + 280;
			break;
		default:
			e = -(int)below(61) - 300;
			break;
		}
		*p++ = below(2) ? 'e' : 'E';
		if (e < 0)
			*p++ = '-';
		else if (below(3) == 0)
			*p++ = '+';
		if (below(8) == 0)
			*p++ = '0';
		p += sprintf(p, "%d", e < 0 ? -e : e);
	}
	*p = '\0';
}

static void
test_parse_random(void)
{
	char s[160];
	long i;

	for (i = 0; i < N_PARSE; i++) {
		char decimal = i % 5 == 0 ? ',' : '.';

		random_numeral(s, decimal);
		parse_vs_strtod(s, decimal);
	}
}

/* Variants of the exact midpoint numeral S with more than 800 significant
 * digits, where bt_num_parse keeps 800 and a sticky digit: zeros after the
 * midpoint (still a tie), then a 1 (just above it), and the digits before
 * the last one nudged down (just below it). */
static void
long_tails(const char *s)
{
	static char t[2048];
	const char *e = strchr(s, 'e');
	size_t m = (size_t)(e - s), z;

	for (z = 0; z < 2; z++) {
		memcpy(t, s, m);
		memset(t + m, '0', 900);
		if (z)
			t[m + 899] = '1';
		strcpy(t + m + 900, e);
		parse_vs_strtod(t, '.');
	}
	/* 7.5000...e-5 -> 7.4999...9e-5 with 900 nines */
	memcpy(t, s, m);
	while (m > 2 && t[m - 1] == '0')
		m--;
	if (t[m - 1] > '0' && t[m - 1] <= '9') {
		t[m - 1]--;
		memset(t + m, '9', 900);
		strcpy(t + m + 900, e);
		parse_vs_strtod(t, '.');
	}
}

/* Strings at and near the midpoints between adjacent doubles, written from
 * the exact long double midpoint: these reach every rounding fallback. */
static void
test_parse_midpoints(void)
{
	static char s[1024];
	int i, prec;

	if (LDBL_MANT_DIG < 54)
		return;
	for (i = 0; i < N_MIDPOINT; i++) {
		double x = fabs(i % 4 == 0 ? from_bits(next_u64() % UINT64_C(0x10000000000000))
					   : random_finite());
		double y = nextafter(x, INFINITY);
		long double mid;

		if (isinf(y))
			continue;
		mid = ((long double)x + (long double)y) / 2;
		for (prec = 15; prec <= 24; prec++) {
			snprintf(s, sizeof s, "%.*Le", prec, mid);
			parse_vs_strtod(s, '.');
		}
		snprintf(s, sizeof s, "%.780Le", mid);	/* exact */
		parse_vs_strtod(s, '.');
		if (i % 8 == 0)
			long_tails(s);
	}
}

/* ---- formatting ----------------------------------------------------------- */

/* Significant digits in a numeral: digits before any exponent, without
 * leading or trailing zeros. */
static int
sig_digits(const char *s)
{
	int n = 0, zeros = 0, started = 0;

	for (; *s && *s != 'e'; s++) {
		if (*s < '0' || *s > '9')
			continue;
		if (*s == '0') {
			if (started)
				zeros++;
			continue;
		}
		started = 1;
		n += zeros + 1;
		zeros = 0;
	}
	return n;
}

static void
roundtrip_one(double x, int minimal)
{
	char buf[BT_NUM_BUFSIZE], ref[64];
	double back = -1;
	size_t n = bt_num_format(x, 0, buf);
	int prec;

	CHECK(n == strlen(buf) && n < BT_NUM_BUFSIZE &&
	      bt_num_parse(buf, n, '.', &back) == BT_OK &&
	      to_bits(back) == to_bits(x),
	      "round trip %a: wrote '%s', read %a", x, buf, back);
	if (!minimal)
		return;
	for (prec = 1; prec <= 17; prec++) {
		snprintf(ref, sizeof ref, "%.*g", prec, x);
		if (to_bits(strtod(ref, NULL)) == to_bits(x))
			break;
	}
	CHECK(sig_digits(buf) <= prec,
	      "shortest %a: '%s' has more digits than '%%.%dg'", x, buf, prec);
}

static void
test_roundtrip(void)
{
	long i;

	for (i = 0; i < N_ROUNDTRIP; i++) {
		double x = i % 2 ? random_finite() : random_ordinary();

		roundtrip_one(x, i % (N_ROUNDTRIP / N_MINIMAL) < 2);
	}
	/* Every binade's edges, where the rounding interval is lopsided. */
	for (i = 0; i < 2046; i++) {
		uint64_t b = (uint64_t)(i + 1) << 52;

		roundtrip_one(from_bits(b), 1);
		roundtrip_one(from_bits(b + 1), 1);
		roundtrip_one(from_bits(b - 1), 1);
	}
	for (i = 1; i < 5000; i++)	/* the smallest subnormals */
		roundtrip_one(from_bits((uint64_t)i), 1);
}

static void
precision_one(double x, int prec)
{
	char buf[BT_NUM_BUFSIZE], ref[64];
	size_t n = bt_num_format(x, prec, buf);

	snprintf(ref, sizeof ref, "%.*g", prec, x);
	CHECK(strcmp(buf, ref) == 0 && n == strlen(buf),
	      "%%.%dg of %a: got '%s', printf '%s'", prec, x, buf, ref);
}

/* A value exactly halfway between two PREC-digit decimals, when one exists
 * as a double. */
static double
random_tie(int *prec)
{
	double x;

	if (below(2)) {
		/* (2a + 1) / 2^p: the tie sits in binary digits. */
		uint64_t a = next_u64() >> (11 + below(40));
		int p = 1 + (int)below(20);

		x = ldexp((double)(2 * a + 1), -p);
	} else {
		/* a * 10^t + 5 * 10^(t-1): a tie among large integers. */
		uint64_t a = 1 + next_u64() % 100000000;
		int t = 1 + (int)below(8);
		double pt = 1;

		while (t-- > 0)
			pt *= 10;
		x = (double)a * pt + 5 * pt / 10;
	}
	/* The precision that puts the tie on the last kept digit is what
	 * matters, but every precision is a valid case. */
	*prec = 1 + (int)below(17);
	return below(2) ? -x : x;
}

static void
test_precision(void)
{
	static const struct {
		double x;
		int prec;
	} ties[] = {
		{0.125, 2}, {2.5, 1}, {1e21, 1}, {1e21, 17}, {1e-7, 6},
		{0.5, 1}, {1.5, 1}, {3.5, 1}, {0.375, 2}, {1.25e20, 2},
		{1.35e20, 2}, {2.5e15, 1}, {1e22, 6}, {1e23, 17}, {1e23, 16},
		{5e-324, 1}, {5e-324, 17}, {DBL_MAX, 17}, {DBL_MAX, 1},
		{DBL_MIN, 17}, {9.5, 1}, {99.5, 2}, {999999.5, 6},
		{0.00001, 6}, {0.0001, 6}, {123456, 6}, {1234567, 6},
		{3.7182, 6}, {-1.5, 6}, {12345.678, 6}, {0.0001234, 6},
		{9.9999999999999995e-5, 1}, {1125899906842624.25, 17},
		{1125899906842624.25, 16}, {4503599627370497.5, 16},
		{8.5, 1}, {1e15, 15}, {1e16, 16}, {1e16, 17},
		{0.3, 17}, {2.0 / 3.0, 17}, {-0.0, 6}, {0.0, 1},
	};
	size_t i;
	long r;

	for (i = 0; i < sizeof ties / sizeof ties[0]; i++)
		precision_one(ties[i].x, ties[i].prec);
	for (r = 0; r < N_PRECISION; r++) {
		int prec = 1 + (int)below(17);
		double x;

		switch (r % 4) {
		case 0:
		case 1:
			x = random_finite();
			break;
		case 2:
			x = random_ordinary();
			break;
		default:
			x = random_tie(&prec);
			break;
		}
		precision_one(x, prec);
	}
	/* Every precision on a few values, and on powers of ten. */
	for (r = -330; r <= 310; r++) {
		char s[32];
		double x;
		int prec;

		snprintf(s, sizeof s, "1e%ld", r);
		x = strtod(s, NULL);
		for (prec = 1; prec <= 17; prec++) {
			precision_one(x, prec);
			precision_one(nextafter(x, 0), prec);
			precision_one(nextafter(x, INFINITY), prec);
		}
	}
}

/* ---- the fast layout against the general one --------------------------- */

/* bt_num_format and bt_num_format_reference on X at every precision: the
 * same bytes, the same length, whatever the buffers held before. */
static void
fast_one(double x)
{
	char got[BT_NUM_BUFSIZE], want[BT_NUM_BUFSIZE];
	size_t n, m;
	int prec;

	for (prec = 0; prec <= BT_NUM_MAX_PRECISION; prec++) {
		memset(got, 'x', sizeof got);
		memset(want, 'y', sizeof want);
		n = bt_num_format(x, prec, got);
		m = bt_num_format_reference(x, prec, want);
		CHECK(n == m && n == strlen(got) && strcmp(got, want) == 0,
		      "%a at precision %d: fast '%s' (%zu), general '%s' (%zu)",
		      x, prec, got, n, want, m);
	}
}

/* A decimal of 1 to 9 random digits (trailing zeros likely) at a random
 * power of ten, as strtod reads it. */
static double
random_short(void)
{
	char s[64];
	unsigned ndig = 1 + below(9), i;
	unsigned long long w = 1 + below(9);

	for (i = 1; i < ndig; i++)
		w = 10 * w + (below(3) ? below(10) : 0);
	snprintf(s, sizeof s, "%s%llue%d", below(2) ? "-" : "", w,
		 (int)below(700) - 350);
	return strtod(s, NULL);
}

static void
test_fast_layout(void)
{
	static const double edges[] = {
		0.0, -0.0, NAN, -NAN, INFINITY, -INFINITY, 5e-324, -5e-324,
		2.2250738585072009e-308, 2.2250738585072014e-308, DBL_MAX,
		1e-5, 1e-4, 9.99999e-5, 9.999995e-5, 0.00099999995, 1e16, 1e17,
		9999999.5, 99999995, 99999999, 100000000, 12345678, 0.5, 1.5,
		2.5, 0.125, 0.3, 2.0 / 3.0, 3.7182, 4.109415, 1e7, 1e8, 1e9,
		123456.5, 999999.5, 9.5, 0.95, 0.0095, 1e21, 1e22, 1e23,
		/* at least 2^53, so not integers to the shortest format, and
		 * still written in full: few digits, many zeros */
		9.1e15, 9.5e15, 9.99e15, 9007199254740994.0, 9.87654321e15,
	};
	long i;
	int k;

	for (i = 0; i < (long)(sizeof edges / sizeof edges[0]); i++) {
		fast_one(edges[i]);
		fast_one(-edges[i]);
		fast_one(nextafter(edges[i], 0));
		fast_one(nextafter(edges[i], INFINITY));
	}
	/* Every power of ten and its neighbours, where the layout and the
	 * digit count change. */
	for (k = -324; k <= 308; k++) {
		char s[32];
		double x;

		snprintf(s, sizeof s, "1e%d", k);
		x = strtod(s, NULL);
		fast_one(x);
		fast_one(nextafter(x, 0));
		fast_one(nextafter(x, INFINITY));
	}
	for (i = 1; i < 2000; i++)	/* the smallest subnormals */
		fast_one(from_bits((uint64_t)i));
	for (i = 0; i < N_FAST; i++) {
		switch (i % 4) {
		case 0:
			fast_one(random_finite());
			break;
		case 1:
			fast_one(random_ordinary());
			break;
		default:
			fast_one(random_short());
			break;
		}
	}
}

/* Under a decimal-comma locale the output must still use '.', and parsing
 * must not change. */
static void
test_locale(void)
{
	static const char *const names[] = {
		"de_DE.UTF-8", "de_DE.utf8", "de_DE", "fr_FR.UTF-8", "fr_FR.utf8",
	};
	char buf[BT_NUM_BUFSIZE];
	size_t i;
	double d = 0;

	for (i = 0; i < sizeof names / sizeof names[0]; i++)
		if (setlocale(LC_ALL, names[i]))
			break;
	if (i == sizeof names / sizeof names[0]) {
		printf("skipped: no decimal-comma locale installed\n");
		return;
	}
	bt_num_format(3.5, 0, buf);
	CHECK(strcmp(buf, "3.5") == 0, "%s: shortest 3.5 is '%s'", names[i], buf);
	bt_num_format(3.7182, 6, buf);
	CHECK(strcmp(buf, "3.7182") == 0, "%s: %%.6g 3.7182 is '%s'", names[i],
	      buf);
	bt_num_format(1.5e-7, 3, buf);
	CHECK(strcmp(buf, "1.5e-07") == 0, "%s: %%.3g 1.5e-7 is '%s'", names[i],
	      buf);
	CHECK(bt_num_parse("3.7182", 6, '.', &d) == BT_OK && d == 3.7182,
	      "%s: '3.7182' not parsed", names[i]);
	CHECK(bt_num_parse("3,7182", 6, ',', &d) == BT_OK && d == 3.7182,
	      "%s: '3,7182' with ',' not parsed", names[i]);
	CHECK(bt_num_parse("3,7182", 6, '.', &d) == BT_EPARSE,
	      "%s: '3,7182' with '.' accepted", names[i]);
	/* A long field takes the strtod fallback. */
	CHECK(bt_num_parse("0.1000000000000000055511151231257827021181583404541015625",
			   57, '.', &d) == BT_OK && d == 0.1,
	      "%s: long 0.1 not parsed", names[i]);
	setlocale(LC_ALL, "C");
}

/* bt_num_scan of the LEN bytes at B against bt_num_parse of its prefix:
 * the same class, and the same value bit for bit when it gives one. */
static void
scan_matches_parse(const char *b, size_t len, char dec)
{
	enum bt_num_class cls;
	double v = 0.5, x;
	size_t k = bt_num_scan(b, len, dec, &cls, &v);
	int ok;

	if (k == 0) {
		CHECK(cls == BT_NUM_INVALID && v == 0.5,
		      "bt_num_scan('%.*s', '%c'): no prefix, nothing stored",
		      (int)len, b, dec);
		return;
	}
	ok = bt_num_parse(b, k, dec, &x) == BT_OK;
	CHECK(ok && (isnan(v) || memcmp(&x, &v, sizeof x) == 0)
	      && cls == (isfinite(x) ? BT_NUM_FINITE : BT_NUM_NONFINITE),
	      "bt_num_scan('%.*s', '%c') = %.17g, parse of its %zu bytes %.17g",
	      (int)len, b, dec, v, k, x);
}

/* bt_num_check must classify every field as bt_num_parse reads it, and
 * bt_num_scan must give the value bt_num_parse gives its prefix: random
 * short strings over digits, signs, points, commas, exponents and letters,
 * random runs of up to 30 digits (whose 64-bit accumulator wraps), with
 * both decimal characters, and the hand-picked edges of their fast paths
 * (19 and 20 digits, 2^53 + 1, 2^64, 10^22 and 10^23). */
static void
test_check(void)
{
	static const char alphabet[] = "0123456789.-+eE,naix 0123456789";
	static const char *const edges[] = {
		"-", "+", ".", "-.", "+.", "5.", ".5", "-.5", "-5.", "1.2.3", "--1",
		"5-", "1e5", "1e", "1e+", "nan", "-inf", "Infinity", "0", "00",
		"1234567890123456", "12345678901234567", "-1.234567890123456",
		"9e308", "1e309", "1e-400", "1,5", " 1", "1 ", "",
		"1234567890123456789", "12345678901234567891", "9007199254740993",
		"-0.00000000000000000001234", "1e22", "1e23", "123456789e-22",
		"4.9e-324", "2.4703282292062328e-324", "1.7976931348623159e308",
		"18446744073709551616", "18446744073709551617", "36893488147419103233",
		"1844674407370955161.7", "0.000000000000000000018446744073709551617",
	};
	char b[48], dec;
	size_t i, k, len;
	double x;
	int d;

	for (k = 0; k < 1000000 + sizeof edges / sizeof edges[0]; k++) {
		if (k < sizeof edges / sizeof edges[0]) {
			len = strlen(edges[k]);
			memcpy(b, edges[k], len);
		} else if (k % 4 == 0) {
			/* A run of digits, a point among them one time in two. */
			len = 15 + next_u64() % 16;
			for (i = 0; i < len; i++)
				b[i] = (char)('0' + next_u64() % 10);
			if (next_u64() % 2)
				b[next_u64() % len] = '.';
		} else {
			uint64_t r = next_u64();

			len = 1 + r % 19;
			for (i = 0; i < len; i++)
				b[i] = alphabet[next_u64() % (sizeof alphabet - 1)];
		}
		for (d = 0; d < 2; d++) {
			enum bt_num_class want, got;

			dec = d ? ',' : '.';
			want = bt_num_parse(b, len, dec, &x) != BT_OK ? BT_NUM_INVALID
			       : isfinite(x) ? BT_NUM_FINITE : BT_NUM_NONFINITE;
			got = bt_num_check(b, len, dec);
			CHECK(got == want, "bt_num_check('%.*s', '%c') = %d, parse says %d",
			      (int)len, b, dec, (int)got, (int)want);
			scan_matches_parse(b, len, dec);
		}
	}
}

int
main(void)
{
	rng = SEED;
	test_layout();
	test_reject();
	test_parse_hard();
	test_parse_random();
	test_parse_midpoints();
	test_roundtrip();
	test_precision();
	test_fast_layout();
	test_locale();
	test_check();
	return check_report();
}
