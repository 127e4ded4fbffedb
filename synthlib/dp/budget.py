"""One budget for the release: `train.dp.epsilon` and `delta` are the total, split across the
parts that read the real log (`train.dp.split`), which compose sequentially (their epsilons
and deltas add). Within the profile and the pairs, PipelineDP's budget accountant shares
the part across its aggregations; the network's DP-SGD is calibrated to its part and
tracked by Opacus' PRV accountant. Imports without Spark.

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


def statement(dp: DPConf, spent: dict[str, dict], derived: dict | None = None) -> dict:
    """The release's privacy statement: what each part spent ({part: {epsilon, delta, ...}}),
    their sequential composition, the configured total and split, and the bounds (`derived`:
    those the private profile chose, see `bounds`)."""
    missing = [p for p in PARTS if p not in spent]
    if missing:
        raise ValueError(f"no spend recorded for {missing}: every part of the release must be accounted")
    epsilon = sum(float(spent[p]["epsilon"]) for p in PARTS)
    delta = sum(float(spent[p]["delta"]) for p in PARTS)
    if epsilon > dp.epsilon * (1 + 1e-6) or delta > dp.delta * (1 + 1e-6):
        raise ValueError(f"the parts spent epsilon {epsilon:.4g}, delta {delta:.3g}, over the budget "
                         f"({dp.epsilon:g}, {dp.delta:g})")
    return {"unit": "user", "composition": "sequential", "epsilon": epsilon, "delta": delta,
            "budget": {"epsilon": dp.epsilon, "delta": dp.delta,
                       "delta_from": spent["profile"].get("delta_from", "train.dp.delta")},
            "split": {p: getattr(dp.shares, p) for p in PARTS},
            "split_from": "train.dp.split" if dp.split else "the total epsilon (the default split)",
            "parts": spent, "bounds": bounds(dp, derived), **({"bounds_derived": derived} if derived else {})}
