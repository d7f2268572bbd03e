"""The simulator's random streams: keyed determinism, and the distributions each draw promises."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numba
import numpy as np
import pytest

from streams.sim import finger_kernels, iris_kernels, rand

N = 400_000


@numba.njit(cache=False)
def _draws(s, kind, n, a, b):  # pragma: no cover - jitted
    out = np.empty(n)
    for i in range(n):
        if kind == 0:
            out[i] = rand.uniform(s)
        elif kind == 1:
            out[i] = rand.normal(s)
        elif kind == 2:
            out[i] = rand.beta(s, a, b)
        elif kind == 3:
            out[i] = rand.poisson(s, a)
        elif kind == 4:
            out[i] = rand.below(s, int(a))
        else:
            out[i] = rand.gamma(s, a)
    return out


def draws(kind: int, n: int = N, a: float = 0.0, b: float = 0.0, key: int = 1) -> np.ndarray:
    return _draws(rand.stream(7, kind, key), kind, n, a, b)


def _phi(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def test_a_key_fixes_the_stream_and_keys_differ():
    a, b = rand.stream(1, 2, 3), rand.stream(1, 2, 3)
    assert a.dtype == np.uint64 and a.shape == (4,) and np.array_equal(a, b)
    assert not np.array_equal(a, rand.stream(1, 2, 4)) and not np.array_equal(a, rand.stream(3, 2, 1))
    assert np.array_equal(draws(0, 100), draws(0, 100))
    assert not np.array_equal(draws(0, 100), draws(0, 100, key=2))


def test_uniform_is_uniform_on_the_unit_interval():
    u = draws(0)
    assert u.min() >= 0.0 and u.max() < 1.0
    counts = np.bincount((u * 20).astype(int), minlength=20)
    chi2 = float(((counts - N / 20) ** 2 / (N / 20)).sum())
    assert chi2 < 50.0  # 19 degrees of freedom: p ~ 1e-4


def test_normal_matches_the_gaussian_cdf_moments_and_tails():
    z = np.sort(draws(1))
    assert abs(z.mean()) < 5 / math.sqrt(N) and abs(z.var() - 1.0) < 0.01
    assert abs((z**3).mean()) < 0.03 and abs((z**4).mean() - 3.0) < 0.06
    grid = z[:: N // 2000]
    ks = np.abs(_phi(grid) - np.arange(0, N, N // 2000) / N).max()
    assert ks < 1.95 / math.sqrt(N)  # KS at alpha = 0.001
    tail = np.mean(np.abs(z) > 3.5)  # the ziggurat's tail branch beyond R = 3.65 is exercised too
    assert abs(tail - 2 * (1 - _phi(np.array([3.5]))[0])) < 2.5e-4
    assert np.mean(z > 3.7) > 0 and np.mean(z < -3.7) > 0


@pytest.mark.parametrize("a, b", [(6.0, 2.0), (1.0, 1.0), (2.5, 7.0)])
def test_beta_moments(a, b):
    x = draws(2, 100_000, a, b)
    mean, var = a / (a + b), a * b / ((a + b) ** 2 * (a + b + 1))
    assert ((x > 0) & (x < 1)).all()
    assert abs(x.mean() - mean) < 5 * math.sqrt(var / x.size) and abs(x.var() / var - 1) < 0.03


@pytest.mark.parametrize("mean", [0.0, 0.5, 4.5, 9.0, 25.0])
def test_poisson_moments(mean):
    k = draws(3, 100_000, mean)
    assert (k == np.round(k)).all() and k.min() >= 0
    assert abs(k.mean() - mean) < 5 * math.sqrt(max(mean, 1e-9) / k.size) + 1e-12
    if mean:
        assert abs(k.var() / mean - 1) < 0.03
        assert abs(np.mean(k == 0) - math.exp(-mean)) < 0.005


def test_poisson_refuses_a_mean_it_is_not_built_for():
    with pytest.raises(ValueError):
        draws(3, 1, rand.POISSON_MAX_MEAN + 1)


@pytest.mark.parametrize("k", [1, 2, 7, 70])
def test_below_is_uniform_over_its_range(k):
    x = draws(4, 200_000, k).astype(int)
    counts = np.bincount(x, minlength=k)
    assert x.min() == 0 and x.max() == k - 1 and counts.size == k
    expected = x.size / k
    assert float(((counts - expected) ** 2 / expected).sum()) < k + 8 * math.sqrt(2 * k) + 1


def test_gamma_moments():
    x = draws(5, 100_000, 3.0)
    assert abs(x.mean() - 3.0) < 0.03 and abs(x.var() / 3.0 - 1) < 0.03


def test_kernels_are_tied_to_the_current_stream_code():
    """numba's cache tracks only a kernel's own file: the kernel modules carry the digest of
    rand.py so that a change to it recompiles them (update RAND_SHA256 there)."""
    digest = hashlib.sha256(Path(rand.__file__).read_bytes()).hexdigest()
    assert finger_kernels.RAND_SHA256 == digest
    assert iris_kernels.RAND_SHA256 == digest
