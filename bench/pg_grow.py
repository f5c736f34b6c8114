"""Where adding one document to a PostgreSQL library goes, stage by stage (bench/backends.py grow
times the whole add; this splits it). Uses the latency database that `bench/backends.py grow
--server DIR` keeps (a copy of the n-passage synthetic library), adds documents of 10 passages
one at a time with a Searcher open on it, and removes every second one again.

    python bench/pg_grow.py --server DIR --size 100k --adds 6
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

from benchlib import ROOT, load_note, questions, table

sys.path.insert(0, str(ROOT / "bench"))
import backends as bb  # noqa: E402

from kb.backends import Changes, DocumentUpdate  # noqa: E402
from kb.backends.postgres import PostgresBackend  # noqa: E402
from kb.backends.postgres import backend as pg  # noqa: E402
from kb.backends.postgres import keywords as kw  # noqa: E402
from kb.backends.postgres import migrations  # noqa: E402
from kb.backends.postgres.embedded import EmbeddedServer  # noqa: E402
from kb.search import Searcher  # noqa: E402

STAGES = [(pg.PostgresBackend, "_lock", "writer: lock"), (migrations, "upgrade", "writer: migrations"),
          (pg.PostgresWriter, "check", "writer: check vectors"),
          (kw, "remove_postings", "remove: keywords"), (kw, "remove_passages", "remove: keywords"),
          (pg.PostgresWriter, "_insert", "insert (passages, keywords, vectors)"),
          (kw, "add_segment", "  of which: keyword segment"), (pg.PostgresWriter, "_store_vectors", "  of which: vectors"),
          (kw, "maintain", "keywords: merges"), (pg.PostgresWriter, "_check_and_count", "count passages"),
          (pg.PostgresWriter, "_choose_index", "index kind"),
          (pg.PostgresBackend, "reader", "reader: load generation"), (Searcher, "ask", "first answer")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", type=Path, required=True)
    ap.add_argument("--size", default="100k")
    ap.add_argument("--adds", type=int, default=6)
    ap.add_argument("--label", default="this tree")
    args = ap.parse_args()
    n = bb.parse_sizes([args.size])[0]
    emb = bb.embedder("onnx")
    _, sents = bb.base_vectors(emb)
    rng = random.Random(13)
    with EmbeddedServer(args.server, keep=True, settings={"shared_buffers": bb.SHARED_BUFFERS}) as server:
        name = f"latency_{n}"
        if not server.has_database(name):
            raise SystemExit(f"No {name} database in {args.server}: run bench/backends.py grow --server first.")
        backend = PostgresBackend(server.database_url(name))
        started = time.perf_counter()
        with backend.writer(wait=60):
            pass  # (upgrades an older schema once)
        bb.log(f"writer opened (and upgraded) in {time.perf_counter() - started:.1f} s")
        searcher = Searcher(backend, emb, focus=False)
        searcher.ask("warm up", k=5)
        targets = [(owner, method, label) for owner, method, label in STAGES if method in owner.__dict__]
        windows = getattr(searcher, "_windows", None)  # the best answer's sentence vectors, apart from retrieval
        if windows is not None and "window_cosines" in type(windows).__dict__:
            targets.append((type(windows), "window_cosines", "  of which: the answer's sentence vectors"))
        spent, restore = bb.timed_methods(targets)
        per_add, totals = [], []
        for i in range(1, args.adds + 1):
            doc, ps = bb.new_document(1000 + i, sents, rng)
            vectors = emb.encode_passages([p.text for p in ps])
            spent.clear()
            started = time.perf_counter()
            with backend.writer() as writer:
                writer.commit(Changes(updates=[DocumentUpdate(doc, ps, vectors)]), model=emb.identity,
                              dimension=emb.dimension)
            committed = time.perf_counter() - started
            answer = searcher.ask(" ".join(ps[3].text.split()[:12]), k=5)
            totals.append(time.perf_counter() - started)
            assert any(h.passage.text == ps[3].text for h in answer.hits), "the new document is not found"
            per_add.append(dict(spent, **{"commit, whole": committed}))
            bb.log(f"added {i}: {totals[-1]:.2f} s {({k: round(v, 3) for k, v in per_add[-1].items()})}")
            if i % 2 == 0:
                with backend.writer() as writer:
                    writer.commit(Changes(removed_paths=[doc.path]), model=emb.identity, dimension=emb.dimension)
        restore()
        labels = ["commit, whole"] + list(dict.fromkeys(label for _, _, label in targets))
        rows = [[label, f"{1000 * np.median([a.get(label, 0.0) for a in per_add]):.0f}"] for label in labels]
        rows.append(["add one: commit + first answer", f"{1000 * np.median(totals):.0f}"])
        ask = bb.ask_times(searcher, questions()[:50], bb.Filters())
        rows.append(["ask p50 afterwards (50 questions, no filter)", f"{1000 * np.median(ask):.0f}"])
    print(f"\n### PostgreSQL add one document at {n:,} passages, median ms over {args.adds} adds ({args.label}) — "
          f"{load_note()}\n")
    print(table(["stage", "ms"], rows))


if __name__ == "__main__":
    main()
