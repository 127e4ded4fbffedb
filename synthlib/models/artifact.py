"""Model folders: `model.json` (spec, args, lineage) plus data files pinned by SHA-256.

Weights are a torch state dict read with `weights_only=True`: a pickled object in
`model.pt` is refused, and so is any file whose hash differs from the one in model.json.
"""
from __future__ import annotations

import hashlib
import io
import json
import os

MODEL_JSON = "model.json"


class NotFittedError(RuntimeError):
    """Raised when a model is used before `fit` or `load`."""


class ModelArtifactError(ValueError):
    """A model folder is corrupted, truncated, tampered with or of the wrong kind."""


def save_artifact(path: str, spec: dict, files: dict[str, bytes]) -> None:
    """Write the files, then `model.json` last with their hashes (each write is atomic)."""
    os.makedirs(path, exist_ok=True)
    spec = {**spec, "files": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}}
    for name, data in (*files.items(), (MODEL_JSON, json.dumps(spec, indent=1, sort_keys=True).encode())):
        tmp = os.path.join(path, f".{name}.tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, os.path.join(path, name))


def load_artifact(path: str, kind: str) -> tuple[dict, dict[str, bytes]]:
    """(spec, files) of a saved model of `kind`, every file checked against its hash."""
    spec_path = os.path.join(path, MODEL_JSON)
    if not os.path.exists(spec_path):
        raise NotFittedError(f"no model at '{path}'; run `synthlib train` first")
    try:
        with open(spec_path, encoding="utf-8") as fh:
            spec = json.load(fh)
        if spec.get("model") != kind:
            raise ValueError(f"model.json says model '{spec.get('model')}', expected '{kind}'")
        files = {}
        for name, digest in spec["files"].items():
            with open(os.path.join(path, name), "rb") as fh:
                files[name] = fh.read()
            if hashlib.sha256(files[name]).hexdigest() != digest:
                raise ValueError(f"{name} does not match the hash recorded in {MODEL_JSON}")
        return spec, files
    except (ValueError, KeyError, TypeError, AttributeError, OSError) as e:
        raise ModelArtifactError(f"model artifact at '{path}' is corrupted, truncated or tampered with "
                                 f"({type(e).__name__}: {e}); rerun `synthlib train`") from None


class Artifact:
    """Save, load and broadcast share one form: {file name: bytes}, `model.json` (the spec)
    among them. A model gives `to_bytes` and `from_bytes`; the rest comes from here."""

    kind = "model"

    def to_bytes(self) -> dict[str, bytes]:
        raise NotImplementedError

    @classmethod
    def from_bytes(cls, files: dict[str, bytes]):
        raise NotImplementedError

    def save(self, path: str) -> None:
        """Write the files, then `model.json` last, pinning each file by its hash."""
        files = dict(self.to_bytes())
        save_artifact(path, json.loads(files.pop(MODEL_JSON)), files)

    @classmethod
    def load(cls, path: str):
        """Read a saved model, each file checked against its hash; never a pickle."""
        spec, files = load_artifact(path, cls.kind)
        try:
            return cls.from_bytes({MODEL_JSON: spec_bytes(spec), **files})
        except ModelArtifactError:
            raise
        except (ValueError, KeyError, TypeError, OSError) as e:
            raise ModelArtifactError(f"model artifact at '{path}' is corrupted, truncated or tampered with "
                                     f"({type(e).__name__}: {e}); rerun `synthlib train`") from None

    @property
    def size_bytes(self) -> int:
        return sum(len(b) for b in self.to_bytes().values())


def spec_bytes(spec: dict) -> bytes:
    """The spec as model.json bytes (without the file hashes, which saving adds)."""
    return json.dumps({k: v for k, v in spec.items() if k != "files"}, sort_keys=True).encode()


def payload_digest(files: dict[str, bytes]) -> str:
    """One hash of a model's files, to recognise a broadcast model already built on a worker."""
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode())
        h.update(files[name])
    return h.hexdigest()


def state_bytes(state_dict: dict) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save(state_dict, buf)
    return buf.getvalue()


def load_state(data: bytes) -> dict:
    """A state dict of tensors; anything else (a pickled module, code) is refused."""
    import torch

    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises UnpicklingError, RuntimeError or others by version
        raise ModelArtifactError(f"model.pt is not a plain state dict of tensors and was refused "
                                 f"({type(e).__name__}: {str(e).splitlines()[0]}); rerun `synthlib train`") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelArtifactError("model.pt holds something other than a state dict of tensors; rerun `synthlib train`")
    return state
