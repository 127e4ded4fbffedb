"""What every model's sampling shares: the conditions of a request, users' session counts,
lengths and start times, tail items, and the event codes built from tokens.

Every draw is a counter-based uniform of (key, entity,
counter), so a user's or session's output depends on its own id and the seed alone.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

import numpy as np
import pandas as pd

from synthlib import rng
from synthlib.models.tokens import END
from synthlib.schema import codes_frame

MAX_SESSIONS = 4096  # sessions per synthetic user; also the session-id stride per user


@dataclass(frozen=True)
class Conditions:
    """What to generate beyond how many users: left as they are, the model's own distributions."""
    category_mix: dict = field(default_factory=dict)  # category -> weight of sessions' categories
    min_sessions: int = 1  # the user segment: users with this many sessions ...
    max_sessions: int = MAX_SESSIONS - 1  # ... up to this many
    item_power: float = 1.0  # item probabilities ** power within a category; < 1 lifts the long tail
    follow_transitions: float = 0.0  # kept real item pairs: 0 at their share of an item's pairs, 1 always
    follow_min_events: int = 1  # follow_transitions applies to sessions of at least this many events


def _bucket_draw(bins: np.ndarray, cdf: np.ndarray, u1: np.ndarray, u2: np.ndarray) -> np.ndarray:
    """Counts from a profile histogram; power-of-two buckets [b, 2b) are filled uniformly."""
    b = bins[rng.pick(cdf, u1)]
    return np.where(b < 64, b, b + (u2 * b).astype(np.int64))


def _bucket_mean(bins: np.ndarray, weights: np.ndarray, lo: int, hi: int) -> float:
    mid = np.clip(np.where(bins < 64, bins, bins + (bins - 1) / 2), lo, hi)
    return float((mid * weights).sum() / weights.sum())


class Timeline:
    """Users' session counts, session lengths and session start times, from the profiled
    distributions, restricted to the user segment of `conditions`."""

    def __init__(self, spec: dict, start: date, days: int, conditions: Conditions = Conditions()):
        hist = spec["sessions_per_user"]
        self.lo, self.hi = conditions.min_sessions, min(conditions.max_sessions, MAX_SESSIONS - 1)
        bins, counts = np.asarray(hist["bins"], dtype=np.int64), np.asarray(hist["counts"], dtype=float)
        top = np.where(bins < 64, bins, 2 * bins - 1)  # the largest count in each bucket
        self.count_weights = np.where((top >= self.lo) & (bins <= self.hi), counts, 0.0)
        if self.count_weights.sum() <= 0:
            raise ValueError(f"no real user has between {self.lo} and {self.hi} sessions: widen "
                             f"generate.segment (the log's users have {bins.min()} to {top.max()} sessions)")
        self.count_bins, self.count_cdf = bins, rng.cdf(self.count_weights)
        lengths = spec["session_length"]
        self.length_bins = np.asarray(lengths["bins"], dtype=np.int64)
        self.length_weights = np.asarray(lengths["counts"], dtype=float)
        self.length_cdf = rng.cdf(self.length_weights)
        self.hour_cdf = rng.cdf([spec["hour_of_day"].get(str(h), 0) + 1e-9 for h in range(24)])
        dow = [spec["day_of_week"].get(str(d), 0) + 1e-9 for d in range(1, 8)]
        self.day_cdf = rng.cdf([dow[(start + timedelta(days=d)).isoweekday() % 7] for d in range(days)])
        self.day0 = datetime.combine(start, time(), tzinfo=timezone.utc).timestamp()

    def session_counts(self, key: int, users: np.ndarray) -> np.ndarray:
        """Sessions per user."""
        n = _bucket_draw(self.count_bins, self.count_cdf, rng.uniform(key, users, 0), rng.uniform(key, users, 1))
        return np.clip(n, self.lo, self.hi)

    def session_lengths(self, key: int, sessions: np.ndarray, most: int) -> np.ndarray:
        """Events per session, at most `most`."""
        n = _bucket_draw(self.length_bins, self.length_cdf,
                         rng.uniform(key, sessions, 10), rng.uniform(key, sessions, 11))
        return np.clip(n, 1, most)

    def session_starts(self, key: int, sessions: np.ndarray) -> np.ndarray:
        """Epoch seconds of each session's first event."""
        day = rng.pick(self.day_cdf, rng.uniform(key, sessions, 2))
        hour = rng.pick(self.hour_cdf, rng.uniform(key, sessions, 3))
        return self.day0 + day * 86400.0 + hour * 3600.0 + rng.uniform(key, sessions, 4) * 3600.0

    def expected_events_per_user(self) -> tuple[float, float]:
        """(sessions, events) per user on average: how a requested count becomes users."""
        sessions = _bucket_mean(self.count_bins, self.count_weights, self.lo, self.hi)
        return sessions, sessions * _bucket_mean(self.length_bins, self.length_weights, 1, 1 << 30)


def expand(users: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(owner, k, session id) of each session: user u's k-th session is u * MAX_SESSIONS + k."""
    owner = np.repeat(users, counts)
    k = np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)
    return owner, k, owner * MAX_SESSIONS + k


class ItemTable:
    """Item tokens back to items: vocabulary tokens directly, tail slots by the category's
    tail distribution (its items without a token, weighted by their events).

    With a `shared` column (the k-user floor of the real item pairs, applied to items), an
    item below the floor is backed off to its category where `resolve` is asked to (to_codes:
    in the sessions where the kept pairs follow): drawn from the category's shared items by
    their events, so that the event names an item at least k real users touched wherever
    its category holds one."""

    def __init__(self, items: pd.DataFrame, n_cats: int, categories: tuple[str, ...], network_share: float = 0.0):
        items = items.assign(_cat=items["category"].fillna("")).sort_values(
            ["cat_token", "_cat", "token", "weight", "item_id"], ascending=[True, True, True, False, True])
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
        self.weight = np.where(tokens == 0, items["weight"].to_numpy(dtype=float), 1e-12)
        self._cdfs = {1.0: np.cumsum(self.weight)}
        self.start = np.searchsorted(cats, np.arange(n_cats), "left")
        self.end = np.searchsorted(cats, np.arange(n_cats), "right")
        self.categories = categories  # names of category tokens 1..len(categories)
        self.follow = NextItems(items, self.ids, network_share) if "next_items" in items else None
        self.below = None  # per row: under the k-user floor, in a category that holds a shared item
        if "shared" in items:
            # Per row, the span of its own category's rows (a category token may hold many: "other").
            name = items["_cat"].to_numpy(dtype=object)
            first = np.r_[True, (name[1:] != name[:-1]) | (cats[1:] != cats[:-1])]
            group = np.cumsum(first) - 1
            bounds = np.r_[np.nonzero(first)[0], len(name)]
            self.cat_span = (bounds[group], bounds[group + 1])
            shared = items["shared"].to_numpy(dtype=bool)
            held = np.r_[0, np.cumsum(shared)]
            self.below = ~shared & (held[self.cat_span[1]] - held[self.cat_span[0]] > 0)
            self._shared_weight = np.where(shared, items["weight"].to_numpy(dtype=float), 0.0)
            self._shared_cdfs: dict[float, np.ndarray] = {}

    @staticmethod
    def floor_summary(items: pd.DataFrame) -> dict:
        """The item floor's reach: the share of the table's item events on shared items, and on
        items under the floor in a category without any (those stay as drawn)."""
        w = items["weight"].astype(float)
        cat = items["category"].fillna("")
        has_shared = items["shared"].groupby(cat).transform("any")
        total = max(float(w.sum()), 1e-12)
        return {"shared_item_event_share": round(float(w[items["shared"]].sum()) / total, 4),
                "unshared_categories_event_share": round(float(w[~has_shared].sum()) / total, 4)}

    def lookups(self) -> dict[str, pd.DataFrame]:
        """Item rows and category tokens to their ids and names (decoded in Spark)."""
        return {"items": pd.DataFrame({"item": np.arange(len(self.ids), dtype=np.int32), "item_id": self.ids,
                                       "item_category": self.category, "price": self.price}),
                "categories": pd.DataFrame({"category": np.arange(1, len(self.categories) + 1, dtype=np.int32),
                                            "category_name": list(self.categories)})}

    def _cdf(self, power: float, shared: bool = False) -> np.ndarray:
        cdfs, weight = (self._shared_cdfs, self._shared_weight) if shared else (self._cdfs, self.weight)
        if power not in cdfs:
            cdfs[power] = np.cumsum(weight ** power)
        return cdfs[power]

    def resolve(self, tokens: np.ndarray, cat: np.ndarray, u: np.ndarray, power: float = 1.0,
                u_floor: np.ndarray | None = None, floor: np.ndarray | bool = True) -> np.ndarray:
        """Row index into the table of each item token (-1: no item); tail slots are drawn by
        the category's tail popularity ** power; with `u_floor`, an item under the floor is
        drawn again where `floor` holds (one, or one per token), from its category's shared
        items by their popularity ** power."""
        row = np.full(len(tokens), -1, dtype=np.int64)
        vocab = (tokens > 0) & (tokens <= self.n_vocab)
        row[vocab] = self.by_token[tokens[vocab]]
        tail = tokens > self.n_vocab
        if tail.any():
            c = cat[tail]
            lo, hi = self.start[c], self.end[c]
            empty = lo == hi
            lo, hi = np.where(empty, 0, lo), np.where(empty, len(self.ids), hi)
            row[tail] = rng.pick_in(self._cdf(power), lo, hi, u[tail])
        if self.below is not None and u_floor is not None:
            low = np.nonzero((row >= 0) & np.broadcast_to(floor, row.shape))[0]
            low = low[self.below[row[low]]]
            row[low] = rng.pick_in(self._cdf(power, shared=True), self.cat_span[0][row[low]],
                                   self.cat_span[1][row[low]], u_floor[low])
        return row


class NextItems:
    """Item pairs kept from the real log (`synthlib.data.sessions.session_pairs`): after an
    item, one of the items it shares kept pairs with follows, in proportion to their counts,
    so that a kept pair follows it as often as a new user's session repeats one.

    That rate is `fresh_counts` over the item's pairs, the leave-one-user-out share (the kept
    share itself where the table has no such column, as in a DP release). The network's own
    draws already land on kept pairs for `network_share` of that rate (measured at training,
    synthlib.train.session.network_pair_share): the kept pairs follow for the rest only, and
    otherwise the network's draw stands."""

    def __init__(self, items: pd.DataFrame, ids: np.ndarray, network_share: float = 0.0):
        row_of = {item: i for i, item in enumerate(ids)}
        fresh = items["fresh_counts"] if "fresh_counts" in items else [None] * len(items)
        nxt, share = [], []
        self.fresh = np.zeros(len(ids))  # per row: how often a new user's session follows it with a kept pair
        for item, nexts, counts, total, f in zip(items["item_id"], items["next_items"], items["next_counts"],
                                                 items["transitions"], fresh):
            if not hasattr(nexts, "__len__") or not len(nexts):  # None or NaN: no kept pair
                continue
            r = row_of[item]
            rows = [row_of.get(n, -1) for n in nexts]
            keep = [j for j, n in enumerate(rows) if n >= 0]
            if not keep:  # every next item is outside the table
                continue
            kept = np.asarray(counts, dtype=float)[keep]
            nxt.append(np.asarray(rows)[keep])
            share.append(2.0 * r + np.cumsum(kept) / kept.sum())
            of_kept = kept.sum() / sum(map(float, counts))  # the pairs still in the table
            self.fresh[r] = min(1.0, (kept.sum() if f is None or pd.isna(f) else f * of_kept) / float(total))
        # The network gives network_share * fresh by itself; the kept pairs add the rest:
        # kept + (1 - kept) * network_share * fresh = fresh.
        rho = min(max(float(network_share), 0.0), 1.0)
        self.kept = self.fresh * (1 - rho) / np.maximum(1 - rho * self.fresh, 1e-12)
        order = np.argsort([s[0] for s in share], kind="stable") if share else []
        self.next = np.concatenate([nxt[i] for i in order]) if share else np.zeros(0, dtype=np.int64)
        # Keys 2 * row + cumulative share among its kept pairs: one sorted array searched for every row at once.
        self.key = np.concatenate([share[i] for i in order]) if share else np.zeros(0)
        self.pairs = len(self.next)

    def holds(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        """Whether each (prev, nxt) pair of rows is a kept pair."""
        n = len(self.fresh)
        owner = np.floor(self.key / 2.0 + 1e-12).astype(np.int64)
        return np.isin(np.asarray(prev, dtype=np.int64) * n + nxt, owner * n + self.next)

    def draw(self, prev: np.ndarray, u: np.ndarray, strength: float | np.ndarray = 0.0) -> np.ndarray:
        """The next item's row after each previous row (-1: none), given uniforms; -1 where
        the draw falls outside the kept pairs. `strength` (one, or one per row) moves that
        fraction of the draws outside the kept pairs onto them: 0 none, 1 all."""
        if not self.pairs:
            return np.full(len(prev), -1, dtype=np.int64)
        kept = self.kept[np.maximum(prev, 0)]
        follows = kept + strength * (1.0 - kept)
        hit = (prev >= 0) & (u < follows)
        j = np.searchsorted(self.key, 2.0 * prev + u / np.maximum(follows, 1e-12), side="right")
        hit &= j < self.pairs
        j = np.minimum(j, self.pairs - 1)
        hit &= np.floor(self.key[j] / 2.0 + 1e-12).astype(np.int64) == prev
        return np.where(hit, self.next[j], -1)


def follow_items(row: np.ndarray, repeat: np.ndarray, session: np.ndarray, step: np.ndarray,
                 follow: NextItems | None, u: np.ndarray, strength: float | np.ndarray = 0.0) -> np.ndarray:
    """Item rows of events (grouped by session, in order) once repeats and real item pairs
    are applied: an event that repeats its predecessor's item (`repeat`) keeps it, and an
    event with a fresh item follows the session's previous item with the kept pairs' shares
    (moved up by `strength`, one or one per event, see NextItems.draw; none without pairs)."""
    row, strength = row.copy(), np.broadcast_to(np.asarray(strength, dtype=float), row.shape)
    last = np.full(len(row), -1, dtype=np.int64)  # the session's latest item row, per event
    for t in range(1, int(step.max(initial=0)) + 1):
        i = np.nonzero(step == t)[0]
        prev_row = np.where(row[i - 1] >= 0, row[i - 1], last[i - 1])
        last[i] = prev_row
        has_item = row[i] >= 0
        again = has_item & repeat[i] & (row[i - 1] >= 0)
        drawn = follow.draw(np.where(has_item & ~again, prev_row, -1), u[i], strength[i]) if follow is not None \
            else np.full(len(i), -1)
        row[i] = np.where(again, row[i - 1], np.where(drawn >= 0, drawn, row[i]))
    return row


def repeats(tokens: dict[str, np.ndarray], items: ItemTable) -> np.ndarray:
    """(S, T) whether each event repeats its predecessor's item: as the model drew it, else
    (models without the flag) where a vocabulary item's token follows itself; a tail token
    stands for any tail item of its category, so it does not repeat by itself."""
    if "repeat" in tokens:
        return np.asarray(tokens["repeat"], dtype=bool)
    item = np.asarray(tokens["item"])
    same = np.zeros(item.shape, dtype=bool)
    same[:, 1:] = (item[:, 1:] == item[:, :-1]) & (item[:, 1:] > 0) & (item[:, 1:] <= items.n_vocab)
    return same


def to_codes(tokens: dict[str, np.ndarray], users: np.ndarray, session_k: np.ndarray, starts: np.ndarray,
             items: ItemTable, key: int, sessions: np.ndarray, item_power: float = 1.0,
             follow_transitions: float = 0.0, follow_min_events: int = 1) -> pd.DataFrame:
    """Event codes (schema.CODES_DDL) from generated (S, T) token arrays; the real item
    pairs are followed with `follow_transitions` in sessions of at least
    `follow_min_events` events, at a new user's rate in shorter ones (NextItems)."""
    typ = tokens["type"]
    s_idx, t_idx = np.nonzero((typ > 0) & (typ != END))
    ent, step = sessions[s_idx], t_idx
    g = tokens["gap"][s_idx, t_idx]
    b = np.maximum(g - 1, 0).astype(np.float64)
    gap = np.where(g > 0, (2.0 ** b - 1) + rng.uniform(key, ent, 16 * step + 7) * 2.0 ** b, 0.0)
    cat = tokens["cat"][s_idx, t_idx]
    item = tokens["item"][s_idx, t_idx]
    # Sessions of follow_min_events or more hold most item pairs: there the kept pairs follow with
    # `follow_transitions` and items under the floor back off to their category's shared items
    # (ItemTable); a shorter session, already close to a training session, keeps its draws.
    long = np.bincount(s_idx, minlength=len(typ))[s_idx] >= follow_min_events
    row = items.resolve(item, cat, rng.uniform(key, ent, 16 * step + 8), item_power,
                        rng.uniform(key, ent, 16 * step + 10), long)
    row = follow_items(row, repeats(tokens, items)[s_idx, t_idx], s_idx, t_idx, items.follow,
                       rng.uniform(key, ent, 16 * step + 9), np.where(long, follow_transitions, 0.0))
    return codes_frame(users[s_idx], session_k[s_idx], starts[s_idx] + within_session(gap, s_idx),
                       typ[s_idx, t_idx] - 1, row, np.where(cat > 0, cat, -1),
                       tokens["query"][s_idx, t_idx] - 1, tokens["pos"][s_idx, t_idx])


def within_session(gap: np.ndarray, session: np.ndarray) -> np.ndarray:
    """Seconds since the session's first event: the cumulative gap within each session
    (events grouped by session, in order)."""
    if not len(gap):
        return gap
    c = np.cumsum(gap)
    first = np.r_[True, session[1:] != session[:-1]]
    return c - np.maximum.accumulate(np.where(first, c - gap, 0.0))
