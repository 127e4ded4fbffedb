"""The privacy guards: made from the real log, saved beside the model, made again when stale."""
from datetime import datetime

import numpy as np
import pandas as pd

from synthlib.config import Config, ProfileConf, SimulateConf
from synthlib.delta_io import write_table
from synthlib.models.guards import contains, item_keys, load_guards, save_guards, sequence_keys, text_key
from synthlib.schema import EVENTS_DDL


def _events(spark, rows):
    """Canonical events from (user, session, second, event_type, item, query) rows."""
    return spark.createDataFrame([(u, s, datetime(2024, 1, 1, 0, 0, t), e, i, "c", None, q, None, None)
                                  for u, s, t, e, i, q in rows], EVENTS_DDL)


def test_contains_looks_keys_up_among_sorted_ones():
    keys = np.array([-5, 3, 9], dtype=np.int64)
    values = pd.array([9, None, -5, 4, 10, -6], dtype="Int64")
    assert contains(keys, values).tolist() == [True, False, True, False, False, False]
    assert contains(keys[:0], values).tolist() == [False] * 6


def test_sequence_keys_tell_order_and_length_apart():
    a, b, c = item_keys("abc")
    keys = sequence_keys(np.array([a, b, c, b, a, c, a, b, a, b, c, a]), [3, 3, 2, 4])
    assert len(set(keys.tolist())) == 4
    assert keys[0] == sequence_keys(np.array([a, b, c]), [3])[0]  # the same sequence anywhere in a batch


def test_guards_are_saved_and_made_again_for_another_log_or_k(spark, tmp_path):
    conf = Config(output=str(tmp_path), simulate=SimulateConf(), profile=ProfileConf(min_query_users=2))
    path = conf.layout.ingest.events
    session = [("u1", "s1", t, "view", i, None) for t, i in enumerate("abc")]
    searches = [("u1", "s2", 0, "search", None, "rare one"), ("u1", "s3", 0, "search", None, "shared"),
                ("u2", "s4", 0, "search", None, "shared")]
    write_table(_events(spark, session + searches), path, mode="overwrite")
    assert save_guards(spark, conf) == {"copy_keys": 1, "rare_query_keys": 1, "min_query_users": 2}
    guards = load_guards(spark, conf)
    assert guards.copy_keys.tolist() == sequence_keys(item_keys("abc"), [3]).tolist()
    assert guards.rare_query_keys.tolist() == [text_key("rare one")]
    # A stricter k makes "shared" (two users) rare too, from the real log.
    strict = conf.model_copy(update={"profile": ProfileConf(min_query_users=3)})
    assert sorted(load_guards(spark, strict).rare_query_keys) == sorted([text_key("rare one"), text_key("shared")])
    # A rewritten log: the saved guards no longer apply and are made again from it.
    write_table(_events(spark, [("u1", "s1", t, "view", i, None) for t, i in enumerate("xyz")]), path,
                mode="overwrite")
    again = load_guards(spark, conf)
    assert again.copy_keys.tolist() == sequence_keys(item_keys("xyz"), [3]).tolist()
    assert not len(again.rare_query_keys)
