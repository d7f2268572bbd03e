"""Bytes <-> domain records: contract JSON, ISO/IEC 19794-2 minutiae records, packed iris bits."""
