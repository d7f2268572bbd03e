"""The fusion rules on hand-made evidence: biometrics decide, demographics only move the grey
zone, disagreeing modalities go to a person."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.decide.graph import MATCH, NO_MATCH, REVIEW
from streams.matching import thresholds as T
from streams.matching.finger import FusedFingerScore
from streams.matching.fusion import PairEvidence, decide_pair, fused_score, impostor_log10_tail

CLOSE_EYE = T.IRIS_HD_AT_FMR_1E8 - 0.05
GREY_EYE = (T.IRIS_HD_AT_FMR_1E8 + T.IRIS_HD_AT_FMR_4E6) / 2
FAR_EYE = 0.48


def fingers(llr: float, n: int = 4) -> FusedFingerScore:
    return FusedFingerScore(1 / (1 + math.exp(-llr)), llr, n)


def ev(iris=None, finger=None, demo=0.5) -> PairEvidence:
    return PairEvidence(iris or {}, finger, demo)


def test_clear_iris_match_is_a_match_whatever_the_demographics():
    assert decide_pair(ev({"R": CLOSE_EYE, "L": CLOSE_EYE}, demo=0.0))[0] == MATCH


def test_clear_biometric_miss_is_never_lifted_by_demographics():
    assert decide_pair(ev({"R": FAR_EYE, "L": FAR_EYE}, fingers(-20), demo=1.0))[0] == NO_MATCH


def test_grey_zone_is_moved_by_strong_demographics_only():
    assert decide_pair(ev({"R": GREY_EYE}, demo=0.999))[0] == MATCH
    decision, reasons = decide_pair(ev({"R": GREY_EYE}, demo=0.5))
    assert decision == REVIEW and reasons == ("BIOMETRIC_GREY_ZONE",)


def test_irises_match_but_fingers_clearly_differ_goes_to_review():
    decision, reasons = decide_pair(ev({"R": CLOSE_EYE, "L": CLOSE_EYE}, fingers(-30)))
    assert decision == REVIEW and reasons == ("MODALITY_DISAGREEMENT",)


def test_eyes_that_disagree_go_to_review():
    assert decide_pair(ev({"R": CLOSE_EYE, "L": FAR_EYE}))[0] == REVIEW


def test_finger_only_match_needs_enough_fingers():
    assert decide_pair(ev(finger=fingers(T.FINGER_LLR_MATCH + 1, n=4)))[0] == MATCH
    assert decide_pair(ev(finger=fingers(T.FINGER_LLR_MATCH + 1, n=1)))[0] != MATCH


def test_nothing_compared_is_no_match():
    assert decide_pair(ev())[0] == NO_MATCH


@given(st.floats(0.0, 0.6), st.floats(0.0, 0.6))
def test_impostor_tail_is_monotone_and_positive(a, b):
    lo, hi = sorted((a, b))
    assert impostor_log10_tail(lo) >= impostor_log10_tail(hi) - 1e-9
    assert impostor_log10_tail(hi) >= 0.0


def test_impostor_tail_near_daugmans_table():
    # Daugman: HD 0.33 -> about 1 in 4 million; 0.30 -> 1 in 1.5 billion (binomial, 249 dof)
    assert 5.5 < impostor_log10_tail(0.33) < 7.5
    assert 8.0 < impostor_log10_tail(0.30) < 10.5


@given(st.floats(0.0, 0.6), st.floats(-30, 30), st.floats(0, 1))
def test_fused_score_in_unit_interval(hd, llr, demo):
    s = fused_score(ev({"R": hd}, fingers(llr), demo))
    assert 0.0 <= s <= 1.0


def test_fused_score_grows_with_evidence():
    weak = fused_score(ev({"R": 0.40}))
    strong = fused_score(ev({"R": 0.20}))
    assert strong > weak
    assert fused_score(ev({"R": 0.2, "L": 0.2}, fingers(20))) == pytest.approx(1.0)


def test_a_lone_eye_must_be_stronger_or_supported():
    lone = (T.IRIS_HD_LONE_EYE_MATCH + T.IRIS_HD_AT_FMR_1E8) / 2
    decision, reasons = decide_pair(ev({"L": lone}, demo=0.5))
    assert decision == REVIEW and reasons == ("LONE_EYE_EVIDENCE",)
    assert decide_pair(ev({"L": T.IRIS_HD_LONE_EYE_MATCH - 0.01}, demo=0.5))[0] == MATCH
    assert decide_pair(ev({"L": lone}, demo=0.999))[0] == MATCH
    # the same eye with fingers that agree is an ordinary match
    assert decide_pair(ev({"L": lone}, fingers(5.0)))[0] == MATCH
