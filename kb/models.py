"""The records passed between storage, search, citation and the front ends."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Document:
    id: int | None
    path: str  # absolute path of the source file
    name: str  # file name as ingested, shown in results
    sha256: str
    size: int
    mtime_ns: int
    title: str
    publisher: str | None
    year: int | None
    doc_type: str | None
    pages: int | None  # page count for PDFs; None for flowing text
    ingested_at: str | None = None
    kind: str | None = None  # the format that read it: pdf, html, markdown, text, docx, ...
    warnings: tuple[str, ...] = ()
    url: str | None = None  # where the document is published (web pages: the address fetched)
    accessed: str | None = None  # ISO date a web page was retrieved, for "accessed" in citations
    states: tuple[str, ...] = ()  # US states/territories the document is about (two-letter codes)
    # JSON of what the file itself says (title, publisher, year, url, states), kept so edited or
    # removed sidecar entries can fall back to it without reading the file again.
    extracted_meta: str | None = None

    def to_dict(self) -> dict:
        """What citations will say about the document, and where it came from."""
        return {"name": self.name, "title": self.title, "publisher": self.publisher, "year": self.year,
                "type": self.doc_type, "url": self.url, "accessed": self.accessed, "states": list(self.states),
                "pages": self.pages, "format": self.kind, "path": self.path, "ingested_at": self.ingested_at,
                "warnings": list(self.warnings)}


@dataclass(frozen=True)
class TableRow:
    """A passage that is one row of a table: the table's caption and column names, and the row's
    cells as printed (`Passage.text` is the cells joined). A column name joins the levels of a
    multi-level header ("Pre-Pawn Handgun"); "" where the table names no column."""

    caption: str | None
    headers: tuple[str, ...]
    cells: tuple[str, ...]
    group: str | None = None  # a label row above this row's group ("Women"), when the table has one

    @property
    def label(self) -> str | None:
        """The table's own name from its caption ("Table 1", "Exhibit 9"), for citations."""
        import re

        m = re.match(r"\s*((?:table|exhibit|figure)\s+[\w.-]*\w)", self.caption or "", re.IGNORECASE)
        return m.group(1).capitalize() if m else None

    def to_dict(self) -> dict:
        return {"caption": self.caption, "headers": list(self.headers), "cells": list(self.cells), "group": self.group}

    @classmethod
    def from_dict(cls, d: dict) -> "TableRow":
        return cls(d.get("caption"), tuple(d.get("headers") or ()), tuple(d.get("cells") or ()), d.get("group"))


@dataclass(frozen=True)
class Passage:
    id: int | None
    document_id: int | None
    ordinal: int  # position within its document, 0-based
    page: int | None  # 1-based page for PDFs, None otherwise
    section: str | None  # nearest heading above the passage
    start: int  # character offsets into the extracted page text
    end: int
    text: str  # the source text of [start, end), whitespace collapsed (+ a sentence's run-over, below)
    page_label: str | None = None  # the printed page number ("24", "iv"); cite this, open at `page`
    ocr: bool = False  # the text was recognised from a page image, not read from a text layer
    states: tuple[str, ...] = ()  # US states/territories the passage names (two-letter codes)
    # Text the passage is read with but does not contain: the header row of a table or the
    # lead-in of a list that the size limit cut; for a footnote, the sentence that cites it.
    # Indexed with the passage, shown above it (`context_label`), never quoted.
    context: str | None = None
    # When the passage's last sentence runs over a page break, `text` ends with the rest of it
    # from the top of this page (and the passage is cited "pp. 62–63"); else None.
    end_page: int | None = None
    end_page_label: str | None = None
    footnote: bool = False  # a footnote block (notes, references; PDF or Word), kept apart from body text
    table: TableRow | None = None  # the row of a table this passage is, with its caption and column names

    @property
    def context_label(self) -> str | None:
        """`context` as a reader is shown it, above the passage."""
        if self.table is not None:
            return self.table.caption
        if not self.context:
            return None
        return f"Note to: “{self.context}”" if self.footnote else f"Continues: {self.context}"


@dataclass(frozen=True)
class Filters:
    """Restrictions applied inside the search, so k results still come back."""

    documents: tuple[str, ...] = ()  # file names or paths
    doc_types: tuple[str, ...] = ()
    publishers: tuple[str, ...] = ()
    year_min: int | None = None
    year_max: int | None = None
    states: tuple[str, ...] = ()  # two-letter codes: passages that name, or documents about, any of them

    def is_empty(self) -> bool:
        return not (self.documents or self.doc_types or self.publishers or self.states
                    or self.year_min is not None or self.year_max is not None)


@dataclass
class Hit:
    passage: Passage
    document: Document
    score: float
    citation: str
    highlights: list[tuple[int, int]] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)  # per-stage scores, for debugging

    def to_dict(self) -> dict:
        """The JSON shape of a result, the same in `kb ask --json` and every other front end."""
        d, p = self.document, self.passage
        return {
            "document": d.name, "page": p.page, "page_label": p.page_label, "end_page": p.end_page,
            "end_page_label": p.end_page_label, "section": p.section,
            "text": p.text, "score": round(self.score, 6), "citation": self.citation,
            "highlights": [list(s) for s in self.highlights], "quote_citation": self.quote_citation,
            "title": d.title, "publisher": d.publisher, "year": d.year, "url": d.url,
            "states": list(p.states), "ocr": p.ocr, "passage_id": p.id, "context": p.context,
            "footnote": p.footnote, "table": p.table.to_dict() if p.table else None,
        }

    @property
    def quote_citation(self) -> str:
        from .citations import quote_citation

        return quote_citation(self)


@dataclass
class BestAnswer:
    """The sentence (or two, or list item) that answers, verbatim from one of the hits."""

    hit: Hit
    rank: int  # 1-based rank of its passage among the hits
    spans: list[tuple[int, int]]  # character spans into hit.passage.text, in text order
    column: str | None = None  # a table cell: its column's name (the row is the passage's table row)

    @property
    def text(self) -> str:
        """The words quoted, verbatim (a table cell as printed)."""
        return " ".join(" ".join(self.hit.passage.text[s:e].split()) for s, e in self.spans)

    @property
    def label(self) -> str | None:
        """A table cell's row and column ("Kentucky, Permit"), said outside the quotation marks."""
        row = self.hit.passage.table
        if self.column is None or row is None:
            return None
        first = next((c for c in row.cells if c), "")
        return ", ".join(x for x in (first if first != self.text else "", self.column) if x) or None

    def to_dict(self) -> dict:
        where = self.hit.citation.rstrip(".")
        out = {"text": self.text, "label": self.label, "passage_id": self.hit.passage.id, "rank": self.rank,
               "spans": [list(s) for s in self.spans], "citation": self.hit.citation,
               "quote_citation": f"“{self.text}” ({self.label}; {where})." if self.label else f"“{self.text}” ({where})."}
        if self.column is not None and self.hit.passage.table is not None:
            out["table"] = {**self.hit.passage.table.to_dict(), "column": self.column}
        return out


@dataclass
class Answer:
    question: str
    answered: bool
    hits: list[Hit]
    reason: str | None = None  # why the corpus does not seem to answer, when answered is False
    method: str = "fused"
    seconds: float = 0.0
    best: BestAnswer | None = None  # None when not answered, or when no sentence answers

    def to_dict(self, qid=None) -> dict:
        out = {"id": qid, "question": self.question, "answered": self.answered}
        if not self.answered:
            out["reason"] = self.reason
        out["best_answer"] = self.best.to_dict() if self.best else None
        out["passages"] = [h.to_dict() for h in self.hits]
        out["method"] = self.method
        out["seconds"] = round(self.seconds, 4)
        return out


@dataclass
class Status:
    """What a knowledge base holds, for `kb status` and the app."""

    location: str
    backend: str
    documents: int
    passages: int
    model: str | None
    dimension: int | None
    index: str | None
    generation: int
    updated_at: str | None
    schema: int | None
    bytes: int | None = None  # on disk, where the backend can tell
    vector_bytes: int | None = None
    problems: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)
