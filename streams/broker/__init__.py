"""The project's own single-node Apache Kafka broker (KRaft), fetched from Maven Central.

``start`` / ``stop`` / ``status`` / ``reset`` manage a broker whose data lives in one disposable
folder; ``ensure_broker`` returns a bootstrap address, starting the local broker only when no
external one is named. Nothing here imports faust, aiokafka or mode.
"""

from streams.broker.config import KAFKA_VERSION, BrokerConfig, render_server_properties
from streams.broker.local import (
    BROKER_JVM_OPTS,
    DEFAULT_DATA_DIR,
    FAST_START_JVM_OPTS,
    BrokerInfo,
    BrokerStatus,
    ensure_broker,
    reset,
    start,
    status,
    stop,
)

__all__ = [
    "BROKER_JVM_OPTS",
    "FAST_START_JVM_OPTS",
    "DEFAULT_DATA_DIR",
    "KAFKA_VERSION",
    "BrokerConfig",
    "BrokerInfo",
    "BrokerStatus",
    "ensure_broker",
    "render_server_properties",
    "reset",
    "start",
    "status",
    "stop",
]
