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


def _entry(name: str, doc: str | None = None) -> property:
    """A path inside the folder, as a read-only attribute."""
    return property(lambda folder: folder.at(name), doc=doc)


class InputFolder(_Folder):
    """The simulated demo log, when `simulate.path` does not place it elsewhere."""

    events, items, impressions = _entry("events"), _entry("items"), _entry("impressions")


class IngestFolder(_Folder):
    """The real log in canonical form: its Delta tables, one per name."""

    events, test, items, quarantine = _entry("events"), _entry("test"), _entry("items"), _entry("quarantine")
    impressions, impressions_test = _entry("impressions"), _entry("impressions_test")
    impressions_quarantine = _entry("impressions_quarantine")


class StatsFolder(_Folder):
    """The profile of the real log."""

    summary = _entry("summary.json")
    items, categories, impression_items = _entry("items"), _entry("categories"), _entry("impression_items")
    private = _entry("private.json", "Under train.dp: the profile released under the budget (data.dp_profile).")
    private_items = _entry("private_items", "Under train.dp: the released items and their released partners.")


class ModelFolder(_Folder):
    """The model artifact (model.pt, model.json, items.parquet) and the models beside it."""

    spec = _entry("model.json")
    guards = _entry("guards", "The real sessions' copy keys and the rare queries' keys generation checks.")
    exposure = _entry("impressions", "The exposure model: candidates, click model, list shapes.")

    def text(self, section: str) -> str:
        """The text model of `train.text` ("text": queries) or `train.titles` ("titles")."""
        return self.at(section)


class TablesFolder(_Folder):
    """The synthetic tables that recommender training reads."""

    events, catalog, impressions = _entry("events"), _entry("catalog"), _entry("impressions")


class EvalFolder(_Folder):
    """What evaluation writes."""

    metrics_json, metrics_table, report = _entry("metrics.json"), _entry("metrics"), _entry("report.html")


def _folder(kind: type[_Folder], name: str) -> property:
    """A folder of the run, as a read-only attribute of its layout."""
    return property(lambda layout: kind(os.path.join(layout.output, name)))


@dataclass(frozen=True)
class Layout:
    """Every path of a run under `output`: `layout.ingest.events`, `layout.model.spec`, ..."""

    output: str

    input = _folder(InputFolder, "input")
    ingest = _folder(IngestFolder, "ingest")
    stats = _folder(StatsFolder, "stats")
    model = _folder(ModelFolder, "model")
    tables = _folder(TablesFolder, "tables")
    eval = _folder(EvalFolder, "eval")

    @property
    def cache(self) -> str:
        """Petastorm's training files."""
        return os.path.join(self.output, "cache", "petastorm")

    @property
    def run_summary(self) -> str:
        return os.path.join(self.output, "run.json")
