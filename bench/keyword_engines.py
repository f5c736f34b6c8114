"""Keyword engines compared: bm25s (what the product uses) against SQLite FTS5 (which
would keep keyword search inside the database transaction), on the same tokens.

    python bench/keyword_engines.py [--sizes 10000 100000 200000]

Passages are 6 sentences sampled from SciFact abstracts; queries are SciFact queries.
Both engines index the output of kb.tokens.tokenize, so only the engine differs. bm25s is
used through the local backend's KeywordIndex (kb/backends/local/keywords.py), as the product builds it.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np
from benchlib import SCIFACT, load_note, p50_p95_ms, scifact_sentences, table

from kb.backends.local.keywords import KeywordIndex
from kb.tokens import tokenize


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 200_000])
    args = ap.parse_args()
    sentences = [s for abstract in scifact_sentences() for s in abstract]
    queries = [json.loads(l)["text"] for l in (SCIFACT / "queries.jsonl").read_text().splitlines()][:100]
    print(f"\n### bm25s vs SQLite FTS5 ({load_note()}; 100 SciFact queries, top 50)\n")
    rows = []
    rng = random.Random(0)
    for n in args.sizes:
        texts = [" ".join(rng.choice(sentences) for _ in range(6)) for _ in range(n)]
        t = time.perf_counter()
        index = KeywordIndex.build(np.arange(n), texts)
        build = time.perf_counter() - t
        times = []
        for q in queries:
            t = time.perf_counter()
            scores = index.scores(q)
            np.argpartition(-scores, 49)[:50]
            times.append(time.perf_counter() - t)
        rows.append([f"{n:,}", "bm25s", f"{build:.1f}", p50_p95_ms(times)])
        with tempfile.TemporaryDirectory() as tmp:
            con = sqlite3.connect(Path(tmp) / "fts.db")
            con.execute("CREATE VIRTUAL TABLE f USING fts5(t, tokenize=\"unicode61 tokenchars '-:.'\", detail=column)")
            t = time.perf_counter()
            con.executemany("INSERT INTO f(rowid, t) VALUES (?, ?)", ((i, " ".join(tokenize(x))) for i, x in
                                                                     enumerate(texts)))
            con.commit()
            build = time.perf_counter() - t
            times = []
            for q in queries:
                terms = sorted({w for w in tokenize(q) if re.fullmatch(r"\w+", w)})
                if not terms:
                    continue
                t = time.perf_counter()
                con.execute("SELECT rowid FROM f WHERE f MATCH ? ORDER BY bm25(f) LIMIT 50", (" OR ".join(terms),)
                            ).fetchall()
                times.append(time.perf_counter() - t)
            con.close()
        rows.append([f"{n:,}", "FTS5", f"{build:.1f}", p50_p95_ms(times)])
    print(table(["passages", "engine", "build s", "query ms p50 / p95"], rows))


if __name__ == "__main__":
    main()
