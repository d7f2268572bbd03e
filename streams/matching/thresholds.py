"""Operating points of the decision, named by what they mean. Changing one changes verdicts, so
it is a new engine version (``streams.ENGINE``), never a deployment setting.

Measurements behind each number: docs/iris.md, docs/finger.md, docs/demographics.md and
docs/calibration.md.
"""

from __future__ import annotations

from streams.matching.iris import IRIS_HD_MATCH, IRIS_HD_REVIEW

#: Iris, normalised fractional Hamming distance (lower is closer), one eye.
#: MATCH at 0.31: 1 in 185 million per comparison by Daugman's table. Measured (docs/calibration.md,
#: benchmarks/comparators.py): none of 1,974,118 synthetic impostor eyes at or below 0.33 (lowest
#: 0.3316); a log-linear fit of the measured tail (0.35-0.40) gives 5.4e-8 per eye at 0.31, so the
#: name's "1e-8" holds by Daugman's table only; the fusion keeps a lone eye's MATCH safe by the
#: disagreement rule (the other eye or the fingers clearly differ for 99.96% of impostors).
#: Single-eye FNMR on 5,878 synthetic genuine eyes: 0.8%.
IRIS_HD_AT_FMR_1E8 = IRIS_HD_MATCH
#: A lone eye (no other modality compared) must be at least this close to MATCH on its own:
#: 0.28 is about 1e-11 by Daugman's table and about 1e-9 on the synthetic tail line (3.7x per
#: 0.01 from 5.4e-8 at 0.31), so FPIR stays under 1% even for an exhaustive 10^7 search.
IRIS_HD_LONE_EYE_MATCH = 0.28
#: REVIEW band upper edge, 0.33: 1 in 4 million per comparison by Daugman's table; 6.7e-7 per eye
#: by the fitted synthetic tail. 0.6% of genuine eyes fall in (0.31, 0.33].
IRIS_HD_AT_FMR_4E6 = IRIS_HD_REVIEW
#: Above this an eye "clearly differs": 97.8% of impostor eyes are above it, no genuine eye of
#: 5,878 was (genuine 99.9th percentile 0.344, maximum 0.366).
IRIS_HD_CLEARLY_DIFFERENT = 0.42

#: Fingers: the fused log-likelihood ratio (natural log) summed over the positions both records
#: have, each finger clipped to [-3, 8] (streams/matching/finger.py). A finger-only MATCH needs at
#: least three strongly matching fingers (8 + 8 + 4): two impostor fingers in their 1e-4 tails
#: are not enough. Measured (docs/calibration.md): 2,000 end-to-end impostor enrollment pairs,
#: highest fused LLR -17.2; 3,000 genuine pairs, lowest +27.7 (1st percentile +47.9). Convolving
#: the measured per-finger impostor LLR distribution (9,920 real comparisons, one pseudo-count at
#: +8) gives P(LLR >= 20) = 1.0e-11 for three shared fingers and 2.4e-16 for ten.
FINGER_LLR_MATCH = 20.0
#: P(impostor LLR >= 12): 3.3e-8 for three fingers, 1.2e-13 for ten (same convolution).
FINGER_LLR_REVIEW = 12.0
#: Below this the fingers "clearly differ": several fingers confidently do not match. 1.1% of
#: 10^6 impostor pairs are not below it (mostly pairs without finger evidence); no genuine pair
#: came near it.
FINGER_LLR_CLEARLY_DIFFERENT = -8.0
#: At least this many fingers must be compared for a finger-only MATCH.
FINGER_MIN_FOR_MATCH = 3

#: Demographic similarity (posterior at a 1/1024 prior, NIK ignored) that can lift a grey-zone
#: biometric pair to MATCH. It can never lower a clear biometric MATCH nor raise a clear miss.
#: Measured: 99.97% of 3,000 genuine pairs (names respelled half the time) reach it; 139 of
#: 1,002,896 impostor pairs (1.4e-4, twins and relatives in the population) do; with every
#: impostor given twin-level demographics (1.0) there is still no false MATCH among them.
DEMOGRAPHIC_SUPPORT = 0.99

#: Prior log10-odds of "same person" for one comparison in the fused score: 1e-7.
FUSED_PRIOR_LOG10_ODDS = -7.0
