"""Set operations on arrays of passage ids (int64, unique).

numpy 2's np.unique, which np.union1d and np.setdiff1d call, goes through a hash table that
takes seconds on a million ids (4.3 s here, then it sorts anyway); a commit at a million
passages made several such calls. Ids are unique by construction, so these sort (stable: a
run of sorted ids costs one pass) or test membership instead.
"""
from __future__ import annotations

import numpy as np


def unique(ids) -> np.ndarray:
    """Sorted distinct ids (np.unique)."""
    ids = np.sort(np.asarray(ids, dtype=np.int64), kind="stable")
    keep = np.ones(len(ids), dtype=bool)
    np.not_equal(ids[1:], ids[:-1], out=keep[1:])
    return ids[keep]


def union(a, b) -> np.ndarray:
    """Sorted distinct ids in either (np.union1d)."""
    return unique(np.concatenate([np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)]))


def difference(a, b) -> np.ndarray:
    """Ids of `a` (unique) not in `b` (unique), in a's order: sorted where a is (np.setdiff1d)."""
    a = np.asarray(a, dtype=np.int64)
    return a[np.isin(a, np.asarray(b, dtype=np.int64), assume_unique=True, invert=True)]


def runs(sorted_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct values, index of each value among them) of a sorted array: np.unique with
    return_inverse, for input already in order."""
    first = np.ones(len(sorted_values), dtype=bool)
    np.not_equal(sorted_values[1:], sorted_values[:-1], out=first[1:])
    return sorted_values[first], np.cumsum(first) - 1
