import pytest
from pyspark.sql import functions as F

from synthlib.config import ConfigError, load_config
from synthlib.data.ingest import ingest
from synthlib.data.sources import InputError
from tests.helpers import DATA, needs_data

CSV_SOURCE = {"path": None, "format": "csv", "options": {"header": "true"},
              "columns": {"user_id": "user", "item_id": "item", "timestamp": "ts", "event_type": "action"},
              "event_values": {"pv": "view", "buy": "purchase"}}


def _conf(write_conf, tmp_path, rows: str, overrides=(), **source):
    path = tmp_path / "log.csv"
    path.write_text("user,item,ts,action\n" + rows)
    return load_config(write_conf({"input": {"sources": [{**CSV_SOURCE, "path": str(path), **source}]}}),
                       overrides)


def _events(spark, conf):
    return spark.read.format("delta").load(conf.layout.ingest.events)


# The shared logs are ingested by the one pipeline run per log that the end-to-end test
# (tests/test_pipeline.py) also checks.
@pytest.mark.slow
@needs_data("taobao_userbehavior")
def test_taobao_reads_all_rows_and_sessionizes(spark, shared_log_run):
    conf, steps = shared_log_run("taobao")
    run = steps["profile"]["ingest"]
    assert run["rows_read"] == 84474 and run["accepted"] == 84474 and run["quarantined"] == 0
    events = _events(spark, conf)
    # The conf holds out the last day: sessions stay whole on one side.
    assert run["holdout"]["first_date"] == "2017-12-03"
    assert events.select("session_id").distinct().count() + run["holdout"]["sessions"] == 14122
    assert events.count() + run["holdout"]["events"] == 84474
    assert events.select("user_id").distinct().count() == 815
    assert {r[0] for r in events.select("event_type").distinct().collect()} == {"view", "cart", "fav", "purchase"}


@pytest.mark.slow
@needs_data("yoochoose_rsc15")
def test_yoochoose_sessions_only(spark, shared_log_run):
    conf, steps = shared_log_run("yoochoose")
    run = steps["profile"]["ingest"]
    # 70,278 rows, one of them an exact copy of another (checked with `sort | uniq -d`), and
    # the 13,568 rows of the test file, the conf's holdout.
    assert run["rows_read"] == 70278 + 13568 and run["accepted"] == 70277 + 13568
    assert run["holdout"]["events"] == 13568 and _events(spark, conf).count() == 70277
    assert run["quarantine_reasons"] == {"duplicate event": 1}
    events = _events(spark, conf)
    assert events.select("session_id").distinct().count() == events.select("user_id").distinct().count()
    # Float epoch seconds keep their milliseconds.
    assert events.where(F.expr("unix_millis(ts) % 1000 != 0")).count() > 0


@pytest.mark.slow
@needs_data("diginetica")
def test_diginetica_joins_purchases_and_categories(spark, shared_log_run):
    conf, steps = shared_log_run("diginetica")
    run = steps["profile"]["ingest"]
    assert run["rows_read"] == run["accepted"] + run["quarantined"]
    events = _events(spark, conf)
    views = events.where("event_type = 'view'").count()
    assert views == 12391
    purchases = events.where("event_type = 'purchase'")
    assert purchases.count() > 0
    # Purchases are kept only for sessions that have views.
    assert purchases.join(events.where("event_type = 'view'").select("session_id").distinct(),
                          "session_id", "left_anti").count() == 0
    assert events.where(F.col("category").isNull()).count() < 0.05 * events.count()
    assert events.where(F.col("user_id").isNull()).count() == 0


@pytest.mark.slow
@needs_data("otto")
def test_otto_nested_sessions(spark, shared_log_run):
    conf, steps = shared_log_run("otto")
    run = steps["profile"]["ingest"]
    assert run["accepted"] == 862
    types = {r[0] for r in _events(spark, conf).select("event_type").distinct().collect()}
    assert types <= {"view", "cart", "purchase"} and "view" in types


def test_quarantine_counts_every_bad_row(spark, write_conf, tmp_path):
    rows = "\n".join([
        "u1,i1,1700000000,pv",  # ok
        "u1,i2,1700000060,buy",  # ok
        ",i3,1700000100,pv",  # null key
        "u2,i4,not-a-time,pv",  # unparsable
        "u2,i5,,pv",  # null timestamp
        "u2,i6,-100,pv",  # before 1990
        "u2,i7,99999999999,pv",  # far future
        "u3,i8,1700000200,teleport",  # unknown event type
        "u3,,1700000300,pv",  # null item on a non-search event
    ]) + "\n"
    conf = _conf(write_conf, tmp_path, rows)
    run = ingest(spark, conf)
    assert run["rows_read"] == 9 and run["accepted"] == 2 and run["quarantined"] == 7
    reasons = run["quarantine_reasons"]
    assert reasons["null user_id and session_id"] == 1
    assert reasons["null or unparsable timestamp"] == 2
    assert sum(v for k, v in reasons.items() if k.startswith("timestamp outside")) == 2
    assert reasons["unknown event type; map it in event_values"] == 1
    assert reasons["null item_id"] == 1
    quarantine = spark.read.format("delta").load(conf.layout.ingest.quarantine)
    assert quarantine.where("event_type = 'teleport'").count() == 1  # raw value kept


def test_time_window_quarantines_rows_outside(spark, write_conf, tmp_path):
    conf = _conf(write_conf, tmp_path, "u1,i1,1700000000,pv\nu1,i2,1600000000,pv\n", ["input.start=2023-01-01"])
    run = ingest(spark, conf)
    assert run["accepted"] == 1 and run["quarantined"] == 1


def test_where_keeps_the_rows_that_are_events_and_names_a_bad_condition(spark, write_conf, tmp_path):
    rows = "u1,i1,1700000000,pv\nu1,i2,1700000060,buy\nu2,i3,1700000100,pv\n"
    run = ingest(spark, _conf(write_conf, tmp_path, rows, where="action = 'buy'"))
    assert run["rows_read"] == 1 and run["accepted"] == 1
    with pytest.raises(InputError, match=r"input.sources\[0\].where: 'clicks = 1'"):
        ingest(spark, _conf(write_conf, tmp_path, rows, where="clicks = 1"))


def test_session_gap_is_strictly_more_than_30_minutes(spark, write_conf, tmp_path):
    t = 1_700_000_000
    rows = f"u1,a,{t},pv\nu1,b,{t + 1800},pv\nu1,c,{t + 3601},pv\nu2,d,{t},pv\n"
    conf = _conf(write_conf, tmp_path, rows)
    ingest(spark, conf)
    sessions = {r["item_id"]: r["session_id"] for r in _events(spark, conf).collect()}
    assert sessions["a"] == sessions["b"] != sessions["c"]
    assert len(set(sessions.values())) == 3


def test_shared_data_folder_layout_is_as_documented():
    if DATA.exists():
        assert (DATA / "taobao_userbehavior" / "user_behavior_head.csv.gz").exists()


def _days_log(stray: int) -> str:
    """Four users a day for three days (sessions of 5 events), one session across midnight
    from day 2 into day 3, and `stray` events on day 4."""
    day, base = 86400, 1_704_067_200  # 2024-01-01
    rows = [f"u{u},i{u}{e},{base + d * day + 3600 * (u + 1) + 60 * e},pv" for d in range(3) for u in range(4) for e in range(5)]
    rows += [f"n,j{e},{base + 2 * day - 120 + 60 * e},pv" for e in range(4)]  # 23:58 .. 00:01
    rows += [f"s,k{e},{base + 3 * day + 60 * e},pv" for e in range(stray)]
    return "\n".join(rows) + "\n"


def test_holdout_takes_the_last_days_sessions_whole(spark, write_conf, tmp_path):
    conf = _conf(write_conf, tmp_path, _days_log(stray=1), ["evaluate.holdout.days=1"])
    run = ingest(spark, conf)
    # Day 4 holds 1 event, under a tenth of a usual day (20): the last day is day 3.
    assert run["holdout"]["first_date"] == "2024-01-03"
    test = spark.read.format("delta").load(conf.layout.ingest.test)
    assert test.count() == 4 * 5 + 1 and run["holdout"]["events"] == 21
    train = _events(spark, conf)
    assert train.where("user_id = 'n'").count() == 4  # started on day 2: training, whole
    assert train.count() + test.count() == run["accepted"] == 3 * 20 + 4 + 1


def test_holdout_that_takes_everything_is_refused(spark, write_conf, tmp_path):
    conf = _conf(write_conf, tmp_path, "u1,a,1704067200,pv\nu1,b,1704067260,pv\n", ["evaluate.holdout.days=1"])
    with pytest.raises(InputError, match="holdout took every session.*lower evaluate.holdout.days"):
        ingest(spark, conf)


def test_personal_data_in_queries_is_scrubbed_and_counted(spark, write_conf, tmp_path):
    path = tmp_path / "searches.csv"
    path.write_text("user,item,ts,action,q\n"
                    "u1,,1700000000,search,red sofa\n"
                    "u1,,1700000060,search,sofa for jane.doe@example.com\n"
                    "u2,,1700000000,search,call 555-123-4567 about delivery\n"
                    "u2,i1,1700000060,teleport,card 4111 1111 1111 1111\n")  # quarantined, scrubbed all the same
    source = {**CSV_SOURCE, "path": str(path), "columns": {**CSV_SOURCE["columns"], "query": "q"}}
    conf = load_config(write_conf({"input": {"sources": [source]}}))
    run = ingest(spark, conf)
    assert run["scrubbed_queries"] == {"url": 0, "email": 1, "card": 1, "phone": 1}
    queries = {r[0] for r in _events(spark, conf).select("query").collect()}
    assert queries == {"red sofa", "sofa for <email>", "call <phone> about delivery"}
    quarantined = spark.read.format("delta").load(conf.layout.ingest.quarantine).select("query").first()[0]
    assert quarantined == "card <card>"


def test_item_titles_make_the_catalog_one_row_per_item(spark, write_conf, tmp_path):
    items = tmp_path / "items.csv"
    items.write_text("id,cat,maker,cost,name\n"
                     "i1,tools,acme,9.5,\n"           # the same item twice: the titled row wins
                     "i1,tools,acme,9.5,acme hammer 500 g\n"
                     "i2,garden,,abc,  green hose\x07 20 m \n"
                     ",garden,,1,orphan\n")
    mapping = {"path": str(items), "format": "csv", "options": {"header": "true"}, "item_id": "id",
               "category": "cat", "brand": "maker", "price": "cost", "title": "name"}
    conf = _conf(write_conf, tmp_path, "u1,i1,1700000000,pv\nu1,i2,1700000060,pv\n", [f"input.items={mapping}"])
    run = ingest(spark, conf)
    rows = {r["item_id"]: r.asDict() for r in spark.read.format("delta").load(run["items_path"]).collect()}
    assert rows == {"i1": {"item_id": "i1", "category": "tools", "brand": "acme", "price": 9.5,
                           "title": "acme hammer 500 g"},
                    "i2": {"item_id": "i2", "category": "garden", "brand": None, "price": None,
                           "title": "green hose  20 m"}}
    assert {r["category"] for r in _events(spark, conf).collect()} == {"tools", "garden"}

    bad = _conf(write_conf, tmp_path, "u1,i1,1700000000,pv\n", [f"input.items={dict(mapping, title='label')}"])
    with pytest.raises(InputError, match=r"input.items.title: column 'label' not found"):
        ingest(spark, bad)


def _ingest_text(spark, write_conf, tmp_path, text: str, columns: dict, **source):
    """Ingest a CSV with a header from `text`, mapped by `columns` (plus source options)."""
    path = tmp_path / "log.csv"
    path.write_text(text)
    src = {"path": str(path), "format": "csv", "options": {"header": "true"}, "columns": columns, **source}
    return ingest(spark, load_config(write_conf({"input": {"sources": [src]}})))


def test_order_column_keeps_repeats_and_orders_ties(spark, write_conf, tmp_path):
    """Repeated interactions in one second, told apart by a step counter: kept, in step order."""
    run = _ingest_text(spark, write_conf, tmp_path,
                       "user,step,ts,action,ref\n"
                       "u1,1,1700000000,interaction,i1\nu1,2,1700000000,interaction,i1\n"
                       "u1,4,1700000005,interaction,i3\nu1,3,1700000005,interaction,i2\n"
                       "u1,3,1700000005,interaction,i2\n",  # the last row repeats step 3: a true copy
                       {"user_id": "user", "item_id": "ref", "timestamp": "ts", "event_type": "action", "order": "step"},
                       event_values={"interaction": "view"})
    assert run["accepted"] == 4 and run["quarantine_reasons"] == {"duplicate event": 1}
    rows = spark.read.format("delta").load(run["events_path"]).orderBy("ts").collect()
    assert [r["item_id"] for r in rows] == ["i1", "i1", "i2", "i3"]
    assert len({r["ts"] for r in rows}) == 4 and len({r["session_id"] for r in rows}) == 1


def test_one_source_column_feeds_columns_by_event_type(spark, write_conf, tmp_path):
    run = _ingest_text(spark, write_conf, tmp_path,
                       "user,ts,action,ref,device\n"
                       "u1,1700000000,search for item,red shoes,mobile\n"
                       "u1,1700000060,interaction item image,i7,mobile\n"
                       "u1,1700000120,clickout item,i7,mobile\n",
                       {"user_id": "user", "item_id": "ref", "timestamp": "ts", "event_type": "action",
                        "device": "device"},
                       event_values={"search for item": "search", "interaction item image": "view",
                                     "clickout item": "click"},
                       columns_by_event_type={"search": {"query": "ref", "item_id": None}})
    assert run["accepted"] == 3 and run["quarantined"] == 0
    rows = {r["event_type"]: r for r in spark.read.format("delta").load(run["events_path"]).collect()}
    assert rows["search"]["query"] == "red shoes" and rows["search"]["item_id"] is None
    assert rows["view"]["item_id"] == "i7" and rows["view"]["query"] is None
    assert {r["device"] for r in rows.values()} == {"mobile"}


def test_columns_by_event_type_refuses_unknown_types_and_columns(write_conf):
    base = {"path": "x.csv", "format": "csv", "columns": {"user_id": "u", "item_id": "i", "timestamp": "t"},
            "event_type": "view"}
    with pytest.raises(ConfigError, match="unknown event type.*'serch'"):
        load_config(write_conf({"input": {"sources": [{**base, "columns_by_event_type": {"serch": {"query": "i"}}}]}}))
    with pytest.raises(ConfigError, match="'user_id'.*cannot be mapped by event type"):
        load_config(write_conf({"input": {"sources": [{**base, "columns_by_event_type": {"search": {"user_id": "i"}}}]}}))
