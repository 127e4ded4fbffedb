from synthlib.data.sessions import session_pairs
from tests.helpers import log


def test_session_pairs_keep_the_pairs_that_enough_users_sessions_held(spark):
    rows = [("u1", "s1", 0, "view", "a"), ("u1", "s1", 1, "view", "a"), ("u1", "s1", 2, "view", "b"),
            ("u1", "s1", 3, "view", "c"),
            ("u2", "s2", 0, "view", "a"), ("u2", "s2", 1, "search", None), ("u2", "s2", 2, "view", "b"),
            ("u2", "s3", 9, "view", "a"), ("u2", "s3", 10, "view", "b"),  # u2 again: still 2 users
            ("u3", "s4", 0, "view", "a"), ("u3", "s4", 1, "view", "d"),  # a, d: one user only
            ("u4", "s5", 0, "view", "b"), ("u4", "s5", 1, "view", "c"),
            ("u4", "s6", 5, "view", "c")]  # a session of one item: no pair
    table = {r["item_id"]: r for r in session_pairs(log(spark, rows), min_users=2, per_item=5).collect()}
    # a: with b in s1, s2, s3 (u1, u2); with c in s1 and with d in s4 (one user each).
    assert set(table) == {"a", "b", "c"}
    assert (table["a"]["next_items"], table["a"]["next_counts"], table["a"]["transitions"]) == (["b"], [3], 5)
    assert (table["b"]["next_items"], table["b"]["next_counts"], table["b"]["transitions"]) == (["a", "c"], [3, 2], 5)
    assert (table["c"]["next_items"], table["c"]["next_counts"], table["c"]["transitions"]) == (["b"], [2], 3)
    assert {k: r["fresh_counts"] for k, r in table.items()} == {"a": 0, "b": 0, "c": 0}  # 2 users each: none of 3
    one = {r["item_id"]: r for r in session_pairs(log(spark, rows), min_users=1, per_item=1).collect()}
    assert {k: r["next_items"] for k, r in one.items()} == {"a": ["b"], "b": ["a"], "c": ["b"], "d": ["a"]}
    # With a floor of one user, a pair stays without any one user when two users held it.
    assert {k: r["fresh_counts"] for k, r in one.items()} == {"a": 3, "b": 3, "c": 2, "d": 0}
    # Each session's 2 latest items only: s1 pairs b and c, so a and b share u2's sessions alone.
    latest = {r["item_id"]: r for r in session_pairs(log(spark, rows), min_users=2, per_item=5, max_items=2).collect()}
    assert set(latest) == {"b", "c"} and latest["b"]["next_items"] == ["c"]
