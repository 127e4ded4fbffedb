"""Generate: the synthetic log, sampled on the executors (`synthlib.generate.stage`)."""
from synthlib.generate.stage import generate

__all__ = ["generate"]
