"""Sources: read one configured source (files or a metastore table) and map its columns to
the canonical schema.

A problem of the whole source (a missing path or column, a column of the wrong kind, a file
that cannot be read) is an `InputError` that names it and says how to fix it.
"""
from __future__ import annotations

import os
import re
from datetime import datetime

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, MapType, StructType

from synthlib.config import ItemsConf, SourceConf
from synthlib.delta_io import is_delta
from synthlib.schema import CANONICAL_COLUMNS, EVENT_TYPES


class InputError(ValueError):
    """The input cannot be read as a click log; the message names the problem and the fix."""


def read_raw(spark: SparkSession, src: SourceConf | ItemsConf, where: str) -> DataFrame:
    """Read one source as configured (path or metastore table)."""
    if src.table:
        if not spark.catalog.tableExists(src.table):
            raise InputError(f"{where}: table '{src.table}' does not exist; check '{where}.table'")
        return spark.read.table(src.table)
    path = src.path
    if "://" not in path and not os.path.exists(path):
        raise InputError(f"{where}: path '{path}' does not exist; check '{where}.path'")
    if src.format == "delta" and "://" not in path and not is_delta(spark, path):
        raise InputError(f"{where}: '{path}' is not a Delta table; set '{where}.format' to "
                         "csv, parquet or json, or point 'path' at a Delta table")
    reader = spark.read.format(src.format).options(**src.options)
    if getattr(src, "schema_ddl", None):
        reader = reader.schema(src.schema_ddl)
    return reader.load(path)


def column(df: DataFrame, name: str, key: str) -> Column:
    """The source column `name` (a scalar), or an InputError naming the conf key `key`."""
    if name not in df.columns:
        hint = ""
        if len(df.columns) == 1 and any(sep in df.columns[0] for sep in (";", "\t", ",", "|")):
            hint = " (one column only: is the separator right? set options.sep)"
        raise InputError(f"{key}: column '{name}' not found; the source has columns "
                         f"{df.columns}{hint}. Fix the mapping in '{key}'")
    if isinstance(df.schema[name].dataType, (ArrayType, MapType, StructType)):
        raise InputError(f"{key}: column '{name}' is {df.schema[name].dataType.simpleString()}, "
                         "not a scalar; map a plain column (use 'explode' for nested events)")
    return F.col(f"`{name}`")


def text(c: Column) -> Column:
    """Trimmed text with control characters turned into spaces; empty becomes null."""
    s = F.trim(F.regexp_replace(c.cast("string"), r"\p{Cntrl}", " "))
    return F.when(s == "", None).otherwise(s)


def timestamp(df: DataFrame, src: SourceConf, where: str) -> Column:
    raw = column(df, src.columns.timestamp, f"{where}.columns.timestamp")
    fmt = src.timestamp.format
    if fmt in ("unix_s", "unix_ms"):
        scale = 1000.0 if fmt == "unix_s" else 1.0
        millis = F.expr(f"try_cast(`{src.columns.timestamp}` AS double)") * F.lit(scale)
        # Beyond Spark's timestamp range (years 1..9999): clamp, so the row is quarantined
        # as out of range (typically seconds read as milliseconds or the reverse).
        ts = (F.when(millis >= 2.5e14, F.lit(datetime(9999, 12, 31)))
              .when(millis <= -6.2e13, F.lit(datetime(1, 1, 1)))
              .otherwise(F.timestamp_millis(F.round(millis).cast("long"))))
    elif fmt == "timestamp":
        ts = F.expr(f"try_cast(`{src.columns.timestamp}` AS timestamp)")
    else:
        ts = F.try_to_timestamp(raw.cast("string"), F.lit(fmt))
    if src.timestamp.offset_ms_column:
        column(df, src.timestamp.offset_ms_column, f"{where}.timestamp.offset_ms_column")
        offset = F.expr(f"try_cast(`{src.timestamp.offset_ms_column}` AS long)")
        ts = F.timestamp_millis(F.unix_millis(ts) + offset)
    return ts


def _event_type(df: DataFrame, src: SourceConf, where: str) -> tuple[Column, Column]:
    """(canonical event type or null, raw value for the quarantine reason)."""
    if src.event_type:
        return F.lit(src.event_type), F.lit(src.event_type)
    raw = text(column(df, src.columns.event_type, f"{where}.columns.event_type"))
    mapping = {**{t: t for t in EVENT_TYPES}, **src.event_values}
    mapped = F.create_map(*[F.lit(x) for kv in mapping.items() for x in kv])[raw]
    return mapped, raw


def canonical(df: DataFrame, src: SourceConf, where: str, keep: str | None = None) -> DataFrame:
    """Map one source to the canonical columns, plus the raw event value and the source name
    (and the source column `keep` as `_keep`, as text)."""
    if src.where:
        try:
            df = df.where(src.where)
            df.schema  # resolves the condition's columns now
        except Exception as e:  # noqa: BLE001 - Spark's analysis error, said in the conf's terms
            raise InputError(f"{where}.where: '{src.where}' is not a condition on the source's columns "
                             f"{df.columns}: {str(e).splitlines()[0][:200]}") from None
    if src.explode:
        if src.explode not in df.columns or not isinstance(df.schema[src.explode].dataType, ArrayType):
            raise InputError(f"{where}.explode: '{src.explode}' must be an array column of {df.columns}")
        others = [c for c in df.columns if c != src.explode]
        df = df.select(*others, F.explode(src.explode).alias("_e")).select(*others, "_e.*")
    cols = src.columns

    def mapped(source_name: str | None, typ: str, key: str) -> Column:
        if source_name is None:
            return F.lit(None).cast(typ)
        if typ == "string":
            return text(column(df, source_name, key))
        column(df, source_name, key)
        return F.expr(f"try_cast(`{source_name}` AS {typ})")

    out = {}
    for name, typ, _ in CANONICAL_COLUMNS:
        if name == "ts":
            out[name] = timestamp(df, src, where)
        elif name == "event_type":
            out[name], raw_type = _event_type(df, src, where)
        else:
            out[name] = mapped(getattr(cols, name), typ, f"{where}.columns.{name}")
    types = dict((name, typ) for name, typ, _ in CANONICAL_COLUMNS)
    for event, mapping in src.columns_by_event_type.items():
        for name, source_name in mapping.items():
            by_type = mapped(source_name, types[name], f"{where}.columns_by_event_type.{event}.{name}")
            out[name] = F.when(out["event_type"] == event, by_type).otherwise(out[name])
    # Anonymous sessions (no user id) count as their own user.
    out["user_id"] = F.coalesce(out["user_id"], out["session_id"])
    order = mapped(cols.order, "double", f"{where}.columns.order")
    kept = [text(column(df, keep, f"{where} (join_column)")).alias("_keep")] if keep else []
    df = df.select(*[c.alias(n) for n, c in out.items()], raw_type.alias("_raw_type"), order.alias("_order"),
                   _header_like(df, src).alias("_header_like"), *kept)
    return df.withColumn("_source", F.lit(src.path or src.table))


def _header_like(df: DataFrame, src: SourceConf) -> Column:
    """A CSV row read without `header: true` that holds column names: its timestamp is a word,
    or a mapped column holds its own name (with a typed schema the header's numbers are null)."""
    if src.format != "csv" or src.options.get("header", "false").lower() == "true":
        return F.lit(False)
    word = F.coalesce(F.col(f"`{src.columns.timestamp}`").cast("string").rlike(r"^[A-Za-z_][A-Za-z0-9_ .-]*$"),
                      F.lit(False))
    for name in {getattr(src.columns, k) for k in ("user_id", "session_id", "item_id", "event_type", "category")}:
        if name:
            word = word | F.coalesce(F.lower(F.trim(F.col(f"`{name}`").cast("string"))) == name.lower(), F.lit(False))
    return word


CATALOG = ("item_id", "category", "brand", "price", "title")


def catalog(spark: SparkSession, items: ItemsConf) -> DataFrame:
    """The configured item table as (item_id, category, brand, price, title), one row per
    item (of duplicate rows, the least titled one); unmapped columns are null."""
    raw = read_raw(spark, items, "input.items")

    def field(name: str) -> Column:
        src = getattr(items, name)
        if not src:
            return F.lit(None).cast("double" if name == "price" else "string")
        col = column(raw, src, f"input.items.{name}")
        return col.try_cast("double") if name == "price" else text(col)

    first = F.min(F.struct(F.isnull("title").alias("_untitled"), "title", "category", "brand", "price"))
    return (raw.select(*[field(n).alias(n) for n in CATALOG]).where(F.col("item_id").isNotNull())
            .groupBy("item_id").agg(first.alias("_a"))
            .select("item_id", *[F.col(f"_a.{n}").alias(n) for n in CATALOG[1:]]))


def unreadable_file(error: Exception) -> str | None:
    """The file named by a Spark read failure, or None for another error."""
    message = str(error)
    if "FAILED_READ_FILE" not in message:
        return None
    found = re.search(r"reading file (\S+?)\.?(\s|$)", message)
    return found.group(1).removeprefix("file://") if found else "an input file"


def unreadable_reason(error: Exception) -> str:
    """What is wrong with the file of a Spark read failure, in words."""
    message = str(error)
    for marker, reason in (("Unexpected end of input stream", "it ends early (a truncated compressed file)"),
                           ("Not in GZIP format", "it is not gzip data although its name says so"),
                           ("incorrect header check", "it is not valid compressed data"),
                           ("is not a Parquet file", "it is not a Parquet file")):
        if marker in message:
            return reason
    return message.splitlines()[0][:300]
