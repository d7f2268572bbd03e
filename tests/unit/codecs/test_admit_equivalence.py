"""The admission fast path (hand-written structure check, strict base64, compact iris unpacking)
gives exactly the results of the plain path it stands in for, on valid and malformed events."""

from __future__ import annotations

import base64
import binascii
import copy
import itertools
import random
import re

import numpy as np
import orjson
import pytest

from streams.codecs import contract, iris, schemas
from streams.domain.types import IrisTemplate
from streams.errors import InputError, IrisShapeError
from streams.sim.malformed import variants
from tests.factories import make_enrollment

_B64_RULE = re.compile(r"^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$")


def _schema_base64(text: str) -> bool:
    """The schema's base64 rule as the 2020-12 validator applies it (``pattern`` + ``not \\n``)."""
    return _B64_RULE.search(text) is not None and "\n" not in text


def _b64_validate(text: str):
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def test_strict_base64_accepts_exactly_the_schema_rule_on_short_strings():
    # every string of up to 6 characters over an alphabet with one of each kind of character
    for n in range(7):
        for chars in itertools.product("AQ/=\n é-", repeat=n):
            text = "".join(chars)
            got = contract._strict_b64(text)
            assert (got is not None) == _schema_base64(text), repr(text)
            if got is not None:
                assert got == _b64_validate(text)


def test_strict_base64_agrees_on_random_quanta():
    rng = random.Random(7)
    quanta = ["QUFB", "AAAA", "QQ==", "QUE=", "AA==", "A===", "====", "AAA=", "A=A=", "AA=A", "=AAA",
              "AA\nA", "AAA\n", "AA A", "é+/A", "-_AA", "QR==", "QUF="]
    for _ in range(20000):
        text = "".join(rng.choice(quanta) for _ in range(rng.randint(0, 4)))
        if rng.random() < 0.3:
            text = text[:rng.randint(0, len(text))]
        got = contract._strict_b64(text)
        assert (got is not None) == _schema_base64(text), repr(text)
        if got is not None:
            assert got == _b64_validate(text)
    assert contract._strict_b64("AAAA====") is None  # a2b_base64 strict mode alone accepts it


def _snapshot(fn, obj):
    """An outcome as plain data: every field and array of the Enrollment, or the error."""
    try:
        e = fn(obj)
    except InputError as err:
        return ("error", type(err).__name__, err.code, err.message, err.path)
    except Exception as err:  # noqa: BLE001 - admitted=True on a malformed event may raise these
        return ("exception", type(err).__name__, str(err))

    def arr(a):
        return (a.dtype.str, a.shape, a.strides, a.flags.writeable, a.tobytes())
    return ("enrollment", e.enrollment_id, e.station_id, e.captured_at, e.captured_ts, e.nik,
            e.demographics, e.digest,
            [(f.position, f.impression, f.quality, f.width, f.height, f.resolution, f.view,
              arr(f.x), arr(f.y), arr(f.angle), arr(f.kind), arr(f.minutia_quality)) for f in e.fingers],
            [(t.eye, arr(t.code), arr(t.mask)) for t in e.irises])


def _reference(obj, admitted=False):
    """The plain path: the JSON Schema check (fastjsonschema, then the 2020-12 validator), then
    every field decoded with ``base64.b64decode(validate=True)``, one at a time."""
    schema_id = obj.get("schema")
    if schema_id != schemas.ENROLLMENT:
        raise InputError(f"schema {schema_id!r} is not {schemas.ENROLLMENT!r}", path="/schema",
                         code=contract.UNKNOWN_SCHEMA)
    error = None if admitted else contract._schema_error(obj, schemas.ENROLLMENT)
    if error is not None:
        raise error
    return contract._decode_checked(obj, None)


_ODD_VALUES = [None, True, 0, 1, 2.0, 64.0, -1, "", "\n", "é", [], {}, "M\n", "2017-02-30T10:15:00Z",
               "2017-09-13T10:15:00.1234567891Z", "1987-02-29", [2, 16, 256.0, 2], [2, 16, 63, 2],
               [1, 1, 65, 1], [2**62, 2, 64, 1], "QQ==", "AAAA====", "QUFB\n", "x" * 129]


def _leaf_paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaf_paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _leaf_paths(v, (*prefix, i))


def _events():
    """Valid events, the simulator's malformed kinds, and seeded random edits of every field."""
    rng = random.Random(11)
    out = []
    for seq in range(1, 4):
        event = make_enrollment(seq)
        out.append(event)
        out.append(make_enrollment(seq, fingers=(), eyes=("L",)))
        out += [orjson.loads(m.value) for m in variants(event)
                if m.value and m.value.startswith(b"{") and m.kind != "truncated_json"]
        paths = [p for p in _leaf_paths(event) if p]
        for _ in range(150):
            e = copy.deepcopy(event)
            path = rng.choice(paths)
            parent = e
            for p in path[:-1]:
                parent = parent[p]
            if rng.random() < 0.2 and isinstance(parent, dict):
                del parent[path[-1]]
            elif isinstance(parent[path[-1]], str) and rng.random() < 0.5:
                s = parent[path[-1]]
                i = rng.randrange(len(s) + 1)
                parent[path[-1]] = s[:i] + rng.choice("A=\n -é") + s[i + 1:]
            else:
                parent[path[-1]] = copy.deepcopy(rng.choice(_ODD_VALUES))
            out.append(e)
        # an odd bit count: padding bits, clean and set
        for last in (0x00, 0x01):
            e = copy.deepcopy(event)
            nbytes = (3 * 5 * 67 * 1 + 7) // 8
            e["irises"][0].update(shape=[3, 5, 67, 1],
                                  code=base64.b64encode(bytes(nbytes - 1) + bytes([last])).decode(),
                                  mask=base64.b64encode(bytes(nbytes)).decode())
            out.append(e)
    return out


EVENTS = _events()


@pytest.mark.parametrize("admitted", [False, True])
def test_decode_enrollment_equals_the_plain_path(admitted):
    kinds = set()
    for obj in EVENTS:
        got = _snapshot(lambda o: contract.decode_enrollment(o, admitted=admitted), obj)
        want = _snapshot(lambda o: _reference(o, admitted=admitted), obj)
        assert got == want, (got[:4], want[:4])
        kinds.add(got[0] if got[0] != "error" else got[2])
    # the corpus reaches valid events and every kind of refusal
    assert "enrollment" in kinds and {"SCHEMA_VIOLATION", "BAD_BASE64", "BAD_ISO_19794_2",
                                       "BAD_IRIS_SHAPE"} <= kinds


def test_the_structure_check_passes_only_events_the_schema_accepts():
    check, full = schemas.fast_check(schemas.ENROLLMENT), schemas.validator(schemas.ENROLLMENT)
    passed = 0
    for obj in EVENTS:
        if schemas.enrollment_structure_ok(obj) and contract._all_blobs(obj) is not None:
            passed += 1
            assert check(obj) and full.is_valid(obj)
    assert passed > 10
    for seq in range(1, 4):  # every valid event takes the fast path
        assert schemas.enrollment_structure_ok(make_enrollment(seq))


def _iris_outcome(fn, *args):
    try:
        t = fn(*args)
    except InputError as err:
        return ("error", type(err).__name__, err.code, err.message, err.path)
    return (t.eye, *[(a.dtype.str, a.shape, a.strides, a.flags.writeable, a.flags.c_contiguous,
                      a.tobytes()) for a in (t.code, t.mask)])


def _unpack_reference(code, mask, dims, eye, path):
    """The plain numpy formulation of ``iris.unpack``: unpack every bit, check the tail."""
    want = iris.packed_length(dims)
    nbits = int(np.prod(dims))
    arrays = []
    for name, data in (("code", code), ("mask", mask)):
        if len(data) != want:
            raise IrisShapeError(f"iris {name} has {len(data)} bytes; shape {list(dims)} needs {want}",
                                 path=f"{path}/{name}")
        bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="big")
        if bits[nbits:].any():
            raise IrisShapeError(f"iris {name} has non-zero padding bits", path=f"{path}/{name}")
        arr = bits[:nbits].astype(bool).reshape(dims)
        arr.setflags(write=False)
        arrays.append(arr)
    if eye not in ("R", "L"):
        raise IrisShapeError(f"eye must be 'R' or 'L', got {eye!r}", path=f"{path}/eye")
    return IrisTemplate(eye=eye, code=arrays[0], mask=arrays[1])


def test_iris_unpack_equals_the_numpy_arithmetic():
    rng = np.random.default_rng(3)
    seen = set()
    for shape in ([2, 16, 256, 2], [1, 1, 64, 1], [3, 5, 67, 1], [1, 3, 65, 3], [2, 2, 64, 7]):
        nbits = int(np.prod(shape))
        nbytes = (nbits + 7) // 8
        for data in (rng.integers(0, 256, nbytes, dtype=np.uint8).tobytes(),
                     np.packbits(rng.integers(0, 2, nbits).astype(bool)).tobytes(),
                     bytes(nbytes - 1), bytes(nbytes + 1)):
            for eye in ("R", "X"):
                for code, mask in ((data, bytes(nbytes)), (bytes(nbytes), data)):
                    got = _iris_outcome(iris.unpack, code, mask, shape, eye, "/irises/0")
                    want = _iris_outcome(_unpack_reference, code, mask, tuple(shape), eye, "/irises/0")
                    assert got == want
                    seen.add(got[3] if got[0] == "error" else "ok")
    assert {"ok", "iris code has non-zero padding bits", "iris mask has non-zero padding bits"} <= seen


def test_a_huge_declared_shape_is_refused_with_its_exact_byte_count():
    with pytest.raises(InputError) as err:
        iris.unpack(b"\x00", b"\x00", [2**62, 2, 64, 1], "R")
    assert err.value.message == (f"iris code has 1 bytes; shape {[2**62, 2, 64, 1]} needs "
                                 f"{2**62 * 2 * 64 // 8}")
