"""Training of the session model: the sample encoded in Spark, read through Petastorm, fitted;
its shape from the log's profile, its real item pairs under the k-user floor."""
from __future__ import annotations

import time
from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import torch
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from synthlib.config import Config, ConfigError
from synthlib.console import Progress
from synthlib.data.sessions import session_pairs
from synthlib.models.session import SessionModel
from synthlib.models.session_net import SessionConfig, SessionNet, build, model_args
from synthlib.models.session_baseline import CountBaseline
from synthlib.models.timeline import Conditions, ItemTable, NextItems
from synthlib.models.tokens import END, ROW_FIELDS, build_vocab
from synthlib.train import private
from synthlib.train.loader import PetastormSource
from synthlib.train.loop import device, evaluate_nll, fit
from synthlib.train.options import base_spec, fit_config, model_params
from synthlib.train.rows import encode, sampled_events, top_categories
from synthlib.train.shape import derive as derive_shape

ROW_COLUMNS = ["user_key", "chunk", "activity", "home_cat", *ROW_FIELDS]
PAIR_COLUMNS = ["next_items", "next_counts", "transitions", "fresh_counts"]
PAIR_SHARE_EVENTS = 50_000  # synthetic events that measure the network's own kept-pair share


def vocabulary(spark: SparkSession, conf: Config, summary: dict, items: pd.DataFrame, cfg):
    categories = (private.categories(summary, cfg.max_categories) if conf.train.dp
                  else top_categories(spark, conf, cfg.max_categories))
    return build_vocab(items.rename(columns={"events": "weight"}), categories,
                       [q["query"] for q in summary["top_queries"]], vocab_items=cfg.vocab_items,
                       max_categories=cfg.max_categories, candidates=cfg.candidates,
                       max_position=conf.profile.max_position)


def session_rows(spark: SparkSession, conf: Config, summary: dict, items: pd.DataFrame, cfg: SessionConfig,
                 events=None):
    """(vocabulary, cached token rows of the training sample) for the session model."""
    vocab = vocabulary(spark, conf, summary, items, cfg)
    rows = encode(spark, sampled_events(spark, conf) if events is None else events, vocab, max_events=cfg.max_events,
                  sessions_per_row=cfg.sessions_per_row, seed=conf.seed,
                  validation=0.0 if conf.train.dp else conf.train.validation)  # DP: every user trains
    return vocab, rows.cache()


def with_next_items(spark: SparkSession, events, items: pd.DataFrame, cfg: SessionConfig) -> tuple[pd.DataFrame, dict]:
    """The item table with the training sample's kept item pairs (data.sessions.session_pairs)
    between its items, whether each item clears the same k-user floor (`shared`: generation
    backs the others off to their category's shared items, ItemTable), and a summary."""
    found = pd.DataFrame(columns=["item_id", "next_items", "next_counts", "transitions", "fresh_counts"])
    shared = pd.DataFrame(columns=["item_id"])
    if len(items):
        known = F.broadcast(spark.createDataFrame(items[["item_id"]]))
        held = events.join(known, "item_id")
        table = session_pairs(held, min_users=cfg.next_min_users, per_item=cfg.next_items)
        found = table.toPandas()  # bounded: at most one row per item of the table
        shared = (held.groupBy("item_id").agg(F.countDistinct("user_id").alias("users"))
                  .where(F.col("users") >= cfg.next_min_users).select("item_id").toPandas())  # bounded: items
    out = items.merge(found, on="item_id", how="left")
    out["shared"] = out["item_id"].isin(shared["item_id"])
    for c in ("next_items", "next_counts"):
        out[c] = out[c].astype(object).where(out[c].notna(), None)
    for c in ("transitions", "fresh_counts"):
        out[c] = out[c].fillna(0).astype("int64")
    return out, {"min_users": cfg.next_min_users, "items": len(found),
                 "pairs": int(found["next_items"].map(len).sum()),
                 "kept_pair_counts": int(found["next_counts"].map(sum).sum()),
                 "fresh_pair_counts": int(found["fresh_counts"].sum()),
                 "pair_counts_of_those_items": int(found["transitions"].sum()),
                 **ItemTable.floor_summary(out)}


def network_pair_share(spec: dict, table: pd.DataFrame, state: dict, seed: int) -> dict:
    """How much of the kept pairs' fresh rate the network's own draws already give.

    Synthetic sessions are drawn without the kept pairs; over their events with a fresh item
    after an item that keeps pairs, the kept pairs hit over the sum of the previous items'
    fresh shares (NextItems.fresh). Generation then adds the kept pairs for the rest only."""
    alone = SessionModel(spec, table.drop(columns=PAIR_COLUMNS), state)
    follow = NextItems(table, alone.item_table.ids)
    first, last = (date.fromisoformat(spec["time_range"][k]) for k in ("first_day", "last_day"))
    as_generated = Conditions(follow_min_events=spec["shape"]["follow_min_events"]["value"])  # the item floor's reach
    hits = expected = 0.0
    events = user = 0
    while events < PAIR_SHARE_EVENTS and user < 100 * PAIR_SHARE_EVENTS:
        codes = alone.sample_block(user, user + 1000, seed=seed, start=first, days=(last - first).days + 1,
                                   conditions=as_generated)
        user, events = user + 1000, events + len(codes)
        row = pd.Series(np.where(codes["item"] >= 0, codes["item"], np.nan))
        keys = [codes["user"], codes["session"]]
        prev = row.groupby(keys).ffill().groupby(keys).shift()  # the session's latest item before each event
        pick = (row.notna() & prev.notna() & (row != prev)).to_numpy()
        a, b = prev[pick].to_numpy(dtype=np.int64), row[pick].to_numpy(dtype=np.int64)
        a_keeps = follow.fresh[a] > 0
        hits += float(follow.holds(a[a_keeps], b[a_keeps]).sum())
        expected += float(follow.fresh[a[a_keeps]].sum())
    return {"network_share": round(hits / expected, 4) if expected else 0.0, "measured_on_events": events}


def real_home_by_activity(rows) -> dict[str, dict[str, int]]:
    """Home category counts by activity of the training sample's users."""
    home = rows.where("chunk = 0").groupBy("activity", "home_cat").count().collect()  # bounded: 16 x categories
    out: dict[str, dict[str, int]] = {}
    for r in home:
        out.setdefault(str(r["activity"]), {})[str(r["home_cat"])] = int(r["count"])
    return out


def rows_per_step(rows, batch_size: int) -> int:
    """Training rows per step for about `batch_size` sessions (rows hold a user's sessions)."""
    per_row = rows.agg(F.avg("sessions")).first()[0] or 1.0
    return max(1, round(batch_size / per_row))


class StepCount:
    """What training processes against what it learns from, over one pass of the rows:
    positions carried in the rows, positions the recurrent core steps through (each
    session's events and END, packed), and the real events."""

    def __init__(self, packed: bool):
        self.packed = packed  # the GRU steps through packed sessions; the transformer attends over the batch width
        self.carried = self.stepped = self.inputs = self.events = 0

    def update(self, batch: dict, tok: dict) -> None:
        valid = tok["type"] > 0
        lengths = valid.sum(1)
        self.carried += batch["type"].numel()
        self.stepped += int(lengths.sum())
        self.inputs += int(lengths.max()) * len(lengths) if len(lengths) else 0
        self.events += int((valid & (tok["type"] != END)).sum())

    def summary(self) -> dict:
        per = lambda n: round(n / max(1, self.events), 3)  # noqa: E731
        of_inputs = round(1 - self.stepped / max(1, self.inputs), 3)
        return {"events": self.events, "steps_per_event": per(self.stepped), "carried_per_event": per(self.carried),
                "padding_share": 0.0 if self.packed else of_inputs, "padding_share_of_inputs": of_inputs}

    def line(self) -> str:
        s = self.summary()
        return (f"{s['steps_per_event']} steps per event (each session's events and its end), "
                f"{s['padding_share_of_inputs']:.0%} padding in the batches' inputs, "
                + ("none in the recurrent core" if self.packed else f"{s['padding_share']:.0%} in the core"))


def session_loss(net: SessionNet, dev: torch.device):
    """The fit loss of a session net on a batch of token rows."""
    return lambda b: net(*SessionNet.sessions({k: v.to(dev) for k, v in b.items()}, net.config.max_events))


def calibrate(net: SessionNet, source: PetastormSource, cfg: SessionConfig, seed: int, dev, sessions: int = 2000) -> float:
    """Match the mean generated session length to the training sessions' (see calibrate_end)."""
    tok, ctx = SessionNet.sessions(next(iter(source.batches(batch_size=sessions, seed=seed, epoch=0))),
                                   cfg.max_events)
    ctx = {k: v[:sessions].to(dev) for k, v in ctx.items()}
    mean_length = float(((tok["type"] > 0) & (tok["type"] != END)).sum(1).float().mean())
    return net.calibrate_end(ctx, mean_length, seed=seed)


def train_session(spark: SparkSession, conf: Config, summary: dict, items: pd.DataFrame, lineage: dict) -> SessionModel:
    started = time.time()
    derived, shape = derive_shape(summary, items, conf.train.params, dp=conf.train.dp is not None)
    cfg = model_params(conf, SessionConfig, {**conf.train.params, **derived})
    events = sampled_events(spark, conf)
    vocab, rows = session_rows(spark, conf, summary, items, cfg, events)
    dp = conf.train.dp
    if dp:  # the released pairs ride on the private items
        table, transitions = vocab.items, {"released": summary["privacy"]["pairs_released"]}
    elif not cfg.next_min_users:
        table, transitions = vocab.items, {"min_users": None}
    else:
        table, transitions = with_next_items(spark, events, vocab.items, cfg)
    home_by_activity = private.home_by_activity(vocab) if dp else real_home_by_activity(rows)
    sample = rows.where("chunk = 0").groupBy("split").count().collect()
    users = {r["split"]: int(r["count"]) for r in sample}
    if not users.get("train"):
        raise ConfigError("the training sample is empty; raise train.sample_fraction or train.max_users")

    torch.manual_seed(conf.seed)
    args = model_args(cfg, vocab)
    candidates = torch.as_tensor(vocab.candidate_table())
    dev = device()
    net = build(args, candidates).to(dev)
    loss = session_loss(net, dev)
    cache = conf.layout.cache
    bs, seed = rows_per_step(rows, conf.train.batch_size), conf.seed
    with PetastormSource(spark, rows.where("split = 'train'"), cache_dir=cache, columns=ROW_COLUMNS,
                         order_by=["user_key", "chunk"]) as tr, \
         PetastormSource(spark, rows.where("split = 'validation'"), cache_dir=cache, columns=ROW_COLUMNS,
                         order_by=["user_key", "chunk"]) as va:
        # Under DP no real figure steers or leaves training but DP-SGD's: no validation users.
        validation = (lambda e: va.batches(batch_size=64, seed=seed, epoch=0)) \
            if users.get("validation") and not dp else None
        dp_rows = None
        if conf.train.dp:  # one row per user (its first chunk): the unit of privacy
            mem = tr.to_memory()
            first = mem["chunk"] == 0
            dp_rows = {k: v[first].to(dev) for k, v in mem.items()}
        baseline = CountBaseline(args["n_cats"], args["n_items"], args["n_queries"], args["n_positions"], candidates)
        steps = StepCount(packed=cfg.arch == "gru")
        for b in tr.batches(batch_size=bs, seed=seed, epoch=0):
            tok = SessionNet.sessions(b, cfg.max_events)[0]
            baseline.update(tok)
            steps.update(b, tok)
        counts = private.popularity(vocab) if dp else (baseline.c["cat"], baseline.c["item"])
        net.init_popularity(counts[0].to(dev), counts[1].to(dev))
        support = private.support(summary) if dp else baseline.support()
        net.set_support(support)
        fc = fit_config(conf, train_events=private.released_events(summary, cfg.max_events, conf.train.sample_fraction)
                        if dp else steps.events)
        if dp:
            fc = replace(fc, noise_for=private.noise_for(conf, summary))
        Progress(fc.progress).line(f"session model: {steps.line()}; {fc.epochs} epochs of {steps.events:,} "
                                   f"events ({fc.budget})")
        result = fit(net, loss, lambda e: tr.batches(batch_size=bs, seed=seed, epoch=e), validation,
                     fc, dp_rows=dp_rows, dp_units=private.session_units(net) if dp else None)
        held_out = [baseline.nll(SessionNet.sessions(b, cfg.max_events)[0])
                    for b in (va.batches(batch_size=256, seed=seed, epoch=0) if validation else [])]
        net.eval()
        model_nll, parts = evaluate_nll(loss, validation(0)) if validation else (float("nan"), {})
        end_bias = net.calibrate_end({k: v.to(dev) for k, v in private.calibration_context(vocab, 2000, seed).items()},
                                     private.mean_session_length(summary, cfg.max_events), seed=seed) if dp \
            else calibrate(net, tr, cfg, seed, dev)
    rows.unpersist()
    nll_events = max(1, sum(n for _, n in held_out))
    base_parts = {k: sum(p[k] for p, _ in held_out) / nll_events for k in (held_out[0][0] if held_out else {})}
    training = {"users": users, "history": result.history, "best_epoch": result.best_epoch,
                "stopped_by": result.stopped_by, "budget": fc.budget, "steps": steps.summary(),
                "validation_nll": model_nll, "validation_components": parts,
                "stats_baseline_validation_nll": sum(base_parts.values()) if held_out else None,
                "stats_baseline_components": base_parts,
                "end_bias": end_bias, "next_items": transitions, "privacy": result.privacy, "epsilon": result.epsilon,
                "delta": fc.delta if dp else None, "device": str(dev)}
    spec = {**base_spec(conf, "session", summary, lineage, started), "args": args, "training": training,
            "home_by_activity": home_by_activity, "shape": shape, "support": support,
            "vocab": {"categories": list(vocab.categories), "queries": list(vocab.queries),
                      "max_position": vocab.max_position}}
    spec["lineage"] = {**lineage, "sample_fraction": conf.train.sample_fraction, "max_users": conf.train.max_users,
                       "sample_users": sum(users.values())}
    if dp:
        spec["training"], spec["privacy"] = (private.public_training(training),
                                             private.privacy_statement(conf, summary, result.epsilon, result.dp_sgd))
        spec["lineage"] = {k: v for k, v in spec["lineage"].items() if k != "sample_users"}
    net.to("cpu")
    if "fresh_counts" in table:
        spec["training"]["next_items"].update(network_pair_share(spec, table, net.state_dict(), seed))
    return SessionModel(spec, table, net.state_dict())
