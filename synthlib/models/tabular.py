"""Per-event rows for the tabular synthesizers (`ctgan`, `tvae`), and their encoding.

A row is one event: its type, category token, hour of day and click position (discrete)
and the log of the seconds since the previous event of its session (continuous, with a
discrete flag for a session's first event). Continuous columns get CTGAN's mode-specific
normalization: a Gaussian mixture per column, each value encoded as its mode (one-hot)
and its offset within the mode (a scalar in about [-1, 1]).

Sessions are assembled at generation: users and session counts from the profile, session
lengths from the profiled histogram, events from the model, items by popularity within
the generated category.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from pyspark.sql import Window
from pyspark.sql import functions as F_

from synthlib import rng
from synthlib.models.timeline import Conditions, ItemTable, Timeline, expand, to_codes
from synthlib.models.tokens import N_TYPES
from synthlib.schema import EVENT_TYPES

DISCRETE = ("type", "cat", "hour", "pos", "first")
CONTINUOUS = ("log_gap",)
ROW_COLUMNS = [*DISCRETE, *CONTINUOUS]


def event_rows(events, cat_tokens, *, other_cat: int, max_position: int):
    """Spark: one row per event of the sample, ints and a float (log seconds since the
    previous event of the session; 0 on the first)."""
    w = Window.partitionBy("session_id").orderBy("ts", "event_type", "item_id")
    gap = F_.unix_millis("ts") / 1000.0 - F_.unix_millis(F_.lag("ts").over(w)) / 1000.0
    return (events.join(cat_tokens, "category", "left").select(
        F_.array_position(F_.array(*[F_.lit(t) for t in EVENT_TYPES]), F_.col("event_type")).cast("int").alias("type"),
        F_.when(F_.col("category").isNull(), 0).otherwise(F_.coalesce("cat_token", F_.lit(other_cat))).alias("cat"),
        F_.hour("ts").alias("hour"),
        F_.when(F_.col("event_type") == "click", F_.least(F_.coalesce("position", F_.lit(0)), F_.lit(max_position)))
        .otherwise(0).cast("int").alias("pos"),
        gap.isNull().cast("int").alias("first"),
        F_.log1p(F_.coalesce(gap, F_.lit(0.0))).cast("double").alias("log_gap"),
        F_.xxhash64("session_id", "ts", "item_id").alias("row_key")))


def fit_modes(x: np.ndarray, modes: int, seed: int, iters: int = 50) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 1-D Gaussian mixture by EM: (weights, means, stds); modes with no weight are dropped."""
    x = np.asarray(x, dtype=float)
    gen = np.random.default_rng(seed)
    mu = np.quantile(x, (np.arange(modes) + 0.5) / modes) + gen.normal(0, 1e-3, modes)
    sd = np.full(modes, x.std() + 1e-3)
    w = np.full(modes, 1.0 / modes)
    for _ in range(iters):
        logp = -0.5 * ((x[:, None] - mu) / sd) ** 2 - np.log(sd) + np.log(w + 1e-12)
        r = np.exp(logp - logp.max(1, keepdims=True))
        r /= r.sum(1, keepdims=True)
        n = r.sum(0) + 1e-9
        w, mu = n / len(x), (r * x[:, None]).sum(0) / n
        sd = np.sqrt((r * (x[:, None] - mu) ** 2).sum(0) / n) + 1e-3
    keep = w > 1e-3
    return w[keep] / w[keep].sum(), mu[keep], sd[keep]


class Encoder:
    """Rows <-> model vectors: one-hots for discrete columns, (offset, mode one-hot) for
    continuous ones. `spans` lists (column, kind, width) in vector order."""

    def __init__(self, sizes: dict[str, int], modes: dict[str, dict]):
        self.sizes, self.modes = sizes, modes
        self.spans = [(c, "discrete", sizes[c]) for c in DISCRETE]
        for c in CONTINUOUS:
            self.spans += [(c, "offset", 1), (c, "mode", len(modes[c]["means"]))]
        self.width = sum(w for _, _, w in self.spans)

    def encode(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        parts = [F.one_hot(batch[c].long().clamp(0, self.sizes[c] - 1), self.sizes[c]).float() for c in DISCRETE]
        for c in CONTINUOUS:
            m = self.modes[c]
            mu, sd, w = (torch.tensor(m[k], dtype=torch.float32) for k in ("means", "stds", "weights"))
            x = batch[c].float().unsqueeze(1)
            k = (-0.5 * ((x - mu) / sd) ** 2 - torch.log(sd) + torch.log(w)).argmax(1)
            parts += [((x.squeeze(1) - mu[k]) / (4 * sd[k])).clamp(-1, 1).unsqueeze(1),
                      F.one_hot(k, len(mu)).float()]
        return torch.cat(parts, 1)

    def activate(self, out: torch.Tensor, tau: float | None = None) -> torch.Tensor:
        """Raw network output -> vector space: tanh offsets, (Gumbel-)softmax one-hots."""
        parts, i = [], 0
        for _, kind, w in self.spans:
            x = out[:, i:i + w]
            parts.append(torch.tanh(x) if kind == "offset" else
                         F.gumbel_softmax(x, tau=tau, hard=False) if tau else F.softmax(x, -1))
            i += w
        return torch.cat(parts, 1)

    def decode(self, probs: torch.Tensor, u: np.ndarray) -> dict[str, np.ndarray]:
        """Vectors of probabilities -> column values; discrete picks use the uniforms u (N, k)."""
        out, i, j = {}, 0, 0
        for c, kind, w in self.spans:
            x = probs[:, i:i + w].double().numpy()
            if kind == "offset":
                offset = x[:, 0]
            else:
                pick = rng.pick_rows(np.cumsum(x, 1), u[:, j])
                j += 1
                if kind == "discrete":
                    out[c] = pick
                else:
                    m = self.modes[c]
                    out[c] = np.asarray(m["means"])[pick] + offset * 4 * np.asarray(m["stds"])[pick]
            i += w
        return out

    @property
    def draws(self) -> int:
        return len(DISCRETE) + len(CONTINUOUS)


def sample_sessions(model, first: int, last: int, *, seed: int, start, days: int,
                    conditions: Conditions = Conditions()) -> pd.DataFrame:
    """Event codes of users first..last-1, with sessions of profiled lengths filled with
    events from `model.sample_rows(event ids, key)` (a dict of column arrays)."""
    if conditions.category_mix:
        raise ValueError(f"generate.category_mix is not supported by the {model.kind} model; "
                         f"use the session or stats model, or leave it out")
    spec = model.spec
    timeline = Timeline(spec["profile"], start, days, conditions)
    ukey, skey = rng.stream_key(seed, model.kind, "user"), rng.stream_key(seed, model.kind, "event")
    users = np.arange(first, last, dtype=np.int64)
    owner, k, sessions = expand(users, timeline.session_counts(ukey, users))
    length = timeline.session_lengths(skey, sessions, spec["max_events"])
    T = int(length.max(initial=1))
    s_idx = np.repeat(np.arange(len(sessions)), length)
    t_idx = np.arange(len(s_idx)) - np.repeat(np.cumsum(length) - length, length)
    rows = model.sample_rows(sessions[s_idx] * 1024 + t_idx, skey)
    starts = timeline.session_starts(skey, sessions)
    first_rows = t_idx == 0
    # The session starts in the generated hour of its first event.
    hour0 = np.zeros(len(sessions), dtype=np.int64)
    hour0[s_idx[first_rows]] = rows["hour"][first_rows]
    starts = starts - np.floor((starts % 86400) / 3600) * 3600 + hour0 * 3600
    tokens = {f: np.zeros((len(sessions), T), dtype=np.int64) for f in ("type", "gap", "cat", "item", "pos", "query")}
    gap_s = np.where(first_rows, 0.0, np.expm1(np.clip(rows["log_gap"], 0, 17)))
    tokens["type"][s_idx, t_idx] = np.clip(rows["type"], 1, N_TYPES - 3)  # an event type, never END or BOS
    tokens["gap"][s_idx, t_idx] = np.where(first_rows, 0, np.floor(np.log2(gap_s + 1)) + 1).astype(np.int64)
    cat = rows["cat"]
    tokens["cat"][s_idx, t_idx] = cat
    tokens["pos"][s_idx, t_idx] = rows["pos"]
    # Items by popularity within the category: every item is a "tail" item here.
    tokens["item"][s_idx, t_idx] = np.where(rows["type"] == 1, 0, model.item_table.n_vocab + 1 + cat)
    return to_codes(tokens, owner, k, starts, model.item_table, skey, sessions, conditions.item_power)


def item_table(items: pd.DataFrame, categories: tuple[str, ...]) -> ItemTable:
    """All items as tail items of their category token (popularity within the category)."""
    tok = {c: i + 1 for i, c in enumerate(categories)}
    table = items.assign(token=0, cat_token=[tok.get(c, len(categories) + 1) if isinstance(c, str) else 0
                                             for c in items["category"]])
    return ItemTable(table, len(categories) + 2, categories)
