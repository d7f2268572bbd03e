"""Frozen domain records. Arrays are numpy and are never mutated after construction."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np

#: The contract's default iris template shape: (filters, rows, angular columns, bits per coefficient).
DEFAULT_IRIS_SHAPE: tuple[int, int, int, int] = (2, 16, 256, 2)

#: The smallest number of angular columns the contract allows.
MIN_ANGULAR_COLUMNS = 64


@dataclass(frozen=True, slots=True)
class IrisTemplate:
    """One eye's iris code and mask, unpacked to booleans of ``shape``.

    ``code`` and ``mask`` are ``bool`` arrays of shape (filters, rows, columns, bits); axis 2 is
    the angular axis along which head tilt rotates the code. ``mask`` is True where a bit is usable.
    """

    eye: str  # "R" or "L"
    code: np.ndarray
    mask: np.ndarray

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.code.shape)

    @property
    def usable_bits(self) -> int:
        return int(self.mask.sum())


@dataclass(frozen=True, slots=True)
class FingerView:
    """One finger view of an ISO/IEC 19794-2:2005 record, minutiae as parallel arrays.

    Coordinates are pixels (x right, y down) at ``resolution`` pixels per centimetre; ``angle`` is
    in radians in [0, 2*pi) (the record's byte times 2*pi/256); ``kind`` is 0 other, 1 ridge ending,
    2 bifurcation; ``quality`` per minutia 0-100.
    """

    position: int
    impression: int
    quality: int
    x: np.ndarray  # int32
    y: np.ndarray  # int32
    angle: np.ndarray  # float32 radians
    kind: np.ndarray  # uint8
    minutia_quality: np.ndarray  # uint8
    width: int = 0
    height: int = 0
    resolution: int = 197
    view: int = 0

    @property
    def count(self) -> int:
        return int(self.x.shape[0])


@dataclass(frozen=True, slots=True)
class Demographics:
    full_name: str
    birth_place: str
    birth_date: str  # ISO date YYYY-MM-DD
    sex: str  # "M" or "F"
    region_code: str  # PP.RR.DD.VVVV


@dataclass(frozen=True, slots=True)
class Enrollment:
    """A validated enrollment event. ``digest`` identifies its content (for re-send checks)."""

    enrollment_id: str
    station_id: str
    captured_at: str  # as sent (RFC 3339 with offset)
    captured_ts: float  # seconds since the epoch, UTC: orders captures
    nik: str
    demographics: Demographics
    fingers: tuple[FingerView, ...]
    irises: tuple[IrisTemplate, ...]
    digest: str = ""

    @property
    def order_key(self) -> tuple[float, str]:
        """The contract's capture order: earliest ``captured_at``, ties by ``enrollment_id``."""
        return (self.captured_ts, self.enrollment_id)

    def iris(self, eye: str) -> IrisTemplate | None:
        for t in self.irises:
            if t.eye == eye:
                return t
        return None

    def finger(self, position: int) -> FingerView | None:
        for f in self.fingers:
            if f.position == position:
                return f
        return None


class VerdictKind(str, Enum):
    """The contract's verdicts, in precedence order (first wins)."""

    REJECTED = "REJECTED"
    REVIEW = "REVIEW"
    DUPLICATE = "DUPLICATE"
    NIK_CONFLICT = "NIK_CONFLICT"
    RECAPTURE = "RECAPTURE"
    UNIQUE = "UNIQUE"


@dataclass(frozen=True, slots=True)
class Verdict:
    """A decision about one enrollment, before the verdict writer assigns its revision."""

    enrollment_id: str
    nik: str | None
    verdict: VerdictKind
    person_id: str | None = None
    matches: tuple[dict, ...] = ()
    reasons: tuple[str, ...] = field(default_factory=tuple)
