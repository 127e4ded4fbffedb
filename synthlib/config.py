"""Run configuration: YAML files validated strictly before any Spark work.

Every key is declared here; an unknown or mistyped key is an error that names the key,
the file and the closest valid key. Imports without Spark.
"""
from __future__ import annotations

import difflib
import os
from datetime import date
from typing import Any, Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from synthlib.schema import EVENT_TYPES


class ConfigError(ValueError):
    """A configuration file or override is invalid; the message says how to fix it."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SparkConf(_Strict):
    master: Optional[str] = None  # None: reuse an active session, else local[2]
    app_name: str = "synthlib"
    conf: dict[str, str] = {}  # extra Spark settings, e.g. spark.sql.shuffle.partitions


class ColumnMap(_Strict):
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


class TimestampConf(_Strict):
    format: str = "unix_s"  # unix_s | unix_ms | timestamp | a Spark datetime pattern
    offset_ms_column: Optional[str] = None  # added to the timestamp, e.g. ms since session start


class SourceConf(_Strict):
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


class ItemsConf(_Strict):
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


class ImpressionColumns(_Strict):
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


class ImpressionsConf(_Strict):
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


class InputConf(_Strict):
    sources: list[SourceConf] = Field(min_length=1)
    items: Optional[ItemsConf] = None
    impressions: Optional[ImpressionsConf] = None  # what was shown (search results, recommendation slates)
    max_list_length: int = Field(100, ge=1)  # longer shown lists are quarantined
    session_gap_minutes: float = Field(30.0, gt=0)  # sessionize users when no session ids
    start: Optional[date] = None  # optional time window; rows outside are quarantined
    end: Optional[date] = None
    drop_duplicates: bool = True  # quarantine exact copies of an event
    max_query_chars: int = Field(512, ge=1)  # longer queries are quarantined


class SimulateConf(_Strict):
    """The embedded demo log. Simulated data, labelled so in the table properties."""

    events: int = Field(200_000, ge=1000)  # approximate number of events
    categories: int = Field(40, ge=2)
    items_per_category: int = Field(250, ge=5)
    start: date = date(2026, 1, 5)
    days: int = Field(14, ge=1)
    path: Optional[str] = None  # default: <output>/input/events
    partitions: int = Field(8, ge=1)
    impressions: bool = False  # also write the searches' result lists to <output>/input/impressions


class ProfileConf(_Strict):
    top_queries: int = Field(200, ge=1, le=100_000)  # queries kept in the stats summary
    min_query_users: int = Field(5, ge=1)  # a query string is kept only when this many distinct users issued it
    max_position: int = Field(20, ge=1)  # click-through is reported for positions 1..N


class DPConf(_Strict):
    """DP-SGD for the neural models; one user's whole history is the unit of privacy."""

    epsilon: float = Field(gt=0)
    delta: float = Field(1e-5, gt=0, lt=1)
    max_grad_norm: float = Field(1.0, gt=0)  # per-user gradient clipping bound
    users_per_step: int = Field(64, ge=1)  # expected users in a step's Poisson sample


class TextTrainConf(_Strict):
    """A text model: search queries or item titles (see synthlib.text.model)."""
    epochs: int = Field(100, ge=1)  # upper bound: early stopping or the time budget ends sooner
    max_minutes: float = Field(5, gt=0)
    batch_size: int = Field(64, ge=1)
    max_strings: int = Field(500_000, ge=10)  # training queries, by seeded hash
    params: dict[str, Any] = {}  # TextConfig settings, e.g. {dim: 192, vocab_size: 2000}


class TrainConf(_Strict):
    model: str = "session"  # a kind of synthlib.train.stage.TRAINERS (checked before any Spark work)
    max_items: int = Field(200_000, ge=1, le=20_000_000)  # items carried by the model, most popular first
    max_model_mb: float = Field(512, gt=0)  # the model is broadcast: refuse larger ones
    # The training sample: users whose seeded hash falls in `sample_fraction`, at most
    # `max_users` of them, their sessions whole. Only this sample feeds the neural models.
    sample_fraction: float = Field(1.0, gt=0, le=1)
    max_users: int = Field(200_000, ge=1)
    validation: float = Field(0.1, ge=0, lt=1)  # share of sampled users held out for early stopping
    # None: as many epochs as process about 1M events (2..20), counted in data so that a seed
    # gives the same model on a busy machine as on an idle one; early stopping may end sooner.
    epochs: Optional[int] = Field(None, ge=1)
    batch_size: int = Field(256, ge=1)  # examples per step: sessions (session model, about) or event rows
    lr: float = Field(3e-3, gt=0)
    patience: int = Field(2, ge=0)
    # A safety net, off by default: training stops after the epoch that passes it, and model.json
    # and the run summary say so (the model then depends on the machine's speed and load).
    max_minutes: Optional[float] = Field(None, gt=0)
    dp: Optional[DPConf] = None
    params: dict[str, Any] = {}  # the model's own settings, e.g. {dim: 64, arch: gru}
    # With a text section, `train` also fits a text model on the training sample's search
    # queries, and `generate` gives synthetic searches without a frequent query one from it.
    text: Optional[TextTrainConf] = None
    # With a titles section, `train` also fits a text model on the real catalog's item titles
    # (input.items.title), and `generate` writes a synthetic catalog for the generated items.
    titles: Optional[TextTrainConf] = None


class SegmentConf(_Strict):
    """Generate users like the real users with this many sessions."""
    min_sessions: int = Field(1, ge=1)
    max_sessions: Optional[int] = Field(None, ge=1)


class GenerateConf(_Strict):
    # How much: at most one of users, sessions or events (about as many; the model's mean
    # sessions and events per user turn them into users). Default: as many users as the log.
    users: Optional[int] = Field(None, ge=1)
    sessions: Optional[int] = Field(None, ge=1)
    events: Optional[int] = Field(None, ge=1)
    start: Optional[date] = None  # default: the real log's first day
    days: Optional[int] = Field(None, ge=1)  # default: the real log's span (or up to `end`)
    end: Optional[date] = None  # last day, instead of `days`
    run_id: Optional[str] = Field(None, pattern=r"^[A-Za-z0-9._-]{1,100}$")  # default: seed<seed>-<model>
    # Conditions. category_mix: weights of the sessions' categories (session and stats
    # models). segment: users like the real ones with that many sessions. item_power:
    # items drawn by popularity ** power within a category; < 1 lifts the long tail.
    category_mix: dict[str, float] = {}
    segment: SegmentConf = SegmentConf()
    item_power: float = Field(1.0, gt=0, le=4)
    # follow_transitions (session model): after an item with kept real session partners, one
    # of them follows at their share of its real pairs (0) up to always (1). Higher lifts
    # item-to-item utility and brings sessions closer to training sessions (see the DCR).
    # Unset: 1 (always) in sessions of the model's derived follow_min_events (model.json "shape").
    follow_transitions: Optional[float] = Field(None, ge=0, le=1)
    # follow_min_events: follow_transitions applies to sessions of at least this many events;
    # shorter ones follow at the real shares. Item-to-item recommenders learn from the pairs
    # within sessions, most of which long sessions hold, while most sessions are short.
    follow_min_events: Optional[int] = Field(None, ge=1)
    # drop_copies: a synthetic session of at least 3 item events whose items, in order, are a
    # real training session's is left out (checked against the real log in Spark).
    drop_copies: bool = True
    # Augmentation: sparse users (segment.max_sessions 2) and long-tail items (item_power
    # 0.5), where those are not set; write it under its own run_id next to the real log.
    augment: bool = False
    # Spark work: events per task (so files of about events_per_partition / days rows per
    # date), or a fixed number of partitions; users generated together in one batch.
    # Blocks of users are fixed by user index: the output does not depend on either.
    events_per_partition: int = Field(2_000_000, ge=1)
    partitions: Optional[int] = Field(None, ge=1)
    block_users: int = Field(4096, ge=1, le=100_000)
    optimize: bool = False  # OPTIMIZE the dates written (compaction), ZORDER BY zorder_by
    zorder_by: list[Literal["user_id", "session_id", "item_id", "category", "event_type", "ts"]] = []

    @model_validator(mode="after")
    def _check(self) -> "GenerateConf":
        asked = [k for k in ("users", "sessions", "events") if getattr(self, k) is not None]
        if len(asked) > 1:
            raise ValueError(f"set one of generate.users, generate.sessions and generate.events, not {asked}")
        if self.days is not None and self.end is not None:
            raise ValueError("set generate.days or generate.end, not both")
        if self.end is not None and self.start is not None and self.end < self.start:
            raise ValueError(f"generate.end {self.end} is before generate.start {self.start}")
        if any(w < 0 for w in self.category_mix.values()) or (self.category_mix and sum(self.category_mix.values()) <= 0):
            raise ValueError("generate.category_mix: weights must be >= 0 with a positive sum")
        seg = self.segment
        if seg.max_sessions is not None and seg.max_sessions < seg.min_sessions:
            raise ValueError("generate.segment: max_sessions is below min_sessions")
        if self.zorder_by and not self.optimize:
            raise ValueError("generate.zorder_by needs generate.optimize: true")
        return self


class HoldoutConf(_Strict):
    """The real test split of the evaluation protocol; profile and training never see it."""

    days: Optional[int] = Field(None, ge=1)  # sessions that start in the log's last N days
    sources: list[SourceConf] = []  # or given test files, mapped like input.sources

    @model_validator(mode="after")
    def _check(self) -> "HoldoutConf":
        if (self.days is None) == (not self.sources):
            raise ValueError("set one of 'days' (the last days of the log) or 'sources' (test files)")
        return self


class AlsConf(_Strict):
    rank: int = Field(32, ge=2, le=512)
    iterations: int = Field(10, ge=1)
    reg: float = Field(0.05, gt=0)
    alpha: float = Field(10.0, gt=0)  # implicit feedback confidence: 1 + alpha * events
    max_users: int = Field(200_000, ge=1)  # users the factors are learned from, by seeded hash
    # Spark's numUserBlocks and numItemBlocks: about the cluster's cores for a large log; a
    # small log fits faster in fewer. Fixed here, not taken from the cluster: the factors'
    # seeded start depends on the blocks.
    blocks: int = Field(10, ge=1, le=10_000)


class EvaluateConf(_Strict):
    holdout: Optional[HoldoutConf] = None  # without one, privacy and utility need a test split and are skipped
    runs: list[str] = []  # run ids to evaluate side by side; default: generate.run_id or the latest run
    augment_run: Optional[str] = None  # a run to add to the real log for the sparse-user augmentation check
    # Fidelity distances: at or below `pass_at` pass; at or below `warn_at` warn; else fail.
    pass_at: float = Field(0.1, ge=0)
    warn_at: float = Field(0.25, ge=0)
    # Privacy: verbatim copies of real training sessions (length >= 3), membership-inference AUC.
    max_copy_share: float = Field(0.01, ge=0, le=1)
    max_mia_auc: float = Field(0.6, ge=0.5, le=1)
    privacy_records: int = Field(20_000, ge=10)  # sessions per side in the LSH distances, by seeded hash
    reference_records: int = Field(500_000, ge=10)  # training sessions searched for the closest, by seeded hash
    # A larger run is measured on a seeded share of its users of about this many events
    # (fidelity, distances, utility); the copy check always reads the whole run.
    max_events: int = Field(2_000_000, ge=1000)
    # Utility: Recall, NDCG and HitRate at k on the real test sessions; pass at a synthetic/real
    # ratio >= min_utility_ratio, warn at >= warn_utility_ratio.
    k: int = Field(20, ge=1, le=1000)
    min_utility_ratio: float = Field(0.9, gt=0)
    warn_utility_ratio: float = Field(0.75, gt=0)
    history_items: int = Field(20, ge=0)  # a test user's latest real training items, folded in
    test_sessions: int = Field(50_000, ge=1)  # test sessions scored, by seeded hash
    sparse_sessions: int = Field(2, ge=0)  # users with at most this many training sessions are sparse
    neighbours: int = Field(100, ge=1)  # item-kNN: co-visited neighbours kept per item
    session_items: int = Field(50, ge=2)  # item-kNN: a session's latest distinct items paired
    als: AlsConf = AlsConf()


class Config(_Strict):
    seed: int = 42
    output: str
    spark: SparkConf = SparkConf()
    simulate: Optional[SimulateConf] = None
    input: Optional[InputConf] = None
    profile: ProfileConf = ProfileConf()
    train: TrainConf = TrainConf()
    generate: GenerateConf = GenerateConf()
    evaluate: EvaluateConf = EvaluateConf()
    _source_file: Optional[str] = PrivateAttr(None)

    @model_validator(mode="after")
    def _check(self) -> "Config":
        if self.input is None and self.simulate is None:
            raise ValueError("set 'input' (your log) or 'simulate' (the demo log)")
        return self

    @property
    def source_file(self) -> Optional[str]:
        """The YAML file this config was loaded from."""
        return self._source_file

    def path(self, *parts: str) -> str:
        return os.path.join(self.output, *parts)

    @property
    def simulated_path(self) -> str:
        return (self.simulate and self.simulate.path) or self.path("input", "events")

    @property
    def simulated_items_path(self) -> str:
        return self.path("input", "items")

    @property
    def simulated_impressions_path(self) -> str:
        return self.path("input", "impressions")

    def require_input(self) -> InputConf:
        """The configured input; without one, the simulated demo log (and its catalog) in canonical form."""
        if self.input is not None:
            return self.input
        identity = ColumnMap(**{c: c for c in ColumnMap.model_fields if c not in ("timestamp", "order")},
                             timestamp="ts")
        items = self.simulated_items_path
        catalog = "://" in items or os.path.exists(items)  # a demo log simulated before catalogs had none
        impressions = None
        if self.simulate is not None and self.simulate.impressions:
            names = {c: c for c in ImpressionColumns.model_fields if c not in ("timestamp", "shown")}
            impressions = ImpressionsConf(path=self.simulated_impressions_path, columns=ImpressionColumns(
                **names, timestamp="ts"), timestamp=TimestampConf(format="timestamp"))
        return InputConf(sources=[SourceConf(path=self.simulated_path, format="delta", columns=identity,
                                             timestamp=TimestampConf(format="timestamp"))],
                         items=ItemsConf(path=items, item_id="item_id", category="category", price="price",
                                         brand="brand", title="title") if catalog
                         else None, impressions=impressions)


def _set_dotted(tree: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = tree
    for k in keys[:-1]:
        node = node.setdefault(k, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override '{dotted}': '{k}' is not a section")
    node[keys[-1]] = value


def _dotted(loc: tuple) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The config model that holds the keys at `loc` (list indices skipped)."""
    model = Config
    for p in loc:
        if isinstance(p, int):
            continue
        field = model.model_fields.get(str(p))
        args = getattr(field.annotation, "__args__", ()) or (field.annotation,) if field else ()
        model = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if model is None:
            return None
    return model


def _describe(err: dict, source: str) -> str:
    loc = _dotted(err["loc"])
    if err["type"] == "extra_forbidden":
        model = _model_at(err["loc"][:-1])
        valid = sorted(model.model_fields) if model else []
        close = difflib.get_close_matches(str(err["loc"][-1]), valid, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return f"{source}: unknown key '{loc}'; {hint}valid keys here: {', '.join(valid)}"
    return f"{source}: '{loc or '(top level)'}': {err['msg']}"


def load_config(path: str, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Load and validate a YAML run configuration.

    Args:
        path: YAML file.
        overrides: `dotted.key=value` strings; values are parsed as YAML scalars or lists.

    Raises:
        ConfigError: naming the file, the key and how to fix it.
    """
    if not os.path.isfile(path):
        raise ConfigError(f"config file '{path}' not found; pass --conf conf/<name>.yaml")
    with open(path) as fh:
        try:
            tree = yaml.safe_load(fh) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(tree, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys to values")
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}' must look like dotted.key=value")
        key, raw = item.split("=", 1)
        _set_dotted(tree, key.strip(), yaml.safe_load(raw) if raw else None)
    try:
        conf = Config.model_validate(tree)
    except ValidationError as e:
        raise ConfigError("\n".join(_describe(err, path) for err in e.errors())) from None
    conf._source_file = path
    return conf
