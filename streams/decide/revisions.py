"""The verdict writer's rule: a new revision only when the verdict's content changed."""

from __future__ import annotations

from typing import Any

from streams.codecs.schemas import VERDICT
from streams.domain.types import Verdict

#: Fields whose change makes a new revision. ``revision``, ``decided_at`` and ``engine`` do not.
CONTENT_FIELDS = ("nik", "verdict", "person_id", "matches", "reasons")


def verdict_content(v: Verdict) -> dict[str, Any]:
    return {"enrollment_id": v.enrollment_id, "nik": v.nik, "verdict": v.verdict.value,
            "person_id": v.person_id, "matches": [dict(m) for m in v.matches],
            "reasons": list(v.reasons)}


def next_revision(current: dict[str, Any] | None, decision: dict[str, Any], *,
                  decided_at: str, engine: str) -> dict[str, Any] | None:
    """The verdict to write for ``decision`` given the ``current`` one, or ``None`` if unchanged.

    ``decision`` is :func:`verdict_content` output; ``current`` is the last verdict written for
    the key (a contract verdict) or ``None``. Revisions start at 1 and grow by one.
    """
    if current is not None and all(current.get(f) == decision.get(f) for f in CONTENT_FIELDS):
        return None
    revision = int(current["revision"]) + 1 if current is not None else 1
    return {"schema": VERDICT, "enrollment_id": decision["enrollment_id"],
            "nik": decision["nik"], "revision": revision, "verdict": decision["verdict"],
            "person_id": decision["person_id"], "matches": decision["matches"],
            "reasons": decision["reasons"], "decided_at": decided_at, "engine": engine}
