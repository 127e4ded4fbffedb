"""Privacy: does the synthetic log copy real training sessions, or sit closer to them than
fresh real sessions do?

- Verbatim copies: synthetic sessions of at least 3 item events whose item sequence equals
  a real training session's.
- Distance to the closest training record (DCR): Jaccard distance between item sets, found
  with Spark's MinHashLSH; synthetic sessions against real held-out ones.
- Membership inference: an attacker scores real sessions by their closeness to the
  synthetic log; the AUC of telling training members from held-out non-members.

Sessions are sampled by a seeded hash of their id (`records` per side), never by partition.
"""
from __future__ import annotations

from pyspark.ml.feature import HashingTF, MinHashLSH
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from synthlib import rng
from synthlib.data.sessions import item_sequences

HASH_TABLES = 5
FEATURES = 1 << 20
DCR_BINS = 10  # histogram bins over [0, 1] for the report


def verbatim_copies(train: DataFrame, synthetic: DataFrame) -> dict:
    """Synthetic sessions (>= 3 item events) that repeat a real training session's items in order."""
    seqs = item_sequences(synthetic)
    known = item_sequences(train).select("seq").distinct()
    sessions, copies = seqs.count(), seqs.join(known, "seq", "left_semi").count()
    return {"sessions": sessions, "copies": copies, "share": copies / sessions if sessions else 0.0}


def item_sets(events: DataFrame, seed: int, records: int | None = None, catalog: DataFrame | None = None) -> DataFrame:
    """(id, features): sessions with >= 2 distinct items as hashed binary item vectors,
    the `records` of lowest seeded hash when a limit is given. With a `catalog` (item_id),
    only its items count."""
    if catalog is not None:
        events = events.join(catalog, "item_id", "left_semi")
    sets = (events.where(F.col("item_id").isNotNull()).groupBy("session_id")
            .agg(F.array_sort(F.collect_set("item_id")).alias("items")).where(F.size("items") >= 2))
    if records is not None:
        sets = sets.orderBy(rng.spark_key(seed, "privacy", "session_id"), "session_id").limit(records)
    tf = HashingTF(inputCol="items", outputCol="features", numFeatures=FEATURES, binary=True)
    return tf.transform(sets).select(F.col("session_id").alias("id"), "features")


def closest(query: DataFrame, reference: DataFrame, seed: int) -> DataFrame:
    """(id, d): each query set's Jaccard distance to its closest reference set (1.0 when no
    reference set shares an item with it, as far as the LSH finds)."""
    lsh = MinHashLSH(inputCol="features", outputCol="hashes", numHashTables=HASH_TABLES, seed=seed)
    model = lsh.fit(query)
    pairs = model.approxSimilarityJoin(query, reference, 1.0, distCol="d")
    best = pairs.groupBy(F.col("datasetA.id").alias("id")).agg(F.min("d").alias("d"))
    return query.select("id").join(best, "id", "left").select("id", F.coalesce("d", F.lit(1.0)).alias("d"))


def _distance_counts(d: DataFrame) -> dict:
    """{distance rounded to 1e-4: count}: exact enough for medians, AUCs and histograms."""
    return {float(r["d"]): int(r["count"]) for r in d.groupBy(F.round("d", 4).alias("d")).count().collect()}


def median(counts: dict) -> float:
    total, seen = sum(counts.values()), 0
    for v in sorted(counts):
        seen += counts[v]
        if 2 * seen >= total:
            return v
    return float("nan")


def histogram(counts: dict) -> list[float]:
    """Shares of distances in DCR_BINS equal bins over [0, 1]."""
    bins = [0] * DCR_BINS
    for v, n in counts.items():
        bins[min(DCR_BINS - 1, int(v * DCR_BINS))] += n
    total = sum(bins) or 1
    return [b / total for b in bins]


def auc(positive: dict, negative: dict) -> float:
    """P(a positive scores above a negative) + P(tie) / 2, for {score: count} tables."""
    n_pos, n_neg = sum(positive.values()), sum(negative.values())
    if not n_pos or not n_neg:
        return float("nan")
    below, total = 0, 0.0
    for s in sorted(set(positive) | set(negative)):
        p, n = positive.get(s, 0), negative.get(s, 0)
        total += p * (below + n / 2)
        below += n
    return total / (n_pos * n_neg)


def distances(train: DataFrame, holdout: DataFrame, synthetic: DataFrame, *, members: DataFrame,
              non_members: DataFrame, seed: int, records: int, reference_records: int | None = None) -> dict:
    """DCR of synthetic and held-out sessions, and the membership-inference AUC of telling
    `members` (sessions the model trained on) from `non_members`. Synthetic and held-out
    sessions are both measured against the same `reference_records` training sessions (all of
    them when None), so a sampled reference moves both medians alike.

    Real sessions outside the training set keep only items of the training catalog: an item
    the model never saw can never be in a synthetic log, and would set those sessions apart
    for a reason that has nothing to do with memorisation.
    """
    catalog = train.where(F.col("item_id").isNotNull()).select("item_id").distinct()
    reference, syn, held, outside = (
        item_sets(train, seed, reference_records).persist(), item_sets(synthetic, seed, records).persist(),
        item_sets(holdout, seed, records, catalog).persist(), item_sets(non_members, seed, records, catalog).persist())
    try:
        inside = item_sets(members, seed, outside.count())  # as many members as non-members
        dcr = {"synthetic": _distance_counts(closest(syn, reference, seed)),
               "holdout": _distance_counts(closest(held, reference, seed))}
        # The attack: a real session close to some synthetic session is guessed a member.
        attack = {"members": _distance_counts(closest(inside, syn, seed)),
                  "non_members": _distance_counts(closest(outside, syn, seed))}
    finally:
        for df in (reference, syn, held, outside):
            df.unpersist()
    neg = lambda c: {-v: k for v, k in c.items()}  # noqa: E731 - closer is a higher score
    return {
        "dcr_median_synthetic": median(dcr["synthetic"]),
        "dcr_median_holdout": median(dcr["holdout"]),
        "dcr_exact_share_synthetic": dcr["synthetic"].get(0.0, 0) / max(1, sum(dcr["synthetic"].values())),
        "dcr_exact_share_holdout": dcr["holdout"].get(0.0, 0) / max(1, sum(dcr["holdout"].values())),
        "mia_auc": auc(neg(attack["members"]), neg(attack["non_members"])),
        "records": {k: sum(v.values()) for k, v in {**dcr, **attack}.items()},
        "histograms": {k: histogram(v) for k, v in dcr.items()},
    }
