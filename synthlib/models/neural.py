"""What the torch synthesizers share: the artifact (model.json, items.parquet, model.pt)
and its broadcast form. Subclasses build their network from the spec and sample blocks."""
from __future__ import annotations

import io
import json

import pandas as pd
import torch

from synthlib.models.artifact import ModelArtifactError, load_artifact, load_state, save_artifact, state_bytes

ITEMS, WEIGHTS = "items.parquet", "model.pt"


class NeuralModel:
    kind = "neural"

    def __init__(self, spec: dict, items: pd.DataFrame, state: dict):
        self.spec, self.items = spec, items
        self.net = self.build_net(spec, items)
        self.net.load_state_dict(state)
        self.net.eval()
        self.prepare()

    @property
    def profile(self) -> dict:
        """The profiled distributions that place users' sessions in time."""
        return self.spec["profile"]

    def build_net(self, spec: dict, items: pd.DataFrame) -> torch.nn.Module:
        raise NotImplementedError

    def prepare(self) -> None:
        """Precompute what sampling needs (tables, samplers)."""

    def save(self, path: str) -> None:
        spec_json, items, weights = self.to_bytes()
        save_artifact(path, json.loads(spec_json), {ITEMS: items, WEIGHTS: weights})

    @classmethod
    def load(cls, path: str):
        spec, files = load_artifact(path, cls.kind)
        return cls.from_bytes(json.dumps(spec), files[ITEMS], files[WEIGHTS])

    def to_bytes(self) -> tuple[str, bytes, bytes]:
        """(spec JSON, items Parquet, state-dict bytes): plain data to broadcast, never a pickle."""
        buf = io.BytesIO()
        self.items.to_parquet(buf, index=False)
        spec = {k: v for k, v in self.spec.items() if k != "files"}
        return json.dumps(spec, sort_keys=True), buf.getvalue(), state_bytes(self.net.state_dict())

    @classmethod
    def from_bytes(cls, spec_json: str, items: bytes, weights: bytes):
        state = load_state(weights)
        try:
            return cls(json.loads(spec_json), pd.read_parquet(io.BytesIO(items)), state)
        except (KeyError, RuntimeError, TypeError, ValueError) as e:
            raise ModelArtifactError(f"the {cls.kind} model's files do not fit together ({type(e).__name__}: "
                                     f"{str(e).splitlines()[0]}); rerun `synthlib train`") from None

    def get_info(self) -> dict:
        return {"model": self.kind, "version": self.spec["version"], "items": len(self.items),
                "lineage": self.spec["lineage"], "training": self.spec["training"]}
