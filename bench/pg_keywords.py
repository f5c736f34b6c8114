"""PostgreSQL keyword search at a million passages, keyword stage only: the designs side by side
on one keyword-only database (no vectors, no HNSW), for the SciFact questions the latency bench asks.

    python bench/pg_keywords.py --size 1m --server DIR      # build once into DIR (kept), then time
    python bench/pg_keywords.py --size 100k --queries 100   # a throwaway server

Passage texts are bench/backends.py's `synthetic_local` texts, generated the same way (the same
random draws, without the vectors), tokenized as the backends tokenize them, and bulk-loaded by
binary COPY into both forms of the keyword index:

- postings: the table of (term, passage, tf, passage length) rows that schema 1-3 kept, searched
  by that code (read from git at POSTINGS_CODE: lateral index reads, a SQL sum, MaxScore pruning);
- segments: per (term, segment) packed arrays (rows and term frequencies, bytea) that the backend
  keeps now, read for the question's terms and scored on the client by the local backend's
  scoring code (kb/backends/postgres/keywords.py).

For each: top 50 unfiltered and with the publisher filter (~1/6 of the passages allowed), p50 /
p95 ms, and the top 10's agreement with an exact BM25 (float64, numpy, over the same tokens).
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import random
import subprocess
import sys
import tempfile
import time
from array import array
from collections import Counter
from pathlib import Path

import numpy as np

from benchlib import OUT, ROOT, load_note, p50_p95_ms, questions, table

from kb.backends.local.keywords import B, K1
from kb.backends.postgres import keywords as kw
from kb.backends.postgres.connection import connect
from kb.backends.postgres.embedded import EmbeddedServer
from kb.tokens import idf, tokenize

HERE = OUT / "pg_keywords"
POSTINGS_CODE = "2ce5d20"  # the last commit whose backend searched the postings table
PUBLISHER = "ZERO TO THREE"  # bench/backends.py's FILTER
K = 50


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---- the corpus -------------------------------------------------------------------------------

def corpus(n: int) -> dict[str, np.ndarray]:
    """Tokens of bench/backends.py's n synthetic passages (ids 1..n): vocabulary, postings as
    (term, row, tf) sorted by term then row, lengths, and which passages the filter allows.
    Cached in bench/out/pg_keywords/."""
    path = HERE / f"corpus-{n}.npz"
    if path.exists():
        data = dict(np.load(path, allow_pickle=False))
        data["vocab"] = data["vocab"].tolist()
        return data
    sys.path.insert(0, str(ROOT / "bench"))
    import backends as bb

    # synthetic_local's draws: mixtures' first two (the parts) and then the text's random.Random(7)
    _, sents = bb.base_vectors(bb.embedder("onnx"))
    parts_rng = np.random.default_rng(7)
    parts = parts_rng.integers(0, len(sents), size=(n, 3))
    parts[parts_rng.random(n) < 0.5, 2] = -1
    rng = random.Random(7)
    vocab: dict[str, int] = {}
    term_of, rows, tf, lengths = array("i"), array("i"), array("i"), array("i")
    allowed = np.zeros(n, bool)
    started = time.perf_counter()
    for d0 in range(0, n, bb.PER_DOC):
        for j in range(d0, min(n, d0 + bb.PER_DOC)):
            counts = Counter(kw.passage_tokens(bb.synthetic_text(parts[j], sents, rng), None, None))
            lengths.append(sum(counts.values()))
            for term, c in counts.items():
                term_of.append(vocab.setdefault(term, len(vocab)))
                rows.append(j)
                tf.append(c)
        publisher = rng.choice(bb.PUBLISHERS)
        rng.randint(2000, 2024), rng.choice(bb.DOC_TYPES)
        allowed[d0:d0 + bb.PER_DOC] = publisher == PUBLISHER
        if d0 % 100_000 == 0 and d0:
            log(f"tokenized {d0:,} passages ({time.perf_counter() - started:.0f} s)")
    term_of, rows, tf = (np.frombuffer(a, dtype=np.int32) for a in (term_of, rows, tf))
    order = np.lexsort((rows, term_of))
    data = {"vocab": list(vocab), "term_of": term_of[order], "rows": rows[order], "tf": tf[order],
            "lengths": np.frombuffer(lengths, dtype=np.int32), "allowed": allowed}
    HERE.mkdir(parents=True, exist_ok=True)
    np.savez(path, **{**data, "vocab": np.array(data["vocab"])})
    return data


# ---- building the two forms ---------------------------------------------------------------------

def binary_copy(conn, sql: str, fields: list[tuple[str, np.ndarray]], chunk: int = 2_000_000) -> None:
    """COPY ... FROM STDIN (FORMAT BINARY) of fixed-width columns, framed by numpy."""
    n = len(fields[0][1])
    dtype = np.dtype([("count", ">i2")] + [x for name, col in fields
                                           for x in ((f"{name}_len", ">i4"), (name, col.dtype.newbyteorder(">")))])
    with conn.cursor().copy(sql) as copy:
        copy.write(b"PGCOPY\n\xff\r\n\x00" + bytes(8))
        for start in range(0, n, chunk):
            rec = np.empty(min(chunk, n - start), dtype)
            rec["count"] = len(fields)
            for name, col in fields:
                rec[f"{name}_len"] = col.dtype.itemsize
                rec[name] = col[start:start + chunk]
            copy.write(rec.tobytes())
        copy.write(b"\xff\xff")


def build(url: str, data: dict) -> None:
    from kb.backends.postgres.migrations import KEYWORD_SEGMENTS_SQL

    n = len(data["lengths"])
    ids = np.arange(1, n + 1, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, np.diff(data["term_of"]) != 0])
    bounds = np.r_[starts, len(data["term_of"])]
    with contextlib.closing(connect(url, autocommit=True)) as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("CREATE TABLE kb_meta (key text PRIMARY KEY, value text NOT NULL)")
        conn.execute("CREATE TABLE terms (id serial PRIMARY KEY, term text NOT NULL UNIQUE, df integer NOT NULL)")
        df = np.diff(bounds)
        with conn.cursor().copy("COPY terms (id, term, df) FROM STDIN") as copy:
            for i, term in enumerate(data["vocab"]):
                copy.write_row((i + 1, term, 0))
        conn.execute("UPDATE terms SET df = x.df FROM unnest(%s::int[], %s::int[]) x(id, df) WHERE terms.id = x.id",
                     ((data["term_of"][starts] + 1).tolist(), df.tolist()))
        conn.execute("INSERT INTO kb_meta VALUES ('passages', %s), ('avgdl', %s)",
                     (str(n), repr(float(data["lengths"].sum()) / n)))
        started = time.perf_counter()
        conn.execute("CREATE TABLE postings (term_id integer NOT NULL, passage_id bigint NOT NULL, "
                     "tf integer NOT NULL, dl integer NOT NULL)")
        binary_copy(conn, "COPY postings (term_id, passage_id, tf, dl) FROM STDIN WITH (FORMAT BINARY)",
                    [("t", data["term_of"] + 1), ("p", ids[data["rows"]]), ("f", data["tf"]),
                     ("d", data["lengths"][data["rows"]])])
        log(f"postings copied ({time.perf_counter() - started:.0f} s)")
        conn.execute("ALTER TABLE postings ADD PRIMARY KEY (term_id, passage_id) INCLUDE (tf, dl)")
        log(f"postings indexed ({time.perf_counter() - started:.0f} s)")
        started = time.perf_counter()
        conn.execute(KEYWORD_SEGMENTS_SQL)
        kw.write_segment(conn, ids, data["lengths"], data["term_of"] + 1, data["rows"], data["tf"])
        log(f"segments written ({time.perf_counter() - started:.0f} s)")
        conn.execute("CREATE TABLE done ()")
        conn.execute("VACUUM ANALYZE")
        sizes = conn.execute("SELECT pg_total_relation_size('postings'), pg_total_relation_size('keyword_postings') "
                             "+ pg_total_relation_size('keyword_segments')").fetchone()
        log(f"sizes: postings {sizes[0] / 2**20:,.0f} MiB, segments {sizes[1] / 2**20:,.0f} MiB")


# ---- searching ------------------------------------------------------------------------------------

def postings_code():
    """The keyword module as it was at POSTINGS_CODE (the postings table's search)."""
    source = subprocess.run(["git", "show", f"{POSTINGS_CODE}:kb/backends/postgres/keywords.py"], cwd=ROOT,
                            check=True, capture_output=True, text=True).stdout
    spec = importlib.util.spec_from_loader("kb.backends.postgres._keywords_postings", loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "kb.backends.postgres"
    exec(compile(source, "keywords_postings.py", "exec"), module.__dict__)
    return module


def exact_top(data: dict, question: str, mask: np.ndarray | None, k: int) -> list[int]:
    """Top k row numbers by BM25 in float64 over the corpus arrays (ties by row)."""
    n = len(data["lengths"])
    avgdl = data["lengths"].mean()
    scores = np.zeros(n)
    index = {t: i for i, t in enumerate(data["vocab"])}
    starts = data["starts"]
    for term in tokenize(question):
        t = index.get(term)
        if t is None:
            continue
        a, b = starts[t], starts[t + 1]
        rows, tf = data["rows"][a:b], data["tf"][a:b].astype(np.float64)
        dl = data["lengths"][rows]
        scores[rows] += idf(b - a, n) * tf / (tf + K1 * (1 - B + B * dl / avgdl))
    if mask is not None:
        scores[~mask] = 0
    order = np.lexsort((np.arange(n), -scores))[:k]
    return [int(r) for r in order if scores[r] > 0]


def run(url: str, data: dict, qs: list[str]) -> None:
    n = len(data["lengths"])
    starts = np.r_[np.searchsorted(data["term_of"], np.arange(len(data["vocab"]))), len(data["term_of"])]
    data["starts"] = starts
    allowed_ids = np.flatnonzero(data["allowed"]) + 1
    old = postings_code()
    with contextlib.closing(connect(url)) as conn:
        conn.execute("SET jit = off")
        meta = dict(conn.execute("SELECT key, value FROM kb_meta").fetchall())
        avgdl = float(meta["avgdl"])
        conn.commit()
        old_allowed = old.Allowed(allowed_ids)
        new_allowed = kw.Allowed(allowed_ids)
        index = kw.SegmentIndex.load(conn)
        sizes = "postings table {:,.0f} MiB, segments {:,.0f} MiB".format(*(x / 2**20 for x in conn.execute(
            "SELECT pg_total_relation_size('postings'), pg_total_relation_size('keyword_postings') "
            "+ pg_total_relation_size('keyword_segments')").fetchone()))
        conn.commit()

        def postings(question, filters):
            q = old.Question(conn, question, n)
            return [pid for pid, _ in old.top(conn, q, avgdl, K, old_allowed if filters else None)]

        reads = []  # (seconds, postings) of each question's read of its terms' segment rows
        read = index.postings

        def timed_read(conn_, q):
            started = time.perf_counter()
            found = read(conn_, q)
            reads.append((time.perf_counter() - started, sum(len(r) for seg in found for r, _ in seg.values())))
            return found

        index.postings = timed_read

        def segments(question, filters):
            q = kw.Question(conn, question)
            scores = index.scores(conn, q)
            return [pid for pid, _ in index.top(scores, K, new_allowed if filters else None)]

        designs = {"postings table + MaxScore (schema 1-3)": postings, "segments, scored on the client": segments}
        times = {(d, f): [] for d in designs for f in (False, True)}
        agree = {(d, f): [] for d in designs for f in (False, True)}
        exact = {(q, f): exact_top(data, q, data["allowed"] if f else None, 10) for q in qs for f in (False, True)}
        order_rng = random.Random(5)
        for q in qs[:10]:  # warm the caches
            for design in designs.values():
                design(q, False)
                conn.commit()
        for i, q in enumerate(qs):
            for f in (False, True):
                for name in order_rng.sample(list(designs), len(designs)):
                    started = time.perf_counter()
                    found = designs[name](q, f)
                    times[name, f].append(time.perf_counter() - started)
                    conn.commit()
                    want = [r + 1 for r in exact[q, f]]
                    agree[name, f].append(len(set(found[:10]) & set(want)) / max(1, len(want)) if want else 1.0)
            if i % 50 == 49:
                log(f"{i + 1} questions")
        rows = [[f"{n:,}", name, p50_p95_ms(times[name, False]), p50_p95_ms(times[name, True]),
                 f"{np.mean(agree[name, False]):.3f} / {np.mean(agree[name, True]):.3f}"] for name in designs]
    print(f"\n### Keyword top {K} on PostgreSQL, {len(qs)} SciFact questions, the designs interleaved in shuffled "
          f"order — {load_note()}\n")
    print(table(["passages", "keyword index", "no filter ms p50 / p95", "publisher filter (~1/6) ms p50 / p95",
                 "top 10 = exact BM25 (share), no filter / filter"], rows))
    seconds, postings = zip(*reads)
    print(f"\nSegments: reading the question's postings {p50_p95_ms(seconds)} ms p50 / p95 of the above (the rest is "
          f"numpy), {np.median(postings):,.0f} / {np.percentile(postings, 95):,.0f} postings per question p50 / p95; "
          f"sizes: {sizes}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="1m", help="passages: 100k, 1m or a number")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--server", type=Path, help="keep the server and its database here for the next run")
    ap.add_argument("--shared-buffers", default="2GB")
    ap.add_argument("--build-only", action="store_true")
    args = ap.parse_args()
    n = int(args.size.lower().replace("k", "000").replace("m", "000000"))
    data = corpus(n)
    log(f"corpus: {n:,} passages, {len(data['term_of']):,} postings, {len(data['vocab']):,} terms")
    folder = args.server or Path(tempfile.mkdtemp(prefix="kb-bench-kw-"))
    with EmbeddedServer(folder, keep=args.server is not None, settings={"shared_buffers": args.shared_buffers}) as server:
        name = f"keywords_{n}"
        url = server.database_url(name)
        ready = False
        if server.has_database(name):
            with contextlib.closing(connect(url, autocommit=True)) as conn:
                ready = conn.execute("SELECT to_regclass('done')").fetchone()[0] is not None
        if not ready:
            server.drop_database(url)
            with contextlib.closing(connect(server.url, autocommit=True)) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            build(url, data)
        if not args.build_only:
            run(url, data, questions()[:args.queries])


if __name__ == "__main__":
    main()
