"""The `session` synthesizer: the trained network (`synthlib.models.session_net`), its
vocabulary and the profile pieces that place its sessions in time; generation draws each
user's sessions block by block from counter-based uniforms.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from synthlib import rng
from synthlib.models.neural import NeuralModel
from synthlib.models.session_net import N_BUCKETS, SessionNet, build
from synthlib.models.timeline import Conditions, ItemTable, Timeline, expand, to_codes
from synthlib.models.tokens import N_GAPS, Vocab


class SessionModel(NeuralModel):
    """A trained `session` synthesizer: the network, its vocabulary and the profile pieces
    that place sessions in time. Build with `train`, or `SessionModel.load(path)`."""

    kind = "session"

    def build_net(self, spec: dict, items: pd.DataFrame) -> SessionNet:
        net = build(spec["args"], _candidates(spec, items))
        net.set_support(spec.get("support"))
        return net

    def prepare(self) -> None:
        network_share = ((self.spec.get("training") or {}).get("next_items") or {}).get("network_share") or 0.0
        self.item_table = ItemTable(self.items, self.spec["args"]["n_cats"], tuple(self.spec["vocab"]["categories"]),
                                    network_share)

    def get_info(self) -> dict:
        return {**super().get_info(), "vocabulary_items": self.spec["args"]["n_items"],
                "shape": self.spec.get("shape", {})}

    def lookups(self) -> dict[str, pd.DataFrame]:
        queries = self.spec["vocab"]["queries"]
        return {**self.item_table.lookups(),
                "queries": pd.DataFrame({"query": np.arange(len(queries), dtype=np.int32), "query_text": queries})}

    def sample_block(self, first: int, last: int, *, seed: int, start, days: int,
                     conditions: Conditions = Conditions()) -> pd.DataFrame:
        """Event codes (schema.CODES_DDL) of synthetic users first..last-1.

        A block is generated as one batch; every draw is keyed by the user or session id,
        so the output does not depend on how users are grouped into blocks or partitions.
        """
        timeline = Timeline(self.spec["profile"], start, days, conditions)
        ukey, skey = rng.stream_key(seed, "session", "user"), rng.stream_key(seed, "session", "event")
        users = np.arange(first, last, dtype=np.int64)
        counts = timeline.session_counts(ukey, users)
        activity = np.minimum(np.floor(np.log2(counts)).astype(np.int64) + 1, N_BUCKETS - 1)
        mix = self._category_mix(conditions.category_mix)
        if mix is None:
            home = self._home(activity, rng.uniform(ukey, users, 5))
        else:
            home = mix[0][rng.pick(mix[1], rng.uniform(ukey, users, 5))]
        owner, k, sessions = expand(users, counts)
        starts = timeline.session_starts(skey, sessions)
        index = np.minimum(np.floor(np.log2(k + 1)).astype(np.int64), N_BUCKETS - 1)
        home_s = torch.as_tensor(np.repeat(home, counts))
        ctx = {"activity": torch.as_tensor(np.repeat(activity, counts)), "home_cat": home_s,
               "index": torch.as_tensor(index)}
        keys = rng.entity_keys(skey, sessions)  # each session's part of its draws, hashed once
        tokens = self.net.generate(
            ctx, lambda t, f, rows: torch.as_tensor(rng.entity_uniform(keys[rows.numpy()], 16 * t + f)),
            first_cat=home_s if mix is not None else None, item_power=conditions.item_power,
            max_gap=min(N_GAPS - 1, 2 + max(map(int, self.spec["profile"]["gap_log2_seconds"]), default=N_GAPS)))
        tokens = {f: v.numpy() for f, v in tokens.items()}
        return to_codes(tokens, owner, k, starts, self.item_table, skey, sessions, conditions.item_power,
                        conditions.follow_transitions, conditions.follow_min_events)

    def _category_mix(self, mix: dict) -> tuple[np.ndarray, np.ndarray] | None:
        """(category tokens, cdf) of a requested category mix; None for the model's own."""
        if not mix:
            return None
        tokens = {c: i + 1 for i, c in enumerate(self.spec["vocab"]["categories"])}
        unknown = sorted(set(mix) - set(tokens))
        if unknown:
            raise ValueError(f"generate.category_mix: {unknown[:5]} are not among the model's categories "
                             f"(its {len(tokens)} most frequent, e.g. {list(tokens)[:5]}); "
                             f"raise train.params.max_categories or drop them")
        names = sorted(mix)
        return np.array([tokens[c] for c in names]), np.cumsum([float(mix[c]) for c in names])

    def _home(self, activity, u):
        """A home category per user, drawn from the training sample's (activity, home) counts."""
        table = self.spec["home_by_activity"]
        out = np.zeros(len(activity), dtype=np.int64)
        for a in np.unique(activity):
            row = table.get(str(a)) or max(table.values(), key=lambda r: sum(r.values()))
            cats = np.array([int(c) for c in sorted(row, key=int)])
            sel = activity == a
            out[sel] = cats[rng.pick(rng.cdf([row[str(c)] for c in cats]), u[sel])]
        return out


def _candidates(spec: dict, items):
    v = spec["vocab"]
    return Vocab(tuple(v["categories"]), items, tuple(v["queries"]), v["max_position"],
                 spec["args"]["config"]["candidates"]).candidate_table()

