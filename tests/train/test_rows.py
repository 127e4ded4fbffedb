"""The token encoding of training rows, in Spark, on logs small enough to check by hand."""
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from synthlib.models.tokens import END, build_vocab
from synthlib.schema import EVENTS_DDL
from synthlib.train.rows import encode

T0 = datetime(2024, 3, 4, 10, tzinfo=timezone.utc)


def _log(spark, rows):
    """rows: (user, session, seconds after T0, type, item, category, query, position)."""
    full = [(u, s, datetime.fromtimestamp(T0.timestamp() + t, timezone.utc), e, i, c, None, q, p, None)
            for u, s, t, e, i, c, q, p in rows]
    return spark.createDataFrame(full, EVENTS_DDL)


def _vocab():
    items = pd.DataFrame({"item_id": ["a1", "a2", "a3", "b1"], "category": ["A", "A", "A", "B"],
                          "weight": [10.0, 5.0, 1.0, 4.0], "mean_price": [1.0, 2.0, 3.0, 4.0]})
    return build_vocab(items, ["A", "B"], ["red shoes"], vocab_items=10, max_categories=5, candidates=3,
                       max_position=4)


def test_tokens_of_a_small_log(spark):
    log = _log(spark, [
        ("u1", "s1", 0, "search", None, "A", "red shoes", None),
        ("u1", "s1", 3, "click", "a1", "A", "red shoes", 9),  # position clamped to 4
        ("u1", "s1", 10, "view", "a3", "A", None, None),  # a3 is a tail item of A
        ("u1", "s2", 4000, "view", "b1", "B", None, None),
        ("u2", "s3", 0, "cart", "zz", None, None, None),  # unknown item without category
    ])
    v = _vocab()
    rows = encode(spark, log, v, max_events=3, sessions_per_row=2, validation=0.0, seed=1).toPandas()
    u1 = rows.loc[rows["type"].map(lambda x: int((np.array(x) > 0).sum())).idxmax()]  # the busier user
    L = 4
    typ = np.array(u1["type"]).reshape(2, L)
    assert typ.tolist() == [[1, 2, 3, END], [3, END, 0, 0]]
    gap = np.array(u1["gap"]).reshape(2, L)
    assert gap[0].tolist() == [0, 3, 4, 0]  # 1 + floor(log2(3 + 1)), 1 + floor(log2(7 + 1))
    item = np.array(u1["item"]).reshape(2, L)
    tokens = v.items.set_index("item_id")["token"]
    assert item[0].tolist() == [0, tokens["a1"], v.tail_token(1), 0] and item[1][0] == tokens["b1"]
    assert np.array(u1["pos"]).reshape(2, L)[0].tolist() == [0, 4, 0, 0]
    assert np.array(u1["query"]).reshape(2, L)[0].tolist() == [1, 1, 0, 0]
    assert u1["home_cat"] == 1 and u1["activity"] == 2  # 2 sessions -> floor(log2 2) + 1
    assert np.array(u1["repeat"]).reshape(2, L).sum() == 0
    u2 = rows[rows["user_key"] != u1["user_key"]].iloc[0]
    assert np.array(u2["item"])[0] == v.tail_token(0) and np.array(u2["cat"])[0] == 0


def test_long_sessions_are_cut_and_users_split_into_rows(spark):
    log = _log(spark, [("u", f"s{k}", 10_000 * k + t, "view", "a1", "A", None, None)
                       for k in range(5) for t in range(6)])
    rows = encode(spark, log, _vocab(), max_events=4, sessions_per_row=2, validation=0.0, seed=1).toPandas()
    assert sorted(rows["chunk"]) == [0, 1, 2]  # 5 sessions, 2 per row
    first = np.array(rows[rows["chunk"] == 0].iloc[0]["type"]).reshape(2, 5)
    assert first.tolist() == [[3, 3, 3, 3, END]] * 2


def test_repeats_are_told_from_other_tail_items_of_the_category(spark):
    # a3 and a4 are both tail items of A (one token): a repeat is flagged by item, not by token.
    items = pd.DataFrame({"item_id": ["a1", "a2", "a3", "a4"], "category": "A", "weight": [10.0, 5.0, 1.0, 1.0],
                          "mean_price": 1.0})
    v = build_vocab(items, ["A"], [], vocab_items=10, max_categories=5, candidates=3, max_position=4)
    log = _log(spark, [("u", "s", t, "view", i, "A", None, None)
                       for t, i in enumerate(["a3", "a4", "a4", "a1", "a1", "a3"])])
    row = encode(spark, log, v, max_events=8, sessions_per_row=1, validation=0.0, seed=1).toPandas().iloc[0]
    tail = v.tail_token(1)
    assert np.array(row["item"])[:6].tolist() == [tail, tail, tail, 1, 1, tail]
    assert np.array(row["repeat"])[:7].tolist() == [0, 0, 1, 0, 1, 0, 0]
