"""The sections of the stages: spark, simulate, profile, train, generate, evaluate."""
from __future__ import annotations

from datetime import date
from typing import Any, Literal, Optional

from pydantic import Field, model_validator

from synthlib.config.base import Strict
from synthlib.config.input import SourceConf


class SparkConf(Strict):
    master: Optional[str] = None  # None: reuse an active session, else local[2]
    app_name: str = "synthlib"
    conf: dict[str, str] = {}  # extra Spark settings, e.g. spark.sql.shuffle.partitions


class SimulateConf(Strict):
    """The embedded demo log. Simulated data, labelled so in the table properties."""

    events: int = Field(200_000, ge=1000)  # approximate number of events
    categories: int = Field(40, ge=2)
    items_per_category: int = Field(250, ge=5)
    start: date = date(2026, 1, 5)
    days: int = Field(14, ge=1)
    path: Optional[str] = None  # default: <output>/input/events; its items and impressions sit beside it
    partitions: int = Field(8, ge=1)
    impressions: bool = False  # also write the searches' result lists to <output>/input/impressions


class ProfileConf(Strict):
    top_queries: int = Field(200, ge=1, le=100_000)  # queries kept in the stats summary
    min_query_users: int = Field(5, ge=1)  # a query string is kept only when this many distinct users issued it
    max_position: int = Field(20, ge=1)  # click-through is reported for positions 1..N


# The default split (BudgetSplit.for_epsilon): the profile's epsilon, and its bounds as a share;
# the network's share, set aside from the profile's and the pairs' noise plan.
PROFILE_EPSILON, PROFILE_SHARE, NETWORK_SHARE = 0.6, (0.3, 0.6), 0.02


class BudgetSplit(Strict):
    """Shares of train.dp's epsilon and delta for the parts of the release that read the real
    log: the profile (histograms, the item vocabulary and popularity), the item pairs, and
    the session network's DP-SGD. Unset, the split follows the total (`for_epsilon`)."""

    profile: float = Field(gt=0, lt=1)
    pairs: float = Field(gt=0, lt=1)
    network: float = Field(gt=0, lt=1)

    @model_validator(mode="after")
    def _sums_to_one(self):
        total = self.profile + self.pairs + self.network
        if abs(total - 1) > 1e-6:
            raise ValueError(f"the shares sum to {total:g}; make profile + pairs + network = 1")
        return self

    @classmethod
    def for_epsilon(cls, epsilon: float) -> "BudgetSplit":
        """The default split: the profile gets PROFILE_EPSILON, as a share within PROFILE_SHARE;
        the network NETWORK_SHARE; the pairs the rest. The network's share is what the profile's
        and the pairs' noise plan leaves aside: DP-SGD then takes whatever the whole release,
        composed under one accountant, leaves of the total (synthlib.dp.budget.network_noise),
        which at a share of 0.02 is less noise than a sequential share of 0.05 gave it.

        The vocabulary's partition selection is the part a low budget starves first: its
        threshold grows as 1/epsilon. On YooChoose at total epsilon 1, a 0.3 profile share
        released 2 items and utility fell to 0.02 of real. Past that, the pairs carry the
        item-to-item structure that recommenders learn, and they gain most from what is left.
        At total epsilon 8 (2026-12-07, sequential composition, kNN / ALS of real), profile /
        pairs / network 0.3 / 0.35 / 0.35 gave 0.39 to 0.41 / 0.41 to 0.43 in three runs; 0.3 /
        0.6 / 0.1 0.51 / 0.56; 0.3 / 0.65 / 0.05 0.54 / 0.56; a larger profile share released
        more items but fewer pairs: 0.4 / 0.55 / 0.05 gave 0.52 / 0.55 and 0.5 / 0.45 / 0.05
        0.44 / 0.49. At total epsilon 1, 0.8 / 0.1 / 0.1 released 97 items and 2 pairs (0.12 /
        0.13, under the popularity recommender's 0.16 / 0.18); 0.6 / 0.3 / 0.1 released 67 items
        and 20 pairs and gave 0.18 / 0.20, and 0.45 / 0.45 / 0.1 45 items and 21 pairs, 0.16 / 0.17."""
        lo, hi = PROFILE_SHARE
        profile = round(min(hi, max(lo, PROFILE_EPSILON / epsilon)), 6)
        network = NETWORK_SHARE
        return cls(profile=profile, pairs=round(1 - profile - network, 6), network=network)


class DPConf(Strict):
    """User-level differential privacy for the whole release (profile, item pairs, network):
    one user's whole history is the unit of privacy; `epsilon` and `delta` are the total.
    Without `delta`, the profile derives it from the log: 1/(10 x users), the users counted
    under DP first (synthlib.dp.budget.delta_for)."""

    epsilon: float = Field(gt=0)
    delta: Optional[float] = Field(None, gt=0, lt=1)
    split: Optional[BudgetSplit] = None  # None: BudgetSplit.for_epsilon(epsilon), recorded as derived
    # Contribution bounds, applied once at ingest: a user keeps at most max_sessions sessions
    # (chosen by seeded hash) and, of those in time order, its first max_events events.
    max_sessions: int = Field(8, ge=1)
    max_events: int = Field(64, ge=1)
    # Within the released statistics, the caps on the distinct items (vocabulary and popularity)
    # and item pairs a user counts towards: the bounds in force are derived under them from the
    # released histograms of items and pairs per user (synthlib.dp.bound.contribution_bound).
    max_items: int = Field(16, ge=1)
    max_pairs: int = Field(16, ge=1)
    max_grad_norm: float = Field(1.0, gt=0)  # per-user gradient clipping bound
    users_per_step: int = Field(64, ge=1)  # expected users in a step's Poisson sample

    @property
    def shares(self) -> BudgetSplit:
        """The split in force: as configured, else derived from the total epsilon."""
        return self.split or BudgetSplit.for_epsilon(self.epsilon)


class TextTrainConf(Strict):
    """A text model: search queries or item titles (see synthlib.text.model)."""
    epochs: int = Field(100, ge=1)  # upper bound: early stopping or the time budget ends sooner
    max_minutes: float = Field(5, gt=0)
    batch_size: int = Field(64, ge=1)
    max_strings: int = Field(500_000, ge=10)  # training queries, by seeded hash
    params: dict[str, Any] = {}  # TextConfig settings, e.g. {dim: 192, vocab_size: 2000}


class TrainConf(Strict):
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


class SegmentConf(Strict):
    """Generate users like the real users with this many sessions."""
    min_sessions: int = Field(1, ge=1)
    max_sessions: Optional[int] = Field(None, ge=1)


class GenerateConf(Strict):
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
    # of them follows as often as a new user's session repeats a kept pair (0; see
    # models.timeline.NextItems) up to always (1). Higher lifts
    # item-to-item utility and brings sessions closer to training sessions (see the DCR).
    # Unset: 1 (always) in sessions of the model's derived follow_min_events (model.json "shape").
    follow_transitions: Optional[float] = Field(None, ge=0, le=1)
    # follow_min_events: follow_transitions applies to sessions of at least this many events;
    # shorter ones follow at a new user's rate. Item-to-item recommenders learn from the pairs
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


class HoldoutConf(Strict):
    """The real test split of the evaluation protocol; profile and training never see it."""

    days: Optional[int] = Field(None, ge=1)  # sessions that start in the log's last N days
    sources: list[SourceConf] = []  # or given test files, mapped like input.sources

    @model_validator(mode="after")
    def _check(self) -> "HoldoutConf":
        if (self.days is None) == (not self.sources):
            raise ValueError("set one of 'days' (the last days of the log) or 'sources' (test files)")
        return self


class AlsConf(Strict):
    rank: int = Field(32, ge=2, le=512)
    iterations: int = Field(10, ge=1)
    reg: float = Field(0.05, gt=0)
    alpha: float = Field(10.0, gt=0)  # implicit feedback confidence: 1 + alpha * events
    max_users: int = Field(200_000, ge=1)  # users the factors are learned from, by seeded hash
    # Spark's numUserBlocks and numItemBlocks. By default taken from the log's size (one block
    # per 100,000 (user, item) ratings, at most MLlib's 10): on small data each block
    # is a task in every one of ALS's stages, and a small log fits several times faster in one.
    # Never taken from the cluster: the factors' seeded start depends on the blocks.
    blocks: Optional[int] = Field(None, ge=1, le=10_000)


class EvaluateConf(Strict):
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
