"""The contract's JSON Schemas (``schemas/`` at the top of the repository), compiled once."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import orjson
import fastjsonschema
from jsonschema import Draft202012Validator

#: Schema id (the ``schema`` field of an event) -> file in ``schemas/``.
SCHEMA_FILES = {
    "tunggal.enrollment.v1": "enrollment.v1.schema.json",
    "tunggal.verdict.v1": "verdict.v1.schema.json",
    "tunggal.dead_letter.v1": "dead_letter.v1.schema.json",
    "tunggal.adjudication.v1": "adjudication.v1.schema.json",
}

ENROLLMENT = "tunggal.enrollment.v1"
VERDICT = "tunggal.verdict.v1"
DEAD_LETTER = "tunggal.dead_letter.v1"
ADJUDICATION = "tunggal.adjudication.v1"


def schema_dir() -> Path:
    """``schemas/`` beside the package (the project is installed editable, or run from a clone)."""
    return Path(__file__).resolve().parents[2] / "schemas"


@lru_cache(maxsize=None)
def validator(schema_id: str) -> Draft202012Validator:
    """A compiled validator for one contract event kind."""
    path = schema_dir() / SCHEMA_FILES[schema_id]
    schema = orjson.loads(path.read_bytes())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _as_draft7(node: object) -> object:
    """The same constraints in draft-07 words, for fastjsonschema (which knows draft 4-7):
    2020-12 ``prefixItems`` + ``items: false`` is draft-07 ``items: [...]`` +
    ``additionalItems: false``; keywords beside a ``$ref`` (ignored in draft 07) go into an
    ``allOf`` with it."""
    if isinstance(node, list):
        return [_as_draft7(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _as_draft7(v) for k, v in node.items() if k != "$schema"}
    if "prefixItems" in out:
        out["additionalItems"] = out.pop("items", True)
        out["items"] = out.pop("prefixItems")
    if "$ref" in out and len(out) > 1:
        ref = out.pop("$ref")
        rest = {k: v for k, v in out.items() if k not in ("description", "title")}
        out = {k: v for k, v in out.items() if k in ("description", "title")}
        out["allOf"] = [{"$ref": ref}, rest]
    return out


@lru_cache(maxsize=None)
def fast_check(schema_id: str):
    """A compiled predicate ``obj -> bool`` equivalent to :func:`validator` (tested against it on
    every fixture and mutation); about 60 times faster. Errors are then explained by the full
    2020-12 validator, so messages and paths stay the standard ones."""
    return _predicate(orjson.loads((schema_dir() / SCHEMA_FILES[schema_id]).read_bytes()))


def _predicate(schema: dict):
    compiled = fastjsonschema.compile(_as_draft7(schema),
                                      formats={"date": _always, "date-time": _always})

    def check(obj: object) -> bool:
        try:
            compiled(obj)
        except fastjsonschema.JsonSchemaException:
            return False
        return True

    return check


def _always(_value: str) -> bool:
    # Formats are annotations in 2020-12 (not asserted by `validator`); the patterns assert.
    return True


@lru_cache(maxsize=None)
def _structure_check():
    """:func:`fast_check` of ``enrollment.v1`` with the ``base64`` definition reduced to "a
    string". The base64 patterns are two thirds of the schema check's cost (every finger record
    and every 2.7 kB iris code scanned twice by regular expressions), and ingestion decodes
    those fields strictly anyway (``contract._strict_b64``, equal to the pattern's rule)."""
    schema = orjson.loads((schema_dir() / SCHEMA_FILES[ENROLLMENT]).read_bytes())
    schema["$defs"]["base64"] = {"type": "string"}
    return _predicate(schema)


def enrollment_structure_ok(obj: object) -> bool:
    """``True`` for an object ``enrollment.v1.schema.json`` accepts once its base64 fields
    (``data``, ``code``, ``mask``) are known to be base64; the caller decodes those strictly
    (``contract._all_blobs``). Derived from the schema file, so it follows the contract."""
    return _structure_check()(obj)
