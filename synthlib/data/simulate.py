"""The embedded demo log: a seeded click-log simulator, generated in parallel by Spark.

SIMULATED DATA. Users have latent category tastes and heavy-tailed activity; items have
Zipf popularity inside categories and log-normal prices by category; sessions are bursts
of activity separated by hours; searches carry query strings and show ten ranked results
clicked by a position-based click model (a position is examined with probability
EXAMINATION[position], an examined result clicked with its item's attractiveness), and their
result lists are written as impressions when `simulate.impressions` is on; item pages lead to favourites, carts and
purchases; timestamps follow a diurnal curve. Items have titles (brand, words of
the category) in a catalog table beside the events. Each user's events derive from
(seed, user index) alone, so the log is the same whatever the partitioning.
"""
from __future__ import annotations

import json
import math
from datetime import datetime, time, timezone
from typing import Iterator

import numpy as np
import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import SparkSession

from synthlib import rng
from synthlib.config import Config, SimulateConf
from synthlib.delta_io import write_table
from synthlib.schema import COLUMN_NAMES, EVENTS_DDL, IMPRESSION_COLUMNS, users_to_frames

# A simulated row is an event or (with simulate.impressions) a shown search result.
SIMULATED_COLUMNS = COLUMN_NAMES + ("request_id", "surface", "clicked", "_table")
SIMULATED_DDL = f"{EVENTS_DDL}, request_id string, surface string, clicked boolean, _table string"

NOUNS = (
    "sofa chair lamp rug desk bed mirror shelf table curtain pillow blanket mug kettle pan "
    "knife blender toaster jacket shoes dress shirt jeans scarf watch ring backpack wallet "
    "laptop phone headphones speaker camera charger mouse keyboard monitor tablet drone "
    "tent bike helmet ball racket yoga-mat dumbbell shampoo perfume lipstick cream toy puzzle "
    "lego doll book pen notebook paint guitar drum"
).split()
ADJECTIVES = "cheap red black white small large wooden leather wireless organic kids vintage modern".split()
BRANDS = "acme nordal brightway kobo vela ostra lumen pika terra zento halden quill".split()
COLOURS = "black white grey red blue green beige brown".split()
SPECS = "mini compact classic pro deluxe xl 2-pack set-of-4 v2 slim".split()
RESULTS_SHOWN = 10
DEVICES = ("mobile", "desktop", "app")
# Cumulative distributions as Python lists: the fast path of rng.pick for scalar draws.
HOUR_CDF = np.cumsum([1, 0.6, 0.4, 0.3, 0.3, 0.5, 1, 2, 3, 3.5, 3.8, 4, 4.2, 4, 3.8, 3.7, 3.8,
                      4.2, 5, 6, 6.5, 6, 4, 2]).tolist()
# The click model's ground truth: examination by position, attractiveness by popularity rank.
EXAMINATION = (1.0 / np.arange(1, RESULTS_SHOWN + 1) ** 0.7).tolist()
RESULT_CANDIDATES = 30  # a search ranks the category's most popular items with noise


def attractiveness(rank: int) -> float:
    return 0.3 / (1 + rank) ** 0.4


class Catalog:
    """Categories, items, prices and queries, all derived from the seed."""

    def __init__(self, seed: int, sim: SimulateConf):
        c, n = sim.categories, sim.items_per_category
        key = rng.stream_key(seed, "simulate", "catalog")
        self.items_per_category = n
        self.category_cdf = np.cumsum(1.0 / np.arange(1, c + 1) ** 0.8).tolist()
        self.item_cdf = np.cumsum(1.0 / np.arange(1, n + 1) ** 1.1).tolist()  # Zipf rank within category
        median_price = np.exp(2.5 + 2.0 * rng.uniform(key, np.arange(c), 0))
        noise = np.exp(0.35 * rng.normal(key, np.arange(c * n) + c, 1))
        self.price = np.round(np.repeat(median_price, n) * noise, 2)
        self.noun = [NOUNS[i % len(NOUNS)] + ("" if i < len(NOUNS) else f"-{i // len(NOUNS)}")
                     for i in range(c)]

    def item_id(self, category: int, rank: int) -> int:
        return category * self.items_per_category + rank

    def items(self, seed: int) -> pd.DataFrame:
        """The catalog: (item_id, category, brand, price, title) per item. A category sells
        three brands; a title is brand, adjective, the category's noun, a spec and a colour,
        the adjective, spec and colour each left out at random."""
        n = len(self.price)
        key = rng.stream_key(seed, "simulate", "titles")
        u = rng.uniform(key, np.arange(n)[:, None], np.arange(7)[None, :])
        category = np.arange(n) // self.items_per_category
        pick = lambda words, x: words[int(x * len(words))]  # noqa: E731
        brands, titles = [], []
        for c, v in zip(category, u):
            brand = BRANDS[(3 * c + int(v[0] * 3)) % len(BRANDS)]
            words = [brand, pick(ADJECTIVES, v[1]) if v[4] < 0.7 else None, self.noun[c],
                     pick(SPECS, v[2]) if v[5] < 0.5 else None, pick(COLOURS, v[3]) if v[6] < 0.6 else None]
            brands.append(brand)
            titles.append(" ".join(w for w in words if w))
        return pd.DataFrame({"item_id": [str(i + 1) for i in range(n)], "category": [str(c + 1) for c in category],
                             "brand": brands, "price": self.price, "title": titles})


def _results(u: rng.Tape, items: int) -> list[int]:
    """The popularity ranks of a search's results, in display order: the most popular
    candidates ranked with noise, so that an item is shown at several positions. A category
    of fewer `items` than RESULT_CANDIDATES ranks all of them."""
    noisy = sorted((r + 4.0 * u.normal(), r) for r in range(min(RESULT_CANDIDATES, items)))
    return [r for _, r in noisy[:RESULTS_SHOWN]]


def _user_events(idx: int, u: rng.Tape, cat: Catalog, sim: SimulateConf) -> list[tuple]:
    """All events of one simulated user in time order, then (with `sim.impressions`) the
    impressions of their searches: rows of SIMULATED_COLUMNS."""
    start = datetime.combine(sim.start, time(), tzinfo=timezone.utc).timestamp()
    user = f"u{idx}"
    device = DEVICES[int(u() * 3)]
    tastes = [rng.pick(cat.category_cdf, u()) for _ in range(3)]
    n_sessions = 1 + int(math.exp(1.1 * u.normal() + 0.3))  # heavy-tailed activity
    day_offsets = sorted(u() * sim.days for _ in range(n_sessions))
    rows, shown, last_end = [], [], -1.0

    def event(t, typ, item, category, query=None, position=None):
        price = float(cat.price[item]) if item is not None else None
        rows.append((user, session, t, typ, None if item is None else str(item + 1), str(category + 1), price,
                     query, position, device, None, None, None, "events"))

    for s, day in enumerate(day_offsets):
        hour = rng.pick(HOUR_CDF, u())
        t = start + int(day) * 86400 + hour * 3600 + u() * 3600
        t = max(t, last_end + 2 * 3600 * (1 + u()))  # sessions are hours apart
        session = f"{user}-s{s}"
        taste = tastes[0] if u() < 0.6 else tastes[1] if u() < 0.6 else tastes[2]
        category = taste if u() < 0.85 else rng.pick(cat.category_cdf, u())
        typ, searches = ("search" if u() < 0.35 else "view"), 0
        while True:
            if typ == "search":
                query = f"{ADJECTIVES[int(u() * len(ADJECTIVES))]} {cat.noun[category]}" if u() < 0.7 \
                    else cat.noun[category]
                event(t, "search", None, category, query)
                request, clicks = f"{session}-q{searches}", []
                searches += 1
                for position, rank in enumerate(_results(u, cat.items_per_category), start=1):
                    item = cat.item_id(category, rank)
                    clicked = u() < EXAMINATION[position - 1] and u() < attractiveness(rank)
                    if sim.impressions:
                        shown.append((user, session, t, None, str(item + 1), str(category + 1), float(cat.price[item]),
                                      query, position, None, request, "search", clicked, "impressions"))
                    if clicked:
                        clicks.append((position, item))
                for position, item in clicks:  # the clicked results open, top down
                    t += min(25 * 60, math.exp(3.7 + 1.1 * u.normal()))
                    event(t, "click", item, category, query, position)
                typ = "click" if clicks else "search"
            elif typ == "view":
                if u() < 0.25:  # browse to another category of taste
                    category = tastes[int(u() * 3)]
                item = cat.item_id(category, rng.pick(cat.item_cdf, u()))
                event(t, "view", item, category)
            else:
                event(t, typ, item, category)
            typ = _next_event(typ, u())
            if typ is None:
                break
            t += min(25 * 60, math.exp(3.7 + 1.1 * u.normal()))  # log-normal gaps, median 40 s
        last_end = t
    return rows + shown


def _next_event(event: str, x: float) -> str | None:
    """Funnel transitions; None ends the session."""
    table = {
        "search": (("search", 0.3), ("view", 0.25)),  # a search without clicks; clicks come from its results
        "click": (("view", 0.35), ("cart", 0.14), ("fav", 0.06), ("search", 0.27)),  # after a search's clicks
        "view": (("view", 0.55), ("cart", 0.08), ("fav", 0.04), ("search", 0.1)),
        "fav": (("view", 0.5), ("cart", 0.2)),
        "cart": (("purchase", 0.35), ("view", 0.35), ("search", 0.05)),
        "purchase": (("view", 0.3),),
    }[event]
    acc = 0.0
    for nxt, p in table:
        acc += p
        if x < acc:
            return nxt
    return None


def _events_per_user(seed: int, sim: SimulateConf, cat: Catalog) -> float:
    key = rng.stream_key(seed, "simulate", "calibration")
    events = sim.model_copy(update={"impressions": False})
    return float(np.mean([len(_user_events(i, rng.Tape(key, i), cat, events)) for i in range(2000)]))


def simulate(spark: SparkSession, conf: Config) -> dict:
    """Write the simulated demo log to Delta and return a summary."""
    sim = conf.simulate or SimulateConf()
    cat = Catalog(conf.seed, sim)
    users = max(1, round(sim.events / _events_per_user(conf.seed, sim, cat)))
    key = rng.stream_key(conf.seed, "simulate", "user")

    def generate(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        return users_to_frames(batches, lambda i: _user_events(i, rng.Tape(key, i), cat, sim),
                               columns=SIMULATED_COLUMNS)

    rows = (spark.range(0, users, numPartitions=sim.partitions).mapInPandas(generate, SIMULATED_DDL)
            .selectExpr("*", "to_date(ts) AS date"))
    if sim.impressions:
        rows = rows.persist(StorageLevel.MEMORY_AND_DISK)
    path = conf.simulated_path
    props = {"synthlib.simulated": "true", "synthlib.seed": str(conf.seed),
             "synthlib.data.simulate": json.dumps(sim.model_dump(mode="json"), sort_keys=True)}
    commit = {"operation": "simulate", "seed": conf.seed}
    try:
        write_table(rows.where("_table = 'events'").select(*COLUMN_NAMES, "date"), path, mode="overwrite",
                    partition_by=["date"], properties=props, commit_info=commit)
        if sim.impressions:
            names = [name for name, _ in IMPRESSION_COLUMNS]
            write_table(rows.where("_table = 'impressions'").select(*names, "date"), conf.simulated_impressions_path,
                        mode="overwrite", partition_by=["date"], properties=props, commit_info=commit)
    finally:
        rows.unpersist()
    write_table(spark.createDataFrame(cat.items(conf.seed)), conf.simulated_items_path, mode="overwrite",
                properties=props, commit_info=commit)
    summary = {"simulated_events": spark.read.format("delta").load(path).count(), "users": users, "path": path,
               "items_path": conf.simulated_items_path}
    if sim.impressions:
        summary["impressions_path"] = conf.simulated_impressions_path
    return summary
