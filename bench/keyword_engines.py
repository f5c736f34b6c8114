"""Keyword engines compared on the same tokens: bm25s rebuilt whole (the local backend until
issue 30), the local backend's own segments (kb/backends/local/keywords.py: term frequencies
in immutable segments, BM25 computed at question time), Tantivy (official Python bindings)
and SQLite FTS5.

    python bench/keyword_engines.py [--sizes 100000] [--adds 10]

Passages are 6 sentences sampled from SciFact abstracts; queries are SciFact queries, top 50.
Every engine indexes the output of kb.tokens.tokenize (Tantivy and FTS5 split it again on
spaces), so only the engine differs. "add one document" is 10 passages added to the index of
n, until it answers a question: bm25s builds all n + 10 again; the segments write one segment
and a new generation's manifest; Tantivy adds 10 documents, commits and reloads its searcher;
FTS5 inserts 10 rows and commits. Each engine's top 10 is compared with bm25s's for each
query (identical ids in the same order), and its scores with bm25s's (Tantivy's divided by
its constant factor k1 + 1; its document lengths are stored in one byte, so they differ).
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
from benchlib import SCIFACT, folder_bytes, load_note, mib, p50_p95_ms, scifact_sentences, table

from kb.backends.local import keywords as kw
from kb.tokens import tokenize

TOP = 50


def top_of(scores: np.ndarray, ids: np.ndarray, k: int = TOP) -> tuple[list[int], list[float]]:
    k = min(k, len(scores))
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.lexsort((ids[top], -scores[top]))]
    top = top[scores[top] > 0]
    return ids[top].tolist(), scores[top].tolist()


class Bm25sWhole:
    name = "bm25s, rebuilt whole"

    def __init__(self, folder: Path):
        self.folder = folder

    def build(self, ids, texts) -> None:
        target = self.folder / f"bm25s-{len(ids)}"
        kw.build_legacy(target, ids, texts)
        self.index = kw.LegacyKeywordIndex.load(target, mmap=True)
        self.path = target

    def add(self, ids, texts, new_ids, new_texts) -> None:
        self.build(list(ids) + list(new_ids), list(texts) + list(new_texts))

    def search(self, q):
        return top_of(self.index.scores(q), self.index.ids)

    def disk(self) -> int:
        return folder_bytes(self.path)


class Segments:
    name = "segments (kb/backends/local/keywords.py)"

    def __init__(self, folder: Path):
        self.folder = folder
        self.generation = 0

    def _write(self, previous, texts_by_id: dict) -> None:
        self.generation += 1
        stored = np.array(sorted(texts_by_id), dtype=np.int64)
        path = kw.write_generation(self.folder, self.generation, previous, stored,
                                   lambda want: [(int(i), texts_by_id[int(i)]) for i in want])
        self.index = kw.KeywordIndex.load(path, mmap=True)

    def build(self, ids, texts) -> None:
        self.texts = dict(zip(ids, texts))
        self._write(None, self.texts)

    def add(self, ids, texts, new_ids, new_texts) -> None:
        self.texts.update(zip(new_ids, new_texts))
        self._write(self.index, self.texts)

    def search(self, q):
        return top_of(self.index.scores(q), self.index.ids)

    def disk(self) -> int:
        return folder_bytes(self.folder / kw.SEGMENTS) + folder_bytes(self.folder / f"keywords-{self.generation:06d}")


class Tantivy:
    name = "Tantivy 0.27 (Python bindings)"

    def __init__(self, folder: Path):
        import tantivy

        self.t = tantivy
        self.path = folder / "tantivy"
        self.path.mkdir()
        builder = tantivy.SchemaBuilder()
        builder.add_text_field("body", stored=False, tokenizer_name="tokens", index_option="freq")
        builder.add_integer_field("pid", stored=True, indexed=True)
        self.schema = builder.build()
        self.index = tantivy.Index(self.schema, path=str(self.path))
        self.index.register_tokenizer("tokens", tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace()).build())
        self.writer = self.index.writer(heap_size=200_000_000, num_threads=1)

    def _add(self, ids, texts) -> None:
        for pid, text in zip(ids, texts):
            self.writer.add_document(self.t.Document(body=" ".join(tokenize(text)), pid=int(pid)))
        self.writer.commit()
        self.index.reload()
        self.searcher = self.index.searcher()

    def build(self, ids, texts) -> None:
        self._add(ids, texts)

    def add(self, ids, texts, new_ids, new_texts) -> None:
        self._add(new_ids, new_texts)

    def search(self, q):
        occur = self.t.Occur.Should
        terms = [(occur, self.t.Query.term_query(self.schema, "body", t)) for t in tokenize(q)]
        if not terms:
            return [], []
        hits = self.searcher.search(self.t.Query.boolean_query(terms), TOP).hits
        found = sorted(((score / (1 + kw.K1), self.searcher.doc(address)["pid"][0]) for score, address in hits),
                       key=lambda h: (-h[0], h[1]))
        return [pid for _, pid in found], [score for score, _ in found]

    def disk(self) -> int:
        return folder_bytes(self.path)


class Fts5:
    name = "SQLite FTS5"

    def __init__(self, folder: Path):
        self.path = folder / "fts.db"
        self.con = sqlite3.connect(self.path)
        self.con.execute("CREATE VIRTUAL TABLE f USING fts5(t, tokenize=\"unicode61 tokenchars '-:.'\", detail=column)")

    def _add(self, ids, texts) -> None:
        self.con.executemany("INSERT INTO f(rowid, t) VALUES (?, ?)",
                             ((int(i), " ".join(tokenize(x))) for i, x in zip(ids, texts)))
        self.con.commit()

    def build(self, ids, texts) -> None:
        self._add(ids, texts)

    def add(self, ids, texts, new_ids, new_texts) -> None:
        self._add(new_ids, new_texts)

    def search(self, q):
        terms = sorted({w for w in tokenize(q) if re.fullmatch(r"\w+", w)})
        if not terms:
            return [], []
        rows = self.con.execute("SELECT rowid, -bm25(f) FROM f WHERE f MATCH ? ORDER BY bm25(f) LIMIT ?",
                                (" OR ".join(terms), TOP)).fetchall()
        return [r[0] for r in rows], [r[1] for r in rows]

    def disk(self) -> int:
        return self.path.stat().st_size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    ap.add_argument("--adds", type=int, default=10, help="documents of 10 passages added one at a time")
    ap.add_argument("--engines", nargs="+", default=["bm25s", "segments", "tantivy", "fts5"])
    args = ap.parse_args()
    engines = {"bm25s": Bm25sWhole, "segments": Segments, "tantivy": Tantivy, "fts5": Fts5}
    sentences = [s for abstract in scifact_sentences() for s in abstract]
    queries = [json.loads(line)["text"] for line in (SCIFACT / "queries.jsonl").read_text().splitlines()][:200]
    rows = []
    for n in args.sizes:
        rng = random.Random(0)
        texts = [" ".join(rng.choice(sentences) for _ in range(6)) for _ in range(n + 10 * args.adds)]
        ids = list(range(1, n + 1))
        base_texts = texts[:n]
        with tempfile.TemporaryDirectory(dir=Path(__file__).parent / "out") as tmp:
            whole = Bm25sWhole(Path(tmp))  # the reference: bm25s over every passage the engines end with
            whole.build(list(range(1, len(texts) + 1)), texts)
            reference = {q: whole.search(q) for q in queries}
        for key in args.engines:
            with tempfile.TemporaryDirectory(dir=Path(__file__).parent / "out") as tmp:
                engine = engines[key](Path(tmp))
                started = time.perf_counter()
                engine.build(ids, base_texts)
                build_s = time.perf_counter() - started
                add_s, all_ids, all_texts = [], list(ids), list(base_texts)
                for a in range(args.adds if key != "bm25s" else min(args.adds, 2)):
                    new_ids = list(range(n + 1 + 10 * a, n + 11 + 10 * a))
                    new_texts = texts[n + 10 * a:n + 10 * a + 10]
                    started = time.perf_counter()
                    engine.add(all_ids, all_texts, new_ids, new_texts)
                    engine.search(queries[a])
                    add_s.append(time.perf_counter() - started)
                    all_ids += new_ids
                    all_texts += new_texts
                engine.search(queries[0])  # warm
                times, results = [], {}
                for q in queries:
                    started = time.perf_counter()
                    results[q] = engine.search(q)
                    times.append(time.perf_counter() - started)
                if key == "bm25s":
                    same, err = "–", "–"  # (it ends with fewer additions: each is a whole build)
                else:
                    same = f"{np.mean([results[q][0][:10] == reference[q][0][:10] for q in queries]):.3f}"
                    rel = [abs(a - b) / b for q in queries for a, b in zip(results[q][1][:10], reference[q][1][:10])
                           if results[q][0][:10] == reference[q][0][:10] and b]
                    err = f"{max(rel):.1e}" if rel else "–"
                rows.append([f"{n:,}", engine.name, f"{build_s:.1f}", f"{np.median(add_s):.2f} ({len(add_s)})",
                             p50_p95_ms(times), mib(engine.disk()), same, err])
                print(rows[-1], flush=True)
    print(f"\n### Keyword engines, {len(queries)} SciFact queries, top {TOP} — {load_note()}\n")
    print(table(["passages", "engine", "build s", "add one document (10 passages) s, median (adds)",
                 "query ms p50 / p95", "disk", "top 10 = bm25s's", "max score difference (top 10)"], rows))


if __name__ == "__main__":
    main()
