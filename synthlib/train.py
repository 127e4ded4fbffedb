"""Train: fit the configured synthesizer from the stats artifact and a sample of users.

`stats` needs the stats artifact alone. The neural models train on a seeded sample of
users, encoded in Spark and read back through Petastorm (`synthlib.loader`).
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import time

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from synthlib import __version__
from synthlib.config import Config, ConfigError
from synthlib.delta_io import table_version
from synthlib.models.stats import StatsConfig, StatsSynthesizer
from synthlib.profile import load_summary, stats_fingerprint

EPOCH_EVENTS = 1_000_000  # the default training budget, in events processed
MIN_EPOCHS, MAX_EPOCHS = 2, 20
PROFILE_KEYS = ("sessions_per_user", "hour_of_day", "day_of_week", "session_length", "event_types",
                "transitions", "gap_log2_seconds", "devices", "null_rates")


def model_params(conf: Config, cls, params: dict | None = None, key: str = "train.params"):
    """`train.params` (or the given `params` at `key`) as the model's dataclass config; unknown
    keys name the valid ones."""
    params = conf.train.params if params is None else params
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(params) - set(names))
    if unknown:
        raise ConfigError(f"{key}: unknown key(s) {unknown} for model '{cls.__name__.removesuffix('Config').lower()}'; "
                          f"valid keys: {', '.join(names)}")
    try:
        return cls(**params)
    except (TypeError, ValueError) as e:
        raise ConfigError(str(e)) from None


def epochs_for(conf: Config, train_events: int | None) -> tuple[int, str]:
    """`train.epochs`, or epochs enough to process about EPOCH_EVENTS events in all (within
    MIN_EPOCHS..MAX_EPOCHS): a budget counted in data, so a seed gives one model on any machine."""
    if conf.train.epochs is not None:
        return conf.train.epochs, "train.epochs"
    if not train_events:
        return MAX_EPOCHS, f"up to {MAX_EPOCHS} epochs"
    n = min(MAX_EPOCHS, max(MIN_EPOCHS, round(EPOCH_EVENTS / train_events)))
    return n, f"about {EPOCH_EVENTS:,} events processed in all, {MIN_EPOCHS}..{MAX_EPOCHS} epochs"


def fit_config(conf: Config, progress: bool = True, train_events: int | None = None):
    from synthlib.fit import FitConfig

    t, dp = conf.train, conf.train.dp
    epochs, budget = epochs_for(conf, train_events)
    return FitConfig(epochs=epochs, budget=budget, lr=t.lr, patience=t.patience, max_minutes=t.max_minutes,
                     seed=conf.seed,
                     progress=progress, epsilon=dp.epsilon if dp else None, delta=dp.delta if dp else 1e-5,
                     max_grad_norm=dp.max_grad_norm if dp else 1.0,
                     expected_users_per_step=dp.users_per_step if dp else 64)


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
        model = StatsSynthesizer(config=StatsConfig(max_items=conf.train.max_items)).fit(
            summary, items, seed=conf.seed, lineage=lineage)
    else:
        from synthlib.learn import TRAINERS

        model = TRAINERS[conf.train.model](spark, conf, summary, items, lineage)
    size_mb = sum(len(b) for b in model.to_bytes()) / 2**20
    if size_mb > conf.train.max_model_mb:
        raise ConfigError(f"the model is {size_mb:.1f} MB, over train.max_model_mb = {conf.train.max_model_mb}; "
                          "lower train.max_items or the model's size, or raise the limit "
                          "(it is broadcast to every executor)")
    model.save(conf.path("model"))
    info = {**model.get_info(), "size_mb": round(size_mb, 2), "path": conf.path("model")}
    for name in ("text", "titles"):  # the text models: search queries, catalog titles
        if getattr(conf.train, name):
            from synthlib import text_learn

            info[name] = {"text": text_learn.train_queries, "titles": text_learn.train_titles}[name](spark, conf)
        elif os.path.isdir(conf.path("model", name)):  # a text model of an earlier run must not outlive it
            shutil.rmtree(conf.path("model", name))
    return info


def base_spec(conf: Config, kind: str, summary: dict, lineage: dict, started: float) -> dict:
    """The parts of model.json every neural model shares."""
    return {"model": kind, "version": __version__, "seed": conf.seed, "lineage": lineage,
            "users": summary["users"], "time_range": summary["time_range"],
            "profile": {k: summary.get(k) for k in PROFILE_KEYS}, "train_seconds": round(time.time() - started, 1)}
