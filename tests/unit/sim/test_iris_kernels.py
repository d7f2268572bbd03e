"""The compiled iris path (``iris.draw_sources``, ``iris.capture_eyes``) against the numpy reference
(``make_iris_source``, ``capture_many``): the same texture power, the same impostor and genuine
distances, the same occlusion, tilt as a rotation, determinism for a key."""

from __future__ import annotations

import numpy as np
import pytest

from streams.domain.types import DEFAULT_IRIS_SHAPE
from streams.errors import IrisShapeError
from streams.matching.iris import IRIS_HD_MATCH, IrisBlock, score_many, score_pair
from streams.matching.iris_reference import reference_hd_at
from streams.sim import iris as I
from streams.sim import rand
from tests.unit.sim.stats import ks_critical, ks_statistic

PEOPLE = 150


def _figures(a: list, b: list) -> dict:
    """Unrotated impostor distances, best-rotation genuine distances and usable shares."""
    n = len(a)
    impostor = np.array([np.divide(*reference_hd_at(a[i], b[(i + 1) % n], 0)) for i in range(n)])
    block = IrisBlock.from_templates(b, eye=a[0].eye, shape=a[0].shape)
    genuine = np.array([score_many(a[i], block).hd_norm[i] for i in range(n)])
    usable = np.array([t.usable_bits / t.code.size for t in a + b])
    return {"impostor": impostor, "genuine": genuine, "usable": usable}


@pytest.fixture(scope="module")
def kernel() -> dict:
    s = rand.stream(424242)
    sources = I.draw_sources(s, PEOPLE)
    eyes = ["R"] * PEOPLE
    return _figures(I.capture_eyes(sources, s, eyes), I.capture_eyes(sources, s, eyes))


@pytest.fixture(scope="module")
def reference() -> dict:
    rng = np.random.default_rng(424242)
    sources = [I.make_iris_source(rng) for _ in range(PEOPLE)]
    return _figures(I.capture_many(sources, rng, eye="R"), I.capture_many(sources, rng, eye="R"))


def test_sources_have_the_reference_power_per_band_bin():
    got = np.stack([x.spectrum for x in I.draw_sources(rand.stream(1), 400)])
    rng = np.random.default_rng(1)
    want = np.stack([I.make_iris_source(rng).spectrum for _ in range(400)])
    assert got.shape == want.shape and got.dtype == want.dtype
    power, ref = (np.abs(got) ** 2).mean(axis=(0, 1)), (np.abs(want) ** 2).mean(axis=(0, 1))
    assert np.allclose(power, ref, rtol=0.15, atol=1e-3 * ref.max())


def test_impostors_are_binomial_like_daugman_as_in_the_reference(kernel, reference):
    hd = kernel["impostor"]
    dof = hd.mean() * (1 - hd.mean()) / hd.var()
    assert 0.48 <= hd.mean() <= 0.52 and 0.025 <= hd.std() <= 0.04 and 150 <= dof <= 400
    assert abs(hd.mean() - reference["impostor"].mean()) < 0.01
    assert abs(hd.std() - reference["impostor"].std()) < 0.008


def test_genuine_distances_and_occlusion_as_in_the_reference(kernel, reference):
    g, r = kernel["genuine"], reference["genuine"]
    assert np.mean(g <= IRIS_HD_MATCH) >= 0.95
    assert abs(np.nanmedian(g) - np.nanmedian(r)) < 0.03
    g, r = g[np.isfinite(g)], r[np.isfinite(r)]
    assert ks_statistic(g, r) < ks_critical(g.size, r.size)
    u, ru = kernel["usable"], reference["usable"]
    assert 0.6 <= np.median(u) <= 0.9 and u.std() > 0.08
    assert ks_statistic(u, ru) < ks_critical(u.size, ru.size)


def test_heavy_occlusion_and_lids_over_the_outer_rows():
    n = 2000
    s = rand.stream(5)
    caps = I.capture_eyes(I.draw_sources(s, 1) * n, s, ["L"] * n)
    rng = np.random.default_rng(5)
    ref = I.capture_many([I.make_iris_source(rng)] * n, rng, eye="L")
    poor, ref_poor = (np.mean([t.usable_bits / t.code.size < 0.45 for t in c]) for c in (caps, ref))
    assert poor >= 0.03  # heavily occluded captures, plus the poorest ordinary ones
    assert abs(poor - ref_poor) < 4 * np.sqrt(2 * ref_poor * (1 - ref_poor) / n)
    mask = np.stack([t.mask for t in caps[:300]])
    assert mask[:, :, -1].mean() < mask[:, :, 0].mean()


def test_head_tilt_is_a_rotation_the_matcher_finds():
    s = rand.stream(9)
    source = I.draw_sources(s, 1)
    for tilt in (-8, -3, 0, 5, 8):
        a = I.capture_eyes(source, s, ["R"], quality=1.0, tilt=0.0)[0]
        b = I.capture_eyes(source, s, ["R"], quality=1.0, tilt=float(tilt))[0]
        score = score_pair(a, b)
        assert score.best_shift == tilt and score.hd_norm <= IRIS_HD_MATCH


@pytest.mark.parametrize("shape", [DEFAULT_IRIS_SHAPE, (1, 8, 64, 2), (3, 5, 97, 1)])
def test_a_key_fixes_the_codes_at_every_shape(shape):
    def one(key):
        s = rand.stream(key)
        return I.capture_eyes(I.draw_sources(s, 2, shape), s, ["R", "L"])

    a, b, c = one(3), one(3), one(4)
    assert [t.eye for t in a] == ["R", "L"] and all(t.shape == shape for t in a)
    for x, y, z in zip(a, b, c):
        assert x.code.dtype == bool and x.mask.dtype == bool
        assert np.array_equal(x.code, y.code) and np.array_equal(x.mask, y.mask)
        assert not np.array_equal(x.code, z.code)


def test_bad_inputs_are_refused():
    s = rand.stream(1)
    sources = I.draw_sources(s, 1)
    assert I.capture_eyes([], s, []) == []
    with pytest.raises(ValueError):
        I.capture_eyes(sources, s, ["X"])
    with pytest.raises(ValueError):
        I.capture_eyes(sources, s, ["R", "L"])
    with pytest.raises(IrisShapeError):
        I.capture_eyes(sources + I.draw_sources(s, 1, (1, 8, 64, 2)), s, ["R", "L"])
