"""ISO/IEC 19794-2:2005 finger minutiae records <-> :class:`FingerView`.

This is the edge where fingerprint bytes become trusted domain records, so it validates
everything once (STYLE.md guideline 5) and reports every defect as an :class:`IsoRecordError`
with a JSON-pointer style ``path`` into the record (``/header/length``,
``/views/0/minutiae/3/type``, ...; :func:`decode` takes the pointer of the record inside its
event as a prefix), or as
an :class:`AnsiRecordError` for an ANSI/INCITS 378-2004 record. No other exception escapes
:func:`decode`, whatever the bytes: every read is bounds-checked before it happens.

Layout (REFERENCE.md section 3; robertvazan/fingerprintio-java ``Iso19794p2v2005*``), all
integers big-endian::

    header (24)  "FMR\\0" | " 20\\0" | total length u32 | equipment u16 | width u16 | height u16
                 | x resolution u16 | y resolution u16 | view count u8 | reserved u8 (0)
    view         position u8 | view number (high nibble) and impression type (low nibble) u8
                 | finger quality u8 | minutia count u8 | count x minutia (6)
                 | extended data length u16 | blocks: type u16, data length u16, data
    minutia (6)  type (2 bits) + x (14 bits) | reserved (2 bits, 0) + y (14 bits)
                 | angle u8 (1/256 turn) | quality u8

The minutia block is unpacked and checked by one small numba kernel over the record's bytes
(``numpy.frombuffer``), with no per-minutia Python; the precise diagnosis of a bad minutia runs
in plain Python only once the kernel has found one. (A vectorised numpy version spent about
16 us per 50-minutia view in a dozen ufunc calls; the kernel call costs about 1.5 us.)
Extended data blocks are checked for consistent lengths and skipped: the domain keeps no use
for them, so :func:`encode` writes none.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

import numba
import numpy as np

from streams.domain.types import FingerView
from streams.errors import AnsiRecordError, IsoRecordError

MAGIC = b"FMR\x00"
VERSION = b" 20\x00"
#: Version field of the 2011 edition, refused with its own message.
VERSION_2011 = b"030\x00"
HEADER_SIZE = 24
VIEW_HEADER_SIZE = 4
MINUTIA_SIZE = 6
EXT_LENGTH_SIZE = 2
EXT_BLOCK_HEADER_SIZE = 4

MAX_POSITION = 10  # 0 unknown, 1-5 right thumb..little, 6-10 left thumb..little
IMPRESSION_TYPES = frozenset({0, 1, 2, 3, 8})  # live/non-live plain/rolled, 8 swipe
MAX_QUALITY = 100
MAX_VIEW_NUMBER = 15  # a nibble
MAX_VIEWS = 255
MAX_MINUTIAE = 255
MAX_COORDINATE = (1 << 14) - 1
COORDINATE_MASK = 0x3FFF
KIND_SHIFT = 14
MINUTIA_KINDS = frozenset({0, 1, 2})  # 0 other, 1 ridge ending, 2 bifurcation
MAX_KIND = 2
MAX_U16 = 0xFFFF
ANGLE_UNITS = 256  # one turn
DEFAULT_RESOLUTION = 197  # pixels per centimetre, about 500 dpi

#: ANSI 378-2004 tells itself apart by its length field (fingerprintio-java ``accepts``): a
#: first 16-bit half of at least this value is an ANSI 2-byte length (an ISO record would need
#: to be over 1.7 MB); a zero first half followed by a second half below ``HEADER_SIZE`` is an
#: ANSI 6-byte length field (0x0000 then a 32-bit length).
ANSI_SHORT_LENGTH_MIN = 26

_HEADER = struct.Struct(">4s4sIHHHHHBB")
_VIEW = struct.Struct(">BBBB")
_U16 = struct.Struct(">H")
_EXT_BLOCK = struct.Struct(">HH")
_MINUTIA = struct.Struct(">HHBB")

MINUTIA_DTYPE = np.dtype([("type_x", ">u2"), ("reserved_y", ">u2"), ("angle", "u1"), ("quality", "u1")])
#: Angle byte -> radians, computed in float64 and stored as float32.
ANGLE_LUT = (np.arange(ANGLE_UNITS, dtype=np.float64) * (2.0 * math.pi / ANGLE_UNITS)).astype(np.float32)
ANGLE_LUT.flags.writeable = False


def _join(prefix: str, local: str) -> str:
    """JSON-pointer style path: ``prefix`` (a pointer, possibly empty) then ``/local``."""
    return f"{prefix}/{local}" if local else prefix


def _fail(message: str, prefix: str, local: str) -> IsoRecordError:
    return IsoRecordError(message, path=_join(prefix, local))


def decode(data: bytes, *, path: str = "") -> tuple[FingerView, ...]:
    """Parse a whole ISO/IEC 19794-2:2005 record into one :class:`FingerView` per finger view.

    ``path`` (the JSON pointer of the record in its event, e.g. ``/fingerprints/0/data``)
    prefixes every error path. Raises
    :class:`AnsiRecordError` for an ANSI/INCITS 378-2004 record and :class:`IsoRecordError` for
    any other defect; nothing else.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise _fail(f"record must be bytes, not {type(data).__name__}", path, "")
    buf = data if type(data) is bytes else bytes(data)
    n = len(buf)
    _check_identity(buf, path)
    (_, _, length, _equipment, width, height, xres, yres, count, reserved) = _HEADER.unpack_from(buf)
    if length != n:
        what = "truncated" if length > n else f"{n - length} trailing bytes"
        raise _fail(
            f"length field says {length} bytes but the record has {n} ({what})", path, "header/length"
        )
    if xres == 0 or yres == 0:
        raise _fail(f"resolution must be non-zero (x {xres}, y {yres} px/cm)", path, "header/resolution")
    if reserved != 0:
        raise _fail(f"reserved header byte must be 0, found {reserved}", path, "header/reserved")
    if count == 0:
        raise _fail("record declares no finger views (at least 1 required)", path, "header/view_count")

    u8 = np.frombuffer(buf, dtype=np.uint8)
    views: list[FingerView] = []
    seen: set[tuple[int, int]] = set()
    offset = HEADER_SIZE
    for i in range(count):
        vp = _join(path, f"views/{i}")
        view, offset = _decode_view(buf, u8, offset, vp, width, height, xres)
        key = (view.position, view.view)
        if key in seen:
            raise _fail(f"duplicate finger view: position {key[0]}, view number {key[1]}", vp, "view_number")
        seen.add(key)
        views.append(view)
    if offset != n:
        raise _fail(f"{n - offset} bytes left after the last of {count} finger views", path, "views")
    return tuple(views)


def _check_identity(buf: bytes, path: str) -> None:
    """Magic, version, ANSI detection and the minimal header size, in that order."""
    n = len(buf)
    if n < len(MAGIC) + len(VERSION):
        raise _fail(f"record is {n} bytes, too short for the format identifier", path, "header")
    if buf[:4] != MAGIC:
        raise _fail(f"bad magic {buf[:4]!r}, expected {MAGIC!r}", path, "header/magic")
    version = buf[4:8]
    if version == VERSION_2011:
        raise _fail(
            "ISO/IEC 19794-2:2011 (version 030) is not supported; send the 2005 edition",
            path,
            "header/version",
        )
    if version != VERSION:
        raise _fail(
            f"bad version {version!r}, expected {VERSION!r} (ISO/IEC 19794-2:2005)", path, "header/version"
        )
    if n < 12:
        raise _fail(f"record is {n} bytes, truncated inside the length field", path, "header/length")
    high, low = struct.unpack_from(">HH", buf, 8)
    if high >= ANSI_SHORT_LENGTH_MIN or (high == 0 and low < HEADER_SIZE):
        form = f"2-byte length {high}" if high else "6-byte length field"
        raise AnsiRecordError(
            f"ANSI/INCITS 378-2004 record ({form}) is not supported; send ISO/IEC 19794-2:2005",
            path=_join(path, "header/length"),
        )
    if n < HEADER_SIZE:
        raise _fail(f"record is {n} bytes, shorter than the {HEADER_SIZE}-byte header", path, "header")


def _decode_view(
    buf: bytes, u8: np.ndarray, offset: int, vp: str, width: int, height: int, resolution: int
) -> tuple[FingerView, int]:
    """Decode the finger view at ``offset`` (``u8`` is ``buf`` as a uint8 array).

    Returns the view and the offset just past it.
    """
    n = len(buf)
    if offset + VIEW_HEADER_SIZE > n:
        raise _fail(
            f"record ends inside the finger view header (offset {offset}, {n - offset} bytes left)", vp, ""
        )
    position, nibbles, quality, m = _VIEW.unpack_from(buf, offset)
    view_number, impression = nibbles >> 4, nibbles & 0x0F
    if position > MAX_POSITION:
        raise _fail(f"finger position {position} is outside 0..{MAX_POSITION}", vp, "position")
    if impression not in IMPRESSION_TYPES:
        raise _fail(
            f"impression type {impression} is not one of {sorted(IMPRESSION_TYPES)}", vp, "impression"
        )
    if quality > MAX_QUALITY:
        raise _fail(f"finger quality {quality} is outside 0..{MAX_QUALITY}", vp, "quality")
    offset += VIEW_HEADER_SIZE
    end = offset + m * MINUTIA_SIZE
    if end > n:
        raise _fail(
            f"record ends inside the minutiae: {m} minutiae need {m * MINUTIA_SIZE} bytes, {n - offset} left",
            vp,
            "minutiae",
        )
    coords = np.empty((2, m), dtype=np.int32)  # rows x, y
    small = np.empty((2, m), dtype=np.uint8)  # rows kind, quality
    angle = np.empty(m, dtype=np.float32)
    # Inclusive bounds; never above 14 bits, so that set reserved bits above y always fail.
    x_max = min(width - 1, MAX_COORDINATE) if width else MAX_COORDINATE
    y_max = min(height - 1, MAX_COORDINATE) if height else MAX_COORDINATE
    bad = _minutiae_kernel(u8, offset, m, x_max, y_max, coords, small, angle)
    if bad >= 0:
        _diagnose_minutia(buf, offset + bad * MINUTIA_SIZE, f"{vp}/minutiae/{bad}", width, height)
    offset = _skip_extended_data(buf, end, vp)
    coords.flags.writeable = False  # row views taken below inherit read-only
    small.flags.writeable = False
    angle.flags.writeable = False
    view = FingerView(
        position=position,
        impression=impression,
        quality=quality,
        x=coords[0],
        y=coords[1],
        angle=angle,
        kind=small[0],
        minutia_quality=small[1],
        width=width,
        height=height,
        resolution=resolution,
        view=view_number,
    )
    return view, offset


@numba.njit(cache=True, nogil=True)
def _minutiae_kernel(u8, offset, m, x_max, y_max, coords, small, angle):  # pragma: no cover - jitted
    """Unpack ``m`` 6-byte minutiae at ``offset`` of ``u8`` into the output rows.

    Returns the index of the first minutia that breaks a rule (type 3, x above ``x_max``, y with
    reserved bits set or above ``y_max``, quality above 100), or -1. The caller has checked that
    the ``6 * m`` bytes exist.
    """
    for j in range(m):
        p = offset + MINUTIA_SIZE * j
        b0 = np.int32(u8[p])
        kind = b0 >> 6
        x = ((b0 & 0x3F) << 8) | np.int32(u8[p + 1])
        y = (np.int32(u8[p + 2]) << 8) | np.int32(u8[p + 3])  # reserved bits kept: y_max < 2**14
        q = u8[p + 5]
        if kind > MAX_KIND or x > x_max or y > y_max or q > MAX_QUALITY:
            return j
        coords[0, j] = x
        coords[1, j] = y
        small[0, j] = kind
        small[1, j] = q
        angle[j] = ANGLE_LUT[u8[p + 4]]
    return -1


def _diagnose_minutia(buf: bytes, offset: int, mp: str, width: int, height: int) -> None:
    """Raise the precise error for the minutia at ``offset``, known to be bad."""
    tx, ry, _angle, q = _MINUTIA.unpack_from(buf, offset)
    kind, x = tx >> KIND_SHIFT, tx & COORDINATE_MASK
    if kind not in MINUTIA_KINDS:
        raise _fail(f"minutia type {kind} is invalid (0 other, 1 ridge ending, 2 bifurcation)", mp, "type")
    if ry > MAX_COORDINATE:
        raise _fail(f"reserved bits above y must be 0, found {ry >> KIND_SHIFT}", mp, "y")
    if width and x >= width:
        raise _fail(f"minutia x {x} is outside the image width {width}", mp, "x")
    if height and ry >= height:
        raise _fail(f"minutia y {ry} is outside the image height {height}", mp, "y")
    raise _fail(f"minutia quality {q} is outside 0..{MAX_QUALITY}", mp, "quality")


def _skip_extended_data(buf: bytes, offset: int, vp: str) -> int:
    """Check the extended data area at ``offset`` and return the offset just past it."""
    n = len(buf)
    if offset + EXT_LENGTH_SIZE > n:
        raise _fail(
            f"record ends before the extended data length (offset {offset})", vp, "extended_data/length"
        )
    (total,) = _U16.unpack_from(buf, offset)
    start = offset + EXT_LENGTH_SIZE
    end = start + total
    if end > n:
        raise _fail(
            f"extended data length {total} runs past the record end ({n - start} bytes left)",
            vp,
            "extended_data/length",
        )
    pos, k = start, 0
    while pos < end:
        bp = f"extended_data/blocks/{k}"
        if pos + EXT_BLOCK_HEADER_SIZE > end:
            raise _fail(
                f"{end - pos} bytes left in the extended data area, too few for a block header", vp, bp
            )
        block_type, size = _EXT_BLOCK.unpack_from(buf, pos)
        if block_type == 0:
            raise _fail("extended data block type 0 is reserved", vp, f"{bp}/type")
        pos += EXT_BLOCK_HEADER_SIZE + size
        if pos > end:
            raise _fail(
                f"extended data block length {size} overruns the extended data area by {pos - end} bytes",
                vp,
                f"{bp}/length",
            )
        k += 1
    return end


def decode_single(data: bytes, position: int, *, path: str = "") -> FingerView:
    """Decode a contract fingerprint: exactly one finger view, of the declared ``position``."""
    views = decode(data, path=path)
    if len(views) != 1:
        raise _fail(f"record holds {len(views)} finger views; the contract requires exactly 1", path, "views")
    view = views[0]
    if view.position != position:
        raise _fail(
            f"record's finger position {view.position} does not match the declared position {position}",
            path,
            "views/0/position",
        )
    return view


def encode_angle(angle: np.ndarray | float) -> np.ndarray:
    """Radians -> angle bytes: the nearest 1/256 turn (halves round up), modulo one turn."""
    units = np.floor(np.asarray(angle, dtype=np.float64) * (ANGLE_UNITS / (2.0 * math.pi)) + 0.5)
    return np.mod(units, ANGLE_UNITS).astype(np.uint8)


def quantize_angle(angle: np.ndarray | float) -> np.ndarray:
    """The angle a record round trip yields: radians -> byte -> radians (float32)."""
    return ANGLE_LUT[encode_angle(angle)]


def encode(
    views: Sequence[FingerView],
    *,
    width: int,
    height: int,
    resolution: int = DEFAULT_RESOLUTION,
    equipment: int = 0,
) -> bytes:
    """Write ``views`` as one ISO/IEC 19794-2:2005 record (no extended data).

    ``width``/``height``/``resolution`` go in the header (``resolution`` for both axes; the
    views' own header fields are ignored). Angles are rounded by :func:`encode_angle`. Views
    that :func:`decode` would refuse raise :class:`IsoRecordError` instead of being written.
    """
    for name, value in (("width", width), ("height", height), ("equipment", equipment)):
        if not 0 <= value <= MAX_U16:
            raise _fail(f"{name} {value} is outside 0..{MAX_U16}", "", f"header/{name}")
    if not 1 <= resolution <= MAX_U16:
        raise _fail(f"resolution {resolution} is outside 1..{MAX_U16}", "", "header/resolution")
    if not 1 <= len(views) <= MAX_VIEWS:
        raise _fail(f"a record holds 1..{MAX_VIEWS} finger views, got {len(views)}", "", "views")
    bodies = []
    seen: set[tuple[int, int]] = set()
    for i, view in enumerate(views):
        vp = f"/views/{i}"
        key = (view.position, view.view)
        if key in seen:
            raise _fail(f"duplicate finger view: position {key[0]}, view number {key[1]}", vp, "view_number")
        seen.add(key)
        bodies.append(_encode_view(view, vp, width, height))
    length = HEADER_SIZE + sum(len(b) for b in bodies)
    header = _HEADER.pack(
        MAGIC, VERSION, length, equipment, width, height, resolution, resolution, len(views), 0
    )
    return header + b"".join(bodies)


def _encode_view(view: FingerView, vp: str, width: int, height: int) -> bytes:
    if not 0 <= view.position <= MAX_POSITION:
        raise _fail(f"finger position {view.position} is outside 0..{MAX_POSITION}", vp, "position")
    if view.impression not in IMPRESSION_TYPES:
        raise _fail(
            f"impression type {view.impression} is not one of {sorted(IMPRESSION_TYPES)}", vp, "impression"
        )
    if not 0 <= view.quality <= MAX_QUALITY:
        raise _fail(f"finger quality {view.quality} is outside 0..{MAX_QUALITY}", vp, "quality")
    if not 0 <= view.view <= MAX_VIEW_NUMBER:
        raise _fail(f"view number {view.view} is outside 0..{MAX_VIEW_NUMBER}", vp, "view_number")
    m = int(np.shape(view.x)[0]) if np.ndim(view.x) == 1 else -1
    arrays = (view.y, view.angle, view.kind, view.minutia_quality)
    if not 0 <= m <= MAX_MINUTIAE or any(np.shape(a) != (m,) for a in arrays):
        raise _fail(f"minutia arrays must be 1-D of one length <= {MAX_MINUTIAE}", vp, "minutiae")
    x = np.asarray(view.x, dtype=np.int64)
    y = np.asarray(view.y, dtype=np.int64)
    kind = np.asarray(view.kind, dtype=np.int64)
    q = np.asarray(view.minutia_quality, dtype=np.int64)
    angle = np.asarray(view.angle, dtype=np.float64)
    checks = (
        ("type", (kind < 0) | (kind > MAX_KIND), "type must be 0, 1 or 2"),
        (
            "x",
            (x < 0) | (x > MAX_COORDINATE) | ((x >= width) if width else False),
            f"x must be in 0..{MAX_COORDINATE} and below the width {width}",
        ),
        (
            "y",
            (y < 0) | (y > MAX_COORDINATE) | ((y >= height) if height else False),
            f"y must be in 0..{MAX_COORDINATE} and below the height {height}",
        ),
        ("quality", (q < 0) | (q > MAX_QUALITY), f"quality must be in 0..{MAX_QUALITY}"),
        ("angle", ~np.isfinite(angle), "angle must be finite"),
    )
    for field, bad, rule in checks:
        if np.any(bad):
            j = int(np.flatnonzero(bad)[0])
            raise _fail(f"minutia {field} invalid: {rule}", f"{vp}/minutiae/{j}", field)
    raw = np.empty(m, dtype=MINUTIA_DTYPE)
    raw["type_x"] = (kind << KIND_SHIFT) | x
    raw["reserved_y"] = y
    raw["angle"] = encode_angle(angle)
    raw["quality"] = q
    head = _VIEW.pack(view.position, (view.view << 4) | view.impression, view.quality, m)
    return head + raw.tobytes() + _U16.pack(0)
