"""The verdict writer on the real broker: revisions ordered, and idempotent under repeats."""

from __future__ import annotations

import random

import orjson

from tests.integration.harness import produce, read_topic


def decision(eid: str, verdict: str, person: str) -> dict:
    return {"enrollment_id": eid, "nik": "3273054504870001", "verdict": verdict,
            "person_id": person, "matches": [], "reasons": []}


def test_scrambled_repeated_decisions_give_ordered_idempotent_revisions(ns):
    s = ns.settings
    rng = random.Random(7)
    ids = [f"E{i:04d}" for i in range(40)]
    # per key: a sequence of decisions, each state repeated 1-3 times (redeliveries)
    plans = {}
    for eid in ids:
        states = [("UNIQUE", eid)]
        if rng.random() < 0.6:
            states.append(("RECAPTURE", "E9999"))
        if rng.random() < 0.3:
            states.append(("REVIEW", "E9999"))
        plans[eid] = [st for st in states for _ in range(rng.randint(1, 3))]
    # scramble across keys, keep each key's own order (one writer per key upstream)
    queues = {eid: list(p) for eid, p in plans.items()}
    records = []
    while queues:
        eid = rng.choice(sorted(queues))
        verdict, person = queues[eid].pop(0)
        records.append((eid.encode(), orjson.dumps(decision(eid, verdict, person))))
        if not queues[eid]:
            del queues[eid]
    ns.start_worker()
    produce(s.bootstrap, f"{s.app_id}-decisions", records, s)
    distinct = {eid: [k for i, k in enumerate(p) if i == 0 or p[i - 1] != k] for eid, p in plans.items()}
    want = sum(len(v) for v in distinct.values())
    got = read_topic(s.bootstrap, s.topics.verdicts, timeout=120, settle=3,
                     done=lambda r: len(r) >= want)
    assert len(got) == want, ns.worker_logs()
    seen: dict[str, list[dict]] = {}
    for r in got:
        v = orjson.loads(r.value)
        seen.setdefault(v["enrollment_id"], []).append(v)
    for eid, vs in seen.items():
        assert [v["revision"] for v in vs] == list(range(1, len(vs) + 1))
        assert [(v["verdict"], v["person_id"]) for v in vs] == distinct[eid]
