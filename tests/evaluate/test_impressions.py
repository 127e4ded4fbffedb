import json

import pytest

from synthlib.evaluate import evaluate
from synthlib.evaluate.impressions import copies, fidelity
from synthlib.schema import IMPRESSIONS_DDL

ROWS = [("r1", "u1", "s1", None, "search", "sofa", "a", 1, True, 10.0),
        ("r1", "u1", "s1", None, "search", "sofa", "b", 2, False, 20.0),
        ("r1", "u1", "s1", None, "search", "sofa", "c", 3, False, 30.0),
        ("r2", "u2", "s2", None, "search", "lamp", "c", 1, False, 30.0),
        ("r2", "u2", "s2", None, "search", "lamp", "d", 2, False, 5.0)]


def _frame(spark, rows):
    return spark.createDataFrame(rows, IMPRESSIONS_DDL)


def test_copies_count_lists_of_three_or_more_in_order(spark):
    real = _frame(spark, ROWS)
    same = _frame(spark, [("x" + r[0], *r[1:]) for r in ROWS])
    reordered = _frame(spark, [("x", *ROWS[0][1:6], "b", 1, False, 1.0), ("x", *ROWS[0][1:6], "a", 2, False, 1.0),
                               ("x", *ROWS[0][1:6], "c", 3, False, 1.0)])
    assert copies(real, same) == {"lists": 1, "copies": 1, "share": 1.0}  # r2 is too short to count
    assert copies(real, reordered)["copies"] == 0


def test_fidelity_is_zero_against_itself_and_sees_a_flat_position_curve():
    real = {"ctr_by_position": {1: 0.3, 2: 0.1}, "list_length": {10: 1.0}, "no_click_share": 0.5,
            "clicked_popularity": {"gini": 0.7}, "shown_popularity": {"gini": 0.5}}
    assert set(fidelity(real, real).values()) == {0.0}
    flat = {**real, "ctr_by_position": {1: 0.2, 2: 0.2}}
    assert fidelity(real, flat)["impression_ctr_position_tv"] == pytest.approx(0.25)


@pytest.mark.slow
def test_simulated_run_trains_a_click_model_almost_as_well_as_the_real_log(spark, exposure_run):
    evaluate(spark, exposure_run)
    with open(exposure_run.layout.eval.metrics_json) as fh:
        result = json.load(fh)
    run = next(iter(result["runs"].values()))
    metrics, marks = run["metrics"], run["marks"]
    assert metrics["impression_ctr_position_tv"] <= 0.1 and metrics["impression_list_length_tv"] <= 0.1
    assert metrics["impression_copy_share"] < 0.01 and marks["impression_copy_share"] == "pass"
    assert metrics["ctr_auc_ratio"] >= 0.8, result["impressions"]["utility"]
    assert result["impressions"]["utility"]["scores"]["real"]["auc"] > 0.6
    with open(exposure_run.layout.eval.report) as fh:
        assert "Click-through rate by position" in fh.read()
