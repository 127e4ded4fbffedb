"""Synthesizers, one per module. `load_model` reads any saved model by its recorded kind."""
from __future__ import annotations

import importlib
import json
import os

from synthlib.models.artifact import MODEL_JSON, ModelArtifactError, NotFittedError

# kind -> (module, class); the neural models import torch only when used.
MODELS = {"stats": ("synthlib.models.stats", "StatsModel"), "session": ("synthlib.models.session", "SessionModel"),
          "ctgan": ("synthlib.models.ctgan", "CTGANModel"), "tvae": ("synthlib.models.tvae", "TVAEModel")}


def model_class(kind: str):
    module, name = MODELS[kind]
    return getattr(importlib.import_module(module), name)


def load_model(path: str):
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
