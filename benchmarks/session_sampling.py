"""Session-model sampling speed outside Spark: CPU threads against a GPU, per block size.

Loads a trained session model (`--model`, a model folder) and times `sample_block` on the
CPU with 1 and all threads and, when torch sees one, on the GPU; it also reports whether the
GPU generated exactly what the CPU did (floating point differs between devices, so a draw
near a boundary can go the other way). Needs torch, pandas and pyarrow only.

    .venv/bin/python benchmarks/session_sampling.py --model out/taobao/model [--blocks 256,4096]

Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from datetime import date

import torch

from synthlib.models import load_model


def timed(model, users: int, rounds: int) -> tuple[float, int, object]:
    best, out = float("inf"), None
    for r in range(rounds):
        start = time.perf_counter()
        out = model.sample_block(r * users, (r + 1) * users, seed=1, start=date(2024, 1, 1), days=7)
        best = min(best, time.perf_counter() - start)
    return best, len(out), out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--blocks", default="256,1024,4096", help="users per sample_block call on the CPU")
    p.add_argument("--gpu-blocks", default="1024,4096,16384", help="users per sample_block call on the GPU")
    p.add_argument("--rounds", type=int, default=3, help="timed calls per setting (the fastest is kept)")
    args = p.parse_args()
    model = load_model(args.model)
    blocks = [int(b) for b in args.blocks.split(",")]
    result = {"benchmark": "session_sampling", "cpus": os.cpu_count(), "torch": torch.__version__,
              "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None, "runs": []}
    timed(model, 32, 1)  # warm-up
    for threads in sorted({1, os.cpu_count()}):
        torch.set_num_threads(threads)
        for b in blocks:
            seconds, events, _ = timed(model, b, args.rounds)
            result["runs"].append({"device": "cpu", "threads": threads, "block_users": b, "events": events,
                                   "events_per_s": round(events / seconds)})
    if torch.cuda.is_available():
        cpu_out = timed(model, blocks[0], 1)[2]
        model.net.to("cuda")
        timed(model, 32, 1)
        for b in [int(b) for b in args.gpu_blocks.split(",")]:
            seconds, events, _ = timed(model, b, args.rounds)
            result["runs"].append({"device": "cuda", "block_users": b, "events": events,
                                   "events_per_s": round(events / seconds)})
        gpu_out = timed(model, blocks[0], 1)[2]
        result["gpu_equals_cpu"] = {"identical": bool(gpu_out.equals(cpu_out)),
                                    "events_cpu": len(cpu_out), "events_gpu": len(gpu_out)}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
