from synthlib.covisit import next_items
from tests.conftest import log


def test_next_items_keeps_transitions_that_enough_users_made(spark):
    rows = [("u1", "s1", 0, "view", "a"), ("u1", "s1", 1, "view", "a"), ("u1", "s1", 2, "view", "b"),
            ("u1", "s1", 3, "view", "c"),
            ("u2", "s2", 0, "view", "a"), ("u2", "s2", 1, "search", None), ("u2", "s2", 2, "view", "b"),
            ("u2", "s3", 9, "view", "a"), ("u2", "s3", 10, "view", "b"),  # u2 again: still 2 users
            ("u3", "s4", 0, "view", "a"), ("u3", "s4", 1, "view", "d"),  # a -> d: one user only
            ("u4", "s5", 0, "view", "b"), ("u4", "s5", 1, "view", "c"),
            ("u4", "s6", 5, "view", "c")]  # a new session: no transition from b
    table = {r["item_id"]: r for r in next_items(log(spark, rows), min_users=2, per_item=5).collect()}
    # a: repeats and searches are skipped; a -> b by u1, u2 (twice); a -> d by u3 alone.
    assert set(table) == {"a", "b"}
    assert (table["a"]["next_items"], table["a"]["next_counts"], table["a"]["transitions"]) == (["b"], [3], 4)
    assert (table["b"]["next_items"], table["b"]["next_counts"], table["b"]["transitions"]) == (["c"], [2], 2)
    one = {r["item_id"]: r for r in next_items(log(spark, rows), min_users=1, per_item=1).collect()}
    assert one["a"]["next_items"] == ["b"] and one["a"]["transitions"] == 4 and set(one) == {"a", "b"}
