"""Fidelity: how closely a synthetic log follows the real training log.

Each log is described once with the profile's single-pass aggregation (`describe`); the
distances are computed from those bounded descriptions. Every distance is 0 for identical
logs and at most 1; item-level figures (popularity, co-visited neighbours) stay in Spark.
"""
from __future__ import annotations

from dataclasses import dataclass

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from synthlib.data.profile import aggregate, summarise
from synthlib.data.sessions import neighbours
from synthlib.schema import EVENT_TYPES, SESSION_END, SESSION_START

# Transition states in funnel order, for the report's heatmaps.
TRANSITION_STATES = (SESSION_START, *EVENT_TYPES, SESSION_END)
FUNNEL = (("cart_given_view", "view", "cart"), ("purchase_given_cart", "cart", "purchase"),
          ("purchase_given_view", "view", "purchase"))
POPULAR_ITEMS = 100  # co-visitation is compared on the real log's most popular items
TOP_NEIGHBOURS = 10


@dataclass
class Description:
    """A log's bounded figures, and its item counts (item_id, n) kept in Spark."""

    summary: dict
    items: DataFrame
    categories: dict  # category -> (events, mean price)
    funnel: dict  # rate name -> share of sessions, None when no session has the condition
    events: DataFrame
    _neighbours: DataFrame | None = None

    def popular_neighbours(self, popular: DataFrame, max_items: int = 50) -> DataFrame:
        """(a, b, score): the top co-visited neighbours of the `popular` items (column a),
        computed once per description."""
        if self._neighbours is None:
            self._neighbours = (neighbours(self.events, TOP_NEIGHBOURS, max_items).join(popular, "a")
                                .persist(StorageLevel.MEMORY_AND_DISK))
        return self._neighbours

    def release(self) -> None:
        self.items.unpersist()
        if self._neighbours is not None:
            self._neighbours.unpersist()


def funnel_rates(events: DataFrame) -> dict:
    """Session conversion: the share of sessions with event a that also have event b."""
    has = lambda t: F.max(F.when(F.col("event_type") == t, 1).otherwise(0))  # noqa: E731
    viewed = F.greatest(has("view"), has("click"))
    per_session = events.groupBy("session_id").agg(viewed.alias("view"), has("cart").alias("cart"),
                                                   has("purchase").alias("purchase"))
    sums = per_session.agg(*[F.sum(t).alias(t) for t in ("view", "cart", "purchase")],
                           *[F.sum(F.col(a) * F.col(b)).alias(f"{a}_{b}") for _, a, b in FUNNEL]).first()
    return {name: (sums[f"{a}_{b}"] / sums[a] if sums[a] else None) for name, a, b in FUNNEL}


def describe(events: DataFrame, top_queries: int = 200) -> Description:
    """Describe a canonical event frame: one aggregation, then bounded summaries."""
    agg = aggregate(events, max_position=20, quantiles=False).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        summary = summarise(agg, top_queries)
        categories = {r["key"]: (int(r["n"]), r["mean"]) for r in
                      agg.where(F.col("stat") == "category").select("key", "n", "mean").collect()}
        items = (agg.where(F.col("stat") == "item").select(F.col("key").alias("item_id"), "n")
                 .persist(StorageLevel.MEMORY_AND_DISK))
        items.count()
    finally:
        agg.unpersist()
    return Description(summary, items, categories, funnel_rates(events), events)


def shares(c: dict) -> dict:
    total = sum(c.values()) or 1
    return {k: n / total for k, n in c.items()}


def total_variation(p: dict, q: dict) -> float:
    """Half the L1 distance between two distributions given as {key: share}."""
    return 0.5 * sum(abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in set(p) | set(q))


def ks(p: dict, q: dict) -> float:
    """Kolmogorov-Smirnov distance between two distributions over ordered keys."""
    cp = cq = worst = 0.0
    for k in sorted(set(p) | set(q)):
        cp, cq = cp + p.get(k, 0.0), cq + q.get(k, 0.0)
        worst = max(worst, abs(cp - cq))
    return worst


def histogram(h: dict) -> dict:
    """A profile histogram {bins, counts} as shares by bin."""
    return shares(dict(zip(h["bins"], h["counts"])))


def transition_l1(p: dict, q: dict) -> float:
    """Rows of the event-transition matrices normalised, half their L1 distance, weighted by
    the real row's share of transitions (0: the same chain, 1: no shared transition)."""
    total = sum(sum(row.values()) for row in p.values()) or 1
    return sum(sum(row.values()) / total * (total_variation(shares(row), shares(q[a])) if q.get(a) else 1.0)
               for a, row in p.items())


def item_total_variation(real: DataFrame, synthetic: DataFrame) -> float:
    """Half the L1 distance between two item distributions (item_id, n), in Spark."""
    totals = [df.agg(F.sum("n")).first()[0] or 1 for df in (real, synthetic)]
    p = real.select("item_id", (F.col("n") / totals[0]).alias("p"))
    q = synthetic.select("item_id", (F.col("n") / totals[1]).alias("q"))
    diff = F.abs(F.coalesce("p", F.lit(0.0)) - F.coalesce("q", F.lit(0.0)))
    return 0.5 * float(p.join(q, "item_id", "full_outer").agg(F.sum(diff)).first()[0] or 0.0)


def item_count_distribution(desc: Description) -> list[tuple[int, int]]:
    """(events, number of items with that many events), ascending: the rank-frequency curve."""
    return sorted((int(r["n"]), int(r["count"])) for r in desc.items.groupBy("n").count().collect())


def price_by_category(real: dict, synthetic: dict) -> float:
    """Relative difference of the mean price per category, weighted by real events (capped at 1)."""
    priced = {c: (n, p) for c, (n, p) in real.items() if p}
    total = sum(n for n, _ in priced.values())
    if not total:
        return 0.0
    return sum(n / total * min(1.0, abs((synthetic.get(c, (0, None))[1] or 0.0) - p) / p)
               for c, (n, p) in priced.items())


def covisit_overlap(real: Description, synthetic: Description) -> float:
    """Mean share of the top co-visited neighbours of the real log's popular items that the
    synthetic log gives the same items (1: identical neighbourhoods)."""
    popular = real.items.orderBy(F.desc("n"), "item_id").limit(POPULAR_ITEMS).select(F.col("item_id").alias("a"))
    top = [d.popular_neighbours(popular) for d in (real, synthetic)]
    same = top[1].select("a", "b", F.lit(1).alias("hit"))
    per_item = (top[0].join(same, ["a", "b"], "left")
                .groupBy("a").agg(F.count("hit").alias("shared"), F.count(F.lit(1)).alias("kept")))
    row = per_item.agg(F.avg(F.col("shared") / F.col("kept")).alias("o"), F.count(F.lit(1)).alias("n")).first()
    return float(row["o"]) if row["n"] else 1.0


def _query_overlap(real: list, synthetic: list) -> float:
    r, s = {q["query"] for q in real}, {q["query"] for q in synthetic}
    return len(r & s) / len(r) if r else 1.0


def compare(real: Description, synthetic: Description) -> tuple[dict, dict]:
    """(metrics, figures): distances between two described logs, and what the report plots."""
    a, b = real.summary, synthetic.summary
    freq = [item_count_distribution(d) for d in (real, synthetic)]
    by_count = [shares({c: c * m for c, m in f}) for f in freq]  # events by item frequency
    figures = {
        "rank_frequency": freq,
        "session_length": (histogram(a["session_length"]), histogram(b["session_length"])),
        "events_per_user": (histogram(a["events_per_user"]), histogram(b["events_per_user"])),
        "event_mix": (shares(a["event_types"]), shares(b["event_types"])),
        "funnel": (real.funnel, synthetic.funnel),
        "hour_of_day": (shares(a["hour_of_day"]), shares(b["hour_of_day"])),
        "day_of_week": (shares(a["day_of_week"]), shares(b["day_of_week"])),
        "gap_log2_seconds": (shares(a["gap_log2_seconds"]), shares(b["gap_log2_seconds"])),
        "transitions": (a["transitions"], b["transitions"]),
        "category": (shares({c: n for c, (n, _) in real.categories.items()}),
                     shares({c: n for c, (n, _) in synthetic.categories.items()})),
    }
    funnel_gaps = [abs((real.funnel[k] or 0.0) - (synthetic.funnel[k] or 0.0))
                   for k in real.funnel if real.funnel[k] is not None]
    metrics = {
        "item_popularity_tv": item_total_variation(real.items, synthetic.items),
        "item_rank_frequency_ks": ks(*by_count),
        "item_gini_difference": abs(a["item_popularity"]["gini"] - b["item_popularity"]["gini"]),
        "item_top1pct_share_difference": abs(a["item_popularity"]["top1pct_share"]
                                             - b["item_popularity"]["top1pct_share"]),
        "events_per_user_ks": ks(*figures["events_per_user"]),
        "session_length_ks": ks(*figures["session_length"]),
        "session_length_tv": total_variation(*figures["session_length"]),
        "event_mix_tv": total_variation(*figures["event_mix"]),
        "funnel_difference": max(funnel_gaps, default=0.0),
        "transition_l1": transition_l1(a["transitions"], b["transitions"]),
        "hour_of_day_tv": total_variation(*figures["hour_of_day"]),
        "day_of_week_tv": total_variation(*figures["day_of_week"]),
        "gap_ks": ks(*figures["gap_log2_seconds"]),
        "covisit_neighbour_distance": 1.0 - covisit_overlap(real, synthetic),
    }
    if real.categories:
        metrics["category_tv"] = total_variation(*figures["category"])
        metrics["price_by_category"] = price_by_category(real.categories, synthetic.categories)
    if a["click_through_by_position"]:
        figures["click_position"] = (shares(a["click_through_by_position"]), shares(b["click_through_by_position"]))
        metrics["click_position_tv"] = total_variation(*figures["click_position"])
    if a["top_queries"]:
        figures["query_words"] = (shares(a["query_words"]), shares(b["query_words"]))
        metrics["query_words_tv"] = total_variation(*figures["query_words"])
        metrics["top_query_distance"] = 1.0 - _query_overlap(a["top_queries"], b["top_queries"])
    return metrics, figures

