"""Synthesizers, one per module. `load_model` reads any saved model by its recorded kind."""
from __future__ import annotations

import json
import os

from synthlib.models.stats import MODEL_JSON, ModelArtifactError, NotFittedError, StatsModel

MODELS = {"stats": StatsModel}


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
    return MODELS[kind].load(path)
