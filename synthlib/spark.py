"""The session factory: the only place that creates a SparkSession."""
from __future__ import annotations

import glob
import itertools
import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from typing import Callable, Iterator

from pyspark.errors import AnalysisException
from pyspark.sql import SparkSession

from synthlib.config import SparkConf

DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}
# Where set-up puts the Delta JARs, inside the Python environment: sessions then start
# without resolving packages (no Ivy run, no network).
JARS = os.path.join(sys.prefix, "share", "synthlib", "jars")
LOG4J = os.path.join(os.path.dirname(os.path.abspath(__file__)), "log4j2.properties")


def _managed_elsewhere() -> bool:
    """True on Databricks and under spark-submit, which configure master and Delta."""
    return "DATABRICKS_RUNTIME_VERSION" in os.environ or "PYSPARK_GATEWAY_PORT" in os.environ


def local_jars(folder: str = JARS) -> list[str]:
    return sorted(glob.glob(os.path.join(folder, "*.jar")))


def _with_delta(builder: SparkSession.Builder) -> SparkSession.Builder:
    jars = local_jars()
    if jars:
        return builder.config("spark.jars", ",".join(jars))
    from delta import configure_spark_with_delta_pip

    return configure_spark_with_delta_pip(builder)


def _tuning(parallelism: int) -> dict[str, str]:
    """Session settings the product runs best with, sized from the cluster's parallelism."""
    return {
        # Delta rebuilds a table's snapshot (its file list) in 50 tasks by default, sized for
        # large clusters: on a few cores that is most of the time of a small table's read or write.
        "spark.databricks.delta.snapshotPartitions": str(min(50, max(8, 2 * parallelism))),
        # Adaptive execution may coalesce a cached aggregate's shuffle partitions: else every
        # later read of the profile's cached aggregate runs spark.sql.shuffle.partitions tasks.
        "spark.sql.optimizer.canChangeCachedPlanOutputPartitioning": "true",
    }


def _adopt(spark: SparkSession, conf: SparkConf) -> None:
    """Tune a session built elsewhere (spark-submit, Databricks): UTC, the product's
    settings where its launch did not set them, and the conf's `spark.conf` entries that a
    running session accepts. The others (static) name themselves: pass them at launch."""
    launched = spark.sparkContext.getConf()
    tuning = {k: v for k, v in _tuning(spark.sparkContext.defaultParallelism).items() if not launched.contains(k)}
    for key, value in {"spark.sql.session.timeZone": "UTC", **tuning, **conf.conf}.items():
        try:
            spark.conf.set(key, value)
        except AnalysisException:  # a static or core setting: Spark refuses it once running (a bad value raises)
            if launched.get(key, None) != value:
                print(f"synthlib: spark.conf {key} is fixed when Spark starts: pass it at launch "
                      f"(spark-submit --conf {key}=..., or the cluster's Spark config)", file=sys.stderr)


def get_spark(conf: SparkConf | None = None, *, verbose: bool = False) -> SparkSession:
    """Return the session to run on.

    An active session (a notebook, a Databricks job, spark-submit) is taken and tuned
    (`_adopt`).
    Otherwise a local one is built with Delta configured (the JARs set-up placed in this
    environment, else resolved from Maven at first start and cached by Ivy) and Python
    workers on the running interpreter. Spark logs errors only, warnings too with `verbose`.
    """
    conf = conf or SparkConf()
    level = "WARN" if verbose else "ERROR"
    active = SparkSession.getActiveSession()
    if active is None and _managed_elsewhere():
        active = SparkSession.builder.appName(conf.app_name).getOrCreate()
    if active is not None:
        _adopt(active, conf)
        return active

    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    java_options = f"-Dlog4j2.configurationFile=file:{LOG4J} -Dsynthlib.log.level={level}"
    builder = SparkSession.builder.master(conf.master or "local[2]").appName(conf.app_name)
    settings = {
        **DELTA_CONF,
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": "8",
        **_tuning(2),
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.memory": "4g",  # local mode: the driver is the executor too (the JVM default is 1g)
        **conf.conf,
    }
    settings["spark.driver.extraJavaOptions"] = " ".join(
        o for o in (java_options, conf.conf.get("spark.driver.extraJavaOptions")) if o)
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = _with_delta(builder).getOrCreate()
    spark.sparkContext.setLogLevel(level)
    return spark


_groups = itertools.count()


@contextmanager
def counted_jobs(spark: SparkSession, name: str) -> Iterator[Callable[[], int]]:
    """Run the block's Spark jobs in a job group of their own; yields a function that
    returns how many jobs the group has run so far (from Spark's status tracker)."""
    sc = spark.sparkContext
    group = f"synthlib-{name}-{next(_groups)}"
    sc.setJobGroup(group, f"synthlib {name}")
    try:
        yield lambda: len(sc.statusTracker().getJobIdsForGroup(group))
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
        sc.setLocalProperty("spark.job.description", None)


def fetch_delta_jars(folder: str = JARS) -> list[str]:
    """Resolve the Delta JARs of the installed delta-spark from Maven once, into `folder`
    (set-up does this; Ivy's own output goes to this process's stderr)."""
    from delta import configure_spark_with_delta_pip

    with tempfile.TemporaryDirectory() as ivy:
        builder = SparkSession.builder.master("local[1]").config("spark.jars.ivy", ivy)
        configure_spark_with_delta_pip(builder).getOrCreate().stop()
        os.makedirs(folder, exist_ok=True)
        for old in local_jars(folder):
            os.remove(old)
        for jar in glob.glob(os.path.join(ivy, "jars", "*.jar")):
            shutil.copy(jar, folder)
    return local_jars(folder)


if __name__ == "__main__":  # `python -m synthlib.spark`: set-up's JAR step
    print("\n".join(fetch_delta_jars()))
