"""Limits per document (issue 27, item 4): a small file that unpacks into a great deal of text is
refused, as its reader produces the text, with one line naming the limit and its setting, and
the rest of the batch goes in. Real amplified files: a 0.5 MB gzip-compressed page of 147 MB of
HTML from a real server on 127.0.0.1, and a 0.1 MB Word file of 80,000 repeated paragraphs.

The old code read both whole (tens of thousands of passages, gigabytes, an hour of embedding);
here the extraction time limit is one minute, so on the old code these tests fail (a timeout
reason, or passages taken) instead of running for an hour.
"""
from __future__ import annotations

import gzip
import io
import json
import zipfile
from pathlib import Path

import docx
from conftest import kb_cli
from webserver import site  # noqa: F401 - a fixture

PARAGRAPH = ("The infant and early childhood mental health consultation program serves every child care centre "
             "in the state, and each consultant visits each classroom twice a month to support teachers.")


def repeated_word_file(path: Path, paragraphs: int = 80_000) -> Path:
    """A real .docx (python-docx's own package) whose body is `paragraphs` copies of one paragraph."""
    made = io.BytesIO()
    document = docx.Document()
    document.add_paragraph("Consultation")
    document.save(made)
    body = f"<w:p><w:r><w:t>{PARAGRAPH}</w:t></w:r></w:p>" * paragraphs
    with zipfile.ZipFile(made) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "word/document.xml":
                text = data.decode("utf-8")
                at = text.index("<w:body>") + len("<w:body>")
                data = (text[:at] + body + text[at:]).encode("utf-8")
            out.writestr(info.filename, data)
    return path


def good_file(folder: Path) -> Path:
    path = folder / "okapi.txt"
    path.write_text("Okapi Guidance\n\nThe okapi program pays for infant mental health consultation in child care "
                    "settings.\n", encoding="utf-8")
    return path


def small_embeds(stage: str, done: int, total: int) -> None:
    """A progress callback: the old code went on to embed ~80,000 passages (an hour here)."""
    assert not (stage == "embed" and total > 1000), f"{total} passages sent to embedding"


def one_line_naming(reason: str, setting: str) -> None:
    assert setting in reason and "\n" not in reason and "limit" in reason, reason


def test_a_word_file_of_80000_repeated_paragraphs_is_refused_and_the_rest_goes_in(tmp_path, run_ingest, settings):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    word = repeated_word_file(corpus / "repeated.docx")
    assert word.stat().st_size < 200_000
    good_file(corpus)
    report = run_ingest(corpus, settings=settings.with_(extract_timeout_s=60), progress=small_embeds)
    (failure,) = report.failed
    assert failure["path"] == str(word)
    one_line_naming(failure["reason"], "KB_MAX_DOCUMENT_CHARS")
    assert failure["reason"].startswith("more than 5,000,000 characters of text")
    assert report.added == ["okapi.txt"] and report.passages == 1


def test_a_gzip_bomb_page_is_refused_and_the_other_address_goes_in(site, run_ingest, settings):  # noqa: F811
    html = (b"<html><head><title>Big</title></head><body>"
            + b"<p>The program pays for consultation in child care settings and every classroom gets a visit.</p>\n"
            * 1_500_000 + b"</body></html>")
    squeezed = gzip.compress(html, 6)
    assert len(html) > 140 * 2**20 and len(squeezed) < 600_000
    site.put("/big", squeezed, **{"Content-Encoding": "gzip"})
    site.put("/small", b"<html><head><title>Okapi</title></head><body><main><h1>Okapi Guidance</h1><p>The okapi "
                       b"program pays for infant mental health consultation in child care settings.</p></main>"
                       b"</body></html>")
    report = run_ingest(f"{site.base}/big", f"{site.base}/small",
                        settings=settings.with_(extract_timeout_s=60, fetch_allow_private=True), progress=small_embeds)
    (failure,) = report.failed
    assert failure["path"] == f"{site.base}/big"
    one_line_naming(failure["reason"], "KB_MAX_DOCUMENT_CHARS")
    assert len(report.added) == 1 and report.passages >= 1


def test_the_limits_are_settings_and_the_passage_limit_holds_too(tmp_path):
    """Through `kb ingest`: KB_MAX_DOCUMENT_PASSAGES refuses a document of 60 passages at 50,
    KB_MAX_DOCUMENT_CHARS a text file over it; the document within both goes in."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    good_file(corpus)
    (corpus / "long.txt").write_text("\n\n".join(f"Part {i}\n\n" + PARAGRAPH * 8 for i in range(60)), encoding="utf-8")
    (corpus / "wordy.md").write_text("# Wordy\n\n" + (PARAGRAPH + "\n\n") * 40, encoding="utf-8")
    result = kb_cli("ingest", corpus, "--kb", tmp_path / "kb", "--json",
                    env={"KB_MAX_DOCUMENT_PASSAGES": "50", "KB_MAX_DOCUMENT_CHARS": "6000"})
    report = json.loads(result.stdout)
    reasons = {Path(f["path"]).name: f["reason"] for f in report["failed"]}
    assert set(reasons) == {"long.txt", "wordy.md"}, reasons
    one_line_naming(reasons["wordy.md"], "KB_MAX_DOCUMENT_CHARS")
    assert "6,000 characters" in reasons["wordy.md"]
    result = kb_cli("ingest", corpus, "--kb", tmp_path / "kb2", "--json",
                    env={"KB_MAX_DOCUMENT_PASSAGES": "50"})
    reasons = {Path(f["path"]).name: f["reason"] for f in json.loads(result.stdout)["failed"]}
    assert set(reasons) == {"long.txt"}, reasons
    one_line_naming(reasons["long.txt"], "KB_MAX_DOCUMENT_PASSAGES")
    assert "over the per-document limit of 50" in reasons["long.txt"]
    assert report["added"] == ["okapi.txt"]
