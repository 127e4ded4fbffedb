"""Hostile input: each case gives a clear error naming the problem and the fix, or a
quarantine with counts, and never a half-written table. (More cases: test_ingest.py,
test_config.py.)"""
import io
import json
import os
import pickle
import shutil
from contextlib import redirect_stdout

import pytest
from pyspark.sql import functions as F

from synthlib import cli
from synthlib.config import ConfigError, load_config
from synthlib.data.ingest import ingest
from synthlib.data.sources import InputError
from synthlib.data.profile import profile
from synthlib.generate import generate
from synthlib.models import load_model
from synthlib.models.artifact import ModelArtifactError
from synthlib.train import train
from tests.helpers import generated_code, simulated_log

MAPPING = {"user_id": "user", "item_id": "item", "timestamp": "ts", "event_type": "action", "query": "q"}


def _csv_conf(write_conf, tmp_path, text, overrides=(), **source):
    path = tmp_path / "log.csv"
    path.write_text(text)
    src = {"path": str(path), "format": "csv", "options": {"header": "true"}, "columns": MAPPING,
           "event_values": {"pv": "view"}, **source}
    return load_config(write_conf({"input": {"sources": [src]}}), overrides)


def _rows(n, user="u1", t0=1_700_000_000, step=60, query=""):
    return "".join(f"{user},i{k % 7},{t0 + k * step},pv,{query}\n" for k in range(n))


HEADER = "user,item,ts,action,q\n"


def test_renamed_column(spark, write_conf, tmp_path):
    conf = _csv_conf(write_conf, tmp_path, "customer,item,ts,action,q\n" + _rows(3))
    with pytest.raises(InputError, match=r"column 'user' not found.*'customer'.*columns.user_id"):
        ingest(spark, conf)


def test_wrong_separator_gets_a_hint(spark, write_conf, tmp_path):
    conf = _csv_conf(write_conf, tmp_path, HEADER.replace(",", ";") + _rows(3).replace(",", ";"))
    with pytest.raises(InputError, match="is the separator right"):
        ingest(spark, conf)


def test_duplicate_events_are_quarantined_once_each(spark, write_conf, tmp_path):
    rows = _rows(5)
    conf = _csv_conf(write_conf, tmp_path, HEADER + rows + rows.splitlines(True)[0] * 3)
    run = ingest(spark, conf)
    assert run["rows_read"] == 8 and run["accepted"] == 5
    assert run["quarantine_reasons"] == {"duplicate event": 3}


def test_real_ids_in_the_synthetic_namespace_are_quarantined(spark, write_conf, tmp_path):
    conf = _csv_conf(write_conf, tmp_path, HEADER + _rows(4) + _rows(2, user="synthetic:0"))
    run = ingest(spark, conf)
    assert run["accepted"] == 4
    assert run["quarantine_reasons"] == {"user_id or session_id starts with 'synthetic:', reserved for synthetic ids": 2}


def test_control_characters_cleaned_and_huge_queries_quarantined(spark, write_conf, tmp_path):
    text = HEADER + '"u1",i1,1700000000,pv,"red\x07 chair\x1b"\n' + f"u1,i2,1700000100,pv,{'x' * 5000}\n"
    conf = _csv_conf(write_conf, tmp_path, text)
    run = ingest(spark, conf)
    assert run["accepted"] == 1 and run["quarantine_reasons"] == {"query longer than 512 characters": 1}
    query = spark.read.format("delta").load(conf.layout.ingest.events).first()["query"]
    assert query == "red  chair"


def test_empty_log_is_a_clear_error_and_writes_no_stats(spark, write_conf, tmp_path):
    conf = _csv_conf(write_conf, tmp_path, HEADER)
    with pytest.raises(InputError, match="no events accepted: 0 rows read"):
        profile(spark, conf)
    assert not os.path.exists(conf.layout.stats)


def test_zero_byte_file(spark, write_conf, tmp_path):
    conf = _csv_conf(write_conf, tmp_path, "")
    with pytest.raises(InputError, match="not found"):
        ingest(spark, conf)


def test_milliseconds_read_as_seconds_are_quarantined_with_a_hint(spark, write_conf, tmp_path):
    conf = _csv_conf(write_conf, tmp_path, HEADER + _rows(4, t0=1_700_000_000_000))
    with pytest.raises(InputError, match="check timestamp.format"):
        ingest(spark, conf)


@pytest.mark.slow
def test_extremely_skewed_user(spark, write_conf, tmp_path):
    text = HEADER + _rows(900, user="whale", step=7) + "".join(_rows(2, user=f"u{k}") for k in range(50))
    conf = _csv_conf(write_conf, tmp_path, text)
    summary = profile(spark, conf)
    assert summary["users"] == 51 and summary["events"] == 1000
    assert summary["events_per_user"]["bins"][-1] == 512  # the 900-event user, bucketed
    train(spark, conf)
    assert generate(spark, conf)["events"] > 0


@pytest.mark.slow
def test_one_session_of_a_quarter_million_events(spark, write_conf, tmp_path):
    with generated_code(spark):  # a quarter million rows: a thousand times the longest row a model takes
        path = str(tmp_path / "big")
        (spark.range(250_000)
         .select(F.lit("u").alias("user"), (F.col("id") % 1000).cast("string").alias("item"),
                 (F.lit(1_700_000_000) + F.col("id")).alias("ts"), F.lit("pv").alias("action"),
                 F.lit(None).cast("string").alias("q"))
         .write.parquet(path))
        source = {"path": path, "format": "parquet", "columns": MAPPING, "event_values": {"pv": "view"}}
        conf = load_config(write_conf({"input": {"sources": [source]}}))
        summary = profile(spark, conf)
        assert summary["sessions"] == 1 and summary["session_length"] == {"bins": [131072], "counts": [1]}
        # The session model trains within its bounds: the session cut at the derived maximum.
        conf = load_config(conf.source_file, ["train.epochs=1", "train.validation=0", "train.params={dim: 16}"])
        info = train(spark, conf)
        assert info["shape"]["max_events"]["value"] == 256
        assert info["training"]["steps"]["events"] == 256
        assert generate(spark, conf)["events"] > 0


@pytest.mark.slow
def test_every_user_with_one_event_of_one_item(spark, write_conf, tmp_path):
    text = HEADER + "".join(f"u{k},i0,{1_700_000_000 + k * 3600},pv,\n" for k in range(300))
    conf = _csv_conf(write_conf, tmp_path, text, ["train.epochs=1", "train.params={dim: 16}"])
    profile(spark, conf)
    info = train(spark, conf)
    assert {k: v["value"] for k, v in info["shape"].items() if k != "vocab_items"} == {
        "max_events": 8, "sessions_per_row": 1, "candidates": 16, "follow_min_events": 5}
    assert info["training"]["steps"]["steps_per_event"] == 2.0  # the event and its end, no padding stepped
    assert info["training"]["steps"]["padding_share"] <= 0.25
    run = generate(spark, conf)
    events = spark.read.format("delta").load(run["path"])
    assert events.count() == 300 and {tuple(r) for r in events.select("event_type", "item_id").distinct().collect()} \
        == {("view", "i0")}


@pytest.fixture(scope="module")
def trained(spark, tmp_path_factory):
    return simulated_log(spark, tmp_path_factory.mktemp("hostile"),
                         "seed: 1\nsimulate: {events: 2000, partitions: 2}\ntrain: {model: stats}\n", train=True)


def _copy_model(conf, tmp_path):
    folder = str(tmp_path / "model")
    shutil.copytree(conf.layout.model, folder)
    return folder


def test_corrupted_model_spec(trained, tmp_path):
    folder = _copy_model(trained, tmp_path)
    with open(os.path.join(folder, "model.json"), "w") as fh:
        fh.write('{"model": "stats", "transitions": ')
    with pytest.raises(ModelArtifactError, match="not a model spec.*rerun `synthlib train`"):
        load_model(folder)


def test_truncated_items_file(trained, tmp_path):
    folder = _copy_model(trained, tmp_path)
    items = os.path.join(folder, "items.parquet")
    data = open(items, "rb").read()
    open(items, "wb").write(data[: len(data) // 2])
    with pytest.raises(ModelArtifactError, match="corrupted, truncated or tampered"):
        load_model(folder)


def test_tampered_items_file(trained, tmp_path, spark):
    folder = _copy_model(trained, tmp_path)
    model = load_model(folder)
    model.items.assign(weight=1.0).to_parquet(os.path.join(folder, "items.parquet"), index=False)
    with pytest.raises(ModelArtifactError, match="does not match the hash"):
        load_model(folder)


class _Payload:
    def __reduce__(self):
        return (open, (os.environ["PWNED_PATH"], "w"))


def test_malicious_pickle_is_never_unpickled(trained, tmp_path, monkeypatch):
    monkeypatch.setenv("PWNED_PATH", str(tmp_path / "pwned"))
    folder = _copy_model(trained, tmp_path)
    for name in ("model.json", "items.parquet"):
        with open(os.path.join(folder, name), "wb") as fh:
            pickle.dump(_Payload(), fh)
        with pytest.raises(ModelArtifactError):
            load_model(folder)
        shutil.rmtree(folder)
        folder = _copy_model(trained, tmp_path)
    assert not (tmp_path / "pwned").exists()


def test_model_trained_on_other_stats_is_refused(trained, spark):
    summary_path = trained.layout.stats.summary
    original = open(summary_path).read()
    try:
        with open(summary_path, "w") as fh:
            json.dump({**json.loads(original), "events": 1}, fh)
        with pytest.raises(ModelArtifactError, match="trained on other stats.*rerun `synthlib train"):
            generate(spark, trained)
    finally:
        with open(summary_path, "w") as fh:
            fh.write(original)


def test_model_over_the_size_limit_is_refused(trained, spark):
    conf = trained.model_copy(update={"train": trained.train.model_copy(update={"max_model_mb": 0.001})})
    with pytest.raises(ConfigError, match="over train.max_model_mb.*lower train.max_items"):
        train(spark, conf)


def test_requests_beyond_the_driver_bounds_are_config_errors(write_conf):
    with pytest.raises(ConfigError, match="train.max_items"):
        load_config(write_conf({"simulate": {}, "train": {"max_items": 10**9}}))
    with pytest.raises(ConfigError, match="generate.run_id"):
        load_config(write_conf({"simulate": {}, "generate": {"run_id": "x'; DROP TABLE t; --"}}))


@pytest.mark.slow
def test_secrets_in_conf_are_never_printed(trained, write_conf, spark, capsys):
    secret = "AKIA-very-secret-key-0042"
    bad = write_conf({"simulate": {"evnts": 1}, "spark": {"conf": {"fs.s3a.secret.key": secret}}}, "bad.yaml")
    assert cli.main(["simulate", "--conf", bad]) == 2
    good = write_conf({"seed": 1, "output": trained.output, "simulate": {"events": 2000, "partitions": 2},
                       "spark": {"conf": {"fs.s3a.secret.key": secret}}}, "good.yaml")
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli.main(["evaluate", "--conf", good]) == 2  # nothing generated yet: a clear error
        assert cli.main(["train", "--conf", good]) == 0
    captured = capsys.readouterr()
    assert secret not in out.getvalue() + captured.out + captured.err


def test_truncated_gzip_names_the_file_and_leaves_nothing(spark, write_conf, tmp_path):
    import gzip

    data = gzip.compress((HEADER + _rows(5000)).encode())
    path = tmp_path / "log.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    src = {"path": str(path), "format": "csv", "options": {"header": "true"}, "columns": MAPPING,
           "event_values": {"pv": "view"}}
    conf = load_config(write_conf({"input": {"sources": [src]}}))
    with pytest.raises(InputError, match=r"log\.csv\.gz.*ends early.*nothing was written"):
        ingest(spark, conf)
    assert not os.path.exists(conf.layout.ingest.events) and not os.path.exists(conf.layout.ingest.quarantine)


def test_a_header_read_as_data_is_named_with_the_option(spark, write_conf, tmp_path):
    conf = _csv_conf(write_conf, tmp_path, HEADER + _rows(3), options={"header": "false"},
                     schema_ddl="user string, item string, ts string, action string, q string")
    run = ingest(spark, conf)
    assert run["accepted"] == 3
    (reason, count), = run["quarantine_reasons"].items()
    assert count == 1 and "looks like a header" in reason and "options.header" in reason
    # With a typed schema the header's timestamp reads as null; its names still give it away.
    typed = _csv_conf(write_conf, tmp_path, "user,item,timestamp,action,q\n" + _rows(3), options={"header": "false"},
                      schema_ddl="user string, item string, ts long, action string, q string")
    assert list(ingest(spark, typed)["quarantine_reasons"]) == [reason]
