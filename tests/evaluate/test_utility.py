import math

import pytest

from synthlib.config import AlsConf, EvaluateConf
from synthlib.evaluate.utility import als_blocks, popular_items, recommend_als, recommend_knn, score, score_all, test_examples as examples_of, utility
from tests.helpers import log

CONF = EvaluateConf(k=2, history_items=2, sparse_sessions=2, als=AlsConf(rank=4, iterations=15, reg=0.01, blocks=2))
# The whole-utility checks compare logs with themselves or with disjoint ones: the ratios do
# not depend on how far ALS converges, so it takes two iterations there.
QUICK = CONF.model_copy(update={"als": CONF.als.model_copy(update={"iterations": 2})})


def _recs(spark, rows):
    return spark.createDataFrame(rows, "example string, item string, rank int")


def _examples(spark, rows):
    return spark.createDataFrame(rows, "example string, history array<string>, targets array<string>")


def test_scores_by_hand(spark):
    examples = _examples(spark, [("e1", ["h"], ["a", "b"]), ("e2", ["h"], ["c"])])
    recs = _recs(spark, [("e1", "a", 1), ("e1", "z", 2), ("e1", "b", 3), ("e2", "x", 1)])
    got = score(recs, examples, k=3)
    ndcg_e1 = (1 / math.log2(2) + 1 / math.log2(4)) / (1 / math.log2(2) + 1 / math.log2(3))
    assert got == pytest.approx({"recall": 0.5, "ndcg": ndcg_e1 / 2, "hit_rate": 0.5, "examples": 2})


def test_several_recommenders_scored_at_once_and_within_a_subset(spark):
    examples = spark.createDataFrame([("e1", ["h"], ["a", "b"], True), ("e2", ["h"], ["c"], False)],
                                     "example string, history array<string>, targets array<string>, sparse boolean")
    recs = {"one": _recs(spark, [("e1", "a", 1), ("e2", "c", 1)]), "none": _recs(spark, [("e1", "z", 1)])}
    got = score_all(recs, examples, k=3, within="sparse")
    ndcg_e1 = 1 / (1 + 1 / math.log2(3))  # e1's one hit at rank 1, of two targets; e2's ndcg is 1
    assert got["one"]["all"] == pytest.approx({"recall": 0.75, "ndcg": (ndcg_e1 + 1) / 2, "hit_rate": 1.0, "examples": 2})
    assert got["one"]["sparse"] == pytest.approx({"recall": 0.5, "ndcg": ndcg_e1, "hit_rate": 1.0, "examples": 1})
    assert got["none"]["all"]["recall"] == 0.0 and got["none"]["sparse"]["examples"] == 1


def test_examples_split_held_out_sessions(spark):
    train = log(spark, [("u1", "t1", 0, "view", "a"), ("u1", "t2", 100, "view", "b"), ("u1", "t3", 200, "view", "c"),
                        ("u2", "t4", 0, "view", "a")])
    test = log(spark, [("u1", "s1", 900, "view", "p"), ("u1", "s1", 901, "view", "q"), ("u1", "s1", 902, "view", "r"),
                       ("u1", "s1", 903, "view", "b"), ("u2", "s2", 900, "view", "x"), ("u2", "s2", 901, "view", "a"),
                       ("u3", "s3", 900, "view", "y")])
    got = {r["example"]: r for r in examples_of(train, test, CONF, seed=1).collect()}
    # s1: first half p, q plus u1's two latest training items b, c; b comes back later.
    assert got["s1"]["history"] == ["b", "c", "p", "q"] and got["s1"]["targets"] == ["r"]
    assert not got["s1"]["sparse"]  # three training sessions
    # s2: its later item was already in the history; s3 has no second half.
    assert set(got) == {"s1"}


def _clusters(spark):
    rows = []
    for u in range(12):
        group = "a" if u < 6 else "b"
        for j in range(4):
            if (u + j) % 4 != 3:  # each user skips one item of the group
                rows.append((f"u{u}", f"s{u}", j, "view", f"{group}{j}"))
    return log(spark, rows)


def test_knn_recommends_co_visited_items(spark):
    train = log(spark, [("u1", "s1", 0, "view", "a"), ("u1", "s1", 1, "view", "b"), ("u2", "s2", 0, "view", "a"),
                        ("u2", "s2", 1, "view", "b"), ("u3", "s3", 0, "view", "a"), ("u3", "s3", 1, "view", "c"),
                        ("u4", "s4", 0, "view", "d"), ("u4", "s4", 1, "view", "d2")])
    examples = _examples(spark, [("e", ["a"], ["b"])])
    recs = recommend_knn(examples, train, popular_items(train, 5), CONF).orderBy("rank").collect()
    assert [r["item"] for r in recs] == ["b", "c"]  # cosine 2/sqrt(6) above 1/sqrt(3)
    fill = recommend_knn(examples, train, popular_items(train, 5), CONF.model_copy(update={"k": 3}))
    assert fill.count() == 3  # the third from the popular items


def test_the_ceilings_are_the_kept_pairs_and_released_items_over_the_real_log(spark):
    # a-b held by two users, a-c by one: at a 2-user floor the test session a -> c is lost.
    train = log(spark, [("u1", "s1", 0, "view", "a"), ("u1", "s1", 1, "view", "b"), ("u2", "s2", 0, "view", "a"),
                        ("u2", "s2", 1, "view", "b"), ("u3", "s3", 0, "view", "a"), ("u3", "s3", 1, "view", "c"),
                        ("u3", "s3", 2, "view", "d")])
    test = log(spark, [("v1", "x", 900, "view", "a"), ("v1", "x", 901, "view", "b"),
                       ("v2", "y", 900, "view", "c"), ("v2", "y", 901, "view", "d")])
    one = QUICK.model_copy(update={"k": 1})
    result = utility(train, test, {"copy": train}, one, seed=3, pair_floor=2)
    assert result["scores"]["real"]["knn"]["recall"] == 1.0
    assert result["knn_ceiling"]["pair_floor"] == 2 and result["knn_ceiling"]["recall"] == pytest.approx(0.5)
    assert "knn_ceiling" not in utility(train, test, {}, one, seed=3)  # no floor, no ceiling
    # a DP release that kept a and b only: the test session c -> d is out of reach
    released = spark.createDataFrame([("a",), ("b",)], "item_id string")
    result = utility(train, test, {"copy": train}, one, seed=3, released=released)
    assert result["dp_ceiling"]["knn"]["recall"] == pytest.approx(0.5) and set(result["dp_ceiling"]) == {"knn", "als"}


def test_als_folds_in_a_history(spark):
    train = _clusters(spark)
    examples = _examples(spark, [("e", ["a0", "a1"], ["a2"]), ("f", ["b1", "b2"], ["b3"])])
    recs = {(r["example"], r["item"]) for r in recommend_als(examples, train, popular_items(train, 8), CONF, 7).collect()}
    assert recs == {("e", "a2"), ("e", "a3"), ("f", "b0"), ("f", "b3")}


@pytest.mark.slow
def test_ratio_is_one_for_a_copy_and_zero_for_other_items(spark):
    train = _clusters(spark)
    test = log(spark, [("v1", "x", 900, "view", "a0"), ("v1", "x", 901, "view", "a1"),
                       ("v2", "y", 900, "view", "b2"), ("v2", "y", 901, "view", "b1")])  # new users: sparse
    disjoint = log(spark, [(f"w{u}", f"w{u}", j, "view", f"z{(u + j) % 5}") for u in range(6) for j in range(3)])
    result = utility(train, test, {"copy": train, "disjoint": disjoint}, QUICK, seed=3, augment=train)
    assert result["examples"] == 2
    assert result["ratios"]["copy"] == {"knn": pytest.approx({"recall": 1.0, "ndcg": 1.0, "hit_rate": 1.0}),
                                        "als": pytest.approx({"recall": 1.0, "ndcg": 1.0, "hit_rate": 1.0})}
    # A log of other items can only recommend those: the worst ratio.
    assert result["ratios"]["disjoint"] == {"knn": {"recall": 0.0, "ndcg": 0.0, "hit_rate": 0.0},
                                            "als": {"recall": 0.0, "ndcg": 0.0, "hit_rate": 0.0}}
    assert result["augmentation"]["sparse_examples"] == 2
    assert result["augmentation"]["real"] == result["scores"]["real"]  # every example is sparse
    assert set(result["scores"]) == {"popularity", "real", "copy", "disjoint"}


def test_als_blocks_follow_the_log_size():
    assert [als_blocks(n) for n in (0, 7, 100_000, 100_001, 450_000, 10**9)] == [1, 1, 1, 2, 5, 10]
