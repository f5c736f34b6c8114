"""The local backend's set operations on passage ids answer as numpy's (which it avoids for
speed: numpy 2's hash-based unique takes seconds on a million ids)."""
from __future__ import annotations

import numpy as np
import pytest

from kb.backends.local import database as db
from kb.backends.local import idsets


@pytest.mark.parametrize("seed", range(5))
def test_id_set_operations_equal_numpys(seed):
    rng = np.random.default_rng(seed)
    a = np.sort(rng.choice(10_000, size=rng.integers(0, 3000), replace=False)).astype(np.int64)
    b = np.sort(rng.choice(10_000, size=rng.integers(0, 3000), replace=False)).astype(np.int64)
    assert np.array_equal(idsets.difference(a, b), np.setdiff1d(a, b))
    assert np.array_equal(idsets.union(a, b), np.union1d(a, b))
    shuffled = rng.permutation(np.concatenate([a, a[: len(a) // 2]]))
    assert np.array_equal(idsets.unique(shuffled), np.unique(shuffled))
    values = np.sort(rng.integers(0, 50, size=200))
    distinct, inverse = idsets.runs(values)
    expected, expected_inverse = np.unique(values, return_inverse=True)
    assert np.array_equal(distinct, expected) and np.array_equal(inverse, expected_inverse)
    assert np.array_equal(distinct[inverse], values)


def test_passage_ids_come_back_ascending_from_the_database(tmp_path):
    import sqlite3

    conn = sqlite3.connect(tmp_path / "ids.sqlite")
    conn.execute("CREATE TABLE passages (id INTEGER PRIMARY KEY)")
    assert db.passage_ids(conn).tolist() == []
    conn.executemany("INSERT INTO passages (id) VALUES (?)", [(i,) for i in (5, 3, 2**40, 1, 99)])
    conn.execute("DELETE FROM passages WHERE id = 3")
    ids = db.passage_ids(conn)
    assert ids.dtype == np.int64 and ids.tolist() == [1, 5, 99, 2**40]
