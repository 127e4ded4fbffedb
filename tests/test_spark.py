"""The session factory: a session built elsewhere (spark-submit, Databricks) is tuned, not rebuilt."""
import synthlib.spark
from synthlib.config import SparkConf
from synthlib.spark import get_spark

SNAPSHOT = "spark.databricks.delta.snapshotPartitions"  # set when the tests' session started
BROADCAST = "spark.sql.autoBroadcastJoinThreshold"  # not set then
PARTITIONS = "spark.sql.shuffle.partitions"


def test_an_active_session_takes_the_products_tuning_and_the_confs_settings(spark, monkeypatch, capsys):
    before = {k: spark.conf.get(k) for k in (SNAPSHOT, BROADCAST, PARTITIONS)}
    monkeypatch.setattr(synthlib.spark, "_tuning", lambda parallelism: {SNAPSHOT: "99", BROADCAST: str(parallelism)})
    try:
        got = get_spark(SparkConf(conf={PARTITIONS: "3", "spark.executor.cores": "7"}))
        assert got is spark
        assert spark.conf.get(PARTITIONS) == "3"  # the conf's runtime setting, applied
        assert spark.conf.get(BROADCAST) == str(spark.sparkContext.defaultParallelism)  # tuned from the cluster
        assert spark.conf.get(SNAPSHOT) == before[SNAPSHOT]  # the launch's own choice is kept
        assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
        # A setting fixed at start cannot reach a running session: said, with the way to pass it.
        err = capsys.readouterr().err
        assert "spark.executor.cores" in err and "spark-submit --conf" in err
    finally:
        for key, value in before.items():
            spark.conf.set(key, value)
