"""Generation throughput against the physical limit, measured side by side in one run.

The physical limit is Spark writing the same number of rows, of the same schema and
partitioning, with trivially random values, to Delta on the same session. Also measured:
time growth from N to 10N events and peak memory of the JVM (driver and executor in local
mode) and of the Python workers, per model; the cost of the copy rule (10N with
`generate.drop_copies` against without, alternated); 1 against 2 cores per model, each in
its own Spark pinned to that many CPUs (taskset), warmed up, the median of --rounds runs;
optionally one big run (--big). With
--impressions, the simulated log shows its searches' result lists, generation writes
`tables/impressions` too, and the limit writes as many rows as both tables (rows per second
are compared).

    .venv/bin/python benchmarks/generate.py [--events 1000000] [--models stats,session] [--big 100000000]
                                           [--impressions]

Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from datetime import date

from pyspark.sql import functions as F

from synthlib.config import Config, GenerateConf, SimulateConf, SparkConf, TrainConf
from synthlib.data.profile import profile
from synthlib.data.simulate import simulate
from synthlib.delta_io import write_table
from synthlib.generate import generate
from synthlib.spark import get_spark
from synthlib.train import train


class PeakMemory:
    """Samples the RSS of this process's JVM child and the largest of the JVM's Python workers."""

    def __init__(self, interval: float = 0.2):
        self.interval, self.peak = interval, {"jvm_mb": 0.0, "python_worker_mb": 0.0}
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

    @staticmethod
    def _is_python(pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/comm") as fh:
                return fh.read().startswith("python")
        except OSError:
            return False

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
            python = [p for p in workers if self._is_python(p)]  # not a JVM child between fork and exec
            self.peak["python_worker_mb"] = max([self.peak["python_worker_mb"], *map(self._rss_mb, python)])
            time.sleep(self.interval)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = {k: round(v, 1) for k, v in self.peak.items()}


def timed_generate(spark, conf: Config, events: int, run_id: str) -> dict:
    conf = conf.model_copy(update={"generate": conf.generate.model_copy(update={"events": events, "run_id": run_id})})
    with PeakMemory() as mem:
        start = time.perf_counter()
        result = generate(spark, conf)
        seconds = time.perf_counter() - start
    rows = result["events"] + (result.get("impressions") or {}).get("rows", 0)
    return {"events": result["events"], "rows": rows, "seconds": round(seconds, 2),
            "events_per_s": round(result["events"] / seconds), "rows_per_s": round(rows / seconds),
            "files": result["files"],
            "copies_dropped": result.get("copies_dropped"), **mem.peak}


def timed_write_limit(spark, rows: int, days: int, partitions: int, path: str) -> dict:
    """Same rows, schema and partitioning, trivially random values: the cost of the write."""
    r = F.rand(7)
    df = spark.range(0, rows, numPartitions=partitions).select(
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


def median_run(rs: list[dict]) -> dict:
    return sorted(rs, key=lambda r: r["events_per_s"])[len(rs) // 2]


def confs_for(work: str, models: list[str], impressions: bool = False) -> tuple[Config, dict[str, Config]]:
    base = Config(seed=1, output=os.path.join(work, "out"), simulate=SimulateConf(events=200_000,
                                                                                    impressions=impressions))
    shared_log = base.simulate.model_copy(update={"path": base.simulated_path})
    return base, {m: base.model_copy(update={"output": os.path.join(work, m), "simulate": shared_log,
                                             "train": TrainConf(model=m, epochs=3)}) for m in models}


def pinned_run(work: str, model: str, cores: int, events: int, impressions: bool, rounds: int) -> dict:
    """The median of `rounds` timed generations in a fresh Spark with `cores` CPUs, after
    warm-ups at N/10 and N (the JVM compiles the write path over the first runs)."""
    cpus = ",".join(str(c) for c in range(cores))
    cmd = ["taskset", "-c", cpus, sys.executable, __file__, "--work", work, "--pinned", model, "--cores", str(cores),
           "--events", str(events), "--rounds", str(rounds)] + (["--impressions"] if impressions else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def pinned_main(args) -> None:
    _, confs = confs_for(args.work, [args.pinned], args.impressions)
    spark = get_spark(SparkConf(master=f"local[{args.cores}]"))
    conf = confs[args.pinned]
    timed_generate(spark, conf, max(1, args.events // 10), f"warm-up-{args.cores}")
    timed_generate(spark, conf, args.events, f"warm-up-{args.cores}")
    runs = [timed_generate(spark, conf, args.events, f"cores-{args.cores}") for _ in range(args.rounds)]
    spark.stop()
    print(json.dumps({**median_run(runs), "rounds_rows_per_s": [r["rows_per_s"] for r in runs]}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1_000_000, help="events per generation run (10N)")
    p.add_argument("--models", default="stats,session", help="models to measure")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds of model and limit at 10N")
    p.add_argument("--big", type=int, default=0, help="also generate this many events with the first model")
    p.add_argument("--work", default="/tmp/synthlib-bench", help="scratch folder, removed first")
    p.add_argument("--impressions", action="store_true", help="the log shows result lists; generate writes them")
    p.add_argument("--pinned", help=argparse.SUPPRESS)  # internal: one pinned run of this model
    p.add_argument("--cores", type=int, default=2, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.pinned:
        return pinned_main(args)
    shutil.rmtree(args.work, ignore_errors=True)
    models = args.models.split(",")
    base, confs = confs_for(args.work, models, args.impressions)

    spark = get_spark(SparkConf(master="local[2]"))
    simulate(spark, base)
    for conf in confs.values():
        profile(spark, conf)
        train(spark, conf)
    summary = json.load(open(os.path.join(confs[models[0]].output, "stats", "summary.json")))
    tr = summary["time_range"]
    days = (date.fromisoformat(tr["last_day"]) - date.fromisoformat(tr["first_day"])).days + 1

    partitions = max(1, -(-args.events // GenerateConf().events_per_partition))
    runs = {}
    for m, conf in confs.items():
        timed_generate(spark, conf, max(1, args.events // 10), "warm-up")  # JVM and Python workers warm
        runs[m] = {"n": timed_generate(spark, conf, max(1, args.events // 10), "n"), "10n": [], "limit": [],
                   "no_copy_rule": []}
        no_rule = conf.model_copy(update={"generate": conf.generate.model_copy(update={"drop_copies": False})})
        for r in range(args.rounds):  # alternate with the limit: the machine's noise hits both alike
            runs[m]["10n"].append(timed_generate(spark, conf, args.events, "10n"))
            runs[m]["no_copy_rule"].append(timed_generate(spark, no_rule, args.events, "10n-no-copy-rule"))
            runs[m]["limit"].append(timed_write_limit(spark, runs[m]["10n"][-1]["rows"], days, partitions,
                                                      os.path.join(args.work, "limit")))
    spark.stop()

    cores = {m: {c: pinned_run(args.work, m, c, args.events, args.impressions, args.rounds) for c in (1, 2)}
             for m in models}
    big = None
    if args.big:
        spark = get_spark(SparkConf(master="local[2]"))
        big = timed_generate(spark, confs[models[0]], args.big, "big")
        spark.stop()

    report = {}
    for m, r in runs.items():
        ratios = [g["rows_per_s"] / lim["events_per_s"] for g, lim in zip(r["10n"], r["limit"])]
        tenfold = median_run(r["10n"])
        rule = [g["seconds"] / o["seconds"] for g, o in zip(r["10n"], r["no_copy_rule"])]
        report[m] = {**tenfold, "over_limit": round(statistics.median(ratios), 3),
                     "over_limit_rounds": [round(x, 3) for x in ratios], "limit": median_run(r["limit"]),
                     "n": r["n"], "n_to_10n_time_ratio": round(tenfold["seconds"] / r["n"]["seconds"], 2),
                     "copy_rule_time_ratio": round(statistics.median(rule), 3),
                     "copy_rule_time_ratio_rounds": [round(x, 3) for x in rule],
                     "no_copy_rule": median_run(r["no_copy_rule"]),
                     "one_core": cores[m][1], "two_cores": cores[m][2],
                     "two_over_one_core": round(cores[m][2]["rows_per_s"] / cores[m][1]["rows_per_s"], 2)}
    print(json.dumps({"benchmark": "generate", "cpus": os.cpu_count(), "events": args.events,
                      "impressions": args.impressions, "models": report,
                      "big": big and {"model": models[0], **big}}, indent=2))


if __name__ == "__main__":
    main()
