"""Train: fit the configured synthesizer from the stats artifact."""
from __future__ import annotations

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from synthlib.config import Config
from synthlib.delta_io import table_version
from synthlib.models.stats import StatsConfig, StatsSynthesizer
from synthlib.profile import load_summary


def train(spark: SparkSession, conf: Config) -> dict:
    """Fit `conf.train.model` and save it to `<output>/model`; returns the model info."""
    summary = load_summary(conf)
    items_path = conf.path("stats", "items")
    # Bounded by config: at most max_items rows reach the driver.
    items = (spark.read.format("delta").load(items_path)
             .orderBy(F.desc("events"), "item_id").limit(conf.train.max_items).toPandas())
    lineage = {**summary["lineage"], "stats_items_version": table_version(spark, items_path),
               "items_kept": len(items), "items_total": summary["items"]}
    model = StatsSynthesizer(config=StatsConfig(max_items=conf.train.max_items)).fit(
        summary, items, seed=conf.seed, lineage=lineage)
    model.save(conf.path("model"))
    return {**model.get_info(), "path": conf.path("model")}
