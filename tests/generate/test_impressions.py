import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from synthlib.generate import generate
from synthlib.generate.impressions import split_clicks
from synthlib.models.impressions import ImpressionModel, list_keys
from tests.helpers import checksum


def _model(copy_keys=()):
    items = pd.DataFrame({"item_id": [f"i{n}" for n in range(12)], "category": ["a"] * 8 + ["b"] * 4,
                          "shows": np.arange(12, 0, -1) * 10.0, "attractiveness": [0.5] * 12,
                          "price": np.arange(12, dtype=float)})
    spec = {"model": "impressions", "version": 1, "click_model": "position-based", "examination": [1.0, 0.5, 0.25],
            "list_shape": {"search": {"1:3": 1.0}, "other": {"2:1": 1.0}}, "surfaces": {"search": 0.1}, "min_users": 1}
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


def test_a_list_takes_a_real_shape():
    shown = _model().request(5, "other", "a", [], seed=1, draw_clicks=True)
    assert [p for _, p, _ in shown] == [2]


def test_a_list_that_copies_a_real_one_is_drawn_again():
    model = _model()
    first = [i for i, _, _ in model.request(3, "search", "b", [], seed=1, draw_clicks=False)]
    guarded = _model(list_keys(first, [3]))
    again = [i for i, _, _ in guarded.request(3, "search", "b", [], seed=1, draw_clicks=False)]
    assert again != first and len(again) == 3


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
