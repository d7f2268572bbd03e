"""Packed iris codes per the contract: boolean arrays of ``shape`` in C order, ``numpy.packbits``
with big-endian bit order, then base64 (base64 is the JSON codec's business, not this module's)."""

from __future__ import annotations

import math

import numpy as np

from streams.domain.types import MIN_ANGULAR_COLUMNS, IrisTemplate
from streams.errors import IrisShapeError


def packed_length(shape: tuple[int, ...]) -> int:
    """Bytes of one packed array of ``shape``."""
    return (math.prod(shape) + 7) // 8  # exact: numpy's int64 product wraps at huge shapes


def check_shape(shape: object, path: str = "") -> tuple[int, int, int, int]:
    """Validate a declared template shape: 4 positive integers, >= 64 angular columns."""
    if (not isinstance(shape, (list, tuple)) or len(shape) != 4
            or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)):
        raise IrisShapeError(f"iris shape must be 4 positive integers, got {shape!r}", path=path)
    if shape[2] < MIN_ANGULAR_COLUMNS:
        raise IrisShapeError(
            f"iris shape {list(shape)} has {shape[2]} angular columns; at least "
            f"{MIN_ANGULAR_COLUMNS} are required", path=path)
    return (int(shape[0]), int(shape[1]), int(shape[2]), int(shape[3]))


def pack(template: IrisTemplate) -> tuple[bytes, bytes]:
    """(code bytes, mask bytes) of a template, as the contract packs them."""
    return (np.packbits(template.code, axis=None, bitorder="big").tobytes(),
            np.packbits(template.mask, axis=None, bitorder="big").tobytes())


def unpack(code: bytes, mask: bytes, shape: object, eye: str, path: str = "") -> IrisTemplate:
    """Build a template from packed bytes, checking both lengths against ``shape``.

    Padding bits of the last byte (when the bit count is not a multiple of 8) must be zero.
    """
    dims = check_shape(shape, path=f"{path}/shape")
    nbits = math.prod(dims)
    want = (nbits + 7) // 8
    padding = want * 8 - nbits  # the low bits of the last byte
    arrays = []
    for name, data in (("code", code), ("mask", mask)):
        if len(data) != want:
            raise IrisShapeError(
                f"iris {name} has {len(data)} bytes; shape {list(dims)} needs {want}",
                path=f"{path}/{name}")
        if padding and data[-1] & ((1 << padding) - 1):
            raise IrisShapeError(f"iris {name} has non-zero padding bits", path=f"{path}/{name}")
        bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), count=nbits, bitorder="big")
        arr = bits.view(np.bool_).reshape(dims)  # 0/1 bytes: valid booleans, no copy
        arr.setflags(write=False)
        arrays.append(arr)
    if eye not in ("R", "L"):
        raise IrisShapeError(f"eye must be 'R' or 'L', got {eye!r}", path=f"{path}/eye")
    return IrisTemplate(eye=eye, code=arrays[0], mask=arrays[1])
