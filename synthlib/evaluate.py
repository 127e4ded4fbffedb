"""Evaluate: compare the synthetic events with the real log on a first set of distances.

All distributions are aggregated in Spark; only their bounded summaries (histograms,
frequency-of-frequency tables) reach the driver.
"""
from __future__ import annotations

import json
import os

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from synthlib.config import Config
from synthlib.delta_io import is_delta, table_properties
from synthlib.profile import bucket, popularity
from synthlib.report import write_report


def counts(df: DataFrame, key) -> dict:
    """Counts of a bounded key (an event type, an hour, a length bucket), in key order."""
    rows = df.groupBy(key.alias("k")).count().collect()
    return dict(sorted((r["k"], r["count"]) for r in rows if r["k"] is not None))


def shares(c: dict) -> dict:
    total = sum(c.values()) or 1
    return {k: n / total for k, n in c.items()}


def total_variation(p: dict, q: dict) -> float:
    return 0.5 * sum(abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in sorted(set(p) | set(q)))


def ks(p: dict, q: dict) -> float:
    """Kolmogorov-Smirnov distance between two distributions over ordered keys."""
    cp = cq = worst = 0.0
    for k in sorted(set(p) | set(q)):
        cp, cq = cp + p.get(k, 0.0), cq + q.get(k, 0.0)
        worst = max(worst, abs(cp - cq))
    return worst


def rank_frequency(item_counts: DataFrame) -> list[tuple[int, int]]:
    """(count, number of items with that count): the rank-frequency curve, compressed."""
    return sorted((int(r["count"]), int(r["n"])) for r in
                  item_counts.groupBy("count").agg(F.count(F.lit(1)).alias("n")).collect())


def item_total_variation(real: DataFrame, synthetic: DataFrame, totals: tuple[int, int]) -> float:
    """Half the L1 distance between two item distributions (item_id, count), in Spark."""
    p = real.select("item_id", (F.col("count") / max(1, totals[0])).alias("p"))
    q = synthetic.select("item_id", (F.col("count") / max(1, totals[1])).alias("q"))
    diff = F.abs(F.coalesce("p", F.lit(0.0)) - F.coalesce("q", F.lit(0.0)))
    return 0.5 * float(p.join(q, "item_id", "full_outer").agg(F.sum(diff)).first()[0] or 0.0)


def compare(real: DataFrame, synthetic: DataFrame) -> dict:
    """Distances between two canonical event frames (0 = identical)."""
    lengths = lambda df: counts(df.groupBy("session_id").count(), bucket(F.col("count")))  # noqa: E731
    raw = {
        "event_mix": (counts(real, F.col("event_type")), counts(synthetic, F.col("event_type"))),
        "hour_of_day": (counts(real, F.hour("ts")), counts(synthetic, F.hour("ts"))),
        "session_length": (lengths(real), lengths(synthetic)),
    }
    figures = {name: (shares(a), shares(b)) for name, (a, b) in raw.items()}
    # Item counts once per frame: the rank-frequency curve, popularity and the item TV share them.
    items = [df.where(F.col("item_id").isNotNull()).groupBy("item_id").count().persist()
             for df in (real, synthetic)]
    try:
        freq = [rank_frequency(c) for c in items]
        pop_real, pop_syn = popularity(freq[0]), popularity(freq[1])
        totals = tuple(sum(c * m for c, m in f) for f in freq)
        item_tv = item_total_variation(*items, totals)
    finally:
        for c in items:
            c.unpersist()
    metrics = {
        "item_popularity_tv": item_tv,
        "item_gini_difference": abs(pop_real["gini"] - pop_syn["gini"]),
        "item_top1pct_share_difference": abs(pop_real["top1pct_share"] - pop_syn["top1pct_share"]),
        "session_length_ks": ks(*figures["session_length"]),
        "session_length_tv": total_variation(*figures["session_length"]),
        "event_mix_tv": total_variation(*figures["event_mix"]),
        "hour_of_day_tv": total_variation(*figures["hour_of_day"]),
    }
    figures["rank_frequency"] = tuple(freq)
    events = {"real": sum(raw["event_mix"][0].values()), "synthetic": sum(raw["event_mix"][1].values())}
    return {"metrics": metrics, "figures": figures, "events": events,
            "popularity": {"real": pop_real, "synthetic": pop_syn}}


def evaluate(spark: SparkSession, conf: Config, run_id: str | None = None) -> dict:
    """Write `<output>/eval/metrics.json` and `report.html` for one generation run."""
    path = conf.path("tables", "events")
    for table, step in ((conf.path("ingest", "events"), "profile"), (path, "generate")):
        if not is_delta(spark, table):
            raise FileNotFoundError(f"no Delta table at '{table}'; run `synthlib {step} --conf {conf.source_file}` first")
    real = spark.read.format("delta").load(conf.path("ingest", "events"))
    table = spark.read.format("delta").load(path)
    run_id = run_id or conf.generate.run_id or table_properties(spark, path)["synthlib.last_run"]
    synthetic = table.where(F.col("run_id") == run_id)
    result = compare(real, synthetic)
    marks = {k: ("pass" if v <= conf.evaluate.pass_at else "warn" if v <= conf.evaluate.warn_at else "fail")
             for k, v in result["metrics"].items()}
    out = {"run_id": run_id, "metrics": result["metrics"], "marks": marks,
           "thresholds": {"pass": conf.evaluate.pass_at, "warn": conf.evaluate.warn_at},
           "popularity": result["popularity"],
           "events": result["events"]}
    os.makedirs(conf.path("eval"), exist_ok=True)
    with open(conf.path("eval", "metrics.json"), "w") as fh:
        json.dump(out, fh, indent=2, sort_keys=True)
    write_report(conf.path("eval", "report.html"), out, result["figures"])
    return {**out, "metrics_path": conf.path("eval", "metrics.json"),
            "report_path": conf.path("eval", "report.html")}
