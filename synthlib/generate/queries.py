"""Query strings for synthetic searches: the text model writes one for each search that has
no frequent (k-anonymous) query, for the search's category, under the k-user rule.

A generated string that fewer than `min_users` real training users issued is withheld (the
search keeps no query): the check joins the real training log in Spark, so the model
itself never holds the rare strings.
"""
from __future__ import annotations

from typing import Iterator

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from synthlib import rng
from synthlib.data.sessions import query_users
from synthlib.text.model import TextModel


def rare_queries(real: DataFrame, min_users: int) -> DataFrame:
    """(query): the real log's search queries that fewer than `min_users` distinct users issued."""
    return query_users(real).where(F.col("users") < min_users).select("query")


def fill_queries(spark: SparkSession, events: DataFrame, model: TextModel, real: DataFrame, *, seed: int,
                 min_users: int) -> DataFrame:
    """`events` with a generated query on every search that has none; each string is drawn
    from a uniform stream keyed by (seed, session, time)."""
    payload = spark.sparkContext.broadcast(model.to_bytes())
    keyed = events.withColumn("_id", rng.spark_key(seed, "query", "session_id", "ts"))

    def write(parts: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        m = TextModel.from_bytes(payload.value)
        for pdf in parts:
            need = ((pdf["event_type"] == "search") & pdf["query"].isna()).to_numpy()
            if need.any():
                pdf.loc[need, "query"] = m.sample(pdf["_id"][need].to_numpy(), pdf["category"][need].tolist(),
                                                  seed=seed, tries=1)
            yield pdf

    # One pass over the events (they are sampled upstream: splitting them would sample twice).
    # A frequent query never matches a rare one, so the check may see every row.
    written = keyed.mapInPandas(write, keyed.schema).drop("_id")
    rare = rare_queries(real, min_users).withColumn("_rare", F.lit(True))
    return (written.join(rare, "query", "left")
            .withColumn("query", F.when(F.col("_rare"), F.lit(None).cast("string")).otherwise(F.col("query")))
            .select(*events.columns))
