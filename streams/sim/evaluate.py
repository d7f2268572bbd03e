"""The instrument: compare what the engine said (verdicts, dead letters) with the ground truth.

What: :func:`evaluate` reads a truth file (``tunggal simulate``'s ``truth.json``, JSON Lines),
the verdicts topic dumped in topic order and optionally the dead-letter topic, and returns an
:class:`Evaluation` whose figures are defined here once (every accuracy claim of the project is
made with them):

* ``verdict`` per enrollment = the record with the highest ``revision`` for that key (the
  compacted topic's current value); a record whose revision is not higher than an earlier one
  for the same key is a **revision-order violation** (the contract: one writer per key, so a
  higher revision is always written after a lower one; a repeated revision means a re-send or a
  replay produced a second verdict).
* **missing verdicts**: truth entries that expect a verdict and got none; **missing dead
  letters**: malformed inputs without a dead letter; **unanswered**: inputs with neither.
* **confusion**: expected verdict x got verdict (``MISSING`` when none), over entries that expect
  a verdict.
* **duplicate recall**: entries expected DUPLICATE or RECAPTURE that got DUPLICATE or RECAPTURE
  *with the expected person_id*, over all entries expected DUPLICATE or RECAPTURE.
  **duplicate precision**: of the entries that got DUPLICATE or RECAPTURE, the share expected
  DUPLICATE or RECAPTURE whose person_id is the expected one.
* **false match rate**: entries expected UNIQUE that got DUPLICATE or RECAPTURE (joined to
  another person), over entries expected UNIQUE that got a verdict. Expected-UNIQUE entries sent
  to REVIEW or NIK_CONFLICT are counted apart (``unique_review``, ``unique_nik_conflict``).
* **NIK_CONFLICT recall / precision**: got NIK_CONFLICT among expected NIK_CONFLICT, and the
  reverse.
* **REVIEW rate**: got REVIEW over all entries that got a verdict.
* **person_id agreement**: got the expected person_id, over entries that expect one and got a
  verdict.
* **dead-letter coverage**: malformed inputs with a dead letter carrying the expected code, over
  all malformed inputs. Dead letters are matched by key (the enrollment id) or, when the id
  could not be read, by the SHA-256 of the original bytes (``value_sha256`` in the truth).
"""

from __future__ import annotations

import base64
import hashlib
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

import orjson

from streams.domain.types import VerdictKind
from streams.errors import InputError

MISSING = "MISSING"
DUP_KINDS = frozenset({VerdictKind.DUPLICATE.value, VerdictKind.RECAPTURE.value})
ROWS = [k.value for k in VerdictKind]
#: Truth fields the evaluation reads.
_KEEP = ("enrollment_id", "expected", "person_id", "error", "value_sha256", "malformed_kind")
#: Examples kept per kind of error, for the text report.
EXAMPLES = 5


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 6) if den else None


@dataclass
class Evaluation:
    """Every figure of one evaluation (see the module docstring for the definitions)."""

    inputs: int = 0
    expect_verdict: int = 0
    malformed: int = 0
    verdict_records: int = 0
    unreadable_verdict_records: int = 0
    missing_verdicts: int = 0
    missing_dead_letters: int = 0
    unanswered: int = 0
    unknown_verdicts: int = 0
    confusion: dict = field(default_factory=dict)
    duplicate_expected: int = 0
    duplicate_found: int = 0
    duplicate_claimed: int = 0
    duplicate_claimed_right: int = 0
    duplicate_recall: float | None = None
    duplicate_precision: float | None = None
    unique_expected: int = 0
    unique_false_match: int = 0
    unique_review: int = 0
    unique_nik_conflict: int = 0
    false_match_rate: float | None = None
    nik_conflict_expected: int = 0
    nik_conflict_found: int = 0
    nik_conflict_claimed: int = 0
    nik_conflict_recall: float | None = None
    nik_conflict_precision: float | None = None
    review: int = 0
    answered: int = 0
    review_rate: float | None = None
    person_id_expected: int = 0
    person_id_agree: int = 0
    person_id_agreement: float | None = None
    dead_letters: int = 0
    dead_letter_right_code: int = 0
    dead_letter_wrong_code: int = 0
    unexpected_dead_letters: int = 0
    dead_letter_coverage: float | None = None
    revision_violations: int = 0
    examples: dict = field(default_factory=dict)

    def note(self, what: str, detail: str) -> None:
        items = self.examples.setdefault(what, [])
        if len(items) < EXAMPLES:
            items.append(detail)

    def as_dict(self) -> dict:
        return asdict(self)

    def text(self) -> str:
        lines = [f"inputs {self.inputs:,} (expect a verdict {self.expect_verdict:,}, malformed "
                 f"{self.malformed:,}); verdict records {self.verdict_records:,}"]

        def pct(x: float | None) -> str:
            return "n/a" if x is None else f"{100 * x:.3f}%"

        lines += [
            f"missing verdicts {self.missing_verdicts:,}  missing dead letters "
            f"{self.missing_dead_letters:,}  unanswered {self.unanswered:,}  unknown verdicts "
            f"{self.unknown_verdicts:,}",
            f"duplicate recall {pct(self.duplicate_recall)} ({self.duplicate_found:,}/"
            f"{self.duplicate_expected:,})  precision {pct(self.duplicate_precision)}",
            f"false match rate among uniques {pct(self.false_match_rate)} "
            f"({self.unique_false_match:,}/{self.unique_expected:,}); uniques sent to REVIEW "
            f"{self.unique_review:,}, to NIK_CONFLICT {self.unique_nik_conflict:,}",
            f"NIK_CONFLICT recall {pct(self.nik_conflict_recall)} ({self.nik_conflict_found:,}/"
            f"{self.nik_conflict_expected:,})  precision {pct(self.nik_conflict_precision)}",
            f"REVIEW rate {pct(self.review_rate)}  person_id agreement "
            f"{pct(self.person_id_agreement)}",
            f"dead-letter coverage {pct(self.dead_letter_coverage)} ({self.dead_letter_right_code:,}"
            f"/{self.malformed:,}); wrong code {self.dead_letter_wrong_code:,}; unexpected "
            f"{self.unexpected_dead_letters:,}",
            f"revision-order violations {self.revision_violations:,}",
            "confusion (rows expected, columns got):",
        ]
        cols = ROWS + [MISSING]
        lines.append(" " * 14 + "".join(f"{c[:12]:>13}" for c in cols))
        for row in ROWS:
            counts = self.confusion.get(row, {})
            lines.append(f"{row:14}" + "".join(f"{counts.get(c, 0):>13,}" for c in cols))
        for what, items in self.examples.items():
            lines.append(f"e.g. {what}: " + "; ".join(items))
        return "\n".join(lines)


def _json_lines(lines: Iterable[bytes]) -> Iterable[dict | None]:
    for line in lines:
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            yield None
            continue
        yield obj if isinstance(obj, dict) else None


def _latest_verdicts(ev: Evaluation, lines: Iterable[bytes]) -> dict[str, dict]:
    latest: dict[str, dict] = {}
    for obj in _json_lines(lines):
        ev.verdict_records += 1
        if obj is None or not isinstance(obj.get("enrollment_id"), str):
            ev.unreadable_verdict_records += 1
            continue
        eid, rev = obj["enrollment_id"], obj.get("revision", 0)
        rev = rev if isinstance(rev, int) else 0
        before = latest.get(eid)
        if before is not None and rev <= before.get("revision", 0):
            ev.revision_violations += 1
            ev.note("revision_violation", f"{eid} r{rev} after r{before.get('revision')}")
            continue
        latest[eid] = obj
    return latest


def evaluate(truth: Iterable[dict], verdict_lines: Iterable[bytes],
             dlq_lines: Iterable[bytes] | None = None) -> Evaluation:
    """The figures for one run. ``truth`` are truth entries; the line iterables are the dumped
    topics in topic order (``tunggal verdicts dump`` / ``tunggal dlq dump``)."""
    ev = Evaluation()
    truth = list(truth)
    latest = _latest_verdicts(ev, verdict_lines)
    by_id = {t["enrollment_id"]: t for t in truth}
    ev.unknown_verdicts = sum(1 for eid in latest if eid not in by_id)
    letters = _match_dead_letters(ev, truth, by_id, dlq_lines or ())
    confusion: dict[str, Counter] = defaultdict(Counter)
    for t in truth:
        ev.inputs += 1
        eid, want, got_v = t["enrollment_id"], t.get("expected"), latest.get(t["enrollment_id"])
        got = got_v.get("verdict") if got_v else None
        if t.get("error"):
            ev.malformed += 1
            code = letters.get(eid)
            if code is None:
                ev.missing_dead_letters += 1
                ev.note("missing_dead_letter", f"{eid} ({t.get('malformed_kind')})")
            elif code == t["error"]:
                ev.dead_letter_right_code += 1
            else:
                ev.dead_letter_wrong_code += 1
                ev.note("wrong_code", f"{eid}: {code} instead of {t['error']}")
            if got is None and code is None:
                ev.unanswered += 1
        if want is None:
            continue
        ev.expect_verdict += 1
        confusion[want][got or MISSING] += 1
        ev.duplicate_expected += want in DUP_KINDS
        ev.nik_conflict_expected += want == VerdictKind.NIK_CONFLICT.value
        if got is None:
            ev.missing_verdicts += 1
            if not t.get("error"):
                ev.unanswered += 1
            ev.note("missing_verdict", eid)
            continue
        ev.answered += 1
        ev.review += got == VerdictKind.REVIEW.value
        right_person = got_v.get("person_id") == t.get("person_id")
        if t.get("person_id") is not None:
            ev.person_id_expected += 1
            ev.person_id_agree += right_person
            if not right_person:
                ev.note("wrong_person", f"{eid}: {got_v.get('person_id')} not {t['person_id']}")
        if want != got:
            ev.note("wrong_verdict", f"{eid}: {got} not {want}")
        if want in DUP_KINDS:
            ev.duplicate_found += got in DUP_KINDS and right_person
        if got in DUP_KINDS:
            ev.duplicate_claimed += 1
            ev.duplicate_claimed_right += want in DUP_KINDS and right_person
        if want == VerdictKind.UNIQUE.value:
            ev.unique_expected += 1
            ev.unique_false_match += got in DUP_KINDS
            ev.unique_review += got == VerdictKind.REVIEW.value
            ev.unique_nik_conflict += got == VerdictKind.NIK_CONFLICT.value
        if want == VerdictKind.NIK_CONFLICT.value:
            ev.nik_conflict_found += got == want
        ev.nik_conflict_claimed += got == VerdictKind.NIK_CONFLICT.value
    ev.confusion = {row: dict(c) for row, c in sorted(confusion.items())}
    ev.duplicate_recall = _ratio(ev.duplicate_found, ev.duplicate_expected)
    ev.duplicate_precision = _ratio(ev.duplicate_claimed_right, ev.duplicate_claimed)
    ev.false_match_rate = _ratio(ev.unique_false_match, ev.unique_expected)
    ev.nik_conflict_recall = _ratio(ev.nik_conflict_found, ev.nik_conflict_expected)
    ev.nik_conflict_precision = _ratio(ev.nik_conflict_found, ev.nik_conflict_claimed)
    ev.review_rate = _ratio(ev.review, ev.answered)
    ev.person_id_agreement = _ratio(ev.person_id_agree, ev.person_id_expected)
    ev.dead_letter_coverage = _ratio(ev.dead_letter_right_code, ev.malformed)
    return ev


def _match_dead_letters(ev: Evaluation, truth: list[dict], by_id: dict[str, dict],
                        lines: Iterable[bytes]) -> dict[str, str]:
    """Enrollment id -> error code of its dead letter (the first one seen)."""
    by_digest: dict[str, list[str]] = defaultdict(list)
    for t in truth:
        if t.get("error") and t.get("value_sha256"):
            by_digest[t["value_sha256"]].append(t["enrollment_id"])
    found: dict[str, str] = {}
    for obj in _json_lines(lines):
        ev.dead_letters += 1
        code = ((obj or {}).get("error") or {}).get("code")
        key = (obj or {}).get("key")
        t = by_id.get(key) if isinstance(key, str) else None
        if t is None or not t.get("error"):
            try:
                raw = base64.b64decode((obj or {}).get("value_base64") or "")
            except ValueError:
                raw = b""
            queue = by_digest.get(hashlib.sha256(raw).hexdigest())
            t = by_id[queue.pop(0)] if queue else None
        if t is None or not t.get("error") or t["enrollment_id"] in found:
            ev.unexpected_dead_letters += 1
            ev.note("unexpected_dead_letter", f"key {key}: {code}")
            continue
        found[t["enrollment_id"]] = str(code)
    return found


def _lines(path: Path) -> Iterable[bytes]:
    try:
        with Path(path).open("rb") as fh:
            yield from fh
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc}") from None


def evaluate_files(truth: Path, verdicts: Path, dlq: Path | None = None) -> Evaluation:
    """:func:`evaluate` over files; raises :class:`InputError` when one cannot be read."""
    from streams.sim.population import read_truth  # noqa: PLC0415 (keeps this module light)

    for p in (truth, verdicts, dlq):
        if p is not None and not Path(p).is_file():
            raise InputError(f"no such file: {p}")
    try:  # only the fields the figures need: a million entries stay small
        entries = [{k: t.get(k) for k in _KEEP} for t in read_truth(truth)]
    except orjson.JSONDecodeError as exc:
        raise InputError(f"{truth} is not a truth file (JSON Lines): {exc}") from None
    return evaluate(entries, _lines(verdicts), _lines(dlq) if dlq is not None else None)
