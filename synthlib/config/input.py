"""The `input` section: where the real log is and how its columns map to the canonical schema."""
from __future__ import annotations

from datetime import date
from typing import Literal, Optional

from pydantic import Field, model_validator

from synthlib.config.base import Strict
from synthlib.schema import EVENT_TYPES


class ColumnMap(Strict):
    """Canonical column -> column name in the source. Unmapped optional columns are null."""

    user_id: Optional[str] = None
    session_id: Optional[str] = None
    item_id: Optional[str] = None
    timestamp: Optional[str] = None
    event_type: Optional[str] = None
    category: Optional[str] = None
    price: Optional[str] = None
    query: Optional[str] = None
    position: Optional[str] = None
    device: Optional[str] = None
    # A step or sequence number: orders events of the same timestamp, and tells repeated
    # events apart (exact duplicates are judged on the mapped columns plus this one).
    order: Optional[str] = None


BY_TYPE_COLUMNS = ("item_id", "category", "price", "query", "position", "device")


class TimestampConf(Strict):
    format: str = "unix_s"  # unix_s | unix_ms | timestamp | a Spark datetime pattern
    offset_ms_column: Optional[str] = None  # added to the timestamp, e.g. ms since session start


class SourceConf(Strict):
    """One input file set or table; several sources are unioned."""

    path: Optional[str] = None
    table: Optional[str] = None  # metastore table name, instead of a path
    format: Literal["csv", "parquet", "json", "delta"] = "delta"
    options: dict[str, str] = {}  # reader options, e.g. {sep: ";", header: "true"}
    schema_ddl: Optional[str] = None  # CSV/JSON schema, e.g. for files without a header
    explode: Optional[str] = None  # array-of-struct column holding the events (JSON sessions)
    columns: ColumnMap
    timestamp: TimestampConf = TimestampConf()
    event_values: dict[str, str] = {}  # source value -> canonical event type
    event_type: Optional[str] = None  # constant event type for sources without one
    only_known_sessions: bool = False  # keep rows whose session occurs in the first source
    # A Spark SQL condition on the source's own columns: only the rows that meet it are events,
    # e.g. "click = 1" where an impression log's clicked rows are its click events.
    where: Optional[str] = None
    # One source column can feed different canonical columns by event type, e.g. a
    # `reference` column that holds the item for item actions and the text for searches:
    # {search: {query: reference, item_id: null}}. Rows of other types keep `columns`.
    columns_by_event_type: dict[str, dict[str, Optional[str]]] = {}

    @model_validator(mode="after")
    def _check(self) -> "SourceConf":
        if (self.path is None) == (self.table is None):
            raise ValueError("set exactly one of 'path' or 'table'")
        if self.columns.item_id is None or self.columns.timestamp is None:
            raise ValueError("'columns' must map 'item_id' and 'timestamp'")
        if self.columns.user_id is None and self.columns.session_id is None:
            raise ValueError("'columns' must map 'user_id' or 'session_id' (or both)")
        if (self.columns.event_type is None) == (self.event_type is None):
            raise ValueError("map 'columns.event_type' or set a constant 'event_type', not both")
        bad = sorted({v for v in self.event_values.values()} - set(EVENT_TYPES))
        if self.event_type is not None and self.event_type not in EVENT_TYPES:
            bad.append(self.event_type)
        bad += sorted(set(self.columns_by_event_type) - set(EVENT_TYPES))
        if bad:
            raise ValueError(f"unknown event type(s) {bad}; use one of {list(EVENT_TYPES)}")
        for typ, mapping in self.columns_by_event_type.items():
            wrong = sorted(set(mapping) - set(BY_TYPE_COLUMNS))
            if wrong:
                raise ValueError(f"columns_by_event_type.{typ}: {wrong} cannot be mapped by event type; "
                                 f"use {list(BY_TYPE_COLUMNS)}")
        return self


class ItemsConf(Strict):
    """Item attributes (category, price) joined onto the events by item id; with a title
    column, ingest also keeps the catalog (item, category, brand, price, title)."""

    path: Optional[str] = None
    table: Optional[str] = None
    format: Literal["csv", "parquet", "json", "delta"] = "delta"
    options: dict[str, str] = {}
    item_id: str
    category: Optional[str] = None
    price: Optional[str] = None
    brand: Optional[str] = None
    title: Optional[str] = None


SURFACES = ("search", "recommendation", "other")


class ImpressionColumns(Strict):
    """Canonical impression column -> column name in the impressions source."""

    request_id: Optional[str] = None  # default: one request per source row (list form) or per session and time
    user_id: Optional[str] = None
    session_id: Optional[str] = None
    timestamp: Optional[str] = None
    # The list form: `shown` is an array or a delimited string of item ids, in rank order, and
    # `item_id` the clicked one (null: no click). The row form: `item_id` is the shown item,
    # with its `position` and `clicked` flag.
    shown: Optional[str] = None
    item_id: Optional[str] = None
    position: Optional[str] = None
    clicked: Optional[str] = None
    surface: Optional[str] = None
    query: Optional[str] = None
    price: Optional[str] = None


class ImpressionsConf(Strict):
    """What was shown: a list column on the click or search row, one row per shown item, or a
    separate table joined to `input.sources[0]` by a request or session id (`join_column`)."""

    path: Optional[str] = None
    table: Optional[str] = None
    format: Literal["csv", "parquet", "json", "delta"] = "delta"
    options: dict[str, str] = {}
    schema_ddl: Optional[str] = None
    columns: ImpressionColumns
    timestamp: TimestampConf = TimestampConf()
    list_separator: str = "|"  # of a delimited `shown` string
    surface: Literal["search", "recommendation", "other"] = "other"  # when no surface column is mapped
    surface_values: dict[str, Literal["search", "recommendation", "other"]] = {}  # source value -> surface
    # The joined form: the column of input.sources[0] that holds `columns.request_id`'s values;
    # user, session, time and query come from the first matched event, and an item is clicked
    # when a matched click event names it (unless `columns.clicked` is mapped).
    join_column: Optional[str] = None

    @model_validator(mode="after")
    def _check(self) -> "ImpressionsConf":
        if (self.path is None) == (self.table is None):
            raise ValueError("set exactly one of 'path' or 'table'")
        c = self.columns
        if c.shown is None and (c.item_id is None or c.position is None):
            raise ValueError("map 'columns.shown' (a list of item ids) or 'columns.item_id' and "
                             "'columns.position' (one row per shown item)")
        if self.join_column is not None:
            if c.request_id is None:
                raise ValueError("'join_column' needs 'columns.request_id', the key it joins on")
        elif c.timestamp is None or (c.user_id is None and c.session_id is None):
            raise ValueError("map 'columns.timestamp' and 'columns.user_id' or 'columns.session_id', "
                             "or take them from the events with 'join_column'")
        if c.shown is None and c.clicked is None and self.join_column is None:
            raise ValueError("one row per shown item needs 'columns.clicked' (or 'join_column')")
        return self


class InputConf(Strict):
    sources: list[SourceConf] = Field(min_length=1)
    items: Optional[ItemsConf] = None
    impressions: Optional[ImpressionsConf] = None  # what was shown (search results, recommendation slates)
    max_list_length: int = Field(100, ge=1)  # longer shown lists are quarantined
    session_gap_minutes: float = Field(30.0, gt=0)  # sessionize users when no session ids
    start: Optional[date] = None  # optional time window; rows outside are quarantined
    end: Optional[date] = None
    drop_duplicates: bool = True  # quarantine exact copies of an event
    max_query_chars: int = Field(512, ge=1)  # longer queries are quarantined
