"""The compiled finger kernels against the numpy reference model (``streams.sim.finger``): the same
field element by element, the same distributions of masters and impressions, valid and
deterministic output, and ISO records byte for byte the codec's."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.codecs import iso19794
from streams.sim import finger as G
from streams.sim import finger_kernels as fk
from streams.sim import finger_sets as FS
from streams.sim import iso_writer, rand
from streams.sim.finger_field import (ARCH_WIDTH_PX, CLASS_FREQUENCIES, SINGULAR_JITTER_PX,
                                      PatternClass, make_field)
from tests.unit.sim.stats import ks_critical, ks_statistic

MASTERS = 400


@pytest.fixture(scope="module")
def kernel_masters() -> list[G.FingerMaster]:
    ms = FS.make_masters(rand.stream(11), [1 + k % 10 for k in range(MASTERS)])
    return [ms.master(i) for i in range(len(ms))]


@pytest.fixture(scope="module")
def reference_masters() -> list[G.FingerMaster]:
    rng = np.random.default_rng(11)
    return [G.make_finger(rng, 1 + k % 10) for k in range(MASTERS)]


@pytest.mark.parametrize("pattern", list(PatternClass))
def test_kernel_orientation_is_the_reference_field(pattern):
    rng = np.random.default_rng(int(pattern))
    for _ in range(10):
        field = make_field(rng, pattern)
        p = field.params()
        x, y = rng.uniform(-200, 200, 200), rng.uniform(-250, 250, 200)
        got = np.array([fk.orientation(p, a, b, ARCH_WIDTH_PX) for a, b in zip(x, y)])
        want = field.orientation(x, y)
        d = np.abs(got - want)
        assert np.minimum(d, np.pi - d).max() < 1e-9
        again = type(field).from_params(p)
        assert np.allclose(again.orientation(x, y), want, atol=1e-12)


def test_masters_match_the_reference_in_distribution(kernel_masters, reference_masters):
    def stats(ms):
        counts = np.array([m.count for m in ms])
        nearest = []
        for m in ms:
            d = np.hypot(m.x[:, None] - m.x[None, :], m.y[:, None] - m.y[None, :])
            d[np.eye(m.count, dtype=bool)] = np.inf
            nearest.append(d.min(axis=1))
        return counts, np.concatenate(nearest), np.mean(np.concatenate([m.kind for m in ms]) == 2)

    (kc, kn, kb), (rc, rn, rb) = stats(kernel_masters), stats(reference_masters)
    assert kn.min() >= G.MIN_SPACING_PX - 1e-9 and kc.min() >= G.MINUTIAE_MIN
    assert kc.max() <= G.MINUTIAE_MAX
    assert abs(kc.mean() - rc.mean()) < 2.0 and abs(kc.std() - rc.std()) < 1.5
    assert ks_statistic(kn, rn) < ks_critical(kn.size, rn.size)  # the same spacing structure
    assert abs(kb - rb) < 0.03 and abs(kb - G.BIFURCATION_SHARE) < 0.03
    for m in kernel_masters:
        assert G.in_finger(m.x - G.CENTRE_X, G.CENTRE_Y - m.y).all()
        assert ((m.angle >= 0) & (m.angle < 2 * np.pi)).all()
        flow = m.flow_at(m.x, m.y)  # the reference field of the kernel's parameters
        d = np.mod(m.angle - flow, np.pi)
        assert np.percentile(np.minimum(d, np.pi - d), 99) < 4.5 * G.FLOW_ANGLE_SD


def test_pattern_classes_and_singular_points():
    ms = FS.make_masters(rand.stream(12), range(4000))
    classes = ms.params[:, fk.P_PATTERN].astype(int)
    for cls, p in CLASS_FREQUENCIES.items():
        assert abs(np.mean(classes == cls) - p) < 4 * np.sqrt(p * (1 - p) / classes.size) + 1e-3
    whorls = ms.params[classes == PatternClass.WHORL]
    assert (whorls[:, fk.P_CORES] == 2).all() and (whorls[:, fk.P_DELTAS] == 2).all()
    first_core_x = whorls[:, fk.P_CORE0]  # nominally 0, jittered per finger
    assert abs(first_core_x.mean()) < 1.5 and abs(first_core_x.std() - SINGULAR_JITTER_PX) < 1.5
    forced = FS.make_masters(rand.stream(13), [2] * 5, [PatternClass.ARCH] * 5)
    assert (forced.params[:, fk.P_PATTERN] == PatternClass.ARCH).all()


@pytest.mark.parametrize("quality", [0.95, 0.2])
def test_impressions_match_the_reference_in_distribution(reference_masters, quality):
    masters = reference_masters[:200]
    ref_rng = np.random.default_rng(8)
    ref = [G.impression(m, ref_rng, quality=quality, rotation=0.0, partial=False) for m in masters]
    imp = FS.capture_session(FS.Masters.of(masters), rand.stream(8), quality=quality, rotation=0.0,
                             partial=False)
    ratio_ref = np.array([v.count / m.count for v, m in zip(ref, masters)])
    ratio = imp.counts / np.array([m.count for m in masters])
    assert abs(ratio.mean() - ratio_ref.mean()) < 0.04
    mq_ref = np.concatenate([v.minutia_quality for v in ref])
    assert ks_statistic(imp.minutia_quality, mq_ref) < ks_critical(imp.minutia_quality.size, mq_ref.size)
    fq_ref = np.array([v.quality for v in ref])
    assert abs(imp.quality.mean() - fq_ref.mean()) < 1.5


def test_drawn_quality_rotation_and_crops_match_the_reference(reference_masters):
    masters = reference_masters[:300]
    ref_rng = np.random.default_rng(9)
    ref = [G.impression(m, ref_rng) for m in masters]
    imp = FS.capture_session(FS.Masters.of(masters), rand.stream(9))
    fq_ref = np.array([v.quality for v in ref], dtype=float)
    assert ks_statistic(imp.quality.astype(float), fq_ref) < ks_critical(len(imp), fq_ref.size)
    counts_ref = np.array([v.count for v in ref], dtype=float)
    assert ks_statistic(imp.counts.astype(float), counts_ref) < ks_critical(len(imp), counts_ref.size)
    s = rand.stream(10)
    rot = np.abs([fk.draw_rotation(s, FS.CAPTURE_MODEL) for _ in range(4000)])
    rot_ref = np.abs([G.draw_rotation(ref_rng) for _ in range(4000)])
    assert rot.max() <= G.MAX_ROTATION and ks_statistic(rot, rot_ref) < ks_critical(4000, 4000)


def test_an_impression_sits_on_its_master_under_a_known_pose(reference_masters):
    """With rotation 0 and full quality most minutiae sit within a few px of a true one, once the
    translation is undone (roughly, by medians: the reference scores the same)."""
    masters = reference_masters[:100]

    def near(views) -> float:
        hits = []
        for v, m in zip(views, masters):
            dx, dy = np.median(v.x) - np.median(m.x), np.median(v.y) - np.median(m.y)
            d = np.hypot(v.x[:, None] - dx - m.x[None, :], v.y[:, None] - dy - m.y[None, :])
            hits.append(np.mean(d.min(axis=1) < 20.0))
        return float(np.mean(hits))

    ms = FS.Masters.of(masters)
    imp = FS.capture_session(ms, rand.stream(14), quality=1.0, rotation=0.0, partial=False)
    rng = np.random.default_rng(14)
    ref = [G.impression(m, rng, quality=1.0, rotation=0.0, partial=False) for m in masters]
    assert near(imp.views()) >= 0.85 and abs(near(imp.views()) - near(ref)) < 0.05
    crops = FS.capture_session(ms, rand.stream(15), quality=1.0, rotation=0.0, partial=True)
    assert crops.counts.mean() < 0.8 * imp.counts.mean()


@settings(max_examples=25, deadline=None)
@given(key=st.integers(0, 2**63 - 1), quality=st.one_of(st.none(), st.floats(0.0, 1.0)))
def test_sessions_are_valid_views_and_records_are_the_codecs(key, quality):
    s = rand.stream(key)
    imp = FS.capture_session(FS.make_masters(s, G.FINGER_POSITIONS), s, quality=quality)
    assert imp.x.dtype == np.int32 and imp.angle.dtype == np.float32 and imp.kind.dtype == np.uint8
    assert ((imp.x >= 0) & (imp.x < G.IMAGE_WIDTH_PX) & (imp.y >= 0) & (imp.y < G.IMAGE_HEIGHT_PX)).all()
    assert ((imp.angle >= 0) & (imp.angle <= np.float32(2 * np.pi))).all()
    assert set(np.unique(imp.kind)) <= {1, 2} and ((imp.quality >= 1) & (imp.quality <= 100)).all()
    assert ((imp.minutia_quality >= 1) & (imp.minutia_quality <= 100)).all()
    for session in (imp, imp.head(5)):
        for j, record in enumerate(iso_writer.records(session)):
            v = session.view(j)
            assert record == iso19794.encode([v], width=v.width, height=v.height, resolution=v.resolution)


def test_the_record_writer_defers_to_the_codec_on_bad_values():
    s = rand.stream(16)
    imp = FS.capture_session(FS.make_masters(s, [3]), s)
    bad = FS.Impressions(imp.positions, imp.quality, imp.vstart, imp.x + G.IMAGE_WIDTH_PX, imp.y,
                         imp.angle, imp.kind, imp.minutia_quality)
    with pytest.raises(iso19794.IsoRecordError):
        iso_writer.records(bad)


def test_head_keeps_the_first_minutiae_of_each_view():
    s = rand.stream(17)
    imp = FS.capture_session(FS.make_masters(s, G.FINGER_POSITIONS), s)
    cut = imp.head(5)
    assert (cut.counts == np.minimum(imp.counts, 5)).all()
    for j in range(len(imp)):
        assert np.array_equal(cut.view(j).x, imp.view(j).x[:5])


def test_masters_round_trip_through_the_flat_set(kernel_masters):
    again = FS.Masters.of(kernel_masters[:20])
    for i, m in enumerate(kernel_masters[:20]):
        back = again.master(i)
        assert back.position == m.position and back.pattern == m.pattern
        assert np.array_equal(back.x, m.x) and np.array_equal(back.kind, m.kind)


def test_fingers_lost_follows_the_rates():
    lost = [FS.fingers_lost(rand.stream(18, k)) for k in range(20_000)]
    sizes = np.array([len(x) for x in lost])
    assert abs(np.mean(sizes == 10) - G.NO_FINGERS_RATE) < 0.0025
    some = sizes[(sizes > 0) & (sizes < 10)]
    assert abs(some.size / sizes.size - G.FEWER_FINGERS_RATE) < 0.006
    assert some.min() >= 1 and some.max() <= G.MAX_MISSING_FINGERS
    assert all(x <= set(G.FINGER_POSITIONS) for x in lost)


def test_a_key_fixes_the_fingers():
    def one():
        s = rand.stream(19, 4)
        ms = FS.make_masters(s, G.FINGER_POSITIONS)
        return ms, FS.capture_session(ms, s)

    (ma, ia), (mb, ib) = one(), one()
    for name in ("params", "x", "angle", "kind"):
        assert np.array_equal(getattr(ma, name), getattr(mb, name))
    for name in ("quality", "vstart", "x", "y", "angle", "minutia_quality"):
        assert np.array_equal(getattr(ia, name), getattr(ib, name))


def test_a_ten_finger_enrollment_costs_well_under_a_millisecond():
    s = rand.stream(20)
    iso_writer.records(FS.capture_session(FS.make_masters(s, G.FINGER_POSITIONS), s))
    t = time.process_time()
    for _ in range(50):
        iso_writer.records(FS.capture_session(FS.make_masters(s, G.FINGER_POSITIONS), s))
    assert (time.process_time() - t) / 50 < 0.002  # about 0.2 ms; the reference takes 8 ms
