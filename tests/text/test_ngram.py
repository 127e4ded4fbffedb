from synthlib.text.ngram import NgramConfig, NgramText

TEXTS = ["red sofa", "blue sofa", "red sofa bed", "grey sofa", "desk lamp", "floor lamp", "jane doe 12 elm st"]
CATS = ["sofa", "sofa", "sofa", "sofa", "lamp", "lamp", "rare"]


def test_strings_follow_the_category_and_are_reproducible():
    model = NgramText(NgramConfig(category_weight=1.0)).fit(TEXTS, CATS)
    sofas = model.sample("sofa", 30, seed=3)
    assert sofas == model.sample("sofa", 30, seed=3) != model.sample("sofa", 30, seed=4)
    assert {w for s in sofas for w in s.split()} <= {"red", "blue", "grey", "sofa", "bed"}
    assert {w for s in model.sample("lamp", 10, seed=3) for w in s.split()} <= {"desk", "floor", "lamp"}


def test_blocked_strings_are_never_returned():
    model = NgramText(NgramConfig(category_weight=1.0)).fit(TEXTS, CATS)
    rare = "jane doe 12 elm st"  # its category's only string
    assert rare in model.sample("rare", 50, seed=1)
    assert rare not in model.sample("rare", 50, seed=1, blocked={rare})
    blocked = {"red sofa", "blue sofa"}
    assert not set(model.sample("sofa", 50, seed=1, blocked=blocked)) & blocked
