"""Training throughput of the session model fed by Petastorm against the same loop fed
from tensors in memory, measured side by side in one run. Prints JSON.

    .venv/bin/python benchmarks/train_loader.py [--conf conf/taobao.yaml] [--epochs 2]

Runs `profile` first when the conf's stats are missing. The rows, model, seed and loop are
the same for both sources; rounds alternate so that neither gets a warmer machine.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch
from pyspark.sql import functions as F

from synthlib.config import load_config
from synthlib.data.profile import load_summary, profile
from synthlib.models.session_net import SessionConfig, build, model_args
from synthlib.spark import get_spark
from synthlib.train.loader import PetastormSource, memory_batches
from synthlib.train.loop import FitConfig, fit
from synthlib.train.loop import device
from synthlib.train.session import ROW_COLUMNS, rows_per_step, session_loss, session_rows


def _throughput(args, vocab, feed, epochs: int, seed: int) -> float:
    torch.manual_seed(seed)
    net = build(args, torch.as_tensor(vocab.candidate_table())).to(device())
    start = time.perf_counter()
    result = fit(net, session_loss(net, device()), feed, None,
                 FitConfig(epochs=epochs, patience=epochs, seed=seed, progress=False))
    return sum(h["events"] for h in result.history) / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    data = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "taobao_userbehavior")
    p.add_argument("--conf", default="conf/taobao.yaml" if os.path.isdir(data) else "conf/demo.yaml")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    conf = load_config(a.conf)
    spark = get_spark(conf.spark)
    if not os.path.exists(conf.layout.stats.summary):
        profile(spark, conf)
    summary = load_summary(conf)
    items = (spark.read.format("delta").load(conf.layout.stats.items)
             .orderBy(F.desc("events"), "item_id").limit(conf.train.max_items).toPandas())
    cfg = SessionConfig()
    vocab, rows = session_rows(spark, conf, summary, items, cfg)
    args, bs, seed = model_args(cfg, vocab), rows_per_step(rows, conf.train.batch_size), conf.seed
    with PetastormSource(spark, rows, cache_dir=os.path.join(conf.output, "cache", "bench"), columns=ROW_COLUMNS,
                         order_by=["user_key", "chunk"]) as src:
        memory = src.to_memory()
        rates = {"petastorm": [], "memory": []}
        for _ in range(a.rounds):
            rates["memory"].append(_throughput(
                args, vocab, lambda e: memory_batches(memory, batch_size=bs, seed=seed, epoch=e), a.epochs, seed))
            rates["petastorm"].append(_throughput(
                args, vocab, lambda e: src.batches(batch_size=bs, seed=seed, epoch=e), a.epochs, seed))
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(json.dumps({"conf": a.conf, "rows": len(next(iter(memory.values()))), "epochs_per_round": a.epochs,
                      "rounds": a.rounds, "device": str(device()), "torch_threads": torch.get_num_threads(),
                      "events_per_s": {k: [round(x) for x in v] for k, v in rates.items()},
                      "petastorm_over_memory": med["petastorm"] / med["memory"], "target": 0.8}, indent=2))


if __name__ == "__main__":
    main()
