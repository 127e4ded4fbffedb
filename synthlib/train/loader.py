"""Training batches from a Spark DataFrame through Petastorm, or from tensors in memory.

Every use of Petastorm lives here, so the reader can be swapped without touching models.
Both sources yield the same batches for the same rows and seed: rows are read in a fixed
order (no reader threads, no row-group shuffling) and shuffled by a seeded buffer here.
"""
from __future__ import annotations

import os
import warnings
from typing import Iterable, Iterator

import numpy as np
import torch

Batch = dict[str, torch.Tensor]
# Petastorm 0.12 uses pyarrow's legacy dataset API (hence the pyarrow 14 pin) and warns on every read.
warnings.filterwarnings("ignore", category=FutureWarning, module=r"petastorm(\.|$)")


def _as_tensor(values) -> torch.Tensor:
    t = values if isinstance(values, torch.Tensor) else torch.as_tensor(np.asarray(values))
    return t.long() if not t.is_floating_point() else t


def shuffled(chunks: Iterable[Batch], *, batch_size: int, seed: int, epoch: int,
             buffer_rows: int = 8192) -> Iterator[Batch]:
    """Seeded shuffle of a row stream through a bounded buffer, re-cut into batches.

    The permutation depends on (seed, epoch) and the order of the incoming rows only.
    """
    gen = np.random.default_rng([seed, epoch])
    buffer: list[Batch] = []
    held = 0

    def drain(final: bool) -> Iterator[Batch]:
        nonlocal buffer, held
        if not buffer:
            return
        rows = {k: torch.cat([b[k] for b in buffer]) for k in buffer[0]}
        order = torch.as_tensor(gen.permutation(held))
        keep = held if final else held - held % batch_size
        for i in range(0, keep, batch_size):
            yield {k: v[order[i:i + batch_size]] for k, v in rows.items()}
        rest = order[keep:]
        buffer = [{k: v[rest] for k, v in rows.items()}] if len(rest) else []
        held = len(rest)

    for chunk in chunks:
        buffer.append({k: _as_tensor(v) for k, v in chunk.items()})
        held += len(next(iter(buffer[-1].values())))
        if held >= buffer_rows:
            yield from drain(False)
    yield from drain(True)


def memory_batches(rows: Batch, *, batch_size: int, seed: int, epoch: int) -> Iterator[Batch]:
    """The same batches as `PetastormSource.batches`, from tensors already in memory."""
    n = len(next(iter(rows.values())))
    step = 1024
    return shuffled(({k: v[i:i + step] for k, v in rows.items()} for i in range(0, n, step)),
                    batch_size=batch_size, seed=seed, epoch=epoch)


class PetastormSource:
    """A DataFrame materialised once by Petastorm's Spark converter, read back per epoch.

    Use as a context manager; the cached Parquet copy is deleted on exit.
    """

    def __init__(self, spark, df, *, cache_dir: str, columns: list[str], order_by: list[str]):
        from petastorm.spark import SparkDatasetConverter, make_spark_converter

        os.makedirs(cache_dir, exist_ok=True)
        spark.conf.set(SparkDatasetConverter.PARENT_CACHE_DIR_URL_CONF, "file://" + os.path.abspath(cache_dir))
        # A fixed row order in one file, so that reading back is deterministic.
        ordered = df.orderBy(*order_by).select(*columns).coalesce(1)
        self.converter = make_spark_converter(ordered, dtype=None)
        self.columns = columns

    def __len__(self) -> int:
        return len(self.converter)

    def batches(self, *, batch_size: int, seed: int, epoch: int) -> Iterator[Batch]:
        with self.converter.make_torch_dataloader(
                batch_size=1024, num_epochs=1, workers_count=1, reader_pool_type="dummy",
                shuffle_row_groups=False, shuffling_queue_capacity=0) as loader:
            yield from shuffled(({k: batch[k] for k in self.columns} for batch in loader),
                                batch_size=batch_size, seed=seed, epoch=epoch)

    def to_memory(self) -> Batch:
        """All rows as tensors (the in-memory baseline of the loader benchmark)."""
        parts = list(self.batches(batch_size=1 << 30, seed=0, epoch=0))
        return parts[0] if parts else {}

    def close(self) -> None:
        self.converter.delete()

    def __enter__(self) -> "PetastormSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
