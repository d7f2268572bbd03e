"""The contract's JSON Schemas (``schemas/`` at the top of the repository), compiled once."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import orjson
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
