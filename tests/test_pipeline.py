"""The whole pipeline on a small simulated log, and on each shared log."""
import json
import os
from datetime import date

import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from synthlib.config import ConfigError, SegmentConf, load_config
from synthlib.data.simulate import simulate
from synthlib.delta_io import table_properties
from synthlib.generate import generate
from synthlib.pipeline import run_pipeline
from tests.helpers import checksum, needs_data


@pytest.fixture(scope="module")
def demo(spark, tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    path = out / "demo.yaml"
    path.write_text(f"seed: 3\noutput: {out / 'out'}\nsimulate: {{events: 4000, partitions: 3}}\n"
                    "train: {model: stats}\ngenerate: {partitions: 4, block_users: 16}\n")
    conf = load_config(str(path))
    return conf, run_pipeline(spark, conf)


def test_pipeline_writes_every_artifact(spark, demo):
    conf, steps = demo
    table = DeltaTable.forPath(spark, conf.layout.tables.events)
    events = table.toDF()
    assert events.count() == steps["generate"]["events"] > 1000
    assert spark.sql(f"DESCRIBE DETAIL delta.`{conf.layout.tables.events}`").first()["partitionColumns"] == ["date"]
    for f in (conf.layout.stats.summary, conf.layout.model.spec, conf.layout.eval.metrics_json, conf.layout.eval.report):
        assert os.path.exists(f), f
    result = json.load(open(conf.layout.eval.metrics_json))
    metrics = result["runs"][steps["generate"]["run_id"]]["metrics"]
    assert {"item_popularity_tv", "session_length_ks", "event_mix_tv", "hour_of_day_tv", "copy_share"} <= set(metrics)
    assert result["utility"] is None and "evaluate.holdout" in result["skipped"][0]  # no test split here
    # The stats baseline reproduces the simple marginals of its input closely.
    assert metrics["event_mix_tv"] < 0.1 and metrics["session_length_ks"] < 0.1
    assert "<svg" in open(conf.layout.eval.report).read()
    assert table_properties(spark, conf.simulated_path)["synthlib.simulated"] == "true"


def test_devices_are_generated_per_session_at_the_real_rates(spark, demo):
    conf, _ = demo
    share = lambda df: {r["device"]: r["count"] / df.count() for r in df.groupBy("device").count().collect()}  # noqa: E731
    real = share(spark.read.format("delta").load(conf.layout.ingest.events))
    synthetic_events = spark.read.format("delta").load(conf.layout.tables.events)
    synthetic = share(synthetic_events)
    assert set(synthetic) == set(real) and len(real) > 1
    assert all(abs(synthetic[d] - real[d]) < 0.1 for d in real), (real, synthetic)
    assert synthetic_events.groupBy("session_id").agg(F.countDistinct("device").alias("n")).where("n > 1").count() == 0


def test_simulated_catalog_matches_the_log_and_reaches_ingest(spark, demo):
    conf, _ = demo
    items = spark.read.format("delta").load(conf.simulated_items_path)
    assert items.count() == 40 * 250 and items.where("title IS NULL").count() == 0
    assert all(r["title"].startswith(r["brand"] + " ") for r in items.limit(200).collect())
    events = spark.read.format("delta").load(conf.simulated_path)
    attrs = items.select("item_id", F.col("category").alias("c"), F.col("price").alias("p"))
    assert events.join(attrs, "item_id").where("category <> c OR price <> p").count() == 0
    assert events.join(attrs, "item_id", "left_anti").where("item_id IS NOT NULL").count() == 0
    real = spark.read.format("delta").load(conf.layout.ingest.items)
    assert real.exceptAll(items.select(*real.columns)).count() == 0 and real.count() == items.count()


def test_commit_records_lineage(spark, demo):
    conf, steps = demo
    history = DeltaTable.forPath(spark, conf.layout.tables.events).history()
    meta = [json.loads(r["userMetadata"]) for r in history.collect() if r["userMetadata"]]
    run = next(m for m in meta if m.get("operation") == "generate")
    assert run["run_id"] == steps["generate"]["run_id"] and run["seed"] == 3
    assert run["model"] == "stats" and run["model_version"] and run["source_version"] is not None
    assert run["stats_version"] is not None
    props = table_properties(spark, conf.layout.tables.events)
    assert json.loads(props[f"synthlib.run.{run['run_id']}"])["seed"] == 3


def test_synthetic_ids_never_equal_real_ones(spark, demo):
    conf, _ = demo
    real = spark.read.format("delta").load(conf.layout.ingest.events).select("user_id", "session_id")
    synthetic = spark.read.format("delta").load(conf.layout.tables.events).select("user_id", "session_id")
    assert synthetic.join(real.select("user_id"), "user_id").count() == 0
    assert synthetic.join(real.select("session_id"), "session_id").count() == 0


def _row_digest(rows) -> tuple[int, int]:
    """(count, order-independent checksum) of rows given as tuples of plain values."""
    import hashlib

    total = sum(int.from_bytes(hashlib.sha256(repr(tuple(r)).encode()).digest()[:8], "little") for r in rows)
    return len(rows), total % 2**64


def test_lake_readers_without_spark_get_the_same_rows(spark, demo):
    """delta-rs and Polars, as data-lake consumers read the table, see Spark's rows."""
    import polars as pl
    from deltalake import DeltaTable as LakeTable

    conf, steps = demo
    path = conf.layout.tables.events
    columns = [c for c in spark.read.format("delta").load(path).columns if c not in ("ts", "date")]
    spark_rows = (spark.read.format("delta").load(path)
                  .select(*columns, F.unix_micros("ts").alias("ts"), F.col("date").cast("string").alias("date"))
                  .collect())
    lake = pl.read_delta(path)
    polars_rows = lake.select(*columns, pl.col("ts").dt.epoch("us"), pl.col("date").cast(pl.Utf8)).rows()
    assert _row_digest(polars_rows) == _row_digest([tuple(r) for r in spark_rows])
    assert len(polars_rows) == steps["generate"]["events"]
    # A recommender-training read: one run and one date, pushed down to the files.
    run, first = steps["generate"]["run_id"], min(r["date"] for r in spark_rows)
    one_day = pl.scan_delta(path).filter((pl.col("run_id") == run) & (pl.col("date") == date.fromisoformat(first)))
    assert one_day.collect().height == sum(1 for r in spark_rows if r["date"] == first and r["run_id"] == run) > 0
    assert LakeTable(path).metadata().partition_columns == ["date"]


def _with(conf, **generate):
    return conf.model_copy(update={"generate": conf.generate.model_copy(update=generate)})


@pytest.mark.slow
def test_generation_independent_of_partitioning_and_rerun_idempotent(spark, demo):
    conf, steps = demo
    path = conf.layout.tables.events
    first = checksum(spark.read.format("delta").load(path).drop("run_id"))
    for partitions in (1, 3, 8):  # each a rerun of the same run id: it replaces that run
        result = generate(spark, _with(conf, partitions=partitions))
        assert checksum(spark.read.format("delta").load(path).drop("run_id")) == first
        assert result["events"] == steps["generate"]["events"]
    other = conf.model_copy(update={"seed": 4, "generate": conf.generate.model_copy(update={"run_id": "other"})})
    generate(spark, other)  # a new run id appends
    table = spark.read.format("delta").load(path)
    assert {r["run_id"]: r["count"] for r in table.groupBy("run_id").count().collect()} == {
        steps["generate"]["run_id"]: steps["generate"]["events"], "other": table.where("run_id = 'other'").count()}
    assert checksum(table.where("run_id = 'other'").drop("run_id")) != first
    generate(spark, other)  # rerunning it leaves one copy
    assert spark.read.format("delta").load(path).where("run_id = 'other'").count() == \
        table.where("run_id = 'other'").count()
    spark.sql(f"DELETE FROM delta.`{path}` WHERE run_id = 'other'")


@pytest.mark.slow
def test_counts_and_conditions(spark, demo):
    conf, _ = demo
    events = generate(spark, _with(conf, events=20_000, run_id="events"))
    assert abs(events["events"] - 20_000) < 2_000 and events["expected_events"] == pytest.approx(20_000, rel=0.01)
    table = spark.read.format("delta").load(conf.layout.tables.events)
    top = table.where("run_id = 'events'").groupBy("category").count().orderBy(F.desc("count")).first()["category"]
    run = generate(spark, _with(conf, users=200, run_id="mix", category_mix={top: 1.0},
                                start=date(2030, 1, 1), end=date(2030, 1, 3), segment=SegmentConf(min_sessions=2)))
    mix = spark.read.format("delta").load(conf.layout.tables.events).where("run_id = 'mix'")
    assert {r["category"] for r in mix.select("category").distinct().collect()} == {top}  # stay rate is ~1 here
    # Every user drew at least 2 sessions; only a session left out as a copy of a real one
    # (the copy rule comes after the segment) can take a user below.
    below = mix.groupBy("user_id").agg(F.countDistinct("session_id").alias("n")).where("n < 2").count()
    assert below <= run["copies_dropped"]["sessions"]
    days = {r["date"] for r in mix.select("date").distinct().collect()}
    assert min(days) == date(2030, 1, 1) and max(days) <= date(2030, 1, 4)
    spark.sql(f"DELETE FROM delta.`{conf.layout.tables.events}` WHERE run_id IN ('events', 'mix')")


def test_conditions_the_model_cannot_meet_are_config_errors(spark, demo):
    conf, _ = demo
    with pytest.raises(ConfigError, match="category_mix.*not categories"):
        generate(spark, _with(conf, category_mix={"no such category": 1.0}, run_id="bad"))
    with pytest.raises(ConfigError, match="no real user has between 900 and 1000 sessions"):
        generate(spark, _with(conf, segment=SegmentConf(min_sessions=900, max_sessions=1000), run_id="bad"))


@pytest.mark.slow
def test_augmentation_draws_sparse_users_and_more_tail_items(spark, demo):
    conf, _ = demo
    path = conf.layout.tables.events
    generate(spark, _with(conf, users=400, run_id="plain"))
    generate(spark, _with(conf, users=400, run_id="augment", augment=True))
    table = spark.read.format("delta").load(path)
    per_user = table.where("run_id = 'augment'").groupBy("user_id").agg(F.countDistinct("session_id").alias("n"))
    assert per_user.agg(F.max("n")).first()[0] <= 2

    def top_share(run):
        counts = [r["count"] for r in table.where(f"run_id = '{run}' AND item_id IS NOT NULL")
                  .groupBy("item_id").count().orderBy(F.desc("count")).collect()]
        return sum(counts[:len(counts) // 100 + 1]) / sum(counts)

    assert top_share("augment") < top_share("plain")
    spark.sql(f"DELETE FROM delta.`{path}` WHERE run_id IN ('plain', 'augment')")


@pytest.mark.slow
def test_optimize_compacts_without_changing_the_content(spark, demo):
    conf, steps = demo
    path = conf.layout.tables.events
    before = checksum(spark.read.format("delta").load(path))
    files = spark.sql(f"DESCRIBE DETAIL delta.`{path}`").first()["numFiles"]
    generate(spark, _with(conf, optimize=True, zorder_by=["user_id"], partitions=8))
    ops = [r["operation"] for r in DeltaTable.forPath(spark, path).history(2).collect()]
    assert ops[0] == "OPTIMIZE" and checksum(spark.read.format("delta").load(path)) == before
    assert spark.sql(f"DESCRIBE DETAIL delta.`{path}`").first()["numFiles"] <= files


def test_simulation_independent_of_partitioning(spark, demo, tmp_path):
    conf, _ = demo
    again = conf.model_copy(update={"simulate": conf.simulate.model_copy(
        update={"partitions": 1, "path": str(tmp_path / "sim")})})
    simulate(spark, again)
    assert checksum(spark.read.format("delta").load(again.simulated_path)) == \
        checksum(spark.read.format("delta").load(conf.simulated_path))


@pytest.mark.slow
@pytest.mark.parametrize("name", [
    pytest.param("taobao", marks=needs_data("taobao_userbehavior")),
    pytest.param("yoochoose", marks=needs_data("yoochoose_rsc15")),
    pytest.param("diginetica", marks=needs_data("diginetica")),
    pytest.param("otto", marks=needs_data("otto")),
])
def test_shared_logs_end_to_end(shared_log_run, name):
    # Every stage on the whole log (conftest.shared_log_run; the ingest tests read the same run).
    conf, steps = shared_log_run(name)
    assert steps["generate"]["events"] > 0 and steps["evaluate"]["runs"]
    assert os.path.exists(steps["evaluate"]["report_path"])
