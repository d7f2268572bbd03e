"""Topic administration: declare the contract topics with the configured partition counts.

Producers (stations, ``tunggal produce``) may run before any worker; declaring topics first keeps
the broker from auto-creating them with one partition.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from streams.errors import BrokerError
from streams.settings import Settings

log = logging.getLogger("tunggal.admin")

#: How long to wait for a newly created topic's partitions to show in the metadata.
METADATA_WAIT_S = 15.0


def contract_topics(settings: Settings) -> list[NewTopic]:
    p, r = settings.partitions, settings.replication
    t = settings.topics
    compact = {"cleanup.policy": "compact"}
    return [
        NewTopic(t.enrollments, p, r),
        NewTopic(t.dlq, p, r),
        NewTopic(t.verdicts, p, r, topic_configs=compact),
        NewTopic(t.adjudications, p, r),
    ]


def internal_topics(settings: Settings) -> list[NewTopic]:
    """The engine's own stage topics (not the tables' changelogs, which faust declares)."""
    p, r = settings.partitions, settings.replication
    stages = ("keys", "candidates", "compare", "scores", "decisions", "reevaluate")
    return [NewTopic(f"{settings.app_id}-{name}", p, r) for name in stages] + [
        NewTopic(f"{settings.app_id}-resolve", 1, r)]


async def ensure_topics(settings: Settings) -> dict[str, int]:
    """Create missing contract and stage topics; return the contract topics' partition counts."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap, request_timeout_ms=15000)
    try:
        await admin.start()
    except KafkaConnectionError as exc:
        raise BrokerError(f"cannot reach Kafka at {settings.bootstrap}: {exc}. "
                          "Start one with `tunggal broker start` or set TUNGGAL_BROKER.") from None
    try:
        wanted = contract_topics(settings)
        existing = set(await admin.list_topics())
        missing = [t for t in wanted + internal_topics(settings) if t.name not in existing]
        if missing:
            try:
                await admin.create_topics(missing)
                log.info("created topics %s", ", ".join(t.name for t in missing))
            except TopicAlreadyExistsError:
                pass
        # A topic just created can be described with no partitions until its metadata has
        # propagated: ask again for a while rather than report a wrong count.
        deadline = asyncio.get_running_loop().time() + METADATA_WAIT_S
        while True:
            meta = await admin.describe_topics([t.name for t in wanted])
            counts = {m["topic"]: len(m["partitions"]) for m in meta}
            if all(counts.get(t.name, 0) > 0 for t in wanted):
                break
            if asyncio.get_running_loop().time() > deadline:
                raise BrokerError(f"topics have no partitions after {METADATA_WAIT_S:.0f} s: "
                                  f"{counts}")
            await asyncio.sleep(0.2)
    finally:
        await admin.close()
    for name, n in counts.items():
        if n != settings.partitions:
            log.warning("topic %s has %d partitions, settings say %d", name, n, settings.partitions)
    return counts
