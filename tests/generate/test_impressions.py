import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from synthlib.generate import generate
from synthlib.generate.impressions import impressions_frame, split_clicks
from synthlib.models.impressions import ImpressionModel, list_keys
from tests.helpers import checksum


def _model(copy_keys=(), recent=None):
    items = pd.DataFrame({"item_id": [f"i{n}" for n in range(12)], "category": ["a"] * 8 + ["b"] * 4,
                          "shows": np.arange(12, 0, -1) * 10.0, "attractiveness": [0.5] * 12,
                          "price": np.arange(12, dtype=float)})
    spec = {"model": "impressions", "version": 1, "click_model": "position-based", "examination": [1.0, 0.5, 0.25],
            "list_shape": {"search": {"1:3": 1.0}, "other": {"2:1": 1.0}}, "surfaces": {"search": 0.1}, "min_users": 1,
            "recent": recent or {}}
    return ImpressionModel(spec, items, np.sort(np.asarray(copy_keys, dtype=np.int64)))


def test_split_clicks_starts_a_new_list_on_a_repeated_position_or_item():
    assert split_clicks([("a", 1), ("b", 3)]) == [[("a", 1), ("b", 3)]]
    assert split_clicks([("a", 1), ("b", 1), ("b", 2)]) == [[("a", 1)], [("b", 1)], [("b", 2)]]
    assert split_clicks([("a", None), ("b", None)]) == [[("a", 1), ("b", 2)]]


def test_a_request_keeps_its_clicks_at_their_positions():
    model = _model()
    shown = model.request(7, "search", "a", [("i5", 2), ("zz", 5)], seed=1, draw_clicks=False)
    assert [p for _, p, _ in shown] == [1, 2, 3, 4, 5]  # the list grows to the deepest click
    assert ("i5", 2, True) in shown and ("zz", 5, True) in shown
    others = [i for i, _, c in shown if not c]
    assert len(set(others)) == 3 and set(others) <= {f"i{n}" for n in range(8)} - {"i5"}  # its category
    assert shown == model.request(7, "search", "a", [("i5", 2), ("zz", 5)], seed=1, draw_clicks=False)


def test_a_list_shows_the_sessions_recent_items_at_the_learned_share():
    always = _model(recent={"search": 1.0})
    shown = always.request(7, "search", "a", [("i5", 2)], seed=1, draw_clicks=False, recent=["i9", "i5", "i1"])
    assert shown == [("i1", 1, False), ("i5", 2, True), ("i9", 3, False)]  # most recent first, the click kept
    never = _model().request(7, "search", "a", [("i5", 2)], seed=1, draw_clicks=False, recent=["i9", "i5", "i1"])
    assert never == _model().request(7, "search", "a", [("i5", 2)], seed=1, draw_clicks=False)
    half = _model(recent={"search": 0.5})
    placed = [sum(i in {"i10", "i11"} for i, _, _ in half.request(k, "search", "a", [], 1, False, ["i10", "i11"]))
              for k in range(400)]
    assert 0.4 < np.mean(placed) / 3 < 0.6  # category b's items can only come from the session


def test_the_chance_of_a_recent_item_is_measured_on_the_draw_itself():
    model = _model()
    assert model.chance_of_recent([("b", ["i8", "i9", "i10", "i11"], 3)], seed=1) == 1.0  # all of category b
    assert model.chance_of_recent([("b", ["i0"], 3), ("a", [], 2)], seed=1) == 0.0
    assert 0 < model.chance_of_recent([("a", ["i0"], 1)] * 50, seed=1) < 1


def test_a_list_takes_a_real_shape():
    shown = _model().request(5, "other", "a", [], seed=1, draw_clicks=True)
    assert [p for _, p, _ in shown] == [2]


def test_a_list_that_copies_a_real_one_is_drawn_again():
    model = _model()
    first = [i for i, _, _ in model.request(3, "search", "b", [], seed=1, draw_clicks=False)]
    guarded = _model(list_keys(first, [3]))
    again = [i for i, _, _ in guarded.request(3, "search", "b", [], seed=1, draw_clicks=False)]
    assert again != first and len(again) == 3


def test_a_log_without_searches_shows_each_click_event_on_its_list(spark):
    """A recommendation log: every synthetic click event is the click of a request, at its
    position or one drawn from the real clicks' positions; the other requests show no click."""
    spec = {**_model().spec, "list_shape": {"recommendation": {"1:1": 0.5, "1:3": 0.5}},
            "surfaces": {"recommendation": 3.0}, "event_clicks": "recommendation",
            "click_positions": {"recommendation": {"1": 0.25, "3": 0.75}}, "no_click_requests": {"recommendation": 2.0}}
    model = ImpressionModel(spec, _model().items, _model().copy_keys)
    rows = [(f"u{n}", f"s{n}", n * 10 + k, "click", f"i{(n + k) % 8}", "a", None if n % 4 else 2)
            for n in range(200) for k in range(2)]
    events = spark.createDataFrame(rows, "user_id string, session_id string, t int, event_type string, "
                                         "item_id string, category string, position int") \
        .withColumn("ts", F.col("t").cast("timestamp")).withColumn("price", F.lit(1.0))
    shown = impressions_frame(spark, events, model, seed=3).toPandas()
    clicked = shown[shown["clicked"]]
    assert len(clicked) == len(rows)  # one click per click event, each on its own list
    assert clicked.groupby("request_id").size().max() == 1
    assert set(clicked["item_id"]) <= {f"i{n}" for n in range(8)}
    given = clicked[clicked["request_id"].str.startswith(tuple(f"s{n}:" for n in range(0, 200, 4)))]
    assert (given["position"] == 2).all()  # an event's own position is kept
    drawn = clicked.drop(given.index)["position"]
    assert set(drawn) == {1, 3} and 0.65 < (drawn == 3).mean() < 0.85
    lengths = shown.groupby("request_id")["position"].agg(["max", "count"])
    assert (lengths["max"] == lengths["count"]).all()  # positions 1..n, the shape holding the click
    quiet = shown.groupby("request_id")["clicked"].any()
    assert 700 < (~quiet).sum() < 900  # 2 requests without a click per event


@pytest.mark.slow
def test_every_synthetic_click_is_on_its_list_at_its_position(spark, exposure_run):
    events = spark.read.format("delta").load(exposure_run.layout.tables.events)
    shown = spark.read.format("delta").load(exposure_run.layout.tables.impressions)
    clicks = events.where("event_type = 'click' AND item_id IS NOT NULL")
    clicked = shown.where("clicked")
    # request ids start with their session id: a click is matched within its session
    keys = ["session_id", "item_id", "position"]
    assert clicks.count() == clicked.count() > 0
    assert clicks.select(*keys).join(clicked.select(*keys), keys, "left_anti").count() == 0
    assert shown.groupBy("request_id", "position").count().where(F.col("count") > 1).count() == 0
    lengths = shown.groupBy("request_id").agg(F.max("position").alias("m"), F.count(F.lit(1)).alias("n"))
    assert lengths.where("m != n").count() == 0  # positions 1..n, no gaps
    searches = events.where("event_type = 'search'").count()
    assert shown.select("request_id").distinct().count() >= searches


@pytest.mark.slow
def test_impressions_do_not_depend_on_the_partitioning(spark, exposure_run):
    sums = set()
    for partitions in (1, 3, 8):
        conf = exposure_run.model_copy(update={"generate": exposure_run.generate.model_copy(
            update={"partitions": partitions, "run_id": f"p{partitions}"})})
        generate(spark, conf)
        shown = (spark.read.format("delta").load(conf.layout.tables.impressions)
                 .where(F.col("run_id") == f"p{partitions}").drop("run_id"))
        sums.add(tuple(checksum(shown)))
    assert len(sums) == 1
