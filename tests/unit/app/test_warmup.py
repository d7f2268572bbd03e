"""The worker's warm-up reaches every compiled path: decoding, blocking keys, and a comparison
with the finger path included."""

from streams.app.warmup import synthetic_pair, warm_up
from streams.blocking.keys import keys_for
from streams.matching import fusion


def test_the_synthetic_pair_exercises_keys_and_every_modality():
    first, second = synthetic_pair()
    assert len(first.fingers) == 10 and len(first.irises) == 2
    keys = set(keys_for(first))
    assert any(k.startswith("fp:") for k in keys) and any(k.startswith("ir:") for k in keys)
    [ev] = fusion.evidence_many(fusion.prepare(first), [fusion.prepare(second)], cascade=False)
    assert ev.finger is not None and ev.finger.fingers > 0
    assert set(ev.iris_hd) == {"R", "L"} and max(ev.iris_hd.values()) < 0.1


def test_warm_up_reports_its_time():
    assert warm_up() > 0
