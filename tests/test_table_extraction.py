"""Tables read out of the shared government PDFs: rows apart from their notes, tables found
where they sit beside text, column names from multi-line headers, continued tables."""
from __future__ import annotations

from functools import lru_cache

from conftest import GOV_PDFS
from ingest.formats.pdf import extract_pdf
from ingest.split import split_pages
from kb.models import Passage

CENSUS = GOV_PDFS / "census_disability_2010_report_excerpt.pdf"
CHD = GOV_PDFS / "cdc_mmwr_2011_v60_suppl_chd_stroke_deaths.pdf"
CAMPUS = GOV_PDFS / "campus_attacks_2010_report_excerpt.pdf"
HOUSING = GOV_PDFS / "cdc_mmwr_2011_v60_suppl_unhealthy_housing.pdf"


@lru_cache(maxsize=None)
def passages(name: str) -> tuple[Passage, ...]:
    return tuple(split_pages(extract_pdf((GOV_PDFS / name).read_bytes()).pages))


def test_a_tables_notes_are_a_note_to_the_table_never_a_row():
    for pdf in (CENSUS, CHD, HOUSING):
        rows = [p for p in passages(pdf.name) if p.table is not None]
        for p in rows:
            first = p.table.cells[0] if p.table.cells else ""
            assert not first.lstrip("*† ").startswith(("Per 100,000", "Denotes", "Abbreviation")), (pdf.name, first)
            assert not (p.table.group or "").startswith(("Abbreviation", "– Represents")), (pdf.name, p.table.group)
    notes = [p for p in passages(CHD.name) if "Per 100,000 U.S. standard population" in p.text]
    assert notes and all(p.table is None for p in notes)
    # a note block of its own, that says which table it notes
    assert any(p.footnote and p.context_label.startswith("Note to: “TABLE 1. Number of deaths") for p in notes)
    census = [p for p in passages(CENSUS.name) if "Represents or rounds to zero" in p.text]
    assert census and all(p.table is None and p.footnote for p in census)


def test_a_small_table_of_narrow_columns_beside_the_text_is_found():
    """The campus report's Table 1 (three columns a few characters wide, set beside a paragraph)
    was read as lines of text ("14-17 231,000 1.3")."""
    rows = [p for p in passages(CAMPUS.name) if p.table is not None and p.table.label == "Table 1"]
    assert [p.table.cells[0] for p in rows] == ["14-17", "18-19", "20-21", "22-24", "25-29", "30-34", "Over 35", "Total"]
    over_35 = rows[6]
    assert over_35.table.headers == ("Age", "Enrollment", "%")
    assert over_35.table.cells == ("Over 35", "3,107,000", "17.5")
    assert over_35.table.caption == "Table 1: Student Enrollment, by Age Group, Fall 2006"
    assert over_35.page == 2


def test_a_header_of_several_levels_names_each_column_from_where_its_words_stand():
    """The census tables' headers: "2005" / "2010" / "Difference" centred over their columns,
    "Margin of" over "error (±)" in one column, "Number" and "Percent" set lower than it. The
    layout read those lines out of order, and the rows had no column names."""
    all_ages = next(p for p in passages(CENSUS.name) if p.table is not None and p.table.cells[0] == "All ages")
    assert all_ages.table.headers == (
        "Category", "2005 Number", "2005 Margin of error (±)", "2005 Percent", "2005 Margin of error (±)",
        "2010 Number", "2010 Margin of error (±)", "2010 Percent", "2010 Margin of error (±)",
        "Difference Number", "Difference Percent")
    assert "2010 Number: 303,858" in all_ages.context
    male = next(p for p in passages(CENSUS.name) if p.table is not None and p.table.cells[0] == "Male")
    assert male.table.label == "Table 2"
    assert male.table.headers[1:5] == (
        "Age-adjusted disability rate 2005 Estimate", "Age-adjusted disability rate 2005 Margin of error (±)",
        "Age-adjusted disability rate 2010 Estimate", "Age-adjusted disability rate 2010 Margin of error (±)")
    assert male.table.headers[6] == "Unadjusted disability rate 2005 Estimate"
    assert dict(zip(male.table.headers, male.table.cells))["Unadjusted disability rate 2010 Estimate"] == "17.4"


def test_a_tables_label_set_apart_from_its_title_goes_back_in_front_of_it():
    """Census p. 1 prints "Table 1." on its own line over the title; the layout set it inside the
    column of text beside ("… (18.7 percent) of the / Table 1. / 303.9 million …"), so the rows
    were not cited as Table 1 and the sentence was broken."""
    rows = [p for p in passages(CENSUS.name) if p.table is not None and p.page == 1]
    assert rows and all(p.table.label == "Table 1" for p in rows)
    assert rows[0].table.caption.startswith("Table 1. Prevalence of Disability for Selected Age Groups")
    text = " ".join(p.text for p in passages(CENSUS.name) if p.page == 1)
    assert "(18.7 percent) of the 303.9 million in the civilian" in text


def test_a_caption_ends_where_prose_set_between_it_and_the_table_begins():
    """CHD p. 3: the rest of a sentence from another column ("as diabetes, which varies
    substantially …") stands between TABLE 4's caption and its rows; it was read into the caption
    every row carries (and cites)."""
    rows = [p for p in passages(CHD.name) if p.table is not None and (p.table.label or "") == "Table 4"]
    assert rows
    caption = rows[0].table.caption
    assert caption.startswith("TABLE 4. Number of deaths and age-specific death rates* for stroke")
    assert "United States, 2006" in caption and "diabetes" not in caption and "latency" not in caption


def test_a_word_tables_source_and_note_rows_are_a_note_to_the_table(tmp_path):
    import docx

    from ingest.formats.docx import extract_docx

    document = docx.Document()
    document.add_paragraph("Table 2. Home visiting slots by county, 2023")
    values = [("County", "Funded slots", "Families waiting"), ("Adams", "1,250", "310"), ("Brown", "840", "95"),
              ("Source: State home visiting program, annual report 2023.", "", ""), ("* Estimated.", "", "")]
    table = document.add_table(rows=len(values), cols=3)
    for r, row in enumerate(values):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    for r in (3, 4):  # a note row is one cell across the table
        table.cell(r, 0).merge(table.cell(r, 2))
        table.cell(r, 0).text = values[r][0]
    document.add_paragraph("Waiting lists grew in both counties over the year.")
    path = tmp_path / "slots.docx"
    document.save(path)
    passages = split_pages(extract_docx(path.read_bytes()).pages)
    assert [p.table.cells[0] for p in passages if p.table] == ["Adams", "Brown"]
    (note,) = [p for p in passages if "Source: State home visiting" in p.text]
    assert note.table is None and note.footnote and "* Estimated." in note.text
    assert note.context_label == "Note to: “Table 2. Home visiting slots by county, 2023”"


def test_a_column_name_broken_at_a_hyphen_over_two_lines_reads_whole():
    """The Clery table's "Non-" / "Forcible" / "Sex" / "Offense" is one name, "Non-Forcible Sex Offense"."""
    row = next(p for p in passages(CAMPUS.name) if p.table is not None and p.table.cells[0] == "2008")
    named = dict(zip(row.table.headers, row.table.cells))
    assert named["Non-Forcible Sex Offense"] == "49"
    assert named["Murder / Non-Negligent Manslaughter"] == "55"
    assert named["Motor Vehicle Theft"] == "7,465"
