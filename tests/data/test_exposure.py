import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from synthlib.config import load_config
from synthlib.data.exposure import fit_pbm, request_context
from synthlib.data.profile import load_summary, profile
from synthlib.data.simulate import EXAMINATION
from tests.helpers import ROOT, needs_data


def test_fit_pbm_recovers_a_known_model():
    """Counts drawn from a PBM where attractive items sit on top: the naive CTR ratios are
    biased, the EM estimate is not."""
    gen = np.random.default_rng(0)
    theta = np.array([1.0, 0.7, 0.5, 0.35, 0.25])
    alpha = np.linspace(0.6, 0.05, 40)
    rows = []
    for item, a in enumerate(alpha):
        for k, t in enumerate(theta):
            shows = int(2000 * np.exp(-abs(item / 8 - k)))  # item i mostly near position i / 8
            rows.append((f"i{item}", k + 1, shows, gen.binomial(shows, t * a)))
    counts = pd.DataFrame(rows, columns=["item_id", "position", "shows", "clicks"]).query("shows > 0")
    examination, items = fit_pbm(counts)
    assert np.abs(examination - theta).max() < 0.05
    by_position = counts.groupby("position")[["shows", "clicks"]].sum()
    naive = (by_position["clicks"] / by_position["shows"]).to_numpy()
    assert np.abs(naive / naive[0] - theta).max() > 0.1
    assert items.set_index("item_id").loc["i0", "attractiveness"] > items.set_index("item_id").loc["i39",
                                                                                                   "attractiveness"]


def test_a_requests_context_is_what_its_session_held_before_it(spark):
    events = spark.createDataFrame(
        [("s1", 1, "a", "x"), ("s1", 2, "b", "y"), ("s1", 3, None, "y"), ("s1", 5, "c", "x"), ("s2", 1, "d", "z")]
        + [("s3", t, f"i{t}", "w") for t in range(10)],
        "session_id string, t int, item_id string, category string").withColumn("ts", F.col("t").cast("timestamp"))
    imp = spark.createDataFrame(
        [("r1", "s1", 3, "q"), ("r1", "s1", 3, "r"), ("r2", "s1", 5, "q"), ("r3", "s2", 1, "q"),
         ("r4", None, 9, "q"), ("r5", "s3", 9, "q")],
        "request_id string, session_id string, t int, item_id string").withColumn("ts", F.col("t").cast("timestamp"))
    got = {r["request_id"]: (r["recent"], r["recent_categories"]) for r in request_context(imp, events).collect()}
    assert got["r1"] == (["a", "b"], ["x", "y"])  # the search without an item is skipped
    assert got["r2"] == (["a", "b"], ["x", "y"])  # an event of the same second comes after the request
    assert got["r3"] == ([], []) and got["r4"] == ([], [])  # nothing before it; no session
    assert got["r5"][0] == [f"i{t}" for t in range(4, 9)]  # the last five, most recent last


@pytest.mark.slow
def test_simulated_examination_is_recovered(exposure_run):
    summary = load_summary(exposure_run)["impressions"]
    estimated = np.array([summary["examination"][str(k)] for k in range(1, len(EXAMINATION) + 1)])
    assert np.abs(estimated - np.array(EXAMINATION)).max() <= 0.05, estimated
    assert summary["list_length"] == {"10": 1.0} and 0 < summary["no_click_share"] < 1
    assert summary["ingest"]["requests_quarantined"] == 0


@pytest.mark.slow
def test_simulated_clicks_are_on_their_shown_lists(spark, exposure_run):
    events = spark.read.format("delta").load(exposure_run.simulated_path).where("event_type = 'click'")
    shown = spark.read.format("delta").load(exposure_run.simulated_impressions_path).where("clicked")
    keys = ["session_id", "item_id", "position", "query"]
    assert events.count() == shown.count() > 0
    assert events.select(*keys).join(shown.select(*keys), keys, "left_anti").count() == 0
    assert shown.groupBy("request_id", "position").count().where(F.col("count") > 1).count() == 0


@pytest.mark.slow
@needs_data("obd", "random_all.csv.gz")
def test_open_bandit_slates_profile(spark, tmp_path):
    """The shipped conf of a real impression log: one row per shown item of a 3-position slate."""
    conf = load_config(str(ROOT / "conf" / "obd.yaml"), [f"output={tmp_path / 'obd'}"])
    exposure = profile(spark, conf)["impressions"]
    assert exposure["ingest"]["requests_read"] == 10000 and exposure["ingest"]["requests_quarantined"] == 0
    assert set(exposure["ctr_by_position"]) == {1, 2, 3}
    assert all(0 < v < 0.02 for v in exposure["ctr_by_position"].values())  # CTR 0.38-0.69%
    assert max(exposure["examination"].values()) == 1.0 and min(exposure["examination"].values()) > 0
