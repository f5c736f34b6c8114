"""Ingestion end to end with the real model, FAISS, SQLite and real files."""
from __future__ import annotations

import json
import os
import shutil

import pytest
from conftest import CORPUS, PDF_ZOO, SEEDS, make_pdf

from kb.backends.local import LocalBackend
from kb.text import collapse


def passages_of(kb_dir):
    with LocalBackend(kb_dir).read() as conn:
        return conn.execute(
            'SELECT p.id, d.name, p.page, p.section, p.text, p.start, p."end" FROM passages p '
            "JOIN documents d ON d.id = p.document_id ORDER BY p.id").fetchall()


def test_each_format_is_ingested_with_headings_and_metadata(tmp_path, run_ingest, kb_dir):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "notes.txt").write_text(
        "Home Visiting Programs\n\nThe state home visiting program serves families with infants. "
        "Nurses visit monthly.\n", encoding="utf-8")
    (docs / "brief.md").write_text(
        "# Workforce Brief\n\n## Reflective Supervision\n\nReflective supervision is a **framework** for "
        "clinical supervision, see [the guide](https://example.org).\n", encoding="utf-8")
    (docs / "page.html").write_text(
        "<html><head><title>Medicaid Financing</title><meta name='citation_publisher' content='State Agency'>"
        "<script>var secret = 'do not index';</script><style>p{}</style></head><body><nav>Menu</nav>"
        "<h1>Medicaid Financing</h1><h2>Dyadic Services</h2><p>Medicaid can pay for dyadic treatment "
        "of parent and child.</p><p hidden>hidden words</p></body></html>", encoding="utf-8")
    make_pdf(docs / "guide.pdf", [[("h", "Early Intervention Guide"), ("p", "Part C serves infants and toddlers "
                                   "with developmental delays and their families.")]], title="EI Guide")
    report = run_ingest(docs)
    assert sorted(report.added) == ["brief.md", "guide.pdf", "notes.txt", "page.html"]
    assert report.failed == [] and report.exit_code == 0
    rows = {r[1]: r for r in passages_of(kb_dir)}
    assert rows["notes.txt"][3] == "Home Visiting Programs"
    assert rows["brief.md"][3] == "Reflective Supervision"
    # Markdown is read as rendered: emphasis markers and link syntax are not in the quote.
    assert "Reflective supervision is a framework for clinical supervision, see the guide." in rows["brief.md"][4]
    assert rows["page.html"][3] == "Dyadic Services"
    assert "dyadic treatment of parent and child" in rows["page.html"][4]
    assert "secret" not in rows["page.html"][4] and "hidden words" not in rows["page.html"][4]
    assert "Menu" not in rows["page.html"][4]
    assert rows["guide.pdf"][2] == 1 and rows["guide.pdf"][3] == "Early Intervention Guide"
    docs_by_name = {d.name: d for d in LocalBackend(kb_dir).documents()}
    assert docs_by_name["page.html"].title == "Medicaid Financing"
    assert docs_by_name["page.html"].publisher == "State Agency"
    assert docs_by_name["guide.pdf"].title == "EI Guide" and docs_by_name["guide.pdf"].pages == 1
    assert docs_by_name["notes.txt"].title == "Home Visiting Programs"


def test_pdf_pages_are_kept_and_never_crossed(tmp_path, run_ingest, kb_dir):
    words = " ".join(f"word{i}" for i in range(60))
    pages = [[("h", f"Chapter {n}"), ("p", f"Page {n} text about topic {n}. {words}.")] for n in range(1, 5)]
    make_pdf(tmp_path / "multi.pdf", pages)
    run_ingest(tmp_path / "multi.pdf")
    rows = passages_of(kb_dir)
    assert sorted({r[2] for r in rows}) == [1, 2, 3, 4]
    for _, _, page, section, text, _, _ in rows:
        assert f"Page {page} text about topic {page}" in text
        assert section == f"Chapter {page}"
        others = [n for n in range(1, 5) if n != page]
        assert not any(f"Page {n} text" in text for n in others)


def test_passages_are_verbatim_and_sized(run_ingest, kb_dir):
    run_ingest(CORPUS)
    from ingest.formats import extract

    sources = {p.name: extract(p, p.read_bytes()).pages[0].text for p in CORPUS.iterdir() if p.suffix != ".json"}
    for _, name, page, section, text, start, end in passages_of(kb_dir):
        assert text == collapse(sources[name][start:end])
        assert len(text.split()) <= 250


def test_reingest_is_idempotent_and_skips_the_model(tmp_path, settings, kb_dir, run_ingest):
    from ingest.pipeline import ingest
    from kb.embedders.pytorch import TorchEmbedder as Embedder

    first = run_ingest(CORPUS)
    before = passages_of(kb_dir)
    fresh = Embedder()  # not loaded: the second run must not need it
    second = ingest([CORPUS], settings, embedder=fresh)
    assert second.unchanged and not (second.added or second.updated or second.removed)
    assert not fresh.loaded and not second.model_loaded
    assert passages_of(kb_dir) == before
    assert second.passages == first.passages == len(before)


def test_changed_and_deleted_files(tmp_path, run_ingest, kb_dir):
    docs = tmp_path / "docs"
    docs.mkdir()
    a, b = docs / "a.txt", docs / "b.txt"
    a.write_text("Alpha Title\n\nThe alpha program funds infant mental health consultation.\n")
    b.write_text("Beta Title\n\nThe beta program trains home visitors.\n")
    run_ingest(docs)
    old_ids = {r[0] for r in passages_of(kb_dir) if r[1] == "a.txt"}
    a.write_text("Alpha Title\n\nThe alpha program now funds reflective supervision instead.\n")
    os.utime(a, ns=(1, 1))  # even with an old mtime, the size/content change is noticed
    report = run_ingest(docs)
    assert report.updated == ["a.txt"] and report.unchanged == ["b.txt"]
    rows = passages_of(kb_dir)
    texts = " ".join(r[4] for r in rows if r[1] == "a.txt")
    assert "reflective supervision" in texts and "consultation" not in texts
    assert not old_ids & {r[0] for r in rows}
    b.unlink()
    report = run_ingest(docs)
    assert report.removed == ["b.txt"]
    assert {r[1] for r in passages_of(kb_dir)} == {"a.txt"}
    snap = LocalBackend(kb_dir).reader()
    assert snap.vectors.ntotal == snap.generation.passages == len(passages_of(kb_dir))


def test_touched_file_is_unchanged(tmp_path, run_ingest, kb_dir):
    f = tmp_path / "doc.txt"
    f.write_text("Same Title\n\nSame content about infant mental health.\n")
    run_ingest(f)
    ids = passages_of(kb_dir)
    os.utime(f, ns=(10**18, 10**18))
    report = run_ingest(f)
    assert report.unchanged == ["doc.txt"] and passages_of(kb_dir) == ids


def test_sidecar_metadata_and_edits_without_reembedding(tmp_path, run_ingest, kb_dir, settings):
    from ingest.pipeline import ingest
    from kb.embedders.pytorch import TorchEmbedder as Embedder

    docs = tmp_path / "docs"
    shutil.copytree(CORPUS, docs)
    run_ingest(docs)
    by_name = {d.name: d for d in LocalBackend(kb_dir).documents()}
    assert by_name["zero-to-three-iecmh-planning-tool.txt"].publisher == "ZERO TO THREE"
    assert by_name["iecmh-workforce-systems-and-supports-2020.md"].year == 2020
    assert by_name["iecmh-resources.txt"].publisher is None  # left empty, not invented
    meta = json.loads((docs / "metadata.json").read_text())
    meta["iecmh-resources.txt"]["publisher"] = "Edited Publisher"
    (docs / "metadata.json").write_text(json.dumps(meta))
    fresh = Embedder()
    ingest([docs], settings, embedder=fresh)
    assert not fresh.loaded
    assert {d.name: d for d in LocalBackend(kb_dir).documents()}["iecmh-resources.txt"].publisher == "Edited Publisher"


def test_same_content_twice_is_indexed_once(tmp_path, run_ingest, kb_dir):
    (tmp_path / "one.txt").write_text("Title\n\nUnique words about toddlers and caregivers.\n")
    shutil.copy(tmp_path / "one.txt", tmp_path / "two.txt")
    report = run_ingest(tmp_path)
    assert len(report.added) == 1
    assert any("same content as" in f["reason"] for f in report.failed)


def test_bad_inputs_get_reasons_and_the_rest_is_ingested(tmp_path, run_ingest, kb_dir):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.txt").write_text("Good Title\n\nA good document about infant mental health.\n")
    (docs / "slides.pptx").write_bytes(b"PK\x03\x04 not really")
    (docs / "empty.pdf").write_bytes(b"")
    (docs / "broken.pdf").write_bytes((PDF_ZOO / "crazyones.pdf").read_bytes()[:400])
    shutil.copy(PDF_ZOO / "libreoffice-writer-password.pdf", docs / "locked.pdf")
    shutil.copy(PDF_ZOO / "form_evince.pdf", docs / "blank.pdf")
    report = run_ingest(docs, tmp_path / "missing-folder")
    reasons = {os.path.basename(f["path"]): f["reason"] for f in report.failed}
    assert report.added == ["good.txt"] and report.exit_code == 0
    assert "unsupported file type" in reasons["slides.pptx"]
    assert "empty file" in reasons["empty.pdf"]
    assert "corrupt" in reasons["broken.pdf"]
    assert "password-protected" in reasons["locked.pdf"]
    assert "no extractable text" in reasons["blank.pdf"]
    assert "no such file or folder" in reasons["missing-folder"]
    assert all("\n" not in r for r in reasons.values())


def test_failed_batch_leaves_existing_index_untouched(tmp_path, run_ingest, kb_dir):
    run_ingest(SEEDS / "002_25eca6605ff169cf.txt")
    before = passages_of(kb_dir)
    gen = LocalBackend(kb_dir).current_generation()
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(os.urandom(2048))
    report = run_ingest(bad)
    assert report.exit_code == 1 and report.failed
    assert passages_of(kb_dir) == before and LocalBackend(kb_dir).current_generation() == gen


def test_empty_folder_reports_nothing_to_do(tmp_path, run_ingest):
    (tmp_path / "empty").mkdir()
    report = run_ingest(tmp_path / "empty")
    assert not report.ingested_anything and report.passages == 0


def test_model_mismatch_is_a_clear_error(tmp_path, run_ingest, kb_dir, settings):
    from ingest.pipeline import ingest
    from kb.embedders.pytorch import TorchEmbedder as Embedder
    from kb.errors import ModelMismatch
    from kb.search import Searcher

    run_ingest(SEEDS / "003_197c9cb6e9e5286c.txt")
    other = Embedder(str(tmp_path / "another-model"))
    with pytest.raises(ModelMismatch, match="kb ingest --rebuild"):
        Searcher(LocalBackend(kb_dir), other).ask("What is MYCHILD?")
    with pytest.raises(ModelMismatch):
        ingest([SEEDS], settings, embedder=other)
    assert not other.loaded


def test_rebuild_reembeds_from_stored_text(tmp_path, run_ingest, kb_dir):
    run_ingest(SEEDS / "003_197c9cb6e9e5286c.txt")
    before = passages_of(kb_dir)
    moved = tmp_path / "gone.txt"
    report = run_ingest(moved, rebuild=True)  # the source is not needed to rebuild
    assert report.repaired_passages == len(before)
    assert passages_of(kb_dir) == before
    assert LocalBackend(kb_dir).reader().vectors.ntotal == len(before)
