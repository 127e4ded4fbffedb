"""Training sample and token encoding, computed in Spark.

A seeded partition of users is sampled with their sessions whole. Each user becomes one
or more rows of fixed-length integer arrays (up to `sessions_per_row` sessions of up to
`max_events` events each), ready for Petastorm. Only the bounded vocabulary (top items,
top categories, top queries) is built on the driver.

Tokens: see synthlib.models.tokens.
"""
from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from synthlib import rng
from synthlib.config import Config
from synthlib.data.sample import sample_users

from synthlib.models.tokens import END, N_GAPS, ROW_FIELDS, Vocab
from synthlib.schema import EVENT_TYPES

def sampled_events(spark: SparkSession, conf: Config):
    """The training sample: seeded users, their sessions whole (bounded by train.max_users)."""
    events = spark.read.format("delta").load(conf.layout.ingest.events)
    return sample_users(events, seed=conf.seed, fraction=conf.train.sample_fraction, max_users=conf.train.max_users)


def top_categories(spark: SparkSession, conf: Config, n: int) -> list[str]:
    """The n categories with most events, from the stats artifact (bounded by n)."""
    return [r["category"] for r in spark.read.format("delta").load(conf.layout.stats.categories)
            .orderBy(F.desc("events"), "category").limit(n).collect()]


def token_table(spark: SparkSession, pairs: list[tuple[str, int]], key: str, value: str) -> DataFrame:
    """A small broadcast table key -> token."""
    return F.broadcast(spark.createDataFrame(pairs or [("", 0)], f"{key} string, {value} int"))


def encode(spark: SparkSession, events: DataFrame, vocab: Vocab, *, max_events: int,
           sessions_per_row: int, validation: float, seed: int) -> DataFrame:
    """Token rows: one row per user chunk of up to `sessions_per_row` sessions.

    Columns: user_key (long), split ("train" | "validation", by user), the context ints, and
    for each of ROW_FIELDS an int array of R * (max_events + 1) tokens, where R = min(sessions_per_row,
    the most sessions of a sampled user). A session is its events, END, then padding; longer
    sessions are cut to `max_events` events.
    """
    L = max_events + 1
    cats = token_table(spark, [(c, i + 1) for i, c in enumerate(vocab.categories)], "category", "cat_token")
    toks = vocab.items[vocab.items["token"] > 0]
    items = F.broadcast(spark.createDataFrame(
        list(zip(toks["item_id"].astype(str), toks["token"].astype(int).tolist(), toks["cat_token"].astype(int).tolist()))
        or [("", 0, 0)], "item_id string, vocab_token int, item_cat int"))
    queries = token_table(spark, [(q, i + 1) for i, q in enumerate(vocab.queries)], "query", "query_token")
    w = Window.partitionBy("session_id").orderBy("ts", "event_type", "item_id")
    gap = F.unix_millis("ts") / 1000.0 - F.unix_millis(F.lag("ts").over(w)) / 1000.0
    # A vocabulary item always carries its own category, so that it is a candidate there.
    cat_tok = (F.when(F.col("item_cat").isNotNull(), F.col("item_cat")).when(F.col("category").isNull(), 0)
               .otherwise(F.coalesce("cat_token", F.lit(len(vocab.categories) + 1))))
    type_tok = F.array_position(F.array(*[F.lit(t) for t in EVENT_TYPES]), F.col("event_type")).cast("int")
    e = (events.join(cats, "category", "left").join(items, "item_id", "left").join(queries, "query", "left")
         .withColumn("cat", cat_tok)
         .select(
             "user_id", "session_id", "ts", F.row_number().over(w).alias("k"),
             type_tok.alias("type"),
             F.when(gap.isNull(), 0).otherwise(F.least(F.floor(F.log2(gap + 1)) + 1, F.lit(N_GAPS - 1)))
             .cast("int").alias("gap"),
             "cat",
             F.when(F.col("item_id").isNull(), 0).otherwise(F.coalesce(
                 "vocab_token", vocab.n_vocab_items + 1 + F.col("cat"))).cast("int").alias("item"),
             F.when((F.col("event_type") == "click") & F.col("position").isNotNull(),
                    F.least(F.greatest("position", F.lit(1)), F.lit(vocab.max_position))).otherwise(0)
             .cast("int").alias("pos"),
             F.when(F.col("query").isNull(), 0).otherwise(F.coalesce("query_token", F.lit(len(vocab.queries) + 1)))
             .cast("int").alias("query"),
             F.coalesce((F.col("item_id") == F.lag("item_id").over(w)).cast("int"), F.lit(0)).alias("repeat"))
         .where(F.col("k") <= max_events))
    # One row per session: its events as arrays, END appended, padded to L.
    ordered = F.array_sort(F.collect_list(F.struct("k", *ROW_FIELDS)))
    pad = lambda arr, end: F.slice(F.concat(arr, F.array(F.lit(end)), F.array_repeat(F.lit(0), L)), 1, L)  # noqa: E731
    sessions = e.groupBy("user_id", "session_id").agg(F.min("ts").alias("start"), ordered.alias("ev")).select(
        "user_id", "session_id", "start", *[pad(F.col(f"ev.{f}"), END if f == "type" else 0).alias(f) for f in ROW_FIELDS])
    # User context: activity (log2 sessions + 1), home category (the most frequent); a session's
    # index in its user's history is chunk * sessions_per_row + its place in the row.
    home = (e.where(F.col("cat") > 0).groupBy("user_id", "cat").count()
            .withColumn("r", F.row_number().over(Window.partitionBy("user_id").orderBy(F.desc("count"), "cat")))
            .where("r = 1").select("user_id", F.col("cat").alias("home_cat")))
    uw = Window.partitionBy("user_id").orderBy("start", "session_id")
    s = (sessions.join(home, "user_id", "left")
         .withColumn("idx", F.row_number().over(uw) - 1)
         .withColumn("n_sessions", F.count(F.lit(1)).over(Window.partitionBy("user_id"))))
    # Rows hold at most sessions_per_row sessions, fewer when no user has that many (a log
    # of anonymous sessions gets one session a row, not 31 of padding).
    most = s.agg(F.max("n_sessions")).first()[0] or 1
    R = min(sessions_per_row, int(most))
    user_key = rng.spark_key(seed, "train-sample", "user_id")
    flat = lambda f: F.flatten(F.transform(F.array_sort(F.collect_list(F.struct("idx", f))), lambda x: x[f]))  # noqa: E731
    rows = s.groupBy("user_id", (F.col("idx") / R).cast("int").alias("chunk")).agg(
        F.first("n_sessions").alias("n_sessions"), F.first("home_cat").alias("home_cat"),
        F.count(F.lit(1)).alias("sessions"), *[flat(f).alias(f) for f in ROW_FIELDS])
    blank = F.array_repeat(F.lit(0), R * L)
    split = F.when(rng.held_out(rng.spark_key(seed, "validation", "user_id"), validation),
                   "validation").otherwise("train")
    return rows.select(
        user_key.alias("user_key"), "chunk", split.alias("split"),
        F.least(F.floor(F.log2("n_sessions")).cast("int") + 1, F.lit(15)).alias("activity"),
        F.coalesce("home_cat", F.lit(0)).alias("home_cat"), "sessions",
        *[F.slice(F.concat(f, blank), 1, R * L).alias(f) for f in ROW_FIELDS])
