"""The session factory: the only place that creates a SparkSession."""
from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession

from synthlib.config import SparkConf

DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}


def _managed_elsewhere() -> bool:
    """True on Databricks and under spark-submit, which configure master and Delta."""
    return "DATABRICKS_RUNTIME_VERSION" in os.environ or "PYSPARK_GATEWAY_PORT" in os.environ


def get_spark(conf: SparkConf | None = None) -> SparkSession:
    """Return the session to run on.

    An active session (a notebook, a Databricks job, spark-submit) is taken as it is.
    Otherwise a local one is built with Delta configured (JARs resolved from Maven at
    first start, then cached by Ivy) and Python workers on the running interpreter.
    """
    conf = conf or SparkConf()
    active = SparkSession.getActiveSession()
    if active is None and _managed_elsewhere():
        active = SparkSession.builder.appName(conf.app_name).getOrCreate()
    if active is not None:
        active.conf.set("spark.sql.session.timeZone", "UTC")
        return active

    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    from delta import configure_spark_with_delta_pip

    builder = SparkSession.builder.master(conf.master or "local[2]").appName(conf.app_name)
    settings = {
        **DELTA_CONF,
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": "8",
        # Delta rebuilds a table's snapshot (its file list) in 50 tasks by default, sized for
        # clusters: on one machine that is most of the time of a small table's read or write.
        "spark.databricks.delta.snapshotPartitions": "8",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.memory": "4g",  # local mode: the driver is the executor too (the JVM default is 1g)
        **conf.conf,
    }
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = configure_spark_with_delta_pip(builder).getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark
