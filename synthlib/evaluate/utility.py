"""Utility: train recommenders on a log (real or synthetic), test them on real held-out sessions.

The recommenders are item-based, so they transfer from synthetic users to real ones:
- item-kNN: cosine co-visitation within sessions, a test example's history items vote
  for their neighbours;
- ALS (Spark MLlib, implicit feedback): item factors learned from the log, the test
  user folded in from their real history by one least-squares step;
- popularity: the log's most popular items.
kNN and ALS fill what they cannot score with the same log's most popular items.

A test example is a real held-out session: its first half plus the user's latest real
training items are the history, the other items of its second half are the targets.
"""
from __future__ import annotations

import math
from functools import reduce
from typing import Iterator

import numpy as np
import pandas as pd
from pyspark.ml.feature import StringIndexer
from pyspark.ml.recommendation import ALS
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from synthlib import rng
from synthlib.config import EvaluateConf
from synthlib.data.sessions import neighbours

MEASURES = ("recall", "ndcg", "hit_rate")


def test_examples(train: DataFrame, test: DataFrame, conf: EvaluateConf, seed: int) -> DataFrame:
    """(example, user_id, history, targets, sparse): one row per usable held-out session."""
    items = test.where(F.col("item_id").isNotNull())
    w = Window.partitionBy("session_id").orderBy("ts", "item_id")
    items = (items.withColumn("_i", F.row_number().over(w))
             .withColumn("_n", F.count(F.lit(1)).over(Window.partitionBy("session_id"))))
    first_half = F.col("_i") <= F.ceil(F.col("_n") / 2)
    sessions = items.groupBy("session_id", "user_id").agg(
        F.collect_set(F.when(first_half, F.col("item_id"))).alias("prefix"),
        F.collect_set(F.when(~first_half, F.col("item_id"))).alias("later"))
    latest = (train.where(F.col("item_id").isNotNull()).groupBy("user_id", "item_id").agg(F.max("ts").alias("ts"))
              .withColumn("_r", F.row_number().over(Window.partitionBy("user_id").orderBy(F.desc("ts"), "item_id")))
              .where(F.col("_r") <= conf.history_items)
              .groupBy("user_id").agg(F.collect_set("item_id").alias("past")))
    users = train.groupBy("user_id").agg(F.countDistinct("session_id").alias("train_sessions"))
    history = F.array_sort(F.array_distinct(F.concat("prefix", F.coalesce("past", F.array().cast("array<string>")))))
    examples = (sessions.join(latest, "user_id", "left").join(users, "user_id", "left")
                .select(F.col("session_id").alias("example"), "user_id", history.alias("history"),
                        F.array_sort(F.array_except("later", history)).alias("targets"),
                        (F.coalesce("train_sessions", F.lit(0)) <= conf.sparse_sessions).alias("sparse"))
                .where(F.size("targets") > 0))
    return (examples.orderBy(rng.spark_key(seed, "utility", "example"), "example")
            .limit(conf.test_sessions))


def popular_items(log: DataFrame, n: int) -> list[str]:
    """The log's `n` most popular items (ties by id): bounded, so it may reach the driver."""
    rows = (log.where(F.col("item_id").isNotNull()).groupBy("item_id").count()
            .orderBy(F.desc("count"), "item_id").limit(n).collect())
    return [r["item_id"] for r in rows]


def _top(scored: DataFrame, examples: DataFrame, k: int) -> DataFrame:
    """(example, item, rank): the k best-scored items of each example outside its history."""
    seen = examples.select("example", F.explode("history").alias("item"))
    w = Window.partitionBy("example").orderBy(F.desc("score"), "item")
    return (scored.groupBy("example", "item").agg(F.max("score").alias("score"))
            .join(seen, ["example", "item"], "left_anti")
            .withColumn("rank", F.row_number().over(w)).where(F.col("rank") <= k)
            .select("example", "item", F.col("rank").cast("int")))


def _popular_scores(examples: DataFrame, popular: list[str]) -> DataFrame:
    """The popular items as negative scores, below every learned score, in popularity order."""
    table = examples.sparkSession.createDataFrame([(p, -1.0 - i) for i, p in enumerate(popular)],
                                                  "item string, score double")
    return examples.select("example").crossJoin(F.broadcast(table))


def recommend_popular(examples: DataFrame, popular: list[str], k: int) -> DataFrame:
    return _top(_popular_scores(examples, popular), examples, k)


def recommend_knn(examples: DataFrame, log: DataFrame, popular: list[str], conf: EvaluateConf,
                  min_users: int = 1) -> DataFrame:
    """Item-kNN: each history item adds its co-visitation score to its neighbours (of the pairs
    that `min_users` distinct users' sessions held)."""
    nb = neighbours(log, conf.neighbours, conf.session_items, min_users)
    votes = (examples.select("example", F.explode("history").alias("a")).join(nb, "a")
             .groupBy("example", F.col("b").alias("item")).agg(F.sum("score").alias("score")))
    return _top(votes.unionByName(_popular_scores(examples, popular)), examples, conf.k)


RATINGS_PER_BLOCK = 100_000


def als_blocks(ratings: int) -> int:
    """ALS's user and item blocks for a log of `ratings` (user, item) pairs: one per
    `RATINGS_PER_BLOCK`, at least 1 and at most MLlib's default of 10."""
    return min(10, max(1, math.ceil(ratings / RATINGS_PER_BLOCK)))


def item_factors(log: DataFrame, conf: EvaluateConf, seed: int) -> tuple[list[str], np.ndarray]:
    """(item ids, factors): implicit-feedback ALS on the log's (user, item, events) counts, of
    at most `als.max_users` users (by seeded hash), in `als.blocks` blocks or as many as its
    size calls for."""
    log = log.where(F.col("item_id").isNotNull())
    kept = (log.select("user_id").distinct()
            .orderBy(rng.spark_key(seed, "als", "user_id"), "user_id").limit(conf.als.max_users))
    counts = log.join(kept, "user_id", "left_semi").groupBy("user_id", "item_id").agg(
        F.count(F.lit(1)).cast("float").alias("events"))
    counts, indexed = counts.persist(), None  # the indexers and ALS each read it: computed once
    try:
        blocks = conf.als.blocks or als_blocks(counts.count())
        users = StringIndexer(inputCol="user_id", outputCol="u", stringOrderType="alphabetAsc").fit(counts)
        items = StringIndexer(inputCol="item_id", outputCol="i", stringOrderType="alphabetAsc").fit(counts)
        # ALS reads its input once per block side: indexed once, persisted, not recomputed each time.
        indexed = items.transform(users.transform(counts)).select("u", "i", "events").persist()
        als = ALS(rank=conf.als.rank, maxIter=conf.als.iterations, regParam=conf.als.reg, alpha=conf.als.alpha,
                  implicitPrefs=True, userCol="u", itemCol="i", ratingCol="events", seed=seed,
                  numUserBlocks=blocks, numItemBlocks=blocks, nonnegative=False,
                  coldStartStrategy="drop")
        model = als.fit(indexed)
        rows = model.itemFactors.orderBy("id").collect()  # bounded by the catalog, like the model
    finally:
        for df in (indexed, counts):
            if df is not None:
                df.unpersist()
    labels = items.labels
    return [labels[r["id"]] for r in rows], np.array([r["features"] for r in rows], dtype=np.float64)


def recommend_als(examples: DataFrame, log: DataFrame, popular: list[str], conf: EvaluateConf,
                  seed: int) -> DataFrame:
    """ALS: each example's user vector solved from its history against fixed item factors."""
    ids, y = item_factors(log, conf, seed)
    index = {item: i for i, item in enumerate(ids)}
    gram = y.T @ y
    k, alpha, reg = conf.k, conf.als.alpha, conf.als.reg

    def fold_in(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            out = []
            for example, history in zip(batch["example"], batch["history"]):
                known = [index[h] for h in history if h in index]
                if not known:
                    continue  # nothing to fold in: the popular items fill in
                yh = y[known]
                # Implicit ALS for one user with confidence 1 + alpha on each history item.
                a = gram + alpha * yh.T @ yh + reg * len(known) * np.eye(y.shape[1])
                u = np.linalg.solve(a, (1 + alpha) * yh.sum(axis=0))
                scores = y @ u
                scores[known] = -np.inf
                top = np.argpartition(-scores, min(k, len(ids) - 1))[:k]
                top = top[np.argsort(-scores[top], kind="stable")]
                out += [(example, ids[j], float(scores[j])) for j in top if np.isfinite(scores[j])]
            yield pd.DataFrame(out, columns=["example", "item", "score"])

    scored = examples.select("example", "history").mapInPandas(fold_in, "example string, item string, score double")
    # Raise learned scores above the popularity fill-in (which is negative).
    learned = scored.withColumn("score", F.col("score") - F.min("score").over(Window.partitionBy("example")))
    return _top(learned.unionByName(_popular_scores(examples, popular)), examples, k)


def score(recs: DataFrame, examples: DataFrame, k: int) -> dict:
    """Mean Recall@k, NDCG@k and HitRate@k of one recommender's lists over the examples, and their count."""
    return score_all({"recs": recs}, examples, k)["recs"]["all"]


def score_all(recs: dict[str, DataFrame], examples: DataFrame, k: int, within: str | None = None) -> dict:
    """{name: {"all": measures}} of each recommender's (example, item, rank) lists, all scored
    in one Spark job; with `within`, a boolean column of the examples, also
    {name: {within: measures}} over the examples where it holds."""
    tagged = reduce(DataFrame.unionByName, [r.select(F.lit(name).alias("name"), "example", "item", "rank")
                                            for name, r in recs.items()])
    targets = examples.select("example", F.explode("targets").alias("item"))
    hits = tagged.join(targets, ["example", "item"]).groupBy("name", "example").agg(
        F.count(F.lit(1)).alias("hits"), F.sum(1.0 / F.log2(F.col("rank") + 1.0)).alias("dcg"))
    ideal = F.aggregate(F.sequence(F.lit(1), F.least(F.size("targets"), F.lit(k))), F.lit(0.0),
                        lambda acc, i: acc + 1.0 / F.log2(i + 1.0))
    names = examples.sparkSession.createDataFrame([(n,) for n in recs], "name string")
    kept = [within] if within else []
    per = (examples.select("example", F.size("targets").alias("n"), ideal.alias("idcg"), *kept)
           .crossJoin(F.broadcast(names)).join(hits, ["name", "example"], "left").fillna(0, ["hits", "dcg"])
           .select("name", *kept, (F.col("hits") / F.col("n")).alias("recall"),
                   (F.col("dcg") / F.col("idcg")).alias("ndcg"), (F.col("hits") > 0).cast("double").alias("hit_rate")))
    subsets = {"all": F.lit(True)} | ({within: F.col(within)} if within else {})
    aggs = [agg for subset, cond in subsets.items()
            for agg in (*[F.avg(F.when(cond, F.col(m))).alias(f"{subset}:{m}") for m in MEASURES],
                        F.sum(cond.cast("int")).alias(f"{subset}:examples"))]
    rows = {r["name"]: r for r in per.groupBy("name").agg(*aggs).collect()}  # bounded: a row per recommender

    def measures(row, subset: str) -> dict:
        n = row[f"{subset}:examples"] if row else 0  # no row: no examples at all
        return {m: (row[f"{subset}:{m}"] if n else math.nan) for m in MEASURES} | {"examples": n}

    return {name: {subset: measures(rows.get(name), subset) for subset in subsets} for name in recs}


def _recommenders(examples: DataFrame, log: DataFrame, conf: EvaluateConf, seed: int, popular: list[str]) -> dict:
    return {"knn": recommend_knn(examples, log, popular, conf),
            "als": recommend_als(examples, log, popular, conf, seed)}


def utility(train: DataFrame, test: DataFrame, synthetic: dict[str, DataFrame], conf: EvaluateConf,
            seed: int, augment: DataFrame | None = None, pair_floor: int | None = None,
            released: DataFrame | None = None) -> dict:
    """Scores of each recommender trained on the real log, on each synthetic log and on
    popularity, their synthetic / real ratios, and the augmentation check on sparse users.

    With `pair_floor` (the model's k-user floor on real item pairs), the ceiling: the recall
    of an item-kNN built from the real pairs that clear the floor alone, over the real kNN's.
    It is what the log can give item-to-item recommenders at that floor. With `released`
    (the items a DP release kept, column item_id), the DP ceiling: kNN and ALS trained on
    the real log restricted to those items, over the real ones, the most a synthetic log
    of that vocabulary can reach.

    Every recommender is built first (the ALS fits run then), and all their lists are scored
    in one Spark job."""
    examples = test_examples(train, test, conf, seed).persist()
    try:
        fill = conf.k + (examples.agg(F.max(F.size("history"))).first()[0] or 0)
        popular = popular_items(train, fill)
        recs = {("popularity", "popularity"): recommend_popular(examples, popular, conf.k)}
        recs |= {("real", rec): r for rec, r in _recommenders(examples, train, conf, seed, popular).items()}
        for name, log in synthetic.items():
            recs |= {(name, rec): r for rec, r in
                     _recommenders(examples, log, conf, seed, popular_items(log, fill)).items()}
        if pair_floor and pair_floor > 1:
            recs["real_kept_pairs", "knn"] = recommend_knn(examples, train, popular, conf, pair_floor)
        if released is not None:
            kept = train.join(F.broadcast(released.select("item_id")), "item_id", "left_semi")
            recs |= {("real_released", rec): r for rec, r in
                     _recommenders(examples, kept, conf, seed, popular_items(kept, fill)).items()}
        if augment is not None:
            both = train.unionByName(augment.select(*train.columns))
            sparse = examples.where("sparse")
            recs |= {("real_plus_synthetic", rec): r for rec, r in
                     _recommenders(sparse, both, conf, seed, popular_items(both, fill)).items()}
        measured = score_all({f"{name}/{rec}": r for (name, rec), r in recs.items()}, examples, conf.k, within="sparse")
        scores = {}
        for name, rec in recs:
            if name != "real_plus_synthetic":
                scores.setdefault(name, {})[rec] = measured[f"{name}/{rec}"]["all"]
        ratios = {name: {rec: _ratio(scores[name][rec], scores["real"][rec]) for rec in scores["real"]}
                  for name in synthetic}
        result = {"examples": scores["real"]["knn"]["examples"], "scores": scores, "ratios": ratios}
        if "real_kept_pairs" in scores:
            result["knn_ceiling"] = {"pair_floor": pair_floor, **_ratio(scores["real_kept_pairs"]["knn"],
                                                                        scores["real"]["knn"])}
        if "real_released" in scores:
            result["dp_ceiling"] = {rec: _ratio(scores["real_released"][rec], scores["real"][rec])
                                    for rec in ("knn", "als")}
        if augment is not None:
            result["augmentation"] = {
                "sparse_examples": measured["real/knn"]["sparse"]["examples"],
                # Each example's recommendations depend on it alone: the real ones serve both.
                **{name: {rec: measured[f"{name}/{rec}"]["sparse"] for rec in ("knn", "als")}
                   for name in ("real", "real_plus_synthetic")}}
        return result
    finally:
        examples.unpersist()


def _ratio(synthetic: dict, real: dict) -> dict:
    return {m: (synthetic[m] / real[m] if real[m] else math.nan) for m in MEASURES}
