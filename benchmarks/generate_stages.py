"""Where a generation run's time goes, from Spark's stage metrics, on one warm session.

Each step of `generate` is run cumulatively, writing to Spark's no-op sink until the last:
sampling on the executors; the copy flags (the guards' lookup and the filter); decoding in
the JVM; then the whole stage (Delta write, commit, lineage); and the physical limit (the
same rows with trivial values written to Delta). A step's cost is its run's time less the
previous run's. Task seconds and stage counts come from the Spark UI's REST API on loopback.

    .venv/bin/python benchmarks/generate_stages.py [--events 1000000] [--model session] [--work DIR]

Reuses the models of `benchmarks/generate.py --work DIR` when they are there. Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import time
import urllib.request
from datetime import date

from pyspark.sql import Observation

from synthlib.config import SparkConf
from synthlib.data.profile import profile
from synthlib.data.simulate import simulate
from synthlib.generate import stage as G
from synthlib.models import load_model
from synthlib.models.guards import load_guards
from synthlib.spark import get_spark
from synthlib.train import train

from generate import confs_for, timed_write_limit  # noqa: E402 (benchmarks/ is the script's folder)

STEPS = ("sample", "copy_flags", "decode", "write", "limit")


def stage_metrics(spark, group: str) -> dict:
    """Stages, tasks and executor run time of the jobs of one job group (Spark UI REST API)."""
    sc = spark.sparkContext
    api = f"{sc.uiWebUrl}/api/v1/applications/{sc.applicationId}"
    jobs = [j for j in json.load(urllib.request.urlopen(f"{api}/jobs")) if j.get("jobGroup") == group]
    stages = [s for j in jobs for sid in j["stageIds"]
              for s in json.load(urllib.request.urlopen(f"{api}/stages/{sid}")) if s["status"] == "COMPLETE"]
    return {"jobs": len(jobs), "stages": len(stages), "tasks": sum(s["numTasks"] for s in stages),
            "task_s": round(sum(s["executorRunTime"] for s in stages) / 1000, 1),
            "task_cpu_s": round(sum(s["executorCpuTime"] for s in stages) / 1e9, 1)}


def run_step(spark, conf, model, guards, step: str) -> None:
    g = conf.generate
    cond = G.conditions(g, model)
    p = G.plan(model, g, cond, spark.sparkContext.defaultParallelism)
    noop = lambda df: df.write.format("noop").mode("overwrite").save()  # noqa: E731
    if step == "sample":
        noop(G.sampled_codes(spark, model, g, conf.seed, cond, p))
    elif step == "copy_flags":
        noop(G.without_copies(G.sampled_codes(spark, model, g, conf.seed, cond, p, guards.copy_keys),
                              Observation("copies")))
    elif step == "decode":
        noop(G.events_frame(spark, conf, model, "stages", guards, Observation("copies"))[0])
    elif step == "write":
        G.generate(spark, conf)
    else:
        tr = model.spec["time_range"]
        days = (date.fromisoformat(tr["last_day"]) - date.fromisoformat(tr["first_day"])).days + 1
        timed_write_limit(spark, p["expected_events"], days, p["partitions"], os.path.join(conf.output, "limit"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--model", default="session")
    ap.add_argument("--work", default="/tmp/synthlib-bench", help="scratch folder (models reused)")
    args = ap.parse_args()
    base, confs = confs_for(args.work, [args.model])
    conf = confs[args.model]
    conf = conf.model_copy(update={"generate": conf.generate.model_copy(update={"events": args.events,
                                                                                "run_id": "stages"})})
    spark = get_spark(SparkConf(master="local[2]"))
    if not os.path.exists(conf.layout.model.spec):
        simulate(spark, base)
        profile(spark, conf)
        train(spark, conf)
    model, guards = load_model(conf.layout.model), load_guards(spark, conf)
    run_step(spark, conf, model, guards, "write")  # JVM, Python workers and the table warm
    runs, previous = {}, 0.0
    for step in STEPS:
        spark.sparkContext.setJobGroup(step, step)
        start = time.perf_counter()
        run_step(spark, conf, model, guards, step)
        seconds = time.perf_counter() - start
        cost = seconds if step == "limit" else seconds - previous
        previous = previous if step == "limit" else seconds
        runs[step] = {"seconds": round(seconds, 2), "step_seconds": round(cost, 2), **stage_metrics(spark, step)}
    spark.stop()
    print(json.dumps({"benchmark": "generate_stages", "cpus": os.cpu_count(), "model": args.model,
                      "events": args.events, "steps": runs,
                      "over_limit": round(runs["limit"]["seconds"] / runs["write"]["seconds"], 3)}, indent=2))


if __name__ == "__main__":
    main()
