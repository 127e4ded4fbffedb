"""What each evaluation metric means, its kind, and the rule that marks it pass / warn / fail.

One place for the rules, so that `metrics.json`, the metrics table, the report and the
run's closing table can never disagree about a threshold.
"""
from __future__ import annotations

from synthlib.config import EvaluateConf

MEANINGS = {
    # fidelity: 0 for identical logs, 1 for disjoint ones
    "item_popularity_tv": "how differently events spread over items (total variation)",
    "item_rank_frequency_ks": "shape of the item popularity curve (KS over events by item frequency)",
    "item_gini_difference": "difference in the Gini coefficient of item popularity",
    "item_top1pct_share_difference": "difference in the share of events on the top 1% of items",
    "events_per_user_ks": "events per user (KS)",
    "session_length_ks": "events per session (KS)",
    "session_length_tv": "events per session (total variation)",
    "event_mix_tv": "share of each event type (total variation)",
    "funnel_difference": "largest gap in a session conversion rate (view to cart to purchase)",
    "transition_l1": "which event type follows which (row-weighted total variation)",
    "hour_of_day_tv": "hour of day (total variation)",
    "day_of_week_tv": "day of week (total variation)",
    "gap_ks": "time between events of a session (KS over log2 seconds)",
    "covisit_neighbour_distance": "popular items' top co-visited neighbours not shared (1 - overlap)",
    "category_tv": "share of events per category (total variation)",
    "price_by_category": "relative difference of the mean price per category",
    "click_position_tv": "clicked result positions (total variation)",
    "query_words_tv": "words per query (total variation)",
    "top_query_distance": "real top queries absent from the synthetic top queries",
    "impression_ctr_position_tv": "position bias: click-through by position, each curve scaled to sum 1 (TV)",
    "impression_list_length_tv": "shown list lengths (total variation)",
    "impression_no_click_difference": "difference in the share of requests without a click",
    "impression_popularity_difference": ("difference in how much more concentrated clicked items are than "
                                         "shown items (Gini of clicks minus Gini of shows)"),
    "impression_recent_item_difference": ("difference in the share of shown items that the session held before "
                                          "the request"),
    # privacy
    "impression_copy_share": "synthetic shown lists (3+ items) repeating a real training list verbatim",
    "copy_share": "synthetic sessions (3+ items) repeating a real training session verbatim",
    "copy_share_holdout": "held-out real sessions repeating a training session: the level reached without copying",
    "dcr_median_synthetic": "median distance of a synthetic session to its closest training session",
    "dcr_median_holdout": "the same for held-out real sessions: the reference",
    "mia_auc": "membership inference: AUC of telling training users from others by the synthetic log",
    # utility
    "knn_recall_ratio": "item-kNN recall@k trained on synthetic over trained on real",
    "als_recall_ratio": "ALS recall@k trained on synthetic over trained on real",
    "ctr_auc_ratio": "click-through model AUC on real held-out impressions, (synthetic - 0.5) / (real - 0.5)",
    "ctr_ndcg_ratio": "NDCG@10 of real held-out lists re-ranked by the click-through model, synthetic over real",
    "knn_recall_ceiling": ("the most the kNN ratio can reach at the model's k-user pair floor: an item-kNN "
                           "built from the real pairs that clear it, over the real kNN"),
    "knn_recall_dp_ceiling": ("the most the kNN ratio can reach with the items the DP release kept: an "
                              "item-kNN on the real log restricted to them, over the real kNN"),
    "als_recall_dp_ceiling": "the same for ALS",
    # text
    "query_rare_events": "synthetic searches with a query fewer than k real users issued",
}
TEXT_MEANINGS = {
    "bleu4": "BLEU-4 against the real strings of the category",
    "self_bleu": "self-BLEU (diversity: lower is more diverse)",
    "distinct1": "distinct-1", "distinct2": "distinct-2",
    "length_tv": "word-count distance (TV)", "vocabulary_coverage": "real vocabulary used",
    "exact_share": "share equal to a real training string",
    "nn_similarity_mean": "similarity to the nearest real training string (3-gram Jaccard)",
    "nn_similarity_median": "median similarity to the nearest real training string",
    "nn_similarity_share_08": "share with a real training string of similarity 0.8 or more",
    "strings": "generated strings measured",
    "rare_events": "searches with a query fewer than k users issued",
}
PLURALS = {"query": "queries", "title": "titles"}
REFERENCES = ("dcr_median_holdout", "copy_share_holdout")  # real figures the others are read against
CEILINGS = {"knn_recall_ceiling": "what the log gives at the pair floor",  # ceiling -> its rule in words
            "knn_recall_dp_ceiling": "what the DP vocabulary allows",
            "als_recall_dp_ceiling": "what the DP vocabulary allows"}


def kind(metric: str) -> str:
    """fidelity, privacy, utility or text."""
    if metric.endswith("_ratio") or metric in CEILINGS:
        return "utility"
    if metric.startswith(("query_", "title_")):
        return "text"
    return "privacy" if metric.startswith(("copy_share", "dcr_", "mia_", "impression_copy")) else "fidelity"


def meaning(metric: str) -> str:
    if metric in MEANINGS:
        return MEANINGS[metric]
    prefix, _, rest = metric.partition("_")
    if prefix in PLURALS and rest in TEXT_MEANINGS:
        return f"{PLURALS[prefix]}: {TEXT_MEANINGS[rest]}"
    return ""


def rule(metric: str, ev: EvaluateConf) -> str:
    """The metric's thresholds in words, e.g. 'pass <= 0.1, warn <= 0.25'."""
    k = kind(metric)
    if metric in REFERENCES:
        return "reference"
    if metric in CEILINGS:
        return CEILINGS[metric]
    if k == "utility":
        return f"pass >= {ev.min_utility_ratio:g}, warn >= {ev.warn_utility_ratio:g}"
    if metric in ("copy_share", "impression_copy_share"):
        return f"pass <= {ev.max_copy_share:g}"
    if metric == "mia_auc":
        return f"pass <= {ev.max_mia_auc:g}"
    if metric == "dcr_median_synthetic":
        return "pass >= the held-out median"
    if metric == "query_rare_events":
        return "pass = 0"
    if k == "text":
        return "compared with the real text below"
    return f"pass <= {ev.pass_at:g}, warn <= {ev.warn_at:g}"


def mark(metric: str, value: float | None, metrics: dict, ev: EvaluateConf) -> str:
    """pass / warn / fail (or info, n/a) of one metric against the configured thresholds."""
    k = kind(metric)
    if value is None:  # not measurable here, e.g. a ratio to a real score of 0
        return "n/a"
    if metric in REFERENCES or metric in CEILINGS:
        return "info"
    if k == "utility":  # synthetic / real
        return "pass" if value >= ev.min_utility_ratio else "warn" if value >= ev.warn_utility_ratio else "fail"
    if metric in ("copy_share", "impression_copy_share"):
        return "pass" if value <= ev.max_copy_share else "fail"
    if metric == "mia_auc":
        return "pass" if value <= ev.max_mia_auc else "fail"
    if metric == "dcr_median_synthetic":
        return "pass" if value >= (metrics.get("dcr_median_holdout") or 0.0) else "fail"
    if metric == "query_rare_events":  # the k-user rule
        return "pass" if value == 0 else "fail"
    if k == "text":  # text quality: compared with the real text in the report
        return "info"
    return "pass" if value <= ev.pass_at else "warn" if value <= ev.warn_at else "fail"


def marks(metrics: dict, ev: EvaluateConf) -> dict:
    return {name: mark(name, v, metrics, ev) for name, v in metrics.items()}
