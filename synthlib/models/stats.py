"""The `stats` synthesizer: sessions drawn from the profiled distributions alone.

User activity (sessions per user), session length, an event-type Markov chain, category
then item popularity (with the observed rates of staying in a category and repeating an
item), day of week, hour of day, inter-event gaps, click positions and top queries. It is
the baseline every learned model must beat.

Artifact: `model.json` (distributions and lineage) and `items.parquet` (the item table,
the `max_items` most popular items with category, weight and mean price).
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from synthlib import __version__, rng
from synthlib.models.artifact import MODEL_JSON, Artifact, spec_bytes
from synthlib.models.timeline import Conditions, Timeline, expand, within_session
from synthlib.schema import EVENT_TYPES, SESSION_START, codes_frame

ITEMS_FILE = "items.parquet"
SEARCH_INDEX, CLICK_INDEX = EVENT_TYPES.index("search"), EVENT_TYPES.index("click")  # event codes are 0-based
MAX_EVENTS = 1 << 16  # events per synthetic session


@dataclass(frozen=True)
class StatsConfig:
    max_items: int = 200_000  # items carried by the model, most popular first


def _spans(keys: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """[start, end) of each key 0..n-1 in a sorted key array."""
    return np.searchsorted(keys, np.arange(n), "left"), np.searchsorted(keys, np.arange(n), "right")


def _last(flags: np.ndarray) -> np.ndarray:
    """For each position, the rank among the flagged positions of the last flagged one up to it."""
    return np.cumsum(flags) - 1


class StatsModel(Artifact):
    """A fitted `stats` synthesizer. Build with `StatsSynthesizer.fit` or `StatsModel.load`."""

    kind = "stats"

    def __init__(self, spec: dict, items: pd.DataFrame):
        self.spec, self.items = spec, items
        self._prepare()

    @property
    def profile(self) -> dict:
        """The profiled distributions that place users' sessions in time."""
        return self.spec

    # -- persistence (synthlib.models.artifact.Artifact) ---------------------------------
    def to_bytes(self) -> dict[str, bytes]:
        """model.json and the items as Parquet: plain data to save and broadcast, never a pickle."""
        buf = io.BytesIO()
        self.items.to_parquet(buf, index=False)
        return {MODEL_JSON: spec_bytes(self.spec), ITEMS_FILE: buf.getvalue()}

    @classmethod
    def from_bytes(cls, files: dict[str, bytes]) -> "StatsModel":
        return cls(json.loads(files[MODEL_JSON]), pd.read_parquet(io.BytesIO(files[ITEMS_FILE])))

    def get_info(self) -> dict:
        return {"model": self.kind, "version": self.spec["version"], "items": len(self.items),
                "event_types": self.types, "lineage": self.spec["lineage"]}

    # -- sampling ----------------------------------------------------------------------
    def _prepare(self) -> None:
        s = self.spec
        # Sorted keys: the same draws whether the spec was just fitted or read from JSON.
        self.types = sorted(s["event_types"])
        self.type_code = np.array([EVENT_TYPES.index(t) for t in self.types], dtype=np.int8)
        # Event-type Markov chain over the states (start, *types); a state never left
        # continues as from the session start.
        m = np.array([[s["transitions"].get(a, {}).get(b, 0) for b in self.types] for a in (SESSION_START, *self.types)],
                     dtype=float)
        m[m.sum(1) == 0] = m[0] if m[0].sum() else 1.0
        self.transition_cdf = np.cumsum(m, 1)
        gaps = sorted((int(k), v) for k, v in s["gap_log2_seconds"].items()) or [(5, 1)]
        self.gap_bucket, self.gap_cdf = np.array([k for k, _ in gaps]), rng.cdf([v for _, v in gaps])
        # a log without click positions gets none (0 is written as null)
        pos = sorted((int(k), v) for k, v in s["click_position"].items()) or [(0, 1)]
        self.position, self.position_cdf = np.array([k for k, _ in pos]), rng.cdf([v for _, v in pos])
        items = self.items.assign(category=self.items["category"].fillna(""))
        items = items.sort_values(["category", "weight", "item_id"], ascending=[True, False, True])
        self.category_names, item_cat = np.unique(items["category"].to_numpy(dtype=str), return_inverse=True)
        self.item_ids = items["item_id"].to_numpy(dtype=object)
        self.item_category = item_cat
        self.item_price = items["mean_price"].to_numpy(dtype=float)
        self.item_weight = items["weight"].to_numpy(dtype=float)
        self.cat_start, self.cat_end = _spans(item_cat, len(self.category_names))
        self._item_cdfs = {1.0: np.cumsum(self.item_weight)}
        self.cat_weight = np.add.reduceat(self.item_weight, self.cat_start) if len(items) else np.zeros(0)
        # Top queries by category (their index in spec["top_queries"]); categories without
        # queries draw from all of them.
        q = s["top_queries"]
        code = {c: i for i, c in enumerate(self.category_names)}
        q_cat = np.array([code.get(x["category"] or "", -1) for x in q], dtype=np.int64)
        self.query_order = np.lexsort((np.arange(len(q)), q_cat))
        self.query_cdf = rng.cdf([q[i]["count"] for i in self.query_order])
        self.query_start, self.query_end = _spans(q_cat[self.query_order], len(self.category_names))
        self.all_queries = rng.cdf([x["count"] for x in q])

    def lookups(self) -> dict[str, pd.DataFrame]:
        """Item rows, category and query codes to their ids, names and texts (decoded in Spark)."""
        names = [c or None for c in self.category_names]
        return {"items": pd.DataFrame({"item": np.arange(len(self.item_ids), dtype=np.int32), "item_id": self.item_ids,
                                       "item_category": np.array(names, dtype=object)[self.item_category],
                                       "price": self.item_price}),
                "categories": pd.DataFrame({"category": np.arange(len(names), dtype=np.int32), "category_name": names}),
                "queries": pd.DataFrame({"query": np.arange(len(self.spec["top_queries"]), dtype=np.int32),
                                         "query_text": [x["query"] for x in self.spec["top_queries"]]})}

    def _category_cdf(self, mix: dict) -> np.ndarray:
        if not mix:
            return rng.cdf(self.cat_weight)
        unknown = sorted(set(mix) - set(self.category_names))
        if unknown:
            raise ValueError(f"generate.category_mix: {unknown[:5]} are not categories of the model's items "
                             f"(e.g. {list(self.category_names[:5])}); check the names against the stats")
        return rng.cdf([float(mix.get(c, 0.0)) for c in self.category_names])

    def _items_in(self, cat: np.ndarray, u: np.ndarray, power: float) -> np.ndarray:
        """Item rows drawn by popularity ** power within each category."""
        if power not in self._item_cdfs:
            self._item_cdfs[power] = np.cumsum(self.item_weight ** power)
        return rng.pick_in(self._item_cdfs[power], self.cat_start[cat], self.cat_end[cat], u)

    def _queries_in(self, cat: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Top-query indices drawn by count within each category (or among all)."""
        if not len(self.query_order):
            return np.full(len(cat), -1)
        lo, hi = self.query_start[cat], self.query_end[cat]
        own = hi > lo
        out = np.asarray(rng.pick(self.all_queries, u))
        out[own] = self.query_order[rng.pick_in(self.query_cdf, lo[own], hi[own], u[own])]
        return out

    def _event_types(self, length: np.ndarray, first: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Event types along each session's Markov chain, computed step by step over all the
        sessions still running (longest first, so those are a prefix)."""
        order = np.argsort(-length, kind="stable")
        runs, starts = length[order], first[order]
        out = np.zeros(len(u), dtype=np.int64)
        state = np.zeros(len(order), dtype=np.int64)  # 0: the session start
        for t in range(int(runs[0]) if len(runs) else 0):
            n = int(np.searchsorted(-runs, -t, side="left"))  # sessions longer than t
            idx = starts[:n] + t
            nxt = rng.pick_rows(self.transition_cdf[state[:n]], u[idx])
            out[idx] = nxt
            state[:n] = nxt + 1
        return self.type_code[out]

    def sample_block(self, first: int, last: int, *, seed: int, start: date, days: int,
                     conditions: Conditions = Conditions()) -> pd.DataFrame:
        """Event codes (schema.CODES_DDL) of synthetic users first..last-1.

        Every draw is keyed by the session and the event's place in it, so a user's events
        do not depend on the other users of the block.
        """
        same_category, same_item = self.spec["same_category_rate"], self.spec["same_item_rate"]
        timeline = Timeline(self.spec, start, days, conditions)
        key = rng.stream_key(seed, "generate", self.kind)
        users = np.arange(first, last, dtype=np.int64)
        owner, k, sessions = expand(users, timeline.session_counts(key, users))
        length = timeline.session_lengths(key, sessions, MAX_EVENTS)
        first_event = np.cumsum(length) - length
        s_idx = np.repeat(np.arange(len(sessions)), length)
        t_idx = np.arange(len(s_idx)) - first_event[s_idx]
        ent, counter = sessions[s_idx], 16 * t_idx
        u = lambda field: rng.uniform(key, ent, counter + field)  # noqa: E731

        event = self._event_types(length, first_event, u(0))
        # The category is kept with the profiled rate, else drawn afresh (always at the start).
        switch = (t_idx == 0) | (u(1) >= same_category)
        cat = rng.pick(self._category_cdf(conditions.category_mix), u(2)[switch])[_last(switch)]
        # The item is kept with the profiled rate, else drawn within the category; searches show none.
        search = event == SEARCH_INDEX
        after_search = np.r_[False, search[:-1]] & (t_idx > 0)
        draw = ~search & (switch | after_search | (u(3) >= same_item))
        drawn = self._items_in(cat[draw], u(4)[draw], conditions.item_power)
        item = np.where(search, -1, drawn[np.maximum(_last(draw), 0)] if len(drawn) else -1)
        # A search draws a query of its category; the clicks after it in the session carry it.
        query = np.full(len(event), -1, dtype=np.int64)
        query[search] = self._queries_in(cat[search], u(5)[search])
        last_search = np.maximum.accumulate(np.where(search, np.arange(len(event)), -1)) if len(event) else query
        carried = (last_search >= first_event[s_idx]) & (search | (event == CLICK_INDEX))
        query = np.where(carried, query[np.maximum(last_search, 0)], -1)
        position = np.where(event == CLICK_INDEX, self.position[rng.pick(self.position_cdf, u(6))], 0)
        b = self.gap_bucket[rng.pick(self.gap_cdf, u(7))].astype(np.float64)
        gap = np.where(t_idx > 0, (2 ** b - 1) + u(8) * 2 ** b, 0.0)
        starts = timeline.session_starts(key, sessions)
        return codes_frame(owner[s_idx], k[s_idx], starts[s_idx] + within_session(gap, s_idx), event, item, cat,
                           query, position)


class StatsSynthesizer:
    """Fits a `StatsModel` from a stats summary and the item statistics table."""

    def __init__(self, *, config: StatsConfig = StatsConfig()):
        self.config = config

    def fit(self, summary: dict, items: pd.DataFrame, *, seed: int, lineage: dict) -> StatsModel:
        """Args:
            summary: the profile JSON summary.
            items: item_id, category, events, mean_price; at most `max_items` rows.
            seed: the run seed, recorded.
            lineage: source path and version, recorded in the artifact.
        """
        if len(items) == 0:
            raise ValueError("the stats have no items; the input log has no item events")
        keep = ("event_types", "transitions", "hour_of_day", "day_of_week", "gap_log2_seconds",
                "same_item_rate", "same_category_rate", "sessions_per_user", "session_length",
                "top_queries")
        spec = {k: summary[k] for k in keep}
        spec.update(devices=summary.get("devices"), null_rates=summary.get("null_rates"))  # per session, at decoding
        spec["click_position"] = summary["click_through_by_position"]  # weights per position
        spec.update(model="stats", version=__version__, seed=seed, config=self.config.__dict__,
                    lineage=lineage, users=summary["users"], time_range=summary["time_range"])
        table = pd.DataFrame({"item_id": items["item_id"].astype(str), "category": items["category"],
                              "weight": items["events"].astype(float),
                              "mean_price": items["mean_price"].astype(float)})
        return StatsModel(spec, table)
