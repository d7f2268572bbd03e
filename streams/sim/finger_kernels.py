"""Compiled kernels of the synthetic finger model: masters and impressions of many fingers at once.

What: :func:`masters_kernel` draws fingers (pattern class, ridge-flow field, true minutiae) and
:func:`impressions_kernel` one capture of each of several masters, each in one numba call drawing
from a stream of ``streams.sim.rand`` (``s``, advanced in place); ``streams.sim.finger_sets``
wraps them. The model, its parameters and the reasons for them live in ``streams.sim.finger``
and ``streams.sim.finger_field``, whose numpy code is the reference: tests check that the
orientation here is the field's there point by point, and that both draw the same distributions.
The parameters reach the kernels as the named tuples :class:`MasterModel` and
:class:`CaptureModel` turned into one-element structured arrays by :func:`as_record`: arguments,
not globals, so a changed parameter can never meet a stale compiled cache (and a record costs
1 us to pass where a named tuple costs 14).

Why: the reference spends about 0.4 ms per master and 0.35 ms per impression in a few dozen
small numpy calls each, 8 of the 12 ms of a ten-finger enrollment event; these loops take about
10 and 6 us.

Layout: fingers are rows of a flat set. ``params[i]`` holds finger ``i``'s field (see the
``P_*`` indices); its minutiae are ``x[start[i]:start[i + 1]]`` (likewise ``y``, ``angle``,
``kind``). Master coordinates are image pixels (x right, y down); the field and the finger region
use math coordinates (u right, v up, origin at the finger centre).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba
import numpy as np

from streams.sim import rand as R

#: numba's cache tracks only the file that defines a function, not the files of the functions it
#: calls: this digest of ``rand.py`` ties the cached kernels here to the stream code they inline
#: (a test checks it is current; after changing ``rand.py``, update it, and the kernels compile
#: afresh instead of silently drawing from the old code).
RAND_SHA256 = "08c8536355e4c6ae60d8e4f2a2d670c0f91111b29a999f103f129d2ead664a3e"

#: Columns of a field's parameter row: pattern class, flow rotation, arch height, the number of
#: cores and deltas, then up to two cores and two deltas as (x, y) in math coordinates.
P_PATTERN, P_ROTATION, P_HEIGHT, P_CORES, P_DELTAS = 0, 1, 2, 3, 4
P_CORE0, P_DELTA0 = 5, 9
FIELD_PARAMS = 13
#: Pattern class of a plain arch (``finger_field.PatternClass.ARCH``): no singular points.
ARCH = 0
#: An ISO/IEC 19794-2 view holds at most this many minutiae.
MAX_VIEW_MINUTIAE = 255
TWO_PI = 2.0 * math.pi


class MasterModel(NamedTuple):
    """Parameters of a master finger (``streams.sim.finger`` and ``finger_field`` say why)."""

    half_width: float
    half_height: float
    tip_exponent: float
    base_exponent: float
    centre_x: float
    centre_y: float
    minutiae_mean: float
    minutiae_sd: float
    minutiae_min: float
    minutiae_max: float
    min_spacing: float
    grid_pitch: float
    grid_span: float
    bifurcation_share: float
    flow_angle_sd: float
    singular_jitter: float
    flow_rotation_sd: float
    arch_height: float
    arch_width: float


class CaptureModel(NamedTuple):
    """Parameters of one capture (``streams.sim.finger`` says why)."""

    half_width: float
    half_height: float
    tip_exponent: float
    base_exponent: float
    arch_width: float
    centre_x: float
    centre_y: float
    image_width: float
    image_height: float
    low_quality_rate: float
    low_quality_lo: float
    low_quality_hi: float
    good_quality_a: float
    good_quality_b: float
    miss_base: float
    miss_slope: float
    spurious_base: float
    spurious_slope: float
    spurious_angle_sd: float
    flip_base: float
    flip_slope: float
    jitter_base: float
    jitter_slope: float
    angle_jitter_base: float
    angle_jitter_slope: float
    rotation_sd: float
    large_rotation_rate: float
    max_rotation: float
    translation_sd: float
    distortion_bumps: float
    distortion_amp: float
    distortion_scale: float
    pressure_scale_sd: float
    partial_rate: float
    partial_keep_lo: float
    partial_keep_hi: float
    true_minutia_quality: float
    spurious_minutia_quality: float
    minutia_quality_sd: float
    finger_quality_sd: float


def as_record(model: tuple) -> np.ndarray:
    """A named tuple of floats as a one-element structured array (fields by the same names)."""
    rec = np.zeros(1, dtype=[(name, np.float64) for name in model._fields])
    for name, value in zip(model._fields, model):
        rec[name] = value
    rec.setflags(write=False)
    return rec


@numba.njit(cache=True, nogil=True)
def in_finger(u, v, half_width, half_height, tip_exponent, base_exponent):  # pragma: no cover - jitted
    """Whether the math-frame point (u, v) lies on the finger (a superellipse, rounder at the tip).

    Both exponents are at least 2, so the ellipse of the same half-axes lies inside the region and
    the bounding box around it: only points between the two need the powers.
    """
    a = abs(u) / half_width
    b = abs(v) / half_height
    if a > 1.0 or b > 1.0:
        return False
    if a * a + b * b <= 1.0:
        return True
    e = tip_exponent if v > 0 else base_exponent
    return a**e + b**e <= 1.0


@numba.njit(cache=True, nogil=True)
def orientation(p, x, y, arch_width):  # pragma: no cover - jitted
    """Ridge orientation in [0, pi) of the field ``p`` (a parameter row) at math point (x, y).

    The formulas of ``finger_field.OrientationField.orientation``, with one shortcut: the half
    sum of the arguments of ``z - core`` minus those of ``z - delta`` is, modulo pi, half the
    argument of the product of the ``z - core`` and the conjugated ``z - delta``: one ``atan2``
    instead of up to four.
    """
    rot = p[P_ROTATION]
    return turned_orientation(p, math.cos(-rot), math.sin(-rot), x, y, arch_width)


@numba.njit(cache=True, nogil=True)
def turned_orientation(p, c, s, x, y, arch_width):  # pragma: no cover - jitted
    """:func:`orientation` given ``c, s`` = cos and sin of minus the field's rotation (a
    finger's many points share them)."""
    rot = p[P_ROTATION]
    xr, yr = c * x - s * y, s * x + c * y
    if int(p[P_PATTERN]) == ARCH:
        w2 = arch_width * arch_width
        amp = p[P_HEIGHT] * math.exp(-((yr + 20.0) ** 2) / (2 * 150.0**2))
        theta = math.atan(-2.0 * amp * xr / w2 * math.exp(-(xr * xr) / w2))
    else:
        re, im = 1.0, 0.0
        for k in range(int(p[P_CORES])):
            a, b = xr - p[P_CORE0 + 2 * k], yr - p[P_CORE0 + 2 * k + 1]
            re, im = re * a - im * b, re * b + im * a
        for k in range(int(p[P_DELTAS])):
            a, b = xr - p[P_DELTA0 + 2 * k], -(yr - p[P_DELTA0 + 2 * k + 1])
            re, im = re * a - im * b, re * b + im * a
        theta = 0.5 * math.atan2(im, re)
    return (theta + rot) % math.pi


@numba.njit(cache=True, nogil=True)
def masters_kernel(s, patterns, class_cum, nominal, model):  # pragma: no cover - jitted
    """Draw one master per entry of ``patterns`` (a class, or -1 to draw it from ``class_cum``).

    ``nominal[c]`` is class ``c``'s row of nominal singular points (same layout as a parameter
    row, jitter not applied); ``model`` the record of a :class:`MasterModel`. Returns
    ``(params, start, x, y, angle, kind)``.
    """
    m = model[0]
    count = patterns.shape[0]
    nmax = int(m.minutiae_max)
    params = np.zeros((count, FIELD_PARAMS))
    start = np.zeros(count + 1, dtype=np.int64)
    x = np.empty(count * nmax)
    y = np.empty(count * nmax)
    angle = np.empty(count * nmax)
    kind = np.empty(count * nmax, dtype=np.uint8)
    half = (m.grid_pitch - m.min_spacing) / 2.0
    ticks = int(math.floor(2.0 * m.grid_span / m.grid_pitch)) + 1
    # a cell whose unjittered site lies this far outside the finger's box cannot land on it
    margin = half * math.sqrt(2.0)
    su = np.empty(ticks * ticks)
    sv = np.empty(ticks * ticks)
    for i in range(count):
        cls = patterns[i]
        if cls < 0:
            r = R.uniform(s) * class_cum[-1]
            cls = 0
            while class_cum[cls] <= r:
                cls += 1
        p = params[i]
        p[:] = nominal[cls]
        for k in range(int(p[P_CORES])):
            p[P_CORE0 + 2 * k] += R.gauss(s, 0.0, m.singular_jitter)
            p[P_CORE0 + 2 * k + 1] += R.gauss(s, 0.0, m.singular_jitter)
        for k in range(int(p[P_DELTAS])):
            p[P_DELTA0 + 2 * k] += R.gauss(s, 0.0, m.singular_jitter)
            p[P_DELTA0 + 2 * k + 1] += R.gauss(s, 0.0, m.singular_jitter)
        p[P_ROTATION] = R.gauss(s, 0.0, m.flow_rotation_sd)
        p[P_HEIGHT] = m.arch_height * R.uniform_in(s, 0.7, 1.3)
        fc, fs = math.cos(-p[P_ROTATION]), math.sin(-p[P_ROTATION])
        n = int(min(max(round(R.gauss(s, m.minutiae_mean, m.minutiae_sd)), m.minutiae_min), nmax))
        # Sites: a jittered grid (cells of side grid_pitch, jitter keeps min_spacing), shifted
        # and turned at random so no axis is special, kept where it falls on the finger.
        off_u, off_v = R.uniform_in(s, 0.0, m.grid_pitch), R.uniform_in(s, 0.0, m.grid_pitch)
        phi = R.uniform_in(s, 0.0, TWO_PI)
        c, sn = math.cos(phi), math.sin(phi)
        kept = 0
        for ia in range(ticks):
            gu0 = -m.grid_span + ia * m.grid_pitch + off_u
            for ib in range(ticks):
                gv0 = -m.grid_span + ib * m.grid_pitch + off_v
                if (abs(c * gu0 - sn * gv0) > m.half_width + margin
                        or abs(sn * gu0 + c * gv0) > m.half_height + margin):
                    continue
                gu = gu0 + R.uniform_in(s, -half, half)
                gv = gv0 + R.uniform_in(s, -half, half)
                u, v = c * gu - sn * gv, sn * gu + c * gv
                if in_finger(u, v, m.half_width, m.half_height, m.tip_exponent, m.base_exponent):
                    su[kept] = u
                    sv[kept] = v
                    kept += 1
        n = min(n, kept)
        o = start[i]
        for j in range(n):  # a uniformly random ordered choice of n sites (partial Fisher-Yates)
            t = j + R.below(s, kept - j)
            su[j], su[t] = su[t], su[j]
            sv[j], sv[t] = sv[t], sv[j]
            flow = turned_orientation(p, fc, fs, su[j], sv[j], m.arch_width)
            turn = flow + math.pi * R.below(s, 2) + R.gauss(s, 0.0, m.flow_angle_sd)
            x[o + j] = su[j] + m.centre_x
            y[o + j] = m.centre_y - sv[j]
            angle[o + j] = turn % TWO_PI
            kind[o + j] = 2 if R.uniform(s) < m.bifurcation_share else 1
        start[i + 1] = o + n
    end = start[count]
    return params, start, x[:end].copy(), y[:end].copy(), angle[:end].copy(), kind[:end].copy()


@numba.njit(cache=True, nogil=True)
def lost_kernel(s, count, none_rate, fewer_rate, max_missing):  # pragma: no cover - jitted
    """Which of ``count`` fingers a person cannot give: all of them with chance ``none_rate``,
    else 1..``max_missing`` distinct ones with chance ``fewer_rate``, else none."""
    lost = np.zeros(count, dtype=np.bool_)
    r = R.uniform(s)
    if r < none_rate:
        lost[:] = True
    elif r < none_rate + fewer_rate:
        order = np.arange(count)
        for j in range(1 + R.below(s, max_missing)):
            t = j + R.below(s, count - j)
            order[j], order[t] = order[t], order[j]
            lost[order[j]] = True
    return lost


@numba.njit(cache=True, nogil=True)
def draw_quality(s, model):  # pragma: no cover - jitted
    m = model[0]
    if R.uniform(s) < m.low_quality_rate:
        return R.uniform_in(s, m.low_quality_lo, m.low_quality_hi)
    return R.beta(s, m.good_quality_a, m.good_quality_b)


@numba.njit(cache=True, nogil=True)
def draw_rotation(s, model):  # pragma: no cover - jitted
    m = model[0]
    if R.uniform(s) < m.large_rotation_rate:
        return R.uniform_in(s, -m.max_rotation, m.max_rotation)
    return min(max(R.gauss(s, 0.0, m.rotation_sd), -m.max_rotation), m.max_rotation)


@numba.njit(cache=True, nogil=True)
def impressions_kernel(s, params, start, mx, my, mangle, mkind, which, quality, rotation,
                       partial, model):  # pragma: no cover - jitted
    """One capture of each master ``which[j]``, in that order.

    ``quality`` (in [0, 1]) and ``rotation`` (radians) are drawn per capture when NaN;
    ``partial`` crops when 1, never when 0, at random when -1. Master coordinates ``mx``/``my``
    are image pixels. Returns ``(finger_quality, vstart, x, y, angle, kind, minutia_quality)``
    in the flat layout. ``model`` is the record of a :class:`CaptureModel`.
    """
    m = model[0]
    views = which.shape[0]
    cap = views * MAX_VIEW_MINUTIAE
    fq = np.empty(views, dtype=np.uint8)
    vstart = np.zeros(views + 1, dtype=np.int64)
    ox = np.empty(cap, dtype=np.int32)
    oy = np.empty(cap, dtype=np.int32)
    oa = np.empty(cap, dtype=np.float32)
    ok = np.empty(cap, dtype=np.uint8)
    oq = np.empty(cap, dtype=np.uint8)
    nb = int(m.distortion_bumps)
    bumps = np.empty((nb, 4))
    u = np.empty(MAX_VIEW_MINUTIAE)
    v = np.empty(MAX_VIEW_MINUTIAE)
    a = np.empty(MAX_VIEW_MINUTIAE)
    kd = np.empty(MAX_VIEW_MINUTIAE, dtype=np.uint8)
    q0 = np.empty(MAX_VIEW_MINUTIAE)
    px = np.empty(MAX_VIEW_MINUTIAE)
    py = np.empty(MAX_VIEW_MINUTIAE)
    idx = np.empty(MAX_VIEW_MINUTIAE, dtype=np.int64)
    for j in range(views):
        f = which[j]
        p = params[f]
        fc, fs = math.cos(-p[P_ROTATION]), math.sin(-p[P_ROTATION])
        q = draw_quality(s, model) if math.isnan(quality) else min(max(quality, 0.0), 1.0)
        bad = 1.0 - q
        # true minutiae: missed, or seen with the type sometimes misread
        miss = m.miss_base + m.miss_slope * bad
        flip = m.flip_base + m.flip_slope * bad
        n = 0
        for i in range(start[f], start[f + 1]):
            seen = R.uniform(s) >= miss
            flipped = R.uniform(s) < flip
            if seen:
                u[n] = mx[i] - m.centre_x
                v[n] = m.centre_y - my[i]
                a[n] = mangle[i]
                kd[n] = 3 - mkind[i] if flipped else mkind[i]
                q0[n] = m.true_minutia_quality * q
                n += 1
        # spurious minutiae: on the finger, roughly along the ridge flow
        extra = min(R.poisson(s, m.spurious_base + m.spurious_slope * bad), MAX_VIEW_MINUTIAE - n)
        for _ in range(extra):
            while True:
                su = R.uniform_in(s, -m.half_width, m.half_width)
                sv = R.uniform_in(s, -m.half_height, m.half_height)
                if in_finger(su, sv, m.half_width, m.half_height, m.tip_exponent, m.base_exponent):
                    break
            u[n] = su
            v[n] = sv
            flow = turned_orientation(p, fc, fs, su, sv, m.arch_width)
            a[n] = (flow + math.pi * R.below(s, 2) + R.gauss(s, 0.0, m.spurious_angle_sd)) % TWO_PI
            kd[n] = 1 + R.below(s, 2)
            q0[n] = m.spurious_minutia_quality * q
            n += 1
        # skin distortion: pressure scaling plus smooth Gaussian bumps of displacement
        sx = 1.0 + R.gauss(s, 0.0, m.pressure_scale_sd)
        sy = 1.0 + R.gauss(s, 0.0, m.pressure_scale_sd)
        for k in range(nb):
            bumps[k, 0] = R.uniform_in(s, -m.half_width, m.half_width)
            bumps[k, 1] = R.uniform_in(s, -m.half_height, m.half_height)
        for k in range(nb):
            bumps[k, 2] = R.gauss(s, 0.0, m.distortion_amp)
            bumps[k, 3] = R.gauss(s, 0.0, m.distortion_amp)
        two_s2 = 2.0 * m.distortion_scale * m.distortion_scale
        sd = m.jitter_base + m.jitter_slope * bad
        asd = m.angle_jitter_base + m.angle_jitter_slope * bad
        for i in range(n):
            du, dv = (sx - 1.0) * u[i], (sy - 1.0) * v[i]
            for k in range(nb):
                w = math.exp(-((u[i] - bumps[k, 0]) ** 2 + (v[i] - bumps[k, 1]) ** 2) / two_s2)
                du += bumps[k, 2] * w
                dv += bumps[k, 3] * w
            # then position and angle jitter
            u[i] += du + R.gauss(s, 0.0, sd)
            v[i] += dv + R.gauss(s, 0.0, sd)
            a[i] += R.gauss(s, 0.0, asd)
        # pose: a global rotation and translation
        alpha = draw_rotation(s, model) if math.isnan(rotation) else rotation
        c, sn = math.cos(alpha), math.sin(alpha)
        tx = R.gauss(s, 0.0, m.translation_sd)
        ty = R.gauss(s, 0.0, m.translation_sd)
        # the image, sometimes cropped to a partial print
        x0, y0, x1, y1 = 0.0, 0.0, m.image_width, m.image_height
        if (R.uniform(s) < m.partial_rate) if partial < 0 else partial == 1:
            fw = R.uniform_in(s, m.partial_keep_lo, m.partial_keep_hi)
            fh = R.uniform_in(s, m.partial_keep_lo, m.partial_keep_hi)
            x0 = R.uniform_in(s, 0.0, (1.0 - fw) * m.image_width)
            y0 = R.uniform_in(s, 0.0, (1.0 - fh) * m.image_height)
            x1, y1 = x0 + fw * m.image_width, y0 + fh * m.image_height
        kept = 0
        for i in range(n):
            xi = np.rint(c * u[i] - sn * v[i] + m.centre_x + tx)
            yi = np.rint(m.centre_y - (sn * u[i] + c * v[i]) + ty)
            if xi >= x0 and xi < x1 and yi >= y0 and yi < y1:
                px[i], py[i] = xi, yi
                idx[kept] = i
                kept += 1
        # the capture order says nothing about identity
        for i in range(kept - 1, 0, -1):
            t = R.below(s, i + 1)
            idx[i], idx[t] = idx[t], idx[i]
        o = vstart[j]
        for r in range(kept):
            i = idx[r]
            ox[o + r] = np.int32(px[i])
            oy[o + r] = np.int32(py[i])
            oa[o + r] = np.float32((a[i] + alpha) % TWO_PI)
            ok[o + r] = kd[i]
            mq = np.rint(q0[i] + R.gauss(s, 0.0, m.minutia_quality_sd))
            oq[o + r] = np.uint8(min(max(mq, 1.0), 100.0))
        vstart[j + 1] = o + kept
        g = round(100.0 * q + R.gauss(s, 0.0, m.finger_quality_sd))
        fq[j] = np.uint8(min(max(g, 1.0), 100.0))
    end = vstart[views]
    return fq, vstart, ox[:end].copy(), oy[:end].copy(), oa[:end].copy(), ok[:end].copy(), oq[:end].copy()
