"""Generate the shown lists of a synthetic run: `<output>/tables/impressions`.

Requests come from the run's synthetic events. A search and the click events that follow
it in its session (up to the next search) make a search request: each click is on an item
of the list, at its position. A click that repeats a position or an item of the same
request starts a new request (a result page shown again), so that this holds for every
click. Clicks before a session's first search make a request of their own. In a log
without searches, each synthetic click event is a clicked request of the log's main
surface, and its requests without a click are anchored on synthetic events at the real rate
per event. Requests of the other surfaces are anchored on synthetic events at the real
log's rate per event and draw their clicks from the click model. Each request carries the
items its session held before it (synthlib.data.exposure.with_recent), which its list may
show again. The lists themselves are drawn on the executors by the broadcast exposure model
(synthlib.models.impressions), keyed by (seed, request id).
"""
from __future__ import annotations

import os
from typing import Iterator

import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from synthlib.config import Config
from synthlib.data.exposure import with_recent
from synthlib.delta_io import commit_of, is_delta, sql_path, write_table
from synthlib.models.artifact import MODEL_JSON, payload_digest
from synthlib.models.impressions import ImpressionModel
from synthlib.schema import IMPRESSION_COLUMNS, IMPRESSIONS_DDL

_WORKER: dict[str, ImpressionModel] = {}


def _key(seed: int, request_id: Column) -> Column:
    return F.xxhash64(F.lit(seed), F.lit("impressions"), request_id)


def search_requests(events: DataFrame, seed: int) -> DataFrame:
    """A request per synthetic search with the clicks that follow it; clicks before a
    session's first search make one more. `events` carry `recent` (with_recent)."""
    is_search = (F.col("event_type") == "search").cast("int")
    w = (Window.partitionBy("session_id").orderBy("ts", F.desc("event_type"), "item_id")
         .rowsBetween(Window.unboundedPreceding, 0))
    e = events.where(F.col("event_type").isin("search", "click")).withColumn("_n", F.sum(is_search).over(w))
    click = (F.col("event_type") == "click") & F.col("item_id").isNotNull()
    groups = e.groupBy("user_id", "session_id", "_n").agg(
        F.min(F.when(F.col("event_type") == "search", F.struct("ts", "query", "category", "recent"))).alias("_s"),
        F.min(F.struct("ts", "category", "recent")).alias("_first"),
        F.sort_array(F.collect_list(F.when(click, F.struct("ts", "item_id", "position", "price")))).alias("clicks"))
    request_id = F.concat("session_id", F.lit(":"), F.col("_n").cast("string"))
    return groups.select(request_id.alias("request_id"), "user_id", "session_id",
                         F.coalesce("_s.ts", "_first.ts").alias("ts"), F.lit("search").alias("surface"),
                         F.col("_s.query").alias("query"), F.coalesce("_s.category", "_first.category").alias("category"),
                         _key(seed, request_id).alias("key"), F.lit(False).alias("draw"), "clicks",
                         F.coalesce("_s.recent", "_first.recent").alias("recent"))


def click_requests(events: DataFrame, surface: str, positions: dict[str, float], seed: int) -> DataFrame:
    """A request of `surface` per synthetic click event, clicked at the event's position, or
    at one drawn from the real clicks' `positions` (position: share) where it has none."""
    click = events.where((F.col("event_type") == "click") & F.col("item_id").isNotNull())
    h = F.xxhash64(F.lit(seed), F.lit(surface), F.lit("click"), "user_id", "session_id", "ts", "item_id")
    request_id = F.concat("session_id", F.lit(f":{surface}:click:"), h.cast("string"))
    u = (F.abs(F.xxhash64(F.lit(seed), F.lit("click-position"), request_id)) % 1_000_000) / 1_000_000.0
    shares = sorted((int(p), v) for p, v in positions.items())
    drawn, total = None, 0.0
    for p, v in shares[:-1]:  # the first position whose cumulative share exceeds u
        total += v
        drawn = F.when(u < total, F.lit(p)) if drawn is None else drawn.when(u < total, F.lit(p))
    last = F.lit(shares[-1][0])
    drawn = last if drawn is None else drawn.otherwise(last)
    at = F.coalesce(F.when(F.col("position") >= 1, F.col("position")), drawn).cast("int")
    return click.select(request_id.alias("request_id"), "user_id", "session_id", "ts", F.lit(surface).alias("surface"),
                        F.lit(None).cast("string").alias("query"), "category", _key(seed, request_id).alias("key"),
                        F.lit(False).alias("draw"),
                        F.array(F.struct("ts", "item_id", at.alias("position"), "price")).alias("clicks"), "recent")


def anchored_requests(events: DataFrame, surface: str, per_event: float, seed: int, draw: bool = True) -> DataFrame:
    """Requests of `surface` anchored on synthetic events, `per_event` of them an event on
    average (the whole part always, the fraction by a keyed draw); their clicks are drawn
    (with `draw`; else they show no click)."""
    h = F.xxhash64(F.lit(seed), F.lit(surface), "user_id", "session_id", "ts", "event_type", "item_id")
    extra = ((F.abs(h) % 1_000_000) / 1_000_000.0 < per_event % 1).cast("int")
    n = F.lit(int(per_event)) + extra
    anchors = events.select("user_id", "session_id", "ts", "category", "recent", h.alias("_h"), n.alias("_count"))
    anchors = anchors.where(F.col("_count") > 0).select("*", F.explode(F.sequence(F.lit(1), "_count")).alias("_i"))
    request_id = F.concat("session_id", F.lit(f":{surface}:"), F.col("_h").cast("string"), F.lit("."),
                          F.col("_i").cast("string"))
    return anchors.select(request_id.alias("request_id"), "user_id", "session_id", "ts", F.lit(surface).alias("surface"),
                          F.lit(None).cast("string").alias("query"), "category", _key(seed, request_id).alias("key"),
                          F.lit(draw).alias("draw"),
                          F.array().cast("array<struct<ts: timestamp, item_id: string, position: int, price: double>>")
                          .alias("clicks"), "recent")


def split_clicks(clicks: list[tuple[str, int | None]]) -> list[list[tuple[str, int]]]:
    """A request's clicks (item, position) in time order, as one group per list shown: a
    click that repeats a position or an item of its group starts the next group. A click
    without a position takes the first one free."""
    groups, at, items = [[]], {}, set()
    for item, position in clicks:
        if position is None or position < 1:
            position = next(p for p in range(1, len(at) + 2) if p not in at)
        if position in at or item in items:
            groups.append([])
            at, items = {}, set()
        groups[-1].append((item, position))
        at[position], items = item, items | {item}
    return groups


def _model(payload) -> ImpressionModel:
    digest = payload_digest(payload)
    if digest not in _WORKER:
        _WORKER.clear()
        _WORKER[digest] = ImpressionModel.from_bytes(payload)
    return _WORKER[digest]


def shown_lists(spark: SparkSession, requests: DataFrame, model: ImpressionModel, seed: int) -> DataFrame:
    """One row per shown item of each request (IMPRESSIONS_DDL), drawn on the executors."""
    payload = spark.sparkContext.broadcast(model.to_bytes())
    names = [name for name, _ in IMPRESSION_COLUMNS]

    def lists(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        m = _model(payload.value)
        for batch in batches:
            rows = []
            for r in batch.itertuples(index=False):
                clicks = [(c["item_id"], c["position"]) for c in (r.clicks if r.clicks is not None else [])]
                prices = {c["item_id"]: c["price"] for c in (r.clicks if r.clicks is not None else [])}
                recent = list(r.recent) if r.recent is not None else []
                for j, group in enumerate(split_clicks(clicks) if clicks else [[]]):
                    request_id = r.request_id if j == 0 else f"{r.request_id}.{j}"
                    key = (r.key + j + 2**63) % 2**64 - 2**63
                    shown = m.request(key, r.surface, r.category, group, seed, r.draw, recent)
                    for item, position, clicked in shown:
                        i = m.index.get(item)
                        price = float(m.price[i]) if i is not None else prices.get(item)
                        rows.append((request_id, r.user_id, r.session_id, r.ts, r.surface, r.query, item, position,
                                     clicked, price))
            yield pd.DataFrame(rows, columns=names).astype({"position": "int32"})

    return requests.mapInPandas(lists, IMPRESSIONS_DDL)


def impressions_frame(spark: SparkSession, events: DataFrame, model: ImpressionModel, seed: int) -> DataFrame:
    """The shown lists of the synthetic `events` (canonical columns)."""
    surfaces = model.spec["surfaces"]
    if any(model.recent_share.values()):  # a window over each session, only where lists show its items
        events = with_recent(events, "ts", F.desc("event_type"), "item_id")
    else:
        events = events.withColumn("recent", F.array().cast("array<string>"))
    parts = [search_requests(events, seed)] if "search" in surfaces else []
    clicked = model.spec.get("event_clicks")
    if clicked:  # a log without searches: its click events are this surface's clicks
        parts.append(click_requests(events, clicked, model.spec["click_positions"][clicked], seed))
        parts.append(anchored_requests(events, clicked, model.spec["no_click_requests"][clicked], seed, draw=False))
    parts += [anchored_requests(events, s, rate, seed) for s, rate in sorted(surfaces.items())
              if s not in ("search", clicked)]
    requests = parts[0]
    for p in parts[1:]:
        requests = requests.unionByName(p)
    return shown_lists(spark, requests, model, seed)


def write_impressions(spark: SparkSession, conf: Config, run_id: str, lineage: dict) -> dict | None:
    """With an exposure model: the shown lists of this run's events to `<output>/tables/impressions`,
    replacing only this run's rows; without one, an earlier run's lists of this run id are removed."""
    folder, path = conf.layout.model.exposure, conf.layout.tables.impressions
    if not os.path.exists(os.path.join(folder, MODEL_JSON)):
        if is_delta(spark, path):
            spark.sql(f"DELETE FROM delta.`{sql_path(path)}` WHERE run_id = '{run_id}'")
        return None
    model = ImpressionModel.load(folder)
    events = spark.read.format("delta").load(conf.layout.tables.events).where(F.col("run_id") == run_id)
    shown = (impressions_frame(spark, events, model, conf.seed)
             .withColumn("date", F.to_date("ts")).withColumn("run_id", F.lit(run_id)))
    lineage = {**lineage, "table": "impressions", "click_model": model.spec["click_model"]}
    write_table(shown, path, mode="overwrite", partition_by=["date"], replace_where=f"run_id = '{run_id}'",
                commit_info=lineage, properties={"synthlib.synthetic": "true", "synthlib.last_run": run_id})
    written = commit_of(spark, path, lineage)
    row = (spark.read.format("delta").load(path).where(F.col("run_id") == run_id)
           .agg(F.countDistinct("request_id").alias("requests"), F.sum(F.col("clicked").cast("int")).alias("clicks"))
           .first())
    return {"rows": int(written["metrics"].get("numOutputRows", 0)), "requests": row["requests"],
            "clicks": int(row["clicks"] or 0), "path": path, "version": written["version"]}
