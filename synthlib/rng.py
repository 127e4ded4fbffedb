"""Counter-based randomness: every draw is a pure function of (seed, stream, entity, counter).

No generator state is carried between entities, so output does not depend on how entities
are split into partitions or batches, on the executor that runs them or on wall time.
"""
from __future__ import annotations

import bisect
import hashlib
import math

import numpy as np

_U64 = np.uint64
_GOLDEN = _U64(0x9E3779B97F4A7C15)


def stream_key(seed: int, *names: object) -> int:
    """A 64-bit key for one random stream, e.g. stream_key(seed, "simulate", "session")."""
    text = "\x1f".join(str(x) for x in (seed, *names)).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


def mix(x: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each uint64 (the splitmix64 finalizer: a bijection)."""
    # uint64 arithmetic wraps, which is what we want.
    x = (x ^ (x >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> _U64(27))) * _U64(0x94D049BB133111EB)
    return x ^ (x >> _U64(31))


def uniform(key: int, entity, counter) -> np.ndarray:
    """Uniform floats in [0, 1), one per (entity, counter) pair (arrays broadcast)."""
    return entity_uniform(entity_keys(key, entity), counter)


def entity_keys(key: int, entity) -> np.ndarray:
    """The stream's key mixed with each entity: computed once for an entity's many draws,
    `entity_uniform(entity_keys(key, e), c)` is `uniform(key, e, c)`."""
    with np.errstate(over="ignore"):
        return mix(_U64(key) ^ mix(np.asarray(entity, dtype=np.int64).astype(_U64) * _GOLDEN + _U64(1)))


def entity_uniform(keys: np.ndarray, counter) -> np.ndarray:
    """`uniform` from `entity_keys` (arrays broadcast)."""
    with np.errstate(over="ignore"):
        c = np.asarray(counter, dtype=np.int64).astype(_U64)
        x = mix(keys ^ (c * _U64(0xD1B54A32D192ED03) + _GOLDEN))
    return (x >> _U64(11)).astype(np.float64) * (1.0 / (1 << 53))


def normal(key: int, entity, counter) -> np.ndarray:
    """Standard normal draws (Box-Muller over two counter-based uniforms)."""
    c = np.asarray(counter, dtype=np.int64)
    u1 = uniform(key, entity, 2 * c)
    u2 = uniform(key, entity, 2 * c + 1)
    return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)


def pick(cdf, u):
    """Index drawn from an unnormalised cumulative distribution, given uniforms u.

    A scalar u on a Python list takes the fast path (bisect); arrays go through numpy.
    Both give the same index for the same inputs.
    """
    if isinstance(cdf, list):
        return min(bisect.bisect_right(cdf, u * cdf[-1]), len(cdf) - 1)
    idx = np.searchsorted(cdf, np.asarray(u) * cdf[-1], side="right")
    return np.minimum(idx, len(cdf) - 1)


def cdf(weights) -> np.ndarray:
    """The unnormalised cumulative distribution of `weights`, for `pick` and `pick_in`."""
    return np.cumsum(np.asarray(weights, dtype=float))


def pick_in(cdf: np.ndarray, lo: np.ndarray, hi: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Index drawn within [lo, hi) of a cumulative distribution, given uniforms (arrays
    broadcast): one table holds many distributions side by side, e.g. the items of each category."""
    base = np.where(lo > 0, cdf[np.maximum(lo - 1, 0)], 0.0)
    return np.clip(np.searchsorted(cdf, base + u * (cdf[np.maximum(hi - 1, 0)] - base), side="right"), lo, hi - 1)


def pick_rows(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """One index per row of a (rows, n) cumulative table, given one uniform per row."""
    return np.minimum((cdf < (u * cdf[:, -1])[:, None]).sum(1), cdf.shape[1] - 1)


class Tape:
    """Sequential uniforms for one entity, drawn in blocks from the counter-based stream."""

    def __init__(self, key: int, entity: int, block: int = 512):
        self.key, self.entity, self.block, self.next_counter = key, entity, block, 0
        self.buf: list[float] = []
        self.pos = 0

    def __call__(self) -> float:
        if self.pos == len(self.buf):
            self.buf = uniform(self.key, self.entity,
                               np.arange(self.next_counter, self.next_counter + self.block)).tolist()
            self.next_counter += self.block
            self.pos = 0
        self.pos += 1
        return self.buf[self.pos - 1]

    def normal(self) -> float:
        return math.sqrt(-2.0 * math.log1p(-self())) * math.cos(2.0 * math.pi * self())


# -- Spark side: the same principle as columns of a DataFrame ----------------------------
HELD_OUT_BUCKETS = 10_000


def spark_key(seed: int, name: str, *columns):
    """A Spark column keying each row by (seed, stream name, its entity columns): xxhash64,
    the same on any partitioning."""
    from pyspark.sql import functions as F

    return F.xxhash64(F.lit(seed), F.lit(name), *columns)


def held_out(key, share: float):
    """True for the rows whose key falls in the first `share` of the hash buckets: a
    held-out split by hash (validation users, rows), stable whatever the partitioning."""
    from pyspark.sql import functions as F

    return (F.abs(key) % HELD_OUT_BUCKETS) < int(share * HELD_OUT_BUCKETS)
