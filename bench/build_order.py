"""Does a knowledge base grown document by document rank as one built at once? (issue 30)

For each question set, the same documents are ingested twice into fresh knowledge bases: all
in one ingest, and one document per ingest (in reverse order, so every passage is embedded
beside different batch-mates). Then every question of the set is asked of both, and the table
counts the questions whose top 10 (documents, passages and scores to 6 decimals) are identical,
and the lowest cosine between a passage's two vectors.

    python bench/build_order.py --set dev --set own --set gov
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchlib import files_of, question_set  # noqa: E402

from ingest.pipeline import ingest  # noqa: E402
from kb.backends.local import LocalBackend  # noqa: E402
from kb.config import load_settings  # noqa: E402
from kb.embedders import for_settings  # noqa: E402
from kb.search import Searcher  # noqa: E402


def staged(docs: list[Path], folder: Path) -> list[Path]:
    """The set's files copied flat into `folder` (sidecars too); returns the documents."""
    folder.mkdir(parents=True)
    copied = []
    for f in files_of(docs):
        shutil.copy2(f, folder / f.name)
        if f.name != "metadata.json":
            copied.append(folder / f.name)
    return copied


def build(docs: list[Path], work: Path, one_by_one: bool) -> tuple[Path, float]:
    stage = work / "docs"
    files = staged(docs, stage)
    settings = replace(load_settings(kb_dir=work / "kb"), runtime="auto")
    embedder = for_settings(settings)
    t = time.perf_counter()
    if one_by_one:
        hidden = work / "later"
        hidden.mkdir()
        for f in files:
            f.rename(hidden / f.name)
        for f in reversed(files):
            (hidden / f.name).rename(f)
            ingest([stage], settings, embedder=embedder)
    else:
        ingest([stage], settings, embedder=embedder)
    return work / "kb", time.perf_counter() - t


def vectors_by_text(kb: Path) -> dict[tuple[str, str], np.ndarray]:
    reader = LocalBackend(kb).reader()  # the current generation's vectors, whole or in layers
    passages, documents = reader.fetch(list(range(1, 200_000)))
    ids = np.array(sorted(passages), dtype=np.int64)
    vectors = reader.vectors.reconstruct_batch(ids)
    return {(Path(documents[passages[pid].document_id].path).name, passages[pid].text): v
            for pid, v in zip(ids.tolist(), vectors)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", dest="sets", action="append", default=[], help="a question set (repeatable)")
    parser.add_argument("--show-differences", action="store_true", help="print where two top 10s part")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}\n")
    print("| set | documents | questions | top 10 identical | top 1 identical | lowest cosine of a passage's two vectors | "
          "build at once s | one by one s |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.sets or ["dev"]:
        qset = question_set(name)
        with tempfile.TemporaryDirectory(prefix="build-order-") as tmp:
            once, t_once = build(qset.docs, Path(tmp) / "once", one_by_one=False)
            steps, t_steps = build(qset.docs, Path(tmp) / "steps", one_by_one=True)
            embedder = for_settings(load_settings(kb_dir=once))
            a, b = Searcher(LocalBackend(once), embedder), Searcher(LocalBackend(steps), embedder)
            same10 = same1 = 0
            for q in qset.questions:
                top_a = [(h.document.title, h.passage.text, round(h.score, 6)) for h in a.ask(q["question"], k=10).hits]
                top_b = [(h.document.title, h.passage.text, round(h.score, 6)) for h in b.ask(q["question"], k=10).hits]
                same10 += top_a == top_b
                if top_a != top_b and args.show_differences:
                    first = next(i for i, (x, y) in enumerate(zip(top_a + [None] * 10, top_b + [None] * 10)) if x != y)
                    print(f"  {q['question'][:70]!r}: rank {first + 1}: {top_a[first:first + 1]} / {top_b[first:first + 1]}")
                same1 += top_a[:1] == top_b[:1]
            va, vb = vectors_by_text(once), vectors_by_text(steps)
            shared = va.keys() & vb.keys()
            lowest = min(float(np.dot(va[k], vb[k]) / (np.linalg.norm(va[k]) * np.linalg.norm(vb[k]))) for k in shared)
            n_docs = len([f for f in files_of(qset.docs) if f.name != "metadata.json"])
            print(f"| {name} | {n_docs} | {len(qset.questions)} | {same10}/{len(qset.questions)} | "
                  f"{same1}/{len(qset.questions)} | {lowest:.7f} ({len(shared)} passages) | {t_once:.0f} | {t_steps:.0f} |",
                  flush=True)


if __name__ == "__main__":
    main()
