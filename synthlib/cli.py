"""`synthlib <command> --conf conf/<file>.yaml [--verbose] [--json] [dotted.key=value ...]`.

The same entry point serves the console script, `jobs/<command>.py` under spark-submit
and Databricks `python_wheel_task` (one console script per command).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from synthlib.config import ConfigError, load_config
from synthlib.console import closing_table, stage_line

COMMANDS = ("simulate", "profile", "train", "generate", "evaluate", "pipeline")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="synthlib", description=__doc__.splitlines()[0])
    p.add_argument("command", choices=COMMANDS)
    p.add_argument("--conf", required=True, help="YAML run configuration, e.g. conf/demo.yaml")
    p.add_argument("--verbose", action="store_true", help="show Spark's own warnings (hidden below ERROR otherwise)")
    p.add_argument("--json", action="store_true", help="print the full run summary (always in <output>/run.json)")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="override a configuration key, e.g. seed=7 generate.users=1000")
    return p


def _outputs(conf) -> dict:
    return {"events table": conf.layout.tables.events, "stats": conf.layout.stats,
            "model": conf.layout.model, "metrics": conf.layout.eval.metrics_json,
            "report": conf.layout.eval.report, "run summary": conf.layout.run_summary}


def _print_stage(stage: str, result: dict, seconds: float) -> None:
    print(stage_line(stage, result, seconds), flush=True)
    for note in result.get("notes", []):
        print(f"{'':<10} note: {note}", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_intermixed_args(argv)
    try:
        conf = load_config(args.conf, args.overrides)  # validated before any Spark work
        from synthlib.train.stage import check_params

        check_params(conf)
    except ConfigError as e:
        print(f"synthlib: configuration error:\n{e}", file=sys.stderr)
        return 2
    # Imported here so that `--help` and config errors need no Spark.
    from synthlib.data.sources import InputError
    from synthlib.models.artifact import ModelArtifactError, NotFittedError
    from synthlib.pipeline import run_pipeline, run_stage
    from synthlib.spark import get_spark

    started = time.time()
    spark = get_spark(conf.spark, verbose=args.verbose)
    try:
        if args.command == "pipeline":
            result = run_pipeline(spark, conf, _print_stage)
        else:
            result = {args.command: run_stage(spark, conf, args.command, _print_stage)}
    except (InputError, NotFittedError, ModelArtifactError, ConfigError, FileNotFoundError) as e:
        print(f"synthlib {args.command}: {e}", file=sys.stderr)
        return 2
    summary = {"command": args.command, "conf": conf.source_file, "seconds": round(time.time() - started, 1),
               "stages": result}
    os.makedirs(conf.output, exist_ok=True)
    with open(conf.layout.run_summary, "w") as fh:
        json.dump(summary, fh, indent=2, sort_keys=True, default=str)
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True, default=str))
    elif "evaluate" in result:
        print(closing_table(result["evaluate"], _outputs(conf)))
    else:
        print(f"{'run summary':<13} {conf.layout.run_summary}")
    return 0


def _entrypoint(command: str):
    return lambda: sys.exit(main([command, *sys.argv[1:]]))


simulate_entrypoint = _entrypoint("simulate")
profile_entrypoint = _entrypoint("profile")
train_entrypoint = _entrypoint("train")
generate_entrypoint = _entrypoint("generate")
evaluate_entrypoint = _entrypoint("evaluate")
pipeline_entrypoint = _entrypoint("pipeline")


if __name__ == "__main__":  # python -m synthlib.cli <command> --conf ...
    sys.exit(main())
