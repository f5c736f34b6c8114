"""Ruled PDF tables read cell by cell with pdfplumber's table finder.

Our layout (pdf_layout.py) finds tables, ruled or not, from how their text lines up, and cuts a
row into cells where the gap between two runs of text is wide; in a dense ruled table two
numbers can stand closer than that and come out glued ("1,1891,82649" for Vermont's 1,189 /
1,826 / 49 in the FBI's NICS table). Where a page has ruling lines, pdfplumber finds the grid
they draw; each cell's words are read inside its own box, so no number runs into the next.

The header is read from the words' positions too: a line of a header cell whose words fall
into several columns names those columns ("Handgun Long Gun *Other"); a line that sits over
them as one phrase ("Pre-Pawn") is an upper level, joined to each name below it ("Pre-Pawn
Handgun"). A ruled row that holds several printed rows (the NICS table rules every fifth
state) is cut into its lines when a column of figures has one figure on each line.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass

from .blocks import table_notes

NUMBER = re.compile(r"^[(*$€£<>≤≥+–-]*\d[\d,.]*%?\)?\*?$")
LINE_TOLERANCE = 2.0  # points: words whose tops differ by less are on one line
WORD_GAP = 1.5  # points: pdfplumber's x_tolerance; a thin space ("98 452") still parts two words
MIN_COLUMNS, MIN_BODY_ROWS = 3, 2


@dataclass
class Grid:
    """One table: its rows of cells (header rows first) and one name per column."""

    rows: list[list[str]]
    header_rows: int
    columns: list[str]
    notes: list[str]  # lines of the table's last, one-cell rows ("*Refers to frames …"), apart from the rows

    def text(self) -> str:
        """The table as the page text holds tables: one row a line, cells split by tabs."""
        return "\n".join("\t".join(row) for row in self.rows)


# A page whose tables are all long runs of rows holding figures alone (a tax table) is not read
# again: on the 12 government PDFs pdfplumber found no grid on any of the 14 such pages (the
# IRS tax tables), and reading them took 4.3 of the pass's 10 s.
FIGURE_ROWS = 20


def read_tables(data: bytes, pages: list) -> None:
    """For each `Page` (pages the layout found tables on), its ruled tables put in place of
    the layout's reading of them (`splice`), figures the layout cut apart joined, and the
    columns of a table whose header lines the layout could not line up named (`name_columns`)."""
    by_number = {p.number: p for p in pages if not all(_figures_only(p, t) for t in range(len(p.tables)))}
    for number, grids in ruled_tables(data, sorted(by_number)).items():
        splice(by_number[number], grids)
    for page in pages:
        join_cut_figures(page)
    unnamed = {n: ts for n, p in by_number.items() if (ts := _unnamed_tables(p))}
    if unnamed:
        name_columns(data, {n: (by_number[n], ts) for n, ts in unnamed.items()})


def notes_apart(page) -> int:
    """The notes at the foot of each of the page's tables moved out of its rows: from the first
    body line that is one cell opening like a note, when every line after it is one cell too,
    the lines are a note block of their own after the table (`Page.footnotes`: no note is read
    as a row, or as the label of the rows below it, or run into the text). Returns how many tables had notes taken out."""
    done = 0
    for t in reversed(range(len(page.tables))):
        start, end, header_end = page.tables[t]
        lines, pos = [], header_end
        for line in page.text[header_end:end].split("\n"):
            lines.append((pos, [c.strip() for c in line.split("\t") if c.strip()]))
            pos += len(line) + 1
        notes = table_notes([cells for _, cells in lines])
        if not notes:
            continue  # no notes, or nothing but notes: the table stays as read
        cut = lines[len(lines) - notes][0]  # just past the newline that ends the last row
        _replace(page, cut - 1, cut, "\n\n", keep_tables=True)
        page.tables[t] = (start, cut - 1, header_end)
        page.footnotes = sorted(page.footnotes + [(cut + 1, end + 1)])  # the table's notes, a note block
        done += 1
    return done


LABEL = re.compile(r"(?:table|exhibit)\s+[A-Z]?\d[\w.-]*", re.IGNORECASE)


def label_orphan(page) -> bool:
    """A table's label printed on a line of its own ("Table 1.") that the layout set apart from
    the title under it (inside a column of text: "… of the / Table 1. / 303.9 million …") goes
    back in front of the title ("Table 1. Prevalence of Disability …"), which heads the table,
    so the table's rows are cited as Table 1. Only when the page has one such label and one
    table under a title without one. Returns whether it moved a label."""
    blocks = [m for m in re.finditer(r"[^\n]+(?:\n[^\n]+)*", page.text)]
    orphans = [m for m in blocks if LABEL.fullmatch(m.group().strip().rstrip(".:"))
               and not any(a <= m.start() < b for a, b, _ in page.tables)]
    titles = {off: h for off, h in page.headings}
    untitled = []
    for start, _, _ in page.tables:
        above = [m for m in blocks if m.end() <= start]
        if above and above[-1].start() in titles and not LABEL.match(titles[above[-1].start()]):
            untitled.append(above[-1].start())
    labelled = [m for m in blocks if LABEL.match(m.group()) and m.start() in titles]
    if len(orphans) != 1 or len(untitled) != 1 or labelled:
        return False
    orphan, at = orphans[0], untitled[0]
    label = " ".join(orphan.group().split())
    label += "" if label.endswith((".", ":")) else "."
    # the label's own block goes (the text around it joins up), then the title grows by it
    cut_start, cut_end = orphan.start(), orphan.end()
    while cut_start > 0 and page.text[cut_start - 1] == "\n":
        cut_start -= 1
    while cut_end < len(page.text) and page.text[cut_end] == "\n":
        cut_end += 1
    gap = "" if cut_start == 0 or cut_end == len(page.text) else \
        "\n\n" if page.text[:cut_start].rstrip().endswith((".", "!", "?", ":")) else "\n"
    _replace(page, cut_start, cut_end, gap)
    if at > cut_start:
        at -= cut_end - cut_start - len(gap)
    title = next(h for off, h in page.headings if off == at)
    _replace(page, at, at, label + " ")
    page.headings = sorted([(o, h) for o, h in page.headings if o != at + len(label) + 1] + [(at, f"{label} {title}")])
    return True


def _figures_only(page, index: int) -> bool:
    """A table of FIGURE_ROWS or more rows that hold figures and no words (a tax table)."""
    start, end, header_end = page.tables[index]
    rows = page.text[header_end:end].split("\n")
    return sum(bool(r.strip()) and not re.search(r"[^\W\d_]", r) for r in rows) >= FIGURE_ROWS


GROUPED = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?")
CUT_FIGURE = re.compile(r"(?<![\w,.])(\d[\d,]*) (\d[\d,.]*)(?![\w,])")


def join_cut_figures(page) -> int:
    """In the page's tables, a figure the layout read in two pieces ("11,8 90") is joined
    ("11,890") where the joined form is a well-formed grouped number and a piece is not (so
    "98 452", printed with a space, stays as printed). Returns how many were joined."""
    joined = 0
    for t in range(len(page.tables)):
        start, end, _ = page.tables[t]
        for m in reversed(list(CUT_FIGURE.finditer(page.text, start, end))):
            a, b = m.group(1), m.group(2)
            whole = a + b
            if GROUPED.fullmatch(whole) and not (GROUPED.fullmatch(a) or a.isdigit() and len(a) <= 3) \
                    or GROUPED.fullmatch(whole) and not (GROUPED.fullmatch(b) or b.isdigit() and len(b) <= 3):
                _replace(page, m.start(), m.end(), whole, keep_tables=True)
                joined += 1
    return joined


def ruled_tables(data: bytes, page_numbers: list[int]) -> dict[int, list[Grid]]:
    """The ruled tables on the given pages (1-based), by page number. Pages pdfplumber cannot
    read give none: the layout's own reading stands."""
    found: dict[int, list[Grid]] = {}
    try:
        import pdfplumber

        pdf = pdfplumber.open(io.BytesIO(data))
    except Exception:  # noqa: BLE001 - a second reader; the layout already read the file
        return found
    with pdf:
        for number in page_numbers:
            try:
                page = pdf.pages[number - 1]
                grids = [g for t in page.find_tables() if (g := _grid(page, t)) is not None]
            except Exception:  # noqa: BLE001
                continue
            if grids:
                found[number] = grids
    return found


def _grid(page, table) -> Grid | None:
    rows = table.rows
    widest = max(rows, key=lambda r: sum(c is not None for c in r.cells))
    columns = [(c[0], c[2]) for c in widest.cells if c is not None]
    if len(columns) < MIN_COLUMNS or len(columns) != len(widest.cells):
        return None
    spans: list[list[tuple[int, int, list[list[str]]]]] = []  # per ruled row: (first, last column, lines) of each cell
    for row in rows:
        cells = []
        for bbox in row.cells:
            if bbox is None:
                continue
            first, last = _columns_under(columns, bbox)
            cells.append((first, last, _lines(page, bbox)))
        spans.append(cells)
    header_end = next((i for i, cells in enumerate(spans) if _has_figures(cells)), None)
    if header_end is None:  # a table of words: its first row (under any title row) is the header, as in Word
        titles = next((i for i, cells in enumerate(spans) if sum(bool(lines) for _, _, lines in cells) > 1), 0)
        header_end = titles + 1
    body: list[list[str]] = []
    for cells in spans[header_end:]:
        body += _printed_rows(cells, len(columns))
    notes = []
    while body and sum(bool(c) for c in body[-1]) <= 1:
        note = " ".join(c for c in body.pop() if c)
        if note:
            notes.insert(0, note)
    head_rows = [r for cells in spans[:header_end] for r in [_row_text(cells, len(columns))] if any(r)]
    if len(body) < MIN_BODY_ROWS:
        return None
    if any(re.fullmatch(r"[A-Za-z]", c) for row in head_rows + body for c in row):
        return None  # a letter cut off its word by a rule: the grid misreads the table
    names = _column_names(spans[:header_end], columns)
    return Grid(head_rows + body, len(head_rows), names, notes)


def _columns_under(columns: list[tuple[float, float]], bbox) -> tuple[int, int]:
    inside = [i for i, (x0, x1) in enumerate(columns) if x0 < bbox[2] - 0.5 and x1 > bbox[0] + 0.5]
    return (inside[0], inside[-1]) if inside else (0, 0)


def _lines(page, bbox) -> list[list[dict]]:
    """The words inside one cell's box, grouped into lines, top to bottom."""
    return _word_lines(page.crop(bbox, strict=False).extract_words(x_tolerance=WORD_GAP, y_tolerance=LINE_TOLERANCE))


def _text(line: list[dict]) -> str:
    return " ".join(w["text"] for w in line)


def _has_figures(cells) -> bool:
    """A body row: some cell past the first holds only figures."""
    return any(first > 0 and lines and all(NUMBER.match(_text(line)) for line in lines) for first, _, lines in cells)


def _printed_rows(cells, width: int) -> list[list[str]]:
    """The printed rows of one ruled row: its lines, when a column of figures has a figure on
    each line of the row's label column; else one row whose cells join their lines."""
    label = next((lines for first, _, lines in cells if first == 0), [])
    count = len(label)
    split = count > 1 and any(first > 0 and len(lines) == count and all(NUMBER.match(_text(l)) for l in lines)
                              for first, _, lines in cells)
    if not split:
        return [_row_text(cells, width)]
    out = []
    for k in range(count):
        top = label[k][0]["top"]
        row = [""] * width
        for first, _, lines in cells:
            row[first] = " ".join(_text(l) for l in lines if abs(l[0]["top"] - top) < LINE_TOLERANCE * 2)
        out.append(row)
    return out


def _row_text(cells, width: int) -> list[str]:
    row = [""] * width
    for first, _, lines in cells:
        row[first] = " ".join(_text(line) for line in lines)
    return row


def _column_names(header: list, columns: list[tuple[float, float]]) -> list[str]:
    """One name per column, the levels of a multi-level header joined top to bottom."""
    width = len(columns)
    levels: list[list[tuple[float, str]]] = [[] for _ in range(width)]  # per column: (top, text) parts
    for cells in header:
        if sum(bool(lines) for _, _, lines in cells) <= 1 and width > 2:
            continue  # a title row over the whole table is its caption, not a column's name
        for first, last, lines in cells:
            for line in lines:
                if first == last:
                    levels[first].append((line[0]["top"], _text(line)))
                    continue
                spread: dict[int, list[dict]] = {}
                for phrase in _phrases(line):  # each phrase goes to the column its middle stands over
                    mid = (phrase[0]["x0"] + phrase[-1]["x1"]) / 2
                    col = min(range(first, last + 1), key=lambda c: _distance(columns[c], mid))
                    spread.setdefault(col, []).extend(phrase)
                if len(spread) > 1:
                    for col, words in spread.items():
                        levels[col].append((line[0]["top"], _text(words)))
                else:  # one phrase over several columns: an upper level of each of them
                    for col in range(first, last + 1):
                        levels[col].append((line[0]["top"], _text(line)))
    return [" ".join(text for _, text in sorted(parts)) for parts in levels]


def _phrases(line: list[dict]) -> list[list[dict]]:
    """A line's words, grouped where they stand a word space apart ("Long Gun"); a wider gap
    starts the next column's phrase."""
    out = [[line[0]]]
    for w in line[1:]:
        prev = out[-1][-1]
        if w["x0"] - prev["x1"] > 0.35 * (w["bottom"] - w["top"]):
            out.append([w])
        else:
            out[-1].append(w)
    return out


def _distance(span: tuple[float, float], x: float) -> float:
    x0, x1 = span
    return 0.0 if x0 <= x <= x1 else min(abs(x - x0), abs(x - x1))


# ---- column names from where the header's words stand -------------------------------------------

def _unnamed_tables(page) -> list[int]:
    """The page's tables with header lines that the layout's reading cannot line up with the
    columns (a header of several levels whose words the layout read line by line, out of order)."""
    from ingest.split import column_names, trimmed_lines

    out = []
    for t, (start, end, header_end) in enumerate(page.tables):
        if header_end <= start or page.table_columns.get(start) or _figures_only(page, t):
            continue
        rows = [[" ".join(c.split()) for c in page.text[a:b].split("\t")] for a, b in trimmed_lines(page.text, start, end)]
        head, body = rows[:page.text[start:header_end].strip().count("\n") + 1], rows[page.text[start:header_end].strip().count("\n") + 1:]
        width = max((len(r) for r in body), default=0)
        while head and sum(bool(c) for c in head[0]) <= 1 and width > 2:
            head.pop(0)  # a title over the table (its caption), as the splitter reads it
        if width >= MIN_COLUMNS and head and not column_names(head, width):
            out.append(t)
    return out


def name_columns(data: bytes, tables: dict[int, tuple]) -> None:
    """Column names for the given tables ({page number: (Page, table indices)}), read from where
    the words of the header stand over the columns of the body (pdfplumber's words), into
    `Page.table_columns`: a header word inside one column names it ("Margin of" over "error (±)"),
    one over several columns ("2005" over Number, Margin of error, Percent, Margin of error) is an
    upper level of the columns it is centred over, joined to each name below it ("2005 Number")."""
    try:
        import pdfplumber

        pdf = pdfplumber.open(io.BytesIO(data))
    except Exception:  # noqa: BLE001 - a second reader; the layout's reading stands
        return
    with pdf:
        for number, (page, indices) in tables.items():
            try:
                plumbed = pdf.pages[number - 1]
                words = plumbed.extract_words(x_tolerance=WORD_GAP, y_tolerance=LINE_TOLERANCE)
                edges = [(e["x0"], e["x1"], e["top"], e["bottom"]) for e in plumbed.edges]
            except Exception:  # noqa: BLE001
                continue
            for t in indices:
                start, end, header_end = page.tables[t]
                names = _names_from_positions(words, edges, page.text[start:header_end], page.text[header_end:end])
                if names:
                    page.table_columns[start] = names


def _plain(word: str) -> bool:
    return not re.fullmatch(r"\.+", word)  # leader dots are no word


def _word_lines(words: list[dict]) -> list[list[dict]]:
    lines: list[list[dict]] = []
    for w in sorted(words, key=lambda w: (w["top"], w["x0"])):
        if lines and abs(lines[-1][0]["top"] - w["top"]) < LINE_TOLERANCE:
            lines[-1].append(w)
        else:
            lines.append([w])
    return [sorted(line, key=lambda w: w["x0"]) for line in lines]


def _names_from_positions(words: list[dict], edges: list[tuple], header: str, body: str) -> list[str] | None:
    from collections import Counter

    rows = [[" ".join(c.split()) for c in line.split("\t")] for line in body.split("\n") if line.strip()]
    width = max((len(r) for r in rows), default=0)
    lines = _word_lines([w for w in words if _plain(w["text"])])
    texts = [[w["text"] for w in line] for line in lines]
    # the body's columns: where the words of each full row stand
    ink: list[list[float]] = [[] for _ in range(width)]
    first_row = last_row = None
    for row in rows:
        if len(row) != width or not all(row[1:]):
            continue
        tokens = [w for c in row for w in c.split() if _plain(w)]
        at = next((i for i, t in enumerate(texts) if t == tokens), None)
        if at is None:
            continue
        first_row = at if first_row is None else min(first_row, at)
        last_row = at if last_row is None else max(last_row, at)
        k = 0
        for col, cell in enumerate(row):
            n = len([w for w in cell.split() if _plain(w)])
            ink[col] += [x for w in lines[at][k:k + n] for x in (w["x0"], w["x1"])]
            k += n
    if first_row is None or not all(ink):
        return None
    spans = [(min(xs), max(xs)) for xs in ink]
    if any(spans[c][1] > spans[c + 1][0] for c in range(width - 1)):
        return None
    # the header: the lines right above the body whose words the layout read as its header
    want = Counter(w for w in header.split() if _plain(w))
    head: list[list[dict]] = []
    for line in reversed(lines[:first_row]):
        inside = [w for w in line if w["x1"] > spans[0][0] - 2 and w["x0"] < spans[-1][1] + 2]
        if not inside or any(want[w["text"]] <= 0 for w in inside):
            break
        for w in inside:
            want[w["text"]] -= 1
        head.insert(0, inside)
    if not head:
        return None
    if len(_phrases(head[0])) == 1 and len(head) > 1:
        head = head[1:]  # a title over the table ("(Numbers in thousands)"): its caption's
    # where one column ends and the next begins: a rule between them (one drawn in the table), else
    # the middle of the gap
    top, bottom = head[0][0]["top"] - 3, max(w["bottom"] for w in lines[last_row]) + 3
    edges = [x for x0, x1, e_top, e_bottom in edges if e_top >= top and e_bottom <= bottom for x in (x0, x1)]
    bounds = [spans[0][0] - 2]
    for c in range(width - 1):
        rules = [x for x in edges if spans[c][1] - 0.5 <= x <= spans[c + 1][0] + 0.5]
        bounds.append(min(rules, key=lambda x: abs(x - (spans[c][1] + spans[c + 1][0]) / 2))
                      if rules else (spans[c][1] + spans[c + 1][0]) / 2)
    bounds.append(spans[-1][1] + 2)
    levels: list[list[tuple[float, str]]] = [[] for _ in range(width)]
    for line in head:
        upper = []
        for phrase in _phrases(line):
            x0, x1 = phrase[0]["x0"], phrase[-1]["x1"]
            inside = [c for c in range(width) if bounds[c] - 1 <= x0 and x1 <= bounds[c + 1] + 1]
            if inside:
                levels[inside[0]].append((phrase[0]["top"], _text(phrase)))
            else:
                upper.append(phrase)
        for phrase, (first, last) in zip(upper, _centred_runs(upper, bounds) or []):
            for c in range(first, last + 1):
                levels[c].append((phrase[0]["top"], _text(phrase)))
    names = [_joined([text for _, text in sorted(parts)]) for parts in levels]
    return names if sum(bool(n) for n in names) > width // 2 else None


def _joined(parts: list[str]) -> str:
    """A column's name from its lines, top to bottom; a word broken at a line's hyphen reads whole
    ("Non-" over "Negligent": "Non-Negligent")."""
    out, last = "", None
    for p in parts:
        if p != last:
            out += p if out.endswith("-") and p[:1].isalpha() else (" " + p if out else p)
        last = p
    return out


def _centred_runs(phrases: list[list[dict]], bounds: list[float]) -> list[tuple[int, int]] | None:
    """For phrases set over several columns, left to right, the run of columns each is centred
    over (within a quarter of a column): runs in order, apart, each holding its phrase, as wide
    as can be. None when there is no such choice."""
    width = len(bounds) - 1
    pitch = (bounds[-1] - bounds[0]) / width
    options = []
    for phrase in phrases:
        x0, x1 = phrase[0]["x0"], phrase[-1]["x1"]
        options.append([(a, b) for a in range(width) for b in range(a, width)
                        if bounds[a] - 1 <= x0 and x1 <= bounds[b + 1] + 1
                        and abs((bounds[a] + bounds[b + 1]) / 2 - (x0 + x1) / 2) <= pitch / 4])
    best: dict[int, tuple[int, list]] = {-1: (0, [])}  # last column used -> (columns covered, runs)
    for runs in options:
        nxt: dict[int, tuple[int, list]] = {}
        for last, (covered, chosen) in best.items():
            for a, b in runs:
                if a > last and (b not in nxt or nxt[b][0] < covered + b - a + 1):
                    nxt[b] = (covered + b - a + 1, chosen + [(a, b)])
        if not nxt:
            return None
        best = nxt
    return max(best.values())[1]


# ---- into the page text ------------------------------------------------------------------------

LABELS_FOUND = 0.8  # share of a grid's rows whose label the layout read too, for the grid to stand for its table
WORDS_COVERED = 0.9  # share of the replaced text's words that the grid holds (so nothing the layout read is lost)


def splice(page, grids: list[Grid]) -> int:
    """Put each grid in place of the layout's reading of the same table in `page` (a
    `Page`): its text, the table span, its column names; the spans after it move. A grid
    replaces text only when it holds nearly every word there and the layout found its rows'
    labels too; otherwise the layout's reading stands. Returns how many tables were replaced."""
    done = 0
    for grid in grids:
        found = _region(page, grid)
        if found is None:
            continue
        start, end = found
        outside = " ".join((page.text[:start] + " " + page.text[end:]).split())
        rows = list(grid.rows)
        header_rows = grid.header_rows
        while rows and header_rows and sum(bool(c) for c in rows[0]) <= 1 and " ".join(" ".join(rows[0]).split()) in outside:
            rows.pop(0)  # a title the page already holds (as a heading) is not read twice
            header_rows -= 1
        table = "\n".join("\t".join(row) for row in rows)
        header_chars = len("\n".join("\t".join(row) for row in rows[:header_rows]))
        notes = [n for n in grid.notes if " ".join(n.split()) not in outside]
        new = table + ("\n\n" + "\n\n".join(notes) if notes else "")
        _replace(page, start, end, new)
        page.tables.append((start, start + len(table), start + header_chars))
        page.tables.sort()
        page.table_columns[start] = list(grid.columns)
        done += 1
    return done


def _words(text: str) -> list[str]:
    return text.split()


def _region(page, grid: Grid) -> tuple[int, int] | None:
    """The span of the page text that reads the grid's table: the layout's tables whose words
    the grid holds, and the blocks between and around them that hold only the grid's words."""
    from collections import Counter

    have = Counter(w for row in grid.rows for c in row for w in _words(c))
    have.update(w for n in grid.notes for w in _words(n))
    body = grid.rows[grid.header_rows:]
    flat = " ".join(page.text.split())
    labels = [r[0] for r in body]
    if sum(bool(re.search(r"[^\W\d_]", lab)) and " ".join(lab.split()) in flat for lab in labels) < LABELS_FOUND * len(body):
        return None
    matched = [(a, b) for a, b, _ in page.tables if _share(page.text[a:b], have) >= 0.6]
    if not matched:
        return None
    start, end = min(a for a, _ in matched), max(b for _, b in matched)
    blocks = [(m.start(), m.end()) for m in re.finditer(r"\S(?:.*\S)?(?:\n(?:[ \t]*\S.*))*", page.text)]
    headings = {off for off, _ in page.headings}
    notes = [(a, b) for a, b in page.footnotes]

    def grid_block(a: int, b: int) -> bool:
        return a not in headings and not any(x <= a < y for x, y in notes) and _share(page.text[a:b], have) == 1.0

    before = [bl for bl in blocks if bl[1] <= start]
    while before and grid_block(*before[-1]):
        start = before.pop()[0]
    after = [bl for bl in blocks if bl[0] >= end]
    while after and grid_block(*after[0]):
        end = after.pop(0)[1]
    if any(start < off < end for off in headings) or any(start < x < end for x, _ in notes):
        return None
    if _share(page.text[start:end], have) < WORDS_COVERED:
        return None
    return start, end


def _share(text: str, have) -> float:
    """How much of the text's words (counted with repeats) the grid holds."""
    from collections import Counter

    words = Counter(_words(text))
    total = sum(words.values())
    return sum(min(n, have[w]) for w, n in words.items()) / total if total else 0.0


def _replace(page, start: int, end: int, new: str, keep_tables: bool = False) -> None:
    """page.text[start:end] = new; the spans that lie after it move, those inside it go (a
    table that holds the change keeps its place and grows or shrinks with it, `keep_tables`)."""
    delta = len(new) - (end - start)
    page.text = page.text[:start] + new + page.text[end:]

    def moved(offset: int) -> int:
        return offset + delta if offset >= end else offset

    page.headings = [(moved(o), h) for o, h in page.headings if not start <= o < end]
    if keep_tables:
        page.tables = [(a if a <= start else moved(a), moved(b), h if h <= start else moved(h))
                       for a, b, h in page.tables]
    else:
        page.tables = [(moved(a), moved(b), moved(h)) for a, b, h in page.tables if not (start <= a < end)]
    page.table_columns = {moved(a): c for a, c in page.table_columns.items() if not start <= a < end}
    page.footnotes = [(moved(a), moved(b)) for a, b in page.footnotes if not start <= a < end]
    page.footnote_refs = [(moved(o), m) for o, m in page.footnote_refs if not start <= o < end]
