#!/usr/bin/env python3
"""soc_ekf.py - a plain Python/numpy extended Kalman filter of state of
charge on a bt-ecm(5) model: the reference loop scripts/bench/soc times.

The same filter as bt-soc --method ekf at 25 C without hysteresis
adaptation: state [soc, v_1.., h], OCV by linear interpolation of the
table's 25 C points (a faster shortcut than bt-soc's PCHIP), the
Joseph-form update, one row at a time as a streaming estimator must.
Reads CSV (time_s,current_a,voltage_v,...) and writes soc per row.
"""
import sys

import numpy as np


def load(path):
    head, rows = {}, []
    with open(path) as f:
        table = False
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line == "table":
                table = True
                continue
            if table:
                rows.append(line.split(","))
            else:
                k, _, v = line.partition(" ")
                head[k] = v
    cols = rows[0]
    data = np.array([[float(x) for x in r] for r in rows[1:]])
    data = data[data[:, cols.index("temperature_c")] == 25.0]
    return head, cols, data


def main():
    head, cols, t = load(sys.argv[1])
    q_ah = float(head["capacity_ah"])
    n_rc = int(head["rc_pairs"])
    soc_g = t[:, cols.index("soc")]
    ocv_g = t[:, cols.index("ocv_v")]
    r0_g = t[:, cols.index("r0_ohm")]
    r_g = [t[:, cols.index("r%d_ohm" % (k + 1))] for k in range(n_rc)]
    tau_g = [t[:, cols.index("tau%d_s" % (k + 1))] for k in range(n_rc)]
    n = 1 + n_rc
    x = np.zeros(n)
    x[0] = 0.9
    p = np.diag([0.2 ** 2] + [0.01 ** 2] * n_rc)
    qd = np.array([2e-5 ** 2] + [1e-4 ** 2] * n_rc)
    rv = 0.005 ** 2
    out = sys.stdout
    out.write("soc\n")
    prev_t = prev_i = None
    with open(sys.argv[2]) as f:
        f.readline()
        for line in f:
            fs = line.split(",")
            tt, i, v = float(fs[0]), float(fs[1]), float(fs[2])
            if prev_t is not None:
                dt = tt - prev_t
                a = np.eye(n)
                b = np.zeros(n)
                b[0] = dt / (3600 * q_ah)
                for k in range(n_rc):
                    e = np.exp(-dt / np.interp(x[0], soc_g, tau_g[k]))
                    a[1 + k, 1 + k] = e
                    b[1 + k] = np.interp(x[0], soc_g, r_g[k]) * (1 - e)
                x = a @ x + b * prev_i
                p = a @ p @ a.T + np.outer(b, b) * 0.01 ** 2 + np.diag(qd) * dt
            h = np.ones(n)
            k0 = np.searchsorted(soc_g, x[0]).clip(1, len(soc_g) - 1)
            h[0] = (ocv_g[k0] - ocv_g[k0 - 1]) / (soc_g[k0] - soc_g[k0 - 1])
            vm = np.interp(x[0], soc_g, ocv_g) + np.interp(x[0], soc_g, r0_g) * i + x[1:].sum()
            s = h @ p @ h + rv
            kg = p @ h / s
            x = x + kg * (v - vm)
            ikh = np.eye(n) - np.outer(kg, h)
            p = ikh @ p @ ikh.T + np.outer(kg, kg) * rv
            out.write("%.6f\n" % x[0])
            prev_t, prev_i = tt, i


if __name__ == "__main__":
    main()
