"""Writes the ISO/IEC 19794-2:2005 golden records: ``NAME.hex`` (exact bytes) + ``NAME.json``.

The bytes are laid out by hand with :mod:`struct`, field by field from REFERENCE.md section 3,
and never through ``streams.codecs.iso19794``: the golden files must stay an independent
statement of the format that the codec is checked against. Run once from the repository root:

    .venv/bin/python -m tests.golden.iso19794.generate

The unit tests also re-run :func:`build_all` and compare with the files on disk, so a record
and its description cannot drift apart.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

HERE = Path(__file__).resolve().parent
BYTES_PER_LINE = 16


def header(total: int, equipment: int, width: int, height: int, xres: int, yres: int, views: int) -> bytes:
    """24-byte ISO header: magic, version, u32 length, u16 x 5, view count, reserved 0."""
    return (
        b"FMR\x00"
        + b" 20\x00"
        + struct.pack(">IHHHHHBB", total, equipment, width, height, xres, yres, views, 0)
    )


def minutia(kind: int, x: int, y: int, angle: int, quality: int) -> bytes:
    """6 bytes: kind in the top 2 bits of x, y with 2 zero bits on top, angle byte, quality."""
    return struct.pack(">HHBB", (kind << 14) | x, y, angle, quality)


def view(
    position: int, number: int, impression: int, quality: int, minutiae: list[dict], ext: bytes = b""
) -> bytes:
    """Finger view header, its minutiae, then the extended data length and blocks."""
    body = struct.pack(">BBBB", position, (number << 4) | impression, quality, len(minutiae))
    body += b"".join(minutia(m["type"], m["x"], m["y"], m["angle_units"], m["quality"]) for m in minutiae)
    return body + struct.pack(">H", len(ext)) + ext


def ext_block(block_type: int, data: bytes) -> bytes:
    """Extended data block: u16 type, u16 data length, data."""
    return struct.pack(">HH", block_type, len(data)) + data


def m(kind: int, x: int, y: int, angle: int, quality: int) -> dict:
    return {
        "type": kind,
        "x": x,
        "y": y,
        "angle_units": angle,
        "angle_degrees": angle * 360 / 256,
        "quality": quality,
    }


def _record(name: str, description: str, hdr: dict, views: list[dict], canonical: bool) -> tuple[bytes, dict]:
    bodies = [
        view(v["position"], v["view"], v["impression"], v["quality"], v["minutiae"], v.pop("_ext", b""))
        for v in views
    ]
    total = 24 + sum(len(b) for b in bodies)
    data = header(
        total,
        hdr["equipment"],
        hdr["width"],
        hdr["height"],
        hdr["x_resolution"],
        hdr["y_resolution"],
        len(views),
    )
    data += b"".join(bodies)
    doc = {
        "name": name,
        "description": description,
        "length": total,
        "header": hdr,
        "views": views,
        "canonical": canonical,
    }
    return data, doc


def right_index_plain() -> tuple[bytes, dict]:
    hdr = {"equipment": 0, "width": 400, "height": 500, "x_resolution": 197, "y_resolution": 197}
    views = [
        {
            "position": 2,
            "view": 0,
            "impression": 0,
            "quality": 80,
            "extended_data_bytes": 0,
            "minutiae": [
                m(1, 100, 120, 0, 90),
                m(2, 250, 300, 64, 75),
                m(0, 399, 499, 255, 0),
                m(1, 0, 0, 128, 100),
            ],
        }
    ]
    return _record(
        "right_index_plain",
        "One live-plain right index view, 4 minutiae of each type, "
        "corners of the 400x500 image, angles 0/90/358.6/180 degrees.",
        hdr,
        views,
        True,
    )


def two_views_with_extensions() -> tuple[bytes, dict]:
    hdr = {"equipment": 0x8123, "width": 512, "height": 512, "x_resolution": 250, "y_resolution": 250}
    # Ridge-count block (type 1): method byte 0, then one (index, index, count) triple; then a
    # vendor block (type 0x0105) of 2 bytes. 8 + 6 = 14 bytes of extended data.
    ext = ext_block(0x0001, bytes([0, 0, 1, 5])) + ext_block(0x0105, b"hi")
    views = [
        {
            "position": 1,
            "view": 0,
            "impression": 1,
            "quality": 60,
            "extended_data_bytes": len(ext),
            "minutiae": [m(2, 10, 511, 32, 40), m(1, 511, 10, 224, 41)],
            "_ext": ext,
        },
        {
            "position": 6,
            "view": 1,
            "impression": 8,
            "quality": 0,
            "extended_data_bytes": 0,
            "minutiae": [m(0, 1, 2, 3, 4), m(1, 200, 300, 100, 100), m(2, 300, 200, 200, 99)],
        },
    ]
    return _record(
        "two_views_with_extensions",
        "Certified device 0x123 (equipment 0x8123), 250 px/cm; "
        "right thumb rolled with a ridge-count and a vendor extended data block (skipped "
        "by the decoder), left thumb swipe as view number 1.",
        hdr,
        views,
        False,
    )


def unknown_finger_no_size() -> tuple[bytes, dict]:
    hdr = {"equipment": 0, "width": 0, "height": 0, "x_resolution": 197, "y_resolution": 197}
    views = [
        {
            "position": 0,
            "view": 0,
            "impression": 3,
            "quality": 100,
            "extended_data_bytes": 0,
            "minutiae": [m(2, 16383, 16383, 1, 1), m(0, 0, 16383, 200, 100)],
        }
    ]
    return _record(
        "unknown_finger_no_size",
        "Unknown finger, non-live rolled, image size 0 (unknown) so "
        "coordinates may reach the 14-bit maximum 16383.",
        hdr,
        views,
        True,
    )


def three_views_left_hand() -> tuple[bytes, dict]:
    hdr = {"equipment": 0, "width": 300, "height": 400, "x_resolution": 197, "y_resolution": 197}
    views = [
        {
            "position": 6,
            "view": 0,
            "impression": 2,
            "quality": 55,
            "extended_data_bytes": 0,
            "minutiae": [m(1, 150, 200, 16, 70), m(2, 151, 201, 240, 71)],
        },
        {"position": 6, "view": 1, "impression": 2, "quality": 20, "extended_data_bytes": 0, "minutiae": []},
        {
            "position": 10,
            "view": 0,
            "impression": 2,
            "quality": 90,
            "extended_data_bytes": 0,
            "minutiae": [m(1, 299, 399, 127, 88)],
        },
    ]
    return _record(
        "three_views_left_hand",
        "Three non-live plain views: left thumb twice (view 1 has no minutiae) and left little.",
        hdr,
        views,
        True,
    )


def ansi378_2004() -> tuple[bytes, dict]:
    """ANSI/INCITS 378-2004: 2-byte length, CBEFF vendor and subformat, sensor id; 26-byte header."""
    finger = (
        struct.pack(">BBBB", 2, 0, 80, 1)
        + struct.pack(">HHBB", (1 << 14) | 100, 120, 45, 90)
        + struct.pack(">H", 0)
    )
    total = 26 + len(finger)
    data = (
        b"FMR\x00 20\x00"
        + struct.pack(">HHHHHHHHBB", total, 0x0033, 0x0001, 0x8001, 400, 500, 197, 197, 1, 0)
        + finger
    )
    doc = {
        "name": "ansi378_2004",
        "description": "ANSI/INCITS 378-2004 record (same magic and version, "
        "2-byte length 38, vendor 0x0033): must be refused as ANSI.",
        "length": total,
        "expect_error": "AnsiRecordError",
        "expect_code": "ANSI_378_NOT_SUPPORTED",
    }
    return data, doc


BUILDERS = (
    right_index_plain,
    two_views_with_extensions,
    unknown_finger_no_size,
    three_views_left_hand,
    ansi378_2004,
)


def to_hex(data: bytes) -> str:
    lines = [data[i : i + BYTES_PER_LINE].hex() for i in range(0, len(data), BYTES_PER_LINE)]
    return "\n".join(lines) + "\n"


def build_all() -> dict[str, tuple[str, str]]:
    """name -> (hex file text, json file text)."""
    out = {}
    for build in BUILDERS:
        data, doc = build()
        assert len(data) == doc["length"]
        out[doc["name"]] = (to_hex(data), json.dumps(doc, indent=2) + "\n")
    return out


def main() -> None:
    for name, (hex_text, json_text) in build_all().items():
        (HERE / f"{name}.hex").write_text(hex_text)
        (HERE / f"{name}.json").write_text(json_text)
        print(f"wrote {name}.hex and {name}.json")


if __name__ == "__main__":
    main()
