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
"""

from __future__ import annotations

import numpy as np

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


def _structures(f: FingerView) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def finger_keys(f: FingerView) -> list[str]:
    """Blocking keys of one finger view: ``fp:<position>:<hex>``, sorted, without repeats."""
    values, fractions, upper = _structures(f)
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
