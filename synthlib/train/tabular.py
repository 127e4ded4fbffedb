"""Training of the tabular models (`ctgan`, `tvae`): per-event rows of the sample, read
through Petastorm."""
from __future__ import annotations

import dataclasses
import time

import numpy as np
import pandas as pd
import torch
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from synthlib import rng
from synthlib.config import Config
from synthlib.models.ctgan import CondVector, CTGANConfig, CTGANModel, CTGANNet, fit_ctgan
from synthlib.models.tabular import DISCRETE, ROW_COLUMNS as ROWS, Encoder, event_rows, fit_modes
from synthlib.models.tokens import N_TYPES
from synthlib.models.tvae import TVAEConfig, TVAEModel, TVAENet
from synthlib.train.loader import PetastormSource
from synthlib.train.loop import fit
from synthlib.train.options import base_spec, fit_config, model_params
from synthlib.train.rows import sampled_events, token_table, top_categories

MAX_CATEGORIES = 1_000  # category tokens of the tabular models; the rest share one
MAX_EVENTS = 200  # longest session the tabular models assemble


def train_tabular(spark: SparkSession, conf: Config, summary: dict, items: pd.DataFrame, lineage: dict):
    """`ctgan` or `tvae`: per-event rows of the sample, read through Petastorm."""
    started, kind = time.time(), conf.train.model
    config_cls, model_cls = {"ctgan": (CTGANConfig, CTGANModel), "tvae": (TVAEConfig, TVAEModel)}[kind]
    cfg = model_params(conf, config_cls)
    categories = top_categories(spark, conf, MAX_CATEGORIES)
    cat_tokens = token_table(spark, [(c, i + 1) for i, c in enumerate(categories)], "category", "cat_token")
    rows = event_rows(sampled_events(spark, conf), cat_tokens, other_cat=len(categories) + 1,
                      max_position=conf.profile.max_position).cache()
    sizes = {"type": N_TYPES - 2, "cat": len(categories) + 2, "hour": 24, "pos": conf.profile.max_position + 1,
             "first": 2}
    # One pass, bounded: a count per (discrete column, value).
    pairs = F.explode(F.array(*[F.struct(F.lit(c).alias("c"), F.col(c).alias("v")) for c in DISCRETE]))
    found = {(r["c"], r["v"]): r["count"] for r in rows.select(pairs.alias("p")).groupBy("p.c", "p.v").count().collect()}
    counts = {c: [float(found.get((c, v), 0)) for v in range(sizes[c])] for c in DISCRETE}
    # Modes from a bounded, seeded sample of the continuous column (first events have no gap).
    gaps = [r[0] for r in rows.where("first = 0").orderBy("row_key").select("log_gap").limit(20_000).collect()]
    w, mu, sd = fit_modes(np.asarray(gaps or [0.0]), cfg.modes, conf.seed)
    modes = {"log_gap": {"weights": w.tolist(), "means": mu.tolist(), "stds": sd.tolist()}}
    enc = Encoder(sizes, modes)
    holdout = rng.held_out(F.col("row_key"), conf.train.validation)
    cache, seed = conf.layout.cache, conf.seed
    torch.manual_seed(seed)
    with PetastormSource(spark, rows.where(~holdout), cache_dir=cache, columns=ROWS, order_by=["row_key"]) as tr, \
         PetastormSource(spark, rows.where(holdout), cache_dir=cache, columns=ROWS, order_by=["row_key"]) as va:
        batches = lambda e: tr.batches(batch_size=conf.train.batch_size, seed=seed, epoch=e)  # noqa: E731
        if kind == "ctgan":
            net = CTGANNet(cfg, enc.width, CondVector(sizes, counts).width)
            history, best = fit_ctgan(net, enc, CondVector(sizes, counts), batches, fit_config(conf, train_events=len(tr))), None
        else:
            net = TVAENet(cfg, enc)
            validation = (lambda e: va.batches(batch_size=2048, seed=seed, epoch=0)) if len(va) else None
            result = fit(net, net.loss, batches, validation, fit_config(conf, train_events=len(tr)))
            history, best = result.history, result.best_validation_nll
    rows.unpersist()
    spec = {**base_spec(conf, kind, summary, lineage, started), "config": dataclasses.asdict(cfg),
            "sizes": sizes, "modes": modes, "counts": counts, "categories": categories, "max_events": MAX_EVENTS,
            "training": {"history": history, "validation_loss": best, "privacy": "none", "device": "cpu"}}
    spec["lineage"] = {**lineage, "sample_fraction": conf.train.sample_fraction, "max_users": conf.train.max_users}
    return model_cls(spec, items.rename(columns={"events": "weight"}), net.state_dict())
