"""Privacy against utility: the session model without DP and under `train.dp` at several
epsilons, on the shared real logs.

Per log (its conf in conf/) and setting (`nodp`, `eps8`, ...), in its own output folder: the
whole pipeline, since under DP the contribution bounds apply at ingest and the profile is
released under the budget: profile, train, generate a run of the real training split's
size, evaluate (fidelity, privacy, utility against the same real held-out sessions). Every
setting trains the same number of epochs (`--epochs`), so the settings differ only by DP.

    .venv/bin/python benchmarks/privacy_utility.py [--logs yoochoose,taobao] [--epsilons none,8,4,1]
                                                   [--epochs 3] [--out out/privacy_utility]
                                                   [--set train.dp.max_grad_norm=0.5 ...]

Prints one JSON object: per log and setting, the utility ratios, the fidelity distances, the
empirical privacy marks, the privacy statement (model.json) and the seconds per step. Per
log, `<out>/<log>/curve.html` draws the privacy-utility curve: kNN and ALS ratios and their
DP ceilings by epsilon, beside the ratios without DP.
"""
from __future__ import annotations

import argparse
import json
import os
import time

from quality import KEY_METRICS

from synthlib.config import ConfigError, load_config
from synthlib.data.profile import profile
from synthlib.evaluate import evaluate
from synthlib.evaluate.report import lines
from synthlib.generate import generate
from synthlib.spark import get_spark
from synthlib.train import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def setting_name(epsilon: float | None) -> str:
    return "nodp" if epsilon is None else f"eps{epsilon:g}".replace(".", "_")


def run_setting(spark, log: str, epsilon: float | None, epochs: int, out: str, overrides: list[str]) -> dict:
    name = setting_name(epsilon)
    dp = [] if epsilon is None else [f"train.dp={{epsilon: {epsilon}}}"]
    conf = load_config(os.path.join(ROOT, "conf", f"{log}.yaml"),
                       [f"output={os.path.join(out, log, name)}", "train.model=session", f"train.epochs={epochs}",
                        f"generate.run_id={name}", f"evaluate.runs=[{name}]", *dp, *overrides])
    seconds: dict[str, float] = {}
    for step in (profile, train, generate):
        start = time.time()
        step(spark, conf)
        seconds[step.__name__] = round(time.time() - start, 1)
    start = time.time()
    result = evaluate(spark, conf)
    seconds["evaluate"] = round(time.time() - start, 1)
    spec = json.load(open(conf.layout.model.spec))
    run = json.load(open(result["metrics_path"]))["runs"][name]
    return {"events": run["events"], "privacy": spec.get("privacy"), "items": spec["lineage"].get("items_kept"),
            "training": {k: spec["training"].get(k) for k in ("privacy", "epsilon", "delta", "best_epoch")},
            **{k: run["metrics"].get(k) for k in (*KEY_METRICS, "knn_recall_dp_ceiling", "als_recall_dp_ceiling")},
            "marks": {k: run["marks"].get(k) for k in KEY_METRICS}, "seconds": seconds,
            "report": result["report_path"]}


def attempt(spark, log: str, epsilon: float | None, epochs: int, out: str, overrides: list[str]) -> dict:
    """A setting's results, or the error that stopped it (a log too small for its epsilon
    releases no item: that is a point of the curve too)."""
    try:
        return run_setting(spark, log, epsilon, epochs, out, overrides)
    except ConfigError as e:
        return {"error": str(e)}


def write_curve(path: str, log: str, settings: dict) -> str:
    """The privacy-utility curve of one log's settings as an HTML page; returns its path."""
    private = {s["privacy"]["budget"]["epsilon"]: s for s in settings.values() if s.get("privacy")}
    if not private:
        return ""
    series = [(f"{rec} {name}", {e: s[f"{rec}_recall_{key}"] for e, s in private.items() if s[f"{rec}_recall_{key}"]})
              for key, name in (("ratio", "ratio"), ("dp_ceiling", "DP ceiling")) for rec in ("knn", "als")]
    plain = settings.get("nodp")
    if plain and "error" not in plain:  # the ratios without DP, drawn across the epsilons
        series += [(f"{rec} without DP", dict.fromkeys(private, plain[f"{rec}_recall_ratio"])) for rec in ("knn", "als")]
    figure = lines(f"{log}: recall of recommenders trained on the synthetic log, over the real log's, by total "
                   "epsilon", series, xlabel="total epsilon (user-level DP)", ylabel="ratio to real", log_x=True,
                   ymax=1.0)
    with open(path, "w") as fh:
        fh.write(f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{log}: privacy and utility</title>"
                 f"</head><body><h1>{log}: privacy and utility</h1>{figure}</body></html>")
    return path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--logs", default="yoochoose,taobao")
    p.add_argument("--epsilons", default="none,8,4,1", help="the settings: none (without DP) or an epsilon")
    p.add_argument("--epochs", type=int, default=3, help="training epochs of every setting")
    p.add_argument("--set", action="append", default=[], help="a conf override for every setting")
    p.add_argument("--out", default=os.path.join(ROOT, "out", "privacy_utility"))
    args = p.parse_args()
    epsilons = [None if e == "none" else float(e) for e in args.epsilons.split(",") if e]
    spark = get_spark(load_config(os.path.join(ROOT, "conf", "yoochoose.yaml")).spark)
    results = {log: {setting_name(e): attempt(spark, log, e, args.epochs, args.out, args.set) for e in epsilons}
               for log in args.logs.split(",")}
    for log, settings in results.items():
        settings["curve"] = write_curve(os.path.join(args.out, log, "curve.html"), log, settings)
    print(json.dumps(results, indent=2, sort_keys=True, default=str))


if __name__ == "__main__":
    main()
