"""Compiled kernels of the synthetic iris model: eye textures, and captures of them as codes.

What: :func:`sources_kernel` draws eyes (band spectra of smoothed Gaussian fields) and
:func:`capture_kernel` captures eyes: it draws the tilt, the noise and the occlusion of each
capture, does the inverse transform of the band spectrum (over the rows, then over the angular
columns), thresholds the field to bits and paints the eyelids and reflections into the mask. Both
draw from a stream of ``streams.sim.rand`` (``s``, advanced in place). The model, its parameters
and the reasons for them live in ``streams.sim.iris``, which passes them in as arguments.

Why: as numpy a capture was some thirty small array operations plus two matrix products that
OpenBLAS spreads over threads: several processes rendering at once then spent ten times longer
waiting on each other than computing (22 ms instead of 0.2 ms for a two-eye capture on a loaded
2-core machine). These loops run on the calling thread only, about 0.1 ms per eye.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from streams.sim import rand as R

#: numba's cache tracks only the file that defines a function, not the files of the functions it
#: calls: this digest of ``rand.py`` ties the cached kernels here to the stream code they inline
#: (a test checks it is current; after changing ``rand.py``, update it, and the kernels compile
#: afresh instead of silently drawing from the old code).
RAND_SHA256 = "08c8536355e4c6ae60d8e4f2a2d670c0f91111b29a999f103f129d2ead664a3e"


@numba.njit(cache=True, nogil=True)
def sources_kernel(s, count, channels, band_k, scale):  # pragma: no cover - jitted
    """Band spectra ``(count, channels, band rows, band cols)`` (complex64) of unit white noise
    through the smoother whose band response is ``band_k``, times ``scale``."""
    nr, nc = band_k.shape
    spec = np.empty((count, channels, nr, nc), dtype=np.complex64)
    for i in range(count):
        for ch in range(channels):
            for j in range(nr):
                for k in range(nc):
                    g = band_k[j, k] * scale
                    spec[i, ch, j, k] = complex(R.normal(s) * g, R.normal(s) * g)
    return spec


@numba.njit(cache=True, nogil=True)
def _field(s_re, s_im, rows_re, rows_im, cos_inv, sin_inv, t_re, t_im, field):  # pragma: no cover - jitted
    """``field += irfft2`` of the band spectrum ``s_re + i s_im`` (the two matrix products of
    ``streams.sim.iris._band_inverse``), innermost loops over contiguous columns (vectorised)."""
    rows, (nr, nc), cols = rows_re.shape[0], s_re.shape, cos_inv.shape[1]
    t_re[:] = 0
    t_im[:] = 0
    for r in range(rows):  # over the rows: band rows -> rows
        for j in range(nr):
            a, b = rows_re[r, j], rows_im[r, j]
            for k in range(nc):
                t_re[r, k] += a * s_re[j, k] - b * s_im[j, k]
                t_im[r, k] += a * s_im[j, k] + b * s_re[j, k]
    for k in range(nc):  # over the columns: band columns -> angular columns
        for r in range(rows):
            a, b = t_re[r, k], t_im[r, k]
            for c in range(cols):
                field[r, c] += a * cos_inv[k, c] - b * sin_inv[k, c]


@numba.njit(cache=True, nogil=True)
def capture_kernel(s, sources, quality, tilt, filters, bits, band_k, band_scale, freqs,
                   rows_re, rows_im, cos_inv, sin_inv, noise, white_share, white_variance,
                   tilt_sd, tilt_max, occlusion, radial, dist, max_half, max_reflections,
                   reflection):  # pragma: no cover - jitted
    """One capture of each eye ``sources[i]`` (band spectra, channel = filter * bits + bit):
    ``(codes, masks)``, both ``(n, filters, rows, cols, bits)`` booleans.

    Per capture: the quality (``quality[i]``, or uniform when NaN), the tilt (``tilt[i]``
    columns, or normal with sd ``tilt_sd`` clipped to ``tilt_max`` when NaN) applied as a phase
    ramp over ``freqs``; the noise-to-signal ratio ``noise[0] + noise[1] * (1 - q)**2``, its
    smooth share drawn in the band like the texture (``band_k * band_scale``) and its white
    share ``white_share`` from random bytes of variance ``white_variance``. Then the occlusion:
    ``occlusion`` = (heavy share, heavy severity lo, hi, severity base, span), eyelids over the
    lid geometry ``radial`` / ``dist`` / ``max_half`` and up to ``max_reflections`` boxes whose
    height and width shares lie in ``reflection`` (h lo, h hi, w lo, w hi).
    """
    n, channels, nr, nc = sources.shape
    rows, cols = rows_re.shape[0], cos_inv.shape[1]
    codes = np.empty((n, filters, rows, cols, bits), dtype=np.bool_)
    masks = np.empty((n, filters, rows, cols, bits), dtype=np.bool_)
    s_re = np.empty((nr, nc), dtype=np.float32)
    s_im = np.empty((nr, nc), dtype=np.float32)
    t_re = np.empty((rows, nc), dtype=np.float32)
    t_im = np.empty((rows, nc), dtype=np.float32)
    field = np.empty((rows, cols), dtype=np.float32)
    cells = np.empty((rows, cols), dtype=np.bool_)
    ph_re = np.empty(nc, dtype=np.float32)
    ph_im = np.empty(nc, dtype=np.float32)
    words = np.empty((cols + 7) // 8, dtype=np.uint64)
    white_bytes = words.view(np.int8)
    for i in range(n):
        q = R.uniform(s) if math.isnan(quality[i]) else quality[i]
        shift = tilt[i]
        if math.isnan(shift):
            shift = min(max(R.gauss(s, 0.0, tilt_sd), -tilt_max), tilt_max)
        for k in range(nc):
            ph_re[k] = math.cos(-2.0 * math.pi * shift * freqs[k])
            ph_im[k] = math.sin(-2.0 * math.pi * shift * freqs[k])
        ratio = noise[0] + noise[1] * (1.0 - q) ** 2
        smooth = np.float32(ratio * math.sqrt(1.0 - white_share))
        white = np.float32(ratio * math.sqrt(white_share / white_variance))
        for ch in range(channels):
            for j in range(nr):
                for k in range(nc):
                    g = np.float32(band_k[j, k] * band_scale) * smooth
                    src = sources[i, ch, j, k]
                    s_re[j, k] = np.float32(R.normal(s)) * g + src.real * ph_re[k] - src.imag * ph_im[k]
                    s_im[j, k] = np.float32(R.normal(s)) * g + src.real * ph_im[k] + src.imag * ph_re[k]
            for r in range(rows):  # the white share: uniform signed bytes, eight per draw
                for w in range(words.shape[0]):
                    words[w] = R.next_u64(s)
                for c in range(cols):
                    field[r, c] = (np.float32(white_bytes[c]) + np.float32(0.5)) * white
            _field(s_re, s_im, rows_re, rows_im, cos_inv, sin_inv, t_re, t_im, field)
            fi, bi = ch // bits, ch % bits
            for r in range(rows):
                for c in range(cols):
                    codes[i, fi, r, c, bi] = field[r, c] > 0
        if R.uniform(s) < occlusion[0]:  # heavily occluded
            severity = R.uniform_in(s, occlusion[1], occlusion[2])
        else:
            severity = occlusion[3] + occlusion[4] * (1.0 - q) * R.uniform_in(s, 0.3, 1.2)
        _occlude(s, cells, severity, radial, dist, max_half, max_reflections, reflection)
        for f in range(filters):
            for r in range(rows):
                for c in range(cols):
                    for b in range(bits):
                        masks[i, f, r, c, b] = cells[r, c]
    return codes, masks


@numba.njit(cache=True, nogil=True)
def _occlude(s, cells, severity, radial, dist, max_half, max_reflections, reflection):  # pragma: no cover - jitted
    """Paint one capture's usable cells: each lid ``l`` reaches a random share (about
    ``severity``) of the way from the limbus (row radius 1) towards the pupil (0); at a row of
    radius ``radial[r]`` inside it, it covers the columns whose angular distance ``dist[l, c]``
    from the lid's centre is below ``max_half[l] * severity * sqrt(depth)``. Then up to
    ``max_reflections`` boxes (their columns wrap around)."""
    rows, cols = cells.shape
    cells[:] = True
    for lid in range(dist.shape[0]):
        span = min(1.0, severity * R.uniform_in(s, 0.6, 1.4))
        start = 1.0 - span
        for r in range(rows):
            if radial[r] < start:
                continue
            depth = min(max((radial[r] - start) / max(span, 1e-9), 0.0), 1.0)
            half = max_half[lid] * severity * math.sqrt(depth)
            for c in range(cols):
                if dist[lid, c] < half:
                    cells[r, c] = False
    h_lo, h_hi, w_lo, w_hi = reflection[0], reflection[1], reflection[2], reflection[3]
    for _ in range(R.below(s, max_reflections + 1)):
        h = max(1, round(rows * R.uniform_in(s, h_lo, h_hi)))
        w = max(1, round(cols * R.uniform_in(s, w_lo, w_hi)))
        r0, c0 = int(R.uniform(s) * (rows - h + 1)), int(R.uniform(s) * cols)
        for r in range(r0, min(r0 + h, rows)):
            for c in range(c0, c0 + w):
                cells[r, c % cols] = False
