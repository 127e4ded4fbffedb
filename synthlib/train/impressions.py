"""Train the exposure model (synthlib.models.impressions) from the profiled impressions."""
from __future__ import annotations

import os
import shutil

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from synthlib.config import Config
from synthlib.data.exposure import request_context
from synthlib.models.guards import sorted_keys
from synthlib.models.impressions import MIN_COPY_LENGTH, ImpressionModel, list_keys

CHANCE_REQUESTS = 2000  # real requests per surface the chance of a recent item is measured on


def _list_keys(lists: pd.Series) -> pd.Series:
    flat = [i for items in lists for i in items]
    return pd.Series(list_keys(flat, lists.map(len).to_numpy()), index=lists.index)


def train_impressions(spark: SparkSession, conf: Config, summary: dict) -> dict | None:
    """Fit and save the exposure model when the profile holds impressions (else remove an
    earlier one); returns its info, or None."""
    folder = conf.layout.model.exposure
    exposure = summary.get("impressions")
    if not exposure:
        if os.path.isdir(folder):
            shutil.rmtree(folder)
        return None
    imp = spark.read.format("delta").load(exposure["ingest"]["path"])
    k = conf.profile.min_query_users
    shown_to = imp.groupBy("item_id").agg(F.countDistinct("user_id").alias("users"), F.avg("price").alias("price"))
    categories = spark.read.format("delta").load(conf.layout.stats.items).select("item_id", "category")
    # Only items that at least k distinct users were shown become candidates (the k-user floor).
    items = (spark.read.format("delta").load(conf.layout.stats.impression_items)
             .join(shown_to.where(F.col("users") >= k), "item_id").join(categories, "item_id", "left")
             .orderBy(F.desc("shows"), "item_id").limit(conf.train.max_items)
             .select("item_id", "category", "shows", "attractiveness", "price").toPandas())
    # A list's shape: its first position and its length (a log may keep one row of a slate a request).
    sizes = (imp.groupBy("surface", "request_id").agg(F.min("position").alias("first"), F.count(F.lit(1)).alias("n"))
             .groupBy("surface", "first", "n").count().orderBy("surface", "first", "n").collect())
    shapes: dict[str, dict[str, float]] = {}
    for r in sizes:
        shapes.setdefault(r["surface"], {})[f"{r['first']}:{r['n']}"] = r["count"]
    requests = {s: sum(pmf.values()) for s, pmf in shapes.items()}
    shapes = {s: {n: c / requests[s] for n, c in pmf.items()} for s, pmf in shapes.items()}
    lists = (imp.groupBy("request_id").agg(F.sort_array(F.collect_list(F.struct("position", "item_id"))).alias("l"))
             .select(F.transform("l", lambda x: x["item_id"]).alias("items"))
             .where(F.size("items") >= MIN_COPY_LENGTH))
    keys = sorted_keys(lists.select(F.pandas_udf(_list_keys, "long")("items").alias("key")))
    # Where the real clicks fell, by surface; a log without searches takes its click events
    # as the clicks of its main surface (the one with the most clicked requests).
    clicked = imp.where("clicked").groupBy("surface", "position").count().collect()
    click_positions: dict[str, dict[str, float]] = {}
    for r in sorted(clicked, key=lambda r: (r["surface"], r["position"])):
        click_positions.setdefault(r["surface"], {})[str(r["position"])] = r["count"]
    click_positions = {s: {p: n / sum(c.values()) for p, n in c.items()} for s, c in click_positions.items()}
    per_request = imp.groupBy("surface", "request_id").agg(F.max(F.col("clicked").cast("int")).alias("c"))
    answered = {r["surface"]: (r["clicked"], r["requests"]) for r in per_request.groupBy("surface").agg(
        F.sum("c").alias("clicked"), F.count(F.lit(1)).alias("requests")).collect()}
    event_clicks = None
    if "search" not in requests and summary["event_types"].get("click", 0) and click_positions:
        event_clicks = max(sorted(click_positions), key=lambda s: answered[s][0])
    spec = {"model": ImpressionModel.kind, "version": 1, "click_model": exposure["click_model"],
            "examination": [float(v) for _, v in sorted((int(p), v) for p, v in exposure["examination"].items())],
            "list_shape": shapes, "min_users": k,
            # requests of a surface per real event: how often generation anchors one on a synthetic event
            "surfaces": {s: n / max(1, summary["events"]) for s, n in sorted(requests.items())},
            # the surface whose clicks are the synthetic click events, its requests without a click per event
            "event_clicks": event_clicks, "click_positions": click_positions,
            "no_click_requests": {s: (n - c) / max(1, summary["events"]) for s, (c, n) in sorted(answered.items())},
            "lineage": {"impressions_path": exposure["ingest"]["path"], "seed": conf.seed}}
    model = ImpressionModel(spec, items, np.asarray(keys, dtype=np.int64))
    events = spark.read.format("delta").load(conf.layout.ingest.events)
    spec["recent"], spec["recent_beyond_chance"] = _recent_shares(imp, events, model, conf.seed)
    model = ImpressionModel(spec, items, model.copy_keys)
    model.save(folder)
    return {**model.get_info(), "path": folder}


def _recent_shares(imp: DataFrame, events: DataFrame, model: ImpressionModel, seed: int) -> tuple[dict, dict]:
    """Per surface: the share of a list's unclicked positions that show an item its session
    held before the request, beyond what the draw by category and shows gives by chance
    (the share generation places), and the measured shares themselves. Over the requests
    whose session held an item before them."""
    rows = (imp.join(request_context(imp, events), "request_id").where(F.size("recent") > 0)
            .where(~F.col("clicked")))
    observed = {r["surface"]: float(r["share"]) for r in rows.groupBy("surface").agg(
        F.avg(F.array_contains("recent", F.col("item_id")).cast("double")).alias("share")).collect()}
    category = dict(zip(model.item_ids, model.items["category"]))
    shares, measured = {}, {}
    for surface, share in sorted(observed.items()):
        sample = (rows.where(F.col("surface") == surface).groupBy("request_id")
                  .agg(F.first("recent").alias("recent"), F.min_by("item_id", "position").alias("top"),
                       F.count(F.lit(1)).alias("n"))
                  .orderBy(F.xxhash64(F.lit(seed), "request_id")).limit(CHANCE_REQUESTS).collect())
        chance = model.chance_of_recent([(category.get(r["top"]), list(r["recent"]), r["n"]) for r in sample], seed)
        shares[surface] = max(0.0, (share - chance) / (1 - chance)) if chance < 1 else 0.0
        measured[surface] = {"real": share, "chance": chance}
    return shares, measured
