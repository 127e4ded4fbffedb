"""Generation of the session network (`synthlib.models.session_net.SessionNet`): sessions
drawn token by token from given uniforms, the GRU stepped gate by gate, items drawn from the
mixture's two parts, and the end of sessions calibrated to a mean length."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from synthlib.models.tokens import BOS, CLICK_TOKEN, END, FIELDS, N_GAPS, N_TYPES, SEARCH_TOKEN


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


class SessionSampling:
    """The session network's generation, mixed into `SessionNet`."""

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

        Returns (S, max_events) tokens per field on the CPU; type 0 after a session's end; and
        "repeat", whether each event repeats its predecessor's item.
        """
        dev = self.type_head.weight.device
        S, T = ctx["activity"].shape[0], self.config.max_events
        # The previous event's tokens, one column per field (FIELDS order), and all of them out.
        out = torch.zeros(S, T, len(FIELDS), dtype=torch.long, device=dev)
        prev = torch.zeros(S, len(FIELDS), dtype=torch.long, device=dev)
        repeats = torch.zeros(S, T, dtype=torch.bool, device=dev)  # whether an event repeats the previous item
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
            repeats[rows, t] = repeat
        return {f: out[:, :, i].cpu().contiguous() for i, f in enumerate(FIELDS)} | {"repeat": repeats.cpu()}
