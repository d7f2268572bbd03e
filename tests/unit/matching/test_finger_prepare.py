"""``finger.prepare`` (compiled, pruned) returns exactly what ``finger.prepare_reference`` (the
cylinders as first written) returns: the same arrays, bit for bit, on generated views and on the
edge cases (no minutiae, one or two, collinear or repeated points, angles on the record's
1/256-turn grid, large coordinates). Also the compiled hull against ``convex_hull``, and the
fused score against the per-finger ``score`` it replaced."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.domain.types import FingerView
from streams.matching import finger as F
from streams.sim import finger as G

FIELDS = ("bits", "mask", "x", "y", "theta", "tie")


def assert_same(view: FingerView) -> None:
    new, ref = F.prepare(view), F.prepare_reference(view)
    assert (new.position, new.quality) == (ref.position, ref.quality)
    for name in FIELDS:
        a, b = getattr(new, name), getattr(ref, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert a.tobytes() == b.tobytes(), f"{name} differs ({np.sum(a != b)} elements)"


def _view(x, y, angle, position: int = 3) -> FingerView:
    n = len(x)
    return FingerView(position, 0, 60, np.asarray(x, dtype=np.int32), np.asarray(y, dtype=np.int32),
                      np.asarray(angle, dtype=np.float32), np.ones(n, dtype=np.uint8),
                      np.full(n, 60, dtype=np.uint8), 400, 500)  # fmt: skip


def _first(v: FingerView, k: int) -> FingerView:
    return dataclasses.replace(v, x=v.x[:k], y=v.y[:k], angle=v.angle[:k], kind=v.kind[:k],
                               minutia_quality=v.minutia_quality[:k])  # fmt: skip


def _quantised(v: FingerView) -> FingerView:
    """Angles as an ISO record carries them: whole 1/256 turns, float32."""
    units = np.floor(v.angle.astype(np.float64) * (256 / (2 * math.pi)) + 0.5) % 256
    return dataclasses.replace(v, angle=(units * (2 * math.pi / 256)).astype(np.float32))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), quantise=st.booleans())
def test_prepare_equals_reference_on_generated_views(seed, quantise):
    rng = np.random.default_rng(seed)
    v = G.impression(G.make_finger(rng, int(rng.integers(1, 11))), rng)
    assert_same(_quantised(v) if quantise else v)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(0, 14))
def test_prepare_equals_reference_on_few_minutiae(seed, k):
    """Few minutiae: no cylinder kept, one or two neighbours, hulls of one, two or three points."""
    rng = np.random.default_rng(seed)
    assert_same(_first(G.impression(G.make_finger(rng, 2), rng, partial=True), k))


@pytest.mark.parametrize("case", ["empty", "one", "two", "collinear", "repeated", "all_same", "square",
                                  "dense", "far_apart", "large_coordinates"])  # fmt: skip
def test_prepare_equals_reference_on_edge_cases(case):
    rng = np.random.default_rng(7)
    if case == "empty":
        v = _view([], [], [])
    elif case == "one":
        v = _view([100], [100], [1.0])
    elif case == "two":
        v = _view([100, 130], [100, 110], [1.0, 4.0])
    elif case == "collinear":  # a two-point hull: no cell is inside, cells near the segment are valid
        v = _view(np.arange(10) * 15 + 50, np.arange(10) * 10 + 40, rng.uniform(0, 2 * np.pi, 10))
    elif case == "repeated":  # duplicate points, the same and different angles
        x, y = rng.integers(50, 350, 25), rng.integers(50, 450, 25)
        v = _view(np.r_[x, x[:10]], np.r_[y, y[:10]], np.r_[rng.uniform(0, 6, 25), rng.uniform(0, 6, 5), np.ones(5)])
    elif case == "all_same":
        v = _view(np.full(6, 200), np.full(6, 200), np.linspace(0, 3, 6))
    elif case == "square":  # axis-aligned hull edges and right angles: cells on the grid of the edges
        g = np.arange(0, 201, 25)
        xx, yy = np.meshgrid(g, g)
        v = _view(xx.ravel(), yy.ravel(), np.tile([0.0, np.pi / 2, np.pi, 3 * np.pi / 2], 21)[: xx.size])
    elif case == "dense":
        v = _view(rng.integers(100, 160, 60), rng.integers(100, 160, 60), rng.uniform(0, 2 * np.pi, 60))
    elif case == "far_apart":  # no neighbours within reach: nothing kept
        v = _view(np.arange(8) * 300, np.arange(8) * 200, np.zeros(8))
    else:
        v = _view(rng.integers(16000, 16400, 40), rng.integers(15000, 15500, 40), rng.uniform(0, 2 * np.pi, 40))
    assert_same(v)
    assert_same(_quantised(v))


@settings(max_examples=60, deadline=None)
@given(points=st.lists(st.tuples(st.integers(-30, 30), st.integers(-30, 30)), max_size=25), scale=st.sampled_from([1.0, 0.5, 1e-3, 7.25]))
def test_compiled_hull_equals_convex_hull(points, scale):
    """The same vertices in the same order, duplicates and collinear points included."""
    x = np.array([p[0] for p in points], dtype=np.float64) * scale
    y = -np.array([p[1] for p in points], dtype=np.float64) * scale  # y = 0 becomes -0.0, as in prepare
    a, b = F._hull(x, y), F.convex_hull(x, y)
    assert a.shape == b.shape and a.tobytes() == b.tobytes()


def test_fused_score_equals_per_finger_scores():
    rng = np.random.default_rng(5)
    people = [G.make_person_fingers(rng) for _ in range(6)]
    sessions = [[tuple(F.prepare(v) for v in G.capture_fingers(p, rng)) for p in people] for _ in range(2)]
    for i, a in enumerate(sessions[0]):
        for j, b in enumerate(sessions[1]):
            bmap = {f.position: f for f in b}
            old = F.fuse_scores({f.position: F.score(f, bmap[f.position]) for f in a if f.position in bmap})
            assert F.fuse_enrollments(a, b) == old, (i, j)
