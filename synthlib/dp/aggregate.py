"""Noisy counts over Spark through PipelineDP (its RDD backend), for one part of the budget.

Request the aggregations of a part, then `compute()`: PipelineDP's accountant shares the
part's (epsilon, delta) across them by weight, calibrates Gaussian noise to each one's
contribution bounds, and the results are collected (each is bounded: a histogram's bins,
or the keys that DP partition selection kept); a part without delta gets Laplace noise.
Keys without public candidates are kept only when their noisy count of users clears a
threshold set by the budget, so a key too few users share never appears, and no fixed
threshold is involved. Where asked (`floor`),
a public key whose noisy count is under the noise floor is released as 0 (post-processing):
such a count cannot be told from none, and a log without searches, say, must not come out
with them. The floor is NOISE_FLOOR standard deviations of the noise, or more over many keys
(`noise_floor`), so that the keys no user holds let one through per release on average. A
histogram (`floor="shape"`) whose every bin is under the floor keeps its noisy counts: a log
too small for its budget still gets a shape.
"""
from __future__ import annotations

from statistics import NormalDist

import pipeline_dp
from pyspark.sql import DataFrame, SparkSession

from synthlib.dp.budget import Part

NOISE_FLOOR = 3.0  # standard deviations of a count's noise; pure noise clears it 0.13% of the time


def noise_floor(keys: int) -> float:
    """The floor in standard deviations for `keys` public keys: NOISE_FLOOR, or the level pure
    noise clears once in `keys` draws, so that the keys no user holds let one through per
    release on average (3.3 for 2,000 keys, 3.9 for 25,000, 4.5 for 250,000)."""
    return max(NOISE_FLOOR, NormalDist().inv_cdf(1 - 1 / keys)) if keys > 1 else NOISE_FLOOR


class Release:
    """DP aggregations of one part of the budget."""

    def __init__(self, spark: SparkSession, part: Part):
        self.part = part
        self.accountant = pipeline_dp.NaiveBudgetAccountant(total_epsilon=part.epsilon, total_delta=part.delta)
        self.engine = pipeline_dp.DPEngine(self.accountant, pipeline_dp.SparkRDDBackend(spark.sparkContext))
        self.noise = pipeline_dp.NoiseKind.GAUSSIAN if part.delta > 0 else pipeline_dp.NoiseKind.LAPLACE
        self.pending: dict[str, tuple] = {}
        self.aggregations: dict[str, dict] = {}

    def count(self, name: str, rows: DataFrame, *, max_keys: int, max_per_key: int = 1,
              max_rows: int | None = None, keys: list | None = None, users: bool = False,
              weight: float = 1.0, floor: bool | str = False) -> None:
        """Request the noisy count per key of `rows` (columns user_id, key).

        Args:
            max_keys: keys a user counts towards (more are sampled down).
            max_per_key: rows a user counts per key.
            max_rows: rows a user counts in all (instead of the two above).
            keys: the public keys (every one released, zero included); None selects them privately.
            users: count distinct users per key instead of rows.
            weight: the aggregation's weight in the part's budget.
            floor: release the public keys' counts under the noise floor (noise_floor) as 0;
                "shape": the same, unless every count is under it.
        """
        if users:
            bounds = dict(max_partitions_contributed=max_keys, max_contributions_per_partition=1)
        elif max_rows is not None:
            bounds = dict(max_contributions=max_rows)
        else:
            bounds = dict(max_partitions_contributed=max_keys, max_contributions_per_partition=max_per_key)
        metric = pipeline_dp.Metrics.PRIVACY_ID_COUNT if users else pipeline_dp.Metrics.COUNT
        if keys is None and users:  # the noisy count of users itself decides: no budget spent apart on selection
            bounds.update(partition_selection_strategy=pipeline_dp.PartitionSelectionStrategy.GAUSSIAN_THRESHOLDING,
                          post_aggregation_thresholding=True)
        params = pipeline_dp.AggregateParams(noise_kind=self.noise, metrics=[metric], budget_weight=weight,
                                             output_noise_stddev=floor, **bounds)
        extract = pipeline_dp.DataExtractors(privacy_id_extractor=lambda r: r[0], partition_extractor=lambda r: r[1],
                                             value_extractor=lambda r: 1)
        data = rows.select("user_id", "key").rdd.map(tuple)
        result = self.engine.aggregate(data, params, extract, public_partitions=keys)
        stddevs = noise_floor(len(keys)) if floor and keys is not None else None
        self.pending[name] = (result, "privacy_id_count" if users else "count", stddevs, floor == "shape")
        self.aggregations[name] = {"metric": "users" if users else "rows", "public_keys": keys is not None,
                                   "weight": weight, "noise_floor": round(stddevs, 3) if stddevs else None,
                                   **{k: v for k, v in bounds.items() if k.startswith("max_")}}

    def compute(self) -> dict[str, dict]:
        """{name: {key: noisy count}} of every requested aggregation (PipelineDP's noise)."""
        self.accountant.compute_budgets()
        found = {}
        for name, (result, field, stddevs, shape) in self.pending.items():
            rows = result.collect()
            counts = {k: float(getattr(v, field)) for k, v in rows}
            if stddevs:
                floored = {k: _floored(v, field, stddevs) for k, v in rows}
                counts = floored if any(floored.values()) or not shape else counts
            found[name] = counts
        return found

    def spent(self) -> dict:
        """What this part spent: its whole (epsilon, delta), shared across its aggregations."""
        return {"epsilon": self.part.epsilon, "delta": self.part.delta, "library": "PipelineDP",
                "noise": self.noise.value, "aggregations": self.aggregations}


def _floored(metrics, field: str, stddevs: float) -> float:
    count = float(getattr(metrics, field))
    return count if count >= stddevs * float(getattr(metrics, f"{field}_noise_stddev")) else 0.0


def sequential(spark: SparkSession, part: Part, share: float) -> tuple[Release, Release]:
    """Two releases that share `part` one after the other: `share` of it, then the rest (the
    second bounded by what the first released; `merged_spent` records them as the part)."""
    return tuple(Release(spark, Part(part.name, part.epsilon * s, part.delta * s)) for s in (share, 1 - share))


def merged_spent(part: Part, *releases: Release) -> dict:
    """What a part spent through several releases that share it (run one after another, the
    later ones bounded by what the earlier released): their aggregations under the part."""
    first = releases[0].spent()
    spent = sum(r.part.epsilon for r in releases), sum(r.part.delta for r in releases)
    if spent[0] > part.epsilon * (1 + 1e-9) or spent[1] > part.delta * (1 + 1e-9):
        raise ValueError(f"the releases of '{part.name}' spent {spent}, over its ({part.epsilon}, {part.delta})")
    return {**first, "epsilon": part.epsilon, "delta": part.delta,
            "aggregations": {k: v for r in releases for k, v in r.spent()["aggregations"].items()}}
