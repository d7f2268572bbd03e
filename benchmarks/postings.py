"""One index partition's posting store under the engine's access pattern, with its RocksDB options
and with plain ones (no Bloom filters, the options before 2026-12-08): CPU per probe of the
lookups and of the writes, in fifths of the run, as the store grows.

What: ``--probes`` times, the engine's own calls of the index stage on one partition
(``streams.pipeline.index_probe``, then ``RocksPostings.apply_row`` with the probe's row): a
probe brings ``--keys`` blocking keys, 90% of them new (a fresh biometric hash: absent from the
store) and 10% drawn from keys indexed before (a shared key: a posting list is read and
extended). With P = 4 partitions each enrollment is one such probe on every partition, so
``--probes 100000`` is a partition of a 100,000-person gallery. CPU time of the calling thread
(``time.thread_time``) in the lookup (``get_many``) and in the write, so the figures hold on a
shared machine and leave out RocksDB's background flushes and compactions; the process's whole
CPU time per store is printed too. The last line printed is one JSON object.

    .venv/bin/python benchmarks/postings.py [--probes 100000] [--keys 42] [--seed 1]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson
from rocksdict import Options

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streams.app import postings  # noqa: E402
from streams.pipeline import index_probe  # noqa: E402


def plain_options() -> Options:
    """The posting stores' options before Bloom filters."""
    opts = Options(raw_mode=True)
    opts.create_if_missing(True)
    opts.increase_parallelism(2)
    return opts


class TimedStore:
    """A RocksPostings whose lookups and writes are timed."""

    def __init__(self, store: postings.RocksPostings) -> None:
        self.store, self.get_s, self.put_s = store, 0.0, 0.0

    def get_many(self, keys: list[bytes]) -> list[bytes | None]:
        t0 = time.thread_time()
        try:
            return self.store.get_many(keys)
        finally:
            self.get_s += time.thread_time() - t0

    def put_many(self, items: dict[bytes, bytes]) -> None:
        self.store.put_many(items)

    def apply_row(self, probe: bytes, row: bytes) -> None:
        t0 = time.thread_time()
        self.store.apply_row(probe, row)
        self.put_s += time.thread_time() - t0


def run(options: str, probes: int, keys: int, seed: int, work: Path) -> list[dict]:
    if options == "plain":
        postings.store_options, saved = plain_options, postings.store_options
    try:
        store = TimedStore(postings.RocksPostings(work / options))
    finally:
        if options == "plain":
            postings.store_options = saved
    cpu0 = time.process_time()
    rng = np.random.default_rng(seed)
    pool: list[str] = []
    fifths, fifth = [], max(1, probes // 5)
    hits = 0
    for i in range(probes):
        n_old = keys // 10 if pool else 0
        ks = [f"f:{k:x}" for k in rng.integers(0, 1 << 62, keys - n_old).tolist()]
        ks += [pool[j] for j in rng.integers(0, len(pool), n_old).tolist()]
        pool.extend(ks[:4])
        probe = f"E{i:09d}"
        result = index_probe(store, probe, 0, ks, already_indexed=False)
        hits += len(result.hits)
        store.apply_row(probe.encode(), orjson.dumps({"pp": 0, "keys": result.admitted}))
        if (i + 1) % fifth == 0:
            fifths.append({"probes": i + 1, "get_us": round(1e6 * store.get_s / fifth),
                           "write_us": round(1e6 * store.put_s / fifth), "hits": hits})
            store.get_s = store.put_s = 0.0
            hits = 0
            print(f"{options:>7}: {i + 1:>9,} probes  lookup {fifths[-1]['get_us']:>5} us  "
                  f"write {fifths[-1]['write_us']:>4} us per probe", flush=True)
    store.store.close()
    print(f"{options:>7}: process CPU {time.process_time() - cpu0:.1f} s in all "
          "(with RocksDB's background threads)", flush=True)
    return fifths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--probes", type=int, default=100_000, help="probes indexed on the partition")
    ap.add_argument("--keys", type=int, default=42, help="blocking keys per probe on it")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    result = {"probes": args.probes, "keys": args.keys}
    with tempfile.TemporaryDirectory(prefix="tunggal-postings-") as tmp:
        for options in ("plain", "engine"):
            result[options] = run(options, args.probes, args.keys, args.seed, Path(tmp))
    print("reproduce: .venv/bin/python benchmarks/postings.py " + " ".join(sys.argv[1:]))
    print(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
