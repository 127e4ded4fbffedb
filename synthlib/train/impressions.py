"""Train the exposure model (synthlib.models.impressions) from the profiled impressions."""
from __future__ import annotations

import os
import shutil

import numpy as np
import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from synthlib.config import Config
from synthlib.models.guards import sorted_keys
from synthlib.models.impressions import MIN_COPY_LENGTH, ImpressionModel, list_keys



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
    spec = {"model": ImpressionModel.kind, "version": 1, "click_model": exposure["click_model"],
            "examination": [float(v) for _, v in sorted((int(p), v) for p, v in exposure["examination"].items())],
            "list_shape": shapes, "min_users": k,
            # requests of a surface per real event: how often generation anchors one on a synthetic event
            "surfaces": {s: n / max(1, summary["events"]) for s, n in sorted(requests.items())},
            "lineage": {"impressions_path": exposure["ingest"]["path"], "seed": conf.seed}}
    model = ImpressionModel(spec, items, np.asarray(keys, dtype=np.int64))
    model.save(folder)
    return {**model.get_info(), "path": folder}
