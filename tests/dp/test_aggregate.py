import pytest

from synthlib.dp.aggregate import Release
from synthlib.dp.budget import Part


@pytest.fixture(scope="module")
def rows(spark):
    # 2,000 users, each one row: 98% views, 2% carts, no search
    return spark.createDataFrame([(f"u{i}", "cart" if i % 50 == 0 else "view") for i in range(2000)],
                                 "user_id string, key string")


def test_a_public_key_no_user_holds_is_released_as_none(spark, rows):
    release = Release(spark, Part("profile", 2.0, 1e-6))
    release.count("types", rows, keys=["view", "cart", "search"], max_keys=0, max_rows=1, floor=True)
    release.count("items", rows, max_keys=1, users=True)
    found = release.compute()
    assert found["types"]["search"] == 0.0  # its noise is under the floor
    assert found["types"]["view"] == pytest.approx(1960, abs=100) and found["types"]["cart"] > 0
    assert set(found["items"]) <= {"view", "cart"} and "view" in found["items"]
    assert release.spent()["noise"] == "gaussian"


def test_a_part_without_delta_counts_with_laplace_noise(spark, rows):
    release = Release(spark, Part("users", 0.5, 0.0))
    release.count("users", rows.selectExpr("user_id", "'all' AS key"), keys=["all"], max_keys=1, users=True)
    assert release.compute()["users"]["all"] == pytest.approx(2000, abs=60)  # scale 2: 60 is 30 scales
    assert release.spent()["noise"] == "laplace" and release.spent()["delta"] == 0.0
