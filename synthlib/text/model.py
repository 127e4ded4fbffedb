"""The `text` model: search queries and product titles from a small language model.

A SentencePiece unigram tokenizer is trained on the text itself (nothing is downloaded);
a GRU reads the pieces, conditioned on the string's category and, for product titles, its
brand and price band (each an embedding added to every step and setting the first state;
each is hidden at random in training, so that strings can be asked for with any of them).
Sampling draws every piece from counter-based uniforms keyed by (seed, string id, try),
so a string depends on its own id and the seed alone.

Sampling divides the scores by a temperature, calibrated after training so that strings
generated for the conditions of validation strings are as diverse (distinct word pairs and
self-BLEU together) as the training strings of the same categories. The k-user rule is
applied at sampling: a string in `blocked` (real strings that fewer than k users issued)
is drawn again, and left out after `tries` draws.

Artifact: `model.json` (args, condition vocabularies, lineage), `model.pt` (weights only)
and `tokenizer.model` (the SentencePiece model), each pinned by hash.
"""
from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass

import numpy as np
import sentencepiece as spm
import torch
import torch.nn as nn
import torch.nn.functional as F

from synthlib import rng
from synthlib.models.artifact import MODEL_JSON, Artifact, ModelArtifactError, load_state, spec_bytes, state_bytes

PAD, UNK, BOS, EOS = 0, 1, 2, 3
TOKENIZER, WEIGHTS = "tokenizer.model", "model.pt"


@dataclass(frozen=True)
class TextConfig:
    vocab_size: int = 2000  # SentencePiece pieces at most (fewer on little text: see pieces_for)
    dim: int = 192
    layers: int = 1
    dropout: float = 0.3
    max_pieces: int = 48  # pieces per string; longer strings are cut
    max_categories: int = 1000  # categories with their own embedding, most frequent first
    max_brands: int = 1000
    price_bands: int = 8  # price quantile bands (0: no price)
    condition_dropout: float = 0.25  # training: each condition is hidden at this rate, so any may be left out


def pieces_for(strings: int, config: TextConfig) -> int:
    """The tokenizer's size for a corpus: 16 pieces per square root of its strings (about
    400 for 600 strings, 1,200 for 5,500), within 64 .. config.vocab_size."""
    return max(64, min(config.vocab_size, int(16 * strings ** 0.5)))


def train_tokenizer(texts: list[str], config: TextConfig) -> bytes:
    """A SentencePiece unigram model of the texts, as bytes."""
    out = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_writer=out, model_type="unigram",
        vocab_size=pieces_for(len(texts), config),
        character_coverage=1.0, hard_vocab_limit=False, pad_id=PAD, unk_id=UNK, bos_id=BOS, eos_id=EOS,
        minloglevel=2, num_threads=1)
    return out.getvalue()


class TextConditions:
    """Category, brand and price band of each string, as embedding indices."""

    def __init__(self, categories: list[str], brands: list[str], price_edges: list[float]):
        self.categories, self.brands, self.price_edges = categories, brands, price_edges
        self._cat = {c: i + 2 for i, c in enumerate(categories)}  # 0: none, 1: other
        self._brand = {b: i + 2 for i, b in enumerate(brands)}

    def encode(self, categories, brands=None, prices=None) -> dict[str, torch.Tensor]:
        n = len(categories)
        brands = brands if brands is not None else [None] * n
        prices = prices if prices is not None else [None] * n
        idx = lambda table, v: 0 if v is None or v != v else table.get(v, 1)  # noqa: E731
        band = [0 if p is None or p != p else 1 + int(np.searchsorted(self.price_edges, p, "right")) for p in prices]
        return {"cat": torch.tensor([idx(self._cat, c) for c in categories]),
                "brand": torch.tensor([idx(self._brand, b) for b in brands]), "band": torch.tensor(band)}

    def to_json(self) -> dict:
        return {"categories": self.categories, "brands": self.brands, "price_edges": self.price_edges}


class TextNet(nn.Module):
    """forward(batch) -> (mean NLL per piece, {"text": summed NLL}, pieces)."""

    def __init__(self, config: TextConfig, *, n_pieces: int, n_cats: int, n_brands: int):
        super().__init__()
        self.config = c = config
        self.embed = nn.Embedding(n_pieces, c.dim, padding_idx=PAD)
        self.cond = nn.ModuleDict({"cat": nn.Embedding(n_cats, c.dim), "brand": nn.Embedding(n_brands, c.dim),
                                   "band": nn.Embedding(c.price_bands + 1, c.dim)})
        self.start = nn.Linear(c.dim, c.layers * c.dim)
        self.core = nn.GRU(c.dim, c.dim, c.layers, batch_first=True, dropout=c.dropout if c.layers > 1 else 0.0)
        self.drop = nn.Dropout(c.dropout)
        # Output not tied to the input embeddings, and started small: the first scores are
        # near uniform, not spread over tens of nats (which a few hundred strings never undo).
        self.out = nn.Linear(c.dim, n_pieces)
        nn.init.normal_(self.out.weight, std=c.dim ** -0.5)
        nn.init.zeros_(self.out.bias)

    def _condition(self, cond: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        v = sum(self.cond[k](cond[k]) for k in ("cat", "brand", "band"))  # (B, D)
        h0 = torch.tanh(self.start(v)).view(v.shape[0], self.config.layers, self.config.dim).transpose(0, 1)
        return v, h0.contiguous()

    def forward(self, batch: dict[str, torch.Tensor]):
        ids = batch["ids"]
        ids = ids[:, :int((ids != PAD).sum(1).max())]  # rows are padded to max_pieces: cut to the longest
        cond = {k: batch[k] for k in ("cat", "brand", "band")}
        if self.training and self.config.condition_dropout:
            cond = {k: v.masked_fill(torch.rand(v.shape, device=v.device) < self.config.condition_dropout, 0)
                    for k, v in cond.items()}
        v, h0 = self._condition(cond)
        x = self.drop(self.embed(ids[:, :-1]) + v.unsqueeze(1))
        h, _ = self.core(x, h0)
        target = ids[:, 1:]
        nll = F.cross_entropy(self.out(self.drop(h)).transpose(1, 2), target, ignore_index=PAD, reduction="sum")
        n = (target != PAD).sum()
        return nll / n.clamp(min=1), {"text": nll.detach()}, n

    @torch.no_grad()
    def generate(self, cond: dict[str, torch.Tensor], uniforms: np.ndarray, temperature: float = 1.0) -> np.ndarray:
        """(B, max_pieces) piece ids, PAD after EOS, from (B, max_pieces) uniforms."""
        B, T = uniforms.shape
        v, h = self._condition(cond)
        prev = torch.full((B,), BOS, dtype=torch.long)
        out = np.zeros((B, T), dtype=np.int64)
        live = torch.ones(B, dtype=torch.bool)
        for t in range(T):
            y, h = self.core((self.embed(prev) + v).unsqueeze(1), h)
            probs = F.softmax(self.out(y[:, 0]) / temperature, -1)
            probs[:, [PAD, UNK, BOS]] = 0
            cdf = probs.cumsum(-1)
            u = torch.as_tensor(uniforms[:, t], dtype=cdf.dtype).unsqueeze(1) * cdf[:, -1:]
            nxt = torch.searchsorted(cdf, u).squeeze(1).clamp(max=probs.shape[1] - 1)
            nxt = torch.where(live, nxt, torch.full_like(nxt, PAD))
            out[:, t] = nxt.numpy()
            live &= nxt != EOS
            prev = nxt
            if not live.any():
                break
        return out


class TextModel(Artifact):
    """A trained text model: tokenizer, conditions and network. Build with
    `synthlib.train.text.train_text`, or `TextModel.load(path)`."""

    kind = "text"

    def __init__(self, spec: dict, tokenizer: bytes, state: dict):
        self.spec, self.tokenizer_bytes = spec, tokenizer
        self.sp = spm.SentencePieceProcessor(model_proto=tokenizer)
        c = spec["conditions"]
        self.conditions = TextConditions(c["categories"], c["brands"], c["price_edges"])
        self.net = build(spec["args"])
        self.net.load_state_dict(state)
        self.net.eval()

    def to_bytes(self) -> dict[str, bytes]:
        """model.json, the tokenizer and the weights: plain data to save and broadcast, never a pickle."""
        return {MODEL_JSON: spec_bytes(self.spec), TOKENIZER: self.tokenizer_bytes,
                WEIGHTS: state_bytes(self.net.state_dict())}

    @classmethod
    def from_bytes(cls, files: dict[str, bytes]) -> "TextModel":
        spec = {k: v for k, v in json.loads(files[MODEL_JSON]).items() if k != "files"}
        try:
            return cls(spec, files[TOKENIZER], load_state(files[WEIGHTS]))
        except (KeyError, RuntimeError, TypeError, ValueError) as e:
            raise ModelArtifactError(f"the text model's files do not fit together ({type(e).__name__}: "
                                     f"{str(e).splitlines()[0]}); train it again") from None

    def sample(self, ids: np.ndarray, categories: list, brands: list | None = None, prices: list | None = None, *,
               seed: int, blocked=frozenset(), tries: int = 10, batch: int = 4096,
               temperature: float | None = None) -> list[str | None]:
        """One string per id and condition; None where every one of `tries` draws was blocked
        (or empty). The temperature defaults to the one calibrated in training."""
        temperature = temperature or self.spec.get("temperature", 1.0)
        ids = np.asarray(ids, dtype=np.int64)
        key, T = rng.stream_key(seed, "text"), self.spec["args"]["config"]["max_pieces"]
        cond = self.conditions.encode(categories, brands, prices)
        out: list[str | None] = [None] * len(ids)
        todo = np.arange(len(ids))
        for attempt in range(tries):
            for lo in range(0, len(todo), batch):
                rows = todo[lo:lo + batch]
                u = rng.uniform(key, ids[rows][:, None], attempt * T + np.arange(T)[None, :])
                pieces = self.net.generate({k: v[rows] for k, v in cond.items()}, u, temperature)
                for r, p in zip(rows, pieces):
                    text = self.sp.decode([int(x) for x in p if x > EOS]).strip()
                    out[r] = text if text and text not in blocked else None
            todo = np.array([r for r in todo if out[r] is None], dtype=np.int64)
            if not len(todo):
                break
        return out


def model_args(config: TextConfig, n_pieces: int, conditions: TextConditions) -> dict:
    return {"config": asdict(config), "n_pieces": n_pieces, "n_cats": len(conditions.categories) + 2,
            "n_brands": len(conditions.brands) + 2}


def build(args: dict) -> TextNet:
    return TextNet(TextConfig(**args["config"]), n_pieces=args["n_pieces"], n_cats=args["n_cats"],
                   n_brands=args["n_brands"])
