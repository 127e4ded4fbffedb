"""A release under train.dp on a small simulated log: bounded at ingest, profiled under the
profile's and the pairs' parts of the budget, trained with DP-SGD on what the whole release
leaves of the total, generated without reading the real log again, and the budget stated
end to end."""
import json
import shutil

import pytest
from pyspark.sql import functions as F

from synthlib.config import BudgetSplit, load_config
from synthlib.data.dp_profile import HISTOGRAMS, _maps_device, plan_weights
from synthlib.delta_io import table_properties
from synthlib.evaluate import evaluate
from synthlib.generate import generate
from synthlib.train.private import support
from tests.helpers import ROOT, simulated_log

pytestmark = pytest.mark.slow
CONF = ("seed: 9\nsimulate: {events: 4000, partitions: 2, categories: 4, items_per_category: 50}\n"
        "train: {epochs: 1, batch_size: 64, sample_fraction: 0.5,\n"
        "        dp: {epsilon: 8, max_sessions: 4, max_events: 20}}\n"
        "generate: {users: 40, block_users: 8}\n")


@pytest.fixture(scope="module")
def released(spark, tmp_path_factory):
    conf = simulated_log(spark, tmp_path_factory.mktemp("dp"), CONF, train=True)
    return conf, generate(spark, conf)


def test_contributions_are_bounded_once_at_ingest(spark, released):
    conf, _ = released
    summary = json.load(open(conf.layout.stats.summary))
    assert summary["ingest"]["dp_bounds"]["events_left_out"] > 0
    per_user = (spark.read.format("delta").load(conf.layout.ingest.events).groupBy("user_id")
                .agg(F.countDistinct("session_id").alias("s"), F.count(F.lit(1)).alias("e"))
                .agg(F.max("s"), F.max("e")).first())
    assert per_user[0] <= 4 and per_user[1] <= 20


def test_the_private_profile_holds_only_released_keys(spark, released):
    conf, _ = released
    private = json.load(open(conf.layout.stats.private))
    assert set(private["sessions_per_user"]["bins"]) <= {1, 2, 3, 4}
    assert max(private["session_length"]["bins"]) <= 20 and private["top_queries"] == []
    assert set(private["hour_of_day"]) <= {str(h) for h in range(24)}
    parts = private["privacy"]["parts"]
    split = BudgetSplit.for_epsilon(8)  # the conf's split is the default
    assert parts["profile"]["epsilon"] == pytest.approx(8 * split.profile)
    assert parts["pairs"]["epsilon"] == pytest.approx(8 * split.pairs)
    # partition selection: an item too few users touched never appears
    released_items = spark.read.format("delta").load(conf.layout.stats.private_items)
    users = (spark.read.format("delta").load(conf.layout.ingest.events).groupBy("item_id")
             .agg(F.countDistinct("user_id").alias("users")))
    joined = released_items.join(users, "item_id", "left")
    assert joined.count() > 0 and joined.where("users is null or users < 2").count() == 0
    assert joined.count() < users.count()


def test_a_log_without_devices_spends_nothing_on_them(released):
    conf, _ = released
    aggregations = json.load(open(conf.layout.stats.private))["privacy"]["parts"]["profile"]["aggregations"]
    assert "devices" in aggregations and _maps_device(conf)  # the simulated log has devices
    yoochoose = load_config(str(ROOT / "conf" / "yoochoose.yaml"), ["train.dp={epsilon: 8}"])
    assert not _maps_device(yoochoose)  # its conf maps none
    # the plan's weights are the two parts' shares, and none goes to what the log lacks
    dp = yoochoose.train.dp
    weights = plan_weights(dp, yoochoose, categories=[])
    assert set(weights) == {*HISTOGRAMS, "items", "pairs_per_user", "pairs"}
    assert sum(weights.values()) == pytest.approx(dp.shares.profile + dp.shares.pairs)
    assert weights["pairs"] + weights["pairs_per_user"] == pytest.approx(dp.shares.pairs)


def test_the_model_states_the_whole_budget_and_keeps_no_real_figure(spark, released):
    conf, _ = released
    spec = json.load(open(conf.layout.model.spec))
    privacy = spec["privacy"]
    # no delta configured: 1/(10 x users), users bounded above by a DP count (5 noise scales)
    users = spark.read.format("delta").load(conf.layout.ingest.events).select("user_id").distinct().count()
    derived = privacy["budget"]["delta_from"]
    network = BudgetSplit.for_epsilon(8).network  # the conf's split is the default
    assert derived["rule"] == "1/(10 x users)"
    assert privacy["budget"]["delta"] * network == pytest.approx(privacy["parts"]["network"]["delta"])
    assert 0 < privacy["epsilon"] <= 8 and privacy["delta"] <= 1 / (10 * (users - 5 / derived["epsilon"]))
    assert abs(derived["users_noisy"] - users) < 20 / derived["epsilon"]
    assert set(privacy["parts"]) == {"profile", "pairs", "network"}
    assert privacy["bounds"]["max_sessions"] == 4
    # the profile and the pairs composed under one noise plan, within their joint share; the
    # network's DP-SGD then took what the whole release, under one accountant, left of the total
    joint, composed = privacy["joint"], privacy["composed"]
    assert joint["epsilon"] + derived["epsilon"] == pytest.approx(8 * (1 - network))
    assert privacy["composition"].startswith("one PLD over every mechanism")
    assert privacy["epsilon"] == composed["epsilon"] and privacy["epsilon"] == pytest.approx(8, rel=0.01)
    assert composed["network"]["steps"] > 0 and composed["network"]["noise_multiplier"] > 0
    assert joint["composed_epsilon"] <= joint["epsilon"] and set(joint["noise_multipliers"]) >= {"items", "pairs"}
    # generation draws only the type transitions the release kept
    assert spec["support"] == support(json.load(open(conf.layout.stats.private)))
    training = spec["training"]
    assert "validation_nll" not in training and "users" not in training
    assert all(set(row) <= {"epoch", "seconds", "epsilon"} for row in training["history"])
    assert "sample_users" not in spec["lineage"]


def test_generation_reads_no_real_log_and_records_the_budget(spark, released):
    conf, summary = released
    assert summary["events"] > 0 and "copies_dropped" not in summary
    assert any(n.startswith("copy rule: not applied") for n in summary["notes"])
    lineage = json.loads(table_properties(spark, conf.layout.tables.events)[f"synthlib.run.{summary['run_id']}"])
    assert lineage["privacy"]["epsilon"] <= 8 and lineage["privacy"]["bounds"]["max_events"] == 20
    assert lineage["privacy"]["budget"]["delta_from"]["rule"] == "1/(10 x users)"


def test_the_report_states_the_guarantee_and_where_its_delta_came_from(spark, released):
    conf, _ = released
    report = open(evaluate(spark, conf)["report_path"]).read()
    assert "user-level DP, epsilon" in report and "= 1/(10 x " in report
    assert "changes the probability of any synthetic output by at most a factor" in report and "composed as one PLD" in report


def test_generation_needs_nothing_of_the_real_log_but_the_release(spark, released, tmp_path):
    # A copy of the output without the real log and its real profile: only the model and the
    # private profile (what the budget paid for) are left, and generation still runs.
    conf, _ = released
    out = tmp_path / "out"
    shutil.copytree(conf.output, out, ignore=shutil.ignore_patterns("ingest", "input", "cache", "tables", "eval"))
    for real in ("summary.json", "items", "categories"):
        target = out / "stats" / real
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    assert sorted(p.name for p in out.iterdir()) == ["model", "stats"]
    assert sorted(p.name for p in (out / "stats").iterdir()) == ["private.json", "private_items"]
    alone = load_config(conf.source_file, [f"output={out}", "generate.run_id=alone"])
    summary = generate(spark, alone)
    assert summary["events"] > 0 and summary["run_id"] == "alone"
