"""The whole pipeline: (simulate) -> profile -> train -> generate -> evaluate."""
from __future__ import annotations

import time
from typing import Callable

from pyspark.sql import SparkSession

from synthlib.config import Config
from synthlib.data.profile import profile
from synthlib.data.simulate import simulate
from synthlib.evaluate import evaluate
from synthlib.generate import generate
from synthlib.train import train
from synthlib.train.stage import check_params

STAGES = {"simulate": simulate, "profile": profile, "train": train, "generate": generate, "evaluate": evaluate}
OnStage = Callable[[str, dict, float], None]  # (stage, its result, seconds)


def run_stage(spark: SparkSession, conf: Config, stage: str, on_stage: OnStage | None = None) -> dict:
    """Run one stage and tell `on_stage` what it returned and how long it took."""
    started = time.time()
    result = STAGES[stage](spark, conf)
    if on_stage is not None:
        on_stage(stage, result, time.time() - started)
    return result


def run_pipeline(spark: SparkSession, conf: Config, on_stage: OnStage | None = None) -> dict:
    """Run every stage in order; without an `input`, on the simulated demo log. Returns
    each stage's full result by name."""
    check_params(conf)  # before any Spark work
    stages = ["simulate"] if conf.input is None else []
    return {stage: run_stage(spark, conf, stage, on_stage)
            for stage in stages + ["profile", "train", "generate", "evaluate"]}
