"""Embedding runtimes side by side: torch (sentence-transformers) against ONNX Runtime variants.

    python bench/embed_runtimes.py                       # everything (~40 min on 2 quiet cores, first run)
    python bench/embed_runtimes.py --rounds 3 --max-load 1
    python bench/embed_runtimes.py --only speed          # or quality
    python bench/embed_runtimes.py --batch-sizes 8 16 32 64

Runtimes: today's torch fp32 (`kb.embedders.pytorch.TorchEmbedder`: SentenceTransformer.encode, batch 64),
and ONNX Runtime (intra-op threads = the cores this process may use, inter-op 1) on
  - fp32 plain: the TorchScript export as it comes out of torch.onnx.export;
  - fp32 fused: + onnxruntime.transformers fusions (Attention, SkipLayerNorm, BiasGelu)
    = `OnnxEmbedder(precision="fp32")`, runtime "onnx";
  - int8 plain quantize_dynamic: the library defaults on the plain export;
  - int8 all MatMul + Attention: per-channel, 7-bit weights, on the fused graph;
  - int8 MatMul: the same, attention (QKV) left fp32;
  - int8 MatMul + Attention, down-proj fp32: QKV quantised too, FFN down-projections fp32;
  - int8 dynamic, down-proj fp32: MatMul, per-channel, 7-bit, FFN down-projections left fp32,
    each batch scaled by its own range (the product's recipe 1, until a passage's vector was
    found to move with its batch-mates);
  - int8 default: the same MatMuls with activation ranges fixed at export from
    kb/embedders/calibration.json (static, recipe 2) = `OnnxEmbedder(precision="int8")`,
    runtime "onnx-int8".
Tables, all measured in this one run:
  1. passages/s on the same texts (--texts SciFact abstracts, title + " " + text, plus the
     passages ingestion makes of corpus/*.txt), each runtime once per round, rounds
     interleaved; best / median, and the best as a multiple of torch's best;
  2. per-query encode ms p50 / p95 (the 300 SciFact test queries + 32 dev questions);
  3. import + load + first query in a fresh process (min / median of --cold runs; the exports
     already built), and that process's peak RSS;
  4. quality over the full SciFact corpus (5,183 abstracts, 300 test queries): cosine to torch
     fp32 for passages and queries (mean / min) and dense-only nDCG@10 (exact inner product).
     Vectors are cached in bench/out/embed-runtimes/ (quality does not depend on timing).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from benchlib import (OUT, PYTHON, ROOT, SCIFACT, load_note, min_med, p50_p95_ms, questions, scifact_docs, table,
                      wait_for_quiet)
from ingest_speed import passage_texts
from quality import ndcg_at_10

from kb.config import DEFAULT_MODEL
from kb.embedders.pytorch import TorchEmbedder as Embedder
from kb.embedders import export
from kb.embedders.onnx import (RECIPES, OnnxEmbedder, cpu_count, ensure_exported, model_digest, model_spec, open_session,
                               open_tokenizer, run_batches)

CACHE = OUT / "embed-runtimes"
TORCH = "torch fp32 (today)"
FP32 = "onnx fp32 fused (`onnx`)"
INT8 = "onnx int8 default: static ranges, down-proj fp32 (`onnx-int8`)"
DYNAMIC = "onnx int8 dynamic, down-proj fp32 (recipe 1)"
MIXED = "int8 default passages + fp32 fused queries"


@dataclass
class Runtime:
    label: str
    passages: Callable[[list[str]], np.ndarray]
    query: Callable[[str], np.ndarray]
    cold: str | None = None  # Python a fresh process runs: import, load, one query


def torch_runtime() -> Runtime:
    e = Embedder(DEFAULT_MODEL)
    e.load()
    cold = f"from kb.embedders.pytorch import TorchEmbedder as Embedder; Embedder({DEFAULT_MODEL!r}).encode_query(Q)"
    return Runtime(TORCH, e.encode_passages, e.encode_query, cold)


def onnx_runtime(label: str, precision: str, cache: Path, batch_size: int) -> Runtime:
    e = OnnxEmbedder(DEFAULT_MODEL, precision, cache_dir=cache, batch_size=batch_size)
    e.load()
    cold = ("from pathlib import Path; from kb.embedders.onnx import OnnxEmbedder; "
            f"OnnxEmbedder({DEFAULT_MODEL!r}, {precision!r}, cache_dir=Path({str(cache)!r})).encode_query(Q)")
    return Runtime(label, e.encode_passages, e.encode_query, cold)


def file_runtime(label: str, path: Path, batch_size: int) -> Runtime:
    """A variant that is not a product runtime: the same tokenising and pooling, another graph."""
    spec = model_spec(DEFAULT_MODEL)
    session = open_session(path)
    tokenizer, pad = open_tokenizer(spec)
    return Runtime(label, lambda texts: run_batches(session, tokenizer, pad, spec, texts, batch_size),
                   lambda text: run_batches(session, tokenizer, pad, spec, [text], 1)[0])


def build_variants(cache: Path) -> tuple[dict[str, Path], list[list]]:
    """The two product exports (built once through ensure_exported, timed) and the bench-only
    variants beside them; returns {label: path} and rows for the export-time table."""
    from onnxruntime.quantization import quantize_dynamic

    spec = model_spec(DEFAULT_MODEL)
    timings = []
    paths = {}
    for precision in ("fp32", "int8"):
        t = time.perf_counter()
        paths[precision] = ensure_exported(DEFAULT_MODEL, precision, cache)
        timings.append([f"ensure_exported({precision})", f"{time.perf_counter() - t:.1f}",
                        f"{paths[precision].stat().st_size / 2**20:.0f} MiB"])
    folder = cache / f"variants-{model_digest(spec, cache)[:16]}"
    folder.mkdir(exist_ok=True)
    raw = folder / "fp32-plain.onnx"
    if not raw.exists():
        export.export_transformer(export.load_transformer(spec), spec, raw)
    builders = {
        "int8-plain.onnx": lambda out: quantize_dynamic(raw, out),
        "int8-matmul-attention.onnx": lambda out: export.quantise(paths["fp32"], out, op_types=("MatMul", "Attention")),
        "int8-matmul.onnx": lambda out: export.quantise(paths["fp32"], out),
        "int8-matmul-attention-down-fp32.onnx": lambda out: export.quantise(
            paths["fp32"], out, op_types=("MatMul", "Attention"), keep_fp32=export.down_projections(paths["fp32"])),
        "int8-dynamic-down-fp32.onnx": lambda out: export.quantise(
            paths["fp32"], out, keep_fp32=export.down_projections(paths["fp32"])),
    }
    for name, make in builders.items():
        if not (folder / name).exists():
            make(folder / name)
    return {"fp32": paths["fp32"], "int8": paths["int8"], "raw": raw,
            **{name: folder / name for name in builders}}, timings


def runtimes(paths: dict[str, Path], cache: Path, batch_size: int) -> list[Runtime]:
    return [
        torch_runtime(),
        file_runtime("onnx fp32 plain export", paths["raw"], batch_size),
        onnx_runtime(FP32, "fp32", cache, batch_size),
        file_runtime("onnx int8 plain quantize_dynamic", paths["int8-plain.onnx"], batch_size),
        file_runtime("onnx int8 MatMul + Attention, per-channel", paths["int8-matmul-attention.onnx"], batch_size),
        file_runtime("onnx int8 MatMul, per-channel", paths["int8-matmul.onnx"], batch_size),
        file_runtime("onnx int8 MatMul + Attention, down-proj fp32", paths["int8-matmul-attention-down-fp32.onnx"],
                     batch_size),
        file_runtime(DYNAMIC, paths["int8-dynamic-down-fp32.onnx"], batch_size),
        onnx_runtime(INT8, "int8", cache, batch_size),
    ]


# ---- tables ---------------------------------------------------------------------------------

def throughput_table(rts: list[Runtime], texts: list[str], rounds: int) -> None:
    for rt in rts:
        rt.passages(texts[:16])  # warm up (first-run allocations)
    seconds = {rt.label: [] for rt in rts}
    for r in range(rounds):
        for rt in rts:
            t = time.perf_counter()
            rt.passages(texts)
            seconds[rt.label].append(time.perf_counter() - t)
            print(f"(round {r + 1}: {rt.label} {len(texts) / seconds[rt.label][-1]:.1f} passages/s)", file=sys.stderr)
    base = len(texts) / min(seconds[TORCH])
    rows = []
    for rt in rts:
        rates = [len(texts) / s for s in seconds[rt.label]]
        rows.append([rt.label, f"{max(rates):.1f} / {float(np.median(rates)):.1f}", f"{max(rates) / base:.2f}x"])
    print(f"\n### Passages/s ({len(texts)} texts, {rounds} rounds interleaved; {load_note()})\n")
    print(table(["runtime", "passages/s best / median", "best vs torch"], rows))


def batch_size_table(cache: Path, texts: list[str], sizes: list[int]) -> None:
    rows = []
    for precision in ("fp32", "int8"):
        for size in sizes:
            e = OnnxEmbedder(DEFAULT_MODEL, precision, cache_dir=cache, batch_size=size)
            e.encode_passages(texts[:16])
            t = time.perf_counter()
            e.encode_passages(texts)
            rows.append([e.runtime, size, f"{len(texts) / (time.perf_counter() - t):.1f}"])
    print(f"\n### ONNX batch size ({len(texts)} texts, one pass each; {load_note()})\n")
    print(table(["runtime", "batch size", "passages/s"], rows))


def query_table(rts: list[Runtime], qs: list[str]) -> None:
    rows = []
    for rt in rts:
        rt.query(qs[0])
        times = []
        for q in qs:
            t = time.perf_counter()
            rt.query(q)
            times.append(time.perf_counter() - t)
        rows.append([rt.label, p50_p95_ms(times)])
    print(f"\n### Query embedding ({len(qs)} questions; {load_note()})\n")
    print(table(["runtime", "ms p50 / p95"], rows))


COLD = """\
import time, resource
t0 = time.perf_counter()
Q = "What is infant mental health consultation?"
{code}
t1 = time.perf_counter()
import sys
heavy = [m for m in ("torch", "transformers", "sentence_transformers") if m in sys.modules]
with open("/proc/self/status") as f:
    rss = next(int(l.split()[1]) / 1024 for l in f if l.startswith("VmHWM:"))
print(t1 - t0, rss, ",".join(heavy) or "-")
"""


def cold_table(rts: list[Runtime], runs: int) -> None:
    rows = []
    for rt in rts:
        if not rt.cold:
            continue
        inside, whole, rss, heavy = [], [], 0.0, ""
        for _ in range(runs):
            t = time.perf_counter()
            out = subprocess.run([PYTHON, "-c", COLD.format(code=rt.cold)], capture_output=True, text=True, cwd=ROOT,
                                 env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"},
                                 check=True)
            whole.append(time.perf_counter() - t)
            seconds, rss, heavy = out.stdout.split()
            inside.append(float(seconds))
        rows.append([rt.label, min_med(inside), min_med(whole), f"{float(rss):.0f}", heavy])
    print(f"\n### Cold start: import + load + first query in a fresh process ({runs} runs; {load_note()})\n")
    print(table(["runtime", "s in the script min / median", "s whole process min / median", "peak RSS MiB",
                 "torch-family modules imported"], rows))


def scifact_test() -> tuple[list[str], list[dict[str, int]]]:
    """The 300 SciFact test queries and, per query, its relevant documents."""
    texts = {q["_id"]: q["text"] for q in map(json.loads, (SCIFACT / "queries.jsonl").read_text().splitlines())}
    qrels: dict[str, dict[str, int]] = {}
    for line in (SCIFACT / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        qid, did, score = line.split("\t")
        qrels.setdefault(qid, {})[did] = int(score)
    return [texts[q] for q in qrels], list(qrels.values())


def cached_vectors(rt: Runtime, kind: str, texts: list[str], key: str) -> np.ndarray:
    path = CACHE / f"{re.sub(r'[^A-Za-z0-9]+', '-', rt.label).strip('-')}-{kind}-{key}.npy"
    if path.exists():
        return np.load(path)
    t = time.perf_counter()
    vectors = rt.passages(texts) if kind == "docs" else np.stack([rt.query(q) for q in texts])
    print(f"({rt.label}: {len(texts)} {kind} in {time.perf_counter() - t:.0f} s)", file=sys.stderr)
    np.save(path, vectors)
    return vectors


def quality_table(rts: list[Runtime], key: str) -> None:
    docs = scifact_docs()
    doc_texts = [" ".join(f"{d['title']} {d['text']}".split()) for d in docs]
    ids = [d["_id"] for d in docs]
    queries, qrels = scifact_test()
    vectors = {rt.label: (cached_vectors(rt, "docs", doc_texts, key), cached_vectors(rt, "queries", queries, key))
               for rt in rts}
    # Not a runtime (a knowledge base records one precision), but it tells where int8's loss comes from.
    vectors[MIXED] = (vectors[INT8][0], vectors[FP32][1])
    ref_docs, ref_queries = vectors[TORCH]
    rows = []
    for label, (dv, qv) in vectors.items():
        top = np.argsort(-(qv @ dv.T), axis=1)[:, :10]
        ndcg = float(np.mean([ndcg_at_10([ids[i] for i in row], rel) for row, rel in zip(top, qrels)]))
        cd, cq = np.sum(dv * ref_docs, axis=1), np.sum(qv * ref_queries, axis=1)
        rows.append([label, f"{cd.mean():.5f} / {cd.min():.4f}", f"{cq.mean():.5f} / {cq.min():.4f}", f"{ndcg:.4f}"])
    for row in rows:
        row.append(f"{float(row[3]) - float(rows[0][3]):+.4f}")
    print(f"\n### Quality: BEIR SciFact test, dense only ({len(queries)} queries, {len(docs)} abstracts)\n")
    print(table(["runtime", "cosine to torch, passages mean / min", "cosine to torch, queries mean / min",
                 "nDCG@10", "vs torch"], rows))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--texts", type=int, default=1000, help="SciFact abstracts in the speed texts (plus corpus/)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32, help="ONNX batch size")
    ap.add_argument("--batch-sizes", type=int, nargs="*", default=[], help="also compare these ONNX batch sizes")
    ap.add_argument("--cold", type=int, default=3, help="fresh-process runs per runtime")
    ap.add_argument("--only", choices=["speed", "quality"], help="one half of the tables")
    ap.add_argument("--product-only", action="store_true",
                    help="only the runtimes KB_RUNTIME offers (torch, onnx fp32 fused, onnx-int8) and int8 recipe 1")
    ap.add_argument("--max-load", type=float, default=None, help="wait until the 1-min load is below this")
    args = ap.parse_args()

    CACHE.mkdir(parents=True, exist_ok=True)
    paths, export_rows = build_variants(CACHE)
    print(f"## Embedding runtimes: {DEFAULT_MODEL}; torch threads = ONNX Runtime intra-op threads = {cpu_count()}\n")
    print(table(["export (once per model version; 0.0 s when already built)", "seconds", "size"], export_rows))
    rts = runtimes(paths, CACHE, args.batch_size)
    if args.product_only:
        rts = [rt for rt in rts if rt.label in (TORCH, FP32, DYNAMIC, INT8)]
    texts = [" ".join(f"{d['title']} {d['text']}".split()) for d in scifact_docs()[:args.texts]]
    texts += passage_texts(ROOT / "corpus")
    if args.only != "quality":
        wait_for_quiet(args.max_load)
        throughput_table(rts, texts, args.rounds)
        if args.batch_sizes:
            batch_size_table(CACHE, texts, args.batch_sizes)
        query_table(rts, questions())
        cold_table(rts, args.cold)
    if args.only != "speed":
        quality_table(rts, f"{model_digest(model_spec(DEFAULT_MODEL), CACHE)[:16]}-r{RECIPES['fp32']}.{RECIPES['int8']}")


if __name__ == "__main__":
    main()
