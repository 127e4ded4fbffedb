"""Verbatim copies left out at generation.

A synthetic session of at least `MIN_COPY_LENGTH` item events whose items, in time order,
are those of a real training session (what the evaluation's `copy_share` counts) is left
out of the run. Both sides are keyed by the same hash of the item ids in order: the
executors key each block's sessions as they sample them, Spark keys the real training
sessions, and a join drops the matches without a second pass over the sampled events. The
model itself holds no real session.
"""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from synthlib.data.sessions import MIN_COPY_LENGTH, SEPARATOR, item_sequences

KEY_DDL = "copy_key long, copy_first boolean"


def sequence_key(seq: str) -> int:
    """A 64-bit key of item ids joined by SEPARATOR (a collision only drops a session more)."""
    return int.from_bytes(hashlib.blake2b(seq.encode(), digest_size=8).digest(), "big", signed=True)


def key_block(codes: pd.DataFrame, item_ids: np.ndarray) -> pd.DataFrame:
    """`codes` (schema.CODES_DDL) with copy_key, its session's key on each of its rows (null
    for sessions of fewer than MIN_COPY_LENGTH item events), and copy_first, true on one row
    of each keyed session. Items are ordered by time, then id, as `item_sequences` orders them."""
    codes = codes.reset_index(drop=True)
    has_item = codes["item"] >= 0
    rows = (codes.loc[has_item, ["user", "session", "ts"]].assign(id=item_ids[codes["item"][has_item]])
            .sort_values(["user", "session", "ts", "id"], kind="stable"))
    seqs = rows.groupby(["user", "session"], sort=False)["id"].agg([SEPARATOR.join, "size"])
    seqs = seqs[seqs["size"] >= MIN_COPY_LENGTH]
    keys = pd.Series([sequence_key(s) for s in seqs["join"]], index=seqs.index, dtype="Int64", name="copy_key")
    codes = codes.join(keys, on=["user", "session"])
    codes["copy_key"] = codes["copy_key"].astype("Int64")
    codes["copy_first"] = codes["copy_key"].notna() & ~codes.duplicated(["user", "session"])
    return codes


def _keys(seqs: pd.Series) -> pd.Series:
    return seqs.map(sequence_key)


def training_keys(real: DataFrame) -> DataFrame:
    """(copy_key): the distinct keys of the real sessions of at least MIN_COPY_LENGTH item events."""
    return item_sequences(real).select(F.pandas_udf(_keys, "long")("seq").alias("copy_key")).distinct()
