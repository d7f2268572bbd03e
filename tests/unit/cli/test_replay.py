"""The pure parts of ``tunggal replay``: how a re-evaluation's verdicts moved, and its options."""

from __future__ import annotations

from streams.cli.main import main
from streams.cli.replay import transitions


def v(eid: str, verdict: str, revision: int, person: str | None = None) -> dict:
    return {"enrollment_id": eid, "verdict": verdict, "revision": revision,
            "person_id": person or eid}


def test_transitions_count_the_newest_verdict_per_enrollment_against_the_one_before():
    before = {"a": v("a", "UNIQUE", 1), "b": v("b", "DUPLICATE", 2, "a"),
              "c": v("c", "DUPLICATE", 1, "a"), "d": v("d", "UNIQUE", 1)}
    changed = [v("b", "UNIQUE", 3), v("b", "REVIEW", 4),  # two revisions: the newest counts
               v("c", "DUPLICATE", 2, "x"),  # same verdict, another person
               v("e", "UNIQUE", 1)]  # had no verdict before
    moved, same = transitions(before, changed)
    assert moved == {("DUPLICATE", "REVIEW"): 1, (None, "UNIQUE"): 1}
    assert same == 1


def test_reevaluate_refuses_a_file(capsys, tmp_path):
    f = tmp_path / "x.jsonl"
    f.write_text("{}\n")
    assert main(["replay", "--reevaluate", "--file", str(f)]) == 2
    assert "--reevaluate" in capsys.readouterr().err
