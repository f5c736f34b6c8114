"""The gold question sets (bench/questions/) are well-formed, and their gold labels hold: each
evidence snippet occurs in the source text on the pages named, each printed page number is
printed on that page, and the held-out documents are what their generator writes."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from conftest import GOV_PDFS, ROOT

sys.path.insert(0, str(ROOT / "bench"))
from benchlib import OWN_DOCS, QUESTION_SETS, TABLE_DOCS, holds, normalise, read_jsonl  # noqa: E402

SETS = {"gov": GOV_PDFS, "own": OWN_DOCS, "tables": GOV_PDFS, "tables-more": (GOV_PDFS, TABLE_DOCS)}
KINDS_OF_UNANSWERABLE = {"other year", "other agency", "near miss", "absent word", "other state", "other country"}
FIELDS = {"id", "question", "answerable", "documents", "evidence", "pages", "pdf_pages", "kind"}
# The best-answer sets: each has a held-out third under holdout/, checked like the rest.
ANSWER_SETS = {"answers-gov": GOV_PDFS, "answers-corpus": ROOT / "corpus"}
SETS.update(ANSWER_SETS)
SETS.update({f"holdout/{name}": docs for name, docs in ANSWER_SETS.items()})


def questions(name: str) -> list[dict]:
    return read_jsonl(QUESTION_SETS / f"{name}.jsonl")


@lru_cache(maxsize=None)
def pdf_page_texts(path: Path, page: int) -> tuple[str, str]:
    """The page as pdftotext reads it, in reading order and with the layout kept (a table row
    stays on one line in the second); evidence may come from either."""
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext is needed to read the gold pages: apt-get install poppler-utils")
    return tuple(subprocess.run(["pdftotext", *mode, "-f", str(page), "-l", str(page), str(path), "-"],
                                capture_output=True, text=True, check=True).stdout for mode in ([], ["-layout"]))


def document(name: str, doc: str) -> Path:
    """Where a set's document lies: its folder, or the first of its folders that holds it."""
    folders = SETS[name] if isinstance(SETS[name], tuple) else (SETS[name],)
    return next((f / doc for f in folders if (f / doc).is_file()), folders[0] / doc)


def source_text(path: Path) -> str:
    if path.suffix == ".docx":  # paragraphs, then each table row as its cells joined
        import docx

        word = docx.Document(str(path))
        rows = [" ".join(c.text for c in r.cells) for t in word.tables for r in t.rows]
        return "\n".join([p.text for p in word.paragraphs] + rows)
    if path.suffix == ".html":
        return BeautifulSoup(path.read_text(encoding="utf-8"), "lxml").get_text(" ")
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", SETS)
def test_questions_are_well_formed(name):
    rows = questions(name)
    assert len({q["id"] for q in rows}) == len(rows), "ids must be unique"
    assert len({normalise(q["question"]) for q in rows}) == len(rows), "questions must not repeat"
    for q in rows:
        assert FIELDS <= q.keys(), q["id"]
        assert len(q["pages"]) == len(q["pdf_pages"]), q["id"]
        for doc in q["documents"]:
            assert document(name, doc).is_file(), f"{q['id']}: no document {doc}"
        if q["answerable"]:
            assert len(q["documents"]) == 1 and q["evidence"], q["id"]
            assert all(3 <= len(e.split()) <= 25 for e in q["evidence"]), q["id"]
            assert bool(q["pdf_pages"]) == q["documents"][0].endswith(".pdf"), f"{q['id']}: PDF evidence needs pages"
        else:
            assert not q["evidence"] and not q["pages"] and q["why"] in KINDS_OF_UNANSWERABLE, q["id"]


def test_set_sizes_and_spread():
    gov = questions("gov")
    assert sum(q["answerable"] for q in gov) >= 40 and sum(not q["answerable"] for q in gov) >= 20
    for pdf in GOV_PDFS.glob("*.pdf"):
        assert sum(q["answerable"] and q["documents"] == [pdf.name] for q in gov) >= 3, pdf.name
    own = questions("own")
    assert sum(q["answerable"] for q in own) >= 30 and sum(not q["answerable"] for q in own) >= 15
    sidecar = json.loads((OWN_DOCS / "metadata.json").read_text())
    for doc in sidecar:
        assert sum(q["answerable"] and q["documents"] == [doc] for q in own) >= 3, doc


@pytest.mark.parametrize("name", ANSWER_SETS)
def test_answer_sets_keep_a_third_aside_and_spread_over_the_documents(name):
    kept, held = questions(name), questions(f"holdout/{name}")
    rows = kept + held
    assert not {q["id"] for q in kept} & {q["id"] for q in held}, "a held-out question is also in the tuning part"
    assert len(held) == len(rows) // 3
    answerable = [q for q in rows if q["answerable"]]
    assert len(answerable) >= 24 and len(rows) - len(answerable) >= 10
    assert len({q["documents"][0] for q in answerable}) >= (10 if ANSWER_SETS[name] == GOV_PDFS else 5)


@pytest.mark.parametrize("name", SETS)
def test_evidence_occurs_in_the_source_on_the_pages_named(name):
    for q in (q for q in questions(name) if q["answerable"]):
        path = document(name, q["documents"][0])
        for evidence in q["evidence"]:
            if path.suffix == ".pdf":
                texts = [t for page in q["pdf_pages"] for t in pdf_page_texts(path, page)]
            else:
                texts = [source_text(path)]
            assert any(holds(t, [evidence]) for t in texts), f"{q['id']}: {evidence!r} not in {path.name}"
        for label, page in zip(q["pages"], q["pdf_pages"]):
            if label is not None:
                assert label in pdf_page_texts(path, page)[1].split(), f"{q['id']}: {label!r} not printed on page {page}"


def test_table_sets_hold_cells_and_keep_a_third_aside():
    """Each table question names its cell, which its evidence (the row) holds; every third is held out."""
    for name in ("tables", "tables-more"):
        rows = questions(name)
        for q in rows:
            assert q["cell"], q["id"]
            assert q["held_out"] == q["id"].split("-")[-1].startswith("h"), q["id"]
        assert sum(q["held_out"] for q in rows) == len(rows) // 3, name
    more = questions("tables-more")
    assert all(normalise(q["cell"]) in normalise(q["evidence"][0]) for q in more)
    assert len(more) >= 30 and not {q["documents"][0] for q in more} & {q["documents"][0] for q in questions("tables")} - {
        "campus_attacks_2010_report_excerpt.pdf", "cdc_mmwr_2011_v60_suppl_chd_stroke_deaths.pdf",
        "cdc_mmwr_2011_v60_suppl_unhealthy_housing.pdf"}  # other tables of those three: Table 2, Table 5, Table 3
    sidecar = json.loads((TABLE_DOCS / "metadata.json").read_text())
    assert {p.name for p in TABLE_DOCS.iterdir() if p.name not in ("metadata.json", "make_docx.py")} == set(sidecar)
    assert {Path(q["documents"][0]).suffix for q in more} == {".pdf", ".docx", ".html"}


def test_evidence_matching_ignores_layout_but_not_words():
    assert holds("the ﬁrst in-\nstance of “immediately  notify”", ['first instance of "immediately notify"'])
    assert holds("chlor- alkali plants", ["chlor-alkali plants"])
    assert not holds("the rst instance", ["the first instance"])


def test_held_out_documents_are_described_and_reproducible(tmp_path):
    sidecar = json.loads((OWN_DOCS / "metadata.json").read_text())
    on_disk = {p.name for p in OWN_DOCS.iterdir() if p.is_file() and p.name not in ("metadata.json", "make_pdfs.py")}
    assert on_disk == set(sidecar)
    assert all(entry.keys() >= {"title", "publisher", "year", "type"} for entry in sidecar.values())
    subprocess.run([sys.executable, str(OWN_DOCS / "make_pdfs.py"), str(tmp_path)], check=True)
    for pdf in tmp_path.iterdir():
        assert pdf.read_bytes() == (OWN_DOCS / pdf.name).read_bytes(), f"{pdf.name} differs from make_pdfs.py output"
