from datetime import datetime, timedelta

from pyspark.sql import functions as F

from synthlib.config import DPConf
from synthlib.dp.bound import bound_contributions, contribution_bound
from tests.helpers import checksum


def _events(spark):
    t0 = datetime(2026, 1, 5)
    rows = [("heavy", f"heavy#{s}", f"i{e}", t0 + timedelta(hours=s, minutes=e)) for s in range(12) for e in range(5)]
    rows += [("light", "light#0", "i1", t0), ("light", "light#0", "i2", t0 + timedelta(minutes=1))]
    return spark.createDataFrame(rows, "user_id string, session_id string, item_id string, ts timestamp") \
        .withColumn("event_type", F.lit("view"))


def test_bounds_hold_and_do_not_depend_on_partitioning(spark):
    dp = DPConf(epsilon=1, max_sessions=3, max_events=12)
    events = _events(spark)
    out = bound_contributions(events, dp, seed=7)
    per_user = {r["user_id"]: (r["sessions"], r["events"]) for r in out.groupBy("user_id").agg(
        F.countDistinct("session_id").alias("sessions"), F.count(F.lit(1)).alias("events")).collect()}
    assert per_user == {"heavy": (3, 12), "light": (1, 2)}  # 3 sessions of 5, then the first 12 events
    # the kept sessions are whole but the last, and they are not simply the first three in time
    kept = sorted(r[0] for r in out.where("user_id = 'heavy'").select("session_id").distinct().collect())
    assert kept != ["heavy#0", "heavy#1", "heavy#2"]
    assert checksum(bound_contributions(events.repartition(5), dp, seed=7)) == checksum(out)
    assert checksum(bound_contributions(events, dp, seed=8)) != checksum(out)


def test_the_derived_bound_keeps_the_most_links_per_unit_of_noise():
    assert contribution_bound({"5": 100}) == 5  # every user holds 5 keys: keep them all
    assert contribution_bound({"1": 100, "2": 0, "8": 0}) == 1
    # most users hold 1 to 3 keys, a tail up to the cap: the bound stays near the body
    assert contribution_bound({"1": 6000, "2": 5000, "3": 2500, "4": 1500, "5": 1000, "8": 1200}) == 2
    assert contribution_bound({"16": 50, "1": 10}) == 16  # heavy users: up to the cap
    assert contribution_bound({"1": -3.0, "2": 0.0}) == 1  # noise alone: the smallest bound
