from streams.decide.revisions import next_revision, verdict_content
from streams.domain.types import Verdict, VerdictKind


def content(kind=VerdictKind.UNIQUE, person="a", reasons=()):
    return verdict_content(Verdict("a", "3273054504870001", kind, person, (), tuple(reasons)))


def test_first_decision_is_revision_one_with_contract_fields():
    v = next_revision(None, content(), decided_at="2017-01-01T00:00:00+00:00", engine="tunggal x")
    assert v["revision"] == 1 and v["schema"] == "tunggal.verdict.v1"
    assert v["verdict"] == "UNIQUE" and v["engine"] == "tunggal x"


def test_same_content_emits_nothing_and_a_change_bumps_by_one():
    v1 = next_revision(None, content(), decided_at="t1", engine="e")
    assert next_revision(v1, content(), decided_at="t2", engine="e") is None
    v2 = next_revision(v1, content(VerdictKind.RECAPTURE, "z"), decided_at="t2", engine="e")
    assert v2["revision"] == 2 and v2["verdict"] == "RECAPTURE"
    assert next_revision(v2, content(VerdictKind.RECAPTURE, "z"), decided_at="t3", engine="e") is None
