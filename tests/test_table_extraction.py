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
