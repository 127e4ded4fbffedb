"""Seeded user partitions: the training sample and the evaluated share of a large run."""
from synthlib.data.sample import sample_users, user_share
from tests.helpers import log


def _users(df) -> set:
    return {r[0] for r in df.select("user_id").distinct().collect()}


def test_user_sample_is_seeded_bounded_and_keeps_sessions_whole(spark):
    events = log(spark, [(f"u{u}", f"u{u}s{s}", s * 90, "view", "a1") for u in range(200) for s in range(3)])
    half = sample_users(events, seed=3, fraction=0.5, max_users=None)
    users = _users(half)
    assert users == _users(sample_users(events, seed=3, fraction=0.5, max_users=None))
    assert 60 < len(users) < 140
    assert half.groupBy("user_id").count().where("count != 3").count() == 0  # every session kept
    assert _users(sample_users(events, seed=4, fraction=0.5, max_users=None)) != users
    capped = sample_users(events, seed=3, fraction=1.0, max_users=25)
    assert capped.select("user_id").distinct().count() == 25 and capped.count() == 75


def test_user_share_is_a_seeded_filter_that_keeps_users_whole(spark):
    events = log(spark, [(f"u{u}", f"u{u}s{s}", s * 90, "view", "a1") for u in range(400) for s in range(3)])
    assert user_share(events, seed=3, stream="x", fraction=1.0) is events
    quarter = user_share(events, seed=3, stream="x", fraction=0.25)
    users = _users(quarter)
    assert 60 < len(users) < 140 and quarter.count() == 3 * len(users)
    assert users == _users(user_share(events.repartition(5), seed=3, stream="x", fraction=0.25))
    assert users != _users(user_share(events, seed=3, stream="y", fraction=0.25))
