"""When is a template usable at all? A record without one usable modality gets no uniqueness
decision (REJECTED, INSUFFICIENT_BIOMETRICS)."""

from __future__ import annotations

from streams.domain.types import Enrollment, FingerView, IrisTemplate

#: Fewest jointly usable bits worth comparing, as a share of the code length. Below it a
#: distance is noise (the impostor spread grows as 1/sqrt(n)).
MIN_IRIS_USABLE_FRACTION = 0.25

#: Fewest minutiae for a finger view to count as usable (a partial print below this carries too
#: little to separate impostors; SourceAFIS-style matchers need several pairings).
MIN_FINGER_MINUTIAE = 8


def iris_usable(t: IrisTemplate) -> bool:
    return t.usable_bits >= MIN_IRIS_USABLE_FRACTION * t.code.size


def finger_usable(f: FingerView) -> bool:
    return f.count >= MIN_FINGER_MINUTIAE


def has_usable_biometrics(e: Enrollment) -> bool:
    return any(iris_usable(t) for t in e.irises) or any(finger_usable(f) for f in e.fingers)
