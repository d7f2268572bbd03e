"""Ridge-flow orientation fields of the five Henry pattern classes, for synthetic fingers.

Loops, whorls and tented arches use the Sherlock-Monro zero-pole model (Sherlock & Monro, Pattern
Recognition 26(7), 1993): the ridge orientation at a point z (complex, y up) is

    theta(z) = theta0 + 1/2 * (sum_k arg(z - core_k) - sum_k arg(z - delta_k))   (mod pi)

so each core turns the ridges by half a turn around it and each delta by minus half a turn. Plain
arches have no singular point; their ridges are bumps ``y = A * exp(-(x - x0)^2 / w^2)`` whose
slope gives the orientation. Singular points are placed per class with per-finger jitter, so two
different fingers of one class share the same broad flow (what makes same-class impostors hard)
while differing in detail.

Coordinates here are "math" coordinates: x right, y *up*, origin at the finger centre, pixels at
500 dpi. Orientations are in [0, pi).

The population draws its fingers in the compiled kernels of ``streams.sim.finger_kernels``,
which keep a field as a parameter row (:meth:`OrientationField.params`); the numpy code here is
their reference (a test checks that both give the same orientations).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from streams.sim import finger_kernels as fk


class PatternClass(IntEnum):
    """Henry classes (NIST SD4 / SD14 naming)."""

    ARCH = 0
    TENTED_ARCH = 1
    LEFT_LOOP = 2
    RIGHT_LOOP = 3
    WHORL = 4


#: Class frequencies in the population, roughly those reported for NIST SD14-like ten-print data
#: (Wilson, Candela, Watson 1994): loops about 65%, whorls 28%, arches 4%, tented arches 3%.
CLASS_FREQUENCIES: dict[PatternClass, float] = {
    PatternClass.ARCH: 0.037,
    PatternClass.TENTED_ARCH: 0.029,
    PatternClass.LEFT_LOOP: 0.338,
    PatternClass.RIGHT_LOOP: 0.317,
    PatternClass.WHORL: 0.279,
}

#: Standard deviation (px) of the per-finger jitter of each singular point.
SINGULAR_JITTER_PX = 12.0
#: Standard deviation (radians) of the per-finger rotation of the whole flow.
FLOW_ROTATION_SD = np.deg2rad(6.0)
#: Arch bump height (px) and width (px): how strongly plain-arch ridges rise in the middle.
ARCH_HEIGHT_PX = 60.0
ARCH_WIDTH_PX = 110.0

# Nominal singular points (x, y) in math coordinates, per class: (cores, deltas).
_NOMINAL: dict[PatternClass, tuple[list[tuple[float, float]], list[tuple[float, float]]]] = {
    PatternClass.ARCH: ([], []),
    PatternClass.TENTED_ARCH: ([(0.0, 20.0)], [(0.0, -55.0)]),
    PatternClass.LEFT_LOOP: ([(-15.0, 30.0)], [(85.0, -80.0)]),
    PatternClass.RIGHT_LOOP: ([(15.0, 30.0)], [(-85.0, -80.0)]),
    PatternClass.WHORL: ([(0.0, 45.0), (0.0, 5.0)], [(-95.0, -85.0), (95.0, -85.0)]),
}


@dataclass(frozen=True, slots=True)
class OrientationField:
    """One finger's ridge flow: class, singular points and a global flow rotation."""

    pattern: PatternClass
    cores: np.ndarray  # complex128, math coordinates
    deltas: np.ndarray  # complex128
    rotation: float  # radians
    arch_height: float = ARCH_HEIGHT_PX

    def params(self) -> np.ndarray:
        """The field as a parameter row of ``finger_kernels`` (``FIELD_PARAMS`` floats)."""
        row = np.zeros(fk.FIELD_PARAMS)
        row[[fk.P_PATTERN, fk.P_ROTATION, fk.P_HEIGHT]] = self.pattern, self.rotation, self.arch_height
        row[[fk.P_CORES, fk.P_DELTAS]] = len(self.cores), len(self.deltas)
        for first, points in ((fk.P_CORE0, self.cores), (fk.P_DELTA0, self.deltas)):
            row[first:first + 2 * len(points)] = np.column_stack([points.real, points.imag]).ravel()
        return row

    @classmethod
    def from_params(cls, row: np.ndarray) -> "OrientationField":
        """The field of a ``finger_kernels`` parameter row."""
        def points(first: int, n: int) -> np.ndarray:
            xy = np.asarray(row[first:first + 2 * n], dtype=np.float64).reshape(n, 2)
            return xy[:, 0] + 1j * xy[:, 1]

        return cls(PatternClass(int(row[fk.P_PATTERN])), points(fk.P_CORE0, int(row[fk.P_CORES])),
                   points(fk.P_DELTA0, int(row[fk.P_DELTAS])), float(row[fk.P_ROTATION]),
                   float(row[fk.P_HEIGHT]))

    def singular_points(self) -> tuple[np.ndarray, np.ndarray]:
        """Cores and deltas (complex, math coordinates) where the flow is singular."""
        turn = np.exp(1j * self.rotation)
        return self.cores * turn, self.deltas * turn

    def orientation(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Ridge orientation in [0, pi) at points (x, y) in math coordinates (y up)."""
        c, s = np.cos(-self.rotation), np.sin(-self.rotation)
        xr, yr = c * x - s * y, s * x + c * y  # into the flow's own frame
        if self.pattern == PatternClass.ARCH:
            theta = _arch_orientation(xr, yr, self.arch_height)
        else:
            z = xr + 1j * yr
            theta = np.zeros(np.shape(z))
            for core in self.cores:
                theta += 0.5 * np.angle(z - core)
            for delta in self.deltas:
                theta -= 0.5 * np.angle(z - delta)
        return np.mod(theta + self.rotation, np.pi)


def _arch_orientation(x: np.ndarray, y: np.ndarray, height: float) -> np.ndarray:
    """Slope angle of arch ridges: bumps that are tallest near the middle of the finger."""
    w2 = ARCH_WIDTH_PX**2
    # the bump fades towards the fingertip and the crease, ridges there are nearly flat
    amp = height * np.exp(-((y + 20.0) ** 2) / (2 * 150.0**2))
    slope = -2.0 * amp * x / w2 * np.exp(-(x**2) / w2)
    return np.arctan(slope)


def class_cumulative() -> np.ndarray:
    """Cumulative class frequencies, indexed by class value (what the kernels draw from)."""
    return np.cumsum([CLASS_FREQUENCIES[c] for c in PatternClass])


def nominal_params() -> np.ndarray:
    """Per class (row = class value), the parameter row of its nominal singular points."""
    rows = np.zeros((len(PatternClass), fk.FIELD_PARAMS))
    for c in PatternClass:
        cores, deltas = _NOMINAL[c]
        rows[c] = OrientationField(c, np.array([complex(*p) for p in cores]),
                                   np.array([complex(*p) for p in deltas]), 0.0).params()
    return rows


def draw_pattern(rng: np.random.Generator) -> PatternClass:
    """Draw a pattern class with the population frequencies."""
    classes = list(CLASS_FREQUENCIES)
    p = np.array([CLASS_FREQUENCIES[c] for c in classes])
    return classes[int(rng.choice(len(classes), p=p / p.sum()))]


def make_field(rng: np.random.Generator, pattern: PatternClass) -> OrientationField:
    """A finger's orientation field of ``pattern``, with jittered singular points."""
    cores, deltas = _NOMINAL[pattern]

    def jitter(points: list[tuple[float, float]]) -> np.ndarray:
        if not points:
            return np.zeros(0, dtype=np.complex128)
        p = np.array([complex(px, py) for px, py in points])
        d = rng.normal(0.0, SINGULAR_JITTER_PX, size=(len(points), 2))
        return p + d[:, 0] + 1j * d[:, 1]

    rotation = float(rng.normal(0.0, FLOW_ROTATION_SD))
    height = float(ARCH_HEIGHT_PX * rng.uniform(0.7, 1.3))
    return OrientationField(pattern, jitter(cores), jitter(deltas), rotation, height)
