"""A throwaway local broker for benchmarks (unless TUNGGAL_BROKER names one)."""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path
from typing import Iterator


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def throwaway_broker(work: Path) -> Iterator[str]:
    """Yield a bootstrap address: TUNGGAL_BROKER's, or a fresh broker's in ``work/kafka``."""
    bootstrap = os.environ.get("TUNGGAL_BROKER")
    if bootstrap:
        yield bootstrap
        return
    from streams.broker import local

    data_dir = work / "kafka"
    info = local.start(port=free_port(), controller_port=free_port(), data_dir=data_dir)
    try:
        yield info.bootstrap
    finally:
        local.stop(data_dir)
