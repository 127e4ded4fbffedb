"""The `stats` model's factorization evaluated on the session model's tokens: the baseline
its held-out NLL is compared with."""
from __future__ import annotations

import torch

from synthlib.models.session_net import targets
from synthlib.models.tokens import N_GAPS, N_TYPES


class CountBaseline:
    """The `stats` model's factorization on the same tokens, for a like-for-like held-out
    NLL: a Markov chain over types, marginal gaps, a repeat rate, "stay in the category or
    draw one by popularity", item popularity within the category, marginal position and query."""

    def __init__(self, n_cats: int, n_items: int, n_queries: int, n_positions: int, candidates: torch.Tensor):
        self.smoothing = a = 0.1  # additive
        self.c = {"type": torch.full((N_TYPES, N_TYPES), a), "gap": torch.full((N_GAPS,), a),
                  "repeat": torch.full((2,), a), "stay": torch.full((2,), a), "cat": torch.full((n_cats,), a),
                  "item": torch.full((n_items,), a), "pos": torch.full((n_positions,), a),
                  "query": torch.full((n_queries,), a)}
        self.candidates = candidates

    def update(self, tok: dict[str, torch.Tensor]) -> None:
        m, c = targets(tok), self.c
        c["type"].index_put_((m["prev"]["type"][m["valid"]], tok["type"][m["valid"]]),
                             torch.ones(int(m["valid"].sum())), accumulate=True)
        for name, mask, values in (("gap", m["gap"], tok["gap"]), ("repeat", m["can_repeat"], m["repeat"].long()),
                                   ("cat", m["fresh"], tok["cat"]), ("item", m["pick"], tok["item"]),
                                   ("pos", m["click"], tok["pos"]), ("query", m["search"], tok["query"])):
            c[name] += torch.bincount(values[mask].reshape(-1), minlength=len(c[name]))[:len(c[name])]
        stay = tok["cat"][m["fresh"]] == m["prev"]["cat"][m["fresh"]]
        c["stay"] += torch.bincount(stay.long(), minlength=2)

    def support(self) -> dict[str, list]:
        """What the counted sessions held, 0/1 (SessionNet.set_support): type transitions
        (previous type -> next type or END), click positions and query tokens of searches."""
        seen = lambda name: (self.c[name] > self.smoothing).int().tolist()  # noqa: E731
        return {"type": seen("type"), "pos": seen("pos"), "query": seen("query")}

    def nll(self, tok: dict[str, torch.Tensor]) -> tuple[dict[str, float], int]:
        """Summed NLL per component over the tokens, and the number of events."""
        m, c = targets(tok), self.c
        logp = lambda t: torch.log(t / t.sum(-1, keepdim=True))  # noqa: E731
        out = {"type": -logp(c["type"])[m["prev"]["type"][m["valid"]], tok["type"][m["valid"]]].sum()}
        for name, mask, values in (("gap", m["gap"], tok["gap"]), ("repeat", m["can_repeat"], m["repeat"].long()),
                                   ("pos", m["click"], tok["pos"]), ("query", m["search"], tok["query"])):
            out[name] = -logp(c[name])[values[mask]].sum()
        s = c["stay"][1] / c["stay"].sum()
        cat, prev_cat = tok["cat"][m["fresh"]], m["prev"]["cat"][m["fresh"]]
        pop = c["cat"] / c["cat"].sum()
        out["cat"] = -torch.log(s * (cat == prev_cat) + (1 - s) * pop[cat]).sum()
        cands = self.candidates[tok["cat"][m["pick"]]]
        w = torch.where(cands > 0, c["item"][cands], torch.zeros(()))
        chosen = (cands == tok["item"][m["pick"]].unsqueeze(1)).float()
        out["item"] = -torch.log((w * chosen).sum(1) / w.sum(1)).sum()
        return {k: float(v) for k, v in out.items()}, int(m["event"].sum())
