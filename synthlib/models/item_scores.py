"""The session model's learned item scores: each row's candidates, the cheaper of two ways."""
from __future__ import annotations

import torch
from torch import nn

# The fewest scores per category at which one matrix product per category beats gathering
# each row's candidates, measured on CPU with benchmarks/item_scores.py. On a GPU each
# product costs kernel launches: its bar is set high, by estimate (run the benchmark there).
GROUPED_MIN_SCORES = {"cpu": 256, "cuda": 16_384}


def candidate_scores(query: torch.Tensor, cat: torch.Tensor, cands: torch.Tensor, table: torch.Tensor,
                     out: nn.Embedding, bias: nn.Embedding) -> torch.Tensor:
    """(N, C) scores of each row's candidates `cands` = table[cat], from (N, D) queries.

    With few categories in the batch, rows are grouped by category and scored by one matrix
    product per category; otherwise each row's candidate embeddings are gathered, an
    (N, C, D) copy whose cost the products beat when a category has enough scores."""
    order = torch.argsort(cat, stable=True)
    cats, counts = torch.unique_consecutive(cat[order], return_counts=True)
    bar = GROUPED_MIN_SCORES.get(query.device.type, GROUPED_MIN_SCORES["cuda"])
    if not len(cats) or cands.numel() < bar * len(cats):
        return torch.einsum("nd,ncd->nc", query, out(cands)) + bias(cands).squeeze(-1)
    per_cat = table[cats]  # (K, C)
    emb, b = out(per_cat).unbind(0), bias(per_cat).squeeze(-1).unbind(0)
    blocks = [q @ e.T + c for q, e, c in zip(query[order].split(counts.tolist()), emb, b)]
    return torch.cat(blocks)[torch.argsort(order)]
