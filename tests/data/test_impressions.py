import json

import pytest

from synthlib.config import ConfigError, load_config
from synthlib.data.impressions import ingest_impressions

EVENTS = "user,item,ts,action,req\nu1,a,1704103200,click,q1\nu1,b,1704103260,view,q1\nu2,c,1704106800,click,q2\n"
EVENT_SOURCE = {"format": "csv", "options": {"header": "true"},
                "columns": {"user_id": "user", "item_id": "item", "timestamp": "ts", "event_type": "action"}}


def _conf(write_conf, tmp_path, impressions: dict, max_list_length: int = 100):
    (tmp_path / "events.csv").write_text(EVENTS)
    return load_config(write_conf({"input": {"sources": [{**EVENT_SOURCE, "path": str(tmp_path / "events.csv")}],
                                             "impressions": impressions, "max_list_length": max_list_length}}))


def _table(spark, conf, name="impressions"):
    rows = spark.read.format("delta").load(conf.layout.ingest.at(name)).orderBy("request_id", "position").collect()
    return [(r["request_id"], r["item_id"], r["position"], r["clicked"]) for r in rows]


def test_delimited_list_column(spark, write_conf, tmp_path):
    (tmp_path / "shown.csv").write_text("req,user,ts,shown,click,where,q\n"
                                        "r1,u1,1704103200,a|b|c,b,search,red sofa\n"
                                        "r2,u2,1704106800,c|a,,reco,\n")
    conf = _conf(write_conf, tmp_path, {
        "path": str(tmp_path / "shown.csv"), "format": "csv", "options": {"header": "true"},
        "columns": {"request_id": "req", "user_id": "user", "timestamp": "ts", "shown": "shown", "item_id": "click",
                    "surface": "where", "query": "q"},
        "surface_values": {"reco": "recommendation"}})
    run = ingest_impressions(spark, conf)
    assert (run["requests"], run["rows"], run["requests_quarantined"]) == (2, 5, 0)
    assert _table(spark, conf) == [("r1", "a", 1, False), ("r1", "b", 2, True), ("r1", "c", 3, False),
                                   ("r2", "c", 1, False), ("r2", "a", 2, False)]
    surfaces = {r[0]: r[1] for r in spark.read.format("delta").load(conf.layout.ingest.impressions)
                .select("request_id", "surface").distinct().collect()}
    assert surfaces == {"r1": "search", "r2": "recommendation"}


def test_array_list_column_without_request_ids(spark, write_conf, tmp_path):
    path = tmp_path / "shown.json"
    path.write_text("\n".join(json.dumps(r) for r in (
        {"session": "s1", "t": 1704103200, "items": ["a", "b"], "clicked": "a"},
        {"session": "s1", "t": 1704103300, "items": ["b", "c", "d"], "clicked": None})))
    conf = _conf(write_conf, tmp_path, {
        "path": str(path), "format": "json", "surface": "recommendation",
        "columns": {"session_id": "session", "timestamp": "t", "shown": "items", "item_id": "clicked"}})
    run = ingest_impressions(spark, conf)
    assert (run["requests"], run["rows"]) == (2, 5)
    table = spark.read.format("delta").load(conf.layout.ingest.impressions)
    assert table.where("clicked").select("item_id", "position").collect() == [("a", 1)]
    assert {r[0] for r in table.select("user_id").distinct().collect()} == {"s1"}  # the session stands for the user


def test_row_per_item(spark, write_conf, tmp_path):
    (tmp_path / "rows.csv").write_text("req,user,ts,item,pos,click\n"
                                       "r1,u1,1704103200,a,1,0\nr1,u1,1704103200,b,2,1\nr2,u2,1704106800,c,1,false\n")
    conf = _conf(write_conf, tmp_path, {
        "path": str(tmp_path / "rows.csv"), "format": "csv", "options": {"header": "true"},
        "columns": {"request_id": "req", "user_id": "user", "timestamp": "ts", "item_id": "item",
                    "position": "pos", "clicked": "click"}})
    ingest_impressions(spark, conf)
    assert _table(spark, conf) == [("r1", "a", 1, False), ("r1", "b", 2, True), ("r2", "c", 1, False)]


def test_table_joined_to_the_events(spark, write_conf, tmp_path):
    """Shown lists without user or time, joined by request id to the events (EVENTS: u1 clicked
    a in q1, u2 clicked c in q2)."""
    (tmp_path / "shown.csv").write_text("req,item,pos\nq1,b,1\nq1,a,2\nq2,c,1\nq2,d,2\n")
    conf = _conf(write_conf, tmp_path, {
        "path": str(tmp_path / "shown.csv"), "format": "csv", "options": {"header": "true"},
        "columns": {"request_id": "req", "item_id": "item", "position": "pos"}, "join_column": "req"})
    ingest_impressions(spark, conf)
    assert _table(spark, conf) == [("q1", "b", 1, False), ("q1", "a", 2, True), ("q2", "c", 1, True),
                                   ("q2", "d", 2, False)]
    users = dict(spark.read.format("delta").load(conf.layout.ingest.impressions)
                 .select("request_id", "user_id").distinct().collect())
    assert users == {"q1": "u1", "q2": "u2"}


def test_every_quarantine_reason(spark, write_conf, tmp_path):
    (tmp_path / "shown.csv").write_text("req,user,ts,shown,click\n"
                                        "ok,u1,1704103200,a|b,a\n"
                                        "absent,u1,1704103300,a|b,z\n"
                                        "empty,u1,1704103400,,\n"
                                        "long,u1,1704103500,a|b|c|d,\n"
                                        "dup,u1,1704103600,a,\n"
                                        "dup,u1,1704103600,c,\n")
    conf = _conf(write_conf, tmp_path, {
        "path": str(tmp_path / "shown.csv"), "format": "csv", "options": {"header": "true"},
        "columns": {"request_id": "req", "user_id": "user", "timestamp": "ts", "shown": "shown",
                    "item_id": "click"}}, max_list_length=3)
    run = ingest_impressions(spark, conf)
    assert run["quarantine_reasons"] == {"clicked item absent from its list": 1, "empty list": 1,
                                         "list longer than input.max_list_length = 3": 1, "duplicate positions": 1}
    assert (run["requests_read"], run["requests"]) == (5, 1)
    assert _table(spark, conf) == [("ok", "a", 1, True), ("ok", "b", 2, False)]
    quarantined = spark.read.format("delta").load(conf.layout.ingest.impressions_quarantine)
    assert quarantined.count() == 2 + 1 + 4 + 2  # whole requests; the empty list as one row


def test_config_names_the_missing_mapping(write_conf, tmp_path):
    with pytest.raises(ConfigError, match="columns.shown"):
        _conf(write_conf, tmp_path, {"path": "x.csv", "format": "csv",
                                     "columns": {"user_id": "u", "timestamp": "t", "item_id": "i"}})
    with pytest.raises(ConfigError, match="columns.clicked"):
        _conf(write_conf, tmp_path, {"path": "x.csv", "format": "csv",
                                     "columns": {"user_id": "u", "timestamp": "t", "item_id": "i", "position": "p"}})
