"""Random streams for the compiled simulator kernels: keyed, cheap to open, fast to draw.

What: a stream is a ``uint64[4]`` array, the state of xoshiro256** (Blackman & Vigna, 2018),
that the ``numba`` functions here advance in place: :func:`uniform`, :func:`below`,
:func:`normal` (the 256-layer ziggurat of Marsaglia & Tsang, 2000, as numpy draws it),
:func:`gamma` (Marsaglia & Tsang, 2000), :func:`beta` and :func:`poisson`. :func:`stream` opens
the stream of a key, e.g. ``(seed, tag, person)``: the key's words go through SplitMix64, so
streams of different keys are independent for any practical purpose.

Why not ``numpy.random.Generator`` inside the kernels: numba unboxes a Generator in about 25 us
per call and ``default_rng(key)`` costs 20 us more, 0.1 ms per rendered event before a single
draw; these streams open in about 1 us and draw a uniform in about 3 ns and a normal in 7 (numpy's own: 3 and 10).
"""

from __future__ import annotations

import math

import numba
import numpy as np

_M52 = 2.0**52
#: Ziggurat constants: the base strip starts at R and every layer has area V (numpy's values).
ZIGGURAT_R = 3.6541528853610087963519472518
ZIGGURAT_V = 0.0049286732339746519
LAYERS = 256


def _ziggurat_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Layer edges of the standard normal's ziggurat: ``ki`` (acceptance bounds in 52-bit
    units), ``wi`` (edge per 52-bit unit) and ``fi`` (density at the edge, unnormalised)."""
    def pdf(x: float) -> float:
        return math.exp(-0.5 * x * x)

    x = np.zeros(LAYERS)
    x[0] = ZIGGURAT_R
    for i in range(1, LAYERS - 1):
        x[i] = math.sqrt(-2.0 * math.log(pdf(x[i - 1]) + ZIGGURAT_V / x[i - 1]))
    x = x[::-1].copy()  # x[0] = 0 (the top), x[-1] = R (the base)
    ki = np.zeros(LAYERS, dtype=np.uint64)
    ki[1:] = np.round(x[:-1] / x[1:] * _M52).astype(np.uint64)
    ki[0] = np.uint64(round(ZIGGURAT_R * pdf(ZIGGURAT_R) / ZIGGURAT_V * _M52))
    wi = x / _M52
    wi[0] = ZIGGURAT_V / pdf(ZIGGURAT_R) / _M52
    fi = np.exp(-0.5 * x * x)
    for a in (ki, wi, fi):
        a.setflags(write=False)
    return ki, wi, fi


KI, WI, FI = _ziggurat_tables()


@numba.njit(cache=True, nogil=True, inline="always")
def _rotl(x, k):  # pragma: no cover - jitted
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@numba.njit(cache=True, nogil=True)
def splitmix64(x):  # pragma: no cover - jitted
    """SplitMix64's output for state ``x`` (uint64): the next state is ``x + golden gamma``."""
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@numba.njit(cache=True, nogil=True)
def _open(words):  # pragma: no cover - jitted
    h = np.uint64(0x6A09E667F3BCC908)  # any odd constant: the hash of the empty key
    for w in words:
        h = splitmix64(h ^ splitmix64(w))
    state = np.empty(4, dtype=np.uint64)
    for i in range(4):
        h += np.uint64(0x9E3779B97F4A7C15)
        state[i] = splitmix64(h)
    return state


def stream(*key: int) -> np.ndarray:
    """The stream of ``key`` (non-negative integers below 2**64)."""
    return _open(np.array(key, dtype=np.uint64))


@numba.njit(cache=True, nogil=True)
def next_u64(s):  # pragma: no cover - jitted
    """xoshiro256**: the next 64 random bits of stream ``s``."""
    s0, s1, s2, s3 = s[0], s[1], s[2], s[3]
    result = _rotl(s1 * np.uint64(5), 7) * np.uint64(9)
    t = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s[0], s[1], s[2], s[3] = s0, s1, s2, _rotl(s3, 45)
    return result


@numba.njit(cache=True, nogil=True)
def uniform(s):  # pragma: no cover - jitted
    """Uniform in [0, 1), 53 bits."""
    return np.float64(np.int64(next_u64(s) >> np.uint64(11))) * (1.0 / 9007199254740992.0)  # 2**-53


@numba.njit(cache=True, nogil=True)
def uniform_in(s, lo, hi):  # pragma: no cover - jitted
    return lo + (hi - lo) * uniform(s)


@numba.njit(cache=True, nogil=True)
def below(s, k):  # pragma: no cover - jitted
    """Uniform integer in [0, k), k >= 1 (Lemire's multiply-shift on 32 bits: the bias, below
    k / 2**32, is far under anything the model can show)."""
    return np.int64(((next_u64(s) >> np.uint64(32)) * np.uint64(k)) >> np.uint64(32))


@numba.njit(cache=True, nogil=True)
def normal(s):  # pragma: no cover - jitted
    """Standard normal: numpy's 256-layer ziggurat on this stream's bits (the sign applied by
    multiplication: a branch on it mispredicts half the time and costs a third more)."""
    while True:
        r = next_u64(s)
        idx = np.int64(r & np.uint64(0xFF))
        r >>= np.uint64(8)
        sign = 1.0 - 2.0 * np.float64(np.int64(r & np.uint64(1)))
        rabs = np.int64((r >> np.uint64(1)) & np.uint64(0x000FFFFFFFFFFFFF))  # 52 bits
        x = np.float64(rabs) * WI[idx]
        if rabs < np.int64(KI[idx]):
            return sign * x
        if idx == 0:  # the tail beyond R
            while True:
                xx = -math.log1p(-uniform(s)) / ZIGGURAT_R
                yy = -math.log1p(-uniform(s))
                if yy + yy > xx * xx:
                    return sign * (ZIGGURAT_R + xx)
        elif (FI[idx - 1] - FI[idx]) * uniform(s) + FI[idx] < math.exp(-0.5 * x * x):
            return sign * x


@numba.njit(cache=True, nogil=True)
def gauss(s, mean, sd):  # pragma: no cover - jitted
    return mean + sd * normal(s)


@numba.njit(cache=True, nogil=True)
def gamma(s, shape):  # pragma: no cover - jitted
    """Gamma(shape, 1) for shape >= 1 (Marsaglia & Tsang's squeeze)."""
    d = shape - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    while True:
        x = normal(s)
        v = 1.0 + c * x
        if v <= 0.0:
            continue
        v = v * v * v
        u = uniform(s)
        if u < 1.0 - 0.0331 * x**4 or math.log(u) < 0.5 * x * x + d * (1.0 - v + math.log(v)):
            return d * v


@numba.njit(cache=True, nogil=True)
def beta(s, a, b):  # pragma: no cover - jitted
    """Beta(a, b) for a, b >= 1, as X / (X + Y) of two gammas."""
    x = gamma(s, a)
    return x / (x + gamma(s, b))


#: :func:`poisson` counts by multiplying uniforms: fine for the small means of the model (the
#: work grows with the mean), refused above this.
POISSON_MAX_MEAN = 30.0


@numba.njit(cache=True, nogil=True)
def poisson(s, mean):  # pragma: no cover - jitted
    """Poisson(mean) for 0 <= mean <= POISSON_MAX_MEAN (Knuth's product of uniforms)."""
    if not 0.0 <= mean <= POISSON_MAX_MEAN:
        raise ValueError("poisson mean outside [0, POISSON_MAX_MEAN]")
    limit = math.exp(-mean)
    k = 0
    p = uniform(s)
    while p > limit:
        k += 1
        p *= uniform(s)
    return k
