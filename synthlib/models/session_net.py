"""The `session` synthesizer's network: an autoregressive model over the events of a session.

Each step reads the previous event (type, gap, category, item, position, query) plus the
user's context (activity, home category, the session's place in the user's history) and
predicts the next event factor by factor: its type (or END), the time gap before it,
whether it repeats the previous item, its category, its item among the category's
candidates (the category's vocabulary items and one tail slot), its click position and its
query. Tail slots are resolved to real items at generation, from the category's tail
distribution in the stats artifact, so the vocabulary stays bounded whatever the catalog.
Generation is `synthlib.models.session_sampling`; the trained artifact around the network is
`synthlib.models.session.SessionModel`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from synthlib.models.item_scores import candidate_scores
from synthlib.models.session_sampling import SessionSampling
from synthlib.models.tokens import BOS, CLICK_TOKEN, END, FIELDS, N_GAPS, N_TYPES, ROW_FIELDS, SEARCH_TOKEN

N_BUCKETS = 16  # activity and session-index buckets (log2)


@dataclass(frozen=True)
class SessionConfig:
    arch: str = "gru"  # "gru" (recurrent) or "transformer" (causal self-attention)
    dim: int = 64  # width of every embedding and hidden state
    layers: int = 1  # recurrent or attention layers
    heads: int = 4  # attention heads (transformer only)
    dropout: float = 0.1
    # None: taken from the log's profile at training (synthlib.train.shape), recorded in model.json.
    max_events: int | None = None  # events per session; longer sessions are cut
    sessions_per_row: int | None = None  # sessions per training row (a chunk of one user's history)
    vocab_items: int | None = None  # items with their own token, most popular first
    max_categories: int = 2_000  # categories with their own token; the rest share one
    candidates: int | None = None  # item tokens per category, its tail slot included
    next_min_users: int = 2  # a real item pair (one session's) is kept when this many users' sessions held it (0: none)
    next_items: int = 20  # kept pairs per item, most frequent first

    def __post_init__(self):
        if self.arch not in ("gru", "transformer"):
            raise ValueError(f"train.params.arch: '{self.arch}' is not a known architecture; use 'gru' or 'transformer'")


def targets(tok: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Which factor each position predicts (boolean masks), and the previous event's tokens."""
    prev = {f: F.pad(v[:, :-1], (1, 0), value=BOS if f == "type" else 0) for f, v in tok.items()}
    typ, item = tok["type"], tok["item"]
    valid = typ > 0
    event = valid & (typ != END)
    gap = event.clone()
    gap[:, 0] = False
    can_repeat = event & (item > 0) & (prev["item"] > 0)
    same = tok["repeat"] > 0 if "repeat" in tok else item == prev["item"]  # rows without it: by token
    repeat = same & can_repeat
    fresh = event & ~repeat
    return {"prev": prev, "valid": valid, "event": event, "gap": gap, "can_repeat": can_repeat, "repeat": repeat,
            "fresh": fresh, "pick": fresh & (item > 0), "click": event & (typ == CLICK_TOKEN),
            "search": event & (typ == SEARCH_TOKEN)}


class SessionNet(SessionSampling, nn.Module):
    """forward(batch) -> (mean NLL per event, per-component NLL sums, event count)."""

    def __init__(self, config: SessionConfig, *, n_cats: int, n_items: int, n_queries: int, n_positions: int,
                 candidates: torch.Tensor):
        super().__init__()
        self.config = c = config
        D, L = c.dim, c.max_events + 1
        sizes = {"type": N_TYPES, "gap": N_GAPS, "cat": n_cats, "item": n_items, "pos": n_positions, "query": n_queries}
        self.embed = nn.ModuleList(nn.Embedding(sizes[f], D) for f in FIELDS)  # the previous event, by field
        self.context = nn.ModuleDict({"activity": nn.Embedding(N_BUCKETS, D), "home_cat": nn.Embedding(n_cats, D),
                                      "index": nn.Embedding(N_BUCKETS, D)})
        if c.arch == "gru":
            self.core = nn.GRU(D, D, c.layers, batch_first=True, dropout=c.dropout if c.layers > 1 else 0.0)
        else:
            self.position = nn.Embedding(L, D)
            layer = nn.TransformerEncoderLayer(D, c.heads, 4 * D, c.dropout, batch_first=True, norm_first=True)
            self.core = nn.TransformerEncoder(layer, c.layers, enable_nested_tensor=False)
            self.register_buffer("causal", nn.Transformer.generate_square_subsequent_mask(L), persistent=False)
        self.drop = nn.Dropout(c.dropout)
        self.norm = nn.LayerNorm(D)
        self.type_head = nn.Linear(D, N_TYPES)
        self.type_given = nn.Embedding(N_TYPES, D)
        self.gap_head = nn.Linear(D, N_GAPS)
        self.repeat_head = nn.Linear(D, 2)
        self.cat_head = nn.Linear(D, n_cats)
        self.stay_head = nn.Linear(D, 1)  # gate: stay in the previous event's category
        self.cat_given = nn.Embedding(n_cats, D)
        self.item_query = nn.Linear(D, D)
        self.item_out = nn.Embedding(n_items, D)
        self.item_bias = nn.Embedding(n_items, 1)
        self.item_gate = nn.Linear(D, 1)  # weight of the popularity prior in the item mixture
        self.register_buffer("item_prior", torch.zeros(n_items))  # log popularity, set by init_popularity
        self.register_buffer("end_bias", torch.zeros(()))  # added to END at generation, set by calibrate_end
        self.pos_head = nn.Linear(D, n_positions)
        self.query_head = nn.Linear(D, n_queries)
        self.register_buffer("candidates", candidates.long(), persistent=False)  # (n_cats, C)
        # What training held (set_support): generation never draws an event type, a type
        # transition, a click position or a query token that no training session had.
        self.register_buffer("type_allowed", torch.ones(N_TYPES, N_TYPES, dtype=torch.bool), persistent=False)
        self.register_buffer("pos_allowed", torch.ones(n_positions, dtype=torch.bool), persistent=False)
        self.register_buffer("query_allowed", torch.ones(n_queries, dtype=torch.bool), persistent=False)

    def set_support(self, support: dict | None) -> None:
        """Restrict generation to what training held: {"type": (N_TYPES x N_TYPES) 0/1, rows the
        previous type (BOS first), columns the next type or END; "pos", "query": 0/1 per token}.
        A row or list with nothing observed stays unrestricted."""
        for name in ("type", "pos", "query"):
            buffer = getattr(self, f"{name}_allowed")
            if not support or support.get(name) is None:
                buffer.fill_(True)
                continue
            allowed = torch.as_tensor(support[name], dtype=torch.bool, device=buffer.device)
            if allowed.dim() == 2:
                allowed[~allowed.any(1)] = True
            elif not allowed.any():
                allowed[:] = True
            buffer.copy_(allowed)

    # -- shared pieces ---------------------------------------------------------------------
    def _context(self, activity, home_cat, index) -> torch.Tensor:
        return (self.context["activity"](activity) + self.context["home_cat"](home_cat)
                + self.context["index"](index.clamp(max=N_BUCKETS - 1)))  # (S, D)

    def _inputs(self, prev: dict[str, torch.Tensor], ctx: torch.Tensor) -> torch.Tensor:
        return sum(e(prev[f]) for e, f in zip(self.embed, FIELDS)) + ctx.unsqueeze(1)  # (S, T, D)

    def _run(self, x: torch.Tensor, state=None, lengths: torch.Tensor | None = None, longest_first: bool = False):
        """Core over (S, T, D) inputs; returns hidden states (S, T, D) and the recurrent state.
        With `lengths`, the recurrent core steps through each session's own positions only
        (packed), never through its padding; `longest_first` says the sessions come sorted
        so, and packing keeps their order (per-session gradients follow the batch's rows)."""
        if self.config.arch == "gru" and lengths is not None:
            packed = nn.utils.rnn.pack_padded_sequence(self.drop(x), lengths.cpu(), batch_first=True,
                                                       enforce_sorted=longest_first)
            out, state = self.core(packed, state)
            out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        elif self.config.arch == "gru":
            out, state = self.core(self.drop(x), state)
        else:
            T = x.shape[1]
            x = x + self.position.weight[:T]
            out = self.core(self.drop(x), mask=self.causal[:T, :T], is_causal=True)
        return self.norm(out), state

    def _cat_probs(self, h: torch.Tensor, prev_cat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(stay probability (N,), fresh-category distribution (N, n_cats)): the category is the
        previous event's with the stay probability, else drawn from the distribution."""
        stay = torch.sigmoid(self.stay_head(h).squeeze(-1)) * (prev_cat > 0)
        return stay, F.softmax(self.cat_head(h), -1)

    def _cat_log_prob(self, h, prev_cat, cat) -> torch.Tensor:
        stay, probs = self._cat_probs(h, prev_cat)
        p = stay * (cat == prev_cat) + (1 - stay) * probs.gather(-1, cat.unsqueeze(-1)).squeeze(-1)
        return torch.log(p.clamp(min=1e-12))

    def init_popularity(self, cat_counts: torch.Tensor, item_counts: torch.Tensor) -> None:
        """Start the category and item scores at log popularity (the baseline's prior)."""
        with torch.no_grad():
            self.cat_head.bias.copy_(torch.log(cat_counts / cat_counts.sum()))
            self.item_bias.weight.copy_(torch.log(item_counts / item_counts.sum()).unsqueeze(1))
            self.item_prior.copy_(torch.log(item_counts / item_counts.sum()))

    def _prior_probs(self) -> torch.Tensor:
        """(n_cats, C): the popularity prior over each category's candidates."""
        return F.softmax(self.item_prior[self.candidates].masked_fill(self.candidates == 0, float("-inf")), -1)

    def _item_probs(self, h: torch.Tensor, cat: torch.Tensor,
                    prior: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Probabilities of the candidates of each row's category, (N, C), and their tokens.

        A gated mixture of the fixed popularity prior (`_prior_probs`, or its rows given) and
        the learned, context-dependent scores: the model can only improve on popularity where
        the context supports it."""
        learned, cands = self._learned_probs(h, cat)
        prior = F.softmax(self.item_prior[cands].masked_fill(cands == 0, float("-inf")), -1) if prior is None \
            else prior[cat]
        gate = torch.sigmoid(self.item_gate(h))
        return gate * prior + (1 - gate) * learned, cands

    def _learned_probs(self, h: torch.Tensor, cat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The learned part of `_item_probs`: (N, C) probabilities and the candidates' tokens."""
        cands = self.candidates[cat]
        scores = candidate_scores(self.item_query(h), cat, cands, self.candidates, self.item_out, self.item_bias)
        return F.softmax(scores.masked_fill(cands == 0, float("-inf")), -1), cands

    # -- training --------------------------------------------------------------------------
    @staticmethod
    def sessions(batch: dict[str, torch.Tensor], max_events: int) -> tuple[dict, dict]:
        """Rows of R sessions -> (tokens (S, L) per field, context (S,) per key) of non-empty sessions."""
        L = max_events + 1
        tok = {f: batch[f].reshape(-1, L) for f in ROW_FIELDS if f in batch}
        R = batch["type"].shape[1] // L
        keep = tok["type"][:, 0] > 0
        index = (batch["chunk"].unsqueeze(1) * R + torch.arange(R, device=batch["chunk"].device)).reshape(-1) + 1
        ctx = {"activity": batch["activity"].repeat_interleave(R), "home_cat": batch["home_cat"].repeat_interleave(R),
               "index": torch.floor(torch.log2(index.float())).long()}
        return {f: v[keep] for f, v in tok.items()}, {k: v[keep] for k, v in ctx.items()}

    @staticmethod
    def owners(batch: dict[str, torch.Tensor], max_events: int) -> torch.Tensor:
        """(S,) the row each of `sessions`' sessions comes from."""
        L = max_events + 1
        R = batch["type"].shape[1] // L
        keep = batch["type"].reshape(-1, L)[:, 0] > 0
        return torch.arange(batch["type"].shape[0], device=keep.device).repeat_interleave(R)[keep]

    def forward(self, tok: dict[str, torch.Tensor], ctx: dict[str, torch.Tensor]):
        lengths = (tok["type"] > 0).sum(1)  # a session's events and its END
        tok = {f: v[:, :int(lengths.max())] for f, v in tok.items()} if len(lengths) else tok  # the batch's longest
        m = targets(tok)
        h, _ = self._run(self._inputs(m["prev"], self._context(**ctx)), lengths=lengths)  # (S, T, D)
        typ, item = tok["type"], tok["item"]
        nll = {"type": F.cross_entropy(self.type_head(h[m["valid"]]), typ[m["valid"]], reduction="sum")}
        h = h + self.type_given(typ)
        nll["gap"] = F.cross_entropy(self.gap_head(h[m["gap"]]), tok["gap"][m["gap"]], reduction="sum")
        can = m["can_repeat"]
        nll["repeat"] = F.cross_entropy(self.repeat_head(h[can]), m["repeat"][can].long(), reduction="sum")
        nll["cat"] = -self._cat_log_prob(h[m["fresh"]], m["prev"]["cat"][m["fresh"]], tok["cat"][m["fresh"]]).sum()
        h = h + self.cat_given(tok["cat"])
        pick = m["pick"]
        probs, cands = self._item_probs(h[pick], tok["cat"][pick])
        chosen = (probs * (cands == item[pick].unsqueeze(1))).sum(1)
        nll["item"] = -torch.log(chosen.clamp(min=1e-12)).sum()
        nll["pos"] = F.cross_entropy(self.pos_head(h[m["click"]]), tok["pos"][m["click"]], reduction="sum")
        nll["query"] = F.cross_entropy(self.query_head(h[m["search"]]), tok["query"][m["search"]], reduction="sum")
        events = m["event"].sum()
        return sum(nll.values()) / events.clamp(min=1), {k: v.detach() for k, v in nll.items()}, events

    def session_nll(self, tok: dict[str, torch.Tensor], ctx: dict[str, torch.Tensor]
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(S,) NLL sum and (S,) event count of each session, for per-session gradients
        (user-level DP-SGD, `synthlib.train.private.session_units`): `forward`'s loss kept by
        session, with every parameter applied to (S, ...) tensors and masks in place of
        selections. The sessions must come longest first (`longest_first`). Items are scored
        against the whole vocabulary, masked to each row's category's candidates."""
        lengths = (tok["type"] > 0).sum(1)
        tok = {f: v[:, :int(lengths.max())] for f, v in tok.items()}
        m = targets(tok)
        x = sum(e(m["prev"][f]) for e, f in zip(self.embed, FIELDS)) \
            + self._context(**{k: v.unsqueeze(1) for k, v in ctx.items()})  # (S, 1) context: rows stay samples
        h, _ = self._run(x, lengths=lengths, longest_first=True)

        def nll_of(logits, target, mask):  # (S,) masked sums of cross-entropy over (S, T, K) logits
            return (F.cross_entropy(logits.transpose(1, 2), target, reduction="none") * mask).sum(1)

        typ, cat, item = tok["type"], tok["cat"], tok["item"]
        nll = nll_of(self.type_head(h), typ, m["valid"])
        h = h + self.type_given(typ)
        nll = nll + nll_of(self.gap_head(h), tok["gap"], m["gap"])
        nll = nll + nll_of(self.repeat_head(h), m["repeat"].long(), m["can_repeat"])
        nll = nll - (self._cat_log_prob(h, m["prev"]["cat"], cat) * m["fresh"]).sum(1)
        h = h + self.cat_given(cat)
        members = self._members()  # (n_cats, n_items)
        scores = F.linear(self.item_query(h), self.item_out.weight) \
            + F.linear(torch.ones_like(h[..., :1]), self.item_bias.weight)  # linear, not indexing: per-sample grads
        learned = F.log_softmax(scores.masked_fill(~members[cat], -1e9), -1)  # the row's category's candidates
        learned = learned.gather(-1, item.unsqueeze(-1)).squeeze(-1).exp()
        by_item = torch.zeros(members.shape, device=h.device).scatter_add_(  # `_prior_probs` by item token
            1, self.candidates, self._prior_probs().nan_to_num(0.0))
        prior = by_item[cat, item]
        gate = torch.sigmoid(self.item_gate(h)).squeeze(-1)
        chosen = gate * prior + (1 - gate) * learned
        nll = nll - (torch.log(chosen.clamp(min=1e-12)) * m["pick"]).sum(1)
        nll = nll + nll_of(self.pos_head(h), tok["pos"], m["click"])
        nll = nll + nll_of(self.query_head(h), tok["query"], m["search"])
        return nll, m["event"].sum(1)

    def _members(self) -> torch.Tensor:
        """(n_cats, n_items) boolean: which item tokens are a category's candidates."""
        if getattr(self, "_member_table", None) is None or self._member_table.device != self.candidates.device:
            table = torch.zeros(self.candidates.shape[0], self.item_out.num_embeddings, dtype=torch.bool,
                                device=self.candidates.device)
            table.scatter_(1, self.candidates, True)
            table[:, 0] = False  # token 0 pads the candidate lists
            self._member_table = table
        return self._member_table

def model_args(config: SessionConfig, vocab) -> dict:
    """Plain constructor arguments, stored in model.json."""
    return {"config": asdict(config), "n_cats": vocab.n_cats, "n_items": vocab.n_items,
            "n_queries": vocab.n_queries, "n_positions": vocab.max_position + 1}


def build(args: dict, candidates) -> SessionNet:
    return SessionNet(SessionConfig(**args["config"]), n_cats=args["n_cats"], n_items=args["n_items"],
                      n_queries=args["n_queries"], n_positions=args["n_positions"],
                      candidates=torch.as_tensor(candidates))
