"""What the torch synthesizers share: the artifact (model.json, items.parquet, model.pt)
and its broadcast form. Subclasses build their network from the spec and sample blocks."""
from __future__ import annotations

import io
import json

import pandas as pd
import torch

from synthlib.models.artifact import MODEL_JSON, Artifact, ModelArtifactError, load_state, spec_bytes, state_bytes

ITEMS, WEIGHTS = "items.parquet", "model.pt"


class NeuralModel(Artifact):
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

    def to_bytes(self) -> dict[str, bytes]:
        """model.json, the items as Parquet and the state dict: plain data, never a pickle."""
        buf = io.BytesIO()
        self.items.to_parquet(buf, index=False)
        return {MODEL_JSON: spec_bytes(self.spec), ITEMS: buf.getvalue(), WEIGHTS: state_bytes(self.net.state_dict())}

    @classmethod
    def from_bytes(cls, files: dict[str, bytes]):
        state = load_state(files[WEIGHTS])
        try:
            return cls(json.loads(files[MODEL_JSON]), pd.read_parquet(io.BytesIO(files[ITEMS])), state)
        except (KeyError, RuntimeError, TypeError, ValueError) as e:
            raise ModelArtifactError(f"the {cls.kind} model's files do not fit together ({type(e).__name__}: "
                                     f"{str(e).splitlines()[0]}); rerun `synthlib train`") from None

    def get_info(self) -> dict:
        return {"model": self.kind, "version": self.spec["version"], "items": len(self.items),
                "lineage": self.spec["lineage"], "training": self.spec["training"]}
