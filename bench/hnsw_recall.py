"""HNSW recall@10 against exact search on the kept synthetic latency library (bench/backends.py
makes it: SciFact-mixture vectors, bench/out/backends/latency-N), for the library's own FAISS index
and for indexes built here with other M:efConstruction, each swept over efSearch. The questions
are the first 200 of benchlib.questions(); exact = inner product over every vector.

    python bench/hnsw_recall.py --size 1m                      # the library's own index only
    python bench/hnsw_recall.py --size 1m --variants 32:200    # plus a graph built here (~12 min at 1M)

PostgreSQL's pgvector graph is measured by bench/backends.py latency (its dense-paths table).
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from benchlib import ROOT, load_note, questions, table

sys.path.insert(0, str(ROOT / "bench"))
import backends as bb  # noqa: E402

from kb.backends.local import LocalBackend  # noqa: E402
from kb.backends.local import vectors as vec  # noqa: E402


def sweep(search, ids_of_rows, qvecs: np.ndarray, truth: list[set], efs: list[int], set_ef) -> list[list[str]]:
    rows = []
    for ef in efs:
        set_ef(ef)
        spent, recall = [], []
        for q, t in zip(qvecs, truth):
            started = time.perf_counter()
            _, found = search(q.reshape(1, -1), 50)
            spent.append(time.perf_counter() - started)
            recall.append(len(set(ids_of_rows(found[0][:10])) & t) / 10)
        rows.append([str(ef), f"{np.mean(recall):.4f}", f"{1000 * np.median(spent):.1f}"])
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="1m")
    ap.add_argument("--variants", nargs="*", default=[], help="M:efConstruction graphs to build and sweep")
    ap.add_argument("--ef", nargs="+", type=int, default=[256, 512, 1000, 2000])
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    import faiss

    n = bb.parse_sizes([args.size])[0]
    backend = LocalBackend(bb.HERE / f"latency-{n}")
    if not backend.exists():
        raise SystemExit(f"No {backend.root}: run `python bench/backends.py latency --sizes {args.size} "
                         "--backends local` first.")
    index = vec.read(backend.vectors_path(backend.reader().generation.number))
    ids, vectors = vec.contents(index)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    emb = bb.embedder("onnx")
    qvecs = np.stack([emb.encode_query(q) for q in questions()[:args.queries]]).astype(np.float32)
    truth: list[set] = []
    for start in range(0, len(qvecs), 50):
        top = np.argsort(-(qvecs[start:start + 50] @ vectors.T), axis=1)[:, :10]
        truth += [set(ids[t].tolist()) for t in top]
    rows = []
    inner = faiss.downcast_index(index.index)
    label = f"the library's own (M {inner.hnsw.nb_neighbors(1)}, efConstruction {inner.hnsw.efConstruction})"
    for r in sweep(index.search, lambda found: found.tolist(), qvecs, truth, args.ef,
                   lambda ef: setattr(inner.hnsw, "efSearch", ef)):
        rows.append([label, "–"] + r)
    index = inner = None  # (the memory, before a variant is built)
    for variant in args.variants:
        m, efc = (int(x) for x in variant.split(":"))
        graph = faiss.IndexHNSWFlat(vectors.shape[1], m, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = efc
        started = time.perf_counter()
        graph.add(vectors)
        built = f"{time.perf_counter() - started:.0f}"
        for r in sweep(graph.search, lambda found: ids[found].tolist(), qvecs, truth, args.ef,
                       lambda ef: setattr(graph.hnsw, "efSearch", ef)):
            rows.append([f"built here (M {m}, efConstruction {efc})", built] + r)
        graph = None
    print(f"\n### HNSW recall@10 vs exact, {len(ids):,} passages, {len(qvecs)} questions, top 50 — {load_note()}\n")
    print(table(["graph", "build s", "efSearch", "recall@10", "search ms p50"], rows))


if __name__ == "__main__":
    main()
