"""Seeded partitions of users, their sessions whole: the training sample, and the share of
a large synthetic run that evaluation reads."""
from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from synthlib import rng


def sample_users(events: DataFrame, *, seed: int, fraction: float, max_users: int | None) -> DataFrame:
    """A seeded partition of users, their sessions whole: users whose hash falls under
    `fraction`, then the `max_users` lowest hashes. Deterministic whatever the partitioning."""
    users = events.select("user_id").distinct().withColumn(
        "user_key", rng.spark_key(seed, "train-sample", "user_id"))
    if fraction < 1:  # xxhash64 is uniform over the signed 64-bit range: keep its lowest part
        users = users.where(F.col("user_key") < F.lit(-2**63 + int(fraction * 2**53) * 2**11))
    if max_users is not None:
        users = users.orderBy("user_key", "user_id").limit(max_users)
    return events.join(F.broadcast(users) if max_users is not None else users, "user_id")


def user_share(events: DataFrame, *, seed: int, stream: str, fraction: float) -> DataFrame:
    """The events of about `fraction` of the users, by a seeded hash of (`seed`, `stream`,
    user): a filter, no shuffle; every event when `fraction` >= 1."""
    return events if fraction >= 1 else events.where(rng.held_out(rng.spark_key(seed, stream, "user_id"), fraction))
