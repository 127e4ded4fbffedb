"""The session model under `train.dp`: everything it takes from the log besides DP-SGD's
steps comes from the private profile (`synthlib.data.dp_profile`), and model.json keeps
only what the budget paid for, with the release's privacy statement."""
from __future__ import annotations

import numpy as np
import torch

from synthlib.config import Config
from synthlib.dp.budget import composition, network_noise, part, statement
from synthlib.models.session_net import N_BUCKETS, SessionNet
from synthlib.models.tokens import BOS, END, N_TYPES, Vocab
from synthlib.schema import EVENT_TYPES, SESSION_END, SESSION_START
from synthlib.train.loop import Units

# What model.json keeps of the training record under DP: figures of the budget, the release
# and the machine, none computed from the real rows.
PUBLIC_TRAINING = ("budget", "best_epoch", "stopped_by", "privacy", "epsilon", "delta", "device", "end_bias",
                   "next_items")
PUBLIC_HISTORY = ("epoch", "seconds", "epsilon")


class SessionNLL(torch.nn.Module):
    """A session net's per-session NLL (`SessionNet.session_nll`) as a module's forward, the
    form per-sample gradients are taken of."""

    def __init__(self, net: SessionNet):
        super().__init__()
        self.net = net

    def forward(self, tok: dict, ctx: dict) -> torch.Tensor:
        return self.net.session_nll(tok, ctx)[0]


class SessionUnits:
    """DP-SGD's units of a session net (`UnitSource`): each user's sessions, longest first,
    weighted by one over the user's events (a user's loss is its mean NLL per event)."""

    def __init__(self, net: SessionNet):
        self.module, self.max_events = SessionNLL(net), net.config.max_events
        self.per_user = net.config.sessions_per_row

    def __call__(self, rows: dict) -> Units:
        tok, ctx = SessionNet.sessions(rows, self.max_events)
        owner = SessionNet.owners(rows, self.max_events)
        events = ((tok["type"] > 0) & (tok["type"] != END)).sum(1)
        order = torch.argsort((tok["type"] > 0).sum(1), descending=True, stable=True)
        tok, ctx, owner, events = ({k: v[order] for k, v in tok.items()}, {k: v[order] for k, v in ctx.items()},
                                   owner[order], events[order])
        per_user = torch.zeros(len(rows["type"]), dtype=events.dtype, device=events.device).index_add_(0, owner, events)
        return Units(self.module, (tok, ctx), owner, 1.0 / per_user[owner].clamp(min=1), events)


def session_units(net: SessionNet) -> SessionUnits | None:
    """The session net's units for DP-SGD; None for the transformer, whose attention torch
    cannot take per-sample gradients of: its users then take a backward pass each."""
    return SessionUnits(net) if net.config.arch == "gru" else None


def categories(summary: dict, n: int) -> list[str]:
    """The n released categories with most users."""
    ranked = sorted(summary["category_users"].items(), key=lambda kv: (-kv[1], kv[0]))
    return [c for c, _ in ranked[:n]]


def popularity(vocab: Vocab) -> tuple[torch.Tensor, torch.Tensor]:
    """(category counts by category token, item counts by item token) from the released item
    popularity: the network's starting prior (SessionNet.init_popularity)."""
    items = vocab.items
    weight, cat = items["weight"].to_numpy(dtype=np.float64), items["cat_token"].to_numpy(dtype=np.int64)
    cats = np.full(vocab.n_cats, 0.1)
    np.add.at(cats, cat, weight)
    item = np.full(vocab.n_items, 0.1)
    token = items["token"].to_numpy(dtype=np.int64)
    slot = np.where(token > 0, token, vocab.tail_token(cat))
    np.add.at(item, slot, weight)
    return torch.as_tensor(cats, dtype=torch.float32), torch.as_tensor(item, dtype=torch.float32)


def home_by_activity(vocab: Vocab) -> dict[str, dict[str, int]]:
    """Home categories drawn by released category popularity, at every activity."""
    cats = popularity(vocab)[0].round().long().tolist()
    shares = {str(c): n for c, n in enumerate(cats) if n > 0}  # 0: no category (a log without them)
    return {str(a): shares for a in range(1, N_BUCKETS)}


def support(summary: dict) -> dict:
    """What generation may draw under DP (SessionNet.set_support): the type transitions the
    release kept, whose noise floor drops those the log lacks, so a view-only log yields
    views only; click positions and queries stay unrestricted (none is released)."""
    token = {SESSION_START: BOS, SESSION_END: END, **{t: i + 1 for i, t in enumerate(EVENT_TYPES)}}
    allowed = [[0] * N_TYPES for _ in range(N_TYPES)]
    for prev, nexts in (summary.get("transitions") or {}).items():
        for nxt, n in nexts.items():
            if n > 0:
                allowed[token[prev]][token[nxt]] = 1
    return {"type": allowed, "pos": None, "query": None}


def mean_session_length(summary: dict, max_events: int) -> float:
    hist = summary["session_length"]
    total = sum(hist["counts"])
    return sum(min(b, max_events) * n for b, n in zip(hist["bins"], hist["counts"])) / max(1, total)


def released_events(summary: dict, max_events: int, sample_fraction: float) -> int:
    """The training sample's events as the release counts them (sessions by length, each cut at
    max_events): what sizes the epochs under DP, so that DP-SGD's steps read no real figure."""
    return round(sample_fraction * sum(summary["session_length"]["counts"]) * mean_session_length(summary, max_events))


def noise_for(conf: Config, summary: dict):
    """DP-SGD's noise multiplier for (sample rate, steps): the least whose composition with the
    private profile's release, under one PLD accountant, stays within train.dp's total."""
    return lambda sample_rate, steps: network_noise(conf.train.dp, summary["privacy"]["joint"], sample_rate, steps)


def calibration_context(vocab: Vocab, sessions: int, seed: int) -> dict[str, torch.Tensor]:
    """Session contexts for calibrating the end of sessions: first sessions of light users,
    home categories by released popularity (no real row)."""
    cats = popularity(vocab)[0]
    if cats[1:].sum() > 1:  # the none slot only where the log has no categories
        cats[0] = 0
    gen = torch.Generator().manual_seed(seed)
    home = torch.multinomial(cats / cats.sum(), sessions, replacement=True, generator=gen)
    return {"activity": torch.ones(sessions, dtype=torch.long), "home_cat": home,
            "index": torch.zeros(sessions, dtype=torch.long)}


def public_training(training: dict) -> dict:
    """The training record without the figures computed from real rows (losses, counts)."""
    out = {k: training.get(k) for k in PUBLIC_TRAINING}
    out["history"] = [{k: row.get(k) for k in PUBLIC_HISTORY} for row in training["history"]]
    return out


def privacy_statement(conf: Config, summary: dict, network_epsilon: float, dp_sgd: dict) -> dict:
    """The release's statement: the private profile's parts and the network's DP-SGD (dp_sgd:
    its noise multiplier, sample rate and steps taken), composed under one PLD accountant."""
    dp, network, joint = conf.train.dp, part(conf.train.dp, "network"), summary["privacy"]["joint"]
    spent = {**summary["privacy"]["parts"],
             "network": {"epsilon": network_epsilon, "delta": network.delta, "library": "Opacus",
                         "accountant": "PRV (DP-SGD alone, at the network's share of delta)",
                         "composed": "with the profile and the pairs (see composed)",
                         "mechanism": "DP-SGD, Poisson sampling of users"}}
    composed = composition(dp, joint, dp_sgd["noise_multiplier"], dp_sgd["sample_rate"], dp_sgd["steps"])
    return statement(dp, spent, summary["privacy"].get("bounds"), joint, composed)
