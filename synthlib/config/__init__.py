"""Run configuration: YAML files validated strictly before any Spark work.

Every key is declared here; an unknown or mistyped key is an error that names the key,
the file and the closest valid key. Imports without Spark. The sections live in
`config.input` (the real log and its columns) and `config.stages` (one per stage).
"""
from __future__ import annotations

import difflib
import os
from typing import Any, Optional

import yaml
from pydantic import BaseModel, PrivateAttr, ValidationError, model_validator

from synthlib.config.base import ConfigError, Strict
from synthlib.config.input import (BY_TYPE_COLUMNS, SURFACES, ColumnMap, ImpressionColumns, ImpressionsConf,
                                   InputConf, ItemsConf, SourceConf, TimestampConf)
from synthlib.config.stages import (AlsConf, BudgetSplit, DPConf, EvaluateConf, GenerateConf, HoldoutConf,
                                    ProfileConf, SegmentConf, SimulateConf, SparkConf, TextTrainConf, TrainConf)
from synthlib.layout import Layout

__all__ = ["AlsConf", "BY_TYPE_COLUMNS", "BudgetSplit", "ColumnMap", "Config", "ConfigError", "DPConf",
           "EvaluateConf", "GenerateConf", "HoldoutConf", "ImpressionColumns", "ImpressionsConf", "InputConf",
           "ItemsConf", "ProfileConf", "SURFACES", "SegmentConf", "SimulateConf", "SourceConf", "SparkConf",
           "TextTrainConf", "TimestampConf", "TrainConf", "load_config"]


class Config(Strict):
    seed: int = 42
    output: str
    spark: SparkConf = SparkConf()
    simulate: Optional[SimulateConf] = None
    input: Optional[InputConf] = None
    profile: ProfileConf = ProfileConf()
    train: TrainConf = TrainConf()
    generate: GenerateConf = GenerateConf()
    evaluate: EvaluateConf = EvaluateConf()
    _source_file: Optional[str] = PrivateAttr(None)

    @model_validator(mode="after")
    def _check(self) -> "Config":
        if self.input is None and self.simulate is None:
            raise ValueError("set 'input' (your log) or 'simulate' (the demo log)")
        return self

    @property
    def source_file(self) -> Optional[str]:
        """The YAML file this config was loaded from."""
        return self._source_file

    @property
    def layout(self) -> Layout:
        """Where every stage reads and writes under `output` (synthlib.layout)."""
        return Layout(self.output)

    @property
    def simulated_path(self) -> str:
        """The simulated demo log's events: `simulate.path`, else `<output>/input/events`."""
        return (self.simulate and self.simulate.path) or self.layout.input.events

    @property
    def simulated_items_path(self) -> str:
        """The simulated log's catalog, beside its events."""
        return self._beside_simulated("items")

    @property
    def simulated_impressions_path(self) -> str:
        """The simulated log's shown lists, beside its events."""
        return self._beside_simulated("impressions")

    def _beside_simulated(self, name: str) -> str:
        """`name` in the folder of the simulated events, wherever `simulate.path` puts them."""
        return os.path.join(os.path.dirname(self.simulated_path), name)

    def require_input(self) -> InputConf:
        """The configured input; without one, the simulated demo log (and its catalog) in canonical form."""
        if self.input is not None:
            return self.input
        identity = ColumnMap(**{c: c for c in ColumnMap.model_fields if c not in ("timestamp", "order")},
                             timestamp="ts")
        items = self.simulated_items_path
        catalog = "://" in items or os.path.exists(items)  # a demo log simulated before catalogs had none
        impressions = None
        if self.simulate is not None and self.simulate.impressions:
            names = {c: c for c in ImpressionColumns.model_fields if c not in ("timestamp", "shown")}
            impressions = ImpressionsConf(path=self.simulated_impressions_path, columns=ImpressionColumns(
                **names, timestamp="ts"), timestamp=TimestampConf(format="timestamp"))
        return InputConf(sources=[SourceConf(path=self.simulated_path, format="delta", columns=identity,
                                             timestamp=TimestampConf(format="timestamp"))],
                         items=ItemsConf(path=items, item_id="item_id", category="category", price="price",
                                         brand="brand", title="title") if catalog
                         else None, impressions=impressions)


def _set_dotted(tree: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = tree
    for k in keys[:-1]:
        node = node.setdefault(k, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override '{dotted}': '{k}' is not a section")
    node[keys[-1]] = value


def _dotted(loc: tuple) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The config model that holds the keys at `loc` (list indices skipped)."""
    model = Config
    for p in loc:
        if isinstance(p, int):
            continue
        field = model.model_fields.get(str(p))
        args = getattr(field.annotation, "__args__", ()) or (field.annotation,) if field else ()
        model = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if model is None:
            return None
    return model


def _describe(err: dict, source: str) -> str:
    loc = _dotted(err["loc"])
    if err["type"] == "extra_forbidden":
        model = _model_at(err["loc"][:-1])
        valid = sorted(model.model_fields) if model else []
        close = difflib.get_close_matches(str(err["loc"][-1]), valid, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return f"{source}: unknown key '{loc}'; {hint}valid keys here: {', '.join(valid)}"
    return f"{source}: '{loc or '(top level)'}': {err['msg']}"


def load_config(path: str, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Load and validate a YAML run configuration.

    Args:
        path: YAML file.
        overrides: `dotted.key=value` strings; values are parsed as YAML scalars or lists.

    Raises:
        ConfigError: naming the file, the key and how to fix it.
    """
    if not os.path.isfile(path):
        raise ConfigError(f"config file '{path}' not found; pass --conf conf/<name>.yaml")
    with open(path) as fh:
        try:
            tree = yaml.safe_load(fh) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(tree, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys to values")
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}' must look like dotted.key=value")
        key, raw = item.split("=", 1)
        _set_dotted(tree, key.strip(), yaml.safe_load(raw) if raw else None)
    try:
        conf = Config.model_validate(tree)
    except ValidationError as e:
        raise ConfigError("\n".join(_describe(err, path) for err in e.errors())) from None
    conf._source_file = path
    return conf
