"""The session model's shape, taken from the log's profile: how long a training session may
be, how many sessions a training row holds, how many items get their own token, and from
which session length generation follows the kept real item pairs.

Each knob stays overridable in `train.params` (or `generate`); a derived value is recorded
with the profile figure it came from (model.json "shape", and the run summary).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

EVENT_SHARE = 0.99  # max_events: sessions cut there keep this share of the log's events
ROW_FILL = 0.75  # sessions_per_row: the most sessions a row whose slots are at least this full
CATEGORY_SHARE = 0.9  # candidates: tokens enough for this share of a category's item events
ITEM_SHARE = 0.95  # vocab_items: tokens enough for this share of the item events of repeated items
FOLLOW_QUANTILE = 0.75  # follow_min_events: sessions longer than this share of sessions follow the kept pairs
FOLLOW_FLOOR = 5  # ... and of at least this many events: two items beyond the shortest verbatim copy (3)


def _histogram(hist: dict) -> tuple[np.ndarray, np.ndarray]:
    """(values, counts) of a profile histogram (bins exact below 64, then powers of two)."""
    bins = np.asarray(hist.get("bins") or [1], dtype=np.int64)
    counts = np.asarray(hist.get("counts") or [1], dtype=np.float64)
    return bins, counts


def _quantile(values: np.ndarray, weights: np.ndarray, q: float):
    """The weighted q-quantile of `values`: the smallest value whose cumulative weight reaches q."""
    order = np.argsort(values, kind="stable")
    cdf = np.cumsum(weights[order]) / weights.sum()
    return values[order][min(len(values) - 1, np.searchsorted(cdf, q - 1e-12))]


def _round_up(value: float, step: int, lo: int, hi: int) -> int:
    return int(min(hi, max(lo, math.ceil(value / step) * step)))


def max_events(session_length: dict) -> tuple[int, str]:
    """The shortest cut that keeps EVENT_SHARE of the events, in steps of 8 (8..256)."""
    n, count = _histogram(session_length)
    total = float((n * count).sum())
    cut = next(c for c in range(1, int(n.max()) + 1)
               if float((np.minimum(n, c) * count).sum()) >= EVENT_SHARE * total - 1e-9)
    value = _round_up(cut, 8, 8, 256)
    return value, f"sessions cut at {cut} events keep {EVENT_SHARE:.0%} of the events (longest {int(n.max())})"


def sessions_per_row(sessions_per_user: dict, dp: bool) -> tuple[int, str]:
    """Rows hold a user's sessions. The most sessions a row can hold while its slots stay
    ROW_FILL full; under DP (a user's first row is its unit) the 90th percentile user's."""
    n, count = _histogram(sessions_per_user)
    if dp:
        p90 = int(_quantile(n, count, 0.9))
        return min(32, max(1, p90)), f"90% of users have at most {p90} sessions (DP: a user's first row is its unit)"
    best, fill = 1, 1.0
    for r in range(1, 33):
        f = float((n * count).sum() / (np.ceil(n / r) * r * count).sum())
        if f >= ROW_FILL:
            best, fill = r, f
    return best, f"rows of {best} sessions are {fill:.0%} full"


def candidates(items: pd.DataFrame) -> tuple[int, str]:
    """Item tokens per category: enough for CATEGORY_SHARE of the events of the category
    that holds the median item event, plus its tail slot (a power of two, 16..1024)."""
    if items.empty:
        return 16, "no items"
    w = items.assign(category=items["category"].fillna("\u0000")).sort_values(
        ["category", "events"], ascending=[True, False])
    share = w.groupby("category")["events"].cumsum() / w.groupby("category")["events"].transform("sum")
    need = (share.groupby(w["category"]).apply(lambda s: int(np.searchsorted(s.to_numpy(), CATEGORY_SHARE)) + 1))
    events = w.groupby("category")["events"].sum().reindex(need.index)
    typical = int(_quantile(need.to_numpy(), events.to_numpy(), 0.5))
    value = int(min(1024, max(16, 2 ** math.ceil(math.log2(typical + 1)))))
    return value, (f"{typical} items hold {CATEGORY_SHARE:.0%} of the events of the median event's category "
                   f"({len(need)} categories)")


def vocab_items(items: pd.DataFrame) -> tuple[int, str]:
    """Items with their own token: enough for ITEM_SHARE of the events of the items seen more
    than once (100..50,000); an item seen once is left to its category's tail."""
    repeated = np.sort(items.loc[items["events"] > 1, "events"].to_numpy())[::-1]
    if not len(repeated):
        return 100, "no item seen more than once"
    need = int(np.searchsorted(np.cumsum(repeated) / repeated.sum(), ITEM_SHARE)) + 1
    value = int(min(50_000, max(100, need)))
    return value, f"{need} of the {len(repeated)} items seen more than once hold {ITEM_SHARE:.0%} of their events"


def follow_min_events(session_length: dict) -> tuple[int, str]:
    """Sessions longer than FOLLOW_QUANTILE of all sessions, and of at least FOLLOW_FLOOR
    events: at most the longest quarter of synthetic sessions follow the kept pairs always
    (a session of n items holds n(n-1)/2 pairs, so these hold most of what item-to-item
    recommenders learn), while the typical session, the one closest to a training session,
    keeps the network's own draws. Below the floor a followed session is little more than
    one training session's items."""
    n, count = _histogram(session_length)
    typical = int(_quantile(n, count, FOLLOW_QUANTILE))
    value = max(FOLLOW_FLOOR, typical + 1)
    pairs = n * (n - 1) / 2 * count
    held = float(pairs[n >= value].sum() / pairs.sum()) if pairs.sum() > 0 else 0.0
    return value, (f"{FOLLOW_QUANTILE:.0%} of sessions have at most {typical} events; sessions of {value}+ "
                   f"(at least {FOLLOW_FLOOR}) hold {held:.0%} of the item pairs within sessions")


def derive(summary: dict, items: pd.DataFrame, params: dict, dp: bool) -> tuple[dict, dict]:
    """(values to set, {knob: {"value", "from"}}) for the knobs `params` leaves unset."""
    rules = {"max_events": lambda: max_events(summary["session_length"]),
             "sessions_per_row": lambda: sessions_per_row(summary["sessions_per_user"], dp),
             "candidates": lambda: candidates(items),
             "vocab_items": lambda: vocab_items(items)}
    values, record = {}, {}
    for knob, rule in rules.items():
        if params.get(knob) is not None:
            record[knob] = {"value": params[knob], "from": "train.params"}
            continue
        values[knob], why = rule()
        record[knob] = {"value": values[knob], "from": why}
    value, why = follow_min_events(summary["session_length"])
    record["follow_min_events"] = {"value": value, "from": why}
    return values, record
