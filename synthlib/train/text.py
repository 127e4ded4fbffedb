"""Training of the text model: tokenizer and conditions from Spark, pieces encoded on the
executors, batches read back through Petastorm (`synthlib.train.loader`), then `fit`."""
from __future__ import annotations

import dataclasses
import time
from collections import Counter
from typing import Iterator

import pandas as pd
import torch
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from synthlib import __version__, rng
from synthlib.config import ConfigError
from synthlib.delta_io import is_delta
from synthlib.text.metrics import distinct, self_bleu
from synthlib.text.model import BOS, EOS, PAD, TextConditions, TextConfig, TextModel, build, model_args, train_tokenizer
from synthlib.train.loader import PetastormSource
from synthlib.train.loop import FitConfig, evaluate_nll, fit
from synthlib.train.options import fit_config, model_params
from synthlib.train.rows import sampled_events

COLUMNS = ["ids", "cat", "brand", "band"]
ORDER = ["row_key", "cat", "brand", "band"]  # a total order up to identical rows
TEXT_DDL = "text string, category string, brand string, price double"


def _top(frame: DataFrame, col: str, n: int) -> list[str]:
    """The n most frequent non-empty values of a column (bounded by n)."""
    rows = (frame.where(F.col(col).isNotNull() & (F.col(col) != "")).groupBy(col).count()
            .orderBy(F.desc("count"), col).limit(n).collect())
    return [r[col] for r in rows]


def conditions(frame: DataFrame, config: TextConfig) -> TextConditions:
    prices = frame.where(F.col("price").isNotNull() & ~F.isnan("price"))
    edges = prices.approxQuantile("price", [i / config.price_bands for i in range(1, config.price_bands)], 0.001) \
        if prices.limit(1).count() else []
    return TextConditions(_top(frame, "category", config.max_categories), _top(frame, "brand", config.max_brands),
                      sorted(edges))


def encoded(frame: DataFrame, tokenizer: bytes, cond: TextConditions, config: TextConfig, *, validation: float,
            seed: int) -> DataFrame:
    """Rows (row_key, split, ids (BOS, pieces, EOS, padding), cat, brand, band), encoded on the
    executors; a string's copies share a row key, so they fall on one side of the split."""
    width = config.max_pieces + 2

    def encode(parts: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import sentencepiece as spm

        sp = spm.SentencePieceProcessor(model_proto=tokenizer)
        for pdf in parts:
            pieces = sp.encode(pdf["text"].tolist())
            c = cond.encode(pdf["category"].tolist(), pdf["brand"].tolist(), pdf["price"].tolist())
            ids = [([BOS, *p[:config.max_pieces], EOS] + [PAD] * width)[:width] for p in pieces]
            yield pd.DataFrame({"row_key": pdf["row_key"], "ids": ids, **{k: v.numpy() for k, v in c.items()}})

    out = frame.withColumn("row_key", _row_key(seed)).select("row_key", "text", "category", "brand", "price") \
        .mapInPandas(encode, "row_key long, ids array<int>, cat long, brand long, band long")
    return out.withColumn("split", F.when(rng.held_out(F.col("row_key"), validation), "validation").otherwise("train"))


def _row_key(seed: int) -> Column:
    return rng.spark_key(seed, "text", "text", "category")


def _by_category(texts: list, categories: list) -> dict[str, list[str]]:
    out: dict = {}
    for t, c in zip(texts, categories):
        if t:
            out.setdefault(c, []).append(t)
    return out


def unseen_conditions(real: list, unseen: list) -> list[dict]:
    """For each row of `real`, the conditions to ask for a string like it with: those of an
    `unseen` row of its category, in turn, or its category alone where there is none."""
    pool: dict = {}
    for r in unseen:
        pool.setdefault(r["category"], []).append(r)
    used: Counter = Counter()
    asked = []
    for r in real:
        c = r["category"]
        rows = pool.get(c)
        asked.append(rows[used[c] % len(rows)] if rows else {"category": c, "brand": None, "price": None})
        used[c] += 1
    return asked


def calibrate_temperature(model: TextModel, real: list, seed: int, asked: list | None = None,
                          rounds: int = 8) -> float:
    """The sampling temperature at which strings generated for the conditions of `asked` rows
    (default: `real`'s own) are as diverse as the strings of `real`, category by category:
    bisection (between 0.2 and 1.5) to where the relative excess of distinct-2 and the
    relative deficit of self-BLEU cancel out."""
    asked = asked or real
    cats = [r["category"] for r in real]
    texts = [r["text"] for r in real]
    target_d2, target_sb = distinct(texts, 2), self_bleu(_by_category(texts, cats))
    ids = list(range(len(asked)))
    conds = ([r["category"] for r in asked], [r["brand"] for r in asked], [r["price"] for r in asked])
    lo, hi = 0.2, 1.5
    for _ in range(rounds):
        mid = (lo + hi) / 2
        drawn = model.sample(ids, *conds, seed=seed, tries=1, temperature=mid)
        excess = distinct([t for t in drawn if t], 2) / max(target_d2, 1e-9) - 1
        if target_sb > 0:
            excess += 1 - self_bleu(_by_category(drawn, cats)) / target_sb
        lo, hi = (mid, hi) if excess < 0 else (lo, mid)
    return round((lo + hi) / 2, 4)


def train_text(spark: SparkSession, frame: DataFrame, config: TextConfig, fit_config: FitConfig, *,
               cache_dir: str, seed: int, batch_size: int = 64, validation: float = 0.1,
               tokenizer_strings: int = 200_000, calibration_strings: int = 5000,
               lineage: dict | None = None) -> TextModel:
    """Fit the text model on `frame` (TEXT_DDL columns; brand and price may be null)."""
    started = time.time()
    frame = frame.where(F.col("text").isNotNull() & (F.trim("text") != ""))
    sample = [r[0] for r in frame.select("text").orderBy(rng.spark_key(seed, "tokenizer", "text"))
              .limit(tokenizer_strings).collect()]  # bounded
    if not sample:
        raise ValueError("no text to train on: every string is null or empty")
    tokenizer = train_tokenizer(sample, config)
    cond = conditions(frame, config)
    import sentencepiece as spm

    n_pieces = spm.SentencePieceProcessor(model_proto=tokenizer).get_piece_size()
    args = model_args(config, n_pieces, cond)
    torch.manual_seed(seed)
    net = build(args)
    rows = encoded(frame, tokenizer, cond, config, validation=validation, seed=seed).cache()
    loss = lambda b: net(b)  # noqa: E731
    with PetastormSource(spark, rows.where("split = 'train'"), cache_dir=cache_dir, columns=COLUMNS,
                         order_by=ORDER) as tr, \
         PetastormSource(spark, rows.where("split = 'validation'"), cache_dir=cache_dir, columns=COLUMNS,
                         order_by=ORDER) as va:
        has_validation = len(va) > 0
        val = (lambda e: va.batches(batch_size=256, seed=seed, epoch=0)) if has_validation else None
        result = fit(net, loss, lambda e: tr.batches(batch_size=batch_size, seed=seed, epoch=e), val, fit_config)
        net.eval()
        nll = evaluate_nll(loss, val(0))[0] if has_validation else float("nan")
        strings = {"train": len(tr), "validation": len(va)}
    rows.unpersist()
    # Diversity is matched to the training strings, a large and stable target, but asked for
    # with the conditions of validation strings: given a training string's own conditions
    # (brand and price band pin down a product), the network writes back what it learnt.
    held = rng.held_out(_row_key(seed), validation)
    sample = lambda rows: (rows.orderBy(rng.spark_key(seed, "calibrate", "text", "category"))  # noqa: E731
                           .limit(calibration_strings).collect())  # bounded
    real = sample(frame.where(~held)) or sample(frame)
    asked = unseen_conditions(real, sample(frame.where(held))) if has_validation else real
    model = TextModel({"args": args, "conditions": cond.to_json()}, tokenizer, net.state_dict())
    temperature = calibrate_temperature(model, real, seed, asked)
    spec = {"model": "text", "version": __version__, "seed": seed, "args": args, "conditions": cond.to_json(),
            "temperature": temperature, "lineage": lineage or {},
            "training": {"strings": strings, "history": result.history, "best_epoch": result.best_epoch,
                         "validation_nll_per_piece": nll, "pieces": n_pieces,
                         "train_seconds": round(time.time() - started, 1)}}
    return TextModel(spec, tokenizer, net.state_dict())


def _train_section(spark: SparkSession, conf, name: str, frame: DataFrame, lineage: dict) -> dict:
    """Fit the text model of `train.<name>` on `frame` (TEXT_DDL) and save it to
    `<output>/model/<name>`; returns its info."""
    t = getattr(conf.train, name)
    cfg = model_params(conf, TextConfig, t.params, f"train.{name}.params")
    frame = frame.orderBy(rng.spark_key(conf.seed, name, "text", "category")).limit(t.max_strings)
    fc = dataclasses.replace(fit_config(conf), epochs=t.epochs, max_minutes=t.max_minutes, label=f"{name} model: ")
    model = train_text(spark, frame, cfg, fc, cache_dir=conf.layout.cache, seed=conf.seed,
                       batch_size=t.batch_size, validation=conf.train.validation, lineage=lineage)
    path = conf.layout.model.text(name)
    model.save(path)
    return {"path": path, "temperature": model.spec["temperature"], **model.spec["training"]}


def _check_not_dp(conf, name: str) -> None:
    if conf.train.dp:
        raise ConfigError(f"train.{name}: the text model is not trained with DP-SGD; remove train.{name} or train.dp")


def train_queries(spark: SparkSession, conf) -> dict:
    """`train.text`: the text model of the training sample's search queries."""
    _check_not_dp(conf, "text")
    queries = (sampled_events(spark, conf).where((F.col("event_type") == "search") & F.col("query").isNotNull())
               .select(F.col("query").alias("text"), "category", F.lit(None).cast("string").alias("brand"),
                       F.lit(None).cast("double").alias("price")))
    if not queries.limit(1).count():
        raise ConfigError("train.text: the training sample has no search with a query; remove train.text")
    return _train_section(spark, conf, "text", queries, {"events_path": conf.layout.ingest.events})


def train_titles(spark: SparkSession, conf) -> dict:
    """`train.titles`: the text model of the real catalog's item titles (`ingest/items`)."""
    _check_not_dp(conf, "titles")
    path = conf.layout.ingest.items
    if not is_delta(spark, path):
        raise ConfigError(f"train.titles: no catalog at {path}; set input.items with a title column and rerun "
                          "`synthlib profile`, or remove train.titles")
    titles = (spark.read.format("delta").load(path).where(F.col("title").isNotNull())
              .select(F.col("title").alias("text"), "category", "brand", "price"))
    if not titles.limit(1).count():
        raise ConfigError(f"train.titles: every title in {path} is empty; remove train.titles")
    return _train_section(spark, conf, "titles", titles, {"items_path": path})
