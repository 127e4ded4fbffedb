"""The stats synthesizer on a hand-made summary: no Spark needed."""
from datetime import date

import numpy as np
import pandas as pd
import pytest

from synthlib import rng
from synthlib.models import load_model
from synthlib.models.artifact import NotFittedError
from synthlib.models.stats import StatsSynthesizer

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


def test_samples_follow_the_profile():
    model = _model()
    rows = [r for u in range(200) for r in model.sample_user(u, rng.Tape(7, u), date(2024, 3, 4), 14)]
    df = pd.DataFrame(rows, columns=["user", "session", "ts", "type", "item", "category", "price",
                                     "query", "position", "device"])
    assert df.groupby("session").size().eq(3).all()  # every session 3 events long
    assert df.groupby("user")["session"].nunique().eq(2).all()
    ts = pd.to_datetime(df["ts"], unit="s", utc=True)
    assert set(ts.dt.dayofweek) == {0} and set(ts.groupby(df["session"]).min().dt.hour) <= {9, 10}
    assert set(df["type"]) == {"view", "cart"}
    # Sessions stay in their first category (same_category_rate = 1).
    assert df.groupby("session")["category"].nunique(dropna=False).eq(1).all()
    share_a = (df["item"] == "a").sum() / df["category"].eq("x").sum()
    assert share_a == pytest.approx(0.9, abs=0.05)


def test_same_draws_for_the_same_user_and_seed():
    a, b = _model(), _model()
    assert a.sample_user(3, rng.Tape(7, 3), date(2024, 3, 4), 14) == b.sample_user(3, rng.Tape(7, 3), date(2024, 3, 4), 14)
    assert a.sample_user(3, rng.Tape(8, 3), date(2024, 3, 4), 14) != a.sample_user(3, rng.Tape(7, 3), date(2024, 3, 4), 14)


def test_save_load_and_bytes_round_trip(tmp_path):
    model = _model()
    model.save(str(tmp_path / "m"))
    loaded = load_model(str(tmp_path / "m"))
    assert loaded.get_info() == model.get_info()
    again = type(model).from_bytes(*model.to_bytes())
    assert again.sample_user(1, rng.Tape(1, 1), date(2024, 1, 1), 7) == model.sample_user(1, rng.Tape(1, 1), date(2024, 1, 1), 7)
    with pytest.raises(NotFittedError, match="run `synthlib train"):
        load_model(str(tmp_path / "missing"))


def test_no_items_is_a_clear_error():
    with pytest.raises(ValueError, match="no items"):
        StatsSynthesizer().fit(SUMMARY, ITEMS.iloc[:0], seed=1, lineage={})
