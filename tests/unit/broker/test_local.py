"""Unit tests of the local broker that need no JVM: configuration, pid files, ports, Maven
caching, the wire-protocol probe and the process lifecycle (against stand-in processes)."""

from __future__ import annotations

import base64
import logging
import os
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from streams.broker import classpath, local, probe, process
from streams.broker.config import (
    HEADER,
    BrokerConfig,
    is_formatted,
    new_cluster_id,
    parse_properties,
    ports_from_properties,
    render_server_properties,
)
from streams.errors import BrokerError, ConfigError


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_config(tmp_path: Path, **overrides) -> BrokerConfig:
    values = {"data_dir": tmp_path, "port": 19092, "controller_port": 19093} | overrides
    return BrokerConfig(**values)


# --- configuration ------------------------------------------------------------------------------


def test_rendered_properties_hold_the_single_node_settings(tmp_path: Path) -> None:
    text = render_server_properties(make_config(tmp_path, port=19192, controller_port=19193))
    assert text.splitlines()[0] == HEADER
    props = parse_properties(text)
    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19192,CONTROLLER://127.0.0.1:19193"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19192"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19193"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert props["listener.security.protocol.map"] == "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    assert Path(props["log.dirs"]) == (tmp_path / "kraft-logs").resolve()
    for key in ("offsets.topic.replication.factor", "offsets.topic.num.partitions",
                "transaction.state.log.replication.factor", "transaction.state.log.min.isr",
                "transaction.state.log.num.partitions", "num.partitions"):  # fmt: skip
        assert props[key] == "1", key
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert props["auto.create.topics.enable"] == "true"
    assert int(props["broker.heartbeat.interval.ms"]) < int(props["broker.session.timeout.ms"])


def test_auto_create_and_partitions_are_parameters(tmp_path: Path) -> None:
    props = parse_properties(
        render_server_properties(make_config(tmp_path, auto_create_topics=False, num_partitions=4))
    )
    assert props["auto.create.topics.enable"] == "false"
    assert props["num.partitions"] == "4"


def test_ports_read_back_from_rendered_file(tmp_path: Path) -> None:
    text = render_server_properties(make_config(tmp_path, port=29092, controller_port=29093))
    assert ports_from_properties(text) == ("127.0.0.1", 29092, 29093)
    assert ports_from_properties("# nothing\n") is None


@pytest.mark.parametrize("ports", [(9092, 9092), (0, 9093), (9092, 70000)])
def test_bad_ports_are_refused(tmp_path: Path, ports: tuple[int, int]) -> None:
    with pytest.raises(ConfigError):
        BrokerConfig(data_dir=tmp_path, port=ports[0], controller_port=ports[1])


def test_cluster_id_is_16_random_bytes_base64url_unpadded() -> None:
    ids = {new_cluster_id() for _ in range(50)}
    assert len(ids) == 50
    for cid in ids:
        assert len(cid) == 22 and "=" not in cid
        assert set(cid) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        assert len(base64.urlsafe_b64decode(cid + "==")) == 16


def test_is_formatted_looks_for_meta_properties(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    assert not is_formatted(config)
    config.log_dir.mkdir()
    (config.log_dir / "meta.properties").write_text("cluster.id=x\n")
    assert is_formatted(config)


# --- pid files and process identity -------------------------------------------------------------


def test_pid_file_round_trip_and_garbage(tmp_path: Path) -> None:
    path = tmp_path / "broker.pid"
    assert process.read_pid(path) is None
    process.write_pid(path, 4242)
    assert process.read_pid(path) == 4242
    for junk in ("", "abc", "-5", "0", "12 34"):
        path.write_text(junk)
        assert process.read_pid(path) is None, junk
    process.remove_pid(path)
    process.remove_pid(path)  # idempotent
    assert not path.exists()


@pytest.fixture
def spawn():
    """Start stand-in processes; every one still alive is killed (by pid) at teardown."""
    children: list[subprocess.Popen] = []

    def run(*args: str, code: str = "import time; time.sleep(60)") -> subprocess.Popen:
        child = subprocess.Popen([sys.executable, "-c", code, *args])
        children.append(child)
        return child

    yield run
    for child in children:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()


def fake_broker(spawn, config: BrokerConfig, code: str = "import time; time.sleep(60)"):
    """A process whose command line looks like our broker's; its pid goes into the pid file."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    config.properties_path.write_text(render_server_properties(config))
    child = spawn("kafka.Kafka", str(config.properties_path.resolve()), code=code)
    process.write_pid(config.pid_path, child.pid)
    return child


def wait_started(child: subprocess.Popen) -> None:
    """Wait until the child has exec'd python, so /proc shows its final command line."""
    for _ in range(200):
        if "kafka.Kafka" in (process.command_line(child.pid) or ""):
            return
        threading.Event().wait(0.01)
    raise AssertionError("stand-in process did not start")


def test_dead_pid_is_stale(tmp_path: Path, spawn) -> None:
    config = make_config(tmp_path)
    child = fake_broker(spawn, config, code="pass")
    child.wait()
    assert not process.is_alive(child.pid)
    status = local.status(tmp_path)
    assert not status.running and status.stale_pid == child.pid
    assert config.pid_path.exists(), "status must only read"
    assert local.stop(tmp_path) is False
    assert not config.pid_path.exists(), "stop removes a stale pid file"


def test_live_process_that_is_not_our_broker_is_stale(tmp_path: Path, spawn) -> None:
    config = make_config(tmp_path)
    config.properties_path.write_text(render_server_properties(config))
    other = spawn("kafka.Kafka", "/elsewhere/server.properties")
    process.write_pid(config.pid_path, other.pid)
    wait_started(other)
    assert process.is_alive(other.pid)
    assert not process.is_broker_process(other.pid, config.properties_path)
    assert local.status(tmp_path).stale_pid == other.pid
    assert local.stop(tmp_path) is False
    assert other.poll() is None, "a stale pid must never be signalled"


def test_running_broker_makes_start_a_no_op_and_stop_terminates_it(tmp_path: Path, spawn) -> None:
    config = make_config(tmp_path, port=free_port(), controller_port=free_port())
    child = fake_broker(spawn, config)
    wait_started(child)
    status = local.status(tmp_path)
    assert status.running and status.pid == child.pid and status.port == config.port
    assert not status.ready, "a stand-in answers no Kafka requests"
    assert "running" in status.describe()
    info = local.start(config.port, config.controller_port, tmp_path, java="/nonexistent/java")
    assert not info.started and info.pid == child.pid and info.bootstrap == config.bootstrap
    assert local.stop(tmp_path, timeout=10) is True
    assert not process.is_alive(child.pid)  # (stop reaps its child, so no exit status to read)
    assert not config.pid_path.exists()
    assert not local.status(tmp_path).running


def test_stop_escalates_to_sigkill(tmp_path: Path, spawn, caplog) -> None:
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    config = make_config(tmp_path)
    child = fake_broker(spawn, config, code=stubborn)
    wait_started(child)
    threading.Event().wait(0.2)  # let it install the handler
    with caplog.at_level(logging.WARNING, logger="tunggal.broker"):
        assert local.stop(tmp_path, timeout=0.5) is True
    assert not process.is_alive(child.pid)
    assert "SIGKILL" in caplog.text


# --- ports, java --------------------------------------------------------------------------------


def test_port_in_use_detects_a_listener() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert process.port_in_use("127.0.0.1", port)
    assert not process.port_in_use("127.0.0.1", port)


def test_start_refuses_a_port_held_by_someone_else(tmp_path: Path) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        with pytest.raises(BrokerError, match=f"client port 127.0.0.1:{port} is already in use"):
            local.start(port, free_port(), tmp_path / "data")
    assert not (tmp_path / "data" / "broker.pid").exists()


def test_missing_java_is_a_broker_error(tmp_path: Path) -> None:
    with pytest.raises(BrokerError, match="Java .* not on PATH"):
        process.find_java(str(tmp_path / "no-java"))


@pytest.mark.parametrize(
    ("output", "major"),
    [('openjdk version "17.0.15" 2025-04-15', 17), ('java version "1.8.0_392"', 8),
     ('openjdk version "21" 2023-09-19', 21), ("garbage", None)],
)  # fmt: skip
def test_java_major_version(output: str, major: int | None) -> None:
    assert process.java_major_version(output) == major


def test_read_tail(tmp_path: Path) -> None:
    log = tmp_path / "broker.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert process.read_tail(log, 3) == "line 97\nline 98\nline 99"
    assert "no log" in process.read_tail(tmp_path / "missing.log", 3)


# --- Maven classpath cache ----------------------------------------------------------------------


def fake_mvn(tmp_path: Path, body: str) -> str:
    """An executable standing in for mvn; ``body`` is Python run with ``out`` = the output dir."""
    script = tmp_path / "mvn"
    script.write_text(f"#!{sys.executable}\n" + textwrap.dedent("""\
        import sys
        from pathlib import Path
        out = Path([a for a in sys.argv if a.startswith("-DoutputDirectory=")][0].split("=", 1)[1])
    """) + textwrap.dedent(body))  # fmt: skip
    script.chmod(0o755)
    return str(script)


def test_maven_runs_once_and_writes_the_marker_last(tmp_path: Path) -> None:
    counter = tmp_path / "calls"
    mvn = fake_mvn(tmp_path, f"""
        out.mkdir(parents=True)
        for name in ("a.jar", "b.jar"):
            (out / name).write_bytes(b"PK")
        with open({str(counter)!r}, "a") as f:
            f.write("x")
    """)
    libs = tmp_path / "cache" / "libs"
    assert classpath.resolve_classpath(libs, mvn=mvn) == libs
    assert (libs / classpath.MARKER_FILE).read_text().split() == ["a.jar", "b.jar"]
    assert classpath.resolve_classpath(libs, mvn=mvn) == libs
    assert counter.read_text() == "x", "the second call must not run Maven"
    (libs / "b.jar").unlink()  # an incomplete cache is resolved again
    classpath.resolve_classpath(libs, mvn=mvn)
    assert counter.read_text() == "xx" and (libs / "b.jar").exists()


def test_complete_cache_needs_no_maven(tmp_path: Path) -> None:
    libs = tmp_path / "libs"
    libs.mkdir()
    (libs / "k.jar").write_bytes(b"PK")
    (libs / classpath.MARKER_FILE).write_text("k.jar\n")
    assert classpath.resolve_classpath(libs, mvn=str(tmp_path / "no-mvn")) == libs


def test_missing_maven_is_a_broker_error(tmp_path: Path) -> None:
    with pytest.raises(BrokerError, match="Maven .* not on PATH"):
        classpath.resolve_classpath(tmp_path / "libs", mvn=str(tmp_path / "no-mvn"))


def test_failed_maven_reports_its_output_tail(tmp_path: Path) -> None:
    mvn = fake_mvn(tmp_path, """
        print("\\n".join(f"noise {i}" for i in range(100)))
        print("[ERROR] Could not resolve dependencies for kafka_2.13")
        sys.exit(1)
    """)
    with pytest.raises(BrokerError, match="exit code 1") as caught:
        classpath.resolve_classpath(tmp_path / "libs", mvn=mvn)
    message = str(caught.value)
    assert "Could not resolve dependencies" in message and "noise 10\n" not in message
    assert not classpath.is_complete(tmp_path / "libs")


def test_maven_command_targets_the_packaged_pom(tmp_path: Path) -> None:
    command = classpath.maven_command("mvn", tmp_path, "4.0.2")
    assert classpath.POM_PATH.is_file()
    assert "dependency:copy-dependencies" in command and "-Dkafka.version=4.0.2" in command
    assert f"-DoutputDirectory={tmp_path}" in command


# --- the wire-protocol probe --------------------------------------------------------------------


def kafka_string(text: str | None) -> bytes:
    if text is None:
        return struct.pack(">h", -1)
    return struct.pack(">h", len(text)) + text.encode()


def api_versions_body(metadata_range: tuple[int, int]) -> bytes:
    keys = [(0, 3, 12), (3, *metadata_range), (18, 0, 4)]
    return struct.pack(">hi", 0, len(keys)) + b"".join(struct.pack(">hhh", *k) for k in keys)


def metadata_body(brokers: list[tuple[int, str, int]], cluster_id: str) -> bytes:
    body = struct.pack(">ii", 0, len(brokers))
    for node_id, host, port in brokers:
        body += struct.pack(">i", node_id) + kafka_string(host) + struct.pack(">i", port)
        body += kafka_string(None)
    return body + kafka_string(cluster_id) + struct.pack(">ii", 1, 0)


def serve(responses, seen: list[tuple[int, int]]) -> int:
    """A one-connection fake broker answering each request with the next body in ``responses``."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def run() -> None:
        conn, _ = server.accept()
        with conn, server:
            for body in responses:
                (size,) = struct.unpack(">i", conn.recv(4, socket.MSG_WAITALL))
                request = conn.recv(size, socket.MSG_WAITALL)
                api_key, version, correlation = struct.unpack_from(">hhi", request)
                seen.append((api_key, version))
                reply = struct.pack(">i", correlation) + body
                conn.sendall(struct.pack(">i", len(reply)) + reply)

    threading.Thread(target=run, daemon=True).start()
    return server.getsockname()[1]


def test_probe_reads_brokers_and_cluster_id() -> None:
    seen: list[tuple[int, int]] = []
    port = serve([api_versions_body((4, 12)), metadata_body([(1, "127.0.0.1", 9092)], "abc")], seen)
    view = probe.probe("127.0.0.1", port, timeout=5)
    assert view.brokers == ((1, "127.0.0.1", 9092),) and view.cluster_id == "abc"
    assert seen == [(probe.API_VERSIONS, 0), (probe.API_METADATA, 4)]


def test_probe_refuses_a_broker_listing_no_brokers() -> None:
    port = serve([api_versions_body((0, 12)), metadata_body([], "abc")], [])
    with pytest.raises(probe.ProbeError, match="no live brokers"):
        probe.probe("127.0.0.1", port, timeout=5)


def test_probe_refuses_unsupported_metadata_versions() -> None:
    port = serve([api_versions_body((9, 13))], [])
    with pytest.raises(probe.ProbeError, match="none of v4..v8"):
        probe.probe("127.0.0.1", port, timeout=5)


def test_probe_of_a_closed_port_is_not_ready() -> None:
    assert not probe.is_ready("127.0.0.1", free_port(), timeout=1)


def test_metadata_request_bytes() -> None:
    frame = probe.metadata_request(8, 7)
    client = probe.CLIENT_ID
    header = struct.pack(">hhih", 3, 8, 7, len(client)) + client
    body = struct.pack(">i", 0) + b"\x00" + b"\x00\x00"
    assert frame == struct.pack(">i", len(header) + len(body)) + header + body
    assert probe.metadata_request(4, 7).endswith(struct.pack(">i", 0) + b"\x00")


# --- reset and ensure_broker --------------------------------------------------------------------


def test_reset_deletes_only_our_stopped_data_dir(tmp_path: Path, spawn) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep")
    with pytest.raises(BrokerError, match="does not look like"):
        local.reset(foreign)
    assert (foreign / "precious.txt").exists()

    ours = tmp_path / "ours"
    config = make_config(ours)
    child = fake_broker(spawn, config)
    wait_started(child)
    with pytest.raises(BrokerError, match="stop it before reset"):
        local.reset(ours)
    local.stop(ours, timeout=10)
    assert local.reset(ours) is True and not ours.exists()
    assert local.reset(ours) is False


def test_ensure_broker_with_a_bootstrap_starts_nothing(tmp_path: Path) -> None:
    address = local.ensure_broker("kafka.example:9092", data_dir=tmp_path / "never")
    assert address == "kafka.example:9092"
    assert not (tmp_path / "never").exists()


def test_cluster_id_never_starts_with_a_dash():
    """The storage tool would parse '-...' as an option (a CI run failed on one in 64 starts)."""
    from streams.broker.config import new_cluster_id

    draws = iter([b"\xf8" + bytes(15), b"\x00" * 16])  # base64url of 0xf8... starts with '-'
    cid = new_cluster_id(lambda n: next(draws))
    assert cid == "A" * 22
    assert all(not new_cluster_id().startswith("-") for _ in range(2000))
