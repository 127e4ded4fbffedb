"""Noisy counts over Spark through PipelineDP (its RDD backend).

Request aggregations, then `compute()`. Under a noise plan (`synthlib.dp.budget.plan_noise`)
each aggregation gets its planned noise multiplier, scaled by PipelineDP to its contribution
bounds; under a pure-DP part (no delta, the users' count) PipelineDP's accountant calibrates
Laplace noise. The results are collected (each is bounded: a histogram's bins, or the keys
that DP partition selection kept).
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

from synthlib.dp.budget import NoisePlan, Part

NOISE_FLOOR = 3.0  # standard deviations of a count's noise; pure noise clears it 0.13% of the time


def noise_floor(keys: int) -> float:
    """The floor in standard deviations for `keys` public keys: NOISE_FLOOR, or the level pure
    noise clears once in `keys` draws, so that the keys no user holds let one through per
    release on average (3.3 for 2,000 keys, 3.9 for 25,000, 4.5 for 250,000)."""
    return max(NOISE_FLOOR, NormalDist().inv_cdf(1 - 1 / keys)) if keys > 1 else NOISE_FLOOR


class PlannedAccountant(pipeline_dp.BudgetAccountant):
    """A PipelineDP accountant that gives each aggregation its planned noise multiplier (and a
    thresholding one its planned delta) instead of sharing a budget: the plan composed them."""

    def __init__(self, plan: NoisePlan):
        super().__init__(plan.epsilon, plan.delta, None, None)
        self.plan = plan
        self.current = ""
        self.specs: dict[str, pipeline_dp.budget_accounting.MechanismSpec] = {}

    def request_budget(self, mechanism_type, sensitivity=1, weight=1, count=1, noise_standard_deviation=None,
                       name=""):
        if self.current not in self.plan.multipliers:
            raise ValueError(f"the aggregation '{self.current}' is not in the noise plan "
                             f"{sorted(self.plan.multipliers)}")
        if self.current in self.specs or count != 1:
            raise ValueError(f"the aggregation '{self.current}' asked for more than the one mechanism planned")
        if mechanism_type.is_thresholding_mechanism != (self.current in self.plan.thresholding):
            raise ValueError(f"the aggregation '{self.current}' was planned with the wrong kind ({mechanism_type})")
        spec = pipeline_dp.budget_accounting.MechanismSpec(mechanism_type=mechanism_type, name=self.current)
        self.specs[self.current] = spec
        self._register_mechanism(pipeline_dp.budget_accounting.MechanismSpecInternal(
            mechanism_spec=spec, sensitivity=sensitivity, weight=weight))
        return spec

    def compute_budgets(self):
        self._finalize()
        for name, spec in self.specs.items():
            z = self.plan.multipliers[name]
            if spec.mechanism_type.is_thresholding_mechanism:
                # PyDP takes (epsilon, delta) and halves delta between the noise and the threshold
                t = self.plan.thresholding_delta
                spec.set_eps_delta(pipeline_dp.dp_computations.gaussian_epsilon(z, t), 2 * t)
            else:
                spec.set_noise_standard_deviation(z)


class Release:
    """DP aggregations under a noise plan, or under a pure-DP part of the budget."""

    def __init__(self, spark: SparkSession, budget: NoisePlan | Part):
        self.budget = budget
        self.plan = budget if isinstance(budget, NoisePlan) else None
        self.accountant = PlannedAccountant(budget) if self.plan else pipeline_dp.NaiveBudgetAccountant(
            total_epsilon=budget.epsilon, total_delta=budget.delta)
        self.engine = pipeline_dp.DPEngine(self.accountant, pipeline_dp.SparkRDDBackend(spark.sparkContext))
        self.noise = pipeline_dp.NoiseKind.GAUSSIAN if self.plan else pipeline_dp.NoiseKind.LAPLACE
        self.pending: dict[str, tuple] = {}
        self.aggregations: dict[str, dict] = {}

    def count(self, name: str, rows: DataFrame, *, max_keys: int, max_per_key: int = 1,
              max_rows: int | None = None, keys: list | None = None, users: bool = False,
              floor: bool | str = False) -> None:
        """Request the noisy count per key of `rows` (columns user_id, key).

        Args:
            max_keys: keys a user counts towards (more are sampled down).
            max_per_key: rows a user counts per key.
            max_rows: rows a user counts in all (instead of the two above).
            keys: the public keys (every one released, zero included); None selects them privately.
            users: count distinct users per key instead of rows.
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
        params = pipeline_dp.AggregateParams(noise_kind=self.noise, metrics=[metric],
                                             output_noise_stddev=floor, **bounds)
        extract = pipeline_dp.DataExtractors(privacy_id_extractor=lambda r: r[0], partition_extractor=lambda r: r[1],
                                             value_extractor=lambda r: 1)
        data = rows.select("user_id", "key").rdd.map(tuple)
        if self.plan:
            self.accountant.current = name
        result = self.engine.aggregate(data, params, extract, public_partitions=keys)
        stddevs = noise_floor(len(keys)) if floor and keys is not None else None
        self.pending[name] = (result, "privacy_id_count" if users else "count", stddevs, floor == "shape")
        planned = self.plan.multipliers.get(name) if self.plan else None
        self.aggregations[name] = {"metric": "users" if users else "rows", "public_keys": keys is not None,
                                   **({"noise_multiplier": round(planned, 6)} if planned else {}),
                                   "noise_floor": round(stddevs, 3) if stddevs else None,
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
        """What this release spent: its noise and aggregations; a pure-DP part, its epsilon."""
        budget = {} if self.plan else {"epsilon": self.budget.epsilon, "delta": 0.0}
        return {**budget, "library": "PipelineDP", "noise": self.noise.value, "aggregations": self.aggregations}


def _floored(metrics, field: str, stddevs: float) -> float:
    count = float(getattr(metrics, field))
    return count if count >= stddevs * float(getattr(metrics, f"{field}_noise_stddev")) else 0.0
