"""Generate: broadcast the model, sample blocks of users on the executors, write Delta.

Each synthetic user's events derive from (seed, user index) alone and users are
generated in blocks fixed by index, so the table content does not depend on the number of
partitions or executors. The executors emit compact codes; ids, names and texts are
decoded in Spark from broadcast lookup tables, so nothing proportional to the output
passes through the driver and little passes through Python.
"""
from __future__ import annotations

import json
import math
import os
from datetime import date
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark.sql import Column, DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from synthlib import rng
from synthlib.config import Config, ConfigError, GenerateConf
from synthlib.data.profile import load_summary, stats_fingerprint
from synthlib.delta_io import commit_of, is_delta, sql_path, write_table
from synthlib.generate.copies import FLAG_DDL, CopyKeys
from synthlib.generate.impressions import write_impressions
from synthlib.models import load_model, model_class
from synthlib.models.artifact import ModelArtifactError, payload_digest
from synthlib.models.guards import Guards, load_guards
from synthlib.models.timeline import MAX_SESSIONS, Conditions, Timeline
from synthlib.schema import CODES_DDL, EVENT_TYPES, SYNTHETIC_PREFIX

AUGMENT_MAX_SESSIONS, AUGMENT_ITEM_POWER = 2, 0.5
FRAME_ROWS = 100_000  # blocks are sent to Spark in frames of at least this many rows
_LOOKUPS = {"items": [("item", pa.int32()), ("item_id", pa.string()), ("item_category", pa.string()),
                      ("price", pa.float64())],
            "queries": [("query", pa.int32()), ("query_text", pa.string())]}
_WORKER_MODELS: dict[str, object] = {}  # one loaded model per Python worker


def _model_from(kind: str, payload: tuple) -> object:
    digest = payload_digest(payload)
    if digest not in _WORKER_MODELS:
        _WORKER_MODELS.clear()
        model = model_class(kind).from_bytes(payload)
        if hasattr(model, "net"):  # a torch network
            _use_task_cores(model)
        _WORKER_MODELS[digest] = model
    return _WORKER_MODELS[digest]


def _use_task_cores(model) -> None:
    """torch in a Spark Python worker: the executor's GPU if it has one, else as many
    threads as the task's cores (OMP_NUM_THREADS)."""
    import torch

    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1"))))
    if torch.cuda.is_available():
        model.net.to("cuda")


def conditions(g: GenerateConf, model=None) -> Conditions:
    """The conditions of a request; `augment` fills in the segment and item power not set.
    Unset follow dials come from the model's shape (synthlib.train.shape): the kept real item pairs
    are followed always in sessions long enough to hold most pairs."""
    augment = g.augment
    derived = (model.spec.get("shape") or {}).get("follow_min_events") if model is not None and hasattr(model, "spec") \
        else None
    follow = g.follow_transitions if g.follow_transitions is not None else (1.0 if derived else 0.0)
    min_events = g.follow_min_events or (derived["value"] if derived else 1)
    max_sessions = g.segment.max_sessions or (AUGMENT_MAX_SESSIONS if augment else MAX_SESSIONS - 1)
    power = g.item_power if "item_power" in g.model_fields_set or not augment else AUGMENT_ITEM_POWER
    return Conditions(category_mix=dict(g.category_mix), min_sessions=g.segment.min_sessions,
                      max_sessions=max_sessions, item_power=power,
                      follow_transitions=follow, follow_min_events=min_events)


def window(model, g: GenerateConf) -> tuple[date, int]:
    """(first day, days) to generate: as configured, else the real log's span."""
    tr = model.spec["time_range"]
    first, last = date.fromisoformat(tr["first_day"]), date.fromisoformat(tr["last_day"])
    start = g.start or first
    days = g.days or ((g.end - start).days + 1 if g.end else (last - first).days + 1)
    if days < 1:
        raise ValueError(f"generate.end {g.end} is before the first day generated, {start}; set generate.start")
    return start, days


def plan(model, g: GenerateConf, cond: Conditions, parallelism: int = 1) -> dict:
    """Users to generate for the requested count, the expected events and the partitions:
    `events_per_partition` each, but at least `parallelism` (the cluster's cores) when there
    are blocks enough, so that every core samples."""
    start, days = window(model, g)
    sessions_per_user, events_per_user = Timeline(model.profile, start, days, cond).expected_events_per_user()
    users = (g.users or (g.sessions and math.ceil(g.sessions / sessions_per_user))
             or (g.events and math.ceil(g.events / events_per_user)) or model.spec["users"])
    expected = users * events_per_user
    blocks = math.ceil(users / g.block_users)
    partitions = min(blocks, g.partitions or max(parallelism, math.ceil(expected / g.events_per_partition)))
    return {"users": users, "expected_events": round(expected), "start": start, "days": days,
            "blocks": blocks, "partitions": partitions}


def sampled_codes(spark: SparkSession, model, g: GenerateConf, seed: int, cond: Conditions, p: dict,
                  real_keys: np.ndarray | None = None) -> DataFrame:
    """Event codes of p["users"] users, sampled block by block on the executors; with the
    real sessions' copy keys, each row also carries its session's copy flags
    (synthlib.generate.copies)."""
    kind, payload = model.kind, spark.sparkContext.broadcast(model.to_bytes())
    block, users, start, days = g.block_users, p["users"], p["start"], p["days"]
    flags = None
    if real_keys is not None:
        flags = spark.sparkContext.broadcast(CopyKeys(model.lookups()["items"]["item_id"].to_numpy(), real_keys))

    def sample(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        m, frames, rows = _model_from(kind, payload.value), [], 0
        for batch in batches:
            for b in batch["id"].tolist():
                codes = m.sample_block(b * block, min((b + 1) * block, users), seed=seed, start=start,
                                       days=days, conditions=cond)
                frames.append(flags.value.flag(codes) if flags else codes)
                rows += len(frames[-1])
                if rows >= FRAME_ROWS:
                    yield pd.concat(frames, ignore_index=True)
                    frames, rows = [], 0
        if frames:
            yield pd.concat(frames, ignore_index=True)

    ddl = f"{CODES_DDL}, {FLAG_DDL}" if flags else CODES_DDL
    return spark.range(0, p["blocks"], numPartitions=p["partitions"]).mapInPandas(sample, ddl)


def without_copies(codes: DataFrame, dropped: Observation) -> DataFrame:
    """`codes` (with copy flags) less the sessions that repeat a real training session's items
    in order; `dropped` observes their sessions and events as the result is written."""
    return (codes.observe(dropped, F.count(F.when(F.col("copy_first"), 1)).alias("sessions"),
                          F.count(F.when(F.col("copy"), 1)).alias("events"))
            .where(~F.col("copy")).drop("copy", "copy_first"))


def _lookup_frame(spark: SparkSession, table: pd.DataFrame | None, name: str) -> DataFrame:
    """A small lookup table as a DataFrame, through Arrow (no pickling); None gives an empty one."""
    schema = pa.schema(_LOOKUPS[name])
    return spark.createDataFrame(pa.Table.from_pandas(table, schema=schema, preserve_index=False)
                                 if table is not None else schema.empty_table())


def coverage_notes(conf: Config, model) -> list[str]:
    """Where a mapped optional column is not generated at its real rate, and why."""
    profile, notes = model.profile, []
    # A DP release reads no real figure beyond its model: the real profile is not opened.
    real = os.path.exists(conf.layout.stats.summary) and not model.spec.get("privacy")
    summary = load_summary(conf) if real else {}
    searches = (summary.get("event_types") or {}).get("search", 0)
    with_query = summary.get("events", 0) * (1 - (summary.get("null_rates") or {}).get("query", 1.0))
    if searches and with_query and conf.train.text is None:
        frequent = sum(q["count"] for q in summary.get("top_queries", []))
        rare = 1 - min(1.0, frequent / with_query)
        if rare > 0.05:
            notes.append(f"queries: {rare:.0%} of the real queries are not among the {conf.profile.top_queries} "
                         f"most frequent that {conf.profile.min_query_users}+ users issued; synthetic searches "
                         "drawn in their place carry no query (train.text writes one under the k-user rule)")
    device_rate = 1 - (profile.get("null_rates") or {}).get("device", 1.0)
    if device_rate > 0 and not profile.get("devices"):
        notes.append(f"device: no device value was used by {conf.profile.min_query_users}+ users, so none is "
                     f"generated (the real log has one on {device_rate:.0%} of its events)")
    return notes


def session_device(profile: dict, seed: int) -> Column:
    """A device per synthetic session, at the real log's rates (its null rate included), from
    the profile's devices (those enough users shared); keyed by seed, user and session."""
    devices = profile.get("devices") or {}
    null_rate = (profile.get("null_rates") or {}).get("device", 0.0)
    if not devices or null_rate >= 1.0:
        return F.lit(None).cast("string")
    u = (F.abs(rng.spark_key(seed, "device", "user", "session")) % 1_000_000) / 1_000_000.0
    total, seen = sum(devices.values()), 0.0
    device = F.when(u < null_rate, F.lit(None).cast("string"))
    for name, n in sorted(devices.items(), key=lambda kv: (-kv[1], kv[0])):
        seen += n
        device = device.when(u < null_rate + (1 - null_rate) * seen / total, F.lit(name))
    return device.otherwise(F.lit(None).cast("string"))


def decode(spark: SparkSession, codes: DataFrame, lookups: dict[str, pd.DataFrame],
           device: Column | None = None) -> DataFrame:
    """Codes to canonical events: ids built in the JVM, names from broadcast lookup tables.

    One lookup holds both the item rows (keys >= 0) and the categories of events without an
    item (keys -2 - category), so each event needs two hash probes, not three."""
    cats = lookups["categories"]
    names = pd.concat([lookups["items"], pd.DataFrame({"item": -2 - cats["category"].astype("int32"), "item_id": None,
                                                       "item_category": cats["category_name"],
                                                       "price": float("nan")})], ignore_index=True)
    names = _lookup_frame(spark, names, "items").withColumnRenamed("item", "_key")
    queries = _lookup_frame(spark, lookups.get("queries"), "queries")
    key = F.when(F.col("item") >= 0, F.col("item")).otherwise(-2 - F.col("category"))
    codes = (codes.join(F.broadcast(names), key == F.col("_key"), "left")
             .join(F.broadcast(queries), "query", "left"))
    user = F.concat(F.lit(SYNTHETIC_PREFIX), F.col("user").cast("string"))
    return codes.select(
        user.alias("user_id"), F.concat(user, F.lit(":"), F.col("session").cast("string")).alias("session_id"),
        "ts", F.element_at(F.array(*map(F.lit, EVENT_TYPES)), F.col("event").cast("int") + 1).alias("event_type"),
        "item_id", F.col("item_category").alias("category"), "price",
        F.col("query_text").alias("query"), F.when(F.col("position") > 0, F.col("position")).alias("position"),
        (F.lit(None).cast("string") if device is None else device).alias("device"))


def events_frame(spark: SparkSession, conf: Config, model, run_id: str, guards: Guards | None = None,
                 dropped: Observation | None = None) -> tuple[DataFrame, dict]:
    """The synthetic events as a lazy DataFrame (canonical + date, run_id), and the plan.
    With `conf.generate.drop_copies`, the sessions that copy a real one (by the `guards`)
    are left out and `dropped` observes them; not for a DP release (its budget covers it)."""
    cond = conditions(conf.generate, model)
    try:  # conditions the model cannot meet fail here, on the driver, with one user
        p = plan(model, conf.generate, cond, spark.sparkContext.defaultParallelism)
        model.sample_block(0, 1, seed=conf.seed, start=p["start"], days=p["days"], conditions=cond)
    except ValueError as e:
        raise ConfigError(f"{conf.source_file or 'conf'}: {e}") from None
    copies = conf.generate.drop_copies and not model.spec.get("privacy")  # a DP release reads no real log
    if copies and guards is None:
        guards = load_guards(spark, conf)
    codes = sampled_codes(spark, model, conf.generate, conf.seed, cond, p, guards.copy_keys if copies else None)
    if copies:
        codes = without_copies(codes, dropped)
    events = decode(spark, codes, model.lookups(), session_device(model.profile, conf.seed))
    return events.withColumn("date", F.to_date("ts")).withColumn("run_id", F.lit(run_id)), {**p, "conditions": cond}


def _text_model(conf: Config, name: str):
    """The text model `train` saved in `model/<name>`, or None."""
    from synthlib.text.model import TextModel

    path = conf.layout.model.text(name)
    return TextModel.load(path) if os.path.exists(os.path.join(path, "model.json")) else None


def write_catalog(spark: SparkSession, conf: Config, run_id: str, lineage: dict) -> dict | None:
    """With a titles model: the synthetic catalog of this run's items to `<output>/tables/catalog`."""
    titles, real = _text_model(conf, "titles"), conf.layout.ingest.items
    path = conf.layout.tables.catalog
    if titles is not None and not is_delta(spark, real):
        raise FileNotFoundError(f"the titles model needs the real catalog at {real} to check that no real title is "
                                f"copied; run `synthlib profile --conf {conf.source_file}` or remove "
                                f"{conf.layout.model.text('titles')}")
    if titles is None:
        if is_delta(spark, path):  # this run's items of an earlier catalog would not match its events
            spark.sql(f"DELETE FROM delta.`{sql_path(path)}` WHERE run_id = '{run_id}'")
        return None
    from synthlib.generate.catalog import synthetic_catalog

    events = spark.read.format("delta").load(conf.layout.tables.events).where(F.col("run_id") == run_id)
    items = (synthetic_catalog(spark, events, titles, spark.read.format("delta").load(real), seed=conf.seed)
             .withColumn("run_id", F.lit(run_id)))
    write_table(items, path, mode="overwrite", replace_where=f"run_id = '{run_id}'", commit_info=lineage,
                properties={"synthlib.synthetic": "true", "synthlib.last_run": run_id})
    row = (spark.read.format("delta").load(path).where(F.col("run_id") == run_id)
           .agg(F.count(F.lit(1)).alias("items"), F.count("title").alias("titled")).first())
    return {"items": row["items"], "titled": row["titled"], "path": path}


def generate(spark: SparkSession, conf: Config) -> dict:
    """Write synthetic events to `<output>/tables/events`, replacing only this run's rows."""
    model = load_model(conf.layout.model)
    trained_on, current = model.spec["lineage"].get("stats_fingerprint"), stats_fingerprint(conf)
    if current and trained_on != current:
        raise ModelArtifactError(f"the model at {conf.layout.model} was trained on other stats than those in "
                                 f"{conf.layout.stats}; rerun `synthlib train --conf {conf.source_file}`")
    run_id = conf.generate.run_id or f"seed{conf.seed}-{model.kind}"
    path = conf.layout.tables.events
    privacy = model.spec.get("privacy")  # a DP release: nothing more may be read from the real log
    dropped = Observation("copies") if conf.generate.drop_copies and not privacy else None
    text = _text_model(conf, "text")
    guards = load_guards(spark, conf) if dropped is not None or text is not None else None
    events, p = events_frame(spark, conf, model, run_id, guards, dropped)
    cond = p["conditions"]
    if text is not None:
        from synthlib.generate.queries import fill_queries

        events = fill_queries(spark, events, text, guards.rare_query_keys, seed=conf.seed)
    lineage = {"operation": "generate", "run_id": run_id, "seed": conf.seed, "model": model.kind,
               "model_version": model.spec["version"], "users": p["users"],
               "start": str(p["start"]), "days": p["days"],
               "conditions": conf.generate.model_dump(mode="json", include={
                   "category_mix", "segment", "item_power", "follow_transitions", "follow_min_events", "augment",
                   "drop_copies"}) | {"follow_transitions": cond.follow_transitions,
                                      "follow_min_events": cond.follow_min_events},
               "source_version": model.spec["lineage"].get("source_version"),
               "stats_version": model.spec["lineage"].get("stats_items_version")}
    if privacy:
        lineage["privacy"] = {k: privacy[k] for k in ("unit", "epsilon", "delta", "composition", "budget", "split",
                                                      "split_from", "bounds") if k in privacy}
    write_table(events, path, mode="overwrite", partition_by=["date"], replace_where=f"run_id = '{run_id}'",
                commit_info=lineage,
                properties={"synthlib.synthetic": "true", "synthlib.last_run": run_id,
                            f"synthlib.run.{run_id}": json.dumps(lineage, sort_keys=True, default=str)})
    written = commit_of(spark, path, lineage)
    if conf.generate.optimize:
        end = date.fromordinal(p["start"].toordinal() + p["days"] - 1)
        zorder = f" ZORDER BY ({', '.join(conf.generate.zorder_by)})" if conf.generate.zorder_by else ""
        spark.sql(f"OPTIMIZE delta.`{sql_path(path)}` WHERE date >= '{p['start']}' AND date <= '{end}'{zorder}")
    summary = {"run_id": run_id, "events": int(written["metrics"].get("numOutputRows", 0)), "users": p["users"],
               "expected_events": p["expected_events"], "partitions": p["partitions"],
               "files": int(written["metrics"].get("numFiles", 0)), "path": path, "version": written["version"]}
    if dropped is not None:
        summary["copies_dropped"] = dropped.get
    notes = coverage_notes(conf, model)
    if privacy and conf.generate.drop_copies:
        notes.append(f"copy rule: not applied, the model is a DP release (epsilon {privacy['epsilon']:.3g}, "
                     f"delta {privacy['delta']:.2g}); checking against the real log would read what the budget did "
                     "not pay for")
    if notes:
        summary["notes"] = notes
    shown = write_impressions(spark, conf, run_id, lineage)
    if shown:
        summary["impressions"] = shown
    catalog = write_catalog(spark, conf, run_id, lineage)
    if catalog:
        summary["catalog"] = catalog
    return summary
