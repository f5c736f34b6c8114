"""Page text built block by block, for formats that arrive as structure (HTML, Word) rather
than as laid-out lines (PDF).

One layout for all of them, so the splitter sees the same shapes whatever the source:
paragraphs and headings apart by a blank line, list items on consecutive lines, a table as
one block of rows (one line each, cells split by tabs) whose span and header rows go to
`Page.tables`, footnotes as their own blocks at the end, their spans in `Page.footnotes`.
A footnote reference travels in the text as `reference(marker)` until its block is written: then
it is taken out, and where it stood goes to `Page.footnote_refs`.
"""
from __future__ import annotations

import re

from kb.text import collapse

from ..limits import TextBudget
from ..types import Page

REF_OPEN, REF_CLOSE = "\ue002", "\ue003"
_REF = re.compile(f"{REF_OPEN}([^{REF_CLOSE}]*){REF_CLOSE}")

# short lines that hold content although set like headings (see holds_content)
_CAPTION_LINE = re.compile(r"(?:figure|fig\.|chart|map|photo)\s+(?:[A-Z]{1,3}-?)?\d+[\w.-]*[.:]?(?:\s|$)",
                           re.IGNORECASE)
_ROLE_LINE = re.compile(r"(?:[\w.'-]+\s+){0,2}(?:editors?|authors?|reviewers?|contributors?|writers?|"
                        r"prepared by|written by|edited by|photo(?:graph)?s?|credits?|contacts?)\s*:\s*\S",
                        re.IGNORECASE)
_BYLINE = re.compile(r"[Bb][Yy]\s+[A-Z][a-z.'-]*\.?\s+[A-Z]")
_DEGREE = re.compile(r",\s*(?:Ph\.?\s?D|M\.?D|MPH|M\.?S\.?W|LCSW|LMFT|Psy\.?D|Ed\.?D|RN|IMH-E)\b")


# A table's note: a line that opens with a note mark or a note's word ("*Per 100,000 …",
# "Source: …", "Abbreviation: CI = …", "DISCLAIMERS"), or a symbol's legend ("– Represents or
# rounds to zero.", "(X) Not applicable.").
NOTE_OPEN = re.compile(r"(?:[*†‡§¶#]+\s*\S|(?:sources?|notes?|abbreviations?|disclaimers?|footnotes?|legend|key)\b"
                       r"|(?:[–—-]|\(X\)|\(NA\)|NA|Z|\.\.\.)\s+[A-Z])", re.IGNORECASE)


def table_notes(body: list[list[str]]) -> int:
    """How many of a table's last body rows (each its non-empty cells) are its notes: from the
    first row of one cell that opens like a note, when every row after it is one cell or none,
    and some row above it has several cells."""
    for k, cells in enumerate(body):
        if len(cells) == 1 and NOTE_OPEN.match(cells[0]) and all(len(c) <= 1 for c in body[k:]):
            return len(body) - k if any(len(c) > 1 for c in body[:k]) else 0
    return 0


def holds_content(text: str) -> bool:
    """A short line that says something of its own, set like a heading: a figure caption
    ("Figure 4. Diagram of …"), a byline or credit ("Topic Editor: Jane Doe, PhD", "By Jane
    Doe"). Its words must be quotable text of a passage, not only a section label. (A table's
    caption set as a heading stays one: it is the section of the table's passages.)"""
    return bool(_CAPTION_LINE.match(text) or _ROLE_LINE.match(text) or _BYLINE.match(text)
                or _DEGREE.search(text))


def reference(marker: str) -> str:
    """A footnote reference, placed in a block's text where the source cites the note."""
    return f"{REF_OPEN}{marker}{REF_CLOSE}"


class PageBuilder:
    """Appends blocks to one page's text and records where headings, tables and footnotes are."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.headings: list[tuple[int, str]] = []
        self.tables: list[tuple[int, int, int]] = []
        self.footnotes: list[tuple[int, int]] = []
        self.footnote_refs: list[tuple[int, str]] = []
        self.previous: str | None = None  # kind of the last block written
        self.budget = TextBudget()  # KB_MAX_DOCUMENT_CHARS, counted as blocks are written

    def __bool__(self) -> bool:
        return self.length > 0

    def _write(self, kind: str, text: str) -> int:
        """Append `text` after the separator its kind needs; returns where it starts."""
        refs = []
        while (m := _REF.search(text)) is not None:
            end = m.end() + (1 if text[m.start() - 1:m.start()] == " " and text[m.end():m.end() + 1] == " " else 0)
            refs.append((m.start(), m.group(1)))
            text = text[:m.start()] + text[end:]
        if refs and not text.strip():  # a block that only cites a note: it cites it for the block before
            self.footnote_refs += [(self.length, marker) for _, marker in refs]
            return self.length
        if self.parts:
            sep = "\n" if kind == "item" and self.previous == "item" else "\n\n"
            self.parts.append(sep)
            self.length += len(sep)
        start = self.length
        self.budget.spend(len(text))
        self.parts.append(text)
        self.length += len(text)
        self.previous = kind
        self.footnote_refs += [(start + at, marker) for at, marker in refs]
        return start

    def heading(self, text: str) -> None:
        text = collapse(_REF.sub("", text))  # a note cited in a heading is read with no sentence
        if text:
            self.headings.append((self._write("heading", text), text))

    def paragraph(self, text: str) -> None:
        """A paragraph; line breaks inside it are kept as newlines."""
        lines = [collapse(line) for line in text.split("\n")]
        text = "\n".join(line for line in lines if line)
        if text:
            self._write("paragraph", text)

    def preformatted(self, text: str) -> None:
        text = text.strip("\n")
        if text.strip():
            self._write("paragraph", text)

    def item(self, text: str) -> None:
        """A list item: consecutive items sit on consecutive lines."""
        text = collapse(text)
        if text:
            self._write("item", text)

    def table(self, rows: list[list[str]], header_rows: int = 0) -> None:
        """Rows of cells; empty rows dropped, each cell on one line. The table's notes, its last
        rows of one cell that open like a note ("Source: …", "* Not significant."), follow it as a
        note block, never a row."""
        rows = [[collapse(cell) for cell in row] for row in rows]
        notes = table_notes([[c for c in row if c] for row in rows[header_rows:]])
        if notes:
            rows, notes = rows[:len(rows) - notes], [next(c for c in row if c) for row in rows[len(rows) - notes:]]
        kept: list[str] = []
        header_chars = 0
        for index, cells in enumerate(rows):
            if not any(cells):
                continue
            kept.append("\t".join(cells))
            if index < header_rows:
                header_chars = len("\n".join(kept))
        if kept:
            text = "\n".join(kept)
            start = self._write("table", text)
            self.tables.append((start, start + len(text), start + header_chars))
        if notes:
            self.footnote(" ".join(notes))  # one note block, right after its table

    def footnote(self, text: str) -> None:
        text = collapse(text)
        if text:
            start = self._write("footnote", text)
            self.footnotes.append((start, start + len(text)))

    def page(self, number: int | None = None) -> Page:
        return Page(number, "".join(self.parts), self.headings, tables=self.tables, footnotes=self.footnotes,
                    footnote_refs=self.footnote_refs)
