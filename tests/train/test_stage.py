"""Each neural model trained for a few steps through the real Petastorm loader, then
generated from, on a small simulated log."""
import json
import shutil
from datetime import date

import pandas as pd
import pytest
import torch

from synthlib.config import ConfigError, load_config
from synthlib.generate import generate
from synthlib.models import load_model
from synthlib.train import train
from tests.helpers import checksum, simulated_log


@pytest.fixture(scope="module")
def profiled(spark, tmp_path_factory):
    conf = simulated_log(spark, tmp_path_factory.mktemp("learn"),
                         "seed: 9\nsimulate: {events: 6000, partitions: 2}\n"
                         "train: {epochs: 2, batch_size: 64}\ngenerate: {users: 40, block_users: 8}\n")
    return conf.source_file, conf


def _conf(profiled, *overrides):
    return load_config(profiled[0], list(overrides))


@pytest.fixture(scope="module")
def session_model(spark, profiled, tmp_path_factory):
    """The session model trained once with the module's conf: (conf, info, a copy of its
    artifact). Other tests train other models into the same output; `_restore` puts it back."""
    conf = _conf(profiled, "train.model=session")
    info = train(spark, conf)
    saved = tmp_path_factory.mktemp("session-model") / "model"
    shutil.copytree(conf.layout.model, saved)
    return conf, info, saved


def _restore(session_model):
    conf, _, saved = session_model
    shutil.rmtree(conf.layout.model, ignore_errors=True)
    shutil.copytree(saved, conf.layout.model)
    return conf


@pytest.mark.parametrize("kind", ["session", "ctgan", "tvae"])
def test_train_generate_and_reload(spark, profiled, session_model, kind):
    conf = _conf(profiled, f"train.model={kind}", f"generate.run_id={kind}")
    if kind == "session":
        info = session_model[1]
        _restore(session_model)
    else:
        info = train(spark, conf)
    assert info["model"] == kind and info["size_mb"] > 0
    history = info["training"]["history"]
    assert len(history) == 2 and all(h.get("rows", h.get("events", 0)) > 0 for h in history)
    model = load_model(conf.layout.model)
    spec = json.load(open(conf.layout.model.spec))
    assert spec["lineage"]["sample_fraction"] == 1.0 and spec["seed"] == 9 and set(spec["files"]) == {
        "items.parquet", "model.pt"}
    state = torch.load(conf.layout.model.at("model.pt"), weights_only=True)
    assert all(torch.equal(v, model.net.state_dict()[k]) for k, v in state.items())
    again = load_model(conf.layout.model)
    window = {"seed": 1, "start": date(2024, 1, 1), "days": 3}
    pd.testing.assert_frame_equal(model.sample_block(0, 6, **window), again.sample_block(0, 6, **window))
    result = generate(spark, conf)
    events = spark.read.format("delta").load(result["path"]).where(f"run_id = '{kind}'")
    assert result["events"] == events.count() > 40
    assert events.select("user_id").distinct().count() <= 40
    assert events.where("event_type <> 'search' AND item_id IS NULL").count() == 0


def test_session_training_reports_model_and_baseline_nll(session_model):
    t = session_model[1]["training"]
    assert t["validation_nll"] > 0 and t["stats_baseline_validation_nll"] > 0
    assert set(t["validation_components"]) == {"type", "gap", "repeat", "cat", "item", "pos", "query"}
    # How much of the kept pairs' fresh rate the network gives alone, measured on its own sessions.
    assert t["next_items"]["measured_on_events"] > 0 and 0 <= t["next_items"]["network_share"]


def _transitions(events) -> list:
    """A log's consecutive (item, next item) pairs, both items present and different."""
    rows = events.where("item_id IS NOT NULL").select("session_id", "ts", "item_id").toPandas()
    rows = rows.sort_values(["session_id", "ts", "item_id"], kind="stable")
    prev = rows.groupby("session_id")["item_id"].shift()
    keep = prev.notna() & (prev != rows["item_id"])
    return list(zip(prev[keep], rows["item_id"][keep]))


def _session_pairs(events) -> set:
    """A log's (item, other item) pairs of items that share a session, both orders."""
    rows = events.where("item_id IS NOT NULL").select("session_id", "item_id").distinct().toPandas()
    both = rows.merge(rows, on="session_id")
    return set(zip(both["item_id_x"], both["item_id_y"]))


@pytest.mark.slow
def test_session_model_follows_real_item_pairs(spark, profiled):
    real = _session_pairs(spark.read.format("delta").load(_conf(profiled).layout.ingest.events))
    shares = {}
    for min_users in (0, 1):
        conf = _conf(profiled, "train.model=session", "train.epochs=1", f"generate.run_id=next{min_users}",
                     f"train.params={{next_min_users: {min_users}}}", "generate.follow_transitions=0")
        kept = train(spark, conf)["training"]["next_items"]
        synthetic = _transitions(spark.read.format("delta").load(generate(spark, conf)["path"])
                                 .where(f"run_id = 'next{min_users}'"))
        shares[min_users] = sum(p in real for p in synthetic) / len(synthetic)
    # The same model, generated again with every kept pair followed where its item has any.
    always = conf.model_copy(update={"generate": conf.generate.model_copy(
        update={"run_id": "always", "follow_transitions": 1.0, "follow_min_events": 1})})
    synthetic = _transitions(spark.read.format("delta").load(generate(spark, always)["path"])
                             .where("run_id = 'always'"))
    shares["always"] = sum(p in real for p in synthetic) / len(synthetic)
    assert kept["min_users"] == 1 and kept["pairs"] > 0 and kept["fresh_pair_counts"] < kept["kept_pair_counts"]
    # With a floor of one user every pair a user held is kept: followed at that share, each
    # synthetic session would repeat training pairs far more often than a new user's does.
    # The kept pairs follow only as often as a pair survives leaving out any one of its users.
    assert shares["always"] > shares[1] + 0.3 and shares[1] >= shares[0], shares
    # "Always" from 1,000 events on: no session is that long, so the real-share run's items.
    longest = always.model_copy(update={"generate": always.generate.model_copy(
        update={"run_id": "longest", "follow_min_events": 1000})})
    table = spark.read.format("delta").load(generate(spark, longest)["path"])
    assert _sessions(table.where("run_id = 'longest'")) == _sessions(table.where("run_id = 'next1'"))


def _sessions(events) -> dict:
    """Each session's items (None for a search) in time order."""
    rows = events.select("session_id", "ts", "event_type", "item_id").toPandas()
    rows = rows.sort_values(["session_id", "ts", "event_type", "item_id"], kind="stable")
    return {k: tuple(g["item_id"]) for k, g in rows.groupby("session_id")}


@pytest.mark.slow
def test_session_generation_is_independent_of_partitioning_and_blocks(spark, session_model):
    conf = _restore(session_model)
    conf = conf.model_copy(update={"generate": conf.generate.model_copy(update={"run_id": "parts"})})
    sums = []
    for partitions, block_users in ((1, 8), (3, 8), (8, 3), (None, 4096)):  # the last: one block, one task
        generate(spark, conf.model_copy(update={"generate": conf.generate.model_copy(
            update={"partitions": partitions, "block_users": block_users})}))
        sums.append(checksum(spark.read.format("delta").load(conf.layout.tables.events)
                             .where("run_id = 'parts'").drop("run_id")))
    assert len(set(sums)) == 1


@pytest.mark.slow
def test_training_is_reproducible_from_the_seed_on_a_busy_machine(spark, session_model):
    """The budget is counted in data: the same seed gives the same weights while another
    job keeps the CPUs busy."""
    import subprocess
    import sys

    conf, info, saved = session_model
    assert info["training"]["stopped_by"] in ("epochs", "early stopping")
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        again_info = train(spark, conf)  # the same conf and seed again, on a loaded machine
    finally:
        for p in busy:
            p.kill()
    assert len(again_info["training"]["history"]) == len(info["training"]["history"])
    first = torch.load(saved / "model.pt", weights_only=True)
    again = torch.load(conf.layout.model.at("model.pt"), weights_only=True)
    assert all(torch.equal(v, again[k]) for k, v in first.items())


def test_bad_model_params_name_the_key(spark, profiled):
    with pytest.raises(ConfigError, match=r"train.params: unknown key\(s\) \['dimm'\].*valid keys: arch, dim"):
        train(spark, _conf(profiled, "train.model=session", "train.params={dimm: 3}"))
    with pytest.raises(ConfigError, match="DP-SGD is implemented for the session model only"):
        train(spark, _conf(profiled, "train.model=ctgan", "train.dp={epsilon: 1}"))


def test_tabular_rows_respect_conditions():
    from synthlib.models.ctgan import CondVector
    from synthlib.models.tabular import DISCRETE

    sizes = {c: 3 for c in DISCRETE}
    cond = CondVector(sizes, {c: [1.0, 10.0, 100.0] for c in DISCRETE})
    column, value = cond.sample(pd.Series([0.01] * 4).to_numpy(), pd.Series([0.0, 0.05, 0.5, 0.99]).to_numpy())
    assert (column == 0).all() and value.tolist() == [0, 1, 2, 2]
    v = cond.vector(column, value)
    assert v.sum().item() == 4 and v[2, 2] == 1


@pytest.mark.slow
def test_text_model_writes_the_synthetic_searches_queries(spark, profiled):
    import os

    from synthlib.models.guards import rare_queries

    conf = _conf(profiled, "train.model=session", "train.epochs=1", "generate.run_id=text",
                 "train.text={epochs: 2, max_minutes: 1, params: {dim: 32, vocab_size: 200}}")
    info = train(spark, conf)["text"]
    assert info["strings"]["train"] > 0 and os.path.exists(os.path.join(conf.layout.model.text("text"), "tokenizer.model"))
    generate(spark, conf)
    events = spark.read.format("delta").load(conf.layout.tables.events).where("run_id = 'text'")
    searches = events.where("event_type = 'search'")
    assert searches.where("query IS NOT NULL").count() > 0.8 * searches.count() > 0
    real = spark.read.format("delta").load(conf.layout.ingest.events)
    assert searches.join(rare_queries(real, conf.profile.min_query_users), "query").count() == 0
    train(spark, _conf(profiled, "train.model=session", "train.epochs=1"))  # no text section: no text model
    assert not os.path.exists(conf.layout.model.text("text"))


@pytest.mark.slow
def test_titles_model_writes_the_synthetic_catalog(spark, profiled):
    import os

    conf = _conf(profiled, "train.model=stats", "generate.run_id=titles",
                 "train.titles={epochs: 2, max_minutes: 1, params: {dim: 32, vocab_size: 200}}")
    info = train(spark, conf)["titles"]
    assert info["strings"]["train"] > 0 and os.path.exists(os.path.join(conf.layout.model.text("titles"), "tokenizer.model"))
    result = generate(spark, conf)
    events = spark.read.format("delta").load(result["path"]).where("run_id = 'titles'")
    catalog = spark.read.format("delta").load(conf.layout.tables.catalog).where("run_id = 'titles'")
    items = {r[0]: r[1] for r in events.where("item_id IS NOT NULL").groupBy("item_id").agg({"category": "min"})
             .collect()}
    rows = {r["item_id"]: r for r in catalog.collect()}
    assert result["catalog"]["items"] == len(rows) == len(items)
    assert {k: r["category"] for k, r in rows.items()} == items
    assert result["catalog"]["titled"] == sum(r["title"] is not None for r in rows.values()) > 0.9 * len(rows)
    real = {r[0] for r in spark.read.format("delta").load(conf.layout.ingest.items).select("title").collect()}
    assert not real & {r["title"] for r in rows.values()}
    generate(spark, conf)  # a rerun replaces this run's catalog with the same titles
    assert sorted(map(tuple, catalog.collect())) == sorted(tuple(r) for r in rows.values())
    train(spark, _conf(profiled, "train.model=stats"))  # no titles section: no titles model, no catalog rows
    assert not os.path.exists(conf.layout.model.text("titles"))
    generate(spark, conf)
    assert catalog.count() == 0
