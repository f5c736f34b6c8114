"""Reading-ordered page text for PDFs, built from text positions.

`lay_out_pages(reader)` turns every page of an opened (and, if need be, decrypted)
`pypdf.PdfReader` into a `Page` whose text follows the order a person reads in, even
on two- and three-column pages where pypdf's own `extract_text()` interleaves the
columns line by line.

How it works
------------
1. **Glyph runs.** A small content-stream interpreter (`_pypdf_runs`, public pypdf API
   only) follows the text operators through q/Q, cm and form XObjects and records,
   for every string shown, its text, start point, advance, baseline direction, font
   size and whether the font is bold. Decoding the string and measuring its width is
   done by pypdf's own font code: **private pypdf API is used in one small function,
   `_pypdf_font`** (``pypdf.generic._font.Font`` and ``pypdf._text_extraction.
   _layout_mode._text_state_params.TextStateParams``, the machinery behind
   ``extract_text(extraction_mode="layout")``). If those internals change, pages fall
   back to plain ``extract_text()``. Before use, each font's decoding tables are
   checked against its glyph names (`ingest.pdf_glyphs`: ligatures a broken /ToUnicode
   cut to their last letter, letters of the wrong case), and a string whose glyphs a
   wide character spacing sets apart (table cells in one string) is placed glyph by
   glyph. Text is NFKC-normalised ("ﬁ" -> "fi").
2. **Orientation.** Runs are grouped by baseline direction (0/90/180/270 degrees, or
   a skewed angle) and each group is rotated upright, so text drawn sideways (landscape
   tables, ``/Rotate`` pages, margin notes) still reads top to bottom; the group with
   most text comes first.
3. **Fragments.** Runs on one baseline (super- and subscripts included) that are less
   than an em apart are joined into fragments, so a row crossing a column gutter
   becomes one fragment per column. Runs are joined with a space when the gap exceeds
   0.2 em or an explicit space glyph sits between them; duplicated runs (fake bold)
   are dropped. A raised, smaller number or note symbol is a footnote marker: it opens
   a footnote ("1 Pub. L."), and inside text it is dropped ("(DMCA) was signed", not
   "(DMCA)1 was signed"), unless it follows a digit and no footnote answers it.
4. **Running headers and footers.** Short blocks of rows at the top and bottom edge of
   each page are compared across pages with digits normalised (and case and weight
   kept, so a first-page title is not taken for the header that repeats it); those
   repeated on enough pages (at least 3, and about half of them), and bare page
   numbers, are dropped. Their texts are never headings anywhere in the document. The
   margin texts give the printed page numbers (`ingest.pdf_labels`) unless the PDF
   has /PageLabels.
5. **Reading order: recursive XY-cut with band merging.** A region is first cut at any
   full-width whitespace taller than 3 em (around a figure: column gutters run on
   through pictures); else it is split into columns at a whitespace gutter (>= 1 em
   wide, columns >= 6 em) that runs through all of it; else it is cut into horizontal
   bands at every full-width gap and consecutive bands are merged back while their
   union still shares a gutter. A full-width title, table or footnote thus stays apart
   from the columns around it, and column text whose paragraph gaps happen to line up
   is not chopped into interleaved bands. Pieces that look like table columns (short
   cells on shared rows, no column of whole lines of prose) are read row by row
   instead: one line per row, cells split by a tab (fragments, cut again at half-em
   gaps), the table one block whose span and header rows go to `Page.tables`.
6. **Lines, blocks, headings.** Fragments of a row inside one leaf make a line.
   Consecutive lines form a block (joined by "\n") unless the vertical gap is clearly
   larger than the line pitch, the column changes, or a first-line indent starts a
   paragraph; blocks are separated by a blank line. Short lines (<= 15 words, not ending
   in a period) set noticeably larger than the body size, or bold at body size and
   standing alone, are headings; one wrapped over two lines is put on one line.
   Footnotes (smaller than the text above them in their column, nothing larger right
   below, opening with a marker) leave the text and follow it at the end of the page,
   one block each, their spans in `Page.footnotes`; one continued in the next column
   is joined to its start.
7. **Clean-up.** Words hyphenated at line ends are joined ("develop-" + "ment"),
   keeping the hyphen of compounds the document spells with one ("social-emotional");
   right-to-left runs are put back in logical order; control characters are removed
   and whitespace is normalised. Characters within a line are never dropped or
   reordered.

A page falls back to plain ``extract_text()`` (cleaned the same way, no headings) if
laying it out raises, or if the interpreter skipped something (an unreadable font or
stream) and found clearly less text than the plain extraction.
"""
from __future__ import annotations

import bisect
import logging
import math
import re
import statistics
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import pypdf

from ..limits import TextBudget
from ..types import Page
from .blocks import holds_content
from .pdf_glyphs import repair_font_map
from .pdf_labels import is_page_number, pdf_page_labels, printed_labels

__all__ = ["Layout", "lay_out", "lay_out_pages"]

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------
# Tunables (in units of the font size, "em", unless stated otherwise)
# --------------------------------------------------------------------------------------
_SPACE_GAP = 0.2  # gap between runs that becomes a space
_FRAGMENT_GAP = 1.0  # gap that splits a row into fragments
_CELL_GAP = 0.5  # gap that splits a fragment into cells, inside a table
_GUTTER_MIN = 1.0  # narrowest whitespace gutter that separates columns
_COLUMN_MIN = 6.0  # narrowest column a gutter may produce
_TABLE_COLUMN_MIN = 0.5  # ... and in a small table of narrow columns ("Age | Enrollment | %")
_ROW_TOL = 0.45  # baselines closer than this (x the larger size) are one row
_SCRIPT_TOL = 0.6  # ... and a super- or subscript may sit this far off its line
_BOX_ASCENT = 0.7  # fragment box above the baseline
_BOX_DESCENT = 0.2  # fragment box below the baseline
_TABLE_WORDS = 3.5  # a piece with fewer words per fragment than this may be table columns
_PROSE_WORDS = 7.0  # ... one with this many, a line at a time, is text beside a table
_BIG_GAP = 3.0  # full-width whitespace this tall is cut before any column gutter
_HEADING_RATIO = 1.15  # heading font size / body size
_HEADING_MAX_WORDS = 15
_CAPS_HEADING_SIZE = 0.85  # a bold all-capitals heading may be this x the body size
_MARGIN_ROWS = 5  # rows at the top / bottom of a page that may be running headers
_MARGIN_ZONE = 0.2  # ... and only within this fraction of the page height
_FALLBACK_RATIO = 0.7  # layout text shorter than this x plain text -> fall back
_MAX_RUNS_PER_PAGE = 200_000
_MAX_PAIRS = 1_000_000  # run pairs compared on one page before giving up on layout
_MAX_FORM_DEPTH = 12
_WIDE_SPACING = 0.15  # character/word spacing (x the font size) that sets glyphs apart
_SCRIPT_SIZE = 0.85  # a superscript is at most this x the size of its fragment's main text
_SCRIPT_RISE = 0.15  # ... and its baseline at least this x that size higher
_FOOTNOTE_SIZE = 0.9  # footnotes are set at most this x the size of the text above them
_FOOTNOTE_SIZE_MARKED = 0.95  # ... when they open with a superscript marker
_FOOTNOTE_CLEAR = 2.5  # larger text this close (x its size) below a small block: not a footnote


class _TooComplex(Exception):
    """A page too big to lay out in reasonable time; it falls back to plain text."""


@dataclass(slots=True)
class _Run:
    """A string shown on the page, in the upright frame of its orientation group."""

    text: str
    x0: float
    x1: float
    y: float  # baseline
    size: float  # effective font height
    bold: bool
    raised: bool = False  # a superscript: smaller and above the baseline of its fragment


@dataclass(slots=True)
class _Frag:
    """Runs of one row that sit close together horizontally."""

    runs: list[_Run]
    row: int
    x0: float
    x1: float
    y: float
    top: float
    bottom: float
    size: float
    text: str | None = None  # cached _frag_text()


@dataclass(slots=True)
class _Line:
    text: str
    x0: float
    x1: float
    y: float
    size: float
    bold: bool
    heading: bool = False
    table_id: int | None = None  # the table region of the page it is a row of (never a heading)
    marker: str | None = None  # the superscript footnote marker the line starts with
    refs: tuple[tuple[int, str], ...] = ()  # (offset in text, marker) of the footnote references it made


@dataclass
class _RawPage:
    """Runs of one page, per orientation group, plus the page box in that frame."""

    groups: list[tuple[list[_Run], tuple[float, float]]] = field(default_factory=list)
    chars: int = 0  # non-space characters found by the interpreter
    suspect: bool = False  # some text may have been missed: compare with plain text


# --------------------------------------------------------------------------------------
# 1. Content-stream interpreter (the only code touching private pypdf API)
# --------------------------------------------------------------------------------------
_BOLD_NAME = re.compile(r"bold|black|heavy|demi|semibold|extrabold|ultra|[-,]bd\b|\bbd\b", re.I)


def _mult(m: list[float], n: list[float]) -> list[float]:
    return [
        m[0] * n[0] + m[1] * n[2],
        m[0] * n[1] + m[1] * n[3],
        m[2] * n[0] + m[3] * n[2],
        m[2] * n[1] + m[3] * n[3],
        m[4] * n[0] + m[5] * n[2] + n[4],
        m[4] * n[1] + m[5] * n[3] + n[5],
    ]


def _num(value: Any, default: float = 0.0) -> float:
    try:
        result = float(value)
    except (TypeError, ValueError):
        return default
    return result if math.isfinite(result) else default


def _matrix(operands: list[Any]) -> list[float] | None:
    if len(operands) < 6:
        return None
    values = [_num(v, math.nan) for v in operands[-6:]]
    if any(math.isnan(v) for v in values):
        return None
    return values


def _pypdf_font(font_obj: Any) -> tuple[Callable[..., list[tuple[str, float, float]]], bool] | None:
    """**The only use of private pypdf API in this module** (pypdf 6-7).

    Reads a font dictionary with ``pypdf.generic._font.Font`` (its decoding tables checked
    against the glyph names by `ingest.pdf_glyphs`) and returns a function
    ``show(string, size, Tc, Tw, Tz) -> [(text, offset, width)]`` that decodes a shown
    string and measures it in unscaled text space with
    ``pypdf._text_extraction._layout_mode._text_state_params.TextStateParams``, the code
    behind ``extract_text(extraction_mode="layout")``; plus whether the font is bold.
    The string comes back whole (offset 0, width its advance), or glyph by glyph when
    character or word spacing spreads its glyphs apart (tables set with a wide Tc, where
    one string holds the digits of neighbouring cells). None for a font whose glyphs
    cannot be mapped to text. If pypdf changes these internals, this raises and the page
    falls back to plain ``extract_text()``.
    """
    from pypdf._text_extraction._layout_mode._text_state_params import TextStateParams
    from pypdf.generic._font import Font

    font = Font.from_font_resource(font_obj)
    if not font.interpretable:
        return None
    repair_font_map(font_obj, font)
    descriptor = font.font_descriptor
    weight = str(descriptor.weight or "")
    bold = (
        bool(_BOLD_NAME.search(str(font.name)))
        or bool((descriptor.flags or 0) & (1 << 18))  # ForceBold
        or (weight.isdigit() and int(weight) >= 600)
    )
    identity = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0]
    if isinstance(font.encoding, dict):
        code_bytes = 1
    else:
        code_bytes = 2 if str(font.encoding).replace("_", "-").lower() == "utf-16-be" else 0

    def measure(value: bytes | str, size: float, tc: float, tw: float, tz: float) -> tuple[str, float]:
        params = TextStateParams(value, font, size, tc, tw, tz, 0.0, 0.0, list(identity))
        return params.text, params.displaced_tx

    def show(
        value: bytes | str, size: float, tc: float, tw: float, tz: float
    ) -> list[tuple[str, float, float]]:
        wide = _WIDE_SPACING * abs(size)
        spread = abs(tc) > wide or (abs(tw) > wide and code_bytes == 1 and b" " in value)
        if not spread or not code_bytes or not isinstance(value, bytes) or len(value) <= code_bytes:
            text, advance = measure(value, size, tc, tw, tz)
            return [(text, 0.0, advance)]
        pieces = []
        offset = 0.0
        for start in range(0, len(value), code_bytes):
            code = value[start:start + code_bytes]
            text, advance = measure(code, size, tc, tw, tz)
            spacing = (tc + (tw if code == b" " else 0.0)) * tz / 100.0
            pieces.append((text, offset, max(0.0, advance - spacing)))
            offset += advance
        pieces.append(("", offset, 0.0))  # where the next string starts
        return pieces

    return show, bold


def _resource(resources: Any, key: str) -> Any:
    """An entry of a resource dictionary, resolved; None if missing or broken."""
    try:
        from pypdf.generic import DictionaryObject

        if not isinstance(resources, DictionaryObject):
            return None
        value = resources.get(key)
        value = value.get_object() if value is not None else None
        return value if isinstance(value, DictionaryObject) else None
    except Exception:  # noqa: BLE001
        return None


def _pypdf_runs(
    page: pypdf.PageObject, font_cache: dict[int, Any]
) -> tuple[list[tuple[str, float, float, float, float, float, float, bool]], bool]:
    """Every string the page shows, as (text, x, y, dir_x, dir_y, advance, size, bold).

    (x, y) is the start of the baseline in default user space, (dir_x, dir_y) the unit
    baseline direction, advance the string's width along it and size the effective
    font height. The second value says whether some text may have been missed (a font
    that could not be read, a broken content stream). Follows the text operators of
    the PDF specification (9.4) through q/Q, cm and form XObjects (Do).
    """
    from pypdf.generic import ContentStream, DictionaryObject, NameObject, StreamObject

    out: list[tuple[str, float, float, float, float, float, float, bool]] = []
    problems: list[str] = []
    pdf = page.pdf

    def load_font(obj: Any) -> tuple[Callable[..., list[tuple[str, float, float]]], bool] | None:
        try:
            font_obj = obj.get_object()
        except Exception:  # noqa: BLE001 - broken reference
            return None
        key = id(font_obj)
        if key in font_cache:
            return font_cache[key][1]
        result = None
        if isinstance(font_obj, DictionaryObject):
            try:
                result = _pypdf_font(font_obj)
            except Exception:  # noqa: BLE001 - unreadable font: its text is skipped
                result = None
        font_cache[key] = (font_obj, result)  # keep font_obj alive so its id stays unique
        return result

    def walk(
        content_obj: Any, resources: Any, ctm: list[float], depth: int, seen: set[int]
    ) -> None:
        try:
            content = ContentStream(content_obj, pdf, "bytes")
            operations = content.operations
        except Exception:  # noqa: BLE001 - unreadable stream: nothing to show
            problems.append("content stream")
            return
        font_dict = _resource(resources, "/Font")
        xobjects = _resource(resources, "/XObject")

        # graphics state: ctm, font, bold, size, Tc, Tw, Tz, TL, Ts
        state = [ctm, None, False, 0.0, 0.0, 0.0, 100.0, 0.0, 0.0]
        stack: list[list[Any]] = []
        tm = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0]
        tlm = tm[:]

        def show(value: Any) -> None:
            nonlocal tm
            font = state[1]
            if not isinstance(value, (bytes, str)) or isinstance(value, NameObject) or not value:
                return
            if font is None:
                problems.append("font")
                return
            size = state[3]
            pieces = font(value, size, state[4], state[5], state[6])
            m = _mult(tm, state[0])
            rise = state[8]
            norm = math.hypot(m[0], m[1])
            height = abs(size) * math.hypot(m[2], m[3])
            for text, offset, width in pieces:
                x = rise * m[2] + m[4] + offset * m[0]
                y = rise * m[3] + m[5] + offset * m[1]
                if len(out) >= _MAX_RUNS_PER_PAGE:
                    problems.append("too many runs")
                    break
                if norm <= 1e-9 or not all(map(math.isfinite, (x, y, norm, width, height))):
                    problems.append("degenerate position")
                    break
                if text:
                    out.append((text, x, y, m[0] / norm, m[1] / norm, width * norm, height, state[2]))
            advance = pieces[-1][1] + pieces[-1][2] if pieces else 0.0
            if not math.isfinite(advance):
                advance = 0.0
            tm = [tm[0], tm[1], tm[2], tm[3], tm[4] + advance * tm[0], tm[5] + advance * tm[1]]

        for operands, op in operations:
            if op == b"Tj":
                if operands:
                    show(operands[0])
            elif op == b"TJ":
                if operands and isinstance(operands[0], list):
                    for item in operands[0]:
                        if isinstance(item, (bytes, str)):
                            show(item)
                        elif isinstance(item, (int, float)):
                            shift = -_num(item) / 1000.0 * state[3] * state[6] / 100.0
                            tm = [tm[0], tm[1], tm[2], tm[3],
                                  tm[4] + shift * tm[0], tm[5] + shift * tm[1]]
            elif op in (b"Td", b"TD", b"T*", b"'", b'"'):
                if op == b"T*" or op == b"'" or op == b'"':
                    tx, ty = 0.0, -state[7]
                else:
                    tx = _num(operands[0]) if len(operands) > 0 else 0.0
                    ty = _num(operands[1]) if len(operands) > 1 else 0.0
                    if op == b"TD":
                        state[7] = -ty
                if op == b'"' and len(operands) >= 3:
                    state[5] = _num(operands[0], state[5])
                    state[4] = _num(operands[1], state[4])
                tlm = [tlm[0], tlm[1], tlm[2], tlm[3],
                       tx * tlm[0] + ty * tlm[2] + tlm[4], tx * tlm[1] + ty * tlm[3] + tlm[5]]
                tm = tlm[:]
                if op == b"'" and operands:
                    show(operands[0])
                elif op == b'"' and len(operands) >= 3:
                    show(operands[2])
            elif op == b"Tm":
                matrix = _matrix(operands)
                if matrix is not None:
                    tlm = matrix
                    tm = matrix[:]
            elif op == b"BT":
                tm = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0]
                tlm = tm[:]
            elif op == b"Tf":
                name = operands[0] if operands else None
                loaded = None
                if font_dict is not None and isinstance(name, str):
                    ref = font_dict.get(name)
                    if ref is not None:
                        loaded = load_font(ref)
                state[1], state[2] = loaded if loaded else (None, False)
                if len(operands) > 1:
                    state[3] = _num(operands[1], state[3])
            elif op == b"Tc":
                state[4] = _num(operands[0], state[4]) if operands else state[4]
            elif op == b"Tw":
                state[5] = _num(operands[0], state[5]) if operands else state[5]
            elif op == b"Tz":
                state[6] = _num(operands[0], state[6]) if operands else state[6]
            elif op == b"TL":
                state[7] = _num(operands[0], state[7]) if operands else state[7]
            elif op == b"Ts":
                state[8] = _num(operands[0], state[8]) if operands else state[8]
            elif op == b"q":
                stack.append(state[:])
            elif op == b"Q":
                if stack:
                    state = stack.pop()
            elif op == b"cm":
                matrix = _matrix(operands)
                if matrix is not None:
                    state[0] = _mult(matrix, state[0])
            elif op == b"Do" and operands and xobjects is not None and depth < _MAX_FORM_DEPTH:
                try:
                    xobj = xobjects.get(operands[0])
                    xobj = xobj.get_object() if xobj is not None else None
                except Exception:  # noqa: BLE001
                    xobj = None
                if (
                    isinstance(xobj, StreamObject)
                    and xobj.get("/Subtype") == "/Form"
                    and id(xobj) not in seen
                ):
                    matrix = _matrix(list(xobj.get("/Matrix", []))) or [1.0, 0.0, 0.0, 1.0, 0.0, 0.0]
                    try:
                        form_resources = xobj.get("/Resources")
                        form_resources = (
                            form_resources.get_object() if form_resources is not None else resources
                        )
                    except Exception:  # noqa: BLE001
                        form_resources = resources
                    ctm_form = _mult(matrix, state[0])
                    walk(xobj, form_resources, ctm_form, depth + 1, seen | {id(xobj)})

    try:
        contents = page.get("/Contents")
        contents = contents.get_object() if contents is not None else None
    except Exception:  # noqa: BLE001
        contents = None
    if contents is None:
        return out, False
    try:
        resources = page.get("/Resources")
        resources = resources.get_object() if resources is not None else None
    except Exception:  # noqa: BLE001
        resources = None
    walk(contents, resources, [1.0, 0.0, 0.0, 1.0, 0.0, 0.0], 0, set())
    return out, bool(problems)


# --------------------------------------------------------------------------------------
# 2. Runs in upright frames, grouped by orientation
# --------------------------------------------------------------------------------------
_SPACE_CHARS = re.compile(r"[\s\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b\ufeff]")  # + zero-width space, BOM
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# superscript footnote markers ("12", "*", "†") travel wrapped in two private-use characters
_MARK_OPEN, _MARK_CLOSE = "\ue000", "\ue001"
_REF = "\ue002"  # where a dropped reference marker stood, until its offset is noted
_FRACTION_SLASHES = ("/", "\u2044", "\u2215")
_MARKER = re.compile(r"\d{1,3}|[*\u2020\u2021\u00a7\u00b6#]{1,3}")
_MARKED = re.compile(f"{_MARK_OPEN}([^{_MARK_CLOSE}]*){_MARK_CLOSE}")
_LEADING_MARK = re.compile(f"^\\s*{_MARK_OPEN}([^{_MARK_CLOSE}]*){_MARK_CLOSE}")
# a footnote's own marker: "13 More than", "*Per 100,000", "2 \u201cCopying\u201d" (not "1st")
_FOOTNOTE_START = re.compile(r"^(?:\d{1,3}\s+|[*\u2020\u2021\u00a7\u00b6]{1,3}\s*)(?=[^\W\d_]|[\u201c\u2018\"'(])")
# ... or a number and a full stop ("35. These include"), counted only when the page cites that number
_NUMBERED_NOTE = re.compile(r"^(\d{1,3})[.)]\s+(?=[^\W\d_]|[\u201c\u2018\"'(])")
_SENTENCE_END = (".", "!", "?", ";", ")", "]", '"', "\u201d", "\u2019", ">")
_FIGURE = re.compile(r"[-+\u2013\u2014*(<>\u2264\u2265]*[$\u20ac\u00a3]?\d[\d,.\s\u2013\u2014-]*%?\)?\*?|[-\u2013\u2014*]+|\(?[XxNn]/?[Aa]?\)?")
_YEAR = re.compile(r"(?:19|20)\d\d")
_LEADERS = re.compile(r"\s*(?:\.\s?){3,}$|^\s*(?:\.\s?){3,}")  # dot leaders at a cell's end


def _clean_run_text(text: str) -> str:
    """Compatibility characters normalised (NFKC: ligatures "ﬁ" -> "fi", full-width forms),
    control characters removed, every kind of whitespace made a plain space."""
    if _SURROGATE.search(text):
        text = _SURROGATE.sub("\ufffd", text)
    text = unicodedata.normalize("NFKC", text).replace(_MARK_OPEN, "").replace(_MARK_CLOSE, "")
    text = text.replace("\t", " ").replace("\n", " ").replace("\r", " ")
    text = _CONTROL.sub("", text)
    return _SPACE_CHARS.sub(" ", text)


def _page_box(page: pypdf.PageObject) -> tuple[float, float, float, float]:
    try:
        box = page.cropbox
        x0, y0, x1, y1 = (float(v) for v in (box.left, box.bottom, box.right, box.top))
        if x1 > x0 and y1 > y0:
            return x0, y0, x1, y1
    except Exception:  # noqa: BLE001
        pass
    return 0.0, 0.0, 612.0, 792.0


def _to_frame(angle: int, x: float, y: float) -> tuple[float, float]:
    """Rotate a point so that baseline direction `angle` (degrees) points along +x."""
    if angle == 0:
        return x, y
    if angle == 90:
        return y, -x
    if angle == 180:
        return -x, -y
    if angle == 270:
        return -y, x
    t = math.radians(angle)
    c, s = math.cos(t), math.sin(t)
    return x * c + y * s, -x * s + y * c


def _raw_page(page: pypdf.PageObject, font_cache: dict[int, Any]) -> _RawPage:
    raw, suspect = _pypdf_runs(page, font_cache)
    by_orientation: dict[int, list[_Run]] = {}
    weight: Counter[int] = Counter()
    result = _RawPage(suspect=suspect)
    for text, x, y, dx, dy, advance, size, bold in raw:
        text = _clean_run_text(text)
        if not text:
            continue
        angle = math.degrees(math.atan2(dy, dx)) % 360.0
        k = int(round(angle / 90.0)) % 4 * 90
        if abs(((angle - k) + 180.0) % 360.0 - 180.0) > 3.0:
            k = int(round(angle / 5.0)) * 5 % 360  # skewed text: its own frame
        fx, fy = _to_frame(k, x, y)
        if advance < 0:  # drawn right to left (mirrored text): keep the extent positive
            fx, advance = fx + advance, -advance
        stripped = text.strip()
        if not stripped:  # an explicit word space: kept as a zero-width marker
            fx += advance / 2.0
            advance = 0.0
            text = " "
        elif len(stripped) != len(text):  # padding spaces must not reach into a gutter
            per_char = advance / len(text)
            lead = len(text) - len(text.lstrip())
            fx += lead * per_char
            advance = max(0.0, advance - (len(text) - len(stripped)) * per_char)
            text = stripped
        nonspace = sum(1 for c in text if not c.isspace() and c != "\ufffd")
        result.chars += nonspace
        weight[k] += nonspace
        by_orientation.setdefault(k, []).append(
            _Run(text, fx, fx + advance, fy, size if size > 0 else 1.0, bold)
        )
    bx0, by0, bx1, by1 = _page_box(page)
    for k, chars in weight.most_common():
        if not chars:
            continue
        corners = [_to_frame(k, cx, cy) for cx in (bx0, bx1) for cy in (by0, by1)]
        box = (min(c[1] for c in corners), max(c[1] for c in corners))
        result.groups.append((by_orientation[k], box))
    return result


# --------------------------------------------------------------------------------------
# 3. Rows and fragments
# --------------------------------------------------------------------------------------
def _cluster_rows(items: list[Any]) -> list[list[Any]]:
    """Items (with .y and .size) grouped into rows of (nearly) equal baseline, top first."""
    rows: list[list[Any]] = []
    ref_y = ref_size = 0.0
    for item in sorted(items, key=lambda it: -it.y):
        if rows and ref_y - item.y <= _ROW_TOL * max(ref_size, item.size):
            rows[-1].append(item)
        else:
            rows.append([item])
            ref_y, ref_size = item.y, item.size
    return rows


def _make_frag(runs: list[_Run]) -> _Frag:
    main = max(runs, key=lambda r: len(r.text) * r.size)
    for r in runs:
        r.raised = r.size <= _SCRIPT_SIZE * main.size and r.y - main.y >= _SCRIPT_RISE * main.size
    return _Frag(
        runs=sorted(runs, key=lambda r: r.x0),
        row=0,
        x0=min(r.x0 for r in runs),
        x1=max(r.x1 for r in runs),
        y=main.y,
        top=max(r.y + _BOX_ASCENT * r.size for r in runs),
        bottom=min(r.y - _BOX_DESCENT * r.size for r in runs),
        size=main.size,
    )


def _fragments(runs: list[_Run]) -> list[_Frag]:
    """Runs joined into fragments: pieces of one line that sit close together.

    Two runs of similar size belong together when their baselines are within
    `_ROW_TOL` of the font size and the horizontal gap between them is under
    `_FRAGMENT_GAP` ems; fragments are the connected groups. A small run (footnote
    marker, super- or subscript, fraction digit) then joins the nearest line within
    `_SCRIPT_TOL`. Done locally, not by global rows, because columns rarely share
    baselines. Explicit space runs are attached afterwards as word-break markers.
    """
    spaces = [r for r in runs if r.text == " "]
    runs = sorted((r for r in runs if r.text != " "), key=lambda r: -r.y)
    if not runs:
        return []
    parent = list(range(len(runs)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[rj] = ri

    # pairs of runs on one line, close together; runs of very different sizes (a
    # heading beside body text, a superscript) are only joined in a second pass, so
    # that one big run cannot chain two lines of small text together
    max_size = max(r.size for r in runs)
    mixed: list[tuple[int, int]] = []
    budget = _MAX_PAIRS
    for i, a in enumerate(runs):
        for j in range(i + 1, len(runs)):
            b = runs[j]
            dy = a.y - b.y
            if dy > _SCRIPT_TOL * max_size:
                break
            budget -= 1
            if budget < 0:  # thousands of runs on one line: leave it to plain extraction
                raise _TooComplex("too many runs on one line")
            big, small = (a.size, b.size) if a.size >= b.size else (b.size, a.size)
            if dy > _SCRIPT_TOL * big:
                continue
            gap = _FRAGMENT_GAP * small
            if b.x0 - a.x1 > gap or a.x0 - b.x1 > gap:
                continue
            if big > 1.25 * small and dy > 0.15 * small:  # not on one baseline
                mixed.append((i, j))
            elif dy <= _ROW_TOL * big:
                union(i, j)
    if mixed:
        chars: Counter[int] = Counter()
        top_size: dict[int, float] = {}
        for i, run in enumerate(runs):
            root = find(i)
            chars[root] += len(run.text)
            top_size[root] = max(top_size.get(root, 0.0), run.size)
        # a footnote marker, fraction digit or sub/superscript joins one line: the
        # one whose baseline is nearest
        best: dict[int, tuple[float, int]] = {}
        for i, j in mixed:
            small_i, big_i = (i, j) if runs[i].size < runs[j].size else (j, i)
            root = find(small_i)
            if chars[root] <= 6 and top_size[root] <= 0.8 * runs[big_i].size:
                dy = abs(runs[small_i].y - runs[big_i].y)
                if root not in best or dy < best[root][0]:
                    best[root] = (dy, big_i)
        for root, (_, big_i) in best.items():
            union(big_i, root)
    groups: dict[int, list[_Run]] = {}
    for i, run in enumerate(runs):
        groups.setdefault(find(i), []).append(run)
    frags = []
    for members in groups.values():
        members.sort(key=lambda r: (r.x0, -r.y))
        kept: list[_Run] = []
        for run in members:
            if any(
                prev.text == run.text
                and abs(prev.x0 - run.x0) < min(0.15 * run.size, 0.5 * (run.x1 - run.x0))
                and abs(prev.y - run.y) < 0.15 * run.size
                for prev in kept[-4:]
            ):
                continue  # the same string drawn twice (fake bold, shadow): keep one
            kept.append(run)
        frags.append(_make_frag(kept))
    if spaces:
        _attach_spaces(frags, spaces)
    for row_index, row in enumerate(_cluster_rows(frags)):
        for frag in row:
            frag.row = row_index
    return frags


def _attach_spaces(frags: list[_Frag], spaces: list[_Run]) -> None:
    """Explicit space runs join the fragment they sit inside (they mark word breaks)."""
    order = sorted(frags, key=lambda f: f.y)
    ys = [f.y for f in order]
    touched: set[int] = set()
    for space in spaces:
        tol = _ROW_TOL * space.size
        i = bisect.bisect_left(ys, space.y - tol)
        while i < len(order) and ys[i] <= space.y + tol:
            f = order[i]
            if f.x0 < space.x0 < f.x1:
                f.runs.append(space)
                touched.add(id(f))
                break
            i += 1
    for f in frags:
        if id(f) in touched:
            f.runs.sort(key=lambda r: r.x0)


def _frag_text(frag: _Frag) -> str:
    if frag.text is None:
        text = _join_runs(frag.runs)
        frag.text = _visual_to_logical(text) if _is_rtl(text) else text
    return frag.text


def _is_rtl(text: str) -> bool:
    """Mostly right-to-left letters (Arabic, Hebrew...)."""
    rtl = ltr = 0
    for c in text:
        if c.isalpha():
            kind = unicodedata.bidirectional(c)
            if kind in ("R", "AL"):
                rtl += 1
            elif kind == "L":
                ltr += 1
    return rtl > ltr


_LTR_RUN = re.compile(r"[0-9A-Za-z][0-9A-Za-z.,:%/+-]*[0-9A-Za-z]|[0-9A-Za-z]")


def _visual_to_logical(text: str) -> str:
    """Right-to-left text drawn glyph by glyph left to right, back in reading order.

    Like pypdf's plain extraction this assumes the content stream shows RTL text in
    visual order; runs of Latin letters and digits inside it keep their own order.
    """
    reversed_text = text[::-1]
    return _LTR_RUN.sub(lambda m: m.group(0)[::-1], reversed_text)


def _join_runs(runs: list[_Run]) -> str:
    """Run texts in order, a space where the gap is wide; superscript footnote markers
    are wrapped in `_MARK_OPEN`/`_MARK_CLOSE` until `_resolve_marks` decides on them."""
    parts: list[str] = []
    prev: _Run | None = None
    for run, raised in _raised_groups(runs):
        if run.text == " ":
            parts.append(" ")
            continue
        if prev is not None and run.x0 - prev.x1 > _SPACE_GAP * min(prev.size, run.size):
            parts.append(" ")
        parts.append(_MARK_OPEN + run.text + _MARK_CLOSE if raised else run.text)
        prev = run if prev is None or run.x1 > prev.x1 else prev
    return "".join(parts)


def _raised_groups(runs: list[_Run]) -> Iterable[tuple[_Run, bool]]:
    """Runs in order, with touching superscript runs merged into one ("1" "9" drawn glyph
    by glyph are the marker "19"), and whether each is a footnote marker: raised, short,
    digits or note symbols, and not the numerator of a fraction drawn as "¹⁄₃"."""
    index = 0
    while index < len(runs):
        run = runs[index]
        end = index + 1
        if run.raised:
            while (end < len(runs) and runs[end].raised and runs[end].text != " "
                   and runs[end].x0 - runs[end - 1].x1 <= _SPACE_GAP * run.size):
                end += 1
            if end > index + 1:
                run = _Run("".join(r.text for r in runs[index:end]), run.x0, runs[end - 1].x1, run.y,
                           run.size, run.bold, True)
        following = next((r.text for r in runs[end:] if r.text != " "), "")
        marker = run.raised and bool(_MARKER.fullmatch(run.text)) and following[:1] not in _FRACTION_SLASHES
        yield run, marker
        index = end


def _resolve_marks(text: str, footnote_marks: set[str]) -> tuple[str, str | None, tuple[tuple[int, str], ...]]:
    """A line's text with its superscript markers settled, the marker it starts with, and
    where the markers it dropped stood: (offset in the returned text, marker).

    A marker that starts the line opens a footnote: it stays, followed by a space ("1 Pub.
    L. No."). A marker inside the text is a reference to a footnote or note: it is dropped,
    so that a quote reads "(DMCA) was signed", not "(DMCA)1 was signed" ("copying2"
    garbles the word), and its place is kept, so that the footnote can be read with the
    sentence that cites it. Only a raised number right after a digit that no footnote on the
    page answers is kept, joined as before: it may be an exponent.
    """
    if _MARK_OPEN not in text:
        return " ".join(text.split()), None, ()
    text = text.replace(_REF, "")
    lead = None
    match = _LEADING_MARK.match(text)
    if match:
        lead = match.group(1)
        text = lead + " " + text[match.end():].lstrip()
    dropped: list[str] = []

    def settle(m: re.Match[str]) -> str:
        before, after = text[m.start() - 1: m.start()], text[m.end(): m.end() + 1]
        if before.isdigit() and m.group(1) not in footnote_marks:
            return m.group(1)
        dropped.append(m.group(1))
        # "in 2007,¹³3.6 million": the marker was all that stood between two words
        return _REF + (" " if after.isalnum() and before and not before.isspace() else "")

    text = " ".join(_MARKED.sub(settle, text).split())
    out: list[str] = []
    refs: list[tuple[int, str]] = []
    length = 0
    for piece, marker in zip(text.split(_REF), [*dropped, None]):
        if out and out[-1].endswith(" ") and piece.startswith(" "):
            piece = piece[1:]  # "word ¹ next": one space stays
        out.append(piece)
        length += len(piece)
        if marker is not None:
            refs.append((length - (1 if piece.endswith(" ") else 0), marker))
    text = "".join(out)
    stripped = text.strip()
    shift = len(text) - len(text.lstrip())
    return stripped, lead, tuple((max(0, min(len(stripped), at - shift)), mark) for at, mark in refs)


# --------------------------------------------------------------------------------------
# 4. Reading order: recursive XY-cut with band merging
# --------------------------------------------------------------------------------------
def _coverage(frags: Iterable[_Frag]) -> list[tuple[float, float]]:
    spans = sorted((f.x0, f.x1) for f in frags)
    merged: list[tuple[float, float]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            if b > merged[-1][1]:
                merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged


def _merge_coverage(
    a: list[tuple[float, float]], b: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for x0, x1 in sorted(a + b):
        if merged and x0 <= merged[-1][1]:
            if x1 > merged[-1][1]:
                merged[-1] = (merged[-1][0], x1)
        else:
            merged.append((x0, x1))
    return merged


def _gutters(cover: list[tuple[float, float]], em: float, column_min: float = _COLUMN_MIN) -> list[float]:
    """x positions of whitespace gutters that split `cover` into columns of useful width."""
    if len(cover) < 2:
        return []
    gaps = [
        (cover[i][1], cover[i + 1][0])
        for i in range(len(cover) - 1)
        if cover[i + 1][0] - cover[i][1] >= _GUTTER_MIN * em
    ]
    left, right = cover[0][0], cover[-1][1]
    min_width = column_min * em
    while gaps:
        edges = [left] + [g[1] for g in gaps]
        ends = [g[0] for g in gaps] + [right]
        widths = [e - s for s, e in zip(edges, ends)]
        narrow = min(range(len(widths)), key=widths.__getitem__)
        if widths[narrow] >= min_width:
            break
        # merge the narrow piece into a neighbour across the narrower adjacent gap
        candidates = [i for i in (narrow - 1, narrow) if 0 <= i < len(gaps)]
        drop = min(candidates, key=lambda i: gaps[i][1] - gaps[i][0])
        del gaps[drop]
    return [(a + b) / 2.0 for a, b in gaps]


def _reading_order(frags: list[_Frag]) -> list[tuple[list[_Frag], bool]]:
    """Leaves of the XY-cut in reading order, each with whether it is a table."""
    if not frags:
        return []
    em = statistics.median(f.size for f in frags)
    leaves: list[tuple[list[_Frag], bool]] = []
    stack: list[list[_Frag]] = [frags]
    while stack:
        region = stack.pop()
        children = _split_region(region, em)
        if children is None or children is _TABLE:
            leaves.append((region, children is _TABLE))
        else:
            stack.extend(reversed(children))
    return leaves


def _bands(region: list[_Frag]) -> tuple[list[list[_Frag]], list[float]]:
    """Horizontal bands split at every full-width whitespace gap, with the gap heights."""
    bands: list[list[_Frag]] = []
    gaps: list[float] = []
    bottom = math.inf
    for f in sorted(region, key=lambda f: (-f.top, f.x0)):
        if bands and f.top > bottom - 1e-6:
            bands[-1].append(f)
            bottom = min(bottom, f.bottom)
        else:
            if bands:
                gaps.append(bottom - f.top)
            bands.append([f])
            bottom = f.bottom
    return bands, gaps


def _is_table(columns: list[list[_Frag]], em: float) -> bool:
    """Whether pieces split by gutters are table columns rather than text columns.

    Text columns hold lines of several words each; table cells are short and sit on
    shared rows. Only short fragments *and* shared rows count as a table, because reading
    real text columns row by row would interleave them.
    """
    widths = [max(f.x1 for f in column) - min(f.x0 for f in column) for column in columns]
    pieces = [_cluster_rows(column) for column in columns]
    cells = [statistics.median(len(row) for row in rows) for rows in pieces]
    if len(columns) <= 4 and min(widths) >= 10 * em and max(widths) <= 1.35 * min(widths) and max(cells) <= 1:
        return False  # a grid of equal, wide columns of single lines: text (or an index), not a table
    piece_of = {id(f): i for i, column in enumerate(columns) for f in column}
    rows = _cluster_rows([f for column in columns for f in column])
    if len(rows) < 3:
        return False
    shared = sum(1 for row in rows if len({piece_of[id(f)] for f in row}) >= 2)
    if shared < 0.5 * len(rows):
        return False
    words = [
        statistics.median(sum(len(_frag_text(f).split()) for f in row) / len(row) for row in piece_rows)
        if len(piece_rows) >= 2 else math.inf
        for piece_rows in pieces
    ]
    if min(words) >= _TABLE_WORDS:
        return False
    # a column of whole lines of prose is text beside a table, never a column of it: long
    # lines, or lines of a few words that run on above or below the other columns
    lines = [i for i in range(len(columns)) if cells[i] <= 1 and len(pieces[i]) >= 3 and words[i] >= _TABLE_WORDS]
    for i in lines:
        rest = [f for j, column in enumerate(columns) if j != i for f in column]
        runs_on = (max(f.top for f in columns[i]) > max(f.top for f in rest) + 1.5 * em
                   or min(f.bottom for f in columns[i]) < min(f.bottom for f in rest) - 1.5 * em)
        if words[i] >= _PROSE_WORDS or runs_on:
            return False
    return True


_TABLE: Any = object()  # _split_region's answer for a table (a leaf read row by row)


def _narrow_table(region: list[_Frag], em: float) -> bool:
    """A small table whose columns are narrower than any text column (a table of three short
    columns set beside the text: "Age | Enrollment | %"): no gutter parts it into columns of
    text width, but its rows share gutters between narrow columns of short cells."""
    cuts = _gutters(_coverage(region), em, _TABLE_COLUMN_MIN)
    if len(cuts) < 2:
        return False
    columns: list[list[_Frag]] = [[] for _ in range(len(cuts) + 1)]
    for f in region:
        columns[sum(1 for c in cuts if (f.x0 + f.x1) / 2.0 > c)].append(f)
    figures = [f for column in columns[1:] for f in column
               if _FIGURE.fullmatch(_frag_text(f).strip()) and any(ch.isdigit() for ch in _frag_text(f))]
    rows = {round(f.y) for f in figures}  # a figure past the first column on three rows or more (not a form's labels)
    return len(rows) >= 3 and all(columns) and _is_table(columns, em)


def _narrow_tables(groups: list[list[_Frag]], em: float) -> list[list[_Frag]]:
    """Runs of three or more consecutive bands (none parted by a gutter of its own) that make a
    narrow table together, merged into one group (read as a table); the rest as they were."""
    out: list[list[_Frag]] = []
    i = 0
    while i < len(groups):
        j, cover = i, []
        while j < len(groups) and not _gutters(_coverage(groups[j]), em):
            union = _merge_coverage(cover, _coverage(groups[j]))
            if j > i and len(_gutters(union, em, _TABLE_COLUMN_MIN)) < 2:
                break
            cover, j = union, j + 1
        if j - i >= 3 and _narrow_table(run := [f for g in groups[i:j] for f in g], em):
            out.append(run)
            i = j
        else:
            out.append(groups[i])
            i += 1
    return out


def _split_region(region: list[_Frag], em: float) -> list[list[_Frag]] | None:
    if len(region) < 2:
        return None
    bands, gaps = _bands(region)
    # a wide full-width gap (around a figure, between articles) separates first: a
    # column gutter may run on through a picture that has no text
    if any(gap >= _BIG_GAP * em for gap in gaps):
        parts: list[list[_Frag]] = [list(bands[0])]
        for band, gap in zip(bands[1:], gaps):
            if gap >= _BIG_GAP * em:
                parts.append(list(band))
            else:
                parts[-1].extend(band)
        return parts
    cuts = _gutters(_coverage(region), em)
    if cuts and max(f.y for f in region) - min(f.y for f in region) < 0.5 * em:
        cuts = []  # one line with a wide space in it (a run-in heading, a tab stop)
    if cuts:
        columns: list[list[_Frag]] = [[] for _ in range(len(cuts) + 1)]
        for f in region:
            centre = (f.x0 + f.x1) / 2.0
            columns[sum(1 for c in cuts if centre > c)].append(f)
        columns = [c for c in columns if c]
        if _is_table(columns, em):
            return _TABLE  # read it row by row
        return columns
    if len(bands) < 2:
        return None
    if len(bands) >= 3 and _narrow_table(region, em):
        return _TABLE
    # merge consecutive bands back while they share a column gutter
    groups: list[list[_Frag]] = []
    cover: list[tuple[float, float]] = []
    for band in bands:
        band_cover = _coverage(band)
        if groups:
            union = _merge_coverage(cover, band_cover)
            if _gutters(union, em):
                groups[-1].extend(band)
                cover = union
                continue
        groups.append(list(band))
        cover = band_cover
    groups = _narrow_tables(groups, em)
    if len(groups) < 2:
        return None  # only when the region's bands make one narrow table (read as a table above)
    return groups


# --------------------------------------------------------------------------------------
# 5. Running headers and footers
# --------------------------------------------------------------------------------------
_DIGITS = re.compile(r"\d+")


def _margin_frags(frags: list[_Frag], box: tuple[float, float]) -> list[tuple[_Frag, bool, str]]:
    """Fragments that may be running headers or footers: (fragment, alone in an outermost
    row, "top" or "bottom").

    Rows are grouped into blocks wherever the vertical gap is large; from each edge of
    the page, blocks of up to three rows inside the margin zone are candidates, up to the
    first bigger block (the body text) and at most `_MARGIN_ROWS` rows.
    """
    by_row: dict[int, list[_Frag]] = {}
    for f in frags:
        by_row.setdefault(f.row, []).append(f)
    if not by_row:
        return []
    rows = [by_row[index] for index in sorted(by_row)]  # top to bottom
    ys = [max(f.y for f in row) for row in rows]
    sizes = [max(f.size for f in row) for row in rows]
    blocks: list[list[int]] = [[0]]
    for i in range(1, len(rows)):
        if ys[i - 1] - ys[i] > 1.6 * max(sizes[i - 1], sizes[i]):
            blocks.append([i])
        else:
            blocks[-1].append(i)
    low, high = box
    zone = (high - low) * _MARGIN_ZONE
    picked: list[tuple[_Frag, bool, str]] = []
    for name, ordered, inside in (
        ("top", blocks, lambda y: y >= high - zone),
        ("bottom", blocks[::-1], lambda y: y <= low + zone),
    ):
        taken = 0
        for block in ordered:
            if len(block) > 3 or taken + len(block) > _MARGIN_ROWS:
                break
            if not all(inside(ys[i]) for i in block):
                break
            taken += len(block)
            for i in block:
                outermost = i in (0, len(rows) - 1)
                for f in rows[i]:
                    picked.append((f, outermost and len(rows[i]) == 1, name))
    # a row picked from both edges (a page with very little text) counts once
    seen: set[int] = set()
    unique = []
    for item in picked:
        if id(item[0]) not in seen:
            seen.add(id(item[0]))
            unique.append(item)
    return unique


def _header_key(frag: _Frag, zone: str) -> str:
    """Zone, weight and text with digits made "#": a title on the first page that a
    running header of the same words repeats in another style is not that header."""
    bold = sum(len(r.text) for r in frag.runs if r.bold) * 2 > sum(len(r.text) for r in frag.runs)
    return f"{zone}:{'bold' if bold else ''}:{_running_text(_frag_text(frag))}"


def _running_text(text: str) -> str:
    """Text as running headers are compared: digits "#", markers and extra whitespace
    gone (case kept: "THE ACT" set as a title is not "The Act" set as a header)."""
    return _DIGITS.sub("#", " ".join(_MARKED.sub("", text).split()))


def _find_running(pages: list[list[tuple[_Frag, bool, str]]]) -> set[str]:
    """Keys of margin lines repeated on enough pages to be running headers or footers."""
    n = len(pages)
    if n < 3:
        return set()
    seen: Counter[str] = Counter()
    for margin in pages:
        seen.update({_header_key(f, zone) for f, _, zone in margin})
    need = max(3, math.ceil(0.45 * n)) if n >= 5 else n - 1 if n == 4 else 3
    return {key for key, count in seen.items() if count >= need and key}


# --------------------------------------------------------------------------------------
# 6. Lines, blocks and headings
# --------------------------------------------------------------------------------------
def _leaf_lines(leaf: list[_Frag], marks: set[str], table_id: int | None = None) -> list[_Line]:
    """Lines of one leaf of the XY-cut, top to bottom. In a table (`table_id` given) each
    fragment of a row is a cell: cells are joined by a tab, leader dots dropped."""
    lines: list[_Line] = []
    for row in _cluster_rows(leaf):
        row.sort(key=lambda f: f.x0)
        if len(row) > 1 and _is_rtl("".join(_frag_text(f) for f in row)):
            row.reverse()  # a right-to-left line reads from its right end
        if table_id is None:
            text, marker, refs = _resolve_marks(" ".join(_frag_text(f) for f in row), marks)
        else:
            cells = [_LEADERS.sub("", _resolve_marks(cell, marks)[0]) for f in row for cell in _cells(f)]
            text, marker, refs = "\t".join(cell for cell in cells if cell), None, ()
        if not text:
            continue
        sizes: Counter[float] = Counter()
        bold_chars = total_chars = 0
        for f in row:
            for r in f.runs:
                n = len(r.text)
                sizes[round(r.size * 2) / 2] += n
                total_chars += n
                if r.bold:
                    bold_chars += n
        main = max(row, key=lambda f: len(f.runs))
        lines.append(
            _Line(
                text=text,
                x0=min(f.x0 for f in row),
                x1=max(f.x1 for f in row),
                y=main.y,
                size=sizes.most_common(1)[0][0],
                bold=bold_chars >= 0.8 * total_chars,
                table_id=table_id,
                marker=marker,
                refs=refs,
            )
        )
    if table_id is not None and lines:
        # a title set above the cells in a larger font is the table's caption, not a row
        cell_size = statistics.median(line.size for line in lines)
        for line in lines:
            if "\t" in line.text or line.size < _HEADING_RATIO * cell_size:
                break
            line.table_id = None
    return lines


def _cells(frag: _Frag) -> list[str]:
    """A table row's fragment cut into cells where its runs stand half an em apart: cells
    closer than the one em that separates fragments ("5,384 1,456.9")."""
    cells: list[list[_Run]] = [[]]
    last: _Run | None = None
    for run in frag.runs:
        if run.text != " ":
            if last is not None and run.x0 - last.x1 >= _CELL_GAP * min(run.size, last.size):
                cells.append([])
            last = run if last is None or run.x1 > last.x1 else last
        cells[-1].append(run)
    if len(cells) == 1:
        return [_frag_text(frag)]
    return [_join_runs(cell) for cell in cells]


def _footnote_marks(frags: list[_Frag]) -> set[str]:
    """Superscript markers that open a fragment: the footnotes of the page."""
    marks = set()
    for f in frags:
        match = _LEADING_MARK.match(_frag_text(f))
        if match:
            marks.add(match.group(1))
    return marks


def _pitch_ratio(lines: list[_Line]) -> float:
    ratios = []
    for a, b in zip(lines, lines[1:]):
        size = max(a.size, b.size)
        dy = a.y - b.y
        if size > 0 and 0.8 * size < dy < 2.5 * size and a.x0 < b.x1 and b.x0 < a.x1:
            ratios.append(dy / size)
    return statistics.median(ratios) if ratios else 1.2


def _all_capitals(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return len(letters) >= 4 and all(c.isupper() for c in letters)


def _is_heading_text(text: str, running: frozenset[str] = frozenset()) -> bool:
    words = text.split()
    letters = sum(c.isalpha() for c in text)
    return (
        0 < len(words) <= _HEADING_MAX_WORDS
        and _running_text(text) not in running
        and not text.endswith((".", ",", ";"))
        and letters >= 2
        and letters >= 0.5 * sum(not c.isspace() for c in text)  # not a row of figures
    )


def _blocks(
    lines: list[_Line], bodies: tuple[float, float], running: frozenset[str] = frozenset()
) -> list[list[_Line]]:
    """Ordered lines split into blocks, heading lines marked.

    `bodies`: the body text size that a larger heading must exceed, and the one a bold
    heading must reach. `running`: texts of the document's running headers and footers
    (as `_running_text` gives them), which are never headings, wherever they stand. The
    lines of a table make one block; a line opening a footnote starts a block.
    """
    if not lines:
        return []
    body, bold_body = bodies
    ratio = _pitch_ratio(lines)
    for line in lines:
        line.heading = (
            line.table_id is None
            and line.size >= body * _HEADING_RATIO
            and line.size >= body + 1.0
            and _is_heading_text(line.text, running)
        )
    blocks: list[list[_Line]] = [[lines[0]]]
    for index, (a, b) in enumerate(zip(lines, lines[1:])):
        size = max(a.size, b.size)
        dy = a.y - b.y
        c = lines[index + 2] if index + 2 < len(lines) else None
        indented = (  # a first-line indent: b sticks out, the line after it does not
            c is not None
            and a.text.endswith((".", ":", "!", "?", '"', "\u201d", ")", "\u2019"))
            and 0.5 * size < b.x0 - a.x0 < 6 * size
            and abs(c.x0 - a.x0) < 0.3 * size
            and 0 < b.y - c.y < (ratio + 0.2) * size
        )
        if a.table_id is not None or b.table_id is not None:
            new = a.table_id != b.table_id
        else:
            new = (
                indented
                or b.marker is not None
                or dy < 0.5 * min(a.size, b.size)  # next column, or back up the page
                or dy > (ratio + 0.2) * size  # paragraph gap
                or b.x1 < a.x0 or b.x0 > a.x1  # sideways jump
                or a.heading != b.heading
                or (a.heading and abs(a.size - b.size) > 0.1 * size)  # title, then subtitle
            )
        if new:
            blocks.append([b])
        else:
            blocks[-1].append(b)
    # bold at body size: a heading when it stands alone (its own block, or the short
    # first line of a block whose other lines are not bold)
    for block in blocks:
        first = block[0]
        # a bold all-capitals line may be set a little smaller than the text ("TITLE II: ONLINE
        # COPYRIGHT INFRINGEMENT LIABILITY LIMITATION" at 11 pt over 12 pt text in the DMCA memo)
        smallest = _CAPS_HEADING_SIZE if _all_capitals(first.text) else 0.95
        if first.heading or first.table_id is not None or not first.bold or first.size < bold_body * smallest:
            continue
        bold_lead = 1
        while bold_lead < len(block) and block[bold_lead].bold:
            bold_lead += 1
        if bold_lead > 2:
            continue
        text = " ".join(line.text for line in block[:bold_lead])
        if not _is_heading_text(text, running):
            continue
        if bold_lead == len(block):
            for line in block:
                line.heading = True
        else:
            width = max(line.x1 for line in block) - min(line.x0 for line in block)
            last = block[bold_lead - 1]
            if last.x1 - last.x0 < 0.7 * width and not text.endswith(":"):
                for line in block[:bold_lead]:
                    line.heading = True
    # text set large but long (a pull quote, a big-print paragraph) is no heading, nor is a
    # short line that holds content (a caption, a byline): it would be only a section label
    for block in blocks:
        if block[0].heading:
            lead = [line for line in block if line.heading]
            words = sum(len(line.text.split()) for line in lead)
            if len(lead) > 3 or words > _HEADING_MAX_WORDS or holds_content(" ".join(line.text for line in lead)):
                for line in lead:
                    line.heading = False
    result: list[list[_Line]] = []
    for block in blocks:
        lead = 0
        while lead < len(block) and block[lead].heading:
            lead += 1
        if 0 < lead < len(block):
            result.append(block[:lead])
            result.append(block[lead:])
        else:
            result.append(block)
    return result


# --------------------------------------------------------------------------------------
# 7. Hyphenation and assembly
# --------------------------------------------------------------------------------------
_WORD = re.compile(r"[^\W\d_]+(?:[-\u2010][^\W\d_]+)*")
_HYPHEN_END = re.compile(r"([^\W\d_]+(?:[-\u2010][^\W\d_]+)*)([-\u00ad\u2010])$")
_FIRST_WORD = re.compile(r"[^\W\d_]+")
# first parts that keep their hyphen when a compound is broken after them
_HYPHEN_PREFIXES = frozenset(
    "self well ex all half cross quasi great vice ill full long short high low "
    "first second third two three four five part".split()
)
# first parts that usually close up with what follows ("some" + "thing")
_CLOSED_PREFIXES = frozenset(
    "under over some any every with without out up down fore after back where there "
    "here what when how them your him her it my in on for".split()
)


def _vocabulary(blocks: Iterable[list[str]]) -> set[str]:
    """Lower-case words (hyphenated compounds whole) of a document's line-wrapped text.

    The pieces of a word broken at a line end are left out, so that they do not count
    as evidence for themselves.
    """
    vocab: set[str] = set()
    for lines in blocks:
        broken = False
        for line in lines:
            tokens = _WORD.findall(line.lower().replace("\u2010", "-"))
            ends_broken = bool(_HYPHEN_END.search(line))
            if broken:
                tokens = tokens[1:]
            if ends_broken:
                tokens = tokens[:-1]
            vocab.update(tokens)
            broken = ends_broken
    return vocab


def _keep_hyphen(left: str, right: str, vocab: set[str]) -> bool:
    """Whether "left-" at a line end + "right" is a hyphenated compound, not a broken word."""
    left = left.replace("\u2010", "-")
    if "-" in left:
        return True  # already a hyphenated compound ("state-by-" + "state")
    left, right = left.lower(), right.lower()
    plain = left + right
    if left + "-" + right in vocab and plain not in vocab:
        return True
    if plain in vocab:
        return False
    if left in _HYPHEN_PREFIXES:
        return True
    if left in _CLOSED_PREFIXES:
        return False
    # two whole words of the document ("school-" + "related"): a compound
    return len(left) >= 4 and len(right) >= 4 and left in vocab and right in vocab


def _dehyphenate(lines: list[str], vocab: set[str]) -> list[str]:
    return _dehyphenated(lines, vocab)[0]


def _dehyphenated(lines: list[str], vocab: set[str]) -> tuple[list[str], list[int]]:
    """Lines with a word broken at a line end made whole, and where each given line starts
    in the result joined by newlines."""
    out: list[str] = []
    starts: list[int] = []
    total = 0  # len("\n".join(out))
    for line in lines:
        if out and line[:1].islower():
            match = _HYPHEN_END.search(out[-1])
            if match and not out[-1].endswith("--"):
                first = _FIRST_WORD.match(line)
                keep = match.group(2) != "\u00ad" and _keep_hyphen(
                    match.group(1), first.group(0) if first else "", vocab
                )
                prefix = out[-1][:-1] + (match.group(2) if keep else "")
                starts.append(total - len(out[-1]) + len(prefix))
                total += len(prefix) + len(line) - len(out[-1])
                out[-1] = prefix + line
                continue
        total += (1 if out else 0) + len(line)
        starts.append(total - len(line))
        out.append(line)
    return out, starts


@dataclass
class _PageText:
    """A page's text and the spans in it that `Page` reports."""

    text: str
    headings: list[tuple[int, str]]
    tables: list[tuple[int, int, int]]
    footnotes: list[tuple[int, int]]
    refs: list[tuple[int, str]] = field(default_factory=list)


def _assemble(blocks: list[list[_Line]], footnotes: list[list[_Line]], vocab: set[str]) -> _PageText:
    """Blocks joined by blank lines, then the footnotes, each its own block.

    A table block is its rows, one per line; its span records where its header rows end.
    """
    parts: list[str] = []
    page = _PageText("", [], [], [])
    offset = 0

    def add(text: str) -> int:
        nonlocal offset
        start = offset + (2 if parts else 0)
        parts.append(text)
        offset = start + len(text)
        return start

    for block in _join_broken_words(_floats_after_paragraphs(blocks)):
        if block[0].table_id is not None:
            rows = [line.text for line in block]
            text = "\n".join(rows)
            start = add(text)
            header = sum(len(row) + 1 for row in rows[: _header_rows(rows)])
            page.tables.append((start, start + len(text), start + min(header, len(text))))
            continue
        lines, starts = _dehyphenated([line.text for line in block], vocab)
        if block[0].heading:
            heading = " ".join(lines).replace("\u00ad", "")
            page.headings.append((offset + (2 if parts else 0), heading))
            lines = [heading]
        joined = "\n".join(lines)
        text = joined.replace("\u00ad", "")  # soft hyphens left mid-line
        if text:
            start = add(text)
            if not block[0].heading:
                for line, line_start in zip(block, starts):
                    for at, mark in line.refs:
                        at = min(line_start + at, len(joined))
                        page.refs.append((start + at - joined.count("\u00ad", 0, at), mark))
    for note in footnotes:
        text = "\n".join(_dehyphenate([line.text for line in note], vocab)).replace("\u00ad", "")
        if text:
            start = add(text)
            page.footnotes.append((start, start + len(text)))
    page.text = "\n\n".join(parts)
    return page


_FLOAT_CAPTION = re.compile(r"(?:table|figure|fig\.|exhibit|chart|box|worksheet)\s+[\w.-]+", re.IGNORECASE)
_MAX_FLOAT_LINES = 40
_MAX_FLOAT_LINE_WORDS = 6  # "Total 17,758,000 100", "Age Enrollment %": a table's loose rows, not prose
_PROSE = re.compile(r"[.!?]$|[.!?]\s+[A-Z]")


def _floats_after_paragraphs(blocks: list[list[_Line]]) -> list[list[_Line]]:
    """Blocks with a float that interrupts a sentence (a table, a figure or worksheet title, a
    caption and its figures, set between two parts of one paragraph) moved after the paragraph,
    so the sentence reads whole: "… employed at degree-granting" + [Table 1 …] + "institutions."
    A float is only recognised as such between text that stops mid-sentence and text that goes
    on in lower case."""
    out = list(blocks)
    i = 0
    while i < len(out) - 2:
        block = out[i]
        last = block[-1].text.rstrip()
        if block[0].heading or block[0].table_id is not None or not last or last.endswith(_SENTENCE_END + (":",)):
            i += 1
            continue
        j, lines = i + 1, 0
        while j < len(out) and _floating(out[j], first=j == i + 1):
            lines += len(out[j])
            j += 1
        after = out[j] if j < len(out) else None
        if j > i + 1 and after is not None and lines <= _MAX_FLOAT_LINES and not after[0].heading \
                and after[0].table_id is None and after[0].text[:1].islower():
            out[i + 1:j + 1] = [after] + out[i + 1:j]
        i += 1
    return out


def _floating(block: list[_Line], first: bool) -> bool:
    """Whether a block can be part of a float: a heading, a table, a caption; after the first,
    also the short lines of figures and labels a table leaves outside its detected rows."""
    text = block[0].text.strip()
    if block[0].heading or block[0].table_id is not None or _FLOAT_CAPTION.match(text):
        return True
    return not first and all(len(line.text.split()) <= _MAX_FLOAT_LINE_WORDS and not _PROSE.search(line.text)
                             for line in block)


def _join_broken_words(blocks: list[list[_Line]]) -> list[list[_Line]]:
    """Blocks with a word broken across a column (or page region) change made one."""
    joined: list[list[_Line]] = []
    for block in blocks:
        if (
            joined
            and not block[0].heading
            and not joined[-1][-1].heading
            and block[0].table_id is None
            and joined[-1][-1].table_id is None
            and block[0].text[:1].islower()
            and _HYPHEN_END.search(joined[-1][-1].text)
            and not joined[-1][-1].text.endswith("--")
        ):
            joined[-1] = joined[-1] + block
        else:
            joined.append(block)
    return joined


def _header_rows(rows: list[str]) -> int:
    """How many rows at the top of a table are its header: those before the first row of
    data (a label, then mostly figures other than years), less the one-cell group labels
    ("Sex") right above it; the first row when no row has figures."""
    first_data = next((i for i, row in enumerate(rows) if _is_data_row(row.split("\t"))), None)
    if first_data is None:
        return 1 if len(rows) > 1 else 0
    while first_data > 1 and "\t" not in rows[first_data - 1]:
        first_data -= 1
    return first_data


def _is_data_row(cells: list[str]) -> bool:
    figures = sum(1 for cell in cells[1:] if _FIGURE.fullmatch(cell.strip()) and not _YEAR.fullmatch(cell.strip()))
    return len(cells) >= 2 and 2 * figures > len(cells) - 1


def _split_footnotes(blocks: list[list[_Line]]) -> tuple[list[list[_Line]], list[list[_Line]]]:
    """Blocks of one orientation group split into text and footnotes (in reading order).

    A footnote is set smaller than the text above it in its column, has no larger text
    of the column right below it (it ends the column, or stands above a table or
    figure), and opens with a marker: a superscript, or a number or symbol followed by
    prose. A small block without a marker continues the footnote before it on the page
    when that one breaks off mid-sentence or the block starts in lower case (a footnote
    carried over to the next column).
    """
    lines = [(i, line) for i, block in enumerate(blocks) for line in block if line.table_id is None]
    cited = {marker for _, line in lines for _, marker in line.refs}
    notes: list[list[_Line]] = []
    taken: set[int] = set()
    for i, block in enumerate(blocks):
        if block[0].heading or block[0].table_id is not None:
            continue
        size = statistics.median(line.size for line in block)
        top, bottom = max(line.y for line in block), min(line.y for line in block)
        x0, x1 = min(line.x0 for line in block), max(line.x1 for line in block)
        column = [line for j, line in lines if j != i and line.x0 < x1 and x0 < line.x1]
        # a superscript marker is evidence enough for print only a little smaller
        ratio = _FOOTNOTE_SIZE_MARKED if block[0].marker is not None else _FOOTNOTE_SIZE
        above = [line for line in column if line.y > top and abs(line.size - size) > 0.03 * size]
        if not above or min(above, key=lambda line: line.y - top).size * ratio < size:
            continue  # not smaller than the text above it
        if any(line.y < bottom and bottom - line.y < _FOOTNOTE_CLEAR * line.size and line.size * ratio >= size
               for line in column):
            continue  # larger text of the column goes on right below: not at the foot
        first = block[0].text
        if block[0].marker is not None or _opens_note(first) or _opens_numbered_note(first, cited):
            notes.append(list(block))
        elif notes and (first[:1].islower() or not notes[-1][-1].text.endswith(_SENTENCE_END)):
            notes[-1].extend(block)
        else:
            continue
        taken.add(i)
    return [block for i, block in enumerate(blocks) if i not in taken], notes


def _opens_numbered_note(line: str, cited: set[str]) -> bool:
    """"35. These include …" under a page that cites 35 with a raised marker: a footnote
    numbered like a list item. Left in the text it is spliced into a sentence that goes on
    over the page ("between member 35. These include … states still remain")."""
    match = _NUMBERED_NOTE.match(line)
    return bool(match) and match.group(1) in cited and _opens_note(match.group(1) + " " + line[match.end():])


def _opens_note(line: str) -> bool:
    """A number or symbol, a space, then prose ("13 More than 10 degrees"), not figures
    ("15 to 24 5.3")."""
    match = _FOOTNOTE_START.match(line)
    if not match:
        return False
    rest = line[match.end():]
    return sum(c.isalpha() for c in rest) >= 0.6 * sum(not c.isspace() for c in rest)


def _clean_plain(text: str, vocab: set[str] | None = None) -> str:
    """Plain `extract_text()` output with control characters and extra whitespace removed."""
    lines = [" ".join(_clean_run_text(line).split()) for line in text.splitlines()]
    lines = [line for line in lines if line]
    return "\n".join(_dehyphenate(lines, vocab or set())).replace("\u00ad", "")


def _visible_chars(text: str) -> int:
    return sum(1 for c in text if not c.isspace() and c != "\ufffd")


# --------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------
@dataclass
class _Prepared:
    source: pypdf.PageObject | str  # the page, or the plain text it falls back to
    groups: list[tuple[list[_Frag], tuple[float, float]]] | None = None  # None: fall back


def _prepared_chars(prep: _Prepared) -> int:
    if isinstance(prep.source, str):
        return len(prep.source)
    return sum(len(run.text) for frags, _ in prep.groups or () for frag in frags for run in frag.runs)


def _plain_text(page: pypdf.PageObject) -> str:
    try:
        return page.extract_text() or ""
    except Exception:  # noqa: BLE001 - pypdf failed too: the page has no text for us
        return ""


def _prepare(page: pypdf.PageObject, font_cache: dict[int, Any]) -> _Prepared:
    try:
        raw = _raw_page(page, font_cache)
        groups = [(_fragments(runs), box) for runs, box in raw.groups]
    except Exception as exc:  # noqa: BLE001 - odd PDF: fall back to pypdf's plain text
        log.debug("layout failed on a page, using plain text: %r", exc)
        return _Prepared(_plain_text(page))
    if raw.suspect or raw.chars == 0:
        # the interpreter skipped something (or found nothing): let pypdf's plain
        # extraction, which copes with more broken input, have a say
        plain = _plain_text(page)
        plain_chars = _visible_chars(plain)
        if raw.chars < _FALLBACK_RATIO * plain_chars:
            return _Prepared(plain)
    return _Prepared(page, groups)


@dataclass
class _Margins:
    """What the top and bottom edges of the pages hold."""

    drop: set[int] = field(default_factory=set)  # ids of running header/footer/page-number fragments
    running: frozenset[str] = frozenset()  # their texts as `_running_text` gives them
    texts: list[list[str]] = field(default_factory=list)  # per page, every margin fragment's text
    running_lines: list[str] = field(default_factory=list)  # running texts as printed, first seen first


def _margins(prepared: list[_Prepared]) -> _Margins:
    """Running headers, footers and page numbers (to drop), and the margin texts (to read
    printed page numbers, dates and publishers from)."""
    try:
        # every orientation group is looked at: margin notes often run sideways
        margins = [
            [item for frags, box in prep.groups or [] for item in _margin_frags(frags, box)]
            for prep in prepared
        ]
        result = _Margins(texts=[[_resolve_marks(_frag_text(f), set())[0] for f, _, _ in m] for m in margins])
        running = _find_running(margins)
        printed: dict[str, str] = {}
        for margin in margins:
            for frag, alone_outermost, zone in margin:
                text = _resolve_marks(_frag_text(frag), set())[0]
                if _header_key(frag, zone) in running:
                    result.drop.add(id(frag))
                    printed.setdefault(_running_text(text), text)
                elif alone_outermost and is_page_number(text):
                    result.drop.add(id(frag))
        result.running = frozenset(printed)
        result.running_lines = list(printed.values())
        return result
    except Exception as exc:  # noqa: BLE001 - keep the lines rather than fail the document
        log.debug("running header detection failed: %r", exc)
        return _Margins(texts=[[] for _ in prepared])


def _size_histogram(prep: _Prepared) -> Counter[float]:
    """Characters per (rounded) font size on a page."""
    prose: Counter[float] = Counter()  # from fragments of several words (not table cells)
    every: Counter[float] = Counter()
    for frags, _ in prep.groups or []:
        for f in frags:
            many_words = len(_frag_text(f).split()) >= 4
            for r in f.runs:
                size = round(r.size * 2) / 2
                every[size] += len(r.text)
                if many_words:
                    prose[size] += len(r.text)
    return prose if sum(prose.values()) >= 200 else every


@dataclass
class Layout:
    """A laid-out PDF: its pages, and the running headers and footers taken off them
    (where a document often names its publisher and date)."""

    pages: list[Page]
    running: list[str] = field(default_factory=list)
    margins: list[list[str]] = field(default_factory=list)  # per page, the texts at its top and bottom edges


def lay_out_pages(reader: pypdf.PdfReader) -> list[Page]:
    """One `Page` per page of `reader` (1-based numbers, in order) with reading-ordered text.

    Multi-column pages are read column by column, tables row by row (cells split by
    tabs), footnotes moved to the end of their page, running headers and footers
    dropped, words hyphenated at line ends joined; short lines set in a larger (or bold)
    font are reported in `Page.headings`, tables in `Page.tables`, footnotes in
    `Page.footnotes`, printed page numbers in `Page.label`. Never raises for odd page
    content: a page that cannot be laid out falls back to pypdf's plain text, or to "".
    """
    return lay_out(reader).pages


def lay_out(reader: pypdf.PdfReader) -> Layout:
    """`lay_out_pages`, plus the document's running header and footer texts."""
    try:
        count = len(reader.pages)
    except Exception:  # noqa: BLE001
        return Layout([])
    font_cache: dict[int, Any] = {}
    prepared: list[_Prepared] = []
    budget = TextBudget()  # KB_MAX_DOCUMENT_CHARS, counted page by page as the text is read
    for index in range(count):
        try:
            page = reader.pages[index]
        except Exception:  # noqa: BLE001
            prepared.append(_Prepared(""))
            continue
        prepared.append(_prepare(page, font_cache))
        budget.spend(_prepared_chars(prepared[-1]))
    font_cache.clear()

    margins = _margins(prepared)
    histograms = [_size_histogram(prep) for prep in prepared]
    document_sizes: Counter[float] = sum(histograms, Counter())
    document_body = document_sizes.most_common(1)[0][0] if document_sizes else 10.0
    laid_out: list[tuple[list[list[_Line]], list[list[_Line]]] | None] = []
    for prep, sizes in zip(prepared, histograms):
        if prep.groups is None:
            laid_out.append(None)
            continue
        # body size: the page's own when it has enough text (but a page of small print,
        # footnotes or tables, does not make ordinary text a heading)
        page_body = sizes.most_common(1)[0][0] if sum(sizes.values()) >= 400 else document_body
        try:
            laid_out.append(_page_blocks(prep, margins, (max(document_body, page_body), page_body)))
        except Exception as exc:  # noqa: BLE001 - never let one page sink the document
            log.debug("layout failed on a page, using plain text: %r", exc)
            laid_out.append(None)

    vocab = _vocabulary(
        [line.text for line in block]
        for page in laid_out if page for blocks in page for block in blocks
    )
    labels = pdf_page_labels(reader) or printed_labels(margins.texts)
    pages: list[Page] = []
    for number, (prep, blocks) in enumerate(zip(prepared, laid_out), start=1):
        page = None
        if blocks is not None:
            try:
                assembled = _assemble(blocks[0], blocks[1], vocab)
                page = Page(number, assembled.text, assembled.headings, tables=assembled.tables,
                            footnotes=assembled.footnotes, footnote_refs=assembled.refs)
            except Exception as exc:  # noqa: BLE001
                log.debug("assembling a page failed, using plain text: %r", exc)
        if page is None:
            plain = prep.source if isinstance(prep.source, str) else _plain_text(prep.source)
            page = Page(number, _clean_plain(plain, vocab), [])
        page.label = labels[number - 1] if number - 1 < len(labels) else None
        pages.append(page)
    return Layout(pages, margins.running_lines, margins.texts)


def _page_blocks(
    prep: _Prepared, margins: _Margins, body: tuple[float, float]
) -> tuple[list[list[_Line]], list[list[_Line]]]:
    """A page's blocks in reading order, and its footnotes, over all orientation groups."""
    blocks: list[list[_Line]] = []
    notes: list[list[_Line]] = []
    for frags, _ in prep.groups or []:
        kept = [f for f in frags if id(f) not in margins.drop]
        marks = _footnote_marks(kept)
        lines = []
        for index, (leaf, table) in enumerate(_reading_order(kept)):
            lines.extend(_leaf_lines(leaf, marks, index if table else None))
        text, group_notes = _split_footnotes(_blocks(lines, body, margins.running))
        blocks.extend(text)
        notes.extend(group_notes)
    return blocks, notes
