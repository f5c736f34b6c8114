"""Which sentence(s) of a passage answer the question: character spans into passage.text."""
from __future__ import annotations

import numpy as np

from .text import FOOTNOTE_START, LIST_MARKER, TRAILING_MARKER, URL, sentences
from .tokens import tokenize

MAX_LIST_ITEMS = 10


def sentence_spans(text: str, heading: str | None = None) -> list[tuple[int, int]]:
    """Sentences and list items of a passage, without a footnote marker left on their end; a
    heading the passage opens with is left out, since a heading is not an answer."""
    start = len(heading) if heading and text.startswith(heading) else 0
    spans = []
    for s, e in sentences(text, start, bullets=True):
        marker = TRAILING_MARKER.search(text, s, e)
        spans.append((s, marker.start() if marker else e))
    return spans


def quotable(piece: str) -> bool:
    """A footnote's own text or a bare address is not an answer to quote."""
    if FOOTNOTE_START.match(piece) and not LIST_MARKER.match(piece):
        return False
    return len(URL.sub("", piece).split()) >= 3


def lexical_scores(question: str, pieces: list[str], idf: dict[str, float] | None = None) -> np.ndarray:
    """Share of the question's (idf-weighted) terms each piece contains."""
    q = set(tokenize(question))
    if not q:
        return np.zeros(len(pieces))
    weight = {t: (idf or {}).get(t, 1.0) for t in q}
    total = sum(weight.values()) or 1.0
    return np.array([sum(weight[t] for t in q & set(tokenize(p))) / total for p in pieces])


def pick(scores: np.ndarray, spans: list[tuple[int, int]], text: str, keep_ratio: float = 0.85, most: int = 2
         ) -> list[tuple[int, int]]:
    """The best span, plus the next best if it scores nearly as well; in text order.

    A chosen sentence that introduces a list ("…six areas of consideration:") brings the
    list items after it, since they are the answer.
    """
    if not spans:
        return []
    scores = np.array([sc if quotable(text[s:e]) else sc - 2.0 for sc, (s, e) in zip(scores, spans)])
    order = np.argsort(-scores, kind="stable")
    best = scores[order[0]]
    chosen = {int(order[0])} | {int(i) for i in order[1:most] if best > 0 and scores[i] >= keep_ratio * best}
    for i in sorted(chosen):
        if text[spans[i][0]:spans[i][1]].rstrip().endswith(":"):
            j = i + 1
            while j < len(spans) and j <= i + MAX_LIST_ITEMS and LIST_MARKER.match(text, spans[j][0]):
                chosen.add(j)
                j += 1
    return _merge(sorted(spans[i] for i in chosen), text)


def _merge(spans: list[tuple[int, int]], text: str) -> list[tuple[int, int]]:
    """Join spans separated only by whitespace."""
    out: list[tuple[int, int]] = []
    for s, e in spans:
        if out and not text[out[-1][1]:s].strip():
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out
