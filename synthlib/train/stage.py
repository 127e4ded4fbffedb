"""Train: fit the configured synthesizer from the stats artifact and a sample of users.

`stats` needs the stats artifact alone. The neural models train on a seeded sample of
users, encoded in Spark and read back through Petastorm (`synthlib.train.loader`). A new
model kind is one entry in TRAINERS (its params and trainer) and one in synthlib.models.MODELS.
"""
from __future__ import annotations

import os
import shutil

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from synthlib.config import Config, ConfigError
from synthlib.data.dp_profile import load_private
from synthlib.data.profile import load_summary, stats_fingerprint
from synthlib.delta_io import is_delta, table_version
from synthlib.dp.budget import with_delta
from synthlib.models.ctgan import CTGANConfig
from synthlib.models.guards import save_guards
from synthlib.models.session_net import SessionConfig
from synthlib.models.stats import StatsConfig, StatsModel, StatsSynthesizer
from synthlib.models.tvae import TVAEConfig
from synthlib.text.model import TextConfig
from synthlib.train.impressions import train_impressions
from synthlib.train.options import model_params
from synthlib.train.session import train_session
from synthlib.train.tabular import train_tabular
from synthlib.train.text import train_queries, train_titles


def train_stats(spark: SparkSession, conf: Config, summary: dict, items, lineage: dict) -> StatsModel:
    """`stats` needs the stats artifact alone."""
    config = model_params(conf, StatsConfig, {"max_items": conf.train.max_items, **conf.train.params})
    return StatsSynthesizer(config=config).fit(summary, items, seed=conf.seed, lineage=lineage)


# One entry per model kind: its params dataclass and its trainer, (spark, conf, summary,
# items, lineage) -> a model of synthlib.models (whose MODELS loads it back).
TRAINERS = {"session": (SessionConfig, train_session), "ctgan": (CTGANConfig, train_tabular),
            "tvae": (TVAEConfig, train_tabular), "stats": (StatsConfig, train_stats)}
TEXT_TRAINERS = {"text": train_queries, "titles": train_titles}  # search queries, catalog titles


def check_params(conf: Config) -> None:
    """The model kind and every model's params of the conf, checked before any Spark work."""
    if conf.train.model not in TRAINERS:
        raise ConfigError(f"train.model: unknown model '{conf.train.model}'; use one of {sorted(TRAINERS)}")
    model_params(conf, TRAINERS[conf.train.model][0])
    if conf.train.dp and conf.train.model != "session":
        raise ConfigError(f"train.dp: DP-SGD is implemented for the session model only, not "
                          f"'{conf.train.model}'; remove train.dp or set train.model: session")
    for name in TEXT_TRAINERS:
        section = getattr(conf.train, name)
        if section is not None:
            model_params(conf, TextConfig, section.params, f"train.{name}.params")


def train(spark: SparkSession, conf: Config) -> dict:
    """Fit `conf.train.model` and save it to `<output>/model`; returns the model info."""
    check_params(conf)
    summary = load_summary(conf)
    items_path = conf.layout.stats.items
    if conf.train.dp:  # a DP model reads only what the budget paid for: the private profile
        summary = {**load_private(conf), "lineage": summary["lineage"]}
        dp = with_delta(conf.train.dp, summary["privacy"])  # the total delta the profile was released under
        conf = conf.model_copy(update={"train": conf.train.model_copy(update={"dp": dp})})
        items_path = conf.layout.stats.private_items
    # Bounded by config: at most max_items rows reach the driver.
    items = (spark.read.format("delta").load(items_path)
             .orderBy(F.desc("events"), "item_id").limit(conf.train.max_items).toPandas())
    lineage = {**summary["lineage"], "stats_items_version": table_version(spark, items_path),
               "stats_fingerprint": stats_fingerprint(conf), "items_kept": len(items),
               "items_total": summary["items"]}
    model = TRAINERS[conf.train.model][1](spark, conf, summary, items, lineage)
    size_mb = model.size_bytes / 2**20
    if size_mb > conf.train.max_model_mb:
        raise ConfigError(f"the model is {size_mb:.1f} MB, over train.max_model_mb = {conf.train.max_model_mb}; "
                          "lower train.max_items or the model's size, or raise the limit "
                          "(it is broadcast to every executor)")
    model.save(conf.layout.model)
    info = {**model.get_info(), "size_mb": round(size_mb, 2), "path": conf.layout.model}
    if is_delta(spark, conf.layout.ingest.events) and not conf.train.dp:  # what generation checks its output against
        info["guards"] = save_guards(spark, conf)
    elif os.path.isdir(conf.layout.model.guards):
        shutil.rmtree(conf.layout.model.guards)
    exposure = train_impressions(spark, conf, summary)
    if exposure:
        info["impressions"] = exposure
    for name, fit_text in TEXT_TRAINERS.items():
        if getattr(conf.train, name):
            info[name] = fit_text(spark, conf)
        elif os.path.isdir(conf.layout.model.text(name)):  # a text model of an earlier run must not outlive it
            shutil.rmtree(conf.layout.model.text(name))
    return info
