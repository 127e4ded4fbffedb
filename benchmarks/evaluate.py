"""Evaluation time and Spark job count against the size of the synthetic run.

A simulated log with a held-out last day is profiled and a stats model trained once; then,
for each size, a run of that many events is generated and evaluated alone, and the time of
the evaluation and the number of Spark jobs it ran are recorded.

    .venv/bin/python benchmarks/evaluate.py [--events 1000000,10000000] [--real 200000]

Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time

from synthlib.config import Config, EvaluateConf, GenerateConf, HoldoutConf, SimulateConf, TrainConf
from synthlib.data.profile import profile
from synthlib.data.simulate import simulate
from synthlib.evaluate import evaluate
from synthlib.generate import generate
from synthlib.spark import get_spark
from synthlib.train import train


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", default="1000000,10000000", help="synthetic run sizes, comma-separated")
    p.add_argument("--real", type=int, default=200_000, help="events of the simulated real log")
    p.add_argument("--work", default=None, help="working folder (default: a temporary one, removed)")
    args = p.parse_args()
    work = args.work or tempfile.mkdtemp(prefix="synthlib-eval-bench-")
    spark = get_spark()
    conf = Config(seed=1, output=os.path.join(work, "out"), simulate=SimulateConf(events=args.real),
                  train=TrainConf(model="stats"), evaluate=EvaluateConf(holdout=HoldoutConf(days=1)))
    started = time.time()
    simulate(spark, conf)
    profile(spark, conf)
    train(spark, conf)
    result = {"real_events": args.real, "setup_seconds": round(time.time() - started, 1),
              "cores": spark.sparkContext.defaultParallelism, "runs": []}
    try:
        for n in (int(x) for x in args.events.split(",")):
            run_id = f"events{n}"
            run = conf.model_copy(update={
                "generate": GenerateConf(events=n, run_id=run_id),
                "evaluate": conf.evaluate.model_copy(update={"runs": [run_id]})})
            t0 = time.time()
            written = generate(spark, run)
            t1 = time.time()
            evaluated = evaluate(spark, run)
            t2 = time.time()
            result["runs"].append({
                "events": written["events"], "generate_seconds": round(t1 - t0, 1),
                "evaluate_seconds": round(t2 - t1, 1), "evaluate_spark_jobs": evaluated["spark_jobs"],
                "evaluated_events_per_s": round(written["events"] / (t2 - t1)),
                "knn_recall_ratio": evaluated["runs"][run_id]["metrics"].get("knn_recall_ratio")})
            print(json.dumps(result["runs"][-1]), flush=True)
    finally:
        spark.stop()
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
