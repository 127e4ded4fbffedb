"""Evaluate: fidelity, privacy and utility of the synthetic runs (`synthlib.evaluate.stage`)."""
from synthlib.evaluate.stage import evaluate

__all__ = ["evaluate"]
