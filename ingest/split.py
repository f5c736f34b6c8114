"""Pages → passages: verbatim spans of about 100–250 words that never cross a page or a heading.

Pure functions, property-tested. A passage is a [start, end) span of its page's text;
its `text` is that span with whitespace collapsed, so a quote pasted from it is exact.
Units, from coarse to fine: blocks (blank-line separated), list items and lines that end
a sentence, sentences, words, characters. Units are packed greedily up to the target size.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from kb.models import Passage
from kb.text import collapse, sentences, trimmed

from .types import Page

TARGET_WORDS = 150
MAX_WORDS = 250
MAX_CHARS = 2500
SMALL_TAIL = 40  # a last piece this small joins the passage before it when it fits

BLOCK_BREAK = re.compile(r"\n[ \t\f\v\r]*\n\s*")
LIST_ITEM = re.compile(r"\s*(?:[-*•◦▪‣–·o]|\(?\d{1,3}[.)]|\(?[a-zA-Z][.)])\s+")
@dataclass(frozen=True)
class Span:
    start: int
    end: int
    words: int


def split_pages(pages: list[Page], target_words: int = TARGET_WORDS, max_words: int = MAX_WORDS,
                max_chars: int = MAX_CHARS) -> list[Passage]:
    """Passages for a document, in reading order, `ordinal` counting from 0."""
    out: list[Passage] = []
    section: str | None = None
    for page in pages:
        for start, end, heading in _regions(page, section):
            section = heading
            for span in _pack(_units(page.text, start, end, max_words, max_chars), target_words, max_words, max_chars,
                              page.text):
                out.append(Passage(None, None, len(out), page.number, heading, span.start, span.end,
                                   collapse(page.text[span.start:span.end])))
        if page.headings:
            section = page.headings[-1][1]
    return out


def _regions(page: Page, section: str | None):
    """(start, end, governing heading) spans of a page, cut at headings.

    A heading with no text under it (the next heading follows at once) joins the region
    below, which is governed by the nearer heading.
    """
    text = page.text
    cuts = [(0, section)] + [(off, h) for off, h in page.headings if 0 <= off < len(text)]
    cuts.sort(key=lambda c: c[0])
    regions = []
    pending_start = None
    for i, (start, heading) in enumerate(cuts):
        end = cuts[i + 1][0] if i + 1 < len(cuts) else len(text)
        if end <= start:
            continue
        body = text[start:end]
        heading_only = i > 0 and i + 1 < len(cuts) and _is_just_heading(body, heading)
        if pending_start is None:
            pending_start = start
        if heading_only:
            continue
        if text[pending_start:end].strip():
            regions.append((pending_start, end, heading))
        pending_start = None
    if pending_start is not None and text[pending_start:].strip():
        regions.append((pending_start, len(text), cuts[-1][1]))
    return regions


def _is_just_heading(body: str, heading: str) -> bool:
    return len(collapse(body).split()) <= len(collapse(heading).split()) + 1


def _units(text: str, start: int, end: int, max_words: int, max_chars: int) -> list[Span]:
    units: list[Span] = []
    for b_start, b_end in _blocks(text, start, end):
        for l_start, l_end in _list_items(text, b_start, b_end):
            units += _fit(text, l_start, l_end, max_words, max_chars)
    return units


def _blocks(text: str, start: int, end: int):
    pos = start
    for m in BLOCK_BREAK.finditer(text, start, end):
        yield from trimmed(text, pos, m.start())
        pos = m.end()
    yield from trimmed(text, pos, end)


def _list_items(text: str, start: int, end: int):
    """Split a block before lines that start a list item, and after lines ending a sentence."""
    lines = []
    pos = start
    while pos < end:
        nl = text.find("\n", pos, end)
        line_end = end if nl < 0 else nl
        lines.append((pos, line_end))
        pos = line_end + 1
    if len(lines) == 1:
        yield from trimmed(text, start, end)
        return
    item_start = lines[0][0]
    for (s, e), nxt in zip(lines, lines[1:] + [None]):
        if nxt is None:
            yield from trimmed(text, item_start, e)
            break
        next_is_item = bool(LIST_ITEM.match(text, nxt[0], nxt[1]))
        ends_sentence = text[s:e].rstrip().endswith((".", "!", "?", ":", ";"))
        if next_is_item or (ends_sentence and _starts_upper(text, nxt[0], nxt[1])):
            yield from trimmed(text, item_start, e)
            item_start = nxt[0]


def _starts_upper(text: str, start: int, end: int) -> bool:
    stripped = text[start:end].lstrip()
    return bool(stripped) and (stripped[0].isupper() or stripped[0].isdigit())


def _fit(text: str, start: int, end: int, max_words: int, max_chars: int) -> list[Span]:
    """One unit if it is small enough, else its sentences, else word (then character) chunks."""
    words = len(text[start:end].split())
    if words <= max_words and end - start <= max_chars:
        return [Span(start, end, words)]
    pieces = list(sentences(text, start, end))
    if len(pieces) > 1:
        return [u for s, e in pieces for u in _fit(text, s, e, max_words, max_chars)]
    return _chunks(text, start, end, max_words, max_chars)


def _chunks(text: str, start: int, end: int, max_words: int, max_chars: int) -> list[Span]:
    out = []
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text[start:end])]
    i = 0
    while i < len(words):
        s = start + words[i][0]
        j = i
        while j < len(words) and j - i < max_words and start + words[j][1] - s <= max_chars:
            j += 1
        if j == i:  # one "word" longer than max_chars: cut it
            e = s + max_chars
            out.append(Span(s, e, 1))
            w_end = start + words[i][1]
            if e < w_end:
                words[i] = (e - start, words[i][1])
                continue
            i += 1
            continue
        e = start + words[j - 1][1]
        out.append(Span(s, e, j - i))
        i = j
    return out


def _pack(units: list[Span], target: int, max_words: int, max_chars: int, text: str) -> list[Span]:
    passages: list[Span] = []
    cur: Span | None = None
    for u in units:
        if cur is None:
            cur = u
            continue
        merged = Span(cur.start, u.end, cur.words + u.words)
        if cur.words >= target or merged.words > max_words or merged.end - merged.start > max_chars:
            passages.append(cur)
            cur = u
        else:
            cur = merged
    if cur is not None:
        if passages and cur.words < SMALL_TAIL:
            prev = passages[-1]
            merged = Span(prev.start, cur.end, prev.words + cur.words)
            if merged.words <= max_words and merged.end - merged.start <= max_chars:
                passages[-1] = merged
                return passages
        passages.append(cur)
    return passages
