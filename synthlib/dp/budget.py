"""One budget for the release: `train.dp.epsilon` and `delta` are the total, split across the
parts that read the real log (`train.dp.split`), which compose sequentially (their epsilons
and deltas add). Within the profile and the pairs, PipelineDP's budget accountant shares
the part across its aggregations; the network's DP-SGD is calibrated to its part and
tracked by Opacus' RDP accountant. Imports without Spark.
"""
from __future__ import annotations

from dataclasses import dataclass

from synthlib.config import DPConf

PARTS = ("profile", "pairs", "network")


@dataclass(frozen=True)
class Part:
    name: str
    epsilon: float
    delta: float


def part(dp: DPConf, name: str) -> Part:
    """The (epsilon, delta) of one part of the release: its share of the total."""
    if name not in PARTS:
        raise ValueError(f"unknown part '{name}'; one of {PARTS}")
    share = getattr(dp.split, name)
    return Part(name, dp.epsilon * share, dp.delta * share)


def bounds(dp: DPConf) -> dict[str, int]:
    """The contribution bounds per user, as recorded with the release."""
    return {"max_sessions": dp.max_sessions, "max_events": dp.max_events, "max_items": dp.max_items,
            "max_pairs": dp.max_pairs, "max_grad_norm": dp.max_grad_norm}


def statement(dp: DPConf, spent: dict[str, dict]) -> dict:
    """The release's privacy statement: what each part spent ({part: {epsilon, delta, ...}}),
    their sequential composition, the configured total and split, and the bounds."""
    missing = [p for p in PARTS if p not in spent]
    if missing:
        raise ValueError(f"no spend recorded for {missing}: every part of the release must be accounted")
    epsilon = sum(float(spent[p]["epsilon"]) for p in PARTS)
    delta = sum(float(spent[p]["delta"]) for p in PARTS)
    if epsilon > dp.epsilon * (1 + 1e-6) or delta > dp.delta * (1 + 1e-6):
        raise ValueError(f"the parts spent epsilon {epsilon:.4g}, delta {delta:.3g}, over the budget "
                         f"({dp.epsilon:g}, {dp.delta:g})")
    return {"unit": "user", "composition": "sequential", "epsilon": epsilon, "delta": delta,
            "budget": {"epsilon": dp.epsilon, "delta": dp.delta},
            "split": {p: getattr(dp.split, p) for p in PARTS}, "parts": spent, "bounds": bounds(dp)}
