"""The issue's end-to-end case: one `kb ingest` of a folder mixing every format (text, Markdown,
an agency page saved as HTML, a PDF, a scanned PDF, a Word document) plus a list of web
addresses; every file and address is reported, and a question only the scanned page answers
is answered with that page cited."""
from __future__ import annotations

import json

from conftest import kb_cli, make_pdf, searcher_for
from scans import LETTER_PAGES, scanned_pdf
from test_docx import guidebook
from webserver import CONSULTATION, agency_page, site  # noqa: F401 - site is a fixture

from kb.backends.local import LocalBackend


def test_one_ingest_of_every_format_and_addresses(site, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "notes.txt").write_text("Part C Early Intervention\n\nPart C serves infants and toddlers with "
                                    "developmental delays and their families.\n", encoding="utf-8")
    (docs / "brief.md").write_text("# Workforce Brief\n\nStates grow the infant mental health workforce with "
                                   "endorsement and reflective supervision.\n", encoding="utf-8")
    (docs / "saved-page.html").write_bytes(agency_page("<p>Dyadic treatment of parent and child is paid by "
                                                       "Medicaid in this state.</p>", title="Medicaid Financing"))
    make_pdf(docs / "report.pdf", [[("h", "Annual Report"), ("p", "The home visiting program served twelve "
                                    "hundred families last year.")]], title="Annual Report")
    scanned_pdf(docs / "scanned-letter.pdf", LETTER_PAGES)
    guidebook(docs / "guidebook.docx")
    (docs / "broken.docx").write_bytes(b"not a zip at all")
    site.put("/iecmh", agency_page(CONSULTATION))
    urls = tmp_path / "addresses.txt"
    urls.write_text(f"{site.base}/iecmh\n{site.base}/gone\n", encoding="utf-8")
    kb = tmp_path / "kb"

    result = kb_cli("ingest", docs, "--urls", urls, "--kb", kb, "--json", env={"HF_HUB_OFFLINE": "1"}, timeout=600)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    host = site.base.removeprefix("http://")
    assert sorted(report["added"]) == sorted(["notes.txt", "brief.md", "saved-page.html", "report.pdf",
                                              "scanned-letter.pdf", "guidebook.docx", f"{host}/iecmh"])
    failed = {f["path"].rsplit("/", 1)[-1]: f["reason"] for f in report["failed"]}
    assert set(failed) == {"broken.docx", "gone"}
    assert "not a Word document" in failed["broken.docx"] and "HTTP 404" in failed["gone"]

    kinds = {d.name: d.kind for d in LocalBackend(kb).documents()}
    assert kinds["guidebook.docx"] == "docx" and kinds["scanned-letter.pdf"] == "pdf" and kinds[f"{host}/iecmh"] == "html"
    with LocalBackend(kb).read() as conn:
        saved_text = " ".join(r[0] for r in conn.execute(
            "SELECT p.text FROM passages p JOIN documents d ON d.id = p.document_id WHERE d.name = 'saved-page.html'"))
    assert "Dyadic treatment" in saved_text and "cookies" not in saved_text and "Careers" not in saved_text

    answer = searcher_for(kb).ask("Where can questions about the consultation letter be sent?", k=3)
    assert answer.answered
    top = answer.hits[0]
    assert top.document.name == "scanned-letter.pdf" and top.passage.ocr
    assert top.passage.page == 2 and top.passage.page_label == "4"
    assert "Office of Early Childhood Policy" in top.passage.text
    assert ", p. 4," in top.citation and "Eligibility and Referral" in top.citation
    human = kb_cli("ask", "Where can questions about the consultation letter be sent?", "--kb", kb, "-k", "1",
                   env={"HF_HUB_OFFLINE": "1"})
    assert "p. 4" in human.stdout
