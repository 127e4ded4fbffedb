"""The registry: every model kind is trainable, loadable and gives the Synthesizer contract."""
import inspect

from synthlib.models import MODELS, Synthesizer, model_class
from synthlib.train.stage import TRAINERS

CONTRACT = [name for name, _ in inspect.getmembers(Synthesizer, inspect.isfunction) if not name.startswith("_")]


def test_every_kind_is_trained_and_loaded_by_one_entry_each():
    assert set(MODELS) == set(TRAINERS)


def test_every_kind_gives_the_synthesizer_contract():
    assert set(CONTRACT) == {"sample_block", "lookups", "get_info", "to_bytes", "save"}
    for kind in MODELS:
        cls = model_class(kind)
        assert cls.kind == kind
        for name in CONTRACT:
            method = getattr(cls, name)
            assert callable(method) and method is not getattr(Synthesizer, name), (kind, name)
        expected = inspect.signature(Synthesizer.sample_block).parameters
        assert list(inspect.signature(cls.sample_block).parameters)[:6] == list(expected)[:6], kind
