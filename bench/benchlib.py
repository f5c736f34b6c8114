"""Shared helpers for the performance benchmarks (ingest_speed, reingest, query_latency, app_startup).

Real text comes from the SciFact abstracts in ../shared/bench/scifact/ (CC BY-NC: read from
there at run time, never copied into the repository); generated corpora and knowledge bases
go under bench/out/ (git-ignored) or a temporary folder.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import re
import resource
import statistics
import sys
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "out"
SCIFACT = ROOT.parent / "shared" / "bench" / "scifact"
QUESTIONS = ROOT.parent / "shared" / "eval" / "questions.jsonl"
CORPUS = ROOT / "corpus"
GOV_PDFS = ROOT.parent / "shared" / "gov-pdfs"
OWN_DOCS = ROOT / "bench" / "docs"
TABLE_DOCS = OWN_DOCS / "tables"  # Word and HTML documents whose facts sit in tables (the tables-more set)
QUESTION_SETS = ROOT / "bench" / "questions"
PYTHON = sys.executable
KB_CLI = str(Path(sys.executable).with_name("kb"))


# ---- the machine ----------------------------------------------------------------------------

def load_note() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1/5/15 min) on {os.cpu_count()} cores"


def wait_for_quiet(max_load: float | None, max_wait_s: float = 900.0) -> None:
    """Wait (up to max_wait_s) until the 1-minute load average is below max_load."""
    if max_load is None:
        return
    deadline = time.monotonic() + max_wait_s
    while os.getloadavg()[0] > max_load and time.monotonic() < deadline:
        print(f"(waiting for the machine to quieten: {load_note()})", file=sys.stderr)
        time.sleep(30)


def peak_rss_mib() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a
    child forked from a big parent would report the parent's size."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---- tables and figures ---------------------------------------------------------------------

def table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def p50_p95_ms(values: list[float]) -> str:
    return f"{np.percentile(values, 50) * 1000:.1f} / {np.percentile(values, 95) * 1000:.1f}"


def min_med(values: list[float], fmt: str = "{:.2f}") -> str:
    return f"{fmt.format(min(values))} / {fmt.format(statistics.median(values))}"


def mib(nbytes: float) -> str:
    return f"{nbytes / 2**20:,.1f} MiB"


def folder_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


# ---- real text ------------------------------------------------------------------------------

def scifact_docs() -> list[dict]:
    path = SCIFACT / "corpus.jsonl"
    if not path.is_file():
        sys.exit(f"SciFact corpus not found at {path}")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def sentences_of(text: str) -> list[str]:
    from kb.text import sentences

    text = " ".join(text.split())
    return [text[s:e] for s, e in sentences(text)]


def scifact_sentences() -> list[list[str]]:
    """Each SciFact abstract as its list of sentences, in corpus order."""
    return [sentences_of(d["text"]) for d in scifact_docs()]


def paragraph(rng: random.Random, pool: list[list[str]], words: int, sources: list[int] | None = None) -> str:
    """Sentences drawn from the abstracts `sources` (else random ones) until about `words` words."""
    out, n = [], 0
    while n < words:
        doc = pool[rng.choice(sources)] if sources else rng.choice(pool)
        if not doc:
            sources = None
            continue
        s = rng.choice(doc)
        out.append(s)
        n += len(s.split())
    return " ".join(out)


def write_text_corpus(folder: Path, files: int, seed: int = 0, paragraphs: tuple[int, int] = (9, 21),
                      words: tuple[int, int] = (40, 160)) -> Path:
    """`files` .txt files of paragraphs made of sentences sampled from SciFact abstracts.

    Paragraph lengths vary so the splitter packs and splits as it would real documents.
    Deterministic for a seed; returns the folder.
    """
    from ingest.sniff import looks_like_text

    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    pool = scifact_sentences()
    for i in range(files):
        paras = [paragraph(rng, pool, rng.randint(*words)) for _ in range(rng.randint(*paragraphs))]
        while True:
            title = " ".join(rng.choice(pool[rng.randrange(len(pool))] or ["Untitled"]).split()[:8])
            text = title + "\n\n" + "\n\n".join(paras) + "\n"
            # A file that starts with e.g. "Article" is taken for a Usenet message by the
            # sniffer and refused; draw another title (see the README's notes).
            if looks_like_text(text.encode()):
                break
        (folder / f"doc-{i:05d}.txt").write_text(text, encoding="utf-8")
    return folder


def questions() -> list[str]:
    """The 300 SciFact test queries and the 32 dev questions."""
    queries = {q["_id"]: q["text"] for q in map(json.loads, (SCIFACT / "queries.jsonl").read_text().splitlines())}
    test_ids = []
    for line in (SCIFACT / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        qid = line.split("\t")[0]
        if qid not in test_ids:
            test_ids.append(qid)
    dev = [json.loads(l)["question"] for l in QUESTIONS.read_text().splitlines() if l.strip()]
    return [queries[q] for q in test_ids] + dev


# ---- real vectors ---------------------------------------------------------------------------

def scifact_vectors(embedder) -> tuple[np.ndarray, list[list[str]]]:
    """The real embeddings of the 5,183 SciFact abstracts (cached KB in bench/out/, built by
    bench/quality.py's scifact_store on first use) and, row for row, each abstract's sentences."""
    sys.path.insert(0, str(ROOT / "bench"))
    from quality import scifact_store

    from kb import vectors as vec

    OUT.mkdir(parents=True, exist_ok=True)
    store = scifact_store(embedder)
    index = vec.read(store.vectors_path(store.generation()))
    ids, vectors = vec.contents(index)
    with store.read() as conn:
        name_of = dict(conn.execute("SELECT p.id, d.name FROM passages p JOIN documents d ON d.id = p.document_id"))
    by_id = {d["_id"]: d for d in scifact_docs()}
    sents = [sentences_of(by_id[name_of[int(i)]]["text"]) for i in ids]
    return np.ascontiguousarray(vectors, dtype=np.float32), sents


def mixtures(base: np.ndarray, n: int, seed: int = 0, noise: float = 0.2, chunk: int = 100_000):
    """n unit vectors, each a random convex mixture of 2-3 rows of `base` plus Gaussian noise of
    norm about `noise`; returns (vectors, component rows (n, 3), -1 where only two)."""
    rng = np.random.default_rng(seed)
    d = base.shape[1]
    out = np.empty((n, d), np.float32)
    parts = rng.integers(0, len(base), size=(n, 3))
    parts[rng.random(n) < 0.5, 2] = -1
    for start in range(0, n, chunk):
        p = parts[start:start + chunk]
        w = rng.dirichlet([1.0, 1.0, 1.0], size=len(p)).astype(np.float32)
        w[p[:, 2] < 0, 2] = 0
        v = (w[:, :1] * base[p[:, 0]] + w[:, 1:2] * base[p[:, 1]] + w[:, 2:3] * base[np.maximum(p[:, 2], 0)])
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        v += rng.normal(0, noise / np.sqrt(d), size=v.shape).astype(np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        out[start:start + len(p)] = v
    return out, parts


# ---- timing helpers -------------------------------------------------------------------------

class Timers:
    """Wraps functions (in this process only) to add up the seconds spent in them."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._undo = []

    def wrap(self, owner, attr: str, label: str | None = None) -> None:
        label = label or attr
        original = getattr(owner, attr)

        def timed(*args, **kwargs):
            t = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - t
                self.calls[label] = self.calls.get(label, 0) + 1

        setattr(owner, attr, timed)
        self._undo.append((owner, attr, original))

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()

    def restore(self) -> None:
        for owner, attr, original in reversed(self._undo):
            setattr(owner, attr, original)
        self._undo.clear()

    def get(self, label: str) -> float:
        return self.seconds.get(label, 0.0)


# ---- question sets with gold evidence -------------------------------------------------------

def normalise(text: str) -> str:
    """Text as evidence is compared: NFKC, case-folded, one quote and one dash style, whitespace
    collapsed, and a hyphen or dash between two words dropped with the spaces around it, so
    "ini- tiated" (a line-end hyphen), "4 – 6" and "4-6" all compare equal."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = text.translate(str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'}))
    text = re.sub(r"[\u2010-\u2015\u2212]", "-", text)
    text = re.sub(r"(?<=\w)\s*-\s*(?=\w)", "", text)
    return " ".join(text.split())


def holds(text: str, evidence: list[str]) -> bool:
    """Whether the text contains any of the gold evidence snippets (after normalise)."""
    text = normalise(text)
    return any(normalise(e) in text for e in evidence)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass
class QuestionSet:
    """Questions with gold labels and the documents they are asked over.

    Each question has `answerable`, `evidence` (snippets a correct passage contains) and
    `documents` (file names; empty: any document). `aliases` maps the names questions use to
    the names the files are ingested under (the dev questions name the seed files that
    corpus/ was made from)."""

    name: str
    questions: list[dict]
    docs: list[Path]
    aliases: dict[str, str]
    corpus: str = ""  # sets over the same documents share one knowledge base, built under this name

    def __post_init__(self):
        self.corpus = self.corpus or self.name

    def gold_documents(self, question: dict) -> set[str]:
        return {self.aliases.get(d, d) for d in question.get("documents") or []}


SET_NAMES = ("dev", "gov", "own", "tables", "tables-more", "answerable", "unanswerable", "answers-gov", "answers-corpus")
# Written for the best answer and never read while tuning it: measured only (questions/holdout/README.md).
HOLDOUT_SETS = ("answers-gov-holdout", "answers-corpus-holdout")


def question_set(name: str) -> QuestionSet:
    """dev: the 32 shared dev questions over corpus/; gov: bench/questions/gov.jsonl over the
    twelve government PDFs; own: bench/questions/own.jsonl over bench/docs/ (held out: written
    for measuring, never for tuning); answerable / unanswerable: bench/*.jsonl over corpus/."""
    if name == "dev":
        questions = [{**q, "answerable": True} for q in read_jsonl(QUESTIONS)]
        return QuestionSet(name, questions, [CORPUS], source_aliases(CORPUS))
    if name in ("gov", "tables"):  # tables: questions answered by one table cell, over the same PDFs
        return QuestionSet(name, read_jsonl(QUESTION_SETS / f"{name}.jsonl"), sorted(GOV_PDFS.glob("*.pdf")), {},
                           corpus="gov")
    if name == "tables-more":  # other tables: the gov PDFs' tables that `tables` leaves alone, Word and HTML tables
        names = json.loads((TABLE_DOCS / "metadata.json").read_text(encoding="utf-8"))
        return QuestionSet(name, read_jsonl(QUESTION_SETS / "tables-more.jsonl"),
                           sorted(GOV_PDFS.glob("*.pdf")) + [TABLE_DOCS / n for n in sorted(names)], {})
    if name in ("answers-gov", "answers-gov-holdout"):
        path = QUESTION_SETS / ("holdout/answers-gov.jsonl" if name.endswith("holdout") else "answers-gov.jsonl")
        return QuestionSet(name, read_jsonl(path), sorted(GOV_PDFS.glob("*.pdf")), {}, corpus="gov")
    if name in ("answers-corpus", "answers-corpus-holdout"):
        path = QUESTION_SETS / ("holdout/answers-corpus.jsonl" if name.endswith("holdout") else "answers-corpus.jsonl")
        return QuestionSet(name, read_jsonl(path), [CORPUS], source_aliases(CORPUS), corpus="dev")
    if name == "own":
        names = json.loads((OWN_DOCS / "metadata.json").read_text(encoding="utf-8"))
        return QuestionSet(name, read_jsonl(QUESTION_SETS / "own.jsonl"), [OWN_DOCS / n for n in sorted(names)], {})
    if name in ("answerable", "unanswerable"):
        questions = [{**q, "answerable": name == "answerable"} for q in read_jsonl(ROOT / "bench" / f"{name}.jsonl")]
        return QuestionSet(name, questions, [CORPUS], source_aliases(CORPUS), corpus="dev")
    raise ValueError(f"unknown question set {name!r}; choose from {', '.join(SET_NAMES)}")


def source_aliases(folder: Path) -> dict[str, str]:
    """Original file name -> file name in the folder, from the sidecar's `source` fields."""
    sidecar = folder / "metadata.json"
    if not sidecar.is_file():
        return {}
    entries = json.loads(sidecar.read_text(encoding="utf-8"))
    return {Path(e["source"]).name: name for name, e in entries.items() if isinstance(e, dict) and e.get("source")}


def files_of(paths: list[Path]) -> list[Path]:
    return sorted(f for p in paths for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file())


def content_hash(paths: list[Path], *extra: str) -> str:
    """sha256 over the files' names and bytes (folders walked) and any extra strings."""
    h = hashlib.sha256()
    for f in files_of(paths):
        h.update(f.name.encode() + b"\0" + hashlib.sha256(f.read_bytes()).digest())
    for e in extra:
        h.update(e.encode() + b"\0")
    return h.hexdigest()
