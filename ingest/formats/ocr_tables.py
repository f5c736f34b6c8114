"""Ruled tables on scanned pages, read cell by cell.

Tesseract's page layout reads a ruled table badly: beside their rules, whole columns of figures
are not read at all (the FBI's NICS table: "Kentucky" came out with none of 264,140 / 12,155 /
14,847), and a table of several columns of prose comes out column by column (the FDA's Table 2),
so a row's cells never meet in one passage. Here the rules are found on the page image (long
horizontal and vertical strokes, OpenCV morphology); where they form a grid (three vertical
rules or more, crossing two horizontal ones or more) the grid is wiped of its rules and read as
one block, and each word goes to the cell its centre falls in, between the rules as they run
(each rule is fitted as a line, so a page still leaning a little is read row by row). This is
what pdf_tables does for born-digital ruled tables with pdfplumber's grid:

- a ruled row that holds several printed rows (the NICS table rules every fifth state) is cut
  into its lines when a column of figures has one figure on each line;
- a cell's lines are joined (a multi-line cell of prose is one cell);
- the rows above the first row with a figure are the header (one row when no row has figures),
  and a header cell that spans columns (no rule between them at that height) names each of them.
"""
from __future__ import annotations

import re
import statistics
from dataclasses import dataclass

from .pdf_tables import NUMBER

H_RULE = 1 / 30  # a horizontal stroke at least this share of the page width is a rule
V_RULE = 1 / 40  # a vertical one, this share of the page height
RULE_COVER = 0.4  # a rule parts rows (columns) when it runs across this share of the grid
MIN_GRID_WIDTH, MIN_GRID_HEIGHT = 0.15, 0.04  # shares of the page a grid spans at least
LINE_GAP = 0.6  # words whose centres differ by less than this share of a word's height are on one line
HEADER_ROWS_MAX = 3
HEADER_WORDS = 8  # a column's name in a table of prose is at most this long ("Alternate Assessment Based on …")
MAX_RULE_WIDTH = 12  # pixels: a rule is a thin stroke (1-4 px at 300 dpi); a chart's bars are wider


@dataclass
class Rule:
    """A rule as a line: position = at + slope * along (y of a horizontal rule at x; x of a
    vertical one at y), drawn from `start` to `end` along it."""

    at: float
    slope: float
    start: float
    end: float

    def position(self, along: float) -> float:
        return self.at + self.slope * along

    def covers(self, along: float) -> bool:
        return self.start - 4 <= along <= self.end + 4


@dataclass
class Grid:
    """A ruled table's box on the page image (pixels) and its rules, the edges included."""

    left: int
    top: int
    right: int
    bottom: int
    verticals: list[Rule]  # left to right
    horizontals: list[Rule]  # top to bottom


@dataclass
class TableWord:
    text: str
    left: int
    top: int
    width: int
    height: int

    @property
    def centre(self) -> tuple[float, float]:
        return self.left + self.width / 2, self.top + self.height / 2


def find_grids(pixels) -> tuple[list[Grid], object]:
    """The page's ruled tables, and the page image with the rules inside them wiped (paper)."""
    import cv2
    import numpy as np

    height, width = pixels.shape
    _, ink = cv2.threshold(pixels, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    horizontal = cv2.morphologyEx(ink, cv2.MORPH_OPEN,
                                  cv2.getStructuringElement(cv2.MORPH_RECT, (max(int(width * H_RULE), 2), 1)))
    vertical = cv2.morphologyEx(ink, cv2.MORPH_OPEN,
                                cv2.getStructuringElement(cv2.MORPH_RECT, (1, max(int(height * V_RULE), 2))))
    rules = horizontal | vertical
    count, labels, stats, _ = cv2.connectedComponentsWithStats(cv2.dilate(rules, np.ones((5, 5), np.uint8)))
    grids: list[Grid] = []
    for label in range(1, count):
        left, top, w, h, _ = (int(v) for v in stats[label])
        if w < MIN_GRID_WIDTH * width or h < MIN_GRID_HEIGHT * height:
            continue
        box = (slice(top, top + h), slice(left, left + w))
        member = labels[box] == label
        verticals = _rules(np.where(member, vertical[box], 0), vertical=True, left=left, top=top, span=h)
        horizontals = _rules(np.where(member, horizontal[box], 0), vertical=False, left=left, top=top, span=w)
        if len(verticals) >= 3 and len(horizontals) >= 2:
            grids.append(Grid(left, top, left + w, top + h, verticals, horizontals))
    wiped = pixels.copy()
    if grids:
        strokes = cv2.dilate(rules, np.ones((3, 3), np.uint8)) > 0
        for g in grids:
            box = (slice(g.top, g.bottom), slice(g.left, g.right))
            wiped[box][strokes[box]] = 255
    return grids, wiped


def _rules(mask, vertical: bool, left: int, top: int, span: int) -> list[Rule]:
    """The mask's strokes as lines in page coordinates, pieces of one rule (broken by noise or
    by a spanning cell) joined, those running across RULE_COVER of the grid kept, in order."""
    import cv2
    import numpy as np

    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    pieces: list[Rule] = []
    for label in range(1, count):
        x0, y0, w, h, _ = (int(v) for v in stats[label])
        ys, xs = np.nonzero(labels[y0:y0 + h, x0:x0 + w] == label)
        ys, xs = ys + y0, xs + x0
        along, across = (ys + top, xs + left) if vertical else (xs + left, ys + top)
        if along.max() - along.min() < 8 or len(along) / (along.max() - along.min() + 1) > MAX_RULE_WIDTH:
            continue  # a speck, or a solid shape (a chart's bar), no rule
        slope, at = np.polyfit(along.astype(float), across.astype(float), 1) if len(set(along)) > 1 else (0.0, across.mean())
        pieces.append(Rule(float(at), float(slope), float(along.min()), float(along.max())))
    middle = (top + span / 2) if vertical else (left + span / 2)
    pieces.sort(key=lambda piece: piece.position(middle))
    merged: list[list[Rule]] = []
    for piece in pieces:
        if merged and abs(piece.position(middle) - merged[-1][-1].position(middle)) <= 6:
            merged[-1].append(piece)
        else:
            merged.append([piece])
    out = []
    for group in merged:
        if sum(piece.end - piece.start for piece in group) < RULE_COVER * span:
            continue
        longest = max(group, key=lambda piece: piece.end - piece.start)
        out.append(Rule(longest.at, longest.slope, min(p.start for p in group), max(p.end for p in group)))
    return out


def inside(grid: Grid, word: TableWord) -> bool:
    """Whether a word stands inside the grid's outer rules where it is (on a leaning page the
    box around the grid also holds the ends of the lines above and below it)."""
    x, y = word.centre
    return (grid.horizontals[0].position(x) < y < grid.horizontals[-1].position(x)
            and grid.verticals[0].position(y) < x < grid.verticals[-1].position(y))


def _index(rules: list[Rule], along: float, across: float) -> int:
    """The cell (column or row) a point falls in: how many rules lie before it, less the edge."""
    return max(sum(rule.position(along) < across for rule in rules) - 1, 0)


def _cells(grid: Grid, words: list[TableWord]) -> dict[tuple[int, int], list[TableWord]]:
    """Words by the (ruled row, column) their centres fall in."""
    columns, ruled_rows = len(grid.verticals) - 1, len(grid.horizontals) - 1
    cells: dict[tuple[int, int], list[TableWord]] = {}
    for word in words:
        x, y = word.centre
        row = min(_index(grid.horizontals, x, y), ruled_rows - 1)
        column = min(_index(grid.verticals, y, x), columns - 1)
        cells.setdefault((row, column), []).append(word)
    return cells


@dataclass
class CellBox:
    """A cell (or cells joined where no rule parts them) as a rectangle inside its rules, pixels."""

    left: int
    top: int
    right: int
    bottom: int

    def holds(self, word: TableWord) -> bool:
        x, y = word.centre
        return self.left <= x <= self.right and self.top <= y <= self.bottom


def prose_cells(grid: Grid, words: list[TableWord]) -> list[CellBox]:
    """The cells to read again one by one: those of the rows that are not rows of figures. Read
    as one block, a grid whose cells' lines stand at different heights from column to column
    comes out with words of two lines run together ("Alternate Based on Assessment Modified",
    "Generel Asmecereerd", a header's "te Negligent ; Manslaughter"); a cell read alone is one
    column of lines. Rows of figures, read well as one block, and a header whose cells span
    columns line by line are left as read."""
    columns, ruled_rows = len(grid.verticals) - 1, len(grid.horizontals) - 1
    if columns < 2 or ruled_rows < 1 or not words:
        return []
    slope = statistics.median(rule.slope for rule in grid.horizontals)
    cells = _cells(grid, words)
    figures = [r for r in range(ruled_rows) if any(NUMBER.match(w.text) for c in range(columns)
                                                   for w in cells.get((r, c), []))]
    out = []
    for r in range(ruled_rows):
        row_cells = {c: cells.get((r, c), []) for c in range(columns)}
        if not any(row_cells.values()) or _printed_lines(row_cells, slope):
            continue
        if figures and r < figures[0] and not _line_layout(grid, row_cells, slope)[2]:
            continue  # a header whose cells span columns line by line ("Pre-Pawn" over three)
        first = _spans(grid, statistics.fmean(w.centre[1] for ws in row_cells.values() for w in ws))
        for c in sorted(set(first)):
            span = [k for k in range(columns) if first[k] == c]
            if not any(row_cells[k] for k in span):
                continue
            top_rule, bottom_rule = grid.horizontals[r], grid.horizontals[r + 1]
            left_rule, right_rule = grid.verticals[c], grid.verticals[span[-1] + 1]
            y0, y1 = top_rule.position(left_rule.at), bottom_rule.position(left_rule.at)
            left = max(left_rule.position(y0), left_rule.position(y1))
            right = min(right_rule.position(y0), right_rule.position(y1))
            top = max(top_rule.position(left), top_rule.position(right))
            bottom = min(bottom_rule.position(left), bottom_rule.position(right))
            if right - left > 8 and bottom - top > 8:
                out.append(CellBox(round(left) + 3, round(top) + 3, round(right) - 3, round(bottom) - 3))
    return out


def table_rows(grid: Grid, words: list[TableWord], vocabulary: frozenset[str] = frozenset()
               ) -> tuple[list[tuple[str, float]], list[list[str]], int]:
    """The grid's caption lines (a line across the whole grid above its header: "NICS Firearm
    Background Checks") with the height of their words, its rows of cells, header rows first,
    and how many rows are header."""
    columns, ruled_rows = len(grid.verticals) - 1, len(grid.horizontals) - 1
    if columns < 2 or ruled_rows < 1 or not words:
        return [], [], 0
    slope = statistics.median(rule.slope for rule in grid.horizontals)
    cells = _cells(grid, words)
    caption: list[tuple[str, float]] = []  # (line, height of its words)
    rows: list[list[str]] = []
    origin: list[int | None] = []  # the ruled row a row is, None for a printed line cut from one
    for r in range(ruled_rows):
        row_cells = {c: cells.get((r, c), []) for c in range(columns)}
        if not any(row_cells.values()):
            continue
        printed = _printed_lines(row_cells, slope)
        if printed:
            rows += printed
            origin += [None] * len(printed)
            continue
        mid = statistics.fmean(w.centre[1] for ws in row_cells.values() for w in ws)
        if not rows and len(set(_spans(grid, mid))) == 1:
            title = [w for ws in row_cells.values() for w in ws]
            caption.append((_cell_text(title, slope, vocabulary), statistics.median(w.height for w in title)))
            continue  # one phrase across the whole grid above its rows: the table's title
        rows.append(_spanned(grid, row_cells, mid, slope, False, vocabulary))
        origin.append(r)
    header = _header_rows(rows)
    head: list[tuple[list[str], float]] = []  # (cells, height of the line's words)
    for i in range(header):  # header rows line by line, a cell over several columns naming each
        if origin[i] is None:
            head.append((rows[i], 0.0))
            continue
        row_cells = {c: cells.get((origin[i], c), []) for c in range(columns)}
        lines, heights, one_layout = _line_layout(grid, row_cells, slope)
        if one_layout:  # the same cells on every line: one row
            head.append((_spanned(grid, row_cells, heights[0], slope, True, vocabulary),
                         statistics.median(w.height for line in lines for w in line)))
            continue
        for line in lines:
            ids = {id(w) for w in line}
            on_line = {c: [w for w in ws if id(w) in ids] for c, ws in row_cells.items()}
            head.append((_spanned(grid, on_line, statistics.fmean(w.centre[1] for w in line), slope, True, vocabulary),
                         statistics.median(w.height for w in line)))
    while head and len(set(head[0][0])) == 1:  # one phrase across every column: the table's title
        cells_, height = head.pop(0)
        caption.append((cells_[0], height))
    return caption, [cells_ for cells_, _ in head] + _commas_mended(rows[header:]), len(head)


def _spanned(grid: Grid, row_cells: dict[int, list[TableWord]], y: float, slope: float, fill: bool,
             vocabulary: frozenset[str]) -> list[str]:
    """A row's cell texts; columns with no rule between them at height `y` are one cell, its
    text in each of them (`fill`, for a header) or in the first."""
    columns = len(row_cells)
    first = _spans(grid, y)
    texts = {}
    for c in range(columns):
        texts.setdefault(first[c], []).extend(row_cells[c])
    joined = {c: _cell_text(ws, slope, vocabulary) for c, ws in texts.items()}
    return [joined[first[c]] if (fill or first[c] == c) else "" for c in range(columns)]


def _line_layout(grid: Grid, row_cells: dict[int, list[TableWord]], slope: float
                 ) -> tuple[list[list[TableWord]], list[float], bool]:
    """A ruled row's lines, their heights, and whether the rules part the same cells on every line
    (a header cell may span columns on one line and not on the next)."""
    lines = _lines([w for ws in row_cells.values() for w in ws], slope)
    heights = [statistics.fmean(w.centre[1] for w in line) for line in lines]
    return lines, heights, len({tuple(_spans(grid, y)) for y in heights}) == 1


def _spans(grid: Grid, y: float) -> list[int]:
    """For each column, the first column of the cell it is part of at height `y` (no rule parts them)."""
    first = list(range(len(grid.verticals) - 1))
    for c in range(1, len(first)):
        if not grid.verticals[c].covers(y):
            first[c] = first[c - 1]
    return first


def _lines(words: list[TableWord], slope: float) -> list[list[TableWord]]:
    """Words grouped into printed lines by their centre, the page's remaining lean taken off."""
    level = sorted(words, key=lambda w: w.centre[1] - slope * w.centre[0])
    lines: list[list[TableWord]] = []
    for word in level:
        y = word.centre[1] - slope * word.centre[0]
        if lines and (y - statistics.fmean(w.centre[1] - slope * w.centre[0] for w in lines[-1])
                      <= LINE_GAP * max(word.height, statistics.median(w.height for w in lines[-1]))):
            lines[-1].append(word)
        else:
            lines.append([word])
    return [sorted(line, key=lambda w: w.left) for line in lines]


def _cell_text(words: list[TableWord], slope: float, vocabulary: frozenset[str] = frozenset()) -> str:
    """A cell's lines joined. A word broken at a cell's edge is joined whole only when the page
    prints it whole elsewhere: a narrow cell breaks compounds at their hyphen ("intra-" /
    "interviewer")."""
    text = ""
    for line in _lines(words, slope):
        line = _without_bullet(" ".join(w.text for w in line))
        broken = _BROKEN.search(text)
        if broken and line[:1].isalpha():  # "Non-" / "Negligent": "Non-Negligent"
            whole = broken.group(1) + line.split()[0]
            text = text[:-1] + line if line[:1].islower() and whole.casefold() in vocabulary else text + line
        elif line:
            text = f"{text} {line}" if text else line
    return text


_BROKEN = re.compile(r"([^\W\d_]+)-$")


# A list bullet as Tesseract reads it at a line's start ("e", "¢", "«", "=", "@"), with the rule-like
# debris it reads between the bullet and the item ("e —_Item-total correlations"), before a word.
_BULLET = re.compile(r"^(?:(?:[•·¢«°©=@]|e¢?)(?:\s+|_+))+(?:[—_–-]+\s*)?(?=[^\W\d_])")


def _without_bullet(line: str) -> str:
    return _BULLET.sub("", line)


def _printed_lines(row_cells: dict[int, list[TableWord]], slope: float) -> list[list[str]] | None:
    """A ruled row holding several printed rows, cut into them: when some column holds one
    figure on each of the row's lines (else None)."""
    lines = _lines([w for ws in row_cells.values() for w in ws], slope)
    if len(lines) < 2:
        return None
    line_of = {id(w): i for i, line in enumerate(lines) for w in line}
    for words in row_cells.values():
        per_line = [[w for w in words if line_of[id(w)] == i] for i in range(len(lines))]
        if all(len(ws) == 1 and NUMBER.match(ws[0].text) for ws in per_line):
            break
    else:
        return None
    return [[" ".join(w.text for w in sorted((w for w in words if line_of[id(w)] == i), key=lambda w: w.left))
             for words in row_cells.values()] for i in range(len(lines))]


_THOUSANDS = re.compile(r"\d{1,3}(?:,\d{3})+")
_THOUSANDS_AS_POINTS = re.compile(r"\d{1,3}(?:\.\d{3})+")
COMMA_COLUMN = 0.5  # share of a column's figures written with thousands commas that makes it a column of counts


def _commas_mended(rows: list[list[str]]) -> list[list[str]]:
    """Thousands commas Tesseract read as points put back ("24.412" in a column of "23,022",
    "3,062", ...): in a column where most figures over 999 are written with commas, a figure
    whose points part groups of three digits is one of them. A column of decimals is left alone."""
    width = max((len(row) for row in rows), default=0)
    for c in range(width):
        cells = [row[c] for row in rows if c < len(row)]
        commas = sum(bool(_THOUSANDS.fullmatch(cell)) for cell in cells)
        points = sum(bool(_THOUSANDS_AS_POINTS.fullmatch(cell)) for cell in cells)
        if commas and commas >= COMMA_COLUMN * (commas + points):
            for row in rows:
                if c < len(row) and _THOUSANDS_AS_POINTS.fullmatch(row[c]):
                    row[c] = row[c].replace(".", ",")
    return rows


def _has_figure(cells: list[str]) -> bool:
    return any(NUMBER.match(cell) for cell in cells if cell)


def _header_rows(rows: list[list[str]]) -> int:
    """The rows above the first row with a figure; in a table of prose, its first row when its
    cells are names (short, none a sentence)."""
    with_figures = [i for i, row in enumerate(rows) if _has_figure(row)]
    if with_figures:
        first = with_figures[0]
        return first if 0 < first <= HEADER_ROWS_MAX else 0
    names = all(len(cell.split()) <= HEADER_WORDS and not cell.endswith(".") for cell in rows[0]) if rows else False
    return 1 if len(rows) > 1 and names else 0
