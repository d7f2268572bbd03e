"""Pure decision rules: person clusters, NIK ownership, verdict precedence, revisions."""
