"""A real standalone cluster on loopback, injected faults and concurrent writers.

Every job but the local reference pipeline (run in the tests' own session) is submitted
with ./spark-submit.sh, as a user runs it. Tables are compared by an order-independent
checksum, so "equal" means no row lost, added or changed.
"""
import json
import os
import signal

import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from synthlib.config import load_config
from synthlib.generate import generate
from synthlib.pipeline import run_pipeline
from tests.helpers import checksum, generated_code
from tests.standalone import StandaloneCluster, data_files, submit, wait_for_new_files

pytestmark = pytest.mark.slow
USERS = "generate.users=16000"  # about 200k events: long enough to be killed mid-write


def events(spark, output, run_id=None):
    df = spark.read.format("delta").load(os.path.join(output, "tables", "events"))
    return df.where(F.col("run_id") == run_id).drop("run_id") if run_id else df


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = StandaloneCluster(str(tmp_path_factory.mktemp("cluster")), workers=2).start()
    yield c
    c.stop()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One conf, and an output folder for the pipeline run in local mode and on the cluster."""
    root = tmp_path_factory.mktemp("runs")
    conf = root / "run.yaml"
    conf.write_text("seed: 11\noutput: unused\nsimulate: {events: 6000, partitions: 4}\ntrain: {epochs: 1}\n"
                    "evaluate: {als: {iterations: 2}}\n")
    return {"conf": str(conf), "local": str(root / "local"), "cluster": str(root / "cluster")}


@pytest.fixture(scope="module")
def clean(spark, runs):
    """The faulty runs' generation, in-process and undisturbed: their reference. A run's
    content depends neither on its run id nor on where it ran (the tests above and below)."""
    with generated_code(spark):  # about 200k events
        generate(spark, load_config(runs["conf"], [f"output={runs['local']}", USERS, "generate.run_id=clean"]))
    return checksum(events(spark, runs["local"], "clean"))


def test_cluster_pipeline_equals_local(spark, cluster, runs):
    # The cluster's run (its own driver, executors and Python workers) goes on while the
    # reference runs in this session: two independent runs into their own folders.
    log = os.path.join(cluster.workdir, "pipeline.log")
    proc = submit("pipeline", runs["conf"], cluster.url, f"output={runs['cluster']}", wait=False, log=log,
                  interpreted=True)
    try:
        run_pipeline(spark, load_config(runs["conf"], [f"output={runs['local']}"]))
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    code = proc.wait(timeout=900)
    output = open(log, errors="replace").read()
    assert code == 0 and "report" in output, output[-3000:]
    for table in ("tables/events", "ingest/events", "stats/items"):
        local = spark.read.format("delta").load(os.path.join(runs["local"], table))
        remote = spark.read.format("delta").load(os.path.join(runs["cluster"], table))
        assert checksum(local) == checksum(remote), table
    metrics = [json.load(open(os.path.join(runs[m], "eval", "metrics.json")))["runs"] for m in ("local", "cluster")]
    metrics = [{(r, k): v for r, run in m.items() for k, v in run["metrics"].items()} for m in metrics]
    assert metrics[0] == pytest.approx(metrics[1], rel=1e-9)  # equal tables; float sums may differ in order


def test_worker_killed_mid_generation(spark, cluster, runs, clean):
    out = runs["cluster"]
    table = os.path.join(out, "tables", "events")
    before = data_files(table)
    proc = submit("generate", runs["conf"], cluster.url, f"output={out}", USERS, "generate.run_id=fault-worker",
                  wait=False, log=os.path.join(cluster.workdir, "fault-worker.log"))
    wait_for_new_files(table, before, proc)
    cluster.kill_worker(1)
    assert proc.wait(timeout=600) == 0, open(os.path.join(cluster.workdir, "fault-worker.log")).read()[-3000:]
    cluster.add_worker()
    cluster.wait_for_workers(2)
    assert checksum(events(spark, out, "fault-worker")) == clean


def test_driver_killed_mid_write_leaves_the_previous_version(spark, runs, clean):
    out = runs["local"]
    path = os.path.join(out, "tables", "events")
    version = DeltaTable.forPath(spark, path).history(1).first()["version"]
    before_rows = checksum(events(spark, out))
    before_files = data_files(path)
    proc = submit("generate", runs["conf"], "local[2]", f"output={out}", USERS, "generate.run_id=fault-driver",
                  wait=False)
    wait_for_new_files(path, before_files, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert DeltaTable.forPath(spark, path).history(1).first()["version"] == version
    assert checksum(events(spark, out)) == before_rows  # no partial run is visible
    rerun = submit("generate", runs["conf"], "local[2]", f"output={out}", USERS, "generate.run_id=fault-driver")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert checksum(events(spark, out, "fault-driver")) == clean


def test_concurrent_runs_both_land(spark, runs):
    out = runs["local"]
    others = checksum(events(spark, out).where(~F.col("run_id").isin("c1", "c2")))
    procs = [submit("generate", runs["conf"], "local[1]", f"output={out}", "generate.users=1000",
                    f"generate.run_id={run}", wait=False, interpreted=True) for run in ("c1", "c2")]
    assert [p.wait(timeout=600) for p in procs] == [0, 0]
    one, two = checksum(events(spark, out, "c1")), checksum(events(spark, out, "c2"))
    assert one == two and one[0] > 0  # same seed and size: the same content, each exactly once
    assert checksum(events(spark, out).where(~F.col("run_id").isin("c1", "c2"))) == others
