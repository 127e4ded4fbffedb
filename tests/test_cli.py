"""The command line, run as a user runs it, and the Databricks job's entry points."""
import os
import subprocess
import sys

from tests.helpers import ROOT

SYNTHLIB = os.path.join(os.path.dirname(sys.executable), "synthlib")


def _run(args, **kw):
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600, **kw)


def test_config_errors_stop_before_spark(write_conf):
    path = write_conf({"simulate": {"evnts": 10}})
    result = _run([SYNTHLIB, "pipeline", "--conf", path])
    assert result.returncode == 2
    assert "simulate.evnts" in result.stderr and "did you mean 'events'" in result.stderr
    assert "SparkContext" not in result.stderr and "Traceback" not in result.stderr


def test_model_params_are_checked_before_spark(write_conf):
    """A model's params are checked when the conf loads, not when training starts after
    ingest and profile; `stats` takes none but its own."""
    for model, params, wrong in (("session", {"dimm": 8}, "dimm"), ("stats", {"dim": 8}, "dim")):
        path = write_conf({"simulate": {}, "train": {"model": model, "params": params}})
        result = _run([SYNTHLIB, "pipeline", "--conf", path])
        assert result.returncode == 2 and f"['{wrong}'] for model '{model}'" in result.stderr, result.stderr
        assert not os.path.exists(os.path.join(os.path.dirname(path), "out"))  # nothing ran
    result = _run([SYNTHLIB, "train", "--conf", write_conf({"simulate": {}, "train": {"model": "gann"}})])
    assert result.returncode == 2 and "unknown model 'gann'; use one of ['ctgan', 'session', 'stats', 'tvae']" \
        in result.stderr


def test_unknown_override_is_refused(write_conf):
    result = _run([SYNTHLIB, "generate", "--conf", write_conf({"simulate": {}}), "generate.usrs=5"])
    assert result.returncode == 2 and "generate.usrs" in result.stderr


def test_usage_lists_the_commands():
    for cli in ([SYNTHLIB], [sys.executable, "-m", "synthlib.cli"]):  # the script, or the module run as one
        result = _run([*cli, "--help"])
        assert result.returncode == 0
        for command in ("simulate", "profile", "train", "generate", "evaluate", "pipeline"):
            assert command in result.stdout


def test_the_module_run_as_a_script_runs_its_command(write_conf):
    result = _run([sys.executable, "-m", "synthlib.cli", "generate", "--conf", write_conf({"simulate": {}}),
                   "generate.usrs=5"])
    assert result.returncode == 2 and "generate.usrs" in result.stderr


def test_databricks_bundle_runs_the_four_stages_from_setup_entry_points():
    import re

    import yaml

    bundle = yaml.safe_load((ROOT / "databricks.yml").read_text())
    declared = set(re.findall(r'"(synthlib-[a-z]+)=synthlib\.cli:', (ROOT / "setup.py").read_text()))
    job = bundle["resources"]["jobs"]["synthlib"]
    tasks = {t["task_key"]: t for t in job["tasks"]}
    assert list(tasks) == ["profile", "train", "generate", "evaluate"]
    for before, after in zip(list(tasks), list(tasks)[1:]):
        assert tasks[after]["depends_on"] == [{"task_key": before}]
    for key, task in tasks.items():
        wheel = task["python_wheel_task"]
        assert wheel["package_name"] == "synthlib" and wheel["entry_point"] == f"synthlib-{key}" in declared
        assert wheel["parameters"] == ["--conf", "{{job.parameters.conf}}", "output={{job.parameters.output}}"]
        assert task["libraries"] == [{"whl": "./dist/*.whl"}]
    assert {p["name"] for p in job["parameters"]} == {"conf", "output"}
    assert bundle["artifacts"]["synthlib_wheel"]["type"] == "whl"
    conf = bundle["variables"]["conf"]["default"].removeprefix("${workspace.file_path}/")
    assert (ROOT / conf).is_file(), conf
    assert all(list(ROOT.glob(pattern)) for pattern in bundle["sync"]["include"])
