"""The generate stage's pieces that need no trained model: notes on optional columns, and
devices drawn per session."""
import json
import os
from types import SimpleNamespace

from synthlib.config import load_config
from synthlib.generate.stage import coverage_notes, session_device


def test_notes_say_which_optional_columns_are_not_generated_and_why(write_conf):
    conf = load_config(write_conf({"simulate": {}}))
    os.makedirs(conf.layout.stats)
    with open(conf.layout.stats.summary, "w") as fh:
        json.dump({"events": 1000, "event_types": {"search": 400, "view": 600},
                   "null_rates": {"query": 0.7}, "top_queries": [{"query": "sofa", "count": 150}]}, fh)
    model = SimpleNamespace(profile={"null_rates": {"device": 0.2}, "devices": {}}, spec={})
    queries, device = coverage_notes(conf, model)
    assert queries.startswith("queries: 50% of the real queries")  # 150 of 300 searches with a query
    assert "train.text" in queries and device.startswith("device: no device value was used by 5+ users")
    private = SimpleNamespace(profile=model.profile, spec={"privacy": {"epsilon": 8}})
    assert coverage_notes(conf, private) == [device]  # a DP release opens no real profile
    with_text = load_config(write_conf({"simulate": {}, "train": {"text": {}}}, "text.yaml"))
    os.makedirs(with_text.layout.stats, exist_ok=True)
    with open(with_text.layout.stats.summary, "w") as fh:
        json.dump({"events": 10, "event_types": {"view": 10}, "null_rates": {}}, fh)
    assert coverage_notes(with_text, SimpleNamespace(profile={"devices": {"app": 10}, "null_rates": {}}, spec={})) == []


def test_devices_per_session_follow_the_real_shares(spark):
    codes = spark.range(20000).selectExpr("id DIV 4 AS user", "CAST(id % 4 AS INT) AS session")
    profile = {"devices": {"mobile": 600, "desktop": 300, "app": 100}, "null_rates": {"device": 0.5}}
    rows = codes.select(session_device(profile, seed=3).alias("d")).groupBy("d").count().collect()
    share = {r["d"]: r["count"] / 20000 for r in rows}
    assert abs(share[None] - 0.5) < 0.02 and abs(share["mobile"] - 0.3) < 0.02 and abs(share["app"] - 0.05) < 0.01
    again = codes.select(session_device(profile, seed=3).alias("d")).collect()
    assert again == codes.select(session_device(profile, seed=3).alias("d")).collect()  # keyed, not random
