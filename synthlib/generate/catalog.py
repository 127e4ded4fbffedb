"""The synthetic catalog: a generated title for every item of a synthetic run.

The titles model (`train.titles`) writes each title for the item's category and price band
(brand is left to the model). A title that equals a real catalog title is not used: each
item draws a few candidates, keyed by (seed, item, candidate), and keeps the first that the
real catalog does not hold (the check is a Spark join, so the real titles never reach the
model or the driver).
"""
from __future__ import annotations

from typing import Iterator

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from synthlib import rng
from synthlib.text.model import TextModel


def synthetic_catalog(spark: SparkSession, events: DataFrame, model: TextModel, real: DataFrame, *, seed: int,
                      candidates: int = 3) -> DataFrame:
    """(item_id, category, price, title): one row per item of `events` (its least category
    and price); the title is null when every candidate was a real title (rare)."""
    payload = spark.sparkContext.broadcast(model.to_bytes())
    items = (events.where(F.col("item_id").isNotNull()).groupBy("item_id")
             .agg(F.min("category").alias("category"), F.min("price").alias("price")))
    drawn = (items.withColumn("_try", F.explode(F.sequence(F.lit(0), F.lit(candidates - 1))))
             .withColumn("_id", rng.spark_key(seed, "title", "item_id", "_try")))

    def write(parts: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        m = TextModel.from_bytes(payload.value)
        for pdf in parts:
            pdf["title"] = m.sample(pdf["_id"].to_numpy(), pdf["category"].tolist(), None, pdf["price"].tolist(),
                                    seed=seed, tries=1)  # conditions read None and NaN alike
            yield pdf

    titled = drawn.mapInPandas(write, "item_id string, category string, price double, _try int, _id long, "
                                      "title string")
    known = real.where(F.col("title").isNotNull()).select("title").distinct().withColumn("_real", F.lit(True))
    first = (titled.where(F.col("title").isNotNull()).join(known, "title", "left").where(F.col("_real").isNull())
             .groupBy("item_id").agg(F.min(F.struct("_try", "title")).alias("_t")))
    return items.join(first, "item_id", "left").select("item_id", "category", "price", F.col("_t.title").alias("title"))
