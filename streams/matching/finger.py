"""Fingerprint minutiae matching: Minutia Cylinder-Code (bit form) with greedy pairing + relaxation.

Method (Cappelli, Ferrara, Maltoni, "Minutia Cylinder-Code", IEEE TPAMI 32(12), 2010; see
docs/finger.md for the choice and the measured figures):

1. ``prepare``: every minutia gets a cylinder, a 16 x 16 x 6 grid of cells around it, turned to
   its direction. A cell holds a 1 when the neighbours near the cell centre, weighted by a spatial
   Gaussian and by how well their direction difference fits the cell's direction bin, sum above
   ``MU_PSI`` (MCC-SB, the binarised form). Cells outside the convex hull of the minutiae
   (enlarged by ``OMEGA``) are invalid, so borders and partial prints do not look empty.
   Cylinders are translation and rotation invariant; minutiae with too few valid cells or
   neighbours are dropped. Bits are packed into uint64 words for popcount. ``prepare`` runs one
   compiled pass (``_index``) that skips work the result cannot depend on (dropped cylinders,
   cells out of a neighbour's reach, hull edges too far to matter; see its docstring) and gives
   the same arrays, bit for bit, as ``prepare_reference``, the plain form it is tested against.
2. ``score``: local similarity of every minutia pair (directions within ``DELTA_THETA``, enough
   jointly valid cells) is ``1 - |a xor b| / (|a| + |b|)`` in Euclidean norms over the jointly
   valid cells; pairs are taken greedily one-to-one by local similarity (ties broken by a
   role-symmetric key so ``score(a, b) == score(b, a)``); a relaxation (LSS-R's) rewards pairs
   whose distances and angles agree with the other pairs; the score is the mean relaxed
   similarity of the ``n_P`` most efficient pairs, divided by ``n_P`` when fewer exist.

The probe is indexed once; ``score_many`` scores a packed block of candidates in one compiled
call. ``streams.matching.finger_reference`` computes the same score slowly and plainly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit

from streams.domain.types import FingerView
from streams.matching.bits import popcount as _popcount

# --- MCC parameters (the paper's values for 500 dpi) -------------------------------------------
#: Cylinder radius (px), spatial cells per side, direction bins.
RADIUS = 70.0
NS = 16
ND = 6
SIGMA_S = 28.0 / 3.0
SIGMA_D = 2.0 * math.pi / 9.0
#: A cell bit is 1 when its contribution exceeds MU_PSI (step form of the paper's sigmoid).
MU_PSI = 0.01
#: Convex-hull enlargement (px) that bounds valid cells.
OMEGA = 50.0
#: A cylinder is kept when >= MIN_VC of its in-radius cells are valid and it has >= MIN_M neighbours.
MIN_VC = 0.75
MIN_M = 2
#: Two cylinders are compared only if >= MIN_ME of the in-radius cells are valid in both ...
MIN_ME = 0.60
#: ... and their minutiae directions differ by at most DELTA_THETA.
DELTA_THETA = math.pi / 2.0
#: Number of pairs averaged: MIN_NP + sigmoid(min(nA, nB); MU_P, TAU_P) * (MAX_NP - MIN_NP).
MIN_NP, MAX_NP, MU_P, TAU_P = 4, 12, 20.0, 0.4
#: Relaxation: iterations, inertia, and sigmoid (mu, tau) of distance / direction / radial terms.
N_REL, W_R = 5, 0.5
MU_RHO1, TAU_RHO1 = 5.0, -1.6
MU_RHO2, TAU_RHO2 = math.pi / 12.0, -30.0
MU_RHO3, TAU_RHO3 = math.pi / 12.0, -30.0

#: Pair ordering key is similarity - TIE_EPS * (distance-to-centroid sum): a role-symmetric tie-break.
TIE_EPS = 1e-12
#: Greedy pairing looks at the best CANDIDATES_PER_PAIR * min(nA, nB) pairs only (speed).
CANDIDATES_PER_PAIR = 3
#: Compatibility below RHO_CUTOFF counts as 0 (its remaining factors are then not computed).
RHO_CUTOFF = 1e-6
#: Distance disagreement (px) beyond which the distance factor alone is below RHO_CUTOFF.
D1_CUT = MU_RHO1 + math.log(1.0 / RHO_CUTOFF - 1.0) / -TAU_RHO1

DELTA_S = 2.0 * RADIUS / NS
DELTA_D = 2.0 * math.pi / ND
CELL_BITS = NS * NS * ND
WORDS = (CELL_BITS + 63) // 64
#: The ND bits of one cell, set.
CELL_ONES = (1 << ND) - 1
#: Cells of the grid whose centre lies within RADIUS (the cylinder proper).
CELLS_IN_RADIUS = sum(
    1
    for a in range(NS)
    for b in range(NS)
    if ((a + 0.5 - NS / 2) * DELTA_S) ** 2 + ((b + 0.5 - NS / 2) * DELTA_S) ** 2 <= RADIUS**2
)
MIN_ME_BITS = int(math.ceil(MIN_ME * CELLS_IN_RADIUS * ND))
#: A square above OMEGA**2 has its root above OMEGA (true of 50.0; not of every float): a point is
#: then within OMEGA of the hull exactly when some edge's squared distance is <= OMEGA**2.
_SQRT_KEEPS_OMEGA = math.sqrt(math.nextafter(OMEGA * OMEGA, math.inf)) > OMEGA

# --- Operating points: single-finger score thresholds (see docs/finger.md) ---------------------
#: Score at or above which the single-finger false-match rate, measured by
#: benchmarks/bench_finger.py on 199,800 generated same-position impostor pairs (and on their
#: 58,764 same-pattern-class subset; the larger of the two thresholds, rounded up), is at most the
#: stated rate. FNMR there on 1,000 genuine pairs: 1.0%, 2.7%, 4.8%. The scale is compressed
#: (impostor median 0.0125, genuine median 0.074): use ``finger_llr`` to combine fingers.
FINGER_SCORE_AT_FMR_1E2 = 0.0156
FINGER_SCORE_AT_FMR_1E3 = 0.0189
FINGER_SCORE_AT_FMR_1E4 = 0.0229

# --- Calibration and fusion ---------------------------------------------------------------------
#: Per-finger log-likelihood ratio (genuine vs impostor) by linear interpolation in this table of
#: (score, LLR) knots, measured by ``benchmarks/bench_finger.py`` (``calibrate_llr``) on generated
#: pairs; flat beyond the end knots, and clipped to [LLR_MIN, LLR_MAX] so that no single finger
#: (a smudge, or a lucky impostor) decides a fused pair alone.
FINGER_LLR_TABLE: tuple[tuple[float, float], ...] = (
    (0.0117, -3.0), (0.01247, -3.0), (0.01335, -3.0), (0.01432, -2.41), (0.01534, -1.929),
    (0.01636, 0.513), (0.01743, 1.707), (0.0187, 2.693), (0.02076, 3.921), (0.0232, 5.254),
    (0.02711, 7.074), (0.03549, 7.736), (0.04884, 8.0), (0.0776, 8.0), (0.1332, 8.0),
)  # fmt: skip
LLR_MIN, LLR_MAX = -3.0, 8.0


@dataclass(frozen=True, slots=True)
class FingerFeatures:
    """A finger indexed for matching: the valid cylinders and their minutiae (math frame, y up)."""

    position: int
    bits: np.ndarray  # (n, WORDS) uint64 cylinder cells
    mask: np.ndarray  # (n, WORDS) uint64 valid cells
    x: np.ndarray  # (n,) float64
    y: np.ndarray  # (n,) float64
    theta: np.ndarray  # (n,) float64 radians
    tie: np.ndarray  # (n,) float64 distance to the centroid, a role-free tie-break key
    quality: int = 0

    @property
    def count(self) -> int:
        return int(self.x.shape[0])


@dataclass(frozen=True, slots=True)
class PackedFingers:
    """Many ``FingerFeatures`` in contiguous arrays, row ranges given by ``offsets``."""

    bits: np.ndarray
    mask: np.ndarray
    x: np.ndarray
    y: np.ndarray
    theta: np.ndarray
    tie: np.ndarray
    offsets: np.ndarray  # (k + 1,) int64
    positions: np.ndarray  # (k,) int64

    def __len__(self) -> int:
        return int(self.positions.shape[0])


def convex_hull(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Convex hull (Andrew's monotone chain), counter-clockwise, as an (h, 2) float64 array."""
    pts = sorted(set(zip(x.tolist(), y.tolist())))
    if len(pts) <= 2:
        return np.array(pts, dtype=np.float64).reshape(-1, 2)

    def half(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        out: list[tuple[float, float]] = []
        for p in points:
            while len(out) >= 2 and (
                (out[-1][0] - out[-2][0]) * (p[1] - out[-2][1]) - (out[-1][1] - out[-2][1]) * (p[0] - out[-2][0])
            ) <= 0:
                out.pop()
            out.append(p)
        return out

    lower, upper = half(pts), half(pts[::-1])
    return np.array(lower[:-1] + upper[:-1], dtype=np.float64)


@njit(cache=True)
def _dphi(a, b):
    """Angle difference a - b wrapped to [-pi, pi)."""
    d = a - b
    if d < -math.pi:
        d += 2.0 * math.pi
    elif d >= math.pi:
        d -= 2.0 * math.pi
    return d


@njit(cache=True)
def _inside_hull(px, py, hull):
    """True inside (or on) the counter-clockwise hull of at least three points."""
    h = hull.shape[0]
    if h < 3:
        return False
    for e in range(h):
        ax, ay = hull[e, 0], hull[e, 1]
        ex, ey = hull[(e + 1) % h, 0] - ax, hull[(e + 1) % h, 1] - ay
        if ex * (py - ay) - ey * (px - ax) < 0.0:
            return False
    return True


@njit(cache=True)
def _edge_distance2(px, py, hull, e):
    """Squared distance from the point to hull edge ``e``."""
    h = hull.shape[0]
    ax, ay = hull[e, 0], hull[e, 1]
    ex, ey = hull[(e + 1) % h, 0] - ax, hull[(e + 1) % h, 1] - ay
    ll = ex * ex + ey * ey
    t = 0.0 if ll == 0.0 else max(0.0, min(1.0, ((px - ax) * ex + (py - ay) * ey) / ll))
    dx, dy = px - (ax + t * ex), py - (ay + t * ey)
    return dx * dx + dy * dy


@njit(cache=True)
def _hull_distance(px, py, hull):
    """0 inside the counter-clockwise hull, else the distance to its boundary."""
    if hull.shape[0] == 0:
        return 1e18
    if _inside_hull(px, py, hull):
        return 0.0
    best = 1e36
    for e in range(hull.shape[0]):
        best = min(best, _edge_distance2(px, py, hull, e))
    return math.sqrt(best)  # sqrt is monotonic: the root of the least square is the least root


@njit(cache=True)
def _far_from_hull(px, py, hull, limit):
    """``_hull_distance(px, py, hull) > limit``, stopping at the first edge within ``limit``."""
    if hull.shape[0] == 0:
        return True
    if _inside_hull(px, py, hull):
        return False
    limit2 = limit * limit
    best = 1e36
    for e in range(hull.shape[0]):
        d2 = _edge_distance2(px, py, hull, e)
        if d2 <= limit2:
            return False  # sqrt is monotonic and exact at limit**2
        best = min(best, d2)
    return math.sqrt(best) > limit  # as _hull_distance, to the last rounding


@njit(cache=True)
def _direction_weight(dtheta, k):
    """G_D: share of a Gaussian (SIGMA_D) around ``dtheta`` falling in direction bin ``k``."""
    alpha = _dphi(-math.pi + (k + 0.5) * DELTA_D, dtheta)
    scale = 1.0 / (SIGMA_D * math.sqrt(2.0))
    return 0.5 * (math.erf((alpha + DELTA_D / 2) * scale) - math.erf((alpha - DELTA_D / 2) * scale))


@njit(cache=True)
def _cylinders(x, y, th, hull, bits, mask, keep):
    """Fill ``bits``/``mask`` (n, WORDS) and ``keep`` (n,) with the MCC-SB cylinders.

    A cell's value sums, over neighbours t in index order within 3 SIGMA_S of the cell centre,
    G_S(distance) * G_D(direction difference, bin); G_D depends only on (i, t) so it is
    computed once per neighbour, not per cell. The loop runs neighbour by neighbour over only
    the cells near it (a window in the cylinder's own frame, one cell wider than the reach), which
    adds the same terms in the same order per cell as a loop over every cell, at a fifth of the
    distance tests.
    """
    n = x.shape[0]
    gs_norm = 1.0 / (SIGMA_S * math.sqrt(2.0 * math.pi))
    reach = 3.0 * SIGMA_S
    near = np.empty(n, dtype=np.int64)
    gd = np.empty((n, ND))
    cx = np.empty((NS, NS))
    cy = np.empty((NS, NS))
    usable = np.zeros((NS, NS), dtype=np.bool_)
    acc = np.empty((NS, NS, ND))
    span = int(math.ceil(reach / DELTA_S)) + 1
    for i in range(n):
        m = 0
        for t in range(n):
            if t != i and math.sqrt((x[t] - x[i]) ** 2 + (y[t] - y[i]) ** 2) <= RADIUS + reach:
                near[m] = t
                for k in range(ND):
                    gd[m, k] = _direction_weight(_dphi(th[i], th[t]), k)
                m += 1
        c, s = math.cos(th[i]), math.sin(th[i])
        in_radius = 0
        valid = 0
        for a in range(NS):
            for b in range(NS):
                usable[a, b] = False
                oi = (a + 0.5 - NS / 2.0) * DELTA_S
                oj = (b + 0.5 - NS / 2.0) * DELTA_S
                if oi * oi + oj * oj > RADIUS * RADIUS:
                    continue
                in_radius += 1
                px = x[i] + c * oi - s * oj
                py = y[i] + s * oi + c * oj
                if _far_from_hull(px, py, hull, OMEGA):
                    continue
                valid += 1
                usable[a, b] = True
                cx[a, b] = px
                cy[a, b] = py
                for k in range(ND):
                    acc[a, b, k] = 0.0
        for r in range(m):
            t = near[r]
            # the neighbour in the cylinder's frame, and the cells whose centres may reach it
            u = c * (x[t] - x[i]) + s * (y[t] - y[i])
            v = -s * (x[t] - x[i]) + c * (y[t] - y[i])
            a_mid = int(math.floor(u / DELTA_S + NS / 2.0))
            b_mid = int(math.floor(v / DELTA_S + NS / 2.0))
            for a in range(max(0, a_mid - span), min(NS, a_mid + span + 1)):
                for b in range(max(0, b_mid - span), min(NS, b_mid + span + 1)):
                    if not usable[a, b]:
                        continue
                    dx, dy = x[t] - cx[a, b], y[t] - cy[a, b]
                    d = math.sqrt(dx * dx + dy * dy)
                    if d > reach:
                        continue
                    gs = gs_norm * math.exp(-d * d / (2.0 * SIGMA_S * SIGMA_S))
                    for k in range(ND):
                        acc[a, b, k] += gs * gd[r, k]
        for a in range(NS):
            for b in range(NS):
                if not usable[a, b]:
                    continue
                base = (a * NS + b) * ND
                for k in range(ND):
                    idx = base + k
                    mask[i, idx >> 6] |= np.uint64(1) << np.uint64(idx & 63)
                    if acc[a, b, k] > MU_PSI:
                        bits[i, idx >> 6] |= np.uint64(1) << np.uint64(idx & 63)
        keep[i] = valid >= MIN_VC * in_radius and m >= MIN_M

@njit(cache=True)
def _hull(x, y):
    """``convex_hull`` compiled: the same points in the same order, as an (h, 2) float64 array.

    The points are sorted (x, then y; insertion sort, stable, so of equal points the first one
    given is kept, as ``set`` keeps it) and deduplicated, then Andrew's monotone chain runs with
    the same cross-product expression and the same pop rule, so each hull vertex is the same
    float.
    """
    n = x.shape[0]
    order = np.empty(n, dtype=np.int64)
    for i in range(n):
        j = i
        while j > 0 and (x[order[j - 1]] > x[i] or (x[order[j - 1]] == x[i] and y[order[j - 1]] > y[i])):
            order[j] = order[j - 1]
            j -= 1
        order[j] = i
    px = np.empty(n)
    py = np.empty(n)
    k = 0
    for r in range(n):
        i = order[r]
        if k and x[i] == px[k - 1] and y[i] == py[k - 1]:
            continue
        px[k] = x[i]
        py[k] = y[i]
        k += 1
    if k <= 2:
        out = np.empty((k, 2))
        for r in range(k):
            out[r, 0], out[r, 1] = px[r], py[r]
        return out
    # lower chain over the sorted points, upper chain over them reversed; each drops its last point
    chain = np.empty(2 * k, dtype=np.int64)
    h = 0
    for half in range(2):
        start = h
        for r in range(k):
            p = r if half == 0 else k - 1 - r
            while h - start >= 2:
                o1, o2 = chain[h - 1], chain[h - 2]
                cross = (px[o1] - px[o2]) * (py[p] - py[o2]) - (py[o1] - py[o2]) * (px[p] - px[o2])
                if not cross <= 0.0:  # as ``half``: pop while the turn is not counter-clockwise
                    break
                h -= 1
            chain[h] = p
            h += 1
        h -= 1
    out = np.empty((h, 2))
    for r in range(h):
        out[r, 0], out[r, 1] = px[chain[r]], py[chain[r]]
    return out


@njit(cache=True)
def _near_hull(px, py, xc, yc, hx, hy, ex, ey, ll, slack, near):
    """Set ``near[q] = not _far_from_hull(px[q], py[q], hull, OMEGA)`` for the cells of the
    cylinder centred at ``(xc, yc)``; return how many are near.

    ``hx, hy`` are the hull's vertices, ``ex, ey`` its edge vectors and ``ll`` their squared
    lengths, each the same float that ``_inside_hull`` and ``_edge_distance2`` compute on every
    call (that per-call ``% h`` and reloading were a large part of the cylinders' cost). Two
    exact shortcuts, each with a ``slack`` (1e-9 of the coordinate scale) far above the rounding
    of the expressions compared:

    * inside test: a cell is within RADIUS of the centre, so an edge whose line lies farther than
      RADIUS + slack inside of the centre has a positive cross product at every cell and cannot
      make one outside; the test runs over the other edges (most cylinders: two or three of
      about eleven; none when the cylinder lies well inside the hull);
    * outside: the reference answers "some edge's squared distance <= OMEGA**2" (if none is, the
      root of their least is > OMEGA too: ``_SQRT_KEEPS_OMEGA``). An edge whose line is farther
      than OMEGA + slack cannot be such an edge, so the distance, with its division, is
      computed only for the others.
    """
    h = hx.shape[0]
    limit2 = OMEGA * OMEGA
    wide = OMEGA + slack
    deep = RADIUS + slack
    active = np.empty(h, dtype=np.int64)
    na = 0
    for e in range(h):
        cross = ex[e] * (yc - hy[e]) - ey[e] * (xc - hx[e])
        if not (cross > 0.0 and cross * cross > deep * deep * ll[e]):
            active[na] = e
            na += 1
    count = 0
    for q in range(px.shape[0]):
        x, y = px[q], py[q]
        near[q] = False
        if h == 0:
            continue
        if h >= 3:
            outside = False
            for r in range(na):
                e = active[r]
                outside |= ex[e] * (y - hy[e]) - ey[e] * (x - hx[e]) < 0.0
            if not outside:
                near[q] = True
                count += 1
                continue
        best = 1e36
        for e in range(h):
            if _SQRT_KEEPS_OMEGA and h >= 3:
                cross = ex[e] * (y - hy[e]) - ey[e] * (x - hx[e])
                if cross * cross > wide * wide * ll[e]:
                    continue  # its line, so the edge, is beyond OMEGA
            t = 0.0 if ll[e] == 0.0 else max(0.0, min(1.0, ((x - hx[e]) * ex[e] + (y - hy[e]) * ey[e]) / ll[e]))
            dx, dy = x - (hx[e] + t * ex[e]), y - (hy[e] + t * ey[e])
            d2 = dx * dx + dy * dy
            if d2 <= limit2:
                near[q] = True
                break
            best = min(best, d2)
        if not near[q] and not math.sqrt(best) > OMEGA:
            near[q] = True
        count += near[q]
    return count


@njit(cache=True)
def _index(x, y, th):
    """The kept cylinders of one view: ``(bits, mask, x, y, theta)``, rows in minutia order.

    The same cells, sums and decisions as ``_cylinders`` followed by the ``keep`` selection
    (``prepare_reference``), done for a fraction of the work:

    * the hull is built here (``_hull``) and its edges are computed once, not per cell test;
    * the 208 in-radius cell offsets are listed once, not found per cylinder;
    * a cylinder with fewer than MIN_M neighbours, or too few valid cells, is dropped before any
      cell value is summed (its cells were computed and thrown away);
    * a neighbour visits only the cells whose centres may lie within reach: the bounding rows and
      columns of its reach disc in the cylinder's frame, then a squared-distance test in that
      frame, both widened by ``slack`` (1e-9 of the coordinate scale, orders of magnitude above
      the rounding between the frames), so every cell the reference adds to is visited; the
      distance used, its test and the added term are the reference's own expressions;
    * a neighbour's direction weights are computed when it first reaches a valid cell;
    * bits are packed six (one cell) at a time.

    Each cell adds the same terms in the same (neighbour index) order as the reference, so every
    sum, and every bit, is the same.
    """
    n = x.shape[0]
    hull = _hull(x, y)
    h = hull.shape[0]
    hx = np.empty(h)
    hy = np.empty(h)
    ex = np.empty(h)
    ey = np.empty(h)
    ll = np.empty(h)
    for e in range(h):
        hx[e], hy[e] = hull[e, 0], hull[e, 1]
        ex[e], ey[e] = hull[(e + 1) % h, 0] - hx[e], hull[(e + 1) % h, 1] - hy[e]
        ll[e] = ex[e] * ex[e] + ey[e] * ey[e]
    cell_a = np.empty(NS * NS, dtype=np.int64)
    cell_b = np.empty(NS * NS, dtype=np.int64)
    cell_i = np.empty(NS * NS)
    cell_j = np.empty(NS * NS)
    in_radius = 0
    for a in range(NS):
        for b in range(NS):
            oi = (a + 0.5 - NS / 2.0) * DELTA_S
            oj = (b + 0.5 - NS / 2.0) * DELTA_S
            if oi * oi + oj * oj > RADIUS * RADIUS:
                continue
            cell_a[in_radius], cell_b[in_radius] = a, b
            cell_i[in_radius], cell_j[in_radius] = oi, oj
            in_radius += 1
    gs_norm = 1.0 / (SIGMA_S * math.sqrt(2.0 * math.pi))
    reach = 3.0 * SIGMA_S
    scale = RADIUS
    for t in range(n):
        scale = max(scale, abs(x[t]), abs(y[t]))
    slack = 1e-9 * scale
    wide = reach + slack
    qx = np.empty(in_radius)
    qy = np.empty(in_radius)
    ok = np.empty(in_radius, dtype=np.bool_)
    near = np.empty(n, dtype=np.int64)
    gd = np.empty(ND)
    cx = np.empty((NS, NS))
    cy = np.empty((NS, NS))
    usable = np.zeros((NS, NS), dtype=np.bool_)
    acc = np.empty((NS, NS, ND))
    bits = np.zeros((n, WORDS), dtype=np.uint64)
    mask = np.zeros((n, WORDS), dtype=np.uint64)
    kx = np.empty(n)
    ky = np.empty(n)
    kt = np.empty(n)
    one = np.uint64(1)
    nk = 0
    for i in range(n):
        m = 0
        for t in range(n):
            if t != i and math.sqrt((x[t] - x[i]) ** 2 + (y[t] - y[i]) ** 2) <= RADIUS + reach:
                near[m] = t
                m += 1
        if m < MIN_M:
            continue
        c, s = math.cos(th[i]), math.sin(th[i])
        for q in range(in_radius):
            qx[q] = x[i] + c * cell_i[q] - s * cell_j[q]
            qy[q] = y[i] + s * cell_i[q] + c * cell_j[q]
        valid = _near_hull(qx, qy, x[i], y[i], hx, hy, ex, ey, ll, slack, ok)
        for q in range(in_radius):
            a, b = cell_a[q], cell_b[q]
            usable[a, b] = ok[q]
            if ok[q]:
                cx[a, b] = qx[q]
                cy[a, b] = qy[q]
                for k in range(ND):
                    acc[a, b, k] = 0.0
        if not valid >= MIN_VC * in_radius:
            continue
        for r in range(m):
            t = near[r]
            u = c * (x[t] - x[i]) + s * (y[t] - y[i])
            v = -s * (x[t] - x[i]) + c * (y[t] - y[i])
            a_lo = max(0, math.ceil((u - wide) / DELTA_S + (NS - 1) / 2.0))
            a_hi = min(NS - 1, math.floor((u + wide) / DELTA_S + (NS - 1) / 2.0))
            b_lo = max(0, math.ceil((v - wide) / DELTA_S + (NS - 1) / 2.0))
            b_hi = min(NS - 1, math.floor((v + wide) / DELTA_S + (NS - 1) / 2.0))
            weighed = False
            for a in range(a_lo, a_hi + 1):
                du = (a + 0.5 - NS / 2.0) * DELTA_S - u
                for b in range(b_lo, b_hi + 1):
                    dv = (b + 0.5 - NS / 2.0) * DELTA_S - v
                    if du * du + dv * dv > wide * wide or not usable[a, b]:
                        continue
                    dx, dy = x[t] - cx[a, b], y[t] - cy[a, b]
                    d = math.sqrt(dx * dx + dy * dy)
                    if d > reach:
                        continue
                    if not weighed:
                        for k in range(ND):
                            gd[k] = _direction_weight(_dphi(th[i], th[t]), k)
                        weighed = True
                    gs = gs_norm * math.exp(-d * d / (2.0 * SIGMA_S * SIGMA_S))
                    for k in range(ND):
                        acc[a, b, k] += gs * gd[k]
        for q in range(in_radius):
            a, b = cell_a[q], cell_b[q]
            if not usable[a, b]:
                continue
            pattern = np.uint64(0)
            for k in range(ND):
                if acc[a, b, k] > MU_PSI:
                    pattern |= one << np.uint64(k)
            base = (a * NS + b) * ND
            w, off = base >> 6, np.uint64(base & 63)
            mask[nk, w] |= np.uint64(CELL_ONES) << off
            bits[nk, w] |= pattern << off
            if base % 64 > 64 - ND:  # the cell straddles two words
                mask[nk, w + 1] |= np.uint64(CELL_ONES) >> (np.uint64(64) - off)
                bits[nk, w + 1] |= pattern >> (np.uint64(64) - off)
        kx[nk], ky[nk], kt[nk] = x[i], y[i], th[i]
        nk += 1
    return bits[:nk].copy(), mask[:nk].copy(), kx[:nk].copy(), ky[:nk].copy(), kt[:nk].copy()


def prepare(view: FingerView) -> FingerFeatures:
    """Index one finger view for matching (done once per probe and once per gallery entry).

    One compiled call (``_index``) builds the hull, the cylinders and the kept rows; the angle
    wrap and the tie-break key stay numpy expressions, as in ``prepare_reference``, so every
    returned array is equal to the reference's, bit for bit.
    """
    x = view.x.astype(np.float64)
    y = -view.y.astype(np.float64)  # math frame: y up, so ISO angles are ordinary angles
    th = np.mod(view.angle.astype(np.float64), 2.0 * math.pi)
    bits, mask, x, y, th = _index(x, y, th)
    tie = np.hypot(x - x.mean(), y - y.mean()) if x.size else x
    return FingerFeatures(view.position, bits, mask, x, y, th, tie, int(view.quality))


def prepare_reference(view: FingerView) -> FingerFeatures:
    """``prepare`` as first written (``convex_hull`` in Python, ``_cylinders`` over every
    minutia, then the kept rows selected): the definition ``prepare`` is tested against, and the
    "before" of benchmarks/finger_prepare.py."""
    x = view.x.astype(np.float64)
    y = -view.y.astype(np.float64)
    th = np.mod(view.angle.astype(np.float64), 2.0 * math.pi)
    n = x.shape[0]
    bits = np.zeros((n, WORDS), dtype=np.uint64)
    mask = np.zeros((n, WORDS), dtype=np.uint64)
    keep = np.zeros(n, dtype=np.bool_)
    if n:
        _cylinders(x, y, th, convex_hull(x, y), bits, mask, keep)
    x, y, th = x[keep], y[keep], th[keep]
    tie = np.hypot(x - x.mean(), y - y.mean()) if x.size else x
    return FingerFeatures(view.position, bits[keep], mask[keep], x, y, th, tie, int(view.quality))


def pack(features: Sequence[FingerFeatures]) -> PackedFingers:
    """Concatenate candidates into one contiguous block for ``score_many``."""
    counts = np.array([f.count for f in features], dtype=np.int64)
    offsets = np.zeros(len(features) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])

    def cat(name: str, shape: tuple[int, ...], dtype: type) -> np.ndarray:
        parts = [getattr(f, name) for f in features]
        return np.concatenate(parts) if parts else np.zeros(shape, dtype=dtype)

    return PackedFingers(
        cat("bits", (0, WORDS), np.uint64),
        cat("mask", (0, WORDS), np.uint64),
        cat("x", (0,), np.float64),
        cat("y", (0,), np.float64),
        cat("theta", (0,), np.float64),
        cat("tie", (0,), np.float64),
        offsets,
        np.array([f.position for f in features], dtype=np.int64),
    )


@njit(cache=True)
def _sigmoid(v, mu, tau):
    return 1.0 / (1.0 + math.exp(-tau * (v - mu)))


@njit(cache=True)
def _score_pair(ab, am, ax, ay, at, aq, bb, bm, bx, by, bt, bq):
    """The MCC score of two indexed fingers (arrays of their valid cylinders)."""
    na, nb = ax.shape[0], bx.shape[0]
    if na == 0 or nb == 0:
        return 0.0
    cap = na * nb
    lam = np.empty(cap)
    tie = np.empty(cap)
    pi_ = np.empty(cap, dtype=np.int64)
    pj = np.empty(cap, dtype=np.int64)
    m = 0
    for i in range(na):
        for j in range(nb):
            if abs(_dphi(at[i], bt[j])) > DELTA_THETA:
                continue
            nm = 0
            for w in range(WORDS):
                nm += _popcount(am[i, w] & bm[j, w])
            if nm < MIN_ME_BITS:
                continue
            ca = 0
            cb = 0
            cx = 0
            for w in range(WORDS):
                mm = am[i, w] & bm[j, w]
                u = ab[i, w] & mm
                v = bb[j, w] & mm
                ca += _popcount(u)
                cb += _popcount(v)
                cx += _popcount(u ^ v)
            if ca + cb == 0:
                continue
            sim = 1.0 - math.sqrt(cx) / (math.sqrt(ca) + math.sqrt(cb))
            if sim <= 0.0:
                continue
            lam[m] = sim
            tie[m] = aq[i] + bq[j]
            pi_[m] = i
            pj[m] = j
            m += 1
    if m == 0:
        return 0.0
    # order by key = similarity - TIE_EPS * tie (descending); tie is role-symmetric, so swapping
    # the two fingers gives the same order. Only the best CANDIDATES_PER_PAIR * min(na, nb) enter.
    nr_max = min(na, nb)
    key = np.empty(m)
    for r in range(m):
        key[r] = -(lam[r] - TIE_EPS * tie[r])
    top = min(m, CANDIDATES_PER_PAIR * nr_max)
    if top < m:
        cut = np.partition(key, top - 1)[top - 1]
        sel = np.empty(top, dtype=np.int64)
        c = 0
        for r in range(m):
            if key[r] <= cut and c < top:
                sel[c] = r
                c += 1
        order = sel[np.argsort(key[sel])]
    else:
        order = np.argsort(key[:m])
    used_a = np.zeros(na, dtype=np.bool_)
    used_b = np.zeros(nb, dtype=np.bool_)
    si = np.empty(nr_max, dtype=np.int64)
    sj = np.empty(nr_max, dtype=np.int64)
    l0 = np.empty(nr_max)
    nr = 0
    for r in range(order.shape[0]):
        k = order[r]
        if used_a[pi_[k]] or used_b[pj[k]]:
            continue
        used_a[pi_[k]] = True
        used_b[pj[k]] = True
        si[nr], sj[nr], l0[nr] = pi_[k], pj[k], lam[k]
        nr += 1
        if nr == nr_max:
            break
    z = _sigmoid(float(min(na, nb)), MU_P, TAU_P)
    n_p = MIN_NP + int(math.floor(z * (MAX_NP - MIN_NP) + 0.5))
    lrel = l0[:nr].copy()
    if nr >= 2:
        # sparse compatibility lists: most pairs of pairs are incompatible (rho below cutoff)
        nbr = np.empty((nr, nr - 1), dtype=np.int64)
        rho = np.empty((nr, nr - 1))
        deg = np.zeros(nr, dtype=np.int64)
        for p in range(nr):
            for q in range(nr):
                if p == q:
                    continue
                i1, i2, j1, j2 = si[p], si[q], sj[p], sj[q]
                da = math.sqrt((ax[i1] - ax[i2]) ** 2 + (ay[i1] - ay[i2]) ** 2)
                db = math.sqrt((bx[j1] - bx[j2]) ** 2 + (by[j1] - by[j2]) ** 2)
                d1 = abs(da - db)
                if d1 > D1_CUT:
                    continue
                r1 = _sigmoid(d1, MU_RHO1, TAU_RHO1)
                if r1 < RHO_CUTOFF:
                    continue
                r2 = r1 * _sigmoid(abs(_dphi(_dphi(at[i1], at[i2]), _dphi(bt[j1], bt[j2]))), MU_RHO2, TAU_RHO2)
                if r2 < RHO_CUTOFF:
                    continue
                ra = _dphi(at[i1], math.atan2(ay[i1] - ay[i2], ax[i1] - ax[i2]))
                rb = _dphi(bt[j1], math.atan2(by[j1] - by[j2], bx[j1] - bx[j2]))
                nbr[p, deg[p]] = q
                rho[p, deg[p]] = r2 * _sigmoid(abs(_dphi(ra, rb)), MU_RHO3, TAU_RHO3)
                deg[p] += 1
        nxt = np.empty(nr)
        for _ in range(N_REL):
            for p in range(nr):
                acc = 0.0
                for r in range(deg[p]):
                    acc += rho[p, r] * lrel[nbr[p, r]]
                nxt[p] = W_R * lrel[p] + (1.0 - W_R) * acc / (nr - 1)
            lrel[:] = nxt
    eff = lrel / l0[:nr]
    best = np.argsort(-eff, kind="mergesort")
    total = 0.0
    for r in range(min(n_p, nr)):
        total += lrel[best[r]]
    return total / n_p


@njit(cache=True)
def _score_block(ab, am, ax, ay, at, aq, pos, bb, bm, bx, by, bt, bq, offsets, positions, out):
    for c in range(out.shape[0]):
        if pos != 0 and positions[c] != 0 and positions[c] != pos:
            out[c] = 0.0
            continue
        lo, hi = offsets[c], offsets[c + 1]
        out[c] = _score_pair(ab, am, ax, ay, at, aq, bb[lo:hi], bm[lo:hi], bx[lo:hi], by[lo:hi], bt[lo:hi], bq[lo:hi])


def score_many(probe: FingerFeatures, candidates: Sequence[FingerFeatures] | PackedFingers) -> np.ndarray:
    """Similarity in [0, 1] of ``probe`` to each candidate; 0 where known positions differ."""
    block = candidates if isinstance(candidates, PackedFingers) else pack(candidates)
    out = np.zeros(len(block), dtype=np.float64)
    if len(block):
        p = probe
        _score_block(p.bits, p.mask, p.x, p.y, p.theta, p.tie, p.position, block.bits, block.mask, block.x,
                     block.y, block.theta, block.tie, block.offsets, block.positions, out)  # fmt: skip
    return out


def score(a: FingerFeatures, b: FingerFeatures) -> float:
    """Similarity in [0, 1] of two indexed fingers (symmetric)."""
    return float(score_many(a, [b])[0])


def finger_llr(s: float | np.ndarray) -> np.ndarray:
    """Calibrated log-likelihood ratio (genuine vs impostor) of single-finger scores, clipped."""
    knots = np.array(FINGER_LLR_TABLE, dtype=np.float64)
    llr = np.interp(np.asarray(s, dtype=np.float64), knots[:, 0], knots[:, 1])
    return np.clip(llr, LLR_MIN, LLR_MAX)


@dataclass(frozen=True, slots=True)
class FusedFingerScore:
    """Several fingers of two enrollments fused: ``score`` in [0, 1], summed ``llr``, fingers compared."""

    score: float
    llr: float
    fingers: int
    per_position: tuple[tuple[int, float], ...] = ()


def fuse_scores(per_position: Mapping[int, float]) -> FusedFingerScore:
    """Fuse per-finger scores: sum of clipped per-finger LLRs (fingers treated as independent),
    mapped to [0, 1] as the posterior at even prior odds, ``1 / (1 + exp(-sum))``. No finger gives 0.5."""
    items = tuple(sorted((int(p), float(s)) for p, s in per_position.items()))
    if not items:
        return FusedFingerScore(0.5, 0.0, 0, ())
    llr = float(np.sum(finger_llr(np.array([s for _, s in items]))))
    return FusedFingerScore(float(1.0 / (1.0 + math.exp(-llr))), llr, len(items), items)


def _same_position_score(a: FingerFeatures, b: FingerFeatures) -> float:
    """``score(a, b)`` for two fingers of one position: the compiled pair score called directly,
    without packing ``b`` into a one-candidate block (the packing cost about a fifth of a fused
    pair's time); the same kernel on the same arrays, so the same float."""
    return float(_score_pair(a.bits, a.mask, a.x, a.y, a.theta, a.tie, b.bits, b.mask, b.x, b.y, b.theta, b.tie))


def fuse_enrollments(a: Sequence[FingerFeatures], b: Sequence[FingerFeatures]) -> FusedFingerScore:
    """Compare the finger positions both enrollments have (position by position) and fuse."""
    bmap = {f.position: f for f in b}
    return fuse_scores({f.position: _same_position_score(f, bmap[f.position]) for f in a if f.position in bmap})
