"""The report's plots: numeric axes in numeric order, scales, self-contained SVG."""
import re

from synthlib.config import BudgetSplit, DPConf
from synthlib.dp.budget import PARTS, part, statement
from synthlib.evaluate.report import (_guarantee, _privacy_line, _privacy_utility, axis_order, bars, heatmap, lines,
                                     rank_frequency)
from tests.helpers import assert_numeric_axes_ascend, x_axis_labels

def test_numeric_keys_in_numeric_order():
    assert axis_order({"3", "11", "1", "2"}) == ["1", "2", "3", "11"]
    assert axis_order({3, 11, 1}) == [1, 3, 11]
    assert axis_order({"view", "cart"}) == ["cart", "view"]
    svg = bars("Session length", [("real", {1: 0.5, 11: 0.1, 2: 0.3, 20: 0.05, 3: 0.05}), ("syn", {1: 0.6, 3: 0.4})])
    assert x_axis_labels(svg) == ["1", "2", "3", "11", "20"]
    assert assert_numeric_axes_ascend(svg) == 1


def test_plots_have_a_y_scale_and_rates_a_fixed_one():
    svg = bars("Funnel", [("real", {"cart_given_view": 0.000114})], ylabel="rate", ymax=1.0)
    ticks = re.findall(r'<g id="ytick_\d+">.*?<text [^>]*>([^<]*)</text>', svg, re.S)
    assert ticks[0] == "0.0" and ticks[-1] == "1.0"  # noise stays a sliver, not a full bar
    assert ">rate</text>" in svg


def test_a_curve_names_each_series_and_its_axes():
    svg = lines("Utility by epsilon", [("kNN", {8: 0.42, 1: 0.18, 4: 0.28}), ("kNN ceiling", {1: 0.27, 8: 0.59})],
                xlabel="epsilon", ylabel="ratio", log_x=True, ymax=1.0)
    assert ">kNN</text>" in svg and ">kNN ceiling</text>" in svg and ">epsilon</text>" in svg


def test_svg_is_inline_and_self_contained():
    for svg in (bars("b", [("real", {"a": 1.0})]), rank_frequency("r", [("real", [(5, 1), (1, 10)])]),
                lines("l", [("a", {1: 0.5, 2: 0.7})], xlabel="x", ylabel="y"),
                heatmap("h", {"start": {"view": 3}, "view": {"view": 2, "end": 1}})):
        assert svg.startswith("<figure><figcaption>") and "<?xml" not in svg and "<metadata>" not in svg
        assert not re.search(r'(src|href)="(https?:)?//', svg)


def test_each_run_states_its_guarantee():
    dp = DPConf(epsilon=2, delta=1e-5, max_sessions=5)
    s = statement(dp, {p: {"epsilon": part(dp, p).epsilon, "delta": part(dp, p).delta} for p in PARTS})
    line = _privacy_line(s)
    assert "user-level DP, epsilon 2, delta 1e-05 (the default split for epsilon 2: profile 0.3," in line
    assert "network 0.02" in line and "5 sessions" in line
    given = DPConf(epsilon=4, delta=1e-5, split=BudgetSplit(profile=0.3, pairs=0.2, network=0.5))
    line = _privacy_line(statement(given, {p: {"epsilon": part(given, p).epsilon, "delta": part(given, p).delta}
                                           for p in PARTS}))
    assert "(split: profile 0.3, pairs 0.2, network 0.5; composition: sequential;" in line
    joint = {"parts": ["profile", "pairs"], "epsilon": 2.0, "delta": 5e-6}
    line = _privacy_line(statement(given, {p: {"epsilon": part(given, p).epsilon, "delta": part(given, p).delta}
                                           for p in PARTS}, joint=joint))
    assert "composition: sequential;" in line
    composed = {"epsilon": 3.9, "delta": 1e-5}
    line = _privacy_line(statement(given, {p: {"epsilon": part(given, p).epsilon, "delta": part(given, p).delta}
                                           for p in PARTS}, joint=joint, composed=composed))
    assert "epsilon 3.9, delta 1e-05" in line
    assert "composition: one PLD over every mechanism of the release (profile, pairs and network);" in line
    derived = {"rule": "1/(10 x users)", "users_noisy": 17790, "users_upper": 17896}
    dp = DPConf(epsilon=4, delta=5.5e-6)
    spent = {p: {"epsilon": part(dp, p).epsilon, "delta": part(dp, p).delta} for p in PARTS}
    spent["profile"]["delta_from"] = derived
    assert "delta 5.5e-06 = 1/(10 x 17,896 users)" in _privacy_line(statement(dp, spent))
    assert "no DP guarantee" in _privacy_line(None)


def test_the_privacy_section_states_each_runs_guarantee_in_words_and_its_utility_by_epsilon():
    dp = DPConf(epsilon=8, delta=5e-6, max_sessions=4)
    s = statement(dp, {p: {"epsilon": part(dp, p).epsilon, "delta": part(dp, p).delta} for p in PARTS},
                  composed={"epsilon": 7.99, "delta": 5e-6})
    words = _guarantee("eps8", s)
    assert "<b>eps8</b>: user-level differential privacy at epsilon 7.99, delta 5e-06" in words
    assert "at most 4 sessions" in words and "by at most a factor of e^7.99 (about 2,951)" in words
    assert "composed as one PLD over every mechanism" in words
    assert "no formal guarantee" in _guarantee("plain", None)
    runs = {"plain": {"metrics": {"knn_recall_ratio": 0.9, "als_recall_ratio": 0.95}},
            "eps8": {"metrics": {"knn_recall_ratio": 0.6, "als_recall_ratio": 0.7}, "dp": s}}
    [svg] = _privacy_utility({"runs": runs, "utility": {"scores": {}}})
    assert x_axis_labels(svg) == ["eps8 (epsilon 7.99)", "plain (no DP)"]  # by epsilon, no DP last
    assert _privacy_utility({"runs": {"plain": runs["plain"]}, "utility": {"scores": {}}}) == []
