"""Quality and exposure of generated text (queries, product titles) against real text.

- BLEU-4 (sacrebleu's tokenizer, n-grams and score with its default exponential
  smoothing): each generated string is scored against every held-out real string of its
  category, the multi-reference form text-generation papers use; the statistics are summed
  over all categories into one corpus score, 0..1. A corpus of strings of at most three
  words has no 4-gram at all: its score uses the orders it has (sacrebleu's effective order)
  instead of being 0.
- Self-BLEU: each string against the other strings of its category, for diversity (lower
  is more diverse); compare the generated text's with the real text's.
- Distinct-n: distinct n-grams / all n-grams. Length: total variation between the word
  count distributions. Vocabulary coverage: the share of the real text's words that the
  generated text uses.
- Exposure: the share of generated strings equal to a training string, and each generated
  string's similarity (character 3-gram Jaccard) to its nearest training string.
"""
from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
from sacrebleu.metrics.bleu import BLEU
from sacrebleu.metrics.helpers import extract_all_word_ngrams
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

ORDER = 4
_tokenize = Tokenizer13a()


def _ngrams(text: str) -> tuple[Counter, int]:
    return extract_all_word_ngrams(_tokenize(text), 1, ORDER)


def _words(text: str) -> list[str]:
    return _tokenize(text).split()


def _closest(lengths: list[int], hyp_len: int) -> int:
    """The reference length closest to the hypothesis length (the shorter on a tie), as BLEU does."""
    return min(lengths, key=lambda r: (abs(r - hyp_len), r))


def _score(stats: np.ndarray) -> float:
    """Corpus BLEU (0..1) from summed [hyp_len, ref_len, correct x ORDER, total x ORDER]."""
    if stats[0] == 0:
        return 0.0
    s = [int(x) for x in stats]
    return BLEU.compute_bleu(s[2:2 + ORDER], s[2 + ORDER:], s[0], s[1], smooth_method="exp",
                             effective_order=True).score / 100


def _stats(hyp: Counter, hyp_len: int, ref_max: dict, ref_len: int) -> np.ndarray:
    correct, total = [0] * ORDER, [0] * ORDER
    for gram, n in hyp.items():
        total[len(gram) - 1] += n
        correct[len(gram) - 1] += min(n, ref_max.get(gram, 0))
    return np.array([hyp_len, ref_len, *correct, *total], dtype=np.int64)


def bleu(generated: dict[str, list[str]], references: dict[str, list[str]]) -> float:
    """Corpus BLEU-4 of generated strings, each against all references of its category
    (categories without a reference are skipped)."""
    total = np.zeros(2 + 2 * ORDER, dtype=np.int64)
    for cat, hyps in generated.items():
        refs = [_ngrams(r) for r in references.get(cat, ())]
        if not refs or not hyps:
            continue
        ref_max: dict = {}
        for grams, _ in refs:
            for g, n in grams.items():
                if n > ref_max.get(g, 0):
                    ref_max[g] = n
        lengths = [n for _, n in refs]
        for h in hyps:
            grams, n = _ngrams(h)
            total += _stats(grams, n, ref_max, _closest(lengths, n))
    return _score(total)


def self_bleu(texts: dict[str, list[str]]) -> float:
    """Corpus BLEU-4 of each string against the other strings of its category (categories
    with a single string are skipped)."""
    total = np.zeros(2 + 2 * ORDER, dtype=np.int64)
    for strings in texts.values():
        if len(strings) < 2:
            continue
        grams = [_ngrams(s) for s in strings]
        best: dict = {}  # n-gram -> (highest count, its string, second highest count)
        for i, (g, _) in enumerate(grams):
            for k, n in g.items():
                top, owner, second = best.get(k, (0, -1, 0))
                best[k] = (n, i, top) if n > top else (top, owner, max(second, n))
        lengths = [n for _, n in grams]
        for i, (g, n) in enumerate(grams):
            others = {k: (top if owner != i else second) for k, (top, owner, second) in
                      ((k, best[k]) for k in g)}
            rest = lengths[:i] + lengths[i + 1:]
            total += _stats(g, n, others, _closest(rest, n))
    return _score(total)


def distinct(texts: list[str], n: int) -> float:
    """Distinct n-grams over all n-grams of the strings' words."""
    grams = [tuple(w[i:i + n]) for w in map(_words, texts) for i in range(len(w) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def length_distance(a: list[str], b: list[str]) -> float:
    """Total variation between the word counts of two sets of strings."""
    count = lambda texts: Counter(len(_words(t)) for t in texts)  # noqa: E731
    ca, cb = count(a), count(b)
    na, nb = sum(ca.values()) or 1, sum(cb.values()) or 1
    return 0.5 * sum(abs(ca[k] / na - cb[k] / nb) for k in set(ca) | set(cb))


def vocabulary_coverage(generated: list[str], real: list[str]) -> float:
    """The share of the real strings' distinct words that the generated strings use."""
    vocab = lambda texts: {w for t in texts for w in _words(t)}  # noqa: E731
    real_words = vocab(real)
    return len(vocab(generated) & real_words) / len(real_words) if real_words else 0.0


def _trigrams(text: str) -> set[str]:
    padded = f"  {text.lower()} "
    return {padded[i:i + 3] for i in range(len(padded) - 2)}


def exposure(generated: list[str], training: list[str]) -> dict:
    """Share of generated strings equal to a training string, and the nearest training
    string's character 3-gram Jaccard similarity (mean, median, share >= 0.8)."""
    if not generated:
        return {"exact_share": 0.0, "nn_similarity_mean": 0.0, "nn_similarity_median": 0.0,
                "nn_similarity_share_08": 0.0}
    known = set(training)
    grams = [_trigrams(t) for t in training]
    index = defaultdict(list)
    for i, g in enumerate(grams):
        for t in g:
            index[t].append(i)
    best = []
    for text in generated:
        g = _trigrams(text)
        shared = Counter(i for t in g for i in index.get(t, ()))
        best.append(max((n / (len(g) + len(grams[i]) - n) for i, n in shared.items()), default=0.0))
    best = np.asarray(best)
    return {"exact_share": float(np.mean([t in known for t in generated])),
            "nn_similarity_mean": float(best.mean()), "nn_similarity_median": float(np.median(best)),
            "nn_similarity_share_08": float((best >= 0.8).mean())}


def text_metrics(generated: dict[str, list[str]], held_out: dict[str, list[str]], training: list[str]) -> dict:
    """Every figure above for generated text against held-out real text, by category."""
    flat = lambda d: [t for v in d.values() for t in v]  # noqa: E731
    gen, real = flat(generated), flat(held_out)
    return {
        "strings": len(gen),
        "bleu4": bleu(generated, held_out),
        "self_bleu": self_bleu(generated),
        "self_bleu_real": self_bleu(held_out),
        "distinct1": distinct(gen, 1), "distinct2": distinct(gen, 2),
        "distinct1_real": distinct(real, 1), "distinct2_real": distinct(real, 2),
        "length_tv": length_distance(gen, real),
        "vocabulary_coverage": vocabulary_coverage(gen, real),
        **exposure(gen, training),
    }
