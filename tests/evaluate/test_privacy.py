import pytest

from synthlib.evaluate.privacy import auc, distances, histogram, median, verbatim_copies
from tests.helpers import log


def _sessions(prefix, item_lists, minute=0):
    return [(f"{prefix}{n}", f"{prefix}{n}", minute + i, "view", item)
            for n, items in enumerate(item_lists) for i, item in enumerate(items)]


TRAIN = [["a", "b", "c"], ["d", "e", "f", "g"], ["h", "i", "j"], ["k", "l", "m"], ["n", "o"]]


def test_auc_median_histogram_by_hand():
    # Pairs: 0.9>0.5, 0.9>0.1, 0.5=0.5 (half), 0.5>0.1: 3.5 of 4.
    assert auc({0.9: 1, 0.5: 1}, {0.5: 1, 0.1: 1}) == pytest.approx(0.875)
    assert auc({0.5: 3}, {0.5: 2}) == pytest.approx(0.5)
    assert median({0.0: 1, 0.4: 1, 1.0: 3}) == 1.0 and median({0.2: 2, 0.7: 1}) == 0.2
    assert histogram({0.05: 1, 0.55: 2, 1.0: 1}) == pytest.approx([0.25, 0, 0, 0, 0, 0.5, 0, 0, 0, 0.25])


def test_verbatim_copies_counted_exactly(spark):
    train = log(spark, _sessions("r", TRAIN))
    # Two exact copies, one reordered (not a copy), one short copy (under 3 events, not counted).
    synthetic = log(spark, _sessions("synthetic:", [["a", "b", "c"], ["h", "i", "j"], ["e", "d", "f", "g"], ["n", "o"]]))
    assert verbatim_copies(train, synthetic) == {"sessions": 3, "copies": 2, "share": pytest.approx(2 / 3)}
    assert verbatim_copies(train, train)["share"] == 1.0


def test_copying_synthesizer_is_caught(spark):
    train = log(spark, _sessions("r", TRAIN))
    held = log(spark, _sessions("h", [["a", "b", "x"], ["d", "e", "z"], ["k", "l", "w"]], minute=5000))
    copies = log(spark, _sessions("synthetic:", TRAIN))
    leak = distances(train, held, copies, members=train, non_members=held, seed=1, records=100)
    assert leak["dcr_median_synthetic"] == 0.0 and leak["dcr_exact_share_synthetic"] == 1.0
    # Items unseen in training are dropped from held-out sessions: {a, b} against {a, b, c}
    # is 1 - 2/3, {d, e} against {d, e, f, g} is 1 - 2/4.
    assert leak["dcr_median_holdout"] == pytest.approx(0.3333, abs=1e-4)
    assert leak["records"] == {"synthetic": 5, "holdout": 3, "members": 3, "non_members": 3}
    assert leak["mia_auc"] == 1.0  # every member sits on a synthetic copy
    fresh = log(spark, _sessions("synthetic:", [["p", "q", "r"], ["s", "t", "u"]]))
    safe = distances(train, held, fresh, members=train, non_members=held, seed=1, records=100)
    assert safe["dcr_median_synthetic"] == 1.0 and safe["mia_auc"] == pytest.approx(0.5)
