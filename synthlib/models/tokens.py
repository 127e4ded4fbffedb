"""The token vocabulary the neural models read and write (no Spark here: models load
anywhere torch does).

Tokens, per event (0 always means "none" or padding):
  type      1..6 the event types, END = 7 closes a session
  gap       1 + floor(log2(seconds since the previous event + 1)), 0 on a session's first event
  category  1..K the top categories, K + 1 every other category
  item      1..N vocabulary items; N + c is the tail slot of category token c
  position  1..P the click position (clamped), query 1..Q the top queries, Q + 1 any other
  repeat    1 where the event's item is the previous event's: the tail items of a category
            share one token, so equal tokens do not tell a repeat from a new tail item
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from synthlib.schema import EVENT_TYPES

END = len(EVENT_TYPES) + 1  # type token that closes a session
BOS = END + 1  # type token fed before a session's first event
N_TYPES = BOS + 1
SEARCH_TOKEN = EVENT_TYPES.index("search") + 1  # type tokens are 1-based (0: none)
CLICK_TOKEN = EVENT_TYPES.index("click") + 1
N_GAPS = 27  # gap tokens 0..26 (2^25 s is over a year)
FIELDS = ("type", "gap", "cat", "item", "pos", "query")  # the previous event's, the network's input
ROW_FIELDS = (*FIELDS, "repeat")  # per event in a training row


@dataclass(frozen=True)
class Vocab:
    """The bounded token vocabulary; built on the driver from the stats artifact."""

    categories: tuple[str, ...]  # category token c (1-based) -> category name
    items: pd.DataFrame  # item_id, category, weight, mean_price, token (0 = tail), cat_token
    queries: tuple[str, ...]  # query token q (1-based) -> query text
    max_position: int
    candidates: int  # item tokens per category (the tail slot included)

    @property
    def n_cats(self) -> int:
        return len(self.categories) + 2  # none, K categories, other

    @property
    def n_vocab_items(self) -> int:
        return int((self.items["token"] > 0).sum())

    @property
    def n_items(self) -> int:
        return 1 + self.n_vocab_items + self.n_cats  # none, vocabulary, one tail slot per category

    @property
    def n_queries(self) -> int:
        return len(self.queries) + 2

    def tail_token(self, cat_token):
        return self.n_vocab_items + 1 + cat_token

    def candidate_table(self) -> np.ndarray:
        """(n_cats, candidates) item tokens per category token: its vocabulary items, then its
        tail slot, then zeros."""
        table = np.zeros((self.n_cats, self.candidates), dtype=np.int64)
        fill = np.zeros(self.n_cats, dtype=np.int64)
        vocab = self.items[self.items["token"] > 0].sort_values("token")
        for tok, cat in zip(vocab["token"].to_numpy(), vocab["cat_token"].to_numpy()):
            table[cat, fill[cat]] = tok
            fill[cat] += 1
        table[np.arange(self.n_cats), fill] = self.tail_token(np.arange(self.n_cats))
        return table


def build_vocab(items: pd.DataFrame, categories: list[str], queries: list[str], *, vocab_items: int,
                max_categories: int, candidates: int, max_position: int) -> Vocab:
    """Vocabulary from the stats item table (most popular first), categories by events and the
    profiled top queries.

    An item gets its own token when it is among the `vocab_items` most popular and among the
    `candidates - 1` most popular of its category; every other item is a tail item of its
    category, resolved at generation from the category's tail distribution.
    """
    cats = tuple(categories[:max_categories])
    cat_token = {c: i + 1 for i, c in enumerate(cats)}
    other = len(cats) + 1
    items = items.sort_values(["weight", "item_id"], ascending=[False, True]).reset_index(drop=True)
    items["cat_token"] = [cat_token.get(c, other) if isinstance(c, str) else 0 for c in items["category"]]
    rank_in_cat = items.groupby("cat_token").cumcount()
    in_vocab = (items.index < vocab_items) & (rank_in_cat < candidates - 1)
    items["token"] = 0
    items.loc[in_vocab, "token"] = np.arange(1, int(in_vocab.sum()) + 1)
    return Vocab(cats, items, tuple(queries), max_position, candidates)
