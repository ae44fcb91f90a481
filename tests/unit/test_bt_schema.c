/* test_bt_schema.c - unit tests for bt_schema: format detection and the
 * exact output columns for every cycler layout, --map parsing and its
 * effect, durations, state signs, unique names and trailing delimiters.
 *
 * Deterministic; prints one line per failure and ends with
 * "N passed, N failed"; exits 1 when anything failed.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bt_schema.h"
#include "check.h"


/* ------------------------------------------------------------------ */
/* Headers */

#define MAXF 64

struct header {
	char buf[2048];
	const char *f[MAXF];
	size_t len[MAXF];
	size_t n;
};

/* Split TEXT at DELIM the way the reader does (no quotes in these). */
static void
split_header(struct header *h, const char *text, char delim)
{
	char *p, *q;

	snprintf(h->buf, sizeof h->buf, "%s", text);
	h->n = 0;
	p = h->buf;
	for (;;) {
		q = strchr(p, delim);
		h->f[h->n] = p;
		h->len[h->n] = q ? (size_t)(q - p) : strlen(p);
		h->n++;
		if (q == NULL || h->n == MAXF)
			break;
		p = q + 1;
	}
}

/* Expected output column: conv is 'T', 'N', 'D' or 'S' (state-signed, with
 * the state field in STATE). */
struct ecol {
	const char *name;
	size_t src;
	char conv;
	double scale;
	size_t state;
};

static char
conv_char(enum bt_conv c)
{
	switch (c) {
	case BT_CONV_TEXT:
		return 'T';
	case BT_CONV_NUMBER:
		return 'N';
	case BT_CONV_DURATION:
		return 'D';
	case BT_CONV_STATE_SIGN:
		return 'S';
	}
	return '?';
}

static void
dump(const struct bt_schema *s)
{
	size_t k;

	printf("  got format %s, nfields %zu, drop %d, %zu columns:\n",
	       s->format ? s->format : "(null)", s->nfields, s->drop_trailing,
	       s->ncols);
	for (k = 0; k < s->ncols; k++)
		printf("    {\"%s\", %zu, '%c', %.17g, %zu} current=%d\n",
		       s->cols[k].name, s->cols[k].source,
		       conv_char(s->cols[k].conv), s->cols[k].scale,
		       s->cols[k].state_source, s->cols[k].is_current);
}

static void
check_schema(const char *label, const struct bt_schema *s, const char *format,
	     size_t nfields, int drop, const struct ecol *e, size_t ne)
{
	size_t k;
	int ok = s->format != NULL && strcmp(s->format, format) == 0
		 && s->nfields == nfields && s->drop_trailing == drop
		 && s->ncols == ne;

	for (k = 0; ok && k < ne; k++) {
		const struct bt_schema_col *c = &s->cols[k];

		ok = strcmp(c->name, e[k].name) == 0 && c->source == e[k].src
		     && conv_char(c->conv) == e[k].conv
		     && c->scale == e[k].scale
		     && c->is_current == (strcmp(e[k].name, "current_a") == 0)
		     && (e[k].conv != 'S' || c->state_source == e[k].state);
	}
	CHECK(ok, "%s: schema (expected format %s, nfields %zu, drop %d, "
	      "%zu columns)", label, format, nfields, drop, ne);
	if (!ok)
		dump(s);
}

#define NE(a) (sizeof(a) / sizeof((a)[0]))

/* Detect TEXT (split at DELIM) and compare with the expectation. */
static void
expect(const char *label, const char *text, char delim, const char *format,
       size_t nfields, int drop, const struct ecol *e, size_t ne)
{
	struct header h;
	struct bt_schema s;
	char err[BT_ERRMSG_SIZE];
	enum bt_status st;

	split_header(&h, text, delim);
	st = bt_schema_detect(h.f, h.len, h.n, NULL, 0, &s, err);
	CHECK(st == BT_OK, "%s: status %d (%s)", label, (int)st, err);
	if (st == BT_OK)
		check_schema(label, &s, format, nfields, drop, e, ne);
	bt_schema_free(&s);
}

/* Parse MAPTEXTS (NULL-terminated), detect TEXT with them. */
static enum bt_status
detect_mapped(const char *text, char delim, const char *const *maptexts,
	      struct bt_schema *s, char *err)
{
	struct header h;
	struct bt_schema_map maps[8] = {{NULL, NULL, 0}};
	char *store[8];
	size_t n = 0, k;
	enum bt_status st;

	for (; maptexts[n] != NULL; n++) {
		st = bt_schema_parse_map(maptexts[n], &maps[n], &store[n]);
		CHECK(st == BT_OK, "parse_map '%s' status %d", maptexts[n],
		      (int)st);
		if (st != BT_OK) {
			for (k = 0; k < n; k++)
				free(store[k]);
			return st;
		}
	}
	split_header(&h, text, delim);
	st = bt_schema_detect(h.f, h.len, h.n, maps, n, s, err);
	for (k = 0; k < n; k++)
		free(store[k]);
	return st;
}

static void
expect_mapped(const char *label, const char *text, char delim,
	      const char *const *maptexts, const char *format, size_t nfields,
	      int drop, const struct ecol *e, size_t ne)
{
	struct bt_schema s;
	char err[BT_ERRMSG_SIZE];
	enum bt_status st = detect_mapped(text, delim, maptexts, &s, err);

	CHECK(st == BT_OK, "%s: status %d (%s)", label, (int)st, err);
	if (st == BT_OK)
		check_schema(label, &s, format, nfields, drop, e, ne);
	bt_schema_free(&s);
}

static void
expect_error(const char *label, const char *text, char delim,
	     const char *const *maptexts, const char *message)
{
	struct bt_schema s;
	char err[BT_ERRMSG_SIZE];
	enum bt_status st = detect_mapped(text, delim, maptexts, &s, err);

	CHECK(st == BT_EHEADER, "%s: status %d, expected BT_EHEADER", label,
	      (int)st);
	CHECK(strcmp(err, message) == 0, "%s: message\n  got      '%s'\n"
	      "  expected '%s'", label, err, message);
	CHECK(s.ncols == 0 && s.cols == NULL, "%s: schema left empty", label);
	bt_schema_free(&s);
}

static const char *const no_maps[] = {NULL};

/* ------------------------------------------------------------------ */
/* Cycler layouts */

static void
test_arbin(void)
{
	static const struct ecol mits[] = {
		{"time_s", 1, 'N', 1, 0}, {"current_a", 6, 'N', 1, 0},
		{"voltage_v", 7, 'N', 1, 0}, {"temperature_c", 14, 'N', 1, 0},
		{"cycle", 5, 'N', 1, 0}, {"step", 4, 'N', 1, 0},
		{"charge_capacity_ah", 8, 'N', 1, 0},
		{"discharge_capacity_ah", 9, 'N', 1, 0},
		{"charge_energy_wh", 10, 'N', 1, 0},
		{"discharge_energy_wh", 11, 'N', 1, 0},
		{"Data_Point", 0, 'T', 1, 0}, {"Date_Time", 2, 'T', 1, 0},
		{"Step_Time(s)", 3, 'T', 1, 0}, {"dV/dt(V/s)", 12, 'T', 1, 0},
		{"Internal_Resistance(Ohm)", 13, 'T', 1, 0},
	};
	static const struct ecol mits8[] = {
		{"time_s", 2, 'N', 1, 0}, {"current_a", 7, 'N', 1, 0},
		{"voltage_v", 8, 'N', 1, 0}, {"temperature_c", 17, 'N', 1, 0},
		{"cycle", 4, 'N', 1, 0}, {"step", 5, 'N', 1, 0},
		{"charge_capacity_ah", 10, 'N', 1, 0},
		{"discharge_capacity_ah", 11, 'N', 1, 0},
		{"charge_energy_wh", 12, 'N', 1, 0},
		{"discharge_energy_wh", 13, 'N', 1, 0},
		{"Data Point", 0, 'T', 1, 0}, {"Date Time", 1, 'T', 1, 0},
		{"Step Time (s)", 3, 'T', 1, 0}, {"TC_Counter1", 6, 'T', 1, 0},
		{"Power (W)", 9, 'T', 1, 0}, {"Capacity (Ah)", 14, 'T', 1, 0},
		{"dV/dt (V/s)", 15, 'T', 1, 0},
		{"Internal Resistance (Ohm)", 16, 'T', 1, 0},
		{"Aux_dT/dt_1 (C/s)", 18, 'T', 1, 0},
	};
	static const struct ecol xlsx[] = {
		{"time_s", 1, 'N', 1, 0}, {"current_a", 6, 'N', 1, 0},
		{"voltage_v", 5, 'N', 1, 0}, {"temperature_c", 9, 'N', 1, 0},
		{"cycle", 4, 'N', 1, 0}, {"step", 3, 'N', 1, 0},
		{"charge_capacity_ah", 7, 'N', 1, 0},
		{"discharge_capacity_ah", 8, 'N', 1, 0},
		{"Date_Time", 0, 'T', 1, 0}, {"Step_Time(s)", 2, 'T', 1, 0},
		{"Aux_Temperature(\xc2\xb0)_2", 10, 'T', 1, 0},
	};

	expect("arbin mits pro",
	       "Data_Point,Test_Time(s),Date_Time,Step_Time(s),Step_Index,"
	       "Cycle_Index,Current(A),Voltage(V),Charge_Capacity(Ah),"
	       "Discharge_Capacity(Ah),Charge_Energy(Wh),Discharge_Energy(Wh),"
	       "dV/dt(V/s),Internal_Resistance(Ohm),Aux_Temperature_1(C)",
	       ',', "arbin", 15, 0, mits, NE(mits));
	expect("arbin mits pro 8 spelling",
	       "Data Point,Date Time,Test Time (s),Step Time (s),Cycle Index,"
	       "Step Index,TC_Counter1,Current (A),Voltage (V),Power (W),"
	       "Charge Capacity (Ah),Discharge Capacity (Ah),Charge Energy (Wh),"
	       "Discharge Energy (Wh),Capacity (Ah),dV/dt (V/s),"
	       "Internal Resistance (Ohm),Aux_Temperature_1 (C),"
	       "Aux_dT/dt_1 (C/s)",
	       ',', "arbin", 19, 0, mits8, NE(mits8));
	/* The first of several auxiliary temperatures; the unit before the
	 * channel number. */
	expect("arbin aux temperature channels",
	       "Date_Time,Test_Time(s),Step_Time(s),Step_Index,Cycle_Index,"
	       "Voltage(V),Current(A),Charge_Capacity(Ah),"
	       "Discharge_Capacity(Ah),Aux_Temperature(\xc2\xb0)_1,"
	       "Aux_Temperature(\xc2\xb0)_2",
	       ',', "arbin", 11, 0, xlsx, NE(xlsx));
}

static void
test_maccor(void)
{
	static const struct ecol recnum[] = {
		{"time_s", 3, 'D', 1, 0}, {"current_a", 7, 'S', 1, 9},
		{"voltage_v", 8, 'N', 1, 0}, {"temperature_c", 12, 'N', 1, 0},
		{"cycle", 1, 'N', 1, 0}, {"step", 2, 'N', 1, 0},
		{"capacity_ah", 5, 'N', 1, 0}, {"energy_wh", 6, 'N', 1, 0},
		{"Rec#", 0, 'T', 1, 0}, {"StepTime", 4, 'T', 1, 0},
		{"State", 9, 'T', 1, 0}, {"ES", 10, 'T', 1, 0},
		{"DPt Time", 11, 'T', 1, 0},
	};
	static const struct ecol beep[] = {
		{"time_s", 3, 'D', 1, 0}, {"current_a", 7, 'S', 1, 9},
		{"voltage_v", 8, 'N', 1, 0}, {"cycle", 1, 'N', 1, 0},
		{"step", 2, 'N', 1, 0}, {"capacity_ah", 5, 'N', 1, 0},
		{"energy_wh", 6, 'N', 1, 0}, {"Rec#", 0, 'T', 1, 0},
		{"Step (Sec)", 4, 'T', 1, 0}, {"State", 9, 'T', 1, 0},
		{"ES", 10, 'T', 1, 0}, {"DPt Time", 11, 'T', 1, 0},
		{"ACImp/Ohms", 12, 'T', 1, 0}, {"DCIR/Ohms", 13, 'T', 1, 0},
		{"VAR1", 14, 'T', 1, 0},
	};
	static const struct ecol cyclep[] = {
		{"time_s", 4, 'D', 1, 0}, {"current_a", 8, 'S', 1, 10},
		{"voltage_v", 9, 'N', 1, 0}, {"cycle", 1, 'N', 1, 0},
		{"step", 3, 'N', 1, 0}, {"capacity_ah", 6, 'N', 1, 0},
		{"energy_wh", 7, 'N', 1, 0}, {"Rec", 0, 'T', 1, 0},
		{"Cycle C", 2, 'T', 1, 0}, {"StepTime", 5, 'T', 1, 0},
		{"Md", 10, 'T', 1, 0}, {"ES", 11, 'T', 1, 0},
		{"DPT Time", 12, 'T', 1, 0}, {"AUX1 [V]", 13, 'T', 1, 0},
		{"VAR1", 14, 'T', 1, 0},
	};
	static const struct ecol excel[] = {
		{"time_s", 3, 'D', 1, 0}, {"current_a", 7, 'S', 1, 9},
		{"voltage_v", 8, 'N', 1, 0}, {"cycle", 1, 'N', 1, 0},
		{"step", 2, 'N', 1, 0}, {"capacity_ah", 5, 'N', 1, 0},
		{"energy_wh", 6, 'N', 1, 0}, {"Rec#", 0, 'T', 1, 0},
		{"Step Time (sec)", 4, 'T', 1, 0}, {"State", 9, 'T', 1, 0},
	};
	static const struct ecol nostate[] = {
		{"time_s", 3, 'D', 1, 0}, {"voltage_v", 6, 'N', 1, 0},
		{"cycle", 1, 'N', 1, 0}, {"step", 2, 'N', 1, 0},
		{"capacity_ah", 4, 'N', 1, 0}, {"Rec#", 0, 'T', 1, 0},
		{"Amps", 5, 'T', 1, 0},
	};

	expect("maccor rec# layout, trailing tab",
	       "Rec#\tCyc#\tStep\tTestTime\tStepTime\tAmp-hr\tWatt-hr\tAmps\t"
	       "Volts\tState\tES\tDPt Time\tTemp 1\t",
	       '\t', "maccor", 13, 1, recnum, NE(recnum));
	expect("maccor test (sec) layout",
	       "Rec#\tCyc#\tStep\tTest (Sec)\tStep (Sec)\tAmp-hr\tWatt-hr\t"
	       "Amps\tVolts\tState\tES\tDPt Time\tACImp/Ohms\tDCIR/Ohms\tVAR1",
	       '\t', "maccor", 15, 0, beep, NE(beep));
	expect("maccor cycle p layout",
	       "Rec\tCycle P\tCycle C\tStep\tTestTime\tStepTime\tCap. [Ah]\t"
	       "Ener. [Wh]\tCurrent [A]\tVoltage [V]\tMd\tES\tDPT Time\t"
	       "AUX1 [V]\tVAR1",
	       '\t', "maccor", 15, 0, cyclep, NE(cyclep));
	expect("maccor (sec)/(AHr) spelling",
	       "Rec#\tCycle\tStep\tTest Time (sec)\tStep Time (sec)\t"
	       "Capacity (AHr)\tEnergy (WHr)\tCurrent (A)\tVoltage (V)\tState",
	       '\t', "maccor", 10, 0, excel, NE(excel));
	/* No state column: the unsigned current cannot become current_a. */
	expect("maccor without a state column",
	       "Rec#\tCyc#\tStep\tTestTime\tAmp-hr\tAmps\tVolts",
	       '\t', "maccor", 7, 0, nostate, NE(nostate));
}

static void
test_bitrode(void)
{
	/* The real ORNL export header: three "Loop" columns and a trailing
	 * comma. */
	static const struct ecol real[] = {
		{"time_s", 1, 'N', 1, 0}, {"current_a", 8, 'N', 1, 0},
		{"voltage_v", 9, 'N', 1, 0}, {"cycle", 2, 'N', 1, 0},
		{"step", 6, 'N', 1, 0}, {"capacity_ah", 11, 'N', 1, 0},
		{"energy_wh", 12, 'N', 1, 0}, {"Exclude", 0, 'T', 1, 0},
		{"Loop", 3, 'T', 1, 0}, {"Loop_2", 4, 'T', 1, 0},
		{"Loop_3", 5, 'T', 1, 0}, {"StepTime(s)", 7, 'T', 1, 0},
		{"Power(W)", 10, 'T', 1, 0}, {"Mode", 13, 'T', 1, 0},
		{"Data", 14, 'T', 1, 0},
	};
	static const struct ecol total[] = {
		{"time_s", 1, 'D', 1, 0}, {"current_a", 5, 'N', 1, 0},
		{"voltage_v", 6, 'N', 1, 0}, {"cycle", 2, 'N', 1, 0},
		{"step", 4, 'N', 1, 0}, {"Exclude", 0, 'T', 1, 0},
		{"Loop", 3, 'T', 1, 0}, {"Mode", 7, 'T', 1, 0},
	};

	expect("bitrode real header",
	       "Exclude,Time(s),Cycle,Loop,Loop,Loop,Step,StepTime(s),"
	       "Current(A),Voltage(V),Power(W),Capacity(Ah),Energy(Wh),Mode,"
	       "Data,",
	       ',', "bitrode", 15, 1, real, NE(real));
	expect("bitrode total time",
	       "Exclude,Total Time,Cycle,Loop,Step,Current(A),Voltage(V),Mode",
	       ',', "bitrode", 8, 0, total, NE(total));
}

static void
test_neware(void)
{
	static const struct ecol btsda[] = {
		{"time_s", 5, 'D', 1, 0}, {"current_a", 6, 'N', 0.001, 0},
		{"voltage_v", 7, 'N', 1, 0}, {"temperature_c", 16, 'N', 1, 0},
		{"cycle", 1, 'N', 1, 0}, {"step", 2, 'N', 1, 0},
		{"capacity_ah", 8, 'N', 0.001, 0},
		{"energy_wh", 11, 'N', 0.001, 0},
		{"charge_capacity_ah", 9, 'N', 0.001, 0},
		{"discharge_capacity_ah", 10, 'N', 0.001, 0},
		{"charge_energy_wh", 12, 'N', 0.001, 0},
		{"discharge_energy_wh", 13, 'N', 0.001, 0},
		{"DataPoint", 0, 'T', 1, 0}, {"Step Type", 3, 'T', 1, 0},
		{"Time", 4, 'T', 1, 0}, {"Date", 14, 'T', 1, 0},
		{"Power(mW)", 15, 'T', 1, 0},
	};
	static const struct ecol uio[] = {
		{"time_s", 5, 'D', 1, 0}, {"current_a", 6, 'N', 1, 0},
		{"voltage_v", 7, 'N', 1, 0}, {"cycle", 1, 'N', 1, 0},
		{"step", 2, 'N', 1, 0}, {"capacity_ah", 8, 'N', 1, 0},
		{"energy_wh", 11, 'N', 1, 0},
		{"charge_capacity_ah", 9, 'N', 1, 0},
		{"discharge_capacity_ah", 10, 'N', 1, 0},
		{"charge_energy_wh", 12, 'N', 1, 0},
		{"discharge_energy_wh", 13, 'N', 1, 0},
		{"DataPoint", 0, 'T', 1, 0}, {"Step Type", 3, 'T', 1, 0},
		{"Time", 4, 'T', 1, 0}, {"Date", 14, 'T', 1, 0},
		{"Power(W)", 15, 'T', 1, 0},
	};
	/* BTS 7 layout: step time only, so no time_s. */
	static const struct ecol bts[] = {
		{"current_a", 5, 'N', 0.001, 0}, {"voltage_v", 4, 'N', 1, 0},
		{"temperature_c", 6, 'N', 1, 0}, {"cycle", 0, 'N', 1, 0},
		{"step", 1, 'N', 1, 0}, {"capacity_ah", 7, 'N', 0.001, 0},
		{"energy_wh", 8, 'N', 0.001, 0},
		{"charge_capacity_ah", 13, 'N', 0.001, 0},
		{"discharge_capacity_ah", 14, 'N', 0.001, 0},
		{"charge_energy_wh", 15, 'N', 0.001, 0},
		{"discharge_energy_wh", 16, 'N', 0.001, 0},
		{"Record ID", 2, 'T', 1, 0}, {"Time(h:min:s.ms)", 3, 'T', 1, 0},
		{"Realtime", 9, 'T', 1, 0}, {"Min-T(C)", 10, 'T', 1, 0},
		{"Max-T(C)", 11, 'T', 1, 0}, {"Power(mW)", 12, 'T', 1, 0},
	};
	static const struct ecol millivolt[] = {
		{"time_s", 4, 'D', 1, 0}, {"current_a", 5, 'N', 1, 0},
		{"voltage_v", 6, 'N', 0.001, 0}, {"cycle", 1, 'N', 1, 0},
		{"step", 2, 'N', 1, 0}, {"DataPoint", 0, 'T', 1, 0},
		{"Step Type", 3, 'T', 1, 0},
	};

	expect("neware btsda (mA)",
	       "DataPoint,Cycle Index,Step Index,Step Type,Time,Total Time,"
	       "Current(mA),Voltage(V),Capacity(mAh),Chg. Cap.(mAh),"
	       "DChg. Cap.(mAh),Energy(mWh),Chg. Energy(mWh),DChg. Energy(mWh),"
	       "Date,Power(mW),T1(\xe2\x84\x83)",
	       ',', "neware", 17, 0, btsda, NE(btsda));
	expect("neware btsda (A), cumulative time",
	       "DataPoint,Cycle Index,Step Index,Step Type,Time,"
	       "Cumulative Time,Current(A),Voltage(V),Capacity(Ah),"
	       "Chg. Cap.(Ah),DChg. Cap.(Ah),Energy(Wh),Chg. Energy(Wh),"
	       "DChg. Energy(Wh),Date,Power(W)",
	       ',', "neware", 16, 0, uio, NE(uio));
	expect("neware bts 7",
	       "Cycle ID,Step ID,Record ID,Time(h:min:s.ms),Voltage(V),"
	       "Current(mA),Temperature(C),Capacity(mAh),Energy(mWh),Realtime,"
	       "Min-T(C),Max-T(C),Power(mW),Capacitance_Chg(mAh),"
	       "Capacitance_DChg(mAh),Engy_Chg(mWh),Engy_DChg(mWh)",
	       ',', "neware", 17, 0, bts, NE(bts));
	expect("neware voltage in mV",
	       "DataPoint,Cycle Index,Step Index,Step Type,Total Time,"
	       "Current(A),Voltage(mV)",
	       ',', "neware", 7, 0, millivolt, NE(millivolt));
}

static void
test_biologic(void)
{
	static const struct ecol gcpl[] = {
		{"time_s", 7, 'N', 1, 0}, {"current_a", 10, 'N', 0.001, 0},
		{"voltage_v", 9, 'N', 1, 0}, {"temperature_c", 18, 'N', 1, 0},
		{"cycle", 17, 'N', 1, 0}, {"step", 6, 'N', 1, 0},
		{"capacity_ah", 12, 'N', 0.001, 0},
		{"charge_energy_wh", 15, 'N', 1, 0},
		{"discharge_energy_wh", 16, 'N', 1, 0},
		{"mode", 0, 'T', 1, 0}, {"ox/red", 1, 'T', 1, 0},
		{"error", 2, 'T', 1, 0}, {"control changes", 3, 'T', 1, 0},
		{"Ns changes", 4, 'T', 1, 0}, {"counter inc.", 5, 'T', 1, 0},
		{"control/V/mA", 8, 'T', 1, 0}, {"dq/mA.h", 11, 'T', 1, 0},
		{"Q charge/discharge/mA.h", 13, 'T', 1, 0},
		{"half cycle", 14, 'T', 1, 0},
	};
	static const struct ecol minimal[] = {
		{"time_s", 1, 'N', 1, 0}, {"current_a", 3, 'N', 0.001, 0},
		{"voltage_v", 2, 'N', 1, 0}, {"mode", 0, 'T', 1, 0},
		{"control/V", 4, 'T', 1, 0},
	};
	static const struct ecol three[] = {
		{"time_s", 4, 'N', 1, 0}, {"current_a", 7, 'N', 0.001, 0},
		{"voltage_v", 17, 'N', 1, 0}, {"temperature_c", 18, 'N', 1, 0},
		{"capacity_ah", 9, 'N', 0.001, 0},
		{"charge_capacity_ah", 14, 'N', 0.001, 0},
		{"discharge_capacity_ah", 13, 'N', 0.001, 0},
		{"mode", 0, 'T', 1, 0}, {"ox/red", 1, 'T', 1, 0},
		{"error", 2, 'T', 1, 0}, {"control changes", 3, 'T', 1, 0},
		{"control/V/mA", 5, 'T', 1, 0}, {"Ewe/V", 6, 'T', 1, 0},
		{"dq/mA.h", 8, 'T', 1, 0},
		{"Q charge/discharge/mA.h", 10, 'T', 1, 0},
		{"Ece/V", 11, 'T', 1, 0}, {"P/W", 12, 'T', 1, 0},
		{"Capacity/mA.h", 15, 'T', 1, 0}, {"control/V", 16, 'T', 1, 0},
	};

	expect("biologic gcpl, trailing tab",
	       "mode\tox/red\terror\tcontrol changes\tNs changes\tcounter inc.\t"
	       "Ns\ttime/s\tcontrol/V/mA\tEwe/V\tI/mA\tdq/mA.h\t(Q-Qo)/mA.h\t"
	       "Q charge/discharge/mA.h\thalf cycle\tEnergy charge/W.h\t"
	       "Energy discharge/W.h\tcycle number\tTemperature/\xc2\xb0" "C\t",
	       '\t', "biologic", 19, 1, gcpl, NE(gcpl));
	expect("biologic minimal",
	       "mode\ttime/s\tEwe/V\t<I>/mA\tcontrol/V",
	       '\t', "biologic", 5, 0, minimal, NE(minimal));
	/* Ewe-Ece/V is the cell voltage whatever the connection; Latin-1
	 * degree sign. */
	expect("biologic three electrodes",
	       "mode\tox/red\terror\tcontrol changes\ttime/s\tcontrol/V/mA\t"
	       "Ewe/V\tI/mA\tdq/mA.h\t(Q-Qo)/mA.h\tQ charge/discharge/mA.h\t"
	       "Ece/V\tP/W\tQ discharge/mA.h\tQ charge/mA.h\tCapacity/mA.h\t"
	       "control/V\tEwe-Ece/V\tTemperature/\xb0" "C",
	       '\t', "biologic", 19, 0, three, NE(three));
}

static void
test_nasa_batteryarchive(void)
{
	static const struct ecol pcoe[] = {
		{"time_s", 5, 'N', 1, 0}, {"current_a", 1, 'N', 1, 0},
		{"voltage_v", 0, 'N', 1, 0}, {"temperature_c", 2, 'N', 1, 0},
		{"Current_load", 3, 'T', 1, 0}, {"Voltage_load", 4, 'T', 1, 0},
	};
	static const struct ecol lower[] = {
		{"time_s", 3, 'N', 1, 0}, {"current_a", 5, 'N', 1, 0},
		{"voltage_v", 4, 'N', 1, 0}, {"temperature_c", 6, 'N', 1, 0},
		{"cycle", 1, 'N', 1, 0}, {"battery_id", 0, 'T', 1, 0},
		{"test_id", 2, 'T', 1, 0}, {"current_load_a", 7, 'T', 1, 0},
		{"voltage_load_v", 8, 'T', 1, 0},
	};
	static const struct ecol ba[] = {
		{"time_s", 1, 'N', 1, 0}, {"current_a", 3, 'N', 1, 0},
		{"voltage_v", 4, 'N', 1, 0}, {"temperature_c", 10, 'N', 1, 0},
		{"cycle", 2, 'N', 1, 0}, {"charge_capacity_ah", 5, 'N', 1, 0},
		{"discharge_capacity_ah", 6, 'N', 1, 0},
		{"charge_energy_wh", 7, 'N', 1, 0},
		{"discharge_energy_wh", 8, 'N', 1, 0},
		{"Date_Time", 0, 'T', 1, 0},
		{"Environment_Temperature (C)", 9, 'T', 1, 0},
	};

	expect("nasa pcoe record",
	       "Voltage_measured,Current_measured,Temperature_measured,"
	       "Current_load,Voltage_load,Time",
	       ',', "nasa", 6, 0, pcoe, NE(pcoe));
	expect("nasa lower-case layout",
	       "battery_id,cycle,test_id,time_s,voltage_v,current_a,"
	       "temperature_c,current_load_a,voltage_load_v",
	       ',', "nasa", 9, 0, lower, NE(lower));
	/* Cell temperature wins over the chamber's, though it comes later. */
	expect("battery archive",
	       "Date_Time,Test_Time (s),Cycle_Index,Current (A),Voltage (V),"
	       "Charge_Capacity (Ah),Discharge_Capacity (Ah),"
	       "Charge_Energy (Wh),Discharge_Energy (Wh),"
	       "Environment_Temperature (C),Cell_Temperature (C)",
	       ',', "batteryarchive", 11, 0, ba, NE(ba));
}

static void
test_canonical(void)
{
	static const struct ecol sim[] = {
		{"time_s", 0, 'N', 1, 0}, {"current_a", 1, 'N', 1, 0},
		{"voltage_v", 2, 'N', 1, 0}, {"temperature_c", 3, 'N', 1, 0},
		{"step", 5, 'N', 1, 0}, {"soc_true", 4, 'T', 1, 0},
	};
	static const struct ecol order[] = {
		{"time_s", 1, 'N', 1, 0}, {"current_a", 3, 'N', 1, 0},
		{"voltage_v", 0, 'N', 1, 0}, {"capacity_ah", 7, 'N', 1, 0},
		{"energy_wh", 8, 'N', 1, 0}, {"soc", 5, 'N', 1, 0},
		{"soh", 4, 'N', 1, 0},
		{"discharge_capacity_ah", 6, 'N', 1, 0},
		{"note", 2, 'T', 1, 0},
	};
	/* An import of a Maccor export keeps Maccor's other columns: still
	 * canonical. */
	static const struct ecol leftovers[] = {
		{"time_s", 0, 'N', 1, 0}, {"current_a", 1, 'N', 1, 0},
		{"voltage_v", 2, 'N', 1, 0}, {"cycle", 3, 'N', 1, 0},
		{"step", 4, 'N', 1, 0}, {"capacity_ah", 5, 'N', 1, 0},
		{"Rec#", 6, 'T', 1, 0}, {"StepTime", 7, 'T', 1, 0},
		{"State", 8, 'T', 1, 0}, {"ES", 9, 'T', 1, 0},
		{"DPt Time", 10, 'T', 1, 0},
	};
	static const struct ecol calce[] = {
		{"time_s", 0, 'N', 1, 0}, {"current_a", 4, 'N', 1, 0},
		{"voltage_v", 5, 'N', 1, 0},
		{"charge_capacity_ah", 6, 'N', 1, 0},
		{"discharge_capacity_ah", 7, 'N', 1, 0},
		{"date_time", 1, 'T', 1, 0}, {"step_index", 2, 'T', 1, 0},
		{"cycle_index", 3, 'T', 1, 0},
		{"ah_net_from_full", 8, 'T', 1, 0},
	};
	static const struct ecol single[] = {
		{"soc", 1, 'N', 1, 0}, {"Cycle", 0, 'T', 1, 0},
	};

	expect("canonical bt-sim output",
	       "time_s,current_a,voltage_v,temperature_c,soc_true,step",
	       ',', "canonical", 6, 0, sim, NE(sim));
	expect("canonical, reordered",
	       "voltage_v,time_s,note,current_a,soh,soc,discharge_capacity_ah,"
	       "capacity_ah,energy_wh",
	       ',', "canonical", 9, 0, order, NE(order));
	expect("canonical with maccor leftovers",
	       "time_s,current_a,voltage_v,cycle,step,capacity_ah,Rec#,StepTime,"
	       "State,ES,DPt Time",
	       ',', "canonical", 11, 0, leftovers, NE(leftovers));
	expect("canonical calce dataset",
	       "time_s,date_time,step_index,cycle_index,current_a,voltage_v,"
	       "charge_capacity_ah,discharge_capacity_ah,ah_net_from_full",
	       ',', "canonical", 9, 0, calce, NE(calce));
	expect("canonical, one column", "Cycle,soc", ',', "canonical", 2, 0,
	       single, NE(single));
	expect_error("canonical, time_s twice", "time_s,current_a,time_s", ',',
		     no_maps, "columns 'time_s' (1) and 'time_s' (3) both map "
		     "to 'time_s': choose one with --map");
}

static void
test_generic(void)
{
	static const struct ecol units[] = {
		{"time_s", 0, 'N', 3600, 0}, {"current_a", 1, 'N', 0.001, 0},
		{"voltage_v", 2, 'N', 1, 0}, {"temperature_c", 3, 'N', 1, 0},
		{"cycle", 4, 'N', 1, 0}, {"Note", 5, 'T', 1, 0},
	};
	static const struct ecol more[] = {
		{"time_s", 0, 'N', 60, 0}, {"voltage_v", 1, 'N', 0.001, 0},
		{"step", 5, 'N', 1, 0}, {"capacity_ah", 2, 'N', 0.001, 0},
		{"energy_wh", 3, 'N', 1, 0}, {"Step Time (s)", 4, 'T', 1, 0},
	};
	static const struct ecol ms[] = {
		{"time_s", 0, 'N', 0.001, 0}, {"current_a", 1, 'N', 1, 0},
		{"voltage_v", 2, 'N', 1, 0},
	};
	static const struct ecol clock[] = {
		{"time_s", 0, 'D', 1, 0}, {"current_a", 1, 'N', 1e-6, 0},
	};
	static const struct ecol nothing[] = {
		{"a", 0, 'T', 1, 0}, {"b", 1, 'T', 1, 0},
		{"Time (fortnights)", 2, 'T', 1, 0},
	};

	expect("generic name (unit) forms",
	       "Elapsed Time (h),I (mA),U [V],Temp (degC),Cycle,Note", ',',
	       "generic", 6, 0, units, NE(units));
	expect("generic min, mV, mAh",
	       "time/min,Voltage (mV),Capacity [mAh],Energy(Wh),Step Time (s),"
	       "Step", ',', "generic", 6, 0, more, NE(more));
	expect("generic ms", "Time (ms),Current (A),Voltage (V)", ',',
	       "generic", 3, 0, ms, NE(ms));
	expect("generic clock time", "Time (hh:mm:ss),Current (uA)", ',',
	       "generic", 2, 0, clock, NE(clock));
	expect("generic, nothing maps", "a,b,Time (fortnights)", ',',
	       "generic", 3, 0, nothing, NE(nothing));
	expect("empty header", "", ',', "generic", 1, 0,
	       (const struct ecol[]){{"column_1", 0, 'T', 1, 0}}, 1);
}

/* The widest header the reader accepts, every name the same: unique names
 * without quadratic searches per column. */
static void
many_equal_names(void)
{
	enum { N = 4096 };
	static const char *f[N];
	static size_t len[N];
	struct bt_schema s;
	char err[BT_ERRMSG_SIZE];
	size_t i;
	int ok;

	for (i = 0; i < N; i++) {
		f[i] = "Units";
		len[i] = 5;
	}
	ok = bt_schema_detect(f, len, N, NULL, 0, &s, err) == BT_OK
	     && s.ncols == N && strcmp(s.cols[0].name, "Units") == 0
	     && strcmp(s.cols[1].name, "Units_2") == 0
	     && strcmp(s.cols[N - 1].name, "Units_4096") == 0;
	CHECK(ok, "4096 equal names");
	bt_schema_free(&s);
}

static void
test_names(void)
{
	static const struct ecol dup[] = {
		{"x", 0, 'T', 1, 0}, {"column_2", 1, 'T', 1, 0},
		{"x_2", 2, 'T', 1, 0}, {"x_2_2", 3, 'T', 1, 0},
		{"column_5", 4, 'T', 1, 0},
	};
	static const struct ecol empties[] = {
		{"column_1", 0, 'T', 1, 0}, {"column_2", 1, 'T', 1, 0},
	};
	static const struct ecol clash[] = {
		{"time_s", 0, 'N', 1, 0}, {"current_a", 1, 'N', 1, 0},
		{"column_3", 2, 'T', 1, 0}, {"column_3_2", 3, 'T', 1, 0},
	};
	static const struct ecol many[] = {
		{"U", 0, 'T', 1, 0}, {"U_2", 1, 'T', 1, 0},
		{"U_3", 2, 'T', 1, 0}, {"U_4", 3, 'T', 1, 0},
		{"U_5", 4, 'T', 1, 0},
	};

	many_equal_names();
	expect("duplicate and empty names", "x,,x,x_2,,", ',', "generic", 5,
	       1, dup, NE(dup));
	expect("only empty names", ",,", ',', "generic", 2, 1, empties,
	       NE(empties));
	expect("empty name meets a real one", "time_s,current_a,,column_3",
	       ',', "canonical", 4, 0, clash, NE(clash));
	expect("five equal names", "U,U,U,U,U", ',', "generic", 5, 0, many,
	       NE(many));
}

/* ------------------------------------------------------------------ */
/* --map */

static void
parse_ok(const char *text, const char *canonical, const char *source,
	 double scale)
{
	struct bt_schema_map m;
	char *store = NULL;
	enum bt_status st = bt_schema_parse_map(text, &m, &store);

	CHECK(st == BT_OK, "parse_map '%s': status %d", text, (int)st);
	if (st != BT_OK)
		return;
	CHECK(strcmp(m.canonical, canonical) == 0 && strcmp(m.source, source) == 0
	      && m.scale == scale, "parse_map '%s': got '%s' '%s' %.17g", text,
	      m.canonical, m.source, m.scale);
	CHECK(store != NULL && m.canonical == store,
	      "parse_map '%s': strings live in storage", text);
	free(store);
}

static void
parse_bad(const char *text)
{
	struct bt_schema_map m;
	char *store = (char *)"unset";
	enum bt_status st = bt_schema_parse_map(text, &m, &store);

	CHECK(st == BT_EINVAL, "parse_map '%s': status %d, expected BT_EINVAL",
	      text ? text : "(null)", (int)st);
	CHECK(store == NULL, "parse_map '%s': no storage on failure",
	      text ? text : "(null)");
}

static void
test_parse_map(void)
{
	parse_ok("current_a=I/mA*0.001", "current_a", "I/mA", 0.001);
	parse_ok("time_s=Seconds", "time_s", "Seconds", 1.0);
	parse_ok("current_a=Amps*-1", "current_a", "Amps", -1.0);
	parse_ok("energy_wh=Energy(mWh)*1e-3", "energy_wh", "Energy(mWh)",
		 0.001);
	/* The first '=' splits; the last '*' splits. */
	parse_ok("x=a=b", "x", "a=b", 1.0);
	parse_ok("x=a*b*2", "x", "a*b", 2.0);
	parse_ok("step= Step", "step", " Step", 1.0);
	parse_bad("current_a");
	parse_bad("=Amps");
	parse_bad("current_a=");
	parse_bad("current_a=*0.001");
	parse_bad("current_a=Amps*");
	parse_bad("current_a=Amps*abc");
	parse_bad("current_a=Amps*0");
	parse_bad("current_a=Amps*-0");
	parse_bad("current_a=Amps*nan");
	parse_bad("current_a=Amps*inf");
	parse_bad("current_a=Amps*1,5");
	parse_bad("x=a*b");
	parse_bad("");
	parse_bad(NULL);
}

static const char bitrode_header[] =
	"Exclude,Time(s),Cycle,Loop,Loop,Loop,Step,StepTime(s),Current(A),"
	"Voltage(V),Power(W),Capacity(Ah),Energy(Wh),Mode,Data,";

static void
test_maps(void)
{
	static const char *const override[] = {"current_a=Power(W)*0.5", NULL};
	static const struct ecol overridden[] = {
		{"time_s", 1, 'N', 1, 0}, {"current_a", 10, 'N', 0.5, 0},
		{"voltage_v", 9, 'N', 1, 0}, {"cycle", 2, 'N', 1, 0},
		{"step", 6, 'N', 1, 0}, {"capacity_ah", 11, 'N', 1, 0},
		{"energy_wh", 12, 'N', 1, 0}, {"Exclude", 0, 'T', 1, 0},
		{"Loop", 3, 'T', 1, 0}, {"Loop_2", 4, 'T', 1, 0},
		{"Loop_3", 5, 'T', 1, 0}, {"StepTime(s)", 7, 'T', 1, 0},
		{"Current(A)", 8, 'T', 1, 0}, {"Mode", 13, 'T', 1, 0},
		{"Data", 14, 'T', 1, 0},
	};
	static const char *const add[] = {
		"power_w=Power(W)", "soc=Data*0.01", NULL
	};
	static const struct ecol added[] = {
		{"time_s", 1, 'N', 1, 0}, {"current_a", 8, 'N', 1, 0},
		{"voltage_v", 9, 'N', 1, 0}, {"cycle", 2, 'N', 1, 0},
		{"step", 6, 'N', 1, 0}, {"capacity_ah", 11, 'N', 1, 0},
		{"energy_wh", 12, 'N', 1, 0}, {"soc", 14, 'N', 0.01, 0},
		{"power_w", 10, 'N', 1, 0}, {"Exclude", 0, 'T', 1, 0},
		{"Loop", 3, 'T', 1, 0}, {"Loop_2", 4, 'T', 1, 0},
		{"Loop_3", 5, 'T', 1, 0}, {"StepTime(s)", 7, 'T', 1, 0},
		{"Mode", 13, 'T', 1, 0},
	};
	static const char *const time_map[] = {"time_s=Time(h:min:s.ms)", NULL};
	static const struct ecol timed[] = {
		{"time_s", 3, 'D', 1, 0}, {"current_a", 5, 'N', 0.001, 0},
		{"voltage_v", 4, 'N', 1, 0}, {"cycle", 0, 'N', 1, 0},
		{"step", 1, 'N', 1, 0}, {"Record ID", 2, 'T', 1, 0},
	};
	static const char *const restate[] = {"current_a=Amps*0.001", NULL};
	static const struct ecol restated[] = {
		{"time_s", 3, 'D', 1, 0}, {"current_a", 5, 'S', 0.001, 6},
		{"voltage_v", 4, 'N', 1, 0}, {"cycle", 1, 'N', 1, 0},
		{"step", 2, 'N', 1, 0}, {"Rec#", 0, 'T', 1, 0},
		{"State", 6, 'T', 1, 0},
	};
	static const char *const twice[] = {
		"current_a=Amps", "current_a=Volts*2", NULL
	};
	static const struct ecol twiced[] = {
		{"time_s", 3, 'D', 1, 0}, {"current_a", 4, 'N', 2, 0},
		{"voltage_v", 4, 'N', 1, 0}, {"cycle", 1, 'N', 1, 0},
		{"step", 2, 'N', 1, 0},
		{"Rec#", 0, 'T', 1, 0}, {"Amps", 5, 'T', 1, 0},
		{"State", 6, 'T', 1, 0},
	};
	static const char *const pick[] = {"time_s=time_s", NULL};
	static const struct ecol picked[] = {
		{"time_s", 0, 'N', 1, 0}, {"current_a", 1, 'N', 1, 0},
		{"time_s_2", 2, 'T', 1, 0},
	};
	static const char *const env[] = {
		"temperature_c=Environment_Temperature (C)", NULL
	};
	static const struct ecol envd[] = {
		{"time_s", 0, 'N', 1, 0}, {"current_a", 1, 'N', 1, 0},
		{"voltage_v", 2, 'N', 1, 0}, {"temperature_c", 3, 'N', 1, 0},
		{"Cell_Temperature (C)", 4, 'T', 1, 0},
	};
	static const char *const generic_maps[] = {
		"time_s=t", "current_a=amps*-1", NULL
	};
	static const struct ecol genericd[] = {
		{"time_s", 0, 'D', 1, 0}, {"current_a", 1, 'N', -1, 0},
		{"x", 2, 'T', 1, 0},
	};
	static const char *const missing[] = {"current_a=Amps", NULL};
	static const char *const missing_scaled[] = {
		"current_a=Amps*0.001", NULL
	};
	static const char *const missing_custom[] = {
		"soc=Voltage(V)", "power_w=Watts", NULL
	};
	expect_mapped("map overrides an automatic column", bitrode_header, ',',
		      override, "bitrode", 15, 1, overridden, NE(overridden));
	expect_mapped("maps add columns", bitrode_header, ',', add, "bitrode",
		      15, 1, added, NE(added));
	expect_mapped("map adds time_s to neware bts",
		      "Cycle ID,Step ID,Record ID,Time(h:min:s.ms),Voltage(V),"
		      "Current(mA)", ',', time_map, "neware", 6, 0, timed,
		      NE(timed));
	expect_mapped("map restates the maccor current",
		      "Rec#\tCyc#\tStep\tTestTime\tVolts\tAmps\tState", '\t',
		      restate, "maccor", 7, 0, restated, NE(restated));
	expect_mapped("the last of two maps wins",
		      "Rec#\tCyc#\tStep\tTestTime\tVolts\tAmps\tState", '\t',
		      twice, "maccor", 7, 0, twiced, NE(twiced));
	expect_mapped("map settles an ambiguous header",
		      "time_s,current_a,time_s", ',', pick, "canonical", 3, 0,
		      picked, NE(picked));
	expect_mapped("map picks the chamber temperature",
		      "time_s,current_a,voltage_v,Environment_Temperature (C),"
		      "Cell_Temperature (C)", ',', env, "canonical", 5, 0, envd,
		      NE(envd));
	expect_mapped("maps on a generic header", "t,amps,x", ',',
		      generic_maps, "generic", 3, 0, genericd, NE(genericd));
	expect_error("map names a missing column",
		     "Data_Point,Test_Time(s),Current(A),Voltage(V)", ',',
		     missing, "--map 'current_a=Amps': no column 'Amps' in "
		     "the header");
	expect_error("scaled map names a missing column",
		     "Data_Point,Test_Time(s),Current(A),Voltage(V)", ',',
		     missing_scaled, "--map 'current_a=Amps*0.001': no column "
		     "'Amps' in the header");
	expect_error("custom map names a missing column", bitrode_header, ',',
		     missing_custom, "--map 'power_w=Watts': no column 'Watts' "
		     "in the header");
	expect_error("arbin with two current columns",
		     "Data_Point,Test_Time(s),Step_Index,Cycle_Index,Current(A),"
		     "Voltage(V),Current(A)", ',', no_maps,
		     "columns 'Current(A)' (5) and 'Current(A)' (7) both map to "
		     "'current_a': choose one with --map");
}

/* ------------------------------------------------------------------ */
/* Durations and states */

static void
duration_ok(const char *text, char decimal, const char *exact)
{
	double x = -1.0, want = strtod(exact, NULL);
	enum bt_status st = bt_schema_duration(text, strlen(text), decimal, &x);

	CHECK(st == BT_OK && x == want, "duration '%s' (decimal '%c'): "
	      "status %d, %.17g, expected %s", text, decimal, (int)st, x,
	      exact);
}

static void
duration_bad(const char *text, char decimal)
{
	double x = 42.0;
	enum bt_status st = bt_schema_duration(text, strlen(text), decimal, &x);

	CHECK(st == BT_EPARSE && x == 42.0, "duration '%s' (decimal '%c'): "
	      "status %d, expected BT_EPARSE", text, decimal, (int)st);
}

static void
test_duration(void)
{
	duration_ok("90.88", '.', "90.88");
	duration_ok("1.5e3", '.', "1500");
	duration_ok("0", '.', "0");
	duration_ok("+7", '.', "7");
	duration_ok("12,25", ',', "12.25");
	duration_ok("00:01:30", '.', "90");
	duration_ok("1:02:03.5", '.', "3723.5");
	duration_ok("44:49:56", '.', "161396");
	duration_ok("0:00:5.05000019073486", '.', "5.05000019073486");
	/* Maccor pads with spaces and writes single-digit fields. */
	duration_ok("  0d 00:01:0.879999995231628", '.',
		    "60.879999995231628");
	duration_ok("0d 00:00:5", '.', "5");
	duration_ok("1d 02:03:04.25", '.', "93784.25");
	duration_ok("1d02:03:04", '.', "93784");
	duration_ok("2-03:04:05", '.', "183845");
	duration_ok("2.03:04:05", '.', "183845");
	duration_ok("00:00:05,5", ',', "5.5");
	duration_ok("00:00:05.5", ',', "5.5");
	/* Summed exactly, then rounded once. */
	duration_ok("0d 00:01:30.88", '.', "90.88");
	duration_ok("27:46:39.999999999999999999", '.', "100000");

	duration_bad("", '.');
	duration_bad("   ", '.');
	duration_bad("-5", '.');
	duration_bad("-0", '.');
	duration_bad("nan", '.');
	duration_bad("inf", '.');
	duration_bad("1e400", '.');
	duration_bad("abc", '.');
	duration_bad("5 s", '.');
	duration_bad("00:60:00", '.');
	duration_bad("00:00:60", '.');
	duration_bad("1:2", '.');
	duration_bad("1:02:03:04", '.');
	duration_bad("2-24:00:00", '.');
	duration_bad("1 02:03:04", '.');
	duration_bad("00:00:05.", '.');
	duration_bad("00:00:05,5", '.');
	duration_bad("+1:00:00", '.');
	duration_bad("-1:00:00", '.');
	duration_bad("1:000:00", '.');
	duration_bad("00:01:5x", '.');
	duration_bad("d 00:00:05", '.');
}

static void
state_ok(const char *text, int want)
{
	int sign = 7;
	enum bt_status st = bt_schema_state_sign(text, strlen(text), &sign);

	CHECK(st == BT_OK && sign == want, "state '%s': status %d, sign %d, "
	      "expected %d", text, (int)st, sign, want);
}

static void
state_bad(const char *text)
{
	int sign = 7;
	enum bt_status st = bt_schema_state_sign(text, strlen(text), &sign);

	CHECK(st == BT_EPARSE && sign == 7, "state '%s': status %d, expected "
	      "BT_EPARSE", text, (int)st);
}

static void
test_state(void)
{
	state_ok("C", 1);
	state_ok("D", -1);
	state_ok("R", 0);
	state_ok("O", 0);
	state_ok("S", 0);
	state_ok("E", 0);
	state_ok("c", 1);
	state_ok(" D ", -1);
	state_ok("CC Chg", 1);
	state_ok("CC DChg", -1);
	state_ok("CCCV Chg", 1);
	state_ok("CCCV DChg", -1);
	state_ok("CP DChg", -1);
	state_ok("CV Chg", 1);
	state_ok("CC_DChg", -1);
	state_ok("Rest", 0);
	state_ok("CHRG", 1);
	state_ok("DCHG", -1);
	state_ok("REST", 0);
	state_ok("Charge", 1);
	state_ok("Discharge", -1);
	state_bad("");
	state_bad("X");
	state_bad("1");
	state_bad("SIM");
	state_bad("CC");
	state_bad("CC Foo");
	state_bad("Chgx");
	state_bad("CC DChgx");
	state_bad("CC Chg-DChg");
}

static void
cycler_header(const char *label, const char *text, char delim, int want)
{
	struct header h;

	split_header(&h, text, delim);
	CHECK(bt_schema_is_cycler_header(h.f, h.len, h.n) == want,
	      "is_cycler_header %s: expected %d", label, want);
}

static void
test_is_cycler_header(void)
{
	cycler_header("maccor", "Rec#\tCyc#\tStep\tTestTime\tStepTime\tAmp-hr\t"
		      "Watt-hr\tAmps\tVolts\tState\tES\tDPt Time\t", '\t', 1);
	cycler_header("maccor preamble 1", "Today's Date:\t05 March 2024\t"
		      "Date of Test:\t04 March 2024, 09:12:40 AM", '\t', 0);
	cycler_header("maccor preamble 2", "Procedure:\tRPT_C20.000\t"
		      "Description:\t", '\t', 0);
	cycler_header("maccor data row", "1\t1\t5\t0d 00:00:30.05\t"
		      "0d 00:00:30.05\t0.0104\t0.04161\t1.25073\t3.98741\tD\t0\t"
		      "03/04/2024 09:43:10\t", '\t', 0);
	cycler_header("biologic", "mode\tox/red\terror\ttime/s\tEwe/V\tI/mA\t",
		      '\t', 1);
	cycler_header("biologic first line", "EC-Lab ASCII FILE", '\t', 0);
	cycler_header("bitrode", bitrode_header, ',', 1);
	cycler_header("arbin", "Data_Point,Test_Time(s),Date_Time,Step_Index,"
		      "Cycle_Index,Current(A),Voltage(V)", ',', 1);
	cycler_header("neware", "DataPoint,Cycle Index,Step Index,Step Type,"
		      "Time,Total Time,Current(mA),Voltage(V)", ',', 1);
	cycler_header("nasa", "Voltage_measured,Current_measured,"
		      "Temperature_measured,Current_load,Voltage_load,Time",
		      ',', 1);
	cycler_header("canonical", "time_s,current_a,voltage_v", ',', 0);
	cycler_header("generic", "Time (s),Current (A),Voltage (V)", ',', 0);
	cycler_header("empty", "", ',', 0);
	CHECK(bt_schema_is_cycler_header(NULL, NULL, 0) == 0,
	      "is_cycler_header with no fields");
}

static void
test_free(void)
{
	struct bt_schema s;
	char err[BT_ERRMSG_SIZE];

	bt_schema_free(NULL);
	CHECK(bt_schema_detect(NULL, NULL, 0, NULL, 0, &s, err) == BT_OK
	      && s.ncols == 0 && strcmp(s.format, "generic") == 0,
	      "no fields: an empty generic schema");
	bt_schema_free(&s);
	bt_schema_free(&s);
	CHECK(s.cols == NULL && s.ncols == 0, "free leaves the schema empty");
	CHECK(bt_schema_detect(NULL, NULL, 0, NULL, 0, NULL, err) == BT_EINVAL,
	      "no schema: BT_EINVAL");
	CHECK(bt_schema_detect(NULL, NULL, 2, NULL, 0, &s, NULL) == BT_EINVAL,
	      "fields missing: BT_EINVAL");
}

int
main(void)
{
	test_arbin();
	test_maccor();
	test_bitrode();
	test_neware();
	test_biologic();
	test_nasa_batteryarchive();
	test_canonical();
	test_generic();
	test_names();
	test_parse_map();
	test_maps();
	test_duration();
	test_state();
	test_is_cycler_header();
	test_free();
	return check_report();
}
