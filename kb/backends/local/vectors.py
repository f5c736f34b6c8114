"""The FAISS side: which index to build, building it, atomic files, filtered search.

Indexes map FAISS rows to passage ids (IndexIDMap2), so search answers in passage ids and
every kind can hand its vectors back for the next generation without re-embedding.

A generation's vectors are either one whole index, `vectors-<gen>.faiss`, or layered
(`Layered`): `vectors-<gen>.json` names an earlier generation's whole file as its base (kept,
never rewritten), beside `vectors-<gen>.delta.faiss` (the vectors added since: flat, exact)
and `vectors-<gen>.deleted.npy` (the base's passages removed since, left out at search time).
So adding or removing a document writes a few small files, not the whole index; the base is
rewritten once the delta or the tombstones pass REWRITE_SHARE of it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ...files import fsync
from . import idsets

HNSW_M = 32
# recall@10 vs exact at 1M synthetic passages, 200 questions, efSearch 256 / 512 / 1000: efConstruction
# 80 gives 0.937 / 0.961 / 0.977, 200 gives 0.979 / 0.996 / 0.998, for 3.2 times the build (144 ->
# 463 s on 2 idle cores; bench/hnsw_recall.py). At 100k: 0.999 and 1.000 at efSearch 512.
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_SEARCH = 512
EXACT_FILTER_LIMIT = 50_000  # filtered HNSW searches below this many allowed ids go exact
REWRITE_SHARE = 0.1  # a delta or tombstones past this share of the base: the next commit writes a whole index
LAYERED_FORMAT = 1


class Layered:
    """A base index plus the vectors added since (flat) minus the base's passages removed since."""

    def __init__(self, base, base_generation: int, delta_ids: np.ndarray, delta_vectors: np.ndarray,
                 deleted: np.ndarray):
        self.base = base
        self.base_generation = base_generation
        self.delta_ids = np.asarray(delta_ids, dtype=np.int64)
        self.delta_vectors = np.asarray(delta_vectors, dtype=np.float32).reshape(-1, base.d)
        self.deleted = idsets.unique(deleted)
        self.delta = build(self.delta_ids, self.delta_vectors, base.d, "flat")
        self.d = base.d
        self.ntotal = base.ntotal - len(self.deleted) + len(self.delta_ids)

    def reconstruct_batch(self, ids) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        out = np.empty((len(ids), self.d), dtype=np.float32)
        in_delta = np.isin(ids, self.delta_ids)
        if in_delta.any():
            out[in_delta] = self.delta.reconstruct_batch(ids[in_delta])
        if not in_delta.all():
            out[~in_delta] = self.base.reconstruct_batch(ids[~in_delta])
        return out


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
    if isinstance(index, Layered):
        return kind_of(index.base)
    inner = faiss().downcast_index(index.index)
    return "hnsw" if "HNSW" in type(inner).__name__ else "flat"


def contents(index) -> tuple[np.ndarray, np.ndarray]:
    """All (passage ids, vectors) held by an index (a layered one's in passage-id order)."""
    if isinstance(index, Layered):
        ids, vectors = contents(index.base)
        live = ~np.isin(ids, index.deleted)
        ids = np.concatenate([ids[live], index.delta_ids])
        vectors = np.concatenate([vectors[live], index.delta_vectors])
        order = np.argsort(ids, kind="stable")
        return ids[order], vectors[order]
    f = faiss()
    n = index.ntotal
    ids = f.vector_to_array(index.id_map).astype(np.int64)
    vectors = index.index.reconstruct_n(0, n) if n else np.zeros((0, index.d), dtype=np.float32)
    return ids, vectors


def ids_of(index) -> np.ndarray:
    if isinstance(index, Layered):
        base = ids_of(index.base)
        return np.sort(np.concatenate([base[~np.isin(base, index.deleted)], index.delta_ids]), kind="stable")
    return faiss().vector_to_array(index.id_map).astype(np.int64)


def write(index, path: Path) -> None:
    """Write beside the target, fsync, rename: a reader sees the old file or the new one."""
    def write_faiss(out):
        f = faiss()
        writer = f.PyCallbackIOWriter(out.write)
        try:
            f.write_index(index, writer)
        finally:
            del writer

    _write_atomically(path, write_faiss)


def _write_atomically(path: Path, write_to) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as out:  # written through Python: a full disk is an OSError, not a line on stderr
        write_to(out)
    fsync(tmp)
    os.replace(tmp, path)
    fsync(path.parent)


def manifest_path(path: Path) -> Path:
    return path.with_suffix(".json")


def layered_parts(path: Path) -> tuple[Path, Path, Path]:
    """(manifest, delta, tombstones) of the generation whose whole file would be `path`."""
    return manifest_path(path), path.with_suffix(".delta.faiss"), path.with_suffix(".deleted.npy")


def base_generation(path: Path) -> int | None:
    """The generation whose whole file a layered generation searches; None for a whole one."""
    try:
        return int(json.loads(manifest_path(path).read_text(encoding="utf-8"))["base"])
    except FileNotFoundError:
        return None


def base_path(path: Path, generation: int) -> Path:
    return path.with_name(f"vectors-{generation:06d}.faiss")


def write_layered(index: Layered, path: Path) -> None:
    """The delta and tombstones first, the manifest naming them last, each renamed into place."""
    manifest, delta, deleted = layered_parts(path)
    write(index.delta, delta)
    _write_atomically(deleted, lambda out: np.save(out, index.deleted))
    text = json.dumps({"format": LAYERED_FORMAT, "base": index.base_generation})
    _write_atomically(manifest, lambda out: out.write(text.encode("utf-8")))


def generation_files(path: Path) -> list[Path]:
    """Every file a generation of either form may have written (its own, not its base)."""
    return [path, *layered_parts(path)]


def files(path: Path) -> list[Path]:
    """The files a generation's vectors are read from."""
    base = base_generation(path)
    if base is None:
        return [path]
    return [base_path(path, base), *layered_parts(path)]


def read(path: Path, mmap: bool = False):
    """A generation's vectors: its whole index, or its base with the delta and tombstones."""
    if not path.exists() and manifest_path(path).exists():
        base = base_generation(path)
        _, delta_file, deleted_file = layered_parts(path)
        delta_ids, delta_vectors = contents(_read_whole(delta_file, mmap=False))
        return Layered(_read_whole(base_path(path, base), mmap), base, delta_ids, delta_vectors,
                       np.load(deleted_file))
    return _read_whole(path, mmap)


def _read_whole(path: Path, mmap: bool = False):
    f = faiss()
    # IO_FLAG_MMAP_IFC maps the vectors themselves (newer faiss); IO_FLAG_MMAP alone reads a flat
    # or HNSW index's vectors into memory: 1.05 s against 0.08 s per load at 100,000 passages.
    flags = getattr(f, "IO_FLAG_MMAP_IFC", f.IO_FLAG_MMAP) | f.IO_FLAG_READ_ONLY if mmap else 0
    index = f.read_index(str(path), flags)  # already downcast to IndexIDMap2
    if kind_of(index) == "hnsw":
        # The file keeps the efSearch it was built with; the current setting wins.
        f.downcast_index(index.index).hnsw.efSearch = HNSW_EF_SEARCH
    return index


def search(index, query: np.ndarray, k: int, allowed: np.ndarray | None = None,
           excluded: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top k (scores, passage ids); `allowed` restricts the search to those passage ids, and
    `excluded` (with no `allowed`) leaves those out."""
    f = faiss()
    if isinstance(index, Layered):
        return _search_layered(index, query, k, allowed)
    q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
    if index.ntotal == 0 or k <= 0:
        return np.zeros(0, np.float32), np.zeros(0, np.int64)
    if allowed is None and excluded is not None and len(excluded):
        inner_selector = f.IDSelectorBatch(np.asarray(excluded, dtype=np.int64))
        selector = f.IDSelectorNot(inner_selector)
        if kind_of(index) == "hnsw":
            params = f.SearchParametersHNSW(sel=selector, efSearch=max(HNSW_EF_SEARCH, 4 * k))
        else:
            params = f.SearchParameters(sel=selector)
        scores, ids = index.search(q, max(1, min(k, index.ntotal - len(excluded))), params=params)
        del inner_selector
    elif allowed is None:
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


def _search_layered(index: Layered, query: np.ndarray, k: int, allowed: np.ndarray | None):
    """The base (without its tombstones) and the delta searched apart, merged by score."""
    if allowed is None:
        base = search(index.base, query, k, excluded=index.deleted)
        delta = search(index.delta, query, k)
    else:
        allowed = np.asarray(allowed, dtype=np.int64)
        in_delta = np.isin(allowed, index.delta_ids)
        in_base = allowed[~in_delta]
        base = search(index.base, query, k, in_base[~np.isin(in_base, index.deleted)])
        delta = search(index.delta, query, k, allowed[in_delta])
    scores = np.concatenate([base[0], delta[0]])
    ids = np.concatenate([base[1], delta[1]])
    top = np.argsort(-scores, kind="stable")[:k]
    return scores[top].astype(np.float32), ids[top].astype(np.int64)
