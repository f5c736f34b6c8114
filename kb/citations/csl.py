"""Documents as CSL-JSON items, the citation data Zotero, Pandoc and citation.js share."""
from __future__ import annotations

import re
from datetime import date

from ..models import Document
from ..text import collapse

# doc_type words -> CSL type; the first pattern that matches wins.
DOC_TYPE_PATTERNS = [
    (r"web ?page|web ?site|topic page|blog|online", "webpage"),
    (r"\bbill\b", "bill"),
    (r"\b(law|statute|act|legislation|regulation|rule|ordinance|code)s?\b", "legislation"),
    (r"\b(journal )?article\b|\bpaper\b", "article-journal"),
    (r"\b(hand)?book\b|\bmanual\b", "book"),
    (r"report|brief|plan|tool|guid|evaluation|white paper|fact sheet|study|assessment|strategy",
     "report"),
]
# CSL types that read the document type as a genre ("[Policy brief]" in APA).
GENRE_TYPES = {"report", "document"}


def csl_type(doc: Document) -> str:
    kind = (doc.doc_type or "").lower()
    for pattern, csl in DOC_TYPE_PATTERNS:
        if re.search(pattern, kind):
            return csl
    if doc.kind == "html" or (doc.url and doc.accessed):
        return "webpage"
    return "report" if doc.kind == "pdf" else "document"


def access_date(doc: Document) -> date | None:
    """The day a web page was read, when the stored ISO date is valid."""
    try:
        return date.fromisoformat((doc.accessed or "")[:10])
    except ValueError:
        return None


def csl_item(doc: Document, key: str) -> dict:
    """One CSL-JSON item. The publisher is the institutional author ({"literal": ...}, never
    split into family/given names) and the publisher; `issued` only when the year is known."""
    item: dict = {"id": key, "type": csl_type(doc), "title": collapse(doc.title)}
    if doc.publisher:
        item["author"] = [{"literal": collapse(doc.publisher)}]
        item["publisher"] = collapse(doc.publisher)
    if doc.year:
        item["issued"] = {"date-parts": [[doc.year]]}
    if doc.doc_type and item["type"] in GENRE_TYPES and doc.doc_type.strip().lower() != item["type"]:
        genre = collapse(doc.doc_type)
        item["genre"] = genre[:1].upper() + genre[1:]
    if doc.url:
        item["URL"] = collapse(doc.url)
        if accessed := access_date(doc):
            item["accessed"] = {"date-parts": [[accessed.year, accessed.month, accessed.day]]}
    return item
