"""Query strings for synthetic searches: the text model writes one for each search that has
no frequent (k-anonymous) query, for the search's category, under the k-user rule.

A generated string that fewer than `profile.min_query_users` real training users issued is
withheld (the search keeps no query): the executors look each string's key up among the
rare real queries' keys (synthlib.models.guards), broadcast, so the model itself never holds
the rare strings and no join with the real log is needed.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession

from synthlib import rng
from synthlib.models.guards import contains, text_key
from synthlib.text.model import TextModel


def fill_queries(spark: SparkSession, events: DataFrame, model: TextModel, rare_keys: np.ndarray, *,
                 seed: int) -> DataFrame:
    """`events` with a generated query on every search that has none; each string is drawn
    from a uniform stream keyed by (seed, session, time), and withheld when its key is among
    the sorted `rare_keys`."""
    shared = spark.sparkContext.broadcast((model.to_bytes(), rare_keys))
    keyed = events.withColumn("_id", rng.spark_key(seed, "query", "session_id", "ts"))

    def write(parts: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        payload, rare = shared.value
        m = TextModel.from_bytes(payload)
        for pdf in parts:
            need = ((pdf["event_type"] == "search") & pdf["query"].isna()).to_numpy()
            if need.any():
                drawn = m.sample(pdf["_id"][need].to_numpy(), pdf["category"][need].tolist(), seed=seed, tries=1)
                keys = [None if q is None else text_key(q) for q in drawn]
                pdf.loc[need, "query"] = [None if r else q for q, r in zip(drawn, contains(rare, keys))]
            yield pdf

    # One pass over the events (they are sampled upstream: splitting them would sample twice).
    return keyed.mapInPandas(write, keyed.schema).drop("_id")
