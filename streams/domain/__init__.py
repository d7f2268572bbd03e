"""The vocabulary of Tunggal: validated, immutable records the core works on.

Codecs build these from bytes once, at the edge; everything after trusts them.
"""

from streams.domain.types import (
    DEFAULT_IRIS_SHAPE,
    Demographics,
    Enrollment,
    FingerView,
    IrisTemplate,
    Verdict,
    VerdictKind,
)

__all__ = [
    "DEFAULT_IRIS_SHAPE",
    "Demographics",
    "Enrollment",
    "FingerView",
    "IrisTemplate",
    "Verdict",
    "VerdictKind",
]
