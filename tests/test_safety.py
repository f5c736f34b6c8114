"""Safe to leave running: nothing read outside the corpus, nothing slow forever, nothing unsafe
printed, and every failure of the disk or the database told as one line (issue: office network).

Real files, real processes, real mounts (tmpfs for a full disk, a read-only bind mount) and a
real unprivileged user where root would read anything.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import ROOT, kb_cli

from kb.backends.local import LocalBackend

ESC = "\x1b"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def doc_text(topic: str) -> str:
    return (f"{topic.title()} Guidance\n\nThe {topic} program pays for infant mental health consultation in "
            f"child care settings. Each {topic} consultant visits every classroom twice a month.\n")


def reasons_of(report_json: dict) -> dict[str, str]:
    return {Path(f["path"]).name: f["reason"] for f in report_json["failed"]}


def ingest_json(*paths, kb: Path, env=None) -> dict:
    result = kb_cli("ingest", *paths, "--kb", kb, "--json", env=env)
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


# ---- 1. nothing outside the corpus ------------------------------------------------------------

def test_links_out_of_the_corpus_and_system_files_are_refused(tmp_path):
    corpus = tmp_path / "corpus"
    write(corpus / "real.txt", doc_text("okapi"))
    outside = write(tmp_path / "private" / "secret.txt", "The password is hunter2.\n")
    (corpus / "passwd.txt").symlink_to("/etc/passwd")
    (corpus / "environ.txt").symlink_to("/proc/self/environ")
    (corpus / "secret.txt").symlink_to(outside)
    (corpus / "private-folder").symlink_to(outside.parent, target_is_directory=True)
    hidden = write(corpus / ".drafts" / "target.txt", doc_text("tapir"))  # hidden folders are not walked
    (corpus / "inside.txt").symlink_to(hidden)  # but a link that stays inside the corpus is fine
    os.mkfifo(corpus / "pipe.txt")
    report = ingest_json(corpus, kb=tmp_path / "kb")
    reasons = reasons_of(report)
    assert sorted(report["added"]) == ["inside.txt", "real.txt"]
    for name in ("passwd.txt", "environ.txt", "secret.txt"):
        assert "outside the folder being ingested" in reasons[name]
    assert "outside the folder being ingested" in reasons["private-folder"]
    assert "not a regular file" in reasons["pipe.txt"]
    ask = kb_cli("ask", "hunter2 password root", "--kb", tmp_path / "kb", "--json", "-k", "5")
    texts = " ".join(p["text"] for p in json.loads(ask.stdout)["passages"])
    assert "hunter2" not in texts and "root:" not in texts


def test_a_file_name_that_is_not_utf8_is_reported_and_the_rest_ingested(tmp_path):
    corpus = tmp_path / "corpus"
    write(corpus / "good.txt", doc_text("zebra"))
    bad = os.path.join(os.fsencode(corpus), b"caf\xe9-notes.txt")
    with open(bad, "wb") as f:
        f.write(doc_text("gazelle").encode())
    for _ in range(2):  # and again: a bad name never makes the folder fail for good
        report = ingest_json(corpus, kb=tmp_path / "kb")
        assert "good.txt" in report["added"] + report["unchanged"]
        (failure,) = report["failed"]
        assert "not valid UTF-8" in failure["reason"] and "\\xe9" in failure["path"]


def test_permission_denied_is_a_per_file_reason(tmp_path):
    """Root reads any file whatever its mode, so the ingest runs without the capabilities that
    let it (setpriv drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH): a real EACCES."""
    corpus = tmp_path / "corpus"
    write(corpus / "open.txt", doc_text("heron"))
    write(corpus / "locked.txt", doc_text("ibis")).chmod(0o000)
    command = [sys.executable, "-m", "cli", "ingest", str(corpus), "--kb", str(tmp_path / "kb"), "--json"]
    if os.geteuid() == 0:
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search",
                   "--inh-caps=-dac_override,-dac_read_search", "--"] + command
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300)
    report = json.loads(result.stdout)
    assert report["added"] == ["open.txt"]
    assert "permission denied" in reasons_of(report)["locked.txt"]


# ---- 4. a bad sidecar entry is one file's problem ------------------------------------------------

def test_bad_sidecar_entries_are_warnings_not_a_failed_ingest(tmp_path):
    corpus = tmp_path / "corpus"
    for name in ("a.txt", "b.txt", "c.txt", "d.txt"):
        write(corpus / name, doc_text(name[0] + "lpaca"))
    (corpus / "metadata.json").write_text(
        '{"a.txt": {"title": ["a", "list"], "year": 2019},'
        ' "b.txt": {"year": 1e30, "publisher": "Agency B"},'
        ' "c.txt": {"year": Infinity, "states": ["Atlantis"]},'
        ' "d.txt": {"title": 12345}}')
    result = kb_cli("ingest", corpus, "--kb", tmp_path / "kb", "--json")
    assert result.returncode == 0 and "not valid JSON" in result.stdout  # Infinity is not JSON: whole file ignored
    assert sorted(json.loads(result.stdout)["added"]) == ["a.txt", "b.txt", "c.txt", "d.txt"]
    (corpus / "metadata.json").write_text(
        '{"a.txt": {"title": ["a", "list"], "year": 2019},'
        ' "b.txt": {"year": 1e30, "publisher": "Agency B"},'
        ' "c.txt": {"year": "soon", "states": ["Atlantis"]},'
        ' "d.txt": {"title": 12345}}')
    report = ingest_json(corpus, kb=tmp_path / "kb")
    warnings = {Path(w["path"]).name: w["warning"] for w in report["warnings"]}
    assert "title must be text" in warnings["a.txt"] and "year must be" in warnings["b.txt"]
    assert "states must be" in warnings["c.txt"] or "year must be" in warnings["c.txt"]
    assert "title must be text" in warnings["d.txt"]
    docs = {d.name: d for d in LocalBackend(tmp_path / "kb").documents()}
    assert docs["a.txt"].year == 2019 and docs["b.txt"].publisher == "Agency B" and docs["b.txt"].year is None
    generation = LocalBackend(tmp_path / "kb").current_generation()
    again = ingest_json(corpus, kb=tmp_path / "kb")
    assert len(again["unchanged"]) == 4 and again["generation"] == generation  # nothing republished


# ---- 6. no terminal escapes reach the terminal --------------------------------------------------

def test_control_sequences_from_documents_never_reach_the_terminal(tmp_path):
    corpus = tmp_path / "corpus"
    write(corpus / "entities.html",
          "<html><head><title>Clear &#27;[2J screen &#x9b;31m title</title></head><body>"
          "<h1>Okapi policy</h1><p>The okapi policy &#27;]52;c;ZXZpbA==&#7; funds infant mental health "
          "consultation in every county of the state, twice a month.</p></body></html>")
    write(corpus / f"name{ESC}[31mred.txt", doc_text("okapi"))
    (corpus / "metadata.json").write_text(json.dumps({"entities.html": {"publisher": f"Agency {ESC}[1m bold"}}))
    kb = tmp_path / "kb"
    outputs = [kb_cli("ingest", corpus, "--kb", kb), kb_cli("status", "--kb", kb), kb_cli("documents", "--kb", kb),
               kb_cli("ask", "okapi policy consultation", "--kb", kb), kb_cli("ask", "okapi", "--kb", kb, "--json"),
               kb_cli("ingest", corpus, "--kb", kb, "--json")]
    for result in outputs:
        assert result.returncode == 0, result.stderr
        for stream in (result.stdout, result.stderr):
            assert ESC not in stream and "\x9b" not in stream and "\x07" not in stream
    answer = json.loads(outputs[4].stdout)
    assert any("okapi policy" in p["text"] for p in answer["passages"])


# ---- 8. failures of the disk and the database, as one line --------------------------------------

@contextmanager
def mounted(kind: str | None, target: Path, *options: str, source: str = "none"):
    target.mkdir(parents=True, exist_ok=True)
    command = ["mount", *(["-t", kind] if kind else []), *options, source, str(target)]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, f"cannot mount ({done.stderr.strip()}): this test needs root and mount"
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def test_a_full_disk_is_one_line_and_loses_nothing(tmp_path):
    corpus = tmp_path / "corpus"
    write(corpus / "first.txt", doc_text("first"))
    with mounted("tmpfs", tmp_path / "small", "-o", "size=4m") as small:
        kb = small / "kb"
        assert kb_cli("ingest", corpus, "--kb", kb).returncode == 0
        before = json.loads(kb_cli("status", "--kb", kb, "--json").stdout)
        free = shutil.disk_usage(small).free
        (small / "filler").write_bytes(b"\0" * (free - 8 * 1024))  # leave 8 kB
        write(corpus / "second.txt", doc_text("second") + "Another sentence about the program. " * 300)
        result = kb_cli("ingest", corpus, "--kb", kb)
        assert result.returncode == 1
        message = result.stderr.strip()
        assert message.startswith("Error: The disk holding") and "full" in message and "\n" not in message
        assert "Traceback" not in result.stderr
        (small / "filler").unlink()
        after = json.loads(kb_cli("status", "--kb", kb, "--json").stdout)
        assert (after["generation"], after["passages"]) == (before["generation"], before["passages"])
        ask = kb_cli("ask", "first program consultation", "--kb", kb, "--json")
        assert ask.returncode == 0 and json.loads(ask.stdout)["passages"]
        assert kb_cli("ingest", corpus, "--kb", kb).returncode == 0  # space again: the ingest goes through
        assert json.loads(kb_cli("status", "--kb", kb, "--json").stdout)["documents"] == 2


def test_a_read_only_knowledge_base_still_answers(tmp_path):
    corpus = tmp_path / "corpus"
    write(corpus / "one.txt", doc_text("pelican"))
    kb = tmp_path / "kb"
    assert kb_cli("ingest", corpus, "--kb", kb).returncode == 0
    with mounted(None, tmp_path / "ro", "--bind", source=str(kb)) as ro:
        remount = subprocess.run(["mount", "-o", "remount,ro,bind", str(ro)], capture_output=True, text=True)
        assert remount.returncode == 0, remount.stderr
        status = kb_cli("status", "--kb", ro)
        assert status.returncode == 0 and "passages" in status.stdout, status.stderr
        ask = kb_cli("ask", "pelican consultation", "--kb", ro, "--json")
        assert ask.returncode == 0, ask.stderr
        assert "pelican" in json.loads(ask.stdout)["passages"][0]["text"]
        write(corpus / "two.txt", doc_text("stork"))
        ingest = kb_cli("ingest", corpus, "--kb", ro)
        assert ingest.returncode == 1 and "read-only" in ingest.stderr and "Traceback" not in ingest.stderr


@pytest.mark.parametrize("content", [b"", b"this is not a database at all" * 100])
def test_an_empty_or_garbage_database_is_one_line(tmp_path, content):
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "kb.sqlite").write_bytes(content)
    for args in (("ask", "anything"), ("status",)):
        result = kb_cli(*args, "--kb", kb)
        assert result.returncode == 1
        assert result.stderr.startswith("Error: ") and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_removed_write_ahead_log_under_a_running_reader(tmp_path, embedder):
    from kb.search import Searcher

    corpus = tmp_path / "corpus"
    write(corpus / "one.txt", doc_text("crane"))
    kb = tmp_path / "kb"
    assert kb_cli("ingest", corpus, "--kb", kb).returncode == 0
    searcher = Searcher(LocalBackend(kb), embedder)
    assert searcher.ask("crane consultation", k=1).hits
    for suffix in ("-wal", "-shm"):
        (kb / f"kb.sqlite{suffix}").unlink(missing_ok=True)
    answer = searcher.ask("crane consultation", k=1)  # the checkpointed database holds everything
    assert "crane" in answer.hits[0].passage.text
