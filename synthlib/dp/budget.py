"""One budget for the release: `train.dp.epsilon` and `delta` are the total, split across the
parts that read the real log (`train.dp.split`). The profile and the pairs are Gaussian
aggregations (PipelineDP) that compose jointly: `plan_noise` gives each its noise
multiplier, so that their composition, accounted by dp_accounting's privacy loss
distributions (PLD), spends the two parts' (epsilon, delta) together. Each part's share is
then its share of the privacy loss (Gaussians compose as one Gaussian whose 1/z^2 is the sum
of theirs). The network's DP-SGD joins the same accountant at training (`network_noise`):
its noise is the least whose composition with everything released before stays within the
total, so the network takes what the profile and the pairs leave, and `composition` states
the release's one epsilon. Imports without Spark.

Without a configured `delta`, the profile first counts the users under DP (a slice of its
part, Laplace noise, no delta) and sets the total to 1/(10 x users), users an upper bound
from that count: the release's delta then stays under a tenth of one user's share.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from synthlib.config import DPConf

PARTS = ("profile", "pairs", "network")
USERS_SHARE = 0.02  # of the profile's epsilon, to count the users when delta is derived
USERS_MARGIN = 5  # Laplace scales added to the noisy count: it falls short of the truth 0.3% of the time
JOINT = ("profile", "pairs")  # the parts whose Gaussian aggregations compose under one PLD
THRESHOLDING_DELTA_SHARE = 0.25  # of the joint delta, to partition selection's thresholds (as in PipelineDP's PLD)
PLD_DISCRETIZATION = 1e-3  # dp_accounting's value discretization: finer changes the noise by under 0.1%


@dataclass(frozen=True)
class Part:
    name: str
    epsilon: float
    delta: float


def part(dp: DPConf, name: str) -> Part:
    """The (epsilon, delta) of one part of the release: its share of the total."""
    if name not in PARTS:
        raise ValueError(f"unknown part '{name}'; one of {PARTS}")
    if dp.delta is None:
        raise ValueError("train.dp.delta is not set yet: the private profile derives it (with_delta)")
    share = getattr(dp.shares, name)
    return Part(name, dp.epsilon * share, dp.delta * share)


def users_part(dp: DPConf) -> Part:
    """The slice of the profile's part that counts the users for the derived delta (pure DP)."""
    return Part("users", dp.epsilon * dp.shares.profile * USERS_SHARE, 0.0)


def delta_for(noisy_users: float, epsilon: float) -> float:
    """1/(10 x users), users bounded from above by the noisy count (noise of scale 1/epsilon);
    rounded down to two significant digits."""
    upper = max(1.0, noisy_users + USERS_MARGIN / epsilon)
    delta = 1 / (10 * upper)
    exponent = math.floor(math.log10(delta)) - 1
    return float(f"{math.floor(delta / 10.0 ** exponent)}e{exponent}")


@dataclass(frozen=True)
class NoisePlan:
    """The noise multipliers (noise standard deviation over L2 sensitivity) of the profile's and
    the pairs' aggregations, calibrated together: their PLD composition, with the thresholds'
    delta added, spends at most (epsilon, delta)."""
    epsilon: float
    delta: float
    multipliers: dict[str, float]
    thresholding: tuple[str, ...]  # the aggregations that select keys by a noisy threshold
    thresholding_delta: float  # each one's probability of releasing a key only one user holds
    composed_epsilon: float  # the PLD's epsilon at delta less the thresholds'

    def record(self) -> dict:
        return {"parts": list(JOINT), "epsilon": self.epsilon, "delta": self.delta,
                "composed_epsilon": round(self.composed_epsilon, 6), "accountant": "PLD (dp_accounting)",
                "thresholding": list(self.thresholding), "thresholding_delta": self.thresholding_delta,
                "noise_multipliers": {k: round(v, 6) for k, v in self.multipliers.items()}}


def composed_epsilon(multipliers, delta: float) -> float:
    """dp_accounting's PLD epsilon at `delta` of the Gaussian mechanisms of these noise multipliers."""
    from dp_accounting import ComposedDpEvent, GaussianDpEvent
    from dp_accounting.pld.pld_privacy_accountant import PLDAccountant
    accountant = PLDAccountant(value_discretization_interval=PLD_DISCRETIZATION)
    accountant.compose(ComposedDpEvent([GaussianDpEvent(z) for z in multipliers]))
    return accountant.get_epsilon(delta)


def plan_noise(epsilon: float, delta: float, weights: dict[str, float], thresholding=()) -> NoisePlan:
    """Noise multipliers for the aggregations {name: weight}: z = base / sqrt(weight), so that
    each one's share of the privacy loss (1/z^2) is its weight's share, and `base` the least
    (to 0.1%) whose PLD composition stays within (epsilon, delta less the thresholds' delta)."""
    if epsilon <= 0 or delta <= 0 or not weights or min(weights.values()) <= 0:
        raise ValueError(f"a noise plan needs epsilon and delta > 0 and positive weights, got "
                         f"({epsilon}, {delta}, {weights})")
    thresholding = tuple(sorted(thresholding))
    per_threshold = THRESHOLDING_DELTA_SHARE * delta / len(thresholding) if thresholding else 0.0
    noise_delta = delta - per_threshold * len(thresholding)
    scales = {k: 1 / math.sqrt(w) for k, w in weights.items()}
    spend = lambda base: composed_epsilon([base * s for s in scales.values()], noise_delta)  # noqa: E731
    low, high = 0.0, 1.0
    while spend(high) > epsilon:
        low, high = high, high * 2
    while high - low > 1e-3 * high:
        mid = (low + high) / 2
        low, high = (low, mid) if spend(mid) <= epsilon else (mid, high)
    return NoisePlan(epsilon, delta, {k: high * s for k, s in scales.items()}, thresholding, per_threshold,
                     spend(high))


def _released_pld(joint: dict):
    """The PLD of what the private profile released (joint: its plan's record): its Gaussian
    aggregations, which compose as one Gaussian, and the Laplace count of the users."""
    from dp_accounting.pld import privacy_loss_distribution as pld
    z = sum(m ** -2 for m in joint["noise_multipliers"].values()) ** -0.5
    out = pld.from_gaussian_mechanism(z, value_discretization_interval=PLD_DISCRETIZATION)
    if joint.get("users_counted_first"):
        out = out.compose(pld.from_laplace_mechanism(1 / joint["users_counted_first"],
                                                     value_discretization_interval=PLD_DISCRETIZATION))
    return out


def _noise_delta(dp: DPConf, joint: dict) -> float:
    """The total delta less the partition selections' (each threshold's own, outside the PLD)."""
    return dp.delta - joint["thresholding_delta"] * len(joint["thresholding"])


def _epsilon(released, delta: float, noise_multiplier: float, sample_rate: float, steps: int) -> float:
    """The PLD epsilon at `delta` of the `released` PLD composed with `steps` DP-SGD steps."""
    from dp_accounting.pld import privacy_loss_distribution as pld
    sgd = pld.from_gaussian_mechanism(noise_multiplier, sampling_prob=sample_rate,
                                      value_discretization_interval=PLD_DISCRETIZATION).self_compose(steps)
    return float(released.compose(sgd).get_epsilon_for_delta(delta))


def composition(dp: DPConf, joint: dict, noise_multiplier: float, sample_rate: float, steps: int) -> dict:
    """The release's (epsilon, delta) under one PLD accountant: the private profile's
    mechanisms (joint: its plan's record) and `steps` DP-SGD steps (Poisson sampling at
    `sample_rate`, Gaussian noise of `noise_multiplier`)."""
    delta = _noise_delta(dp, joint)
    return {"epsilon": _epsilon(_released_pld(joint), delta, noise_multiplier, sample_rate, steps),
            "delta": dp.delta, "accountant": "PLD (dp_accounting)",
            "mechanisms": "the users' count (Laplace), the profile's and the pairs' Gaussian aggregations, "
                          "DP-SGD (Poisson-sampled Gaussian)",
            "network": {"noise_multiplier": round(noise_multiplier, 6), "sample_rate": sample_rate, "steps": steps},
            "thresholding_delta": dp.delta - delta}


def network_noise(dp: DPConf, joint: dict, sample_rate: float, steps: int) -> float:
    """DP-SGD's noise multiplier: the least (to 0.5%) whose composition with what the private
    profile released (`composition`) stays within the total epsilon. The network thus takes
    what the profile and the pairs leave of the budget, its own share (train.dp.split) included."""
    released, delta = _released_pld(joint), _noise_delta(dp, joint)
    if released.get_epsilon_for_delta(delta) >= dp.epsilon:
        raise ValueError(f"the private profile spent the whole epsilon {dp.epsilon:g}: nothing is left for "
                         "the network; give train.dp.split.network a share")
    spend = lambda z: _epsilon(released, delta, z, sample_rate, steps)  # noqa: E731
    low, high = 0.0, 1.0
    while spend(high) > dp.epsilon:
        low, high = high, high * 2
    while high - low > 5e-3 * high:
        mid = (low + high) / 2
        low, high = (low, mid) if spend(mid) <= dp.epsilon else (mid, high)
    return high


def joint_part(dp: DPConf, spent_first: float = 0.0) -> Part:
    """The profile's and the pairs' parts together, less `spent_first` of epsilon spent before
    the plan (the users counted to derive delta)."""
    shares = sum(getattr(dp.shares, p) for p in JOINT)
    return Part("+".join(JOINT), dp.epsilon * shares - spent_first, dp.delta * shares)


def with_delta(dp: DPConf, privacy: dict) -> DPConf:
    """`dp` with the delta its private profile released under (privacy: the profile's record)."""
    if dp.delta is not None and not math.isclose(dp.delta, privacy["delta"]):
        raise ValueError(f"train.dp.delta is {dp.delta:g} but the private profile was released under "
                         f"{privacy['delta']:g}; rerun `synthlib profile` with this conf")
    return dp.model_copy(update={"delta": privacy["delta"]})


def bounds(dp: DPConf, derived: dict | None = None) -> dict[str, int]:
    """The contribution bounds per user, as recorded with the release: the configured ones, and
    those the private profile derived under their caps ({name: {value, cap, from}})."""
    found = {k: v["value"] for k, v in (derived or {}).items()}
    return {"max_sessions": dp.max_sessions, "max_events": dp.max_events,
            "max_items": found.get("max_items", dp.max_items), "max_pairs": found.get("max_pairs", dp.max_pairs),
            "max_grad_norm": dp.max_grad_norm}


def statement(dp: DPConf, spent: dict[str, dict], derived: dict | None = None, joint: dict | None = None,
              composed: dict | None = None) -> dict:
    """The release's privacy statement: what each part spent ({part: {epsilon, delta, ...}}),
    their composition, the configured total and split, and the bounds (`derived`: those the
    private profile chose, see `bounds`). `joint`: the record of the profile's and the pairs'
    joint noise plan (`NoisePlan.record`). `composed`: the whole release under one accountant
    (`composition`), whose epsilon and delta are then the release's; without it, the parts'
    spends add up."""
    missing = [p for p in PARTS if p not in spent]
    if missing:
        raise ValueError(f"no spend recorded for {missing}: every part of the release must be accounted")
    if composed:
        epsilon, delta = float(composed["epsilon"]), float(composed["delta"])
        how = "one PLD over every mechanism of the release (profile, pairs and network)"
    else:
        epsilon = sum(float(spent[p]["epsilon"]) for p in PARTS)
        delta = sum(float(spent[p]["delta"]) for p in PARTS)
        how = "sequential"
    if epsilon > dp.epsilon * (1 + 1e-6) or delta > dp.delta * (1 + 1e-6):
        raise ValueError(f"the parts spent epsilon {epsilon:.4g}, delta {delta:.3g}, over the budget "
                         f"({dp.epsilon:g}, {dp.delta:g})")
    return {"unit": "user", "composition": how, "epsilon": epsilon, "delta": delta,
            "budget": {"epsilon": dp.epsilon, "delta": dp.delta,
                       "delta_from": spent["profile"].get("delta_from", "train.dp.delta")},
            "split": {p: getattr(dp.shares, p) for p in PARTS},
            "split_from": "train.dp.split" if dp.split else "the total epsilon (the default split)",
            "parts": spent, "bounds": bounds(dp, derived), **({"bounds_derived": derived} if derived else {}),
            **({"joint": joint} if joint else {}), **({"composed": composed} if composed else {})}
