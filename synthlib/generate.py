"""Generate: broadcast the model, sample blocks of users on the executors, write Delta.

Each synthetic user's events derive from (seed, user index) alone and users are
generated in blocks fixed by index, so the table content does not depend on the number of
partitions or executors.
"""
from __future__ import annotations

import hashlib
import math
import os
from datetime import date
from typing import Iterator

import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from synthlib.config import Config
from synthlib.delta_io import table_version, write_table
from synthlib.models import load_model, model_class
from synthlib.models.artifact import ModelArtifactError
from synthlib.profile import stats_fingerprint
from synthlib.schema import EVENTS_DDL

_WORKER_MODELS: dict[str, object] = {}  # one loaded model per Python worker


def _model_from(kind: str, payload: tuple) -> object:
    digest = hashlib.sha256(b"".join(p.encode() if isinstance(p, str) else p for p in payload)).hexdigest()
    if digest not in _WORKER_MODELS:
        _WORKER_MODELS.clear()
        _WORKER_MODELS[digest] = model_class(kind).from_bytes(*payload)
    return _WORKER_MODELS[digest]


def _window(model, conf: Config) -> tuple[date, int]:
    tr = model.spec["time_range"]
    first, last = date.fromisoformat(tr["first_day"]), date.fromisoformat(tr["last_day"])
    return conf.generate.start or first, conf.generate.days or (last - first).days + 1


def _use_task_cores() -> None:
    """torch in a Spark Python worker: as many threads as the task's cores (OMP_NUM_THREADS)."""
    import torch

    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1"))))


def events_frame(spark: SparkSession, conf: Config, model, users: int, run_id: str):
    """The synthetic events of `users` users as a lazy DataFrame (canonical + date, run_id)."""
    start, days = _window(model, conf)
    kind, payload = model.kind, spark.sparkContext.broadcast(model.to_bytes())
    seed, block = conf.seed, conf.generate.block_users
    blocks = math.ceil(users / block)

    def sample(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        if kind != "stats":
            _use_task_cores()
        m = _model_from(kind, payload.value)
        for batch in batches:
            for b in batch["id"].tolist():
                yield m.sample_block(b * block, min((b + 1) * block, users), seed=seed, start=start, days=days)

    partitions = max(1, min(blocks, math.ceil(users / conf.generate.users_per_partition)))
    return (spark.range(0, blocks, numPartitions=partitions)
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
