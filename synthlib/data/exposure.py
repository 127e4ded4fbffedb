"""Profile the exposure side: what was shown, where, and what was clicked.

The same pass style as the event profile: a window over each request adds its list length,
click count and price ranks, every shown row is exploded into (statistic, key) rows, and a
single aggregation counts shows and clicks for all of them. Only bounded results reach the
driver, except the (item, position) counts the click model is fitted on, capped at
`max_items` items (the rest pooled).

The click model is position-based (PBM): a result at position k is examined with
probability theta_k and an examined item i clicked with its attractiveness alpha_i, so
P(click) = theta_k * alpha_i. Chosen over a cascade model because real lists carry several
clicks and no-click requests, which a cascade model (one click, the last examined) cannot
represent; fitted by expectation-maximisation on the counts.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from synthlib.data.popularity import popularity

OTHER_ITEM = ""  # the pooled items beyond max_items in the click model's counts
RECENT_ITEMS = 5  # a request's context: the items of its session's last events before it
_RECENT_ROWS = 20  # the rows looked back over for them (events without an item skipped)
STATS = ("length", "position", "surface_position", "surface", "price_rank", "click_rank")


def _stat_rows(imp: DataFrame) -> DataFrame:
    req = Window.partitionBy("request_id")
    by_position = req.orderBy("position")
    rows = (imp.withColumn("_length", F.count(F.lit(1)).over(req))
            .withColumn("_clicks", F.sum(F.col("clicked").cast("int")).over(req))
            .withColumn("_first", F.row_number().over(by_position) == 1)
            .withColumn("_price_rank", F.when(F.col("price").isNotNull(),
                                              F.rank().over(req.orderBy(F.col("price").asc_nulls_last()))))
            .withColumn("_click_rank", F.when(F.col("clicked"), F.sum(F.col("clicked").cast("int")).over(
                by_position.rowsBetween(Window.unboundedPreceding, 0)))))
    position = F.col("position").cast("string")
    pairs = [
        ("length", F.when(F.col("_first"), F.col("_length").cast("string"))),
        ("position", position),
        ("surface_position", F.concat("surface", F.lit(":"), position)),
        # a request's no-click share by surface: counted on its first row, "clicks" = requests clicked
        ("surface", F.when(F.col("_first"), F.col("surface"))),
        ("price_rank", F.col("_price_rank").cast("string")),
        # of a request's clicks, the n-th from the top: at which position
        ("click_rank", F.when(F.col("_click_rank").isNotNull(), F.concat(F.col("_click_rank").cast("string"),
                                                                         F.lit(":"), position))),
    ]
    structs = [F.when(k.isNotNull(), F.struct(F.lit(s).alias("stat"), k.alias("key"))) for s, k in pairs]
    clicked = F.when(F.col("_s.stat") == "surface", (F.col("_clicks") > 0).cast("int")).otherwise(
        F.col("clicked").cast("int"))
    return (rows.select("*", F.explode(F.filter(F.array(*structs), lambda x: x.isNotNull())).alias("_s"))
            .select(F.col("_s.stat").alias("stat"), F.col("_s.key").alias("key"), clicked.alias("clicked")))


def _counts(rows: list, stat: str) -> dict[str, tuple[int, int]]:
    return {r["key"]: (int(r["shows"]), int(r["clicks"])) for r in rows if r["stat"] == stat}


def _by_int(counts: dict[str, tuple[int, int]], ratio: bool) -> dict[int, float]:
    return {int(k): (c / s if ratio else s) for k, (s, c) in sorted(counts.items(), key=lambda kv: int(kv[0]))}


def describe_impressions(imp: DataFrame) -> dict:
    """The exposure summary of canonical impressions (real or synthetic)."""
    rows = (_stat_rows(imp).groupBy("stat", "key")
            .agg(F.count(F.lit(1)).alias("shows"), F.sum("clicked").alias("clicks")).collect())
    lengths = _by_int(_counts(rows, "length"), ratio=False)
    requests = sum(lengths.values())
    surfaces = _counts(rows, "surface")
    by_surface: dict[str, dict[int, float]] = {}
    for key, (s, c) in _counts(rows, "surface_position").items():
        surface, k = key.rsplit(":", 1)
        by_surface.setdefault(surface, {})[int(k)] = c / s
    click_ranks: dict[int, dict[int, int]] = {}
    for key, (s, _) in _counts(rows, "click_rank").items():
        n, k = key.split(":")
        click_ranks.setdefault(int(n), {})[int(k)] = s
    items = imp.groupBy("item_id").agg(F.count(F.lit(1)).alias("shows"),
                                       F.sum(F.col("clicked").cast("int")).alias("clicks"))
    shown = items.groupBy("shows").count().collect()
    clicked = items.where("clicks > 0").groupBy("clicks").count().collect()
    positions = _counts(rows, "position")
    clicks = sum(c for _, c in positions.values())
    return {
        "requests": requests, "rows": sum(s for s, _ in positions.values()), "clicks": clicks,
        "list_length": {k: v / max(1, requests) for k, v in lengths.items()},
        "ctr_by_position": _by_int(positions, ratio=True),
        "click_share_by_position": {int(k): c / max(1, clicks) for k, (_, c) in sorted(
            positions.items(), key=lambda kv: int(kv[0]))},
        "ctr_by_surface_position": {s: dict(sorted(v.items())) for s, v in sorted(by_surface.items())},
        "surfaces": {s: n / max(1, requests) for s, (n, _) in sorted(surfaces.items())},
        "no_click_share": 1 - sum(c for _, c in surfaces.values()) / max(1, requests),
        "ctr_by_price_rank": _by_int(_counts(rows, "price_rank"), ratio=True),
        "click_positions_by_rank": {n: dict(sorted(v.items())) for n, v in sorted(click_ranks.items())},
        "shown_popularity": popularity([(int(r["shows"]), int(r["count"])) for r in shown]),
        "clicked_popularity": popularity([(int(r["clicks"]), int(r["count"])) for r in clicked]),
    }


def with_recent(rows: DataFrame, *order) -> DataFrame:
    """`rows` (session_id, item_id, category, ordered within a session by `order`) with
    `recent` and `recent_categories`: the items, and their categories, of the RECENT_ITEMS
    last rows before each row in its session that hold an item, most recent last."""
    before = Window.partitionBy("session_id").orderBy(*order).rowsBetween(-_RECENT_ROWS, -1)
    seen = F.collect_list(F.when(F.col("item_id").isNotNull(), F.struct("item_id", "category"))).over(before)
    last = F.reverse(F.slice(F.reverse(seen), 1, RECENT_ITEMS))
    return (rows.withColumn("_recent", last)
            .withColumn("recent", F.transform("_recent", lambda x: x["item_id"]))
            .withColumn("recent_categories", F.transform("_recent", lambda x: x["category"])).drop("_recent"))


def request_context(imp: DataFrame, events: DataFrame) -> DataFrame:
    """(request_id, recent, recent_categories) of canonical impressions: what the session of
    each request held before it (a request comes before an event of the same second).
    Requests without a session have an empty context."""
    requests = (imp.where(F.col("session_id").isNotNull()).groupBy("request_id")
                .agg(F.first("session_id").alias("session_id"), F.min("ts").alias("ts")))
    rows = (events.where(F.col("session_id").isNotNull())
            .select("session_id", "ts", "item_id", "category", F.lit(1).alias("_kind"),
                    F.lit(None).cast("string").alias("request_id"))
            .unionByName(requests.select("session_id", "ts", F.lit(None).cast("string").alias("item_id"),
                                         F.lit(None).cast("string").alias("category"), F.lit(0).alias("_kind"),
                                         "request_id")))
    found = with_recent(rows, "ts", "_kind").where(F.col("_kind") == 0).select("request_id", "recent",
                                                                               "recent_categories")
    empty = F.array().cast("array<string>")
    return (imp.select("request_id").distinct().join(found, "request_id", "left")
            .select("request_id", F.coalesce("recent", empty).alias("recent"),
                    F.coalesce("recent_categories", empty).alias("recent_categories")))


def position_counts(imp: DataFrame, max_items: int) -> pd.DataFrame:
    """(item_id, position, shows, clicks) of the `max_items` most shown items; the others
    pooled under OTHER_ITEM."""
    per_item = imp.groupBy("item_id").count()
    top = per_item.orderBy(F.desc("count"), "item_id").limit(max_items).select("item_id", F.lit(True).alias("_top"))
    item = F.when(F.col("_top"), F.col("item_id")).otherwise(F.lit(OTHER_ITEM))
    return (imp.join(F.broadcast(top), "item_id", "left").groupBy(item.alias("item_id"), "position")
            .agg(F.count(F.lit(1)).alias("shows"), F.sum(F.col("clicked").cast("int")).alias("clicks"))
            .orderBy("item_id", "position").toPandas())


def fit_pbm(counts: pd.DataFrame, iterations: int = 500, tol: float = 1e-7) -> tuple[np.ndarray, pd.DataFrame]:
    """(examination by position 1..K, per-item attractiveness) of a position-based model,
    by EM on (item_id, position, shows, clicks) counts. PBM fixes only the products, so
    examination is scaled to 1 at its most examined position (attractiveness absorbs the scale)."""
    items, item_index = np.unique(counts["item_id"].to_numpy(), return_inverse=True)
    k = counts["position"].to_numpy(dtype=np.int64) - 1
    shows = counts["shows"].to_numpy(dtype=np.float64)
    clicks = counts["clicks"].to_numpy(dtype=np.float64)
    misses = shows - clicks
    positions = int(k.max()) + 1
    per_position = np.bincount(k, shows, positions)
    per_item = np.bincount(item_index, shows, len(items))
    theta, alpha = np.full(positions, 0.5), np.full(len(items), 0.5)
    for _ in range(iterations):
        t, a = theta[k], alpha[item_index]
        miss = np.maximum(1 - t * a, 1e-12)
        examined = clicks + misses * t * (1 - a) / miss  # examined, clicked or not attracted
        attracted = clicks + misses * (1 - t) * a / miss  # attracted, clicked or not examined
        new_theta = np.bincount(k, examined, positions) / np.maximum(per_position, 1)
        new_alpha = (np.bincount(item_index, attracted, len(items)) + 1) / (per_item + 2)  # Beta(1, 1) prior
        change = max(np.abs(new_theta - theta).max(), np.abs(new_alpha - alpha).max())
        theta, alpha = new_theta, new_alpha
        if change < tol:
            break
    scale = theta.max() if theta.max() > 0 else 1.0
    examination = theta / scale
    attract = pd.DataFrame({"item_id": items, "shows": per_item,
                            "clicks": np.bincount(item_index, clicks, len(items)),
                            "attractiveness": np.clip(alpha * scale, 0, 1)})
    return examination, attract
