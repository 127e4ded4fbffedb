"""The text model trained through the real Petastorm loader on a small regular corpus."""
import pytest

from synthlib.fit import FitConfig
from synthlib.models.text import TextConfig, TextModel
from synthlib.text_learn import TEXT_DDL, train_text

COLORS = ["red", "blue", "grey", "green", "black", "white"]


@pytest.fixture(scope="module")
def model(spark, tmp_path_factory):
    rows = [(f"{c} {kind}", kind, brand, price) for _ in range(12) for c in COLORS
            for kind, brand, price in (("sofa", "acme", 500.0), ("lamp", "lumo", 30.0))]
    rows.append(("jane doe 12 elm st", "rare", None, None))
    frame = spark.createDataFrame(rows, TEXT_DDL)
    cfg = TextConfig(vocab_size=40, dim=32, dropout=0.0, max_pieces=12, price_bands=2)
    fit = FitConfig(epochs=12, lr=1e-2, patience=12, max_minutes=2, seed=3, progress=False)
    return train_text(spark, frame, cfg, fit, cache_dir=str(tmp_path_factory.mktemp("text") / "cache"), seed=3,
                      batch_size=8)


def _sample(model, n, category, **kw):
    return model.sample(list(range(n)), [category] * n, seed=5, **kw)


def test_training_through_the_loader_learns_the_categories(model):
    t = model.spec["training"]
    assert t["strings"]["train"] + t["strings"]["validation"] == 12 * 12 + 1
    assert t["history"][-1]["train_nll"] < t["history"][0]["train_nll"]
    sofas, lamps = _sample(model, 60, "sofa"), _sample(model, 60, "lamp")
    assert sum("sofa" in s for s in sofas) > 45 and sum("sofa" in s for s in lamps) < 15


def test_sampling_is_reproducible_and_survives_save_and_load(model, tmp_path):
    model.save(str(tmp_path / "m"))
    again = TextModel.load(str(tmp_path / "m"))
    assert _sample(model, 20, "sofa") == _sample(again, 20, "sofa")
    assert _sample(model, 20, "sofa") != model.sample(list(range(20)), ["sofa"] * 20, seed=6)


def test_blocked_strings_are_never_emitted(model):
    known = {f"{c} sofa" for c in COLORS}
    assert set(_sample(model, 60, "sofa")) & known  # the model does reproduce them ...
    blocked = _sample(model, 60, "sofa", blocked=known)
    assert not set(blocked) & known  # ... but not once they are blocked
    assert all(s is None or s for s in blocked)
