"""Contribution bounding per user, applied once at ingest under `train.dp`: at most
`max_sessions` sessions a user (chosen by seeded hash of the session, not by time, so that
neither end of the log is favoured) and, of those in time order, its first `max_events`."""
from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from synthlib.config import DPConf
from synthlib.rng import spark_key


def bound_contributions(events: DataFrame, dp: DPConf, seed: int) -> DataFrame:
    """The events of each user within the bounds (columns unchanged)."""
    by_user = Window.partitionBy("user_id")
    ranked = (events.withColumn("_key", spark_key(seed, "dp_sessions", F.col("session_id")))
              .withColumn("_first", F.min("ts").over(Window.partitionBy("session_id"))))
    kept = (ranked.withColumn("_rank", F.dense_rank().over(by_user.orderBy("_key", "session_id")))
            .where(F.col("_rank") <= dp.max_sessions))
    in_time = by_user.orderBy("_first", "session_id", "ts", "event_type", "item_id")
    return (kept.withColumn("_n", F.row_number().over(in_time)).where(F.col("_n") <= dp.max_events)
            .drop("_key", "_first", "_rank", "_n"))
