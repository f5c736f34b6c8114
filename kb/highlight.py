"""Which sentence(s) of a passage answer the question: character spans into passage.text."""
from __future__ import annotations

import re

import numpy as np

from .text import FOOTNOTE_START, LIST_MARKER, TRAILING_MARKER, URL, sentences, trimmed
from .tokens import tokenize

MAX_LIST_ITEMS = 10
NOTE_NUMBER = re.compile(r"\s*(?:\d{1,3}|[¹²³⁴⁵⁶⁷⁸⁹⁰]{1,3}|\*+)\s+(?=\S)")  # a footnote's own number
TRAILING_BULLET = re.compile(r"\s+[•▪◦!*–-]$")
TRAILING_URL = re.compile(r"[\s(<]*(?:https?://|www\.)\S+[\s)>.]*$")
# An all-capitals heading run into the sentence after it ("TITLE II: ONLINE COPYRIGHT
# INFRINGEMENT LIABILITY LIMITATION Title II of the DMCA adds …"): three or more capitalised
# words, two of them long, before a word in sentence case.
RUN_IN_HEADING = re.compile(r"(?:[A-Z0-9][A-Z0-9:;,.'’()&/–-]*\s+){3,}(?=[A-Z][a-z])")


def sentence_spans(text: str, heading: str | None = None, note: bool = False) -> list[tuple[int, int]]:
    """Sentences and list items of a passage, without a footnote marker left on their end or
    an address left bare after them; a heading the passage opens with (or runs into its first
    sentence) is left out, since a heading is not an answer. `note`: the passage is a
    footnote, whose own number ("1 Reflective supervision is …") is not part of its text."""
    start = len(heading) if heading and text.startswith(heading) else 0
    if note:
        number = NOTE_NUMBER.match(text, start)
        start = number.end() if number else start
    spans = []
    for s, e in sentences(text, start, bullets=True):
        marker = TRAILING_MARKER.search(text, s, e)
        e = marker.start() if marker else e
        heading_run = RUN_IN_HEADING.match(text, s, e)
        if heading_run and sum(len(re.sub(r"\W", "", w)) >= 4 for w in heading_run.group().split()) >= 2:
            s = heading_run.end()
        address = TRAILING_URL.search(text, s, e)
        if address and len(text[s:address.start()].split()) >= 3:
            e = address.start()
        bullet = TRAILING_BULLET.search(text, s, e)  # the next item's marker ("… activities. !")
        if bullet and bullet.start() > s:
            e = bullet.start()
        spans.extend(trimmed(text, s, e))
    return spans


def table_cell(question: str, passage) -> list[tuple[int, int]] | None:
    """For a passage that is a table row: the span of the cell the question asks for
    (kb/tables.py), not the whole row; None for other passages."""
    if getattr(passage, "table", None) is None:
        return None
    from .tables import pick_cell

    cell = pick_cell(question, passage)
    return [cell.span] if cell else None


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
        chosen |= set(_list_items(i, spans, text))
    return merge_spans(sorted(spans[i] for i in chosen), text)


def _list_items(i: int, spans: list[tuple[int, int]], text: str) -> list[int]:
    """The list items after span i, when span i introduces a list ("…six areas:")."""
    items = []
    if text[spans[i][0]:spans[i][1]].rstrip().endswith(":"):
        j = i + 1
        while j < len(spans) and j <= i + MAX_LIST_ITEMS and LIST_MARKER.match(text, spans[j][0]):
            items.append(j)
            j += 1
    return items


def with_list(chosen: list[tuple[int, int]], spans: list[tuple[int, int]], text: str) -> list[tuple[int, int]]:
    """The chosen spans, and the list items their last one introduces (`spans`: the passage's
    `sentence_spans`, read once by the caller for all its windows)."""
    if chosen and chosen[-1] in spans:
        chosen = chosen + [spans[j] for j in _list_items(spans.index(chosen[-1]), spans, text)]
    return merge_spans(sorted(chosen), text)


def merge_spans(spans: list[tuple[int, int]], text: str) -> list[tuple[int, int]]:
    """Join spans separated only by whitespace."""
    out: list[tuple[int, int]] = []
    for s, e in spans:
        if out and not text[out[-1][1]:s].strip():
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out
