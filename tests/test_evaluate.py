from datetime import datetime

import pytest

from synthlib.evaluate import compare, ks, total_variation


def test_distances_by_hand():
    p, q = {1: 0.5, 2: 0.5}, {2: 0.25, 3: 0.75}
    assert total_variation(p, q) == pytest.approx(0.75)  # (0.5 + 0.25 + 0.75) / 2
    assert ks(p, q) == pytest.approx(0.75)  # cdfs 0.5/0 at 1, 1/0.25 at 2
    assert total_variation(p, p) == ks(p, p) == 0.0


def _frame(spark, rows):
    return spark.createDataFrame(
        [(u, s, datetime(2024, 1, 1, h), t, i) for u, s, h, t, i in rows],
        "user_id string, session_id string, ts timestamp, event_type string, item_id string")


def test_identical_logs_score_zero(spark):
    rows = [("u1", "s1", 9, "view", "a"), ("u1", "s1", 9, "cart", "a"), ("u2", "s2", 14, "view", "b")]
    result = compare(_frame(spark, rows), _frame(spark, rows))
    assert all(v == pytest.approx(0.0) for v in result["metrics"].values()), result["metrics"]


def test_disjoint_logs_score_worst(spark):
    real = _frame(spark, [("u1", "s1", 9, "view", "a"), ("u1", "s1", 9, "view", "b")])
    synthetic = _frame(spark, [("x", "t1", 20, "cart", "c"), ("y", "t2", 21, "cart", "d")])
    m = compare(real, synthetic)["metrics"]
    assert m["item_popularity_tv"] == pytest.approx(1.0)
    assert m["event_mix_tv"] == pytest.approx(1.0)
    assert m["hour_of_day_tv"] == pytest.approx(1.0)
    assert m["session_length_ks"] == pytest.approx(1.0)  # every real session 2 long, synthetic 1
