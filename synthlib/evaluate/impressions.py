"""Evaluate a run's shown lists against the real impressions: fidelity, CTR-model utility, copies.

Utility: a click-through model (Spark MLlib logistic regression) on each shown row's
position, its list's length, its price rank in the list, its item's popularity and
click-through on the model's own training side, and whether the item, or its category, is
among the items the session held before the request (its events: the real training log,
the held-out one, or the run's synthetic events), trained once on the real training
impressions and once on the synthetic ones, both tested on the real held-out impressions:
AUC, and NDCG@10 of the held-out lists re-ranked by the model. Ratio:
(synthetic - 0.5) / (real - 0.5) for AUC, synthetic / real for NDCG.
"""
from __future__ import annotations

import numpy as np
from pyspark.ml import Pipeline
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.feature import OneHotEncoder, VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from synthlib.data.exposure import describe_impressions, request_context
from synthlib.models.impressions import MIN_COPY_LENGTH

NDCG_AT = 10
FEATURES = ("position_vec", "log_length", "price_rank", "log_shows", "item_ctr", "recent_item", "recent_category")


def _tv(a: dict, b: dict) -> float:
    keys = set(a) | set(b)
    return 0.5 * sum(abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in keys)


def _shape(curve: dict) -> dict:
    total = sum(curve.values())
    return {k: v / total for k, v in curve.items()} if total else {}


def fidelity(real: dict, synthetic: dict) -> dict:
    """Distances between two `describe_impressions` summaries (0 for the same log)."""
    spread = lambda d: d["clicked_popularity"]["gini"] - d["shown_popularity"]["gini"]  # noqa: E731
    return {
        # the position bias's shape: CTR by position, each curve scaled to sum to 1
        "impression_ctr_position_tv": _tv(_shape(real["ctr_by_position"]), _shape(synthetic["ctr_by_position"])),
        "impression_list_length_tv": _tv(real["list_length"], synthetic["list_length"]),
        "impression_no_click_difference": abs(real["no_click_share"] - synthetic["no_click_share"]),
        "impression_popularity_difference": abs(spread(real) - spread(synthetic)),
    }


def _ordered_lists(imp: DataFrame) -> DataFrame:
    lists = imp.groupBy("request_id").agg(F.sort_array(F.collect_list(F.struct("position", "item_id"))).alias("l"))
    return (lists.select(F.concat_ws("\u0001", F.transform("l", lambda x: x["item_id"])).alias("items"),
                         F.size("l").alias("n")).where(F.col("n") >= MIN_COPY_LENGTH))


def copies(real: DataFrame, synthetic: DataFrame) -> dict:
    """Synthetic lists of MIN_COPY_LENGTH+ items that repeat a real training list, in order."""
    synth = _ordered_lists(synthetic)
    known = _ordered_lists(real).select("items").distinct()
    row = (synth.join(known.withColumn("_real", F.lit(True)), "items", "left")
           .agg(F.count(F.lit(1)).alias("lists"), F.count("_real").alias("copies")).first())
    return {"lists": row["lists"], "copies": row["copies"], "share": row["copies"] / max(1, row["lists"])}


def with_context(imp: DataFrame, events: DataFrame | None, categories: DataFrame | None) -> DataFrame:
    """Shown rows with `recent_item` and `recent_category` (1.0 or 0.0): whether the item, or
    its category (from `categories`: item_id, category), is among the session's items before
    the request in `events` (0.0 without events)."""
    if events is None:
        return imp.withColumn("recent_item", F.lit(0.0)).withColumn("recent_category", F.lit(0.0))
    rows = imp.join(request_context(imp, events), "request_id", "left")
    if categories is not None:
        rows = rows.join(categories.select("item_id", F.col("category").alias("_category")), "item_id", "left")
    else:
        rows = rows.withColumn("_category", F.lit(None).cast("string"))
    seen = lambda column, values: F.coalesce(F.array_contains(values, F.col(column)), F.lit(False)).cast("double")  # noqa: E731
    return (rows.withColumn("recent_item", seen("item_id", "recent"))
            .withColumn("recent_category", seen("_category", "recent_categories"))
            .drop("recent", "recent_categories", "_category"))


def recent_item_share(imp: DataFrame) -> float:
    """The share of unclicked shown rows (with_context) that the session held before the request."""
    return float(imp.where(~F.col("clicked")).agg(F.avg("recent_item")).first()[0] or 0.0)


def features(imp: DataFrame, side: DataFrame) -> DataFrame:
    """Each shown row (with_context) with the model's features, the item figures taken from `side`."""
    items = side.groupBy("item_id").agg(F.count(F.lit(1)).alias("_shows"),
                                        F.sum(F.col("clicked").cast("int")).alias("_clicks"))
    prior = side.agg(F.avg(F.col("clicked").cast("double"))).first()[0] or 0.0
    req = Window.partitionBy("request_id")
    return (imp.join(F.broadcast(items), "item_id", "left")
            .select("request_id", F.col("clicked").cast("double").alias("label"),
                    F.least(F.col("position"), F.lit(50)).alias("position"),
                    F.log1p(F.count(F.lit(1)).over(req)).alias("log_length"),
                    (F.coalesce(F.percent_rank().over(req.orderBy("price")), F.lit(0.5))).alias("price_rank"),
                    F.log1p(F.coalesce("_shows", F.lit(0))).alias("log_shows"),
                    ((F.coalesce("_clicks", F.lit(0)) + 10 * prior) / (F.coalesce("_shows", F.lit(0)) + 10))
                    .alias("item_ctr"), "recent_item", "recent_category"))


def _fit(train: DataFrame):
    """(feature pipeline, score column): the score is the logistic regression's linear predictor,
    computed in SQL from its coefficients. (Its own transform would serialize the training
    summary, which holds the Spark session; a session that has observed metrics, as generation
    does, cannot be serialized.)"""
    prepare = Pipeline(stages=[OneHotEncoder(inputCols=["position"], outputCols=["position_vec"],
                                             handleInvalid="keep"),
                               VectorAssembler(inputCols=list(FEATURES), outputCol="features")]).fit(train)
    lr = LogisticRegression(maxIter=50, regParam=0.001).fit(prepare.transform(train))
    weights = F.array(*[F.lit(float(w)) for w in lr.coefficients.toArray()])
    products = F.zip_with(vector_to_array("features"), weights, lambda x, w: x * w)
    return prepare, F.aggregate(products, F.lit(float(lr.intercept)), lambda acc, v: acc + v)


def _ndcg(scored: DataFrame) -> float:
    req = Window.partitionBy("request_id")
    ranked = (scored.withColumn("_clicks", F.sum("label").over(req)).where(F.col("_clicks") > 0)
              .withColumn("_rank", F.row_number().over(req.orderBy(F.desc("p"), "position"))))
    gain = F.when(F.col("_rank") <= NDCG_AT, F.col("label") / F.log2(F.col("_rank") + 1)).otherwise(0.0)
    ideal = F.when(F.col("_rank") <= F.least(F.col("_clicks"), F.lit(NDCG_AT)), 1 / F.log2(F.col("_rank") + 1))
    per = ranked.groupBy("request_id").agg((F.sum(gain) / F.sum(ideal)).alias("ndcg"))
    return float(per.agg(F.avg("ndcg")).first()[0] or 0.0)


def auc(scored: DataFrame) -> float:
    """Area under the ROC curve of the score `p` against `label`, ties counted half. `p` is a
    linear predictor: its logistic (same order) is rounded to 1e-5, so that at most 100,001
    rows reach the driver."""
    likelihood = F.round(1 / (1 + F.exp(-F.col("p"))), 5)
    counts = (scored.groupBy(likelihood.alias("p"))
              .agg(F.sum("label").alias("pos"), F.sum(1 - F.col("label")).alias("neg"))
              .orderBy("p").toPandas())
    pos, neg = counts["pos"].to_numpy(dtype=float), counts["neg"].to_numpy(dtype=float)
    if not pos.sum() or not neg.sum():
        return float("nan")
    below = np.concatenate([[0.0], np.cumsum(neg)[:-1]])
    return float((pos * (below + 0.5 * neg)).sum() / (pos.sum() * neg.sum()))


def ctr_utility(real: DataFrame, test: DataFrame, synthetic: dict[str, DataFrame]) -> dict:
    """AUC and NDCG@10 on the real test impressions of the CTR model trained on real and on
    each synthetic run, and the ratios."""
    scores = {}
    for name, side in {"real": real, **synthetic}.items():
        prepare, score = _fit(features(side, side))
        scored = prepare.transform(features(test, side)).withColumn("p", score).persist()
        try:
            scores[name] = {"auc": auc(scored), "ndcg": _ndcg(scored)}
        finally:
            scored.unpersist()
    real_score = scores["real"]
    ratios = {}
    for name in synthetic:
        s = scores[name]
        ratios[name] = {"auc": (s["auc"] - 0.5) / (real_score["auc"] - 0.5) if real_score["auc"] > 0.5 else None,
                        "ndcg": s["ndcg"] / real_score["ndcg"] if real_score["ndcg"] else None}
    return {"scores": scores, "ratios": ratios}


def evaluate_impressions(real: DataFrame, test: DataFrame | None, runs: dict[str, DataFrame],
                         events: dict[str, DataFrame] | None = None, categories: DataFrame | None = None) -> dict:
    """{"real": summary, "runs": {run: {"metrics", "summary"}}, "utility"} of the runs' impressions.
    `events`: the sessions' events of each side ("real", "test" and each run), for the
    features of the session's recent items; `categories`: the items' categories."""
    events = events or {}
    tested = test is not None and bool(test.limit(1).count())
    sides = {"real": real, **runs, **({"test": test} if tested else {})}
    # each side's context once, for both the recent-item share and the click model
    context = {name: with_context(imp, events.get(name), categories).persist()
               for name, imp in sides.items() if tested or name in events}
    try:
        real_summary = describe_impressions(real)
        if "real" in events:
            real_summary["recent_item_share"] = recent_item_share(context["real"])
        out = {"real": real_summary, "runs": {}}
        for name, imp in runs.items():
            summary = describe_impressions(imp)
            copied = copies(real, imp)
            metrics = {**fidelity(real_summary, summary), "impression_copy_share": copied["share"]}
            if "real" in events and name in events:
                summary["recent_item_share"] = recent_item_share(context[name])
                metrics["impression_recent_item_difference"] = abs(summary["recent_item_share"]
                                                                   - real_summary["recent_item_share"])
            out["runs"][name] = {"summary": summary, "copies": copied, "metrics": metrics}
        if tested:
            util = ctr_utility(context["real"], context["test"], {name: context[name] for name in runs})
            out["utility"] = util
            for name, ratio in util["ratios"].items():
                out["runs"][name]["metrics"].update(ctr_auc_ratio=ratio["auc"], ctr_ndcg_ratio=ratio["ndcg"])
        return out
    finally:
        for frame in context.values():
            frame.unpersist()
