"""The evaluate job on a small simulated log with a held-out last day."""
import json
import re

import pytest

from synthlib.config import ConfigError, load_config
from synthlib.data.sessions import item_sequences
from synthlib.evaluate import evaluate
from synthlib.evaluate.stage import _write_metrics_table
from synthlib.generate import generate
from tests.helpers import assert_numeric_axes_ascend, simulated_log


@pytest.fixture(scope="module")
def evaluated(spark, tmp_path_factory):
    conf = simulated_log(spark, tmp_path_factory.mktemp("eval"),
                         "seed: 5\nsimulate: {events: 10000, partitions: 2, days: 6}\n"
                         "train: {model: stats, titles: {epochs: 1, max_minutes: 0.5, params: {dim: 16, vocab_size: 100}}}\n"
                         "generate: {partitions: 2}\n"
                         "evaluate: {holdout: {days: 1}, runs: [seed5-stats], augment_run: aug, privacy_records: 500,"
                         " max_events: 2000, als: {iterations: 2}}\n", train=True)
    generate(spark, conf)
    generate(spark, load_config(conf.source_file, ["generate.augment=true", "generate.run_id=aug", "generate.users=100"]))
    return conf, evaluate(spark, conf)


@pytest.mark.slow
def test_every_kind_of_metric_is_reported(spark, evaluated):
    conf, result = evaluated
    saved = json.load(open(conf.layout.eval.metrics_json))
    assert list(saved["runs"]) == ["seed5-stats"]  # the augmentation run is used, not scored
    metrics, marks = saved["runs"]["seed5-stats"]["metrics"], saved["runs"]["seed5-stats"]["marks"]
    assert {"item_rank_frequency_ks", "transition_l1", "covisit_neighbour_distance", "copy_share",
            "copy_share_holdout", "dcr_median_synthetic", "mia_auc", "knn_recall_ratio", "als_recall_ratio"} <= set(metrics)
    assert set(marks) == set(metrics) and set(marks.values()) <= {"pass", "warn", "fail", "info", "n/a"}
    scores = saved["utility"]["scores"]
    assert scores["real"]["knn"]["recall"] > scores["popularity"]["popularity"]["recall"] > 0
    assert set(scores) == {"popularity", "real", "seed5-stats"} and scores["real"]["knn"]["examples"] > 20
    aug = saved["utility"]["augmentation"]
    assert set(aug) == {"sparse_examples", "real", "real_plus_synthetic"}
    assert saved["runs"]["seed5-stats"]["privacy"]["mia_non_members"] == "the held-out test split"
    # A run over evaluate.max_events is measured on a seeded share of its users, its copies on all.
    run = saved["runs"]["seed5-stats"]
    assert run["events"] > 3000 and 1500 < run["evaluated_events"] < 2500
    whole = spark.read.format("delta").load(conf.layout.tables.events).where("run_id = 'seed5-stats'")
    assert run["privacy"]["copies"]["sessions"] == item_sequences(whole).count()


@pytest.mark.slow
def test_search_text_is_measured_and_keeps_the_k_user_rule(evaluated):
    conf, _ = evaluated
    saved = json.load(open(conf.layout.eval.metrics_json))["runs"]["seed5-stats"]
    m, marks = saved["metrics"], saved["marks"]
    # The stats model only emits queries that at least profile.min_query_users users issued.
    assert m["query_rare_events"] == 0 and marks["query_rare_events"] == "pass"
    assert m["query_exact_share"] == 1.0 and 0 < m["query_bleu4"] <= 1 and 0 < m["query_distinct1"] <= 1


@pytest.mark.slow
def test_catalog_titles_are_measured_against_the_real_catalog(evaluated):
    conf, _ = evaluated
    saved = json.load(open(conf.layout.eval.metrics_json))["runs"]["seed5-stats"]
    m, marks = saved["metrics"], saved["marks"]
    assert m["title_exact_share"] == 0.0 and 0 < m["title_bleu4"] <= 1 and 0 < m["title_vocabulary_coverage"] <= 1
    assert {marks[k] for k in m if k.startswith("title_")} == {"info"}


@pytest.mark.slow
def test_metrics_table_holds_one_row_per_run_and_metric(spark, evaluated):
    conf, result = evaluated
    table = spark.read.format("delta").load(conf.layout.eval.metrics_table)
    rows = table.where("run_id = 'seed5-stats'").collect()
    assert len(rows) == len(result["runs"]["seed5-stats"]["metrics"])
    assert {r["kind"] for r in rows} == {"fidelity", "privacy", "utility", "text"}
    assert {r["model"] for r in rows} == {"stats"}
    # A rerun's rows replace the run's earlier ones, whatever metrics it has.
    _write_metrics_table(spark, conf, {"seed5-stats": {"model": "stats", "metrics": {"gap_ks": 0.5},
                                                       "marks": {"gap_ks": "fail"}}})
    rerun = spark.read.format("delta").load(conf.layout.eval.metrics_table).collect()
    assert [(r["run_id"], r["metric"], r["value"], r["mark"]) for r in rerun] == [("seed5-stats", "gap_ks", 0.5, "fail")]


@pytest.mark.slow
def test_report_shows_every_plot(evaluated):
    conf, _ = evaluated
    page = open(conf.layout.eval.report).read()
    for caption in ("rank-frequency, log-log", "Session length", "Funnel", "Hour of day", "Event transitions: real",
                    "Event transitions: seed5-stats", "Distance to the closest training session", "recall @20",
                    "Augmentation", "Clicks by result position", "Query length", "copy_share", "mia_auc",
                    "Search text", "BLEU-4 against the real strings", "self-BLEU", "Catalog: synthetic item titles"):
        assert caption in page, caption
    assert page.count("<svg") >= 14
    assert not re.search(r'(src|href)="(https?:)?//', page)  # self-contained: nothing fetched when opened
    # Every histogram with numeric keys (session length, events per user, hour, day, gap,
    # positions, query length, distances) reads left to right in numeric order.
    assert assert_numeric_axes_ascend(page) >= 8


@pytest.mark.slow
def test_unknown_run_is_a_clear_error(spark, evaluated):
    conf, _ = evaluated
    with pytest.raises(ConfigError, match=r"run 'nope' is not in .* written runs: \['aug', 'seed5-stats'\]"):
        evaluate(spark, conf.model_copy(update={"evaluate": conf.evaluate.model_copy(update={"runs": ["nope"]})}))


def test_mia_non_members_are_the_users_the_sample_left_out(spark, write_conf):
    from synthlib.evaluate.stage import mia_populations
    from tests.helpers import log

    train = log(spark, [(f"u{i}", f"s{i}", i, "view", f"i{i}") for i in range(40)])
    test = log(spark, [("t", "st", 0, "view", "i1")])
    half = load_config(write_conf({"simulate": {}, "train": {"sample_fraction": 0.5}}))
    members, outside, which = mia_populations(train, test, half, users=40)
    assert which == "training-period users outside the model's training sample"
    ids = lambda df: {r[0] for r in df.select("user_id").distinct().collect()}  # noqa: E731
    assert ids(members) | ids(outside) == ids(train) and not ids(members) & ids(outside) and ids(outside)
    everyone = load_config(write_conf({"simulate": {}}, "all.yaml"))
    assert mia_populations(train, test, everyone, users=40)[2] == "the held-out test split"
    assert mia_populations(train, test, everyone)[2] == "the held-out test split"  # checked in Spark
