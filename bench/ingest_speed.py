"""Ingest throughput against the model's own encode rate, in one run.

    python bench/ingest_speed.py                 # 300 generated files (~3,000 passages), 1 round
    python bench/ingest_speed.py --files 100 --repeats 3
    python bench/ingest_speed.py --profile       # also py-spy the `kb ingest` process

Generates a corpus of .txt files whose paragraphs are sentences sampled from the SciFact
abstracts, then measures with the model already loaded:
  (a) raw    SentenceTransformer.encode on exactly the texts ingestion embeds
             (kb.tokens.index_text of the split passages), same batch size, normalised;
  (b) TorchEmbedder.encode_passages (length-sorted chunks) on the same texts;
  (c) ingest.pipeline.ingest into an empty KB with the same loaded embedder;
and then (d) the `kb ingest` CLI as a whole process (Python start-up and model load included).
Rounds alternate a, b, c so drift hits all alike; figures are min / median over rounds.
The goal is ingest >= 90% of raw encode.
"""
from __future__ import annotations

import argparse
import collections
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import KB_CLI, OUT, ROOT, Timers, load_note, min_med, table, wait_for_quiet, write_text_corpus


def rates(n: int, seconds: list[float]) -> str:
    return f"{n / min(seconds):.1f} / {n / statistics.median(seconds):.1f}"


def passage_texts(folder: Path) -> list[str]:
    """What ingestion embeds for the files in `folder`, in file order."""
    from ingest.formats import extract
    from ingest.pipeline import read_bytes
    from ingest.split import split_pages
    from kb.tokens import index_text

    texts = []
    for path in sorted(folder.glob("*.txt")):
        extracted = extract(path, read_bytes(path))
        texts += [index_text(p.text, p.section) for p in split_pages(extracted.pages)]
    return texts


def profile_cli(corpus: Path, out: Path) -> None:
    """py-spy the CLI ingest; print where the samples fall (own frames of the hottest functions)."""
    raw = out / "ingest-profile.txt"
    with tempfile.TemporaryDirectory() as kb:
        cmd = [str(Path(sys.executable).with_name("py-spy")), "record", "--format", "raw", "-o", str(raw), "-r", "50",
               "--", KB_CLI, "ingest", str(corpus), "--kb", kb, "--json"]
        subprocess.run(cmd, check=True, capture_output=True)
    stacks = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        stacks[stack] += int(count)
    total = sum(stacks.values())
    own = collections.Counter()
    for stack, n in stacks.items():
        own[stack.split(";")[-1]] += n
    print(f"\n### py-spy of `kb ingest` ({total} samples at 50 Hz; raw stacks in {raw.relative_to(ROOT)})\n")
    probes = {  # a sample counts once for a row if any frame of its stack matches
        "Embedder.encode_passages (all of it)": "encode_passages (kb/embedders/pytorch.py",
        "  of which inside the model's forward pass": "BertModel.forward (",
        "extract (read + decode + headings)": "_extract_all (ingest/pipeline.py",
        "split_pages": "split_pages (ingest/split.py",
        "LocalWriter.commit (SQLite + FAISS + BM25)": "commit (kb/backends/local/backend.py",
        "model load (TorchEmbedder._load)": "_load (kb/embedders/pytorch.py",
        "imports (importlib)": "_find_and_load (",
    }
    rows = []
    for name, probe in probes.items():
        n = sum(c for stack, c in stacks.items() if probe in stack)
        rows.append([name, f"{100 * n / total:.1f}%"])
    print(table(["inclusive in", "share of samples"], rows))
    print("\n| hottest own frames | share |\n|---|---|")
    for f, n in own.most_common(12):
        print(f"| `{f[:110]}` | {100 * n / total:.1f}% |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=1, help="rounds of raw / encode_passages / ingest (default 1)")
    ap.add_argument("--no-cli", action="store_true", help="skip the whole-process `kb ingest` run")
    ap.add_argument("--profile", action="store_true", help="py-spy record a `kb ingest` of the corpus")
    ap.add_argument("--max-load", type=float, help="wait until the 1-min load average is below this")
    args = ap.parse_args()

    from ingest.pipeline import ingest
    from kb.backends.local.backend import LocalWriter
    from kb.config import load_settings
    from kb.embedders import for_settings

    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=OUT, prefix="ingest-speed-") as tmp:
        tmp = Path(tmp)
        corpus = write_text_corpus(tmp / "corpus", args.files, seed=args.seed)
        texts = passage_texts(corpus)
        words = sum(len(t.split()) for t in texts)
        settings = load_settings(kb_dir=tmp / "kb-0", runtime="torch")
        embedder = for_settings(settings, shared=False)  # a TorchEmbedder: (a) below needs its model
        t = time.perf_counter()
        embedder.load()
        load_s = time.perf_counter() - t
        # The SentenceTransformer inside it, for (a); the embedder offers no public handle on it.
        model = embedder._loaded_model()
        # Warm up both paths (first calls allocate and pick kernels).
        model.encode(texts[:128], batch_size=embedder.batch_size, normalize_embeddings=True, show_progress_bar=False)
        embedder.encode_passages(texts[:128])
        wait_for_quiet(args.max_load)
        header_load = load_note()

        seen: list[str] = []
        original_encode = embedder.encode_passages

        inside_encode: list[float] = []

        def recording_encode(batch, progress=None):
            seen.extend(batch)
            t = time.perf_counter()
            try:
                return original_encode(batch, progress=progress)
            finally:
                inside_encode[-1] += time.perf_counter() - t

        timers = Timers()
        timers.wrap(LocalWriter, "commit", "commit")
        raw_s, emb_s, ing_s, phases = [], [], [], []
        for r in range(args.repeats):
            t = time.perf_counter()
            model.encode(texts, batch_size=embedder.batch_size, normalize_embeddings=True, convert_to_numpy=True,
                         show_progress_bar=False)
            raw_s.append(time.perf_counter() - t)

            t = time.perf_counter()
            embedder.encode_passages(texts)
            emb_s.append(time.perf_counter() - t)

            seen.clear()
            inside_encode.append(0.0)
            timers.reset()
            embedder.encode_passages = recording_encode
            t0 = time.perf_counter()
            report = ingest([corpus], settings.with_(kb_dir=tmp / f"kb-{r}"), embedder=embedder)
            ing_s.append(time.perf_counter() - t0)
            embedder.encode_passages = original_encode
            assert report.new_passages == len(texts), (report.new_passages, len(texts))
            assert sorted(seen) == sorted(texts), "ingest embedded different texts than measured raw"
            phases.append(timers.get("commit"))

        cli = None
        if not args.no_cli:
            t = time.perf_counter()
            out = subprocess.run([KB_CLI, "ingest", str(corpus), "--kb", str(tmp / "kb-cli"), "--json",
                                  "--runtime", "torch"], capture_output=True, text=True, cwd=ROOT)
            wall = time.perf_counter() - t
            if out.returncode:
                sys.exit(f"kb ingest failed: {out.stderr[-2000:]}")
            rep = json.loads(out.stdout)
            cli = (wall, rep["seconds"], rep["new_passages"])
            # The default runtime (auto: ONNX int8 for a new knowledge base), export already built.
            t = time.perf_counter()
            out = subprocess.run([KB_CLI, "ingest", str(corpus), "--kb", str(tmp / "kb-cli-auto"), "--json"],
                                 capture_output=True, text=True, cwd=ROOT)
            auto_wall = time.perf_counter() - t
            if out.returncode:
                sys.exit(f"kb ingest (default runtime) failed: {out.stderr[-2000:]}")

        n = len(texts)
        best_raw = min(raw_s)
        print(f"\n### Ingest throughput ({args.files} generated .txt files, {n} passages, "
              f"{words / n:.0f} words/passage on average; batch size {embedder.batch_size}; "
              f"{header_load}; {args.repeats} round(s), min / median)\n")
        rows = [
            ["(a) raw SentenceTransformer.encode", min_med(raw_s, "{:.1f}"),
             rates(n, raw_s), "1.00"],
            ["(b) TorchEmbedder.encode_passages (length-sorted chunks)", min_med(emb_s, "{:.1f}"),
             rates(n, emb_s), f"{best_raw / min(emb_s):.2f}"],
            ["(c) ingest.pipeline.ingest, model loaded", min_med(ing_s, "{:.1f}"),
             rates(n, ing_s), f"{best_raw / min(ing_s):.2f}"],
        ]
        if cli:
            wall, inside, _ = cli
            rows.append(["(d) `kb ingest --runtime torch` CLI, whole process", f"{wall:.1f}", f"{n / wall:.1f}",
                         f"{best_raw / wall:.2f}"])
            rows.append(["(e) `kb ingest` CLI, default runtime (auto: onnx-int8), whole process", f"{auto_wall:.1f}",
                         f"{n / auto_wall:.1f}", f"{best_raw / auto_wall:.2f}"])
        print(table(["what", "seconds min / median", "passages/s best / median", "rate / raw (best vs best)"], rows))
        paired = [raw / ing for raw, ing in zip(raw_s, ing_s)]
        print(f"\n- ingest / raw per round (paired): {', '.join(f'{x:.3f}' for x in paired)}; "
              f"goal >= 0.90: **{'met' if min(paired) >= 0.9 else 'MISSED'}** (worst round {min(paired):.3f})")
        print(f"- inside ingest: LocalWriter.commit (SQLite + FAISS + BM25) {min_med(phases)} s; "
              f"everything but encoding and commit (scan, read, split, document rows) "
              f"{min(i - e - c for i, e, c in zip(ing_s, inside_encode, phases)):.2f} s; "
              f"encoding inside ingest {min_med(inside_encode, '{:.1f}')} s")
        print(f"- model load in this process: {load_s:.1f} s")
        if cli:
            wall, inside, new = cli
            print(f"- `kb ingest`: {wall:.1f} s wall for {new} passages; the report's own `seconds` {inside:.1f} s "
                  f"(includes the lazy model load); whole process minus in-process ingest (start, imports, model "
                  f"load) ≈ {wall - min(ing_s):.1f} s")
        if args.profile:
            profile_cli(corpus, OUT)


if __name__ == "__main__":
    main()
