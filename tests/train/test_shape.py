"""The session model's shape, derived from profile figures (synthlib.train.shape)."""
import pandas as pd

from synthlib.train import shape


def hist(lengths: dict) -> dict:
    return {"bins": list(lengths), "counts": list(lengths.values())}


def test_max_events_keeps_most_events_and_ignores_rare_long_sessions():
    short = hist({1: 900, 2: 80, 3: 20})
    assert shape.max_events(short)[0] == 8  # the floor
    heavy = hist({1: 100, 10: 100, 40: 2000, 512: 1})  # one session of 512 holds 0.6% of the events
    value, why = shape.max_events(heavy)
    assert value == 40 and "keep 99% of the events" in why


def test_sessions_per_row_fills_rows_and_follows_the_users():
    assert shape.sessions_per_row(hist({1: 1000}), dp=False)[0] == 1  # sessions only: a session a row
    many = shape.sessions_per_row(hist({30: 100, 32: 100}), dp=False)[0]
    assert many >= 16
    assert shape.sessions_per_row(hist({1: 10, 8: 90}), dp=True)[0] == 8  # DP: the 90th percentile user


def test_candidates_and_vocabulary_cover_the_events_of_repeated_items():
    one_category = pd.DataFrame({"item_id": [f"i{k}" for k in range(3000)], "category": None,
                                 "events": [3000 - k for k in range(3000)]})
    assert shape.candidates(one_category)[0] == 1024  # capped
    many = pd.DataFrame({"item_id": [f"i{k}" for k in range(400)], "category": [f"c{k % 100}" for k in range(400)],
                         "events": [5, 4, 3, 1] * 100})
    assert shape.candidates(many)[0] == 16  # 4 items a category: the floor
    singles = pd.DataFrame({"item_id": ["a", "b", "c"], "category": "x", "events": [1, 1, 1]})
    assert shape.vocab_items(singles)[0] == 100
    value, why = shape.vocab_items(one_category)
    assert 100 <= value <= 3000 and "95%" in why


def test_follow_starts_above_three_sessions_in_four_and_never_below_five_events():
    value, why = shape.follow_min_events(hist({1: 1000, 2: 100, 5: 40, 20: 5}))
    assert value == 5 and "93% of the item pairs" in why  # 3 in 4 sessions have one event: the floor
    assert shape.follow_min_events(hist({2: 50, 6: 30, 9: 20}))[0] == 7  # 75% have at most 6
    assert shape.follow_min_events(hist({1: 60, 2: 30, 3: 10}))[0] == 5  # a light-user log: nothing follows


def test_derive_records_each_knob_and_keeps_the_overrides():
    summary = {"session_length": hist({1: 10, 3: 10}), "sessions_per_user": hist({1: 5, 2: 5})}
    items = pd.DataFrame({"item_id": ["a", "b"], "category": "x", "events": [5, 2]})
    values, record = shape.derive(summary, items, {"max_events": 12}, dp=False)
    assert "max_events" not in values and record["max_events"] == {"value": 12, "from": "train.params"}
    assert set(record) == {"max_events", "sessions_per_row", "candidates", "vocab_items", "follow_min_events"}
    assert all(isinstance(r["from"], str) and r["from"] for r in record.values())
