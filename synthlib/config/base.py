"""The pieces every config section shares: strict models and the error that says how to fix."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ConfigError(ValueError):
    """A configuration file or override is invalid; the message says how to fix it."""


class Strict(BaseModel):
    """A section: unknown keys are errors, values are frozen once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)
