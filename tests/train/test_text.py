"""The text model trained through the real Petastorm loader on a small regular corpus
(the `text_model` fixture in conftest)."""
from synthlib.text.model import TextModel
from synthlib.train.text import unseen_conditions
from tests.helpers import COLORS


def _sample(model, n, category, **kw):
    return model.sample(list(range(n)), [category] * n, seed=5, **kw)


def test_training_through_the_loader_learns_the_categories(text_model):
    t = text_model.spec["training"]
    assert t["strings"]["train"] + t["strings"]["validation"] == 12 * 12 + 1
    assert t["history"][-1]["train_nll"] < t["history"][0]["train_nll"]
    assert 0.2 < text_model.spec["temperature"] < 1.5
    sofas, lamps = _sample(text_model, 60, "sofa"), _sample(text_model, 60, "lamp")
    assert sum("sofa" in s for s in sofas) > 45 and sum("sofa" in s for s in lamps) < 15


def test_sampling_is_reproducible_and_survives_save_and_load(text_model, tmp_path):
    text_model.save(str(tmp_path / "m"))
    again = TextModel.load(str(tmp_path / "m"))
    assert _sample(text_model, 20, "sofa") == _sample(again, 20, "sofa")
    assert _sample(text_model, 20, "sofa") != text_model.sample(list(range(20)), ["sofa"] * 20, seed=6)


def test_blocked_strings_are_never_emitted(text_model):
    known = {f"{c} sofa" for c in COLORS}
    assert set(_sample(text_model, 60, "sofa")) & known  # the model does reproduce them ...
    blocked = _sample(text_model, 60, "sofa", blocked=known)
    assert not set(blocked) & known  # ... but not once they are blocked
    assert all(s is None or s for s in blocked)


def test_calibration_asks_with_unseen_conditions_category_by_category():
    real = [{"text": t, "category": c} for t, c in
            (("red sofa", "sofa"), ("blue sofa", "sofa"), ("green sofa", "sofa"), ("red lamp", "lamp"))]
    unseen = [{"text": "teal sofa", "category": "sofa", "brand": "a", "price": 1.0},
              {"text": "pink sofa", "category": "sofa", "brand": "b", "price": 2.0}]
    asked = unseen_conditions(real, unseen)
    assert [(r["category"], r["brand"], r["price"]) for r in asked] == [
        ("sofa", "a", 1.0), ("sofa", "b", 2.0), ("sofa", "a", 1.0), ("lamp", None, None)]  # no unseen lamp
