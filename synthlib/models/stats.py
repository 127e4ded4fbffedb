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
import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

import numpy as np
import pandas as pd

from synthlib import __version__, rng
from synthlib.models.artifact import ModelArtifactError, load_artifact, save_artifact
from synthlib.profile import END, START
from synthlib.schema import rows_to_frame

ITEMS_FILE = "items.parquet"


@dataclass(frozen=True)
class StatsConfig:
    max_items: int = 200_000  # items carried by the model, most popular first


def _cdf(weights) -> list[float]:
    """A cumulative distribution as a Python list: the fast path of `rng.pick` for scalars."""
    return np.cumsum(np.asarray(weights, dtype=float)).tolist()


def _hist_sampler(hist: dict) -> tuple[list[int], list[float]]:
    return [int(b) for b in hist["bins"]], _cdf(hist["counts"])


def _draw_count(sampler: tuple[list[int], list[float]], u1: float, u2: float) -> int:
    """A count from a profile histogram; power-of-two buckets [b, 2b) are filled uniformly."""
    bins, cdf = sampler
    b = bins[rng.pick(cdf, u1)]
    return b if b < 64 else b + int(u2 * b)


class StatsModel:
    """A fitted `stats` synthesizer. Build with `StatsSynthesizer.fit` or `StatsModel.load`."""

    kind = "stats"

    def __init__(self, spec: dict, items: pd.DataFrame):
        self.spec, self.items = spec, items
        self._prepare()

    # -- persistence -------------------------------------------------------------------
    def save(self, path: str) -> None:
        """Write the artifact; `model.json` goes last and pins the items file by hash."""
        spec_json, items = self.to_bytes()
        save_artifact(path, json.loads(spec_json), {ITEMS_FILE: items})

    @classmethod
    def load(cls, path: str) -> "StatsModel":
        """Read a saved model: plain JSON and Parquet only, never a pickle."""
        spec, files = load_artifact(path, cls.kind)
        try:
            return cls.from_bytes(json.dumps({k: v for k, v in spec.items() if k != "files"}), files[ITEMS_FILE])
        except (ValueError, KeyError, TypeError, OSError) as e:
            raise ModelArtifactError(f"model artifact at '{path}' is corrupted, truncated or tampered with "
                                     f"({type(e).__name__}: {e}); rerun `synthlib train`") from None

    def to_bytes(self) -> tuple[str, bytes]:
        """(spec JSON, items Parquet bytes): plain data to broadcast, never a pickle."""
        buf = io.BytesIO()
        self.items.to_parquet(buf, index=False)
        return json.dumps(self.spec, sort_keys=True), buf.getvalue()

    @classmethod
    def from_bytes(cls, spec_json: str, items: bytes) -> "StatsModel":
        return cls(json.loads(spec_json), pd.read_parquet(io.BytesIO(items)))

    def get_info(self) -> dict:
        return {"model": self.kind, "version": self.spec["version"], "items": len(self.items),
                "event_types": self.types, "lineage": self.spec["lineage"]}

    # -- sampling ----------------------------------------------------------------------
    def _prepare(self) -> None:
        s = self.spec
        # Sorted keys: the same draws whether the spec was just fitted or read from JSON.
        self.types = sorted(s["event_types"])
        self.transition_cdf = {}
        for a, row in s["transitions"].items():
            nxt = [(b, n) for b, n in sorted(row.items()) if b != END and b in self.types]
            if nxt:
                self.transition_cdf[a] = ([b for b, _ in nxt], _cdf([n for _, n in nxt]))
        self.sessions_per_user = _hist_sampler(s["sessions_per_user"])
        self.session_length = _hist_sampler(s["session_length"])
        self.hour = _cdf([s["hour_of_day"].get(str(h), 0) + 1e-9 for h in range(24)])
        self.dow = np.array([s["day_of_week"].get(str(d), 0) + 1e-9 for d in range(1, 8)])
        gaps = sorted((int(k), v) for k, v in s["gap_log2_seconds"].items()) or [(5, 1)]
        self.gap_bucket, self.gap_cdf = [k for k, _ in gaps], _cdf([v for _, v in gaps])
        pos = sorted((int(k), v) for k, v in s["click_position"].items()) or [(1, 1)]
        self.position, self.position_cdf = [k for k, _ in pos], _cdf([v for _, v in pos])
        q = s["top_queries"]
        self.queries = [x["query"] for x in q]
        self.query_cdf = _cdf([x["count"] for x in q])
        self.queries_by_category: dict[str, tuple[list[str], list[float]]] = {}
        for x in q:
            self.queries_by_category.setdefault(x["category"], ([], []))
        for x in q:
            qs, ws = self.queries_by_category[x["category"]]
            qs.append(x["query"])
            ws.append(x["count"])
        self.queries_by_category = {c: (qs, _cdf(ws)) for c, (qs, ws) in self.queries_by_category.items()}
        items = self.items.assign(category=self.items["category"].fillna(""))
        items = items.sort_values(["category", "weight", "item_id"], ascending=[True, False, True])
        self.item_ids = items["item_id"].to_numpy()
        self.item_category = items["category"].to_numpy()
        self.item_price = items["mean_price"].to_numpy(dtype=float)
        self.item_cdf = np.cumsum(items["weight"].to_numpy(dtype=float))
        _, starts = np.unique(self.item_category, return_index=True)
        ends = np.append(starts[1:], len(items))
        self.cat_start, self.cat_end = starts, ends
        self.cat_cdf = _cdf([self.item_cdf[e - 1] - (self.item_cdf[s0 - 1] if s0 else 0.0)
                             for s0, e in zip(starts, ends)])
        self._day_cdfs: dict[tuple[date, int], list[float]] = {}

    def _day_cdf(self, start: date, days: int) -> list[float]:
        """Days of the generation window weighted by the profiled day of week."""
        if (start, days) not in self._day_cdfs:
            self._day_cdfs[(start, days)] = _cdf(
                [self.dow[(start + timedelta(days=d)).isoweekday() % 7] for d in range(days)])
        return self._day_cdfs[(start, days)]

    def _item_in(self, cat: int, u: float) -> int:
        s0, e = self.cat_start[cat], self.cat_end[cat]
        base = self.item_cdf[s0 - 1] if s0 else 0.0
        i = int(self.item_cdf.searchsorted(base + u * (self.item_cdf[e - 1] - base), side="right"))
        return min(max(i, s0), e - 1)

    def sample_block(self, first: int, last: int, *, seed: int, start: date, days: int) -> pd.DataFrame:
        """Events of synthetic users first..last-1; each user's draws depend on (seed, index) alone."""
        key = rng.stream_key(seed, "generate", self.kind)
        return rows_to_frame([r for u in range(first, last) for r in self.sample_user(u, rng.Tape(key, u), start, days)])

    def sample_user(self, idx: int, tape: rng.Tape, start: date, days: int) -> list[tuple]:
        """All events of one synthetic user, as canonical rows (ts in epoch seconds)."""
        same_category, same_item = self.spec["same_category_rate"], self.spec["same_item_rate"]
        day0 = datetime.combine(start, time(), tzinfo=timezone.utc).timestamp()
        dow = self._day_cdf(start, days)
        user = f"synthetic:{idx}"
        n_sessions = _draw_count(self.sessions_per_user, tape(), tape())
        starts = sorted(rng.pick(dow, tape()) * 86400 + rng.pick(self.hour, tape()) * 3600
                        + tape() * 3600 for _ in range(n_sessions))
        rows = []
        for k, t0 in enumerate(starts):
            t = day0 + t0
            session = f"{user}:{k}"
            length = max(1, _draw_count(self.session_length, tape(), tape()))
            event, cat, item, query = START, rng.pick(self.cat_cdf, tape()), -1, None
            for _ in range(length):
                names, cdf = self.transition_cdf.get(event) or self.transition_cdf[START]
                event = names[rng.pick(cdf, tape())]
                if tape() >= same_category:
                    cat = rng.pick(self.cat_cdf, tape())
                position = None
                if event == "search":
                    item = -1
                    qs, qcdf = self.queries_by_category.get(self.item_category[self.cat_start[cat]],
                                                            (self.queries, self.query_cdf))
                    query = qs[rng.pick(qcdf, tape())] if qs else None
                elif item < 0 or tape() >= same_item:
                    item = self._item_in(cat, tape())
                if event == "click":
                    position = self.position[rng.pick(self.position_cdf, tape())]
                if item < 0:
                    item_id = category = price = None
                else:
                    item_id, category = self.item_ids[item], self.item_category[item] or None
                    price = float(self.item_price[item])
                    price = None if math.isnan(price) else price
                rows.append((user, session, t, event, item_id, category, price,
                             query if event in ("search", "click") else None, position, None))
                b = self.gap_bucket[rng.pick(self.gap_cdf, tape())]
                t += (2 ** b - 1) + tape() * 2 ** b
        return rows


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
        spec["click_position"] = summary["click_through_by_position"]  # weights per position
        spec.update(model="stats", version=__version__, seed=seed, config=self.config.__dict__,
                    lineage=lineage, users=summary["users"], time_range=summary["time_range"])
        table = pd.DataFrame({"item_id": items["item_id"].astype(str), "category": items["category"],
                              "weight": items["events"].astype(float),
                              "mean_price": items["mean_price"].astype(float)})
        return StatsModel(spec, table)
