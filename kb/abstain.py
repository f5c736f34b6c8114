"""Does the corpus answer the question? Three tests, all needed for "answered".

1. Topic: the best passage must be similar enough to the question (cosine). This
   separates off-topic questions ("how do I renew a passport").
2. Specifics: a near-miss ("Kentucky's 2019 home-visiting budget") scores like a real
   question, because the topic matches. So the question's distinctive terms (names,
   places, years, numbers, codes, acronyms) must all appear together in one of the best
   passages (with its heading and its document's title, publisher and year).
3. Substance: that passage must hold a fair share of the question's other words,
   weighted by rarity ("Head Start performance standards for classroom ratios" finds
   "Head Start" but nothing about standards or ratios).

Thresholds are calibrated by bench/quality.py on the dev questions, bench/answerable.jsonl
and bench/unanswerable.jsonl.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .tokens import tokenize
from .models import Document, Passage

MIN_COSINE = 0.30  # when the question names nothing specific, the topic test must carry it
MIN_COSINE_WITH_TERMS = 0.15  # named things found together are strong evidence on their own
MIN_COVERAGE = 0.30
QUESTION_WORDS = {
    "what", "which", "who", "whom", "whose", "when", "where", "why", "how", "is", "are", "was", "were", "do",
    "does", "did", "can", "could", "should", "would", "will", "has", "have", "had", "tell", "list", "name",
    "describe", "explain", "give", "show", "find", "according", "in", "under", "for", "the", "a", "an", "i",
}
TOKEN = re.compile(r"[\w§$][\w§$:./\-–'’]*\w|\w")


@dataclass
class Verdict:
    answered: bool
    reason: str | None
    missing: list[str]


def distinctive_terms(question: str) -> list[str]:
    """Names, places, years, numbers, codes and acronyms: what a passage must mention to
    answer this question rather than a neighbouring one."""
    terms = []
    words = TOKEN.findall(question)
    for i, raw in enumerate(words):
        word = raw.strip(".'’-–:")
        word = re.sub(r"['’]s$", "", word)
        if not word:
            continue
        has_digit = any(ch.isdigit() for ch in word)
        upper = sum(ch.isupper() for ch in word)
        acronym = upper >= 2 and upper >= len(re.sub(r"\W", "", word)) / 2
        proper = word[0].isupper() and i > 0 and word.lower() not in QUESTION_WORDS
        if has_digit or acronym or proper:
            if word.lower() not in QUESTION_WORDS:
                terms.append(word)
    return terms


def judge(question: str, best_cosine: float, passages: list[Passage], documents: dict[int, Document],
          idf: dict[str, float] | None = None) -> Verdict:
    if not passages:
        return Verdict(False, "The knowledge base has no passage to offer for this question.", [])
    terms = distinctive_terms(question)
    if best_cosine < (MIN_COSINE_WITH_TERMS if terms else MIN_COSINE):
        return Verdict(False, "No passage is about this question; the closest ones are shown for reference.", [])
    words = set(tokenize(question))
    weights = {t: (idf or {}).get(t, 1.0) for t in words}
    best_missing: list[str] | None = None
    best_coverage = 0.0
    for p in passages:
        doc = documents.get(p.document_id)
        meta = " ".join(str(x) for x in (doc.title, doc.publisher, doc.year) if x) if doc else ""
        seen = set(tokenize(p.text)) | set(tokenize(p.section or "")) | set(tokenize(meta))
        missing = [t for t in terms if not _found(t, seen)]
        if best_missing is None or len(missing) < len(best_missing):
            best_missing = missing
        if not missing:
            coverage = sum(w for t, w in weights.items() if t in seen) / (sum(weights.values()) or 1.0)
            best_coverage = max(best_coverage, coverage)
    if best_missing:
        listed = ", ".join(f"“{t}”" for t in best_missing)
        return Verdict(False, f"No matching passage mentions {listed}; the closest passages are shown, "
                              "but they may not answer this question.", best_missing)
    if words and best_coverage < MIN_COVERAGE:
        return Verdict(False, "The closest passages share little with this question; they are shown for "
                              "reference but probably do not answer it.", [])
    return Verdict(True, None, [])


def _found(term: str, seen: set[str]) -> bool:
    tokens = tokenize(term)
    if not tokens:
        return True  # a stopword, e.g. "The"
    codes = [t for t in tokens if not t.isalnum()]
    if codes:  # a code matches whole ("dc:0-5"), or by all of its parts
        return any(c in seen for c in codes) or all(t in seen for t in tokens if t.isalnum())
    return all(t in seen for t in tokens)
