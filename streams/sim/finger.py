"""Synthetic fingers: a finger's true minutiae (its "master") and noisy captures of it.

``make_finger`` draws a pattern class and its ridge-flow field (``finger_field``), then places
25-70 minutiae inside a finger-shaped region with a minimum spacing (a jittered grid, which keeps
the spacing without a rejection loop), each pointing along the local ridge flow. ``impression``
turns a master into one ``FingerView`` the way a live scan would: missed and spurious minutiae,
type flips, position and angle jitter, smooth skin distortion, a global rotation (mostly small,
sometimes up to 45 degrees) and translation, sometimes a partial print, clamped to the image.
``make_person_fingers`` gives a person's ten masters, some people having fewer usable fingers.

This numpy code is the model's reference, and what the matcher tests and benchmarks draw from
(their figures stay reproducible). The population renderer draws the same model many fingers at
a time from compiled kernels (``streams.sim.finger_sets``); a test checks that both agree in
distribution.

All randomness comes from the ``numpy.random.Generator`` passed in, so a seed fixes everything.
Angles follow ISO/IEC 19794-2: radians counter-clockwise from the x axis as seen on the image
(x right, y down), so the unit direction in pixel coordinates is (cos a, -sin a).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streams.domain.types import FingerView
from streams.sim.finger_field import OrientationField, PatternClass, draw_pattern, make_field

TWO_PI = 2.0 * np.pi

#: Image size (px) of a capture at 500 dpi (197 px/cm) and the finger centre in it.
IMAGE_WIDTH_PX = 400
IMAGE_HEIGHT_PX = 500
RESOLUTION_PPCM = 197
CENTRE_X, CENTRE_Y = IMAGE_WIDTH_PX / 2.0, IMAGE_HEIGHT_PX / 2.0
#: Finger region: half-width and half-height (px) of a superellipse, rounder at the tip.
FINGER_HALF_WIDTH_PX = 150.0
FINGER_HALF_HEIGHT_PX = 200.0
TIP_EXPONENT, BASE_EXPONENT = 2.2, 4.0

#: Minutiae per finger: normal(mean, sd) clipped to [min, max]; typical prints carry 30-70.
MINUTIAE_MEAN, MINUTIAE_SD = 45.0, 10.0
MINUTIAE_MIN, MINUTIAE_MAX = 25, 70
#: Minimum distance between two true minutiae (px): about one ridge period at 500 dpi.
MIN_SPACING_PX = 10.0
#: Grid pitch (px) of the jittered grid that places minutiae; jitter keeps MIN_SPACING_PX.
GRID_PITCH_PX = 27.0
#: Share of bifurcations among true minutiae (the rest are ridge endings).
BIFURCATION_SHARE = 0.45
#: Standard deviation (radians) of a true minutia direction around the local ridge flow.
FLOW_ANGLE_SD = np.deg2rad(4.0)

# Capture model. q in [0, 1] is the capture quality; rates move linearly with (1 - q).
LOW_QUALITY_RATE = 0.10  # share of captures drawn from the low-quality range
LOW_QUALITY_RANGE = (0.15, 0.45)
GOOD_QUALITY_BETA = (6.0, 2.0)  # quality of the other captures: Beta(a, b), mean 0.75
MISS_BASE, MISS_SLOPE = 0.05, 0.35  # chance a true minutia is not detected
SPURIOUS_BASE, SPURIOUS_SLOPE = 1.0, 8.0  # Poisson mean of false minutiae
SPURIOUS_ANGLE_SD = 0.3  # radians around the ridge flow: false minutiae point roughly along it
FLIP_BASE, FLIP_SLOPE = 0.05, 0.20  # chance ending <-> bifurcation is misread
JITTER_BASE_PX, JITTER_SLOPE_PX = 1.5, 3.0  # position jitter sd
ANGLE_JITTER_BASE, ANGLE_JITTER_SLOPE = np.deg2rad(4.0), np.deg2rad(8.0)
#: Global rotation: normal(0, sd) most of the time, uniform in +-MAX otherwise; never beyond MAX.
ROTATION_SD = np.deg2rad(7.0)
LARGE_ROTATION_RATE = 0.12
MAX_ROTATION = np.deg2rad(45.0)
TRANSLATION_SD_PX = 15.0
#: Skin distortion: a few Gaussian bumps of displacement plus an anisotropic scale (pressure).
DISTORTION_BUMPS = 3
DISTORTION_AMP_PX = 4.0
DISTORTION_SCALE_PX = 90.0
PRESSURE_SCALE_SD = 0.02
#: Partial prints: chance of a crop and the kept share of each image side.
PARTIAL_RATE = 0.15
PARTIAL_KEEP = (0.55, 0.85)
#: Minutia quality: this many points times q for a true minutia, fewer for a false one, plus
#: normal noise; the finger's quality is 100 q plus normal noise (all clipped to 1..100).
TRUE_MINUTIA_QUALITY, SPURIOUS_MINUTIA_QUALITY = 100.0, 60.0
MINUTIA_QUALITY_SD, FINGER_QUALITY_SD = 8.0, 5.0
#: People with missing or unusable fingers: chance of losing 1..MAX fingers, or all of them.
FEWER_FINGERS_RATE = 0.04
MAX_MISSING_FINGERS = 4
NO_FINGERS_RATE = 0.005
FINGER_POSITIONS = tuple(range(1, 11))


@dataclass(frozen=True, slots=True)
class FingerMaster:
    """A finger's true minutiae in the master frame (pixels, x right, y down; ISO angles)."""

    position: int
    pattern: PatternClass
    field: OrientationField
    x: np.ndarray  # float64
    y: np.ndarray  # float64
    angle: np.ndarray  # float64 radians [0, 2*pi)
    kind: np.ndarray  # uint8: 1 ending, 2 bifurcation

    @property
    def count(self) -> int:
        return int(self.x.shape[0])

    def flow_at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Ridge orientation [0, pi) at pixel points of the master frame (ISO convention)."""
        return self.field.orientation(np.asarray(x) - CENTRE_X, CENTRE_Y - np.asarray(y))


def in_finger(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Whether math-frame points (u right, v up, from the centre) lie on the finger."""
    exponent = np.where(v > 0, TIP_EXPONENT, BASE_EXPONENT)
    return np.abs(u / FINGER_HALF_WIDTH_PX) ** exponent + np.abs(v / FINGER_HALF_HEIGHT_PX) ** exponent <= 1.0


def _grid_sites(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Jittered-grid sites inside the finger, in random order, at least MIN_SPACING_PX apart."""
    half = (GRID_PITCH_PX - MIN_SPACING_PX) / 2.0
    span = max(FINGER_HALF_WIDTH_PX, FINGER_HALF_HEIGHT_PX) * 1.5
    ticks = np.arange(-span, span + GRID_PITCH_PX, GRID_PITCH_PX)
    gu, gv = np.meshgrid(ticks, ticks)
    gu = gu.ravel() + rng.uniform(0, GRID_PITCH_PX) + rng.uniform(-half, half, gu.size)
    gv = gv.ravel() + rng.uniform(0, GRID_PITCH_PX) + rng.uniform(-half, half, gv.size)
    phi = rng.uniform(0, TWO_PI)  # turn the grid so no axis is special
    c, s = np.cos(phi), np.sin(phi)
    u, v = c * gu - s * gv, s * gu + c * gv
    keep = in_finger(u, v)
    order = rng.permutation(int(keep.sum()))
    return u[keep][order], v[keep][order]


def make_finger(rng: np.random.Generator, position: int, pattern: PatternClass | None = None) -> FingerMaster:
    """A new finger: its pattern class, flow field and true minutiae."""
    pattern = draw_pattern(rng) if pattern is None else PatternClass(pattern)
    field = make_field(rng, pattern)
    n = int(np.clip(round(rng.normal(MINUTIAE_MEAN, MINUTIAE_SD)), MINUTIAE_MIN, MINUTIAE_MAX))
    u, v = _grid_sites(rng)
    u, v = u[:n], v[:n]
    flow = field.orientation(u, v)
    angle = np.mod(flow + np.pi * rng.integers(0, 2, n) + rng.normal(0, FLOW_ANGLE_SD, n), TWO_PI)
    kind = np.where(rng.random(n) < BIFURCATION_SHARE, 2, 1).astype(np.uint8)
    return FingerMaster(position, pattern, field, u + CENTRE_X, CENTRE_Y - v, angle, kind)


def draw_quality(rng: np.random.Generator) -> float:
    """A capture quality in [0, 1]: mostly good, LOW_QUALITY_RATE of captures poor."""
    if rng.random() < LOW_QUALITY_RATE:
        return float(rng.uniform(*LOW_QUALITY_RANGE))
    return float(rng.beta(*GOOD_QUALITY_BETA))


def _spurious(master: FingerMaster, rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    """``n`` false minutiae on the finger, pointing roughly along the ridge flow."""
    u = rng.uniform(-FINGER_HALF_WIDTH_PX, FINGER_HALF_WIDTH_PX, 4 * n + 8)
    v = rng.uniform(-FINGER_HALF_HEIGHT_PX, FINGER_HALF_HEIGHT_PX, 4 * n + 8)
    keep = in_finger(u, v)
    u, v = u[keep][:n], v[keep][:n]
    n = u.size
    angle = master.field.orientation(u, v) + np.pi * rng.integers(0, 2, n) + rng.normal(0, SPURIOUS_ANGLE_SD, n)
    kind = rng.integers(1, 3, n).astype(np.uint8)
    return u, v, np.mod(angle, TWO_PI), kind


def _distort(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Smooth non-linear skin distortion: pressure scaling plus Gaussian displacement bumps."""
    sx, sy = 1.0 + rng.normal(0, PRESSURE_SCALE_SD, 2)
    du = (sx - 1.0) * u
    dv = (sy - 1.0) * v
    cu = rng.uniform(-FINGER_HALF_WIDTH_PX, FINGER_HALF_WIDTH_PX, DISTORTION_BUMPS)
    cv = rng.uniform(-FINGER_HALF_HEIGHT_PX, FINGER_HALF_HEIGHT_PX, DISTORTION_BUMPS)
    amp = rng.normal(0, DISTORTION_AMP_PX, (DISTORTION_BUMPS, 2))
    for k in range(DISTORTION_BUMPS):
        w = np.exp(-((u - cu[k]) ** 2 + (v - cv[k]) ** 2) / (2 * DISTORTION_SCALE_PX**2))
        du += amp[k, 0] * w
        dv += amp[k, 1] * w
    return u + du, v + dv


def draw_rotation(rng: np.random.Generator) -> float:
    """A capture's global rotation (radians): mostly small, sometimes up to +-45 degrees."""
    if rng.random() < LARGE_ROTATION_RATE:
        return float(rng.uniform(-MAX_ROTATION, MAX_ROTATION))
    return float(np.clip(rng.normal(0, ROTATION_SD), -MAX_ROTATION, MAX_ROTATION))


def impression(
    master: FingerMaster,
    rng: np.random.Generator,
    *,
    quality: float | None = None,
    rotation: float | None = None,
    partial: bool | None = None,
    impression_type: int = 0,
) -> FingerView:
    """One capture of ``master`` as a ``FingerView``; ``quality``, ``rotation`` drawn when None."""
    q = draw_quality(rng) if quality is None else float(np.clip(quality, 0.0, 1.0))
    bad = 1.0 - q
    u, v = master.x - CENTRE_X, CENTRE_Y - master.y
    n = u.size
    keep = rng.random(n) >= MISS_BASE + MISS_SLOPE * bad
    kind = master.kind.copy()
    flip = rng.random(n) < FLIP_BASE + FLIP_SLOPE * bad
    kind[flip] = 3 - kind[flip]
    su, sv, sa, sk = _spurious(master, rng, int(rng.poisson(SPURIOUS_BASE + SPURIOUS_SLOPE * bad)))
    u = np.concatenate([u[keep], su])
    v = np.concatenate([v[keep], sv])
    angle = np.concatenate([master.angle[keep], sa])
    kind = np.concatenate([kind[keep], sk])
    mq = np.concatenate([np.full(int(keep.sum()), TRUE_MINUTIA_QUALITY * q),
                         np.full(su.size, SPURIOUS_MINUTIA_QUALITY * q)])
    m = u.size

    u, v = _distort(u, v, rng)
    sd = JITTER_BASE_PX + JITTER_SLOPE_PX * bad
    u = u + rng.normal(0, sd, m)
    v = v + rng.normal(0, sd, m)
    angle = angle + rng.normal(0, ANGLE_JITTER_BASE + ANGLE_JITTER_SLOPE * bad, m)

    alpha = draw_rotation(rng) if rotation is None else float(rotation)
    c, s = np.cos(alpha), np.sin(alpha)
    u, v = c * u - s * v, s * u + c * v
    angle = np.mod(angle + alpha, TWO_PI)
    tx, ty = rng.normal(0, TRANSLATION_SD_PX, 2)
    x = np.rint(u + CENTRE_X + tx)
    y = np.rint(CENTRE_Y - v + ty)

    inside = (x >= 0) & (x < IMAGE_WIDTH_PX) & (y >= 0) & (y < IMAGE_HEIGHT_PX)
    crop = (rng.random() < PARTIAL_RATE) if partial is None else partial
    if crop:
        fw, fh = rng.uniform(*PARTIAL_KEEP, 2)
        x0 = rng.uniform(0, (1 - fw) * IMAGE_WIDTH_PX)
        y0 = rng.uniform(0, (1 - fh) * IMAGE_HEIGHT_PX)
        inside &= (x >= x0) & (x < x0 + fw * IMAGE_WIDTH_PX) & (y >= y0) & (y < y0 + fh * IMAGE_HEIGHT_PX)
    order = rng.permutation(int(inside.sum()))  # the capture order says nothing about identity
    mq = np.clip(np.rint(mq[inside][order] + rng.normal(0, MINUTIA_QUALITY_SD, order.size)), 1, 100)
    return FingerView(
        position=master.position,
        impression=impression_type,
        quality=int(np.clip(round(100 * q + rng.normal(0, FINGER_QUALITY_SD)), 1, 100)),
        x=x[inside][order].astype(np.int32),
        y=y[inside][order].astype(np.int32),
        angle=angle[inside][order].astype(np.float32),
        kind=kind[inside][order].astype(np.uint8),
        minutia_quality=mq.astype(np.uint8),
        width=IMAGE_WIDTH_PX,
        height=IMAGE_HEIGHT_PX,
        resolution=RESOLUTION_PPCM,
    )


def make_person_fingers(rng: np.random.Generator) -> dict[int, FingerMaster]:
    """A person's usable fingers by ISO position (1-10); a few people have fewer, or none."""
    masters = {p: make_finger(rng, p) for p in FINGER_POSITIONS}
    r = rng.random()
    if r < NO_FINGERS_RATE:
        return {}
    if r < NO_FINGERS_RATE + FEWER_FINGERS_RATE:
        lost = rng.choice(FINGER_POSITIONS, size=int(rng.integers(1, MAX_MISSING_FINGERS + 1)), replace=False)
        for p in lost:
            del masters[int(p)]
    return masters


def capture_fingers(
    masters: dict[int, FingerMaster], rng: np.random.Generator, *, quality: float | None = None
) -> tuple[FingerView, ...]:
    """One capture session: an impression of every usable finger, in position order."""
    return tuple(impression(masters[p], rng, quality=quality) for p in sorted(masters))
