"""Operating points of the decision, named by what they mean. Changing one changes verdicts, so
it is a new engine version (``streams.ENGINE``), never a deployment setting.

Measurements behind each number: docs/iris.md, docs/finger.md, docs/demographics.md and
docs/calibration.md.
"""

from __future__ import annotations

from streams.matching.iris import IRIS_HD_MATCH, IRIS_HD_REVIEW

#: Iris, normalised fractional Hamming distance (lower is closer), one eye.
#: MATCH at 0.31: 1 in 185 million per comparison by Daugman's table; single-eye FNMR ~2%.
IRIS_HD_AT_FMR_1E8 = IRIS_HD_MATCH
#: REVIEW band upper edge, 0.33: 1 in 4 million per comparison.
IRIS_HD_AT_FMR_4E6 = IRIS_HD_REVIEW
#: Above this an eye "clearly differs": an impostor sits here half the time, a genuine capture
#: (synthetic genuine HD 0.05-0.3) almost never.
IRIS_HD_CLEARLY_DIFFERENT = 0.42

#: Fingers: the fused log-likelihood ratio (natural log) summed over the positions both records
#: have, each finger clipped to [-3, 8] (streams/matching/finger.py). A finger-only MATCH needs at
#: least three strongly matching fingers (8 + 8 + 4): two impostor fingers in their 1e-4 tails
#: are not enough. Synthetic 10-finger pairs: lowest genuine sum +55, highest impostor -17.
FINGER_LLR_MATCH = 20.0
FINGER_LLR_REVIEW = 12.0
#: Below this the fingers "clearly differ": several fingers confidently do not match.
FINGER_LLR_CLEARLY_DIFFERENT = -8.0
#: At least this many fingers must be compared for a finger-only MATCH.
FINGER_MIN_FOR_MATCH = 3

#: Demographic similarity (posterior at a 1/1024 prior, NIK ignored) that can lift a grey-zone
#: biometric pair to MATCH. It can never lower a clear biometric MATCH nor raise a clear miss.
DEMOGRAPHIC_SUPPORT = 0.99

#: Prior log10-odds of "same person" for one comparison in the fused score: 1e-7.
FUSED_PRIOR_LOG10_ODDS = -7.0
