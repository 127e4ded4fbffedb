"""What the sessions and users of a log hold: item co-visitation within sessions (the
structure item-to-item recommenders learn), sessions as item sequences (what a verbatim
copy repeats), and the users behind each query (the k-user rule)."""
from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

MIN_COPY_LENGTH = 3
SEPARATOR = "\u001f"  # between the item ids of a sequence


def session_items(events: DataFrame, max_items: int) -> DataFrame:
    """(session_id, user_id, item_id): each session's distinct items, its `max_items` latest ones."""
    last = (events.where(F.col("item_id").isNotNull())
            .groupBy("session_id", "user_id", "item_id").agg(F.max("ts").alias("ts")))
    w = Window.partitionBy("session_id").orderBy(F.desc("ts"), "item_id")
    return last.withColumn("_r", F.row_number().over(w)).where(F.col("_r") <= max_items).select(
        "session_id", "user_id", "item_id")


def item_pairs(items: DataFrame) -> DataFrame:
    """(session_id, user_id, a, b): every ordered pair of distinct items of a session (from
    `session_items`)."""
    return (items.select("session_id", "user_id", F.col("item_id").alias("a"))
            .join(items.select("session_id", F.col("item_id").alias("b")), "session_id")
            .where(F.col("a") != F.col("b")))


def covisitation(events: DataFrame, max_items: int, min_users: int = 1) -> DataFrame:
    """(a, b, score): cosine similarity of items a != b over the sessions that hold them; with
    `min_users` > 1, only the pairs that the sessions of that many distinct users held."""
    items = session_items(events, max_items)
    sessions = items.groupBy("item_id").agg(F.count(F.lit(1)).alias("n"))
    pairs = item_pairs(items)
    if min_users > 1:
        pairs = (pairs.groupBy("a", "b").agg(F.count(F.lit(1)).alias("count"), F.countDistinct("user_id").alias("u"))
                 .where(F.col("u") >= min_users).drop("u"))
    else:
        pairs = pairs.groupBy("a", "b").count()
    na = sessions.select(F.col("item_id").alias("a"), F.col("n").alias("na"))
    nb = sessions.select(F.col("item_id").alias("b"), F.col("n").alias("nb"))
    return (pairs.join(na, "a").join(nb, "b")
            .select("a", "b", (F.col("count") / F.sqrt(F.col("na") * F.col("nb"))).alias("score")))


def neighbours(events: DataFrame, k: int, max_items: int, min_users: int = 1) -> DataFrame:
    """(a, b, score): each item's `k` most co-visited items, ties broken by item id."""
    w = Window.partitionBy("a").orderBy(F.desc("score"), "b")
    return (covisitation(events, max_items, min_users).withColumn("_r", F.row_number().over(w))
            .where(F.col("_r") <= k).drop("_r"))


def session_pairs(events: DataFrame, *, min_users: int, per_item: int, max_items: int = 50) -> DataFrame:
    """(item_id, next_items, next_counts, transitions, fresh_counts): the items each item
    shares sessions with.

    Pairs are counted over each session's distinct items (its `max_items` latest, which
    bounds a very long session's pairs): `transitions` counts an item's pairs (each other
    item of each of its sessions); `next_items` are the items it shares sessions of at least
    `min_users` distinct users with, the `per_item` most frequent (ties by id), with their
    session counts. `fresh_counts` sums the counts of those pairs that would clear the floor
    without any one of their users: the leave-one-user-out estimate of how often a new
    user's session repeats a kept pair (the kept counts themselves overstate it, since every
    kept pair is kept because of the very sessions counted). Items that keep no pair have no
    row.
    """
    items = session_items(events, max_items)
    pairs = item_pairs(items)
    counts = (pairs.groupBy("a", "b").agg(F.count(F.lit(1)).alias("n"), F.countDistinct("user_id").alias("users"))
              .withColumn("transitions", F.sum("n").over(Window.partitionBy("a"))))  # before the floor
    ranked = counts.where(F.col("users") >= min_users).withColumn("_r", F.row_number().over(
        Window.partitionBy("a").orderBy(F.desc("n"), "b"))).where(F.col("_r") <= per_item)
    table = ranked.groupBy(F.col("a").alias("item_id")).agg(
        F.sort_array(F.collect_list(F.struct("_r", F.col("b").alias("next"), "n"))).alias("_next"),
        F.max("transitions").alias("transitions"),
        F.sum(F.when(F.col("users") > min_users, F.col("n")).otherwise(0)).alias("fresh_counts"))
    return table.select("item_id", F.col("_next.next").alias("next_items"), F.col("_next.n").alias("next_counts"),
                        "transitions", "fresh_counts")


def item_sequences(events: DataFrame) -> DataFrame:
    """(session_id, seq): item ids in time order, for sessions of >= MIN_COPY_LENGTH item events."""
    ordered = F.array_sort(F.collect_list(F.struct(F.unix_micros("ts").alias("t"), "item_id")))
    return (events.where(F.col("item_id").isNotNull()).groupBy("session_id").agg(ordered.alias("e"))
            .where(F.size("e") >= MIN_COPY_LENGTH)
            .select("session_id", F.concat_ws(SEPARATOR, F.col("e.item_id")).alias("seq")))


def query_users(events):
    """(query, users): distinct users per search query of a log."""
    return (events.where((F.col("event_type") == "search") & F.col("query").isNotNull())
            .groupBy("query").agg(F.countDistinct("user_id").alias("users")))
