"""The text baseline: a category-conditioned word n-gram model.

Each category's counts and the whole corpus's are Witten-Bell interpolated n-gram models
(each order backs off to the next shorter context); a string's next word comes from its
category's model with weight `category_weight`, else from the corpus model. Sampling is
exact and draws from counter-based uniforms keyed by (seed, category, string index).
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from synthlib import rng

BOS, EOS = "<s>", "</s>"


class _Counts:
    """Continuation counts per context of length 0 .. order - 1."""

    def __init__(self, order: int):
        self.order = order
        self.next: dict[tuple, Counter] = defaultdict(Counter)

    def add(self, words: list[str]) -> None:
        seq = [BOS] * (self.order - 1) + words + [EOS]
        for i in range(self.order - 1, len(seq)):
            for n in range(self.order):
                self.next[tuple(seq[i - n:i])][seq[i]] += 1

    def draw(self, context: tuple, u) -> str:
        """A word from the interpolated distribution after `context` (longest order first):
        the observed continuations with Witten-Bell weight c / (c + distinct), else back off."""
        for n in range(len(context), -1, -1):
            seen = self.next.get(context[len(context) - n:])
            if not seen:
                continue
            total = sum(seen.values())
            if n == 0 or u() < total / (total + len(seen)):
                return _weighted(seen, total, u())
        return EOS


def _weighted(counts: Counter, total: int, u: float) -> str:
    target, acc = u * total, 0
    for word, n in sorted(counts.items()):
        acc += n
        if target < acc:
            return word
    return word


@dataclass(frozen=True)
class NgramConfig:
    order: int = 3
    category_weight: float = 0.7  # the category's own model against the whole corpus's
    max_words: int = 40


class NgramText:
    """fit(texts, categories), then sample(category, n, seed, blocked)."""

    def __init__(self, config: NgramConfig = NgramConfig()):
        self.config = config
        self.corpus = _Counts(config.order)
        self.by_category: dict[str, _Counts] = {}

    def fit(self, texts: list[str], categories: list[str | None]) -> "NgramText":
        for text, cat in zip(texts, categories):
            words = text.split()
            self.corpus.add(words)
            self.by_category.setdefault(cat, _Counts(self.config.order)).add(words)
        return self

    def sample(self, category: str | None, n: int, *, seed: int, blocked=frozenset(), tries: int = 20) -> list[str]:
        """n strings for a category; a string in `blocked` is drawn again (at most `tries`
        times; then that string is left out, so fewer than n may come back)."""
        key = rng.stream_key(seed, "ngram", str(category))
        own = self.by_category.get(category)
        out = []
        for i in range(n):
            tape = rng.Tape(key, i)
            for _ in range(tries):
                text = self._one(own, tape)
                if text and text not in blocked:
                    out.append(text)
                    break
        return out

    def _one(self, own: _Counts | None, u) -> str:
        c = self.config
        words = [BOS] * (c.order - 1)
        while len(words) < c.max_words + c.order - 1:
            context = tuple(words[len(words) - c.order + 1:])
            model = own if own is not None and u() < c.category_weight else self.corpus
            word = model.draw(context, u)
            if word == EOS:
                break
            words.append(word)
        return " ".join(words[c.order - 1:])
