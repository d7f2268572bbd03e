"""Fingerprint blocking keys: quantised local minutia structures, invariant to rotation and
translation, hashed per finger position.

What: a finger view's reliable minutiae (quality not far below the view's typical minutia quality)
are taken; the :data:`ANCHORS` of them nearest their centroid are anchors. An anchor with its
:data:`NEIGHBOURS` nearest reliable neighbours forms a local structure described in the anchor's
own frame: each neighbour's distance (bins of :data:`DIST_BIN_PX`), the direction of the vector
to it and its minutia direction, both relative to the anchor's direction (bins of 2*pi /
:data:`ANGLE_BINS`). Those integers, with the finger position, are the key ``fp:<pos>:<hex>``.
For each structure the key with its least certain feature (nearest a bin edge) moved to the
neighbouring bin is emitted too (a symmetric multi-probe: probe and gallery both do it).

Why:

* Distances and angles relative to the anchor's direction do not change under rotation (up to
  +-45 degrees in the synthetic captures) or translation, so no alignment is needed.
* Local structures survive missed and spurious minutiae and partial prints elsewhere on the
  finger; anchors near the centroid are the ones most likely present in both captures (a partial
  print or a shift mostly loses the rim), and the quality filter drops most spurious minutiae
  (which the capture reports with lower quality).
* Specificity: a structure of two or more neighbours carries some 20+ bits, so a key is shared by
  chance rarely and posting lists stay under the cap at a large gallery; the finger position in
  the key keeps the fingers apart.
* A probe needs only one shared key over all its fingers (and both eyes): per-finger recall can
  be modest while the person-level hit rate stays high.

Speed: a view has some 40 minutiae, so the numpy formulation (:func:`finger_keys_reference`, the
definition the tests compare with) spends its ~0.35 ms per view in per-call overhead on tiny
arrays. :func:`finger_keys_many` derives the keys of several views in one pass instead: a numba
kernel (:func:`_geometry`) selects the reliable minutiae, anchors and neighbours of every view,
one ``np.arctan2`` call takes every neighbour's direction (numpy's own ufunc, as in the
definition: it may be a SIMD implementation whose last bit differs from the C library's), and a
second kernel (:func:`_quantise`) bins, flips and packs them. Every step repeats the definition's
floating-point operations in the same order (coordinates are integer pixels, so the centroid's sum
is exact in any order), and ties are broken by index as the stable sorts do: the keys are equal,
not merely close (checked on thousands of generated enrollments, tests/unit/blocking).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from streams.domain.types import FingerView

TWO_PI = 2.0 * np.pi
#: A minutia is reliable when its quality is at least this share of the view's median quality.
RELIABLE_SHARE = 0.8
#: Anchors per finger (the reliable minutiae nearest the centroid) and neighbours per anchor.
ANCHORS = 12
NEIGHBOURS = 3
#: Neighbours farther than this (px at 500 dpi) are not used: distortion grows with distance.
MAX_NEIGHBOUR_PX = 80.0
#: Quantisation: distance bin (px) and number of angle bins over the full turn.
DIST_BIN_PX = 10.0
ANGLE_BINS = 8
#: Distance bins are capped (a far neighbour is "far").
MAX_DIST_BIN = 7
#: Extra keys per structure: the least certain feature moved to its neighbouring bin.
FLIP_VARIANTS = 1
#: Fewer reliable minutiae than this and the view yields no keys (nothing stable to hash).
MIN_MINUTIAE = NEIGHBOURS + 3


def _structures_reference(f: FingerView) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quantised features of every anchor structure of ``f``.

    Returns ``(values, fractions, upper)``: integer features (structures, features), each
    feature's position inside its bin in [0, 1), and each feature's number of bins.
    """
    q = np.asarray(f.minutia_quality, dtype=np.float64)
    if q.size == 0:
        return np.zeros((0, 3 * NEIGHBOURS), np.int64), np.zeros((0, 3 * NEIGHBOURS)), np.zeros(0)
    keep = q >= RELIABLE_SHARE * float(np.median(q))
    x = np.asarray(f.x, dtype=np.float64)[keep]
    y = np.asarray(f.y, dtype=np.float64)[keep]
    a = np.asarray(f.angle, dtype=np.float64)[keep]
    n = x.size
    if n < MIN_MINUTIAE:
        return np.zeros((0, 3 * NEIGHBOURS), np.int64), np.zeros((0, 3 * NEIGHBOURS)), np.zeros(0)
    dx = x[None, :] - x[:, None]
    dy = y[None, :] - y[:, None]
    dist = np.hypot(dx, dy)
    np.fill_diagonal(dist, np.inf)
    cx, cy = x.mean(), y.mean()
    anchors = np.argsort(np.hypot(x - cx, y - cy), kind="stable")[:ANCHORS]
    nbr = np.argsort(dist[anchors], axis=1, kind="stable")[:, :NEIGHBOURS]  # (A, K)
    d = np.take_along_axis(dist[anchors], nbr, axis=1)
    ok = (d <= MAX_NEIGHBOUR_PX).all(axis=1)
    anchors, nbr, d = anchors[ok], nbr[ok], d[ok]
    # ISO angles: counter-clockwise as seen on the image (y down), so a vector's angle is
    # atan2(-dy, dx); rotations of the capture add the same angle to both.
    theta = a[anchors][:, None]
    vec = np.arctan2(-dy[anchors[:, None], nbr], dx[anchors[:, None], nbr])
    rel_vec = np.mod(vec - theta, TWO_PI) / TWO_PI * ANGLE_BINS
    rel_dir = np.mod(a[nbr] - theta, TWO_PI) / TWO_PI * ANGLE_BINS
    rd = np.minimum(d / DIST_BIN_PX, MAX_DIST_BIN + 0.999)
    cont = np.concatenate([rd, rel_vec, rel_dir], axis=1)
    values = np.floor(cont).astype(np.int64)
    fractions = cont - values
    upper = np.array([MAX_DIST_BIN + 1] * NEIGHBOURS + [ANGLE_BINS] * (2 * NEIGHBOURS))
    values = np.minimum(values, upper - 1)
    return values, fractions, upper


def _pack(values: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Mixed-radix integers of feature rows."""
    out = np.zeros(values.shape[0], dtype=np.int64)
    for j in range(values.shape[1]):
        out = out * int(upper[j]) + values[:, j]
    return out


def finger_keys_reference(f: FingerView) -> list[str]:
    """Blocking keys of one finger view: ``fp:<position>:<hex>``, sorted by packed value, without
    repeats. The numpy definition of the keys; :func:`finger_keys` computes the same faster."""
    values, fractions, upper = _structures_reference(f)
    if values.shape[0] == 0:
        return []
    rows = [values]
    # Distance to the nearest bin edge; the flip moves towards that edge (angles wrap around,
    # distances stop at their first and last bin).
    edge = np.minimum(fractions, 1.0 - fractions)
    weakest = np.argsort(edge, axis=1, kind="stable")[:, :FLIP_VARIANTS]
    for v in range(weakest.shape[1]):
        j = weakest[:, v]
        r = np.arange(values.shape[0])
        step = np.where(fractions[r, j] < 0.5, -1, 1)
        moved = values.copy()
        nv = values[r, j] + step
        wraps = j >= NEIGHBOURS
        nv = np.where(wraps, np.mod(nv, upper[j]), np.clip(nv, 0, upper[j] - 1))
        moved[r, j] = nv
        rows.append(moved)
    packed = np.unique(np.concatenate([_pack(m, upper) for m in rows]))
    return [f"fp:{f.position}:{int(p):x}" for p in packed]


#: Bins of each packed feature (distances, then vector directions, then minutia directions).
_UPPER = np.array([MAX_DIST_BIN + 1] * NEIGHBOURS + [ANGLE_BINS] * (2 * NEIGHBOURS), np.int64)


@njit(cache=True)
def _geometry(x, y, a, q, starts):
    """Anchor structures of every view: view ``v`` is minutiae ``starts[v]:starts[v + 1]`` of the
    float64 arrays ``x``, ``y``, ``a`` (angle) and ``q`` (quality).

    Returns, per structure (row), its view, its anchor's direction and, per neighbour (column),
    the coordinate differences to it, its distance and its direction: as
    :func:`_structures_reference` up to the ``arctan2``.
    """
    rows = (starts.shape[0] - 1) * ANCHORS
    view = np.empty(rows, np.int64)
    theta = np.empty(rows, np.float64)
    dx = np.empty((rows, NEIGHBOURS), np.float64)
    dy = np.empty((rows, NEIGHBOURS), np.float64)
    d = np.empty((rows, NEIGHBOURS), np.float64)
    an = np.empty((rows, NEIGHBOURS), np.float64)
    r = 0
    for v in range(starts.shape[0] - 1):
        lo, hi = starts[v], starts[v + 1]
        m = hi - lo
        if m == 0:
            continue
        qs = np.sort(q[lo:hi])
        median = qs[m // 2] if m % 2 else (qs[m // 2 - 1] + qs[m // 2]) / 2.0
        keep = np.flatnonzero(q[lo:hi] >= RELIABLE_SHARE * median) + lo
        n = keep.shape[0]
        if n < MIN_MINUTIAE:
            continue
        xs, ys, as_ = x[keep], y[keep], a[keep]
        cx, cy = xs.sum() / n, ys.sum() / n  # integer pixels: exact, as numpy's mean
        centre = np.empty(n, np.float64)
        for i in range(n):
            centre[i] = np.hypot(xs[i] - cx, ys[i] - cy)
        row = np.empty(n, np.float64)
        for i in np.argsort(centre, kind="mergesort")[:ANCHORS]:
            for j in range(n):
                row[j] = np.inf if j == i else np.hypot(xs[j] - xs[i], ys[j] - ys[i])
            nbr = np.argsort(row, kind="mergesort")[:NEIGHBOURS]
            if not (row[nbr] <= MAX_NEIGHBOUR_PX).all():
                continue
            view[r] = v
            theta[r] = as_[i]
            for k in range(NEIGHBOURS):
                j = nbr[k]
                dx[r, k] = xs[j] - xs[i]
                dy[r, k] = ys[j] - ys[i]
                d[r, k] = row[j]
                an[r, k] = as_[j]
            r += 1
    return view[:r], theta[:r], dx[:r], dy[:r], d[:r], an[:r]


@njit(cache=True)
def _pack_row(values, upper):
    out = 0
    for j in range(values.shape[0]):
        out = out * upper[j] + values[j]
    return out


@njit(cache=True)
def _quantise(view, theta, vec, d, an, upper):
    """Packed keys of every structure and of its flipped variants, with their views: the
    quantisation, flip and packing of :func:`finger_keys_reference`, one structure at a time."""
    rows = view.shape[0]
    nf = 3 * NEIGHBOURS
    per = 1 + FLIP_VARIANTS
    packed = np.empty(rows * per, np.int64)
    owner = np.empty(rows * per, np.int64)
    cont = np.empty(nf, np.float64)
    values = np.empty(nf, np.int64)
    fractions = np.empty(nf, np.float64)
    edge = np.empty(nf, np.float64)
    for r in range(rows):
        for k in range(NEIGHBOURS):
            cont[k] = min(d[r, k] / DIST_BIN_PX, MAX_DIST_BIN + 0.999)
            cont[NEIGHBOURS + k] = np.mod(vec[r, k] - theta[r], TWO_PI) / TWO_PI * ANGLE_BINS
            cont[2 * NEIGHBOURS + k] = np.mod(an[r, k] - theta[r], TWO_PI) / TWO_PI * ANGLE_BINS
        for j in range(nf):
            values[j] = np.int64(np.floor(cont[j]))
            fractions[j] = cont[j] - values[j]
            values[j] = min(values[j], upper[j] - 1)
            edge[j] = min(fractions[j], 1.0 - fractions[j])
        packed[r * per] = _pack_row(values, upper)
        owner[r * per: (r + 1) * per] = view[r]
        weakest = np.argsort(edge, kind="mergesort")[:FLIP_VARIANTS]
        for w in range(FLIP_VARIANTS):
            j = weakest[w]
            nv = values[j] + (-1 if fractions[j] < 0.5 else 1)
            if j >= NEIGHBOURS:  # angles wrap around, distances stop at their first and last bin
                nv = np.mod(nv, upper[j])
            else:
                nv = min(max(nv, 0), upper[j] - 1)
            old = values[j]
            values[j] = nv
            packed[r * per + 1 + w] = _pack_row(values, upper)
            values[j] = old
    return owner, packed


def _fast(f: FingerView) -> bool:
    """Whether the compiled path reproduces the definition for ``f`` exactly: integer pixel
    coordinates (so the centroid's sum is exact in any order) and parallel arrays of one length."""
    n = len(f.x)
    return (f.x.dtype.kind in "iu" and f.y.dtype.kind in "iu" and len(f.y) == n
            and len(f.angle) == n and len(f.minutia_quality) == n)


def _packed_many(views: list[FingerView]) -> tuple[list[int], list[int]]:
    """``(view index, packed key)`` of every key of ``views`` (with repeats), in one pass."""
    starts = np.zeros(len(views) + 1, np.int64)
    np.cumsum([len(f.x) for f in views], out=starts[1:])
    x = np.concatenate([f.x for f in views], dtype=np.float64)
    y = np.concatenate([f.y for f in views], dtype=np.float64)
    a = np.concatenate([f.angle for f in views], dtype=np.float64)
    q = np.concatenate([f.minutia_quality for f in views], dtype=np.float64)
    view, theta, dx, dy, d, an = _geometry(x, y, a, q, starts)
    if view.shape[0] == 0:
        return [], []
    # ISO angles: counter-clockwise as seen on the image (y down), so a vector's angle is
    # atan2(-dy, dx); rotations of the capture add the same angle to both. One numpy call for
    # every view: the definition's own ufunc (see the module docstring).
    vec = np.arctan2(-dy, dx)
    owner, packed = _quantise(view, theta, vec, d, an, _UPPER)
    return owner.tolist(), packed.tolist()


def finger_key_set(views) -> set[str]:
    """The union of :func:`finger_keys` over ``views``, derived in one pass."""
    views = list(views)
    out: set[str] = set()
    fast = [f for f in views if _fast(f)]
    if len(fast) < len(views):
        for f in views:
            if not _fast(f):
                out.update(finger_keys_reference(f))
    if fast:
        owner, packed = _packed_many(fast)
        pos = [f.position for f in fast]
        out.update([f"fp:{pos[i]}:{p:x}" for i, p in zip(owner, packed)])
    return out


def finger_keys(f: FingerView) -> list[str]:
    """Blocking keys of one finger view: ``fp:<position>:<hex>``, sorted by packed value, without
    repeats (equal to :func:`finger_keys_reference`)."""
    if not _fast(f):
        return finger_keys_reference(f)
    _, packed = _packed_many([f])
    return [f"fp:{f.position}:{p:x}" for p in sorted(set(packed))]
