import pytest

from synthlib.dp.aggregate import Release
from synthlib.dp.budget import Part, plan_noise


@pytest.fixture(scope="module")
def rows(spark):
    # 2,000 users, each one row: 98% views, 2% carts, no search
    return spark.createDataFrame([(f"u{i}", "cart" if i % 50 == 0 else "view") for i in range(2000)],
                                 "user_id string, key string")


def test_a_public_key_no_user_holds_is_released_as_none(spark, rows):
    release = Release(spark, plan_noise(2.0, 1e-6, {"types": 1.0, "items": 1.0}, thresholding=["items"]))
    release.count("types", rows, keys=["view", "cart", "search"], max_keys=0, max_rows=1, floor=True)
    release.count("items", rows, max_keys=1, users=True)
    found = release.compute()
    assert found["types"]["search"] == 0.0  # its noise is under the floor
    assert found["types"]["view"] == pytest.approx(1960, abs=100) and found["types"]["cart"] > 0
    assert set(found["items"]) <= {"view", "cart"} and "view" in found["items"]
    assert release.spent()["noise"] == "gaussian"
    planned = release.accountant.plan.multipliers
    assert release.accountant.specs["types"].noise_standard_deviation == planned["types"]
    assert release.spent()["aggregations"]["items"]["noise_multiplier"] == pytest.approx(planned["items"], abs=1e-6)


def test_an_aggregation_outside_the_plan_is_refused(spark, rows):
    release = Release(spark, plan_noise(2.0, 1e-6, {"types": 1.0}))
    with pytest.raises(ValueError, match="'other' is not in the noise plan"):
        release.count("other", rows, keys=["view"], max_keys=0, max_rows=1)
    with pytest.raises(ValueError, match="'types' was planned with the wrong kind"):
        release.count("types", rows, max_keys=1, users=True)  # a thresholding one, planned without


def test_a_histogram_under_its_floor_keeps_a_shape_and_keys_do_not(spark, rows):
    # At epsilon 0.01 the noise is thousands of users: every bin is under the floor.
    release = Release(spark, plan_noise(0.01, 1e-6, {"shape": 1.0, "keys": 1.0}))
    keys = ["view", "cart", "search"]
    release.count("shape", rows, keys=keys, max_keys=0, max_rows=1, floor="shape")
    release.count("keys", rows, keys=keys, max_keys=0, max_rows=1, floor=True)
    found = release.compute()
    assert any(found["shape"].values())  # its noisy counts, so that a small log still gets a shape
    assert sum(1 for n in found["keys"].values() if n) <= 1  # each key clears the floor 0.13% of the time


def test_a_part_without_delta_counts_with_laplace_noise(spark, rows):
    release = Release(spark, Part("users", 0.5, 0.0))
    release.count("users", rows.selectExpr("user_id", "'all' AS key"), keys=["all"], max_keys=1, users=True)
    assert release.compute()["users"]["all"] == pytest.approx(2000, abs=60)  # scale 2: 60 is 30 scales
    assert release.spent()["noise"] == "laplace" and release.spent()["delta"] == 0.0


def test_a_key_one_user_alone_holds_comes_out_no_more_than_noise(spark):
    # 1,000 trials in one release: 1,000 users each alone with an item (selected privately)
    # and a pair (a public key, floored), beside 10 items and pairs 300 users share each, and
    # 990 keys no user holds, at epsilon 1.6 shared evenly.
    shared = [(f"u{i}", f"popular{i % 10}") for i in range(3000)]
    alone = [(f"s{i}", f"alone{i}") for i in range(1000)]
    rows = spark.createDataFrame(shared + alone, "user_id string, key string")
    release = Release(spark, plan_noise(1.6, 1e-6, {"items": 1.0, "pairs": 1.0}, thresholding=["items"]))
    release.count("items", rows, max_keys=8, users=True)
    keys = [f"popular{i}" for i in range(10)] + [f"alone{i}" for i in range(1000)] + [f"none{i}" for i in range(990)]
    release.count("pairs", rows, max_keys=16, users=True, keys=keys, floor=True)
    found = release.compute()
    assert all(found["items"].get(f"popular{i}", 0) > 0 and found["pairs"][f"popular{i}"] > 0 for i in range(10))
    assert not any(k.startswith("alone") for k in found["items"])  # partition selection: at delta's rate
    # A public key's count is noisy, not selected: one user's key clears the floor about as
    # rarely as a key no user holds, which 2,000 keys let through once a release on average.
    released = [k for k, n in found["pairs"].items() if n > 0 and not k.startswith("popular")]
    assert len(released) <= 4, released  # expected about 1: 5 or more in 0.4% of runs
    assert release.spent()["aggregations"]["pairs"]["noise_floor"] == pytest.approx(3.29, abs=0.01)


def test_a_planned_threshold_draws_the_planned_noise():
    # PyDP takes partition selection by (epsilon, delta): the planned accountant converts the
    # planned multiplier, and the noise drawn is that multiplier times sqrt(keys a user holds)
    import numpy as np
    from pipeline_dp.aggregate_params import MechanismType
    from pipeline_dp.partition_selection import create_partition_selection_strategy
    from synthlib.dp.aggregate import PlannedAccountant

    accountant = PlannedAccountant(plan_noise(2.0, 1e-6, {"items": 1.0}, thresholding=["items"]))
    accountant.current = "items"
    spec = accountant.request_budget(MechanismType.GAUSSIAN_THRESHOLDING)
    accountant.compute_budgets()
    strategy = MechanismType.GAUSSIAN_THRESHOLDING.to_partition_selection_strategy()
    selection = create_partition_selection_strategy(strategy, spec.eps, spec.delta, 3)
    drawn = np.array([selection.noised_value_if_should_keep(1000) for _ in range(4000)], dtype=float)
    assert drawn.std() == pytest.approx(accountant.plan.multipliers["items"] * 3 ** 0.5, rel=0.05)
