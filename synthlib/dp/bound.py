"""Contribution bounding per user, applied once at ingest under `train.dp`: at most
`max_sessions` sessions a user (chosen by seeded hash of the session, not by time, so that
neither end of the log is favoured) and, of those in time order, its first `max_events`.

Within the private profile, the keys a user counts towards (items, item pairs) are bounded
by `contribution_bound`, from a released histogram of keys per user."""
from __future__ import annotations

import math

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


def contribution_bound(per_user: dict[str, float]) -> int:
    """The keys a user counts towards (L0), from a released histogram {keys: users} whose last
    bin holds every user with more: the k with the most user-key links kept per unit of
    noise. A count keeps the sum of min(keys, k) over users and the Gaussian noise grows as
    sqrt(k), so k maximises that sum / sqrt(k) (ties: the smaller k). Every user with n keys
    gives k = n; a log of a few keys per user and a heavy tail gives a k near its body."""
    hist = {int(k): max(0.0, float(v)) for k, v in per_user.items()}
    if not any(hist.values()):
        return 1
    kept = {k: sum(min(n, k) * users for n, users in hist.items()) for k in range(1, max(hist) + 1)}
    return max(kept, key=lambda k: (round(kept[k] / math.sqrt(k), 9), -k))
