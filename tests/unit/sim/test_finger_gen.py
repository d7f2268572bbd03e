"""Synthetic finger generator: statistics, geometry, flow consistency, determinism, speed."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.sim import finger as G
from streams.sim.finger_field import CLASS_FREQUENCIES, PatternClass, draw_pattern, make_field


@pytest.fixture(scope="module")
def masters() -> list[G.FingerMaster]:
    rng = np.random.default_rng(11)
    return [G.make_finger(rng, 1 + k % 10) for k in range(400)]


def test_master_minutiae_counts_are_realistic(masters):
    counts = np.array([m.count for m in masters])
    assert counts.min() >= G.MINUTIAE_MIN and counts.max() <= G.MINUTIAE_MAX
    assert 40.0 <= counts.mean() <= 50.0
    assert counts.std() >= 5.0  # a spread, not a constant


def test_master_geometry(masters):
    for m in masters:
        u, v = m.x - G.CENTRE_X, G.CENTRE_Y - m.y
        assert G.in_finger(u, v).all()
        d = np.hypot(m.x[:, None] - m.x[None, :], m.y[:, None] - m.y[None, :])
        d[np.eye(m.count, dtype=bool)] = np.inf
        assert d.min() >= G.MIN_SPACING_PX - 1e-9
        assert ((m.angle >= 0) & (m.angle < 2 * np.pi)).all()
        assert set(np.unique(m.kind)) <= {1, 2}
    share = np.mean(np.concatenate([m.kind for m in masters]) == 2)
    assert abs(share - G.BIFURCATION_SHARE) < 0.03


def test_minutiae_follow_the_ridge_flow(masters):
    """A minutia's direction, modulo pi, is the ridge orientation where it sits."""
    diffs = []
    for m in masters:
        flow = m.flow_at(m.x, m.y)
        d = np.mod(m.angle - flow, np.pi)
        diffs.append(np.minimum(d, np.pi - d))
    diffs = np.concatenate(diffs)
    assert np.percentile(diffs, 99) < 4.5 * G.FLOW_ANGLE_SD


def _poincare_index(field, cx: float, cy: float, r: float = 6.0, steps: int = 64) -> float:
    t = np.linspace(0, 2 * np.pi, steps + 1)
    o = field.orientation(cx + r * np.cos(t), cy + r * np.sin(t))
    d = np.diff(o)
    d = (d + np.pi / 2) % np.pi - np.pi / 2  # orientation steps wrapped to (-pi/2, pi/2]
    return float(d.sum() / (2 * np.pi))


@pytest.mark.parametrize("pattern", [PatternClass.LEFT_LOOP, PatternClass.RIGHT_LOOP, PatternClass.WHORL, PatternClass.TENTED_ARCH])
def test_singular_points_have_their_poincare_index(pattern):
    field = make_field(np.random.default_rng(5), pattern)
    cores, deltas = field.singular_points()
    assert len(cores) == (2 if pattern == PatternClass.WHORL else 1) and len(deltas) == len(cores)
    for core in cores:
        assert _poincare_index(field, core.real, core.imag) == pytest.approx(0.5, abs=1e-6)
    for delta in deltas:
        assert _poincare_index(field, delta.real, delta.imag) == pytest.approx(-0.5, abs=1e-6)
    # away from singular points the flow is smooth: index 0
    assert _poincare_index(field, 120.0, 150.0, r=5.0) == pytest.approx(0.0, abs=1e-6)


def test_arch_flow_is_smooth_everywhere():
    field = make_field(np.random.default_rng(6), PatternClass.ARCH)
    for cx, cy in [(0.0, 0.0), (40.0, -30.0), (-60.0, 80.0)]:
        assert _poincare_index(field, cx, cy, r=20.0) == pytest.approx(0.0, abs=1e-6)


def test_class_frequencies():
    rng = np.random.default_rng(3)
    drawn = np.array([draw_pattern(rng) for _ in range(5000)])
    for cls, p in CLASS_FREQUENCIES.items():
        assert abs(np.mean(drawn == cls) - p) < 4 * np.sqrt(p * (1 - p) / drawn.size) + 1e-3


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), quality=st.one_of(st.none(), st.floats(0.0, 1.0)))
def test_impressions_are_valid_views(seed, quality):
    rng = np.random.default_rng(seed)
    m = G.make_finger(rng, 3)
    v = G.impression(m, rng, quality=quality)
    assert v.position == 3 and v.resolution == G.RESOLUTION_PPCM
    assert (v.x >= 0).all() and (v.x < v.width).all() and (v.y >= 0).all() and (v.y < v.height).all()
    assert ((v.angle >= 0) & (v.angle < 2 * np.pi + 1e-6)).all()
    assert set(np.unique(v.kind)) <= {1, 2}
    assert 1 <= v.quality <= 100 and ((v.minutia_quality >= 1) & (v.minutia_quality <= 100)).all()
    assert v.x.dtype == np.int32 and v.angle.dtype == np.float32 and v.kind.dtype == np.uint8


def test_impression_statistics_follow_quality():
    rng = np.random.default_rng(8)
    ms = [G.make_finger(rng, 2) for _ in range(150)]
    good = np.array([G.impression(m, rng, quality=0.95, partial=False, rotation=0.0).count / m.count for m in ms])
    poor = np.array([G.impression(m, rng, quality=0.2, partial=False, rotation=0.0).count / m.count for m in ms])
    part = np.array([G.impression(m, rng, quality=0.95, partial=True, rotation=0.0).count / m.count for m in ms])
    assert 0.8 <= good.mean() <= 1.1  # a few missed, a few spurious
    assert poor.mean() > 0.7  # many missed but many spurious too ...
    assert part.mean() < 0.8 * good.mean()  # ... and a crop loses minutiae


def test_impression_matches_master_under_known_pose():
    """With rotation 0 and high quality, most minutiae sit within a few px of a true one."""
    rng = np.random.default_rng(9)
    m = G.make_finger(rng, 2)
    v = G.impression(m, rng, quality=1.0, rotation=0.0, partial=False)
    dx = np.median(v.x) - np.median(m.x)  # undo the random translation roughly
    dy = np.median(v.y) - np.median(m.y)
    d = np.hypot(v.x[:, None] - dx - m.x[None, :], v.y[:, None] - dy - m.y[None, :]).min(axis=1)
    assert np.mean(d < 20.0) >= 0.8


def test_rotation_distribution():
    rng = np.random.default_rng(4)
    r = np.abs(np.array([G.draw_rotation(rng) for _ in range(4000)]))
    assert r.max() <= G.MAX_ROTATION
    assert np.median(r) < np.deg2rad(8)
    assert np.mean(r > np.deg2rad(20)) > 0.03  # sometimes large


def test_people_sometimes_have_fewer_fingers():
    rng = np.random.default_rng(12)
    people = [G.make_person_fingers(rng) for _ in range(600)]
    sizes = np.array([len(p) for p in people])
    assert np.mean(sizes == 10) > 0.9
    assert (sizes < 10).any()
    assert all(set(p) <= set(G.FINGER_POSITIONS) and all(m.position == k for k, m in p.items()) for p in people)


def test_deterministic_per_seed():
    a = G.capture_fingers(G.make_person_fingers(np.random.default_rng(77)), np.random.default_rng(78))
    b = G.capture_fingers(G.make_person_fingers(np.random.default_rng(77)), np.random.default_rng(78))
    assert len(a) == len(b)
    for va, vb in zip(a, b):
        assert np.array_equal(va.x, vb.x) and np.array_equal(va.angle, vb.angle) and va.quality == vb.quality


def test_ten_finger_enrollment_is_fast():
    rng = np.random.default_rng(1)
    G.capture_fingers(G.make_person_fingers(rng), rng)
    t = time.process_time()
    for _ in range(20):
        G.capture_fingers(G.make_person_fingers(rng), rng)
    per = (time.process_time() - t) / 20
    assert per < 0.015  # a 10-finger person plus one capture session, CPU time
