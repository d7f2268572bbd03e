"""Synthetic iris codes with realistic statistics, and the contract's bit packing.

Why not independent random bits: real iris codes are thresholded Gabor phases, strongly correlated
along the rows and the angular axis, so two unrelated eyes disagree in about half their bits with a
spread of about 0.03 (Daugman: a binomial of ~249 degrees of freedom), not the far narrower spread
of 16,384 independent coin flips. A matcher tuned on independent bits would get thresholds that
look safe and are not.

The model:

* :func:`make_iris_source` draws a person's eye: one smoothed Gaussian random field per
  (filter, bit) channel over (rows, angular columns), kept in the frequency domain. The smoothing
  scales with the shape, so any contract shape (columns >= 64) works.
* :func:`capture` records that eye once: head tilt (a circular rotation along the angular axis,
  fractional, applied as a phase ramp in the frequency domain), sensor noise (smooth plus per
  bit) whose strength varies per capture, thresholding to bits, and a mask with eyelids (an angular sector over the outer rows, top and
  bottom) and specular reflections. The mask lives in the image frame, so it does not rotate with
  the iris. Bits are ``field > 0``. :func:`capture_many` does the same for a batch of eyes at
  once (for building populations).

The population renderer draws the same model from compiled kernels (:func:`draw_sources`,
:func:`capture_eyes`, at the end of this module); this numpy code is their reference.

Every function takes an explicit ``numpy.random.Generator``: equal seeds give equal codes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np

from streams.codecs.iris import pack, unpack  # noqa: F401  (the wire form lives in the codec)

from streams.domain.types import DEFAULT_IRIS_SHAPE, MIN_ANGULAR_COLUMNS, IrisTemplate
from streams.errors import IrisShapeError
from streams.sim import iris_kernels as ik

#: Gaussian smoothing widths of the latent field, in cells of the default 16-row x 256-column
#: grid; scaled with the actual grid. Tuned so that impostor distances at the default shape have a
#: spread near Daugman's (docs/iris.md).
SMOOTH_SIGMA_ROWS_AT_16 = 2.2
SMOOTH_SIGMA_COLS_AT_256 = 7.0
#: Head tilt: standard deviation and hard limit of the rotation, in columns of a 256-column code.
TILT_SD_AT_256 = 3.0
TILT_MAX_AT_256 = 8.0
#: Sensor noise: the per-capture noise-to-signal ratio is drawn as ``NOISE_MIN + NOISE_SPAN * u**2``
#: with ``u`` uniform (most captures clean, a tail of noisy ones).
NOISE_MIN = 0.18
NOISE_SPAN = 0.5
#: Share of the noise that is white (per bit) rather than smooth like the iris texture.
NOISE_WHITE_SHARE = 0.35
#: Frequency bins whose smoother response is below this share of the peak are left out.
KERNEL_CUTOFF = 1e-4
#: Variance of a uniformly random signed byte (-128..127), the white noise's raw draw.
WHITE_BYTE_VARIANCE = (256**2 - 1) / 12.0
#: Eyelids: the largest angular half-width of the upper / lower lid sector (fraction of the
#: circle) at the outermost row, and the share of captures that are heavily occluded.
UPPER_LID_MAX_HALF_WIDTH = 0.45
LOWER_LID_MAX_HALF_WIDTH = 0.3
HEAVY_OCCLUSION_SHARE = 0.03
#: Occlusion severity (0 none, 1 lids over half the circle down to the pupil): drawn from this
#: range for heavily occluded captures, else
#: ``SEVERITY_BASE + SEVERITY_SPAN * (1 - quality) * U(0.3, 1.2)`` (about 75% of bits usable).
HEAVY_SEVERITY = (0.75, 0.95)
SEVERITY_BASE = 0.3
SEVERITY_SPAN = 0.5
#: Specular reflections: up to this many small rectangles per capture.
MAX_REFLECTIONS = 3
#: A reflection's height (share of the rows) and width (share of the columns) are uniform in these.
REFLECTION_HEIGHT = (0.05, 0.20)
REFLECTION_WIDTH = (0.01, 0.04)


@dataclass(frozen=True, slots=True)
class IrisSource:
    """A person's "true" eye: the latent texture every capture of that eye is drawn from.

    ``spectrum`` is the complex 2-D real FFT, over (rows, columns), of a unit-variance smooth
    Gaussian field per (filter, bit) channel, kept only in the low-frequency band where the
    smoother passes anything (the rest is zero): shape ``(F * B, band rows, band columns)``.
    """

    shape: tuple[int, int, int, int]
    spectrum: np.ndarray


def _check_shape(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    if len(shape) != 4 or any(int(s) < 1 for s in shape):
        raise IrisShapeError(f"iris shape must be 4 positive integers, got {shape!r}")
    f, r, c, b = (int(s) for s in shape)
    if c < MIN_ANGULAR_COLUMNS:
        raise IrisShapeError(f"iris shape needs >= {MIN_ANGULAR_COLUMNS} angular columns, got {c}")
    return f, r, c, b


@lru_cache(maxsize=32)
def _kernel(rows: int, cols: int) -> tuple[np.ndarray, tuple[np.ndarray, slice], np.ndarray]:
    """The texture's Gaussian smoother in the rfft2 layout, scaled so that unit white noise becomes
    a unit-variance field; the widths scale with the grid so the texture looks alike at every shape.

    Returns ``(response, band, band_response)``: ``band`` indexes the few low-frequency bins where
    the response is not negligible, so only those need random draws (the speed of :func:`capture`).
    """
    sr = SMOOTH_SIGMA_ROWS_AT_16 * rows / 16.0
    sc = SMOOTH_SIGMA_COLS_AT_256 * cols / 256.0
    fr = np.fft.fftfreq(rows)[:, None]
    fc = np.fft.rfftfreq(cols)[None, :]
    k = np.exp(-2.0 * math.pi**2 * ((sr * fr) ** 2 + (sc * fc) ** 2))
    k = k / math.sqrt(float((np.fft.irfft2(k, s=(rows, cols)) ** 2).sum()))
    k = k.astype(np.float32)
    keep = k >= KERNEL_CUTOFF * k.max()
    row_idx = np.flatnonzero(keep.any(axis=1))
    col_stop = int(np.flatnonzero(keep.any(axis=0)).max()) + 1
    band = (row_idx, slice(0, col_stop))
    band_k = np.ascontiguousarray(k[row_idx, :col_stop])
    for a in (k, band_k):
        a.setflags(write=False)
    return k, band, band_k


def _band_noise(
    rng: np.random.Generator, lead: tuple[int, ...], rows: int, cols: int
) -> np.ndarray:
    """Band spectra of unit white noise through the smoother, shape ``lead + band shape``, drawn
    directly in the frequency domain and only where the smoother passes anything."""
    band_k = _kernel(rows, cols)[2]
    nr, nc = band_k.shape
    z = rng.standard_normal(lead + (nr, 2 * nc), dtype=np.float32).view(np.complex64)
    z *= band_k * np.float32(math.sqrt(rows * cols / 2.0))
    return z


@lru_cache(maxsize=32)
def _band_inverse(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Matrices that do ``irfft2`` of a band spectrum as two matrix products (the band is small,
    so this beats an FFT of the full grid): ``t = rows_inv @ band`` over the rows, then
    ``t.real @ cos_inv - t.imag @ sin_inv`` over the columns."""
    _, (row_idx, col_slice), band_k = _kernel(rows, cols)
    nc = band_k.shape[1]
    freq_r = np.fft.fftfreq(rows)[row_idx]
    rows_inv = np.exp(2j * math.pi * np.arange(rows)[:, None] * freq_r[None, :]) / rows
    k = np.arange(nc)
    weight = np.where((k == 0) | (2 * k == cols), 1.0, 2.0)[:, None] / cols
    angle = 2 * math.pi * k[:, None] * np.arange(cols)[None, :] / cols
    out = (
        rows_inv.astype(np.complex64),
        (weight * np.cos(angle)).astype(np.float32),
        (weight * np.sin(angle)).astype(np.float32),
    )
    for a in out:
        a.setflags(write=False)
    return out


def make_iris_source(
    rng: np.random.Generator, shape: tuple[int, int, int, int] = DEFAULT_IRIS_SHAPE
) -> IrisSource:
    """Draw one eye's latent texture for codes of ``shape`` (filters, rows, columns, bits)."""
    f, r, c, b = _check_shape(shape)
    spec = _band_noise(rng, (f * b,), r, c)
    spec.setflags(write=False)
    return IrisSource(shape=(f, r, c, b), spectrum=spec)


@lru_cache(maxsize=32)
def _lid_geometry(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Radial position of each row (0 pupil, 1 limbus), angular distance of each column from the
    upper (C/4) and lower (3C/4) lid centres, and the lids' largest half-widths."""
    radial = (np.arange(rows) + 0.5) / rows
    angle = (np.arange(cols) + 0.5) / cols
    centre = np.array([0.25, 0.75])[:, None]  # upper lid, lower lid
    dist = np.abs(((angle[None, :] - centre + 0.5) % 1.0) - 0.5)  # (2, C)
    max_half = np.array([UPPER_LID_MAX_HALF_WIDTH, LOWER_LID_MAX_HALF_WIDTH])[None, :, None]
    return radial, dist, max_half


def _occlusion_masks(
    rng: np.random.Generator, rows: int, cols: int, severity: np.ndarray
) -> np.ndarray:
    """Usable (row, column) cells in the image frame, one (R, C) mask per severity: eyelids over
    the outer rows near the top (column C/4) and bottom (3C/4) of the circle, plus a few specular
    reflections."""
    n = severity.shape[0]
    radial, dist, max_half = _lid_geometry(rows, cols)
    sev = severity[:, None, None]
    reach = np.minimum(1.0, sev * rng.uniform(0.6, 1.4, size=(n, 2, 1)))  # towards the pupil
    start = 1.0 - reach
    depth = np.clip((radial - start) / np.maximum(reach, 1e-9), 0.0, 1.0)  # (n, 2, R)
    half = np.where(radial >= start, max_half * sev * np.sqrt(depth), 0.0)
    mask = ~(dist[None, :, None, :] < half[..., None]).any(axis=1)  # (n, R, C)
    counts = rng.integers(0, MAX_REFLECTIONS + 1, size=n)
    owner = np.repeat(np.arange(n), counts)
    params = rng.uniform(size=(owner.size, 4))
    for i, (u_h, u_w, u_r, u_c) in zip(owner, params):
        h_lo, h_hi = REFLECTION_HEIGHT
        w_lo, w_hi = REFLECTION_WIDTH
        h = max(1, int(round(rows * (h_lo + (h_hi - h_lo) * u_h))))
        w = max(1, int(round(cols * (w_lo + (w_hi - w_lo) * u_w))))
        r0 = int(u_r * (rows - h + 1))
        c0 = int(u_c * cols)
        mask[i, r0 : r0 + h, np.arange(c0, c0 + w) % cols] = False
    return mask


def capture(
    source: IrisSource,
    rng: np.random.Generator,
    *,
    eye: str,
    quality: float | None = None,
    tilt: float | None = None,
) -> IrisTemplate:
    """One capture of ``source`` as an :class:`IrisTemplate` of ``source.shape``.

    ``quality`` in [0, 1] (1 best) sets the noise and occlusion; ``None`` draws it per capture, so a
    population shows the spread of real captures (mostly good, a tail of poor ones, some heavily
    occluded). ``tilt`` (columns, may be fractional) fixes the head tilt; ``None`` draws it.
    """
    return capture_many([source], rng, eye=eye, quality=quality, tilt=tilt)[0]


def capture_many(
    sources: Sequence[IrisSource],
    rng: np.random.Generator,
    *,
    eye: str,
    quality: float | None = None,
    tilt: float | None = None,
) -> list[IrisTemplate]:
    """One capture of each source (all of one shape), drawn together: the same model as
    :func:`capture` with the numpy work done once for the whole batch (several times faster per
    capture when building a population)."""
    if eye not in ("R", "L"):
        raise ValueError(f"eye must be 'R' or 'L', got {eye!r}")
    n = len(sources)
    if n == 0:
        return []
    f, r, c, b = sources[0].shape
    if any(s.shape != sources[0].shape for s in sources):
        raise IrisShapeError("capture_many needs sources of one shape")
    if quality is None:
        q = rng.uniform(size=n)
    else:
        q = np.full(n, min(1.0, max(0.0, float(quality))))
    if tilt is None:
        lim = TILT_MAX_AT_256 * c / 256.0
        tilts = np.clip(rng.normal(0.0, TILT_SD_AT_256 * c / 256.0, size=n), -lim, lim)
    else:
        tilts = np.full(n, float(tilt))
    noise = (NOISE_MIN + NOISE_SPAN * (1.0 - q) ** 2).astype(np.float32)[:, None, None, None]
    spec = _band_noise(rng, (n, f * b), r, c)
    nr, nc = spec.shape[-2:]
    phase = np.exp(-2j * math.pi * tilts[:, None] * np.fft.rfftfreq(c)[None, :nc])
    spec *= noise * np.float32(math.sqrt(1.0 - NOISE_WHITE_SHARE))
    spec += np.stack([s.spectrum for s in sources]) * phase.astype(np.complex64)[:, None, None, :]
    # irfft2 of the band as two matrix products: rows first, then columns.
    rows_inv, cos_inv, sin_inv = _band_inverse(r, c)
    t = rows_inv @ spec.transpose(2, 0, 1, 3).reshape(nr, -1)  # (R, n*F*B*nc)
    t = t.reshape(r, n * f * b, nc).transpose(1, 0, 2).reshape(-1, nc)
    field = t.real @ cos_inv - t.imag @ sin_inv  # (n*F*B*R, C)
    # White share: uniform noise of the same variance from random bytes (cheapest to draw).
    white = np.frombuffer(rng.bytes(field.size), dtype=np.int8).astype(np.float32)
    white += np.float32(0.5)
    white = white.reshape(n, -1)
    white *= noise[:, :, 0, 0] * np.float32(math.sqrt(NOISE_WHITE_SHARE / WHITE_BYTE_VARIANCE))
    field += white.reshape(field.shape)
    # (n, F*B, R, C) -> (n, F, R, C, B), written in place (a transposing copy is slower).
    codes = np.empty((n, f, r, c, b), dtype=bool)
    fv = field.reshape(n, f, b, r, c)  # channel order of the source: filter-major, bit-minor
    for j in range(b):
        np.greater(fv[:, :, j], 0, out=codes[..., j])
    heavy = rng.uniform(size=n) < HEAVY_OCCLUSION_SHARE
    severity = np.where(
        heavy,
        rng.uniform(*HEAVY_SEVERITY, size=n),
        SEVERITY_BASE + SEVERITY_SPAN * (1.0 - q) * rng.uniform(0.3, 1.2, size=n),
    )
    cells = _occlusion_masks(rng, r, c, severity)
    masks = np.repeat(cells[:, None, :, :, None], f, axis=1).repeat(b, axis=4)
    codes.setflags(write=False)
    masks.setflags(write=False)
    return [IrisTemplate(eye=eye, code=codes[i], mask=masks[i]) for i in range(n)]


# -- The population renderer's path: the same model, drawn by compiled kernels from keyed streams
# (``streams.sim.iris_kernels``). The numpy code above is its reference (and what the matcher
# tests and benchmarks draw from); a test checks that both give the same statistics. Why two:
# as numpy a two-eye capture is some thirty small array operations and two matrix products that
# OpenBLAS spreads over threads, which stalls when several rendering processes share the cores.

_NOISE = np.array([NOISE_MIN, NOISE_SPAN])
_OCCLUSION = np.array([HEAVY_OCCLUSION_SHARE, *HEAVY_SEVERITY, SEVERITY_BASE, SEVERITY_SPAN])
_REFLECTION = np.array([*REFLECTION_HEIGHT, *REFLECTION_WIDTH])


@lru_cache(maxsize=32)
def _kernel_inputs(rows: int, cols: int) -> tuple[np.ndarray, ...]:
    """What the capture kernel takes of the band: its response, the frequencies of its columns,
    the inverse matrices (the row one split into real and imaginary parts) and the lid
    geometry with the lids' largest half-widths as a flat pair."""
    band_k = _kernel(rows, cols)[2]
    rows_inv, cos_inv, sin_inv = _band_inverse(rows, cols)
    radial, dist, max_half = _lid_geometry(rows, cols)
    out = (band_k, np.fft.rfftfreq(cols)[:band_k.shape[1]], np.ascontiguousarray(rows_inv.real),
           np.ascontiguousarray(rows_inv.imag), cos_inv, sin_inv, radial, dist, max_half.ravel())
    for a in out:
        a.setflags(write=False)
    return out


def draw_sources(
    stream: np.ndarray, count: int, shape: tuple[int, int, int, int] = DEFAULT_IRIS_SHAPE
) -> list[IrisSource]:
    """``count`` eyes drawn from a ``streams.sim.rand`` stream: :func:`make_iris_source`'s model."""
    f, r, c, b = _check_shape(shape)
    spec = ik.sources_kernel(stream, count, f * b, _kernel(r, c)[2], math.sqrt(r * c / 2.0))
    spec.setflags(write=False)
    return [IrisSource(shape=(f, r, c, b), spectrum=spec[i]) for i in range(count)]


def capture_eyes(
    sources: Sequence[IrisSource],
    stream: np.ndarray,
    eyes: Sequence[str],
    *,
    quality: float | None = None,
    tilt: float | None = None,
) -> list[IrisTemplate]:
    """One capture of each source (all of one shape), eye ``eyes[i]``, drawn from a
    ``streams.sim.rand`` stream: :func:`capture_many`'s model in one compiled call."""
    if len(eyes) != len(sources) or any(e not in ("R", "L") for e in eyes):
        raise ValueError(f"need one eye, 'R' or 'L', per source; got {eyes!r}")
    if not sources:
        return []
    f, r, c, b = sources[0].shape
    if any(s.shape != sources[0].shape for s in sources):
        raise IrisShapeError("capture_eyes needs sources of one shape")
    n = len(sources)
    band_k, freqs, rows_re, rows_im, cos_inv, sin_inv, radial, dist, max_half = _kernel_inputs(r, c)
    codes, masks = ik.capture_kernel(
        stream, np.stack([s.spectrum for s in sources]),
        np.full(n, np.nan if quality is None else min(1.0, max(0.0, float(quality)))),
        np.full(n, np.nan if tilt is None else float(tilt)), f, b, band_k, math.sqrt(r * c / 2.0),
        freqs, rows_re, rows_im, cos_inv, sin_inv, _NOISE, NOISE_WHITE_SHARE, WHITE_BYTE_VARIANCE,
        TILT_SD_AT_256 * c / 256.0, TILT_MAX_AT_256 * c / 256.0, _OCCLUSION, radial, dist, max_half,
        MAX_REFLECTIONS, _REFLECTION)
    codes.setflags(write=False)
    masks.setflags(write=False)
    return [IrisTemplate(eye=e, code=codes[i], mask=masks[i]) for i, e in enumerate(eyes)]
