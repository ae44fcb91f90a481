/* bt_schema.c - recognise cycler export headers and map them to canonical
 * columns.
 *
 * A header is matched against the signatures of the exports battools reads
 * directly (DESIGN.md §2); the first signature that fits decides the format,
 * and that format's table of column names decides which input field becomes
 * which canonical column, with what unit factor and conversion.  Names are
 * compared after dropping spaces and underscores and lower-casing ASCII
 * letters, so "Test_Time(s)", "Test Time (s)" and "test_time (s)" are one
 * name.  Only columns whose meaning and unit are known are mapped; every
 * other column passes through as text under its own name.
 *
 * Where the layouts come from.  Documented by the vendor or by a published
 * reader, or seen in real files:
 *   - Arbin MITS Pro CSV ("Test_Time(s)", "Charge_Capacity(Ah)", ...) and the
 *     newer spelling ("Test Time (s)", "Current (A)", ...), current positive
 *     on charge (DESIGN.md; the CALCE exports in ../shared/datasets).
 *   - Maccor text exports in two layouts: "Rec#, Cyc#, Step, TestTime (or
 *     Test (Sec)), StepTime, Amp-hr, Watt-hr, Amps, Volts, State, ES, DPt
 *     Time" (MIMS exports as read by TRI's beep and by cellpy) and "Rec,
 *     Cycle P, Cycle C, Step, TestTime, StepTime, Cap. [Ah], Ener. [Wh],
 *     Current [A], Voltage [V], Md, ES, DPT Time" (cellpy's maccor_txt_one).
 *     The current is an unsigned magnitude and the state letter (C, D, R,
 *     ...) gives the direction; TestTime is either seconds or "0d
 *     00:01:30.88".
 *   - Bitrode CSV: the real header of the ORNL Nissan Leaf export, "Exclude,
 *     Time(s),Cycle,Loop,Loop,Loop,Step,StepTime(s),Current(A),Voltage(V),
 *     Power(W),Capacity(Ah),Energy(Wh),Mode,Data," with a signed current
 *     (positive = charge) and a signed Ah counter that resets every step.
 *   - Neware BTSDA CSV ("DataPoint, Cycle Index, Step Index, Step Type, Time,
 *     Total Time, Current(A), ..., Chg. Cap.(Ah), DChg. Cap.(Ah)", as in
 *     cellpy's test data) and the older BTS layout ("Cycle ID, Step ID,
 *     Record ID, Time(h:min:s.ms), Voltage(V), Current(mA), Capacity(mAh),
 *     ..., Capacitance_Chg(mAh), Engy_Chg(mWh)", as read by beep).
 *   - BioLogic EC-Lab .mpt text ("mode, ox/red, ..., time/s, control/V/mA,
 *     Ewe/V, I/mA, dq/mA.h, (Q-Qo)/mA.h, ..., cycle number"), tab-separated,
 *     the header line usually ending in a tab.
 *   - NASA PCoE: the per-record CSV of the Kaggle re-packaging
 *     (Voltage_measured, Current_measured, Temperature_measured,
 *     Current_load or Current_charge, Voltage_load or Voltage_charge, Time)
 *     and the lower-case layout of ../shared/datasets/nasa_pcoe_battery
 *     (battery_id, cycle, test_id, time_s, voltage_v, current_a,
 *     temperature_c, current_load_a, voltage_load_v); Current_measured is
 *     negative on discharge.
 *   - Battery Archive time series (Date_Time, Test_Time (s), Cycle_Index,
 *     Current (A), Voltage (V), Charge_/Discharge_Capacity (Ah), Charge_/
 *     Discharge_Energy (Wh), Environment_Temperature (C), Cell_Temperature
 *     (C)).
 * Assumptions, not documented anywhere we could check:
 *   - Neware current is signed as logged (negative on discharge), which is
 *     what BTSDA exports and the files above show; an export with unsigned
 *     current and the direction only in "Step Type" comes out wrong and
 *     needs its sign fixed by hand.  A header alone cannot tell the two
 *     apart, and a signed drive-cycle step ("SIM") could not be signed from
 *     its step type at all.
 *   - Neware "Time" and "Relative Time(h:min:s.ms)" / "Time(h:min:s.ms)" are
 *     the time within the step (they restart at every step in the files
 *     above), so they are not time_s; only "Total Time" (or "Cumulative
 *     Time") is.  Use --map time_s=... when an export has no total time.
 *   - Maccor "Cyc#" and "Cycle P" (the procedure's cycle count) are the
 *     cycle; "Cycle C" passes through.  Maccor "Temp 1" is in °C (Maccor's
 *     default for auxiliary temperatures; the export does not say).
 *   - BioLogic current is positive for oxidation at the working electrode
 *     (EC-Lab's convention), which for a cell with the working electrode on
 *     the positive side is charging; a half cell with the working electrode
 *     on the negative side needs --discharge-positive.  Voltage is taken
 *     from Ecell/V, else Ewe-Ece/V (cell voltage in a three-electrode set-
 *     up), else Ewe/V, else <Ewe>/V; "Ns" (the sequence number) is the step.
 *   - Battery Archive current is positive on charge, as in the Arbin data it
 *     is converted from.
 *
 * capacity_ah and energy_wh are the cycler's own Ah and Wh counters as
 * logged: signed and reset every step for Bitrode, unsigned and reset every
 * step for Maccor and Neware, net charge since the start ((Q-Qo)) for
 * BioLogic.  Separate charge and discharge counters map to
 * charge_capacity_ah, discharge_capacity_ah, charge_energy_wh and
 * discharge_energy_wh; no signed capacity is invented from them.
 *
 * Nothing here looks at data rows: bt_stream applies the schema.  Only
 * bt_schema_detect and bt_schema_parse_map allocate.
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bt_num.h"
#include "bt_schema.h"

/* ------------------------------------------------------------------ */
/* Targets and formats */

/* Output targets in output order: the canonical columns of DESIGN.md §2,
 * then the separate charge and discharge counters.  T_STATE is the Maccor
 * state column: it signs the current and is not an output of its own. */
enum target {
	T_TIME, T_CURRENT, T_VOLTAGE, T_TEMPERATURE, T_CYCLE, T_STEP,
	T_CAPACITY, T_ENERGY, T_SOC, T_SOH,
	T_CHARGE_CAP, T_DISCHARGE_CAP, T_CHARGE_EN, T_DISCHARGE_EN,
	NOUT,
	T_STATE = NOUT,
	NTARGETS
};

static const char *const target_name[NOUT] = {
	"time_s", "current_a", "voltage_v", "temperature_c", "cycle", "step",
	"capacity_ah", "energy_wh", "soc", "soh",
	"charge_capacity_ah", "discharge_capacity_ah", "charge_energy_wh",
	"discharge_energy_wh"
};

enum format {
	F_CANONICAL, F_ARBIN, F_MACCOR, F_BITRODE, F_NEWARE, F_BIOLOGIC,
	F_NASA, F_BATTERYARCHIVE, F_GENERIC
};

static const char *const format_name[] = {
	"canonical", "arbin", "maccor", "bitrode", "neware", "biologic",
	"nasa", "batteryarchive", "generic"
};

/* ------------------------------------------------------------------ */
/* Column-name rules */

/* One known column name of a format: its normalised spelling (see key_eq),
 * the target, how its text becomes a value, the unit factor, and a rank
 * (lower is preferred when several columns offer the same target). */
struct rule {
	const char *key;
	enum target target;
	enum bt_conv conv;
	double scale;
	int rank;
};

#define NUM BT_CONV_NUMBER
#define DUR BT_CONV_DURATION
#define SGN BT_CONV_STATE_SIGN

/* Arbin MITS Pro, both spellings (spaces and underscores do not count), and
 * Battery Archive, which uses the same names. */
static const struct rule arbin_rules[] = {
	{"testtime(s)", T_TIME, NUM, 1.0, 0},
	{"cycleindex", T_CYCLE, NUM, 1.0, 0},
	{"stepindex", T_STEP, NUM, 1.0, 0},
	{"current(a)", T_CURRENT, NUM, 1.0, 0},
	{"voltage(v)", T_VOLTAGE, NUM, 1.0, 0},
	{"chargecapacity(ah)", T_CHARGE_CAP, NUM, 1.0, 0},
	{"dischargecapacity(ah)", T_DISCHARGE_CAP, NUM, 1.0, 0},
	{"chargeenergy(wh)", T_CHARGE_EN, NUM, 1.0, 0},
	{"dischargeenergy(wh)", T_DISCHARGE_EN, NUM, 1.0, 0},
	{NULL, 0, 0, 0.0, 0}
};

static const struct rule maccor_rules[] = {
	{"testtime", T_TIME, DUR, 1.0, 0},
	{"test(sec)", T_TIME, DUR, 1.0, 0},
	{"testtime(sec)", T_TIME, DUR, 1.0, 0},
	{"testtime(s)", T_TIME, DUR, 1.0, 0},
	{"cyc#", T_CYCLE, NUM, 1.0, 0},
	{"cyclep", T_CYCLE, NUM, 1.0, 0},
	{"cycle", T_CYCLE, NUM, 1.0, 1},
	{"step", T_STEP, NUM, 1.0, 0},
	{"amps", T_CURRENT, SGN, 1.0, 0},
	{"current[a]", T_CURRENT, SGN, 1.0, 0},
	{"current(a)", T_CURRENT, SGN, 1.0, 0},
	{"volts", T_VOLTAGE, NUM, 1.0, 0},
	{"voltage[v]", T_VOLTAGE, NUM, 1.0, 0},
	{"voltage(v)", T_VOLTAGE, NUM, 1.0, 0},
	{"amp-hr", T_CAPACITY, NUM, 1.0, 0},
	{"cap.[ah]", T_CAPACITY, NUM, 1.0, 0},
	{"capacity(ahr)", T_CAPACITY, NUM, 1.0, 0},
	{"capacity(ah)", T_CAPACITY, NUM, 1.0, 0},
	{"watt-hr", T_ENERGY, NUM, 1.0, 0},
	{"ener.[wh]", T_ENERGY, NUM, 1.0, 0},
	{"energy(whr)", T_ENERGY, NUM, 1.0, 0},
	{"energy(wh)", T_ENERGY, NUM, 1.0, 0},
	{"temp1", T_TEMPERATURE, NUM, 1.0, 0},
	{"state", T_STATE, BT_CONV_TEXT, 1.0, 0},
	{"md", T_STATE, BT_CONV_TEXT, 1.0, 0},
	{NULL, 0, 0, 0.0, 0}
};

static const struct rule bitrode_rules[] = {
	{"time(s)", T_TIME, NUM, 1.0, 0},
	{"totaltime(s)", T_TIME, NUM, 1.0, 0},
	{"totaltime", T_TIME, DUR, 1.0, 1},
	{"cycle", T_CYCLE, NUM, 1.0, 0},
	{"step", T_STEP, NUM, 1.0, 0},
	{"current(a)", T_CURRENT, NUM, 1.0, 0},
	{"voltage(v)", T_VOLTAGE, NUM, 1.0, 0},
	{"capacity(ah)", T_CAPACITY, NUM, 1.0, 0},
	{"energy(wh)", T_ENERGY, NUM, 1.0, 0},
	{NULL, 0, 0, 0.0, 0}
};

static const struct rule neware_rules[] = {
	{"totaltime", T_TIME, DUR, 1.0, 0},
	{"totaltime(h:min:s.ms)", T_TIME, DUR, 1.0, 0},
	{"cumulativetime", T_TIME, DUR, 1.0, 1},
	{"cycleindex", T_CYCLE, NUM, 1.0, 0},
	{"cycleid", T_CYCLE, NUM, 1.0, 0},
	{"stepindex", T_STEP, NUM, 1.0, 0},
	{"stepid", T_STEP, NUM, 1.0, 0},
	{"current(ma)", T_CURRENT, NUM, 0.001, 0},
	{"current(a)", T_CURRENT, NUM, 1.0, 0},
	{"cur(ma)", T_CURRENT, NUM, 0.001, 0},
	{"voltage(v)", T_VOLTAGE, NUM, 1.0, 0},
	{"voltage(mv)", T_VOLTAGE, NUM, 0.001, 0},
	{"capacity(mah)", T_CAPACITY, NUM, 0.001, 0},
	{"capacity(ah)", T_CAPACITY, NUM, 1.0, 0},
	{"energy(mwh)", T_ENERGY, NUM, 0.001, 0},
	{"energy(wh)", T_ENERGY, NUM, 1.0, 0},
	{"chg.cap.(mah)", T_CHARGE_CAP, NUM, 0.001, 0},
	{"chg.cap.(ah)", T_CHARGE_CAP, NUM, 1.0, 0},
	{"capacitancechg(mah)", T_CHARGE_CAP, NUM, 0.001, 0},
	{"dchg.cap.(mah)", T_DISCHARGE_CAP, NUM, 0.001, 0},
	{"dchg.cap.(ah)", T_DISCHARGE_CAP, NUM, 1.0, 0},
	{"capacitancedchg(mah)", T_DISCHARGE_CAP, NUM, 0.001, 0},
	{"chg.energy(mwh)", T_CHARGE_EN, NUM, 0.001, 0},
	{"chg.energy(wh)", T_CHARGE_EN, NUM, 1.0, 0},
	{"engychg(mwh)", T_CHARGE_EN, NUM, 0.001, 0},
	{"dchg.energy(mwh)", T_DISCHARGE_EN, NUM, 0.001, 0},
	{"dchg.energy(wh)", T_DISCHARGE_EN, NUM, 1.0, 0},
	{"engydchg(mwh)", T_DISCHARGE_EN, NUM, 0.001, 0},
	{NULL, 0, 0, 0.0, 0}
};

static const struct rule biologic_rules[] = {
	{"time/s", T_TIME, NUM, 1.0, 0},
	{"ecell/v", T_VOLTAGE, NUM, 1.0, 0},
	{"ewe-ece/v", T_VOLTAGE, NUM, 1.0, 1},
	{"ewe/v", T_VOLTAGE, NUM, 1.0, 2},
	{"<ewe>/v", T_VOLTAGE, NUM, 1.0, 3},
	{"i/ma", T_CURRENT, NUM, 0.001, 0},
	{"i/a", T_CURRENT, NUM, 1.0, 0},
	{"<i>/ma", T_CURRENT, NUM, 0.001, 1},
	{"<i>/a", T_CURRENT, NUM, 1.0, 1},
	{"(q-qo)/ma.h", T_CAPACITY, NUM, 0.001, 0},
	{"(q-qo)/a.h", T_CAPACITY, NUM, 1.0, 0},
	{"qcharge/ma.h", T_CHARGE_CAP, NUM, 0.001, 0},
	{"qdischarge/ma.h", T_DISCHARGE_CAP, NUM, 0.001, 0},
	{"energy/w.h", T_ENERGY, NUM, 1.0, 0},
	{"energycharge/w.h", T_CHARGE_EN, NUM, 1.0, 0},
	{"energydischarge/w.h", T_DISCHARGE_EN, NUM, 1.0, 0},
	{"cyclenumber", T_CYCLE, NUM, 1.0, 0},
	{"ns", T_STEP, NUM, 1.0, 0},
	{NULL, 0, 0, 0.0, 0}
};

/* The original NASA names; the lower-case layout uses canonical names. */
static const struct rule nasa_rules[] = {
	{"time", T_TIME, NUM, 1.0, 0},
	{"voltagemeasured", T_VOLTAGE, NUM, 1.0, 0},
	{"currentmeasured", T_CURRENT, NUM, 1.0, 0},
	{"temperaturemeasured", T_TEMPERATURE, NUM, 1.0, 0},
	{NULL, 0, 0, 0.0, 0}
};

#undef NUM
#undef DUR
#undef SGN

/* ------------------------------------------------------------------ */
/* Name helpers */

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* Whether the LEN bytes at S spell KEY once spaces and underscores are
 * dropped and ASCII letters lower-cased (KEY is written that way). */
static int
key_eq(const char *s, size_t len, const char *key)
{
	size_t i;
	int c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c == ' ' || c == '_')
			continue;
		if (*key == '\0' || (unsigned char)*key != lower(c))
			return 0;
		key++;
	}
	return *key == '\0';
}

/* Normalise the LEN bytes at S like key_eq into OUT (SIZE bytes, not
 * NUL-terminated).  Returns the length, or SIZE when it does not fit. */
static size_t
normalise(const char *s, size_t len, char *out, size_t size)
{
	size_t i, k = 0;
	int c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c == ' ' || c == '_')
			continue;
		if (k == size)
			return size;
		out[k++] = (char)lower(c);
	}
	return k;
}

/* Whether the LEN bytes at S equal KEY ignoring ASCII case. */
static int
ieq(const char *s, size_t len, const char *key)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (key[i] == '\0' || lower((unsigned char)s[i])
				      != lower((unsigned char)key[i]))
			return 0;
	return key[len] == '\0';
}

static int
contains(const char *s, size_t len, const char *word)
{
	size_t n = strlen(word), i;

	for (i = 0; i + n <= len; i++)
		if (memcmp(s + i, word, n) == 0)
			return 1;
	return 0;
}

static int
is_blank(int c)
{
	return c == ' ' || c == '\t';
}

static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* A header name split into a quantity name and a unit. */
struct named {
	const char *name;
	size_t nlen;
	const char *unit;	/* NULL when the name carries no unit */
	size_t ulen;
};

static void
trim(const char **s, size_t *len)
{
	while (*len > 0 && is_blank((unsigned char)**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && is_blank((unsigned char)(*s)[*len - 1]))
		(*len)--;
}

/* Split a header name written "name(unit)", "name (unit)", "name [unit]" or
 * "name/unit" (the last '/' splits, as in BioLogic's "Q charge/discharge/
 * mA.h").  Arbin's "Aux_Temperature(°)_1" form, with the channel number
 * after the unit, counts as "Aux_Temperature(°)". */
static void
split_unit(const char *s, size_t len, struct named *out)
{
	size_t i, k;
	char open = 0;

	trim(&s, &len);
	out->name = s;
	out->nlen = len;
	out->unit = NULL;
	out->ulen = 0;
	i = len;
	while (i > 0 && is_digit((unsigned char)s[i - 1]))
		i--;
	if (i < len && i >= 2 && s[i - 1] == '_'
	    && (s[i - 2] == ')' || s[i - 2] == ']'))
		len = i - 1;
	if (len == 0)
		return;
	if (s[len - 1] == ')')
		open = '(';
	else if (s[len - 1] == ']')
		open = '[';
	if (open) {
		for (k = len - 1; k > 0; k--)
			if (s[k - 1] == open)
				break;
		if (k == 0)
			return;
		out->unit = s + k;
		out->ulen = len - 1 - k;
		out->nlen = k - 1;
	} else {
		for (k = len; k > 0; k--)
			if (s[k - 1] == '/')
				break;
		if (k <= 1 || k == len)
			return;
		out->unit = s + k;
		out->ulen = len - k;
		out->nlen = k - 1;
	}
	trim(&out->name, &out->nlen);
	trim(&out->unit, &out->ulen);
}

/* Whether UNIT names degrees Celsius: C, °C, degC, ℃, or a bare degree sign
 * (Arbin's "Aux_Temperature(°)_1"), in UTF-8 or Latin-1. */
static int
is_celsius(const char *u, size_t n)
{
	static const char *const names[] = {
		"c", "\xc2\xb0" "c", "\xb0" "c", "\xe2\x84\x83", "degc", "deg c",
		"deg.c", "\xc2\xb0", "\xb0", "celsius", NULL
	};
	size_t i;

	if (u == NULL)
		return 0;
	for (i = 0; names[i] != NULL; i++)
		if (ieq(u, n, names[i]))
			return 1;
	return 0;
}

/* Size of the buffer names are normalised into for word searches; longer
 * names are never temperature or generic quantity names. */
#define NAME_BUF 128

/* The rank of field S as a temperature in °C, or -1 when it is not one.
 * Cell temperatures (rank 0) are preferred to chamber or ambient ones (rank
 * 1), so that Battery Archive's Cell_Temperature wins over its
 * Environment_Temperature; among equals the first column wins. */
static int
temperature_rank(const char *s, size_t len)
{
	struct named u;
	char key[NAME_BUF];
	size_t k, i;

	split_unit(s, len, &u);
	if (!is_celsius(u.unit, u.ulen))
		return -1;
	k = normalise(u.name, u.nlen, key, sizeof key);
	if (k == 0 || k == sizeof key)
		return -1;
	if (!contains(key, k, "temp")) {
		/* Neware's thermocouple channels: T1, T2, ... */
		if (key[0] != 't')
			return -1;
		for (i = 1; i < k; i++)
			if (!is_digit((unsigned char)key[i]))
				return -1;
	}
	if (contains(key, k, "environment") || contains(key, k, "ambient")
	    || contains(key, k, "chamber"))
		return 1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* The generic fallback: "name(unit)" for the canonical quantities */

struct unit {
	const char *name;	/* lower case */
	double scale;
};

static const struct unit time_units[] = {
	{"s", 1.0}, {"sec", 1.0}, {"secs", 1.0}, {"second", 1.0},
	{"seconds", 1.0}, {"ms", 0.001}, {"min", 60.0}, {"mins", 60.0},
	{"minute", 60.0}, {"minutes", 60.0}, {"h", 3600.0}, {"hr", 3600.0},
	{"hrs", 3600.0}, {"hour", 3600.0}, {"hours", 3600.0}, {NULL, 0.0}
};
static const struct unit clock_units[] = {
	{"h:min:s.ms", 1.0}, {"h:min:s", 1.0}, {"hh:mm:ss", 1.0},
	{"hh:mm:ss.sss", 1.0}, {"hh:mm:ss.fff", 1.0}, {NULL, 0.0}
};
static const struct unit current_units[] = {
	{"a", 1.0}, {"amp", 1.0}, {"amps", 1.0}, {"ma", 0.001},
	{"ua", 1e-6}, {"\xc2\xb5" "a", 1e-6}, {"\xce\xbc" "a", 1e-6},
	{NULL, 0.0}
};
static const struct unit voltage_units[] = {
	{"v", 1.0}, {"volt", 1.0}, {"volts", 1.0}, {"mv", 0.001}, {NULL, 0.0}
};
static const struct unit capacity_units[] = {
	{"ah", 1.0}, {"a.h", 1.0}, {"ahr", 1.0}, {"mah", 0.001},
	{"ma.h", 0.001}, {"mahr", 0.001}, {NULL, 0.0}
};
static const struct unit energy_units[] = {
	{"wh", 1.0}, {"w.h", 1.0}, {"whr", 1.0}, {"mwh", 0.001},
	{"mw.h", 0.001}, {"mwhr", 0.001}, {"kwh", 1000.0}, {NULL, 0.0}
};

/* The quantity names the fallback knows, normalised, and their units. */
struct quantity {
	const char *const *names;
	enum target target;
	const struct unit *units;
};

static const char *const time_names[] = {
	"time", "testtime", "totaltime", "runtime", "elapsedtime", NULL
};
static const char *const current_names[] = {"current", "i", "cur", NULL};
static const char *const voltage_names[] = {
	"voltage", "potential", "ecell", "cellvoltage", "u", "e", NULL
};
static const char *const capacity_names[] = {"capacity", "cap", NULL};
static const char *const energy_names[] = {"energy", NULL};
static const char *const chgcap_names[] = {"chargecapacity", NULL};
static const char *const dchgcap_names[] = {"dischargecapacity", NULL};
static const char *const chgen_names[] = {"chargeenergy", NULL};
static const char *const dchgen_names[] = {"dischargeenergy", NULL};
static const char *const cycle_names[] = {
	"cycle", "cycleindex", "cyclenumber", "cycleno.", "cycle#", NULL
};
static const char *const step_names[] = {
	"step", "stepindex", "stepnumber", "stepno.", "step#", NULL
};

static const struct quantity quantities[] = {
	{time_names, T_TIME, time_units},
	{current_names, T_CURRENT, current_units},
	{voltage_names, T_VOLTAGE, voltage_units},
	{capacity_names, T_CAPACITY, capacity_units},
	{energy_names, T_ENERGY, energy_units},
	{chgcap_names, T_CHARGE_CAP, capacity_units},
	{dchgcap_names, T_DISCHARGE_CAP, capacity_units},
	{chgen_names, T_CHARGE_EN, energy_units},
	{dchgen_names, T_DISCHARGE_EN, energy_units},
	{cycle_names, T_CYCLE, NULL},
	{step_names, T_STEP, NULL},
	{NULL, 0, NULL}
};

static int
find_unit(const struct unit *units, const char *u, size_t n, double *scale)
{
	for (; units->name != NULL; units++)
		if (ieq(u, n, units->name)) {
			*scale = units->scale;
			return 1;
		}
	return 0;
}

/* A candidate mapping of one field. */
struct cand {
	enum target target;
	enum bt_conv conv;
	double scale;
	int rank;
};

/* Recognise field S as a canonical quantity with a unit that says exactly
 * what it is ("Current (mA)", "Voltage [V]", "time/h"), or as a bare cycle
 * or step counter.  Returns 1 and fills *C, or 0. */
static int
generic_rule(const char *s, size_t len, struct cand *c)
{
	struct named u;
	char key[NAME_BUF];
	size_t k, q, j;
	double scale;

	split_unit(s, len, &u);
	k = normalise(u.name, u.nlen, key, sizeof key);
	if (k == 0 || k == sizeof key)
		return 0;
	for (q = 0; quantities[q].names != NULL; q++) {
		for (j = 0; quantities[q].names[j] != NULL; j++)
			if (k == strlen(quantities[q].names[j])
			    && memcmp(key, quantities[q].names[j], k) == 0)
				break;
		if (quantities[q].names[j] == NULL)
			continue;
		c->target = quantities[q].target;
		c->rank = 0;
		c->conv = BT_CONV_NUMBER;
		if (quantities[q].units == NULL) {
			/* Counters: only a bare name, no unit. */
			if (u.unit != NULL)
				return 0;
			c->scale = 1.0;
			return 1;
		}
		if (u.unit == NULL)
			return 0;
		if (find_unit(quantities[q].units, u.unit, u.ulen, &scale)) {
			c->scale = scale;
			return 1;
		}
		if (c->target == T_TIME
		    && find_unit(clock_units, u.unit, u.ulen, &scale)) {
			c->conv = BT_CONV_DURATION;
			c->scale = scale;
			return 1;
		}
		return 0;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Format signatures */

/* Number of the normalised KEYS that name some field of the header. */
static size_t
count_keys(const char *const *fields, const size_t *lens, size_t n,
	   const char *const *keys)
{
	size_t count = 0, i;

	for (; *keys != NULL; keys++)
		for (i = 0; i < n; i++)
			if (key_eq(fields[i], lens[i], *keys)) {
				count++;
				break;
			}
	return count;
}

static int
key_present(const char *const *fields, const size_t *lens, size_t n,
	    const char *key)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (key_eq(fields[i], lens[i], key))
			return 1;
	return 0;
}

static int
has_exact(const char *const *fields, const size_t *lens, size_t n,
	  const char *name)
{
	size_t i, len = strlen(name);

	for (i = 0; i < n; i++)
		if (lens[i] == len && memcmp(fields[i], name, len) == 0)
			return 1;
	return 0;
}

/* Number of canonical column names (other than the bare words "cycle" and
 * "step", which cycler exports use too) that the header spells exactly. */
static size_t
count_canonical(const char *const *fields, const size_t *lens, size_t n)
{
	size_t count = 0, t;

	for (t = 0; t < NOUT; t++)
		if (t != T_CYCLE && t != T_STEP
		    && has_exact(fields, lens, n, target_name[t]))
			count++;
	return count;
}

static const char *const sig_biologic[] = {
	"mode", "ox/red", "error", "controlchanges", "nschanges", "ns",
	"time/s", "control/v/ma", "control/v", "control/ma", "ewe/v",
	"<ewe>/v", "ecell/v", "ewe-ece/v", "ece/v", "i/ma", "<i>/ma", "i/a",
	"dq/ma.h", "(q-qo)/ma.h", "qcharge/discharge/ma.h", "halfcycle",
	"cyclenumber", NULL
};
static const char *const strong_biologic[] = {
	"ox/red", "control/v/ma", "ewe/v", "<ewe>/v", "ecell/v", "ewe-ece/v",
	"(q-qo)/ma.h", "qcharge/discharge/ma.h", NULL
};
static const char *const sig_maccor[] = {
	"rec#", "rec", "cyc#", "cyclep", "cyclec", "step", "testtime",
	"steptime", "test(sec)", "step(sec)", "testtime(sec)",
	"steptime(sec)", "amp-hr", "watt-hr", "amps", "volts", "cap.[ah]",
	"ener.[wh]", "current[a]", "voltage[v]", "capacity(ahr)",
	"energy(whr)", "md", "state", "es", "dpttime", "acimp/ohms",
	"dcir/ohms", NULL
};
static const char *const strong_maccor[] = {
	"rec#", "cyc#", "cyclep", "cyclec", "amp-hr", "watt-hr", "cap.[ah]",
	"ener.[wh]", "capacity(ahr)", "energy(whr)", "md", "dpttime",
	"acimp/ohms", "dcir/ohms", NULL
};
static const char *const sig_bitrode[] = {
	"exclude", "time(s)", "totaltime", "totaltime(s)", "cycle", "loop",
	"step", "steptime(s)", "steptime", "current(a)", "voltage(v)",
	"power(w)", "capacity(ah)", "energy(wh)", "mode", "data", NULL
};
static const char *const strong_bitrode[] = {"exclude", "loop", NULL};
static const char *const sig_neware[] = {
	"datapoint", "recordid", "recordindex", "cycleindex", "cycleid",
	"stepindex", "stepid", "steptype", "stepname", "time", "totaltime",
	"cumulativetime", "relativetime(h:min:s.ms)", "time(h:min:s.ms)",
	"realtime", "date", "current(ma)", "current(a)", "cur(ma)",
	"voltage(v)", "capacity(mah)", "capacity(ah)", "energy(mwh)",
	"energy(wh)", "chg.cap.(mah)", "dchg.cap.(mah)", "chg.cap.(ah)",
	"dchg.cap.(ah)", "capacitancechg(mah)", "capacitancedchg(mah)",
	"chg.energy(mwh)", "dchg.energy(mwh)", "chg.energy(wh)",
	"dchg.energy(wh)", "engychg(mwh)", "engydchg(mwh)", "power(w)",
	"power(mw)", NULL
};
static const char *const strong_neware[] = {
	"steptype", "stepname", "cycleid", "stepid", "recordid", "realtime",
	"cumulativetime", "relativetime(h:min:s.ms)", "time(h:min:s.ms)",
	"chg.cap.(mah)", "dchg.cap.(mah)", "chg.cap.(ah)", "dchg.cap.(ah)",
	"capacitancechg(mah)", "capacitancedchg(mah)", "engychg(mwh)",
	"engydchg(mwh)", NULL
};
static const char *const sig_nasa[] = {
	"voltagemeasured", "currentmeasured", "temperaturemeasured", NULL
};
static const char *const sig_batteryarchive[] = {
	"environmenttemperature(c)", "celltemperature(c)", NULL
};
static const char *const not_batteryarchive[] = {
	"stepindex", "datapoint", NULL
};
static const char *const sig_arbin[] = {
	"datapoint", "datetime", "testtime(s)", "steptime(s)", "stepindex",
	"cycleindex", "current(a)", "voltage(v)", "chargecapacity(ah)",
	"dischargecapacity(ah)", "chargeenergy(wh)", "dischargeenergy(wh)",
	"dv/dt(v/s)", "internalresistance(ohm)", "acr(ohm)", "power(w)", NULL
};
static const char *const strong_arbin[] = {
	"testtime(s)", "chargecapacity(ah)", "dischargecapacity(ah)", NULL
};

/* Decide the format of a header of N fields (no trailing empty one).  The
 * order matters: a canonical stream that still carries the pass-through
 * columns of a cycler export ("Rec#", "State", ...) must stay canonical, and
 * Neware's "Cycle Index"/"Step Index" must not make it Arbin. */
static enum format
classify(const char *const *fields, const size_t *lens, size_t n)
{
#define COUNT(list) count_keys(fields, lens, n, (list))
	size_t canon = count_canonical(fields, lens, n);

	if (canon >= 1 && (has_exact(fields, lens, n, "current_load_a")
			   || has_exact(fields, lens, n, "voltage_load_v")))
		return F_NASA;
	if (canon >= 2)
		return F_CANONICAL;
	if (COUNT(sig_biologic) >= 3 && COUNT(strong_biologic) >= 1)
		return F_BIOLOGIC;
	if (COUNT(sig_maccor) >= 3 && COUNT(strong_maccor) >= 1)
		return F_MACCOR;
	if (COUNT(sig_bitrode) >= 3 && COUNT(strong_bitrode) >= 1)
		return F_BITRODE;
	if (COUNT(sig_neware) >= 3 && COUNT(strong_neware) >= 1)
		return F_NEWARE;
	if (COUNT(sig_nasa) >= 2)
		return F_NASA;
	if (COUNT(sig_batteryarchive) >= 1 && key_present(fields, lens, n,
							  "testtime(s)")
	    && COUNT(not_batteryarchive) == 0)
		return F_BATTERYARCHIVE;
	if (COUNT(sig_arbin) >= 3 && COUNT(strong_arbin) >= 1)
		return F_ARBIN;
	if (canon >= 1)
		return F_CANONICAL;
	return F_GENERIC;
#undef COUNT
}

/* ------------------------------------------------------------------ */
/* Mapping the fields of a header */

static const struct rule *
format_rules(enum format f)
{
	switch (f) {
	case F_ARBIN:
	case F_BATTERYARCHIVE:
		return arbin_rules;
	case F_MACCOR:
		return maccor_rules;
	case F_BITRODE:
		return bitrode_rules;
	case F_NEWARE:
		return neware_rules;
	case F_BIOLOGIC:
		return biologic_rules;
	case F_NASA:
		return nasa_rules;
	case F_CANONICAL:
	case F_GENERIC:
	default:
		return NULL;
	}
}

/* The index of the target called NAME, or NOUT when it is none. */
static size_t
target_of(const char *name, size_t len)
{
	size_t t;

	for (t = 0; t < NOUT; t++)
		if (strlen(target_name[t]) == len
		    && memcmp(target_name[t], name, len) == 0)
			break;
	return t;
}

/* The automatic mapping of field S under format F.  Returns 1 and fills *C,
 * or 0 for a column that passes through. */
static int
field_rule(enum format f, const char *s, size_t len, struct cand *c)
{
	const struct rule *r;
	size_t t;
	int rank;

	if (f == F_CANONICAL || f == F_NASA) {
		/* Canonical names are exact: "Time_S" is somebody else's. */
		t = target_of(s, len);
		if (t < NOUT) {
			c->target = (enum target)t;
			c->conv = BT_CONV_NUMBER;
			c->scale = 1.0;
			c->rank = 0;
			return 1;
		}
		if (f == F_CANONICAL)
			return 0;
	}
	for (r = format_rules(f); r != NULL && r->key != NULL; r++)
		if (key_eq(s, len, r->key)) {
			c->target = r->target;
			c->conv = r->conv;
			c->scale = r->scale;
			c->rank = r->rank;
			return 1;
		}
	if (f != F_NASA && (rank = temperature_rank(s, len)) >= 0) {
		c->target = T_TEMPERATURE;
		c->conv = BT_CONV_NUMBER;
		c->scale = 1.0;
		c->rank = rank;
		return 1;
	}
	if (f == F_GENERIC)
		return generic_rule(s, len, c);
	return 0;
}

/* The field chosen for one target. */
struct slot {
	int set;
	size_t src;
	enum bt_conv conv;
	double scale;
	int rank;
	int tied;		/* another field offered the same rank */
	size_t tie;		/* ... this one */
};

/* Offer field I for a target: a lower rank wins; the same rank is a tie,
 * which is an error for every target but the temperature and the state,
 * where the first column wins. */
static void
offer(struct slot *s, size_t i, const struct cand *c)
{
	if (!s->set || c->rank < s->rank) {
		s->set = 1;
		s->src = i;
		s->conv = c->conv;
		s->scale = c->scale;
		s->rank = c->rank;
		s->tied = 0;
	} else if (c->rank == s->rank && !s->tied) {
		s->tied = 1;
		s->tie = i;
	}
}

/* A --map whose output name is not a canonical column. */
struct custom {
	const char *name;
	size_t src;
	double scale;
};

/* How the output name of a pass-through column was derived. */
struct base {
	const char *p;
	size_t n;
	char *own;		/* "column_N", allocated */
};

/* Longest piece of a header name quoted in an error message. */
#define QUOTE_MAX 100

static int
qlen(size_t n)
{
	return (int)(n < QUOTE_MAX ? n : QUOTE_MAX);
}

static void
set_msg(char *errmsg, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
set_msg(char *errmsg, const char *fmt, ...)
{
	va_list ap;

	if (errmsg == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(errmsg, BT_ERRMSG_SIZE, fmt, ap);
	va_end(ap);
}

static char *
dup_bytes(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p != NULL) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

static int
name_used(const struct bt_schema_col *cols, size_t k, const char *s,
	  size_t n)
{
	size_t j;

	for (j = 0; j < k; j++)
		if (strncmp(cols[j].name, s, n) == 0 && cols[j].name[n] == '\0')
			return 1;
	return 0;
}

/* Name pass-through column K (base B) so that it differs from columns 0..K-1:
 * its own name when free, else "NAME_2", "NAME_3", ...  FIRST is the index
 * of the first pass-through column, BASES their bases. */
static char *
unique_name(const struct bt_schema_col *cols, size_t k, size_t first,
	    const struct base *bases)
{
	const struct base *b = &bases[k - first];
	size_t same = 0, j, s;
	char *name;

	for (j = first; j < k; j++)
		if (bases[j - first].n == b->n
		    && memcmp(bases[j - first].p, b->p, b->n) == 0)
			same++;
	if (same == 0 && !name_used(cols, k, b->p, b->n))
		return dup_bytes(b->p, b->n);
	if ((name = malloc(b->n + 24)) == NULL)
		return NULL;
	for (s = same + 1 < 2 ? 2 : same + 1;; s++) {
		int len = snprintf(name, b->n + 24, "%.*s_%zu", (int)b->n, b->p,
				   s);

		if (!name_used(cols, k, name, (size_t)len))
			return name;
	}
}

/* Describe a --map for an error message: "canonical=source[*scale]". */
static void
map_text(const struct bt_schema_map *m, char *buf, size_t size)
{
	char num[BT_NUM_BUFSIZE];

	if (m->scale == 1.0) {
		snprintf(buf, size, "%.*s=%.*s", qlen(strlen(m->canonical)),
			 m->canonical, qlen(strlen(m->source)), m->source);
	} else {
		bt_num_format(m->scale, 0, num);
		snprintf(buf, size, "%.*s=%.*s*%s", qlen(strlen(m->canonical)),
			 m->canonical, qlen(strlen(m->source)), m->source, num);
	}
}

enum bt_status
bt_schema_detect(const char *const *fields, const size_t *lens, size_t n,
		 const struct bt_schema_map *maps, size_t nmaps,
		 struct bt_schema *schema, char *errmsg)
{
	struct slot slot[NTARGETS];
	struct custom *custom = NULL;
	struct base *bases = NULL;
	struct bt_schema_col *cols = NULL;
	unsigned char *used = NULL;
	size_t nf = n, ncustom = 0, ncols = 0, npass = 0, first, i, k, t;
	enum format f;
	enum bt_status st = BT_ENOMEM;
	struct cand c;
	int drop = 0;

	if (errmsg != NULL)
		errmsg[0] = '\0';
	if (schema == NULL || (n > 0 && (fields == NULL || lens == NULL))
	    || (nmaps > 0 && maps == NULL)) {
		set_msg(errmsg, "invalid arguments");
		return BT_EINVAL;
	}
	memset(schema, 0, sizeof *schema);
	/* A header ending in a delimiter has one empty, unnamed last field. */
	if (n > 1 && lens[n - 1] == 0) {
		nf = n - 1;
		drop = 1;
	}
	f = classify(fields, lens, nf);

	memset(slot, 0, sizeof slot);
	for (i = 0; i < nf; i++)
		if (lens[i] > 0 && field_rule(f, fields[i], lens[i], &c))
			offer(&slot[c.target], i, &c);
	/* An unsigned current with nothing to sign it is not current_a. */
	if (slot[T_CURRENT].set && slot[T_CURRENT].conv == BT_CONV_STATE_SIGN
	    && !slot[T_STATE].set)
		slot[T_CURRENT].set = 0;

	if (nmaps > 0 && (custom = malloc(nmaps * sizeof *custom)) == NULL)
		goto fail;
	for (k = 0; k < nmaps; k++) {
		const struct bt_schema_map *m = &maps[k];
		size_t slen = strlen(m->source);
		enum bt_conv conv;
		char text[2 * QUOTE_MAX + BT_NUM_BUFSIZE + 4];

		for (i = 0; i < nf; i++)
			if (lens[i] == slen && memcmp(fields[i], m->source, slen) == 0)
				break;
		if (i == nf) {
			map_text(m, text, sizeof text);
			set_msg(errmsg, "--map '%s': no column '%.*s' in the header",
				text, qlen(slen), m->source);
			st = BT_EHEADER;
			goto fail;
		}
		t = target_of(m->canonical, strlen(m->canonical));
		if (t < NOUT) {
			/* Re-stating the automatic source keeps its conversion
			 * (a Maccor current stays signed by its state); any
			 * other source is a plain number, or a duration for
			 * time_s.  The map's scale is the whole unit factor. */
			if (slot[t].set && slot[t].src == i)
				conv = slot[t].conv;
			else
				conv = t == T_TIME ? BT_CONV_DURATION
						   : BT_CONV_NUMBER;
			slot[t].set = 1;
			slot[t].src = i;
			slot[t].conv = conv;
			slot[t].scale = m->scale;
			slot[t].tied = 0;
			continue;
		}
		for (t = 0; t < ncustom; t++)
			if (strcmp(custom[t].name, m->canonical) == 0)
				break;
		custom[t].name = m->canonical;
		custom[t].src = i;
		custom[t].scale = m->scale;
		if (t == ncustom)
			ncustom++;
	}

	for (t = 0; t < NOUT; t++) {
		const struct slot *s = &slot[t];

		if (s->set && s->tied && t != T_TEMPERATURE) {
			set_msg(errmsg, "columns '%.*s' (%zu) and '%.*s' (%zu) "
				"both map to '%s': choose one with --map",
				qlen(lens[s->src]), fields[s->src], s->src + 1,
				qlen(lens[s->tie]), fields[s->tie], s->tie + 1,
				target_name[t]);
			st = BT_EHEADER;
			goto fail;
		}
	}

	if (nf > 0 && (used = calloc(nf, 1)) == NULL)
		goto fail;
	for (t = 0; t < NOUT; t++)
		if (slot[t].set) {
			used[slot[t].src] = 1;
			ncols++;
		}
	for (t = 0; t < ncustom; t++)
		used[custom[t].src] = 1;
	ncols += ncustom;
	for (i = 0; i < nf; i++)
		if (!used[i])
			npass++;
	ncols += npass;
	if (ncols > 0 && (cols = calloc(ncols, sizeof *cols)) == NULL)
		goto fail;
	if (npass > 0 && (bases = calloc(npass, sizeof *bases)) == NULL)
		goto fail;

	k = 0;
	for (t = 0; t < NOUT; t++) {
		if (!slot[t].set)
			continue;
		if ((cols[k].name = dup_bytes(target_name[t],
					      strlen(target_name[t]))) == NULL)
			goto fail;
		cols[k].source = slot[t].src;
		cols[k].conv = slot[t].conv;
		cols[k].scale = slot[t].scale;
		cols[k].is_current = t == T_CURRENT;
		if (slot[t].conv == BT_CONV_STATE_SIGN)
			cols[k].state_source = slot[T_STATE].src;
		k++;
	}
	for (t = 0; t < ncustom; t++, k++) {
		if ((cols[k].name = dup_bytes(custom[t].name,
					      strlen(custom[t].name))) == NULL)
			goto fail;
		cols[k].source = custom[t].src;
		cols[k].conv = BT_CONV_NUMBER;
		cols[k].scale = custom[t].scale;
	}
	first = k;
	for (i = 0; i < nf; i++) {
		struct base *b;

		if (used[i])
			continue;
		b = &bases[k - first];
		if (lens[i] > 0) {
			b->p = fields[i];
			b->n = lens[i];
		} else {
			if ((b->own = malloc(32)) == NULL)
				goto fail;
			b->n = (size_t)snprintf(b->own, 32, "column_%zu", i + 1);
			b->p = b->own;
		}
		if ((cols[k].name = unique_name(cols, k, first, bases)) == NULL)
			goto fail;
		cols[k].source = i;
		cols[k].conv = BT_CONV_TEXT;
		cols[k].scale = 1.0;
		k++;
	}

	schema->format = format_name[f];
	schema->nfields = nf;
	schema->ncols = ncols;
	schema->cols = cols;
	schema->drop_trailing = drop;
	cols = NULL;
	st = BT_OK;
fail:
	if (cols != NULL) {
		for (k = 0; k < ncols; k++)
			free(cols[k].name);
		free(cols);
	}
	if (st == BT_ENOMEM)
		set_msg(errmsg, "out of memory");
	for (i = 0; i < npass && bases != NULL; i++)
		free(bases[i].own);
	free(bases);
	free(used);
	free(custom);
	return st;
}

int
bt_schema_is_cycler_header(const char *const *fields, const size_t *lens,
			   size_t n)
{
	enum format f;

	if (fields == NULL || lens == NULL)
		return 0;
	if (n > 1 && lens[n - 1] == 0)
		n--;
	if (n == 0)
		return 0;
	f = classify(fields, lens, n);
	return f != F_CANONICAL && f != F_GENERIC;
}

void
bt_schema_free(struct bt_schema *schema)
{
	size_t k;

	if (schema == NULL)
		return;
	for (k = 0; k < schema->ncols && schema->cols != NULL; k++)
		free(schema->cols[k].name);
	free(schema->cols);
	memset(schema, 0, sizeof *schema);
}

/* ------------------------------------------------------------------ */
/* --map */

/* The first '=' splits, so a source name may contain '=' but a canonical
 * name may not; the last '*' splits off the scale, so a source name that
 * contains '*' needs an explicit scale ("x=a*b*1").  Nothing is trimmed:
 * header names are matched byte for byte. */
enum bt_status
bt_schema_parse_map(const char *text, struct bt_schema_map *map,
		    char **storage)
{
	const char *eq;
	char *copy, *src, *star;
	double scale = 1.0;
	size_t len;

	if (storage != NULL)
		*storage = NULL;
	if (text == NULL || map == NULL || storage == NULL)
		return BT_EINVAL;
	eq = strchr(text, '=');
	if (eq == NULL || eq == text)
		return BT_EINVAL;
	len = strlen(text);
	if ((copy = malloc(len + 1)) == NULL)
		return BT_ENOMEM;
	memcpy(copy, text, len + 1);
	src = copy + (eq - text);
	*src++ = '\0';
	if ((star = strrchr(src, '*')) != NULL) {
		if (bt_num_parse(star + 1, strlen(star + 1), '.', &scale) != BT_OK
		    || !isfinite(scale) || scale == 0.0)
			goto invalid;
		*star = '\0';
	}
	if (*src == '\0')
		goto invalid;
	map->canonical = copy;
	map->source = src;
	map->scale = scale;
	*storage = copy;
	return BT_OK;
invalid:
	free(copy);
	return BT_EINVAL;
}

/* ------------------------------------------------------------------ */
/* Durations */

/* Longest fraction of a second kept exactly (more digits than a double
 * can tell apart, by far). */
#define FRACTION_MAX 60

/* Largest hour and day counts accepted, far beyond any test and small
 * enough that the total number of seconds fits in 64 bits. */
#define HOURS_MAX 1000000000000ULL
#define DAYS_MAX 10000000000ULL

/* Read up to MAXDIG digits at *P (before END) into *V; returns how many. */
static size_t
digits(const char **p, const char *end, size_t maxdig, uint64_t *v)
{
	size_t k = 0;

	*v = 0;
	while (*p < end && is_digit((unsigned char)**p) && k < maxdig) {
		*v = *v * 10 + (uint64_t)(**p - '0');
		(*p)++;
		k++;
	}
	return k;
}

/* Seconds from "[D-|D.|Dd ]H:MM:SS[.f]".  The whole number of seconds is
 * summed exactly and the fraction appended as text, so that the result is
 * the double nearest the exact duration (what strtod gives for it). */
static enum bt_status
clock_seconds(const char *p, const char *end, char decimal, double *out)
{
	uint64_t a, days = 0, h, m, s, total;
	const char *frac = NULL;
	size_t nfrac = 0, k;
	char buf[32 + FRACTION_MAX];

	if (digits(&p, end, 13, &a) == 0)
		return BT_EPARSE;
	if (p < end && (*p == '-' || *p == '.' || *p == 'd' || *p == 'D')) {
		int letter = *p == 'd' || *p == 'D';

		p++;
		while (letter && p < end && *p == ' ')
			p++;
		days = a;
		if (days > DAYS_MAX || digits(&p, end, 2, &h) == 0 || h >= 24)
			return BT_EPARSE;
	} else {
		h = a;
		if (h > HOURS_MAX)
			return BT_EPARSE;
	}
	if (p == end || *p++ != ':' || digits(&p, end, 2, &m) == 0 || m >= 60)
		return BT_EPARSE;
	if (p == end || *p++ != ':' || digits(&p, end, 2, &s) == 0 || s >= 60)
		return BT_EPARSE;
	if (p < end && (*p == '.' || *p == decimal)) {
		frac = ++p;
		while (p < end && is_digit((unsigned char)*p))
			p++;
		nfrac = (size_t)(p - frac);
		if (nfrac == 0 || nfrac > FRACTION_MAX)
			return BT_EPARSE;
	}
	if (p != end)
		return BT_EPARSE;
	total = ((days * 24 + h) * 60 + m) * 60 + s;
	k = (size_t)snprintf(buf, 32, "%llu", (unsigned long long)total);
	if (nfrac > 0) {
		buf[k++] = '.';
		memcpy(buf + k, frac, nfrac);
		k += nfrac;
	}
	return bt_num_parse(buf, k, '.', out);
}

/* Blanks around the text are ignored: Maccor pads its times ("  0d
 * 00:01:30.88").  Hours are unbounded without a day part (Neware's
 * "44:49:56"), below 24 with one; minutes and seconds take one or two
 * digits and are below 60. */
enum bt_status
bt_schema_duration(const char *s, size_t len, char decimal, double *seconds)
{
	double x;

	if (s == NULL || seconds == NULL)
		return BT_EPARSE;
	trim(&s, &len);
	if (len == 0)
		return BT_EPARSE;
	if (memchr(s, ':', len) != NULL)
		return clock_seconds(s, s + len, decimal, seconds);
	/* A plain number of seconds: finite and not negative. */
	if (s[0] == '-' || bt_num_parse(s, len, decimal, &x) != BT_OK
	    || !isfinite(x))
		return BT_EPARSE;
	*seconds = x;
	return BT_OK;
}

/* ------------------------------------------------------------------ */
/* States */

/* Maccor's state letters: C charge, D discharge; R rest, O open circuit,
 * S, E and P (the other states Maccor logs; the current is not signed in
 * them, so it is taken as logged). */
static int
state_letter(int c, int *sign)
{
	switch (lower(c)) {
	case 'c':
		*sign = 1;
		return 1;
	case 'd':
		*sign = -1;
		return 1;
	case 'r':
	case 'o':
	case 's':
	case 'e':
	case 'p':
		*sign = 0;
		return 1;
	default:
		return 0;
	}
}

/* Whole-word states: Bitrode modes (CHRG, DCHG, REST) and plain words. */
static const struct {
	const char *word;
	int sign;
} state_words[] = {
	{"chrg", 1}, {"dchg", -1}, {"chg", 1}, {"charge", 1},
	{"discharge", -1}, {"rest", 0}, {"pause", 0}, {"ocv", 0},
	{NULL, 0}
};

enum bt_status
bt_schema_state_sign(const char *s, size_t len, int *sign)
{
	size_t i, k;

	if (s == NULL || sign == NULL)
		return BT_EPARSE;
	trim(&s, &len);
	if (len == 0)
		return BT_EPARSE;
	if (len == 1)
		return state_letter((unsigned char)s[0], sign) ? BT_OK
							       : BT_EPARSE;
	for (i = 0; state_words[i].word != NULL; i++)
		if (ieq(s, len, state_words[i].word)) {
			*sign = state_words[i].sign;
			return BT_OK;
		}
	/* Neware step types name the control mode, then the direction:
	 * "CC Chg", "CCCV Chg", "CP DChg", "CC_DChg".  Only the last word
	 * counts, and it must be the whole word ("DChg" contains "Chg"). */
	for (k = len; k > 0; k--)
		if (s[k - 1] == ' ' || s[k - 1] == '_')
			break;
	if (k == 0 || k == len)
		return BT_EPARSE;
	if (ieq(s + k, len - k, "chg")) {
		*sign = 1;
		return BT_OK;
	}
	if (ieq(s + k, len - k, "dchg")) {
		*sign = -1;
		return BT_OK;
	}
	return BT_EPARSE;
}
