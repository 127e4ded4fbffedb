"""Reading and writing Delta tables, with lineage in table properties and commit metadata."""
from __future__ import annotations

import json
import os
import time

from pyspark.sql import DataFrame, SparkSession

CONFLICT_RETRIES = 5


def is_delta(spark: SparkSession, path: str) -> bool:
    from delta.tables import DeltaTable

    return DeltaTable.isDeltaTable(spark, path)


def write_table(df: DataFrame, path: str, *, mode: str, partition_by: list[str] | None = None,
                replace_where: str | None = None, properties: dict[str, str] | None = None,
                commit_info: dict | None = None, overwrite_schema: bool = False) -> None:
    """Write `df` to the Delta table at `path` in one atomic commit.

    Every write of this project is idempotent, so a commit that loses a race with a
    concurrent writer is retried (a few times) against the new table version.

    Args:
        mode: "overwrite" or "append". With `replace_where` and an existing table, an
            overwrite replaces only the rows matching that predicate (how a rerun
            replaces exactly its own run and leaves other runs alone).
        properties: table properties set after the write (for example lineage).
        commit_info: recorded as the commit's `userMetadata` (JSON).
        overwrite_schema: for derived tables rebuilt whole on each run (ingest, stats);
            published tables keep their schema enforced.
    """
    def save() -> None:
        writer = df.write.format("delta").mode(mode)
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        if replace_where and is_delta(df.sparkSession, path):
            writer = writer.option("replaceWhere", replace_where)
        if overwrite_schema:
            writer = writer.option("overwriteSchema", "true")
        if commit_info:
            writer = writer.option("userMetadata", json.dumps(commit_info, sort_keys=True, default=str))
        writer.save(path)

    _retrying(save)
    if properties:
        pairs = ", ".join(f"'{k}' = '{_quote(v)}'" for k, v in sorted(properties.items()))
        _retrying(lambda: df.sparkSession.sql(f"ALTER TABLE delta.`{sql_path(path)}` SET TBLPROPERTIES ({pairs})"))


def _retrying(commit) -> None:
    for attempt in range(1, CONFLICT_RETRIES + 1):
        try:
            commit()
            return
        except Exception as e:  # noqa: BLE001 - only commit conflicts are retried
            if attempt == CONFLICT_RETRIES or not is_conflict(e):
                raise
            time.sleep(attempt)


def is_conflict(e: Exception) -> bool:
    """True for a Delta commit conflict with a concurrent writer (safe to retry)."""
    from delta.exceptions import DeltaConcurrentModificationException

    text = f"{type(e).__name__}: {e}"
    return isinstance(e, DeltaConcurrentModificationException) or any(
        marker in text for marker in ("Concurrent", "DELTA_CONCURRENT", "ProtocolChanged",
                                      "MetadataChanged", "DELTA_PROTOCOL_CHANGED", "DELTA_METADATA_CHANGED"))


def sql_path(path: str) -> str:
    """SQL `delta.`path`` needs an absolute path or a URI."""
    return path if ":" in path.split("/")[0] else os.path.abspath(path)


def _quote(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("'", "\\'")


def table_version(spark: SparkSession, path: str) -> int:
    from delta.tables import DeltaTable

    return int(DeltaTable.forPath(spark, path).history(1).collect()[0]["version"])


def commit_of(spark: SparkSession, path: str, commit_info: dict, look_back: int = 20) -> dict:
    """The latest commit written with `commit_info` as its metadata: version and operation metrics."""
    from delta.tables import DeltaTable

    meta = json.dumps(commit_info, sort_keys=True, default=str)
    for r in DeltaTable.forPath(spark, path).history(look_back).collect():
        if r["userMetadata"] == meta:
            return {"version": int(r["version"]), "metrics": dict(r["operationMetrics"] or {})}
    raise LookupError(f"no commit with metadata {meta} among the last {look_back} of {path}")


def table_properties(spark: SparkSession, path: str) -> dict[str, str]:
    rows = spark.sql(f"SHOW TBLPROPERTIES delta.`{sql_path(path)}`").collect()
    return {r["key"]: r["value"] for r in rows}
