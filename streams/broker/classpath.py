"""The broker's classpath: the official Kafka jars, resolved from Maven Central once and cached.

``pom.xml`` beside this module lists ``org.apache.kafka:kafka_2.13`` and an SLF4J binding; Maven's
``dependency:copy-dependencies`` copies the runtime closure (42 jars for 4.0.2) into a temporary
folder, which is renamed into place only after Maven succeeded, and a marker file listing the jars
is written last. A cache dir with a marker whose jars all exist is complete and Maven is skipped;
anything else is resolved again. A file lock serialises concurrent first-time resolutions.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from streams.broker.config import KAFKA_VERSION
from streams.errors import BrokerError

log = logging.getLogger("tunggal.broker")

#: The Maven project that names the broker's artifacts.
POM_PATH = Path(__file__).with_name("pom.xml")

#: Written inside the libs dir after a successful copy; lists one jar file name per line.
MARKER_FILE = ".tunggal-complete"

#: Upper bound on a first-time resolution (downloads ~40 MB on a cold ~/.m2).
MAVEN_TIMEOUT_S = 900.0

#: Lines of Maven output quoted in an error.
OUTPUT_TAIL_LINES = 40


def default_cache_dir(version: str = KAFKA_VERSION) -> Path:
    """``~/.cache/tunggal/kafka-<version>/libs``."""
    return Path.home() / ".cache" / "tunggal" / f"kafka-{version}" / "libs"


def is_complete(libs_dir: Path) -> bool:
    """True when the marker exists and every jar it lists is present."""
    marker = libs_dir / MARKER_FILE
    try:
        names = [n for n in marker.read_text(encoding="utf-8").splitlines() if n.strip()]
    except OSError:
        return False
    return bool(names) and all((libs_dir / name).is_file() for name in names)


def tail(text: str, lines: int = OUTPUT_TAIL_LINES) -> str:
    """The last ``lines`` lines of ``text``."""
    return "\n".join(text.rstrip().splitlines()[-lines:])


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (created if missing), released on exit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def maven_command(mvn: str, output_dir: Path, version: str) -> list[str]:
    """The Maven invocation that copies the runtime closure of the pom into ``output_dir``."""
    return [
        mvn,
        "-q",
        "-B",
        "-f",
        str(POM_PATH),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={output_dir}",
        f"-Dkafka.version={version}",
    ]


def resolve_classpath(
    cache_dir: Path | None = None,
    *,
    version: str = KAFKA_VERSION,
    mvn: str = "mvn",
    timeout: float = MAVEN_TIMEOUT_S,
) -> Path:
    """Return a folder holding every jar the broker needs, running Maven only the first time.

    Raises BrokerError when Maven is missing, fails (with its output tail) or times out.
    """
    libs_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir(version)
    if is_complete(libs_dir):
        return libs_dir
    with file_lock(libs_dir.parent / f".{libs_dir.name}.lock"):
        if is_complete(libs_dir):  # another process finished while we waited
            return libs_dir
        _run_maven(libs_dir, version=version, mvn=mvn, timeout=timeout)
    return libs_dir


def _run_maven(libs_dir: Path, *, version: str, mvn: str, timeout: float) -> None:
    mvn_path = shutil.which(mvn)
    if mvn_path is None:
        raise BrokerError(
            f"Maven ('{mvn}') is not on PATH; it is needed once to fetch Kafka {version} from "
            "Maven Central (install it, e.g. `apt-get install maven`), or set TUNGGAL_BROKER "
            "to use a broker that is already running"
        )
    staging = libs_dir.with_name(f"{libs_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    log.info(
        "resolving Kafka %s from Maven Central (first time only) into %s ...", version, libs_dir
    )
    began = time.monotonic()
    try:
        done = subprocess.run(
            maven_command(mvn_path, staging, version),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        shutil.rmtree(staging, ignore_errors=True)
        output = (exc.stdout or "") if isinstance(exc.stdout, str) else ""
        raise BrokerError(
            f"Maven did not finish resolving Kafka {version} within {timeout:.0f} s\n{tail(output)}"
        ) from exc
    jars = sorted(p.name for p in staging.glob("*.jar")) if staging.is_dir() else []
    if done.returncode != 0 or not jars:
        shutil.rmtree(staging, ignore_errors=True)
        output = tail(done.stdout + done.stderr) or "(no output)"
        raise BrokerError(
            f"Maven failed to resolve Kafka {version} (exit code {done.returncode}, "
            f"{len(jars)} jars):\n{output}"
        )
    shutil.rmtree(libs_dir, ignore_errors=True)  # an incomplete earlier attempt
    os.replace(staging, libs_dir)
    (libs_dir / MARKER_FILE).write_text("\n".join(jars) + "\n", encoding="utf-8")
    log.info("resolved %d jars in %.1f s", len(jars), time.monotonic() - began)
