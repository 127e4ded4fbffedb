"""Synthesizers, one per module. `load_model` reads any saved model by its recorded kind."""
from __future__ import annotations

import importlib
import json
import os
from datetime import date
from typing import TYPE_CHECKING, Protocol

from synthlib.models.artifact import MODEL_JSON, ModelArtifactError, NotFittedError

if TYPE_CHECKING:
    import pandas as pd

    from synthlib.models.timeline import Conditions


class Synthesizer(Protocol):
    """What the stages need of a model; every kind in MODELS gives it. Saving, loading and
    the broadcast form come from `models.artifact.Artifact`."""

    kind: str  # the registry key, recorded in model.json
    spec: dict  # model.json: the profile pieces it generates from, lineage, training

    def sample_block(self, first: int, last: int, *, seed: int, start: date, days: int,
                     conditions: Conditions = ...) -> pd.DataFrame:
        """Event codes (schema.CODES_DDL) of synthetic users first..last-1, every draw keyed
        by (seed, user): the same block whatever the partitioning."""

    def lookups(self) -> dict[str, pd.DataFrame]:
        """The tables that decode event codes into ids (items, categories, queries)."""

    def get_info(self) -> dict:
        """A short summary for the run summary and the stage line."""

    def to_bytes(self) -> dict[str, bytes]:
        """Its files, model.json among them: what is saved and what is broadcast."""

    def save(self, path: str) -> None:
        """Write its folder, each file pinned by its SHA-256 in model.json."""

# kind -> (module, class); the neural models import torch only when used.
MODELS = {"stats": ("synthlib.models.stats", "StatsModel"), "session": ("synthlib.models.session", "SessionModel"),
          "ctgan": ("synthlib.models.ctgan", "CTGANModel"), "tvae": ("synthlib.models.tvae", "TVAEModel")}


def model_class(kind: str) -> type[Synthesizer]:
    module, name = MODELS[kind]
    return getattr(importlib.import_module(module), name)


def load_model(path: str) -> Synthesizer:
    """Load a saved model folder (`model.json` names its kind)."""
    spec_path = os.path.join(path, MODEL_JSON)
    if not os.path.exists(spec_path):
        raise NotFittedError(f"no model at '{path}'; run `synthlib train --conf ...` first")
    try:
        with open(spec_path, encoding="utf-8") as fh:
            kind = json.load(fh).get("model")
    except (ValueError, AttributeError) as e:
        raise ModelArtifactError(f"{spec_path} is not a model spec ({e}); rerun `synthlib train`") from None
    if kind not in MODELS:
        raise ModelArtifactError(f"{spec_path}: unknown model kind '{kind}'; known: {sorted(MODELS)}")
    return model_class(kind).load(path)
