"""Fault injection for the integration tests; never set in production.

``FAILPOINT_DROP_RECORDS="topic:partition:offset,..."`` makes a worker drop each named record
once between its consumer and its streams: the record is read (faust's read offset passes it)
but no stream ever sees it, which is what faust's seek and flow-control races do to a record
(streams/app/flow.py, streams/stall.py ``CommitHoles``). The tests use it to show that such a
record is read again and decided, not lost and not left holding the partition's commit.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Mapping

log = logging.getLogger("tunggal.failpoints")

ENV = "FAILPOINT_DROP_RECORDS"


def parse(spec: str) -> set[tuple[str, int, int]]:
    """``"t:1:5,t:1:6"`` -> {("t", 1, 5), ("t", 1, 6)}."""
    out = set()
    for item in filter(None, (x.strip() for x in spec.split(","))):
        topic, partition, offset = item.rsplit(":", 2)
        out.add((topic, int(partition), int(offset)))
    return out


def install(app: Any, env: Mapping[str, str] = os.environ) -> set[tuple[str, int, int]]:
    """Arm the drops named in ``env``; answers the records still to drop (the empty set: off)."""
    spec = env.get(ENV, "")
    if not spec:
        return set()
    targets = parse(spec)
    conductor = app.topics
    deliver = conductor.on_message

    async def on_message(message: Any) -> Any:
        key = (message.topic, message.partition, message.offset)
        if key in targets:
            targets.discard(key)
            log.warning("failpoint: dropped %s[%d]@%d before any stream saw it", *key)
            return None
        return await deliver(message)

    conductor.on_message = on_message  # the consumer takes its callback from here when created
    log.warning("failpoint armed: %s will drop %s", ENV, sorted(targets))
    return targets
