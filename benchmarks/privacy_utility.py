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
empirical privacy marks, the privacy statement (model.json) and the seconds per step.
"""
from __future__ import annotations

import argparse
import json
import os
import time

from quality import KEY_METRICS

from synthlib.config import load_config
from synthlib.data.profile import profile
from synthlib.evaluate import evaluate
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
    results = {log: {setting_name(e): run_setting(spark, log, e, args.epochs, args.out, args.set) for e in epsilons}
               for log in args.logs.split(",")}
    print(json.dumps(results, indent=2, sort_keys=True, default=str))


if __name__ == "__main__":
    main()
