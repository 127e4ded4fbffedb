"""The exposure model: which items a request shows, in which order, and which get clicked.

- Candidates: the real log's shown items with their category and how often they were shown
  (only items that at least `min_users` distinct users were shown). A request shows items of
  its category (all items when it has none), drawn without replacement with probability
  proportional to their real shows (Plackett-Luce, by Gumbel top-k), the first drawn on top.
- Recent items: a position shows one of the items the synthetic session held before the
  request (most recent first) with the surface's `recent` share: the real lists' share of
  such items beyond what the draw by category and shows gives by chance (calibrated at
  training, `recent_beyond_chance`).
- Clicks: a position-based model (synthlib.data.exposure): position k examined with
  `examination[k]`, an examined item clicked with its attractiveness. A search request takes
  its clicks from the synthetic click events that follow it: each clicked item at its
  position, the other positions drawn from the candidates. In a log without searches, the
  synthetic click events are the clicks of its main surface (`event_clicks`), at their
  position or one drawn from the real clicks' positions (`click_positions`), and its other
  requests show no click. Otherwise requests of other surfaces draw their clicks.
- List shapes: the real distribution of a list's first position and length, by surface (a
  log may keep a single row of a slate as its request, at position 2 or 3).
- Copies: the keys of the real lists of at least MIN_COPY_LENGTH items; a synthetic list with
  one is drawn again (at most COPY_REDRAWS times) in its unclicked positions.

Every draw derives from (seed, request key), so a request's list does not depend on the
partitioning.
"""
from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather

from synthlib import rng
from synthlib.models.artifact import MODEL_JSON, Artifact, spec_bytes
from synthlib.models.guards import item_keys, sequence_keys

MIN_COPY_LENGTH = 3
COPY_REDRAWS = 3
MAX_CANDIDATES = 1000  # per category, most shown first
_CLICKS, _RECENT = (COPY_REDRAWS + 1) * 2**20, (COPY_REDRAWS + 2) * 2**20  # counters of a request's stream
_ITEMS, _COPIES = "items.arrow", "copy_keys.i64"


def list_keys(item_ids: list[str], lengths) -> np.ndarray:
    """One int64 key per list (lists one after the other), over its item ids in order."""
    return sequence_keys(item_keys(item_ids), np.asarray(lengths))


class ImpressionModel(Artifact):
    kind = "impressions"

    def __init__(self, spec: dict, items: pd.DataFrame, copy_keys: np.ndarray):
        self.spec, self.items, self.copy_keys = spec, items.reset_index(drop=True), copy_keys
        self.examination = np.asarray(spec["examination"], dtype=np.float64)
        self.item_ids = self.items["item_id"].to_numpy(dtype=object)
        self.attract = self.items["attractiveness"].to_numpy(dtype=np.float64)
        self.price = self.items["price"].to_numpy(dtype=np.float64)
        self.log_shows = np.log(self.items["shows"].to_numpy(dtype=np.float64))
        self.index = {item: i for i, item in enumerate(self.item_ids)}
        self._item_keys: dict[str, int] = {}
        self._holding: dict[tuple, tuple[list, list]] = {}  # (surface, lo, hi) -> shapes holding them, cdf
        self._stream: tuple[int, int] | None = None
        self.by_category: dict[str, np.ndarray] = {}
        for category, rows in self.items.groupby(self.items["category"].fillna(""), sort=True).indices.items():
            rows = np.asarray(rows)
            self.by_category[category] = rows[np.argsort(-self.log_shows[rows], kind="stable")][:MAX_CANDIDATES]
        self.everything = np.argsort(-self.log_shows, kind="stable")[:MAX_CANDIDATES]
        self.recent_share = spec.get("recent", {})
        self.shapes = {s: ([tuple(int(x) for x in k.split(":")) for k in pmf], np.cumsum(list(pmf.values())).tolist())
                       for s, pmf in spec["list_shape"].items()}

    # -- the artifact ---------------------------------------------------------------------
    def to_bytes(self) -> dict[str, bytes]:
        sink = io.BytesIO()
        feather.write_feather(pa.Table.from_pandas(self.items, preserve_index=False), sink)
        return {MODEL_JSON: spec_bytes(self.spec), _ITEMS: sink.getvalue(),
                _COPIES: np.asarray(self.copy_keys, dtype="<i8").tobytes()}

    @classmethod
    def from_bytes(cls, files: dict[str, bytes]) -> "ImpressionModel":
        items = feather.read_table(io.BytesIO(files[_ITEMS])).to_pandas()
        return cls(json.loads(files[MODEL_JSON]), items, np.frombuffer(files[_COPIES], dtype="<i8").astype(np.int64))

    # -- sampling -------------------------------------------------------------------------
    def _positions(self, surface: str, u: float, clicked: list[int]) -> list[int]:
        """The positions a list shows: a real shape that holds its clicked positions (the
        likeliest is widened to them where none does)."""
        shapes, cdf = self.shapes.get(surface) or next(iter(self.shapes.values()))
        if clicked:
            key = (surface, min(clicked), max(clicked))
            if key not in self._holding:
                self._holding[key] = self._holding_shapes(shapes, cdf, *key[1:])
            shapes, cdf = self._holding[key]
        first, length = shapes[rng.pick(cdf, u)]
        return list(range(min([first, *clicked]), max([first + length - 1, *clicked]) + 1))

    @staticmethod
    def _holding_shapes(shapes: list, cdf: list, lo: int, hi: int) -> tuple[list, list]:
        """The shapes that span positions lo..hi, with their cdf (all of them where none does)."""
        mass = np.diff(cdf, prepend=0.0)
        holds = [(s, m) for s, m in zip(shapes, mass) if s[0] <= lo and s[0] + s[1] - 1 >= hi]
        if not holds:
            return shapes, cdf
        return [s for s, _ in holds], np.cumsum([m for _, m in holds]).tolist()

    def _fill(self, pool: np.ndarray, taken: set[int], n: int, u: np.ndarray) -> list[int]:
        """`n` distinct items of `pool` not in `taken`, Plackett-Luce by shows (Gumbel top-k)."""
        keys = self.log_shows[pool] - np.log(-np.log(np.clip(u, 1e-12, 1 - 1e-12)))
        order = pool[np.argsort(-keys, kind="stable")]
        return [int(i) for i in order if int(i) not in taken][:n]

    def _is_copy(self, items: list[str]) -> bool:
        """Whether a list of MIN_COPY_LENGTH+ items is a real list (by its key)."""
        if len(items) < MIN_COPY_LENGTH or not len(self.copy_keys):
            return False
        cache = self._item_keys
        keys = [cache[i] if i in cache else cache.setdefault(i, int(item_keys([i])[0])) for i in items]
        key = sequence_keys(np.array(keys, dtype=np.uint64), np.array([len(keys)]))[0]
        at = min(int(np.searchsorted(self.copy_keys, key)), len(self.copy_keys) - 1)
        return bool(self.copy_keys[at] == key)

    def request(self, key: int, surface: str, category: str | None, clicks: list[tuple[str, int]],
                seed: int, draw_clicks: bool, recent: list[str] = ()) -> list[tuple[str, int, bool]]:
        """(item_id, position, clicked) of one request. `clicks`: the (item, position) of its
        synthetic click events (each kept at its position); with `draw_clicks`, the click
        model draws the clicks instead. `recent`: the items its session held before it, most
        recent last. Counters of the request's stream: 0 the shape, 1.. the candidates, then
        one block per redraw of a copied list, then the clicks', then the recent items'."""
        pool = self.by_category.get(category or "", self.everything)
        u = rng.uniform(self.stream(seed), key, np.arange(1 + len(pool)))
        fixed = {p: item for item, p in clicks}
        free = [p for p in self._positions(surface, float(u[0]), list(fixed)) if p not in fixed]
        shown = dict(fixed) | self._recent(key, seed, surface, free, recent, set(fixed.values()))
        free = [p for p in free if p not in shown]
        taken = {self.index[i] for i in shown.values() if i in self.index}
        chosen = dict(shown)
        for attempt in range(COPY_REDRAWS + 1):
            if attempt:
                u = rng.uniform(self.stream(seed), key, attempt * 2**20 + np.arange(1 + len(pool)))
            drawn = self._fill(pool, taken, len(free), u[1:])
            shown = chosen | {p: self.item_ids[i] for p, i in zip(free, drawn)}
            positions = sorted(shown)
            if not self._is_copy([shown[p] for p in positions]):
                break
        if not draw_clicks:
            return [(shown[p], p, p in fixed) for p in positions]
        x = rng.uniform(self.stream(seed), key, _CLICKS + np.arange(len(positions)))
        index = [self.index.get(shown[p], -1) for p in positions]
        exam = self.examination[np.minimum(positions, len(self.examination)) - 1]
        clicked = (np.array(index) >= 0) & (x < exam * self.attract[index])
        return [(shown[p], p, bool(c)) for p, c in zip(positions, clicked)]

    def _recent(self, key: int, seed: int, surface: str, free: list[int], recent, clicked: set) -> dict[int, str]:
        """The free positions that show one of the session's recent items, most recent first."""
        share = self.recent_share.get(surface, 0.0)
        queue = [i for i in dict.fromkeys(reversed(list(recent))) if i not in clicked]
        if not share or not queue or not free:
            return {}
        x = rng.uniform(self.stream(seed), key, _RECENT + np.arange(len(free)))
        placed = {}
        for p, v in zip(free, x):
            if v < share and queue:
                placed[p] = queue.pop(0)
        return placed

    def chance_of_recent(self, requests: list[tuple[str | None, list[str], int]], seed: int) -> float:
        """The share of shown items that the draw by category and shows alone takes from the
        session's recent items, over (category, recent items, list length) of real requests."""
        hits = shown = 0
        for n, (category, recent, length) in enumerate(requests):
            pool = self.by_category.get(category or "", self.everything)
            u = rng.uniform(rng.stream_key(seed, "recent-chance"), n, np.arange(len(pool)))
            drawn = self._fill(pool, set(), length, u)
            hits += sum(self.item_ids[i] in set(recent) for i in drawn)
            shown += len(drawn)
        return hits / shown if shown else 0.0

    def stream(self, seed: int) -> int:
        if self._stream is None or self._stream[0] != seed:
            self._stream = (seed, rng.stream_key(seed, "impressions"))
        return self._stream[1]

    def get_info(self) -> dict:
        return {"model": self.kind, "items": len(self.items), "copy_keys": len(self.copy_keys),
                "examination": [round(float(x), 4) for x in self.examination],
                "surfaces": self.spec["surfaces"], "recent": self.recent_share}
