"""One exception root for Tunggal, with named subclasses.

Errors that describe a bad *input record* carry a stable ``code`` (the contract's dead-letter
error codes) and an optional JSON ``path``; the ingestion policy turns them into dead letters.
Errors that describe a bad *deployment* (configuration, broker) stop the process with a clear
message instead.
"""

from __future__ import annotations


class TunggalError(Exception):
    """Root of every error Tunggal raises on purpose."""


class ConfigError(TunggalError):
    """A setting is missing or malformed; raised at start-up, never mid-stream."""


class BrokerError(TunggalError):
    """The local Kafka broker could not be prepared, started, reached or stopped."""


class InputError(TunggalError):
    """An input record cannot be used. ``code`` is a stable dead-letter error code."""

    code: str = "INVALID_INPUT"

    def __init__(self, message: str, *, path: str = "", code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        if code is not None:
            self.code = code

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "path": self.path}


class DecodeError(InputError):
    """The bytes are not JSON, or not a JSON object."""

    code = "NOT_JSON"


class SchemaViolation(InputError):
    """The JSON does not satisfy the contract's schema."""

    code = "SCHEMA_VIOLATION"


class Base64Error(InputError):
    """A base64 field does not decode."""

    code = "BAD_BASE64"


class TemplateError(InputError):
    """A biometric template is malformed (ISO record, iris shape, ...)."""

    code = "BAD_TEMPLATE"


class IsoRecordError(TemplateError):
    """An ISO/IEC 19794-2:2005 finger minutiae record is malformed."""

    code = "BAD_ISO_19794_2"


class AnsiRecordError(IsoRecordError):
    """The record is ANSI/INCITS 378, not ISO/IEC 19794-2:2005; refused with its own code."""

    code = "ANSI_378_NOT_SUPPORTED"


class IrisShapeError(TemplateError):
    """An iris code or mask does not match its declared shape."""

    code = "BAD_IRIS_SHAPE"


class ConflictingResend(InputError):
    """An enrollment id was sent again with different content."""

    code = "ENROLLMENT_ID_REUSED"
