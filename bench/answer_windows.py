"""What the best answer's sentence windows cost to encode (kb/focus.py `windows`: the sentences and
pairs of sentences of the first 3 passages), batched by count alone against batches cut at the
ONNX embedder's length band (kb/embedders/onnx.py LENGTH_BAND), interleaved in shuffled order.
The windows are those of the documents bench/backends.py grow adds (SciFact sentences).

    python bench/answer_windows.py --sets 10 --rounds 3
"""
from __future__ import annotations

import argparse
import random
import sys
import time

import numpy as np

from benchlib import ROOT, load_note, table

sys.path.insert(0, str(ROOT / "bench"))
import backends as bb  # noqa: E402

from kb.embedders import onnx as onnx_embedder  # noqa: E402
from kb.focus import windows  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", type=int, default=10, help="documents whose first 3 passages' windows are encoded")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    emb = bb.embedder("onnx")
    _, sents = bb.base_vectors(emb)
    rng = random.Random(3)
    emb.encode_passages(["warm up"])
    sets = [[w for p in bb.new_document(i, sents, rng)[1][:3] for w in windows(p)] for i in range(args.sets)]
    spent: dict[float, list[float]] = {}
    band = onnx_embedder.LENGTH_BAND
    try:
        for _ in range(args.rounds):
            for texts in sets:
                for cut in random.sample([0.0, band], 2):
                    onnx_embedder.LENGTH_BAND = cut
                    started = time.perf_counter()
                    emb.encode_passages(texts)
                    spent.setdefault(cut, []).append(time.perf_counter() - started)
    finally:
        onnx_embedder.LENGTH_BAND = band
    print(f"\n### The best answer's windows, {args.sets} sets of {np.mean([len(s) for s in sets]):.0f} "
          f"(3 passages each), {args.rounds} rounds, batch size {emb.batch_size} — {load_note()}\n")
    print(table(["batches", "ms p50 / p95"],
                [["by count alone" if cut == 0 else f"cut at length band {cut}",
                  f"{1000 * np.median(v):.0f} / {1000 * np.percentile(v, 95):.0f}"] for cut, v in sorted(spent.items())]))


if __name__ == "__main__":
    main()
