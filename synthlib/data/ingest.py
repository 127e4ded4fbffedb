"""Ingest: read any click log (`synthlib.data.sources`), validate, sessionize, hold out.

Schema-level problems (a missing path or column, a column of the wrong kind) stop with an
`InputError` naming the column and the fix. Row-level problems go to a quarantine table
with a reason; accepted plus quarantined rows always equal the rows read.
"""
from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta, timezone

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from synthlib.config import Config, InputConf, ItemsConf, SourceConf
from synthlib.data.scrub import scrub_column
from synthlib.delta_io import write_table
from synthlib.data.sources import InputError, canonical, catalog, read_raw, unreadable_file, unreadable_reason
from synthlib.dp.bound import bound_contributions
from synthlib.schema import COLUMN_NAMES, SYNTHETIC_PREFIX

EARLIEST = datetime(1990, 1, 1, tzinfo=timezone.utc)
REASON = "_reason"


def _reason(inp: InputConf) -> Column:
    lo = datetime.combine(inp.start, datetime.min.time(), timezone.utc) if inp.start else EARLIEST
    hi = (datetime.combine(inp.end, datetime.min.time(), timezone.utc) + timedelta(days=1) if inp.end
          else datetime.now(timezone.utc) + timedelta(days=1))  # no events from the future
    return (F.when(F.col("user_id").isNull() & F.col("session_id").isNull(), "null user_id and session_id")
            .when(F.col("user_id").startswith(SYNTHETIC_PREFIX) | F.col("session_id").startswith(SYNTHETIC_PREFIX),
                  F.lit(f"user_id or session_id starts with '{SYNTHETIC_PREFIX}', reserved for synthetic ids"))
            .when(F.col("ts").isNull() & F.col("_header_like"),
                  "looks like a header line (column names as values); set options.header: \"true\" for its source")
            .when(F.col("ts").isNull(), "null or unparsable timestamp")
            .when((F.col("ts") < F.lit(lo)) | (F.col("ts") >= F.lit(hi)),
                  F.lit(f"timestamp outside [{lo.date()}, {hi.date()}); check timestamp.format"))
            .when(F.col("event_type").isNull(),
                  "unknown event type; map it in event_values")
            .when(F.col("item_id").isNull() & (F.col("event_type") != "search"), "null item_id")
            .when(F.length("query") > inp.max_query_chars,
                  F.lit(f"query longer than {inp.max_query_chars} characters")))


def _mark_duplicates(df: DataFrame) -> DataFrame:
    """Quarantine every copy of an event after the first (same values in every column and
    the same order value, where an order column is mapped)."""
    w = Window.partitionBy(*COLUMN_NAMES, "_order").orderBy("_source")
    dup = F.when(F.col(REASON).isNull() & (F.row_number().over(w) > 1), "duplicate event")
    return df.withColumn(REASON, F.coalesce(F.col(REASON), dup))


def order_ties(df: DataFrame) -> DataFrame:
    """Events of one user at the same timestamp, put in the order of the mapped order column:
    the k-th of them moves k - 1 microseconds later, so that every stage's time order (and the
    millisecond gaps) keep it."""
    w = Window.partitionBy("user_id", "session_id", "ts").orderBy(F.col("_order").asc_nulls_last(), "event_type",
                                                                  "item_id")
    return df.withColumn("ts", F.timestamp_micros(F.unix_micros("ts") + F.row_number().over(w) - 1))


def sessionize(df: DataFrame, gap_minutes: float) -> DataFrame:
    """Fill missing session ids: a user's new session starts after a gap > `gap_minutes`."""
    w = Window.partitionBy("user_id").orderBy("ts", "event_type", "item_id")
    gap = F.unix_millis("ts") - F.lag(F.unix_millis("ts")).over(w)
    new = F.when(gap.isNull() | (gap > gap_minutes * 60_000), 1).otherwise(0)
    number = F.sum(new).over(w.rowsBetween(Window.unboundedPreceding, 0))
    with_ids = (df.where(F.col("session_id").isNull())
                .withColumn("session_id", F.concat("user_id", F.lit("#"), number.cast("string"))))
    return df.where(F.col("session_id").isNotNull()).unionByName(with_ids)


def _join_items(df: DataFrame, table: DataFrame, items: ItemsConf) -> DataFrame:
    """Category and price from the item table where the event has none."""
    table = table.select(*[F.col(n).alias(f"_i_{n}") for n in ("item_id", "category", "price")])
    joined = df.join(table, df["item_id"] == table["_i_item_id"], "left")
    for name in ("category", "price"):
        if getattr(items, name):
            joined = joined.withColumn(name, F.coalesce(name, f"_i_{name}"))
    return joined.select(*df.columns)


def _read_sources(spark: SparkSession, sources: list[SourceConf], key: str) -> DataFrame:
    frames = []
    for i, src in enumerate(sources):
        where = f"{key}[{i}]"
        frame = canonical(read_raw(spark, src, where), src, where)
        if src.only_known_sessions and frames:
            known = frames[0].select("session_id").where(F.col("session_id").isNotNull()).distinct()
            frame = frame.join(known, "session_id", "left_semi")
        frames.append(frame)
    df = frames[0]
    for f in frames[1:]:
        df = df.unionByName(f)
    return df


def remove_uncommitted(path: str) -> None:
    """Remove a local table folder that a failed first write left without any commit."""
    log = os.path.join(path, "_delta_log")
    if "://" in path or not os.path.isdir(log):
        return
    if not any(name.endswith(".json") for name in os.listdir(log)):
        shutil.rmtree(path)


def split_holdout(df: DataFrame, days: int) -> tuple[DataFrame, DataFrame | None, str | None]:
    """(train, test, first test date): sessions that start in the last `days` days are the test
    (no test for an empty log).

    The last day is the latest one with at least a tenth of the median day's events, so that
    a few stray late events do not make a test day of their own.
    """
    per_day = sorted((r[0], r[1]) for r in df.groupBy(F.to_date("ts")).count().collect())
    if not per_day:
        return df, None, None
    typical = sorted(n for _, n in per_day)[len(per_day) // 2]
    last = max(day for day, n in per_day if n >= typical / 10)
    cutoff = (last - timedelta(days=days - 1)).isoformat()
    start = F.to_date(F.min("ts").over(Window.partitionBy("session_id")))
    marked = df.withColumn("_test", start >= F.lit(cutoff))
    pick = lambda test: marked.where(F.col("_test") == test).drop("_test")  # noqa: E731
    return pick(False), pick(True), cutoff


def ingest(spark: SparkSession, conf: Config) -> dict:
    """Read the configured log into `<output>/ingest/events`; bad rows to `.../quarantine`.

    With `evaluate.holdout`, the real test split goes to `<output>/ingest/test` instead:
    the sessions of the log's last days, or the configured test files.

    Personal data in query strings (e-mail addresses, phone and card numbers, links with
    tokens) is replaced by a placeholder before anything is written (`synthlib.data.scrub`).

    Returns:
        The run summary: rows read, accepted, quarantined (by reason), queries scrubbed (by
        kind) and the table paths.
    """
    inp = conf.require_input()
    holdout = conf.evaluate.holdout
    df = _read_sources(spark, inp.sources, "input.sources").withColumn("_held", F.lit(False))
    if holdout and holdout.sources:
        test = _read_sources(spark, holdout.sources, "evaluate.holdout.sources")
        df = df.unionByName(test.withColumn("_held", F.lit(True)))
    items = catalog(spark, inp.items) if inp.items else None
    if items is not None:
        df = _join_items(df, items, inp.items)
    keeps_catalog = items is not None and inp.items.title is not None  # what train.titles learns from
    df = df.withColumn(REASON, _reason(inp))
    query, pii = scrub_column("query")
    df = df.withColumns({f"_pii_{kind}": flag for kind, flag in pii.items()}).withColumn("query", query)
    if inp.drop_duplicates:
        df = _mark_duplicates(df)
    df = df.persist(StorageLevel.MEMORY_AND_DISK)
    run = {"operation": "ingest", "seed": conf.seed}
    try:
        quarantine = (df.where(F.col(REASON).isNotNull())
                      .withColumn("event_type", F.coalesce("event_type", "_raw_type"))
                      .select(*COLUMN_NAMES, F.col(REASON).alias("reason"), F.col("_source").alias("source")))
        ok = df.where(F.col(REASON).isNull())
        if any(src.columns.order for src in inp.sources + (holdout.sources if holdout else [])):
            ok = order_ties(ok)
        sessions = lambda held: sessionize(ok.where(F.col("_held") == held).select(*COLUMN_NAMES),  # noqa: E731
                                           inp.session_gap_minutes)
        accepted, test, cutoff = sessions(False), None, None
        if holdout and holdout.sources:
            test = sessions(True)
        elif holdout:
            accepted, test, cutoff = split_holdout(accepted, holdout.days)
        unbounded = None
        if conf.train.dp:  # once, here: every statistic and the training sample read the bounded log
            unbounded = accepted.count()  # from the cached rows, for the record below
            accepted = bound_contributions(accepted, conf.train.dp, conf.seed)
        for frame, name in ((accepted, "events"), (test, "test")):
            if frame is not None:
                write_table(frame.withColumn("date", F.to_date("ts")), conf.layout.ingest.at(name),
                            mode="overwrite", partition_by=["date"], commit_info=run, overwrite_schema=True)
        write_table(quarantine, conf.layout.ingest.quarantine, mode="overwrite", commit_info=run,
                    overwrite_schema=True)
        if keeps_catalog:
            write_table(items, conf.layout.ingest.items, mode="overwrite", commit_info=run, overwrite_schema=True)
        read = df.agg(F.count(F.lit(1)).alias("rows"),
                      *[F.sum(F.col(f"_pii_{kind}").cast("long")).alias(kind) for kind in pii]).first()
        rows_read = read["rows"]
    except Exception as e:  # noqa: BLE001 - a file Spark cannot read is the input's problem: say which
        bad_file = unreadable_file(e)
        if bad_file is None:
            raise
        for name in ("events", "test", "quarantine", "items"):
            remove_uncommitted(conf.layout.ingest.at(name))
        raise InputError(f"cannot read '{bad_file}': {unreadable_reason(e)}. Replace or remove the file "
                         "(nothing was written)") from None
    finally:
        df.unpersist()
    events = spark.read.format("delta").load(conf.layout.ingest.events)
    reasons = {r["reason"]: r["count"] for r in spark.read.format("delta")
               .load(conf.layout.ingest.quarantine).groupBy("reason").count().collect()}
    accepted_rows = events.count()
    held = None
    if test is not None:  # written above
        test = spark.read.format("delta").load(conf.layout.ingest.test)
        row = test.agg(F.count(F.lit(1)).alias("events"), F.countDistinct("session_id").alias("sessions")).first()
        held = {"path": conf.layout.ingest.test, "events": row["events"], "sessions": row["sessions"],
                "first_date": cutoff}
    if accepted_rows == 0 and held and held["events"] and holdout.days:
        raise InputError(f"the holdout took every session ({held['events']} events from {cutoff}); "
                         "lower evaluate.holdout.days so that earlier days remain for training")
    if accepted_rows == 0:
        raise InputError(f"no events accepted: {rows_read} rows read, quarantined by reason {reasons}. "
                         f"Check the column mapping and timestamp.format in 'input' "
                         f"(the refused rows are in {conf.layout.ingest.quarantine})")
    summary = {"rows_read": rows_read, "accepted": accepted_rows + (held["events"] if held else 0),
               "quarantined": sum(reasons.values()), "quarantine_reasons": reasons,
               "scrubbed_queries": {kind: int(read[kind] or 0) for kind in pii},
               "events_path": conf.layout.ingest.events,
               "quarantine_path": conf.layout.ingest.quarantine}
    if keeps_catalog:
        summary["items_path"] = conf.layout.ingest.items
    if conf.train.dp:
        dp = conf.train.dp
        summary["dp_bounds"] = {"max_sessions": dp.max_sessions, "max_events": dp.max_events,
                                "events_left_out": unbounded - accepted_rows}
    if held:
        summary["holdout"] = held
    return summary
