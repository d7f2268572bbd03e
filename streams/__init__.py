"""Tunggal: a streaming engine that makes national identity numbers unique.

Enrollment events flow in through Kafka; stream agents compare each one against a partitioned
gallery and emit one revisable uniqueness verdict per enrollment (see ``../shared/CONTRACT.md``).
"""

__version__ = "0.2.0"

#: Written into every verdict; changes whenever a threshold or rule changes.
ENGINE = f"tunggal {__version__}"

__all__ = ["ENGINE", "__version__"]
