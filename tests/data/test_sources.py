from datetime import datetime, timezone

import pytest
from pyspark.sql import functions as F

from synthlib.config import SourceConf, load_config
from synthlib.data.ingest import ingest
from synthlib.data.sources import InputError, canonical, column, text, timestamp, unreadable_file, unreadable_reason
from tests.data.test_ingest import CSV_SOURCE, _conf

F_YEAR_9999 = datetime(9999, 1, 1, tzinfo=timezone.utc).timestamp()


def test_text_trims_and_turns_control_characters_and_empty_into_null(spark):
    df = spark.createDataFrame([(" a\tb ",), ("   ",), ("\n",), (None,)], "v string")
    assert [r[0] for r in df.select(text(F.col("v"))).collect()] == ["a b", None, None, None]


def test_column_names_the_conf_key_and_hints_at_the_separator(spark):
    df = spark.createDataFrame([("u;i;1",)], "`user;item;ts` string")
    with pytest.raises(InputError, match=r"input.sources\[0\].columns.user_id: column 'user' not found.*options.sep"):
        column(df, "user", "input.sources[0].columns.user_id")


def test_unix_timestamps_in_seconds_or_milliseconds_and_out_of_range_clamped(spark):
    df = spark.createDataFrame([("1700000000",), ("1e20",), ("x",)], "t string")
    src = lambda fmt: SourceConf(path="p", columns={"user_id": "t", "item_id": "t", "timestamp": "t"},  # noqa: E731
                                 event_type="view", timestamp={"format": fmt})
    seconds = [r[0] for r in df.select(F.unix_seconds(timestamp(df, src("unix_s"), "s"))).collect()]
    assert seconds[0] == 1_700_000_000 and seconds[2] is None
    assert seconds[1] >= F_YEAR_9999  # clamped to the last representable day: quarantined as out of range
    assert df.select(F.unix_seconds(timestamp(df, src("unix_ms"), "s"))).first()[0] == 1_700_000


def test_canonical_maps_every_column_and_keeps_the_source_name(spark):
    df = spark.createDataFrame([("u1", "i1", "1700000000", "pv", "extra")], "user string, item string, ts string, "
                               "action string, other string")
    src = SourceConf(**{**CSV_SOURCE, "path": "log.csv"})
    row = canonical(df, src, "input.sources[0]").first()
    assert (row["user_id"], row["session_id"], row["item_id"], row["event_type"], row["_source"]) == (
        "u1", None, "i1", "view", "log.csv")  # no session column: left empty for the sessionizer


def test_unreadable_file_and_reason_read_from_sparks_error():
    error = Exception("[FAILED_READ_FILE.NO_HINT] Encountered error while reading file file:///data/part-1.csv.gz. "
                      "SQLSTATE: KD001\nCaused by: java.io.EOFException: Unexpected end of input stream")
    assert unreadable_file(error) == "/data/part-1.csv.gz"
    assert unreadable_reason(error) == "it ends early (a truncated compressed file)"
    assert unreadable_file(ValueError("something else")) is None


def test_missing_column_names_it_and_the_fix(spark, write_conf, tmp_path):
    conf = _conf(write_conf, tmp_path, "u1,i1,1700000000,pv\n",
                 columns={"user_id": "user", "item_id": "product", "timestamp": "ts", "event_type": "action"})
    with pytest.raises(InputError, match=r"column 'product' not found.*\['user', 'item', 'ts', 'action'\].*columns.item_id"):
        ingest(spark, conf)


def test_missing_path_and_non_delta_path(spark, write_conf, tmp_path):
    conf = _conf(write_conf, tmp_path, "u1,i1,1700000000,pv\n", path=str(tmp_path / "nowhere"))
    with pytest.raises(InputError, match="does not exist.*input.sources\\[0\\].path"):
        ingest(spark, conf)
    conf = _conf(write_conf, tmp_path, "u1,i1,1700000000,pv\n", format="delta", options={})
    with pytest.raises(InputError, match="is not a Delta table"):
        ingest(spark, conf)


def test_nested_column_is_refused(spark, write_conf, tmp_path):
    path = tmp_path / "log.json"
    path.write_text('{"user": {"id": 1}, "item": "i", "ts": 1700000000, "action": "pv"}\n')
    conf = load_config(write_conf({"input": {"sources": [{**CSV_SOURCE, "path": str(path), "format": "json",
                                                          "options": {}}]}}))
    with pytest.raises(InputError, match="column 'user' is struct"):
        ingest(spark, conf)
