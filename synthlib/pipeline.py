"""The whole pipeline: (simulate) -> profile -> train -> generate -> evaluate."""
from __future__ import annotations

from pyspark.sql import SparkSession

from synthlib.config import Config
from synthlib.evaluate import evaluate
from synthlib.generate import generate
from synthlib.profile import profile
from synthlib.simulate import simulate
from synthlib.train import train


def run_pipeline(spark: SparkSession, conf: Config) -> dict:
    """Run every stage in order; without an `input`, on the simulated demo log."""
    steps = {}
    if conf.input is None:
        steps["simulate"] = simulate(spark, conf)
    summary = profile(spark, conf)
    steps["profile"] = {k: summary[k] for k in ("events", "users", "sessions", "items", "ingest")}
    steps["train"] = train(spark, conf)
    steps["generate"] = generate(spark, conf)
    result = evaluate(spark, conf)
    steps["evaluate"] = {k: result[k] for k in ("runs", "metrics_path", "report_path")}
    return steps
