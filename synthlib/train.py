"""Train: fit the configured synthesizer from the stats artifact."""
from __future__ import annotations

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from synthlib.config import Config, ConfigError
from synthlib.delta_io import table_version
from synthlib.models.stats import StatsConfig, StatsSynthesizer
from synthlib.profile import load_summary, stats_fingerprint


def train(spark: SparkSession, conf: Config) -> dict:
    """Fit `conf.train.model` and save it to `<output>/model`; returns the model info."""
    summary = load_summary(conf)
    items_path = conf.path("stats", "items")
    # Bounded by config: at most max_items rows reach the driver.
    items = (spark.read.format("delta").load(items_path)
             .orderBy(F.desc("events"), "item_id").limit(conf.train.max_items).toPandas())
    lineage = {**summary["lineage"], "stats_items_version": table_version(spark, items_path),
               "stats_fingerprint": stats_fingerprint(conf), "items_kept": len(items),
               "items_total": summary["items"]}
    model = StatsSynthesizer(config=StatsConfig(max_items=conf.train.max_items)).fit(
        summary, items, seed=conf.seed, lineage=lineage)
    size_mb = sum(len(b) for b in model.to_bytes()) / 2**20
    if size_mb > conf.train.max_model_mb:
        raise ConfigError(f"the model is {size_mb:.1f} MB, over train.max_model_mb = {conf.train.max_model_mb}; "
                          "lower train.max_items or raise the limit (it is broadcast to every executor)")
    model.save(conf.path("model"))
    return {**model.get_info(), "path": conf.path("model")}
