"""The stats synthesizer on a hand-made summary: no Spark needed."""
from datetime import date

import numpy as np
import pandas as pd
import pytest

from synthlib.models import load_model
from synthlib.models.artifact import NotFittedError
from synthlib.models.stats import StatsSynthesizer
from synthlib.models.timeline import Conditions
from synthlib.schema import EVENT_TYPES

SUMMARY = {
    "event_types": {"view": 80, "cart": 20},
    "transitions": {"(start)": {"view": 10}, "view": {"view": 50, "cart": 20, "(end)": 10},
                    "cart": {"view": 20}},
    "hour_of_day": {"9": 5, "10": 5}, "day_of_week": {"2": 1},  # Mondays only
    "gap_log2_seconds": {"4": 1}, "same_item_rate": 0.0, "same_category_rate": 1.0,
    "sessions_per_user": {"bins": [2], "counts": [1]}, "session_length": {"bins": [3, 100], "counts": [1, 0]},
    "top_queries": [], "click_through_by_position": {}, "users": 10,
    "time_range": {"start": 0, "end": 1, "first_day": "2024-03-04", "last_day": "2024-03-17"},
}
ITEMS = pd.DataFrame({"item_id": ["a", "b", "c"], "category": ["x", "x", None],
                      "events": [90, 10, 5], "mean_price": [1.0, 2.0, np.nan]})


def _model():
    return StatsSynthesizer().fit(SUMMARY, ITEMS, seed=1, lineage={"source": "test"})


DAYS = dict(seed=7, start=date(2024, 3, 4), days=14)


def _decoded(model, codes):
    """Codes with the item ids and category names the Spark decode would give them."""
    t = model.lookups()
    return codes.assign(item_id=codes["item"].map(dict(zip(t["items"]["item"], t["items"]["item_id"]))),
                        category_name=codes["category"].map(dict(zip(t["categories"]["category"],
                                                                     t["categories"]["category_name"]))))


def test_samples_follow_the_profile():
    model = _model()
    df = _decoded(model, model.sample_block(0, 200, **DAYS))
    sessions = df.groupby(["user", "session"])
    assert sessions.size().eq(3).all()  # every session 3 events long
    assert df.groupby("user")["session"].nunique().eq(2).all()
    assert set(df["ts"].dt.dayofweek) == {0} and set(sessions["ts"].min().dt.hour) <= {9, 10}
    assert set(df["event"]) == {EVENT_TYPES.index("view"), EVENT_TYPES.index("cart")}
    # Sessions stay in their first category (same_category_rate = 1).
    assert sessions["category_name"].nunique(dropna=False).eq(1).all()
    share_a = (df["item_id"] == "a").sum() / df["category_name"].eq("x").sum()
    assert share_a == pytest.approx(0.9, abs=0.05)


def test_clicks_take_positions_only_where_the_log_has_them():
    clicks = {**SUMMARY, "transitions": {"(start)": {"click": 10}, "click": {"click": 20, "(end)": 10}},
              "event_types": {"click": 30}}
    unplaced = StatsSynthesizer().fit(clicks, ITEMS, seed=1, lineage={}).sample_block(0, 50, **DAYS)
    assert len(unplaced) and set(unplaced["position"]) == {0}  # written as null
    placed = StatsSynthesizer().fit({**clicks, "click_through_by_position": {"2": 1.0}}, ITEMS, seed=1, lineage={})
    assert set(placed.sample_block(0, 50, **DAYS)["position"]) == {2}


def test_a_users_events_depend_on_the_seed_and_the_user_alone():
    a, b = _model(), _model()
    block = a.sample_block(0, 8, **DAYS)
    pd.testing.assert_frame_equal(b.sample_block(3, 4, **DAYS), block[block["user"] == 3].reset_index(drop=True))
    assert not a.sample_block(3, 4, **{**DAYS, "seed": 8}).equals(a.sample_block(3, 4, **DAYS))


def test_conditions():
    model = _model()
    only_c = model.sample_block(0, 50, **DAYS, conditions=Conditions(category_mix={"": 1.0}))
    assert set(_decoded(model, only_c)["item_id"]) == {"c"}
    flat = _decoded(model, model.sample_block(0, 300, **DAYS, conditions=Conditions(item_power=0.01)))
    assert (flat["item_id"] == "a").sum() / flat["category_name"].eq("x").sum() == pytest.approx(0.5, abs=0.05)
    with pytest.raises(ValueError, match="category_mix.*not categories"):
        model.sample_block(0, 5, **DAYS, conditions=Conditions(category_mix={"y": 1.0}))
    with pytest.raises(ValueError, match="no real user has between 3 and 9 sessions"):
        model.sample_block(0, 5, **DAYS, conditions=Conditions(min_sessions=3, max_sessions=9))


def test_save_load_and_bytes_round_trip(tmp_path):
    model = _model()
    model.save(str(tmp_path / "m"))
    loaded = load_model(str(tmp_path / "m"))
    assert loaded.get_info() == model.get_info()
    again = type(model).from_bytes(model.to_bytes())
    pd.testing.assert_frame_equal(again.sample_block(0, 5, **DAYS), model.sample_block(0, 5, **DAYS))
    with pytest.raises(NotFittedError, match="run `synthlib train"):
        load_model(str(tmp_path / "missing"))


def test_no_items_is_a_clear_error():
    with pytest.raises(ValueError, match="no items"):
        StatsSynthesizer().fit(SUMMARY, ITEMS.iloc[:0], seed=1, lineage={})
