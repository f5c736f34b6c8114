"""Nothing lost: bad files, crashes, concurrent use, hostile documents (real processes,
real PDFs, real index files)."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import PDF_ZOO, ROOT, kb_cli, searcher_for

from kb.backends.local import LocalBackend
from kb.text import collapse

# What ../shared/pdf-zoo/README.md says a user should get for each file.
ZOO_OUTCOMES = {
    "crazyones.pdf": "ingested",
    "Seige_of_Vicksburg_Sample_OCR.pdf": "ingested",
    "indirect-rotation.pdf": "ingested",
    "outlines-with-invalid-destinations.pdf": "ingested",
    "side-by-side-subfig.pdf": "ingested",
    "SF424_page2.pdf": "ingested",
    "attachment.pdf": "ingested",
    "multilang.pdf": "ingested",
    "missing_info.pdf": "ingested",
    "metadata.pdf": "either",
    "toy.pdf": "either",
    "bytes.pdf": "either",
    "issue-297.pdf": "either",
    "form_evince.pdf": "no extractable text",
    "git.pdf": "no extractable text",
    "two-different-pages.pdf": "no extractable text",
    "imagemagick-images.pdf": "image-only",
    "encrypted_doc_no_id.pdf": "ingested",  # opened with the empty password; its pages are scans that OCR reads
    "r2-empty-password.pdf": "ingested",
    "r6-user-password.pdf": "ingested",
    "crazyones-encrypted-256.pdf": "password-protected",
    "r4-aes-user-password.pdf": "password-protected",
    "libreoffice-writer-password.pdf": "password-protected",
}


@pytest.fixture(scope="module")
def zoo_report(tmp_path_factory, embedder):
    from ingest.pipeline import ingest
    from kb.config import load_settings

    kb = tmp_path_factory.mktemp("zoo") / "kb"
    report = ingest([PDF_ZOO], load_settings(kb_dir=kb), embedder=embedder)  # in place: the zoo is not copied
    return report, kb


@pytest.mark.parametrize("name,outcome", sorted(ZOO_OUTCOMES.items()))
def test_pdf_zoo_outcome(zoo_report, name, outcome):
    report, _ = zoo_report
    reasons = {Path(f["path"]).name: f["reason"] for f in report.failed}
    if outcome == "ingested":
        assert name in report.added, reasons.get(name)
    elif outcome == "either":
        assert (name in report.added) != (name in reasons)
        if name in reasons:
            assert reasons[name] and "\n" not in reasons[name] and "Traceback" not in reasons[name]
    else:
        assert name in reasons and outcome in reasons[name], reasons.get(name)
    if outcome == "image-only":
        assert "OCR" in reasons[name]


def test_pdf_zoo_details(zoo_report):
    report, kb = zoo_report
    assert set(ZOO_OUTCOMES) == {p.name for p in PDF_ZOO.glob("*.pdf")}, "the zoo changed: update the table"
    docs = {d.name: d for d in LocalBackend(kb).documents()}
    with LocalBackend(kb).read() as conn:
        rows = conn.execute("SELECT d.name, p.page, p.text FROM passages p JOIN documents d ON d.id = p.document_id")
        by_doc: dict[str, list] = {}
        for name, page, text in rows:
            by_doc.setdefault(name, []).append((page, text))
    vicksburg = by_doc["Seige_of_Vicksburg_Sample_OCR.pdf"]
    assert sorted({p for p, _ in vicksburg}) == [1, 2, 3, 4, 5, 6]
    assert 10_000 < sum(len(t) for _, t in vicksburg) < 14_000
    assert docs["missing_info.pdf"].title == "Missing info"  # no info dictionary: the file name
    assert "pdf encryption test" in " ".join(t for _, t in by_doc["r2-empty-password.pdf"])
    problems = {p["name"] for p in LocalBackend(kb).problems()}
    assert {"r4-aes-user-password.pdf", "imagemagick-images.pdf"} <= problems


def _write(path: Path, data) -> Path:
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def test_files_made_broken_on_purpose(tmp_path, run_ingest, kb_dir):
    d = tmp_path / "docs"
    d.mkdir()
    crazy = (PDF_ZOO / "crazyones.pdf").read_bytes()
    _write(d / "zero.pdf", b"")
    _write(d / "truncated.pdf", crazy[: len(crazy) // 3])
    _write(d / "page.pdf", "<!DOCTYPE html><html><body><p>Saved as PDF by mistake</p></body></html>")
    _write(d / "noise.pdf", random.Random(1).randbytes(4096))
    _write(d / "noise.txt", random.Random(2).randbytes(4096))
    _write(d / "latin1.txt", "Café policy: la niñez temprana y la salud mental.\n".encode("latin-1"))
    _write(d / "utf16.txt", "Pédiatres et santé mentale des nourrissons.\n".encode("utf-16"))
    _write(d / "utf16-nobom.txt", "Toddlers and caregivers in Ohio.\n".encode("utf-16-le"))
    _write(d / "nul.txt", b"Home visiting\x00 supports new parents\x00.\n")
    _write(d / "comment-only.md", "<!-- nothing but a comment -->\n\n   \n")
    # plain prose whose first words match mail/news "magic" ("Article", "From ", "Subject:")
    _write(d / "article.txt", "Article 1. Purpose. This chapter funds infant mental health consultation.\n")
    _write(d / "from.md", "From the Director: early childhood mental health matters.\n")
    long_line = " ".join(f"term{i}" for i in range(30_000))
    _write(d / "long-line.txt", long_line)
    (d / "loop").mkdir()
    (d / "loop" / "again").symlink_to(d / "loop", target_is_directory=True)
    locked = d / "locked.txt"
    _write(locked, "secret")
    locked.chmod(0)
    report = run_ingest(d)
    reasons = {Path(f["path"]).name: f["reason"] for f in report.failed}
    readable = ["locked.txt"] if os.geteuid() == 0 else []
    assert sorted(report.added) == sorted(["article.txt", "from.md", "latin1.txt", "long-line.txt", "nul.txt",
                                           "utf16-nobom.txt", "utf16.txt"] + readable)
    assert "empty file" in reasons["zero.pdf"]
    assert "corrupt" in reasons["truncated.pdf"]
    assert "not a PDF" in reasons["page.pdf"] and "HTML" in reasons["page.pdf"]
    assert "not a PDF" in reasons["noise.pdf"]
    assert "not a text file" in reasons["noise.txt"]
    assert "no text" in reasons["comment-only.md"]
    if os.geteuid() != 0:  # root reads any file whatever its mode (tests/test_safety.py drops that power)
        assert "permission denied" in reasons["locked.txt"]
    assert "symbolic link loop" in reasons["again"]
    assert all(r.strip() and "\n" not in r for r in reasons.values())
    with LocalBackend(kb_dir).read() as conn:
        texts = dict(conn.execute("SELECT d.name, group_concat(p.text, ' ') FROM passages p "
                                  "JOIN documents d ON d.id = p.document_id GROUP BY d.name"))
    assert "Café policy: la niñez temprana" in texts["latin1.txt"]
    assert "Pédiatres et santé mentale" in texts["utf16.txt"]
    assert "Toddlers and caregivers in Ohio" in texts["utf16-nobom.txt"]
    assert "Home visiting supports new parents." in texts["nul.txt"]
    assert collapse(texts["long-line.txt"]) == long_line  # every word kept, split into bounded passages
    with LocalBackend(kb_dir).read() as conn:
        longest = conn.execute("SELECT MAX(length(text)) FROM passages").fetchone()[0]
    assert longest <= 2500


def _word_file_without(part: str) -> bytes:
    """A real Word file (python-docx's package) with one of its parts taken out."""
    import io
    import zipfile

    import docx

    document = docx.Document()
    document.add_paragraph("Consultation is offered to every classroom.")
    made = io.BytesIO()
    document.save(made)
    out = io.BytesIO()
    with zipfile.ZipFile(made) as source, zipfile.ZipFile(out, "w") as damaged:
        for info in source.infolist():
            if info.filename != part:
                damaged.writestr(info.filename, source.read(info))
    return out.getvalue()


def test_damaged_files_are_told_in_words_for_people(tmp_path, run_ingest):
    """Issue 27, item 11: no exception name for a reason ("corrupt or unreadable Word document
    (KeyError)"), and no reason that contradicts itself ("not a HTML page: the content looks
    like an HTML page")."""
    d = tmp_path / "docs"
    d.mkdir()
    _write(d / "no-styles.docx", _word_file_without("word/styles.xml"))
    _write(d / "no-types.docx", _word_file_without("[Content_Types].xml"))
    _write(d / "binary.html", b"<!DOCTYPE html><html><body><p>Consultation</p>" + bytes(range(1, 32)) * 300)
    _write(d / "fine.txt", "Okapi Guidance\n\nThe okapi program pays for consultation.\n")
    report = run_ingest(d)
    reasons = {Path(f["path"]).name: f["reason"] for f in report.failed}
    assert report.added == ["fine.txt"] and set(reasons) == {"no-styles.docx", "no-types.docx", "binary.html"}
    for reason in reasons.values():
        assert "Error" not in reason and "(KeyError" not in reason and "\n" not in reason, reason
    assert reasons["no-styles.docx"] == ("damaged Word document: a part every Word file has is missing "
                                         "(word/styles.xml); open it in Word, which repairs it, and save it again")
    assert reasons["no-types.docx"].startswith("damaged Word document: a part every Word file has is missing")
    assert reasons["binary.html"].startswith("damaged HTML page: it starts like one but holds binary data")
    assert "not a HTML page" not in reasons["binary.html"]


def test_extraction_limits(tmp_path, run_ingest, settings):
    big = tmp_path / "big.txt"
    big.write_text("Title\n\n" + "words " * 300_000)
    slow = tmp_path / "slow.pdf"
    slow.write_bytes((ROOT.parent / "shared" / "gov-pdfs" / "irs_i1040nr_2007_instructions.pdf").read_bytes())
    report = run_ingest(big, slow, settings=settings.with_(max_file_mb=1, extract_timeout_s=0.5))
    reasons = {Path(f["path"]).name: f["reason"] for f in report.failed}
    assert "over the 1 MB limit" in reasons["big.txt"]
    assert "took longer than 0.5 s" in reasons["slow.pdf"]
    assert "KB_EXTRACT_TIMEOUT_S" in reasons["slow.pdf"]


def test_hostile_html_is_reduced_to_its_text(tmp_path, run_ingest, kb_dir):
    page = tmp_path / "hostile.html"
    page.write_text("""<html><head><style>body{display:none}</style><script>steal()</script></head><body>
      <h1>Consultation Policy</h1>
      <p>Infant mental health consultation <img src=x onerror="alert(1)">supports child care staff.</p>
      <p><a href="javascript:alert(2)">Click here</a> for the toolkit.</p>
      <div style="display: none">invisible instructions</div><span aria-hidden="true">decoy</span>
      <template><p>template text</p></template><noscript>enable js</noscript>
    </body></html>""")
    run_ingest(page)
    with LocalBackend(kb_dir).read() as conn:
        text = " ".join(r[0] for r in conn.execute("SELECT text FROM passages"))
    assert "Infant mental health consultation supports child care staff." in text
    assert "Click here for the toolkit." in text
    for bad in ("steal", "alert", "onerror", "javascript", "invisible", "decoy", "template text", "enable js", "<"):
        assert bad not in text


# ---- damage and repair -------------------------------------------------------------------------

def test_missing_index_is_detected_and_repaired_without_reading_sources(tmp_path, run_ingest, kb_dir, searcher):
    from ingest.pipeline import ingest
    from kb.config import load_settings
    from kb.errors import CorruptKnowledgeBase
    from kb.embedders.pytorch import TorchEmbedder as Embedder

    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(3):
        (docs / f"d{i}.txt").write_text(f"Title {i}\n\nDocument {i} describes infant program number {i}.\n")
    run_ingest(docs)
    store = LocalBackend(kb_dir)
    before = searcher.ask("infant program number 1", k=1).hits[0].passage.text
    store.vectors_path(store.current_generation()).unlink()
    with pytest.raises(CorruptKnowledgeBase, match="kb ingest --rebuild"):
        store.reader()
    result = kb_cli("ask", "infant program", "--kb", kb_dir)
    assert result.returncode == 1 and "kb ingest --rebuild" in result.stderr and "Traceback" not in result.stderr
    for f in docs.iterdir():  # the sources are not needed to repair: make reading them fail
        f.chmod(0)
    report = ingest([], load_settings(kb_dir=kb_dir), embedder=Embedder(), rebuild=False)
    assert report.repaired_index and report.repaired_passages == 3
    snap = store.reader()
    assert snap.vectors.ntotal == snap.generation.passages == 3
    from kb.search import Searcher
    assert Searcher(store, searcher.embedder).ask("infant program number 1", k=1).hits[0].passage.text == before


def test_deleted_keyword_index_is_repaired_by_rebuild_command(tmp_path, run_ingest, kb_dir):
    import shutil

    (tmp_path / "a.txt").write_text("Alpha\n\nReflective supervision supports clinicians.\n")
    run_ingest(tmp_path / "a.txt")
    store = LocalBackend(kb_dir)
    shutil.rmtree(store.keywords_path(store.current_generation()))
    assert "kb ingest --rebuild" in kb_cli("status", "--kb", kb_dir).stdout + kb_cli("ask", "x", "--kb", kb_dir).stderr
    result = kb_cli("ingest", "--rebuild", "--kb", kb_dir, "--json")
    assert result.returncode == 0, result.stderr
    ask = kb_cli("ask", "reflective supervision", "--kb", kb_dir, "--json")
    assert "Reflective supervision supports clinicians." in json.loads(ask.stdout)["passages"][0]["text"]


# ---- crashes -------------------------------------------------------------------------------------

def _make_docs(folder: Path, n: int, words: int = 420) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    vocab = ("infant toddler caregiver consultation workforce Medicaid screening referral home visiting "
             "supervision endorsement training policy funding state program evaluation").split()
    rng = random.Random(n)
    for i in range(n):
        paragraphs = []
        for _ in range(words // 60):
            paragraphs.append(" ".join(rng.choice(vocab) for _ in range(58)).capitalize() + f" doc{i}.")
        (folder / f"doc{i:03d}.txt").write_text(f"Document {i}\n\n" + "\n\n".join(paragraphs) + "\n")


def _passage_set(kb: Path) -> list[tuple]:
    with LocalBackend(kb).read() as conn:
        return sorted(conn.execute("SELECT d.name, p.ordinal, p.text FROM passages p "
                                   "JOIN documents d ON d.id = p.document_id").fetchall())


def test_kill_9_during_ingest_loses_nothing(tmp_path):
    docs = tmp_path / "docs"
    _make_docs(docs, 40)
    kb = tmp_path / "kb"
    first = sorted(docs.iterdir())[:3]
    assert kb_cli("ingest", *first, "--kb", kb).returncode == 0
    env = {"KB_CHECKPOINT_S": "0"}  # commit after every file, so kills land between and inside commits
    generations = set()
    rng = random.Random(9)
    for _ in range(5):
        start = LocalBackend(kb).current_generation()
        proc = subprocess.Popen([sys.executable, "-m", "cli", "ingest", str(docs), "--kb", str(kb)], cwd=ROOT,
                                env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Kill once the ingest has committed at least once, a random moment later: after a
        # commit, inside the next one, or while embedding. Observed, not timed, so a slow
        # machine moves the moment but not what it tests.
        deadline = time.monotonic() + 300
        while LocalBackend(kb).current_generation() == start and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        status = kb_cli("status", "--kb", kb, "--json")
        assert status.returncode == 0, status.stderr
        info = json.loads(status.stdout)
        snap = LocalBackend(kb).reader()  # raises if index and database disagree
        assert snap.vectors.ntotal == snap.generation.passages == len(snap.keywords) == info["passages"]
        generations.add(info["generation"])
        ask = kb_cli("ask", "home visiting supervision", "--kb", kb, "--json", "-k", "2")
        assert ask.returncode == 0 and len(json.loads(ask.stdout)["passages"]) == 2
    assert len(generations) > 1, "the kills should have landed after some commits"
    assert kb_cli("ingest", docs, "--kb", kb).returncode == 0
    clean = tmp_path / "clean"
    assert kb_cli("ingest", docs, "--kb", clean).returncode == 0
    after = _passage_set(kb)
    assert after == _passage_set(clean)
    assert len(after) == len(set((n, o) for n, o, _ in after))  # no duplicates
    assert not [p for p in kb.iterdir() if p.name.endswith(".tmp")]


# ---- concurrent use ------------------------------------------------------------------------------

def test_second_ingest_waits_for_the_lock_then_gives_up(tmp_path):
    kb = tmp_path / "kb"
    (tmp_path / "a.txt").write_text("Alpha\n\nSome policy text about infants.\n")
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from filelock import FileLock; from pathlib import Path; "
        f"Path({str(kb)!r}).mkdir(parents=True, exist_ok=True); "
        f"l = FileLock({str(kb / 'write.lock')!r}); l.acquire(); print('held', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        result = kb_cli("ingest", tmp_path / "a.txt", "--kb", kb, "--wait", "1")
        assert result.returncode == 1
        assert "waiting for it to finish" in result.stderr and "still writing" in result.stderr
        assert not LocalBackend(kb).exists() or LocalBackend(kb).current_generation() == 0
    finally:
        holder.kill()
        holder.wait()
    assert kb_cli("ingest", tmp_path / "a.txt", "--kb", kb, "--wait", "5").returncode == 0


def test_readers_keep_answering_during_an_ingest(tmp_path):

    docs = tmp_path / "docs"
    _make_docs(docs, 30, words=300)
    kb = tmp_path / "kb"
    assert kb_cli("ingest", *sorted(docs.iterdir())[:2], "--kb", kb).returncode == 0
    sources = {p.name: collapse(p.read_text()) for p in docs.iterdir()}
    writer = subprocess.Popen([sys.executable, "-m", "cli", "ingest", str(docs), "--kb", str(kb)], cwd=ROOT,
                              env={**os.environ, "KB_CHECKPOINT_S": "0"}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    problems, answers, generations = [], [0], set()

    def read_loop(seed: int):
        searcher = searcher_for(kb)
        rng = random.Random(seed)
        while writer.poll() is None:
            try:
                answer = searcher.ask(f"doc{rng.randrange(30)} training policy", k=3)
                generations.add(searcher.reader().generation.number)
                assert answer.hits
                for hit in answer.hits:
                    assert hit.passage.text in sources[hit.document.name]
                answers[0] += 1
            except Exception as exc:  # noqa: BLE001 - every failure is a finding
                problems.append(repr(exc))

    readers = [threading.Thread(target=read_loop, args=(i,)) for i in range(2)]
    for r in readers:
        r.start()
    for r in readers:
        r.join(timeout=600)
    assert writer.wait() == 0, writer.stderr.read()
    assert not problems, problems[:3]
    assert answers[0] > 5 and len(generations) > 1
    final = searcher_for(kb).ask("doc29 training policy", k=10)
    assert any(h.document.name == "doc029.txt" for h in final.hits)
