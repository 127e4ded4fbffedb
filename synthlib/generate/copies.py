"""Verbatim copies left out at generation.

A synthetic session of at least `MIN_COPY_LENGTH` item events whose items, in time order,
are those of a real training session (what the evaluation's `copy_share` counts) is left
out of the run. The executors key each block's sessions as they sample them and look the
keys up among the real sessions' keys (synthlib.models.guards), broadcast: no join with the
real log, no second pass over the sampled events. The model itself holds no real session.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from synthlib.data.sessions import MIN_COPY_LENGTH
from synthlib.models.guards import contains, item_keys, sequence_keys

FLAG_DDL = "copy boolean, copy_first boolean"  # the columns `CopyKeys.flag` adds


class CopyKeys:
    """What an executor needs to key a block's sessions: the model's items' keys and their
    order by id (time ties are broken by item id, as `item_sequences` breaks them)."""

    def __init__(self, item_ids: np.ndarray, real_keys: np.ndarray):
        self.item_keys, self.real_keys = item_keys(item_ids), real_keys
        self.item_rank = np.argsort(np.argsort(np.asarray(item_ids, dtype=str), kind="stable"), kind="stable")

    def session_keys(self, codes: pd.DataFrame) -> pd.Series:
        """The copy key of each row's session (null for sessions of fewer than
        MIN_COPY_LENGTH item events)."""
        return self._keys(codes, _sessions(codes)[0])

    def _keys(self, codes: pd.DataFrame, session: np.ndarray) -> pd.Series:
        has_item = (codes["item"] >= 0).to_numpy()
        item, s = codes["item"].to_numpy()[has_item], session[has_item]
        ts = codes["ts"].array.asi8[has_item]
        order = _time_then_id_order(s, ts, self.item_rank[item])
        s, item = s[order], item[order]
        starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]]) if len(s) else np.array([], dtype=np.int64)
        lengths = np.diff(np.r_[starts, len(s)])
        n = session.max() + 1 if len(session) else 0
        keys, keyed = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
        if len(starts):
            long = lengths >= MIN_COPY_LENGTH
            keys[s[starts][long]] = sequence_keys(self.item_keys[item], lengths)[long]
            keyed[s[starts][long]] = True
        return pd.Series(pd.arrays.IntegerArray(keys[session], ~keyed[session]), index=codes.index, name="copy_key")

    def flag(self, codes: pd.DataFrame) -> pd.DataFrame:
        """`codes` (schema.CODES_DDL) with `copy`, true on every row of a session that copies
        a real one, and `copy_first`, true on one row of each."""
        codes = codes.reset_index(drop=True)
        session, first = _sessions(codes)
        copy = contains(self.real_keys, self._keys(codes, session))
        return codes.assign(copy=copy, copy_first=copy & first)


def _sessions(codes: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(an ordinal per row's session, true on its session's first row). Models emit a block
    sorted by user and session, where a session starts wherever the pair changes; other
    blocks are grouped."""
    user, session = codes["user"].to_numpy(), codes["session"].to_numpy()
    step_user, step_session = user[1:] != user[:-1], session[1:] != session[:-1]
    if np.all((user[1:] > user[:-1]) | (~step_user & (session[1:] >= session[:-1]))):
        first = np.r_[np.ones(min(len(user), 1), dtype=bool), step_user | step_session]
        return np.cumsum(first) - 1, first
    return (codes.groupby(["user", "session"], sort=False).ngroup().to_numpy(),
            ~codes.duplicated(["user", "session"]).to_numpy())


def _time_then_id_order(s: np.ndarray, ts: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """The order of rows by session, time, then item rank. Rows already in session and time
    order (as models emit them) are only sorted within their time ties."""
    same = s[1:] == s[:-1]
    if not np.all((s[1:] > s[:-1]) | (same & (ts[1:] >= ts[:-1]))):
        return np.lexsort((rank, ts, s))
    order = np.arange(len(s))
    tie = same & (ts[1:] == ts[:-1])
    if tie.any():
        tied = np.flatnonzero(np.r_[tie, False] | np.r_[False, tie])  # rows in a run of equal times
        order[tied] = tied[np.lexsort((rank[tied], ts[tied], s[tied]))]
    return order
