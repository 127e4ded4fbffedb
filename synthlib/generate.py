"""Generate: broadcast the model, sample users on the executors, write Delta.

Each synthetic user's events derive from (seed, user index) alone, so the table content
does not depend on the number of partitions or executors.
"""
from __future__ import annotations

import hashlib
import math
from datetime import date
from typing import Iterator

import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from synthlib import rng
from synthlib.config import Config
from synthlib.delta_io import table_version, write_table
from synthlib.models import load_model
from synthlib.models.stats import ModelArtifactError, StatsModel
from synthlib.profile import stats_fingerprint
from synthlib.schema import EVENTS_DDL, users_to_frames

_WORKER_MODELS: dict[str, StatsModel] = {}  # one loaded model per Python worker


def _model_from(payload: tuple[str, bytes]) -> StatsModel:
    digest = hashlib.sha256(payload[0].encode() + payload[1]).hexdigest()
    if digest not in _WORKER_MODELS:
        _WORKER_MODELS.clear()
        _WORKER_MODELS[digest] = StatsModel.from_bytes(*payload)
    return _WORKER_MODELS[digest]


def _window(model: StatsModel, conf: Config) -> tuple[date, int]:
    tr = model.spec["time_range"]
    first, last = date.fromisoformat(tr["first_day"]), date.fromisoformat(tr["last_day"])
    return conf.generate.start or first, conf.generate.days or (last - first).days + 1


def events_frame(spark: SparkSession, conf: Config, model: StatsModel, users: int, run_id: str):
    """The synthetic events of `users` users as a lazy DataFrame (canonical + date, run_id)."""
    start, days = _window(model, conf)
    payload = spark.sparkContext.broadcast(model.to_bytes())
    key = rng.stream_key(conf.seed, "generate", model.kind)

    def sample(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        m = _model_from(payload.value)
        return users_to_frames(batches, lambda u: m.sample_user(u, rng.Tape(key, u), start, days))

    partitions = max(1, math.ceil(users / conf.generate.users_per_partition))
    return (spark.range(0, users, numPartitions=partitions)
            .mapInPandas(sample, EVENTS_DDL)
            .withColumn("date", F.to_date("ts"))
            .withColumn("run_id", F.lit(run_id)))


def generate(spark: SparkSession, conf: Config) -> dict:
    """Write synthetic events to `<output>/tables/events`, replacing only this run's rows."""
    model = load_model(conf.path("model"))
    trained_on, current = model.spec["lineage"].get("stats_fingerprint"), stats_fingerprint(conf)
    if current and trained_on != current:
        raise ModelArtifactError(f"the model at {conf.path('model')} was trained on other stats than those in "
                                 f"{conf.path('stats')}; rerun `synthlib train --conf {conf.source_file}`")
    users = conf.generate.users or model.spec["users"]
    run_id = conf.generate.run_id or f"seed{conf.seed}-{model.kind}"
    path = conf.path("tables", "events")
    lineage = {"operation": "generate", "run_id": run_id, "seed": conf.seed, "model": model.kind,
               "model_version": model.spec["version"], "users": users,
               "source_version": model.spec["lineage"].get("source_version"),
               "stats_version": model.spec["lineage"].get("stats_items_version")}
    write_table(events_frame(spark, conf, model, users, run_id), path, mode="overwrite",
                partition_by=["date"], replace_where=f"run_id = '{run_id}'",
                commit_info=lineage,
                properties={"synthlib.synthetic": "true", "synthlib.last_run": run_id})
    rows = spark.read.format("delta").load(path).where(F.col("run_id") == run_id).count()
    return {"run_id": run_id, "events": rows, "users": users, "path": path,
            "version": table_version(spark, path)}
