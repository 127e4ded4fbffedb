"""Metric marks, meanings and thresholds: pure Python."""
from synthlib.config import EvaluateConf
from synthlib.marks import MEANINGS, kind, marks, meaning, rule


def test_marks_against_thresholds():
    ev = EvaluateConf(pass_at=0.1, warn_at=0.2, min_utility_ratio=0.9, warn_utility_ratio=0.7, max_mia_auc=0.6)
    metrics = {"event_mix_tv": 0.15, "gap_ks": 0.3, "knn_recall_ratio": 0.95, "als_recall_ratio": 0.8,
               "copy_share": 0.02, "copy_share_holdout": 0.03, "mia_auc": 0.55, "dcr_median_synthetic": 0.4,
               "dcr_median_holdout": 0.5}
    assert marks(metrics, ev) == {"event_mix_tv": "warn", "gap_ks": "fail", "knn_recall_ratio": "pass",
                                   "als_recall_ratio": "warn", "copy_share": "fail", "copy_share_holdout": "info",
                                   "mia_auc": "pass",
                                   "dcr_median_synthetic": "fail", "dcr_median_holdout": "info"}


def test_every_metric_has_a_meaning_and_a_rule():
    ev = EvaluateConf(pass_at=0.1, warn_at=0.2)
    for name in [*MEANINGS, "query_bleu4", "title_self_bleu"]:
        assert meaning(name), name
        assert rule(name, ev), name
    assert rule("gap_ks", ev) == "pass <= 0.1, warn <= 0.2"
    assert rule("knn_recall_ratio", ev).startswith("pass >= 0.9")
    assert kind("mia_auc") == "privacy" and kind("query_bleu4") == "text" and kind("als_recall_ratio") == "utility"
