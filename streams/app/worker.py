"""Run one worker in the foreground.

Local table state (RocksDB) can be ahead of its changelog after a crash: a table write lands in
RocksDB at once, its changelog record only at the next producer flush. So a worker that did not
shut down cleanly discards its local table state and recovers it from the changelogs, which are
the truth. A clean shutdown leaves a marker that lets the next start reuse the warm store.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

from streams.app.postings import POSTINGS_DIR
from streams.errors import ConfigError
from streams.settings import Settings

log = logging.getLogger("tunggal.worker")

CLEAN_MARKER = "clean-shutdown"


def prepare_data_dir(data_dir: Path) -> bool:
    """Make the data dir ready; returns True if local state was discarded after a crash."""
    data_dir.mkdir(parents=True, exist_ok=True)
    marker = data_dir / CLEAN_MARKER
    # faust keeps its RocksDB tables in {datadir}/v{app version}/tables ("*-data" was an older
    # layout, kept for old data dirs): missing them here once meant a crashed worker reused a
    # store that was ahead of its changelog (issue 6)
    # The posting lists (postings-data) stay: each store holds a copy of the rows whose entries it
    # holds, written in the same batch, so it is reconciled with the recovered rows on first use
    # (streams/app/postings.py) instead of rebuilt from every row.
    stores = [p for p in (*data_dir.glob("v*/tables"), *data_dir.glob("*-data"))
              if p.is_dir() and p.name != POSTINGS_DIR]
    discarded = False
    if stores and not marker.exists():
        for p in stores:
            shutil.rmtree(p)
        discarded = True
        log.warning("previous run did not shut down cleanly: local table state discarded; "
                    "it will be recovered from the changelog topics")
    marker.unlink(missing_ok=True)
    return discarded


def run_worker(settings: Settings) -> None:
    """Start a faust worker for ``settings`` and block until it stops (SIGINT/SIGTERM)."""
    import faust  # noqa: F401  (imported here so `tunggal --help` stays fast)

    from streams.app import progress
    from streams.app.admin import ensure_topics
    from streams.app.engine import ROCKSDB_OPTIONS, create_app
    from streams.app.restore import restore_before_start
    from streams.app.warmup import warm_up

    prepare_data_dir(settings.data_dir)
    warm_up()  # compile (or load) the numba kernels before the worker holds any partition
    counts = asyncio.run(ensure_topics(settings))
    wrong = {t: n for t, n in counts.items() if n != settings.partitions}
    if wrong:
        raise ConfigError(
            "topics exist with another partition count than TUNGGAL_PARTITIONS="
            f"{settings.partitions}: {wrong}. Partition counts are fixed per deployment: set "
            "TUNGGAL_PARTITIONS to match, or recreate the topics.")
    # tables of the last assignment from their changelogs, outside faust's per-record recovery
    restore_before_start(settings.bootstrap, settings.data_dir, ROCKSDB_OPTIONS)
    app = create_app(settings)
    progress.install(app, settings)  # recovery progress in the log and on the web page
    worker = faust.Worker(app, loglevel=settings.log_level.lower(), redirect_stdouts=False)
    log.info("worker starting: broker %s, %d partitions, data dir %s, web http://%s:%d",
             settings.bootstrap, settings.partitions, settings.data_dir, settings.web_host,
             settings.web_port)
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        if not exc.code:  # a clean stop: the producer was flushed and offsets committed
            (settings.data_dir / CLEAN_MARKER).touch()
        raise
