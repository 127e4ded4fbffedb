"""Generation throughput against the physical limit, measured side by side in one run.

The physical limit is Spark writing the same number of rows, of the same schema and
partitioning, with trivially random values, to Delta on the same session. Also measured:
time growth from N to 10N events per model, 1 against 2 local cores (first model), and
peak memory of the JVM (driver and executor in local mode) and of the Python workers.

    .venv/bin/python benchmarks/generate.py [--events 1000000] [--models stats,session] [--work DIR]

Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import threading
import time

from pyspark.sql import functions as F

from synthlib.config import Config, SimulateConf, SparkConf, TrainConf
from synthlib.delta_io import write_table
from synthlib.generate import generate
from synthlib.profile import profile
from synthlib.session import get_spark
from synthlib.simulate import simulate
from synthlib.train import train


class PeakMemory:
    """Samples the RSS of this process's JVM child and of the JVM's Python workers."""

    def __init__(self, interval: float = 0.2):
        self.interval, self.peak = interval, {"jvm_mb": 0.0, "python_workers_mb": 0.0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _children() -> dict[int, list[int]]:
        tree: dict[int, list[int]] = {}
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
                tree.setdefault(ppid, []).append(int(pid))
            except (OSError, IndexError, ValueError):
                pass
        return tree

    @staticmethod
    def _rss_mb(pid: int) -> float:
        try:
            with open(f"/proc/{pid}/status") as fh:
                line = next(x for x in fh if x.startswith("VmRSS"))
            return int(line.split()[1]) / 1024
        except (OSError, StopIteration):
            return 0.0

    def _run(self) -> None:
        while not self._stop.is_set():
            tree = self._children()
            jvms = tree.get(os.getpid(), [])
            workers, frontier = [], list(jvms)
            while frontier:
                kids = tree.get(frontier.pop(), [])
                workers += kids
                frontier += kids
            self.peak["jvm_mb"] = max(self.peak["jvm_mb"], sum(self._rss_mb(p) for p in jvms))
            self.peak["python_workers_mb"] = max(self.peak["python_workers_mb"], sum(self._rss_mb(p) for p in workers))
            time.sleep(self.interval)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = {k: round(v, 1) for k, v in self.peak.items()}


def timed_generate(spark, conf: Config, users: int, run_id: str) -> dict:
    conf = conf.model_copy(update={"generate": conf.generate.model_copy(update={"users": users, "run_id": run_id})})
    with PeakMemory() as mem:
        start = time.perf_counter()
        result = generate(spark, conf)
        seconds = time.perf_counter() - start
    return {"events": result["events"], "seconds": round(seconds, 2),
            "events_per_s": round(result["events"] / seconds), **mem.peak}


def timed_write_limit(spark, rows: int, days: int, path: str) -> dict:
    """Same rows, schema and partitioning, trivially random values: the cost of the write."""
    r = F.rand(7)
    df = spark.range(rows).select(
        F.concat(F.lit("synthetic:"), (F.col("id") / 13).cast("long").cast("string")).alias("user_id"),
        F.concat(F.lit("synthetic:"), (F.col("id") / 4).cast("long").cast("string")).alias("session_id"),
        F.timestamp_seconds(F.lit(1_700_000_000) + (r * days * 86400).cast("long")).alias("ts"),
        F.element_at(F.array(*[F.lit(t) for t in ("view", "view", "view", "cart", "fav", "purchase")]),
                     (r * 6).cast("int") + 1).alias("event_type"),
        (r * 50_000).cast("long").cast("string").alias("item_id"),
        (r * 40).cast("long").cast("string").alias("category"),
        F.round(r * 100, 2).alias("price"),
        F.lit(None).cast("string").alias("query"), F.lit(None).cast("int").alias("position"),
        F.lit(None).cast("string").alias("device"),
    ).withColumn("date", F.to_date("ts")).withColumn("run_id", F.lit("limit"))
    with PeakMemory() as mem:
        start = time.perf_counter()
        write_table(df, path, mode="overwrite", partition_by=["date"])
        seconds = time.perf_counter() - start
    return {"events": rows, "seconds": round(seconds, 2), "events_per_s": round(rows / seconds), **mem.peak}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1_000_000, help="events per generation run (N)")
    p.add_argument("--models", default="stats,session", help="models to measure; the first also gets N->10N and 1 core")
    p.add_argument("--work", default="/tmp/synthlib-bench", help="scratch folder, removed first")
    args = p.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    models = args.models.split(",")
    base = Config(seed=1, output=os.path.join(args.work, "out"), simulate=SimulateConf(events=200_000))
    shared_log = base.simulate.model_copy(update={"path": base.simulated_path})
    confs = {m: base.model_copy(update={"output": os.path.join(args.work, m), "simulate": shared_log,
                                        "train": TrainConf(model=m, epochs=3)}) for m in models}

    spark = get_spark(SparkConf(master="local[2]"))
    simulate(spark, base)
    for conf in confs.values():
        profile(spark, conf)
    summary = json.load(open(os.path.join(confs[models[0]].output, "stats", "summary.json")))
    per_user = summary["events"] / summary["users"]
    users = max(1, round(args.events / per_user))
    days = (time.mktime(time.strptime(summary["time_range"]["last_day"], "%Y-%m-%d"))
            - time.mktime(time.strptime(summary["time_range"]["first_day"], "%Y-%m-%d"))) // 86400 + 1

    runs = {}
    for m, conf in confs.items():
        train(spark, conf)
        timed_generate(spark, conf, max(1, users // 10), "warm-up")  # JVM and Python workers warm
        runs[m] = {"n": timed_generate(spark, conf, max(1, users // 10), "n"),
                   "10n": timed_generate(spark, conf, users, "10n")}
    first = runs[models[0]]["10n"]
    limit = timed_write_limit(spark, first["events"], int(days), os.path.join(args.work, "limit"))
    spark.stop()

    spark = get_spark(SparkConf(master="local[1]"))
    timed_generate(spark, confs[models[0]], max(1, users // 10), "warm-up-1")
    one_core = timed_generate(spark, confs[models[0]], users, "one-core")
    spark.stop()

    print(json.dumps({
        "benchmark": "generate", "cores": 2, "events": first["events"], "physical_limit": limit,
        "models": {m: {**r["10n"], "over_limit": round(r["10n"]["events_per_s"] / limit["events_per_s"], 3),
                       "n": r["n"], "n_to_10n_time_ratio": round(r["10n"]["seconds"] / r["n"]["seconds"], 2)}
                   for m, r in runs.items()},
        "one_core": {"model": models[0], **one_core,
                     "two_over_one_core": round(first["events_per_s"] / one_core["events_per_s"], 2)},
    }, indent=2))


if __name__ == "__main__":
    main()
