"""What training takes from the conf: each model's params, the loop's settings (its budget
counted in data), and the parts of model.json every model shares."""
from __future__ import annotations

import dataclasses
import time

from synthlib import __version__
from synthlib.config import Config, ConfigError
from synthlib.dp.budget import part

EPOCH_EVENTS = 1_000_000  # the default training budget, in events processed
MIN_EPOCHS, MAX_EPOCHS = 2, 20
PROFILE_KEYS = ("sessions_per_user", "hour_of_day", "day_of_week", "session_length", "event_types",
                "transitions", "gap_log2_seconds", "devices", "null_rates")


def model_params(conf: Config, cls, params: dict | None = None, key: str = "train.params"):
    """`train.params` (or the given `params` at `key`) as the model's dataclass config; unknown
    keys name the valid ones."""
    params = conf.train.params if params is None else params
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(params) - set(names))
    if unknown:
        raise ConfigError(f"{key}: unknown key(s) {unknown} for model '{cls.__name__.removesuffix('Config').lower()}'; "
                          f"valid keys: {', '.join(names)}")
    try:
        return cls(**params)
    except (TypeError, ValueError) as e:
        raise ConfigError(str(e)) from None


def epochs_for(conf: Config, train_events: int | None) -> tuple[int, str]:
    """`train.epochs`, or epochs enough to process about EPOCH_EVENTS events in all (within
    MIN_EPOCHS..MAX_EPOCHS): a budget counted in data, so a seed gives one model on any machine."""
    if conf.train.epochs is not None:
        return conf.train.epochs, "train.epochs"
    if not train_events:
        return MAX_EPOCHS, f"up to {MAX_EPOCHS} epochs"
    n = min(MAX_EPOCHS, max(MIN_EPOCHS, round(EPOCH_EVENTS / train_events)))
    return n, f"about {EPOCH_EVENTS:,} events processed in all, {MIN_EPOCHS}..{MAX_EPOCHS} epochs"


def fit_config(conf: Config, progress: bool = True, train_events: int | None = None):
    from synthlib.train.loop import FitConfig

    t, dp = conf.train, conf.train.dp
    epochs, budget = epochs_for(conf, train_events)
    network = part(dp, "network") if dp else None  # the network's share of the release's budget
    private = dict(epsilon=network.epsilon, delta=network.delta, max_grad_norm=dp.max_grad_norm,
                   expected_users_per_step=dp.users_per_step) if dp else {}
    return FitConfig(epochs=epochs, budget=budget, lr=t.lr, patience=t.patience, max_minutes=t.max_minutes,
                     seed=conf.seed, progress=progress, **private)


def base_spec(conf: Config, kind: str, summary: dict, lineage: dict, started: float) -> dict:
    """The parts of model.json every neural model shares."""
    return {"model": kind, "version": __version__, "seed": conf.seed, "lineage": lineage,
            "users": summary["users"], "time_range": summary["time_range"],
            "profile": {k: summary.get(k) for k in PROFILE_KEYS}, "train_seconds": round(time.time() - started, 1)}
