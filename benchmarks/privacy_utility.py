"""Privacy against utility: the session model without DP and under `train.dp` at several
epsilons, on the shared real logs, evaluated side by side in one evaluation per log.

Per log (its conf in conf/): profile once; for each setting train the session model,
generate a run of the real training split's size (run id `nodp`, `eps8`, ...); then one
evaluation of all runs (fidelity, privacy, utility). Every setting trains the same number
of epochs (`--epochs`), so the settings differ only by DP.

    .venv/bin/python benchmarks/privacy_utility.py [--logs yoochoose,taobao] [--epsilons 8,4,1]
                                                   [--epochs 3] [--out out/privacy_utility]
                                                   [--set train.dp.max_grad_norm=0.5 ...]

Prints one JSON object: per log and setting, the utility ratios, the fidelity distances, the
empirical privacy marks, the epsilon and delta spent (model.json) and the seconds per step.
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


def run_log(spark, log: str, epsilons: list[float | None], epochs: int, out: str, overrides: list[str]) -> dict:
    base = [f"output={os.path.join(out, log)}", "train.model=session", f"train.epochs={epochs}", *overrides]
    conf = lambda *more: load_config(os.path.join(ROOT, "conf", f"{log}.yaml"), [*base, *more])  # noqa: E731
    seconds: dict[str, float] = {}

    def timed(name, step, c):
        start = time.time()
        result = step(spark, c)
        seconds[name] = round(time.time() - start, 1)
        return result

    timed("profile", profile, conf())
    spent = {}
    for eps in epsilons:
        name = setting_name(eps)
        dp = [] if eps is None else [f"train.dp={{epsilon: {eps}}}"]
        c = conf(f"generate.run_id={name}", *dp)
        timed(f"train_{name}", train, c)
        spec = json.load(open(c.layout.model.spec))
        spent[name] = {k: spec["training"].get(k) for k in ("privacy", "epsilon", "delta", "best_epoch")}
        timed(f"generate_{name}", generate, c)
    names = [setting_name(e) for e in epsilons]
    result = timed("evaluate", evaluate, conf(f"evaluate.runs=[{','.join(names)}]"))
    saved = json.load(open(result["metrics_path"]))
    return {
        "settings": {n: {"events": saved["runs"][n]["events"], **spent[n],
                         **{k: saved["runs"][n]["metrics"].get(k) for k in KEY_METRICS},
                         "marks": {k: saved["runs"][n]["marks"].get(k) for k in KEY_METRICS}} for n in names},
        "seconds": seconds,
        "report": result["report_path"],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--logs", default="yoochoose,taobao")
    p.add_argument("--epsilons", default="8,4,1", help="the DP settings, besides the run without DP")
    p.add_argument("--epochs", type=int, default=3, help="training epochs of every setting")
    p.add_argument("--set", action="append", default=[], help="a conf override for every setting")
    p.add_argument("--out", default=os.path.join(ROOT, "out", "privacy_utility"))
    args = p.parse_args()
    epsilons = [None, *(float(e) for e in args.epsilons.split(",") if e)]
    spark = get_spark(load_config(os.path.join(ROOT, "conf", "yoochoose.yaml")).spark)
    results = {log: run_log(spark, log, epsilons, args.epochs, args.out, args.set) for log in args.logs.split(",")}
    print(json.dumps(results, indent=2, sort_keys=True, default=str))


if __name__ == "__main__":
    main()
