"""The private profile (`train.dp`): every statistic that training and generation take from
the real log, released under the profile's and the pairs' parts of the budget.

Over the contribution-bounded events (`synthlib.dp.bound`, applied at ingest), in releases
that run one after another, each bounded by what the earlier ones released:
1. histograms on public bins: sessions per user, session length, hour, day of week, gap,
   event type, type transitions, null rates, and items per user, which sets the items a user
   counts towards below (`contribution_bound`); a bin whose noisy count is under the noise
   floor (`synthlib.dp.aggregate.noise_floor`) is released as none, so noise does not fill
   the bins the log lacks;
2. users per category, over the catalog's categories; and through DP partition selection
   (a key appears only when its noisy count of distinct users clears the budget's
   threshold) the items with their popularity, and the devices;
3. the item pairs that share sessions: first the histogram of pairs per user (which bounds
   the pairs a user counts towards), then noisy counts of users over the unordered pairs of
   the PAIR_ITEMS most popular released items. Those pairs are public keys once the items
   are released, so no selection threshold applies; a count under the noise floor is
   released as none, as are the histograms' bins.

Steps 1 and 2 spend the profile's part and step 3 the pairs', jointly: one noise plan
(`synthlib.dp.budget.plan_noise`) gives every aggregation its noise multiplier, weighted by
`plan_weights`, and accounts their composition.

Written to `<output>/stats/private.json` (the summary's shape, for the keys models read)
and `<output>/stats/private_items` (the released items, their catalog category and price,
and their released session partners). The catalog's attributes (an item's category and
price, the category names) and the log's date span are taken as public; query strings
are not released.
"""
from __future__ import annotations

import json
import os
from datetime import datetime, time, timezone

import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from synthlib.config import Config, ConfigError, DPConf
from synthlib.data.sessions import item_pairs, session_items
from synthlib.delta_io import write_table
from synthlib.dp.aggregate import Release
from synthlib.dp.bound import contribution_bound
from synthlib.dp.budget import NoisePlan, delta_for, joint_part, part, plan_noise, users_part
from synthlib.schema import ARROW, EVENT_TYPES, MAX_DEVICES, SESSION_END, SESSION_START

NULLABLE = ("item_id", "category", "price", "query", "position", "device")
PAIR = "\u0001"  # joins the two items of a pair key
HISTOGRAMS = ("sessions_per_user", "session_length", "hour_of_day", "day_of_week", "gap_log2_seconds",
              "event_types", "transitions", "nulls", "items_per_user")
HISTOGRAMS_SHARE = 0.45  # of the profile's part: the histograms; the rest releases the keys (items ...)
KEY_WEIGHTS = {"items": 4.0, "categories": 1.0, "devices": 0.5}  # the keys' shares of the rest
SELECTED = ("items", "devices")  # the keys chosen by partition selection (a noisy threshold)
PAIRS_HISTOGRAM_SHARE = 0.1  # of the pairs' part: the pairs per user, which bound the pairs' count
BOUND_RULE = ("the released histogram of {} per user: the bound that keeps the most links per unit of noise "
              "(synthlib.dp.bound.contribution_bound)")
PAIR_ITEMS = 700  # released items whose pairs are counted: about 245,000 public pair keys
GAP_BINS = 40  # log2 seconds between events: 2^40 s is longer than any log
ITEM_SCHEMA = T.StructType([T.StructField("item_id", T.StringType()), T.StructField("category", T.StringType()),
                            T.StructField("events", T.LongType()), *[T.StructField(c, T.LongType()) for c in
                                                                     ("views", "carts", "purchases")],
                            T.StructField("mean_price", T.DoubleType()),
                            T.StructField("next_items", T.ArrayType(T.StringType())),
                            T.StructField("next_counts", T.ArrayType(T.LongType())),
                            T.StructField("transitions", T.LongType())])


def _keyed(df: DataFrame, key) -> DataFrame:
    return df.select("user_id", key.cast("string").alias("key")).where(F.col("key").isNotNull())


def _request_histograms(release: Release, events: DataFrame, conf: Config) -> None:
    """The histograms on public bins, and the items per user that bound the items' count."""
    dp = conf.train.dp
    w = Window.partitionBy("session_id").orderBy("ts", "event_type", "item_id")
    e = (events.withColumn("prev_type", F.lag("event_type").over(w)).withColumn("prev_ts", F.lag("ts").over(w))
         .withColumn("is_last", F.lead("event_type").over(w).isNull()))
    # A user's rows sampled down to a session's worth: the bins hold many users and bear noise well.
    # Every bin is floored: a bin the log lacks (a session length, a gap, an event type) must not
    # come out of the noise, or the tails fill with it (session lengths spread over every bin).
    # A shape whose every bin is under the floor keeps its noisy counts ("shape"); the event
    # types and transitions never do (a log too small for them stops the profile).
    per_event = dict(max_keys=0, max_rows=dp.max_sessions)
    sessions = events.groupBy("user_id", "session_id").count()
    release.count("sessions_per_user", _keyed(sessions.groupBy("user_id").count(), F.col("count")),
                  max_keys=1, users=True, keys=[str(k) for k in range(1, dp.max_sessions + 1)], floor="shape")
    release.count("session_length", _keyed(sessions, F.col("count")), keys=[str(k) for k in range(1, dp.max_events + 1)],
                  floor="shape", **per_event)
    release.count("hour_of_day", _keyed(e, F.hour("ts")), keys=[str(h) for h in range(24)], floor="shape", **per_event)
    release.count("day_of_week", _keyed(e, F.dayofweek("ts")), keys=[str(d) for d in range(1, 8)], floor="shape",
                  **per_event)
    gap = F.floor(F.log2(F.unix_millis("ts") / 1000.0 - F.unix_millis("prev_ts") / 1000.0 + 1))
    release.count("gap_log2_seconds", _keyed(e.where(F.col("prev_ts").isNotNull()), gap),
                  keys=[str(g) for g in range(GAP_BINS)], floor="shape", **per_event)
    release.count("event_types", _keyed(e, F.col("event_type")), keys=list(EVENT_TYPES), floor=True, **per_event)
    step = F.concat(F.coalesce("prev_type", F.lit(SESSION_START)), F.lit(ARROW), F.col("event_type"))
    ending = F.concat(F.col("event_type"), F.lit(ARROW + SESSION_END))
    steps = _keyed(e, step).unionByName(_keyed(e.where("is_last"), ending))
    release.count("transitions", steps, keys=[f"{a}{ARROW}{b}" for a in (SESSION_START, *EVENT_TYPES)
                                              for b in (*EVENT_TYPES, SESSION_END)], floor=True, **per_event)
    nulls = e.select("user_id", F.explode(F.array(F.lit("events"), *[F.when(F.col(c).isNull(), F.lit(c))
                                                                   for c in NULLABLE])).alias("key"))
    release.count("nulls", nulls.where(F.col("key").isNotNull()), keys=["events", *NULLABLE],
                  max_keys=0, max_rows=dp.max_sessions * (1 + len(NULLABLE)), floor="shape")
    release.count("items_per_user", _per_user(events.where(F.col("item_id").isNotNull())
                                              .groupBy("user_id").agg(F.countDistinct("item_id").alias("n")),
                                              dp.max_items), max_keys=1, users=True,
                  keys=[str(k) for k in range(1, dp.max_items + 1)], floor="shape")


def _request_keys(release: Release, events: DataFrame, conf: Config, categories: list[str],
                  max_items: int) -> None:
    """The users per category, and the items and devices through partition selection."""
    if _maps_device(conf):
        release.count("devices", _keyed(events, F.col("device")).distinct(), max_keys=2, users=True)
    if categories:
        release.count("categories", _keyed(events, F.col("category")).distinct(), max_keys=max_items,
                      users=True, keys=categories)
    release.count("items", _keyed(events, F.col("item_id")).distinct(), max_keys=max_items, users=True)


def plan_weights(dp: DPConf, conf: Config, categories: list[str]) -> dict[str, float]:
    """Every aggregation's share of the joint privacy loss: the profile's part spread over the
    histograms (HISTOGRAMS_SHARE) and the keys (KEY_WEIGHTS, the items most: their threshold
    grows as the noise does), the pairs' part over the pairs per user and the counts. A log
    whose conf maps no device, or whose catalog has no category, spends nothing on them (both
    facts are public)."""
    keys = {k: w for k, w in KEY_WEIGHTS.items()
            if k == "items" or (k == "categories" and categories) or (k == "devices" and _maps_device(conf))}
    profile, pairs = dp.shares.profile, dp.shares.pairs
    return {**{h: profile * HISTOGRAMS_SHARE / len(HISTOGRAMS) for h in HISTOGRAMS},
            **{k: profile * (1 - HISTOGRAMS_SHARE) * w / sum(keys.values()) for k, w in keys.items()},
            "pairs_per_user": pairs * PAIRS_HISTOGRAM_SHARE, "pairs": pairs * (1 - PAIRS_HISTOGRAM_SHARE)}


def _maps_device(conf: Config) -> bool:
    """Whether the log has a device column: the conf maps one, or it is the simulated log."""
    if conf.input is None:
        return True
    return any(src.columns.device or any(m.get("device") for m in src.columns_by_event_type.values())
               for src in conf.input.sources)


def _per_user(counts: DataFrame, cap: int) -> DataFrame:
    """(user_id, key) rows of a histogram of keys per user (column n), its last bin `cap` and over."""
    return counts.select("user_id", F.least(F.col("n"), F.lit(cap)).cast("string").alias("key"))


def _pair_candidates(users: dict[str, float]) -> list[str]:
    """The released items whose pairs are counted: the PAIR_ITEMS most popular (a pair's users
    are at most its rarer item's, so the tail's pairs would not clear the noise)."""
    released = sorted(((-round(v), k) for k, v in users.items() if round(v) > 0))[:PAIR_ITEMS]
    return sorted(k for _, k in released)


def _pairs(spark: SparkSession, events: DataFrame, candidates: list[str]) -> tuple[DataFrame, list[str]]:
    """(user_id, key) rows: the unordered pairs of candidate items that share a user's session;
    and every such pair's key, public since the items were released."""
    known = F.broadcast(spark.createDataFrame([(k,) for k in candidates] or [("",)], "item_id string"))
    pairs = item_pairs(session_items(events.join(known, "item_id"), 50)).where(F.col("a") < F.col("b"))
    keys = [f"{a}{PAIR}{b}" for i, a in enumerate(candidates) for b in candidates[i + 1:]]
    return pairs.select("user_id", F.concat("a", F.lit(PAIR), "b").alias("key")).distinct(), keys


def _release_pairs(spark: SparkSession, dp: DPConf, plan: NoisePlan, events: DataFrame,
                   candidates: list[str]) -> tuple[dict, list[Release], int]:
    """The pairs' noisy counts of users: first the histogram of pairs per user, which bounds the
    pairs a user counts towards, then the counts. Returns (counts, releases, bound)."""
    shape, counts = Release(spark, plan), Release(spark, plan)
    rows, keys = _pairs(spark, events, candidates)
    rows = rows.persist(StorageLevel.MEMORY_AND_DISK)  # both releases read the pairs
    try:
        shape.count("pairs_per_user", _per_user(rows.groupBy("user_id").agg(F.count(F.lit(1)).alias("n")),
                                                dp.max_pairs), max_keys=1, users=True,
                    keys=[str(k) for k in range(1, dp.max_pairs + 1)], floor="shape")
        bound = contribution_bound(shape.compute()["pairs_per_user"])
        counts.count("pairs", rows, max_keys=bound, users=True, keys=keys, floor=True)
        return counts.compute()["pairs"], [shape, counts], bound
    finally:
        rows.unpersist()


def _spent(dp: DPConf, name: str, *releases: Release) -> dict:
    """A part's record: its share of the total, spent jointly under the noise plan, and its aggregations."""
    share = part(dp, name)
    return {**releases[0].spent(), "epsilon": share.epsilon, "delta": share.delta,
            "composed": "jointly with the " + ("pairs" if name == "profile" else "profile") + " (see joint)",
            "aggregations": {k: v for r in releases for k, v in r.aggregations.items()}}


def _hist(counts: dict[str, float]) -> dict:
    """A released histogram in the summary's {bins, counts} form: noise rounded, floored at 0."""
    kept = sorted((int(k), max(0, round(v))) for k, v in counts.items())
    return {"bins": [k for k, n in kept if n > 0], "counts": [n for _, n in kept if n > 0]}


def _positive(counts: dict[str, float]) -> dict[str, int]:
    return {k: round(v) for k, v in sorted(counts.items()) if round(v) > 0}


def _time_range(events: DataFrame) -> dict:
    """The log's date span, whole days (taken as public: a release states its period)."""
    row = events.agg(F.min(F.to_date("ts")).alias("a"), F.max(F.to_date("ts")).alias("b")).first()
    start = datetime.combine(row["a"], time(), tzinfo=timezone.utc).timestamp()
    end = datetime.combine(row["b"], time(23, 59, 59), tzinfo=timezone.utc).timestamp()
    return {"start": start, "end": end, "first_day": row["a"].isoformat(), "last_day": row["b"].isoformat()}


def _summary(found: dict[str, dict], time_range: dict, n_items: int) -> dict:
    transitions: dict[str, dict[str, int]] = {}
    for key, n in _positive(found["transitions"]).items():
        a, b = key.split(ARROW)
        transitions.setdefault(a, {})[b] = n
    nulls = found["nulls"]
    events = max(1.0, nulls["events"])
    sessions_per_user = _hist(found["sessions_per_user"])
    return {
        "users": sum(sessions_per_user["counts"]),
        "sessions": sum(b * n for b, n in zip(sessions_per_user["bins"], sessions_per_user["counts"])),
        "events": round(events), "items": n_items, "categories": len(_positive(found["categories"])),
        "category_users": _positive(found["categories"]),
        "time_range": time_range,
        "sessions_per_user": sessions_per_user, "session_length": _hist(found["session_length"]),
        "hour_of_day": {int(k): n for k, n in _positive(found["hour_of_day"]).items()},
        "day_of_week": {int(k): n for k, n in _positive(found["day_of_week"]).items()},
        "gap_log2_seconds": {int(k): n for k, n in _positive(found["gap_log2_seconds"]).items()},
        "event_types": _positive(found["event_types"]), "transitions": transitions,
        "null_rates": {c: min(1.0, max(0.0, nulls[c] / events)) for c in NULLABLE},
        "devices": dict(sorted(_positive(found["devices"]).items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_DEVICES]),
        "top_queries": [],
    }


def _items(spark: SparkSession, conf: Config, users: dict[str, float], pairs: dict[str, float],
           per_item: int) -> pd.DataFrame:
    """The released items (popularity: noisy distinct users), their catalog attributes and
    their `per_item` most shared released partners."""
    released = {k: round(v) for k, v in users.items() if round(v) > 0}
    catalog = (spark.read.format("delta").load(conf.layout.stats.items)
               .join(F.broadcast(spark.createDataFrame([(k,) for k in released] or [("",)], "item_id string")),
                     "item_id").select("item_id", "category", "mean_price").toPandas())  # bounded: released items
    catalog["events"] = catalog["item_id"].map(released).astype("int64")
    partners: dict[str, list[tuple[int, str]]] = {}
    for key, n in pairs.items():
        a, b = key.split(PAIR)
        if round(n) > 0 and a in released and b in released:
            partners.setdefault(a, []).append((-round(n), b))
            partners.setdefault(b, []).append((-round(n), a))
    top = {a: sorted(p)[:per_item] for a, p in partners.items()}
    catalog["next_items"] = catalog["item_id"].map(lambda a: [b for _, b in top[a]] if a in top else None)
    catalog["next_counts"] = catalog["item_id"].map(lambda a: [-n for n, _ in top[a]] if a in top else None)
    catalog["transitions"] = catalog["next_counts"].map(lambda c: int(sum(c)) if c else 0).astype("int64")
    for c in ("views", "carts", "purchases"):
        catalog[c] = 0
    catalog["mean_price"] = catalog["mean_price"].astype("float64")
    return catalog.sort_values(["events", "item_id"], ascending=[False, True]).reset_index(drop=True)


def _delta(spark: SparkSession, dp: DPConf, events: DataFrame) -> tuple[DPConf, dict | None]:
    """`dp` with its total delta: the configured one, or 1/(10 x users) from a DP count of the
    users (and the record of that count)."""
    if dp.delta is not None:
        return dp, None
    users = users_part(dp)
    counter = Release(spark, users)
    counter.count("users", events.select("user_id", F.lit("all").alias("key")).distinct(), max_keys=1,
                  users=True, keys=["all"])
    noisy = counter.compute()["users"]["all"]
    delta = delta_for(noisy, users.epsilon)
    return dp.model_copy(update={"delta": delta}), {
        "rule": "1/(10 x users)", "users_noisy": round(noisy), "users_upper": round(1 / (10 * delta)),
        "epsilon": users.epsilon, "noise": "laplace"}


def release_profile(spark: SparkSession, conf: Config, events: DataFrame, lineage: dict) -> dict:
    """Release the private profile of the (bounded) events; returns its privacy record."""
    dp, delta_from = _delta(spark, conf.train.dp, events)
    counted = delta_from["epsilon"] if delta_from else 0.0  # the profile's slice spent counting users
    categories = [r[0] for r in spark.read.format("delta").load(conf.layout.stats.categories)
                  .select("category").collect()]  # the catalog's, public; bounded by its categories
    joint = joint_part(dp, counted)
    weights = plan_weights(dp, conf, categories)
    plan = plan_noise(joint.epsilon, joint.delta, weights, thresholding=[k for k in SELECTED if k in weights])
    shape, keyed = Release(spark, plan), Release(spark, plan)
    _request_histograms(shape, events, conf)
    found = shape.compute()
    max_items = contribution_bound(found["items_per_user"])
    _request_keys(keyed, events, conf, categories, max_items)
    found = {"devices": {}, "categories": {}, **found, **keyed.compute()}
    pairs, pair_releases, max_pairs = _release_pairs(spark, dp, plan, events, _pair_candidates(found["items"]))
    items = _items(spark, conf, found["items"], pairs, per_item=32)
    if items.empty:
        raise ConfigError(f"train.dp: no item was used by enough users to be released at epsilon {dp.epsilon:g} "
                          f"(profile share {dp.shares.profile:g}); raise train.dp.epsilon or split.profile, "
                          "or profile a larger log")
    summary = _summary(found, _time_range(events), len(items))
    if not summary["event_types"]:
        raise ConfigError(f"train.dp: no event type was counted above its noise at epsilon {dp.epsilon:g}; "
                          "raise train.dp.epsilon or split.profile, or profile a larger log")
    spent = {"profile": _spent(dp, "profile", shape, keyed), "pairs": _spent(dp, "pairs", *pair_releases)}
    unplanned = set(plan.multipliers) - set(spent["profile"]["aggregations"]) - set(spent["pairs"]["aggregations"])
    if unplanned:
        raise RuntimeError(f"the noise plan holds aggregations that never ran: {sorted(unplanned)}")
    if delta_from:
        spent["profile"]["delta_from"] = delta_from
    derived = {"max_items": {"value": max_items, "cap": dp.max_items, "from": BOUND_RULE.format("items")},
               "max_pairs": {"value": max_pairs, "cap": dp.max_pairs, "from": BOUND_RULE.format("item pairs")}}
    summary["privacy"] = {"delta": dp.delta, "parts": spent, "bounds": derived,
                          "joint": {**plan.record(), "users_counted_first": counted},
                          "pairs_released": sum(1 for n in pairs.values() if round(n) > 0)}
    write_table(spark.createDataFrame(items[list(ITEM_SCHEMA.names)], schema=ITEM_SCHEMA),
                conf.layout.stats.private_items, mode="overwrite", commit_info={**lineage, "dp": "private profile"},
                overwrite_schema=True)
    os.makedirs(conf.layout.stats, exist_ok=True)
    with open(conf.layout.stats.private, "w") as fh:
        json.dump(summary, fh, indent=2, sort_keys=True)
    return {"items": len(items), **summary["privacy"]}


def load_private(conf: Config) -> dict:
    path = conf.layout.stats.private
    if not os.path.exists(path):
        raise FileNotFoundError(f"no private profile at '{path}'; train.dp is set: rerun "
                                f"`synthlib profile --conf {conf.source_file}`")
    with open(path) as fh:
        return json.load(fh)
