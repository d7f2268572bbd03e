"""The hot path: per-modality matchers that index a probe once and score blocks of candidates."""
