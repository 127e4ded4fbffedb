import pytest

from synthlib.evaluate.fidelity import compare, describe, funnel_rates, ks, price_by_category, total_variation, transition_l1
from tests.helpers import log


def test_distances_by_hand():
    p, q = {1: 0.5, 2: 0.5}, {2: 0.25, 3: 0.75}
    assert total_variation(p, q) == pytest.approx(0.75)  # (0.5 + 0.25 + 0.75) / 2
    assert ks(p, q) == pytest.approx(0.75)  # cdfs 0.5/0 at 1, 1/0.25 at 2
    assert total_variation(p, p) == ks(p, p) == 0.0


def test_transition_l1_by_hand():
    real = {"view": {"view": 3, "cart": 1}, "cart": {"purchase": 4}}  # rows weigh 4/8 and 4/8
    synthetic = {"view": {"view": 1, "cart": 1}, "cart": {"view": 2}}
    # view row: |0.75 - 0.5| + |0.25 - 0.5| = 0.5, halved 0.25; cart row: disjoint, 1.
    assert transition_l1(real, synthetic) == pytest.approx(0.5 * 0.25 + 0.5 * 1.0)
    assert transition_l1(real, real) == 0.0


def test_price_by_category_by_hand():
    real = {"a": (30, 10.0), "b": (10, 100.0), "c": (5, None)}
    synthetic = {"a": (1, 12.0), "b": (1, 400.0)}
    # a: |12 - 10| / 10 = 0.2, weight 30/40; b: capped at 1, weight 10/40; c has no price.
    assert price_by_category(real, synthetic) == pytest.approx(0.75 * 0.2 + 0.25 * 1.0)


def test_funnel_rates_by_hand(spark):
    rows = [("u", "s1", 0, "view", "a"), ("u", "s1", 1, "cart", "a"), ("u", "s1", 2, "purchase", "a"),
            ("u", "s2", 0, "view", "b"), ("u", "s2", 1, "cart", "b"),
            ("u", "s3", 0, "view", "c"), ("u", "s4", 0, "click", "d")]
    rates = funnel_rates(log(spark, rows))
    assert rates == pytest.approx({"cart_given_view": 2 / 4, "purchase_given_cart": 1 / 2, "purchase_given_view": 1 / 4})


ROWS = [("u1", "s1", 0, "view", "a", "x", 5.0), ("u1", "s1", 1, "cart", "b", "x", 7.0),
        ("u1", "s1", 2, "purchase", "b", "x", 7.0), ("u2", "s2", 600, "view", "a", "x", 5.0),
        ("u2", "s2", 601, "view", "c", "y", 9.0), ("u3", "s3", 1500, "view", "b", "x", 7.0),
        ("u3", "s3", 1502, "view", "a", "x", 5.0)]


def _compare(spark, real_rows, synthetic_rows):
    real, synthetic = describe(log(spark, real_rows)), describe(log(spark, synthetic_rows))
    try:
        return compare(real, synthetic)
    finally:
        real.release()
        synthetic.release()


def test_identical_logs_score_zero(spark):
    described = describe(log(spark, ROWS))
    try:
        metrics, figures = compare(described, described)  # a log against itself
    finally:
        described.release()
    assert set(metrics) >= {"item_rank_frequency_ks", "events_per_user_ks", "funnel_difference", "transition_l1",
                            "day_of_week_tv", "gap_ks", "category_tv", "price_by_category",
                            "covisit_neighbour_distance"}
    assert all(v == pytest.approx(0.0) for v in metrics.values()), metrics
    assert figures["funnel"][0] == figures["funnel"][1]


def test_disjoint_logs_score_worst(spark):
    synthetic = [("x", "t1", 9 * 60 + 3 * 1440, "cart", "p", "z", 1.0), ("x", "t1", 9 * 60 + 3 * 1440, "cart", "q", "z", 1.0)]
    real = [("u1", "s1", 0, "view", "a", "x", 5.0), ("u2", "s2", 1, "view", "b", "y", 6.0),
            ("u2", "s2", 2, "view", "a", "x", 5.0)]
    m, _ = _compare(spark, real, synthetic)
    for name in ("item_popularity_tv", "event_mix_tv", "hour_of_day_tv", "day_of_week_tv", "category_tv",
                 "covisit_neighbour_distance", "transition_l1", "price_by_category"):
        assert m[name] == pytest.approx(1.0), name
    assert m["session_length_ks"] == pytest.approx(0.5)  # real sessions 1 and 2 long; synthetic 2
