"""Start, stop, inspect and wipe the project's own single-node Apache Kafka broker.

``start`` resolves the official Kafka jars from Maven Central once (see ``classpath``), writes
``server.properties`` into the data dir, formats the KRaft storage the first time, launches
``java -cp 'libs/*' kafka.Kafka server.properties`` detached in its own session (stdout and stderr
to ``broker.log``), writes ``broker.pid`` and returns once the broker answers a Metadata request.
``stop`` sends SIGTERM (Kafka's controlled shutdown) and escalates to SIGKILL after a grace period.

The data dir is disposable: it holds only generated configuration, the pid file, the broker log
and Kafka's own log dir. ``reset`` deletes it (refusing while the broker runs, and refusing dirs
that were not written by us); deleting the folder by hand after ``stop`` is equally fine.

Deployment choices (where a broker lives) are read from the environment by the CLI only; these
functions take parameters. ``ensure_broker(bootstrap)`` starts nothing when a bootstrap address is
given (TUNGGAL_BROKER).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from streams.broker import process
from streams.broker.classpath import file_lock, resolve_classpath
from streams.broker.config import (
    DEFAULT_CONTROLLER_PORT,
    DEFAULT_HOST,
    DEFAULT_NUM_PARTITIONS,
    DEFAULT_PORT,
    HEADER,
    KAFKA_VERSION,
    BrokerConfig,
    is_formatted,
    new_cluster_id,
    parse_properties,
    ports_from_properties,
    render_server_properties,
)
from streams.broker.probe import ProbeError, probe
from streams.errors import BrokerError

log = logging.getLogger("tunggal.broker")

#: The advisory lock that serialises concurrent ``start`` calls on one data dir.
LOCK_FILE = ".lock"

#: Where the broker keeps its data unless told otherwise.
DEFAULT_DATA_DIR = Path.home() / ".local" / "share" / "tunggal" / "broker"

#: Seconds to wait, after launching the JVM, for the broker to answer Metadata requests.
START_TIMEOUT_S = 90.0

#: Seconds of controlled shutdown allowed before SIGKILL.
STOP_TIMEOUT_S = 30.0

#: Seconds for the one-off ``StorageTool format`` run.
FORMAT_TIMEOUT_S = 120.0

#: Delay between readiness probes while the broker starts.
READY_POLL_S = 0.2

#: Lines of the broker log quoted in an error.
LOG_TAIL_LINES = 40

#: JVM options of the broker: a modest heap and the serial collector, which starts faster and needs
#: less memory than G1 on a single-node development broker (see benchmarks/broker_start.py).
BROKER_JVM_OPTS: tuple[str, ...] = (
    "-Xms256m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
    "-Dorg.slf4j.simpleLogger.showDateTime=true",
    "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSS",
)

#: BROKER_JVM_OPTS with the JIT limited to C1: the JVM needs ~40 % less CPU to become ready
#: (3.7 s instead of 6.1 s measured by benchmarks/broker_start.py) at the price of slower
#: steady-state code, so it suits tests and demos, not throughput measurements.
FAST_START_JVM_OPTS: tuple[str, ...] = (*BROKER_JVM_OPTS, "-XX:TieredStopAtLevel=1")

#: JVM options of the short-lived storage formatter: C1 only, since it runs for about a second.
FORMAT_JVM_OPTS: tuple[str, ...] = ("-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")


@dataclass(frozen=True, slots=True)
class BrokerInfo:
    """The result of ``start``: where the broker is and whether this call started it."""

    bootstrap: str
    pid: int
    port: int
    controller_port: int
    data_dir: Path
    log_path: Path
    started: bool  # False when a broker was already running in data_dir
    elapsed_s: float  # wall time of this call


@dataclass(frozen=True, slots=True)
class BrokerStatus:
    """The result of ``status``; ``stale_pid``: a pid file entry that no longer names our broker."""

    running: bool
    ready: bool  # running and answering Metadata requests
    pid: int | None
    host: str | None
    port: int | None
    controller_port: int | None
    uptime_s: float | None
    data_dir: Path
    log_path: Path
    stale_pid: int | None = None

    def describe(self) -> str:
        """One human line, for the CLI."""
        if not self.running:
            stale = f" (stale pid file for {self.stale_pid})" if self.stale_pid else ""
            return f"broker stopped{stale}; data dir {self.data_dir}"
        state = "ready" if self.ready else "starting or unresponsive"
        return (
            f"broker running ({state}) pid {self.pid} on {self.host}:{self.port}, "
            f"up {self.uptime_s:.0f} s; data dir {self.data_dir}; log {self.log_path}"
        )


def _paths(data_dir: Path) -> BrokerConfig:
    """A config used only for its paths (ports are irrelevant to them)."""
    return BrokerConfig(data_dir=Path(data_dir).expanduser().absolute())


def _inspect(config: BrokerConfig) -> tuple[int | None, int | None]:
    """``(pid of our running broker, stale pid)`` from the pid file; reads only."""
    pid = process.read_pid(config.pid_path)
    if pid is None:
        return None, None
    if process.is_broker_process(pid, config.properties_path):
        return pid, None
    return None, pid


def _running_pid(config: BrokerConfig) -> int | None:
    """The pid of our running broker; a stale pid file is removed with a warning."""
    pid, stale = _inspect(config)
    if stale is not None:
        log.warning(
            "removing stale pid file %s (pid %d is not a running broker)", config.pid_path, stale
        )
        process.remove_pid(config.pid_path)
    return pid


def _recorded_ports(config: BrokerConfig) -> tuple[str, int, int] | None:
    try:
        return ports_from_properties(config.properties_path.read_text(encoding="utf-8"))
    except OSError:
        return None


def _check_ports_free(config: BrokerConfig) -> None:
    for name, port in (("client", config.port), ("controller", config.controller_port)):
        if process.port_in_use(config.host, port):
            raise BrokerError(
                f"{name} port {config.host}:{port} is already in use by another process (no "
                f"broker of ours runs in {config.data_dir}); stop that process, choose other "
                "ports, or set TUNGGAL_BROKER to use the broker that is already there"
            )


def _format_storage(config: BrokerConfig, java: str, libs: Path) -> str:
    """Run ``kafka.tools.StorageTool format`` with a fresh cluster id; return the id."""
    cluster_id = new_cluster_id()
    log.info("formatting KRaft storage in %s (cluster id %s)", config.log_dir, cluster_id)
    command = [java, *FORMAT_JVM_OPTS, "-cp", str(libs / "*"), "kafka.tools.StorageTool", "format",
               "-t", cluster_id, "-c", str(config.properties_path)]  # fmt: skip
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=FORMAT_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        message = f"Kafka StorageTool format did not finish in {FORMAT_TIMEOUT_S:.0f} s"
        raise BrokerError(message) from exc
    if done.returncode != 0 or not is_formatted(config):
        output = "\n".join((done.stdout + done.stderr).rstrip().splitlines()[-LOG_TAIL_LINES:])
        raise BrokerError(f"Kafka StorageTool format failed (exit {done.returncode}):\n{output}")
    return cluster_id


def _cluster_id(config: BrokerConfig) -> str | None:
    try:
        text = (config.log_dir / "meta.properties").read_text(encoding="utf-8")
    except OSError:
        return None
    return parse_properties(text).get("cluster.id")


def _launch(config: BrokerConfig, java: str, libs: Path, jvm_opts: tuple[str, ...]) -> int:
    """Start the broker JVM detached in a new session; return its pid."""
    log_path = config.broker_log_path
    if log_path.exists():
        os.replace(log_path, log_path.with_name(log_path.name + ".1"))
    command = [java, *jvm_opts, f"-Dkafka.logs.dir={config.data_dir}", "-cp", str(libs / "*"),
               "kafka.Kafka", str(config.properties_path.resolve())]  # fmt: skip
    with open(log_path, "wb") as out:
        child = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=config.data_dir,
            start_new_session=True,
        )
    process.write_pid(config.pid_path, child.pid)
    return child.pid


def _wait_ready(config: BrokerConfig, pid: int, cluster_id: str | None, timeout: float) -> None:
    """Poll until our broker lists itself in a Metadata response; raise with the log tail."""
    deadline = time.monotonic() + timeout
    while True:
        if not process.is_alive(pid):
            raise _failed(config, f"the broker process {pid} exited during start-up")
        try:
            view = probe(config.host, config.port, timeout=min(2.0, timeout))
        except (OSError, ProbeError):
            view = None
        if view is not None and (cluster_id is None or view.cluster_id == cluster_id):
            return
        if time.monotonic() >= deadline:
            _kill(config, pid, grace=5.0)
            reason = f"the broker did not answer on {config.bootstrap} within {timeout:.0f} s"
            raise _failed(config, reason)
        time.sleep(READY_POLL_S)


def _failed(config: BrokerConfig, reason: str) -> BrokerError:
    process.remove_pid(config.pid_path)
    tail = process.read_tail(config.broker_log_path, LOG_TAIL_LINES)
    return BrokerError(f"{reason}; last lines of {config.broker_log_path}:\n{tail}")


def _kill(config: BrokerConfig, pid: int, grace: float) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; removes the pid file."""
    process.send_signal(pid, signal.SIGTERM)
    if not process.wait_for_exit(pid, grace):
        log.warning("broker pid %d did not stop within %.1f s; sending SIGKILL", pid, grace)
        process.send_signal(pid, signal.SIGKILL)
        process.wait_for_exit(pid, 5.0)
    process.remove_pid(config.pid_path)


def start(
    port: int = DEFAULT_PORT,
    controller_port: int = DEFAULT_CONTROLLER_PORT,
    data_dir: Path = DEFAULT_DATA_DIR,
    *,
    timeout: float = START_TIMEOUT_S,
    host: str = DEFAULT_HOST,
    cache_dir: Path | None = None,
    version: str = KAFKA_VERSION,
    java: str = "java",
    mvn: str = "mvn",
    jvm_opts: tuple[str, ...] = BROKER_JVM_OPTS,
    num_partitions: int = DEFAULT_NUM_PARTITIONS,
    auto_create_topics: bool = True,
) -> BrokerInfo:
    """Start the local broker in ``data_dir`` and return once it serves Metadata requests.

    A no-op (``started=False``) when our broker already runs in ``data_dir``. ``timeout`` bounds the
    wait after the JVM is launched; Maven resolution has its own bound. Raises BrokerError.
    """
    began = time.monotonic()
    config = BrokerConfig(
        data_dir=Path(data_dir).expanduser().absolute(),
        port=port,
        controller_port=controller_port,
        host=host,
        num_partitions=num_partitions,
        auto_create_topics=auto_create_topics,
    )
    config.data_dir.mkdir(parents=True, exist_ok=True)
    with file_lock(config.data_dir / LOCK_FILE):
        pid = _running_pid(config)
        if pid is not None:
            return _already_running(config, pid, began)
        _check_ports_free(config)
        java_path = process.find_java(java)
        libs = resolve_classpath(cache_dir, version=version, mvn=mvn)
        config.properties_path.write_text(render_server_properties(config), encoding="utf-8")
        fresh = not is_formatted(config)
        cluster_id = _format_storage(config, java_path, libs) if fresh else _cluster_id(config)
        pid = _launch(config, java_path, libs, jvm_opts)
        log.info("starting Kafka %s broker (pid %d) on %s ...", version, pid, config.bootstrap)
        _wait_ready(config, pid, cluster_id, timeout)
    elapsed = time.monotonic() - began
    log.info(
        "broker up on %s in %.1f s (log: %s)", config.bootstrap, elapsed, config.broker_log_path
    )
    return BrokerInfo(config.bootstrap, pid, config.port, config.controller_port,
                      config.data_dir, config.broker_log_path, True, elapsed)  # fmt: skip


def _already_running(config: BrokerConfig, pid: int, began: float) -> BrokerInfo:
    requested = (config.host, config.port, config.controller_port)
    host, port, cport = _recorded_ports(config) or requested
    log.info("broker already running (pid %d) on %s:%d; nothing to start", pid, host, port)
    if (host, port, cport) != requested:
        log.warning(
            "the running broker uses %s:%d (controller %d), not the requested %s:%d (controller "
            "%d); stop it first to change ports",
            host, port, cport, config.host, config.port, config.controller_port,
        )  # fmt: skip
    return BrokerInfo(f"{host}:{port}", pid, port, cport, config.data_dir,
                      config.broker_log_path, False, time.monotonic() - began)  # fmt: skip


def stop(data_dir: Path = DEFAULT_DATA_DIR, *, timeout: float = STOP_TIMEOUT_S) -> bool:
    """Stop the broker of ``data_dir``: SIGTERM, then SIGKILL after ``timeout`` s with a warning.

    Returns True if a broker was running and is now stopped, False if none was running (a stale
    pid file is removed either way).
    """
    config = _paths(data_dir)
    pid = _running_pid(config)
    if pid is None:
        log.info("no broker running in %s", config.data_dir)
        return False
    log.info("stopping broker pid %d (controlled shutdown) ...", pid)
    began = time.monotonic()
    _kill(config, pid, grace=timeout)
    log.info("broker stopped in %.1f s", time.monotonic() - began)
    return True


def status(data_dir: Path = DEFAULT_DATA_DIR) -> BrokerStatus:
    """Whether the broker of ``data_dir`` runs, with its pid, address and uptime. Reads only."""
    config = _paths(data_dir)
    pid, stale = _inspect(config)
    recorded = _recorded_ports(config)
    host, port, cport = recorded if recorded else (None, None, None)
    uptime = ready = None
    if pid is not None:
        try:
            uptime = time.time() - config.pid_path.stat().st_mtime
        except OSError:
            uptime = None
        ready = host is not None and port is not None and _answers(host, port)
    return BrokerStatus(
        running=pid is not None,
        ready=bool(ready),
        pid=pid,
        host=host,
        port=port,
        controller_port=cport,
        uptime_s=uptime,
        data_dir=config.data_dir,
        log_path=config.broker_log_path,
        stale_pid=stale,
    )


def _answers(host: str, port: int) -> bool:
    try:
        probe(host, port, timeout=2.0)
    except (OSError, ProbeError):
        return False
    return True


def reset(data_dir: Path = DEFAULT_DATA_DIR) -> bool:
    """Delete the broker's data dir (all topics and offsets). Returns False if there was none.

    Refuses while the broker runs, and refuses a folder whose ``server.properties`` was not
    written by us, so a mistyped path cannot wipe unrelated data.
    """
    config = _paths(data_dir)
    if not config.data_dir.exists():
        return False
    if _running_pid(config) is not None:
        raise BrokerError(f"the broker in {config.data_dir} is running; stop it before reset")
    try:
        ours = config.properties_path.read_text(encoding="utf-8").startswith(HEADER)
    except OSError:  # a start that failed before writing the file leaves only its lock
        ours = {p.name for p in config.data_dir.iterdir()} <= {LOCK_FILE}
    if not ours:
        raise BrokerError(
            f"{config.data_dir} does not look like a Tunggal broker data dir; not deleting it"
        )
    shutil.rmtree(config.data_dir)
    log.info("deleted broker data dir %s", config.data_dir)
    return True


def ensure_broker(bootstrap: str | None, **start_kwargs: object) -> str:
    """The bootstrap address to use: ``bootstrap`` as given, else the local broker's (started).

    The CLI passes TUNGGAL_BROKER as ``bootstrap``; when it names a broker nothing is started.
    ``start_kwargs`` go to ``start`` (port, data_dir, ...).
    """
    if bootstrap:
        log.info("using the broker at %s; not starting a local one", bootstrap)
        return bootstrap
    return start(**start_kwargs).bootstrap  # type: ignore[arg-type]
