"""Finger matcher: properties, agreement with the reference, accuracy on generated data, fusion."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.domain.types import FingerView
from streams.matching import finger as F
from streams.matching.finger_reference import reference_score
from streams.sim import finger as G


def _pair(seed: int, genuine: bool, **kw) -> tuple[FingerView, FingerView]:
    rng = np.random.default_rng(seed)
    m = G.make_finger(rng, 2)
    other = m if genuine else G.make_finger(rng, 2, m.pattern)  # impostors of the same class
    return G.impression(m, rng, **kw), G.impression(other, rng, **kw)


def _moved(v: FingerView, alpha: float, tx: float, ty: float) -> FingerView:
    """``v`` rotated by ``alpha`` (counter-clockwise on the image) about its centre, then shifted."""
    cx, cy = v.width / 2, v.height / 2
    u, w = v.x - cx, cy - v.y.astype(np.float64)
    c, s = np.cos(alpha), np.sin(alpha)
    x = np.rint(c * u - s * w + cx + tx).astype(np.int32)
    y = np.rint(cy - (s * u + c * w) + ty).astype(np.int32)
    angle = np.mod(v.angle.astype(np.float64) + alpha, 2 * np.pi).astype(np.float32)
    return dataclasses.replace(v, x=x, y=y, angle=angle)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), genuine=st.booleans())
def test_symmetric_and_in_range(seed, genuine):
    a, b = (F.prepare(v) for v in _pair(seed, genuine))
    sab, sba = F.score(a, b), F.score(b, a)
    assert 0.0 <= sab <= 1.0
    assert sab == pytest.approx(sba, abs=1e-12)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_self_match_is_high(seed):
    rng = np.random.default_rng(seed)
    v = G.impression(G.make_finger(rng, 1), rng, quality=0.9, partial=False)
    f = F.prepare(v)
    assert F.score(f, f) >= 0.9


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    degrees=st.floats(-45.0, 45.0),
    tx=st.floats(-60.0, 60.0),
    ty=st.floats(-60.0, 60.0),
)
def test_rotation_and_translation_invariance(seed, degrees, tx, ty):
    """A capture against its rotated, shifted copy (integer pixels again) scores like a self-match."""
    rng = np.random.default_rng(seed)
    v = G.impression(G.make_finger(rng, 4), rng, quality=0.9, partial=False)
    f = F.prepare(v)
    g = F.prepare(_moved(v, np.deg2rad(degrees), tx, ty))
    assert F.score(f, g) >= 0.5 * F.score(f, f)
    assert F.score(f, g) > 5 * F.FINGER_SCORE_AT_FMR_1E4


@pytest.mark.parametrize(
    ("seed", "genuine", "kw"),
    [(1, True, {}), (2, False, {}), (3, True, {"partial": True, "quality": 0.3, "rotation": 0.7})],
)
def test_fast_equals_reference(seed, genuine, kw):
    a, b = _pair(seed, genuine, **kw)
    fast = F.score(F.prepare(a), F.prepare(b))
    assert fast == pytest.approx(reference_score(a, b), abs=1e-12)


def _first(v: FingerView, k: int) -> FingerView:
    return dataclasses.replace(v, x=v.x[:k], y=v.y[:k], angle=v.angle[:k], kind=v.kind[:k], minutia_quality=v.minutia_quality[:k])


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), genuine=st.booleans(), ka=st.integers(0, 22), kb=st.integers(0, 22))
def test_fast_equals_reference_on_small_fingers(seed, genuine, ka, kb):
    """Few minutiae exercise the edge cases: no cylinder, one pair, degenerate hulls."""
    a, b = _pair(seed, genuine)
    a, b = _first(a, ka), _first(b, kb)
    assert F.score(F.prepare(a), F.prepare(b)) == pytest.approx(reference_score(a, b), abs=1e-12)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_iso_angle_quantisation_costs_little(seed):
    """The ISO record keeps angles in 256 steps; a quantised copy still scores like a self-match."""
    rng = np.random.default_rng(seed)
    v = G.impression(G.make_finger(rng, 8), rng, quality=0.9, partial=False)
    step = 2 * np.pi / 256
    q = dataclasses.replace(v, angle=(np.round(v.angle / step) % 256 * step).astype(np.float32))
    f = F.prepare(v)
    assert F.score(f, F.prepare(q)) >= 0.7 * F.score(f, f)


def test_score_many_equals_score_and_edge_cases():
    rng = np.random.default_rng(21)
    views = [G.impression(G.make_finger(rng, 5), rng) for _ in range(12)]
    feats = [F.prepare(v) for v in views]
    probe = feats[0]
    many = F.score_many(probe, feats)
    assert many.shape == (12,)
    assert np.allclose(many, [F.score(probe, f) for f in feats], atol=0)
    assert np.array_equal(F.score_many(probe, F.pack(feats)), many)
    assert F.score_many(probe, []).shape == (0,)
    empty = F.prepare(dataclasses.replace(views[1], x=views[1].x[:0], y=views[1].y[:0], angle=views[1].angle[:0]))
    assert empty.count == 0 and F.score(probe, empty) == 0.0
    other_position = dataclasses.replace(feats[0], position=6)
    assert F.score(probe, other_position) == 0.0  # same position against same position only


@pytest.fixture(scope="module")
def distributions():
    """Genuine and impostor single-finger scores: 300 fingers, 2 captures each."""
    rng = np.random.default_rng(424242)
    masters = [G.make_finger(rng, 7) for _ in range(300)]
    gallery = [F.prepare(G.impression(m, rng)) for m in masters]
    probes = [F.prepare(G.impression(m, rng)) for m in masters]
    gen = np.array([F.score(p, g) for p, g in zip(probes, gallery)])
    block = F.pack(gallery)
    rows = np.stack([F.score_many(p, block) for p in probes[:50]])
    off = ~np.eye(300, dtype=bool)[:50]
    cls = np.array([m.pattern for m in masters])
    same = (cls[:50, None] == cls[None, :])[off]
    return gen, rows[off], same


def _eer(gen: np.ndarray, imp: np.ndarray) -> float:
    ths = np.unique(np.concatenate([gen, imp]))
    fnmr = np.searchsorted(np.sort(gen), ths, side="left") / gen.size
    fmr = 1.0 - np.searchsorted(np.sort(imp), ths, side="left") / imp.size
    i = int(np.argmin(np.abs(fmr - fnmr)))
    return float((fmr[i] + fnmr[i]) / 2)


def test_single_finger_eer(distributions):
    gen, imp, same = distributions
    assert imp.size >= 10_000 and same.sum() >= 2_000
    assert _eer(gen, imp) <= 0.05
    assert _eer(gen, imp[same]) <= 0.05  # impostors with the same pattern class


def test_operating_points_hold_on_fresh_data(distributions):
    gen, imp, _ = distributions
    assert np.mean(imp >= F.FINGER_SCORE_AT_FMR_1E2) <= 0.02
    assert np.mean(imp >= F.FINGER_SCORE_AT_FMR_1E3) <= 0.004
    assert np.mean(gen < F.FINGER_SCORE_AT_FMR_1E3) <= 0.10
    assert F.FINGER_SCORE_AT_FMR_1E2 < F.FINGER_SCORE_AT_FMR_1E3 < F.FINGER_SCORE_AT_FMR_1E4


def test_llr_is_monotone_and_clipped():
    s = np.linspace(0, 1, 2001)
    llr = F.finger_llr(s)
    assert (np.diff(llr) >= 0).all()
    assert llr.min() >= F.LLR_MIN and llr.max() <= F.LLR_MAX
    assert F.finger_llr(0.0125) < 0 < F.finger_llr(0.05)  # impostor median vs typical genuine


def test_fuse_scores_rule():
    none = F.fuse_scores({})
    assert none.fingers == 0 and none.score == 0.5
    r = F.fuse_scores({2: 0.05, 7: 0.0125, 3: 0.0})
    assert r.fingers == 3
    assert r.llr == pytest.approx(float(F.finger_llr(np.array([0.05, 0.0125, 0.0])).sum()))
    assert r.score == pytest.approx(1 / (1 + np.exp(-r.llr)))
    assert [p for p, _ in r.per_position] == [2, 3, 7]


def test_fused_multi_finger_pairs_separate_cleanly():
    rng = np.random.default_rng(99)
    people = [p for p in (G.make_person_fingers(rng) for _ in range(40)) if len(p) >= 6]
    first = [tuple(F.prepare(v) for v in G.capture_fingers(p, rng)) for p in people]
    second = [tuple(F.prepare(v) for v in G.capture_fingers(p, rng)) for p in people]
    genuine = [F.fuse_enrollments(a, b) for a, b in zip(first, second)]
    impostor = [F.fuse_enrollments(first[i], second[j]) for i in range(len(people)) for j in range(len(people)) if i != j]
    assert all(g.fingers == len(p) for g, p in zip(genuine, people))
    assert min(g.llr for g in genuine) > 0.0 > max(i.llr for i in impostor)
    assert min(g.score for g in genuine) > 0.99 and max(i.score for i in impostor) < 0.01
