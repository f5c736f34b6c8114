"""What an export or a reference list covers: the hits of one answer, of several answers, or
hits picked by hand across questions, turned into cited documents with their cited pages."""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..models import Answer, Document, Hit
from .house import cell_in_quotes, cited_page, quoted_cell, table_locator

# An Answer, a Hit, or any iterable mixing them (a collection built across several questions).
Sources = Answer | Hit | Iterable[Answer | Hit]


@dataclass(frozen=True)
class CitedHit:
    hit: Hit
    question: str | None = None  # None for a hit given without its answer
    answered: bool | None = None
    reason: str | None = None  # why the answer is "not answered", when it is


@dataclass
class CitedDocument:
    document: Document
    key: str  # citation key, unique within one export, ASCII
    pages: list[str] = field(default_factory=list)  # cited pages (printed labels), in page order
    # table cells quoted from it, each with its row, column and table: “264,140” (Kentucky, Permit; Table 1, p. 1)
    cells: list[str] = field(default_factory=list)

    @property
    def note(self) -> str | None:
        """What an export's note says: the pages cited, and each table cell quoted."""
        parts = (["Cited " + pages_text(self.pages)] if self.pages else []) + self.cells
        return "; ".join(parts) or None


def cited_hits(sources: Sources) -> list[CitedHit]:
    if isinstance(sources, (Answer, Hit)):
        sources = [sources]
    out = []
    for source in sources:
        if isinstance(source, Answer):
            out += [CitedHit(hit, source.question, source.answered, source.reason) for hit in source.hits]
        elif isinstance(source, Hit):
            out.append(CitedHit(source))
        else:
            raise TypeError(f"cannot export a {type(source).__name__}: give Answers or Hits")
    return out


def cited_documents(hits: Iterable[CitedHit]) -> list[CitedDocument]:
    """One entry per document, in order of first appearance, with every page cited from it."""
    by_doc: dict[object, CitedDocument] = {}
    used: set[str] = set()
    for cited in hits:
        doc = cited.hit.document
        identity = doc.id if doc.id is not None else doc.path
        if identity not in by_doc:
            by_doc[identity] = CitedDocument(doc, citation_key(doc, used))
        page = cited_page(cited.hit.passage)
        if page is not None and page not in by_doc[identity].pages:
            by_doc[identity].pages.append(page)
        cell = quoted_cell(cited.hit)
        if cell is not None:
            where = "; ".join(x for x in (cell[1], table_locator(cited.hit.passage)) if x)
            quoted = cell_in_quotes(cell[0], where)
            if quoted not in by_doc[identity].cells:
                by_doc[identity].cells.append(quoted)
    for entry in by_doc.values():
        entry.pages = sort_pages(entry.pages)
    return list(by_doc.values())


def sort_pages(pages: list[str]) -> list[str]:
    """Front matter (roman or other labels) first, in the order cited, then numbers ascending."""
    def key(page: str):
        first = page.split("–")[0]
        return (1, int(first)) if first.isdigit() else (0, 0)
    return sorted(pages, key=key)


def pages_text(pages: list[str]) -> str:
    return ("p. " if len(pages) == 1 and "–" not in pages[0] else "pp. ") + ", ".join(pages)


def ascii_words(text: str) -> list[str]:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.findall(r"[A-Za-z0-9]+", plain)


def citation_key(doc: Document, used: set[str]) -> str:
    """publisher-word + year + title-word, lower-case ASCII (`massachusetts2019infant`), made
    unique within `used` with a numeric suffix."""
    who = ascii_words(doc.publisher or "") or ascii_words(doc.title) or ["source"]
    word = next((w for w in ascii_words(doc.title) if len(w) >= 4 and w.lower() != who[0].lower()), "")
    base = f"{who[0]}{doc.year or ''}{word}".lower()
    key, n = base, 1
    while key in used:
        n += 1
        key = f"{base}-{n}"
    used.add(key)
    return key
