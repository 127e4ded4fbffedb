"""The whole pipeline on logs of different shapes, with the shipped confs and no shape knob.

Logs: the shared real logs (heavy users: Taobao head; sessions only: YooChoose; views and
purchases: DIGINETICA; JSON sessions: OTTO) where `../shared/data` holds them, and two
simulated ones: search-heavy (the demo simulator) and light users (each simulated session
becomes a user of its first 1 to 3 events).

    .venv/bin/python benchmarks/log_shapes.py [--logs taobao,yoochoose,...] [--light-users 200000]

For each log: training events/s (median epoch), steps per event and the padding share,
epochs run and why training stopped, held-out NLL against the `stats` factorization,
generation events/s, the utility ratios, the privacy marks, and the synthetic event types
against the real ones. Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

from pyspark.sql import Window
from pyspark.sql import functions as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from synthlib.config import load_config  # noqa: E402
from synthlib.data.simulate import simulate# noqa: E402
from synthlib.pipeline import run_pipeline  # noqa: E402
from synthlib.spark import get_spark# noqa: E402

SHARED = ("taobao", "yoochoose", "diginetica", "otto")
PRIVACY = ("copy_share", "dcr_median_synthetic", "dcr_median_holdout", "mia_auc")


def light_user_log(spark, work: str, events: int, seed: int) -> str:
    """A light-user log in parquet: every simulated session a user of its first 1..3 events."""
    sim = os.path.join(work, "light.yaml")
    with open(sim, "w") as fh:
        fh.write(f"seed: {seed}\noutput: {os.path.join(work, 'light-sim')}\nsimulate: {{events: {events}}}\n")
    simulate(spark, load_config(sim))
    raw = spark.read.format("delta").load(os.path.join(work, "light-sim", "input", "events"))
    keep = (F.abs(F.xxhash64(F.lit(seed), F.lit("light"), "session_id")) % 3) + 1
    rank = F.row_number().over(Window.partitionBy("session_id").orderBy("ts", "event_type", "item_id"))
    path = os.path.join(work, "light-log")
    (raw.withColumn("_k", rank).where(F.col("_k") <= keep)
     .select(F.col("session_id").alias("user"), "item_id", "category", "price", "query", "position", "device",
             F.unix_millis("ts").alias("ts_ms"), "event_type")
     .write.mode("overwrite").parquet(path))
    return path


def conf_for(name: str, work: str, light_path: str | None, search_events: int):
    out = os.path.join(work, name)
    if name in SHARED:
        return load_config(os.path.join(ROOT, "conf", f"{name}.yaml"), [f"output={out}"])
    path = os.path.join(work, f"{name}.yaml")
    with open(path, "w") as fh:
        if name == "search-heavy":
            fh.write(f"seed: 42\noutput: {out}\nsimulate: {{events: {search_events}}}\nevaluate: {{holdout: {{days: 1}}}}\n")
        else:
            cols = ("{user_id: user, item_id: item_id, category: category, price: price, query: query, "
                    "position: position, device: device, timestamp: ts_ms, event_type: event_type}")
            fh.write(f"seed: 42\noutput: {out}\ninput:\n  sources:\n    - path: {light_path}\n      format: parquet\n"
                     f"      columns: {cols}\n      timestamp: {{format: unix_ms}}\nevaluate: {{holdout: {{days: 1}}}}\n")
    return load_config(path)


def measure(spark, conf) -> dict:
    seconds: dict[str, float] = {}
    started = time.time()
    steps = run_pipeline(spark, conf, lambda stage, _, s: seconds.__setitem__(stage, round(s, 1)))
    train, gen, ev = steps["train"], steps["generate"], steps["evaluate"]
    t = train.get("training") or {}
    history = t.get("history") or []
    real_types = {r[0] for r in spark.read.format("delta").load(conf.layout.ingest.events)
                  .select("event_type").distinct().collect()}
    synthetic = spark.read.format("delta").load(gen["path"]).where(F.col("run_id") == gen["run_id"])
    synthetic_types = {r[0] for r in synthetic.select("event_type").distinct().collect()}
    run = next(iter(ev["runs"].values()))
    metrics = run["metrics"]
    return {
        "pipeline_seconds": round(time.time() - started, 1), "stage_seconds": seconds,
        "real_events": steps["profile"]["events"], "users": steps["profile"]["users"],
        "training_events_per_s": round(statistics.median(h["events_per_s"] for h in history), 1) if history else None,
        "steps": t.get("steps"), "epochs_run": len(history), "stopped_by": t.get("stopped_by"),
        "budget": t.get("budget"),
        "validation_nll": t.get("validation_nll"), "stats_validation_nll": t.get("stats_baseline_validation_nll"),
        "shape": {k: v["value"] for k, v in (train.get("shape") or {}).items()},
        "generation_events_per_s": round(gen["events"] / max(seconds.get("generate", 1e-9), 1e-9), 1),
        "synthetic_events": gen["events"],
        "utility": {k: v for k, v in metrics.items() if "ratio" in k},
        "privacy": {k: (metrics.get(k), run["marks"].get(k)) for k in PRIVACY},
        "absent_types_generated": sorted(synthetic_types - real_types),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--logs", default=",".join((*SHARED, "light-users", "search-heavy")))
    p.add_argument("--light-users", type=int, default=200_000, help="simulated events turned into light users")
    p.add_argument("--search-events", type=int, default=100_000, help="events of the search-heavy simulated log")
    p.add_argument("--work", default=None, help="working folder (default: a temporary one)")
    args = p.parse_args()
    work = args.work or tempfile.mkdtemp(prefix="synthlib-shapes-")
    os.makedirs(work, exist_ok=True)
    spark = get_spark()
    logs = args.logs.split(",")
    light = light_user_log(spark, work, args.light_users, 42) if "light-users" in logs else None
    out = {"logs": {}, "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d")}
    for name in logs:
        if name in SHARED and not os.path.isdir(os.path.join(ROOT, "..", "shared", "data")):
            out["logs"][name] = {"skipped": "../shared/data absent"}
            continue
        out["logs"][name] = measure(spark, conf_for(name, work, light, args.search_events))
    speeds = [v["training_events_per_s"] for v in out["logs"].values() if v.get("training_events_per_s")]
    out["slowest_training_over_fastest"] = round(min(speeds) / max(speeds), 3) if speeds else None
    print(json.dumps(out, indent=2, sort_keys=True, default=str))


if __name__ == "__main__":
    main()
