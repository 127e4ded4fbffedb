"""Train: fit the configured synthesizer from the stats artifact and a sample of users.

`stats` needs the stats artifact alone. The neural models train on a seeded sample of
users, encoded in Spark and read back through Petastorm (`synthlib.train.loader`). A new
model kind is one trainer here: (spark, conf, summary, items, lineage) -> model.
"""
from __future__ import annotations

import os
import shutil

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from synthlib.config import Config, ConfigError
from synthlib.data.profile import load_summary, stats_fingerprint
from synthlib.delta_io import table_version
from synthlib.models.stats import StatsConfig, StatsSynthesizer
from synthlib.train.options import model_params
from synthlib.train.session import train_session
from synthlib.train.tabular import train_tabular
from synthlib.train.text import train_queries, train_titles

TRAINERS = {"session": train_session, "ctgan": train_tabular, "tvae": train_tabular}
TEXT_TRAINERS = {"text": train_queries, "titles": train_titles}  # search queries, catalog titles


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
    if conf.train.model == "stats":
        config = model_params(conf, StatsConfig, {"max_items": conf.train.max_items, **conf.train.params})
        model = StatsSynthesizer(config=config).fit(
            summary, items, seed=conf.seed, lineage=lineage)
    else:
        model = TRAINERS[conf.train.model](spark, conf, summary, items, lineage)
    size_mb = sum(len(b) for b in model.to_bytes()) / 2**20
    if size_mb > conf.train.max_model_mb:
        raise ConfigError(f"the model is {size_mb:.1f} MB, over train.max_model_mb = {conf.train.max_model_mb}; "
                          "lower train.max_items or the model's size, or raise the limit "
                          "(it is broadcast to every executor)")
    model.save(conf.path("model"))
    info = {**model.get_info(), "size_mb": round(size_mb, 2), "path": conf.path("model")}
    for name, fit_text in TEXT_TRAINERS.items():
        if getattr(conf.train, name):
            info[name] = fit_text(spark, conf)
        elif os.path.isdir(conf.path("model", name)):  # a text model of an earlier run must not outlive it
            shutil.rmtree(conf.path("model", name))
    return info
