"""A slow, plain reference of the finger score in ``streams.matching.finger``.

Same definition, written for reading rather than speed: cylinders as boolean arrays built cell by
cell, local similarities with numpy boolean algebra, the ordering with ``sorted``, the relaxation
as a dense double loop. It shares only the parameter constants and the convex hull with the fast
module; tests check that both give the same score on generated fingers.
"""

from __future__ import annotations

import math

import numpy as np

from streams.domain.types import FingerView
from streams.matching import finger as F


def _dphi(a: float, b: float) -> float:
    d = a - b
    if d < -math.pi:
        d += 2.0 * math.pi
    elif d >= math.pi:
        d -= 2.0 * math.pi
    return d


def _hull_distance(px: float, py: float, hull: np.ndarray) -> float:
    """0 inside the counter-clockwise hull polygon, else distance to its nearest edge."""
    h = len(hull)
    edges = [(hull[e], hull[(e + 1) % h]) for e in range(h)]
    if h >= 3 and all((b[0] - a[0]) * (py - a[1]) - (b[1] - a[1]) * (px - a[0]) >= 0.0 for a, b in edges):
        return 0.0
    best = math.inf
    for a, b in edges:
        ex, ey = b[0] - a[0], b[1] - a[1]
        ll = ex * ex + ey * ey
        t = 0.0 if ll == 0.0 else max(0.0, min(1.0, ((px - a[0]) * ex + (py - a[1]) * ey) / ll))
        dx, dy = px - (a[0] + t * ex), py - (a[1] + t * ey)
        best = min(best, math.sqrt(dx * dx + dy * dy))
    return best


def _gd(dtheta: float, k: int) -> float:
    alpha = _dphi(-math.pi + (k + 0.5) * F.DELTA_D, dtheta)
    scale = 1.0 / (F.SIGMA_D * math.sqrt(2.0))
    return 0.5 * (math.erf((alpha + F.DELTA_D / 2) * scale) - math.erf((alpha - F.DELTA_D / 2) * scale))


def cylinders(view: FingerView) -> dict[str, np.ndarray]:
    """Valid cylinders of ``view``: ``cells``/``valid`` (n, NS*NS*ND) bool, and x, y, theta, tie."""
    x = [float(v) for v in view.x]
    y = [-float(v) for v in view.y]
    th = [float(np.mod(np.float64(a), 2.0 * math.pi)) for a in view.angle]
    n = len(x)
    hull = F.convex_hull(np.array(x), np.array(y)) if n else np.zeros((0, 2))
    gs_norm = 1.0 / (F.SIGMA_S * math.sqrt(2.0 * math.pi))
    reach = 3.0 * F.SIGMA_S
    rows, keep = [], []
    for i in range(n):
        near = [t for t in range(n) if t != i and math.sqrt((x[t] - x[i]) ** 2 + (y[t] - y[i]) ** 2) <= F.RADIUS + reach]
        cells = np.zeros(F.CELL_BITS, dtype=bool)
        valid = np.zeros(F.CELL_BITS, dtype=bool)
        in_radius = n_valid = 0
        c, s = math.cos(th[i]), math.sin(th[i])
        for a in range(F.NS):
            for b in range(F.NS):
                oi = (a + 0.5 - F.NS / 2.0) * F.DELTA_S
                oj = (b + 0.5 - F.NS / 2.0) * F.DELTA_S
                if oi * oi + oj * oj > F.RADIUS * F.RADIUS:
                    continue
                in_radius += 1
                px, py = x[i] + c * oi - s * oj, y[i] + s * oi + c * oj
                if _hull_distance(px, py, hull) > F.OMEGA:
                    continue
                n_valid += 1
                for k in range(F.ND):
                    value = 0.0
                    for t in near:  # the others are too far from any cell of this cylinder
                        d = math.sqrt((x[t] - px) ** 2 + (y[t] - py) ** 2)
                        if d > reach:
                            continue
                        gs = gs_norm * math.exp(-d * d / (2.0 * F.SIGMA_S * F.SIGMA_S))
                        value += gs * _gd(_dphi(th[i], th[t]), k)
                    idx = (a * F.NS + b) * F.ND + k
                    valid[idx] = True
                    cells[idx] = value > F.MU_PSI
        rows.append((cells, valid))
        keep.append(n_valid >= F.MIN_VC * in_radius and len(near) >= F.MIN_M)
    idx = [i for i in range(n) if keep[i]]
    xs, ys = np.array([x[i] for i in idx]), np.array([y[i] for i in idx])
    tie = np.hypot(xs - xs.mean(), ys - ys.mean()) if idx else xs
    return {
        "cells": np.array([rows[i][0] for i in idx]).reshape(-1, F.CELL_BITS),
        "valid": np.array([rows[i][1] for i in idx]).reshape(-1, F.CELL_BITS),
        "x": xs, "y": ys, "theta": np.array([th[i] for i in idx]), "tie": tie,
    }  # fmt: skip


def _sigmoid(v: float, mu: float, tau: float) -> float:
    return 1.0 / (1.0 + math.exp(-tau * (v - mu)))


def _rho(A: dict, B: dict, p: tuple[int, int], q: tuple[int, int]) -> float:
    (i1, j1), (i2, j2) = p, q
    da = math.sqrt((A["x"][i1] - A["x"][i2]) ** 2 + (A["y"][i1] - A["y"][i2]) ** 2)
    db = math.sqrt((B["x"][j1] - B["x"][j2]) ** 2 + (B["y"][j1] - B["y"][j2]) ** 2)
    d1 = abs(da - db)
    if d1 > F.D1_CUT or _sigmoid(d1, F.MU_RHO1, F.TAU_RHO1) < F.RHO_CUTOFF:
        return 0.0
    r2 = _sigmoid(d1, F.MU_RHO1, F.TAU_RHO1) * _sigmoid(
        abs(_dphi(_dphi(A["theta"][i1], A["theta"][i2]), _dphi(B["theta"][j1], B["theta"][j2]))), F.MU_RHO2, F.TAU_RHO2
    )
    if r2 < F.RHO_CUTOFF:
        return 0.0
    ra = _dphi(A["theta"][i1], math.atan2(A["y"][i1] - A["y"][i2], A["x"][i1] - A["x"][i2]))
    rb = _dphi(B["theta"][j1], math.atan2(B["y"][j1] - B["y"][j2], B["x"][j1] - B["x"][j2]))
    return r2 * _sigmoid(abs(_dphi(ra, rb)), F.MU_RHO3, F.TAU_RHO3)


def score_cylinders(A: dict, B: dict) -> float:
    """The MCC score of two cylinder sets from ``cylinders``."""
    na, nb = len(A["x"]), len(B["x"])
    if na == 0 or nb == 0:
        return 0.0
    cands = []  # (ordering key, i, j, local similarity)
    for i in range(na):
        for j in range(nb):
            if abs(_dphi(A["theta"][i], B["theta"][j])) > F.DELTA_THETA:
                continue
            both = A["valid"][i] & B["valid"][j]
            if int(both.sum()) < F.MIN_ME_BITS:
                continue
            ca, cb = A["cells"][i] & both, B["cells"][j] & both
            if ca.sum() + cb.sum() == 0:
                continue
            sim = 1.0 - math.sqrt(int((ca ^ cb).sum())) / (math.sqrt(int(ca.sum())) + math.sqrt(int(cb.sum())))
            if sim > 0.0:
                cands.append((-(sim - F.TIE_EPS * (A["tie"][i] + B["tie"][j])), i, j, sim))
    cands.sort(key=lambda c: c[0])
    cands = cands[: F.CANDIDATES_PER_PAIR * min(na, nb)]
    pairs, l0, used_a, used_b = [], [], set(), set()
    for _, i, j, sim in cands:
        if i not in used_a and j not in used_b and len(pairs) < min(na, nb):
            used_a.add(i)
            used_b.add(j)
            pairs.append((i, j))
            l0.append(sim)
    nr = len(pairs)
    if nr == 0:
        return 0.0
    lam = list(l0)
    if nr >= 2:
        rho = [[0.0 if p == q else _rho(A, B, pairs[p], pairs[q]) for q in range(nr)] for p in range(nr)]
        for _ in range(F.N_REL):
            lam = [
                F.W_R * lam[p] + (1.0 - F.W_R) * sum(rho[p][q] * lam[q] for q in range(nr) if q != p and rho[p][q] != 0.0) / (nr - 1)
                for p in range(nr)
            ]  # fmt: skip
    z = _sigmoid(float(min(na, nb)), F.MU_P, F.TAU_P)
    n_p = F.MIN_NP + int(math.floor(z * (F.MAX_NP - F.MIN_NP) + 0.5))
    best = sorted(range(nr), key=lambda p: -(lam[p] / l0[p]))
    return sum(lam[p] for p in best[: min(n_p, nr)]) / n_p


def reference_score(a: FingerView, b: FingerView) -> float:
    """Reference similarity of two finger views (0 when both positions are known and differ)."""
    if a.position and b.position and a.position != b.position:
        return 0.0
    return score_cylinders(cylinders(a), cylinders(b))
