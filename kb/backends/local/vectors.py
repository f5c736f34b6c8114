"""The FAISS side: which index to build, building it, atomic files, filtered search.

Indexes map FAISS rows to passage ids (IndexIDMap2), so search answers in passage ids and
every kind can hand its vectors back for the next generation without re-embedding.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ...files import fsync

HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 512  # recall@10 vs exact: 0.99 at 100k with 128, but 1M needs ~512 (bench/query_latency.py)
EXACT_FILTER_LIMIT = 50_000  # filtered HNSW searches below this many allowed ids go exact


def faiss():
    import faiss as _faiss

    return _faiss


def choose_kind(n: int, setting: str, threshold: int) -> str:
    """Exact search while it is fast enough; HNSW beyond `threshold` passages."""
    if setting != "auto":
        return setting
    return "flat" if n < threshold else "hnsw"


def build(ids: np.ndarray, vectors: np.ndarray, dim: int, kind: str):
    f = faiss()
    if kind == "flat":
        inner = f.IndexFlatIP(dim)
    elif kind == "hnsw":
        inner = f.IndexHNSWFlat(dim, HNSW_M, f.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        inner.hnsw.efSearch = HNSW_EF_SEARCH
    else:
        raise ValueError(f"unknown index kind {kind!r}")
    index = f.IndexIDMap2(inner)
    if len(ids):
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))
    return index


def kind_of(index) -> str:
    inner = faiss().downcast_index(index.index)
    return "hnsw" if "HNSW" in type(inner).__name__ else "flat"


def contents(index) -> tuple[np.ndarray, np.ndarray]:
    """All (passage ids, vectors) held by an index."""
    f = faiss()
    n = index.ntotal
    ids = f.vector_to_array(index.id_map).astype(np.int64)
    vectors = index.index.reconstruct_n(0, n) if n else np.zeros((0, index.d), dtype=np.float32)
    return ids, vectors


def ids_of(index) -> np.ndarray:
    return faiss().vector_to_array(index.id_map).astype(np.int64)


def write(index, path: Path) -> None:
    """Write beside the target, fsync, rename: a reader sees the old file or the new one."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as out:  # written through Python: a full disk is an OSError, not a line on stderr
        f = faiss()
        writer = f.PyCallbackIOWriter(out.write)
        try:
            f.write_index(index, writer)
        finally:
            del writer
    fsync(tmp)
    os.replace(tmp, path)
    fsync(path.parent)


def read(path: Path, mmap: bool = False):
    f = faiss()
    flags = f.IO_FLAG_MMAP | f.IO_FLAG_READ_ONLY if mmap else 0
    index = f.read_index(str(path), flags)  # already downcast to IndexIDMap2
    if kind_of(index) == "hnsw":
        # The file keeps the efSearch it was built with; the current setting wins.
        f.downcast_index(index.index).hnsw.efSearch = HNSW_EF_SEARCH
    return index


def search(index, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top k (scores, passage ids); `allowed` restricts the search to those passage ids."""
    f = faiss()
    q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
    if index.ntotal == 0 or k <= 0:
        return np.zeros(0, np.float32), np.zeros(0, np.int64)
    if allowed is None:
        scores, ids = index.search(q, min(k, index.ntotal))
    else:
        allowed = np.asarray(allowed, dtype=np.int64)
        if not len(allowed):
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        if kind_of(index) == "hnsw" and len(allowed) <= EXACT_FILTER_LIMIT:
            # Graph search under a tight filter misses; scoring the allowed few exactly does not.
            vecs = index.reconstruct_batch(allowed)
            sims = vecs @ q[0]
            top = np.argsort(-sims)[:k]
            return sims[top].astype(np.float32), allowed[top]
        selector = f.IDSelectorBatch(allowed)
        if kind_of(index) == "hnsw":
            params = f.SearchParametersHNSW(sel=selector, efSearch=max(HNSW_EF_SEARCH, 4 * k))
        else:
            params = f.SearchParameters(sel=selector)
        scores, ids = index.search(q, min(k, len(allowed)), params=params)
    keep = ids[0] >= 0
    return scores[0][keep], ids[0][keep]


