"""Quality of the whole answer on a question set with gold labels (see bench/questions/README.md).

For each question, `Searcher.ask(question, k=10)` on a knowledge base built from the set's
documents with the real pipeline, then:

- hit at rank r: the r-th passage (its text, or its section heading + text) holds a gold
  evidence snippet (benchlib.normalise on both sides) and comes from a gold document;
- page@1: the top passage comes from a gold document and the page it cites (`page_label`
  when set, else the PDF page) is a gold page: the printed page where the source shows one,
  else the PDF page. Over questions whose evidence sits in a PDF. PDF page@1 compares the
  PDF page index instead, to tell a wrong page from a missing printed-page label;
- abstention: precision and recall of `answered: false` over the set's answerable and
  unanswerable questions; answerable questions wrongly abstained;
- highlight at sentence start: the top passage's first highlight begins where a sentence or
  list item begins (judged here from punctuation and list markers, not with kb's own
  sentence splitter, so the product is not graded by itself).

A miss at rank 1 is classified: evidence in no single passage of the gold document (split
across two passages, or garbled / lost in extraction), wrong document, or right document
but wrong passage.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchlib import OUT, ROOT, QuestionSet, content_hash, files_of, holds, normalise

from kb import citations
from kb.config import load_settings
from kb.embedders import Embedder
from kb.models import Hit, Passage
from kb.rerank import Reranker
from kb.search import Searcher
from kb.backends.local import LocalBackend as Store

# KB_BENCH_SETS: another folder for the sets' knowledge bases, so two people measuring different
# code in one checkout do not rebuild (and delete) each other's.
SETS_OUT = Path(os.environ["KB_BENCH_SETS"]) if os.environ.get("KB_BENCH_SETS") else OUT / "sets"
K = 10
# Modules that only answer questions: editing them does not change a built knowledge base,
# so they are left out of the cache key. Anything else under ingest/ and kb/ is in it.
QUERY_TIME_MODULES = {"search.py", "answer.py", "abstain.py", "highlight.py", "rerank.py", "focus.py", "cite.py", "app_support.py", "cli.py",
                      "tables.py"}
SENTENCE_END = re.compile(r"""[.!?]["'”’)\]]*$""")
# a list item's marker: a bullet (the DMCA summary prints "!"), 1. 2) (3), a. b) (c), ii. (iv)
_ITEM = r"(?:[-*•▪◦!–—]|\(?[0-9]{1,2}[.)]|\(?[a-z][.)]|\(?[ivx]{1,4}[.)])"
ITEM_START = re.compile(_ITEM + r"\s")  # a text that opens with its item's marker
LIST_MARKER = re.compile(r"(^|[\s:;])" + _ITEM + "$")  # a text that ends on one, after a space, colon or semicolon


@dataclass
class Outcome:
    """What happened to one question; written to bench/out/sets/<set>-results.jsonl."""

    id: str
    question: str
    answerable: bool
    answered: bool
    reason: str | None
    rank: int | None  # 1-based rank of the first hit, None when no hit in the top K
    top_document: str | None
    top_cited_page: str | None
    page_ok: bool | None  # the cited page is a gold page; None: the gold evidence is not in a PDF
    pdf_page_ok: bool | None  # the PDF page (not the printed label) is a gold PDF page
    highlight_at_start: bool | None  # None: the top passage has no highlight
    best_ok: bool | None = None  # the best answer holds gold evidence from a gold document (answerable only)
    best_text: str | None = None
    failure: str | None = None  # for answerable questions without a hit at rank 1
    detail: str | None = None
    seconds: float = 0.0
    gold_documents: list[str] = field(default_factory=list)
    why: str | None = None  # what makes an unanswerable question unanswerable
    cell_ok: bool | None = None  # table questions: the top passage holds the row and its highlight the asked cell
    held_out: bool = False  # kept aside while tuning


# ---- the knowledge base of a set ------------------------------------------------------------

def index_code() -> list[Path]:
    return [f for f in files_of([ROOT / "ingest", ROOT / "kb"])
            if f.suffix == ".py" and f.name not in QUERY_TIME_MODULES]


def set_store(qset: QuestionSet, embedder: Embedder) -> Store:
    """The set's knowledge base from bench/out/sets/, built (and older builds dropped) when
    the documents, their sidecars, the model or the index-building code changed."""
    sidecars = {(p if p.is_dir() else p.parent) / "metadata.json" for p in qset.docs}
    key = content_hash(qset.docs + sorted(s for s in sidecars if s.is_file()) + index_code(), embedder.identity)
    folder = SETS_OUT / f"{qset.corpus}-{key[:16]}"
    store = Store(folder)
    if store.exists() and store.current_generation() > 0:
        return store
    from ingest.pipeline import ingest

    building = folder.with_name(folder.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    t = time.perf_counter()
    report = ingest(qset.docs, load_settings(kb_dir=building), embedder=embedder)
    print(f"(ingested {qset.corpus}: {report.documents} documents, {report.passages} passages, "
          f"{len(report.failed)} failed, in {time.perf_counter() - t:.0f} s)", file=sys.stderr)
    if not report.documents:  # kept, it would be reused as the set's knowledge base until the code changes
        shutil.rmtree(building, ignore_errors=True)
        raise SystemExit(f"{qset.corpus}: no document could be ingested: {report.failed}")
    for old in SETS_OUT.glob(f"{qset.corpus}-*"):
        if old.is_dir() and old.name != building.name:
            shutil.rmtree(old)
    os.replace(building, folder)
    return Store(folder)


# ---- judging one answer -----------------------------------------------------------------------

def is_hit(hit: Hit, evidence: list[str], gold_docs: set[str]) -> bool:
    if gold_docs and hit.document.name not in gold_docs:
        return False
    return holds(f"{hit.passage.section or ''} {hit.passage.text}", evidence)


def cited_pages(passage: Passage) -> set[str]:
    """The printed pages the citation names: one, or both ends of a sentence run over a break."""
    page = citations.cited_page(passage)
    return set(page.split("–")) if page else set()


def gold_pages(question: dict) -> set[str]:
    return {label or str(index) for label, index in zip(question.get("pages") or [], question.get("pdf_pages") or [])}


def highlight_at_start(hit: Hit) -> bool | None:
    """Whether the first highlight begins a sentence or a list item (or the passage, or
    follows the passage's heading)."""
    if not hit.highlights:
        return None
    start = min(s for s, _ in hit.highlights)
    before = hit.passage.text[:start].rstrip()
    if not before or SENTENCE_END.search(before) or LIST_MARKER.search(before) or before.endswith((":", ";")):
        return True
    if ITEM_START.match(hit.passage.text, start):  # the highlight opens with the item's own marker
        return True
    heading = (hit.passage.section or "").strip()
    return bool(heading) and normalise(before).endswith(normalise(heading))


def classify_miss(question: dict, hits: list[Hit], gold_docs: set[str], store: Store) -> tuple[str, str]:
    """Why the top passage is not a hit: (class, detail)."""
    evidence = question["evidence"]
    top = hits[0] if hits else None
    where = f"top: {top.document.name} p.{citations.cited_page(top.passage)}" if top else "no passages"
    docs = [d for d in store.documents() if d.name in gold_docs]
    if gold_docs and not docs:
        return "gold document not ingested", ", ".join(sorted(gold_docs))
    reader = store.reader()
    texts = [reader.document_passages(d.id) for d in docs]
    if texts and not any(holds(f"{p.section or ''} {p.text}", evidence) for passages in texts for p in passages):
        if any(holds(f"{a.text} {b.text}", evidence) for passages in texts for a, b in zip(passages, passages[1:])):
            return "evidence split across two passages", where
        return "evidence garbled or lost in extraction", f"closest: “{closest_text(texts[0], evidence[0])}”"
    if top is None or (gold_docs and top.document.name not in gold_docs):
        return "wrong document", where
    return "right document, wrong passage", where


def closest_text(passages: list[Passage], evidence: str) -> str:
    """The stretch of the document that shares most words with the evidence, to show how the
    extraction differs from the source."""
    wanted = normalise(evidence).split()
    best, best_score = "", -1
    for p in passages:
        words = p.text.split()
        for i in range(len(words)):
            window = words[i:i + len(wanted) + 3]
            score = len(set(normalise(" ".join(window)).split()) & set(wanted))
            if score > best_score:
                best, best_score = " ".join(window), score
    return best


def holds_cell(hit: Hit, cell: str) -> bool:
    """Whether the highlighted text of a passage holds the cell as a whole value: "121" is not
    in "1,121" or "121.5"."""
    lit = " ".join(hit.passage.text[s:e] for s, e in hit.highlights)
    value = re.escape(normalise(cell))
    return re.search(rf"(?<![\w.,]){value}(?![\w]|[.,]\d)", normalise(lit)) is not None


def judge(qset: QuestionSet, question: dict, answer, store: Store, seconds: float) -> Outcome:
    gold_docs = qset.gold_documents(question)
    hits = answer.hits
    top = hits[0] if hits else None
    rank = None
    if question["answerable"]:
        rank = next((r for r, h in enumerate(hits, 1) if is_hit(h, question["evidence"], gold_docs)), None)
    page_ok = pdf_page_ok = None
    if question["answerable"] and question.get("pdf_pages"):
        right_doc = bool(top) and top.document.name in gold_docs
        page_ok = right_doc and bool(cited_pages(top.passage) & gold_pages(question))
        pdf_page_ok = right_doc and bool({top.passage.page, top.passage.end_page} & set(question["pdf_pages"]))
    outcome = Outcome(question["id"], question["question"], question["answerable"], answer.answered, answer.reason,
                      rank, top.document.name if top else None, citations.cited_page(top.passage) if top else None,
                      page_ok, pdf_page_ok, highlight_at_start(top) if top else None, seconds=round(seconds, 4),
                      gold_documents=sorted(gold_docs),
                      why=None if question["answerable"] else question.get("why") or question.get("kind") or "?")
    if question["answerable"]:
        best = answer.best
        outcome.best_text = best.text if best else None
        outcome.best_ok = bool(best) and (not gold_docs or best.hit.document.name in gold_docs) and (
            holds(best.text, question["evidence"]) if best.label is None else  # a table cell: its row holds
            any(holds(best.hit.passage.text, [e]) and normalise(best.text) in normalise(e).split()  # the evidence,
                for e in question["evidence"]))  # and the evidence holds the cell
    if question.get("cell") is not None:
        outcome.held_out = bool(question.get("held_out"))
        outcome.cell_ok = rank == 1 and holds_cell(top, question["cell"])
    if question["answerable"] and rank != 1:
        outcome.failure, outcome.detail = classify_miss(question, hits, gold_docs, store)
    return outcome


# ---- a table row per set ------------------------------------------------------------------------

COLUMNS = ["set", "documents (failed)", "answerable / unanswerable", "hit@1", "hit@5", "MRR@10",
           "hit@1 of answered", "page@1 (printed)", "PDF page@1", "answered (all)", "abstention precision / recall",
           "answerable abstained", "highlight at sentence start", "best@1", "best@1 of hit@3", "ask ms p50"]


def set_table_header() -> str:
    return "| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS)


def ratio(num: int, den: int) -> str:
    return f"{num / den:.3f} ({num}/{den})" if den else "–"


def set_row(qset: QuestionSet, embedder: Embedder, reranker: Reranker | None,
            method: str, focus=True) -> tuple[str, list[Outcome]]:
    store = set_store(qset, embedder)
    searcher = Searcher(store, embedder, reranker, focus=focus)
    searcher.ask("warm up")
    outcomes = []
    for q in qset.questions:
        t = time.perf_counter()
        answer = searcher.ask(q["question"], k=K, method=method, rerank=reranker is not None)
        outcomes.append(judge(qset, q, answer, store, time.perf_counter() - t))
    SETS_OUT.mkdir(parents=True, exist_ok=True)
    with open(SETS_OUT / f"{qset.name}-results.jsonl", "w", encoding="utf-8") as f:
        for o in outcomes:
            f.write(json.dumps(asdict(o), ensure_ascii=False) + "\n")
    return format_row(qset.name, store, outcomes), outcomes


def format_row(name: str, store: Store, outcomes: list[Outcome]) -> str:
    ans = [o for o in outcomes if o.answerable]
    unans = [o for o in outcomes if not o.answerable]
    answered = [o for o in ans if o.answered]
    abstained = [o for o in outcomes if not o.answered]
    paged = [o for o in ans if o.page_ok is not None]
    lit = [o for o in outcomes if o.answered and o.highlight_at_start is not None]
    n = len(ans)
    mrr = sum(1 / o.rank for o in ans if o.rank) / n if n else 0.0
    cells = [
        name, f"{len(store.documents())} ({len(store.problems())})", f"{n} / {len(unans)}",
        ratio(sum(o.rank == 1 for o in ans), n), ratio(sum(bool(o.rank) and o.rank <= 5 for o in ans), n),
        f"{mrr:.3f}" if n else "–",
        ratio(sum(o.rank == 1 for o in answered), len(answered)),
        ratio(sum(o.page_ok for o in paged), len(paged)),
        ratio(sum(o.pdf_page_ok for o in paged), len(paged)),
        ratio(sum(o.answered for o in outcomes), len(outcomes)),
        f"{ratio(sum(not o.answerable for o in abstained), len(abstained))} / "
        f"{ratio(sum(not o.answered for o in unans), len(unans))}",
        ratio(sum(not o.answered for o in ans), n),
        ratio(sum(o.highlight_at_start for o in lit), len(lit)),
        ratio(sum(bool(o.best_ok) for o in ans), n),
        ratio(sum(bool(o.best_ok) for o in ans if o.rank and o.rank <= 3), sum(bool(o.rank) and o.rank <= 3 for o in ans)),
        f"{statistics.median(o.seconds for o in outcomes) * 1000:.0f}",
    ]
    return "| " + " | ".join(cells) + " |"


def cell_table(name: str, outcomes: list[Outcome]) -> str | None:
    """row@1, row@5 and cell@1 over a set's table questions, tuning and held-out parts apart."""
    asked = [o for o in outcomes if o.cell_ok is not None]
    if not asked:
        return None
    lines = ["| set | part | questions | row@1 | row@5 | cell@1 |", "|---|---|---|---|---|---|"]
    for part, group in (("tuning", [o for o in asked if not o.held_out]), ("held out", [o for o in asked if o.held_out]),
                        ("all", asked)):
        n = len(group)
        lines.append(f"| {name} | {part} | {n} | {ratio(sum(o.rank == 1 for o in group), n)} | "
                     f"{ratio(sum(bool(o.rank) and o.rank <= 5 for o in group), n)} | {ratio(sum(o.cell_ok for o in group), n)} |")
    return "\n".join(lines)


def print_failures(name: str, outcomes: list[Outcome]) -> None:
    """Each miss, classified; held-out questions are left out (only their number is said), so
    tuning never reads them."""
    held = sum(o.held_out for o in outcomes)
    if held:
        print(f"\n({name}: {held} held-out questions are not listed)")
    outcomes = [o for o in outcomes if not o.held_out]
    misses = [o for o in outcomes if o.failure]
    print(f"\n#### {name}: answerable questions without a hit at rank 1 ({len(misses)})\n")
    for kind in sorted({o.failure for o in misses}):
        group = [o for o in misses if o.failure == kind]
        print(f"- **{kind}** ({len(group)})")
        for o in group:
            flag = "" if o.answered else " [abstained]"
            print(f"  - {o.id} (rank {o.rank or '>10'}){flag}: {o.question} — {o.detail}")
    wrong = [o for o in outcomes if o.answerable and not o.answered]
    if wrong:
        print(f"\n{name}: answerable but abstained ({len(wrong)}): "
              + "; ".join(f"{o.id} ({o.reason})" for o in wrong))
    unanswerable = [o for o in outcomes if not o.answerable]
    if unanswerable:
        by_kind = {why: [o for o in unanswerable if o.why == why] for why in sorted({o.why for o in unanswerable})}
        print(f"\n{name}: unanswerable questions abstained, by kind: "
              + ", ".join(f"{why} {sum(not o.answered for o in group)}/{len(group)}" for why, group in by_kind.items()))
    missed = [o for o in unanswerable if o.answered]
    if missed:
        print(f"\n{name}: unanswerable but answered ({len(missed)}): " + "; ".join(
            f"{o.id} ({o.why}) “{o.question}” → {o.top_document} p.{o.top_cited_page}" for o in missed))
    wrong_best = [o for o in outcomes if o.answerable and o.rank and o.rank <= 3 and not o.best_ok]
    if wrong_best:
        print(f"\n{name}: evidence in the top 3 but not in the best answer ({len(wrong_best)}):")
        for o in wrong_best:
            print(f"  - {o.id} (rank {o.rank}): {o.question} → “{(o.best_text or '(none)')[:160]}”")
    wrong_cell = [o for o in outcomes if o.cell_ok is False and o.rank == 1]
    if wrong_cell:
        print(f"\n{name}: row first but the highlight misses the cell ({len(wrong_cell)}): "
              + "; ".join(f"{o.id} “{o.question}” → “{(o.best_text or '(none)')[:60]}”" for o in wrong_cell))
    bad_start = [o for o in outcomes if o.answered and o.highlight_at_start is False]
    if bad_start:
        print(f"\n{name}: top highlight not at a sentence start: {', '.join(o.id for o in bad_start)}")
