"""Pages → passages: verbatim spans of about 100–250 words that never cross a page or a heading.
A heading is not in any passage's text: it is the `section` of the passages under it.

Pure functions, property-tested. A passage is a [start, end) span of its page's text;
its `text` is that span with whitespace collapsed, so a quote pasted from it is exact.
Units, from coarse to fine: blocks (blank-line separated), table rows, list items and lines
that end a sentence, sentences, words, characters. Units are packed greedily up to the target
size, with three exceptions that keep meaning together:
- a passage never ends on a lead-in ("… these six areas:"): the lead-in moves to the passage
  with its list;
- a passage that continues a table or a list cut by the size limit carries the table's
  header row or the list's lead-in as `context` (indexed with it, shown above it; not part
  of the quote);
- footnotes (PDF footnote blocks) make passages of their own, never packed with body text;
- a passage too short to stand alone (a title line, a date) joins the next one under the same
  heading. (A short section -- a heading and one sentence -- stays whole: it answers
  something, and passages never cross a heading.)

One crossing is allowed: a sentence broken by a page break. The passage where it starts
takes the rest of it from the next page (the top, or past a table set there, or past pages
that hold only tables; its `text` runs on, `end_page` names the page it ends on, and it is
cited "pp. 62–63"); the next page's passages leave that piece out. So no quote ends
or starts with half a sentence. (Within a page, the layout moves a table or title that
interrupts a sentence after its paragraph: `pdf_layout._floats_after_paragraphs`.)
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

from kb.models import Passage, TableRow
from kb.text import collapse, sentences, trimmed
from kb.tokens import stopwords

from .types import Page

TARGET_WORDS = 150
MAX_WORDS = 250
MAX_CHARS = 2500
SMALL_TAIL = 40  # a last piece this small joins the passage before it when it fits
SHORT_PASSAGE = 30  # a passage this small (a title block) joins the next one on its page
MAX_CONTEXT_WORDS = 60
MAX_RUNOVER_WORDS = 60  # the rest of a sentence broken by a page break, looked for this far
MAX_FLOAT_PAGES = 3  # full-page tables a broken sentence may go on past
# A table with this many rows of figures alone (a tax table) is packed a few rows to a passage,
# as text is: such rows name nothing a question could find them by, and one passage each
# (719 in the IRS instructions) outweighs the document's prose in the keyword statistics.
PACKED_FIGURE_ROWS = 20
# A table's rows are passages of their own when at least this share of its body rows (group
# labels aside) has a cell for every column; else it was read line by line and packs like text.
REGULAR_ROWS = 0.6

BLOCK_BREAK = re.compile(r"\n[ \t\f\v\r]*\n\s*")
LIST_ITEM = re.compile(r"\s*(?:[-*•◦▪‣–·o]|\(?\d{1,3}[.)]|\(?[a-zA-Z][.)])\s+")
SENTENCE_END = (".", "!", "?", ":", ";", "…", '"', "”", "’", ")")
# What starts a page without continuing the last one: a table or figure caption, a heading
# number, a list marker.
FLOAT_START = re.compile(r"(?:table|figure|fig\.|exhibit|chart|box)\s+[\w.-]+[.:]?\s", re.IGNORECASE)
NOTE_START = re.compile(r"(?:[*†‡§]|abbreviations?\b|notes?\b|sources?\b)", re.IGNORECASE)
FOOTNOTE_MARK = re.compile(r"(\d{1,3}|[*\u2020\u2021\u00a7\u00b6#]{1,3})\s")
UNANCHORED = -1
RUNOVER_END = re.compile(r"[.!?…][\"'”’)\]]*(?:\d{1,2}|[¹²³⁴⁵⁶⁷⁸⁹⁰]{1,2})?$")


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    words: int
    lead_in: bool = False  # ends with ":" and introduces what follows
    table: int | None = None  # index into page.tables when the unit is a table row
    header: bool = False  # a header row of its table
    # the footnote block (index into page.footnotes) it belongs to; UNANCHORED for a note no
    # sentence of the page cites (a table's notes, a source line): those are packed together
    note: int | None = None

    @property
    def footnote(self) -> bool:
        return self.note is not None


@dataclass(frozen=True)
class Piece:
    span: Span
    heading: str | None
    context: str | None = None
    table: TableRow | None = None


def split_pages(pages: list[Page], target_words: int = TARGET_WORDS, max_words: int = MAX_WORDS,
                max_chars: int = MAX_CHARS) -> list[Passage]:
    """Passages for a document, in reading order, `ordinal` counting from 0."""
    out: list[Passage] = []
    section: str | None = None
    taken: dict[int, tuple[int, int]] = {}  # page index -> the span that finished an earlier page's sentence
    shape: TableShape | None = None  # the last table read: a table continued on the next page keeps its header
    for i, page in enumerate(pages):
        pieces: list[Piece] = []
        anchors = _anchors(page)
        shapes = {}
        for t in range(len(page.tables)):
            shape = table_shape(page, t, shape)
            if not _figure_table(page, t) and _regular_table(page, t, shape.width):
                shapes[t] = shape
        for start, end, heading in _regions(page, section, taken.get(i), first_page=i == 0):
            section = heading
            units = _units(page, start, end, max_words, max_chars, anchors)
            pieces += _merge_short([Piece(span, heading, context, row) for span, context, row in
                                    _pack(units, target_words, max_words, max_chars, page, anchors, shapes)],
                                   max_words, max_chars)
        pieces = _without_captions(page, pieces, shapes)
        last = _last_body(page, pieces)
        goes_on = _continuation_page(pages, i)
        # (a page of figures set between ends no sentence: the one broken before it goes on past it)
        runover = _runover(page, pieces[last], pages[goes_on]) \
            if last is not None and goes_on and goes_on not in taken and not _only_floats(page) else None
        for j, piece in enumerate(pieces):
            s = piece.span
            text = collapse(page.text[s.start:s.end])
            end_page = end_label = None
            if j == last and runover is not None:
                nxt = pages[goes_on]
                joiner = "" if text.endswith(("-", "\u2010")) else " "
                text += joiner + collapse(nxt.text[runover[0]:runover[1]])
                end_page, end_label = nxt.number, nxt.label
            out.append(Passage(None, None, len(out), page.number, piece.heading, s.start, s.end, text,
                               page_label=page.label, ocr=page.ocr, context=piece.context, end_page=end_page,
                               end_page_label=end_label, footnote=s.footnote, table=piece.table))
        if runover is not None:
            taken[goes_on] = runover
        if page.headings:
            section = page.headings[-1][1]
    return out


def _last_body(page: Page, pieces: list[Piece]) -> int | None:
    """The passage holding the page's last body text, when only footnotes follow it."""
    body = [j for j, p in enumerate(pieces) if not p.span.footnote]
    if not body:
        return None
    end = pieces[body[-1]].span.end
    only_notes = all(ch.isspace() or any(f_start <= k < f_end for f_start, f_end in page.footnotes)
                     for k, ch in enumerate(page.text[end:], end))
    return body[-1] if only_notes else None


def _continuation_page(pages: list[Page], i: int) -> int | None:
    """Where a sentence broken at the foot of page i goes on: the next page, or a later one when
    the pages between hold nothing but tables and their notes (full-page tables set between)."""
    for k in range(i + 1, i + 1 + MAX_FLOAT_PAGES + 1):
        if k >= len(pages):
            return None
        if not _only_floats(pages[k]):
            return k
    return None


def _only_floats(page: Page) -> bool:
    """A page of tables, captions, notes and figures, with no heading and no body paragraph."""
    if page.headings or not page.text.strip():
        return False
    for start, end in _blocks(page.text, 0, len(page.text)):
        inside = any(a <= start < b for a, b in page.footnotes) or any(a <= start < b for a, b, _ in page.tables)
        if not (inside or FLOAT_START.match(page.text, start) or NOTE_START.match(page.text, start)
                or _numeric(page.text[start:end])):
            return False
    return True


def _runover(page: Page, piece: Piece, nxt: Page) -> tuple[int, int] | None:
    """The span of the next page that finishes `piece`'s broken last sentence: its first
    body block's first sentence (past any table set at the top of the page). None when the
    passage ends a sentence or the next page does not go on with it (a heading, a list, a
    footnote, or a capitalised start after a word that can end a sentence)."""
    s = piece.span
    tail = page.text[s.start:s.end].rstrip()
    if page.number is None or nxt.number is None or not tail or tail.endswith(SENTENCE_END) \
            or _table_at(page, s.start, s.end) is not None or page.ocr != nxt.ocr:
        return None
    block = _opening_block(nxt)
    if block is None:
        return None
    begin, limit = block
    opening = nxt.text[begin:begin + 80]
    if LIST_ITEM.match(opening):
        return None
    last_word = re.sub(r"\W+$", "", tail.split()[-1]).lower()
    if not (opening[0].islower() or opening[0] in "([" or tail.endswith((",", "-", "\u2010", "—", "–"))
            or last_word in stopwords()):
        return None  # "…the Lion Air" + "Investigation of…" is not one sentence
    first_sentence = next(sentences(nxt.text, begin, limit), None)
    if first_sentence is None:
        return None
    end = first_sentence[1]
    if len(nxt.text[begin:end].split()) > MAX_RUNOVER_WORDS or not RUNOVER_END.search(nxt.text[begin:end]):
        return None
    # (the block ends before the page's first heading; a footnote or table may still start in it)
    starts = [f for f, _ in nxt.footnotes] + [t for t, _, _ in nxt.tables]
    return None if any(begin <= off < end for off in starts) else (begin, end)


def _opening_block(page: Page) -> tuple[int, int] | None:
    """(start, end) of the first body block of a page: tables, their captions and
    notes at the top are passed over (a report often sets a table above the text that goes
    on). None when a heading or a footnote comes first."""
    first_heading = min((off for off, _ in page.headings), default=len(page.text))
    skipped = False
    for start, end in _blocks(page.text, 0, first_heading):
        if any(f_start <= start < f_end for f_start, f_end in page.footnotes):
            return None
        in_table = any(t_start <= start < t_end for t_start, t_end, _ in page.tables)
        if in_table or FLOAT_START.match(page.text, start) or \
                (skipped and (NOTE_START.match(page.text, start) or _numeric(page.text[start:end]))):
            skipped = True
            continue
        return start, end
    return None


def _numeric(block: str) -> bool:
    """A line of figures ("Total 9,369 190.0"): what a table leaves outside its detected rows."""
    tokens = block.split("\n", 1)[0].split()
    return sum(any(ch.isdigit() for ch in t) for t in tokens) >= max(1, sum(t.isalpha() for t in tokens))


def _regions(page: Page, section: str | None, taken: tuple[int, int] | None = None, first_page: bool = False):
    """(start, end, governing heading) spans of a page, cut at headings. A region starts after
    its heading's own text: the heading is the passage's `section`, never part of its quote.

    A heading with no text under it (the next heading follows at once: "TITLE IV: MISCELLANEOUS
    PROVISIONS" over its first section) heads the region below together with the nearer heading
    ("A › B"), so its words stay findable and in the citation's section. The document's first
    heading, its title, does not: the citation names the title already.
    """
    text = page.text
    cuts = [(0, 0, section)] + [(off, heading_end(text, off, h), h) for off, h in page.headings
                                if 0 <= off < len(text)]
    cuts.sort(key=lambda c: c[0])
    regions = []
    above = None  # the heading before, when nothing stood under it
    for i, (_, body_start, heading) in enumerate(cuts):
        end = cuts[i + 1][0] if i + 1 < len(cuts) else len(text)
        spans = [(body_start, end)]
        if taken and taken[0] < end and body_start < taken[1]:  # the previous page's sentence is not here
            spans = [(body_start, taken[0]), (taken[1], end)]
        kept = [(s, e) for s, e in spans if e > s and text[s:e].strip()]
        shown = f"{above} \u203a {heading}" if above and heading and above != heading else heading
        regions += [(s, e, shown) for s, e in kept]
        title = first_page and i == 1 and not section
        # one level only: in a run of empty headings the last one heads what follows
        above = heading if not kept and i > 0 and not title else None
    return regions


def heading_end(text: str, offset: int, heading: str) -> int:
    """Where a heading's text ends in the page, matching its characters (whitespace aside) from
    `offset`; `offset` itself when the page does not spell the heading there."""
    pos = offset
    for ch in heading:
        if ch.isspace():
            continue
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text) or text[pos] != ch:
            return offset
        pos += 1
    return pos


# ---- units ------------------------------------------------------------------------------------

def _units(page: Page, start: int, end: int, max_words: int, max_chars: int, anchors: dict[int, str]
           ) -> list[Span]:
    text = page.text
    units: list[Span] = []
    for b_start, b_end in _blocks(text, start, end):
        table = _table_at(page, b_start, b_end)
        if table is not None:
            units += _table_rows(page, table, b_start, b_end, max_words, max_chars)
            continue
        note = next((n for n, (f_start, f_end) in enumerate(page.footnotes) if f_start <= b_start and b_end <= f_end),
                    None)
        if note is not None and note not in anchors:
            note = UNANCHORED
        for l_start, l_end in _list_items(text, b_start, b_end):
            fitted = _fit(text, l_start, l_end, max_words, max_chars)
            if fitted and text[l_start:l_end].rstrip().endswith(":"):
                fitted[-1] = replace(fitted[-1], lead_in=True)
            units += [replace(u, note=note) for u in fitted] if note is not None else fitted
    return units


def _blocks(text: str, start: int, end: int):
    """Blank-line separated blocks; a block that stops mid-sentence and is followed by one that
    starts in lower case is one paragraph broken by a stray blank line, and stays whole."""
    pos = start
    block_start = start
    for m in BLOCK_BREAK.finditer(text, start, end):
        before = text[pos:m.start()].rstrip()
        after = text[m.end():m.end() + 1]
        pos = m.end()
        if before and not before.endswith(SENTENCE_END) and after.islower() and not _is_heading_line(before):
            continue
        yield from trimmed(text, block_start, m.start())
        block_start = pos
    yield from trimmed(text, block_start, end)


def _is_heading_line(block: str) -> bool:
    last = block.rsplit("\n", 1)[-1].strip()
    return len(last.split()) <= 12 and last[:1].isupper() and last.istitle()


def _table_at(page: Page, start: int, end: int) -> int | None:
    for i, (t_start, t_end, _) in enumerate(page.tables):
        if t_start <= start and end <= t_end:
            return i
    return None


def _table_rows(page: Page, table: int, start: int, end: int, max_words: int, max_chars: int) -> list[Span]:
    """Each row of a table is one unit (rows are lines); a row too big for a passage is cut."""
    text = page.text
    header_end = page.tables[table][2]
    rows = []
    pos = start
    while pos < end:
        nl = text.find("\n", pos, end)
        line_end = end if nl < 0 else nl
        for s, e in trimmed(text, pos, line_end):
            for unit in _fit(text, s, e, max_words, max_chars):
                rows.append(replace(unit, table=table, header=e <= header_end))
        pos = line_end + 1
    return rows


def _list_items(text: str, start: int, end: int):
    """Split a block before lines that start a list item, and after lines ending a sentence."""
    lines = []
    pos = start
    while pos < end:
        nl = text.find("\n", pos, end)
        line_end = end if nl < 0 else nl
        lines.append((pos, line_end))
        pos = line_end + 1
    if len(lines) == 1:
        yield from trimmed(text, start, end)
        return
    item_start = lines[0][0]
    for (s, e), nxt in zip(lines, lines[1:] + [None]):
        if nxt is None:
            yield from trimmed(text, item_start, e)
            break
        next_is_item = bool(LIST_ITEM.match(text, nxt[0], nxt[1]))
        ends_sentence = text[s:e].rstrip().endswith((".", "!", "?", ":", ";"))
        if next_is_item or (ends_sentence and _starts_upper(text, nxt[0], nxt[1])):
            yield from trimmed(text, item_start, e)
            item_start = nxt[0]


def _starts_upper(text: str, start: int, end: int) -> bool:
    stripped = text[start:end].lstrip()
    return bool(stripped) and (stripped[0].isupper() or stripped[0].isdigit())


def _fit(text: str, start: int, end: int, max_words: int, max_chars: int) -> list[Span]:
    """One unit if it is small enough, else its sentences, else word (then character) chunks."""
    words = len(text[start:end].split())
    if words <= max_words and end - start <= max_chars:
        return [Span(start, end, words)]
    pieces = list(sentences(text, start, end))
    if len(pieces) > 1:
        return [u for s, e in pieces for u in _fit(text, s, e, max_words, max_chars)]
    return _chunks(text, start, end, max_words, max_chars)


def _chunks(text: str, start: int, end: int, max_words: int, max_chars: int) -> list[Span]:
    out = []
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text[start:end])]
    i = 0
    while i < len(words):
        s = start + words[i][0]
        j = i
        while j < len(words) and j - i < max_words and start + words[j][1] - s <= max_chars:
            j += 1
        if j == i:  # one "word" longer than max_chars: cut it
            e = s + max_chars
            out.append(Span(s, e, 1))
            w_end = start + words[i][1]
            if e < w_end:
                words[i] = (e - start, words[i][1])
                continue
            i += 1
            continue
        e = start + words[j - 1][1]
        out.append(Span(s, e, j - i))
        i = j
    return out


# ---- packing ----------------------------------------------------------------------------------

def _join(units: list[Span]) -> Span:
    return Span(units[0].start, units[-1].end, sum(u.words for u in units), note=units[0].note,
                table=units[0].table, header=all(u.header for u in units))


def _fits(units: list[Span], max_words: int, max_chars: int) -> bool:
    return sum(u.words for u in units) <= max_words and units[-1].end - units[0].start <= max_chars


def _pack(units: list[Span], target: int, max_words: int, max_chars: int, page: Page, anchors: dict[int, str],
          shapes: dict | None = None) -> list[tuple[Span, str | None, TableRow | None]]:
    """Greedy packing into (span, context, table row) passages; see the module docstring for the
    exceptions. A table's header rows make one passage, and each body row one of its own (a
    label row above a group of rows, "Women", goes with the row after it)."""
    groups: list[list[Span]] = []
    cur: list[Span] = []
    shapes = shapes or {}
    for u in units:  # (the rows of a table not in `shapes`, a packed one, pack like text)
        if u.table in shapes or (cur and cur[-1].table in shapes):
            if cur and not (u.table == cur[-1].table and (u.header and cur[-1].header or _label_row(page, cur[-1]))):
                groups.append(cur)
                cur = []
            cur.append(u)
            continue
        full = sum(x.words for x in cur) >= target
        if cur and u.note != cur[-1].note:  # a footnote shares its passage with no other text
            groups.append(cur)
            cur = []
        if cur and ((full and not cur[-1].lead_in) or not _fits(cur + [u], max_words, max_chars)):
            if cur[-1].lead_in and len(cur) > 1:
                groups.append(cur[:-1])  # the lead-in goes with what it introduces
                cur = [cur[-1]]
            if not _fits(cur + [u], max_words, max_chars) or not cur[-1].lead_in:
                groups.append(cur)
                cur = []
        cur.append(u)
    if cur:
        tail = sum(u.words for u in cur)
        if groups and tail < SMALL_TAIL and groups[-1][-1].note == cur[0].note and \
                groups[-1][-1].table is None and cur[0].table is None and _fits(groups[-1] + cur, max_words, max_chars):
            groups[-1] = groups[-1] + cur
        else:
            groups.append(cur)
    out = []
    previous: list[Span] = []
    groups_of: dict[int, str | None] = {}  # table -> the label row above the rows now read
    for group in groups:
        first = group[0]
        if first.table is not None and first.table in shapes:
            labels = [_cells(page, u)[0] for u in group if _label_row(page, u)]
            if labels or first.header:
                groups_of[first.table] = ", ".join(labels) or None
            if all(u.header for u in group):
                continue  # the header rows travel with every row: as its cells' names, or as its context
            out.append((_join(group), *_row_context(page, group, shapes[first.table], groups_of.get(first.table))))
        else:
            out.append((_join(group), _context(group, previous, units, page, anchors), None))
        previous = group
    return out


def _context(group: list[Span], previous: list[Span], units: list[Span], page: Page,
             anchors: dict[int, str]) -> str | None:
    """The header row of a table, or the lead-in of a list, that this passage continues; for
    a footnote, the sentence that cites it."""
    first = group[0]
    if first.note is not None and first.note != UNANCHORED:
        return anchors[first.note]
    if not previous:
        return None
    if first.table is not None and not first.header and previous[-1].table == first.table:
        header = [u for u in units if u.table == first.table and u.header]
        if header:
            return _short(collapse(page.text[header[0].start:header[-1].end]))
    if LIST_ITEM.match(page.text, first.start) and not first.lead_in:
        idx = units.index(first)
        for u in reversed(units[:idx]):
            if u.lead_in:
                return _short(collapse(page.text[u.start:u.end]))
            if not LIST_ITEM.match(page.text, u.start):
                break
    return None


# ---- tables -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class TableShape:
    """What every row passage of a table carries: its caption, its column names (one per
    column; empty when the header rows cannot be lined up with the columns) and its width."""

    caption: str | None
    headers: tuple[str, ...]
    width: int
    header_text: str | None = None  # the header rows as printed, for rows whose columns stay unnamed


def _cells(page: Page, span: Span) -> list[str]:
    return [collapse(c) for c in page.text[span.start:span.end].split("\t")]


def _figure_table(page: Page, index: int) -> bool:
    """A table of PACKED_FIGURE_ROWS or more rows holding figures alone (a tax table)."""
    start, end, header_end = page.tables[index]
    rows = page.text[header_end:end].split("\n")
    return sum(bool(r.strip()) and not re.search(r"[^\W\d_]", r) for r in rows) >= PACKED_FIGURE_ROWS


def _label_row(page: Page, span: Span) -> bool:
    """A body row that only names the group of rows below it ("Women", "Sex")."""
    if span.table is None or span.header:
        return False
    cells = [c for c in _cells(page, span) if c]
    return len(cells) == 1 and _label_text(cells[0])


def table_shape(page: Page, index: int, previous: TableShape | None = None) -> TableShape:
    """The caption, column names and width of page.tables[index]. A table without header rows
    and as wide as the table before it (on this page or the last) continues that table, and
    takes its caption and column names."""
    start, end, header_end = page.tables[index]
    rows = [(s, e, [collapse(c) for c in page.text[s:e].split("\t")])
            for s, e in trimmed_lines(page.text, start, end)]
    head = [cells for s, e, cells in rows if e <= header_end]
    body = [cells for s, e, cells in rows if s >= header_end and sum(bool(c) for c in cells) > 1]
    widths = sorted((len(c) for c in body), key=lambda w: (-sum(len(c) == w for c in body), -w))
    width = widths[0] if widths else max((len(c) for c in head), default=0)
    caption = [_caption_before(page, start)]
    while head and sum(bool(c) for c in head[0]) <= 1 and width > 2:  # a title set in the table's first rows
        caption.append(" ".join(head.pop(0)))
    text = collapse(" ".join(c for c in caption if c)) or None
    printed = _short(collapse(" ".join(c for cells in head for c in cells if c))) or None
    if page.table_columns.get(start):
        headers = tuple(page.table_columns[start])
    elif head:
        headers = column_names(head, width)
    elif previous is not None and previous.width == width:
        return TableShape(text or previous.caption, previous.headers, width, previous.header_text)
    else:
        headers = ()
    return TableShape(text, headers, width, printed)


def _regular_table(page: Page, index: int, width: int) -> bool:
    """Whether the table's body rows are rows of cells, most as wide as the table: a table of
    wrapped phrases that the layout read line by line ("Stability of scores over time when no
    change" / "is expected in the concept of interest") is not, and is packed like text, so a
    sentence its lines carry stays in one passage."""
    start, end, header_end = page.tables[index]
    rows = [[c for c in page.text[s:e].split("\t")] for s, e in trimmed_lines(page.text, max(start, header_end), end)]
    rows = [r for r in rows if not (sum(bool(c.strip()) for c in r) == 1 and _label_text(" ".join(r)))]
    return bool(rows) and sum(len(r) == width for r in rows) >= REGULAR_ROWS * len(rows)


def _label_text(cell: str) -> bool:
    cell = cell.strip()
    return not any(ch.isdigit() for ch in cell) and len(cell.split()) <= 6


def _without_captions(page: Page, pieces: list[Piece], shapes: dict) -> list[Piece]:
    """The pieces less those that hold only a caption set above a table read row by row:
    every row passage carries its caption as context, and a caption alone, dense in the words
    a question about the table uses, outranks both the rows and the prose about them."""
    spans = [at for t in shapes if (at := _caption_span(page, page.tables[t][0])) is not None]
    if not spans:
        return pieces
    return [p for p in pieces if p.span.table is not None or p.span.footnote
            or not any(a <= p.span.start and p.span.end <= b for a, b in spans)]


def trimmed_lines(text: str, start: int, end: int):
    pos = start
    while pos < end:
        nl = text.find("\n", pos, end)
        line_end = end if nl < 0 else nl
        yield from trimmed(text, pos, line_end)
        pos = line_end + 1


def _caption_before(page: Page, start: int) -> str | None:
    """The caption set right above a table ("Table 3. Number of deaths …", "Exhibit 9" and its
    title): the blocks above it back to one that opens like a caption, at most three."""
    blocks = list(_blocks(page.text, max(0, start - 600), start))[-3:]
    for n, (b_start, _) in enumerate(reversed(blocks)):
        heading = next((h for off, h in page.headings if off == b_start), None)
        if heading is not None:  # a title set as a heading right above the table names it
            return heading if n == 0 else None
        if any(a <= b_start < b for a, b, _ in page.tables):
            return None
        if FLOAT_START.match(page.text, b_start):
            return collapse(page.text[slice(*_caption_span(page, start))])
    return None


CAPTION_TAIL_WORDS = 12  # a block after a caption's first, this short or shorter, goes on with it ("Race", a subtitle)


def _caption_span(page: Page, start: int) -> tuple[int, int] | None:
    """Where the caption `_caption_before` reads stands in the page text: the block that opens
    like a caption and the short blocks after it, up to a block of prose the layout set between
    it and the table (the rest of a sentence from another column), which is no part of it. None
    for a caption set as a heading, or none."""
    blocks = list(_blocks(page.text, max(0, start - 600), start))[-3:]
    for n in range(len(blocks) - 1, -1, -1):
        b_start = blocks[n][0]
        if any(off == b_start for off, _ in page.headings) or any(a <= b_start < b for a, b, _ in page.tables):
            return None
        if FLOAT_START.match(page.text, b_start):
            end = blocks[n][1]
            for a, b in blocks[n + 1:]:
                if len(page.text[a:b].split()) > CAPTION_TAIL_WORDS:
                    break
                end = b
            return b_start, end
    return None


def column_names(head: list[list[str]], width: int) -> tuple[str, ...]:
    """One name per column from the header rows, upper levels joined to the ones below them
    ("Coronary heart disease Rate"). A level that lines up with the columns neither one to one
    nor as a repeated pattern ("No. Rate (95% CI)" under each of four races) is left out; when
    the lowest level does not line up, the columns stay unnamed."""
    if all(len(r) == width for r in head):  # Word and HTML tables: a cell per column in every row
        return tuple(_levels([r[c] for r in head]) for c in range(width))
    leaf = head[-1]
    if len(leaf) == width:
        names = list(leaf)
    elif len(leaf) == width - 1:  # no header over the row labels
        names = [""] + list(leaf)
    else:
        return ()
    data = width - 1
    for row in reversed(head[:-1]):
        k = len(row)
        if k == 1:  # "Age group" over "(yrs)": the row labels' name
            names[0] = _levels([row[0], names[0]])
        elif k == data:
            names = [names[0]] + [_levels([g, n]) for g, n in zip(row, names[1:])]
        elif k == width:
            names = [_levels([g, n]) for g, n in zip(row, names)]
        elif 1 < k < data and data % k == 0 and len({tuple(names[1 + i:1 + i + data // k])
                                                    for i in range(0, data, data // k)}) == 1:
            step = data // k
            names = [names[0]] + [_levels([row[i // step], n]) for i, n in enumerate(names[1:])]
        else:
            break
    return tuple(names)


def _levels(parts: list[str]) -> str:
    out: list[str] = []
    for p in parts:
        if p and (not out or out[-1] != p):
            out.append(p)
    return " ".join(out)


def _row_context(page: Page, group: list[Span], shape: TableShape, label: str | None
                 ) -> tuple[str | None, TableRow | None]:
    """The context a row passage is indexed with, and its table row: the caption, then each
    cell named by its column ("Kentucky — Permit: 264,140; Handgun: 12,155; …")."""
    rows = [u for u in group if not _label_row(page, u)]
    if group[0].header or not rows:
        return shape.caption, None
    cells = tuple(_cells(page, rows[0]))
    headers = shape.headers if len(shape.headers) == len(cells) else ()
    who = ", ".join(x for x in (label, cells[0]) if x)
    printed = None
    if headers:
        named = "; ".join(f"{h}: {c}" for h, c in zip(headers[1:], cells[1:]) if c and h)
        line = f"{who} — {named}" if named else who
    else:
        line, printed = who, shape.header_text  # columns unnamed: the header rows as printed
    context = "\n".join(x for x in (shape.caption, printed, line) if x)
    return context or None, TableRow(shape.caption, headers, cells, label)


def _anchors(page: Page) -> dict[int, str]:
    """Each footnote of the page that its body cites by marker (index into page.footnotes) ->
    the sentence that cites it ("… greater than a certain threshold¹³ would cause …" for "13
    More than 10 degrees …"): a footnote alone often makes no sense ("More than 10 degrees
    difference for more than 10 seconds"). A table's notes, set right after it, note its caption."""
    found: dict[int, str] = {}
    for note, (start, _) in enumerate(page.footnotes):
        table = next((a for a, b, _ in page.tables if b <= start and not page.text[b:start].strip()), None)
        if table is not None and (caption := _caption_before(page, table)):
            found[note] = _short(caption)
    if not page.footnotes or not page.footnote_refs:
        return found
    # the paragraphs, whole where a column or page region broke one ("… of any MCAS" + "command …")
    blocks = list(_blocks(page.text, 0, len(page.text)))
    for note, (start, end) in enumerate(page.footnotes):
        if note in found:
            continue
        mark = FOOTNOTE_MARK.match(page.text, start, end)
        if mark is None:
            continue
        for at, marker in page.footnote_refs:
            if marker != mark.group(1) or any(a <= at < b for a, b in page.footnotes):
                continue
            sentence = next((collapse(page.text[s:e]) for b_start, b_end in blocks if b_start <= at <= b_end
                             for s, e in sentences(page.text, b_start, b_end) if s < at <= e), None)
            if sentence is not None:
                found[note] = _short(sentence)
                break
    return found


def _short(text: str) -> str:
    words = text.split()
    return text if len(words) <= MAX_CONTEXT_WORDS else " ".join(words[:MAX_CONTEXT_WORDS]) + " …"


def _merge_short(pieces: list[Piece], max_words: int, max_chars: int) -> list[Piece]:
    """Within one region: a passage too short to answer anything joins the next one, or the
    one before it when it is the last."""
    out: list[Piece] = []
    carry: Piece | None = None
    for piece in pieces:
        if piece.span.table is not None and (piece.table is not None or piece.span.header):
            # a table row stands alone, and a table's header rows: nothing joins them
            if carry is not None:
                out.append(carry)
                carry = None
            out.append(piece)
            continue
        if carry is not None:
            merged = _join([carry.span, piece.span])
            if merged.words <= max_words and merged.end - merged.start <= max_chars and \
                    carry.span.note == piece.span.note:
                piece = Piece(merged, piece.heading, carry.context or piece.context)
            else:
                out.append(carry)
            carry = None
        if piece.span.words < SHORT_PASSAGE:
            carry = piece
        else:
            out.append(piece)
    if carry is not None:
        merged = _join([out[-1].span, carry.span]) \
            if out and out[-1].span.note == carry.span.note and out[-1].span.table is None else None
        if merged and merged.words <= max_words and merged.end - merged.start <= max_chars:
            out[-1] = Piece(merged, out[-1].heading, out[-1].context)
        else:
            out.append(carry)
    return out
