"""The concentration of counts over items: Gini and the top 1% share."""
from __future__ import annotations


def popularity(freq_of_freq: list[tuple[int, int]]) -> dict:
    """Gini and top-1% share of item counts, from (count, number of items) pairs."""
    pairs = sorted(freq_of_freq)  # ascending count
    n_items = sum(m for _, m in pairs)
    total = sum(c * m for c, m in pairs)
    if n_items == 0 or total == 0:
        return {"items": n_items, "gini": 0.0, "top1pct_share": 0.0}
    # Gini = sum_i (2i - n - 1) x_i / (n * sum x), i the 1-based ascending rank.
    acc, rank = 0.0, 0
    for c, m in pairs:  # ranks rank+1 .. rank+m share count c
        acc += c * (2 * (rank * m + m * (m + 1) / 2) - (n_items + 1) * m)
        rank += m
    top_n = max(1, -(-n_items // 100))
    top, left = 0, top_n
    for c, m in reversed(pairs):
        take = min(m, left)
        top, left = top + c * take, left - take
        if left == 0:
            break
    return {"items": n_items, "gini": acc / (n_items * total), "top1pct_share": top / total}
