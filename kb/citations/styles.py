"""Citations and reference lists in the style the user picks: the official APA 7th and Chicago
author-date CSL files rendered by citeproc-py (see csl_render), or the house style.

Every result comes as plain text and as HTML (italics as <i>), so "copy as formatted text"
pastes into a word processor with the style's italics intact.
"""
from __future__ import annotations

import html
from dataclasses import dataclass

from ..models import Hit
from . import house
from .sources import Sources, cited_documents, cited_hits

HOUSE = "house"
# style id -> label the user picks from; CSL ids are those of the official CSL repository, and
# their labels the titles inside the shipped files (a test keeps them equal).
STYLES: dict[str, str] = {
    HOUSE: "House style (plain)",
    "apa": "APA Style 7th edition",
    "chicago-author-date": "Chicago Manual of Style 18th edition (author-date)",
}


@dataclass(frozen=True)
class Formatted:
    text: str
    html: str


class UnknownStyle(ValueError):
    pass


def format_citation(hit: Hit, style: str = HOUSE) -> Formatted:
    """The citation of one passage: the house citation, or the style's in-text citation with
    the cited page (printed label, else PDF page) as locator, and the table a row is from
    where the document captions it ("Table 1, p. 1" in house style and APA, "1, tbl. 1" in Chicago)."""
    if _checked(style) == HOUSE:
        text = house.citation(hit.document, hit.passage)
        return Formatted(text, html.escape(text, quote=False))
    from . import csl_render

    table = hit.passage.table.label if hit.passage.table is not None else None
    return Formatted(*csl_render.render_citation(style, hit.document, house.cited_page(hit.passage), table))


def format_bibliography(sources: Sources, style: str = HOUSE) -> Formatted:
    """The reference list of the documents behind `sources` (an Answer, Hits, or several),
    one entry a line (text) or a paragraph (HTML), sorted as the style says."""
    documents = cited_documents(cited_hits(sources))
    if _checked(style) == HOUSE:
        entries = sorted((house.reference(d.document) for d in documents), key=str.casefold)
        return Formatted("\n".join(entries), "".join(f"<p>{html.escape(e, quote=False)}</p>" for e in entries))
    from . import csl_render

    entries, hanging = csl_render.render_bibliography(style, [(d.key, d.document) for d in documents])
    para = '<p style="padding-left:0.5in;text-indent:-0.5in">' if hanging else "<p>"
    return Formatted("\n".join(text for text, _ in entries), "".join(f"{para}{h}</p>" for _, h in entries))


def _checked(style: str) -> str:
    if style not in STYLES:
        raise UnknownStyle(f"No citation style {style!r}; choose one of: {', '.join(STYLES)}")
    return style
