"""``tunggal status`` asks the workers for their recovery progress (issue 6): a running worker's
page on the real broker, and a worker address where nothing listens."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request

from streams.app.progress import PAGE_PATH
from tests.integration.harness import ROOT, Namespace, free_port, wait_for_group


def _status(ns: Namespace, *workers: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUNGGAL_")}
    env.update(ns.env)
    args = [a for url in workers for a in ("--worker", url)]
    return subprocess.run([sys.executable, "-m", "streams", "status", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_status_reports_a_running_worker_and_an_unreachable_one(ns: Namespace) -> None:
    port, nothing = free_port(), free_port()
    worker = ns.start_worker(extra_env={"TUNGGAL_WEB_PORT": str(port)})
    wait_for_group(ns, 1)
    live, dead = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{nothing}"

    deadline = time.monotonic() + 120
    doc: dict = {}
    while time.monotonic() < deadline and doc.get("state") != "running":
        assert worker.poll() is None, ns.worker_logs()
        try:
            with urllib.request.urlopen(live + PAGE_PATH, timeout=2) as answer:
                doc = json.loads(answer.read())
        except OSError:
            pass
        time.sleep(1.0)
    assert doc.get("state") == "running", f"{doc}\n{ns.worker_logs()}"
    changelogs = {p["topic"] for p in doc["recovery"]["partitions"] if p["kind"] == "active"}
    assert f"{ns.settings.app_id}-gallery-changelog" in changelogs, doc
    assert doc["recovery"]["remaining"] == 0 and doc["recovery"]["eta_s"] == 0.0, doc

    done = _status(ns, live, dead)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert f"{live}  running, changelogs up to date" in lines, done.stdout
    assert any(line.startswith(f"{dead}  not reachable (") for line in lines), done.stdout
