"""The evaluator: perfect answers give perfect figures; each planted error moves exactly the
figures it must."""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
from pathlib import Path

import orjson
import pytest

from streams.cli.kafka_io import key_of_line
from streams.cli.sim_commands import register
from streams.errors import ConfigError, InputError
from streams.sim import scenarios as sc
from streams.sim.evaluate import MISSING, evaluate, evaluate_files
from streams.sim.population import read_truth, simulate

SHARES = sc.Shares(recapture=0.15, duplicate=0.1, nik_conflict=0.06, malformed=0.1,
                   no_biometrics=0.03, twins=0.03, chain=0.03)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval")
    simulate(200, 4, out, shares=SHARES, fingers=2, workers=2)
    truth = list(read_truth(out / "truth.json"))
    lines = (out / "enrollments.jsonl").read_bytes().splitlines()
    return out, truth, lines


def _verdict(t: dict, revision: int = 1, **over) -> dict:
    v = {"schema": "tunggal.verdict.v1", "enrollment_id": t["enrollment_id"], "nik": t["nik"],
         "revision": revision, "verdict": t["expected"], "person_id": t["person_id"],
         "matches": [], "reasons": [], "decided_at": "2017-01-01T00:00:00+07:00",
         "engine": "test"}
    v.update(over)
    return v


def perfect(truth: list[dict], lines: list[bytes]) -> tuple[list[dict], list[dict]]:
    """Verdicts (some revised: a wrong revision 1 then the right revision 2) and dead letters."""
    verdicts = []
    for i, t in enumerate(truth):
        if t["expected"] is None:
            continue
        if i % 3 == 0:
            verdicts.append(_verdict(t, 1, verdict="REVIEW", person_id=None))
            verdicts.append(_verdict(t, 2))
        else:
            verdicts.append(_verdict(t))
    letters = []
    codes = {t["value_sha256"]: t["error"] for t in truth if t["error"]}
    for n, line in enumerate(lines):
        digest = hashlib.sha256(line).hexdigest()
        if digest in codes:
            key = key_of_line(line)
            letters.append({"schema": "tunggal.dead_letter.v1", "topic": "enrollments",
                            "partition": 0, "offset": n, "key": key.decode() if key else None,
                            "value_base64": base64.b64encode(line).decode(),
                            "error": {"code": codes[digest], "message": "", "path": ""},
                            "seen_at": "2017-01-01T00:00:00+07:00"})
    return verdicts, letters


def run(truth, verdicts, letters):
    return evaluate(truth, [orjson.dumps(v) for v in verdicts], [orjson.dumps(d) for d in letters])


def _first(truth, **want):
    return next(t for t in truth if all(t.get(k) == v for k, v in want.items()))


def test_perfect_answers_give_perfect_figures(sim):
    _, truth, lines = sim
    verdicts, letters = perfect(truth, lines)
    ev = run(truth, verdicts, letters)
    assert ev.inputs == len(truth) and ev.malformed > 0 and ev.duplicate_expected > 0
    assert ev.nik_conflict_expected > 0 and ev.unique_expected > 0
    assert (ev.missing_verdicts, ev.missing_dead_letters, ev.unanswered, ev.unknown_verdicts) == (0, 0, 0, 0)
    assert ev.duplicate_recall == ev.duplicate_precision == 1.0
    assert ev.false_match_rate == 0.0 and ev.review_rate == 0.0
    assert ev.nik_conflict_recall == ev.nik_conflict_precision == 1.0
    assert ev.person_id_agreement == 1.0 and ev.dead_letter_coverage == 1.0
    assert ev.revision_violations == 0 and ev.unexpected_dead_letters == 0
    for row, cols in ev.confusion.items():
        assert set(cols) == {row}
    assert sum(c[row] for row, c in ev.confusion.items()) == ev.expect_verdict


def test_missing_verdict(sim):
    _, truth, lines = sim
    verdicts, letters = perfect(truth, lines)
    base = run(truth, verdicts, letters)
    t = _first(truth, expected="DUPLICATE")
    ev = run(truth, [v for v in verdicts if v["enrollment_id"] != t["enrollment_id"]], letters)
    assert (ev.missing_verdicts, ev.unanswered) == (1, 1)
    assert ev.duplicate_found == base.duplicate_found - 1
    assert ev.duplicate_recall == pytest.approx((base.duplicate_expected - 1) / base.duplicate_expected, abs=1e-6)
    assert ev.confusion["DUPLICATE"][MISSING] == 1
    assert ev.duplicate_precision == 1.0 and ev.person_id_agreement == 1.0


def _replace(verdicts, eid, **over):
    out = copy.deepcopy(verdicts)
    last = max((v for v in out if v["enrollment_id"] == eid), key=lambda v: v["revision"])
    last.update(over)
    return out


def test_wrong_verdict_on_a_true_unique_is_a_false_match(sim):
    _, truth, lines = sim
    verdicts, letters = perfect(truth, lines)
    base = run(truth, verdicts, letters)
    t = _first(truth, expected="UNIQUE")
    ev = run(truth, _replace(verdicts, t["enrollment_id"], verdict="DUPLICATE", person_id="X-1"), letters)
    assert ev.unique_false_match == 1
    assert ev.false_match_rate == pytest.approx(1 / base.unique_expected, abs=1e-6)
    assert ev.duplicate_claimed == base.duplicate_claimed + 1
    assert ev.duplicate_precision == pytest.approx(base.duplicate_claimed / (base.duplicate_claimed + 1), abs=1e-6)
    assert ev.duplicate_recall == 1.0
    assert ev.person_id_agree == base.person_id_agree - 1
    assert ev.confusion["UNIQUE"]["DUPLICATE"] == 1


def test_wrong_person(sim):
    _, truth, lines = sim
    verdicts, letters = perfect(truth, lines)
    base = run(truth, verdicts, letters)
    t = _first(truth, expected="RECAPTURE")
    ev = run(truth, _replace(verdicts, t["enrollment_id"], person_id="SOMEONE-ELSE"), letters)
    assert ev.duplicate_found == base.duplicate_found - 1
    assert ev.duplicate_claimed_right == base.duplicate_claimed_right - 1
    assert ev.person_id_agree == base.person_id_agree - 1
    assert ev.confusion == base.confusion  # the verdict kind itself is right


def test_missed_nik_conflict_and_review(sim):
    _, truth, lines = sim
    verdicts, letters = perfect(truth, lines)
    base = run(truth, verdicts, letters)
    t = _first(truth, expected="NIK_CONFLICT")
    ev = run(truth, _replace(verdicts, t["enrollment_id"], verdict="REVIEW"), letters)
    assert ev.nik_conflict_found == base.nik_conflict_found - 1
    assert ev.nik_conflict_recall == pytest.approx((base.nik_conflict_expected - 1) / base.nik_conflict_expected, abs=1e-6)
    assert ev.review == 1 and ev.review_rate == pytest.approx(1 / base.answered, abs=1e-6)
    assert ev.nik_conflict_precision == 1.0


def test_revision_out_of_order(sim):
    _, truth, lines = sim
    verdicts, letters = perfect(truth, lines)
    revised = next(v for v in verdicts if v["revision"] == 2)
    stale = dict(revised, revision=1, verdict="UNIQUE")
    repeated = dict(revised)
    ev = run(truth, verdicts + [stale, repeated], letters)
    assert ev.revision_violations == 2
    assert ev.person_id_agreement == 1.0 and ev.duplicate_recall == 1.0  # the newest is kept


def test_missing_dead_letter_and_wrong_code(sim):
    _, truth, lines = sim
    verdicts, letters = perfect(truth, lines)
    base = run(truth, verdicts, letters)
    unreadable = [d for d in letters if d["key"] is None]
    assert unreadable
    dropped = [d for d in letters if d is not unreadable[0]]
    ev = run(truth, verdicts, dropped)
    assert (ev.missing_dead_letters, ev.unanswered) == (1, 1)
    assert ev.dead_letter_coverage == pytest.approx((base.malformed - 1) / base.malformed, abs=1e-6)
    wrong = copy.deepcopy(letters)
    wrong[0]["error"]["code"] = "SOMETHING_ELSE"
    ev = run(truth, verdicts, wrong)
    assert (ev.dead_letter_wrong_code, ev.missing_dead_letters) == (1, 0)
    assert ev.dead_letter_right_code == base.dead_letter_right_code - 1


def test_unexpected_dead_letter_and_unknown_verdict(sim):
    _, truth, lines = sim
    verdicts, letters = perfect(truth, lines)
    valid = _first(truth, expected="UNIQUE")
    extra = dict(letters[0], key=valid["enrollment_id"],
                 value_base64=base64.b64encode(b"{}").decode())
    ghost = _verdict(valid, enrollment_id="GHOST-20170101-000001")
    ev = run(truth, verdicts + [ghost], letters + [extra])
    assert (ev.unexpected_dead_letters, ev.unknown_verdicts) == (1, 1)
    assert ev.dead_letter_coverage == 1.0


def _cli(argv):
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.handler(args, None)


def test_cli_json_line_and_unreadable_input(sim, tmp_path, capsys):
    out, truth, lines = sim
    verdicts, letters = perfect(truth, lines)
    (tmp_path / "v.jsonl").write_bytes(b"\n".join(orjson.dumps(v) for v in verdicts) + b"\n")
    (tmp_path / "d.jsonl").write_bytes(b"\n".join(orjson.dumps(d) for d in letters) + b"\n")
    assert _cli(["evaluate", "--truth", str(out / "truth.json"), "--verdicts",
                 str(tmp_path / "v.jsonl"), "--dlq", str(tmp_path / "d.jsonl"), "--json"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1 and orjson.loads(printed[0])["duplicate_recall"] == 1.0
    assert _cli(["evaluate", "--truth", str(out / "truth.json"), "--verdicts",
                 str(tmp_path / "v.jsonl")]) == 0
    assert "duplicate recall 100.000%" in capsys.readouterr().out
    with pytest.raises(InputError):
        evaluate_files(Path(tmp_path / "nope.json"), tmp_path / "v.jsonl")
    (tmp_path / "bad.json").write_bytes(b"not json\n")
    with pytest.raises(ConfigError):
        _cli(["evaluate", "--truth", str(tmp_path / "bad.json"), "--verdicts", str(tmp_path / "v.jsonl")])
