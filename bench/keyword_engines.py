"""Keyword engines compared: bm25s (what the product uses) against SQLite FTS5 (which
would keep keyword search inside the database transaction), on the same tokens.

    python bench/keyword_engines.py [--sizes 10000 100000 200000]

Passages are 6 sentences sampled from SciFact abstracts; queries are SciFact queries.
Both engines index the output of kb.keyword.tokenize, so only the engine differs.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SCIFACT = ROOT.parent / "shared" / "bench" / "scifact"

from kb.keyword import KeywordIndex, tokenize  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 200_000])
    args = ap.parse_args()
    abstracts = [json.loads(l)["text"] for l in (SCIFACT / "corpus.jsonl").read_text().splitlines() if l.strip()]
    sentences = [s for a in abstracts for s in a.split(". ") if s]
    queries = [json.loads(l)["text"] for l in (SCIFACT / "queries.jsonl").read_text().splitlines()][:100]
    print(f"\n### bm25s vs SQLite FTS5 (load average {os.getloadavg()[0]:.2f}, 2 cores, 100 SciFact queries, top 50)\n")
    print("| passages | engine | build s | query ms p50 / p95 |\n|---|---|---|---|")
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
        print(f"| {n:,} | bm25s | {build:.1f} | {_ms(times)} |")
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
        print(f"| {n:,} | FTS5 | {build:.1f} | {_ms(times)} |")


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.1f} / {np.percentile(values, 95) * 1000:.1f}"


if __name__ == "__main__":
    main()
