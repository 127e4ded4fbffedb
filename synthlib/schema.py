"""The canonical click-log schema every stage reads and writes."""
from __future__ import annotations

from typing import Callable, Iterator

import pandas as pd

# Funnel order: a search shows ranked results, a click opens an item page from them, a
# view is any item page view, then favourite, cart and purchase.
EVENT_TYPES = ("search", "click", "view", "fav", "cart", "purchase")

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

COLUMN_NAMES = tuple(name for name, _, _ in CANONICAL_COLUMNS)
EVENTS_DDL = ", ".join(f"{name} {typ}" for name, typ, _ in CANONICAL_COLUMNS)
# Tables we write carry a date column to partition by.
TABLE_DDL = EVENTS_DDL + ", date date"
QUARANTINE_DDL = EVENTS_DDL + ", reason string, source string"


def rows_to_frame(rows: list[tuple]) -> pd.DataFrame:
    """Canonical rows (ts in epoch seconds) as a pandas frame of the events schema."""
    df = pd.DataFrame(rows, columns=list(COLUMN_NAMES))
    df["ts"] = pd.to_datetime(df["ts"], unit="s", utc=True).dt.floor("ms")
    df["position"] = df["position"].astype("Int32")
    return df


def users_to_frames(batches: Iterator[pd.DataFrame], events_of: Callable[[int], list[tuple]],
                    users_per_frame: int = 500) -> Iterator[pd.DataFrame]:
    """mapInPandas body: user ids in, canonical event frames out (ts in epoch seconds).

    Frames are yielded every `users_per_frame` users, which bounds executor memory
    whatever the batch size.
    """
    for batch in batches:
        ids = batch["id"].tolist()
        for i in range(0, len(ids), users_per_frame):
            yield rows_to_frame([r for user in ids[i:i + users_per_frame] for r in events_of(int(user))])
