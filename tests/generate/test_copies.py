"""Verbatim copies left out at generation: the keys and flags by hand, and on a generated run."""
import numpy as np
import pytest
from pyspark.sql import functions as F

from synthlib.data.sessions import SEPARATOR, item_sequences
from synthlib.evaluate.privacy import verbatim_copies
from synthlib.generate import generate
from synthlib.generate.copies import CopyKeys
from synthlib.models.guards import copy_keys, item_keys, sequence_keys, sorted_keys
from synthlib.schema import codes_frame
from tests.helpers import log, simulated_log


def test_block_keys_sessions_of_three_item_events_in_time_then_id_order():
    ids = np.array(["a", "b", "c"], dtype=object)
    # User 0 session 1: c at t=5, then a and b tied at t=9 (ordered by id), and a search
    # (no item). User 0 session 2 and user 1 session 1: two item events, not keyed.
    codes = codes_frame(user=[0, 0, 0, 0, 0, 0, 1, 1], session=[1, 1, 1, 1, 2, 2, 1, 1],
                        ts_seconds=[5, 9, 9, 12, 20, 21, 5, 6], event=[0] * 8,
                        item=[2, 1, 0, -1, 0, 1, 0, 1], category=[0] * 8, query=[-1] * 8, position=[0] * 8)
    cab, abc = (int(sequence_keys(item_keys(list(s)), [3])[0]) for s in ("cab", "abc"))
    assert cab != abc
    keys = CopyKeys(ids, np.array([], dtype=np.int64)).session_keys(codes)
    assert list(keys[:4]) == [cab] * 4
    assert keys[4:].isna().all()
    flagged = CopyKeys(ids, np.sort([abc, cab])).flag(codes)
    assert list(flagged["copy"]) == [True] * 4 + [False] * 4
    assert list(flagged["copy_first"]) == [True] + [False] * 7
    assert flagged.drop(columns=["copy", "copy_first"]).equals(codes)
    assert not CopyKeys(ids, np.array([abc])).flag(codes)["copy"].any()  # another order is no copy
    shuffled = codes.iloc[[3, 6, 1, 4, 0, 7, 2, 5]].reset_index(drop=True)  # a block in no order: the same keys
    assert list(CopyKeys(ids, np.sort([abc, cab])).flag(shuffled)[["copy", "copy_first"]].itertuples(index=False)) \
        == [(True, True), (False, False), (True, False), (False, False), (True, False), (False, False),
            (True, False), (False, False)]


def test_real_keys_match_the_evaluation_sequences(spark):
    real = log(spark, [("u", "s1", 0, "view", "x"), ("u", "s1", 1, "cart", "y"), ("u", "s1", 1, "view", "w"),
                       ("u", "s2", 9, "view", "x"), ("u", "s2", 10, "view", "y")])
    (seq,) = [r["seq"] for r in item_sequences(real).collect()]
    assert seq == SEPARATOR.join("xwy")  # ties by id, as key_block orders them
    assert sorted_keys(copy_keys(real)).tolist() == sequence_keys(item_keys(list("xwy")), [3]).tolist()


@pytest.fixture(scope="module")
def tiny_catalog(spark, tmp_path_factory):
    """A stats model of a simulated log of 10 items, where short sessions repeat often."""
    return simulated_log(spark, tmp_path_factory.mktemp("copies"),
                         "seed: 5\nsimulate: {events: 3000, categories: 2, items_per_category: 5, partitions: 2}\n"
                         "train: {model: stats}\ngenerate: {partitions: 2, block_users: 32}\n", train=True)


def _run(spark, conf, run_id, drop):
    conf = conf.model_copy(update={"generate": conf.generate.model_copy(update={"run_id": run_id,
                                                                                "drop_copies": drop})})
    summary = generate(spark, conf)
    return summary, spark.read.format("delta").load(summary["path"]).where(F.col("run_id") == run_id).drop("run_id")


@pytest.mark.slow
def test_generated_runs_copy_no_training_session(spark, tiny_catalog):
    real = spark.read.format("delta").load(tiny_catalog.layout.ingest.events)
    kept_summary, kept = _run(spark, tiny_catalog, "dropped", True)
    _, full = _run(spark, tiny_catalog, "full", False)
    copies = verbatim_copies(real, full)
    assert copies["copies"] > 20  # the run without the rule does copy
    assert verbatim_copies(real, kept)["copies"] == 0
    # Only the copying sessions are left out: the rest is the same run, row for row.
    copied = item_sequences(full).join(item_sequences(real).select("seq"), "seq", "left_semi").select("session_id")
    rest = full.join(copied, "session_id", "left_anti").select(*full.columns)
    assert kept.exceptAll(rest).count() == 0 and rest.exceptAll(kept).count() == 0
    assert kept_summary["copies_dropped"] == {"sessions": copied.distinct().count(),
                                              "events": full.count() - kept.count()}
    assert kept_summary["events"] == kept.count()
