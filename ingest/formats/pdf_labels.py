"""Printed page numbers ("24", "iv", "ES-2", "7-45") for the pages of a PDF.

A citation gives the page number printed on the page; `Page.number` is the PDF's own
index ("open at page"). The PDF's /PageLabels say which is which when the producer wrote
them. Otherwise the number is read from the page's header or footer, and kept only when a
neighbouring page agrees: its number sits at the same offset from the PDF index (with the
same prefix and numeral kind). A page whose number no neighbour confirms gets None; a
constant such as a volume number or a year never agrees with itself across pages. A page
whose neighbours print none (a blank page between) is confirmed by a page farther on; a
one-page excerpt keeps a number standing alone in its margin unless it could be a year.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_ROMAN = re.compile(r"(?=[mdclxvi])m{0,3}(cm|cd|d?c{0,3})(xc|xl|l?x{0,3})(ix|iv|v?i{0,3})", re.I)
_ROMAN_VALUES = {"i": 1, "v": 5, "x": 10, "l": 50, "c": 100, "d": 500, "m": 1000}
# a margin text that is a page number: "7", "- 7 -", "Page 7", "Page 7 of 9", "xii", "ES-2", "7-45"
_WHOLE = re.compile(
    r"^(?:page\s*)?[-\u2013\u2014(\[]?\s*(?P<label>(?P<prefix>[A-Z]{1,3}-|\d{1,3}[-\u2013.])?"
    r"(?P<number>[1-9]\d{0,4}|[ivxlcdm]{1,7}|[IVXLCDM]{1,7}))\s*[-\u2013\u2014)\]]?(?:\s*(?:of|/)\s*\d{1,5})?$",
    re.I,
)
_EDGE_NUMBER = re.compile(r"^(\d{1,5})\s+\S|\S\s+(\d{1,5})$")  # "47700 Federal Register ..."
_PAGE_WORD = re.compile(r"\bpage\s+(\d{1,5})\b", re.I)


@dataclass(frozen=True)
class _Candidate:
    label: str  # as printed
    series: tuple[str, str]  # (numeral kind, prefix): numbers of one series share it
    value: int
    alone: bool  # the whole text is the number ("7", "Page 7"), not a number inside a line


def pdf_page_labels(reader: Any) -> list[str] | None:
    """The PDF's /PageLabels, one per page, when the document defines them."""
    try:
        if "/PageLabels" not in reader.trailer["/Root"]:
            return None
        labels = [str(label) for label in reader.page_labels]
    except Exception:  # noqa: BLE001 - a broken number tree: read the printed numbers instead
        return None
    return labels if len(labels) == len(reader.pages) and any(labels) else None


def is_page_number(text: str) -> bool:
    """Whether a margin text is nothing but a page number ("7", "- 7 -", "Page 7 of 9",
    "xii", "ES-2")."""
    return any(candidate.alone for candidate in _candidates(text))


def printed_labels(margins: list[list[str]]) -> list[str | None]:
    """Per page, the printed page number found among its header and footer texts, or None.

    `margins[i]` holds the texts at the top and bottom edge of page i (0-based PDF index).
    """
    candidates = [[c for text in texts for c in _candidates(text)] for texts in margins]
    offsets = [{(c.series, c.value - i): c for c in page} for i, page in enumerate(candidates)]
    labels: list[str | None] = []
    for i, page in enumerate(offsets):
        agreed = [
            (candidate.alone, _run_length(offsets, i, key), candidate.label)
            for key, candidate in page.items()
            if (i > 0 and key in offsets[i - 1]) or (i + 1 < len(offsets) and key in offsets[i + 1])
        ]
        if not agreed:  # a page farther on in the same series, or a one-page excerpt
            agreed = [(c.alone, 1, c.label) for key, c in page.items()
                      if any(key in other for j, other in enumerate(offsets) if j != i)
                      or (len(offsets) == 1 and _stands_alone(c))]
        labels.append(max(agreed)[2] if agreed else None)
    return labels


def _stands_alone(candidate: _Candidate) -> bool:
    """The number of a one-page excerpt has nothing to agree with: it is taken when it is the
    whole margin text and cannot be a year ("7-45", "ES-3", "24"; not "2015")."""
    return candidate.alone and (bool(candidate.series[1]) or candidate.value < 1000)


def _run_length(offsets: list[dict], index: int, key: tuple) -> int:
    """How many consecutive pages around `index` share the series and offset `key`."""
    length = 1
    for step in (-1, 1):
        j = index + step
        while 0 <= j < len(offsets) and key in offsets[j]:
            length += 1
            j += step
    return length


def _candidates(text: str) -> list[_Candidate]:
    text = " ".join(text.split())
    whole = _WHOLE.match(text)
    if whole:
        number, prefix = whole.group("number"), whole.group("prefix") or ""
        if number.isdigit():
            return [_Candidate(whole.group("label"), ("arabic", prefix), int(number), True)]
        value = _roman_value(number)
        if value and not prefix:
            kind = "roman" if number.islower() else "ROMAN"
            return [_Candidate(number, (kind, ""), value, True)]
        return []
    found = [m.group(1) for m in _PAGE_WORD.finditer(text)]
    edge = _EDGE_NUMBER.search(text)
    if edge:
        found.append(edge.group(1) or edge.group(2))
    return [_Candidate(n, ("arabic", ""), int(n), False) for n in dict.fromkeys(found) if not n.startswith("0")]


def _roman_value(numeral: str) -> int | None:
    if not _ROMAN.fullmatch(numeral):
        return None
    values = [_ROMAN_VALUES[c] for c in numeral.lower()]
    return sum(-v if i + 1 < len(values) and v < values[i + 1] else v for i, v in enumerate(values))
