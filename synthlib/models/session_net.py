"""The `session` synthesizer's network: an autoregressive model over the events of a session.

Each step reads the previous event (type, gap, category, item, position, query) plus the
user's context (activity, home category, the session's place in the user's history) and
predicts the next event factor by factor: its type (or END), the time gap before it,
whether it repeats the previous item, its category, its item among the category's
candidates (the category's vocabulary items and one tail slot), its click position and its
query. Tail slots are resolved to real items at generation, from the category's tail
distribution in the stats artifact, so the vocabulary stays bounded whatever the catalog.
The trained artifact around it is `synthlib.models.session.SessionModel`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from synthlib.models.item_scores import candidate_scores
from synthlib.models.tokens import BOS, END, FIELDS, N_GAPS, N_TYPES
from synthlib.schema import EVENT_TYPES

SEARCH_TOKEN = EVENT_TYPES.index("search") + 1  # type tokens are 1-based (0: none)
CLICK_TOKEN = EVENT_TYPES.index("click") + 1
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


def _pick(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF draw of one index per row from (unnormalised) probabilities, given uniforms."""
    cdf = probs.cumsum(-1)
    idx = torch.searchsorted(cdf, (u.to(cdf.dtype) * cdf[:, -1]).unsqueeze(-1)).squeeze(-1)  # entries below u
    return idx.clamp(max=probs.shape[-1] - 1)


def _weights(logits: torch.Tensor) -> torch.Tensor:
    """Unnormalised probabilities of logits, for `_pick`: exp(logits - max). The small heads'
    draws use them: on a CPU, torch's softmax over fewer than 16 classes takes 5 to 7 times
    as long."""
    return (logits - logits.amax(-1, keepdim=True)).exp()


def targets(tok: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Which factor each position predicts (boolean masks), and the previous event's tokens."""
    prev = {f: F.pad(v[:, :-1], (1, 0), value=BOS if f == "type" else 0) for f, v in tok.items()}
    typ, item = tok["type"], tok["item"]
    valid = typ > 0
    event = valid & (typ != END)
    gap = event.clone()
    gap[:, 0] = False
    can_repeat = event & (item > 0) & (prev["item"] > 0)
    repeat = (item == prev["item"]) & can_repeat
    fresh = event & ~repeat
    return {"prev": prev, "valid": valid, "event": event, "gap": gap, "can_repeat": can_repeat, "repeat": repeat,
            "fresh": fresh, "pick": fresh & (item > 0), "click": event & (typ == CLICK_TOKEN),
            "search": event & (typ == SEARCH_TOKEN)}


class SessionNet(nn.Module):
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

    def _step(self, x: torch.Tensor, state: torch.Tensor | None, cells: list | None = None
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """One recurrent step at generation, (S, D) inputs -> (S, D) hidden, (layers, S, D) state:
        the GRU's equations as `nn.GRU` computes them without dropout, gate by gate on
        contiguous blocks (`_cells`, given once per generation): on a CPU core a step of
        8,000 sessions takes 0.6 of `torch.gru_cell`'s time."""
        state = x.new_zeros(self.config.layers, x.shape[0], x.shape[1]) if state is None else state
        layers = []
        for (w_r, w_z, w_n, u_r, u_z, u_n, b_r, b_z, b_in, b_hn), h in zip(cells or self._cells(), state):
            r = torch.sigmoid(torch.addmm(torch.addmm(b_r, x, w_r), h, u_r))
            z = torch.sigmoid(torch.addmm(torch.addmm(b_z, x, w_z), h, u_z))
            n = torch.tanh(torch.addmm(b_in, x, w_n) + r * torch.addmm(b_hn, h, u_n))
            x = torch.lerp(n, h, z)
            layers.append(x)
        return self.norm(x), torch.stack(layers)

    def _cells(self) -> list[tuple[torch.Tensor, ...]]:
        """Per GRU layer, its weights by gate (reset, update, new), transposed and contiguous, for `_step`:
        input weights, hidden weights, then the reset and update biases (input and hidden summed) and
        the new gate's input and hidden biases."""
        cells = []
        for k in range(self.config.layers):
            w_ih, w_hh, b_ih, b_hh = (getattr(self.core, f"{w}_l{k}").chunk(3) for w in
                                      ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
            cells.append((*(w.t().contiguous() for w in (*w_ih, *w_hh)),
                          b_ih[0] + b_hh[0], b_ih[1] + b_hh[1], b_ih[2], b_hh[2]))
        return cells

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

    def _prior_table(self) -> torch.Tensor:
        """The popularity prior's cumulative distribution over every category's candidates, one
        category after another in one float64 array (`rng.pick_in`'s table, for `_pick_prior`):
        a row's draw is one search, without gathering its category's row."""
        return torch.nan_to_num(self._prior_probs().double(), nan=0.0).reshape(-1).cumsum(0)

    def _pick_prior(self, table: torch.Tensor, cat: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Candidate indices drawn from the popularity prior of each row's category, given
        uniforms: `rng.pick_in` over `_prior_table`, within the category's candidates (a
        category without candidates gives its last slot, no item)."""
        C = self.candidates.shape[1]
        lo = cat * C
        base = torch.where(lo > 0, table[(lo - 1).clamp(min=0)], 0.0)
        at = torch.searchsorted(table, base + u.double() * (table[lo + C - 1] - base), right=True)
        return (at - lo).clamp(0, C - 1)

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

    def _draw_items(self, h: torch.Tensor, cat: torch.Tensor, prior: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Item tokens drawn from `_item_probs`'s mixture with one uniform per row, by its two
        parts: with the gate's probability from the category's popularity prior (`prior`,
        `_prior_table`), else from the learned scores, computed only for the rows that draw
        from them."""
        gate = torch.sigmoid(self.item_gate(h)).squeeze(-1)
        v = v.to(gate.dtype)
        popular = v < gate
        w = torch.where(popular, v / gate.clamp(min=1e-12), (v - gate) / (1 - gate).clamp(min=1e-12)).clamp(0, 1)
        idx = torch.zeros_like(cat)
        if popular.any():
            idx[popular] = self._pick_prior(prior, cat[popular], w[popular])
        learned = ~popular
        if learned.any():
            idx[learned] = _pick(self._learned_probs(h[learned], cat[learned])[0], w[learned])
        return self.candidates[cat, idx]

    # -- training --------------------------------------------------------------------------
    @staticmethod
    def sessions(batch: dict[str, torch.Tensor], max_events: int) -> tuple[dict, dict]:
        """Rows of R sessions -> (tokens (S, L) per field, context (S,) per key) of non-empty sessions."""
        L = max_events + 1
        tok = {f: batch[f].reshape(-1, L) for f in FIELDS}
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
        member = self._members()[cat]  # (S, T, n_items): the row's category's candidates
        scores = F.linear(self.item_query(h), self.item_out.weight) \
            + F.linear(torch.ones_like(h[..., :1]), self.item_bias.weight)  # linear, not indexing: per-sample grads
        learned = F.log_softmax(scores.masked_fill(~member, -1e9), -1).gather(-1, item.unsqueeze(-1)).squeeze(-1).exp()
        prior = F.softmax(self.item_prior.masked_fill(~self._members(), float("-inf")), -1).nan_to_num(0.0)[cat, item]
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

    # -- generation ------------------------------------------------------------------------
    @torch.no_grad()
    def calibrate_end(self, ctx: dict[str, torch.Tensor], mean_length: float, *, seed: int, rounds: int = 14) -> float:
        """Set `end_bias` so that sessions generated for `ctx` have `mean_length` events on
        average (sampling drifts from teacher-forced training, mostly in when sessions end).
        Bisection on the bias with fixed uniforms; returns the bias."""
        gen = torch.Generator().manual_seed(seed)
        n, T = ctx["activity"].shape[0], self.config.max_events
        u = torch.rand(T, 8, n, generator=gen)
        lo, hi = -6.0, 6.0
        for _ in range(rounds):
            self.end_bias.fill_((lo + hi) / 2)
            out = self.generate(ctx, lambda t, f, rows: u[t, f, rows])
            length = ((out["type"] > 0) & (out["type"] != END)).sum(1).float().mean()
            lo, hi = (lo, (lo + hi) / 2) if length < mean_length else ((lo + hi) / 2, hi)
        self.end_bias.fill_((lo + hi) / 2)
        return float(self.end_bias)

    @torch.no_grad()
    def generate(self, ctx: dict[str, torch.Tensor], uniform: Callable[[int, int, torch.Tensor], torch.Tensor], *,
                 first_cat: torch.Tensor | None = None, item_power: float = 1.0,
                 max_gap: int = N_GAPS - 1) -> dict[str, torch.Tensor]:
        """Sessions token by token; only sessions that have not ended are computed.

        Args:
            ctx: (S,) context per session (activity, home_cat, index).
            uniform: uniform(step, field, rows) gives one uniform per listed session row.
            first_cat: (S,) category token of each session's first event (0: the model's choice).
            item_power: candidate probabilities ** power (< 1 lifts the long tail).
            max_gap: the largest gap token to draw (the longest gap seen in training).

        Returns (S, max_events) tokens per field on the CPU; type 0 after a session's end.
        """
        dev = self.type_head.weight.device
        S, T = ctx["activity"].shape[0], self.config.max_events
        # The previous event's tokens, one column per field (FIELDS order), and all of them out.
        out = torch.zeros(S, T, len(FIELDS), dtype=torch.long, device=dev)
        prev = torch.zeros(S, len(FIELDS), dtype=torch.long, device=dev)
        prev[:, 0] = BOS
        # The fields' embeddings as one table: a step's input is one bag-sum lookup.
        table = torch.cat([e.weight for e in self.embed])
        offsets = torch.tensor([0] + [e.num_embeddings for e in self.embed][:-1], device=dev).cumsum(0)
        c = self._context(**{k: v.to(dev) for k, v in ctx.items()})
        rows, state, xs = torch.arange(S, device=dev), None, []
        prior = self._prior_probs() if item_power != 1 else self._prior_table()
        # Added to the type logits by the previous type: END's calibration, -inf for what
        # training never held after it, for "none" and BOS, and (first event) for END.
        type_bias = torch.zeros(N_TYPES, N_TYPES, device=dev).masked_fill(~self.type_allowed, float("-inf"))
        type_bias[:, END] += self.end_bias
        type_bias[:, [0, BOS]] = float("-inf")
        first_bias = type_bias.clone()
        first_bias[:, END] = float("-inf")
        # uniforms of the listed sessions, or of those selected by a mask
        u = lambda t, f, sel=None: uniform(t, f, (rows if sel is None else rows[sel]).cpu()).to(dev)  # noqa: E731
        stepwise = self.config.arch == "gru" and not self.training
        cells = self._cells() if stepwise else None
        for t in range(T):
            if stepwise:
                h, state = self._step(F.embedding_bag(prev + offsets, table, mode="sum") + c[rows], state, cells)
                h = h.unsqueeze(1)
            else:
                x = self._inputs({f: prev[:, i:i + 1] for i, f in enumerate(FIELDS)}, c[rows])
                if self.config.arch == "gru":
                    h, state = self._run(x, state)
                else:
                    xs.append(x)
                    h, _ = self._run(torch.cat(xs, 1))
            logits = self.type_head(h[:, -1]) + (first_bias if t == 0 else type_bias)[prev[:, 0]]
            typ = _pick(_weights(logits), u(t, 0))
            going = typ != END
            if not going.all():  # drop the sessions that just ended
                keep = going.nonzero().squeeze(1)
                rows, typ, h, prev = (v.index_select(0, keep) for v in (rows, typ, h, prev))
                state = state.index_select(1, keep) if state is not None else None
                xs = [x.index_select(0, keep) for x in xs]
                if not len(rows):
                    break
            h = h[:, -1] + self.type_given(typ)
            # Each factor is computed only for the sessions that need it.
            zero = torch.zeros_like(typ)
            gap = zero if t == 0 else _pick(_weights(self.gap_head(h)[:, 1:max_gap + 1]), u(t, 1)) + 1
            wants_item = typ != SEARCH_TOKEN
            last_item, last_cat = prev[:, FIELDS.index("item")], prev[:, FIELDS.index("cat")]
            repeat = wants_item & (last_item > 0) & (_pick(_weights(self.repeat_head(h)), u(t, 2)) == 1)
            stay = torch.sigmoid(self.stay_head(h).squeeze(-1)) * (last_cat > 0)
            v = u(t, 3)
            cat = last_cat.clone()
            fresh = ~repeat & (v >= stay)
            if t == 0 and first_cat is not None:
                cat = first_cat.to(dev)[rows]
                fresh &= cat == 0
            if fresh.any():
                w = ((v[fresh] - stay[fresh]) / (1 - stay[fresh]).clamp(min=1e-12)).clamp(0, 1)
                cat[fresh] = _pick(F.softmax(self.cat_head(h[fresh]), -1), w)
            h = h + self.cat_given(cat)
            item = torch.where(repeat, last_item, zero)
            choose = wants_item & ~repeat
            if choose.any() and item_power == 1:
                item[choose] = self._draw_items(h[choose], cat[choose], prior, u(t, 4, choose))
            elif choose.any():  # the whole mixture, lifted to the power
                probs, cands = self._item_probs(h[choose], cat[choose], prior)
                item[choose] = cands.gather(1, _pick(probs ** item_power, u(t, 4, choose)).unsqueeze(1)).squeeze(1)
            pos, query = zero.clone(), zero.clone()
            click, search = typ == CLICK_TOKEN, typ == SEARCH_TOKEN
            if click.any():
                pos[click] = _pick(_weights(self.pos_head(h[click]).masked_fill(~self.pos_allowed, float("-inf"))),
                                   u(t, 5, click))
            if search.any():
                query[search] = _pick(F.softmax(self.query_head(h[search]).masked_fill(~self.query_allowed, float("-inf")),
                                                 -1), u(t, 6, search))
            step = {"type": typ, "gap": gap, "cat": cat, "item": item, "pos": pos, "query": query}
            prev = torch.stack([step[f] for f in FIELDS], 1)
            out[rows, t] = prev
        return {f: out[:, :, i].cpu().contiguous() for i, f in enumerate(FIELDS)}


def model_args(config: SessionConfig, vocab) -> dict:
    """Plain constructor arguments, stored in model.json."""
    return {"config": asdict(config), "n_cats": vocab.n_cats, "n_items": vocab.n_items,
            "n_queries": vocab.n_queries, "n_positions": vocab.max_position + 1}


def build(args: dict, candidates) -> SessionNet:
    return SessionNet(SessionConfig(**args["config"]), n_cats=args["n_cats"], n_items=args["n_items"],
                      n_queries=args["n_queries"], n_positions=args["n_positions"],
                      candidates=torch.as_tensor(candidates))
