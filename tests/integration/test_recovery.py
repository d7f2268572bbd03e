"""Crash, restart and rebalance on the real broker (issue 6): nothing lost, nothing doubled, the
same verdicts as an uninterrupted run.

Every test compares the *current* verdicts (per enrollment: verdict, person id, sorted matched
ids) with a clean run of the same input, checks that no verdict record repeats or lowers its
key's revision, and runs ``tunggal audit``, which must come out clean.

Time budget (docs/benchmarks.md has the figures): the 5,000-person backlog is run twice, once
clean and once with three SIGKILLs in sequence at 10 %, 45 % and 80 % of the verdicts (one killed
run instead of three keeps the suite well under its budget); the worker-group and broker tests
share a 1,000-person population and one clean run of it.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from streams.broker import local
from streams.cli.demo import expected_outcomes
from streams.cli.kafka_io import key_of_line
from streams.sim.population import simulate
from tests.integration.harness import (
    Namespace,
    all_verdicts,
    feed_and_collect,
    free_port,
    kill_worker,
    outcome_diff,
    outcomes,
    produce,
    revision_violations,
    run_audit,
    verdict_ids,
    verdict_records,
    wait_for_group,
    wait_for_no_lag,
    wait_for_verdict_records,
    wait_for_verdicts,
)

#: People in the crash test's backlog (the issue asks for >= 5,000); RECOVERY_TEST_PEOPLE
#: overrides it for a quick local run.
PEOPLE = int(os.environ.get("RECOVERY_TEST_PEOPLE", "5000"))
GROUP_PEOPLE = int(os.environ.get("RECOVERY_TEST_GROUP_PEOPLE", "1000"))
#: Verdict shares at which the worker is SIGKILLed, and the shares of the backlog's lines
#: published before the second and the third kill (the rest after the third restart).
KILL_SHARES = (0.10, 0.45, 0.80)
SLICES = (0.6, 0.9)
TIMEOUT = 1800.0


def _lines(out: Path) -> list[bytes]:
    return [x for x in (out / "enrollments.jsonl").read_bytes().split(b"\n") if x]


def _clean_run(kafka: str, workdir: Path, lines: list[bytes]) -> dict[str, tuple]:
    """Current verdicts of an uninterrupted one-worker run of ``lines``."""
    workdir.mkdir()
    ref = Namespace(bootstrap=kafka, workdir=workdir)
    try:
        ref.start_worker()
        wait_for_group(ref, 1)
        verdicts, _ = feed_and_collect(ref, lines, timeout=TIMEOUT)
    finally:
        ref.stop_workers()
    assert not revision_violations(verdicts)
    return outcomes(verdicts)


def _publish(ns: Namespace, lines: list[bytes]) -> None:
    s = ns.settings
    produce(s.bootstrap, s.topics.enrollments, [(key_of_line(x), x) for x in lines], s)


def _check_against(ns: Namespace, reference: dict[str, tuple], want_ids: set[str],
                   alive: list) -> None:
    """Everything decided, nothing in flight, verdicts equal to the reference, audit clean."""
    wait_for_verdicts(ns, len(want_ids), TIMEOUT, alive=alive)
    wait_for_no_lag(ns, timeout=600)
    records = all_verdicts(ns, want_ids)
    bad = revision_violations(records)
    assert not bad, bad[:10]
    got = outcomes(records)
    diff = outcome_diff(reference, got)
    assert not diff, diff
    code, report = run_audit(ns)
    assert code == 0, report


@pytest.fixture(scope="module")
def backlog(tmp_path_factory) -> list[bytes]:
    out = tmp_path_factory.mktemp("recovery-pop")
    simulate(PEOPLE, 60606, out)
    return _lines(out)


@pytest.fixture(scope="module")
def group_backlog(tmp_path_factory) -> list[bytes]:
    out = tmp_path_factory.mktemp("recovery-group-pop")
    simulate(GROUP_PEOPLE, 70707, out)
    return _lines(out)


@pytest.fixture(scope="module")
def group_reference(kafka, tmp_path_factory, group_backlog) -> dict[str, tuple]:
    return _clean_run(kafka, tmp_path_factory.mktemp("group-ref") / "clean", group_backlog)


def test_sigkill_at_three_points_of_a_backlog_changes_no_verdict(kafka, tmp_path, backlog):
    t0 = time.monotonic()
    reference = _clean_run(kafka, tmp_path / "clean", backlog)
    clean_s = time.monotonic() - t0
    want_ids, _ = expected_outcomes(backlog)
    ns = Namespace(bootstrap=kafka, workdir=tmp_path / "killed")
    ns.workdir.mkdir()
    t1 = time.monotonic()
    try:
        worker = ns.start_worker("w1")
        wait_for_group(ns, 1)
        # The verdicts of a backlog come in bursts once every enrollment was ingested (the later
        # stages drain at once), so a restarted worker can finish everything between two polls.
        # So the backlog is published in slices, each after the restart that follows the kill
        # before it: at every kill some input is still unpublished or in flight. The reference run
        # got everything at once (order independence).
        cuts = [int(c * len(backlog)) for c in SLICES] + [len(backlog)]
        _publish(ns, backlog[:cuts[0]])
        kills = []
        for n, share in enumerate(KILL_SHARES):
            seen = wait_for_verdicts(ns, int(share * len(want_ids)), TIMEOUT, alive=[worker])
            assert seen < len(want_ids), "the backlog finished before the kill"
            kill_worker(worker)
            kills.append(seen)
            # the same data dir: the restart must discard its local state and recover it
            worker = ns.start_worker("w1")
            if n >= 1:
                _publish(ns, backlog[cuts[n - 1]:cuts[n]])
        _check_against(ns, reference, want_ids, alive=[worker])
    finally:
        ns.stop_workers()
    log = (ns.workdir / "w1.log").read_text(errors="replace")
    assert log.count("did not shut down cleanly") == len(KILL_SHARES)
    # each restart restored its tables before joining (streams/app/restore.py), not faust
    assert log.count("tables restored from changelogs before joining") == len(KILL_SHARES), \
        ns.worker_logs()
    print(f"{len(backlog)} events, {len(want_ids)} enrollments: clean run {clean_s:.0f} s, "
          f"killed at {kills} verdicts, killed run {time.monotonic() - t1:.0f} s")


def test_a_worker_killed_and_another_joining_mid_backlog_change_no_verdict(
        kafka, tmp_path, group_backlog, group_reference):
    want_ids, _ = expected_outcomes(group_backlog)
    first, second = group_backlog[:len(group_backlog) // 2], group_backlog[len(group_backlog) // 2:]
    n_first = len(expected_outcomes(first)[0])
    ns = Namespace(bootstrap=kafka, workdir=tmp_path)
    try:
        w1, w2 = ns.start_worker("w1"), ns.start_worker("w2")
        wait_for_group(ns, 2)
        _publish(ns, first)
        wait_for_verdicts(ns, n_first // 4, TIMEOUT, alive=[w1, w2])
        kill_worker(w1)  # its partitions move to w2, which finishes the first half alone
        wait_for_verdicts(ns, n_first, TIMEOUT, alive=[w2])
        _publish(ns, second)
        wait_for_verdicts(ns, n_first + (len(want_ids) - n_first) // 3, TIMEOUT, alive=[w2])
        w3 = ns.start_worker("w3")  # joins mid-backlog: partitions move while work is in flight
        _check_against(ns, group_reference, want_ids, alive=[w2, w3])
    finally:
        ns.stop_workers()


def test_a_worker_stopped_mid_backlog_and_restarted_changes_no_verdict(
        kafka, tmp_path, group_backlog, group_reference):
    """SIGTERM while agents are in the middle of their steps: the stop commits only what was
    finished (a step cut short acks nothing), so nothing is lost. Steps of
    16 events keep verdicts flowing while the rest is in flight (with 256, a slice's verdicts
    come out in one burst at its end), so a stop triggered by the first verdicts of a slice
    lands with most of the slice in the agents' steps."""
    small_steps = {"TUNGGAL_BATCH_SIZE": "16"}
    want_ids, _ = expected_outcomes(group_backlog)
    ns = Namespace(bootstrap=kafka, workdir=tmp_path)
    try:
        worker = ns.start_worker("w1", small_steps)
        wait_for_group(ns, 1)
        # The backlog goes in thirds; each of the first two is stopped as soon as its first
        # verdicts appear, so most of it is still in the agents' steps when SIGTERM lands.
        # The first verdicts are watched on the topic's end offsets every 0.2 s: a slice takes
        # a few seconds, so reading whole topics every 2 s could miss it entirely.
        cuts = [len(group_backlog) // 3, 2 * len(group_backlog) // 3]
        start = 0
        for cut in cuts:
            base = verdict_records(ns)
            _publish(ns, group_backlog[start:cut])
            start = cut
            wait_for_verdict_records(ns, base + 20, TIMEOUT, alive=[worker])
            worker.send_signal(signal.SIGTERM)
            # Known issue: a worker stopped while busy logs a clean shutdown but then exits by
            # the signal (-15), so it leaves no clean-shutdown marker and restarts cold; one
            # stopped idle exits 0 and restarts warm. Either way nothing may be lost.
            assert worker.wait(timeout=120) in (0, -signal.SIGTERM), ns.worker_logs()
            published = len(expected_outcomes(group_backlog[:cut])[0])
            decided = len(verdict_ids(ns))
            assert decided < published, "the published input was all decided before the stop"
            worker = ns.start_worker("w1", small_steps)
        _publish(ns, group_backlog[start:])
        _check_against(ns, group_reference, want_ids, alive=[worker])
    finally:
        ns.stop_workers()


def test_a_broker_restart_mid_stream_changes_no_verdict(tmp_path, group_backlog,
                                                        group_reference):
    broker_dir = tmp_path / "kafka"
    ports = {"port": free_port(), "controller_port": free_port()}
    info = local.start(data_dir=broker_dir, timeout=120, jvm_opts=local.FAST_START_JVM_OPTS,
                       **ports)
    want_ids, _ = expected_outcomes(group_backlog)
    ns = Namespace(bootstrap=info.bootstrap, workdir=tmp_path)
    restarted = []
    try:
        w1, w2 = ns.start_worker("w1"), ns.start_worker("w2")
        wait_for_group(ns, 2)
        _publish(ns, group_backlog)
        wait_for_verdicts(ns, len(want_ids) // 3, TIMEOUT, alive=[w1, w2])
        assert local.stop(broker_dir)  # SIGTERM: controlled shutdown
        time.sleep(10)
        local.start(data_dir=broker_dir, timeout=120, jvm_opts=local.FAST_START_JVM_OPTS,
                    **ports)
        # Workers either ride out the outage or exit non-zero (never zero: that would leave a
        # clean-shutdown marker over unflushed state); one that exited is restarted, as a
        # process supervisor would.
        workers = {"w1": w1, "w2": w2}
        deadline = time.monotonic() + TIMEOUT
        while len(verdict_ids(ns)) < len(want_ids):
            assert time.monotonic() < deadline, ns.worker_logs()
            for name, proc in list(workers.items()):
                if proc.poll() is not None:
                    assert proc.returncode != 0, f"{name} exited 0 after a broker outage"
                    restarted.append((name, proc.returncode))
                    workers[name] = ns.start_worker(name)
            time.sleep(2)
        workers = list(workers.values())
        _check_against(ns, group_reference, want_ids, alive=workers)
    finally:
        ns.stop_workers()
        local.stop(broker_dir)
    print(f"workers restarted after the broker outage: {restarted or 'none'}")



def test_a_stalled_worker_exits_non_zero_and_a_restart_finishes_the_work(ns, group_backlog):
    """The watchdog's wiring: a worker frozen (SIGSTOP) with lag for longer than
    TUNGGAL_STALL_TIMEOUT exits with status 70 once it runs again; a restart finishes cleanly."""
    lines = group_backlog[:400]
    want_ids, _ = expected_outcomes(lines)
    stall = {"TUNGGAL_STALL_TIMEOUT": "15"}
    worker = ns.start_worker("w1", extra_env=stall)
    wait_for_group(ns, 1)
    _publish(ns, lines)
    wait_for_verdicts(ns, 20, TIMEOUT, alive=[worker])
    worker.send_signal(signal.SIGSTOP)
    time.sleep(25)
    worker.send_signal(signal.SIGCONT)
    assert worker.wait(timeout=60) == 70
    assert "stalled:" in (ns.workdir / "w1.log").read_text(errors="replace")
    worker = ns.start_worker("w1", extra_env=stall)
    wait_for_verdicts(ns, len(want_ids), TIMEOUT, alive=[worker])
    wait_for_no_lag(ns, timeout=600)
    assert not revision_violations(all_verdicts(ns, want_ids))
    code, report = run_audit(ns)
    assert code == 0, report


def test_records_read_but_never_processed_are_read_again_not_lost(ns, group_backlog):
    """Records are dropped between the worker's consumer and its streams
    (FAILPOINT_DROP_RECORDS: what faust's seek and flow-control races do to a record): two
    consecutive ones of partition 1, which hold its commit while later records are processed,
    and a single one of partition 2, past which faust alone would commit (it takes an unacked
    offset just below an acked one for an offset without a record). After
    TUNGGAL_HOLE_PATIENCE seconds the worker reads each partition again from its committed
    offset: all are decided, the lag reaches zero and the audit is clean. The backlog takes
    longer than the patience, so the re-reads land while the worker is busy."""
    lines = group_backlog[:800]
    want_ids, _ = expected_outcomes(lines)
    enrollments = ns.settings.topics.enrollments
    drops = [(1, 10), (1, 11), (2, 7)]
    env = {"FAILPOINT_DROP_RECORDS": ",".join(f"{enrollments}:{p}:{o}" for p, o in drops),
           "TUNGGAL_HOLE_PATIENCE": "5"}
    worker = ns.start_worker("w1", extra_env=env)
    wait_for_group(ns, 1)
    _publish(ns, lines)
    wait_for_verdicts(ns, len(want_ids), 300, alive=[worker])
    wait_for_no_lag(ns, timeout=120)
    log = (ns.workdir / "w1.log").read_text(errors="replace")
    assert log.count("failpoint: dropped") == len(drops), ns.worker_logs()
    for hole in ("[1]: offsets 10..11", "[2]: offsets 7..7"):
        assert f"{enrollments}{hole} were read but never processed" in log, ns.worker_logs()
    assert not revision_violations(all_verdicts(ns, want_ids))
    code, report = run_audit(ns)
    assert code == 0, report
