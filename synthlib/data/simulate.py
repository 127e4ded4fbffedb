"""The embedded demo log: a seeded click-log simulator, generated in parallel by Spark.

SIMULATED DATA. Users have latent category tastes and heavy-tailed activity; items have
Zipf popularity inside categories and log-normal prices by category; sessions are bursts
of activity separated by hours; searches carry query strings and show ten ranked results
clicked with position-dependent probability; item pages lead to favourites, carts and
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
from pyspark.sql import SparkSession

from synthlib import rng
from synthlib.config import Config, SimulateConf
from synthlib.delta_io import write_table
from synthlib.schema import EVENTS_DDL, users_to_frames

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
POSITION_CDF = np.cumsum(1.0 / np.arange(1, RESULTS_SHOWN + 1) ** 1.2).tolist()


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


def _user_events(idx: int, u: rng.Tape, cat: Catalog, sim: SimulateConf) -> list[tuple]:
    """All events of one simulated user, in time order."""
    start = datetime.combine(sim.start, time(), tzinfo=timezone.utc).timestamp()
    user = f"u{idx}"
    device = DEVICES[int(u() * 3)]
    tastes = [rng.pick(cat.category_cdf, u()) for _ in range(3)]
    n_sessions = 1 + int(math.exp(1.1 * u.normal() + 0.3))  # heavy-tailed activity
    day_offsets = sorted(u() * sim.days for _ in range(n_sessions))
    rows, last_end = [], -1.0
    for s, day in enumerate(day_offsets):
        hour = rng.pick(HOUR_CDF, u())
        t = start + int(day) * 86400 + hour * 3600 + u() * 3600
        t = max(t, last_end + 2 * 3600 * (1 + u()))  # sessions are hours apart
        session = f"{user}-s{s}"
        taste = tastes[0] if u() < 0.6 else tastes[1] if u() < 0.6 else tastes[2]
        category = taste if u() < 0.85 else rng.pick(cat.category_cdf, u())
        item, query = None, None
        event = "search" if u() < 0.35 else "view"
        while True:
            position = None
            if event == "search":
                query = f"{ADJECTIVES[int(u() * len(ADJECTIVES))]} {cat.noun[category]}" if u() < 0.7 \
                    else cat.noun[category]
                item = None
            elif event == "click":
                position = 1 + rng.pick(POSITION_CDF, u())
                # Results are ranked by popularity with some noise, so rank ~ position.
                rank = max(0, position - 1 + int(3 * u.normal()))
                item = cat.item_id(category, min(rank, cat.items_per_category - 1))
            elif event == "view":
                if u() < 0.25:  # browse to another category of taste
                    category = tastes[int(u() * 3)]
                item = cat.item_id(category, rng.pick(cat.item_cdf, u()))
            price = float(cat.price[item]) if item is not None else None
            rows.append((user, session, t, event, None if item is None else str(item + 1),
                         str(category + 1), price, query if event in ("search", "click") else None,
                         position, device))
            event = _next_event(event, u())
            if event is None:
                break
            t += min(25 * 60, math.exp(3.7 + 1.1 * u.normal()))  # log-normal gaps, median 40 s
        last_end = t
    return rows


def _next_event(event: str, x: float) -> str | None:
    """Funnel transitions; None ends the session."""
    table = {
        "search": (("click", 0.55), ("search", 0.15), ("view", 0.1)),
        "click": (("view", 0.3), ("cart", 0.12), ("fav", 0.05), ("search", 0.2), ("click", 0.15)),
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
    return float(np.mean([len(_user_events(i, rng.Tape(key, i), cat, sim)) for i in range(2000)]))


def simulate(spark: SparkSession, conf: Config) -> dict:
    """Write the simulated demo log to Delta and return a summary."""
    sim = conf.simulate or SimulateConf()
    cat = Catalog(conf.seed, sim)
    users = max(1, round(sim.events / _events_per_user(conf.seed, sim, cat)))
    key = rng.stream_key(conf.seed, "simulate", "user")

    def generate(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        return users_to_frames(batches, lambda i: _user_events(i, rng.Tape(key, i), cat, sim))

    events = (spark.range(0, users, numPartitions=sim.partitions)
              .mapInPandas(generate, EVENTS_DDL)
              .selectExpr("*", "to_date(ts) AS date"))
    path = conf.simulated_path
    props = {"synthlib.simulated": "true", "synthlib.seed": str(conf.seed),
             "synthlib.data.simulate": json.dumps(sim.model_dump(mode="json"), sort_keys=True)}
    write_table(events, path, mode="overwrite", partition_by=["date"], properties=props,
                commit_info={"operation": "simulate", "seed": conf.seed})
    write_table(spark.createDataFrame(cat.items(conf.seed)), conf.simulated_items_path, mode="overwrite",
                properties=props, commit_info={"operation": "simulate", "seed": conf.seed})
    rows = spark.read.format("delta").load(path).count()
    return {"simulated_events": rows, "users": users, "path": path, "items_path": conf.simulated_items_path}
