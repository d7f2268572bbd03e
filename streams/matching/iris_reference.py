"""The slow, obviously correct iris scorer the fast kernel is tested against.

It works on the unpacked boolean arrays, rotates with ``numpy.roll`` and counts with ``sum``: no
packing, no word layout, no numba. It shares only the specification with ``iris.py`` (the
parameters, the rotation order used to break ties, and the normalisation formula), so a bug in the
fast path's packing, rotation or popcount shows up as a disagreement.
"""

from __future__ import annotations


import numpy as np

from streams.domain.types import IrisTemplate
from streams.errors import TemplateError
from streams.matching.iris import (
    IrisPairScore,
    min_bits_for,
    n_ref_for,
    normalise,
    shift_order,
)


def reference_score(probe: IrisTemplate, candidate: IrisTemplate) -> IrisPairScore:
    """Masked fractional Hamming distance, best over every rotation of the probe (see iris.py)."""
    if probe.eye != candidate.eye:
        raise TemplateError("eyes differ", code="IRIS_EYE_MISMATCH")
    shape = tuple(probe.shape)
    n_ref = n_ref_for(shape)
    min_bits = min_bits_for(shape)
    pc = np.asarray(probe.code, dtype=bool)
    pm = np.asarray(probe.mask, dtype=bool)
    gc = np.asarray(candidate.code, dtype=bool)
    gm = np.asarray(candidate.mask, dtype=bool)
    best: tuple[float, float, int, int] | None = None
    most = 0
    for s in shift_order(shape[2]):
        s = int(s)
        code = np.roll(pc, s, axis=2)
        joint = np.roll(pm, s, axis=2) & gm
        n = int(joint.sum())
        most = max(most, n)
        if n < min_bits:
            continue
        d = int(((code ^ gc) & joint).sum())
        raw = d / n
        norm = normalise(raw, n, n_ref)
        if best is None or (norm, raw) < (best[0], best[1]):
            best = (norm, raw, s, n)
    if best is None:
        return IrisPairScore(None, None, 0, most)
    return IrisPairScore(best[0], best[1], best[2], best[3])


def reference_hd_at(probe: IrisTemplate, candidate: IrisTemplate, shift: int) -> tuple[int, int]:
    """(disagreeing bits, jointly usable bits) at one rotation of the probe."""
    joint = np.roll(probe.mask, shift, axis=2) & candidate.mask
    d = (np.roll(probe.code, shift, axis=2) ^ candidate.code) & joint
    return int(d.sum()), int(joint.sum())


__all__ = ["reference_score", "reference_hd_at"]
