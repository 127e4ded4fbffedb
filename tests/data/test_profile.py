"""Profile statistics against values computed independently with pandas on small data."""
import numpy as np
import pandas as pd
import pytest

from synthlib.data.popularity import popularity
from synthlib.data.profile import aggregate, summarise

T0 = pd.Timestamp("2024-03-04 09:00:00", tz="UTC")  # a Monday
ROWS = [  # user, session, seconds after T0, type, item, category, price, query, position
    ("a", "s1", 0, "search", None, "c1", None, "red chair", None),
    ("a", "s1", 30, "click", "i1", "c1", 10.0, "red chair", 2),
    ("a", "s1", 95, "cart", "i1", "c1", 10.0, None, None),
    ("a", "s1", 200, "purchase", "i1", "c1", 10.0, None, None),
    ("a", "s2", 7200, "view", "i2", "c2", 30.0, None, None),
    ("b", "s3", 3600 * 5, "search", None, "c1", None, "chair", None),
    ("b", "s3", 3600 * 5 + 10, "click", "i3", "c1", 20.0, "chair", 1),
    ("b", "s3", 3600 * 5 + 20, "view", "i2", "c2", 30.0, None, None),
    ("c", "s4", 86400, "view", "i1", "c1", 10.0, None, None),
    ("c", "s4", 86400 + 3, "view", "i1", "c1", 10.0, None, None),
]


@pytest.fixture(scope="module")
def frames(spark):
    pdf = pd.DataFrame(ROWS, columns=["user_id", "session_id", "dt", "event_type", "item_id", "category",
                                      "price", "query", "position"])
    pdf["ts"] = T0 + pd.to_timedelta(pdf["dt"], unit="s")
    pdf["device"] = None
    rows = [(*r[:2], (T0 + pd.Timedelta(seconds=r[2])).to_pydatetime(), *r[3:], None) for r in ROWS]
    events = spark.createDataFrame(rows, "user_id string, session_id string, ts timestamp, event_type string, "
                                   "item_id string, category string, price double, query string, "
                                   "position int, device string")
    agg = aggregate(events, max_position=20).cache()
    return pdf, summarise(agg, top_queries=5), agg


def test_counts_and_mix(frames):
    pdf, s, _ = frames
    assert (s["events"], s["users"], s["sessions"], s["items"], s["categories"]) == (10, 3, 4, 3, 2)
    assert s["event_types"] == pdf["event_type"].value_counts().to_dict()
    assert s["null_rates"]["item_id"] == pytest.approx(pdf["item_id"].isna().mean())
    assert s["null_rates"]["device"] == 1.0


def test_transitions_match_pandas(frames):
    pdf, s, _ = frames
    pdf = pdf.sort_values(["session_id", "ts"])
    prev = pdf.groupby("session_id")["event_type"].shift().fillna("(start)")
    expected = {}
    for a, b in zip(prev, pdf["event_type"]):
        expected.setdefault(a, {}).setdefault(b, 0)
        expected[a][b] += 1
    for last in pdf.groupby("session_id")["event_type"].last():
        expected.setdefault(last, {}).setdefault("(end)", 0)
        expected[last]["(end)"] += 1
    assert s["transitions"] == expected


def test_histograms(frames):
    pdf, s, _ = frames
    lengths = pdf.groupby("session_id").size().value_counts().sort_index()
    assert s["session_length"] == {"bins": lengths.index.tolist(), "counts": lengths.tolist()}
    per_user = pdf.groupby("user_id").size().value_counts().sort_index()
    assert s["events_per_user"] == {"bins": per_user.index.tolist(), "counts": per_user.tolist()}
    assert s["sessions_per_user"] == {"bins": [1, 2], "counts": [2, 1]}
    assert s["hour_of_day"] == {int(k): v for k, v in pdf["ts"].dt.hour.value_counts().items()}
    assert s["day_of_week"] == {2: 8, 3: 2}  # Spark: 1 = Sunday, so Monday is 2


def test_gaps_rates_search(frames):
    pdf, s, _ = frames
    pdf = pdf.sort_values(["session_id", "ts"])
    gaps = pdf.groupby("session_id")["ts"].diff().dropna().dt.total_seconds()
    expected = np.floor(np.log2(gaps + 1)).astype(int).value_counts().to_dict()
    assert s["gap_log2_seconds"] == expected
    assert s["same_item_rate"] == pytest.approx(3 / 6)  # consecutive pairs whose later event has an item
    assert s["same_category_rate"] == pytest.approx(5 / 6)
    assert s["click_through_by_position"] == {1: 0.5, 2: 0.5}
    assert s["query_words"] == {1: 1, 2: 1}
    assert s["top_queries"][0]["count"] == 1 and {q["query"] for q in s["top_queries"]} == {"red chair", "chair"}


def test_item_and_time_figures(frames):
    pdf, s, agg = frames
    items = {r["key"]: r["n"] for r in agg.where("stat = 'item'").collect()}
    assert items == pdf["item_id"].value_counts().to_dict()
    assert s["time_range"]["start"] == T0.timestamp()
    assert s["time_range"]["end"] == (T0 + pd.Timedelta(seconds=86403)).timestamp()
    assert s["events_per_day"] == {"2024-03-04": 8, "2024-03-05": 2}
    assert (s["time_range"]["first_day"], s["time_range"]["last_day"]) == ("2024-03-04", "2024-03-05")


def _gini_direct(counts):
    x = np.sort(np.asarray(counts, dtype=float))
    n = len(x)
    return float(((2 * np.arange(1, n + 1) - n - 1) * x).sum() / (n * x.sum()))


def test_popularity_matches_direct_formulas():
    counts = [1] * 150 + [2] * 30 + [5] * 10 + [40, 90, 300]
    freq = pd.Series(counts).value_counts().items()
    pop = popularity(list(freq))
    assert pop["items"] == len(counts)
    assert pop["gini"] == pytest.approx(_gini_direct(counts))
    top = sorted(counts, reverse=True)[: -(-len(counts) // 100)]
    assert pop["top1pct_share"] == pytest.approx(sum(top) / sum(counts))
    assert popularity([(3, 10)])["gini"] == pytest.approx(0.0)  # all equal


def test_queries_fewer_than_k_users_issued_are_not_kept(spark):
    # "sofa": 5 users; "jane doe 12 elm st": one user, 9 times (planted); "lamp": 4 users.
    searches = ([(f"u{i}", "sofa") for i in range(5)] + [("u9", "jane doe 12 elm st")] * 9
                + [(f"u{i}", "lamp") for i in range(4)])
    rows = [(u, f"{u}-s", (T0 + pd.Timedelta(seconds=k)).to_pydatetime(), "search", None, None, None, q, None, None)
            for k, (u, q) in enumerate(searches)]
    events = spark.createDataFrame(rows, "user_id string, session_id string, ts timestamp, event_type string, "
                                   "item_id string, category string, price double, query string, "
                                   "position int, device string")
    agg = aggregate(events, max_position=20).persist()  # as the profile holds it
    kept = lambda k: [q["query"] for q in summarise(agg, top_queries=10, min_query_users=k)["top_queries"]]  # noqa: E731
    assert kept(5) == ["sofa"]
    assert kept(4) == ["sofa", "lamp"]
    assert kept(1) == ["jane doe 12 elm st", "sofa", "lamp"]  # by events
