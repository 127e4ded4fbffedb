"""Profile: feature statistics of the canonical log, computed in Spark.

One pass over the events: a window over each session adds the previous event, then every
event is exploded into (statistic, key) rows and a single aggregation counts them all.
The aggregate (one row per item, user, session, query, category and per small statistic
key) is cached and summarised; only bounded results reach the driver.
"""
from __future__ import annotations

import hashlib
import json
import os
from functools import reduce

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from synthlib.config import Config
from synthlib.data.dp_profile import release_profile
from synthlib.data.exposure import describe_impressions, fit_pbm, position_counts
from synthlib.data.impressions import ingest_impressions
from synthlib.data.ingest import ingest
from synthlib.data.popularity import popularity
from synthlib.delta_io import table_version, write_table
from synthlib.schema import ARROW, MAX_DEVICES, SESSION_END, SESSION_START

SMALL_STATS = ("event_type", "transition", "day", "hour", "dow", "gap", "same_item", "same_category",
               "click_position", "query_words", "null", "all")
QUERY_USER = "\u0001"  # joins a query and its user in the query_user stat key
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


def bucket(v):
    """Histogram bucket of a count: exact below 64, then powers of two."""
    return F.when(v < 64, v).otherwise(F.pow(F.lit(2), F.floor(F.log2(v))).cast("long"))


def _stat_rows(events: DataFrame, max_position: int) -> DataFrame:
    w = Window.partitionBy("session_id").orderBy("ts", "event_type", "item_id")
    e = (events
         .withColumn("prev_type", F.lag("event_type").over(w))
         .withColumn("prev_ts", F.lag("ts").over(w))
         .withColumn("prev_item", F.lag("item_id").over(w))
         .withColumn("prev_category", F.lag("category").over(w))
         .withColumn("is_last", F.lead("event_type").over(w).isNull()))
    has_prev = F.col("prev_type").isNotNull()
    gap_s = F.unix_millis("ts") / 1000.0 - F.unix_millis("prev_ts") / 1000.0
    flag = lambda c: F.when(c, "1").otherwise("0")  # noqa: E731
    nulls = [F.when(F.col(c).isNull(), F.struct(F.lit("null").alias("stat"), F.lit(c).alias("key")))
             for c in ("item_id", "category", "price", "query", "position", "device")]
    pairs = [
        ("all", F.lit("events")),
        ("event_type", F.col("event_type")),
        ("transition", F.concat(F.coalesce("prev_type", F.lit(SESSION_START)), F.lit(ARROW), F.col("event_type"))),
        ("transition", F.when(F.col("is_last"), F.concat(F.col("event_type"), F.lit(ARROW + SESSION_END)))),
        ("day", F.to_date("ts").cast("string")),
        ("hour", F.hour("ts").cast("string")),
        ("dow", F.dayofweek("ts").cast("string")),  # 1 = Sunday
        ("gap", F.when(has_prev, F.floor(F.log2(gap_s + 1)).cast("string"))),
        ("same_item", F.when(has_prev & F.col("item_id").isNotNull(),
                             flag(F.col("item_id") == F.coalesce("prev_item", F.lit(""))))),
        ("same_category", F.when(has_prev & F.col("category").isNotNull() & F.col("prev_category").isNotNull(),
                                 flag(F.col("category") == F.col("prev_category")))),
        ("click_position", F.when((F.col("event_type") == "click") & F.col("position").isNotNull(),
                                  F.least(F.col("position"), F.lit(max_position + 1)).cast("string"))),
        ("query_words", F.when((F.col("event_type") == "search") & F.col("query").isNotNull(),
                               F.least(F.size(F.split(F.trim("query"), r"\s+")), F.lit(20)).cast("string"))),
        ("query", F.when(F.col("event_type") == "search", F.col("query"))),
        ("query_user", F.when(F.col("event_type") == "search",
                              F.concat(F.col("query"), F.lit(QUERY_USER), F.col("user_id")))),
        ("device", F.col("device")),
        ("device_user", F.concat(F.col("device"), F.lit(QUERY_USER), F.col("user_id"))),
        ("item", F.col("item_id")),
        ("category", F.col("category")),
        ("user", F.col("user_id")),
        ("session", F.col("session_id")),
    ]
    structs = [F.when(k.isNotNull(), F.struct(F.lit(s).alias("stat"), k.alias("key"))) for s, k in pairs]
    # value: price on item and category rows, epoch seconds on the "all" row.
    value = F.when(F.col("_s.stat").isin("item", "category"), F.col("price")).when(
        F.col("_s.stat") == "all", F.unix_millis("ts") / 1000.0)
    # attr: the category of an item or query, the user of a session.
    attr = F.when(F.col("_s.stat").isin("item", "query"), F.col("category")).when(
        F.col("_s.stat") == "session", F.col("user_id"))
    return (e.select("*", F.explode(F.filter(F.array(*structs, *nulls), lambda x: x.isNotNull())).alias("_s"))
            .select(F.col("_s.stat").alias("stat"), F.col("_s.key").alias("key"),
                    value.alias("value"), attr.alias("attr"), "event_type"))


def aggregate(events: DataFrame, max_position: int, quantiles: bool = True) -> DataFrame:
    """One row per (stat, key) with counts, price (or time) figures and an attribute;
    price quantiles (the costliest part) only when asked."""
    rows = _stat_rows(events, max_position)
    is_type = lambda t: F.sum(F.when(F.col("event_type") == t, 1).otherwise(0))  # noqa: E731
    return rows.groupBy("stat", "key").agg(
        F.count(F.lit(1)).alias("n"),
        is_type("view").alias("views"), is_type("cart").alias("carts"),
        is_type("purchase").alias("purchases"),
        # Exact decimal sums: the same figures whatever the partitioning.
        F.avg(F.col("value").cast("decimal(30,6)")).cast("double").alias("mean"), F.min("value").alias("min"), F.max("value").alias("max"),
        (F.percentile_approx("value", list(QUANTILES), 1000) if quantiles else F.lit(None)).alias("quantiles"),
        F.max("attr").alias("attr"))


def _tallies(agg: DataFrame) -> dict[str, dict[int | str, int]]:
    """{name: {key: count}}, counted over the aggregation in one Spark job (each bounded):
    rows per stat, items by their event count, and the bucketed histograms of events per
    user, sessions per user and session length."""
    sessions = agg.where(F.col("stat") == "session")
    per_user = sessions.groupBy("attr").count()
    parts = [("stat", agg, F.col("stat")),
             ("item_events", agg.where(F.col("stat") == "item"), F.col("n")),
             ("events_per_user", agg.where(F.col("stat") == "user"), bucket(F.col("n"))),
             ("sessions_per_user", per_user, bucket(F.col("count"))),
             ("session_length", sessions, bucket(F.col("n")))]
    counted = [df.groupBy(key.cast("string").alias("key")).count().select(F.lit(name).alias("part"), "key", "count")
               for name, df, key in parts]
    tallies: dict[str, dict] = {name: {} for name, _, _ in parts}
    for r in reduce(DataFrame.unionByName, counted).collect():
        tallies[r["part"]][r["key"] if r["part"] == "stat" else int(r["key"])] = int(r["count"])
    return tallies


def _hist(counts: dict[int, int]) -> dict:
    bins = sorted(counts)
    return {"bins": bins, "counts": [counts[b] for b in bins]}


def _main_days(days: dict[str, int]) -> dict[str, str]:
    """First and last day between the 1st and 99th percentile of events (drops stray outliers)."""
    total, seen, first, last = sum(days.values()), 0, None, None
    for day, n in days.items():  # sorted by date
        seen += n
        if first is None and seen >= 0.01 * total:
            first = day
        if last is None and seen >= 0.99 * total:
            last = day
    return {"first_day": first, "last_day": last}


def _small(rows: list, stat: str) -> dict[str, int]:
    return {r["key"]: int(r["n"]) for r in rows if r["stat"] == stat}


def _issued_by(agg: DataFrame, min_users: int, stat: str = "query_user") -> DataFrame:
    """(key): the queries (or devices, with stat "device_user") that at least `min_users`
    distinct users issued."""
    users = (agg.where(F.col("stat") == stat)
             .select(F.substring_index("key", QUERY_USER, 1).alias("key")).groupBy("key").count())
    return users.where(F.col("count") >= min_users).select("key")


def summarise(agg: DataFrame, top_queries: int = 200, min_query_users: int = 1) -> dict:
    """The JSON summary of an `aggregate` result (bounded: histograms, top lists, rates)."""
    small = agg.where(F.col("stat").isin(*SMALL_STATS)).collect()
    tallies = _tallies(agg)
    kinds = tallies["stat"]
    everything = next(r for r in small if r["stat"] == "all")
    n_events = int(everything["n"])
    types = _small(small, "event_type")
    days = dict(sorted(_small(small, "day").items()))
    transitions: dict[str, dict[str, int]] = {}
    for key, n in _small(small, "transition").items():
        a, b = key.split(ARROW)
        transitions.setdefault(a, {})[b] = n
    flags = lambda s: (lambda d: d.get("1", 0) / max(1, sum(d.values())))(_small(small, s))  # noqa: E731
    searches = types.get("search", 0)
    freq = list(tallies["item_events"].items())
    queries = agg.where(F.col("stat") == "query")
    if min_query_users > 1:  # a rarer query never reaches the stats or a model
        queries = queries.join(_issued_by(agg, min_query_users), "key", "left_semi")
    queries = queries.orderBy(F.desc("n"), "key").limit(top_queries).collect()
    # Devices: the MAX_DEVICES most used that at least min_query_users users used (a rarer
    # value could single a user out), by events.
    devices = agg.where(F.col("stat") == "device")
    if min_query_users > 1:
        devices = devices.join(_issued_by(agg, min_query_users, "device_user"), "key", "left_semi")
    devices = {r["key"]: int(r["n"]) for r in devices.orderBy(F.desc("n"), "key").limit(MAX_DEVICES).collect()}
    summary = {
        "events": n_events,
        "users": kinds.get("user", 0),
        "sessions": kinds.get("session", 0),
        "items": kinds.get("item", 0),
        "categories": kinds.get("category", 0),
        "time_range": {"start": everything["min"], "end": everything["max"], **_main_days(days)},
        "events_per_day": days,
        "null_rates": {k: v / n_events for k, v in sorted(_small(small, "null").items())},
        "event_types": types,
        "transitions": transitions,
        "hour_of_day": {int(k): v for k, v in _small(small, "hour").items()},
        "day_of_week": {int(k): v for k, v in _small(small, "dow").items()},
        "gap_log2_seconds": {int(k): v for k, v in _small(small, "gap").items()},
        "same_item_rate": flags("same_item"),
        "same_category_rate": flags("same_category"),
        "events_per_user": _hist(tallies["events_per_user"]),
        "sessions_per_user": _hist(tallies["sessions_per_user"]),
        "session_length": _hist(tallies["session_length"]),
        "item_popularity": popularity(freq),
        "click_through_by_position": ({int(k): v / searches for k, v in _small(small, "click_position").items()}
                                      if searches else {}),
        "query_words": {int(k): v for k, v in _small(small, "query_words").items()},
        "top_queries": [{"query": r["key"], "count": int(r["n"]), "category": r["attr"]} for r in queries],
        "devices": devices,
    }
    return summary


def item_table(agg: DataFrame) -> DataFrame:
    return agg.where(F.col("stat") == "item").select(
        F.col("key").alias("item_id"), F.col("attr").alias("category"), F.col("n").alias("events"),
        "views", "carts", "purchases", F.col("mean").alias("mean_price"))


def category_table(agg: DataFrame, n_events: int) -> DataFrame:
    return agg.where(F.col("stat") == "category").select(
        F.col("key").alias("category"), F.col("n").alias("events"),
        (F.col("n") / F.lit(max(1, n_events))).alias("share"), "purchases",
        *[F.col("quantiles")[i].alias(f"price_p{int(q * 100):02d}") for i, q in enumerate(QUANTILES)])


def profile(spark: SparkSession, conf: Config) -> dict:
    """Ingest the configured log and write the stats artifact under `<output>/stats`."""
    run = ingest(spark, conf)
    events = spark.read.format("delta").load(run["events_path"])
    agg = aggregate(events, conf.profile.max_position).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        summary = summarise(agg, conf.profile.top_queries, conf.profile.min_query_users)
        lineage = {"operation": "profile", "seed": conf.seed,
                   "source_version": table_version(spark, run["events_path"])}
        write_table(item_table(agg), conf.layout.stats.items, mode="overwrite",
                    commit_info=lineage, overwrite_schema=True)
        write_table(category_table(agg, summary["events"]), conf.layout.stats.categories,
                    mode="overwrite", commit_info=lineage, overwrite_schema=True)
    finally:
        agg.unpersist()
    summary = {"ingest": run, "lineage": {**lineage, "events_path": run["events_path"]}, **summary}
    if conf.train.dp:  # what a DP model may read of the log, released under the budget
        summary["private"] = release_profile(spark, conf, events, lineage)
    exposure = profile_impressions(spark, conf, (run.get("holdout") or {}).get("first_date"))
    if exposure:
        summary["impressions"] = exposure
    os.makedirs(conf.layout.stats, exist_ok=True)
    with open(conf.layout.stats.summary, "w") as fh:
        json.dump(summary, fh, indent=2, sort_keys=True)
    return summary


def profile_impressions(spark: SparkSession, conf: Config, test_from: str | None) -> dict | None:
    """With `input.impressions`: ingest them, describe them and fit the click model; its
    per-item attractiveness goes to `<output>/stats/impression_items`. None without."""
    run = ingest_impressions(spark, conf, test_from)
    if run is None:
        return None
    imp = spark.read.format("delta").load(run["path"])
    summary = describe_impressions(imp)
    examination, items = fit_pbm(position_counts(imp, conf.train.max_items))
    write_table(spark.createDataFrame(items), conf.layout.stats.impression_items, mode="overwrite",
                commit_info={"operation": "profile", "seed": conf.seed, "table": "impressions"}, overwrite_schema=True)
    return {"ingest": run, **summary, "click_model": "position-based",
            "examination": {k + 1: float(v) for k, v in enumerate(examination)}}


def stats_fingerprint(conf: Config) -> str | None:
    """Hash of the stats summary (under train.dp the private one: models record only what the
    budget paid for), recorded by models so a mismatch can be refused."""
    path = conf.layout.stats.private if conf.train.dp else conf.layout.stats.summary
    if not os.path.exists(path):
        return None
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def load_summary(conf: Config) -> dict:
    path = conf.layout.stats.summary
    if not os.path.exists(path):
        raise FileNotFoundError(f"no stats at '{path}'; run `synthlib profile --conf {conf.source_file}` first")
    with open(path) as fh:
        return json.load(fh)
