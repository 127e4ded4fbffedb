"""Evaluate: fidelity, privacy and recommender utility of synthetic runs against the real log.

The protocol: the real log's held-out test split (`evaluate.holdout`) never reaches the
profile or training; each synthetic run is compared with the real training split
(fidelity), checked against copying it (privacy), and used to train recommenders that are
tested on the real test split (utility). Everything is computed in Spark; only bounded
summaries reach the driver. A run of more than `evaluate.max_events` events is measured on a
seeded share of its users of about that size; its copy check reads the whole run.

Writes `<output>/eval/metrics.json`, the Delta table `<output>/eval/metrics` (one row per
run and metric, a rerun replacing its runs' rows) and `<output>/eval/report.html`.
"""
from __future__ import annotations

import json
import math
import os
from datetime import datetime, timezone

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from synthlib.config import Config, ConfigError
from synthlib.data.profile import load_summary
from synthlib.data.sample import sample_users, user_share
from synthlib.delta_io import is_delta, table_properties, write_table
from synthlib.evaluate.fidelity import compare, describe
from synthlib.evaluate.impressions import evaluate_impressions
from synthlib.evaluate.privacy import distances, verbatim_copies
from synthlib.evaluate.report import write_report
from synthlib.evaluate.text import RealQueries, query_text, title_text
from synthlib.evaluate.utility import utility
from synthlib.marks import kind as metric_kind
from synthlib.marks import marks
from synthlib.spark import counted_jobs

METRICS_DDL = "run_id string, model string, kind string, metric string, value double, mark string, evaluated_at timestamp"


def _runs(spark: SparkSession, conf: Config, path: str, run_id: str | None) -> dict[str, dict]:
    """{run_id: lineage} of the runs to evaluate; an unknown run id is a ConfigError."""
    props = table_properties(spark, path)
    wanted = list(conf.evaluate.runs) or [run_id or conf.generate.run_id or props["synthlib.last_run"]]
    if conf.evaluate.augment_run in wanted:
        raise ConfigError(f"evaluate: '{conf.evaluate.augment_run}' is the augmentation run; name the runs to "
                          "evaluate in evaluate.runs")
    if conf.evaluate.augment_run:
        wanted.append(conf.evaluate.augment_run)
    runs = {}
    for r in wanted:
        if f"synthlib.run.{r}" not in props:
            known = sorted(k.split(".", 2)[2] for k in props if k.startswith("synthlib.run."))
            raise ConfigError(f"evaluate: run '{r}' is not in {path}; written runs: {known}")
        runs[r] = json.loads(props[f"synthlib.run.{r}"])
    return runs


def _read(spark: SparkSession, path: str, step: str, conf: Config) -> DataFrame:
    if not is_delta(spark, path):
        raise FileNotFoundError(f"no Delta table at '{path}'; run `synthlib {step} --conf {conf.source_file}` first")
    return spark.read.format("delta").load(path)


def _finite(v):
    """NaN and infinity as None, recursively: metrics.json is strict JSON."""
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    return None if isinstance(v, float) and not math.isfinite(v) else v


def mia_populations(train: DataFrame, test: DataFrame, conf: Config,
                    users: int | None = None) -> tuple[DataFrame, DataFrame, str]:
    """(members, non-members, which): the model's training sample against the training-period
    users it left out when `train.sample_fraction` or `train.max_users` leaves some out (the
    textbook attack); otherwise against the held-out test split. `users`, the training
    split's user count from the profile, spares the Spark check when the sample takes all."""
    everyone = "the held-out test split"
    if users is not None and conf.train.sample_fraction >= 1 and users <= conf.train.max_users:
        return train, test, everyone
    sample = sample_users(train, seed=conf.seed, fraction=conf.train.sample_fraction, max_users=conf.train.max_users)
    outside = train.join(sample.select("user_id").distinct(), "user_id", "left_anti")
    if outside.limit(1).count():
        return sample, outside, "training-period users outside the model's training sample"
    return train, test, everyone


def _catalog_text(spark: SparkSession, conf: Config, run_id: str) -> dict | None:
    """Title metrics of the run's synthetic catalog against the real one; None without both."""
    real, path = conf.layout.ingest.items, conf.layout.tables.catalog
    if not (is_delta(spark, real) and is_delta(spark, path)):
        return None
    catalog = spark.read.format("delta").load(path).where(F.col("run_id") == run_id)
    return title_text(spark.read.format("delta").load(real), catalog, seed=conf.seed)


def _evaluate_run(real, train: DataFrame, test: DataFrame | None, run: DataFrame, synthetic: DataFrame,
                  conf: Config, mia: tuple | None, held_copies: dict | None, queries: RealQueries | None,
                  titles: dict | None) -> tuple[dict, dict]:
    """(run result, figures) of one synthetic run: the copy check on the whole `run`,
    fidelity, distances and text on `synthetic`, its evaluated share."""
    desc = describe(synthetic)
    try:
        metrics, figures = compare(real, desc)
    finally:
        desc.release()
    copies = verbatim_copies(train, run)
    metrics["copy_share"] = copies["share"]
    privacy = {"copies": copies}
    if test is not None:
        # How often real sessions of the held-out days repeat a training session: the level
        # that popular short sessions reach without any copying.
        metrics["copy_share_holdout"] = held_copies["share"]
        privacy["holdout_copies"] = held_copies
        members, non_members, population = mia
        dist = distances(train, test, synthetic, members=members, non_members=non_members,
                         seed=conf.seed, records=conf.evaluate.privacy_records,
                         reference_records=conf.evaluate.reference_records)
        metrics.update({k: dist[k] for k in ("dcr_median_synthetic", "dcr_median_holdout", "mia_auc")})
        privacy.update(distances={k: v for k, v in dist.items() if k != "histograms"}, mia_non_members=population)
        figures["dcr"] = dist["histograms"]
        text = query_text(queries, synthetic, min_users=conf.profile.min_query_users, seed=conf.seed)
        if text:
            metrics.update({f"query_{k}": v for k, v in text.items() if not k.endswith("_real")})
            figures["query_real"] = {k: v for k, v in text.items() if k.endswith("_real")}
    if titles:
        metrics.update({f"title_{k}": v for k, v in titles.items() if not k.endswith("_real")})
        figures["title_real"] = {k: v for k, v in titles.items() if k.endswith("_real")}
    return {"evaluated_events": desc.summary["events"], "metrics": metrics, "privacy": privacy}, figures


def evaluate(spark: SparkSession, conf: Config, run_id: str | None = None) -> dict:
    """Evaluate the configured runs; write metrics.json, the metrics table and report.html.
    The result counts the Spark jobs the evaluation ran (`spark_jobs`)."""
    with counted_jobs(spark, "evaluate") as jobs:
        result = _evaluate(spark, conf, run_id)
        result["spark_jobs"] = jobs()
    return result


def _pair_floor(conf: Config) -> int | None:
    """The trained session model's k-user floor on real item pairs (None without one)."""
    try:
        with open(conf.layout.model.spec) as fh:
            spec = json.load(fh)
    except (OSError, ValueError):
        return None
    return ((spec.get("training") or {}).get("next_items") or {}).get("min_users")


def _released_items(spark: SparkSession, conf: Config) -> DataFrame | None:
    """The items the private profile released (None without one)."""
    path = conf.layout.stats.private_items
    return spark.read.format("delta").load(path).select("item_id") if is_delta(spark, path) else None


def _evaluate(spark: SparkSession, conf: Config, run_id: str | None) -> dict:
    ev = conf.evaluate
    train = _read(spark, conf.layout.ingest.events, "profile", conf)
    path = conf.layout.tables.events
    table = _read(spark, path, "generate", conf)
    test_path = conf.layout.ingest.test
    test = spark.read.format("delta").load(test_path) if ev.holdout and is_delta(spark, test_path) else None
    lineage = _runs(spark, conf, path, run_id)
    evaluated = [r for r in lineage if r != ev.augment_run]
    whole = {r: table.where(F.col("run_id") == r).drop("run_id") for r in lineage}
    sizes = {r: 0 for r in lineage} | {row["run_id"]: row["count"] for row in
                                       table.where(F.col("run_id").isin(*lineage)).groupBy("run_id").count().collect()}
    synthetic = {r: user_share(df, seed=conf.seed, stream="evaluate-sample", fraction=ev.max_events / max(1, sizes[r]))
                 .persist() for r, df in whole.items()}
    users = load_summary(conf)["users"] if os.path.exists(conf.layout.stats.summary) else None
    mia = mia_populations(train, test, conf, users) if test is not None else None
    held_copies = verbatim_copies(train, test) if test is not None else None
    queries = RealQueries.gather(train, test, seed=conf.seed) if test is not None else None
    real = describe(train)
    runs, figures, util, skipped = {}, {"runs": {}, "real": real.summary}, None, []
    try:
        for r in evaluated:
            runs[r], figures["runs"][r] = _evaluate_run(real, train, test, whole[r], synthetic[r], conf, mia,
                                                        held_copies, queries, _catalog_text(spark, conf, r))
            runs[r].update(model=lineage[r].get("model"), events=sizes[r], dp=lineage[r].get("privacy"))
        if test is None:
            skipped.append("privacy distances and utility: no real test split; set evaluate.holdout and rerun profile")
        else:
            augment = synthetic[ev.augment_run] if ev.augment_run else None
            private = any(lineage[r].get("privacy") for r in evaluated)
            util = utility(train, test, {r: synthetic[r] for r in evaluated}, ev, conf.seed, augment,
                           pair_floor=_pair_floor(conf), released=_released_items(spark, conf) if private else None)
            for r in evaluated:
                for rec, ratio in util["ratios"][r].items():
                    runs[r]["metrics"][f"{rec}_recall_ratio"] = ratio["recall"]
                if util.get("knn_ceiling") and lineage[r].get("model") == "session":
                    runs[r]["metrics"]["knn_recall_ceiling"] = util["knn_ceiling"]["recall"]
                if util.get("dp_ceiling") and lineage[r].get("privacy"):
                    runs[r]["metrics"].update({f"{rec}_recall_dp_ceiling": ratio["recall"]
                                               for rec, ratio in util["dp_ceiling"].items()})
    finally:
        real.release()
        if queries is not None:
            queries.release()
        for df in synthetic.values():
            df.unpersist()
    exposure = _impressions(spark, conf, evaluated)
    if exposure:
        for r in evaluated:
            runs[r]["metrics"].update(exposure["runs"][r].pop("metrics"))
        figures["impressions"] = exposure
    for r in runs:
        runs[r]["metrics"] = _finite(runs[r]["metrics"])
        runs[r]["marks"] = marks(runs[r]["metrics"], ev)
    out = _finite({"runs": runs, "utility": util, "skipped": skipped, "impressions": exposure,
                   "real": {"train_events": real.summary["events"],
                            "test_events": test.count() if test is not None else None},
                   "thresholds": ev.model_dump(include={"pass_at", "warn_at", "max_copy_share", "max_mia_auc",
                                                        "min_utility_ratio", "warn_utility_ratio", "k"})})
    os.makedirs(conf.layout.eval, exist_ok=True)
    with open(conf.layout.eval.metrics_json, "w") as fh:
        json.dump(out, fh, indent=2, sort_keys=True, default=str)
    _write_metrics_table(spark, conf, runs)
    write_report(conf.layout.eval.report, out, figures, ev)
    return {"runs": {r: {"metrics": v["metrics"], "marks": v["marks"]} for r, v in runs.items()},
            "utility": out["utility"] and {k: out["utility"][k] for k in ("scores", "ratios")},
            "metrics_path": conf.layout.eval.metrics_json, "metrics_table": conf.layout.eval.metrics_table,
            "report_path": conf.layout.eval.report}


def _impressions(spark: SparkSession, conf: Config, evaluated: list[str]) -> dict | None:
    """The runs' shown lists against the real impressions; None without an exposure model
    (so that the tables of an earlier conf with impressions are not read)."""
    real, test = conf.layout.ingest.impressions, conf.layout.ingest.impressions_test
    path = conf.layout.tables.impressions
    trained = os.path.exists(os.path.join(conf.layout.model.exposure, "model.json"))
    if not (trained and is_delta(spark, real) and is_delta(spark, path)):
        return None
    load = lambda p: spark.read.format("delta").load(p)  # noqa: E731
    table, synthetic = load(path), load(conf.layout.tables.events)
    runs = {r: table.where(F.col("run_id") == r).drop("run_id", "date") for r in evaluated}
    held = load(test).drop("date") if is_delta(spark, test) else None
    # the sessions' events, for the click model's features of what a session held before a request
    events = {"real": load(conf.layout.ingest.events),
              **{r: synthetic.where(F.col("run_id") == r) for r in evaluated}}
    if is_delta(spark, conf.layout.ingest.test):
        events["test"] = load(conf.layout.ingest.test)
    categories = load(conf.layout.stats.items) if is_delta(spark, conf.layout.stats.items) else None
    return evaluate_impressions(load(real).drop("date"), held, runs, events, categories)


def _write_metrics_table(spark: SparkSession, conf: Config, runs: dict) -> None:
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    rows = [(r, v["model"], metric_kind(m), m, None if value is None else float(value), v["marks"].get(m), now)
            for r, v in runs.items() for m, value in v["metrics"].items()]
    ids = ", ".join("'" + r + "'" for r in runs)  # run ids are [A-Za-z0-9._-]
    write_table(spark.createDataFrame(rows, METRICS_DDL), conf.layout.eval.metrics_table, mode="overwrite",
                replace_where=f"run_id IN ({ids})", commit_info={"operation": "evaluate", "runs": sorted(runs)})
