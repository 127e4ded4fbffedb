"""Petastorm batches: every row once per epoch, a seeded order, the same as from memory."""
import torch

from synthlib.train.loader import PetastormSource, memory_batches, shuffled


def _rows(spark, n=2500):
    return spark.range(n).selectExpr("id AS key", "array(id, id * 2) AS pair", "cast(id % 7 AS int) AS small")


def test_petastorm_epochs_are_complete_seeded_and_match_memory(spark, tmp_path):
    with PetastormSource(spark, _rows(spark), cache_dir=str(tmp_path), columns=["key", "pair", "small"],
                         order_by=["key"]) as src:
        assert len(src) == 2500
        epoch0 = list(src.batches(batch_size=300, seed=1, epoch=0))
        keys = torch.cat([b["key"] for b in epoch0])
        assert sorted(keys.tolist()) == list(range(2500))  # each row exactly once
        assert [len(b["key"]) for b in epoch0][:8] == [300] * 8
        first = epoch0[0]
        assert torch.equal(first["pair"][:, 1], first["key"] * 2) and first["pair"].dtype == torch.long
        again = torch.cat([b["key"] for b in src.batches(batch_size=300, seed=1, epoch=0)])
        assert torch.equal(keys, again)
        other = torch.cat([b["key"] for b in src.batches(batch_size=300, seed=1, epoch=1)])
        assert not torch.equal(keys, other)
        memory = src.to_memory()
        assert sorted(memory["key"].tolist()) == list(range(2500))
    rows = {"key": torch.arange(2500), "pair": torch.stack([torch.arange(2500), torch.arange(2500) * 2], 1),
            "small": torch.arange(2500) % 7}
    from_memory = torch.cat([b["key"] for b in memory_batches(rows, batch_size=300, seed=1, epoch=0)])
    assert torch.equal(from_memory, keys)  # same rows, same seed: the same order from either source


def test_shuffle_buffer_is_bounded_and_keeps_every_row():
    chunks = ({"x": torch.arange(i, i + 100)} for i in range(0, 1000, 100))
    out = list(shuffled(chunks, batch_size=64, seed=3, epoch=0, buffer_rows=256))
    flat = torch.cat([b["x"] for b in out])
    assert sorted(flat.tolist()) == list(range(1000)) and not torch.equal(flat, torch.arange(1000))
    assert all(len(b["x"]) == 64 for b in out[:-1])
