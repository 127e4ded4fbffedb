"""Text quality in the evaluation: the synthetic searches' queries and the synthetic
catalog's titles, sampled in Spark and measured with synthlib.text.metrics."""
from __future__ import annotations

from dataclasses import dataclass

from synthlib import rng
from synthlib.data.sessions import query_users
from synthlib.text.metrics import text_metrics


def _sample(frame, text: str, keys: tuple, seed: int, per_category: int, max_strings: int) -> dict[str, list[str]]:
    """{category: texts}: up to `per_category` non-null values of column `text` per category,
    by seeded hash of the `keys` columns, `max_strings` in all (bounded: they reach the driver)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    key = rng.spark_key(seed, "text", *keys)
    w = Window.partitionBy("category").orderBy(key, text)
    rows = (frame.where(F.col(text).isNotNull()).withColumn("_r", F.row_number().over(w))
            .where(F.col("_r") <= per_category).orderBy("_r", key).limit(max_strings).select("category", text)
            .collect())
    out: dict[str, list[str]] = {}
    for r in rows:
        out.setdefault(r["category"], []).append(r[text])
    return out


def _query_sample(events, seed: int, per_category: int, max_strings: int) -> dict[str, list[str]]:
    from pyspark.sql import functions as F

    return _sample(events.where(F.col("event_type") == "search"), "query", ("session_id", "ts", "query"), seed,
                   per_category, max_strings)


def title_text(real_items, catalog, *, seed: int, per_category: int = 200, max_strings: int = 20_000) -> dict | None:
    """Text metrics of a synthetic catalog's titles against the real catalog's, by category.
    The real catalog is what the titles model learnt from (there is no held-out catalog), so
    BLEU-4 here is resemblance, not generalisation; `exact_share` is over every real title.
    None when either has no title."""
    generated = _sample(catalog, "title", ("item_id",), seed, per_category, max_strings)
    real = _sample(real_items, "title", ("item_id",), seed, per_category, max_strings)
    if not generated or not real:
        return None
    from pyspark.sql import functions as F

    metrics = text_metrics(generated, real, [t for v in real.values() for t in v])
    known = real_items.select("title").distinct().withColumn("_real", F.lit(1))
    row = (catalog.where(F.col("title").isNotNull()).join(known, "title", "left")
           .agg(F.count(F.lit(1)).alias("titles"), F.count("_real").alias("copies")).first())
    metrics["exact_share"] = row["copies"] / max(1, row["titles"])
    return metrics


@dataclass
class RealQueries:
    """The real side of the query-text comparison, gathered once per evaluation."""

    held_out: dict[str, list[str]]  # {category: queries} of the test split, sampled
    training: list[str]  # training queries, sampled: the nearest-neighbour reference
    users: object  # DataFrame (query, users) of the whole training split, persisted

    @classmethod
    def gather(cls, train, test, *, seed: int, per_category: int = 200, max_strings: int = 20_000) -> "RealQueries":
        training = [t for v in _query_sample(train, seed, per_category, max_strings).values() for t in v]
        return cls(_query_sample(test, seed, per_category, max_strings), training, query_users(train).persist())

    def release(self) -> None:
        self.users.unpersist()


def query_text(real: RealQueries, synthetic, *, min_users: int, seed: int, per_category: int = 200,
               max_strings: int = 20_000) -> dict | None:
    """Text metrics of a synthetic log's search queries against the real held-out ones (by
    the search's category), and `rare_events`: synthetic searches whose query fewer than
    `min_users` real training users issued (counted over the whole log). None when either
    log has no query."""
    from pyspark.sql import functions as F

    generated = _query_sample(synthetic, seed, per_category, max_strings)
    if not generated or not real.held_out:
        return None
    rare = (synthetic.where(F.col("event_type") == "search").join(real.users, "query")
            .where(F.col("users") < min_users).count())
    metrics = text_metrics(generated, real.held_out, real.training)  # nearest neighbours within the sample
    sampled = [t for v in generated.values() for t in v]
    spark = synthetic.sparkSession
    known = {r[0] for r in real.users.join(spark.createDataFrame([(t,) for t in set(sampled)], "query string"),
                                           "query").select("query").collect()}  # bounded by the sample
    metrics["exact_share"] = sum(t in known for t in sampled) / len(sampled)  # against every training query
    return {**metrics, "rare_events": rare}
