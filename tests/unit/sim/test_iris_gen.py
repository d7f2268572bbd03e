"""The synthetic iris generator: determinism, contract packing, and the statistics it promises."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.domain.types import DEFAULT_IRIS_SHAPE, IrisTemplate
from streams.errors import IrisShapeError
from streams.matching.iris import IRIS_HD_MATCH, IrisBlock, score_many, score_pair
from streams.matching.iris_reference import reference_hd_at
from streams.sim.iris import capture, capture_many, make_iris_source, pack, unpack

SHAPES = [DEFAULT_IRIS_SHAPE, (1, 8, 64, 2), (2, 16, 128, 2), (3, 5, 97, 1)]


@pytest.mark.parametrize("shape", SHAPES)
def test_same_seed_same_capture(shape):
    def one(seed):
        rng = np.random.default_rng(seed)
        return capture(make_iris_source(rng, shape), rng, eye="L")

    a, b, c = one(11), one(11), one(12)
    assert a.shape == shape and a.code.dtype == bool and a.mask.dtype == bool
    assert a.eye == "L"
    assert np.array_equal(a.code, b.code) and np.array_equal(a.mask, b.mask)
    assert not np.array_equal(a.code, c.code)


def test_batch_capture_is_deterministic_and_matches_its_sources():
    def batch(seed):
        rng = np.random.default_rng(seed)
        sources = [make_iris_source(rng, (2, 16, 128, 2)) for _ in range(5)]
        return sources, capture_many(sources, rng, eye="R")

    (sources, a), (_, b) = batch(3), batch(3)
    assert len(a) == 5 and all(t.shape == (2, 16, 128, 2) for t in a)
    for x, y in zip(a, b):
        assert np.array_equal(x.code, y.code) and np.array_equal(x.mask, y.mask)
    rng = np.random.default_rng(4)
    single = [capture(s, rng, eye="R") for s in sources]
    hd = [[score_pair(x, y).hd_norm for y in single] for x in a]
    assert all(hd[i][i] == min(row) for i, row in enumerate(hd))  # each batch capture finds its eye
    assert capture_many([], rng, eye="L") == []
    with pytest.raises(IrisShapeError):
        capture_many([sources[0], make_iris_source(rng)], rng, eye="R")


def test_bad_shapes_and_eyes_are_refused():
    rng = np.random.default_rng(0)
    with pytest.raises(IrisShapeError):
        make_iris_source(rng, (2, 16, 63, 2))
    with pytest.raises(IrisShapeError):
        make_iris_source(rng, (2, 16, 256))
    with pytest.raises(ValueError):
        capture(make_iris_source(rng), rng, eye="X")


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(SHAPES + [(1, 1, 65, 1)]), st.integers(0, 2**32 - 1))
def test_pack_unpack_round_trip(shape, seed):
    rng = np.random.default_rng(seed)
    t = IrisTemplate("R", rng.random(shape) < 0.5, rng.random(shape) < 0.7)
    code, mask = pack(t)
    assert len(code) == len(mask) == (int(np.prod(shape)) + 7) // 8
    back = unpack(code, mask, shape, "R")
    assert np.array_equal(back.code, t.code) and np.array_equal(back.mask, t.mask)


def test_pack_is_c_order_big_endian():
    shape = (1, 1, 65, 1)
    code = np.zeros(shape, dtype=bool)
    code[0, 0, 0, 0] = True  # first bit -> most significant bit of byte 0
    code[0, 0, 64, 0] = True  # bit 64 -> MSB of byte 8; byte 8's other 7 bits are padding
    packed, _ = pack(IrisTemplate("R", code, np.ones(shape, dtype=bool)))
    assert packed == bytes([0x80] + [0] * 7 + [0x80])


def test_unpack_checks_length_and_padding():
    shape = (1, 1, 65, 1)
    good = bytes(9)
    with pytest.raises(IrisShapeError) as err:
        unpack(bytes(8), good, shape, "R")
    assert err.value.code == "BAD_IRIS_SHAPE"
    with pytest.raises(IrisShapeError):
        unpack(good, bytes(10), shape, "R")
    with pytest.raises(IrisShapeError):
        unpack(bytes(8) + b"\x01", good, shape, "R")  # a padding bit set
    with pytest.raises(IrisShapeError):
        unpack(good, good, (1, 1, 32, 2), "R")  # too few angular columns


# ---------------------------------------------------------------- statistics

PEOPLE = 300


@pytest.fixture(scope="module")
def pairs():
    rng = np.random.default_rng(424242)
    sources = [make_iris_source(rng) for _ in range(PEOPLE)]
    a = [capture(s, rng, eye="R") for s in sources]
    b = [capture(s, rng, eye="R") for s in sources]
    return a, b


def test_unrotated_impostor_distance_is_binomial_like_daugman(pairs):
    """Daugman: mean ~0.5, sd ~0.03, ~249 degrees of freedom; independent bits would give ~128."""
    a, b = pairs
    hd = []
    for i in range(PEOPLE):
        d, n = reference_hd_at(a[i], b[(i + 1) % PEOPLE], 0)
        hd.append(d / n)
    hd = np.array(hd)
    mean, sd = float(hd.mean()), float(hd.std())
    dof = mean * (1 - mean) / sd**2
    assert 0.48 <= mean <= 0.52
    assert 0.025 <= sd <= 0.04
    assert 150 <= dof <= 400


def test_best_rotation_impostor_and_genuine_distances(pairs):
    a, b = pairs
    block = IrisBlock.from_templates(b, eye="R", shape=DEFAULT_IRIS_SHAPE)
    impostor, genuine, genuine_raw = [], [], []
    for i in range(PEOPLE):
        s = score_many(a[i], block)
        impostor.append(np.delete(s.hd_norm, i))
        genuine.append(s.hd_norm[i])
        genuine_raw.append(s.hd_raw[i])
    impostor = np.concatenate(impostor)
    assert 0.45 <= np.nanmean(impostor) <= 0.50
    assert 0.02 <= np.nanstd(impostor) <= 0.035
    genuine, genuine_raw = np.array(genuine), np.array(genuine_raw)
    assert np.mean(genuine <= IRIS_HD_MATCH) >= 0.95
    assert 0.10 <= np.nanmedian(genuine_raw) <= 0.25
    assert np.nanpercentile(genuine_raw, 95) > 0.2  # there is a tail of poor captures


def test_occlusion_varies_and_some_captures_are_heavily_occluded(pairs):
    usable = np.array([t.usable_bits / t.code.size for t in pairs[0] + pairs[1]])
    assert 0.6 <= np.median(usable) <= 0.9
    assert usable.std() > 0.08
    assert np.mean(usable < 0.45) >= 0.02
    # eyelids cover the outer rows more than the inner ones
    mask = np.stack([t.mask for t in pairs[0]])
    assert mask[:, :, -1].mean() < mask[:, :, 0].mean()


def test_head_tilt_is_a_rotation_the_matcher_finds():
    rng = np.random.default_rng(9)
    source = make_iris_source(rng)
    for tilt in (-8, -3, 0, 5, 8):
        a = capture(source, rng, eye="R", quality=1.0, tilt=0.0)
        b = capture(source, rng, eye="R", quality=1.0, tilt=float(tilt))
        s = score_pair(a, b)
        assert s.best_shift == tilt and s.hd_norm <= IRIS_HD_MATCH
