"""The synthetic catalog: titles for the generated items, by category, never a real title."""
from pyspark.sql import functions as F

from synthlib.generate.catalog import synthetic_catalog
from tests.helpers import COLORS


def test_titles_follow_the_category_and_never_copy_a_real_title(spark, text_model):
    events = spark.createDataFrame(
        [(f"{kind}{i}", kind, price) for i in range(10) for kind, price in (("sofa", 500.0), ("lamp", 30.0))]
        + [(None, "sofa", None)], "item_id string, category string, price double")
    real = spark.createDataFrame([(f"{c} sofa",) for c in COLORS], "title string")  # every sofa title is real
    rows = synthetic_catalog(spark, events, text_model, real, seed=4).collect()
    assert len(rows) == 20 and len({r["item_id"] for r in rows}) == 20  # one per item; no null item
    lamps = [r["title"] for r in rows if r["category"] == "lamp"]
    assert len(lamps) == 10 and all(t.endswith(" lamp") for t in lamps)
    assert len(set(lamps)) > 2
    assert all(r["title"] is None for r in rows if r["category"] == "sofa")  # each candidate was a real title
    again = synthetic_catalog(spark, events.orderBy(F.desc("item_id")).repartition(3), text_model, real, seed=4)
    assert sorted(map(tuple, again.collect())) == sorted(map(tuple, rows))
