import pytest

from synthlib.config import BudgetSplit, ConfigError, DPConf, load_config
from synthlib.dp.budget import (PARTS, composed_epsilon, composition, delta_for, joint_part, network_noise, part,
                                plan_noise, statement, with_delta)


def test_parts_share_the_total():
    dp = DPConf(epsilon=4.0, delta=1e-5)
    parts = [part(dp, p) for p in PARTS]
    assert sum(p.epsilon for p in parts) == pytest.approx(4.0)
    assert sum(p.delta for p in parts) == pytest.approx(1e-5)
    assert part(dp, "network").epsilon == pytest.approx(4.0 * dp.shares.network)


def test_statement_composes_and_refuses_an_overspend():
    dp = DPConf(epsilon=2.0, delta=1e-5)
    spent = {p: {"epsilon": part(dp, p).epsilon, "delta": part(dp, p).delta} for p in PARTS}
    spent["network"]["epsilon"] *= 0.9  # DP-SGD's accountant may spend a little less than its part
    s = statement(dp, spent)
    assert s["epsilon"] == pytest.approx(2.0 - 0.1 * part(dp, "network").epsilon) and s["epsilon"] <= 2.0
    assert s["bounds"]["max_sessions"] == dp.max_sessions and set(s["split"]) == set(PARTS)
    with pytest.raises(ValueError, match="over the budget"):
        statement(dp, {**spent, "network": {"epsilon": 2.0, "delta": 0.0}})
    with pytest.raises(ValueError, match=r"no spend recorded for \['pairs'\]"):
        statement(dp, {k: v for k, v in spent.items() if k != "pairs"})


def test_the_default_split_gives_the_profile_enough_at_a_low_total_and_the_pairs_the_most():
    for total in (4.0, 8.0, 100.0):  # at least 0.3 of a large total; the network 0.02 set aside
        split = BudgetSplit.for_epsilon(total)
        assert split.profile == 0.3 and split.network == 0.02 and split.pairs == pytest.approx(0.68)
    low = BudgetSplit.for_epsilon(1.0)
    assert low.profile == 0.6 and low.pairs == pytest.approx(0.38)  # at most 0.6 of a small total
    mid = BudgetSplit.for_epsilon(1.8)
    assert mid.profile * 1.8 == pytest.approx(0.6, abs=1e-5)
    assert mid.profile + mid.pairs + mid.network == pytest.approx(1)
    shares = [BudgetSplit.for_epsilon(e).profile for e in (0.5, 1, 2, 3, 4, 6, 8, 16)]
    assert shares == sorted(shares, reverse=True)


def _released(dp: DPConf, users_epsilon: float = 0.05) -> dict:
    """A private profile's joint plan record at the default split (nine histograms, the items
    selected by threshold, the pairs)."""
    shares = dp.shares
    weights = {**{f"histogram{i}": shares.profile * 0.05 for i in range(9)}, "items": shares.profile * 0.55,
               "pairs": shares.pairs}
    joint = joint_part(dp, users_epsilon)
    plan = plan_noise(joint.epsilon, joint.delta, weights, thresholding=["items"])
    return {**plan.record(), "users_counted_first": users_epsilon}


@pytest.mark.parametrize("epsilon", [1.0, 8.0])
def test_the_network_takes_what_the_release_leaves_under_one_accountant(epsilon):
    from opacus.accountants.utils import get_noise_multiplier
    dp = DPConf(epsilon=epsilon, delta=5e-6)
    joint, q, steps = _released(dp), 0.0064, 300
    z = network_noise(dp, joint, q, steps)
    whole = composition(dp, joint, z, q, steps)
    assert whole["epsilon"] <= epsilon and whole["epsilon"] == pytest.approx(epsilon, rel=0.01)
    assert whole["delta"] == dp.delta and whole["network"] == {"noise_multiplier": round(z, 6), "sample_rate": q,
                                                               "steps": steps}
    assert composition(dp, joint, z * 0.98, q, steps)["epsilon"] > epsilon  # the least noise that fits
    # The network's share alone, spent sequentially, needs more noise than composing it does.
    network = part(dp, "network")
    alone = get_noise_multiplier(target_epsilon=network.epsilon, target_delta=network.delta, sample_rate=q,
                                 steps=steps, accountant="prv", epsilon_tolerance=0.01)
    assert z < alone / 2


def test_a_release_that_left_nothing_names_the_share_to_give():
    dp = DPConf(epsilon=1.0, delta=5e-6)
    spent_all = {**_released(dp), "noise_multipliers": {"items": 0.5}}
    with pytest.raises(ValueError, match="nothing is left for the network; give train.dp.split.network"):
        network_noise(dp, spent_all, 0.01, 100)


def test_the_statement_of_a_composed_release_is_its_one_epsilon():
    dp = DPConf(epsilon=8.0, delta=5e-6)
    joint = _released(dp)
    spent = {p: {"epsilon": part(dp, p).epsilon, "delta": part(dp, p).delta} for p in PARTS}
    spent["network"]["epsilon"] = 3.0  # DP-SGD alone at its low noise: more than its share
    composed = composition(dp, joint, network_noise(dp, joint, 0.0064, 300), 0.0064, 300)
    s = statement(dp, spent, joint=joint, composed=composed)
    assert s["epsilon"] == composed["epsilon"] <= 8.0 and s["composition"].startswith("one PLD")
    with pytest.raises(ValueError, match="over the budget"):
        statement(dp, spent, joint=joint, composed=composition(dp, joint, 0.3, 0.0064, 300))


def test_a_configured_split_wins_and_the_statement_says_which():
    given = DPConf(epsilon=1.0, delta=1e-5, split=BudgetSplit(profile=0.3, pairs=0.2, network=0.5))
    derived = DPConf(epsilon=1.0, delta=1e-5)
    assert part(given, "profile").epsilon == pytest.approx(0.3)
    assert part(derived, "profile").epsilon == pytest.approx(0.6)
    for dp, source in ((given, "train.dp.split"), (derived, "the total epsilon")):
        spent = {p: {"epsilon": part(dp, p).epsilon, "delta": part(dp, p).delta} for p in PARTS}
        s = statement(dp, spent)
        assert s["split"]["profile"] == dp.shares.profile and s["split_from"].startswith(source)


def test_a_split_that_does_not_sum_to_one_names_the_fix(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train: {dp: {epsilon: 1, split: {profile: 0.5, pairs: 0.5, network: 0.5}}}\n")
    with pytest.raises(ConfigError, match="train.dp.split.*make profile \\+ pairs \\+ network = 1"):
        load_config(str(path))


def test_the_derived_delta_is_a_tenth_of_one_users_share_of_an_upper_bound():
    # noisy count 17,790 at epsilon 0.05: the bound adds 5 noise scales (100 users)
    assert delta_for(17790, 0.05) == 5.5e-6 and delta_for(17790, 0.05) <= 1 / (10 * 17890)
    assert delta_for(0, 0.05) == 1e-3  # no user counted: the bound alone
    assert delta_for(1e9, 1.0) == 9.9e-11  # rounded down: 1e9 + 5 users


def test_training_takes_the_delta_its_profile_was_released_under():
    assert with_delta(DPConf(epsilon=1), {"delta": 2.5e-6}).delta == 2.5e-6
    assert with_delta(DPConf(epsilon=1, delta=1e-6), {"delta": 1e-6}).delta == 1e-6
    with pytest.raises(ValueError, match="released under 2.5e-06; rerun `synthlib profile`"):
        with_delta(DPConf(epsilon=1, delta=1e-6), {"delta": 2.5e-6})
    with pytest.raises(ValueError, match="delta is not set yet"):
        part(DPConf(epsilon=1), "network")


def test_the_pld_accountant_matches_the_gaussian_mechanisms_closed_form():
    # Gaussians compose as one Gaussian with 1/z^2 the sum of theirs; a Gaussian's exact
    # epsilon at delta is the analytic one (PipelineDP's gaussian_epsilon)
    from pipeline_dp.dp_computations import gaussian_epsilon
    assert composed_epsilon([2.0], 1e-6) == pytest.approx(gaussian_epsilon(2.0, 1e-6), rel=0.01)
    assert composed_epsilon([3.0, 4.0], 1e-6) == pytest.approx(composed_epsilon([2.4], 1e-6), rel=0.01)


def test_a_noise_plan_spends_its_budget_and_needs_less_noise_than_splitting_it():
    from pipeline_dp.dp_computations import compute_sigma
    weights = {**{f"histogram{i}": 0.015 for i in range(9)}, "items": 0.12, "pairs": 0.585}
    plan = plan_noise(7.6, 5e-6, weights, thresholding=["items"])
    assert plan.composed_epsilon <= 7.6 and plan.composed_epsilon == pytest.approx(7.6, rel=0.01)
    assert plan.thresholding_delta == pytest.approx(0.25 * 5e-6)
    z = plan.multipliers
    assert z["histogram0"] / z["pairs"] == pytest.approx((0.585 / 0.015) ** 0.5)
    total = sum(weights.values())  # the same shares of epsilon and delta, split without composing
    split = {k: compute_sigma(7.6 * w / total, 5e-6 * 0.75 * w / total, 1.0) for k, w in weights.items()}
    assert all(z[k] < split[k] for k in weights)
    assert z["histogram0"] < split["histogram0"] / 5 and z["items"] < split["items"] / 2
