"""Train: fit the configured synthesizer (`synthlib.train.stage`)."""
from synthlib.train.stage import train

__all__ = ["train"]
