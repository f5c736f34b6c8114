"""A table answer cited and exported: every style names the table where the document captions
it, and each export quotes the asked cell with its row and column, never the whole row."""
from __future__ import annotations

import csv
import io
import json

import bibtexparser
import rispy

from kb.citations import CSV_COLUMNS, format_citation, to_bibtex, to_csl_json, to_csv, to_markdown, to_ris
from kb.models import Answer, Document, Hit, Passage, TableRow
from kb.tables import cell_spans

ROW = TableRow("Table 1. NICS Firearm Checks: November 2015", ("State / Territory", "Permit", "Handgun", "Totals"),
               ("Kentucky", "264,140", "12,155", "295,891"))
DOC = Document(1, "/kb/nics.pdf", "nics.pdf", "0" * 64, 1, 1, "NICS Firearm Checks", "Federal Bureau of Investigation",
               2015, "report", 1)


def table_hit(column: int = 1) -> Hit:
    text = "Kentucky 264,140 12,155 295,891"
    passage = Passage(7, 1, 3, 1, None, 0, len(text), text, page_label="1", table=ROW)
    return Hit(passage, DOC, 0.9, "", highlights=[cell_spans(passage)[column]])


def test_every_style_names_the_table_a_row_is_from():
    hit = table_hit()
    assert format_citation(hit, "house").text.endswith(", Table 1, p. 1.")
    assert format_citation(hit, "apa").text == "(Federal Bureau of Investigation, 2015, Table 1, p. 1)"
    assert format_citation(hit, "chicago-author-date").text == "(Federal Bureau of Investigation 2015, 1, tbl. 1)"
    prose = Hit(Passage(8, 1, 4, 1, None, 0, 9, "Some text", page_label="1"), DOC, 0.5, "")
    assert format_citation(prose, "apa").text == "(Federal Bureau of Investigation, 2015, p. 1)"


def test_exports_quote_the_asked_cell_with_its_row_and_column_not_the_row():
    answer = Answer("How many permit checks did Kentucky run?", True, [table_hit()])
    quoted = "“264,140” (Kentucky, Permit; Table 1, p. 1)"
    markdown = to_markdown(answer)
    assert "> “264,140” (Kentucky, Permit)" in markdown and "12,155" not in markdown
    rows = list(csv.DictReader(io.StringIO(to_csv(answer).lstrip("\ufeff"))))
    assert list(rows[0]) == CSV_COLUMNS
    assert (rows[0]["quote"], rows[0]["table"], rows[0]["row"], rows[0]["column"]) == ("264,140", "Table 1", "Kentucky", "Permit")
    entry = bibtexparser.parse_string(to_bibtex(answer)).entries[0]
    assert entry["note"] == "Cited p. 1; " + quoted
    assert rispy.loads(to_ris(answer))[0]["notes"] == ["Cited p. 1; " + quoted]
    assert json.loads(to_csl_json(answer))[0]["note"] == "Cited p. 1; " + quoted


def test_a_row_label_asked_for_is_quoted_without_naming_itself_as_its_row():
    answer = Answer("Which state?", True, [table_hit(column=0)])
    rows = list(csv.DictReader(io.StringIO(to_csv(answer).lstrip("\ufeff"))))
    assert (rows[0]["quote"], rows[0]["row"], rows[0]["column"]) == ("Kentucky", "", "State / Territory")
    assert "> “Kentucky” (State / Territory)" in to_markdown(answer)


def test_copying_a_table_rows_quote_gives_the_cell_with_its_row_column_and_table():
    from kb.app_support import quote_with_citation

    assert quote_with_citation(table_hit(), "apa").text == \
        "“264,140” (Kentucky, Permit) (Federal Bureau of Investigation, 2015, Table 1, p. 1)"
    assert quote_with_citation(table_hit(), "house").text.startswith("“264,140” (Kentucky, Permit; Federal Bureau")


def test_a_cell_of_a_table_that_names_neither_row_nor_column_is_quoted_with_the_citation_alone():
    """A grid of figures with no row label and no column names: nothing to name outside the
    quotation marks, so no empty "(; …)" before the citation."""
    from kb.citations import quote_citation

    row = TableRow(None, (), ("", "264,140", "12,155"))
    text = "264,140 12,155"
    passage = Passage(9, 1, 5, 1, None, 0, len(text), text, page_label="1", table=row)
    hit = Hit(passage, DOC, 0.9, "", highlights=[cell_spans(passage)[1]])
    assert quote_citation(hit).startswith("“264,140” (Federal Bureau of Investigation")
    assert "(;" not in quote_citation(hit)
