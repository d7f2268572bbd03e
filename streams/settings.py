"""Deployment settings: one frozen object, read from the environment once at the entry point.

Nothing below the entry point reads ``os.environ``; the settings object is passed down. Algorithm
parameters (thresholds) are *not* settings: they live in ``streams.matching.thresholds`` and
changing them is a new engine version.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Mapping

from streams.errors import ConfigError

ENV_PREFIX = "TUNGGAL_"


@dataclass(frozen=True, slots=True)
class Topics:
    """Contract topic names (every name configurable)."""

    enrollments: str = "enrollments"
    dlq: str = "enrollments-dlq"
    verdicts: str = "verdicts"
    adjudications: str = "adjudications"


@dataclass(frozen=True, slots=True)
class Settings:
    """Where the engine runs and talks to. Build with :meth:`from_env`."""

    #: Bootstrap address of an external broker; ``None`` means the project's local broker.
    broker: str | None = None
    #: Port of the local broker started by ``tunggal broker start`` (ignored with ``broker``).
    broker_port: int = 9092
    broker_controller_port: int = 9093
    broker_dir: Path = Path(".tunggal/kafka")
    #: The faust application id: consumer group and prefix of internal topics.
    app_id: str = "tunggal"
    #: Partitions of the input topic and of every internal topic co-partitioned with it.
    partitions: int = 4
    replication: int = 1
    data_dir: Path = Path(".tunggal/worker")
    web_port: int = 6066
    web_host: str = "127.0.0.1"
    topic_enrollments: str = "enrollments"
    topic_dlq: str = "enrollments-dlq"
    topic_verdicts: str = "verdicts"
    topic_adjudications: str = "adjudications"
    log_level: str = "INFO"
    #: Seconds a worker may have lag without progress before it exits non-zero (0: never).
    stall_timeout: float = 300.0
    #: Seconds a partition's offset commit may be held by records that nothing processes before
    #: the worker reads them again (streams/stall.py CommitHoles).
    hole_patience: float = 30.0
    #: Seconds the group coordinator waits for a silent worker before handing its partitions
    #: to the others (a takeover after a crash takes about this long). Heartbeats go every 3 s
    #: from the worker's event loop, which never blocks for long (posting-list rebuilds yield).
    session_timeout: float = 20.0
    #: Prepared templates a worker keeps (LRU), so a gallery row is decoded once, not per probe.
    #: An entry holds ~20 KB (iris words, demographics), ~200 KB more once its fingers were
    #: indexed (rarely: see the cascade in streams/matching/fusion.py); lower it to bound memory.
    prepared_cache: int = 20_000
    #: Events an agent takes in one step at most, and seconds it waits for more once one is
    #: there. Under a backlog a step's output is one record per target partition, shared by many
    #: probes; caught up, each stage adds at most ``batch_wait`` to the latency.
    batch_size: int = 256
    batch_wait: float = 0.01
    #: Standby copies of every table partition kept warm by other workers (faust's standby
    #: replicas): a takeover then reads only the changelog's tail. Each costs every worker the
    #: changelog records of the partitions it stands by for; 0 trades takeover time (faust's
    #: replay of the taken partitions' changelogs, docs/operations.md) for that CPU.
    standby_replicas: int = 1

    @property
    def bootstrap(self) -> str:
        """The Kafka bootstrap address the clients use."""
        return self.broker or f"127.0.0.1:{self.broker_port}"

    @property
    def topics(self) -> Topics:
        return Topics(
            enrollments=self.topic_enrollments,
            dlq=self.topic_dlq,
            verdicts=self.topic_verdicts,
            adjudications=self.topic_adjudications,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Read ``TUNGGAL_<FIELD>`` variables (e.g. ``TUNGGAL_BROKER``, ``TUNGGAL_PARTITIONS``).

        Explicit ``overrides`` (from command-line options) win over the environment; ``None``
        overrides are ignored. Unknown ``TUNGGAL_`` variables are an error, so typos are caught.
        """
        env = os.environ if environ is None else environ
        known = {f.name: f for f in fields(cls)}
        values: dict[str, object] = {}
        for name, raw in env.items():
            if not name.startswith(ENV_PREFIX):
                continue
            field_name = name[len(ENV_PREFIX):].lower()
            if field_name not in known:
                raise ConfigError(f"unknown setting {name}; known: "
                                  + ", ".join(ENV_PREFIX + k.upper() for k in sorted(known)))
            values[field_name] = _coerce(field_name, raw, cls)
        for key, value in overrides.items():
            if value is None:
                continue
            if key not in known:
                raise ConfigError(f"unknown setting {key!r}")
            values[key] = _coerce(key, value, cls) if isinstance(value, str) else value
        settings = cls(**values)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def with_(self, **changes: object) -> Settings:
        new = replace(self, **changes)
        new.validate()
        return new

    def validate(self) -> None:
        if self.partitions < 1:
            raise ConfigError(f"TUNGGAL_PARTITIONS must be >= 1, got {self.partitions}")
        if self.stall_timeout < 0:
            raise ConfigError(f"TUNGGAL_STALL_TIMEOUT must be >= 0 seconds, got {self.stall_timeout}")
        if self.hole_patience <= 0:
            raise ConfigError(f"TUNGGAL_HOLE_PATIENCE must be > 0 seconds, got {self.hole_patience}")
        if self.prepared_cache < 1:
            raise ConfigError(f"TUNGGAL_PREPARED_CACHE must be >= 1, got {self.prepared_cache}")
        if self.batch_size < 1:
            raise ConfigError(f"TUNGGAL_BATCH_SIZE must be >= 1, got {self.batch_size}")
        if not 0.0 < self.batch_wait <= 1.0:
            raise ConfigError(f"TUNGGAL_BATCH_WAIT must be in (0, 1] seconds, got {self.batch_wait}")
        if self.standby_replicas < 0:
            raise ConfigError(f"TUNGGAL_STANDBY_REPLICAS must be >= 0, got {self.standby_replicas}")
        if not 10.0 <= self.session_timeout <= 300.0:
            raise ConfigError("TUNGGAL_SESSION_TIMEOUT must be between 10 and 300 seconds, got "
                              f"{self.session_timeout}")
        for port_name in ("broker_port", "broker_controller_port", "web_port"):
            port = getattr(self, port_name)
            if not 0 < port < 65536:
                raise ConfigError(f"TUNGGAL_{port_name.upper()} must be a TCP port, got {port}")
        if self.broker is not None and ":" not in self.broker:
            raise ConfigError(f"TUNGGAL_BROKER must be host:port[,host:port...], got {self.broker!r}")

    def describe(self) -> dict[str, str]:
        """Printable view (for logs). Nothing secret is held today; mask here when there is."""
        return {k: str(v) for k, v in asdict(self).items()}


def _coerce(name: str, raw: object, cls: type) -> object:
    default = getattr(cls(), name)  # the defaults tell the type
    text = str(raw).strip()
    try:
        if isinstance(default, bool):
            return text.lower() in {"1", "true", "yes", "on"}
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
        if isinstance(default, Path):
            return Path(text)
    except ValueError as exc:
        raise ConfigError(f"TUNGGAL_{name.upper()}: {text!r} is not a valid {type(default).__name__}") from exc
    if name == "broker" and text == "":
        return None
    return text
