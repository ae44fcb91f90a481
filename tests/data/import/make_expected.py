#!/usr/bin/env python3
"""make_expected.py - write the expected canonical import of every sample here.

Independent of battools on purpose: nothing is imported from or run through
the project.  The output columns of each sample, their sources and their
conversions are written out by hand below, from the layouts described in
README.md; this script only does the arithmetic.

    python3 tests/data/import/make_expected.py     # rewrites *.expected.csv

Conversions:
  num    the double nearest the exact value of text * scale: for a scale of
         10^-k (mA to A, mAh to Ah) the decimal is scaled exactly and
         rounded once (-1250.7 mA is -1.2507 A, whatever the notation,
         "-1250.7000" or "-1.2507000E+003"); other scales multiply doubles
  dur    seconds from "S", "H:MM:SS[.f]" or "Dd HH:MM:SS[.f]": the whole
         seconds summed as integers, the fraction appended, then float()
  sgn    float(text) * scale, then sign * abs(value) for state C (+1) and
         D (-1); other states keep the value as logged
  text   copied verbatim
Numbers are written as Python's repr(), without a trailing ".0".
"""
import os
import re
import sys
from decimal import Decimal

HERE = os.path.dirname(os.path.abspath(__file__))


def fmt(x):
    r = repr(x)
    return r[:-2] if r.endswith('.0') else r


CLOCK = re.compile(r'^(?:(\d+)(?:d ?|[-.]))?(\d+):(\d{1,2}):(\d{1,2})(?:\.(\d+))?$')


def seconds(text):
    t = text.strip()
    m = CLOCK.match(t)
    if m is None:
        return float(t)
    d, h, mi, s, frac = m.groups()
    total = ((int(d or 0) * 24 + int(h)) * 60 + int(mi)) * 60 + int(s)
    return float('%d.%s' % (total, frac) if frac else '%d' % total)


# Per sample: the input file, its delimiter, how many lines come before the
# header, and the output columns as (name, source column, conversion, scale).
# A state-signed column also names its state column.
SAMPLES = {
    'arbin': ('arbin.csv', ',', 0, [
        ('time_s', 'Test_Time(s)', 'num', 1),
        ('current_a', 'Current(A)', 'num', 1),
        ('voltage_v', 'Voltage(V)', 'num', 1),
        ('temperature_c', 'Aux_Temperature_1(C)', 'num', 1),
        ('cycle', 'Cycle_Index', 'num', 1),
        ('step', 'Step_Index', 'num', 1),
        ('charge_capacity_ah', 'Charge_Capacity(Ah)', 'num', 1),
        ('discharge_capacity_ah', 'Discharge_Capacity(Ah)', 'num', 1),
        ('charge_energy_wh', 'Charge_Energy(Wh)', 'num', 1),
        ('discharge_energy_wh', 'Discharge_Energy(Wh)', 'num', 1),
        ('Data_Point', 'Data_Point', 'text', 1),
        ('Date_Time', 'Date_Time', 'text', 1),
        ('Step_Time(s)', 'Step_Time(s)', 'text', 1),
        ('dV/dt(V/s)', 'dV/dt(V/s)', 'text', 1),
        ('Internal_Resistance(Ohm)', 'Internal_Resistance(Ohm)', 'text', 1),
    ]),
    'maccor': ('maccor.txt', '\t', 3, [
        ('time_s', 'TestTime', 'dur', 1),
        ('current_a', 'Amps', 'sgn', 1, 'State'),
        ('voltage_v', 'Volts', 'num', 1),
        ('temperature_c', 'Temp 1', 'num', 1),
        ('cycle', 'Cyc#', 'num', 1),
        ('step', 'Step', 'num', 1),
        ('capacity_ah', 'Amp-hr', 'num', 1),
        ('energy_wh', 'Watt-hr', 'num', 1),
        ('Rec#', 'Rec#', 'text', 1),
        ('StepTime', 'StepTime', 'text', 1),
        ('State', 'State', 'text', 1),
        ('ES', 'ES', 'text', 1),
        ('DPt Time', 'DPt Time', 'text', 1),
    ]),
    'bitrode': ('bitrode.csv', ',', 0, [
        ('time_s', 'Time(s)', 'num', 1),
        ('current_a', 'Current(A)', 'num', 1),
        ('voltage_v', 'Voltage(V)', 'num', 1),
        ('cycle', 'Cycle', 'num', 1),
        ('step', 'Step', 'num', 1),
        ('capacity_ah', 'Capacity(Ah)', 'num', 1),
        ('energy_wh', 'Energy(Wh)', 'num', 1),
        ('Exclude', 'Exclude', 'text', 1),
        ('Loop', 'Loop#1', 'text', 1),
        ('Loop_2', 'Loop#2', 'text', 1),
        ('Loop_3', 'Loop#3', 'text', 1),
        ('StepTime(s)', 'StepTime(s)', 'text', 1),
        ('Power(W)', 'Power(W)', 'text', 1),
        ('Mode', 'Mode', 'text', 1),
        ('Data', 'Data', 'text', 1),
    ]),
    'neware': ('neware.csv', ',', 0, [
        ('time_s', 'Total Time', 'dur', 1),
        ('current_a', 'Current(mA)', 'num', 0.001),
        ('voltage_v', 'Voltage(V)', 'num', 1),
        ('temperature_c', 'T1(\u2103)', 'num', 1),
        ('cycle', 'Cycle Index', 'num', 1),
        ('step', 'Step Index', 'num', 1),
        ('capacity_ah', 'Capacity(mAh)', 'num', 0.001),
        ('energy_wh', 'Energy(mWh)', 'num', 0.001),
        ('charge_capacity_ah', 'Chg. Cap.(mAh)', 'num', 0.001),
        ('discharge_capacity_ah', 'DChg. Cap.(mAh)', 'num', 0.001),
        ('charge_energy_wh', 'Chg. Energy(mWh)', 'num', 0.001),
        ('discharge_energy_wh', 'DChg. Energy(mWh)', 'num', 0.001),
        ('DataPoint', 'DataPoint', 'text', 1),
        ('Step Type', 'Step Type', 'text', 1),
        ('Time', 'Time', 'text', 1),
        ('Date', 'Date', 'text', 1),
        ('Power(mW)', 'Power(mW)', 'text', 1),
    ]),
    'biologic': ('biologic.mpt', '\t', 14, [
        ('time_s', 'time/s', 'num', 1),
        ('current_a', 'I/mA', 'num', 0.001),
        ('voltage_v', 'Ewe/V', 'num', 1),
        ('temperature_c', 'Temperature/\u00b0C', 'num', 1),
        ('cycle', 'cycle number', 'num', 1),
        ('step', 'Ns', 'num', 1),
        ('capacity_ah', '(Q-Qo)/mA.h', 'num', 0.001),
        ('charge_energy_wh', 'Energy charge/W.h', 'num', 1),
        ('discharge_energy_wh', 'Energy discharge/W.h', 'num', 1),
        ('mode', 'mode', 'text', 1),
        ('ox/red', 'ox/red', 'text', 1),
        ('error', 'error', 'text', 1),
        ('control changes', 'control changes', 'text', 1),
        ('Ns changes', 'Ns changes', 'text', 1),
        ('counter inc.', 'counter inc.', 'text', 1),
        ('control/V/mA', 'control/V/mA', 'text', 1),
        ('dq/mA.h', 'dq/mA.h', 'text', 1),
        ('Q charge/discharge/mA.h', 'Q charge/discharge/mA.h', 'text', 1),
        ('half cycle', 'half cycle', 'text', 1),
    ]),
    'nasa': ('nasa.csv', ',', 0, [
        ('time_s', 'Time', 'num', 1),
        ('current_a', 'Current_measured', 'num', 1),
        ('voltage_v', 'Voltage_measured', 'num', 1),
        ('temperature_c', 'Temperature_measured', 'num', 1),
        ('Current_load', 'Current_load', 'text', 1),
        ('Voltage_load', 'Voltage_load', 'text', 1),
    ]),
    'batteryarchive': ('batteryarchive.csv', ',', 0, [
        ('time_s', 'Test_Time (s)', 'num', 1),
        ('current_a', 'Current (A)', 'num', 1),
        ('voltage_v', 'Voltage (V)', 'num', 1),
        ('temperature_c', 'Cell_Temperature (C)', 'num', 1),
        ('cycle', 'Cycle_Index', 'num', 1),
        ('charge_capacity_ah', 'Charge_Capacity (Ah)', 'num', 1),
        ('discharge_capacity_ah', 'Discharge_Capacity (Ah)', 'num', 1),
        ('charge_energy_wh', 'Charge_Energy (Wh)', 'num', 1),
        ('discharge_energy_wh', 'Discharge_Energy (Wh)', 'num', 1),
        ('Date_Time', 'Date_Time', 'text', 1),
        ('Environment_Temperature (C)', 'Environment_Temperature (C)', 'text', 1),
    ]),
}

SIGN = {'C': 1, 'D': -1}


def convert(spec, row, index):
    kind, scale = spec[2], spec[3]
    text = row[index[spec[1]]]
    if kind == 'text':
        return text
    if text == '':
        return ''
    if kind == 'dur':
        return fmt(seconds(text) * scale)
    k = {1: 0, 0.1: 1, 0.01: 2, 0.001: 3, 1e-6: 6}.get(scale)
    if k is not None:
        x = float(Decimal(text.strip()).scaleb(-k))
    else:
        x = float(text) * scale
    if kind == 'sgn':
        sign = SIGN.get(row[index[spec[4]]].strip(), 0)
        if sign:
            x = sign * abs(x)
    if kind == 'num' and scale == 1 and fmt(x) != text:
        # The samples write unscaled numbers in shortest form, so that the
        # expected text is the same whether an importer copies them or
        # reformats them.
        sys.exit('%s is not in shortest form' % text)
    return fmt(x)


def make(name):
    path, delim, skip, cols = SAMPLES[name]
    with open(os.path.join(HERE, path), encoding='utf-8', newline='') as f:
        lines = f.read().split('\n')
    if lines[-1] == '':
        lines.pop()
    header = lines[skip].split(delim)
    if header[-1] == '':
        header.pop()		# a trailing delimiter names no column
    # Repeated names (Bitrode's three "Loop") are told apart as NAME#k.
    seen, index = {}, {}
    for i, h in enumerate(header):
        seen[h] = seen.get(h, 0) + 1
        index[h if seen[h] == 1 else None] = i
        index['%s#%d' % (h, seen[h])] = i
    index.pop(None, None)
    out = [[c[0] for c in cols]]
    for line in lines[skip + 1:]:
        row = line.split(delim)
        if len(row) == len(header) + 1 and row[-1] == '':
            row.pop()
        assert len(row) == len(header), (path, line)
        out.append([convert(c, row, index) for c in cols])
    for r in out:
        for field in r:
            assert not any(ch in field for ch in ',"\n\r'), field
    with open(os.path.join(HERE, name + '.expected.csv'), 'w',
              encoding='utf-8', newline='') as f:
        f.write(''.join(','.join(r) + '\n' for r in out))


if __name__ == '__main__':
    for sample in SAMPLES:
        make(sample)
