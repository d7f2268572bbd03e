"""The compiled key derivation (numba kernels, one pass over an enrollment's views) gives exactly
the keys of the numpy definitions: ``finger_keys_reference`` (the original finger scheme),
``iris_keys_reference`` (one shift at a time) and ``iris_keys_vectorised`` (the original iris
path), composed here as straightforwardly as the engine's ``keys_for`` was before the kernels.
Generated enrollments, plus the edge cases: views with few minutiae, no fingers, empty arrays,
equal qualities, tied distances, angles on bin edges, non-integer coordinates (the fallback),
masked and non-contiguous iris codes, small contract shapes."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from streams.blocking import biometric
from streams.blocking import finger_keys as fk
from streams.blocking import iris_keys as ik
from streams.blocking.keys import INDEXED_FINGERS, demographic_keys, keys_for
from streams.domain.types import Demographics, Enrollment, FingerView, IrisTemplate
from streams.sim import finger as sf
from streams.sim import iris as si

PEOPLE = 300
DEMO = Demographics("SITI NUR AISYAH", "SEMARANG", "1990-11-03", "F", "33.74.01.1001")


def reference_keys_for(e: Enrollment) -> list[str]:
    """``keys_for`` from the numpy definitions, one view at a time."""
    keys = set(demographic_keys(e))
    for t in e.irises:
        keys.update(ik.iris_keys_reference(t))
    for f in e.fingers:
        if f.position in INDEXED_FINGERS:
            keys.update(fk.finger_keys_reference(f))
    return sorted(keys)


def reference_biometric_keys_for(e: Enrollment) -> list[str]:
    keys = {k for t in e.irises for k in ik.iris_keys_reference(t)}
    return sorted(keys | {k for f in e.fingers for k in fk.finger_keys_reference(f)})


def _enrollment(i: int, fingers, irises) -> Enrollment:
    return Enrollment(f"E{i}", "S", "2017-01-01T00:00:00+07:00", 0.0, f"{3374010311900000 + i}",
                      DEMO, tuple(fingers), tuple(irises))


def _view(position: int, x, y, angle, quality) -> FingerView:
    n = len(x)
    return FingerView(position, 0, 60, np.asarray(x, np.int32), np.asarray(y, np.int32),
                      np.asarray(angle, np.float32), np.ones(n, np.uint8),
                      np.asarray(quality, np.uint8))


@pytest.fixture(scope="module")
def enrollments() -> list[Enrollment]:
    rng = np.random.default_rng(20240611)
    sources = {eye: [si.make_iris_source(rng) for _ in range(PEOPLE)] for eye in "RL"}
    eyes = {eye: si.capture_many(sources[eye], rng, eye=eye) for eye in "RL"}
    out = []
    for i in range(PEOPLE):
        fingers = sf.capture_fingers(sf.make_person_fingers(rng), rng)
        irises = (eyes["R"][i], eyes["L"][i])
        if i % 10 == 1:  # missing fingers, a missing eye
            fingers, irises = [f for f in fingers if f.position not in (1, 7)], irises[:1]
        elif i % 10 == 2:  # views with few minutiae (around MIN_MINUTIAE), one empty
            fingers = [replace(f, x=f.x[:k], y=f.y[:k], angle=f.angle[:k], kind=f.kind[:k],
                               minutia_quality=f.minutia_quality[:k])
                       for f, k in zip(fingers, (0, 3, 5, 6, 7, 8, 9, 10, 12, 4))]
        elif i % 10 == 3:  # no fingers at all
            fingers = []
        elif i % 10 == 4:  # every minutia of equal quality (all reliable)
            fingers = [replace(f, minutia_quality=np.full(f.count, 60, np.uint8)) for f in fingers]
        out.append(_enrollment(i, fingers, irises))
    return out


def test_keys_for_equals_the_numpy_definitions_on_generated_enrollments(enrollments):
    for e in enrollments:
        assert keys_for(e) == reference_keys_for(e), e.enrollment_id
        assert biometric.keys_for(e) == reference_biometric_keys_for(e), e.enrollment_id


def test_every_finger_view_and_eye_equals_its_reference(enrollments):
    views = [f for e in enrollments[:120] for f in e.fingers]
    assert sum(bool(fk.finger_keys_reference(f)) for f in views) > 500  # not all trivially empty
    for f in views:
        assert fk.finger_keys(f) == fk.finger_keys_reference(f)
    assert fk.finger_key_set(views) == {k for f in views for k in fk.finger_keys_reference(f)}
    for t in (t for e in enrollments[:60] for t in e.irises):
        assert ik.iris_keys(t) == ik.iris_keys_vectorised(t) == ik.iris_keys_reference(t)


def test_hand_made_finger_edge_cases():
    grid = np.arange(0, 200, 20)
    gx, gy = np.meshgrid(grid, grid)
    gx, gy = gx.ravel(), gy.ravel()
    quarter = np.pi / 4  # every angle on a bin edge of the 8 angle bins
    cases = [
        _view(1, [], [], [], []),  # empty arrays
        _view(2, [10, 20, 30, 40, 50], [10, 20, 30, 40, 50], [0] * 5, [50] * 5),  # too few
        _view(6, gx, gy, (np.arange(gx.size) % 8) * quarter, np.full(gx.size, 70)),  # tied dists
        _view(7, gx[:30], gy[:30], np.zeros(30), np.r_[np.full(15, 90), np.full(15, 10)]),
        _view(2, [0, 10, 0, 10, 5, 5, 5], [0, 0, 10, 10, 5, 5, 15], [0.0] * 7, [40] * 7),  # twins
        _view(1, [0, 300, 0, 300, 600, 0], [0, 0, 300, 300, 0, 600], [1.0] * 6, [50] * 6),  # far
    ]
    floats = replace(cases[2], x=cases[2].x.astype(np.float64) + 0.25)  # the numpy fallback
    cases.append(floats)
    for f in cases:
        assert fk.finger_keys(f) == fk.finger_keys_reference(f)
    assert fk.finger_key_set(cases) == {k for f in cases for k in fk.finger_keys_reference(f)}
    assert fk.finger_keys(cases[2])  # the tied grid does make keys


def test_hand_made_iris_edge_cases():
    rng = np.random.default_rng(7)
    t = si.capture(si.make_iris_source(rng), rng, eye="R", quality=1.0, tilt=0.0)
    half = t.mask.copy()
    half[:, :, :128] = False
    speckled = t.mask & (rng.random(t.mask.shape) < 0.55)  # cells near the known threshold
    wide = np.zeros((2, 16, 512, 2), bool)
    wide[:, :, ::2] = t.code  # a non-contiguous view of the same shape
    wide_mask = np.zeros_like(wide)
    wide_mask[:, :, ::2] = t.mask
    cases = [
        t,
        IrisTemplate("L", t.code, half),
        IrisTemplate("R", t.code, speckled),
        IrisTemplate("R", np.zeros_like(t.code), t.mask),  # every cell a tie in its margin
        IrisTemplate("L", t.code, np.zeros_like(t.mask)),  # fully masked: no keys
        IrisTemplate("R", wide[:, :, ::2], wide_mask[:, :, ::2]),
    ]
    for shape in ((1, 8, 64, 1), (2, 16, 128, 2), (1, 4, 64, 2)):
        cases.append(si.capture(si.make_iris_source(rng, shape), rng, eye="L", quality=1.0))
    for t in cases:
        assert ik.iris_keys(t) == ik.iris_keys_vectorised(t) == ik.iris_keys_reference(t)
