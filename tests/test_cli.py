"""The command line, run as a user runs it, and the Databricks job's entry points."""
import json
import os
import subprocess
import sys

from tests.conftest import ROOT

SYNTHLIB = os.path.join(os.path.dirname(sys.executable), "synthlib")


def _run(args, **kw):
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600, **kw)


def test_config_errors_stop_before_spark(write_conf):
    path = write_conf({"simulate": {"evnts": 10}})
    result = _run([SYNTHLIB, "pipeline", "--conf", path])
    assert result.returncode == 2
    assert "simulate.evnts" in result.stderr and "did you mean 'events'" in result.stderr
    assert "SparkContext" not in result.stderr and "Traceback" not in result.stderr


def test_unknown_override_is_refused(write_conf):
    result = _run([SYNTHLIB, "generate", "--conf", write_conf({"simulate": {}}), "generate.usrs=5"])
    assert result.returncode == 2 and "generate.usrs" in result.stderr


def test_usage_lists_the_commands():
    result = _run([SYNTHLIB, "--help"])
    assert result.returncode == 0
    for command in ("simulate", "profile", "train", "generate", "evaluate", "pipeline"):
        assert command in result.stdout


def test_databricks_job_uses_installed_entry_points():
    from importlib.metadata import entry_points

    scripts = {ep.name for ep in entry_points(group="console_scripts") if ep.value.startswith("synthlib.")}
    job = json.loads((ROOT / "conf" / "databricks_job.json").read_text())
    used = {t["python_wheel_task"]["entry_point"] for t in job["tasks"]}
    assert used and used <= scripts
    for task in job["tasks"]:
        assert task["python_wheel_task"]["package_name"] == "synthlib"
        assert task["python_wheel_task"]["parameters"][0] == "--conf"
