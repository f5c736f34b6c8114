"""Tables answer as tables: cells read apart (pdfplumber on ruled PDF tables), one passage per
row indexed with each cell named by its column, numbers kept whole by the tokenizer, and the
asked cell picked as the highlight. Real files: the FBI's NICS table from ../shared/gov-pdfs,
a Word table written by python-docx."""
from __future__ import annotations

import re
import shutil
from functools import lru_cache

import pytest

from conftest import GOV_PDFS
from ingest.formats.pdf import extract_pdf
from ingest.split import split_pages
from kb.models import Passage, TableRow
from kb.tables import names_row, pick_cell
from kb.tokens import tokenize

NICS = GOV_PDFS / "fbi_nics_background_checks_2015-11.pdf"


@lru_cache(maxsize=1)
def nics_passages() -> tuple[Passage, ...]:
    return tuple(split_pages(extract_pdf(NICS.read_bytes()).pages))


def row(label: str) -> Passage:
    return next(p for p in nics_passages() if p.table and p.table.cells[0] == label)


def test_grouped_numbers_are_one_token_with_or_without_their_commas():
    assert tokenize("a $15,300 grant") == tokenize("a 15300 grant") == ["15300", "grant"]
    assert "15" not in tokenize("$15,300") and "300" not in tokenize("$15,300")
    assert "264140" in tokenize("Kentucky 264,140") and "2236457" in tokenize("2,236,457")
    assert tokenize("items 1,2,3") == ["item", "1", "2", "3"]  # not a grouped number


def test_ruled_pdf_table_cells_are_read_apart_not_glued():
    vermont, new_jersey, oklahoma = row("Vermont"), row("New Jersey"), row("Oklahoma")
    assert vermont.table.cells[1:5] == ("0", "1,189", "1,826", "49")
    assert new_jersey.table.cells[2:5] == ("3,462", "4,704", "147")
    assert oklahoma.table.cells[2:5] == ("15,005", "14,753", "778")
    assert vermont.text.startswith("Vermont 0 1,189 1,826 49 70")  # the quote is the row as printed
    for p in nics_passages():  # every figure in every row is one the table prints: no glued "1,1891,82649"
        for cell in (p.table.cells[1:] if p.table else ()):
            assert cell == "" or re.fullmatch(r"\d{1,3}(?:[, ]\d{3})*", cell), (p.table.cells[0], cell)


def test_multi_level_headers_are_joined_and_the_title_is_the_caption():
    kentucky = row("Kentucky")
    headers = kentucky.table.headers
    assert len(headers) == len(kentucky.table.cells) == 25
    assert headers[:3] == ("State / Territory", "Permit", "Handgun")
    assert "Pre-Pawn Long Gun" in headers and "Return to Seller - Private Sale *Other" in headers
    assert headers[-1] == "Totals"
    assert kentucky.table.caption == "NICS Firearm Background Checks November - 2015"
    assert kentucky.context.splitlines()[0] == kentucky.table.caption
    assert kentucky.context.splitlines()[1].startswith("Kentucky — Permit: 264,140; Handgun: 12,155; Long Gun: 14,847")
    assert kentucky.context.endswith("Totals: 295,891")
    assert "NICS Firearm" not in kentucky.text  # the caption is context, never the quote


def test_notes_and_disclaimers_stay_out_of_the_rows():
    rows = [p for p in nics_passages() if p.table]
    assert len(rows) == 56  # 55 states and territories, and the totals
    assert not any("DISCLAIMERS" in p.text or "Refers to frames" in p.text for p in rows)
    assert any("DISCLAIMERS" in p.text for p in nics_passages() if not p.table)


@pytest.mark.parametrize("question, label, cell, column", [
    ("How many long gun checks were run in Kansas?", "Kansas", "8,702", "Long Gun"),
    ("Number of pre-pawn handgun checks in Mississippi", "Mississippi", "28", "Pre-Pawn Handgun"),
    ("What was the total for Maine?", "Maine", "9,297", "Totals"),
    ("How many private sale long gun checks in Texas?", "Texas", "36", "Private Sale Long Gun"),
])
def test_the_asked_cell_is_picked_by_the_questions_words(question, label, cell, column):
    picked = pick_cell(question, row(label))
    assert (picked.text, picked.column) == (cell, column)
    p = row(label)
    assert p.text[picked.span[0]:picked.span[1]] == cell


def test_a_year_or_a_rate_in_the_question_picks_its_column():
    headers = ("Group", "2005 Number", "2005 Percent", "2010 Number", "2010 Percent", "2010 (95% CI)")
    cells = ("Female", "19,000", "18.3", "20,100", "19.8", "(19.0–20.6)")
    p = Passage(None, None, 0, 1, None, 0, 0, " ".join(cells), table=TableRow(None, headers, cells))
    assert pick_cell("What percent of women had a disability in 2010?", p).text == "19.8"
    assert pick_cell("How many women had a disability in 2005?", p).text == "19,000"
    assert pick_cell("What was the confidence interval for women in 2010?", p).text == "(19.0–20.6)"


def test_a_word_table_makes_row_passages_named_by_its_header(tmp_path):
    docx = pytest.importorskip("docx")
    from ingest.formats.docx import extract_docx

    document = docx.Document()
    document.add_paragraph("Table 2. Home visiting slots by county, 2023")
    table = document.add_table(rows=3, cols=3)
    for r, values in enumerate([("County", "Funded slots", "Families waiting"),
                                ("Adams", "1,250", "310"), ("Brown", "840", "95")]):
        for c, value in enumerate(values):
            table.cell(r, c).text = value
    path = tmp_path / "slots.docx"
    document.save(path)
    passages = split_pages(extract_docx(path.read_bytes()).pages)
    adams = next(p for p in passages if p.table and p.table.cells[0] == "Adams")
    assert adams.text == "Adams 1,250 310"
    assert adams.table.caption == "Table 2. Home visiting slots by county, 2023"
    assert adams.context.splitlines()[-1] == "Adams — Funded slots: 1,250; Families waiting: 310"
    assert pick_cell("How many families were waiting in Adams county?", adams).text == "310"


def test_ask_finds_the_row_and_highlights_the_cell_and_json_carries_the_table(tmp_path, run_ingest, searcher):
    shutil.copy(NICS, tmp_path / NICS.name)
    run_ingest(tmp_path)
    answer = searcher.ask("How many handgun checks did Oregon run in November 2015?")
    top = answer.hits[0]
    assert top.passage.table is not None and top.passage.table.cells[0] == "Oregon"
    (s, e), = top.highlights
    assert top.passage.text[s:e] == "13,586"
    shown = top.to_dict()["table"]
    assert shown["headers"][2] == "Handgun" and shown["cells"][2] == "13,586"
    assert shown["caption"] == "NICS Firearm Background Checks November - 2015"
    # the best answer is that cell as printed, its row and column named outside the quotation marks,
    # and --json says which table
    assert answer.best.hit is top and answer.best.text == "13,586" and answer.best.label == "Oregon, Handgun"
    best = answer.to_dict()["best_answer"]
    assert best["table"]["column"] == "Handgun" and best["table"]["cells"][0] == "Oregon"
    assert best["quote_citation"].startswith("“13,586” (Oregon, Handgun; ")
    assert best["quote_citation"] == top.quote_citation  # the card's own quote says the same


def test_a_figure_the_layout_cut_in_two_is_joined_but_one_printed_with_a_space_stays():
    from ingest.formats.pdf_tables import join_cut_figures
    from ingest.types import Page

    table = "Year\tBurglary\tTheft\n2005\t37,800\t11,8 90\t1,21 9\n2006\t98 452\t41 181"
    text = table + "\n\nNotes follow the table."
    page = Page(3, text, headings=[(len(table) + 2, "Notes")], tables=[(0, len(table), table.index("\n"))])
    assert join_cut_figures(page) == 2
    assert page.text.splitlines()[1] == "2005\t37,800\t11,890\t1,219"
    assert page.text.splitlines()[2] == "2006\t98 452\t41 181"  # printed so: two figures, not cut ones
    assert page.tables == [(0, len(table) - 2, table.index("\n"))]
    assert page.headings == [(len(table), "Notes")] and page.text[len(table):].startswith("Notes")


def test_a_cells_quote_names_its_row_column_and_table(tmp_path):
    from kb.citations import quote_citation
    from kb.models import Document, Hit
    from kb.tables import pick_cell as pick

    row = TableRow("Table 3. Checks by state", ("State", "Permit", "Handgun"), ("Kentucky", "264,140", "12,155"))
    p = Passage(1, 1, 0, 4, None, 0, 23, "Kentucky 264,140 12,155", page_label="12", table=row)
    doc = Document(1, "/x.pdf", "x.pdf", "0" * 64, 1, 1, "Background Checks", "FBI", 2015, None, 5)
    cell = pick("How many permit checks in Kentucky?", p)
    hit = Hit(p, doc, 1.0, "", highlights=[cell.span])
    assert quote_citation(hit) == "“264,140” (Kentucky, Permit; FBI, “Background Checks” (2015), Table 3, p. 12)."


def test_the_app_shows_a_table_answer_as_a_header_row_over_the_row_with_the_asked_cell_marked():
    from kb.app_support import card_html, escape_html
    from kb.models import Document, Hit

    row = TableRow("Table 3. Checks by state", ("State", "Permit", "Handgun"), ("Kentucky", "264,140", "12,155"))
    p = Passage(1, 1, 0, 4, None, 0, 23, "Kentucky 264,140 12,155", table=row)
    doc = Document(1, "/x.pdf", "x.pdf", "0" * 64, 1, 1, "Background <Checks>", "FBI", 2015, None, 5)
    hit = Hit(p, doc, 1.0, "", highlights=[pick_cell("How many handgun checks in Kentucky?", p).span])
    html = card_html(hit, 1)
    assert "<thead><tr><th>State</th><th>Permit</th><th>Handgun</th></tr></thead>" in html
    assert f'<td>{escape_html("264,140")}</td><td class="kb-cell-asked"><mark>{escape_html("12,155")}</mark></td>' in html
    assert escape_html("Table 3. Checks by state") in html and "Background &lt;Checks&gt;" in html


@pytest.mark.parametrize("question, cells, group, named", [
    ("How many handgun checks did Oklahoma run in November 2015?", ("Oklahoma", "0", "15,005"), None, True),
    ("What was the death rate for Black women aged 55–64?", ("55–64", "116", "85.5"), "Women", True),
    ("What was the national age-adjusted death rate in 2006?", ("Total", "425,425", "135.0"), None, True),
    ("What was the national age-adjusted death rate in 2006?", ("New York", "39,385", "181.2"), None, False),
    ("Which state had the lowest death rate?", ("New Hampshire", "1,629", "116.3"), None, False),
])
def test_a_row_counts_as_named_when_the_question_names_its_label_or_asks_for_its_total(question, cells, group, named):
    row = Passage(None, None, 0, 1, None, 0, 10, " ".join(cells), table=TableRow("Table 1", (), cells, group))
    assert names_row(question, row) is named


def test_rows_the_question_does_not_name_rank_below_the_prose_about_their_table():
    from kb.search import UNNAMED_ROW_WEIGHT, _weigh_rows

    prose = Passage(1, None, 0, 1, None, 0, 10, "The national rate was 135.0 per 100,000.")
    row = Passage(2, None, 1, 1, None, 0, 10, "New York 39,385 181.2",
                  table=TableRow("Table 6", (), ("New York", "39,385", "181.2"), None))
    ranked = _weigh_rows("What was the national death rate?", [(2, 1.0), (1, 0.9)], {1: prose, 2: row}, 2)
    assert [pid for pid, _ in ranked] == [1, 2] and ranked[1][1] == pytest.approx(UNNAMED_ROW_WEIGHT)
    assert _weigh_rows("What was the death rate in New York?", [(2, 1.0), (1, 0.9)], {1: prose, 2: row}, 2)[0][0] == 2


def test_a_page_of_tax_tables_is_not_read_again_by_pdfplumber(monkeypatch):
    from ingest.formats import pdf_tables
    from ingest.types import Page

    asked = []
    monkeypatch.setattr(pdf_tables, "ruled_tables", lambda data, numbers: asked.append(numbers) or {})
    tax = "\n".join(f"{10 * i:,}\t{10 * i + 10:,}\t{i}\t{i + 1}" for i in range(25))
    state = "State\tPermit\nKentucky\t264,140\nVermont\t0"
    pdf_tables.read_tables(b"", [Page(1, tax, tables=[(0, len(tax), 0)]),
                                 Page(2, state, tables=[(0, len(state), state.index("\nKentucky"))])])
    assert asked == [[2]]


def test_html_header_cells_spanning_rows_and_columns_name_every_column():
    from ingest.formats.html import extract_html

    html = b"""<html><head><title>Fee schedule</title></head><body><main><h1>Dyadic fee schedule</h1>
    <p>Rates for dyadic services by the child's age, effective January 1, 2025, paid per unit of service.</p>
    <table><caption>Table 1. Dyadic service rates by child's age group</caption>
    <thead><tr><th rowspan="2">Service</th><th rowspan="2">Unit</th><th colspan="3">Rate by child's age</th></tr>
    <tr><th>Birth to 11 months</th><th>12 to 35 months</th><th>3 to 5 years</th></tr></thead>
    <tbody><tr><td>Child-parent psychotherapy</td><td>15 minutes</td><td>$38.62</td><td>$36.10</td><td>$33.85</td></tr>
    <tr><td colspan="2">Travel add-on, any service</td><td>$41.00</td><td>$41.00</td><td>$41.00</td></tr></tbody></table>
    </main></body></html>"""
    passages = split_pages(extract_html(html).pages)
    cpp = next(p for p in passages if p.table and p.table.cells[0] == "Child-parent psychotherapy")
    assert cpp.table.headers == ("Service", "Unit", "Rate by child's age Birth to 11 months",
                                 "Rate by child's age 12 to 35 months", "Rate by child's age 3 to 5 years")
    assert cpp.text == "Child-parent psychotherapy 15 minutes $38.62 $36.10 $33.85"  # the row as printed
    assert "Rate by child's age 3 to 5 years: $33.85" in cpp.context
    travel = next(p for p in passages if p.table and p.table.cells[0].startswith("Travel"))
    assert travel.text == "Travel add-on, any service $41.00 $41.00 $41.00"  # a spanning body cell stands once
    assert pick_cell("What is the rate per 15 minutes of child-parent psychotherapy for a child of 12 to 35 months?",
                     cpp).text == "$36.10"


@pytest.mark.parametrize("question, cells, asked", [
    # a percentage printed in parentheses is no confidence interval
    ("What share of householders without a high school diploma had no working smoke alarm?",
     ("Less than high school", "1,800", "(12.0)", "3.6", "(3.1–4.1)"), "(12.0)"),
    ("How many householders without a high school diploma had no working smoke alarm?",
     ("Less than high school", "1,800", "(12.0)", "3.6", "(3.1–4.1)"), "1,800"),
])
def test_a_percentage_in_parentheses_is_a_value_and_an_interval_is_not(question, cells, asked):
    headers = ("Characteristic", "No working smoke alarm No.", "No working smoke alarm (%)",
               "No working smoke alarm Unadjusted odds ratio", "No working smoke alarm (95% CI)")
    p = Passage(None, None, 0, 1, None, 0, 0, " ".join(cells), table=TableRow(None, headers, cells))
    assert pick_cell(question, p).text == asked


def test_a_cell_the_question_states_is_a_given_and_a_number_is_asked_for():
    headers = ("Service", "Unit", "Rate")
    cells = ("Caregiver-only session", "15 minutes", "$29.70")
    p = Passage(None, None, 0, 1, None, 0, 0, " ".join(cells), table=TableRow(None, (), cells))
    assert pick_cell("What is the rate per 15 minutes for a caregiver-only session?", p).text == "$29.70"
    named = Passage(None, None, 0, 1, None, 0, 0, " ".join(cells), table=TableRow(None, headers, cells))
    assert pick_cell("How much is paid for a caregiver-only session?", named).text == "$29.70"


def test_the_tables_own_name_does_not_name_a_row():
    cells = ("2007", "66", "8", "3,482")
    p = Passage(None, None, 0, 1, None, 0, 10, " ".join(cells),
                table=TableRow("Table 1. Crimes reported by year", (), cells))
    assert names_row("How many crimes does Table 1 report for 2005?", p) is False  # "Table 1" names the table
    assert names_row("How many crimes were reported in 2007?", p) is True


def test_the_row_that_answers_outranks_rows_of_other_tables_and_prose(tmp_path, run_ingest, searcher):
    """The CDC report prints the same groups in six tables and discusses them in prose: the row
    the question names, in the table its caption and column describe, comes first, and the
    highlight is its asked cell (without the coverage weight, a 'Total' row of another table
    came first)."""
    pdf = GOV_PDFS / "cdc_mmwr_2011_v60_suppl_chd_stroke_deaths.pdf"
    shutil.copy(pdf, tmp_path / pdf.name)
    run_ingest(tmp_path)
    answer = searcher.ask("What was the age-adjusted coronary heart disease death rate for Black Americans in 2006?")
    top = answer.hits[0]
    assert top.passage.table is not None and top.passage.table.cells[0] == "Black"
    assert top.passage.table.caption.startswith("TABLE 1.")
    (s, e), = top.highlights
    assert top.passage.text[s:e] == "161.6"
