"""Privacy guards: what generation checks its output against, derived once from the real log.

- Copy keys: a 64-bit key of each real session of at least MIN_COPY_LENGTH item events, over
  its item ids in time order (then id), the sequences the evaluation's copy check compares
  (`sequence_keys`: each item id's key mixed with its place, so the executors key whole
  blocks in numpy). A synthetic session with a real session's key is left out.
- Rare query keys: a 64-bit key of each real search query that fewer than
  `profile.min_query_users` distinct users issued. A generated query with such a key is
  withheld.

`train` computes both from `<output>/ingest/events` and saves them, sorted and pinned by
hash, in `<output>/model/guards`, with the table version and the k they were made for.
Generation broadcasts them and checks each block on the executors as it is sampled: no
join with the real log. Guards made for another version of the log or another k are made
again from the real log when generation starts. The keys are one-way hashes, but of real
sessions and rare strings: the folder is as private as the model beside it.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from synthlib import rng
from synthlib.data.sessions import SEPARATOR, item_sequences, query_users
from synthlib.delta_io import is_delta, table_version
from synthlib.models.artifact import MODEL_JSON, load_artifact, save_artifact

GUARDS = "guards"  # the artifact kind; its folder is conf.layout.model.guards
_COPIES, _QUERIES = "copy_keys.i64", "rare_query_keys.i64"


def text_key(text: str) -> int:
    """A 64-bit key of a string (a collision only leaves out one output more)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big", signed=True)


def _text_keys(texts: pd.Series) -> pd.Series:
    return texts.map(text_key)


def item_keys(item_ids) -> np.ndarray:
    """The key of each item id, as uint64 (what `sequence_keys` combines)."""
    return np.array([text_key(i) for i in item_ids], dtype=np.int64).view(np.uint64)


def sequence_keys(keys: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """One int64 key per sequence, from its items' keys (uint64, sequences one after the
    other, each of length >= 1): each item's key mixed with its place, xor-ed, and the
    length mixed in. Equal sequences give equal keys; order matters."""
    lengths = np.asarray(lengths, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    place = (np.arange(len(keys)) - np.repeat(starts, lengths) + 1).astype(np.uint64)
    with np.errstate(over="ignore"):
        terms = rng.mix(keys ^ rng.mix(place * np.uint64(0x9E3779B97F4A7C15)))
        return rng.mix(np.bitwise_xor.reduceat(terms, starts) ^ lengths.astype(np.uint64)).view(np.int64)


def _sequence_keys(seqs: pd.Series) -> pd.Series:
    items = seqs.str.split(SEPARATOR)
    known: dict[str, int] = {}
    flat = [known.setdefault(i, text_key(i)) for row in items for i in row]
    keys = sequence_keys(np.array(flat, dtype=np.int64).view(np.uint64), items.map(len).to_numpy())
    return pd.Series(keys, index=seqs.index)


def copy_keys(real: DataFrame) -> DataFrame:
    """(key): the distinct keys of the real sessions of at least MIN_COPY_LENGTH item events."""
    return item_sequences(real).select(F.pandas_udf(_sequence_keys, "long")("seq").alias("key")).distinct()


def rare_queries(real: DataFrame, min_users: int) -> DataFrame:
    """(query): the real log's search queries that fewer than `min_users` distinct users issued."""
    return query_users(real).where(F.col("users") < min_users).select("query")


def rare_query_keys(real: DataFrame, min_users: int) -> DataFrame:
    """(key): the keys of `rare_queries`."""
    return rare_queries(real, min_users).select(F.pandas_udf(_text_keys, "long")("query").alias("key")).distinct()


def sorted_keys(keys: DataFrame) -> np.ndarray:
    """The `key` column as a sorted array of unique int64 (8 bytes a key on the driver)."""
    return np.unique(keys.toPandas()["key"].to_numpy(dtype=np.int64))


def contains(keys: np.ndarray, values) -> np.ndarray:
    """Which of `values` (int64; nulls as pandas NA) are among the sorted `keys`."""
    values = pd.array(values, dtype="Int64")
    known = ~values.isna()
    v = values.to_numpy(dtype=np.int64, na_value=0)
    if not len(keys):
        return np.zeros(len(v), dtype=bool)
    i = np.minimum(np.searchsorted(keys, v), len(keys) - 1)
    return known & (keys[i] == v)


@dataclass(frozen=True)
class Guards:
    copy_keys: np.ndarray  # sorted int64
    rare_query_keys: np.ndarray  # sorted int64
    min_query_users: int

    def info(self) -> dict:
        return {"copy_keys": len(self.copy_keys), "rare_query_keys": len(self.rare_query_keys),
                "min_query_users": self.min_query_users}


def make_guards(real: DataFrame, min_query_users: int) -> Guards:
    return Guards(sorted_keys(copy_keys(real)), sorted_keys(rare_query_keys(real, min_query_users)), min_query_users)


def _real(spark: SparkSession, path: str, conf) -> DataFrame:
    if not is_delta(spark, path):
        raise FileNotFoundError(f"the privacy rules of generation need the real training log at {path}; "
                                f"run `synthlib profile --conf {conf.source_file}`")
    return spark.read.format("delta").load(path)


def save_guards(spark: SparkSession, conf) -> dict:
    """Make the guards from the real log and save them to `<output>/model/guards`."""
    path = conf.layout.ingest.events
    guards = make_guards(_real(spark, path, conf), conf.profile.min_query_users)
    spec = {"model": GUARDS, "events_version": table_version(spark, path), **guards.info()}
    save_artifact(conf.layout.model.guards, spec, {_COPIES: guards.copy_keys.astype("<i8").tobytes(),
                                                     _QUERIES: guards.rare_query_keys.astype("<i8").tobytes()})
    return guards.info()


def load_guards(spark: SparkSession, conf) -> Guards:
    """The saved guards when they were made from the current real log with the configured k;
    else made again from the real log (and not saved: generation writes no model files)."""
    path, folder = conf.layout.ingest.events, conf.layout.model.guards
    real, k = _real(spark, path, conf), conf.profile.min_query_users
    if os.path.exists(os.path.join(folder, MODEL_JSON)):
        spec, files = load_artifact(folder, GUARDS)
        if spec["min_query_users"] == k and spec["events_version"] == table_version(spark, path):
            return Guards(np.frombuffer(files[_COPIES], dtype="<i8").astype(np.int64),
                          np.frombuffer(files[_QUERIES], dtype="<i8").astype(np.int64), k)
    return make_guards(real, k)
