import pytest
from sacrebleu.metrics.bleu import BLEU

from synthlib.text.metrics import bleu, distinct, exposure, length_distance, self_bleu, text_metrics, vocabulary_coverage

REFS = ["the red sofa is big", "a red chair for the big room", "the big sofa"]
HYPS = ["the red sofa is small", "big red chair for the room", "a sofa is big and red"]


def test_bleu_is_sacrebleu_with_every_reference_of_the_category():
    expected = BLEU().corpus_score(HYPS, [[r] * len(HYPS) for r in REFS]).score / 100
    assert bleu({"c": HYPS}, {"c": REFS}) == pytest.approx(expected)
    assert bleu({"c": REFS}, {"c": REFS}) == pytest.approx(1.0)
    assert bleu({"c": ["zz yy xx ww"]}, {"c": REFS}) == 0.0
    assert bleu({"c": ["red sofa"]}, {"c": ["red sofa", "blue chair"]}) == pytest.approx(1.0)  # short: orders 1-2
    # Categories are scored against their own references only; one without references is skipped.
    assert bleu({"c": HYPS, "d": ["the red sofa is big"], "e": ["x"]}, {"c": REFS, "d": ["zz"]}) < bleu(
        {"c": HYPS}, {"c": REFS})


def test_self_bleu_leaves_each_string_out():
    others = [[h for j, h in enumerate(REFS) if j != i] for i in range(len(REFS))]
    expected = BLEU().corpus_score(REFS, [[o[k] for o in others] for k in range(2)]).score / 100
    assert self_bleu({"c": REFS}) == pytest.approx(expected)
    assert self_bleu({"c": ["a b c d e", "a b c d e"]}) == pytest.approx(1.0)
    assert self_bleu({"c": ["only one"]}) == 0.0


def test_distinct_length_and_vocabulary_by_hand():
    texts = ["a b a", "a b"]
    assert distinct(texts, 1) == pytest.approx(2 / 5)  # a b a a b
    assert distinct(texts, 2) == pytest.approx(2 / 3)  # (a b) (b a) (a b)
    # Word counts {3: 1/2, 2: 1/2} against {2: 1}: TV 0.5.
    assert length_distance(texts, ["x y"]) == pytest.approx(0.5)
    assert vocabulary_coverage(["a b", "c"], ["a d", "e"]) == pytest.approx(1 / 3)


def test_exposure_by_hand():
    e = exposure(["red sofa", "red sofas", "zzz"], ["red sofa", "blue chair"])
    assert e["exact_share"] == pytest.approx(1 / 3)
    # "red sofas" vs "red sofa": 10 and 9 trigrams of "  red sofas " and "  red sofa ", 8 shared.
    assert e["nn_similarity_mean"] == pytest.approx((1.0 + 8 / 11 + 0.0) / 3)
    assert e["nn_similarity_share_08"] == pytest.approx(1 / 3)


def test_text_metrics_of_the_real_text_against_itself():
    m = text_metrics({"c": REFS}, {"c": REFS}, REFS)
    assert m["bleu4"] == pytest.approx(1.0) and m["exact_share"] == 1.0 and m["length_tv"] == 0.0
    assert m["self_bleu"] == m["self_bleu_real"] and m["distinct2"] == m["distinct2_real"]
