"""One decision and one score per enrollment pair, from whichever modalities both records have.

Biometrics decide identity; demographics may move a grey-zone pair, never outvote clear
biometrics. The rules, in order (thresholds in :mod:`streams.matching.thresholds`):

1. Evidence per modality: an iris eye is MATCH (hd <= IRIS_HD_AT_FMR_1E8), GREY (<= the REVIEW
   edge) or CLEAR_MISS (> IRIS_HD_CLEARLY_DIFFERENT); fingers (fused LLR over shared positions)
   likewise against FINGER_LLR_*.
2. A modality that matches while another clearly differs: REVIEW (MODALITY_DISAGREEMENT) — e.g.
   irises match and fingers clearly do not, or the two eyes disagree.
3. A single eye that is the only thing compared must be stronger (IRIS_HD_LONE_EYE_MATCH) or have
   demographic support; else REVIEW (LONE_EYE_EVIDENCE).
4. Any other MATCH: MATCH.
5. Any GREY: MATCH if the demographics strongly agree (DEMOGRAPHIC_SUPPORT), else REVIEW.
6. Otherwise NO_MATCH.

Matching is a cascade: irises (cheap, ~5 microseconds a pair) are compared first, and fingers
(MCC cylinders: ~5 ms to index ten fingers, ~0.8 ms to compare them) only when the irises do not
settle the pair. They settle it when two eyes were compared and both clearly differ: the pair is
then NO_MATCH whatever the fingers say. (Under the full rules, fingers that match there would
make it a REVIEW; two captures of one person cannot put both eyes beyond 0.42, so that can only
be a record whose eyes were mislabelled or mixed up, which the cascade leaves UNIQUE.) Most
candidates found by blocking are impostors with both eyes present, so the cascade spares most
finger work, and a gallery row's fingers are indexed only when some probe needs them.

The fused ``score`` is the posterior probability of "same person" at a prior of 1e-7 per
comparison, from log10 likelihood ratios: each eye's impostor tail (Daugman's binomial, 249
degrees of freedom), the fingers' LLR, and the demographic log-odds capped at +-3 decades.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np


from streams.decide.graph import MATCH, NO_MATCH, REVIEW, Edge
from streams.domain.types import Enrollment, FingerView, IrisTemplate
from streams.matching import demographic, finger, iris
from streams.matching import thresholds as T
from streams.matching.quality import finger_usable, iris_usable

#: Daugman's impostor model: fractional HD ~ binomial(N, 0.5)/N with N = 249 degrees of freedom.
IMPOSTOR_DOF = 249
#: Demographic evidence is capped at this many decades either way.
DEMOGRAPHIC_MAX_DECADES = 3.0


class IrisSide:
    """One eye of a prepared enrollment: its template, its gallery-side words (packed once), and
    its probe-side rotations (packed on first use as a probe: a gallery row rarely needs them)."""

    __slots__ = ("template", "code_words", "mask_words", "_probe")

    def __init__(self, template: IrisTemplate) -> None:
        self.template = template
        self.code_words, self.mask_words = iris.to_words(template)
        self._probe: iris.IrisProbe | None = None

    @property
    def probe(self) -> iris.IrisProbe:
        if self._probe is None:
            self._probe = iris.prepare_probe(self.template)
        return self._probe

    def release_probe(self) -> None:
        self._probe = None


class Prepared:
    """An enrollment indexed for comparison: irises and demographics at once, fingers on first
    use (the cascade often needs none)."""

    __slots__ = ("enrollment_id", "nik", "irises", "demo", "_views", "_fingers")

    def __init__(self, enrollment_id: str, nik: str, irises: dict[str, IrisSide],
                 views: Sequence[FingerView], demo: demographic.DemoFeatures) -> None:
        self.enrollment_id = enrollment_id
        self.nik = nik
        self.irises = irises
        self.demo = demo
        self._views = tuple(views)
        self._fingers: tuple[finger.FingerFeatures, ...] | None = None

    def release_probe(self) -> None:
        """Drop the probe-side iris rotations (rebuilt on next use as a probe)."""
        for side in self.irises.values():
            side.release_probe()

    @property
    def has_fingers(self) -> bool:
        return bool(self._views)

    @property
    def fingers(self) -> tuple[finger.FingerFeatures, ...]:
        if self._fingers is None:
            self._fingers = tuple(finger.prepare(f) for f in self._views)
        return self._fingers


def prepare(e: Enrollment) -> Prepared:
    irises = {t.eye: IrisSide(t) for t in e.irises if iris_usable(t)}
    views = [f for f in e.fingers if finger_usable(f)]
    return Prepared(e.enrollment_id, e.nik, irises, views,
                    demographic.prepare(e.demographics, e.nik))


def irises_settle(iris_hd: dict[str, float]) -> bool:
    """Two eyes compared and both clearly different: fingers cannot change the decision."""
    return len(iris_hd) == 2 and all(h > T.IRIS_HD_CLEARLY_DIFFERENT for h in iris_hd.values())


def impostor_log10_tail(hd: float) -> float:
    """-log10 P(impostor HD <= hd) under the binomial model (normal approximation with the
    continuity correction, evaluated in log space so deep tails do not underflow)."""
    n = IMPOSTOR_DOF
    z = (hd * n + 0.5 - 0.5 * n) / math.sqrt(0.25 * n)
    if z > -1.0:
        return -math.log10(max(0.5 * math.erfc(-z / math.sqrt(2)), 1e-300))
    # Mills ratio asymptotic for the lower tail
    return -(-0.5 * z * z - math.log(-z * math.sqrt(2 * math.pi))) / math.log(10)


@dataclass(frozen=True, slots=True)
class PairEvidence:
    iris_hd: dict[str, float]  # eye -> normalised HD, only eyes scored
    finger: finger.FusedFingerScore | None
    demographic: float


def _iris_scores(probe: Prepared, cands: Sequence[Prepared]) -> list[dict[str, float]]:
    out: list[dict[str, float]] = [{} for _ in cands]
    for eye, side in probe.irises.items():
        shape = side.template.shape
        rows = [i for i, c in enumerate(cands)
                if eye in c.irises and c.irises[eye].template.shape == shape]
        if not rows:
            continue
        block = iris.IrisBlock(eye, tuple(int(d) for d in shape),
                               np.stack([cands[i].irises[eye].code_words for i in rows]),
                               np.stack([cands[i].irises[eye].mask_words for i in rows]))
        hd = iris.score_many(side.probe, block).hd_norm
        for i, h in zip(rows, hd):
            if not math.isnan(h):
                out[i][eye] = float(h)
    return out


def evidence_many(probe: Prepared, cands: Sequence[Prepared], *, cascade: bool = True
                  ) -> list[PairEvidence]:
    """Every modality's score for the probe against each candidate; with ``cascade`` (the
    engine's way), no finger score where the irises settle the pair (see the module docstring).
    """
    if not cands:
        return []
    irises = _iris_scores(probe, cands)
    demo = demographic.score_many(probe.demo, [c.demo for c in cands],
                                  model=demographic.MODEL_WITHOUT_NIK)
    out = []
    for i, c in enumerate(cands):
        fused = None
        if probe.has_fingers and c.has_fingers and not (cascade and irises_settle(irises[i])):
            fused = finger.fuse_enrollments(probe.fingers, c.fingers)
            if fused.fingers == 0:
                fused = None
        out.append(PairEvidence(irises[i], fused, float(demo[i])))
    return out


def decide_pair(ev: PairEvidence) -> tuple[str, tuple[str, ...]]:
    """The pair's decision and its reason codes (rules in the module docstring)."""
    match: list[str] = []
    grey: list[str] = []
    miss: list[str] = []
    for eye, hd in sorted(ev.iris_hd.items()):
        if hd <= T.IRIS_HD_AT_FMR_1E8:
            match.append(f"IRIS_{eye}")
        elif hd <= T.IRIS_HD_AT_FMR_4E6:
            grey.append(f"IRIS_{eye}")
        elif hd > T.IRIS_HD_CLEARLY_DIFFERENT:
            miss.append(f"IRIS_{eye}")
    if ev.finger is not None:
        llr = ev.finger.llr
        if llr >= T.FINGER_LLR_MATCH and ev.finger.fingers >= T.FINGER_MIN_FOR_MATCH:
            match.append("FINGER")
        elif llr >= T.FINGER_LLR_REVIEW:
            grey.append("FINGER")
        elif llr < T.FINGER_LLR_CLEARLY_DIFFERENT:
            miss.append("FINGER")
    if match and miss:
        return REVIEW, ("MODALITY_DISAGREEMENT",)
    if match == ["IRIS_" + e for e in ev.iris_hd] and len(ev.iris_hd) == 1 and ev.finger is None:
        # One eye and nothing else compared: nothing could contradict it, so it must be stronger
        # (docs/calibration.md: 0.31 alone is ~5e-8 per comparison, too weak at 10^7 people).
        if next(iter(ev.iris_hd.values())) <= T.IRIS_HD_LONE_EYE_MATCH:
            return MATCH, ()
        if ev.demographic >= T.DEMOGRAPHIC_SUPPORT:
            return MATCH, ("DEMOGRAPHIC_SUPPORT",)
        return REVIEW, ("LONE_EYE_EVIDENCE",)
    if match:
        return MATCH, ()
    if grey and not miss:
        if ev.demographic >= T.DEMOGRAPHIC_SUPPORT:
            return MATCH, ("DEMOGRAPHIC_SUPPORT",)
        return REVIEW, ("BIOMETRIC_GREY_ZONE",)
    if grey:
        return REVIEW, ("MODALITY_DISAGREEMENT",)
    return NO_MATCH, ()


def fused_score(ev: PairEvidence) -> float:
    """Posterior probability of "same person" at the 1e-7 prior, in [0, 1]."""
    decades = sum(impostor_log10_tail(h) for h in ev.iris_hd.values())
    if ev.finger is not None:
        decades += ev.finger.llr / math.log(10)
    p = min(max(ev.demographic, 1e-12), 1 - 1e-12)
    demo_decades = math.log10(p / (1 - p)) - math.log10(1 / 1023)  # remove its own 1/1024 prior
    decades += max(-DEMOGRAPHIC_MAX_DECADES, min(DEMOGRAPHIC_MAX_DECADES, demo_decades))
    x = decades + T.FUSED_PRIOR_LOG10_ODDS
    if x > 30:
        return 1.0
    if x < -30:
        return 0.0
    return 1.0 / (1.0 + 10 ** (-x))


def compare(probe: Prepared, cands: Sequence[Prepared]) -> list[Edge | None]:
    """One edge per candidate: MATCH or REVIEW evidence, NO_MATCH kept only when both records
    carry the same NIK (it is the evidence of a NIK_CONFLICT), else None."""
    out: list[Edge | None] = []
    for c, ev in zip(cands, evidence_many(probe, cands)):
        decision, reasons = decide_pair(ev)
        if decision == NO_MATCH and c.nik != probe.nik:
            out.append(None)
            continue
        iris_best = min(ev.iris_hd.values()) if ev.iris_hd else None
        out.append(Edge(decision, round(fused_score(ev), 6),
                        round(iris_best, 4) if iris_best is not None else None,
                        round(ev.finger.score, 4) if ev.finger is not None else None,
                        round(ev.demographic, 4), reasons))
    return out


__all__ = ["Prepared", "PairEvidence", "compare", "decide_pair", "evidence_many", "fused_score",
           "irises_settle", "prepare"]
