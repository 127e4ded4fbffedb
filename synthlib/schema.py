"""The canonical click-log schema every stage reads and writes."""
from __future__ import annotations

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
