"""Operating-system helpers for the local broker: pid files, process identity, ports, java.

A pid file is trusted only while its process is alive *and* is ``java ... kafka.Kafka`` started with
this data dir's ``server.properties``; anything else (process gone, a zombie, the pid reused by an
unrelated program) makes the pid file stale. POSIX only (Linux first; macOS through ``ps``).
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from streams.errors import BrokerError

#: Kafka 4.x brokers need Java 17 or later (REFERENCE.md section 9).
MIN_JAVA_MAJOR = 17

#: The main class every broker command line carries.
BROKER_MAIN_CLASS = "kafka.Kafka"

#: How often ``wait_for_exit`` looks at the process.
EXIT_POLL_S = 0.1


def read_pid(path: Path) -> int | None:
    """The pid stored in ``path``, or None if the file is missing or does not hold a pid."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() and int(text) > 0 else None


def write_pid(path: Path, pid: int) -> None:
    """Write ``pid`` atomically (temporary file, then rename)."""
    staging = path.with_name(path.name + ".tmp")
    staging.write_text(f"{pid}\n", encoding="ascii")
    os.replace(staging, path)


def remove_pid(path: Path) -> None:
    """Delete the pid file if present."""
    path.unlink(missing_ok=True)


def _reap(pid: int) -> None:
    """Collect ``pid`` if it is an exited child of ours, so it does not linger as a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def is_alive(pid: int) -> bool:
    """True while ``pid`` names a running (not zombie) process."""
    _reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return not _is_zombie(pid)


def command_line(pid: int) -> str | None:
    """The process's command line joined by spaces, or None if it cannot be read."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        return raw.replace(b"\x00", b" ").decode("utf-8", errors="replace").strip()
    except FileNotFoundError:
        if Path("/proc/self").exists():
            return None  # Linux and the process is gone
    except OSError:
        return None
    done = subprocess.run(  # no procfs (macOS)
        ["ps", "-ww", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or None


def is_broker_process(pid: int, properties_path: Path) -> bool:
    """True when ``pid`` is alive and runs ``kafka.Kafka`` with exactly this properties file."""
    if not is_alive(pid):
        return False
    cmdline = command_line(pid) or ""
    return BROKER_MAIN_CLASS in cmdline.split() and str(properties_path.resolve()) in cmdline


def wait_for_exit(pid: int, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for ``pid`` to end; True if it did."""
    deadline = time.monotonic() + timeout
    while is_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(EXIT_POLL_S)
    return True


def send_signal(pid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to ``pid``, ignoring a process that has already gone."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def port_in_use(host: str, port: int) -> bool:
    """True when something already listens on (or otherwise holds) ``host:port``.

    Binds with SO_REUSEADDR like the JVM does, so sockets lingering in TIME_WAIT after a broker
    stopped do not count as "in use" while a live listener does.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return True
            raise BrokerError(f"cannot check port {host}:{port}: {exc}") from exc
    return False


def find_java(java: str = "java") -> str:
    """The absolute path of a Java 17+ runtime; BrokerError if missing or too old."""
    path = shutil.which(java)
    if path is None:
        raise BrokerError(
            f"Java ('{java}') is not on PATH; Kafka 4 needs Java {MIN_JAVA_MAJOR} or later "
            "(e.g. `apt-get install openjdk-17-jre-headless`), or set TUNGGAL_BROKER to use a "
            "broker that is already running"
        )
    done = subprocess.run([path, "-version"], capture_output=True, text=True, check=False)
    major = java_major_version(done.stderr + done.stdout)
    if major is None:
        raise BrokerError(f"cannot tell the version of {path}: {done.stderr.strip()[:200]}")
    if major < MIN_JAVA_MAJOR:
        raise BrokerError(f"{path} is Java {major}; Kafka 4 needs Java {MIN_JAVA_MAJOR} or later")
    return path


def java_major_version(version_output: str) -> int | None:
    """The major version in ``java -version`` output ("1.8.0_3" -> 8, "17.0.15" -> 17)."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if match is None:
        return None
    first = int(match.group(1))
    return int(match.group(2) or 0) if first == 1 else first


def read_tail(path: Path, lines: int) -> str:
    """The last ``lines`` lines of a text file, or a note that it is missing."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 64 * 1024))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.rstrip().splitlines()[-lines:])
