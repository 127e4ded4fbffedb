"""The output layout: where every stage reads and writes, under one `output` folder.

    <output>/input/     the simulated demo log (events, items, impressions)
    <output>/ingest/    the canonical log: events, test, items, quarantine, impressions ...
    <output>/stats/     the profile: summary.json and its Delta tables
    <output>/model/     the model artifact, its guards and the text and exposure models
    <output>/tables/    the synthetic tables: events, catalog, impressions
    <output>/eval/      metrics.json, the metrics table, report.html
    <output>/cache/     Petastorm's training files
    <output>/run.json   the run summary

Stages name these through `conf.layout` (`conf.layout.ingest.events`), never as strings.
Imports without Spark.
"""
from __future__ import annotations

import os
from dataclasses import dataclass


class _Folder(str):
    """A folder's path (a plain string wherever a path is taken) that names what it holds."""

    def at(self, name: str) -> str:
        return os.path.join(self, name)


class InputFolder(_Folder):
    """The simulated demo log, when `simulate.path` does not place it elsewhere."""

    @property
    def events(self) -> str:
        return self.at("events")

    @property
    def items(self) -> str:
        return self.at("items")

    @property
    def impressions(self) -> str:
        return self.at("impressions")


class IngestFolder(_Folder):
    """The real log in canonical form: its Delta tables, one per name."""

    @property
    def events(self) -> str:
        return self.at("events")

    @property
    def test(self) -> str:
        return self.at("test")

    @property
    def items(self) -> str:
        return self.at("items")

    @property
    def quarantine(self) -> str:
        return self.at("quarantine")

    @property
    def impressions(self) -> str:
        return self.at("impressions")

    @property
    def impressions_test(self) -> str:
        return self.at("impressions_test")

    @property
    def impressions_quarantine(self) -> str:
        return self.at("impressions_quarantine")


class StatsFolder(_Folder):
    """The profile of the real log."""

    @property
    def summary(self) -> str:
        return self.at("summary.json")

    @property
    def items(self) -> str:
        return self.at("items")

    @property
    def categories(self) -> str:
        return self.at("categories")

    @property
    def impression_items(self) -> str:
        return self.at("impression_items")


class ModelFolder(_Folder):
    """The model artifact (model.pt, model.json, items.parquet) and the models beside it."""

    @property
    def spec(self) -> str:
        return self.at("model.json")

    @property
    def guards(self) -> str:
        """The real sessions' copy keys and the rare queries' keys generation checks."""
        return self.at("guards")

    @property
    def exposure(self) -> str:
        """The exposure model: candidates, click model, list shapes."""
        return self.at("impressions")

    def text(self, section: str) -> str:
        """The text model of `train.text` ("text": queries) or `train.titles` ("titles")."""
        return self.at(section)


class TablesFolder(_Folder):
    """The synthetic tables that recommender training reads."""

    @property
    def events(self) -> str:
        return self.at("events")

    @property
    def catalog(self) -> str:
        return self.at("catalog")

    @property
    def impressions(self) -> str:
        return self.at("impressions")


class EvalFolder(_Folder):
    """What evaluation writes."""

    @property
    def metrics_json(self) -> str:
        return self.at("metrics.json")

    @property
    def metrics_table(self) -> str:
        return self.at("metrics")

    @property
    def report(self) -> str:
        return self.at("report.html")


@dataclass(frozen=True)
class Layout:
    """Every path of a run under `output`."""

    output: str

    @property
    def input(self) -> InputFolder:
        return InputFolder(os.path.join(self.output, "input"))

    @property
    def ingest(self) -> IngestFolder:
        return IngestFolder(os.path.join(self.output, "ingest"))

    @property
    def stats(self) -> StatsFolder:
        return StatsFolder(os.path.join(self.output, "stats"))

    @property
    def model(self) -> ModelFolder:
        return ModelFolder(os.path.join(self.output, "model"))

    @property
    def tables(self) -> TablesFolder:
        return TablesFolder(os.path.join(self.output, "tables"))

    @property
    def eval(self) -> EvalFolder:
        return EvalFolder(os.path.join(self.output, "eval"))

    @property
    def cache(self) -> str:
        """Petastorm's training files."""
        return os.path.join(self.output, "cache", "petastorm")

    @property
    def run_summary(self) -> str:
        return os.path.join(self.output, "run.json")
