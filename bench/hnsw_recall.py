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
from query_latency import exact_top, hnsw_sweep  # noqa: E402

from kb.backends.local import LocalBackend  # noqa: E402
from kb.backends.local import vectors as vec  # noqa: E402


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
    exact = exact_top(vectors, ids, qvecs, 50)
    inner = faiss.downcast_index(index.index)
    label = f"the library's own (M {inner.hnsw.nb_neighbors(1)}, efConstruction {inner.hnsw.efConstruction})"
    rows = [[label, "–"] + r for r in hnsw_sweep(index, exact, qvecs, args.ef)]
    index = inner = None  # (the memory, before a variant is built)
    for variant in args.variants:
        m, efc = (int(x) for x in variant.split(":"))
        graph = faiss.IndexHNSWFlat(vectors.shape[1], m, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = efc
        built = faiss.IndexIDMap2(graph)
        started = time.perf_counter()
        built.add_with_ids(vectors, ids)
        seconds = f"{time.perf_counter() - started:.0f}"
        rows += [[f"built here (M {m}, efConstruction {efc})", seconds] + r
                 for r in hnsw_sweep(built, exact, qvecs, args.ef)]
        graph = built = None
    print(f"\n### HNSW recall against exact, {len(ids):,} passages, {len(qvecs)} questions — {load_note()}\n")
    print(table(["graph", "build s", "efSearch", "recall@10 (k=10)", "top-10 similarity kept", "recall@50 (k=50)",
                 "search ms p50 / p95 (k=50)"], rows))


if __name__ == "__main__":
    main()
