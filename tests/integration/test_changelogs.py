"""The tables' changelog topics, as a worker declares them on the real broker: compacted, with
segments that close soon enough for the cleaner to keep them near their live rows."""

from __future__ import annotations

import asyncio

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from streams.app.engine import CHANGELOG_CONFIGS, TRANSIENT_CHANGELOG_CONFIGS
from tests.integration.harness import Namespace, wait_for_group


async def _configs(bootstrap: str, topics: list[str]) -> dict[str, dict[str, str]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        answers = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, t) for t in topics])
    finally:
        await admin.close()
    out: dict[str, dict[str, str]] = {}
    for answer in answers:
        for _err, _msg, _type, name, entries in answer.resources:
            out[name] = {e[0]: e[1] for e in entries}
    return out


def test_changelogs_are_compacted_and_pending_rows_are_cleaned_eagerly(ns: Namespace) -> None:
    ns.start_worker()
    wait_for_group(ns, 1)
    app = ns.settings.app_id
    names = {t: f"{app}-{t}-changelog" for t in ("pending", "gallery", "index-rows", "edges")}
    got = asyncio.run(_configs(ns.bootstrap, list(names.values())))
    for table, topic in names.items():
        assert got[topic]["cleanup.policy"] == "compact", (topic, got[topic])
        want = TRANSIENT_CHANGELOG_CONFIGS if table == "pending" else CHANGELOG_CONFIGS
        for key, value in want.items():
            assert got[topic][key] == value, (topic, key, got[topic][key])
