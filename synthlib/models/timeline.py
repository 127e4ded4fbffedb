"""From tokens back to a click log: users, session start times, tail items and rows.

Shared by the learned models. Every draw is a counter-based uniform of (key, entity,
counter), so a user's or session's output depends on its own id and the seed alone.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import numpy as np
import pandas as pd

from synthlib import rng
from synthlib.encode import END
from synthlib.schema import COLUMN_NAMES, EVENT_TYPES

MAX_SESSIONS = 4096  # sessions per synthetic user; also the session-id stride per user
TYPE_NAMES = np.array([None, *EVENT_TYPES, None, None], dtype=object)


def _cdf(weights) -> np.ndarray:
    return np.cumsum(np.asarray(weights, dtype=float))


class Timeline:
    """Users' session counts and session start times, from the profiled distributions."""

    def __init__(self, spec: dict, start: date, days: int):
        hist = spec["sessions_per_user"]
        self.count_bins, self.count_cdf = np.asarray(hist["bins"], dtype=np.int64), _cdf(hist["counts"])
        self.hour_cdf = _cdf([spec["hour_of_day"].get(str(h), 0) + 1e-9 for h in range(24)])
        dow = [spec["day_of_week"].get(str(d), 0) + 1e-9 for d in range(1, 8)]
        self.day_cdf = _cdf([dow[(start + timedelta(days=d)).isoweekday() % 7] for d in range(days)])
        self.day0 = datetime.combine(start, time(), tzinfo=timezone.utc).timestamp()

    def session_counts(self, key: int, users: np.ndarray) -> np.ndarray:
        """Sessions per user; power-of-two buckets [b, 2b) are filled uniformly."""
        b = self.count_bins[rng.pick(self.count_cdf, rng.uniform(key, users, 0))]
        n = np.where(b < 64, b, b + (rng.uniform(key, users, 1) * b).astype(np.int64))
        return np.clip(n, 1, MAX_SESSIONS - 1)

    def session_starts(self, key: int, sessions: np.ndarray) -> np.ndarray:
        """Epoch seconds of each session's first event."""
        day = rng.pick(self.day_cdf, rng.uniform(key, sessions, 2))
        hour = rng.pick(self.hour_cdf, rng.uniform(key, sessions, 3))
        return self.day0 + day * 86400.0 + hour * 3600.0 + rng.uniform(key, sessions, 4) * 3600.0


class ItemTable:
    """Item tokens back to items: vocabulary tokens directly, tail slots by the category's
    tail distribution (its items without a token, weighted by their events)."""

    def __init__(self, items: pd.DataFrame, n_cats: int, categories: tuple[str, ...]):
        items = items.sort_values(["cat_token", "token", "weight", "item_id"], ascending=[True, True, False, True])
        self.ids = items["item_id"].to_numpy(dtype=object)
        self.category = items["category"].to_numpy(dtype=object)
        self.price = items["mean_price"].to_numpy(dtype=float)
        tokens = items["token"].to_numpy()
        self.by_token = np.zeros(int(tokens.max(initial=0)) + 1, dtype=np.int64)
        self.by_token[tokens[tokens > 0]] = np.nonzero(tokens > 0)[0]
        self.n_vocab = len(self.by_token) - 1
        # Per category token: the span of its items (sorted by category token).
        cats = items["cat_token"].to_numpy()
        # Vocabulary items weigh next to nothing: drawn only in a category without tail items.
        self.cdf = np.cumsum(np.where(tokens == 0, items["weight"].to_numpy(dtype=float), 1e-12))
        self.start = np.searchsorted(cats, np.arange(n_cats), "left")
        self.end = np.searchsorted(cats, np.arange(n_cats), "right")
        self.categories = np.array([None, *categories, None], dtype=object)

    def resolve(self, tokens: np.ndarray, cat: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Row index into the table of each item token (-1: no item)."""
        row = np.full(len(tokens), -1, dtype=np.int64)
        vocab = (tokens > 0) & (tokens <= self.n_vocab)
        row[vocab] = self.by_token[tokens[vocab]]
        tail = tokens > self.n_vocab
        if tail.any():
            c = cat[tail]
            lo, hi = self.start[c], self.end[c]
            empty = lo == hi
            lo, hi = np.where(empty, 0, lo), np.where(empty, len(self.ids), hi)
            base = np.where(lo > 0, self.cdf[np.maximum(lo - 1, 0)], 0.0)
            idx = np.searchsorted(self.cdf, base + u[tail] * (self.cdf[hi - 1] - base), side="right")
            row[tail] = np.clip(idx, lo, hi - 1)
        return row


def to_frame(tokens: dict[str, np.ndarray], users: np.ndarray, session_k: np.ndarray, starts: np.ndarray,
             items: ItemTable, queries: tuple[str, ...], key: int, sessions: np.ndarray) -> pd.DataFrame:
    """Canonical event rows from generated (S, T) token arrays, built column by column."""
    typ = tokens["type"]
    s_idx, t_idx = np.nonzero((typ > 0) & (typ != END))
    ent, step = sessions[s_idx], t_idx
    g = tokens["gap"][s_idx, t_idx]
    b = np.maximum(g - 1, 0).astype(np.float64)
    gap = np.where(g > 0, (2.0 ** b - 1) + rng.uniform(key, ent, 16 * step + 7) * 2.0 ** b, 0.0)
    offset = np.zeros(len(gap))
    if len(gap):  # cumulative gap within each session
        c = np.cumsum(gap)
        first = np.r_[True, s_idx[1:] != s_idx[:-1]]
        offset = c - np.maximum.accumulate(np.where(first, c - gap, 0.0))
    row = items.resolve(tokens["item"][s_idx, t_idx], tokens["cat"][s_idx, t_idx],
                        rng.uniform(key, ent, 16 * step + 8))
    has = row >= 0
    safe = np.where(has, row, 0)
    q = tokens["query"][s_idx, t_idx]
    query_names = np.array([None, *queries, None], dtype=object)
    pos = tokens["pos"][s_idx, t_idx]
    user_ids = np.char.add("synthetic:", users[s_idx].astype(str)).astype(object)
    df = pd.DataFrame({
        "user_id": user_ids,
        "session_id": (user_ids + ":" + session_k[s_idx].astype(str).astype(object)),
        "ts": pd.to_datetime(starts[s_idx] + offset, unit="s", utc=True).floor("ms"),
        "event_type": TYPE_NAMES[typ[s_idx, t_idx]],
        "item_id": np.where(has, items.ids[safe], None),
        "category": np.where(has, items.category[safe], items.categories[tokens["cat"][s_idx, t_idx]]),
        "price": np.where(has, items.price[safe], np.nan),
        "query": query_names[q],
        "position": pd.array(np.where(pos > 0, pos, 0), dtype="Int32"),
        "device": None,
    }, columns=list(COLUMN_NAMES))
    df.loc[pos <= 0, "position"] = pd.NA
    return df
