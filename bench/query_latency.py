"""Query latency, size, open time and ANN recall at 10k / 100k / 1M passages; flat-vs-HNSW crossover.

    python bench/query_latency.py                            # 10k and 100k (auto) + 100k forced hnsw, crossover
    python bench/query_latency.py --sizes 1m --add-one       # 1M (about 35-45 min on 2 cores)
    python bench/query_latency.py --sizes 10k 100k 1m --also flat@100k hnsw@100k --add-one
    python bench/query_latency.py --only crossover --crossover 10k 25k 50k 100k 200k
    python bench/query_latency.py --sizes 100k --reuse       # keep the built KBs in bench/out/latency/

Data. Vectors are synthetic but shaped like real ones: each is a random convex mixture of
2-3 real all-MiniLM-L6-v2 embeddings of SciFact abstracts (bench/out's cached SciFact KB)
plus noise of norm 0.2, normalised. Each passage's text is SciFact sentences drawn from the
same 2-3 abstracts, 100-150 words, so BM25 postings are realistic and the two retrievers
roughly agree. Ten passages make a document. The knowledge base is written through the real
LocalBackend.writer() / LocalWriter.commit in one commit (index `auto`: flat below --threshold
passages, HNSW above; or forced with --also KIND@SIZE), in a child process so its peak memory
is its own.

Queries are real: the 300 SciFact test queries and the 32 dev questions
(../shared/eval/questions.jsonl). Per size the tables give the index kind, build time
(SQLite rows, vectors, keywords), size on disk and bytes per passage, the time to open the KB
(LocalBackend.reader() in a fresh process, warm page cache) and that process's peak RSS,
Searcher.ask(q, k=5) latency (fused and dense: embed + search + fetch + highlights) with a
per-stage breakdown, and for HNSW recall@10 against exact search (IndexFlatIP over the same
vectors, same query vectors) with an efSearch sweep. --add-one measures a commit of one small
document into the largest KB (the real ingest pipeline, model already loaded).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchlib import (OUT, PYTHON, ROOT, Timers, folder_bytes, load_note, mib, mixtures, p50_p95_ms, peak_rss_mib,
                      questions, scifact_vectors, table, wait_for_quiet)

HERE = Path(__file__).resolve()
LAT = OUT / "latency"
PER_DOC = 10
PUBLISHERS = ["HHS", "ZERO TO THREE", "SAMHSA", "State of Colorado", "Georgetown University", None]
DOC_TYPES = ["report", "guidance", "brief", "toolkit", None]


def parse_size(text: str) -> int:
    text = text.lower().replace("_", "")
    mult = 1_000_000 if text.endswith("m") else 1_000 if text.endswith("k") else 1
    return int(float(text.rstrip("mk")) * mult)


def label(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n // 1000}k" if n % 1000 == 0 else str(n)


def default_threshold() -> int:
    from kb.config import Settings

    return Settings(kb_dir=Path(".")).hnsw_threshold


def embedder():
    from kb.config import load_settings
    from kb.embedders import for_settings

    e = for_settings(load_settings(kb_dir=tempfile.gettempdir()), shared=False)
    e.load()
    return e


# ---- building a knowledge base (child process) ------------------------------------------------

def synthetic_updates(n: int, seed: int, emb):
    """DocumentUpdates for n passages (PER_DOC per document) of mixed real vectors and real text."""
    from kb.backends import DocumentUpdate
    from kb.models import Document, Passage

    base, sents = scifact_vectors(emb)
    vectors, parts = mixtures(base, n, seed=seed)
    rng = random.Random(seed)
    updates = []
    for d0 in range(0, n, PER_DOC):
        passages = []
        for j in range(d0, min(n, d0 + PER_DOC)):
            sources = [int(p) for p in parts[j] if p >= 0]
            target = rng.randint(100, 150)
            words, chosen = 0, []
            while words < target:
                doc = sents[rng.choice(sources)] or sents[rng.randrange(len(sents))]
                s = rng.choice(doc)
                chosen.append(s)
                words += len(s.split())
            text = " ".join(chosen)
            passages.append(Passage(None, None, j - d0, None, None, 0, len(text), text))
        i = d0 // PER_DOC
        title = " ".join(passages[0].text.split()[:8])
        doc = Document(None, f"/bench/synthetic/doc-{i:06d}.txt", f"doc-{i:06d}.txt", f"{seed:04d}{i:060d}",
                       sum(len(p.text) for p in passages), 0, title, rng.choice(PUBLISHERS),
                       rng.randint(2000, 2024), rng.choice(DOC_TYPES), None, kind="text")
        updates.append(DocumentUpdate(doc, passages, vectors[d0:d0 + len(passages)]))
    return updates


def apply_hnsw_params(spec: str | None) -> None:
    """--hnsw-params M:efConstruction:efSearch overrides the local backend's HNSW constants
    (kb/backends/local/vectors.py) in this process only. efConstruction is saved in the index
    file; efSearch is too, but vectors.read sets the constant again on opening, so a process
    that opens the KB without the flag searches with the product's efSearch."""
    if not spec:
        return
    from kb.backends.local import vectors as vec

    vec.HNSW_M, vec.HNSW_EF_CONSTRUCTION, vec.HNSW_EF_SEARCH = (int(x) for x in spec.split(":"))


def build_one(n: int, setting: str, folder: Path, seed: int, threshold: int) -> None:
    """Child process: write the KB in one commit, timing its parts; writes build.json."""
    from kb.backends import Changes
    from kb.backends.local import LocalBackend
    from kb.backends.local import backend as local
    from kb.backends.local import keywords as kw

    emb = embedder()
    t = time.perf_counter()
    updates = synthetic_updates(n, seed, emb)
    gen_s = time.perf_counter() - t
    shutil.rmtree(folder, ignore_errors=True)
    timers = Timers()
    timers.wrap(local.LocalWriter, "_insert", "sqlite rows")
    timers.wrap(local.vec, "build", "vectors: build")
    timers.wrap(local.vec, "write", "vectors: write")
    timers.wrap(local.LocalWriter, "_write_keywords", "keywords")
    timers.wrap(local.db, "passage_texts_of", "keywords: read texts")
    timers.wrap(kw, "segment_from_texts", "keywords: tokenize + index")
    backend = LocalBackend(folder, index=setting, hnsw_threshold=threshold)
    rss_before = peak_rss_mib()
    t = time.perf_counter()
    with backend.writer() as w:
        w.commit(Changes(updates=updates), model=emb.identity, dimension=emb.dimension)
    total = time.perf_counter() - t
    kind = backend.status().index
    info = {"n": n, "setting": setting, "seed": seed, "threshold": threshold, "kind": kind, "generate_s": gen_s,
            "commit_s": total, "parts": timers.seconds, "peak_rss_mib": peak_rss_mib(),
            "peak_rss_before_commit_mib": rss_before}
    (folder / "build.json").write_text(json.dumps(info, indent=1))


def ensure_kb(n: int, setting: str, seed: int, threshold: int, reuse: bool,
              hnsw_params: str | None = None) -> tuple[Path, dict]:
    params = f"-hnsw{hnsw_params.replace(':', '_')}" if hnsw_params else ""
    folder = LAT / f"{label(n)}-{setting}-s{seed}-t{threshold}{params}"
    info_path = folder / "build.json"
    if not (reuse and info_path.is_file()):
        print(f"(building {label(n)} passages, index {setting}…)", file=sys.stderr)
        extra = ["--hnsw-params", hnsw_params] if hnsw_params else []
        subprocess.run([PYTHON, str(HERE), "--build-one", str(n), setting, str(folder), "--seed", str(seed),
                        "--threshold", str(threshold), *extra], check=True)
    return folder, json.loads(info_path.read_text())


# ---- opening it (fresh processes) -----------------------------------------------------------

OPEN_SCRIPT = """
import json, sys, time
sys.path.insert(0, {root!r})
sys.path.insert(0, {root!r} + "/bench")
from benchlib import peak_rss_mib
t0 = time.perf_counter()
from kb.backends.local import LocalBackend
from kb.backends.local import backend as local
import faiss, bm25s
t1 = time.perf_counter()
if not {mmap}:  # the reader always maps its files; read them into memory instead
    read, load = local.vec.read, local.KeywordIndex.load.__func__
    local.vec.read = lambda path, mmap=False: read(path, mmap=False)
    local.KeywordIndex.load = classmethod(lambda cls, folder, mmap=False: load(cls, folder, mmap=False))
reader = LocalBackend({folder!r}).reader()
t2 = time.perf_counter()
print(json.dumps({{"import_s": t1 - t0, "open_s": t2 - t1, "rss_mib": peak_rss_mib(),
                  "passages": reader.generation.passages, "kind": reader.generation.index_kind}}))
"""


def open_times(folder: Path, mmap: bool, repeats: int = 3) -> list[dict]:
    out = []
    for _ in range(repeats):
        r = subprocess.run([PYTHON, "-c", OPEN_SCRIPT.format(root=str(ROOT), folder=str(folder), mmap=mmap)],
                           capture_output=True, text=True, check=True)
        out.append(json.loads(r.stdout.strip().splitlines()[-1]))
    return out


# ---- searching ------------------------------------------------------------------------------

def timed(fn, items) -> tuple[list[float], list]:
    times, results = [], []
    for item in items:
        t = time.perf_counter()
        results.append(fn(item))
        times.append(time.perf_counter() - t)
    return times, results


def measure_queries(folder: Path, emb, qs: list[str], qvecs: np.ndarray) -> dict:
    from kb.backends.local import LocalBackend
    from kb.models import Filters
    from kb.search import DEPTH, Searcher

    backend = LocalBackend(folder)
    searcher = Searcher(backend, emb)
    reader = searcher.reader()
    for q in qs[:10]:  # warm up: first calls page in the index files and compile nothing else
        searcher.ask(q, k=5)
        searcher.ask(q, k=5, method="dense")
    out = {"passages": reader.generation.passages, "kind": reader.generation.index_kind}
    out["fused"], answers = timed(lambda q: searcher.ask(q, k=5), qs)
    out["answered"] = sum(a.answered for a in answers)
    out["dense"], _ = timed(lambda q: searcher.ask(q, k=5, method="dense"), qs)
    # Filters as the app's sidebar sets them: one year (~4% of passages), one publisher (~17%).
    out["year filter"], _ = timed(lambda q: searcher.ask(q, k=5, filters=Filters(year_min=2010, year_max=2010)),
                                  qs[:100])
    out["publisher filter"], _ = timed(lambda q: searcher.ask(q, k=5, filters=Filters(publishers=("HHS",))),
                                       qs[:100])
    out["allowed_ids (publisher)"], _ = timed(lambda f: filter_sql(backend, f),
                                             [Filters(publishers=("HHS",))] * 20)
    out["embed"], _ = timed(emb.encode_query, qs)
    out["vector search"], _ = timed(lambda v: reader.dense(v, DEPTH, Filters()), qvecs)
    out["keyword scores"], _ = timed(lambda q: reader.keyword(q, DEPTH, Filters()), qs)
    out["fetch"], _ = timed(lambda ids: reader.fetch(ids),
                            [[pid for pid, _ in reader.dense(v, 5, Filters())] for v in qvecs[:100]])
    return out


def filter_sql(backend, filters) -> np.ndarray:
    """The passage ids a filter allows, straight from SQLite: what a filter's first question
    pays (the reader then keeps the ids of its last 64 filters)."""
    from kb.backends.local import database as db

    with backend.read() as conn:
        return db.allowed_ids(conn, filters)


class Exact(np.ndarray):
    """Exact top-k passage ids per query (rows), with their similarities in `.sims`."""


def exact_top(vectors: np.ndarray, ids: np.ndarray, qvecs: np.ndarray, k: int) -> np.ndarray:
    import faiss

    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    sims, rows = flat.search(qvecs, k)
    out = ids[rows].view(Exact)
    out.sims = sims
    return out


def sim_kept(found_sims: list[np.ndarray], exact, k: int = 10) -> float:
    """Mean over queries of (sum of the ANN top-k similarities) / (sum of the exact top-k ones):
    1.000 means the neighbours missed were as close as those found (near-ties)."""
    return float(np.mean([f[:k].sum() / e[:k].sum() for f, e in zip(found_sims, exact.sims)]))


def recall(found: list[np.ndarray], exact: np.ndarray, k: int) -> float:
    return float(np.mean([len(set(f[:k].tolist()) & set(e[:k].tolist())) / k for f, e in zip(found, exact)]))


def hnsw_sweep(index, exact: np.ndarray, qvecs: np.ndarray, efs: list[int]) -> list[list]:
    """Rows (efSearch, recall@10 at k=10, top-10 similarity kept, recall@50 at k=50, search ms p50/p95 at k=50)."""
    import faiss

    from kb.backends.local import vectors as vec

    inner = faiss.downcast_index(index.index)
    saved = inner.hnsw.efSearch
    rows = []
    for ef in efs:
        inner.hnsw.efSearch = ef
        res10 = [vec.search(index, v, 10) for v in qvecs]
        times, found50 = timed(lambda v: vec.search(index, v, 50)[1], qvecs)
        rows.append([ef, f"{recall([r[1] for r in res10], exact, 10):.3f}",
                     f"{sim_kept([r[0] for r in res10], exact):.4f}", f"{recall(found50, exact, 50):.3f}",
                     p50_p95_ms(times)])
    inner.hnsw.efSearch = saved
    return rows


# ---- adding one document (child process) ----------------------------------------------------

def add_one(folder: Path, threshold: int, empty: bool = False) -> None:
    """Child process: ingest one small new .txt file into `folder` (or, with `empty`, an empty
    folder: the fixed cost of any ingest), timing the parts; prints JSON."""
    from benchlib import write_text_corpus
    from ingest.pipeline import ingest
    from kb.backends.local import backend as local
    from kb.backends.local import keywords as kw
    from kb.config import load_settings

    emb = embedder()
    timers = Timers()
    writer = local.LocalWriter
    timers.wrap(writer, "check", "LocalWriter.check")
    timers.wrap(writer, "passages_without_vectors", "passages_without_vectors")
    timers.wrap(writer, "documents_by_path", "documents_by_path")
    timers.wrap(writer, "commit", "LocalWriter.commit")
    timers.wrap(writer, "_insert", "commit: sqlite rows")
    timers.wrap(local.vec, "read", "vec.read (check: mmap; commit: base)")
    timers.wrap(local.vec, "contents", "commit: vectors unpack (base)")
    timers.wrap(local.vec, "build", "commit: vectors build")
    timers.wrap(local.vec, "write", "commit: vectors write + fsync")
    timers.wrap(writer, "_write_keywords", "commit: keywords (all)")
    timers.wrap(local.db, "passage_texts", "read all passage texts (passages_without_vectors; commit: keywords)")
    timers.wrap(local.db, "passage_texts_of", "commit: keywords: read the new passages' texts")
    timers.wrap(kw, "segment_from_texts", "commit: keywords: tokenize + index")
    timers.wrap(emb, "encode_passages", "embed")
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        if empty:
            path = Path(tmp)
        else:
            write_text_corpus(Path(tmp), 1, seed=int(time.time()), paragraphs=(2, 2), words=(60, 90))
            path = next(Path(tmp).glob("*.txt"))
        rss0 = peak_rss_mib()
        t = time.perf_counter()
        report = ingest([path], load_settings(kb_dir=folder, hnsw_threshold=threshold), embedder=emb)
        total = time.perf_counter() - t
    print(json.dumps({"total_s": total, "parts": timers.seconds, "calls": timers.calls,
                      "new_passages": report.new_passages,
                      "passages": report.passages, "peak_rss_mib": peak_rss_mib(), "rss_before_mib": rss0}))


# ---- the report -----------------------------------------------------------------------------

def size_tables(configs: list[tuple[int, str]], args, emb, qs: list[str], qvecs: np.ndarray) -> None:
    import faiss

    from kb.backends.local import LocalBackend
    from kb.backends.local import vectors as vec

    built, measured, sweeps, recalls = [], [], {}, {}
    for n, setting in configs:
        folder, info = ensure_kb(n, setting, args.seed, args.threshold, args.reuse, args.hnsw_params)
        wait_for_quiet(args.max_load)
        backend = LocalBackend(folder)
        gen = backend.current_generation()
        sizes = {"vectors": folder_bytes(backend.vectors_path(gen)),
                 "keywords": folder_bytes(backend.keywords_path(gen)),
                 "sqlite": sum(folder_bytes(p) for p in folder.glob("kb.sqlite*"))}
        opens = open_times(folder, mmap=False)
        opens_mm = open_times(folder, mmap=True)
        q = measure_queries(folder, emb, qs, qvecs)
        built.append((n, setting, info, sizes, opens, opens_mm, q))
        if q["kind"] == "hnsw":
            index = vec.read(backend.vectors_path(gen))
            ids, vectors = vec.contents(index)
            exact = exact_top(vectors, ids, qvecs, 50)
            del vectors
            sweeps[(n, setting)] = hnsw_sweep(index, exact, qvecs, args.ef)
            found10 = [vec.search(index, v, 10)[1] for v in qvecs]
            recalls[(n, setting)] = recall(found10, exact, 10)
            del index
        measured.append(q)

    params = "" if not args.hnsw_params else " (--hnsw-params, not the product's)"
    head = (f"{load_note()}; {len(qs)} queries; threshold {args.threshold:,}; HNSW M {vec.HNSW_M}, efConstruction "
            f"{vec.HNSW_EF_CONSTRUCTION}, efSearch {vec.HNSW_EF_SEARCH}{params}")
    print(f"\n### Knowledge base size and build ({head})\n")
    rows = []
    for n, setting, info, sizes, *_ , q in built:
        p = info["parts"]
        vec_s = p.get("vectors: build", 0) + p.get("vectors: write", 0)
        total = sum(sizes.values())
        rows.append([f"{q['passages']:,}", setting, q["kind"], f"{info['commit_s']:.0f}",
                     f"{p.get('sqlite rows', 0):.1f}", f"{vec_s:.1f}", f"{p.get('keywords', 0):.1f}",
                     f"{p.get('keywords: tokenize + index', 0):.1f}", mib(total),
                     f"{sizes['vectors'] / n:,.0f}", f"{sizes['sqlite'] / n:,.0f}", f"{sizes['keywords'] / n:,.0f}",
                     f"{total / n:,.0f}", f"{info['peak_rss_mib'] / 1024:.1f}"])
    print(table(["passages", "index setting", "kind", "build s (one commit)", "sqlite rows s", "vectors s (build+write)",
                 "keywords s", "of which tokenize+index s", "on disk", "B/passage vectors", "B/passage metadata (SQLite)",
                 "B/passage keywords", "B/passage total", "builder peak RSS GiB"], rows))

    print(f"\n### Opening the KB in a fresh process (LocalBackend.reader(); warm page cache; min / median of 3)\n")
    rows = []
    for n, setting, info, sizes, opens, opens_mm, q in built:
        rows.append([f"{q['passages']:,}", q["kind"],
                     f"{min(o['open_s'] for o in opens):.2f} / {np.median([o['open_s'] for o in opens]):.2f}",
                     f"{max(o['rss_mib'] for o in opens):,.0f}",
                     f"{min(o['open_s'] for o in opens_mm):.2f} / {np.median([o['open_s'] for o in opens_mm]):.2f}",
                     f"{max(o['rss_mib'] for o in opens_mm):,.0f}", f"{np.median([o['import_s'] for o in opens]):.2f}"])
    print(table(["passages", "kind", "open s (files read, not mapped)", "peak RSS MiB", "open s (mapped, as the reader does)",
                 "peak RSS MiB (mmap)", "imports s (not in open)"], rows))

    print(f"\n### Query latency, Searcher.ask(q, k=5), ms p50 / p95 ({head})\n")
    rows = []
    for n, setting, info, sizes, opens, opens_mm, q in built:
        r = recalls.get((n, setting))
        rows.append([f"{q['passages']:,}", q["kind"], p50_p95_ms(q["fused"]), p50_p95_ms(q["dense"]),
                     p50_p95_ms(q["embed"]), p50_p95_ms(q["vector search"]), p50_p95_ms(q["keyword scores"]),
                     p50_p95_ms(q["fetch"]), f"{r:.3f}" if r is not None else "exact", f"{q['answered']}/{len(qs)}"])
    print(table(["passages", "kind", "ask fused", "ask dense", "of which: embed query", "reader.dense (k=50)",
                 "reader.keyword (BM25, k=50)", "reader.fetch (5 passages)", "recall@10 vs exact", "answered"], rows))

    print(f"\n### Filtered queries, Searcher.ask(q, k=5) fused, ms p50 / p95 (first 100 queries; {load_note()})\n")
    rows = [[f"{q['passages']:,}", q["kind"], p50_p95_ms(q["fused"]), p50_p95_ms(q["year filter"]),
             p50_p95_ms(q["publisher filter"]), p50_p95_ms(q["allowed_ids (publisher)"])]
            for n, setting, info, sizes, opens, opens_mm, q in built]
    print(table(["passages", "kind", "no filter (all queries)", "year = 2010 (~4% of passages)",
                 "publisher = HHS (~17%)", "filter SQL alone, publisher (uncached; the reader keeps it per filter)"],
                rows))

    for (n, setting), rows in sweeps.items():
        print(f"\n### HNSW efSearch sweep at {n:,} passages (M={vec.HNSW_M}, efConstruction="
              f"{vec.HNSW_EF_CONSTRUCTION}; efSearch saved in the index {vec.HNSW_EF_SEARCH}; {load_note()})\n")
        print(table(["efSearch", "recall@10 (k=10)", "top-10 similarity kept", "recall@50 (k=50, what retrieve asks)",
                     "search ms p50 / p95 (k=50)"], rows))

    print("\n- Goals: " + "; ".join(goal_lines(built, recalls)))


def goal_lines(built, recalls) -> list[str]:
    lines = []
    for n, setting, info, sizes, opens, opens_mm, q in built:
        if setting != "auto":
            continue
        p50 = np.percentile(q["fused"], 50) * 1000
        limit = 30 if n <= 100_000 else 100
        lines.append(f"{label(n)} fused p50 {p50:.1f} ms (< {limit}: {'met' if p50 < limit else 'MISSED'})")
        if (n, setting) in recalls:
            lines.append(f"{label(n)} recall@10 {recalls[(n, setting)]:.3f} (>= 0.95: "
                         f"{'met' if recalls[(n, setting)] >= 0.95 else 'MISSED'})")
        if n >= 1_000_000:
            o = float(np.median([x["open_s"] for x in opens_mm]))  # the Searcher maps the files
            r = max(x["rss_mib"] for x in opens_mm) / 1024
            lines.append(f"{label(n)} open {o:.1f} s, peak RSS {r:.2f} GiB (< 4 GiB: {'met' if r < 4 else 'MISSED'})")
    return lines


def crossover_table(args, emb, qvecs: np.ndarray) -> None:
    from kb.backends.local import vectors as vec

    base, _ = scifact_vectors(emb)
    sizes = [parse_size(s) for s in args.crossover]
    vectors_all, _ = mixtures(base, max(sizes), seed=args.seed)
    rows = []
    for n in sizes:
        wait_for_quiet(args.max_load)
        vectors = vectors_all[:n]
        ids = np.arange(1, n + 1, dtype=np.int64)
        exact = exact_top(vectors, ids, qvecs, 10)
        row = [f"{n:,}"]
        for kind in ("flat", "hnsw"):
            t = time.perf_counter()
            index = vec.build(ids, vectors, vectors.shape[1], kind)
            build_s = time.perf_counter() - t
            for q in qvecs[:10]:
                vec.search(index, q, 50)
            times, found = timed(lambda v: vec.search(index, v, 50)[1], qvecs)
            row += [p50_p95_ms(times), f"{build_s:.1f}"]
            if kind == "hnsw":
                row.append(f"{recall(found, exact, 10):.3f}")
            del index
        rows.append(row)
    print(f"\n### Flat vs HNSW vector search (k=50 as retrieve asks; {len(qvecs)} real query vectors; "
          f"HNSW M={vec.HNSW_M}, efC={vec.HNSW_EF_CONSTRUCTION}, efSearch={vec.HNSW_EF_SEARCH}; {load_note()})\n")
    print(table(["passages", "flat ms p50 / p95", "flat build s", "HNSW ms p50 / p95", "HNSW build s",
                 "HNSW recall@10 (top 10 of k=50)"], rows))


def variants_table(args, emb, qvecs: np.ndarray) -> None:
    """HNSW parameters other than the product's, built raw at one size."""
    import faiss

    base, _ = scifact_vectors(emb)
    n = parse_size(args.variant_size)
    vectors, _ = mixtures(base, n, seed=args.seed)
    ids = np.arange(1, n + 1, dtype=np.int64)
    exact = exact_top(vectors, ids, qvecs, 50)
    print(f"\n### HNSW parameters at {n:,} passages ({load_note()})\n")
    rows = []
    for variant in args.variants:
        m, efc = (int(x) for x in variant.split(":"))
        wait_for_quiet(args.max_load)
        inner = faiss.IndexHNSWFlat(vectors.shape[1], m, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = efc
        index = faiss.IndexIDMap2(inner)
        t = time.perf_counter()
        index.add_with_ids(vectors, ids)
        build_s = time.perf_counter() - t
        for r in hnsw_sweep(index, exact, qvecs, args.ef):
            rows.append([m, efc, f"{build_s:.0f}"] + r)
        del index
    print(table(["M", "efConstruction", "build s", "efSearch", "recall@10 (k=10)", "top-10 similarity kept",
                 "recall@50 (k=50)", "search ms p50 / p95 (k=50)"], rows))


def add_one_table(args, configs) -> None:
    autos = [c for c in configs if c[1] == "auto"]
    n, setting = max(autos or configs)
    folder, info = ensure_kb(n, setting, args.seed, args.threshold, True, args.hnsw_params)
    wait_for_quiet(args.max_load)
    extra = ["--hnsw-params", args.hnsw_params] if args.hnsw_params else []
    columns = {}
    for name, flag in (("no-op ingest (empty folder)", ["--empty"]), ("one new document", [])):
        runs = columns[name] = []
        for _ in range(args.add_one_repeats):
            r = subprocess.run([PYTHON, str(HERE), "--add-one-to", str(folder), "--threshold", str(args.threshold),
                                *extra, *flag], capture_output=True, text=True, check=True)
            runs.append(json.loads(r.stdout.strip().splitlines()[-1]))
    one = columns["one new document"]
    print(f"\n### Adding one small document to the {label(n)} KB ({one[0]['new_passages']} new passages; "
          f"ingest.pipeline.ingest with the model loaded, fresh process; {load_note()}; "
          f"{len(one)} run(s) each, min / median)\n")
    labels = list(dict.fromkeys(lab for runs in columns.values() for r in runs for lab in r["parts"]))

    def cell(runs, get):
        vals = [get(r) for r in runs]
        return f"{min(vals):.1f} / {np.median(vals):.1f}"

    calls = {lab: max(r["calls"].get(lab, 0) for runs in columns.values() for r in runs) for lab in labels}
    rows = [["whole ingest"] + [cell(runs, lambda r: r["total_s"]) for runs in columns.values()]]
    for lab in labels:
        shown = f"{lab} ({calls[lab]} calls)" if calls[lab] > 1 else lab
        rows.append([shown] + [cell(runs, lambda r: r["parts"].get(lab, 0.0)) for runs in columns.values()])
    rows.append(["peak RSS of the process (GiB)"] +
                [f"{max(r['peak_rss_mib'] for r in runs) / 1024:.1f}" for runs in columns.values()])
    print(table(["part (seconds)"] + list(columns), rows))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="*", default=["10k", "100k"], help="KB sizes built with index auto")
    ap.add_argument("--also", nargs="*", default=["flat@100k", "hnsw@100k"],
                    help="extra KIND@SIZE builds (skipped when auto already gives that kind at that size)")
    ap.add_argument("--crossover", nargs="*", default=["10k", "25k", "50k", "100k", "200k"])
    ap.add_argument("--ef", nargs="*", type=int, default=[64, 128, 256, 512, 768])
    ap.add_argument("--variants", nargs="*", default=[], help="M:efConstruction pairs to compare, e.g. 16:80 32:200")
    ap.add_argument("--variant-size", default="100k")
    ap.add_argument("--add-one", action="store_true", help="time a one-document ingest into the largest KB")
    ap.add_argument("--add-one-repeats", type=int, default=1)
    ap.add_argument("--only", choices=["sizes", "crossover", "variants", "add-one"])
    ap.add_argument("--reuse", action="store_true", help="reuse KBs already built in bench/out/latency/")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threshold", type=int, default=None, help="hnsw_threshold for auto (default: the product's)")
    ap.add_argument("--max-load", type=float, help="wait until the 1-min load average is below this")
    ap.add_argument("--hnsw-params", metavar="M:EFC:EFS",
                    help="build with these HNSW parameters instead of kb.vectors' (e.g. 32:200:256)")
    ap.add_argument("--build-one", nargs=3, metavar=("N", "SETTING", "DIR"), help=argparse.SUPPRESS)
    ap.add_argument("--add-one-to", help=argparse.SUPPRESS)
    ap.add_argument("--empty", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.threshold = args.threshold or default_threshold()
    apply_hnsw_params(args.hnsw_params)
    if args.build_one:
        n, setting, folder = args.build_one
        return build_one(int(n), setting, Path(folder), args.seed, args.threshold)
    if args.add_one_to:
        return add_one(Path(args.add_one_to), args.threshold, args.empty)

    LAT.mkdir(parents=True, exist_ok=True)
    from kb.backends.local import vectors as vec

    configs = [(parse_size(s), "auto") for s in args.sizes]
    for extra in args.also:
        kind, _, size = extra.partition("@")
        n = parse_size(size)
        if any(c == (n, "auto") for c in configs) and vec.choose_kind(n, "auto", args.threshold) == kind:
            continue
        if any(c[0] == n for c in configs):
            configs.append((n, kind))
    emb = embedder()
    qs = questions()
    qvecs = np.stack([emb.encode_query(q) for q in qs])
    if args.only in (None, "sizes") and configs:
        size_tables(configs, args, emb, qs, qvecs)
    if args.only in (None, "crossover") and args.crossover:
        crossover_table(args, emb, qvecs)
    if args.only in (None, "variants") and args.variants:
        variants_table(args, emb, qvecs)
    if (args.add_one and args.only is None) or args.only == "add-one":
        add_one_table(args, configs)


if __name__ == "__main__":
    main()
