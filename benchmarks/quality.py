"""Quality benchmark: the whole evaluation protocol, for each model, on the shared real logs.

Per log (its conf in conf/, which sets the held-out test split): profile the training split,
then for each model train it, generate a synthetic log of the real training split's size
(run id = the model's name), plus an augmentation run of the session model; then one
evaluation of all runs side by side (fidelity, privacy, utility, report).

    .venv/bin/python benchmarks/quality.py [--logs taobao,yoochoose] [--models session,stats,ctgan,tvae]
                                           [--minutes 6] [--baseline-minutes 3] [--out out/quality]
                                           [--set train.params.next_min_users=1 ...]

Prints one JSON object; each log's report is at <out>/<log>/eval/report.html.
"""
from __future__ import annotations

import argparse
import json
import os
import time

from synthlib.config import load_config
from synthlib.data.profile import profile
from synthlib.evaluate import evaluate
from synthlib.generate import generate
from synthlib.spark import get_spark
from synthlib.train import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEY_METRICS = ("knn_recall_ratio", "als_recall_ratio", "copy_share", "dcr_median_synthetic", "dcr_median_holdout",
               "mia_auc", "item_popularity_tv", "session_length_ks", "event_mix_tv", "transition_l1",
               "covisit_neighbour_distance", "hour_of_day_tv")


def run_log(spark, log: str, models: list[str], minutes: float, baseline_minutes: float, out: str,
            overrides: list[str] = ()) -> dict:
    conf_file = os.path.join(ROOT, "conf", f"{log}.yaml")
    base = [f"output={os.path.join(out, log)}"]
    conf = lambda *more: load_config(conf_file, [*base, *more])  # noqa: E731
    seconds = {}

    def timed(name, step, c):
        start = time.time()
        result = step(spark, c)
        seconds[name] = round(time.time() - start, 1)
        return result

    summary = timed("profile", profile, conf())
    for model in models:
        # The confs' train.params are the session model's; the others keep their defaults.
        budget = [f"train.max_minutes={minutes}", *overrides] if model == "session" else \
            [f"train.max_minutes={baseline_minutes}", "train.params={}"]
        c = conf(f"train.model={model}", f"generate.run_id={model}", *budget)
        timed(f"train_{model}", train, c)
        timed(f"generate_{model}", generate, c)
        if model == "session":
            timed("generate_session_augment", generate,
                  conf("train.model=session", "generate.run_id=session-augment", "generate.augment=true", *overrides))
    augment = ["evaluate.augment_run=session-augment"] if "session" in models else []
    result = timed("evaluate", evaluate, conf(f"evaluate.runs=[{','.join(models)}]", *augment))
    saved = json.load(open(result["metrics_path"]))
    util = saved["utility"]
    return {
        "real": {"train_events": summary["events"], "test": summary["ingest"]["holdout"],
                 "test_examples": util["examples"]},
        "recall_at_k": {source: {rec: s["recall"] for rec, s in recs.items()} for source, recs in util["scores"].items()},
        "ndcg_at_k": {source: {rec: s["ndcg"] for rec, s in recs.items()} for source, recs in util["scores"].items()},
        "models": {m: {"events": saved["runs"][m]["events"],
                       **{k: saved["runs"][m]["metrics"].get(k) for k in KEY_METRICS},
                       "marks": {k: saved["runs"][m]["marks"].get(k) for k in KEY_METRICS}} for m in models},
        "augmentation_recall": {src: {rec: v["recall"] for rec, v in util["augmentation"][src].items()}
                                for src in ("real", "real_plus_synthetic")} if util.get("augmentation") else None,
        "sparse_examples": (util.get("augmentation") or {}).get("sparse_examples"),
        "seconds": seconds,
        "report": result["report_path"],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--logs", default="taobao,yoochoose")
    p.add_argument("--models", default="session,stats,ctgan,tvae")
    p.add_argument("--minutes", type=float, default=6.0, help="training budget of the session model")
    p.add_argument("--baseline-minutes", type=float, default=3.0, help="training budget of ctgan and tvae")
    p.add_argument("--set", action="append", default=[], help="a conf override for the session model")
    p.add_argument("--out", default=os.path.join(ROOT, "out", "quality"))
    args = p.parse_args()
    spark = get_spark(load_config(os.path.join(ROOT, "conf", "taobao.yaml")).spark)
    results = {log: run_log(spark, log, args.models.split(","), args.minutes, args.baseline_minutes, args.out, args.set)
               for log in args.logs.split(",")}
    print(json.dumps(results, indent=2, sort_keys=True, default=str))


if __name__ == "__main__":
    main()
