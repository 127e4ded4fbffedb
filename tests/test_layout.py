"""The output layout: one typed object names every path under `output`."""
import os

from synthlib.config import load_config
from synthlib.layout import Layout


def test_every_path_is_a_plain_string_under_the_output():
    out = Layout("/lake/run")
    assert out.ingest.events == "/lake/run/ingest/events" and isinstance(out.ingest.events, str)
    assert out.stats == "/lake/run/stats" and out.stats.summary == "/lake/run/stats/summary.json"
    assert out.model.spec == "/lake/run/model/model.json" and out.model.text("titles") == "/lake/run/model/titles"
    assert out.tables.events == "/lake/run/tables/events" and out.eval.report == "/lake/run/eval/report.html"
    assert out.run_summary == "/lake/run/run.json" and out.cache == "/lake/run/cache/petastorm"
    assert os.path.join(out.model, "model.pt") == "/lake/run/model/model.pt"  # a folder is a path too


def test_the_conf_carries_its_layout(write_conf):
    conf = load_config(write_conf({"simulate": {}}))
    assert conf.layout.ingest.test == os.path.join(conf.output, "ingest", "test")
    assert conf.simulated_path == conf.layout.input.events
    moved = load_config(write_conf({"simulate": {"path": "/elsewhere/events"}}, "moved.yaml"))
    assert moved.simulated_path == "/elsewhere/events"
    # A shared simulated log keeps its catalog and shown lists beside its events, wherever it is.
    assert (moved.simulated_items_path, moved.simulated_impressions_path) == ("/elsewhere/items", "/elsewhere/impressions")
    assert conf.simulated_items_path == conf.layout.input.items
