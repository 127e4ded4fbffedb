"""`synthlib <command> --conf conf/<file>.yaml [dotted.key=value ...]`.

The same entry point serves the console script, `jobs/<command>.py` under spark-submit
and Databricks `python_wheel_task` (one console script per command).
"""
from __future__ import annotations

import argparse
import json
import sys

from synthlib.config import ConfigError, load_config

COMMANDS = ("simulate", "profile", "train", "generate", "evaluate", "pipeline")


def _run(command: str, spark, conf) -> dict:
    # Imported here so that `--help` and config errors need no Spark.
    from synthlib.evaluate import evaluate
    from synthlib.generate import generate
    from synthlib.pipeline import run_pipeline
    from synthlib.profile import profile
    from synthlib.simulate import simulate
    from synthlib.train import train

    return {"simulate": simulate, "profile": profile, "train": train, "generate": generate,
            "evaluate": evaluate, "pipeline": run_pipeline}[command](spark, conf)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="synthlib", description=__doc__.splitlines()[0])
    p.add_argument("command", choices=COMMANDS)
    p.add_argument("--conf", required=True, help="YAML run configuration, e.g. conf/demo.yaml")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="override a configuration key, e.g. seed=7 generate.users=1000")
    return p


def _outputs(conf) -> dict:
    return {"events_table": conf.path("tables", "events"), "stats": conf.path("stats"),
            "model": conf.path("model"), "metrics": conf.path("eval", "metrics.json"),
            "report": conf.path("eval", "report.html")}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_intermixed_args(argv)
    try:
        conf = load_config(args.conf, args.overrides)  # validated before any Spark work
    except ConfigError as e:
        print(f"synthlib: configuration error:\n{e}", file=sys.stderr)
        return 2
    from synthlib.ingest import InputError
    from synthlib.models.artifact import ModelArtifactError, NotFittedError
    from synthlib.session import get_spark

    spark = get_spark(conf.spark)
    try:
        result = _run(args.command, spark, conf)
    except (InputError, NotFittedError, ModelArtifactError, ConfigError, FileNotFoundError) as e:
        print(f"synthlib {args.command}: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2, sort_keys=True, default=str))
    if args.command == "pipeline":
        print("\nOutputs:")
        for name, path in _outputs(conf).items():
            print(f"  {name:13s} {path}")
    return 0


def _entrypoint(command: str):
    return lambda: sys.exit(main([command, *sys.argv[1:]]))


simulate_entrypoint = _entrypoint("simulate")
profile_entrypoint = _entrypoint("profile")
train_entrypoint = _entrypoint("train")
generate_entrypoint = _entrypoint("generate")
evaluate_entrypoint = _entrypoint("evaluate")
pipeline_entrypoint = _entrypoint("pipeline")
