"""Text benchmark: the text model against a category n-gram model and re-sampled real
strings, on an 80/20 split of real search queries and of real product titles.

    .venv/bin/python benchmarks/text_quality.py [--sets queries,titles] [--minutes 8] [--k 5] [--params JSON]

- queries: WANDS queries (category: the product class) and ESCI queries (no category);
- titles: Walmart-Amazon product titles (category, brand, price).

A distinct string goes wholly to one side of the split (by seeded hash). The rows have no
user ids, so each row counts as one user: with k = 5 every training string issued by fewer
than 5 rows is blocked for the text model and the n-gram baseline; re-sampling real
training strings is the memorising upper bound and is not blocked. Each source generates,
per category, as many strings as the held-out side has. Prints one JSON object.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import time
from collections import Counter

import numpy as np

from synthlib.spark import get_spark
from synthlib.text.metrics import text_metrics
from synthlib.text.model import TextConfig
from synthlib.text.ngram import NgramText
from synthlib.train.loop import FitConfig
from synthlib.train.text import TEXT_DDL, train_text

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "..", "shared", "data", "text")


def _lines(name: str) -> list[str]:
    with gzip.open(os.path.join(DATA, name), "rt", encoding="utf-8") as fh:
        return fh.read().splitlines()


def load(name: str) -> list[tuple]:
    """(text, category, brand, price) rows."""
    if name == "queries":
        wands = [line.split("\t") for line in _lines("wands_queries.tsv.gz")[1:]]
        return [(q, c or None, None, None) for _, q, c in wands] + [(q, None, None, None)
                                                                   for q in _lines("esci_queries.txt.gz")]
    rows = []
    for line in _lines("walmart_amazon_products.tsv.gz")[1:]:
        title, category, brand, _, price = (line.split("\t") + [""] * 5)[:5]
        try:
            p = float(price)
        except ValueError:
            p = None
        rows.append((title, category or None, brand or None, p))
    return rows


def split(rows: list[tuple], seed: int) -> tuple[list, list]:
    held = lambda t: int(hashlib.sha256(f"{seed}:{t}".encode()).hexdigest(), 16) % 5 == 0  # noqa: E731
    return [r for r in rows if not held(r[0])], [r for r in rows if held(r[0])]


def by_category(rows) -> dict:
    out: dict = {}
    for r in rows:
        out.setdefault(r[1], []).append(r[0])
    return out


def run(spark, name: str, minutes: float, k: int, seed: int, out: str, params: dict) -> dict:
    train, test = split(load(name), seed)
    users = Counter(r[0] for r in train)
    blocked = {t for t, n in users.items() if n < k}
    held = by_category(test)
    wanted = [r for r in test]  # one generated string per held-out row, with its conditions
    ids = np.arange(len(wanted))
    sources, seconds = {}, {}

    start = time.time()
    frame = spark.createDataFrame(train, TEXT_DDL)
    model = train_text(spark, frame, TextConfig(**params), FitConfig(epochs=200, lr=3e-3, patience=3, max_minutes=minutes,
                                                             seed=seed, progress=False),
                       cache_dir=os.path.join(out, "cache"), seed=seed)
    seconds["train_text"] = round(time.time() - start, 1)
    model.save(os.path.join(out, name, "model"))
    start = time.time()
    texts = model.sample(ids, [r[1] for r in wanted], [r[2] for r in wanted], [r[3] for r in wanted],
                         seed=seed, blocked=blocked)
    seconds["sample_text"] = round(time.time() - start, 1)
    sources["text"] = texts

    start = time.time()
    ngram = NgramText().fit([r[0] for r in train], [r[1] for r in train])
    drawn = {c: iter(ngram.sample(c, len(v), seed=seed, blocked=blocked)) for c, v in held.items()}
    sources["ngram"] = [next(drawn[r[1]], None) for r in wanted]
    seconds["ngram"] = round(time.time() - start, 1)

    pool = by_category(train)
    everything = [r[0] for r in train]
    gen = np.random.default_rng(seed)
    sources["resample"] = [(pool.get(r[1]) or everything)[gen.integers(len(pool.get(r[1]) or everything))]
                           for r in wanted]

    results = {}
    for src, strings in sources.items():
        generated: dict = {}
        for r, t in zip(wanted, strings):
            if t is not None:
                generated.setdefault(r[1], []).append(t)
        m = text_metrics(generated, held, [r[0] for r in train])
        m["left_out"] = sum(t is None for t in strings)
        m["blocked_emitted"] = sum(t in blocked for t in strings if t is not None)
        results[src] = m
    real = results["text"]
    return {
        "train_strings": len(train), "held_out_strings": len(test), "categories": len(held),
        "blocked_training_strings": len(blocked),
        "training": {k: model.spec["training"][k] for k in ("strings", "best_epoch", "validation_nll_per_piece",
                                                            "pieces")},
        "epochs": len(model.spec["training"]["history"]), "temperature": model.spec["temperature"],
        "real": {"self_bleu": real["self_bleu_real"], "distinct1": real["distinct1_real"],
                 "distinct2": real["distinct2_real"]},
        "sources": {s: {k: v for k, v in m.items() if not k.endswith("_real")} for s, m in results.items()},
        "targets": {
            "bleu4_text_above_ngram": results["text"]["bleu4"] > results["ngram"]["bleu4"],
            "self_bleu_within_005": abs(results["text"]["self_bleu"] - real["self_bleu_real"]) <= 0.05,
            "distinct2_within_10pct": abs(results["text"]["distinct2"] / real["distinct2_real"] - 1) <= 0.1,
            "no_blocked_string": results["text"]["blocked_emitted"] == 0,
            "training_under_10_minutes": seconds["train_text"] < 600,
        },
        "seconds": seconds,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sets", default="queries,titles")
    p.add_argument("--minutes", type=float, default=8.0, help="training budget of the text model, per set")
    p.add_argument("--k", type=int, default=5, help="users a training string needs to be emitted")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--params", default="{}", help="TextConfig settings as JSON, e.g. '{\"dim\": 256}'")
    p.add_argument("--out", default=os.path.join(ROOT, "out", "text_quality"))
    a = p.parse_args()
    spark = get_spark()
    params = json.loads(a.params)
    print(json.dumps({s: run(spark, s, a.minutes, a.k, a.seed, a.out, params) for s in a.sets.split(",")}, indent=2))


if __name__ == "__main__":
    main()
