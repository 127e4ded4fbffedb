"""The canonical click-log schema every stage reads and writes."""
from __future__ import annotations

from typing import Callable, Iterator

import numpy as np
import pandas as pd

# Funnel order: a search shows ranked results, a click opens an item page from them, a
# view is any item page view, then favourite, cart and purchase.
EVENT_TYPES = ("search", "click", "view", "fav", "cart", "purchase")
# The event-type transitions of the profile: "a -> b", a session's start and end as pseudo types.
SESSION_START, SESSION_END, ARROW = "(start)", "(end)", " -> "
MAX_DEVICES = 50  # device values a profile keeps, the most used

# (name, Spark SQL type, required)
CANONICAL_COLUMNS = (
    ("user_id", "string", True),
    ("session_id", "string", True),
    ("ts", "timestamp", True),
    ("event_type", "string", True),
    ("item_id", "string", False),  # null only for search events
    ("category", "string", False),
    ("price", "double", False),
    ("query", "string", False),
    ("position", "int", False),  # 1-based rank of a clicked search result
    ("device", "string", False),
)

# What was shown: one row per shown item of a request (a search result page, a recommendation
# slate), its 1-based position and whether it was clicked.
IMPRESSION_COLUMNS = (
    ("request_id", "string"), ("user_id", "string"), ("session_id", "string"), ("ts", "timestamp"),
    ("surface", "string"), ("query", "string"), ("item_id", "string"), ("position", "int"),
    ("clicked", "boolean"), ("price", "double"))
IMPRESSIONS_DDL = ", ".join(f"{name} {typ}" for name, typ in IMPRESSION_COLUMNS)

COLUMN_NAMES = tuple(name for name, _, _ in CANONICAL_COLUMNS)
EVENTS_DDL = ", ".join(f"{name} {typ}" for name, typ, _ in CANONICAL_COLUMNS)


# What the models emit: compact codes, decoded to the canonical schema in Spark (strings are
# built in the JVM and looked up in broadcast tables, which is what keeps generation close to
# the speed of the write). user: synthetic user index; session: its index within the user;
# event: index into EVENT_TYPES; item, category, query: rows of the model's lookup tables
# (-1: none); position: 0 for none.
CODES_DDL = "user long, session int, ts timestamp, event byte, item int, category int, query int, position int"
SYNTHETIC_PREFIX = "synthetic:"  # reserved: ingest quarantines real ids that start with it


def _utc_millis(seconds) -> pd.DatetimeIndex:
    """UTC timestamps of epoch seconds, floored to the millisecond (in a fraction of the time
    `pd.to_datetime` takes on floats)."""
    ms = np.floor(np.asarray(seconds, dtype=np.float64) * 1000).astype(np.int64)
    return pd.DatetimeIndex((ms * 1_000_000).view("datetime64[ns]")).tz_localize("UTC")


def codes_frame(user, session, ts_seconds, event, item, category, query, position) -> pd.DataFrame:
    """A frame of the CODES_DDL schema from equal-length numpy arrays."""
    return pd.DataFrame({
        "user": np.asarray(user, dtype=np.int64), "session": np.asarray(session, dtype=np.int32),
        "ts": _utc_millis(ts_seconds),
        "event": np.asarray(event, dtype=np.int8), "item": np.asarray(item, dtype=np.int32),
        "category": np.asarray(category, dtype=np.int32), "query": np.asarray(query, dtype=np.int32),
        "position": np.asarray(position, dtype=np.int32)})


def rows_to_frame(rows: list[tuple], columns: tuple[str, ...] = COLUMN_NAMES) -> pd.DataFrame:
    """Canonical rows (ts in epoch seconds) as a pandas frame of the events schema (or `columns`)."""
    df = pd.DataFrame(rows, columns=list(columns))
    df["ts"] = pd.to_datetime(df["ts"], unit="s", utc=True).dt.floor("ms")
    df["position"] = df["position"].astype("Int32")
    return df


def users_to_frames(batches: Iterator[pd.DataFrame], events_of: Callable[[int], list[tuple]],
                    users_per_frame: int = 500, columns: tuple[str, ...] = COLUMN_NAMES) -> Iterator[pd.DataFrame]:
    """mapInPandas body: user ids in, canonical event frames out (ts in epoch seconds).

    Frames are yielded every `users_per_frame` users, which bounds executor memory
    whatever the batch size.
    """
    for batch in batches:
        ids = batch["id"].tolist()
        for i in range(0, len(ids), users_per_frame):
            yield rows_to_frame([r for user in ids[i:i + users_per_frame] for r in events_of(int(user))], columns)
