"""A real standalone Spark cluster on loopback (a master and N one-core workers), and
spark-submit.sh runs against it, for the reliability tests."""
from __future__ import annotations

import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pyspark

from tests.helpers import INTERPRETED as INTERPRETED_CONF, ROOT

SPARK_HOME = os.path.dirname(pyspark.__file__)
LOOPBACK_ENV = {"SPARK_LOCAL_IP": "127.0.0.1", "SPARK_HOME": SPARK_HOME,
                "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}

# Test logs are tiny: a few shuffle partitions, as in the tests' own session, instead of
# Spark's 200 tasks per shuffle, which would cost each one-core worker minutes per pipeline;
# and as few tasks per Delta snapshot instead of 50.
SMALL_DATA = ["--conf", "spark.sql.shuffle.partitions=4", "--conf", "spark.databricks.delta.snapshotPartitions=4"]
# The tests' session settings for small data (helpers.INTERPRETED), for a pipeline on a small
# log; not for the generation of many events.
INTERPRETED = [arg for key, value in INTERPRETED_CONF.items() for arg in ("--conf", f"{key}={value}")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StandaloneCluster:
    def __init__(self, workdir: str, workers: int = 2):
        self.workdir, self.n_workers = workdir, workers
        self.port, self.ui_port = free_port(), free_port()
        self.env = {**os.environ, **LOOPBACK_ENV, "SPARK_LOG_DIR": os.path.join(workdir, "logs")}
        self.master, self.workers = None, []

    @property
    def url(self) -> str:
        return f"spark://127.0.0.1:{self.port}"

    def _spawn(self, *args: str, name: str) -> subprocess.Popen:
        log = open(os.path.join(self.workdir, f"{name}.log"), "ab")
        # Own process group: killing it takes the worker's executors and Python workers too.
        return subprocess.Popen([os.path.join(SPARK_HOME, "bin", "spark-class"), *args], env=self.env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def state(self) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ui_port}/json/", timeout=5) as r:
            return json.load(r)

    def alive_workers(self) -> int:
        try:
            return sum(w["state"] == "ALIVE" for w in self.state()["workers"])
        except (OSError, ValueError):  # not up yet; while starting, the master may answer with its HTML page
            return 0

    def start(self) -> "StandaloneCluster":
        os.makedirs(os.path.join(self.workdir, "logs"), exist_ok=True)
        self.master = self._spawn("org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                                  "--port", str(self.port), "--webui-port", str(self.ui_port), name="master")
        try:
            for _ in range(self.n_workers):
                self.add_worker()
            self.wait_for_workers(self.n_workers)
        except BaseException:
            self.stop()  # no master or worker outlives a failed start
            raise
        return self

    def add_worker(self) -> None:
        i = len(self.workers)
        work = os.path.join(self.workdir, f"worker{i}")
        os.makedirs(work, exist_ok=True)
        self.workers.append(self._spawn(
            "org.apache.spark.deploy.worker.Worker", self.url, "--host", "127.0.0.1", "--cores", "1",
            "--memory", "1g", "--webui-port", str(free_port()), "--work-dir", work, name=f"worker{i}"))

    def wait_for_workers(self, n: int, timeout: float = 120) -> None:
        deadline = time.time() + timeout
        while self.alive_workers() < n:
            if time.time() > deadline:
                raise TimeoutError(f"{n} workers did not register; see {self.workdir}/*.log")
            time.sleep(1)

    def kill_worker(self, i: int) -> None:
        """Lose a machine: SIGKILL the worker, its executors and their Python workers."""
        os.killpg(self.workers[i].pid, signal.SIGKILL)
        self.workers[i].wait()

    def stop(self) -> None:
        for p in [*self.workers, self.master]:
            if p and p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def submit(command: str, conf: str, master: str, *overrides: str, wait: bool = True, log: str | None = None,
           interpreted: bool = False):
    """Run ./spark-submit.sh as a user would; returns the CompletedProcess or the Popen."""
    spark_conf = [*SMALL_DATA, *(INTERPRETED if interpreted else [])]
    args = ["./spark-submit.sh", command, "--conf", conf, "--master", master, *overrides, "--", *spark_conf]
    env = {**os.environ, **LOOPBACK_ENV}
    if wait:
        return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    out = open(log, "wb") if log else subprocess.DEVNULL
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def data_files(table: str) -> set[str]:
    return set(glob.glob(os.path.join(table, "**", "*.parquet"), recursive=True))


def wait_for_new_files(table: str, before: set[str], proc: subprocess.Popen, timeout: float = 300) -> None:
    """Block until the running job has written data files but not yet finished."""
    deadline = time.time() + timeout
    while not (data_files(table) - before):
        if proc.poll() is not None:
            raise AssertionError(f"the job ended (exit {proc.returncode}) before writing any file")
        if time.time() > deadline:
            raise TimeoutError("no data files appeared")
        time.sleep(0.2)
