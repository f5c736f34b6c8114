"""Small text helpers shared by ingestion (splitting) and search (highlighting)."""
from __future__ import annotations

import re

ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "inc", "ltd", "co", "corp", "no", "nos", "vs", "etc",
    "e.g", "i.e", "u.s", "u.k", "fig", "figs", "vol", "pp", "p", "ed", "eds", "al", "approx", "dept", "est",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "sec", "art", "ch",
    "para", "gov", "rev", "gen", "sen", "rep", "hon", "pub", "cf", "ibid", "op", "d.c", "u.s.c", "c.f.r",
}
# End of a sentence: terminal punctuation (and closing quotes/brackets) before whitespace
# and something that can start a sentence or a list item.
SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*(?:(?<=\D[.!?…\"'”’)\]])\d{1,2}|[¹²³⁴⁵⁶⁷⁸⁹⁰]{1,2})?"
                          r"(?=\s+[\"'“‘(\[]?[A-Z0-9•\-–*])")
# A footnote marker left on the end of a sentence ("…Psychotherapy.3", never the cents of
# "$118.75"), and a footnote's own
# opening ("3 Alabama presentation in 2020 …").
TRAILING_MARKER = re.compile(r"(?:(?<=\D[.!?…\"'”’)\]])\d{1,2}|(?<=[.!?…\"'”’)\]])[¹²³⁴⁵⁶⁷⁸⁹⁰]{1,2})$")
FOOTNOTE_START = re.compile(r"(?:\d{1,2}|[¹²³⁴⁵⁶⁷⁸⁹⁰]{1,2})\s+[A-Z]")
URL = re.compile(r"(?:https?://|www\.)\S+")
BULLET = re.compile(r"(?<=\S)\s+(?=[-•–*]\s+[A-Z0-9])")
NUMBERED = re.compile(r"(?<=\S)\s+(\(?(\d{1,2})[.)])\s+(?=[A-Z0-9])")
LIST_MARKER = re.compile(r"(?:[-•–*]|\(?\d{1,2}[.)])\s")


# C0 and C1 control characters (not tab/newline), and the bidirectional overrides that can
# make text display as something else. Terminal escape sequences start with one of them.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def blank_controls(text: str) -> str:
    """Control characters become spaces: same length, so offsets into the text still hold."""
    return CONTROL.sub(" ", text)


def printable(text) -> str:
    """Text safe to write to a terminal: controls (escape sequences) shown as '?'."""
    return CONTROL.sub("?", str(text))


def collapse(text: str) -> str:
    return " ".join(text.split())


def trimmed(text: str, start: int, end: int):
    """The span without surrounding whitespace, if anything is left."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        yield start, end


def sentences(text: str, start: int = 0, end: int | None = None, bullets: bool = False):
    """(start, end) spans of the sentences of text[start:end].

    With `bullets`, an inline list marker (" - Item") also starts a new piece: collapsed
    list items often lack terminal punctuation.
    """
    end = len(text) if end is None else end
    cuts = []
    for m in SENTENCE_END.finditer(text, start, end):
        if not _is_abbreviation(text, start, m.start()):
            cuts.append(m.end())
    if bullets:
        cuts += [m.start() for m in BULLET.finditer(text, start, end)]
        items = _numbered_items(text, start, end)
        cuts = [c for c in cuts if c not in {e for _, e in items}] + [s for s, _ in items]
    pos = start
    for cut in sorted(set(cuts)):
        yield from trimmed(text, pos, cut)
        pos = cut
    yield from trimmed(text, pos, end)


def _numbered_items(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """(start, end) of the markers of numbered lists run together on one line: "…these: 1. A
    2. B 3. C". Only a run that begins with 1 after a colon and counts up is a list, so
    "through age 8. In Massachusetts" is left alone."""
    items: list[tuple[int, int]] = []
    expected = None
    for m in NUMBERED.finditer(text, start, end):
        number = int(m.group(2))
        if number == 1 and text[:m.start()].rstrip().endswith(":"):
            expected = 1
        if number == expected:
            items.append((m.start(1), m.end(1)))
            expected += 1
    return items


def _is_abbreviation(text: str, start: int, dot: int) -> bool:
    if text[dot] != ".":
        return False
    word_start = dot
    while word_start > start and not text[word_start - 1].isspace() and text[word_start - 1] not in "(\"'“":
        word_start -= 1
    word = text[word_start:dot].lower()
    return word in ABBREVIATIONS or (len(word) == 1 and word.isalpha())  # "U.S.", "J. Smith"
