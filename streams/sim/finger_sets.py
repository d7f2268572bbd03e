"""Many synthetic fingers at once, for the population renderer: flat sets drawn by compiled kernels.

What: :func:`make_masters` draws fingers and :func:`capture_session` one capture of each, as the
flat sets :class:`Masters` and :class:`Impressions` (one array per field for all fingers, with
offsets), in one call of the kernels of ``streams.sim.finger_kernels`` each;
:func:`fingers_lost` says which fingers a person cannot give. They draw from a keyed stream of
``streams.sim.rand``, advanced in place.

The model is ``streams.sim.finger``'s (its parameters, read from there, and the reasons for
them): the numpy code there is the reference, and a test checks that both draw the same
distributions. Why two: the reference spends about 0.4 ms per master and 0.35 ms per impression
in a few dozen small numpy calls each, 8 of the 12 ms of a ten-finger enrollment event; the
kernels take about 15 us per master and 10 us per impression.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable

import numpy as np

from streams.domain.types import FingerView
from streams.sim import finger as f
from streams.sim import finger_kernels as fk
from streams.sim.finger_field import (ARCH_HEIGHT_PX, ARCH_WIDTH_PX, FLOW_ROTATION_SD,
                                      SINGULAR_JITTER_PX, OrientationField, class_cumulative,
                                      nominal_params)

MASTER_MODEL = fk.as_record(fk.MasterModel(
    f.FINGER_HALF_WIDTH_PX, f.FINGER_HALF_HEIGHT_PX, f.TIP_EXPONENT, f.BASE_EXPONENT, f.CENTRE_X,
    f.CENTRE_Y, f.MINUTIAE_MEAN, f.MINUTIAE_SD, f.MINUTIAE_MIN, f.MINUTIAE_MAX,
    f.MIN_SPACING_PX, f.GRID_PITCH_PX, max(f.FINGER_HALF_WIDTH_PX, f.FINGER_HALF_HEIGHT_PX) * 1.5,
    f.BIFURCATION_SHARE, f.FLOW_ANGLE_SD, SINGULAR_JITTER_PX, FLOW_ROTATION_SD, ARCH_HEIGHT_PX,
    ARCH_WIDTH_PX))
CAPTURE_MODEL = fk.as_record(fk.CaptureModel(
    f.FINGER_HALF_WIDTH_PX, f.FINGER_HALF_HEIGHT_PX, f.TIP_EXPONENT, f.BASE_EXPONENT,
    ARCH_WIDTH_PX, f.CENTRE_X, f.CENTRE_Y, f.IMAGE_WIDTH_PX, f.IMAGE_HEIGHT_PX,
    f.LOW_QUALITY_RATE, *f.LOW_QUALITY_RANGE, *f.GOOD_QUALITY_BETA, f.MISS_BASE, f.MISS_SLOPE,
    f.SPURIOUS_BASE, f.SPURIOUS_SLOPE, f.SPURIOUS_ANGLE_SD, f.FLIP_BASE, f.FLIP_SLOPE,
    f.JITTER_BASE_PX, f.JITTER_SLOPE_PX, f.ANGLE_JITTER_BASE, f.ANGLE_JITTER_SLOPE, f.ROTATION_SD,
    f.LARGE_ROTATION_RATE, f.MAX_ROTATION, f.TRANSLATION_SD_PX, f.DISTORTION_BUMPS,
    f.DISTORTION_AMP_PX, f.DISTORTION_SCALE_PX, f.PRESSURE_SCALE_SD, f.PARTIAL_RATE,
    *f.PARTIAL_KEEP, f.TRUE_MINUTIA_QUALITY, f.SPURIOUS_MINUTIA_QUALITY, f.MINUTIA_QUALITY_SD,
    f.FINGER_QUALITY_SD))
_CLASS_CUM = class_cumulative()
_NOMINAL = nominal_params()


@dataclass(frozen=True, slots=True)
class Masters:
    """Several masters as one flat set: finger ``i`` is at ``positions[i]``, its field is
    ``params[i]`` and its minutiae ``x[start[i]:start[i + 1]]`` (likewise ``y``, ``angle``,
    ``kind``), in the units of ``finger.FingerMaster``."""

    positions: np.ndarray  # int64
    params: np.ndarray  # float64 (fingers, finger_kernels.FIELD_PARAMS)
    start: np.ndarray  # int64 (fingers + 1)
    x: np.ndarray  # float64
    y: np.ndarray  # float64
    angle: np.ndarray  # float64
    kind: np.ndarray  # uint8

    def __len__(self) -> int:
        return int(self.positions.shape[0])

    def master(self, i: int) -> f.FingerMaster:
        a, b = int(self.start[i]), int(self.start[i + 1])
        field = OrientationField.from_params(self.params[i])
        return f.FingerMaster(int(self.positions[i]), field.pattern, field, self.x[a:b],
                              self.y[a:b], self.angle[a:b], self.kind[a:b])

    @classmethod
    def of(cls, masters: Iterable[f.FingerMaster]) -> "Masters":
        """The flat set of masters drawn one by one (e.g. by the reference)."""
        ms = list(masters)
        arrays = [np.concatenate([getattr(m, name) for m in ms] or [np.zeros(0)]).astype(dtype)
                  for name, dtype in (("x", np.float64), ("y", np.float64),
                                      ("angle", np.float64), ("kind", np.uint8))]
        return cls(np.array([m.position for m in ms], dtype=np.int64),
                   np.array([m.field.params() for m in ms]).reshape(len(ms), fk.FIELD_PARAMS),
                   np.concatenate([[0], np.cumsum([m.count for m in ms])]).astype(np.int64),
                   *arrays)


@dataclass(frozen=True, slots=True)
class Impressions:
    """One capture of several masters as a flat set: view ``j`` (finger ``positions[j]``, quality
    ``quality[j]``) holds minutiae ``vstart[j]:vstart[j + 1]`` of the arrays, in capture order."""

    positions: np.ndarray  # int64
    quality: np.ndarray  # uint8
    vstart: np.ndarray  # int64
    x: np.ndarray  # int32
    y: np.ndarray  # int32
    angle: np.ndarray  # float32
    kind: np.ndarray  # uint8
    minutia_quality: np.ndarray  # uint8
    impression_type: int = 0

    def __len__(self) -> int:
        return int(self.positions.shape[0])

    @property
    def counts(self) -> np.ndarray:
        return np.diff(self.vstart)

    def view(self, j: int) -> FingerView:
        a, b = int(self.vstart[j]), int(self.vstart[j + 1])
        return FingerView(position=int(self.positions[j]), impression=self.impression_type,
                          quality=int(self.quality[j]), x=self.x[a:b], y=self.y[a:b],
                          angle=self.angle[a:b], kind=self.kind[a:b],
                          minutia_quality=self.minutia_quality[a:b], width=f.IMAGE_WIDTH_PX,
                          height=f.IMAGE_HEIGHT_PX, resolution=f.RESOLUTION_PPCM)

    def views(self) -> tuple[FingerView, ...]:
        return tuple(self.view(j) for j in range(len(self)))

    def head(self, keep: int) -> "Impressions":
        """The same views cut to their first ``keep`` minutiae each."""
        counts = np.minimum(self.counts, keep)
        idx = np.concatenate([np.arange(a, a + c) for a, c in zip(self.vstart[:-1], counts)]
                             or [np.zeros(0)]).astype(np.int64)
        return replace(self, vstart=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
                       x=self.x[idx], y=self.y[idx], angle=self.angle[idx], kind=self.kind[idx],
                       minutia_quality=self.minutia_quality[idx])


def make_masters(stream: np.ndarray, positions: Iterable[int],
                 patterns: Iterable[int | None] | None = None) -> Masters:
    """New fingers at ``positions``, drawn in order: pattern class (drawn where ``patterns`` has
    None), flow field and true minutiae (``finger.make_finger``'s model)."""
    pos = np.fromiter(positions, dtype=np.int64)
    cls = (np.full(pos.size, -1, dtype=np.int64) if patterns is None else
           np.array([-1 if c is None else int(c) for c in patterns], dtype=np.int64))
    params, start, x, y, angle, kind = fk.masters_kernel(stream, cls, _CLASS_CUM, _NOMINAL,
                                                         MASTER_MODEL)
    return Masters(pos, params, start, x, y, angle, kind)


def capture_session(
    masters: Masters,
    stream: np.ndarray,
    *,
    which: Iterable[int] | None = None,
    quality: float | None = None,
    rotation: float | None = None,
    partial: bool | None = None,
    impression_type: int = 0,
) -> Impressions:
    """One capture of each master (of those at indices ``which``, in that order), as
    ``finger.impression`` would make it; ``quality`` (shared by all), ``rotation`` and
    ``partial`` are drawn per capture when None."""
    idx = np.arange(len(masters)) if which is None else np.fromiter(which, dtype=np.int64)
    fq, vstart, x, y, angle, kind, mq = fk.impressions_kernel(
        stream, masters.params, masters.start, masters.x, masters.y, masters.angle, masters.kind,
        idx, np.nan if quality is None else float(quality),
        np.nan if rotation is None else float(rotation), -1 if partial is None else int(partial),
        CAPTURE_MODEL)
    return Impressions(masters.positions[idx], fq, vstart, x, y, angle, kind, mq, impression_type)


def fingers_lost(stream: np.ndarray) -> frozenset[int]:
    """The positions a person cannot give (``finger.make_person_fingers``'s rates): none for
    most people, 1..MAX_MISSING_FINGERS for FEWER_FINGERS_RATE of them, all for NO_FINGERS_RATE."""
    lost = fk.lost_kernel(stream, len(f.FINGER_POSITIONS), f.NO_FINGERS_RATE,
                          f.FEWER_FINGERS_RATE, f.MAX_MISSING_FINGERS)
    return frozenset(p for p, gone in zip(f.FINGER_POSITIONS, lost) if gone)
