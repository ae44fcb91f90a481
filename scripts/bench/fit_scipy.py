#!/usr/bin/python3
"""fit_scipy.py - the baseline of scripts/bench/fit: bt-fit's pulse-segment
fit (--mode hppc, whole segments, the model's values) solved with
scipy.optimize.least_squares, for the timing and parameter comparison.

It rebuilds the same problem from the same CSV by bt-fit(1)'s documented
rules: rests (|i| <= 1 % of the largest |i|), long rests (>= 300 s, or the
one at the start), OCV points (mean rested voltage over the last 60 s), the
fitted rows (within 0.01 soc of the segment's start, where the OCV is a
line through the rested point with a fitted slope; and the rest that ends
the segment, where the OCV is the next rested point plus a fitted offset),
the log parameters (log R0, log R_k, log tau_1, log(tau_2 - tau_1), slope,
and the offset when the segment ends in a rest), the exact zero-order-hold RC update (here with
scipy.signal.lfilter, valid for the uniform sampling of the bench data;
or, with --loop, a loop over the rows that takes any sampling, as bt-fit
does), and the three starts of bt-fit.  Its own code, not a port: only
the problem is shared.

    fit_scipy.py [--loop] DATA.csv SOC0 CAPACITY_AH RC_PAIRS RUNS

prints one line per segment (soc, r0, r_k..., tau_k...), then the median
fit time of RUNS runs (excluding reading the CSV), wall ('time') and CPU
('cpu', the process's user and system time).
"""
import sys
import time

import numpy as np
from scipy.interpolate import PchipInterpolator
from scipy.optimize import least_squares
from scipy.signal import lfilter

REST_FRACTION = 0.01
MIN_REST_S = 300.0
REST_AVERAGE_S = 60.0
OCV_SPAN = 0.01
R0_STEP_FRACTION = 0.5
INIT_RC_FRACTION = 0.5
TAU_STARTS = {1: [[10], [60], [300]], 2: [[5, 60], [10, 300], [30, 1000]],
              3: [[2, 20, 200], [5, 60, 600], [10, 200, 2000]]}
TOL = 1e-12


def load(path):
    with open(path) as f:
        head = f.readline().strip().split(',')
    d = np.loadtxt(path, delimiter=',', skiprows=1)
    col = {name: k for k, name in enumerate(head)}
    return d[:, col['time_s']], d[:, col['current_a']], d[:, col['voltage_v']]


def problem(t, i, v, soc0, q_ah):
    thr = REST_FRACTION * np.max(np.abs(i))
    rest = np.abs(i) <= thr
    dq = np.where(rest[:-1], 0.0, i[:-1] * np.diff(t)) / 3600.0
    soc = soc0 + np.concatenate([[0.0], np.cumsum(dq)]) / q_ah
    ends, k, n = [], 0, len(t)
    while k < n:
        if not rest[k]:
            k += 1
            continue
        a = k
        while k + 1 < n and rest[k + 1]:
            k += 1
        if t[k] - t[a] >= MIN_REST_S or a == 0:
            ends.append(k)
        k += 1

    def rested(b):
        k = b
        while k > 0 and rest[k - 1] and t[b] - t[k - 1] <= REST_AVERAGE_S:
            k -= 1
        return v[k:b + 1].mean()
    segs = []
    for j, e in enumerate(ends):
        last = ends[j + 1] if j + 1 < len(ends) else n - 1
        if last > e + 1:
            segs.append((e, last, j + 1 < len(ends)))
    pts = {}
    for first, last, rested_end in segs:
        for r in ([first, last] if rested_end else [first]):
            z = min(max(soc[r], 0.0), 1.0) if -1e-6 <= soc[r] <= 1 + 1e-6 else None
            if z is not None:
                pts[round(z, 9)] = (z, rested(r))
    zs = np.array(sorted(p[0] for p in pts.values()))
    vs = np.array([pts[round(z, 9)][1] for z in zs])
    return thr, soc, segs, zs, vs, rested


def rc_loop(ii, dts, r, tau):
    """The voltage of one RC pair before each row, any sampling."""
    out = np.empty(len(ii))
    x = 0.0
    for m in range(len(ii)):
        out[m] = x
        if m < len(dts):
            a = np.exp(-dts[m] / tau)
            x = a * x + r * (1.0 - a) * ii[m]
    return out


def fit_segment(t, i, v, soc, thr, seg, zs, vs, rested, nrc, q_ah, loop):
    first, last, rested_end = seg
    tt, ii, vv = t[first:last + 1], i[first:last + 1], v[first:last + 1]
    zz = soc[first:last + 1]
    rest_from = last
    while rest_from > first and abs(i[rest_from - 1]) <= thr:
        rest_from -= 1
    idx = np.arange(first, last + 1)
    fit_end = rested_end & (idx >= rest_from)
    local = ~fit_end & (np.abs(zz - zz[0]) <= OCV_SPAN)
    use = local | fit_end
    has_end = bool(fit_end.any())
    if use.sum() < 2 + 2 * nrc + 1 + has_end + 2:
        return None
    dts = np.diff(tt)
    if not loop and not np.allclose(dts, dts[0]):
        raise SystemExit('fit_scipy.py: lfilter needs uniform sampling (use --loop)')
    dt = dts[0]
    # The state's soc counts every current (bt_ecm_step), from the start.
    zstate = zz[0] + np.concatenate([[0.0], np.cumsum(ii[:-1] * dts)]) / (3600.0 * q_ah)
    v0 = rested(first)
    vend = rested(last) if rested_end else 0.0
    ocv = np.where(fit_end, vend, 0.0)
    iu, vu, zu, localu = ii[use], vv[use], zstate[use], local[use]
    ocv_u = ocv[use]

    def residual(th):
        r0 = np.exp(np.clip(th[0], -30, 30))
        rk = np.exp(np.clip(th[1:1 + nrc], -30, 30))
        tau = np.cumsum(np.exp(np.clip(th[1 + nrc:1 + 2 * nrc], -30, 30)))
        slope = th[1 + 2 * nrc]
        offset = th[2 + 2 * nrc] if has_end else 0.0
        vm = r0 * iu + np.where(localu, v0 + slope * (zu - zs0), ocv_u + offset)
        for k in range(nrc):
            if loop:
                vk = rc_loop(ii, dts, rk[k], tau[k])
            else:
                a = np.exp(-dt / tau[k])
                # v[m+1] = a v[m] + R (1 - a) i[m]: the state before row m.
                vk = lfilter([0.0, rk[k] * (1 - a)], [1.0, -a], ii)
            vm = vm + vk[use]
        return vm - vu
    zs0 = zz[0]
    # R0 from the voltage steps: median dV/dI over the largest changes.
    di = np.diff(ii)
    big = np.max(np.abs(di))
    sel = np.abs(di) >= R0_STEP_FRACTION * big
    rr = np.diff(vv)[sel] / di[sel]
    rr = rr[rr > 0]
    r0 = float(np.median(rr)) if len(rr) else 0.01
    slope0 = float(PchipInterpolator(zs, vs)(zs0, 1))
    best = None
    for taus in TAU_STARTS[nrc]:
        th0 = np.concatenate([[np.log(r0)], np.full(nrc, np.log(INIT_RC_FRACTION * r0)),
                              np.log(np.diff(np.concatenate([[0.0], taus]))), [slope0],
                              [0.0] if has_end else []])
        res = least_squares(residual, th0, method='lm', xtol=TOL, ftol=TOL, gtol=TOL,
                            max_nfev=200 * (len(th0) + 1))
        ssr = float(res.fun @ res.fun)
        if best is None or ssr < best[0]:
            best = (ssr, res.x)
    th = best[1]
    return (zs0, np.exp(th[0]), np.exp(th[1:1 + nrc]),
            np.cumsum(np.exp(th[1 + nrc:1 + 2 * nrc])))


def main():
    args = sys.argv[1:]
    loop = args[0] == '--loop'
    if loop:
        args = args[1:]
    path, soc0, q_ah, nrc, runs = args[0], float(args[1]), float(args[2]), \
        int(args[3]), int(args[4])
    t, i, v = load(path)
    times, cpus, out = [], [], None
    for _ in range(runs):
        start, cpu = time.perf_counter(), time.process_time()
        thr, soc, segs, zs, vs, rested = problem(t, i, v, soc0, q_ah)
        out = [fit_segment(t, i, v, soc, thr, s, zs, vs, rested, nrc, q_ah, loop)
               for s in segs]
        times.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    for r in out:
        if r is not None:
            print(','.join(repr(float(x)) for x in [r[0], r[1], *r[2], *r[3]]))
    print('time %.6f' % sorted(times)[len(times) // 2])
    print('cpu %.6f' % sorted(cpus)[len(cpus) // 2])


if __name__ == '__main__':
    main()
