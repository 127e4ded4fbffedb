"""The session model's item scores, forward and backward, by the two ways SessionNet has to
compute them: one matrix product per category in the batch, or each row's candidate
embeddings gathered. Measured side by side per (categories, rows, candidates), on the CPU
and on a GPU where torch sees one; prints JSON lines. Sets item_scores.GROUPED_MIN_SCORES.

    .venv/bin/python benchmarks/item_scores.py [--reps 7]
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from synthlib.models import item_scores
from synthlib.models.session_net import build

# (categories, rows, candidates, rows over categories by a Zipf law or uniform): from one
# category of many candidates (sessions-only logs) to nearly one row per category.
SHAPES = ((1, 1000, 1024, "zipf"), (1, 1000, 4096, "zipf"), (4, 2000, 1024, "zipf"), (16, 2000, 512, "zipf"),
          (50, 1500, 128, "zipf"), (300, 1500, 128, "zipf"), (1500, 1500, 128, "zipf"), (1000, 5000, 128, "zipf"),
          (2000, 1500, 128, "uniform"), (20000, 1500, 128, "uniform"))


def _net(n_cats: int, candidates: int, dev: torch.device):
    table = torch.arange(1, n_cats * candidates + 1).reshape(n_cats, candidates)
    table = torch.cat([torch.zeros(1, candidates, dtype=torch.long), table])
    args = {"config": {"candidates": candidates}, "n_cats": n_cats + 1, "n_items": n_cats * candidates + 1,
            "n_queries": 2, "n_positions": 2}
    return build(args, table).to(dev)


def _seconds(net, query, cat, grouped: bool, reps: int) -> float:
    item_scores.GROUPED_MIN_SCORES[query.device.type] = 0 if grouped else float("inf")
    times = []
    for _ in range(reps):
        net.zero_grad()
        if query.is_cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        scores = item_scores.candidate_scores(query, cat, net.candidates[cat], net.candidates, net.item_out,
                                              net.item_bias)
        scores.sin().sum().backward()
        if query.is_cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return sorted(times)[reps // 2]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    for dev in devices:
        for n_cats, rows, candidates, law in SHAPES:
            torch.manual_seed(0)
            net = _net(n_cats, candidates, dev)
            query = torch.randn(rows, net.config.dim, device=dev)
            weights = 1.0 / torch.arange(1, n_cats + 1).float() if law == "zipf" else torch.ones(n_cats)
            cat = torch.multinomial(weights, rows, replacement=True) + 1
            cat = cat.to(dev)
            k = int(cat.unique().numel())
            gathered, grouped = (_seconds(net, query, cat, g, args.reps) for g in (False, True))
            print(json.dumps({"device": dev.type, "rows_over_categories": law, "categories": k, "rows": rows,
                              "candidates": candidates, "scores_per_category": rows * candidates // k, "gathered_s": round(gathered, 5),
                              "grouped_s": round(grouped, 5), "grouped_speedup": round(gathered / grouped, 2)}),
                  flush=True)


if __name__ == "__main__":
    main()
