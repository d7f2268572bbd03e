"""ISO/IEC 19794-2:2005 records of a simulated capture session, one numba call for all its views.

What: :func:`records` turns an :class:`~streams.sim.finger_sets.Impressions` set into one record per
view (the contract carries one finger per record), byte for byte what
``streams.codecs.iso19794.encode([view], ...)`` writes: a test checks the two agree, the codec
being the reference.

Why: the codec validates and packs a record in about 70 us of numpy calls, 0.7 ms for the ten
fingers of an enrollment event; this kernel writes all ten in a few microseconds. It trusts the
generator's output, but not blindly: a value the codec would refuse makes the kernel stop, and the
codec then encodes the session and raises its own error. The codec's format constants (sizes,
ranges) are compiled into the cached kernel; they are the standard's, and the agreement test
would show a change to them.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from streams.codecs import iso19794 as iso
from streams.sim.finger import IMAGE_HEIGHT_PX, IMAGE_WIDTH_PX, RESOLUTION_PPCM
from streams.sim.finger_sets import Impressions

_PREFIX = np.frombuffer(iso.MAGIC + iso.VERSION, dtype=np.uint8)
#: Bytes of a one-view record besides its minutiae: file header, view header, extended length.
_OVERHEAD = iso.HEADER_SIZE + iso.VIEW_HEADER_SIZE + iso.EXT_LENGTH_SIZE
_ANGLE_SCALE = iso.ANGLE_UNITS / (2.0 * math.pi)  # as iso19794.encode_angle computes it


def records(imps: Impressions) -> list[bytes]:
    """One ISO/IEC 19794-2:2005 record per view of ``imps``, in order."""
    ends = np.cumsum(imps.counts * iso.MINUTIA_SIZE + _OVERHEAD)
    buf = np.empty(int(ends[-1]) if ends.size else 0, dtype=np.uint8)
    ok = _write(buf, _PREFIX, imps.positions, imps.impression_type, imps.quality, imps.vstart,
                imps.x, imps.y, imps.angle, imps.kind, imps.minutia_quality, IMAGE_WIDTH_PX,
                IMAGE_HEIGHT_PX, RESOLUTION_PPCM, _ANGLE_SCALE)
    if not ok or imps.impression_type not in iso.IMPRESSION_TYPES:  # the codec says what is wrong
        for j in range(len(imps)):
            v = imps.view(j)
            iso.encode([v], width=v.width, height=v.height, resolution=v.resolution)
        raise AssertionError("the record kernel refused views the codec accepts")  # pragma: no cover
    data = buf.tobytes()
    bounds = [0] + ends.tolist()
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


@numba.njit(cache=True, nogil=True)
def _u16(buf, at, value):  # pragma: no cover - jitted
    buf[at] = (value >> 8) & 0xFF
    buf[at + 1] = value & 0xFF


@numba.njit(cache=True, nogil=True)
def _write(buf, prefix, positions, impression_type, quality, vstart, x, y, angle, kind, mq,
           width, height, resolution, angle_scale):  # pragma: no cover - jitted
    """Write one record per view into ``buf`` (sized by the caller); False if a value is out of
    the codec's range (the buffer is then garbage)."""
    at = 0
    for j in range(positions.shape[0]):
        a, b = vstart[j], vstart[j + 1]
        m = b - a
        if (m > iso.MAX_MINUTIAE or not 0 <= positions[j] <= iso.MAX_POSITION
                or quality[j] > iso.MAX_QUALITY):
            return False
        length = iso.HEADER_SIZE + iso.VIEW_HEADER_SIZE + iso.MINUTIA_SIZE * m + iso.EXT_LENGTH_SIZE
        buf[at:at + 8] = prefix
        for k in range(4):  # total length, u32 big-endian
            buf[at + 8 + k] = (length >> (8 * (3 - k))) & 0xFF
        _u16(buf, at + 12, 0)  # equipment
        _u16(buf, at + 14, width)
        _u16(buf, at + 16, height)
        _u16(buf, at + 18, resolution)
        _u16(buf, at + 20, resolution)
        buf[at + 22] = 1  # one view
        buf[at + 23] = 0
        h = at + iso.HEADER_SIZE
        buf[h] = positions[j]
        buf[h + 1] = impression_type  # view number 0 in the high nibble
        buf[h + 2] = quality[j]
        buf[h + 3] = m
        o = h + iso.VIEW_HEADER_SIZE
        for i in range(a, b):
            xi, yi, ki, qi = np.int64(x[i]), np.int64(y[i]), np.int64(kind[i]), np.int64(mq[i])
            if (not 0 <= xi < width or not 0 <= yi < height or ki > iso.MAX_KIND
                    or qi > iso.MAX_QUALITY or not math.isfinite(angle[i])):
                return False
            _u16(buf, o, (ki << iso.KIND_SHIFT) | xi)
            _u16(buf, o + 2, yi)
            units = math.floor(np.float64(angle[i]) * angle_scale + 0.5)
            buf[o + 4] = np.int64(units) % iso.ANGLE_UNITS
            buf[o + 5] = qi
            o += iso.MINUTIA_SIZE
        _u16(buf, o, 0)  # no extended data
        at = o + iso.EXT_LENGTH_SIZE
    return True
