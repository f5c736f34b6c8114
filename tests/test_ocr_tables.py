"""Ruled tables on scanned pages read cell by cell (ingest/formats/ocr_tables.py): scans of
real government tables (rendered here from ../shared/gov-pdfs at office-scanner quality),
and grids drawn here to pin down the rules: rows between the rules as they run, a ruled row
of several printed rows cut into them, header cells that span columns, charts that are no
tables."""
from __future__ import annotations

import pytest
from conftest import GOV_PDFS as GOV
from scans import images_to_pdf, scan

from ingest.formats import extract, ocr
from ingest.formats.ocr_tables import TableWord, find_grids, table_rows

needs_tesseract = pytest.mark.skipif(ocr.unavailable() is not None, reason="needs Tesseract (scripts/setup.sh)")


def _rows(page) -> list[list[str]]:
    start, end, _ = page.tables[0]
    return [line.split("\t") for line in page.text[start:end].split("\n")]


@needs_tesseract
def test_the_nics_table_scanned_reads_row_by_row_with_every_figure():
    """The FBI's NICS table, scanned at 200 dpi and turned by up to 1°: Tesseract's own layout
    read none of Kentucky's figures beside their rules; each state is now one row of the
    table, its figures in the columns under their names, the title above it no row."""
    data = (GOV / "fbi_nics_background_checks_2015-11.pdf").read_bytes()
    page = extract("nics.pdf", images_to_pdf(scan(data, 200, seed=7, tilt=1.0, pages=[0]), 200)).pages[0]
    assert page.ocr and len(page.tables) == 1
    rows = _rows(page)
    kentucky = next(row for row in rows if row[0] == "Kentucky")
    assert kentucky[1:4] == ["264,140", "12,155", "14,847"]
    assert kentucky[-1] == "295,891"  # Totals, the last column
    header = rows[:page.text[page.tables[0][0]:page.tables[0][2]].count("\n") + 1]
    assert any(row[:2] == ["State / Territory", "Permit"] for row in header)
    states = [row for row in rows if len(row) == len(kentucky) and row[1][:1].isdigit()]
    assert len(states) >= 50
    assert "NICS Firearm Background Checks" in page.text[:page.tables[0][0]]  # the title, before the table
    assert page.headings[0][1].startswith("NICS Firearm Background Checks")  # set large: the page's title


@needs_tesseract
def test_a_ruled_table_of_prose_cells_keeps_each_row_together():
    """The FDA's Table 2 (four columns of prose and bullet lists), scanned: Tesseract's layout
    read it column by column; a row's cells now stand on one line, each cell's lines joined
    (a cell of prose read alone: read with the others, its lines ran into theirs), the bullets
    read as letters ("e", "¢") left out."""
    data = (GOV / "fda_pro_guidance_excerpt.pdf").read_bytes()
    # the fourth page as a scan of the whole document makes it (bench/scan_ocr.py's noise)
    page = extract("fda.pdf", images_to_pdf(scan(data, 200, seed=7, tilt=1.0)[3:], 200)).pages[0]
    assert page.label == "11"  # the lone page number under the table is still read
    rows = _rows(page)
    assert rows[0] == ["Measurement Property", "Type", "What Is Assessed?", "FDA Review Considerations"]
    consistency = next(row for row in rows if row[1] == "Internal consistency")
    assert consistency[3].startswith("Cronbach’s alpha for summary scores")
    assert "Item-total correlations" in consistency[3]
    assert not any(cell.startswith(("e ", "e_", "¢ ", "« ", "= ")) for row in rows for cell in row)
    content = next(row for row in rows if row[1] == "Content validity")  # its cells read one by one
    assert "relative to its intended measurement concept, population, and use." in content[2]
    assert "Table 2. Measurement Properties" in page.text[:page.tables[0][0]]


def _drawn(rules: list[tuple[int, int, int, int]], size=(2000, 1400), bars: list = ()):
    import numpy as np
    from PIL import Image, ImageDraw

    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    for box in rules:
        draw.line(box, fill=0, width=3)
    for box in bars:
        draw.rectangle(box, fill=40)
    return np.asarray(image, dtype=np.uint8)


def test_a_grid_is_found_between_its_rules_and_wiped_of_them():
    xs, ys = [100, 500, 900, 1300], [200, 300, 400, 500]
    rules = [(x, 200, x, 500) for x in xs] + [(100, y, 1300, y) for y in ys]
    grids, wiped = find_grids(_drawn(rules))
    assert len(grids) == 1
    grid = grids[0]
    assert [round(r.position(350)) for r in grid.verticals] == pytest.approx(xs, abs=2)
    assert [round(r.position(700)) for r in grid.horizontals] == pytest.approx(ys, abs=2)
    assert wiped[150:550, 50:1350].min() == 255  # no rule left for Tesseract to read as "|"


def test_a_chart_with_gridlines_and_bars_is_no_table():
    """Bars are solid shapes, not rules: a bar chart behind horizontal gridlines is left to the
    page's layout."""
    rules = [(100, y, 1300, y) for y in (200, 400, 600, 800)] + [(100, 200, 100, 800)]
    bars = [(200 + 150 * i, 800 - 100 * (i + 1), 280 + 150 * i, 800) for i in range(6)]
    grids, _ = find_grids(_drawn(rules, bars=bars))
    assert grids == []


def _word(text: str, x: int, y: int, height: int = 24) -> TableWord:
    return TableWord(text, x, y - height // 2, 12 * len(text), height)


def test_rows_follow_the_rules_on_a_leaning_page_and_printed_rows_are_cut_apart():
    """A page still leaning by 0.3° (3 px over the table's 600 px): each word goes to the row
    its rules bound where it stands; a ruled row holding three printed rows, a figure on each
    line, becomes three rows; the header above the first figures names the columns."""
    lean = 0.005
    xs, ys = [100, 400, 600, 800], [100, 160, 400]
    rules = [(x, 100 + lean * x, x, 400 + lean * x) for x in xs]
    rules += [(100, y + lean * 100, 800, y + lean * 800) for y in ys]
    grid = find_grids(_drawn([tuple(round(v) for v in r) for r in rules], size=(1000, 600)))[0][0]
    words = [_word("State", 120, 130), _word("Permit", 420, 132), _word("Other", 620, 133)]
    for i, (state, a, b) in enumerate([("Iowa", "8,785", "27"), ("Kansas", "894", "311"), ("Kentucky", "264,140", "254")]):
        y = 200 + 70 * i
        words += [_word(state, 120, y + round(lean * 120)), _word(a, 420, y + round(lean * 420)),
                  _word(b, 720, y + round(lean * 720))]
    caption, rows, header = table_rows(grid, words)
    assert caption == [] and header == 1
    assert rows == [["State", "Permit", "Other"], ["Iowa", "8,785", "27"], ["Kansas", "894", "311"],
                    ["Kentucky", "264,140", "254"]]


def test_a_header_cell_spanning_columns_names_each_and_a_title_across_all_is_the_caption():
    xs = [100, 400, 600, 800]
    rules = [(100, 100, 100, 400), (800, 100, 800, 400), (400, 160, 400, 400), (600, 230, 600, 400)]
    rules += [(100, y, 800, y) for y in (100, 160, 300, 400)]
    grid = find_grids(_drawn(rules, size=(1000, 600)))[0][0]
    assert len(grid.verticals) == len(xs)
    words = [_word("NICS", 300, 130), _word("Checks", 420, 130),  # across the whole table
             _word("State", 120, 200), _word("Pre-Pawn", 450, 195),  # over the last two columns
             _word("Handgun", 420, 260), _word("Other", 620, 260),
             _word("Iowa", 120, 350), _word("12", 420, 350), _word("3", 620, 350)]
    caption, rows, header = table_rows(grid, words)
    assert [line for line, _ in caption] == ["NICS Checks"]
    assert rows[:header] == [["State", "Pre-Pawn", "Pre-Pawn"], ["", "Handgun", "Other"]]
    assert rows[header:] == [["Iowa", "12", "3"]]


def test_a_multi_line_cell_is_one_cell_and_a_compound_broken_at_its_edge_keeps_its_hyphen():
    rules = [(x, 100, x, 400) for x in (100, 400, 800)] + [(100, y, 800, y) for y in (100, 160, 400)]
    grid = find_grids(_drawn(rules, size=(1000, 600)))[0][0]
    words = [_word("Type", 120, 130), _word("Assessed", 420, 130),
             _word("Test-retest", 120, 200), _word("or", 260, 200), _word("intra-", 300, 200),
             _word("interviewer", 120, 240), _word("reliability", 260, 240),
             _word("e", 420, 200), _word("Stability", 450, 200), _word("of", 570, 200),
             _word("scores", 420, 240), _word("compre-", 520, 240), _word("hensive", 420, 280)]
    _, rows, header = table_rows(grid, words, vocabulary=frozenset({"comprehensive"}))
    assert header == 1
    assert rows[1] == ["Test-retest or intra-interviewer reliability", "Stability of scores comprehensive"]


@needs_tesseract
def test_a_scanned_table_stays_whole_when_the_running_footer_is_taken_off_its_page():
    """Three scanned pages of the ED report ("Chapter II 24/25/26" at their feet), Exhibit 9 a
    ruled table on the second: the footer goes, the table's rows still start where the page
    says they do, and the pages split into passages, the Exhibit's rows among them."""
    from ingest.split import split_pages

    data = (GOV / "ed_nclb_implementation_report_excerpt.pdf").read_bytes()
    pages = extract("ed.pdf", images_to_pdf(scan(data, 200, seed=7, tilt=1.0, pages=[0, 1, 2]), 200)).pages
    page = pages[1]
    assert "Chapter II" not in page.text
    start, end, header_end = page.tables[0]
    assert page.text[start:].startswith("\tGeneral Assessment\tAlternate Assessment Based on Grade-Level")
    assert page.text[end - 1] != "\n" and page.text[header_end] == "\n"
    rows = [p for p in split_pages(pages) if p.table is not None]
    achievement = next(p for p in rows if p.table.cells[0] == "Achievement standards")
    assert achievement.table.cells[1:] == ("Grade level", "Grade level", "Modified level", "Alternate level")


def test_thousands_commas_read_as_points_are_put_back_in_a_column_of_counts_only():
    """"24.412" among "23,022" and "3,062" is 24,412 (NICS, Illinois); in a column of rates
    ("12.345" among "1.5", "20.25") a point is a point."""
    from ingest.formats.ocr_tables import _commas_mended

    rows = [["Alabama", "23,022", "12.345"], ["Illinois", "24.412", "1.5"], ["Alaska", "3,062", "20.25"],
            ["Guam", "100", "0.5"]]
    assert _commas_mended(rows) == [["Alabama", "23,022", "12.345"], ["Illinois", "24,412", "1.5"],
                                    ["Alaska", "3,062", "20.25"], ["Guam", "100", "0.5"]]


@needs_tesseract
def test_a_narrow_table_beside_the_text_follows_the_text_it_stands_beside():
    """The campus report's Table 1 stands beside a column of text: the sentence running down
    beside it ("they enrolled 55 percent of all college students") is not cut by the table's
    rows, which follow it."""
    data = (GOV / "campus_attacks_2010_report_excerpt.pdf").read_bytes()
    page = extract("campus.pdf", images_to_pdf(scan(data, 200, seed=7, tilt=1.0)[1:2], 200)).pages[0]
    start, end, _ = page.tables[0]
    text = " ".join(page.text.split())
    assert "enrolled 55 percent of all college students" in text
    assert page.text.index("all college students") < start
    assert [row.split("\t")[0] for row in page.text[start:end].split("\n")][-1] == "Total"


@needs_tesseract
def test_a_header_of_one_cell_per_column_is_read_cell_by_cell():
    """The campus report's Table 2: each header cell is two to four lines, at other heights from
    column to column; read with the whole grid they ran together ("te Negligent ;
    Manslaughter"), read alone each names its column, a compound broken at its edge whole."""
    data = (GOV / "campus_attacks_2010_report_excerpt.pdf").read_bytes()
    page = extract("campus.pdf", images_to_pdf(scan(data, 200, seed=7, tilt=1.0)[2:3], 200)).pages[0]
    rows = _rows(page)
    assert rows[0] == ["", "Murder / Non-Negligent Manslaughter", "Negligent Manslaughter", "Forcible Sex Offense",
                       "Non-Forcible Sex Offense", "Robbery", "Aggravated Assault", "Burglary", "Motor Vehicle Theft",
                       "Arson"]
    assert rows[-1] == ["Total", "174", "46", "13,842", "222", "19,900", "21,675", "137,785", "37,910", "4,045"]
