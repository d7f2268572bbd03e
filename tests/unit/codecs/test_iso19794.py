"""ISO/IEC 19794-2:2005 codec: golden bytes, every malformed case, round trips and fuzzing."""

from __future__ import annotations

import dataclasses
import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.codecs import iso19794 as iso
from streams.domain.types import FingerView
from streams.errors import AnsiRecordError, IsoRecordError, TunggalError
from tests.golden.iso19794 import generate as gen

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "iso19794"
TWO_PI = 2.0 * math.pi
#: The largest float32 below 2*pi.
MAX_F32_ANGLE = float(np.nextafter(np.float32(TWO_PI), np.float32(0)))
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------- helpers


def make_view(
    n: int = 3, *, position: int = 2, impression: int = 0, quality: int = 80, view: int = 0, seed: int = 0
) -> FingerView:
    """A valid view of ``n`` minutiae inside a 400x500 image."""
    rng = np.random.default_rng(seed)
    return FingerView(
        position=position,
        impression=impression,
        quality=quality,
        x=rng.integers(0, 400, n).astype(np.int32),
        y=rng.integers(0, 500, n).astype(np.int32),
        angle=rng.uniform(0, TWO_PI, n).astype(np.float32),
        kind=rng.integers(0, 3, n).astype(np.uint8),
        minutia_quality=rng.integers(0, 101, n).astype(np.uint8),
        view=view,
    )


def record(
    *bodies: bytes,
    count: int | None = None,
    length: int | None = None,
    width: int = 400,
    height: int = 500,
    xres: int = 197,
    yres: int = 197,
    reserved: int = 0,
) -> bytes:
    """Hand-built record around view ``bodies``; ``count``/``length`` default to the true values."""
    body = b"".join(bodies)
    total = 24 + len(body) if length is None else length
    head = b"FMR\x00 20\x00" + struct.pack(
        ">IHHHHHBB", total, 0, width, height, xres, yres, len(bodies) if count is None else count, reserved
    )
    return head + body


def vbody(
    *minutiae: tuple[int, int, int, int, int],
    position: int = 2,
    number: int = 0,
    impression: int = 0,
    quality: int = 80,
    ext: bytes = b"",
    ext_len: int | None = None,
    raw_nibbles: int | None = None,
) -> bytes:
    """View bytes; minutiae as (type, x, y, angle, quality); ``ext_len`` overrides the length."""
    nib = (number << 4) | impression if raw_nibbles is None else raw_nibbles
    out = struct.pack(">BBBB", position, nib, quality, len(minutiae))
    out += b"".join(gen.minutia(*mm) for mm in minutiae)
    return out + struct.pack(">H", len(ext) if ext_len is None else ext_len) + ext


GOOD_M = (1, 100, 120, 64, 90)
VALID = record(vbody(GOOD_M, (2, 10, 20, 3, 50)))


def reference_decode(data: bytes) -> list[dict]:
    """Slow, obviously correct reader for *valid* records: a struct loop per minutia."""
    count = data[22]
    off, out = 24, []
    for _ in range(count):
        position, nib, quality, m = struct.unpack_from(">BBBB", data, off)
        off += 4
        rows = []
        for _ in range(m):
            tx, y, a, q = struct.unpack_from(">HHBB", data, off)
            rows.append((tx >> 14, tx & 0x3FFF, y, a, q))
            off += 6
        (ext,) = struct.unpack_from(">H", data, off)
        off += 2 + ext
        out.append(
            {"position": position, "view": nib >> 4, "impression": nib & 15, "quality": quality, "rows": rows}
        )
    assert off == len(data)
    return out


def check_view_invariants(v: FingerView) -> None:
    assert isinstance(v, FingerView)
    assert v.x.dtype == np.int32 and v.y.dtype == np.int32 and v.angle.dtype == np.float32
    assert v.kind.dtype == np.uint8 and v.minutia_quality.dtype == np.uint8
    n = v.count
    assert all(a.shape == (n,) for a in (v.y, v.angle, v.kind, v.minutia_quality))
    assert 0 <= v.position <= 10 and v.impression in (0, 1, 2, 3, 8) and 0 <= v.quality <= 100
    assert np.all(v.kind <= 2) and np.all(v.minutia_quality <= 100)
    assert np.all((v.angle >= 0) & (v.angle < TWO_PI))
    assert np.all((v.x >= 0) & (v.x <= 16383) & (v.y >= 0) & (v.y <= 16383))
    if v.width:
        assert np.all(v.x < v.width)
    if v.height:
        assert np.all(v.y < v.height)


def decode_or_iso_error(data: bytes) -> tuple[FingerView, ...] | None:
    """Decode; None on IsoRecordError. Anything else propagates and fails the test."""
    try:
        views = iso.decode(data)
    except IsoRecordError as exc:
        assert exc.message and isinstance(exc.path, str)
        return None
    assert isinstance(views, tuple) and views
    for v, ref in zip(views, reference_decode(data), strict=True):
        check_view_invariants(v)
        assert_matches_reference(v, ref)
    return views


def assert_matches_reference(v: FingerView, ref: dict) -> None:
    assert (v.position, v.view, v.impression, v.quality) == (
        ref["position"],
        ref["view"],
        ref["impression"],
        ref["quality"],
    )
    rows = list(
        zip(
            v.kind.tolist(),
            v.x.tolist(),
            v.y.tolist(),
            iso.encode_angle(v.angle).tolist(),
            v.minutia_quality.tolist(),
            strict=True,
        )
    )
    assert rows == ref["rows"]


# ---------------------------------------------------------------- golden records


GOLDEN_NAMES = sorted(p.stem for p in GOLDEN.glob("*.json"))


def load_golden(name: str) -> tuple[bytes, dict]:
    return bytes.fromhex((GOLDEN / f"{name}.hex").read_text()), json.loads(
        (GOLDEN / f"{name}.json").read_text()
    )


def test_golden_set_is_complete_and_matches_its_generator():
    assert len([n for n in GOLDEN_NAMES if "expect_error" not in load_golden(n)[1]]) >= 3
    assert len(CANONICAL_NAMES) >= 3
    built = gen.build_all()
    assert sorted(built) == GOLDEN_NAMES
    for name, (hex_text, json_text) in built.items():
        assert (GOLDEN / f"{name}.hex").read_text() == hex_text
        assert (GOLDEN / f"{name}.json").read_text() == json_text


@pytest.mark.parametrize("name", GOLDEN_NAMES)
def test_golden_decode(name):
    data, doc = load_golden(name)
    assert len(data) == doc["length"]
    if "expect_error" in doc:
        with pytest.raises(AnsiRecordError) as info:
            iso.decode(data)
        assert info.value.code == doc["expect_code"]
        return
    views = iso.decode(data)
    hdr = doc["header"]
    assert len(views) == len(doc["views"])
    for v, want in zip(views, doc["views"], strict=True):
        check_view_invariants(v)
        assert (v.position, v.view, v.impression, v.quality) == (
            want["position"],
            want["view"],
            want["impression"],
            want["quality"],
        )
        assert (v.width, v.height, v.resolution) == (hdr["width"], hdr["height"], hdr["x_resolution"])
        mins = want["minutiae"]
        assert v.kind.tolist() == [m["type"] for m in mins]
        assert v.x.tolist() == [m["x"] for m in mins]
        assert v.y.tolist() == [m["y"] for m in mins]
        assert v.minutia_quality.tolist() == [m["quality"] for m in mins]
        want_angle = np.array([m["angle_units"] * TWO_PI / 256 for m in mins], dtype=np.float32)
        np.testing.assert_array_equal(v.angle, want_angle)
        np.testing.assert_allclose(
            np.degrees(v.angle.astype(np.float64)), [m["angle_degrees"] for m in mins], atol=1e-4
        )


CANONICAL_NAMES = [n for n in GOLDEN_NAMES if load_golden(n)[1].get("canonical")]


@pytest.mark.parametrize("name", CANONICAL_NAMES)
def test_golden_encode_exact_bytes(name):
    """Canonical records (no extended data) come back byte for byte from their decoded views."""
    data, doc = load_golden(name)
    hdr = doc["header"]
    views = iso.decode(data)
    again = iso.encode(
        views,
        width=hdr["width"],
        height=hdr["height"],
        resolution=hdr["x_resolution"],
        equipment=hdr["equipment"],
    )
    assert again == data


def test_extended_data_record_reencodes_without_its_blocks():
    data, doc = load_golden("two_views_with_extensions")
    views = iso.decode(data)
    again = iso.encode(views, width=512, height=512, resolution=250, equipment=0x8123)
    assert len(again) == len(data) - sum(v["extended_data_bytes"] for v in doc["views"])
    assert again[12:14] == b"\x81\x23"
    for a, b in zip(iso.decode(again), views, strict=True):
        np.testing.assert_array_equal(a.angle, b.angle)


def test_decoded_arrays_are_read_only():
    v = iso.decode(VALID)[0]
    for a in (v.x, v.y, v.angle, v.kind, v.minutia_quality):
        with pytest.raises(ValueError):
            a[0] = 1


# ---------------------------------------------------------------- malformed records


def _six_byte_ansi() -> bytes:
    return b"FMR\x00 20\x00" + struct.pack(">HI", 0, 0x10020) + bytes(40)


MALFORMED = {
    "empty": (b"", "/header", "too short"),
    "seven_bytes": (b"FMR\x00 20", "/header", "too short"),
    "bad_magic": (b"FIR\x00" + VALID[4:], "/header/magic", "bad magic"),
    "bad_version": (VALID[:4] + b" 21\x00" + VALID[8:], "/header/version", "bad version"),
    "version_2011": (VALID[:4] + b"030\x00" + VALID[8:], "/header/version", "2011"),
    "length_field_cut": (VALID[:10], "/header/length", "inside the length field"),
    "shorter_than_header": (VALID[:20], "/header", "shorter than the 24-byte header"),
    "length_says_more": (VALID[:-1], "/header/length", "truncated"),
    "length_says_less": (VALID + b"\x00", "/header/length", "1 trailing bytes"),
    "trailing_after_views": (
        record(vbody(GOOD_M), b"\x00\x00", count=1),
        "/views",
        "2 bytes left after the last",
    ),
    "zero_x_resolution": (record(vbody(GOOD_M), xres=0), "/header/resolution", "non-zero"),
    "zero_y_resolution": (record(vbody(GOOD_M), yres=0), "/header/resolution", "non-zero"),
    "reserved_header_byte": (record(vbody(GOOD_M), reserved=1), "/header/reserved", "reserved"),
    "no_views": (record(), "/header/view_count", "no finger views"),
    "missing_second_view": (record(vbody(GOOD_M), count=2), "/views/1", "inside the finger view header"),
    "position_11": (record(vbody(GOOD_M, position=11)), "/views/0/position", "position 11"),
    "position_255": (record(vbody(GOOD_M, position=255)), "/views/0/position", "position 255"),
    "impression_4": (record(vbody(GOOD_M, impression=4)), "/views/0/impression", "impression type 4"),
    "impression_15": (record(vbody(GOOD_M, raw_nibbles=0x0F)), "/views/0/impression", "impression type 15"),
    "finger_quality_101": (record(vbody(GOOD_M, quality=101)), "/views/0/quality", "quality 101"),
    "minutia_type_3": (record(vbody(GOOD_M, (3, 5, 5, 0, 50))), "/views/0/minutiae/1/type", "type 3"),
    "y_reserved_bits": (
        record(vbody(GOOD_M, (1, 5, 5 | 0x4000, 0, 50))),
        "/views/0/minutiae/1/y",
        "reserved",
    ),
    "y_reserved_bits_tall_image": (
        record(vbody((1, 5, 5 | 0x8000, 0, 50)), height=65535),
        "/views/0/minutiae/0/y",
        "reserved",
    ),
    "x_at_width": (record(vbody((1, 400, 5, 0, 50))), "/views/0/minutiae/0/x", "width 400"),
    "y_at_height": (
        record(vbody(GOOD_M, GOOD_M, (1, 5, 500, 0, 50))),
        "/views/0/minutiae/2/y",
        "height 500",
    ),
    "minutia_quality_101": (record(vbody((1, 5, 5, 0, 101))), "/views/0/minutiae/0/quality", "quality 101"),
    "cut_in_view_header": (record(b"\x02\x00"), "/views/0", "inside the finger view header"),
    "cut_in_minutiae": (
        record(struct.pack(">BBBB", 2, 0, 80, 3) + gen.minutia(*GOOD_M)),
        "/views/0/minutiae",
        "3 minutiae need 18 bytes",
    ),
    "cut_before_ext_length": (
        record(struct.pack(">BBBB", 2, 0, 80, 1) + gen.minutia(*GOOD_M)),
        "/views/0/extended_data/length",
        "before the extended data length",
    ),
    "ext_length_overrun": (
        record(vbody(GOOD_M, ext=gen.ext_block(1, b"ab"), ext_len=7)),
        "/views/0/extended_data/length",
        "past the record end",
    ),
    "ext_block_header_short": (
        record(vbody(GOOD_M, ext=b"\x00\x01\x00")),
        "/views/0/extended_data/blocks/0",
        "too few for a block header",
    ),
    "ext_block_overrun": (
        record(vbody(GOOD_M, ext=struct.pack(">HH", 1, 5) + b"abc")),
        "/views/0/extended_data/blocks/0/length",
        "overruns",
    ),
    "ext_second_block_overrun": (
        record(vbody(GOOD_M, ext=gen.ext_block(1, b"ab") + struct.pack(">HH", 0x105, 1))),
        "/views/0/extended_data/blocks/1/length",
        "overruns",
    ),
    "ext_block_type_0": (
        record(vbody(GOOD_M, ext=gen.ext_block(0, b"ab"))),
        "/views/0/extended_data/blocks/0/type",
        "reserved",
    ),
    "duplicate_view": (record(vbody(GOOD_M), vbody(GOOD_M)), "/views/1/view_number", "duplicate"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_record_raises_iso_error_with_path(case):
    data, path, fragment = MALFORMED[case]
    with pytest.raises(IsoRecordError) as info:
        iso.decode(data)
    err = info.value
    assert type(err) is IsoRecordError, "only ANSI records may raise the ANSI subclass"
    assert err.code == "BAD_ISO_19794_2"
    assert err.path == path
    assert fragment in err.message
    prefixed = pytest.raises(IsoRecordError, iso.decode, data, path="/fingerprints/3/data").value
    assert prefixed.path == f"/fingerprints/3/data{path}"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(load_golden("ansi378_2004")[0], id="two_byte_length"),
        pytest.param(_six_byte_ansi(), id="six_byte_length"),
        pytest.param(b"FMR\x00 20\x00" + struct.pack(">H", 26) + bytes(30), id="short_form_garbage"),
    ],
)
def test_ansi_records_raise_ansi_error(data):
    with pytest.raises(AnsiRecordError) as info:
        iso.decode(data)
    assert info.value.code == "ANSI_378_NOT_SUPPORTED"
    assert info.value.path == "/header/length"
    assert "ANSI/INCITS 378-2004" in info.value.message


def test_non_bytes_input_is_an_iso_error():
    with pytest.raises(IsoRecordError):
        iso.decode("FMR")  # type: ignore[arg-type]


def test_bytearray_and_memoryview_are_accepted():
    want = iso.decode(VALID)[0]
    for data in (bytearray(VALID), memoryview(VALID)):
        assert iso.decode(data)[0].x.tolist() == want.x.tolist()


# ---------------------------------------------------------------- decode_single


def test_decode_single_accepts_one_view_of_the_declared_position():
    v = iso.decode_single(VALID, 2)
    assert v.position == 2 and v.count == 2


def test_decode_single_rejects_other_position():
    with pytest.raises(IsoRecordError) as info:
        iso.decode_single(VALID, 7, path="/fingerprints/0/data")
    assert info.value.path == "/fingerprints/0/data/views/0/position"
    assert "position 2 does not match the declared position 7" in info.value.message


def test_decode_single_rejects_several_views():
    data = record(vbody(GOOD_M), vbody(GOOD_M, number=1))
    assert len(iso.decode(data)) == 2
    with pytest.raises(IsoRecordError, match="holds 2 finger views"):
        iso.decode_single(data, 2)


def test_decode_single_propagates_ansi_error():
    with pytest.raises(AnsiRecordError):
        iso.decode_single(load_golden("ansi378_2004")[0], 2)


# ---------------------------------------------------------------- angles


def test_every_angle_byte_survives_radians_and_back():
    units = np.arange(256)
    assert iso.encode_angle(iso.ANGLE_LUT).tolist() == units.tolist()
    np.testing.assert_array_equal(iso.ANGLE_LUT, (units * TWO_PI / 256).astype(np.float32))


@given(st.floats(-100.0, 100.0, allow_nan=False))
def test_encode_angle_picks_the_nearest_unit_mod_one_turn(angle):
    byte = int(iso.encode_angle(angle))
    err = (angle - byte * TWO_PI / 256) % TWO_PI
    assert min(err, TWO_PI - err) <= math.pi / 256 + 1e-9


def test_encode_angle_wraps_and_rounds_half_up():
    step = TWO_PI / 256
    got = iso.encode_angle(
        np.array([TWO_PI, -step, 0.5 * step, 0.49 * step, 255.6 * step, 3 * TWO_PI + 2 * step])
    )
    assert got.tolist() == [0, 255, 1, 0, 0, 2]


# ---------------------------------------------------------------- encode


@st.composite
def records(draw):
    width = draw(st.sampled_from([0, 1, 256, 400, 16384, 65535]))
    height = draw(st.sampled_from([0, 1, 300, 500, 16384, 65535]))
    keys = draw(
        st.lists(st.tuples(st.integers(0, 10), st.integers(0, 15)), min_size=1, max_size=4, unique=True)
    )
    views = []
    for position, number in keys:
        n = draw(st.integers(0, 40))
        xs = st.integers(0, min(width or 16384, 16384) - 1)
        ys = st.integers(0, min(height or 16384, 16384) - 1)
        views.append(
            FingerView(
                position=position,
                impression=draw(st.sampled_from(sorted(iso.IMPRESSION_TYPES))),
                quality=draw(st.integers(0, 100)),
                x=np.array(draw(st.lists(xs, min_size=n, max_size=n)), dtype=np.int32),
                y=np.array(draw(st.lists(ys, min_size=n, max_size=n)), dtype=np.int32),
                angle=np.array(
                    draw(st.lists(st.floats(0, MAX_F32_ANGLE, width=32), min_size=n, max_size=n)),
                    dtype=np.float32,
                ),
                kind=np.array(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)), dtype=np.uint8),
                minutia_quality=np.array(
                    draw(st.lists(st.integers(0, 100), min_size=n, max_size=n)), dtype=np.uint8
                ),
                view=number,
            )
        )
    resolution = draw(st.integers(1, 65535))
    equipment = draw(st.integers(0, 65535))
    return views, dict(width=width, height=height, resolution=resolution, equipment=equipment)


@FUZZ
@given(records())
def test_round_trip(rec):
    views, hdr = rec
    data = iso.encode(views, **hdr)
    assert struct.unpack_from(">I", data, 8)[0] == len(data)
    back = iso.decode(data)
    assert len(back) == len(views)
    for a, b in zip(back, views, strict=True):
        check_view_invariants(a)
        assert (a.position, a.impression, a.quality, a.view) == (b.position, b.impression, b.quality, b.view)
        assert (a.width, a.height, a.resolution) == (hdr["width"], hdr["height"], hdr["resolution"])
        for name in ("x", "y", "kind", "minutia_quality"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        np.testing.assert_array_equal(a.angle, iso.quantize_angle(b.angle))
    assert iso.encode(back, **hdr) == data


@FUZZ
@given(records())
def test_fast_decoder_agrees_with_slow_reference(rec):
    views, hdr = rec
    data = iso.encode(views, **hdr)
    for fast, slow in zip(iso.decode(data), reference_decode(data), strict=True):
        assert_matches_reference(fast, slow)


def test_encode_layout_matches_hand_built_bytes():
    v = FingerView(
        position=2,
        impression=0,
        quality=80,
        x=np.array([100, 10], np.int32),
        y=np.array([120, 20], np.int32),
        angle=np.array([64 * TWO_PI / 256, 3 * TWO_PI / 256], np.float32),
        kind=np.array([1, 2], np.uint8),
        minutia_quality=np.array([90, 50], np.uint8),
    )
    assert iso.encode([v], width=400, height=500) == VALID


def _bad(**kw) -> FingerView:
    return dataclasses.replace(make_view(2), **kw)


@pytest.mark.parametrize(
    "views,kw,path",
    [
        ([], {}, "/views"),
        ([_bad(position=11)], {}, "/views/0/position"),
        ([_bad(impression=5)], {}, "/views/0/impression"),
        ([_bad(quality=101)], {}, "/views/0/quality"),
        ([_bad(view=16)], {}, "/views/0/view_number"),
        ([_bad(kind=np.array([0, 3], np.uint8))], {}, "/views/0/minutiae/1/type"),
        ([_bad(x=np.array([0, 400], np.int32))], {}, "/views/0/minutiae/1/x"),
        ([_bad(x=np.array([-1, 0], np.int32))], {"width": 0}, "/views/0/minutiae/0/x"),
        ([_bad(y=np.array([16384, 0], np.int32))], {"height": 0}, "/views/0/minutiae/0/y"),
        ([_bad(minutia_quality=np.array([0, 101], np.int32))], {}, "/views/0/minutiae/1/quality"),
        ([_bad(angle=np.array([np.nan, 0], np.float32))], {}, "/views/0/minutiae/0/angle"),
        ([_bad(angle=np.zeros(3, np.float32))], {}, "/views/0/minutiae"),
        ([make_view(300)], {}, "/views/0/minutiae"),
        ([make_view(1), make_view(1)], {}, "/views/1/view_number"),
        ([make_view(1)], {"resolution": 0}, "/header/resolution"),
        ([make_view(1)], {"equipment": 1 << 16}, "/header/equipment"),
    ],
)
def test_encode_refuses_what_decode_would_refuse(views, kw, path):
    args = {"width": 400, "height": 500, **kw}
    with pytest.raises(IsoRecordError) as info:
        iso.encode(views, **args)
    assert info.value.path == path


# ---------------------------------------------------------------- fuzzing: nothing but IsoRecordError


VALID_SAMPLES = (
    [load_golden(n)[0] for n in GOLDEN_NAMES if "expect_error" not in load_golden(n)[1]]
    + [iso.encode([make_view(50, seed=s)], width=400, height=500) for s in range(3)]
    + [iso.encode([make_view(20, seed=9)], width=65535, height=65535)]
)  # any y bit flip must be caught


@FUZZ
@given(st.binary(max_size=400))
def test_fuzz_random_bytes(data):
    decode_or_iso_error(data)


@FUZZ
@given(st.binary(max_size=300), st.integers(0, (1 << 32) - 1), st.booleans())
def test_fuzz_random_bodies_behind_a_valid_identifier(body, length, honest):
    head = b"FMR\x00 20\x00"
    total = len(head) + 4 + len(body)
    decode_or_iso_error(head + struct.pack(">I", total if honest else length) + body)


@FUZZ
@given(st.sampled_from(VALID_SAMPLES), st.data())
def test_fuzz_truncations(data, draw):
    cut = draw.draw(st.integers(0, len(data) - 1))
    truncated = data[:cut]
    assert decode_or_iso_error(truncated) is None
    # also with the length field patched to match, so the structural checks must catch it
    if cut >= 12:
        patched = truncated[:8] + struct.pack(">I", cut) + truncated[12:]
        assert decode_or_iso_error(patched) is None


@FUZZ
@given(st.sampled_from(VALID_SAMPLES), st.data())
def test_fuzz_bit_flips(data, draw):
    flips = draw.draw(st.lists(st.integers(0, len(data) * 8 - 1), min_size=1, max_size=4))
    buf = bytearray(data)
    for bit in flips:
        buf[bit // 8] ^= 0x80 >> (bit % 8)
    decode_or_iso_error(bytes(buf))


@FUZZ
@given(st.sampled_from(VALID_SAMPLES), st.data())
def test_fuzz_byte_edits_with_consistent_length(data, draw):
    buf = bytearray(data)
    pos = draw.draw(st.integers(24, len(buf)))
    insert = draw.draw(st.binary(max_size=12))
    delete = draw.draw(st.integers(0, 12))
    buf[pos : pos + delete] = insert
    buf[8:12] = struct.pack(">I", len(buf))
    decode_or_iso_error(bytes(buf))


def test_errors_share_the_project_root():
    assert issubclass(AnsiRecordError, IsoRecordError) and issubclass(IsoRecordError, TunggalError)
