"""Ingest impressions: what was shown, at which position, and whether it was clicked.

Three forms of a real log land in one canonical table (synthlib.schema.IMPRESSION_COLUMNS):
a list column on the click or search row (an array, or a delimited string), one row per
shown item, or a separate table joined to the events by a request or session id. A request
with a bad list is quarantined whole, one row per shown item (an empty list as one row),
with its reason; accepted plus quarantined requests equal the requests read.
"""
from __future__ import annotations

import re

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType

from synthlib.config import SURFACES, Config, ImpressionsConf
from synthlib.data.ingest import REASON
from synthlib.data.sources import InputError, canonical, catalog, column, read_raw, text, timestamp
from synthlib.delta_io import write_table
from synthlib.schema import IMPRESSION_COLUMNS, SYNTHETIC_PREFIX

WHERE = "input.impressions"
NAMES = [name for name, _ in IMPRESSION_COLUMNS]


def _mapped(df: DataFrame, imp: ImpressionsConf, name: str, typ: str = "string") -> Column:
    source = getattr(imp.columns, name)
    if source is None:
        return F.lit(None).cast(typ)
    col = column(df, source, f"{WHERE}.columns.{name}")
    return text(col) if typ == "string" else col.try_cast(typ)


def _clicked(df: DataFrame, imp: ImpressionsConf) -> Column:
    """A clicked flag from 1/0, true/false, yes/no (null when unmapped)."""
    if imp.columns.clicked is None:
        return F.lit(None).cast("boolean")
    raw = F.lower(text(column(df, imp.columns.clicked, f"{WHERE}.columns.clicked")))
    return (F.when(raw.isin("true", "yes", "y", "t"), True).when(raw.isin("false", "no", "n", "f", ""), False)
            .otherwise(raw.try_cast("double") > 0))


def _surface(df: DataFrame, imp: ImpressionsConf) -> Column:
    """The canonical surface; null (quarantined) for a value neither canonical nor mapped."""
    if imp.columns.surface is None:
        return F.lit(imp.surface)
    raw = text(column(df, imp.columns.surface, f"{WHERE}.columns.surface"))
    mapping = {**{s: s for s in SURFACES}, **imp.surface_values}
    return F.create_map(*[F.lit(x) for kv in mapping.items() for x in kv])[F.lower(raw)]


def _shown_list(df: DataFrame, imp: ImpressionsConf) -> Column:
    """The shown item ids in rank order: an array column, or a string split on the separator."""
    col = F.col(f"`{imp.columns.shown}`")
    if imp.columns.shown not in df.columns:
        column(df, imp.columns.shown, f"{WHERE}.columns.shown")  # raises, naming the columns
    if isinstance(df.schema[imp.columns.shown].dataType, ArrayType):
        items = col.cast("array<string>")
    else:
        listed = F.regexp_replace(F.trim(col.cast("string")), r"^\[|\]$", "")  # "[a|b]" as well as "a|b"
        items = F.when(listed == "", F.array()).otherwise(F.split(listed, re.escape(imp.list_separator)))
    return F.transform(items, lambda x: F.when(F.trim(x) != "", F.trim(x)))


def _rows(spark: SparkSession, conf: Config, imp: ImpressionsConf) -> DataFrame:
    """The impressions source as one row per shown item (NAMES plus `_empty`, `_clicked_item`)."""
    df = read_raw(spark, imp, WHERE)
    cols = imp.columns
    joined = imp.join_column is not None
    ts = F.lit(None).cast("timestamp") if cols.timestamp is None else timestamp(df, imp, WHERE)
    base = {"request_id": _mapped(df, imp, "request_id"), "user_id": _mapped(df, imp, "user_id"),
            "session_id": _mapped(df, imp, "session_id"), "ts": ts, "surface": _surface(df, imp),
            "query": _mapped(df, imp, "query"), "price": _mapped(df, imp, "price", "double")}
    if cols.request_id is None:  # a row is a request in the list form; else a session's (or user's) moment
        key = [F.col(f"`{c}`") for c in df.columns] if cols.shown else [
            F.coalesce(base["session_id"], base["user_id"]), base["ts"].cast("string"), base["surface"]]
        base["request_id"] = F.concat(F.lit("r"), F.xxhash64(*key).cast("string"))
    if cols.shown is not None:
        flat = (df.select(*[c.alias(n) for n, c in base.items()], _shown_list(df, imp).alias("_shown"),
                          _mapped(df, imp, "item_id").alias("_clicked_item"), _clicked(df, imp).alias("_flag"))
                .select("*", F.posexplode_outer("_shown").alias("_pos", "item_id")))
        rows = flat.select(*base, "item_id", (F.col("_pos") + 1).alias("position"),
                           F.coalesce("_flag", F.coalesce(F.col("item_id") == F.col("_clicked_item"), F.lit(False))).alias("clicked"),
                           F.col("_pos").isNull().alias("_empty"), "_clicked_item")
    else:
        rows = df.select(*[c.alias(n) for n, c in base.items()], _mapped(df, imp, "item_id").alias("item_id"),
                         _mapped(df, imp, "position", "int").alias("position"), _clicked(df, imp).alias("clicked"),
                         F.lit(False).alias("_empty"), F.lit(None).cast("string").alias("_clicked_item"))
    if joined:
        rows = _join_events(spark, conf, imp, rows)
    rows = rows.withColumn("user_id", F.coalesce("user_id", "session_id"))
    inp = conf.require_input()
    if inp.items is not None and inp.items.price is not None:
        prices = catalog(spark, inp.items).select(F.col("item_id").alias("_i"), F.col("price").alias("_p"))
        rows = (rows.join(F.broadcast(prices), rows["item_id"] == prices["_i"], "left")
                .withColumn("price", F.coalesce("price", "_p")).drop("_i", "_p"))
    return rows


def _join_events(spark: SparkSession, conf: Config, imp: ImpressionsConf, rows: DataFrame) -> DataFrame:
    """User, session, time and query from the first event whose `join_column` holds the request
    id; an item is clicked when a click event of the request names it (unless mapped)."""
    src = conf.require_input().sources[0]
    events = canonical(read_raw(spark, src, "input.sources[0]"), src, "input.sources[0]", keep=imp.join_column)
    first = F.min(F.struct("ts", "user_id", "session_id", "query"))
    by_request = (events.where(F.col("_keep").isNotNull() & F.col("ts").isNotNull()).groupBy("_keep")
                  .agg(first.alias("_first"),
                       F.collect_set(F.when(F.col("event_type") == "click", F.col("item_id"))).alias("_clicks")))
    joined = rows.join(by_request, rows["request_id"] == by_request["_keep"], "left")
    fill = {n: F.coalesce(F.col(n), F.col(f"_first.{n}")) for n in ("ts", "user_id", "session_id", "query")}
    clicked = F.coalesce(F.col("clicked"), F.array_contains(F.coalesce("_clicks", F.array()), F.col("item_id")))
    # A click event on an item the request did not show: the clicked item absent from its list.
    missing = F.filter(F.coalesce("_clicks", F.array().cast("array<string>")),
                       lambda x: ~F.array_contains(F.col("_listed"), x))
    return (joined.withColumns({**fill, "clicked": clicked})
            .withColumn("_listed", F.collect_set("item_id").over(Window.partitionBy("request_id")))
            .withColumn("_clicked_item", F.coalesce("_clicked_item", F.try_element_at(missing, F.lit(1))))
            .drop("_keep", "_first", "_clicks", "_listed"))


def _reasons(rows: DataFrame, max_list_length: int) -> DataFrame:
    """`rows` with REASON: the first problem of the row's request (null when none)."""
    req = Window.partitionBy("request_id")
    at = Window.partitionBy("request_id", "position")
    listed = F.max(F.when(F.col("item_id") == F.col("_clicked_item"), 1).otherwise(0)).over(req) == 1
    row_reason = (F.when(F.col("user_id").isNull(), "null user_id and session_id")
                  .when(F.col("user_id").startswith(SYNTHETIC_PREFIX),
                        F.lit(f"user_id or session_id starts with '{SYNTHETIC_PREFIX}', reserved for synthetic ids"))
                  .when(F.col("ts").isNull(), "null or unparsable timestamp (or no event matched join_column)")
                  .when(F.col("surface").isNull(), "unknown surface; map it in surface_values")
                  .when(F.col("_empty"), "empty list")
                  .when(F.col("item_id").isNull(), "null item_id in the list")
                  .when(F.col("position").isNull() | (F.col("position") < 1), "null or non-positive position"))
    request_reason = (F.when(F.count(F.lit(1)).over(req) > max_list_length,
                             F.lit(f"list longer than input.max_list_length = {max_list_length}"))
                      .when(F.max("_at").over(req) > 1, "duplicate positions")
                      .when(F.col("_clicked_item").isNotNull() & ~listed, "clicked item absent from its list"))
    marked = rows.withColumn("_row_reason", row_reason).withColumn("_at", F.count(F.lit(1)).over(at))
    first_row = F.min(F.col("_row_reason")).over(req)  # a request is refused whole, for one of its rows' reasons
    return marked.withColumn(REASON, F.coalesce(first_row, request_reason)).drop("_row_reason", "_at")


def ingest_impressions(spark: SparkSession, conf: Config, test_from: str | None = None) -> dict | None:
    """Read `input.impressions` into `<output>/ingest/impressions`, the requests of days from
    `test_from` on into `.../impressions_test`, bad requests into `.../impressions_quarantine`.
    None when the conf has no impressions."""
    inp = conf.require_input()
    imp = inp.impressions
    if imp is None:
        return None
    rows = _reasons(_rows(spark, conf, imp), inp.max_list_length).persist()
    run = {"operation": "ingest", "seed": conf.seed, "table": "impressions"}
    try:
        ok = rows.where(F.col(REASON).isNull()).select(*NAMES).withColumn("date", F.to_date("ts"))
        test = ok.where(F.col("date") >= F.lit(test_from)) if test_from else None
        train = ok.where(F.col("date") < F.lit(test_from)) if test_from else ok
        for frame, name in ((train, "impressions"), (test, "impressions_test")):
            if frame is not None:
                write_table(frame, conf.layout.ingest.at(name), mode="overwrite", partition_by=["date"],
                            commit_info=run, overwrite_schema=True)
        write_table(rows.where(F.col(REASON).isNotNull()).select(*NAMES, F.col(REASON).alias("reason")),
                    conf.layout.ingest.impressions_quarantine, mode="overwrite", commit_info=run,
                    overwrite_schema=True)
        counts = rows.groupBy(REASON).agg(F.countDistinct("request_id").alias("requests"),
                                          F.count(F.lit(1)).alias("rows")).collect()
    finally:
        rows.unpersist()
    reasons = {r[REASON]: r["requests"] for r in counts if r[REASON] is not None}
    accepted = next((r for r in counts if r[REASON] is None), None)
    if accepted is None:
        raise InputError(f"{WHERE}: no impressions accepted; quarantined requests by reason {reasons} "
                         f"(in {conf.layout.ingest.impressions_quarantine}). Check the column mapping")
    summary = {"requests_read": sum(r["requests"] for r in counts), "requests": accepted["requests"],
               "rows": accepted["rows"], "requests_quarantined": sum(reasons.values()),
               "quarantine_reasons": reasons, "path": conf.layout.ingest.impressions,
               "quarantine_path": conf.layout.ingest.impressions_quarantine}
    if test is not None:
        summary["test_path"] = conf.layout.ingest.impressions_test
    return summary
