/* bt_ecm.c - the equivalent-circuit cell model: the bt-ecm(5) loader and
 * writer, table interpolation, the exact zero-order-hold time step and the
 * Jacobians of that step for the Kalman filters.
 *
 * References cited below:
 *   [Plett04]  G. L. Plett, "Extended Kalman filtering for battery
 *              management systems of LiPB-based HEV battery packs, Part 2.
 *              Modeling and identification", J. Power Sources 134 (2004)
 *              262-276.
 *   [Plett15]  G. L. Plett, Battery Management Systems, Vol. I: Battery
 *              Modeling, Artech House, 2015, ch. 2.
 *   [FC80]     F. N. Fritsch and R. E. Carlson, "Monotone piecewise cubic
 *              interpolation", SIAM J. Numer. Anal. 17 (1980) 238-246.
 *   [FB84]     F. N. Fritsch and J. Butland, "A method for constructing
 *              local monotone piecewise cubic interpolants", SIAM J. Sci.
 *              Stat. Comput. 5 (1984) 300-304.
 *   [Moler04]  C. Moler, Numerical Computing with MATLAB, SIAM, 2004,
 *              sec. 3.4 (pchip end conditions).
 *   [Bernardi85] D. Bernardi, E. Pawlikowski and J. Newman, "A general
 *              energy balance for battery systems", J. Electrochem. Soc.
 *              132 (1985) 5-12.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "bt_ecm.h"
#include "bt_num.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Seconds per hour: capacities are in Ah, times in s. */
#define SECONDS_PER_HOUR 3600.0

/* Bounds of the soc axis of a table: soc outside [0, 1] is rejected. */
#define SOC_MIN 0.0
#define SOC_MAX 1.0

/* At most this many bytes of an offending token are quoted in a message. */
#define MAX_QUOTE_LEN 64

/* The loader's first allocations: table rows, and bytes of a file. */
#define ROWS_INITIAL 64
#define READ_CHUNK 4096

/* Room for a number formatted by fmt_num(), NUL included. */
#define NUM_BUFSIZE BT_NUM_BUFSIZE

/* 2 pi, for angular frequency. */
#define TWO_PI 6.28318530717958647692528676655900577

#define STR_(x) #x
#define STR(x) STR_(x)

/* The first token of every ECM file. */
#define MAGIC "battools-ecm"

/* Let the compiler check the formats of the message helpers. */
#if defined(__GNUC__)
#define PRINTF_LIKE(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define PRINTF_LIKE(fmt, args)
#endif

/* The tabulated quantities, in the order of their storage. */
enum var {
	V_OCV,
	V_R0,
	V_R1,
	V_R2,
	V_R3,
	V_TAU1,
	V_TAU2,
	V_TAU3,
	NVAR
};

static const char *const var_names[NVAR] = {
	"ocv_v", "r0_ohm", "r1_ohm", "r2_ohm", "r3_ohm",
	"tau1_s", "tau2_s", "tau3_s",
};

/* Validation rules for a value. */
enum rule {
	RULE_FINITE,	/* any finite number */
	RULE_POS,	/* finite and > 0 */
	RULE_NONNEG,	/* finite and >= 0 */
	RULE_SOC,	/* finite, in [SOC_MIN, SOC_MAX] */
	RULE_EFF,	/* finite, in (0, 1] */
	RULE_RC,	/* an integer 1 .. BT_ECM_MAX_RC */
	RULE_SD		/* NaN (unknown), or finite and >= 0 */
};

static const enum rule var_rules[NVAR] = {
	RULE_FINITE, RULE_POS, RULE_NONNEG, RULE_NONNEG, RULE_NONNEG,
	RULE_POS, RULE_POS, RULE_POS,
};

/* The header keys. */
enum key {
	K_CAPACITY,
	K_RC_PAIRS,
	K_REFERENCE_T,
	K_EFFICIENCY,
	K_GAMMA,
	K_M,
	K_M0,
	K_THERMAL_C,
	K_THERMAL_R,
	K_AMBIENT,
	NKEY
};

static const struct {
	const char *name;
	enum rule rule;
} keys[NKEY] = {
	[K_CAPACITY] = { "capacity_ah", RULE_POS },
	[K_RC_PAIRS] = { "rc_pairs", RULE_RC },
	[K_REFERENCE_T] = { "reference_temperature_c", RULE_FINITE },
	[K_EFFICIENCY] = { "coulombic_efficiency", RULE_EFF },
	[K_GAMMA] = { "hysteresis_gamma", RULE_NONNEG },
	[K_M] = { "hysteresis_m_v", RULE_NONNEG },
	[K_M0] = { "hysteresis_m0_v", RULE_NONNEG },
	[K_THERMAL_C] = { "thermal_capacity_j_per_k", RULE_POS },
	[K_THERMAL_R] = { "thermal_resistance_k_per_w", RULE_POS },
	[K_AMBIENT] = { "ambient_c", RULE_FINITE },
};

struct bt_ecm {
	struct bt_ecm_info info;
	size_t nt, ns;		/* temperature levels, soc points */
	double *temp;		/* nt increasing temperature levels */
	double *soc;		/* ns increasing soc points */
	double *val[NVAR];	/* nt * ns values, level-major */
	double *sd[NVAR];	/* their standard deviations */
	double *docv;		/* PCHIP slopes of the OCV along soc */
	double *ptemp;		/* temperature_c of each point as set */
	double *psoc;		/* soc of each point as set */
	double *temp_inv;	/* 1 / (temp[j + 1] - temp[j]), nt - 1 of them */
	double *soc_inv;	/* 1 / (soc[j + 1] - soc[j]), ns - 1 of them */
	double temp_scale;	/* (nt - 1) / (temp[nt - 1] - temp[0]), or 0 */
	double soc_scale;	/* (ns - 1) / (soc[ns - 1] - soc[0]) */
	int ready;		/* bt_ecm_finish() has succeeded */
	double *block;		/* the one allocation holding every array */
};

/* --- Messages and numbers ------------------------------------------------ */

/* Write "NAME:LINE: " (LINE 0: "NAME: ") and the formatted text to ERRMSG
 * when it is not NULL. */
static void PRINTF_LIKE(4, 0)
setmsgv(char *errmsg, const char *name, size_t line, const char *fmt, va_list ap)
{
	int n;

	if (!errmsg)
		return;
	if (name && line)
		n = snprintf(errmsg, BT_ERRMSG_SIZE, "%s:%zu: ", name, line);
	else if (name)
		n = snprintf(errmsg, BT_ERRMSG_SIZE, "%s: ", name);
	else
		n = 0;
	if (n < 0)
		n = 0;
	if ((size_t)n >= BT_ERRMSG_SIZE)
		return;
	vsnprintf(errmsg + n, BT_ERRMSG_SIZE - (size_t)n, fmt, ap);
}

static void PRINTF_LIKE(4, 5)
setmsg(char *errmsg, const char *name, size_t line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	setmsgv(errmsg, name, line, fmt, ap);
	va_end(ap);
}

/* Copy at most MAX_QUOTE_LEN bytes of S into DST (MAX_QUOTE_LEN + 4
 * bytes), control bytes replaced by '?', "..." marking a cut. */
static void
quote(char *dst, const char *s, size_t n)
{
	size_t i, m = n < MAX_QUOTE_LEN ? n : MAX_QUOTE_LEN;

	for (i = 0; i < m; i++) {
		unsigned char c = (unsigned char)s[i];
		dst[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	if (m < n) {
		memcpy(dst + m, "...", 3);
		m += 3;
	}
	dst[m] = '\0';
}

/* Write X as the shortest string that reads back to X (bt_num_format). */
static void
fmt_num(double x, char buf[NUM_BUFSIZE])
{
	bt_num_format(x, 0, buf);
}

/* Parse the N bytes at S as exactly one number into *X (bt_num_parse: the C
 * locale's syntax whatever the user's locale).  Returns 1 on success, 0
 * otherwise. */
static int
parse_num(const char *s, size_t n, double *x)
{
	return bt_num_parse(s, n, '.', x) == BT_OK;
}

/* Returns NULL when X satisfies RULE, otherwise what it must be. */
static const char *
rule_problem(enum rule rule, double x)
{
	if (rule == RULE_SD && isnan(x))
		return NULL;
	if (!isfinite(x))
		return "must be finite";
	switch (rule) {
	case RULE_FINITE:
		return NULL;
	case RULE_POS:
		return x > 0 ? NULL : "must be > 0";
	case RULE_NONNEG:
	case RULE_SD:
		return x >= 0 ? NULL : "must be >= 0";
	case RULE_SOC:
		return x >= SOC_MIN && x <= SOC_MAX ? NULL : "must lie in [0, 1]";
	case RULE_EFF:
		return x > 0 && x <= 1 ? NULL : "must lie in (0, 1]";
	case RULE_RC:
		if (x >= 1 && x <= BT_ECM_MAX_RC && x == floor(x))
			return NULL;
		return "must be an integer from 1 to " STR(BT_ECM_MAX_RC);
	}
	return NULL;
}

/* --- Construction -------------------------------------------------------- */

void
bt_ecm_info_init(struct bt_ecm_info *info)
{
	info->capacity_ah = NAN;
	info->rc_pairs = 1;
	info->reference_temperature_c = BT_ECM_DEFAULT_REFERENCE_TEMPERATURE_C;
	info->coulombic_efficiency = BT_ECM_DEFAULT_COULOMBIC_EFFICIENCY;
	info->has_hysteresis = 0;
	info->hysteresis_gamma = 0;
	info->hysteresis_m_v = 0;
	info->hysteresis_m0_v = BT_ECM_DEFAULT_HYSTERESIS_M0_V;
	info->has_thermal = 0;
	info->thermal_capacity_j_per_k = NAN;
	info->thermal_resistance_k_per_w = NAN;
	info->ambient_c = NAN;
}

enum bt_status
bt_ecm_alloc(const struct bt_ecm_info *info, size_t n_temps, size_t n_soc,
	     struct bt_ecm **ecm)
{
	struct bt_ecm *m;
	size_t np, total, i, v;
	double *p;

	*ecm = NULL;
	if (n_temps < 1 || n_soc < 2 || info->rc_pairs < 1 ||
	    info->rc_pairs > BT_ECM_MAX_RC)
		return BT_EINVAL;
	if (n_soc > SIZE_MAX / n_temps)
		return BT_ENOMEM;
	np = n_temps * n_soc;
	/* temp, soc, then val and sd per variable, docv, ptemp, psoc, then
	 * temp_inv and soc_inv */
	if (np > (SIZE_MAX / sizeof(double) - 2 * (n_temps + n_soc)) / (2 * NVAR + 3))
		return BT_ENOMEM;
	total = 2 * (n_temps + n_soc) + (2 * NVAR + 3) * np;

	m = calloc(1, sizeof *m);
	if (!m)
		return BT_ENOMEM;
	m->block = malloc(total * sizeof(double));
	if (!m->block) {
		free(m);
		return BT_ENOMEM;
	}
	m->info = *info;
	m->nt = n_temps;
	m->ns = n_soc;
	p = m->block;
	m->temp = p;
	p += n_temps;
	m->soc = p;
	p += n_soc;
	for (v = 0; v < NVAR; v++) {
		m->val[v] = p;
		p += np;
		m->sd[v] = p;
		p += np;
	}
	m->docv = p;
	p += np;
	m->ptemp = p;
	p += np;
	m->psoc = p;
	p += np;
	m->temp_inv = p;
	p += n_temps;
	m->soc_inv = p;
	for (i = 0; i < total; i++)
		m->block[i] = NAN;
	for (i = 0; i < np; i++)
		m->docv[i] = 0;
	*ecm = m;
	return BT_OK;
}

enum bt_status
bt_ecm_set_point(struct bt_ecm *ecm, size_t it, size_t is,
		 const struct bt_ecm_point *pt)
{
	size_t i, k;

	if (it >= ecm->nt || is >= ecm->ns)
		return BT_EINVAL;
	i = it * ecm->ns + is;
	ecm->ready = 0;
	ecm->ptemp[i] = pt->temperature_c;
	ecm->psoc[i] = pt->soc;
	ecm->val[V_OCV][i] = pt->ocv_v;
	ecm->sd[V_OCV][i] = pt->ocv_v_sd;
	ecm->val[V_R0][i] = pt->r0_ohm;
	ecm->sd[V_R0][i] = pt->r0_ohm_sd;
	for (k = 0; k < BT_ECM_MAX_RC; k++) {
		int used = k < ecm->info.rc_pairs;
		ecm->val[V_R1 + k][i] = used ? pt->r_ohm[k] : 0;
		ecm->sd[V_R1 + k][i] = used ? pt->r_ohm_sd[k] : NAN;
		ecm->val[V_TAU1 + k][i] = used ? pt->tau_s[k] : 0;
		ecm->sd[V_TAU1 + k][i] = used ? pt->tau_s_sd[k] : NAN;
	}
	return BT_OK;
}

/* Whether variable V is used by a model with RC_PAIRS pairs. */
static int
var_used(size_t v, unsigned rc_pairs)
{
	if (v >= V_R1 && v <= V_R3)
		return v - V_R1 < rc_pairs;
	if (v >= V_TAU1)
		return v - V_TAU1 < rc_pairs;
	return 1;
}

/* The PCHIP derivatives D at the N points (X, Y), N >= 2, as Moler's
 * pchip: interior slopes by the weighted harmonic mean of [FB84], which
 * lies in the monotonicity region of [FC80] (zero at a local extremum);
 * end slopes by the one-sided three-point formula, made shape-preserving
 * ([Moler04] sec. 3.4).  Two points give the straight line. */
static void
pchip_slopes(const double *x, const double *y, size_t n, double *d)
{
	size_t j;

	if (n == 2) {
		d[0] = d[1] = (y[1] - y[0]) / (x[1] - x[0]);
		return;
	}
	for (j = 1; j + 1 < n; j++) {
		double h0 = x[j] - x[j - 1], h1 = x[j + 1] - x[j];
		double del0 = (y[j] - y[j - 1]) / h0;
		double del1 = (y[j + 1] - y[j]) / h1;

		if (del0 * del1 <= 0) {
			d[j] = 0;
		} else {
			double w1 = 2 * h1 + h0, w2 = h1 + 2 * h0;
			d[j] = (w1 + w2) / (w1 / del0 + w2 / del1);
		}
	}
	for (j = 0; j < 2; j++) {
		/* j = 0: the left end; j = 1: the right end, mirrored. */
		size_t a = j ? n - 1 : 0, b = j ? n - 2 : 1, c = j ? n - 3 : 2;
		double h0 = fabs(x[b] - x[a]), h1 = fabs(x[c] - x[b]);
		double del0 = (y[b] - y[a]) / (x[b] - x[a]);
		double del1 = (y[c] - y[b]) / (x[c] - x[b]);
		double e = ((2 * h0 + h1) * del0 - h0 * del1) / (h0 + h1);

		if ((e > 0) != (del0 > 0) || e == 0 || del0 == 0)
			e = 0;
		else if ((del0 > 0) != (del1 > 0) && fabs(e) > fabs(3 * del0))
			e = 3 * del0;
		d[a] = e;
	}
}

/* Describe in ERRMSG the problem of model value X named WHAT at grid point
 * I of M; returns BT_EINVAL. */
static enum bt_status
point_problem(const struct bt_ecm *m, size_t i, const char *what, double x,
	      const char *problem, char *errmsg)
{
	char tb[NUM_BUFSIZE], sb[NUM_BUFSIZE], xb[NUM_BUFSIZE];

	fmt_num(m->ptemp[i], tb);
	fmt_num(m->psoc[i], sb);
	fmt_num(x, xb);
	setmsg(errmsg, NULL, 0, "temperature_c '%s', soc '%s': %s '%s' %s",
	       tb, sb, what, xb, problem);
	return BT_EINVAL;
}

/* Check the header of M; returns BT_OK or BT_EINVAL with ERRMSG set. */
static enum bt_status
check_info(const struct bt_ecm_info *info, char *errmsg)
{
	struct {
		enum key key;
		double x;
		int used;
	} items[NKEY] = {
		{ K_CAPACITY, info->capacity_ah, 1 },
		{ K_RC_PAIRS, info->rc_pairs, 1 },
		{ K_REFERENCE_T, info->reference_temperature_c, 1 },
		{ K_EFFICIENCY, info->coulombic_efficiency, 1 },
		{ K_GAMMA, info->hysteresis_gamma, info->has_hysteresis },
		{ K_M, info->hysteresis_m_v, info->has_hysteresis },
		{ K_M0, info->hysteresis_m0_v, info->has_hysteresis },
		{ K_THERMAL_C, info->thermal_capacity_j_per_k, info->has_thermal },
		{ K_THERMAL_R, info->thermal_resistance_k_per_w, info->has_thermal },
		{ K_AMBIENT, info->ambient_c, info->has_thermal },
	};
	size_t k;

	for (k = 0; k < NKEY; k++) {
		const char *problem;
		char xb[NUM_BUFSIZE];

		if (!items[k].used)
			continue;
		problem = rule_problem(keys[items[k].key].rule, items[k].x);
		if (!problem)
			continue;
		fmt_num(items[k].x, xb);
		setmsg(errmsg, NULL, 0, "%s '%s' %s", keys[items[k].key].name,
		       xb, problem);
		return BT_EINVAL;
	}
	return BT_OK;
}

enum bt_status
bt_ecm_finish(struct bt_ecm *ecm, char errmsg[BT_ERRMSG_SIZE])
{
	size_t nt = ecm->nt, ns = ecm->ns, it, is, v;
	enum bt_status st;

	ecm->ready = 0;
	st = check_info(&ecm->info, errmsg);
	if (st != BT_OK)
		return st;
	for (it = 0; it < nt; it++) {
		for (is = 0; is < ns; is++) {
			size_t i = it * ns + is;
			const char *problem;

			problem = rule_problem(RULE_FINITE, ecm->ptemp[i]);
			if (problem)
				return point_problem(ecm, i, "temperature_c",
						     ecm->ptemp[i], problem, errmsg);
			problem = rule_problem(RULE_SOC, ecm->psoc[i]);
			if (problem)
				return point_problem(ecm, i, "soc", ecm->psoc[i],
						     problem, errmsg);
			if (ecm->ptemp[i] != ecm->ptemp[it * ns])
				return point_problem(ecm, i, "temperature_c",
						     ecm->ptemp[i],
						     "differs within its level",
						     errmsg);
			if (ecm->psoc[i] != ecm->psoc[is])
				return point_problem(ecm, i, "soc", ecm->psoc[i],
						     "differs from the first level",
						     errmsg);
			if (is > 0 && !(ecm->psoc[i] > ecm->psoc[i - 1]))
				return point_problem(ecm, i, "soc", ecm->psoc[i],
						     "does not increase", errmsg);
			if (it > 0 && is == 0 &&
			    !(ecm->ptemp[i] > ecm->ptemp[i - ns]))
				return point_problem(ecm, i, "temperature_c",
						     ecm->ptemp[i],
						     "does not increase", errmsg);
			for (v = 0; v < NVAR; v++) {
				if (!var_used(v, ecm->info.rc_pairs))
					continue;
				problem = rule_problem(var_rules[v], ecm->val[v][i]);
				if (problem)
					return point_problem(ecm, i, var_names[v],
							     ecm->val[v][i],
							     problem, errmsg);
				problem = rule_problem(RULE_SD, ecm->sd[v][i]);
				if (problem) {
					char name[32];
					snprintf(name, sizeof name, "%s_sd",
						 var_names[v]);
					return point_problem(ecm, i, name,
							     ecm->sd[v][i],
							     problem, errmsg);
				}
			}
		}
	}
	for (it = 0; it < nt; it++)
		ecm->temp[it] = ecm->ptemp[it * ns];
	for (is = 0; is < ns; is++)
		ecm->soc[is] = ecm->psoc[is];
	/* What locate() divides by, divided once here. */
	for (it = 0; it + 1 < nt; it++)
		ecm->temp_inv[it] = 1 / (ecm->temp[it + 1] - ecm->temp[it]);
	for (is = 0; is + 1 < ns; is++)
		ecm->soc_inv[is] = 1 / (ecm->soc[is + 1] - ecm->soc[is]);
	ecm->temp_scale = nt > 1 ? (double)(nt - 1) / (ecm->temp[nt - 1] - ecm->temp[0]) : 0;
	ecm->soc_scale = (double)(ns - 1) / (ecm->soc[ns - 1] - ecm->soc[0]);
	for (it = 0; it < nt; it++)
		pchip_slopes(ecm->soc, ecm->val[V_OCV] + it * ns, ns,
			     ecm->docv + it * ns);
	ecm->ready = 1;
	return BT_OK;
}

void
bt_ecm_free(struct bt_ecm *ecm)
{
	if (!ecm)
		return;
	free(ecm->block);
	free(ecm);
}

/* --- The loader ---------------------------------------------------------- */

/* Column kinds of the table: temperature, soc, then NVAR values and NVAR
 * standard deviations. */
enum {
	COL_TEMP,
	COL_SOC,
	COL_VAL,
	COL_SD = COL_VAL + NVAR,
	NCOLKIND = COL_SD + NVAR
};

struct row {
	double temp, soc;
	double val[NVAR], sd[NVAR];
	size_t line;
};

struct parser {
	const char *buf;
	size_t len, pos;
	size_t line;		/* number of the line last read */
	const char *name;
	char *errmsg;
};

static enum bt_status PRINTF_LIKE(4, 5)
fail(struct parser *p, enum bt_status st, size_t line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	setmsgv(p->errmsg, p->name, line, fmt, ap);
	va_end(ap);
	return st;
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Trim spaces at both ends of the N bytes at *S. */
static void
trim(const char **s, size_t *n)
{
	while (*n > 0 && is_space(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && is_space((*s)[*n - 1]))
		(*n)--;
}

/* Read the next line into *S, *N: without its end of line, without a
 * comment, trimmed.  Returns 1, 0 at the end of the input, or -1 (ERRMSG
 * set) when the line holds a NUL byte. */
static int
next_line(struct parser *p, const char **s, size_t *n)
{
	const char *start, *nl, *hash;
	size_t m;

	if (p->pos >= p->len)
		return 0;
	start = p->buf + p->pos;
	nl = memchr(start, '\n', p->len - p->pos);
	m = nl ? (size_t)(nl - start) : p->len - p->pos;
	p->pos += m + (nl != NULL);
	p->line++;
	if (memchr(start, '\0', m)) {
		fail(p, BT_EFORMAT, p->line, "NUL byte in the file");
		return -1;
	}
	/* A UTF-8 byte-order mark, as some editors write, is skipped. */
	if (p->line == 1 && m >= 3 && memcmp(start, "\xef\xbb\xbf", 3) == 0) {
		start += 3;
		m -= 3;
	}
	hash = memchr(start, '#', m);
	if (hash)
		m = (size_t)(hash - start);
	*s = start;
	*n = m;
	trim(s, n);
	return 1;
}

/* Split off the first space-separated token of *S, *N into *T, *TN. */
static void
token(const char **s, size_t *n, const char **t, size_t *tn)
{
	size_t i = 0;

	trim(s, n);
	while (i < *n && !is_space((*s)[i]))
		i++;
	*t = *s;
	*tn = i;
	*s += i;
	*n -= i;
	trim(s, n);
}

static int
token_is(const char *t, size_t n, const char *word)
{
	return strlen(word) == n && memcmp(t, word, n) == 0;
}

/* Split off the next comma-separated field of *S, *N (*LEFT says whether
 * one is left) into *F, *FN, trimmed. */
static void
field(const char **s, size_t *n, int *left, const char **f, size_t *fn)
{
	const char *comma = memchr(*s, ',', *n);

	*f = *s;
	if (comma) {
		*fn = (size_t)(comma - *s);
		*n -= *fn + 1;
		*s = comma + 1;
	} else {
		*fn = *n;
		*s += *n;
		*n = 0;
		*left = 0;
	}
	trim(f, fn);
}

/* The column kind named by the N bytes at S, or -1. */
static int
column_kind(const char *s, size_t n)
{
	size_t v;

	if (token_is(s, n, "temperature_c"))
		return COL_TEMP;
	if (token_is(s, n, "soc"))
		return COL_SOC;
	for (v = 0; v < NVAR; v++) {
		size_t vn = strlen(var_names[v]);

		if (token_is(s, n, var_names[v]))
			return COL_VAL + (int)v;
		if (n == vn + 3 && memcmp(s, var_names[v], vn) == 0 &&
		    memcmp(s + vn, "_sd", 3) == 0)
			return COL_SD + (int)v;
	}
	return -1;
}

static void
column_name(int kind, char *buf, size_t size)
{
	if (kind == COL_TEMP)
		snprintf(buf, size, "temperature_c");
	else if (kind == COL_SOC)
		snprintf(buf, size, "soc");
	else if (kind < COL_SD)
		snprintf(buf, size, "%s", var_names[kind - COL_VAL]);
	else
		snprintf(buf, size, "%s_sd", var_names[kind - COL_SD]);
}

static int
row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	if (x->temp != y->temp)
		return x->temp < y->temp ? -1 : 1;
	if (x->soc != y->soc)
		return x->soc < y->soc ? -1 : 1;
	return 0;
}

/* Parse the header lines up to "table" into INFO. */
static enum bt_status
parse_header(struct parser *p, struct bt_ecm_info *info, size_t *table_line)
{
	double kv[NKEY];
	size_t kline[NKEY] = { 0 };
	const char *s, *t, *k;
	size_t n, tn, kn, i, first;
	char q[MAX_QUOTE_LEN + 4], q2[MAX_QUOTE_LEN + 4];
	int r;

	/* The version line. */
	r = next_line(p, &s, &n);
	if (r < 0)
		return BT_EFORMAT;
	if (r == 0)
		return fail(p, BT_EFORMAT, 1, "empty file, expected '%s %d'",
			    MAGIC, BT_ECM_FORMAT_VERSION);
	token(&s, &n, &t, &tn);
	if (!token_is(t, tn, MAGIC)) {
		quote(q, t, tn);
		return fail(p, BT_EFORMAT, p->line,
			    "not an ECM file: expected '%s %d', found '%s'",
			    MAGIC, BT_ECM_FORMAT_VERSION, q);
	}
	{
		char want[16];
		snprintf(want, sizeof want, "%d", BT_ECM_FORMAT_VERSION);
		if (!token_is(s, n, want)) {
			quote(q, s, n);
			return fail(p, BT_EFORMAT, p->line,
				    "unsupported format version '%s', expected '%s'",
				    q, want);
		}
	}

	for (;;) {
		double x;
		const char *problem;

		r = next_line(p, &s, &n);
		if (r < 0)
			return BT_EFORMAT;
		if (r == 0)
			return fail(p, BT_EFORMAT, p->line,
				    "missing 'table' line");
		if (n == 0)
			continue;
		token(&s, &n, &k, &kn);
		if (token_is(k, kn, "table")) {
			if (n > 0) {
				quote(q, s, n);
				return fail(p, BT_EFORMAT, p->line,
					    "trailing text '%s' after 'table'", q);
			}
			break;
		}
		for (i = 0; i < NKEY; i++)
			if (token_is(k, kn, keys[i].name))
				break;
		quote(q, k, kn);
		if (i == NKEY)
			return fail(p, BT_EFORMAT, p->line, "unknown key '%s'", q);
		if (kline[i])
			return fail(p, BT_EFORMAT, p->line,
				    "duplicate key '%s' (first on line %zu)",
				    q, kline[i]);
		token(&s, &n, &t, &tn);
		if (tn == 0)
			return fail(p, BT_EFORMAT, p->line,
				    "missing value for '%s'", q);
		if (n > 0) {
			quote(q2, s, n);
			return fail(p, BT_EFORMAT, p->line,
				    "trailing text '%s' after the value of '%s'",
				    q2, q);
		}
		quote(q2, t, tn);
		if (!parse_num(t, tn, &x))
			return fail(p, BT_EFORMAT, p->line,
				    "invalid number '%s' for '%s'", q2, q);
		problem = rule_problem(keys[i].rule, x);
		if (problem)
			return fail(p, BT_EFORMAT, p->line, "%s '%s' %s", q, q2,
				    problem);
		kv[i] = x;
		kline[i] = p->line;
	}
	*table_line = p->line;

	if (!kline[K_CAPACITY])
		return fail(p, BT_EFORMAT, p->line, "missing key '%s'",
			    keys[K_CAPACITY].name);
	if (!kline[K_RC_PAIRS])
		return fail(p, BT_EFORMAT, p->line, "missing key '%s'",
			    keys[K_RC_PAIRS].name);
	info->capacity_ah = kv[K_CAPACITY];
	info->rc_pairs = (unsigned)kv[K_RC_PAIRS];
	if (kline[K_REFERENCE_T])
		info->reference_temperature_c = kv[K_REFERENCE_T];
	if (kline[K_EFFICIENCY])
		info->coulombic_efficiency = kv[K_EFFICIENCY];

	/* The hysteresis needs gamma and M; M0 is optional. */
	first = 0;
	for (i = K_GAMMA; i <= K_M0; i++)
		if (kline[i] && (!first || kline[i] < first))
			first = kline[i];
	if (first) {
		for (i = K_GAMMA; i <= K_M; i++)
			if (!kline[i])
				return fail(p, BT_EFORMAT, first,
					    "incomplete hysteresis model: missing '%s'",
					    keys[i].name);
		info->has_hysteresis = 1;
		info->hysteresis_gamma = kv[K_GAMMA];
		info->hysteresis_m_v = kv[K_M];
		if (kline[K_M0])
			info->hysteresis_m0_v = kv[K_M0];
	}
	/* The thermal model needs all three keys. */
	first = 0;
	for (i = K_THERMAL_C; i <= K_AMBIENT; i++)
		if (kline[i] && (!first || kline[i] < first))
			first = kline[i];
	if (first) {
		for (i = K_THERMAL_C; i <= K_AMBIENT; i++)
			if (!kline[i])
				return fail(p, BT_EFORMAT, first,
					    "incomplete thermal model: missing '%s'",
					    keys[i].name);
		info->has_thermal = 1;
		info->thermal_capacity_j_per_k = kv[K_THERMAL_C];
		info->thermal_resistance_k_per_w = kv[K_THERMAL_R];
		info->ambient_c = kv[K_AMBIENT];
	}
	return BT_OK;
}

/* Parse the table's header row into COLS (*NCOLS kinds). */
static enum bt_status
parse_columns(struct parser *p, unsigned rc_pairs, size_t table_line,
	      int cols[NCOLKIND], size_t *ncols, size_t *header_line)
{
	int seen[NCOLKIND] = { 0 };
	const char *s, *f;
	size_t n, fn, v;
	char q[MAX_QUOTE_LEN + 4];
	int r, left = 1;

	do {
		r = next_line(p, &s, &n);
		if (r < 0)
			return BT_EFORMAT;
		if (r == 0)
			return fail(p, BT_EFORMAT, table_line,
				    "table has no header row");
	} while (n == 0);
	*header_line = p->line;
	*ncols = 0;
	while (left) {
		int kind;

		field(&s, &n, &left, &f, &fn);
		kind = column_kind(f, fn);
		quote(q, f, fn);
		if (kind < 0)
			return fail(p, BT_EFORMAT, p->line, "unknown column '%s'", q);
		if (seen[kind])
			return fail(p, BT_EFORMAT, p->line, "duplicate column '%s'", q);
		v = kind >= COL_SD ? (size_t)(kind - COL_SD) :
		    kind >= COL_VAL ? (size_t)(kind - COL_VAL) : V_OCV;
		if (!var_used(v, rc_pairs))
			return fail(p, BT_EFORMAT, p->line,
				    "column '%s' does not fit rc_pairs %u",
				    q, rc_pairs);
		seen[kind] = 1;
		cols[(*ncols)++] = kind;
	}
	for (v = 0; v < COL_SD; v++) {
		char name[32];

		if (v >= COL_VAL && !var_used(v - COL_VAL, rc_pairs))
			continue;
		if (seen[v])
			continue;
		column_name((int)v, name, sizeof name);
		return fail(p, BT_EFORMAT, p->line, "missing column '%s'", name);
	}
	return BT_OK;
}

/* Parse one data row S, N into *ROW. */
static enum bt_status
parse_row(struct parser *p, const char *s, size_t n, const int *cols,
	  size_t ncols, struct row *row)
{
	const char *f, *scan = s;
	size_t fn, i, count = 1, scann = n;
	int left = 1;

	while ((f = memchr(scan, ',', scann)) != NULL) {
		count++;
		scann -= (size_t)(f + 1 - scan);
		scan = f + 1;
	}
	if (count != ncols)
		return fail(p, BT_EFORMAT, p->line, "%zu fields, expected %zu",
			    count, ncols);
	row->line = p->line;
	for (i = 0; i < NVAR; i++) {
		row->val[i] = 0;
		row->sd[i] = NAN;
	}
	for (i = 0; i < ncols; i++) {
		char name[32], q[MAX_QUOTE_LEN + 4];
		const char *problem;
		enum rule rule;
		double x, *dst;
		int kind = cols[i];

		field(&s, &n, &left, &f, &fn);
		column_name(kind, name, sizeof name);
		if (kind == COL_TEMP) {
			dst = &row->temp;
			rule = RULE_FINITE;
		} else if (kind == COL_SOC) {
			dst = &row->soc;
			rule = RULE_SOC;
		} else if (kind < COL_SD) {
			dst = &row->val[kind - COL_VAL];
			rule = var_rules[kind - COL_VAL];
		} else {
			dst = &row->sd[kind - COL_SD];
			rule = RULE_SD;
			if (fn == 0) {
				*dst = NAN;
				continue;
			}
		}
		if (fn == 0)
			return fail(p, BT_EFORMAT, p->line,
				    "missing value in column '%s'", name);
		quote(q, f, fn);
		if (!parse_num(f, fn, &x))
			return fail(p, BT_EFORMAT, p->line,
				    "invalid number '%s' in column '%s'", q, name);
		problem = rule_problem(rule, x);
		if (problem)
			return fail(p, BT_EFORMAT, p->line, "%s '%s' %s", name, q,
				    problem);
		*dst = x;
	}
	return BT_OK;
}

/* Check that the sorted ROWS form a complete rectangular grid; store the
 * number of temperature levels in *NT. */
static enum bt_status
check_grid(struct parser *p, const struct row *rows, size_t nrows, size_t *nt)
{
	char tb[NUM_BUFSIZE], sb[NUM_BUFSIZE], ub[NUM_BUFSIZE];
	size_t i, start, n0 = 0;

	for (i = 1; i < nrows; i++) {
		if (row_cmp(&rows[i - 1], &rows[i]) != 0)
			continue;
		fmt_num(rows[i].temp, tb);
		fmt_num(rows[i].soc, sb);
		return fail(p, BT_EFORMAT,
			    rows[i].line > rows[i - 1].line ? rows[i].line : rows[i - 1].line,
			    "duplicate row for temperature_c '%s', soc '%s' (first on line %zu)",
			    tb, sb,
			    rows[i].line < rows[i - 1].line ? rows[i].line : rows[i - 1].line);
	}
	*nt = 0;
	for (start = 0; start < nrows;) {
		size_t end = start, a, b;

		while (end < nrows && rows[end].temp == rows[start].temp)
			end++;
		fmt_num(rows[start].temp, tb);
		if (end - start < 2)
			return fail(p, BT_EFORMAT, rows[start].line,
				    "temperature_c '%s' has 1 soc point, at least 2 are needed",
				    tb);
		if (*nt == 0) {
			n0 = end;
		} else {
			/* Walk this level beside the first one. */
			fmt_num(rows[0].temp, ub);
			for (a = 0, b = start; a < n0 || b < end;) {
				if (b >= end || (a < n0 && rows[a].soc < rows[b].soc)) {
					fmt_num(rows[a].soc, sb);
					return fail(p, BT_EFORMAT, rows[a].line,
						    "grid is not rectangular: soc '%s' at temperature_c '%s' has no row at temperature_c '%s'",
						    sb, ub, tb);
				}
				if (a >= n0 || rows[b].soc < rows[a].soc) {
					fmt_num(rows[b].soc, sb);
					return fail(p, BT_EFORMAT, rows[b].line,
						    "grid is not rectangular: soc '%s' at temperature_c '%s' has no row at temperature_c '%s'",
						    sb, tb, ub);
				}
				a++;
				b++;
			}
		}
		(*nt)++;
		start = end;
	}
	return BT_OK;
}

/* Parse the table that follows the header; build *ECM from INFO and it. */
static enum bt_status
parse_table(struct parser *p, const struct bt_ecm_info *info,
	    size_t table_line, struct bt_ecm **ecm)
{
	int cols[NCOLKIND];
	struct row *rows = NULL;
	size_t ncols = 0, header_line = 0, nrows = 0, cap = 0, nt = 1, ns, i, k;
	enum bt_status st;
	struct bt_ecm *m;
	char msg[BT_ERRMSG_SIZE];

	st = parse_columns(p, info->rc_pairs, table_line, cols, &ncols,
			   &header_line);
	if (st != BT_OK)
		return st;
	for (;;) {
		const char *s;
		size_t n;
		int r = next_line(p, &s, &n);

		if (r < 0) {
			free(rows);
			return BT_EFORMAT;
		}
		if (r == 0)
			break;
		if (n == 0)
			continue;
		if (nrows == cap) {
			size_t ncap = cap ? 2 * cap : ROWS_INITIAL;
			struct row *nr;

			if (ncap > SIZE_MAX / sizeof *rows ||
			    !(nr = realloc(rows, ncap * sizeof *rows))) {
				free(rows);
				return fail(p, BT_ENOMEM, 0, "out of memory");
			}
			rows = nr;
			cap = ncap;
		}
		st = parse_row(p, s, n, cols, ncols, &rows[nrows]);
		if (st != BT_OK) {
			free(rows);
			return st;
		}
		nrows++;
	}
	if (nrows == 0)
		return fail(p, BT_EFORMAT, header_line, "table has no rows");

	/* Rows may come in any order: sort them by temperature, then soc. */
	qsort(rows, nrows, sizeof *rows, row_cmp);
	st = check_grid(p, rows, nrows, &nt);
	if (st != BT_OK) {
		free(rows);
		return st;
	}
	ns = nrows / nt;
	st = bt_ecm_alloc(info, nt, ns, &m);
	if (st != BT_OK) {
		free(rows);
		return fail(p, st, 0, "%s", bt_strerror(st));
	}
	for (i = 0; i < nrows; i++) {
		struct bt_ecm_point pt;

		pt.temperature_c = rows[i].temp;
		pt.soc = rows[i].soc;
		pt.ocv_v = rows[i].val[V_OCV];
		pt.ocv_v_sd = rows[i].sd[V_OCV];
		pt.r0_ohm = rows[i].val[V_R0];
		pt.r0_ohm_sd = rows[i].sd[V_R0];
		for (k = 0; k < BT_ECM_MAX_RC; k++) {
			pt.r_ohm[k] = rows[i].val[V_R1 + k];
			pt.r_ohm_sd[k] = rows[i].sd[V_R1 + k];
			pt.tau_s[k] = rows[i].val[V_TAU1 + k];
			pt.tau_s_sd[k] = rows[i].sd[V_TAU1 + k];
		}
		bt_ecm_set_point(m, i / ns, i % ns, &pt);
	}
	free(rows);
	st = bt_ecm_finish(m, msg);
	if (st != BT_OK) {
		bt_ecm_free(m);
		return fail(p, BT_EFORMAT, 0, "%s", msg);
	}
	*ecm = m;
	return BT_OK;
}

enum bt_status
bt_ecm_parse(const char *buf, size_t len, const char *name, struct bt_ecm **ecm,
	     char errmsg[BT_ERRMSG_SIZE])
{
	struct parser p = { buf, len, 0, 0, name, errmsg };
	struct bt_ecm_info info;
	enum bt_status st;
	size_t table_line = 0;

	*ecm = NULL;
	if (errmsg)
		errmsg[0] = '\0';
	bt_ecm_info_init(&info);
	st = parse_header(&p, &info, &table_line);
	if (st == BT_OK)
		st = parse_table(&p, &info, table_line, ecm);
	return st;
}

enum bt_status
bt_ecm_load(const char *path, struct bt_ecm **ecm, char errmsg[BT_ERRMSG_SIZE])
{
	FILE *f;
	char *buf = NULL, *nb;
	size_t len = 0, cap = 0, got;
	enum bt_status st;

	*ecm = NULL;
	if (errmsg)
		errmsg[0] = '\0';
	f = fopen(path, "rb");
	if (!f) {
		setmsg(errmsg, path, 0, "%s", strerror(errno));
		return BT_EIO;
	}
	for (;;) {
		if (len == cap) {
			size_t ncap = cap ? 2 * cap : READ_CHUNK;

			if (cap >= (size_t)BT_ECM_MAX_FILE_BYTES + 1) {
				free(buf);
				fclose(f);
				setmsg(errmsg, path, 0,
				       "file is larger than %ld bytes",
				       BT_ECM_MAX_FILE_BYTES);
				return BT_EFORMAT;
			}
			if (ncap > (size_t)BT_ECM_MAX_FILE_BYTES + 1)
				ncap = (size_t)BT_ECM_MAX_FILE_BYTES + 1;
			nb = realloc(buf, ncap);
			if (!nb) {
				free(buf);
				fclose(f);
				setmsg(errmsg, path, 0, "out of memory");
				return BT_ENOMEM;
			}
			buf = nb;
			cap = ncap;
		}
		got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		int e = errno;

		free(buf);
		fclose(f);
		setmsg(errmsg, path, 0, "%s", strerror(e));
		return BT_EIO;
	}
	fclose(f);
	if (len > (size_t)BT_ECM_MAX_FILE_BYTES) {
		free(buf);
		setmsg(errmsg, path, 0, "file is larger than %ld bytes",
		       BT_ECM_MAX_FILE_BYTES);
		return BT_EFORMAT;
	}
	st = bt_ecm_parse(buf, len, path, ecm, errmsg);
	free(buf);
	return st;
}

/* --- The writer ---------------------------------------------------------- */

/* Whether any value of standard deviation column V is known. */
static int
sd_known(const struct bt_ecm *m, size_t v)
{
	size_t i;

	for (i = 0; i < m->nt * m->ns; i++)
		if (!isnan(m->sd[v][i]))
			return 1;
	return 0;
}

static int
put_key(FILE *f, const char *key, double x)
{
	char b[NUM_BUFSIZE];

	fmt_num(x, b);
	return fprintf(f, "%s %s\n", key, b) < 0;
}

static int
write_all(const struct bt_ecm *m, FILE *f)
{
	const struct bt_ecm_info *in = &m->info;
	size_t order[NVAR], nv = 0, k, v, it, is;
	int with_sd[NVAR], bad = 0;

	bad |= fprintf(f, "%s %d\n", MAGIC, BT_ECM_FORMAT_VERSION) < 0;
	bad |= put_key(f, keys[K_CAPACITY].name, in->capacity_ah);
	bad |= fprintf(f, "%s %u\n", keys[K_RC_PAIRS].name, in->rc_pairs) < 0;
	bad |= put_key(f, keys[K_REFERENCE_T].name, in->reference_temperature_c);
	bad |= put_key(f, keys[K_EFFICIENCY].name, in->coulombic_efficiency);
	if (in->has_hysteresis) {
		bad |= put_key(f, keys[K_GAMMA].name, in->hysteresis_gamma);
		bad |= put_key(f, keys[K_M].name, in->hysteresis_m_v);
		bad |= put_key(f, keys[K_M0].name, in->hysteresis_m0_v);
	}
	if (in->has_thermal) {
		bad |= put_key(f, keys[K_THERMAL_C].name, in->thermal_capacity_j_per_k);
		bad |= put_key(f, keys[K_THERMAL_R].name, in->thermal_resistance_k_per_w);
		bad |= put_key(f, keys[K_AMBIENT].name, in->ambient_c);
	}
	bad |= fputs("table\n", f) < 0;

	/* Columns: ocv, r0, then r_k and tau_k pair by pair. */
	order[nv++] = V_OCV;
	order[nv++] = V_R0;
	for (k = 0; k < in->rc_pairs; k++) {
		order[nv++] = V_R1 + k;
		order[nv++] = V_TAU1 + k;
	}
	bad |= fputs("temperature_c,soc", f) < 0;
	for (k = 0; k < nv; k++) {
		v = order[k];
		with_sd[v] = sd_known(m, v);
		bad |= fprintf(f, ",%s", var_names[v]) < 0;
		if (with_sd[v])
			bad |= fprintf(f, ",%s_sd", var_names[v]) < 0;
	}
	bad |= fputc('\n', f) == EOF;
	for (it = 0; it < m->nt; it++) {
		for (is = 0; is < m->ns; is++) {
			size_t i = it * m->ns + is;
			char b1[NUM_BUFSIZE], b2[NUM_BUFSIZE];

			fmt_num(m->temp[it], b1);
			fmt_num(m->soc[is], b2);
			bad |= fprintf(f, "%s,%s", b1, b2) < 0;
			for (k = 0; k < nv; k++) {
				v = order[k];
				fmt_num(m->val[v][i], b1);
				bad |= fprintf(f, ",%s", b1) < 0;
				if (with_sd[v]) {
					fmt_num(m->sd[v][i], b1);
					bad |= fprintf(f, ",%s", b1) < 0;
				}
			}
			bad |= fputc('\n', f) == EOF;
		}
	}
	return bad;
}

enum bt_status
bt_ecm_write(const struct bt_ecm *ecm, FILE *f)
{
	int bad;

	bad = write_all(ecm, f);
	return bad || ferror(f) ? BT_EIO : BT_OK;
}

/* The longest PREFIX bt_ecm_write_c accepts. */
#define C_PREFIX_MAX 64

int
bt_ecm_c_prefix_ok(const char *s)
{
	size_t n;

	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
		return 0;
	for (n = 0; s[n]; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z')
		      || (s[n] >= '0' && s[n] <= '9') || s[n] == '_'))
			return 0;
	return n <= C_PREFIX_MAX;
}

/* Write the NT by NS values A (level-major) as a C initialiser of
 * [NT][NS] elements, or of [NS] elements when NT is 0; returns non-zero on
 * a write error. */
static int
put_c_table(FILE *f, const double *a, size_t nt, size_t ns)
{
	char b[NUM_BUFSIZE];
	size_t it, is, rows = nt ? nt : 1;
	int bad = 0;

	for (it = 0; it < rows; it++) {
		bad |= fputs(nt ? "\t{" : "\t", f) == EOF;
		for (is = 0; is < ns; is++) {
			fmt_num(a[it * ns + is], b);
			bad |= fprintf(f, "%s%s", is ? ", " : "", b) < 0;
		}
		bad |= fprintf(f, "%s%s\n", nt ? "}" : "", it + 1 < rows ? "," : "") < 0;
	}
	return bad;
}

enum bt_status
bt_ecm_write_c(const struct bt_ecm *ecm, FILE *f, const char *prefix)
{
	char up[C_PREFIX_MAX + 1], b[NUM_BUFSIZE];
	size_t i, k, nt = ecm->nt, ns = ecm->ns, n = ecm->info.rc_pairs;
	int bad = 0;

	if (!bt_ecm_c_prefix_ok(prefix))
		return BT_EINVAL;
	for (i = 0; prefix[i]; i++)
		up[i] = (prefix[i] >= 'a' && prefix[i] <= 'z')
			? (char)(prefix[i] - 'a' + 'A') : prefix[i];
	up[i] = 0;
	bad |= fprintf(f, "/* %s.h - cell model lookup tables written by bt-fit "
		       "(bt-ecm(5) format %d).\n"
		       " * Tables are indexed [temperature level][soc point]; "
		       "interpolate them\n"
		       " * bilinearly (the OCV by PCHIP along soc), clamped at the "
		       "edges.\n"
		       " * Current is positive on charge. */\n",
		       prefix, BT_ECM_FORMAT_VERSION) < 0;
	bad |= fprintf(f, "#ifndef %s_LUT_H\n#define %s_LUT_H\n\n", up, up) < 0;
	bad |= fprintf(f, "#ifndef %s_REAL\n#define %s_REAL double\n#endif\n",
		       up, up) < 0;
	/* A file that includes the header need not use every table. */
	bad |= fprintf(f, "#if defined(__GNUC__)\n#define %s_UNUSED __attribute__((unused))\n"
		       "#else\n#define %s_UNUSED\n#endif\n\n", up, up) < 0;
	fmt_num(ecm->info.capacity_ah, b);
	bad |= fprintf(f, "#define %s_CAPACITY_AH %s\n", up, b) < 0;
	fmt_num(ecm->info.coulombic_efficiency, b);
	bad |= fprintf(f, "#define %s_COULOMBIC_EFFICIENCY %s\n", up, b) < 0;
	bad |= fprintf(f, "#define %s_RC_PAIRS %zu\n#define %s_N_TEMPERATURE %zu\n"
		       "#define %s_N_SOC %zu\n\n", up, n, up, nt, up, ns) < 0;
	bad |= fprintf(f, "static const %s_REAL %s_temperature_c[%zu] %s_UNUSED = {\n",
		       up, prefix, nt, up) < 0;
	bad |= put_c_table(f, ecm->temp, 0, nt);
	bad |= fprintf(f, "};\nstatic const %s_REAL %s_soc[%zu] %s_UNUSED = {\n", up,
		       prefix, ns, up) < 0;
	bad |= put_c_table(f, ecm->soc, 0, ns);
	bad |= fputs("};\n", f) == EOF;
	for (i = V_OCV; i <= V_R0; i++) {
		bad |= fprintf(f, "static const %s_REAL %s_%s[%zu][%zu] %s_UNUSED = {\n",
			       up, prefix, var_names[i], nt, ns, up) < 0;
		bad |= put_c_table(f, ecm->val[i], nt, ns);
		bad |= fputs("};\n", f) == EOF;
	}
	for (i = 0; i < 2; i++) {
		const char *name = i ? "tau_s" : "r_ohm";

		bad |= fprintf(f, "static const %s_REAL %s_%s[%zu][%zu][%zu] %s_UNUSED = {\n",
			       up, prefix, name, n, nt, ns, up) < 0;
		for (k = 0; k < n; k++) {
			bad |= fputs("{\n", f) == EOF;
			bad |= put_c_table(f, ecm->val[(i ? V_TAU1 : V_R1) + k],
					   nt, ns);
			bad |= fprintf(f, "}%s\n", k + 1 < n ? "," : "") < 0;
		}
		bad |= fputs("};\n", f) == EOF;
	}
	bad |= fprintf(f, "\n#endif /* %s_LUT_H */\n", up) < 0;
	return bad || ferror(f) ? BT_EIO : BT_OK;
}

/* --- Accessors ----------------------------------------------------------- */

const struct bt_ecm_info *
bt_ecm_info(const struct bt_ecm *ecm)
{
	return &ecm->info;
}

double
bt_ecm_capacity_ah(const struct bt_ecm *ecm)
{
	return ecm->info.capacity_ah;
}

unsigned
bt_ecm_rc_pairs(const struct bt_ecm *ecm)
{
	return ecm->info.rc_pairs;
}

int
bt_ecm_has_hysteresis(const struct bt_ecm *ecm)
{
	return ecm->info.has_hysteresis;
}

int
bt_ecm_has_thermal(const struct bt_ecm *ecm)
{
	return ecm->info.has_thermal;
}

double
bt_ecm_reference_temperature_c(const struct bt_ecm *ecm)
{
	return ecm->info.reference_temperature_c;
}

size_t
bt_ecm_n_temps(const struct bt_ecm *ecm)
{
	return ecm->nt;
}

size_t
bt_ecm_n_soc(const struct bt_ecm *ecm)
{
	return ecm->ns;
}

enum bt_status
bt_ecm_get_point(const struct bt_ecm *ecm, size_t it, size_t is,
		 struct bt_ecm_point *pt)
{
	size_t i, k;

	if (it >= ecm->nt || is >= ecm->ns)
		return BT_EINVAL;
	i = it * ecm->ns + is;
	pt->temperature_c = ecm->ptemp[i];
	pt->soc = ecm->psoc[i];
	pt->ocv_v = ecm->val[V_OCV][i];
	pt->ocv_v_sd = ecm->sd[V_OCV][i];
	pt->r0_ohm = ecm->val[V_R0][i];
	pt->r0_ohm_sd = ecm->sd[V_R0][i];
	for (k = 0; k < BT_ECM_MAX_RC; k++) {
		pt->r_ohm[k] = ecm->val[V_R1 + k][i];
		pt->r_ohm_sd[k] = ecm->sd[V_R1 + k][i];
		pt->tau_s[k] = ecm->val[V_TAU1 + k][i];
		pt->tau_s_sd[k] = ecm->sd[V_TAU1 + k][i];
	}
	return BT_OK;
}

/* --- Interpolation ------------------------------------------------------- */

/* Where V lies on the increasing axis X of N points: between X[J0] and
 * X[J1] at fraction W, dW/dV being DW.  Outside the axis W is clamped to
 * 0 or 1 and DW is 0; a one-point axis gives J0 = J1 = 0.  INV holds
 * 1 / (X[J + 1] - X[J]) for each interval and SCALE is (N - 1) / (X[N-1]
 * - X[0]): the divisions are done once, when the model is finished, and
 * give the same quotients as dividing here. */
struct cell {
	size_t j0, j1;
	double w, dw;
};

static inline __attribute__((always_inline)) struct cell
locate(const double *x, const double *inv, double scale, size_t n, double v)
{
	struct cell c = { 0, 0, 0, 0 };
	size_t lo;
	double g;

	if (n == 1)
		return c;
	c.j1 = 1;
	if (isnan(v)) {
		c.w = c.dw = NAN;
		return c;
	}
	if (v <= x[0])
		return c;
	if (v >= x[n - 1]) {
		c.j0 = n - 2;
		c.j1 = n - 1;
		c.w = 1;
		return c;
	}
	/* Guess the interval as if the points were evenly spaced (they
	 * usually are), then step to the one with x[lo] <= v < x[lo + 1]:
	 * O(1) on an even grid, where the filters call this several times a
	 * row.  The guess only decides where the steps start. */
	g = (v - x[0]) * scale;
	lo = g < (double)(n - 2) ? (size_t)g : n - 2;
	while (lo > 0 && x[lo] > v)
		lo--;
	while (lo < n - 2 && x[lo + 1] <= v)
		lo++;
	c.j0 = lo;
	c.j1 = lo + 1;
	c.dw = inv[lo];
	c.w = (v - x[lo]) * c.dw;
	return c;
}

static inline __attribute__((always_inline)) struct cell
locate_temp(const struct bt_ecm *ecm, double temp_c)
{
	return locate(ecm->temp, ecm->temp_inv, ecm->temp_scale, ecm->nt, temp_c);
}

static inline __attribute__((always_inline)) struct cell
locate_soc(const struct bt_ecm *ecm, double soc)
{
	return locate(ecm->soc, ecm->soc_inv, ecm->soc_scale, ecm->ns, soc);
}

/* Bilinear interpolation of the table A at cells CT (temperature) and CS
 * (soc) of a grid with NS soc points; *D receives the derivative in soc. */
static inline __attribute__((always_inline)) double
bilinear(const double *a, size_t ns, struct cell ct, struct cell cs, double *d)
{
	double a00 = a[ct.j0 * ns + cs.j0], a01 = a[ct.j0 * ns + cs.j1];
	double a10 = a[ct.j1 * ns + cs.j0], a11 = a[ct.j1 * ns + cs.j1];
	double lo = (1 - cs.w) * a00 + cs.w * a01;
	double hi = (1 - cs.w) * a10 + cs.w * a11;

	if (d)
		*d = cs.dw * ((1 - ct.w) * (a01 - a00) + ct.w * (a11 - a10));
	return (1 - ct.w) * lo + ct.w * hi;
}

/* The PCHIP interpolant of (X, Y, slopes D), N points, at V, continued
 * linearly with the end slopes outside [X[0], X[N-1]]; *DY receives its
 * derivative.  On [x0, x1] the cubic Hermite polynomial of [FC80] eq. (1)
 * is evaluated in Horner form in t = (v - x0)/h:
 *     p = y0 + t (h d0 + t (c2 + t c3)),
 *     c2 = 3 (y1 - y0) - h (2 d0 + d1),  c3 = h (d0 + d1) - 2 (y1 - y0),
 * which is exact at x0 and constant on a flat stretch.  Inside the axis,
 * LO is the interval with X[LO] <= V < X[LO + 1]. */
static inline __attribute__((always_inline)) double
pchip_at(const double *x, const double *y, const double *d, size_t n,
	 double v, size_t lo, double *dy)
{
	size_t hi = lo + 1;
	double h, t, dlt, c2, c3;

	if (isnan(v)) {
		*dy = NAN;
		return NAN;
	}
	if (v < x[0]) {
		*dy = d[0];
		return y[0] + d[0] * (v - x[0]);
	}
	if (v >= x[n - 1]) {
		*dy = d[n - 1];
		return y[n - 1] + d[n - 1] * (v - x[n - 1]);
	}
	h = x[hi] - x[lo];
	t = (v - x[lo]) / h;
	dlt = y[hi] - y[lo];
	c2 = 3 * dlt - h * (2 * d[lo] + d[hi]);
	c3 = h * (d[lo] + d[hi]) - 2 * dlt;
	*dy = (h * d[lo] + t * (2 * c2 + 3 * t * c3)) / h;
	return y[lo] + t * (h * d[lo] + t * (c2 + t * c3));
}

/* pchip_at() on an axis X of its own: the interval with X[LO] <= V <
 * X[LO + 1] found by bisection (any other way would find the same one). */
static double
pchip_eval(const double *x, const double *y, const double *d, size_t n,
	   double v, double *dy)
{
	size_t lo = 0, hi = n - 1;

	if (v >= x[0] && v < x[n - 1]) {
		while (hi - lo > 1) {
			size_t mid = lo + (hi - lo) / 2;

			if (x[mid] <= v)
				lo = mid;
			else
				hi = mid;
		}
	}
	return pchip_at(x, y, d, n, v, lo, dy);
}

void
bt_ecm_pchip_slopes(const double *x, const double *y, size_t n, double *d)
{
	pchip_slopes(x, y, n, d);
}

double
bt_ecm_pchip_eval(const double *x, const double *y, const double *d,
		  size_t n, double v, double *dy)
{
	double ignored;

	return pchip_eval(x, y, d, n, v, dy ? dy : &ignored);
}

/* The OCV at SOC, located on the axes at CT and CS, and its derivative. */
static inline __attribute__((always_inline)) double
ocv_at(const struct bt_ecm *ecm, double soc, struct cell ct, struct cell cs,
       double *docv_dsoc)
{
	size_t ns = ecm->ns;
	double d0, d1, y0, y1;

	y0 = pchip_at(ecm->soc, ecm->val[V_OCV] + ct.j0 * ns,
		      ecm->docv + ct.j0 * ns, ns, soc, cs.j0, &d0);
	if (ct.j1 == ct.j0 || ct.w == 0) {
		y1 = y0;
		d1 = d0;
	} else {
		y1 = pchip_at(ecm->soc, ecm->val[V_OCV] + ct.j1 * ns,
			      ecm->docv + ct.j1 * ns, ns, soc, cs.j0, &d1);
	}
	if (docv_dsoc)
		*docv_dsoc = (1 - ct.w) * d0 + ct.w * d1;
	return (1 - ct.w) * y0 + ct.w * y1;
}

double
bt_ecm_ocv(const struct bt_ecm *ecm, double soc, double temp_c,
	   double *docv_dsoc)
{
	return ocv_at(ecm, soc, locate_temp(ecm, temp_c), locate_soc(ecm, soc),
		      docv_dsoc);
}

/* The parameters at the point located at CT and CS in *P and, when DP is
 * not NULL, their derivatives in soc in *DP. */
static inline __attribute__((always_inline)) void
params_at(const struct bt_ecm *ecm, struct cell ct, struct cell cs,
	  struct bt_ecm_params *p, struct bt_ecm_params *dp)
{
	size_t k, ns = ecm->ns;
	double d;

	memset(p, 0, sizeof *p);
	if (dp)
		memset(dp, 0, sizeof *dp);
	p->r0 = bilinear(ecm->val[V_R0], ns, ct, cs, &d);
	if (dp)
		dp->r0 = d;
	for (k = 0; k < ecm->info.rc_pairs; k++) {
		p->r[k] = bilinear(ecm->val[V_R1 + k], ns, ct, cs, &d);
		if (dp)
			dp->r[k] = d;
		p->tau[k] = bilinear(ecm->val[V_TAU1 + k], ns, ct, cs, &d);
		if (dp)
			dp->tau[k] = d;
	}
}

/* The parameters at (SOC, TEMP_C) in *P and, when DP is not NULL, their
 * derivatives in soc in *DP. */
static void
params_eval(const struct bt_ecm *ecm, double soc, double temp_c,
	    struct bt_ecm_params *p, struct bt_ecm_params *dp)
{
	params_at(ecm, locate_temp(ecm, temp_c), locate_soc(ecm, soc), p, dp);
}

double
bt_ecm_r0(const struct bt_ecm *ecm, double soc, double temp_c)
{
	double d;

	return bilinear(ecm->val[V_R0], ecm->ns, locate_temp(ecm, temp_c),
			locate_soc(ecm, soc), &d);
}

void
bt_ecm_soc_cell(const struct bt_ecm *ecm, double soc, size_t *j0, double *w)
{
	struct cell c = locate_soc(ecm, soc);

	*j0 = c.j0;
	*w = c.w;
}

void
bt_ecm_params_at(const struct bt_ecm *ecm, double soc, double temp_c,
		 struct bt_ecm_params *params)
{
	params_eval(ecm, soc, temp_c, params, NULL);
}

void
bt_ecm_params_sd_at(const struct bt_ecm *ecm, double soc, double temp_c,
		    struct bt_ecm_params *sd)
{
	struct cell ct = locate_temp(ecm, temp_c);
	struct cell cs = locate_soc(ecm, soc);
	size_t k, ns = ecm->ns;

	for (k = 0; k < BT_ECM_MAX_RC; k++)
		sd->r[k] = sd->tau[k] = NAN;
	sd->r0 = bilinear(ecm->sd[V_R0], ns, ct, cs, NULL);
	for (k = 0; k < ecm->info.rc_pairs; k++) {
		sd->r[k] = bilinear(ecm->sd[V_R1 + k], ns, ct, cs, NULL);
		sd->tau[k] = bilinear(ecm->sd[V_TAU1 + k], ns, ct, cs, NULL);
	}
}

void
bt_ecm_impedance(const struct bt_ecm_params *p, double freq_hz, double *re,
		 double *im)
{
	double omega = TWO_PI * freq_hz, zr = p->r0, zi = 0;
	size_t k;

	/* R/(1 + j w tau) = R (1 - j w tau) / (1 + (w tau)^2) */
	for (k = 0; k < BT_ECM_MAX_RC; k++) {
		double wt = omega * p->tau[k], den = 1 + wt * wt;

		zr += p->r[k] / den;
		zi -= p->r[k] * wt / den;
	}
	*re = zr;
	*im = zi;
}

/* --- Simulation ---------------------------------------------------------- */

void
bt_ecm_state_init(const struct bt_ecm *ecm, double soc, double temp_c,
		  struct bt_ecm_state *state)
{
	size_t k;

	(void)ecm;
	state->soc = soc;
	for (k = 0; k < BT_ECM_MAX_RC; k++)
		state->v_rc[k] = 0;
	state->h = 0;
	state->s = 0;
	state->temp_c = temp_c;
}

static double
sign(double x)
{
	return x > 0 ? 1 : x < 0 ? -1 : 0;
}

/* The coulombic efficiency that applies to CURRENT_A: eta on charge, 1 on
 * discharge ([Plett15] eq. 2.4, sign flipped for charge-positive current). */
static double
efficiency(const struct bt_ecm *ecm, double current_a)
{
	return current_a > 0 ? ecm->info.coulombic_efficiency : 1;
}

/* The fractions by which the states relax towards their targets in one
 * step of DT_S seconds at CURRENT_A, with the parameters P: 1 - e^(-x),
 * computed as -expm1(-x) so that a short step keeps its digits.  The step
 * and its Jacobian share them (the Jacobian's e^(-x) is 1 minus them). */
struct decay {
	double rc[BT_ECM_MAX_RC];	/* x = dt / tau_k */
	double h;			/* x = |eta i gamma dt / Q| */
};

static inline __attribute__((always_inline)) void
decay_with(const struct bt_ecm *ecm, double current_a, double dt_s,
	   const struct bt_ecm_params *p, struct decay *d)
{
	double i = current_a, q = SECONDS_PER_HOUR * ecm->info.capacity_ah;
	size_t k;

	for (k = 0; k < ecm->info.rc_pairs; k++)
		d->rc[k] = -expm1(-dt_s / p->tau[k]);
	if (ecm->info.has_hysteresis)
		d->h = -expm1(-fabs(efficiency(ecm, i) * i *
				    ecm->info.hysteresis_gamma * dt_s / q));
}

/* One bt_ecm_step() of DT_S seconds at CURRENT_A with the parameters P
 * already evaluated at the state and the decays D made of them; without
 * THERMAL, the temperature is left as it is. */
static inline __attribute__((always_inline)) void
step_with(const struct bt_ecm *ecm, struct bt_ecm_state *st, double current_a,
	  double dt_s, const struct bt_ecm_params *pp, const struct decay *d,
	  int thermal)
{
	struct bt_ecm_params p = *pp;
	double i = current_a, q = SECONDS_PER_HOUR * ecm->info.capacity_ah;
	double eta = efficiency(ecm, i), power = 0;
	size_t k, n = ecm->info.rc_pairs;

	thermal = thermal && ecm->info.has_thermal;
	/* Joule heat in R0 and in each R_k (the current through R_k is
	 * v_k / R_k), from the state at the start of the step; reversible
	 * (entropic) heat is not modelled ([Bernardi85], irreversible term). */
	if (thermal) {
		power = i * i * p.r0;
		for (k = 0; k < n; k++)
			if (p.r[k] > 0)
				power += st->v_rc[k] * st->v_rc[k] / p.r[k];
	}

	/* RC pairs: dv/dt = -v/tau + i/C_k with C_k = tau/R, solved exactly
	 * for constant i over the step ([Plett15] eq. 2.13 with the sign of
	 * i flipped, so that v_k > 0 while charging). */
	for (k = 0; k < n; k++) {
		double a = d->rc[k];	/* 1 - e^(-dt/tau) */

		st->v_rc[k] = (1 - a) * st->v_rc[k] + p.r[k] * a * i;
	}

	/* Hysteresis: dh/dt = -|eta i gamma / Q| (h - sgn(i)), exact for
	 * constant i ([Plett04] eq. (13), with charge-positive current so
	 * that h tends to +1 on charge). */
	if (ecm->info.has_hysteresis)
		st->h = (1 - d->h) * st->h + d->h * sign(i);
	if (i != 0)
		st->s = sign(i);

	/* Lumped thermal model: C dT/dt = P - (T - T_amb)/R_th with P held
	 * constant: T relaxes toward T_amb + P R_th with time constant
	 * C R_th. */
	if (thermal) {
		double rth = ecm->info.thermal_resistance_k_per_w;
		double tinf = ecm->info.ambient_c + power * rth;
		double a = -expm1(-dt_s / (ecm->info.thermal_capacity_j_per_k * rth));

		st->temp_c = tinf + (1 - a) * (st->temp_c - tinf);
	}

	/* Coulomb counting ([Plett15] eq. 2.4, charge positive). */
	st->soc += eta * i * dt_s / q;
}

enum bt_status
bt_ecm_step(const struct bt_ecm *ecm, struct bt_ecm_state *st,
	    double current_a, double dt_s)
{
	struct bt_ecm_params p;
	struct decay d;

	if (!(dt_s >= 0) || !isfinite(dt_s) || !isfinite(current_a))
		return BT_EINVAL;
	params_eval(ecm, st->soc, st->temp_c, &p, NULL);
	decay_with(ecm, current_a, dt_s, &p, &d);
	step_with(ecm, st, current_a, dt_s, &p, &d, 1);
	return BT_OK;
}


/* The terminal voltage at *ST carrying CURRENT_A, with the parameters P
 * and the open-circuit voltage OCV already evaluated at the state. */
static double
voltage_with(const struct bt_ecm *ecm, const struct bt_ecm_state *st,
	     double current_a, const struct bt_ecm_params *p, double ocv)
{
	double v, s = current_a != 0 ? sign(current_a) : st->s;
	size_t k;

	/* [Plett04] eq. (14): the ESC model's output equation. */
	v = ocv + p->r0 * current_a;
	for (k = 0; k < ecm->info.rc_pairs; k++)
		v += st->v_rc[k];
	if (ecm->info.has_hysteresis)
		v += ecm->info.hysteresis_m_v * st->h +
		     ecm->info.hysteresis_m0_v * s;
	return v;
}

double
bt_ecm_voltage(const struct bt_ecm *ecm, const struct bt_ecm_state *st,
	       double current_a)
{
	struct cell ct = locate_temp(ecm, st->temp_c), cs = locate_soc(ecm, st->soc);
	struct bt_ecm_params p;

	params_at(ecm, ct, cs, &p, NULL);
	return voltage_with(ecm, st, current_a, &p,
			    ocv_at(ecm, st->soc, ct, cs, NULL));
}

size_t
bt_ecm_state_dim(const struct bt_ecm *ecm)
{
	return 1 + ecm->info.rc_pairs + (ecm->info.has_hysteresis ? 1 : 0);
}

void
bt_ecm_state_pack(const struct bt_ecm *ecm, const struct bt_ecm_state *st,
		  double *x)
{
	size_t k, n = ecm->info.rc_pairs;

	x[0] = st->soc;
	for (k = 0; k < n; k++)
		x[1 + k] = st->v_rc[k];
	if (ecm->info.has_hysteresis)
		x[1 + n] = st->h;
}

void
bt_ecm_state_unpack(const struct bt_ecm *ecm, const double *x,
		    struct bt_ecm_state *st)
{
	size_t k, n = ecm->info.rc_pairs;

	st->soc = x[0];
	for (k = 0; k < n; k++)
		st->v_rc[k] = x[1 + k];
	if (ecm->info.has_hysteresis)
		st->h = x[1 + n];
}

/* The Jacobians of bt_ecm_jacobian() with the parameters P, their soc
 * derivatives DP and the decays D already evaluated at the state. */
static void
jacobian_with(const struct bt_ecm *ecm, const struct bt_ecm_state *st,
	      double current_a, double dt_s, const struct bt_ecm_params *pp,
	      const struct bt_ecm_params *dpp, const struct decay *d,
	      double *a, double *b)
{
	struct bt_ecm_params p = *pp, dp = *dpp;
	double i = current_a, q = SECONDS_PER_HOUR * ecm->info.capacity_ah;
	double eta = efficiency(ecm, i);
	size_t k, n = ecm->info.rc_pairs, dim = bt_ecm_state_dim(ecm);

	for (k = 0; k < dim * dim; k++)
		a[k] = 0;

	/* soc' = soc + eta i dt / Q */
	a[0] = 1;
	if (b)
		b[0] = eta * dt_s / q;

	/* v_k' = e v_k + R_k (1 - e) i, e = exp(-dt/tau_k(soc)); R_k and
	 * tau_k depend on soc through the table.  1 - e is the decay. */
	for (k = 0; k < n; k++) {
		size_t r = 1 + k;
		double e = 1 - d->rc[k];
		double de_dtau = e * dt_s / (p.tau[k] * p.tau[k]);

		a[r * dim + r] = e;
		a[r * dim + 0] = de_dtau * dp.tau[k] * (st->v_rc[k] - p.r[k] * i) +
				 dp.r[k] * d->rc[k] * i;
		if (b)
			b[r] = p.r[k] * d->rc[k];
	}

	/* h' = e h + (1 - e) sgn(i), e = exp(-|eta i gamma dt / Q|) */
	if (ecm->info.has_hysteresis) {
		size_t r = 1 + n;
		double c = eta * ecm->info.hysteresis_gamma * dt_s / q;
		double e = 1 - d->h;
		double sg = i > 0 ? 1 : -1;	/* discharge side at i = 0 */

		a[r * dim + r] = e;
		if (b)
			b[r] = e * (1 - sg * st->h) * c;
	}
}

enum bt_status
bt_ecm_jacobian(const struct bt_ecm *ecm, const struct bt_ecm_state *st,
		double current_a, double dt_s, double *a, double *b)
{
	struct bt_ecm_params p, dp;
	struct decay d;

	if (!(dt_s >= 0) || !isfinite(dt_s) || !isfinite(current_a))
		return BT_EINVAL;
	params_eval(ecm, st->soc, st->temp_c, &p, &dp);
	decay_with(ecm, current_a, dt_s, &p, &d);
	jacobian_with(ecm, st, current_a, dt_s, &p, &dp, &d, a, b);
	return BT_OK;
}

static inline __attribute__((always_inline)) enum bt_status
step_jacobian(const struct bt_ecm *ecm, struct bt_ecm_state *st,
	      double current_a, double dt_s, double *a, double *b, int thermal)
{
	struct bt_ecm_params p, dp;
	struct decay d;

	if (!(dt_s >= 0) || !isfinite(dt_s) || !isfinite(current_a))
		return BT_EINVAL;
	params_eval(ecm, st->soc, st->temp_c, &p, &dp);
	decay_with(ecm, current_a, dt_s, &p, &d);
	jacobian_with(ecm, st, current_a, dt_s, &p, &dp, &d, a, b);
	step_with(ecm, st, current_a, dt_s, &p, &d, thermal);
	return BT_OK;
}

enum bt_status
bt_ecm_step_jacobian(const struct bt_ecm *ecm, struct bt_ecm_state *st,
		     double current_a, double dt_s, double *a, double *b)
{
	return step_jacobian(ecm, st, current_a, dt_s, a, b, 1);
}

enum bt_status
bt_ecm_step_jacobian_isothermal(const struct bt_ecm *ecm,
				struct bt_ecm_state *st, double current_a,
				double dt_s, double *a, double *b)
{
	return step_jacobian(ecm, st, current_a, dt_s, a, b, 0);
}

/* The output Jacobian of bt_ecm_output_jacobian() from P, DP and DOCV
 * already evaluated at the state. */
static void
output_jacobian_with(const struct bt_ecm *ecm, double current_a,
		     const struct bt_ecm_params *p, const struct bt_ecm_params *dp,
		     double docv, double *c, double *d)
{
	size_t k, n = ecm->info.rc_pairs;

	c[0] = docv + dp->r0 * current_a;
	for (k = 0; k < n; k++)
		c[1 + k] = 1;
	if (ecm->info.has_hysteresis)
		c[1 + n] = ecm->info.hysteresis_m_v;
	if (d)
		*d = p->r0;
}

void
bt_ecm_output_jacobian(const struct bt_ecm *ecm, const struct bt_ecm_state *st,
		       double current_a, double *c, double *d)
{
	struct cell ct = locate_temp(ecm, st->temp_c), cs = locate_soc(ecm, st->soc);
	struct bt_ecm_params p, dp;
	double docv;

	params_at(ecm, ct, cs, &p, &dp);
	ocv_at(ecm, st->soc, ct, cs, &docv);
	output_jacobian_with(ecm, current_a, &p, &dp, docv, c, d);
}

double
bt_ecm_output(const struct bt_ecm *ecm, const struct bt_ecm_state *st,
	      double current_a, double *c, double *d)
{
	struct cell ct = locate_temp(ecm, st->temp_c), cs = locate_soc(ecm, st->soc);
	struct bt_ecm_params p, dp;
	double docv, ocv;

	params_at(ecm, ct, cs, &p, &dp);
	ocv = ocv_at(ecm, st->soc, ct, cs, &docv);
	output_jacobian_with(ecm, current_a, &p, &dp, docv, c, d);
	return voltage_with(ecm, st, current_a, &p, ocv);
}
