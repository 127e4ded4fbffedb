from datetime import datetime

from synthlib.generate.queries import fill_queries
from synthlib.models.guards import rare_queries, rare_query_keys, sorted_keys
from synthlib.schema import EVENTS_DDL
from tests.helpers import COLORS


def _events(spark, rows):
    """Canonical events from (user, session, second, event_type, category, query) rows."""
    return spark.createDataFrame([(u, s, datetime(2024, 1, 1, 0, 0, t), e, None if e == "search" else "i1", c,
                                   None, q, None, None) for u, s, t, e, c, q in rows], EVENTS_DDL)


def test_generated_queries_keep_the_k_user_rule(spark, text_model):
    # Real log: "red sofa" issued by one user (rare), every other colour's sofa by five users.
    real = _events(spark, [("u0", "r0", 0, "search", "sofa", "red sofa")] + [
        (f"u{i}", f"r{i}", 0, "search", "sofa", f"{c} sofa") for c in COLORS[1:] for i in range(5)])
    assert {r[0] for r in rare_queries(real, 5).collect()} == {"red sofa"}
    synthetic = _events(spark, [(f"s{i}", f"s{i}", t, "search", "sofa", None) for i in range(40) for t in range(3)]
                        + [("s0", "s0", 9, "search", "sofa", "kept as it is"), ("s0", "s0", 10, "view", "sofa", None)])
    rare = sorted_keys(rare_query_keys(real, 5))
    out = fill_queries(spark, synthetic, text_model, rare, seed=1).collect()
    assert len(out) == 122 and sum(r["event_type"] == "view" and r["query"] is None for r in out) == 1
    queries = [r["query"] for r in out if r["event_type"] == "search"]
    assert "kept as it is" in queries and "red sofa" not in queries
    assert sum(q in {f"{c} sofa" for c in COLORS[1:]} for q in queries) > 30  # frequent ones come back
    assert 0 < sum(q is None for q in queries) < 40  # the model's "red sofa" draws were withheld
    again = fill_queries(spark, synthetic, text_model, rare, seed=1).collect()
    assert sorted(map(str, out)) == sorted(map(str, again))
