"""The local broker for real: Maven-resolved jars, a JVM, KRaft storage, the Kafka protocol.

Runs on kernel-chosen free ports so it never collides with a developer's broker on 9092, uses the
default jar cache (the first run ever resolves it with Maven), and stops every broker it starts.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from streams.broker import local, probe, process
from streams.errors import BrokerError

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def data_dir(tmp_path: Path):
    """A broker data dir whose broker, if still running at teardown, is stopped by its pid."""
    directory = tmp_path / "broker"
    yield directory
    local.stop(directory, timeout=10)


def test_start_status_restart_and_stop(data_dir: Path) -> None:
    port, cport = free_port(), free_port()
    info = local.start(port, cport, data_dir, jvm_opts=local.FAST_START_JVM_OPTS)
    assert info.started and info.bootstrap == f"127.0.0.1:{port}"
    view = probe.probe("127.0.0.1", port)
    assert [b[0] for b in view.brokers] == [1] and view.cluster_id

    state = local.status(data_dir)
    assert state.running and state.ready and state.pid == info.pid and state.port == port
    assert state.controller_port == cport and state.uptime_s is not None and state.uptime_s >= 0
    assert state.log_path.is_file() and state.log_path.stat().st_size > 0

    again = local.start(port, cport, data_dir)
    assert not again.started and again.pid == info.pid

    assert local.stop(data_dir) is True
    assert not process.is_alive(info.pid)
    assert not local.status(data_dir).running
    assert not process.port_in_use("127.0.0.1", port)
    assert local.stop(data_dir) is False

    # A stale pid file naming a live, unrelated process: ignored, never signalled.
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        (data_dir / "broker.pid").write_text(f"{stranger.pid}\n")
        assert local.status(data_dir).stale_pid == stranger.pid
        warm = local.start(port, cport, data_dir, jvm_opts=local.FAST_START_JVM_OPTS)
        assert warm.started and warm.pid != stranger.pid
        assert probe.probe("127.0.0.1", port).cluster_id == view.cluster_id, "same storage reused"
        assert stranger.poll() is None
        assert local.stop(data_dir) is True
        assert stranger.poll() is None
    finally:
        os.kill(stranger.pid, signal.SIGKILL)
        stranger.wait()

    assert local.reset(data_dir) is True and not data_dir.exists()


def test_failed_start_raises_with_the_broker_log_tail(data_dir: Path) -> None:
    bad_heap = (*local.BROKER_JVM_OPTS, "-Xmx1m")
    with pytest.raises(BrokerError, match="exited during start-up") as caught:
        local.start(free_port(), free_port(), data_dir, jvm_opts=bad_heap)
    assert "heap" in str(caught.value).lower(), "the JVM's own complaint is quoted"
    assert not (data_dir / "broker.pid").exists()
